/*
 * chain.c - the hash chain over the log, its verification, checkpoints
 * and their Ed25519 signatures (see chain.h for the exact definitions).
 *
 * The backends store the hashes (log_sqlite.c: a column; chain_file.c:
 * the sidecar of a file log) and hand them back through the chain_read
 * operation of log_impl.h; everything else is here.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/*
 * SHA-256 through the low-level interface, deprecated in OpenSSL 3 but
 * kept there: EVP_DigestInit_ex2 sets up the provider's context again on
 * every call, two calls an event, and a full verify of 200k events took
 * 0.12 s of CPU through EVP against 0.10 s here (measured). Signatures go
 * through EVP as they should. Should the interface go, EVP is a drop-in.
 */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>

#include "chain.h"
#include "crypto_load.h"
#include "file.h"
#include "log_impl.h"

/* --- hashing ------------------------------------------------------------ */

struct evt_hasher {
	SHA256_CTX c;
};

struct evt_hasher *
evt_hasher_new(void)
{
	struct evt_hasher *hs = calloc(1, sizeof(*hs));

	if (hs == NULL)
		abort();
	return hs;
}

void
evt_hasher_free(struct evt_hasher *hs)
{
	free(hs);
}

static void
digest(struct evt_hasher *hs, const void *a, size_t an, const void *b,
    size_t bn, unsigned char *out)
{
	SHA256_Init(&hs->c);
	SHA256_Update(&hs->c, a, an);
	if (bn)
		SHA256_Update(&hs->c, b, bn);
	SHA256_Final(out, &hs->c);
}

void
evt_chain_leaf(struct evt_hasher *hs, long long seq, const char *line,
    size_t len, unsigned char out[EVT_CHAIN_LEN])
{
	unsigned char pre[9];
	uint64_t s = (uint64_t)seq;

	pre[0] = 0x00;
	for (int i = 0; i < 8; i++)
		pre[1 + i] = (unsigned char)(s >> (56 - 8 * i));
	digest(hs, pre, sizeof(pre), line, len, out);
}

void
evt_chain_step(struct evt_hasher *hs, const unsigned char *prev,
    long long seq, const char *line, size_t len,
    unsigned char out[EVT_CHAIN_LEN])
{
	unsigned char leaf[EVT_CHAIN_LEN];

#ifdef EVT_BENCH_NO_CHAIN
	/* The bench's baseline (Makefile: build/bench/evt-append-nochain):
	 * no hashing, so a backend stores h(0) for every event. */
	if (out != prev)
		memcpy(out, prev, EVT_CHAIN_LEN);
	return;
#endif
	evt_chain_leaf(hs, seq, line, len, leaf);
	evt_chain_node(hs, prev, leaf, out);
}

void
evt_chain_node(struct evt_hasher *hs, const unsigned char *prev,
    const unsigned char *leaf, unsigned char out[EVT_CHAIN_LEN])
{
	unsigned char node[1 + 2 * EVT_CHAIN_LEN];

#ifdef EVT_BENCH_NO_CHAIN
	if (out != prev)
		memcpy(out, prev, EVT_CHAIN_LEN);
	(void)hs;
	(void)leaf;
	return;
#endif
	node[0] = 0x01;
	memcpy(node + 1, prev, EVT_CHAIN_LEN);
	memcpy(node + 1 + EVT_CHAIN_LEN, leaf, EVT_CHAIN_LEN);
	digest(hs, node, sizeof(node), NULL, 0, out);
}

int
evt_hash_thread_wanted(int cores)
{
	const char *e = getenv("EVT_HASH_THREAD");

	if (e != NULL && *e != '\0')
		return strcmp(e, "0") != 0;
	return sysconf(_SC_NPROCESSORS_ONLN) >= cores;
}

long long
evt_hash_key(struct evt_hasher *hs, const char *p, size_t n)
{
	unsigned char h[EVT_CHAIN_LEN];
	uint64_t k = 0;

	digest(hs, p, n, NULL, 0, h);
	for (int i = 0; i < 8; i++)
		k = k << 8 | h[i];
	return (long long)k;
}

void
evt_chain_hex(const unsigned char *h, char *out)
{
	static const char hex[] = "0123456789abcdef";

	for (int i = 0; i < EVT_CHAIN_LEN; i++) {
		out[2 * i] = hex[h[i] >> 4];
		out[2 * i + 1] = hex[h[i] & 15];
	}
	out[2 * EVT_CHAIN_LEN] = '\0';
}

