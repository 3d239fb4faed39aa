/*
 * tlog.c - the proofs' text formats and the transparency log's
 * operations on checkpoints and tiles (see tlog.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "tlog.h"

/* --- the proof formats --------------------------------------------------- */

struct evt_tlog_proof *
evt_tlog_proof_new(void)
{
	struct evt_tlog_proof *pf = calloc(1, sizeof(*pf));

	if (pf == NULL)
		abort();
	evt_checkpoint_init(&pf->cp);
	pf->b = -1;
	return pf;
}

void
evt_tlog_proof_free(struct evt_tlog_proof *pf)
{
	if (pf == NULL)
		return;
	evt_checkpoint_free(&pf->cp);
	free(pf);
}

long long
evt_tlog_number(const char *p, size_t n)
{
	if (n == 0 || n > 18 || strspn(p, "0123456789") < n ||
	    (*p == '0' && n > 1))
		return -1;
	return strtoll(p, NULL, 10);
}

static int
bad_proof(const char *path, int line, const char *what, struct evt_err *err)
{
	return evt_err_set(err, EX_DATAERR, "%s:%d: not a proof: %s", path,
	    line, what);
}

/* The line starting at p (before end) begins with the n bytes of s. */
static int
starts(const char *p, const char *end, const char *s, size_t n)
{
	return (size_t)(end - p) >= n && memcmp(p, s, n) == 0;
}

/* The number after the prefix of n bytes on the line [p, nl); -1 if none.
 * The number stops at nl at the latest, so strspn and strtoll see digits
 * only up to it. */
static long long
line_number(const char *p, const char *nl, size_t n)
{
	return evt_tlog_number(p + n, (size_t)(nl - p - n));
}

static int
parse(struct evt_tlog_proof *pf, int inclusion, const char *path,
    const char *text, size_t len, struct evt_err *err)
{
	const char *p = text, *end = text + len, *nl = NULL;
	const char *head = inclusion ? EVT_TLOG_PROOF : EVT_TLOG_CONS_PROOF;
	int line = 1;

#define NEXT() do { \
	if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL) \
		return bad_proof(path, line, "no newline at the end", err); \
	} while (0)
	if (len == 0)
		return bad_proof(path, 1, "empty", err);
	NEXT();
	if ((size_t)(nl - p) != strlen(head) || memcmp(p, head, strlen(head)))
		return bad_proof(path, line, inclusion ? "the first line is not "
		    EVT_TLOG_PROOF : "the first line is not " EVT_TLOG_CONS_PROOF,
		    err);
	p = nl + 1, line++;
	if (inclusion) {
		if (starts(p, end, "extra ", 6)) {
			NEXT();
			p = nl + 1, line++;	/* opaque, not trusted */
		}
		if (p >= end)
			return bad_proof(path, line, "no index line", err);
		NEXT();
		if (!starts(p, nl, "index ", 6) ||
		    (pf->a = line_number(p, nl, 6)) < 0)
			return bad_proof(path, line, "not an index line (index N)",
			    err);
		p = nl + 1, line++;
	} else {
		if (p >= end)
			return bad_proof(path, line, "no old line", err);
		NEXT();
		if (!starts(p, nl, "old ", 4) ||
		    (pf->a = line_number(p, nl, 4)) < 0)
			return bad_proof(path, line, "not an old line (old SIZE)",
			    err);
		p = nl + 1, line++;
		if (p >= end)
			return bad_proof(path, line, "no new line", err);
		NEXT();
		if (!starts(p, nl, "new ", 4) ||
		    (pf->b = line_number(p, nl, 4)) < 0)
			return bad_proof(path, line, "not a new line (new SIZE)",
			    err);
		p = nl + 1, line++;
	}
	while (p < end && *p != '\n') {
		NEXT();
		if (pf->n == EVT_PROOF_MAX)
			return bad_proof(path, line, "too many hashes", err);
		if (evt_b64_decode(p, (size_t)(nl - p), pf->h[pf->n],
		    EVT_HASH_LEN) != EVT_HASH_LEN)
			return bad_proof(path, line, "not a hash (base64 of 32 "
			    "bytes)", err);
		pf->n++;
		p = nl + 1, line++;
	}
	if (inclusion) {
		if (p >= end)
			return bad_proof(path, line, "no checkpoint after the "
			    "hashes", err);
		p++, line++;
		return evt_checkpoint_parse(&pf->cp, path, line, p,
		    (size_t)(end - p), err);
	} else if (p < end)
		return bad_proof(path, line, "a line after the hashes", err);
