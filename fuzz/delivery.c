/* An AMQP message as mq-sub takes it (cmd/mq-sub.c take()): the body is
 * an event or is dead-lettered, by evt_event_parse with compacting; an
 * event's line is one line that parses again, and the --envelope line
 * (evt_amqp_delivery_json, over an envelope made of the input's bytes:
 * the exchange, routing key, properties and headers a broker passes on
 * unchecked) is one JSON line. */
#include <amqp.h>

#include "amqp.h"
#include "buf.h"
#include "event.h"
#include "json.h"
#include "fuzz.h"

static amqp_bytes_t
part(const uint8_t *data, size_t size, size_t off, size_t n)
{
	amqp_bytes_t b = { 0, NULL };

	if (off < size) {
		b.len = n < size - off ? n : size - off;
		b.bytes = (void *)(data + off);
	}
	return b;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct evt_event ev, back;
	static struct evt_jobj jo;
	struct evt_err err;

	/* The body exactly as delivered: not NUL-terminated. */
	uint8_t *body = malloc(size ? size : 1);
	if (body == NULL)
		abort();
	memcpy(body, data, size);
	struct evt_amqp_delivery d = { 1, (const char *)body, size, 0, 0, NULL };
	int bad = evt_event_parse(&ev, d.body, d.len, 1, &err) < 0;
	free(body);
	if (bad) {
		FUZZ_CHECK(err.code == 65);
		return 0;
	}
	const char *out = ev.j.out.p;
	size_t n = ev.j.out.len;
	FUZZ_CHECK(memchr(out, '\n', n) == NULL);
	FUZZ_CHECK(evt_event_parse(&back, out, n, 0, &err) == 0);

	/* The envelope: every field the broker copies from the publisher. */
	amqp_envelope_t env;
	amqp_table_entry_t h[4];
	memset(&env, 0, sizeof(env));
	env.delivery_tag = 1;
	env.redelivered = size & 1;
	env.exchange = part(data, size, 0, 7);
	env.routing_key = part(data, size, 7, 13);
	amqp_basic_properties_t *p = &env.message.properties;
	p->_flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG |
	    AMQP_BASIC_MESSAGE_ID_FLAG | AMQP_BASIC_CORRELATION_ID_FLAG |
	    AMQP_BASIC_TYPE_FLAG | AMQP_BASIC_TIMESTAMP_FLAG |
	    AMQP_BASIC_HEADERS_FLAG;
	p->content_type = amqp_cstring_bytes(EVT_AMQP_CONTENT_TYPE);
	p->delivery_mode = 2;
	p->message_id = part(data, size, 20, 17);
	p->correlation_id = part(data, size, 37, 5);
	p->type = part(data, size, size / 2, 11);
	p->timestamp = size;
	h[0].key = part(data, size, 3, 9);
	h[0].value.kind = AMQP_FIELD_KIND_UTF8;
	h[0].value.value.bytes = part(data, size, 42, 23);
	h[1].key = amqp_cstring_bytes(EVT_AMQP_COUNT_HEADER);
	h[1].value.kind = AMQP_FIELD_KIND_I64;
	h[1].value.value.i64 = -(int64_t)size;
	h[2].key = amqp_cstring_bytes("x-bytes");
	h[2].value.kind = AMQP_FIELD_KIND_BYTES;
	h[2].value.value.bytes = part(data, size, 65, 31);
	h[3].key = amqp_cstring_bytes("x-death");
	h[3].value.kind = AMQP_FIELD_KIND_ARRAY;
	p->headers.num_entries = 4;
	p->headers.entries = h;
	d.env = &env;

	struct evt_buf b = EVT_BUF_INIT;
	evt_buf_addc(&b, '{');
	evt_amqp_delivery_json(&d, &b);
	evt_buf_adds(&b, ",\"body\":");
	evt_buf_add(&b, out, n);
	evt_buf_addc(&b, '}');
	FUZZ_CHECK(memchr(b.p, '\n', b.len) == NULL);
	if (evt_json_scan(&jo, b.p, b.len, 0, &err) < 0) {
		fprintf(stderr, "envelope line is not JSON: %s\n%.*s\n", err.msg,
		    (int)b.len, b.p);
		abort();
	}
	evt_buf_free(&b);
	return 0;
}
