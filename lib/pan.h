/*
 * pan.h - card numbers (PANs) in text: found, and masked to their first
 * six and last four digits, wherever evt writes what it read (audit-scan's
 * findings, reports and alerts, and every program's diagnostics).
 */
#ifndef EVT_PAN_H
#define EVT_PAN_H

#include <stddef.h>

#include "buf.h"

/*
 * Card numbers in text: runs of digit groups, joined by separators (up to
 * four of: space, tab, any Unicode space, a dash or hyphen, a dot, a slash,
 * an underscore, a soft hyphen or a zero-width character); every window
 * of whole groups with 13 to 19 digits is a card number when it passes
 * Luhn and has the prefix and length of a card an issuer issues today
 * (see audit-scan(1)). Not windows: a valid IBAN, and a phone number's
 * first group (after a '+').
 *
 * evt_find_pan: whether s[0..n) holds one; the first one's masked form
 * (first six and last four digits) into mask (at least 20 bytes).
 * evt_pan_mask: append s[0..n) to out with the middle digits of every card
 * number in it masked (and every digit of one that only the masks of
 * others make: pan.c, remask); returns how many it masked in its first
 * pass. evt_pan_mask_str: the same in place, in the NUL-terminated s (its
 * length does not change). Both take time linear in n.
 */
int evt_find_pan(const char *s, size_t n, char *mask);
int evt_pan_mask(const char *s, size_t n, struct evt_buf *out);
int evt_pan_mask_str(char *s);

#endif
