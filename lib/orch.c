/*
 * orch.c - orchestrated sagas (see orch.h for the model, saga-orch(5) for
 * the definitions).
 *
 * A saga is a struct osaga: its trigger (the line, kept for the fields
 * commands copy), where each step stands, and the replies matched to its
 * commands. Replies are facts and only ever added; the saga moves only when
 * one of its own events is folded, and decide() folds each event it writes
 * before handing it on, through the same evt_orch_fold a restarted run
 * reads it back with. So what a run owes depends only on the set of events
 * read and the clock, never on how a previous run was cut short.
 *
 * Commands are registered by id (a name-based UUID, known before they are
 * written); a reply names its command as causationid. A reply marked as
 * orchestrated whose command is not known yet is parked until it is.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "clock.h"
#include "hmap.h"
#include "json.h"
#include "orch.h"
#include "orch_impl.h"
#include "uuid.h"

/* Where a step stands. ST_FAILED and ST_TIMEDOUT are final. */
enum { ST_IDLE, ST_RUN, ST_RETRY, ST_OK, ST_FAILED, ST_TIMEDOUT };
/* Where a step's undo stands. */
enum { U_NONE, U_RUN, U_RETRY, U_OK, U_STUCK };

/* A reply matched to a command: a fact, never changed once read. */
struct reply {
	struct reply *next;
	int step, attempt, undo, ok;	/* ok: a success type, else failure */
	int64_t time_ms;
	char id[EVT_UUID_LEN + 64];	/* ids are short; longer ones cut */
	char *line;			/* the event as read, for references */
	size_t len;
	char *type;			/* parked: its type, to match it later */
};

struct ostate {
	int phase, attempt, acted, sent;
	long long done_seq;		/* when it completed (OK or timed out) */
	int64_t due_ms, retry_ms, start_ms;
	const struct reply *okreply;	/* its success, for $STEP refs */
	int uphase, uattempt, usent;
	int64_t udue_ms, uretry_ms, ustart_ms;
};

/*
 * The sagas over, so that a trigger read again starts no second saga and
 * the saga's own events read after its end are known for what they are: a
 * 64-bit hash of each key (bit 0 set: 0 is an empty slot), the last
 * DONE_MAX of them, in a table at most half full that grows to twice that,
 * and a ring of the same hashes, oldest first, to drop them in that order.
 * Bounded, so memory follows the open sagas and not the length of the
 * input, as saga-step's table of finished sagas. Beyond it, a trigger read
 * again starts its saga again, whose decisions have the ids stored already:
 * evt-append skips them, the service takes them as found stored.
 */
#ifndef DONE_MAX
#define DONE_MAX (1u << 20)
#endif

struct doneset {
	uint64_t *tab;		/* cap slots, a power of 2 */
	size_t cap;
	uint64_t *ring;		/* rcap hashes; the oldest at head */
	size_t rcap, head, len;
};

/* A command the saga sent, by id (orch->cmds). */
struct creg {
	struct osaga *s;
	int step, attempt, undo;
};

struct osaga {
	struct osaga *prev, *next;	/* open sagas, in the order started */
	struct osaga *over_next;	/* ended in a round not yet committed */
	char *key;
	size_t keylen;
	const struct odef *d;
	char *trig, *corr;		/* the trigger's line; correlation id */
	size_t triglen, corrlen;
	/* What folding its own events changes (copied whole by a snapshot). */
	struct sstate {
		int started, halted, ended, expired, stuck_said, in_over;
		int fail_step;		/* the first step that failed, or -1 */
		int fail_why;		/* enum evt_orch_why, when it did */
		long long version, seq;
		int64_t last_ms, start_ms;
		char last_own[256];	/* the cause of the next event */
	} v;
	struct ostate *st;
	struct sstate *snap_v;		/* the state before this round */
	struct ostate *snap_st;
	struct reply *replies;
	struct creg **regs;		/* commands registered, to forget */
	size_t nregs;
	int skip;			/* a decision found stored: not now */
};

struct evt_orch {
	struct odef **defs;
	size_t ndefs;
	struct evt_hmap sagas;		/* key -> struct osaga * */
	struct doneset done;		/* keys of sagas over (hashed) */
	struct evt_hmap cmds;		/* command id -> struct creg * */
	struct evt_hmap parked;		/* cause id -> struct reply * */
	struct evt_hmap found;		/* decision ids found stored */
	struct osaga *head, *tail;
	struct osaga *over;		/* ended, to free at commit */
	struct osaga **touched;		/* snapshotted in this round */
	size_t ntouched, captouched;
	int journaling;
	int deciding;			/* in evt_orch_decide: forget nothing */
	long long started, completed, failed, stuck, dup, stale;
	/* scratch */
	struct evt_jobj j, j2;
	struct evt_buf line, name, val, tmp;
	struct evt_event ev;
	char tstr[EVT_TIME_LEN + 1];
};

struct evt_orch *
evt_orch_new(void)
{
	struct evt_orch *o = calloc(1, sizeof(*o));

	if (o == NULL)
		abort();
	return o;
}

int
evt_orch_load(struct evt_orch *o, const char *file, struct evt_err *err)
{
	struct odef *d = evt_orch_def_load(file, err);

	if (d == NULL)
		return -1;
	for (size_t i = 0; i < o->ndefs; i++)
		if (strcmp(o->defs[i]->name, d->name) == 0 &&
		    o->defs[i]->version == d->version) {
			evt_err_set(err, EX_DATAERR, "%s: version: %s version %lld "
			    "is loaded already, from %s", file, d->name,
			    d->version, o->defs[i]->file);
			evt_orch_def_free(d);
			return -1;
		}
	if ((o->defs = realloc(o->defs, (o->ndefs + 1) * sizeof(*o->defs))) == NULL)
		abort();
	o->defs[o->ndefs++] = d;
	return 0;
}

size_t
evt_orch_ndefs(const struct evt_orch *o)
{
	return o->ndefs;
}

void
evt_orch_def_info(const struct evt_orch *o, size_t i, const char **name,
    long long *version, const char **hash, const char **file)
{
	*name = o->defs[i]->name;
	*version = o->defs[i]->version;
	*hash = o->defs[i]->hash;
	*file = o->defs[i]->file;
}

/* --- sagas -------------------------------------------------------------- */

static char *
dup_n(const char *p, size_t n)
{
	char *s = malloc(n + 1);

	if (s == NULL)
		abort();
	memcpy(s, p, n);
	s[n] = '\0';
	return s;
}

static struct osaga *
saga_get(const struct evt_orch *o, const char *k, size_t n)
{
	long long *v = evt_hmap_get(&o->sagas, k, n);

	return v ? (struct osaga *)(intptr_t)*v : NULL;
}

static uint64_t
done_hash(const char *k, size_t n)
{
	return evt_hash(k, n) | 1;
}

/* Where h is in d->tab, or the empty slot where it would go. */
static size_t
done_slot(const struct doneset *d, uint64_t h)
{
	size_t mask = d->cap - 1, i = (size_t)(h >> 1) & mask;

	while (d->tab[i] && d->tab[i] != h)
		i = (i + 1) & mask;
	return i;
}

static int
done_has(const struct doneset *d, const char *k, size_t n)
{
	return d->cap && d->tab[done_slot(d, done_hash(k, n))] != 0;
}

static void
done_del(struct doneset *d, uint64_t h)
{
	size_t mask = d->cap - 1, i = done_slot(d, h), j, home;

	if (d->tab[i] == 0)
		return;
	d->tab[i] = 0;
	/* Backward shift, as in hmap.c: no tombstones. */
	for (j = (i + 1) & mask; d->tab[j]; j = (j + 1) & mask) {
		home = (size_t)(d->tab[j] >> 1) & mask;
		if ((j > i && (home <= i || home > j)) ||
		    (j < i && home <= i && home > j)) {
			d->tab[i] = d->tab[j];
			d->tab[j] = 0;
			i = j;
		}
	}
}

