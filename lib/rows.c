#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <sqlite3.h>

#include "decimal.h"
#include "json.h"
#include "rows.h"
#include "sqlfile.h"

#define BUSY_TIMEOUT_MS 10000

struct evt_store {
	sqlite3 *db;
	struct evt_table **t;
	size_t n;
	sqlite3_stmt *ck_get, *ck_set;
	struct evt_buf warning;	/* the first amount kept as text only */
};

void
evt_table_init(struct evt_table *t)
{
	memset(&t->idx, 0, sizeof(t->idx));
	memset(&t->key, 0, sizeof(t->key));
	t->store = NULL;
	t->ins = t->sel = t->del = NULL;
}

static void
row_free(size_t ncol, struct evt_row *r)
{
	for (size_t i = 0; i < ncol; i++)
		free(r->v[i].s);
	free(r);
}

struct drop_arg {
	struct evt_table *t;
};

static void
drop_row(void *arg, const char *k, size_t n, long long v)
{
	struct evt_table *t = arg;

	(void)k; (void)n;
	row_free(t->ncol, (struct evt_row *)(intptr_t)v);
}

/* Forget every row held in memory. */
static void
drop_rows(struct evt_table *t)
{
	evt_hmap_each(&t->idx, drop_row, t);
	evt_hmap_clear(&t->idx);
}

void
evt_table_free(struct evt_table *t)
{
	drop_rows(t);
	evt_hmap_free(&t->idx);
	evt_buf_free(&t->key);
	sqlite3_finalize(t->ins);
	sqlite3_finalize(t->sel);
	sqlite3_finalize(t->del);
	t->ins = t->sel = t->del = NULL;
}

static struct evt_row *
row_new(const struct evt_table *t)
{
	struct evt_row *r = calloc(1, sizeof(*r) + t->ncol * sizeof(struct evt_val));

	if (r == NULL)
		abort();
	return r;
}

static void
set_text(struct evt_val *v, enum evt_vkind k, const char *s, size_t n)
{
	free(v->s);
	v->k = k;
	v->s = malloc(n + 1);
	if (v->s == NULL)
		abort();
	memcpy(v->s, s, n);
	v->s[n] = '\0';
	v->n = n;
}

/* Fill r from the store's current row (the columns of t in order). */
static void
row_from_stmt(const struct evt_table *t, struct evt_row *r, sqlite3_stmt *st)
{
	for (size_t i = 0; i < t->ncol; i++) {
		struct evt_val *v = &r->v[i];
		int ty = sqlite3_column_type(st, (int)i);

		if (ty == SQLITE_NULL) {
			v->k = EVT_V_NULL;
			continue;
		}
		switch (t->cols[i].kind) {
		case EVT_V_INT:
		case EVT_V_BOOL:
			v->k = t->cols[i].kind;
			v->i = sqlite3_column_int64(st, (int)i);
			break;
		case EVT_V_DEC:
			/* Written by evt_dec_format; anything else (a hand
			 * edit) reads as null rather than as a wrong amount. */
			v->k = EVT_V_DEC;
			if (ty != SQLITE_TEXT || evt_dec_parse((const char *)
			    sqlite3_column_text(st, (int)i), (size_t)
			    sqlite3_column_bytes(st, (int)i), &v->d) != EVT_DEC_OK)
				v->k = EVT_V_NULL;
			break;
		default:
			set_text(v, t->cols[i].kind == EVT_V_NULL ? EVT_V_JSON :
			    t->cols[i].kind, (const char *)sqlite3_column_text(st,
			    (int)i), (size_t)sqlite3_column_bytes(st, (int)i));
			break;
		}
	}
}

static int
db_err(sqlite3 *db, struct evt_err *err, const char *what)
{
	return evt_err_set(err, EX_IOERR, "%s: %s", what, sqlite3_errmsg(db));
}

struct evt_row *
evt_row_get(struct evt_table *t, const char *const *k, const size_t *kn,
    int create, struct evt_err *err)
{
	struct evt_row *r = NULL;
	long long *p;

	evt_buf_reset(&t->key);
	for (size_t i = 0; i < t->nkey; i++)
		evt_hmap_keypart(&t->key, k[i], kn[i]);
	if ((p = evt_hmap_get(&t->idx, t->key.p, t->key.len)) != NULL) {
		r = (struct evt_row *)(intptr_t)*p;
		if (!r->gone)
			return r;
		if (!create)
			return NULL;
		/* Deleted in this commit and made again: start afresh. */
		for (size_t i = t->nkey; i < t->ncol; i++) {
			free(r->v[i].s);
			memset(&r->v[i], 0, sizeof(r->v[i]));
		}
		r->gone = 0;
		r->dirty = 1;
		return r;
	}
	if (t->store) {
		sqlite3_stmt *st = t->sel;
		int rc;
		for (size_t i = 0; i < t->nkey; i++)
			sqlite3_bind_text(st, (int)i + 1, k[i], (int)kn[i],
			    SQLITE_STATIC);
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			r = row_new(t);
			row_from_stmt(t, r, st);
		}
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
		if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
			db_err(sqlite3_db_handle(st), err, t->name);
			return NULL;
		}
	}
	if (r == NULL) {
		if (!create)
			return NULL;
		r = row_new(t);
		for (size_t i = 0; i < t->nkey; i++)
			set_text(&r->v[i], EVT_V_STR, k[i], kn[i]);
		r->dirty = 1;
	}
	evt_hmap_put(&t->idx, t->key.p, t->key.len, (long long)(intptr_t)r);
	return r;
}

