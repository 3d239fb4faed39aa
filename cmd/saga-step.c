/*
 * saga-step - a saga participant (or all of them) as a filter: events in,
 * the same events out, each followed by the reactions it causes.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "cli.h"
#include "clock.h"
#include "event.h"
#include "hmap.h"
#include "lines.h"
#include "saga.h"

#define USAGE "saga-step SERVICE [-qv] [--decline-over AMOUNT] " \
	"[--fail-rate P --seed N] [--only-new] [--timeout DURATION] [FILE ...]"

/*
 * A step never writes one event twice. A reaction already in the input is
 * not written when the batch in hand (what the input has ready, up to this
 * much) shows it: it takes effect at once and its copy passes through
 * where it stands. Else it is written at once, right after its cause, and
 * its copy in the input is dropped when it comes, if it comes within the
 * last RECENT reactions. Either way the output and the state are the same,
 * so a chain of single services writes exactly what `all` writes, however
 * the pipes cut the stream into batches.
 */
#define BATCH_LINES 4096
#define BATCH_BYTES (16u << 20)
#define RECENT 65536

static void help(void) __attribute__((noreturn));

static void
help(void)
{
	printf("usage: %s\n\n"
	    "React to store events as the saga participant SERVICE would:\n"
	    "transaction, payment, inventory, store, or all of them.\n"
	    "Input events pass through; each reaction follows its cause.\n\n"
	    "      --decline-over AMOUNT  decline payments over AMOUNT\n"
	    "      --fail-rate P          decline a share P (0..1) of payments,\n"
	    "      --seed N               drawn per transaction from seed N\n"
	    "      --only-new             write the reactions only\n"
	    "      --timeout DURATION     cancel a transaction with no outcome\n"
	    "                             DURATION (15m, 2h) after its creation\n"
	    "  -q, --quiet                no warnings\n"
	    "  -v, --verbose              a summary on stderr\n"
	    "  -h, --help                 this help\n"
	    "      --version              the version\n\n"
	    "Exit: 0 ok, 64 usage, 65 bad input, 66 no such input, 74 I/O.\n"
	    "See saga-step(1).\n", USAGE);
	exit(0);
}

struct batch {
	struct evt_buf text;	/* the lines, back to back */
	size_t *off, *len;
	char *saga;		/* 0: a type that only passes through */
	int64_t *time;		/* event time, or INT64_MIN */
	long long *lineno;
	size_t n, cap;
	struct evt_hmap ids;	/* ids of the events in the batch */
};

struct run {
	struct evt_saga *saga;
	int only_new;
	long long in, out;
	struct batch *b;	/* the batch in hand, NULL at the end */
	struct evt_event ev;	/* the event being run */
	struct evt_hmap recent;	/* ids of the last RECENT reactions */
	char **ring;		/* the same, oldest first */
	size_t rhead, rlen;
};

static int
emit_line(void *arg, const char *id, const char *line, size_t len)
{
	struct run *r = arg;
	size_t n = strlen(id);

	if (r->rlen == RECENT) {
		char *old = r->ring[r->rhead];
		evt_hmap_del(&r->recent, old, strlen(old));
		free(old);
		r->rhead = (r->rhead + 1) % RECENT;
		r->rlen--;
	}
	if ((r->ring[(r->rhead + r->rlen) % RECENT] = strdup(id)) == NULL)
		abort();
	r->rlen++;
	evt_hmap_put(&r->recent, id, n, 1);
	r->out++;
	return evt_out_line(line, len);
}

static int
known(void *arg, const char *id)
{
	struct run *r = arg;

	return r->b && evt_hmap_get(&r->b->ids, id, strlen(id)) != NULL;
}

static void
batch_add(struct batch *b, const char *line, size_t len,
    const struct evt_event *ev, long long lineno)
{
	if (b->n == b->cap) {
		b->cap = b->cap ? b->cap * 2 : 256;
		b->off = realloc(b->off, b->cap * sizeof(*b->off));
		b->len = realloc(b->len, b->cap * sizeof(*b->len));
		b->saga = realloc(b->saga, b->cap * sizeof(*b->saga));
		b->time = realloc(b->time, b->cap * sizeof(*b->time));
		b->lineno = realloc(b->lineno, b->cap * sizeof(*b->lineno));
		if (!b->off || !b->len || !b->saga || !b->time || !b->lineno)
			abort();
	}
	b->off[b->n] = b->text.len;
	b->len[b->n] = len;
	b->saga[b->n] = (char)evt_saga_knows(ev->type.p, ev->type.n);
	b->time[b->n] = ev->slot[EVT_F_TIME] >= 0 ? ev->time_ms : INT64_MIN;
	b->lineno[b->n] = lineno;
	b->n++;
	evt_buf_add(&b->text, line, len);
	if (b->saga[b->n - 1] && ev->id.p)
		evt_hmap_put(&b->ids, ev->id.p, ev->id.n, 1);
}

