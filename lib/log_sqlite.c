/*
 * log_sqlite.c - the SQLite backend: one table of stored lines, indexed by
 * id, stream and correlation; WAL mode so readers never block writers.
 *
 * The stored line (body) already carries seq and version, so a replay is a
 * copy of bytes; the other columns exist only to be indexed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "ahead.h"
#include "chain.h"
#include "clock.h"
#include "crypto_load.h"
#include "log_impl.h"

#define BUSY_TIMEOUT_MS 60000

/* The bench's baseline (Makefile: build/bench/evt-append-nochain) keeps
 * no chain: no hashes, NULL in their column. */
#ifdef EVT_BENCH_NO_CHAIN
#define NO_CHAIN 1
#else
#define NO_CHAIN 0
#endif

/*
 * The layout. Every insert pays for each index, and an index on random
 * text keys pays the most: each commit rewrites nearly all of its pages.
 * So ids are indexed by an integer key (id_key: 12 bytes an entry, not
 * 45), unique, so the insert itself finds a stored id; and correlations
 * by cseq, the seq of the event whose id is the correlation id: it is
 * near the last seq, so that index grows at its end.
 * An event whose correlation id is no stored event's id (yet) has no cseq
 * and is indexed by its correlation id, in a partial index that is empty
 * in a log whose causes come first. Measured on 1M events (make bench):
 * 8.3-9.3 s for a bare C insert with the text indexes, 4.8-5.3 s with
 * these.
 *
 * A log made by an earlier evt has text indexes ("id UNIQUE" and
 * events_correlationid) and keeps them: every operation checks which
 * layout it has (l->keyed).
 */
/*
 * issue 22: the last seq a writer committed, kept apart from the events
 * (as the PostgreSQL log's head row), so that events deleted from the end
 * read as a truncated log, and a writer refuses to append after them.
 * Made by the first writer of a log made before it.
 */
#define CHAIN_HEAD_SQL "CREATE TABLE IF NOT EXISTS chain_head(" \
	" one INTEGER PRIMARY KEY CHECK (one = 1), seq INTEGER NOT NULL);"

static const char schema[] =
	"CREATE TABLE IF NOT EXISTS events("
	" seq INTEGER PRIMARY KEY,"
	" id TEXT NOT NULL,"
	" idh INTEGER NOT NULL UNIQUE,"	/* id_key(id), or just after */
	" subject TEXT NOT NULL,"
	" version INTEGER NOT NULL,"
	" type TEXT NOT NULL,"
	" time TEXT NOT NULL,"
	" correlationid TEXT NOT NULL,"
	" cseq INTEGER,"		/* seq of the event whose id is correlationid */
	" body TEXT NOT NULL,"
	" hash BLOB,"		/* issue 15: h(seq) of the chain, chain.h */
	" UNIQUE(subject, version));"
	"CREATE INDEX IF NOT EXISTS events_cseq ON events(cseq) "
	" WHERE cseq IS NOT NULL;"
	"CREATE INDEX IF NOT EXISTS events_orphan ON events(correlationid) "
	" WHERE cseq IS NULL;"
	"CREATE TABLE IF NOT EXISTS checkpoints("
	" name TEXT PRIMARY KEY, seq INTEGER NOT NULL, updated TEXT NOT NULL);"
	CHAIN_HEAD_SQL;

/*
 * A memo of a number per short string, direct mapped, so the last ones
 * come back without a query: the seqs of the ids this connection stored
 * (an event finds its correlation's cseq when its cause came shortly
 * before, as it nearly always does), and the versions of the streams it
 * wrote to. Strings longer than MEMO_KEY are not kept.
 */
#define MEMO_SLOTS 8192
#define MEMO_KEY 52
struct memo_slot {
	long long val;		/* 0: empty */
	unsigned char len;
	char key[MEMO_KEY];
};

static struct memo_slot *
memo_slot(struct memo_slot **m, const char *key, size_t n)
{
	uint32_t h = 2166136261u;	/* FNV-1a */

	if (n > MEMO_KEY)
		return NULL;
	if (*m == NULL && (*m = calloc(MEMO_SLOTS, sizeof(**m))) == NULL)
		abort();
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)key[i]) * 16777619u;
	return &(*m)[h & (MEMO_SLOTS - 1)];
}

/* The number kept for key, or 0. */
static long long
memo_get(struct memo_slot **m, const char *key, size_t n)
{
	struct memo_slot *s = memo_slot(m, key, n);

	return s && s->val && s->len == n && memcmp(s->key, key, n) == 0 ?
	    s->val : 0;
}

static void
memo_put(struct memo_slot **m, const char *key, size_t n, long long val)
{
	struct memo_slot *s = memo_slot(m, key, n);

	if (s) {
		s->val = val;
		s->len = (unsigned char)n;
		memcpy(s->key, key, n);
	}
}

static void
memo_forget(struct memo_slot *m)
{
	if (m)
		memset(m, 0, MEMO_SLOTS * sizeof(*m));
}

struct sqlite_log {
	struct evt_log base;
	sqlite3 *db;
	sqlite3_stmt *ver, *ins, *hasid, *maxseq, *dataver;
	sqlite3_stmt *rd;		/* the last read query, reused */
	const struct evt_filter *rd_filter;
	int rd_reverse, rd_cside;
	long long rd_limit;
	long long last;			/* last seq, inside a transaction */
	/* issue 15: the hash chain (chain.h) */
	sqlite3_stmt *chain_get;
	struct evt_hasher *hs;
	unsigned char head[EVT_CHAIN_LEN];	/* h(last), in a transaction */
	int has_hash;			/* the hash column is known to exist */
	int has_head;			/* the chain_head table is known to */
	long long head_seq;		/* its seq when the transaction began */
	sqlite3_stmt *head_get, *head_set;
	int empty;			/* no schema yet: an empty log */
	int keyed;			/* layout: 1 keyed ids, 0 text, -1 unknown */
	sqlite3_stmt *seqof;		/* the seq of an id, keyed layout */
	/* Memos (MEMO_SLOTS each). Stored ids never change seq, so seqs
	 * stay true across other writers' commits; versions are forgotten
	 * when another connection wrote (data_version). A rollback forgets
	 * both. */
	struct memo_slot *seqs, *versions;
	long long data_version;
	struct evt_ahead *ahead;	/* hashes ahead (ahead.h), or NULL */
	int64_t busy_since;		/* ms, when the current wait began */
};