long long
evt_chain_line_seq(const char *line, size_t len)
{
	/* Stored lines are compact with seq before data (DESIGN §2), and a
	 * quote inside a string is escaped, so the first "seq": is the
	 * envelope's. Only a hint for diagnosis: the hash decides. */
	const char *p = memmem(line, len, "\"seq\":", 6);
	long long s = 0;

	if (p == NULL)
		return -1;
	p += 6;
	if (p >= line + len || *p < '0' || *p > '9')
		return -1;
	while (p < line + len && *p >= '0' && *p <= '9' && s < 1000000000000000LL)
		s = s * 10 + (*p++ - '0');
	return s;
}

/* --- verification ------------------------------------------------------- */

static const char *const fault_name[EVT_CHAIN_FAULT_N] = {
	"ok", "line changed", "event missing", "event inserted",
	"events reordered", "seq gap", "hash missing", "log not chained",
	"log truncated", "log does not extend the checkpoint"
};

const char *
evt_chain_fault_name(int fault)
{
	return fault >= 0 && fault < EVT_CHAIN_FAULT_N ? fault_name[fault] : "?";
}

/* After the first event that does not verify, this many are kept so the
 * diagnosis can tell a changed line from a deleted, inserted or moved
 * event. */
#define WINDOW 8

struct row {
	long long seq;		/* as stored (column, or the line's seq) */
	char *line;
	size_t len;
	int has;		/* a hash is stored */
	unsigned char hash[EVT_CHAIN_LEN];
};

struct vstate {
	struct evt_verify *v;
	struct evt_hasher *hs;
	long long expect;	/* the seq the next event must have */
	unsigned char prev[EVT_CHAIN_LEN];	/* h(expect - 1) */
	int anchor;		/* since, not full: the next row is seq N */
	int anchored;
	long long rows;
	struct row win[WINDOW];
	int nwin;
};

