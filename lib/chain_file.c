/*
 * chain_file.c - the sidecar LOG.chain of a file log (see chain_file.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "chain.h"
#include "chain_file.h"

#define REC (2 * EVT_CHAIN_LEN + 1)	/* 64 hex digits and a newline */

struct evt_chain_file {
	int fd;
	char *path;
	struct evt_hasher *hs;
	unsigned char head[EVT_CHAIN_LEN];	/* of the open transaction */
	struct evt_buf recs;			/* its records */
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

int
evt_chain_file_begin(struct evt_chain_file **pcf, const char *logpath,
    int logfd, off_t end, long long last, int nosync, struct evt_err *err)
{
	struct evt_chain_file *cf = *pcf;
	struct stat st;
	long long n;

	if (cf == NULL) {
		if ((cf = calloc(1, sizeof(*cf))) == NULL)
			abort();
		if (asprintf(&cf->path, "%s.chain", logpath) < 0)
			abort();
		cf->fd = -1;
		cf->hs = evt_hasher_new();
		*pcf = cf;
	}
	evt_buf_reset(&cf->recs);
	if (cf->fd < 0 && (cf->fd = open(cf->path, O_RDWR | O_CREAT |
	    O_CLOEXEC, 0600)) < 0)
		return cferr(cf, err, "open");
	if (fstat(cf->fd, &st) < 0)
		return cferr(cf, err, "stat");
	n = (long long)(st.st_size / REC);
	if (n > last)
		n = last;
	/* Records beyond the log (a transaction that never committed, a
	 * torn record): cut them, as the log's torn tail was cut. */
	if (st.st_size != (off_t)n * REC &&
	    (ftruncate(cf->fd, (off_t)n * REC) < 0 ||
	    (!nosync && fdatasync(cf->fd) < 0)))
		return cferr(cf, err, "cut records beyond the log");
	/* Lines without records: a log made by an earlier evt, chained
	 * once here, in place. */
	if (n < last && fill(cf, logfd, end, n, last, nosync, err) < 0)
		return -1;
	memset(cf->head, 0, sizeof(cf->head));
	if (last > 0 && read_rec(cf, last, cf->head, err) < 0)
		return -1;
	return 0;
}

void
evt_chain_file_add(struct evt_chain_file *cf, long long seq, const char *line,
    size_t len)
{
	evt_chain_step(cf->hs, cf->head, seq, line, len, cf->head);
	add_rec(&cf->recs, cf->head);
}

int
evt_chain_file_commit(struct evt_chain_file *cf, long long last, int nosync,
    struct evt_err *err)
{
	if (cf->recs.len == 0)
		return 0;
	if (pwrite(cf->fd, cf->recs.p, cf->recs.len, (off_t)last * REC) !=
	    (ssize_t)cf->recs.len || (!nosync && fdatasync(cf->fd) < 0))
		return cferr(cf, err, "write");
	evt_buf_reset(&cf->recs);
	return 0;
}

void
evt_chain_file_rollback(struct evt_chain_file *cf)
{
	if (cf)
		evt_buf_reset(&cf->recs);
}

void
evt_chain_file_free(struct evt_chain_file *cf)
{
	if (cf == NULL)
		return;
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
