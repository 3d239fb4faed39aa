/*
 * metrics.c - a program's metrics as a node_exporter textfile (metrics.h).
 * The file itself is written by evt_write_atomic (file.c), as audit-scan
 * writes its own.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "file.h"
#include "log.h"
#include "metrics.h"

/* A histogram's state: its buckets' own (not cumulative) counts, the
 * last for +Inf. */
struct evt_metrics_hist {
	const double *bounds;
	size_t n;
	long long *count;	/* n + 1 */
	long long total;
	double sum;
};

#define NTYPES 26	/* the known types, and "other" at 0 */

struct evt_metrics_types {
	struct evt_metrics *m;
	const char *name, *help;
	long long *v[NTYPES];	/* made when first counted */
};

struct evt_metrics_follower {
	struct evt_metrics *m;
	struct evt_metrics_types *read;	/* or NULL: copying */
	long long copied;		/* lines copied, when copying */
	long long last_seq, lag_events;
	double lag_seconds;
	int64_t event_ms;	/* the last event's time, or -1 */
	char time[40];		/* or its text, when event_ms is -2; -3:
				 * not known, ask the log (follower_line) */
	size_t timen;
};

enum { S_LL, S_DOUBLE, S_HIST };

struct series {
	enum evt_metric_kind kind;
	int how;		/* S_...: what v points at */
	const char *name, *help;
	char *labels;		/* `{program="...",...}`, escaped */
	const void *v;
	void *own;		/* what m keeps for it, freed with it */
};

struct evt_metrics {
	char *path;
	struct evt_buf labels;	/* the labels of every series, escaped,
				 * without braces */
	struct series *s;
	size_t n, cap;
	long long last_ms;	/* monotonic time of the last write, -1: none */
	int failing;		/* the last write failed */
	struct evt_buf text;	/* reused for each write */
	void **kept;		/* what m frees with itself */
	size_t nkept;
};

/* Free p with m. */
static void
keep(struct evt_metrics *m, void *p)
{
	if ((m->kept = realloc(m->kept, (m->nkept + 1) * sizeof(*m->kept))) ==
	    NULL)
		abort();
	m->kept[m->nkept++] = p;
}

void
evt_metrics_escape(struct evt_buf *out, const char *s)
{
	for (; *s; s++) {
		if (*s == '\n')
			evt_buf_adds(out, "\\n");
		else {
			if (*s == '\\' || *s == '"')
				evt_buf_addc(out, '\\');
			evt_buf_addc(out, *s);
		}
	}
}

static void
add_label(struct evt_buf *b, const char *name, const char *value)
{
	if (b->len)
		evt_buf_addc(b, ',');
	evt_buf_printf(b, "%s=\"", name);
	evt_metrics_escape(b, value);
	evt_buf_addc(b, '"');
}

struct evt_metrics *
evt_metrics_new(const char *path, const char *program)
{
	struct evt_metrics *m = calloc(1, sizeof(*m));

	if (m == NULL)
		abort();
	m->path = evt_strdup(path);
	m->last_ms = -1;
	add_label(&m->labels, "program", program);
	return m;
}

void
evt_metrics_free(struct evt_metrics *m)
{
	if (m == NULL)
		return;
	for (size_t i = 0; i < m->n; i++) {
		free(m->s[i].labels);
		if (m->s[i].how == S_HIST)
			free(((struct evt_metrics_hist *)m->s[i].own)->count);
		free(m->s[i].own);
	}
	free(m->s);
	for (size_t i = 0; i < m->nkept; i++)
		free(m->kept[i]);
	free(m->kept);
	free(m->path);
	evt_buf_free(&m->labels);
	evt_buf_free(&m->text);
	free(m);
}

void
evt_metrics_label(struct evt_metrics *m, const char *name, const char *value)
{
	if (m == NULL)
		return;
	add_label(&m->labels, name, value);
}

