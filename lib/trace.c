/*
 * trace.c - causation trees of sagas (trace.h).
 *
 * Every string is kept once in one arena (offsets, so that it may grow);
 * sources and types, a handful of distinct values, are interned. Nodes
 * are linked by index: parent, first and last child, next sibling, next
 * in saga. The trees are walked without recursion, so that a long chain
 * of causes cannot exhaust the stack.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "hmap.h"
#include "json.h"
#include "trace.h"

struct span {
	size_t off, n;
};

enum {
	N_TIME = 1,		/* the event has a time */
	N_SEQ = 2,		/* the event has a seq */
	N_COMP = 4,		/* a compensation */
	N_SLOW = 8,		/* waited over --slow since its cause */
	N_WAIT = 16,		/* wait is known (a linked cause, both timed) */
	N_TOTAL = 32		/* amount is data.total, not data.amount */
};

enum orphan { O_NONE, O_MISSING, O_OTHER, O_LATER };

struct node {
	long long seq;
	int64_t time, wait;
	struct span id, cause, subject, source, type;
	struct span amount, currency, reason, items, itemsj;
	long saga;
	long parent, child, lastchild, next, snext;
	const char *awaits;	/* stuck: the service this cause waits for */
	unsigned flags;
	unsigned char orphan;
};

enum outcome { OUT_NONE, OUT_COMPLETED, OUT_CANCELLED, OUT_REJECTED, OUT_STUCK };

static const char *const outcome_name[] = {
	"-", "completed", "cancelled", "rejected", "stuck"
};

struct saga {
	struct span corr;
	long first, last;	/* node list, in order */
	long n;
	int has_time, selected;
	int64_t start, end;
	enum outcome outcome;
	long terminal;		/* the node that decided it, or -1 */
	long comps, orphans;
	long slowest;		/* node with the longest wait, or -1 */
};

struct evt_trace {
	struct evt_trace_opts o;
	struct evt_buf arena;
	struct node *nodes;
	size_t n, cap;
	struct saga *sagas;
	size_t ns, scap;
	long *sel;		/* selected sagas, in order */
	size_t nsel;
	struct evt_hmap ids, corrs, strs;
	int all_seq, sorted;
	long long lastseq;
	struct evt_jobj dj, ij;
	struct evt_buf tmp, tmp2, line;
	long *anc;		/* the walk's ancestors, by depth */
	size_t ancap;
	/* text widths of the saga being written, and of the summary */
	size_t w_tree, w_src, w_off, w_wait;
	size_t sum_w[7];
};

/* Types that undo an earlier step (DESIGN §4's compensations). */
static int
is_compensation(const char *t)
{
	return strcmp(t, "PaymentRefunded") == 0 ||
	    strcmp(t, "InventoryReleased") == 0 ||
	    strcmp(t, "TransactionCancelled") == 0;
}

/* The service whose reaction a cause of this type waits for in the
 * choreography of DESIGN §4, or NULL when it needs none. */
static const char *
awaited(const char *t)
{
	static const char *const map[][2] = {
		{ "TransactionCreated", "payment" },
		{ "PaymentProcessed", "inventory" },
		{ "InventoryUnavailable", "payment" },
		{ "InventoryReserved", "store" },
		{ "OrderFulfilled", "transaction" },
		{ "PaymentFailed", "transaction" },
		{ "PaymentRefunded", "transaction" },
		{ "TransactionCancelRequested", "transaction" },
	};
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strcmp(t, map[i][0]) == 0)
			return map[i][1];
	return NULL;
}

int
evt_trace_format_parse(const char *s)
{
	if (strcmp(s, "text") == 0)
		return EVT_TRACE_TEXT;
	if (strcmp(s, "json") == 0)
		return EVT_TRACE_JSON;
	if (strcmp(s, "dot") == 0)
		return EVT_TRACE_DOT;
	if (strcmp(s, "mermaid") == 0)
		return EVT_TRACE_MERMAID;
	return -1;
}

struct evt_trace *
evt_trace_new(const struct evt_trace_opts *opts)
{
	struct evt_trace *t = calloc(1, sizeof(*t));

	if (t == NULL)
		abort();
	t->o = *opts;
	t->all_seq = 1;
	t->sorted = 1;
	/* Offset 0 is the empty string, so an absent field is {0, 0}. */
	evt_buf_addc(&t->arena, '\0');
	return t;
}

void
evt_trace_free(struct evt_trace *t)
{
	if (t == NULL)
		return;
	evt_buf_free(&t->arena);
	free(t->nodes);
	free(t->sagas);
	free(t->sel);
	free(t->anc);
	evt_hmap_free(&t->ids);
	evt_hmap_free(&t->corrs);
	evt_hmap_free(&t->strs);
	evt_json_free(&t->dj);
	evt_json_free(&t->ij);
	evt_buf_free(&t->tmp);
	evt_buf_free(&t->tmp2);
	evt_buf_free(&t->line);
	free(t);
}

static const char *
S(const struct evt_trace *t, struct span s)
{
	return t->arena.p + s.off;
}

static struct span
put(struct evt_trace *t, const char *p, size_t n)
{
	struct span s = { t->arena.len, n };

	if (n == 0)
		return (struct span){ 0, 0 };
	evt_buf_add(&t->arena, p, n);
	evt_buf_addc(&t->arena, '\0');
	return s;
}

/* A string kept once however often it comes (sources, types). */
static struct span
intern(struct evt_trace *t, const char *p, size_t n)
{
	long long *v = evt_hmap_get(&t->strs, p, n);

	if (v)
		return (struct span){ (size_t)*v, n };
	struct span s = put(t, p, n);
	evt_hmap_put(&t->strs, p, n, (long long)s.off);
	return s;
}

static int
in_strv(const struct evt_strv *v, const char *p, size_t n)
{
	for (size_t i = 0; v && i < v->n; i++)
		if (strlen(v->v[i]) == n && memcmp(v->v[i], p, n) == 0)
			return 1;
	return 0;
}

/* The string member key of the scanned object o, decoded into b; NULL
 * when absent or not a string. */
static const char *
get_str(const struct evt_jobj *o, const char *key, struct evt_buf *b)
{
	struct evt_sv v = evt_json_get(o, key, EVT_J_STRING);

	if (v.p == NULL)
		return NULL;
	evt_json_str_decode(v.p, v.n, b);
	return b->p ? b->p : "";
}