void
evt_row_null(struct evt_row *r, size_t col)
{
	free(r->v[col].s);
	memset(&r->v[col], 0, sizeof(r->v[col]));
	r->dirty = 1;
}

static void
set_num(struct evt_row *r, size_t col, enum evt_vkind k, long long v)
{
	free(r->v[col].s);
	r->v[col].s = NULL;
	r->v[col].k = k;
	r->v[col].i = v;
	r->dirty = 1;
}

void evt_row_int(struct evt_row *r, size_t col, long long v) { set_num(r, col, EVT_V_INT, v); }

void
evt_row_dec(struct evt_row *r, size_t col, struct evt_dec v)
{
	set_num(r, col, EVT_V_DEC, 0);
	r->v[col].d = v;
}
void evt_row_bool(struct evt_row *r, size_t col, int v) { set_num(r, col, EVT_V_BOOL, v != 0); }

void
evt_row_str(struct evt_row *r, size_t col, const char *s, size_t n)
{
	struct evt_val *v = &r->v[col];

	r->dirty = 1;
	if (v->k == EVT_V_STR && v->n == n && memcmp(v->s, s, n) == 0)
		return;
	set_text(v, EVT_V_STR, s, n);
}

void
evt_row_json(struct evt_row *r, size_t col, const char *s, size_t n)
{
	set_text(&r->v[col], EVT_V_JSON, s, n);
	r->dirty = 1;
}

void
evt_row_delete(struct evt_row *r)
{
	r->gone = 1;
	r->dirty = 1;
}

/* --- printing ----------------------------------------------------------- */

int
evt_format_parse(const char *name)
{
	static const char *const names[] = {
		"ndjson", "json", "table", "csv", "prom"
	};

	for (int i = 0; i < 5; i++)
		if (strcmp(name, names[i]) == 0)
			return i;
	return -1;
}

static int
cmp_rows(const void *a, const void *b, void *arg)
{
	const struct evt_table *t = arg;
	const struct evt_row *x = *(struct evt_row *const *)a;
	const struct evt_row *y = *(struct evt_row *const *)b;

	for (size_t i = 0; i < t->nkey; i++) {
		size_t n = x->v[i].n < y->v[i].n ? x->v[i].n : y->v[i].n;
		int c = memcmp(x->v[i].s, y->v[i].s, n);
		if (c)
			return c;
		if (x->v[i].n != y->v[i].n)
			return x->v[i].n < y->v[i].n ? -1 : 1;
	}
	return 0;
}

struct collect {
	struct evt_row **r;
	size_t n;
};

static void
collect(void *arg, const char *k, size_t n, long long v)
{
	struct collect *c = arg;
	struct evt_row *r = (struct evt_row *)(intptr_t)v;

	(void)k; (void)n;
	if (!r->gone)
		c->r[c->n++] = r;
}

/* v as JSON. */
static void
put_json(struct evt_buf *b, const struct evt_col *c, const struct evt_val *v)
{
	switch (v->k) {
	case EVT_V_NULL: evt_buf_adds(b, "null"); break;
	case EVT_V_INT: evt_buf_printf(b, "%lld", v->i); break;
	case EVT_V_DEC: evt_dec_format(b, v->d, c->scale); break;
	case EVT_V_BOOL: evt_buf_adds(b, v->i ? "true" : "false"); break;
	case EVT_V_STR: evt_buf_json_str(b, v->s, v->n); break;
	case EVT_V_JSON: evt_buf_add(b, v->s, v->n); break;
	}
}

/* v as text for people and spreadsheets: null is empty. */
static void
put_text(struct evt_buf *b, const struct evt_col *c, const struct evt_val *v)
{
	switch (v->k) {
	case EVT_V_NULL: break;
	case EVT_V_STR: evt_buf_add(b, v->s, v->n); break;
	case EVT_V_JSON:
		if (v->n >= 2 && v->s[0] == '"') {	/* a string: its text */
			struct evt_buf d = EVT_BUF_INIT;
			evt_json_str_decode(v->s, v->n, &d);
			evt_buf_add(b, d.p, d.len);
			evt_buf_free(&d);
		} else
			evt_buf_add(b, v->s, v->n);
		break;
	default: put_json(b, c, v); break;
	}
}

