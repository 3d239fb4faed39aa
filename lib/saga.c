#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "hmap.h"
#include "saga.h"
#include "uuid.h"

enum { PAY_NONE, PAY_PROCESSED, PAY_FAILED };
enum { INV_NONE, INV_RESERVED, INV_UNAVAILABLE };
enum { OPEN, COMPLETED, CANCELLED };

/* One transaction's saga, as far as the events seen tell. */
struct tx {
	char *id;		/* transaction_id */
	json_t *created;	/* its TransactionCreated (a reference) */
	int64_t created_ms;
	int pay, refunded, inv, released, fulfilled, delivered, outcome;
};

struct expiry {
	int64_t at;
	char *id;
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
	struct evt_buf key, line;
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

int
evt_saga_knows(const char *t, size_t n)
{
	static const char *const types[] = {
		"InventoryAdjusted", "TransactionCreated", "PaymentProcessed",
		"PaymentFailed", "PaymentRefunded", "InventoryReserved",
		"InventoryUnavailable", "InventoryReleased", "OrderFulfilled",
		"OrderDelivered", "TransactionCompleted", "TransactionCancelled"
	};

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (strlen(types[i]) == n && memcmp(types[i], t, n) == 0)
			return 1;
	return 0;
}

struct evt_saga *
evt_saga_new(const struct evt_saga_opts *opts)
{
	struct evt_saga *s = calloc(1, sizeof(*s));

	if (s == NULL)
		abort();
	s->o = *opts;
	return s;
}

static void
free_tx(void *arg, const char *k, size_t n, long long v)
{
	struct tx *t = (struct tx *)(intptr_t)v;

	(void)arg; (void)k; (void)n;
	json_decref(t->created);
	free(t->id);
	free(t);
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
	for (size_t i = 0; i < s->qlen; i++)
		free(s->q[(s->qhead + i) % s->qcap].id);
	free(s->q);
	evt_buf_free(&s->key);
	evt_buf_free(&s->line);
	free(s);
}

size_t
evt_saga_open(const struct evt_saga *s)
{
	return s->txs.n;
}

static const char *
str(json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

static struct tx *
tx_get(struct evt_saga *s, const char *id)
{
	long long *v = evt_hmap_get(&s->txs, id, strlen(id));

	return v ? (struct tx *)(intptr_t)*v : NULL;
}

static int
wants_delivery(const struct tx *t)
{
	return json_is_object(json_object_get(json_object_get(t->created,
	    "data"), "delivery"));
}

static uint64_t
done_hash(const char *id)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *id; id++) {
		h ^= (unsigned char)*id;
		h *= 1099511628211ULL;
	}
	h ^= h >> 29;
	return h | 1;		/* never 0, the empty slot */
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
done_has(const struct done *d, const char *id)
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
done_add(struct done *d, const char *id)
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
 * struct done) so that a late or repeated cause is ignored.
 */
static void
maybe_forget(struct evt_saga *s, struct tx *t)
{
	if (t->outcome == OPEN)
		return;
	if (t->outcome == COMPLETED && wants_delivery(t) && !t->delivered)
		return;
	if (t->outcome == CANCELLED && ((t->pay == PAY_PROCESSED && !t->refunded) ||
	    (t->inv == INV_RESERVED && !t->released && !t->fulfilled)))
		return;
	done_add(&s->done, t->id);
	evt_hmap_del(&s->txs, t->id, strlen(t->id));
	free_tx(NULL, NULL, 0, (long long)(intptr_t)t);
}

static long long *
stock(struct evt_saga *s, const char *store, const char *sku)
{
	long long *v;

	evt_buf_reset(&s->key);
	evt_buf_adds(&s->key, store);
	evt_buf_addc(&s->key, '\x1f');
	evt_buf_adds(&s->key, sku);
	v = evt_hmap_get(&s->stock, s->key.p, s->key.len);
	if (v == NULL) {
		evt_hmap_put(&s->stock, s->key.p, s->key.len, 0);
		v = evt_hmap_get(&s->stock, s->key.p, s->key.len);
	}
	return v;
}

