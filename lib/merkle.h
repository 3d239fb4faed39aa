/*
 * merkle.h - the log's RFC 6962 Merkle tree (DESIGN §3, evt(7) "The
 * tree"): node hashes, tree hashes read through a hash reader, the right
 * edge of a growing tree, inclusion and consistency proofs, and tiles in
 * the C2SP tlog-tiles layout that store what proofs need.
 *
 * Leaves are chain.h's leaf(seq, line) = SHA-256(0x00 || seq || line),
 * seq i at leaf index i - 1; an interior node is SHA-256(0x01 || left ||
 * right). The tree hash MTH of n leaves is RFC 6962 §2.1's: the left
 * subtree holds the largest power of two below n. Written from RFC 6962
 * §2.1 and RFC 9162 §2.1.3-2.1.4.
 *
 * A subtree is named by its height h and index k: the 2^h leaves from
 * k * 2^h. Complete subtrees are all a tree stores; every other hash is
 * computed from them.
 */
#ifndef EVT_MERKLE_H
#define EVT_MERKLE_H

#include "chain.h"

#define EVT_HASH_LEN EVT_CHAIN_LEN
/* A proof for a tree of at most 2^63 leaves has at most this many hashes. */
#define EVT_PROOF_MAX 128

/*
 * A hash reader: put into out the hash of the complete subtree of height
 * h at index k. Returns 0, or -1 with err (a tile missing or unreadable).
 */
typedef int (*evt_hash_read_fn)(void *arg, int h, long long k,
    unsigned char *out, struct evt_err *err);

struct evt_hash_reader {
	evt_hash_read_fn fn;
	void *arg;
};

/* out = SHA-256(0x01 || l || r); out may be l or r. */
void evt_merkle_node(struct evt_hasher *hs, const unsigned char *l,
    const unsigned char *r, unsigned char *out);

/* out = the tree hash of no leaves, SHA-256 of nothing. */
void evt_merkle_empty(unsigned char *out);

/* out = MTH of leaves [lo, hi), 0 <= lo < hi, read through rd. Returns 0,
 * or -1 with err. */
int evt_merkle_range(struct evt_hasher *hs, const struct evt_hash_reader *rd,
    long long lo, long long hi, unsigned char *out, struct evt_err *err);

/*
 * The right edge of a tree of size leaves: the hashes of the complete
 * subtrees that make up [0, size), largest first, one per bit set in
 * size. Enough to append leaves and to hash the tree, O(log n) of them.
 */
struct evt_merkle_edge {
	long long size;
	int n;
	unsigned char h[64][EVT_HASH_LEN];
};

/* Called by evt_merkle_edge_push for each complete subtree it makes,
 * the new leaf (height 0) first. */
typedef void (*evt_merkle_node_fn)(void *arg, int h, long long k,
    const unsigned char *hash);

/* e = the edge of an empty tree. */
void evt_merkle_edge_init(struct evt_merkle_edge *e);
/* Load into e the edge of the tree of size leaves, through rd. Returns 0,
 * or -1 with err. */
int evt_merkle_edge_load(struct evt_merkle_edge *e, long long size,
    const struct evt_hash_reader *rd, struct evt_err *err);
/* Append a leaf hash; fn (may be NULL) sees every subtree completed. */
void evt_merkle_edge_push(struct evt_hasher *hs, struct evt_merkle_edge *e,
    const unsigned char *leaf, evt_merkle_node_fn fn, void *arg);
/* out = MTH of the edge's tree (SHA-256 of nothing when empty). */
void evt_merkle_edge_root(struct evt_hasher *hs,
    const struct evt_merkle_edge *e, unsigned char *out);

/*
 * RFC 6962 §2.1.1 PATH(index, D[0:size]) into proof (EVT_PROOF_MAX
 * hashes), leaf's sibling first; *len its length. Returns 0, or -1 with
 * err (EX_USAGE: index not below size).
 */
int evt_merkle_prove_inclusion(struct evt_hasher *hs,
    const struct evt_hash_reader *rd, long long index, long long size,
    unsigned char (*proof)[EVT_HASH_LEN], int *len, struct evt_err *err);

/* RFC 9162 §2.1.3.2: 0 when proof shows leaf at index in the tree of
 * size with root, 1 when it does not (why in err->msg). */
