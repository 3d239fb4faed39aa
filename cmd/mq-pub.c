/*
 * mq-pub - publish events to RabbitMQ with publisher confirms: from
 * standard input or files, or (-l LOG) from the log as a transactional
 * outbox whose checkpoint moves only past what the broker confirmed.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "amqp.h"
#include "cli.h"
#include "clock.h"
#include "event.h"
#include "filter.h"
#include "follow.h"
#include "lines.h"
#include "log.h"
#include "metrics.h"

#define USAGE "mq-pub [-qv] [-e EXCHANGE] [-k KEY] [-u URL] [--cacert FILE]\n" \
	"              [--cert FILE] [--cert-key FILE] [--declare] [--dry-run]\n" \
	"              [--metrics FILE] [FILE ...]\n" \
	"       mq-pub [-qv] -l LOG [-c CATEGORY] [-e EXCHANGE] [-k KEY] " \
	"[-t TYPE] [-u URL]\n" \
	"              [--cacert FILE] [--cert FILE] [--cert-key FILE] " \
	"[--checkpoint NAME]\n" \
	"              [--declare] [--follow] [--metrics FILE] [--source SOURCE]"

/* Messages in flight, published but not yet confirmed. Enough to keep
 * the broker busy; bounded so that memory stays flat on a long log. */
#define WINDOW 4096
/* How long to wait for the broker's confirms before giving up. */
#define CONFIRM_TIMEOUT_MS 60000
#define FOLLOW_RECHECK_MS 1000
/* How long to wait for input before looking at the broker (heartbeats,
 * a lost connection) and the metrics. */
#define IDLE_MS 1000

static void help(void) __attribute__((noreturn));

static void
help(void)
{
	printf("usage: %s\n\n"
	    "Publish events to a RabbitMQ topic exchange, persistent, with the\n"
	    "routing key SOURCE.EVENT, and wait for the broker's confirms.\n\n"
	    "  -u, --url URL         the broker (default $AMQP_URL, else\n"
	    "                        " EVT_AMQP_DEFAULT_URL ")\n"
	    "      --cacert FILE     amqps: verify the broker with these CAs\n"
	    "                        (default $AMQP_CACERT, else the system's)\n"
	    "      --cert FILE       amqps: present this client certificate\n"
	    "                        (default $AMQP_CERT)\n"
	    "      --cert-key FILE   its private key (default $AMQP_KEY, else\n"
	    "                        in the --cert file)\n"
	    "  -e, --exchange NAME   the exchange (default business.events)\n"
	    "  -k, --key KEY         this routing key for every event\n"
	    "      --declare         declare the exchange (durable, topic)\n"
	    "      --dry-run         print each event's routing key, publish\n"
	    "                        nothing\n"
	    "  -l, --log LOG         publish the log's events (an outbox)\n"
	    "  -f, --follow          then keep publishing new ones until\n"
	    "                        interrupted, connecting again (with a\n"
	    "                        growing pause) when the connection is lost\n"
	    "      --checkpoint NAME resume after NAME's position; move it\n"
	    "                        only past what the broker confirmed\n"
	    "      --metrics FILE    keep a node_exporter textfile of the\n"
	    "                        counts and the connection's state\n"
	    "  -c, --category C      only events of streams C-*\n"
	    "  -t, --type GLOB       only events whose type matches GLOB\n"
	    "      --source SOURCE   only events of this source\n"
	    "  -q, --quiet           no warnings\n"
	    "  -v, --verbose         a summary on stderr\n"
	    "  -h, --help            this help\n"
	    "      --version         the version\n\n"
	    "Exit: 0 every event confirmed, 64 usage, 65 bad input (line\n"
	    "number on stderr), 66 no such input, log or TLS file, 69 broker\n"
	    "unreachable, TLS refused or a message unroutable, 74 I/O, 75\n"
	    "nacked or connection lost (the last confirmed line on stderr;\n"
	    "--follow connects again instead). See mq-pub(1).\n", USAGE);
	exit(0);
}