/* A new series of m; l2 NULL: one label of its own at most. */
static struct series *
add_series2(struct evt_metrics *m, enum evt_metric_kind kind, int how,
    const char *name, const char *help, const char *lname,
    const char *lvalue, const char *l2, const char *v2, const void *v)
{
	struct evt_buf b = EVT_BUF_INIT;

	if (m->n == m->cap) {
		m->cap = m->cap ? 2 * m->cap : 16;
		if ((m->s = realloc(m->s, m->cap * sizeof(*m->s))) == NULL)
			abort();
	}
	evt_buf_addc(&b, '{');
	evt_buf_add(&b, m->labels.p, m->labels.len);
	if (lname) {
		struct evt_buf l = EVT_BUF_INIT;
		add_label(&l, lname, lvalue);
		evt_buf_addc(&b, ',');
		evt_buf_add(&b, l.p, l.len);
		evt_buf_free(&l);
	}
	if (l2) {
		struct evt_buf l = EVT_BUF_INIT;
		add_label(&l, l2, v2);
		evt_buf_addc(&b, ',');
		evt_buf_add(&b, l.p, l.len);
		evt_buf_free(&l);
	}
	evt_buf_addc(&b, '}');
	m->s[m->n] = (struct series){ kind, how, name, help, b.p, v, NULL };
	return &m->s[m->n++];
}

static struct series *
add_series(struct evt_metrics *m, enum evt_metric_kind kind, int how,
    const char *name, const char *help, const char *lname,
    const char *lvalue, const void *v)
{
	return add_series2(m, kind, how, name, help, lname, lvalue, NULL, NULL,
	    v);
}

void
evt_metrics_add(struct evt_metrics *m, enum evt_metric_kind kind,
    const char *name, const char *help, const char *lname,
    const char *lvalue, const long long *v)
{
	if (m)
		add_series(m, kind, S_LL, name, help, lname, lvalue, v);
}

void
evt_metrics_add_double(struct evt_metrics *m, enum evt_metric_kind kind,
    const char *name, const char *help, const char *lname,
    const char *lvalue, const double *v)
{
	if (m)
		add_series(m, kind, S_DOUBLE, name, help, lname, lvalue, v);
}

long long *
evt_metrics_counter2(struct evt_metrics *m, enum evt_metric_kind kind,
    const char *name, const char *help, const char *l1, const char *v1,
    const char *l2, const char *v2)
{
	long long *v;

	if (m == NULL)
		return NULL;
	if ((v = calloc(1, sizeof(*v))) == NULL)
		abort();
	add_series2(m, kind, S_LL, name, help, l1, v1, l2, v2, v)->own = v;
	return v;
}

long long *
evt_metrics_counter(struct evt_metrics *m, enum evt_metric_kind kind,
    const char *name, const char *help, const char *lname,
    const char *lvalue)
{
	long long *v;

	if (m == NULL)
		return NULL;
	if ((v = calloc(1, sizeof(*v))) == NULL)
		abort();
	add_series(m, kind, S_LL, name, help, lname, lvalue, v)->own = v;
	return v;
}

struct evt_metrics_hist *
evt_metrics_histogram(struct evt_metrics *m, const char *name,
    const char *help, const char *lname, const char *lvalue,
    const double *bounds, size_t n)
{
	struct evt_metrics_hist *h;

	if (m == NULL)
		return NULL;
	if ((h = calloc(1, sizeof(*h))) == NULL ||
	    (h->count = calloc(n + 1, sizeof(*h->count))) == NULL)
		abort();
	h->bounds = bounds;
	h->n = n;
	/* A histogram has no kind of the two: format knows it by how. */
	add_series(m, EVT_METRIC_GAUGE, S_HIST, name, help, lname, lvalue,
	    h)->own = h;
	return h;
}

