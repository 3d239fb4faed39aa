/*
 * chain_file.c - the sidecar LOG.chain of a file log (see chain_file.h).
 *
 * Hashing off the appending thread (issue 15: chaining must cost an
 * append under 5%; two SHA-256 an event inline cost a durable append of
 * 1M events 21%, with the worker 10%: best of 3, 3.13 and 2.76 s against
 * 2.47 s without the chain, on this project's 2-core VM, before
 * evt-append parsed on a thread of its own; since then the worker is
 * used only with a third core, see want_worker). The first
 * INLINE_MAX events of a transaction are hashed as they are added, so a
 * small transaction (one interactive append) pays no thread. From the
 * next one on, the lines are copied into chunks (the caller's buffer may
 * move: log_file.c reallocs it) and handed, a chunk at a time, to a
 * worker thread that hashes them in seq order while the appender goes on
 * formatting events. The worker is started on first need and joined by
 * evt_chain_file_free; between transactions it sleeps on a condition
 * variable. cf->head, cf->recs and the early writes below belong to the
 * worker from the first hand-over of a transaction until commit or
 * rollback has waited for it to be idle (the mutex orders the two
 * threads' accesses). Memory: the chunks of one transaction at most, and
 * FREE_MAX spare ones kept for the next.
 *
 * The worker also writes the records it makes to the sidecar as it goes,
 * after the committed ones and not durably: copying them into the page
 * cache cost the appending thread as much again as the hashing left to it
 * (measured). They are records beyond the log's last line, which readers
 * ignore and the next writer cuts (chain_file.h), until commit makes them
 * durable, before the transaction's lines are written, as ever; a
 * rollback cuts them at once. The bytes are those an inline chain writes.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "chain.h"
#include "chain_file.h"

#define REC (2 * EVT_CHAIN_LEN + 1)	/* 64 hex digits and a newline */

#define INLINE_MAX 255		/* events of a transaction hashed inline */
#define CHUNK (256u << 10)	/* bytes of lines handed over at a time */
#define FREE_MAX 4		/* spare chunks kept */

/* A line in a chunk: this header (copied in and out with memcpy, so it
 * needs no alignment), then its len bytes. */
struct line_hdr {
	long long seq;
	size_t len;
};

/* Lines copied for the worker; a chunk never moves once filled. */
struct chunk {
	struct chunk *next;
	size_t size, len;	/* of data */
	char data[];
};

/* The worker thread and what it shares with the appender, under mu. */
struct worker {
	pthread_t thread;
	pid_t pid;		/* of the process that started it */
	pthread_mutex_t mu;
	pthread_cond_t work;	/* to the worker: a chunk queued, or quit */
	pthread_cond_t idle;	/* to the appender: the queue is done */
	struct chunk *q, **qtail;	/* handed over, in seq order */
	struct chunk *spare;	/* up to FREE_MAX chunks of CHUNK bytes */
	int nspare;
	int busy;		/* hashing a chunk taken off q (unlocked) */
	int sleeping;		/* waiting on work */
	int waiting;		/* the appender waits on idle */
	int quit;
	struct evt_hasher *hs;	/* the worker's own */
	struct evt_chain_file *cf;
};

struct evt_chain_file {
	int fd;
	char *path;
	struct evt_hasher *hs;
	unsigned char head[EVT_CHAIN_LEN];	/* of the open transaction */
	struct evt_buf recs;			/* its records, not yet written */
	off_t base;		/* where its records go: after the committed */
	off_t done;		/* bytes of them written early (worker) */
	int wr_errno;		/* an early write failed: why */
	long long n;		/* events added to the open transaction */
	struct chunk *cur;	/* lines not yet handed over */
	struct worker *w;	/* NULL until first needed */
	int nothread;		/* no worker (want_worker, or none could be
				 * started): all inline */
};

