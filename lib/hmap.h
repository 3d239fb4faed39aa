/*
 * hmap.h - a map from byte strings to long long, open addressing.
 *
 * Keys are copied into the map (it owns them); values are plain numbers.
 * Used where a process must remember many short strings: the ids and
 * stream versions of a file log, the subjects seen by one evt-append run.
 */
#ifndef EVT_HMAP_H
#define EVT_HMAP_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "buf.h"

struct evt_hmap_slot;

struct evt_hmap {
	struct evt_hmap_slot *slots;
	size_t cap, n;
};

#define EVT_HMAP_INIT { NULL, 0, 0 }

/* Pointer to the value of key, or NULL. Borrowed: valid until the next
 * insertion. */
/* A 64-bit hash of k[0..n): FNV-1a with a final mix, so that keys that
 * differ only in their last bytes still differ in the low bits. */
uint64_t evt_hash(const char *k, size_t n);

/*
 * The same, eight bytes at a time, for the tables on a hot path (a
 * follower's sagas, evt-trace's ids): each word mixed in by a multiply,
 * then the finaliser of MurmurHash3, so that the low bits that pick a
 * slot depend on every byte. Not evt_hash's values.
 */
static inline uint64_t
evt_hash_words(const char *p, size_t n)
{
	uint64_t h = 0x9e3779b97f4a7c15ULL ^ n, w;

	for (; n >= 8; p += 8, n -= 8) {
		memcpy(&w, p, 8);
		h = (h ^ w) * 0xff51afd7ed558ccdULL;
		h ^= h >> 29;
	}
	if (n) {
		w = 0;
		memcpy(&w, p, n);
		h = (h ^ w) * 0xff51afd7ed558ccdULL;
	}
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h;
}

long long *evt_hmap_get(const struct evt_hmap *h, const char *k, size_t n);
/* Set key to v, inserting a copy of the key if new. */
void evt_hmap_put(struct evt_hmap *h, const char *k, size_t n, long long v);
/* Call fn for each entry, in no particular order; fn must not change h. */
void evt_hmap_each(const struct evt_hmap *h,
    void (*fn)(void *arg, const char *k, size_t n, long long v), void *arg);
/* Remove key if present. Pointers from evt_hmap_get are invalid after. */
void evt_hmap_del(struct evt_hmap *h, const char *k, size_t n);
/* Remove every key, keeping the table for reuse. */
void evt_hmap_clear(struct evt_hmap *h);
void evt_hmap_free(struct evt_hmap *h);

/*
 * Append one part p[0..n) of a composite key (store and sku, the group
 * values of a spec) to b: its length in decimal, a colon, its bytes. No
 * two different tuples of parts make the same key, whatever bytes the
 * parts hold ("S1\x1fA" + "B" and "S1" + "A\x1fB" stay apart), which a
 * separator byte cannot promise.
 */
void evt_hmap_keypart(struct evt_buf *b, const char *p, size_t n);

#endif
