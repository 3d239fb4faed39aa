/*
 * uuid.h - event ids (RFC 9562).
 *
 * v7 for ids evt-append makes up: time-ordered, so they index cheaply.
 * v5 (SHA-1, name-based) for ids that must be reproducible: ids made while
 * EVT_NOW freezes the clock, and the ids of saga reactions.
 */
#ifndef EVT_UUID_H
#define EVT_UUID_H

#include <stddef.h>
#include <stdint.h>

#define EVT_UUID_LEN 36

/* A UUIDv7 for time ms, into out (EVT_UUID_LEN + 1 bytes). Ids made by one
 * process are strictly increasing. */
void evt_uuid_v7(int64_t ms, char *out);
/* A UUIDv5 of name[0..n) in evt's namespace, into out. */
void evt_uuid_v5(const void *name, size_t n, char *out);

#endif