/* One message in flight. */
struct slot {
	long long line;		/* input line, or seq in the outbox */
	int input;		/* index of its input */
	int state;		/* PENDING, ACKED, NACKED, RETURNED */
	char *id;
};

enum { PENDING, ACKED, NACKED, RETURNED };

struct pub {
	struct evt_amqp *amqp;
	const char *exchange, *key, *source;
	char **names;
	int ninputs;
	struct slot ring[WINDOW];
	uint64_t next;		/* tag of the next publish */
	uint64_t done;		/* every tag up to done is confirmed */
	long long done_line;	/* the line (or seq) of tag done */
	int done_input;
	int failed;		/* a nack or a return: stop publishing */
	uint64_t bad;		/* the first tag that failed */
	char why[300];
	int declare;		/* --declare: again on each connection */
	/* Counts, and the metrics that show them (static storage: the
	 * metrics are written once more at exit). */
	long long published, confirmed, nacked, returned;
	long long connected, reconnects;
	struct evt_metrics *metrics;
	struct evt_event ev;
	struct evt_buf rkey;
	struct evt_err err;
};

static struct slot *
slot_of(struct pub *p, uint64_t tag)
{
	return &p->ring[tag % WINDOW];
}

/* Move the confirmed prefix as far as it goes. */
static void
advance(struct pub *p)
{
	while (p->done + 1 < p->next) {
		struct slot *s = slot_of(p, p->done + 1);
		if (s->state != ACKED) {
			if (s->state != PENDING && !p->bad)
				p->bad = p->done + 1;
			break;
		}
		p->done++;
		p->done_line = s->line;
		p->done_input = s->input;
		p->confirmed++;
		free(s->id);
		s->id = NULL;
	}
}

static void
on_confirm(void *arg, uint64_t tag, int multiple, int ack)
{
	struct pub *p = arg;

	for (uint64_t t = multiple ? p->done + 1 : tag; t <= tag; t++) {
		struct slot *s = slot_of(p, t);
		if (t <= p->done || t >= p->next || s->state != PENDING)
			continue;
		s->state = ack ? ACKED : NACKED;
		if (!ack)
			p->nacked++;
		if (!ack && !p->failed) {
			p->failed = 1;
			snprintf(p->why, sizeof(p->why), "the broker refused it "
			    "(nack)");
		}
	}
	advance(p);
}

static void
on_return(void *arg, const char *id, const char *key)
{
	struct pub *p = arg;

	/* The broker returns a message before it confirms it: the first one
	 * still pending with that id is the one. */
	for (uint64_t t = p->done + 1; t < p->next; t++) {
		struct slot *s = slot_of(p, t);
		if (s->state != PENDING)
			continue;
		if ((id == NULL) != (s->id == NULL) ||
		    (id && strcmp(id, s->id) != 0))
			continue;
		s->state = RETURNED;
		p->returned++;
		break;
	}
	if (!p->failed) {
		p->failed = 1;
		snprintf(p->why, sizeof(p->why), "unroutable: no queue is bound "
		    "for routing key %s on exchange %s", key, p->exchange);
	}
	advance(p);
}

/* Write the metrics when they are due. */
static void
tick(struct pub *p)
{
	struct evt_err err;

	if (evt_metrics_tick(p->metrics, &err) < 0)
		evt_warn("--metrics: %s", err.msg);
}

/* Take confirms, waiting until at most max messages are in flight or
 * something failed. */
static int
settle(struct pub *p, uint64_t max, struct evt_err *err)
{
	struct evt_amqp_confirm_ops ops = { on_confirm, on_return, p };
	int waited = 0;

	if (evt_amqp_poll(p->amqp, 0, &ops, err) < 0)
		return -1;
	while (p->next - 1 - p->done > max && !p->bad) {
		if (waited >= CONFIRM_TIMEOUT_MS)
			return evt_err_set(err, EX_TEMPFAIL, "%s: no confirms for "
			    "%d s", evt_amqp_where(p->amqp),
			    CONFIRM_TIMEOUT_MS / 1000);
		if (evt_amqp_poll(p->amqp, 100, &ops, err) < 0)
			return -1;
		waited += 100;
		tick(p);
	}
	return 0;
}

