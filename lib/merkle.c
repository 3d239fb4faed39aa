/*
 * merkle.c - the RFC 6962 tree over the log's leaves, its proofs, and its
 * tiles (see merkle.h for the definitions). Written from RFC 6962 §2.1
 * and RFC 9162 §2.1.3-2.1.4; the tile layout is c2sp.org/tlog-tiles.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hmap.h"
#include "merkle.h"

/* --- the tree ----------------------------------------------------------- */

void
evt_merkle_node(struct evt_hasher *hs, const unsigned char *l,
    const unsigned char *r, unsigned char *out)
{
	/* chain.h's node is RFC 6962's: SHA-256(0x01 || l || r). */
	evt_chain_node(hs, l, r, out);
}

void
evt_merkle_empty(unsigned char *out)
{
	static const unsigned char e[EVT_HASH_LEN] = {
		0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4,
		0xc8, 0x99, 0x6f, 0xb9, 0x24, 0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b,
		0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55
	};

	memcpy(out, e, EVT_HASH_LEN);
}

/* The largest power of two below n (n >= 2): RFC 6962's split. */
static long long
split(long long n)
{
	long long k = 1;

	while (k << 1 < n)
		k <<= 1;
	return k;
}

static int
log2_exact(long long n)
{
	int h = 0;

	if (n <= 0 || (n & (n - 1)) != 0)
		return -1;
	while ((1LL << h) < n)
		h++;
	return h;
}

int
evt_merkle_range(struct evt_hasher *hs, const struct evt_hash_reader *rd,
    long long lo, long long hi, unsigned char *out, struct evt_err *err)
{
	unsigned char l[EVT_HASH_LEN], r[EVT_HASH_LEN];
	long long n = hi - lo, k;
	int h = log2_exact(n);

	/* A complete subtree is stored (or read from a tile); the rest is
	 * RFC 6962's recursion, at most 2 log n reads. */
	if (h >= 0 && lo % n == 0)
		return rd->fn(rd->arg, h, lo >> h, out, err);
	k = split(n);
	if (evt_merkle_range(hs, rd, lo, lo + k, l, err) < 0 ||
	    evt_merkle_range(hs, rd, lo + k, hi, r, err) < 0)
		return -1;
	evt_merkle_node(hs, l, r, out);
	return 0;
}

void
evt_merkle_edge_init(struct evt_merkle_edge *e)
{
	e->size = 0;
	e->n = 0;
}

int
evt_merkle_edge_load(struct evt_merkle_edge *e, long long size,
    const struct evt_hash_reader *rd, struct evt_err *err)
{
	evt_merkle_edge_init(e);
	for (int h = 62; h >= 0; h--) {
		if (!(size >> h & 1))
			continue;
		long long start = size & ~((2LL << h) - 1);
		if (rd->fn(rd->arg, h, start >> h, e->h[e->n], err) < 0)
			return -1;
		e->n++;
	}
	e->size = size;
	return 0;
}

void
evt_merkle_edge_push(struct evt_hasher *hs, struct evt_merkle_edge *e,
    const unsigned char *leaf, evt_merkle_node_fn fn, void *arg)
{
	long long s = e->size, after = e->size + 1;
	int h = 0;

	if (fn)
		fn(arg, 0, e->size, leaf);
	memcpy(e->h[e->n++], leaf, EVT_HASH_LEN);
	/* Each low bit set in the old size is a subtree of that height
	 * that the new leaf completes into one a level higher. */
	while (s & 1) {
		evt_merkle_node(hs, e->h[e->n - 2], e->h[e->n - 1],
		    e->h[e->n - 2]);
		e->n--;
		h++;
		s >>= 1;
		if (fn)
			fn(arg, h, (after >> h) - 1, e->h[e->n - 1]);
	}
	e->size = after;
}

void
evt_merkle_edge_root(struct evt_hasher *hs, const struct evt_merkle_edge *e,
    unsigned char *out)
{
	if (e->n == 0) {
		evt_merkle_empty(out);
		return;
	}
	memcpy(out, e->h[e->n - 1], EVT_HASH_LEN);
	for (int i = e->n - 2; i >= 0; i--)
		evt_merkle_node(hs, e->h[i], out, out);
}

/* --- proofs ------------------------------------------------------------- */

/* PATH(m, D[lo:hi]) appended to proof, deepest first. */
static int
path(struct evt_hasher *hs, const struct evt_hash_reader *rd, long long m,
    long long lo, long long hi, unsigned char (*proof)[EVT_HASH_LEN],
    int *len, struct evt_err *err)
{
	long long k;

	if (hi - lo <= 1)
		return 0;
	k = split(hi - lo);
	if (m < k) {
		if (path(hs, rd, m, lo, lo + k, proof, len, err) < 0)
			return -1;
		return evt_merkle_range(hs, rd, lo + k, hi, proof[(*len)++],
		    err);
	}
	if (path(hs, rd, m - k, lo + k, hi, proof, len, err) < 0)
		return -1;
	return evt_merkle_range(hs, rd, lo, lo + k, proof[(*len)++], err);
}

int
evt_merkle_prove_inclusion(struct evt_hasher *hs,
    const struct evt_hash_reader *rd, long long index, long long size,
    unsigned char (*proof)[EVT_HASH_LEN], int *len, struct evt_err *err)
{
	*len = 0;
	if (index < 0 || index >= size)
		return evt_err_set(err, EX_USAGE, "leaf index %lld is not in a "
		    "tree of %lld leaves", index, size);
	return path(hs, rd, index, 0, size, proof, len, err);
}

