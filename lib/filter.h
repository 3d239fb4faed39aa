/*
 * filter.h - which events a reader wants: DESIGN §4 evt-replay's filters.
 *
 * Repeated filters of one kind are alternatives (OR); different kinds
 * narrow (AND). Types are fnmatch(3) globs. The log backends turn what they
 * can into index lookups and call evt_filter_match for the rest.
 */
#ifndef EVT_FILTER_H
#define EVT_FILTER_H

#include <stdint.h>

#include "event.h"

struct evt_strv {
	char **v;		/* borrowed strings (argv) */
	size_t n;
};

struct evt_filter {
	struct evt_strv subjects, categories, types, corrs;
	long long from, to;	/* seq bounds, inclusive; 0: none */
	int64_t since, until;	/* time, [since, until) */
	int has_since, has_until;
	/* Only the causes: events of types no saga participant emits
	 * (evt_saga_emits), the input a what-if re-decides. The log
	 * backends leave this to evt_filter_match or to the reader
	 * (evt_filter_types_pass). */
	int causes;
};

/* Add s (borrowed) to v. */
void evt_strv_add(struct evt_strv *v, char *s);
void evt_strv_free(struct evt_strv *v);
void evt_filter_free(struct evt_filter *f);

/* Whether a pattern has glob characters (else it is matched exactly). */
int evt_glob_has_meta(const char *pat);
/* Whether type t[0..n) matches any of the patterns in types. */
int evt_filter_type(const struct evt_strv *types, const char *t, size_t n);
/* Whether type t[0..n) passes f's type filters: its -t globs (if any)
 * and, with f->causes, being a type no saga participant emits. */
int evt_filter_types_pass(const struct evt_filter *f, const char *t, size_t n);
/* Whether the stored event ev passes f. */
int evt_filter_match(const struct evt_filter *f, const struct evt_event *ev);

#endif
