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
	int width;
	unsigned char h[TILE_BYTES];
};

struct evt_tiles {
	char *dir;
	struct evt_hasher *hs;
	struct tile cache[LEVELS];	/* the last tile read, per level */
	struct tile w[LEVELS];		/* being written, per level */
	int dirty[LEVELS];
	int werr;			/* a write failed: err below */
	struct evt_err err;
	long long head_seq;		/* -1: no chain head to record */
	unsigned char head[EVT_HASH_LEN];
};

struct evt_tiles *
evt_tiles_new(const char *dir)
{
	struct evt_tiles *t = calloc(1, sizeof(*t));

	if (t == NULL || (t->dir = strdup(dir)) == NULL)
		abort();
	t->hs = evt_hasher_new();
	for (int l = 0; l < LEVELS; l++)
		t->cache[l].no = t->w[l].no = -1;
	t->head_seq = -1;
	return t;
}

void
evt_tiles_free(struct evt_tiles *t)
{
	if (t == NULL)
		return;
	evt_hasher_free(t->hs);
	free(t->dir);
	free(t);
}

/* DIR/tile/L/N into out: N as x001/x234/067. */
static void
tile_path(const struct evt_tiles *t, int level, long long no, char *out,
    size_t cap)
{
	char num[64];
	int groups[8], g = 0;
	size_t n = 0;

	do {
		groups[g++] = (int)(no % 1000);
		no /= 1000;
	} while (no > 0);
	for (int i = g - 1; i >= 0; i--)
		n += (size_t)snprintf(num + n, sizeof(num) - n, "%s%03d%s",
		    i ? "x" : "", groups[i], i ? "/" : "");
	snprintf(out, cap, "%s/tile/%d/%s", t->dir, level, num);
}

/* Read the file path of exactly want bytes into p. 0, 1 not there, -1. */
static int
read_exact(const char *path, unsigned char *p, size_t want,
    struct evt_err *err)
{
	int fd = open(path, O_RDONLY);
	size_t got = 0;
	ssize_t r = 0;

	if (fd < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return 1;
		return evt_err_set(err, EX_IOERR, "%s: %s", path,
		    strerror(errno));
	}
	while (got < want && (r = read(fd, p + got, want - got)) > 0)
		got += (size_t)r;
	if (r > 0)
		r = read(fd, p, 1) > 0 ? 1 : 0, got += (size_t)r;
	close(fd);
	if (r < 0)
		return evt_err_set(err, EX_IOERR, "%s: %s", path,
		    strerror(errno));
	if (got != want)
		return evt_err_set(err, EX_DATAERR, "%s: not a tile: %zu bytes, "
		    "not %zu", path, got, want);
	return 0;
}

/* The widest partial tile DIR/tile/L/N.p/W, W >= need: its W, or 0. */
static int
widest_partial(const char *base, int need)
{
	char p[4200];
	DIR *d;
	struct dirent *de;
	int best = 0;

	snprintf(p, sizeof(p), "%s.p", base);
	if ((d = opendir(p)) == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		char *end;
		long w = strtol(de->d_name, &end, 10);
		if (*end == '\0' && end != de->d_name && w >= need &&
		    w < TILE_W && w > best)
			best = (int)w;
	}
	closedir(d);
	return best;
}

/* The tile at (level, no) with at least need hashes, in the cache. */
static int
load_tile(struct evt_tiles *t, int level, long long no, int need,
    struct evt_err *err)
{
	struct tile *c = &t->cache[level];
	char base[4096], p[4200];
	int rc, w;

	if (c->no == no && c->width >= need)
		return 0;
	c->no = -1;
	tile_path(t, level, no, base, sizeof(base));
	if ((rc = read_exact(base, c->h, TILE_BYTES, err)) < 0)
		return -1;
	if (rc == 0) {
		c->no = no;
		c->width = TILE_W;
		return 0;
	}
	if ((w = widest_partial(base, need)) > 0) {
		snprintf(p, sizeof(p), "%s.p/%d", base, w);
		if ((rc = read_exact(p, c->h, (size_t)w * EVT_HASH_LEN,
		    err)) < 0)
			return -1;
		if (rc == 0) {
			c->no = no;
			c->width = w;
			return 0;
		}
	}
	return evt_err_set(err, EX_NOINPUT, "%s: no tile of %d hashes or "
	    "more: the tiles do not reach this far (evt-verify writes them)",
	    base + strlen(t->dir) + 1, need);
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
	unsigned char tmp[128][EVT_HASH_LEN];
	int off = (int)(first % TILE_W);

	if (level >= LEVELS)
		return evt_err_set(err, EX_SOFTWARE, "no tree is that tall");
	if (load_tile(t, level, first / TILE_W, off + count, err) < 0)
		return -1;
	if (count == 1) {
		memcpy(out, t->cache[level].h + off * EVT_HASH_LEN,
		    EVT_HASH_LEN);
		return 0;
	}
	for (int i = 0; i < count / 2; i++)
		evt_merkle_node(t->hs, t->cache[level].h + (off + 2 * i) *
		    EVT_HASH_LEN, t->cache[level].h + (off + 2 * i + 1) *
		    EVT_HASH_LEN, tmp[i]);
	for (int n = count / 2; n > 1; n /= 2)
		for (int i = 0; i < n / 2; i++)
			evt_merkle_node(t->hs, tmp[2 * i], tmp[2 * i + 1], tmp[i]);
	memcpy(out, tmp[0], EVT_HASH_LEN);
	return 0;
}

