/*
 * mq-sub - consume events from a RabbitMQ queue: write each as one NDJSON
 * line and acknowledge it once written, or hand each batch to a command
 * and acknowledge it once the command succeeded; dead-letter what cannot
 * be taken. Run as a service (no -n, no --idle-timeout), it connects again
 * when its connection is lost, as mq-pub's relay does.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "amqp.h"
#include "cli.h"
#include "clock.h"
#include "event.h"
#include "metrics.h"

#define USAGE "mq-sub [-v] -q QUEUE [-b PATTERN]... [-e EXCHANGE] [-n COUNT] " \
	"[-u URL]\n" \
	"              [--cacert FILE] [--cert FILE] [--cert-key FILE] " \
	"[--envelope]\n" \
	"              [--exec CMD] [--idle-timeout DURATION] " \
	"[--max-redeliveries N]\n" \
	"              [--metrics FILE] [--prefetch N] [--quiet] [--quorum]"

/* How often the loop looks at signals and the idle timer. */
#define TICK_MS 200
/* After a delivery, how long to wait for more to make a batch. */
#define BATCH_WAIT_MS 10
/* The circuit breaker's longest pause. */
#define PAUSE_MAX_MS 30000

static volatile sig_atomic_t stopping;

static void
on_signal(int sig)
{
	(void)sig;
	stopping = 1;
}

static void help(void) __attribute__((noreturn));

static void
help(void)
{
	printf("usage: %s\n\n"
	    "Consume events from a durable queue: write each as one NDJSON line\n"
	    "(or hand each batch to CMD) and acknowledge it only after that.\n\n"
	    "  -q, --queue QUEUE     the queue (declared durable with the\n"
	    "                        dead-letter exchange EXCHANGE.dlx and the\n"
	    "                        queue QUEUE.dlq unless it exists)\n"
	    "  -b, --bind PATTERN    bind the queue to the exchange with this\n"
	    "                        topic pattern ('payment.*', '#'); repeatable\n"
	    "  -e, --exchange NAME   the exchange (default business.events)\n"
	    "  -u, --url URL         the broker (default $AMQP_URL, else\n"
	    "                        " EVT_AMQP_DEFAULT_URL ")\n"
	    "      --cacert FILE     amqps: verify the broker with these CAs\n"
	    "                        (default $AMQP_CACERT, else the system's)\n"
	    "      --cert FILE       amqps: present this client certificate\n"
	    "                        (default $AMQP_CERT)\n"
	    "      --cert-key FILE   its private key (default $AMQP_KEY, else\n"
	    "                        in the --cert file)\n"
	    "      --quorum          declare a quorum queue\n"
	    "      --prefetch N      at most N unacknowledged messages (100)\n"
	    "  -n, --count N         stop after N messages\n"
	    "      --idle-timeout D  stop after D (30s, 5m) without a message\n"
	    "      --exec CMD        hand each batch to sh -c CMD on its stdin;\n"
	    "                        acknowledge when it exits 0, else put the\n"
	    "                        batch back\n"
	    "      --max-redeliveries N  dead-letter a message put back N times\n"
	    "                        (default 5)\n"
	    "      --envelope        write {\"exchange\",\"routing_key\",...,\n"
	    "                        \"body\"} instead of the body\n"
	    "      --metrics FILE    keep a node_exporter textfile of the\n"
	    "                        counts and the circuit breaker's state\n"
	    "      --quiet           no warnings\n"
	    "  -v, --verbose         a summary on stderr\n"
	    "  -h, --help            this help\n"
	    "      --version         the version\n\n"
	    "SIGINT and SIGTERM finish the batch in hand and exit 0. Without -n\n"
	    "and --idle-timeout it is a service: a lost connection is made again\n"
	    "(pauses of 0.1 s growing to 10 s), and what was not acknowledged\n"
	    "comes again; with either, a lost connection exits 75.\n"
	    "Exit: 0 ok, 64 usage, 66 a TLS file missing, 69 broker unreachable\n"
	    "or TLS refused, 74 I/O, 75 connection lost (-n, --idle-timeout)\n"
	    "or the consumer cancelled. See mq-sub(1).\n", USAGE);
	exit(0);
}