static int
unhex(const char *s, unsigned char *out)
{
	for (int i = 0; i < 2 * EVT_CHAIN_LEN; i++) {
		int c = s[i], v;
		if (c >= '0' && c <= '9')
			v = c - '0';
		else if (c >= 'a' && c <= 'f')
			v = c - 'a' + 10;
		else
			return -1;
		if (i % 2 == 0)
			out[i / 2] = (unsigned char)(v << 4);
		else
			out[i / 2] |= (unsigned char)v;
	}
	return s[2 * EVT_CHAIN_LEN] == '\n' ? 0 : -1;
}

static void
add_rec(struct evt_buf *b, const unsigned char *h)
{
	char hex[2 * EVT_CHAIN_LEN + 1];

	evt_chain_hex(h, hex);
	evt_buf_add(b, hex, 2 * EVT_CHAIN_LEN);
	evt_buf_addc(b, '\n');
}

static int
cferr(struct evt_chain_file *cf, struct evt_err *err, const char *what)
{
	return evt_err_set(err, EX_IOERR, "%s: %s: %s", cf->path, what,
	    strerror(errno));
}

/* Read record k (1-based) into h. Returns 0, or -1 with err. */
static int
read_rec(struct evt_chain_file *cf, long long k, unsigned char *h,
    struct evt_err *err)
{
	char buf[REC];

	if (pread(cf->fd, buf, REC, (off_t)(k - 1) * REC) != REC)
		return cferr(cf, err, "read");
	if (unhex(buf, h) < 0)
		return evt_err_set(err, EX_IOERR, "%s: corrupt record for seq "
		    "%lld (run evt-verify)", cf->path, k);
	return 0;
}

/* Chain the lines after record n up to record last, from the log. */
static int
fill(struct evt_chain_file *cf, int logfd, off_t end, long long n,
    long long last, int nosync, struct evt_err *err)
{
	unsigned char h[EVT_CHAIN_LEN];
	struct evt_buf b = EVT_BUF_INIT;
	char *p;
	off_t off = 0;
	long long k = 0;
	int rc = -1;

	memset(h, 0, sizeof(h));
	if (n > 0 && read_rec(cf, n, h, err) < 0)
		return -1;
	p = mmap(NULL, (size_t)end, PROT_READ, MAP_SHARED, logfd, 0);
	if (p == MAP_FAILED)
		return cferr(cf, err, "mmap the log");
	while (off < end && k < last) {
		const char *s = p + off, *nl = memchr(s, '\n', (size_t)(end - off));
		size_t len;
		if (nl == NULL)
			break;
		len = (size_t)(nl - s);
		off += (off_t)len + 1;
		if (++k <= n)
			continue;
		evt_chain_step(cf->hs, h, k, s, len, h);
		add_rec(&b, h);
	}
	munmap(p, (size_t)end);
	if (k != last) {
		evt_err_set(err, EX_IOERR, "%s: the log has %lld lines, not %lld",
		    cf->path, k, last);
		goto out;
	}
	if (pwrite(cf->fd, b.p, b.len, (off_t)n * REC) != (ssize_t)b.len ||
	    (!nosync && fdatasync(cf->fd) < 0)) {
		cferr(cf, err, "write");
		goto out;
	}
	rc = 0;
out:
	evt_buf_free(&b);
	return rc;
}

/*
 * Whether a line of the log in logfd[0..end) records an earlier chaining:
 * an event of subject EVT_CHAIN_SUBJECT (log.h). A stored line is compact
 * with subject before data and every quote inside a string escaped, so
 * the first "subject": is the envelope's. Returns 1, 0, or -1 with err.
 */
static int
has_record(struct evt_chain_file *cf, int logfd, off_t end,
    struct evt_err *err)
{
	static const char key[] = "\"subject\":";
	static const char want[] = "\"" EVT_CHAIN_SUBJECT "\"";
	const char *p, *s, *e, *nl, *k;
	int found = 0;