static int
dberr(struct sqlite_log *l, struct evt_err *err, const char *what)
{
	int rc = sqlite3_errcode(l->db);
	int code = EX_IOERR;

	if (rc == SQLITE_BUSY && l->base.intr && *l->base.intr)
		return evt_err_set(err, EX_TEMPFAIL, "%s: %s: interrupted while "
		    "waiting for another writer", l->base.path, what);
	if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
		code = EX_TEMPFAIL;
	return evt_err_set(err, code, "%s: %s: %s", l->base.path, what,
	    sqlite3_errmsg(l->db));
}

/*
 * Wait for another writer's lock: as sqlite3_busy_timeout does (short
 * sleeps, up to BUSY_TIMEOUT_MS), but give up at once when the program
 * was told to stop (evt_log_interrupt_on), so SIGTERM is not kept
 * waiting for a minute. Returns 1 to try again, 0 to give up (BUSY).
 */
static int
busy(void *arg, int n)
{
	struct sqlite_log *l = arg;
	struct timespec now;
	int64_t ms;

	if (l->base.intr && *l->base.intr)
		return 0;
	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
	if (n == 0)
		l->busy_since = ms;
	else if (ms - l->busy_since >= BUSY_TIMEOUT_MS)
		return 0;
	usleep(n < 10 ? 1000 : 10000);
	return 1;
}

static int
prep(struct sqlite_log *l, sqlite3_stmt **st, const char *sql,
    struct evt_err *err)
{
	if (*st)
		return 0;
	if (sqlite3_prepare_v3(l->db, sql, -1, SQLITE_PREPARE_PERSISTENT, st,
	    NULL) != SQLITE_OK)
		return dberr(l, err, "prepare");
	return 0;
}

static const struct evt_log_more_ops sq_more;

static void
sq_close(struct evt_log *base)
{
	struct sqlite_log *l = (struct sqlite_log *)base;

	evt_ahead_free(l->ahead);
	sqlite3_finalize(l->ver);
	sqlite3_finalize(l->ins);
	sqlite3_finalize(l->hasid);
	sqlite3_finalize(l->maxseq);
	sqlite3_finalize(l->rd);
	sqlite3_finalize(l->chain_get);	/* issue 15 */
	sqlite3_finalize(l->head_get);	/* issue 22 */
	sqlite3_finalize(l->head_set);
	sqlite3_finalize(l->seqof);
	sqlite3_finalize(l->dataver);
	free(l->seqs);
	free(l->versions);
	evt_hasher_free(l->hs);
	sqlite3_close(l->db);
	evt_log_fini(base);
	free(l);
}

/*
 * Make a new log: WAL mode and the schema. Several processes may race to
 * create one log, and switching to WAL takes a lock that SQLite's busy
 * handler does not wait for, so a busy answer is retried here.
 */
static int
setup(struct sqlite_log *l, char **msg)
{
	int rc = SQLITE_BUSY;

	for (int tries = 0; tries < BUSY_TIMEOUT_MS / 10; tries++) {
		sqlite3_free(*msg);
		*msg = NULL;
		rc = sqlite3_exec(l->db, "PRAGMA journal_mode=WAL;", NULL, NULL, msg);
		if (rc == SQLITE_OK)
			rc = sqlite3_exec(l->db, "BEGIN IMMEDIATE;", NULL, NULL, msg);
		if (rc == SQLITE_OK) {
			rc = sqlite3_exec(l->db, schema, NULL, NULL, msg);
			if (rc == SQLITE_OK)
				rc = sqlite3_exec(l->db, "COMMIT;", NULL, NULL, msg);
			if (rc != SQLITE_OK)
				sqlite3_exec(l->db, "ROLLBACK;", NULL, NULL, NULL);
		}
		if ((rc & 0xff) != SQLITE_BUSY && (rc & 0xff) != SQLITE_LOCKED)
			break;
		usleep(10000);
	}
	return rc;
}

/* Open path read-only through a URI ("file:" and the path, escaped). */
static int
open_readonly(struct sqlite_log *l, const char *path, struct evt_err *err)
{
	struct evt_buf uri = EVT_BUF_INIT;
	static const char *const modes[] = { "?mode=ro", "?immutable=1" };

	for (int m = 0; m < 2; m++) {
		evt_buf_reset(&uri);
		evt_buf_adds(&uri, "file:");
		for (const char *p = path; *p; p++) {
			if (*p == '?' || *p == '#' || *p == '%')
				evt_buf_printf(&uri, "%%%02X", (unsigned char)*p);
			else
				evt_buf_addc(&uri, *p);
		}
		evt_buf_adds(&uri, modes[m]);
		sqlite3_close(l->db);
		l->db = NULL;
		if (sqlite3_open_v2(uri.p, &l->db, SQLITE_OPEN_READONLY |
		    SQLITE_OPEN_URI, NULL) == SQLITE_OK &&
		    sqlite3_exec(l->db, "SELECT 1 FROM events LIMIT 0;", NULL,
		    NULL, NULL) == SQLITE_OK) {
			evt_buf_free(&uri);
			return 0;
		}
	}
	evt_buf_free(&uri);
	return evt_err_set(err, EX_IOERR, "%s: %s", path,
	    l->db ? sqlite3_errmsg(l->db) : "cannot open");
}

