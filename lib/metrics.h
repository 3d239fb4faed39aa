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

#include <stddef.h>
#include <stdint.h>

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

/*
 * As evt_metrics_add, for a value that is not a whole number (seconds
 * of lag): *v, borrowed as there.
 */
void evt_metrics_add_double(struct evt_metrics *m, enum evt_metric_kind kind,
    const char *name, const char *help, const char *lname,
    const char *lvalue, const double *v);

/*
 * A series as evt_metrics_add's, whose value m keeps: returns a pointer
 * to it, zero, owned by m and valid as long as m (NULL when m is NULL).
 * For series made as they are first needed.
 */
long long *evt_metrics_counter(struct evt_metrics *m, enum evt_metric_kind kind,
    const char *name, const char *help, const char *lname,
    const char *lvalue);
/* The same, with two labels of its own (l1 and l2 may not be NULL). */
long long *evt_metrics_counter2(struct evt_metrics *m,
    enum evt_metric_kind kind, const char *name, const char *help,
    const char *l1, const char *v1, const char *l2, const char *v2);

/*
 * A histogram: the family name (in base units, seconds), described by
 * help, with an optional label lname="lvalue" as evt_metrics_add's and
 * the upper bounds bounds[0..n) (ascending, borrowed: static storage),
 * written as Prometheus wants it: cumulative name_bucket{...,le="B"}
 * series, le="+Inf", then name_sum and name_count. Returns the histogram,
 * owned by m (NULL when m is NULL). The series of one family are written
 * together, as for evt_metrics_add.
 */
struct evt_metrics_hist;
struct evt_metrics_hist *evt_metrics_histogram(struct evt_metrics *m,
    const char *name, const char *help, const char *lname,
    const char *lvalue, const double *bounds, size_t n);
/* Count the observation v in h; NULL h is a no-op. */
void evt_metrics_observe(struct evt_metrics_hist *h, double v);

/*
 * A counter family name{...,type="T"} of events by type, bounded: T is
 * one of the types the store's sagas know (the choreography of
 * saga-step(1), the orchestrator's Saga... events of saga-orch(1)), or
 * "other" for every other type, so that no input can make a series of
 * its own. A type's series is made the first time it is counted. Owned
 * by m (NULL when m is NULL).
 */
struct evt_metrics_types;
struct evt_metrics_types *evt_metrics_types(struct evt_metrics *m,
    const char *name, const char *help);
/* Count k events of type t[0..n) in ts; NULL ts is a no-op. */
void evt_metrics_types_count(struct evt_metrics_types *ts, const char *t,
    size_t n, long long k);
/* The same by the type's index (evt_metrics_type_index). */
void evt_metrics_types_count_index(struct evt_metrics_types *ts, int i,
    long long k);
/*
 * The index of type t[0..n) among the known types, from 1, or 0 for
 * "other"; and the name of index i (borrowed, static).
 */
int evt_metrics_type_index(const char *t, size_t n);
const char *evt_metrics_type_name(int i);

/*
 * The envelope's type in a stored line, found without parsing the line
 * (the log stores envelopes in one order, type before data): returns it,
 * borrowed from line, with *tn its length, or NULL.
 */
const char *evt_metrics_line_type(const char *line, size_t len, size_t *tn);

/*
 * What every follower of a log writes: evt_events_read_total{type} (the
 * events it took in, by type as evt_metrics_types), evt_log_last_seq,
 * evt_follower_lag_events (how many events the log holds past what the
 * program has taken in) and evt_follower_lag_seconds (0 when it has
 * taken everything in, else how old the last event it took in is by the
 * clock). Owned by m (NULL when m is NULL); every function below takes a
 * NULL f and does nothing.
 */
struct evt_metrics_follower;
struct evt_metrics_follower *evt_metrics_follower(struct evt_metrics *m);
/* An event taken in: its type t[0..n), its time (ms; < 0: none). */
void evt_metrics_follower_event(struct evt_metrics_follower *f, const char *t,
    size_t n, int64_t time_ms);
/* The same by the type's index (evt_metrics_type_index). */
void evt_metrics_follower_event_index(struct evt_metrics_follower *f, int i,
    int64_t time_ms);
/*
 * A follower that copies stored lines without parsing them (evt-replay):
 * instead of evt_events_read_total{type}, a counter of all types,
 * evt_events_replayed_total. Finding each line's type, only to count it,
 * cost a program that does nothing else with a line 10% of its time
 * (issue 27 asks 2% at most of --metrics).
 * evt_metrics_follower_line counts a line copied; the lag in seconds is
 * asked of the log when the gauges are set by evt_metrics_follower_tick,
 * unless evt_metrics_follower_line_time gives it first, from the line
 * itself (for a tick inside a read, where the log cannot be asked).
 */
struct evt_metrics_follower *evt_metrics_follower_copying(
    struct evt_metrics *m);
void evt_metrics_follower_line(struct evt_metrics_follower *f);
void evt_metrics_follower_line_time(struct evt_metrics_follower *f,
    const char *line, size_t len);
/*
 * Set the gauges: the log's last seq, the seq the program has taken in
 * up to, and the clock (ms).
 */
void evt_metrics_follower_set(struct evt_metrics_follower *f,
    long long last_seq, long long at_seq, int64_t now_ms);
/*
 * When the metrics are due (or with force), set the gauges, asking log
 * for its last seq when ask (not from inside a read of it; else the last
 * seq known, or at_seq if more), and write the file (evt_metrics_tick:
 * with force, evt_metrics_write). Returns 0, or -1 with err as they do.
 */
struct evt_log;
int evt_metrics_follower_tick(struct evt_metrics_follower *f,
    struct evt_log *log, int ask, long long at_seq, int force,
    struct evt_err *err);

/*
 * Whether evt_metrics_tick would write now: a program computes what is
 * costly to know (the log's last seq) only then. 0 for a NULL m.
 */
int evt_metrics_due(const struct evt_metrics *m);

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