	if (end == 0)
		return 0;
	p = mmap(NULL, (size_t)end, PROT_READ, MAP_SHARED, logfd, 0);
	if (p == MAP_FAILED)
		return cferr(cf, err, "mmap the log");
	for (s = p, e = p + end; s < e && !found; s = nl + 1) {
		if ((nl = memchr(s, '\n', (size_t)(e - s))) == NULL)
			nl = e;
		k = memmem(s, (size_t)(nl - s), key, sizeof(key) - 1);
		found = k && (size_t)(nl - k) >= sizeof(key) + sizeof(want) - 2 &&
		    memcmp(k + sizeof(key) - 1, want, sizeof(want) - 1) == 0;
	}
	munmap((void *)p, (size_t)end);
	return found;
}

/* --- the worker ---------------------------------------------------------- */

/* Hash the lines of c into cf->head and cf->recs, in order. */
static void
hash_chunk(struct evt_chain_file *cf, struct evt_hasher *hs,
    const struct chunk *c)
{
	size_t off = 0;

	while (off < c->len) {
		struct line_hdr h;

		memcpy(&h, c->data + off, sizeof(h));
		off += sizeof(h);
		evt_chain_step(hs, cf->head, h.seq, c->data + off, h.len,
		    cf->head);
		add_rec(&cf->recs, cf->head);
		off += h.len;
	}
}

/* Write the records made so far after those written before (see the top
 * of this file); a failure is kept for commit to report. */
static void
write_early(struct evt_chain_file *cf)
{
	size_t off = 0;

	/* A short write is retried, so that a full disk says so. */
	while (cf->wr_errno == 0 && off < cf->recs.len) {
		ssize_t w = pwrite(cf->fd, cf->recs.p + off, cf->recs.len - off,
		    cf->base + cf->done + (off_t)off);
		if (w < 0)
			cf->wr_errno = errno;
		else
			off += (size_t)w;
	}
	cf->done += (off_t)cf->recs.len;
	evt_buf_reset(&cf->recs);
}

/* Keep c as a spare, or free it. Under w->mu, or with no worker. */
static void
put_chunk(struct worker *w, struct chunk *c)
{
	if (w && c->size == CHUNK && w->nspare < FREE_MAX) {
		c->next = w->spare;
		w->spare = c;
		w->nspare++;
	} else
		free(c);
}

/* A chunk that holds at least need bytes: a spare one when it is enough,
 * else a new one. Under w->mu, or with no worker. */
static struct chunk *
get_chunk(struct worker *w, size_t need)
{
	struct chunk *c;

	if (need <= CHUNK && w && w->spare) {
		c = w->spare;
		w->spare = c->next;
		w->nspare--;
	} else {
		size_t size = need > CHUNK ? need : CHUNK;
		if ((c = malloc(sizeof(*c) + size)) == NULL)
			abort();
		c->size = size;
	}
	c->next = NULL;
	c->len = 0;
	return c;
}

static void *
work(void *arg)
{
	struct worker *w = arg;
	struct sched_param sp = { 0 };

	/* Woken at each hand-over, it must not preempt the appender when
	 * both share a core (a loaded machine): SCHED_BATCH keeps its share
	 * but gives up wakeup preemption (a trial, 1M events, a CPU hog on
	 * the other core, two runs each: the appender switched out 1338 and
	 * 1558 times, 3.0 and 6.2 s; as SCHED_BATCH 176 and 681, 3.0, 3.3 s). */
	(void)pthread_setschedparam(pthread_self(), SCHED_BATCH, &sp);
	pthread_mutex_lock(&w->mu);
	while (!w->quit) {
		struct chunk *c = w->q;
		if (c == NULL) {
			w->sleeping = 1;
			pthread_cond_wait(&w->work, &w->mu);
			w->sleeping = 0;
			continue;
		}
		if ((w->q = c->next) == NULL)
			w->qtail = &w->q;
		w->busy = 1;
		pthread_mutex_unlock(&w->mu);
		hash_chunk(w->cf, w->hs, c);
		write_early(w->cf);
		pthread_mutex_lock(&w->mu);
		w->busy = 0;
		put_chunk(w, c);
		if (w->q == NULL && w->waiting)
			pthread_cond_signal(&w->idle);
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

/*
 * Start the worker. It blocks every signal, so that a SIGTERM or SIGINT
 * still reaches (and interrupts) the appending thread. Returns 0, or -1
 * when no thread can be had (then everything is hashed inline).
 */
static int
start_worker(struct evt_chain_file *cf)
{
	struct worker *w;
	sigset_t all, old;
	int rc;

	if ((w = calloc(1, sizeof(*w))) == NULL)
		abort();
	w->pid = getpid();
	w->qtail = &w->q;
	w->hs = evt_hasher_new();
	w->cf = cf;
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->work, NULL);
	pthread_cond_init(&w->idle, NULL);
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&w->thread, NULL, work, w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		pthread_cond_destroy(&w->idle);
		pthread_cond_destroy(&w->work);
		pthread_mutex_destroy(&w->mu);
		evt_hasher_free(w->hs);
		free(w);
		return -1;
	}
	cf->w = w;
	return 0;
}

