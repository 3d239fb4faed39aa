/*
 * chain.h - tamper evidence for the log (DESIGN §3): a hash chain over
 * every stored event, its verification, and checkpoints of its head that
 * are kept, and may be signed, somewhere else.
 *
 * The chain, exactly (see evt(7)); SHA-256 throughout, || is
 * concatenation, seq is the event's seq as 8 bytes big-endian and line
 * the stored line without its newline:
 *
 *	leaf(seq, line) = SHA-256(0x00 || seq || line)
 *	h(0)            = 32 zero bytes
 *	h(seq)          = SHA-256(0x01 || h(seq - 1) || leaf(seq, line))
 *
 * The 0x00 and 0x01 prefixes are RFC 6962's leaf and node prefixes, so a
 * leaf can never be taken for a node. h(seq) is stored with the event: a
 * column of the SQLite log, a sidecar LOG.chain beside a file log (one
 * line of 64 hex digits per event, in seq order). The head of a log is
 * (last seq, h(last seq)).
 *
 * A chain proves nothing by itself: whoever can rewrite the log can
 * rewrite every hash after the change. It proves that the log extends a
 * head kept elsewhere: a checkpoint, in the C2SP checkpoint format (a
 * signed note, https://c2sp.org/tlog-checkpoint):
 *
 *	ORIGIN\n
 *	SEQ\n
 *	base64(h(SEQ))\n
 *	\n
 *	— KEYNAME base64(keyid || Ed25519 signature of the three lines)\n
 *
 * where keyid is the first 4 bytes of SHA-256(KEYNAME || "\n" || 0x01 ||
 * the 32-byte public key), as in https://c2sp.org/signed-note. A
 * checkpoint without a signature is the first three lines alone.
 */
#ifndef EVT_CHAIN_H
#define EVT_CHAIN_H

#include <stddef.h>

#include "buf.h"
#include "err.h"

struct evt_log;

#define EVT_CHAIN_LEN 32

/* A SHA-256 context kept for many hashes, so the hot loops allocate
 * nothing. */
struct evt_hasher;
/* A new hasher; aborts when out of memory. */
struct evt_hasher *evt_hasher_new(void);
/* NULL is a no-op. */
void evt_hasher_free(struct evt_hasher *hs);

/* out = leaf(seq, line[0..len)). */
void evt_chain_leaf(struct evt_hasher *hs, long long seq, const char *line,
    size_t len, unsigned char out[EVT_CHAIN_LEN]);
/* out = h(seq) from prev = h(seq - 1) and leaf = leaf(seq, line); out
 * may be prev. */
void evt_chain_node(struct evt_hasher *hs, const unsigned char *prev,
    const unsigned char *leaf, unsigned char out[EVT_CHAIN_LEN]);
/* out = h(seq) from prev = h(seq - 1); out may be prev. */
void evt_chain_step(struct evt_hasher *hs, const unsigned char *prev,
    long long seq, const char *line, size_t len,
    unsigned char out[EVT_CHAIN_LEN]);

/*
 * A 64-bit key for an index: the first 8 bytes of SHA-256(p[0..n)), big
 * endian, as a signed integer. Stable (it is stored: the SQLite log keys
 * ids by it), and ids made to collide cannot be found, so no id can be
 * made slow to look up.
 */
long long evt_hash_key(struct evt_hasher *hs, const char *p, size_t n);

/*
 * Should a writer hash on a thread of its own? EVT_HASH_THREAD=1 or 0
 * decides (evt(7)); otherwise yes with at least cores processors online.
 */
int evt_hash_thread_wanted(int cores);

/* What evt_chain_verify found wrong, in the order it looks. */
enum evt_chain_fault {
	EVT_CHAIN_OK,
	EVT_CHAIN_CHANGED,	/* a stored line no longer matches its hash */
	EVT_CHAIN_MISSING,	/* an event deleted */
	EVT_CHAIN_INSERTED,	/* an event that evt did not chain */
	EVT_CHAIN_REORDERED,	/* events moved */
	EVT_CHAIN_GAP,		/* seq jumps, though the hashes chain on */
	EVT_CHAIN_NOHASH,	/* an event without a stored hash */
	EVT_CHAIN_UNCHAINED,	/* no chain at all: made by an earlier evt */
	EVT_CHAIN_TRUNCATED,	/* shorter than the checkpoint */
	EVT_CHAIN_FORKED,	/* does not extend the checkpoint */
	EVT_CHAIN_FAULT_N
};

/* The short name of a fault: "line changed", "event missing", ... */
const char *evt_chain_fault_name(int fault);

/* A checkpoint: origin, seq and the head's hash, and the note's text. */
struct evt_checkpoint {
	char *origin;		/* owned */
	long long seq;
	unsigned char root[EVT_CHAIN_LEN];
	struct evt_buf text;	/* the whole note as read or written */
	size_t body_len;	/* the signed part: text.p[0..body_len) */
};

struct evt_verify {
	/* in */
	const struct evt_checkpoint *since;	/* a kept checkpoint, or NULL */
	const unsigned char *since_head;	/* the chain head h(since->seq)
				 * to hold the log to, or NULL: a tree
				 * checkpoint (merkle.h) holds a tree root,
				 * which the caller checks; then the stored
				 * h(since->seq) is taken on */
	int full;		/* with since: recompute from seq 1 as well */
	/* Called with each event's leaf hash, in seq order, as it verifies
	 * (the tree is built from them); NULL: none. */
	void (*on_leaf)(void *arg, long long seq, const unsigned char *leaf);
	void *leaf_arg;
	/* out */
	long long events;	/* events whose hashes were recomputed */
	long long seq;		/* the head: last verified seq */
	unsigned char head[EVT_CHAIN_LEN];	/* and its hash */
	int fault;		/* enum evt_chain_fault */
	long long bad_seq;	/* the first seq found wrong */
	char detail[256];	/* "seq 5: line changed (...)" */
	int since_seen;		/* since->seq was reached: */
	unsigned char since_chain[EVT_CHAIN_LEN];	/* h(since->seq) */
	long long archived;	/* events 1..archived are archived out of
				 * the log (PostgreSQL): not recomputed, the
				 * chain taken on from the hash kept at the
				 * boundary */
};

