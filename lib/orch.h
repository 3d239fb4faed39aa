/*
 * orch.h - orchestrated sagas, defined as data (DESIGN §4 saga-orch,
 * saga-orch(5)): definitions loaded from JSON files, the state of each
 * saga folded from the events read, and the decisions an orchestrator
 * owes on that state.
 *
 * The model is saga-step's (saga.h): every event read is a fact; a saga
 * advances only through the orchestrator's own events (SagaStarted,
 * SagaStepStarted, ...), which are folded exactly as when they are read
 * back from the log, so a restarted orchestrator has its state back and
 * owes exactly what an uninterrupted one would still write. The id of each
 * own event is a name-based UUID of the saga's key and the decision (the
 * step, the attempt, which slot), never of the outcome, so the log holds at
 * most one outcome per decision whoever decided it; each carries the
 * expectedversion of the saga's stream, so of two orchestrators that
 * decide differently one is refused (75).
 */
#ifndef EVT_ORCH_H
#define EVT_ORCH_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "event.h"
#include "saga.h"

struct evt_orch;

/* A new orchestrator, with no definitions. */
struct evt_orch *evt_orch_new(void);
/* Free o; NULL is a no-op. */
void evt_orch_free(struct evt_orch *o);

/*
 * Load the definition in file (saga-orch(5)). Returns 0, or -1 with err:
 * EX_NOINPUT when the file cannot be read; EX_DATAERR when it is not JSON
 * ("FILE:LINE:COL: what") or not a definition ("FILE: PATH: what", PATH
 * the JSON path of the offending value, as in steps[1].retry.count), or
 * when it repeats the name and version of one loaded already.
 */
int evt_orch_load(struct evt_orch *o, const char *file, struct evt_err *err);

/* The number of definitions loaded, and the i-th's name, version and hash
 * (borrowed), for --check. */
size_t evt_orch_ndefs(const struct evt_orch *o);
void evt_orch_def_info(const struct evt_orch *o, size_t i, const char **name,
    long long *version, const char **hash, const char **file);

/*
 * Fold ev (borrowed) as a fact. now_ms stands in for the time of an event
 * without one. Returns EVT_SAGA_TAKEN; EVT_SAGA_ASIDE with err saying why,
 * for an event the orchestrator cannot use (a trigger without a key, a
 * saga whose definition is not loaded): that saga stops, every other goes
 * on; or -1 with err (EX_DATAERR) for a trigger without an id, or one of
 * the orchestrator's own events it cannot read, which is bad input.
 */
int evt_orch_fold(struct evt_orch *o, const struct evt_event *ev,
    int64_t now_ms, struct evt_err *err);

/*
 * Take every decision owed at the clock now_ms, saga by saga in the order
 * the sagas started, each event folded at once and then emitted (emit as
 * in saga.h). Events are stamped with the later of now_ms and their saga's
 * latest event time; a timer's (a timeout, a retry, the deadline) with its
 * due time. Returns 0, or -1 (with err, or err untouched when emit
 * returned -1).
 */
int evt_orch_decide(struct evt_orch *o, int64_t now_ms, evt_saga_emit_fn emit,
    void *arg, struct evt_err *err);

/* Rounds that may be taken back, as evt_saga_journal and friends. */
void evt_orch_journal(struct evt_orch *o, int on);
void evt_orch_commit(struct evt_orch *o);
void evt_orch_undo(struct evt_orch *o);
/* A decision id found stored already (see evt_saga_stored). */
void evt_orch_stored(struct evt_orch *o, const char *id);

/* The earliest time a timer of an open saga falls due (ms), or INT64_MAX. */
int64_t evt_orch_next_deadline(const struct evt_orch *o);

/*
 * Why an orchestrated saga failed, as the reason of its SagaFailed says
 * (saga-orch(5)): "step NAME failed", "step NAME timed out", "deadline
 * passed", "undo of step NAME exhausted".
 */
enum evt_orch_why {
	EVT_ORCH_WHY_NONE,		/* no reason, or none of those */
	EVT_ORCH_WHY_STEP_FAILED,
	EVT_ORCH_WHY_STEP_TIMED_OUT,
	EVT_ORCH_WHY_DEADLINE,
	EVT_ORCH_WHY_UNDO_EXHAUSTED
};

/* The reason of code why, step its step's name (unused by a code
 * without one), appended to b. */
void evt_orch_why_text(struct evt_buf *b, enum evt_orch_why why,
    const char *step);
/* The code of the reason p[0..n) (decoded; p NULL: none). */
enum evt_orch_why evt_orch_why(const char *p, size_t n);

/* What -v reports. */
struct evt_orch_counts {
	size_t open;		/* sagas open */
	long long started, completed, failed, stuck;
	long long dup, stale, unknown;	/* replies that changed nothing */
};
void evt_orch_counts(const struct evt_orch *o, struct evt_orch_counts *c);

#endif
