/*
 * pq_load.c - the PQ* functions of libpq that evt calls, resolved in
 * libpq.so.5 through dlopen(3) the first time one is needed (pq_load.h).
 *
 * The programs are linked without -lpq, so the only definitions of these
 * names in a program are the ones below, and nothing outside this file
 * knows that libpq is loaded late: log_pg.c includes <libpq-fe.h> and
 * calls PQexec as it would with -lpq. The prototypes come from the same
 * header, so the compiler checks every wrapper against libpq's own
 * declaration, and a function log_pg.c starts to call that is not listed
 * here fails the link, not the run.
 *
 * Every symbol is looked up at once, when the library is loaded (with
 * RTLD_NOW), so that a libpq too old or broken is refused before the log
 * is opened, never in the middle of a transaction. After that a call
 * costs one pthread_once(3) check (an acquire load) and an indirect jump.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include <libpq-fe.h>

#include "crypto_load.h"
#include "pq_load.h"

/*
 * The functions used, as (return type, name, parameters, arguments): FN
 * for those returning a value, VFN for those returning void. PQ_EARLY are
 * the ones that may be called before a log is opened (their wrappers are
 * written out below), PQ_FUNCS all the others.
 */
#define PQ_EARLY(FN, VFN) \
	FN(PQconninfoOption *, PQconninfoParse, (const char *conninfo, \
	    char **errmsg), (conninfo, errmsg)) \
	VFN(PQconninfoFree, (PQconninfoOption *o), (o)) \
	VFN(PQfreemem, (void *ptr), (ptr))
#define PQ_FUNCS(FN, VFN) \
	VFN(PQclear, (PGresult *res), (res)) \
	FN(PGconn *, PQconnectdb, (const char *conninfo), (conninfo)) \
	FN(int, PQconsumeInput, (PGconn *conn), (conn)) \
	FN(char *, PQerrorMessage, (const PGconn *conn), (conn)) \
	FN(char *, PQescapeIdentifier, (PGconn *conn, const char *str, \
	    size_t len), (conn, str, len)) \
	FN(char *, PQescapeLiteral, (PGconn *conn, const char *str, \
	    size_t len), (conn, str, len)) \
	FN(PGresult *, PQexec, (PGconn *conn, const char *query), \
	    (conn, query)) \
	FN(PGresult *, PQexecParams, (PGconn *conn, const char *command, \
	    int nParams, const Oid *paramTypes, \
	    const char *const *paramValues, const int *paramLengths, \
	    const int *paramFormats, int resultFormat), (conn, command, \
	    nParams, paramTypes, paramValues, paramLengths, paramFormats, \
	    resultFormat)) \
	FN(PGresult *, PQexecPrepared, (PGconn *conn, const char *stmtName, \
	    int nParams, const char *const *paramValues, \
	    const int *paramLengths, const int *paramFormats, \
	    int resultFormat), (conn, stmtName, nParams, paramValues, \
	    paramLengths, paramFormats, resultFormat)) \
	VFN(PQfinish, (PGconn *conn), (conn)) \
	FN(int, PQgetCopyData, (PGconn *conn, char **buffer, int async), \
	    (conn, buffer, async)) \
	FN(PGresult *, PQgetResult, (PGconn *conn), (conn)) \
	FN(int, PQgetisnull, (const PGresult *res, int tup_num, \
	    int field_num), (res, tup_num, field_num)) \
	FN(int, PQgetlength, (const PGresult *res, int tup_num, \
	    int field_num), (res, tup_num, field_num)) \
	FN(char *, PQgetvalue, (const PGresult *res, int tup_num, \
	    int field_num), (res, tup_num, field_num)) \
	FN(PGnotify *, PQnotifies, (PGconn *conn), (conn)) \
	FN(int, PQntuples, (const PGresult *res), (res)) \
	FN(PGresult *, PQprepare, (PGconn *conn, const char *stmtName, \
	    const char *query, int nParams, const Oid *paramTypes), \
	    (conn, stmtName, query, nParams, paramTypes)) \
	FN(int, PQputCopyData, (PGconn *conn, const char *buffer, \
	    int nbytes), (conn, buffer, nbytes)) \
	FN(int, PQputCopyEnd, (PGconn *conn, const char *errormsg), \
	    (conn, errormsg)) \
	FN(char *, PQresultErrorField, (const PGresult *res, int fieldcode), \
	    (res, fieldcode)) \
	FN(char *, PQresultErrorMessage, (const PGresult *res), (res)) \
	FN(ExecStatusType, PQresultStatus, (const PGresult *res), (res)) \
	FN(int, PQsendQueryPrepared, (PGconn *conn, const char *stmtName, \
	    int nParams, const char *const *paramValues, \
	    const int *paramLengths, const int *paramFormats, \
	    int resultFormat), (conn, stmtName, nParams, paramValues, \
	    paramLengths, paramFormats, resultFormat)) \
	FN(PQnoticeProcessor, PQsetNoticeProcessor, (PGconn *conn, \
	    PQnoticeProcessor proc, void *arg), (conn, proc, arg)) \
	FN(int, PQsocket, (const PGconn *conn), (conn)) \
	FN(ConnStatusType, PQstatus, (const PGconn *conn), (conn))