/* Whether the database has no schema at all (a new, empty file). */
static int
schema_empty(struct sqlite_log *l)
{
	sqlite3_stmt *st = NULL;
	int empty = 0;

	if (sqlite3_prepare_v2(l->db, "SELECT count(*) FROM sqlite_master;",
	    -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
		empty = sqlite3_column_int64(st, 0) == 0;
	sqlite3_finalize(st);
	return empty;
}

/*
 * Whether a log opened empty is still without events: 1, or 0 once its
 * first writer has made the schema (then it is read as any other).
 */
static int
still_empty(struct sqlite_log *l)
{
	if (!l->empty)
		return 0;
	if (sqlite3_exec(l->db, "SELECT 1 FROM events LIMIT 0;", NULL, NULL,
	    NULL) == SQLITE_OK)
		l->empty = 0;
	return l->empty;
}

static struct evt_log *
sq_open(const char *path, int flags, struct evt_err *err)
{
	struct sqlite_log *l = calloc(1, sizeof(*l));
	struct stat st;
	int oflags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;
	char *msg = NULL;

	if (l == NULL)
		abort();
	evt_log_init(&l->base, &evt_log_sqlite_ops, path, flags);
	l->base.more = &sq_more;
	l->keyed = -1;
	if (stat(path, &st) < 0) {
		if (!(flags & EVT_LOG_CREATE)) {
			evt_err_set(err, EX_NOINPUT, "%s: no such log", path);
			goto fail;
		}
		oflags |= SQLITE_OPEN_CREATE;
		/* Created here, 0600, because SQLite would make it 0644 and
		 * gives its -wal and -shm files the mode of the log: they
		 * all carry payment and personal data (DESIGN §3). */
		int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd >= 0)
			close(fd);
		else if (errno != EEXIST) {
			evt_err_set(err, EX_IOERR, "%s: %s", path, strerror(errno));
			goto fail;
		} else if (stat(path, &st) < 0) {
			/* The name is there, yet stat finds nothing: a link
			 * to nothing, which SQLite would follow and create. */
			evt_err_set(err, EX_CANTCREAT, "%s: a symbolic link to "
			    "nothing: refusing to create the log through it",
			    path);
			goto fail;
		}
	}
	if (!(oflags & SQLITE_OPEN_CREATE) && access(path, W_OK) < 0) {
		if (flags & EVT_LOG_CREATE) {
			evt_err_set(err, EX_IOERR, "%s: log is read-only", path);
			goto fail;
		}
		/* A reader without write access: WAL mode wants to create
		 * the -shm file, so read the file as it stands instead. */
		if (open_readonly(l, path, err) < 0)
			goto fail;
		return &l->base;
	}
	if (sqlite3_open_v2(path, &l->db, oflags, NULL) != SQLITE_OK) {
		evt_err_set(err, l->db ? EX_IOERR : EX_OSERR, "%s: %s", path,
		    l->db ? sqlite3_errmsg(l->db) : "cannot open");
		goto fail;
	}
	sqlite3_busy_handler(l->db, busy, l);
	/* WAL: readers and the writer do not block each other. FULL makes
	 * each commit durable (an fsync of the WAL); NOSYNC trades that. */
	if (sqlite3_exec(l->db, flags & EVT_LOG_NOSYNC ?
	    "PRAGMA synchronous=OFF;" : "PRAGMA synchronous=FULL;",
	    NULL, NULL, &msg) != SQLITE_OK)
		goto execfail;
	/* Measured on 1M events (make bench): 32 KiB pages and a 64 MiB WAL
	 * between checkpoints halve the write amplification of the random
	 * keys (ids, correlation ids) that every insert adds to the indexes.
	 * page_size only takes effect when the log is created. */
	sqlite3_exec(l->db, "PRAGMA page_size=32768; PRAGMA wal_autocheckpoint=2000;",
	    NULL, NULL, NULL);
	/* A big cache pays for writers, whose index pages are hit at
	 * random; a reader streams through pages once, and filling a big
	 * cache costs it a third of its speed (measured). */
	if (flags & EVT_LOG_CREATE)
		sqlite3_exec(l->db, "PRAGMA cache_size=-131072;", NULL, NULL, NULL);
	if (sqlite3_exec(l->db, "SELECT 1 FROM events LIMIT 0;", NULL, NULL,
	    NULL) == SQLITE_OK)
		;	/* an evt log already: nothing to set up */
	else if (!(flags & EVT_LOG_CREATE)) {
		/* A database with nothing in it yet is an empty log: the
		 * first writer may be creating it right now. */
		if (schema_empty(l))
			l->empty = 1;
		else if (sqlite3_exec(l->db, "SELECT 1 FROM events LIMIT 0;",
		    NULL, NULL, &msg) != SQLITE_OK)
			goto execfail;
		/* else the first writer made it an evt log meanwhile */
	} else if (setup(l, &msg) != SQLITE_OK)
		goto execfail;
	return &l->base;
execfail:
	evt_err_set(err, EX_IOERR, "%s: %s", path,
	    strstr(msg ? msg : "", "no such table") ? "not an evt log (no "
	    "events table)" : msg ? msg : sqlite3_errmsg(l->db));
	sqlite3_free(msg);
fail:
	sq_close(&l->base);
	return NULL;
}

static int
step_done(struct sqlite_log *l, sqlite3_stmt *st, struct evt_err *err,
    const char *what)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		return dberr(l, err, what);
	return 0;
}

/* --- issue 15: the hash chain ------------------------------------------- */

/* The connection's SHA-256 context: the chain's, and the id keys'. */
static struct evt_hasher *
hasher(struct sqlite_log *l)
{
	if (l->hs == NULL)
		l->hs = evt_hasher_new();
	return l->hs;
}


/*
 * Chain the events after seq from, chaining on from the hash stored with
 * from (from 0: 32 zero bytes): all of a log without a hash, or what the
 * operator re-chains (evt_log_rechain). l->head gets h(l->last).
 */
static int
chain_fill(struct sqlite_log *l, long long from, struct evt_err *err)
{
	sqlite3_stmt *q = NULL, *up = NULL;
	int rc, got = 0;

	memset(l->head, 0, EVT_CHAIN_LEN);
	if (from > 0) {
		if (prep(l, &q, "SELECT hash FROM events WHERE seq = ?1;",
		    err) < 0)
			return -1;
		sqlite3_bind_int64(q, 1, from);
		rc = sqlite3_step(q);
		if (rc == SQLITE_ROW && sqlite3_column_bytes(q, 0) ==
		    EVT_CHAIN_LEN) {
			memcpy(l->head, sqlite3_column_blob(q, 0),
			    EVT_CHAIN_LEN);
			got = 1;
		}
		sqlite3_finalize(q);
		q = NULL;
		if (rc != SQLITE_ROW && rc != SQLITE_DONE)
			return dberr(l, err, "read the chain");
		if (!got)
			return evt_err_set(err, EX_IOERR, "%s: seq %lld: no hash "
			    "to chain on from; re-chain from an earlier seq",
			    l->base.path, from);
	}
	if (prep(l, &q, "SELECT seq, body FROM events WHERE seq > ?1 ORDER BY "
	    "seq;", err) < 0 || prep(l, &up, "UPDATE events SET hash = ?1 "
	    "WHERE seq = ?2;", err) < 0)
		goto fail;
	sqlite3_bind_int64(q, 1, from);
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		long long seq = sqlite3_column_int64(q, 0);
		evt_chain_step(l->hs, l->head, seq,
		    (const char *)sqlite3_column_text(q, 1),
		    (size_t)sqlite3_column_bytes(q, 1), l->head);
		sqlite3_bind_blob(up, 1, l->head, EVT_CHAIN_LEN, SQLITE_STATIC);
		sqlite3_bind_int64(up, 2, seq);
		if (step_done(l, up, err, "chain the log") < 0)
			goto fail;
	}
	if (rc != SQLITE_DONE) {
		dberr(l, err, "chain the log");
		goto fail;
	}
	sqlite3_finalize(q);
	sqlite3_finalize(up);
	return 0;
