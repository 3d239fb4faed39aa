#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "clock.h"
#include "metrics.h"
#include "report.h"

#define HTTP_TIMEOUT_S 10
#define ALERT_BATCH 100

void
evt_tally_event(struct evt_tally *t, const char *type, size_t n, int tags)
{
	long long *c = evt_hmap_get(&t->types, type, n);

	t->events++;
	if (c)
		(*c)++;
	else
		evt_hmap_put(&t->types, type, n, 1);
	for (int i = 0; i < EVT_TAG_N; i++)
		if (tags & (1 << i))
			t->tag[i]++;
#define IS(s) (n == strlen(s) && memcmp(type, s, n) == 0)
	if (IS("TransactionCreated"))
		t->started++;
	else if (IS("TransactionCompleted"))
		t->completed++;
	else if (IS("TransactionCancelled"))
		t->cancelled++;
	else if (IS("PaymentRefunded"))
		t->refunded++;
#undef IS
}

void
evt_tally_late(struct evt_tally *t, int64_t time_ms)
{
	char day[EVT_TIME_LEN + 1];
	long long *c;

	evt_time_format(time_ms, day);
	t->late++;
	if ((c = evt_hmap_get(&t->late_days, day, 10)) != NULL)
		(*c)++;
	else
		evt_hmap_put(&t->late_days, day, 10, 1);
}

void
evt_tally_finding(struct evt_tally *t, const struct evt_finding *f)
{
	t->finding[f->finding]++;
	t->severity[f->severity]++;
	if (f->severity == EVT_SEV_INFO)
		return;
	/* Every critical finding is kept (each is an alert); warnings up to
	 * the report's limit. */
	if (f->severity != EVT_SEV_CRITICAL && t->nkept >= EVT_TALLY_KEEP) {
		t->dropped++;
		return;
	}
	if (t->nkept == t->capkept) {
		t->capkept = t->capkept ? t->capkept * 2 : 64;
		t->kept = realloc(t->kept, t->capkept * sizeof(*t->kept));
		if (t->kept == NULL)
			abort();
	}
	t->kept[t->nkept] = (struct evt_kept){ f->finding, f->severity,
	    f->tags, f->seq, evt_strdup(f->id), evt_strdup(f->subject),
	    evt_strdup(f->detail), "" };
	if (f->late)
		snprintf(t->kept[t->nkept].late, sizeof(t->kept[0].late), "%s",
		    f->late);
	t->nkept++;
}

void
evt_tally_free(struct evt_tally *t)
{
	for (size_t i = 0; i < t->nkept; i++) {
		free(t->kept[i].id);
		free(t->kept[i].subject);
		free(t->kept[i].detail);
	}
	free(t->kept);
	evt_hmap_free(&t->types);
	evt_hmap_free(&t->late_days);
	memset(t, 0, sizeof(*t));
}

/* --- the report ---------------------------------------------------------- */

struct type_list {
	char **k;
	long long *v;
	size_t n;
};

static void
collect_type(void *arg, const char *k, size_t n, long long v)
{
	struct type_list *l = arg;

	struct evt_buf b = EVT_BUF_INIT;

	/* Type names are free text: card numbers masked, as everywhere. */
	evt_buf_add(&b, "", 0);
	evt_pan_mask(k, n, &b);
	l->k[l->n] = b.p;
	l->v[l->n++] = v;
}

static int
cmp_idx(const void *a, const void *b, void *arg)
{
	const struct type_list *l = arg;

	return strcmp(l->k[*(const size_t *)a], l->k[*(const size_t *)b]);
}

