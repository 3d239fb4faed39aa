/*
 * ahead.h - hash the chain's leaves (chain.h) ahead of the writer, on a
 * thread of its own.
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
 * is the writer's too). A wrong guess (a duplicate, a
 * stream written meanwhile, an id made up at the writer's clock) costs
 * only the other thread's time: the writer hashes that event itself.
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

/* The most events one batch may hold. */
#define EVT_AHEAD_BATCH 1024

/* Should a writer hash ahead? Only with a core to spare for it, or when
 * EVT_HASH_THREAD says so (1: yes, 0: no). */
int evt_ahead_wanted(void);

struct evt_ahead *evt_ahead_new(void);
/* Stop the thread, wait for it, free everything. NULL is fine. */
void evt_ahead_free(struct evt_ahead *a);

/*
 * Guess evs[0..n): the i-th at seq first + i, at version base[i] + 1 plus
 * the number of evs before it with the same subject, assigned with now_ms
 * and source (as by evt_event_assign); base[i] is the version of its
 * stream before the batch as the caller believes it (0: a new stream),
 * head is h(first - 1). Ends the previous batch first. Events without an
 * id are not guessed.
 */
void evt_ahead_post(struct evt_ahead *a, struct evt_event *const *evs,
    size_t n, long long first, const long long *base,
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

/* Let go of the posted events (before they are parsed into again). */
void evt_ahead_end(struct evt_ahead *a);

#endif
