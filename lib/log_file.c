/*
 * log_file.c - the NDJSON file backend: one stored event per line, in seq
 * order, appended under flock(2).
 *
 * A writer holds LOCK_EX for a whole transaction and writes it with one
 * write(2) of all its lines, then fdatasync(2)s. Readers take LOCK_SH just
 * long enough to learn the committed size, so they never see a transaction
 * being written; then they read without a lock. A crash can leave a torn
 * last line: readers ignore a last line without its newline, and the next
 * writer cuts it off before appending.
 *
 * A transaction of several lines first records its extent, "START END",
 * durably in LOG.txn; a file whose size lies strictly between the two is a
 * transaction cut short (crash, full disk), and readers stop at START. The
 * record is cleared after the commit, and any record found by the next
 * writer is dealt with (the cut-short transaction cut off) and cleared,
 * durably, before that writer appends a byte: a record left behind must
 * never hide events committed after it. A commit that fails (write or
 * fsync) cuts its own lines off again before it lets go of the lock, so a
 * failed append is never visible and a retry never stores it twice.
 *
 * LOG.txn also keeps the chain's head (issue 22), "START END HEAD": the
 * last seq committed, written after the commit's fdatasync (not itself
 * synced), so it never names a line the disk may not hold: a crash leaves
 * it at or behind the log. A head past the last line is events deleted
 * from the end: evt-verify says the log is truncated, and a writer
 * refuses to append (only evt-verify --rechain moves the head back). A
 * writer with --no-sync leaves the head where it was, since its lines may
 * not outlive a power cut. A log without a line is a new log, whatever
 * LOG.txn says (a log removed and made again, its LOG.txn left behind).
 * A LOG.txn of two numbers (an earlier evt) keeps no head; one rewritten
 * by an earlier evt keeps a head behind the log.
 *
 * Readers learn, under the lock, where the last complete line ends and map
 * only that far: the torn tail after it is what a writer may cut off while
 * they read, and touching a page cut off under a mapping is SIGBUS.
 *
 * A writer must know the last seq, every stream's version and every stored
 * id. It learns them by reading the file once, then only what other writers
 * added since (the file only grows), so memory grows with the log: the
 * price of a log that is a plain file. SQLite is the backend for large logs.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "chain_file.h"
#include "clock.h"
#include "hmap.h"
#include "log_impl.h"

#ifdef EVT_BENCH_NO_CHAIN
#define NO_CHAIN 1	/* the bench's baseline: no chain at all (Makefile) */
#else
#define NO_CHAIN 0
#endif

struct file_log {
	struct evt_log base;
	int fd;
	int mfd;		/* LOG.txn, the open transaction's extent */
	int writable;
	off_t known;		/* bytes of the file folded into the state */
	long long last;		/* last seq in the state */
	struct evt_hmap ids, versions;
	struct evt_buf txn;	/* lines of the open transaction */
	long long txn_last;	/* last seq including the open transaction */
	long long txn_lines;
	int dirty;		/* state has uncommitted changes: rebuild */
	struct evt_event ev;	/* scratch for reading stored lines */
	long long rd_seq;	/* a read position remembered for --follow */
	off_t rd_off;
	struct evt_chain_file *chain;	/* issue 15: the sidecar LOG.chain */
	long long hrec;		/* issue 22: the head in LOG.txn, as last read
				 * (under the lock) or written; 0: none */
	json_t *staged;		/* checkpoints set in the open transaction */
};

/* What the id table keeps of an event: a hash of its type, so that an
 * id met again with another type is told from a repeat. */
static long long
type_tag(const struct evt_event *ev)
{
	return (long long)evt_hash(ev->type.p, ev->type.n);
}

/* A signal (SIGTERM while waiting for the lock) or a busy answer is worth
 * retrying (75); anything else is the storage (74). */
static int
syserr(struct file_log *l, struct evt_err *err, const char *what)
{
	if (errno == EINTR)
		return evt_err_set(err, EX_TEMPFAIL, "%s: %s: interrupted",
		    l->base.path, what);
	return evt_err_set(err, errno == EAGAIN || errno == EWOULDBLOCK ?
	    EX_TEMPFAIL : EX_IOERR, "%s: %s: %s", l->base.path, what,
	    strerror(errno));
}