static void
done_add(struct doneset *d, const char *k, size_t n)
{
	uint64_t h = done_hash(k, n);

	if (d->cap && d->tab[done_slot(d, h)])
		return;
	if (d->len == DONE_MAX) {
		done_del(d, d->ring[d->head]);
		d->head = (d->head + 1) % DONE_MAX;
		d->len--;
	}
	/* Grown, the table stays at most half full. */
	if (2 * (d->len + 1) > d->cap) {
		size_t old = d->cap;
		uint64_t *t = d->tab;
		d->cap = old ? 2 * old : 1024;
		if ((d->tab = calloc(d->cap, sizeof(*d->tab))) == NULL)
			abort();
		for (size_t i = 0; i < old; i++)
			if (t[i])
				d->tab[done_slot(d, t[i])] = t[i];
		free(t);
	}
	/* The ring grows until it holds DONE_MAX; until then, head is 0. */
	if (d->len == d->rcap) {
		d->rcap = d->rcap ? 2 * d->rcap : 1024;
		if (d->rcap > DONE_MAX)
			d->rcap = DONE_MAX;
		if ((d->ring = realloc(d->ring, d->rcap * sizeof(*d->ring))) ==
		    NULL)
			abort();
	}
	d->tab[done_slot(d, h)] = h;
	d->ring[(d->head + d->len) % d->rcap] = h;
	d->len++;
}

static void
saga_free(struct evt_orch *o, struct osaga *s)
{
	struct reply *r, *rn;

	for (size_t i = 0; i < s->nregs; i++) {
		evt_hmap_del(&o->cmds, (const char *)(s->regs[i] + 1),
		    strlen((const char *)(s->regs[i] + 1)));
		free(s->regs[i]);
	}
	free(s->regs);
	for (r = s->replies; r; r = rn) {
		rn = r->next;
		free(r->line);
		free(r->type);
		free(r);
	}
	free(s->st);
	free(s->snap_st);
	free(s->snap_v);
	free(s->key);
	free(s->trig);
	free(s->corr);
	free(s);
}

/* The saga is over for good: out of every table, its key remembered
 * (hashed). */
static void
forget(struct evt_orch *o, struct osaga *s)
{
	if (s->prev)
		s->prev->next = s->next;
	else
		o->head = s->next;
	if (s->next)
		s->next->prev = s->prev;
	else
		o->tail = s->prev;
	evt_hmap_del(&o->sagas, s->key, s->keylen);
	done_add(&o->done, s->key, s->keylen);
	saga_free(o, s);
}

/* Keep s's state as it was before the round, once per round. */
static void
snapshot(struct evt_orch *o, struct osaga *s)
{
	size_t n;

	if (!o->journaling || s->snap_v)
		return;
	n = s->d ? s->d->nsteps : 0;
	if ((s->snap_v = malloc(sizeof(*s->snap_v))) == NULL)
		abort();
	*s->snap_v = s->v;
	if (n) {
		if ((s->snap_st = malloc(n * sizeof(*s->st))) == NULL)
			abort();
		memcpy(s->snap_st, s->st, n * sizeof(*s->st));
	}
	if (o->ntouched == o->captouched) {
		o->captouched = o->captouched ? 2 * o->captouched : 64;
		if ((o->touched = realloc(o->touched, o->captouched *
		    sizeof(*o->touched))) == NULL)
			abort();
	}
	o->touched[o->ntouched++] = s;
}

static void
free_over(struct evt_orch *o)
{
	while (o->over) {
		struct osaga *s = o->over;
		o->over = s->over_next;
		forget(o, s);
	}
}

void
evt_orch_journal(struct evt_orch *o, int on)
{
	evt_orch_commit(o);
	o->journaling = on;
}

void
evt_orch_commit(struct evt_orch *o)
{
	for (size_t i = 0; i < o->ntouched; i++) {
		struct osaga *s = o->touched[i];
		free(s->snap_v);
		free(s->snap_st);
		s->snap_v = NULL;
		s->snap_st = NULL;
	}
	o->ntouched = 0;
	free_over(o);
	evt_hmap_clear(&o->found);
}

void
evt_orch_undo(struct evt_orch *o)
{
	struct osaga **pp;

	for (size_t i = 0; i < o->ntouched; i++) {
		struct osaga *s = o->touched[i];
		s->v = *s->snap_v;
		if (s->snap_st)
			memcpy(s->st, s->snap_st, s->d->nsteps * sizeof(*s->st));
		free(s->snap_v);
		free(s->snap_st);
		s->snap_v = NULL;
		s->snap_st = NULL;
	}
	o->ntouched = 0;
	/* Sagas whose end was taken back are open again. */
	for (pp = &o->over; *pp; )
		if (!(*pp)->v.ended) {
			(*pp)->v.in_over = 0;
			*pp = (*pp)->over_next;
		} else
			pp = &(*pp)->over_next;
	free_over(o);
	for (struct osaga *s = o->head; s; s = s->next)
		s->skip = 0;
}

void
evt_orch_stored(struct evt_orch *o, const char *id)
{
	evt_hmap_put(&o->found, id, strlen(id), 1);
}

static void
free_parked(void *arg, const char *k, size_t n, long long v)
{
	struct reply *r = (struct reply *)(intptr_t)v;

	(void)arg;
	(void)k;
	(void)n;
	free(r->line);
	free(r->type);
	free(r);
}

void
evt_orch_free(struct evt_orch *o)
{
	if (o == NULL)
		return;
	evt_orch_commit(o);
	while (o->head)
		forget(o, o->head);
	evt_hmap_each(&o->parked, free_parked, NULL);
	evt_hmap_free(&o->parked);
	evt_hmap_free(&o->sagas);
	free(o->done.tab);
	free(o->done.ring);
	evt_hmap_free(&o->cmds);
	evt_hmap_free(&o->found);
	for (size_t i = 0; i < o->ndefs; i++)
		evt_orch_def_free(o->defs[i]);
	free(o->defs);
	free(o->touched);
	evt_json_free(&o->j);
	evt_json_free(&o->j2);
	evt_buf_free(&o->line);
	evt_buf_free(&o->name);
	evt_buf_free(&o->val);
	evt_buf_free(&o->tmp);
	evt_event_free(&o->ev);
	free(o);
}

/* --- reading events ----------------------------------------------------- */

/*
 * The value at path seg[0..n) in the JSON object text t[0..len): its raw
 * span in *out. Array elements are named by their index. Returns 0, or -1
 * when the path leads nowhere.
 */
static int
resolve(struct evt_orch *o, const char *t, size_t len, char *const *seg,
    size_t n, struct evt_sv *out)
{
	struct evt_sv cur = { t, len };
	struct evt_err e;

	for (size_t i = 0; i < n; i++) {
		if (cur.n && cur.p[0] == '[') {
			char *end;
			unsigned long k = strtoul(seg[i], &end, 10);
			size_t pos = 0, off, l;
			int found = 0;
			if (*end || seg[i][0] < '0' || seg[i][0] > '9')
				return -1;
			while (evt_json_array_next(cur.p, cur.n, &pos, &off, &l))
				if (k-- == 0) {
					cur = (struct evt_sv){ cur.p + off, l };
					found = 1;
					break;
				}
			if (!found)
				return -1;
			continue;
		}
		if (evt_json_scan(&o->j2, cur.p, cur.n, 0, &e) < 0 ||
		    o->j2.type != EVT_J_OBJECT)
			return -1;
		int m = evt_json_find(&o->j2, seg[i]);
		if (m < 0)
			return -1;
		cur = (struct evt_sv){ o->j2.base + o->j2.m[m].voff,
		    o->j2.m[m].vlen };
	}
	*out = cur;
	return 0;
}

/* The string at path in t, decoded into b. -1 when absent or not a
 * string. */
static int
resolve_str(struct evt_orch *o, const char *t, size_t len, char *const *seg,
    size_t n, struct evt_buf *b)
{
	struct evt_sv v;

	if (resolve(o, t, len, seg, n, &v) < 0 || v.n < 2 || v.p[0] != '"')
		return -1;
	evt_json_str_decode(v.p, v.n, b);
	return 0;
}

