#include <ctype.h>
#include <stdarg.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <jansson.h>

#include "audit.h"
#include "clock.h"
#include "decimal.h"
#include "hmap.h"
#include "json.h"

static const char *const sev_name[] = { "info", "warning", "critical" };
static const char *const tag_name[] = { "PCI-DSS", "GDPR", "FINANCIAL",
	"INTEGRITY", "SAGA" };
static const char *const finding_name[] = {
	"pan_unmasked", "cvv_present", "pii_present", "amount_mismatch",
	"large_refund", "seq_gap", "version_gap", "duplicate_id",
	"time_regression", "orphan_causation", "saga_stuck", "saga_compensated",
	"chain_broken"
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
		[EVT_F_SEQ_GAP] = { 1, EVT_SEV_CRITICAL, EVT_TAG_INTEGRITY },
		[EVT_F_VERSION_GAP] = { 1, EVT_SEV_CRITICAL, EVT_TAG_INTEGRITY },
		[EVT_F_DUP_ID] = { 1, EVT_SEV_CRITICAL, EVT_TAG_INTEGRITY },
		[EVT_F_TIME_BACK] = { 1, EVT_SEV_WARNING, EVT_TAG_INTEGRITY },
		[EVT_F_ORPHAN] = { 1, EVT_SEV_WARNING, EVT_TAG_INTEGRITY },
		[EVT_F_STUCK] = { 1, EVT_SEV_WARNING, EVT_TAG_SAGA },
		[EVT_F_COMPENSATED] = { 1, EVT_SEV_INFO,
		    EVT_TAG_SAGA | EVT_TAG_FINANCIAL },
		[EVT_F_CHAIN] = { 1, EVT_SEV_CRITICAL, EVT_TAG_INTEGRITY },
	};

	memset(o, 0, sizeof(*o));
	memcpy(o->rule, r, sizeof(r));
	o->refund_over = 1000 * EVT_DEC_ONE;
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
			char num[64];
			if (!json_is_number(v) || json_number_value(v) < 0) {
				rules_err(err, file, "must be an amount", k);
				goto out;
			}
			snprintf(num, sizeof(num), "%.6f", json_number_value(v));
			evt_dec_parse(num, strlen(num), &o->refund_over);
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

/* --- card numbers -------------------------------------------------------- */

static int
luhn(const char *d, size_t n)
{
	int sum = 0;

	for (size_t i = 0; i < n; i++) {
		int x = d[n - 1 - i] - '0';
		if (i % 2) {
			x *= 2;
			if (x > 9)
				x -= 9;
		}
		sum += x;
	}
	return sum % 10 == 0;
}

int
evt_find_pan(const char *s, size_t n, char *mask)
{
	size_t i = 0;

	while (i < n) {
		char d[20];
		size_t nd = 0, j = i;

		if (!isdigit((unsigned char)s[i])) {
			i++;
			continue;
		}
		/* A run: digits, with single spaces or dashes between them. */
		for (;;) {
			if (j < n && isdigit((unsigned char)s[j])) {
				if (nd < sizeof(d))
					d[nd] = s[j];
				nd++;
				j++;
			} else if (j + 1 < n && (s[j] == ' ' || s[j] == '-') &&
			    isdigit((unsigned char)s[j + 1]))
				j++;
			else
				break;
		}
		if (nd >= 13 && nd <= 19 && luhn(d, nd)) {
			memcpy(mask, d, 6);
			memset(mask + 6, '*', nd - 10);
			memcpy(mask + nd - 4, d + nd - 4, 4);
			mask[nd] = '\0';
			return 1;
		}
		i = j;
	}
	return 0;
}

/* --- a set of 64-bit hashes of ids --------------------------------------- */

struct idset {
	uint64_t *tab;
	size_t cap, n;
};

