/*
 * saga-orch - orchestrated sagas defined as data: as a filter, events in,
 * the orchestrator's events and commands out once the input ends; or as a
 * service on a log (-l), deciding and appending, and with --follow,
 * staying on, waking for new events and at the next due timer.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "clock.h"
#include "event.h"
#include "orch.h"
#include "reject.h"
#include "service.h"

#define USAGE "saga-orch -d FILE ... [-fqv] [--check] [-l LOG] " \
	"[--metrics FILE] [--only-new] [--reject FILE] [FILE ...]"

static void help(void) __attribute__((noreturn));

static void
help(void)
{
	printf("usage: %s\n\n"
	    "Run the sagas that the definitions (saga-orch(5)) describe: start\n"
	    "one for each trigger, send each step's command to its participant,\n"
	    "follow the replies, retry, time out and compensate. Every event\n"
	    "read is a fact; what is owed is decided once everything is read.\n"
	    "As a filter, input events pass through and the decisions follow\n"
	    "at the end of the input; with -l the service reads the log and\n"
	    "appends its decisions to it.\n\n"
	    "      --check            check the definitions, read no input\n"
	    "  -d, --definition FILE  a saga definition (repeatable)\n"
	    "  -f, --follow           with -l: stay on, deciding as events are\n"
	    "                         appended and as timers fall due, until\n"
	    "                         SIGINT or SIGTERM\n"
	    "  -l, --log LOG          read LOG whole, append the decisions\n"
	    "      --metrics FILE     with -l: keep a node_exporter textfile\n"
	    "                         of the service's metrics in FILE\n"
	    "      --only-new         write the decisions only\n"
	    "      --reject FILE      set input lines that are not events aside\n"
	    "                         in FILE and go on\n"
	    "  -q, --quiet            no warnings\n"
	    "  -v, --verbose          a summary on stderr\n"
	    "  -h, --help             this help\n"
	    "      --version          the version\n\n"
	    "Exit: 0 ok, 64 usage, 65 bad input or definition, 66 no such\n"
	    "input, definition or log, 73 cannot create the --metrics file,\n"
	    "74 I/O.\n"
	    "See saga-orch(1), saga-orch(5).\n", USAGE);
	exit(0);
}

struct run {
	struct evt_orch *o;
	int only_new;
	long long in, out;
	struct evt_event ev;
	struct evt_reject *reject;
};

/* An input event: bad input refused (-1), else as a stored one. */
static int
fold_input(void *st, const struct evt_event *ev, int64_t now,
    struct evt_err *err)
{
	return evt_orch_fold(st, ev, now, err);
}

/* What it could not use of an input event, at "NAME:LINE". */
static void
warn_input(int k, const char *at, const struct evt_err *why)
{
	(void)k;
	evt_warn("%s: %s", at, why->msg);
}

/* The service (service.h): the orchestrator as a decider. */
static int
fold_stored(void *st, const struct evt_event *ev, int64_t now,
    const char *log, long long seq)
{
	struct evt_err err;
	int rc;

	if ((rc = evt_orch_fold(st, ev, now, &err)) != EVT_SAGA_TAKEN)
		evt_warn("%s: seq %lld: %s", log, seq, err.msg);
	return rc < 0 ? EVT_SAGA_ASIDE : rc;
}

static int
decide(void *st, int64_t now, evt_saga_emit_fn emit, void *arg,
    struct evt_err *err)
{
	return evt_orch_decide(st, now, emit, arg, err);
}

static void journal(void *st, int on) { evt_orch_journal(st, on); }
static void commit(void *st) { evt_orch_commit(st); }
static void undo(void *st) { evt_orch_undo(st); }
static void stored(void *st, const char *id) { evt_orch_stored(st, id); }
static int64_t next_deadline(const void *st) { return evt_orch_next_deadline(st); }