/* Whether the trigger ev meets d's start.match. */
static int
matches(struct evt_orch *o, const struct odef *d, const struct evt_event *ev)
{
	const char *k;
	json_t *x;

	if (d->match == NULL)
		return 1;
	json_object_foreach(d->match, k, x) {
		char *seg[32], path[256];
		size_t n = 0;
		struct evt_sv v;
		snprintf(path, sizeof(path), "%s", k);
		for (char *p = path; n < 32; ) {
			seg[n++] = p;
			if ((p = strchr(p, '.')) == NULL)
				break;
			*p++ = '\0';
		}
		if (resolve(o, ev->line, ev->linelen, seg, n, &v) < 0)
			return 0;
		if (json_is_string(x)) {
			if (v.n < 2 || v.p[0] != '"')
				return 0;
			evt_json_str_decode(v.p, v.n, &o->tmp);
			if (strcmp(o->tmp.p, json_string_value(x)) != 0 ||
			    o->tmp.len != json_string_length(x))
				return 0;
		} else {
			char *s = json_dumps(x, JSON_COMPACT | JSON_ENCODE_ANY);
			int same = s && strlen(s) == v.n && memcmp(s, v.p, v.n) == 0;
			free(s);
			if (!same)
				return 0;
		}
	}
	return 1;
}

static const struct odef *
def_for_trigger(struct evt_orch *o, const struct evt_event *ev)
{
	const struct odef *best = NULL;

	for (size_t i = 0; i < o->ndefs; i++) {
		const struct odef *d = o->defs[i];
		if (strlen(d->start_type) != ev->type.n ||
		    memcmp(d->start_type, ev->type.p, ev->type.n) != 0)
			continue;
		if (best && (strcmp(best->name, d->name) != 0 ||
		    best->version > d->version))
			continue;
		if (matches(o, d, ev))
			best = d;
	}
	return best;
}

static int
is_type(char *const *list, size_t n, const char *t, size_t tn)
{
	for (size_t i = 0; i < n; i++)
		if (strlen(list[i]) == tn && memcmp(list[i], t, tn) == 0)
			return 1;
	return 0;
}

/* The id of one of a saga's decisions: slot names it ("start", "step
 * payment 2 start", ...). */
static void
decision_id(struct evt_orch *o, const struct osaga *s, const char *slot,
    char *out)
{
	evt_buf_reset(&o->name);
	evt_buf_adds(&o->name, "saga-orch\n");
	evt_hmap_keypart(&o->name, s->key, s->keylen);
	evt_buf_adds(&o->name, slot);
	evt_uuid_v5(o->name.p, o->name.len, out);
}

/* The slot of step i's attempt a: what ("start", "command", "outcome"),
 * undo or not. */
static void
step_slot(const struct osaga *s, int i, int a, int undo, const char *what,
    char *out, size_t n)
{
	snprintf(out, n, "%s\n%s\n%d\n%s", undo ? "undo" : "step",
	    s->d->steps[i].name, a, what);
}

static void
step_id(struct evt_orch *o, const struct osaga *s, int i, int a, int undo,
    const char *what, char *out)
{
	char slot[300];

	step_slot(s, i, a, undo, what, slot, sizeof(slot));
	decision_id(o, s, slot, out);
}

static void
add_reply(struct evt_orch *o, struct osaga *s, struct reply *r)
{
	struct reply **pp;

	/* The first reply to a command is its answer; others repeat it. */
	for (pp = &s->replies; *pp; pp = &(*pp)->next)
		if ((*pp)->step == r->step && (*pp)->attempt == r->attempt &&
		    (*pp)->undo == r->undo) {
			o->dup++;
			free(r->line);
			free(r->type);
			free(r);
			return;
		}
	*pp = r;
	if (r->time_ms > s->v.last_ms)
		s->v.last_ms = r->time_ms;
	/* A reply to an attempt gone by, or to a step settled, is kept (a
	 * late success still counts) but said to be stale. */
	const struct ostate *t = &s->st[r->step];
	if (r->undo ? (t->uphase == U_OK || r->attempt != t->uattempt) :
	    (t->phase == ST_OK || (r->attempt != t->attempt && !r->ok) ||
	    s->v.ended))
		o->stale++;
}

/* Register the command of step i's attempt a, and take a parked reply. */
static void
register_cmd(struct evt_orch *o, struct osaga *s, int i, int a, int undo)
{
	char id[EVT_UUID_LEN + 1];
	struct creg *c;
	long long *v;

	step_id(o, s, i, a, undo, "command", id);
	if (evt_hmap_get(&o->cmds, id, EVT_UUID_LEN))
		return;
	/* The id is kept after the struct, for forget(). */
	if ((c = malloc(sizeof(*c) + EVT_UUID_LEN + 1)) == NULL)
		abort();
	c->s = s;
	c->step = i;
	c->attempt = a;
	c->undo = undo;
	memcpy(c + 1, id, EVT_UUID_LEN + 1);
	evt_hmap_put(&o->cmds, id, EVT_UUID_LEN, (long long)(intptr_t)c);
	if ((s->regs = realloc(s->regs, (s->nregs + 1) * sizeof(*s->regs))) == NULL)
		abort();
	s->regs[s->nregs++] = c;
	if ((v = evt_hmap_get(&o->parked, id, EVT_UUID_LEN)) != NULL) {
		struct reply *r = (struct reply *)(intptr_t)*v;
		evt_hmap_del(&o->parked, id, EVT_UUID_LEN);
		const struct oact *act = undo ? &s->d->steps[i].undo :
		    &s->d->steps[i].act;
		r->step = i;
		r->attempt = a;
		r->undo = undo;
		r->ok = is_type(act->ok, act->nok, r->type, strlen(r->type));
		if (r->ok || is_type(act->fail, act->nfail, r->type,
		    strlen(r->type)))
			add_reply(o, s, r);
		else {
			free(r->line);
			free(r->type);
			free(r);
		}
	}
}

static int64_t
plus(int64_t t, int64_t d)
{
	int64_t r;

	return __builtin_add_overflow(t, d, &r) ? INT64_MAX : r;
}

/* When the retry after attempt a (failed or timed out at t) falls due:
 * delay * backoff^(a-1) after t. */
static int64_t
retry_at(const struct oretry *r, int a, int64_t t)
{
	double d = (double)r->delay_ms * pow(r->backoff, a - 1);

	return d > 1e15 ? INT64_MAX : plus(t, (int64_t)llround(d));
}

/* Whether step i may be tried again after attempt a ended so. */
static int
retries(const struct osaga *s, int i, int a, int undo, int timedout)
{
	const struct oact *act = undo ? &s->d->steps[i].undo :
	    &s->d->steps[i].act;

	if (!undo && (s->v.fail_step >= 0 || s->v.expired))
		return 0;
	return a <= act->retry.count && (timedout ? act->retry.on_timeout :
	    act->retry.on_failure);
}

static void
failing(struct osaga *s, int i, enum evt_orch_why why)
{
	if (s->v.fail_step < 0) {
		s->v.fail_step = i;
		s->v.fail_why = why;
	}
}

/* Integer member k of the object data, into *v: -1 when absent or bad. */
static int
get_int(struct evt_orch *o, const char *k, long long *v)
{
	struct evt_sv x = evt_json_get(&o->j, k, EVT_J_NUMBER);

	return x.p && evt_json_int(x.p, x.n, v) == 0 ? 0 : -1;
}

static int
bad_own(const struct evt_event *ev, const char *what, struct evt_err *err)
{
	return evt_err_set(err, EX_DATAERR, "%.*s: data.%s", (int)ev->type.n,
	    ev->type.p, what);
}

/*
 * Fold one of the orchestrator's own events (type after "Saga") into s.
 * Returns 0, EVT_SAGA_ASIDE (a definition not loaded), or -1 with err.
 */
