/*
 * project.h - the read models of DESIGN §4 (evt-project): events folded
 * into tables of rows, the built-in projections and those a JSON spec
 * describes.
 */
#ifndef EVT_PROJECT_H
#define EVT_PROJECT_H

#include "err.h"
#include "event.h"
#include "rows.h"

struct evt_proj;

/*
 * A new projection: a built-in name (evt_proj_names), or with specfile set, the projection that file
 * describes (name is then ignored). NULL with err: EX_USAGE for an
 * unknown name, EX_NOINPUT for a missing spec, EX_DATAERR for a bad one.
 */
struct evt_proj *evt_proj_new(const char *name, const char *specfile,
    struct evt_err *err);
void evt_proj_free(struct evt_proj *p);

/* The built-in projections' names, for messages: "inventory, ...,
 * orchestrations, or --spec FILE" (static). */
const char *evt_proj_names(void);

/* Its name (borrowed): the checkpoint name in a read-model store. */
const char *evt_proj_name(const struct evt_proj *p);

/* Its tables, the printed one first, then its internal state (borrowed). */
struct evt_table **evt_proj_tables(struct evt_proj *p, size_t *n);

/*
 * Fold ev (parsed, borrowed) into the tables. Returns 0, or -1 with err
 * (EX_DATAERR: the payload lacks what the projection needs; EX_IOERR: the
 * store failed).
 */
int evt_proj_fold(struct evt_proj *p, const struct evt_event *ev,
    struct evt_err *err);

#endif