void
evt_metrics_observe(struct evt_metrics_hist *h, double v)
{
	size_t i = 0, n;

	if (h == NULL)
		return;
	/* The first bound not below v (or h->n), by halves: a saga's
	 * duration is most often past most bounds, where a linear search
	 * took a hundred instructions. */
	for (n = h->n; n > 0; n /= 2)
		if (v > h->bounds[i + n / 2]) {
			i += n / 2 + 1;
			n--;
		}
	h->count[i]++;
	h->total++;
	h->sum += v;
}

/*
 * The types a saga knows: saga-step's choreography (saga.h) and
 * saga-orch's own events (orch.h). Index 0 is "other".
 */
static const char *const known[NTYPES] = {
	"other",
	"InventoryAdjusted", "TransactionCreated", "PaymentProcessed",
	"PaymentFailed", "PaymentRefunded", "InventoryReserved",
	"InventoryUnavailable", "InventoryReleased", "OrderFulfilled",
	"OrderDelivered", "TransactionCompleted", "TransactionCancelled",
	"TransactionRejected", "TransactionCancelRequested",
	"SagaStarted", "SagaStepStarted", "SagaStepSucceeded",
	"SagaStepFailed", "SagaStepTimedOut", "SagaTimedOut",
	"SagaCompensating", "SagaCompensated", "SagaCompleted", "SagaFailed",
	"LogRechained"
};

/*
 * The look-up: a type's last eight bytes and its length, hashed by a
 * multiplier that gives every known type a slot of its own (found once,
 * the first time); the slot holds what the compare needs, in one cache
 * line. No probe sequence, no call of memcmp, no branch on the bytes: the
 * open-addressed table of names it replaces cost saga-step 13 ns an event.
 */
#define TBITS 7
#define TMIN 8			/* every known type is longer... */
#define TMAX 32			/* ...and shorter */
static struct tslot {
	uint64_t w[4];		/* the type's words: 0, 8, 16 and its last */
	unsigned char len, i;	/* its length and index; len 0: empty */
} __attribute__((aligned(64))) tslot[1 << TBITS];
static uint64_t tmul;

/* Load a word of p[i..i+8). */
static inline uint64_t
word(const char *p, size_t i)
{
	uint64_t w;

	memcpy(&w, p + i, 8);
	return w;
}

static void
tables(void)
{
	/* Odd multiples of the golden ratio until one fits: the 14th, for
	 * the types of today. */
	for (uint64_t k = 1; k < 100000; k++) {
		int i;
		tmul = (k * 0x9e3779b97f4a7c15ULL) | 1;
		memset(tslot, 0, sizeof(tslot));
		for (i = 1; i < NTYPES; i++) {
			size_t n = strlen(known[i]);
			struct tslot *e;
			if (n < TMIN || n > TMAX)
				abort();
			e = &tslot[((word(known[i], n - 8) + n) * tmul) >>
			    (64 - TBITS)];
			if (e->len)
				break;
			*e = (struct tslot){ { word(known[i], 0), n > 16 ?
			    word(known[i], 8) : 0, n > 24 ? word(known[i], 16) :
			    0, word(known[i], n - 8) }, (unsigned char)n,
			    (unsigned char)i };
		}
		if (i == NTYPES)
			return;
	}
	abort();	/* two known types alike in their last bytes */
}

int
evt_metrics_type_index(const char *t, size_t n)
{
	const struct tslot *e;
	uint64_t last, d;

	if (tmul == 0)
		tables();
	if (n < TMIN || n > TMAX)
		return 0;
	last = word(t, n - 8);
	e = &tslot[((last + n) * tmul) >> (64 - TBITS)];
	/* Four words at most, the last overlapping, compared at once. */
	d = (e->w[0] ^ word(t, 0)) | (e->w[3] ^ last);
	if (n > 16)
		d |= e->w[1] ^ word(t, 8);
	if (n > 24)
		d |= e->w[2] ^ word(t, 16);
	return e->len == n && d == 0 ? e->i : 0;
}

