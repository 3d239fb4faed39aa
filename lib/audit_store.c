#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "audit_store.h"
#include "buf.h"
#include "sqlfile.h"

/* How long a run waits for another one on the same state to finish. */
#define BUSY_TIMEOUT_MS 2000

enum { Q_TX, Q_SUBJ, Q_IDS, Q_OPEN, Q_PUT_TX, Q_PUT_SUBJ, Q_PUT_IDS, Q_CK_GET,
	Q_CK_SET, Q_ORCH, Q_ORCH_OPEN, Q_PUT_ORCH, Q_DEL_ORCH,
	Q_PRUNE_TX, Q_PRUNE_SUBJ, Q_PRUNE_IDS, Q_PRUNE_ORCH, Q_N };

static const char *const sql[Q_N] = {
	[Q_TX] = "SELECT total, paid, refunded, created_ms, payments, flags, "
	    "currency FROM audit_tx WHERE id = ?1",
	[Q_SUBJ] = "SELECT version, time_ms FROM audit_stream WHERE subject = ?1",
	[Q_IDS] = "SELECT ids FROM audit_idseg",
	[Q_OPEN] = "SELECT id, created_ms FROM audit_tx WHERE open = 1",
	[Q_PUT_TX] = "INSERT OR REPLACE INTO audit_tx(id, total, paid, refunded, "
	    "created_ms, payments, flags, currency, open, touched) VALUES(?1, "
	    "?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
	[Q_PUT_SUBJ] = "INSERT OR REPLACE INTO audit_stream(subject, version, "
	    "time_ms, touched) VALUES(?1, ?2, ?3, ?4)",
	[Q_PUT_IDS] = "INSERT INTO audit_idseg(touched, ids) VALUES(?1, ?2)",
	[Q_CK_GET] = "SELECT seq, time_ms, events, until_ms, forgot_ms FROM "
	    "audit_checkpoint",
	[Q_CK_SET] = "INSERT OR REPLACE INTO audit_checkpoint(k, seq, time_ms, "
	    "events, until_ms, forgot_ms) VALUES(1, ?1, ?2, ?3, ?4, ?5)",
	[Q_ORCH] = "SELECT started_ms, stuck FROM audit_orch WHERE key = ?1",
	[Q_ORCH_OPEN] = "SELECT key, started_ms FROM audit_orch WHERE stuck = 0",
	[Q_PUT_ORCH] = "INSERT OR REPLACE INTO audit_orch(key, started_ms, stuck, "
	    "touched) VALUES(?1, ?2, ?3, ?4)",
	[Q_DEL_ORCH] = "DELETE FROM audit_orch WHERE key = ?1",
	/* An open transaction not yet reported stuck stays: the end of a
	 * run, which judges it, finds it by the open index. */
	[Q_PRUNE_TX] = "DELETE FROM audit_tx WHERE touched < ?1 AND open = 0",
	[Q_PRUNE_SUBJ] = "DELETE FROM audit_stream WHERE touched < ?1",
	[Q_PRUNE_IDS] = "DELETE FROM audit_idseg WHERE touched < ?1",
	/* Likewise an orchestrated saga not yet reported stuck. */
	[Q_PRUNE_ORCH] = "DELETE FROM audit_orch WHERE touched < ?1 AND "
	    "stuck = 1",
};

/*
 * The ids folded are kept as segments: each write adds one row holding
 * its new id hashes, sorted, as 8-byte little-endian integers. A run
 * loads them all into a hash set in memory (8 MB a million ids) and
 * looks ids up there. One row per id, as before, made a daily run write
 * nearly every page of that table: id hashes are random, so the day's
 * inserts fall everywhere in its B-tree.
 */
struct known {
	uint64_t *tab;		/* open addressing; 0 is empty */
	size_t cap, n;
};