/* Items of data (an array of {sku, qty | requested, available}), as
 * text ("SKU-1 x 2, SKU-2 x 1 (0 available)") and as normalised JSON. */
static void
take_items(struct evt_trace *t, struct node *nd, struct evt_sv a)
{
	size_t pos = 0, off, len;
	struct evt_err err;
	int k = 0;

	evt_buf_reset(&t->tmp);
	evt_buf_reset(&t->line);
	evt_buf_addc(&t->line, '[');
	while (evt_json_array_next(a.p, a.n, &pos, &off, &len)) {
		if (evt_json_scan(&t->ij, a.p + off, len, 0, &err) < 0 ||
		    t->ij.type != EVT_J_OBJECT)
			continue;
		struct evt_sv qty = evt_json_get(&t->ij, "qty", EVT_J_NUMBER);
		if (qty.p == NULL)
			qty = evt_json_get(&t->ij, "requested", EVT_J_NUMBER);
		struct evt_sv avail = evt_json_get(&t->ij, "available",
		    EVT_J_NUMBER);
		const char *sku = get_str(&t->ij, "sku", &t->tmp2);
		if (sku == NULL)
			sku = "?";
		if (k++) {
			evt_buf_adds(&t->tmp, ", ");
			evt_buf_addc(&t->line, ',');
		}
		evt_buf_adds(&t->tmp, sku);
		evt_buf_adds(&t->line, "{\"sku\":");
		evt_buf_json_str(&t->line, sku, strlen(sku));
		if (qty.p) {
			evt_buf_adds(&t->tmp, " x ");
			evt_buf_add(&t->tmp, qty.p, qty.n);
			evt_buf_adds(&t->line, ",\"qty\":");
			evt_buf_add(&t->line, qty.p, qty.n);
		}
		if (avail.p) {
			evt_buf_adds(&t->tmp, " (");
			evt_buf_add(&t->tmp, avail.p, avail.n);
			evt_buf_adds(&t->tmp, " available)");
			evt_buf_adds(&t->line, ",\"available\":");
			evt_buf_add(&t->line, avail.p, avail.n);
		}
		evt_buf_addc(&t->line, '}');
	}
	evt_buf_addc(&t->line, ']');
	nd->items = put(t, t->tmp.p, t->tmp.len);
	nd->itemsj = put(t, t->line.p, t->line.len);
}

/* The key fields of data: amount (or total) and currency, reason,
 * items; a stock adjustment's sku and delta count as its one item. */
static void
take_data(struct evt_trace *t, struct node *nd, const struct evt_event *ev)
{
	struct evt_err err;
	const char *s;

	if (ev->slot[EVT_F_DATA] < 0)
		return;
	const struct evt_jmember *m = &ev->j.m[ev->slot[EVT_F_DATA]];
	if (evt_json_scan(&t->dj, ev->j.base + m->voff, m->vlen, 0, &err) < 0)
		return;
	struct evt_sv v = evt_json_get(&t->dj, "amount", EVT_J_NUMBER);
	if (v.p == NULL && (v = evt_json_get(&t->dj, "total",
	    EVT_J_NUMBER)).p != NULL)
		nd->flags |= N_TOTAL;
	if (v.p)
		nd->amount = put(t, v.p, v.n);
	if ((s = get_str(&t->dj, "currency", &t->tmp2)) != NULL)
		nd->currency = intern(t, s, t->tmp2.len);
	if ((s = get_str(&t->dj, "reason", &t->tmp2)) != NULL)
		nd->reason = intern(t, s, t->tmp2.len);
	if ((v = evt_json_get(&t->dj, "items", EVT_J_ARRAY)).p != NULL) {
		take_items(t, nd, v);
		return;
	}
	struct evt_sv delta = evt_json_get(&t->dj, "delta", EVT_J_NUMBER);
	if (delta.p && (s = get_str(&t->dj, "sku", &t->tmp2)) != NULL) {
		evt_buf_reset(&t->line);
		evt_buf_adds(&t->line, "[{\"sku\":");
		evt_buf_json_str(&t->line, s, strlen(s));
		evt_buf_adds(&t->line, ",\"qty\":");
		evt_buf_add(&t->line, delta.p, delta.n);
		evt_buf_adds(&t->line, "}]");
		evt_buf_reset(&t->tmp);
		evt_buf_adds(&t->tmp, s);
		evt_buf_adds(&t->tmp, " x ");
		evt_buf_add(&t->tmp, delta.p, delta.n);
		nd->items = put(t, t->tmp.p, t->tmp.len);
		nd->itemsj = put(t, t->line.p, t->line.len);
	}
}

int
evt_trace_add(struct evt_trace *t, const struct evt_event *ev,
    struct evt_err *err)
{
	const struct evt_str *id = &ev->id, *corr = &ev->corr, *cause = &ev->cause;

	if (ev->slot[EVT_F_ID] < 0 || id->n == 0)
		return evt_err_set(err, EX_DATAERR, "not an event to trace: no "
		    "\"id\" (nothing could name it as its cause)");
	if (ev->slot[EVT_F_CORRELATIONID] < 0)
		corr = id;
	if (ev->slot[EVT_F_CAUSATIONID] < 0)
		cause = id;
	/* Only the named sagas are kept when they are named by id; a
	 * subject may be in any saga, so then every one is kept. */
	if (t->o.corrs && t->o.corrs->n && !(t->o.subjects && t->o.subjects->n) &&
	    !in_strv(t->o.corrs, corr->p, corr->n))
		return 1;
	if (evt_hmap_get(&t->ids, id->p, id->n))
		return 1;	/* the same event twice: it happened once */
	if (t->n == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 1024;
		if ((t->nodes = realloc(t->nodes, t->cap * sizeof(*t->nodes))) == NULL)
			abort();
	}
	struct node *nd = &t->nodes[t->n];
	memset(nd, 0, sizeof(*nd));
	nd->parent = nd->child = nd->lastchild = nd->next = nd->snext = -1;
	nd->id = put(t, id->p, id->n);
	nd->cause = cause == id ? nd->id : put(t, cause->p, cause->n);
	nd->subject = put(t, ev->subject.p, ev->subject.n);
	if (ev->slot[EVT_F_SOURCE] >= 0)
		nd->source = intern(t, ev->source.p, ev->source.n);
	nd->type = intern(t, ev->type.p, ev->type.n);
	if (ev->slot[EVT_F_TIME] >= 0) {
		nd->time = ev->time_ms;
		nd->flags |= N_TIME;
	}
	if (ev->slot[EVT_F_SEQ] >= 0) {
		nd->seq = ev->seq;
		nd->flags |= N_SEQ;
		if (ev->seq <= t->lastseq)
			t->sorted = 0;
		t->lastseq = ev->seq;
	} else
		t->all_seq = 0;
	if (is_compensation(S(t, nd->type)))
		nd->flags |= N_COMP;
	take_data(t, nd, ev);