/*
 * Whether to hash on a worker thread: it pays only with a core of its own.
 * An appender and evt-append's reader thread keep two busy, and on this
 * project's 2-core machine the worker made a 1M-event durable append
 * slower (median of 5: 2.67 s, against 2.07 s hashing inline).
 * EVT_HASH_THREAD=1 or 0 decides instead (evt(7); the tests run both).
 */
static int
want_worker(void)
{
	return evt_hash_thread_wanted(3);
}

/*
 * Hand cf->cur over to the worker (started if need be), and make cf->cur a
 * chunk for at least need more bytes (none when need is 0). Without a
 * worker, the lines are hashed here.
 */
static void
hand_over(struct evt_chain_file *cf, size_t need)
{
	struct worker *w;

	if (cf->w == NULL && !cf->nothread && start_worker(cf) < 0)
		cf->nothread = 1;
	if ((w = cf->w) == NULL) {
		hash_chunk(cf, cf->hs, cf->cur);
		put_chunk(NULL, cf->cur);
		cf->cur = need ? get_chunk(NULL, need) : NULL;
		return;
	}
	pthread_mutex_lock(&w->mu);
	*w->qtail = cf->cur;
	w->qtail = &cf->cur->next;
	if (w->sleeping)
		pthread_cond_signal(&w->work);
	cf->cur = need ? get_chunk(w, need) : NULL;
	pthread_mutex_unlock(&w->mu);
}

/*
 * Wait until the worker has hashed everything handed over; with drop,
 * drop what it has not started on first. Afterwards cf->head and cf->recs
 * are the appender's again.
 */
static void
wait_idle(struct evt_chain_file *cf, int drop)
{
	struct worker *w = cf->w;

	if (w == NULL)
		return;
	pthread_mutex_lock(&w->mu);
	while (drop && w->q) {
		struct chunk *c = w->q;
		w->q = c->next;
		put_chunk(w, c);
	}
	if (w->q == NULL)
		w->qtail = &w->q;
	while (w->q || w->busy) {
		w->waiting = 1;
		pthread_cond_wait(&w->idle, &w->mu);
	}
	w->waiting = 0;
	pthread_mutex_unlock(&w->mu);
}

/* Stop and join the worker; what it was given is dropped. */
static void
stop_worker(struct evt_chain_file *cf)
{
	struct worker *w = cf->w;

	if (w == NULL)
		return;
	pthread_mutex_lock(&w->mu);
	w->quit = 1;
	pthread_cond_signal(&w->work);
	pthread_mutex_unlock(&w->mu);
	pthread_join(w->thread, NULL);
	while (w->q) {
		struct chunk *c = w->q;
		w->q = c->next;
		free(c);
	}
	while (w->spare) {
		struct chunk *c = w->spare;
		w->spare = c->next;
		free(c);
	}
	pthread_cond_destroy(&w->idle);
	pthread_cond_destroy(&w->work);
	pthread_mutex_destroy(&w->mu);
	evt_hasher_free(w->hs);
	free(w);
	cf->w = NULL;
}

/* Forget the open transaction's records, and lines not yet hashed; cut
 * those written early (should the cut fail, the next writer's begin cuts
 * them, as after a crash). */
