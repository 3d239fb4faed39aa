/*
 * chain_file.h - the hash chain of a file log (chain.h), kept in a sidecar
 * beside it, LOG.chain: one line per event, in seq order, of h(seq) in 64
 * lower-case hex digits, so record k is at byte 65 * (k - 1) and the
 * sidecar can be cut or extended at any event. Private to log_file.c.
 *
 * Order of writes: a transaction's records go to the sidecar (and are
 * made durable) before its lines go to the log, so every committed line
 * has its record; records beyond the log's last line are a transaction
 * that never committed (or one being written: a large one's records are
 * written as they are made, made durable by its commit), cut by the next
 * writer together with a torn tail.
 */
#ifndef EVT_CHAIN_FILE_H
#define EVT_CHAIN_FILE_H

#include <sys/types.h>

#include "err.h"
#include "log_impl.h"

struct evt_chain_file;

/*
 * In a writer's begin, holding the log's lock, after the log's own repair:
 * open the sidecar of logpath (*cf, created on first use) and make it hold
 * exactly last records: records beyond are cut. Missing ones are chained
 * from the log's lines, read from logfd[0..end), only when there is no
 * record at all and the log holds no event of subject EVT_CHAIN_SUBJECT
 * (a log made by an earlier evt: *chained_now = last), or from seq
 * rechain_from on when it is not 0 (evt_log_rechain; records from there
 * on are cut first); otherwise the begin fails, EX_IOERR, pointing at
 * evt-verify. Returns 0, or -1 with err (EX_IOERR).
 */
int evt_chain_file_begin(struct evt_chain_file **cf, const char *logpath,
    int logfd, off_t end, long long last, long long rechain_from,
    long long *chained_now, int nosync, struct evt_err *err);
/*
 * Chain one event appended in the open transaction (kept until commit).
 * line is copied when it is not hashed at once: from the transaction's
 * 256th event on, a worker thread hashes while the caller goes on (see
 * chain_file.c). The thread is the process's that began: a log must not
 * be written by a child forked while it is open.
 */
void evt_chain_file_add(struct evt_chain_file *cf, long long seq,
    const char *line, size_t len);
/*
 * Before the transaction's lines are written: write their records after
 * the last committed seq, durably unless nosync. Returns 0 or -1 with err.
 */
int evt_chain_file_commit(struct evt_chain_file *cf, long long last,
    int nosync, struct evt_err *err);
/* Forget the open transaction's records (waiting for the worker). */
void evt_chain_file_rollback(struct evt_chain_file *cf);
/* Joins the worker thread, if any. NULL is a no-op. */
void evt_chain_file_free(struct evt_chain_file *cf);

/*
 * chain_read for a file log whose committed lines are p[0..end) (end just
 * after a newline): see log_impl.h. The seq of a line is the one it says.
 */
int evt_chain_file_read(const char *logpath, const char *p, off_t end,
    long long after, int *chained, evt_chain_fn fn, void *arg,
    struct evt_err *err);

#endif