	long long *sv = evt_hmap_get(&t->corrs, corr->p, corr->n);
	if (sv)
		nd->saga = (long)*sv;
	else {
		if (t->ns == t->scap) {
			t->scap = t->scap ? t->scap * 2 : 256;
			if ((t->sagas = realloc(t->sagas,
			    t->scap * sizeof(*t->sagas))) == NULL)
				abort();
		}
		struct saga *s = &t->sagas[t->ns];
		memset(s, 0, sizeof(*s));
		s->corr = corr == id ? nd->id : put(t, corr->p, corr->n);
		s->first = s->last = s->terminal = s->slowest = -1;
		nd->saga = (long)t->ns;
		evt_hmap_put(&t->corrs, corr->p, corr->n, (long long)t->ns);
		t->ns++;
	}
	evt_hmap_put(&t->ids, id->p, id->n, (long long)t->n);
	t->n++;
	return 0;
}

static int
by_seq(const void *a, const void *b, void *arg)
{
	const struct evt_trace *t = arg;
	const long i = *(const long *)a, j = *(const long *)b;
	const long long si = t->nodes[i].seq, sj = t->nodes[j].seq;

	if (si != sj)
		return si < sj ? -1 : 1;
	return i < j ? -1 : i > j;
}

/* The saga's outcome, counts, and for a stuck saga the causes that wait. */
static void
settle(struct evt_trace *t, struct saga *s)
{
	int created = 0;

	for (long i = s->first; i >= 0; i = t->nodes[i].snext) {
		struct node *nd = &t->nodes[i];
		const char *type = S(t, nd->type);
		if (nd->flags & N_TIME) {
			if (!s->has_time) {
				s->start = s->end = nd->time;
				s->has_time = 1;
			} else if (nd->time > s->end)
				s->end = nd->time;
		}
		if (nd->flags & N_COMP)
			s->comps++;
		if (nd->orphan)
			s->orphans++;
		if ((nd->flags & N_WAIT) && (s->slowest < 0 ||
		    nd->wait > t->nodes[s->slowest].wait))
			s->slowest = i;
		if (strcmp(type, "TransactionCreated") == 0)
			created = 1;
		if (s->terminal >= 0)
			continue;
		if (strcmp(type, "TransactionCompleted") == 0)
			s->outcome = OUT_COMPLETED;
		else if (strcmp(type, "TransactionCancelled") == 0)
			s->outcome = OUT_CANCELLED;
		else if (strcmp(type, "TransactionRejected") == 0)
			s->outcome = OUT_REJECTED;
		else
			continue;
		s->terminal = i;
	}
	if (s->terminal >= 0 || !created)
		return;
	s->outcome = OUT_STUCK;
	for (long i = s->first; i >= 0; i = t->nodes[i].snext) {
		struct node *nd = &t->nodes[i];
		if (nd->child < 0)
			nd->awaits = awaited(S(t, nd->type));
	}
}

void
evt_trace_finish(struct evt_trace *t)
{
	long *order = malloc((t->n ? t->n : 1) * sizeof(long));
	long *rank = malloc((t->n ? t->n : 1) * sizeof(long));

	if (order == NULL || rank == NULL)
		abort();
	for (size_t i = 0; i < t->n; i++)
		order[i] = (long)i;
	if (t->all_seq && !t->sorted)
		qsort_r(order, t->n, sizeof(long), by_seq, t);
	free(t->sel);
	if ((t->sel = malloc((t->ns ? t->ns : 1) * sizeof(long))) == NULL)
		abort();
	t->nsel = 0;
	for (size_t k = 0; k < t->n; k++) {
		long i = order[k];
		struct node *nd = &t->nodes[i];
		struct saga *s = &t->sagas[nd->saga];
		rank[i] = (long)k;
		if (s->first < 0) {
			s->first = i;
			t->sel[t->nsel++] = nd->saga;
		} else
			t->nodes[s->last].snext = i;
		s->last = i;
		s->n++;
		if (t->o.subjects && in_strv(t->o.subjects, S(t, nd->subject),
		    nd->subject.n))
			s->selected = 1;
	}
	/* A cause must come before what it caused: so every link points
	 * back, and the trees cannot hold a cycle. */
	for (size_t k = 0; k < t->n; k++) {
		long i = order[k];
		struct node *nd = &t->nodes[i];
		if (nd->cause.n == nd->id.n && memcmp(S(t, nd->cause),
		    S(t, nd->id), nd->id.n) == 0)
			continue;	/* a root: its own cause */
		long long *pv = evt_hmap_get(&t->ids, S(t, nd->cause), nd->cause.n);
		if (pv == NULL) {
			nd->orphan = O_MISSING;
			continue;
		}
		long p = (long)*pv;
		struct node *pn = &t->nodes[p];
		if (pn->saga != nd->saga) {
			nd->orphan = O_OTHER;
			continue;
		}
		if (rank[p] > rank[i]) {
			nd->orphan = O_LATER;
			continue;
		}
		nd->parent = p;
		if (pn->child < 0)
			pn->child = i;
		else
			t->nodes[pn->lastchild].next = i;
		pn->lastchild = i;
		if ((nd->flags & N_TIME) && (pn->flags & N_TIME)) {
			nd->wait = nd->time - pn->time;
			nd->flags |= N_WAIT;
			if (t->o.has_slow && nd->wait > t->o.slow_ms)
				nd->flags |= N_SLOW;
		}
	}
	free(order);
	free(rank);
	/* Keep the selected sagas, still in order. */
	int all = !(t->o.corrs && t->o.corrs->n) &&
	    !(t->o.subjects && t->o.subjects->n);
	size_t m = 0;
	for (size_t k = 0; k < t->nsel; k++) {
		struct saga *s = &t->sagas[t->sel[k]];
		if (!all && !s->selected && !in_strv(t->o.corrs, S(t, s->corr),
		    s->corr.n))
			continue;
		settle(t, s);
		t->sel[m++] = t->sel[k];
	}
	t->nsel = m;
}

