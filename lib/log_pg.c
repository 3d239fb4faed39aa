/*
 * log_pg.c - the PostgreSQL backend: one log shared by writers and
 * readers on any number of hosts, through libpq.
 *
 * Tables (created on first use, in the first schema of search_path, with
 * the schema's version in evt_meta):
 *   evt_head         one row: the last seq, where the log starts (after
 *                    archiving), the partition size and the first seq no
 *                    partition holds yet
 *   evt_events       the stored lines and the columns replay filters on,
 *                    partitioned by seq range; each partition has unique
 *                    indexes on id and on (subject, version); hash is
 *                    h(seq) of the chain (chain.h)
 *   evt_ids          the ids of archived events, and evt_streams the last
 *                    versions of archived streams (scripts/pg-archive),
 *                    so that ids stay unique across partitions and versions
 *                    go on after the events that made them are archived
 *   evt_checkpoints  named reader positions
 *   evt_archives     ranges exported and detached by scripts/pg-archive,
 *                    with h(last) of each, from which the chain of the
 *                    events left goes on (schema version 2)
 *
 * Writers are serialised on the head row (READ COMMITTED, SELECT ... FOR
 * UPDATE) and hold it until they commit, so seq is gap-free and commit
 * order is seq order: a reader that has seen seq N has seen every seq
 * below it, and `seq > last` loses nothing. A sequence would not do:
 * its numbers are taken before commit, so a follower could pass a number
 * whose transaction has not committed yet and never look back.
 *
 * Inside a write transaction nothing but this writer changes the log, so
 * what it learns (ids, stream versions) stays true until it commits, and
 * it is the writer's check under the lock, across every partition and the
 * archived ids, that keeps an id unique in the whole log (a unique index
 * on a partitioned table must include the partition key). The rows it
 * appends are streamed in bulk (one binary COPY left open while it makes
 * them, ended before anything else is said on the connection, at 64 MB
 * and when the input pauses), not one statement each; nothing else is
 * written per event, so an append costs the server what loading the same
 * rows would. What it must learn first goes meanwhile, a batch at a time
 * and a batch ahead (pg_prefetch), to a second connection, which sees
 * the committed log: under the lock, that is the whole log but for the
 * open transaction's own appends, whose ids and versions the writer keeps
 * until it commits.
 *
 * The chain (chain.h) is computed by the writer under the same lock: it
 * reads h(head) when it begins and carries it through its appends, each
 * row's hash going out in the COPY with the row. A log made before the
 * chain (no hash at all, no record of a chaining) is chained in place by
 * the first write transaction, once; any other log whose h(head) is
 * missing is refused (chain_begin, issue 22).
 */
#include <arpa/inet.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "chain.h"
#include "clock.h"
#include "hmap.h"
#include "log_impl.h"

/* 1: as made before the chain; 2: evt_archives keeps h(last). Version
 * 1 is upgraded to 2 when it is opened. */
#define SCHEMA_VERSION 2
#define PART_SIZE_DEFAULT 1000000
#define FLUSH_BYTES (64u << 20)	/* rows a COPY statement carries at most */
#define STREAM_BYTES (256u << 10)	/* rows sent at a time */
#define VERS_MAX 65536		/* stream versions kept between commits */
#define FILL_SLICE 100000	/* events chained at a time by an upgrade */
#define ID_PENDING (-4)		/* in ids: asked (bit 1 clear: no type tag) */
#define VERS_PENDING (-1)	/* in vers: asked */

/*
 * Defaults for timeouts the URL (options=-c...) or the server leave at 0
 * (none): a writer waits for the head row at most LOCK_TIMEOUT, and a
 * session that sits in a transaction doing nothing for IDLE_TIMEOUT is
 * ended by the server, so a writer that hangs holding the lock (stopped,
 * or stuck on its input with --atomic) cannot stop the others for long.
 */
#define LOCK_TIMEOUT "60s"
#define IDLE_TIMEOUT "30s"
#define STATEMENT_TIMEOUT "120s"

struct pg_log {
	struct evt_log base;
	PGconn *conn;
	PGconn *look;		/* prefetches, while conn holds the lock */
	PGconn *aconn;		/* where the prefetch in flight went */
	int nolook;		/* look cannot be had: prefetches use conn */
	int copying;		/* a COPY into evt_events is open on conn */
	size_t copied;		/* the bytes it carried */
	char *conninfo;		/* the URL as given: may hold a password,
				 * so it is never put in a message */
	char *chan;		/* the quoted LISTEN/NOTIFY channel */
	char *origin;		/* evt_log_origin's: the name and, past
				 * "public", the schema */
	int listening;
	int prepared;		/* statements prepared on this connection */
	long long head;		/* the last seq, inside a write transaction */
	long long began;	/* the head when it began */
	long long known;	/* the head after our last commit: the caches
				 * below hold while the head is still there */
	long long part_size, part_upto;
	struct evt_hmap vers;	/* subject -> version */
	struct evt_hmap ids;	/* ids the open transaction knows of: 0 not
				 * stored, else stored (by it too), as the
				 * tag of its type; ID_PENDING asked by the
				 * prefetch in flight */
	int inflight;		/* a prefetch's answer is still to be read */
	struct evt_buf asked;	/* the ids it asked for, each after its
				 * length (a size_t) */
	struct evt_buf rows;	/* binary COPY data not yet sent */
	long long nrows;
	struct evt_hasher *hs;	/* the chain (chain.h) */
	unsigned char chain[EVT_CHAIN_LEN];	/* h(head), in a write
						 * transaction */
};

static const char copy_header[19] = "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0";

/*
 * SQLSTATEs worth retrying: connection exceptions (08), serialisation
 * failures and deadlocks (40), a lock or statement timeout (55P03, 57014),
 * a server shutting down or restarting (57P01-57P03).
 */
static int
temporary(const char *state)
{
	if (state == NULL)
		return 1;	/* no answer at all: the connection went */
	return strncmp(state, "08", 2) == 0 || strncmp(state, "40", 2) == 0 ||
	    strcmp(state, "55P03") == 0 || strcmp(state, "57014") == 0 ||
	    strncmp(state, "57P0", 4) == 0;
}

/* The first line of libpq's message, without "ERROR:  " and newlines. */
static void
pq_message(const char *m, char *out, size_t cap)
{
	size_t n;

	if (m == NULL || *m == '\0')
		m = "no answer from the server";
	if (strncmp(m, "ERROR:  ", 8) == 0)
		m += 8;
	else if (strncmp(m, "FATAL:  ", 8) == 0)
		m += 8;
	n = strcspn(m, "\n");
	if (n >= cap)
		n = cap - 1;
	memcpy(out, m, n);
	out[n] = '\0';
}

/*
 * libpq's notice processor: a notice or warning from the server goes to
 * the program's handler as one line, "warning: what" (issue 22: libpq's
 * default printed it raw on stderr, and PQsetNoticeProcessor(c, NULL,
 * NULL) changes nothing).
 */
static void
on_notice(void *arg, const char *m)
{
	struct pg_log *l = arg;
	char msg[400], sev[16];
	size_t n = 0;
	const char *colon = strstr(m, ":  ");

	sev[0] = '\0';
	if (colon && colon - m < (ptrdiff_t)sizeof(sev) - 1) {
		for (const char *p = m; p < colon; p++)
			sev[n++] = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
		sev[n] = '\0';
		m = colon + 3;
	}
	n = strcspn(m, "\n");
	snprintf(msg, sizeof(msg), "%s%s%.*s", sev, *sev ? ": " : "",
	    (int)(n > 300 ? 300 : n), m);
	evt_log_notice(&l->base, msg);
}

/* Fill err from res (or the connection c), then clear res. Returns -1. */
static int
pgerr_on(struct pg_log *l, PGconn *c, PGresult *res, struct evt_err *err,
    const char *what)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *m = res ? PQresultErrorMessage(res) : NULL;
	char msg[300];
	int code = EX_IOERR;

	if (m == NULL || *m == '\0')
		m = c ? PQerrorMessage(c) : NULL;
	pq_message(m, msg, sizeof(msg));
	if (c == NULL || PQstatus(c) == CONNECTION_BAD) {
		code = EX_TEMPFAIL;
		evt_err_set(err, code, "%s: %s: connection lost: %s", l->base.path,
		    what, msg);
	} else {
		if (temporary(state))
			code = EX_TEMPFAIL;
		evt_err_set(err, code, "%s: %s: %s", l->base.path, what, msg);
	}
	PQclear(res);
	return -1;
}

static int
pgerr(struct pg_log *l, PGresult *res, struct evt_err *err, const char *what)
{
	return pgerr_on(l, l->conn, res, err, what);
}

static int copy_close(struct pg_log *, struct evt_err *);
static int settle(struct pg_log *, struct evt_err *);
static void discard(struct pg_log *);

/* Run sql (one or more statements, no parameters); -1 with err unless
 * each ends as want. */
static int
exec(struct pg_log *l, const char *sql, ExecStatusType want,
    struct evt_err *err, const char *what)
{
	PGresult *res;

	if (copy_close(l, err) < 0)
		return -1;
	res = PQexec(l->conn, sql);
	if (PQresultStatus(res) != want)
		return pgerr(l, res, err, what);
	PQclear(res);
	return 0;
}

/* The value of keyword in o (parsed by PQconninfoParse), or NULL. */
static const char *
opt_val(const PQconninfoOption *o, const char *keyword)
{
	for (; o && o->keyword; o++)
		if (strcmp(o->keyword, keyword) == 0)
			return o->val && *o->val ? o->val : NULL;
	return NULL;
}

/*
 * Why libpq could not parse a URL, in words of our own: its message quotes
 * the token it choked on, or the whole URL, password and all (issue 22),
 * so it is never shown; its English prefixes are only matched.
 */
