/*
 * evt-trace - print each saga's causation tree: every event under the
 * event that caused it, with its offset and its wait, as text, JSON,
 * Graphviz or a Mermaid sequence diagram.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "cli.h"
#include "event.h"
#include "filter.h"
#include "hmap.h"
#include "input.h"
#include "log.h"
#include "reject.h"
#include "trace.h"

#define USAGE "evt-trace [-qv] [-l LOG] [-o text|json|dot|mermaid] " \
	"[-s SUBJECT] [--correlation ID] [--reject FILE] [--slow DURATION] " \
	"[--summary] [--window DURATION] [FILE ...]"

static void help(void) __attribute__((noreturn));

static void
help(void)
{
	printf("usage: %s\n\n"
	    "Print each saga's causation tree: every event under the event\n"
	    "that caused it, with its offset from the saga's start and its\n"
	    "wait since its cause. Events come from standard input, the FILEs,\n"
	    "or the log with -l.\n\n"
	    "  -l, --log LOG          read the sagas from the log\n"
	    "  -s, --subject S        the sagas that hold an event of stream S\n"
	    "      --correlation ID   the saga ID\n"
	    "  -o, --output FORMAT    text (default), json, dot or mermaid\n"
	    "      --slow DURATION    mark waits longer than DURATION (15s, 2m)\n"
	    "      --summary          one line per saga, not its tree\n"
	    "      --window DURATION  write a finished saga once the input is\n"
	    "                         DURATION past its last event (1h)\n"
	    "      --reject FILE      set bad lines aside in FILE and go on\n"
	    "  -q, --quiet            no warnings\n"
	    "  -v, --verbose          a summary on stderr\n"
	    "  -h, --help             this help\n"
	    "      --version          the version\n\n"
	    "Only the open sagas are held: memory follows them, not the input's\n"
	    "length. Exit: 0 ok, 64 usage, 65 bad input, 66 no such\n"
	    "input or log, 74 I/O. See evt-trace(1).\n", USAGE);
	exit(0);
}

struct run {
	struct evt_trace *t;
	struct evt_event ev;
	struct evt_err err;
	struct evt_reject *reject;
	const char *where;
	long long badline;
	struct evt_buf out;	/* what the trace wrote, not yet on stdout */
	int wfail;		/* writing stdout failed (errno in werrno) */
	int werrno;
	/* -s with -l: the correlation ids of the subjects' events */
	struct evt_hmap seen;
	struct evt_strv found;
};

/* Write out and empty it; 0, or -1 with errno (EPIPE: reader gone). */
static int
flush_out(struct evt_buf *out)
{
	if (out->len && fwrite(out->p, 1, out->len, stdout) != out->len)
		return -1;
	evt_buf_reset(out);
	return 0;
}

/* Write what the trace wrote once there is a good piece of it, so that a
 * reader that went away stops us; -1 (r->wfail) when stdout failed. */
static int
drain(struct run *r)
{
	if (r->out.len < 65536 || flush_out(&r->out) == 0)
		return 0;
	r->wfail = 1;
	r->werrno = errno;
	evt_err_set(&r->err, EX_IOERR, "stdout: %s", strerror(errno));
	return -1;
}

static int
from_log(void *arg, long long seq, const char *line, size_t len)
{
	struct run *r = arg;

	if (evt_trace_add_stored(r->t, line, len, &r->err) < 0) {
		evt_err_prefix(&r->err, "seq %lld", seq);
		r->err.code = EX_IOERR;	/* the log is not the user's input */
		return -1;
	}
	return drain(r);
}

/* The first pass of -s: which sagas hold an event of the subjects. */
static int
corrs_of(void *arg, long long seq, const char *line, size_t len)
{
	struct run *r = arg;
	const struct evt_str *c = &r->ev.corr;

	if (evt_event_parse_stored(&r->ev, line, len, &r->err) < 0) {
		evt_err_prefix(&r->err, "seq %lld", seq);
		r->err.code = EX_IOERR;
		return -1;
	}
	if (r->ev.slot[EVT_F_CORRELATIONID] < 0)
		c = &r->ev.id;
	if (!evt_hmap_get(&r->seen, c->p, c->n)) {
		char *s = malloc(c->n + 1);
		if (s == NULL)
			abort();
		memcpy(s, c->p, c->n);
		s[c->n] = '\0';
		evt_hmap_put(&r->seen, c->p, c->n, 1);
		evt_strv_add(&r->found, s);
	}
	return 0;
}