struct sub {
	struct evt_amqp *amqp;
	const char *queue, *exec;
	long long max_redeliveries;
	int envelope;
	int is_dlq;		/* the queue is a dead-letter queue */
	long long held;		/* deliveries left unacknowledged (a dead-letter
				 * queue's bodies that are not events) */
	struct evt_amqp_delivery *batch;
	struct evt_buf *lines;	/* each delivery's line, compact */
	size_t n, cap;
	int fails;		/* --exec failures in a row */
	long long isolate;	/* batches of one message to come: after a
				 * batch failed, each of its messages is
				 * tried alone, so that one bad message
				 * does not take the good ones with it */
	struct evt_event ev;
	struct evt_buf out;
	/* Counts, and the metrics that show them (static storage: the
	 * metrics are written once more at exit). */
	long long received, taken, putback;
	long long dead_bad, dead_max;	/* dead-lettered: not an event,
					 * put back too often */
	long long breaker_open, breaker_opened;
	struct evt_metrics *metrics;
	/* The subscription, made again on each connection. */
	const char *exchange;
	char **binds;
	int nbinds, quorum;
	unsigned prefetch;
	int service;		/* neither -n nor --idle-timeout: a lost
				 * connection is made again */
	int lost;		/* it was: connect again before going on */
	struct evt_err why;	/* how it was lost */
	long long connected, reconnects;	/* (metrics too) */
};

/* Write the metrics when they are due. */
static void
tick(struct sub *s)
{
	struct evt_err err;

	if (evt_metrics_tick(s->metrics, &err) < 0)
		evt_warn("--metrics: %s", err.msg);
}

/* Sleep ms, cut short by a stop signal. */
static void
pause_ms(struct sub *s, long ms)
{
	while (ms > 0 && !stopping) {
		long step = ms < TICK_MS ? ms : TICK_MS;
		struct timespec ts = { step / 1000, (step % 1000) * 1000000L };
		nanosleep(&ts, NULL);
		ms -= step;
		tick(s);
	}
}

/* Run sh -c cmd with the batch's lines on its stdin. Returns its wait
 * status, or -1 with errno when it could not be run. */
static int
run_exec(struct sub *s)
{
	int fd[2], status;
	pid_t pid;

	fflush(stdout);
	if (pipe(fd) < 0)
		return -1;
	if ((pid = fork()) < 0) {
		close(fd[0]);
		close(fd[1]);
		return -1;
	}
	if (pid == 0) {
		/* Its own process group: a ^C meant for mq-sub must not kill
		 * the batch it is finishing. */
		setpgid(0, 0);
		signal(SIGPIPE, SIG_DFL);
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		dup2(fd[0], 0);
		close(fd[0]);
		close(fd[1]);
		execl("/bin/sh", "sh", "-c", s->exec, (char *)NULL);
		_exit(127);
	}
	close(fd[0]);
	for (size_t i = 0; i < s->n; i++) {
		const struct evt_buf *b = &s->lines[i];
		size_t off = 0;
		while (off < b->len) {
			ssize_t w = write(fd[1], b->p + off, b->len - off);
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0)
				goto done;	/* it went away: its status says */
			off += (size_t)w;
		}
	}
done:
	close(fd[1]);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	return status;
}

/*
 * The broker failed us (err). A one-shot run (-n, --idle-timeout) exits
 * with err's code, 75 for a lost connection, as mq-pub does. A service
 * notes a lost connection (or channel) and goes on: the main loop
 * connects again, and what was not acknowledged comes again from the
 * broker. Anything else (the broker cancelled the consumer, the queue
 * went away) stops even a service.
 */
