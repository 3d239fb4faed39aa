/*
 * log_impl.h - what a log backend provides; private to lib/log*.c.
 *
 * A backend is a table of functions behind struct evt_log, so a third one
 * (PostgreSQL) is one new file and one line in log.c.
 */
#ifndef EVT_LOG_IMPL_H
#define EVT_LOG_IMPL_H

#include <signal.h>

#include "log.h"

/* Called by chain_read below: return 0 to go on, 1 to stop, -1 to fail. */
typedef int (*evt_chain_fn)(void *arg, long long seq, const char *line,
    size_t len, const unsigned char *hash);

struct evt_log_ops {
	const char *name;
	struct evt_log *(*open)(const char *path, int flags, struct evt_err *);
	void (*close)(struct evt_log *);
	int (*begin)(struct evt_log *, struct evt_err *);
	int (*append)(struct evt_log *, struct evt_event *,
	    const struct evt_expect *, int64_t, const char *, struct evt_err *);
	int (*commit)(struct evt_log *, struct evt_err *);
	void (*rollback)(struct evt_log *);
	int (*read)(struct evt_log *, struct evt_read *, evt_log_fn, void *,
	    struct evt_err *);
	int (*last_seq)(struct evt_log *, long long *, struct evt_err *);
	int (*ckpt_get)(struct evt_log *, const char *, long long *,
	    struct evt_err *);
	int (*ckpt_set)(struct evt_log *, const char *, long long,
	    struct evt_err *);
	/*
	 * Tamper evidence (chain.h, issue 15). Call fn for each stored event
	 * with seq > after, in the order stored, with the seq it is stored
	 * under, its line and its stored chain hash (EVT_CHAIN_LEN bytes,
	 * NULL when none is); *chained is set to 0 when the log keeps no
	 * chain at all (made by an earlier evt). NULL: no chain kept.
	 * *head is set to the last seq the log records apart from its
	 * events (PostgreSQL's head row, SQLite's chain_head table, the
	 * third number of a file log's LOG.txn: issue 22), read in the same
	 * snapshot as the events, so that events deleted from the end show,
	 * or to -1 when it keeps none.
	 * A log whose oldest events were archived out of it, so that it
	 * starts after after + 1, first calls fn once with line NULL: the
	 * seq of the last archived event and its hash as kept at the
	 * boundary (NULL: the archived events were never chained, and the
	 * chain starts again from 32 zero bytes).
	 */
	int (*chain_read)(struct evt_log *, long long after, int *chained,
	    long long *head, evt_chain_fn, void *, struct evt_err *);
};

/* What only some backends have; log.c has the defaults for NULL. */
struct evt_log_more_ops {
	int (*first_seq)(struct evt_log *, long long *, struct evt_err *);
	int (*listen)(struct evt_log *, struct evt_err *);
	int (*notify_fd)(struct evt_log *);
	int (*notified)(struct evt_log *);
	int (*prefetch)(struct evt_log *, struct evt_event **, size_t,
	    struct evt_err *);
	void (*ahead)(struct evt_log *, struct evt_event **, size_t, int64_t,
	    const char *);
	void (*ahead_end)(struct evt_log *);
	const char *(*origin)(struct evt_log *);
};

/* The part every backend's handle starts with. */
struct evt_log {
	const struct evt_log_ops *ops;
	const struct evt_log_more_ops *more;	/* NULL: none */
	char *path;
	char *dir, *prefix;	/* for evt_log_watch_* */
	int flags;
	int intxn;
	atomic_int *intr;		/* evt_log_interrupt_on, or NULL */
	/*
	 * The chain (chain.h, issue 22). A writer's begin never repairs a
	 * chained log: where the head's hash is missing or wrong it fails
	 * (EX_IOERR, "see evt-verify"). Only a log in which no event has a
	 * hash, and which holds no record of an earlier chaining (an event
	 * of subject EVT_CHAIN_SUBJECT), is chained by begin, once: it then
	 * sets chained_now to its last seq, and evt_log_begin records the
	 * fact as an event. rechain_from, set by evt_log_rechain only, has
	 * begin re-hash from that seq to the end instead.
	 */
	long long rechain_from;
	long long chained_now;
};

extern const struct evt_log_ops evt_log_sqlite_ops;
extern const struct evt_log_ops evt_log_file_ops;
extern const struct evt_log_ops evt_log_pg_ops;

/* Hand a server's notice (one line, severity first) to the process's
 * handler, if any (evt_log_on_notice). */
void evt_log_notice(const struct evt_log *log, const char *what);

/* Fill the common part of a new handle. */
void evt_log_init(struct evt_log *log, const struct evt_log_ops *ops,
    const char *path, int flags);
void evt_log_fini(struct evt_log *log);

/*
 * The check of an expected version against the stream's actual one,
 * shared by the backends. Returns 0, or -1 with err (EX_TEMPFAIL).
 */
int evt_log_check_expect(const struct evt_expect *exp, const char *subject,
    size_t n, long long actual, struct evt_err *err);

/*
 * A stored id met again: a repeat of the same event (same type) is
 * EVT_APPEND_DUPLICATE, skipped; an event of another type under that id
 * is another outcome of one decision (reaction ids name the decision, not
 * the outcome), which the log refuses like a version conflict: -1 with
 * err (EX_TEMPFAIL), and the caller rolls back.
 */
int evt_log_check_dup(const struct evt_event *ev, int same_type,
    struct evt_err *err);

#endif
