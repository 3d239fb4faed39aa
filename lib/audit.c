#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <jansson.h>

#include "audit.h"
#include "audit_store.h"
#include "clock.h"
#include "decimal.h"
#include "hmap.h"
#include "json.h"
#include "saga.h"

static const char *const sev_name[] = { "info", "warning", "critical" };
static const char *const tag_name[] = { "PCI-DSS", "GDPR", "FINANCIAL",
	"INTEGRITY", "SAGA" };
static const char *const finding_name[] = {
	"pan_unmasked", "cvv_present", "pii_present", "amount_mismatch",
	"large_refund", "double_charge", "over_refund", "currency_mismatch",
	"negative_amount", "seq_gap", "version_gap", "duplicate_id",
	"time_regression", "orphan_causation", "saga_stuck", "saga_compensated",
	"chain_broken", "saga_bad_event", "transaction_rejected", "time_future"
};

const char *evt_severity_name(int sev) { return sev_name[sev]; }
const char *evt_finding_name(int f) { return finding_name[f]; }
const char *evt_tag_name(int i) { return tag_name[i]; }

int
evt_severity_parse(const char *name)
{
	for (int i = 0; i < EVT_SEV_N; i++)
		if (strcmp(name, sev_name[i]) == 0)
			return i;
	return -1;
}

void
evt_audit_defaults(struct evt_audit_opts *o)
{
	static const struct evt_rule r[EVT_FINDING_N] = {
		[EVT_F_PAN] = { 1, EVT_SEV_CRITICAL, EVT_TAG_PCI },
		[EVT_F_CVV] = { 1, EVT_SEV_CRITICAL, EVT_TAG_PCI },
		[EVT_F_PII] = { 1, EVT_SEV_INFO, EVT_TAG_GDPR },
		[EVT_F_AMOUNT] = { 1, EVT_SEV_CRITICAL, EVT_TAG_FINANCIAL },
		[EVT_F_REFUND] = { 1, EVT_SEV_WARNING, EVT_TAG_FINANCIAL },
		[EVT_F_DOUBLE_CHARGE] = { 1, EVT_SEV_CRITICAL, EVT_TAG_FINANCIAL },
		[EVT_F_OVER_REFUND] = { 1, EVT_SEV_CRITICAL, EVT_TAG_FINANCIAL },
		[EVT_F_CURRENCY] = { 1, EVT_SEV_CRITICAL, EVT_TAG_FINANCIAL },
		[EVT_F_NEGATIVE] = { 1, EVT_SEV_CRITICAL, EVT_TAG_FINANCIAL },
		[EVT_F_SEQ_GAP] = { 1, EVT_SEV_CRITICAL, EVT_TAG_INTEGRITY },
		[EVT_F_VERSION_GAP] = { 1, EVT_SEV_CRITICAL, EVT_TAG_INTEGRITY },
		[EVT_F_DUP_ID] = { 1, EVT_SEV_CRITICAL, EVT_TAG_INTEGRITY },
		[EVT_F_TIME_BACK] = { 1, EVT_SEV_WARNING, EVT_TAG_INTEGRITY },
		[EVT_F_ORPHAN] = { 1, EVT_SEV_WARNING, EVT_TAG_INTEGRITY },
		[EVT_F_STUCK] = { 1, EVT_SEV_WARNING, EVT_TAG_SAGA },
		[EVT_F_COMPENSATED] = { 1, EVT_SEV_INFO,
		    EVT_TAG_SAGA | EVT_TAG_FINANCIAL },
		[EVT_F_CHAIN] = { 1, EVT_SEV_CRITICAL, EVT_TAG_INTEGRITY },
		[EVT_F_SAGA_BAD] = { 1, EVT_SEV_WARNING,
		    EVT_TAG_SAGA | EVT_TAG_INTEGRITY },
		[EVT_F_REJECTED] = { 1, EVT_SEV_WARNING, EVT_TAG_SAGA },
		[EVT_F_TIME_FUTURE] = { 1, EVT_SEV_WARNING, EVT_TAG_INTEGRITY },
	};

	memset(o, 0, sizeof(*o));
	memcpy(o->rule, r, sizeof(r));
	o->refund_over = (struct evt_dec){ 1000, 0 };
	o->stuck_after_ms = 3600 * 1000;
}

void
evt_audit_opts_free(struct evt_audit_opts *o)
{
	for (size_t i = 0; i < o->npii; i++)
		free(o->pii[i]);
	free(o->pii);
	o->pii = NULL;
	o->npii = 0;
}

static int
rules_err(struct evt_err *err, const char *file, const char *what,
    const char *name)
{
	return evt_err_set(err, EX_DATAERR, "rules %s: %s%s%s", file,
	    name ? name : "", name ? ": " : "", what);
}

/*
 * The number member key of the JSON object in file, exactly as written
 * (jansson keeps only a double): the file is read again through evt's own
 * scanner. Returns EVT_DEC_OK, or another evt_dec_parse result.
 */
static int
raw_amount(const char *file, const char *key, struct evt_dec *d)
{
	struct evt_buf text = EVT_BUF_INIT;
	struct evt_jobj o = { 0 };
	struct evt_err e;
	char chunk[4096];
	size_t got;
	int rc = EVT_DEC_SYNTAX;
	FILE *f = fopen(file, "r");

	if (f == NULL)
		return rc;
	while ((got = fread(chunk, 1, sizeof(chunk), f)) > 0)
		evt_buf_add(&text, chunk, got);
	fclose(f);
	if (text.len && evt_json_scan(&o, text.p, text.len, 0, &e) == 0) {
		struct evt_sv v = evt_json_get(&o, key, EVT_J_NUMBER);
		if (v.p)
			rc = evt_dec_parse(v.p, v.n, d);
	}
	evt_json_free(&o);
	evt_buf_free(&text);
	return rc;
}

int
evt_audit_rules(struct evt_audit_opts *o, const char *file,
    struct evt_err *err)
{
	json_error_t je;
	json_t *root = json_load_file(file, JSON_REJECT_DUPLICATES, &je);
	json_t *v, *x;
	const char *k, *rk;
	int rc = -1;

	if (root == NULL) {
		if (access(file, F_OK) != 0)
			return evt_err_set(err, EX_NOINPUT, "rules %s: %s", file,
			    strerror(errno));
		return evt_err_set(err, EX_DATAERR, "rules %s: line %d: %s",
		    file, je.line, je.text);
	}
	if (!json_is_object(root)) {
		rules_err(err, file, "not a JSON object", NULL);
		goto out;
	}
	json_object_foreach(root, k, v) {
		if (strcmp(k, "rules") == 0) {
			if (!json_is_object(v)) {
				rules_err(err, file, "must be an object", k);
				goto out;
			}
			json_object_foreach(v, rk, x) {
				int f = -1;
				for (int i = 0; i < EVT_FINDING_N; i++)
					if (strcmp(rk, finding_name[i]) == 0)
						f = i;
				json_t *en = json_object_get(x, "enabled");
				json_t *sv = json_object_get(x, "severity");
				if (f < 0) {
					rules_err(err, file, "no such finding", rk);
					goto out;
				}
				if (!json_is_object(x) || (en && !json_is_boolean(en)) ||
				    (sv && (!json_is_string(sv) || evt_severity_parse(
				    json_string_value(sv)) < 0)) ||
				    json_object_size(x) != (size_t)(!!en + !!sv)) {
					rules_err(err, file, "takes \"enabled\" (true or "
					    "false) and \"severity\" (info, warning, "
					    "critical)", rk);
					goto out;
				}
				if (en)
					o->rule[f].enabled = json_is_true(en);
				if (sv)
					o->rule[f].severity = evt_severity_parse(
					    json_string_value(sv));
			}
		} else if (strcmp(k, "refund_over") == 0) {
			struct evt_dec d;
			int pr = json_is_number(v) ? raw_amount(file, k, &d) :
			    EVT_DEC_SYNTAX;
			if (pr == EVT_DEC_RANGE) {
				rules_err(err, file, "more digits than an exact "
				    "amount holds (38)", k);
				goto out;
			}
			if (pr != EVT_DEC_OK || evt_dec_sign(d) < 0) {
				rules_err(err, file, "must be an amount (a number, "
				    "0 or more)", k);
				goto out;
			}
			o->refund_over = d;
		} else if (strcmp(k, "stuck_after") == 0) {
			int64_t ms;
			if (!json_is_string(v) || evt_duration_parse(
			    json_string_value(v), &ms) < 0 || ms <= 0) {
				rules_err(err, file, "must be a duration (30m, 2h)", k);
				goto out;
			}
			o->stuck_after_ms = ms;
		} else if (strcmp(k, "pii_fields") == 0) {
			size_t i;
			if (!json_is_array(v)) {
				rules_err(err, file, "must be an array of field names", k);
				goto out;
			}
			json_array_foreach(v, i, x) {
				if (!json_is_string(x)) {
					rules_err(err, file, "must be an array of field "
					    "names", k);
					goto out;
				}
				o->pii = realloc(o->pii, (o->npii + 1) * sizeof(*o->pii));
				if (o->pii == NULL ||
				    (o->pii[o->npii] = strdup(json_string_value(x))) == NULL)
					abort();
				o->npii++;
			}
		} else {
			rules_err(err, file, "unknown setting (rules, refund_over, "
			    "stuck_after, pii_fields)", k);
			goto out;
		}
	}
	rc = 0;
out:
	json_decref(root);
	return rc;
}