static void
lose(struct sub *s, const struct evt_err *err)
{
	if (!s->service || err->code != EX_TEMPFAIL || evt_amqp_is_up(s->amqp))
		evt_die_err(err);
	s->lost = 1;
	s->connected = 0;
	s->why = *err;
}

/* Settle the batch in hand; returns 0, or -1 when stdout went away (the
 * batch is then left unacknowledged: the broker redelivers it). */
static int
settle(struct sub *s)
{
	struct evt_err err;
	int closed = 0;

	if (s->n == 0)
		return 0;
	if (s->exec == NULL) {
		sigset_t stop, old;
		/* The batch in hand is finished whatever signal comes: the
		 * handler has no SA_RESTART (so that the waits return), and
		 * a write to a slow reader that a SIGTERM cut short was an
		 * I/O error (74) instead of a clean stop. Held meanwhile, the
		 * signal takes effect once the batch is written. */
		sigemptyset(&stop);
		sigaddset(&stop, SIGINT);
		sigaddset(&stop, SIGTERM);
		sigprocmask(SIG_BLOCK, &stop, &old);
		for (size_t i = 0; i < s->n; i++)
			if (fwrite(s->lines[i].p, 1, s->lines[i].len, stdout) !=
			    s->lines[i].len)
				break;
		int r = evt_out_flush(&err, &closed);
		sigprocmask(SIG_SETMASK, &old, NULL);
		if (r < 0) {
			if (!closed)
				evt_die_err(&err);
			return -1;
		}
	} else {
		int st = run_exec(s);
		if (st != 0) {
			s->fails++;
			if (st < 0)
				evt_warn("--exec: %s", strerror(errno));
			else if (WIFEXITED(st))
				evt_warn("--exec: exited %d; %zu messages put back",
				    WEXITSTATUS(st), s->n);
			else
				evt_warn("--exec: killed by signal %d; %zu "
				    "messages put back", WTERMSIG(st), s->n);
			/* They come back: each alone, next (the breaker's
			 * pause still applies between failures). */
			if (s->n > 1 && (long long)s->n > s->isolate)
				s->isolate = (long long)s->n;
			for (size_t i = 0; i < s->n; i++) {
				struct evt_amqp_delivery *d = &s->batch[i];
				if (d->count >= s->max_redeliveries) {
					evt_warn("%s: message %llu: put back %lld "
					    "times; dead-lettered to %s.dlq", s->queue,
					    (unsigned long long)d->tag, d->count,
					    s->queue);
					if (evt_amqp_reject(s->amqp, d->tag, 0, &err) < 0) {
						lose(s, &err);
						return 0;
					}
					s->dead_max++;
				} else {
					if (evt_amqp_requeue_counted(s->amqp, s->queue,
					    d, &err) < 0) {
						/* The rest, unacknowledged, comes
						 * back too. */
						lose(s, &err);
						return 0;
					}
					s->putback++;
				}
			}
			/* The circuit breaker: a failing downstream gets a
			 * growing rest, not every message's redeliveries. */
			long ms = 100L << (s->fails < 9 ? s->fails : 9);
			if (ms > PAUSE_MAX_MS)
				ms = PAUSE_MAX_MS;
			if (!s->breaker_open)
				s->breaker_opened++;
			s->breaker_open = 1;
			evt_warn("circuit open: pausing %ld ms after %d failures "
			    "in a row", ms, s->fails);
			tick(s);
			pause_ms(s, ms);
			return 0;
		}
		if (s->fails)
			evt_warn("circuit closed: --exec succeeded again");
		s->fails = 0;
		s->breaker_open = 0;
	}
	/* One ack for the batch (multiple: every delivery up to its last
	 * tag), when the batch is all that is unacknowledged on the channel:
	 * tags grow, and what came before it was settled. A delivery left
	 * in a dead-letter queue stays unacknowledged, and then each is
	 * acknowledged alone. One frame for the broker instead of one a
	 * message: the broker, not mq-sub, is what limits the rate. */
	if (s->held == 0) {
		uint64_t last = 0;
		for (size_t i = 0; i < s->n; i++)
			if (s->batch[i].tag > last)
				last = s->batch[i].tag;
		if (evt_amqp_ack(s->amqp, last, 1, &err) < 0) {
			/* Written (or taken by --exec) and not acknowledged:
			 * the broker delivers it again, at least once. */
			lose(s, &err);
			return 0;
		}
	} else
		for (size_t i = 0; i < s->n; i++)
			if (evt_amqp_ack(s->amqp, s->batch[i].tag, 0, &err) < 0) {
				lose(s, &err);
				return 0;
			}
	s->taken += (long long)s->n;
	return 0;
}

