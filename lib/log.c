#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "clock.h"
#include "crypto_load.h"
#include "lines.h"
#include "log_impl.h"
#include "pq_load.h"

_Static_assert(EVT_EVENT_MAX + 40 == EVT_LINE_MAX,
    "a stored event must fit an input line");

static int
ends_with(const char *s, const char *suf)
{
	size_t n = strlen(s), m = strlen(suf);

	return n >= m && strcmp(s + n - m, suf) == 0;
}

struct evt_log *
evt_log_open(const char *spec, int flags, struct evt_err *err)
{
	const struct evt_log_ops *ops = &evt_log_file_ops;
	const char *path;

	if (spec == NULL)
		spec = getenv("EVT_LOG");
	if (spec == NULL || *spec == '\0')
		spec = "events.db";
	path = spec;
	if (strncmp(spec, "sqlite:", 7) == 0) {
		ops = &evt_log_sqlite_ops;
		path = spec + 7;
	} else if (strncmp(spec, "file:", 5) == 0)
		path = spec + 5;
	else if (strncmp(spec, "postgres://", 11) == 0 ||
	    strncmp(spec, "postgresql://", 13) == 0) {
		/* libpq is loaded here, not linked (pq_load.h). */
		if (evt_pq_load(spec[8] == 'q' ? "postgresql://..." :
		    "postgres://...", err) < 0)
			return NULL;
		return evt_log_pg_ops.open(spec, flags, err);
	} else if (ends_with(spec, ".db") || ends_with(spec, ".sqlite") ||
	    ends_with(spec, ".sqlite3"))
		ops = &evt_log_sqlite_ops;
	if (*path == '\0') {
		evt_err_set(err, EX_USAGE, "empty log name");
		return NULL;
	}
	/* The same answer from both backends when the place is missing. */
	char *d = strdup(path);
	if (d == NULL)
		abort();
	struct stat st;
	int nodir = stat(dirname(d), &st) < 0 || !S_ISDIR(st.st_mode);
	free(d);
	if (nodir) {
		evt_err_set(err, EX_NOINPUT, "%s: no such directory", path);
		return NULL;
	}
	return ops->open(path, flags, err);
}

static evt_log_notice_fn notice_fn;

void
evt_log_on_notice(evt_log_notice_fn fn)
{
	notice_fn = fn;
}

void
evt_log_notice(const struct evt_log *log, const char *what)
{
	if (notice_fn)
		notice_fn(log->path, what);
}

void
evt_log_init(struct evt_log *log, const struct evt_log_ops *ops,
    const char *path, int flags)
{
	char *a, *b;

	log->ops = ops;
	log->more = NULL;
	log->flags = flags;
	log->intxn = 0;
	log->intr = NULL;
	log->path = strdup(path);
	a = strdup(path);
	b = strdup(path);
	if (log->path == NULL || a == NULL || b == NULL)
		abort();
	log->dir = strdup(dirname(a));
	log->prefix = strdup(basename(b));
	free(a);
	free(b);
	if (log->dir == NULL || log->prefix == NULL)
		abort();
}

void
evt_log_fini(struct evt_log *log)
{
	free(log->path);
	free(log->dir);
	free(log->prefix);
}

void
evt_log_close(struct evt_log *log)
{
	if (log == NULL)
		return;
	if (log->intxn)
		log->ops->rollback(log);
	log->ops->close(log);
}

void
evt_log_interrupt_on(struct evt_log *log, atomic_int *flag)
{
	log->intr = flag;
}

const char *
evt_log_path(const struct evt_log *log)
{
	return log->path;
}

const char *
evt_log_origin(struct evt_log *log)
{
	return log->more && log->more->origin ? log->more->origin(log) :
	    log->path;
}

const char *
evt_log_watch_dir(const struct evt_log *log)
{
	return log->dir;
}

const char *
evt_log_watch_prefix(const struct evt_log *log)
{
	return log->prefix;
}

/*
 * Append, inside the open transaction, the event that records what was
 * done to the chain: type, subject EVT_CHAIN_SUBJECT, source "evt", data
 * (a JSON object). *seq gets its seq. Returns 0, or -1 with err.
 */
