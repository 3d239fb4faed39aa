/*
 * audit.h - the Audit Service's rules (DESIGN §4 audit-scan): each event
 * classified (PCI-DSS, GDPR, FINANCIAL), problems found mechanically, in
 * the event and across the stream.
 */
#ifndef EVT_AUDIT_H
#define EVT_AUDIT_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "event.h"

enum { EVT_SEV_INFO, EVT_SEV_WARNING, EVT_SEV_CRITICAL, EVT_SEV_N };

/* Tags, as bits. */
enum {
	EVT_TAG_PCI = 1, EVT_TAG_GDPR = 2, EVT_TAG_FINANCIAL = 4,
	EVT_TAG_INTEGRITY = 8, EVT_TAG_SAGA = 16, EVT_TAG_N = 5
};

/* The findings, in the order of the rules table. */
enum {
	EVT_F_PAN, EVT_F_CVV, EVT_F_PII, EVT_F_AMOUNT, EVT_F_REFUND,
	EVT_F_SEQ_GAP, EVT_F_VERSION_GAP, EVT_F_DUP_ID, EVT_F_TIME_BACK,
	EVT_F_ORPHAN, EVT_F_STUCK, EVT_F_COMPENSATED,
	EVT_F_CHAIN,		/* chain_broken: evt-verify's check, chain.h */
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
	long long refund_over;	/* millionths (decimal.h) */
	int64_t stuck_after_ms;
	char **pii;		/* extra personal-data field names (owned) */
	size_t npii;
};

/* The built-in rules. */
void evt_audit_defaults(struct evt_audit_opts *o);
/*
 * Apply a rules file (see audit-scan(1)) to o. Returns 0, or -1 with err:
 * EX_NOINPUT (no such file), EX_DATAERR (not a rules file, naming why).
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
};

typedef int (*evt_finding_fn)(void *arg, const struct evt_finding *f);

struct evt_audit;

struct evt_audit *evt_audit_new(const struct evt_audit_opts *o);
void evt_audit_free(struct evt_audit *a);

/*
 * Audit one event (parsed, borrowed). With report set, its findings are
 * passed to fn; without, the event only feeds the state (history before
 * the period asked for). *tags and *severity get the event's tags (its
 * kind's and its findings') and highest finding severity (info if none).
 * Returns 0, or -1 when fn returned -1.
 */
int evt_audit_event(struct evt_audit *a, const struct evt_event *ev,
    int report, evt_finding_fn fn, void *arg, int *tags, int *severity);

/*
 * At the end of the scan: the transactions still without an outcome that
 * were created more than stuck-after before now_ms. Returns like
 * evt_audit_event.
 */
int evt_audit_end(struct evt_audit *a, int64_t now_ms, evt_finding_fn fn,
    void *arg);

/* Whether the Luhn-valid card number check finds a PAN in the text
 * s[0..n); the first one's masked form into mask (at least 20 bytes).
 * Exposed for the tests of its edge cases. */
int evt_find_pan(const char *s, size_t n, char *mask);

#endif