/* Never 0, the empty slot. */
static uint64_t
hash64(const char *p, size_t n)
{
	return evt_hash(p, n) | 1;
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

struct evt_audit {
	struct evt_audit_opts o;
	struct idset ids;
	long long last_seq;
	struct evt_hmap version;	/* subject -> last version */
	struct evt_hmap time;		/* subject -> last time (ms) */
	struct evt_hmap total;		/* transaction -> total (millionths) */
	struct evt_hmap open;		/* transaction -> creation time (ms) */
	struct evt_jobj dj;
	struct evt_buf path, detail, pii, cvv, id, subject, txid, tmp;
	char pan[24], panpath[256];
	int found_pan;
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
	return a;
}

void
evt_audit_free(struct evt_audit *a)
{
	if (a == NULL)
		return;
	free(a->ids.tab);
	evt_hmap_free(&a->version);
	evt_hmap_free(&a->time);
	evt_hmap_free(&a->total);
	evt_hmap_free(&a->open);
	evt_json_free(&a->dj);
	evt_buf_free(&a->path);
	evt_buf_free(&a->detail);
	evt_buf_free(&a->pii);
	evt_buf_free(&a->cvv);
	evt_buf_free(&a->id);
	evt_buf_free(&a->subject);
	evt_buf_free(&a->txid);
	evt_buf_free(&a->tmp);
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
	x.id = a->id.p;
	x.subject = a->subject.p;
	x.detail = a->detail.p;
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

/* Look through the value v[0..n) at a->path: card numbers in strings and
 * numbers, card codes and personal data in member names. */
static void
walk(struct evt_audit *a, const char *v, size_t n, int depth)
{
	size_t pos = 0, ko, kl, vo, vl, at = a->path.len;

	if (depth > 64)
		return;
	if (v[0] == '{') {
		while (evt_json_object_next(v, n, &pos, &ko, &kl, &vo, &vl)) {
			const char *k = v + ko + 1;
			size_t kn = kl - 2;
			evt_buf_addc(&a->path, '.');
			evt_buf_add(&a->path, k, kn);
			if (is_key(k, kn, "customer_id"))
				a->tags |= EVT_TAG_GDPR;
			if (pii_key(a, k, kn) && v[vo] != 'n')
				list_add(&a->pii, &a->path);
			if (cvv_key(k, kn) && v[vo] != 'n')
				list_add(&a->cvv, &a->path);
			walk(a, v + vo, vl, depth + 1);
			a->path.len = at;
			a->path.p[at] = '\0';
		}
	} else if (v[0] == '[') {
		size_t i = 0;
		while (evt_json_array_next(v, n, &pos, &vo, &vl)) {
			evt_buf_printf(&a->path, ".%zu", i++);
			walk(a, v + vo, vl, depth + 1);
			a->path.len = at;
			a->path.p[at] = '\0';
		}
	} else if (!a->found_pan && (v[0] == '"' || v[0] == '-' ||
	    isdigit((unsigned char)v[0]))) {
		const char *s = v;
		size_t sn = n;
		if (v[0] == '"') {
			evt_json_str_decode(v, n, &a->tmp);
			s = a->tmp.p;
			sn = a->tmp.len;
		}
		if (evt_find_pan(s, sn, a->pan)) {
			a->found_pan = 1;
			snprintf(a->panpath, sizeof(a->panpath), "%s", a->path.p);
		}
	}
}

/* The data member key as a decimal, or -1 when it is not a number. */
static int
data_dec(struct evt_audit *a, const char *key, long long *v)
{
	struct evt_sv raw = evt_json_get(&a->dj, key, EVT_J_NUMBER);

	return raw.p && evt_dec_parse(raw.p, raw.n, v) == 0 ? 0 : -1;
}

static int
type_is(const struct evt_event *ev, const char *t)
{
	return ev->type.n == strlen(t) && memcmp(ev->type.p, t, ev->type.n) == 0;
}

static const char *
dec_str(struct evt_audit *a, long long v)
{
	evt_buf_reset(&a->tmp);
	evt_dec_format(&a->tmp, v, 2);
	return a->tmp.p;
}

int
evt_audit_event(struct evt_audit *a, const struct evt_event *ev, int report,
    evt_finding_fn fn, void *arg, int *tags, int *severity)
{
	struct evt_err e;
	struct evt_sv tx = { NULL, 0 };
	long long *p, amount, total;
	int rc = 0;

	a->ev = ev;
	a->report = report;
	a->fn = fn;
	a->arg = arg;
	a->tags = 0;
	a->sev = EVT_SEV_INFO;
	cstr(&a->id, ev->id.p, ev->id.n);
	cstr(&a->subject, ev->subject.p, ev->subject.n);
	evt_buf_reset(&a->pii);
	evt_buf_reset(&a->cvv);
	a->found_pan = 0;

	/* The kind of event. */
	if ((ev->type.n >= 7 && memcmp(ev->type.p, "Payment", 7) == 0) ||
	    (ev->source.p && ev->source.n == 7 &&
	    memcmp(ev->source.p, "payment", 7) == 0))
		a->tags |= EVT_TAG_PCI | EVT_TAG_FINANCIAL;
	a->dj.n = 0;
	if (ev->slot[EVT_F_DATA] >= 0) {
		const struct evt_jmember *m = &ev->j.m[ev->slot[EVT_F_DATA]];
		const char *d = ev->j.base + m->voff;
		evt_json_scan(&a->dj, d, m->vlen, 0, &e);
		evt_buf_reset(&a->tmp);
		evt_buf_grow(&a->tmp, m->vlen + 1);
		if (evt_json_get(&a->dj, "amount", EVT_J_NUMBER).p ||
		    evt_json_get(&a->dj, "total", EVT_J_NUMBER).p)
			a->tags |= EVT_TAG_FINANCIAL;
		evt_buf_reset(&a->path);
		evt_buf_adds(&a->path, "data");
		walk(a, d, m->vlen, 0);
		evt_buf_reset(&a->tmp);
		evt_buf_grow(&a->tmp, m->vlen + 1);
		tx = evt_json_get_str(&a->dj, "transaction_id", &a->tmp);
	}
	if (a->pii.len)
		a->tags |= EVT_TAG_GDPR;

	/* In the event. */
	if (rc == 0 && a->found_pan)
		rc = found(a, EVT_F_PAN, "card number %s in %s", a->pan, a->panpath);
	if (rc == 0 && a->cvv.len)
		rc = found(a, EVT_F_CVV, "card security code in %s", a->cvv.p);
	if (rc == 0 && a->pii.len)
		rc = found(a, EVT_F_PII, "personal data in %s", a->pii.p);

	/* Money, across the saga. Copy tx: tmp is reused below. */
	cstr(&a->txid, tx.p, tx.n);
	const char *txid = a->txid.p;
	size_t txn = a->txid.len;
	if (tx.p && type_is(ev, "TransactionCreated")) {
		if (data_dec(a, "total", &total) == 0)
			evt_hmap_put(&a->total, txid, txn, total);
		if (ev->slot[EVT_F_TIME] >= 0)
			evt_hmap_put(&a->open, txid, txn, ev->time_ms);
	}
	if (tx.p && (type_is(ev, "TransactionCompleted") ||
	    type_is(ev, "TransactionCancelled")))
		evt_hmap_del(&a->open, txid, txn);
	int processed = type_is(ev, "PaymentProcessed");
	int refunded = type_is(ev, "PaymentRefunded");
	if (rc == 0 && tx.p && (processed || refunded) &&
	    data_dec(a, "amount", &amount) == 0) {
		if ((p = evt_hmap_get(&a->total, txid, txn)) != NULL &&
		    (processed ? amount != *p : amount > *p)) {
			char t[40];
			snprintf(t, sizeof(t), "%s", dec_str(a, *p));
			rc = found(a, EVT_F_AMOUNT, "%s %s of transaction %s, "
			    "whose total is %s", processed ? "payment" : "refund",
			    dec_str(a, amount), txid, t);
		}
		if (rc == 0 && refunded && amount > a->o.refund_over) {
			char t[40];
			snprintf(t, sizeof(t), "%s", dec_str(a, a->o.refund_over));
			rc = found(a, EVT_F_REFUND, "refund %s of transaction %s, "
			    "over %s", dec_str(a, amount), txid, t);
		}
		if (rc == 0 && refunded)
			rc = found(a, EVT_F_COMPENSATED, "transaction %s refunded",
			    txid);
	}

	/* Integrity, over the stream. */
	if (rc == 0 && ev->slot[EVT_F_SEQ] >= 0) {
		if (a->last_seq && ev->seq != a->last_seq + 1)
			rc = found(a, EVT_F_SEQ_GAP, "seq %lld follows %lld",
			    ev->seq, a->last_seq);
		a->last_seq = ev->seq;
	}
	if (rc == 0 && ev->slot[EVT_F_VERSION] >= 0) {
		p = evt_hmap_get(&a->version, ev->subject.p, ev->subject.n);
		long long last = p ? *p : 0;
		if (ev->version != last + 1)
			rc = found(a, EVT_F_VERSION_GAP, "version %lld of %s "
			    "follows %lld", ev->version, a->subject.p, last);
		evt_hmap_put(&a->version, ev->subject.p, ev->subject.n,
		    ev->version);
	}
	if (rc == 0 && ev->slot[EVT_F_TIME] >= 0) {
		p = evt_hmap_get(&a->time, ev->subject.p, ev->subject.n);
		if (p && ev->time_ms < *p) {
			char t0[EVT_TIME_LEN + 1], t1[EVT_TIME_LEN + 1];
			evt_time_format(ev->time_ms, t1);
			evt_time_format(*p, t0);
			rc = found(a, EVT_F_TIME_BACK, "%s at %s, before its "
			    "previous event at %s", a->subject.p, t1, t0);
		}
		if (!p || ev->time_ms > *p)
			evt_hmap_put(&a->time, ev->subject.p, ev->subject.n,
			    ev->time_ms);
	}
	if (ev->id.p) {
		uint64_t h = hash64(ev->id.p, ev->id.n);
		if (rc == 0 && idset_has(&a->ids, h))
			rc = found(a, EVT_F_DUP_ID, "id %s seen before", a->id.p);
		if (rc == 0 && ev->cause.p && !(ev->cause.n == ev->id.n &&
		    memcmp(ev->cause.p, ev->id.p, ev->id.n) == 0) &&
		    !idset_has(&a->ids, hash64(ev->cause.p, ev->cause.n)))
			rc = found(a, EVT_F_ORPHAN, "causationid %.*s names no "
			    "earlier event", (int)ev->cause.n, ev->cause.p);
		idset_add(&a->ids, h);
	}
	*tags = a->tags;
	*severity = a->sev;
	a->ev = NULL;
	return rc;
}

struct stuck {
	struct evt_audit *a;
	int64_t now;
	int rc;
	char **ids;
	size_t n, cap;
};

static void
collect_stuck(void *arg, const char *k, size_t n, long long v)
{
	struct stuck *s = arg;

	if (s->now - v <= s->a->o.stuck_after_ms)
		return;
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 16;
		s->ids = realloc(s->ids, s->cap * sizeof(*s->ids));
		if (s->ids == NULL)
			abort();
	}
	if ((s->ids[s->n++] = strndup(k, n)) == NULL)
		abort();
}

static int
cmp_str(const void *x, const void *y)
{
	return strcmp(*(char *const *)x, *(char *const *)y);
}

int
evt_audit_end(struct evt_audit *a, int64_t now_ms, evt_finding_fn fn,
    void *arg)
{
	struct stuck s = { a, now_ms, 0, NULL, 0, 0 };

	evt_hmap_each(&a->open, collect_stuck, &s);
	if (s.n)
		qsort(s.ids, s.n, sizeof(*s.ids), cmp_str);	/* a stable order */
	a->report = 1;
	a->fn = fn;
	a->arg = arg;
	a->ev = NULL;
	for (size_t i = 0; i < s.n; i++) {
		if (s.rc == 0) {
			long long *t = evt_hmap_get(&a->open, s.ids[i], strlen(s.ids[i]));
			char at[EVT_TIME_LEN + 1];
			evt_time_format(*t, at);
			cstr(&a->id, "", 0);
			evt_buf_reset(&a->subject);
			evt_buf_printf(&a->subject, "transaction-%s", s.ids[i]);
			s.rc = found(a, EVT_F_STUCK, "transaction %s created at %s "
			    "has no outcome", s.ids[i], at);
		}
		free(s.ids[i]);
	}
	free(s.ids);
	return s.rc;
}
