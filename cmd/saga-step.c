/*
 * saga-step - a saga participant (or all of them): as a filter, events in,
 * the same events out, then the decisions they call for; or as a service
 * on a log (-l), deciding and appending, and with --follow, staying on.
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
#include "follow.h"
#include "lines.h"
#include "log.h"
#include "saga.h"

#define USAGE "saga-step SERVICE [-fqv] [-l LOG] [--decline-over AMOUNT] " \
	"[--fail-rate P --seed N] [--only-new] [--timeout DURATION] [FILE ...]"

/* How often a service on a log looks again when nothing wakes it. */
#define RECHECK_MS 1000
/* How often a round that lost a race to another writer is taken again. */
#define MAX_TRIES 10

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
	    "-l the service reads the log and appends its reactions to it.\n\n"
	    "      --decline-over AMOUNT  decline payments over AMOUNT\n"
	    "      --fail-rate P          decline a share P (0..1) of payments,\n"
	    "      --seed N               drawn per transaction from seed N\n"
	    "  -f, --follow               with -l: stay on, deciding as events\n"
	    "                             are appended, until SIGINT or SIGTERM\n"
	    "  -l, --log LOG              read LOG whole, append the reactions\n"
	    "      --only-new             write the reactions only\n"
	    "      --timeout DURATION     cancel a transaction with no outcome\n"
	    "                             DURATION (15m, 2h) after its creation\n"
	    "  -q, --quiet                no warnings\n"
	    "  -v, --verbose              a summary on stderr\n"
	    "  -h, --help                 this help\n"
	    "      --version              the version\n\n"
	    "Exit: 0 ok, 64 usage, 65 bad input, 66 no such input or log,\n"
	    "74 I/O, 75 lost the race to another writer too often.\n"
	    "See saga-step(1).\n", USAGE);
	exit(0);
}

struct run {
	struct evt_saga *saga;
	int only_new;
	long long in, out;
	struct evt_event ev;
	/* -l: the reactions of a round, back to back, one per line. */
	struct evt_buf pending;
	long long npending;
	long long bad_seq;	/* -l: the stored event that failed, and why */
	struct evt_err bad;
};

static int
emit_line(void *arg, const char *id, const char *line, size_t len)
{
	struct run *r = arg;

	(void)id;
	r->out++;
	return evt_out_line(line, len);
}

static int
collect(void *arg, const char *id, const char *line, size_t len)
{
	struct run *r = arg;

	(void)id;
	evt_buf_add(&r->pending, line, len);
	evt_buf_addc(&r->pending, '\n');
	r->npending++;
	return 0;
}

/* A write to stdout failed: say so, unless the reader went away. */
static int
stdout_error(void)
{
	if (errno != EPIPE)
		fprintf(stderr, "%s: stdout: %s\n", evt_prog, strerror(errno));
	return EX_IOERR;
}

/*
 * The filter: pass each event through, fold it, and decide at the end of
 * all the input. Returns the exit code.
 */