static char *
str_dup(const struct evt_str *s)
{
	return s->p ? strndup(s->p, s->n) : NULL;
}

/* Publish the parsed event p->ev with body body[0..len). */
static int
publish(struct pub *p, const char *body, size_t len, long long line, int input,
    struct evt_err *err)
{
	struct evt_event *ev = &p->ev;
	struct evt_amqp_msg m;
	char *corr = str_dup(&ev->corr), *type = str_dup(&ev->type), *id;
	uint64_t tag;

	if (settle(p, WINDOW - 1, err) < 0) {
		free(corr);
		free(type);
		return -1;
	}
	if (p->key == NULL) {
		evt_buf_reset(&p->rkey);
		if (ev->source.p)
			evt_amqp_routing_key(&p->rkey, ev->source.p, ev->source.n,
			    ev->type.p, ev->type.n);
		else
			evt_amqp_routing_key(&p->rkey, "cli", 3, ev->type.p,
			    ev->type.n);
	}
	id = str_dup(&ev->id);
	memset(&m, 0, sizeof(m));
	m.body = body;
	m.len = len;
	m.key = p->key ? p->key : p->rkey.p;
	m.id = id;
	m.corr = corr ? corr : id;
	m.type = type;
	m.time_ms = ev->slot[EVT_F_TIME] >= 0 ? ev->time_ms : -1;
	if (m.time_ms < 0)
		evt_clock_now(&m.time_ms, NULL);
	int rc = evt_amqp_publish(p->amqp, p->exchange, &m, &tag, err);
	free(corr);
	free(type);
	if (rc < 0) {
		free(id);
		return -1;
	}
	struct slot *s = slot_of(p, tag);
	s->line = line;
	s->input = input;
	s->state = PENDING;
	s->id = id;
	p->next = tag + 1;
	p->published++;
	tick(p);
	return 0;
}

/* Wait for every confirm (or the first failure). */
static int
drain(struct pub *p, struct evt_err *err)
{
	return settle(p, 0, err);
}

static const char *
input_name(const struct pub *p, int i)
{
	if (p->ninputs == 0 || strcmp(p->names[i], "-") == 0)
		return "stdin";
	return p->names[i];
}

/* The line to resume after, for messages: `N` or `FILE:N`. */
static void
last_confirmed(const struct pub *p, char *out, size_t n, int outbox)
{
	if (outbox)
		snprintf(out, n, "last confirmed seq: %lld", p->done_line);
	else if (p->ninputs > 1 && p->done)
		snprintf(out, n, "last confirmed line: %s:%lld",
		    input_name(p, p->done_input), p->done_line);
	else
		snprintf(out, n, "last confirmed line: %lld", p->done_line);
}

/* Exit for a failed publish: name the message that failed and where a
 * rerun may resume. */
static void
die_failed(struct pub *p, const struct evt_err *err, int outbox)
{
	char last[300];

	p->connected = p->amqp && evt_amqp_is_up(p->amqp);
	/* Whatever the broker still has to say about earlier messages. */
	if (!p->bad && err == NULL) {
		struct evt_err e2;
		drain(p, &e2);
	}
	last_confirmed(p, last, sizeof(last), outbox);
	if (p->bad) {
		struct slot *s = slot_of(p, p->bad);
		int code = s->state == RETURNED ? EX_UNAVAILABLE : EX_TEMPFAIL;
		if (outbox)
			evt_die(code, "seq %lld: %s; %s", s->line, p->why, last);
		evt_die(code, "%s:%lld: %s; %s", input_name(p, s->input), s->line,
		    p->why, last);
	}
	evt_die(err ? err->code : EX_TEMPFAIL, "%s; %s",
	    err ? err->msg : "failed", last);
}