size_t
evt_trace_count(const struct evt_trace *t)
{
	return t->nsel;
}

long long
evt_trace_events(const struct evt_trace *t)
{
	return (long long)t->n;
}

void
evt_trace_duration(int64_t ms, char *out)
{
	char frac[8] = "";
	long long v;

	if (ms < 0) {
		*out++ = '-';
		/* -INT64_MIN does not fit: no real duration is that long. */
		ms = ms == INT64_MIN ? INT64_MAX : -ms;
	}
	v = (long long)ms;
	if (v < 1000) {
		snprintf(out, 30, "%lldms", v);
		return;
	}
	if (v % 1000) {
		snprintf(frac, sizeof(frac), ".%03lld", v % 1000);
		size_t n = strlen(frac);
		while (frac[n - 1] == '0')
			frac[--n] = '\0';
	}
	long long s = v / 1000, d = s / 86400, h = s / 3600 % 24,
	    mi = s / 60 % 60, se = s % 60;
	if (s < 60)
		snprintf(out, 30, "%lld%ss", se, frac);
	else if (s < 3600)
		snprintf(out, 30, "%lldm%02lld%ss", mi, se, frac);
	else if (s < 86400)
		snprintf(out, 30, "%lldh%02lldm%02lld%ss", h, mi, se, frac);
	else
		snprintf(out, 30, "%lldd%02lldh%02lldm%02lld%ss", d, h, mi, se,
		    frac);
}

/* ---- the walk ---- */

/*
 * Call fn for every node of saga s in pre-order: each root (an event
 * without a cause in the saga) in order, then its children in order.
 * fn gets the depth; t->anc[0..depth] are the node's ancestors and the
 * node itself. Events are the stages: fn(..., 0) on entering a node,
 * fn(..., 1) on leaving it (after its children).
 */
typedef void (*walk_fn)(struct evt_trace *t, long i, size_t depth, int leave,
    void *arg);

static void
set_anc(struct evt_trace *t, size_t depth, long i)
{
	if (depth >= t->ancap) {
		t->ancap = t->ancap ? t->ancap * 2 : 64;
		if ((t->anc = realloc(t->anc, t->ancap * sizeof(long))) == NULL)
			abort();
	}
	t->anc[depth] = i;
}

static void
walk(struct evt_trace *t, const struct saga *s, walk_fn fn, void *arg)
{
	for (long r = s->first; r >= 0; r = t->nodes[r].snext) {
		if (t->nodes[r].parent >= 0)
			continue;
		long i = r;
		size_t depth = 0;
		for (;;) {
			set_anc(t, depth, i);
			fn(t, i, depth, 0, arg);
			if (t->nodes[i].child >= 0) {
				i = t->nodes[i].child;
				depth++;
				continue;
			}
			fn(t, i, depth, 1, arg);
			while (i != r && t->nodes[i].next < 0) {
				i = t->nodes[i].parent;
				depth--;
				fn(t, i, depth, 1, arg);
			}
			if (i == r)
				break;
			i = t->nodes[i].next;
		}
	}
}

/* Display width of UTF-8 text: code points, each one column. */
static size_t
width(const char *p, size_t n)
{
	size_t w = 0;

	for (size_t i = 0; i < n; i++)
		if (((unsigned char)p[i] & 0xc0) != 0x80)
			w++;
	return w;
}

/* Text for people: control characters (from a payload) become '?'. */
static void
add_text(struct evt_buf *b, const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		evt_buf_addc(b, (unsigned char)p[i] < 0x20 || p[i] == 0x7f ?
		    '?' : p[i]);
}

static void
pad(struct evt_buf *b, size_t have, size_t want)
{
	while (have++ < want)
		evt_buf_addc(b, ' ');
}

/* The key fields of node nd as one line of text. */
static void
fields_text(struct evt_trace *t, const struct node *nd, struct evt_buf *b)
{
	const char *sep = "";

	if (nd->amount.n) {
		evt_buf_adds(b, nd->flags & N_TOTAL ? "total " : "amount ");
		evt_buf_add(b, S(t, nd->amount), nd->amount.n);
		if (nd->currency.n) {
			evt_buf_addc(b, ' ');
			add_text(b, S(t, nd->currency), nd->currency.n);
		}
		sep = "; ";
	}
	if (nd->reason.n) {
		evt_buf_adds(b, sep);
		evt_buf_adds(b, "reason ");
		add_text(b, S(t, nd->reason), nd->reason.n);
		sep = "; ";
	}
	if (nd->items.n) {
		evt_buf_adds(b, sep);
		evt_buf_adds(b, "items ");
		add_text(b, S(t, nd->items), nd->items.n);
	}
}

/* The offset of nd from its saga's start, and its wait, as text. */
static void
times_text(struct evt_trace *t, const struct saga *s, const struct node *nd,
    char *off, char *wait)
{
	strcpy(off, "-");
	strcpy(wait, "-");
	if ((nd->flags & N_TIME) && s->has_time) {
		off[0] = '+';
		evt_trace_duration(nd->time - s->start, off + 1);
		if (off[1] == '-')
			memmove(off, off + 1, strlen(off));
	}
	if (nd->flags & N_WAIT)
		evt_trace_duration(nd->wait, wait);
}

#define C_RESET "\033[0m"
#define C_BOLD "\033[1m"
#define C_COMP "\033[33m"
#define C_SLOW "\033[31m"
#define C_ORPHAN "\033[35m"
#define C_STUCK "\033[1;31m"

/* "  [what arg rest]", in colour c when colour is set. */
static void
mark(struct evt_buf *b, int colour, const char *c, const char *what,
    const char *arg, const char *rest)
{
	evt_buf_adds(b, "  ");
	if (colour)
		evt_buf_adds(b, c);
	evt_buf_addc(b, '[');
	evt_buf_adds(b, what);
	add_text(b, arg, strlen(arg));
	evt_buf_adds(b, rest);
	evt_buf_addc(b, ']');
	if (colour)
		evt_buf_adds(b, C_RESET);
}

