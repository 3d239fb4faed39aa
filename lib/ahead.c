/*
 * ahead.c - hash the chain ahead of the writer (ahead.h).
 *
 * One thread, started on the first batch and joined by evt_ahead_free;
 * between batches it sleeps on a condition variable. The slots of a
 * batch are written by evt_ahead_post while the thread is idle, then
 * belong to the thread, which fills in their lines, leaves and hashes in
 * order and publishes how many it has done (done, release); the writer reads a
 * slot only below that count (acquire) and never writes one. cancel asks
 * the thread to stop early; evt_ahead_end waits until it has.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "ahead.h"
#include "hmap.h"

/* Lines longer than this are left to the writer (evt_log_append may
 * assign such an event twice to measure it). */
#define LINE_MAX_AHEAD (64u << 10)
/* Smaller batches (an interactive append) are not worth the thread. */
#define BATCH_MIN 16

struct slot {
	struct evt_event *ev;
	int guessed;
	long long seq, version;	/* version: the stream's before the batch,
				 * then the guess */
	struct evt_buf line;
	unsigned char leaf[EVT_CHAIN_LEN];
	unsigned char prev[EVT_CHAIN_LEN], h[EVT_CHAIN_LEN];
	int chained;		/* prev and h hold: every guess before held */
};

struct evt_ahead {
	pthread_t thread;
	int started;
	int off;		/* not wanted, or no thread could be started */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int job, busy, quit;	/* under mu */
	struct slot *s;
	size_t n, cap;
	int64_t now;
	const char *source;
	unsigned char head[EVT_CHAIN_LEN];	/* h(first - 1), as guessed */
	atomic_size_t done;
	atomic_int cancel;
	size_t next;		/* the writer's: the next slot to take */
	struct evt_hasher *hs;	/* the thread's */
	struct evt_hmap seen;	/* the thread's: subject -> events so far */
};

static struct evt_ahead *
ahead_new(void)
{
	struct evt_ahead *a = calloc(1, sizeof(*a));

	if (a == NULL)
		abort();
	pthread_mutex_init(&a->mu, NULL);
	pthread_cond_init(&a->cv, NULL);
	atomic_init(&a->done, 0);
	atomic_init(&a->cancel, 0);
	a->hs = evt_hasher_new();
	/* With one core the thread would only take turns with the writer. */
	a->off = !evt_hash_thread_wanted(2);
	return a;
}

static void
guess(struct evt_ahead *a, size_t i)
{
	struct slot *s = &a->s[i];
	const struct evt_event *ev = s->ev;
	long long *k = evt_hmap_get(&a->seen, ev->subject.p, ev->subject.n);
	long long before = k ? *k : 0;

	evt_hmap_put(&a->seen, ev->subject.p, ev->subject.n, before + 1);
	s->chained = 0;
	if (!s->guessed)
		return;
	s->version += before + 1;
	evt_event_render(ev, s->seq, s->version, a->now, a->source, &s->line);
	evt_chain_leaf(a->hs, s->seq, s->line.p, s->line.len, s->leaf);
	/* The chain itself, along the guesses, while they all hold. */
	if (i == 0 || a->s[i - 1].chained) {
		memcpy(s->prev, i == 0 ? a->head : a->s[i - 1].h,
		    EVT_CHAIN_LEN);
		evt_chain_node(a->hs, s->prev, s->leaf, s->h);
		s->chained = 1;
	}
}

static void *
work(void *arg)
{
	struct evt_ahead *a = arg;

	pthread_mutex_lock(&a->mu);
	for (;;) {
		while (!a->job && !a->quit)
			pthread_cond_wait(&a->cv, &a->mu);
		if (a->quit)
			break;
		a->job = 0;
		a->busy = 1;
		pthread_mutex_unlock(&a->mu);
		evt_hmap_clear(&a->seen);
		for (size_t i = 0; i < a->n; i++) {
			if (atomic_load_explicit(&a->cancel,
			    memory_order_relaxed))
				break;
			guess(a, i);
			atomic_store_explicit(&a->done, i + 1,
			    memory_order_release);
		}
		pthread_mutex_lock(&a->mu);
		a->busy = 0;
		pthread_cond_broadcast(&a->cv);
	}
	pthread_mutex_unlock(&a->mu);
	return NULL;
}