static int
fold_own(struct evt_orch *o, struct osaga *s, const struct evt_event *ev,
    const char *t, size_t tn, int64_t time_ms, struct evt_err *err)
{
	const struct evt_jmember *m;
	struct evt_sv step;
	long long a = 0;
	int i = -1, undo;

#define IS(x) (tn == sizeof(x) - 1 && memcmp(t, x, tn) == 0)
	if (ev->slot[EVT_F_DATA] < 0)
		return bad_own(ev, "is missing", err);
	m = &ev->j.m[ev->slot[EVT_F_DATA]];
	/* Room for every decoded string: the arena must not move. */
	evt_buf_reset(&o->tmp);
	evt_buf_grow(&o->tmp, m->vlen + 1);
	if (evt_json_scan(&o->j, ev->j.base + m->voff, m->vlen, 0, err) < 0 ||
	    o->j.type != EVT_J_OBJECT)
		return bad_own(ev, "is not an object", err);
	undo = evt_json_get(&o->j, "undo", EVT_J_TRUE).p != NULL;
	if (IS("Started")) {
		struct evt_sv n = evt_json_get_str(&o->j, "saga", &o->tmp);
		struct evt_sv h = evt_json_get(&o->j, "hash", EVT_J_STRING);
		long long ver;
		if (s->v.started)
			return 0;
		if (n.p == NULL || h.p == NULL || get_int(o, "version", &ver) < 0)
			return bad_own(ev, "saga, version or hash is missing or "
			    "not of its type", err);
		s->v.started = 1;
		s->v.start_ms = time_ms;
		const struct odef *pin = NULL;
		for (size_t k = 0; k < o->ndefs; k++) {
			const struct odef *d = o->defs[k];
			if (strlen(d->name) == n.n && memcmp(d->name, n.p, n.n) ==
			    0 && d->version == ver && strlen(d->hash) == h.n - 2 &&
			    memcmp(d->hash, h.p + 1, h.n - 2) == 0)
				pin = d;
		}
		o->started++;
		/* The saga goes on with the definition it started with, not
		 * the one its trigger would pick today. */
		if (pin != s->d) {
			free(s->st);
			s->st = NULL;
			s->d = pin;
			if (pin && (s->st = calloc(pin->nsteps,
			    sizeof(*s->st))) == NULL)
				abort();
		}
		if (s->d == NULL) {
			s->v.halted = 1;
			return evt_err_set(err, EX_DATAERR, "saga-%s: started on "
			    "%.*s version %lld (%.*s), which is not loaded: the "
			    "saga stops here", s->key, (int)n.n, n.p, ver,
			    (int)h.n - 2, h.p + 1), EVT_SAGA_ASIDE;
		}
		return 0;
	}
	if (s->d == NULL)
		return 0;	/* halted: nothing more to follow */
	if (IS("Completed") || IS("Failed")) {
		if (!s->v.ended) {
			s->v.ended = 1;
			if (IS("Completed"))
				o->completed++;
			else {
				o->failed++;
				if (evt_json_get(&o->j, "stuck", EVT_J_TRUE).p)
					o->stuck++;
			}
		}
		return 0;
	}
	if (IS("TimedOut")) {
		if (s->v.expired)
			return 0;
		s->v.expired = 1;
		failing(s, -1, EVT_ORCH_WHY_DEADLINE);
		for (size_t k = 0; k < s->d->nsteps; k++) {
			struct ostate *x = &s->st[k];
			if (x->phase == ST_RUN) {
				x->phase = ST_TIMEDOUT;
				x->acted = 1;
				x->done_seq = ++s->v.seq;
			} else if (x->phase == ST_RETRY)
				x->phase = x->acted ? ST_TIMEDOUT : ST_FAILED;
		}
		return 0;
	}
	/* The rest are about a step's attempt. */
	step = evt_json_get_str(&o->j, "step", &o->tmp);
	for (size_t k = 0; step.p && k < s->d->nsteps; k++)
		if (strlen(s->d->steps[k].name) == step.n &&
		    memcmp(s->d->steps[k].name, step.p, step.n) == 0)
			i = (int)k;
	if (i < 0)
		return bad_own(ev, "step is missing or names no step of the "
		    "definition", err);
	if (get_int(o, "attempt", &a) < 0 || a < 1 || a > 1000000)
		return bad_own(ev, "attempt is missing or not an integer from 1 "
		    "to 1000000", err);
	struct ostate *x = &s->st[i];
	const struct ostep *sd = &s->d->steps[i];
	if (IS("StepStarted")) {
		if (x->phase != ST_IDLE && x->phase != ST_RETRY)
			return 0;
		if (x->attempt >= a)
			return 0;
		x->phase = ST_RUN;
		x->attempt = (int)a;
		x->sent = 0;
		x->start_ms = time_ms;
		x->due_ms = sd->act.timeout_ms ? plus(time_ms, sd->act.timeout_ms) :
		    INT64_MAX;
		register_cmd(o, s, i, (int)a, 0);
	} else if (IS("Compensating")) {
		if ((x->uphase != U_NONE && x->uphase != U_RETRY) ||
		    x->uattempt >= a || !sd->has_undo)
			return 0;
		x->uphase = U_RUN;
		x->uattempt = (int)a;
		x->usent = 0;
		x->ustart_ms = time_ms;
		x->udue_ms = sd->undo.timeout_ms ? plus(time_ms,
		    sd->undo.timeout_ms) : INT64_MAX;
		register_cmd(o, s, i, (int)a, 1);
	} else if (IS("Compensated")) {
		if (x->uphase == U_RUN)
			x->uphase = U_OK;
	} else if (IS("StepSucceeded")) {
		if (x->phase != ST_RUN && x->phase != ST_RETRY)
			return 0;
		struct evt_sv rid = evt_json_get_str(&o->j, "reply", &o->tmp);
		x->phase = ST_OK;
		x->done_seq = ++s->v.seq;
		x->okreply = NULL;
		for (const struct reply *r = s->replies; rid.p && r; r = r->next)
			if (strlen(r->id) == rid.n && memcmp(r->id, rid.p,
			    rid.n) == 0)
				x->okreply = r;
	} else if (IS("StepFailed") || IS("StepTimedOut")) {
		int to = IS("StepTimedOut");
		if (undo) {
			if (x->uphase != U_RUN || x->uattempt != a)
				return 0;
			if (retries(s, i, (int)a, 1, to)) {
				x->uphase = U_RETRY;
				x->uretry_ms = retry_at(&sd->undo.retry, (int)a,
				    time_ms);
			} else
				x->uphase = U_STUCK;
			return 0;
		}
		if (x->phase != ST_RUN || x->attempt != a)
			return 0;
		if (to) {
			x->acted = 1;
			x->done_seq = ++s->v.seq;
		}
		if (retries(s, i, (int)a, 0, to)) {
			x->phase = ST_RETRY;
			x->retry_ms = retry_at(&sd->act.retry, (int)a, time_ms);
		} else {
			x->phase = to ? ST_TIMEDOUT : ST_FAILED;
			failing(s, i, to ? EVT_ORCH_WHY_STEP_TIMED_OUT :
			    EVT_ORCH_WHY_STEP_FAILED);
			/* Siblings waiting to retry stop where they are. */
			for (size_t k = 0; k < s->d->nsteps; k++)
				if (s->st[k].phase == ST_RETRY)
					s->st[k].phase = s->st[k].acted ?
					    ST_TIMEDOUT : ST_FAILED;
		}
	}
	return 0;
#undef IS
}

/* Whether the event is the orchestrator's: on a saga- stream, a Saga type. */
static int
own_event(const struct evt_event *ev)
{
	return ev->subject.n > 5 && memcmp(ev->subject.p, "saga-", 5) == 0 &&
	    ev->type.n > 4 && memcmp(ev->type.p, "Saga", 4) == 0;
}

/* Whether a step or undo of a loaded definition waits for type t. */
static int
reply_type(const struct evt_orch *o, const char *t, size_t n)
{
	for (size_t i = 0; i < o->ndefs; i++)
		for (size_t k = 0; k < o->defs[i]->nsteps; k++) {
			const struct ostep *sd = &o->defs[i]->steps[k];
			if (is_type(sd->act.ok, sd->act.nok, t, n) ||
			    is_type(sd->act.fail, sd->act.nfail, t, n) ||
			    (sd->has_undo && (is_type(sd->undo.ok, sd->undo.nok,
			    t, n) || is_type(sd->undo.fail, sd->undo.nfail, t,
			    n))))
				return 1;
		}
	return 0;
}