static void
put_csv(struct evt_buf *b, const char *s, size_t n)
{
	if (strcspn(s, ",\"\r\n") >= n && memchr(s, '\0', n) == NULL) {
		evt_buf_add(b, s, n);
		return;
	}
	evt_buf_addc(b, '"');
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '"')
			evt_buf_addc(b, '"');
		evt_buf_addc(b, s[i]);
	}
	evt_buf_addc(b, '"');
}

/* Display width of UTF-8 text: its code points (no wide characters in
 * the data a store keeps is assumed; they would only misalign). */
static size_t
width_of(const char *s, size_t n)
{
	size_t w = 0;

	for (size_t i = 0; i < n; i++)
		if (((unsigned char)s[i] & 0xC0) != 0x80)
			w++;
	return w;
}

/* The first bytes of s that fill at most w columns. */
static size_t
cut(const char *s, size_t n, size_t w)
{
	size_t i = 0, cols = 0;

	while (i < n) {
		size_t j = i + 1;
		while (j < n && ((unsigned char)s[j] & 0xC0) == 0x80)
			j++;
		if (cols + 1 > w)
			break;
		cols++;
		i = j;
	}
	return i;
}

static int
numeric(const struct evt_col *c)
{
	return c->kind == EVT_V_INT || c->kind == EVT_V_DEC;
}

static void
put_cell(struct evt_buf *b, const char *s, size_t n, size_t w, int right,
    int last)
{
	size_t cw = width_of(s, n), pad;

	if (cw > w) {
		n = cut(s, n, w ? w - 1 : 0);
		evt_buf_add(b, s, n);
		evt_buf_adds(b, "\xe2\x80\xa6");	/* … */
		return;
	}
	pad = w - cw;
	if (right)
		for (size_t i = 0; i < pad; i++)
			evt_buf_addc(b, ' ');
	evt_buf_add(b, s, n);
	if (!right && !last)
		for (size_t i = 0; i < pad; i++)
			evt_buf_addc(b, ' ');
}

/* End a table line: no trailing blanks (an empty last cell). */
static void
end_line(struct evt_buf *b)
{
	while (b->len && b->p[b->len - 1] == ' ')
		b->len--;
	evt_buf_addc(b, '\n');
}

static int
print_table(const struct evt_table *t, struct evt_row **rows, size_t n,
    int width, FILE *f)
{
	size_t nc = 0, *col = calloc(t->ncol, sizeof(*col));
	size_t *w = calloc(t->ncol, sizeof(*w));
	struct evt_buf cells = EVT_BUF_INIT, line = EVT_BUF_INIT;
	size_t *off;
	int rc = 0;

	if (w == NULL || col == NULL)
		abort();
	/* The printed columns: col[0..nc) are their indexes in t. */
	for (size_t c = 0; c < t->ncol; c++)
		if (!t->cols[c].hidden)
			col[nc++] = c;
	if ((off = malloc((n * nc + 1) * sizeof(*off))) == NULL)
		abort();
	for (size_t c = 0; c < nc; c++)
		w[c] = width_of(t->cols[col[c]].name, strlen(t->cols[col[c]].name));
	for (size_t i = 0; i < n; i++)
		for (size_t c = 0; c < nc; c++) {
			size_t from = cells.len;
			off[i * nc + c] = from;
			put_text(&cells, &t->cols[col[c]], &rows[i]->v[col[c]]);
			/* One line per row: control characters become spaces. */
			for (size_t j = from; j < cells.len; j++)
				if ((unsigned char)cells.p[j] < 0x20)
					cells.p[j] = ' ';
			size_t cw = width_of(cells.p + from, cells.len - from);
			if (cw > w[c])
				w[c] = cw;
		}
	off[n * nc] = cells.len;
	/* Too wide for the terminal: narrow the widest text column that is
	 * not a key, a column at a time, down to 8 (then the keys). */
	if (width > 0) {
		for (;;) {
			size_t total = 2 * (nc - 1), wide = nc;
			for (size_t c = 0; c < nc; c++)
				total += w[c];
			if (total <= (size_t)width)
				break;
			/* Keys last: a row must stay recognisable (the keys
			 * are never hidden, so they come first here too). */
			for (int keys = 0; keys < 2 && wide == nc; keys++)
				for (size_t c = keys ? 0 : t->nkey; c < nc; c++)
					if (!numeric(&t->cols[col[c]]) && w[c] > 8 &&
					    (wide == nc || w[c] > w[wide]))
						wide = c;
			if (wide == nc)
				break;
			w[wide] -= total - (size_t)width < w[wide] - 8 ?
			    total - (size_t)width : w[wide] - 8;
		}
	}
	for (size_t c = 0; c < nc; c++) {
		if (c)
			evt_buf_adds(&line, "  ");
		put_cell(&line, t->cols[col[c]].name, strlen(t->cols[col[c]].name),
		    w[c], numeric(&t->cols[col[c]]), c == nc - 1);
	}
	end_line(&line);
	for (size_t i = 0; i < n && rc == 0; i++) {
		for (size_t c = 0; c < nc; c++) {
			size_t a = off[i * nc + c];
			size_t e = i * nc + c + 1 < n * nc ? off[i * nc + c + 1] :
			    cells.len;
			if (c)
				evt_buf_adds(&line, "  ");
			put_cell(&line, cells.p ? cells.p + a : "", e - a, w[c],
			    numeric(&t->cols[col[c]]), c == nc - 1);
		}
		end_line(&line);
		if (line.len > 65536) {
			if (fwrite(line.p, 1, line.len, f) != line.len)
				rc = -1;
			evt_buf_reset(&line);
		}
	}
	if (rc == 0 && line.len && fwrite(line.p, 1, line.len, f) != line.len)
		rc = -1;
	evt_buf_free(&cells);
	evt_buf_free(&line);
	free(off);
	free(w);
	free(col);
	return rc;
}