const char *
evt_metrics_type_name(int i)
{
	return i > 0 && i < NTYPES ? known[i] : known[0];
}

struct evt_metrics_types *
evt_metrics_types(struct evt_metrics *m, const char *name, const char *help)
{
	struct evt_metrics_types *ts;

	if (m == NULL)
		return NULL;
	if ((ts = calloc(1, sizeof(*ts))) == NULL)
		abort();
	ts->m = m;
	ts->name = name;
	ts->help = help;
	/* Its "other" series now, so that the family is there from the
	 * first write. */
	ts->v[0] = evt_metrics_counter(m, EVT_METRIC_COUNTER, name, help,
	    "type", known[0]);
	keep(m, ts);
	return ts;
}

void
evt_metrics_types_count(struct evt_metrics_types *ts, const char *t, size_t n,
    long long k)
{
	if (ts)
		evt_metrics_types_count_index(ts, evt_metrics_type_index(t, n), k);
}

/* The series of a type first seen: apart, so that a count inlines. */
static __attribute__((noinline, cold)) void
type_series(struct evt_metrics_types *ts, int i)
{
	ts->v[i] = evt_metrics_counter(ts->m, EVT_METRIC_COUNTER, ts->name,
	    ts->help, "type", known[i]);
}

void
evt_metrics_types_count_index(struct evt_metrics_types *ts, int i, long long k)
{
	if (ts == NULL)
		return;
	if (i < 0 || i >= NTYPES)
		i = 0;
	if (__builtin_expect(ts->v[i] == NULL, 0))
		type_series(ts, i);
	*ts->v[i] += k;
}

/* The string value of "key":" at or after p, in line; NULL if none. */
static const char *
scan_str(const char *p, const char *end, const char *key, size_t keyn,
    size_t *n)
{
	const char *q = memmem(p, (size_t)(end - p), key, keyn), *e;

	if (q == NULL)
		return NULL;
	q += keyn;
	if ((e = memchr(q, '"', (size_t)(end - q))) == NULL)
		return NULL;
	*n = (size_t)(e - q);
	return q;
}

/* Bytes of w equal to c: the high bit of each, exact up to the first
 * (above it, a byte after a match may show as one too). */
#define ONES 0x0101010101010101ULL
static inline uint64_t
bytes_eq(uint64_t w, unsigned char c)
{
	uint64_t v = w ^ (ONES * c);

	return (v - ONES) & ~v & (ONES << 7);
}

/*
 * The end of the JSON string whose text begins at p: its closing quote,
 * or NULL when there is none before end. Eight bytes at a time: the
 * strings of an envelope are short, and a call of memchr for each cost
 * more than the search.
 */
static inline const char *
str_end(const char *p, const char *end)
{
	uint64_t w, hit;

	while (p < end) {
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
		if (end - p >= 8) {
			memcpy(&w, p, 8);
			if ((hit = bytes_eq(w, '"') | bytes_eq(w, '\\')) == 0) {
				p += 8;
				continue;
			}
			p += __builtin_ctzll(hit) / 8;
		}
#endif
		if (*p == '"')
			return p;
		/* An escape: its next byte is not the end (nor is any
		 * of a \uXXXX's). */
		p += *p == '\\' ? 2 : 1;
	}
	return NULL;
}

/*
 * The member whose key (with its colon and the value's opening quote,
 * keyn bytes) is at *p, a string: its text, *n its length, and *p moved
 * past its closing quote; NULL when *p holds something else.
 */
static inline __attribute__((always_inline)) const char *
member(const char **p, const char *end, const char *key, size_t keyn,
    size_t *n)
{
	/* Inlined, its keyn is a constant: the compare is a few loads. */
	const char *v = *p + keyn, *q;

	if ((size_t)(end - *p) < keyn || memcmp(*p, key, keyn) != 0 ||
	    (q = str_end(v, end)) == NULL)
		return NULL;
	*n = (size_t)(q - v);
	*p = q + 1;
	return v;
}