static int
new_trigger(struct evt_orch *o, const struct evt_event *ev, int64_t time_ms,
    struct evt_err *err)
{
	const struct odef *d = def_for_trigger(o, ev);
	struct osaga *s;
	size_t n;

	if (d == NULL)
		return EVT_SAGA_TAKEN;
	if (ev->id.p == NULL || ev->id.n == 0)
		return evt_err_set(err, EX_DATAERR, "%.*s: id is missing: a "
		    "trigger needs one (append it to the log first, or give "
		    "it one)", (int)ev->type.n, ev->type.p);
	if (resolve_str(o, ev->line, ev->linelen, d->key, d->nkey, &o->val) < 0 ||
	    o->val.len == 0 || !evt_ce_string_ok(o->val.p, o->val.len))
		return evt_err_set(err, EX_DATAERR, "%.*s: the key of saga %s "
		    "(%s) is missing, empty or not a string: set aside",
		    (int)ev->type.n, ev->type.p, d->name, "start.key"),
		    EVT_SAGA_ASIDE;
	if (saga_get(o, o->val.p, o->val.len) ||
	    done_has(&o->done, o->val.p, o->val.len))
		return EVT_SAGA_TAKEN;	/* a trigger again: one saga a key */
	if ((s = calloc(1, sizeof(*s))) == NULL)
		abort();
	s->key = dup_n(o->val.p, o->val.len);
	s->keylen = o->val.len;
	s->d = d;
	s->trig = dup_n(ev->line, ev->linelen);
	s->triglen = ev->linelen;
	if (ev->corr.p) {
		s->corr = dup_n(ev->corr.p, ev->corr.n);
		s->corrlen = ev->corr.n;
	} else {
		s->corr = dup_n(ev->id.p, ev->id.n);
		s->corrlen = ev->id.n;
	}
	s->v.fail_step = -1;
	s->v.last_ms = time_ms;
	if ((s->st = calloc(d->nsteps, sizeof(*s->st))) == NULL)
		abort();
	n = ev->id.n < sizeof(s->v.last_own) ? ev->id.n :
	    sizeof(s->v.last_own) - 1;
	memcpy(s->v.last_own, ev->id.p, n);
	s->v.last_own[n] = '\0';
	evt_hmap_put(&o->sagas, s->key, s->keylen, (long long)(intptr_t)s);
	s->prev = o->tail;
	if (o->tail)
		o->tail->next = s;
	else
		o->head = s;
	o->tail = s;
	return EVT_SAGA_TAKEN;
}

static struct reply *
new_reply(const struct evt_event *ev, int64_t time_ms)
{
	struct reply *r = calloc(1, sizeof(*r));
	size_t n = ev->id.n < sizeof(r->id) - 1 ? ev->id.n : sizeof(r->id) - 1;

	if (r == NULL)
		abort();
	memcpy(r->id, ev->id.p ? ev->id.p : "", ev->id.p ? n : 0);
	r->time_ms = time_ms;
	r->line = dup_n(ev->line, ev->linelen);
	r->len = ev->linelen;
	return r;
}

int
evt_orch_fold(struct evt_orch *o, const struct evt_event *ev, int64_t now_ms,
    struct evt_err *err)
{
	int64_t time_ms = ev->slot[EVT_F_TIME] >= 0 ? ev->time_ms : now_ms;
	long long *v;

	/* One of its own commands, read back. */
	if (ev->id.p && ev->id.n == EVT_UUID_LEN &&
	    (v = evt_hmap_get(&o->cmds, ev->id.p, ev->id.n)) != NULL) {
		struct creg *c = (struct creg *)(intptr_t)*v;
		struct ostate *x = &c->s->st[c->step];
		if (c->undo && x->uattempt == c->attempt)
			x->usent = 1;
		else if (!c->undo && x->attempt == c->attempt)
			x->sent = 1;
		return EVT_SAGA_TAKEN;
	}
	/* A reply to one of them. */
	if (ev->cause.p && ev->cause.n == EVT_UUID_LEN &&
	    (v = evt_hmap_get(&o->cmds, ev->cause.p, ev->cause.n)) != NULL) {
		struct creg *c = (struct creg *)(intptr_t)*v;
		const struct ostep *sd = &c->s->d->steps[c->step];
		const struct oact *act = c->undo ? &sd->undo : &sd->act;
		int ok = is_type(act->ok, act->nok, ev->type.p, ev->type.n);
		if (!ok && !is_type(act->fail, act->nfail, ev->type.p, ev->type.n))
			return EVT_SAGA_TAKEN;
		for (const struct reply *r = c->s->replies; r; r = r->next)
			if (ev->id.p && strlen(r->id) == ev->id.n &&
			    memcmp(r->id, ev->id.p, ev->id.n) == 0) {
				o->dup++;
				return EVT_SAGA_TAKEN;
			}
		struct reply *r = new_reply(ev, time_ms);
		r->step = c->step;
		r->attempt = c->attempt;
		r->undo = c->undo;
		r->ok = ok;
		add_reply(o, c->s, r);
		return EVT_SAGA_TAKEN;
	}
	if (own_event(ev)) {
		struct osaga *s = saga_get(o, ev->subject.p + 5, ev->subject.n - 5);
		int rc;
		if (s == NULL) {
			if (done_has(&o->done, ev->subject.p + 5,
			    ev->subject.n - 5))
				return EVT_SAGA_TAKEN;
			return evt_err_set(err, EX_DATAERR, "%.*s: no trigger read "
			    "for saga %.*s: set aside", (int)ev->type.n,
			    ev->type.p, (int)ev->subject.n, ev->subject.p),
			    EVT_SAGA_ASIDE;
		}
		if (time_ms > s->v.last_ms)
			s->v.last_ms = time_ms;
		/* The stream's version, for the next expectedversion. */
		if (ev->slot[EVT_F_VERSION] >= 0)
			s->v.version = ev->version;
		else if (ev->expect.kind == EVT_EXPECT_VERSION)
			s->v.version = ev->expect.version + 1;
		else
			s->v.version++;
		if (ev->id.p && ev->id.n < sizeof(s->v.last_own)) {
			memcpy(s->v.last_own, ev->id.p, ev->id.n);
			s->v.last_own[ev->id.n] = '\0';
		}
		rc = fold_own(o, s, ev, ev->type.p + 4, ev->type.n - 4, time_ms,
		    err);
		/* Its end read (not decided): a fact, forgotten at once, also
		 * in a service catching up on a long log, unless a round not
		 * yet committed changed the saga and may be taken back. */
		if (rc == 0 && s->v.ended && !o->deciding && !s->v.in_over) {
			if (s->snap_v == NULL)
				forget(o, s);
			else {
				s->v.in_over = 1;
				s->over_next = o->over;
				o->over = s;
			}
		}
		return rc;
	}
	/* A marked reply whose command is not known yet: kept for it. Only
	 * a type some step waits for: the participants mark every event of
	 * an orchestrated saga (a delivery, the transaction's outcome), and
	 * those answer no command. */
	if (ev->cause.p && ev->cause.n == EVT_UUID_LEN &&
	    evt_json_find(&ev->j, "orchestration") >= 0 &&
	    reply_type(o, ev->type.p, ev->type.n)) {
		if (evt_hmap_get(&o->parked, ev->cause.p, ev->cause.n) == NULL) {
			struct reply *r = new_reply(ev, time_ms);
			/* ok is settled when the command is known. */
			r->type = dup_n(ev->type.p, ev->type.n);
			evt_hmap_put(&o->parked, ev->cause.p, ev->cause.n,
			    (long long)(intptr_t)r);
		} else
			o->dup++;
		return EVT_SAGA_TAKEN;
	}
	return new_trigger(o, ev, time_ms, err);
}

/* --- writing events ----------------------------------------------------- */

