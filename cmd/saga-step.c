/*
 * saga-step - a saga participant (or all of them): as a filter, events in,
 * the same events out, then the decisions they call for; or as a service
 * on a log (-l), deciding and appending, and with --follow, staying on.
 */
#include <ctype.h>
#include <errno.h>
#include <malloc.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "cli.h"
#include "clock.h"
#include "event.h"
#include "follow.h"
#include "input.h"
#include "log.h"
#include "reject.h"
#include "saga.h"
#include "uuid.h"

#define USAGE "saga-step SERVICE [-fqv] [-l LOG] [--decline-over AMOUNT] " \
	"[--fail-rate P --seed N] [--member I/N] [--only-new] [--reject FILE] " \
	"[--timeout DURATION] [FILE ...]"

/* How often a service on a log looks again when nothing wakes it. */
#define RECHECK_MS 1000
/*
 * A round is appended in chunks of at most this many reactions (or
 * bytes), each its own transaction: another writer never waits for more
 * than one chunk, a kill loses at most one, and the round's memory is
 * bounded. Decisions are emitted in order with ids of their own, so a
 * chunk stands alone.
 */
#define CHUNK_EVENTS 4096
#define CHUNK_BYTES (4u << 20)
/* The longest wait between two tries of a round that lost a race. */
#define BACKOFF_MAX_MS 1000

static void help(void) __attribute__((noreturn));

static void
help(void)
{
	printf("usage: %s\n\n"
	    "Decide for store events as the saga participant SERVICE would:\n"
	    "transaction, payment, inventory, store, or all of them.\n"
	    "Every event read is a fact; causes with no recorded outcome are\n"
	    "decided once everything is read. As a filter, input events pass\n"
	    "through and the reactions follow at the end of the input; with\n"
	    "-l the service reads the log and appends its reactions to it.\n"
	    "An order the rules cannot take is rejected (TransactionRejected),\n"
	    "a reaction they cannot use is set aside with a warning.\n\n"
	    "      --decline-over AMOUNT  decline payments over AMOUNT\n"
	    "      --fail-rate P          decline a share P (0..1) of payments,\n"
	    "      --seed N               drawn per transaction from seed N\n"
	    "  -f, --follow               with -l: stay on, deciding as events\n"
	    "                             are appended, until SIGINT or SIGTERM\n"
	    "  -l, --log LOG              read LOG whole, append the reactions\n"
	    "      --member I/N           decide only the causes whose store\n"
	    "                             (inventory) or transaction hashes to\n"
	    "                             I of N: N members share the work\n"
	    "      --only-new             write the reactions only\n"
	    "      --reject FILE          set input lines that are not events\n"
	    "                             aside in FILE and go on\n"
	    "      --timeout DURATION     cancel a transaction with no outcome\n"
	    "                             DURATION (15m, 2h) after its creation\n"
	    "  -q, --quiet                no warnings\n"
	    "  -v, --verbose              a summary on stderr\n"
	    "  -h, --help                 this help\n"
	    "      --version              the version\n\n"
	    "Exit: 0 ok, 64 usage, 65 bad input, 66 no such input or log,\n"
	    "74 I/O.\n"
	    "See saga-step(1).\n", USAGE);
	exit(0);
}

struct run {
	struct evt_saga *saga;
	int only_new;
	long long in, out;
	struct evt_event ev;
	struct evt_reject *reject;
	/* -l: the reactions of a round not yet appended, back to back, one
	 * per line, and their ids (EVT_UUID_LEN + 1 bytes each). */
	struct evt_log *log;
	struct evt_buf pending, ids;
	long long npending, appended;
	long long last_seq;	/* the last stored event folded */
	int64_t now;
	int lost;		/* the round lost a race: take it back */
	int failed;		/* the round's append failed: err says why */
	struct evt_err err;
};

static int
emit_line(void *arg, const char *id, const char *line, size_t len)
{
	struct run *r = arg;

	(void)id;
	r->out++;
	return evt_out_line(line, len);
}

