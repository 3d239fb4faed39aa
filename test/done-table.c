/*
 * done-table - the finished-saga table of lib/saga.c, made small so that it
 * evicts: every id of the last DONE_MAX added is found, cancelled or not,
 * and the ones before them are gone. Built and run by test/saga-step.bats.
 */
#define DONE_MAX (1u << 10)
#include "../lib/saga.c"

int
main(void)
{
	struct done d;
	char id[32];
	unsigned extra = 300, lost = 0, kept = 0;

	memset(&d, 0, sizeof(d));
	for (unsigned i = 0; i < DONE_MAX + extra; i++) {
		int n = snprintf(id, sizeof(id), "T%u", i);
		done_add(&d, (struct evt_sv){ id, (size_t)n }, i % 2, 0);
	}
	for (unsigned i = 0; i < DONE_MAX + extra; i++) {
		int n = snprintf(id, sizeof(id), "T%u", i);
		uint64_t e = done_get(&d, (struct evt_sv){ id, (size_t)n });
		if (i < extra)
			kept += e != 0;
		else if (e == 0 || !(e & DONE_CANCELLED) != !(i % 2))
			lost++;
	}
	printf("lost %u of the last %u, kept %u of the %u evicted\n", lost,
	    DONE_MAX, kept, extra);
	free(d.tab);
	free(d.ring);
	return lost || kept;
}
