#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "decimal.h"
#include "hmap.h"
#include "json.h"
#include "project.h"
#include "rows.h"
#include "top.h"

#define TYPES_MAX 64		/* types shown apart; the rest are "other" */
#define SECS 60			/* the per-second history kept */
#define RATE_SECS 10		/* the rate shown: events over the last 10 s */
#define DUR_KEEP 10000		/* outcomes kept for the percentile */
#define DONE_KEEP 65536		/* finished sagas kept for late compensations */
#define FINDINGS_TAIL 65536	/* the bytes of the findings file read */
#define FINDINGS_KEEP 5

struct tstat {
	char *name;
	long long total;
	int64_t sec[SECS];	/* the second each slot counts */
	long long cnt[SECS];
};

struct saga {
	int64_t started;
	int has_start, done, comp;
};

struct durs {
	int64_t v[DUR_KEEP];
	size_t n, next;
};

struct evt_top {
	struct evt_top_opts o;
	struct tstat type[TYPES_MAX + 1];	/* the last: "other" */
	size_t ntype;
	struct evt_hmap tidx;	/* type -> index */
	long long events, last_seq;
	int64_t last_time;
	struct evt_hmap sagas;	/* correlation id -> struct saga * */
	long long flight, completed, cancelled, rejected, compensated;
	char **done;		/* ring of finished sagas' keys */
	size_t ndone, done_next;
	struct durs dur_ok, dur_cancel;
	struct evt_proj *sales, *inv;
	struct evt_buf tmp, key;
};

struct evt_top *
evt_top_new(const struct evt_top_opts *o, struct evt_err *err)
{
	struct evt_top *t = calloc(1, sizeof(*t));

	if (t == NULL || (t->done = calloc(DONE_KEEP, sizeof(*t->done))) == NULL)
		abort();
	t->o = *o;
	t->type[TYPES_MAX].name = strdup("(other types)");
	if (t->type[TYPES_MAX].name == NULL)
		abort();
	if ((t->sales = evt_proj_new("sales", NULL, err)) == NULL ||
	    (t->inv = evt_proj_new("inventory", NULL, err)) == NULL) {
		evt_top_free(t);
		return NULL;
	}
	return t;
}

static void
free_saga(void *arg, const char *k, size_t n, long long v)
{
	(void)arg; (void)k; (void)n;
	free((void *)(intptr_t)v);
}

void
evt_top_free(struct evt_top *t)
{
	if (t == NULL)
		return;
	for (size_t i = 0; i <= TYPES_MAX; i++)
		free(t->type[i].name);
	evt_hmap_free(&t->tidx);
	evt_hmap_each(&t->sagas, free_saga, NULL);
	evt_hmap_free(&t->sagas);
	for (size_t i = 0; i < DONE_KEEP; i++)
		free(t->done[i]);
	free(t->done);
	evt_proj_free(t->sales);
	evt_proj_free(t->inv);
	evt_buf_free(&t->tmp);
	evt_buf_free(&t->key);
	free(t);
}

static struct tstat *
type_stat(struct evt_top *t, const char *p, size_t n)
{
	long long *i = evt_hmap_get(&t->tidx, p, n);

	if (i)
		return &t->type[*i];
	if (t->ntype == TYPES_MAX)
		return &t->type[TYPES_MAX];
	struct tstat *s = &t->type[t->ntype];
	if ((s->name = strndup(p, n)) == NULL)
		abort();
	evt_hmap_put(&t->tidx, p, n, (long long)t->ntype++);
	return s;
}

static void
count(struct tstat *s, const struct evt_event *ev)
{
	s->total++;
	if (ev->slot[EVT_F_TIME] < 0)
		return;
	int64_t sec = ev->time_ms >= 0 ? ev->time_ms / 1000 :
	    -((-ev->time_ms + 999) / 1000);
	size_t i = (size_t)(((sec % SECS) + SECS) % SECS);
	if (s->sec[i] != sec) {
		if (s->sec[i] > sec && s->cnt[i])
			return;	/* older than the minute the slot holds */
		s->sec[i] = sec;
		s->cnt[i] = 0;
	}
	s->cnt[i]++;
}

static int
is(const struct evt_event *ev, const char *type)
{
	size_t n = strlen(type);

	return ev->type.n == n && memcmp(ev->type.p, type, n) == 0;
}