/* Add sign * qty of each item of a reservation to the store's stock. */
static void
move_stock(struct evt_saga *s, const char *store, json_t *items, int sign)
{
	size_t i;
	json_t *it;

	json_array_foreach(items, i, it) {
		const char *sku = str(it, "sku");
		json_t *q = json_object_get(it, "qty");
		if (sku && json_is_integer(q))
			*stock(s, store, sku) += sign * json_integer_value(q);
	}
}

/* --- reactions ---------------------------------------------------------- */

static int react(struct ctx *c, json_t *ev);

/*
 * Append v as compact JSON. Written here rather than with json_dumps,
 * which measured at some 30,000 instructions a reaction (make bench); keys
 * keep their insertion order, reals print with 15 significant digits so
 * amounts copied from a cause read as they were written (39.8).
 */
static void
dump(struct evt_buf *b, json_t *v)
{
	const char *k;
	json_t *x;
	size_t i;
	char num[40];

	switch (json_typeof(v)) {
	case JSON_OBJECT:
		evt_buf_addc(b, '{');
		i = 0;
		json_object_foreach(v, k, x) {
			if (i++)
				evt_buf_addc(b, ',');
			evt_buf_json_str(b, k, strlen(k));
			evt_buf_addc(b, ':');
			dump(b, x);
		}
		evt_buf_addc(b, '}');
		break;
	case JSON_ARRAY:
		evt_buf_addc(b, '[');
		json_array_foreach(v, i, x) {
			if (i)
				evt_buf_addc(b, ',');
			dump(b, x);
		}
		evt_buf_addc(b, ']');
		break;
	case JSON_STRING:
		evt_buf_json_str(b, json_string_value(v), json_string_length(v));
		break;
	case JSON_INTEGER:
		snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT,
		    json_integer_value(v));
		evt_buf_adds(b, num);
		break;
	case JSON_REAL:
		snprintf(num, sizeof(num), "%.15g", json_real_value(v));
		evt_buf_adds(b, num);
		if (strpbrk(num, ".eEn") == NULL)
			evt_buf_adds(b, ".0");
		break;
	case JSON_TRUE: evt_buf_adds(b, "true"); break;
	case JSON_FALSE: evt_buf_adds(b, "false"); break;
	default: evt_buf_adds(b, "null"); break;
	}
}
static int fold(struct ctx *c, json_t *ev);

/*
 * Emit one reaction to cause: its id a UUIDv5 of the cause's id and the
 * reaction type, so that it is the same however often it is drawn. Steals
 * data. It is written unless the caller knows it comes later in the input,
 * and either way folded and reacted to in turn (depth first).
 */
static int
emit(struct ctx *c, json_t *cause, const char *source, const char *type,
    const char *subject, json_t *data)
{
	char id[EVT_UUID_LEN + 1], t[EVT_TIME_LEN + 1];
	const char *cid = str(cause, "id");
	const char *corr = str(cause, "correlationid");
	struct evt_buf name = EVT_BUF_INIT;
	json_t *r;
	int rc = 0;

	if (cid)
		evt_buf_adds(&name, cid);
	else {
		/* A cause straight from a producer may have no id yet: name
		 * it by what identifies it, its stream, type and transaction. */
		const char *cs = str(cause, "subject"), *ct = str(cause, "type");
		const char *tx = str(json_object_get(cause, "data"), "transaction_id");
		evt_buf_printf(&name, "%s\n%s\n%s", cs ? cs : "", ct ? ct : "",
		    tx ? tx : "");
	}
	evt_buf_addc(&name, '\n');
	evt_buf_adds(&name, type);
	evt_uuid_v5(name.p, name.len, id);
	evt_buf_free(&name);
	/* A reaction the input already holds further on is not written
	 * again, but it takes effect now, where it belongs: the state then
	 * evolves the same however the input is cut into batches. */
	int written = !(c->known && c->known(c->arg, id));
	evt_time_format(c->now, t);
	r = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:o}",
	    "specversion", "1.0", "id", id, "source", source, "type", type,
	    "subject", subject, "time", t,
	    "correlationid", corr ? corr : (cid ? cid : id),
	    "causationid", cid ? cid : id, "data", data);
	if (written) {
		evt_buf_reset(&c->s->line);
		dump(&c->s->line, r);
		if (c->emit(c->arg, id, c->s->line.p, c->s->line.len) < 0)
			rc = -1;
	}
	if (rc == 0)
		rc = react(c, r);
	json_decref(r);
	return rc;
}

