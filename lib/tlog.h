/*
 * tlog.h - the log as a transparency log (issue 25, evt-verify(1)): the
 * text formats of its proofs, and the operations of a log and of a
 * witness on checkpoints (chain.h) and the tree's tiles (merkle.h):
 * prove and check an event's inclusion, prove and check that one
 * checkpoint extends another, cosign.
 *
 * The proof formats, exactly (evt-verify(1), PROOFS):
 *
 *	c2sp.org/tlog-proof@v1\n		an inclusion proof
 *	[extra ANYTHING\n]			opaque, skipped, not trusted
 *	index INDEX\n				the leaf index, seq - 1
 *	base64(hash)\n ...			the path, leaf's sibling first
 *	\n
 *	the checkpoint (chain.h), with its signatures
 *
 *	evt/tlog-consistency-proof@v1\n		a consistency proof
 *	old SIZE\n
 *	new SIZE\n
 *	base64(hash)\n ...
 *
 * Numbers are decimal, at most 18 digits, no leading zero. What
 * evt_tlog_proof_format writes evt_tlog_proof_parse reads back as the
 * same proof; a proof without an extra line, in canonical base64, is
 * written back byte for byte.
 *
 * Functions that check return 0 when the check holds, 1 when it does not
 * (err->code 1, err->msg the whole message, naming the files), -1 with
 * err when something cannot be read. None prints or exits.
 */
#ifndef EVT_TLOG_H
#define EVT_TLOG_H

#include "chain.h"
#include "merkle.h"

#define EVT_TLOG_PROOF "c2sp.org/tlog-proof@v1"
#define EVT_TLOG_CONS_PROOF "evt/tlog-consistency-proof@v1"

/* A proof: its index, or its sizes; its hashes; for an inclusion proof
 * the checkpoint it carries. */
struct evt_tlog_proof {
	int inclusion;		/* 1: c2sp.org/tlog-proof, 0: consistency */
	long long a, b;		/* index and -1, or old and new sizes */
	int n;
	unsigned char h[EVT_PROOF_MAX][EVT_HASH_LEN];
	struct evt_checkpoint cp;	/* owned */
};

/* A new proof (zeroed, an empty checkpoint); aborts when out of memory.
 * evt_tlog_proof_free(NULL) is a no-op. */
struct evt_tlog_proof *evt_tlog_proof_new(void);
void evt_tlog_proof_free(struct evt_tlog_proof *pf);

/*
 * Parse text[0..len) as an inclusion proof (inclusion set) or a
 * consistency proof into pf, path naming it in errors. Returns 0, or -1
 * with err: EX_DATAERR, "PATH:LINE: not a proof: WHAT" (or the
 * checkpoint's own error).
 */
int evt_tlog_proof_parse(struct evt_tlog_proof *pf, int inclusion,
    const char *path, const char *text, size_t len, struct evt_err *err);

/* Append pf in its text format to out. */
void evt_tlog_proof_format(const struct evt_tlog_proof *pf,
    struct evt_buf *out);

/* A decimal number p[0..n) of at most 18 digits, no leading zero; -1 if
 * it is not one. */
long long evt_tlog_number(const char *p, size_t n);

/*
 * Where things are: the file of the log named by spec as evt_log_open
 * resolves it (NULL spec: $EVT_LOG, else events.db), or NULL for a
 * PostgreSQL log; borrowed from spec or the environment.
 */
const char *evt_tlog_log_file(const char *spec);
/* The tiles' directory: given, else LOG.tiles beside a file or SQLite
 * log, else NULL (PostgreSQL). A new string (free it). */
char *evt_tlog_tiles_dir(const char *given, const char *logspec);
/* A checkpoint's default origin, HOST/PATH with the log's absolute path
 * (a schema-less URL, as C2SP asks). A new string (free it). */
char *evt_tlog_default_origin(const char *path);

/*
 * The extension line "evt-chain-head N base64(h(N))" that a checkpoint of
 * a log without tiles carries: evt_tlog_ext_chain_head puts h(cp->seq)
 * into out and returns 1 when cp has one for its own size, else 0;
 * evt_tlog_ext_add_chain_head appends the line for (seq, head) to b.
 */
int evt_tlog_ext_chain_head(const struct evt_checkpoint *cp,
    unsigned char *out);
void evt_tlog_ext_add_chain_head(struct evt_buf *b, long long seq,
    const unsigned char *head);

/*
 * The tree built as the chain verifies (evt_verify.on_leaf =
 * evt_tlog_tree_leaf, leaf_arg = the tree): the leaves in seq order, into
 * the right edge and the tiles (if any). Owns hs and tiles.
 */
struct evt_tlog_tree {
	struct evt_hasher *hs;
	struct evt_merkle_edge edge;
	struct evt_tiles *tiles;	/* written as it grows, or NULL */
	long long snap;			/* keep the root at this size (> 0) */
	int snapped;
	unsigned char snap_root[EVT_HASH_LEN];
	int broken;			/* a leaf missing: archived events */
};
/* t = an empty tree writing tiles to dir (NULL: none); dir is copied. */
void evt_tlog_tree_init(struct evt_tlog_tree *t, const char *dir);
void evt_tlog_tree_free(struct evt_tlog_tree *t);
void evt_tlog_tree_leaf(void *t, long long seq, const unsigned char *leaf);