static void
add_int(struct evt_buf *b, long long v)
{
	char num[24];

	evt_buf_add(b, num, (size_t)snprintf(num, sizeof(num), "%lld", v));
}

static void
add_time(struct evt_orch *o, struct evt_buf *b, int64_t ms)
{
	evt_time_format(ms, o->tstr);
	evt_buf_addc(b, '"');
	evt_buf_adds(b, o->tstr);
	evt_buf_addc(b, '"');
}

/* A value copied from an event: compact, as every stored line is. */
static void
add_raw(struct evt_orch *o, struct evt_buf *b, struct evt_sv v)
{
	struct evt_err e;

	if (evt_json_scan(&o->j2, v.p, v.n, 1, &e) < 0)
		evt_buf_adds(b, "null");
	else
		evt_buf_add(b, o->j2.out.p, o->j2.out.len);
}

/* The raw value a reference names, or p NULL. */
static struct evt_sv
ref_value(struct evt_orch *o, const struct osaga *s, const struct oref *r)
{
	struct evt_sv v = { NULL, 0 };
	const struct reply *rp;

	switch (r->kind) {
	case OREF_TRIGGER:
		if (resolve(o, s->trig, s->triglen, r->seg, r->nseg, &v) < 0)
			v.p = NULL;
		break;
	case OREF_STEP:
		rp = s->st[r->step].okreply;
		if (rp == NULL || resolve(o, rp->line, rp->len, r->seg, r->nseg,
		    &v) < 0)
			v.p = NULL;
		break;
	default:
		break;
	}
	return v;
}

static void
add_ref(struct evt_orch *o, struct evt_buf *b, const struct osaga *s,
    const struct oref *r)
{
	struct evt_sv v;

	if (r->kind == OREF_KEY) {
		evt_buf_json_str(b, s->key, s->keylen);
		return;
	}
	v = ref_value(o, s, r);
	if (v.p == NULL)
		evt_buf_adds(b, "null");
	else
		add_raw(o, b, v);
}

/* The data template x, filled in for s. */
static void
add_tpl(struct evt_orch *o, struct evt_buf *b, const struct osaga *s,
    const struct odef *d, json_t *x, size_t nsteps)
{
	const char *k;
	json_t *y;
	size_t i;

	if (json_is_object(x)) {
		int first = 1;
		evt_buf_addc(b, '{');
		json_object_foreach(x, k, y) {
			if (!first)
				evt_buf_addc(b, ',');
			first = 0;
			evt_buf_json_str(b, k, strlen(k));
			evt_buf_addc(b, ':');
			add_tpl(o, b, s, d, y, nsteps);
		}
		evt_buf_addc(b, '}');
	} else if (json_is_array(x)) {
		evt_buf_addc(b, '[');
		json_array_foreach(x, i, y) {
			if (i)
				evt_buf_addc(b, ',');
			add_tpl(o, b, s, d, y, nsteps);
		}
		evt_buf_addc(b, ']');
	} else if (json_is_string(x) && json_string_value(x)[0] == '$') {
		const char *str = json_string_value(x);
		struct oref r;
		if (str[1] == '$') {
			evt_buf_json_str(b, str + 1, json_string_length(x) - 1);
			return;
		}
		/* Checked when the definition was loaded. */
		memset(&r, 0, sizeof(r));
		if (strcmp(str + 1, "key") == 0)
			r.kind = OREF_KEY;
		else {
			char buf[256], *seg[32];
			size_t n = 0;
			snprintf(buf, sizeof(buf), "%s", str + 1);
			for (char *p = buf; n < 32; ) {
				seg[n++] = p;
				if ((p = strchr(p, '.')) == NULL)
					break;
				*p++ = '\0';
			}
			r.seg = seg + 1;
			r.nseg = n - 1;
			if (strcmp(seg[0], "trigger") == 0)
				r.kind = OREF_TRIGGER;
			else {
				r.kind = OREF_STEP;
				for (size_t j = 0; j < nsteps; j++)
					if (strcmp(d->steps[j].name, seg[0]) == 0)
						r.step = (int)j;
			}
			add_ref(o, b, s, &r);
			return;
		}
		add_ref(o, b, s, &r);
	} else {
		char *t = json_dumps(x, JSON_COMPACT | JSON_ENCODE_ANY |
		    JSON_REAL_PRECISION(17));
		if (t == NULL)
			abort();
		evt_buf_adds(b, t);
		free(t);
	}
}

/* The envelope of an event of s up to data's opening brace. */
static void
head(struct evt_orch *o, const struct osaga *s, const char *id,
    const char *type, const char *subject, size_t subjlen, int64_t time_ms,
    int expect, const char *cause)
{
	struct evt_buf *b = &o->line;

	evt_buf_reset(b);
	evt_buf_adds(b, "{\"specversion\":\"1.0\",\"id\":\"");
	evt_buf_adds(b, id);
	evt_buf_adds(b, "\",\"source\":\"saga-orch\",\"type\":");
	evt_buf_json_str(b, type, strlen(type));
	evt_buf_adds(b, ",\"subject\":");
	evt_buf_json_str(b, subject, subjlen);
	evt_buf_adds(b, ",\"time\":");
	add_time(o, b, time_ms);
	if (expect) {
		evt_buf_adds(b, ",\"expectedversion\":");
		if (s->v.version == 0)
			evt_buf_adds(b, "\"none\"");
		else
			add_int(b, s->v.version);
	}
	evt_buf_adds(b, ",\"correlationid\":");
	evt_buf_json_str(b, s->corr, s->corrlen);
	evt_buf_adds(b, ",\"causationid\":");
	evt_buf_json_str(b, cause, strlen(cause));
	evt_buf_adds(b, ",\"data\":{");
}

/* What a decision round carries. */
struct ctx {
	struct evt_orch *o;
	int64_t now;
	evt_saga_emit_fn emit;
	void *arg;
	struct evt_err *err;
};

/*
 * Hand on the line in o->line (id id): fold it first, as it will be read
 * back. Returns 0, 1 when the decision was found stored already (the saga
 * waits for the log to say more), or -1.
 */
static int
put(struct ctx *c, struct osaga *s, const char *id)
{
	struct evt_orch *o = c->o;
	struct evt_err e;
	int rc;

	if (o->found.n && evt_hmap_get(&o->found, id, strlen(id))) {
		s->skip = 1;
		return 1;
	}
	snapshot(o, s);
	if (evt_event_parse(&o->ev, o->line.p, o->line.len, 0, &e) < 0)
		abort();	/* what we write is an event */
	if ((rc = evt_orch_fold(o, &o->ev, c->now, &e)) < 0)
		abort();	/* nor one it cannot read back */
	return c->emit(c->arg, id, o->line.p, o->line.len) < 0 ? -1 : 0;
}

/* An event on the saga's stream: type, then data members after the
 * common ones (already in o->line up to the caller's), time, cause. */
static void
own_head(struct evt_orch *o, struct osaga *s, const char *id, const char *type,
    int64_t time_ms, const char *cause)
{
	evt_buf_reset(&o->tmp);
	evt_buf_adds(&o->tmp, "saga-");
	evt_buf_add(&o->tmp, s->key, s->keylen);
	char subj[512];
	size_t n = o->tmp.len < sizeof(subj) ? o->tmp.len : sizeof(subj) - 1;
	memcpy(subj, o->tmp.p, n);
	head(o, s, id, type, subj, n, time_ms, 1, cause);
	evt_buf_adds(&o->line, "\"saga\":");
	evt_buf_json_str(&o->line, s->d->name, strlen(s->d->name));
	evt_buf_adds(&o->line, ",\"key\":");
	evt_buf_json_str(&o->line, s->key, s->keylen);
}

static void
add_step(struct evt_orch *o, const struct osaga *s, int i, int a)
{
	evt_buf_adds(&o->line, ",\"step\":");
	evt_buf_json_str(&o->line, s->d->steps[i].name,
	    strlen(s->d->steps[i].name));
	evt_buf_adds(&o->line, ",\"attempt\":");
	add_int(&o->line, a);
}