fail:
	sqlite3_finalize(q);
	sqlite3_finalize(up);
	return -1;
}

/* One integer of a one-row query, or 0 when it has no row or is NULL. */
static int
query_ll(struct sqlite_log *l, const char *sql, long long *out,
    struct evt_err *err)
{
	sqlite3_stmt *q = NULL;
	int rc;

	*out = 0;
	if (prep(l, &q, sql, err) < 0)
		return -1;
	if ((rc = sqlite3_step(q)) == SQLITE_ROW)
		*out = sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return dberr(l, err, "read the chain");
	return 0;
}

/*
 * In a write transaction: l->head = h(l->last). The head's hash missing
 * or not a SHA-256 in a chained log is refused (log_impl.h, issue 22):
 * a log is chained here only when no event has a hash and none records
 * an earlier chaining.
 */
static int
chain_begin(struct sqlite_log *l, struct evt_err *err)
{
	long long hashed, rec;
	int rc, len;

	hasher(l);
	if (!l->has_hash) {
		if (sqlite3_exec(l->db, "SELECT hash FROM events LIMIT 0;", NULL,
		    NULL, NULL) != SQLITE_OK && sqlite3_exec(l->db, "ALTER TABLE "
		    "events ADD COLUMN hash BLOB;", NULL, NULL, NULL) != SQLITE_OK)
			return dberr(l, err, "add the hash column");
		l->has_hash = 1;
	}
	if (!l->has_head) {
		if (sqlite3_exec(l->db, CHAIN_HEAD_SQL, NULL, NULL, NULL) !=
		    SQLITE_OK)
			return dberr(l, err, "add the chain's head");
		l->has_head = 1;
	}
	if (prep(l, &l->head_get, "SELECT seq FROM chain_head;", err) < 0)
		return -1;
	rc = sqlite3_step(l->head_get);
	l->head_seq = rc == SQLITE_ROW ? sqlite3_column_int64(l->head_get, 0) : 0;
	sqlite3_reset(l->head_get);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return dberr(l, err, "read the chain's head");
	/* Events deleted from the end: the operator's repair (evt-verify
	 * --rechain) brings the head back to the last event; a writer does
	 * not, or the next append would hide the deletion. */
	if (l->head_seq > l->last && l->base.rechain_from == 0)
		return evt_err_set(err, EX_IOERR, "%s: seq %lld: log truncated: "
		    "the chain's head says seq %lld, the last event stored is "
		    "seq %lld; a writer does not repair a chain: see evt-verify "
		    "--rechain", l->base.path, l->last + 1, l->head_seq, l->last);
	memset(l->head, 0, EVT_CHAIN_LEN);
	if (l->last == 0)
		return 0;
	if (l->base.rechain_from > 0)
		return chain_fill(l, l->base.rechain_from - 1, err);
	if (prep(l, &l->chain_get, "SELECT hash FROM events WHERE seq = ?1;",
	    err) < 0)
		return -1;
	sqlite3_bind_int64(l->chain_get, 1, l->last);
	rc = sqlite3_step(l->chain_get);
	len = rc == SQLITE_ROW && sqlite3_column_type(l->chain_get, 0) !=
	    SQLITE_NULL ? sqlite3_column_bytes(l->chain_get, 0) : -1;
	if (len == EVT_CHAIN_LEN) {
		memcpy(l->head, sqlite3_column_blob(l->chain_get, 0),
		    EVT_CHAIN_LEN);
		sqlite3_reset(l->chain_get);
		return 0;
	}
	sqlite3_reset(l->chain_get);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return dberr(l, err, "read the chain's head");
	if (len >= 0)
		return evt_err_set(err, EX_IOERR, "%s: seq %lld: the stored "
		    "hash is not a SHA-256; a writer does not repair a chain: "
		    "see evt-verify --rechain", l->base.path, l->last);
	if (query_ll(l, "SELECT max(seq) FROM events WHERE hash IS NOT NULL;",
	    &hashed, err) < 0 || query_ll(l, "SELECT max(seq) FROM events "
	    "WHERE subject = '" EVT_CHAIN_SUBJECT "';", &rec, err) < 0)
		return -1;
	if (hashed > 0 || rec > 0)
		return evt_err_set(err, EX_IOERR, "%s: seq %lld: hash missing "
		    "in a chained log (%s); a writer does not repair a chain: "
		    "see evt-verify --rechain", l->base.path, hashed > 0 ? hashed + 1 :
		    l->last, hashed > 0 ? "the chain ends before it" :
		    "every hash removed");
	if (chain_fill(l, 0, err) < 0)
		return -1;
	l->base.chained_now = l->last;
	return 0;
}

/* The chain_read operation of log_impl.h. */
static int
sq_chain_read(struct evt_log *base, long long after, int *chained,
    long long *head, evt_chain_fn fn, void *arg, struct evt_err *err)
{
	struct sqlite_log *l = (struct sqlite_log *)base;
	sqlite3_stmt *q = NULL;
	int rc, cr = 0, ret = 0;

	*chained = 1;
	*head = -1;
	if (sqlite3_exec(l->db, "BEGIN;", NULL, NULL, NULL) != SQLITE_OK)
		return dberr(l, err, "begin read");
	/* issue 22: the head kept apart, in the same snapshot (none in a
	 * log no writer of this evt has written yet). */
	if (sqlite3_prepare_v2(l->db, "SELECT seq FROM chain_head;", -1, &q,
	    NULL) == SQLITE_OK) {
		if (sqlite3_step(q) == SQLITE_ROW)
			*head = sqlite3_column_int64(q, 0);
		sqlite3_finalize(q);
		q = NULL;
	}
	if (sqlite3_prepare_v2(l->db, "SELECT seq, body, hash FROM events "
	    "WHERE seq > ?1 ORDER BY seq;", -1, &q, NULL) != SQLITE_OK) {
		/* No hash column: a log made by an earlier evt. */
		*chained = 0;
		if (prep(l, &q, "SELECT seq, body, NULL FROM events WHERE "
		    "seq > ?1 ORDER BY seq;", err) < 0) {
			ret = -1;
			goto out;
		}
	}
	sqlite3_bind_int64(q, 1, after);
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		const unsigned char *h = NULL;
		if (sqlite3_column_bytes(q, 2) == EVT_CHAIN_LEN)
			h = sqlite3_column_blob(q, 2);
		cr = fn(arg, sqlite3_column_int64(q, 0),
		    (const char *)sqlite3_column_text(q, 1),
		    (size_t)sqlite3_column_bytes(q, 1), h);
		if (cr != 0)
			break;
	}
	if (cr < 0)
		ret = -1;
	else if (cr == 0 && rc != SQLITE_DONE)
		ret = dberr(l, err, "read");
