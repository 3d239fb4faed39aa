/*
 * pace.c - the schedule of a paced replay (see pace.h).
 */
#include <time.h>

#include "pace.h"

static int64_t
mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void
evt_pace_init(struct evt_pace *p, double factor)
{
	p->factor = factor;
	p->started = 0;
	p->t0_ms = 0;
	p->m0_ns = 0;
}

int64_t
evt_pace_due(struct evt_pace *p, int64_t t_ms)
{
	double off;
	int64_t now = mono_ns(), due;

	if (!p->started) {
		p->started = 1;
		p->t0_ms = t_ms;
		p->m0_ns = now;
		return 0;
	}
	/* An event stamped before the first (a clock that went back) is
	 * due at once. */
	off = (double)(t_ms - p->t0_ms) * 1e6 / p->factor;
	if (off <= 0)
		return 0;
	if (off > 9e18)
		off = 9e18;
	due = p->m0_ns + (int64_t)off;
	return due > now ? due - now : 0;
}

void
evt_pace_sleep(int64_t ns, int64_t max_ns)
{
	struct timespec ts;

	if (ns > max_ns)
		ns = max_ns;
	if (ns <= 0)
		return;
	ts.tv_sec = ns / 1000000000;
	ts.tv_nsec = ns % 1000000000;
	nanosleep(&ts, NULL);
}
