/*
 * service.c - the service loop of saga-step and saga-orch (service.h),
 * once in cmd/saga-step.c, here so that both share one copy.
 */
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "cli.h"
#include "clock.h"
#include "crypto_load.h"
#include "follow.h"
#include "hmap.h"
#include "input.h"
#include "metrics.h"
#include "service.h"
#include "uuid.h"

/* How often a service on a log looks again when nothing wakes it. */
#define RECHECK_MS 1000
/*
 * A round is appended in chunks of at most this many decisions (or
 * bytes), each its own transaction: another writer never waits for more
 * than one chunk, a kill loses at most one, and the round's memory is
 * bounded. Decisions are emitted in order with ids of their own, so a
 * chunk stands alone.
 */
#define CHUNK_EVENTS 4096
#define CHUNK_BYTES (4u << 20)
/* The longest wait between two tries of a round that lost a race. */
#define BACKOFF_MAX_MS 1000

/* --- metrics ---------------------------------------------------------- */

/* What a service's reactions came to (evt_reactions_total{outcome}). */
enum { R_DECIDED, R_LOST, R_ASIDE, R_NOUT };
static const char *const routcome[R_NOUT] = {
	"decided", "lost_race", "set_aside"
};
/* Which service a reaction is of (its emitter, saga.c's table), or
 * the process's own (SV_OWN) for the orchestrator's and the rest. */
enum { SV_OWN, SV_TRANSACTION, SV_PAYMENT, SV_INVENTORY, SV_STORE, SV_N };
static const char *const svname[SV_N] = {
	NULL, "transaction", "payment", "inventory", "store"
};

/* A saga's outcomes (evt_saga_outcomes_total{outcome}). */
enum { O_COMPLETED, O_CANCELLED, O_REJECTED, O_COMPENSATED, O_FAILED, O_N };
static const char *const oname[O_N] = {
	"completed", "cancelled", "rejected", "compensated", "failed"
};

/* Seconds from a saga's creation to an outcome: from a payment taken at
 * once to a day's close. */
static const double dbounds[] = {
	0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600,
	14400, 86400
};

/* What the tracker keeps of an open saga, in a struct tab value: the
 * creation time (ms) shifted left by F_SHIFT, and these flags. */
enum {
	F_NOTOWED = 1,		/* its payment was refused: no refund owed */
	F_COMPENSATED = 2,	/* counted as compensated */
	F_CANCELLED = 4,	/* cancelled, its compensation to come */
	F_SHIFT = 3
};

/*
 * A set of 64-bit hashes (hash below) with a value each, open addressing,
 * deletion by shifting back (no tombstones). The tracker keys sagas and
 * its own decisions by the hash of their correlation id and id, not the
 * bytes: no copy, no compare, a few instructions an event. Two keys of one
 * hash (odds of 2^-64 a pair) would share an entry: a metric off by one,
 * never a wrong decision.
 */
struct tab {
	struct slot {
		uint64_t k;	/* 0: empty (a hash of 0 is stored as 1) */
		long long v;
	} *s;			/* key and value side by side: one miss */
	size_t cap, n;		/* cap a power of 2 */
};

/*
 * cap empty slots. A large table is in huge pages where the system gives
 * them (madvise): every look-up lands on a page of its own, and with 4 KB
 * pages it cost a TLB miss on top of the cache miss.
 */
#define HUGE_PAGE (2u << 20)
static struct slot *
slots_new(size_t cap)
{
	size_t bytes = cap * sizeof(struct slot);
	struct slot *s;

	if (bytes < HUGE_PAGE) {
		if ((s = calloc(cap, sizeof(*s))) == NULL)
			abort();
		return s;
	}
	if ((s = aligned_alloc(HUGE_PAGE, bytes)) == NULL)
		abort();
	madvise(s, bytes, MADV_HUGEPAGE);
	memset(s, 0, bytes);
	return s;
}

static long long *
tab_get(const struct tab *t, uint64_t h)
{
	if (t->n == 0)
		return NULL;
	h += h == 0;
	for (size_t i = h & (t->cap - 1);; i = (i + 1) & (t->cap - 1)) {
		if (t->s[i].k == h)
			return &t->s[i].v;
		if (t->s[i].k == 0)
			return NULL;
	}
}

/* Add h with the value v, unless it is there already (its value then
 * unchanged): one probe, where a look-up and then an insert took two.
 * Returns whether it was added. */