out:
	sqlite3_finalize(q);
	sqlite3_exec(l->db, "COMMIT;", NULL, NULL, NULL);
	return ret;
}

/* --- end of issue 15 ----------------------------------------------------- */

static int
sq_begin(struct evt_log *base, struct evt_err *err)
{
	struct sqlite_log *l = (struct sqlite_log *)base;

	if (sqlite3_exec(l->db, "BEGIN IMMEDIATE;", NULL, NULL, NULL) != SQLITE_OK)
		return dberr(l, err, "begin");
	if (prep(l, &l->maxseq, "SELECT coalesce(max(seq), 0) FROM events;",
	    err) < 0)
		goto fail;
	if (sqlite3_step(l->maxseq) != SQLITE_ROW) {
		dberr(l, err, "read last seq");
		sqlite3_reset(l->maxseq);
		goto fail;
	}
	l->last = sqlite3_column_int64(l->maxseq, 0);
	sqlite3_reset(l->maxseq);
	/* Another connection wrote since our last transaction: the
	 * versions we kept may be behind. */
	if (prep(l, &l->dataver, "PRAGMA data_version;", err) < 0)
		goto fail;
	if (sqlite3_step(l->dataver) != SQLITE_ROW) {
		dberr(l, err, "read data version");
		sqlite3_reset(l->dataver);
		goto fail;
	}
	if (sqlite3_column_int64(l->dataver, 0) != l->data_version) {
		l->data_version = sqlite3_column_int64(l->dataver, 0);
		memo_forget(l->versions);
	}
	sqlite3_reset(l->dataver);
	if (!NO_CHAIN && chain_begin(l, err) < 0)	/* issue 15 */
		goto fail;
	return 0;
fail:
	sqlite3_exec(l->db, "ROLLBACK;", NULL, NULL, NULL);
	return -1;
}

/* Which layout the log has (the comment on schema): l->keyed. */
static int
keyed(struct sqlite_log *l)
{
	if (l->keyed < 0)
		l->keyed = sqlite3_exec(l->db, "SELECT idh, cseq FROM events "
		    "LIMIT 0;", NULL, NULL, NULL) == SQLITE_OK;
	return l->keyed;
}

/*
 * An id's key: 62 bits of evt_hash_key, so that key + KEY_PROBES fits.
 * Two ids with one key are told apart as in open addressing: the second
 * takes the first free key after it, so an id is looked for in
 * [key, key + KEY_PROBES). Keys are spread over 2^62 values: the next
 * one is nearly always far away.
 */
#define KEY_PROBES 64
#define KEY_RANGE "idh BETWEEN ?1 AND ?1 + 63"

static long long
id_key(struct sqlite_log *l, const char *id, size_t n)
{
	return (long long)((unsigned long long)evt_hash_key(hasher(l), id, n)
	    >> 2);
}

/*
 * Look for ev's id (keyed layout) from its key: *found 1 (then *same:
 * stored with ev's type) or 0 (then *slot: the key it may take).
 */
static int
probe(struct sqlite_log *l, const struct evt_event *ev, long long key,
    int *found, int *same, long long *slot, struct evt_err *err)
{
	long long want = key;
	int rc;

	*found = *same = 0;
	if (prep(l, &l->hasid, "SELECT idh, id, type FROM events WHERE "
	    KEY_RANGE " ORDER BY idh;", err) < 0)
		return -1;
	sqlite3_bind_int64(l->hasid, 1, key);
	while ((rc = sqlite3_step(l->hasid)) == SQLITE_ROW &&
	    sqlite3_column_int64(l->hasid, 0) == want) {
		const void *id = sqlite3_column_text(l->hasid, 1);
		const void *t = sqlite3_column_text(l->hasid, 2);
		if ((size_t)sqlite3_column_bytes(l->hasid, 1) == ev->id.n &&
		    memcmp(id, ev->id.p, ev->id.n) == 0) {
			*found = 1;
			*same = (size_t)sqlite3_column_bytes(l->hasid, 2) ==
			    ev->type.n && memcmp(t, ev->type.p, ev->type.n) == 0;
			break;
		}
		want++;
	}
	sqlite3_reset(l->hasid);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return dberr(l, err, "look up id");
	if (!*found && want >= key + KEY_PROBES)
		return evt_err_set(err, EX_IOERR, "%s: %d stored ids share the "
		    "key of %.*s: not an evt log's keys", l->base.path,
		    KEY_PROBES, (int)ev->id.n, ev->id.p);
	*slot = want;
	return 0;
}

/*
 * The cseq of an event (keyed layout): the seq of the stored event whose
 * id is its correlation id, its own seq when that is its own id, or 0 for
 * none (stored as NULL).
 */
static int
cseq_of(struct sqlite_log *l, const struct evt_event *ev, long long seq,
    long long *cseq, struct evt_err *err)
{
	const struct evt_str *c = &ev->corr;
	int rc;

	if (c->n == ev->id.n && memcmp(c->p, ev->id.p, c->n) == 0) {
		*cseq = seq;
		return 0;
	}
	if ((*cseq = memo_get(&l->seqs, c->p, c->n)) != 0)
		return 0;
	if (prep(l, &l->seqof, "SELECT seq FROM events WHERE " KEY_RANGE
	    " AND id = ?2;", err) < 0)
		return -1;
	sqlite3_bind_int64(l->seqof, 1, id_key(l, c->p, c->n));
	sqlite3_bind_text(l->seqof, 2, c->p, (int)c->n, SQLITE_STATIC);
	rc = sqlite3_step(l->seqof);
	*cseq = rc == SQLITE_ROW ? sqlite3_column_int64(l->seqof, 0) : 0;
	sqlite3_reset(l->seqof);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return dberr(l, err, "look up the correlation");
	if (*cseq)
		memo_put(&l->seqs, c->p, c->n, *cseq);
	return 0;
}

/* Whether ev's id is stored: *found, and 75 if with another type. */
static int
has_id(struct sqlite_log *l, const struct evt_event *ev, int *found,
    struct evt_err *err)
{
	int rc, same = 0;
	long long slot;

