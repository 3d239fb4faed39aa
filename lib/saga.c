/*
 * saga.c - the choreography of DESIGN §4 (saga-step): facts folded, then
 * decisions taken once (see saga.h for the model).
 *
 * An event is read once into a struct rev: the envelope from the scanner
 * evt-append uses, and from data only the few fields the rules read
 * (scanned, never built into a tree). A saga's state is a struct tx: what
 * its order said and which outcomes are recorded, with the ids the next
 * decisions are derived from. Reactions are written straight as bytes, in
 * the documented field order; amounts are copied as the order wrote them.
 *
 * Sagas wait for a decision in a queue (an intrusive list, in the order
 * they were touched), and for their deadline in a binary heap; a saga that
 * is over is forgotten at once, and only a hash of its id is kept, so
 * memory follows the open sagas, not the input.
 */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "decimal.h"
#include "hmap.h"
#include "json.h"
#include "saga.h"
#include "uuid.h"

enum { PAY_NONE, PAY_PROCESSED, PAY_FAILED };
enum { INV_NONE, INV_RESERVED, INV_UNAVAILABLE };
enum { OPEN, COMPLETED, CANCELLED };

/* The event types of the choreography; R_OTHER only passes through. */
enum rtype {
	R_OTHER, R_ADJUSTED, R_CREATED, R_PROCESSED, R_FAILED, R_REFUNDED,
	R_RESERVED, R_UNAVAILABLE, R_RELEASED, R_FULFILLED, R_DELIVERED,
	R_COMPLETED, R_CANCELLED, R_N
};

static const char *const tname[R_N] = {
	"", "InventoryAdjusted", "TransactionCreated", "PaymentProcessed",
	"PaymentFailed", "PaymentRefunded", "InventoryReserved",
	"InventoryUnavailable", "InventoryReleased", "OrderFulfilled",
	"OrderDelivered", "TransactionCompleted", "TransactionCancelled"
};

struct item {
	struct evt_sv sku;
	long long qty;
};

/*
 * One event as the rules read it, input or reaction. Its strings borrow:
 * from the input line and the saga's scratch space (input), or from the
 * struct tx (reactions), all valid until the fold ends.
 */
struct rev {
	enum rtype type;
	struct evt_sv id, corr;
	int64_t time_ms;
	/* data */
	struct evt_sv txid, store, sku, reason, total, amount, currency, token;
	long long delta;
	int delta_ok, items_ok, delivery;
	const struct item *items;
	size_t nitems;
	const long long *avail;	/* InventoryUnavailable: units on hand */
};

/* An owned copy of a string; p NULL when absent. */
struct own {
	char *p;
	size_t n;
};

/*
 * One saga, as far as the events read tell. The order's part is set by
 * its TransactionCreated (has_order); the outcomes by whichever events
 * record them, in any order. Each outcome keeps the id of the event that
 * recorded it: the next decisions are named after it, and point at it.
 */
struct tx {
	struct tx *prev, *next;	/* the decision queue, when queued */
	size_t heap;		/* 1 + index in the deadline heap, or 0 */
	int queued, expired, has_order, delivery;
	int pay, inv, refunded, released, fulfilled, delivered, outcome;
	int64_t created_ms, due_ms, last_ms;
	unsigned long long order;	/* arrival, to break deadline ties */
	struct own id;		/* transaction_id */
	struct own corr;
	/* What the order said, all in one block (oblock) they point into. */
	struct own cid, store, total, currency, token;
	struct item *items;
	size_t nitems;
	char *oblock;
	struct own pay_id, paid, fail_id, refund_id, res_id, res_store;
	struct own unavail_id, ful_id, cancel_id, cancel_reason;
	struct item *res_items;	/* what the reservation took */
	size_t nres;
};

/*
 * The finished sagas remembered, so that a cause seen again after its saga
 * is over gets no second reaction: a 64-bit hash of each transaction id,
 * the last DONE_MAX of them, in a table twice that size. Bounded, so memory
 * follows the open sagas and not the length of the input.
 */
#ifndef DONE_MAX
#define DONE_MAX (1u << 20)
#endif

struct done {
	uint64_t *tab;		/* 2 * DONE_MAX slots, 0 = empty */
	uint64_t *ring;		/* the same hashes, oldest first */
	size_t head, len;
};

struct evt_saga {
	struct evt_saga_opts o;
	struct evt_hmap txs;	/* transaction_id -> struct tx * */
	struct done done;
	struct evt_hmap stock;	/* store and sku (see stock()) -> units */
	struct evt_hmap streams; /* inventory-STORE -> its version, if known */
	int stored;		/* the input holds stored events (versions) */
	struct tx *qhead, *qtail;	/* sagas owing a decision, in order */
	struct tx **heap;	/* open sagas by deadline */
	size_t nheap, capheap;
	unsigned long long arrivals;
	int64_t max_ms;		/* the latest event time folded */
	/* Scratch for reading one input event. */
	struct evt_jobj dj, xj;	/* data; an item or the payment */
	struct evt_buf arena;	/* decoded strings that had escapes */
	struct item *items;
	size_t capitems;
	/* Scratch for writing reactions. */
	struct evt_buf key, line, name, subj;
	char tstr[EVT_TIME_LEN + 1];
};

/* What a decision round carries. */
struct ctx {
	struct evt_saga *s;
	int64_t now, cur;	/* the clock; the later of it and event time */
	evt_saga_emit_fn emit;
	void *arg;
	struct evt_err *err;
};