/* The event types sorted by name: idx[0..n) into l. */
static size_t *
sorted_types(const struct evt_tally *t, struct type_list *l)
{
	size_t *idx;

	l->k = malloc((t->types.n + 1) * sizeof(*l->k));
	l->v = malloc((t->types.n + 1) * sizeof(*l->v));
	idx = malloc((t->types.n + 1) * sizeof(*idx));
	if (!l->k || !l->v || !idx)
		abort();
	l->n = 0;
	evt_hmap_each(&t->types, collect_type, l);
	for (size_t i = 0; i < l->n; i++)
		idx[i] = i;
	qsort_r(idx, l->n, sizeof(*idx), cmp_idx, l);
	return idx;
}

static void
free_types(struct type_list *l, size_t *idx)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->k[i]);
	free(l->k);
	free(l->v);
	free(idx);
}

/* The days of late events, sorted (YYYY-MM-DD sorts as text). */
static size_t *
sorted_late(const struct evt_tally *t, struct type_list *l)
{
	size_t *idx;

	l->k = malloc((t->late_days.n + 1) * sizeof(*l->k));
	l->v = malloc((t->late_days.n + 1) * sizeof(*l->v));
	idx = malloc((t->late_days.n + 1) * sizeof(*idx));
	if (!l->k || !l->v || !idx)
		abort();
	l->n = 0;
	evt_hmap_each(&t->late_days, collect_type, l);
	for (size_t i = 0; i < l->n; i++)
		idx[i] = i;
	qsort_r(idx, l->n, sizeof(*idx), cmp_idx, l);
	return idx;
}

static void
period(struct evt_buf *b, int has, int64_t ms, const char *open)
{
	char tm[EVT_TIME_LEN + 1];

	if (!has) {
		evt_buf_adds(b, open);
		return;
	}
	evt_time_format(ms, tm);
	evt_buf_adds(b, tm);
}

static void
kept_json(struct evt_buf *b, const struct evt_kept *k)
{
	evt_buf_adds(b, "{\"finding\":");
	evt_buf_json_str(b, evt_finding_name(k->finding),
	    strlen(evt_finding_name(k->finding)));
	evt_buf_adds(b, ",\"severity\":");
	evt_buf_json_str(b, evt_severity_name(k->severity),
	    strlen(evt_severity_name(k->severity)));
	if (k->seq)
		evt_buf_printf(b, ",\"seq\":%lld", k->seq);
	else
		evt_buf_adds(b, ",\"seq\":null");
	if (*k->late)
		evt_buf_printf(b, ",\"late\":\"%s\"", k->late);
	evt_buf_adds(b, ",\"subject\":");
	evt_buf_json_str(b, k->subject, strlen(k->subject));
	evt_buf_adds(b, ",\"detail\":");
	evt_buf_json_str(b, k->detail, strlen(k->detail));
	evt_buf_addc(b, '}');
}

static const char *const saga_names[] = { "started", "completed",
	"cancelled", "compensated", "stuck" };

static long long
saga_count(const struct evt_tally *t, int i)
{
	switch (i) {
	case 0: return t->started;
	case 1: return t->completed;
	case 2: return t->cancelled;
	case 3: return t->refunded;
	default: return t->finding[EVT_F_STUCK];
	}
}