/* The outbox: each matching stored event, published. */
static int
relay(void *arg, long long seq, const char *line, size_t len)
{
	struct pub *p = arg;

	if (p->failed)
		return 1;
	if (evt_event_parse_stored(&p->ev, line, len, &p->err) < 0) {
		evt_err_prefix(&p->err, "seq %lld", seq);
		return -1;
	}
	if (p->source && (p->ev.source.p == NULL ||
	    p->ev.source.n != strlen(p->source) ||
	    memcmp(p->ev.source.p, p->source, p->ev.source.n) != 0))
		return 0;
	return publish(p, line, len, seq, 0, &p->err) < 0 ? -1 : 0;
}

/* Wait ms, waking for the metrics; returns 0 at once when a stop signal
 * comes (or stdout's reader goes), else 1. */
static int
backoff_wait(struct pub *p, struct evt_follow *fw, long ms)
{
	struct evt_err err;
	long long end = evt_mono_ms() + ms, left;

	while ((left = end - evt_mono_ms()) > 0) {
		int w = evt_follow_wait(fw, left < FOLLOW_RECHECK_MS ? (int)left :
		    FOLLOW_RECHECK_MS, &err);
		if (w < 0)
			evt_die_err(&err);
		if (w == 0)
			return 0;
		tick(p);
	}
	return !evt_follow_stopping(fw);
}

/*
 * The relay lost its connection (why): move the checkpoint (*ck) past
 * what was confirmed, forget what was not, and connect again, after a
 * jittered pause that grows from 100 ms to 10 s, as many times as it
 * takes. Returns 1 when connected again (the caller reads again after
 * *ck: at least once), 0 when a stop signal came meanwhile.
 */
static int
reconnect(struct pub *p, struct evt_log *log, struct evt_follow *fw,
    const char *ckpt, long long *ck, const struct evt_err *why)
{
	struct evt_err err;
	unsigned attempt = 0;
	long long since = evt_mono_ms();

	p->connected = 0;
	if (p->done && p->done_line > *ck) {
		if (ckpt && evt_log_checkpoint_set(log, ckpt, p->done_line,
		    &err) < 0)
			evt_die_err(&err);
		*ck = p->done_line;
	}
	for (uint64_t t = p->done + 1; t < p->next; t++) {
		free(slot_of(p, t)->id);
		slot_of(p, t)->id = NULL;
	}
	p->next = 1;
	p->done = 0;
	p->done_line = 0;
	evt_warn("%s; connecting again, to publish again after seq %lld",
	    why->msg, *ck);
	for (;;) {
		if (!backoff_wait(p, fw, evt_amqp_backoff_ms(++attempt)))
			return 0;
		if (evt_amqp_reopen(p->amqp, &err) == 0 && (!p->declare ||
		    evt_amqp_exchange(p->amqp, p->exchange, "topic", &err) == 0))
			break;
		evt_note("attempt %u: %s", attempt, err.msg);
	}
	p->connected = 1;
	p->reconnects++;
	evt_warn("%s: connected again after %.1f s (attempt %u)",
	    evt_amqp_where(p->amqp), (double)(evt_mono_ms() - since) / 1000, attempt);
	tick(p);
	return 1;
}

/*
 * The outbox: the log's events after the checkpoint, published. With
 * follow, it goes on with each new event until a stop signal, and a lost
 * connection is made again (from the checkpoint: at least once); without,
 * a failure exits as the one-shot form does.
 */