int
evt_saga_service(const char *name)
{
	static const struct { const char *n; int m; } t[] = {
		{ "transaction", EVT_SAGA_TRANSACTION },
		{ "payment", EVT_SAGA_PAYMENT },
		{ "inventory", EVT_SAGA_INVENTORY },
		{ "store", EVT_SAGA_STORE },
		{ "all", EVT_SAGA_ALL }
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (strcmp(name, t[i].n) == 0)
			return t[i].m;
	return 0;
}

static enum rtype
rtype_of(const char *t, size_t n)
{
	for (int i = 1; i < R_N; i++)
		if (strlen(tname[i]) == n && memcmp(tname[i], t, n) == 0)
			return (enum rtype)i;
	return R_OTHER;
}

int
evt_saga_knows(const char *t, size_t n)
{
	return rtype_of(t, n) != R_OTHER;
}

/* --- amounts ------------------------------------------------------------ */

/* Amounts are read as lib/decimal.c reads them everywhere: exact, or
 * refused. */
int
evt_saga_amount_ok(const char *s)
{
	struct evt_dec v;

	return evt_dec_parse(s, strlen(s), &v) == EVT_DEC_OK &&
	    evt_dec_sign(v) >= 0;
}

/* --- reading an input event --------------------------------------------- */

/*
 * The items array of a reservation or an order: the items with a string
 * sku and an integer qty into r->items; r->items_ok when the array is not
 * empty and every item is such an object with qty >= 1.
 */
static void
read_items(struct evt_saga *s, struct evt_sv a, struct rev *r)
{
	size_t pos = 0, off, len, n = 0;
	struct evt_err e;

	r->items_ok = 1;
	while (evt_json_array_next(a.p, a.n, &pos, &off, &len)) {
		struct item it = { { NULL, 0 }, 0 };
		struct evt_sv q;

		if (evt_json_scan(&s->xj, a.p + off, len, 0, &e) < 0 ||
		    s->xj.type != EVT_J_OBJECT) {
			r->items_ok = 0;
			continue;
		}
		it.sku = evt_json_get_str(&s->xj, "sku", &s->arena);
		q = evt_json_get(&s->xj, "qty", EVT_J_NUMBER);
		if (it.sku.p == NULL || q.p == NULL ||
		    evt_json_int(q.p, q.n, &it.qty) < 0 || it.qty < 1) {
			r->items_ok = 0;
			continue;
		}
		if (n == s->capitems) {
			s->capitems = s->capitems ? s->capitems * 2 : 16;
			s->items = realloc(s->items, s->capitems * sizeof(*s->items));
			if (s->items == NULL)
				abort();
		}
		s->items[n++] = it;
	}
	if (n == 0)
		r->items_ok = 0;
	r->items = s->items;
	r->nitems = n;
}

/* Read ev into r: the envelope, and what data holds for the rules. */
static int
read_event(struct evt_saga *s, const struct evt_event *ev, int64_t now,
    struct rev *r, struct evt_err *err)
{
	const struct evt_jmember *m;
	struct evt_sv v;

	memset(r, 0, sizeof(*r));
	r->type = rtype_of(ev->type.p, ev->type.n);
	if (r->type == R_OTHER)
		return 0;
	r->id = (struct evt_sv){ ev->id.p, ev->id.n };
	r->corr = (struct evt_sv){ ev->corr.p, ev->corr.n };
	r->time_ms = ev->slot[EVT_F_TIME] >= 0 ? ev->time_ms : now;
	if (ev->slot[EVT_F_DATA] < 0)
		return 0;
	m = &ev->j.m[ev->slot[EVT_F_DATA]];
	/* Decoded strings are never longer than the text: with this much
	 * room the arena does not move while r points into it. */
	evt_buf_reset(&s->arena);
	evt_buf_grow(&s->arena, m->vlen + 1);
	if (evt_json_scan(&s->dj, ev->j.base + m->voff, m->vlen, 0, err) < 0)
		return -1;
	r->txid = evt_json_get_str(&s->dj, "transaction_id", &s->arena);
	switch (r->type) {
	case R_ADJUSTED:
		r->store = evt_json_get_str(&s->dj, "store_id", &s->arena);
		r->sku = evt_json_get_str(&s->dj, "sku", &s->arena);
		v = evt_json_get(&s->dj, "delta", EVT_J_NUMBER);
		r->delta_ok = v.p && evt_json_int(v.p, v.n, &r->delta) == 0;
		break;
	case R_CREATED:
		r->store = evt_json_get_str(&s->dj, "store_id", &s->arena);
		r->currency = evt_json_get_str(&s->dj, "currency", &s->arena);
		r->total = evt_json_get(&s->dj, "total", EVT_J_NUMBER);
		r->delivery = evt_json_get(&s->dj, "delivery", EVT_J_OBJECT).p != NULL;
		v = evt_json_get(&s->dj, "payment", EVT_J_OBJECT);
		if (v.p && evt_json_scan(&s->xj, v.p, v.n, 0, err) == 0)
			r->token = evt_json_get_str(&s->xj, "token", &s->arena);
		/* items last: the payment's scan is reused for them */
		v = evt_json_get(&s->dj, "items", EVT_J_ARRAY);
		if (v.p)
			read_items(s, v, r);
		break;
	case R_PROCESSED:
		r->amount = evt_json_get(&s->dj, "amount", EVT_J_NUMBER);
		break;
	case R_RESERVED:
	case R_RELEASED:
		r->store = evt_json_get_str(&s->dj, "store_id", &s->arena);
		v = evt_json_get(&s->dj, "items", EVT_J_ARRAY);
		if (v.p)
			read_items(s, v, r);
		break;
	case R_CANCELLED:
		r->reason = evt_json_get_str(&s->dj, "reason", &s->arena);
		break;
	default:
		break;
	}
	return 0;
}

static int
bad(struct evt_err *err, enum rtype type, const char *what)
{
	return evt_err_set(err, EX_DATAERR, "%s: %s", tname[type], what);
}

/*
 * What each type must carry for the rules to take it as a fact. The types
 * that cause a decision need an id: the decision's id is derived from it,
 * and a cause that evt-append would name later could be answered twice.
 */
static int
check_event(const struct rev *r, struct evt_err *err)
{
	struct evt_dec x;
	int rc;

	if (r->type == R_ADJUSTED) {
		if (!r->store.p || !r->sku.p || !r->delta_ok)
			return bad(err, r->type, "data needs store_id, sku and an "
			    "integer delta (at most 19 digits)");
		return 0;
	}
	if (!r->txid.p || r->txid.n == 0)
		return bad(err, r->type, "data needs a transaction_id");
	/* They name the reactions' streams: a subject is a CloudEvents
	 * string (evt(7)). */
	if (!evt_ce_string_ok(r->txid.p, r->txid.n) ||
	    (r->store.p && !evt_ce_string_ok(r->store.p, r->store.n)))
		return bad(err, r->type, "transaction_id and store_id must hold "
		    "no control character");
	switch (r->type) {
	case R_CREATED:
		if (!r->store.p || !r->total.p || !r->currency.p ||
		    r->currency.n == 0)
			return bad(err, r->type, "data needs store_id, items, "
			    "a numeric total and a currency");
		if (!r->items_ok)
			return bad(err, r->type, "data needs items, each with a "
			    "sku and an integer qty >= 1");
		if ((rc = evt_dec_parse(r->total.p, r->total.n, &x)) != EVT_DEC_OK)
			return bad(err, r->type, rc == EVT_DEC_RANGE ? "total does "
			    "not fit in 38 digits" : "total is not a number");
		if (evt_dec_sign(x) < 0)
			return bad(err, r->type, "total must not be negative");
		break;
	case R_PROCESSED:
		/* What a refund gives back when the order is not at hand. */
		if (!r->amount.p)
			return bad(err, r->type, "data needs a numeric amount");
		break;
	case R_RESERVED:
	case R_RELEASED:
		if (!r->store.p || !r->items_ok)
			return bad(err, r->type, "data needs store_id and items, "
			    "each with a sku and an integer qty >= 1");
		break;
	default:
		break;
	}
	switch (r->type) {
	case R_RELEASED: case R_DELIVERED: case R_COMPLETED:
		break;
	default:
		if (r->id.p == NULL || r->id.n == 0)
			return bad(err, r->type, "no id: a cause needs one, so "
			    "that its outcome's id is known (append it to the "
			    "log first, or give it one)");
	}
	return 0;
}

/* --- the state ---------------------------------------------------------- */

static void
own_set(struct own *o, struct evt_sv v)
{
	free(o->p);
	o->p = NULL;
	o->n = 0;
	if (v.p == NULL)
		return;
	if ((o->p = malloc(v.n ? v.n : 1)) == NULL)
		abort();
	memcpy(o->p, v.p, v.n);
	o->n = v.n;
}

static struct evt_sv
sv(const struct own *o)
{
	return (struct evt_sv){ o->p, o->n };
}

static struct evt_sv
lit(const char *s)
{
	return (struct evt_sv){ s, strlen(s) };
}

/* A copy of items[0..n) and their skus, in one block. */
static struct item *
items_dup(const struct item *items, size_t n)
{
	size_t strs = 0;
	struct item *c;
	char *p;

	for (size_t i = 0; i < n; i++)
		strs += items[i].sku.n;
	if ((c = malloc(n * sizeof(*c) + strs + 1)) == NULL)
		abort();
	p = (char *)(c + n);
	for (size_t i = 0; i < n; i++) {
		memcpy(p, items[i].sku.p, items[i].sku.n);
		c[i].sku = (struct evt_sv){ p, items[i].sku.n };
		c[i].qty = items[i].qty;
		p += items[i].sku.n;
	}
	return c;
}

static void
tx_free(struct tx *t)
{
	struct own *o[] = { &t->id, &t->corr, &t->pay_id, &t->paid,
	    &t->fail_id, &t->refund_id, &t->res_id, &t->res_store,
	    &t->unavail_id, &t->ful_id, &t->cancel_id, &t->cancel_reason };

	for (size_t i = 0; i < sizeof(o) / sizeof(o[0]); i++)
		free(o[i]->p);
	free(t->oblock);
	free(t->res_items);
	free(t);
}

static void
free_tx(void *arg, const char *k, size_t n, long long v)
{
	(void)arg; (void)k; (void)n;
	tx_free((struct tx *)(intptr_t)v);
}

struct evt_saga *
evt_saga_new(const struct evt_saga_opts *opts)
{
	struct evt_saga *s = calloc(1, sizeof(*s));

	if (s == NULL)
		abort();
	s->o = *opts;
	s->max_ms = INT64_MIN;
	return s;
}

void
evt_saga_free(struct evt_saga *s)
{
	if (s == NULL)
		return;
	evt_hmap_each(&s->txs, free_tx, NULL);
	evt_hmap_free(&s->txs);
	free(s->done.tab);
	free(s->done.ring);
	evt_hmap_free(&s->stock);
	evt_hmap_free(&s->streams);
	free(s->heap);
	evt_json_free(&s->dj);
	evt_json_free(&s->xj);
	evt_buf_free(&s->arena);
	free(s->items);
	evt_buf_free(&s->key);
	evt_buf_free(&s->line);
	evt_buf_free(&s->name);
	evt_buf_free(&s->subj);
	free(s);
}

size_t
evt_saga_open(const struct evt_saga *s)
{
	return s->txs.n;
}

int64_t
evt_saga_next_deadline(const struct evt_saga *s)
{
	return s->nheap ? s->heap[0]->due_ms : INT64_MAX;
}

static struct tx *
tx_get(struct evt_saga *s, struct evt_sv id)
{
	long long *v = evt_hmap_get(&s->txs, id.p, id.n);

	return v ? (struct tx *)(intptr_t)*v : NULL;
}

/* The decision queue: each saga at most once, in the order it came. */
static void
enqueue(struct evt_saga *s, struct tx *t)
{
	if (t->queued)
		return;
	t->queued = 1;
	t->next = NULL;
	t->prev = s->qtail;
	if (s->qtail)
		s->qtail->next = t;
	else
		s->qhead = t;
	s->qtail = t;
}

static void
unqueue(struct evt_saga *s, struct tx *t)
{
	if (!t->queued)
		return;
	if (t->prev)
		t->prev->next = t->next;
	else
		s->qhead = t->next;
	if (t->next)
		t->next->prev = t->prev;
	else
		s->qtail = t->prev;
	t->queued = 0;
	t->prev = t->next = NULL;
}

/* The deadline heap, ordered by due time, then by arrival. */
static int
heap_less(const struct tx *a, const struct tx *b)
{
	return a->due_ms != b->due_ms ? a->due_ms < b->due_ms : a->order < b->order;
}

static void
heap_set(struct evt_saga *s, size_t i, struct tx *t)
{
	s->heap[i] = t;
	t->heap = i + 1;
}

static void
heap_fix(struct evt_saga *s, size_t i)
{
	struct tx *t = s->heap[i];

	while (i > 0 && heap_less(t, s->heap[(i - 1) / 2])) {
		heap_set(s, i, s->heap[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= s->nheap)
			break;
		if (c + 1 < s->nheap && heap_less(s->heap[c + 1], s->heap[c]))
			c++;
		if (!heap_less(s->heap[c], t))
			break;
		heap_set(s, i, s->heap[c]);
		i = c;
	}
	heap_set(s, i, t);
}

static void
heap_push(struct evt_saga *s, struct tx *t)
{
	if (s->nheap == s->capheap) {
		s->capheap = s->capheap ? s->capheap * 2 : 64;
		s->heap = realloc(s->heap, s->capheap * sizeof(*s->heap));
		if (s->heap == NULL)
			abort();
	}
	s->heap[s->nheap++] = t;
	heap_fix(s, s->nheap - 1);
}

static void
heap_del(struct evt_saga *s, struct tx *t)
{
	size_t i;

	if (t->heap == 0)
		return;
	i = t->heap - 1;
	t->heap = 0;
	if (i != --s->nheap) {
		heap_set(s, i, s->heap[s->nheap]);
		heap_fix(s, i);
	}
}

/*
 * A finished saga's entry: a hash of its id, with bit 0 set (0 is the
 * empty slot) and bit 1 telling that it ended cancelled, so that a payment
 * or a reservation recorded after it ended (a racing or lagging run) can
 * still be given back.
 */
#define DONE_CANCELLED 2u

static uint64_t
done_hash(struct evt_sv id)
{
	return (evt_hash(id.p, id.n) | 1) & ~(uint64_t)DONE_CANCELLED;
}

/* Where an entry's probe starts: the hash's bits above the two flags, so
 * that every slot can be one. */
static size_t
done_home(uint64_t h)
{
	return (size_t)(h >> 2) & (2 * (size_t)DONE_MAX - 1);
}

static size_t
done_slot(const struct done *d, uint64_t h)
{
	size_t mask = 2 * (size_t)DONE_MAX - 1, i = done_home(h);

	while (d->tab[i] && (d->tab[i] & ~(uint64_t)DONE_CANCELLED) != h)
		i = (i + 1) & mask;
	return i;
}

/* 0 when id's saga is not remembered as over, else its entry. */
static uint64_t
done_get(const struct done *d, struct evt_sv id)
{
	return d->tab ? d->tab[done_slot(d, done_hash(id))] : 0;
}

static void
done_del(struct done *d, uint64_t h)
{
	size_t mask = 2 * (size_t)DONE_MAX - 1, i = done_slot(d, h), j, home;

	if (d->tab[i] == 0)
		return;
	d->tab[i] = 0;
	/* Backward shift, as in hmap.c: no tombstones. */
	for (j = (i + 1) & mask; d->tab[j]; j = (j + 1) & mask) {
		home = done_home(d->tab[j]);
		if ((j > i && (home <= i || home > j)) ||
		    (j < i && home <= i && home > j)) {
			d->tab[i] = d->tab[j];
			d->tab[j] = 0;
			i = j;
		}
	}
}

static void
done_add(struct done *d, struct evt_sv id, int cancelled)
{
	uint64_t h = done_hash(id);
	size_t i;

	if (d->tab == NULL) {
		d->tab = calloc(2 * (size_t)DONE_MAX, sizeof(*d->tab));
		d->ring = malloc((size_t)DONE_MAX * sizeof(*d->ring));
		if (d->tab == NULL || d->ring == NULL)
			abort();
	}
	i = done_slot(d, h);
	if (d->tab[i]) {
		d->tab[i] = h | (cancelled ? DONE_CANCELLED : 0);
		return;
	}
	if (d->len == DONE_MAX) {
		done_del(d, d->ring[d->head]);
		d->head = (d->head + 1) % DONE_MAX;
		d->len--;
		i = done_slot(d, h);
	}
	d->tab[i] = h | (cancelled ? DONE_CANCELLED : 0);
	d->ring[(d->head + d->len) % DONE_MAX] = h;
	d->len++;
}

/*
 * Whether nothing more can happen in a saga, whichever participants run:
 * it has its outcome, a paid cancellation is refunded, a reservation of a
 * cancellation released, a delivery asked for is done. Goods fulfilled are
 * never refunded nor released, even when a cancellation raced them.
 */
static int
finished(const struct tx *t)
{
	if (t->outcome == OPEN)
		return 0;
	if (t->fulfilled && t->delivery && !t->delivered)
		return 0;
	if (t->outcome == CANCELLED && !t->fulfilled &&
	    ((t->pay == PAY_PROCESSED && !t->refunded) ||
	    (t->inv == INV_RESERVED && !t->released)))
		return 0;
	return 1;
}

/* Forget a finished saga: keep a hash of its id, free the rest. */
static void
forget(struct evt_saga *s, struct tx *t)
{
	done_add(&s->done, sv(&t->id), t->outcome == CANCELLED);
	unqueue(s, t);
	heap_del(s, t);
	evt_hmap_del(&s->txs, t->id.p, t->id.n);
	tx_free(t);
}

/* The units of sku in store, as a slot of the stock table. */
static long long *
stock(struct evt_saga *s, struct evt_sv store, struct evt_sv sku)
{
	long long *v;

	evt_buf_reset(&s->key);
	evt_hmap_keypart(&s->key, store.p, store.n);
	evt_hmap_keypart(&s->key, sku.p, sku.n);
	v = evt_hmap_get(&s->stock, s->key.p, s->key.len);
	if (v == NULL) {
		evt_hmap_put(&s->stock, s->key.p, s->key.len, 0);
		v = evt_hmap_get(&s->stock, s->key.p, s->key.len);
	}
	return v;
}

/* Add sign * qty of each item to the store's stock; -1 on overflow
 * (nothing changed then). */
static int
move_stock(struct evt_saga *s, struct evt_sv store, const struct item *items,
    size_t n, int sign)
{
	long long r;

	for (size_t i = 0; i < n; i++) {
		long long *v = stock(s, store, items[i].sku);
		if (__builtin_add_overflow(*v, sign * items[i].qty, &r)) {
			while (i-- > 0)
				*stock(s, store, items[i].sku) -= sign * items[i].qty;
			return -1;
		}
		*v = r;
	}
	return 0;
}

/* Keep what the order r says in t, in one block: open sagas are many. */
static void
order_set(struct tx *t, const struct rev *r)
{
	const struct evt_sv v[] = { r->id, r->store, r->total, r->currency,
	    r->token };
	struct own *o[] = { &t->cid, &t->store, &t->total, &t->currency,
	    &t->token };
	size_t n = t->nitems = r->nitems, len = n * sizeof(struct item);
	char *p;

	for (size_t i = 0; i < 5; i++)
		len += v[i].n;
	for (size_t i = 0; i < n; i++)
		len += r->items[i].sku.n;
	if ((t->oblock = malloc(len + 1)) == NULL)
		abort();
	t->items = (struct item *)(void *)t->oblock;
	p = t->oblock + n * sizeof(struct item);
	for (size_t i = 0; i < n; i++) {
		memcpy(p, r->items[i].sku.p, r->items[i].sku.n);
		t->items[i].sku = (struct evt_sv){ p, r->items[i].sku.n };
		t->items[i].qty = r->items[i].qty;
		p += r->items[i].sku.n;
	}
	for (size_t i = 0; i < 5; i++) {
		o[i]->p = v[i].p ? memcpy(p, v[i].p, v[i].n) : NULL;
		o[i]->n = v[i].n;
		p += v[i].n;
	}
}

/*
 * Fold the fact r into t's saga. Each outcome counts once: the first event
 * that records it is the fact, a second one (a duplicate, or a legacy log
 * that stored two) changes nothing. Returns 0, or -1 with err.
 */
static int
apply(struct evt_saga *s, struct tx *t, const struct rev *r, struct evt_err *err)
{
	if (r->time_ms > t->last_ms)
		t->last_ms = r->time_ms;
	switch (r->type) {
	case R_CREATED:
		if (t->has_order)
			return 0;
		t->has_order = 1;
		own_set(&t->corr, r->corr.p ? r->corr : r->id);
		order_set(t, r);
		t->delivery = r->delivery;
		t->created_ms = r->time_ms;
		if (s->o.timeout_ms > 0 && (s->o.services & EVT_SAGA_TRANSACTION)) {
			if (__builtin_add_overflow(t->created_ms, s->o.timeout_ms,
			    &t->due_ms))
				t->due_ms = INT64_MAX;
			t->order = s->arrivals++;
			heap_push(s, t);
		}
		break;
	case R_PROCESSED:
		if (t->pay != PAY_NONE)
			return 0;
		t->pay = PAY_PROCESSED;
		own_set(&t->pay_id, r->id);
		own_set(&t->paid, r->amount);
		break;
	case R_FAILED:
		if (t->pay != PAY_NONE)
			return 0;
		t->pay = PAY_FAILED;
		own_set(&t->fail_id, r->id);
		break;
	case R_REFUNDED:
		if (t->refunded)
			return 0;
		t->refunded = 1;
		own_set(&t->refund_id, r->id);
		break;
	case R_RESERVED:
		if (t->inv != INV_NONE)
			return 0;
		/* A release recorded ahead of its reservation nets out. */
		if (!t->released && move_stock(s, r->store, r->items, r->nitems,
		    -1) < 0)
			return bad(err, r->type, "the stock it takes does not fit "
			    "in 64 bits");
		t->inv = INV_RESERVED;
		own_set(&t->res_id, r->id);
		own_set(&t->res_store, r->store);
		t->res_items = items_dup(r->items, r->nitems);
		t->nres = r->nitems;
		break;
	case R_UNAVAILABLE:
		if (t->inv != INV_NONE)
			return 0;
		t->inv = INV_UNAVAILABLE;
		own_set(&t->unavail_id, r->id);
		break;
	case R_RELEASED:
		if (t->released)
			return 0;
		if (t->inv == INV_RESERVED && move_stock(s, sv(&t->res_store),
		    t->res_items, t->nres, +1) < 0)
			return bad(err, r->type, "the stock it gives back does "
			    "not fit in 64 bits");
		t->released = 1;
		break;
	case R_FULFILLED:
		if (t->fulfilled)
			return 0;
		t->fulfilled = 1;
		own_set(&t->ful_id, r->id);
		break;
	case R_DELIVERED:
		t->delivered = 1;
		break;
	case R_COMPLETED:
		if (t->outcome == OPEN)
			t->outcome = COMPLETED;
		break;
	case R_CANCELLED:
		if (t->outcome != OPEN)
			return 0;
		t->outcome = CANCELLED;
		own_set(&t->cancel_id, r->id);
		own_set(&t->cancel_reason, r->reason.p ? r->reason :
		    lit("transaction_cancelled"));
		break;
	default:
		break;
	}
	return 0;
}

/*
 * The version of each stock stream (inventory-STORE), so that a stock
 * decision can name the version it was taken against: an event read from
 * the log has its version; one that a step before in the pipe wrote
 * carries the version it expects, so it comes after that.
 */
static void
track_stream(struct evt_saga *s, const struct evt_event *ev)
{
	long long v = -1, *cur;

	if (ev->slot[EVT_F_VERSION] >= 0) {
		v = ev->version;
		s->stored = 1;
	} else if (ev->expect.kind == EVT_EXPECT_VERSION)
		v = ev->expect.version + 1;
	else if (ev->expect.kind == EVT_EXPECT_NONE)
		v = 1;
	if (v < 0 || evt_category_len(ev->subject.p, ev->subject.n) != 9 ||
	    memcmp(ev->subject.p, "inventory", 9) != 0)
		return;
	cur = evt_hmap_get(&s->streams, ev->subject.p, ev->subject.n);
	if (cur == NULL || *cur < v)
		evt_hmap_put(&s->streams, ev->subject.p, ev->subject.n, v);
}

int
evt_saga_fold(struct evt_saga *s, const struct evt_event *ev, int64_t now_ms,
    struct evt_err *err)
{
	struct rev r;
	struct tx *t;

	/* Any event's time tells how far time has gone, for deadlines. */
	if (ev->slot[EVT_F_TIME] >= 0 && ev->time_ms > s->max_ms)
		s->max_ms = ev->time_ms;
	track_stream(s, ev);
	if (read_event(s, ev, now_ms, &r, err) < 0)
		return -1;
	if (r.type == R_OTHER)
		return 0;
	if (check_event(&r, err) < 0)
		return -1;
	if (r.type == R_ADJUSTED) {
		long long *v = stock(s, r.store, r.sku), sum;
		if (__builtin_add_overflow(*v, r.delta, &sum))
			return bad(err, r.type, "the stock does not fit in 64 bits");
		*v = sum;
		return 0;
	}
	if ((t = tx_get(s, r.txid)) == NULL) {
		uint64_t d = done_get(&s->done, r.txid);
		/* Over: nothing follows, but what a racing or lagging run
		 * took after a cancellation, which is given back. */
		if (d && (!(d & DONE_CANCELLED) ||
		    (r.type != R_PROCESSED && r.type != R_RESERVED)))
			return 0;
		if ((t = calloc(1, sizeof(*t))) == NULL)
			abort();
		t->last_ms = INT64_MIN;
		own_set(&t->id, r.txid);
		evt_hmap_put(&s->txs, t->id.p, t->id.n, (long long)(intptr_t)t);
		if (d) {
			t->outcome = CANCELLED;
			own_set(&t->corr, r.corr.p ? r.corr : r.id);
			own_set(&t->cancel_reason, lit("transaction_cancelled"));
		}
	}
	if (apply(s, t, &r, err) < 0)
		return -1;
	if (finished(t))
		forget(s, t);
	else
		enqueue(s, t);
	return 0;
}

/* --- reactions ---------------------------------------------------------- */

static void
add_sv(struct evt_buf *b, struct evt_sv v)
{
	evt_buf_add(b, v.p, v.n);
}

static void
add_int(struct evt_buf *b, long long v)
{
	char num[24];

	evt_buf_add(b, num, (size_t)snprintf(num, sizeof(num), "%lld", v));
}

/* Which service emits a reaction type: its source and the category of
 * its subject. */
static const char *
service_of(enum rtype t)
{
	switch (t) {
	case R_PROCESSED: case R_FAILED: case R_REFUNDED: return "payment";
	case R_RESERVED: case R_UNAVAILABLE: case R_RELEASED: return "inventory";
	case R_FULFILLED: case R_DELIVERED: return "store";
	default: return "transaction";
	}
}

static void
add_items(struct evt_buf *b, const struct rev *r)
{
	evt_buf_adds(b, ",\"items\":[");
	for (size_t i = 0; i < r->nitems; i++) {
		if (i)
			evt_buf_addc(b, ',');
		evt_buf_adds(b, "{\"sku\":");
		evt_buf_json_str(b, r->items[i].sku.p, r->items[i].sku.n);
		evt_buf_adds(b, r->avail ? ",\"requested\":" : ",\"qty\":");
		add_int(b, r->items[i].qty);
		if (r->avail) {
			evt_buf_adds(b, ",\"available\":");
			add_int(b, r->avail[i]);
		}
		evt_buf_addc(b, '}');
	}
	evt_buf_addc(b, ']');
}

/*
 * A stock decision holds only against the stock it was taken on: it
 * expects its stream (in s->subj) at the version read, so that the log
 * refuses it (a conflict) if anything moved that stock meanwhile: a
 * lagging replay, a racing instance, a producer's adjustment. Unknown
 * when the input holds no stored events: then it expects nothing.
 */
static void
add_expect(struct evt_saga *s, struct evt_buf *b)
{
	long long *v = evt_hmap_get(&s->streams, s->subj.p, s->subj.len), cur;

	if (v == NULL && !s->stored)
		return;
	cur = v ? *v : 0;
	evt_buf_adds(b, ",\"expectedversion\":");
	if (cur == 0)
		evt_buf_adds(b, "\"none\"");
	else
		add_int(b, cur);
	evt_hmap_put(&s->streams, s->subj.p, s->subj.len, cur + 1);
}

/* The reaction r as its stored line, fields in the order of DESIGN §2. */
static void
write_line(struct evt_saga *s, const struct rev *r, struct evt_sv cause)
{
	struct evt_buf *b = &s->line;
	const char *svc = service_of(r->type);

	evt_buf_reset(&s->subj);
	evt_buf_adds(&s->subj, svc);
	evt_buf_addc(&s->subj, '-');
	add_sv(&s->subj, r->type == R_RESERVED || r->type == R_UNAVAILABLE ||
	    r->type == R_RELEASED ? r->store : r->txid);
	evt_time_format(r->time_ms, s->tstr);
	evt_buf_reset(b);
	evt_buf_adds(b, "{\"specversion\":\"1.0\",\"id\":\"");
	add_sv(b, r->id);
	evt_buf_adds(b, "\",\"source\":\"");
	evt_buf_adds(b, svc);
	evt_buf_adds(b, "\",\"type\":\"");
	evt_buf_adds(b, tname[r->type]);
	evt_buf_adds(b, "\",\"subject\":");
	evt_buf_json_str(b, s->subj.p, s->subj.len);
	evt_buf_adds(b, ",\"time\":\"");
	evt_buf_adds(b, s->tstr);
	evt_buf_addc(b, '"');
	if (strcmp(svc, "inventory") == 0)
		add_expect(s, b);
	evt_buf_adds(b, ",\"correlationid\":");
	evt_buf_json_str(b, r->corr.p, r->corr.n);
	evt_buf_adds(b, ",\"causationid\":");
	evt_buf_json_str(b, cause.p, cause.n);
	evt_buf_adds(b, ",\"data\":{\"transaction_id\":");
	evt_buf_json_str(b, r->txid.p, r->txid.n);
	switch (r->type) {
	case R_PROCESSED:
	case R_REFUNDED:
		evt_buf_reset(&s->subj);
		evt_buf_adds(&s->subj, "pay-");
		add_sv(&s->subj, r->txid);
		evt_buf_adds(b, ",\"payment_id\":");
		evt_buf_json_str(b, s->subj.p, s->subj.len);
		evt_buf_adds(b, ",\"amount\":");
		add_sv(b, r->amount);
		if (r->type == R_PROCESSED) {
			evt_buf_adds(b, ",\"currency\":");
			evt_buf_json_str(b, r->currency.p, r->currency.n);
		} else {
			evt_buf_adds(b, ",\"reason\":");
			evt_buf_json_str(b, r->reason.p, r->reason.n);
		}
		break;
	case R_FAILED:
		evt_buf_adds(b, ",\"reason\":");
		evt_buf_json_str(b, r->reason.p, r->reason.n);
		evt_buf_adds(b, ",\"amount\":");
		add_sv(b, r->amount);
		break;
	case R_RESERVED:
	case R_UNAVAILABLE:
	case R_RELEASED:
		evt_buf_adds(b, ",\"store_id\":");
		evt_buf_json_str(b, r->store.p, r->store.n);
		add_items(b, r);
		break;
	case R_FULFILLED:
	case R_DELIVERED:
		evt_buf_adds(b, ",\"store_id\":");
		evt_buf_json_str(b, r->store.p, r->store.n);
		break;
	case R_COMPLETED:
		evt_buf_adds(b, ",\"total\":");
		add_sv(b, r->total);
		break;
	case R_CANCELLED:
		evt_buf_adds(b, ",\"reason\":");
		evt_buf_json_str(b, r->reason.p, r->reason.n);
		break;
	default:
		break;
	}
	evt_buf_adds(b, "}}");
}

/* A reaction in t's saga, with what its order said. */
static struct rev
reaction(const struct tx *t, enum rtype type)
{
	struct rev r;

	memset(&r, 0, sizeof(r));
	r.type = type;
	r.txid = sv(&t->id);
	r.corr = sv(&t->corr);
	r.store = sv(&t->store);
	r.total = sv(&t->total);
	r.amount = sv(&t->total);
	r.currency = sv(&t->currency);
	r.items = t->items;
	r.nitems = t->nitems;
	return r;
}

/*
 * Take the decision named `decision` about the event key: the reaction r
 * (type and data filled in), caused by cause, gets the id UUIDv5(key,
 * decision), so that whatever outcome is drawn, by whichever run, it is
 * the one event the log can hold for it. It is stamped at `at` unless the
 * caller gives 0 (then: now, or the saga's latest event if later),
 * written, and folded into t at once.
 */
static int
decide(struct ctx *c, struct tx *t, struct rev *r, const struct own *key,
    const char *decision, const struct own *cause, int64_t at)
{
	struct evt_saga *s = c->s;
	char id[EVT_UUID_LEN + 1];

	evt_buf_reset(&s->name);
	add_sv(&s->name, sv(key));
	evt_buf_addc(&s->name, '\n');
	evt_buf_adds(&s->name, decision);
	evt_uuid_v5(s->name.p, s->name.len, id);
	r->id = (struct evt_sv){ id, EVT_UUID_LEN };
	r->time_ms = at ? at : c->now > t->last_ms ? c->now : t->last_ms;
	write_line(s, r, sv(cause));
	if (c->emit(c->arg, id, s->line.p, s->line.len) < 0)
		return -1;
	return apply(s, t, r, c->err) < 0 ? -1 : 1;
}

/* The seeded draw for --fail-rate: the same for a transaction whatever
 * else the input holds. */
static double
draw(unsigned long long seed, struct evt_sv txid)
{
	unsigned long long h = 1469598103934665603ULL ^ seed;

	for (size_t i = 0; i < txid.n; i++) {
		h ^= (unsigned char)txid.p[i];
		h *= 1099511628211ULL;
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return (double)(h >> 11) / 9007199254740992.0;
}

static int
over_limit(const struct evt_saga *s, const struct tx *t)
{
	struct evt_dec a, b;

	return s->o.decline_over &&
	    evt_dec_parse(t->total.p, t->total.n, &a) == EVT_DEC_OK &&
	    evt_dec_parse(s->o.decline_over, strlen(s->o.decline_over), &b) ==
	    EVT_DEC_OK && evt_dec_cmp(a, b) > 0;
}

static int
pay(struct ctx *c, struct tx *t)
{
	struct rev r = reaction(t, R_PROCESSED);
	const char *reason = NULL;

	if (t->token.n >= 11 && memcmp(t->token.p, "tok_decline", 11) == 0)
		reason = "card_declined";
	else if (over_limit(c->s, t))
		reason = "over_limit";
	else if (c->s->o.fail_rate > 0 &&
	    draw(c->s->o.seed, sv(&t->id)) < c->s->o.fail_rate)
		reason = "processor_error";
	if (reason) {
		r.type = R_FAILED;
		r.reason = lit(reason);
	}
	return decide(c, t, &r, &t->cid, "payment of", &t->cid, 0);
}

/*
 * Reserve every item of the order in its store, or none: the units asked
 * for a sku are summed over the order's lines before they are compared
 * with the stock, so one sku on two lines cannot take more than there is.
 */
static int
reserve(struct ctx *c, struct tx *t)
{
	struct evt_saga *s = c->s;
	struct rev r = reaction(t, R_RESERVED);
	long long *avail = malloc(t->nitems * sizeof(*avail)), want;
	int ok = 1, rc;

	if (avail == NULL)
		abort();
	for (size_t i = 0; i < t->nitems; i++) {
		long long have = *stock(s, sv(&t->store), t->items[i].sku);
		want = 0;
		for (size_t j = 0; j < t->nitems; j++)
			if (t->items[j].sku.n == t->items[i].sku.n &&
			    memcmp(t->items[j].sku.p, t->items[i].sku.p,
			    t->items[i].sku.n) == 0 &&
			    __builtin_add_overflow(want, t->items[j].qty, &want))
				want = LLONG_MAX;
		if (have < want)
			ok = 0;
		avail[i] = have > 0 ? have : 0;
	}
	if (!ok) {
		r.type = R_UNAVAILABLE;
		r.avail = avail;
	}
	rc = decide(c, t, &r, &t->pay_id, "reservation for", &t->pay_id, 0);
	free(avail);
	return rc;
}

/*
 * The one decision a participant owes t now, if any, taken: 1 when one
 * was, 0 when none is owed, -1 on error. The transaction's outcome comes
 * first, from what is recorded (goods fulfilled complete it, whatever the
 * clock says), then a timeout when its deadline has been found passed;
 * then payment, stock and the store, each guarded by the outcomes it needs
 * and the ones that rule it out.
 */
static int
owed(struct ctx *c, struct tx *t)
{
	int on = c->s->o.services;
	struct rev r;

	/* Without its order (not seen yet, or a saga that ended and met a
	 * late payment or reservation) only what gives back can be owed. */
	if ((on & EVT_SAGA_TRANSACTION) && t->outcome == OPEN && t->has_order) {
		r = reaction(t, R_CANCELLED);
		if (t->fulfilled) {
			r.type = R_COMPLETED;
			return decide(c, t, &r, &t->cid, "completion of",
			    &t->ful_id, 0);
		}
		if (t->pay == PAY_FAILED) {
			r.reason = lit("payment_declined");
			return decide(c, t, &r, &t->cid, "fate of", &t->fail_id, 0);
		}
		if (t->refunded) {
			r.reason = lit("inventory_unavailable");
			return decide(c, t, &r, &t->cid, "fate of", &t->refund_id, 0);
		}
		if (t->expired) {
			r.reason = lit("timeout");
			return decide(c, t, &r, &t->cid, "fate of", &t->cid,
			    t->due_ms > t->last_ms ? t->due_ms : t->last_ms);
		}
	}
	if (on & EVT_SAGA_PAYMENT) {
		if (t->pay == PAY_NONE && t->outcome == OPEN && t->has_order)
			return pay(c, t);
		if (t->pay == PAY_PROCESSED && !t->refunded && !t->fulfilled &&
		    (t->inv == INV_UNAVAILABLE || t->outcome == CANCELLED) &&
		    (t->paid.p || t->has_order)) {
			int unavail = t->inv == INV_UNAVAILABLE;
			r = reaction(t, R_REFUNDED);
			if (t->paid.p)
				r.amount = sv(&t->paid);
			r.reason = unavail ? lit("inventory_unavailable") :
			    sv(&t->cancel_reason);
			return decide(c, t, &r, &t->pay_id, "refund of",
			    unavail ? &t->unavail_id : t->cancel_id.p ?
			    &t->cancel_id : &t->pay_id, 0);
		}
	}
	if (on & EVT_SAGA_INVENTORY) {
		if (t->inv == INV_NONE && t->pay == PAY_PROCESSED &&
		    t->outcome == OPEN && t->has_order)
			return reserve(c, t);
		if (t->inv == INV_RESERVED && !t->released && !t->fulfilled &&
		    t->outcome == CANCELLED) {
			r = reaction(t, R_RELEASED);
			r.store = sv(&t->res_store);
			r.items = t->res_items;
			r.nitems = t->nres;
			return decide(c, t, &r, &t->res_id, "release of",
			    t->cancel_id.p ? &t->cancel_id : &t->res_id, 0);
		}
	}
	if (on & EVT_SAGA_STORE) {
		if (t->inv == INV_RESERVED && !t->fulfilled && !t->released &&
		    t->outcome == OPEN && t->has_order) {
			/* Fulfilment and cancellation are the two outcomes of
			 * one decision, whether the order goes out: one id, so
			 * the log keeps the first and refuses the other. */
			r = reaction(t, R_FULFILLED);
			return decide(c, t, &r, &t->cid, "fate of", &t->res_id, 0);
		}
		if (t->fulfilled && t->delivery && !t->delivered && t->has_order) {
			r = reaction(t, R_DELIVERED);
			return decide(c, t, &r, &t->ful_id, "delivery of",
			    &t->ful_id, 0);
		}
	}
	return 0;
}

/* Take decisions until no saga in the queue owes one. A saga that took
 * one goes to the back of the queue: decisions go round, breadth first,
 * as a chain of single services would take them. */
static int
drain(struct ctx *c)
{
	struct evt_saga *s = c->s;
	struct tx *t;

	while ((t = s->qhead) != NULL) {
		int rc;

		unqueue(s, t);
		if ((rc = owed(c, t)) < 0)
			return -1;
		if (finished(t))
			forget(s, t);
		else if (rc == 1)
			enqueue(s, t);
	}
	return 0;
}

int
evt_saga_decide(struct evt_saga *s, int64_t now_ms, evt_saga_emit_fn emitfn,
    void *arg, struct evt_err *err)
{
	struct ctx c = { s, now_ms, now_ms > s->max_ms ? now_ms : s->max_ms,
	    emitfn, arg, err };

	for (;;) {
		int expired = 0;

		if (drain(&c) < 0)
			return -1;
		/* What is still open past its deadline is stuck: cancel it,
		 * earliest deadline first, and take what follows. */
		while (s->nheap > 0 && s->heap[0]->due_ms <= c.cur) {
			struct tx *t = s->heap[0];
			heap_del(s, t);
			if (t->outcome == OPEN) {
				t->expired = 1;
				enqueue(s, t);
				expired = 1;
			}
		}
		if (!expired)
			return 0;
	}
}