static int
tab_add(struct tab *t, uint64_t h, long long v)
{
	size_t i;

	h += h == 0;
	if (2 * (t->n + 1) > t->cap) {
		struct tab o = *t;
		t->cap = o.cap ? 2 * o.cap : 1024;
		t->n = 0;
		t->s = slots_new(t->cap);
		for (i = 0; i < o.cap; i++)
			if (o.s[i].k)
				tab_add(t, o.s[i].k, o.s[i].v);
		free(o.s);
	}
	for (i = h & (t->cap - 1); t->s[i].k && t->s[i].k != h;
	    i = (i + 1) & (t->cap - 1))
		;
	if (t->s[i].k)
		return 0;
	t->n++;
	t->s[i] = (struct slot){ h, v };
	return 1;
}

static void
tab_del(struct tab *t, uint64_t h)
{
	size_t m = t->cap - 1, i, j;

	h += h == 0;
	if (t->n == 0)
		return;
	for (i = h & m; t->s[i].k != h; i = (i + 1) & m)
		if (t->s[i].k == 0)
			return;
	/* Shift back the entries after it that would not be found past
	 * the hole. */
	for (j = (i + 1) & m; t->s[j].k; j = (j + 1) & m) {
		size_t home = t->s[j].k & m;
		if (((j - home) & m) >= ((j - i) & m)) {
			t->s[i] = t->s[j];
			i = j;
		}
	}
	t->s[i].k = 0;
	t->n--;
}

static void
tab_free(struct tab *t)
{
	free(t->s);
}

struct mx {
	struct evt_metrics *m;
	const struct evt_service_metrics *o;
	struct evt_metrics_types *written;
	struct evt_metrics_follower *follower;
	long long *react[SV_N][R_NOUT];	/* made when first counted */
	long long *outcomes[O_N];
	struct evt_metrics_hist *dur[O_N];
	long long *in_flight, *stuck;
	struct tab sagas;	/* correlation id -> F_ value */
	/*
	 * A follower's own decisions, appended and tracked, not yet read
	 * back: their seqs, ascending (appended in order), from mine[mhead]
	 * to mine[nmine]. The log is read in seq order, so a stored event is
	 * one of them when its seq is the first: a compare an event, where a
	 * set of their ids cost a hash and a cache miss. Only a follower
	 * reads its decisions back (follow).
	 */
	long long *mine;
	size_t mhead, nmine, mcap;
	int follow;
	long long mine_seq;	/* the last seq appended */
	int64_t newest;		/* the latest saga event time followed */
	long long last_seq;	/* the log's, as last asked */
};

/*
 * What a type (by evt_metrics_type_index) is to the metrics: the
 * service a reaction of it is of (SV_), and what it does to a saga (K_):
 * tables built once, so that an event costs a load, not a dozen string
 * compares.
 */
enum {
	K_NONE, K_BEGIN, K_REFUSED, K_UNDO,
	/* The outcomes, in the order of O_: K_COMPLETED + O_... */
	K_COMPLETED, K_CANCELLED, K_REJECTED,
	K_NOT_A_KIND,		/* O_COMPENSATED: an outcome, not a kind */
	K_FAILED
};
static unsigned char tservice[64], tkind[2][64];

static void
tables(void)
{
	/* orch: whether the type is saga-orch's (1) or saga-step's (0). */
	static const struct { const char *t; int sv, k, orch; } def[] = {
		{ "TransactionCreated", SV_OWN, K_BEGIN, 0 },
		{ "SagaStarted", SV_OWN, K_BEGIN, 1 },
		{ "PaymentProcessed", SV_PAYMENT, K_NONE, 0 },
		{ "PaymentFailed", SV_PAYMENT, K_REFUSED, 0 },
		{ "PaymentRefunded", SV_PAYMENT, K_UNDO, 0 },
		{ "InventoryReserved", SV_INVENTORY, K_NONE, 0 },
		{ "InventoryUnavailable", SV_INVENTORY, K_NONE, 0 },
		{ "InventoryReleased", SV_INVENTORY, K_UNDO, 0 },
		{ "OrderFulfilled", SV_STORE, K_NONE, 0 },
		{ "OrderDelivered", SV_STORE, K_NONE, 0 },
		{ "TransactionCompleted", SV_TRANSACTION, K_COMPLETED, 0 },
		{ "TransactionCancelled", SV_TRANSACTION, K_CANCELLED, 0 },
		{ "TransactionRejected", SV_TRANSACTION, K_REJECTED, 0 },
		{ "SagaCompensated", SV_OWN, K_UNDO, 1 },
		{ "SagaCompleted", SV_OWN, K_COMPLETED, 1 },
		{ "SagaFailed", SV_OWN, K_FAILED, 1 },
	};

	for (size_t i = 0; i < sizeof(def) / sizeof(def[0]); i++) {
		int ti = evt_metrics_type_index(def[i].t, strlen(def[i].t));
		tservice[ti] = (unsigned char)def[i].sv;
		tkind[def[i].orch][ti] = (unsigned char)def[i].k;
	}
}