static int
outbox(struct pub *p, const char *logspec, struct evt_filter *f,
    const char *ckpt, int follow)
{
	struct evt_log *log;
	struct evt_follow *fw = NULL;
	struct evt_read rd;
	struct evt_err err;
	long long ck = 0;	/* every event up to it is confirmed */

	if ((log = evt_log_open(logspec, 0, &err)) == NULL)
		evt_die_err(&err);
	if (ckpt && evt_log_checkpoint_get(log, ckpt, &ck, &err) < 0)
		evt_die_err(&err);
	if (follow && (fw = evt_follow_open(log, &err)) == NULL)
		evt_die_err(&err);
	memset(&rd, 0, sizeof(rd));
	rd.filter = f;
	rd.after = ck;
	for (;;) {
		const struct evt_err *lost = NULL;
		p->err.msg[0] = '\0';
		if (evt_log_read(log, &rd, relay, p, &err) < 0) {
			if (p->err.msg[0] && p->err.code == EX_DATAERR)
				evt_die(EX_DATAERR, "%s: %s", evt_log_path(log),
				    p->err.msg);
			if (!p->err.msg[0])
				evt_die_err(&err);
			lost = &p->err;
		} else if (drain(p, &err) < 0)
			lost = &err;
		/* A nack or a return stops even the relay: publishing
		 * again would fail again. */
		if (lost && follow && lost->code == EX_TEMPFAIL && !p->failed) {
			if (!reconnect(p, log, fw, ckpt, &ck, lost))
				break;
			rd.after = ck;
			continue;
		}
		if (lost) {
			evt_log_close(log);
			die_failed(p, lost, 1);
		}
		if (p->failed) {
			/* Keep what was confirmed before the failure. */
			if (ckpt && p->done_line > ck)
				evt_log_checkpoint_set(log, ckpt, p->done_line, &err);
			evt_log_close(log);
			die_failed(p, NULL, 1);
		}
		/* Everything read is confirmed: the checkpoint may pass it. */
		if (rd.scanned > ck) {
			if (ckpt && evt_log_checkpoint_set(log, ckpt, rd.scanned,
			    &err) < 0)
				evt_die_err(&err);
			ck = rd.scanned;
		}
		if (rd.scanned > rd.after)
			rd.after = rd.scanned;
		if (!follow)
			break;
		int w = evt_follow_wait(fw, FOLLOW_RECHECK_MS, &err);
		if (w < 0)
			evt_die_err(&err);
		if (w == 0)
			break;
		tick(p);
		/* Heartbeats and anything the broker said meanwhile. */
		if (settle(p, WINDOW, &err) < 0) {
			if (err.code != EX_TEMPFAIL || p->failed)
				die_failed(p, &err, 1);
			if (!reconnect(p, log, fw, ckpt, &ck, &err))
				break;
			rd.after = ck;
		}
	}
	evt_follow_close(fw);
	evt_log_close(log);
	return 0;
}

/*
 * Wait until fd has input, looking at the broker (heartbeats, confirms,
 * a lost connection) and the metrics every IDLE_MS meanwhile. Returns 0,
 * or -1 with err when the connection was lost.
 */
static int
wait_input(struct pub *p, int fd, struct evt_err *err)
{
	struct pollfd pfd = { fd, POLLIN, 0 };

	for (;;) {
		int n = poll(&pfd, 1, IDLE_MS);
		if (n != 0 && !(n < 0 && errno == EINTR))
			return 0;	/* input, its end, or an error read says */
		if (settle(p, WINDOW, err) < 0)
			return -1;
		tick(p);
	}
}