static const char *
parse_reason(const char *m)
{
	if (m == NULL)
		return "libpq cannot parse it";
	if (strstr(m, "percent-encod"))
		return "a bad percent-encoding (% and two hex digits)";
	if (strstr(m, "IPv6") || strstr(m, "\"]\""))
		return "an IPv6 host whose [ is not closed";
	if (strstr(m, "query parameter") || strstr(m, "connection option"))
		return "an unknown parameter";
	if (strstr(m, "port"))
		return "a bad port";
	return "libpq cannot parse it";
}

/*
 * The name of the log fit to print, a new string: the URL's scheme, user,
 * host, port and database as libpq parsed them, nothing else (never a
 * password, whichever way it was given: userinfo, ?password=, a key
 * percent-encoded), or NULL with err when libpq cannot parse url.
 */
static char *
display_name(const char *url, struct evt_err *err)
{
	struct evt_buf b = EVT_BUF_INIT;
	PQconninfoOption *o;
	char *msg = NULL;
	const char *user, *host, *port, *db, *pw;

	o = PQconninfoParse(url, &msg);
	if (o == NULL) {
		evt_err_set(err, EX_USAGE, "%s: not a PostgreSQL URL that libpq "
		    "can parse: %s (the URL is not shown: it may hold a "
		    "password)", strncmp(url, "postgresql:", 11) == 0 ?
		    "postgresql://..." : "postgres://...", parse_reason(msg));
		PQfreemem(msg);
		return NULL;
	}
	user = opt_val(o, "user");
	host = opt_val(o, "host");
	if (host == NULL)
		host = opt_val(o, "hostaddr");
	port = opt_val(o, "port");
	db = opt_val(o, "dbname");
	pw = opt_val(o, "password");
	evt_buf_adds(&b, strncmp(url, "postgresql:", 11) == 0 ?
	    "postgresql://" : "postgres://");
	if (user) {
		evt_buf_adds(&b, user);
		evt_buf_addc(&b, '@');
	}
	if (host && strchr(host, ':') && !strchr(host, ',')) {
		evt_buf_addc(&b, '[');
		evt_buf_adds(&b, host);
		evt_buf_addc(&b, ']');
	} else if (host)
		evt_buf_adds(&b, host);
	if (port) {
		evt_buf_addc(&b, ':');
		evt_buf_adds(&b, port);
	}
	if (db) {
		evt_buf_addc(&b, '/');
		evt_buf_adds(&b, db);
	}
	/* Should libpq ever take part of a password for another field,
	 * still never print it. */
	if (pw && strstr(b.p, pw)) {
		evt_buf_reset(&b);
		evt_buf_adds(&b, "postgres://(not shown)");
	}
	PQconninfoFree(o);
	return b.p;
}

int
evt_log_hide_password(char *spec)
{
	PQconninfoOption *o;
	char *shown;
	size_t n, m;
	int has;

	if (spec == NULL || (strncmp(spec, "postgres://", 11) != 0 &&
	    strncmp(spec, "postgresql://", 13) != 0))
		return 0;
	if ((o = PQconninfoParse(spec, NULL)) == NULL)
		has = 1;	/* cannot tell: hide it all */
	else {
		has = opt_val(o, "password") != NULL;
		PQconninfoFree(o);
	}
	if (!has)
		return 0;
	/* As curl does: the argument's own bytes, which ps(1) shows. */
	n = strlen(spec);
	shown = display_name(spec, NULL);
	m = shown ? strlen(shown) : 0;
	if (m > n)
		m = 0;
	memset(spec, 0, n);
	if (m)
		memcpy(spec, shown, m);
	free(shown);
	return 1;
}

static void
forget(struct pg_log *l)
{
	discard(l);
	evt_hmap_clear(&l->vers);
	evt_hmap_clear(&l->ids);
	evt_buf_reset(&l->rows);
	l->nrows = 0;
	l->known = -1;
}

static const char schema_sql[] =
	"CREATE TABLE evt_meta(key text PRIMARY KEY, value text NOT NULL);"
	"CREATE TABLE evt_head(one boolean PRIMARY KEY DEFAULT true CHECK (one),"
	" seq bigint NOT NULL, start bigint NOT NULL, part_size bigint NOT NULL,"
	" part_upto bigint NOT NULL);"
	"CREATE TABLE evt_events(seq bigint NOT NULL,"
	" id text COLLATE \"C\" NOT NULL, subject text COLLATE \"C\" NOT NULL,"
	" version bigint NOT NULL, type text COLLATE \"C\" NOT NULL,"
	" time text COLLATE \"C\" NOT NULL,"
	" correlationid text COLLATE \"C\" NOT NULL, body text NOT NULL,"
	" hash bytea, PRIMARY KEY (seq)) PARTITION BY RANGE (seq);"
	"CREATE INDEX evt_events_correlationid ON evt_events(correlationid);"
	"CREATE INDEX evt_events_type ON evt_events(type);"
	"CREATE INDEX evt_events_time ON evt_events(time);"
	"CREATE TABLE evt_ids(id text COLLATE \"C\" PRIMARY KEY,"
	" seq bigint NOT NULL);"
	"CREATE TABLE evt_streams(subject text COLLATE \"C\" PRIMARY KEY,"
	" version bigint NOT NULL);"
	"CREATE TABLE evt_checkpoints(name text PRIMARY KEY,"
	" seq bigint NOT NULL, updated timestamptz NOT NULL);"
	"CREATE TABLE evt_archives(first bigint PRIMARY KEY, last bigint NOT NULL,"
	" count bigint NOT NULL, file text NOT NULL, at timestamptz NOT NULL,"
	" hash bytea);";

/* From version 1, made before the chain: the hash kept at an archive's
 * boundary. Its events are chained by the first write (chain_fill). */
static const char upgrade_sql[] =
	"ALTER TABLE evt_archives ADD COLUMN IF NOT EXISTS hash bytea;"
	"UPDATE evt_meta SET value = '2' WHERE key = 'schema';";

/*
 * Make the partition for [from, from + size) and attach it. A table made
 * apart and then attached takes only a SHARE UPDATE EXCLUSIVE lock on
 * evt_events, which readers and writers do not wait for (CREATE TABLE
 * ... PARTITION OF would take an exclusive one, queued behind every long
 * replay). Called with the head row locked.
 */
static int
add_partition(struct pg_log *l, struct evt_err *err)
{
	char sql[1024];
	long long from = l->part_upto, to = from + l->part_size;

	snprintf(sql, sizeof(sql),
	    "CREATE TABLE evt_events_%lld (LIKE evt_events INCLUDING DEFAULTS);"
	    "ALTER TABLE evt_events_%lld ADD CHECK (seq >= %lld AND seq < %lld);"
	    "CREATE UNIQUE INDEX ON evt_events_%lld(id);"
	    "CREATE UNIQUE INDEX ON evt_events_%lld(subject, version);"
	    "ALTER TABLE evt_events ATTACH PARTITION evt_events_%lld"
	    " FOR VALUES FROM (%lld) TO (%lld);"
	    "UPDATE evt_head SET part_upto = %lld;",
	    from, from, from, to, from, from, from, from, to, to);
	if (exec(l, sql, PGRES_COMMAND_OK, err, "create partition") < 0)
		return -1;
	l->part_upto = to;
	return 0;
}

/* Create the tables unless they are there; a lock keeps two first users
 * from racing (and the catalog is read by a query, not to_regclass, whose
 * cache need not have seen the other's commit yet). Returns 0, 1 when there is no log and CREATE is not set,
 * or -1 with err. */
#define HAS_LOG_SQL "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_tables " \
	"WHERE schemaname = current_schema() AND tablename = 'evt_meta')"

static int
setup(struct pg_log *l, struct evt_err *err)
{
	PGresult *res;
	char sql[256];
	const char *env = getenv("EVT_PG_PARTITION_SIZE");
	long long size = env ? atoll(env) : PART_SIZE_DEFAULT;
	int exists;

	if (size < 1)
		size = PART_SIZE_DEFAULT;
	res = PQexec(l->conn, HAS_LOG_SQL);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		return pgerr(l, res, err, "look for the log");
	exists = *PQgetvalue(res, 0, 0) == 't';
	PQclear(res);
	if (!exists && !(l->base.flags & EVT_LOG_CREATE))
		return 1;
	if (!exists) {
		if (exec(l, "BEGIN; SELECT pg_advisory_xact_lock(7400613)",
		    PGRES_TUPLES_OK, err, "create") < 0)
			goto fail;
		res = PQexec(l->conn, HAS_LOG_SQL);
		if (PQresultStatus(res) != PGRES_TUPLES_OK) {
			pgerr(l, res, err, "create");
			goto fail;
		}
		exists = *PQgetvalue(res, 0, 0) == 't';
		PQclear(res);
		if (!exists) {
			if (exec(l, schema_sql, PGRES_COMMAND_OK, err,
			    "create") < 0)
				goto fail;
			snprintf(sql, sizeof(sql),
			    "INSERT INTO evt_meta VALUES ('schema', '%d');"
			    "INSERT INTO evt_head VALUES (true, 0, 1, %lld, 1);",
			    SCHEMA_VERSION, size);
			if (exec(l, sql, PGRES_COMMAND_OK, err, "create") < 0)
				goto fail;
			l->part_upto = 1;
			l->part_size = size;
			if (add_partition(l, err) < 0)
				goto fail;
		}
		if (exec(l, "COMMIT", PGRES_COMMAND_OK, err, "create") < 0)
			goto fail;
	}
	res = PQexec(l->conn, "SELECT value FROM evt_meta WHERE key = 'schema'");
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		if (PQresultStatus(res) == PGRES_TUPLES_OK) {
			PQclear(res);
			return evt_err_set(err, EX_IOERR, "%s: not an evt log "
			    "(no schema version)", l->base.path);
		}
		return pgerr(l, res, err, "read the schema version");
	}
	int v = atoi(PQgetvalue(res, 0, 0));
	PQclear(res);
	if (v == 1) {
		/* Under the creation lock, so two first users do not race;
		 * a catalog change only, the tables are not rewritten. */
		if (exec(l, "BEGIN; SELECT pg_advisory_xact_lock(7400613)",
		    PGRES_TUPLES_OK, err, "upgrade the schema") < 0 ||
		    exec(l, upgrade_sql, PGRES_COMMAND_OK, err,
		    "upgrade the schema") < 0 ||
		    exec(l, "COMMIT", PGRES_COMMAND_OK, err,
		    "upgrade the schema") < 0)
			goto fail;
		v = SCHEMA_VERSION;
	}
	if (v != SCHEMA_VERSION)
		return evt_err_set(err, EX_IOERR, "%s: schema version %d; this "
		    "evt knows version %d", l->base.path, v, SCHEMA_VERSION);
	return 0;
