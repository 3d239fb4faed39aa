/*
 * orch_def.c - saga definitions (saga-orch(5)): a JSON file read with
 * jansson, checked whole, and kept as the plain structs of orch_impl.h.
 *
 * A file that is not JSON is reported as FILE:LINE:COL, as a compiler
 * would; one that is JSON but not a definition names the JSON path of the
 * offending value (steps[1].retry.count), so that a reader can find it in
 * any editor.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "buf.h"
#include "clock.h"
#include "crypto_load.h"
#include "orch_impl.h"

/* Where a check stands: the file and the JSON path. */
struct at {
	const char *file;
	struct evt_err *err;
	char path[256];
};

/* out = a then b, cut to n bytes (paths are short; a cut one still
 * points the way). */
static void
join(char *out, size_t n, const char *a, const char *b)
{
	size_t la = strnlen(a, n - 1), lb = strnlen(b, n - 1 - la);

	memcpy(out, a, la);
	memcpy(out + la, b, lb);
	out[la + lb] = '\0';
}

static int
fail(struct at *a, const char *path, const char *fmt, const char *arg)
{
	char what[320];

	snprintf(what, sizeof(what), fmt, arg ? arg : "");
	return evt_err_set(a->err, EX_DATAERR, "%s: %s: %s", a->file,
	    *path ? path : "(top)", what);
}

static int
name_ok(const char *s)
{
	if (*s == '\0')
		return 0;
	for (; *s; s++)
		if (!(islower((unsigned char)*s) || isdigit((unsigned char)*s) ||
		    *s == '_' || *s == '-'))
			return 0;
	return 1;
}

static void
strv_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* Split a dotted path into its parts; -1 when a part is empty. */
static int
split_path(const char *s, char ***seg, size_t *nseg)
{
	size_t n = 1;
	const char *p;

	for (p = s; *p; p++)
		n += *p == '.';
	if ((*seg = calloc(n, sizeof(**seg))) == NULL)
		abort();
	*nseg = 0;
	for (p = s;;) {
		const char *dot = strchr(p, '.');
		size_t len = dot ? (size_t)(dot - p) : strlen(p);
		char *part;
		if (len == 0) {
			strv_free(*seg, *nseg);
			*seg = NULL;
			*nseg = 0;
			return -1;
		}
		if ((part = malloc(len + 1)) == NULL)
			abort();
		memcpy(part, p, len);
		part[len] = '\0';
		(*seg)[(*nseg)++] = part;
		if (dot == NULL)
			return 0;
		p = dot + 1;
	}
}

static void
ref_free(struct oref *r)
{
	strv_free(r->seg, r->nseg);
	r->seg = NULL;
	r->nseg = 0;
}

/*
 * Parse a reference s (without its "$"): key, trigger.PATH, STEP.PATH.
 * A step reference must name one of the steps [0, nsteps). Returns 0, or
 * -1 with a reason in *why.
 */
static int
ref_parse(const char *s, const struct odef *d, size_t nsteps, struct oref *r,
    const char **why)
{
	char **seg;
	size_t n;

	memset(r, 0, sizeof(*r));
	if (strcmp(s, "key") == 0) {
		r->kind = OREF_KEY;
		return 0;
	}
	if (split_path(s, &seg, &n) < 0 || n < 2) {
		if (seg)
			strv_free(seg, n);
		*why = "not a reference: $key, $trigger.PATH or $STEP.PATH";
		return -1;
	}
	if (strcmp(seg[0], "trigger") == 0)
		r->kind = OREF_TRIGGER;
	else {
		size_t i;
		for (i = 0; i < nsteps; i++)
			if (strcmp(d->steps[i].name, seg[0]) == 0)
				break;
		if (i == nsteps) {
			strv_free(seg, n);
			*why = "names no step whose reply is known by then "
			    "(an earlier stage's, or an undo's own)";
			return -1;
		}
		r->kind = OREF_STEP;
		r->step = (int)i;
	}
	/* The path goes on from the event's top: data.x, id, time. */
	free(seg[0]);
	memmove(seg, seg + 1, (n - 1) * sizeof(*seg));
	r->seg = seg;
	r->nseg = n - 1;
	return 0;
}

static void
tpl_free(struct otpl *t)
{
	for (size_t i = 0; i < t->n; i++) {
		free(t->part[i].lit);
		ref_free(&t->part[i].ref);
	}
	free(t->part);
	t->part = NULL;
	t->n = 0;
}