/* --- a set of 64-bit hashes of ids --------------------------------------- */

struct idset {
	uint64_t *tab;
	size_t cap, n;
};

/*
 * What the rules remember an id, subject or transaction by: the string,
 * or, when it holds a card number, the string with the card number masked,
 * so that neither memory nor the state file (--state) keeps one whole
 * (PCI-DSS 3.4), not even as an unkeyed hash, which a search of the
 * million middle digits would undo. Two such strings that mask alike
 * share their memory: each is a critical pan_unmasked already. Returns s,
 * or the masked copy in b; *n is its length.
 */
static const char *
safe_key(struct evt_buf *b, const char *s, size_t *n)
{
	size_t digits = 0;

	for (size_t i = 0; i < *n; i++)
		digits += s[i] >= '0' && s[i] <= '9';
	if (digits < 13)
		return s;
	evt_buf_reset(b);
	if (evt_pan_mask(s, *n, b) == 0)
		return s;
	*n = b->len;
	return b->p;
}

/* Never 0, the empty slot. */
static uint64_t
hash64(const char *p, size_t n)
{
	struct evt_buf b = EVT_BUF_INIT;
	uint64_t h;

	p = safe_key(&b, p, &n);
	h = evt_hash(p, n) | 1;
	evt_buf_free(&b);
	return h;
}

static int
idset_has(const struct idset *s, uint64_t h)
{
	if (s->cap == 0)
		return 0;
	for (size_t i = h & (s->cap - 1); s->tab[i]; i = (i + 1) & (s->cap - 1))
		if (s->tab[i] == h)
			return 1;
	return 0;
}

static void
idset_add(struct idset *s, uint64_t h)
{
	if ((s->n + 1) * 2 > s->cap) {
		struct idset old = *s;
		s->cap = old.cap ? old.cap * 2 : 1024;
		s->tab = calloc(s->cap, sizeof(*s->tab));
		if (s->tab == NULL)
			abort();
		s->n = 0;
		for (size_t i = 0; i < old.cap; i++)
			if (old.tab[i])
				idset_add(s, old.tab[i]);
		free(old.tab);
	}
	size_t i = h & (s->cap - 1);
	while (s->tab[i] && s->tab[i] != h)
		i = (i + 1) & (s->cap - 1);
	if (s->tab[i] == 0) {
		s->tab[i] = h;
		s->n++;
	}
}

/* --- the audit ----------------------------------------------------------- */

/*
 * How long the state (--state) keeps what it does not need for certain:
 * a transaction, a stream or an id that no run has touched for this long
 * (by the runs' period ends) is forgotten, but an open transaction not
 * yet judged stuck. A later event of one is checked as if it were the
 * first of its transaction or stream (audit-scan(1), --state): long
 * enough for returns, late uploads and most chargebacks, and the state
 * stays as large as this many days of events, whatever the log's age.
 */
#define STATE_KEEP_DAYS 90
#define STATE_KEEP_MS ((int64_t)STATE_KEEP_DAYS * 24 * 3600 * 1000)

/*
 * What the rules remember of one transaction, in 56 bytes (its id is the
 * map's key): kept for every transaction of a full scan, and for as long
 * as a later event could need it (a refund can follow the completion), so
 * it is small and fixed. Amounts whose digits fit 64 bits (every amount a
 * store charges) and currency codes of up to 8 bytes are inline; anything
 * larger moves the amounts and the code to big.
 */
struct txbig {
	struct evt_dec d[3];
	unsigned char ncur;
	char cur[15];
};

enum { TX_TOTAL, TX_PAID, TX_REFUNDED };

struct txstate {
	int64_t created_ms;
	int64_t m[3];		/* total, paid, refunded, unless big */
	struct txbig *big;
	signed char scale[3];
	unsigned char payments;	/* counted to 255: only "any" matters */
	unsigned created:1, has_total:1, total_range:1, open:1, has_time:1;
	unsigned stuck:1;	/* reported saga_stuck (--state: once) */
	unsigned cur_paid:1;	/* cur is a payment's: no order yet */
	unsigned unknown:1;	/* a payment whose amount cannot be read */
	unsigned char ncur;	/* the order's currency, 0: unknown */
	char cur[8];
};

_Static_assert(sizeof(struct txstate) <= 64, "a transaction's state grew");

static struct evt_dec
tx_dec(const struct txstate *t, int i)
{
	if (t->big)
		return t->big->d[i];
	return (struct evt_dec){ t->m[i], t->scale[i] };
}

static struct txbig *
tx_big(struct txstate *t)
{
	if (t->big == NULL) {
		if ((t->big = calloc(1, sizeof(*t->big))) == NULL)
			abort();
		for (int i = 0; i < 3; i++)
			t->big->d[i] = (struct evt_dec){ t->m[i], t->scale[i] };
		memcpy(t->big->cur, t->cur, t->ncur);
		t->big->ncur = t->ncur;
	}
	return t->big;
}

static void
tx_set_dec(struct txstate *t, int i, struct evt_dec d)
{
	if (t->big == NULL && d.m >= INT64_MIN && d.m <= INT64_MAX) {
		t->m[i] = (int64_t)d.m;
		t->scale[i] = (signed char)d.scale;
	} else
		tx_big(t)->d[i] = d;
}

/* The order's currency (n 0: unknown). */
static const char *
tx_cur(const struct txstate *t, size_t *n)
{
	*n = t->big ? t->big->ncur : t->ncur;
	return t->big ? t->big->cur : t->cur;
}

/* Remember the currency p[0..n); one longer than 15 bytes is unknown. */
static void
tx_set_cur(struct txstate *t, const char *p, size_t n)
{
	if (n == 0 || n > sizeof(t->big->cur))
		return;
	if (t->big == NULL && n <= sizeof(t->cur)) {
		memcpy(t->cur, p, n);
		t->ncur = (unsigned char)n;
	} else {
		struct txbig *b = tx_big(t);
		memcpy(b->cur, p, n);
		b->ncur = (unsigned char)n;
	}
}

/* Between the compact form and the store's. */
static void
tx_from_store(struct txstate *t, const struct evt_audit_tx *s)
{
	memset(t, 0, sizeof(*t));
	tx_set_dec(t, TX_TOTAL, s->total);
	tx_set_dec(t, TX_PAID, s->paid);
	tx_set_dec(t, TX_REFUNDED, s->refunded);
	tx_set_cur(t, s->cur, s->ncur);
	t->created_ms = s->created_ms;
	t->payments = s->payments > 255 ? 255 : (unsigned char)s->payments;
	t->created = s->created;
	t->has_total = s->has_total;
	t->total_range = s->total_range;
	t->open = s->open;
	t->has_time = s->has_time;
	t->stuck = s->stuck;
	t->cur_paid = s->cur_paid;
	t->unknown = s->unknown;
}

static void
tx_to_store(const struct txstate *t, struct evt_audit_tx *s)
{
	size_t n;
	const char *cur = tx_cur(t, &n);

	memset(s, 0, sizeof(*s));
	s->total = tx_dec(t, TX_TOTAL);
	s->paid = tx_dec(t, TX_PAID);
	s->refunded = tx_dec(t, TX_REFUNDED);
	memcpy(s->cur, cur, n);
	s->ncur = (unsigned char)n;
	s->created_ms = t->created_ms;
	s->payments = t->payments;
	s->created = t->created;
	s->has_total = t->has_total;
	s->total_range = t->total_range;
	s->open = t->open;
	s->has_time = t->has_time;
	s->stuck = t->stuck;
	s->cur_paid = t->cur_paid;
	s->unknown = t->unknown;
}

/*
 * What the rules remember of one orchestrated saga (saga-orch(1), by its
 * key): when it started, while it is not over. One that ended stays in
 * memory closed until the next commit, which forgets it in the store.
 */
struct orchstate {
	int64_t started_ms;
	unsigned open:1;
	unsigned stuck:1;	/* reported saga_stuck (--state: once) */
};

/*
 * The rules' memory: the ids seen, the last seq, per stream its last
 * version and time, per transaction its money and saga state. Without a
 * state file it all lives here. With one (evt_audit_state_open), these
 * maps hold only what the run has touched since its last commit; the rest
 * is looked up in the store, and each commit writes them there and
 * empties them, so memory follows a commit's events, not history.
 */