/*
 * Read the sagas from the log: those named by --correlation, and those
 * that hold an event of a -s subject (found by a first read through the
 * subject's index); every saga of the log when neither is given.
 */
static int
read_log(struct run *r, const char *spec, struct evt_filter *want)
{
	struct evt_filter f1, f2;
	struct evt_read rd;
	struct evt_log *log;
	int rc = -1;

	if ((log = evt_log_open(spec, 0, &r->err)) == NULL)
		return -1;
	r->where = evt_log_path(log);
	/* Two filters, not one changed: a backend may keep what it made of
	 * a filter for the next read with the same one (a follower's). */
	memset(&f1, 0, sizeof(f1));
	memset(&f2, 0, sizeof(f2));
	f2.corrs = want->corrs;
	if (want->subjects.n) {
		memset(&rd, 0, sizeof(rd));
		f1.subjects = want->subjects;
		rd.filter = &f1;
		if (evt_log_read(log, &rd, corrs_of, r, &r->err) < 0)
			goto out;
		for (size_t i = 0; i < want->corrs.n; i++)
			evt_strv_add(&r->found, evt_strdup(want->corrs.v[i]));
		f2.corrs = r->found;
		if (f2.corrs.n == 0) {
			rc = 0;		/* no such subject: no saga */
			goto out;
		}
	}
	memset(&rd, 0, sizeof(rd));
	rd.filter = &f2;
	if (evt_log_read(log, &rd, from_log, r, &r->err) < 0)
		goto out;
	rc = 0;
out:
	evt_log_close(log);
	return rc;
}

static int
take(void *arg, struct evt_event *ev, const char *line, size_t len,
    long long lineno, struct evt_err *err)
{
	struct run *r = arg;

	(void)line; (void)len; (void)lineno;
	if (evt_trace_add(r->t, ev, err) < 0)
		return -1;
	if (drain(r) < 0) {
		*err = r->err;
		return -1;
	}
	return 0;
}

/* The input pauses: write the sagas finished so far, so that a reader
 * of a live input sees them now, not at the next 64 kB. */
static int
paused(void *arg, struct evt_err *err)
{
	struct run *r = arg;

	if (flush_out(&r->out) == 0 && fflush(stdout) == 0)
		return 0;
	r->wfail = 1;
	r->werrno = errno;
	evt_err_set(err, EX_IOERR, "stdout: %s", strerror(errno));
	return -1;
}

static int
read_fd(struct run *r, int fd, const char *where)
{
	struct evt_input in = { where, 1, r->reject, take, paused, r, 0 };
	int rc;

	r->where = where;
	rc = evt_input_read(&in, fd, &r->ev, &r->err);
	r->badline = in.lineno;
	return rc;
}