/* Standard input or the files: each line an event. */
static int
lines(struct pub *p, int *fds, int dry)
{
	struct evt_lines r;
	struct evt_err err;
	const char *line;
	size_t len;
	int n = p->ninputs ? p->ninputs : 1;

	for (int i = 0; i < n && !p->failed; i++) {
		evt_lines_init(&r, fds[i]);
		int rc;
		for (;;) {
			/* Before waiting for more input, take the confirms of
			 * what is in flight: a slow producer learns promptly,
			 * and a failure meanwhile names the right line. */
			if (!dry && !evt_lines_ready(&r) && ((p->next - 1 > p->done &&
			    drain(p, &err) < 0) || (!p->failed &&
			    wait_input(p, fds[i], &err) < 0))) {
				evt_lines_free(&r);
				die_failed(p, &err, 0);
			}
			if (p->failed ||
			    (rc = evt_lines_next(&r, &line, &len, &err)) == 0)
				break;
			if (rc < 0 || evt_event_parse(&p->ev, line, len, 1, &err) < 0) {
				long long ln = r.lineno;
				evt_lines_free(&r);
				if (err.code != EX_DATAERR)
					evt_die(err.code, "%s: %s", input_name(p, i),
					    err.msg);
				if (!dry && drain(p, &err) < 0)
					die_failed(p, &err, 0);
				if (p->failed)
					die_failed(p, NULL, 0);
				evt_die(EX_DATAERR, "%s:%lld: %s (%lld events "
				    "published and confirmed before it)",
				    input_name(p, i), ln, err.msg, p->confirmed);
			}
			const struct evt_buf *body = &p->ev.j.out;
			if (dry) {
				evt_buf_reset(&p->rkey);
				if (p->key)
					evt_buf_adds(&p->rkey, p->key);
				else
					evt_amqp_routing_key(&p->rkey,
					    p->ev.source.p ? p->ev.source.p : "cli",
					    p->ev.source.p ? p->ev.source.n : 3,
					    p->ev.type.p, p->ev.type.n);
				if (evt_out_line(p->rkey.p, p->rkey.len) < 0)
					break;
				continue;
			}
			if (publish(p, body->p, body->len, r.lineno, i, &err) < 0) {
				evt_lines_free(&r);
				die_failed(p, &err, 0);
			}
		}
		evt_lines_free(&r);
	}
	if (dry)
		return 0;
	if (drain(p, &err) < 0)
		die_failed(p, &err, 0);
	if (p->failed)
		die_failed(p, NULL, 0);
	return 0;
}

/*
 * The metrics of --metrics FILE, labelled with the exchange (and the
 * checkpoint of a relay): what tells two mq-pub apart on one host. Written
 * now, so a FILE that cannot be written stops the run before it starts,
 * and then as they are due and at exit.
 */