static void
forget(struct evt_chain_file *cf)
{
	wait_idle(cf, 1);
	if (cf->cur) {
		put_chunk(NULL, cf->cur);
		cf->cur = NULL;
	}
	if (cf->done > 0)
		(void)ftruncate(cf->fd, cf->base);
	cf->n = 0;
	cf->done = 0;
	cf->wr_errno = 0;
	evt_buf_reset(&cf->recs);
}

/* --- the sidecar --------------------------------------------------------- */

int
evt_chain_file_begin(struct evt_chain_file **pcf, const char *logpath,
    int logfd, off_t end, long long last, long long rechain_from,
    long long *chained_now, int nosync, struct evt_err *err)
{
	struct evt_chain_file *cf = *pcf;
	struct stat st;
	long long n;

#ifdef EVT_BENCH_NO_CHAIN
	return 0;	/* the bench's baseline: no chain at all (Makefile) */
#endif
	if (cf == NULL) {
		if ((cf = calloc(1, sizeof(*cf))) == NULL)
			abort();
		if (asprintf(&cf->path, "%s.chain", logpath) < 0)
			abort();
		cf->fd = -1;
		cf->hs = evt_hasher_new();
		cf->nothread = !want_worker();
		*pcf = cf;
	}
	/* A thread does not survive fork(2): a child (evt programs never
	 * fork with a log open) leaves its parent's worker alone. */
	if (cf->w && cf->w->pid != getpid())
		cf->w = NULL;
	forget(cf);
	if (cf->fd < 0 && (cf->fd = open(cf->path, O_RDWR | O_CREAT |
	    O_NOFOLLOW | O_CLOEXEC, 0600)) < 0)
		return cferr(cf, err, "open");
	if (fstat(cf->fd, &st) < 0)
		return cferr(cf, err, "stat");
	n = (long long)(st.st_size / REC);
	if (n > last)
		n = last;
	if (rechain_from > 0 && n > rechain_from - 1)
		n = rechain_from - 1;	/* the operator's repair: from there */
	/* Records beyond the log (a transaction that never committed, a
	 * torn record): cut them, as the log's torn tail was cut. */
	if (st.st_size != (off_t)n * REC &&
	    (ftruncate(cf->fd, (off_t)n * REC) < 0 ||
	    (!nosync && fdatasync(cf->fd) < 0)))
		return cferr(cf, err, "cut records beyond the log");
	/*
	 * Lines without records. A writer chains only a log none of whose
	 * lines has one and which records no earlier chaining (made by an
	 * earlier evt), once, in place; in a chained log they are
	 * tampering (or a --no-sync sidecar lost in a crash), which a
	 * writer does not repair (log_impl.h, issue 22).
	 */
	if (n < last && rechain_from == 0) {
		int rec = n > 0 ? 0 : has_record(cf, logfd, end, err);
		if (rec < 0)
			return -1;
		if (n > 0 || rec)
			return evt_err_set(err, EX_IOERR, "%s: seq %lld: hash "
			    "missing in a chained log (%s); a writer does not "
			    "repair a chain: see evt-verify --rechain", logpath, n + 1,
			    n > 0 ? "the chain ends before it" :
			    "every hash removed");
		*chained_now = last;
	}
	if (n < last && fill(cf, logfd, end, n, last, nosync, err) < 0)
		return -1;
	memset(cf->head, 0, sizeof(cf->head));
	if (last > 0 && read_rec(cf, last, cf->head, err) < 0)
		return -1;
	cf->base = (off_t)last * REC;
	return 0;
}