static int
fault(struct evt_verify *v, int f, long long seq, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int
fault(struct evt_verify *v, int f, long long seq, const char *fmt, ...)
{
	va_list ap;
	int n;

	v->fault = f;
	v->bad_seq = seq;
	n = snprintf(v->detail, sizeof(v->detail), "seq %lld: %s", seq,
	    fault_name[f]);
	if (fmt && n > 0 && (size_t)n < sizeof(v->detail) - 3) {
		memcpy(v->detail + n, " (", 3);
		va_start(ap, fmt);
		vsnprintf(v->detail + n + 2, sizeof(v->detail) - (size_t)n - 2,
		    fmt, ap);
		va_end(ap);
		n = (int)strlen(v->detail);
		if ((size_t)n < sizeof(v->detail) - 1)
			memcpy(v->detail + n, ")", 2);
	}
	return 1;
}

/*
 * Events 1..seq were archived out of the log, and hash is what the log
 * keeps of h(seq) (NULL: they were never chained, and the chain starts
 * again from zeros). The chain goes on from there; a checkpoint can be
 * checked at the boundary, not inside the archived range.
 */
static int
on_boundary(struct vstate *s, long long seq, const unsigned char *hash)
{
	static const unsigned char zero[EVT_CHAIN_LEN];
	struct evt_verify *v = s->v;
	const struct evt_checkpoint *cp = v->since;

	if (hash == NULL)
		hash = zero;
	if (cp && cp->seq < seq)
		return fault(v, EVT_CHAIN_TRUNCATED, cp->seq, "the log starts "
		    "at seq %lld: events 1 to %lld are archived, so the "
		    "checkpoint's event cannot be checked; keep a checkpoint "
		    "at or after seq %lld", seq + 1, seq, seq);
	if (cp && cp->seq == seq) {
		v->since_seen = 1;
		memcpy(v->since_chain, hash, EVT_CHAIN_LEN);
	}
	if (cp && cp->seq == seq && v->since_head &&
	    memcmp(hash, v->since_head, EVT_CHAIN_LEN) != 0)
		return fault(v, EVT_CHAIN_FORKED, seq, "the hash kept of the "
		    "last archived event is not the checkpoint's: history "
		    "rewritten or the log replaced");
	if (s->anchor && cp->seq == seq) {
		s->anchor = 0;
		s->anchored = 1;
	}
	v->archived = seq;
	memcpy(s->prev, hash, EVT_CHAIN_LEN);
	memcpy(v->head, hash, EVT_CHAIN_LEN);
	v->seq = seq;
	s->expect = seq + 1;
	return 0;
}

static int
on_row(void *arg, long long seq, const char *line, size_t len,
    const unsigned char *hash)
{
	struct vstate *s = arg;
	struct evt_verify *v = s->v;
	unsigned char c[EVT_CHAIN_LEN];

	if (line == NULL)
		return on_boundary(s, seq, hash);
	s->rows++;
	if (s->nwin > 0 || v->fault) {
		if (v->fault)
			return 1;
		goto keep;
	}
	if (s->anchor) {
		const struct evt_checkpoint *cp = v->since;
		s->anchor = 0;
		s->anchored = 1;
		if (seq != cp->seq)
			return fault(v, EVT_CHAIN_FORKED, cp->seq,
			    "the checkpoint's event is missing: seq %lld "
			    "follows %lld", seq, cp->seq - 1);
		if (hash == NULL || (v->since_head &&
		    memcmp(hash, v->since_head, EVT_CHAIN_LEN) != 0))
			return fault(v, EVT_CHAIN_FORKED, cp->seq,
			    "its hash is %s the %s: history rewritten "
			    "or the log replaced", hash ? "not" : "missing, not",
			    v->since_head == cp->root ? "checkpoint's" :
			    "one kept with the tiles at the checkpoint");
		v->since_seen = 1;
		memcpy(v->since_chain, hash, EVT_CHAIN_LEN);
		memcpy(s->prev, hash, EVT_CHAIN_LEN);
		memcpy(v->head, hash, EVT_CHAIN_LEN);
		v->seq = cp->seq;
		s->expect = cp->seq + 1;
		return 0;
	}
	if (seq == s->expect && hash) {
		unsigned char leaf[EVT_CHAIN_LEN];
		evt_chain_leaf(s->hs, s->expect, line, len, leaf);
		evt_chain_node(s->hs, s->prev, leaf, c);
		if (memcmp(c, hash, EVT_CHAIN_LEN) == 0) {
			memcpy(s->prev, c, EVT_CHAIN_LEN);
			memcpy(v->head, c, EVT_CHAIN_LEN);
			v->seq = s->expect++;
			v->events++;
			if (v->on_leaf)
				v->on_leaf(v->leaf_arg, v->seq, leaf);
			if (v->since && v->seq == v->since->seq) {
				v->since_seen = 1;
				memcpy(v->since_chain, c, EVT_CHAIN_LEN);
			}
			if (v->since && v->seq == v->since->seq &&
			    v->since_head &&
			    memcmp(c, v->since_head, EVT_CHAIN_LEN) != 0)
				return fault(v, EVT_CHAIN_FORKED, v->seq,
				    "the chain holds, but its hash at seq %lld "
				    "is not the checkpoint's: every hash was "
				    "rewritten, or the log replaced", v->seq);
			return 0;
		}
	}
keep:
	{
		struct row *r = &s->win[s->nwin++];
		r->seq = seq;
		r->line = malloc(len + 1);
		if (r->line == NULL)
			abort();
		memcpy(r->line, line, len);
		r->line[len] = '\0';
		r->len = len;
		r->has = hash != NULL;
		if (hash)
			memcpy(r->hash, hash, EVT_CHAIN_LEN);
	}
	return s->nwin == WINDOW ? 1 : 0;
}

/* Whether row r, put at seq after prev, gives its own stored hash or
 * alt's. The result into g. */
static int
fits(struct vstate *s, const unsigned char *prev, long long seq,
    const struct row *r, const struct row *alt, unsigned char *g)
{
	evt_chain_step(s->hs, prev, seq, r->line, r->len, g);
	return (r->has && memcmp(g, r->hash, EVT_CHAIN_LEN) == 0) ||
	    (alt && alt->has && memcmp(g, alt->hash, EVT_CHAIN_LEN) == 0);
}

/*
 * The first event at s->expect did not verify: name what is wrong from
 * the rows kept. Each test asks whether some stored hash can be explained
 * by the events as they stand, moved, missing or added.
 */
static void
diagnose(struct vstate *s)
{
	struct evt_verify *v = s->v;
	struct row *r0 = &s->win[0];
	long long i = s->expect;
	unsigned char g[EVT_CHAIN_LEN], g2[EVT_CHAIN_LEN];

	/* The event that belongs at i is stored further on: i and i+1
	 * swapped, or events were inserted before it. */
	for (int j = 1; j < s->nwin; j++) {
		if (!fits(s, s->prev, i, &s->win[j], r0, g))
			continue;
		if (j == 1 && fits(s, g, i + 1, r0, &s->win[1], g2)) {
			fault(v, EVT_CHAIN_REORDERED, i, "the events at seq %lld "
			    "and %lld are swapped", i, i + 1);
			return;
		}
		fault(v, EVT_CHAIN_INSERTED, i, "%d event%s stored before the "
		    "one that was seq %lld", j, j > 1 ? "s" : "", i);
		return;
	}
	if (r0->seq > i) {
		for (int j = 1; j < s->nwin; j++)
			if (s->win[j].seq == i) {
				fault(v, EVT_CHAIN_REORDERED, i, "stored after "
				    "seq %lld", r0->seq);
				return;
			}
		if (r0->has && fits(s, s->prev, r0->seq, r0, NULL, g)) {
			fault(v, EVT_CHAIN_GAP, i, "seq %lld follows %lld, and "
			    "its hash chains on from %lld", r0->seq, i - 1, i - 1);
			return;
		}
		if (r0->seq == i + 1)
			fault(v, EVT_CHAIN_MISSING, i, "seq %lld follows %lld",
			    r0->seq, i - 1);
		else
			fault(v, EVT_CHAIN_MISSING, i, "seq %lld to %lld are "
			    "missing: seq %lld follows %lld", i, r0->seq - 1,
			    r0->seq, i - 1);
		return;
	}
	if (r0->seq < i) {
		fault(v, EVT_CHAIN_REORDERED, i, "seq %lld is stored after "
		    "seq %lld", r0->seq, i - 1);
		return;
	}
	if (!r0->has) {
		fault(v, EVT_CHAIN_NOHASH, i, "no hash is stored for it: "
		    "an event added behind evt's back, or its hash removed");
		return;
	}
	if (v->archived > 0 && i == v->archived + 1) {
		fault(v, EVT_CHAIN_CHANGED, i, "it does not chain on from the "
		    "hash kept of seq %lld, the last archived event: its line "
		    "or that hash was changed", v->archived);
		return;
	}
	if (s->nwin > 1 && s->win[1].seq == i + 1 &&
	    fits(s, r0->hash, i + 1, &s->win[1], NULL, g)) {
		fault(v, EVT_CHAIN_CHANGED, i, "it no longer matches its "
		    "stored hash, from which the chain goes on");
		return;
	}
	long long said = evt_chain_line_seq(r0->line, r0->len);
	if (said > 0 && said != i) {
		fault(v, EVT_CHAIN_MISSING, i, "the event stored as seq %lld "
		    "says it is seq %lld: an event deleted and the rest "
		    "renumbered", i, said);
		return;
	}
	fault(v, EVT_CHAIN_CHANGED, i, "the line or its stored hash was "
	    "changed");
}

int
evt_chain_verify(struct evt_log *log, struct evt_verify *v,
    struct evt_err *err)
{
	struct vstate s;
	const struct evt_checkpoint *cp = v->since;
	long long after = 0, hrow = -1;
	int chained = 1, rc;

	v->events = 0;
	v->seq = 0;
	v->fault = EVT_CHAIN_OK;
	v->bad_seq = 0;
	v->archived = 0;
	v->detail[0] = '\0';
	memset(v->head, 0, EVT_CHAIN_LEN);
	if (log->ops->chain_read == NULL)
		return fault(v, EVT_CHAIN_UNCHAINED, 1, "the %s backend keeps no "
		    "hash chain yet", log->ops->name);
	if (evt_crypto_load(log->path, err) < 0)
		return -1;
	memset(&s, 0, sizeof(s));
	s.v = v;
	s.expect = 1;
	v->since_seen = 0;
	if (cp && cp->seq == 0) {
		static const unsigned char zero[EVT_CHAIN_LEN];
		v->since_seen = 1;
		memset(v->since_chain, 0, EVT_CHAIN_LEN);
		if (v->since_head &&
		    memcmp(v->since_head, zero, EVT_CHAIN_LEN) != 0)
			return fault(v, EVT_CHAIN_FORKED, 0, "a checkpoint at "
			    "seq 0 has the hash of no events, 32 zero bytes");
	} else if (cp && !v->full) {
		s.anchor = 1;
		after = cp->seq - 1;
	}
	s.hs = evt_hasher_new();
	rc = log->ops->chain_read(log, after, &chained, &hrow, on_row, &s,
	    err);
	if (rc == 0 && !chained && s.rows > 0) {
		v->fault = 0;
		fault(v, EVT_CHAIN_UNCHAINED, after + 1, "made by an earlier "
		    "evt, or its hashes removed: the next append chains it");
	} else if (rc == 0 && s.nwin > 0)
		diagnose(&s);
	else if (rc == 0 && !v->fault && !s.anchor && hrow > v->seq)
		/* The head the log keeps apart from its events (every
		 * backend, log_impl.h) is past the last one: events deleted
		 * from the end. */
		fault(v, EVT_CHAIN_TRUNCATED, v->seq + 1, "the log's head says "
		    "seq %lld, its last event is seq %lld: events deleted from "
		    "its end", hrow, v->seq);
	else if (rc == 0 && !v->fault && cp && (s.anchor ||
	    (v->full && v->seq < cp->seq))) {
		long long last = v->seq;
		if (s.anchor && evt_log_last_seq(log, &last, err) < 0)
			rc = -1;
		else
			fault(v, EVT_CHAIN_TRUNCATED, last + 1, "it ends at seq "
			    "%lld, the checkpoint is at seq %lld", last, cp->seq);
	}
	for (int j = 0; j < s.nwin; j++)
		free(s.win[j].line);
	evt_hasher_free(s.hs);
	if (rc < 0)
		return -1;
	return v->fault ? 1 : 0;
}

/* --- checkpoints -------------------------------------------------------- */

static const char dash[] = "\xe2\x80\x94 ";	/* U+2014 and a space */

void
evt_checkpoint_init(struct evt_checkpoint *cp)
{
	memset(cp, 0, sizeof(*cp));
}

void
evt_checkpoint_free(struct evt_checkpoint *cp)
{
	free(cp->origin);
	evt_buf_free(&cp->text);
	evt_checkpoint_init(cp);
}

static int b64_decode(const char *s, size_t n, unsigned char *out,
    size_t cap);

static void
b64_add(struct evt_buf *b, const unsigned char *p, size_t n)
{
	evt_buf_grow(b, 4 * ((n + 2) / 3) + 1);
	b->len += (size_t)EVP_EncodeBlock((unsigned char *)b->p + b->len, p,
	    (int)n);
	b->p[b->len] = '\0';
}

void
evt_b64_add(struct evt_buf *b, const unsigned char *p, size_t n)
{
	b64_add(b, p, n);
}

int
evt_b64_decode(const char *s, size_t n, unsigned char *out, size_t cap)
{
	return b64_decode(s, n, out, cap);
}

/* Decode standard padded base64 s[0..n) into out (at most cap bytes).
 * Returns the length, or -1. */
static int
b64_decode(const char *s, size_t n, unsigned char *out, size_t cap)
{
	unsigned char tmp[128];
	int len, pad = 0;

	if (n == 0 || n % 4 || n / 4 * 3 > sizeof(tmp))
		return -1;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '+' || s[i] == '/' ||
		    (s[i] == '=' && i >= n - 2)))
			return -1;
	if (s[n - 1] == '=')
		pad++;
	if (s[n - 2] == '=')
		pad++;
	if (pad == 1 && s[n - 2] == '=')
		return -1;
	len = EVP_DecodeBlock(tmp, (const unsigned char *)s, (int)n);
	if (len < 0 || (size_t)(len - pad) > cap)
		return -1;
	memcpy(out, tmp, (size_t)(len - pad));
	return len - pad;
}