/* SUBPROOF(m, D[lo:hi], b) appended to proof. */
static int
subproof(struct evt_hasher *hs, const struct evt_hash_reader *rd, long long m,
    long long lo, long long hi, int b, unsigned char (*proof)[EVT_HASH_LEN],
    int *len, struct evt_err *err)
{
	long long n = hi - lo, k;

	if (m == n) {
		if (b)
			return 0;
		return evt_merkle_range(hs, rd, lo, hi, proof[(*len)++], err);
	}
	k = split(n);
	if (m <= k) {
		if (subproof(hs, rd, m, lo, lo + k, b, proof, len, err) < 0)
			return -1;
		return evt_merkle_range(hs, rd, lo + k, hi, proof[(*len)++],
		    err);
	}
	if (subproof(hs, rd, m - k, lo + k, hi, 0, proof, len, err) < 0)
		return -1;
	return evt_merkle_range(hs, rd, lo, lo + k, proof[(*len)++], err);
}

int
evt_merkle_prove_consistency(struct evt_hasher *hs,
    const struct evt_hash_reader *rd, long long m, long long n,
    unsigned char (*proof)[EVT_HASH_LEN], int *len, struct evt_err *err)
{
	*len = 0;
	if (m <= 0 || m > n)
		return evt_err_set(err, EX_USAGE, "no consistency proof from a "
		    "tree of %lld leaves to one of %lld", m, n);
	return subproof(hs, rd, m, 0, n, 1, proof, len, err);
}

int
evt_merkle_check_inclusion(struct evt_hasher *hs, long long index,
    long long size, const unsigned char *leaf,
    unsigned char (*proof)[EVT_HASH_LEN], int len,
    const unsigned char *root, struct evt_err *err)
{
	unsigned long long fn = (unsigned long long)index;
	unsigned long long sn = (unsigned long long)size - 1;
	unsigned char r[EVT_HASH_LEN];

	if (index < 0 || index >= size)
		return evt_err_set(err, 1, "index %lld is not in a tree of %lld "
		    "leaves", index, size);
	memcpy(r, leaf, EVT_HASH_LEN);
	for (int i = 0; i < len; i++) {
		if (sn == 0)
			return evt_err_set(err, 1, "the proof has %d hashes, "
			    "more than a tree of %lld leaves needs at index "
			    "%lld", len, size, index);
		if ((fn & 1) || fn == sn) {
			evt_merkle_node(hs, proof[i], r, r);
			if (!(fn & 1))
				while (!(fn & 1) && fn != 0) {
					fn >>= 1;
					sn >>= 1;
				}
		} else
			evt_merkle_node(hs, r, proof[i], r);
		fn >>= 1;
		sn >>= 1;
	}
	if (sn != 0)
		return evt_err_set(err, 1, "the proof has %d hashes, fewer than "
		    "a tree of %lld leaves needs at index %lld", len, size,
		    index);
	if (memcmp(r, root, EVT_HASH_LEN) != 0)
		return evt_err_set(err, 1, "the proof does not lead to the "
		    "root: the event, the proof or the checkpoint differs from "
		    "what the log holds");
	return 0;
}

int
evt_merkle_check_consistency(struct evt_hasher *hs, long long m,
    long long n, const unsigned char *root_m, const unsigned char *root_n,
    unsigned char (*proof)[EVT_HASH_LEN], int len, struct evt_err *err)
{
	unsigned char fr[EVT_HASH_LEN], sr[EVT_HASH_LEN], e[EVT_HASH_LEN];
	unsigned long long fn, sn;
	int i = 0;

	if (m < 0 || m > n)
		return evt_err_set(err, 1, "a tree of %lld leaves cannot extend "
		    "one of %lld", n, m);
	if (m == 0) {
		evt_merkle_empty(e);
		if (len != 0 || memcmp(root_m, e, EVT_HASH_LEN) != 0)
			return evt_err_set(err, 1, "the empty tree's root is "
			    "SHA-256 of nothing, and its proof is empty");
		return 0;
	}
	if (m == n) {
		if (len != 0)
			return evt_err_set(err, 1, "two trees of one size need "
			    "an empty proof");
		if (memcmp(root_m, root_n, EVT_HASH_LEN) != 0)
			return evt_err_set(err, 1, "two trees of %lld leaves with "
			    "different roots: the log forked", m);
		return 0;
	}
	if (len == 0)
		return evt_err_set(err, 1, "an empty proof between trees of %lld "
		    "and %lld leaves", m, n);
	fn = (unsigned long long)m - 1;
	sn = (unsigned long long)n - 1;
	/* When m is a power of two the old root is the first node of the
	 * path, and the proof leaves it out. */
	if ((m & (m - 1)) == 0)
		memcpy(fr, root_m, EVT_HASH_LEN);
	else
		memcpy(fr, proof[i++], EVT_HASH_LEN);
	memcpy(sr, fr, EVT_HASH_LEN);
	while (fn & 1) {
		fn >>= 1;
		sn >>= 1;
	}
	for (; i < len; i++) {
		if (sn == 0)
			return evt_err_set(err, 1, "the proof has %d hashes, more "
			    "than trees of %lld and %lld leaves need", len, m, n);
		if ((fn & 1) || fn == sn) {
			evt_merkle_node(hs, proof[i], fr, fr);
			evt_merkle_node(hs, proof[i], sr, sr);
			if (!(fn & 1))
				while (!(fn & 1) && fn != 0) {
					fn >>= 1;
					sn >>= 1;
				}
		} else
			evt_merkle_node(hs, sr, proof[i], sr);
		fn >>= 1;
		sn >>= 1;
	}
	if (sn != 0)
		return evt_err_set(err, 1, "the proof has %d hashes, fewer than "
		    "trees of %lld and %lld leaves need", len, m, n);
	if (memcmp(fr, root_m, EVT_HASH_LEN) != 0)
		return evt_err_set(err, 1, "the proof does not lead to the old "
		    "root");
	if (memcmp(sr, root_n, EVT_HASH_LEN) != 0)
		return evt_err_set(err, 1, "the proof does not lead to the new "
		    "root: the new tree does not extend the old one");
	return 0;
}