/* A metric or label name: [a-zA-Z0-9_], another character '_', and not
 * a digit first. */
static void
put_name(struct evt_buf *b, const char *s)
{
	if (*s >= '0' && *s <= '9')
		evt_buf_addc(b, '_');
	for (; *s; s++)
		evt_buf_addc(b, (*s >= 'a' && *s <= 'z') || (*s >= 'A' &&
		    *s <= 'Z') || (*s >= '0' && *s <= '9') ? *s : '_');
}

/* A label value, escaped as the text format wants. */
static void
put_label_value(struct evt_buf *b, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\n')
			evt_buf_adds(b, "\\n");
		else {
			if (s[i] == '\\' || s[i] == '"')
				evt_buf_addc(b, '\\');
			evt_buf_addc(b, s[i]);
		}
	}
}

/*
 * The rows as Prometheus gauges (evt_table_print). A family per numeric
 * column, its samples in key order: the format wants a family's samples
 * together.
 */
static int
print_prom(const struct evt_table *t, struct evt_row **rows, size_t n, FILE *f)
{
	struct evt_buf b = EVT_BUF_INIT, name = EVT_BUF_INIT;
	int rc = 0;

	for (size_t k = t->nkey; k < t->ncol && rc == 0; k++) {
		const struct evt_col *c = &t->cols[k];
		if (c->hidden || !(c->kind == EVT_V_INT || c->kind == EVT_V_DEC ||
		    c->kind == EVT_V_BOOL))
			continue;
		/* Base units, and no gauge named as a counter: a column
		 * in milliseconds is written in seconds, and one named
		 * total gets a suffix. */
		size_t cn = strlen(c->name);
		int ms = cn >= 3 && strcmp(c->name + cn - 3, "_ms") == 0;
		evt_buf_reset(&name);
		evt_buf_adds(&name, "evt_");
		put_name(&name, t->name);
		evt_buf_addc(&name, '_');
		put_name(&name, c->name);
		if (ms)
			name.p[name.len -= 3] = '\0';
		if (ms)
			evt_buf_adds(&name, "_seconds");
		else if (name.len >= 6 && strcmp(name.p + name.len - 6,
		    "_total") == 0)
			evt_buf_adds(&name, "_value");
		evt_buf_printf(&b, "# HELP %s The column %s%s of the read model "
		    "%s, by ", name.p, c->name, ms ? " in seconds" : "",
		    t->name);
		for (size_t i = 0; i < t->nkey; i++)
			evt_buf_printf(&b, "%s%s", i ? ", " : "", t->cols[i].name);
		evt_buf_printf(&b, ".\n# TYPE %s gauge\n", name.p);
		for (size_t i = 0; i < n; i++) {
			const struct evt_val *v = &rows[i]->v[k];
			if (v->k != EVT_V_INT && v->k != EVT_V_DEC &&
			    v->k != EVT_V_BOOL)
				continue;
			evt_buf_add(&b, name.p, name.len);
			evt_buf_addc(&b, '{');
			for (size_t j = 0; j < t->nkey; j++) {
				if (j)
					evt_buf_addc(&b, ',');
				put_name(&b, t->cols[j].name);
				evt_buf_adds(&b, "=\"");
				put_label_value(&b, rows[i]->v[j].s ?
				    rows[i]->v[j].s : "", rows[i]->v[j].n);
				evt_buf_addc(&b, '"');
			}
			evt_buf_adds(&b, "} ");
			if (ms && v->k == EVT_V_INT)
				evt_buf_printf(&b, "%s%lld.%03lld", v->i < 0 ?
				    "-" : "", llabs(v->i) / 1000, llabs(v->i) %
				    1000);
			else if (v->k == EVT_V_DEC)
				evt_dec_format(&b, v->d, 0);
			else
				evt_buf_printf(&b, "%lld", v->i);
			evt_buf_addc(&b, '\n');
			if (b.len > 65536) {
				if (fwrite(b.p, 1, b.len, f) != b.len)
					rc = -1;
				evt_buf_reset(&b);
			}
		}
	}
	if (rc == 0 && b.len && fwrite(b.p, 1, b.len, f) != b.len)
		rc = -1;
	evt_buf_free(&b);
	evt_buf_free(&name);
	return rc;
}