	if (l->keyed) {
		if (probe(l, ev, id_key(l, ev->id.p, ev->id.n), found, &same,
		    &slot, err) < 0)
			return -1;
		return *found ? evt_log_check_dup(ev, same, err) : 0;
	}
	if (prep(l, &l->hasid, "SELECT type FROM events WHERE id = ?1;",
	    err) < 0)
		return -1;
	sqlite3_bind_text(l->hasid, 1, ev->id.p, (int)ev->id.n, SQLITE_STATIC);
	rc = sqlite3_step(l->hasid);
	if (rc == SQLITE_ROW) {
		const void *t = sqlite3_column_text(l->hasid, 0);
		same = (size_t)sqlite3_column_bytes(l->hasid, 0) == ev->type.n &&
		    memcmp(t, ev->type.p, ev->type.n) == 0;
	}
	sqlite3_reset(l->hasid);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return dberr(l, err, "look up id");
	*found = rc == SQLITE_ROW;
	if (*found && evt_log_check_dup(ev, same, err) < 0)
		return -1;
	return 0;
}

/* Step the insert: 1 stored, 0 not (an id or key already stored). */
static int
insert(struct sqlite_log *l, struct evt_err *err)
{
	int rc = sqlite3_step(l->ins);

	sqlite3_reset(l->ins);
	if (rc != SQLITE_DONE)
		return dberr(l, err, "insert");
	return sqlite3_changes(l->db) != 0;
}

static int
sq_append(struct evt_log *base, struct evt_event *ev,
    const struct evt_expect *exp, int64_t now, const char *source,
    struct evt_err *err)
{
	struct sqlite_log *l = (struct sqlite_log *)base;
	long long cur, key = 0, cseq = 0;
	int found = 0, same, rc, k = keyed(l);
	unsigned char h[EVT_CHAIN_LEN];		/* issue 15 */

	/* A stored id is skipped before its expectation is checked, so
	 * re-running a pipeline stays harmless. Otherwise the insert finds
	 * it: the id (or its key) is unique. */
	if (exp && ev->id.p) {
		if (has_id(l, ev, &found, err) < 0)
			return -1;
		if (found)
			return EVT_APPEND_DUPLICATE;
	}
	if ((cur = memo_get(&l->versions, ev->subject.p, ev->subject.n)) == 0) {
		if (prep(l, &l->ver, "SELECT coalesce(max(version), 0) FROM "
		    "events WHERE subject = ?1;", err) < 0)
			return -1;
		sqlite3_bind_text(l->ver, 1, ev->subject.p, (int)ev->subject.n,
		    SQLITE_STATIC);
		if (sqlite3_step(l->ver) != SQLITE_ROW) {
			sqlite3_reset(l->ver);
			return dberr(l, err, "read stream version");
		}
		cur = sqlite3_column_int64(l->ver, 0);
		sqlite3_reset(l->ver);
	}
	if (exp && evt_log_check_expect(exp, ev->subject.p, ev->subject.n, cur,
	    err) < 0)
		return -1;
	evt_event_assign(ev, l->last + 1, cur + 1, now, source);
	if (k) {
		key = id_key(l, ev->id.p, ev->id.n);
		if (cseq_of(l, ev, ev->seq, &cseq, err) < 0)
			return -1;
	}
	if (!evt_ahead_take(l->ahead, ev, l->hs, l->head, h))
		evt_chain_step(l->hs, l->head, ev->seq, ev->body.p,
		    ev->body.len, h);
	if (k) {
		if (prep(l, &l->ins, "INSERT INTO events(seq, id, idh, subject, "
		    "version, type, time, correlationid, cseq, body, hash) "
		    "VALUES(?1, ?2, ?10, ?3, ?4, ?5, ?6, ?7, ?11, ?8, ?9) "
		    "ON CONFLICT(idh) DO NOTHING;", err) < 0)
			return -1;
		sqlite3_bind_int64(l->ins, 10, key);
		if (cseq)
			sqlite3_bind_int64(l->ins, 11, cseq);
		else
			sqlite3_bind_null(l->ins, 11);
	} else if (prep(l, &l->ins, "INSERT INTO events(seq, id, subject, "
	    "version, type, time, correlationid, body, hash) VALUES(?1, ?2, "
	    "?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT(id) DO NOTHING;", err) < 0)
		return -1;
	sqlite3_bind_int64(l->ins, 1, ev->seq);
	sqlite3_bind_text(l->ins, 2, ev->id.p, (int)ev->id.n, SQLITE_STATIC);
	sqlite3_bind_text(l->ins, 3, ev->subject.p, (int)ev->subject.n,
	    SQLITE_STATIC);
	sqlite3_bind_int64(l->ins, 4, ev->version);
	sqlite3_bind_text(l->ins, 5, ev->type.p, (int)ev->type.n, SQLITE_STATIC);
	sqlite3_bind_text(l->ins, 6, ev->timebuf, EVT_TIME_LEN, SQLITE_STATIC);
	sqlite3_bind_text(l->ins, 7, ev->corr.p, (int)ev->corr.n, SQLITE_STATIC);
	sqlite3_bind_text(l->ins, 8, ev->body.p, (int)ev->body.len,
	    SQLITE_STATIC);
	if (NO_CHAIN)
		sqlite3_bind_null(l->ins, 9);
	else
		sqlite3_bind_blob(l->ins, 9, h, EVT_CHAIN_LEN, SQLITE_STATIC);
	if ((rc = insert(l, err)) < 0)
		return -1;
	if (rc == 0 && !k)
		return has_id(l, ev, &found, err) < 0 ? -1 :
		    EVT_APPEND_DUPLICATE;
	if (rc == 0) {
		/* The key is taken: by this id (a repeat), or by another
		 * (then this one takes the next free key). */
		if (probe(l, ev, key, &found, &same, &key, err) < 0)
			return -1;
		if (found)
			return evt_log_check_dup(ev, same, err) < 0 ? -1 :
			    EVT_APPEND_DUPLICATE;
		sqlite3_bind_int64(l->ins, 10, key);
		if ((rc = insert(l, err)) < 0)
			return -1;
		if (rc == 0)
			return evt_err_set(err, EX_IOERR, "%s: insert: key %lld "
			    "taken", base->path, key);
	}
	if (k)
		memo_put(&l->seqs, ev->id.p, ev->id.n, ev->seq);
	memo_put(&l->versions, ev->subject.p, ev->subject.n, ev->version);
	l->last++;
	memcpy(l->head, h, EVT_CHAIN_LEN);	/* issue 15 */
	return EVT_APPEND_STORED;
}

static void
sq_rollback(struct evt_log *base)
{
	struct sqlite_log *l = (struct sqlite_log *)base;

	sqlite3_exec(l->db, "ROLLBACK;", NULL, NULL, NULL);
	/* What was stored in the transaction is not: forget its seqs. */
	memo_forget(l->seqs);
	memo_forget(l->versions);
}