static void
dur_add(struct durs *d, int64_t ms)
{
	d->v[d->next] = ms;
	d->next = (d->next + 1) % DUR_KEEP;
	if (d->n < DUR_KEEP)
		d->n++;
}

/* A finished saga is kept for compensations that follow its outcome;
 * the oldest of DONE_KEEP goes. */
static void
finish(struct evt_top *t, const char *k, size_t n)
{
	char *old = t->done[t->done_next];

	if (old) {
		long long *v = evt_hmap_get(&t->sagas, old, strlen(old));
		if (v) {
			free((void *)(intptr_t)*v);
			evt_hmap_del(&t->sagas, old, strlen(old));
		}
		free(old);
	}
	if ((t->done[t->done_next] = strndup(k, n)) == NULL)
		abort();
	t->done_next = (t->done_next + 1) % DONE_KEEP;
}

static void
saga_event(struct evt_top *t, const struct evt_event *ev)
{
	const struct evt_str *c = ev->corr.p ? &ev->corr : &ev->id;
	long long *v;
	struct saga *s;

	if (c->p == NULL || c->n == 0 || memchr(c->p, '\0', c->n))
		return;
	if ((v = evt_hmap_get(&t->sagas, c->p, c->n)) == NULL) {
		if (!is(ev, "TransactionCreated"))
			return;
		if ((s = calloc(1, sizeof(*s))) == NULL)
			abort();
		s->has_start = ev->slot[EVT_F_TIME] >= 0;
		s->started = ev->time_ms;
		evt_hmap_put(&t->sagas, c->p, c->n, (long long)(intptr_t)s);
		t->flight++;
		return;
	}
	s = (struct saga *)(intptr_t)*v;
	int ok = is(ev, "TransactionCompleted");
	if (!s->done && (ok || is(ev, "TransactionCancelled") ||
	    is(ev, "TransactionRejected"))) {
		s->done = 1;
		t->flight--;
		if (ok)
			t->completed++;
		else if (is(ev, "TransactionCancelled"))
			t->cancelled++;
		else
			t->rejected++;
		if (s->has_start && ev->slot[EVT_F_TIME] >= 0 &&
		    !is(ev, "TransactionRejected"))
			dur_add(ok ? &t->dur_ok : &t->dur_cancel,
			    ev->time_ms - s->started);
		finish(t, c->p, c->n);
	} else if (!s->comp && (is(ev, "PaymentRefunded") ||
	    is(ev, "InventoryReleased"))) {
		s->comp = 1;
		t->compensated++;
	}
}

int
evt_top_event(struct evt_top *t, const struct evt_event *ev,
    struct evt_err *err)
{
	struct evt_err e2;

	t->events++;
	if (ev->slot[EVT_F_SEQ] >= 0 && ev->seq > t->last_seq)
		t->last_seq = ev->seq;
	if (ev->slot[EVT_F_TIME] >= 0 && ev->time_ms > t->last_time)
		t->last_time = ev->time_ms;
	count(type_stat(t, ev->type.p, ev->type.n), ev);
	saga_event(t, ev);
	int a = evt_proj_fold(t->sales, ev, err);
	int b = evt_proj_fold(t->inv, ev, a < 0 ? &e2 : err);
	return a < 0 || b < 0 ? -1 : 0;
}

struct stuck_arg {
	int64_t before;
	long long n;
};

static void
stuck_one(void *arg, const char *k, size_t n, long long v)
{
	struct stuck_arg *a = arg;
	const struct saga *s = (const struct saga *)(intptr_t)v;

	(void)k; (void)n;
	if (!s->done && s->has_start && s->started < a->before)
		a->n++;
}

void
evt_top_sagas(const struct evt_top *t, int64_t now_ms, long long *flight,
    long long *stuck, long long *done)
{
	struct stuck_arg a = { now_ms - t->o.stuck_after_ms, 0 };

	evt_hmap_each(&t->sagas, stuck_one, &a);
	*flight = t->flight;
	*stuck = a.n;
	*done = t->completed + t->cancelled + t->rejected;
}

/* --- rendering ------------------------------------------------------------ */

/* A line being built: columns counted (a block character is one). */
struct line {
	struct evt_buf *out;
	int cols, width;
};

static void
put(struct line *l, const char *s)
{
	for (; *s && l->cols < l->width; s++) {
		evt_buf_addc(l->out, *s);
		l->cols++;
	}
}

