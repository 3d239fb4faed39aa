/*
 * evt-append - validate events from standard input (or files), give them
 * their positions and append them durably to the log.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "cli.h"
#include "clock.h"
#include "event.h"
#include "feed.h"
#include "hmap.h"
#include "log.h"
#include "reject.h"

#define USAGE "evt-append [-qv] [-l LOG] [--at SEQ] [--atomic] " \
	"[--checkpoint NAME] [--echo] [--expect V] [--no-sync] [--reject FILE] " \
	"[--source S] [FILE ...]"

/* A group is committed when it is this large, or as soon as the input
 * pauses, so a slow pipeline sees each event stored at once. Large groups
 * matter: each commit rewrites every index page its random ids touched
 * (8192 events a group: 53k events/s; 65536: 92k events/s on 1M). */
#define GROUP_EVENTS 65536
#define GROUP_BYTES (64u << 20)
static atomic_int interrupted;	/* lock-free: set in a handler that
					 * either thread may run */

/* The input being read (NULL when none), here so the signal handler
 * sees it too. */
static struct evt_feed *volatile feed;

/* The first signal is passed on to the other thread, so that whichever
 * of them waits (the reader for input, this one for the log's lock) is
 * interrupted. */
static void
on_signal(int sig)
{
	if (!interrupted) {
		interrupted = 1;
		evt_feed_forward(feed, sig);
	}
}

static void help(void) __attribute__((noreturn));

static void
help(void)
{
	printf("usage: %s\n\n"
	    "Append NDJSON events from standard input (or FILEs) to the log.\n\n"
	    "  -l, --log LOG      the log (default $EVT_LOG, else ./events.db)\n"
	    "      --at SEQ       with --checkpoint: move NAME to SEQ once all\n"
	    "                     the input is stored (it may be empty)\n"
	    "      --atomic       all input in one transaction: all or nothing\n"
	    "      --checkpoint NAME  move checkpoint NAME in the transactions\n"
	    "                     that store the input: past each stored event\n"
	    "                     passed through once the next one comes\n"
	    "      --echo         write each stored event to stdout\n"
	    "      --expect V     each stream's version before this input: N,\n"
	    "                     none, exists or any (implies --atomic)\n"
	    "      --no-sync      do not fsync on commit: faster, and a power\n"
	    "                     cut may lose the last commits\n"
	    "      --reject FILE  set bad lines aside in FILE and go on\n"
	    "      --source S     source of events that name none, a URI-reference\n"
	    "                     (default cli)\n"
	    "  -q, --quiet        no warnings\n"
	    "  -v, --verbose      a summary on stderr\n"
	    "  -h, --help         this help\n"
	    "      --version      the version\n\n"
	    "Exit: 0 ok, 64 usage, 65 bad input, 66 no such input, 74 I/O,\n"
	    "75 version conflict or interrupted. See evt-append(1).\n", USAGE);
	exit(0);
}

struct run {
	struct evt_log *log;
	struct evt_expect expect;	/* --expect */
	struct evt_hmap seen;		/* subjects seen, for --expect */
	const char *source;
	int atomic, echo;
	struct evt_reject *reject;
	const char *reject_path;
	struct evt_buf echoed;		/* echo lines of the open group */
	const char *ckpt;		/* --checkpoint */
	long long at;			/* --at, or -1 */
	long long ck_last;		/* seq of the last passed-through event */
	long long ck_want;		/* where the open group moves ckpt */
	long long stored, dups, rejected;
	long long group_events;		/* in the open transaction */
	size_t group_bytes;
	int intxn;
};

static void
finish(struct run *r, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4), noreturn));

/*
 * Commit the open group (or, when code says so, roll it back) and write its
 * echo lines; stdout only ever shows events that are stored.
 */
static int
commit(struct run *r, struct evt_err *err)
{
	int closed;

	if (!r->intxn)
		return 0;
	if (r->ckpt && r->ck_want > 0) {
		/* In the group's own transaction, and only forward: two
		 * consumers acknowledging out of order never move it back. */
		long long cur = 0;
		int rc = evt_log_checkpoint_get(r->log, r->ckpt, &cur, err);
		if (rc < 0 || ((rc == 1 || r->ck_want > cur) &&
		    evt_log_checkpoint_set(r->log, r->ckpt, r->ck_want, err) < 0)) {
			evt_log_rollback(r->log);
			r->intxn = 0;
			return -1;
		}
		r->ck_want = 0;
	}
	r->intxn = 0;
	if (evt_log_commit(r->log, err) < 0)
		return -1;
	r->stored += r->group_events;
	r->group_events = 0;
	r->group_bytes = 0;
	if (r->echo && r->echoed.len) {
		if (fwrite(r->echoed.p, 1, r->echoed.len, stdout) != r->echoed.len ||
		    evt_out_flush(err, &closed) < 0) {
			evt_buf_reset(&r->echoed);
			return evt_err_set(err, EX_IOERR, "stdout: %s",
			    strerror(errno));
		}
		evt_buf_reset(&r->echoed);
	}
	return 0;
}