static int
service_of(int i)
{
	return tservice[i & 63];
}

static void
react(struct mx *x, int type, int outcome, long long k)
{
	int sv = service_of(type);

	if (x->react[sv][outcome] == NULL)
		x->react[sv][outcome] = evt_metrics_counter2(x->m,
		    EVT_METRIC_COUNTER, "evt_reactions_total",
		    "Reactions by the service they are of and what came of "
		    "them: decided (appended), lost_race (another instance "
		    "decided first; taken back), set_aside (stored, but "
		    "unusable).", "service", sv ? svname[sv] : x->o->service,
		    "outcome", routcome[outcome]);
	*x->react[sv][outcome] += k;
}

/* Open the metrics of o, and write them once. Returns 0, or -1 with
 * err. */
static int
mx_open(struct mx *x, const struct evt_service_metrics *o, struct evt_err *err)
{
	memset(x, 0, sizeof(*x));
	if (o == NULL || o->path == NULL)
		return 0;
	tables();
	x->o = o;
	x->m = evt_metrics_new(o->path, o->program);
	x->written = evt_metrics_types(x->m, "evt_events_written_total",
	    "Events appended to the log, by type (\"other\" for types no "
	    "saga knows).");
	x->follower = evt_metrics_follower(x->m);
	if (o->sagas) {
		x->in_flight = evt_metrics_counter(x->m, EVT_METRIC_GAUGE,
		    "evt_sagas_in_flight", "Sagas begun with no outcome yet.",
		    "service", o->service);
		x->stuck = evt_metrics_counter(x->m, EVT_METRIC_GAUGE,
		    "evt_sagas_stuck", "Sagas in flight for longer than they "
		    "should be.", "service", o->service);
		/* The outcomes of the sagas followed, each there from the
		 * start: a rate needs the series before its first count. */
		int orch = o->sagas == EVT_SERVICE_SAGAS_ORCHESTRATED;
		for (int i = 0; i < O_N; i++)
			if (orch ? i != O_CANCELLED && i != O_REJECTED :
			    i != O_FAILED)
				x->outcomes[i] = evt_metrics_counter(x->m,
				    EVT_METRIC_COUNTER, "evt_saga_outcomes_total",
				    "Sagas ended, by outcome; compensated: a "
				    "saga's first refund, release or undo (as "
				    "well as its end).", "outcome", oname[i]);
		for (int i = 0; i < O_N; i++)
			if (x->outcomes[i])
				x->dur[i] = evt_metrics_histogram(x->m,
				    "evt_saga_duration_seconds", "Seconds from "
				    "a saga's creation to each outcome.",
				    "outcome", oname[i], dbounds,
				    sizeof(dbounds) / sizeof(dbounds[0]));
	}
	if (evt_metrics_write(x->m, err) < 0) {
		evt_err_prefix(err, "--metrics");
		evt_metrics_free(x->m);
		x->m = NULL;
		return -1;
	}
	return 0;
}

/*
 * Bring the gauges up to date: the log's last seq (asked when ask, and
 * only then: the caller may be inside a read), what was taken in up to
 * seq, the sagas stuck at now.
 */
static void
mx_gauges(struct mx *x, struct evt_log *log, int ask, long long seq,
    int64_t now)
{
	long long last;
	struct evt_err err;

	if (ask && evt_log_last_seq(log, &last, &err) == 0)
		x->last_seq = last;
	if (x->last_seq < seq)
		x->last_seq = seq;
	evt_metrics_follower_set(x->follower, x->last_seq, seq, now);
	if (x->stuck) {
		int64_t before = now - (x->o->stuck_ms ? x->o->stuck_ms :
		    15 * 60 * 1000);
		int64_t old = x->newest - 24 * 3600 * 1000LL;
		long long n = 0;
		uint64_t drop[64];
		size_t nd = 0;
		for (size_t i = 0; i < x->sagas.cap; i++) {
			long long v = x->sagas.s[i].v;
			if (x->sagas.s[i].k == 0)
				continue;
			if (!(v & F_CANCELLED) && (v >> F_SHIFT) < before)
				n++;
			if ((v & F_CANCELLED) && (v >> F_SHIFT) < old &&
			    nd < 64)
				drop[nd++] = x->sagas.s[i].k;
		}
		/* A few at a time: deleting shifts entries. */
		while (nd)
			tab_del(&x->sagas, drop[--nd]);
		*x->stuck = n;
	}
}