/* --- tiles -------------------------------------------------------------- */

#define TILE_W 256
#define TILE_BYTES (TILE_W * EVT_HASH_LEN)
#define LEVELS 8		/* heights 0 to 56: trees of up to 2^64 */

struct tile {
	long long no;		/* -1: none */
	int level;		/* of a tile made from the source */
	int width;
	unsigned char h[TILE_BYTES];
};

/*
 * The directory that holds the tiles of one level with one prefix of
 * groups of three digits (DIR/tile/L, or DIR/tile/L/x001/x234 for tile
 * 1234067), kept open so that a run over a million events does not look
 * its path up again for each tile. fresh: made by this handle, so that
 * it holds nothing but what the handle wrote: no tile there to read back
 * first, no partial tile to prune.
 */
struct tdir {
	long long group;	/* no / 1000 of its tiles; -1: none open */
	int fd;
	int fresh;
};

struct evt_tiles {
	char *dir;
	struct evt_hasher *hs;
	int root, tile;		/* DIR and DIR/tile, -1 until opened */
	int root_fresh, tile_fresh;
	int lfd[LEVELS], lfresh[LEVELS];	/* DIR/tile/L */
	struct tdir d[LEVELS];
	int no_tmpfile;		/* O_TMPFILE or linkat does not work here */
	unsigned tmp_seq;
	struct tile cache[LEVELS];	/* the last tile read, per level */
	struct tile w[LEVELS];		/* being written, per level */
	int dirty[LEVELS];
	int werr;			/* a write failed: err below */
	struct evt_err err;
	long long head_seq;		/* -1: no chain head to record */
	unsigned char head[EVT_HASH_LEN];
	/* Tiles made from the source (evt_tiles_source), until saved. */
	evt_leaves_fn src;
	void *src_arg;
	long long src_size;
	struct evt_hmap made_idx;	/* level and number: index in made */
	struct tile **made;
	size_t nmade, capmade;
};

struct evt_tiles *
evt_tiles_new(const char *dir)
{
	struct evt_tiles *t = calloc(1, sizeof(*t));

	if (t == NULL || (t->dir = strdup(dir)) == NULL)
		abort();
	t->hs = evt_hasher_new();
	t->root = t->tile = -1;
	for (int l = 0; l < LEVELS; l++) {
		t->cache[l].no = t->w[l].no = -1;
		t->lfd[l] = -1;
		t->d[l].group = -1;
		t->d[l].fd = -1;
	}
	t->head_seq = -1;
	return t;
}

static void
close_group(struct evt_tiles *t, int level)
{
	if (t->d[level].fd >= 0 && t->d[level].fd != t->lfd[level])
		close(t->d[level].fd);
	t->d[level].fd = -1;
	t->d[level].group = -1;
}

void
evt_tiles_free(struct evt_tiles *t)
{
	if (t == NULL)
		return;
	for (int l = 0; l < LEVELS; l++) {
		close_group(t, l);
		if (t->lfd[l] >= 0)
			close(t->lfd[l]);
	}
	if (t->tile >= 0)
		close(t->tile);
	if (t->root >= 0)
		close(t->root);
	for (size_t i = 0; i < t->nmade; i++)
		free(t->made[i]);
	free(t->made);
	evt_hmap_free(&t->made_idx);
	evt_hasher_free(t->hs);
	free(t->dir);
	free(t);
}

/* The groups of three digits of no, most significant first; their
 * number. */
static int
groups(long long no, int g[8])
{
	int n = 0, tmp[8];

	do {
		tmp[n++] = (int)(no % 1000);
		no /= 1000;
	} while (no > 0);
	for (int i = 0; i < n; i++)
		g[i] = tmp[n - 1 - i];
	return n;
}

/* tile/L/N (N as x001/x234/067), as messages name a tile, into out. */
static void
tile_name(int level, long long no, char *out, size_t cap)
{
	int g[8], n = groups(no, g);
	size_t k = (size_t)snprintf(out, cap, "tile/%d/", level);

	for (int i = 0; i < n && k < cap; i++)
		k += (size_t)snprintf(out + k, cap - k, "%s%03d%s",
		    i < n - 1 ? "x" : "", g[i], i < n - 1 ? "/" : "");
}

