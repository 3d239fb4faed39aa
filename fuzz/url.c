/* amqp:// URLs as mq-pub and mq-sub hand them to rabbitmq-c; postgres://
 * URLs as the programs hide their password from ps(1) (the input as it
 * is when it starts with the scheme, else after postgres://), never
 * leaving it in; and the routing key made of an event's source and type
 * (the input split at its first newline). */
#include <amqp.h>
#include <libpq-fe.h>

#include "amqp.h"
#include "buf.h"
#include "log.h"
#include "fuzz.h"

static void
pg_url(const char *url)
{
	char *copy = strdup(url), *pw = NULL;
	PQconninfoOption *o = PQconninfoParse(url, NULL);

	if (copy == NULL)
		abort();
	for (PQconninfoOption *p = o; p && p->keyword; p++)
		if (strcmp(p->keyword, "password") == 0 && p->val && *p->val)
			pw = p->val;
	int hid = evt_log_hide_password(copy);
	if (o == NULL)
		FUZZ_CHECK(hid == 1 && copy[0] == '\0');
	else if (pw != NULL)
		FUZZ_CHECK(hid == 1 && (strstr(copy, pw) == NULL ||
		    strcmp(copy, "postgres://(not shown)") == 0));
	else
		FUZZ_CHECK(hid == 0 && strcmp(copy, url) == 0);
	PQconninfoFree(o);
	free(copy);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_str(data, size);
	struct amqp_connection_info ci;
	char *copy = strdup(s);

	if (copy == NULL)
		abort();
	amqp_parse_url(copy, &ci);
	free(copy);
	if (strncmp(s, "postgres://", 11) == 0 ||
	    strncmp(s, "postgresql://", 13) == 0)
		pg_url(s);
	else {
		struct evt_buf u = EVT_BUF_INIT;
		evt_buf_adds(&u, "postgres://");
		evt_buf_adds(&u, s);
		pg_url(u.p);
		evt_buf_free(&u);
	}
	char *nl = strchr(s, '\n');
	struct evt_buf k = EVT_BUF_INIT;
	if (nl) {
		evt_amqp_routing_key(&k, s, (size_t)(nl - s), nl + 1,
		    strlen(nl + 1));
		/* Exactly two words, never a wildcard. */
		size_t dots = 0;
		for (size_t i = 0; i < k.len; i++) {
			dots += k.p[i] == '.';
			FUZZ_CHECK(k.p[i] != '*' && k.p[i] != '#');
		}
		FUZZ_CHECK(dots == 1);
		evt_buf_free(&k);
	}
	free(s);
	return 0;
}