/* Stop the input's reader; SIGINT and SIGTERM wait meanwhile, so that
 * the handler never sees a feed that is being freed. */
static void
stop_feed(void)
{
	sigset_t set, old;
	struct evt_feed *f = feed;

	if (f == NULL)
		return;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, &old);
	feed = NULL;
	evt_feed_stop(f);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

static void
cleanup(struct run *r)
{
	evt_log_ahead_end(r->log);	/* before the feed frees its events */
	stop_feed();
	evt_log_close(r->log);
	evt_hmap_free(&r->seen);
	evt_buf_free(&r->echoed);
	struct evt_err err;
	if (evt_reject_close(r->reject, &err) < 0)
		fprintf(stderr, "%s: %s\n", evt_prog, err.msg);
	r->reject = NULL;
}

static const char *
summary(struct run *r)
{
	static char s[160];

	int n = snprintf(s, sizeof(s), "%lld appended", r->stored);
	if (r->dups)
		snprintf(s + n, sizeof(s) - (size_t)n, " (%lld duplicate%s skipped)",
		    r->dups, r->dups == 1 ? "" : "s");
	return s;
}

/* Stop: roll back the open group when the whole run must be undone,
 * say what happened and how much was kept, exit with code. */
static void
finish(struct run *r, int code, const char *fmt, ...)
{
	struct evt_err err;
	va_list ap;
	char msg[1024];

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (r->atomic) {
		evt_log_rollback(r->log);
		r->intxn = 0;
		r->group_events = 0;
		evt_buf_reset(&r->echoed);
		fprintf(stderr, "%s: %s; nothing appended (--atomic)\n",
		    evt_prog, msg);
	} else if (commit(r, &err) < 0) {
		fprintf(stderr, "%s: %s\n%s: %s; nothing of the last group "
		    "appended\n", evt_prog, msg, evt_prog, err.msg);
		code = err.code;
	} else
		fprintf(stderr, "%s: %s; %s before it\n", evt_prog, msg,
		    summary(r));
	cleanup(r);
	exit(code);
}

static void
reject_line(struct run *r, const char *where, long long lineno,
    const char *line, size_t len, const char *reason)
{
	struct evt_err err;

	if (evt_reject_line(r->reject, where, lineno, line, len, reason,
	    &err) < 0)
		finish(r, err.code, "%s", err.msg);
	r->rejected++;
}

/*
 * Append the parsed events it[0..n), in order, committing groups as they
 * fill, and the open group too when the input paused after them. The
 * good ones of next[0..nn), the batch after, are announced to the log
 * too, so that a server looks them up while these are appended.
 */