/*
 * Recompute the chain of log (see the top of this file). Without since:
 * from seq 1 to the end, comparing each event's hash with the stored one.
 * With since (a checkpoint at seq N): the log must extend it, that is hold
 * at seq N the checkpoint's hash (stored, or recomputed from seq 1 when
 * full is set), and the events after N must chain from it.
 *
 * A log without a chain (made by an earlier evt, or a backend that keeps
 * none) is the fault EVT_CHAIN_UNCHAINED.
 *
 * A log whose oldest events were archived out of it (scripts/pg-archive)
 * is verified from its start, the chain taken on from the hash the log
 * keeps of the last archived event (v->archived). A checkpoint inside the
 * archived range cannot be checked against the log and is the fault
 * EVT_CHAIN_TRUNCATED; one at the boundary is checked against the kept
 * hash.
 *
 * Returns 0 when the chain holds (v->seq, v->head: the head), 1 when it
 * does not (v->fault, v->bad_seq, v->detail; v->seq, v->head: the last
 * event that verified), -1 with err when the log cannot be read.
 */
int evt_chain_verify(struct evt_log *log, struct evt_verify *v,
    struct evt_err *err);

/* Initialise cp to nothing; evt_checkpoint_free(cp) makes it so again. */
void evt_checkpoint_init(struct evt_checkpoint *cp);
void evt_checkpoint_free(struct evt_checkpoint *cp);

/*
 * Make cp the checkpoint of (seq, root) for origin (one line, not empty):
 * the note's body, unsigned, with the extension lines ext (NULL: none;
 * else lines that each end in a newline, none empty). Returns 0, or -1 with err (EX_USAGE: a bad
 * origin).
 */
int evt_checkpoint_make(struct evt_checkpoint *cp, const char *origin,
    long long seq, const unsigned char *root, const char *ext,
    struct evt_err *err);

/*
 * Sign cp with the Ed25519 private key in the PEM file keyfile, adding a
 * signature line by key_name (NULL: the origin) after those it has (none
 * when that very line is there already: signing is idempotent). Returns 0, or -1 with
 * err: EX_NOINPUT (no such file), EX_DATAERR (not an Ed25519 private key).
 */
int evt_checkpoint_sign(struct evt_checkpoint *cp, const char *keyfile,
    const char *key_name, struct evt_err *err);

/* Write cp to path atomically, mode 0600. Returns 0, or -1 with err. */
int evt_checkpoint_write(const struct evt_checkpoint *cp, const char *path,
    struct evt_err *err);

/*
 * Read the checkpoint in path into cp (which must be initialised).
 * Returns 0, or -1 with err: EX_NOINPUT (no such file), EX_DATAERR (not a
 * checkpoint, naming the line).
 */
int evt_checkpoint_read(struct evt_checkpoint *cp, const char *path,
    struct evt_err *err);

/*
 * Append to out the verifier key of the Ed25519 key (private or public)
 * in the PEM file keyfile under name, in the signed-note form
 * NAME+KEYID+base64(0x01 || public key), KEYID in 8 hex digits. Returns
 * 0, or -1 with err (EX_NOINPUT, EX_DATAERR, EX_USAGE: a bad name).
 */
int evt_key_vkey(const char *keyfile, const char *name, struct evt_buf *out,
    struct evt_err *err);

/*
 * Parse the checkpoint text[0..len) into cp (initialised), path and
 * first_line naming it in errors (a checkpoint inside a proof starts
 * further down). Returns 0, or -1 with err (EX_DATAERR).
 */
int evt_checkpoint_parse(struct evt_checkpoint *cp, const char *path,
    int first_line, const char *text, size_t len, struct evt_err *err);

/*
 * Check that cp carries a valid signature by the Ed25519 public key in the
 * PEM file keyfile (under any key name whose key id matches). Returns 0
 * when it does, 1 when it does not (why in err->msg), -1 with err when
 * the key cannot be read (EX_NOINPUT, EX_DATAERR).
 */
int evt_checkpoint_check_sig(const struct evt_checkpoint *cp,
    const char *keyfile, struct evt_err *err);

/*
 * Append to b the metrics of a verify (node_exporter text format) for
 * program: the last verified seq, whether the chain held, when.
 */
void evt_chain_metrics(const struct evt_verify *v, const char *program,
    long long now_ms, struct evt_buf *b);

/* The seq that a stored line says it has, or -1: a hint for diagnosis. */
long long evt_chain_line_seq(const char *line, size_t len);

/* Append base64 (standard, padded) of p[0..n) to b. */
void evt_b64_add(struct evt_buf *b, const unsigned char *p, size_t n);
/* Decode standard padded base64 s[0..n) (at most 96 bytes of output)
 * into out, at most cap bytes. Returns the length, or -1. */
int evt_b64_decode(const char *s, size_t n, unsigned char *out, size_t cap);

/* The hash as 64 lower-case hex digits and a NUL into out[65]. */
void evt_chain_hex(const unsigned char *h, char *out);

#endif