/* The real functions, set once by load() and only read after it. */
#define PTR(ret, name, params, args)	ret (*name) params;
#define VPTR(name, params, args)	void (*name) params;
static struct {
	PQ_EARLY(PTR, VPTR)
	PQ_FUNCS(PTR, VPTR)
} pq;

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int loaded;
static char why[400];		/* why not, when !loaded */

static void
load(void)
{
	void *h;
	const char *e;

	/*
	 * libpq brings libcrypto (through libssl), which crypto_load.c may
	 * dlopen later, at the first hash: loaded first, by itself, it is
	 * libpq's dependency as it is ours. The other way round, dlopen'ing
	 * what another dlopen brought, from a process that has threads by
	 * then (evt-append's parser), leaves glibc 2.36 a block it never
	 * frees (valgrind: 40 bytes definitely lost, in _dl_map_object_deps).
	 * It costs nothing: libpq would load it anyway. Whether it loads is
	 * libpq's dlopen's to say (a libpq built without OpenSSL needs none).
	 */
	(void)evt_crypto_load(NULL, NULL);
	h = dlopen(EVT_PQ_SONAME, RTLD_NOW | RTLD_LOCAL);
	if (h == NULL) {
		e = dlerror();
		snprintf(why, sizeof(why), "%s", e ? e : EVT_PQ_SONAME
		    ": cannot open shared object file");
		return;
	}
	/* A function pointer from dlsym's void *, which POSIX makes work. */
#define LOOK(name) \
	if ((pq.name = (__typeof__(pq.name))dlsym(h, #name)) == NULL) { \
		snprintf(why, sizeof(why), "%s has no %s (libpq too old?)", \
		    EVT_PQ_SONAME, #name); \
		dlclose(h); \
		return; \
	}
#define LOOKFN(ret, name, params, args)	LOOK(name)
#define LOOKVFN(name, params, args)	LOOK(name)
	PQ_EARLY(LOOKFN, LOOKVFN)
	PQ_FUNCS(LOOKFN, LOOKVFN)
	loaded = 1;
}

int
evt_pq_load(const char *name, struct evt_err *err)
{
	pthread_once(&once, load);
	if (loaded)
		return 0;
	return evt_err_set(err, EX_UNAVAILABLE, "%s: cannot load PostgreSQL's "
	    "client library: %s", name, why);
}

/*
 * The table, loaded; abort() if libpq could not be: a PGconn or PGresult
 * comes only from libpq, and a log is opened only after evt_pq_load said
 * yes, so a call here without libpq is a bug in evt.
 */
static void
need(void)
{
	pthread_once(&once, load);
	if (!loaded)
		abort();
}

/*
 * These three are called before any log is opened, by
 * evt_log_hide_password on the command line's argument, so they answer
 * without libpq too: no URL can be parsed, which has the caller hide all
 * of it, and nothing can have come from libpq to be freed. (Loading here
 * rather than when the log is opened costs nothing more: the log named
 * is the one about to be opened.)
 */
PQconninfoOption *
PQconninfoParse(const char *conninfo, char **errmsg)
{
	pthread_once(&once, load);
	if (!loaded) {
		if (errmsg)
			*errmsg = NULL;
		return NULL;
	}
	return pq.PQconninfoParse(conninfo, errmsg);
}

void
PQconninfoFree(PQconninfoOption *o)
{
	pthread_once(&once, load);
	if (loaded)
		pq.PQconninfoFree(o);
}

void
PQfreemem(void *ptr)
{
	pthread_once(&once, load);
	if (loaded)
		pq.PQfreemem(ptr);
}

/* The others: straight through the table. */
#define WRAP(ret, name, params, args) \
	ret name params { need(); return pq.name args; }
#define VWRAP(name, params, args) \
	void name params { need(); pq.name args; }
PQ_FUNCS(WRAP, VWRAP)