static void
tpl_add(struct otpl *t, const char *lit, size_t n, const struct oref *r)
{
	struct otpl_part *p;

	if ((t->part = realloc(t->part, (t->n + 1) * sizeof(*t->part))) == NULL)
		abort();
	p = &t->part[t->n++];
	memset(p, 0, sizeof(*p));
	if (lit) {
		if ((p->lit = malloc(n + 1)) == NULL)
			abort();
		memcpy(p->lit, lit, n);
		p->lit[n] = '\0';
	} else
		p->ref = *r;
}

/* A subject template: text with {key}, {trigger.PATH}, {STEP.PATH}. */
static int
tpl_parse(struct at *a, const char *path, const char *s, const struct odef *d,
    size_t nsteps, struct otpl *t)
{
	const char *p = s, *why;

	if (*s == '\0')
		return fail(a, path, "is empty", NULL);
	for (const unsigned char *u = (const unsigned char *)s; *u; u++)
		if (*u < 0x20 || *u == 0x7F || (*u == 0xC2 && u[1] >= 0x80 &&
		    u[1] <= 0x9F))
			return fail(a, path, "holds a control character, which "
			    "CloudEvents strings must not hold", NULL);
	while (*p) {
		const char *o = strchr(p, '{'), *c;
		char ref[256];
		struct oref r;
		if (o == NULL) {
			tpl_add(t, p, strlen(p), NULL);
			break;
		}
		if (o > p)
			tpl_add(t, p, (size_t)(o - p), NULL);
		if ((c = strchr(o, '}')) == NULL || c - o - 1 >= (long)sizeof(ref))
			return fail(a, path, "has a { without its }", NULL);
		memcpy(ref, o + 1, (size_t)(c - o - 1));
		ref[c - o - 1] = '\0';
		if (ref_parse(ref, d, nsteps, &r, &why) < 0)
			return evt_err_set(a->err, EX_DATAERR, "%s: %s: {%s}: %s",
			    a->file, path, ref, why);
		tpl_add(t, NULL, 0, &r);
		p = c + 1;
	}
	return 0;
}

/* Check every reference in a data template. */
static int
data_check(struct at *a, char *path, size_t plen, json_t *v,
    const struct odef *d, size_t nsteps)
{
	const char *k, *why;
	json_t *x;
	size_t i;
	struct oref r;

	if (json_is_object(v)) {
		json_object_foreach(v, k, x) {
			snprintf(path + plen, sizeof(a->path) - plen, ".%s", k);
			if (data_check(a, path, strlen(path), x, d, nsteps) < 0)
				return -1;
		}
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, x) {
			snprintf(path + plen, sizeof(a->path) - plen, "[%zu]", i);
			if (data_check(a, path, strlen(path), x, d, nsteps) < 0)
				return -1;
		}
	} else if (json_is_string(v)) {
		const char *s = json_string_value(v);
		if (s[0] == '$' && s[1] != '$') {
			if (ref_parse(s + 1, d, nsteps, &r, &why) < 0)
				return evt_err_set(a->err, EX_DATAERR, "%s: %s: %s: "
				    "%s", a->file, path, s, why);
			ref_free(&r);
		}
	}
	path[plen] = '\0';
	return 0;
}

static int
duration(struct at *a, const char *path, json_t *v, int64_t *ms)
{
	if (v == NULL)
		return 0;
	if (!json_is_string(v) || evt_duration_parse(json_string_value(v), ms) < 0
	    || *ms <= 0)
		return fail(a, path, "is not a duration above 0 (30s, 15m, 2h)",
		    NULL);
	return 0;
}

static int
strings(struct at *a, const char *path, json_t *v, char ***out, size_t *n,
    int need)
{
	size_t i;
	json_t *x;

	*out = NULL;
	*n = 0;
	if (v == NULL && !need)
		return 0;
	if (!json_is_array(v) || (need && json_array_size(v) == 0))
		return fail(a, path, need ? "is not a non-empty array of event "
		    "types" : "is not an array of event types", NULL);
	if ((*out = calloc(json_array_size(v) + 1, sizeof(**out))) == NULL)
		abort();
	json_array_foreach(v, i, x) {
		if (!json_is_string(x) || json_string_length(x) == 0) {
			char p[300], ix[32];
			snprintf(ix, sizeof(ix), "[%zu]", i);
			join(p, sizeof(p), path, ix);
			return fail(a, p, "is not an event type", NULL);
		}
		(*out)[(*n)++] = evt_strdup(json_string_value(x));
	}
	return 0;
}