#undef NEXT
	return 0;
}

int
evt_tlog_proof_parse(struct evt_tlog_proof *pf, int inclusion,
    const char *path, const char *text, size_t len, struct evt_err *err)
{
	/* A number is read with strspn/strtoll, which stop at the line's
	 * newline, or at the NUL this copy ends in. */
	char *s = malloc(len + 1);
	int rc;

	if (s == NULL)
		abort();
	memcpy(s, text, len);
	s[len] = '\0';
	evt_checkpoint_free(&pf->cp);
	pf->inclusion = inclusion;
	pf->a = 0;
	pf->b = -1;
	pf->n = 0;
	rc = parse(pf, inclusion, path, s, len, err);
	free(s);
	return rc;
}

static void
add_hashes(struct evt_buf *b, const unsigned char (*h)[EVT_HASH_LEN], int n)
{
	for (int i = 0; i < n; i++) {
		evt_b64_add(b, h[i], EVT_HASH_LEN);
		evt_buf_addc(b, '\n');
	}
}

void
evt_tlog_proof_format(const struct evt_tlog_proof *pf, struct evt_buf *out)
{
	if (pf->inclusion) {
		evt_buf_printf(out, EVT_TLOG_PROOF "\nindex %lld\n", pf->a);
		add_hashes(out, pf->h, pf->n);
		evt_buf_addc(out, '\n');
		evt_buf_add(out, pf->cp.text.p, pf->cp.text.len);
	} else {
		evt_buf_printf(out, EVT_TLOG_CONS_PROOF "\nold %lld\nnew %lld\n",
		    pf->a, pf->b);
		add_hashes(out, pf->h, pf->n);
	}
}

/* --- where things are ---------------------------------------------------- */

const char *
evt_tlog_log_file(const char *spec)
{
	if (spec == NULL)
		spec = getenv("EVT_LOG");
	if (spec == NULL || *spec == '\0')
		spec = "events.db";
	if (strncmp(spec, "postgres://", 11) == 0 ||
	    strncmp(spec, "postgresql://", 13) == 0)
		return NULL;
	if (strncmp(spec, "sqlite:", 7) == 0)
		return spec + 7;
	if (strncmp(spec, "file:", 5) == 0)
		return spec + 5;
	return spec;
}

char *
evt_tlog_tiles_dir(const char *given, const char *logspec)
{
	const char *f = evt_tlog_log_file(logspec);
	char *d;

	if (given)
		return evt_strdup(given);
	if (f == NULL)
		return NULL;
	if (asprintf(&d, "%s.tiles", f) < 0)
		abort();
	return d;
}

char *
evt_tlog_default_origin(const char *path)
{
	char host[256], *abs = realpath(path, NULL), *o;

	if (gethostname(host, sizeof(host)) < 0)
		strcpy(host, "localhost");
	host[sizeof(host) - 1] = '\0';
	if (asprintf(&o, "%s%s%s", host, abs && *abs == '/' ? "" : "/",
	    abs ? abs : path) < 0)
		abort();
	free(abs);
	return o;
}

#define EXT_HEAD "evt-chain-head "

int
evt_tlog_ext_chain_head(const struct evt_checkpoint *cp, unsigned char *out)
{
	const char *p = cp->text.p, *end = cp->text.p + cp->body_len, *nl;
	int line = 1;

	for (; p < end && (nl = memchr(p, '\n', (size_t)(end - p))); p = nl + 1,
	    line++) {
		const char *sp;
		if (line <= 3 || !starts(p, nl, EXT_HEAD, strlen(EXT_HEAD)))
			continue;
		p += strlen(EXT_HEAD);
		if ((sp = memchr(p, ' ', (size_t)(nl - p))) == NULL ||
		    evt_tlog_number(p, (size_t)(sp - p)) != cp->seq ||
		    evt_b64_decode(sp + 1, (size_t)(nl - sp - 1), out,
		    EVT_HASH_LEN) != EVT_HASH_LEN)
			continue;
		return 1;
	}
	return 0;
}

void
evt_tlog_ext_add_chain_head(struct evt_buf *b, long long seq,
    const unsigned char *head)
{
	evt_buf_printf(b, EXT_HEAD "%lld ", seq);
	evt_b64_add(b, head, EVT_HASH_LEN);
	evt_buf_addc(b, '\n');
}