fail:
	PQclear(PQexec(l->conn, "ROLLBACK"));
	return -1;
}

/*
 * Connect (again) and set the session up: durable commits unless NOSYNC,
 * default timeouts where none are set, the notification channel of this
 * log's schema, LISTEN when following.
 */
static int
session(struct pg_log *l, int code, struct evt_err *err)
{
	PGresult *res;
	char msg[300];

	if (l->conn)
		PQfinish(l->conn);
	l->conn = NULL;
	l->copying = 0;
	l->copied = 0;
	l->prepared = 0;
	forget(l);
	/* The second connection went with the first, as a rule (a server
	 * restarted): made again at the next prefetch. */
	if (l->look)
		PQfinish(l->look);
	l->look = NULL;
	l->nolook = 0;
	l->conn = PQconnectdb(l->conninfo);
	if (l->conn == NULL)
		abort();
	if (PQstatus(l->conn) != CONNECTION_OK) {
		pq_message(PQerrorMessage(l->conn), msg, sizeof(msg));
		if (strncmp(msg, "connection to server ", 21) == 0 &&
		    strstr(msg, "failed: "))
			memmove(msg, strstr(msg, "failed: ") + 8,
			    strlen(strstr(msg, "failed: ") + 8) + 1);
		if (strncmp(msg, "FATAL:  ", 8) == 0)
			memmove(msg, msg + 8, strlen(msg + 8) + 1);
		return evt_err_set(err, code, "%s: cannot connect: %s",
		    l->base.path, msg);
	}
	PQsetNoticeProcessor(l->conn, on_notice, l);
	snprintf(msg, sizeof(msg), "SET synchronous_commit = %s;",
	    l->base.flags & EVT_LOG_NOSYNC ? "off" : "on");
	if (exec(l, msg, PGRES_COMMAND_OK, err, "set up the session") < 0)
		return -1;
	res = PQexec(l->conn,
	    "SELECT set_config('lock_timeout', '" LOCK_TIMEOUT "', false)"
	    " WHERE current_setting('lock_timeout') = '0';"
	    "SELECT set_config('idle_in_transaction_session_timeout', '"
	    IDLE_TIMEOUT "', false) WHERE"
	    " current_setting('idle_in_transaction_session_timeout') = '0';"
	    "SELECT 'evt.' || coalesce(current_schema(), 'public')");
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		return pgerr(l, res, err, "set up the session");
	if (l->chan == NULL) {
		const char *c = PQgetvalue(res, 0, 0);
		l->chan = PQescapeIdentifier(l->conn, c, strlen(c));
		if (l->chan == NULL)
			abort();
		/* Two logs of one database differ by their schema only. */
		c += strlen("evt.");
		if (strcmp(c, "public") == 0)
			l->origin = evt_strdup(l->base.path);
		else if (asprintf(&l->origin, "%s/%s", l->base.path, c) < 0)
			abort();
	}
	PQclear(res);
	if (l->listening) {
		char sql[300];
		snprintf(sql, sizeof(sql), "LISTEN %s", l->chan);
		if (exec(l, sql, PGRES_COMMAND_OK, err, "listen") < 0)
			return -1;
	}
	return 0;
}

/* A connection that works: reconnect when the last one was lost. */
static int
ensure(struct pg_log *l, struct evt_err *err)
{
	if (l->conn && PQstatus(l->conn) == CONNECTION_OK)
		return copy_close(l, err);
	return session(l, EX_TEMPFAIL, err);
}

static int pg_first_seq(struct evt_log *, long long *, struct evt_err *);
static int pg_listen(struct evt_log *, struct evt_err *);
static int pg_notify_fd(struct evt_log *);
static int pg_notified(struct evt_log *);
static int pg_prefetch(struct evt_log *, struct evt_event **, size_t,
    struct evt_err *);

static const char *
pg_origin(struct evt_log *base)
{
	struct pg_log *l = (struct pg_log *)base;

	return l->origin ? l->origin : base->path;
}

static const struct evt_log_more_ops pg_more = {
	pg_first_seq, pg_listen, pg_notify_fd, pg_notified, pg_prefetch, NULL,
	NULL, pg_origin
};

static void
pg_close(struct evt_log *base)
{
	struct pg_log *l = (struct pg_log *)base;

	discard(l);
	if (l->conn)
		PQfinish(l->conn);
	if (l->look)
		PQfinish(l->look);
	if (l->chan)
		PQfreemem(l->chan);
	free(l->origin);
	free(l->conninfo);
	evt_hmap_free(&l->vers);
	evt_hmap_free(&l->ids);
	evt_buf_free(&l->rows);
	evt_buf_free(&l->asked);
	evt_hasher_free(l->hs);
	evt_log_fini(base);
	free(l);
}

static struct evt_log *
pg_open(const char *url, int flags, struct evt_err *err)
{
	struct pg_log *l;
	char *shown = display_name(url, err);
	int rc;

	if (shown == NULL)
		return NULL;
	if ((l = calloc(1, sizeof(*l))) == NULL)
		abort();
	evt_log_init(&l->base, &evt_log_pg_ops, shown, flags);
	free(shown);
	l->base.more = &pg_more;
	l->conninfo = evt_strdup(url);
	l->known = -1;
	if (session(l, EX_UNAVAILABLE, err) < 0)
		goto fail;
	rc = setup(l, err);
	if (rc < 0)
		goto fail;
	if (rc == 1) {
		evt_err_set(err, EX_NOINPUT, "%s: no such log", l->base.path);
		goto fail;
	}
	return &l->base;
fail:
	pg_close(&l->base);
	return NULL;
}

static int chain_begin(struct pg_log *, PGresult *, long long,
    struct evt_err *);

static int
pg_begin(struct evt_log *base, struct evt_err *err)
{
	struct pg_log *l = (struct pg_log *)base;
	PGresult *res;

	if (ensure(l, err) < 0)
		return -1;
	/* The head row locked, then read again with h(head) by a statement
	 * of its own: its snapshot, taken after the lock, sees the rows of
	 * the writer we may have waited for (one taken with the lock would
	 * not). The hash at the archive boundary stands for h(head) when
	 * every event is archived. */
	res = PQexec(l->conn, "BEGIN; SELECT set_config('statement_timeout', '"
	    STATEMENT_TIMEOUT "', true) WHERE current_setting("
	    "'statement_timeout') = '0';"
	    "SELECT 1 FROM evt_head FOR UPDATE;"
	    "SELECT h.seq, h.part_size, h.part_upto, h.start, (SELECT hash FROM "
	    "evt_events WHERE seq = h.seq), (SELECT hash FROM evt_archives "
	    "WHERE last = h.start - 1) FROM evt_head h");
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		pgerr(l, res, err, "begin");
		PQclear(PQexec(l->conn, "ROLLBACK"));
		return -1;
	}
	l->head = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	l->began = l->head;
	l->part_size = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
	l->part_upto = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
	long long start = strtoll(PQgetvalue(res, 0, 3), NULL, 10);
	int rc = chain_begin(l, res, start, err);
	PQclear(res);
	if (rc < 0) {
		PQclear(PQexec(l->conn, "ROLLBACK"));
		return -1;
	}
	/* Someone else wrote since our last commit: what we knew of the
	 * streams may be stale. A long run forgets too, so that its memory
	 * follows its batches, not the number of streams in the log. */
	if (l->head != l->known || l->vers.n > VERS_MAX) {
		evt_hmap_clear(&l->vers);
		l->known = l->head;
	}
	return 0;
}

/* The version of stream S, archived or not (NULL: none). */
#define LAST_VERSION(s) "greatest((SELECT version FROM evt_events WHERE " \
	"subject = " s " ORDER BY version DESC LIMIT 1), (SELECT version " \
	"FROM evt_streams WHERE subject = " s "))"

/* Which of the ids $1 are stored (with their type; an archived id's is
 * NULL), and the versions of the streams $2. */
#define PREFETCH_SQL "SELECT id, NULL::bigint, type FROM evt_events WHERE " \
	"id = ANY($1::text[]) UNION ALL SELECT id, NULL, NULL FROM evt_ids " \
	"WHERE id = ANY($1::text[]) UNION ALL SELECT s, coalesce(" \
	LAST_VERSION("s") ", 0), NULL FROM unnest($2::text[]) s"

static int
prepare(struct pg_log *l, struct evt_err *err)
{
	PGresult *res;

	if (l->prepared)
		return 0;
	/* The stored type of the id (an archived id: ''), or NULL. */
	res = PQprepare(l->conn, "evt_lookup", "SELECT coalesce((SELECT type "
	    "FROM evt_events WHERE id = $1), (SELECT '' FROM evt_ids WHERE "
	    "id = $1)), " LAST_VERSION("$2"), 2, NULL);
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		return pgerr(l, res, err, "prepare");
	PQclear(res);
	/* Named, so that it is parsed once and its generic plan kept:
	 * planning it again for each batch cost the server as much as a
	 * third of running it. */
	res = PQprepare(l->conn, "evt_prefetch", PREFETCH_SQL, 2, NULL);
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		return pgerr(l, res, err, "prepare");
	PQclear(res);
	l->prepared = 1;
	return 0;
}