int
evt_report_write(const struct evt_tally *t, enum evt_report_fmt fmt,
    const char *source, int has_since, int64_t since, int has_until,
    int64_t until, FILE *f)
{
	struct evt_buf b = EVT_BUF_INIT;
	struct type_list l, ll;
	size_t *idx = sorted_types(t, &l), *lidx = sorted_late(t, &ll);
	int rc = 0;

	if (fmt == EVT_REPORT_TEXT) {
		evt_buf_printf(&b, "Audit of %s\nPeriod:   ", source);
		period(&b, has_since, since, "the beginning");
		evt_buf_adds(&b, " to ");
		period(&b, has_until, until, "the end");
		evt_buf_printf(&b, "\nEvents:   %lld\nFindings: %lld critical, "
		    "%lld warning, %lld info\n", t->events,
		    t->severity[EVT_SEV_CRITICAL], t->severity[EVT_SEV_WARNING],
		    t->severity[EVT_SEV_INFO]);
		evt_buf_adds(&b, "\nFindings by rule\n");
		int any = 0;
		for (int i = 0; i < EVT_FINDING_N; i++)
			if (t->finding[i]) {
				evt_buf_printf(&b, "  %-20s %8lld\n",
				    evt_finding_name(i), t->finding[i]);
				any = 1;
			}
		if (!any)
			evt_buf_adds(&b, "  none\n");
		evt_buf_adds(&b, "\nCritical and warning findings\n");
		if (t->nkept == 0)
			evt_buf_adds(&b, "  none\n");
		for (size_t i = 0; i < t->nkept; i++) {
			const struct evt_kept *k = &t->kept[i];
			evt_buf_printf(&b, "  %-8s %-18s ", evt_severity_name(k->severity),
			    evt_finding_name(k->finding));
			if (k->seq)
				evt_buf_printf(&b, "seq %lld, ", k->seq);
			if (*k->late)
				evt_buf_printf(&b, "late, of %s, ", k->late);
			evt_buf_printf(&b, "%s: %s\n", k->subject, k->detail);
		}
		if (t->dropped)
			evt_buf_printf(&b, "  ... and %lld more warnings\n", t->dropped);
		evt_buf_adds(&b, "\nEvents by type\n");
		for (size_t i = 0; i < l.n; i++)
			evt_buf_printf(&b, "  %-24s %8lld\n", l.k[idx[i]], l.v[idx[i]]);
		if (l.n == 0)
			evt_buf_adds(&b, "  none\n");
		evt_buf_adds(&b, "\nEvents by tag\n");
		for (int i = 0; i < EVT_TAG_N; i++)
			evt_buf_printf(&b, "  %-24s %8lld\n", evt_tag_name(i), t->tag[i]);
		evt_buf_adds(&b, "\nSagas\n");
		for (int i = 0; i < 5; i++)
			evt_buf_printf(&b, "  %-24s %8lld\n", saga_names[i],
			    saga_count(t, i));
		if (t->late) {
			evt_buf_printf(&b, "\nLate events, by their day (%lld, "
			    "appended after their day's run)\n", t->late);
			for (size_t i = 0; i < ll.n; i++)
				evt_buf_printf(&b, "  %-24s %8lld\n", ll.k[lidx[i]],
				    ll.v[lidx[i]]);
		}
	} else if (fmt == EVT_REPORT_JSON) {
		evt_buf_adds(&b, "{\"source\":");
		evt_buf_json_str(&b, source, strlen(source));
		evt_buf_adds(&b, ",\"since\":");
		if (has_since) {
			evt_buf_addc(&b, '"');
			period(&b, 1, since, "");
			evt_buf_addc(&b, '"');
		} else
			evt_buf_adds(&b, "null");
		evt_buf_adds(&b, ",\"until\":");
		if (has_until) {
			evt_buf_addc(&b, '"');
			period(&b, 1, until, "");
			evt_buf_addc(&b, '"');
		} else
			evt_buf_adds(&b, "null");
		evt_buf_printf(&b, ",\"events\":%lld,\"severities\":{", t->events);
		for (int i = 0; i < EVT_SEV_N; i++)
			evt_buf_printf(&b, "%s\"%s\":%lld", i ? "," : "",
			    evt_severity_name(i), t->severity[i]);
		evt_buf_adds(&b, "},\"findings\":{");
		for (int i = 0; i < EVT_FINDING_N; i++)
			evt_buf_printf(&b, "%s\"%s\":%lld", i ? "," : "",
			    evt_finding_name(i), t->finding[i]);
		evt_buf_adds(&b, "},\"notable\":[");
		for (size_t i = 0; i < t->nkept; i++) {
			if (i)
				evt_buf_addc(&b, ',');
			kept_json(&b, &t->kept[i]);
		}
		evt_buf_printf(&b, "],\"notable_dropped\":%lld,\"types\":{", t->dropped);
		for (size_t i = 0; i < l.n; i++) {
			if (i)
				evt_buf_addc(&b, ',');
			evt_buf_json_str(&b, l.k[idx[i]], strlen(l.k[idx[i]]));
			evt_buf_printf(&b, ":%lld", l.v[idx[i]]);
		}
		evt_buf_adds(&b, "},\"tags\":{");
		for (int i = 0; i < EVT_TAG_N; i++)
			evt_buf_printf(&b, "%s\"%s\":%lld", i ? "," : "",
			    evt_tag_name(i), t->tag[i]);
		evt_buf_adds(&b, "},\"sagas\":{");
		for (int i = 0; i < 5; i++)
			evt_buf_printf(&b, "%s\"%s\":%lld", i ? "," : "",
			    saga_names[i], saga_count(t, i));
		evt_buf_adds(&b, "},\"late\":{");
		for (size_t i = 0; i < ll.n; i++)
			evt_buf_printf(&b, "%s\"%s\":%lld", i ? "," : "",
			    ll.k[lidx[i]], ll.v[lidx[i]]);
		evt_buf_adds(&b, "}}\n");
	} else {
		/* CSV, RFC 4180: one count per line. Type names are the only
		 * free text; they are quoted when they need it. */
		evt_buf_adds(&b, "section,name,count\r\n");
		evt_buf_printf(&b, "events,all,%lld\r\n", t->events);
		for (int i = 0; i < EVT_SEV_N; i++)
			evt_buf_printf(&b, "severity,%s,%lld\r\n",
			    evt_severity_name(i), t->severity[i]);
		for (int i = 0; i < EVT_FINDING_N; i++)
			evt_buf_printf(&b, "finding,%s,%lld\r\n",
			    evt_finding_name(i), t->finding[i]);
		for (size_t i = 0; i < l.n; i++) {
			const char *k = l.k[idx[i]];
			evt_buf_adds(&b, "type,");
			if (strpbrk(k, ",\"\r\n")) {
				evt_buf_addc(&b, '"');
				for (; *k; k++) {
					if (*k == '"')
						evt_buf_addc(&b, '"');
					evt_buf_addc(&b, *k);
				}
				evt_buf_addc(&b, '"');
			} else
				evt_buf_adds(&b, k);
			evt_buf_printf(&b, ",%lld\r\n", l.v[idx[i]]);
		}
		for (int i = 0; i < EVT_TAG_N; i++)
			evt_buf_printf(&b, "tag,%s,%lld\r\n", evt_tag_name(i), t->tag[i]);
		for (int i = 0; i < 5; i++)
			evt_buf_printf(&b, "saga,%s,%lld\r\n", saga_names[i],
			    saga_count(t, i));
		for (size_t i = 0; i < ll.n; i++)
			evt_buf_printf(&b, "late,%s,%lld\r\n", ll.k[lidx[i]],
			    ll.v[lidx[i]]);
	}
	if (b.len && fwrite(b.p, 1, b.len, f) != b.len)
		rc = -1;
	free_types(&l, idx);
	free_types(&ll, lidx);
	evt_buf_free(&b);
	return rc;
}