/* --- the tree as the chain verifies -------------------------------------- */

void
evt_tlog_tree_init(struct evt_tlog_tree *t, const char *dir)
{
	memset(t, 0, sizeof(*t));
	t->hs = evt_hasher_new();
	evt_merkle_edge_init(&t->edge);
	if (dir)
		t->tiles = evt_tiles_new(dir);
}

void
evt_tlog_tree_free(struct evt_tlog_tree *t)
{
	evt_tiles_free(t->tiles);
	evt_hasher_free(t->hs);
	t->tiles = NULL;
	t->hs = NULL;
}

void
evt_tlog_tree_leaf(void *arg, long long seq, const unsigned char *leaf)
{
	struct evt_tlog_tree *t = arg;

	if (t->broken)
		return;
	if (seq != t->edge.size + 1) {
		t->broken = 1;
		return;
	}
	evt_merkle_edge_push(t->hs, &t->edge, leaf,
	    t->tiles ? evt_tiles_put : NULL, t->tiles);
	if (seq == t->snap) {
		evt_merkle_edge_root(t->hs, &t->edge, t->snap_root);
		t->snapped = 1;
	}
}

/* --- tiles for proofs ---------------------------------------------------- */

int
evt_tlog_tiles_hold(struct evt_tiles *t, const struct evt_checkpoint *cp,
    struct evt_hasher *hs, struct evt_merkle_edge *e, struct evt_err *err)
{
	struct evt_hash_reader rd = evt_tiles_reader(t);
	unsigned char root[EVT_HASH_LEN];

	if (evt_merkle_edge_load(e, cp->seq, &rd, err) < 0)
		return -1;
	evt_merkle_edge_root(hs, e, root);
	if (memcmp(root, cp->root, EVT_HASH_LEN) != 0)
		return evt_err_set(err, 1, "the tiles do not hold the "
		    "checkpoint's tree: their root at size %lld is another "
		    "(written from a log that differs from the checkpoint's)",
		    cp->seq), 1;
	return 0;
}

/*
 * The leaves a proof's tiles lack, from the log (evt_tiles_source): read
 * in batches of up to LEAF_BATCH events, in seq order, hashed as the
 * chain hashes them. The log is opened at the first read only: a proof
 * from tiles that hold its tree never touches it.
 */
#define LEAF_BATCH 65536

struct leaves {
	const char *spec;	/* the log's (borrowed) */
	struct evt_log *log;
	struct evt_hasher *hs;
	unsigned char *buf;	/* the hashes of seq lo + 1 ... lo + n */
	long long lo, n;
	long long events;	/* read and hashed in all */
};

static int
on_event(void *arg, long long seq, const char *line, size_t len)
{
	struct leaves *l = arg;

	/* An event missing from the log ends the batch there. */
	if (seq != l->lo + l->n + 1)
		return 1;
	evt_chain_leaf(l->hs, seq, line, len, l->buf + l->n * EVT_HASH_LEN);
	l->n++;
	l->events++;
	return 0;
}

static int
log_leaves(void *arg, long long lo, long long hi, unsigned char *out,
    struct evt_err *err)
{
	struct leaves *l = arg;

	while (lo < hi) {
		struct evt_read r = { 0 };
		long long k;

		if (lo >= l->lo && lo < l->lo + l->n) {
			k = (hi < l->lo + l->n ? hi : l->lo + l->n) - lo;
			memcpy(out, l->buf + (lo - l->lo) * EVT_HASH_LEN,
			    (size_t)k * EVT_HASH_LEN);
			out += k * EVT_HASH_LEN;
			lo += k;
			continue;
		}
		if (l->log == NULL && (l->log = evt_log_open(l->spec, 0,
		    err)) == NULL)
			return -1;
		l->lo = lo;
		l->n = 0;
		r.after = lo;
		r.limit = LEAF_BATCH;
		if (evt_log_read(l->log, &r, on_event, l, err) < 0)
			return -1;
		if (l->n == 0)
			return evt_err_set(err, 1, "%s: seq %lld: no such event "
			    "(missing, archived, or the log is not the "
			    "checkpoint's)", evt_log_path(l->log), lo + 1);
	}
	return 0;
}