struct evt_hash_reader
evt_tiles_reader(struct evt_tiles *t)
{
	struct evt_hash_reader rd = { tiles_read, t };

	return rd;
}

/* mkdir -p of the directory that path is in. */
static int
mkdirs(char *path, struct evt_err *err)
{
	for (char *s = strchr(path + 1, '/'); s; s = strchr(s + 1, '/')) {
		*s = '\0';
		if (mkdir(path, 0755) < 0 && errno != EEXIST) {
			evt_err_set(err, EX_CANTCREAT, "%s: %s", path,
			    strerror(errno));
			*s = '/';
			return -1;
		}
		*s = '/';
	}
	return 0;
}

/*
 * Write path atomically (a temporary file renamed over it), mode 0644:
 * tiles are public, meant to be served. No fsync: a tile lost to a crash
 * is written again by the next run, and one that does not hash to a
 * signed root is never used.
 */
static int
put_file(const char *path, const void *p, size_t n, struct evt_err *err)
{
	char tmp[4200], dir[4200];
	int fd;

	snprintf(tmp, sizeof(tmp), "%s.tmp%ld", path, (long)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 && errno == ENOENT) {
		/* The directories on first use only: a run writes
		 * thousands of tiles into a few of them. */
		snprintf(dir, sizeof(dir), "%s", path);
		if (mkdirs(dir, err) < 0)
			return -1;
		fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	}
	if (fd < 0)
		return evt_err_set(err, EX_CANTCREAT, "%s: %s", tmp,
		    strerror(errno));
	if (write(fd, p, n) != (ssize_t)n) {
		int e = errno ? errno : ENOSPC;
		close(fd);
		unlink(tmp);
		return evt_err_set(err, EX_IOERR, "%s: %s", tmp, strerror(e));
	}
	if (close(fd) < 0 || rename(tmp, path) < 0) {
		int e = errno;
		unlink(tmp);
		return evt_err_set(err, EX_IOERR, "%s: %s", path, strerror(e));
	}
	return 0;
}

/* Remove the partial tiles of base but the one of width keep (all: keep
 * 0 for a full tile), and their directory when empty. A wider one left
 * by an earlier, longer log (truncated since, or replaced) would hold
 * other leaves. */
static void
prune_partials(const char *base, int keep)
{
	char p[4200], f[4600];
	DIR *d;
	struct dirent *de;

	snprintf(p, sizeof(p), "%s.p", base);
	if ((d = opendir(p)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		char *end;
		long w = strtol(de->d_name, &end, 10);
		if (*end == '\0' && end != de->d_name && w != keep) {
			snprintf(f, sizeof(f), "%s/%s", p, de->d_name);
			unlink(f);
		}
	}
	closedir(d);
	if (keep == 0)
		rmdir(p);
}

static int
write_tile(struct evt_tiles *t, int level, struct evt_err *err)
{
	struct tile *w = &t->w[level];
	char base[4096], p[4200];

	tile_path(t, level, w->no, base, sizeof(base));
	if (w->width == TILE_W) {
		/* A full tile never changes while the leaves do not: one
		 * that holds these bytes already stays (a run from seq 1
		 * over a million events reads 3900 tiles instead of
		 * writing them). */
		static unsigned char old[TILE_BYTES];
		struct evt_err ignore;
		if (read_exact(base, old, TILE_BYTES, &ignore) == 0 &&
		    memcmp(old, w->h, TILE_BYTES) == 0)
			return 0;
		if (put_file(base, w->h, TILE_BYTES, err) < 0)
			return -1;
		prune_partials(base, 0);
		return 0;
	}
	snprintf(p, sizeof(p), "%s.p/%d", base, w->width);
	if (put_file(p, w->h, (size_t)w->width * EVT_HASH_LEN, err) < 0)
		return -1;
	prune_partials(base, w->width);
	return 0;
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
		if (write_tile(t, level, &t->err) < 0) {
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

/* DIR/evt-chain-heads: "SEQ HEX" lines, the chain head at each tree size
 * the tiles were written at; the last line for a seq holds. */
int
evt_tiles_chain_head(struct evt_tiles *t, long long seq, unsigned char *out)
{
	char path[4200], line[128], hex[2 * EVT_HASH_LEN + 1];
	FILE *f;
	int found = 0;
	long long s;

	snprintf(path, sizeof(path), "%s/evt-chain-heads", t->dir);
	if ((f = fopen(path, "r")) == NULL)
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
			if (write_tile(t, l, err) < 0)
				return -1;
			t->dirty[l] = 0;
		}
	if (t->head_seq >= 0) {
		char path[4200], line[128], hex[2 * EVT_HASH_LEN + 1];
		struct evt_buf b = EVT_BUF_INIT;
		FILE *f;
		int rc;

		snprintf(path, sizeof(path), "%s/evt-chain-heads", t->dir);
		if ((f = fopen(path, "r")) != NULL) {
			long long s;
			while (fgets(line, sizeof(line), f))
				if (sscanf(line, "%lld", &s) == 1 &&
				    s != t->head_seq && strchr(line, '\n'))
					evt_buf_adds(&b, line);
			fclose(f);
		}
		evt_chain_hex(t->head, hex);
		evt_buf_printf(&b, "%lld %s\n", t->head_seq, hex);
		rc = put_file(path, b.p, b.len, err);
		evt_buf_free(&b);
		if (rc < 0)
			return -1;
	}
	return 0;
}