/* The filter (no spec) or the service on the log spec; the exit code. */
static int
run(struct run *r, const char *spec, int follow, const char *metrics,
    char **names, int nin)
{
	struct evt_decider d = { r->o, fold_stored, decide, journal, commit,
	    undo, stored, next_deadline, evt_warn };
	struct evt_service_filter f = { &d, fold_input, warn_input, r->reject,
	    r->only_new };
	struct evt_service_metrics mx = { metrics, "saga-orch", "orch",
	    EVT_SERVICE_SAGAS_ORCHESTRATED, 0 };
	struct evt_service_stats stats = { 0, 0 };
	struct evt_err err;
	int code = 0;

	if (spec == NULL)
		code = evt_service_filter(&f, names, nin, &r->ev, &stats);
	else if (evt_service_run(&d, spec, follow, &mx, &stats, &err) < 0) {
		fprintf(stderr, "%s: %s\n", evt_prog, err.msg);
		code = err.code ? err.code : EX_IOERR;
	}
	r->in = stats.in;
	r->out = stats.appended;
	return code;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "check", no_argument, NULL, 'C' },
		{ "definition", required_argument, NULL, 'd' },
		{ "follow", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ "log", required_argument, NULL, 'l' },
		{ "metrics", required_argument, NULL, 'M' },
		{ "only-new", no_argument, NULL, 'O' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "reject", required_argument, NULL, 'R' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	struct evt_orch_counts n;
	struct evt_err err;
	struct run r;
	const char *logspec = NULL, *reject = NULL, *metrics = NULL;
	int c, follow = 0, check = 0, code, ndefs = 0;

	memset(&r, 0, sizeof(r));
	evt_cli_init("saga-orch");
	r.o = evt_orch_new();
	while ((c = getopt_long(argc, argv, "d:fhl:qv", opts, NULL)) != -1) {
		switch (c) {
		case 'C': check = 1; break;
		case 'd':
			if (evt_orch_load(r.o, optarg, &err) < 0) {
				fprintf(stderr, "%s: %s\n", evt_prog, err.msg);
				evt_orch_free(r.o);
				return err.code;
			}
			ndefs++;
			break;
		case 'f': follow = 1; break;
		case 'h': help();
		case 'l': logspec = evt_cli_log_arg(optarg); break;
		case 'M':
			if (*optarg == '\0')
				evt_usage_error(USAGE, "--metrics: empty file name");
			metrics = optarg;
			break;
		case 'O': r.only_new = 1; break;
		case 'q': evt_quiet = 1; break;
		case 'R': reject = optarg; break;
		case 'v': evt_verbose = 1; break;
		case 'V': evt_print_version();
		default: evt_usage_error(USAGE, NULL);
		}
	}
	if (ndefs == 0)
		evt_usage_error(USAGE, "which sagas? -d FILE names a definition");
	if (check) {
		if (optind < argc || logspec || follow)
			evt_usage_error(USAGE, "--check reads no input and no log");
		for (size_t i = 0; i < evt_orch_ndefs(r.o); i++) {
			const char *name, *hash, *file;
			long long v;
			evt_orch_def_info(r.o, i, &name, &v, &hash, &file);
			evt_note("%s: %s version %lld, %s", file, name, v, hash);
		}
		evt_orch_free(r.o);
		return 0;
	}
	if (follow && !logspec)
		evt_usage_error(USAGE, "--follow needs -l LOG");
	if (metrics && !logspec)
		evt_usage_error(USAGE, "--metrics needs -l LOG");
	if (logspec && (optind < argc || r.only_new || reject))
		evt_usage_error(USAGE, "-l reads the log: no input files, no "
		    "--only-new, no --reject");
	if (reject && (r.reject = evt_reject_open(reject, &err)) == NULL)
		evt_die_err(&err);
	code = run(&r, logspec, follow, metrics, argv + optind, argc - optind);
	long long nrej = evt_reject_count(r.reject);
	if (evt_reject_close(r.reject, &err) < 0 && code == 0) {
		fprintf(stderr, "%s: %s\n", evt_prog, err.msg);
		code = err.code;
	}
	if (code == 0 && nrej > 0)
		fprintf(stderr, "%s: %lld lines rejected to %s\n", evt_prog,
		    nrej, reject);
	evt_orch_counts(r.o, &n);
	if (code == 0)
		evt_note("%lld events in, %lld out, %zu sagas open, %lld started, "
		    "%lld completed, %lld failed (%lld stuck); replies that "
		    "changed nothing: %lld duplicate, %lld stale, %lld unknown",
		    r.in, r.out, n.open, n.started, n.completed, n.failed,
		    n.stuck, n.dup, n.stale, n.unknown);
	evt_orch_free(r.o);
	evt_event_free(&r.ev);
	if (fclose(stdout) != 0 && code == 0) {
		if (errno != EPIPE)
			fprintf(stderr, "%s: stdout: %s\n", evt_prog, strerror(errno));
		code = EX_IOERR;
	}
	return code;
}