/* The marks of a node, for text. */
static void
marks_text(struct evt_trace *t, const struct node *nd, struct evt_buf *b,
    int colour)
{
	char d[32];

	if (nd->flags & N_COMP)
		mark(b, colour, C_COMP, "compensation", "", "");
	if (nd->flags & N_SLOW) {
		evt_trace_duration(t->o.slow_ms, d);
		mark(b, colour, C_SLOW, "slow: over ", d, "");
	}
	if (nd->orphan)
		mark(b, colour, C_ORPHAN, "orphan: cause ", S(t, nd->cause),
		    nd->orphan == O_MISSING ? " not found" :
		    nd->orphan == O_OTHER ? " is in another saga" :
		    " comes after it");
	if (nd->awaits)
		mark(b, colour, C_STUCK, "no outcome: awaiting ", nd->awaits, "");
}

struct textw {
	const struct saga *s;
	int pass;		/* 0: measure, 1: write */
	int colour;
	struct evt_buf *out;
};

static void
text_node(struct evt_trace *t, long i, size_t depth, int leave, void *arg)
{
	struct textw *w = arg;
	const struct node *nd = &t->nodes[i];
	char off[40], wait[40];

	if (leave)
		return;
	times_text(t, w->s, nd, off, wait);
	size_t tw = depth * 3 + width(S(t, nd->type), nd->type.n);
	size_t sw = width(S(t, nd->source), nd->source.n);
	struct evt_buf *b = &t->line;
	evt_buf_reset(b);
	fields_text(t, nd, b);
	if (w->pass == 0) {
		if (tw > t->w_tree)
			t->w_tree = tw;
		if (sw > t->w_src)
			t->w_src = sw;
		if (strlen(off) > t->w_off)
			t->w_off = strlen(off);
		if (strlen(wait) > t->w_wait)
			t->w_wait = strlen(wait);
		return;
	}
	struct evt_buf *o = w->out;
	/* The graph: a bar for each ancestor that has a sibling to come,
	 * then this node's own corner. */
	for (size_t d = 1; d <= depth; d++) {
		int more = t->nodes[t->anc[d]].next >= 0;
		if (d < depth)
			evt_buf_adds(o, more ? "│  " : "   ");
		else
			evt_buf_adds(o, more ? "├─ " : "└─ ");
	}
	add_text(o, S(t, nd->type), nd->type.n);
	pad(o, tw, t->w_tree + 2);
	add_text(o, S(t, nd->source), nd->source.n);
	pad(o, sw, t->w_src + 2);
	pad(o, strlen(off), t->w_off);
	evt_buf_adds(o, off);
	evt_buf_adds(o, "  ");
	pad(o, strlen(wait), t->w_wait);
	evt_buf_adds(o, wait);
	/* The marks follow the fields at once: aligned in a column of
	 * their own they would sit far out after a long list of items. */
	if (b->len) {
		evt_buf_adds(o, "  ");
		evt_buf_add(o, b->p, b->len);
	}
	marks_text(t, nd, o, w->colour);
	evt_buf_addc(o, '\n');
}

static void
saga_head_text(struct evt_trace *t, const struct saga *s, struct evt_buf *o,
    int colour)
{
	char d[32];

	if (colour)
		evt_buf_adds(o, C_BOLD);
	add_text(o, S(t, s->corr), s->corr.n);
	evt_buf_adds(o, ":");
	if (colour && s->outcome == OUT_STUCK)
		evt_buf_adds(o, C_STUCK);
	if (s->outcome != OUT_NONE) {
		evt_buf_addc(o, ' ');
		evt_buf_adds(o, outcome_name[s->outcome]);
	}
	if (s->terminal >= 0 && t->nodes[s->terminal].reason.n) {
		const struct node *tn = &t->nodes[s->terminal];
		evt_buf_adds(o, " (");
		add_text(o, S(t, tn->reason), tn->reason.n);
		evt_buf_addc(o, ')');
	}
	if (colour && s->outcome == OUT_STUCK)
		evt_buf_adds(o, C_RESET C_BOLD);
	evt_buf_printf(o, "%s %ld event%s", s->outcome != OUT_NONE ? "," : "",
	    s->n, s->n == 1 ? "" : "s");
	if (s->has_time) {
		evt_trace_duration(s->end - s->start, d);
		evt_buf_printf(o, " in %s", d);
	}
	if (s->comps)
		evt_buf_printf(o, ", %ld compensation%s", s->comps,
		    s->comps == 1 ? "" : "s");
	if (s->orphans)
		evt_buf_printf(o, ", %ld orphan%s", s->orphans,
		    s->orphans == 1 ? "" : "s");
	if (s->slowest >= 0) {
		evt_trace_duration(t->nodes[s->slowest].wait, d);
		evt_buf_printf(o, ", slowest wait %s (", d);
		add_text(o, S(t, t->nodes[s->slowest].type),
		    t->nodes[s->slowest].type.n);
		evt_buf_addc(o, ')');
	}
	if (colour)
		evt_buf_adds(o, C_RESET);
	evt_buf_addc(o, '\n');
}

static void
saga_text(struct evt_trace *t, const struct saga *s, int flags,
    struct evt_buf *o)
{
	struct textw w = { s, 0, (flags & EVT_TRACE_COLOUR) != 0, o };

	saga_head_text(t, s, o, w.colour);
	t->w_tree = t->w_src = t->w_off = t->w_wait = 0;
	walk(t, s, text_node, &w);
	w.pass = 1;
	walk(t, s, text_node, &w);
}

/* ---- summary: one line per saga ---- */

struct sumrow {
	char f[7][48];
};

static const char *const sum_head[7] = {
	"CORRELATION", "OUTCOME", "REASON", "EVENTS", "DURATION",
	"COMPENSATIONS", "SLOWEST_WAIT"
};