/* Whether obj has only the members in allowed (NULL-terminated). */
static int
members(struct at *a, const char *path, json_t *obj, const char *const *allowed)
{
	const char *k;
	json_t *x;

	json_object_foreach(obj, k, x) {
		size_t i;
		for (i = 0; allowed[i]; i++)
			if (strcmp(allowed[i], k) == 0)
				break;
		if (allowed[i] == NULL) {
			char p[300];
			join(p, sizeof(p), path, *path ? "." : "");
			join(p, sizeof(p), p, k);
			return fail(a, p, "is not a member this object takes",
			    NULL);
		}
	}
	return 0;
}

static int
retry_load(struct at *a, const char *path, json_t *v, struct oretry *r)
{
	static const char *const allowed[] = { "count", "delay", "backoff", "on",
	    NULL };
	char p[300];
	json_t *x;
	size_t i;

	r->count = 0;
	r->delay_ms = 0;
	r->backoff = 1;
	r->on_timeout = 1;
	r->on_failure = 0;
	if (v == NULL)
		return 0;
	if (!json_is_object(v))
		return fail(a, path, "is not an object", NULL);
	if (members(a, path, v, allowed) < 0)
		return -1;
	join(p, sizeof(p), path, ".count");
	if ((x = json_object_get(v, "count")) != NULL) {
		if (!json_is_integer(x) || json_integer_value(x) < 0 ||
		    json_integer_value(x) > 1000)
			return fail(a, p, "is not an integer from 0 to 1000", NULL);
		r->count = json_integer_value(x);
	}
	join(p, sizeof(p), path, ".delay");
	if ((x = json_object_get(v, "delay")) != NULL &&
	    (!json_is_string(x) || evt_duration_parse(json_string_value(x),
	    &r->delay_ms) < 0 || r->delay_ms < 0))
		return fail(a, p, "is not a duration (0s, 30s, 15m)", NULL);
	join(p, sizeof(p), path, ".backoff");
	if ((x = json_object_get(v, "backoff")) != NULL) {
		if (!json_is_number(x) || !(json_number_value(x) >= 1 &&
		    json_number_value(x) <= 100))
			return fail(a, p, "is not a number from 1 to 100", NULL);
		r->backoff = json_number_value(x);
	}
	if ((x = json_object_get(v, "on")) != NULL) {
		json_t *y;
		join(p, sizeof(p), path, ".on");
		if (!json_is_array(x) || json_array_size(x) == 0)
			return fail(a, p, "is not a non-empty array of \"timeout\" "
			    "and \"failure\"", NULL);
		r->on_timeout = 0;
		json_array_foreach(x, i, y) {
			const char *s = json_is_string(y) ? json_string_value(y) : "";
			if (strcmp(s, "timeout") == 0)
				r->on_timeout = 1;
			else if (strcmp(s, "failure") == 0)
				r->on_failure = 1;
			else {
				char ix[32];
				snprintf(ix, sizeof(ix), ".on[%zu]", i);
				join(p, sizeof(p), path, ix);
				return fail(a, p, "is not \"timeout\" or \"failure\"",
				    NULL);
			}
		}
	}
	return 0;
}

/* A command and its replies: a step's ({"command", "success", ...}), or
 * an undo's. nsteps: the steps whose replies its data may read. */
static int
act_load(struct at *a, const char *path, json_t *v, struct odef *d,
    size_t nsteps, struct oact *act, int is_undo)
{
	static const char *const cmd_allowed[] = { "type", "subject", "data",
	    NULL };
	static const char *const undo_allowed[] = { "command", "success",
	    "failure", "timeout", "retry", NULL };
	char p[300];
	json_t *c, *x;

	if (is_undo && !json_is_object(v))
		return fail(a, path, "is not an object", NULL);
	if (is_undo && members(a, path, v, undo_allowed) < 0)
		return -1;
	join(p, sizeof(p), path, ".command");
	if (!json_is_object(c = json_object_get(v, "command")))
		return fail(a, p, "is missing or not an object", NULL);
	if (members(a, p, c, cmd_allowed) < 0)
		return -1;
	join(p, sizeof(p), path, ".command.type");
	if (!json_is_string(x = json_object_get(c, "type")) ||
	    json_string_length(x) == 0)
		return fail(a, p, "is missing or not an event type", NULL);
	act->cmd.type = evt_strdup(json_string_value(x));
	join(p, sizeof(p), path, ".command.subject");
	if (!json_is_string(x = json_object_get(c, "subject")))
		return fail(a, p, "is missing or not a string", NULL);
	if (tpl_parse(a, p, json_string_value(x), d, nsteps, &act->cmd.subject) < 0)
		return -1;
	if ((x = json_object_get(c, "data")) != NULL) {
		snprintf(a->path, sizeof(a->path), "%s.command.data", path);
		if (!json_is_object(x))
			return fail(a, a->path, "is not an object", NULL);
		if (data_check(a, a->path, strlen(a->path), x, d, nsteps) < 0)
			return -1;
		act->cmd.data = json_incref(x);
	}
	join(p, sizeof(p), path, ".success");
	if (strings(a, p, json_object_get(v, "success"), &act->ok, &act->nok, 1) < 0)
		return -1;
	join(p, sizeof(p), path, ".failure");
	if (strings(a, p, json_object_get(v, "failure"), &act->fail, &act->nfail,
	    0) < 0)
		return -1;
	join(p, sizeof(p), path, ".timeout");
	if (duration(a, p, json_object_get(v, "timeout"), &act->timeout_ms) < 0)
		return -1;
	join(p, sizeof(p), path, ".retry");
	if (retry_load(a, p, json_object_get(v, "retry"), &act->retry) < 0)
		return -1;
	if (act->retry.count > 0 && act->retry.on_timeout && !act->timeout_ms &&
	    !act->retry.on_failure)
		return fail(a, p, "retries on timeouts, but there is no timeout",
		    NULL);
	return 0;
}

