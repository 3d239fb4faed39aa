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
 *
 * An orchestrated saga (saga-orch) is a struct tx too, keyed by its
 * transaction id or transfer id: the commands read wait on it (struct
 * cmd) until answered, its replies are folded by the same apply() as the
 * choreography's reactions (so stock, payments and reservations are one
 * state), and its decisions are the answers (owed_orch) instead of the
 * choreography's rules.
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
#include "orch.h"
#include "saga.h"
#include "uuid.h"

enum { PAY_NONE, PAY_PROCESSED, PAY_FAILED };
enum { INV_NONE, INV_RESERVED, INV_UNAVAILABLE };
enum { OPEN, COMPLETED, CANCELLED };

/* The event types of the choreography; R_OTHER only passes through. */
enum rtype {
	R_OTHER, R_ADJUSTED, R_CREATED, R_PROCESSED, R_FAILED, R_REFUNDED,
	R_RESERVED, R_UNAVAILABLE, R_RELEASED, R_FULFILLED, R_DELIVERED,
	R_COMPLETED, R_CANCELLED, R_REJECTED, R_CANCEL_REQ,
	/* Orchestrated sagas (saga-orch(5)): the replies the shipped
	 * definitions wait for that the choreography has no use for ... */
	R_DISPATCHED, R_DISPATCH_FAILED, R_RECEIVED, R_RECEIVE_FAILED,
	R_RESTOCKED, R_NOT_FULFILLED, R_REFUND_FAILED,
	/* ... the commands the participants answer (R_CMD_FIRST..) ... */
	R_CHARGE, R_REFUND, R_RESERVE, R_RELEASE, R_FULFIL, R_RESERVE_STOCK,
	R_RELEASE_STOCK, R_DISPATCH, R_RESTOCK, R_RECEIVE,
	/* ... and the orchestrator's own events (R_SAGA_FIRST..): an order's
	 * saga that ends is the transaction's outcome. */
	R_SAGA_DONE, R_SAGA_FAILED, R_SAGA_STARTED, R_SAGA_STEP_STARTED,
	R_SAGA_STEP_OK, R_SAGA_STEP_FAILED, R_SAGA_STEP_TIMEDOUT,
	R_SAGA_TIMEDOUT, R_SAGA_COMPENSATING, R_SAGA_COMPENSATED, R_N
};
#define R_CMD_FIRST R_CHARGE
#define R_CMD_LAST R_RECEIVE
#define R_SAGA_FIRST R_SAGA_DONE
#define IS_CMD(t) ((t) >= R_CMD_FIRST && (t) <= R_CMD_LAST)

static const char *const tname[R_N] = {
	"", "InventoryAdjusted", "TransactionCreated", "PaymentProcessed",
	"PaymentFailed", "PaymentRefunded", "InventoryReserved",
	"InventoryUnavailable", "InventoryReleased", "OrderFulfilled",
	"OrderDelivered", "TransactionCompleted", "TransactionCancelled",
	"TransactionRejected", "TransactionCancelRequested",
	"StockDispatched", "StockDispatchFailed", "StockReceived",
	"StockReceiveFailed", "StockRestocked", "OrderNotFulfilled",
	"PaymentRefundFailed",
	"ChargePayment", "RefundPayment", "ReserveInventory",
	"ReleaseInventory", "FulfilOrder", "ReserveStock", "ReleaseStock",
	"DispatchStock", "RestockItems", "ReceiveStock",
	"SagaCompleted", "SagaFailed", "SagaStarted", "SagaStepStarted",
	"SagaStepSucceeded", "SagaStepFailed", "SagaStepTimedOut",
	"SagaTimedOut", "SagaCompensating", "SagaCompensated"
};

/*
 * Which participant emits each reaction type (the source and the category
 * of its subject); NULL for the causes, which only producers write
 * (orders, stock movements, customers' requests). write_line takes a
 * reaction's source from here and writes no type outside it, and
 * evt_saga_emits answers from it: one list, so what evt-replay --causes
 * keeps is by construction what no participant decides. The commands of
 * the shipped definitions and the orchestrator's own events are
 * saga-orch's decisions: not causes either, though the participants
 * answer the commands (a run over the causes re-creates them).
 */
static const char *const emitter[R_N] = {
	[R_PROCESSED] = "payment", [R_FAILED] = "payment",
	[R_REFUNDED] = "payment", [R_REFUND_FAILED] = "payment",
	[R_RESERVED] = "inventory", [R_UNAVAILABLE] = "inventory",
	[R_RELEASED] = "inventory", [R_RESTOCKED] = "inventory",
	[R_FULFILLED] = "store", [R_DELIVERED] = "store",
	[R_NOT_FULFILLED] = "store", [R_DISPATCHED] = "store",
	[R_DISPATCH_FAILED] = "store", [R_RECEIVED] = "store",
	[R_RECEIVE_FAILED] = "store",
	[R_COMPLETED] = "transaction", [R_CANCELLED] = "transaction",
	[R_REJECTED] = "transaction",
	[R_CHARGE] = "saga-orch", [R_REFUND] = "saga-orch",
	[R_RESERVE] = "saga-orch", [R_RELEASE] = "saga-orch",
	[R_FULFIL] = "saga-orch", [R_RESERVE_STOCK] = "saga-orch",
	[R_RELEASE_STOCK] = "saga-orch", [R_DISPATCH] = "saga-orch",
	[R_RESTOCK] = "saga-orch", [R_RECEIVE] = "saga-orch",
	[R_SAGA_DONE] = "saga-orch", [R_SAGA_FAILED] = "saga-orch",
	[R_SAGA_STARTED] = "saga-orch", [R_SAGA_STEP_STARTED] = "saga-orch",
	[R_SAGA_STEP_OK] = "saga-orch", [R_SAGA_STEP_FAILED] = "saga-orch",
	[R_SAGA_STEP_TIMEDOUT] = "saga-orch", [R_SAGA_TIMEDOUT] = "saga-orch",
	[R_SAGA_COMPENSATING] = "saga-orch",
	[R_SAGA_COMPENSATED] = "saga-orch"
};

/* Which participant answers each command (EVT_SAGA_*). */
static int
answerer(enum rtype t)
{
	switch (t) {
	case R_CHARGE: case R_REFUND:
		return EVT_SAGA_PAYMENT;
	case R_FULFIL: case R_DISPATCH: case R_RECEIVE:
		return EVT_SAGA_STORE;
	default:
		return EVT_SAGA_INVENTORY;
	}
}

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
	int64_t vis_ms;		/* when it became visible, as far as known */
	/* data */
	struct evt_sv txid, store, sku, reason, total, amount, currency, token;
	struct evt_sv subject;	/* a rejection's stream, when not its txid's */
	struct evt_sv field, detail;	/* a rejection's */
	long long delta;
	int delta_ok, items_ok, delivery;
	int has_data, txid_str;	/* data is an object; transaction_id a string */
	int bad_item;		/* the first item that is not one, or -1 */
	const char *bad_item_what;	/* what is wrong with it */
	const struct item *items;
	size_t nitems;
	const long long *avail;	/* InventoryUnavailable: units on hand */
	/* Orchestrated sagas: the attribute that marks an event as part of
	 * one (its raw JSON value), the command a reply answers, and what
	 * the commands and replies of a transfer carry. */
	struct evt_sv orch, cause, to_store, shipment, payment_id;
	int transfer;		/* keyed by data.transfer_id */
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
	struct tx *prev, *next;	/* the decision queue, when queued; the
				 * round's finished sagas, when over */
	size_t heap;		/* 1 + index in the deadline heap, or 0 */
	int queued, expired, has_order, delivery;
	int over;		/* finished in a round not yet committed */
	int ghost;		/* a re-sent order met a stored decision */
	int cancel_req;		/* a customer asked to cancel */
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
	struct own unavail_id, ful_id, cancel_id, cancel_reason, creq_id;
	struct item *res_items;	/* what the reservation took */
	size_t nres;
	/*
	 * Orchestrated (saga-orch): its events are marked, the choreography
	 * leaves it alone, and the participants answer the commands it was
	 * sent, in the order read; the transaction's outcome follows the
	 * saga's end. A transfer's saga is keyed by its transfer id (mkey
	 * tells it from a transaction's).
	 */
	int orch, transfer, saga_end;	/* saga_end: 0, SAGA_OK, SAGA_BAD */
	int saga_why;			/* why it failed: enum evt_orch_why */
	int dispatched, restocked, received;
	struct own orchv, mkey, end_id, fail_reason;
	struct own ship_id;		/* the dispatch's */
	struct item *rcv_items;		/* what the receipt added */
	size_t nrcv;
	struct own rcv_store;
	struct cmd *cmds, *cmdtail;	/* commands read, answered or not */
};

enum { SAGA_OK = 1, SAGA_BAD = 2 };

/*
 * A command of an orchestrated saga as the participants read it: what its
 * answer needs. Answered (done) once its reply is read or decided; kept
 * with its saga so that the same command read again is not answered twice.
 */