/* --- metrics ------------------------------------------------------------- */

void
evt_metrics_text(const struct evt_tally *t, const struct evt_audit_opts *o,
    int64_t now_ms, struct evt_buf *b)
{
	struct type_list l;
	size_t *idx = sorted_types(t, &l);

	evt_buf_adds(b, "# HELP audit_events Events audited in the period, by type.\n"
	    "# TYPE audit_events gauge\n");
	for (size_t i = 0; i < l.n; i++) {
		evt_buf_adds(b, "audit_events{type=\"");
		evt_metrics_escape(b, l.k[idx[i]]);
		evt_buf_printf(b, "\"} %lld\n", l.v[idx[i]]);
	}
	evt_buf_adds(b, "# HELP audit_findings Findings in the period, by rule "
	    "and severity.\n# TYPE audit_findings gauge\n");
	for (int i = 0; i < EVT_FINDING_N; i++)
		if (o->rule[i].enabled)
			evt_buf_printf(b, "audit_findings{finding=\"%s\",severity="
			    "\"%s\"} %lld\n", evt_finding_name(i),
			    evt_severity_name(o->rule[i].severity), t->finding[i]);
	evt_buf_printf(b, "# HELP audit_last_scan_timestamp_seconds When the "
	    "scan ran.\n# TYPE audit_last_scan_timestamp_seconds gauge\n"
	    "audit_last_scan_timestamp_seconds %lld.%03lld\n",
	    (long long)(now_ms / 1000), (long long)(now_ms % 1000));
	free_types(&l, idx);
}