int
evt_checkpoint_make(struct evt_checkpoint *cp, const char *origin,
    long long seq, const unsigned char *root, const char *ext,
    struct evt_err *err)
{
	if (*origin == '\0' || strchr(origin, '\n'))
		return evt_err_set(err, EX_USAGE, "--origin: one line, not empty");
	if (ext && *ext && (ext[strlen(ext) - 1] != '\n' || strstr(ext, "\n\n") ||
	    *ext == '\n'))
		return evt_err_set(err, EX_SOFTWARE, "an extension line must "
		    "be one non-empty line");
	evt_checkpoint_free(cp);
	cp->origin = evt_strdup(origin);
	cp->seq = seq;
	memcpy(cp->root, root, EVT_CHAIN_LEN);
	evt_buf_printf(&cp->text, "%s\n%lld\n", origin, seq);
	b64_add(&cp->text, root, EVT_CHAIN_LEN);
	evt_buf_addc(&cp->text, '\n');
	if (ext)
		evt_buf_adds(&cp->text, ext);
	cp->body_len = cp->text.len;
	return 0;
}

/* The signed-note key id: SHA-256(name "\n" 0x01 pub)[0..4). */
static void
key_id(const char *name, size_t n, const unsigned char *pub, unsigned char *id)
{
	struct evt_hasher *hs = evt_hasher_new();
	struct evt_buf b = EVT_BUF_INIT;
	unsigned char md[EVT_CHAIN_LEN];

	evt_buf_add(&b, name, n);
	evt_buf_add(&b, "\n\x01", 2);
	evt_buf_add(&b, pub, 32);
	digest(hs, b.p, b.len, NULL, 0, md);
	memcpy(id, md, 4);
	evt_buf_free(&b);
	evt_hasher_free(hs);
}