static void
fl_close(struct evt_log *base)
{
	struct file_log *l = (struct file_log *)base;

	/* issue 15: its worker thread is joined before the lock goes with
	 * the descriptor, so it never writes the sidecar unlocked. */
	evt_chain_file_free(l->chain);
	if (l->fd >= 0)
		close(l->fd);
	if (l->mfd >= 0)
		close(l->mfd);
	evt_hmap_free(&l->ids);
	evt_hmap_free(&l->versions);
	evt_buf_free(&l->txn);
	evt_event_free(&l->ev);
	json_decref(l->staged);
	evt_log_fini(base);
	free(l);
}

static struct evt_log *
fl_open(const char *path, int flags, struct evt_err *err)
{
	struct file_log *l = calloc(1, sizeof(*l));
	int oflags = O_RDWR | O_APPEND | O_CLOEXEC;

	if (l == NULL)
		abort();
	evt_log_init(&l->base, &evt_log_file_ops, path, flags);
	l->mfd = -1;
	/* 0600: the events carry payment and personal data (DESIGN §3).
	 * A log that is there is opened through a link to it, as any; a
	 * new one is made only under its own name (O_EXCL follows no link):
	 * a link to nothing, planted in a shared directory, must not make
	 * an append create a file somewhere else. */
	l->fd = open(path, oflags, 0600);
	if (l->fd < 0 && errno == ENOENT && (flags & EVT_LOG_CREATE)) {
		l->fd = open(path, oflags | O_CREAT | O_EXCL, 0600);
		/* EEXIST: another writer made it meanwhile, or a link. */
		if (l->fd < 0 && errno == EEXIST &&
		    (l->fd = open(path, oflags)) < 0 && errno == ENOENT) {
			evt_err_set(err, EX_CANTCREAT, "%s: a symbolic link to "
			    "nothing: refusing to create the log through it",
			    path);
			fl_close(&l->base);
			return NULL;
		}
	}
	l->writable = l->fd >= 0;
	if (l->fd < 0 && (errno == EACCES || errno == EROFS) &&
	    !(flags & EVT_LOG_CREATE))
		l->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (l->fd < 0) {
		evt_err_set(err, errno == ENOENT ? EX_NOINPUT : EX_IOERR,
		    "%s: %s", path, errno == ENOENT ? "no such log" :
		    errno == EACCES || errno == EROFS ? "log is read-only" :
		    strerror(errno));
		fl_close(&l->base);
		return NULL;
	}
	return &l->base;
}

/* The path of a file beside the log, LOG.suffix; the caller frees it. */
static char *
beside(struct file_log *l, const char *suffix)
{
	char *s;

	if (asprintf(&s, "%s.%s", l->base.path, suffix) < 0)
		abort();
	return s;
}

/* The record in LOG.txn: 1 and its extent, or 0 when there is none (no
 * file, or the cleared record 0 0). l->hrec gets the head it keeps (0:
 * none). */
static int
read_mark(struct file_log *l, long long *start, long long *end)
{
	char buf[96], *path = beside(l, "txn");
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;
	long long head = 0;
	int got;

	free(path);
	l->hrec = 0;
	if (fd < 0)
		return 0;
	n = pread(fd, buf, sizeof(buf) - 1, 0);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	got = sscanf(buf, "%lld %lld %lld", start, end, &head);
	if (got == 3 && head > 0)
		l->hrec = head;
	return got >= 2 && *end > 0;
}

/*
 * Where the committed part of a file of size bytes ends: size, or the start
 * of a transaction that never completed (see the top of this file).
 */
static off_t
committed_end(struct file_log *l, off_t size)
{
	long long start, end;

	if (read_mark(l, &start, &end) && size > start && size < end)
		return (off_t)start;
	return size;
}

/* Record the extent of the transaction about to be written; (0, 0)
 * clears the record. The head kept is l->hrec. */
