#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#include "filter.h"
#include "saga.h"

void
evt_strv_add(struct evt_strv *v, char *s)
{
	v->v = realloc(v->v, (v->n + 1) * sizeof(*v->v));
	if (v->v == NULL)
		abort();
	v->v[v->n++] = s;
}

void
evt_strv_free(struct evt_strv *v)
{
	free(v->v);
	v->v = NULL;
	v->n = 0;
}

void
evt_filter_free(struct evt_filter *f)
{
	evt_strv_free(&f->subjects);
	evt_strv_free(&f->categories);
	evt_strv_free(&f->types);
	evt_strv_free(&f->corrs);
}

int
evt_glob_has_meta(const char *pat)
{
	return strpbrk(pat, "*?[\\") != NULL;
}

static int
any_equal(const struct evt_strv *v, const char *s, size_t n)
{
	for (size_t i = 0; i < v->n; i++)
		if (strlen(v->v[i]) == n && memcmp(v->v[i], s, n) == 0)
			return 1;
	return 0;
}

int
evt_filter_type(const struct evt_strv *types, const char *t, size_t n)
{
	char small[256], *z = small;
	int hit = 0;

	if (n >= sizeof(small) && (z = malloc(n + 1)) == NULL)
		abort();
	memcpy(z, t, n);
	z[n] = '\0';
	for (size_t i = 0; i < types->n && !hit; i++)
		hit = fnmatch(types->v[i], z, 0) == 0;
	if (z != small)
		free(z);
	return hit;
}

int
evt_filter_types_pass(const struct evt_filter *f, const char *t, size_t n)
{
	if (f->causes && evt_saga_emits(t, n))
		return 0;
	return f->types.n == 0 || evt_filter_type(&f->types, t, n);
}

int
evt_filter_match(const struct evt_filter *f, const struct evt_event *ev)
{
	if (f->from && ev->seq < f->from)
		return 0;
	if (f->to && ev->seq > f->to)
		return 0;
	if (f->has_since && ev->time_ms < f->since)
		return 0;
	if (f->has_until && ev->time_ms >= f->until)
		return 0;
	if (f->subjects.n && !any_equal(&f->subjects, ev->subject.p, ev->subject.n))
		return 0;
	if (f->categories.n && !any_equal(&f->categories, ev->subject.p,
	    evt_category_len(ev->subject.p, ev->subject.n)))
		return 0;
	if (f->corrs.n && !any_equal(&f->corrs, ev->corr.p, ev->corr.n))
		return 0;
	return evt_filter_types_pass(f, ev->type.p, ev->type.n);
}
