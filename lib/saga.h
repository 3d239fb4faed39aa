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
 *
 * The participants also answer the commands of saga-orch's shipped
 * definitions (saga-step(1), Orchestrated sagas): one reply per command,
 * named after the command's id, marked with the command's orchestration
 * attribute, decided on the same stock. A saga that was sent a command, or
 * whose order is marked, is orchestrated: the choreography leaves it alone
 * and the transaction service ends it when its saga ends.
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
	/* --member I/N: decide only the causes whose partition key (the
	 * store for inventory, the transaction id otherwise) hashes to
	 * member_i of member_n; member_n 0: every cause. */
	unsigned member_i, member_n;
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

/* Whether a saga participant or the orchestrator emits events of type
 * t[0..n): the participants' decisions (PaymentProcessed,
 * TransactionCancelled, StockDispatched, ...), saga-orch's own events
 * (Saga*) and the commands of its shipped definitions (ChargePayment,
 * ReserveStock, ...). Every other type is a cause: an order, a stock
 * movement, a customer's request, or a type outside both. */
int evt_saga_emits(const char *t, size_t n);

/* What evt_saga_fold and evt_saga_check make of an event. */
enum {
	EVT_SAGA_TAKEN = 0,	/* a fact the rules take (or pass through) */
	EVT_SAGA_REJECTED = 1,	/* an order the rules cannot take: the
				 * transaction service rejects it */
	EVT_SAGA_ASIDE = 2	/* an event the rules cannot use: set aside,
				 * its saga decided as if it were absent */
};

/*
 * Fold one event (ev, borrowed, parsed by evt_event_parse) into the state
 * as a fact. now_ms is the clock: it stands in for the time of an event
 * without one, and bounds when an order became visible. Events of types
 * outside the choreography pass. A stored event is a fact even when it is
 * bad: an order the rules cannot take (no items, a bad total, ...) is
 * owed a TransactionRejected, and a reaction they cannot use is set
 * aside; every other saga goes on. Returns EVT_SAGA_TAKEN, or
 * EVT_SAGA_REJECTED or EVT_SAGA_ASIDE with err saying why ("TYPE: FIELD
 * what is wrong"), or -1 with err (EX_DATAERR) for a cause without an id,
 * whose answer could not be named.
 */
int evt_saga_fold(struct evt_saga *s, const struct evt_event *ev,
    int64_t now_ms, struct evt_err *err);

/*
 * What evt_saga_fold would make of ev by its content alone (not whether
 * it repeats another), without changing the state: for audit-scan. s
 * lends its scratch space only.
 */
int evt_saga_check(struct evt_saga *s, const struct evt_event *ev,
    struct evt_err *err);

/* The orders rejected (EVT_SAGA_REJECTED) or events set aside
 * (EVT_SAGA_ASIDE) folded so far. */
long long evt_saga_count(const struct evt_saga *s, int what);

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
 * touched; each reaction is folded at once, then emitted. Then the
 * rejections owed to orders. Then, with a timeout, cancel the sagas still
 * open whose deadline has passed by the clock now_ms, and take what
 * follows. Reactions are stamped with the later of now_ms and their
 * saga's own latest event time, a timeout with its due time (or its
 * saga's latest event time, if later). Each decision's id is a name-based
 * UUID of the transaction id (the business key) and the decision, so the
 * log holds at most one per transaction, whatever ids its orders carry.
 * Returns 0, or -1 (with err, or with err untouched when emit returned
 * -1).
 */
int evt_saga_decide(struct evt_saga *s, int64_t now_ms, evt_saga_emit_fn emit,
    void *arg, struct evt_err *err);

/*
 * Rounds that may be taken back, for a service appending its decisions:
 * with journaling on, what each decision changes is kept until
 * evt_saga_commit (its reactions are stored: keep them) or evt_saga_undo
 * (they were not: the state is as before them, and their sagas owe them
 * again). Both may be called from the emit callback, between decisions.
 * Off by default; turning it on or off commits.
 */
void evt_saga_journal(struct evt_saga *s, int on);
void evt_saga_commit(struct evt_saga *s);
void evt_saga_undo(struct evt_saga *s);

/*
 * The decision id (a UUID string, borrowed) was found stored already when
 * its round was appended. After evt_saga_undo and folding what is new, a
 * decision still owed under that id was stored by none of the events
 * read: it is history this run no longer remembers (a transaction
 * finished long ago, ordered again), and the saga in hand is not decided
 * again. Forgotten when a round completes.
 */
void evt_saga_stored(struct evt_saga *s, const char *id);

/* The earliest deadline of an open saga (event time, ms), or INT64_MAX. */
int64_t evt_saga_next_deadline(const struct evt_saga *s);

/* Number of open sagas held (for tests of memory and for -v). */
size_t evt_saga_open(const struct evt_saga *s);

#endif