static int
mark(struct file_log *l, off_t start, off_t end, int sync, struct evt_err *err)
{
	char buf[96];
	int n;

	if (l->mfd < 0) {
		char *path = beside(l, "txn");
		l->mfd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC,
		    0600);
		free(path);
		if (l->mfd < 0)
			return syserr(l, err, "open .txn");
	}
	/* Fixed width, so a rewrite never leaves old digits behind. */
	n = snprintf(buf, sizeof(buf), "%020lld %020lld %020lld\n",
	    (long long)start, (long long)end, l->hrec);
	if (pwrite(l->mfd, buf, (size_t)n, 0) != n || (sync &&
	    !(l->base.flags & EVT_LOG_NOSYNC) && fdatasync(l->mfd) < 0))
		return syserr(l, err, "write .txn");
	return 0;
}

/*
 * Map the first size bytes of the file. Returns the mapping (NULL for an
 * empty file) or MAP_FAILED.
 */
static char *
map(struct file_log *l, off_t size)
{
	if (size == 0)
		return NULL;
	return mmap(NULL, (size_t)size, PROT_READ, MAP_SHARED, l->fd, 0);
}

/* Fold the lines in p[from..to) into the writer's state. */
static int
fold(struct file_log *l, const char *p, off_t from, off_t to,
    struct evt_err *err)
{
	off_t off = from;

	while (off < to) {
		const char *s = p + off;
		const char *nl = memchr(s, '\n', (size_t)(to - off));
		size_t n = (size_t)(nl - s);

		if (evt_event_parse_stored(&l->ev, s, n, err) < 0) {
			evt_err_prefix(err, "%s: corrupt log at byte %lld",
			    l->base.path, (long long)off);
			err->code = EX_IOERR;
			return -1;
		}
		if (l->ev.seq != l->last + 1)
			return evt_err_set(err, EX_IOERR, "%s: corrupt log at "
			    "byte %lld: seq %lld follows %lld", l->base.path,
			    (long long)off, l->ev.seq, l->last);
		l->last = l->ev.seq;
		evt_hmap_put(&l->ids, l->ev.id.p, l->ev.id.n,
		    type_tag(&l->ev));
		evt_hmap_put(&l->versions, l->ev.subject.p, l->ev.subject.n,
		    l->ev.version);
		off += (off_t)n + 1;
	}
	return 0;
}

static int
fl_begin(struct evt_log *base, struct evt_err *err)
{
	struct file_log *l = (struct file_log *)base;
	struct stat st;
	char *p;
	off_t end;
	long long mstart, mend;

	if (!l->writable)
		return evt_err_set(err, EX_IOERR, "%s: log is read-only",
		    base->path);
	/* A signal that came just before the wait would not interrupt it. */
	if (base->intr && *base->intr) {
		errno = EINTR;
		return syserr(l, err, "lock");
	}
	if (flock(l->fd, LOCK_EX) < 0)
		return syserr(l, err, "lock");
	if (fstat(l->fd, &st) < 0) {
		syserr(l, err, "stat");
		goto fail;
	}
	if (read_mark(l, &mstart, &mend)) {
		/* A record left by a transaction that crashed or failed. If
		 * the file ends inside its extent, cut that transaction off
		 * whole; either way clear the record, durably, before any
		 * byte is appended, so that it cannot hide what comes next. */
		if (st.st_size > mstart && st.st_size < mend) {
			if (ftruncate(l->fd, (off_t)mstart) < 0 ||
			    (!(base->flags & EVT_LOG_NOSYNC) && fsync(l->fd) < 0)) {
				syserr(l, err, "repair an unfinished transaction");
				goto fail;
			}
			st.st_size = (off_t)mstart;
		}
		if (mark(l, 0, 0, 1, err) < 0)
			goto fail;
	}
	if (l->dirty || st.st_size < l->known) {
		/* Rolled back, or the file shrank behind our back: start
		 * over from the beginning. */
		evt_hmap_free(&l->ids);
		evt_hmap_free(&l->versions);
		l->known = 0;
		l->last = 0;
		l->dirty = 0;
	}
	if (st.st_size > l->known) {
		p = map(l, st.st_size);
		if (p == MAP_FAILED) {
			syserr(l, err, "mmap");
			goto fail;
		}
		/* The complete lines end at the last newline; anything after
		 * it is a torn write from a crash, never committed. */
		end = st.st_size;
		while (end > l->known && p[end - 1] != '\n')
			end--;
		int rc = fold(l, p, l->known, end, err);
		munmap(p, (size_t)st.st_size);
		if (rc < 0)
			goto fail;
		if (end < st.st_size) {
			if (ftruncate(l->fd, end) < 0 ||
			    (!(base->flags & EVT_LOG_NOSYNC) && fsync(l->fd) < 0)) {
				syserr(l, err, "repair torn last line");
				goto fail;
			}
		}
		l->known = end;
	}
	/* issue 22: events deleted from the end. Refused before the sidecar
	 * is cut to the log, so evt-verify still sees what is gone. A log
	 * with no line is a new one (removed and made again, its LOG.txn
	 * left behind), whose first commit sets the head. */
	if (l->hrec > l->last && l->last > 0 && base->rechain_from == 0) {
		evt_err_set(err, EX_IOERR, "%s: seq %lld: log truncated: the "
		    "chain's head says seq %lld, the last event stored is seq "
		    "%lld; a writer does not repair a chain: see evt-verify "
		    "--rechain", base->path, l->last + 1, l->hrec, l->last);
		goto fail;
	}
	/* issue 15: the chain's sidecar holds exactly the committed events. */
	if (evt_chain_file_begin(&l->chain, base->path, l->fd, l->known,
	    l->last, base->rechain_from, &base->chained_now,
	    base->flags & EVT_LOG_NOSYNC, err) < 0)
		goto fail;
	l->txn_last = l->last;
	l->txn_lines = 0;
	evt_buf_reset(&l->txn);
	return 0;
fail:
	flock(l->fd, LOCK_UN);
	return -1;
}