int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "correlation", required_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{ "log", required_argument, NULL, 'l' },
		{ "output", required_argument, NULL, 'o' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "reject", required_argument, NULL, 'R' },
		{ "slow", required_argument, NULL, 'S' },
		{ "subject", required_argument, NULL, 's' },
		{ "summary", no_argument, NULL, 'M' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "version", no_argument, NULL, 'V' },
		{ "window", required_argument, NULL, 'W' },
		{ NULL, 0, NULL, 0 }
	};
	struct evt_trace_opts to;
	struct evt_filter want;
	struct run r;
	const char *logspec = NULL, *reject = NULL;
	int c, fmt = EVT_TRACE_TEXT, flags = 0, rc = 0, *fds = NULL;

	memset(&r, 0, sizeof(r));
	memset(&to, 0, sizeof(to));
	to.window_ms = EVT_TRACE_WINDOW_MS;
	memset(&want, 0, sizeof(want));
	evt_cli_init("evt-trace");
	while ((c = getopt_long(argc, argv, "hl:o:qs:v", opts, NULL)) != -1) {
		switch (c) {
		case 'C': evt_strv_add(&want.corrs, optarg); break;
		case 'h': help();
		case 'l': logspec = evt_cli_log_arg(optarg); break;
		case 'M': flags |= EVT_TRACE_SUMMARY; break;
		case 'o':
			if ((fmt = evt_trace_format_parse(optarg)) < 0)
				evt_usage_error(USAGE, "-o: not a format: %s "
				    "(text, json, dot, mermaid)", optarg);
			break;
		case 'q': evt_quiet = 1; break;
		case 'R': reject = optarg; break;
		case 's': evt_strv_add(&want.subjects, optarg); break;
		case 'S':
			to.slow_ms = evt_opt_duration("--slow", optarg);
			to.has_slow = 1;
			break;
		case 'v': evt_verbose = 1; break;
		case 'V': evt_print_version();
		case 'W': to.window_ms = evt_opt_duration("--window", optarg); break;
		default: evt_usage_error(USAGE, NULL);
		}
	}
	if (logspec && optind < argc)
		evt_usage_error(USAGE, "-l and input files cannot go together");
	if (logspec && reject)
		evt_usage_error(USAGE, "--reject is for input, not for the log's "
		    "stored events");
	if ((flags & EVT_TRACE_SUMMARY) && (fmt == EVT_TRACE_DOT ||
	    fmt == EVT_TRACE_MERMAID))
		evt_usage_error(USAGE, "--summary is text or json");
	if (fmt == EVT_TRACE_TEXT && isatty(STDOUT_FILENO)) {
		const char *nc = getenv("NO_COLOR");
		if (nc == NULL || *nc == '\0')
			flags |= EVT_TRACE_COLOUR;
	}
	to.fmt = (enum evt_trace_fmt)fmt;
	to.flags = flags;
	to.corrs = &want.corrs;
	to.subjects = &want.subjects;
	int nin = argc - optind;
	if (!logspec)
		fds = evt_open_inputs(argv + optind, nin);
	if (reject && (r.reject = evt_reject_open(reject, &r.err)) == NULL) {
		free(fds);
		evt_die_err(&r.err);
	}
	r.t = evt_trace_new(&to, &r.out);
	if (logspec)
		rc = read_log(&r, logspec, &want);
	else
		for (int i = 0; i < (nin ? nin : 1) && rc == 0; i++) {
			rc = read_fd(&r, fds[i], nin ? argv[optind + i] : "stdin");
			if (fds[i] > 0)
				close(fds[i]);
		}
	if (rc < 0 && r.wfail) {
		errno = r.werrno;	/* as a failed write at the end */
		goto wfail;
	}
	if (rc < 0)
		goto fail;

	evt_trace_end(r.t);
	size_t n = evt_trace_count(r.t);
	if (rc == 0 && flush_out(&r.out) < 0)
		rc = -1;
	if (rc == 0 && fflush(stdout) != 0)
		rc = -1;
wfail:
	if (rc < 0 || fclose(stdout) != 0) {
		/* A reader that went away is how a pipeline ends: quietly. */
		if (errno != EPIPE)
			fprintf(stderr, "%s: stdout: %s\n", evt_prog, strerror(errno));
		rc = EX_IOERR;
	}
	if (rc == 0)
		evt_note("%lld events, %zu sagas", evt_trace_events(r.t), n);
	if (r.reject) {
		long long nr = evt_reject_count(r.reject);
		if (evt_reject_close(r.reject, &r.err) < 0) {
			fprintf(stderr, "%s: %s\n", evt_prog, r.err.msg);
			rc = r.err.code;
		} else if (nr)
			fprintf(stderr, "%s: %lld line%s rejected to %s\n",
			    evt_prog, nr, nr == 1 ? "" : "s", reject);
		r.reject = NULL;
	}
	goto out;
fail:
	/* The sagas finished before the failure are whole: out with them. */
	if (r.t && evt_trace_count(r.t) > 0 && flush_out(&r.out) == 0)
		fflush(stdout);
	if (r.badline)
		fprintf(stderr, "%s: %s:%lld: %s\n", evt_prog, r.where, r.badline,
		    r.err.msg);
	else if (r.where && r.err.code == EX_DATAERR)
		fprintf(stderr, "%s: %s: %s\n", evt_prog, r.where, r.err.msg);
	else
		fprintf(stderr, "%s: %s\n", evt_prog, r.err.msg);
	rc = r.err.code;
	if (r.reject)
		evt_reject_close(r.reject, &r.err);
out:
	free(fds);
	evt_buf_free(&r.out);
	evt_trace_free(r.t);
	evt_event_free(&r.ev);
	evt_hmap_free(&r.seen);
	for (size_t i = 0; i < r.found.n; i++)
		free(r.found.v[i]);
	evt_strv_free(&r.found);
	evt_filter_free(&want);
	return rc;
}
