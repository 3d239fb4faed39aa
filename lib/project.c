#include <errno.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "clock.h"
#include "decimal.h"
#include "json.h"
#include "project.h"

enum kind { P_INVENTORY, P_TRANSACTIONS, P_SALES, P_SAGAS, P_STREAMS,
	P_ORCH, P_SPEC };

/* The built-in projections' names, in the order of enum kind: the one
 * list every message naming them is made from (evt_proj_names). */
static const char *const kind_names[] = { "inventory", "transactions",
	"sales", "sagas", "streams", "orchestrations" };

/* --- the built-in tables ------------------------------------------------- */

enum { INV_STORE, INV_SKU, INV_ON_HAND, INV_RESERVED, INV_AVAILABLE };
static const struct evt_col inventory_cols[] = {
	{ "store_id", EVT_V_STR, 0, 0 }, { "sku", EVT_V_STR, 0, 0 },
	{ "on_hand", EVT_V_INT, 0, 0 }, { "reserved", EVT_V_INT, 0, 0 },
	{ "available", EVT_V_INT, 0, 0 }
};
/* Units held for a transaction, until fulfilled or released. */
enum { HOLD_TX, HOLD_STORE, HOLD_ITEMS };
static const struct evt_col hold_cols[] = {
	{ "transaction_id", EVT_V_STR, 0, 0 }, { "store_id", EVT_V_STR, 0, 0 },
	{ "items", EVT_V_JSON, 0, 0 }
};

enum { TX_ID, TX_STORE, TX_STATUS, TX_TOTAL, TX_CURRENCY, TX_CREATED,
	TX_UPDATED, TX_REASON };
static const struct evt_col tx_cols[] = {
	{ "transaction_id", EVT_V_STR, 0, 0 }, { "store_id", EVT_V_STR, 0, 0 },
	{ "status", EVT_V_STR, 0, 0 }, { "total", EVT_V_DEC, 2, 0 },
	{ "currency", EVT_V_STR, 0, 0 }, { "created_at", EVT_V_STR, 0, 0 },
	{ "updated_at", EVT_V_STR, 0, 0 }, { "reason", EVT_V_STR, 0, 0 }
};

/* One row per store, day and currency: amounts of different currencies
 * are never added together. */
enum { SA_STORE, SA_DAY, SA_CURRENCY, SA_COMPLETED, SA_CANCELLED, SA_REVENUE,
	SA_REFUNDED };
static const struct evt_col sales_cols[] = {
	{ "store_id", EVT_V_STR, 0, 0 }, { "day", EVT_V_STR, 0, 0 },
	{ "currency", EVT_V_STR, 0, 0 },
	{ "completed", EVT_V_INT, 0, 0 }, { "cancelled", EVT_V_INT, 0, 0 },
	{ "revenue", EVT_V_DEC, 2, 0 }, { "refunded", EVT_V_DEC, 2, 0 }
};
/* The store and currency of each transaction, for the events that do not
 * name them, and its outcome: the first of completed or cancelled is the
 * one counted, as in transactions. */
enum { STX_ID, STX_STORE, STX_CURRENCY, STX_OUTCOME };
static const struct evt_col sales_tx_cols[] = {
	{ "transaction_id", EVT_V_STR, 0, 0 }, { "store_id", EVT_V_STR, 0, 0 },
	{ "currency", EVT_V_STR, 0, 0 }, { "outcome", EVT_V_STR, 0, 0 }
};

enum { SG_CORR, SG_TX, SG_STATE, SG_EVENTS, SG_STARTED, SG_LAST, SG_DURATION,
	SG_COMPENSATED };
static const struct evt_col saga_cols[] = {
	{ "correlationid", EVT_V_STR, 0, 0 }, { "transaction_id", EVT_V_STR, 0, 0 },
	{ "state", EVT_V_STR, 0, 0 }, { "events", EVT_V_INT, 0, 0 },
	{ "started_at", EVT_V_STR, 0, 0 }, { "last_at", EVT_V_STR, 0, 0 },
	{ "duration_ms", EVT_V_INT, 0, 0 }, { "compensated", EVT_V_BOOL, 0, 0 }
};

/*
 * One row per orchestrated saga (saga-orch), keyed by the time of its
 * latest event and its key, so that rows come stalest first: a saga that
 * moves is keyed anew. The hidden table finds a saga's row by its key.
 */
enum { OR_LAST, OR_KEY, OR_SAGA, OR_VERSION, OR_STATE, OR_STEP, OR_ATTEMPT,
	OR_DUE, OR_STARTED, OR_CORR, OR_EVENTS };
static const struct evt_col orch_cols[] = {
	{ "last_at", EVT_V_STR, 0, 0 }, { "key", EVT_V_STR, 0, 0 },
	{ "saga", EVT_V_STR, 0, 0 }, { "version", EVT_V_INT, 0, 0 },
	{ "state", EVT_V_STR, 0, 0 }, { "step", EVT_V_STR, 0, 0 },
	{ "attempt", EVT_V_INT, 0, 0 }, { "due", EVT_V_STR, 0, 0 },
	{ "started_at", EVT_V_STR, 0, 0 }, { "correlationid", EVT_V_STR, 0, 0 },
	{ "events", EVT_V_INT, 0, 0 }
};
enum { OK_KEY, OK_LAST };
static const struct evt_col orch_key_cols[] = {
	{ "key", EVT_V_STR, 0, 0 }, { "last_at", EVT_V_STR, 0, 0 }
};

enum { ST_SUBJECT, ST_CATEGORY, ST_VERSION, ST_SEQ, ST_TYPE, ST_AT };
static const struct evt_col stream_cols[] = {
	{ "subject", EVT_V_STR, 0, 0 }, { "category", EVT_V_STR, 0, 0 },
	{ "version", EVT_V_INT, 0, 0 }, { "last_seq", EVT_V_INT, 0, 0 },
	{ "last_type", EVT_V_STR, 0, 0 }, { "last_at", EVT_V_STR, 0, 0 }
};

/* --- specs ---------------------------------------------------------------- */

enum op { OP_COUNT, OP_SUM, OP_MIN, OP_MAX, OP_FIRST, OP_LAST };
static const char *const op_name[] = { "count", "sum", "min", "max", "first",
	"last" };

/* A field path: "data.items.0.sku" split at the dots. */
struct path {
	char **seg;
	size_t n;
};

struct spec_col {
	enum op op;
	struct path path;	/* count: n == 0 counts every event */
	char **types;		/* globs; none: every type */
	size_t ntypes;
	/* sum, min, max: where an amount's currency is, the first that
	 * holds a string (none: the numbers are not money), and the hidden
	 * column that keeps the currency of the row's amounts (0: none). */
	struct path *cur;
	size_t ncur, curcol;
};

/* What fold_spec reads of one column of one event, before it changes
 * anything. */
struct spec_val {
	int on;			/* the column takes this event */
	struct evt_sv v;	/* the value's JSON */
	enum evt_jtype t;
	struct evt_dec d;	/* sum, min, max: the amount */
	struct evt_buf cur;	/* its currency, upper case; empty: none */
};

struct spec {
	char *name;
	struct path *group;
	size_t ngroup;
	struct spec_col *col;	/* the columns after the keys */
	size_t ncol;
	size_t nhidden;		/* currency columns, after the others */
	struct evt_col *cols;	/* all columns, for the table */
	char **names;		/* their names, owned */
	struct spec_val *val;	/* ncol: scratch for one event */
};

struct evt_proj {
	enum kind kind;
	const char *name;
	struct evt_table t[2];
	struct evt_table *tp[2];
	size_t nt;
	struct spec *spec;
	/* Scratch for reading one event. */
	struct evt_jobj dj, xj;
	struct evt_buf arena, tmp, items, cur;
	struct evt_buf xkey;	/* a transfer's hold key */
	char time[EVT_TIME_LEN + 1];
	const char **kv;
	size_t *kn;
	struct evt_buf *kb;
};