/* The fields of a summary row but the first (the correlation id). */
static void
sum_row(struct evt_trace *t, const struct saga *s, struct sumrow *r)
{
	r->f[0][0] = '\0';
	snprintf(r->f[1], sizeof(r->f[1]), "%s", outcome_name[s->outcome]);
	snprintf(r->f[2], sizeof(r->f[2]), "%s", "-");
	if (s->terminal >= 0 && t->nodes[s->terminal].reason.n) {
		struct evt_buf b = EVT_BUF_INIT;
		add_text(&b, S(t, t->nodes[s->terminal].reason),
		    t->nodes[s->terminal].reason.n);
		for (size_t k = 0; k < b.len; k++)
			if (b.p[k] == ' ')
				b.p[k] = '_';	/* one field for awk */
		snprintf(r->f[2], sizeof(r->f[2]), "%s", b.p);
		evt_buf_free(&b);
	}
	snprintf(r->f[3], sizeof(r->f[3]), "%ld", s->n);
	strcpy(r->f[4], "-");
	if (s->has_time)
		evt_trace_duration(s->end - s->start, r->f[4]);
	snprintf(r->f[5], sizeof(r->f[5]), "%ld", s->comps);
	strcpy(r->f[6], "-");
	if (s->slowest >= 0)
		evt_trace_duration(t->nodes[s->slowest].wait, r->f[6]);
}

static void
sum_widths(struct evt_trace *t)
{
	struct sumrow r;

	size_t *sum_w = t->sum_w;

	for (int k = 0; k < 7; k++)
		sum_w[k] = strlen(sum_head[k]);
	for (size_t i = 0; i < t->nsel; i++) {
		const struct saga *s = &t->sagas[t->sel[i]];
		sum_row(t, s, &r);
		size_t cw = width(S(t, s->corr), s->corr.n);
		if (cw > sum_w[0])
			sum_w[0] = cw;
		for (int k = 1; k < 7; k++)
			if (strlen(r.f[k]) > sum_w[k])
				sum_w[k] = strlen(r.f[k]);
	}
}

/* Columns left-aligned but the numbers, the last without padding. */
static void
sum_line(struct evt_buf *o, const char *const *f, const size_t *sum_w)
{
	for (int k = 0; k < 7; k++) {
		size_t w = width(f[k], strlen(f[k]));
		int right = k >= 3;
		if (k)
			evt_buf_adds(o, "  ");
		if (right)
			pad(o, w, sum_w[k]);
		add_text(o, f[k], strlen(f[k]));
		if (!right && k < 6)
			pad(o, w, sum_w[k]);
	}
	evt_buf_addc(o, '\n');
}

/* ---- JSON ---- */

static void
json_saga_fields(struct evt_trace *t, const struct saga *s, struct evt_buf *o)
{
	char tm[EVT_TIME_LEN + 1];

	evt_buf_adds(o, "{\"correlationid\":");
	evt_buf_json_str(o, S(t, s->corr), s->corr.n);
	evt_buf_adds(o, ",\"outcome\":");
	if (s->outcome == OUT_NONE)
		evt_buf_adds(o, "null");
	else
		evt_buf_json_str(o, outcome_name[s->outcome],
		    strlen(outcome_name[s->outcome]));
	evt_buf_adds(o, ",\"reason\":");
	if (s->terminal >= 0 && t->nodes[s->terminal].reason.n)
		evt_buf_json_str(o, S(t, t->nodes[s->terminal].reason),
		    t->nodes[s->terminal].reason.n);
	else
		evt_buf_adds(o, "null");
	evt_buf_printf(o, ",\"events\":%ld", s->n);
	if (s->has_time) {
		evt_time_format(s->start, tm);
		evt_buf_printf(o, ",\"start\":\"%s\"", tm);
		evt_time_format(s->end, tm);
		evt_buf_printf(o, ",\"end\":\"%s\",\"duration_ms\":%lld", tm,
		    (long long)(s->end - s->start));
	} else
		evt_buf_adds(o, ",\"start\":null,\"end\":null,\"duration_ms\":null");
	evt_buf_printf(o, ",\"compensations\":%ld,\"orphans\":%ld", s->comps,
	    s->orphans);
	if (s->slowest >= 0) {
		evt_buf_printf(o, ",\"slowest_wait_ms\":%lld,\"slowest_id\":",
		    (long long)t->nodes[s->slowest].wait);
		evt_buf_json_str(o, S(t, t->nodes[s->slowest].id),
		    t->nodes[s->slowest].id.n);
	} else
		evt_buf_adds(o, ",\"slowest_wait_ms\":null,\"slowest_id\":null");
}

struct jsonw {
	const struct saga *s;
	struct evt_buf *out;
};

static void
json_node(struct evt_trace *t, long i, size_t depth, int leave, void *arg)
{
	struct jsonw *w = arg;
	const struct node *nd = &t->nodes[i];
	struct evt_buf *o = w->out;
	char tm[EVT_TIME_LEN + 1];

	if (leave) {
		evt_buf_adds(o, "]}");
		return;
	}
	/* A comma before every node but the first of its list: the one
	 * before it closed with '}', a list opens with '['. */
	if (o->len && o->p[o->len - 1] == '}')
		evt_buf_addc(o, ',');
	evt_buf_adds(o, "{\"id\":");
	evt_buf_json_str(o, S(t, nd->id), nd->id.n);
	if (nd->flags & N_SEQ)
		evt_buf_printf(o, ",\"seq\":%lld", nd->seq);
	evt_buf_adds(o, ",\"type\":");
	evt_buf_json_str(o, S(t, nd->type), nd->type.n);
	evt_buf_adds(o, ",\"source\":");
	if (nd->source.n)
		evt_buf_json_str(o, S(t, nd->source), nd->source.n);
	else
		evt_buf_adds(o, "null");
	evt_buf_adds(o, ",\"subject\":");
	evt_buf_json_str(o, S(t, nd->subject), nd->subject.n);
	if (nd->flags & N_TIME) {
		evt_time_format(nd->time, tm);
		evt_buf_printf(o, ",\"time\":\"%s\",\"offset_ms\":%lld", tm,
		    (long long)(nd->time - w->s->start));
	}
	if (nd->flags & N_WAIT)
		evt_buf_printf(o, ",\"wait_ms\":%lld", (long long)nd->wait);
	if (nd->amount.n) {
		evt_buf_adds(o, nd->flags & N_TOTAL ? ",\"total\":" :
		    ",\"amount\":");
		evt_buf_add(o, S(t, nd->amount), nd->amount.n);
	}
	if (nd->currency.n) {
		evt_buf_adds(o, ",\"currency\":");
		evt_buf_json_str(o, S(t, nd->currency), nd->currency.n);
	}
	if (nd->reason.n) {
		evt_buf_adds(o, ",\"reason\":");
		evt_buf_json_str(o, S(t, nd->reason), nd->reason.n);
	}
	if (nd->itemsj.n) {
		evt_buf_adds(o, ",\"items\":");
		evt_buf_add(o, S(t, nd->itemsj), nd->itemsj.n);
	}
	if (nd->flags & N_COMP)
		evt_buf_adds(o, ",\"compensation\":true");
	if (nd->flags & N_SLOW)
		evt_buf_adds(o, ",\"slow\":true");
	if (nd->orphan) {
		static const char *const why[] = { "", "missing", "other_saga",
		    "later" };
		evt_buf_adds(o, ",\"orphan\":");
		evt_buf_json_str(o, why[nd->orphan], strlen(why[nd->orphan]));
		evt_buf_adds(o, ",\"causationid\":");
		evt_buf_json_str(o, S(t, nd->cause), nd->cause.n);
	}
	if (nd->awaits) {
		evt_buf_adds(o, ",\"awaiting\":");
		evt_buf_json_str(o, nd->awaits, strlen(nd->awaits));
	}
	evt_buf_adds(o, ",\"children\":[");
}

