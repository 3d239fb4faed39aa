/*
 * amqp.h - the RabbitMQ side of mq-pub and mq-sub: one AMQP 0-9-1
 * connection (rabbitmq-c) with a channel, declarations, publishing with
 * publisher confirms, consuming with acknowledgements; and the routing key
 * of DESIGN §2.
 *
 * Every function returns 0 (or a handle) on success and -1 (or NULL) with
 * err on failure: EX_UNAVAILABLE (69) when the broker cannot be reached or
 * refuses the login, EX_TEMPFAIL (75) when the connection or channel is
 * lost later, EX_USAGE (64) for a bad URL. A password is never part of a
 * message.
 */
#ifndef EVT_AMQP_H
#define EVT_AMQP_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"

#define EVT_AMQP_DEFAULT_URL "amqp://guest:guest@localhost:5672"
#define EVT_AMQP_CONTENT_TYPE "application/cloudevents+json"
/* The header in which mq-sub counts the times it put a message back. */
#define EVT_AMQP_COUNT_HEADER "x-evt-redeliveries"

/*
 * The routing key of DESIGN §2 for an event of source src[0..sn) and type
 * type[0..tn), appended to out: `SOURCE.EVENT`, EVENT the type in snake
 * case (PaymentProcessed -> payment_processed, HTTPRequest -> http_request)
 * with a leading word equal to the source dropped, unless nothing would be
 * left. Characters other than letters, digits and '_' become '_' in EVENT
 * and in SOURCE, so a key always has exactly two words ('.' and the topic
 * wildcards never come from the event). Pure: no state, no I/O.
 */
void evt_amqp_routing_key(struct evt_buf *out, const char *src, size_t sn,
    const char *type, size_t tn);

struct evt_amqp;

/*
 * The TLS files of an amqps connection, each PEM, borrowed; NULL for the
 * environment's: $AMQP_CACERT, $AMQP_CERT, $AMQP_KEY.
 */
struct evt_amqp_tls {
	const char *cacert;	/* CAs to verify the broker with (else the
				 * system's) */
	const char *cert;	/* a client certificate to present */
	const char *key;	/* its private key (default: in cert's file) */
};

/*
 * Connect to url (amqp:// or amqps://, parsed by amqp_parse_url; NULL for
 * EVT_AMQP_DEFAULT_URL), log in and open a channel. amqps always verifies
 * the broker's certificate and its host name (against the certificate's
 * DNS names: rabbitmq-c 0.11 matches no IP address) with tls's files
 * (tls may be NULL: the environment's). TLS files for an amqp:// URL are
 * a usage error (EX_USAGE); one that cannot be loaded is EX_NOINPUT; a
 * broker whose certificate does not verify, or that refuses ours, is
 * EX_UNAVAILABLE with the reason. url and tls are borrowed (copied: the
 * handle can connect again). Returns a new handle, or NULL with err.
 */
struct evt_amqp *evt_amqp_open(const char *url, const struct evt_amqp_tls *tls,
    struct evt_err *err);
/*
 * Drop the connection and connect again with the same URL and files: a
 * new connection and channel, in confirm mode again if the old one was
 * (tags start again at 1). Messages not confirmed on the old connection
 * are the caller's to publish again. Returns 0, or -1 with err (as
 * evt_amqp_open); the handle may then only be reopened or closed.
 */
int evt_amqp_reopen(struct evt_amqp *a, struct evt_err *err);
/* Whether the connection is still believed up (no failure seen on it). */
int evt_amqp_is_up(const struct evt_amqp *a);
/*
 * The pause in ms before the attempt-th attempt (1, 2, ...) to reconnect:
 * 100 ms doubling up to 10 s, with random jitter of up to half of it so
 * that the clients of one broker do not all come back at the same moment.
 */
long evt_amqp_backoff_ms(unsigned attempt);
/* Close the channel and the connection (politely when still up).
 * NULL is a no-op. */
void evt_amqp_close(struct evt_amqp *a);
/* The URL without its password, for messages: borrowed from a. */
const char *evt_amqp_where(const struct evt_amqp *a);

/*
 * Make sure the exchange name exists: a passive declare first, so an
 * existing exchange is used as it is; else declared durable of type type
 * ("topic", "direct").
 */
int evt_amqp_exchange(struct evt_amqp *a, const char *name, const char *type,
    struct evt_err *err);