static void
act_free(struct oact *act)
{
	free(act->cmd.type);
	tpl_free(&act->cmd.subject);
	json_decref(act->cmd.data);
	strv_free(act->ok, act->nok);
	strv_free(act->fail, act->nfail);
}

void
evt_orch_def_free(struct odef *d)
{
	if (d == NULL)
		return;
	for (size_t i = 0; i < d->nsteps; i++) {
		free(d->steps[i].name);
		free(d->steps[i].group);
		act_free(&d->steps[i].act);
		act_free(&d->steps[i].undo);	/* zeroed when absent */
	}
	free(d->steps);
	free(d->file);
	free(d->name);
	free(d->start_type);
	strv_free(d->key, d->nkey);
	json_decref(d->match);
	free(d);
}

static int
step_load(struct at *a, json_t *v, struct odef *d, size_t i)
{
	static const char *const allowed[] = { "name", "command", "success",
	    "failure", "timeout", "retry", "undo", "group", "description", NULL };
	struct ostep *s = &d->steps[i];
	char path[64], p[300];
	json_t *x;

	snprintf(path, sizeof(path), "steps[%zu]", i);
	if (!json_is_object(v))
		return fail(a, path, "is not an object", NULL);
	if (members(a, path, v, allowed) < 0)
		return -1;
	join(p, sizeof(p), path, ".name");
	x = json_object_get(v, "name");
	if (!json_is_string(x) || !name_ok(json_string_value(x)) ||
	    strcmp(json_string_value(x), "key") == 0 ||
	    strcmp(json_string_value(x), "trigger") == 0)
		return fail(a, p, "is missing or not a name of a-z, 0-9, _ and "
		    "- (nor key, nor trigger)", NULL);
	for (size_t j = 0; j < i; j++)
		if (strcmp(d->steps[j].name, json_string_value(x)) == 0)
			return fail(a, p, "repeats the name of steps[%s]",
			    (snprintf(path, sizeof(path), "%zu", j), path));
	s->name = evt_strdup(json_string_value(x));
	join(p, sizeof(p), path, ".group");
	if ((x = json_object_get(v, "group")) != NULL) {
		if (!json_is_string(x) || !name_ok(json_string_value(x)))
			return fail(a, p, "is not a name of a-z, 0-9, _ and -", NULL);
		s->group = evt_strdup(json_string_value(x));
	}
	/* A group is a run of steps side by side: one stage. */
	if (i > 0 && s->group && d->steps[i - 1].group &&
	    strcmp(s->group, d->steps[i - 1].group) == 0)
		s->stage = d->steps[i - 1].stage;
	else {
		for (size_t j = 0; s->group && j < i; j++)
			if (d->steps[j].group && strcmp(d->steps[j].group,
			    s->group) == 0)
				return fail(a, p, "names a group whose steps are "
				    "not next to each other", NULL);
		s->stage = d->nstages++;
	}
	/* Its command may read the replies of the stages before its own. */
	size_t before = 0;
	while (before < i && d->steps[before].stage < s->stage)
		before++;
	if (act_load(a, path, v, d, before, &s->act, 0) < 0)
		return -1;
	if ((x = json_object_get(v, "undo")) != NULL) {
		join(p, sizeof(p), path, ".undo");
		s->has_undo = 1;
		/* An undo runs after its step: it may read its own reply. */
		if (act_load(a, p, x, d, i + 1, &s->undo, 1) < 0)
			return -1;
	}
	return 0;
}