static void
clear(struct sub *s)
{
	for (size_t i = 0; i < s->n; i++)
		evt_amqp_delivery_free(&s->batch[i]);
	s->n = 0;
}

/* Take delivery d into the batch, or dead-letter it when it is not an
 * event. */
static void
take(struct sub *s, struct evt_amqp_delivery *d)
{
	struct evt_err err;

	s->received++;
	int bad = evt_event_parse(&s->ev, d->body, d->len, 1, &err) < 0;
	if (bad && s->is_dlq) {
		/* A dead-letter queue has nowhere further to send it: leave
		 * it there (unacknowledged, so back in the queue once we
		 * close) for someone to look at. */
		evt_warn("%s: message %llu: %s; left in the queue", s->queue,
		    (unsigned long long)d->tag, err.msg);
		evt_amqp_delivery_free(d);
		s->held++;
		return;
	}
	if (bad) {
		evt_warn("%s: message %llu: %s; dead-lettered to %s.dlq",
		    s->queue, (unsigned long long)d->tag, err.msg, s->queue);
		if (evt_amqp_reject(s->amqp, d->tag, 0, &err) < 0)
			lose(s, &err);
		else
			s->dead_bad++;
		evt_amqp_delivery_free(d);
		return;
	}
	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 64;
		s->batch = realloc(s->batch, cap * sizeof(*s->batch));
		s->lines = realloc(s->lines, cap * sizeof(*s->lines));
		if (s->batch == NULL || s->lines == NULL)
			abort();
		for (size_t i = s->cap; i < cap; i++)
			s->lines[i] = (struct evt_buf)EVT_BUF_INIT;
		s->cap = cap;
	}
	struct evt_buf *b = &s->lines[s->n];
	evt_buf_reset(b);
	if (s->envelope) {
		evt_buf_addc(b, '{');
		evt_amqp_delivery_json(d, b);
		evt_buf_adds(b, ",\"body\":");
		evt_buf_add(b, s->ev.j.out.p, s->ev.j.out.len);
		evt_buf_addc(b, '}');
	} else
		evt_buf_add(b, s->ev.j.out.p, s->ev.j.out.len);
	evt_buf_addc(b, '\n');
	s->batch[s->n++] = *d;
}

/*
 * Declare what the subscription needs on the connection of s->amqp and
 * start consuming: the queue (used as it is when it exists), its dead
 * letters when it is new, the exchange and the bindings, the prefetch.
 * Done when mq-sub starts and again on each new connection. Returns 0,
 * or -1 with err.
 */