/* What a fold made of an event the rules cannot take, for people: at
 * is where it was read ("stdin:3", "shop.db: seq 42"). */
static void
warn_folded(int rc, const char *at, const struct evt_err *why)
{
	if (rc == EVT_SAGA_REJECTED)
		evt_warn("%s: %s: the order is rejected", at, why->msg);
	else if (rc == EVT_SAGA_ASIDE)
		evt_warn("%s: %s: set aside", at, why->msg);
}

/* The filter's input loop (input.h): one input at a time. */
struct filter {
	struct run *r;
	int64_t now;
	const char *where;
	int closed;		/* stdout's reader went away */
};

/* Fold one input event, warn about one the rules cannot take, and pass
 * it through. */
static int
fold_line(void *arg, struct evt_event *ev, const char *line, size_t len,
    long long lineno, struct evt_err *err)
{
	struct filter *f = arg;
	struct run *r = f->r;
	int k;

	if ((k = evt_saga_fold(r->saga, ev, f->now, err)) < 0)
		return -1;	/* a cause without an id: bad input */
	if (k != EVT_SAGA_TAKEN) {
		char at[512];
		snprintf(at, sizeof(at), "%s:%lld", f->where, lineno);
		warn_folded(k, at, err);
	}
	r->in++;
	if (!r->only_new && evt_out_line(line, len) < 0) {
		f->closed = errno == EPIPE;
		return evt_err_set(err, EX_IOERR, "stdout: %s", strerror(errno));
	}
	return 0;
}

/* Keep a slow pipeline moving: what passed through goes out when the
 * input pauses. */
static int
flush_paused(void *arg, struct evt_err *err)
{
	struct filter *f = arg;

	return evt_out_flush(err, &f->closed);
}

/*
 * The filter: pass each event through, fold it, and decide at the end of
 * all the input. Returns the exit code.
 */
static int
run_filter(struct run *r, char **names, int nin)
{
	int *fds = evt_open_inputs(names, nin), code = 0, closed = 0;
	struct filter f = { r, 0, NULL, 0 };
	struct evt_err err;
	int64_t now;

	if (evt_clock_now(&now, &err) < 0)
		evt_die_err(&err);
	f.now = now;
	for (int i = 0; i < (nin ? nin : 1) && code == 0; i++) {
		struct evt_input in = { nin ? names[i] : "stdin", 0, r->reject,
		    fold_line, flush_paused, &f, 0 };

		f.where = in.where;
		if (evt_input_read(&in, fds[i], &r->ev, &err) < 0) {
			if (in.lineno)
				fprintf(stderr, "%s: %s:%lld: %s\n", evt_prog,
				    in.where, in.lineno, err.msg);
			else if (!f.closed)
				fprintf(stderr, "%s: %s\n", evt_prog, err.msg);
			code = err.code ? err.code : EX_IOERR;
		}
		if (fds[i] > 0)
			close(fds[i]);
	}
	free(fds);
	/* Everything is read: decide. A bad input decides nothing. */
	if (code == 0 && evt_saga_decide(r->saga, now, emit_line, r, &err) < 0) {
		if (errno != EPIPE)
			fprintf(stderr, "%s: %s\n", evt_prog, err.code ? err.msg :
			    strerror(errno));
		code = err.code ? err.code : EX_IOERR;
	}
	if (code == 0 && evt_out_flush(&err, &closed) < 0) {
		if (!closed)
			fprintf(stderr, "%s: %s\n", evt_prog, err.msg);
		code = EX_IOERR;
	}
	return code;
}

/* A stored event: a fact, whatever it holds. One the rules cannot use is
 * set aside with a warning, never a reason to stop. */
