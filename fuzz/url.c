/* amqp:// URLs as mq-pub and mq-sub hand them to rabbitmq-c, and the
 * routing key made of an event's source and type (the input split at
 * its first newline). */
#include <amqp.h>

#include "amqp.h"
#include "buf.h"
#include "fuzz.h"

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