/* --- HTTP ---------------------------------------------------------------- */

static size_t
discard(char *p, size_t size, size_t n, void *arg)
{
	(void)p; (void)arg;
	return size * n;
}

/*
 * url fit to print in a diagnostic (the cron mail), a new string: its
 * scheme, user, host, port and path, never its password (nor a query,
 * which may carry a token), as evt prints a PostgreSQL log's URL.
 */
static char *
printable_url(const char *url)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *user = NULL, *host = NULL, *port = NULL;
	char *path = NULL, *pw = NULL;
	struct evt_buf b = EVT_BUF_INIT;

	if (u == NULL || curl_url_set(u, CURLUPART_URL, url,
	    CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
		curl_url_cleanup(u);
		/* Not a URL curl reads: what comes after "//" may be a
		 * user and a password; show none of it. */
		const char *h = strstr(url, "://");
		evt_buf_add(&b, url, h ? (size_t)(h - url) + 3 : 0);
		evt_buf_adds(&b, "(URL not shown)");
		return b.p;
	}
	curl_url_get(u, CURLUPART_USER, &user, 0);
	curl_url_get(u, CURLUPART_PASSWORD, &pw, 0);
	curl_url_get(u, CURLUPART_PORT, &port, 0);
	curl_url_get(u, CURLUPART_PATH, &path, 0);
	evt_buf_printf(&b, "%s://", scheme);
	if (user)
		evt_buf_printf(&b, "%s%s@", user, pw ? ":***" : "");
	evt_buf_adds(&b, host);
	if (port)
		evt_buf_printf(&b, ":%s", port);
	if (path && strcmp(path, "/") != 0)
		evt_buf_adds(&b, path);
	curl_free(scheme);
	curl_free(user);
	curl_free(pw);
	curl_free(host);
	curl_free(port);
	curl_free(path);
	curl_url_cleanup(u);
	return b.p;
}

/* Send body to url with method; 2xx is success. Diagnostics name the URL
 * without its password. */
static int
http(const char *method, const char *url, const char *type, const char *body,
    size_t n, struct evt_err *err)
{
	CURL *c = curl_easy_init();
	struct curl_slist *h = NULL;
	char ebuf[CURL_ERROR_SIZE] = "";
	long status = 0;
	CURLcode cc;
	struct evt_buf ct = EVT_BUF_INIT;

	if (c == NULL)
		return evt_err_set(err, EX_UNAVAILABLE, "cannot start libcurl");
	evt_buf_printf(&ct, "Content-Type: %s", type);
	h = curl_slist_append(h, ct.p);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)n);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)HTTP_TIMEOUT_S);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, ebuf);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
	cc = curl_easy_perform(c);
	if (cc == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	evt_buf_free(&ct);
	if (cc == CURLE_OK && status >= 200 && status <= 299)
		return 0;
	char *shown = printable_url(url);
	/* curl's own message names hosts and ports, not passwords; should
	 * one ever quote the URL, it is not shown. */
	if (cc != CURLE_OK && strstr(ebuf, "@") != NULL)
		snprintf(ebuf, sizeof(ebuf), "%s", curl_easy_strerror(cc));
	if (cc != CURLE_OK)
		evt_err_set(err, EX_UNAVAILABLE, "%s: %s", shown,
		    *ebuf ? ebuf : curl_easy_strerror(cc));
	else
		evt_err_set(err, EX_UNAVAILABLE, "%s: HTTP status %ld", shown,
		    status);
	free(shown);
	return -1;
}

