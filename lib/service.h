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
#include "saga.h"

struct evt_decider {
	void *st;		/* the decider's state, borrowed */
	/*
	 * Fold one stored event (parsed, borrowed; at names it, "shop.db:
	 * seq 42", for a warning). A stored event is a fact: the decider
	 * never stops the service for one, it warns (through warn) and goes
	 * on.
	 */
	void (*fold)(void *st, const struct evt_event *ev, int64_t now,
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
 * Run d as a service on the log spec: one round, or with follow until
 * SIGINT or SIGTERM (or stdout's reader goes away). Returns 0, or -1 with
 * err.
 */
int evt_service_run(const struct evt_decider *d, const char *spec, int follow,
    struct evt_service_stats *stats, struct evt_err *err);

#endif