/* Write the metrics if they are due; a failure is a warning. */
static void
mx_tick(struct mx *x, const struct evt_decider *d, struct evt_log *log,
    int ask, long long seq, int64_t now)
{
	struct evt_err err;

	if (!evt_metrics_due(x->m))
		return;
	mx_gauges(x, log, ask, seq, now);
	if (evt_metrics_tick(x->m, &err) < 0)
		d->warn("--metrics: %s", err.msg);
}

static void
outcome(struct mx *x, int o, int64_t created, int64_t at)
{
	if (x->outcomes[o] == NULL)
		return;
	(*x->outcomes[o])++;
	if (created >= 0)
		evt_metrics_observe(x->dur[o], at > created ?
		    (double)(at - created) / 1000 : 0);
}

/* The key of ev's saga: the hash of its correlation id (its id when it
 * has none), or 0 when it has neither. */
static uint64_t
saga_key(const struct evt_event *ev)
{
	if (ev->corr.n)
		return evt_hash_words(ev->corr.p, ev->corr.n);
	return ev->id.n ? evt_hash_words(ev->id.p, ev->id.n) : 0;
}

/* Whether an event of type index ti moves a saga the tracker follows. */
static int
moves(const struct mx *x, int ti)
{
	return tkind[x->o->sagas == EVT_SERVICE_SAGAS_ORCHESTRATED][ti & 63] !=
	    K_NONE;
}

/*
 * Follow a saga (key: saga_key's) by the event of type index ti at time
 * at: begun, compensated, ended. Only what an outcome needs is looked up
 * (an entry is a cache miss in a large table): a saga's creation time, a
 * refused payment (it will owe no refund), a compensation. A cancelled
 * saga is kept, out of flight, until its first refund or release, so
 * that one that comes after the cancellation is counted too, once; one
 * that owes none (its payment refused, or compensated already) is over
 * at once, and one whose compensation never comes is dropped a day
 * after its creation (mx_gauges).
 */
static void
track(struct mx *x, uint64_t key, int ti, int64_t at)
{
	int kind = tkind[x->o->sagas == EVT_SERVICE_SAGAS_ORCHESTRATED][ti & 63];
	long long *v;

	if (kind == K_NONE || key == 0)
		return;
	if (at > x->newest)
		x->newest = at;
	if (kind == K_BEGIN) {
		if (tab_add(&x->sagas, key, (long long)(at > 0 ? at : 0) <<
		    F_SHIFT))
			(*x->in_flight)++;
		return;
	}
	if ((v = tab_get(&x->sagas, key)) == NULL) {
		/* Begun before what was read, or over: an outcome counts,
		 * without a duration. */
		if (kind >= K_COMPLETED)
			outcome(x, kind - K_COMPLETED, -1, at);
		return;
	}
	int64_t created = *v >> F_SHIFT;
	switch (kind) {
	case K_REFUSED:
		*v |= F_NOTOWED;
		return;
	case K_UNDO:
		if (!(*v & F_COMPENSATED)) {
			outcome(x, O_COMPENSATED, created, at);
			*v |= F_COMPENSATED;
		}
		if (*v & F_CANCELLED)
			tab_del(&x->sagas, key);
		return;
	}
	int o = kind - K_COMPLETED;
	if (*v & F_CANCELLED)
		return;		/* over already */
	outcome(x, o, created, at);
	(*x->in_flight)--;
	if (o == O_CANCELLED && !(*v & (F_COMPENSATED | F_NOTOWED)))
		*v |= F_CANCELLED;
	else
		tab_del(&x->sagas, key);
}

/* A follower's own decision of seq, tracked: not to be tracked again
 * when read back. */
static void
mine_push(struct mx *x, long long seq)
{
	if (x->mhead == x->nmine)
		x->mhead = x->nmine = 0;
	else if (x->nmine == x->mcap && x->mhead >= x->mcap / 2) {
		memmove(x->mine, x->mine + x->mhead, (x->nmine - x->mhead) *
		    sizeof(*x->mine));
		x->nmine -= x->mhead;
		x->mhead = 0;
	}
	if (x->nmine == x->mcap) {
		x->mcap = x->mcap ? 2 * x->mcap : 256;
		if ((x->mine = realloc(x->mine, x->mcap * sizeof(*x->mine))) ==
		    NULL)
			abort();
	}
	x->mine[x->nmine++] = seq;
}

