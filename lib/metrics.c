/*
 * metrics.c - a program's metrics as a node_exporter textfile (metrics.h).
 * The file itself is written by evt_write_atomic (file.c), as audit-scan
 * writes its own.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "file.h"
#include "metrics.h"

struct series {
	enum evt_metric_kind kind;
	const char *name, *help;
	char *labels;		/* `{program="...",...}`, escaped */
	const long long *v;
};

struct evt_metrics {
	char *path;
	struct evt_buf labels;	/* the labels of every series, escaped,
				 * without braces */
	struct series *s;
	size_t n, cap;
	long long last_ms;	/* monotonic time of the last write, -1: none */
	int failing;		/* the last write failed */
	struct evt_buf text;	/* reused for each write */
};

static long long
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
evt_metrics_escape(struct evt_buf *out, const char *s)
{
	for (; *s; s++) {
		if (*s == '\n')
			evt_buf_adds(out, "\\n");
		else {
			if (*s == '\\' || *s == '"')
				evt_buf_addc(out, '\\');
			evt_buf_addc(out, *s);
		}
	}
}

static void
add_label(struct evt_buf *b, const char *name, const char *value)
{
	if (b->len)
		evt_buf_addc(b, ',');
	evt_buf_printf(b, "%s=\"", name);
	evt_metrics_escape(b, value);
	evt_buf_addc(b, '"');
}

struct evt_metrics *
evt_metrics_new(const char *path, const char *program)
{
	struct evt_metrics *m = calloc(1, sizeof(*m));

	if (m == NULL)
		abort();
	m->path = evt_strdup(path);
	m->last_ms = -1;
	add_label(&m->labels, "program", program);
	return m;
}

void
evt_metrics_free(struct evt_metrics *m)
{
	if (m == NULL)
		return;
	for (size_t i = 0; i < m->n; i++)
		free(m->s[i].labels);
	free(m->s);
	free(m->path);
	evt_buf_free(&m->labels);
	evt_buf_free(&m->text);
	free(m);
}

void
evt_metrics_label(struct evt_metrics *m, const char *name, const char *value)
{
	if (m == NULL)
		return;
	add_label(&m->labels, name, value);
}

void
evt_metrics_add(struct evt_metrics *m, enum evt_metric_kind kind,
    const char *name, const char *help, const char *lname,
    const char *lvalue, const long long *v)
{
	struct evt_buf b = EVT_BUF_INIT;

	if (m == NULL)
		return;
	if (m->n == m->cap) {
		m->cap = m->cap ? 2 * m->cap : 16;
		if ((m->s = realloc(m->s, m->cap * sizeof(*m->s))) == NULL)
			abort();
	}
	evt_buf_addc(&b, '{');
	evt_buf_add(&b, m->labels.p, m->labels.len);
	if (lname) {
		struct evt_buf l = EVT_BUF_INIT;
		add_label(&l, lname, lvalue);
		evt_buf_addc(&b, ',');
		evt_buf_add(&b, l.p, l.len);
		evt_buf_free(&l);
	}
	evt_buf_addc(&b, '}');
	m->s[m->n++] = (struct series){ kind, name, help, b.p, v };
}

void
evt_metrics_format(const struct evt_metrics *m, struct evt_buf *out)
{
	if (m == NULL)
		return;
	/* A family once, with all its series, wherever they were added:
	 * the format wants them together. A few dozen series: n^2 is
	 * nothing. */
	for (size_t i = 0; i < m->n; i++) {
		size_t j;
		for (j = 0; j < i && strcmp(m->s[j].name, m->s[i].name); j++)
			;
		if (j < i)
			continue;
		evt_buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", m->s[i].name,
		    m->s[i].help, m->s[i].name,
		    m->s[i].kind == EVT_METRIC_COUNTER ? "counter" : "gauge");
		for (j = i; j < m->n; j++)
			if (strcmp(m->s[j].name, m->s[i].name) == 0)
				evt_buf_printf(out, "%s%s %lld\n", m->s[j].name,
				    m->s[j].labels, *m->s[j].v);
	}
}

int
evt_metrics_write(struct evt_metrics *m, struct evt_err *err)
{
	if (m == NULL)
		return 0;
	m->last_ms = mono_ms();
	evt_buf_reset(&m->text);
	evt_metrics_format(m, &m->text);
	/* 0644: node_exporter runs as a user of its own. */
	m->failing = evt_write_atomic(m->path, m->text.p ? m->text.p : "",
	    m->text.len, 0644, err) < 0;
	return m->failing ? -1 : 0;
}

int
evt_metrics_tick(struct evt_metrics *m, struct evt_err *err)
{
	if (m == NULL || (m->last_ms >= 0 &&
	    mono_ms() - m->last_ms < EVT_METRICS_INTERVAL_MS))
		return 0;
	int was = m->failing;
	if (evt_metrics_write(m, err) < 0 && !was)
		return -1;
	return 0;
}

static struct evt_metrics *at_exit;

static void
write_at_exit(void)
{
	struct evt_err err;

	evt_metrics_write(at_exit, &err);
	evt_metrics_free(at_exit);
	at_exit = NULL;
}

void
evt_metrics_at_exit(struct evt_metrics *m)
{
	if (m == NULL)
		return;
	if (at_exit == NULL)
		atexit(write_at_exit);
	else
		evt_metrics_free(at_exit);
	at_exit = m;
}