void
evt_ahead_end(struct evt_ahead *a)
{
	if (a == NULL || !a->started)
		return;
	atomic_store_explicit(&a->cancel, 1, memory_order_relaxed);
	pthread_mutex_lock(&a->mu);
	a->job = 0;
	while (a->busy)
		pthread_cond_wait(&a->cv, &a->mu);
	pthread_mutex_unlock(&a->mu);
	a->n = 0;
	a->next = 0;
}

/* Start the thread, with every signal blocked: they are the main
 * thread's to take. */
static int
start(struct evt_ahead *a)
{
	sigset_t all, old;
	int rc;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&a->thread, NULL, work, a);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		a->off = 1;
		return -1;
	}
	a->started = 1;
	return 0;
}

void
evt_ahead_post(struct evt_ahead **pa, struct evt_event *const *evs, size_t n,
    long long first, evt_ahead_version_fn version, void *arg,
    const unsigned char *head, int64_t now_ms, const char *source)
{
	struct evt_ahead *a = *pa;

	if (n < BATCH_MIN)
		n = 0;
	if (a == NULL) {
		if (n == 0)
			return;
		a = *pa = ahead_new();
	}
	evt_ahead_end(a);
	if (n == 0 || a->off || (!a->started && start(a) < 0))
		return;
	if (n > a->cap) {
		struct slot *s = realloc(a->s, n * sizeof(*s));
		if (s == NULL)
			abort();
		memset(s + a->cap, 0, (n - a->cap) * sizeof(*s));
		a->s = s;
		a->cap = n;
	}
	for (size_t i = 0; i < n; i++) {
		struct slot *s = &a->s[i];
		s->ev = evs[i];
		s->guessed = evs[i]->id.p != NULL &&
		    evs[i]->linelen < LINE_MAX_AHEAD;
		s->seq = first + (long long)i;
		s->version = version(arg, evs[i]->subject.p, evs[i]->subject.n);
	}
	a->n = n;
	memcpy(a->head, head, EVT_CHAIN_LEN);
	a->now = now_ms;
	a->source = source;
	atomic_store_explicit(&a->done, 0, memory_order_relaxed);
	atomic_store_explicit(&a->cancel, 0, memory_order_relaxed);
	pthread_mutex_lock(&a->mu);
	a->job = 1;
	pthread_cond_signal(&a->cv);
	pthread_mutex_unlock(&a->mu);
}

int
evt_ahead_take(struct evt_ahead *a, const struct evt_event *ev,
    struct evt_hasher *hs, const unsigned char *prev,
    unsigned char out[EVT_CHAIN_LEN])
{
	size_t i, done;
	const struct slot *s;

	if (a == NULL)
		return 0;
	for (i = a->next; i < a->n && a->s[i].ev != ev; i++)
		;
	if (i == a->n)
		return 0;
	a->next = i + 1;
	done = atomic_load_explicit(&a->done, memory_order_acquire);
	s = &a->s[i];
	if (i >= done || !s->guessed || s->seq != ev->seq ||
	    s->line.len != ev->body.len ||
	    memcmp(s->line.p, ev->body.p, ev->body.len) != 0)
		return 0;
	if (s->chained && memcmp(s->prev, prev, EVT_CHAIN_LEN) == 0)
		memcpy(out, s->h, EVT_CHAIN_LEN);
	else
		evt_chain_node(hs, prev, s->leaf, out);
	return 1;
}

void
evt_ahead_free(struct evt_ahead *a)
{
	if (a == NULL)
		return;
	if (a->started) {
		evt_ahead_end(a);
		pthread_mutex_lock(&a->mu);
		a->quit = 1;
		pthread_cond_broadcast(&a->cv);
		pthread_mutex_unlock(&a->mu);
		pthread_join(a->thread, NULL);
	}
	for (size_t i = 0; i < a->cap; i++)
		evt_buf_free(&a->s[i].line);
	free(a->s);
	evt_hmap_free(&a->seen);
	evt_hasher_free(a->hs);
	pthread_mutex_destroy(&a->mu);
	pthread_cond_destroy(&a->cv);
	free(a);
}
