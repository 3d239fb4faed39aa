#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hmap.h"

struct evt_hmap_slot {
	char *key;		/* NULL: empty */
	size_t n;
	uint64_t hash;
	long long v;
};

uint64_t
evt_hash(const char *k, size_t n)
{
	uint64_t h = 1469598103934665603ULL;	/* FNV-1a */

	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)k[i];
		h *= 1099511628211ULL;
	}
	/* FNV mixes upwards only: keys that differ in their last bytes
	 * (T1001, T1002; ids) would share low bits, which pick the slot, and
	 * pile up in long runs. A final mix spreads them. */
	h ^= h >> 32;
	h *= 0x9e3779b97f4a7c15ULL;
	h ^= h >> 29;
	return h;
}

static struct evt_hmap_slot *
find(const struct evt_hmap *h, const char *k, size_t n, uint64_t hv)
{
	size_t i = hv & (h->cap - 1);

	for (;;) {
		struct evt_hmap_slot *s = &h->slots[i];
		if (s->key == NULL ||
		    (s->hash == hv && s->n == n && memcmp(s->key, k, n) == 0))
			return s;
		i = (i + 1) & (h->cap - 1);
	}
}

long long *
evt_hmap_get(const struct evt_hmap *h, const char *k, size_t n)
{
	struct evt_hmap_slot *s;

	if (h->cap == 0)
		return NULL;
	s = find(h, k, n, evt_hash(k, n));
	return s->key ? &s->v : NULL;
}

static void
grow(struct evt_hmap *h)
{
	struct evt_hmap old = *h;

	h->cap = old.cap ? old.cap * 2 : 64;
	h->slots = calloc(h->cap, sizeof(*h->slots));
	if (h->slots == NULL)
		abort();
	for (size_t i = 0; i < old.cap; i++)
		if (old.slots[i].key)
			*find(h, old.slots[i].key, old.slots[i].n,
			    old.slots[i].hash) = old.slots[i];
	free(old.slots);
}

void
evt_hmap_put(struct evt_hmap *h, const char *k, size_t n, long long v)
{
	uint64_t hv = evt_hash(k, n);
	struct evt_hmap_slot *s;

	if ((h->n + 1) * 4 > h->cap * 3)
		grow(h);
	s = find(h, k, n, hv);
	if (s->key == NULL) {
		s->key = malloc(n ? n : 1);
		if (s->key == NULL)
			abort();
		memcpy(s->key, k, n);
		s->n = n;
		s->hash = hv;
		h->n++;
	}
	s->v = v;
}

void
evt_hmap_free(struct evt_hmap *h)
{
	for (size_t i = 0; i < h->cap; i++)
		free(h->slots[i].key);
	free(h->slots);
	h->slots = NULL;
	h->cap = h->n = 0;
}

void
evt_hmap_del(struct evt_hmap *h, const char *k, size_t n)
{
	struct evt_hmap_slot *s;
	size_t i, j, home;

	if (h->cap == 0)
		return;
	s = find(h, k, n, evt_hash(k, n));
	if (s->key == NULL)
		return;
	free(s->key);
	s->key = NULL;
	h->n--;
	/* Linear probing without tombstones: shift back every entry of the
	 * run after the hole that may not stay where it is. */
	i = (size_t)(s - h->slots);
	for (j = (i + 1) & (h->cap - 1); h->slots[j].key; j = (j + 1) & (h->cap - 1)) {
		home = h->slots[j].hash & (h->cap - 1);
		if ((j > i && (home <= i || home > j)) ||
		    (j < i && (home <= i && home > j))) {
			h->slots[i] = h->slots[j];
			h->slots[j].key = NULL;
			i = j;
		}
	}
}

void
evt_hmap_each(const struct evt_hmap *h,
    void (*fn)(void *arg, const char *k, size_t n, long long v), void *arg)
{
	for (size_t i = 0; i < h->cap; i++)
		if (h->slots[i].key)
			fn(arg, h->slots[i].key, h->slots[i].n, h->slots[i].v);
}

void
evt_hmap_clear(struct evt_hmap *h)
{
	for (size_t i = 0; i < h->cap; i++) {
		free(h->slots[i].key);
		h->slots[i].key = NULL;
	}
	h->n = 0;
}

void
evt_hmap_keypart(struct evt_buf *b, const char *p, size_t n)
{
	evt_buf_printf(b, "%zu:", n);
	evt_buf_add(b, p, n);
}