static void
put16(struct evt_buf *b, int v)
{
	uint16_t n = htons((uint16_t)v);
	evt_buf_add(b, &n, 2);
}

static void
put32(struct evt_buf *b, long v)
{
	uint32_t n = htonl((uint32_t)v);
	evt_buf_add(b, &n, 4);
}

static void
put_int8(struct evt_buf *b, long long v)
{
	uint64_t u = (uint64_t)v;
	put32(b, 8);
	put32(b, (long)(uint32_t)(u >> 32));
	put32(b, (long)(uint32_t)u);
}

static void
put_text(struct evt_buf *b, const char *s, size_t n)
{
	put32(b, (long)n);
	evt_buf_add(b, s, n);
}

/* Send data (binary COPY rows, header and trailer added) into table. */
static int
copy_in(struct pg_log *l, const char *sql, struct evt_buf *data,
    struct evt_err *err)
{
	PGresult *res;

	if (copy_close(l, err) < 0)
		return -1;
	res = PQexec(l->conn, sql);
	if (PQresultStatus(res) != PGRES_COPY_IN)
		return pgerr(l, res, err, "copy");
	PQclear(res);
	put16(data, -1);
	if (PQputCopyData(l->conn, copy_header, sizeof(copy_header)) != 1 ||
	    PQputCopyData(l->conn, data->p, (int)data->len) != 1 ||
	    PQputCopyEnd(l->conn, NULL) != 1)
		return pgerr(l, NULL, err, "copy");
	evt_buf_reset(data);
	res = PQgetResult(l->conn);
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		return pgerr(l, res, err, "copy");
	PQclear(res);
	while ((res = PQgetResult(l->conn)) != NULL)
		PQclear(res);
	return 0;
}

/* Append s as an element of a PostgreSQL array literal. */
static void
array_add(struct evt_buf *b, const char *k, size_t n)
{
	evt_buf_addc(b, b->len ? ',' : '{');
	evt_buf_addc(b, '"');
	for (size_t i = 0; i < n; i++) {
		if (k[i] == '"' || k[i] == '\\')
			evt_buf_addc(b, '\\');
		evt_buf_addc(b, k[i]);
	}
	evt_buf_addc(b, '"');
}

/*
 * The rows go out through a COPY left open while the appends go on, so
 * that the server stores them while this side makes the next ones; it is
 * ended before anything else is said on conn, and when it has carried
 * FLUSH_BYTES, so that no statement grows without bound.
 */
static int
copy_close(struct pg_log *l, struct evt_err *err)
{
	static const char trailer[2] = { '\377', '\377' };
	PGresult *res;
	int rc = 0;

	if (!l->copying)
		return 0;
	l->copying = 0;
	l->copied = 0;
	if (PQputCopyData(l->conn, trailer, 2) != 1 ||
	    PQputCopyEnd(l->conn, NULL) != 1)
		return pgerr(l, NULL, err, "copy");
	res = PQgetResult(l->conn);
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		rc = pgerr(l, res, err, "copy");
	else
		PQclear(res);
	while ((res = PQgetResult(l->conn)) != NULL)
		PQclear(res);
	return rc;
}

/* End the COPY in progress, if any, so that nothing of it is stored
 * (before ROLLBACK). */
static void
copy_abort(struct pg_log *l)
{
	PGresult *res;

	if (!l->copying)
		return;
	l->copying = 0;
	l->copied = 0;
	if (l->conn && PQputCopyEnd(l->conn, "abandoned") == 1)
		while ((res = PQgetResult(l->conn)) != NULL)
			PQclear(res);
}

/* Send the rows made so far into the COPY in progress, or a new one. */
static int
copy_send(struct pg_log *l, struct evt_err *err)
{
	PGresult *res;

	if (l->rows.len == 0)
		return 0;
	if (l->head >= l->part_upto) {
		/* Rows past the last partition: the next ones first. */
		if (copy_close(l, err) < 0)
			return -1;
		while (l->head >= l->part_upto)
			if (add_partition(l, err) < 0)
				return -1;
	}
	if (!l->copying) {
		res = PQexec(l->conn, "COPY evt_events(seq, id, subject, "
		    "version, type, time, correlationid, body, hash) FROM STDIN "
		    "(FORMAT binary)");
		if (PQresultStatus(res) != PGRES_COPY_IN)
			return pgerr(l, res, err, "copy");
		PQclear(res);
		l->copying = 1;
		if (PQputCopyData(l->conn, copy_header, sizeof(copy_header)) != 1)
			return pgerr(l, NULL, err, "copy");
	}
	if (PQputCopyData(l->conn, l->rows.p, (int)l->rows.len) != 1)
		return pgerr(l, NULL, err, "copy");
	l->copied += l->rows.len;
	evt_buf_reset(&l->rows);
	l->nrows = 0;
	if (l->copied >= FLUSH_BYTES)
		return copy_close(l, err);
	return 0;
}

/* Store what the open transaction appended so far. */
static int
flush(struct pg_log *l, struct evt_err *err)
{
	if (copy_send(l, err) < 0)
		return -1;
	return copy_close(l, err);
}

/*
 * What the id table keeps of a stored event (ids): a tag of its
 * type, never 0 (known to be new) nor TAG_UNKNOWN (an archived
 * id, whose type is not kept), so that an id met again with another type
 * is told from a repeat (evt_log_check_dup).
 */
#define TAG_UNKNOWN 1

static long long
type_tag(const char *t, size_t n)
{
	return (long long)(evt_hash(t, n) | 2);
}

static int
pg_append(struct evt_log *base, struct evt_event *ev,
    const struct evt_expect *exp, int64_t now, const char *source,
    struct evt_err *err)
{
	struct pg_log *l = (struct pg_log *)base;
	int given = ev->id.p != NULL;
	long long *vp, *c, cur;

	/* Pointers into vers and ids: valid until a key is added to the
	 * same table. */
	vp = evt_hmap_get(&l->vers, ev->subject.p, ev->subject.n);
	c = given ? evt_hmap_get(&l->ids, ev->id.p, ev->id.n) : NULL;
	if ((vp && *vp == VERS_PENDING) || (c && *c == ID_PENDING)) {
		/* Asked by the prefetch in flight: its answer first. */
		if (settle(l, err) < 0)
			return -1;
		vp = evt_hmap_get(&l->vers, ev->subject.p, ev->subject.n);
		c = given ? evt_hmap_get(&l->ids, ev->id.p, ev->id.n) : NULL;
	}
	cur = vp ? *vp : 0;
	if (c && *c)
		return evt_log_check_dup(ev, *c == TAG_UNKNOWN ||
		    *c == type_tag(ev->type.p, ev->type.n), err);
	if (c)
		given = 0;	/* known to be new */
	if (given || vp == NULL) {
		/* One round trip learns whether the id is known and the
		 * stream's version, on conn, which sees the rows sent (those
		 * not sent yet are in ids). */
		char *id = NULL, *subj;
		PGresult *res;

		if (copy_close(l, err) < 0 || prepare(l, err) < 0)
			return -1;
		if (given) {
			id = malloc(ev->id.n + 1);
			if (id == NULL)
				abort();
			memcpy(id, ev->id.p, ev->id.n);
			id[ev->id.n] = '\0';
		}
		subj = malloc(ev->subject.n + 1);
		if (subj == NULL)
			abort();
		memcpy(subj, ev->subject.p, ev->subject.n);
		subj[ev->subject.n] = '\0';
		const char *params[2] = { id, subj };
		res = PQexecPrepared(l->conn, "evt_lookup", 2, params, NULL,
		    NULL, 0);
		free(id);
		free(subj);
		if (PQresultStatus(res) != PGRES_TUPLES_OK)
			return pgerr(l, res, err, "look up");
		int dup = !PQgetisnull(res, 0, 0);
		const char *st = PQgetvalue(res, 0, 0);
		int same = *st == '\0' || (strlen(st) == ev->type.n &&
		    memcmp(st, ev->type.p, ev->type.n) == 0);
		vp = evt_hmap_get(&l->vers, ev->subject.p, ev->subject.n);
		if (vp == NULL) {
			cur = PQgetisnull(res, 0, 1) ? 0 :
			    strtoll(PQgetvalue(res, 0, 1), NULL, 10);
			evt_hmap_put(&l->vers, ev->subject.p, ev->subject.n, cur);
			vp = evt_hmap_get(&l->vers, ev->subject.p,
			    ev->subject.n);
		}
		PQclear(res);
		if (dup)
			return evt_log_check_dup(ev, same, err);
	}
	if (exp && evt_log_check_expect(exp, ev->subject.p, ev->subject.n, cur,
	    err) < 0)
		return -1;
	evt_event_assign(ev, l->head + 1, cur + 1, now, source);
	l->head++;
	evt_chain_step(l->hs, l->chain, ev->seq, ev->body.p, ev->body.len,
	    l->chain);
	*vp = ev->version;
	long long tag = type_tag(ev->type.p, ev->type.n);
	if (c)
		*c = tag;
	else
		evt_hmap_put(&l->ids, ev->id.p, ev->id.n, tag);

	struct evt_buf *b = &l->rows;
	put16(b, 9);
	put_int8(b, ev->seq);
	put_text(b, ev->id.p, ev->id.n);
	put_text(b, ev->subject.p, ev->subject.n);
	put_int8(b, ev->version);
	put_text(b, ev->type.p, ev->type.n);
	put_text(b, ev->timebuf, EVT_TIME_LEN);
	put_text(b, ev->corr.p, ev->corr.n);
	put_text(b, ev->body.p, ev->body.len);
	put_text(b, (const char *)l->chain, EVT_CHAIN_LEN);
	l->nrows++;
	if (l->rows.len >= STREAM_BYTES && copy_send(l, err) < 0)
		return -1;
	return EVT_APPEND_STORED;
}