/* Whether the stored event of seq is one of the follower's own decisions,
 * tracked already; those before it (none, as the log is read in order)
 * are forgotten. */
static int
mine_take(struct mx *x, long long seq)
{
	while (x->mhead < x->nmine && x->mine[x->mhead] < seq)
		x->mhead++;
	if (x->mhead < x->nmine && x->mine[x->mhead] == seq) {
		x->mhead++;
		return 1;
	}
	return 0;
}

static void
mx_close(struct mx *x)
{
	evt_metrics_free(x->m);
	tab_free(&x->sagas);
	free(x->mine);
}

/*
 * Where the entry of a saga (key: saga_key's) would be, for a prefetch
 * ahead of track: its table is large, and a look-up in it a cache miss,
 * which the work done meanwhile hides; a hint, as anything may move it
 * meanwhile. (The prefetch is the caller's: GCC takes a function that
 * does nothing but prefetch for one without effects, and drops its
 * calls.)
 */
static const void *
saga_slot(const struct mx *x, uint64_t key)
{
	return x->sagas.cap ? &x->sagas.s[(key + (key == 0)) &
	    (x->sagas.cap - 1)] : (const void *)x;
}

/* --- the loop ----------------------------------------------------------- */

struct run {
	const struct evt_decider *d;
	struct mx x;
	/* With metrics: what the tracker needs of each decision of the
	 * chunk being appended, taken while it is parsed for the append. */
	struct pinfo {
		uint64_t key;
		long long seq;
		int64_t at;
		int ti;
	} *pi;
	size_t npi, pcap;
	struct evt_event ev;
	/* The decisions of a round not yet appended, back to back, one per
	 * line, and their ids (EVT_UUID_LEN + 1 bytes each). */
	struct evt_log *log;
	struct evt_buf pending, ids;
	long long npending, appended, in;
	long long last_seq;	/* the last stored event folded */
	int64_t now;
	int lost;		/* the round lost a race: take it back */
	int failed;		/* the round's append failed: err says why */
	struct evt_err err;
};

/* A stored event: a fact, whatever it holds. One that is not an event is
 * set aside with a warning, never a reason to stop. */
static int
fold_stored(void *arg, long long seq, const char *line, size_t len)
{
	struct run *r = arg;
	struct evt_err err;
	struct mx *x = &r->x;
	uint64_t key = 0;	/* its saga's, when the tracker wants it */
	int ti = 0;

	r->in++;
	r->last_seq = seq;
	if (evt_event_parse_stored(&r->ev, line, len, &err) < 0) {
		r->d->warn("%s: seq %lld: %s: set aside", evt_log_path(r->log),
		    seq, err.msg);
		if (x->m) {
			evt_metrics_follower_event(x->follower, "", 0, -1);
			react(x, 0, R_ASIDE, 1);
		}
		return 0;
	}
	if (x->m) {
		ti = evt_metrics_type_index(r->ev.type.p, r->ev.type.n);
		if (x->in_flight && moves(x, ti) && (key = saga_key(&r->ev)))
			__builtin_prefetch(saga_slot(x, key));
	}
	int rc = r->d->fold(r->d->st, &r->ev, r->now, evt_log_path(r->log),
	    seq);
	if (x->m) {
		evt_metrics_follower_event_index(x->follower, ti,
		    r->ev.slot[EVT_F_TIME] >= 0 ? r->ev.time_ms : -1);
		if (rc == EVT_SAGA_ASIDE)
			react(x, ti, R_ASIDE, 1);
		/* Its own decisions were tracked when appended. */
		if (x->mhead < x->nmine && mine_take(x, seq))
			;
		else if (key)
			track(x, key, ti, r->ev.slot[EVT_F_TIME] >= 0 ?
			    r->ev.time_ms : r->now);
		/* A long first round writes as it goes. */
		if ((r->in & 4095) == 0)
			mx_tick(x, r->d, r->log, 0, seq, r->now);
	}
	return 0;
}

/*
 * With metrics, a chunk's decisions are stored: they are reactions
 * decided and events written, and their sagas move now (a service of one
 * round never reads them back, a follower does in its next round, where
 * their seqs in mine say they are tracked already).
 */