static EVP_PKEY *
load_key(const char *file, int private, struct evt_err *err)
{
	BIO *bio = BIO_new_file(file, "r");
	EVP_PKEY *k;

	if (bio == NULL) {
		evt_err_set(err, errno == ENOENT ? EX_NOINPUT : EX_IOERR,
		    "%s: %s", file, strerror(errno ? errno : EIO));
		return NULL;
	}
	k = private ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) :
	    PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
	BIO_free(bio);
	if (k == NULL || EVP_PKEY_get_base_id(k) != EVP_PKEY_ED25519) {
		EVP_PKEY_free(k);
		evt_err_set(err, EX_DATAERR, "%s: not an Ed25519 %s key in PEM",
		    file, private ? "private" : "public");
		return NULL;
	}
	return k;
}

int
evt_checkpoint_sign(struct evt_checkpoint *cp, const char *keyfile,
    const char *key_name, struct evt_err *err)
{
	EVP_PKEY *k = load_key(keyfile, 1, err);
	EVP_MD_CTX *ctx;
	unsigned char pub[32], sig[4 + 64];
	size_t publen = sizeof(pub), siglen = 64;
	const char *name = key_name ? key_name : cp->origin;
	int ok;

	if (k == NULL)
		return -1;
	if (*name == '\0' || strpbrk(name, " \n+")) {
		EVP_PKEY_free(k);
		return evt_err_set(err, EX_USAGE, "--key-name: not a key name "
		    "(no spaces, newlines or +): %s", name);
	}
	if ((ctx = EVP_MD_CTX_new()) == NULL)
		abort();
	ok = EVP_PKEY_get_raw_public_key(k, pub, &publen) && publen == 32 &&
	    EVP_DigestSignInit(ctx, NULL, NULL, NULL, k) &&
	    EVP_DigestSign(ctx, sig + 4, &siglen, (unsigned char *)cp->text.p,
	    cp->body_len) && siglen == 64;
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(k);
	if (!ok)
		return evt_err_set(err, EX_SOFTWARE, "%s: signing failed", keyfile);
	key_id(name, strlen(name), pub, sig);
	/* Ed25519 is deterministic: signing again gives the same line, and
	 * a note carries it once. */
	struct evt_buf l = EVT_BUF_INIT;
	evt_buf_addc(&l, '\n');
	evt_buf_adds(&l, dash);
	evt_buf_adds(&l, name);
	evt_buf_addc(&l, ' ');
	b64_add(&l, sig, sizeof(sig));
	evt_buf_addc(&l, '\n');
	if (cp->text.len > cp->body_len &&
	    memmem(cp->text.p + cp->body_len, cp->text.len - cp->body_len,
	    l.p, l.len) != NULL) {
		evt_buf_free(&l);
		return 0;
	}
	if (cp->text.len == cp->body_len)
		evt_buf_addc(&cp->text, '\n');
	evt_buf_add(&cp->text, l.p + 1, l.len - 1);
	evt_buf_free(&l);
	return 0;
}