struct evt_audit_store {
	sqlite3 *db;
	sqlite3_stmt *q[Q_N];
	struct evt_buf tmp;
	int64_t clock;		/* what rows put are stamped with */
	struct known known;	/* every id of every segment */
};

static int
known_has(const struct known *k, uint64_t h)
{
	if (k->cap == 0)
		return 0;
	for (size_t i = h & (k->cap - 1); k->tab[i]; i = (i + 1) & (k->cap - 1))
		if (k->tab[i] == h)
			return 1;
	return 0;
}

static void
known_add(struct known *k, uint64_t h)
{
	if (h == 0)
		h = 1;
	if ((k->n + 1) * 2 > k->cap) {
		struct known old = *k;
		k->cap = old.cap ? old.cap * 2 : 1024;
		if ((k->tab = calloc(k->cap, sizeof(*k->tab))) == NULL)
			abort();
		k->n = 0;
		for (size_t i = 0; i < old.cap; i++)
			if (old.tab[i])
				known_add(k, old.tab[i]);
		free(old.tab);
	}
	size_t i = h & (k->cap - 1);
	while (k->tab[i] && k->tab[i] != h)
		i = (i + 1) & (k->cap - 1);
	if (k->tab[i] == 0) {
		k->tab[i] = h;
		k->n++;
	}
}

static void
put_le64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t
get_le64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static int
cmp_u64(const void *x, const void *y)
{
	uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;

	return a < b ? -1 : a > b;
}

/* Write ids (n of them, sorted) as one segment stamped touched. */
static int
put_segment(struct evt_audit_store *s, int64_t touched, const uint64_t *ids,
    size_t n)
{
	sqlite3_stmt *q = s->q[Q_PUT_IDS];
	unsigned char *b;

	if (n == 0)
		return SQLITE_DONE;
	if ((b = malloc(n * 8)) == NULL)
		abort();
	for (size_t i = 0; i < n; i++)
		put_le64(b + 8 * i, ids[i]);
	sqlite3_bind_int64(q, 1, touched);
	sqlite3_bind_blob64(q, 2, b, n * 8, free);
	int rc = sqlite3_step(q);
	sqlite3_reset(q);
	sqlite3_clear_bindings(q);
	return rc;
}

/*
 * A state made when ids were rows (audit_id): the same ids as segments,
 * one per time they were stamped with, in one transaction. Returns an
 * SQLite result code.
 */
static int
migrate_ids(struct evt_audit_store *s)
{
	sqlite3_stmt *q;
	uint64_t *ids = NULL;
	size_t n = 0, cap = 0;
	int64_t touched = 0;
	int rc;

	if (sqlite3_prepare_v2(s->db, "SELECT touched, h FROM audit_id ORDER "
	    "BY touched, h", -1, &q, NULL) != SQLITE_OK)
		return SQLITE_OK;	/* no such table: nothing to do */
	if ((rc = sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL)) !=
	    SQLITE_OK) {
		sqlite3_finalize(q);
		return rc;
	}
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		int64_t t = sqlite3_column_int64(q, 0);
		if (n > 0 && t != touched) {
			if ((rc = put_segment(s, touched, ids, n)) != SQLITE_DONE)
				break;
			n = 0;
		}
		touched = t;
		if (n == cap) {
			cap = cap ? cap * 2 : 4096;
			if ((ids = realloc(ids, cap * sizeof(*ids))) == NULL)
				abort();
		}
		ids[n++] = (uint64_t)sqlite3_column_int64(q, 1);
	}
	if (rc == SQLITE_DONE)
		rc = put_segment(s, touched, ids, n);
	sqlite3_finalize(q);
	free(ids);
	if (rc == SQLITE_DONE)
		rc = sqlite3_exec(s->db, "DROP TABLE audit_id; COMMIT", NULL,
		    NULL, NULL);
	if (rc != SQLITE_OK)
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