int
evt_table_print(struct evt_table *t, enum evt_format fmt, int width, FILE *f)
{
	struct collect c = { NULL, 0 };
	struct evt_buf b = EVT_BUF_INIT;
	int rc = 0;

	c.r = malloc((t->idx.n + 1) * sizeof(*c.r));
	if (c.r == NULL)
		abort();
	evt_hmap_each(&t->idx, collect, &c);
	qsort_r(c.r, c.n, sizeof(*c.r), cmp_rows, t);
	if (fmt == EVT_FMT_TABLE || fmt == EVT_FMT_PROM) {
		rc = fmt == EVT_FMT_TABLE ? print_table(t, c.r, c.n, width, f) :
		    print_prom(t, c.r, c.n, f);
		free(c.r);
		return rc;
	}
	if (fmt == EVT_FMT_JSON)
		evt_buf_adds(&b, c.n ? "[\n" : "[");
	if (fmt == EVT_FMT_CSV) {
		for (size_t k = 0, any = 0; k < t->ncol; k++) {
			if (t->cols[k].hidden)
				continue;
			if (any++)
				evt_buf_addc(&b, ',');
			put_csv(&b, t->cols[k].name, strlen(t->cols[k].name));
		}
		evt_buf_adds(&b, "\r\n");
	}
	struct evt_buf cell = EVT_BUF_INIT;
	for (size_t i = 0; i < c.n && rc == 0; i++) {
		const struct evt_row *r = c.r[i];
		if (fmt == EVT_FMT_CSV) {
			for (size_t k = 0, any = 0; k < t->ncol; k++) {
				if (t->cols[k].hidden)
					continue;
				if (any++)
					evt_buf_addc(&b, ',');
				evt_buf_reset(&cell);
				put_text(&cell, &t->cols[k], &r->v[k]);
				put_csv(&b, cell.p ? cell.p : "", cell.len);
			}
			evt_buf_adds(&b, "\r\n");
		} else {
			evt_buf_addc(&b, '{');
			for (size_t k = 0, any = 0; k < t->ncol; k++) {
				if (t->cols[k].hidden)
					continue;
				if (any++)
					evt_buf_addc(&b, ',');
				evt_buf_json_str(&b, t->cols[k].name,
				    strlen(t->cols[k].name));
				evt_buf_addc(&b, ':');
				put_json(&b, &t->cols[k], &r->v[k]);
			}
			evt_buf_addc(&b, '}');
			if (fmt == EVT_FMT_JSON && i + 1 < c.n)
				evt_buf_addc(&b, ',');
			evt_buf_addc(&b, '\n');
		}
		if (b.len > 65536) {
			if (fwrite(b.p, 1, b.len, f) != b.len)
				rc = -1;
			evt_buf_reset(&b);
		}
	}
	if (fmt == EVT_FMT_JSON)
		evt_buf_adds(&b, "]\n");
	if (rc == 0 && b.len && fwrite(b.p, 1, b.len, f) != b.len)
		rc = -1;
	evt_buf_free(&b);
	evt_buf_free(&cell);
	free(c.r);
	return rc;
}

/* --- the SQLite store --------------------------------------------------- */

static const char *
sql_type(enum evt_vkind k)
{
	switch (k) {
	case EVT_V_INT: case EVT_V_BOOL: return "INTEGER";
	/* Exact: REAL would round. The collation is sqlite3's decimal
	 * extension's (and ours, decimal_collate): TEXT compared as text
	 * puts 9.99 above 100. */
	case EVT_V_DEC: return "TEXT COLLATE decimal";
	case EVT_V_STR: return "TEXT";
	default: return "";
	}
}

void
evt_col_xname(struct evt_buf *b, const struct evt_col *c)
{
	evt_buf_adds(b, c->name);
	evt_buf_adds(b, "_x1");
	for (int i = 0; i < c->scale; i++)
		evt_buf_addc(b, '0');
}

static void
ident(struct evt_buf *b, const char *s)
{
	evt_buf_addc(b, '"');
	for (; *s; s++) {
		if (*s == '"')
			evt_buf_addc(b, '"');
		evt_buf_addc(b, *s);
	}
	evt_buf_addc(b, '"');
}

/* The SQL columns of t, in order, each name followed by a NUL: every
 * column, and after a money column its integer (evt_col_xname). Returns
 * how many. */
static size_t
sql_cols(const struct evt_table *t, struct evt_buf *b)
{
	size_t n = 0;

	evt_buf_reset(b);
	for (size_t i = 0; i < t->ncol; i++, n++) {
		evt_buf_add(b, t->cols[i].name, strlen(t->cols[i].name) + 1);
		if (t->cols[i].kind == EVT_V_DEC) {
			evt_col_xname(b, &t->cols[i]);
			evt_buf_addc(b, '\0');
			n++;
		}
	}
	return n;
}