/* mkdir -p of dir; *made when dir itself was made. */
static int
mkdirs(const char *dir, int *made, struct evt_err *err)
{
	char *path = evt_strdup(dir);
	int rc = 0;

	for (char *s = path + 1; ; s++) {
		char c = *s;
		if (c != '/' && c != '\0')
			continue;
		*s = '\0';
		if (mkdir(path, 0755) == 0)
			*made = c == '\0';
		else if (errno != EEXIST) {
			rc = evt_err_set(err, EX_CANTCREAT, "%s: %s", path,
			    strerror(errno));
			break;
		}
		if ((*s = c) == '\0')
			break;
	}
	free(path);
	return rc;
}

/*
 * The directory name in the directory dfd, opened without following a
 * symbolic link, so that a tiles directory in a shared place cannot be
 * made to lead a writer (or a reader) elsewhere (issue 29). With create,
 * made when missing, and then *fresh set. -1 with errno.
 */
static int
subdir(int dfd, const char *name, int create, int *fresh)
{
	int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);

	if (fd >= 0 || errno != ENOENT || !create)
		return fd;
	if (mkdirat(dfd, name, 0755) == 0)
		*fresh = 1;
	else if (errno != EEXIST)
		return -1;
	return openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
}

/* A directory of the tiles could not be opened (errno): -2 when it is
 * not there and create is not set, else -1 with err. */
static int
dir_fail(const struct evt_tiles *t, const char *what, int create,
    struct evt_err *err)
{
	int e = errno;

	if (e == ENOENT && !create)
		return -2;
	if (e == ELOOP || e == ENOTDIR)
		evt_err_set(err, create ? EX_CANTCREAT : EX_DATAERR, "%s/%s: "
		    "not a directory (a symbolic link or a file is in its "
		    "place): refused", t->dir, what);
	else
		evt_err_set(err, create ? EX_CANTCREAT : EX_IOERR, "%s/%s: %s",
		    t->dir, what, strerror(e));
	return -1;
}