static void
base_url(struct evt_buf *b, const char *url, const char *path)
{
	evt_buf_adds(b, url);
	while (b->len && b->p[b->len - 1] == '/')
		b->p[--b->len] = '\0';
	evt_buf_adds(b, path);
}

int
evt_alerts_send(const struct evt_tally *t, const char *url, int64_t now_ms,
    struct evt_err *err)
{
	struct evt_buf u = EVT_BUF_INIT, b = EVT_BUF_INIT;
	char tm[EVT_TIME_LEN + 1];
	size_t i = 0;
	int rc = 0;

	base_url(&u, url, "/api/v2/alerts");
	evt_time_format(now_ms, tm);
	while (rc == 0 && i < t->nkept) {
		int n = 0;
		evt_buf_reset(&b);
		evt_buf_addc(&b, '[');
		for (; i < t->nkept && n < ALERT_BATCH; i++) {
			const struct evt_kept *k = &t->kept[i];
			if (k->severity != EVT_SEV_CRITICAL)
				continue;
			if (n++)
				evt_buf_addc(&b, ',');
			evt_buf_adds(&b, "{\"labels\":{\"alertname\":");
			evt_buf_json_str(&b, evt_finding_name(k->finding),
			    strlen(evt_finding_name(k->finding)));
			evt_buf_adds(&b, ",\"severity\":\"critical\",\"subject\":");
			evt_buf_json_str(&b, k->subject, strlen(k->subject));
			evt_buf_adds(&b, ",\"tags\":\"");
			for (int j = 0, m = 0; j < EVT_TAG_N; j++)
				if (k->tags & (1 << j)) {
					if (m++)
						evt_buf_addc(&b, ',');
					evt_buf_adds(&b, evt_tag_name(j));
				}
			/* Alertmanager merges alerts whose labels are equal:
			 * two findings of one kind on one subject need a
			 * label apart. A hash of the finding, its event and
			 * its detail (all masked) is one per finding, of a
			 * fixed size, and the same when a run is repeated. */
			struct evt_buf key = EVT_BUF_INIT;
			evt_buf_printf(&key, "%s%c%lld%c%s%c%s%c%s",
			    evt_finding_name(k->finding), 0, k->seq, 0, k->id, 0,
			    k->subject, 0, k->detail);
			evt_buf_printf(&b, "\",\"finding_id\":\"%016llx\"",
			    (unsigned long long)evt_hash(key.p, key.len));
			evt_buf_free(&key);
			evt_buf_adds(&b, ",\"source\":\"audit-scan\"},"
			    "\"annotations\":{\"detail\":");
			evt_buf_json_str(&b, k->detail, strlen(k->detail));
			evt_buf_adds(&b, ",\"event\":");
			evt_buf_json_str(&b, k->id, strlen(k->id));
			if (k->seq)
				evt_buf_printf(&b, ",\"seq\":\"%lld\"", k->seq);
			evt_buf_printf(&b, "},\"startsAt\":\"%s\"}", tm);
		}
		evt_buf_addc(&b, ']');
		if (n)
			rc = http("POST", u.p, "application/json", b.p, b.len, err);
	}
	evt_buf_free(&u);
	evt_buf_free(&b);
	return rc;
}

int
evt_metrics_push(const char *url, const char *text, size_t n,
    struct evt_err *err)
{
	struct evt_buf u = EVT_BUF_INIT;
	int rc;

	base_url(&u, url, "/metrics/job/audit-scan");
	rc = http("PUT", u.p, "text/plain; version=0.0.4", text, n, err);
	evt_buf_free(&u);
	return rc;
}