static void
count_stored(struct run *r)
{
	struct mx *x = &r->x;

	for (size_t i = 0; i < r->npi; i++) {
		/* A few decisions ahead, their sagas' entries. */
		if (x->in_flight && i + 8 < r->npi && moves(x, r->pi[i + 8].ti))
			__builtin_prefetch(saga_slot(x, r->pi[i + 8].key));
		react(x, r->pi[i].ti, R_DECIDED, 1);
		evt_metrics_types_count_index(x->written, r->pi[i].ti, 1);
		if (x->in_flight && moves(x, r->pi[i].ti)) {
			track(x, r->pi[i].key, r->pi[i].ti, r->pi[i].at);
			if (x->follow)
				mine_push(x, r->pi[i].seq);
		}
	}
	r->npi = 0;
}

/* With metrics, the pending decisions were taken back: another instance
 * decided first. */
static void
count_lost(struct run *r)
{
	const char *p = r->pending.p, *end = p + r->pending.len;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p)), *t;
		size_t tn = 0;
		t = evt_metrics_line_type(p, (size_t)(nl - p), &tn);
		react(&r->x, evt_metrics_type_index(t, t ? tn : 0), R_LOST, 1);
		p = nl + 1;
	}
	r->npi = 0;
}

/*
 * Append the pending decisions in one transaction, and keep them in the
 * state (commit). When one of them, or another outcome of its decision,
 * is stored already (another instance decided meanwhile, or long ago),
 * nothing is written and r->lost is set. Returns 0, or -1 with r->err
 * (r->failed set).
 */
static int
flush(struct run *r)
{
	const char *p = r->pending.p, *end = p + r->pending.len;
	struct evt_err *err = &r->err;
	long long i = 0;

	if (r->npending == 0)
		return 0;
	if (evt_log_begin(r->log, err) < 0) {
		/* Other writers busy past the wait, or a connection lost:
		 * worth another try, never a reason to stop. */
		if (err->code == EX_TEMPFAIL) {
			r->lost = 1;
			return 0;
		}
		goto fail;
	}
	for (; p < end; i++) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		int rc;

		if (evt_event_parse(&r->ev, p, (size_t)(nl - p), 0, err) < 0 ||
		    (rc = evt_log_append(r->log, &r->ev, NULL, r->now, NULL,
		    err)) < 0) {
			evt_log_rollback(r->log);
			/* A conflict: an expectation another writer voided,
			 * or the id stored already with another outcome. */
			if (err->code == EX_TEMPFAIL) {
				if (err->taken)
					r->d->stored(r->d->st, r->ids.p + i *
					    (EVT_UUID_LEN + 1));
				r->lost = 1;
				return 0;
			}
			goto fail;
		}
		if (rc == EVT_APPEND_DUPLICATE) {
			evt_log_rollback(r->log);
			r->d->stored(r->d->st, r->ids.p + i * (EVT_UUID_LEN + 1));
			r->lost = 1;
			return 0;
		}
		if (r->x.m) {
			if (r->ev.seq > r->x.mine_seq)
				r->x.mine_seq = r->ev.seq;
			if (r->npi == r->pcap) {
				r->pcap = r->pcap ? 2 * r->pcap : 256;
				if ((r->pi = realloc(r->pi, r->pcap *
				    sizeof(*r->pi))) == NULL)
					abort();
			}
			r->pi[r->npi++] = (struct pinfo){ saga_key(&r->ev),
			    r->ev.seq, r->ev.slot[EVT_F_TIME] >= 0 ?
			    r->ev.time_ms : r->now,
			    evt_metrics_type_index(r->ev.type.p, r->ev.type.n) };
		}
		p = nl + 1;
	}
	if (evt_log_commit(r->log, err) < 0) {
		/* Whether it was stored or not, the events read next say. */
		if (err->code == EX_TEMPFAIL) {
			r->lost = 1;
			return 0;
		}
		goto fail;
	}
	r->d->commit(r->d->st);
	if (r->x.m)
		count_stored(r);
	r->appended += r->npending;
	r->npending = 0;
	evt_buf_reset(&r->pending);
	evt_buf_reset(&r->ids);
	return 0;
fail:
	r->failed = 1;
	return -1;
}

static int
collect(void *arg, const char *id, const char *line, size_t len)
{
	struct run *r = arg;
	char idbuf[EVT_UUID_LEN + 1];

	/* Decision ids are UUIDs: the table keeps them at a fixed size. */
	memset(idbuf, 0, sizeof(idbuf));
	memcpy(idbuf, id, strnlen(id, EVT_UUID_LEN));
	evt_buf_add(&r->pending, line, len);
	evt_buf_addc(&r->pending, '\n');
	evt_buf_add(&r->ids, idbuf, EVT_UUID_LEN + 1);
	if (++r->npending >= CHUNK_EVENTS || r->pending.len >= CHUNK_BYTES) {
		if (flush(r) < 0 || r->lost)
			return -1;
	}
	return 0;
}