static void
batch_clear(struct batch *b)
{
	b->n = 0;
	evt_buf_reset(&b->text);
	evt_hmap_clear(&b->ids);
}

static void
batch_free(struct batch *b)
{
	batch_clear(b);
	free(b->off);
	free(b->len);
	free(b->saga);
	free(b->time);
	free(b->lineno);
	evt_buf_free(&b->text);
	evt_hmap_free(&b->ids);
}

static int
stdout_err(struct evt_err *err)
{
	int e = errno;

	evt_err_set(err, EX_IOERR, "stdout: %s", strerror(e));
	errno = e;
	return -1;
}

/*
 * Run a batch: for each event, expire what its time has overtaken, pass
 * it on, react. Returns 0, or -1 with err and *at set to the batch index
 * that failed (everything before it is out).
 */
static int
run_batch(struct run *r, struct batch *b, struct evt_err *err, size_t *at)
{
	int64_t now;

	if (evt_clock_now(&now, err) < 0)
		return -1;
	r->b = b;
	err->code = 0;
	for (size_t i = 0; i < b->n; i++) {
		const char *line = b->text.p + b->off[i];

		*at = i;
		/* Checked when read; read again here, as the batch's text
		 * no longer moves. */
		if (b->saga[i]) {
			if (evt_event_parse(&r->ev, line, b->len[i], 0, err) < 0)
				return -1;
			if (r->ev.id.p && evt_hmap_get(&r->recent, r->ev.id.p,
			    r->ev.id.n))
				continue;	/* written already, as our reaction */
		}
		if (b->time[i] != INT64_MIN && evt_saga_expire(r->saga,
		    b->time[i], emit_line, known, r, err) < 0)
			return -1;
		if (!r->only_new && evt_out_line(line, b->len[i]) < 0)
			return stdout_err(err);
		if (b->saga[i] && evt_saga_step(r->saga, &r->ev, now, emit_line,
		    known, r, err) < 0)
			return err->code ? -1 : stdout_err(err);
		r->in++;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "decline-over", required_argument, NULL, 'D' },
		{ "fail-rate", required_argument, NULL, 'F' },
		{ "help", no_argument, NULL, 'h' },
		{ "only-new", no_argument, NULL, 'O' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "seed", required_argument, NULL, 'S' },
		{ "timeout", required_argument, NULL, 'T' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	struct evt_saga_opts so;
	struct run r;
	struct batch b;
	struct evt_event sev;
	struct evt_err err;
	int c, has_seed = 0, code = 0;
	char *end;

	memset(&so, 0, sizeof(so));
	memset(&r, 0, sizeof(r));
	memset(&b, 0, sizeof(b));
	memset(&sev, 0, sizeof(sev));
	evt_cli_init("saga-step");
	while ((c = getopt_long(argc, argv, "hqv", opts, NULL)) != -1) {
		switch (c) {
		case 'D':
			so.decline_over = strtod(optarg, &end);
			if (end == optarg || *end || so.decline_over < 0)
				evt_usage_error(USAGE, "--decline-over: not an "
				    "amount: %s", optarg);
			so.has_decline_over = 1;
			break;
		case 'F':
			so.fail_rate = strtod(optarg, &end);
			if (end == optarg || *end || !(so.fail_rate >= 0 &&
			    so.fail_rate <= 1))
				evt_usage_error(USAGE, "--fail-rate: not a "
				    "number from 0 to 1: %s", optarg);
			break;
		case 'h': help();
		case 'O': r.only_new = 1; break;
		case 'q': evt_quiet = 1; break;
		case 'S':
			so.seed = (unsigned long long)evt_opt_count("--seed", optarg, 0);
			has_seed = 1;
			break;
		case 'T': so.timeout_ms = evt_opt_duration("--timeout", optarg); break;
		case 'v': evt_verbose = 1; break;
		case 'V': evt_print_version();
		default: evt_usage_error(USAGE, NULL);
		}
	}
	if (optind >= argc)
		evt_usage_error(USAGE, "which service? transaction, payment, "
		    "inventory, store or all");
	if ((so.services = evt_saga_service(argv[optind])) == 0)
		evt_usage_error(USAGE, "unknown service: %s", argv[optind]);
	optind++;
	if (so.fail_rate > 0 && !has_seed)
		evt_usage_error(USAGE, "--fail-rate needs --seed, so that runs "
		    "can be repeated");
	if (evt_clock_now(&(int64_t){0}, &err) < 0)
		evt_die_err(&err);
	int nin = argc - optind, *fds = evt_open_inputs(argv + optind, nin);
	if (nin == 0)
		nin = 1;	/* fds[0] == 0: stdin */
	r.saga = evt_saga_new(&so);
	if ((r.ring = calloc(RECENT, sizeof(*r.ring))) == NULL)
		abort();
	for (int i = 0; i < nin && code == 0; i++) {
		const char *where = argc - optind ? argv[optind + i] : "stdin";
		struct evt_lines in;
		const char *line;
		size_t len, at = 0;
		int rc = 1;

		evt_lines_init(&in, fds[i]);
		while (code == 0 && rc != 0) {
			long long badline = 0;
			/* Take what is ready, up to a batch, then run it. */
			do {
				rc = evt_lines_next(&in, &line, &len, &err);
				if (rc < 0) {
					badline = in.lineno;
					break;
				}
				if (rc == 0)
					break;
				if (strspn(line, " \t\r") >= len)
					continue;
				if (evt_event_parse(&sev, line, len, 0, &err) < 0) {
					badline = in.lineno;
					rc = -1;
					break;
				}
				batch_add(&b, line, len, &sev, in.lineno);
			} while (b.n < BATCH_LINES && b.text.len < BATCH_BYTES &&
			    evt_lines_ready(&in));
			struct evt_err berr;
			if (run_batch(&r, &b, &berr, &at) < 0) {
				int closed = errno == EPIPE;
				if (berr.code == EX_DATAERR)
					fprintf(stderr, "%s: %s:%lld: %s\n", evt_prog,
					    where, b.lineno[at], berr.msg);
				else if (!closed)
					fprintf(stderr, "%s: %s\n", evt_prog, berr.msg);
				code = berr.code;
			}
			batch_clear(&b);
			if (code == 0 && rc < 0) {
				fprintf(stderr, "%s: %s:%lld: %s\n", evt_prog, where,
				    badline, err.msg);
				code = err.code;
			}
			int closed = 0;
			if (code == 0 && evt_out_flush(&err, &closed) < 0) {
				if (!closed)
					fprintf(stderr, "%s: %s\n", evt_prog, err.msg);
				code = EX_IOERR;
			}
		}
		evt_lines_free(&in);
		if (fds[i] > 0)
			close(fds[i]);
	}
	/* At the end of input, what has had no outcome for too long by now
	 * (EVT_NOW or the clock) is cancelled. */
	r.b = NULL;
	if (code == 0 && so.timeout_ms > 0) {
		int64_t now;
		if (evt_clock_now(&now, &err) < 0 || evt_saga_expire(r.saga, now,
		    emit_line, known, &r, &err) < 0) {
			fprintf(stderr, "%s: %s\n", evt_prog, err.msg);
			code = err.code;
		}
	}
	if (code == 0)
		evt_note("%lld events in, %lld reactions, %zu sagas open",
		    r.in, r.out, evt_saga_open(r.saga));
	evt_saga_free(r.saga);
	for (size_t i = 0; i < r.rlen; i++)
		free(r.ring[(r.rhead + i) % RECENT]);
	free(r.ring);
	evt_hmap_free(&r.recent);
	batch_free(&b);
	evt_event_free(&sev);
	evt_event_free(&r.ev);
	free(fds);
	if (fclose(stdout) != 0 && code == 0) {
		if (errno != EPIPE)
			fprintf(stderr, "%s: stdout: %s\n", evt_prog, strerror(errno));
		code = EX_IOERR;
	}
	return code;
}