struct evt_audit {
	struct evt_audit_opts o;
	struct evt_saga *saga;		/* its rules, to check events by */
	struct idset ids;
	long long last_seq;
	struct evt_hmap subj;		/* subject -> struct evt_audit_subject * */
	struct evt_hmap tx;		/* transaction -> struct txstate * */
	struct evt_hmap orch;		/* orchestrated saga -> struct orchstate * */
	struct evt_audit_store *store;
	struct evt_audit_ckpt ck;	/* how far the memory has folded */
	int64_t fold_ms;		/* the run's period end, else its clock:
					 * what the rows it writes are stamped
					 * with, and pruned by */
	struct evt_err *err;		/* the call's, for store failures */
	int failed;
	int open_txn;			/* memory written, not committed */
	struct evt_jobj dj;
	struct evt_buf path, detail, pii, cvv, id, subject, txid, tmp, key;
	struct evt_buf mid, msubject, mdetail, kbuf;
	char pan[24], panpath[256];
	int found_pan, too_deep;
	size_t dlen;			/* the event's data's length */
	/* The event in hand. */
	const struct evt_event *ev;
	int report, tags, sev;
	evt_finding_fn fn;
	void *arg;
};

struct evt_audit *
evt_audit_new(const struct evt_audit_opts *o)
{
	struct evt_audit *a = calloc(1, sizeof(*a));

	if (a == NULL)
		abort();
	a->o = *o;
	a->saga = evt_saga_new(&(struct evt_saga_opts){ 0 });
	return a;
}

static void
free_ptr(void *arg, const char *k, size_t n, long long v)
{
	(void)arg; (void)k; (void)n;
	free((void *)(intptr_t)v);
}

static void
free_tx(void *arg, const char *k, size_t n, long long v)
{
	struct txstate *t = (struct txstate *)(intptr_t)v;

	(void)arg; (void)k; (void)n;
	free(t->big);
	free(t);
}

/* Forget what is in memory (written to the store already). */
static void
drop_memory(struct evt_audit *a)
{
	evt_hmap_each(&a->tx, free_tx, NULL);
	evt_hmap_clear(&a->tx);
	evt_hmap_each(&a->subj, free_ptr, NULL);
	evt_hmap_clear(&a->subj);
	evt_hmap_each(&a->orch, free_ptr, NULL);
	evt_hmap_clear(&a->orch);
	free(a->ids.tab);
	memset(&a->ids, 0, sizeof(a->ids));
}

void
evt_audit_free(struct evt_audit *a)
{
	if (a == NULL)
		return;
	drop_memory(a);
	evt_saga_free(a->saga);
	evt_hmap_free(&a->tx);
	evt_hmap_free(&a->orch);
	evt_hmap_free(&a->subj);
	evt_astore_close(a->store);
	evt_json_free(&a->dj);
	struct evt_buf *bufs[] = { &a->path, &a->detail, &a->pii, &a->cvv,
		&a->id, &a->subject, &a->txid, &a->tmp, &a->key, &a->mid,
		&a->msubject, &a->mdetail, &a->kbuf };
	for (size_t i = 0; i < sizeof(bufs) / sizeof(bufs[0]); i++)
		evt_buf_free(bufs[i]);
	free(a);
}

static void
cstr(struct evt_buf *b, const char *p, size_t n)
{
	evt_buf_reset(b);
	if (p)
		evt_buf_add(b, p, n);
	else
		evt_buf_add(b, "", 0);
}

/* s with its card numbers masked, into b (NUL-terminated). */
static const char *
masked(struct evt_buf *b, const char *s)
{
	evt_buf_reset(b);
	evt_buf_add(b, "", 0);
	evt_pan_mask(s, strlen(s), b);
	return b->p;
}