static struct leaves *
leaves_new(const char *spec)
{
	struct leaves *l = calloc(1, sizeof(*l));

	if (l == NULL || (l->buf = malloc((size_t)LEAF_BATCH *
	    EVT_HASH_LEN)) == NULL)
		abort();
	l->spec = spec;
	l->hs = evt_hasher_new();
	return l;
}

static void
leaves_free(struct leaves *l)
{
	if (l == NULL)
		return;
	evt_log_close(l->log);
	evt_hasher_free(l->hs);
	free(l->buf);
	free(l);
}

/*
 * evt_tlog_tiles_open, with src (NULL: none) the log to make from what
 * the tiles lack; *lv is then its reader, to be given to src_done.
 */
static int
open_tiles(const char *dir, struct evt_tlog_src *src,
    const struct evt_checkpoint *cp, const char *cpname,
    struct evt_hasher *hs, struct evt_tiles **out, struct leaves **lv,
    struct evt_err *err)
{
	struct evt_tiles *t;
	struct evt_merkle_edge *e;
	int rc;

	*out = NULL;
	*lv = NULL;
	if (dir == NULL)
		return evt_err_set(err, EX_USAGE, "a PostgreSQL log keeps no "
		    "tiles unless --tiles DIR is given");
	if (access(dir, F_OK) < 0)
		return evt_err_set(err, EX_NOINPUT, "%s: no tiles (%s): "
		    "evt-verify of the log writes them", dir, strerror(errno));
	if ((e = malloc(sizeof(*e))) == NULL)
		abort();
	t = evt_tiles_new(dir);
	if (src) {
		*lv = leaves_new(src->logspec);
		evt_tiles_source(t, cp->seq, log_leaves, *lv);
	}
	rc = evt_tlog_tiles_hold(t, cp, hs, e, err);
	free(e);
	if (rc > 0 && *lv && (*lv)->events > 0)
		evt_err_set(err, 1, "the tiles, with the %lld events after them "
		    "in %s, do not hold the checkpoint's tree: their root at "
		    "size %lld is another (the log or the tiles differ from "
		    "the checkpoint's)", (*lv)->events,
		    evt_log_path((*lv)->log), cp->seq);
	if (rc != 0) {
		evt_tiles_free(t);
		leaves_free(*lv);
		*lv = NULL;
		if (rc < 0)
			evt_err_prefix(err, "%s", dir);
		else
			evt_err_prefix(err, "%s: %s", dir, cpname);
		return rc;
	}
	*out = t;
	return 0;
}

/* What the proof made from the log, into src, and the tiles made
 * written; lv freed. */
static void
src_done(struct evt_tlog_src *src, struct evt_tiles *t, struct leaves *lv)
{
	if (src && lv) {
		src->events = lv->events;
		src->tiles = evt_tiles_made(t);
		src->log = evt_strdup(lv->log ? evt_log_path(lv->log) :
		    "the log");
		if (src->tiles > 0 && evt_tiles_save(t, &src->saved,
		    &src->save_err) < 0)
			src->unsaved = 1;
	}
	leaves_free(lv);
}

void
evt_tlog_src_free(struct evt_tlog_src *src)
{
	if (src == NULL)
		return;
	free(src->log);
	src->log = NULL;
}

int
evt_tlog_tiles_open(const char *dir, const struct evt_checkpoint *cp,
    const char *cpname, struct evt_hasher *hs, struct evt_tiles **out,
    struct evt_err *err)
{
	struct leaves *lv;

	return open_tiles(dir, NULL, cp, cpname, hs, out, &lv, err);
}

/* --- proofs -------------------------------------------------------------- */

int
evt_tlog_prove(long long seq, const struct evt_checkpoint *cp,
    const char *cpname, const char *dir, struct evt_tlog_src *src,
    struct evt_buf *out, struct evt_err *err)
{
	struct evt_hasher *hs = evt_hasher_new();
	struct evt_tlog_proof *pf = evt_tlog_proof_new();
	struct evt_tiles *t;
	struct leaves *lv;
	struct evt_hash_reader rd;
	unsigned char leaf[EVT_HASH_LEN];
	int rc;

