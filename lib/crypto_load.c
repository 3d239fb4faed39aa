/*
 * crypto_load.c - the functions of libcrypto that evt calls, resolved in
 * libcrypto.so.3 through dlopen(3) the first time one is needed
 * (crypto_load.h).
 *
 * As pq_load.c for libpq: the programs are linked without -lcrypto, so
 * the only definitions of these names in a program are the ones below,
 * and nothing outside this file knows that libcrypto is loaded late:
 * chain.c includes <openssl/sha.h> and calls SHA256_Update as it would
 * with -lcrypto. The prototypes come from the same headers, so the
 * compiler checks every wrapper against OpenSSL's own declaration, and a
 * function chain.c starts to call that is not listed here fails the
 * link, not the run. (BIO_reset, EVP_PKEY_base_id and the like are macros
 * over the functions listed.)
 *
 * The wrappers are hidden: a program whose libraries bring libcrypto
 * anyway (librabbitmq, libcurl: libssl) must not export them, or
 * libssl's and libcrypto's own calls to these names would come through
 * here too.
 *
 * Every symbol is looked up at once, when the library is loaded (with
 * RTLD_NOW), so that a libcrypto too old or broken is refused before any
 * use, never halfway through a chain. After that a call costs one
 * acquire load of the flag load() sets last (what pthread_once(3) would
 * check, without the call into libc) and an indirect jump: the hash
 * chain makes two digests an event, of three or four calls each.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

/* SHA256_* are deprecated in OpenSSL 3 (chain.c says why they are used). */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>

#include "crypto_load.h"

/*
 * The functions used, as (return type, name, parameters, arguments): FN
 * for those returning a value, VFN for those returning void.
 */
#define CRYPTO_FUNCS(FN, VFN) \
	/* chain.c: the chain, id keys, signed-note key ids */ \
	FN(int, SHA256_Init, (SHA256_CTX *c), (c)) \
	FN(int, SHA256_Update, (SHA256_CTX *c, const void *data, size_t len), \
	    (c, data, len)) \
	FN(int, SHA256_Final, (unsigned char *md, SHA256_CTX *c), (md, c)) \
	/* chain.c: checkpoints, proofs */ \
	FN(int, EVP_EncodeBlock, (unsigned char *t, const unsigned char *f, \
	    int n), (t, f, n)) \
	FN(int, EVP_DecodeBlock, (unsigned char *t, const unsigned char *f, \
	    int n), (t, f, n)) \
	/* chain.c: Ed25519 keys and signatures */ \
	FN(BIO *, BIO_new_file, (const char *filename, const char *mode), \
	    (filename, mode)) \
	FN(long, BIO_ctrl, (BIO *bp, int cmd, long larg, void *parg), \
	    (bp, cmd, larg, parg)) \
	FN(int, BIO_free, (BIO *a), (a)) \
	FN(EVP_PKEY *, PEM_read_bio_PrivateKey, (BIO *out, EVP_PKEY **x, \
	    pem_password_cb *cb, void *u), (out, x, cb, u)) \
	FN(EVP_PKEY *, PEM_read_bio_PUBKEY, (BIO *out, EVP_PKEY **x, \
	    pem_password_cb *cb, void *u), (out, x, cb, u)) \
	FN(int, EVP_PKEY_get_base_id, (const EVP_PKEY *pkey), (pkey)) \
	FN(int, EVP_PKEY_get_raw_public_key, (const EVP_PKEY *pkey, \
	    unsigned char *pub, size_t *len), (pkey, pub, len)) \
	VFN(EVP_PKEY_free, (EVP_PKEY *pkey), (pkey)) \
	FN(int, EVP_DigestSignInit, (EVP_MD_CTX *ctx, EVP_PKEY_CTX **pctx, \
	    const EVP_MD *type, ENGINE *e, EVP_PKEY *pkey), \
	    (ctx, pctx, type, e, pkey)) \
	FN(int, EVP_DigestSign, (EVP_MD_CTX *ctx, unsigned char *sigret, \
	    size_t *siglen, const unsigned char *tbs, size_t tbslen), \
	    (ctx, sigret, siglen, tbs, tbslen)) \
	FN(int, EVP_DigestVerifyInit, (EVP_MD_CTX *ctx, EVP_PKEY_CTX **pctx, \
	    const EVP_MD *type, ENGINE *e, EVP_PKEY *pkey), \
	    (ctx, pctx, type, e, pkey)) \
	FN(int, EVP_DigestVerify, (EVP_MD_CTX *ctx, const unsigned char *sigret, \
	    size_t siglen, const unsigned char *tbs, size_t tbslen), \
	    (ctx, sigret, siglen, tbs, tbslen)) \
	/* chain.c, uuid.c: name-based ids (SHA-1) */ \
	FN(EVP_MD_CTX *, EVP_MD_CTX_new, (void), ()) \
	VFN(EVP_MD_CTX_free, (EVP_MD_CTX *ctx), (ctx)) \
	FN(int, EVP_DigestInit_ex, (EVP_MD_CTX *ctx, const EVP_MD *type, \
	    ENGINE *impl), (ctx, type, impl)) \
	FN(int, EVP_DigestUpdate, (EVP_MD_CTX *ctx, const void *d, size_t cnt), \
	    (ctx, d, cnt)) \
	FN(int, EVP_DigestFinal_ex, (EVP_MD_CTX *ctx, unsigned char *md, \
	    unsigned int *s), (ctx, md, s)) \
	FN(const EVP_MD *, EVP_sha1, (void), ()) \
	/* orch_def.c: a definition's digest */ \
	FN(int, EVP_Digest, (const void *data, size_t count, unsigned char *md, \
	    unsigned int *size, const EVP_MD *type, ENGINE *impl), \
	    (data, count, md, size, type, impl)) \
	FN(const EVP_MD *, EVP_sha256, (void), ())