static void
where_key(struct evt_buf *b, const struct evt_table *t)
{
	evt_buf_adds(b, " WHERE ");
	for (size_t i = 0; i < t->nkey; i++) {
		if (i)
			evt_buf_adds(b, " AND ");
		ident(b, t->cols[i].name);
		evt_buf_printf(b, "=?%zu", i + 1);
	}
}

static int
prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st, struct evt_err *err)
{
	if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, st,
	    NULL) != SQLITE_OK)
		return db_err(db, err, "read model");
	return 0;
}

/* Make t's SQL table (or check the one there has t's columns) and its
 * statements. */
static int
table_setup(sqlite3 *db, struct evt_table *t, struct evt_err *err)
{
	struct evt_buf q = EVT_BUF_INIT, names = EVT_BUF_INIT;
	sqlite3_stmt *st = NULL;
	char *msg = NULL;
	size_t nsql = sql_cols(t, &names);
	const char *nm;
	int rc = -1;

	evt_buf_adds(&q, "CREATE TABLE IF NOT EXISTS ");
	ident(&q, t->name);
	evt_buf_addc(&q, '(');
	nm = names.p;
	for (size_t i = 0; i < t->ncol; i++) {
		ident(&q, nm);
		nm += strlen(nm) + 1;
		evt_buf_printf(&q, " %s%s, ", sql_type(t->cols[i].kind),
		    i < t->nkey ? " NOT NULL" : "");
		if (t->cols[i].kind == EVT_V_DEC) {
			ident(&q, nm);
			nm += strlen(nm) + 1;
			evt_buf_adds(&q, " INTEGER, ");
		}
	}
	evt_buf_adds(&q, "PRIMARY KEY(");
	for (size_t i = 0; i < t->nkey; i++) {
		if (i)
			evt_buf_addc(&q, ',');
		ident(&q, t->cols[i].name);
	}
	evt_buf_adds(&q, ")) WITHOUT ROWID");
	if (sqlite3_exec(db, q.p, NULL, NULL, &msg) != SQLITE_OK) {
		evt_err_set(err, EX_IOERR, "read model: %s: %s", t->name, msg);
		goto out;
	}
	/* A table of that name made for other columns (a changed --spec, an
	 * older evt-project) would be misread: refuse it. */
	evt_buf_reset(&q);
	evt_buf_adds(&q, "SELECT * FROM ");
	ident(&q, t->name);
	if (prepare(db, q.p, &st, err) < 0)
		goto out;
	int same = (size_t)sqlite3_column_count(st) == nsql;
	nm = names.p;
	for (size_t i = 0; same && i < nsql; i++, nm += strlen(nm) + 1)
		same = strcmp(sqlite3_column_name(st, (int)i), nm) == 0;
	if (!same) {
		evt_err_set(err, EX_DATAERR, "read model: table %s has other "
		    "columns than this projection (another spec, or an older "
		    "evt-project): drop it or use another --into", t->name);
		goto out;
	}
	/* Money kept as REAL (older read models) has drifted already: it
	 * cannot be folded on exactly. (Older TEXT money, compared as text,
	 * has no integer columns beside it: refused above.) */
	for (size_t i = 0, j = 0; i < t->ncol; i++, j++) {
		const char *dt = sqlite3_column_decltype(st, (int)j);
		if (t->cols[i].kind != EVT_V_DEC)
			continue;
		j++;	/* its integer */
		if (dt == NULL || strcasecmp(dt, "TEXT") != 0) {
			evt_err_set(err, EX_DATAERR, "read model: table %s keeps "
			    "money in column %s as %s, not as exact TEXT "
			    "decimals: drop it and fold again, or use another "
			    "--into", t->name, t->cols[i].name, dt ? dt : "no type");
			goto out;
		}
	}
	evt_buf_reset(&q);
	evt_buf_adds(&q, "INSERT OR REPLACE INTO ");
	ident(&q, t->name);
	evt_buf_adds(&q, " VALUES(");
	for (size_t i = 0; i < nsql; i++)
		evt_buf_adds(&q, i ? ",?" : "?");
	evt_buf_addc(&q, ')');
	if (prepare(db, q.p, (sqlite3_stmt **)&t->ins, err) < 0)
		goto out;
	/* The row's own columns, not the integers beside the money: those
	 * are made from the exact text on every write. */
	evt_buf_reset(&q);
	evt_buf_adds(&q, "SELECT ");
	for (size_t i = 0; i < t->ncol; i++) {
		if (i)
			evt_buf_addc(&q, ',');
		ident(&q, t->cols[i].name);
	}
	evt_buf_adds(&q, " FROM ");
	ident(&q, t->name);
	where_key(&q, t);
	if (prepare(db, q.p, (sqlite3_stmt **)&t->sel, err) < 0)
		goto out;
	evt_buf_reset(&q);
	evt_buf_adds(&q, "DELETE FROM ");
	ident(&q, t->name);
	where_key(&q, t);
	if (prepare(db, q.p, (sqlite3_stmt **)&t->del, err) < 0)
		goto out;
	rc = 0;
out:
	sqlite3_finalize(st);
	sqlite3_free(msg);
	evt_buf_free(&q);
	evt_buf_free(&names);
	return rc;
}

