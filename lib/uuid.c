#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include <openssl/evp.h>

#include "uuid.h"

/* evt's namespace for name-based ids: itself a v5 id of "evt" in the URL
 * namespace, fixed here so ids stay stable across releases. */
static const unsigned char evt_ns[16] = {
	0x6b, 0x2f, 0x0c, 0x1e, 0x43, 0x7a, 0x5d, 0x21,
	0x9e, 0x10, 0x3f, 0x8c, 0x55, 0xa4, 0x07, 0xd9
};

static void
format(const unsigned char u[16], char *out)
{
	static const char hex[] = "0123456789abcdef";
	int j = 0;

	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[j++] = '-';
		out[j++] = hex[u[i] >> 4];
		out[j++] = hex[u[i] & 15];
	}
	out[j] = '\0';
}

void
evt_uuid_v7(int64_t ms, char *out)
{
	static int64_t last_ms = -1;
	static unsigned char rnd[10];	/* rand_a (12 bits) and rand_b (62) */
	unsigned char u[16];

	/* Within one millisecond, count up from the last random value
	 * (RFC 9562 §6.2 method 2) so ids stay ordered; a new millisecond
	 * draws fresh randomness. */
	if (ms > last_ms) {
		if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
			for (size_t i = 0; i < sizeof(rnd); i++)
				rnd[i] ^= (unsigned char)(ms >> (i % 6 * 8)) + (unsigned char)i;
		rnd[0] &= 0x07;	/* leave room to count without overflow */
		last_ms = ms;
	} else {
		ms = last_ms;
		for (int i = 9; i >= 0 && ++rnd[i] == 0; i--)
			;
	}
	for (int i = 0; i < 6; i++)
		u[i] = (unsigned char)(ms >> (40 - 8 * i));
	u[6] = (unsigned char)(0x70 | (rnd[0] & 0x0F));
	u[7] = rnd[1];
	u[8] = (unsigned char)(0x80 | (rnd[2] & 0x3F));
	memcpy(u + 9, rnd + 3, 7);
	format(u, out);
}

void
evt_uuid_v5(const void *name, size_t n, char *out)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	EVP_DigestInit_ex(ctx, EVP_sha1(), NULL);
	EVP_DigestUpdate(ctx, evt_ns, sizeof(evt_ns));
	EVP_DigestUpdate(ctx, name, n);
	EVP_DigestFinal_ex(ctx, md, &mdlen);
	EVP_MD_CTX_free(ctx);
	md[6] = (unsigned char)((md[6] & 0x0F) | 0x50);
	md[8] = (unsigned char)((md[8] & 0x3F) | 0x80);
	format(md, out);
}