static int
fl_append(struct evt_log *base, struct evt_event *ev,
    const struct evt_expect *exp, int64_t now, const char *source,
    struct evt_err *err)
{
	struct file_log *l = (struct file_log *)base;
	long long *v, cur;

	if (ev->id.p && (v = evt_hmap_get(&l->ids, ev->id.p, ev->id.n)) != NULL)
		return evt_log_check_dup(ev, *v == type_tag(ev), err);
	v = evt_hmap_get(&l->versions, ev->subject.p, ev->subject.n);
	cur = v ? *v : 0;
	if (exp && evt_log_check_expect(exp, ev->subject.p, ev->subject.n, cur,
	    err) < 0)
		return -1;
	evt_event_assign(ev, l->txn_last + 1, cur + 1, now, source);
	/* The state runs ahead of the file until commit; a rollback marks
	 * it dirty so the next transaction rebuilds it from the file. */
	l->dirty = 1;
	evt_hmap_put(&l->ids, ev->id.p, ev->id.n, type_tag(ev));
	evt_hmap_put(&l->versions, ev->subject.p, ev->subject.n, cur + 1);
	l->txn_last++;
	l->txn_lines++;
	evt_buf_add(&l->txn, ev->body.p, ev->body.len);
	evt_buf_addc(&l->txn, '\n');
	evt_chain_file_add(l->chain, ev->seq, ev->body.p, ev->body.len);
	return EVT_APPEND_STORED;
}

static int ckpt_write(struct file_log *l, json_t *updates,
    struct evt_err *err);