static int
sq_commit(struct evt_log *base, struct evt_err *err)
{
	struct sqlite_log *l = (struct sqlite_log *)base;

	/* issue 22: the head moves with the events, in their transaction. */
	if (!NO_CHAIN && l->has_head && l->last != l->head_seq) {
		if (prep(l, &l->head_set, "INSERT OR REPLACE INTO chain_head "
		    "VALUES (1, ?1);", err) < 0)
			goto fail;
		sqlite3_bind_int64(l->head_set, 1, l->last);
		if (step_done(l, l->head_set, err, "commit") < 0)
			goto fail;
		l->head_seq = l->last;
	}
	if (sqlite3_exec(l->db, "COMMIT;", NULL, NULL, NULL) != SQLITE_OK) {
		dberr(l, err, "commit");
		goto fail;
	}
	return 0;
fail:
	sq_rollback(base);
	return -1;
}

static void
add_in(struct evt_buf *sql, const char *col, size_t n, int *param)
{
	evt_buf_printf(sql, " AND %s IN (", col);
	for (size_t i = 0; i < n; i++)
		evt_buf_printf(sql, "%s?%d", i ? ", " : "", (*param)++);
	evt_buf_adds(sql, ")");
}

/*
 * Build the query for r. Subjects, correlations, exact types, seq and time
 * bounds become indexed SQL; a category c is the range of subjects
 * [c-, c.) plus c itself ('.' follows '-' in every collation SQLite uses
 * here, BINARY), so it rides the (subject, version) index too. Type globs
 * are left to C (fnmatch and SQLite's GLOB differ on [!...]).
 */
static int
build_read(struct sqlite_log *l, const struct evt_read *r, long long snap,
    struct evt_err *err)
{
	const struct evt_filter *f = r->filter;
	struct evt_buf sql = EVT_BUF_INIT;
	int param = 3, cside = 0;
	char t[EVT_TIME_LEN + 1];

	for (size_t i = 0; f && i < f->types.n; i++)
		cside |= evt_glob_has_meta(f->types.v[i]);
	if (l->rd && l->rd_filter == f && l->rd_reverse == r->reverse &&
	    l->rd_limit == r->limit) {
		sqlite3_reset(l->rd);
		sqlite3_bind_int64(l->rd, 1, r->after);
		sqlite3_bind_int64(l->rd, 2, snap);
		return 0;
	}
	sqlite3_finalize(l->rd);
	l->rd = NULL;
	evt_buf_adds(&sql, "SELECT seq, body, type FROM events WHERE seq > ?1 "
	    "AND seq <= ?2");
	if (f) {
		if (f->from)
			evt_buf_printf(&sql, " AND seq >= %lld", f->from);
		if (f->to)
			evt_buf_printf(&sql, " AND seq <= %lld", f->to);
		if (f->subjects.n)
			add_in(&sql, "subject", f->subjects.n, &param);
		if (f->categories.n) {
			evt_buf_adds(&sql, " AND (");
			for (size_t i = 0; i < f->categories.n; i++, param += 3)
				evt_buf_printf(&sql, "%s(subject = ?%d OR "
				    "(subject >= ?%d AND subject < ?%d))",
				    i ? " OR " : "", param, param + 1, param + 2);
			evt_buf_adds(&sql, ")");
		}
		if (f->corrs.n && keyed(l)) {
			/* The events whose cseq is the seq of the event with
			 * that id, and those stored before it (no cseq). The
			 * id is found by its key, a hash: a reader that hashes
			 * nothing else loads libcrypto here (crypto_load.h). */
			if (evt_crypto_load(l->base.path, err) < 0) {
				evt_buf_free(&sql);
				return -1;
			}
			evt_buf_adds(&sql, " AND seq IN (SELECT seq FROM events "
			    "WHERE cseq IN (SELECT seq FROM events WHERE ");
			for (size_t i = 0; i < f->corrs.n; i++)
				evt_buf_printf(&sql, "%s(idh BETWEEN ?%d AND ?%d "
				    "+ %d AND id = ?%d)", i ? " OR " : "",
				    param + 2 * (int)i, param + 2 * (int)i,
				    KEY_PROBES - 1, param + 2 * (int)i + 1);
			evt_buf_adds(&sql, ") UNION ALL SELECT seq FROM events "
			    "WHERE cseq IS NULL AND correlationid IN (");
			for (size_t i = 0; i < f->corrs.n; i++)
				evt_buf_printf(&sql, "%s?%d", i ? ", " : "",
				    param + 2 * (int)i + 1);
			evt_buf_adds(&sql, "))");
			param += 2 * (int)f->corrs.n;
		} else if (f->corrs.n)
			add_in(&sql, "correlationid", f->corrs.n, &param);
		if (f->types.n && !cside)
			add_in(&sql, "type", f->types.n, &param);
		if (f->has_since)
			evt_buf_printf(&sql, " AND time >= ?%d", param++);
		if (f->has_until)
			evt_buf_printf(&sql, " AND time < ?%d", param++);
	}
	evt_buf_adds(&sql, r->reverse ? " ORDER BY seq DESC" : " ORDER BY seq");
	if (r->limit && !cside)
		evt_buf_printf(&sql, " LIMIT %lld", r->limit);
	if (sqlite3_prepare_v3(l->db, sql.p, -1, SQLITE_PREPARE_PERSISTENT,
	    &l->rd, NULL) != SQLITE_OK) {
		evt_buf_free(&sql);
		return dberr(l, err, "prepare read");
	}
	evt_buf_free(&sql);
	sqlite3_bind_int64(l->rd, 1, r->after);
	sqlite3_bind_int64(l->rd, 2, snap);
	param = 3;
	if (f) {
		for (size_t i = 0; i < f->subjects.n; i++)
			sqlite3_bind_text(l->rd, param++, f->subjects.v[i], -1,
			    SQLITE_STATIC);
		for (size_t i = 0; i < f->categories.n; i++) {
			const char *c = f->categories.v[i];
			sqlite3_bind_text(l->rd, param++, c, -1, SQLITE_STATIC);
			sqlite3_bind_text(l->rd, param++,
			    sqlite3_mprintf("%s-", c), -1, sqlite3_free);
			sqlite3_bind_text(l->rd, param++,
			    sqlite3_mprintf("%s.", c), -1, sqlite3_free);
		}
		for (size_t i = 0; i < f->corrs.n; i++) {
			const char *c = f->corrs.v[i];
			if (l->keyed)
				sqlite3_bind_int64(l->rd, param++, id_key(l, c,
				    strlen(c)));
			sqlite3_bind_text(l->rd, param++, c, -1, SQLITE_STATIC);
		}
		for (size_t i = 0; !cside && i < f->types.n; i++)
			sqlite3_bind_text(l->rd, param++, f->types.v[i], -1,
			    SQLITE_STATIC);
		if (f->has_since) {
			evt_time_format(f->since, t);
			sqlite3_bind_text(l->rd, param++, t, -1, SQLITE_TRANSIENT);
		}
		if (f->has_until) {
			evt_time_format(f->until, t);
			sqlite3_bind_text(l->rd, param++, t, -1, SQLITE_TRANSIENT);
		}
	}
	l->rd_filter = f;
	l->rd_reverse = r->reverse;
	l->rd_limit = r->limit;
	l->rd_cside = cside;
	return 0;
}