static int
fold_stored(void *arg, long long seq, const char *line, size_t len)
{
	struct run *r = arg;
	struct evt_err err;
	int rc;

	r->in++;
	r->last_seq = seq;
	if (evt_event_parse_stored(&r->ev, line, len, &err) < 0) {
		evt_warn("%s: seq %lld: %s: set aside", evt_log_path(r->log),
		    seq, err.msg);
		return 0;
	}
	/* A stored event has its id: fold never refuses it. */
	if ((rc = evt_saga_fold(r->saga, &r->ev, r->now, &err)) < 0)
		rc = EVT_SAGA_ASIDE;
	if (rc != EVT_SAGA_TAKEN) {
		char at[512];
		snprintf(at, sizeof(at), "%s: seq %lld", evt_log_path(r->log),
		    seq);
		warn_folded(rc, at, &err);
	}
	return 0;
}

/*
 * Append the pending reactions in one transaction, and keep them in the
 * state (evt_saga_commit). When one of them, or another outcome of its
 * decision, is stored already (another instance decided meanwhile, or
 * long ago), nothing is written and r->lost is set. Returns 0, or -1
 * with r->err (r->failed set).
 */
static int
flush(struct run *r)
{
	const char *p = r->pending.p, *end = p + r->pending.len;
	struct evt_err *err = &r->err;
	long long i = 0;

	if (r->npending == 0)
		return 0;
	if (evt_log_begin(r->log, err) < 0) {
		/* Other writers busy past the wait, or a connection lost:
		 * worth another try, never a reason to stop. */
		if (err->code == EX_TEMPFAIL) {
			r->lost = 1;
			return 0;
		}
		goto fail;
	}
	for (; p < end; i++) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		int rc;

		if (evt_event_parse(&r->ev, p, (size_t)(nl - p), 0, err) < 0 ||
		    (rc = evt_log_append(r->log, &r->ev, NULL, r->now, NULL,
		    err)) < 0) {
			evt_log_rollback(r->log);
			/* A conflict: an expectation another writer voided,
			 * or the id stored already with another outcome. */
			if (err->code == EX_TEMPFAIL) {
				if (err->taken)
					evt_saga_stored(r->saga, r->ids.p + i *
					    (EVT_UUID_LEN + 1));
				r->lost = 1;
				return 0;
			}
			goto fail;
		}
		if (rc == EVT_APPEND_DUPLICATE) {
			evt_log_rollback(r->log);
			evt_saga_stored(r->saga, r->ids.p + i * (EVT_UUID_LEN + 1));
			r->lost = 1;
			return 0;
		}
		p = nl + 1;
	}
	if (evt_log_commit(r->log, err) < 0) {
		/* Whether it was stored or not, the events read next say. */
		if (err->code == EX_TEMPFAIL) {
			r->lost = 1;
			return 0;
		}
		goto fail;
	}
	evt_saga_commit(r->saga);
	r->appended += r->npending;
	r->npending = 0;
	evt_buf_reset(&r->pending);
	evt_buf_reset(&r->ids);
	return 0;
fail:
	r->failed = 1;
	return -1;
}

static int
collect(void *arg, const char *id, const char *line, size_t len)
{
	struct run *r = arg;

	evt_buf_add(&r->pending, line, len);
	evt_buf_addc(&r->pending, '\n');
	evt_buf_add(&r->ids, id, EVT_UUID_LEN + 1);
	if (++r->npending >= CHUNK_EVENTS || r->pending.len >= CHUNK_BYTES) {
		if (flush(r) < 0 || r->lost)
			return -1;
	}
	return 0;
}

/* Wait before the next try of a round that lost tries races in a row:
 * at once the first time, then longer, up to BACKOFF_MAX_MS, with
 * jitter so that two racing instances fall apart. */
static void
backoff(int tries)
{
	long ms;
	struct timespec ts;

	if (tries <= 1)
		return;
	ms = tries > 8 ? BACKOFF_MAX_MS : 5L << (tries - 1);
	if (ms > BACKOFF_MAX_MS)
		ms = BACKOFF_MAX_MS;
	ms = ms / 2 + random() % (ms / 2 + 1);
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000L;
	nanosleep(&ts, NULL);
}

