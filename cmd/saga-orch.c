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
#include "input.h"
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
	int only_new, closed;
	long long in, out;
	int64_t now;
	const char *where;
	struct evt_event ev;
	struct evt_reject *reject;
};

static int
emit_line(void *arg, const char *id, const char *line, size_t len)
{
	struct run *r = arg;

	(void)id;
	r->out++;
	return evt_out_line(line, len);
}

/* Fold one input event, warn about one it cannot use, pass it through. */
static int
fold_line(void *arg, struct evt_event *ev, const char *line, size_t len,
    long long lineno, struct evt_err *err)
{
	struct run *r = arg;
	int k;

	if ((k = evt_orch_fold(r->o, ev, r->now, err)) < 0)
		return -1;	/* bad input */
	if (k != EVT_SAGA_TAKEN)
		evt_warn("%s:%lld: %s", r->where, lineno, err->msg);
	r->in++;
	if (!r->only_new && evt_out_line(line, len) < 0) {
		r->closed = errno == EPIPE;
		return evt_err_set(err, EX_IOERR, "stdout: %s", strerror(errno));
	}
	return 0;
}

static int
flush_paused(void *arg, struct evt_err *err)
{
	struct run *r = arg;

	return evt_out_flush(err, &r->closed);
}

/* The filter: pass each event through, fold it, decide at the end of all
 * the input. Returns the exit code. */
static int
run_filter(struct run *r, char **names, int nin)
{
	int *fds = evt_open_inputs(names, nin), code = 0, closed = 0;
	struct evt_err err;

	if (evt_clock_now(&r->now, &err) < 0)
		evt_die_err(&err);
	for (int i = 0; i < (nin ? nin : 1) && code == 0; i++) {
		struct evt_input in = { nin ? names[i] : "stdin", 0, r->reject,
		    fold_line, flush_paused, r, 0 };

		r->where = in.where;
		if (evt_input_read(&in, fds[i], &r->ev, &err) < 0) {
			if (in.lineno)
				fprintf(stderr, "%s: %s:%lld: %s\n", evt_prog,
				    in.where, in.lineno, err.msg);
			else if (!r->closed)
				fprintf(stderr, "%s: %s\n", evt_prog, err.msg);
			code = err.code ? err.code : EX_IOERR;
		}
		if (fds[i] > 0)
			close(fds[i]);
	}
	free(fds);
	if (code == 0 && evt_orch_decide(r->o, r->now, emit_line, r, &err) < 0) {
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

static int
run_log(struct run *r, const char *spec, int follow, const char *metrics)
{
	struct evt_decider d = { r->o, fold_stored, decide, journal, commit,
	    undo, stored, next_deadline, evt_warn };
	struct evt_service_metrics mx = { metrics, "saga-orch", "orch",
	    EVT_SERVICE_SAGAS_ORCHESTRATED, 0 };
	struct evt_service_stats stats = { 0, 0 };
	struct evt_err err;
	int code = 0;

	if (evt_service_run(&d, spec, follow, &mx, &stats, &err) < 0) {
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
	if (logspec)
		code = run_log(&r, logspec, follow, metrics);
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