/* The real functions, set once by load() and only read after it. */
#define PTR(ret, name, params, args)	ret (*name) params;
#define VPTR(name, params, args)	void (*name) params;
static struct {
	CRYPTO_FUNCS(PTR, VPTR)
} cr;

static pthread_once_t once = PTHREAD_ONCE_INIT;
static atomic_int loaded;	/* set with release once cr is complete */
static char why[400];		/* why not, when !loaded */

static void
load(void)
{
	void *h = dlopen(EVT_CRYPTO_SONAME, RTLD_NOW | RTLD_LOCAL);
	const char *e;

	if (h == NULL) {
		e = dlerror();
		snprintf(why, sizeof(why), "%s", e ? e : EVT_CRYPTO_SONAME
		    ": cannot open shared object file");
		return;
	}
	/* A function pointer from dlsym's void *, which POSIX makes work. */
#define LOOK(name) \
	if ((cr.name = (__typeof__(cr.name))dlsym(h, #name)) == NULL) { \
		snprintf(why, sizeof(why), "%s has no %s (libcrypto too " \
		    "old?)", EVT_CRYPTO_SONAME, #name); \
		dlclose(h); \
		return; \
	}
#define LOOKFN(ret, name, params, args)	LOOK(name)
#define LOOKVFN(name, params, args)	LOOK(name)
	CRYPTO_FUNCS(LOOKFN, LOOKVFN)
	atomic_store_explicit(&loaded, 1, memory_order_release);
}

int
evt_crypto_load(const char *name, struct evt_err *err)
{
	pthread_once(&once, load);
	if (atomic_load_explicit(&loaded, memory_order_acquire))
		return 0;
	return evt_err_set(err, EX_UNAVAILABLE, "%s%scannot load OpenSSL's "
	    "crypto library: %s", name ? name : "", name ? ": " : "", why);
}

/*
 * The table, loaded; abort() if libcrypto could not be: whatever calls
 * these calls evt_crypto_load first where it can fail (crypto_load.h),
 * so a call here without libcrypto is a bug in evt. The flag first, so
 * that once loaded a call does not go through pthread_once's function;
 * the first call's way apart, so that the others' is a load, a test and
 * the jump.
 */
static __attribute__((noinline, cold)) void
first_call(void)
{
	pthread_once(&once, load);
	if (!atomic_load_explicit(&loaded, memory_order_acquire))
		abort();
}

static inline void
need(void)
{
	if (!atomic_load_explicit(&loaded, memory_order_acquire))
		first_call();
}

/* Straight through the table; hidden (the comment at the top). */
#define WRAP(ret, name, params, args) \
	__attribute__((visibility("hidden"))) \
	ret name params { need(); return cr.name args; }
#define VWRAP(name, params, args) \
	__attribute__((visibility("hidden"))) \
	void name params { need(); cr.name args; }
CRYPTO_FUNCS(WRAP, VWRAP)