/* After a round: give back what it took, so that memory follows the
 * open sagas. */
static void
shrink(struct run *r, long long decided)
{
	if (r->pending.cap > (1u << 20)) {
		evt_buf_free(&r->pending);
		evt_buf_free(&r->ids);
	}
	if (decided >= 4096)
		malloc_trim(0);
}

/*
 * The service: fold the log, decide, append in chunks; with follow, wait
 * for more (or for the next deadline) and go on. A round whose append
 * finds one of its decisions stored already, or a stock stream moved,
 * lost a race with another writer: what it had not stored is taken back,
 * only what is new in the log is folded, and the round is taken again,
 * at once and then with back-off, for as long as it takes: other writers
 * being busy is never a reason to stop.
 */
static int
run_log(struct run *r, const char *spec, int follow)
{
	struct evt_follow *fw = NULL;
	struct evt_read rd;
	struct evt_err err;
	int tries = 0, code = 0, quick = 0;

	if ((r->log = evt_log_open(spec, 0, &err)) == NULL)
		evt_die_err(&err);
	if (follow && (fw = evt_follow_open(r->log, &err)) == NULL)
		goto fail;
	srandom((unsigned)getpid());
	evt_saga_journal(r->saga, 1);
	memset(&rd, 0, sizeof(rd));
	for (;;) {
		int64_t dl;
		long long before = r->appended;

		if (evt_clock_now(&r->now, &err) < 0)
			goto fail;
		long long was = rd.after;
		r->last_seq = rd.after;
		if (evt_log_read(r->log, &rd, fold_stored, r, &err) < 0) {
			/* A server away for a while (PostgreSQL): a follower
			 * waits for it, going on after what it folded. */
			if (!follow || (err.code != EX_TEMPFAIL &&
			    err.code != EX_UNAVAILABLE))
				goto fail;
			evt_warn("%s; trying again", err.msg);
			rd.after = r->last_seq;
			backoff(++tries);
			if (evt_follow_stopping(fw))
				break;
			continue;
		}
		/* A wake that found nothing may have come from a commit's
		 * write before the commit could be read (a SQLite WAL frame
		 * is written before its index is): look again soon, then
		 * less and less often. */
		quick = rd.scanned > was ? 0 : quick == 0 ? 10 :
		    quick < RECHECK_MS ? 2 * quick : RECHECK_MS;
		rd.after = rd.scanned;
		r->lost = 0;
		if (evt_saga_decide(r->saga, r->now, collect, r, &err) < 0 &&
		    !r->lost) {
			if (r->failed)
				err = r->err;
			goto fail;
		}
		if (!r->lost && flush(r) < 0) {
			err = r->err;
			goto fail;
		}
		if (r->lost) {
			evt_saga_undo(r->saga);
			r->npending = 0;
			evt_buf_reset(&r->pending);
			evt_buf_reset(&r->ids);
			backoff(++tries);
			if (fw && evt_follow_stopping(fw))
				break;
			continue;
		}
		tries = 0;
		shrink(r, r->appended - before);
		if (!follow)
			break;
		/* Wake for new events, or when the next deadline falls due. */
		int wait = quick && quick < RECHECK_MS ? quick : RECHECK_MS;
		if ((dl = evt_saga_next_deadline(r->saga)) != INT64_MAX) {
			int64_t left = dl - r->now;
			if (left < wait)
				wait = left > 0 ? (int)left : 0;
		}
		int w = evt_follow_wait(fw, wait, &err);
		if (w < 0)
			goto fail;
		if (w == 0)
			break;
	}
	r->out = r->appended;
out:
	evt_follow_close(fw);
	evt_log_close(r->log);
	return code;
fail:
	fprintf(stderr, "%s: %s\n", evt_prog, err.msg);
	code = err.code ? err.code : EX_IOERR;
	goto out;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "decline-over", required_argument, NULL, 'D' },
		{ "fail-rate", required_argument, NULL, 'F' },
		{ "follow", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ "log", required_argument, NULL, 'l' },
		{ "member", required_argument, NULL, 'M' },
		{ "only-new", no_argument, NULL, 'O' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "reject", required_argument, NULL, 'R' },
		{ "seed", required_argument, NULL, 'S' },
		{ "timeout", required_argument, NULL, 'T' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	struct evt_saga_opts so;
	struct evt_err err;
	struct run r;
	const char *logspec = NULL, *reject = NULL;
	int c, has_seed = 0, follow = 0, code;
	char *end;

	memset(&so, 0, sizeof(so));
	memset(&r, 0, sizeof(r));
	evt_cli_init("saga-step");
	while ((c = getopt_long(argc, argv, "fhl:qv", opts, NULL)) != -1) {
		switch (c) {
		case 'D':
			if (!evt_saga_amount_ok(optarg))
				evt_usage_error(USAGE, "--decline-over: not an "
				    "amount (a number >= 0, as in JSON): %s", optarg);
			so.decline_over = optarg;
			break;
		case 'f': follow = 1; break;
		case 'F':
			errno = 0;
			so.fail_rate = strtod(optarg, &end);
			if (end == optarg || *end || errno || !(so.fail_rate >= 0 &&
			    so.fail_rate <= 1))
				evt_usage_error(USAGE, "--fail-rate: not a "
				    "number from 0 to 1: %s", optarg);
			break;
		case 'h': help();
		case 'l': logspec = evt_cli_log_arg(optarg); break;
		case 'M': {
			unsigned long long mi, mn;
			int k = -1;
			if (sscanf(optarg, "%llu/%llu%n", &mi, &mn, &k) != 2 ||
			    k < 0 || optarg[k] != '\0' || !isdigit((unsigned char)
			    optarg[0]) || mn < 1 || mn > 1000000 || mi >= mn)
				evt_usage_error(USAGE, "--member: not I/N with 0 <= "
				    "I < N: %s", optarg);
			so.member_i = (unsigned)mi;
			so.member_n = (unsigned)mn;
			break;
		}
		case 'O': r.only_new = 1; break;
		case 'q': evt_quiet = 1; break;
		case 'R': reject = optarg; break;
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
	if (follow && !logspec)
		evt_usage_error(USAGE, "--follow needs -l LOG");
	if (logspec && (optind < argc || r.only_new || reject))
		evt_usage_error(USAGE, "-l reads the log: no input files, no "
		    "--only-new, no --reject");
	r.saga = evt_saga_new(&so);
	if (reject && (r.reject = evt_reject_open(reject, &err)) == NULL)
		evt_die_err(&err);
	if (logspec)
		code = run_log(&r, logspec, follow);
	else
		code = run_filter(&r, argv + optind, argc - optind);
	long long nrej = evt_reject_count(r.reject);
	if (evt_reject_close(r.reject, &err) < 0 && code == 0) {
		fprintf(stderr, "%s: %s\n", evt_prog, err.msg);
		code = err.code;
	}
	if (code == 0 && nrej > 0)
		fprintf(stderr, "%s: %lld lines rejected to %s\n", evt_prog,
		    nrej, reject);
	if (code == 0)
		evt_note("%lld events in, %lld reactions, %zu sagas open, "
		    "%lld orders rejected, %lld events set aside", r.in, r.out,
		    evt_saga_open(r.saga), evt_saga_count(r.saga,
		    EVT_SAGA_REJECTED), evt_saga_count(r.saga, EVT_SAGA_ASIDE));
	evt_saga_free(r.saga);
	evt_event_free(&r.ev);
	evt_buf_free(&r.pending);
	evt_buf_free(&r.ids);
	if (fclose(stdout) != 0 && code == 0) {
		if (errno != EPIPE)
			fprintf(stderr, "%s: stdout: %s\n", evt_prog, strerror(errno));
		code = EX_IOERR;
	}
	return code;
}