static void
table(struct evt_proj *p, const char *name, const struct evt_col *cols,
    size_t ncol, size_t nkey, int hidden)
{
	struct evt_table *t = &p->t[p->nt];

	t->name = name;
	t->cols = cols;
	t->ncol = ncol;
	t->nkey = nkey;
	t->hidden = hidden;
	evt_table_init(t);
	p->tp[p->nt] = t;
	p->nt++;
}

#define NCOL(a) (sizeof(a) / sizeof((a)[0]))

static void
path_free(struct path *p)
{
	for (size_t i = 0; i < p->n; i++)
		free(p->seg[i]);
	free(p->seg);
}

static void
spec_free(struct spec *s)
{
	if (s == NULL)
		return;
	free(s->name);
	for (size_t i = 0; i < s->ngroup; i++)
		path_free(&s->group[i]);
	free(s->group);
	for (size_t i = 0; i < s->ncol; i++) {
		path_free(&s->col[i].path);
		for (size_t j = 0; j < s->col[i].ntypes; j++)
			free(s->col[i].types[j]);
		free(s->col[i].types);
		for (size_t j = 0; j < s->col[i].ncur; j++)
			path_free(&s->col[i].cur[j]);
		free(s->col[i].cur);
		if (s->val)
			evt_buf_free(&s->val[i].cur);
	}
	free(s->col);
	for (size_t i = 0; i < s->ngroup + s->ncol + s->nhidden; i++)
		free(s->names[i]);
	free(s->names);
	free(s->cols);
	free(s->val);
	free(s);
}

static int
path_parse(const char *s, struct path *p)
{
	const char *a = s;

	p->seg = NULL;
	p->n = 0;
	if (*s == '\0')
		return -1;
	for (;;) {
		const char *e = strchr(a, '.');
		size_t n = e ? (size_t)(e - a) : strlen(a);
		if (n == 0)
			return -1;
		p->seg = realloc(p->seg, (p->n + 1) * sizeof(*p->seg));
		if (p->seg == NULL || (p->seg[p->n] = strndup(a, n)) == NULL)
			abort();
		p->n++;
		if (e == NULL)
			return 0;
		a = e + 1;
	}
}

/* A valid SQL-friendly column or table name: letters, digits, _. */
static int
good_name(const char *s)
{
	if (*s == '\0' || (*s >= '0' && *s <= '9'))
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		    (*s >= '0' && *s <= '9') || *s == '_'))
			return 0;
	return 1;
}

static int
spec_err(struct evt_err *err, const char *file, const char *what)
{
	return evt_err_set(err, EX_DATAERR, "spec %s: %s", file, what);
}

/*
 * Where the currency of column i's amounts is, from its "currency" member
 * v (borrowed; NULL when absent): a field path; false, for numbers that
 * are not money; absent, the nearest "currency" member on the way from
 * the amount up to the event (data.items.0.price: data.items.0.currency,
 * then data.currency, then currency). A money column gets a hidden
 * column, NAME_currency. Returns 0, or -1 when v is not allowed.
 */
static int
spec_currency(struct spec *s, struct spec_col *sc, json_t *v, size_t i)
{
	int money = sc->op == OP_SUM || sc->op == OP_MIN || sc->op == OP_MAX;

	if (v && (!money || !(json_is_false(v) || json_is_string(v))))
		return -1;
	if (!money || json_is_false(v))
		return 0;
	if (v) {
		sc->cur = calloc(1, sizeof(*sc->cur));
		if (sc->cur == NULL)
			abort();
		if (path_parse(json_string_value(v), &sc->cur[0]) < 0)
			return -1;
		sc->ncur = 1;
	} else {
		sc->cur = calloc(sc->path.n, sizeof(*sc->cur));
		if (sc->cur == NULL)
			abort();
		for (size_t k = sc->path.n; k-- > 0; ) {
			struct path *c = &sc->cur[sc->ncur++];
			c->n = k + 1;
			c->seg = calloc(c->n, sizeof(*c->seg));
			if (c->seg == NULL)
				abort();
			for (size_t j = 0; j < k; j++)
				c->seg[j] = evt_strdup(sc->path.seg[j]);
			c->seg[k] = evt_strdup("currency");
		}
	}
	size_t h = s->ngroup + s->ncol + s->nhidden++;
	struct evt_buf b = EVT_BUF_INIT;
	evt_buf_printf(&b, "%s_currency", s->names[s->ngroup + i]);
	s->names[h] = evt_strdup(b.p);
	evt_buf_free(&b);
	s->cols[h] = (struct evt_col){ s->names[h], EVT_V_STR, 0, 1 };
	sc->curcol = h;
	return 0;
}

/*
 * Read a spec file:
 * {"name": "...", "group": PATH or [PATH...],
 *  "columns": [{"name": "...", "count"|"sum"|"min"|"max"|"first"|"last":
 *  PATH (count: true for every event), "type": GLOB or [GLOB...],
 *  "decimals": N, "currency": PATH or false}, ...]}
 */