static void
saga_json(struct evt_trace *t, const struct saga *s, int flags,
    struct evt_buf *o)
{
	json_saga_fields(t, s, o);
	if (!(flags & EVT_TRACE_SUMMARY)) {
		struct jsonw w = { s, o };
		evt_buf_adds(o, ",\"tree\":[");
		walk(t, s, json_node, &w);
		evt_buf_addc(o, ']');
	}
	evt_buf_adds(o, "}\n");
}

/* ---- DOT ---- */

static void
dot_str(struct evt_buf *o, const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];
		if (c == '"' || c == '\\')
			evt_buf_addc(o, '\\');
		evt_buf_addc(o, c < 0x20 || c == 0x7f ? '?' : (char)c);
	}
}

struct dotw {
	const struct saga *s;
	size_t k;		/* the saga's place, for unique names */
	struct evt_buf *out;
};

static void
dot_node(struct evt_trace *t, long i, size_t depth, int leave, void *arg)
{
	struct dotw *w = arg;
	const struct node *nd = &t->nodes[i];
	struct evt_buf *o = w->out;
	char off[40], wait[40];

	if (leave)
		return;
	times_text(t, w->s, nd, off, wait);
	evt_buf_printf(o, "\t\tn%ld [label=\"", i);
	dot_str(o, S(t, nd->type), nd->type.n);
	evt_buf_adds(o, "\\n");
	dot_str(o, S(t, nd->source), nd->source.n);
	evt_buf_printf(o, " %s", off);
	evt_buf_reset(&t->line);
	fields_text(t, nd, &t->line);
	if (t->line.len) {
		evt_buf_adds(o, "\\n");
		dot_str(o, t->line.p, t->line.len);
	}
	evt_buf_addc(o, '"');
	if (nd->flags & N_COMP)
		evt_buf_adds(o, ", color=darkorange, fontcolor=darkorange");
	if (nd->orphan)
		evt_buf_adds(o, ", style=\"rounded,dashed\"");
	if (nd->awaits)
		evt_buf_adds(o, ", color=red, penwidth=2");
	evt_buf_adds(o, "];\n");
	if (nd->parent >= 0) {
		evt_buf_printf(o, "\t\tn%ld -> n%ld [label=\"%s\"", nd->parent, i,
		    wait);
		if (nd->flags & N_SLOW)
			evt_buf_adds(o, ", color=red, fontcolor=red, penwidth=2");
		evt_buf_adds(o, "];\n");
	}
	if (nd->orphan) {
		evt_buf_printf(o, "\t\tm%ld [shape=plaintext, label=\"cause ", i);
		dot_str(o, S(t, nd->cause), nd->cause.n);
		evt_buf_adds(o, nd->orphan == O_MISSING ? "\\nnot found" :
		    nd->orphan == O_OTHER ? "\\nin another saga" : "\\ncomes after");
		evt_buf_printf(o, "\"];\n\t\tm%ld -> n%ld [style=dashed];\n", i, i);
	}
	if (nd->awaits) {
		evt_buf_printf(o, "\t\tw%ld [shape=plaintext, fontcolor=red, "
		    "label=\"no outcome\\nawaiting %s\"];\n", i, nd->awaits);
		evt_buf_printf(o, "\t\tn%ld -> w%ld [style=dotted, color=red];\n",
		    i, i);
	}
}

static void
saga_dot(struct evt_trace *t, const struct saga *s, size_t k,
    struct evt_buf *o)
{
	struct dotw w = { s, k, o };

	evt_buf_printf(o, "\tsubgraph cluster_%zu {\n\t\tlabel=\"", k + 1);
	evt_buf_reset(&t->tmp);
	saga_head_text(t, s, &t->tmp, 0);
	dot_str(o, t->tmp.p, t->tmp.len - 1);	/* without its newline */
	evt_buf_adds(o, "\";\n");
	walk(t, s, dot_node, &w);
	evt_buf_adds(o, "\t}\n");
}

/* ---- Mermaid ---- */

/* Whether a service name can be a Mermaid participant as it is. */
static int
mermaid_plain(const char *p, size_t n)
{
	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= 'A' && p[i] <= 'Z') ||
		    (p[i] >= '0' && p[i] <= '9') || p[i] == '_'))
			return 0;
	return 1;
}

/* Message text: Mermaid ends a statement at ';' and a line, and reads
 * '#' as the start of an entity, so those become something else. */
static void
mermaid_text(struct evt_buf *o, const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];
		if (c == ';')
			evt_buf_addc(o, ',');
		else if (c == '#' || c < 0x20 || c == 0x7f)
			evt_buf_addc(o, ' ');
		else
			evt_buf_addc(o, (char)c);
	}
}

/* The participant name of service src: itself, or pN for the Nth
 * service of the saga when it is not a plain name (declared "as" it). */