	if (seq < 1 || seq > cp->seq) {
		rc = (evt_err_set(err, 1, "--prove: seq %lld is not in the "
		    "checkpoint's tree of %lld events", seq, cp->seq), 1);
		goto out;
	}
	if ((rc = open_tiles(dir, src, cp, cpname, hs, &t, &lv, err)) != 0)
		goto out;
	rd = evt_tiles_reader(t);
	if (evt_merkle_prove_inclusion(hs, &rd, seq - 1, cp->seq, pf->h,
	    &pf->n, err) < 0 || rd.fn(rd.arg, 0, seq - 1, leaf, err) < 0) {
		evt_err_prefix(err, "%s", dir);
		rc = -1;
	} else if (evt_merkle_check_inclusion(hs, seq - 1, cp->seq, leaf,
	    pf->h, pf->n, cp->root, err) != 0) {
		/* Tiles that do not hash up are no proof. */
		evt_err_prefix(err, "%s: seq %lld", dir, seq);
		err->code = 1;
		rc = 1;
	} else {
		pf->inclusion = 1;
		pf->a = seq - 1;
		evt_buf_add(&pf->cp.text, cp->text.p, cp->text.len);
		evt_tlog_proof_format(pf, out);
	}
	/* Only tiles whose proof checked are written. */
	src_done(rc == 0 ? src : NULL, t, lv);
	evt_tiles_free(t);
out:
	evt_tlog_proof_free(pf);
	evt_hasher_free(hs);
	return rc;
}

int
evt_tlog_proof_for(const struct evt_tlog_proof *pf, const char *path,
    const struct evt_checkpoint *cp, const char *cpname, struct evt_err *err)
{
	if (cp->seq != pf->cp.seq || memcmp(cp->root, pf->cp.root,
	    EVT_HASH_LEN) != 0 || strcmp(cp->origin, pf->cp.origin) != 0)
		return evt_err_set(err, 1, "%s: the proof is for the tree of %lld "
		    "events of %s, not %s's (%lld events of %s)", path,
		    pf->cp.seq, pf->cp.origin, cpname, cp->seq, cp->origin), 1;
	return 0;
}

int
evt_tlog_check_inclusion(const struct evt_tlog_proof *pf,
    const char *path, const struct evt_checkpoint *cp, const char *line,
    size_t len, struct evt_err *err)
{
	struct evt_hasher *hs = evt_hasher_new();
	unsigned char leaf[EVT_HASH_LEN];
	int rc;

	evt_chain_leaf(hs, pf->a + 1, line, len, leaf);
	rc = evt_merkle_check_inclusion(hs, pf->a, cp->seq, leaf,
	    (unsigned char (*)[EVT_HASH_LEN])pf->h, pf->n, cp->root, err);
	evt_hasher_free(hs);
	if (rc == 0)
		return 0;
	long long said = evt_chain_line_seq(line, len);
	if (said > 0 && said != pf->a + 1)
		evt_err_set(err, 1, "%s: the event line says seq %lld, the proof "
		    "is for seq %lld (index %lld)", path, said, pf->a + 1, pf->a);
	else {
		evt_err_prefix(err, "%s", path);
		err->code = 1;
	}
	return 1;
}

int
evt_tlog_same_origin(const struct evt_checkpoint *a, const char *an,
    const struct evt_checkpoint *b, const char *bn, struct evt_err *err)
{
	if (strcmp(a->origin, b->origin) != 0)
		return evt_err_set(err, 1, "%s is for origin %s, %s for %s: not "
		    "one log", an, a->origin, bn, b->origin), 1;
	return 0;
}

/* The consistency proof from old to cp into h (*n hashes), from the tiles
 * t (which hold cp's tree), checked: 0, 1 (cp does not extend old), -1. */
static int
consistency(struct evt_hasher *hs, struct evt_tiles *t,
    const struct evt_checkpoint *old, const char *oldname,
    const struct evt_checkpoint *cp, const char *cpname,
    unsigned char (*h)[EVT_HASH_LEN], int *n, struct evt_err *err)
{
	struct evt_hash_reader rd = evt_tiles_reader(t);

	*n = 0;
	if (old->seq > cp->seq)
		return evt_err_set(err, 1, "%s (%lld events) is older than %s "
		    "(%lld events): a log never shrinks", cpname, cp->seq,
		    oldname, old->seq), 1;
	if (old->seq > 0 && evt_merkle_prove_consistency(hs, &rd, old->seq,
	    cp->seq, h, n, err) < 0)
		return -1;
	if (evt_merkle_check_consistency(hs, old->seq, cp->seq, old->root,
	    cp->root, h, *n, err) != 0) {
		evt_err_prefix(err, "%s does not extend %s", cpname, oldname);
		err->code = 1;
		return 1;
	}
	return 0;
}