/*
 * The connection prefetches go to: a second one to the same database,
 * with the timeouts of the first.
 */
static int
look_ensure(struct pg_log *l, struct evt_err *err)
{
	PGresult *res;
	char msg[300];

	if (l->look && PQstatus(l->look) == CONNECTION_OK)
		return 0;
	if (l->look)
		PQfinish(l->look);
	l->look = PQconnectdb(l->conninfo);
	if (l->look == NULL)
		abort();
	if (PQstatus(l->look) != CONNECTION_OK) {
		pq_message(PQerrorMessage(l->look), msg, sizeof(msg));
		PQfinish(l->look);
		l->look = NULL;
		return evt_err_set(err, EX_TEMPFAIL, "%s: look up: cannot "
		    "connect: %s", l->base.path, msg);
	}
	PQsetNoticeProcessor(l->look, on_notice, l);
	res = PQexec(l->look,
	    "SELECT set_config('lock_timeout', '" LOCK_TIMEOUT "', false)"
	    " WHERE current_setting('lock_timeout') = '0';"
	    "SELECT set_config('statement_timeout', '" STATEMENT_TIMEOUT "',"
	    " false) WHERE current_setting('statement_timeout') = '0'");
	if (PQresultStatus(res) == PGRES_TUPLES_OK) {
		PQclear(res);
		res = PQprepare(l->look, "evt_prefetch", PREFETCH_SQL, 2, NULL);
		if (PQresultStatus(res) == PGRES_COMMAND_OK) {
			PQclear(res);
			return 0;
		}
	}
	pgerr_on(l, l->look, res, err, "look up");
	PQfinish(l->look);
	l->look = NULL;
	return -1;
}

/*
 * Learn in one round trip what appending evs will need to know: which of
 * their ids are stored, and the versions of their streams. Inside a write
 * transaction only, where no one else can change either.
 *
 * The question goes to a second connection (look) and is not waited for:
 * its ids and streams are marked PENDING, and the answer is read when an
 * append needs one of them, or at commit. Meanwhile conn goes on storing
 * the rows before them (copy_send), and evt-append asks for its next
 * batch before it appends the current one, so the server looks them up
 * while this side hashes and packs rows and while it stores them.
 *
 * look sees the committed log, which under the lock held by conn is the
 * whole log but for this transaction's own appends: those ids are in
 * ids, kept until commit, and those streams' versions in vers. The
 * answer may come after appends this side made since the question: it
 * cannot speak of them, since a prefetch asks only for ids not known here
 * (ids) and streams whose version is not (vers), and an append
 * first takes in the answer that speaks of its id or stream. Where no
 * second connection can be had, the question goes to conn, after every
 * row is sent, and is waited for.
 */
static int
pg_prefetch(struct evt_log *base, struct evt_event **evs, size_t n,
    struct evt_err *err)
{
	struct pg_log *l = (struct pg_log *)base;
	struct evt_buf ids = EVT_BUF_INIT, subj = EVT_BUF_INIT;
	PGconn *c;

	if (settle(l, err) < 0)
		return -1;
	if (n == 0)
		/* The input paused: what was made is stored and the COPY
		 * ended, so that a transaction left open waiting for input
		 * is idle, and idle_in_transaction_session_timeout ends it
		 * should it wait too long. */
		return flush(l, err);
	if (!l->nolook && look_ensure(l, err) < 0)
		l->nolook = 1;	/* no second connection (a connection limit,
				 * say): conn then, as slower but as right */
	if (l->nolook) {
		/* conn sees this transaction's rows once they are sent. */
		if (flush(l, err) < 0 || prepare(l, err) < 0)
			return -1;
		c = l->conn;
	} else
		c = l->look;
	for (size_t i = 0; i < n; i++) {
		struct evt_event *ev = evs[i];
		if (ev->id.p && !evt_hmap_get(&l->ids, ev->id.p, ev->id.n)) {
			array_add(&ids, ev->id.p, ev->id.n);
			evt_hmap_put(&l->ids, ev->id.p, ev->id.n, ID_PENDING);
			evt_buf_add(&l->asked, &ev->id.n, sizeof(ev->id.n));
			evt_buf_add(&l->asked, ev->id.p, ev->id.n);
		}
		if (!evt_hmap_get(&l->vers, ev->subject.p, ev->subject.n)) {
			array_add(&subj, ev->subject.p, ev->subject.n);
			evt_hmap_put(&l->vers, ev->subject.p, ev->subject.n,
			    VERS_PENDING);
		}
	}
	if (ids.len == 0 && subj.len == 0)
		return 0;
	evt_buf_adds(&ids, ids.len ? "}" : "{}");
	evt_buf_adds(&subj, subj.len ? "}" : "{}");
	const char *params[2] = { ids.p, subj.p };
	int sent = PQsendQueryPrepared(c, "evt_prefetch", 2, params, NULL, NULL,
	    0);
	evt_buf_free(&ids);
	evt_buf_free(&subj);
	l->inflight = 1;
	l->aconn = c;
	if (!sent) {
		pgerr_on(l, c, NULL, err, "look up");
		discard(l);
		return -1;
	}
	return c == l->conn ? settle(l, err) : 0;
}

/*
 * Read the answer of the prefetch in flight, if any, into ids and
 * vers: ids it does not name are new, and it names every stream asked
 * (0: none). On failure the PENDING marks are dropped with what else
 * those tables held, which only costs asking again.
 */
static int
settle(struct pg_log *l, struct evt_err *err)
{
	PGresult *res, *more;

	if (!l->inflight)
		return 0;
	l->inflight = 0;
	res = PQgetResult(l->aconn);
	while ((more = PQgetResult(l->aconn)) != NULL)
		PQclear(more);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		evt_hmap_clear(&l->ids);
		evt_hmap_clear(&l->vers);
		evt_buf_reset(&l->asked);
		return pgerr_on(l, l->aconn, res, err, "look up");
	}
	for (int i = 0; i < PQntuples(res); i++) {
		const char *k = PQgetvalue(res, i, 0);
		size_t kn = (size_t)PQgetlength(res, i, 0);
		if (PQgetisnull(res, i, 1))
			evt_hmap_put(&l->ids, k, kn, PQgetisnull(res, i, 2) ?
			    TAG_UNKNOWN : type_tag(PQgetvalue(res, i, 2),
			    (size_t)PQgetlength(res, i, 2)));
		else
			evt_hmap_put(&l->vers, k, kn,
			    strtoll(PQgetvalue(res, i, 1), NULL, 10));
	}
	PQclear(res);
	for (size_t off = 0; off < l->asked.len;) {
		size_t kn;
		memcpy(&kn, l->asked.p + off, sizeof(kn));
		off += sizeof(kn);
		long long *c = evt_hmap_get(&l->ids, l->asked.p + off, kn);
		if (c && *c == ID_PENDING)
			*c = 0;
		off += kn;
	}
	evt_buf_reset(&l->asked);
	return 0;
}

/* Forget the prefetch in flight, if any, reading its answer away. */
static void
discard(struct pg_log *l)
{
	PGresult *res;

	if (!l->inflight)
		return;
	l->inflight = 0;
	if (l->aconn)
		while ((res = PQgetResult(l->aconn)) != NULL)
			PQclear(res);
	evt_hmap_clear(&l->ids);
	evt_hmap_clear(&l->vers);
	evt_buf_reset(&l->asked);
}

/*
 * Statistics for the partitions this transaction filled, as they grow
 * (issue 22). The id and version look-ups are prepared once and their
 * generic plan kept (prepare); planned while a partition was empty, that
 * plan scans it whole, and a first writer then slowed down with every
 * event it added (100k events: 35.8 s, against 1.06 s for the next
 * writer), until autovacuum got round to it, if ever. So a partition is
 * analysed when the events in it pass 1024, 2048, 4096 ... (about 20 times
 * in its life, each a sample of at most 30,000 rows); the new statistics
 * invalidate the cached plans, which are made again from them.
 */
static int
analyse(struct pg_log *l, struct evt_err *err)
{
	char sql[128];
	long long size = l->part_size, from, before, after;

	for (from = 1 + (l->began > 0 ? (l->began - 1) / size * size : 0);
	    from <= l->head; from += size) {
		before = l->began >= from ? l->began - from + 1 : 0;
		after = (l->head < from + size ? l->head : from + size - 1) -
		    from + 1;
		for (long long t = 1024; t <= after; t *= 2)
			if (before < t) {
				snprintf(sql, sizeof(sql), "ANALYZE evt_events_%lld",
				    from);
				if (exec(l, sql, PGRES_COMMAND_OK, err,
				    "analyse") < 0)
					return -1;
				break;
			}
	}
	return 0;
}

static int
pg_commit(struct evt_log *base, struct evt_err *err)
{
	struct pg_log *l = (struct pg_log *)base;
	char sql[400];

	/* An answer to take in while the lock is held, so that it speaks
	 * of the log as this transaction left it. */
	if (settle(l, err) < 0 || flush(l, err) < 0)
		goto fail;
	/* A partition made ahead, while the head is in the second half of
	 * the last one, so an append rarely has to make one. */
	if (l->head + l->part_size / 2 >= l->part_upto &&
	    add_partition(l, err) < 0)
		goto fail;
	if (l->head > l->began && analyse(l, err) < 0)
		goto fail;
	snprintf(sql, sizeof(sql), "UPDATE evt_head SET seq = %lld;"
	    "NOTIFY %s, '%lld'; COMMIT", l->head, l->chan, l->head);
	if (exec(l, sql, PGRES_COMMAND_OK, err, "commit") < 0)
		goto fail;
	l->known = l->head;
	evt_hmap_clear(&l->ids);
	return 0;
fail:
	discard(l);
	copy_abort(l);
	PQclear(PQexec(l->conn, "ROLLBACK"));
	forget(l);
	return -1;
}