static int64_t
cur_time(const struct ctx *c, const struct osaga *s)
{
	return s->v.last_ms > c->now ? s->v.last_ms : c->now;
}

/* Start attempt a of step i (or of its undo) at t: the event, then the
 * command follows in the next turn. */
static int
start(struct ctx *c, struct osaga *s, int i, int a, int undo, int64_t t)
{
	struct evt_orch *o = c->o;
	const struct oact *act = undo ? &s->d->steps[i].undo : &s->d->steps[i].act;
	char id[EVT_UUID_LEN + 1], cmd[EVT_UUID_LEN + 1];

	step_id(o, s, i, a, undo, "start", id);
	step_id(o, s, i, a, undo, "command", cmd);
	own_head(o, s, id, undo ? "SagaCompensating" : "SagaStepStarted", t,
	    s->v.last_own);
	add_step(o, s, i, a);
	evt_buf_adds(&o->line, ",\"command\":\"");
	evt_buf_adds(&o->line, cmd);
	evt_buf_addc(&o->line, '"');
	if (act->timeout_ms) {
		evt_buf_adds(&o->line, ",\"due\":");
		add_time(o, &o->line, plus(t, act->timeout_ms));
	}
	evt_buf_adds(&o->line, "}}");
	return put(c, s, id);
}

/* The command of step i's attempt a (or its undo's), stamped as its
 * start. */
static int
command(struct ctx *c, struct osaga *s, int i, int a, int undo)
{
	struct evt_orch *o = c->o;
	const struct ostep *sd = &s->d->steps[i];
	const struct oact *act = undo ? &sd->undo : &sd->act;
	const struct ostate *x = &s->st[i];
	char id[EVT_UUID_LEN + 1], cause[EVT_UUID_LEN + 1];
	struct evt_buf subj = EVT_BUF_INIT;
	size_t nsteps = undo ? (size_t)i + 1 : s->d->nsteps;

	step_id(o, s, i, a, undo, "command", id);
	step_id(o, s, i, a, undo, "start", cause);
	for (size_t k = 0; k < act->cmd.subject.n; k++) {
		const struct otpl_part *p = &act->cmd.subject.part[k];
		if (p->lit)
			evt_buf_adds(&subj, p->lit);
		else if (p->ref.kind == OREF_KEY)
			evt_buf_add(&subj, s->key, s->keylen);
		else {
			struct evt_sv v = ref_value(o, s, &p->ref);
			if (v.p && v.n >= 2 && v.p[0] == '"') {
				evt_json_str_decode(v.p, v.n, &o->val);
				evt_buf_add(&subj, o->val.p, o->val.len);
			} else if (v.p)
				evt_buf_add(&subj, v.p, v.n);
		}
	}
	/* A value from an event may hold what no subject may (a control
	 * character): each such byte becomes '_', so the command can still be
	 * written, and is the same when decided again. */
	for (size_t k = 0; k < subj.len; k++) {
		unsigned char ch = (unsigned char)subj.p[k];
		if (ch < 0x20 || ch == 0x7F)
			subj.p[k] = '_';
		else if (ch == 0xC2 && k + 1 < subj.len &&
		    (unsigned char)subj.p[k + 1] >= 0x80 &&
		    (unsigned char)subj.p[k + 1] <= 0x9F)
			subj.p[k] = subj.p[k + 1] = '_';
	}
	if (subj.len == 0)
		evt_buf_adds(&subj, "saga");
	head(o, s, id, act->cmd.type, subj.p, subj.len, undo ? x->ustart_ms :
	    x->start_ms, 0, cause);
	evt_buf_free(&subj);
	o->line.len--;		/* the data's brace: the template writes it */
	if (act->cmd.data)
		add_tpl(o, &o->line, s, s->d, act->cmd.data, nsteps);
	else
		evt_buf_adds(&o->line, "{}");
	evt_buf_adds(&o->line, ",\"orchestration\":");
	evt_buf_json_str(&o->line, s->d->name, strlen(s->d->name));
	evt_buf_addc(&o->line, '}');
	return put(c, s, id);
}

/* The outcome of attempt a of step i (or its undo): type, with the reply
 * that settled it (or NULL for a timeout, stamped t). */
static int
outcome(struct ctx *c, struct osaga *s, int i, int a, int undo,
    const char *type, const struct reply *r, int64_t t, int late)
{
	struct evt_orch *o = c->o;
	const struct oact *act = undo ? &s->d->steps[i].undo : &s->d->steps[i].act;
	char id[EVT_UUID_LEN + 1], cause[EVT_UUID_LEN + 1];
	int to = r == NULL;

	/* A reply settles it now; a timeout is stamped with its due time. */
	if (r)
		t = cur_time(c, s);
	step_id(o, s, i, late ? 0 : a, undo, late ? "late" : "outcome", id);
	if (r) {
		size_t n = strlen(r->id) < EVT_UUID_LEN ? strlen(r->id) :
		    EVT_UUID_LEN;
		memcpy(cause, r->id, n);
		cause[n] = '\0';
	} else
		step_id(o, s, i, a, undo, "start", cause);
	own_head(o, s, id, type, t, cause);
	/* A late success names the attempt it answers. */
	add_step(o, s, i, late ? r->attempt : a);
	if (r) {
		evt_buf_adds(&o->line, ",\"reply\":");
		evt_buf_json_str(&o->line, r->id, strlen(r->id));
	}
	if (late)
		evt_buf_adds(&o->line, ",\"late\":true");
	if (undo && strcmp(type, "SagaCompensated") != 0)
		evt_buf_adds(&o->line, ",\"undo\":true");
	if (strcmp(type, "SagaStepSucceeded") != 0 && strcmp(type,
	    "SagaCompensated") != 0 && retries(s, i, a, undo, to)) {
		evt_buf_adds(&o->line, ",\"retry_at\":");
		add_time(o, &o->line, retry_at(&act->retry, a, t));
	}
	evt_buf_adds(&o->line, "}}");
	return put(c, s, id);
}

static int
simple(struct ctx *c, struct osaga *s, const char *type, const char *slot,
    int64_t t)
{
	struct evt_orch *o = c->o;
	char id[EVT_UUID_LEN + 1];

	decision_id(o, s, slot, id);
	own_head(o, s, id, type, t, s->v.last_own);
	if (strcmp(type, "SagaStarted") == 0) {
		evt_buf_adds(&o->line, ",\"version\":");
		add_int(&o->line, s->d->version);
		evt_buf_adds(&o->line, ",\"hash\":\"");
		evt_buf_adds(&o->line, s->d->hash);
		evt_buf_addc(&o->line, '"');
		if (s->d->deadline_ms) {
			evt_buf_adds(&o->line, ",\"deadline\":");
			add_time(o, &o->line, plus(t, s->d->deadline_ms));
		}
	} else if (strcmp(type, "SagaFailed") == 0) {
		int stuck = -1;
		for (size_t k = 0; k < s->d->nsteps && stuck < 0; k++)
			if (s->st[k].uphase == U_STUCK)
				stuck = (int)k;
		evt_buf_reset(&o->val);
		if (stuck >= 0)
			evt_orch_why_text(&o->val, EVT_ORCH_WHY_UNDO_EXHAUSTED,
			    s->d->steps[stuck].name);
		else if (s->v.fail_step >= 0)
			evt_orch_why_text(&o->val, s->v.fail_why,
			    s->d->steps[s->v.fail_step].name);
		else
			evt_orch_why_text(&o->val, EVT_ORCH_WHY_DEADLINE, NULL);
		evt_buf_adds(&o->line, ",\"reason\":");
		evt_buf_json_str(&o->line, o->val.p, o->val.len);
		evt_buf_adds(&o->line, stuck >= 0 ? ",\"stuck\":true" :
		    ",\"stuck\":false");
	}
	evt_buf_adds(&o->line, "}}");
	return put(c, s, id);
}

/* The first reply of s to step i's attempt a (undo or not); with any_ok, a
 * success of any attempt up to a. */