void
evt_chain_file_add(struct evt_chain_file *cf, long long seq, const char *line,
    size_t len)
{
	struct line_hdr h = { seq, len };
	size_t need = sizeof(h) + len;

#ifdef EVT_BENCH_NO_CHAIN
	return;
#endif
	if (cf->n++ < INLINE_MAX || cf->nothread) {
		evt_chain_step(cf->hs, cf->head, seq, line, len, cf->head);
		add_rec(&cf->recs, cf->head);
		return;
	}
	if (cf->cur == NULL && cf->w) {
		pthread_mutex_lock(&cf->w->mu);
		cf->cur = get_chunk(cf->w, need);
		pthread_mutex_unlock(&cf->w->mu);
	} else if (cf->cur == NULL)
		cf->cur = get_chunk(NULL, need);
	else if (cf->cur->size - cf->cur->len < need)
		hand_over(cf, need);
	memcpy(cf->cur->data + cf->cur->len, &h, sizeof(h));
	memcpy(cf->cur->data + cf->cur->len + sizeof(h), line, len);
	cf->cur->len += need;
}

int
evt_chain_file_commit(struct evt_chain_file *cf, long long last, int nosync,
    struct evt_err *err)
{
#ifdef EVT_BENCH_NO_CHAIN
	return 0;
#endif
	if (cf->cur)
		hand_over(cf, 0);
	wait_idle(cf, 0);
	if (cf->wr_errno) {
		errno = cf->wr_errno;
		return cferr(cf, err, "write");
	}
	cf->n = 0;
	if (cf->recs.len == 0 && cf->done == 0)
		return 0;
	/* After the last committed record: cf->base, set by begin from the
	 * same last. */
	if ((cf->recs.len && pwrite(cf->fd, cf->recs.p, cf->recs.len,
	    cf->base + cf->done) != (ssize_t)cf->recs.len) ||
	    (!nosync && fdatasync(cf->fd) < 0))
		return cferr(cf, err, "write");
	cf->done = 0;
	evt_buf_reset(&cf->recs);
	return 0;
}

void
evt_chain_file_rollback(struct evt_chain_file *cf)
{
	if (cf)
		forget(cf);
}

void
evt_chain_file_free(struct evt_chain_file *cf)
{
	if (cf == NULL)
		return;
	if (cf->w && cf->w->pid == getpid())
		stop_worker(cf);
	free(cf->cur);
	if (cf->fd >= 0)
		close(cf->fd);
	free(cf->path);
	evt_hasher_free(cf->hs);
	evt_buf_free(&cf->recs);
	free(cf);
}

int
evt_chain_file_read(const char *logpath, const char *p, off_t end,
    long long after, int *chained, evt_chain_fn fn, void *arg,
    struct evt_err *err)
{
	char *path, *r = NULL;
	struct stat st;
	size_t rsize = 0;
	off_t off = 0;
	long long k = 0;
	int fd, ret = 0;

	if (asprintf(&path, "%s.chain", logpath) < 0)
		abort();
	*chained = 1;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && errno != ENOENT) {
		ret = evt_err_set(err, EX_IOERR, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (fd < 0)
		*chained = 0;
	else {
		if (fstat(fd, &st) < 0) {
			ret = evt_err_set(err, EX_IOERR, "%s: %s", path,
			    strerror(errno));
			goto out;
		}
		rsize = (size_t)st.st_size;
		if (rsize && (r = mmap(NULL, rsize, PROT_READ, MAP_SHARED, fd,
		    0)) == MAP_FAILED) {
			r = NULL;
			ret = evt_err_set(err, EX_IOERR, "%s: mmap: %s", path,
			    strerror(errno));
			goto out;
		}
	}
	while (off < end) {
		const char *s = p + off, *nl = memchr(s, '\n', (size_t)(end - off));
		unsigned char h[EVT_CHAIN_LEN];
		int has = 0;
		size_t len = (size_t)(nl - s);
		long long seq;

		off += (off_t)len + 1;
		k++;
		if ((seq = evt_chain_line_seq(s, len)) < 0)
			seq = k;	/* unreadable: take its place */
		if (seq <= after)
			continue;
		if ((size_t)k * REC <= rsize && unhex(r + (k - 1) * REC, h) == 0)
			has = 1;
		int cr = fn(arg, seq, s, len, has ? h : NULL);
		if (cr < 0)
			ret = -1;
		if (cr != 0)
			break;
	}
out:
	if (r)
		munmap(r, rsize);
	if (fd >= 0)
		close(fd);
	free(path);
	return ret;
}