static int
fl_commit(struct evt_log *base, struct evt_err *err)
{
	struct file_log *l = (struct file_log *)base;
	size_t done = 0;
	int marked = 0;

	/* issue 15: the records first, so every committed line has one. */
	if (evt_chain_file_commit(l->chain, l->last, base->flags &
	    EVT_LOG_NOSYNC, err) < 0)
		goto fail;
	/* One line is atomic by itself (a torn line is never read). */
	if (l->txn_lines > 1) {
		if (mark(l, l->known, l->known + (off_t)l->txn.len, 1, err) < 0)
			goto fail;
		marked = 1;
	}
	while (done < l->txn.len) {
		ssize_t w = write(l->fd, l->txn.p + done, l->txn.len - done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			syserr(l, err, "write");
			goto undo;
		}
		done += (size_t)w;
	}
	/* A failed fsync means the lines may not be on the disk: they must
	 * not stay visible either, or the append that reported failure
	 * would be in the log, and its retry stored twice. */
	if (l->txn.len && !(base->flags & EVT_LOG_NOSYNC) &&
	    fdatasync(l->fd) < 0) {
		syserr(l, err, "fsync");
		goto undo;
	}
	/* The record cleared, and the head moved (issue 22): harmless if
	 * lost, see top. (Not in the bench's baseline without the chain.) */
	if (l->txn_lines > 0 && !(base->flags & EVT_LOG_NOSYNC) && !NO_CHAIN) {
		l->hrec = l->txn_last;
		(void)mark(l, 0, 0, 0, NULL);
	} else if (marked)
		(void)mark(l, 0, 0, 0, NULL);
	l->known += (off_t)l->txn.len;
	l->last = l->txn_last;
	l->dirty = 0;
	evt_buf_reset(&l->txn);
	/* Checkpoints set in the transaction move only now that its events
	 * are durable: a crash in between leaves the checkpoint behind the
	 * events (they are read again), never ahead (they would be lost). */
	if (l->staged) {
		int rc = ckpt_write(l, l->staged, err);
		json_decref(l->staged);
		l->staged = NULL;
		if (rc < 0) {
			evt_err_prefix(err, "events stored, but checkpoint not "
			    "moved");
			flock(l->fd, LOCK_UN);
			return -1;
		}
	}
	flock(l->fd, LOCK_UN);
	return 0;
undo:
	/* Cut off what part of the transaction got out, then the record:
	 * the file ends where it did before. If even the cut fails, the
	 * record stays and readers still stop at its start. */
	if (ftruncate(l->fd, l->known) == 0) {
		if (!(base->flags & EVT_LOG_NOSYNC))
			(void)fsync(l->fd);
		if (marked)
			(void)mark(l, 0, 0, 1, NULL);
	}
fail:
	l->dirty = 1;
	evt_buf_reset(&l->txn);
	evt_chain_file_rollback(l->chain);	/* issue 15 */
	json_decref(l->staged);
	l->staged = NULL;
	flock(l->fd, LOCK_UN);
	return -1;
}

static void
fl_rollback(struct evt_log *base)
{
	struct file_log *l = (struct file_log *)base;

	evt_buf_reset(&l->txn);
	evt_chain_file_rollback(l->chain);	/* issue 15 */
	json_decref(l->staged);
	l->staged = NULL;
	flock(l->fd, LOCK_UN);
}

/*
 * The committed part: where the last complete line ends, taken under a
 * shared lock so that no transaction is half written when we look. Only
 * what lies after it (a torn line, a transaction cut short) can be cut off
 * by a writer later, so a reader may map and read [0, *size) unlocked.
 */
static int
committed_size(struct file_log *l, off_t *size, struct evt_err *err)
{
	struct stat st;
	char buf[4096];
	off_t end;

	if (flock(l->fd, LOCK_SH) < 0)
		return syserr(l, err, "lock");
	if (fstat(l->fd, &st) < 0) {
		syserr(l, err, "stat");
		goto fail;
	}
	end = committed_end(l, st.st_size);
	while (end > 0) {
		size_t want = end < (off_t)sizeof(buf) ? (size_t)end : sizeof(buf);
		ssize_t n = pread(l->fd, buf, want, end - (off_t)want);
		if (n != (ssize_t)want) {
			if (n >= 0)
				errno = EIO;
			syserr(l, err, "read");
			goto fail;
		}
		char *nl = memrchr(buf, '\n', want);
		if (nl != NULL) {
			end -= (off_t)want - (off_t)(nl - buf) - 1;
			break;
		}
		end -= (off_t)want;
	}
	*size = end;
	flock(l->fd, LOCK_UN);
	return 0;
fail:
	flock(l->fd, LOCK_UN);
	return -1;
}

/* Map the committed part (see committed_size): *p, NULL when empty, ends
 * with a complete line at *size. Unmap it with munmap(*p, *size). */
static int
map_committed(struct file_log *l, char **p, off_t *size, struct evt_err *err)
{
	if (committed_size(l, size, err) < 0)
		return -1;
	if ((*p = map(l, *size)) == MAP_FAILED)
		return syserr(l, err, "mmap");
	return 0;
}

struct span {
	off_t off;
	size_t n;
	long long seq;
};

static int
fl_read(struct evt_log *base, struct evt_read *r, evt_log_fn fn, void *arg,
    struct evt_err *err)
{
	struct file_log *l = (struct file_log *)base;
	struct span *hits = NULL;
	size_t nhits = 0, caphits = 0;
	off_t size, end, off = 0;
	long long n = 0;
	char *p;
	int ret = 0, stop = 0;