static void
hash_root(json_t *root, char *out)
{
	static const char hex[] = "0123456789abcdef";
	char *s = json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS);
	unsigned char md[32];
	unsigned int n = 0;

	if (s == NULL || !EVP_Digest(s, strlen(s), md, &n, EVP_sha256(), NULL))
		abort();
	free(s);
	memcpy(out, "sha256:", 7);
	for (unsigned i = 0; i < n; i++) {
		out[7 + 2 * i] = hex[md[i] >> 4];
		out[8 + 2 * i] = hex[md[i] & 15];
	}
	out[7 + 2 * n] = '\0';
}

struct odef *
evt_orch_def_load(const char *file, struct evt_err *err)
{
	static const char *const allowed[] = { "name", "version", "description",
	    "start", "deadline", "steps", NULL };
	static const char *const start_allowed[] = { "type", "key", "match", NULL };
	struct at a = { file, err, "" };
	json_error_t je;
	json_t *root, *v, *st, *x;
	struct odef *d;
	size_t i;

	/* A definition is known by its digest (hash_root), and the sagas it
	 * runs by name-based ids: libcrypto (crypto_load.h). */
	if (evt_crypto_load(NULL, err) < 0)
		return NULL;
	if ((root = json_load_file(file, JSON_REJECT_DUPLICATES, &je)) == NULL) {
		if (access(file, R_OK) != 0) {
			evt_err_set(err, EX_NOINPUT, "%s: %s", file, strerror(errno));
			return NULL;
		}
		evt_err_set(err, EX_DATAERR, "%s:%d:%d: %s", file, je.line,
		    je.column, je.text);
		return NULL;
	}
	if ((d = calloc(1, sizeof(*d))) == NULL)
		abort();
	d->file = evt_strdup(file);
	if (!json_is_object(root)) {
		fail(&a, "", "is not an object", NULL);
		goto bad;
	}
	if (members(&a, "", root, allowed) < 0)
		goto bad;
	v = json_object_get(root, "name");
	if (!json_is_string(v) || !name_ok(json_string_value(v))) {
		fail(&a, "name", "is missing or not a name of a-z, 0-9, _ and -",
		    NULL);
		goto bad;
	}
	d->name = evt_strdup(json_string_value(v));
	v = json_object_get(root, "version");
	if (!json_is_integer(v) || json_integer_value(v) < 1) {
		fail(&a, "version", "is missing or not an integer >= 1", NULL);
		goto bad;
	}
	d->version = json_integer_value(v);
	st = json_object_get(root, "start");
	if (!json_is_object(st)) {
		fail(&a, "start", "is missing or not an object", NULL);
		goto bad;
	}
	if (members(&a, "start", st, start_allowed) < 0)
		goto bad;
	v = json_object_get(st, "type");
	if (!json_is_string(v) || json_string_length(v) == 0) {
		fail(&a, "start.type", "is missing or not an event type", NULL);
		goto bad;
	}
	d->start_type = evt_strdup(json_string_value(v));
	v = json_object_get(st, "key");
	if (!json_is_string(v) || split_path(json_string_value(v), &d->key,
	    &d->nkey) < 0) {
		fail(&a, "start.key", "is missing or not a field path (data.id)",
		    NULL);
		goto bad;
	}
	if ((v = json_object_get(st, "match")) != NULL) {
		const char *k;
		if (!json_is_object(v)) {
			fail(&a, "start.match", "is not an object of field paths "
			    "and values", NULL);
			goto bad;
		}
		json_object_foreach(v, k, x) {
			char **seg;
			size_t n;
			snprintf(a.path, sizeof(a.path), "start.match.%s", k);
			if (split_path(k, &seg, &n) < 0) {
				fail(&a, a.path, "is not a field path", NULL);
				goto bad;
			}
			strv_free(seg, n);
			if (json_is_object(x) || json_is_array(x)) {
				fail(&a, a.path, "is not a string, number, boolean "
				    "or null", NULL);
				goto bad;
			}
		}
		d->match = json_incref(v);
	}
	if (duration(&a, "deadline", json_object_get(root, "deadline"),
	    &d->deadline_ms) < 0)
		goto bad;
	v = json_object_get(root, "steps");
	if (!json_is_array(v) || json_array_size(v) == 0) {
		fail(&a, "steps", "is missing or not a non-empty array", NULL);
		goto bad;
	}
	if ((d->steps = calloc(json_array_size(v), sizeof(*d->steps))) == NULL)
		abort();
	json_array_foreach(v, i, x) {
		d->nsteps = i + 1;
		if (step_load(&a, x, d, i) < 0)
			goto bad;
	}
	hash_root(root, d->hash);
	json_decref(root);
	return d;
bad:
	json_decref(root);
	evt_orch_def_free(d);
	return NULL;
}
