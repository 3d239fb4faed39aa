/*
 * chain-txns - seeded histories of file-log transactions through libevt,
 * for test/evt-verify.bats: sizes on both sides of the point where
 * chain_file.c hands hashing to its worker thread (a transaction's 256th
 * event), lines longer than a chunk, rollbacks after the hand-over, and
 * the log closed (its worker joined) and opened again, some of these with
 * a transaction open. The test then checks the sidecar against a chain
 * computed by Python's hashlib and against evt-verify.
 *
 * usage: chain-txns LOG SEED ROUNDS; prints the number of events committed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "log.h"

static unsigned long long rng;

static unsigned
rnd(unsigned n)
{
	rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
	return (unsigned)(rng >> 33) % n;
}

static void
die(const char *what, const struct evt_err *err)
{
	fprintf(stderr, "chain-txns: %s: %s\n", what, err->msg);
	exit(1);
}

int
main(int argc, char **argv)
{
	static const unsigned sizes[] = { 1, 2, 254, 255, 256, 257, 300, 700,
	    1500, 4000 };
	struct evt_event ev;
	struct evt_err err;
	struct evt_buf line = EVT_BUF_INIT, pad = EVT_BUF_INIT;
	struct evt_log *log;
	long long committed = 0, n = 0;
	int rounds;

	if (argc != 4) {
		fprintf(stderr, "usage: chain-txns LOG SEED ROUNDS\n");
		return 64;
	}
	rng = strtoull(argv[2], NULL, 10);
	rounds = atoi(argv[3]);
	memset(&ev, 0, sizeof(ev));
	if ((log = evt_log_open(argv[1], EVT_LOG_CREATE | EVT_LOG_NOSYNC,
	    &err)) == NULL)
		die("open", &err);
	for (int r = 0; r < rounds; r++) {
		unsigned size = sizes[rnd(sizeof(sizes) / sizeof(sizes[0]))];
		unsigned what = rnd(10);

		if (evt_log_begin(log, &err) < 0)
			die("begin", &err);
		for (unsigned i = 0; i < size; i++) {
			/* Mostly ~100 bytes; now and then longer than a
			 * chunk of the worker (64 KiB). */
			size_t plen = rnd(200) == 0 ? 70000 + rnd(70000) :
			    rnd(120);
			evt_buf_reset(&pad);
			for (size_t k = 0; k < plen; k++)
				evt_buf_addc(&pad, (char)('a' + (k + n) % 26));
			evt_buf_reset(&line);
			evt_buf_printf(&line, "{\"type\":\"T\",\"subject\":"
			    "\"s-%u\",\"data\":{\"n\":%lld,\"pad\":\"%s\"}}",
			    rnd(50), n++, pad.p ? pad.p : "");
			if (evt_event_parse(&ev, line.p, line.len, 1, &err) < 0)
				die("parse", &err);
			if (evt_log_append(log, &ev, NULL, 1795000000000LL + n,
			    "test", &err) < 0)
				die("append", &err);
		}
		if (what < 6) {
			if (evt_log_commit(log, &err) < 0)
				die("commit", &err);
			committed += size;
		} else if (what < 9)
			evt_log_rollback(log);
		if (what >= 8) {
			/* 8: closed after a rollback; 9: closed with the
			 * transaction open, which rolls it back. */
			evt_log_close(log);
			if ((log = evt_log_open(argv[1], 0, &err)) == NULL)
				die("open again", &err);
		}
	}
	evt_log_close(log);
	evt_event_free(&ev);
	evt_buf_free(&line);
	evt_buf_free(&pad);
	printf("%lld\n", committed);
	return 0;
}