struct cmd {
	struct cmd *next;
	enum rtype type;
	int done, delivery;
	struct own id, corr, orchv, store, to_store, amount, currency, token;
	struct own shipment, reason;
	struct item *items;
	size_t nitems;
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

struct done_slot {
	uint64_t h;		/* the transaction id's, 0 = empty */
	uint64_t order;		/* its order's event id's, 0 = none */
};

struct done {
	struct done_slot *tab;	/* 2 * DONE_MAX slots */
	uint64_t *ring;		/* the same hashes, oldest first */
	size_t head, len;
};

/*
 * A rejection owed to one order (TransactionCreated): one the rules
 * cannot take (invalid_order), or a second order for a transaction id
 * already known (duplicate_transaction). Keyed by the order's id: the
 * transaction id may be unusable, and a duplicate shares it.
 */
struct rej {
	struct rej *next;
	struct own cause, subject, corr, txid, field, detail;
	const char *reason;
	int txid_null;		/* the order had no usable transaction_id */
	int64_t time_ms;
};

/*
 * What a decision changed, so that a round whose append failed can be
 * taken back (evt_saga_undo): the saga and the counters it had before.
 */
struct jent {
	struct tx *t;		/* NULL: a rejection (rej) */
	struct rej *rej;
	enum rtype type;
	int pay, inv, refunded, released, fulfilled, delivered, outcome;
	int took;		/* stock moved by the reaction */
	int dispatched, restocked, received;
	struct cmd *cmd;	/* the command it answered */
	int64_t last_ms;
};

/* A stock stream's expected version before a round changed it. */
struct jstream {
	char *subj;
	size_t n;
	long long v;		/* -1: not known before */
};

struct evt_saga {
	struct evt_saga_opts o;
	struct evt_hmap txs;	/* transaction_id -> struct tx * */
	struct done done;
	struct evt_hmap stock;	/* store and sku (see stock()) -> units */
	struct evt_hmap streams; /* inventory-STORE -> its version, if known */
	int stored;		/* the input holds stored events (versions) */
	struct tx *qhead, *qtail;	/* sagas owing a decision, in order */
	struct rej *rjhead, *rjtail;	/* rejections owed, in order */
	struct evt_hmap rejs;	/* order id -> struct rej *, while owed */
	/* A round's journal, when journaling (evt_saga_journal). */
	int journaling;
	struct jent *jrn;
	size_t njrn, capjrn;
	struct jstream *jst;
	size_t njst, capjst;
	struct tx *over;	/* sagas the round finished, to forget */
	struct rej *rjdone;	/* rejections the round decided */
	struct evt_hmap found;	/* decision ids found stored already */
	long long aside, rejected;	/* counts, for -v */
	int moved;		/* apply() moved stock */
	struct evt_buf mkey;	/* a transfer's key in txs */
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

static struct evt_sv lit(const char *s);

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

int
evt_saga_emits(const char *t, size_t n)
{
	return emitter[rtype_of(t, n)] != NULL;
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
 * empty and every item is such an object with qty >= 1, else the first
 * that is not in r->bad_item (-1: the array is empty).
 */
static void
read_items(struct evt_saga *s, struct evt_sv a, struct rev *r)
{
	size_t pos = 0, off, len, n = 0;
	int i = 0;
	struct evt_err e;

	r->items_ok = 1;
	r->bad_item = -1;
	for (; evt_json_array_next(a.p, a.n, &pos, &off, &len); i++) {
		struct item it = { { NULL, 0 }, 0 };
		struct evt_sv q;
		const char *what = NULL;

		if (evt_json_scan(&s->xj, a.p + off, len, 0, &e) < 0 ||
		    s->xj.type != EVT_J_OBJECT)
			what = "";
		else {
			it.sku = evt_json_get_str(&s->xj, "sku", &s->arena);
			q = evt_json_get(&s->xj, "qty", EVT_J_NUMBER);
			if (it.sku.p == NULL || it.sku.n == 0)
				what = ".sku";
			else if (q.p == NULL || evt_json_int(q.p, q.n, &it.qty) < 0 ||
			    it.qty < 1)
				what = ".qty";
		}
		if (what) {
			if (r->items_ok) {
				r->bad_item = i;
				r->bad_item_what = what;
			}
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
	if (i == 0)
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
	r->bad_item = -1;
	r->type = rtype_of(ev->type.p, ev->type.n);
	if (r->type == R_OTHER)
		return 0;
	r->id = (struct evt_sv){ ev->id.p, ev->id.n };
	r->corr = (struct evt_sv){ ev->corr.p, ev->corr.n };
	r->time_ms = ev->slot[EVT_F_TIME] >= 0 ? ev->time_ms : now;
	r->cause = (struct evt_sv){ ev->cause.p, ev->cause.n };
	{
		int k = evt_json_find(&ev->j, "orchestration");
		if (k >= 0)
			r->orch = (struct evt_sv){ ev->j.base + ev->j.m[k].voff,
			    ev->j.m[k].vlen };
	}
	if (ev->slot[EVT_F_DATA] < 0)
		return 0;
	m = &ev->j.m[ev->slot[EVT_F_DATA]];
	/* Decoded strings are never longer than the text: with this much
	 * room the arena does not move while r points into it. */
	evt_buf_reset(&s->arena);
	evt_buf_grow(&s->arena, m->vlen + 1);
	if (evt_json_scan(&s->dj, ev->j.base + m->voff, m->vlen, 0, err) < 0)
		return -1;
	if (s->dj.type != EVT_J_OBJECT)
		return 0;
	r->has_data = 1;
	r->txid = evt_json_get_str(&s->dj, "transaction_id", &s->arena);
	r->txid_str = r->txid.p != NULL;
	/* A transfer's events name it by transfer_id; the orchestrator's,
	 * their saga by key. */
	if (r->type >= R_SAGA_FIRST) {
		r->txid = evt_json_get_str(&s->dj, "key", &s->arena);
		r->reason = evt_json_get_str(&s->dj, "reason", &s->arena);
		return 0;
	}
	if (r->txid.p == NULL && r->type != R_CREATED && r->type != R_ADJUSTED &&
	    r->type != R_REJECTED) {
		r->txid = evt_json_get_str(&s->dj, "transfer_id", &s->arena);
		r->transfer = r->txid.p != NULL;
	}
	if (IS_CMD(r->type) || r->type >= R_DISPATCHED) {
		r->store = evt_json_get_str(&s->dj, "store_id", &s->arena);
		if (r->store.p == NULL)
			r->store = evt_json_get_str(&s->dj, "from_store",
			    &s->arena);
		r->to_store = evt_json_get_str(&s->dj, "to_store", &s->arena);
		r->amount = evt_json_get(&s->dj, "amount", EVT_J_NUMBER);
		r->currency = evt_json_get_str(&s->dj, "currency", &s->arena);
		r->reason = evt_json_get_str(&s->dj, "reason", &s->arena);
		r->shipment = evt_json_get_str(&s->dj, "shipment", &s->arena);
		if (r->shipment.p == NULL)
			r->shipment = evt_json_get_str(&s->dj, "shipment_id",
			    &s->arena);
		r->delivery = evt_json_get(&s->dj, "delivery", EVT_J_OBJECT).p !=
		    NULL;
		v = evt_json_get(&s->dj, "payment", EVT_J_OBJECT);
		if (v.p && evt_json_scan(&s->xj, v.p, v.n, 0, err) == 0)
			r->token = evt_json_get_str(&s->xj, "token", &s->arena);
		v = evt_json_get(&s->dj, "items", EVT_J_ARRAY);
		if (v.p)
			read_items(s, v, r);
		return 0;
	}
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
	case R_REJECTED:
		r->reason = evt_json_get_str(&s->dj, "reason", &s->arena);
		break;
	default:
		break;
	}
	return 0;
}

/*
 * What is wrong with an event the rules cannot take: the field (a path
 * from the event's top, "data.total") and why. Returns 1.
 */
static int
bad(struct evt_saga *s, struct rev *r, const char *field, const char *why)
{
	evt_buf_reset(&s->name);
	evt_buf_adds(&s->name, field);
	r->field = (struct evt_sv){ s->name.p, s->name.len };
	r->detail = lit(why);
	return 1;
}

/* Whether v holds an amount: a number, exact in 38 digits, >= 0. */
static const char *
amount_bad(struct evt_sv v, const char *what)
{
	struct evt_dec x;
	int rc;

	(void)what;
	if (v.p == NULL)
		return "is missing or not a number";
	if ((rc = evt_dec_parse(v.p, v.n, &x)) != EVT_DEC_OK)
		return rc == EVT_DEC_RANGE ? "does not fit in 38 digits" :
		    "is not a number";
	if (evt_dec_sign(x) < 0)
		return "is negative";
	return NULL;
}

/*
 * Whether the rules can take r as a fact (0), or not (1, with r->field
 * and r->detail saying why). The types that cause a decision need an id:
 * the decision's id is derived from it, and a cause that evt-append would
 * name later could be answered twice.
 */
static int
check_event(struct evt_saga *s, struct rev *r)
{
	const char *why;

	/* A rejection names its order by causationid: its transaction id
	 * may be one that could not be taken. */
	if (r->type == R_REJECTED || r->type >= R_SAGA_FIRST)
		return 0;
	if (!r->has_data)
		return bad(s, r, "data", "is missing or not an object");
	if (r->type == R_ADJUSTED) {
		if (!r->store.p || r->store.n == 0)
			return bad(s, r, "data.store_id", "is missing or not a string");
		if (!r->sku.p || r->sku.n == 0)
			return bad(s, r, "data.sku", "is missing or not a string");
		if (!r->delta_ok)
			return bad(s, r, "data.delta", "is not an integer of at "
			    "most 19 digits");
		return 0;
	}
	if (!r->txid.p || r->txid.n == 0)
		return bad(s, r, "data.transaction_id", "is missing or not a "
		    "string");
	/* They name the reactions' streams: a subject is a CloudEvents
	 * string (evt(7)). */
	if (!evt_ce_string_ok(r->txid.p, r->txid.n))
		return bad(s, r, "data.transaction_id", "holds a control "
		    "character");
	if (r->store.p && !evt_ce_string_ok(r->store.p, r->store.n))
		return bad(s, r, "data.store_id", "holds a control character");
	switch (r->type) {
	case R_CREATED:
		if (!r->store.p || r->store.n == 0)
			return bad(s, r, "data.store_id", "is missing or not a "
			    "string");
		if ((why = amount_bad(r->total, "total")) != NULL)
			return bad(s, r, "data.total", why);
		if (!r->currency.p || r->currency.n == 0)
			return bad(s, r, "data.currency", "is missing or not a "
			    "string");
		if (!r->items_ok) {
			char f[48];
			if (r->bad_item < 0)
				return bad(s, r, "data.items", "is missing, empty "
				    "or not an array");
			snprintf(f, sizeof(f), "data.items[%d]%s", r->bad_item,
			    r->bad_item_what);
			return bad(s, r, f, *r->bad_item_what == '\0' ? "is not "
			    "an object" : strcmp(r->bad_item_what, ".sku") == 0 ?
			    "is missing or not a string" : "is not an integer "
			    "from 1 to 2^63-1");
		}
		break;
	case R_PROCESSED:
		/* What a refund gives back when the order is not at hand. */
		if ((why = amount_bad(r->amount, "amount")) != NULL)
			return bad(s, r, "data.amount", why);
		break;
	case R_CHARGE:
		if ((why = amount_bad(r->amount, "amount")) != NULL)
			return bad(s, r, "data.amount", why);
		break;
	case R_RESERVED:
	case R_RELEASED:
	case R_RECEIVED:
	case R_RESERVE: case R_RELEASE: case R_RESERVE_STOCK:
	case R_RELEASE_STOCK: case R_DISPATCH: case R_RESTOCK: case R_RECEIVE:
		if (!r->store.p || r->store.n == 0)
			return bad(s, r, "data.store_id", "is missing or not a "
			    "string");
		if (!r->items_ok)
			return bad(s, r, "data.items", "is missing or empty, or "
			    "an item lacks a sku or an integer qty >= 1");
		if (r->to_store.p && !evt_ce_string_ok(r->to_store.p,
		    r->to_store.n))
			return bad(s, r, "data.to_store", "holds a control "
			    "character");
		break;
	default:
		break;
	}
	switch (r->type) {
	case R_RELEASED: case R_DELIVERED: case R_COMPLETED: case R_REJECTED:
		break;
	default:
		if (r->id.p == NULL || r->id.n == 0)
			return bad(s, r, "id", "is missing: a cause needs one, so "
			    "that its outcome's id is known (append it to the "
			    "log first, or give it one)");
	}
	return 0;
}

/* --- the state ---------------------------------------------------------- */

/* Free what an own holds, and empty it. */
static void
own_clear(struct own *o)
{
	free(o->p);
	o->p = NULL;
	o->n = 0;
}

static void
own_set(struct own *o, struct evt_sv v)
{
	own_clear(o);
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
cmd_free(struct cmd *c)
{
	struct own *o[] = { &c->id, &c->corr, &c->orchv, &c->store,
	    &c->to_store, &c->amount, &c->currency, &c->token, &c->shipment,
	    &c->reason };

	for (size_t i = 0; i < sizeof(o) / sizeof(o[0]); i++)
		free(o[i]->p);
	free(c->items);
	free(c);
}

static void
tx_free(struct tx *t)
{
	struct own *o[] = { &t->id, &t->corr, &t->pay_id, &t->paid,
	    &t->fail_id, &t->refund_id, &t->res_id, &t->res_store,
	    &t->unavail_id, &t->ful_id, &t->cancel_id, &t->cancel_reason,
	    &t->creq_id, &t->orchv, &t->mkey, &t->end_id, &t->fail_reason,
	    &t->ship_id, &t->rcv_store };
	struct cmd *c;

	for (size_t i = 0; i < sizeof(o) / sizeof(o[0]); i++)
		free(o[i]->p);
	while ((c = t->cmds) != NULL) {
		t->cmds = c->next;
		cmd_free(c);
	}
	free(t->oblock);
	free(t->res_items);
	free(t->rcv_items);
	free(t);
}

/* The key of t in the table of sagas: a transfer's apart from a
 * transaction's of the same id. */
static struct evt_sv
tkey(const struct tx *t)
{
	return t->mkey.p ? (struct evt_sv){ t->mkey.p, t->mkey.n } :
	    (struct evt_sv){ t->id.p, t->id.n };
}

static void
rej_free(struct rej *j)
{
	if (j == NULL)
		return;
	free(j->cause.p);
	free(j->subject.p);
	free(j->corr.p);
	free(j->txid.p);
	free(j->field.p);
	free(j->detail.p);
	free(j);
}

static void
free_rej(void *arg, const char *k, size_t n, long long v)
{
	(void)arg; (void)k; (void)n;
	rej_free((struct rej *)(intptr_t)v);
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
	evt_saga_commit(s);
	evt_hmap_each(&s->txs, free_tx, NULL);
	evt_hmap_free(&s->txs);
	/* Every owed rejection is in the map, queued or not. */
	evt_hmap_each(&s->rejs, free_rej, NULL);
	evt_hmap_free(&s->rejs);
	evt_hmap_free(&s->found);
	free(s->jrn);
	free(s->jst);
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
	evt_buf_free(&s->mkey);
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

	while (d->tab[i].h && (d->tab[i].h & ~(uint64_t)DONE_CANCELLED) != h)
		i = (i + 1) & mask;
	return i;
}

/* 0 when id's saga is not remembered as over, else its entry. */
static uint64_t
done_get(const struct done *d, struct evt_sv id)
{
	return d->tab ? d->tab[done_slot(d, done_hash(id))].h : 0;
}

/* The hash of the order of id's saga, remembered as over, or 0. */
static uint64_t
done_order(const struct done *d, struct evt_sv id)
{
	return d->tab ? d->tab[done_slot(d, done_hash(id))].order : 0;
}

static void
done_del(struct done *d, uint64_t h)
{
	size_t mask = 2 * (size_t)DONE_MAX - 1, i = done_slot(d, h), j, home;

	if (d->tab[i].h == 0)
		return;
	d->tab[i].h = 0;
	d->tab[i].order = 0;
	/* Backward shift, as in hmap.c: no tombstones. */
	for (j = (i + 1) & mask; d->tab[j].h; j = (j + 1) & mask) {
		home = done_home(d->tab[j].h);
		if ((j > i && (home <= i || home > j)) ||
		    (j < i && home <= i && home > j)) {
			d->tab[i] = d->tab[j];
			d->tab[j].h = 0;
			d->tab[j].order = 0;
			i = j;
		}
	}
}

/* Remember id's saga as over; order is the hash of its order's event id
 * (0: none seen), so that the same order read again is told from a second
 * order for the same transaction. */
static void
done_add(struct done *d, struct evt_sv id, int cancelled, uint64_t order)
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
	if (d->tab[i].h) {
		d->tab[i].h = h | (cancelled ? DONE_CANCELLED : 0);
		if (order)
			d->tab[i].order = order;
		return;
	}
	if (d->len == DONE_MAX) {
		done_del(d, d->ring[d->head]);
		d->head = (d->head + 1) % DONE_MAX;
		d->len--;
		i = done_slot(d, h);
	}
	d->tab[i].h = h | (cancelled ? DONE_CANCELLED : 0);
	d->tab[i].order = order;
	d->ring[(d->head + d->len) % DONE_MAX] = h;
	d->len++;
}

/* The hash an order's event id is remembered by: never 0. */
static uint64_t
order_hash(struct evt_sv id)
{
	return id.p ? evt_hash(id.p, id.n) | 1 : 0;
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
	if (t->ghost)
		return 1;
	/* Orchestrated: over when its saga is, every command read is
	 * answered, and an order has its outcome and delivery. */
	if (t->orch) {
		for (const struct cmd *c = t->cmds; c; c = c->next)
			if (!c->done)
				return 0;
		return t->saga_end && (!t->has_order || t->outcome != OPEN) &&
		    !(t->fulfilled && t->delivery && !t->delivered);
	}
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

/*
 * Forget a finished saga: keep a hash of its id, free the rest. In a
 * round that may yet be taken back (journaling), only set it aside until
 * the round is committed.
 */
static void
forget(struct evt_saga *s, struct tx *t)
{
	unqueue(s, t);
	heap_del(s, t);
	if (s->journaling) {
		if (!t->over) {
			t->over = 1;
			t->next = s->over;
			s->over = t;
		}
		return;
	}
	done_add(&s->done, tkey(t), t->outcome == CANCELLED,
	    t->ghost ? 0 : order_hash(sv(&t->cid)));
	evt_hmap_del(&s->txs, tkey(t).p, tkey(t).n);
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
		/* An orchestrated order: the orchestrator keeps its time. */
		if (r->orch.p && !t->orch) {
			t->orch = 1;
			own_set(&t->orchv, r->orch);
		}
		if (s->o.timeout_ms > 0 && (s->o.services & EVT_SAGA_TRANSACTION) &&
		    !t->orch) {
			/* The participants get the whole timeout from when the
			 * order could be seen: an order synced late by an
			 * offline till is not cancelled at once. */
			int64_t from = r->vis_ms > r->time_ms ? r->vis_ms :
			    r->time_ms;
			if (__builtin_add_overflow(from, s->o.timeout_ms,
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
		if (r->reason.p)
			own_set(&t->fail_reason, r->reason);
		break;
	case R_REFUNDED:
		if (t->refunded)
			return 0;
		t->refunded = 1;
		own_set(&t->refund_id, r->id);
		break;
	case R_RESERVED:
		/* An orchestrated reservation retried may find the stock
		 * that an earlier attempt did not. */
		if (t->inv != INV_NONE && !(t->inv == INV_UNAVAILABLE &&
		    r->orch.p && !t->released))
			return 0;
		/* A release recorded ahead of its reservation nets out. */
		if (!t->released && move_stock(s, r->store, r->items, r->nitems,
		    -1) < 0)
			return evt_err_set(err, EX_DATAERR, "%s: the stock it "
			    "takes does not fit in 64 bits", tname[r->type]);
		s->moved = !t->released;
		t->inv = INV_RESERVED;
		free(t->res_items);
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
		/* Goods dispatched and not brought back are not on the
		 * shelf to give back. */
		if (t->inv == INV_RESERVED && (!t->dispatched || t->restocked)) {
			if (move_stock(s, sv(&t->res_store), t->res_items,
			    t->nres, +1) < 0)
				return evt_err_set(err, EX_DATAERR, "%s: the "
				    "stock it gives back does not fit in 64 "
				    "bits", tname[r->type]);
			s->moved = 1;
		}
		t->released = 1;
		break;
	case R_DISPATCHED:
		if (t->dispatched)
			return 0;
		t->dispatched = 1;
		own_set(&t->ship_id, r->shipment);
		break;
	case R_RESTOCKED:
		t->restocked = 1;
		break;
	case R_RECEIVED:
		if (t->received)
			return 0;
		if (move_stock(s, r->store, r->items, r->nitems, +1) < 0)
			return evt_err_set(err, EX_DATAERR, "%s: the stock it "
			    "adds does not fit in 64 bits", tname[r->type]);
		s->moved = 1;
		t->received = 1;
		own_set(&t->rcv_store, r->store);
		free(t->rcv_items);
		t->rcv_items = items_dup(r->items, r->nitems);
		t->nrcv = r->nitems;
		break;
	case R_SAGA_DONE:
	case R_SAGA_FAILED:
		if (t->saga_end)
			return 0;
		t->saga_end = r->type == R_SAGA_DONE ? SAGA_OK : SAGA_BAD;
		own_set(&t->end_id, r->id);
		t->saga_why = evt_orch_why(r->reason.p, r->reason.n);
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
	case R_CANCEL_REQ:
		if (t->cancel_req)
			return 0;
		t->cancel_req = 1;
		own_set(&t->creq_id, r->id);
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

/*
 * Owe a rejection to the order r: reason, with r->field and r->detail
 * when it cannot be taken. Only the transaction service decides one, so
 * only it keeps them. An order rejected already, or owed one, is not
 * owed a second.
 */
static void
owe_rejection(struct evt_saga *s, const struct rev *r, const struct evt_event *ev,
    const char *reason)
{
	struct rej *j;

	if (!(s->o.services & EVT_SAGA_TRANSACTION) ||
	    evt_hmap_get(&s->rejs, r->id.p, r->id.n))
		return;
	if ((j = calloc(1, sizeof(*j))) == NULL)
		abort();
	own_set(&j->cause, r->id);
	own_set(&j->corr, r->corr.p ? r->corr : r->id);
	j->reason = reason;
	j->time_ms = r->time_ms;
	/* The rejection goes to the transaction's stream, or to the
	 * order's own when its transaction id cannot name one. */
	if (r->txid.p && r->txid.n && evt_ce_string_ok(r->txid.p, r->txid.n))
		own_set(&j->txid, r->txid);
	else {
		j->txid_null = r->txid.p == NULL;
		if (r->txid.p)
			own_set(&j->txid, r->txid);
		own_set(&j->subject, (struct evt_sv){ ev->subject.p,
		    ev->subject.n });
	}
	own_set(&j->field, r->field.p ? r->field : lit("data.transaction_id"));
	own_set(&j->detail, r->detail.p ? r->detail :
	    lit("is the id of a transaction already ordered"));
	evt_hmap_put(&s->rejs, j->cause.p, j->cause.n, (long long)(intptr_t)j);
	if (s->rjtail)
		s->rjtail->next = j;
	else
		s->rjhead = j;
	s->rjtail = j;
}

/* A rejection recorded for order id: none is owed any more. */
static void
rejection_recorded(struct evt_saga *s, struct evt_sv id)
{
	long long *v = evt_hmap_get(&s->rejs, id.p, id.n);
	struct rej *j, **pp, *prev;

	if (v == NULL)
		return;
	j = (struct rej *)(intptr_t)*v;
	evt_hmap_del(&s->rejs, id.p, id.n);
	/* Out of the queue; the tail moves back only when it goes. */
	for (pp = &s->rjhead, prev = NULL; *pp; prev = *pp, pp = &(*pp)->next)
		if (*pp == j) {
			*pp = j->next;
			if (s->rjtail == j)
				s->rjtail = prev;
			break;
		}
	rej_free(j);
}

/* Copy r's reason for err, naming the event's type and field. */
static void
say_bad(struct evt_err *err, int code, const struct rev *r)
{
	evt_err_set(err, code, "%s: %.*s %.*s", tname[r->type],
	    (int)r->field.n, r->field.p, (int)r->detail.n, r->detail.p);
}

/* --- orchestrated sagas ------------------------------------------------- */

static struct cmd *
cmd_find(const struct tx *t, struct evt_sv id)
{
	for (struct cmd *c = t->cmds; c; c = c->next)
		if (c->id.n == id.n && memcmp(c->id.p, id.p, id.n) == 0)
			return c;
	return NULL;
}

static struct cmd *
cmd_add(struct tx *t, struct evt_sv id)
{
	struct cmd *c = calloc(1, sizeof(*c));

	if (c == NULL)
		abort();
	own_set(&c->id, id);
	if (t->cmdtail)
		t->cmdtail->next = c;
	else
		t->cmds = c;
	t->cmdtail = c;
	return c;
}

/*
 * A command read: owed an answer unless its reply was read before it (or
 * it is read again). The saga is orchestrated from now on.
 */
static void
command_read(struct evt_saga *s, struct tx *t, const struct rev *r)
{
	struct cmd *c;

	if (r->time_ms > t->last_ms)
		t->last_ms = r->time_ms;
	if (!t->orch) {
		t->orch = 1;
		if (r->orch.p)
			own_set(&t->orchv, r->orch);
	}
	if (!t->corr.p)
		own_set(&t->corr, r->corr.p ? r->corr : r->id);
	if (cmd_find(t, r->id))
		return;
	c = cmd_add(t, r->id);
	c->type = r->type;
	c->delivery = r->delivery;
	own_set(&c->corr, r->corr.p ? r->corr : r->id);
	own_set(&c->orchv, r->orch.p ? r->orch : sv(&t->orchv));
	own_set(&c->store, r->store);
	own_set(&c->to_store, r->to_store);
	own_set(&c->amount, r->amount);
	own_set(&c->currency, r->currency);
	own_set(&c->token, r->token);
	own_set(&c->shipment, r->shipment);
	own_set(&c->reason, r->reason);
	if (r->nitems) {
		c->items = items_dup(r->items, r->nitems);
		c->nitems = r->nitems;
	}
	if (r->delivery)
		t->delivery = 1;
	enqueue(s, t);
}

/* A reply to the command cause: answered. One read before its command
 * is remembered, so that the command is not answered again. */
static void
reply_read(struct evt_saga *s, struct tx *t, struct evt_sv cause)
{
	struct cmd *c = cmd_find(t, cause);

	(void)s;
	if (c == NULL) {
		c = cmd_add(t, cause);
		c->type = R_OTHER;
	}
	c->done = 1;
}

/*
 * The end of an orchestrated saga (SagaCompleted, SagaFailed), on the saga
 * of its key and correlation id: for an order, the transaction's outcome
 * follows. The orchestrator's other events change nothing here.
 */
static int
fold_saga_end(struct evt_saga *s, const struct rev *r, struct evt_err *err)
{
	struct tx *t = NULL;

	if ((r->type != R_SAGA_DONE && r->type != R_SAGA_FAILED) || !r->txid.p)
		return EVT_SAGA_TAKEN;
	for (int pass = 0; pass < 2 && t == NULL; pass++) {
		struct evt_sv key = r->txid;
		if (pass) {
			evt_buf_reset(&s->mkey);
			evt_buf_adds(&s->mkey, "transfer\x1f");
			evt_buf_add(&s->mkey, r->txid.p, r->txid.n);
			key = (struct evt_sv){ s->mkey.p, s->mkey.len };
		}
		t = tx_get(s, key);
		if (t && (!t->orch || !t->corr.p || !r->corr.p ||
		    t->corr.n != r->corr.n || memcmp(t->corr.p, r->corr.p,
		    r->corr.n) != 0))
			t = NULL;
	}
	if (t == NULL)
		return EVT_SAGA_TAKEN;
	if (apply(s, t, r, err) < 0) {
		s->aside++;
		return EVT_SAGA_ASIDE;
	}
	if (finished(t))
		forget(s, t);
	else
		enqueue(s, t);
	return EVT_SAGA_TAKEN;
}

int
evt_saga_check(struct evt_saga *s, const struct evt_event *ev,
    struct evt_err *err)
{
	struct rev r;

	if (read_event(s, ev, 0, &r, err) < 0) {
		err->code = EX_DATAERR;
		return EVT_SAGA_ASIDE;
	}
	/* An event without an id is not one read from a log: refused as
	 * input, not a fact to report. */
	if (r.type == R_OTHER || check_event(s, &r) == 0 ||
	    (r.field.n == 2 && memcmp(r.field.p, "id", 2) == 0))
		return EVT_SAGA_TAKEN;
	say_bad(err, EX_DATAERR, &r);
	return r.type == R_CREATED ? EVT_SAGA_REJECTED : EVT_SAGA_ASIDE;
}

int
evt_saga_fold(struct evt_saga *s, const struct evt_event *ev, int64_t now_ms,
    struct evt_err *err)
{
	struct rev r;
	struct tx *t;
	struct evt_sv key;
	int64_t vis = s->max_ms < now_ms ? s->max_ms : now_ms;

	/* How far the log's times have gone: an order stored after them
	 * became visible no earlier. A time ahead of the clock (a skewed
	 * producer) tells nothing of when anything was stored, and is not
	 * taken: it would move every later order's deadline. */
	if (ev->slot[EVT_F_TIME] >= 0 && ev->time_ms > s->max_ms &&
	    ev->time_ms <= now_ms)
		s->max_ms = ev->time_ms;
	track_stream(s, ev);
	if (read_event(s, ev, now_ms, &r, err) < 0) {
		s->aside++;
		return EVT_SAGA_ASIDE;
	}
	if (r.type == R_OTHER)
		return EVT_SAGA_TAKEN;
	r.vis_ms = vis;
	if (check_event(s, &r)) {
		/* A cause without an id cannot be answered at all: its
		 * answer's id would be made up. */
		if ((r.field.n == 2 && memcmp(r.field.p, "id", 2) == 0) ||
		    (r.type == R_CREATED && (r.id.p == NULL || r.id.n == 0))) {
			say_bad(err, EX_DATAERR, &r);
			return -1;
		}
		say_bad(err, EX_DATAERR, &r);
		if (r.type == R_CREATED) {
			owe_rejection(s, &r, ev, "invalid_order");
			s->rejected++;
			return EVT_SAGA_REJECTED;
		}
		s->aside++;
		return EVT_SAGA_ASIDE;
	}
	if (r.type == R_ADJUSTED) {
		long long *v = stock(s, r.store, r.sku), sum;
		if (__builtin_add_overflow(*v, r.delta, &sum)) {
			evt_err_set(err, EX_DATAERR, "%s: data.delta takes the "
			    "stock past 64 bits", tname[r.type]);
			s->aside++;
			return EVT_SAGA_ASIDE;
		}
		*v = sum;
		return EVT_SAGA_TAKEN;
	}
	if (r.type == R_REJECTED) {
		struct evt_sv cause = { ev->cause.p, ev->cause.n };
		if (cause.p)
			rejection_recorded(s, cause);
		/* An order refused as invalid ends what was recorded for its
		 * transaction before it: a payment is refunded, stock given
		 * back. */
		if (r.reason.p && r.reason.n == 13 &&
		    memcmp(r.reason.p, "invalid_order", 13) == 0 && r.txid.p &&
		    (t = tx_get(s, r.txid)) != NULL && !t->has_order &&
		    t->outcome == OPEN) {
			t->outcome = CANCELLED;
			own_set(&t->cancel_id, r.id);
			own_set(&t->cancel_reason, lit("invalid_order"));
			if (!t->corr.p)
				own_set(&t->corr, r.corr);
			if (finished(t))
				forget(s, t);
			else
				enqueue(s, t);
		}
		return EVT_SAGA_TAKEN;
	}
	if (r.type >= R_SAGA_FIRST)
		return fold_saga_end(s, &r, err);
	key = r.txid;
	if (r.transfer) {
		evt_buf_reset(&s->mkey);
		evt_buf_adds(&s->mkey, "transfer\x1f");
		evt_buf_add(&s->mkey, r.txid.p, r.txid.n);
		key = (struct evt_sv){ s->mkey.p, s->mkey.len };
	}
	if ((t = tx_get(s, key)) == NULL) {
		uint64_t d = done_get(&s->done, key);
		/* A saga over: a command or reply of it read again. */
		if (d && (IS_CMD(r.type) || r.orch.p))
			return EVT_SAGA_TAKEN;
		/* Over: a second order for it is a duplicate; nothing else
		 * follows, but what a racing or lagging run took after a
		 * cancellation, which is given back. */
		if (d && r.type == R_CREATED) {
			uint64_t o = done_order(&s->done, r.txid);
			if (o != order_hash(r.id))
				owe_rejection(s, &r, ev, "duplicate_transaction");
			return EVT_SAGA_TAKEN;
		}
		if (d && (!(d & DONE_CANCELLED) ||
		    (r.type != R_PROCESSED && r.type != R_RESERVED)))
			return EVT_SAGA_TAKEN;
		/* A customer's request for an order not seen, or over. */
		if (r.type == R_CANCEL_REQ)
			return EVT_SAGA_TAKEN;
		if ((t = calloc(1, sizeof(*t))) == NULL)
			abort();
		t->last_ms = INT64_MIN;
		own_set(&t->id, r.txid);
		if (r.transfer) {
			own_set(&t->mkey, key);
			t->transfer = 1;
		}
		evt_hmap_put(&s->txs, tkey(t).p, tkey(t).n,
		    (long long)(intptr_t)t);
		if (d) {
			t->outcome = CANCELLED;
			own_set(&t->corr, r.corr.p ? r.corr : r.id);
			own_set(&t->cancel_reason, lit("transaction_cancelled"));
		}
	} else if (r.type == R_CREATED && t->has_order) {
		/* The same order read again, or a second one. */
		if (t->cid.n != r.id.n || memcmp(t->cid.p, r.id.p, r.id.n) != 0)
			owe_rejection(s, &r, ev, "duplicate_transaction");
		return EVT_SAGA_TAKEN;
	}
	if (IS_CMD(r.type)) {
		command_read(s, t, &r);
		return EVT_SAGA_TAKEN;
	}
	/* A reply answers its command, whoever wrote it. */
	if (r.cause.p && (t->cmds || r.orch.p))
		reply_read(s, t, r.cause);
	if (apply(s, t, &r, err) < 0) {
		s->aside++;
		return EVT_SAGA_ASIDE;
	}
	/* The saga's own events, too, tell that its deadline passed. */
	if (t->heap && t->outcome == OPEN && t->due_ms <= t->last_ms) {
		heap_del(s, t);
		t->expired = 1;
	}
	if (finished(t))
		forget(s, t);
	else
		enqueue(s, t);
	return EVT_SAGA_TAKEN;
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

static void
add_str_or_null(struct evt_buf *b, struct evt_sv v)
{
	if (v.p)
		evt_buf_json_str(b, v.p, v.n);
	else
		evt_buf_adds(b, "null");
}

/* Which service emits a reaction type: its source and the category of
 * its subject. */
static const char *
service_of(enum rtype t)
{
	/* A reaction of a type outside the table would be a bug in the
	 * rules: stop rather than write an outcome the causes filter
	 * would call a cause. */
	if (emitter[t] == NULL)
		abort();
	return emitter[t];
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
	if (s->journaling) {
		struct jstream *j;
		if (s->njst == s->capjst) {
			s->capjst = s->capjst ? 2 * s->capjst : 16;
			if ((s->jst = realloc(s->jst, s->capjst *
			    sizeof(*s->jst))) == NULL)
				abort();
		}
		j = &s->jst[s->njst++];
		if ((j->subj = malloc(s->subj.len + 1)) == NULL)
			abort();
		memcpy(j->subj, s->subj.p, s->subj.len);
		j->n = s->subj.len;
		j->v = v ? *v : -1;
	}
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
	if (r->subject.p)
		add_sv(&s->subj, r->subject);
	else {
		evt_buf_adds(&s->subj, svc);
		evt_buf_addc(&s->subj, '-');
		add_sv(&s->subj, r->type == R_RESERVED || r->type ==
		    R_UNAVAILABLE || r->type == R_RELEASED || r->type ==
		    R_RESTOCKED ? r->store : r->txid);
	}
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
	evt_buf_adds(b, r->transfer ? ",\"data\":{\"transfer_id\":" :
	    ",\"data\":{\"transaction_id\":");
	if (r->txid.p)
		evt_buf_json_str(b, r->txid.p, r->txid.n);
	else
		evt_buf_adds(b, "null");
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
	case R_DISPATCHED:
		evt_buf_adds(b, ",\"from_store\":");
		evt_buf_json_str(b, r->store.p, r->store.n);
		evt_buf_adds(b, ",\"to_store\":");
		add_str_or_null(b, r->to_store);
		add_items(b, r);
		evt_buf_adds(b, ",\"shipment_id\":");
		add_str_or_null(b, r->shipment);
		break;
	case R_RECEIVED:
	case R_RESTOCKED:
		evt_buf_adds(b, ",\"store_id\":");
		evt_buf_json_str(b, r->store.p, r->store.n);
		add_items(b, r);
		evt_buf_adds(b, ",\"shipment_id\":");
		add_str_or_null(b, r->shipment);
		break;
	case R_NOT_FULFILLED:
	case R_DISPATCH_FAILED:
	case R_RECEIVE_FAILED:
		evt_buf_adds(b, ",\"store_id\":");
		add_str_or_null(b, r->store);
		evt_buf_adds(b, ",\"reason\":");
		evt_buf_json_str(b, r->reason.p, r->reason.n);
		break;
	case R_COMPLETED:
		evt_buf_adds(b, ",\"total\":");
		add_sv(b, r->total);
		break;
	case R_CANCELLED:
		evt_buf_adds(b, ",\"reason\":");
		evt_buf_json_str(b, r->reason.p, r->reason.n);
		break;
	case R_REJECTED:
		evt_buf_adds(b, ",\"reason\":");
		evt_buf_json_str(b, r->reason.p, r->reason.n);
		evt_buf_adds(b, ",\"field\":");
		evt_buf_json_str(b, r->field.p, r->field.n);
		evt_buf_adds(b, ",\"detail\":");
		evt_buf_json_str(b, r->detail.p, r->detail.n);
		break;
	default:
		break;
	}
	evt_buf_addc(b, '}');
	/* Part of an orchestrated saga: marked as its command was, so that
	 * the orchestrator takes it as a reply and the choreography leaves
	 * it alone. */
	if (r->orch.p) {
		evt_buf_adds(b, ",\"orchestration\":");
		add_sv(b, r->orch);
	}
	evt_buf_addc(b, '}');
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
	r.transfer = t->transfer;
	if (t->orch && t->orchv.p)
		r.orch = sv(&t->orchv);
	return r;
}

/* Journal what a decision on t (or the rejection j) is about to change. */
static void
journal(struct evt_saga *s, struct tx *t, struct rej *j, enum rtype type)
{
	struct jent *e;

	if (!s->journaling)
		return;
	if (s->njrn == s->capjrn) {
		s->capjrn = s->capjrn ? 2 * s->capjrn : 64;
		if ((s->jrn = realloc(s->jrn, s->capjrn * sizeof(*s->jrn))) == NULL)
			abort();
	}
	e = &s->jrn[s->njrn++];
	memset(e, 0, sizeof(*e));
	e->t = t;
	e->rej = j;
	e->type = type;
	if (t == NULL)
		return;
	e->pay = t->pay;
	e->inv = t->inv;
	e->refunded = t->refunded;
	e->released = t->released;
	e->fulfilled = t->fulfilled;
	e->delivered = t->delivered;
	e->outcome = t->outcome;
	e->last_ms = t->last_ms;
	e->dispatched = t->dispatched;
	e->restocked = t->restocked;
	e->received = t->received;
	/* e->took: set once apply() has told whether it moved stock. */
}

/* A decision already stored, and not by anything read (seen as a
 * duplicate when appended: evt_saga_stored)? */
static int
stored_before(const struct evt_saga *s, const char *id)
{
	return s->found.n > 0 && evt_hmap_get(&s->found, id, EVT_UUID_LEN);
}

/*
 * A saga in hand met a decision of its own transaction stored long ago:
 * the order in hand is a second one for a transaction decided before
 * this run could remember. It is not decided again: the transaction
 * service rejects it as a duplicate, and every participant forgets it.
 */
static void
ghost(struct evt_saga *s, struct tx *t)
{
	t->ghost = 1;
	if (t->has_order) {
		struct rev r;
		memset(&r, 0, sizeof(r));
		r.type = R_CREATED;
		r.id = sv(&t->cid);
		r.corr = sv(&t->corr);
		r.txid = sv(&t->id);
		r.time_ms = t->created_ms;
		owe_rejection(s, &r, NULL, "duplicate_transaction");
	}
}

static int take(struct ctx *c, struct tx *t, struct rev *r, const char *id,
    struct cmd *cmd);

/*
 * Take the decision named `decision` about t's transaction: the reaction
 * r (type and data filled in), caused by cause, gets the id UUIDv5(the
 * transaction id, decision), so that whatever outcome is drawn, by
 * whichever run, for whichever order of the transaction, it is the one
 * event the log can hold for it. It is stamped at `at` unless the caller
 * gives 0 (then: now, or the saga's latest event if later), folded into t
 * (and journaled), and emitted.
 */
static int
decide(struct ctx *c, struct tx *t, struct rev *r, const char *decision,
    const struct own *cause, int64_t at)
{
	struct evt_saga *s = c->s;
	char id[EVT_UUID_LEN + 1];

	evt_buf_reset(&s->name);
	add_sv(&s->name, sv(&t->id));
	evt_buf_addc(&s->name, '\n');
	evt_buf_adds(&s->name, decision);
	evt_uuid_v5(s->name.p, s->name.len, id);
	if (stored_before(s, id)) {
		ghost(s, t);
		return 0;
	}
	r->id = (struct evt_sv){ id, EVT_UUID_LEN };
	r->time_ms = at ? at : c->now > t->last_ms ? c->now : t->last_ms;
	write_line(s, r, sv(cause));
	return take(c, t, r, id, NULL);
}

/* Journal, fold and emit the reaction r, written in s->line; cmd: the
 * command it answers. */
static int
take(struct ctx *c, struct tx *t, struct rev *r, const char *id,
    struct cmd *cmd)
{
	struct evt_saga *s = c->s;

	journal(s, t, NULL, r->type);
	s->moved = 0;
	if (cmd)
		cmd->done = 1;
	if (apply(s, t, r, c->err) < 0)
		return -1;
	if (s->journaling) {
		s->jrn[s->njrn - 1].took = s->moved;
		s->jrn[s->njrn - 1].cmd = cmd;
	}
	return c->emit(c->arg, id, s->line.p, s->line.len) < 0 ? -1 : 1;
}

/*
 * Answer the command cmd of t's orchestrated saga with the reply r (type
 * and data filled in): its id is UUIDv5(the command's id, "answer to"),
 * so a command has one reply in the log whatever runs; it carries the
 * command's correlation id and mark, and the command's id as causationid.
 */
static int
answer(struct ctx *c, struct tx *t, struct cmd *cmd, struct rev *r)
{
	struct evt_saga *s = c->s;
	char id[EVT_UUID_LEN + 1];

	evt_buf_reset(&s->name);
	add_sv(&s->name, sv(&cmd->id));
	evt_buf_adds(&s->name, "\nanswer to");
	evt_uuid_v5(s->name.p, s->name.len, id);
	if (stored_before(s, id)) {
		/* Answered by a run whose reply this one did not read. */
		cmd->done = 1;
		return 0;
	}
	r->id = (struct evt_sv){ id, EVT_UUID_LEN };
	r->corr = sv(&cmd->corr);
	r->orch = cmd->orchv.p ? sv(&cmd->orchv) : (struct evt_sv){ NULL, 0 };
	r->transfer = t->transfer;
	r->time_ms = c->now > t->last_ms ? c->now : t->last_ms;
	write_line(s, r, sv(&cmd->id));
	return take(c, t, r, id, cmd);
}

/*
 * Whether this member decides for partition key k: N members share a
 * service's work by a stable hash (FNV-1a, the same on every host), and
 * every member folds every event, so each has the state its share needs.
 */
static int
mine(const struct evt_saga *s, struct evt_sv k)
{
	return s->o.member_n <= 1 ||
	    evt_hash(k.p ? k.p : "", k.n) % s->o.member_n == s->o.member_i;
}

/* Decide the rejection j, first in the queue: an order refused. */
static int
decide_rejection(struct ctx *c, struct rej *j)
{
	struct evt_saga *s = c->s;
	char id[EVT_UUID_LEN + 1];
	struct rev r;

	s->rjhead = j->next;
	if (s->rjhead == NULL)
		s->rjtail = NULL;
	j->next = NULL;
	/* Another member's share: it rejects the order. */
	if (!mine(s, j->txid.p && !j->txid_null && !j->subject.p ?
	    sv(&j->txid) : sv(&j->cause))) {
		evt_hmap_del(&s->rejs, j->cause.p, j->cause.n);
		rej_free(j);
		return 0;
	}
	evt_buf_reset(&s->name);
	add_sv(&s->name, sv(&j->cause));
	evt_buf_adds(&s->name, "\nrejection of order");
	evt_uuid_v5(s->name.p, s->name.len, id);
	evt_hmap_del(&s->rejs, j->cause.p, j->cause.n);
	if (stored_before(s, id)) {
		rej_free(j);
		return 0;
	}
	memset(&r, 0, sizeof(r));
	r.type = R_REJECTED;
	r.id = (struct evt_sv){ id, EVT_UUID_LEN };
	r.corr = sv(&j->corr);
	r.txid = j->txid_null ? (struct evt_sv){ NULL, 0 } : sv(&j->txid);
	r.subject = sv(&j->subject);
	r.reason = lit(j->reason);
	r.field = sv(&j->field);
	r.detail = sv(&j->detail);
	r.time_ms = c->now > j->time_ms ? c->now : j->time_ms;
	write_line(s, &r, sv(&j->cause));
	if (s->journaling) {
		journal(s, NULL, j, R_REJECTED);
		j->next = s->rjdone;
		s->rjdone = j;
	} else
		rej_free(j);
	return c->emit(c->arg, id, s->line.p, s->line.len) < 0 ? -1 : 1;
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
over_limit(const struct evt_saga *s, struct evt_sv total)
{
	struct evt_dec a, b;

	return s->o.decline_over &&
	    evt_dec_parse(total.p, total.n, &a) == EVT_DEC_OK &&
	    evt_dec_parse(s->o.decline_over, strlen(s->o.decline_over), &b) ==
	    EVT_DEC_OK && evt_dec_cmp(a, b) > 0;
}

/* Why a charge of amount with token in t's saga is declined, or NULL:
 * the same rules for an order and for a command. */
static const char *
declined(struct ctx *c, struct tx *t, struct evt_sv token, struct evt_sv amount)
{
	if (token.n >= 11 && memcmp(token.p, "tok_decline", 11) == 0)
		return "card_declined";
	if (over_limit(c->s, amount))
		return "over_limit";
	if (c->s->o.fail_rate > 0 &&
	    draw(c->s->o.seed, sv(&t->id)) < c->s->o.fail_rate)
		return "processor_error";
	return NULL;
}

static int
pay(struct ctx *c, struct tx *t)
{
	struct rev r = reaction(t, R_PROCESSED);
	const char *reason = declined(c, t, sv(&t->token), sv(&t->total));

	if (reason) {
		r.type = R_FAILED;
		r.reason = lit(reason);
	}
	return decide(c, t, &r, "payment of", &t->cid, 0);
}

/*
 * Reserve every item of the order in its store, or none: the units asked
 * for a sku are summed over the order's lines before they are compared
 * with the stock, so one sku on two lines cannot take more than there is.
 */
static int
stock_covers(struct evt_saga *s, struct evt_sv store, const struct item *items,
    size_t n, long long *avail)
{
	long long want;
	int ok = 1;

	for (size_t i = 0; i < n; i++) {
		long long have = *stock(s, store, items[i].sku);
		want = 0;
		for (size_t j = 0; j < n; j++)
			if (items[j].sku.n == items[i].sku.n &&
			    memcmp(items[j].sku.p, items[i].sku.p,
			    items[i].sku.n) == 0 &&
			    __builtin_add_overflow(want, items[j].qty, &want))
				want = LLONG_MAX;
		if (have < want)
			ok = 0;
		avail[i] = have > 0 ? have : 0;
	}
	return ok;
}

static int
reserve(struct ctx *c, struct tx *t)
{
	struct evt_saga *s = c->s;
	struct rev r = reaction(t, R_RESERVED);
	long long *avail = malloc((t->nitems + 1) * sizeof(*avail));
	int ok, rc;

	if (avail == NULL)
		abort();
	ok = stock_covers(s, sv(&t->store), t->items, t->nitems, avail);
	if (!ok) {
		r.type = R_UNAVAILABLE;
		r.avail = avail;
	}
	rc = decide(c, t, &r, "reservation for", &t->pay_id, 0);
	free(avail);
	return rc;
}

/*
 * Answer cmd, a command of t's orchestrated saga, as its participant
 * decides: by the same rules and on the same stock as the choreography.
 * A command repeated (a retry after a timeout) is answered as the first
 * was, without charging, reserving or moving goods again: the saga's
 * state holds one payment, one reservation, one dispatch. An undo of
 * what never happened succeeds with nothing to give back.
 */
static int
answer_cmd(struct ctx *c, struct tx *t, struct cmd *cmd)
{
	struct evt_saga *s = c->s;
	struct rev r;
	struct evt_buf ship = EVT_BUF_INIT;
	long long *avail = NULL;
	const char *why;
	int rc, held = t->inv == INV_RESERVED && !t->released;

	memset(&r, 0, sizeof(r));
	r.txid = sv(&t->id);
	r.store = sv(&cmd->store);
	r.items = cmd->items;
	r.nitems = cmd->nitems;
	r.amount = sv(&cmd->amount);
	r.currency = cmd->currency.p ? sv(&cmd->currency) : sv(&t->currency);
	switch (cmd->type) {
	case R_CHARGE:
		r.type = R_PROCESSED;
		if (t->pay == PAY_PROCESSED) {
			if (t->paid.p)
				r.amount = sv(&t->paid);
		} else if (t->pay == PAY_FAILED) {
			r.type = R_FAILED;
			r.reason = t->fail_reason.p ? sv(&t->fail_reason) :
			    lit("card_declined");
		} else if ((why = declined(c, t, sv(&cmd->token),
		    sv(&cmd->amount))) != NULL) {
			r.type = R_FAILED;
			r.reason = lit(why);
		}
		break;
	case R_REFUND:
		r.type = R_REFUNDED;
		r.reason = cmd->reason.p ? sv(&cmd->reason) :
		    lit("saga_compensation");
		if (t->pay == PAY_PROCESSED) {
			if (t->paid.p)
				r.amount = sv(&t->paid);
		} else
			r.amount = lit("0");	/* nothing was charged */
		break;
	case R_RESERVE:
	case R_RESERVE_STOCK:
		r.type = R_RESERVED;
		if (held) {
			r.store = sv(&t->res_store);
			r.items = t->res_items;
			r.nitems = t->nres;
			break;
		}
		if ((avail = malloc((cmd->nitems + 1) * sizeof(*avail))) == NULL)
			abort();
		if (!stock_covers(s, r.store, cmd->items, cmd->nitems, avail)) {
			r.type = R_UNAVAILABLE;
			r.avail = avail;
		}
		break;
	case R_RELEASE:
	case R_RELEASE_STOCK:
		r.type = R_RELEASED;
		if (t->inv == INV_RESERVED) {
			r.store = sv(&t->res_store);
			r.items = t->res_items;
			r.nitems = t->nres;
		}
		break;
	case R_RESTOCK:
		r.type = R_RESTOCKED;
		r.shipment = cmd->shipment.p ? sv(&cmd->shipment) :
		    sv(&t->ship_id);
		break;
	case R_FULFIL:
		r.type = R_FULFILLED;
		if (held)
			r.store = sv(&t->res_store);
		else if (!t->fulfilled) {
			r.type = R_NOT_FULFILLED;
			r.reason = lit("not_reserved");
		}
		break;
	case R_DISPATCH:
		r.type = R_DISPATCHED;
		r.to_store = sv(&cmd->to_store);
		if (t->dispatched && !t->restocked) {
			r.shipment = sv(&t->ship_id);
			break;
		}
		if (!held || t->dispatched) {
			r.type = R_DISPATCH_FAILED;
			r.reason = lit("not_reserved");
			break;
		}
		r.store = sv(&t->res_store);
		r.items = t->res_items;
		r.nitems = t->nres;
		evt_buf_adds(&ship, "ship-");
		add_sv(&ship, sv(&t->id));
		r.shipment = (struct evt_sv){ ship.p, ship.len };
		break;
	case R_RECEIVE:
		r.type = R_RECEIVED;
		r.shipment = cmd->shipment.p ? sv(&cmd->shipment) :
		    sv(&t->ship_id);
		if (!t->received && (!t->dispatched || t->restocked)) {
			r.type = R_RECEIVE_FAILED;
			r.reason = lit("not_dispatched");
		}
		break;
	default:
		return 0;
	}
	rc = answer(c, t, cmd, &r);
	free(avail);
	evt_buf_free(&ship);
	return rc;
}

/*
 * What t's orchestrated saga is owed: the commands read and not answered,
 * each by its participant (a member: stock commands by store, the rest by
 * the saga's key), in the order read; then a delivery the store owes, and
 * the transaction's outcome once the saga has ended.
 */
static int
owed_orch(struct ctx *c, struct tx *t)
{
	int on = c->s->o.services;
	struct rev r;

	for (struct cmd *cmd = t->cmds; cmd; cmd = cmd->next) {
		int who = answerer(cmd->type);
		if (cmd->done || !(on & who))
			continue;
		if (c->s->o.member_n > 1 && !mine(c->s, who ==
		    EVT_SAGA_INVENTORY ? sv(&cmd->store) : sv(&t->id)))
			continue;
		return answer_cmd(c, t, cmd);
	}
	if (c->s->o.member_n > 1 && !mine(c->s, sv(&t->id)))
		return 0;
	if ((on & EVT_SAGA_STORE) && t->fulfilled && t->delivery &&
	    !t->delivered && t->has_order && t->ful_id.p) {
		r = reaction(t, R_DELIVERED);
		if (t->res_store.p)
			r.store = sv(&t->res_store);
		return decide(c, t, &r, "delivery of", &t->ful_id, 0);
	}
	if ((on & EVT_SAGA_TRANSACTION) && t->outcome == OPEN && t->has_order &&
	    t->saga_end) {
		r = reaction(t, R_CANCELLED);
		if (t->saga_end == SAGA_OK) {
			r.type = R_COMPLETED;
			return decide(c, t, &r, "completion of", &t->end_id, 0);
		}
		/* The reasons the choreography gives for the same end. */
		r.reason = lit(t->pay == PAY_FAILED ? "payment_declined" :
		    t->inv == INV_UNAVAILABLE ? "inventory_unavailable" :
		    t->saga_why == EVT_ORCH_WHY_STEP_TIMED_OUT ||
		    t->saga_why == EVT_ORCH_WHY_DEADLINE ? "timeout" :
		    "saga_failed");
		return decide(c, t, &r, "fate of", &t->end_id, 0);
	}
	return 0;
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

	if (t->orch)
		return owed_orch(c, t);
	/* A member decides its share: stock by store, the rest by
	 * transaction. */
	if (c->s->o.member_n > 1) {
		int store = mine(c->s, t->inv == INV_RESERVED ?
		    sv(&t->res_store) : sv(&t->store));
		if (!mine(c->s, sv(&t->id)))
			on &= EVT_SAGA_INVENTORY;
		if (!store)
			on &= ~EVT_SAGA_INVENTORY;
	}

	/* Without its order (not seen yet, or a saga that ended and met a
	 * late payment or reservation) only what gives back can be owed. */
	if ((on & EVT_SAGA_TRANSACTION) && t->outcome == OPEN && t->has_order) {
		r = reaction(t, R_CANCELLED);
		if (t->fulfilled) {
			r.type = R_COMPLETED;
			return decide(c, t, &r, "completion of", &t->ful_id, 0);
		}
		if (t->pay == PAY_FAILED) {
			r.reason = lit("payment_declined");
			return decide(c, t, &r, "fate of", &t->fail_id, 0);
		}
		if (t->refunded) {
			r.reason = lit("inventory_unavailable");
			return decide(c, t, &r, "fate of", &t->refund_id, 0);
		}
		/* A customer's request: the same decision as the store's,
		 * so that the log keeps one of fulfilment and cancellation. */
		if (t->cancel_req) {
			r.reason = lit("customer_request");
			return decide(c, t, &r, "fate of", &t->creq_id, 0);
		}
		if (t->expired) {
			r.reason = lit("timeout");
			return decide(c, t, &r, "fate of", &t->cid,
			    t->due_ms > t->last_ms ? t->due_ms : t->last_ms);
		}
	}
	if (on & EVT_SAGA_PAYMENT) {
		if (t->pay == PAY_NONE && t->outcome == OPEN && t->has_order &&
		    !t->cancel_req)
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
			return decide(c, t, &r, "refund of",
			    unavail ? &t->unavail_id : t->cancel_id.p ?
			    &t->cancel_id : &t->pay_id, 0);
		}
	}
	if (on & EVT_SAGA_INVENTORY) {
		if (t->inv == INV_NONE && t->pay == PAY_PROCESSED &&
		    t->outcome == OPEN && t->has_order && !t->cancel_req)
			return reserve(c, t);
		if (t->inv == INV_RESERVED && !t->released && !t->fulfilled &&
		    t->outcome == CANCELLED) {
			r = reaction(t, R_RELEASED);
			r.store = sv(&t->res_store);
			r.items = t->res_items;
			r.nitems = t->nres;
			return decide(c, t, &r, "release of",
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
			return decide(c, t, &r, "fate of", &t->res_id, 0);
		}
		if (t->fulfilled && t->delivery && !t->delivered && t->has_order) {
			r = reaction(t, R_DELIVERED);
			return decide(c, t, &r, "delivery of", &t->ful_id, 0);
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
	struct ctx c = { s, now_ms, now_ms, emitfn, arg, err };

	for (;;) {
		int expired = 0;

		if (drain(&c) < 0)
			return -1;
		while (s->rjhead)
			if (decide_rejection(&c, s->rjhead) < 0)
				return -1;
		/* What is still open past its deadline is stuck: cancel it,
		 * earliest deadline first, and take what follows. Deadlines
		 * are judged by the clock alone: no event's time, however
		 * far ahead, moves it. */
		while (s->nheap > 0 && s->heap[0]->due_ms <= c.now) {
			struct tx *t = s->heap[0];
			heap_del(s, t);
			if (t->outcome == OPEN) {
				t->expired = 1;
				enqueue(s, t);
				expired = 1;
			}
		}
		if (!expired)
			break;
	}
	/* Every decision found stored was met again and taken as such. */
	evt_hmap_clear(&s->found);
	return 0;
}

void
evt_saga_journal(struct evt_saga *s, int on)
{
	evt_saga_commit(s);
	s->journaling = on;
}

void
evt_saga_stored(struct evt_saga *s, const char *id)
{
	if (strlen(id) == EVT_UUID_LEN)
		evt_hmap_put(&s->found, id, EVT_UUID_LEN, 1);
}

void
evt_saga_commit(struct evt_saga *s)
{
	struct tx *t;
	struct rej *j;
	int on = s->journaling;

	s->journaling = 0;
	while ((t = s->over) != NULL) {
		s->over = t->next;
		t->next = NULL;
		t->over = 0;
		forget(s, t);
	}
	s->journaling = on;
	while ((j = s->rjdone) != NULL) {
		s->rjdone = j->next;
		rej_free(j);
	}
	for (size_t i = 0; i < s->njst; i++)
		free(s->jst[i].subj);
	s->njst = 0;
	s->njrn = 0;
}

void
evt_saga_undo(struct evt_saga *s)
{
	struct tx *t;

	/* The sagas the round finished are open again (first: the queue
	 * takes the link they wait on). */
	while ((t = s->over) != NULL) {
		s->over = t->next;
		t->next = NULL;
		t->over = 0;
		enqueue(s, t);
	}
	/* The decisions, newest first, back to the state before them. */
	while (s->njrn > 0) {
		struct jent *e = &s->jrn[--s->njrn];
		if ((t = e->t) == NULL) {
			struct rej *j = e->rej, **pp;
			for (pp = &s->rjdone; *pp; pp = &(*pp)->next)
				if (*pp == j) {
					*pp = j->next;
					break;
				}
			/* Owed again, first. */
			j->next = s->rjhead;
			s->rjhead = j;
			if (s->rjtail == NULL)
				s->rjtail = j;
			evt_hmap_put(&s->rejs, j->cause.p, j->cause.n,
			    (long long)(intptr_t)j);
			continue;
		}
		/* What the decision set, cleared only if it set it: an
		 * orchestrated command repeated answers as before and changes
		 * nothing. */
		if (e->cmd)
			e->cmd->done = 0;
		switch (e->type) {
		case R_PROCESSED:
			if (e->pay != t->pay) {
				own_clear(&t->pay_id);
				own_clear(&t->paid);
			}
			break;
		case R_FAILED:
			if (e->pay != t->pay) {
				own_clear(&t->fail_id);
				own_clear(&t->fail_reason);
			}
			break;
		case R_REFUNDED:
			if (e->refunded != t->refunded)
				own_clear(&t->refund_id);
			break;
		case R_RESERVED:
			if (e->took)
				move_stock(s, sv(&t->res_store), t->res_items,
				    t->nres, +1);
			if (e->inv != t->inv) {
				own_clear(&t->res_id);
				own_clear(&t->res_store);
				free(t->res_items);
				t->res_items = NULL;
				t->nres = 0;
			}
			break;
		case R_UNAVAILABLE:
			if (e->inv != t->inv)
				own_clear(&t->unavail_id);
			break;
		case R_RELEASED:
			if (e->took)
				move_stock(s, sv(&t->res_store), t->res_items,
				    t->nres, -1);
			break;
		case R_RECEIVED:
			if (e->took)
				move_stock(s, sv(&t->rcv_store), t->rcv_items,
				    t->nrcv, -1);
			if (e->received != t->received) {
				own_clear(&t->rcv_store);
				free(t->rcv_items);
				t->rcv_items = NULL;
				t->nrcv = 0;
			}
			break;
		case R_DISPATCHED:
			if (e->dispatched != t->dispatched)
				own_clear(&t->ship_id);
			break;
		case R_FULFILLED:
			if (e->fulfilled != t->fulfilled)
				own_clear(&t->ful_id);
			break;
		case R_CANCELLED:
			if (e->outcome != t->outcome) {
				own_clear(&t->cancel_id);
				own_clear(&t->cancel_reason);
			}
			break;
		default:
			break;
		}
		t->dispatched = e->dispatched;
		t->restocked = e->restocked;
		t->received = e->received;
		t->pay = e->pay;
		t->inv = e->inv;
		t->refunded = e->refunded;
		t->released = e->released;
		t->fulfilled = e->fulfilled;
		t->delivered = e->delivered;
		t->outcome = e->outcome;
		t->last_ms = e->last_ms;
		/* Back under its deadline, if the round took it out. */
		if (!t->ghost && !t->orch && t->outcome == OPEN && t->has_order &&
		    !t->expired && t->heap == 0 && s->o.timeout_ms > 0 &&
		    (s->o.services & EVT_SAGA_TRANSACTION))
			heap_push(s, t);
		enqueue(s, t);
	}
	/* The stock streams at the versions read. */
	while (s->njst > 0) {
		struct jstream *j = &s->jst[--s->njst];
		if (j->v < 0)
			evt_hmap_del(&s->streams, j->subj, j->n);
		else
			evt_hmap_put(&s->streams, j->subj, j->n, j->v);
		free(j->subj);
	}
}

long long
evt_saga_count(const struct evt_saga *s, int what)
{
	return what == EVT_SAGA_REJECTED ? s->rejected : s->aside;
}