static int
sq_read(struct evt_log *base, struct evt_read *r, evt_log_fn fn, void *arg,
    struct evt_err *err)
{
	struct sqlite_log *l = (struct sqlite_log *)base;
	long long snap, n = 0;
	int rc, ret = 0;

	if (still_empty(l))
		return 0;
	/* One read transaction: the query and the snapshot's last seq see
	 * the same committed state, so `scanned` is exact. */
	if (sqlite3_exec(l->db, "BEGIN;", NULL, NULL, NULL) != SQLITE_OK)
		return dberr(l, err, "begin read");
	if (prep(l, &l->maxseq, "SELECT coalesce(max(seq), 0) FROM events;",
	    err) < 0 || sqlite3_step(l->maxseq) != SQLITE_ROW) {
		ret = l->maxseq ? dberr(l, err, "read last seq") : -1;
		sqlite3_reset(l->maxseq);
		goto out;
	}
	snap = sqlite3_column_int64(l->maxseq, 0);
	sqlite3_reset(l->maxseq);
	if (build_read(l, r, snap, err) < 0) {
		ret = -1;
		goto out;
	}
	while ((rc = sqlite3_step(l->rd)) == SQLITE_ROW) {
		long long seq = sqlite3_column_int64(l->rd, 0);
		if (l->rd_cside && !evt_filter_type(&r->filter->types,
		    (const char *)sqlite3_column_text(l->rd, 2),
		    (size_t)sqlite3_column_bytes(l->rd, 2)))
			continue;
		const char *body = (const char *)sqlite3_column_text(l->rd, 1);
		int cr = fn(arg, seq, body, (size_t)sqlite3_column_bytes(l->rd, 1));
		if (cr < 0) {
			ret = -1;
			goto out;
		}
		n++;
		if (cr > 0 || (r->limit && n >= r->limit)) {
			if (!r->reverse)
				snap = seq;
			break;
		}
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		ret = dberr(l, err, "read");
	else if (snap > r->scanned)
		r->scanned = snap;
out:
	if (l->rd)
		sqlite3_reset(l->rd);
	sqlite3_exec(l->db, "COMMIT;", NULL, NULL, NULL);
	return ret;
}

static int
sq_last_seq(struct evt_log *base, long long *seq, struct evt_err *err)
{
	struct sqlite_log *l = (struct sqlite_log *)base;

	if (still_empty(l)) {
		*seq = 0;
		return 0;
	}
	if (prep(l, &l->maxseq, "SELECT coalesce(max(seq), 0) FROM events;",
	    err) < 0)
		return -1;
	if (sqlite3_step(l->maxseq) != SQLITE_ROW) {
		sqlite3_reset(l->maxseq);
		return dberr(l, err, "read last seq");
	}
	*seq = sqlite3_column_int64(l->maxseq, 0);
	sqlite3_reset(l->maxseq);
	return 0;
}

static int
sq_ckpt_get(struct evt_log *base, const char *name, long long *seq,
    struct evt_err *err)
{
	struct sqlite_log *l = (struct sqlite_log *)base;
	sqlite3_stmt *st = NULL;
	int rc;

	if (still_empty(l))
		return 1;
	if (prep(l, &st, "SELECT seq FROM checkpoints WHERE name = ?1;", err) < 0)
		return -1;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*seq = sqlite3_column_int64(st, 0);
	else if (rc != SQLITE_DONE)
		dberr(l, err, "read checkpoint");
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? 1 : -1;
}

static int
sq_ckpt_set(struct evt_log *base, const char *name, long long seq,
    struct evt_err *err)
{
	struct sqlite_log *l = (struct sqlite_log *)base;
	sqlite3_stmt *st = NULL;
	char now[EVT_TIME_LEN + 1];
	int64_t ms;

	if (still_empty(l))
		return evt_err_set(err, EX_TEMPFAIL, "%s: no events table yet: "
		    "a log is made by its first writer", base->path);
	if (evt_clock_now(&ms, err) < 0)
		return -1;
	evt_time_format(ms, now);
	if (prep(l, &st, "INSERT INTO checkpoints(name, seq, updated) "
	    "VALUES(?1, ?2, ?3) ON CONFLICT(name) DO UPDATE SET "
	    "seq = excluded.seq, updated = excluded.updated;", err) < 0)
		return -1;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, seq);
	sqlite3_bind_text(st, 3, now, -1, SQLITE_STATIC);
	int rc = step_done(l, st, err, "write checkpoint");
	sqlite3_finalize(st);
	return rc;
}

/*
 * The ahead operation of log_impl.h: guess that evs will all be stored
 * as new events, at the seqs after the last and the versions the memo
 * has (a stream not in it is guessed new), and have their chain hashed
 * ahead on another thread while the ones before are stored. sq_append
 * takes a hash only when its guess was right (ahead.h).
 */
static long long
memo_version(void *arg, const char *subject, size_t n)
{
	return memo_get(&((struct sqlite_log *)arg)->versions, subject, n);
}

static void
sq_ahead(struct evt_log *base, struct evt_event **evs, size_t n,
    int64_t now_ms, const char *source)
{
	struct sqlite_log *l = (struct sqlite_log *)base;

	if (!NO_CHAIN)
		evt_ahead_post(&l->ahead, evs, n, l->last + 1, memo_version, l,
		    l->head, now_ms, source);
}

static void
sq_ahead_end(struct evt_log *base)
{
	evt_ahead_end(((struct sqlite_log *)base)->ahead);
}

static const struct evt_log_more_ops sq_more = {
	NULL, NULL, NULL, NULL, NULL, sq_ahead, sq_ahead_end, NULL
};

const struct evt_log_ops evt_log_sqlite_ops = {
	"sqlite", sq_open, sq_close, sq_begin, sq_append, sq_commit,
	sq_rollback, sq_read, sq_last_seq, sq_ckpt_get, sq_ckpt_set,
	sq_chain_read
};