	if (map_committed(l, &p, &size, err) < 0)
		return -1;
	end = size;
	/* What this reader read is gone: the log was cut under it (a torn
	 * tail's repair only ever takes an incomplete line, which no
	 * reader has read). */
	if (r->after > 0 && r->after == l->rd_seq && l->rd_off > end) {
		if (p)
			munmap(p, (size_t)size);
		return evt_err_set(err, EX_IOERR, "%s: truncated under the "
		    "reader: it had read %lld bytes (to seq %lld), the log "
		    "holds %lld", base->path, (long long)l->rd_off, l->rd_seq,
		    (long long)end);
	}
	if (r->after > 0 && r->after == l->rd_seq)
		off = l->rd_off;
	while (off < end && !stop) {
		const char *s = p + off;
		const char *nl = memchr(s, '\n', (size_t)(end - off));
		size_t len = (size_t)(nl - s);
		off_t here = off;

		off += (off_t)len + 1;
		if (evt_event_parse_stored(&l->ev, s, len, err) < 0) {
			evt_err_prefix(err, "%s: corrupt log at byte %lld",
			    base->path, (long long)here);
			err->code = EX_IOERR;
			ret = -1;
			break;
		}
		if (l->ev.seq <= r->after)
			continue;
		r->scanned = l->ev.seq;
		l->rd_seq = l->ev.seq;
		l->rd_off = off;
		if (r->filter && !evt_filter_match(r->filter, &l->ev))
			continue;
		if (r->reverse) {
			if (nhits == caphits) {
				caphits = caphits ? caphits * 2 : 1024;
				hits = realloc(hits, caphits * sizeof(*hits));
				if (hits == NULL)
					abort();
			}
			hits[nhits++] = (struct span){ here, len, l->ev.seq };
			continue;
		}
		int cr = fn(arg, l->ev.seq, s, len);
		if (cr < 0) {
			ret = -1;
			break;
		}
		if (cr > 0 || (r->limit && ++n >= r->limit))
			stop = 1;
	}
	for (size_t i = nhits; ret == 0 && i > 0; i--) {
		int cr = fn(arg, hits[i - 1].seq, p + hits[i - 1].off,
		    hits[i - 1].n);
		if (cr < 0)
			ret = -1;
		if (cr != 0 || (r->limit && ++n >= r->limit))
			break;
	}
	free(hits);
	if (p)
		munmap(p, (size_t)size);
	return ret;
}

static int
fl_last_seq(struct evt_log *base, long long *seq, struct evt_err *err)
{
	struct file_log *l = (struct file_log *)base;
	off_t size, end, start;
	char *p;

	*seq = 0;
	if (map_committed(l, &p, &size, err) < 0)
		return -1;
	end = size;
	if (end > 0) {
		start = end - 1;
		while (start > 0 && p[start - 1] != '\n')
			start--;
		if (evt_event_parse_stored(&l->ev, p + start,
		    (size_t)(end - 1 - start), err) < 0) {
			munmap(p, (size_t)size);
			err->code = EX_IOERR;
			return -1;
		}
		*seq = l->ev.seq;
	}
	if (p)
		munmap(p, (size_t)size);
	return 0;
}

/* Checkpoints live beside the log in LOG.checkpoints, a JSON object
 * {"NAME":{"seq":N,"updated":"TIME"}}, replaced atomically by rename(2). */

static json_t *
ckpt_load(struct file_log *l, const char *path, struct evt_err *err)
{
	json_error_t je;
	json_t *o = json_load_file(path, 0, &je);

	if (o == NULL && access(path, F_OK) < 0 && errno == ENOENT)
		return json_object();
	if (o == NULL || !json_is_object(o)) {
		json_decref(o);
		evt_err_set(err, EX_IOERR, "%s: checkpoints: %s", l->base.path,
		    o ? "not a JSON object" : je.text);
		return NULL;
	}
	return o;
}

static int
fl_ckpt_get(struct evt_log *base, const char *name, long long *seq,
    struct evt_err *err)
{
	struct file_log *l = (struct file_log *)base;
	char *path;
	json_t *o, *c;
	int ret = 1;