static void
store(struct run *r, struct evt_feed_item *it, size_t n, int paused,
    const char *where, struct evt_feed_item *next, size_t nn)
{
	struct evt_event *evs[EVT_FEED_BATCH];
	struct evt_err err;
	size_t m = 0;
	int rc;

	if (n == 0)
		return;
	if (!r->intxn) {
		if (evt_log_begin(r->log, &err) < 0)
			finish(r, err.code, "%s", err.msg);
		r->intxn = 1;
	}
	for (size_t i = 0; i < n; i++)
		evs[i] = &it[i].ev;
	int64_t now;
	if (evt_clock_now(&now, &err) < 0 ||
	    evt_log_prefetch(r->log, evs, n, &err) < 0)
		finish(r, err.code, "%s", err.msg);
	evt_log_ahead(r->log, evs, n, now, r->source);
	for (size_t i = 0; i < nn; i++)
		if (next[i].ok)
			evs[m++] = &next[i].ev;
	if (m && evt_log_prefetch(r->log, evs, m, &err) < 0)
		finish(r, err.code, "%s", err.msg);
	for (size_t i = 0; i < n; i++) {
		struct evt_feed_item *p = &it[i];
		if (!r->intxn) {
			/* Mid-batch, after a group's commit: the rest was taken
			 * from the input, so it is stored, even once a signal
			 * says to stop; the lock is waited for as usual. */
			evt_log_interrupt_on(r->log, NULL);
			rc = evt_log_begin(r->log, &err);
			evt_log_interrupt_on(r->log, &interrupted);
			if (rc < 0)
				finish(r, err.code, "%s", err.msg);
			r->intxn = 1;
		}
		if (i > 0 && evt_clock_now(&now, &err) < 0)
			finish(r, err.code, "%s", err.msg);
		/* --expect speaks of each stream before this input: it is
		 * checked on the first event of the stream that is stored (an
		 * id already stored is skipped before any check, so it must
		 * not use up the stream's expectation). */
		const struct evt_expect *exp = NULL;
		if (r->expect.kind != EVT_EXPECT_UNSET &&
		    !evt_hmap_get(&r->seen, p->ev.subject.p, p->ev.subject.n))
			exp = &r->expect;
		long long inseq = p->ev.seq;
		rc = evt_log_append(r->log, &p->ev, exp, now, r->source, &err);
		if (rc < 0 && err.code == EX_DATAERR && r->reject) {
			/* Too long once stored: nothing was written. */
			reject_line(r, where, p->lineno, p->line, p->len, err.msg);
			continue;
		}
		if (rc < 0)
			finish(r, err.code, "%s:%lld: %s", where, p->lineno,
			    err.msg);
		if (rc == EVT_APPEND_DUPLICATE) {
			r->dups++;
			/* An event of this log passed through by the consumer
			 * (it carries its seq). The consumer writes what an
			 * event causes after the event, so when the next one
			 * comes, the last one is handled: the checkpoint may
			 * pass it. The last of all is not known to be handled
			 * (the consumer may have died right after writing
			 * it), so it stays to be read again. */
			if (r->ckpt && r->at < 0 && inseq > 0) {
				if (r->ck_last > r->ck_want)
					r->ck_want = r->ck_last;
				r->ck_last = inseq;
			}
		} else {
			if (exp)
				evt_hmap_put(&r->seen, p->ev.subject.p,
				    p->ev.subject.n, 1);
			r->group_events++;
			r->group_bytes += p->ev.body.len;
			if (r->echo) {
				evt_buf_add(&r->echoed, p->ev.body.p, p->ev.body.len);
				evt_buf_addc(&r->echoed, '\n');
			}
		}
		if (!r->atomic && (r->group_events >= GROUP_EVENTS ||
		    r->group_bytes >= GROUP_BYTES || (i + 1 == n && paused)) &&
		    commit(r, &err) < 0)
			finish(r, err.code, "%s", err.msg);
	}
	evt_log_ahead_end(r->log);
}

/*
 * Append what fd holds. Its lines are read and parsed on a thread of
 * their own (feed.h) while this one stores the ones before, in order;
 * every decision (bad line, reject, commit, stop) is taken here, in place.
 */
