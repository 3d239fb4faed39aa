/*
 * ahead.h - hash the chain (chain.h) ahead of the writer, on a thread of
 * its own.
 *
 * A leaf binds an event's seq and stored line, which are only known once
 * the writer assigns them. But a writer that is handed a batch of events
 * can guess both: the batch will most likely be stored as it is, each
 * event new, at the seqs after the log's last and the versions after its
 * streams'. evt_ahead_post hands the guesses over; a thread renders each
 * guessed line (evt_event_render), hashes its leaf and follows the chain
 * along the guesses, while the writer stores the events before it.
 * evt_ahead_take then gives the writer the event's hash only when the
 * guess was right: the seq and every byte of the line it assigned are
 * those that were hashed (and the node is taken as hashed when its prev
 * is the writer's too). A wrong guess (a duplicate, a stream written
 * meanwhile, an id made up at the writer's clock) costs only the other
 * thread's time: the writer hashes that event itself.
 *
 * The events handed over are read by the thread until the next
 * evt_ahead_post or evt_ahead_end, which wait for it to let go of them;
 * in between, the caller may assign them (evt_event_render reads nothing
 * evt_event_assign writes, for an event that has its id) but must not
 * parse into them or free them.
 */
#ifndef EVT_AHEAD_H
#define EVT_AHEAD_H

#include <stddef.h>
#include <stdint.h>

#include "chain.h"
#include "event.h"

struct evt_ahead;

/* The version of a stream as a writer believes it (0: new). */
typedef long long (*evt_ahead_version_fn)(void *arg, const char *subject,
    size_t n);

/*
 * Guess evs[0..n): the i-th at seq first + i, at version(arg, its
 * subject) + 1 plus the number of evs before it with the same subject,
 * assigned with now_ms and source (as by evt_event_assign); head is
 * h(first - 1). Ends the previous batch first. *pa is made on the first
 * call. Nothing is guessed when the thread is not wanted (EVT_HASH_THREAD
 * or one core: see evt(7)) or could not be started, for batches too small
 * to be worth it, and for events without an id.
 */
void evt_ahead_post(struct evt_ahead **pa, struct evt_event *const *evs,
    size_t n, long long first, evt_ahead_version_fn version, void *arg,
    const unsigned char *head, int64_t now_ms, const char *source);

/*
 * ev, one of the events posted, has been assigned (ev->seq, ev->body)
 * and prev is h(ev->seq - 1): when its leaf was hashed from the same seq
 * and line, set out to h(ev->seq) (with hs, unless the chain the thread
 * followed has the same prev) and return 1; otherwise return 0 (not
 * guessed, guessed wrong, or not reached yet: the caller hashes it).
 * Events are taken in the order posted; some may be passed over. a may
 * be NULL.
 */
int evt_ahead_take(struct evt_ahead *a, const struct evt_event *ev,
    struct evt_hasher *hs, const unsigned char *prev,
    unsigned char out[EVT_CHAIN_LEN]);

/* Stop the thread, wait for it, free everything. NULL is fine. */
void evt_ahead_free(struct evt_ahead *a);

/* Let go of the posted events (before they are parsed into again).
 * NULL is fine. */
void evt_ahead_end(struct evt_ahead *a);

#endif