static void __attribute__((format(printf, 2, 3)))
putf(struct line *l, const char *fmt, ...)
{
	char b[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(b, sizeof(b), fmt, ap);
	va_end(ap);
	put(l, b);
}

static void
put_block(struct line *l, int level, int utf8)
{
	static const char *const blocks[] = { "\u2581", "\u2582", "\u2583",
		"\u2584", "\u2585", "\u2586", "\u2587", "\u2588" };
	static const char ascii[] = "_.-:=+*#";

	if (l->cols >= l->width)
		return;
	if (level < 0)
		evt_buf_addc(l->out, ' ');
	else if (utf8)
		evt_buf_adds(l->out, blocks[level]);
	else
		evt_buf_addc(l->out, ascii[level]);
	l->cols++;
}

static void
begin(struct line *l, struct evt_buf *out, int width, char mark)
{
	l->out = out;
	l->cols = 0;
	l->width = width;
	if (mark)
		evt_buf_addc(out, mark);
}

static void
end(struct line *l)
{
	evt_buf_addc(l->out, '\n');
}

static int
cmp_i64(const void *x, const void *y)
{
	int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;

	return a < b ? -1 : a > b;
}

/* The 95th percentile (nearest rank) of d, in ms; -1 when empty. */
static int64_t
p95(const struct durs *d)
{
	if (d->n == 0)
		return -1;
	int64_t *v = malloc(d->n * sizeof(*v));
	if (v == NULL)
		abort();
	memcpy(v, d->v, d->n * sizeof(*v));
	qsort(v, d->n, sizeof(*v), cmp_i64);
	size_t rank = (d->n * 95 + 99) / 100;
	int64_t r = v[rank - 1];
	free(v);
	return r;
}

static void
put_dur(struct line *l, int64_t ms)
{
	if (ms < 0)
		put(l, "-");
	else if (ms < 1000)
		putf(l, "%lldms", (long long)ms);
	else if (ms < 60000)
		putf(l, "%.1fs", (double)ms / 1000);
	else if (ms < 3600000)
		putf(l, "%lldm%02llds", (long long)(ms / 60000),
		    (long long)(ms / 1000 % 60));
	else
		putf(l, "%lldh%02lldm", (long long)(ms / 3600000),
		    (long long)(ms / 60000 % 60));
}

/* Type stats, most events first. */
static int
cmp_type(const void *x, const void *y)
{
	const struct tstat *a = *(const struct tstat *const *)x;
	const struct tstat *b = *(const struct tstat *const *)y;

	if (a->total != b->total)
		return a->total > b->total ? -1 : 1;
	return strcmp(a->name, b->name);
}

static long long
in_second(const struct tstat *s, int64_t sec)
{
	size_t i = (size_t)(((sec % SECS) + SECS) % SECS);

	return s->sec[i] == sec ? s->cnt[i] : 0;
}

/* The rows of a read model's first table, sorted by key. */
struct rows {
	struct evt_row **v;
	size_t n;
	const struct evt_table *t;
};

static void
add_row(void *arg, const char *k, size_t n, long long v)
{
	struct rows *r = arg;
	struct evt_row *row = (struct evt_row *)(intptr_t)v;

	(void)k; (void)n;
	if (!row->gone)
		r->v[r->n++] = row;
}

static const struct evt_table *sort_table;

static int
cmp_row(const void *x, const void *y)
{
	const struct evt_row *a = *(struct evt_row *const *)x;
	const struct evt_row *b = *(struct evt_row *const *)y;

	for (size_t i = 0; i < sort_table->nkey; i++) {
		const struct evt_val *u = &a->v[i], *w = &b->v[i];
		size_t n = u->n < w->n ? u->n : w->n;
		int c = memcmp(u->s ? u->s : "", w->s ? w->s : "", n);
		if (c || u->n != w->n)
			return c ? c : u->n < w->n ? -1 : 1;
	}
	return 0;
}

static void
table_rows(struct evt_proj *p, struct rows *r)
{
	size_t nt;
	struct evt_table **ts = evt_proj_tables(p, &nt);

	r->t = ts[0];
	r->n = 0;
	if ((r->v = malloc((r->t->idx.n + 1) * sizeof(*r->v))) == NULL)
		abort();
	evt_hmap_each(&r->t->idx, add_row, r);
	sort_table = r->t;
	qsort(r->v, r->n, sizeof(*r->v), cmp_row);
}

static int sort_col;

/* Insertion order kept for equal values (rows come sorted by key). */
static void
mergesort_rows(struct evt_row **v, size_t n)
{
	if (n < 2)
		return;
	size_t h = n / 2;
	mergesort_rows(v, h);
	mergesort_rows(v + h, n - h);
	struct evt_row **tmp = malloc(n * sizeof(*tmp));
	size_t i = 0, j = h, k = 0;
	if (tmp == NULL)
		abort();
	while (i < h && j < n)
		tmp[k++] = v[j]->v[sort_col].i < v[i]->v[sort_col].i ? v[j++] :
		    v[i++];
	while (i < h)
		tmp[k++] = v[i++];
	while (j < n)
		tmp[k++] = v[j++];
	memcpy(v, tmp, n * sizeof(*v));
	free(tmp);
}

static int
col(const struct evt_table *t, const char *name)
{
	for (size_t i = 0; i < t->ncol; i++)
		if (strcmp(t->cols[i].name, name) == 0)
			return (int)i;
	abort();
}

static const char *
str(const struct evt_val *v, struct evt_buf *b)
{
	evt_buf_reset(b);
	if (v->k == EVT_V_STR)
		evt_buf_add(b, v->s, v->n);
	else if (v->k == EVT_V_INT)
		evt_buf_printf(b, "%lld", v->i);
	else if (v->k == EVT_V_DEC)
		evt_dec_format(b, v->d, 2);
	evt_buf_addc(b, '\0');
	return b->p;
}

/* The last critical findings of the findings file: up to FINDINGS_KEEP
 * lines "seq N finding subject: detail", newest last, into b. */
static size_t
findings(const char *path, struct evt_buf *b)
{
	FILE *f = fopen(path, "r");
	struct evt_jobj j;
	struct evt_err err;
	char *text, *lines[FINDINGS_KEEP];
	size_t n = 0, k = 0;

	evt_buf_reset(b);
	if (f == NULL)
		return 0;
	if (fseek(f, 0, SEEK_END) == 0) {
		long size = ftell(f);
		if (size > FINDINGS_TAIL)
			fseek(f, size - FINDINGS_TAIL, SEEK_SET);
		else
			rewind(f);
	}
	if ((text = malloc(FINDINGS_TAIL + 1)) == NULL)
		abort();
	n = fread(text, 1, FINDINGS_TAIL, f);
	fclose(f);
	text[n] = '\0';
	memset(&j, 0, sizeof(j));
	struct evt_buf one = EVT_BUF_INIT;
	for (char *p = text, *nl; (nl = strchr(p, '\n')) != NULL; p = nl + 1) {
		if (evt_json_scan(&j, p, (size_t)(nl - p), 0, &err) < 0)
			continue;
		struct evt_sv sev = evt_json_get(&j, "severity", EVT_J_STRING);
		if (sev.p == NULL || sev.n != 10 || memcmp(sev.p, "\"critical\"", 10))
			continue;
		struct evt_sv fi = evt_json_get(&j, "finding", EVT_J_STRING);
		struct evt_sv su = evt_json_get(&j, "subject", EVT_J_STRING);
		struct evt_sv de = evt_json_get(&j, "detail", EVT_J_STRING);
		struct evt_sv sq = evt_json_get(&j, "seq", EVT_J_NUMBER);
		struct evt_buf d = EVT_BUF_INIT;
		evt_buf_reset(&one);
		evt_buf_printf(&one, "seq %.*s ", sq.p ? (int)sq.n : 1,
		    sq.p ? sq.p : "-");
		if (fi.p) {
			evt_json_str_decode(fi.p, fi.n, &d);
			evt_buf_add(&one, d.p, d.len);
		}
		if (su.p) {
			evt_json_str_decode(su.p, su.n, &d);
			evt_buf_adds(&one, " ");
			evt_buf_add(&one, d.p, d.len);
		}
		if (de.p) {
			evt_json_str_decode(de.p, de.n, &d);
			evt_buf_adds(&one, ": ");
			evt_buf_add(&one, d.p, d.len);
		}
		evt_buf_free(&d);
		/* No control character reaches the terminal. */
		for (size_t i = 0; i < one.len; i++)
			if ((unsigned char)one.p[i] < 0x20 || one.p[i] == 0x7f)
				one.p[i] = '?';
		evt_buf_addc(&one, '\0');
		if (k == FINDINGS_KEEP) {
			free(lines[0]);
			memmove(lines, lines + 1, (FINDINGS_KEEP - 1) *
			    sizeof(*lines));
			k--;
		}
		if ((lines[k++] = strdup(one.p)) == NULL)
			abort();
	}
	evt_buf_free(&one);
	evt_json_free(&j);
	free(text);
	for (size_t i = 0; i < k; i++) {
		evt_buf_adds(b, lines[i]);
		evt_buf_addc(b, '\n');
		free(lines[i]);
	}
	return k;
}

/* Shrink the largest of the section sizes until they fit in avail. */
static void
fit(size_t *want, size_t nsec, long avail)
{
	for (;;) {
		long sum = 0;
		size_t big = 0;
		for (size_t i = 0; i < nsec; i++) {
			sum += (long)want[i];
			if (want[i] >= want[big])
				big = i;
		}
		if (sum <= avail || want[big] == 0)
			return;
		want[big]--;
	}
}

void
evt_top_render(struct evt_top *t, int64_t now_ms, int width, int height,
    struct evt_buf *out)
{
	char now[EVT_TIME_LEN + 1];
	struct line l;
	struct evt_buf fb = EVT_BUF_INIT, v1 = EVT_BUF_INIT, v2 = EVT_BUF_INIT;
	struct evt_buf v3 = EVT_BUF_INIT, v4 = EVT_BUF_INIT, v5 = EVT_BUF_INIT;
	long long flight, stuck, done;

	evt_buf_reset(out);
	if (width < 20)
		width = 20;
	evt_time_format(now_ms, now);
	int64_t sec = now_ms / 1000;

	/* What each panel has to show. */
	struct tstat *ts[TYPES_MAX + 1];
	size_t nts = 0;
	for (size_t i = 0; i <= TYPES_MAX; i++)
		if (t->type[i].total)
			ts[nts++] = &t->type[i];
	qsort(ts, nts, sizeof(*ts), cmp_type);

	struct rows sales, inv;
	table_rows(t->sales, &sales);
	table_rows(t->inv, &inv);
	int s_day = col(sales.t, "day"), s_store = col(sales.t, "store_id");
	int s_cur = col(sales.t, "currency"), s_done = col(sales.t, "completed");
	int s_can = col(sales.t, "cancelled"), s_rev = col(sales.t, "revenue");
	int s_ref = col(sales.t, "refunded");
	size_t ntoday = 0;
	for (size_t i = 0; i < sales.n; i++) {
		const struct evt_val *d = &sales.v[i]->v[s_day];
		if (d->k == EVT_V_STR && d->n == 10 && memcmp(d->s, now, 10) == 0)
			sales.v[ntoday++] = sales.v[i];
	}
	int i_store = col(inv.t, "store_id"), i_sku = col(inv.t, "sku");
	int i_hand = col(inv.t, "on_hand"), i_res = col(inv.t, "reserved");
	int i_av = col(inv.t, "available");
	size_t nlow = 0;
	for (size_t i = 0; i < inv.n; i++) {
		const struct evt_val *a = &inv.v[i]->v[i_av];
		if (a->k == EVT_V_INT && a->i < t->o.low)
			inv.v[nlow++] = inv.v[i];
	}
	/* Lowest first (then by store and sku: the sort is stable on
	 * the key order they are in). */
	sort_col = i_av;
	mergesort_rows(inv.v, nlow);
	size_t nfind = t->o.findings ? findings(t->o.findings, &fb) : 0;

	/* Fixed lines: the title, three headings, the sagas' three lines,
	 * the findings' heading if a file is watched. */
	long avail = height - 7 - (t->o.findings ? 1 : 0);
	size_t want[4] = { nts ? nts : 1, ntoday ? ntoday : 1,
		nlow ? nlow : 1, t->o.findings ? (nfind ? nfind : 1) : 0 };
	fit(want, 4, avail);

	begin(&l, out, width, 0);
	putf(&l, "evt-top  %s  seq %lld  events %lld  %.10s %.8sZ", t->o.title,
	    t->last_seq, t->events, now, now + 11);
	end(&l);

	/* Event flow. */
	int spark = width - 2 - 24 - 1 - 8 - 2 - 2 - 10;
	if (spark > SECS)
		spark = SECS;
	begin(&l, out, width, '#');
	putf(&l, "%-26s %8s  ", "Events", "per s");
	if (spark > 0)
		putf(&l, "%-*s  ", spark, "last minute");
	putf(&l, "%10s", "total");
	end(&l);
	for (size_t i = 0; i < want[0]; i++) {
		begin(&l, out, width, 0);
		if (nts == 0) {
			put(&l, "  (no events yet)");
			end(&l);
			break;
		}
		const struct tstat *s = ts[i];
		long long recent = 0, max = 0;
		for (int k = 1; k <= RATE_SECS; k++)
			recent += in_second(s, sec - k);
		for (int k = spark; k >= 1; k--)
			if (in_second(s, sec - k) > max)
				max = in_second(s, sec - k);
		putf(&l, "  %-24.24s %8.1f  ", s->name, (double)recent / RATE_SECS);
		for (int k = spark; k >= 1; k--) {
			long long c = in_second(s, sec - k);
			put_block(&l, c == 0 ? -1 : (int)((c * 7 + max - 1) / max),
			    t->o.utf8);
		}
		if (spark > 0)
			put(&l, "  ");
		putf(&l, "%10lld", s->total);
		end(&l);
	}

	/* Sagas. */
	evt_top_sagas(t, now_ms, &flight, &stuck, &done);
	begin(&l, out, width, '#');
	put(&l, "Sagas");
	end(&l);
	begin(&l, out, width, 0);
	putf(&l, "  in flight %lld   completed %lld   cancelled %lld   "
	    "compensated %lld   rejected %lld", flight, t->completed,
	    t->cancelled, t->compensated, t->rejected);
	end(&l);
	begin(&l, out, width, stuck ? '!' : 0);
	putf(&l, "  stuck %lld (in flight over ", stuck);
	put_dur(&l, t->o.stuck_after_ms);
	put(&l, ")   p95 to complete ");
	put_dur(&l, p95(&t->dur_ok));
	put(&l, ", to cancel ");
	put_dur(&l, p95(&t->dur_cancel));
	end(&l);

	/* Sales today. */
	begin(&l, out, width, '#');
	putf(&l, "%-18s %8s %10s %16s %14s", "Today by store", "orders",
	    "cancelled", "revenue", "refunded");
	end(&l);
	for (size_t i = 0; i < want[1]; i++) {
		begin(&l, out, width, 0);
		if (ntoday == 0) {
			putf(&l, "  (no sales on %.10s)", now);
			end(&l);
			break;
		}
		struct evt_row *r = sales.v[i];
		putf(&l, "  %-16.16s %8s %10s %12s %-3s %14s",
		    str(&r->v[s_store], &v1), str(&r->v[s_done], &v2),
		    str(&r->v[s_can], &v3), str(&r->v[s_rev], &v4),
		    r->v[s_cur].k == EVT_V_STR ? r->v[s_cur].s : "",
		    str(&r->v[s_ref], &v5));
		end(&l);
	}

	/* Stock running low. */
	begin(&l, out, width, '#');
	putf(&l, "Stock below %-6lld %-16s %8s %10s %10s", t->o.low, "sku",
	    "on hand", "reserved", "available");
	end(&l);
	for (size_t i = 0; i < want[2]; i++) {
		begin(&l, out, width, 0);
		if (nlow == 0) {
			put(&l, "  (none)");
			end(&l);
			break;
		}
		struct evt_row *r = inv.v[i];
		putf(&l, "  %-16.16s %-16.16s %8s %10s %10s",
		    str(&r->v[i_store], &v1), str(&r->v[i_sku], &v2),
		    str(&r->v[i_hand], &v3), str(&r->v[i_res], &v4),
		    str(&r->v[i_av], &v5));
		end(&l);
	}

	/* The last critical findings of the audit. */
	if (t->o.findings) {
		begin(&l, out, width, '#');
		put(&l, "Critical findings");
		end(&l);
		const char *p = fb.p;
		size_t skip = nfind > want[3] ? nfind - want[3] : 0;
		for (size_t i = 0; i < nfind && p; i++) {
			const char *nl = strchr(p, '\n');
			if (i >= skip) {
				char *one = strndup(p, (size_t)(nl - p));
				if (one == NULL)
					abort();
				begin(&l, out, width, '!');
				put(&l, "  ");
				put(&l, one);
				end(&l);
				free(one);
			}
			p = nl + 1;
		}
		if (nfind == 0 && want[3]) {
			begin(&l, out, width, 0);
			put(&l, "  (none)");
			end(&l);
		}
	}
	free(sales.v);
	free(inv.v);
	evt_buf_free(&fb);
	evt_buf_free(&v1);
	evt_buf_free(&v2);
	evt_buf_free(&v3);
	evt_buf_free(&v4);
	evt_buf_free(&v5);
}