static struct spec *
spec_load(const char *file, struct evt_err *err)
{
	json_error_t je;
	json_t *root = json_load_file(file, JSON_REJECT_DUPLICATES, &je), *v, *g;
	struct spec *s = NULL;
	size_t i, ng;
	char msg[400];

	if (root == NULL) {
		if (access(file, F_OK) != 0) {
			evt_err_set(err, EX_NOINPUT, "spec %s: %s", file,
			    strerror(errno));
			return NULL;
		}
		snprintf(msg, sizeof(msg), "line %d: %s", je.line, je.text);
		spec_err(err, file, msg);
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		abort();
	v = json_object_get(root, "name");
	if (!json_is_string(v) || !good_name(json_string_value(v)) ||
	    strncmp(json_string_value(v), "evt_", 4) == 0) {
		spec_err(err, file, "\"name\" must be a name of letters, digits "
		    "and _, not starting evt_ (it names the read-model table)");
		goto fail;
	}
	s->name = evt_strdup(json_string_value(v));
	g = json_object_get(root, "group");
	if (json_is_string(g))
		ng = 1;
	else if (json_is_array(g) && json_array_size(g) > 0)
		ng = json_array_size(g);
	else {
		spec_err(err, file, "\"group\" must be a field path or an array "
		    "of them");
		goto fail;
	}
	v = json_object_get(root, "columns");
	if (!json_is_array(v) || json_array_size(v) == 0) {
		spec_err(err, file, "\"columns\" must be a non-empty array");
		goto fail;
	}
	s->ncol = json_array_size(v);
	s->group = calloc(ng, sizeof(*s->group));
	s->col = calloc(s->ncol, sizeof(*s->col));
	/* Room for a hidden currency column beside every column. */
	s->cols = calloc(ng + 2 * s->ncol, sizeof(*s->cols));
	s->names = calloc(ng + 2 * s->ncol, sizeof(*s->names));
	s->val = calloc(s->ncol, sizeof(*s->val));
	if (!s->group || !s->col || !s->cols || !s->names || !s->val)
		abort();
	for (i = 0; i < ng; i++) {
		json_t *x = json_is_string(g) ? g : json_array_get(g, i);
		json_t *xn = json_is_object(x) ? json_object_get(x, "name") : NULL;
		const char *ps = json_string_value(json_is_object(x) ?
		    json_object_get(x, "path") : x);
		if (ps == NULL || path_parse(ps, &s->group[s->ngroup++]) < 0 ||
		    (json_is_object(x) && (!json_is_string(xn) ||
		    json_object_size(x) != 2))) {
			spec_err(err, file, "\"group\": not a field path, or "
			    "{\"path\": PATH, \"name\": NAME}");
			goto fail;
		}
		/* The key column is named after the path's last part, unless
		 * named. */
		const char *last = strrchr(ps, '.');
		s->names[i] = evt_strdup(xn ? json_string_value(xn) :
		    last ? last + 1 : ps);
		s->cols[i] = (struct evt_col){ s->names[i], EVT_V_STR, 0, 0 };
		if (!good_name(s->names[i])) {
			snprintf(msg, sizeof(msg), "\"group\": %s: a key column "
			    "name must be letters, digits and _", s->names[i]);
			spec_err(err, file, msg);
			goto fail;
		}
		for (size_t k = 0; k < i; k++)
			if (strcmp(s->names[k], s->names[i]) == 0) {
				snprintf(msg, sizeof(msg), "\"group\": two key "
				    "columns named %s: name them apart with "
				    "{\"path\": PATH, \"name\": NAME}", s->names[i]);
				spec_err(err, file, msg);
				goto fail;
			}
	}
	for (i = 0; i < s->ncol; i++) {
		json_t *c = json_array_get(v, i), *name = json_object_get(c, "name");
		json_t *types = json_object_get(c, "type"), *arg = NULL;
		struct spec_col *sc = &s->col[i];
		int found = 0;

		snprintf(msg, sizeof(msg), "column %zu: ", i + 1);
		if (!json_is_string(name) || !good_name(json_string_value(name))) {
			strcat(msg, "\"name\" must be letters, digits and _");
			spec_err(err, file, msg);
			goto fail;
		}
		for (int o = 0; o <= OP_LAST; o++)
			if ((arg = json_object_get(c, op_name[o])) != NULL) {
				sc->op = (enum op)o;
				found++;
			}
		if (found != 1) {
			strcat(msg, "needs exactly one of count, sum, min, max, "
			    "first, last");
			spec_err(err, file, msg);
			goto fail;
		}
		arg = json_object_get(c, op_name[sc->op]);
		if (sc->op == OP_COUNT && json_is_true(arg))
			;
		else if (!json_is_string(arg) ||
		    path_parse(json_string_value(arg), &sc->path) < 0) {
			strcat(msg, sc->op == OP_COUNT ? "count takes true or a "
			    "field path" : "not a field path");
			spec_err(err, file, msg);
			goto fail;
		}
		if (types) {
			size_t nt = json_is_array(types) ? json_array_size(types) : 1;
			sc->types = calloc(nt, sizeof(*sc->types));
			if (sc->types == NULL)
				abort();
			for (size_t k = 0; k < nt; k++) {
				json_t *t = json_is_array(types) ?
				    json_array_get(types, k) : types;
				if (!json_is_string(t)) {
					strcat(msg, "\"type\" must be a glob or an "
					    "array of globs");
					spec_err(err, file, msg);
					goto fail;
				}
				sc->types[sc->ntypes++] = evt_strdup(json_string_value(t));
			}
		}
		s->names[ng + i] = evt_strdup(json_string_value(name));
		for (size_t k = 0; k < ng + i; k++)
			if (strcmp(s->names[k], s->names[ng + i]) == 0) {
				strcat(msg, "a column of that name already exists");
				spec_err(err, file, msg);
				goto fail;
			}
		json_t *dec = json_object_get(c, "decimals");
		if (dec && (!json_is_integer(dec) || json_integer_value(dec) < 0 ||
		    json_integer_value(dec) > 6 || sc->op == OP_COUNT ||
		    sc->op > OP_MAX)) {
			strcat(msg, "\"decimals\" (0 to 6) goes with sum, min "
			    "and max");
			spec_err(err, file, msg);
			goto fail;
		}
		s->cols[ng + i] = (struct evt_col){ s->names[ng + i],
		    sc->op == OP_COUNT ? EVT_V_INT : sc->op <= OP_MAX ?
		    EVT_V_DEC : EVT_V_JSON, dec ? (int)json_integer_value(dec) : 0,
		    0 };
		if (spec_currency(s, sc, json_object_get(c, "currency"), i) < 0) {
			strcat(msg, "\"currency\" goes with sum, min and max, and "
			    "takes a field path or false");
			spec_err(err, file, msg);
			goto fail;
		}
	}
	/* Every SQL column name once, the ones kept beside money included. */
	struct evt_buf all = EVT_BUF_INIT;
	size_t nall = ng + s->ncol + s->nhidden;
	for (i = 0; i < nall; i++) {
		evt_buf_add(&all, s->names[i], strlen(s->names[i]) + 1);
		if (s->cols[i].kind == EVT_V_DEC) {
			evt_col_xname(&all, &s->cols[i]);
			evt_buf_addc(&all, '\0');
		}
	}
	for (const char *a = all.p; a && a < all.p + all.len; a += strlen(a) + 1)
		for (const char *b = a + strlen(a) + 1; b < all.p + all.len;
		    b += strlen(b) + 1)
			if (strcmp(a, b) == 0) {
				snprintf(msg, sizeof(msg), "two columns named %s "
				    "(a money column NAME keeps NAME_currency "
				    "and, with --into, NAME_x100 beside it): "
				    "name them apart", a);
				spec_err(err, file, msg);
				evt_buf_free(&all);
				goto fail;
			}
	evt_buf_free(&all);
	json_decref(root);
	return s;
fail:
	json_decref(root);
	spec_free(s);
	return NULL;
}

/* --- the projection ------------------------------------------------------ */

const char *
evt_proj_names(void)
{
	static char list[256];

	if (list[0] == '\0') {
		size_t n = 0;
		for (size_t i = 0; i < sizeof(kind_names) / sizeof(*kind_names);
		    i++)
			n += (size_t)snprintf(list + n, sizeof(list) - n, "%s, ",
			    kind_names[i]);
		snprintf(list + n, sizeof(list) - n, "or --spec FILE");
	}
	return list;
}

struct evt_proj *
evt_proj_new(const char *name, const char *specfile, struct evt_err *err)
{
	struct evt_proj *p = calloc(1, sizeof(*p));
	size_t nkey = 2;

	if (p == NULL)
		abort();
	if (specfile) {
		if ((p->spec = spec_load(specfile, err)) == NULL) {
			free(p);
			return NULL;
		}
		p->kind = P_SPEC;
		p->name = p->spec->name;
		nkey = p->spec->ngroup;
		table(p, p->name, p->spec->cols, p->spec->ngroup + p->spec->ncol +
		    p->spec->nhidden, p->spec->ngroup, 0);
	} else {
		p->kind = P_SPEC;
		for (size_t i = 0; i < sizeof(kind_names) / sizeof(*kind_names);
		    i++)
			if (strcmp(name, kind_names[i]) == 0)
				p->kind = (enum kind)i;
		if (p->kind == P_SPEC) {
			free(p);
			evt_err_set(err, EX_USAGE, "unknown projection: %s (%s)",
			    name, evt_proj_names());
			return NULL;
		}
		p->name = kind_names[p->kind];
	}
	switch (p->kind) {
	case P_INVENTORY:
		table(p, "inventory", inventory_cols, NCOL(inventory_cols), 2, 0);
		table(p, "inventory_holds", hold_cols, NCOL(hold_cols), 1, 1);
		break;
	case P_TRANSACTIONS:
		table(p, "transactions", tx_cols, NCOL(tx_cols), 1, 0);
		break;
	case P_SALES:
		table(p, "sales", sales_cols, NCOL(sales_cols), 3, 0);
		table(p, "sales_transactions", sales_tx_cols, NCOL(sales_tx_cols),
		    1, 1);
		break;
	case P_SAGAS:
		table(p, "sagas", saga_cols, NCOL(saga_cols), 1, 0);
		break;
	case P_STREAMS:
		table(p, "streams", stream_cols, NCOL(stream_cols), 1, 0);
		break;
	case P_ORCH:
		table(p, "orchestrations", orch_cols, NCOL(orch_cols), 2, 0);
		table(p, "orchestration_keys", orch_key_cols,
		    NCOL(orch_key_cols), 1, 1);
		break;
	case P_SPEC:
		break;
	}
	p->kv = calloc(nkey, sizeof(*p->kv));
	p->kn = calloc(nkey, sizeof(*p->kn));
	p->kb = calloc(nkey, sizeof(*p->kb));
	if (!p->kv || !p->kn || !p->kb)
		abort();
	return p;
}

void
evt_proj_free(struct evt_proj *p)
{
	if (p == NULL)
		return;
	for (size_t i = 0; i < p->nt; i++)
		evt_table_free(&p->t[i]);
	for (size_t i = 0; p->spec && i < p->spec->ngroup; i++)
		evt_buf_free(&p->kb[i]);
	spec_free(p->spec);
	evt_json_free(&p->dj);
	evt_json_free(&p->xj);
	evt_buf_free(&p->arena);
	evt_buf_free(&p->xkey);
	evt_buf_free(&p->tmp);
	evt_buf_free(&p->items);
	evt_buf_free(&p->cur);
	free(p->kv);
	free(p->kn);
	free(p->kb);
	free(p);
}

const char *
evt_proj_name(const struct evt_proj *p)
{
	return p->name;
}

struct evt_table **
evt_proj_tables(struct evt_proj *p, size_t *n)
{
	*n = p->nt;
	return p->tp;
}

/* --- folding ------------------------------------------------------------- */

static int
bad(struct evt_err *err, const struct evt_event *ev, const char *what)
{
	return evt_err_set(err, EX_DATAERR, "%.*s: %s", (int)ev->type.n,
	    ev->type.p, what);
}

static int
is(const struct evt_event *ev, const char *type)
{
	size_t n = strlen(type);

	return ev->type.n == n && memcmp(ev->type.p, type, n) == 0;
}

/* The row of one or two string keys. */
static struct evt_row *
get1(struct evt_table *t, struct evt_sv a, int create, struct evt_err *err)
{
	const char *k[1] = { a.p };
	size_t n[1] = { a.n };

	return evt_row_get(t, k, n, create, err);
}

static struct evt_row *
get2(struct evt_table *t, struct evt_sv a, struct evt_sv b, int create,
    struct evt_err *err)
{
	const char *k[2] = { a.p, b.p };
	size_t n[2] = { a.n, b.n };

	return evt_row_get(t, k, n, create, err);
}

static struct evt_row *
get3(struct evt_table *t, struct evt_sv a, struct evt_sv b, struct evt_sv c,
    int create, struct evt_err *err)
{
	const char *k[3] = { a.p, b.p, c.p };
	size_t n[3] = { a.n, b.n, c.n };

	return evt_row_get(t, k, n, create, err);
}

/*
 * A currency code as a key: copied to b in ASCII upper case, so that
 * "eur" and "EUR" are one currency (ISO 4217 codes are upper case).
 * Returns b's bytes; p NULL when c is absent or empty.
 */
static struct evt_sv
currency_key(struct evt_sv c, struct evt_buf *b)
{
	evt_buf_reset(b);
	if (c.p == NULL || c.n == 0)
		return (struct evt_sv){ NULL, 0 };
	evt_buf_add(b, c.p, c.n);
	for (size_t i = 0; i < b->len; i++)
		if (b->p[i] >= 'a' && b->p[i] <= 'z')
			b->p[i] = (char)(b->p[i] - 'a' + 'A');
	return (struct evt_sv){ b->p, b->len };
}

/* The inventory row of store and sku, counts starting at 0. */
static struct evt_row *
inv_row(struct evt_table *inv, struct evt_sv store, struct evt_sv sku,
    struct evt_err *err)
{
	struct evt_row *r = get2(inv, store, sku, 1, err);

	if (r && r->v[INV_ON_HAND].k == EVT_V_NULL) {
		evt_row_int(r, INV_ON_HAND, 0);
		evt_row_int(r, INV_RESERVED, 0);
		evt_row_int(r, INV_AVAILABLE, 0);
	}
	return r;
}

/* A row lookup that failed in the store, rather than found nothing. */
#define STORE_FAILED(r, err) ((r) == NULL && (err)->code != 0)

static void
add_int(struct evt_row *r, size_t col, long long d)
{
	evt_row_int(r, col, r->v[col].i + d);
}

/* Add d to a money column; -1 with err when the exact sum is out of
 * range (more than EVT_DEC_DIGITS digits): refused, never wrapped. */
static int
add_dec(struct evt_row *r, size_t col, const char *name, struct evt_dec d,
    const struct evt_event *ev, struct evt_err *err)
{
	struct evt_dec sum;

	if (evt_dec_add(&sum, r->v[col].d, d) != EVT_DEC_OK)
		return evt_err_set(err, EX_DATAERR, "%.*s: column %s: the exact "
		    "sum would have more than %d digits", (int)ev->type.n,
		    ev->type.p, name, EVT_DEC_DIGITS);
	evt_row_dec(r, col, sum);
	return 0;
}

/*
 * The amount member key of the data in hand, exactly. Returns 0, or -1
 * with err (EX_DATAERR) naming what is wrong: absent, not a number, or
 * more digits than an exact decimal holds.
 */
static int
amount(struct evt_proj *p, const struct evt_event *ev, const char *key,
    const char *need, struct evt_dec *d, struct evt_err *err)
{
	struct evt_sv v = evt_json_get(&p->dj, key, EVT_J_NUMBER);
	int rc = v.p ? evt_dec_parse(v.p, v.n, d) : EVT_DEC_SYNTAX;

	if (rc == EVT_DEC_RANGE)
		return evt_err_set(err, EX_DATAERR, "%.*s: %s %.*s has more than "
		    "%d significant digits: it cannot be kept exactly",
		    (int)ev->type.n, ev->type.p, key, (int)(v.n > 60 ? 60 : v.n),
		    v.p, EVT_DEC_DIGITS);
	if (rc != EVT_DEC_OK)
		return bad(err, ev, need);
	return 0;
}

/* The event's time in stored form, or NULL when it has none. */
static const char *
ev_time(struct evt_proj *p, const struct evt_event *ev)
{
	if (ev->slot[EVT_F_TIME] < 0)
		return NULL;
	evt_time_format(ev->time_ms, p->time);
	return p->time;
}

static void
set_time(struct evt_row *r, size_t col, const char *t)
{
	if (t)
		evt_row_str(r, col, t, EVT_TIME_LEN);
	else
		evt_row_null(r, col);
}

/*
 * Go through the items [{sku, qty}] of the array text a: with json set,
 * write them there as compact JSON; with inv set, add dres * qty to the
 * reserved and dhand * qty to the on-hand units of each in store. Returns
 * the number of items, -1 when one is not a sku and an integer qty, -2
 * when the store failed (err set).
 */
static int
each_item(struct evt_proj *p, struct evt_sv a, struct evt_sv store,
    long long dres, long long dhand, struct evt_table *inv,
    struct evt_buf *json, struct evt_err *err)
{
	size_t pos = 0, off, len;
	int n = 0;

	if (json) {
		evt_buf_reset(json);
		evt_buf_addc(json, '[');
	}
	while (evt_json_array_next(a.p, a.n, &pos, &off, &len)) {
		struct evt_err e;
		struct evt_sv sku, q;
		long long qty;

		evt_buf_reset(&p->arena);
		evt_buf_grow(&p->arena, len + 1);
		if (evt_json_scan(&p->xj, a.p + off, len, 0, &e) < 0 ||
		    p->xj.type != EVT_J_OBJECT)
			return -1;
		sku = evt_json_get_str(&p->xj, "sku", &p->arena);
		q = evt_json_get(&p->xj, "qty", EVT_J_NUMBER);
		if (sku.p == NULL || q.p == NULL || evt_json_int(q.p, q.n, &qty) < 0)
			return -1;
		if (json) {
			if (n)
				evt_buf_addc(json, ',');
			evt_buf_adds(json, "{\"sku\":");
			evt_buf_json_str(json, sku.p, sku.n);
			evt_buf_printf(json, ",\"qty\":%lld}", qty);
		}
		if (inv) {
			struct evt_row *r = inv_row(inv, store, sku, err);
			if (r == NULL)
				return -2;
			add_int(r, INV_RESERVED, dres * qty);
			add_int(r, INV_ON_HAND, dhand * qty);
			evt_row_int(r, INV_AVAILABLE, r->v[INV_ON_HAND].i -
			    r->v[INV_RESERVED].i);
		}
		n++;
	}
	if (json)
		evt_buf_addc(json, ']');
	return n;
}

/* Scan the event's data into p->dj; 0 when it has none. */
static int
data(struct evt_proj *p, const struct evt_event *ev, struct evt_err *err)
{
	const struct evt_jmember *m;

	if (ev->slot[EVT_F_DATA] < 0) {
		p->dj.n = 0;
		return 0;
	}
	m = &ev->j.m[ev->slot[EVT_F_DATA]];
	evt_buf_reset(&p->tmp);
	evt_buf_grow(&p->tmp, m->vlen + 1);
	return evt_json_scan(&p->dj, ev->j.base + m->voff, m->vlen, 0, err);
}

static int
fold_inventory(struct evt_proj *p, const struct evt_event *ev,
    struct evt_err *err)
{
	struct evt_table *inv = &p->t[0], *holds = &p->t[1];
	struct evt_sv tx, store, sku, v;
	struct evt_row *r, *h;
	long long delta;
	int n;

	if (is(ev, "InventoryAdjusted")) {
		if (data(p, ev, err) < 0)
			return -1;
		store = evt_json_get_str(&p->dj, "store_id", &p->tmp);
		sku = evt_json_get_str(&p->dj, "sku", &p->tmp);
		v = evt_json_get(&p->dj, "delta", EVT_J_NUMBER);
		if (!store.p || !sku.p || !v.p || evt_json_int(v.p, v.n, &delta) < 0)
			return bad(err, ev, "data needs store_id, sku and an "
			    "integer delta");
		if ((r = inv_row(inv, store, sku, err)) == NULL)
			return -1;
		add_int(r, INV_ON_HAND, delta);
		evt_row_int(r, INV_AVAILABLE, r->v[INV_ON_HAND].i -
		    r->v[INV_RESERVED].i);
		return 0;
	}
	/* A stock transfer (saga-orch, testdata/sagas/transfer.json) holds
	 * at its source as an order does, keyed by its transfer id: the
	 * dispatch takes the held units off the source's shelf, the receipt
	 * puts them on the destination's, and a restock puts them back on
	 * the source's, held again until the release. */
	int reserved = is(ev, "InventoryReserved");
	int restocked = is(ev, "StockRestocked");
	int fulfilled = is(ev, "OrderFulfilled") || is(ev, "StockDispatched");
	int received = is(ev, "StockReceived");
	if (!reserved && !fulfilled && !restocked && !received &&
	    !is(ev, "InventoryReleased"))
		return 0;
	if (data(p, ev, err) < 0)
		return -1;
	tx = evt_json_get_str(&p->dj, "transaction_id", &p->tmp);
	if (tx.p == NULL && (tx = evt_json_get_str(&p->dj, "transfer_id",
	    &p->tmp)).p != NULL) {
		evt_buf_reset(&p->xkey);
		evt_buf_adds(&p->xkey, "transfer:");
		evt_buf_add(&p->xkey, tx.p, tx.n);
		tx = (struct evt_sv){ p->xkey.p, p->xkey.len };
	} else if (tx.p == NULL)
		return bad(err, ev, "data needs transaction_id");
	else if (received || restocked)
		return 0;
	if (received) {
		store = evt_json_get_str(&p->dj, "store_id", &p->tmp);
		v = evt_json_get(&p->dj, "items", EVT_J_ARRAY);
		if (!store.p || !v.p || each_item(p, v, store, 0, 0, NULL,
		    &p->items, err) < 0)
			return bad(err, ev, "data needs store_id and items of "
			    "sku and integer qty");
		return each_item(p, v, store, 0, +1, inv, NULL, err) < 0 ? -1 : 0;
	}
	h = get1(holds, tx, 0, err);
	if (STORE_FAILED(h, err))
		return -1;
	if (reserved || restocked) {
		if (h != NULL)
			return 0;	/* held already */
		store = evt_json_get_str(&p->dj, "store_id", &p->tmp);
		v = evt_json_get(&p->dj, "items", EVT_J_ARRAY);
		/* Check first, then count: a bad item changes nothing. */
		if (!store.p || !v.p || each_item(p, v, store, 0, 0, NULL,
		    &p->items, err) < 0)
			return bad(err, ev, "data needs store_id and items of "
			    "sku and integer qty");
		if ((n = each_item(p, v, store, +1, restocked, inv, NULL,
		    err)) < 0)
			return -1;
		if ((h = get1(holds, tx, 1, err)) == NULL)
			return -1;
		evt_row_str(h, HOLD_STORE, store.p, store.n);
		evt_row_json(h, HOLD_ITEMS, p->items.p, p->items.len);
		return 0;
	}
	/* Released or fulfilled: the held units leave the reservation, and
	 * when fulfilled, the shelf. */
	if (h == NULL)
		return 0;
	n = each_item(p, (struct evt_sv){ h->v[HOLD_ITEMS].s, h->v[HOLD_ITEMS].n },
	    (struct evt_sv){ h->v[HOLD_STORE].s, h->v[HOLD_STORE].n }, -1,
	    fulfilled ? -1 : 0, inv, NULL, err);
	if (n >= 0)
		evt_row_delete(h);
	if (n == -1)
		return evt_err_set(err, EX_DATAERR, "read model: a hold's items "
		    "are not what evt-project wrote");
	return n < 0 ? -1 : 0;
}

/* Transaction statuses, in the order a saga moves through them. */
static const char *const status_name[] = { "pending", "paid", "reserved",
	"fulfilled", "completed", "delivered", "cancelled" };
enum { S_PENDING, S_PAID, S_RESERVED, S_FULFILLED, S_COMPLETED, S_DELIVERED,
	S_CANCELLED, S_N };

static int
status_of(const struct evt_row *r)
{
	for (int i = 0; i < S_N; i++)
		if (r->v[TX_STATUS].k == EVT_V_STR &&
		    strcmp(r->v[TX_STATUS].s, status_name[i]) == 0)
			return i;
	return S_PENDING;
}

static int
fold_transactions(struct evt_proj *p, const struct evt_event *ev,
    struct evt_err *err)
{
	static const struct { const char *type; int status; } moves[] = {
		{ "PaymentProcessed", S_PAID }, { "InventoryReserved", S_RESERVED },
		{ "OrderFulfilled", S_FULFILLED },
		{ "TransactionCompleted", S_COMPLETED },
		{ "OrderDelivered", S_DELIVERED },
		{ "TransactionCancelled", S_CANCELLED },
		{ "PaymentFailed", -1 }, { "PaymentRefunded", -1 },
		{ "InventoryUnavailable", -1 }, { "InventoryReleased", -1 }
	};
	struct evt_table *t = &p->t[0];
	const char *tm = ev_time(p, ev);
	struct evt_sv tx, v;
	struct evt_row *r;
	int move = -2;

	if (is(ev, "TransactionCreated")) {
		struct evt_dec total;
		if (data(p, ev, err) < 0)
			return -1;
		tx = evt_json_get_str(&p->dj, "transaction_id", &p->tmp);
		if (amount(p, ev, "total", "data needs transaction_id and a "
		    "numeric total", &total, err) < 0)
			return -1;
		if (!tx.p)
			return bad(err, ev, "data needs transaction_id and a "
			    "numeric total");
		r = get1(t, tx, 0, err);
		if (r != NULL || STORE_FAILED(r, err))
			return r ? 0 : -1;	/* seen already */
		if ((r = get1(t, tx, 1, err)) == NULL)
			return -1;
		struct evt_sv store = evt_json_get_str(&p->dj, "store_id", &p->tmp);
		struct evt_sv cur = evt_json_get_str(&p->dj, "currency", &p->tmp);
		if (store.p)
			evt_row_str(r, TX_STORE, store.p, store.n);
		evt_row_str(r, TX_STATUS, "pending", 7);
		evt_row_dec(r, TX_TOTAL, total);
		if (cur.p)
			evt_row_str(r, TX_CURRENCY, cur.p, cur.n);
		set_time(r, TX_CREATED, tm);
		set_time(r, TX_UPDATED, tm);
		return 0;
	}
	for (size_t i = 0; i < NCOL(moves); i++)
		if (is(ev, moves[i].type))
			move = moves[i].status;
	if (move == -2)
		return 0;
	if (data(p, ev, err) < 0)
		return -1;
	tx = evt_json_get_str(&p->dj, "transaction_id", &p->tmp);
	/* A stock transfer's reservation is no transaction's. */
	if (tx.p == NULL && evt_json_get(&p->dj, "transfer_id", EVT_J_STRING).p)
		return 0;
	if (tx.p == NULL)
		return bad(err, ev, "data needs transaction_id");
	if ((r = get1(t, tx, 0, err)) == NULL)
		return err->code ? -1 : 0;	/* its creation not seen */
	if (tm && (r->v[TX_UPDATED].k != EVT_V_STR ||
	    strcmp(tm, r->v[TX_UPDATED].s) > 0))
		set_time(r, TX_UPDATED, tm);
	if (move < 0)
		return 0;
	int now = status_of(r);
	if (move == S_CANCELLED) {
		if (now == S_COMPLETED || now == S_DELIVERED || now == S_CANCELLED)
			return 0;
		v = evt_json_get_str(&p->dj, "reason", &p->tmp);
		if (v.p)
			evt_row_str(r, TX_REASON, v.p, v.n);
	} else if (now == S_CANCELLED || move <= now)
		return 0;
	evt_row_str(r, TX_STATUS, status_name[move], strlen(status_name[move]));
	return 0;
}

static int
fold_sales(struct evt_proj *p, const struct evt_event *ev, struct evt_err *err)
{
	struct evt_table *t = &p->t[0], *txs = &p->t[1];
	int completed = is(ev, "TransactionCompleted");
	int cancelled = is(ev, "TransactionCancelled");
	int refunded = is(ev, "PaymentRefunded");
	struct evt_sv tx, store, cur;
	struct evt_row *r, *x;
	struct evt_dec amt = EVT_DEC_ZERO;

	if (is(ev, "TransactionCreated")) {
		if (data(p, ev, err) < 0)
			return -1;
		tx = evt_json_get_str(&p->dj, "transaction_id", &p->tmp);
		store = evt_json_get_str(&p->dj, "store_id", &p->tmp);
		if (!tx.p || !store.p)
			return bad(err, ev, "data needs transaction_id and "
			    "store_id");
		cur = currency_key(evt_json_get_str(&p->dj, "currency", &p->tmp),
		    &p->cur);
		if ((x = get1(txs, tx, 0, err)) != NULL || STORE_FAILED(x, err))
			return x ? 0 : -1;	/* seen already */
		if ((x = get1(txs, tx, 1, err)) == NULL)
			return -1;
		evt_row_str(x, STX_STORE, store.p, store.n);
		/* No currency: the order cannot be counted; said when its
		 * outcome comes (saga-step rejects it, so none comes). */
		if (cur.p)
			evt_row_str(x, STX_CURRENCY, cur.p, cur.n);
		return 0;
	}
	if (!completed && !cancelled && !refunded)
		return 0;
	if (ev->slot[EVT_F_TIME] < 0)
		return bad(err, ev, "no time: the day is not known");
	if (data(p, ev, err) < 0)
		return -1;
	tx = evt_json_get_str(&p->dj, "transaction_id", &p->tmp);
	if (tx.p == NULL)
		return bad(err, ev, "data needs transaction_id");
	if (!cancelled && amount(p, ev, completed ? "total" : "amount",
	    completed ? "data needs a numeric total" : "data needs a numeric "
	    "amount", &amt, err) < 0)
		return -1;
	if ((x = get1(txs, tx, 0, err)) == NULL)
		return err->code ? -1 : 0;	/* its creation not seen */
	/* One outcome per transaction: a cancellation after the completion
	 * (or the other way) changes nothing. */
	if (!refunded && x->v[STX_OUTCOME].k != EVT_V_NULL)
		return 0;
	/* The money is in the currency the event names, else in its
	 * order's; with neither, it cannot be added to any. Checked before
	 * any change. */
	cur = currency_key(evt_json_get_str(&p->dj, "currency", &p->tmp),
	    &p->cur);
	if (cur.p == NULL && x->v[STX_CURRENCY].k == EVT_V_STR)
		cur = currency_key((struct evt_sv){ x->v[STX_CURRENCY].s,
		    x->v[STX_CURRENCY].n }, &p->cur);
	if (cur.p == NULL)
		return evt_err_set(err, EX_DATAERR, "%.*s: transaction %.*s has "
		    "no currency, in this event or its TransactionCreated: its "
		    "money cannot be counted with any currency's",
		    (int)ev->type.n, ev->type.p, (int)(tx.n > 60 ? 60 : tx.n),
		    tx.p);
	if (!refunded)
		evt_row_str(x, STX_OUTCOME, completed ? "completed" :
		    "cancelled", 9);
	ev_time(p, ev);
	if ((r = get3(t, (struct evt_sv){ x->v[STX_STORE].s, x->v[STX_STORE].n },
	    (struct evt_sv){ p->time, 10 }, cur, 1, err)) == NULL)
		return -1;
	if (r->v[SA_COMPLETED].k == EVT_V_NULL) {
		evt_row_int(r, SA_COMPLETED, 0);
		evt_row_int(r, SA_CANCELLED, 0);
		evt_row_dec(r, SA_REVENUE, EVT_DEC_ZERO);
		evt_row_dec(r, SA_REFUNDED, EVT_DEC_ZERO);
	}
	if (completed) {
		add_int(r, SA_COMPLETED, 1);
		return add_dec(r, SA_REVENUE, "revenue", amt, ev, err);
	} else if (cancelled)
		add_int(r, SA_CANCELLED, 1);
	else
		return add_dec(r, SA_REFUNDED, "refunded", amt, ev, err);
	return 0;
}

static int
fold_sagas(struct evt_proj *p, const struct evt_event *ev, struct evt_err *err)
{
	struct evt_table *t = &p->t[0];
	const struct evt_str *c = ev->corr.p ? &ev->corr : &ev->id;
	struct evt_sv corr = { c->p, c->n };
	const char *tm = ev_time(p, ev);
	struct evt_row *r;

	if (corr.p == NULL)
		return 0;
	r = get1(t, corr, 0, err);
	if (STORE_FAILED(r, err))
		return -1;
	if (r == NULL) {
		if (!is(ev, "TransactionCreated"))
			return 0;
		if (data(p, ev, err) < 0)
			return -1;
		struct evt_sv tx = evt_json_get_str(&p->dj, "transaction_id",
		    &p->tmp);
		if (tx.p == NULL)
			return bad(err, ev, "data needs transaction_id");
		if ((r = get1(t, corr, 1, err)) == NULL)
			return -1;
		evt_row_str(r, SG_TX, tx.p, tx.n);
		evt_row_str(r, SG_STATE, "running", 7);
		evt_row_int(r, SG_EVENTS, 0);
		set_time(r, SG_STARTED, tm);
		evt_row_int(r, SG_DURATION, 0);
		evt_row_bool(r, SG_COMPENSATED, 0);
	}
	add_int(r, SG_EVENTS, 1);
	if (tm && (r->v[SG_LAST].k != EVT_V_STR || strcmp(tm, r->v[SG_LAST].s) > 0)) {
		set_time(r, SG_LAST, tm);
		int64_t a;
		if (r->v[SG_STARTED].k == EVT_V_STR && evt_time_parse(
		    r->v[SG_STARTED].s, r->v[SG_STARTED].n, &a) == 0)
			evt_row_int(r, SG_DURATION, ev->time_ms - a);
	}
	if (is(ev, "TransactionCompleted"))
		evt_row_str(r, SG_STATE, "completed", 9);
	else if (is(ev, "TransactionCancelled"))
		evt_row_str(r, SG_STATE, "cancelled", 9);
	else if (is(ev, "PaymentRefunded") || is(ev, "InventoryReleased"))
		evt_row_bool(r, SG_COMPENSATED, 1);
	return 0;
}

static void
copy_val(struct evt_row *to, const struct evt_row *from, size_t col)
{
	const struct evt_val *v = &from->v[col];

	if (v->k == EVT_V_STR)
		evt_row_str(to, col, v->s, v->n);
	else if (v->k == EVT_V_INT)
		evt_row_int(to, col, v->i);
	else
		evt_row_null(to, col);
}

/* A string of data, or NULL (p->tmp holds it). */
static void
set_data_str(struct evt_proj *p, struct evt_row *r, size_t col,
    const char *name)
{
	struct evt_sv v = evt_json_get_str(&p->dj, name, &p->tmp);

	if (v.p)
		evt_row_str(r, col, v.p, v.n);
	else
		evt_row_null(r, col);
}

/*
 * The orchestrator's own events (saga-orch(1): a Saga type on a saga-KEY
 * stream) move its saga's row: the state (running, retrying,
 * compensating, completed, failed, stuck), the step in hand with its
 * attempt, and when the orchestrator acts next on its own (the step's or
 * undo's timeout, a retry): due.
 */
static int
fold_orch(struct evt_proj *p, const struct evt_event *ev, struct evt_err *err)
{
	struct evt_table *t = &p->t[0], *keys = &p->t[1];
	struct evt_sv key, v;
	struct evt_row *k, *r = NULL, *nr;
	const char *tm = ev_time(p, ev);
	char old[EVT_TIME_LEN + 1] = "";
	long long n;

	if (ev->subject.n <= 5 || memcmp(ev->subject.p, "saga-", 5) != 0 ||
	    ev->type.n <= 4 || memcmp(ev->type.p, "Saga", 4) != 0)
		return 0;
	key = (struct evt_sv){ ev->subject.p + 5, ev->subject.n - 5 };
	if ((k = get1(keys, key, 0, err)) == NULL && err->code)
		return -1;
	if (k && k->v[OK_LAST].k == EVT_V_STR &&
	    k->v[OK_LAST].n == EVT_TIME_LEN) {
		memcpy(old, k->v[OK_LAST].s, EVT_TIME_LEN + 1);
		if ((r = get2(t, (struct evt_sv){ old, EVT_TIME_LEN }, key, 0,
		    err)) == NULL && err->code)
			return -1;
	}
	/* Keyed by the latest time: moved when a later event comes. */
	if (r == NULL || (tm && strcmp(tm, old) > 0)) {
		const char *at = tm ? tm : old;
		if ((nr = get2(t, (struct evt_sv){ at, strlen(at) }, key, 1,
		    err)) == NULL)
			return -1;
		if (r && r != nr) {
			for (size_t i = OR_SAGA; i < NCOL(orch_cols); i++)
				copy_val(nr, r, i);
			evt_row_delete(r);
		} else if (r == NULL)
			evt_row_int(nr, OR_EVENTS, 0);
		r = nr;
		if (k == NULL && (k = get1(keys, key, 1, err)) == NULL)
			return -1;
		evt_row_str(k, OK_LAST, at, strlen(at));
	}
	add_int(r, OR_EVENTS, 1);
	if (data(p, ev, err) < 0)
		return -1;
	if (is(ev, "SagaStarted")) {
		set_data_str(p, r, OR_SAGA, "saga");
		v = evt_json_get(&p->dj, "version", EVT_J_NUMBER);
		if (v.p && evt_json_int(v.p, v.n, &n) == 0)
			evt_row_int(r, OR_VERSION, n);
		evt_row_str(r, OR_STATE, "running", 7);
		set_time(r, OR_STARTED, tm);
		if (ev->corr.p)
			evt_row_str(r, OR_CORR, ev->corr.p, ev->corr.n);
		return 0;
	}
	if (is(ev, "SagaCompleted") || is(ev, "SagaFailed")) {
		int stuck = evt_json_get(&p->dj, "stuck", EVT_J_TRUE).p != NULL;
		evt_row_str(r, OR_STATE, is(ev, "SagaCompleted") ? "completed" :
		    stuck ? "stuck" : "failed", is(ev, "SagaCompleted") ? 9 :
		    stuck ? 5 : 6);
		evt_row_null(r, OR_DUE);
		return 0;
	}
	if (is(ev, "SagaTimedOut")) {
		evt_row_str(r, OR_STATE, "timed_out", 9);
		return 0;
	}
	/* A step's or an undo's attempt: started, or settled. */
	if (evt_json_get(&p->dj, "step", EVT_J_STRING).p) {
		set_data_str(p, r, OR_STEP, "step");
		v = evt_json_get(&p->dj, "attempt", EVT_J_NUMBER);
		if (v.p && evt_json_int(v.p, v.n, &n) == 0)
			evt_row_int(r, OR_ATTEMPT, n);
	}
	if (is(ev, "SagaStepStarted") || is(ev, "SagaCompensating")) {
		if (is(ev, "SagaCompensating"))
			evt_row_str(r, OR_STATE, "compensating", 12);
		else
			evt_row_str(r, OR_STATE, "running", 7);
		set_data_str(p, r, OR_DUE, "due");
	} else if (evt_json_get(&p->dj, "retry_at", EVT_J_STRING).p) {
		if (!evt_json_get(&p->dj, "undo", EVT_J_TRUE).p)
			evt_row_str(r, OR_STATE, "retrying", 8);
		set_data_str(p, r, OR_DUE, "retry_at");
	} else
		evt_row_null(r, OR_DUE);
	return 0;
}

static int
fold_streams(struct evt_proj *p, const struct evt_event *ev,
    struct evt_err *err)
{
	struct evt_row *r = get1(&p->t[0], (struct evt_sv){ ev->subject.p,
	    ev->subject.n }, 1, err);
	size_t cn = evt_category_len(ev->subject.p, ev->subject.n);

	if (r == NULL)
		return -1;
	evt_row_str(r, ST_CATEGORY, ev->subject.p, cn);
	if (ev->slot[EVT_F_VERSION] >= 0)
		evt_row_int(r, ST_VERSION, ev->version);
	else
		add_int(r, ST_VERSION, 1);
	if (ev->slot[EVT_F_SEQ] >= 0)
		evt_row_int(r, ST_SEQ, ev->seq);
	else
		evt_row_null(r, ST_SEQ);
	evt_row_str(r, ST_TYPE, ev->type.p, ev->type.n);
	set_time(r, ST_AT, ev_time(p, ev));
	return 0;
}

/*
 * The value at path in ev: its raw JSON and type. Returns 0, or -1 when
 * the path leads nowhere. The first part names an envelope field (type,
 * subject, time, data, ...), the rest members of objects or indexes of
 * arrays.
 */
static int
resolve(struct evt_proj *p, const struct evt_event *ev, const struct path *pa,
    struct evt_sv *out, enum evt_jtype *type)
{
	struct evt_err e;
	struct evt_sv v = { NULL, 0 };
	enum evt_jtype t = EVT_J_NULL;
	int i = evt_json_find(&ev->j, pa->seg[0]);

	if (i < 0)
		return -1;
	v = (struct evt_sv){ ev->j.base + ev->j.m[i].voff, ev->j.m[i].vlen };
	t = ev->j.m[i].type;
	for (size_t k = 1; k < pa->n; k++) {
		if (t == EVT_J_OBJECT) {
			if (evt_json_scan(&p->xj, v.p, v.n, 0, &e) < 0 ||
			    (i = evt_json_find(&p->xj, pa->seg[k])) < 0)
				return -1;
			v = (struct evt_sv){ v.p + p->xj.m[i].voff, p->xj.m[i].vlen };
			t = p->xj.m[i].type;
		} else if (t == EVT_J_ARRAY) {
			char *end;
			long idx = strtol(pa->seg[k], &end, 10);
			size_t pos = 0, off = 0, len = 0;
			if (*end || idx < 0)
				return -1;
			do {
				if (!evt_json_array_next(v.p, v.n, &pos, &off, &len))
					return -1;
			} while (idx-- > 0);
			v = (struct evt_sv){ v.p + off, len };
			t = v.p[0] == '{' ? EVT_J_OBJECT : v.p[0] == '[' ?
			    EVT_J_ARRAY : v.p[0] == '"' ? EVT_J_STRING :
			    v.p[0] == 't' ? EVT_J_TRUE : v.p[0] == 'f' ?
			    EVT_J_FALSE : v.p[0] == 'n' ? EVT_J_NULL : EVT_J_NUMBER;
		} else
			return -1;
	}
	*out = v;
	*type = t;
	return 0;
}

static int
type_matches(const struct spec_col *c, const struct evt_event *ev,
    struct evt_buf *tmp)
{
	if (c->ntypes == 0)
		return 1;
	evt_buf_reset(tmp);
	evt_buf_add(tmp, ev->type.p, ev->type.n);
	for (size_t i = 0; i < c->ntypes; i++)
		if (fnmatch(c->types[i], tmp->p, 0) == 0)
			return 1;
	return 0;
}

/* The currency of column c's amount in ev, into b (upper case; empty:
 * it has none). */
static void
spec_amount_currency(struct evt_proj *p, const struct evt_event *ev,
    const struct spec_col *c, struct evt_buf *b)
{
	struct evt_sv v;
	enum evt_jtype t;

	evt_buf_reset(b);
	for (size_t k = 0; k < c->ncur; k++)
		if (resolve(p, ev, &c->cur[k], &v, &t) == 0 && t == EVT_J_STRING) {
			evt_json_str_decode(v.p, v.n, b);
			for (size_t i = 0; i < b->len; i++)
				if (b->p[i] >= 'a' && b->p[i] <= 'z')
					b->p[i] = (char)(b->p[i] - 'a' + 'A');
			return;
		}
}

static int
fold_spec(struct evt_proj *p, const struct evt_event *ev, struct evt_err *err)
{
	struct spec *s = p->spec;
	struct evt_row *r = NULL;
	size_t i;
	int any = 0, money = 0, rc;

	for (i = 0; i < s->ncol && !any; i++)
		any = type_matches(&s->col[i], ev, &p->tmp);
	if (!any)
		return 0;
	/* The group key: strings decoded, other values as their JSON. */
	for (i = 0; i < s->ngroup; i++) {
		struct evt_sv v;
		enum evt_jtype t;
		if (resolve(p, ev, &s->group[i], &v, &t) < 0 || t == EVT_J_NULL)
			return 0;	/* not in any group */
		if (t == EVT_J_STRING)
			evt_json_str_decode(v.p, v.n, &p->kb[i]);
		else {
			evt_buf_reset(&p->kb[i]);
			evt_buf_add(&p->kb[i], v.p, v.n);
		}
		p->kv[i] = p->kb[i].p;
		p->kn[i] = p->kb[i].len;
	}
	/* Read every value first: a number beyond 38 digits, or an amount
	 * in another currency than its group's, changes nothing. */
	for (i = 0; i < s->ncol; i++) {
		const struct spec_col *c = &s->col[i];
		struct spec_val *x = &s->val[i];

		x->on = 0;
		x->t = EVT_J_NULL;
		if (!type_matches(c, ev, &p->tmp))
			continue;
		if (c->path.n && (resolve(p, ev, &c->path, &x->v, &x->t) < 0 ||
		    x->t == EVT_J_NULL))
			continue;
		if (c->op == OP_SUM || c->op == OP_MIN || c->op == OP_MAX) {
			if (x->t != EVT_J_NUMBER)
				continue;	/* not a number: not counted */
			if ((rc = evt_dec_parse(x->v.p, x->v.n, &x->d)) !=
			    EVT_DEC_OK)
				return evt_err_set(err, EX_DATAERR, "%.*s: column "
				    "%s: %.*s %s", (int)ev->type.n, ev->type.p,
				    s->names[s->ngroup + i], (int)(x->v.n > 60 ?
				    60 : x->v.n), x->v.p, rc == EVT_DEC_RANGE ?
				    "has too many digits to keep exactly" :
				    "is not a number");
			if (c->curcol) {
				spec_amount_currency(p, ev, c, &x->cur);
				money = 1;
			}
		}
		x->on = 1;
	}
	if (money) {
		r = evt_row_get(&p->t[0], p->kv, p->kn, 0, err);
		if (STORE_FAILED(r, err))
			return -1;
		for (i = 0; r && i < s->ncol; i++) {
			const struct spec_col *c = &s->col[i];
			const struct spec_val *x = &s->val[i];
			const struct evt_val *have = &r->v[c->curcol];
			if (!x->on || !c->curcol || have->k != EVT_V_STR ||
			    (have->n == x->cur.len && (have->n == 0 ||
			    memcmp(have->s, x->cur.p, have->n) == 0)))
				continue;
			return evt_err_set(err, EX_DATAERR, "%.*s: column %s: an "
			    "amount %s%.*s cannot join its group's amounts %s%.16s: "
			    "put the currency in \"group\", or say \"currency\": "
			    "false if these numbers are not money", (int)ev->type.n,
			    ev->type.p, s->names[s->ngroup + i], x->cur.len ?
			    "in " : "with no currency", (int)(x->cur.len > 16 ?
			    16 : x->cur.len), x->cur.len ? x->cur.p : "",
			    have->n ? "in " : "with no currency", have->n ?
			    have->s : "");
		}
	}
	if (r == NULL && (r = evt_row_get(&p->t[0], p->kv, p->kn, 1,
	    err)) == NULL)
		return -1;
	for (i = 0; i < s->ncol; i++) {
		const struct spec_col *c = &s->col[i];
		const struct spec_val *x = &s->val[i];
		size_t col = s->ngroup + i;

		/* Counts and sums start at 0, the others at null. */
		if (r->v[col].k == EVT_V_NULL && c->op == OP_COUNT)
			evt_row_int(r, col, 0);
		else if (r->v[col].k == EVT_V_NULL && c->op == OP_SUM)
			evt_row_dec(r, col, EVT_DEC_ZERO);
		if (!x->on)
			continue;
		if (c->curcol && r->v[c->curcol].k == EVT_V_NULL)
			evt_row_str(r, c->curcol, x->cur.p ? x->cur.p : "",
			    x->cur.len);
		switch (c->op) {
		case OP_COUNT:
			add_int(r, col, 1);
			break;
		case OP_SUM:
			if (add_dec(r, col, s->names[col], x->d, ev, err) < 0)
				return -1;
			break;
		case OP_MIN:
		case OP_MAX:
			if (r->v[col].k == EVT_V_NULL ||
			    evt_dec_cmp(x->d, r->v[col].d) == (c->op == OP_MIN ?
			    -1 : 1))
				evt_row_dec(r, col, x->d);
			break;
		case OP_FIRST:
			if (r->v[col].k == EVT_V_NULL)
				evt_row_json(r, col, x->v.p, x->v.n);
			break;
		case OP_LAST:
			evt_row_json(r, col, x->v.p, x->v.n);
			break;
		}
	}
	return 0;
}

int
evt_proj_fold(struct evt_proj *p, const struct evt_event *ev,
    struct evt_err *err)
{
	err->code = 0;
	switch (p->kind) {
	case P_INVENTORY: return fold_inventory(p, ev, err);
	case P_TRANSACTIONS: return fold_transactions(p, ev, err);
	case P_SALES: return fold_sales(p, ev, err);
	case P_SAGAS: return fold_sagas(p, ev, err);
	case P_STREAMS: return fold_streams(p, ev, err);
	case P_ORCH: return fold_orch(p, ev, err);
	case P_SPEC: return fold_spec(p, ev, err);
	}
	return 0;
}