static int
run_filter(struct run *r, char **names, int nin)
{
	int *fds = evt_open_inputs(names, nin), code = 0, closed = 0;
	struct evt_err err;
	int64_t now;

	if (evt_clock_now(&now, &err) < 0)
		evt_die_err(&err);
	for (int i = 0; i < (nin ? nin : 1) && code == 0; i++) {
		const char *where = nin ? names[i] : "stdin";
		struct evt_lines in;
		const char *line;
		size_t len;
		int rc;

		evt_lines_init(&in, fds[i]);
		while (code == 0 && (rc = evt_lines_next(&in, &line, &len,
		    &err)) != 0) {
			if (rc > 0 && strspn(line, " \t\r") >= len)
				continue;
			if (rc < 0 || evt_event_parse(&r->ev, line, len, 0, &err) < 0 ||
			    evt_saga_fold(r->saga, &r->ev, now, &err) < 0) {
				fprintf(stderr, "%s: %s:%lld: %s\n", evt_prog,
				    where, in.lineno, err.msg);
				code = err.code;
				break;
			}
			r->in++;
			if (!r->only_new && evt_out_line(line, len) < 0)
				code = stdout_error();
			/* Keep a slow pipeline moving: what passed through
			 * goes out when the input pauses. */
			else if (!evt_lines_ready(&in) && evt_out_flush(&err,
			    &closed) < 0)
				code = closed ? EX_IOERR : stdout_error();
		}
		evt_lines_free(&in);
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

static int
fold_stored(void *arg, long long seq, const char *line, size_t len)
{
	struct run *r = arg;

	if (evt_event_parse_stored(&r->ev, line, len, &r->bad) < 0 ||
	    evt_saga_fold(r->saga, &r->ev, r->ev.time_ms, &r->bad) < 0) {
		r->bad_seq = seq;
		return -1;
	}
	r->in++;
	return 0;
}

/*
 * Append the round's reactions in one transaction. Returns 0, 1 when one
 * of them, or another outcome of its decision, is stored already (another
 * instance decided meanwhile: the round is void and nothing was written),
 * or -1 with err.
 */
static int
append_round(struct run *r, struct evt_log *log, int64_t now,
    struct evt_err *err)
{
	const char *p = r->pending.p, *end = p + r->pending.len;

	if (evt_log_begin(log, err) < 0)
		return -1;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		int rc;

		if (evt_event_parse(&r->ev, p, (size_t)(nl - p), 0, err) < 0 ||
		    (rc = evt_log_append(log, &r->ev, NULL, now, NULL, err)) < 0) {
			evt_log_rollback(log);
			/* Another outcome of one of its decisions is stored. */
			return err->code == EX_TEMPFAIL ? 1 : -1;
		}
		if (rc == EVT_APPEND_DUPLICATE) {
			evt_log_rollback(log);
			return 1;
		}
		p = nl + 1;
	}
	return evt_log_commit(log, err);
}

/*
 * The service: fold the whole log, decide, append; with follow, wait for
 * more (or for the next deadline) and go on. A round that finds one of its
 * decisions already stored lost a race with another instance: its state
 * held a guess, so it is rebuilt from the log and the round taken again.
 */
static int
run_log(struct run *r, const char *spec, int follow,
    const struct evt_saga_opts *so)
{
	struct evt_follow *fw = NULL;
	struct evt_read rd;
	struct evt_err err;
	struct evt_log *log;
	long long appended = 0;
	int tries = 0, code = 0;

	if ((log = evt_log_open(spec, 0, &err)) == NULL)
		evt_die_err(&err);
	if (follow && (fw = evt_follow_open(log, &err)) == NULL)
		goto fail;
	memset(&rd, 0, sizeof(rd));
	for (;;) {
		int64_t now, dl;

		if (evt_log_read(log, &rd, fold_stored, r, &err) < 0) {
			if (r->bad_seq) {
				fprintf(stderr, "%s: %s: seq %lld: %s\n", evt_prog,
				    evt_log_path(log), r->bad_seq, r->bad.msg);
				code = r->bad.code;
				goto out;
			}
			goto fail;
		}
		rd.after = rd.scanned;
		if (evt_clock_now(&now, &err) < 0)
			goto fail;
		evt_buf_reset(&r->pending);
		r->npending = 0;
		if (evt_saga_decide(r->saga, now, collect, r, &err) < 0)
			goto fail;
		if (r->npending > 0) {
			int rc = append_round(r, log, now, &err);
			if (rc < 0)
				goto fail;
			if (rc == 1) {
				if (++tries > MAX_TRIES) {
					fprintf(stderr, "%s: %s: lost the race to "
					    "another writer %d times\n", evt_prog,
					    evt_log_path(log), MAX_TRIES);
					code = EX_TEMPFAIL;
					goto out;
				}
				evt_saga_free(r->saga);
				r->saga = evt_saga_new(so);
				rd.after = 0;
				continue;
			}
			appended += r->npending;
		}
		tries = 0;
		if (!follow)
			break;
		/* Wake for new events, or when the next deadline falls due. */
		int wait = RECHECK_MS;
		if ((dl = evt_saga_next_deadline(r->saga)) != INT64_MAX) {
			int64_t left = dl - now;
			if (left < wait)
				wait = left > 0 ? (int)left : 0;
		}
		int w = evt_follow_wait(fw, wait, &err);
		if (w < 0)
			goto fail;
		if (w == 0)
			break;
	}
	r->out = appended;
out:
	evt_follow_close(fw);
	evt_log_close(log);
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
	const char *logspec = NULL;
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
		case 'l': logspec = optarg; break;
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
	if (follow && !logspec)
		evt_usage_error(USAGE, "--follow needs -l LOG");
	if (logspec && (optind < argc || r.only_new))
		evt_usage_error(USAGE, "-l reads the log: no input files, no "
		    "--only-new");
	r.saga = evt_saga_new(&so);
	if (logspec)
		code = run_log(&r, logspec, follow, &so);
	else
		code = run_filter(&r, argv + optind, argc - optind);
	if (code == 0)
		evt_note("%lld events in, %lld reactions, %zu sagas open",
		    r.in, r.out, evt_saga_open(r.saga));
	evt_saga_free(r.saga);
	evt_event_free(&r.ev);
	evt_buf_free(&r.pending);
	if (fclose(stdout) != 0 && code == 0) {
		if (errno != EPIPE)
			fprintf(stderr, "%s: stdout: %s\n", evt_prog, strerror(errno));
		code = EX_IOERR;
	}
	return code;
}
