/*
 * saga.c - the choreography of DESIGN §4 (saga-step) over native structs.
 *
 * An event is read once into a struct rev: the envelope from the scanner
 * evt-append uses, and from data only the few fields the rules read
 * (scanned, never built into a tree). Reactions are written straight as
 * bytes, in the documented field order; amounts are copied as the cause
 * wrote them (19.90 stays 19.90).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
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
 * cause and the struct tx (reactions), all valid until the step ends.
 */
struct rev {
	enum rtype type;
	struct evt_sv id, corr, subject;
	int64_t time_ms;
	int has_time;
	/* data */
	struct evt_sv txid, store, sku, reason, total, currency, token;
	long long delta;
	int delta_ok, total_ok, items_ok, delivery;
	const struct item *items;
	size_t nitems;
	const long long *avail;	/* InventoryUnavailable: units on hand */
};

/* One transaction's saga, as far as the events seen tell: what its
 * TransactionCreated said, copied into one allocation. */
struct tx {
	struct evt_sv id, cid, corr, subj, store, total, currency, token;
	struct item *items;
	size_t nitems;
	int delivery;
	int64_t created_ms;
	int pay, refunded, inv, released, fulfilled, delivered, outcome;
};

struct expiry {
	int64_t at;
	char *id;
	size_t n;
};

/*
 * The finished sagas remembered, so that a cause seen again after its saga
 * is over gets no second reaction: a 64-bit hash of each transaction id,
 * the last DONE_MAX of them, in a table twice that size. Bounded, so memory
 * follows the open sagas and not the length of the input.
 */
#define DONE_MAX (1u << 20)

struct done {
	uint64_t *tab;		/* 2 * DONE_MAX slots, 0 = empty */
	uint64_t *ring;		/* the same hashes, oldest first */
	size_t head, len;
};

struct evt_saga {
	struct evt_saga_opts o;
	struct evt_hmap txs;	/* transaction_id -> struct tx * */
	struct done done;
	struct evt_hmap stock;	/* "store\x1fsku" -> units available */
	struct expiry *q;	/* ring of TransactionCreated, for timeouts */
	size_t qhead, qlen, qcap;
	struct tx **dead;	/* forgotten during this step, freed after it */
	size_t ndead, capdead;
	/* Scratch for reading one input event. */
	struct evt_jobj dj, xj;	/* data; an item or the payment */
	struct evt_buf arena;	/* decoded strings that had escapes */
	struct item *items;
	size_t capitems;
	/* Scratch for writing reactions. */
	struct evt_buf key, line, name, subj;
	int64_t tms;		/* the time last formatted into tstr */
	char tstr[EVT_TIME_LEN + 1];
};