static char *
subject(const char *category, const char *id)
{
	char *s;

	if (asprintf(&s, "%s-%s", category, id) < 0)
		abort();
	return s;
}

/* The seeded draw for --fail-rate: the same for a transaction whatever
 * else the input holds. */
static double
draw(unsigned long long seed, const char *txid)
{
	unsigned long long h = 1469598103934665603ULL ^ seed;

	for (const char *p = txid; *p; p++) {
		h ^= (unsigned char)*p;
		h *= 1099511628211ULL;
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return (double)(h >> 11) / 9007199254740992.0;
}

static int
pay(struct ctx *c, struct tx *t, json_t *ev)
{
	json_t *d = json_object_get(t->created, "data");
	json_t *total = json_object_get(d, "total");
	json_t *payment = json_object_get(d, "payment");
	const char *token = str(payment, "token");
	const char *reason = NULL;
	char *subj = subject("payment", t->id);
	int rc;

	if (token && strncmp(token, "tok_decline", 11) == 0)
		reason = "card_declined";
	else if (c->s->o.has_decline_over && json_number_value(total) >
	    c->s->o.decline_over)
		reason = "over_limit";
	else if (c->s->o.fail_rate > 0 &&
	    draw(c->s->o.seed, t->id) < c->s->o.fail_rate)
		reason = "processor_error";
	if (reason)
		rc = emit(c, ev, "payment", "PaymentFailed", subj,
		    json_pack("{s:s,s:s,s:O}", "transaction_id", t->id,
		    "reason", reason, "amount", total));
	else {
		char *pid = subject("pay", t->id);
		const char *cur = str(d, "currency");
		rc = emit(c, ev, "payment", "PaymentProcessed", subj,
		    json_pack("{s:s,s:s,s:O,s:s}", "transaction_id", t->id,
		    "payment_id", pid, "amount", total, "currency",
		    cur ? cur : "EUR"));
		free(pid);
	}
	free(subj);
	return rc;
}

static int
refund(struct ctx *c, struct tx *t, json_t *ev, const char *reason)
{
	json_t *d = json_object_get(t->created, "data");
	char *subj = subject("payment", t->id), *pid = subject("pay", t->id);
	int rc = emit(c, ev, "payment", "PaymentRefunded", subj,
	    json_pack("{s:s,s:s,s:O,s:s}", "transaction_id", t->id,
	    "payment_id", pid, "amount", json_object_get(d, "total"),
	    "reason", reason));

	free(subj);
	free(pid);
	return rc;
}

static int
reserve(struct ctx *c, struct tx *t, json_t *ev)
{
	json_t *d = json_object_get(t->created, "data");
	const char *store = str(d, "store_id");
	json_t *items = json_object_get(d, "items"), *it, *short_ = json_array();
	json_t *want = json_array();
	char *subj = subject("inventory", store);
	size_t i;
	int ok = 1, rc;

	json_array_foreach(items, i, it) {
		long long q = json_integer_value(json_object_get(it, "qty"));
		long long have = *stock(c->s, store, str(it, "sku"));
		if (have < q)
			ok = 0;
		json_array_append_new(want, json_pack("{s:s,s:I}", "sku",
		    str(it, "sku"), "qty", (json_int_t)q));
		json_array_append_new(short_, json_pack("{s:s,s:I,s:I}", "sku",
		    str(it, "sku"), "requested", (json_int_t)q, "available",
		    (json_int_t)(have > 0 ? have : 0)));
	}
	if (ok) {
		json_decref(short_);
		rc = emit(c, ev, "inventory", "InventoryReserved", subj,
		    json_pack("{s:s,s:s,s:o}", "transaction_id", t->id,
		    "store_id", store, "items", want));
	} else {
		json_decref(want);
		rc = emit(c, ev, "inventory", "InventoryUnavailable", subj,
		    json_pack("{s:s,s:s,s:o}", "transaction_id", t->id,
		    "store_id", store, "items", short_));
	}
	free(subj);
	return rc;
}

static int
release(struct ctx *c, struct tx *t, json_t *ev)
{
	json_t *d = json_object_get(t->created, "data"), *it, *items = json_array();
	const char *store = str(d, "store_id");
	char *subj = subject("inventory", store);
	size_t i;
	int rc;

	json_array_foreach(json_object_get(d, "items"), i, it)
		json_array_append_new(items, json_pack("{s:s,s:O}", "sku",
		    str(it, "sku"), "qty", json_object_get(it, "qty")));
	rc = emit(c, ev, "inventory", "InventoryReleased", subj,
	    json_pack("{s:s,s:s,s:o}", "transaction_id", t->id, "store_id",
	    store, "items", items));
	free(subj);
	return rc;
}

static int
cancel(struct ctx *c, struct tx *t, json_t *ev, const char *reason)
{
	char *subj = subject("transaction", t->id);
	int rc = emit(c, ev, "transaction", "TransactionCancelled", subj,
	    json_pack("{s:s,s:s}", "transaction_id", t->id, "reason", reason));

	free(subj);
	return rc;
}

static int
store_id_event(struct ctx *c, struct tx *t, json_t *ev, const char *type)
{
	json_t *d = json_object_get(t->created, "data");
	char *subj = subject("store", t->id);
	int rc = emit(c, ev, "store", type, subj, json_pack("{s:s,s:s}",
	    "transaction_id", t->id, "store_id", str(d, "store_id")));

	free(subj);
	return rc;
}

/* --- folding and the choreography -------------------------------------- */

static int
bad(struct ctx *c, const char *type, const char *what)
{
	return evt_err_set(c->err, EX_DATAERR, "%s: %s", type, what);
}

/* Check what a TransactionCreated must carry for the others to use it. */
static int
check_created(struct ctx *c, json_t *d)
{
	json_t *items = json_object_get(d, "items"), *it;
	size_t i;

	if (!str(d, "store_id") || !json_is_array(items) ||
	    json_array_size(items) == 0 || !json_is_number(json_object_get(d, "total")))
		return bad(c, "TransactionCreated", "data needs store_id, "
		    "items and a numeric total");
	json_array_foreach(items, i, it)
		if (!str(it, "sku") || !json_is_integer(json_object_get(it, "qty")) ||
		    json_integer_value(json_object_get(it, "qty")) < 1)
			return bad(c, "TransactionCreated", "each item needs a "
			    "sku and an integer qty >= 1");
	return 0;
}

static void
queue_expiry(struct evt_saga *s, int64_t at, const char *id)
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
	s->q[(s->qhead + s->qlen) % s->qcap] = (struct expiry){ at, strdup(id) };
	s->qlen++;
}