/* Wait before the next try of a round that lost tries races in a row:
 * at once the first time, then longer, up to BACKOFF_MAX_MS, with
 * jitter so that two racing instances fall apart. */
static void
backoff(int tries)
{
	long ms;
	struct timespec ts;

	if (tries <= 1)
		return;
	ms = tries > 8 ? BACKOFF_MAX_MS : 5L << (tries - 1);
	if (ms > BACKOFF_MAX_MS)
		ms = BACKOFF_MAX_MS;
	ms = ms / 2 + random() % (ms / 2 + 1);
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000L;
	nanosleep(&ts, NULL);
}

/* After a round: give back what it took, so that memory follows the
 * open sagas. */
static void
shrink(struct run *r, long long decided)
{
	if (r->pending.cap > (1u << 20)) {
		evt_buf_free(&r->pending);
		evt_buf_free(&r->ids);
	}
	if (decided >= 4096)
		malloc_trim(0);
}

int
evt_service_run(const struct evt_decider *d, const char *spec, int follow,
    const struct evt_service_metrics *mo, struct evt_service_stats *stats,
    struct evt_err *errp)
{
	struct evt_follow *fw = NULL;
	struct evt_read rd;
	struct evt_err err;
	struct run r;
	int tries = 0, ret = 0, quick = 0;

	memset(&r, 0, sizeof(r));
	r.d = d;
	if ((r.log = evt_log_open(spec, 0, errp)) == NULL)
		return -1;
	/* A decision's id is name-based (SHA-1), made before the write
	 * that stores it begins: libcrypto now (crypto_load.h). */
	if (evt_crypto_load(evt_log_path(r.log), errp) < 0 ||
	    mx_open(&r.x, mo, errp) < 0) {
		evt_log_close(r.log);
		return -1;
	}
	r.x.follow = follow;
	if (r.x.m)
		evt_log_last_seq(r.log, &r.x.last_seq, &err);
	if (follow && (fw = evt_follow_open(r.log, &err)) == NULL)
		goto fail;
	srandom((unsigned)getpid());
	d->journal(d->st, 1);
	memset(&rd, 0, sizeof(rd));
	for (;;) {
		int64_t dl;
		long long before = r.appended;

		if (evt_clock_now(&r.now, &err) < 0)
			goto fail;
		long long was = rd.after;
		r.last_seq = rd.after;
		if (evt_log_read(r.log, &rd, fold_stored, &r, &err) < 0) {
			/* A server away for a while (PostgreSQL): a follower
			 * waits for it, going on after what it folded. */
			if (!follow || (err.code != EX_TEMPFAIL &&
			    err.code != EX_UNAVAILABLE))
				goto fail;
			d->warn("%s; trying again", err.msg);
			rd.after = r.last_seq;
			backoff(++tries);
			if (evt_follow_stopping(fw))
				break;
			continue;
		}
		/* A wake that found nothing may have come from a commit's
		 * write before the commit could be read (a SQLite WAL frame
		 * is written before its index is): look again soon, then
		 * less and less often. */
		quick = rd.scanned > was ? 0 : quick == 0 ? 10 :
		    quick < RECHECK_MS ? 2 * quick : RECHECK_MS;
		rd.after = rd.scanned;
		r.lost = 0;
		if (d->decide(d->st, r.now, collect, &r, &err) < 0 && !r.lost) {
			if (r.failed)
				err = r.err;
			goto fail;
		}
		if (!r.lost && flush(&r) < 0) {
			err = r.err;
			goto fail;
		}
		if (r.lost) {
			if (r.x.m)
				count_lost(&r);
			d->undo(d->st);
			r.npending = 0;
			evt_buf_reset(&r.pending);
			evt_buf_reset(&r.ids);
			backoff(++tries);
			if (fw && evt_follow_stopping(fw))
				break;
			continue;
		}
		tries = 0;
		shrink(&r, r.appended - before);
		mx_tick(&r.x, d, r.log, 1, rd.after > r.x.mine_seq ? rd.after :
		    r.x.mine_seq, r.now);
		if (!follow)
			break;
		/* Wake for new events, or when the next deadline falls due. */
		int wait = quick && quick < RECHECK_MS ? quick : RECHECK_MS;
		if ((dl = d->next_deadline(d->st)) != INT64_MAX) {
			int64_t left = dl - r.now;
			if (left < wait)
				wait = left > 0 ? (int)left : 0;
		}
		int w = evt_follow_wait(fw, wait, &err);
		if (w < 0)
			goto fail;
		if (w == 0)
			break;
	}
out:
	if (r.x.m) {
		/* The last word: the state the service ends in. */
		mx_gauges(&r.x, r.log, 1, rd.after > r.x.mine_seq ? rd.after :
		    r.x.mine_seq, r.now);
		if (evt_metrics_write(r.x.m, &err) < 0 && ret == 0) {
			*errp = err;
			ret = -1;
		}
	}
	mx_close(&r.x);
	free(r.pi);
	if (stats) {
		stats->in = r.in;
		stats->appended = r.appended;
	}
	evt_follow_close(fw);
	evt_log_close(r.log);
	evt_event_free(&r.ev);
	evt_buf_free(&r.pending);
	evt_buf_free(&r.ids);
	return ret;
fail:
	*errp = err;
	ret = -1;
	goto out;
}