/* DIR itself: its descriptor, or -2 (not there, no create), or -1. */
static int
root_dir(struct evt_tiles *t, int create, struct evt_err *err)
{
	int made = 0;

	if (t->root >= 0)
		return t->root;
	/* DIR is the operator's to name, and may be a symbolic link. */
	t->root = open(t->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (t->root < 0 && errno == ENOENT && create) {
		if (mkdirs(t->dir, &made, err) < 0)
			return -1;
		t->root = open(t->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
	if (t->root < 0) {
		int e = errno;
		if (e == ENOENT && !create)
			return -2;
		return evt_err_set(err, create ? EX_CANTCREAT : EX_IOERR,
		    "%s: %s", t->dir, strerror(e));
	}
	t->root_fresh = made;
	return t->root;
}

/*
 * The directory that holds tile no of level (its name there: the last
 * group of three digits), opened and cached; with create, made as
 * needed. Its descriptor (*fresh: see struct tdir), or -2 when it is not
 * there (no create), or -1 with err.
 */
static int
level_dir(struct evt_tiles *t, int level, long long no, int create,
    int *fresh, struct evt_err *err)
{
	struct tdir *d = &t->d[level];
	char name[32];
	int g[8], n, fd, f, rc;

	if (d->fd >= 0 && d->group == no / 1000) {
		*fresh = d->fresh;
		return d->fd;
	}
	if ((rc = root_dir(t, create, err)) < 0)
		return rc;
	if (t->tile < 0) {
		f = t->root_fresh;
		if ((t->tile = subdir(t->root, "tile", create, &f)) < 0)
			return dir_fail(t, "tile", create, err);
		t->tile_fresh = f;
	}
	if (t->lfd[level] < 0) {
		f = t->tile_fresh;
		snprintf(name, sizeof(name), "%d", level);
		if ((t->lfd[level] = subdir(t->tile, name, create, &f)) < 0) {
			snprintf(name, sizeof(name), "tile/%d", level);
			return dir_fail(t, name, create, err);
		}
		t->lfresh[level] = f;
	}
	close_group(t, level);
	fd = t->lfd[level];
	f = t->lfresh[level];
	n = groups(no, g);
	for (int i = 0; i < n - 1; i++) {
		int next;
		snprintf(name, sizeof(name), "x%03d", g[i]);
		next = subdir(fd, name, create, &f);
		if (next < 0) {
			int e = errno;
			if (fd != t->lfd[level])
				close(fd);
			tile_name(level, no, name, sizeof(name));
			*strrchr(name, '/') = '\0';
			errno = e;
			return dir_fail(t, name, create, err);
		}
		if (fd != t->lfd[level])
			close(fd);
		fd = next;
	}
	d->fd = fd;
	d->group = no / 1000;
	d->fresh = f;
	*fresh = f;
	return fd;
}

/*
 * Read the file name in dfd (shown as shown) into p: exactly want bytes.
 * 0; 1 not there; 2 there, but of another size (*got); -1 with err. A
 * symbolic link or anything but a plain file is refused, not followed.
 */
static int
read_at(int dfd, const char *name, unsigned char *p, size_t want,
    size_t *got, const char *shown, struct evt_err *err)
{
	int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC);
	struct stat st;
	size_t n = 0;
	ssize_t r = 1;

	*got = 0;
	if (fd < 0) {
		if (errno == ENOENT)
			return 1;
		if (errno == ELOOP)
			return evt_err_set(err, EX_DATAERR, "%s: a symbolic link, "
			    "not a tile: refused", shown);
		return evt_err_set(err, EX_IOERR, "%s: %s", shown,
		    strerror(errno));
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return evt_err_set(err, EX_DATAERR, "%s: not a plain file, not "
		    "a tile: refused", shown);
	}
	if ((size_t)st.st_size != want) {
		close(fd);
		*got = (size_t)st.st_size;
		return 2;
	}
	while (n < want && (r = read(fd, p + n, want - n)) > 0)
		n += (size_t)r;
	close(fd);
	if (r < 0)
		return evt_err_set(err, EX_IOERR, "%s: %s", shown,
		    strerror(errno));
	*got = n;
	return n == want ? 0 : 2;
}

static int
write_all(int fd, const void *p, size_t n)
{
	const char *c = p;

	while (n > 0) {
		ssize_t w = write(fd, c, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			if (w == 0)
				errno = ENOSPC;
			return -1;
		}
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

static int
put_fail(const char *shown, int e, struct evt_err *err)
{
	return evt_err_set(err, e == EACCES || e == EPERM || e == EROFS ?
	    EX_CANTCREAT : EX_IOERR, "%s: %s", shown, strerror(e));
}

/*
 * Write p[0..n) as the file name in the directory dfd, mode 0644 (tiles
 * are public, meant to be served), shown as shown in errors. The file
 * appears whole or not at all, and nothing planted at its name is
 * followed (issue 29): a new file is made without a name (O_TMPFILE) and
 * linked in, which fails rather than replace anything; else, and to
 * replace a file, a temporary file made with O_CREAT | O_EXCL |
 * O_NOFOLLOW is renamed over the name, which replaces a symbolic link
 * itself, not what it points to.
 *
 * No fsync: a tile lost or emptied by a crash is not a tile (readers
 * take a file of another size for none) and is made again by the next
 * run, and one that does not hash to a signed root is never used.
 */
static int
put_at(struct evt_tiles *t, int dfd, const char *name, const void *p,
    size_t n, const char *shown, struct evt_err *err)
{
	char tmp[64], proc[64];
	int fd, e;

#ifdef O_TMPFILE
	if (!t->no_tmpfile) {
		fd = openat(dfd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0644);
		if (fd >= 0) {
			if (write_all(fd, p, n) < 0) {
				e = errno;
				close(fd);
				return put_fail(shown, e, err);
			}
			snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
			if (linkat(AT_FDCWD, proc, dfd, name,
			    AT_SYMLINK_FOLLOW) == 0) {
				close(fd);
				return 0;
			}
			e = errno;
			close(fd);
			if (e != EEXIST) {
				/* No /proc, or a file system that
				 * cannot link it: the other way. */
				if (e != ENOENT && e != EPERM && e != EXDEV &&
				    e != EOPNOTSUPP)
					return put_fail(shown, e, err);
				t->no_tmpfile = 1;
			}
		} else if (errno == EOPNOTSUPP || errno == EISDIR ||
		    errno == EINVAL)
			t->no_tmpfile = 1;
		else
			return put_fail(shown, errno, err);
	}
#endif
	for (int i = 0; ; i++) {
		snprintf(tmp, sizeof(tmp), ".tmp.%ld.%u", (long)getpid(),
		    t->tmp_seq++);
		fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
		    O_CLOEXEC, 0644);
		/* A name taken (planted, or left by a crash): another. */
		if (fd >= 0 || errno != EEXIST || i == 100)
			break;
	}
	if (fd < 0)
		return put_fail(shown, errno, err);
	if (write_all(fd, p, n) < 0 || close(fd) < 0) {
		e = errno;
		unlinkat(dfd, tmp, 0);
		return put_fail(shown, e, err);
	}
	if (renameat(dfd, tmp, dfd, name) < 0) {
		e = errno;
		unlinkat(dfd, tmp, 0);
		return put_fail(shown, e, err);
	}
	return 0;
}

/* The partial tiles of the tile called name in dfd (name.p/W): calls fn
 * with each W; returns how many there are. */
static int
each_partial(int dfd, const char *name, void (*fn)(void *, int, int),
    void *arg)
{
	char p[32];
	int fd, n = 0;
	DIR *d;
	struct dirent *de;

	snprintf(p, sizeof(p), "%s.p", name);
	if ((fd = openat(dfd, p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) < 0)
		return 0;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return 0;
	}
	while ((de = readdir(d)) != NULL) {
		char *end;
		long w = strtol(de->d_name, &end, 10);
		if (*end == '\0' && end != de->d_name && de->d_name[0] != '0' &&
		    w > 0 && w < TILE_W) {
			n++;
			if (fn)
				fn(arg, dirfd(d), (int)w);
		}
	}
	closedir(d);
	return n;
}

struct widest {
	int need, best;
};

static void
widest_fn(void *arg, int fd, int w)
{
	struct widest *x = arg;

	(void)fd;
	if (w >= x->need && w > x->best)
		x->best = w;
}

/* The widest partial tile name.p/W in dfd with W >= need: its W, or 0. */
static int
widest_partial(int dfd, const char *name, int need)
{
	struct widest x = { need, 0 };

	each_partial(dfd, name, widest_fn, &x);
	return x.best;
}

static void
prune_fn(void *arg, int fd, int w)
{
	char n[16];

	if (w == *(int *)arg)
		return;
	snprintf(n, sizeof(n), "%d", w);
	unlinkat(fd, n, 0);
}

/* Remove the partial tiles of the tile called name in dfd but the one
 * of width keep (all: keep 0 for a full tile), and their directory when
 * empty. A wider one left by an earlier, longer log (truncated since, or
 * replaced) would hold other leaves. */
static void
prune_partials(int dfd, const char *name, int keep)
{
	char p[32];

	each_partial(dfd, name, prune_fn, &keep);
	if (keep == 0) {
		snprintf(p, sizeof(p), "%s.p", name);
		unlinkat(dfd, p, AT_REMOVEDIR);
	}
}

/* MTH of the count hashes at h (count a power of two, 1 to 256). */
static void
hash_up(struct evt_hasher *hs, const unsigned char *h, int count,
    unsigned char *out)
{
	unsigned char tmp[TILE_W / 2][EVT_HASH_LEN];

	if (count == 1) {
		memcpy(out, h, EVT_HASH_LEN);
		return;
	}
	for (int i = 0; i < count / 2; i++)
		evt_merkle_node(hs, h + 2 * i * EVT_HASH_LEN,
		    h + (2 * i + 1) * EVT_HASH_LEN, tmp[i]);
	for (int n = count / 2; n > 1; n /= 2)
		for (int i = 0; i < n / 2; i++)
			evt_merkle_node(hs, tmp[2 * i], tmp[2 * i + 1], tmp[i]);
	memcpy(out, tmp[0], EVT_HASH_LEN);
}

/* --- tiles made from the source ----------------------------------------- */

static void
made_key(int level, long long no, char k[9])
{
	k[0] = (char)level;
	memcpy(k + 1, &no, 8);
}

static struct tile *
made_get(const struct evt_tiles *t, int level, long long no)
{
	char k[9];
	long long *i;

	if (t->nmade == 0)
		return NULL;
	made_key(level, no, k);
	i = evt_hmap_get(&t->made_idx, k, sizeof(k));
	return i ? t->made[*i] : NULL;
}

static struct tile *
made_add(struct evt_tiles *t, int level, long long no)
{
	char k[9];
	struct tile *m = calloc(1, sizeof(*m));

	if (m == NULL)
		abort();
	if (t->nmade == t->capmade) {
		t->capmade = t->capmade ? 2 * t->capmade : 64;
		if ((t->made = realloc(t->made, t->capmade *
		    sizeof(*t->made))) == NULL)
			abort();
	}
	m->no = no;
	m->level = level;
	made_key(level, no, k);
	evt_hmap_put(&t->made_idx, k, sizeof(k), (long long)t->nmade);
	t->made[t->nmade++] = m;
	return m;
}

void
evt_tiles_source(struct evt_tiles *t, long long size, evt_leaves_fn fn,
    void *arg)
{
	t->src = fn;
	t->src_arg = arg;
	t->src_size = size;
}

static int load_tile(struct evt_tiles *, int, long long, int,
    struct evt_err *);

/*
 * Make the tile (level, no) from the source, as wide as the source's
 * tree allows, at least need: its first have hashes are prefix (a
 * narrower partial tile), the rest computed from the leaves (level 0) or
 * from the full tiles of the level below. Into the cache, and kept.
 */
static int
make_tile(struct evt_tiles *t, int level, long long no, int need,
    const unsigned char *prefix, int have, struct evt_err *err)
{
	long long avail = level * 8 < 63 ? t->src_size >> (8 * level) : 0;
	long long wide = avail - no * TILE_W;
	struct tile *m;

	if (wide > TILE_W)
		wide = TILE_W;
	if (wide < need)
		return evt_err_set(err, EX_SOFTWARE, "tile level %d: hash %lld "
		    "is not in a tree of %lld leaves", level,
		    no * TILE_W + need - 1, t->src_size);
	if (have > wide)
		have = 0;
	m = made_add(t, level, no);
	memcpy(m->h, prefix, (size_t)have * EVT_HASH_LEN);
	if (level == 0) {
		if (t->src(t->src_arg, no * TILE_W + have, no * TILE_W + wide,
		    m->h + have * EVT_HASH_LEN, err) < 0)
			return -1;
	} else
		for (int j = have; j < wide; j++) {
			if (load_tile(t, level - 1, no * TILE_W + j, TILE_W,
			    err) < 0)
				return -1;
			hash_up(t->hs, t->cache[level - 1].h, TILE_W,
			    m->h + j * EVT_HASH_LEN);
		}
	m->width = (int)wide;
	memcpy(&t->cache[level], m, sizeof(*m));
	return 0;
}

/* --- reading ------------------------------------------------------------ */

/* The tile at (level, no) with at least need hashes, in the cache: from
 * the tiles made from the source, from a file, or made now. */
static int
load_tile(struct evt_tiles *t, int level, long long no, int need,
    struct evt_err *err)
{
	struct tile *c = &t->cache[level], *m;
	char name[16], shown[4200], rel[64];
	size_t got;
	int dfd, fresh, rc, w = 0;

	if (c->no == no && c->width >= need)
		return 0;
	if ((m = made_get(t, level, no)) != NULL && m->width >= need) {
		memcpy(c, m, sizeof(*m));
		return 0;
	}
	c->no = -1;
	tile_name(level, no, rel, sizeof(rel));
	snprintf(shown, sizeof(shown), "%s/%s", t->dir, rel);
	snprintf(name, sizeof(name), "%03d", (int)(no % 1000));
	if ((dfd = level_dir(t, level, no, 0, &fresh, err)) == -1)
		return -1;
	if (dfd >= 0) {
		if ((rc = read_at(dfd, name, c->h, TILE_BYTES, &got, shown,
		    err)) < 0)
			return -1;
		if (rc == 0) {
			c->no = no;
			c->width = TILE_W;
			return 0;
		}
		/* A full tile of another size: torn by a crash, or not a
		 * tile. Made again from a source; else an error. */
		if (rc == 2 && !t->src)
			return evt_err_set(err, EX_DATAERR, "%s: not a tile: %zu "
			    "bytes, not %d", shown, got, TILE_BYTES);
		w = widest_partial(dfd, name, t->src ? 1 : need);
		if (w > 0) {
			snprintf(shown + strlen(shown), sizeof(shown) -
			    strlen(shown), ".p/%d", w);
			snprintf(rel, sizeof(rel), "%03d.p/%d",
			    (int)(no % 1000), w);
			/* name.p/W, read through name.p's descriptor. */
			char p[32];
			int pfd;
			snprintf(p, sizeof(p), "%s.p", name);
			if ((pfd = openat(dfd, p, O_RDONLY | O_DIRECTORY |
			    O_NOFOLLOW | O_CLOEXEC)) < 0)
				rc = 1;
			else {
				snprintf(p, sizeof(p), "%d", w);
				rc = read_at(pfd, p, c->h, (size_t)w *
				    EVT_HASH_LEN, &got, shown, err);
				close(pfd);
			}
			if (rc < 0)
				return -1;
			if (rc == 0 && w >= need) {
				c->no = no;
				c->width = w;
				return 0;
			}
			if (rc != 0)
				w = 0;
		}
	}
	tile_name(level, no, rel, sizeof(rel));
	if (t->src) {
		/* c->h holds the w hashes of a narrower partial tile, which
		 * make_tile takes before it reads any other tile. */
		rc = make_tile(t, level, no, need, c->h, w, err);
		if (rc < 0)
			evt_err_prefix(err, "%s: no tile of %d hashes or more, "
			    "nor the leaves to make it from", rel, need);
		return rc;
	}
	return evt_err_set(err, EX_NOINPUT, "%s: no tile of %d hashes or "
	    "more: the tiles do not reach this far (evt-verify writes them)",
	    rel, need);
}

/* The subtree of height h at index k: 2^(h mod 8) hashes of a tile at
 * level h / 8, hashed up. */
static int
tiles_read(void *arg, int h, long long k, unsigned char *out,
    struct evt_err *err)
{
	struct evt_tiles *t = arg;
	int level = h / 8, r = h % 8, count = 1 << r;
	long long first = k << r;
	int off = (int)(first % TILE_W);

	if (level >= LEVELS)
		return evt_err_set(err, EX_SOFTWARE, "no tree is that tall");
	if (load_tile(t, level, first / TILE_W, off + count, err) < 0)
		return -1;
	hash_up(t->hs, t->cache[level].h + off * EVT_HASH_LEN, count, out);
	return 0;
}

struct evt_hash_reader
evt_tiles_reader(struct evt_tiles *t)
{
	struct evt_hash_reader rd = { tiles_read, t };

	return rd;
}

/* --- writing ------------------------------------------------------------ */

/* Write the tile (level, no) of width hashes h: full as tile/L/N, else
 * as tile/L/N.p/W, the other partial tiles of N pruned. */
static int
store_tile(struct evt_tiles *t, int level, long long no, int width,
    const unsigned char *h, struct evt_err *err)
{
	char name[16], wname[32], rel[80], shown[4200];
	int dfd, pfd, fresh, pfresh, rc;

	if ((dfd = level_dir(t, level, no, 1, &fresh, err)) < 0)
		return -1;
	tile_name(level, no, rel, sizeof(rel));
	snprintf(name, sizeof(name), "%03d", (int)(no % 1000));
	if (width == TILE_W) {
		snprintf(shown, sizeof(shown), "%s/%s", t->dir, rel);
		/* A full tile never changes while the leaves do not: one
		 * that holds these bytes already stays (a run from seq 1
		 * over a million events reads 3900 tiles instead of
		 * writing them). In a directory this run made there is
		 * none to read. */
		if (!fresh) {
			static unsigned char old[TILE_BYTES];
			struct evt_err ignore;
			size_t got;
			if (read_at(dfd, name, old, TILE_BYTES, &got, shown,
			    &ignore) == 0 && memcmp(old, h, TILE_BYTES) == 0)
				return 0;
		}
		if (put_at(t, dfd, name, h, TILE_BYTES, shown, err) < 0)
			return -1;
		if (!fresh)
			prune_partials(dfd, name, 0);
		return 0;
	}
	snprintf(shown, sizeof(shown), "%s/%s.p/%d", t->dir, rel, width);
	snprintf(wname, sizeof(wname), "%s.p", name);
	pfresh = fresh;
	if ((pfd = subdir(dfd, wname, 1, &pfresh)) < 0) {
		strcat(rel, ".p");
		return dir_fail(t, rel, 1, err);
	}
	snprintf(wname, sizeof(wname), "%d", width);
	rc = put_at(t, pfd, wname, h, (size_t)width * EVT_HASH_LEN, shown,
	    err);
	close(pfd);
	if (rc == 0 && !pfresh)
		prune_partials(dfd, name, width);
	return rc;
}

int
evt_tiles_save(struct evt_tiles *t, long long *n, struct evt_err *err)
{
	*n = 0;
	for (size_t i = 0; i < t->nmade; i++) {
		const struct tile *m = t->made[i];
		if (store_tile(t, m->level, m->no, m->width, m->h, err) < 0)
			return -1;
		(*n)++;
	}
	return 0;
}

long long
evt_tiles_made(const struct evt_tiles *t)
{
	return (long long)t->nmade;
}

int
evt_tiles_start(struct evt_tiles *t, long long size, struct evt_err *err)
{
	t->werr = 0;
	for (int l = 0; l < LEVELS; l++) {
		long long count = l * 8 < 63 ? size >> (8 * l) : 0;
		struct tile *w = &t->w[l];

		w->no = count / TILE_W;
		w->width = (int)(count % TILE_W);
		t->dirty[l] = 0;
		if (w->width == 0)
			continue;
		/* The hashes before size in the tile being filled: a full
		 * tile written later holds them too. */
		if (load_tile(t, l, w->no, w->width, err) < 0)
			return -1;
		memcpy(w->h, t->cache[l].h, (size_t)w->width * EVT_HASH_LEN);
	}
	return 0;
}

void
evt_tiles_put(void *arg, int h, long long k, const unsigned char *hash)
{
	struct evt_tiles *t = arg;
	int level = h / 8;
	struct tile *w;

	if (h % 8 != 0 || level >= LEVELS || t->werr)
		return;
	w = &t->w[level];
	if (k / TILE_W != w->no || k % TILE_W != w->width) {
		t->werr = 1;
		evt_err_set(&t->err, EX_SOFTWARE, "tile level %d: hash %lld out "
		    "of order", level, k);
		return;
	}
	memcpy(w->h + w->width * EVT_HASH_LEN, hash, EVT_HASH_LEN);
	w->width++;
	t->dirty[level] = 1;
	if (w->width == TILE_W) {
		if (store_tile(t, level, w->no, TILE_W, w->h, &t->err) < 0) {
			t->werr = 1;
			return;
		}
		w->no++;
		w->width = 0;
		t->dirty[level] = 0;
	}
}

void
evt_tiles_set_head(struct evt_tiles *t, long long seq,
    const unsigned char *head)
{
	t->head_seq = seq;
	memcpy(t->head, head, EVT_HASH_LEN);
}

#define HEADS "evt-chain-heads"

/* DIR/evt-chain-heads, opened without following a symbolic link: NULL
 * when it is not there (or cannot be read). */
static FILE *
heads_open(struct evt_tiles *t)
{
	struct evt_err ignore;
	int dfd = root_dir(t, 0, &ignore), fd;
	FILE *f;

	if (dfd < 0 || (fd = openat(dfd, HEADS, O_RDONLY | O_NOFOLLOW |
	    O_NONBLOCK | O_CLOEXEC)) < 0)
		return NULL;
	if ((f = fdopen(fd, "r")) == NULL)
		close(fd);
	return f;
}

/* DIR/evt-chain-heads: "SEQ HEX" lines, the chain head at each tree size
 * the tiles were written at; the last line for a seq holds. */
int
evt_tiles_chain_head(struct evt_tiles *t, long long seq, unsigned char *out)
{
	char line[128], hex[2 * EVT_HASH_LEN + 1];
	FILE *f;
	int found = 0;
	long long s;

	if ((f = heads_open(t)) == NULL)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%lld %64s", &s, hex) == 2 && s == seq &&
		    strlen(hex) == 2 * EVT_HASH_LEN) {
			found = 1;
			for (int i = 0; i < EVT_HASH_LEN; i++) {
				unsigned int b;
				if (sscanf(hex + 2 * i, "%2x", &b) != 1)
					found = 0;
				out[i] = (unsigned char)b;
			}
		}
	fclose(f);
	return found;
}

int
evt_tiles_finish(struct evt_tiles *t, struct evt_err *err)
{
	if (t->werr) {
		*err = t->err;
		return -1;
	}
	for (int l = 0; l < LEVELS; l++)
		if (t->dirty[l] && t->w[l].width > 0) {
			if (store_tile(t, l, t->w[l].no, t->w[l].width,
			    t->w[l].h, err) < 0)
				return -1;
			t->dirty[l] = 0;
		}
	if (t->head_seq >= 0) {
		char line[128], hex[2 * EVT_HASH_LEN + 1], shown[4200];
		struct evt_buf b = EVT_BUF_INIT;
		FILE *f;
		int rc, dfd;

		if ((f = heads_open(t)) != NULL) {
			long long s;
			while (fgets(line, sizeof(line), f))
				if (sscanf(line, "%lld", &s) == 1 &&
				    s != t->head_seq && strchr(line, '\n'))
					evt_buf_adds(&b, line);
			fclose(f);
		}
		evt_chain_hex(t->head, hex);
		evt_buf_printf(&b, "%lld %s\n", t->head_seq, hex);
		snprintf(shown, sizeof(shown), "%s/" HEADS, t->dir);
		if ((dfd = root_dir(t, 1, err)) < 0)
			rc = -1;
		else
			rc = put_at(t, dfd, HEADS, b.p, b.len, shown, err);
		evt_buf_free(&b);
		if (rc < 0)
			return -1;
	}
	return 0;
}