/*
 * Make sure the queue name exists: used as it is when it does (passive
 * declare, *existed set); else declared durable, a quorum queue when
 * quorum is set (else a lazy classic queue: x-queue-mode=lazy),
 * dead-lettering to exchange dlx with key dlkey when dlx is not NULL.
 */
int evt_amqp_queue(struct evt_amqp *a, const char *name, int quorum,
    const char *dlx, const char *dlkey, int *existed, struct evt_err *err);
int evt_amqp_bind(struct evt_amqp *a, const char *queue, const char *exchange,
    const char *key, struct evt_err *err);

/* One message to publish; every string is borrowed, NULL when absent. */
struct evt_amqp_msg {
	const char *body;
	size_t len;
	const char *key;	/* routing key */
	const char *id;		/* message_id */
	const char *corr;	/* correlation_id */
	const char *type;
	int64_t time_ms;	/* timestamp (whole seconds on the wire); <0: none */
};

/* Put the channel in confirm mode: from then on publishes are numbered
 * 1, 2, 3 ... and the broker confirms each. */
int evt_amqp_confirm_select(struct evt_amqp *a, struct evt_err *err);
/*
 * Publish m to exchange as a persistent message, mandatory (an unroutable
 * one comes back), without waiting. *tag is its delivery tag in confirm
 * mode.
 */
int evt_amqp_publish(struct evt_amqp *a, const char *exchange,
    const struct evt_amqp_msg *m, uint64_t *tag, struct evt_err *err);

/* What the broker says about the messages published. */
struct evt_amqp_confirm_ops {
	/* Tags up to tag (all of them with multiple, else tag alone) were
	 * confirmed (ack set) or refused (nack). */
	void (*confirm)(void *arg, uint64_t tag, int multiple, int ack);
	/* A message came back unroutable: its message_id (borrowed for the
	 * call; NULL when it had none). Its confirm follows. */
	void (*returned)(void *arg, const char *id, const char *key);
	void *arg;
};

/*
 * Take what the broker has said, waiting up to timeout_ms (0: only what
 * has come) for at least one frame; calls ops for each. Returns 0, or -1
 * with err when the connection or channel is lost.
 */
int evt_amqp_poll(struct evt_amqp *a, int timeout_ms,
    const struct evt_amqp_confirm_ops *ops, struct evt_err *err);

/* Consuming. */
int evt_amqp_qos(struct evt_amqp *a, unsigned prefetch, struct evt_err *err);
int evt_amqp_consume(struct evt_amqp *a, const char *queue,
    struct evt_err *err);

struct evt_amqp_delivery {
	uint64_t tag;
	const char *body;	/* the body (not NUL-terminated) */
	size_t len;
	int redelivered;	/* the broker's redelivered flag */
	long long count;	/* times put back: our header or x-delivery-count */
	void *env;		/* the library's envelope */
};

/*
 * The next delivery, waiting up to timeout_ms. Returns 1 with d filled
 * (release it with evt_amqp_delivery_free), 0 when none came in time, -1
 * with err when the connection or channel is lost or the broker cancelled
 * the consumer.
 */
int evt_amqp_next(struct evt_amqp *a, struct evt_amqp_delivery *d,
    int timeout_ms, struct evt_err *err);
void evt_amqp_delivery_free(struct evt_amqp_delivery *d);
/*
 * Append to out the members (no braces) describing d's envelope as JSON:
 * "exchange", "routing_key", "redelivered", then each property it has
 * ("content_type", "delivery_mode", "message_id", "correlation_id",
 * "type", "timestamp", "headers" with their integer and string values).
 */
void evt_amqp_delivery_json(const struct evt_amqp_delivery *d,
    struct evt_buf *out);

int evt_amqp_ack(struct evt_amqp *a, uint64_t tag, int multiple,
    struct evt_err *err);
/* Reject one delivery: requeue it, or (requeue 0) dead-letter it. */
int evt_amqp_reject(struct evt_amqp *a, uint64_t tag, int requeue,
    struct evt_err *err);
/*
 * Put delivery d back at the tail of queue, counted: a copy with its
 * properties and EVT_AMQP_COUNT_HEADER set to d->count + 1 is published
 * through a transactional channel (committed: the broker has it) and only
 * then d is acknowledged. Classic queues keep no delivery count; this is
 * how mq-sub counts redeliveries on any queue. A crash in between leaves
 * two copies (at least once), never none.
 */
int evt_amqp_requeue_counted(struct evt_amqp *a, const char *queue,
    const struct evt_amqp_delivery *d, struct evt_err *err);

#endif