static void
pg_rollback(struct evt_log *base)
{
	struct pg_log *l = (struct pg_log *)base;

	discard(l);
	copy_abort(l);
	if (l->conn && PQstatus(l->conn) == CONNECTION_OK)
		PQclear(PQexec(l->conn, "ROLLBACK"));
	forget(l);
}

/* Append s as an SQL literal. */
static void
add_lit(struct pg_log *l, struct evt_buf *sql, const char *s, size_t n)
{
	char *q = PQescapeLiteral(l->conn, s, n);

	if (q == NULL)
		abort();
	evt_buf_adds(sql, q);
	PQfreemem(q);
}

static void
add_in(struct pg_log *l, struct evt_buf *sql, const char *col,
    const struct evt_strv *v)
{
	evt_buf_printf(sql, " AND %s IN (", col);
	for (size_t i = 0; i < v->n; i++) {
		if (i)
			evt_buf_adds(sql, ", ");
		add_lit(l, sql, v->v[i], strlen(v->v[i]));
	}
	evt_buf_adds(sql, ")");
}

/*
 * Where the bracket expression that starts at p ('[') ends, as fnmatch(3)
 * reads it: after an optional ! or ^, a ] first is a member; [:class:],
 * [=c=] and [.c.] are members whose ] does not close the set; a backslash
 * quotes the next character. Returns the closing ], or NULL when there is
 * none (then fnmatch takes the [ as an ordinary character).
 */
static const char *
bracket_end(const char *p)
{
	const char *q = p + 1;

	if (*q == '!' || *q == '^')
		q++;
	if (*q == ']')
		q++;
	while (*q && *q != ']') {
		if (*q == '[' && (q[1] == ':' || q[1] == '=' || q[1] == '.')) {
			const char *e = q + 2;
			while (*e && !(*e == q[1] && e[1] == ']'))
				e++;
			if (*e == '\0')
				return NULL;
			q = e + 2;
			continue;
		}
		if (*q == '\\' && q[1])
			q++;
		q++;
	}
	return *q == ']' ? q : NULL;
}

/*
 * A POSIX regular expression (PostgreSQL's ~) for an fnmatch(3) glob
 * without flags, that matches every type the glob matches, and is
 * anchored on its literal prefix so the type index serves it. The rows
 * it lets through are checked with fnmatch again, so the server only
 * narrows and the answer is fnmatch's (issue 22: a faithful translation
 * of sets, classes and negations broke on [[:upper:]]). fnmatch, in the C
 * locale of these programs, matches bytes, the server characters: * is
 * .*, and ? and a set, one byte each, are .? (a character of several
 * bytes is matched by several of them). An unclosed [ is an ordinary
 * character, as in fnmatch; a backslash quotes.
 */
static void
glob_regex(const char *g, struct evt_buf *re)
{
	evt_buf_addc(re, '^');
	for (const char *p = g; *p; p++) {
		const char *q;

		if (*p == '*')
			evt_buf_adds(re, ".*");
		else if (*p == '?')
			evt_buf_adds(re, ".?");
		else if (*p == '[' && (q = bracket_end(p)) != NULL) {
			evt_buf_adds(re, ".?");
			p = q;
		} else {
			if (*p == '\\' && p[1])
				p++;
			if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			    (*p >= '0' && *p <= '9') || (unsigned char)*p >= 0x80))
				evt_buf_addc(re, '\\');
			evt_buf_addc(re, *p);
		}
	}
	evt_buf_addc(re, '$');
}

/*
 * The query for r, every filter in the server: subjects, correlations and
 * types by their indexes, a category c as subject = c or the range
 * [c-, c.) of the (subject, version) index (collation "C"), seq and time
 * bounds. Rows come back by binary COPY: the stored bytes, no escaping.
 */
static int
build_read(struct pg_log *l, const struct evt_read *r, long long snap,
    struct evt_buf *sql, int *cside)
{
	const struct evt_filter *f = r->filter;
	char t[EVT_TIME_LEN + 1];

	*cside = 0;
	for (size_t i = 0; f && i < f->types.n; i++)
		*cside |= evt_glob_has_meta(f->types.v[i]);
	evt_buf_printf(sql, "COPY (SELECT seq, body%s FROM evt_events WHERE "
	    "seq > %lld AND seq <= %lld", *cside ? ", type" : "", r->after, snap);
	if (f) {
		if (f->from)
			evt_buf_printf(sql, " AND seq >= %lld", f->from);
		if (f->to)
			evt_buf_printf(sql, " AND seq <= %lld", f->to);
		if (f->subjects.n)
			add_in(l, sql, "subject", &f->subjects);
		if (f->categories.n) {
			evt_buf_adds(sql, " AND (");
			for (size_t i = 0; i < f->categories.n; i++) {
				const char *c = f->categories.v[i];
				struct evt_buf lo = EVT_BUF_INIT;
				evt_buf_printf(sql, "%s(subject = ", i ? " OR " : "");
				add_lit(l, sql, c, strlen(c));
				evt_buf_printf(&lo, "%s-", c);
				evt_buf_adds(sql, " OR (subject >= ");
				add_lit(l, sql, lo.p, lo.len);
				lo.p[lo.len - 1] = '.';
				evt_buf_adds(sql, " AND subject < ");
				add_lit(l, sql, lo.p, lo.len);
				evt_buf_adds(sql, "))");
				evt_buf_free(&lo);
			}
			evt_buf_adds(sql, ")");
		}
		if (f->corrs.n)
			add_in(l, sql, "correlationid", &f->corrs);
		if (f->types.n && !*cside)
			add_in(l, sql, "type", &f->types);
		else if (f->types.n) {
			evt_buf_adds(sql, " AND (");
			for (size_t i = 0; i < f->types.n; i++) {
				struct evt_buf re = EVT_BUF_INIT;
				glob_regex(f->types.v[i], &re);
				evt_buf_printf(sql, "%stype ~ ", i ? " OR " : "");
				add_lit(l, sql, re.p, re.len);
				evt_buf_free(&re);
			}
			evt_buf_adds(sql, ")");
		}
		if (f->has_since) {
			evt_time_format(f->since, t);
			evt_buf_adds(sql, " AND time >= ");
			add_lit(l, sql, t, strlen(t));
		}
		if (f->has_until) {
			evt_time_format(f->until, t);
			evt_buf_adds(sql, " AND time < ");
			add_lit(l, sql, t, strlen(t));
		}
	}
	evt_buf_adds(sql, r->reverse ? " ORDER BY seq DESC" : " ORDER BY seq");
	if (r->limit && !*cside)
		evt_buf_printf(sql, " LIMIT %lld", r->limit);
	evt_buf_adds(sql, ") TO STDOUT (FORMAT binary)");
	return 0;
}

static uint32_t
get32(const char *p)
{
	uint32_t n;
	memcpy(&n, p, 4);
	return ntohl(n);
}

static long long
get_int8(const char *p)
{
	return (long long)(((uint64_t)get32(p) << 32) | get32(p + 4));
}

/*
 * One binary COPY row: the seq, the body and, with cols 3, a third column
 * (the type of a glob read, the hash of a chain read) into *type and
 * *tlen, *type NULL when that column is NULL. Returns 0, or -1 when the
 * row is not what was asked for.
 */
static int
parse_row(const char *p, int n, int cols, long long *seq, const char **body,
    size_t *blen, const char **type, size_t *tlen)
{
	const char *e = p + n;

	if (n < 2 || (p[0] << 8 | (unsigned char)p[1]) != cols)
		return -1;
	p += 2;
	if (e - p < 12 || get32(p) != 8)
		return -1;
	*seq = get_int8(p + 4);
	p += 12;
	if (e - p < 4)
		return -1;
	*blen = get32(p);
	p += 4;
	if ((size_t)(e - p) < *blen)
		return -1;
	*body = p;
	p += *blen;
	if (cols == 3) {
		if (e - p < 4)
			return -1;
		*tlen = get32(p);
		p += 4;
		*type = NULL;
		if (*tlen == 0xffffffffu)
			return 0;	/* NULL */
		if ((size_t)(e - p) < *tlen)
			return -1;
		*type = p;
	}
	return 0;
}

/* Read to the end of a COPY we stopped listening to. */
static void
drain(struct pg_log *l)
{
	char *buf;
	PGresult *res;

	while (PQgetCopyData(l->conn, &buf, 0) > 0)
		PQfreemem(buf);
	while ((res = PQgetResult(l->conn)) != NULL)
		PQclear(res);
}

static int
pg_read(struct evt_log *base, struct evt_read *r, evt_log_fn fn, void *arg,
    struct evt_err *err)
{
	struct pg_log *l = (struct pg_log *)base;
	struct evt_buf sql = EVT_BUF_INIT;
	PGresult *res;
	long long snap, n = 0;
	int cside, len, first = 1, done = 0;
	char *buf;