static void
open_metrics(struct pub *p, const char *path, const char *ckpt)
{
	const struct {
		enum evt_metric_kind kind;
		const char *name, *help;
		const long long *v;
	} def[] = {
		{ EVT_METRIC_COUNTER, "evt_mq_published_total",
		    "Messages published (again after a reconnect, too).",
		    &p->published },
		{ EVT_METRIC_COUNTER, "evt_mq_confirmed_total",
		    "Messages the broker confirmed, in the order published.",
		    &p->confirmed },
		{ EVT_METRIC_COUNTER, "evt_mq_nacked_total",
		    "Messages the broker refused (basic.nack).", &p->nacked },
		{ EVT_METRIC_COUNTER, "evt_mq_returned_total",
		    "Messages returned unroutable (no queue bound for the key).",
		    &p->returned },
		{ EVT_METRIC_GAUGE, "evt_mq_connected",
		    "Whether the connection to the broker is up (1) or not (0).",
		    &p->connected },
		{ EVT_METRIC_COUNTER, "evt_mq_reconnects_total",
		    "Connections made again after one was lost.", &p->reconnects },
	};
	struct evt_err err;

	p->metrics = evt_metrics_new(path, "mq-pub");
	evt_metrics_label(p->metrics, "exchange", p->exchange);
	if (ckpt)
		evt_metrics_label(p->metrics, "checkpoint", ckpt);
	for (size_t i = 0; i < sizeof(def) / sizeof(def[0]); i++)
		evt_metrics_add(p->metrics, def[i].kind, def[i].name, def[i].help,
		    NULL, NULL, def[i].v);
	if (evt_metrics_write(p->metrics, &err) < 0)
		evt_die(EX_IOERR, "--metrics: %s", err.msg);
	evt_metrics_at_exit(p->metrics);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "cacert", required_argument, NULL, 'A' },
		{ "category", required_argument, NULL, 'c' },
		{ "cert", required_argument, NULL, 'C' },
		{ "cert-key", required_argument, NULL, 'Y' },
		{ "checkpoint", required_argument, NULL, 'K' },
		{ "declare", no_argument, NULL, 'D' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "exchange", required_argument, NULL, 'e' },
		{ "follow", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ "key", required_argument, NULL, 'k' },
		{ "log", required_argument, NULL, 'l' },
		{ "metrics", required_argument, NULL, 'M' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "source", required_argument, NULL, 'S' },
		{ "type", required_argument, NULL, 't' },
		{ "url", required_argument, NULL, 'u' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	static struct pub p;
	struct evt_filter f;
	struct evt_amqp_tls tls = { NULL, NULL, NULL };
	struct evt_err err;
	const char *logspec = NULL, *ckpt = NULL, *url = getenv("AMQP_URL");
	const char *metrics = NULL;
	int c, follow = 0, dry = 0, *fds;

	memset(&f, 0, sizeof(f));
	p.exchange = "business.events";
	p.next = 1;
	evt_cli_init("mq-pub");
	while ((c = getopt_long(argc, argv, "c:e:fhk:l:qt:u:v", opts, NULL)) != -1) {
		switch (c) {
		case 'A': tls.cacert = optarg; break;
		case 'c':
			if (*optarg == '\0' || strchr(optarg, '-'))
				evt_usage_error(USAGE, "--category: a category is "
				    "what comes before the first '-' of a subject: %s",
				    optarg);
			evt_strv_add(&f.categories, optarg);
			break;
		case 'C': tls.cert = optarg; break;
		case 'D': p.declare = 1; break;
		case 'e': p.exchange = optarg; break;
		case 'f': follow = 1; break;
		case 'h': help();
		case 'k':
			if (*optarg == '\0')
				evt_usage_error(USAGE, "--key: empty");
			p.key = optarg;
			break;
		case 'K':
			if (*optarg == '\0')
				evt_usage_error(USAGE, "--checkpoint: empty name");
			ckpt = optarg;
			break;
		case 'l': logspec = evt_cli_log_arg(optarg); break;
		case 'M':
			if (*optarg == '\0')
				evt_usage_error(USAGE, "--metrics: empty file name");
			metrics = optarg;
			break;
		case 'n': dry = 1; break;
		case 'q': evt_quiet = 1; break;
		case 'S': p.source = optarg; break;
		case 't': evt_strv_add(&f.types, optarg); break;
		case 'u': url = optarg; break;
		case 'v': evt_verbose = 1; break;
		case 'V': evt_print_version();
		case 'Y': tls.key = optarg; break;
		default: evt_usage_error(USAGE, NULL);
		}
	}
	if (logspec == NULL && (follow || ckpt || f.categories.n || f.types.n ||
	    p.source))
		evt_usage_error(USAGE, "--follow, --checkpoint, -c, -t and "
		    "--source go with -l LOG");
	if (logspec && optind < argc)
		evt_usage_error(USAGE, "-l LOG or input files: one or the other");
	if (logspec && dry)
		evt_usage_error(USAGE, "--dry-run reads standard input or files");
	p.names = argv + optind;
	p.ninputs = argc - optind;
	fds = evt_open_inputs(p.names, p.ninputs);
	if (metrics)
		open_metrics(&p, metrics, ckpt);
	if (!dry) {
		if ((p.amqp = evt_amqp_open(url, &tls, &err)) == NULL)
			evt_die_err(&err);
		if (p.declare && evt_amqp_exchange(p.amqp, p.exchange, "topic",
		    &err) < 0)
			evt_die_err(&err);
		if (evt_amqp_confirm_select(p.amqp, &err) < 0)
			evt_die_err(&err);
		p.connected = 1;
	}
	if (logspec)
		outbox(&p, logspec, &f, ckpt, follow);
	else
		lines(&p, fds, dry);
	evt_note("%lld events published, %lld confirmed", p.published,
	    p.confirmed);
	evt_amqp_close(p.amqp);
	p.amqp = NULL;
	p.connected = 0;
	for (uint64_t t = p.done + 1; t < p.next; t++)
		free(slot_of(&p, t)->id);
	for (int i = 0; i < p.ninputs; i++)
		if (fds[i] > 0)
			close(fds[i]);
	free(fds);
	evt_event_free(&p.ev);
	evt_buf_free(&p.rkey);
	evt_filter_free(&f);
	if (fclose(stdout) != 0)
		evt_die(EX_IOERR, "stdout: %s", strerror(errno));
	return 0;
}
