#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "feed.h"
#include "lines.h"

/* Small batches, a few of them: a batch the writer takes is still in the
 * cache the two cores share (4096-event batches were slower, measured),
 * and the slower side sets the pace either way. */
#define NBATCH 4
#define BATCH_BYTES (1u << 20)

struct evt_feed {
	pthread_t reader, consumer;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct evt_lines in;
	struct evt_feed_batch b[NBATCH];
	int state[NBATCH];	/* FREE, FULL (to the consumer), HELD */
	size_t fill, take;	/* next batch to fill, to take (round robin) */
	int stop, running;
	atomic_int intr;	/* a signal came: see evt_feed_next */
	atomic_int sig;		/* which */
};

enum { FREE, FULL, HELD };

static struct evt_feed_item *
new_item(struct evt_feed_batch *b)
{
	if (b->n == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 64;
		b->items = realloc(b->items, cap * sizeof(*b->items));
		if (b->items == NULL)
			abort();
		memset(b->items + b->cap, 0, (cap - b->cap) * sizeof(*b->items));
		b->cap = cap;
	}
	return &b->items[b->n++];
}

/* Read lines into b until it is full, the input pauses or ends. */
static void
fill_batch(struct evt_feed *f, struct evt_feed_batch *b, int *paused)
{
	const char *line;
	size_t len;
	int rc;
	struct evt_err err;

	for (;;) {
		if (b->n >= EVT_FEED_BATCH || b->text.len >= BATCH_BYTES)
			return;
		/* A signal: what was parsed goes to the writer, no more. */
		if (f->intr) {
			b->fail = 1;
			evt_err_set(&b->err, EX_TEMPFAIL, "interrupted");
			return;
		}
		/* Hand over before waiting, so the consumer never holds the
		 * log while the input is idle (once per pause is enough). */
		if (!evt_lines_ready(&f->in) && (b->n > 0 || !*paused)) {
			b->pause = 1;
			return;
		}
		/* A blocking read is where evt_feed_stop may end us. */
		pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, NULL);
		rc = evt_lines_next(&f->in, &line, &len, &err);
		pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
		if (rc == 0) {
			b->end = 1;
			return;
		}
		if (rc < 0 && err.code != EX_DATAERR) {
			b->fail = 1;
			b->err = err;
			return;
		}
		*paused = 0;
		if (rc < 0) {
			/* Over-long: skipped by evt_lines, kept as bad here. */
			struct evt_feed_item *it = new_item(b);
			it->ok = 0;
			it->lineno = f->in.lineno;
			it->line = NULL;
			it->len = 0;
			it->err = err;
			continue;
		}
		/* Blank lines separate nothing in NDJSON; skip them like jq. */
		if (strspn(line, " \t\r") >= len)
			continue;
		struct evt_feed_item *it = new_item(b);
		it->lineno = f->in.lineno;
		/* The offset now, the pointer once the text stops moving. */
		it->line = line;
		it->off = b->text.len;
		it->len = len;
		evt_buf_add(&b->text, line, len);
		it->ok = evt_event_parse(&it->ev, line, len, 1, &it->err) == 0;
	}
}

static void *
reader(void *arg)
{
	struct evt_feed *f = arg;
	int paused = 0, last = 0;

	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
	while (!last) {
		pthread_mutex_lock(&f->mu);
		while (!f->stop && f->state[f->fill] != FREE)
			pthread_cond_wait(&f->cv, &f->mu);
		if (f->stop) {
			pthread_mutex_unlock(&f->mu);
			break;
		}
		struct evt_feed_batch *b = &f->b[f->fill];
		pthread_mutex_unlock(&f->mu);
		b->n = 0;
		b->pause = b->end = b->fail = 0;
		evt_buf_reset(&b->text);
		fill_batch(f, b, &paused);
		if (b->pause)
			paused = 1;
		for (size_t i = 0; i < b->n; i++) {
			struct evt_feed_item *it = &b->items[i];
			if (it->line) {
				it->line = b->text.p + it->off;
				it->ev.line = it->line;
			}
		}
		last = b->end || b->fail;
		pthread_mutex_lock(&f->mu);
		f->state[f->fill] = FULL;
		f->fill = (f->fill + 1) % NBATCH;
		pthread_cond_broadcast(&f->cv);
		pthread_mutex_unlock(&f->mu);
	}
	return NULL;
}

struct evt_feed *
evt_feed_start(int fd)
{
	struct evt_feed *f = calloc(1, sizeof(*f));

	if (f == NULL)
		abort();
	pthread_mutex_init(&f->mu, NULL);
	pthread_cond_init(&f->cv, NULL);
	evt_lines_init(&f->in, fd);
	f->consumer = pthread_self();
	if (pthread_create(&f->reader, NULL, reader, f) != 0)
		abort();
	f->running = 1;
	return f;
}

struct evt_feed_batch *
evt_feed_next(struct evt_feed *f)
{
	struct evt_feed_batch *b;

	pthread_mutex_lock(&f->mu);
	while (f->state[f->take] != FULL) {
		/* A signal may have reached the reader just before it began
		 * to wait for input, and then not have interrupted that wait:
		 * pass it on again, now and then, until the reader answers
		 * (it hands over what it parsed, marked fail). */
		if (f->intr && f->sig)
			pthread_kill(f->reader, f->sig);
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 50000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&f->cv, &f->mu, &ts);
	}
	f->state[f->take] = HELD;
	b = &f->b[f->take];
	f->take = (f->take + 1) % NBATCH;
	pthread_mutex_unlock(&f->mu);
	return b;
}

void
evt_feed_done(struct evt_feed *f, struct evt_feed_batch *b)
{
	pthread_mutex_lock(&f->mu);
	f->state[b - f->b] = FREE;
	pthread_cond_broadcast(&f->cv);
	pthread_mutex_unlock(&f->mu);
}

void
evt_feed_stop(struct evt_feed *f)
{
	if (f == NULL)
		return;
	pthread_mutex_lock(&f->mu);
	f->stop = 1;
	pthread_cond_broadcast(&f->cv);
	pthread_mutex_unlock(&f->mu);
	/* The reader has ended (its last batch was marked end or fail),
	 * or sees stop when it waits for a free batch; one that waits for
	 * input (the writer stops early: an error) is cancelled there. */
	pthread_cancel(f->reader);
	pthread_join(f->reader, NULL);
	f->running = 0;
	for (int i = 0; i < NBATCH; i++) {
		for (size_t k = 0; k < f->b[i].cap; k++)
			evt_event_free(&f->b[i].items[k].ev);
		free(f->b[i].items);
		evt_buf_free(&f->b[i].text);
	}
	evt_lines_free(&f->in);
	pthread_cond_destroy(&f->cv);
	pthread_mutex_destroy(&f->mu);
	free(f);
}

void
evt_feed_forward(struct evt_feed *f, int sig)
{
	if (f == NULL || !f->running)
		return;
	f->sig = sig;
	f->intr = 1;
	pthread_kill(pthread_equal(pthread_self(), f->reader) ? f->consumer :
	    f->reader, sig);
}