/* Every segment's ids into memory. */
static int
load_ids(struct evt_audit_store *s)
{
	sqlite3_stmt *q = s->q[Q_IDS];
	int rc;

	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		const unsigned char *b = sqlite3_column_blob(q, 0);
		size_t n = (size_t)sqlite3_column_bytes(q, 0) / 8;
		for (size_t i = 0; i < n; i++)
			known_add(&s->known, get_le64(b + 8 * i));
	}
	sqlite3_reset(q);
	return rc;
}

/* Another run holding the state is worth retrying (75); the rest is an
 * I/O error. */
static int
db_code(struct evt_audit_store *s)
{
	int rc = sqlite3_errcode(s->db) & 0xff;

	return rc == SQLITE_BUSY || rc == SQLITE_LOCKED ? EX_TEMPFAIL : EX_IOERR;
}

static int
db_err(struct evt_audit_store *s, struct evt_err *err)
{
	return evt_err_set(err, db_code(s), "state: %s%s", sqlite3_errmsg(s->db),
	    db_code(s) == EX_TEMPFAIL ? " (another audit-scan is using it)" : "");
}

/* Flags of a transaction, as stored. */
enum { F_CREATED = 1, F_HAS_TOTAL = 2, F_TOTAL_RANGE = 4, F_OPEN = 8,
	F_HAS_TIME = 16, F_STUCK = 32, F_CUR_PAID = 64, F_UNKNOWN = 128 };