#define MEMBER(p, end, key, n) member(&(p), (end), (key), sizeof(key) - 1, (n))

/*
 * The envelope of a line as the log stores it (event.c's render): its
 * members in one order, each string as its producer wrote it: one pass
 * over the first hundred-odd bytes, where a search for each member
 * through the line (memmem) cost a third of evt-replay's time. *t gets
 * the type and, when time is not NULL, *time the time. Returns 0, or -1
 * when the line is not of that form.
 */
static inline __attribute__((always_inline)) int
scan_stored(const char *line, size_t len, const char **t, size_t *tn,
    const char **time, size_t *timen)
{
	const char *p = line, *end = line + len;
	size_t n;

	if (MEMBER(p, end, "{\"specversion\":\"1.0\",\"id\":\"", &n) == NULL ||
	    MEMBER(p, end, ",\"source\":\"", &n) == NULL ||
	    (*t = MEMBER(p, end, ",\"type\":\"", tn)) == NULL)
		return -1;
	if (time == NULL)
		return 0;
	if (MEMBER(p, end, ",\"subject\":\"", &n) == NULL)
		return -1;
	/* The time, always in one form (clock.h). */
	if ((size_t)(end - p) > 9 + EVT_TIME_LEN &&
	    memcmp(p, ",\"time\":\"", 9) == 0 && p[9 + EVT_TIME_LEN] == '"') {
		*time = p + 9;
		*timen = EVT_TIME_LEN;
		return 0;
	}
	return (*time = MEMBER(p, end, ",\"time\":\"", timen)) ? 0 : -1;
}

/* The end of a line's envelope: where its data begins, or its end. */
static const char *
envelope_end(const char *line, size_t len)
{
	const char *data = memmem(line, len, "\"data\":", 7);

	return data ? data : line + len;
}

const char *
evt_metrics_line_type(const char *line, size_t len, size_t *tn)
{
	const char *t;

	if (scan_stored(line, len, &t, tn, NULL, NULL) == 0)
		return t;
	/* Any other line: only the envelope, as what a "type" in the data
	 * says is not it. */
	return scan_str(line, envelope_end(line, len), "\"type\":\"", 8, tn);
}

/* A line's time, as evt_metrics_line_type its type. */
static const char *
line_time(const char *line, size_t len, size_t *timen)
{
	const char *t, *time;
	size_t tn;

	if (scan_stored(line, len, &t, &tn, &time, timen) == 0)
		return time;
	return scan_str(line, envelope_end(line, len), "\"time\":\"", 8, timen);
}

/* A follower: what it takes in, by type when typed, then its gauges. */
static struct evt_metrics_follower *
follower_new(struct evt_metrics *m, int typed)
{
	struct evt_metrics_follower *f;

	if (m == NULL)
		return NULL;
	if ((f = calloc(1, sizeof(*f))) == NULL)
		abort();
	f->m = m;
	f->event_ms = -1;
	if (typed)
		f->read = evt_metrics_types(m, "evt_events_read_total",
		    "Events taken in from the log, by type (\"other\" for "
		    "types no saga knows).");
	else
		evt_metrics_add(m, EVT_METRIC_COUNTER,
		    "evt_events_replayed_total", "Events copied out of the log, "
		    "of every type (they are not parsed).", NULL, NULL,
		    &f->copied);
	evt_metrics_add(m, EVT_METRIC_GAUGE, "evt_log_last_seq",
	    "The seq of the log's last event.", NULL, NULL, &f->last_seq);
	evt_metrics_add(m, EVT_METRIC_GAUGE, "evt_follower_lag_events",
	    "Events in the log past what the program has taken in.", NULL,
	    NULL, &f->lag_events);
	evt_metrics_add_double(m, EVT_METRIC_GAUGE, "evt_follower_lag_seconds",
	    "How old the last event taken in is, when the program is behind "
	    "the log; 0 when it is not.", NULL, NULL, &f->lag_seconds);
	keep(m, f);
	return f;
}