/* Report finding f about the event in hand (or about none: ev NULL). */
static int
found(struct evt_audit *a, int f, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int
found(struct evt_audit *a, int f, const char *fmt, ...)
{
	const struct evt_rule *r = &a->o.rule[f];
	struct evt_finding x;
	va_list ap;

	if (!r->enabled)
		return 0;
	a->tags |= r->tags;
	if (r->severity > a->sev)
		a->sev = r->severity;
	if (!a->report)
		return 0;
	evt_buf_reset(&a->detail);
	evt_buf_grow(&a->detail, 256);
	va_start(ap, fmt);
	int n = vsnprintf(a->detail.p, a->detail.cap, fmt, ap);
	va_end(ap);
	if (n > 0 && (size_t)n >= a->detail.cap) {
		evt_buf_grow(&a->detail, (size_t)n + 1);
		va_start(ap, fmt);
		vsnprintf(a->detail.p, a->detail.cap, fmt, ap);
		va_end(ap);
	}
	x.finding = f;
	x.severity = r->severity;
	x.tags = r->tags;
	x.seq = a->ev && a->ev->slot[EVT_F_SEQ] >= 0 ? a->ev->seq : 0;
	/* A card number never leaves audit-scan, wherever it was: a member
	 * name in a path, a transaction id in a subject. */
	x.id = masked(&a->mid, a->id.p);
	x.subject = masked(&a->msubject, a->subject.p);
	x.detail = masked(&a->mdetail, a->detail.p);
	x.late = NULL;
	return a->fn(a->arg, &x);
}

static int
is_key(const char *k, size_t n, const char *name)
{
	return strlen(name) == n && strncasecmp(k, name, n) == 0;
}

static int
pii_key(const struct evt_audit *a, const char *k, size_t n)
{
	static const char *const names[] = { "email", "e_mail", "phone",
		"phone_number", "mobile", "name", "first_name", "last_name",
		"full_name", "customer_name", "address", "street", "postcode",
		"postal_code", "zip", "date_of_birth", "birth_date" };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (is_key(k, n, names[i]))
			return 1;
	for (size_t i = 0; i < a->o.npii; i++)
		if (is_key(k, n, a->o.pii[i]))
			return 1;
	return 0;
}

/*
 * Fields known to hold other numbers than card numbers, by a word of
 * their name (words split at anything but a letter, and where a lower
 * case letter meets an upper case one: receipt_no, receiptNo, ean8):
 * product codes (an EAN-13 or a GTIN-14 passes Luhn by design, the same
 * check digit), bank accounts, phone numbers, receipt and invoice
 * numbers. Their values are not scanned; a card number written there is
 * missed (audit-scan(1) says so).
 */
static int
not_card_key(const char *k, size_t n)
{
	static const struct { const char *w; size_t n; } words[] = {
		{ "sku", 3 }, { "ean", 3 }, { "gtin", 4 }, { "upc", 3 },
		{ "isbn", 4 }, { "barcode", 7 }, { "iban", 4 }, { "bic", 3 },
		{ "phone", 5 }, { "mobile", 6 }, { "tel", 3 }, { "fax", 3 },
		{ "msisdn", 6 }, { "receipt", 7 }, { "invoice", 7 } };

	for (size_t i = 0; i < n; ) {
		size_t j = i;
		while (j < n && isalpha((unsigned char)k[j]) && (j == i ||
		    !(islower((unsigned char)k[j - 1]) &&
		    isupper((unsigned char)k[j]))))
			j++;
		for (size_t w = 0; j - i >= 3 && j - i <= 7 &&
		    w < sizeof(words) / sizeof(words[0]); w++)
			if (words[w].n == j - i &&
			    strncasecmp(k + i, words[w].w, j - i) == 0)
				return 1;
		i = j > i ? j : i + 1;
	}
	return 0;
}

static int
cvv_key(const char *k, size_t n)
{
	for (size_t i = 0; i + 3 <= n; i++)
		if (strncasecmp(k + i, "cvv", 3) == 0 ||
		    strncasecmp(k + i, "cvc", 3) == 0)
			return 1;
	return is_key(k, n, "csc") || is_key(k, n, "security_code");
}

static void
list_add(struct evt_buf *b, const struct evt_buf *path)
{
	if (b->len)
		evt_buf_adds(b, ", ");
	evt_buf_add(b, path->p, path->len);
}

/* A card number in s[0..n): the first is kept for the finding. */
static void
scan_text(struct evt_audit *a, const char *s, size_t n)
{
	if (!a->found_pan && evt_find_pan(s, n, a->pan)) {
		a->found_pan = 1;
		snprintf(a->panpath, sizeof(a->panpath), "%s", a->path.p);
	}
}

/* A card number in the JSON number v[0..n): its integer part (a decimal
 * point is no separator between digit groups there). */
static void
scan_number(struct evt_audit *a, const char *v, size_t n)
{
	size_t i = v[0] == '-', j = i;

	while (j < n && isdigit((unsigned char)v[j]))
		j++;
	scan_text(a, v + i, j - i);
}

/* The deepest nesting scanned; deeper data is reported, not passed. */
#define MAX_DEPTH 64

/* Look through the value v[0..n) at a->path: card numbers in strings,
 * numbers and member names, card codes and personal data in member
 * names. product: v is the value of a product-code field. */
static void
walk(struct evt_audit *a, const char *v, size_t n, int depth, int product)
{
	size_t pos = 0, ko, kl, vo, vl, at = a->path.len;

	if (depth > MAX_DEPTH) {
		if (!a->too_deep && !a->found_pan) {
			a->too_deep = 1;	/* the path: a card number's wins */
			snprintf(a->panpath, sizeof(a->panpath), "%s", a->path.p);
		}
		return;
	}
	if (v[0] == '{') {
		while (evt_json_object_next(v, n, &pos, &ko, &kl, &vo, &vl)) {
			const char *k = v + ko + 1;
			size_t kn = kl - 2;
			/* Names as they read, escapes decoded: scanned and
			 * printed (masked) so. */
			if (memchr(k, '\\', kn)) {
				evt_json_str_decode(v + ko, kl, &a->key);
				k = a->key.p;
				kn = a->key.len;
			}
			evt_buf_addc(&a->path, '.');
			evt_buf_add(&a->path, k, kn);
			if (is_key(k, kn, "customer_id"))
				a->tags |= EVT_TAG_GDPR;
			if (pii_key(a, k, kn) && v[vo] != 'n')
				list_add(&a->pii, &a->path);
			if (cvv_key(k, kn) && v[vo] != 'n')
				list_add(&a->cvv, &a->path);
			scan_text(a, k, kn);
			walk(a, v + vo, vl, depth + 1, not_card_key(k, kn));
			a->path.len = at;
			a->path.p[at] = '\0';
		}
	} else if (v[0] == '[') {
		size_t i = 0;
		while (evt_json_array_next(v, n, &pos, &vo, &vl)) {
			evt_buf_printf(&a->path, ".%zu", i++);
			walk(a, v + vo, vl, depth + 1, 0);
			a->path.len = at;
			a->path.p[at] = '\0';
		}
	} else if (!a->found_pan && !product && (v[0] == '"' || v[0] == '-' ||
	    isdigit((unsigned char)v[0]))) {
		if (v[0] == '"') {
			evt_json_str_decode(v, n, &a->key);
			scan_text(a, a->key.p, a->key.len);
		} else
			scan_number(a, v, n);
	}
}

static int
type_is(const struct evt_event *ev, const char *t)
{
	return ev->type.n == strlen(t) && memcmp(ev->type.p, t, ev->type.n) == 0;
}

/* v as text for a detail, into b (reused: one per value in a message). */
static const char *
dec_str(struct evt_buf *b, struct evt_dec v)
{
	evt_buf_reset(b);
	evt_dec_format(b, v, 2);
	return b->p;
}

/* A store lookup failed: the event's audit stops, with a->err set. */
static int
store_failed(struct evt_audit *a, int rc)
{
	if (rc < 0)
		a->failed = 1;
	return rc;
}

/* The state of transaction txid[0..n): from memory, else the store, else
 * new. NULL when the store failed. */
static struct txstate *
tx_state(struct evt_audit *a, const char *txid, size_t n)
{
	txid = safe_key(&a->kbuf, txid, &n);
	long long *p = evt_hmap_get(&a->tx, txid, n);
	struct txstate *t;

	if (p)
		return (struct txstate *)(intptr_t)*p;
	if ((t = calloc(1, sizeof(*t))) == NULL)
		abort();
	if (a->store) {
		struct evt_audit_tx s;
		int rc = evt_astore_tx(a->store, txid, n, &s, a->err);
		if (store_failed(a, rc) < 0) {
			free(t);
			return NULL;
		}
		if (rc == 1)
			tx_from_store(t, &s);
	}
	evt_hmap_put(&a->tx, txid, n, (long long)(intptr_t)t);
	return t;
}

/* The state of stream subj[0..n), like tx_state. */
static struct evt_audit_subject *
subject_state(struct evt_audit *a, const char *subj, size_t n)
{
	subj = safe_key(&a->kbuf, subj, &n);
	long long *p = evt_hmap_get(&a->subj, subj, n);
	struct evt_audit_subject *v;

	if (p)
		return (struct evt_audit_subject *)(intptr_t)*p;
	if ((v = calloc(1, sizeof(*v))) == NULL)
		abort();
	int rc = a->store ? evt_astore_subject(a->store, subj, n, v, a->err) : 1;
	if (store_failed(a, rc) < 0) {
		free(v);
		return NULL;
	}
	/* Unknown to a state that has forgotten streams: new, or quiet for
	 * longer than the state keeps. */
	v->forgotten = rc == 0 && a->ck.has_forgot;
	evt_hmap_put(&a->subj, subj, n, (long long)(intptr_t)v);
	return v;
}

/* The state of orchestrated saga key[0..n), like tx_state. */
static struct orchstate *
orch_state(struct evt_audit *a, const char *key, size_t n)
{
	key = safe_key(&a->kbuf, key, &n);
	long long *p = evt_hmap_get(&a->orch, key, n);
	struct orchstate *o;

	if (p)
		return (struct orchstate *)(intptr_t)*p;
	if ((o = calloc(1, sizeof(*o))) == NULL)
		abort();
	if (a->store) {
		int64_t started;
		int stuck;
		int rc = evt_astore_orch(a->store, key, n, &started, &stuck, a->err);
		if (store_failed(a, rc) < 0) {
			free(o);
			return NULL;
		}
		if (rc == 1) {
			o->started_ms = started;
			o->open = 1;
			o->stuck = !!stuck;
		}
	}
	evt_hmap_put(&a->orch, key, n, (long long)(intptr_t)o);
	return o;
}

/* Whether an event of id hash h was seen: in this commit, or before. */
static int
seen(struct evt_audit *a, uint64_t h)
{
	if (idset_has(&a->ids, h))
		return 1;
	return a->store ? evt_astore_id(a->store, h) : 0;
}

/* How an amount (or a total) reads. */
enum { AMT_OK, AMT_STRING, AMT_BAD, AMT_MISSING, AMT_RANGE };

/*
 * The amount member key of the event's data, exactly (never binary
 * floating point): AMT_OK, a number, in *d; AMT_STRING, a string that
 * holds one ("1000.00"), in *d too: comparable, and a finding of its own;
 * AMT_RANGE, more digits than an exact amount holds; AMT_BAD, anything
 * else (null, a boolean, "ten"); AMT_MISSING. *raw gets the value as
 * written, for a detail.
 */
static int
get_amount(struct evt_audit *a, const char *key, struct evt_dec *d,
    struct evt_sv *raw)
{
	struct evt_sv v = evt_json_get(&a->dj, key, EVT_J_NUMBER);
	int pr;

	*raw = v;
	if (v.p) {
		pr = evt_dec_parse(v.p, v.n, d);
		return pr == EVT_DEC_OK ? AMT_OK : pr == EVT_DEC_RANGE ?
		    AMT_RANGE : AMT_BAD;
	}
	evt_buf_reset(&a->tmp);
	evt_buf_grow(&a->tmp, a->dlen + 1);
	v = evt_json_get_str(&a->dj, key, &a->tmp);
	if (v.p) {
		*raw = v;
		pr = evt_dec_parse(v.p, v.n, d);
		return pr == EVT_DEC_OK ? AMT_STRING : pr == EVT_DEC_RANGE ?
		    AMT_RANGE : AMT_BAD;
	}
	int i = evt_json_find(&a->dj, key);
	if (i < 0)
		return AMT_MISSING;
	*raw = (struct evt_sv){ a->dj.base + a->dj.m[i].voff, a->dj.m[i].vlen };
	return AMT_BAD;
}

/* Whether p[0..n) is an ISO 4217 code as written: three letters. */
static int
iso_currency(const char *p, size_t n)
{
	if (n != 3)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!isalpha((unsigned char)p[i]))
			return 0;
	return 1;
}

/* Whether the currencies p and q are the same: ISO 4217 codes compare
 * in any case ("eur" is EUR). */
static int
same_currency(const char *p, size_t n, const char *q, size_t m)
{
	return n == m && strncasecmp(p, q, n) == 0;
}

/* What was paid for t and not refunded. */
static struct evt_dec
tx_net(const struct txstate *t)
{
	struct evt_dec net = tx_dec(t, TX_PAID), r = tx_dec(t, TX_REFUNDED);

	r.m = -r.m;
	if (evt_dec_add(&net, net, r) != EVT_DEC_OK)
		net = tx_dec(t, TX_PAID);
	return net;
}

/*
 * The money rules for a payment or a refund of transaction txid, on the
 * net amount paid (payments less refunds): a payment when the order is
 * paid in full already is a double charge; one that takes what was paid
 * over the total, an amount mismatch (a split tender that adds up is
 * neither, nor is a 0.00 card check, nor a charge after a full refund);
 * its currency, its sign; refunds past what was paid. An amount that
 * cannot be read is a finding, and a later charge of the transaction a
 * double charge, since what was paid is not known. A payment logged
 * before its order is checked when the order comes.
 */
