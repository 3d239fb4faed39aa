/*
 * orch_impl.h - what lib/orch.c and lib/orch_def.c share: a loaded
 * definition (saga-orch(5)). Not for programs: they see orch.h only.
 */
#ifndef EVT_ORCH_IMPL_H
#define EVT_ORCH_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "err.h"

/* A reference to a value: "$key", "$trigger.PATH", "$STEP.PATH". */
enum { OREF_KEY, OREF_TRIGGER, OREF_STEP };

struct oref {
	int kind;
	int step;		/* OREF_STEP: the step whose reply it reads */
	char **seg;		/* the path inside the event, split at dots */
	size_t nseg;
};

/* A subject template: literal text and {REF} parts, one after another. */
struct otpl_part {
	char *lit;		/* NULL: ref */
	struct oref ref;
};

struct otpl {
	struct otpl_part *part;
	size_t n;
};

/*
 * The data of a command: a JSON template. Strings starting with "$" are
 * references ("$$" a literal "$"), resolved when the command is written;
 * everything else is copied.
 */
struct ocmd {
	char *type;
	struct otpl subject;
	json_t *data;		/* owned; NULL: {} */
};

struct oretry {
	long long count;	/* attempts after the first */
	int64_t delay_ms;
	double backoff;		/* the delay's factor from one retry to the next */
	int on_timeout, on_failure;
};

/* A command, the replies that answer it, and how long to wait. */
struct oact {
	struct ocmd cmd;
	char **ok, **fail;
	size_t nok, nfail;
	int64_t timeout_ms;	/* 0: wait as long as the saga lasts */
	struct oretry retry;
};

struct ostep {
	char *name;
	struct oact act;
	int has_undo;
	struct oact undo;
	char *group;		/* NULL: a stage of its own */
	int stage;		/* steps of one group share a stage */
};

struct odef {
	char *file, *name;
	long long version;
	char hash[72];		/* "sha256:" and 64 hex digits */
	char *start_type;
	char **key;		/* the key's path in the trigger */
	size_t nkey;
	json_t *match;		/* owned object PATH -> value, or NULL */
	int64_t deadline_ms;	/* 0: none */
	struct ostep *steps;
	size_t nsteps;
	int nstages;
};

/* Load file into a new definition. NULL with err (orch.h). */
struct odef *evt_orch_def_load(const char *file, struct evt_err *err);
void evt_orch_def_free(struct odef *d);

#endif
