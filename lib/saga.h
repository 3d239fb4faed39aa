/*
 * saga.h - the store's choreographed sagas (DESIGN §4 saga-step): the
 * state each participant folds from the events it reads, and the decisions
 * its rules take on that state.
 *
 * The model is the event store's: a recorded event is a fact. Every event
 * of the choreography is folded into the state wherever it sits in the
 * input (evt_saga_fold); a participant then decides only the causes that
 * have no recorded outcome, against the state after everything it has
 * read (evt_saga_decide), and each decision is folded at once, so the
 * decisions that follow see it. A decision's event id is a name-based UUID
 * of the event it is about and the decision ("payment of", "reservation
 * for"), never of the outcome drawn, so two runs, two instances or two
 * settings can store at most one outcome per cause and participant.
 *
 * One struct evt_saga holds the state of every participant; which of them
 * decide is a mask, so `all` and a single service share one code path.
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
	int services;		/* mask of the participants that decide */
	int64_t timeout_ms;	/* 0: no timeouts */
	const char *decline_over; /* decline payments over this amount (a JSON
				   * number, checked by evt_saga_amount_ok), or
				   * NULL; borrowed for the saga's life */
	double fail_rate;	/* 0..1: share of payments that fail */
	unsigned long long seed;
};

struct evt_saga;

/* A new saga state; opts is copied (decline_over is borrowed). */
struct evt_saga *evt_saga_new(const struct evt_saga_opts *opts);
/* Free s; NULL is a no-op. */
void evt_saga_free(struct evt_saga *s);

/* The service mask for a name (transaction, payment, inventory, store,
 * all), or 0. */
int evt_saga_service(const char *name);

/* Whether s is an amount as an option may give it: a JSON number >= 0. */
int evt_saga_amount_ok(const char *s);

/* Whether events of type t[0..n) take part in the choreography; others
 * only pass through a step. */
int evt_saga_knows(const char *t, size_t n);

/*
 * Fold one event (ev, borrowed, parsed by evt_event_parse) into the state
 * as a fact. now_ms stands in for the time of an event without one.
 * Events of types outside the choreography are ignored. Returns 0, or -1
 * with err (EX_DATAERR: the payload lacks what its type requires, a number
 * does not fit, or a cause has no id to derive its outcome's id from).
 */
int evt_saga_fold(struct evt_saga *s, const struct evt_event *ev,
    int64_t now_ms, struct evt_err *err);

/*
 * Called for each reaction, in order: its id and its compact JSON line (no
 * newline), both borrowed for the call. Return 0 to go on, -1 to stop
 * (evt_saga_decide then returns -1 with err untouched).
 */
typedef int (*evt_saga_emit_fn)(void *arg, const char *id, const char *line,
    size_t len);

/*
 * Take every decision the enabled participants owe, against the state
 * after all that has been folded, in the order their sagas were last
 * touched; each reaction is folded at once and emitted. Then, with a
 * timeout, cancel the sagas still open whose deadline has passed at the
 * later of now_ms and the latest event time folded, and take what follows
 * from that. Reactions are stamped with the later of now_ms and their
 * saga's latest event time, a timeout with its due time (or its saga's
 * latest event time, if later). Returns 0, or -1 (with err, or with err
 * untouched when emit returned -1).
 */
int evt_saga_decide(struct evt_saga *s, int64_t now_ms, evt_saga_emit_fn emit,
    void *arg, struct evt_err *err);

/* The earliest deadline of an open saga (event time, ms), or INT64_MAX. */
int64_t evt_saga_next_deadline(const struct evt_saga *s);

/* Number of open sagas held (for tests of memory and for -v). */
size_t evt_saga_open(const struct evt_saga *s);

#endif