static const struct reply *
reply_for(const struct osaga *s, int i, int a, int undo, int any_ok)
{
	for (const struct reply *r = s->replies; r; r = r->next)
		if (r->step == i && r->undo == undo && (r->attempt == a ||
		    (any_ok && r->ok && r->attempt <= a)))
			return r;
	return NULL;
}

/* A timer that has fallen due, the earliest first. */
struct timer {
	int64_t at;
	int kind;		/* 0 none, 1 timeout, 2 retry, 3 deadline */
	int step;
};

static void
consider(struct timer *t, int64_t at, int kind, int step, int64_t now)
{
	if (at <= now && (t->kind == 0 || at < t->at)) {
		t->at = at;
		t->kind = kind;
		t->step = step;
	}
}

/*
 * The next event s owes at the clock: 0 when one was handed on (call
 * again), 1 when none is owed now, -1 on error.
 */
static int
step_once(struct ctx *c, struct osaga *s)
{
	const struct odef *d = s->d;
	int64_t now = c->now, cur = cur_time(c, s);
	struct timer tm = { 0, 0, 0 };
	int stage = -1, in_flight = 0;
	size_t i;

	if (s->v.halted || s->v.ended || s->skip || d == NULL)
		return 1;
	if (!s->v.started)
		return simple(c, s, "SagaStarted", "start", cur);
	/* Commands owed: their start is recorded, they are not. */
	for (i = 0; i < d->nsteps; i++) {
		const struct ostate *x = &s->st[i];
		if (x->phase == ST_RUN && !x->sent)
			return command(c, s, (int)i, x->attempt, 0);
		if (x->uphase == U_RUN && !x->usent)
			return command(c, s, (int)i, x->uattempt, 1);
	}
	for (i = 0; i < d->nsteps; i++)
		if (s->st[i].phase != ST_OK) {
			stage = d->steps[i].stage;
			break;
		}
	if (stage < 0 && s->v.fail_step < 0 && !s->v.expired)
		return simple(c, s, "SagaCompleted", "end", cur);
	/* The current stage's steps: replies first, in step order, unless a
	 * timer fell due before the reply came. */
	int64_t dl = d->deadline_ms && !s->v.expired ? plus(s->v.start_ms,
	    d->deadline_ms) : INT64_MAX;
	for (i = 0; stage >= 0 && i < d->nsteps; i++) {
		const struct ostate *x = &s->st[i];
		const struct reply *r;
		if (d->steps[i].stage != stage)
			continue;
		if (x->phase == ST_RUN) {
			in_flight = 1;
			r = reply_for(s, (int)i, x->attempt, 0, 1);
			int64_t due = x->due_ms < dl ? x->due_ms : dl;
			if (r && r->time_ms <= due && (r->ok || r->attempt ==
			    x->attempt))
				return outcome(c, s, (int)i, x->attempt, 0, r->ok ?
				    "SagaStepSucceeded" : "SagaStepFailed", r, 0,
				    r->attempt != x->attempt);
			if (x->due_ms < dl)
				consider(&tm, x->due_ms, 1, (int)i, now);
		} else if (x->phase == ST_RETRY) {
			/* A success to an earlier attempt, however late. */
			if ((r = reply_for(s, (int)i, x->attempt, 0, 1)) != NULL &&
			    r->ok && r->time_ms <= dl)
				return outcome(c, s, (int)i, x->attempt, 0,
				    "SagaStepSucceeded", r, 0, 1);
			consider(&tm, x->retry_ms, 2, (int)i, now);
		} else if (x->phase == ST_IDLE && s->v.fail_step < 0 &&
		    !s->v.expired && dl > now)
			return start(c, s, (int)i, 1, 0, cur);
	}
	if (stage >= 0 && dl != INT64_MAX && s->v.fail_step < 0)
		consider(&tm, dl, 3, -1, now);
	else if (stage >= 0 && dl != INT64_MAX && in_flight)
		consider(&tm, dl, 3, -1, now);
	if (tm.kind == 1)
		return outcome(c, s, tm.step, s->st[tm.step].attempt, 0,
		    "SagaStepTimedOut", NULL, tm.at, 0);
	if (tm.kind == 2)
		return start(c, s, tm.step, s->st[tm.step].attempt + 1, 0, tm.at);
	if (tm.kind == 3)
		return simple(c, s, "SagaTimedOut", "deadline", tm.at);
	if (s->v.fail_step < 0 && !s->v.expired)
		return 1;
	if (in_flight)
		return 1;	/* siblings in flight: wait for them */
	/* Compensation: one undo at a time. */
	for (i = 0; i < d->nsteps; i++) {
		const struct ostate *x = &s->st[i];
		const struct reply *r;
		if (x->uphase == U_RUN) {
			r = reply_for(s, (int)i, x->uattempt, 1, 0);
			if (r && r->time_ms <= x->udue_ms)
				return outcome(c, s, (int)i, x->uattempt, 1, r->ok ?
				    "SagaCompensated" : "SagaStepFailed", r, 0, 0);
			if (x->udue_ms <= now)
				return outcome(c, s, (int)i, x->uattempt, 1,
				    "SagaStepTimedOut", NULL, x->udue_ms, 0);
			return 1;
		}
		if (x->uphase == U_RETRY) {
			if (x->uretry_ms <= now)
				return start(c, s, (int)i, x->uattempt + 1, 1,
				    x->uretry_ms);
			return 1;
		}
		if (x->uphase == U_STUCK)
			return simple(c, s, "SagaFailed", "end", cur);
	}
	/* The next to undo: the latest completed of those that acted. */
	int pick = -1;
	for (i = 0; i < d->nsteps; i++) {
		const struct ostate *x = &s->st[i];
		if ((x->phase == ST_OK || x->acted) && d->steps[i].has_undo &&
		    x->uphase == U_NONE && (pick < 0 ||
		    x->done_seq > s->st[pick].done_seq))
			pick = (int)i;
	}
	if (pick >= 0)
		return start(c, s, pick, 1, 1, cur);
	return simple(c, s, "SagaFailed", "end", cur);
}

int
evt_orch_decide(struct evt_orch *o, int64_t now_ms, evt_saga_emit_fn emit,
    void *arg, struct evt_err *err)
{
	struct ctx c = { o, now_ms, emit, arg, err };
	struct osaga *s, *next;
	int rc;

	o->deciding = 1;
	for (s = o->head; s; s = next) {
		next = s->next;
		while ((rc = step_once(&c, s)) == 0)
			;
		if (rc < 0) {
			o->deciding = 0;
			return -1;
		}
		if (s->v.ended && !s->v.in_over) {
			if (o->journaling) {
				s->v.in_over = 1;
				s->over_next = o->over;
				o->over = s;
			} else
				forget(o, s);
		}
	}
	o->deciding = 0;
	return 0;
}

int64_t
evt_orch_next_deadline(const struct evt_orch *o)
{
	int64_t m = INT64_MAX;

	for (const struct osaga *s = o->head; s; s = s->next) {
		if (s->d == NULL || s->v.halted || s->v.ended)
			continue;
		if (s->d->deadline_ms && s->v.started && !s->v.expired &&
		    s->v.fail_step < 0) {
			int64_t dl = plus(s->v.start_ms, s->d->deadline_ms);
			if (dl < m)
				m = dl;
		}
		for (size_t i = 0; i < s->d->nsteps; i++) {
			const struct ostate *x = &s->st[i];
			if (x->phase == ST_RUN && x->due_ms < m)
				m = x->due_ms;
			if (x->phase == ST_RETRY && x->retry_ms < m)
				m = x->retry_ms;
			if (x->uphase == U_RUN && x->udue_ms < m)
				m = x->udue_ms;
			if (x->uphase == U_RETRY && x->uretry_ms < m)
				m = x->uretry_ms;
		}
	}
	return m;
}

void
evt_orch_counts(const struct evt_orch *o, struct evt_orch_counts *c)
{
	c->open = o->sagas.n;
	c->started = o->started;
	c->completed = o->completed;
	c->failed = o->failed;
	c->stuck = o->stuck;
	c->dup = o->dup;
	c->stale = o->stale;
	c->unknown = (long long)o->parked.n;
}