static int
money(struct evt_audit *a, const char *txid, size_t txn, int processed)
{
	const char *what = processed ? "payment" : "refund";
	struct evt_sv raw, cur;
	struct evt_buf b1 = EVT_BUF_INIT, b2 = EVT_BUF_INIT, b3 = EVT_BUF_INIT;
	struct txstate *t;
	struct evt_dec amt;
	int rc = 0, k;

	if ((t = tx_state(a, txid, txn)) == NULL)
		return -1;
	k = get_amount(a, "amount", &amt, &raw);
	if (k == AMT_RANGE || k == AMT_BAD || k == AMT_MISSING) {
		if (k == AMT_RANGE)
			rc = found(a, EVT_F_AMOUNT, "%s %.*s of transaction %s has "
			    "more than %d significant digits: it cannot be "
			    "checked", what, (int)(raw.n > 60 ? 60 : raw.n), raw.p,
			    txid, EVT_DEC_DIGITS);
		else if (k == AMT_BAD)
			rc = found(a, EVT_F_AMOUNT, "%s of transaction %s has an "
			    "amount that is not a number (%.*s): it cannot be "
			    "checked", what, txid, (int)(raw.n > 60 ? 60 : raw.n),
			    raw.p);
		else
			rc = found(a, EVT_F_AMOUNT, "%s of transaction %s has no "
			    "amount: it cannot be checked", what, txid);
		if (processed) {
			if (rc == 0 && (t->unknown || (t->has_total &&
			    t->payments > 0 && evt_dec_cmp(tx_net(t),
			    tx_dec(t, TX_TOTAL)) >= 0)))
				rc = found(a, EVT_F_DOUBLE_CHARGE, "payment of "
				    "transaction %s, already paid", txid);
			t->unknown = 1;
			if (t->payments < 255)
				t->payments++;
		}
		return rc;
	}
	if (k == AMT_STRING)
		rc = found(a, EVT_F_AMOUNT, "%s \"%.*s\" of transaction %s is a "
		    "string, not a number", what, (int)(raw.n > 60 ? 60 : raw.n),
		    raw.p, txid);
	evt_buf_reset(&a->tmp);
	evt_buf_grow(&a->tmp, a->dlen + 1);
	cur = evt_json_get_str(&a->dj, "currency", &a->tmp);
	size_t ncur;
	const char *tcur = tx_cur(t, &ncur);
	if (rc == 0 && cur.p && ncur && !same_currency(cur.p, cur.n, tcur,
	    ncur))
		rc = found(a, EVT_F_CURRENCY, "%s of transaction %s in %.*s, "
		    "%s in %.*s", what, txid, (int)cur.n, cur.p, t->cur_paid ?
		    "an earlier payment" : "the order is", (int)ncur, tcur);
	else if (rc == 0 && cur.p && !ncur && !iso_currency(cur.p, cur.n))
		rc = found(a, EVT_F_CURRENCY, "%s of transaction %s in \"%.*s\", "
		    "not an ISO 4217 currency code", what, txid,
		    (int)(cur.n > 30 ? 30 : cur.n), cur.p);
	if (cur.p && !ncur && !t->created) {
		/* No order yet: the order is checked against it. */
		tx_set_cur(t, cur.p, cur.n);
		t->cur_paid = 1;
	}
	if (rc == 0 && evt_dec_sign(amt) < 0) {
		rc = found(a, EVT_F_NEGATIVE, "%s %s of transaction %s is "
		    "negative", what, dec_str(&b1, amt), txid);
		goto out;	/* not counted: it would hide what it undoes */
	}
	if (processed) {
		struct evt_dec net = tx_net(t), sum;
		int over = evt_dec_add(&sum, net, amt) != EVT_DEC_OK;
		if (rc == 0 && t->total_range)
			rc = found(a, EVT_F_AMOUNT, "payment %s of transaction %s, "
			    "whose total has more than %d significant digits",
			    dec_str(&b1, amt), txid, EVT_DEC_DIGITS);
		else if (rc == 0 && t->created && !t->has_total)
			rc = found(a, EVT_F_AMOUNT, "payment %s of transaction %s, "
			    "whose order has no total that can be read",
			    dec_str(&b1, amt), txid);
		else if (rc == 0 && evt_dec_sign(amt) > 0 && (t->unknown ||
		    (t->has_total && t->payments > 0 && evt_dec_sign(net) > 0 &&
		    evt_dec_cmp(net, tx_dec(t, TX_TOTAL)) >= 0)))
			rc = found(a, EVT_F_DOUBLE_CHARGE, "payment %s of "
			    "transaction %s, already paid %s", dec_str(&b1, amt),
			    txid, t->unknown ? "an amount that cannot be read" :
			    dec_str(&b2, net));
		else if (rc == 0 && t->has_total && evt_dec_sign(net) == 0 &&
		    evt_dec_cmp(amt, tx_dec(t, TX_TOTAL)) > 0)
			rc = found(a, EVT_F_AMOUNT, "payment %s of transaction "
			    "%s, whose total is %s", dec_str(&b1, amt), txid,
			    dec_str(&b2, tx_dec(t, TX_TOTAL)));
		else if (rc == 0 && t->has_total && (over || evt_dec_cmp(sum,
		    tx_dec(t, TX_TOTAL)) > 0))
			rc = found(a, EVT_F_AMOUNT, "payment %s of transaction %s "
			    "brings what was paid to %s, over its total %s",
			    dec_str(&b1, amt), txid, dec_str(&b2, sum),
			    dec_str(&b3, tx_dec(t, TX_TOTAL)));
		/* A sum past 10^38 stays where it was: each such payment
		 * was flagged against its total already. */
		if (evt_dec_add(&sum, tx_dec(t, TX_PAID), amt) == EVT_DEC_OK)
			tx_set_dec(t, TX_PAID, sum);
		if (t->payments < 255)
			t->payments++;
		goto out;
	}
	struct evt_dec sum;
	if (evt_dec_add(&sum, tx_dec(t, TX_REFUNDED), amt) == EVT_DEC_OK)
		tx_set_dec(t, TX_REFUNDED, sum);
	/* Known: the order or a payment was seen; else a slice of history
	 * that starts after the payment says nothing either way. */
	if (rc == 0 && (t->created || t->payments) && !t->unknown &&
	    evt_dec_cmp(tx_dec(t, TX_REFUNDED), tx_dec(t, TX_PAID)) > 0)
		rc = found(a, EVT_F_OVER_REFUND, "refunds of transaction %s add "
		    "up to %s, more than the %s paid", txid,
		    dec_str(&b1, tx_dec(t, TX_REFUNDED)),
		    dec_str(&b2, tx_dec(t, TX_PAID)));
	if (rc == 0 && evt_dec_cmp(amt, a->o.refund_over) > 0)
		rc = found(a, EVT_F_REFUND, "refund %s of transaction %s, over "
		    "%s", dec_str(&b1, amt), txid, dec_str(&b2, a->o.refund_over));
	if (rc == 0)
		rc = found(a, EVT_F_COMPENSATED, "transaction %s refunded", txid);
out:
	evt_buf_free(&b1);
	evt_buf_free(&b2);
	evt_buf_free(&b3);
	return rc;
}

/*
 * An order that comes after payments of its transaction (an online
 * payment for an offline till's order): the payments are checked against
 * it now, their currency and what they add up to.
 */
static int
order_after_payments(struct evt_audit *a, struct txstate *t,
    const char *txid, struct evt_sv ocur, size_t pcurn, const char *pcur)
{
	struct evt_buf b1 = EVT_BUF_INIT, b2 = EVT_BUF_INIT;
	int rc = 0;

	if (ocur.p && pcurn && !same_currency(ocur.p, ocur.n, pcur, pcurn))
		rc = found(a, EVT_F_CURRENCY, "transaction %s ordered in %.*s, "
		    "paid before in %.*s", txid, (int)(ocur.n > 30 ? 30 : ocur.n),
		    ocur.p, (int)pcurn, pcur);
	if (rc == 0 && t->has_total && !t->unknown &&
	    evt_dec_cmp(tx_net(t), tx_dec(t, TX_TOTAL)) > 0)
		rc = found(a, EVT_F_AMOUNT, "transaction %s's total is %s, and "
		    "%s was paid before its order was logged", txid,
		    dec_str(&b1, tx_dec(t, TX_TOTAL)), dec_str(&b2, tx_net(t)));
	evt_buf_free(&b1);
	evt_buf_free(&b2);
	return rc;
}

static int orch_saga(struct evt_audit *a, const struct evt_event *ev,
    int when, int dup);

int
evt_audit_event(struct evt_audit *a, const struct evt_event *ev, int when,
    evt_finding_fn fn, void *arg, int *tags, int *severity,
    struct evt_err *err)
{
	struct evt_err e;
	struct evt_sv tx = { NULL, 0 };
	int rc = 0, dup = 0;
	uint64_t h = 0;

	err->code = 0;
	a->err = err;
	a->failed = 0;
	a->ev = ev;
	a->report = when == EVT_AUDIT_IN;
	a->fn = fn;
	a->arg = arg;
	a->tags = 0;
	a->sev = EVT_SEV_INFO;
	cstr(&a->id, ev->id.p, ev->id.n);
	cstr(&a->subject, ev->subject.p, ev->subject.n);
	evt_buf_reset(&a->pii);
	evt_buf_reset(&a->cvv);
	a->found_pan = a->too_deep = 0;
	if (ev->id.p) {
		h = hash64(ev->id.p, ev->id.n);
		if ((dup = seen(a, h)) < 0)
			return -1;
	}
	if (ev->slot[EVT_F_SEQ] >= 0)
		a->ck.seq = ev->seq;
	if (ev->slot[EVT_F_TIME] >= 0 && (!a->ck.has_time ||
	    ev->time_ms > a->ck.time_ms)) {
		a->ck.time_ms = ev->time_ms;
		a->ck.has_time = 1;
	}
	a->ck.events++;