	if (ensure(l, err) < 0)
		return -1;
	/* One snapshot for the head and the query, so `scanned` is exact:
	 * every event up to the head was either written or filtered out. */
	res = PQexec(l->conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;"
	    "SELECT seq FROM evt_head");
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		pgerr(l, res, err, "read");
		goto rollback;
	}
	snap = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	build_read(l, r, snap, &sql, &cside);
	res = PQexec(l->conn, sql.p);
	evt_buf_free(&sql);
	if (PQresultStatus(res) != PGRES_COPY_OUT) {
		pgerr(l, res, err, "read");
		goto rollback;
	}
	PQclear(res);
	while ((len = PQgetCopyData(l->conn, &buf, 0)) > 0) {
		const char *p = buf, *body, *type = NULL;
		size_t blen, tlen = 0;
		long long seq;
		int cr;

		if (first) {
			/* The header: signature, flags, extension. */
			if (len < 19 || memcmp(p, copy_header, 11) != 0) {
				PQfreemem(buf);
				evt_err_set(err, EX_IOERR, "%s: read: bad COPY "
				    "header", l->base.path);
				goto abandon;
			}
			p += 19 + get32(p + 15);
			len -= (int)(p - buf);
			first = 0;
		}
		if (len == 2 && p[0] == '\377' && p[1] == '\377') {
			PQfreemem(buf);
			continue;	/* the trailer */
		}
		if (done || parse_row(p, len, cside ? 3 : 2, &seq, &body, &blen,
		    &type, &tlen) < 0) {
			PQfreemem(buf);
			if (done)
				continue;
			evt_err_set(err, EX_IOERR, "%s: read: bad COPY row",
			    l->base.path);
			goto abandon;
		}
		if (cside && !evt_filter_type(&r->filter->types, type, tlen)) {
			PQfreemem(buf);
			continue;
		}
		cr = fn(arg, seq, body, blen);
		PQfreemem(buf);
		if (cr < 0)
			goto abandon;
		n++;
		if (!r->reverse && seq > r->scanned)
			r->scanned = seq;
		if (cr > 0 || (r->limit && n >= r->limit)) {
			if (!r->reverse)
				snap = seq;
			done = 1;	/* read on to the end of the COPY */
		}
	}
	if (len == -2) {
		pgerr(l, NULL, err, "read");
		goto rollback;
	}
	res = PQgetResult(l->conn);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		pgerr(l, res, err, "read");
		drain(l);
		goto rollback;
	}
	PQclear(res);
	drain(l);
	if (exec(l, "COMMIT", PGRES_COMMAND_OK, err, "read") < 0)
		return -1;
	if (snap > r->scanned)
		r->scanned = snap;
	return 0;
abandon:
	/* The caller gave up (stdout went away, say) or the stream is bad:
	 * drop the connection rather than read the rest; the next call
	 * connects again. */
	PQfinish(l->conn);
	l->conn = NULL;
	return -1;
rollback:
	if (l->conn && PQstatus(l->conn) == CONNECTION_OK)
		PQclear(PQexec(l->conn, "ROLLBACK"));
	return -1;
}

/* --- the chain (chain.h) -------------------------------------------------- */

/*
 * The hash in column col of row 0 of res (text format, bytea as \x and
 * hex digits) into out. Returns 1, 0 when it is NULL, -1 when it is not a
 * SHA-256 (changed behind evt's back).
 */
static int
get_hash(PGresult *res, int row, int col, unsigned char *out)
{
	const char *p = PQgetvalue(res, row, col);

	if (PQgetisnull(res, row, col))
		return 0;
	if (PQgetlength(res, row, col) != 2 + 2 * EVT_CHAIN_LEN ||
	    p[0] != '\\' || p[1] != 'x')
		return -1;
	for (int i = 0; i < EVT_CHAIN_LEN; i++) {
		unsigned v = 0;
		for (int j = 0; j < 2; j++) {
			char c = p[2 + 2 * i + j];
			v <<= 4;
			if (c >= '0' && c <= '9')
				v |= (unsigned)(c - '0');
			else if (c >= 'a' && c <= 'f')
				v |= (unsigned)(c - 'a' + 10);
			else
				return -1;
		}
		out[i] = (unsigned char)v;
	}
	return 1;
}

/* Called by copy_out for each row: 0 to go on, 1 to stop, -1 to fail. */
typedef int (*copy_row_fn)(void *, const char *, int);

/*
 * Run sql, a COPY ... TO STDOUT (FORMAT binary), and hand each row (its
 * bytes after the header) to fn. Returns 0, 1 when fn stopped it, -1
 * with err (fn's failure: err as fn left it). The connection is dropped
 * when the COPY is not read to its end (the next call connects again),
 * so a stop costs no more reading.
 */
static int
copy_out(struct pg_log *l, const char *sql, copy_row_fn fn, void *arg,
    struct evt_err *err)
{
	PGresult *res = PQexec(l->conn, sql);
	int len, first = 1, rc = 0;
	char *buf;

	if (PQresultStatus(res) != PGRES_COPY_OUT)
		return pgerr(l, res, err, "read");
	PQclear(res);
	while ((len = PQgetCopyData(l->conn, &buf, 0)) > 0) {
		const char *p = buf;

		if (first) {
			if (len < 19 || memcmp(p, copy_header, 11) != 0) {
				PQfreemem(buf);
				evt_err_set(err, EX_IOERR, "%s: read: bad COPY "
				    "header", l->base.path);
				rc = -1;
				goto abandon;
			}
			p += 19 + get32(p + 15);
			len -= (int)(p - buf);
			first = 0;
		}
		if (len == 2 && p[0] == '\377' && p[1] == '\377') {
			PQfreemem(buf);
			continue;	/* the trailer */
		}
		rc = fn(arg, p, len);
		PQfreemem(buf);
		if (rc != 0)
			goto abandon;
	}
	if (len == -2)
		return pgerr(l, NULL, err, "read");
	res = PQgetResult(l->conn);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		pgerr(l, res, err, "read");
		drain(l);
		return -1;
	}
	PQclear(res);
	drain(l);
	return 0;
abandon:
	PQfinish(l->conn);
	l->conn = NULL;
	return rc;
}

/* One binary COPY row of (seq bigint, body text, hash bytea): hash NULL
 * when the column is, or is not a hash. Returns 0, or -1 when the row is
 * not that. */
static int
parse_chain_row(const char *p, int n, long long *seq, const char **body,
    size_t *blen, const unsigned char **hash)
{
	const char *h;
	size_t hl;

	if (parse_row(p, n, 3, seq, body, blen, &h, &hl) < 0)
		return -1;
	*hash = h && hl == EVT_CHAIN_LEN ? (const unsigned char *)h : NULL;
	return 0;
}

struct fill {
	struct pg_log *l;
	struct evt_buf out;	/* binary COPY rows of (seq, hash) */
	struct evt_err *err;
};

static int
fill_row(void *arg, const char *p, int n)
{
	struct fill *f = arg;
	const char *body;
	size_t blen;
	long long seq;

	if (parse_row(p, n, 2, &seq, &body, &blen, NULL, NULL) < 0)
		return evt_err_set(f->err, EX_IOERR, "%s: chain: bad COPY row",
		    f->l->base.path);
	evt_chain_step(f->l->hs, f->l->chain, seq, body, blen, f->l->chain);
	put16(&f->out, 2);
	put_int8(&f->out, seq);
	put_text(&f->out, (const char *)f->l->chain, EVT_CHAIN_LEN);
	return 0;
}

/*
 * Chain the events after seq from, chaining on from the hash stored with
 * from, or, when from is before start (nothing of the log left before
 * it), from the archive boundary's (boundary; NULL: 32 zero bytes): all
 * of a log without a hash, or what the operator re-chains
 * (evt_log_rechain). Inside the write transaction, under the lock;
 * l->chain gets h(head).
 */
static int
chain_fill(struct pg_log *l, long long start, const unsigned char *boundary,
    long long from, struct evt_err *err)
{
	struct fill f = { l, EVT_BUF_INIT, err };
	char sql[300];
	PGresult *res;
	int rc;

	if (from < start - 1)
		from = start - 1;
	if (boundary)
		memcpy(l->chain, boundary, EVT_CHAIN_LEN);
	else
		memset(l->chain, 0, EVT_CHAIN_LEN);
	if (from >= start) {
		snprintf(sql, sizeof(sql), "SELECT hash FROM evt_events WHERE "
		    "seq = %lld", from);
		res = PQexec(l->conn, sql);
		if (PQresultStatus(res) != PGRES_TUPLES_OK)
			return pgerr(l, res, err, "read the chain");
		rc = PQntuples(res) == 1 ? get_hash(res, 0, 0, l->chain) : 0;
		PQclear(res);
		if (rc != 1)
			return evt_err_set(err, EX_IOERR, "%s: seq %lld: no hash "
			    "to chain on from; re-chain from an earlier seq",
			    l->base.path, from);
	}
	if (from >= l->head)
		return 0;
	/* However long the log: no statement timeout (the other writers
	 * wait for the lock, or give up with 75 and retry), and the
	 * hashes go back in slices, so memory stays flat. */
	rc = exec(l, "SET LOCAL statement_timeout = 0; CREATE TEMP TABLE "
	    "evt_chain_fill(seq bigint, hash bytea) ON COMMIT DROP",
	    PGRES_COMMAND_OK, err, "chain the log");
	for (; rc == 0 && from < l->head; from += FILL_SLICE) {
		snprintf(sql, sizeof(sql), "COPY (SELECT seq, body FROM "
		    "evt_events WHERE seq > %lld AND seq <= %lld ORDER BY seq) "
		    "TO STDOUT (FORMAT binary)", from, from + FILL_SLICE);
		rc = copy_out(l, sql, fill_row, &f, err);
		if (rc == 0 && f.out.len > 0)
			rc = copy_in(l, "COPY evt_chain_fill FROM STDIN "
			    "(FORMAT binary)", &f.out, err);
		if (rc == 0)
			rc = exec(l, "UPDATE evt_events e SET hash = f.hash FROM "
			    "evt_chain_fill f WHERE e.seq = f.seq; TRUNCATE "
			    "evt_chain_fill", PGRES_COMMAND_OK, err,
			    "chain the log");
	}
	evt_buf_free(&f.out);
	return rc == 0 ? 0 : -1;
}

/*
 * At the start of a write transaction, from the row of res (head, ...,
 * start, h(head), the hash at the archive boundary): l->chain = h(head).
 * The head's hash missing or not a SHA-256 in a chained log, or the head
 * row past the last stored event, is refused (log_impl.h, issue 22): a
 * log is chained here only when no event has a hash and none records an
 * earlier chaining.
 */