int
evt_checkpoint_write(const struct evt_checkpoint *cp, const char *path,
    struct evt_err *err)
{
	return evt_write_atomic(path, cp->text.p, cp->text.len, 0600,
	    EVT_WRITE_SYNC, err);
}

static int
bad_cp(const char *path, int line, const char *what, struct evt_err *err)
{
	return evt_err_set(err, EX_DATAERR, "%s:%d: not a checkpoint: %s",
	    path, line, what);
}

int
evt_checkpoint_read(struct evt_checkpoint *cp, const char *path,
    struct evt_err *err)
{
	FILE *f = fopen(path, "r");
	char chunk[4096];
	struct evt_buf b = EVT_BUF_INIT;
	size_t n;
	int rc;

	evt_checkpoint_free(cp);
	if (f == NULL)
		return evt_err_set(err, errno == ENOENT ? EX_NOINPUT : EX_IOERR,
		    "%s: %s", path, strerror(errno));
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0 && b.len < (1 << 20))
		evt_buf_add(&b, chunk, n);
	if (ferror(f)) {
		fclose(f);
		evt_buf_free(&b);
		return evt_err_set(err, EX_IOERR, "%s: %s", path, strerror(errno));
	}
	fclose(f);
	rc = evt_checkpoint_parse(cp, path, 1, b.p ? b.p : "", b.len, err);
	evt_buf_free(&b);
	return rc;
}

