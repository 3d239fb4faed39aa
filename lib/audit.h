/*
 * audit.h - the Audit Service's rules (DESIGN §4 audit-scan): each event
 * classified (PCI-DSS, GDPR, FINANCIAL), problems found mechanically, in
 * the event and across the stream.
 */
#ifndef EVT_AUDIT_H
#define EVT_AUDIT_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "decimal.h"
#include "err.h"
#include "event.h"
#include "pan.h"

enum { EVT_SEV_INFO, EVT_SEV_WARNING, EVT_SEV_CRITICAL, EVT_SEV_N };

/* Tags, as bits. */
enum {
	EVT_TAG_PCI = 1, EVT_TAG_GDPR = 2, EVT_TAG_FINANCIAL = 4,
	EVT_TAG_INTEGRITY = 8, EVT_TAG_SAGA = 16, EVT_TAG_N = 5
};

/* The findings, in the order of the rules table. */
enum {
	EVT_F_PAN, EVT_F_CVV, EVT_F_PII, EVT_F_AMOUNT, EVT_F_REFUND,
	EVT_F_DOUBLE_CHARGE, EVT_F_OVER_REFUND, EVT_F_CURRENCY, EVT_F_NEGATIVE,
	EVT_F_SEQ_GAP, EVT_F_VERSION_GAP, EVT_F_DUP_ID, EVT_F_TIME_BACK,
	EVT_F_ORPHAN, EVT_F_STUCK, EVT_F_COMPENSATED,
	EVT_F_CHAIN,		/* chain_broken: evt-verify's check, chain.h */
	EVT_F_SAGA_BAD,		/* saga_bad_event: saga.h EVT_SAGA_REJECTED,
				 * EVT_SAGA_ASIDE */
	EVT_F_REJECTED,		/* transaction_rejected */
	EVT_F_TIME_FUTURE,	/* time_future: stamped past the clock */
	EVT_FINDING_N
};

const char *evt_severity_name(int sev);
/* The severity for a name, or -1. */
int evt_severity_parse(const char *name);
const char *evt_finding_name(int finding);
/* The name of tag bit i (0 .. EVT_TAG_N-1). */
const char *evt_tag_name(int i);

struct evt_rule {
	int enabled, severity, tags;
};

struct evt_audit_opts {
	struct evt_rule rule[EVT_FINDING_N];
	struct evt_dec refund_over;
	int64_t stuck_after_ms;
	int filtered;		/* the input is a filtered slice of the log */
	int64_t now_ms;		/* the clock, for time_future (0: none) */
	char **pii;		/* extra personal-data field names (owned) */
	size_t npii;
};

/* The built-in rules. */
void evt_audit_defaults(struct evt_audit_opts *o);
/*
 * Apply a rules file (see audit-scan(1)) to o. Returns 0, or -1 with err:
 * EX_NOINPUT (no such file), EX_DATAERR (not a rules file, naming why: an
 * amount that is not an exact non-negative decimal is one).
 */
int evt_audit_rules(struct evt_audit_opts *o, const char *file,
    struct evt_err *err);
void evt_audit_opts_free(struct evt_audit_opts *o);

/* One finding, borrowed for the callback. */
struct evt_finding {
	int finding, severity, tags;
	long long seq;		/* 0: the event had none */
	const char *id, *subject;	/* NUL-terminated, "" when absent */
	const char *detail;
	const char *late;	/* the day (YYYY-MM-DD) of an event that a
				 * --state run reports late, else NULL;
				 * audit.c leaves it NULL, audit-scan sets it */
};

/* An event stamped more than this after the clock is from the future:
 * a time_future finding, and never where a --state period ends. */
#define EVT_AUDIT_FUTURE_MS (24LL * 3600 * 1000)

typedef int (*evt_finding_fn)(void *arg, const struct evt_finding *f);

struct evt_audit;

struct evt_audit *evt_audit_new(const struct evt_audit_opts *o);
void evt_audit_free(struct evt_audit *a);

/* Where an event lies against the period asked for (--since, --until). */
enum { EVT_AUDIT_BEFORE, EVT_AUDIT_IN, EVT_AUDIT_AFTER };

/*
 * Audit one event (parsed, borrowed). when is EVT_AUDIT_IN: its findings
 * are passed to fn; EVT_AUDIT_BEFORE: the event only feeds the state
 * (history before the period); EVT_AUDIT_AFTER: it feeds the state the
 * stream rules need, but no outcome after the period changes how the
 * period's sagas are judged, so a period's report is the same whenever it
 * is made. *tags and *severity get the event's tags (its kind's and its
 * findings') and highest finding severity (info if none). Every string a
 * finding carries (id, subject, detail) has its card numbers masked.
 * Returns 0, or -1: when fn returned -1 (err->code 0), or when the state
 * file failed (err set; the event is then not folded whole: stop).
 */
int evt_audit_event(struct evt_audit *a, const struct evt_event *ev,
    int when, evt_finding_fn fn, void *arg, int *tags, int *severity,
    struct evt_err *err);

/*
 * At the end of the scan: the transactions and orchestrated sagas still
 * without an outcome that were created (started) more than stuck-after
 * before now_ms, those a --state remembers from earlier runs included,
 * each said once. Returns like evt_audit_event.
 */
int evt_audit_end(struct evt_audit *a, int64_t now_ms, evt_finding_fn fn,
    void *arg, struct evt_err *err);

/*
 * Keep the rules' memory in the SQLite state file at path (audit-scan
 * --state; created, mode 0600, if missing): *seq gets how far it has
 * folded (the last seq), *until_ms and *has_until the end of the last
 * period committed (audit-scan --until). The caller feeds only the
 * events after *seq. Returns 0, or -1 with err.
 */
int evt_audit_state_open(struct evt_audit *a, const char *path, long long *seq,
    int64_t *until_ms, int *has_until, struct evt_err *err);

/* The end of the period being folded, kept with the next commit when
 * later than the one kept. */
void evt_audit_state_until(struct evt_audit *a, int64_t until_ms);

/*
 * Commit, in one transaction, durably, what the events fed since the
 * last commit changed, with its checkpoint (the last event's seq) and
 * the period's end; then forget it from memory. A crash leaves the state
 * as the last commit left it. No-op without a state file. Returns 0, or
 * -1 with err.
 */
int evt_audit_state_commit(struct evt_audit *a, struct evt_err *err);

/*
 * Write what the events fed since the last commit changed to the state
 * file, in its transaction, still open, and forget it from memory: the
 * store answers for it from now on, and memory stays bounded however
 * many events a run folds. Nothing of it is durable, nor seen by another
 * run, before evt_audit_state_commit; a crash forgets it all. No-op
 * without a state file. Returns 0, or -1 with err.
 */
int evt_audit_state_spill(struct evt_audit *a, struct evt_err *err);

/* The state's checkpoint as one line of JSON into b: {"seq","events",
 * "until"} (until null when no period was committed). */
void evt_audit_state_json(struct evt_audit *a, struct evt_buf *b);

#endif