struct ctx {
	struct evt_saga *s;
	int64_t now;
	evt_saga_emit_fn emit;
	evt_saga_known_fn known;
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

struct evt_saga *
evt_saga_new(const struct evt_saga_opts *opts)
{
	struct evt_saga *s = calloc(1, sizeof(*s));

	if (s == NULL)
		abort();
	s->o = *opts;
	s->tms = INT64_MIN;
	return s;
}

static void
free_tx(void *arg, const char *k, size_t n, long long v)
{
	(void)arg; (void)k; (void)n;
	free((struct tx *)(intptr_t)v);
}

static void
bury(struct evt_saga *s)
{
	for (size_t i = 0; i < s->ndead; i++)
		free(s->dead[i]);
	s->ndead = 0;
}

void
evt_saga_free(struct evt_saga *s)
{
	if (s == NULL)
		return;
	bury(s);
	free(s->dead);
	evt_hmap_each(&s->txs, free_tx, NULL);
	evt_hmap_free(&s->txs);
	free(s->done.tab);
	free(s->done.ring);
	evt_hmap_free(&s->stock);
	for (size_t i = 0; i < s->qlen; i++)
		free(s->q[(s->qhead + i) % s->qcap].id);
	free(s->q);
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

static struct tx *
tx_get(struct evt_saga *s, struct evt_sv id)
{
	long long *v = evt_hmap_get(&s->txs, id.p, id.n);

	return v ? (struct tx *)(intptr_t)*v : NULL;
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
		    evt_json_int(q.p, q.n, &it.qty) < 0) {
			r->items_ok = 0;
			continue;
		}
		if (it.qty < 1)
			r->items_ok = 0;
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
read_event(struct evt_saga *s, const struct evt_event *ev, struct rev *r,
    struct evt_err *err)
{
	const struct evt_jmember *m;
	struct evt_sv v;

	memset(r, 0, sizeof(*r));
	r->type = rtype_of(ev->type.p, ev->type.n);
	if (r->type == R_OTHER)
		return 0;
	r->id = (struct evt_sv){ ev->id.p, ev->id.n };
	r->corr = (struct evt_sv){ ev->corr.p, ev->corr.n };
	r->subject = (struct evt_sv){ ev->subject.p, ev->subject.n };
	r->has_time = ev->slot[EVT_F_TIME] >= 0;
	r->time_ms = ev->time_ms;
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
		r->total_ok = r->total.p != NULL;
		r->delivery = evt_json_get(&s->dj, "delivery", EVT_J_OBJECT).p != NULL;
		v = evt_json_get(&s->dj, "payment", EVT_J_OBJECT);
		if (v.p && evt_json_scan(&s->xj, v.p, v.n, 0, err) == 0)
			r->token = evt_json_get_str(&s->xj, "token", &s->arena);
		/* items last: the payment's scan is reused for them */
		v = evt_json_get(&s->dj, "items", EVT_J_ARRAY);
		if (v.p)
			read_items(s, v, r);
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

/* --- the state ---------------------------------------------------------- */

static struct evt_sv
put(char **p, struct evt_sv v)
{
	struct evt_sv o = { v.p ? *p : NULL, v.n };

	if (v.p) {
		memcpy(*p, v.p, v.n);
		*p += v.n;
	}
	return o;
}

/* A new saga for the TransactionCreated r: what it says, in one block. */
static struct tx *
tx_new(const struct rev *r, int64_t created_ms)
{
	size_t strs = r->txid.n + r->id.n + r->corr.n + r->subject.n +
	    r->store.n + r->total.n + r->currency.n + r->token.n;
	struct tx *t;
	char *p;

	for (size_t i = 0; i < r->nitems; i++)
		strs += r->items[i].sku.n;
	t = calloc(1, sizeof(*t) + r->nitems * sizeof(struct item) + strs);
	if (t == NULL)
		abort();
	t->items = (struct item *)(t + 1);
	t->nitems = r->nitems;
	p = (char *)(t->items + r->nitems);
	t->id = put(&p, r->txid);
	t->cid = put(&p, r->id);
	t->corr = put(&p, r->corr);
	t->subj = put(&p, r->subject);
	t->store = put(&p, r->store);
	t->total = put(&p, r->total);
	t->currency = put(&p, r->currency);
	t->token = put(&p, r->token);
	for (size_t i = 0; i < r->nitems; i++) {
		t->items[i].sku = put(&p, r->items[i].sku);
		t->items[i].qty = r->items[i].qty;
	}
	t->delivery = r->delivery;
	t->created_ms = created_ms;
	return t;
}

static uint64_t
done_hash(struct evt_sv id)
{
	return evt_hash(id.p, id.n) | 1;	/* never 0, the empty slot */
}

static size_t
done_slot(const struct done *d, uint64_t h)
{
	size_t mask = 2 * (size_t)DONE_MAX - 1, i = h & mask;

	while (d->tab[i] && d->tab[i] != h)
		i = (i + 1) & mask;
	return i;
}

static int
done_has(const struct done *d, struct evt_sv id)
{
	return d->tab && d->tab[done_slot(d, done_hash(id))] != 0;
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
		home = d->tab[j] & mask;
		if ((j > i && (home <= i || home > j)) ||
		    (j < i && home <= i && home > j)) {
			d->tab[i] = d->tab[j];
			d->tab[j] = 0;
			i = j;
		}
	}
}

static void
done_add(struct done *d, struct evt_sv id)
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
	if (d->tab[i])
		return;
	if (d->len == DONE_MAX) {
		done_del(d, d->ring[d->head]);
		d->head = (d->head + 1) % DONE_MAX;
		d->len--;
		i = done_slot(d, h);
	}
	d->tab[i] = h;
	d->ring[(d->head + d->len) % DONE_MAX] = h;
	d->len++;
}

/*
 * A saga is forgotten once nothing more can happen in it: completed (and
 * delivered, when delivery was asked for), or cancelled with its payment
 * refunded and its reservation released. A hash of its id is kept (see
 * struct done) so that a late or repeated cause is ignored. Its memory
 * lasts to the end of the step, for the reactions that still point at it.
 */
static void
maybe_forget(struct evt_saga *s, struct tx *t)
{
	if (t->outcome == OPEN)
		return;
	if (t->outcome == COMPLETED && t->delivery && !t->delivered)
		return;
	if (t->outcome == CANCELLED && ((t->pay == PAY_PROCESSED && !t->refunded) ||
	    (t->inv == INV_RESERVED && !t->released && !t->fulfilled)))
		return;
	done_add(&s->done, t->id);
	evt_hmap_del(&s->txs, t->id.p, t->id.n);
	if (s->ndead == s->capdead) {
		s->capdead = s->capdead ? s->capdead * 2 : 16;
		s->dead = realloc(s->dead, s->capdead * sizeof(*s->dead));
		if (s->dead == NULL)
			abort();
	}
	s->dead[s->ndead++] = t;
}

static long long *
stock(struct evt_saga *s, struct evt_sv store, struct evt_sv sku)
{
	long long *v;

	evt_buf_reset(&s->key);
	evt_buf_add(&s->key, store.p, store.n);
	evt_buf_addc(&s->key, '\x1f');
	evt_buf_add(&s->key, sku.p, sku.n);
	v = evt_hmap_get(&s->stock, s->key.p, s->key.len);
	if (v == NULL) {
		evt_hmap_put(&s->stock, s->key.p, s->key.len, 0);
		v = evt_hmap_get(&s->stock, s->key.p, s->key.len);
	}
	return v;
}

/* Add sign * qty of each item to the store's stock. */
static void
move_stock(struct evt_saga *s, struct evt_sv store, const struct item *items,
    size_t n, int sign)
{
	for (size_t i = 0; i < n; i++)
		*stock(s, store, items[i].sku) += sign * items[i].qty;
}

/* --- reactions ---------------------------------------------------------- */

static int react(struct ctx *c, const struct rev *r);

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
	evt_buf_adds(b, "\",\"correlationid\":");
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
		add_sv(b, r->total);
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
		add_sv(b, r->total);
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

/*
 * Emit the reaction r (its type and data filled in) to cause: its id a
 * UUIDv5 of the cause's id and the reaction type, so that it is the same
 * however often it is drawn. It is written unless the caller knows it
 * comes later in the input, and either way folded and reacted to in turn
 * (depth first).
 */
static int
emit(struct ctx *c, const struct rev *cause, struct rev *r)
{
	struct evt_saga *s = c->s;
	char id[EVT_UUID_LEN + 1];
	struct evt_sv causation;
	int rc = 0;

	evt_buf_reset(&s->name);
	if (cause->id.p)
		add_sv(&s->name, cause->id);
	else {
		/* A cause straight from a producer may have no id yet: name
		 * it by what identifies it, its stream, type and transaction. */
		add_sv(&s->name, cause->subject);
		evt_buf_addc(&s->name, '\n');
		evt_buf_adds(&s->name, tname[cause->type]);
		evt_buf_addc(&s->name, '\n');
		add_sv(&s->name, cause->txid);
	}
	evt_buf_addc(&s->name, '\n');
	evt_buf_adds(&s->name, tname[r->type]);
	evt_uuid_v5(s->name.p, s->name.len, id);
	r->id = (struct evt_sv){ id, EVT_UUID_LEN };
	causation = cause->id.p ? cause->id : r->id;
	r->corr = cause->corr.p ? cause->corr : causation;
	r->has_time = 1;
	r->time_ms = c->now;
	if (s->tms != c->now) {
		evt_time_format(c->now, s->tstr);
		s->tms = c->now;
	}
	/* A reaction the input already holds further on is not written
	 * again, but it takes effect now, where it belongs: the state then
	 * evolves the same however the input is cut into batches. */
	if (!(c->known && c->known(c->arg, id))) {
		write_line(s, r, causation);
		if (c->emit(c->arg, id, s->line.p, s->line.len) < 0)
			rc = -1;
	}
	if (rc == 0)
		rc = react(c, r);
	return rc;
}

/* A reaction to t's saga, with what its TransactionCreated said. */
static struct rev
reaction(const struct tx *t, enum rtype type)
{
	struct rev r;

	memset(&r, 0, sizeof(r));
	r.type = type;
	r.txid = t->id;
	r.store = t->store;
	r.total = t->total;
	r.currency = t->currency;
	r.items = t->items;
	r.nitems = t->nitems;
	return r;
}

static struct evt_sv
lit(const char *s)
{
	return (struct evt_sv){ s, strlen(s) };
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

static double
amount(struct evt_sv v)
{
	char num[64];

	if (v.n >= sizeof(num))
		return v.p[0] == '-' ? -1e308 : 1e308;
	memcpy(num, v.p, v.n);
	num[v.n] = '\0';
	return strtod(num, NULL);
}

static int
pay(struct ctx *c, struct tx *t, const struct rev *cause)
{
	struct rev r = reaction(t, R_PROCESSED);
	const char *reason = NULL;

	if (t->token.n >= 11 && memcmp(t->token.p, "tok_decline", 11) == 0)
		reason = "card_declined";
	else if (c->s->o.has_decline_over && amount(t->total) >
	    c->s->o.decline_over)
		reason = "over_limit";
	else if (c->s->o.fail_rate > 0 &&
	    draw(c->s->o.seed, t->id) < c->s->o.fail_rate)
		reason = "processor_error";
	if (reason) {
		r.type = R_FAILED;
		r.reason = lit(reason);
	} else if (r.currency.p == NULL)
		r.currency = lit("EUR");
	return emit(c, cause, &r);
}

static int
refund(struct ctx *c, struct tx *t, const struct rev *cause, struct evt_sv reason)
{
	struct rev r = reaction(t, R_REFUNDED);

	r.reason = reason;
	return emit(c, cause, &r);
}

static int
reserve(struct ctx *c, struct tx *t, const struct rev *cause)
{
	struct rev r = reaction(t, R_RESERVED);
	long long *avail = malloc(t->nitems * sizeof(*avail));
	int ok = 1, rc;

	if (avail == NULL)
		abort();
	for (size_t i = 0; i < t->nitems; i++) {
		long long have = *stock(c->s, t->store, t->items[i].sku);
		if (have < t->items[i].qty)
			ok = 0;
		avail[i] = have > 0 ? have : 0;
	}
	if (!ok) {
		r.type = R_UNAVAILABLE;
		r.avail = avail;
	}
	rc = emit(c, cause, &r);
	free(avail);
	return rc;
}

static int
emit_simple(struct ctx *c, struct tx *t, const struct rev *cause,
    enum rtype type, const char *reason)
{
	struct rev r = reaction(t, type);

	if (reason)
		r.reason = lit(reason);
	return emit(c, cause, &r);
}

/* --- folding and the choreography -------------------------------------- */

static int
bad(struct ctx *c, enum rtype type, const char *what)
{
	return evt_err_set(c->err, EX_DATAERR, "%s: %s", tname[type], what);
}

static void
queue_expiry(struct evt_saga *s, int64_t at, struct evt_sv id)
{
	if (s->qlen == s->qcap) {
		size_t ncap = s->qcap ? s->qcap * 2 : 64;
		struct expiry *nq = malloc(ncap * sizeof(*nq));
		if (nq == NULL)
			abort();
		for (size_t i = 0; i < s->qlen; i++)
			nq[i] = s->q[(s->qhead + i) % s->qcap];
		free(s->q);
		s->q = nq;
		s->qcap = ncap;
		s->qhead = 0;
	}
	char *copy = malloc(id.n ? id.n : 1);
	if (copy == NULL)
		abort();
	memcpy(copy, id.p, id.n);
	s->q[(s->qhead + s->qlen) % s->qcap] = (struct expiry){ at, copy, id.n };
	s->qlen++;
}

static int fold(struct ctx *c, const struct rev *r);

/*
 * Fold r into the state and draw the reactions of the enabled
 * participants, then forget the saga if it is over. Every rule is guarded
 * by the state it changes, so a cause seen twice reacts once, and a stored
 * reaction read back changes nothing.
 */
static int
react(struct ctx *c, const struct rev *r)
{
	struct tx *t;
	int rc = fold(c, r);

	/* The reactions may have forgotten the saga already: look again. */
	if (r->txid.p && (t = tx_get(c->s, r->txid)) != NULL)
		maybe_forget(c->s, t);
	return rc;
}

/* The choreography. A handler must not use its struct tx after an emit:
 * the saga may be over and forgotten by then; it looks it up again. */
static int
fold(struct ctx *c, const struct rev *r)
{
	struct evt_saga *s = c->s;
	int on = s->o.services;
	struct tx *t;

	switch (r->type) {
	case R_OTHER:
		return 0;
	case R_ADJUSTED:
		if (!r->store.p || !r->sku.p || !r->delta_ok)
			return bad(c, r->type, "data needs store_id, sku and an "
			    "integer delta");
		*stock(s, r->store, r->sku) += r->delta;
		return 0;
	case R_CREATED:
		if (!r->txid.p)
			return bad(c, r->type, "data needs transaction_id");
		if (!r->store.p || r->nitems == 0 || !r->total_ok)
			return bad(c, r->type, "data needs store_id, items and "
			    "a numeric total");
		if (!r->items_ok)
			return bad(c, r->type, "each item needs a sku and an "
			    "integer qty >= 1");
		/* They name the reactions' streams: a subject is a
		 * CloudEvents string (evt(7)). */
		if (!evt_ce_string_ok(r->txid.p, r->txid.n) ||
		    !evt_ce_string_ok(r->store.p, r->store.n))
			return bad(c, r->type, "transaction_id and store_id "
			    "must hold no control character");
		if (tx_get(s, r->txid) || done_has(&s->done, r->txid))
			return 0;	/* seen before: one saga, one reaction */
		t = tx_new(r, r->has_time ? r->time_ms : c->now);
		evt_hmap_put(&s->txs, t->id.p, t->id.n, (long long)(intptr_t)t);
		if (s->o.timeout_ms > 0)
			queue_expiry(s, t->created_ms + s->o.timeout_ms, t->id);
		if (on & EVT_SAGA_PAYMENT)
			return pay(c, t, r);
		return 0;
	default:
		break;
	}
	/* Every other event of the choreography names its transaction. */
	if (r->txid.p == NULL || (t = tx_get(s, r->txid)) == NULL)
		return 0;	/* not ours, or its saga is over */
	switch (r->type) {
	case R_PROCESSED:
		if (t->pay != PAY_NONE)
			return 0;
		t->pay = PAY_PROCESSED;
		if (t->outcome == CANCELLED && (on & EVT_SAGA_PAYMENT)) {
			/* Paid after a timeout cancelled it: give it back. */
			t->refunded = 1;
			return refund(c, t, r, lit("transaction_cancelled"));
		}
		if ((on & EVT_SAGA_INVENTORY) && t->inv == INV_NONE &&
		    t->outcome == OPEN)
			return reserve(c, t, r);
		return 0;
	case R_FAILED:
		if (t->pay != PAY_NONE)
			return 0;
		t->pay = PAY_FAILED;
		if ((on & EVT_SAGA_TRANSACTION) && t->outcome == OPEN) {
			t->outcome = CANCELLED;
			return emit_simple(c, t, r, R_CANCELLED, "payment_declined");
		}
		return 0;
	case R_RESERVED:
		if (t->inv != INV_NONE)
			return 0;
		t->inv = INV_RESERVED;
		move_stock(s, r->store.p ? r->store : t->store, r->items,
		    r->nitems, -1);
		if ((on & EVT_SAGA_INVENTORY) && t->outcome == CANCELLED) {
			t->released = 1;
			move_stock(s, t->store, r->items, r->nitems, +1);
			return emit_simple(c, t, r, R_RELEASED, NULL);
		}
		if ((on & EVT_SAGA_STORE) && !t->fulfilled && t->outcome == OPEN) {
			struct evt_sv txid = t->id;
			int deliver = t->delivery;
			t->fulfilled = 1;
			int rc = emit_simple(c, t, r, R_FULFILLED, NULL);
			/* A saga that asked for delivery is kept until its
			 * OrderDelivered, so t is still there. */
			if (rc == 0 && deliver && (t = tx_get(s, txid)) != NULL)
				rc = emit_simple(c, t, r, R_DELIVERED, NULL);
			return rc;
		}
		return 0;
	case R_UNAVAILABLE:
		if (t->inv != INV_NONE)
			return 0;
		t->inv = INV_UNAVAILABLE;
		if ((on & EVT_SAGA_PAYMENT) && t->pay == PAY_PROCESSED &&
		    !t->refunded) {
			t->refunded = 1;
			return refund(c, t, r, lit("inventory_unavailable"));
		}
		return 0;
	case R_RELEASED:
		if (!t->released && t->inv == INV_RESERVED) {
			t->released = 1;
			move_stock(s, t->store, r->items, r->nitems, +1);
		}
		return 0;
	case R_REFUNDED:
		t->refunded = 1;
		if ((on & EVT_SAGA_TRANSACTION) && t->outcome == OPEN) {
			t->outcome = CANCELLED;
			return emit_simple(c, t, r, R_CANCELLED,
			    "inventory_unavailable");
		}
		return 0;
	case R_FULFILLED:
		t->fulfilled = 1;
		if ((on & EVT_SAGA_TRANSACTION) && t->outcome == OPEN) {
			t->outcome = COMPLETED;
			return emit_simple(c, t, r, R_COMPLETED, NULL);
		}
		return 0;
	case R_COMPLETED:
		if (t->outcome == OPEN)
			t->outcome = COMPLETED;
		return 0;
	case R_DELIVERED:
		t->delivered = 1;
		return 0;
	case R_CANCELLED: {
		struct evt_sv txid = t->id;
		int rc = 0;
		t->outcome = CANCELLED;
		if ((on & EVT_SAGA_PAYMENT) && t->pay == PAY_PROCESSED &&
		    !t->refunded) {
			t->refunded = 1;
			rc = refund(c, t, r, r->reason.p ? r->reason :
			    lit("transaction_cancelled"));
		}
		if (rc == 0 && (t = tx_get(s, txid)) != NULL &&
		    (on & EVT_SAGA_INVENTORY) && t->inv == INV_RESERVED &&
		    !t->released && !t->fulfilled) {
			t->released = 1;
			move_stock(s, t->store, t->items, t->nitems, +1);
			rc = emit_simple(c, t, r, R_RELEASED, NULL);
		}
		return rc;
	}
	default:
		return 0;
	}
}

int
evt_saga_step(struct evt_saga *s, const struct evt_event *ev, int64_t now_ms,
    evt_saga_emit_fn emitfn, evt_saga_known_fn known, void *arg,
    struct evt_err *err)
{
	struct ctx c = { s, now_ms, emitfn, known, arg, err };
	struct rev r;
	int rc;

	if (read_event(s, ev, &r, err) < 0)
		return -1;
	if (r.type == R_OTHER)
		return 0;
	rc = react(&c, &r);
	bury(s);
	return rc;
}

int
evt_saga_expire(struct evt_saga *s, int64_t now_ms, evt_saga_emit_fn emitfn,
    evt_saga_known_fn known, void *arg, struct evt_err *err)
{
	struct ctx c = { s, now_ms, emitfn, known, arg, err };
	int rc = 0;

	while (rc == 0 && s->qlen > 0 && s->q[s->qhead].at <= now_ms) {
		struct expiry e = s->q[s->qhead];
		struct tx *t;

		s->qhead = (s->qhead + 1) % s->qcap;
		s->qlen--;
		if ((t = tx_get(s, (struct evt_sv){ e.id, e.n })) != NULL &&
		    t->outcome == OPEN && (s->o.services & EVT_SAGA_TRANSACTION)) {
			/* The cause is the TransactionCreated, as it came. */
			struct rev cause;
			memset(&cause, 0, sizeof(cause));
			cause.type = R_CREATED;
			cause.id = t->cid;
			cause.corr = t->corr;
			cause.subject = t->subj;
			cause.txid = t->id;
			t->outcome = CANCELLED;
			rc = emit_simple(&c, t, &cause, R_CANCELLED, "timeout");
		}
		free(e.id);
	}
	bury(s);
	return rc;
}