static int
subscribe(struct sub *s, struct evt_err *err)
{
	char dlx[512], dlq[512];
	int existed;

	snprintf(dlx, sizeof(dlx), "%s.dlx", s->exchange);
	snprintf(dlq, sizeof(dlq), "%s.dlq", s->queue);
	if (evt_amqp_queue(s->amqp, s->queue, s->quorum, dlx, s->queue,
	    &existed, err) < 0)
		return -1;
	if (!existed) {
		int e2;
		/* Its dead letters: QUEUE.dlq, fed by EXCHANGE.dlx with the
		 * queue's name as the key. */
		if (evt_amqp_exchange(s->amqp, dlx, "direct", err) < 0 ||
		    evt_amqp_queue(s->amqp, dlq, 0, NULL, NULL, &e2, err) < 0 ||
		    evt_amqp_bind(s->amqp, dlq, dlx, s->queue, err) < 0)
			return -1;
	}
	if (s->nbinds && evt_amqp_exchange(s->amqp, s->exchange, "topic",
	    err) < 0)
		return -1;
	for (int i = 0; i < s->nbinds; i++)
		if (evt_amqp_bind(s->amqp, s->queue, s->exchange, s->binds[i],
		    err) < 0)
			return -1;
	if (evt_amqp_qos(s->amqp, s->prefetch, err) < 0 ||
	    evt_amqp_consume(s->amqp, s->queue, err) < 0)
		return -1;
	return 0;
}

/*
 * The service lost its connection (s->why): forget what it held
 * (unacknowledged, the broker delivers it again), and connect and
 * subscribe again after a jittered pause that grows from 100 ms to 10 s,
 * as mq-pub's relay does, as many times as it takes. Returns 1 when
 * consuming again, 0 when a stop signal came meanwhile.
 */
static int
reconnect(struct sub *s)
{
	struct evt_err err;
	unsigned attempt = 0;
	long long since = evt_mono_ms();

	clear(s);
	s->held = 0;
	evt_warn("%s; connecting again (what was not acknowledged comes "
	    "again)", s->why.msg);
	for (;;) {
		pause_ms(s, evt_amqp_backoff_ms(++attempt));
		if (stopping)
			return 0;
		if (evt_amqp_reopen(s->amqp, &err) == 0 && subscribe(s, &err) == 0)
			break;
		evt_note("attempt %u: %s", attempt, err.msg);
	}
	s->lost = 0;
	s->connected = 1;
	s->reconnects++;
	evt_warn("%s: connected again after %.1f s (attempt %u)",
	    evt_amqp_where(s->amqp), (double)(evt_mono_ms() - since) / 1000, attempt);
	tick(s);
	return 1;
}

/*
 * The metrics of --metrics FILE, labelled with the queue: what tells two
 * mq-sub apart on one host. Written now, so a FILE that cannot be written
 * stops the run before it starts, and then as they are due and at exit.
 */
