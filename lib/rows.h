/*
 * rows.h - the tables of a read model: typed rows kept by key, printed
 * sorted in four formats, and optionally backed by SQLite tables (evt-project
 * --into) so that a run folds only what the last one did not.
 *
 * A table's first nkey columns are its key (all strings). Rows live in
 * memory; with a store attached, a row missing from memory is looked up in
 * the store first, changed rows are written back by evt_rows_commit and
 * then dropped from memory, so memory stays bounded by what one commit
 * touches.
 */
#ifndef EVT_ROWS_H
#define EVT_ROWS_H

#include <stddef.h>
#include <stdio.h>

#include "buf.h"
#include "decimal.h"
#include "err.h"
#include "hmap.h"

enum evt_vkind {
	EVT_V_NULL, EVT_V_INT, EVT_V_DEC, EVT_V_STR, EVT_V_BOOL,
	EVT_V_JSON		/* raw JSON text, any type */
};

/* One value: i for INT and BOOL, d for DEC (an exact decimal), s owned
 * for STR and JSON. */
struct evt_val {
	enum evt_vkind k;
	long long i;
	struct evt_dec d;
	char *s;
	size_t n;
};

struct evt_col {
	const char *name;	/* borrowed: static, or owned by the spec */
	enum evt_vkind kind;	/* what the column holds (its SQL type) */
	int scale;		/* DEC: at least this many decimals printed,
				 * and the scale of its integer in a store */
	int hidden;		/* state kept with the row (a store has it),
				 * not printed */
};

struct evt_row {
	int dirty, gone;	/* changed since loaded; deleted */
	struct evt_val v[];	/* ncol values */
};

struct evt_store;

struct evt_table {
	const char *name;	/* borrowed */
	const struct evt_col *cols;	/* borrowed */
	size_t ncol, nkey;
	int hidden;		/* internal state: not printed */
	struct evt_hmap idx;	/* key -> row pointer */
	struct evt_buf key;
	struct evt_store *store;	/* NULL: memory only */
	void *ins, *sel, *del;	/* the store's prepared statements */
};

/* Set up t (its fields name, cols, ncol, nkey, hidden already filled). */
void evt_table_init(struct evt_table *t);
void evt_table_free(struct evt_table *t);

/*
 * The row for key values k[0..nkey) (strings with lengths): from memory,
 * else the store, else (with create) a new row with the keys set and every
 * other value null. NULL when absent and not created, or on a store error
 * (err set, code != 0).
 */
struct evt_row *evt_row_get(struct evt_table *t, const char *const *k,
    const size_t *kn, int create, struct evt_err *err);

/* Setters: mark the row changed. */
void evt_row_null(struct evt_row *r, size_t col);
void evt_row_int(struct evt_row *r, size_t col, long long v);
void evt_row_dec(struct evt_row *r, size_t col, struct evt_dec v);
void evt_row_bool(struct evt_row *r, size_t col, int v);
void evt_row_str(struct evt_row *r, size_t col, const char *s, size_t n);
void evt_row_json(struct evt_row *r, size_t col, const char *s, size_t n);
/* Delete the row (it stays in memory as gone until the commit). */
void evt_row_delete(struct evt_row *r);

enum evt_format {
	EVT_FMT_NDJSON, EVT_FMT_JSON, EVT_FMT_TABLE, EVT_FMT_CSV,
	EVT_FMT_PROM		/* Prometheus gauges, evt_table_print says how */
};

/* Parse a format name; -1 if unknown. */
int evt_format_parse(const char *name);

/*
 * Print t's rows sorted by key to f, in format fmt, without its hidden
 * columns. width is the terminal
 * width a table must fit (0: no limit). EVT_FMT_PROM is the Prometheus
 * text format (a node_exporter textfile): one gauge family
 * evt_<table>_<column> per numeric column (integers, amounts, booleans
 * as 0 or 1; a null is no sample), one sample per row labelled with the
 * row's key columns; a name's characters other than [a-zA-Z0-9_] become
 * '_'. Returns 0, or -1 (errno set) on a write error.
 */
int evt_table_print(struct evt_table *t, enum evt_format fmt, int width,
    FILE *f);

/*
 * Open the read-model store at path (created if missing, mode 0600: it
 * holds payment and personal data) for the tables t[0..n): creates their
 * SQLite tables and the evt_projection checkpoint table, and attaches the
 * store to them. A money (DEC) column NAME is two SQL columns: NAME, TEXT
 * COLLATE decimal, the exact decimal as printed (sqlite3's decimal
 * extension compares and sorts it by value); and beside it the INTEGER
 * NAME_x100 (evt_col_xname): the amount times 10^scale, or NULL when it
 * has more decimals than scale or does not fit 64 bits. A table whose
 * columns were made otherwise (by another spec, or an older evt-project)
 * is refused. Returns NULL with err.
 */
struct evt_store *evt_store_open(const char *path, struct evt_table **t,
    size_t n, struct evt_err *err);
void evt_store_close(struct evt_store *s);
/*
 * Append to b the name of the INTEGER column beside money column c in a
 * store: c's name, "_x", and 10^scale ("total_x100" for scale 2).
 */
void evt_col_xname(struct evt_buf *b, const struct evt_col *c);
/*
 * NULL, or a message (borrowed, valid until the store is closed) about
 * the first amount that a commit of this store kept as exact text only,
 * its integer column NULL; for a warning.
 */
const char *evt_store_warning(const struct evt_store *s);
/* The seq that projection name has folded up to (0: none). */
int evt_store_checkpoint(struct evt_store *s, const char *name, long long *seq,
    struct evt_err *err);
/*
 * Write every changed row of the attached tables and name's checkpoint
 * seq and event count, in one transaction, durably; then drop the rows
 * from memory. A crash leaves the store as the last commit left it.
 */
int evt_store_commit(struct evt_store *s, const char *name, long long seq,
    long long events, const char *now, struct evt_err *err);

#endif