struct evt_metrics_follower *
evt_metrics_follower(struct evt_metrics *m)
{
	return follower_new(m, 1);
}

struct evt_metrics_follower *
evt_metrics_follower_copying(struct evt_metrics *m)
{
	return follower_new(m, 0);
}

void
evt_metrics_follower_event(struct evt_metrics_follower *f, const char *t,
    size_t n, int64_t time_ms)
{
	if (f == NULL)
		return;
	evt_metrics_types_count(f->read, t, n, 1);
	if (time_ms >= 0)
		f->event_ms = time_ms;
}

void
evt_metrics_follower_event_index(struct evt_metrics_follower *f, int i,
    int64_t time_ms)
{
	if (f == NULL)
		return;
	evt_metrics_types_count_index(f->read, i, 1);
	if (time_ms >= 0)
		f->event_ms = time_ms;
}

void
evt_metrics_follower_line(struct evt_metrics_follower *f)
{
	if (f == NULL)
		return;
	f->copied++;
	f->event_ms = -3;
}

void
evt_metrics_follower_line_time(struct evt_metrics_follower *f,
    const char *line, size_t len)
{
	const char *tm;
	size_t tmn = 0;

	if (f == NULL)
		return;
	f->event_ms = -1;
	if ((tm = line_time(line, len, &tmn)) != NULL && tmn < sizeof(f->time)) {
		memcpy(f->time, tm, tmn);
		f->timen = tmn;
		f->event_ms = -2;
	}
}

/* evt_log_read's callback for the time of one event. */
static int
one_time(void *arg, long long seq, const char *line, size_t len)
{
	(void)seq;
	evt_metrics_follower_line_time(arg, line, len);
	return 1;
}

void
evt_metrics_follower_set(struct evt_metrics_follower *f, long long last_seq,
    long long at_seq, int64_t now_ms)
{
	int64_t ms;

	if (f == NULL)
		return;
	if (f->event_ms == -2)
		f->event_ms = evt_time_parse(f->time, f->timen, &ms) == 0 ? ms : -1;
	f->last_seq = last_seq;
	f->lag_events = last_seq > at_seq ? last_seq - at_seq : 0;
	f->lag_seconds = f->lag_events && f->event_ms >= 0 &&
	    now_ms > f->event_ms ? (double)(now_ms - f->event_ms) / 1000 : 0;
}

int
evt_metrics_follower_tick(struct evt_metrics_follower *f, struct evt_log *log,
    int ask, long long at_seq, int force, struct evt_err *err)
{
	long long last = 0;
	int64_t now;

	if (f == NULL || (!force && !evt_metrics_due(f->m)))
		return 0;
	if (ask && evt_log_last_seq(log, &last, err) == 0)
		f->last_seq = last;
	if (f->last_seq < at_seq)
		f->last_seq = at_seq;
	/* Behind, the lag in seconds is the age of the event at at_seq,
	 * asked of the log only now (once a write): a stored line's time
	 * is not looked for as it goes by. */
	if (f->event_ms == -3) {
		f->event_ms = -1;
		if (ask && f->last_seq > at_seq && at_seq > 0) {
			struct evt_read rd = { .after = at_seq - 1, .limit = 1 };
			struct evt_err e2 = { 0 };
			(void)evt_log_read(log, &rd, one_time, f, &e2);
		}
	}
	if (evt_clock_now(&now, err) < 0)
		now = 0;
	evt_metrics_follower_set(f, f->last_seq, at_seq, now);
	return force ? evt_metrics_write(f->m, err) : evt_metrics_tick(f->m, err);
}

int
evt_metrics_due(const struct evt_metrics *m)
{
	return m && (m->last_ms < 0 ||
	    evt_mono_ms() - m->last_ms >= EVT_METRICS_INTERVAL_MS);
}