static void
mermaid_who(struct evt_trace *t, struct span src, const struct span *svc,
    size_t nsvc, struct evt_buf *o)
{
	if (mermaid_plain(S(t, src), src.n)) {
		evt_buf_add(o, S(t, src), src.n);
		return;
	}
	for (size_t k = 0; k < nsvc; k++)
		if (svc[k].off == src.off) {
			evt_buf_printf(o, "p%zu", k + 1);
			return;
		}
}

static void
saga_mermaid(struct evt_trace *t, const struct saga *s, struct evt_buf *o)
{
	struct span *svc = NULL;
	size_t nsvc = 0;
	char off[40], wait[40];

	evt_buf_adds(o, "sequenceDiagram\n    %% ");
	evt_buf_reset(&t->tmp);
	saga_head_text(t, s, &t->tmp, 0);
	mermaid_text(o, t->tmp.p, t->tmp.len - 1);
	evt_buf_addc(o, '\n');
	/* Participants in the order they first act (interned: one offset
	 * per name). A source that is absent is shown as "?". */
	for (long i = s->first; i >= 0; i = t->nodes[i].snext) {
		struct span src = t->nodes[i].source;
		size_t k;
		for (k = 0; k < nsvc; k++)
			if (svc[k].off == src.off)
				break;
		if (k < nsvc)
			continue;
		if ((svc = realloc(svc, (nsvc + 1) * sizeof(*svc))) == NULL)
			abort();
		svc[nsvc++] = src;
		evt_buf_adds(o, "    participant ");
		if (mermaid_plain(S(t, src), src.n))
			evt_buf_add(o, S(t, src), src.n);
		else {
			evt_buf_printf(o, "p%zu as ", nsvc);
			if (src.n)
				mermaid_text(o, S(t, src), src.n);
			else
				evt_buf_addc(o, '?');
		}
		evt_buf_addc(o, '\n');
	}
	/* Messages in the order they happened: cause's service to the
	 * event's, dashed for a compensation; a root is a message to self. */
	for (long i = s->first; i >= 0; i = t->nodes[i].snext) {
		const struct node *nd = &t->nodes[i];
		struct span from = nd->parent >= 0 ? t->nodes[nd->parent].source :
		    nd->source;
		times_text(t, s, nd, off, wait);
		if (nd->orphan) {
			evt_buf_adds(o, "    Note over ");
			mermaid_who(t, nd->source, svc, nsvc, o);
			evt_buf_adds(o, ": orphan, cause ");
			mermaid_text(o, S(t, nd->cause), nd->cause.n);
			evt_buf_adds(o, nd->orphan == O_MISSING ? " not found\n" :
			    nd->orphan == O_OTHER ? " in another saga\n" :
			    " comes after\n");
		}
		evt_buf_adds(o, "    ");
		mermaid_who(t, from, svc, nsvc, o);
		evt_buf_adds(o, nd->flags & N_COMP ? "-->>" : "->>");
		mermaid_who(t, nd->source, svc, nsvc, o);
		evt_buf_adds(o, ": ");
		mermaid_text(o, S(t, nd->type), nd->type.n);
		evt_buf_printf(o, " %s", off);
		if (nd->flags & N_WAIT)
			evt_buf_printf(o, " (waited %s)", wait);
		evt_buf_reset(&t->line);
		fields_text(t, nd, &t->line);
		if (t->line.len) {
			evt_buf_addc(o, ' ');
			mermaid_text(o, t->line.p, t->line.len);
		}
		evt_buf_addc(o, '\n');
		if (nd->flags & N_SLOW) {
			evt_trace_duration(t->o.slow_ms, off);
			evt_buf_adds(o, "    Note over ");
			mermaid_who(t, nd->source, svc, nsvc, o);
			evt_buf_printf(o, ": slow, waited %s (over %s)\n", wait, off);
		}
		if (nd->awaits) {
			evt_buf_adds(o, "    Note over ");
			mermaid_who(t, nd->source, svc, nsvc, o);
			evt_buf_printf(o, ": no outcome, awaiting %s\n", nd->awaits);
		}
	}
	free(svc);
}

/* ---- the writers ---- */

void
evt_trace_head(struct evt_trace *t, enum evt_trace_fmt fmt, int flags,
    struct evt_buf *out)
{
	if (fmt == EVT_TRACE_DOT)
		evt_buf_adds(out, "digraph trace {\n"
		    "\tgraph [rankdir=TB, fontname=\"Helvetica\", fontsize=11];\n"
		    "\tnode [shape=box, style=rounded, fontname=\"Helvetica\", "
		    "fontsize=10];\n"
		    "\tedge [fontname=\"Helvetica\", fontsize=9];\n");
	else if (fmt == EVT_TRACE_TEXT && (flags & EVT_TRACE_SUMMARY)) {
		sum_widths(t);
		sum_line(out, sum_head, t->sum_w);
	}
}

void
evt_trace_saga(struct evt_trace *t, size_t i, enum evt_trace_fmt fmt,
    int flags, struct evt_buf *out)
{
	const struct saga *s = &t->sagas[t->sel[i]];

	switch (fmt) {
	case EVT_TRACE_TEXT:
		if (flags & EVT_TRACE_SUMMARY) {
			struct sumrow r;
			const char *f[7];
			sum_row(t, s, &r);
			evt_buf_reset(&t->tmp);
			evt_buf_add(&t->tmp, S(t, s->corr), s->corr.n);
			f[0] = t->tmp.p;
			for (int k = 1; k < 7; k++)
				f[k] = r.f[k];
			sum_line(out, f, t->sum_w);
			break;
		}
		if (i > 0)
			evt_buf_addc(out, '\n');
		saga_text(t, s, flags, out);
		break;
	case EVT_TRACE_JSON:
		saga_json(t, s, flags, out);
		break;
	case EVT_TRACE_DOT:
		saga_dot(t, s, i, out);
		break;
	case EVT_TRACE_MERMAID:
		if (i > 0)
			evt_buf_addc(out, '\n');
		saga_mermaid(t, s, out);
		break;
	}
}

void
evt_trace_tail(struct evt_trace *t, enum evt_trace_fmt fmt, int flags,
    struct evt_buf *out)
{
	(void)t;
	(void)flags;
	if (fmt == EVT_TRACE_DOT)
		evt_buf_adds(out, "}\n");
}
