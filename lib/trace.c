/*
 * trace.c - causation trees of sagas (trace.h).
 *
 * Each open saga owns an arena of blocks that holds its events in a
 * compact form (struct cnode: the strings one after the other, the
 * interned ones by number) and grows by whole blocks; writing the saga
 * out widens its events into one reused array of struct node (linked by
 * index: parent, first and last child, next sibling, next in saga) for
 * the writers, then gives its first block and its struct to the next
 * saga and frees the rest whole. Sources, types, currencies and reasons,
 * a handful of distinct values, are interned once for the trace. Two
 * open-addressed tables, freed in one go, find an open saga by its
 * correlation id and an open event by its id; an entry points at its
 * saga (and event), which holds the key. The open sagas are on a list in
 * the order they last took an event, so the ones the input has moved a
 * window past are at its head. The trees are walked without recursion,
 * so that a long chain of causes cannot exhaust the stack.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "hmap.h"
#include "json.h"
#include "trace.h"

/* A string: p is never NULL ("" when absent) and stays where it is for
 * the life of its saga (or of the trace, when interned). */
struct str {
	const char *p;
	size_t n;
};

static const struct str nostr = { "", 0 };

enum {
	N_TIME = 1,		/* the event has a time */
	N_SEQ = 2,		/* the event has a seq */
	N_COMP = 4,		/* a compensation */
	N_SLOW = 8,		/* waited over --slow since its cause */
	N_WAIT = 16,		/* wait is known (a linked cause, both timed) */
	N_TOTAL = 32		/* amount is data.total, not data.amount */
};

enum orphan { O_NONE, O_MISSING, O_OTHER, O_LATER };

/* What a type means to a saga (interned with it). */
enum tkind { K_OTHER, K_CREATED, K_COMPLETED, K_CANCELLED, K_REJECTED };

struct node {
	long long seq, ord;	/* ord: place among the events taken */
	int64_t time, wait;
	struct str id, cause, subject, source, type;
	struct str amount, currency, reason, items, itemsj;
	long parent, child, lastchild, next, snext;
	const char *aw;		/* the service a cause of its type waits for */
	const char *awaits;	/* stuck: the service this cause waits for */
	unsigned flags;
	unsigned char orphan, kind;
};

/*
 * An event as an open saga keeps it: its strings (id, cause unless it is
 * the id, subject, amount, items as text and as JSON) one after the
 * other with their NULs in the saga's arena, the interned ones by number.
 * It is widened into a struct node when its saga is written.
 */
enum { C_ID, C_CAUSE, C_SUBJECT, C_AMOUNT, C_ITEMS, C_ITEMSJ, C_N };

#define N_SELF 64		/* (cnode) the cause is the id */

struct cnode {
	long long seq, ord;
	int64_t time;
	const char *str;
	uint32_t len[C_N];
	uint32_t hlo;		/* the id's hash, low bits */
	uint32_t src, type, cur, reason;	/* interned + 1; 0: none */
	unsigned char flags, kind;
};

enum outcome { OUT_NONE, OUT_COMPLETED, OUT_CANCELLED, OUT_REJECTED, OUT_STUCK };

static const char *const outcome_name[] = {
	"-", "completed", "cancelled", "rejected", "stuck"
};

struct block {
	struct block *next;
	size_t len, cap;
	char p[];
};

/* Where a saga is: open and on the active list (by last event), open
 * and parked (pending: waits for its outcome, however long), or written
 * and remembered (only its correlation id, to mark a continuation). */
enum state { S_ACTIVE, S_PARKED, S_DONE };

struct saga {
	struct str corr;
	struct cnode *cn;	/* its events, in its arena */
	struct node *nodes;	/* widened, while it is written */
	long n, cap;
	struct block *arena;
	long long key_seq, key_ord;	/* its first event, for the order */
	long long lastseq;
	int64_t last;		/* input position at its last event */
	int has_last;
	unsigned char state, created, decided, continued, selected, unsorted;
	struct saga *prev, *next;	/* on its list */
	/* Filled when it is written. */
	long first;
	int has_time;
	int64_t start, end;
	enum outcome outcome;
	long terminal;		/* the node that decided it, or -1 */
	long comps, orphans;
	long slowest;		/* node with the longest wait, or -1 */
	char cbuf[48];		/* its correlation id once written, if short */
};

struct list {
	struct saga *head, *tail;
};

/* An entry of a table: a saga, and i >= 0 for its node i's id, or -1
 * for its correlation id. s NULL: empty. */
struct ent {
	uint64_t h;
	struct saga *s;
	long i;
};

struct tab {
	struct ent *e;
	size_t cap, n;
};

/* An interned string, with what its value means as a type. */
struct istr {
	struct str s;
	unsigned char kind, comp;
	const char *aw;
};

struct sumrow {
	char *corr;		/* cbuf, or allocated when long */
	char cbuf[64];
	char f[7][48];
};

#define ICACHE 64		/* the interned strings' cache */
#define SUM_BLOCK 1024		/* summary rows measured together */
#define BLOCK1 1536		/* a saga's first block: most need no other */
#define SPARE_MAX 4096		/* first blocks and sagas kept for reuse */


struct evt_trace {
	struct evt_trace_opts o;
	struct evt_buf *out;
	struct tab ids, corrs;
	struct evt_hmap strs;
	struct istr **istr;
	size_t nistr, istrcap;
	uint32_t icache[ICACHE];	/* interned + 1, or 0 */
	struct list active, parked, done;
	int64_t pos;		/* the greatest event time taken */
	int has_pos, all_seq, all;
	long long ord;		/* events taken */
	size_t written;		/* sagas written */
	struct saga **batch;
	size_t nbatch, batchcap;
	long *order, *rank;
	size_t ordcap;
	struct evt_buf tmp, tmp2, line, dec;
	struct evt_event ev;	/* for a stored line that will not scan */
	struct node *wide;	/* the saga being written, widened */
	size_t widecap;
	long *anc;		/* the walk's ancestors, by depth */
	size_t ancap;
	/* text widths of the saga being written, and of the summary */
	size_t w_tree, w_src, w_off, w_wait;
	size_t sum_w[7];
	struct sumrow *rows;
	size_t nrows;
	int headed;
	/* memory of sagas written, for the next ones */
	struct block *spare_blocks;
	struct saga *spare_sagas;
	size_t nspare_blocks, nspare_sagas;
};

/* Let saga s (released) go, keeping it for reuse. */
static void
saga_drop(struct evt_trace *t, struct saga *s)
{
	if (t->nspare_sagas < SPARE_MAX) {
		s->next = t->spare_sagas;
		t->spare_sagas = s;
		t->nspare_sagas++;
	} else
		free(s);
}

static void emit(struct evt_trace *t, struct saga *s);
static void rows_flush(struct evt_trace *t);