	/* The kind of event. */
	if ((ev->type.n >= 7 && memcmp(ev->type.p, "Payment", 7) == 0) ||
	    (ev->source.p && ev->source.n == 7 &&
	    memcmp(ev->source.p, "payment", 7) == 0))
		a->tags |= EVT_TAG_PCI | EVT_TAG_FINANCIAL;
	a->dj.n = 0;
	a->dlen = 0;
	/* Card numbers in the envelope's strings too: a transaction id
	 * can be one. */
	scan_text(a, ev->subject.p ? ev->subject.p : "", ev->subject.n);
	if (a->found_pan)
		snprintf(a->panpath, sizeof(a->panpath), "subject");
	if (ev->slot[EVT_F_DATA] >= 0) {
		const struct evt_jmember *m = &ev->j.m[ev->slot[EVT_F_DATA]];
		const char *d = ev->j.base + m->voff;
		evt_json_scan(&a->dj, d, m->vlen, 0, &e);
		if (evt_json_get(&a->dj, "amount", EVT_J_NUMBER).p ||
		    evt_json_get(&a->dj, "total", EVT_J_NUMBER).p)
			a->tags |= EVT_TAG_FINANCIAL;
		evt_buf_reset(&a->path);
		evt_buf_adds(&a->path, "data");
		walk(a, d, m->vlen, 0, 0);
		a->dlen = m->vlen;
		evt_buf_reset(&a->tmp);
		evt_buf_grow(&a->tmp, m->vlen + 1);
		tx = evt_json_get_str(&a->dj, "transaction_id", &a->tmp);
	}
	/* And in every other attribute, its name and its value: an id, a
	 * correlation id or an extension can hold one too. */
	for (size_t i = 0; i < ev->j.n && !a->found_pan; i++) {
		const struct evt_jmember *m = &ev->j.m[i];
		/* The time and the spec version were checked for their
		 * formats, which hold no card number. */
		if ((int)i == ev->slot[EVT_F_DATA] ||
		    (int)i == ev->slot[EVT_F_SUBJECT] ||
		    (int)i == ev->slot[EVT_F_TIME] ||
		    (int)i == ev->slot[EVT_F_SPECVERSION])
			continue;
		evt_buf_reset(&a->path);
		if (m->kesc)
			evt_json_str_decode(ev->j.base + m->koff - 1,
			    m->klen + 2, &a->path);
		else
			evt_buf_add(&a->path, ev->j.base + m->koff, m->klen);
		evt_buf_add(&a->path, "", 0);	/* NUL-terminated */
		scan_text(a, a->path.p, a->path.len);
		const char *v = ev->j.base + m->voff;
		if (m->type == EVT_J_STRING && !memchr(v, '\\', m->vlen))
			scan_text(a, v + 1, m->vlen - 2);
		else if (m->type == EVT_J_STRING) {
			evt_json_str_decode(v, m->vlen, &a->key);
			scan_text(a, a->key.p, a->key.len);
		} else if (m->type == EVT_J_NUMBER)
			scan_number(a, v, m->vlen);
		else if (m->type == EVT_J_OBJECT || m->type == EVT_J_ARRAY)
			walk(a, v, m->vlen, 1, 0);
	}
	if (a->pii.len)
		a->tags |= EVT_TAG_GDPR;

	/* In the event. */
	if (rc == 0 && a->found_pan)
		rc = found(a, EVT_F_PAN, "card number %s in %s", a->pan, a->panpath);
	else if (rc == 0 && a->too_deep)
		rc = found(a, EVT_F_PAN, "data nested more than %d levels deep "
		    "at %s: too deep to scan for card numbers", MAX_DEPTH,
		    a->panpath);
	if (rc == 0 && a->cvv.len)
		rc = found(a, EVT_F_CVV, "card security code in %s", a->cvv.p);
	if (rc == 0 && a->pii.len)
		rc = found(a, EVT_F_PII, "personal data in %s", a->pii.p);
	/* What the saga's participants cannot take: a stored fact that
	 * ends its saga rejected, or is set aside (saga-step(1)). Only
	 * field names and reasons are said, never a value. */
	if (rc == 0 && a->o.rule[EVT_F_SAGA_BAD].enabled) {
		int k = evt_saga_check(a->saga, ev, &e);
		if (k == EVT_SAGA_REJECTED)
			rc = found(a, EVT_F_SAGA_BAD, "%s: the order is rejected",
			    e.msg);
		else if (k == EVT_SAGA_ASIDE)
			rc = found(a, EVT_F_SAGA_BAD, "%s: set aside by the saga's "
			    "participants", e.msg);
	}
	/* Money, across the saga. Copy tx: tmp is reused below. An event
	 * seen before (its id) is not money moving twice. */
	cstr(&a->txid, tx.p, tx.n);
	const char *txid = a->txid.p;
	size_t txn = a->txid.len;
	if (rc == 0 && type_is(ev, "TransactionRejected")) {
		evt_buf_reset(&a->tmp);
		evt_buf_grow(&a->tmp, 256);
		struct evt_sv why = evt_json_get_str(&a->dj, "reason", &a->tmp);
		struct evt_sv fld = evt_json_get_str(&a->dj, "field", &a->tmp);
		rc = found(a, EVT_F_REJECTED, "an order rejected: %.*s (%.*s)",
		    why.p ? (int)why.n : 1, why.p ? why.p : "?",
		    fld.p ? (int)fld.n : 1, fld.p ? fld.p : "?");
	}
	if (rc == 0)
		rc = orch_saga(a, ev, when, dup);

	if (tx.p && !dup && type_is(ev, "TransactionCreated")) {
		struct txstate *t = tx_state(a, txid, txn);
		if (t == NULL)
			return -1;
		struct evt_sv raw;
		struct evt_dec total;
		int k = get_amount(a, "total", &total, &raw);
		int pr = k == AMT_OK || k == AMT_STRING ? EVT_DEC_OK :
		    k == AMT_RANGE ? EVT_DEC_RANGE : EVT_DEC_SYNTAX;
		if (rc == 0 && k == AMT_STRING)
			rc = found(a, EVT_F_AMOUNT, "total \"%.*s\" of transaction "
			    "%s is a string, not a number", (int)(raw.n > 60 ? 60 :
			    raw.n), raw.p, txid);
		if (!t->created) {
			char pcur[16];
			size_t pcurn = 0;
			const char *c0 = tx_cur(t, &pcurn);
			memcpy(pcur, c0, pcurn);
			t->created = 1;
			t->has_total = pr == EVT_DEC_OK;
			t->total_range = pr == EVT_DEC_RANGE;
			if (pr == EVT_DEC_OK)
				tx_set_dec(t, TX_TOTAL, total);
			evt_buf_reset(&a->tmp);
			evt_buf_grow(&a->tmp, a->dlen + 1);
			struct evt_sv cur = evt_json_get_str(&a->dj, "currency",
			    &a->tmp);
			if (cur.p)
				tx_set_cur(t, cur.p, cur.n);
			t->cur_paid = 0;
			if (ev->slot[EVT_F_TIME] >= 0 && when != EVT_AUDIT_AFTER) {
				t->created_ms = ev->time_ms;
				t->open = t->has_time = 1;
			}
			if (rc == 0 && t->payments > 0)
				rc = order_after_payments(a, t, txid, cur, pcurn, pcur);
		}
		if (rc == 0 && pr == EVT_DEC_OK && evt_dec_sign(total) < 0) {
			struct evt_buf b = EVT_BUF_INIT;
			rc = found(a, EVT_F_NEGATIVE, "total %s of transaction %s "
			    "is negative", dec_str(&b, total), txid);
			evt_buf_free(&b);
		}
	}
	/* An outcome after the period does not make the period's saga any
	 * less stuck at its end. */
	if (tx.p && (type_is(ev, "TransactionCompleted") ||
	    type_is(ev, "TransactionCancelled"))) {
		struct txstate *t = tx_state(a, txid, txn);
		if (t == NULL)
			return -1;
		if (when != EVT_AUDIT_AFTER)
			t->open = 0;
		/* Completed: what was paid, net, is its total (a split
		 * tender adds up by now). */
		if (rc == 0 && !dup && type_is(ev, "TransactionCompleted") &&
		    t->has_total && t->payments > 0 && !t->unknown &&
		    evt_dec_cmp(tx_net(t), tx_dec(t, TX_TOTAL)) < 0) {
			struct evt_buf b1 = EVT_BUF_INIT, b2 = EVT_BUF_INIT;
			rc = found(a, EVT_F_AMOUNT, "transaction %s completed with "
			    "%s paid of its total %s", txid, dec_str(&b1,
			    tx_net(t)), dec_str(&b2, tx_dec(t, TX_TOTAL)));
			evt_buf_free(&b1);
			evt_buf_free(&b2);
		}
	}
	int processed = type_is(ev, "PaymentProcessed");
	int refunded = type_is(ev, "PaymentRefunded");
	if (rc == 0 && tx.p && !dup && (processed || refunded))
		rc = money(a, txid, txn, processed);

