/*
 * metrics.h - a long-running program's metrics as a node_exporter textfile
 * (--metrics FILE, DESIGN §4).
 *
 * The program keeps its counters and gauges in its own variables; a set
 * of metrics reads them by pointer and writes them whole to FILE with
 * evt_write_atomic (a temporary file beside it, renamed: node_exporter
 * never reads half a file, and reads only names ending in .prom), at a
 * steady interval and once more on exit. The text is the Prometheus
 * exposition format without timestamps: base units, counters named
 * `..._total`, a `program` label on every series, and only labels whose
 * values are few and known in advance (a queue, a reason; never an id, a
 * subject or a correlation id).
 *
 * Every function takes a NULL set and does nothing, so a program without
 * --metrics calls them all the same.
 */
#ifndef EVT_METRICS_H
#define EVT_METRICS_H

#include "buf.h"
#include "err.h"

/* How often evt_metrics_tick writes the file. */
#define EVT_METRICS_INTERVAL_MS 5000

enum evt_metric_kind { EVT_METRIC_COUNTER, EVT_METRIC_GAUGE };

struct evt_metrics;

/*
 * A new, empty set of metrics to be written to path, every series with
 * the label program="program". Both are copied. Returns the new set; free
 * it with evt_metrics_free (or hand it to evt_metrics_at_exit).
 */
struct evt_metrics *evt_metrics_new(const char *path, const char *program);
void evt_metrics_free(struct evt_metrics *m);

/*
 * Give every series of m the label name="value" too, after program (a
 * queue, an exchange: what tells two processes of one program apart in
 * one textfile directory). Copied. Only before the first evt_metrics_add.
 */
void evt_metrics_label(struct evt_metrics *m, const char *name,
    const char *value);

/*
 * Add a series of the family name (a counter's name ends in _total),
 * described by help, with one more label lname="lvalue" when lname is not
 * NULL. name, help and lname are borrowed (string literals); lvalue is
 * copied. Its value is *v, read each time the file is written: v is
 * borrowed and must stay valid as long as m, to the program's exit under
 * evt_metrics_at_exit (static storage). The series of a family are written
 * together, under one HELP and TYPE, in the order they were added.
 */
void evt_metrics_add(struct evt_metrics *m, enum evt_metric_kind kind,
    const char *name, const char *help, const char *lname,
    const char *lvalue, const long long *v);

/* Append the text of every series of m, as the file gets it, to out. */
void evt_metrics_format(const struct evt_metrics *m, struct evt_buf *out);

/*
 * Write the file now. Returns 0, or -1 with err (EX_CANTCREAT, EX_IOERR).
 * A program writes it once at its start, so that a FILE it cannot write
 * is an error before any work is done.
 */
int evt_metrics_write(struct evt_metrics *m, struct evt_err *err);
/*
 * Write the file if EVT_METRICS_INTERVAL_MS have passed (on the monotonic
 * clock) since it was last written; a clock read otherwise, so call it
 * from every turn of a main loop. Returns 0, or -1 with err when the
 * write failed and the last one had not: a failure goes on being retried
 * at each interval but is reported once, until a write succeeds again.
 */
int evt_metrics_tick(struct evt_metrics *m, struct evt_err *err);

/*
 * Write m once more when the program exits (return from main, exit(3),
 * evt_die), then free it: m is the module's from this call on. One set
 * per process; a failure then is not reported.
 */
void evt_metrics_at_exit(struct evt_metrics *m);

/* Append s to out as a label value: `\`, `"` and newlines escaped. */
void evt_metrics_escape(struct evt_buf *out, const char *s);

#endif
