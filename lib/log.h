/*
 * log.h - the event log behind one opaque handle (DESIGN §3).
 *
 * The backend is chosen from the name: *.db, *.sqlite, *.sqlite3 and
 * sqlite:PATH are SQLite in WAL mode; *.ndjson, *.jsonl, file:PATH and
 * anything else are an append-only NDJSON file; postgres:// and
 * postgresql:// URLs are PostgreSQL through libpq. All keep every promise
 * of §3: atomic durable transactions, gap-free seq and per-subject version,
 * many appenders at once, a torn tail ignored and repaired, expected
 * versions, idempotent ids, raw read-back.
 *
 * Errors come back in struct evt_err with a sysexits code: EX_NOINPUT (the
 * log does not exist and may not be created), EX_IOERR (storage),
 * EX_TEMPFAIL (version conflict; for PostgreSQL also a lost connection or
 * a lock timeout: nothing of the open transaction is written),
 * EX_UNAVAILABLE (a PostgreSQL server that cannot be reached).
 */
#ifndef EVT_LOG_H
#define EVT_LOG_H

#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>

#include "err.h"
#include "event.h"
#include "filter.h"

struct evt_log;

enum {
	EVT_LOG_CREATE = 1,	/* create the log when it does not exist */
	EVT_LOG_NOSYNC = 2,	/* commit without fsync: fast, not durable */
};

/*
 * The longest event, once stored, not counting the digits of its seq and
 * version: 40 bytes under EVT_LINE_MAX (lines.h), room for two 20-digit
 * numbers, so a stored line is always a line evt-append takes, in any log
 * at any position.
 */
#define EVT_EVENT_MAX ((16u << 20) - 40)

/* Results of evt_log_append. */
enum { EVT_APPEND_STORED = 0, EVT_APPEND_DUPLICATE = 1 };

/*
 * Open the log named spec; NULL means $EVT_LOG, else ./events.db. Returns a
 * new handle, or NULL with err.
 */
struct evt_log *evt_log_open(const char *spec, int flags, struct evt_err *err);
/*
 * When spec is a postgres:// or postgresql:// URL that holds a password,
 * overwrite it in place (as curl does its argv) with the name the log is
 * shown by, so that ps(1) no longer shows the password; call it on the
 * argv copy once the log is open (the handle keeps its own). Returns 1
 * when it did, else 0. A password need never be on a command line:
 * $EVT_LOG, PGPASSWORD and PGPASSFILE (~/.pgpass) serve (evt(7)).
 */
int evt_log_hide_password(char *spec);
/*
 * What the server of a log says that is not an error (a PostgreSQL notice
 * or warning, such as "terminating connection because of crash of another
 * server process"): where is the log's name as shown, what one line, the
 * severity first ("warning: ..."), both borrowed for the call. The
 * process has one handler (NULL: such messages are dropped); cmd/ sets it
 * (evt_cli_init), so that the library itself never prints.
 */
typedef void (*evt_log_notice_fn)(const char *where, const char *what);
void evt_log_on_notice(evt_log_notice_fn fn);
/* Close the log, rolling back an open transaction. NULL is a no-op. */
void evt_log_close(struct evt_log *log);
/*
 * flag (borrowed; NULL: none) is set by the caller's signal handler. A
 * wait for another writer's lock gives up soon after it is set, with
 * EX_TEMPFAIL, rather than wait on for its whole timeout.
 */
void evt_log_interrupt_on(struct evt_log *log, atomic_int *flag);
/* The path of the log (borrowed). */
const char *evt_log_path(const struct evt_log *log);
/*
 * What tells this log from every other of its kind (borrowed): its path,
 * or for a PostgreSQL log in a schema other than "public" its path, a
 * slash and the schema (two logs of one database differ by it alone).
 * The default origin of its checkpoints (evt_tlog_default_origin).
 */
const char *evt_log_origin(struct evt_log *log);

/*
 * Begin a write transaction; waits for other writers. A chained log whose
 * head hash is missing or wrong (tampered with, or events deleted from its
 * end) is refused with EX_IOERR and a message that points at evt-verify:
 * a writer never repairs a chain. A log in which no event has a hash yet
 * (made by an earlier evt) is chained in place, once: the fact is recorded
 * by an event of subject EVT_CHAIN_SUBJECT, type "LogChained", appended
 * first in this transaction.
 */
int evt_log_begin(struct evt_log *log, struct evt_err *err);

/* The stream in which the log records what was done to its chain. */
#define EVT_CHAIN_SUBJECT "evt-chain"

/*
 * The operator's repair of a broken chain (evt-verify --rechain): in one
 * write transaction, re-hash every event from seq from (>= 1) to the end,
 * over the lines as they are stored, chaining on from the hash stored at
 * from - 1, and append a "LogRechained" event of subject EVT_CHAIN_SUBJECT
 * whose data is data_json (a JSON object, borrowed; it should say from
 * which seq, what was wrong and why), stamped now_ms. On PostgreSQL a head
 * row past the last stored event is moved back to it first. *seq gets the
 * record's seq. Returns 0, or -1 with err.
 */
int evt_log_rechain(struct evt_log *log, long long from, const char *data_json,
    int64_t now_ms, long long *seq, struct evt_err *err);