	/* Integrity, over the stream. A filtered slice (evt-replay -t, -s)
	 * has gaps in seq and versions, and causes outside it, by design. */
	if (rc == 0 && ev->slot[EVT_F_SEQ] >= 0) {
		if (a->last_seq && ev->seq != a->last_seq + 1 && !a->o.filtered)
			rc = found(a, EVT_F_SEQ_GAP, "seq %lld follows %lld",
			    ev->seq, a->last_seq);
		a->last_seq = ev->seq;
	}
	struct evt_audit_subject *sv = NULL;
	if (rc == 0 && (ev->slot[EVT_F_VERSION] >= 0 ||
	    ev->slot[EVT_F_TIME] >= 0) &&
	    (sv = subject_state(a, ev->subject.p, ev->subject.n)) == NULL)
		return -1;
	if (rc == 0 && ev->slot[EVT_F_VERSION] >= 0) {
		long long last = sv->version;
		/* A stream the state may have forgotten is taken up at
		 * the version it comes with. */
		if (ev->version != last + 1 && !(a->o.filtered &&
		    ev->version > last) && !(sv->forgotten && last == 0))
			rc = found(a, EVT_F_VERSION_GAP, "version %lld of %s "
			    "follows %lld", ev->version, a->subject.p, last);
		sv->version = ev->version;
	}
	if (rc == 0 && ev->slot[EVT_F_TIME] >= 0 && a->o.now_ms &&
	    ev->time_ms > a->o.now_ms + EVT_AUDIT_FUTURE_MS) {
		char t0[EVT_TIME_LEN + 1], t1[EVT_TIME_LEN + 1];
		evt_time_format(ev->time_ms, t1);
		evt_time_format(a->o.now_ms, t0);
		rc = found(a, EVT_F_TIME_FUTURE, "%s at %s, more than a day "
		    "after the clock (%s)", a->subject.p, t1, t0);
	}
	if (rc == 0 && ev->slot[EVT_F_TIME] >= 0) {
		if (sv->has_time && ev->time_ms < sv->time_ms) {
			char t0[EVT_TIME_LEN + 1], t1[EVT_TIME_LEN + 1];
			evt_time_format(ev->time_ms, t1);
			evt_time_format(sv->time_ms, t0);
			rc = found(a, EVT_F_TIME_BACK, "%s at %s, before its "
			    "previous event at %s", a->subject.p, t1, t0);
		}
		if (!sv->has_time || ev->time_ms > sv->time_ms) {
			sv->time_ms = ev->time_ms;
			sv->has_time = 1;
		}
	}
	if (ev->id.p) {
		if (rc == 0 && dup)
			rc = found(a, EVT_F_DUP_ID, "id %s seen before", a->id.p);
		int known = 1;
		if (rc == 0 && !a->o.filtered && ev->cause.p &&
		    !(ev->cause.n == ev->id.n &&
		    memcmp(ev->cause.p, ev->id.p, ev->id.n) == 0) &&
		    (known = seen(a, hash64(ev->cause.p, ev->cause.n))) < 0)
			return -1;
		char since[EVT_TIME_LEN + 1];
		if (rc == 0 && !known && a->ck.has_forgot) {
			evt_time_format(a->ck.forgot_ms, since);
			since[10] = '\0';
			rc = found(a, EVT_F_ORPHAN, "causationid %.*s names no "
			    "earlier event folded since %s (the state keeps %d "
			    "days)", (int)ev->cause.n, ev->cause.p, since,
			    STATE_KEEP_DAYS);
		} else if (rc == 0 && !known)
			rc = found(a, EVT_F_ORPHAN, "causationid %.*s names no "
			    "earlier event", (int)ev->cause.n, ev->cause.p);
		if (!dup)
			idset_add(&a->ids, h);
	}
	*tags = a->tags;
	*severity = a->sev;
	a->ev = NULL;
	return a->failed ? -1 : rc;
}

/*
 * An orchestrated saga (saga-orch(1): its own events on saga-KEY): one
 * that failed is saga_stuck at once, saying whether an undo gave up
 * (stuck) or compensation is over (failed); one started and not over is
 * judged at the end of the scan, as an open transaction is, and with
 * --state at the end of every later run until it is over (once: then
 * stuck). Its first start counts. An outcome after the period does not
 * make the period's saga any less stuck.
 */
static int
orch_saga(struct evt_audit *a, const struct evt_event *ev, int when, int dup)
{
	struct evt_sv key = { ev->subject.p + 5, ev->subject.n - 5 };
	struct evt_sv why, name;
	struct orchstate *o;

	if (ev->subject.n <= 5 || memcmp(ev->subject.p, "saga-", 5) != 0)
		return 0;
	if (type_is(ev, "SagaStarted")) {
		if (when != EVT_AUDIT_AFTER && !dup && ev->slot[EVT_F_TIME] >= 0) {
			if ((o = orch_state(a, key.p, key.n)) == NULL)
				return -1;
			if (!o->open) {
				o->started_ms = ev->time_ms;
				o->open = 1;
				o->stuck = 0;
			}
		}
		return 0;
	}
	if (!type_is(ev, "SagaCompleted") && !type_is(ev, "SagaFailed"))
		return 0;
	if (when != EVT_AUDIT_AFTER) {
		if ((o = orch_state(a, key.p, key.n)) == NULL)
			return -1;
		o->open = o->stuck = 0;
	}
	if (!type_is(ev, "SagaFailed") || dup)
		return 0;
	evt_buf_reset(&a->tmp);
	evt_buf_grow(&a->tmp, a->dlen + 1);
	why = evt_json_get_str(&a->dj, "reason", &a->tmp);
	name = evt_json_get_str(&a->dj, "saga", &a->tmp);
	return found(a, EVT_F_STUCK, "orchestrated saga %.*s (%.*s) %s: %.*s",
	    (int)(key.n > 60 ? 60 : key.n), key.p, name.p ? (int)name.n : 1,
	    name.p ? name.p : "?", evt_json_get(&a->dj, "stuck",
	    EVT_J_TRUE).p ? "is stuck" : "failed", why.p ? (int)why.n : 1,
	    why.p ? why.p : "?");
}

struct stuck {
	struct evt_audit *a;
	int64_t now;
	int rc;
	char **ids;
	int64_t *at;
	size_t n, cap;
};

static void
add_stuck(struct stuck *s, const char *k, size_t n, int64_t created_ms)
{
	if (s->now - created_ms <= s->a->o.stuck_after_ms)
		return;
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 16;
		s->ids = realloc(s->ids, s->cap * sizeof(*s->ids));
		s->at = realloc(s->at, s->cap * sizeof(*s->at));
		if (s->ids == NULL || s->at == NULL)
			abort();
	}
	if ((s->ids[s->n] = strndup(k, n)) == NULL)
		abort();
	s->at[s->n++] = created_ms;
}

static void
collect_stuck(void *arg, const char *k, size_t n, long long v)
{
	const struct txstate *t = (const struct txstate *)(intptr_t)v;

	if (t->open && t->has_time && !t->stuck)
		add_stuck(arg, k, n, t->created_ms);
}

static void
collect_orch(void *arg, const char *k, size_t n, long long v)
{
	const struct orchstate *o = (const struct orchstate *)(intptr_t)v;

	if (o->open && !o->stuck)
		add_stuck(arg, k, n, o->started_ms);
}

/* An open transaction of the store: stuck unless memory knows better. */
static void
stored_stuck(void *arg, const char *k, size_t n, int64_t created_ms)
{
	struct stuck *s = arg;

	if (evt_hmap_get(&s->a->tx, k, n) == NULL)
		add_stuck(s, k, n, created_ms);
}

/* An orchestrated saga of the store not over: stuck unless memory knows
 * better (it ended, or started again, in this run). */
static void
stored_orch(void *arg, const char *k, size_t n, int64_t started_ms)
{
	struct stuck *s = arg;

	if (evt_hmap_get(&s->a->orch, k, n) == NULL)
		add_stuck(s, k, n, started_ms);
}

struct byid {
	char **ids;
	int64_t *at;
};

static int
cmp_idx(const void *x, const void *y, void *arg)
{
	const struct byid *b = arg;

	return strcmp(b->ids[*(const size_t *)x], b->ids[*(const size_t *)y]);
}