struct evt_audit_store *
evt_astore_open(const char *path, struct evt_err *err)
{
	struct evt_audit_store *s = calloc(1, sizeof(*s));
	char *msg = NULL;

	if (s == NULL)
		abort();
	/* Private: the state names transactions and what was paid. */
	if (evt_sqlfile_open(path, &s->db, err) < 0) {
		evt_astore_close(s);
		return NULL;
	}
	sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);
	/* One run at a time owns the state (a second waits, then fails):
	 * held for the whole run, the lock is not taken again for each of
	 * the many small lookups. */
	/* The lookups are random (ids are hashes): 32 MB of pages kept
	 * rather than SQLite's 2 MB halves the reads of a daily run. */
	if (sqlite3_exec(s->db, "PRAGMA locking_mode=EXCLUSIVE; "
	    "PRAGMA cache_size=-32768; "
	    "PRAGMA journal_mode=WAL; "
	    "PRAGMA synchronous=FULL; "
	    "CREATE TABLE IF NOT EXISTS audit_checkpoint(k INTEGER PRIMARY KEY "
	    "CHECK (k = 1), seq INTEGER NOT NULL, time_ms INTEGER, events "
	    "INTEGER NOT NULL, until_ms INTEGER, forgot_ms INTEGER); "
	    "CREATE TABLE IF NOT EXISTS audit_tx(id TEXT PRIMARY KEY, total TEXT, "
	    "paid TEXT NOT NULL, refunded TEXT NOT NULL, created_ms INTEGER, "
	    "payments INTEGER NOT NULL, flags INTEGER NOT NULL, currency TEXT, "
	    "open INTEGER NOT NULL, touched INTEGER) WITHOUT ROWID; "
	    "CREATE INDEX IF NOT EXISTS audit_tx_open ON audit_tx(open) "
	    "WHERE open = 1; "
	    "CREATE TABLE IF NOT EXISTS audit_stream(subject TEXT PRIMARY KEY, "
	    "version INTEGER NOT NULL, time_ms INTEGER, touched INTEGER) "
	    "WITHOUT ROWID; "
	    "CREATE TABLE IF NOT EXISTS audit_idseg(seg INTEGER PRIMARY KEY, "
	    "touched INTEGER NOT NULL, ids BLOB NOT NULL); "
	    /* The orchestrated sagas started and not over (a state made
	     * before they were kept gains the table empty: what it folded
	     * then was not remembered). */
	    "CREATE TABLE IF NOT EXISTS audit_orch(key TEXT PRIMARY KEY, "
	    "started_ms INTEGER NOT NULL, stuck INTEGER NOT NULL, touched "
	    "INTEGER) WITHOUT ROWID; "
	    "CREATE INDEX IF NOT EXISTS audit_orch_open ON audit_orch(stuck) "
	    "WHERE stuck = 0",
	    NULL, NULL, &msg) != SQLITE_OK) {
		int code = sqlite3_errcode(s->db) == SQLITE_NOTADB ? EX_DATAERR :
		    db_code(s);
		evt_err_set(err, code, "%s: %s%s", path, msg ? msg :
		    sqlite3_errmsg(s->db), code == EX_TEMPFAIL ?
		    " (another audit-scan is using it)" : "");
		sqlite3_free(msg);
		evt_astore_close(s);
		return NULL;
	}
	/* A state made before periods were kept: add the column (an error
	 * when it is there already, which is what is wanted). */
	sqlite3_exec(s->db, "ALTER TABLE audit_checkpoint ADD COLUMN until_ms "
	    "INTEGER", NULL, NULL, NULL);
	sqlite3_exec(s->db, "ALTER TABLE audit_checkpoint ADD COLUMN forgot_ms "
	    "INTEGER", NULL, NULL, NULL);
	/* A state made before it was pruned: its rows count as written at
	 * the end of its last period, so they are kept as long as the
	 * rows of that period (or, with no period, until the clock of the
	 * run that adds the column has passed the horizon). */
	static const char *const tables[] = { "audit_tx", "audit_stream",
		"audit_id" };	/* audit_id: then made segments, below */
	for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
		char q[256];
		snprintf(q, sizeof(q), "ALTER TABLE %s ADD COLUMN touched INTEGER",
		    tables[i]);
		if (sqlite3_exec(s->db, q, NULL, NULL, NULL) != SQLITE_OK)
			continue;
		snprintf(q, sizeof(q), "UPDATE %s SET touched = coalesce((SELECT "
		    "until_ms FROM audit_checkpoint), CAST(strftime('%%s', 'now') "
		    "AS INTEGER) * 1000)", tables[i]);
		sqlite3_exec(s->db, q, NULL, NULL, NULL);
	}
	/* What pruning goes by. */
	if (sqlite3_exec(s->db, "CREATE INDEX IF NOT EXISTS audit_tx_touched ON "
	    "audit_tx(touched); CREATE INDEX IF NOT EXISTS audit_stream_touched "
	    "ON audit_stream(touched); CREATE INDEX IF NOT EXISTS "
	    "audit_idseg_touched ON audit_idseg(touched); CREATE INDEX IF NOT "
	    "EXISTS audit_orch_touched ON audit_orch(touched)", NULL, NULL,
	    NULL) !=
	    SQLITE_OK) {
		evt_err_set(err, db_code(s), "%s: %s", path, sqlite3_errmsg(s->db));
		evt_astore_close(s);
		return NULL;
	}
	for (int i = 0; i < Q_N; i++)
		if (sqlite3_prepare_v3(s->db, sql[i], -1,
		    SQLITE_PREPARE_PERSISTENT, &s->q[i], NULL) != SQLITE_OK) {
			evt_err_set(err, EX_DATAERR, "%s: not an audit state "
			    "(%s)", path, sqlite3_errmsg(s->db));
			evt_astore_close(s);
			return NULL;
		}
	if (migrate_ids(s) != SQLITE_OK || load_ids(s) != SQLITE_DONE) {
		evt_err_set(err, db_code(s), "%s: %s", path, sqlite3_errmsg(s->db));
		evt_astore_close(s);
		return NULL;
	}
	return s;
}

void
evt_astore_close(struct evt_audit_store *s)
{
	if (s == NULL)
		return;
	for (int i = 0; i < Q_N; i++)
		sqlite3_finalize(s->q[i]);
	sqlite3_close(s->db);
	evt_buf_free(&s->tmp);
	free(s->known.tab);
	free(s);
}

