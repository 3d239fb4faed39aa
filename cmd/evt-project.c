/*
 * evt-project - fold events into a read model: print its rows sorted by
 * key, or keep it in SQLite tables that the next run brings up to date.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "cli.h"
#include "clock.h"
#include "event.h"
#include "follow.h"
#include "input.h"
#include "lines.h"
#include "log.h"
#include "metrics.h"
#include "project.h"

#define USAGE "evt-project [-qv] [-l LOG] [-o ndjson|json|table|csv|prom] " \
	"[--until SEQ | --at TIME] [--into DB [--follow]] [--metrics FILE] " \
	"(NAME | --spec FILE) [FILE ...]"

/* With --into, commit at least this often, so that memory stays bounded
 * and a crash loses little work. */
#define COMMIT_EVERY 65536
#define FOLLOW_RECHECK_MS 1000

static atomic_int interrupted;

static void
on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

static void help(void) __attribute__((noreturn));

static void
help(void)
{
	printf("usage: %s\n\n"
	    "Fold events (standard input, the FILEs, or the log with -l) into\n"
	    "the read model NAME and print one row per entity, sorted by key:\n"
	    "  inventory     store_id, sku: on_hand, reserved, available\n"
	    "  transactions  transaction_id: store_id, status, total, currency,\n"
	    "                created_at, updated_at, reason\n"
	    "  sales         store_id, day, currency: completed, cancelled, revenue,\n"
	    "                refunded\n"
	    "  sagas         correlationid: transaction_id, state, events,\n"
	    "                started_at, last_at, duration_ms, compensated\n"
	    "  streams       subject: category, version, last_seq, last_type,\n"
	    "                last_at\n"
	    "  orchestrations\n"
	    "                last_at, key: saga, version, state, step, attempt,\n"
	    "                due, started_at, correlationid, events (the sagas\n"
	    "                of saga-orch, stalest first)\n\n"
	    "  -l, --log LOG        read the log (default: standard input)\n"
	    "  -o, --output FORMAT  ndjson (default), json, table, csv, or prom\n"
	    "                       (numeric columns as Prometheus gauges\n"
	    "                       labelled by the key: a textfile for\n"
	    "                       node_exporter)\n"
	    "      --until SEQ      the state after event SEQ\n"
	    "      --at TIME        the state at TIME (events at or before it)\n"
	    "      --spec FILE      a projection described in JSON (see the man page)\n"
	    "      --into DB        keep the read model in SQLite tables in DB and\n"
	    "                       fold only what the last run did not; no rows\n"
	    "                       are printed\n"
	    "  -f, --follow         with --into: keep folding new events until\n"
	    "                       interrupted\n"
	    "      --metrics FILE   with -l: keep a node_exporter textfile of\n"
	    "                       the events folded and the lag in FILE\n"
	    "  -q, --quiet          no warnings\n"
	    "  -v, --verbose        a summary on stderr\n"
	    "  -h, --help           this help\n"
	    "      --version        the version\n\n"
	    "Exit: 0 ok, 64 usage, 65 bad input, 66 no such input, 73 cannot\n"
	    "create the --metrics file, 74 I/O.\n"
	    "See evt-project(1).\n", USAGE);
	exit(0);
}

struct run {
	struct evt_proj *p;
	struct evt_store *store;
	long long until;	/* 0: none */
	int64_t at;
	int has_at;
	long long after;	/* --into: the checkpoint; older events skipped */
	long long last;		/* seq of the last event folded */
	long long folded, pending;
	struct evt_event ev;
	const char *where;
	struct evt_err err;
	long long badline;	/* 0: the error is not about one line */
	struct evt_metrics_follower *mx;	/* --metrics, or NULL */
	struct evt_log *log;
};