static void
open_metrics(struct sub *s, const char *path)
{
	const struct {
		enum evt_metric_kind kind;
		const char *name, *help, *reason;
		const long long *v;
	} def[] = {
		{ EVT_METRIC_COUNTER, "evt_mq_received_total",
		    "Messages delivered by the broker.", NULL, &s->received },
		{ EVT_METRIC_COUNTER, "evt_mq_acked_total",
		    "Messages acknowledged, written or taken by --exec.", NULL,
		    &s->taken },
		{ EVT_METRIC_COUNTER, "evt_mq_requeued_total",
		    "Messages put back in the queue after --exec failed.", NULL,
		    &s->putback },
		{ EVT_METRIC_COUNTER, "evt_mq_dead_lettered_total",
		    "Messages sent to the dead-letter queue, by reason.",
		    "not_an_event", &s->dead_bad },
		{ EVT_METRIC_COUNTER, "evt_mq_dead_lettered_total",
		    "Messages sent to the dead-letter queue, by reason.",
		    "max_redeliveries", &s->dead_max },
		{ EVT_METRIC_GAUGE, "evt_mq_breaker_open",
		    "Whether the circuit breaker is open (1: --exec failing, "
		    "no messages taken) or closed (0).", NULL, &s->breaker_open },
		{ EVT_METRIC_COUNTER, "evt_mq_breaker_opened_total",
		    "Times the circuit breaker opened.", NULL,
		    &s->breaker_opened },
		{ EVT_METRIC_GAUGE, "evt_mq_connected",
		    "Whether the connection to the broker is up (1) or not (0).",
		    NULL, &s->connected },
		{ EVT_METRIC_COUNTER, "evt_mq_reconnects_total",
		    "Connections made again after one was lost.", NULL,
		    &s->reconnects },
	};
	struct evt_err err;

	s->metrics = evt_metrics_new(path, "mq-sub");
	evt_metrics_label(s->metrics, "queue", s->queue);
	for (size_t i = 0; i < sizeof(def) / sizeof(def[0]); i++)
		evt_metrics_add(s->metrics, def[i].kind, def[i].name, def[i].help,
		    def[i].reason ? "reason" : NULL, def[i].reason, def[i].v);
	if (evt_metrics_write(s->metrics, &err) < 0)
		evt_die(EX_IOERR, "--metrics: %s", err.msg);
	evt_metrics_at_exit(s->metrics);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "bind", required_argument, NULL, 'b' },
		{ "cacert", required_argument, NULL, 'A' },
		{ "cert", required_argument, NULL, 'C' },
		{ "cert-key", required_argument, NULL, 'Y' },
		{ "count", required_argument, NULL, 'n' },
		{ "envelope", no_argument, NULL, 'E' },
		{ "exchange", required_argument, NULL, 'e' },
		{ "exec", required_argument, NULL, 'x' },
		{ "help", no_argument, NULL, 'h' },
		{ "idle-timeout", required_argument, NULL, 'I' },
		{ "max-redeliveries", required_argument, NULL, 'M' },
		{ "metrics", required_argument, NULL, 'T' },
		{ "prefetch", required_argument, NULL, 'P' },
		{ "queue", required_argument, NULL, 'q' },
		{ "quiet", no_argument, NULL, 'Q' },
		{ "quorum", no_argument, NULL, 'R' },
		{ "url", required_argument, NULL, 'u' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	static struct sub s;
	struct evt_amqp_tls tls = { NULL, NULL, NULL };
	struct evt_err err;
	struct sigaction sa;
	const char *url = getenv("AMQP_URL"), *exchange = "business.events";
	const char *metrics = NULL;
	char **binds = calloc((size_t)argc + 1, sizeof(char *));
	int nbinds = 0, c, quorum = 0;
	long long count = 0, prefetch = 100;
	int64_t idle = 0;

	if (binds == NULL)
		abort();
	s.max_redeliveries = 5;
	evt_cli_init("mq-sub");
	while ((c = getopt_long(argc, argv, "b:e:hn:q:u:v", opts, NULL)) != -1) {
		switch (c) {
		case 'A': tls.cacert = optarg; break;
		case 'b':
			if (*optarg == '\0')
				evt_usage_error(USAGE, "--bind: empty pattern");
			binds[nbinds++] = optarg;
			break;
		case 'C': tls.cert = optarg; break;
		case 'e': exchange = optarg; break;
		case 'E': s.envelope = 1; break;
		case 'h': help();
		case 'I':
			idle = evt_opt_duration("--idle-timeout", optarg);
			break;
		case 'M':
			s.max_redeliveries = evt_opt_count("--max-redeliveries",
			    optarg, 0);
			break;
		case 'n': count = evt_opt_count("--count", optarg, 1); break;
		case 'P':
			prefetch = evt_opt_count("--prefetch", optarg, 1);
			if (prefetch > 65535)
				evt_usage_error(USAGE, "--prefetch: at most 65535: %s",
				    optarg);
			break;
		case 'q':
			if (*optarg == '\0')
				evt_usage_error(USAGE, "--queue: empty name");
			s.queue = optarg;
			break;
		case 'Q': evt_quiet = 1; break;
		case 'R': quorum = 1; break;
		case 'T':
			if (*optarg == '\0')
				evt_usage_error(USAGE, "--metrics: empty file name");
			metrics = optarg;
			break;
		case 'u': url = optarg; break;
		case 'v': evt_verbose = 1; break;
		case 'V': evt_print_version();
		case 'x':
			if (*optarg == '\0')
				evt_usage_error(USAGE, "--exec: empty command");
			s.exec = optarg;
			break;
		case 'Y': tls.key = optarg; break;
		default: evt_usage_error(USAGE, NULL);
		}
	}
	if (optind < argc)
		evt_usage_error(USAGE, "unexpected argument: %s", argv[optind]);
	if (s.queue == NULL)
		evt_usage_error(USAGE, "-q QUEUE is required");

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;	/* no SA_RESTART: waits return */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	if (metrics)
		open_metrics(&s, metrics);
	size_t ql = strlen(s.queue);
	s.is_dlq = ql > 4 && strcmp(s.queue + ql - 4, ".dlq") == 0;
	s.exchange = exchange;
	s.binds = binds;
	s.nbinds = nbinds;
	s.quorum = quorum;
	s.prefetch = (unsigned)prefetch;
	s.service = count == 0 && idle == 0;
	/* A broker that cannot be reached now is an error even for a
	 * service (69), as for mq-pub's relay: most likely a wrong URL. */
	if ((s.amqp = evt_amqp_open(url, &tls, &err)) == NULL ||
	    subscribe(&s, &err) < 0)
		evt_die_err(&err);
	s.connected = 1;

	int64_t quiet_ms = 0;
	int gone = 0;
	while (!stopping && !gone && !(count && s.taken >= count)) {
		struct evt_amqp_delivery d;
		if (s.lost && !reconnect(&s))
			break;
		/* Written to stdout, a batch is half the prefetch window:
		 * while it is written (and read), the broker sends the other
		 * half, instead of the two taking turns. Not so for --exec:
		 * a command's run has a cost of its own (a process, an fsync
		 * for evt-append), and half batches, twice the runs, made
		 * --exec 'evt-append' a third slower. */
		long long want = s.exec || prefetch < 2 ? prefetch :
		    (prefetch + 1) / 2;
		if (count && count - s.taken < want)
			want = count - s.taken;
		if (s.isolate > 0) {
			want = 1;
			s.isolate--;
		}
		int r = evt_amqp_next(s.amqp, &d, TICK_MS, &err);
		if (r < 0) {
			lose(&s, &err);
			continue;
		}
		tick(&s);
		if (r == 0) {
			quiet_ms += TICK_MS;
			if (idle && quiet_ms >= idle)
				break;
			continue;
		}
		quiet_ms = 0;
		take(&s, &d);
		while (!s.lost && (long long)s.n < want &&
		    (r = evt_amqp_next(s.amqp, &d, BATCH_WAIT_MS, &err)) == 1)
			take(&s, &d);
		if (r < 0)
			lose(&s, &err);
		/* A batch from a connection that is gone cannot be
		 * acknowledged: not written, it comes again. */
		if (!s.lost && settle(&s) < 0)
			gone = 1;
		clear(&s);
	}
	if (evt_verbose)
		evt_note("%s: %lld messages taken, %lld put back, %lld "
		    "dead-lettered, %lld reconnects", s.queue, s.taken,
		    s.putback, s.dead_bad + s.dead_max, s.reconnects);
	/* Unacknowledged deliveries go back to the queue when the channel
	 * closes: nothing is lost. */
	evt_amqp_close(s.amqp);
	s.connected = 0;
	for (size_t i = 0; i < s.cap; i++)
		evt_buf_free(&s.lines[i]);
	free(s.lines);
	free(s.batch);
	free(binds);
	evt_event_free(&s.ev);
	evt_buf_free(&s.out);
	if (fclose(stdout) != 0 && errno != EPIPE)
		evt_die(EX_IOERR, "stdout: %s", strerror(errno));
	return 0;
}