/* Step q (bound), then reset it: SQLITE_ROW's columns are read by the
 * caller between step and done. */
static int
done(struct evt_audit_store *s, sqlite3_stmt *q, int rc, struct evt_err *err)
{
	sqlite3_reset(q);
	sqlite3_clear_bindings(q);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return db_err(s, err);
	return rc == SQLITE_ROW;
}

int
evt_astore_checkpoint(struct evt_audit_store *s, struct evt_audit_ckpt *c,
    struct evt_err *err)
{
	sqlite3_stmt *q = s->q[Q_CK_GET];
	int rc = sqlite3_step(q);

	memset(c, 0, sizeof(*c));
	if (rc == SQLITE_ROW) {
		c->seq = sqlite3_column_int64(q, 0);
		c->has_time = sqlite3_column_type(q, 1) != SQLITE_NULL;
		c->time_ms = sqlite3_column_int64(q, 1);
		c->events = sqlite3_column_int64(q, 2);
		c->has_until = sqlite3_column_type(q, 3) != SQLITE_NULL;
		c->until_ms = sqlite3_column_int64(q, 3);
		c->has_forgot = sqlite3_column_type(q, 4) != SQLITE_NULL;
		c->forgot_ms = sqlite3_column_int64(q, 4);
	}
	return done(s, q, rc, err) < 0 ? -1 : 0;
}

/* A stored decimal; a hand-edited one that does not parse is zero. */
static struct evt_dec
col_dec(sqlite3_stmt *q, int i)
{
	struct evt_dec d = EVT_DEC_ZERO;
	const char *t = (const char *)sqlite3_column_text(q, i);

	if (t == NULL || evt_dec_parse(t, (size_t)sqlite3_column_bytes(q, i),
	    &d) != EVT_DEC_OK)
		d = EVT_DEC_ZERO;
	return d;
}

int
evt_astore_tx(struct evt_audit_store *s, const char *id, size_t n,
    struct evt_audit_tx *t, struct evt_err *err)
{
	sqlite3_stmt *q = s->q[Q_TX];
	int rc;

	sqlite3_bind_text(q, 1, id, (int)n, SQLITE_STATIC);
	if ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		int f = sqlite3_column_int(q, 5);
		memset(t, 0, sizeof(*t));
		t->total = col_dec(q, 0);
		t->paid = col_dec(q, 1);
		t->refunded = col_dec(q, 2);
		t->created_ms = sqlite3_column_int64(q, 3);
		t->payments = sqlite3_column_int(q, 4);
		t->created = !!(f & F_CREATED);
		t->has_total = !!(f & F_HAS_TOTAL);
		t->total_range = !!(f & F_TOTAL_RANGE);
		t->open = !!(f & F_OPEN);
		t->has_time = !!(f & F_HAS_TIME);
		t->stuck = !!(f & F_STUCK);
		t->cur_paid = !!(f & F_CUR_PAID);
		t->unknown = !!(f & F_UNKNOWN);
		int cn = sqlite3_column_bytes(q, 6);
		if (cn > 0 && (size_t)cn <= sizeof(t->cur)) {
			memcpy(t->cur, sqlite3_column_text(q, 6), (size_t)cn);
			t->ncur = (unsigned char)cn;
		}
	}
	return done(s, q, rc, err);
}

int
evt_astore_subject(struct evt_audit_store *s, const char *subj, size_t n,
    struct evt_audit_subject *v, struct evt_err *err)
{
	sqlite3_stmt *q = s->q[Q_SUBJ];
	int rc;

	sqlite3_bind_text(q, 1, subj, (int)n, SQLITE_STATIC);
	if ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		v->version = sqlite3_column_int64(q, 0);
		v->has_time = sqlite3_column_type(q, 1) != SQLITE_NULL;
		v->time_ms = sqlite3_column_int64(q, 1);
	}
	return done(s, q, rc, err);
}