int evt_merkle_check_inclusion(struct evt_hasher *hs, long long index,
    long long size, const unsigned char *leaf,
    unsigned char (*proof)[EVT_HASH_LEN], int len,
    const unsigned char *root, struct evt_err *err);

/*
 * RFC 6962 §2.1.2 PROOF(m, D[0:n]) into proof; 0 < m <= n (m == n: no
 * hashes). Returns 0, or -1 with err.
 */
int evt_merkle_prove_consistency(struct evt_hasher *hs,
    const struct evt_hash_reader *rd, long long m, long long n,
    unsigned char (*proof)[EVT_HASH_LEN], int *len, struct evt_err *err);

/* RFC 9162 §2.1.4.2: 0 when proof shows that the tree (n, root_n)
 * extends (m, root_m), 1 when it does not (why in err->msg). */
int evt_merkle_check_consistency(struct evt_hasher *hs, long long m,
    long long n, const unsigned char *root_m, const unsigned char *root_n,
    unsigned char (*proof)[EVT_HASH_LEN], int len, struct evt_err *err);

/*
 * Tiles (https://c2sp.org/tlog-tiles): DIR/tile/L/N holds the 256 hashes
 * at height 8L with indices 256N to 256N + 255 (level 0: the leaf
 * hashes), N written in groups of three digits, all but the last after
 * an x (x001/x234/067). A tile not yet full is DIR/tile/L/N.p/W, its
 * first W hashes. Tiles are a function of the leaves alone: writing them
 * again writes the same bytes, and a wider tile serves any narrower one.
 */
struct evt_tiles;

/* A new handle on the tiles in dir (created at the first write); never
 * NULL. dir is copied. */
struct evt_tiles *evt_tiles_new(const char *dir);
/* NULL is a no-op. */
void evt_tiles_free(struct evt_tiles *t);
/* The hash reader of t: subtrees of any height, from tiles. */
struct evt_hash_reader evt_tiles_reader(struct evt_tiles *t);

/*
 * A source of leaf hashes for the tiles that are missing, or narrower
 * than a read needs (the log grew after they were written, or a tile was
 * lost): put into out the hashes of leaves [lo, hi), hi - lo of them.
 * Returns 0, or -1 with err.
 */
typedef int (*evt_leaves_fn)(void *arg, long long lo, long long hi,
    unsigned char *out, struct evt_err *err);

/*
 * Read t as the tiles of a tree of size leaves, making from fn (arg is
 * its) what the files lack: a level-0 tile from the leaf hashes after
 * the widest partial tile there, a tile above from the full tiles of the
 * level below. What is made is kept in memory until evt_tiles_save
 * writes it; a file of the wrong size is taken for no tile.
 */
void evt_tiles_source(struct evt_tiles *t, long long size, evt_leaves_fn fn,
    void *arg);
/* How many tiles were made from the source. */
long long evt_tiles_made(const struct evt_tiles *t);
/* Write the tiles made from the source, *n of them. Returns 0, or -1
 * with err (the rest stay unwritten; t still reads them). */
int evt_tiles_save(struct evt_tiles *t, long long *n, struct evt_err *err);

/*
 * Files are made safely in a directory others can write (issue 29):
 * nothing below dir is followed if it is a symbolic link, and a file
 * appears whole under its name or not at all, never written through a
 * link planted there (O_TMPFILE and linkat, or a temporary file made
 * O_CREAT | O_EXCL | O_NOFOLLOW and renamed). dir itself is the
 * operator's, and may be a link.
 *
 * Writing: from a tree of size leaves (whose tiles are in t already, or
 * 0), take the subtrees of evt_merkle_edge_push through evt_tiles_put,
 * then evt_tiles_finish writes the partial tiles. Full tiles are written
 * as they fill. Returns 0, or -1 with err; a write error of put is
 * reported by finish.
 */
int evt_tiles_start(struct evt_tiles *t, long long size, struct evt_err *err);
void evt_tiles_put(void *t, int h, long long k, const unsigned char *hash);
int evt_tiles_finish(struct evt_tiles *t, struct evt_err *err);

/*
 * The chain head that the tiles were written with at tree size seq
 * (evt_tiles_finish records it from head, when head is not NULL): into
 * out, returning 1; 0 when none is kept for seq.
 */
int evt_tiles_chain_head(struct evt_tiles *t, long long seq,
    unsigned char *out);
void evt_tiles_set_head(struct evt_tiles *t, long long seq,
    const unsigned char *head);

#endif
