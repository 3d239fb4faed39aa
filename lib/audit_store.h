/*
 * audit_store.h - the audit's memory kept in SQLite (audit-scan --state):
 * what the rules remember of each transaction, of each stream, of each
 * orchestrated saga not over and of the ids seen, with a checkpoint, so that a run reads only the events after
 * it and writes its changes and the new checkpoint in one transaction.
 *
 * Used by audit.c only, which keeps what one run touches in memory and
 * looks the rest up here.
 */
#ifndef EVT_AUDIT_STORE_H
#define EVT_AUDIT_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "decimal.h"
#include "err.h"

/* What the money and saga rules remember of one transaction. */
struct evt_audit_tx {
	struct evt_dec total, paid, refunded;
	int64_t created_ms;
	int payments;
	unsigned created:1, has_total:1, total_range:1, open:1, has_time:1;
	unsigned stuck:1;	/* reported saga_stuck already */
	unsigned cur_paid:1;	/* cur is a payment's: no order yet */
	unsigned unknown:1;	/* a payment's amount could not be read */
	unsigned char ncur;	/* the order's currency, 0: unknown */
	char cur[15];
};

/* What the integrity rules remember of one stream. */
struct evt_audit_subject {
	long long version;	/* 0: none seen */
	int64_t time_ms;
	int has_time;
	int forgotten;		/* not stored, and the state has forgotten
				 * streams: its last version may be one of
				 * them (never stored; set by audit.c) */
};

/* The checkpoint: how far the state has folded. */
struct evt_audit_ckpt {
	long long seq;		/* the last event folded (0: none) */
	int64_t time_ms;	/* the latest event time folded */
	int has_time;
	long long events;	/* events folded, over every run */
	int64_t until_ms;	/* the end of the last period committed */
	int has_until;
	int64_t forgot_ms;	/* rows last written before this were
				 * pruned (evt_astore_prune) */
	int has_forgot;
};

struct evt_audit_store;

/* Open (or create, mode 0600) the state at path. NULL with err: EX_NOINPUT
 * for a missing directory, EX_IOERR, EX_DATAERR for a file that is not an
 * audit state. */
struct evt_audit_store *evt_astore_open(const char *path, struct evt_err *err);
void evt_astore_close(struct evt_audit_store *s);

int evt_astore_checkpoint(struct evt_audit_store *s, struct evt_audit_ckpt *c,
    struct evt_err *err);

/* Lookups: 1 and *out filled when found, 0 when not, -1 with err. */
int evt_astore_tx(struct evt_audit_store *s, const char *id, size_t n,
    struct evt_audit_tx *out, struct evt_err *err);
int evt_astore_subject(struct evt_audit_store *s, const char *subj, size_t n,
    struct evt_audit_subject *out, struct evt_err *err);
/* Whether id hash h was put before (never fails: the ids are in memory). */
int evt_astore_id(struct evt_audit_store *s, uint64_t h);

/* Call fn for every open transaction with a creation time not reported
 * stuck yet, in no order. */
int evt_astore_open_tx(struct evt_audit_store *s,
    void (*fn)(void *arg, const char *id, size_t n, int64_t created_ms),
    void *arg, struct evt_err *err);

/* An orchestrated saga (saga-orch(1), its key) started and not over: 1
 * with *started_ms and *stuck (reported saga_stuck already) filled when
 * stored, 0 when not, -1 with err. */
int evt_astore_orch(struct evt_audit_store *s, const char *key, size_t n,
    int64_t *started_ms, int *stuck, struct evt_err *err);
/* Call fn for every stored orchestrated saga not reported stuck yet, in
 * no order (key borrowed for the call). */
int evt_astore_open_orch(struct evt_audit_store *s,
    void (*fn)(void *arg, const char *key, size_t n, int64_t started_ms),
    void *arg, struct evt_err *err);

/* Writing: begin, put what changed and the new checkpoint, commit (all
 * or nothing, durably), or roll back. Reads see what was put before the
 * commit. */
int evt_astore_begin(struct evt_audit_store *s, struct evt_err *err);
int evt_astore_put_tx(struct evt_audit_store *s, const char *id, size_t n,
    const struct evt_audit_tx *t, struct evt_err *err);
int evt_astore_put_subject(struct evt_audit_store *s, const char *subj,
    size_t n, const struct evt_audit_subject *v, struct evt_err *err);
/* An orchestrated saga still open, or one over: forgotten. */
int evt_astore_put_orch(struct evt_audit_store *s, const char *key, size_t n,
    int64_t started_ms, int stuck, struct evt_err *err);
int evt_astore_del_orch(struct evt_audit_store *s, const char *key, size_t n,
    struct evt_err *err);
/* Put the id hashes ids[0..n) (reordered) as one segment of those not
 * put before. */
int evt_astore_put_ids(struct evt_audit_store *s, uint64_t *ids, size_t n,
    struct evt_err *err);
/* The time each row put from now on is stamped with (the run's period
 * end): what evt_astore_prune goes by. */
void evt_astore_clock(struct evt_audit_store *s, int64_t ms);
/*
 * Delete, in the open transaction, the rows last put before before_ms:
 * transactions and orchestrated sagas (but the open ones not yet
 * reported stuck: the end of a run looks them up), streams and ids. Returns how many were deleted,
 * or -1 with err.
 */
long long evt_astore_prune(struct evt_audit_store *s, int64_t before_ms,
    struct evt_err *err);
int evt_astore_checkpoint_set(struct evt_audit_store *s,
    const struct evt_audit_ckpt *c, struct evt_err *err);
int evt_astore_commit(struct evt_audit_store *s, struct evt_err *err);
void evt_astore_rollback(struct evt_audit_store *s);

#endif