int
evt_checkpoint_parse(struct evt_checkpoint *cp, const char *path,
    int first_line, const char *text, size_t len, struct evt_err *err)
{
	char *p, *nl, *end;
	int line = first_line;

	evt_checkpoint_free(cp);
	evt_buf_add(&cp->text, text, len);
	if (cp->text.len == 0)
		return bad_cp(path, line, "empty", err);
	if (memchr(cp->text.p, '\0', cp->text.len))
		return bad_cp(path, line, "a NUL byte", err);
	p = cp->text.p;
	end = p + cp->text.len;
	/* origin */
	if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL || nl == p)
		return bad_cp(path, line, "no origin line", err);
	cp->origin = strndup(p, (size_t)(nl - p));
	if (cp->origin == NULL)
		abort();
	p = nl + 1, line++;
	/* seq */
	if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL || nl == p ||
	    (size_t)(nl - p) > 18 || strspn(p, "0123456789") != (size_t)(nl - p) ||
	    (*p == '0' && nl - p > 1))
		return bad_cp(path, line, "not a seq (a decimal number)", err);
	cp->seq = strtoll(p, NULL, 10);
	p = nl + 1, line++;
	/* root */
	if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL ||
	    b64_decode(p, (size_t)(nl - p), cp->root, EVT_CHAIN_LEN) !=
	    EVT_CHAIN_LEN)
		return bad_cp(path, line, "not a root hash (base64 of 32 bytes)",
		    err);
	p = nl + 1, line++;
	/* Extension lines, up to a blank line or the end. */
	while (p < end && *p != '\n') {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			return bad_cp(path, line, "no newline at the end", err);
		p = nl + 1, line++;
	}
	cp->body_len = (size_t)(p - cp->text.p);
	if (p < end) {
		/* A blank line, then signature lines. */
		p++, line++;
		if (p == end)
			return bad_cp(path, line, "no signature after the blank "
			    "line", err);
		while (p < end) {
			if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
				return bad_cp(path, line, "no newline at the end",
				    err);
			if ((size_t)(nl - p) < sizeof(dash) ||
			    memcmp(p, dash, sizeof(dash) - 1) != 0)
				return bad_cp(path, line, "not a signature line "
				    "(\xe2\x80\x94 NAME SIGNATURE)", err);
			p = nl + 1, line++;
		}
	}
	return 0;
}

int
evt_key_vkey(const char *keyfile, const char *name, struct evt_buf *out,
    struct evt_err *err)
{
	BIO *bio = BIO_new_file(keyfile, "r");
	EVP_PKEY *k = NULL;
	unsigned char pub[33], id[4];
	size_t publen = 32;
	char hex[9];