static int
chain_begin(struct pg_log *l, PGresult *res, long long start,
    struct evt_err *err)
{
	unsigned char boundary[EVT_CHAIN_LEN];
	PGresult *q;
	long long last;
	int hb, ha, hashed, rec;

	if (l->hs == NULL)
		l->hs = evt_hasher_new();
	hb = get_hash(res, 0, 5, boundary);
	ha = get_hash(res, 0, 4, l->chain);
	if (hb < 0 || (ha < 0 && l->base.rechain_from == 0))
		return evt_err_set(err, EX_IOERR, "%s: seq %lld: the stored "
		    "hash is not a SHA-256; a writer does not repair a chain: "
		    "see evt-verify --rechain", l->base.path, hb < 0 ? start - 1 :
		    l->head);
	if (ha == 1 && l->base.rechain_from == 0)
		return 0;
	if (l->head < start) {
		/* No events stored: none yet, or all archived. */
		if (hb == 1)
			memcpy(l->chain, boundary, EVT_CHAIN_LEN);
		else
			memset(l->chain, 0, EVT_CHAIN_LEN);
		return 0;
	}
	/* Rare (a first write of an earlier evt's log, a repair, a
	 * refusal), so the questions may take a scan. */
	q = PQexec(l->conn, "SELECT coalesce(max(seq), 0), EXISTS (SELECT 1 "
	    "FROM evt_events WHERE hash IS NOT NULL), EXISTS (SELECT 1 FROM "
	    "evt_events WHERE subject = '" EVT_CHAIN_SUBJECT "') OR EXISTS "
	    "(SELECT 1 FROM evt_streams WHERE subject = '" EVT_CHAIN_SUBJECT
	    "') FROM evt_events");
	if (PQresultStatus(q) != PGRES_TUPLES_OK || PQntuples(q) != 1)
		return pgerr(l, q, err, "read the chain");
	last = strtoll(PQgetvalue(q, 0, 0), NULL, 10);
	hashed = *PQgetvalue(q, 0, 1) == 't';
	rec = *PQgetvalue(q, 0, 2) == 't';
	PQclear(q);
	if (last < start)
		last = start - 1;
	if (l->base.rechain_from > 0) {
		/* The operator's repair: a head row past the last event
		 * stored (events deleted from the end) comes back to it. */
		if (last < l->head)
			l->head = last;
		return chain_fill(l, start, hb == 1 ? boundary : NULL,
		    l->base.rechain_from - 1, err);
	}
	if (last < l->head)
		return evt_err_set(err, EX_IOERR, "%s: seq %lld: log truncated: "
		    "the head row says seq %lld, the last event stored is seq "
		    "%lld; a writer does not repair a chain: see evt-verify --rechain",
		    l->base.path, last + 1, l->head, last);
	if (hashed || rec)
		return evt_err_set(err, EX_IOERR, "%s: seq %lld: hash missing "
		    "in a chained log (%s); a writer does not repair a chain: "
		    "see evt-verify --rechain", l->base.path, l->head, hashed ?
		    "other events have one" : "every hash removed");
	if (chain_fill(l, start, hb == 1 ? boundary : NULL, start - 1, err) < 0)
		return -1;
	l->base.chained_now = l->head;
	return 0;
}

struct chain_read {
	struct pg_log *l;
	evt_chain_fn fn;
	void *arg;
	struct evt_err *err;
};

static int
chain_read_row(void *arg, const char *p, int n)
{
	struct chain_read *c = arg;
	const unsigned char *hash;
	const char *body;
	size_t blen;
	long long seq;

	if (parse_chain_row(p, n, &seq, &body, &blen, &hash) < 0)
		return evt_err_set(c->err, EX_IOERR, "%s: read: bad COPY row",
		    c->l->base.path);
	return c->fn(c->arg, seq, body, blen, hash);
}

/* The chain_read operation of log_impl.h, in one snapshot. */
static int
pg_chain_read(struct evt_log *base, long long after, int *chained,
    long long *hrow, evt_chain_fn fn, void *arg, struct evt_err *err)
{
	struct pg_log *l = (struct pg_log *)base;
	struct chain_read c = { l, fn, arg, err };
	unsigned char boundary[EVT_CHAIN_LEN];
	char sql[300];
	PGresult *res;
	long long start, head;
	int hb, rc = -1;

	if (ensure(l, err) < 0)
		return -1;
	res = PQexec(l->conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;"
	    "SELECT h.start, h.seq, (SELECT hash FROM evt_archives WHERE last = "
	    "h.start - 1), EXISTS (SELECT 1 FROM evt_events WHERE hash IS NOT "
	    "NULL) FROM evt_head h");
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		pgerr(l, res, err, "read the chain");
		goto rollback;
	}
	start = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	head = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
	hb = get_hash(res, 0, 2, boundary);
	*chained = *PQgetvalue(res, 0, 3) == 't';
	*hrow = head;
	PQclear(res);
	if (start > after + 1 && start > 1) {
		/* A kept hash that is not one is no boundary: the rows
		 * after it then fail to chain, which names the place. */
		rc = fn(arg, start - 1, NULL, 0, hb == 1 ? boundary : NULL);
		if (rc != 0)
			goto rollback;
	}
	snprintf(sql, sizeof(sql), "COPY (SELECT seq, body, hash FROM "
	    "evt_events WHERE seq > %lld AND seq <= %lld ORDER BY seq) TO "
	    "STDOUT (FORMAT binary)", after, head);
	rc = copy_out(l, sql, chain_read_row, &c, err);
	if (rc < 0)
		goto rollback;
	if (rc == 0 && exec(l, "COMMIT", PGRES_COMMAND_OK, err, "read") < 0)
		return -1;
	return 0;
rollback:
	if (l->conn && PQstatus(l->conn) == CONNECTION_OK)
		PQclear(PQexec(l->conn, "ROLLBACK"));
	return rc > 0 ? 0 : -1;
}

/* One value of a one-row, one-column query; 0, 1 when there is no row,
 * -1 with err. */
static int
query_ll(struct pg_log *l, const char *sql, const char *param,
    long long *out, struct evt_err *err, const char *what)
{
	PGresult *res;
	int rc = 0;

	if (ensure(l, err) < 0)
		return -1;
	res = PQexecParams(l->conn, sql, param ? 1 : 0, NULL, &param, NULL,
	    NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		return pgerr(l, res, err, what);
	if (PQntuples(res) == 0)
		rc = 1;
	else
		*out = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return rc;
}

static int
pg_last_seq(struct evt_log *base, long long *seq, struct evt_err *err)
{
	return query_ll((struct pg_log *)base, "SELECT seq FROM evt_head", NULL,
	    seq, err, "read last seq") < 0 ? -1 : 0;
}

static int
pg_first_seq(struct evt_log *base, long long *seq, struct evt_err *err)
{
	return query_ll((struct pg_log *)base, "SELECT start FROM evt_head",
	    NULL, seq, err, "read where the log starts") < 0 ? -1 : 0;
}

static int
pg_ckpt_get(struct evt_log *base, const char *name, long long *seq,
    struct evt_err *err)
{
	return query_ll((struct pg_log *)base, "SELECT seq FROM evt_checkpoints "
	    "WHERE name = $1", name, seq, err, "read checkpoint");
}

static int
pg_ckpt_set(struct evt_log *base, const char *name, long long seq,
    struct evt_err *err)
{
	struct pg_log *l = (struct pg_log *)base;
	char num[32], now[EVT_TIME_LEN + 1];
	int64_t ms;
	PGresult *res;

	if (evt_clock_now(&ms, err) < 0 || ensure(l, err) < 0)
		return -1;
	evt_time_format(ms, now);
	snprintf(num, sizeof(num), "%lld", seq);
	const char *params[3] = { name, num, now };
	res = PQexecParams(l->conn, "INSERT INTO evt_checkpoints(name, seq, "
	    "updated) VALUES ($1, $2, $3) ON CONFLICT (name) DO UPDATE SET "
	    "seq = excluded.seq, updated = excluded.updated", 3, NULL, params,
	    NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		return pgerr(l, res, err, "write checkpoint");
	PQclear(res);
	return 0;
}

static int
pg_listen(struct evt_log *base, struct evt_err *err)
{
	struct pg_log *l = (struct pg_log *)base;
	char sql[300];

	l->listening = 1;
	if (ensure(l, err) < 0)
		return -1;
	snprintf(sql, sizeof(sql), "LISTEN %s", l->chan);
	if (exec(l, sql, PGRES_COMMAND_OK, err, "listen") < 0)
		return -1;
	return 1;
}

static int
pg_notify_fd(struct evt_log *base)
{
	struct pg_log *l = (struct pg_log *)base;

	if (l->conn == NULL || PQstatus(l->conn) != CONNECTION_OK)
		return -1;
	return PQsocket(l->conn);
}

static int
pg_notified(struct evt_log *base)
{
	struct pg_log *l = (struct pg_log *)base;
	PGnotify *nt;
	int got = 0;

	if (l->conn == NULL || PQstatus(l->conn) != CONNECTION_OK)
		return 0;	/* down: the caller's timeout tries again */
	if (PQconsumeInput(l->conn) == 0)
		return 1;	/* it just went: read, which connects again */
	while ((nt = PQnotifies(l->conn)) != NULL) {
		got = 1;
		PQfreemem(nt);
	}
	return got;
}

const struct evt_log_ops evt_log_pg_ops = {
	.name = "postgres",
	.open = pg_open,
	.close = pg_close,
	.begin = pg_begin,
	.append = pg_append,
	.commit = pg_commit,
	.rollback = pg_rollback,
	.read = pg_read,
	.last_seq = pg_last_seq,
	.ckpt_get = pg_ckpt_get,
	.ckpt_set = pg_ckpt_set,
	.chain_read = pg_chain_read,
};