static void
append_input(struct run *r, int fd, const char *where)
{
	struct evt_feed *f = evt_feed_start(fd);
	struct evt_feed_batch *b, *next;
	struct evt_err err;
	int last = 0;

	feed = f;
	/* A signal that came before the handler could see the feed. */
	if (interrupted)
		evt_feed_forward(f, SIGTERM);
	for (b = evt_feed_next(f); b != NULL; b = next) {
		size_t from = 0;

		/* The next batch too, when it comes without waiting for
		 * input (this one did not end at a pause): its events are
		 * looked up while these are stored. */
		last = b->end || b->fail;
		next = last || b->pause ? NULL : evt_feed_next(f);
		for (size_t i = 0; i < b->n; i++) {
			struct evt_feed_item *it = &b->items[i];
			if (it->ok)
				continue;
			/* What came before the bad line goes first. */
			store(r, b->items + from, i - from, 0, where, NULL, 0);
			from = i + 1;
			if (!r->reject)
				finish(r, EX_DATAERR, "%s:%lld: %s", where,
				    it->lineno, it->err.msg);
			reject_line(r, where, it->lineno, it->line, it->len,
			    it->err.msg);
		}
		/* What was taken from the input is stored, also when a
		 * signal stopped the reading: waiting for the lock as usual,
		 * since the input cannot give it back. */
		if (b->fail && interrupted)
			evt_log_interrupt_on(r->log, NULL);
		store(r, b->items + from, b->n - from, b->pause, where,
		    next ? next->items : NULL, next ? next->n : 0);
		/* A batch that ends in bad lines, or none, at a pause: the
		 * group is committed before the reader waits for more. */
		if (b->pause && !r->atomic && commit(r, &err) < 0)
			finish(r, err.code, "%s", err.msg);
		/* With the transaction left open (--atomic), the log is
		 * told, so that it stores what it holds and waits idle. */
		if (b->pause && r->intxn && evt_log_prefetch(r->log, NULL, 0,
		    &err) < 0)
			finish(r, err.code, "%s", err.msg);
		if (b->fail && !(b->err.code == EX_TEMPFAIL && interrupted))
			finish(r, b->err.code, "%s: %s", where, b->err.msg);
		evt_feed_done(f, b);
		if (next == NULL && !last)
			next = evt_feed_next(f);
	}
	stop_feed();
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "at", required_argument, NULL, 'P' },
		{ "atomic", no_argument, NULL, 'A' },
		{ "checkpoint", required_argument, NULL, 'K' },
		{ "echo", no_argument, NULL, 'E' },
		{ "expect", required_argument, NULL, 'X' },
		{ "help", no_argument, NULL, 'h' },
		{ "log", required_argument, NULL, 'l' },
		{ "no-sync", no_argument, NULL, 'N' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "reject", required_argument, NULL, 'R' },
		{ "source", required_argument, NULL, 'S' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	struct run r;
	struct evt_err err;
	struct sigaction sa;
	const char *logspec = NULL;
	int c, flags = EVT_LOG_CREATE;
	int64_t now;

	memset(&r, 0, sizeof(r));
	r.at = -1;
	evt_cli_init("evt-append");
	while ((c = getopt_long(argc, argv, "hl:qv", opts, NULL)) != -1) {
		switch (c) {
		case 'A': r.atomic = 1; break;
		case 'E': r.echo = 1; break;
		case 'h': help();
		case 'K':
			if (*optarg == '\0')
				evt_usage_error(USAGE, "--checkpoint: empty name");
			r.ckpt = optarg;
			break;
		case 'l': logspec = evt_cli_log_arg(optarg); break;
		case 'P': r.at = evt_opt_count("--at", optarg, 0); break;
		case 'N': flags |= EVT_LOG_NOSYNC; break;
		case 'q': evt_quiet = 1; break;
		case 'R': r.reject_path = optarg; break;
		case 'S':
			if (*optarg == '\0')
				evt_usage_error(USAGE, "--source: must not be empty");
			if (!evt_ce_uri_ref_ok(optarg, strlen(optarg)))
				evt_usage_error(USAGE, "--source: must be a "
				    "URI-reference, as CloudEvents' source");
			r.source = optarg;
			break;
		case 'v': evt_verbose = 1; break;
		case 'V': evt_print_version();
		case 'X':
			if (evt_expect_parse(optarg, &r.expect) < 0)
				evt_usage_error(USAGE, "--expect: not a version, "
				    "none, exists or any: %s", optarg);
			/* An expectation about the streams holds for the
			 * whole input, so the input is one transaction. */
			r.atomic = 1;
			break;
		default: evt_usage_error(USAGE, NULL);
		}
	}
	if (r.at >= 0 && !r.ckpt)
		evt_usage_error(USAGE, "--at needs --checkpoint");
	if (r.atomic && r.reject_path)
		evt_usage_error(USAGE, "--reject and --atomic (or --expect) "
		    "contradict each other");
	if (evt_clock_now(&now, &err) < 0)
		evt_die_err(&err);
	int *fds = evt_open_inputs(argv + optind, argc - optind);
	if (r.reject_path && (r.reject = evt_reject_open(r.reject_path,
	    &err)) == NULL)
		evt_die_err(&err);
	if ((r.log = evt_log_open(logspec, flags, &err)) == NULL) {
		r.log = NULL;
		cleanup(&r);
		evt_die_err(&err);
	}
	/* SIGINT and SIGTERM stop the reading, not the process: what was
	 * taken is committed (or, with --atomic, rolled back) first. A
	 * wait for another writer's lock stops too (75). */
	evt_log_interrupt_on(r.log, &interrupted);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if (optind == argc)
		append_input(&r, 0, "stdin");
	for (int i = optind; i < argc && !interrupted; i++) {
		append_input(&r, fds[i - optind], argv[i]);
		if (fds[i - optind] > 0)
			close(fds[i - optind]);
	}
	free(fds);
	if (interrupted)
		finish(&r, EX_TEMPFAIL, "interrupted");
	if (r.at >= 0) {
		/* All input is stored (or is in the last group): only now
		 * may the checkpoint say so, in that group's transaction. */
		if (!r.intxn) {
			if (evt_log_begin(r.log, &err) < 0) {
				fprintf(stderr, "%s: %s\n", evt_prog, err.msg);
				cleanup(&r);
				return err.code;
			}
			r.intxn = 1;
		}
		r.ck_want = r.at;
	}
	if (commit(&r, &err) < 0) {
		fprintf(stderr, "%s: %s\n", evt_prog, err.msg);
		cleanup(&r);
		return err.code;
	}
	if (r.rejected)
		fprintf(stderr, "%s: %lld lines rejected to %s; %s\n", evt_prog,
		    r.rejected, r.reject_path, summary(&r));
	else
		evt_note("%s", summary(&r));
	cleanup(&r);
	if (fclose(stdout) != 0)
		evt_die(EX_IOERR, "stdout: %s", strerror(errno));
	return 0;
}