/*
 * Fold ev into the state and draw the reactions of the enabled
 * participants, then forget the saga if it is over. Every rule is guarded
 * by the state it changes, so a cause seen twice reacts once, and a stored
 * reaction read back changes nothing.
 */
static int
react(struct ctx *c, json_t *ev)
{
	const char *txid = str(json_object_get(ev, "data"), "transaction_id");
	struct tx *t;
	int rc = fold(c, ev);

	/* The reactions may have forgotten the saga already: look again. */
	if (txid && (t = tx_get(c->s, txid)) != NULL)
		maybe_forget(c->s, t);
	return rc;
}

/* The choreography. A handler must not use its struct tx after an emit:
 * the saga may be over and forgotten by then; it looks it up again. */
static int
fold(struct ctx *c, json_t *ev)
{
	struct evt_saga *s = c->s;
	const char *type = str(ev, "type");
	json_t *d = json_object_get(ev, "data");
	const char *txid = str(d, "transaction_id");
	int on = s->o.services;
	struct tx *t;

	if (type == NULL)
		return 0;
	if (strcmp(type, "InventoryAdjusted") == 0) {
		const char *store = str(d, "store_id"), *sku = str(d, "sku");
		json_t *delta = json_object_get(d, "delta");
		if (!store || !sku || !json_is_integer(delta))
			return bad(c, type, "data needs store_id, sku and an "
			    "integer delta");
		*stock(s, store, sku) += json_integer_value(delta);
		return 0;
	}
	if (strcmp(type, "TransactionCreated") == 0) {
		if (!txid)
			return bad(c, type, "data needs transaction_id");
		if (check_created(c, d) < 0)
			return -1;
		if (tx_get(s, txid) || done_has(&s->done, txid))
			return 0;	/* seen before: one saga, one reaction */
		t = calloc(1, sizeof(*t));
		if (t == NULL || (t->id = strdup(txid)) == NULL)
			abort();
		t->created = json_incref(ev);
		const char *tm = str(ev, "time");
		if (tm == NULL || evt_time_parse(tm, strlen(tm), &t->created_ms) < 0)
			t->created_ms = c->now;
		evt_hmap_put(&s->txs, txid, strlen(txid), (long long)(intptr_t)t);
		if (s->o.timeout_ms > 0)
			queue_expiry(s, t->created_ms + s->o.timeout_ms, txid);
		if (on & EVT_SAGA_PAYMENT) {
			t->pay = PAY_NONE;
			return pay(c, t, ev);
		}
		return 0;
	}
	/* Every other event of the choreography names its transaction. */
	if (txid == NULL || (t = tx_get(s, txid)) == NULL)
		return 0;	/* not ours, or its saga is over */
	if (strcmp(type, "PaymentProcessed") == 0) {
		if (t->pay != PAY_NONE)
			return 0;
		t->pay = PAY_PROCESSED;
		if (t->outcome == CANCELLED && (on & EVT_SAGA_PAYMENT)) {
			/* Paid after a timeout cancelled it: give it back. */
			t->refunded = 1;
			return refund(c, t, ev, "transaction_cancelled");
		}
		if ((on & EVT_SAGA_INVENTORY) && t->inv == INV_NONE &&
		    t->outcome == OPEN)
			return reserve(c, t, ev);
		return 0;
	}
	if (strcmp(type, "PaymentFailed") == 0) {
		if (t->pay != PAY_NONE)
			return 0;
		t->pay = PAY_FAILED;
		if ((on & EVT_SAGA_TRANSACTION) && t->outcome == OPEN) {
			t->outcome = CANCELLED;
			return cancel(c, t, ev, "payment_declined");
		}
		return 0;
	}
	if (strcmp(type, "InventoryReserved") == 0) {
		if (t->inv != INV_NONE)
			return 0;
		t->inv = INV_RESERVED;
		move_stock(s, str(d, "store_id") ? str(d, "store_id") :
		    str(json_object_get(t->created, "data"), "store_id"),
		    json_object_get(d, "items"), -1);
		if ((on & EVT_SAGA_INVENTORY) && t->outcome == CANCELLED) {
			t->released = 1;
			move_stock(s, str(json_object_get(t->created, "data"),
			    "store_id"), json_object_get(d, "items"), +1);
			return release(c, t, ev);
		}
		if ((on & EVT_SAGA_STORE) && !t->fulfilled && t->outcome == OPEN) {
			int deliver = wants_delivery(t);
			t->fulfilled = 1;
			int rc = store_id_event(c, t, ev, "OrderFulfilled");
			/* A saga that asked for delivery is kept until its
			 * OrderDelivered, so t is still there. */
			if (rc == 0 && deliver && (t = tx_get(s, txid)) != NULL)
				rc = store_id_event(c, t, ev, "OrderDelivered");
			return rc;
		}
		return 0;
	}
	if (strcmp(type, "InventoryUnavailable") == 0) {
		if (t->inv != INV_NONE)
			return 0;
		t->inv = INV_UNAVAILABLE;
		if ((on & EVT_SAGA_PAYMENT) && t->pay == PAY_PROCESSED &&
		    !t->refunded) {
			t->refunded = 1;
			return refund(c, t, ev, "inventory_unavailable");
		}
		return 0;
	}
	if (strcmp(type, "InventoryReleased") == 0) {
		if (!t->released && t->inv == INV_RESERVED) {
			t->released = 1;
			move_stock(s, str(json_object_get(t->created, "data"),
			    "store_id"), json_object_get(d, "items"), +1);
		}
		return 0;
	}
	if (strcmp(type, "PaymentRefunded") == 0) {
		t->refunded = 1;
		if ((on & EVT_SAGA_TRANSACTION) && t->outcome == OPEN) {
			t->outcome = CANCELLED;
			return cancel(c, t, ev, "inventory_unavailable");
		}
		return 0;
	}
	if (strcmp(type, "OrderFulfilled") == 0) {
		t->fulfilled = 1;
		if ((on & EVT_SAGA_TRANSACTION) && t->outcome == OPEN) {
			t->outcome = COMPLETED;
			char *subj = subject("transaction", t->id);
			json_t *total = json_object_get(json_object_get(t->created,
			    "data"), "total");
			int rc = emit(c, ev, "transaction", "TransactionCompleted",
			    subj, json_pack("{s:s,s:O}", "transaction_id", t->id,
			    "total", total));
			free(subj);
			return rc;
		}
		return 0;
	}
	if (strcmp(type, "TransactionCompleted") == 0) {
		if (t->outcome == OPEN)
			t->outcome = COMPLETED;
		return 0;
	}
	if (strcmp(type, "OrderDelivered") == 0) {
		t->delivered = 1;
		return 0;
	}
	if (strcmp(type, "TransactionCancelled") == 0) {
		const char *reason = str(d, "reason");
		int rc = 0;
		t->outcome = CANCELLED;
		if ((on & EVT_SAGA_PAYMENT) && t->pay == PAY_PROCESSED &&
		    !t->refunded) {
			t->refunded = 1;
			rc = refund(c, t, ev, reason ? reason : "transaction_cancelled");
		}
		if (rc == 0 && (t = tx_get(s, txid)) != NULL &&
		    (on & EVT_SAGA_INVENTORY) && t->inv == INV_RESERVED &&
		    !t->released && !t->fulfilled) {
			t->released = 1;
			move_stock(s, str(json_object_get(t->created, "data"),
			    "store_id"), json_object_get(json_object_get(
			    t->created, "data"), "items"), +1);
			rc = release(c, t, ev);
		}
		return rc;
	}
	return 0;
}

int
evt_saga_step(struct evt_saga *s, json_t *ev, int64_t now_ms,
    evt_saga_emit_fn emitfn, evt_saga_known_fn known, void *arg,
    struct evt_err *err)
{
	struct ctx c = { s, now_ms, emitfn, known, arg, err };

	return react(&c, ev);
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
		if ((t = tx_get(s, e.id)) != NULL && t->outcome == OPEN &&
		    (s->o.services & EVT_SAGA_TRANSACTION)) {
			json_t *cause = json_incref(t->created);
			t->outcome = CANCELLED;
			rc = cancel(&c, t, cause, "timeout");
			json_decref(cause);
		}
		free(e.id);
	}
	return rc;
}