int
evt_astore_id(struct evt_audit_store *s, uint64_t h)
{
	return known_has(&s->known, h ? h : 1);
}

int
evt_astore_open_tx(struct evt_audit_store *s,
    void (*fn)(void *arg, const char *id, size_t n, int64_t created_ms),
    void *arg, struct evt_err *err)
{
	sqlite3_stmt *q = s->q[Q_OPEN];
	int rc;

	while ((rc = sqlite3_step(q)) == SQLITE_ROW)
		if (sqlite3_column_type(q, 1) != SQLITE_NULL)
			fn(arg, (const char *)sqlite3_column_text(q, 0),
			    (size_t)sqlite3_column_bytes(q, 0),
			    sqlite3_column_int64(q, 1));
	return done(s, q, rc, err) < 0 ? -1 : 0;
}

int
evt_astore_orch(struct evt_audit_store *s, const char *key, size_t n,
    int64_t *started_ms, int *stuck, struct evt_err *err)
{
	sqlite3_stmt *q = s->q[Q_ORCH];
	int rc;

	sqlite3_bind_text(q, 1, key, (int)n, SQLITE_STATIC);
	if ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		*started_ms = sqlite3_column_int64(q, 0);
		*stuck = sqlite3_column_int(q, 1) != 0;
	}
	return done(s, q, rc, err);
}

int
evt_astore_open_orch(struct evt_audit_store *s,
    void (*fn)(void *arg, const char *key, size_t n, int64_t started_ms),
    void *arg, struct evt_err *err)
{
	sqlite3_stmt *q = s->q[Q_ORCH_OPEN];
	int rc;

	while ((rc = sqlite3_step(q)) == SQLITE_ROW)
		fn(arg, (const char *)sqlite3_column_text(q, 0),
		    (size_t)sqlite3_column_bytes(q, 0), sqlite3_column_int64(q, 1));
	return done(s, q, rc, err) < 0 ? -1 : 0;
}

int
evt_astore_begin(struct evt_audit_store *s, struct evt_err *err)
{
	if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return db_err(s, err);
	return 0;
}

static void
bind_dec(struct evt_audit_store *s, sqlite3_stmt *q, int i, struct evt_dec d)
{
	evt_buf_reset(&s->tmp);
	evt_dec_format(&s->tmp, d, 0);
	sqlite3_bind_text(q, i, s->tmp.p, (int)s->tmp.len, SQLITE_TRANSIENT);
}

int
evt_astore_put_tx(struct evt_audit_store *s, const char *id, size_t n,
    const struct evt_audit_tx *t, struct evt_err *err)
{
	sqlite3_stmt *q = s->q[Q_PUT_TX];

	sqlite3_bind_text(q, 1, id, (int)n, SQLITE_STATIC);
	if (t->has_total)
		bind_dec(s, q, 2, t->total);
	bind_dec(s, q, 3, t->paid);
	bind_dec(s, q, 4, t->refunded);
	if (t->has_time)
		sqlite3_bind_int64(q, 5, t->created_ms);
	sqlite3_bind_int(q, 6, t->payments);
	sqlite3_bind_int(q, 7, (t->created ? F_CREATED : 0) |
	    (t->has_total ? F_HAS_TOTAL : 0) |
	    (t->total_range ? F_TOTAL_RANGE : 0) | (t->open ? F_OPEN : 0) |
	    (t->has_time ? F_HAS_TIME : 0) | (t->stuck ? F_STUCK : 0) |
	    (t->cur_paid ? F_CUR_PAID : 0) | (t->unknown ? F_UNKNOWN : 0));
	if (t->ncur)
		sqlite3_bind_text(q, 8, t->cur, t->ncur, SQLITE_STATIC);
	/* Indexed: what the end of a run looks through for stuck sagas. */
	sqlite3_bind_int(q, 9, t->open && t->has_time && !t->stuck);
	sqlite3_bind_int64(q, 10, s->clock);
	return done(s, q, sqlite3_step(q), err) < 0 ? -1 : 0;
}