/*
 * The collation "decimal", as sqlite3's decimal extension defines it: by
 * value. Only so that this connection can create and use the tables that
 * name it; the store's own statements never compare money. Text that is
 * not a number (a hand edit) sorts after the numbers, bytewise.
 */
static int
decimal_collate(void *arg, int na, const void *a, int nb, const void *b)
{
	struct evt_dec x, y;
	int xa, yb;

	(void)arg;
	xa = evt_dec_parse(a, (size_t)na, &x) == EVT_DEC_OK;
	yb = evt_dec_parse(b, (size_t)nb, &y) == EVT_DEC_OK;
	if (xa && yb)
		return evt_dec_cmp(x, y);
	if (xa != yb)
		return xa ? -1 : 1;
	int c = memcmp(a, b, (size_t)(na < nb ? na : nb));
	return c ? c : na < nb ? -1 : na > nb;
}

/* Run sql, retrying while another process holds the lock SQLite's busy
 * handler does not wait for (the switch to WAL). */
static int
exec_retry(sqlite3 *db, const char *sql)
{
	int rc = SQLITE_BUSY;

	for (int tries = 0; tries < BUSY_TIMEOUT_MS / 10; tries++) {
		rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
		if ((rc & 0xff) != SQLITE_BUSY && (rc & 0xff) != SQLITE_LOCKED)
			break;
		usleep(10000);
	}
	return rc;
}

struct evt_store *
evt_store_open(const char *path, struct evt_table **t, size_t n,
    struct evt_err *err)
{
	struct evt_store *s = calloc(1, sizeof(*s));

	if (s == NULL)
		abort();
	if (evt_sqlfile_open(path, &s->db, err) < 0)
		goto fail;
	sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);
	if (sqlite3_create_collation_v2(s->db, "decimal", SQLITE_UTF8, NULL,
	    decimal_collate, NULL) != SQLITE_OK) {
		db_err(s->db, err, path);
		goto fail;
	}
	if (exec_retry(s->db, "PRAGMA journal_mode=WAL") != SQLITE_OK ||
	    exec_retry(s->db, "PRAGMA synchronous=FULL") != SQLITE_OK ||
	    exec_retry(s->db, "BEGIN IMMEDIATE") != SQLITE_OK) {
		evt_err_set(err, EX_IOERR, "%s: %s", path, sqlite3_errmsg(s->db));
		goto fail;
	}
	if (sqlite3_exec(s->db, "CREATE TABLE IF NOT EXISTS evt_projection("
	    "name TEXT PRIMARY KEY, seq INTEGER NOT NULL, events INTEGER "
	    "NOT NULL, updated_at TEXT NOT NULL)", NULL, NULL, NULL) != SQLITE_OK) {
		db_err(s->db, err, path);
		goto fail;
	}
	for (size_t i = 0; i < n; i++)
		if (table_setup(s->db, t[i], err) < 0)
			goto fail;
	if (sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		db_err(s->db, err, path);
		goto fail;
	}
	if (prepare(s->db, "SELECT seq FROM evt_projection WHERE name=?1",
	    &s->ck_get, err) < 0 || prepare(s->db, "INSERT OR REPLACE INTO "
	    "evt_projection VALUES(?1, ?2, coalesce((SELECT events FROM "
	    "evt_projection WHERE name=?1), 0) + ?3, ?4)", &s->ck_set, err) < 0)
		goto fail;
	for (size_t i = 0; i < n; i++)
		t[i]->store = s;
	s->t = t;
	s->n = n;
	return s;
fail:
	for (size_t i = 0; i < n; i++) {
		sqlite3_finalize(t[i]->ins);
		sqlite3_finalize(t[i]->sel);
		sqlite3_finalize(t[i]->del);
		t[i]->ins = t[i]->sel = t[i]->del = NULL;
	}
	evt_store_close(s);
	return NULL;
}

void
evt_store_close(struct evt_store *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->n; i++) {
		sqlite3_finalize(s->t[i]->ins);
		sqlite3_finalize(s->t[i]->sel);
		sqlite3_finalize(s->t[i]->del);
		s->t[i]->ins = s->t[i]->sel = s->t[i]->del = NULL;
		s->t[i]->store = NULL;
	}
	sqlite3_finalize(s->ck_get);
	sqlite3_finalize(s->ck_set);
	sqlite3_close(s->db);
	evt_buf_free(&s->warning);
	free(s);
}

int
evt_store_checkpoint(struct evt_store *s, const char *name, long long *seq,
    struct evt_err *err)
{
	int rc;

