/*
 * pq_load.h - libpq, loaded only by a process that opens a PostgreSQL log.
 *
 * libpq.so.5 brings some twenty libraries of its own (Kerberos, LDAP,
 * GnuTLS, SASL...), whose loading and relocation was most of the start-up
 * of every program, on every log (issue 29). So no program links it:
 * pq_load.c defines the PQ* functions that log_pg.c calls, each a thin
 * wrapper over the real one, found with dlopen(3)/dlsym(3) the first time
 * any is needed. libpq then stays loaded for the life of the process
 * (never dlclose'd: ASan and valgrind symbolise through it at exit).
 */
#ifndef EVT_PQ_LOAD_H
#define EVT_PQ_LOAD_H

#include "err.h"

/* The file name dlopen(3) is given: libpq's soname, searched for as the
 * dynamic linker would (LD_LIBRARY_PATH, the cache, the default paths). */
#define EVT_PQ_SONAME "libpq.so.5"

/*
 * Load libpq unless it is loaded already: 0, or -1 with err when it
 * cannot be (EX_UNAVAILABLE, as a server that cannot be reached, and a
 * message "NAME: cannot load ..." naming libpq.so.5 and why). name is
 * what the message calls the log: never the URL itself, which may hold a
 * password. Thread-safe; the answer is the same for the life of the
 * process. Called before a PostgreSQL log is opened, so that the PQ*
 * wrappers are only ever called with libpq there.
 */
int evt_pq_load(const char *name, struct evt_err *err);

#endif