int
evt_astore_put_subject(struct evt_audit_store *s, const char *subj, size_t n,
    const struct evt_audit_subject *v, struct evt_err *err)
{
	sqlite3_stmt *q = s->q[Q_PUT_SUBJ];

	sqlite3_bind_text(q, 1, subj, (int)n, SQLITE_STATIC);
	sqlite3_bind_int64(q, 2, v->version);
	if (v->has_time)
		sqlite3_bind_int64(q, 3, v->time_ms);
	sqlite3_bind_int64(q, 4, s->clock);
	return done(s, q, sqlite3_step(q), err) < 0 ? -1 : 0;
}

int
evt_astore_put_orch(struct evt_audit_store *s, const char *key, size_t n,
    int64_t started_ms, int stuck, struct evt_err *err)
{
	sqlite3_stmt *q = s->q[Q_PUT_ORCH];

	sqlite3_bind_text(q, 1, key, (int)n, SQLITE_STATIC);
	sqlite3_bind_int64(q, 2, started_ms);
	sqlite3_bind_int(q, 3, !!stuck);
	sqlite3_bind_int64(q, 4, s->clock);
	return done(s, q, sqlite3_step(q), err) < 0 ? -1 : 0;
}

int
evt_astore_del_orch(struct evt_audit_store *s, const char *key, size_t n,
    struct evt_err *err)
{
	sqlite3_stmt *q = s->q[Q_DEL_ORCH];

	sqlite3_bind_text(q, 1, key, (int)n, SQLITE_STATIC);
	return done(s, q, sqlite3_step(q), err) < 0 ? -1 : 0;
}

int
evt_astore_put_ids(struct evt_audit_store *s, uint64_t *ids, size_t n,
    struct evt_err *err)
{
	size_t k = 0;

	/* Only what no segment holds yet, sorted. */
	for (size_t i = 0; i < n; i++)
		if (!known_has(&s->known, ids[i] ? ids[i] : 1))
			ids[k++] = ids[i];
	qsort(ids, k, sizeof(*ids), cmp_u64);
	if (put_segment(s, s->clock, ids, k) != SQLITE_DONE)
		return db_err(s, err);
	for (size_t i = 0; i < k; i++)
		known_add(&s->known, ids[i]);
	return 0;
}

int
evt_astore_checkpoint_set(struct evt_audit_store *s,
    const struct evt_audit_ckpt *c, struct evt_err *err)
{
	sqlite3_stmt *q = s->q[Q_CK_SET];

	sqlite3_bind_int64(q, 1, c->seq);
	if (c->has_time)
		sqlite3_bind_int64(q, 2, c->time_ms);
	sqlite3_bind_int64(q, 3, c->events);
	if (c->has_until)
		sqlite3_bind_int64(q, 4, c->until_ms);
	if (c->has_forgot)
		sqlite3_bind_int64(q, 5, c->forgot_ms);
	return done(s, q, sqlite3_step(q), err) < 0 ? -1 : 0;
}

void
evt_astore_clock(struct evt_audit_store *s, int64_t ms)
{
	s->clock = ms;
}

long long
evt_astore_prune(struct evt_audit_store *s, int64_t before_ms,
    struct evt_err *err)
{
	long long n = 0;

	for (int i = Q_PRUNE_TX; i <= Q_PRUNE_ORCH; i++) {
		sqlite3_bind_int64(s->q[i], 1, before_ms);
		if (done(s, s->q[i], sqlite3_step(s->q[i]), err) < 0)
			return -1;
		n += sqlite3_changes(s->db);
	}
	return n;
}

int
evt_astore_commit(struct evt_audit_store *s, struct evt_err *err)
{
	if (sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		return db_err(s, err);
	return 0;
}

void
evt_astore_rollback(struct evt_audit_store *s)
{
	sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}