	/* Inside a transaction, what it set is what it reads back. */
	if (l->staged && (c = json_object_get(l->staged, name)) != NULL) {
		*seq = json_integer_value(c);
		return 0;
	}
	path = beside(l, "checkpoints");
	o = ckpt_load(l, path, err);
	free(path);
	if (o == NULL)
		return -1;
	c = json_object_get(o, name);
	if (c && json_is_integer(json_object_get(c, "seq"))) {
		*seq = json_integer_value(json_object_get(c, "seq"));
		ret = 0;
	}
	json_decref(o);
	return ret;
}

/*
 * Store updates ({"NAME": seq, ...}) into LOG.checkpoints: read, change,
 * write a temporary file, fsync, rename(2). The caller holds the log's
 * LOCK_EX, which serialises checkpoint writers too.
 */
static int
ckpt_write(struct file_log *l, json_t *updates, struct evt_err *err)
{
	char *path = beside(l, "checkpoints"), *tmp = NULL, now[EVT_TIME_LEN + 1];
	json_t *o = NULL, *v;
	const char *name;
	int64_t ms;
	int ret = -1, fd = -1;

	if (evt_clock_now(&ms, err) < 0)
		goto out;
	evt_time_format(ms, now);
	if ((o = ckpt_load(l, path, err)) == NULL)
		goto out;
	json_object_foreach(updates, name, v)
		json_object_set_new(o, name, json_pack("{s:I,s:s}", "seq",
		    json_integer_value(v), "updated", now));
	if (asprintf(&tmp, "%s.tmp.%ld", path, (long)getpid()) < 0)
		abort();
	unlink(tmp);	/* a crashed run's, or a planted link: not through it */
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0600)) < 0 ||
	    json_dumpfd(o, fd, JSON_COMPACT | JSON_SORT_KEYS) < 0 ||
	    write(fd, "\n", 1) != 1 ||
	    (!(l->base.flags & EVT_LOG_NOSYNC) && fsync(fd) < 0) ||
	    close(fd) < 0 || (fd = -1, rename(tmp, path) < 0)) {
		syserr(l, err, "write checkpoint");
		if (fd >= 0)
			close(fd);
		unlink(tmp);
		goto out;
	}
	ret = 0;
out:
	json_decref(o);
	free(tmp);
	free(path);
	return ret;
}

/* issue 15: the chain's hashes, from the sidecar (chain_file.c). */
static int
fl_chain_read(struct evt_log *base, long long after, int *chained,
    long long *head, evt_chain_fn fn, void *arg, struct evt_err *err)
{
	struct file_log *l = (struct file_log *)base;
	off_t size, end;
	char *p;
	int rc;

	if (map_committed(l, &p, &size, err) < 0)
		return -1;
	end = size;
	/* issue 22: read with the committed size, under the same lock; an
	 * empty log is a new one (fl_begin). */
	*head = l->hrec > 0 && size > 0 ? l->hrec : -1;
	rc = evt_chain_file_read(base->path, p, end, after, chained, fn, arg,
	    err);
	if (p)
		munmap(p, (size_t)size);
	return rc;
}

static int
fl_ckpt_set(struct evt_log *base, const char *name, long long seq,
    struct evt_err *err)
{
	struct file_log *l = (struct file_log *)base;
	json_t *u;
	int rc;

	if (base->intxn) {
		/* Written by fl_commit once the events are durable. */
		if (l->staged == NULL && (l->staged = json_object()) == NULL)
			abort();
		json_object_set_new(l->staged, name, json_integer(seq));
		return 0;
	}
	if (flock(l->fd, LOCK_EX) < 0)
		return syserr(l, err, "lock");
	if ((u = json_object()) == NULL)
		abort();
	json_object_set_new(u, name, json_integer(seq));
	rc = ckpt_write(l, u, err);
	json_decref(u);
	flock(l->fd, LOCK_UN);
	return rc;
}

const struct evt_log_ops evt_log_file_ops = {
	"file", fl_open, fl_close, fl_begin, fl_append, fl_commit,
	fl_rollback, fl_read, fl_last_seq, fl_ckpt_get, fl_ckpt_set,
	fl_chain_read
};