	if (bio == NULL)
		return evt_err_set(err, errno == ENOENT ? EX_NOINPUT : EX_IOERR,
		    "%s: %s", keyfile, strerror(errno ? errno : EIO));
	k = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	if (k == NULL) {
		(void)BIO_reset(bio);
		k = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
	}
	BIO_free(bio);
	if (k == NULL || EVP_PKEY_get_base_id(k) != EVP_PKEY_ED25519 ||
	    !EVP_PKEY_get_raw_public_key(k, pub + 1, &publen) || publen != 32) {
		EVP_PKEY_free(k);
		return evt_err_set(err, EX_DATAERR, "%s: not an Ed25519 key in "
		    "PEM", keyfile);
	}
	EVP_PKEY_free(k);
	if (*name == '\0' || strpbrk(name, " \n+"))
		return evt_err_set(err, EX_USAGE, "--key-name: not a key name "
		    "(no spaces, newlines or +): %s", name);
	key_id(name, strlen(name), pub + 1, id);
	snprintf(hex, sizeof(hex), "%02x%02x%02x%02x", id[0], id[1], id[2],
	    id[3]);
	pub[0] = 0x01;
	evt_buf_printf(out, "%s+%s+", name, hex);
	b64_add(out, pub, sizeof(pub));
	return 0;
}

int
evt_checkpoint_check_sig(const struct evt_checkpoint *cp, const char *keyfile,
    struct evt_err *err)
{
	EVP_PKEY *k = load_key(keyfile, 0, err);
	unsigned char pub[32], id[4], sig[4 + 64];
	size_t publen = sizeof(pub);
	const char *p, *end, *nl, *sp, *badname = NULL;
	size_t badlen = 0;
	int ret = 1;

	if (k == NULL)
		return -1;
	if (!EVP_PKEY_get_raw_public_key(k, pub, &publen) || publen != 32) {
		EVP_PKEY_free(k);
		return evt_err_set(err, EX_DATAERR, "%s: not an Ed25519 public "
		    "key", keyfile);
	}
	p = cp->text.p + cp->body_len;
	end = cp->text.p + cp->text.len;
	if (p < end)
		p++;	/* the blank line */
	for (; p < end && ret == 1; p = nl + 1) {
		nl = memchr(p, '\n', (size_t)(end - p));
		p += sizeof(dash) - 1;
		if ((sp = memchr(p, ' ', (size_t)(nl - p))) == NULL ||
		    b64_decode(sp + 1, (size_t)(nl - sp - 1), sig, sizeof(sig)) !=
		    (int)sizeof(sig))
			continue;	/* not an Ed25519 signature */
		key_id(p, (size_t)(sp - p), pub, id);
		if (memcmp(id, sig, 4) != 0)
			continue;	/* another key's */
		EVP_MD_CTX *ctx = EVP_MD_CTX_new();
		if (ctx == NULL)
			abort();
		if (EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, k) == 1 &&
		    EVP_DigestVerify(ctx, sig + 4, 64,
		    (const unsigned char *)cp->text.p, cp->body_len) == 1)
			ret = 0;
		else
			badname = p, badlen = (size_t)(sp - p);
		EVP_MD_CTX_free(ctx);
	}
	EVP_PKEY_free(k);
	if (ret == 0)
		return 0;
	if (badname)
		evt_err_set(err, 1, "the signature by %.*s does not verify: the "
		    "checkpoint was changed", (int)badlen, badname);
	else
		evt_err_set(err, 1, "no signature by the key in %s", keyfile);
	return 1;
}

void
evt_chain_metrics(const struct evt_verify *v, const char *program,
    long long now_ms, struct evt_buf *b)
{
	evt_buf_printf(b, "# HELP evt_chain_verified_seq The last seq whose "
	    "hash chain verified.\n# TYPE evt_chain_verified_seq gauge\n"
	    "evt_chain_verified_seq{program=\"%s\"} %lld\n", program, v->seq);
	evt_buf_printf(b, "# HELP evt_chain_ok Whether the hash chain held at "
	    "the last check.\n# TYPE evt_chain_ok gauge\n"
	    "evt_chain_ok{program=\"%s\"} %d\n", program, v->fault ? 0 : 1);
	evt_buf_printf(b, "# HELP evt_chain_verify_timestamp_seconds When the "
	    "hash chain was checked.\n"
	    "# TYPE evt_chain_verify_timestamp_seconds gauge\n"
	    "evt_chain_verify_timestamp_seconds{program=\"%s\"} %lld.%03lld\n",
	    program, now_ms / 1000, now_ms % 1000);
}