static int
commit(struct run *r)
{
	char now[EVT_TIME_LEN + 1];
	int64_t ms;

	if (r->store == NULL || r->pending == 0)
		return 0;
	if (evt_clock_now(&ms, &r->err) < 0)
		return -1;
	evt_time_format(ms, now);
	if (evt_store_commit(r->store, evt_proj_name(r->p), r->last, r->pending,
	    now, &r->err) < 0)
		return -1;
	r->pending = 0;
	return 0;
}

/* Fold one parsed event, if the options let it in. */
static int
take(struct run *r, long long lineno)
{
	const struct evt_event *ev = &r->ev;
	int has_seq = ev->slot[EVT_F_SEQ] >= 0;

	if ((r->until || r->store) && !has_seq) {
		r->badline = lineno;
		return evt_err_set(&r->err, EX_DATAERR, "no \"seq\": %s needs "
		    "stored events (from the log, or evt-replay)", r->store ?
		    "--into" : "--until");
	}
	if (r->until && ev->seq > r->until)
		return 0;
	if (r->has_at && (ev->slot[EVT_F_TIME] < 0 || ev->time_ms > r->at))
		return 0;
	if (r->store && ev->seq <= r->after)
		return 0;	/* folded by an earlier run */
	if (evt_proj_fold(r->p, ev, &r->err) < 0) {
		if (r->err.code == EX_DATAERR)
			r->badline = lineno;
		return -1;
	}
	if (has_seq && ev->seq > r->last)
		r->last = ev->seq;
	r->folded++;
	r->pending++;
	if (r->pending >= COMMIT_EVERY)
		return commit(r);
	return 0;
}

static int
from_log(void *arg, long long seq, const char *line, size_t len)
{
	struct run *r = arg;

	if (interrupted)
		return 1;	/* stop here: what was folded is committed */
	if (evt_event_parse_stored(&r->ev, line, len, &r->err) < 0) {
		evt_err_prefix(&r->err, "seq %lld", seq);
		return -1;
	}
	if (take(r, 0) < 0)
		return -1;
	if (r->mx) {
		struct evt_err err;
		evt_metrics_follower_event(r->mx, r->ev.type.p, r->ev.type.n,
		    r->ev.slot[EVT_F_TIME] >= 0 ? r->ev.time_ms : -1);
		/* A long first fold writes as it goes. */
		if ((r->folded & 4095) == 0 && evt_metrics_follower_tick(r->mx,
		    r->log, 0, seq, 0, &err) < 0)
			evt_warn("--metrics: %s", err.msg);
	}
	return 0;
}

static int
read_log(struct run *r, const char *spec, int follow, const char *metrics)
{
	struct evt_filter f;
	struct evt_read rd;
	struct evt_log *log;
	struct evt_follow *fw = NULL;
	int rc = -1;

	memset(&f, 0, sizeof(f));
	memset(&rd, 0, sizeof(rd));
	f.to = r->until;
	rd.filter = &f;
	rd.after = r->after;
	if ((log = evt_log_open(spec, 0, &r->err)) == NULL)
		return -1;
	r->where = evt_log_path(log);
	r->log = log;
	if (follow && (fw = evt_follow_open(log, &r->err)) == NULL)
		goto out;
	if (metrics) {
		/* Written now, so that a FILE that cannot be written is an
		 * error before any work; and once more at exit. */
		struct evt_metrics *m = evt_metrics_new(metrics, "evt-project");
		evt_metrics_label(m, "projection", evt_proj_name(r->p));
		r->mx = evt_metrics_follower(m);
		evt_metrics_at_exit(m);
		if (evt_metrics_follower_tick(r->mx, log, 1, rd.after, 1,
		    &r->err) < 0) {
			evt_err_prefix(&r->err, "--metrics");
			goto out;
		}
	}
	for (;;) {
		if (evt_log_read(log, &rd, from_log, r, &r->err) < 0 || commit(r) < 0)
			goto out;
		rd.after = rd.scanned;
		if (r->mx) {
			struct evt_err err;
			if (evt_metrics_follower_tick(r->mx, log, 1, rd.after, 0,
			    &err) < 0)
				evt_warn("--metrics: %s", err.msg);
		}
		if (!follow)
			break;
		int w = evt_follow_wait(fw, FOLLOW_RECHECK_MS, &r->err);
		if (w < 0)
			goto out;
		if (w == 0)
			break;
	}
	rc = 0;
out:
	/* The last word, written at exit: where the fold ends. */
	if (r->mx) {
		struct evt_err err;
		evt_metrics_follower_tick(r->mx, log, 1, rd.after, 1, &err);
		r->mx = NULL;
	}
	r->log = NULL;
	evt_follow_close(fw);
	evt_log_close(log);
	return rc;
}