int
evt_audit_end(struct evt_audit *a, int64_t now_ms, evt_finding_fn fn,
    void *arg, struct evt_err *err)
{
	struct stuck s = { a, now_ms, 0, NULL, NULL, 0, 0 };
	size_t *idx;

	err->code = 0;
	/* The lookups below (marking what is said as said) fail into this
	 * call's err, not into that of the last event's call, gone now. */
	a->err = err;
	evt_hmap_each(&a->tx, collect_stuck, &s);
	if (a->store && evt_astore_open_tx(a->store, stored_stuck, &s, err) < 0)
		s.rc = -1;
	/* A stable order: by transaction id. */
	if ((idx = malloc((s.n + 1) * sizeof(*idx))) == NULL)
		abort();
	for (size_t i = 0; i < s.n; i++)
		idx[i] = i;
	struct byid b = { s.ids, s.at };
	if (s.n)
		qsort_r(idx, s.n, sizeof(*idx), cmp_idx, &b);
	a->report = 1;
	a->fn = fn;
	a->arg = arg;
	a->ev = NULL;
	for (size_t i = 0; i < s.n && s.rc == 0; i++) {
		char at[EVT_TIME_LEN + 1];
		const char *id = s.ids[idx[i]];
		evt_time_format(s.at[idx[i]], at);
		cstr(&a->id, "", 0);
		evt_buf_reset(&a->subject);
		evt_buf_printf(&a->subject, "transaction-%s", id);
		s.rc = found(a, EVT_F_STUCK, "transaction %s created at %s "
		    "has no outcome", id, at);
		/* Said once: a --state run's later periods do not say it
		 * again. */
		if (s.rc == 0 && a->store) {
			struct txstate *t = tx_state(a, id, strlen(id));
			if (t == NULL)
				s.rc = -1;
			else
				t->stuck = 1;
		}
	}
	for (size_t i = 0; i < s.n; i++)
		free(s.ids[i]);
	free(s.ids);
	free(s.at);
	free(idx);
	/* Orchestrated sagas started and not over, by key: in memory, and
	 * with --state those of earlier runs. */
	struct stuck o = { a, now_ms, s.rc, NULL, NULL, 0, 0 };
	evt_hmap_each(&a->orch, collect_orch, &o);
	if (o.rc == 0 && a->store && evt_astore_open_orch(a->store, stored_orch,
	    &o, err) < 0)
		o.rc = -1;
	if ((idx = malloc((o.n + 1) * sizeof(*idx))) == NULL)
		abort();
	for (size_t i = 0; i < o.n; i++)
		idx[i] = i;
	b = (struct byid){ o.ids, o.at };
	if (o.n)
		qsort_r(idx, o.n, sizeof(*idx), cmp_idx, &b);
	for (size_t i = 0; i < o.n && o.rc == 0; i++) {
		char at[EVT_TIME_LEN + 1];
		const char *id = o.ids[idx[i]];
		evt_time_format(o.at[idx[i]], at);
		cstr(&a->id, "", 0);
		evt_buf_reset(&a->subject);
		evt_buf_printf(&a->subject, "saga-%s", id);
		o.rc = found(a, EVT_F_STUCK, "orchestrated saga %s started at "
		    "%s has no outcome", id, at);
		/* Said once, as a transaction's is. */
		if (o.rc == 0 && a->store) {
			struct orchstate *st = orch_state(a, id, strlen(id));
			if (st == NULL)
				o.rc = -1;
			else
				st->stuck = 1;
		}
	}
	for (size_t i = 0; i < o.n; i++)
		free(o.ids[i]);
	free(o.ids);
	free(o.at);
	free(idx);
	return o.rc;
}

int
evt_audit_state_open(struct evt_audit *a, const char *path, long long *seq,
    int64_t *until_ms, int *has_until, struct evt_err *err)
{
	if ((a->store = evt_astore_open(path, err)) == NULL)
		return -1;
	/* The run's lookups and its writes share one transaction: outside
	 * one, each lookup would open a read transaction of its own (and
	 * SQLite stat the file for it), which costs more than the lookup. */
	if (evt_astore_checkpoint(a->store, &a->ck, err) < 0 ||
	    evt_astore_begin(a->store, err) < 0)
		return -1;
	a->open_txn = 1;
	a->last_seq = a->ck.seq;
	a->fold_ms = a->o.now_ms;
	evt_astore_clock(a->store, a->fold_ms);
	*seq = a->ck.seq;
	*until_ms = a->ck.until_ms;
	*has_until = a->ck.has_until;
	return 0;
}

void
evt_audit_state_until(struct evt_audit *a, int64_t until_ms)
{
	if (!a->ck.has_until || until_ms > a->ck.until_ms) {
		a->ck.until_ms = until_ms;
		a->ck.has_until = 1;
	}
	a->fold_ms = until_ms;
	if (a->store)
		evt_astore_clock(a->store, until_ms);
}

void
evt_audit_state_json(struct evt_audit *a, struct evt_buf *b)
{
	evt_buf_printf(b, "{\"seq\":%lld,\"events\":%lld,\"until\":",
	    a->ck.seq, a->ck.events);
	if (a->ck.has_until) {
		char t[EVT_TIME_LEN + 1];
		evt_time_format(a->ck.until_ms, t);
		evt_buf_printf(b, "\"%s\"}", t);
	} else
		evt_buf_adds(b, "null}");
}

struct put {
	struct evt_audit *a;
	struct evt_err *err;
	int rc;
};

static void
put_tx(void *arg, const char *k, size_t n, long long v)
{
	struct put *p = arg;
	struct evt_audit_tx s;

	tx_to_store((const struct txstate *)(intptr_t)v, &s);
	if (p->rc == 0)
		p->rc = evt_astore_put_tx(p->a->store, k, n, &s, p->err);
}

static void
put_subject(void *arg, const char *k, size_t n, long long v)
{
	struct put *p = arg;

	if (p->rc == 0)
		p->rc = evt_astore_put_subject(p->a->store, k, n,
		    (const struct evt_audit_subject *)(intptr_t)v, p->err);
}

/* A map's entries, sorted by key as SQLite orders TEXT (bytes, then
 * length). */
struct entry {
	const char *k;
	size_t n;
	long long v;
};

struct entries {
	struct entry *v;
	size_t n;
};

static void
add_entry(void *arg, const char *k, size_t n, long long v)
{
	struct entries *e = arg;

	e->v[e->n++] = (struct entry){ k, n, v };
}

static int
cmp_entry(const void *x, const void *y)
{
	const struct entry *a = x, *b = y;
	int c = memcmp(a->k, b->k, a->n < b->n ? a->n : b->n);

	return c ? c : a->n < b->n ? -1 : a->n > b->n;
}

static void
sorted_entries(const struct evt_hmap *h, struct entries *e)
{
	if ((e->v = malloc((h->n + 1) * sizeof(*e->v))) == NULL)
		abort();
	e->n = 0;
	evt_hmap_each(h, add_entry, e);
	qsort(e->v, e->n, sizeof(*e->v), cmp_entry);
}

/* Write memory and the checkpoint into a transaction left open, and
 * forget memory: the store now answers for it. */
static int
write_memory(struct evt_audit *a, struct evt_err *err)
{
	struct put p = { a, err, 0 };

	if (!a->open_txn && evt_astore_begin(a->store, err) < 0)
		return -1;
	a->open_txn = 1;
	/* Everything in the store's key order: each page of its B-trees
	 * is then written once, not once per row that falls in it. */
	struct entries e = { NULL, 0 };
	sorted_entries(&a->tx, &e);
	for (size_t i = 0; p.rc == 0 && i < e.n; i++)
		put_tx(&p, e.v[i].k, e.v[i].n, e.v[i].v);
	free(e.v);
	sorted_entries(&a->subj, &e);
	for (size_t i = 0; p.rc == 0 && i < e.n; i++)
		put_subject(&p, e.v[i].k, e.v[i].n, e.v[i].v);
	free(e.v);
	/* A saga over is forgotten; one open is kept with its start. */
	sorted_entries(&a->orch, &e);
	for (size_t i = 0; p.rc == 0 && i < e.n; i++) {
		const struct orchstate *o = (const struct orchstate *)(intptr_t)
		    e.v[i].v;
		p.rc = o->open ? evt_astore_put_orch(a->store, e.v[i].k, e.v[i].n,
		    o->started_ms, o->stuck, err) : evt_astore_del_orch(a->store,
		    e.v[i].k, e.v[i].n, err);
	}
	free(e.v);
	uint64_t *ids = malloc((a->ids.n + 1) * sizeof(*ids));
	size_t n = 0;
	if (ids == NULL)
		abort();
	for (size_t i = 0; i < a->ids.cap; i++)
		if (a->ids.tab[i])
			ids[n++] = a->ids.tab[i];
	if (p.rc == 0)
		p.rc = evt_astore_put_ids(a->store, ids, n, err);
	free(ids);
	if (p.rc == 0)
		p.rc = evt_astore_checkpoint_set(a->store, &a->ck, err);
	if (p.rc < 0) {
		evt_astore_rollback(a->store);
		a->open_txn = 0;
		return -1;
	}
	drop_memory(a);
	return 0;
}

int
evt_audit_state_spill(struct evt_audit *a, struct evt_err *err)
{
	if (a->store == NULL)
		return 0;
	return write_memory(a, err);
}

int
evt_audit_state_commit(struct evt_audit *a, struct evt_err *err)
{
	if (a->store == NULL)
		return 0;
	/* What no run has touched for STATE_KEEP_DAYS goes, in the same
	 * transaction as the period's rows (stamped with its end). */
	if (!a->open_txn && evt_astore_begin(a->store, err) < 0)
		return -1;
	a->open_txn = 1;
	int64_t cut = a->fold_ms - STATE_KEEP_MS;
	long long pruned = evt_astore_prune(a->store, cut, err);
	if (pruned < 0) {
		evt_astore_rollback(a->store);
		a->open_txn = 0;
		return -1;
	}
	if (pruned > 0 && (!a->ck.has_forgot || cut > a->ck.forgot_ms)) {
		a->ck.forgot_ms = cut;
		a->ck.has_forgot = 1;
	}
	if (write_memory(a, err) < 0)
		return -1;
	a->open_txn = 0;
	if (evt_astore_commit(a->store, err) < 0) {
		evt_astore_rollback(a->store);
		return -1;
	}
	return 0;
}
