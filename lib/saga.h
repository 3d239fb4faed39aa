/*
 * saga.h - the store's choreographed sagas (DESIGN §4 saga-step): the
 * state each participant folds from the events it sees, and the reactions
 * its rules draw from that state.
 *
 * One struct evt_saga holds the state of every participant; which of them
 * react is a mask, so `all` and a single service share one code path. State
 * changes are idempotent (guarded by per-transaction flags), so an event
 * seen twice, or a reaction that comes back from the log, changes nothing.
 */
#ifndef EVT_SAGA_H
#define EVT_SAGA_H

#include <stdint.h>

#include "err.h"
#include "event.h"

enum {
	EVT_SAGA_TRANSACTION = 1,
	EVT_SAGA_PAYMENT = 2,
	EVT_SAGA_INVENTORY = 4,
	EVT_SAGA_STORE = 8,
	EVT_SAGA_ALL = 15
};

struct evt_saga_opts {
	int services;		/* mask of the participants that react */
	int64_t timeout_ms;	/* 0: no timeouts */
	int has_decline_over;
	double decline_over;	/* decline payments over this amount */
	double fail_rate;	/* 0..1: share of payments that fail */
	unsigned long long seed;
};

struct evt_saga;

/* A new saga state; opts is copied. */
struct evt_saga *evt_saga_new(const struct evt_saga_opts *opts);
void evt_saga_free(struct evt_saga *s);

/* The service mask for a name (transaction, payment, inventory, store,
 * all), or 0. */
int evt_saga_service(const char *name);

/* Whether events of type t[0..n) take part in the choreography; others
 * only pass through a step. */
int evt_saga_knows(const char *t, size_t n);

/*
 * Called for each reaction, in order: its id and its compact JSON line (no
 * newline), both borrowed for the call. Return 0 to go on, -1 to stop
 * (evt_saga_step then returns -1).
 */
typedef int (*evt_saga_emit_fn)(void *arg, const char *id, const char *line,
    size_t len);

/*
 * Whether an event with this id is known to come later in the input: the
 * caller's look-ahead, so that a reaction already in the input is not
 * written again (it still takes effect at once). May be NULL.
 */
typedef int (*evt_saga_known_fn)(void *arg, const char *id);

/*
 * Take one event (ev, borrowed, parsed by evt_event_parse): fold it into
 * the state, then draw the reactions of the enabled participants and emit
 * each, depth first (a reaction's own reactions follow it when its
 * participant is enabled). Events of types outside the choreography are
 * ignored. now_ms stamps the reactions. Returns 0, or -1 with err
 * (EX_DATAERR: the event's payload lacks what its type requires), or -1
 * with err untouched when emit returned -1.
 */
int evt_saga_step(struct evt_saga *s, const struct evt_event *ev, int64_t now_ms,
    evt_saga_emit_fn emit, evt_saga_known_fn known, void *arg,
    struct evt_err *err);

/*
 * Cancel the transactions still open whose TransactionCreated is older than
 * the timeout at time now_ms (event time). Emits like evt_saga_step.
 */
int evt_saga_expire(struct evt_saga *s, int64_t now_ms, evt_saga_emit_fn emit,
    evt_saga_known_fn known, void *arg, struct evt_err *err);

/* Number of open sagas held (for tests of memory and for -v). */
size_t evt_saga_open(const struct evt_saga *s);

#endif