/* A value as the format wants it: a whole number as such, else enough
 * digits to read the same double back. */
static void
put_double(struct evt_buf *out, double v)
{
	if (v == (double)(long long)v && v > -1e15 && v < 1e15)
		evt_buf_printf(out, "%lld", (long long)v);
	else
		evt_buf_printf(out, "%.15g", v);
}

static void
put_hist(struct evt_buf *out, const struct series *s)
{
	const struct evt_metrics_hist *h = s->v;
	size_t ln = strlen(s->labels) - 1;	/* without the '}' */
	long long cum = 0;

	for (size_t i = 0; i <= h->n; i++) {
		cum += h->count[i];
		evt_buf_printf(out, "%s_bucket%.*s,le=\"", s->name, (int)ln,
		    s->labels);
		if (i < h->n)
			put_double(out, h->bounds[i]);
		else
			evt_buf_adds(out, "+Inf");
		evt_buf_printf(out, "\"} %lld\n", cum);
	}
	evt_buf_printf(out, "%s_sum%s ", s->name, s->labels);
	put_double(out, h->sum);
	evt_buf_printf(out, "\n%s_count%s %lld\n", s->name, s->labels, h->total);
}

void
evt_metrics_format(const struct evt_metrics *m, struct evt_buf *out)
{
	static const char *const type[] = { "counter", "gauge" };

	if (m == NULL)
		return;
	/* A family once, with all its series, wherever they were added:
	 * the format wants them together. A few dozen series: n^2 is
	 * nothing. */
	for (size_t i = 0; i < m->n; i++) {
		const struct series *s = &m->s[i];
		size_t j;
		for (j = 0; j < i && strcmp(m->s[j].name, s->name); j++)
			;
		if (j < i)
			continue;
		evt_buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", s->name,
		    s->help, s->name, s->how == S_HIST ? "histogram" :
		    type[s->kind]);
		for (j = i; j < m->n; j++) {
			const struct series *x = &m->s[j];
			if (strcmp(x->name, s->name) != 0)
				continue;
			if (x->how == S_HIST)
				put_hist(out, x);
			else {
				evt_buf_printf(out, "%s%s ", x->name, x->labels);
				if (x->how == S_DOUBLE)
					put_double(out, *(const double *)x->v);
				else
					evt_buf_printf(out, "%lld",
					    *(const long long *)x->v);
				evt_buf_addc(out, '\n');
			}
		}
	}
}

int
evt_metrics_write(struct evt_metrics *m, struct evt_err *err)
{
	if (m == NULL)
		return 0;
	m->last_ms = evt_mono_ms();
	evt_buf_reset(&m->text);
	evt_metrics_format(m, &m->text);
	/* 0644: node_exporter runs as a user of its own. */
	m->failing = evt_write_atomic(m->path, m->text.p ? m->text.p : "",
	    m->text.len, 0644, 0, err) < 0;
	return m->failing ? -1 : 0;
}

int
evt_metrics_tick(struct evt_metrics *m, struct evt_err *err)
{
	if (m == NULL || (m->last_ms >= 0 &&
	    evt_mono_ms() - m->last_ms < EVT_METRICS_INTERVAL_MS))
		return 0;
	int was = m->failing;
	if (evt_metrics_write(m, err) < 0 && !was)
		return -1;
	return 0;
}

static struct evt_metrics *at_exit;

static void
write_at_exit(void)
{
	struct evt_err err;

	evt_metrics_write(at_exit, &err);
	evt_metrics_free(at_exit);
	at_exit = NULL;
}

void
evt_metrics_at_exit(struct evt_metrics *m)
{
	if (m == NULL)
		return;
	if (at_exit == NULL)
		atexit(write_at_exit);
	else
		evt_metrics_free(at_exit);
	at_exit = m;
}