/* The filter's input loop (input.h), over one input at a time. */
struct filt {
	const struct evt_service_filter *f;
	struct evt_service_stats *stats;
	int64_t now;
	const char *where;
	int closed;		/* stdout's reader went away */
};

/* Fold one input event, warn about one the decider cannot take, and
 * pass it through. */
static int
filt_take(void *arg, struct evt_event *ev, const char *line, size_t len,
    long long lineno, struct evt_err *err)
{
	struct filt *x = arg;
	int k;

	if ((k = x->f->fold_input(x->f->d->st, ev, x->now, err)) < 0)
		return -1;	/* bad input */
	if (k != EVT_SAGA_TAKEN) {
		char at[512];
		snprintf(at, sizeof(at), "%s:%lld", x->where, lineno);
		x->f->warn_input(k, at, err);
	}
	x->stats->in++;
	if (!x->f->only_new && evt_out_line(line, len) < 0) {
		x->closed = errno == EPIPE;
		return evt_err_set(err, EX_IOERR, "stdout: %s", strerror(errno));
	}
	return 0;
}

/* Keep a slow pipeline moving: what passed through goes out when the
 * input pauses. */
static int
filt_paused(void *arg, struct evt_err *err)
{
	struct filt *x = arg;

	return evt_out_flush(err, &x->closed);
}

static int
filt_emit(void *arg, const char *id, const char *line, size_t len)
{
	struct evt_service_stats *stats = arg;

	(void)id;
	stats->appended++;
	return evt_out_line(line, len);
}

int
evt_service_filter(const struct evt_service_filter *f, char **names,
    int nin, struct evt_event *ev, struct evt_service_stats *stats)
{
	int *fds, code = 0, closed = 0;
	struct filt x = { f, stats, 0, NULL, 0 };
	struct evt_err err;

	/* A decision's id is name-based (SHA-1): libcrypto before any
	 * input is read (crypto_load.h). */
	if (evt_crypto_load(NULL, &err) < 0) {
		fprintf(stderr, "%s: %s\n", evt_prog, err.msg);
		return err.code;
	}
	fds = evt_open_inputs(names, nin);
	if (evt_clock_now(&x.now, &err) < 0)
		evt_die_err(&err);
	for (int i = 0; i < (nin ? nin : 1) && code == 0; i++) {
		struct evt_input in = { nin ? names[i] : "stdin", 0, f->reject,
		    filt_take, filt_paused, &x, 0 };

		x.where = in.where;
		if (evt_input_read(&in, fds[i], ev, &err) < 0) {
			if (in.lineno)
				fprintf(stderr, "%s: %s:%lld: %s\n", evt_prog,
				    in.where, in.lineno, err.msg);
			else if (!x.closed)
				fprintf(stderr, "%s: %s\n", evt_prog, err.msg);
			code = err.code ? err.code : EX_IOERR;
		}
		if (fds[i] > 0)
			close(fds[i]);
	}
	free(fds);
	/* Everything is read: decide. A bad input decides nothing. */
	if (code == 0 && f->d->decide(f->d->st, x.now, filt_emit, stats,
	    &err) < 0) {
		if (errno != EPIPE)
			fprintf(stderr, "%s: %s\n", evt_prog, err.code ? err.msg :
			    strerror(errno));
		code = err.code ? err.code : EX_IOERR;
	}
	if (code == 0 && evt_out_flush(&err, &closed) < 0) {
		if (!closed)
			fprintf(stderr, "%s: %s\n", evt_prog, err.msg);
		code = EX_IOERR;
	}
	return code;
}