int
evt_tlog_prove_consistency(const struct evt_checkpoint *old,
    const char *oldname, const struct evt_checkpoint *cp, const char *cpname,
    const char *dir, struct evt_tlog_src *src, struct evt_buf *out,
    struct evt_err *err)
{
	struct evt_hasher *hs = evt_hasher_new();
	struct evt_tlog_proof *pf = evt_tlog_proof_new();
	struct evt_tiles *t;
	struct leaves *lv;
	int rc;

	if ((rc = open_tiles(dir, src, cp, cpname, hs, &t, &lv, err)) == 0) {
		rc = consistency(hs, t, old, oldname, cp, cpname, pf->h,
		    &pf->n, err);
		src_done(rc == 0 ? src : NULL, t, lv);
		evt_tiles_free(t);
	}
	if (rc == 0) {
		pf->a = old->seq;
		pf->b = cp->seq;
		evt_tlog_proof_format(pf, out);
	}
	evt_tlog_proof_free(pf);
	evt_hasher_free(hs);
	return rc;
}

int
evt_tlog_check_consistency(const struct evt_tlog_proof *pf,
    const char *path, const struct evt_checkpoint *old,
    const struct evt_checkpoint *cp, struct evt_err *err)
{
	struct evt_hasher *hs;
	int rc;

	if (pf->a != old->seq || pf->b != cp->seq)
		return evt_err_set(err, 1, "%s: the proof is from %lld to %lld "
		    "events, the checkpoints are at %lld and %lld", path, pf->a,
		    pf->b, old->seq, cp->seq), 1;
	hs = evt_hasher_new();
	rc = evt_merkle_check_consistency(hs, old->seq, cp->seq, old->root,
	    cp->root, (unsigned char (*)[EVT_HASH_LEN])pf->h, pf->n, err);
	evt_hasher_free(hs);
	if (rc != 0) {
		evt_err_prefix(err, "%s", path);
		err->code = 1;
		return 1;
	}
	return 0;
}

/* --- witnesses ----------------------------------------------------------- */

int
evt_tlog_cosign(struct evt_checkpoint *cp, const char *cpname,
    const char *keyfile, const char *key_name, const char *state,
    const char *dir, struct evt_tlog_src *src, const char *out, int *first,
    long long *old_seq, struct evt_err *err)
{
	struct evt_checkpoint old;
	struct evt_hasher *hs = evt_hasher_new();
	struct evt_tiles *t = NULL;
	struct leaves *lv = NULL;
	unsigned char (*h)[EVT_HASH_LEN] = calloc(EVT_PROOF_MAX, EVT_HASH_LEN);
	int n, rc = 0;

	if (h == NULL)
		abort();
	evt_checkpoint_init(&old);
	*first = 0;
	*old_seq = 0;
	if (evt_checkpoint_read(&old, state, err) < 0) {
		if (err->code != EX_NOINPUT) {
			rc = -1;
			goto out;
		}
		*first = 1;
	}
	if (!*first) {
		*old_seq = old.seq;
		if ((rc = evt_tlog_same_origin(&old, state, cp, cpname, err)))
			goto out;
		if (old.seq < cp->seq) {
			if ((rc = open_tiles(dir, src, cp, cpname, hs, &t, &lv,
			    err)) != 0 || (rc = consistency(hs, t, &old, state,
			    cp, cpname, h, &n, err)) != 0)
				goto out;
			src_done(src, t, lv);
			lv = NULL;
		} else if (old.seq > cp->seq) {
			rc = (evt_err_set(err, 1, "%s (%lld events) is older than "
			    "%s (%lld events), which this witness signed: "
			    "refused", cpname, cp->seq, state, old.seq), 1);
			goto out;
		} else if (memcmp(old.root, cp->root, EVT_HASH_LEN) != 0) {
			rc = (evt_err_set(err, 1, "%s and %s are trees of %lld "
			    "events with different roots: the log forked; "
			    "refused", cpname, state, cp->seq), 1);
			goto out;
		}
	}
	if (evt_checkpoint_sign(cp, keyfile, key_name, err) < 0 ||
	    evt_checkpoint_write(cp, out ? out : cpname, err) < 0 ||
	    evt_checkpoint_write(cp, state, err) < 0)
		rc = -1;
out:
	leaves_free(lv);
	free(h);
	evt_tiles_free(t);
	evt_hasher_free(hs);
	evt_checkpoint_free(&old);
	return rc;
}