/*
 * Append ev (parsed with evt_event_parse) inside the open transaction.
 * exp, if not NULL and set, is checked against the stream's version first.
 * On success ev->body, ev->seq and ev->version hold the stored event.
 * Returns EVT_APPEND_STORED, EVT_APPEND_DUPLICATE (id already stored:
 * nothing written; ev->seq keeps the seq the input carried, if any), or -1
 * with err: EX_DATAERR when the event is longer than EVT_EVENT_MAX once
 * stored (nothing written; the transaction may go on), EX_TEMPFAIL on a
 * conflict, naming subject, expected and actual version, or the id stored
 * already as an event of another type (then err->taken is set) (the
 * caller must roll back).
 */
int evt_log_append(struct evt_log *log, struct evt_event *ev,
    const struct evt_expect *exp, int64_t now_ms, const char *source,
    struct evt_err *err);
/*
 * A hint, inside the open transaction, that evs[0..n) (borrowed) are about
 * to be appended in that order: a backend that must ask a server what each
 * append needs to know (PostgreSQL) asks once for all of them. Appending
 * works the same without it. It may be called again for the events after
 * evs before they are appended; n 0 says the input paused (no more are
 * coming for now). Returns 0, or -1 with err.
 */
int evt_log_prefetch(struct evt_log *log, struct evt_event **evs, size_t n,
    struct evt_err *err);
/*
 * A hint, inside the open transaction, that evs[0..n) are the very next
 * events to be appended, in that order, with now_ms and source: a backend
 * that can guess their seqs (SQLite) hashes their chain ahead on another
 * thread (ahead.h). Appending works the same without it. The array evs
 * may be reused at once, but the events must stay as they are, but for
 * being appended, until evt_log_ahead_end, the next evt_log_ahead or
 * evt_log_close.
 */
void evt_log_ahead(struct evt_log *log, struct evt_event **evs, size_t n,
    int64_t now_ms, const char *source);
/* The events of the last evt_log_ahead are the caller's again. */
void evt_log_ahead_end(struct evt_log *log);
/* Commit the open transaction: durable on return unless NOSYNC. */
int evt_log_commit(struct evt_log *log, struct evt_err *err);
/* Roll back the open transaction (no-op if none). */
void evt_log_rollback(struct evt_log *log);

/*
 * Called for each event read: its seq and the stored line (no newline),
 * borrowed for the call. Return 0 to go on, 1 to stop, -1 to fail (the
 * read then returns -1; the callback reports its own error).
 */
typedef int (*evt_log_fn)(void *arg, long long seq, const char *line,
    size_t len);

struct evt_read {
	/* Borrowed, and read as a key: a backend may keep the query it
	 * made for a filter (SQLite does, by this pointer) for the next
	 * read with the same one, so a filter must not change between
	 * reads. Use another struct evt_filter for another query. */
	const struct evt_filter *filter;
	long long after;	/* only events with seq > after */
	long long limit;	/* at most this many (0: all) */
	int reverse;		/* newest first */
	long long scanned;	/* out: the highest seq the read looked at */
};

/*
 * Call fn for each event matching r, in seq order (or reverse). The events
 * seen are those committed when the read began. Returns 0, or -1 with err.
 */
int evt_log_read(struct evt_log *log, struct evt_read *r, evt_log_fn fn,
    void *arg, struct evt_err *err);

/* The seq of the last committed event (0 if none). */
int evt_log_last_seq(struct evt_log *log, long long *seq, struct evt_err *err);

/* The position stored for checkpoint name: 0 and *seq, or 1 if none.
 * Inside a transaction, what it set is what is read back. */
int evt_log_checkpoint_get(struct evt_log *log, const char *name,
    long long *seq, struct evt_err *err);
/*
 * Store seq as the position of checkpoint name, durably. Inside an open
 * transaction the position is part of it: it is stored by the commit and
 * dropped by a rollback, and it never becomes durable before the
 * transaction's events (on a file log it is written just after them, so
 * a crash in between leaves it behind them, never ahead).
 */
int evt_log_checkpoint_set(struct evt_log *log, const char *name,
    long long seq, struct evt_err *err);

/*
 * The first seq still in the log: 1, or after the range before it was
 * archived (PostgreSQL) the seq after that range.
 */
int evt_log_first_seq(struct evt_log *log, long long *seq, struct evt_err *err);

/*
 * For evt_follow. evt_log_listen asks the log to notify new commits:
 * returns 1 when it does (then evt_log_notify_fd is a descriptor to poll,
 * or -1 while the connection is down, and evt_log_notified takes the
 * notifications that have come, without waiting, returning 1 when there
 * were any), 0 when the caller must watch the log's files instead, or -1
 * with err.
 */
int evt_log_listen(struct evt_log *log, struct evt_err *err);
int evt_log_notify_fd(struct evt_log *log);
int evt_log_notified(struct evt_log *log);

/*
 * The files whose change means new events: every file in the directory
 * of the log whose name starts with the log's file name (the WAL of a
 * SQLite log, the file log itself). For evt_follow.
 */
const char *evt_log_watch_dir(const struct evt_log *log);
const char *evt_log_watch_prefix(const struct evt_log *log);

#endif
