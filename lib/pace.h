/*
 * pace.h - events written at the pace they happened (evt-replay --pace):
 * each event is due at the wall time of the first one plus its distance
 * from the first event's time, divided by a factor. Due times are kept
 * absolute (CLOCK_MONOTONIC), so a long replay does not drift: a late
 * write makes the next one wait less, never the schedule slip.
 */
#ifndef EVT_PACE_H
#define EVT_PACE_H

#include <stdint.h>

struct evt_pace {
	double factor;		/* 1: real time; 60: a minute a second */
	int started;
	int64_t t0_ms;		/* the first event's time */
	int64_t m0_ns;		/* the monotonic clock when it was written */
};

/* Start a schedule at factor (> 0). */
void evt_pace_init(struct evt_pace *p, double factor);

/*
 * The nanoseconds until an event of time t_ms is due (0: due now, or
 * late); the first event is due at once and starts the schedule.
 */
int64_t evt_pace_due(struct evt_pace *p, int64_t t_ms);

/* Sleep until at most ns from now, and no more than max_ns. */
void evt_pace_sleep(int64_t ns, int64_t max_ns);

#endif