static int
take_line(void *arg, struct evt_event *ev, const char *line, size_t len,
    long long lineno, struct evt_err *err)
{
	struct run *r = arg;

	(void)ev; (void)line; (void)len; (void)err;
	return take(r, lineno) < 0 ? -1 : 0;
}

/* A pause in the input is a good time to commit. */
static int
paused(void *arg, struct evt_err *err)
{
	(void)err;
	return commit(arg);
}

static int
read_fd(struct run *r, int fd, const char *where)
{
	struct evt_input in = { where, 1, NULL, take_line, paused, r, 0 };
	int rc;

	r->where = where;
	rc = evt_input_read(&in, fd, &r->ev, &r->err);
	if (rc < 0 && r->err.code == EX_DATAERR)
		r->badline = in.lineno;
	if (rc < 0 && r->err.code == EX_TEMPFAIL && interrupted)
		rc = 0;		/* stopped by a signal: keep what was folded */
	if (rc == 0)
		rc = commit(r);
	return rc;
}

/* An amount the store kept as exact text only (its integer column NULL,
 * which SQL's sum() skips): worth a warning. */
static void
warn_inexact(const struct run *r, const char *into)
{
	const char *w = r->store ? evt_store_warning(r->store) : NULL;

	if (w)
		evt_warn("%s: %s", into, w);
}