	*seq = 0;
	sqlite3_bind_text(s->ck_get, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(s->ck_get);
	if (rc == SQLITE_ROW)
		*seq = sqlite3_column_int64(s->ck_get, 0);
	sqlite3_reset(s->ck_get);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return db_err(s->db, err, "read model");
	return 0;
}

const char *
evt_store_warning(const struct evt_store *s)
{
	return s->warning.len ? s->warning.p : NULL;
}

struct wr {
	struct evt_store *s;
	struct evt_table *t;
	int rc;
};

/*
 * v times 10^scale, into *out: 0, or -1 when that is not a whole number
 * (more decimals than scale), -2 when it does not fit 64 bits.
 */
static int
scaled(struct evt_dec v, int scale, long long *out)
{
	evt_dec_int m = v.m;
	int s = v.scale;

	for (; s > scale; s--) {
		if (m % 10 != 0)
			return -1;
		m /= 10;
	}
	for (; s < scale; s++) {
		if (m > INT64_MAX / 10 || m < INT64_MIN / 10)
			return -2;
		m *= 10;
	}
	if (m > INT64_MAX || m < INT64_MIN)
		return -2;
	*out = (long long)m;
	return 0;
}

/* Bind v, the value of column c, at parameter *i and on; a money value
 * takes two, its text and its integer. */
static void
bind_val(struct wr *w, sqlite3_stmt *st, int *i, const struct evt_col *c,
    const struct evt_val *v)
{
	long long x;
	int rc;

	if (c->kind == EVT_V_DEC && v->k != EVT_V_DEC) {
		sqlite3_bind_null(st, (*i)++);	/* its integer, too */
		sqlite3_bind_null(st, (*i)++);
		return;
	}
	switch (v->k) {
	case EVT_V_NULL: sqlite3_bind_null(st, (*i)++); break;
	case EVT_V_INT: case EVT_V_BOOL: sqlite3_bind_int64(st, (*i)++, v->i); break;
	case EVT_V_DEC: {
		struct evt_buf t = EVT_BUF_INIT;
		evt_dec_format(&t, v->d, c->scale);
		sqlite3_bind_text(st, (*i)++, t.p, (int)t.len, SQLITE_TRANSIENT);
		if ((rc = scaled(v->d, c->scale, &x)) == 0)
			sqlite3_bind_int64(st, (*i)++, x);
		else {
			sqlite3_bind_null(st, (*i)++);
			if (w->s->warning.len == 0) {
				evt_buf_printf(&w->s->warning, "%s.%s: %.*s%s has "
				    "%s: ", w->t->name, c->name, (int)(t.len > 40 ?
				    40 : t.len), t.p, t.len > 40 ? "..." : "",
				    rc == -1 ? "more decimals than "
				    "its integer column's scale" : "more digits "
				    "than a 64-bit integer holds");
				evt_col_xname(&w->s->warning, c);
				evt_buf_printf(&w->s->warning, " is NULL there, "
				    "and %s keeps it exactly", c->name);
			}
		}
		evt_buf_free(&t);
		break;
	}
	default:
		sqlite3_bind_text(st, (*i)++, v->s, (int)v->n, SQLITE_STATIC);
		break;
	}
}

static void
write_row(void *arg, const char *k, size_t n, long long v)
{
	struct wr *w = arg;
	struct evt_table *t = w->t;
	struct evt_row *r = (struct evt_row *)(intptr_t)v;
	sqlite3_stmt *st;
	int param = 1;

	(void)k; (void)n;
	if (w->rc != SQLITE_DONE || !r->dirty)
		return;
	st = r->gone ? t->del : t->ins;
	for (size_t i = 0; i < (r->gone ? t->nkey : t->ncol); i++)
		bind_val(w, st, &param, &t->cols[i], &r->v[i]);
	w->rc = sqlite3_step(st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
}

int
evt_store_commit(struct evt_store *s, const char *name, long long seq,
    long long events, const char *now, struct evt_err *err)
{
	struct wr w = { s, NULL, SQLITE_DONE };

	if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return db_err(s->db, err, "read model");
	for (size_t i = 0; i < s->n && w.rc == SQLITE_DONE; i++) {
		w.t = s->t[i];
		evt_hmap_each(&s->t[i]->idx, write_row, &w);
	}
	if (w.rc == SQLITE_DONE) {
		sqlite3_bind_text(s->ck_set, 1, name, -1, SQLITE_STATIC);
		sqlite3_bind_int64(s->ck_set, 2, seq);
		sqlite3_bind_int64(s->ck_set, 3, events);
		sqlite3_bind_text(s->ck_set, 4, now, -1, SQLITE_STATIC);
		w.rc = sqlite3_step(s->ck_set);
		sqlite3_reset(s->ck_set);
	}
	if (w.rc != SQLITE_DONE || sqlite3_exec(s->db, "COMMIT", NULL, NULL,
	    NULL) != SQLITE_OK) {
		db_err(s->db, err, "read model");
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
		return -1;
	}
	for (size_t i = 0; i < s->n; i++)
		drop_rows(s->t[i]);
	return 0;
}
