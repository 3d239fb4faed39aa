/*
 * hist-check - for monitoring.bats: a histogram of the bounds given as
 * arguments, each number read from stdin observed once, written as
 * metrics to the file h.prom.
 */
#include <stdio.h>
#include <stdlib.h>

#include "metrics.h"

int
main(int argc, char **argv)
{
	static double bounds[64];
	struct evt_metrics *m = evt_metrics_new("h.prom", "hist-check");
	struct evt_metrics_hist *h;
	struct evt_err err;
	double v;
	int n = argc - 1;

	if (n > 64)
		return 2;
	for (int i = 0; i < n; i++)
		bounds[i] = strtod(argv[i + 1], NULL);
	h = evt_metrics_histogram(m, "t_seconds", "A test.", NULL, NULL,
	    bounds, (size_t)n);
	while (scanf("%lf", &v) == 1)
		evt_metrics_observe(h, v);
	if (evt_metrics_write(m, &err) < 0) {
		fprintf(stderr, "%s\n", err.msg);
		return 1;
	}
	evt_metrics_free(m);
	return 0;
}
