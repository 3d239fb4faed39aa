/*
 * crypto_load.h - OpenSSL's libcrypto, loaded only by a process that
 * hashes or signs.
 *
 * libcrypto is the SHA-256 of the hash chain and of id keys, checkpoints'
 * Ed25519 signatures and base64 (chain.c), the SHA-1 of name-based ids
 * (uuid.c) and the digest of a saga definition (orch_def.c). Its loading
 * and relocation was 1.4 ms of every program's start (issue 29), paid by
 * the programs that only read as by those that write. So no program
 * links it for evt's sake: crypto_load.c defines the functions those
 * files call, each a thin wrapper over the real one, found with
 * dlopen(3)/dlsym(3) the first time any is needed. libcrypto then stays
 * loaded for the life of the process (never dlclose'd, as libpq:
 * pq_load.h). mq-pub and mq-sub link it still: their librabbitmq brings
 * it with libssl, and amqp.c reads the error queue of that very copy.
 */
#ifndef EVT_CRYPTO_LOAD_H
#define EVT_CRYPTO_LOAD_H

#include "err.h"

/* The file name dlopen(3) is given: libcrypto's soname, searched for as
 * the dynamic linker would (LD_LIBRARY_PATH, the cache, the default
 * paths). */
#define EVT_CRYPTO_SONAME "libcrypto.so.3"

/*
 * Load libcrypto unless it is loaded already: 0, or -1 with err when it
 * cannot be (EX_UNAVAILABLE, and a message "NAME: cannot load OpenSSL's
 * crypto library: ..." naming libcrypto.so.3 and why; name is borrowed,
 * NULL for no "NAME: "). Thread-safe; the answer is the same for the life
 * of the process.
 *
 * The wrappers load it themselves at their first call, but most of the
 * functions that call them cannot fail (evt_chain_step, evt_uuid_v5,
 * evt_b64_add...), so without libcrypto they abort(). Whatever may hash
 * calls this first, where the error can still be told and nothing is
 * written yet: evt_log_begin (every write chains), a SQLite read by
 * correlation id (its keys are hashes), evt_chain_verify, the saga
 * services (their decisions' ids are name-based) and evt_orch_load;
 * evt-verify at its start, since all it does needs it.
 */
int evt_crypto_load(const char *name, struct evt_err *err);

#endif