/*
 * The tiles t hold cp's tree: its right edge, loaded into e, hashes to
 * cp's root. 0, 1 (they do not), or -1 (they cannot be read).
 */
int evt_tlog_tiles_hold(struct evt_tiles *t, const struct evt_checkpoint *cp,
    struct evt_hasher *hs, struct evt_merkle_edge *e, struct evt_err *err);

/*
 * The log from which a proof makes what its tiles lack: tiles behind the
 * checkpoint (the log grew after they were written, or they were written
 * at an older size), or a tile lost. The missing leaf hashes are read
 * from the log's events (in batches, from where the tiles end), the
 * tiles above made from them, all in memory; once the proof checks
 * against the checkpoint, the tiles made are written (the tiles brought
 * up to the checkpoint's size), or, when they cannot be, left unwritten:
 * the proof is given all the same.
 */
struct evt_tlog_src {
	const char *logspec;	/* in: the log (NULL: $EVT_LOG, else
				 * events.db), borrowed */
	long long events;	/* out: its events read and hashed */
	long long tiles;	/* out: tiles made */
	long long saved;	/* out: of which written */
	int unsaved;		/* out: a write failed: why in save_err */
	struct evt_err save_err;
	char *log;		/* out: the log's name as shown (owned) */
};
/* Free what src owns (not src); NULL is a no-op. */
void evt_tlog_src_free(struct evt_tlog_src *src);

/*
 * Open the tiles in dir for a proof about cp (named cpname), checked to
 * hold its tree, into *out (a new handle). 0, 1 (another tree), or -1:
 * EX_USAGE (dir NULL: a PostgreSQL log without --tiles), EX_NOINPUT (no
 * tiles), or a read error.
 */
int evt_tlog_tiles_open(const char *dir, const struct evt_checkpoint *cp,
    const char *cpname, struct evt_hasher *hs, struct evt_tiles **out,
    struct evt_err *err);

/*
 * Append to out the inclusion proof of event seq (1 <= seq <= cp->seq)
 * in cp's tree, from the tiles in dir, and what they lack from the log
 * of src (NULL: from the tiles alone); the proof is checked before it is
 * given. 0, 1 (the tiles, or the log, do not hash up to cp), -1.
 */
int evt_tlog_prove(long long seq, const struct evt_checkpoint *cp,
    const char *cpname, const char *dir, struct evt_tlog_src *src,
    struct evt_buf *out, struct evt_err *err);

/* cp (read from cpname) is the checkpoint that the inclusion proof pf
 * (read from path) carries: 0, or 1. */
int evt_tlog_proof_for(const struct evt_tlog_proof *pf, const char *path,
    const struct evt_checkpoint *cp, const char *cpname, struct evt_err *err);

/*
 * The event line[0..len) (one line, its newline taken off) is at pf's
 * index in the tree of cp (trusted: pf's own or one it is for): 0, or 1.
 */
int evt_tlog_check_inclusion(const struct evt_tlog_proof *pf,
    const char *path, const struct evt_checkpoint *cp, const char *line,
    size_t len, struct evt_err *err);

/* Two checkpoints of one log: the same origin. 0, or 1. */
int evt_tlog_same_origin(const struct evt_checkpoint *a, const char *an,
    const struct evt_checkpoint *b, const char *bn, struct evt_err *err);

/*
 * Append to out the consistency proof that cp (cpname) extends old
 * (oldname), from the tiles in dir (and the log of src, as
 * evt_tlog_prove), checked. 0, 1 (it does not), -1.
 */
int evt_tlog_prove_consistency(const struct evt_checkpoint *old,
    const char *oldname, const struct evt_checkpoint *cp, const char *cpname,
    const char *dir, struct evt_tlog_src *src, struct evt_buf *out,
    struct evt_err *err);

/* The consistency proof pf (read from path) shows that cp extends old.
 * 0, or 1. */
int evt_tlog_check_consistency(const struct evt_tlog_proof *pf,
    const char *path, const struct evt_checkpoint *old,
    const struct evt_checkpoint *cp, struct evt_err *err);

/*
 * A witness's cosignature: once cp (read from cpname) extends the
 * checkpoint in the file state (the last this witness signed: none yet,
 * *first set, when there is no such file), sign cp with the private key
 * in keyfile as key_name and write it to out (NULL: cpname) and to state.
 * *old_seq: the size of the one in state. The tiles in dir, and the log
 * of src (NULL: none), as evt_tlog_prove_consistency. 0, 1 (refused: cp
 * does not extend it), -1 (EX_USAGE as evt_tlog_tiles_open).
 */
int evt_tlog_cosign(struct evt_checkpoint *cp, const char *cpname,
    const char *keyfile, const char *key_name, const char *state,
    const char *dir, struct evt_tlog_src *src, const char *out, int *first,
    long long *old_seq, struct evt_err *err);

#endif
