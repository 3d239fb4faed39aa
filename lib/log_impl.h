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
};

/* The part every backend's handle starts with. */
struct evt_log {
	const struct evt_log_ops *ops;
	char *path;
	char *dir, *prefix;	/* for evt_log_watch_* */
	int flags;
	int intxn;
	volatile sig_atomic_t *intr;	/* evt_log_interrupt_on, or NULL */
};

extern const struct evt_log_ops evt_log_sqlite_ops;
extern const struct evt_log_ops evt_log_file_ops;

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

#endif