static int
term_width(void)
{
	struct winsize ws;
	const char *c = getenv("COLUMNS");

	if (isatty(STDOUT_FILENO) && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 &&
	    ws.ws_col > 0)
		return ws.ws_col;
	if (c && atoi(c) > 0)
		return atoi(c);
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "at", required_argument, NULL, 'A' },
		{ "follow", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ "into", required_argument, NULL, 'I' },
		{ "log", required_argument, NULL, 'l' },
		{ "metrics", required_argument, NULL, 'M' },
		{ "output", required_argument, NULL, 'o' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "spec", required_argument, NULL, 'S' },
		{ "until", required_argument, NULL, 'U' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	const char *logspec = NULL, *into = NULL, *specfile = NULL, *name = NULL;
	const char *metrics = NULL;
	struct evt_table **tables;
	struct sigaction sa;
	struct run r;
	size_t nt;
	int c, fmt = EVT_FMT_NDJSON, follow = 0, rc = 0, *fds = NULL;

	memset(&r, 0, sizeof(r));
	evt_cli_init("evt-project");
	while ((c = getopt_long(argc, argv, "fhl:o:qv", opts, NULL)) != -1) {
		switch (c) {
		case 'A':
			r.at = evt_opt_time("--at", optarg);
			r.has_at = 1;
			break;
		case 'f': follow = 1; break;
		case 'h': help();
		case 'I': into = optarg; break;
		case 'l': logspec = evt_cli_log_arg(optarg); break;
		case 'M':
			if (*optarg == '\0')
				evt_usage_error(USAGE, "--metrics: empty file name");
			metrics = optarg;
			break;
		case 'o':
			if ((fmt = evt_format_parse(optarg)) < 0)
				evt_usage_error(USAGE, "-o: not a format: %s "
				    "(ndjson, json, table, csv, prom)", optarg);
			break;
		case 'q': evt_quiet = 1; break;
		case 'S': specfile = optarg; break;
		case 'U': r.until = evt_opt_count("--until", optarg, 1); break;
		case 'v': evt_verbose = 1; break;
		case 'V': evt_print_version();
		default: evt_usage_error(USAGE, NULL);
		}
	}
	if (!specfile) {
		if (optind >= argc)
			evt_usage_error(USAGE, "which projection? %s",
			    evt_proj_names());
		name = argv[optind++];
	}
	if (r.until && r.has_at)
		evt_usage_error(USAGE, "--until and --at cannot go together");
	if (into && (r.until || r.has_at))
		evt_usage_error(USAGE, "--into keeps the current state: "
		    "--until and --at are for questions about the past");
	if (follow && !into)
		evt_usage_error(USAGE, "--follow needs --into");
	if (metrics && !logspec)
		evt_usage_error(USAGE, "--metrics needs -l LOG");
	if (logspec && optind < argc)
		evt_usage_error(USAGE, "-l and input files cannot go together");
	if ((r.p = evt_proj_new(name, specfile, &r.err)) == NULL) {
		if (r.err.code == EX_USAGE)
			evt_usage_error(USAGE, "%s", r.err.msg);
		evt_die_err(&r.err);
	}
	int nin = argc - optind;
	if (!logspec)
		fds = evt_open_inputs(argv + optind, nin);
	tables = evt_proj_tables(r.p, &nt);
	if (into) {
		if ((r.store = evt_store_open(into, tables, nt, &r.err)) == NULL ||
		    evt_store_checkpoint(r.store, evt_proj_name(r.p), &r.after,
		    &r.err) < 0)
			goto fail;
		r.last = r.after;
		/* A stop signal ends the reading; what was folded is kept. */
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_signal;
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
	}
	if (logspec)
		rc = read_log(&r, logspec, follow, metrics);
	else
		for (int i = 0; i < (nin ? nin : 1) && rc == 0; i++) {
			rc = read_fd(&r, fds[i], nin ? argv[optind + i] : "stdin");
			if (fds[i] > 0)
				close(fds[i]);
		}
	free(fds);
	fds = NULL;
	if (rc < 0)
		goto fail;
	if (into) {
		warn_inexact(&r, into);
		evt_note("%lld events folded into %s, up to seq %lld",
		    r.folded, into, r.last);
	}
	else if (evt_table_print(tables[0], (enum evt_format)fmt, term_width(),
	    stdout) < 0 || fflush(stdout) != 0) {
		if (errno != EPIPE)
			fprintf(stderr, "%s: stdout: %s\n", evt_prog, strerror(errno));
		rc = EX_IOERR;
	}
	evt_store_close(r.store);
	evt_proj_free(r.p);
	evt_event_free(&r.ev);
	if (fclose(stdout) != 0 && rc == 0) {
		if (errno != EPIPE)
			fprintf(stderr, "%s: stdout: %s\n", evt_prog, strerror(errno));
		rc = EX_IOERR;
	}
	return rc;
fail:
	/* Like a bad line for evt-append: what came before it is kept (the
	 * checks come before any change, so no event is half folded). */
	if (r.err.code == EX_DATAERR && r.store) {
		struct evt_err e = r.err;
		if (commit(&r) < 0)
			fprintf(stderr, "%s: %s\n", evt_prog, r.err.msg);
		r.err = e;
		warn_inexact(&r, into);
	}
	if (r.badline)
		fprintf(stderr, "%s: %s:%lld: %s\n", evt_prog, r.where, r.badline,
		    r.err.msg);
	else if (r.where && r.err.code == EX_DATAERR)
		fprintf(stderr, "%s: %s: %s\n", evt_prog, r.where, r.err.msg);
	else
		fprintf(stderr, "%s: %s\n", evt_prog, r.err.msg);
	rc = r.err.code;
	free(fds);
	evt_store_close(r.store);
	evt_proj_free(r.p);
	evt_event_free(&r.ev);
	return rc;
}