static int
chain_record(struct evt_log *log, const char *type, const char *data,
    int64_t now_ms, long long *seq, struct evt_err *err)
{
	struct evt_event ev;
	char *line;
	int n, rc;

	n = asprintf(&line, "{\"type\":\"%s\",\"subject\":\"%s\","
	    "\"source\":\"evt\",\"data\":%s}", type, EVT_CHAIN_SUBJECT, data);
	if (n < 0)
		abort();
	memset(&ev, 0, sizeof(ev));
	rc = evt_event_parse(&ev, line, (size_t)n, 1, err);
	if (rc == 0)
		rc = evt_log_append(log, &ev, NULL, now_ms, "evt", err);
	if (rc == EVT_APPEND_DUPLICATE)
		rc = evt_err_set(err, EX_SOFTWARE, "%s: the chain's record "
		    "is stored already", log->path);
	if (rc == 0 && seq)
		*seq = ev.seq;
	evt_event_free(&ev);
	free(line);
	return rc < 0 ? -1 : 0;
}

int
evt_log_begin(struct evt_log *log, struct evt_err *err)
{
	char data[160];
	int64_t now;

	log->chained_now = 0;
	/* Every write chains: libcrypto, before the backend is touched, so
	 * that a process without it writes nothing (crypto_load.h). */
	if (evt_crypto_load(log->path, err) < 0)
		return -1;
	if (log->ops->begin(log, err) < 0)
		return -1;
	log->intxn = 1;
	if (log->chained_now > 0) {
		/* A log without a hash was chained by this begin: once,
		 * and said so in the log itself, chained with the rest. */
		snprintf(data, sizeof(data), "{\"from\":1,\"to\":%lld,"
		    "\"reason\":\"no event had a hash: chained in place by "
		    "its first write\"}", log->chained_now);
		log->chained_now = 0;
		if (evt_clock_now(&now, err) < 0 ||
		    chain_record(log, "LogChained", data, now, NULL, err) < 0) {
			evt_log_rollback(log);
			return -1;
		}
	}
	return 0;
}

int
evt_log_rechain(struct evt_log *log, long long from, const char *data_json,
    int64_t now_ms, long long *seq, struct evt_err *err)
{
	int rc;

	if (log->ops->chain_read == NULL)
		return evt_err_set(err, EX_USAGE, "%s: the %s backend keeps no "
		    "chain", log->path, log->ops->name);
	log->rechain_from = from < 1 ? 1 : from;
	rc = evt_log_begin(log, err);
	log->rechain_from = 0;
	if (rc < 0)
		return -1;
	if (chain_record(log, "LogRechained", data_json, now_ms, seq, err) < 0) {
		evt_log_rollback(log);
		return -1;
	}
	return evt_log_commit(log, err);
}

int
evt_log_append(struct evt_log *log, struct evt_event *ev,
    const struct evt_expect *exp, int64_t now_ms, const char *source,
    struct evt_err *err)
{
	/* An event's own expectedversion wins over the caller's. */
	if (ev->expect.kind != EVT_EXPECT_UNSET)
		exp = &ev->expect;
	if (exp && (exp->kind == EVT_EXPECT_UNSET || exp->kind == EVT_EXPECT_ANY))
		exp = NULL;
	/* What is stored must read back as input (evt-replay | evt-append
	 * copies a log), so the stored line must fit EVT_LINE_MAX wherever
	 * it lands: the limit leaves out the digits of seq and version,
	 * the only bytes a copy changes. The stored form is at most the
	 * input plus the filled fields, so only a large event is measured. */
	if (ev->linelen + 1024 + (source ? strlen(source) : 3) > EVT_EVENT_MAX) {
		evt_event_assign(ev, 0, 0, now_ms, source);
		if (ev->slot[EVT_F_ID] < 0)
			ev->id.p = NULL;	/* generated for real below */
		if (ev->body.len - 2 > EVT_EVENT_MAX)
			return evt_err_set(err, EX_DATAERR, "event too long: "
			    "%zu bytes once stored, more than %u", ev->body.len,
			    EVT_EVENT_MAX);
	}
	return log->ops->append(log, ev, exp, now_ms, source, err);
}