static void *
xrealloc(void *p, size_t n)
{
	if ((p = realloc(p, n ? n : 1)) == NULL)
		abort();
	return p;
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

/* ---- lists, tables, arenas ---- */

static void
list_add(struct list *l, struct saga *s)
{
	s->next = NULL;
	s->prev = l->tail;
	if (l->tail)
		l->tail->next = s;
	else
		l->head = s;
	l->tail = s;
}

static void
list_del(struct list *l, struct saga *s)
{
	if (s->prev)
		s->prev->next = s->next;
	else
		l->head = s->next;
	if (s->next)
		s->next->prev = s->prev;
	else
		l->tail = s->prev;
	s->prev = s->next = NULL;
}

static struct str
ent_key(const struct ent *e)
{
	if (e->i < 0)
		return e->s->corr;
	const struct cnode *c = &e->s->cn[e->i];
	return (struct str){ c->str, c->len[C_ID] };
}

static struct ent *
tab_get(const struct tab *tb, uint64_t h, const char *p, size_t n)
{
	if (tb->cap == 0)
		return NULL;
	size_t mask = tb->cap - 1;
	for (size_t k = h & mask;; k = (k + 1) & mask) {
		struct ent *e = &tb->e[k];
		if (e->s == NULL)
			return NULL;
		if (e->h == h) {
			struct str key = ent_key(e);
			if (key.n == n && memcmp(key.p, p, n) == 0)
				return e;
		}
	}
}

static void
tab_put(struct tab *tb, uint64_t h, struct saga *s, long i)
{
	if (2 * (tb->n + 1) > tb->cap) {
		size_t cap = tb->cap ? tb->cap * 2 : 1024;
		struct ent *e = calloc(cap, sizeof(*e));
		if (e == NULL)
			abort();
		for (size_t k = 0; k < tb->cap; k++) {
			if (tb->e[k].s == NULL)
				continue;
			size_t j = tb->e[k].h & (cap - 1);
			while (e[j].s)
				j = (j + 1) & (cap - 1);
			e[j] = tb->e[k];
		}
		free(tb->e);
		tb->e = e;
		tb->cap = cap;
	}
	size_t mask = tb->cap - 1, k = h & mask;
	while (tb->e[k].s)
		k = (k + 1) & mask;
	tb->e[k] = (struct ent){ h, s, i };
	tb->n++;
}

/* Remove the entry of saga s and node i (which must be there), shifting
 * back the entries after it so that no probe chain breaks. */
static void
tab_del(struct tab *tb, uint64_t h, const struct saga *s, long i)
{
	size_t mask = tb->cap - 1, k = h & mask;

	while (tb->e[k].s != s || tb->e[k].i != i)
		k = (k + 1) & mask;
	for (size_t j = (k + 1) & mask; tb->e[j].s; j = (j + 1) & mask) {
		size_t home = tb->e[j].h & mask;
		if (((j - home) & mask) >= ((j - k) & mask)) {
			tb->e[k] = tb->e[j];
			k = j;
		}
	}
	tb->e[k].s = NULL;
	tb->n--;
}

/* n bytes of saga s's arena, aligned for any object when align is set. */
static char *
aalloc(struct evt_trace *t, struct saga *s, size_t n, int align)
{
	struct block *b = s->arena;

	if (b && align)
		b->len = (b->len + 7) & ~(size_t)7;
	if (b == NULL || b->cap < b->len || b->cap - b->len < n) {
		size_t cap = b ? b->cap * 2 : BLOCK1;
		if (cap > 65536)
			cap = 65536;
		if (cap < n)
			cap = n;
		if (cap == BLOCK1 && t->spare_blocks) {
			b = t->spare_blocks;
			t->spare_blocks = b->next;
			t->nspare_blocks--;
		} else if ((b = malloc(sizeof(*b) + cap)) == NULL)
			abort();
		b->next = s->arena;
		b->len = 0;
		b->cap = cap;
		s->arena = b;
	}
	char *p = b->p + b->len;
	b->len += n;
	return p;
}

static struct str
put(struct evt_trace *t, struct saga *s, const char *p, size_t n)
{
	if (n == 0)
		return nostr;
	char *d = aalloc(t, s, n + 1, 0);
	memcpy(d, p, n);
	d[n] = '\0';
	return (struct str){ d, n };
}

/* A string kept once however often it comes (sources, types): its
 * number + 1, for istr_of. */
static uint32_t
intern(struct evt_trace *t, const char *p, size_t n)
{
	/* A few values come again and again: a cache in front of the map,
	 * by length and the first and last bytes. */
	unsigned slot = n ? (unsigned)(n * 31 + (unsigned char)p[0] * 7 +
	    (unsigned char)p[n - 1]) % ICACHE : 0;
	uint32_t k = t->icache[slot];
	if (k && t->istr[k - 1]->s.n == n &&
	    memcmp(t->istr[k - 1]->s.p, p, n) == 0)
		return k;
	long long *v = evt_hmap_get(&t->strs, p, n);

	if (v)
		return t->icache[slot] = (uint32_t)*v + 1;
	struct istr *is = calloc(1, sizeof(*is) + n + 1);
	if (is == NULL)
		abort();
	char *d = (char *)(is + 1);
	memcpy(d, p, n);
	d[n] = '\0';
	is->s = (struct str){ d, n };
	is->aw = awaited(d);
	is->comp = strcmp(d, "PaymentRefunded") == 0 ||
	    strcmp(d, "InventoryReleased") == 0 ||
	    strcmp(d, "TransactionCancelled") == 0;
	is->kind = strcmp(d, "TransactionCreated") == 0 ? K_CREATED :
	    strcmp(d, "TransactionCompleted") == 0 ? K_COMPLETED :
	    strcmp(d, "TransactionCancelled") == 0 ? K_CANCELLED :
	    strcmp(d, "TransactionRejected") == 0 ? K_REJECTED : K_OTHER;
	if (t->nistr == t->istrcap) {
		t->istrcap = t->istrcap ? t->istrcap * 2 : 64;
		t->istr = xrealloc(t->istr, t->istrcap * sizeof(*t->istr));
	}
	t->istr[t->nistr] = is;
	evt_hmap_put(&t->strs, p, n, (long long)t->nistr++);
	return t->icache[slot] = (uint32_t)t->nistr;
}

static const struct istr *
istr_of(const struct evt_trace *t, uint32_t k)
{
	return t->istr[k - 1];
}

/* An interned string, or nostr for none (and for ""). */
static struct str
istr_str(const struct evt_trace *t, uint32_t k)
{
	return k && t->istr[k - 1]->s.n ? t->istr[k - 1]->s : nostr;
}

static int
in_strv(const struct evt_strv *v, const char *p, size_t n)
{
	for (size_t i = 0; v && i < v->n; i++)
		if (strlen(v->v[i]) == n && memcmp(v->v[i], p, n) == 0)
			return 1;
	return 0;
}

struct evt_trace *
evt_trace_new(const struct evt_trace_opts *opts, struct evt_buf *out)
{
	struct evt_trace *t = calloc(1, sizeof(*t));

	if (t == NULL)
		abort();
	t->o = *opts;
	t->out = out;
	t->all_seq = 1;
	t->all = !(t->o.corrs && t->o.corrs->n) &&
	    !(t->o.subjects && t->o.subjects->n);
	if (t->o.fmt == EVT_TRACE_DOT)
		evt_buf_adds(out, "digraph trace {\n"
		    "\tgraph [rankdir=TB, fontname=\"Helvetica\", fontsize=11];\n"
		    "\tnode [shape=box, style=rounded, fontname=\"Helvetica\", "
		    "fontsize=10];\n"
		    "\tedge [fontname=\"Helvetica\", fontsize=9];\n");
	return t;
}

/* Free what saga s holds but itself and its correlation id's entry
 * (its first block kept for the next saga). */
static void
saga_release(struct evt_trace *t, struct saga *s)
{
	for (struct block *b = s->arena, *nb; b; b = nb) {
		nb = b->next;
		if (b->cap == BLOCK1 && t->nspare_blocks < SPARE_MAX) {
			b->next = t->spare_blocks;
			t->spare_blocks = b;
			t->nspare_blocks++;
		} else
			free(b);
	}
	s->arena = NULL;
	s->cn = NULL;
	s->nodes = NULL;
	s->n = s->cap = 0;
}

static void
free_list(struct evt_trace *t, struct list *l)
{
	for (struct saga *s = l->head, *ns; s; s = ns) {
		ns = s->next;
		saga_release(t, s);
		if (s->state == S_DONE && s->corr.p != s->cbuf)
			free((char *)s->corr.p);
		free(s);
	}
	l->head = l->tail = NULL;
}

void
evt_trace_free(struct evt_trace *t)
{
	if (t == NULL)
		return;
	free_list(t, &t->active);
	free_list(t, &t->parked);
	free_list(t, &t->done);
	for (struct block *b = t->spare_blocks, *nb; b; b = nb) {
		nb = b->next;
		free(b);
	}
	for (struct saga *s = t->spare_sagas, *ns; s; s = ns) {
		ns = s->next;
		free(s);
	}
	free(t->ids.e);
	free(t->corrs.e);
	evt_hmap_free(&t->strs);
	for (size_t i = 0; i < t->nistr; i++)
		free(t->istr[i]);
	free(t->istr);
	free(t->batch);
	free(t->order);
	free(t->rank);
	for (size_t i = 0; i < t->nrows; i++)
		if (t->rows[i].corr != t->rows[i].cbuf)
			free(t->rows[i].corr);
	free(t->rows);
	evt_buf_free(&t->tmp);
	evt_buf_free(&t->tmp2);
	evt_buf_free(&t->line);
	evt_buf_free(&t->dec);
	evt_event_free(&t->ev);
	free(t->wide);
	free(t->anc);
	free(t);
}

/* ---- reading data: only the fields shown ---- */

/*
 * The data and stored lines read here came through a validating parse
 * (evt-append's, or evt_event_parse's), so this only finds where values
 * end; it still never reads past the end, and says so (NULL) when the
 * text is not what it expects.
 */
static const char *
ws(const char *p, const char *e)
{
	while (p < e && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	return p;
}

/* Whether any byte of w is zero. */
#define ONES 0x0101010101010101ULL
#define HASZERO(w) (((w) - ONES) & ~(w) & (ONES << 7))

/* The end of the string starting at the quote p, past its closing quote.
 * Eight bytes at a time while none is a quote or a backslash: most of a
 * line is strings (ids, times). */
static const char *
skip_str(const char *p, const char *e)
{
	for (p++; e - p >= 8; p += 8) {
		uint64_t w;
		memcpy(&w, p, 8);
		if (HASZERO(w ^ (ONES * '"')) || HASZERO(w ^ (ONES * '\\')))
			break;
	}
	for (; p < e; p++) {
		if (*p == '\\')
			p++;
		else if (*p == '"')
			return p + 1;
	}
	return NULL;
}

static const char *
skip_val(const char *p, const char *e)
{
	int depth = 0;

	while (p < e) {
		switch (*p) {
		case '"':
			if ((p = skip_str(p, e)) == NULL)
				return NULL;
			if (depth == 0)
				return p;
			continue;
		case '{': case '[':
			depth++;
			break;
		case '}': case ']':
			if (depth == 0)
				return p;
			if (--depth == 0)
				return p + 1;
			break;
		case ',':
			if (depth == 0)
				return p;
			break;
		default:
			break;
		}
		p++;
	}
	return depth == 0 ? p : NULL;
}

/*
 * The next member of the object whose text runs to e, from *pp (just
 * after its '{', or after a member): key (without quotes, still escaped)
 * and value spans. Returns 1, 0 at the end, -1 when it cannot tell.
 */
static int
member(const char **pp, const char *e, struct str *k, struct str *v)
{
	const char *p = ws(*pp, e);

	if (p < e && *p == ',')
		p = ws(p + 1, e);
	if (p >= e || *p == '}') {
		*pp = p;
		return 0;
	}
	if (*p != '"')
		return -1;
	const char *q = skip_str(p, e);
	if (q == NULL)
		return -1;
	*k = (struct str){ p + 1, (size_t)(q - p - 2) };
	p = ws(q, e);
	if (p >= e || *p != ':')
		return -1;
	p = ws(p + 1, e);
	if ((q = skip_val(p, e)) == NULL || q == p)
		return -1;
	*v = (struct str){ p, (size_t)(q - p) };
	*pp = q;
	return 1;
}

static int
key_is(struct str k, const char *s, size_t n)
{
	return k.n == n && memcmp(k.p, s, n) == 0;
}
#define KEY(k, lit) key_is(k, lit, sizeof(lit) - 1)

static int
is_num(struct str v)
{
	return v.n && (v.p[0] == '-' || (v.p[0] >= '0' && v.p[0] <= '9'));
}

static int
is_jstr(struct str v)
{
	return v.n >= 2 && v.p[0] == '"';
}

/* The string value v (with its quotes), decoded when it has escapes
 * (into b, replacing its contents). */
static struct str
str_of(struct str v, struct evt_buf *b)
{
	if (memchr(v.p + 1, '\\', v.n - 2) == NULL)
		return (struct str){ v.p + 1, v.n - 2 };
	evt_json_str_decode(v.p, v.n, b);
	return (struct str){ b->p ? b->p : "", b->len };
}

/* The key fields of an event's data, as take_data finds them: amount
 * in the line, items (text) in t->tmp and (JSON) in t->line, currency and
 * reason interned. Valid until the next event. */
struct dfields {
	struct str amount, items, itemsj;
	uint32_t cur, reason;
	int total;
};

/* Items of data (an array of {sku, qty | requested, available}), as
 * text ("SKU-1 x 2, SKU-2 x 1 (0 available)") and as normalised JSON. */
static void
take_items(struct evt_trace *t, struct dfields *df, struct str a)
{
	const char *p = a.p + 1, *e = a.p + a.n - 1;
	int k = 0;

	evt_buf_reset(&t->tmp);
	evt_buf_reset(&t->line);
	evt_buf_addc(&t->line, '[');
	for (;;) {
		p = ws(p, e);
		if (p < e && *p == ',')
			p = ws(p + 1, e);
		if (p >= e)
			break;
		const char *q = skip_val(p, e);
		if (q == NULL || q == p)
			break;
		if (*p != '{') {
			p = q;
			continue;
		}
		struct str key, v, qty = { NULL, 0 }, req = { NULL, 0 };
		struct str avail = { NULL, 0 }, skuv = { NULL, 0 };
		const char *m = p + 1;
		int r;
		while ((r = member(&m, q - 1, &key, &v)) > 0) {
			if (KEY(key, "qty") && is_num(v) && !qty.p)
				qty = v;
			else if (KEY(key, "requested") && is_num(v) && !req.p)
				req = v;
			else if (KEY(key, "available") && is_num(v) && !avail.p)
				avail = v;
			else if (KEY(key, "sku") && is_jstr(v) && !skuv.p)
				skuv = v;
		}
		p = q;
		if (qty.p == NULL)
			qty = req;
		struct str sku = { "?", 1 };
		if (skuv.p)
			sku = str_of(skuv, &t->tmp2);
		if (k++) {
			evt_buf_adds(&t->tmp, ", ");
			evt_buf_addc(&t->line, ',');
		}
		evt_buf_add(&t->tmp, sku.p, sku.n);
		evt_buf_adds(&t->line, "{\"sku\":");
		evt_buf_json_str(&t->line, sku.p, sku.n);
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
	df->items = (struct str){ t->tmp.p, t->tmp.len };
	df->itemsj = (struct str){ t->line.p, t->line.len };
}

/* The key fields of data, the object whose text starts at p (and ends by
 * e): amount (or total) and currency, reason, items; a stock
 * adjustment's sku and delta count as its one item. The first member of
 * a name counts. Returns the end of the object, or NULL (df then holds
 * what was found before) when it cannot tell. */
static const char *
scan_data(struct evt_trace *t, struct dfields *df, const char *p,
    const char *e)
{
	struct str k, v, amount = { NULL, 0 }, total = { NULL, 0 };
	struct str cur = { NULL, 0 }, reason = { NULL, 0 }, items = { NULL, 0 };
	struct str delta = { NULL, 0 }, sku = { NULL, 0 };
	int rc;

	memset(df, 0, sizeof(*df));
	if (p >= e || *p != '{')
		return NULL;
	p++;
	while ((rc = member(&p, e, &k, &v)) > 0) {
		switch (k.n ? k.p[0] : 0) {
		case 'a':
			if (KEY(k, "amount") && is_num(v) && !amount.p)
				amount = v;
			break;
		case 't':
			if (KEY(k, "total") && is_num(v) && !total.p)
				total = v;
			break;
		case 'c':
			if (KEY(k, "currency") && is_jstr(v) && !cur.p)
				cur = v;
			break;
		case 'r':
			if (KEY(k, "reason") && is_jstr(v) && !reason.p)
				reason = v;
			break;
		case 'i':
			if (KEY(k, "items") && v.p[0] == '[' && !items.p)
				items = v;
			break;
		case 'd':
			if (KEY(k, "delta") && is_num(v) && !delta.p)
				delta = v;
			break;
		case 's':
			if (KEY(k, "sku") && is_jstr(v) && !sku.p)
				sku = v;
			break;
		}
	}
	if (rc < 0 || p >= e || *p != '}')
		return NULL;
	p++;
	if (amount.p == NULL && total.p != NULL) {
		amount = total;
		df->total = 1;
	}
	if (amount.p)
		df->amount = amount;
	if (cur.p) {
		struct str c = str_of(cur, &t->tmp2);
		df->cur = intern(t, c.p, c.n);
	}
	if (reason.p) {
		struct str r = str_of(reason, &t->tmp2);
		df->reason = intern(t, r.p, r.n);
	}
	if (items.p) {
		take_items(t, df, items);
		return p;
	}
	if (delta.p && sku.p) {
		struct str sk = str_of(sku, &t->tmp2);
		evt_buf_reset(&t->line);
		evt_buf_adds(&t->line, "[{\"sku\":");
		evt_buf_json_str(&t->line, sk.p, sk.n);
		evt_buf_adds(&t->line, ",\"qty\":");
		evt_buf_add(&t->line, delta.p, delta.n);
		evt_buf_adds(&t->line, "}]");
		evt_buf_reset(&t->tmp);
		evt_buf_add(&t->tmp, sk.p, sk.n);
		evt_buf_adds(&t->tmp, " x ");
		evt_buf_add(&t->tmp, delta.p, delta.n);
		df->items = (struct str){ t->tmp.p, t->tmp.len };
		df->itemsj = (struct str){ t->line.p, t->line.len };
	}
	return p;
}

/* ---- taking events ---- */

/* An event's envelope, as read: p NULL when absent. */
struct rec {
	struct str id, corr, cause, subject, source, type, data;
	int has_time, has_seq;
	int64_t time;
	long long seq;
	/* When df is set, the data was read already; when hashed, hid
	 * and hc are the hashes of id and corr. */
	const struct dfields *df;
	int hashed;
	uint64_t hid, hc;
};

static int
by_key(const void *a, const void *b, void *arg)
{
	const struct evt_trace *t = arg;
	const struct saga *x = *(struct saga *const *)a;
	const struct saga *y = *(struct saga *const *)b;

	if (t->all_seq && x->key_seq != y->key_seq)
		return x->key_seq < y->key_seq ? -1 : 1;
	return x->key_ord < y->key_ord ? -1 : x->key_ord > y->key_ord;
}

static void
batch_add(struct evt_trace *t, struct saga *s)
{
	if (t->nbatch == t->batchcap) {
		t->batchcap = t->batchcap ? t->batchcap * 2 : 64;
		t->batch = xrealloc(t->batch, t->batchcap * sizeof(*t->batch));
	}
	t->batch[t->nbatch++] = s;
}

/*
 * Write the sagas of the batch, in the order of their first event, and
 * let them go: their events' ids leave the table, their memory is freed.
 * With keep, each is remembered by its correlation id for another window
 * (on the done list), so that an event of it that comes later is marked
 * as its continuation.
 */
static void
write_batch(struct evt_trace *t, int keep)
{
	if (t->nbatch > 1)
		qsort_r(t->batch, t->nbatch, sizeof(*t->batch), by_key, t);
	/* All are written before any lets go, so that a cause in another
	 * saga of the batch is found there. */
	for (size_t k = 0; k < t->nbatch; k++)
		emit(t, t->batch[k]);
	for (size_t k = 0; k < t->nbatch; k++) {
		struct saga *s = t->batch[k];
		for (long i = 0; i < s->n; i++)
			__builtin_prefetch(&t->ids.e[s->cn[i].hlo &
			    (t->ids.cap - 1)]);
		for (long i = 0; i < s->n; i++)
			tab_del(&t->ids, s->cn[i].hlo, s, i);
		if (keep) {
			char *c = s->cbuf;
			if (s->corr.n >= sizeof(s->cbuf) &&
			    (c = malloc(s->corr.n + 1)) == NULL)
				abort();
			memcpy(c, s->corr.p, s->corr.n);
			c[s->corr.n] = '\0';
			s->corr.p = c;
			saga_release(t, s);
			s->state = S_DONE;
			s->last = t->pos;
			list_add(&t->done, s);
		} else {
			tab_del(&t->corrs, evt_hash_words(s->corr.p,
			    s->corr.n), s, -1);
			saga_release(t, s);
			saga_drop(t, s);
		}
	}
	t->nbatch = 0;
}

/* The input is at t->pos: write the sagas it has moved a window past. */
static void
sweep(struct evt_trace *t)
{
	struct saga *s;

	while ((s = t->active.head) != NULL) {
		if (!s->has_last) {
			s->last = t->pos;
			s->has_last = 1;
		}
		if (t->pos - s->last <= t->o.window_ms)
			break;
		list_del(&t->active, s);
		if (s->created && !s->decided) {
			s->state = S_PARKED;	/* waits for its outcome */
			list_add(&t->parked, s);
		} else
			batch_add(t, s);
	}
	if (t->nbatch)
		write_batch(t, 1);
	while ((s = t->done.head) != NULL && t->pos - s->last > t->o.window_ms) {
		list_del(&t->done, s);
		tab_del(&t->corrs, evt_hash_words(s->corr.p, s->corr.n), s, -1);
		if (s->corr.p != s->cbuf)
			free((char *)s->corr.p);
		saga_drop(t, s);
	}
}

static int
take(struct evt_trace *t, const struct rec *r, struct evt_err *err)
{
	struct str id = r->id, corr = r->corr, cause = r->cause;

	if (id.p == NULL || id.n == 0)
		return evt_err_set(err, EX_DATAERR, "not an event to trace: no "
		    "\"id\" (nothing could name it as its cause)");
	if (corr.p == NULL)
		corr = id;
	if (cause.p == NULL)
		cause = id;
	/* Only the named sagas are kept when they are named by id; a
	 * subject may be in any saga, so then every one is kept. */
	if (t->o.corrs && t->o.corrs->n && !(t->o.subjects && t->o.subjects->n) &&
	    !in_strv(t->o.corrs, corr.p, corr.n))
		return 1;
	uint64_t hid = r->hashed ? r->hid : evt_hash_words(id.p, id.n);
	if (tab_get(&t->ids, hid, id.p, id.n))
		return 1;	/* the same event twice: it happened once */
	if (r->has_time && (!t->has_pos || r->time > t->pos)) {
		t->pos = r->time;
		t->has_pos = 1;
	}
	if (!r->has_seq)
		t->all_seq = 0;

	uint64_t hc = r->hashed ? r->hc : evt_hash_words(corr.p, corr.n);
	struct ent *ce = tab_get(&t->corrs, hc, corr.p, corr.n);
	struct saga *s = ce ? ce->s : NULL;
	int continued = 0;
	if (s && s->state == S_DONE) {
		continued = 1;
		list_del(&t->done, s);
		tab_del(&t->corrs, hc, s, -1);
		if (s->corr.p != s->cbuf)
			free((char *)s->corr.p);
		saga_drop(t, s);
		s = NULL;
	}
	if (s == NULL) {
		if ((s = t->spare_sagas) != NULL) {
			t->spare_sagas = s->next;
			t->nspare_sagas--;
			memset(s, 0, sizeof(*s));
		} else if ((s = calloc(1, sizeof(*s))) == NULL)
			abort();
		s->corr = put(t, s, corr.p, corr.n);
		s->key_ord = t->ord;
		s->key_seq = LLONG_MAX;
		s->continued = (unsigned char)continued;
		s->state = S_ACTIVE;
		tab_put(&t->corrs, hc, s, -1);
		list_add(&t->active, s);
	} else {
		if (s->state == S_PARKED) {
			list_del(&t->parked, s);
			s->state = S_ACTIVE;
		} else
			list_del(&t->active, s);
		list_add(&t->active, s);
	}
	if (s->n == s->cap) {
		/* In the arena too: what a grown saga leaves behind is
		 * freed with it. */
		long cap = s->cap ? s->cap * 2 : 8;
		struct cnode *cn = (struct cnode *)(void *)aalloc(t, s,
		    (size_t)cap * sizeof(*cn), 1);
		if (s->n)
			memcpy(cn, s->cn, (size_t)s->n * sizeof(*cn));
		s->cn = cn;
		s->cap = cap;
	}
	struct dfields df;
	memset(&df, 0, sizeof(df));
	if (r->df)
		df = *r->df;
	else if (r->data.p)
		scan_data(t, &df, r->data.p, r->data.p + r->data.n);
	struct cnode *c = &s->cn[s->n];
	memset(c, 0, sizeof(*c));
	c->ord = t->ord;
	c->hlo = (uint32_t)hid;
	int self = cause.n == id.n && memcmp(cause.p, id.p, id.n) == 0;
	struct str part[C_N] = {
		id, self ? nostr : cause, r->subject.p ? r->subject : nostr,
		df.amount.p ? df.amount : nostr, df.items.p ? df.items : nostr,
		df.itemsj.p ? df.itemsj : nostr
	};
	size_t total = 0;
	for (int k = 0; k < C_N; k++)
		total += part[k].n + 1;
	char *d = aalloc(t, s, total, 0);
	c->str = d;
	for (int k = 0; k < C_N; k++) {
		c->len[k] = (uint32_t)part[k].n;
		if (part[k].n)
			memcpy(d, part[k].p, part[k].n);
		d[part[k].n] = '\0';
		d += part[k].n + 1;
	}
	if (self)
		c->flags |= N_SELF;
	if (df.total)
		c->flags |= N_TOTAL;
	c->cur = df.cur;
	c->reason = df.reason;
	if (r->source.p)
		c->src = intern(t, r->source.p, r->source.n);
	c->type = intern(t, r->type.p ? r->type.p : "", r->type.p ? r->type.n : 0);
	const struct istr *ty = istr_of(t, c->type);
	c->kind = ty->kind;
	if (ty->comp)
		c->flags |= N_COMP;
	if (ty->kind == K_CREATED)
		s->created = 1;
	else if (ty->kind != K_OTHER)
		s->decided = 1;
	if (r->has_time) {
		c->time = r->time;
		c->flags |= N_TIME;
	}
	if (t->has_pos) {
		int64_t at = r->has_time ? r->time : t->pos;
		if (!s->has_last || at > s->last)
			s->last = at;
		s->has_last = 1;
	}
	if (r->has_seq) {
		c->seq = r->seq;
		c->flags |= N_SEQ;
		if (s->n && r->seq <= s->lastseq)
			s->unsorted = 1;
		s->lastseq = r->seq;
		if (r->seq < s->key_seq)
			s->key_seq = r->seq;
	}
	if (t->o.subjects && t->o.subjects->n && r->subject.p &&
	    in_strv(t->o.subjects, r->subject.p, r->subject.n))
		s->selected = 1;
	tab_put(&t->ids, hid, s, s->n);
	s->n++;
	t->ord++;
	if (t->has_pos && t->o.window_ms >= 0)
		sweep(t);
	return 0;
}

static struct str
evstr(const struct evt_event *ev, enum evt_field f, const struct evt_str *v)
{
	if (ev->slot[f] < 0)
		return (struct str){ NULL, 0 };
	return (struct str){ v->p ? v->p : "", v->n };
}

int
evt_trace_add(struct evt_trace *t, const struct evt_event *ev,
    struct evt_err *err)
{
	struct rec r;

	r.id = evstr(ev, EVT_F_ID, &ev->id);
	r.corr = evstr(ev, EVT_F_CORRELATIONID, &ev->corr);
	r.cause = evstr(ev, EVT_F_CAUSATIONID, &ev->cause);
	r.subject = evstr(ev, EVT_F_SUBJECT, &ev->subject);
	r.source = evstr(ev, EVT_F_SOURCE, &ev->source);
	r.type = evstr(ev, EVT_F_TYPE, &ev->type);
	r.data = (struct str){ NULL, 0 };
	if (ev->slot[EVT_F_DATA] >= 0) {
		const struct evt_jmember *m = &ev->j.m[ev->slot[EVT_F_DATA]];
		r.data = (struct str){ ev->j.base + m->voff, m->vlen };
	}
	r.has_time = ev->slot[EVT_F_TIME] >= 0;
	r.time = ev->time_ms;
	r.has_seq = ev->slot[EVT_F_SEQ] >= 0;
	r.seq = ev->seq;
	r.df = NULL;
	r.hashed = 0;
	return take(t, &r, err);
}

/* Bring the slot of hash h in tb towards the cache, for a look-up soon. */
static void
prefetch(const struct tab *tb, uint64_t h)
{
	if (tb->cap)
		__builtin_prefetch(&tb->e[h & (tb->cap - 1)]);
}

int
evt_trace_add_stored(struct evt_trace *t, const char *line, size_t len,
    struct evt_err *err)
{
	const char *p = line, *e = line + len, *q;
	struct dfields df;
	struct str k, v;
	struct rec r;
	int bad = 0, used = 0;

	/* Fields with escapes (rare: ids are plain) are decoded one to a
	 * buffer: the first that has one takes dec, any other goes the long
	 * way, as does anything this reading does not expect. */
	memset(&r, 0, sizeof(r));
	p = ws(p, e);
	if (p >= e || *p != '{')
		goto full;
	p++;
	for (;;) {
		p = ws(p, e);
		if (p < e && *p == ',')
			p = ws(p + 1, e);
		if (p >= e)
			goto full;
		if (*p == '}')
			break;
		if (*p != '"' || (q = skip_str(p, e)) == NULL)
			goto full;
		k = (struct str){ p + 1, (size_t)(q - p - 2) };
		p = ws(q, e);
		if (p >= e || *p != ':')
			goto full;
		p = ws(p + 1, e);
		if (KEY(k, "data") && p < e && *p == '{') {
			/* Read once, where it is, not skipped then read. */
			if ((q = scan_data(t, &df, p, e)) == NULL)
				goto full;
			r.data = (struct str){ p, (size_t)(q - p) };
			r.df = &df;
		} else if ((q = skip_val(p, e)) == NULL || q == p)
			goto full;
		v = (struct str){ p, (size_t)(q - p) };
		p = q;
		struct str *f = NULL;
		switch (k.n) {
		case 2: if (KEY(k, "id")) f = &r.id; break;
		case 3: if (KEY(k, "seq")) {
				if (evt_json_int(v.p, v.n, &r.seq) < 0)
					bad = 1;
				r.has_seq = 1;
			}
			break;
		case 4:
			if (KEY(k, "type"))
				f = &r.type;
			else if (KEY(k, "time")) {
				if (!is_jstr(v) || memchr(v.p, '\\', v.n) ||
				    evt_time_parse(v.p + 1, v.n - 2, &r.time) < 0)
					bad = 1;
				r.has_time = 1;
			} else if (KEY(k, "data") && r.df == NULL)
				bad = 1;	/* not an object */
			break;
		case 6: if (KEY(k, "source")) f = &r.source; break;
		case 7: if (KEY(k, "subject")) f = &r.subject; break;
		case 11: if (KEY(k, "causationid")) f = &r.cause; break;
		case 13: if (KEY(k, "correlationid")) f = &r.corr; break;
		}
		if (f == NULL)
			continue;
		if (f->p || !is_jstr(v) || memchr(k.p, '\\', k.n))
			bad = 1;	/* twice, not a string, or an odd key */
		else if (memchr(v.p, '\\', v.n) == NULL)
			*f = (struct str){ v.p + 1, v.n - 2 };
		else if (used++ == 0)
			*f = str_of(v, &t->dec);
		else
			bad = 1;
		/* The look-ups come after the data is read: start them. */
		if (f == &r.id && !bad)
			prefetch(&t->ids, r.hid = evt_hash_words(r.id.p, r.id.n));
		else if (f == &r.corr && !bad)
			prefetch(&t->corrs, r.hc = evt_hash_words(r.corr.p, r.corr.n));
	}
	if (bad || r.type.p == NULL || r.id.p == NULL)
		goto full;
	if (r.corr.p == NULL)
		r.hc = r.hid;
	r.hashed = 1;
	return take(t, &r, err);
full:
	if (evt_event_parse_stored(&t->ev, line, len, err) < 0)
		return -1;
	return evt_trace_add(t, &t->ev, err);
}

void
evt_trace_end(struct evt_trace *t)
{
	struct saga *s;

	while ((s = t->active.head) != NULL) {
		list_del(&t->active, s);
		batch_add(t, s);
	}
	while ((s = t->parked.head) != NULL) {
		list_del(&t->parked, s);
		batch_add(t, s);
	}
	write_batch(t, 0);
	free_list(t, &t->done);
	if (t->o.fmt == EVT_TRACE_TEXT && (t->o.flags & EVT_TRACE_SUMMARY))
		rows_flush(t);
	if (t->o.fmt == EVT_TRACE_DOT)
		evt_buf_adds(t->out, "}\n");
}

size_t
evt_trace_count(const struct evt_trace *t)
{
	return t->written;
}

long long
evt_trace_events(const struct evt_trace *t)
{
	return t->ord;
}

/* ---- building a saga's tree, when it is written ---- */

static int
by_seq(const void *a, const void *b, void *arg)
{
	const struct saga *s = arg;
	const long i = *(const long *)a, j = *(const long *)b;
	const long long si = s->nodes[i].seq, sj = s->nodes[j].seq;

	if (si != sj)
		return si < sj ? -1 : 1;
	return i < j ? -1 : i > j;
}

/*
 * Link the saga's events: in seq order when every event taken has one,
 * else in input order; each under its cause when that is an earlier
 * event of the saga (so every link points back, and the trees cannot
 * hold a cycle), else an orphan, a root of its own.
 */
/* Widen saga s's events into t->wide, for the writers (s->nodes). */
static void
widen(struct evt_trace *t, struct saga *s)
{
	size_t n = (size_t)s->n;

	if (n > t->widecap) {
		t->widecap = n * 2;
		t->wide = xrealloc(t->wide, t->widecap * sizeof(*t->wide));
	}
	for (size_t i = 0; i < n; i++) {
		const struct cnode *c = &s->cn[i];
		struct node *nd = &t->wide[i];
		struct str part[C_N];
		const char *p = c->str;
		memset(nd, 0, sizeof(*nd));
		for (int k = 0; k < C_N; k++) {
			part[k] = c->len[k] ? (struct str){ p, c->len[k] } : nostr;
			p += c->len[k] + 1;
		}
		nd->seq = c->seq;
		nd->ord = c->ord;
		nd->time = c->time;
		nd->id = part[C_ID];
		nd->cause = c->flags & N_SELF ? nd->id : part[C_CAUSE];
		nd->subject = part[C_SUBJECT];
		nd->amount = part[C_AMOUNT];
		nd->items = part[C_ITEMS];
		nd->itemsj = part[C_ITEMSJ];
		nd->source = istr_str(t, c->src);
		nd->type = istr_str(t, c->type);
		nd->currency = istr_str(t, c->cur);
		nd->reason = istr_str(t, c->reason);
		nd->aw = istr_of(t, c->type)->aw;
		nd->kind = c->kind;
		nd->flags = c->flags & ~(unsigned)N_SELF;
	}
	s->nodes = t->wide;
}

static void
link_saga(struct evt_trace *t, struct saga *s)
{
	size_t n = (size_t)s->n;

	if (n > t->ordcap) {
		t->ordcap = n * 2;
		t->order = xrealloc(t->order, t->ordcap * sizeof(long));
		t->rank = xrealloc(t->rank, t->ordcap * sizeof(long));
	}
	long *order = t->order, *rank = t->rank;
	for (size_t k = 0; k < n; k++)
		order[k] = (long)k;
	if (t->all_seq && s->unsorted)
		qsort_r(order, n, sizeof(long), by_seq, s);
	s->first = -1;
	long last = -1;
	for (size_t k = 0; k < n; k++) {
		long i = order[k];
		struct node *nd = &s->nodes[i];
		rank[i] = (long)k;
		nd->parent = nd->child = nd->lastchild = nd->next = nd->snext = -1;
		if (s->first < 0)
			s->first = i;
		else
			s->nodes[last].snext = i;
		last = i;
	}
	for (size_t k = 0; k < n; k++) {
		long i = order[k];
		struct node *nd = &s->nodes[i];
		if (nd->cause.p == nd->id.p || (nd->cause.n == nd->id.n &&
		    memcmp(nd->cause.p, nd->id.p, nd->id.n) == 0))
			continue;	/* a root: its own cause */
		long p = -1;
		if (n <= 32) {
			/* Most causes are in the saga, which is small: look
			 * there first, in memory the walk has just touched. */
			for (size_t j = 0; j < n && p < 0; j++)
				if (s->nodes[j].id.n == nd->cause.n &&
				    memcmp(s->nodes[j].id.p, nd->cause.p,
				    nd->cause.n) == 0)
					p = (long)j;
		}
		if (p < 0) {
			struct ent *pe = tab_get(&t->ids, evt_hash_words(nd->cause.p,
			    nd->cause.n), nd->cause.p, nd->cause.n);
			if (pe == NULL) {
				nd->orphan = O_MISSING;
				continue;
			}
			if (pe->s != s) {
				nd->orphan = O_OTHER;
				continue;
			}
			p = pe->i;
		}
		struct node *pn = &s->nodes[p];
		if (rank[p] > rank[i]) {
			nd->orphan = O_LATER;
			continue;
		}
		nd->parent = p;
		if (pn->child < 0)
			pn->child = i;
		else
			s->nodes[pn->lastchild].next = i;
		pn->lastchild = i;
		if ((nd->flags & N_TIME) && (pn->flags & N_TIME)) {
			nd->wait = nd->time - pn->time;
			nd->flags |= N_WAIT;
			if (t->o.has_slow && nd->wait > t->o.slow_ms)
				nd->flags |= N_SLOW;
		}
	}
}

/* The saga's outcome, counts, and for a stuck saga the causes that wait. */
static void
settle(struct saga *s)
{
	s->terminal = s->slowest = -1;
	s->outcome = OUT_NONE;
	for (long i = s->first; i >= 0; i = s->nodes[i].snext) {
		struct node *nd = &s->nodes[i];
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
		    nd->wait > s->nodes[s->slowest].wait))
			s->slowest = i;
		if (s->terminal >= 0)
			continue;
		if (nd->kind == K_COMPLETED)
			s->outcome = OUT_COMPLETED;
		else if (nd->kind == K_CANCELLED)
			s->outcome = OUT_CANCELLED;
		else if (nd->kind == K_REJECTED)
			s->outcome = OUT_REJECTED;
		else
			continue;
		s->terminal = i;
	}
	if (s->terminal >= 0 || !s->created)
		return;
	s->outcome = OUT_STUCK;
	for (long i = s->first; i >= 0; i = s->nodes[i].snext) {
		struct node *nd = &s->nodes[i];
		if (nd->child < 0)
			nd->awaits = nd->aw;
	}
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
		/* The most frequent by far, and snprintf is slow. */
		char *o = out;
		if (v >= 100)
			*o++ = (char)('0' + v / 100);
		if (v >= 10)
			*o++ = (char)('0' + v / 10 % 10);
		*o++ = (char)('0' + v % 10);
		memcpy(o, "ms", 3);
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
	for (long r = s->first; r >= 0; r = s->nodes[r].snext) {
		if (s->nodes[r].parent >= 0)
			continue;
		long i = r;
		size_t depth = 0;
		for (;;) {
			set_anc(t, depth, i);
			fn(t, i, depth, 0, arg);
			if (s->nodes[i].child >= 0) {
				i = s->nodes[i].child;
				depth++;
				continue;
			}
			fn(t, i, depth, 1, arg);
			while (i != r && s->nodes[i].next < 0) {
				i = s->nodes[i].parent;
				depth--;
				fn(t, i, depth, 1, arg);
			}
			if (i == r)
				break;
			i = s->nodes[i].next;
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
	size_t k = 0;

	while (k < n && (unsigned char)p[k] >= 0x20 && p[k] != 0x7f)
		k++;
	if (k == n) {		/* the usual case: nothing to replace */
		evt_buf_add(b, p, n);
		return;
	}
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
		evt_buf_add(b, nd->amount.p, nd->amount.n);
		if (nd->currency.n) {
			evt_buf_addc(b, ' ');
			add_text(b, nd->currency.p, nd->currency.n);
		}
		sep = "; ";
	}
	if (nd->reason.n) {
		evt_buf_adds(b, sep);
		evt_buf_adds(b, "reason ");
		add_text(b, nd->reason.p, nd->reason.n);
		sep = "; ";
	}
	if (nd->items.n) {
		evt_buf_adds(b, sep);
		evt_buf_adds(b, "items ");
		add_text(b, nd->items.p, nd->items.n);
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
		mark(b, colour, C_ORPHAN, "orphan: cause ", nd->cause.p,
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
	const struct saga *s = w->s;
	const struct node *nd = &s->nodes[i];
	char off[40], wait[40];

	if (leave)
		return;
	times_text(t, w->s, nd, off, wait);
	size_t tw = depth * 3 + width(nd->type.p, nd->type.n);
	size_t sw = width(nd->source.p, nd->source.n);
	struct evt_buf *b = &t->line;
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
	evt_buf_reset(b);
	fields_text(t, nd, b);	/* not measured: they come last */
	/* The graph: a bar for each ancestor that has a sibling to come,
	 * then this node's own corner. */
	for (size_t d = 1; d <= depth; d++) {
		int more = s->nodes[t->anc[d]].next >= 0;
		if (d < depth)
			evt_buf_adds(o, more ? "│  " : "   ");
		else
			evt_buf_adds(o, more ? "├─ " : "└─ ");
	}
	add_text(o, nd->type.p, nd->type.n);
	pad(o, tw, t->w_tree + 2);
	add_text(o, nd->source.p, nd->source.n);
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
	add_text(o, s->corr.p, s->corr.n);
	if (s->continued)
		evt_buf_adds(o, " (continued)");
	evt_buf_adds(o, ":");
	if (colour && s->outcome == OUT_STUCK)
		evt_buf_adds(o, C_STUCK);
	if (s->outcome != OUT_NONE) {
		evt_buf_addc(o, ' ');
		evt_buf_adds(o, outcome_name[s->outcome]);
	}
	if (s->terminal >= 0 && s->nodes[s->terminal].reason.n) {
		const struct node *tn = &s->nodes[s->terminal];
		evt_buf_adds(o, " (");
		add_text(o, tn->reason.p, tn->reason.n);
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
		evt_trace_duration(s->nodes[s->slowest].wait, d);
		evt_buf_printf(o, ", slowest wait %s (", d);
		add_text(o, s->nodes[s->slowest].type.p,
		    s->nodes[s->slowest].type.n);
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
	if (s->terminal >= 0 && s->nodes[s->terminal].reason.n) {
		evt_buf_reset(&t->tmp2);
		add_text(&t->tmp2, s->nodes[s->terminal].reason.p,
		    s->nodes[s->terminal].reason.n);
		for (size_t k = 0; k < t->tmp2.len; k++)
			if (t->tmp2.p[k] == ' ')
				t->tmp2.p[k] = '_';	/* one field for awk */
		snprintf(r->f[2], sizeof(r->f[2]), "%s", t->tmp2.p);
	}
	snprintf(r->f[3], sizeof(r->f[3]), "%ld", s->n);
	strcpy(r->f[4], "-");
	if (s->has_time)
		evt_trace_duration(s->end - s->start, r->f[4]);
	snprintf(r->f[5], sizeof(r->f[5]), "%ld", s->comps);
	strcpy(r->f[6], "-");
	if (s->slowest >= 0)
		evt_trace_duration(s->nodes[s->slowest].wait, r->f[6]);
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

/*
 * Write the summary rows held: the columns are as wide as the widest
 * value of the rows written so far and of these (at least the heading),
 * and the heading comes before the first rows. Rows are held SUM_BLOCK
 * at a time, so that memory stays flat: a wider value in a later block
 * widens its column from there on.
 */
static void
rows_flush(struct evt_trace *t)
{
	size_t *w = t->sum_w;

	if (!t->headed)
		for (int k = 0; k < 7; k++)
			w[k] = strlen(sum_head[k]);
	for (size_t i = 0; i < t->nrows; i++) {
		const struct sumrow *r = &t->rows[i];
		size_t cw = width(r->corr, strlen(r->corr));
		if (cw > w[0])
			w[0] = cw;
		for (int k = 1; k < 7; k++)
			if (strlen(r->f[k]) > w[k])
				w[k] = strlen(r->f[k]);
	}
	if (!t->headed) {
		sum_line(t->out, sum_head, w);
		t->headed = 1;
	}
	for (size_t i = 0; i < t->nrows; i++) {
		const char *f[7];
		f[0] = t->rows[i].corr;
		for (int k = 1; k < 7; k++)
			f[k] = t->rows[i].f[k];
		sum_line(t->out, f, w);
		if (t->rows[i].corr != t->rows[i].cbuf)
			free(t->rows[i].corr);
	}
	t->nrows = 0;
}

static void
sum_add(struct evt_trace *t, const struct saga *s)
{
	if (t->rows == NULL)
		t->rows = xrealloc(NULL, SUM_BLOCK * sizeof(*t->rows));
	struct sumrow *r = &t->rows[t->nrows++];
	sum_row(t, s, r);
	r->corr = r->cbuf;
	if (s->corr.n + sizeof("(continued)") > sizeof(r->cbuf) &&
	    (r->corr = malloc(s->corr.n + sizeof("(continued)"))) == NULL)
		abort();
	memcpy(r->corr, s->corr.p, s->corr.n);
	strcpy(r->corr + s->corr.n, s->continued ? "(continued)" : "");
	if (t->nrows == SUM_BLOCK)
		rows_flush(t);
}

/* ---- JSON ---- */

static void
json_saga_fields(struct evt_trace *t, const struct saga *s, struct evt_buf *o)
{
	char tm[EVT_TIME_LEN + 1];

	evt_buf_adds(o, "{\"correlationid\":");
	evt_buf_json_str(o, s->corr.p, s->corr.n);
	if (s->continued)
		evt_buf_adds(o, ",\"continued\":true");
	evt_buf_adds(o, ",\"outcome\":");
	if (s->outcome == OUT_NONE)
		evt_buf_adds(o, "null");
	else
		evt_buf_json_str(o, outcome_name[s->outcome],
		    strlen(outcome_name[s->outcome]));
	evt_buf_adds(o, ",\"reason\":");
	if (s->terminal >= 0 && s->nodes[s->terminal].reason.n)
		evt_buf_json_str(o, s->nodes[s->terminal].reason.p,
		    s->nodes[s->terminal].reason.n);
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
		    (long long)s->nodes[s->slowest].wait);
		evt_buf_json_str(o, s->nodes[s->slowest].id.p,
		    s->nodes[s->slowest].id.n);
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
	const struct saga *s = w->s;
	const struct node *nd = &s->nodes[i];
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
	evt_buf_json_str(o, nd->id.p, nd->id.n);
	if (nd->flags & N_SEQ)
		evt_buf_printf(o, ",\"seq\":%lld", nd->seq);
	evt_buf_adds(o, ",\"type\":");
	evt_buf_json_str(o, nd->type.p, nd->type.n);
	evt_buf_adds(o, ",\"source\":");
	if (nd->source.n)
		evt_buf_json_str(o, nd->source.p, nd->source.n);
	else
		evt_buf_adds(o, "null");
	evt_buf_adds(o, ",\"subject\":");
	evt_buf_json_str(o, nd->subject.p, nd->subject.n);
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
		evt_buf_add(o, nd->amount.p, nd->amount.n);
	}
	if (nd->currency.n) {
		evt_buf_adds(o, ",\"currency\":");
		evt_buf_json_str(o, nd->currency.p, nd->currency.n);
	}
	if (nd->reason.n) {
		evt_buf_adds(o, ",\"reason\":");
		evt_buf_json_str(o, nd->reason.p, nd->reason.n);
	}
	if (nd->itemsj.n) {
		evt_buf_adds(o, ",\"items\":");
		evt_buf_add(o, nd->itemsj.p, nd->itemsj.n);
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
		evt_buf_json_str(o, nd->cause.p, nd->cause.n);
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
	const struct saga *s = w->s;
	const struct node *nd = &s->nodes[i];
	struct evt_buf *o = w->out;
	char off[40], wait[40];

	if (leave)
		return;
	long long id = nd->ord;

	times_text(t, w->s, nd, off, wait);
	evt_buf_printf(o, "\t\tn%lld [label=\"", id);
	dot_str(o, nd->type.p, nd->type.n);
	evt_buf_adds(o, "\\n");
	dot_str(o, nd->source.p, nd->source.n);
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
		evt_buf_printf(o, "\t\tn%lld -> n%lld [label=\"%s\"",
		    s->nodes[nd->parent].ord, id, wait);
		if (nd->flags & N_SLOW)
			evt_buf_adds(o, ", color=red, fontcolor=red, penwidth=2");
		evt_buf_adds(o, "];\n");
	}
	if (nd->orphan) {
		evt_buf_printf(o, "\t\tm%lld [shape=plaintext, label=\"cause ", id);
		dot_str(o, nd->cause.p, nd->cause.n);
		evt_buf_adds(o, nd->orphan == O_MISSING ? "\\nnot found" :
		    nd->orphan == O_OTHER ? "\\nin another saga" : "\\ncomes after");
		evt_buf_printf(o, "\"];\n\t\tm%lld -> n%lld [style=dashed];\n", id,
		    id);
	}
	if (nd->awaits) {
		evt_buf_printf(o, "\t\tw%lld [shape=plaintext, fontcolor=red, "
		    "label=\"no outcome\\nawaiting %s\"];\n", id, nd->awaits);
		evt_buf_printf(o, "\t\tn%lld -> w%lld [style=dotted, color=red];\n",
		    id, id);
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
mermaid_who(struct evt_trace *t, struct str src, const struct str *svc,
    size_t nsvc, struct evt_buf *o)
{
	if (mermaid_plain(src.p, src.n)) {
		evt_buf_add(o, src.p, src.n);
		return;
	}
	for (size_t k = 0; k < nsvc; k++)
		if (svc[k].p == src.p) {
			evt_buf_printf(o, "p%zu", k + 1);
			return;
		}
}

static void
saga_mermaid(struct evt_trace *t, const struct saga *s, struct evt_buf *o)
{
	struct str *svc = NULL;
	size_t nsvc = 0;
	char off[40], wait[40];

	evt_buf_adds(o, "sequenceDiagram\n    %% ");
	evt_buf_reset(&t->tmp);
	saga_head_text(t, s, &t->tmp, 0);
	mermaid_text(o, t->tmp.p, t->tmp.len - 1);
	evt_buf_addc(o, '\n');
	/* Participants in the order they first act (interned: one offset
	 * per name). A source that is absent is shown as "?". */
	for (long i = s->first; i >= 0; i = s->nodes[i].snext) {
		struct str src = s->nodes[i].source;
		size_t k;
		for (k = 0; k < nsvc; k++)
			if (svc[k].p == src.p)
				break;
		if (k < nsvc)
			continue;
		if ((svc = realloc(svc, (nsvc + 1) * sizeof(*svc))) == NULL)
			abort();
		svc[nsvc++] = src;
		evt_buf_adds(o, "    participant ");
		if (mermaid_plain(src.p, src.n))
			evt_buf_add(o, src.p, src.n);
		else {
			evt_buf_printf(o, "p%zu as ", nsvc);
			if (src.n)
				mermaid_text(o, src.p, src.n);
			else
				evt_buf_addc(o, '?');
		}
		evt_buf_addc(o, '\n');
	}
	/* Messages in the order they happened: cause's service to the
	 * event's, dashed for a compensation; a root is a message to self. */
	for (long i = s->first; i >= 0; i = s->nodes[i].snext) {
		const struct node *nd = &s->nodes[i];
		struct str from = nd->parent >= 0 ? s->nodes[nd->parent].source :
		    nd->source;
		times_text(t, s, nd, off, wait);
		if (nd->orphan) {
			evt_buf_adds(o, "    Note over ");
			mermaid_who(t, nd->source, svc, nsvc, o);
			evt_buf_adds(o, ": orphan, cause ");
			mermaid_text(o, nd->cause.p, nd->cause.n);
			evt_buf_adds(o, nd->orphan == O_MISSING ? " not found\n" :
			    nd->orphan == O_OTHER ? " in another saga\n" :
			    " comes after\n");
		}
		evt_buf_adds(o, "    ");
		mermaid_who(t, from, svc, nsvc, o);
		evt_buf_adds(o, nd->flags & N_COMP ? "-->>" : "->>");
		mermaid_who(t, nd->source, svc, nsvc, o);
		evt_buf_adds(o, ": ");
		mermaid_text(o, nd->type.p, nd->type.n);
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

/* Write saga s, linked and settled, if it is one of those asked for. */
static void
emit(struct evt_trace *t, struct saga *s)
{
	struct evt_buf *out = t->out;
	int flags = t->o.flags;

	if (!t->all && !s->selected && !in_strv(t->o.corrs, s->corr.p,
	    s->corr.n))
		return;
	widen(t, s);
	link_saga(t, s);
	settle(s);
	size_t i = t->written++;
	switch (t->o.fmt) {
	case EVT_TRACE_TEXT:
		if (flags & EVT_TRACE_SUMMARY) {
			sum_add(t, s);
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
	s->nodes = NULL;
}
