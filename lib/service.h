/*
 * service.h - the service loop that saga-step and saga-orch share: fold
 * the whole log, decide, append each round in chunks of one transaction,
 * and with follow, wake for new events or at the next deadline and go on.
 *
 * What decides is a table of functions (a decider): saga.h's and orch.h's
 * both fit it. A round whose append finds one of its ids stored already
 * (another instance decided meanwhile), or a stream moved under an
 * expectedversion, lost a race: what it had not stored is taken back
 * (undo), only what is new in the log is folded, and the round is taken
 * again, at once and then with back-off.
 */
#ifndef EVT_SERVICE_H
#define EVT_SERVICE_H

#include <stdint.h>

#include "err.h"
#include "event.h"
#include "log.h"
#include "reject.h"
#include "saga.h"

struct evt_decider {
	void *st;		/* the decider's state, borrowed */
	/*
	 * Fold one stored event (parsed, borrowed; at names it, "shop.db:
	 * seq 42", for a warning). A stored event is a fact: the decider
	 * never stops the service for one, it warns (through warn) and goes
	 * on. Returns what it made of it (EVT_SAGA_TAKEN, _REJECTED or
	 * _ASIDE), for the metrics.
	 */
	int (*fold)(void *st, const struct evt_event *ev, int64_t now,
	    const char *log, long long seq);
	int (*decide)(void *st, int64_t now, evt_saga_emit_fn emit, void *arg,
	    struct evt_err *err);
	void (*journal)(void *st, int on);
	void (*commit)(void *st);
	void (*undo)(void *st);
	void (*stored)(void *st, const char *id);
	int64_t (*next_deadline)(const void *st);
	/* A warning for people (stored events set aside, a server away). */
	void (*warn)(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
};

struct evt_service_stats {
	long long in;		/* stored events folded */
	long long appended;	/* decisions appended */
};

/*
 * The service's --metrics (evt_metrics, metrics.h), all borrowed. Every
 * service writes the events it read and wrote by type, the follower
 * gauges and its reactions by service and outcome (decided, lost_race,
 * set_aside). With sagas, it also follows the sagas in the events it
 * reads, by correlation id: the sagas in flight and stuck (in flight for longer than
 * stuck_ms by the clock), their outcomes (completed, cancelled,
 * rejected, failed, and compensated when a saga first gets a refund, a
 * release or an undo) and the seconds from creation to each
 * (evt_saga_duration_seconds). Memory for that follows the open sagas.
 */
/* The sagas a service follows for its metrics: saga-step's choreography
 * (TransactionCreated to TransactionCompleted, ...), or saga-orch's
 * (SagaStarted to SagaCompleted or SagaFailed). */
enum { EVT_SERVICE_SAGAS_CHOREOGRAPHY = 1, EVT_SERVICE_SAGAS_ORCHESTRATED };

struct evt_service_metrics {
	const char *path;	/* --metrics FILE; NULL: none of this */
	const char *program;	/* the program label */
	const char *service;	/* the service label of what is the
				 * process's own: saga-step's SERVICE, or
				 * "orch" */
	int sagas;		/* EVT_SERVICE_SAGAS_...: which sagas to
				 * follow, or 0: none */
	int64_t stuck_ms;	/* 0: 15 minutes */
};

/*
 * Run d as a service on the log spec: one round, or with follow until
 * SIGINT or SIGTERM (or stdout's reader goes away). With mx (may be
 * NULL) and its path, keep that textfile current: written before the
 * first round (a file that cannot be written is an error before any
 * work), every EVT_METRICS_INTERVAL_MS while the service runs, and at its
 * end. Returns 0, or -1 with err.
 */
int evt_service_run(const struct evt_decider *d, const char *spec, int follow,
    const struct evt_service_metrics *mx, struct evt_service_stats *stats,
    struct evt_err *err);

/*
 * The filter form of a decider (saga-step and saga-orch without -l):
 * read names[0..nin) in turn (none: standard input), parse each line into
 * ev, fold it with fold_input, pass it through to standard output unless
 * only_new, and once all the input is read decide once (at the clock of
 * the start, evt_clock_now), the decisions after. A bad line stops it
 * (unless reject takes it), and then nothing is decided. fold_input is
 * d's fold for an input event, which may refuse one as bad input (-1 with
 * err); what it made of one it takes other than EVT_SAGA_TAKEN is said by
 * warn_input, at "NAME:LINE". Errors are said on stderr; a reader of
 * standard output that went away ends it quietly. Returns the exit code.
 */
struct evt_service_filter {
	const struct evt_decider *d;
	int (*fold_input)(void *st, const struct evt_event *ev, int64_t now,
	    struct evt_err *err);
	void (*warn_input)(int k, const char *at, const struct evt_err *why);
	struct evt_reject *reject;	/* borrowed; NULL: none */
	int only_new;
};

int evt_service_filter(const struct evt_service_filter *f, char **names,
    int nin, struct evt_event *ev, struct evt_service_stats *stats);

#endif