int
evt_log_commit(struct evt_log *log, struct evt_err *err)
{
	log->intxn = 0;
	return log->ops->commit(log, err);
}

void
evt_log_rollback(struct evt_log *log)
{
	if (log->intxn)
		log->ops->rollback(log);
	log->intxn = 0;
}

int
evt_log_read(struct evt_log *log, struct evt_read *r, evt_log_fn fn,
    void *arg, struct evt_err *err)
{
	r->scanned = r->after;
	return log->ops->read(log, r, fn, arg, err);
}

int
evt_log_last_seq(struct evt_log *log, long long *seq, struct evt_err *err)
{
	return log->ops->last_seq(log, seq, err);
}

int
evt_log_checkpoint_get(struct evt_log *log, const char *name, long long *seq,
    struct evt_err *err)
{
	return log->ops->ckpt_get(log, name, seq, err);
}

int
evt_log_checkpoint_set(struct evt_log *log, const char *name, long long seq,
    struct evt_err *err)
{
	return log->ops->ckpt_set(log, name, seq, err);
}

int
evt_log_check_expect(const struct evt_expect *exp, const char *subject,
    size_t n, long long actual, struct evt_err *err)
{
	const char *want = NULL;
	char num[32];

	switch (exp->kind) {
	case EVT_EXPECT_NONE:
		if (actual != 0)
			want = "none (no stream)";
		break;
	case EVT_EXPECT_EXISTS:
		if (actual == 0)
			want = "exists";
		break;
	case EVT_EXPECT_VERSION:
		if (actual != exp->version) {
			snprintf(num, sizeof(num), "%lld", exp->version);
			want = num;
		}
		break;
	default:
		break;
	}
	if (want == NULL)
		return 0;
	return evt_err_set(err, EX_TEMPFAIL,
	    "version conflict on %.*s: expected %s, actual %lld%s", (int)n,
	    subject, want, actual, actual == 0 ? " (no stream)" : "");
}

int
evt_log_check_dup(const struct evt_event *ev, int same_type,
    struct evt_err *err)
{
	if (same_type)
		return EVT_APPEND_DUPLICATE;
	evt_err_set(err, EX_TEMPFAIL, "%.*s: id %.*s is stored already "
	    "as an event of another type than %.*s: another outcome of the "
	    "same decision (a race, or a run with other settings)",
	    (int)ev->subject.n, ev->subject.p, (int)ev->id.n, ev->id.p,
	    (int)ev->type.n, ev->type.p);
	if (err)
		err->taken = 1;
	return -1;
}

int
evt_log_first_seq(struct evt_log *log, long long *seq, struct evt_err *err)
{
	if (log->more == NULL || log->more->first_seq == NULL) {
		*seq = 1;
		return 0;
	}
	return log->more->first_seq(log, seq, err);
}

int
evt_log_listen(struct evt_log *log, struct evt_err *err)
{
	return log->more && log->more->listen ? log->more->listen(log, err) : 0;
}

int
evt_log_notify_fd(struct evt_log *log)
{
	return log->more && log->more->notify_fd ? log->more->notify_fd(log) :
	    -1;
}

int
evt_log_notified(struct evt_log *log)
{
	return log->more && log->more->notified ? log->more->notified(log) : 1;
}

int
evt_log_prefetch(struct evt_log *log, struct evt_event **evs, size_t n,
    struct evt_err *err)
{
	return log->more && log->more->prefetch ?
	    log->more->prefetch(log, evs, n, err) : 0;
}

void
evt_log_ahead(struct evt_log *log, struct evt_event **evs, size_t n,
    int64_t now_ms, const char *source)
{
	if (log->more && log->more->ahead)
		log->more->ahead(log, evs, n, now_ms, source);
}

void
evt_log_ahead_end(struct evt_log *log)
{
	if (log && log->more && log->more->ahead_end)
		log->more->ahead_end(log);
}
