/*
 * report.h - what audit-scan tells people and monitoring: a tally of the
 * period (events by type and tag, findings, saga outcomes), written as a
 * report (text for a cron mail, JSON, CSV), as Prometheus metrics, and the
 * critical findings as Alertmanager alerts; sent over HTTP with libcurl.
 */
#ifndef EVT_REPORT_H
#define EVT_REPORT_H

#include <stdint.h>
#include <stdio.h>

#include "audit.h"
#include "buf.h"
#include "err.h"
#include "hmap.h"

/* The findings kept for the report and the alerts, at most this many. */
#define EVT_TALLY_KEEP 1000

struct evt_kept {
	int finding, severity, tags;
	long long seq;
	char *id, *subject, *detail;
	char late[11];		/* the day of an event reported late, or "" */
};

struct evt_tally {
	long long events, tag[EVT_TAG_N], finding[EVT_FINDING_N];
	long long severity[EVT_SEV_N];
	long long started, completed, cancelled, refunded;
	struct evt_hmap types;
	struct evt_kept *kept;	/* warning and critical findings */
	size_t nkept, capkept;
	long long dropped;	/* not kept, over EVT_TALLY_KEEP */
	long long late;		/* events reported late (audit-scan --state) */
	struct evt_hmap late_days;	/* "YYYY-MM-DD" -> late events that day */
};

void evt_tally_event(struct evt_tally *t, const char *type, size_t n,
    int tags);
/* One more event reported late, of the day of time_ms. */
void evt_tally_late(struct evt_tally *t, int64_t time_ms);
void evt_tally_finding(struct evt_tally *t, const struct evt_finding *f);
void evt_tally_free(struct evt_tally *t);

enum evt_report_fmt { EVT_REPORT_TEXT, EVT_REPORT_JSON, EVT_REPORT_CSV };

/*
 * Write the report of t to f; source names what was scanned, since/until
 * the period (has_* 0: open). Returns 0 or -1 (errno) on a write error.
 */
int evt_report_write(const struct evt_tally *t, enum evt_report_fmt fmt,
    const char *source, int has_since, int64_t since, int has_until,
    int64_t until, FILE *f);

/* The tally as Prometheus text exposition, scan time now_ms, into b. */
void evt_metrics_text(const struct evt_tally *t,
    const struct evt_audit_opts *o, int64_t now_ms, struct evt_buf *b);

/* POST the critical findings kept in t to Alertmanager at url, in
 * batches. Returns 0, or -1 with err (EX_UNAVAILABLE). */
int evt_alerts_send(const struct evt_tally *t, const char *url,
    int64_t now_ms, struct evt_err *err);

/* PUT the metrics to the Pushgateway at url. Returns 0, or -1 with err
 * (EX_UNAVAILABLE). */
int evt_metrics_push(const char *url, const char *text, size_t n,
    struct evt_err *err);

#endif
