/*
 * service.c - the service loop of saga-step and saga-orch (service.h),
 * once in cmd/saga-step.c, here so that both share one copy.
 */
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "clock.h"
#include "follow.h"
#include "service.h"
#include "uuid.h"

/* How often a service on a log looks again when nothing wakes it. */
#define RECHECK_MS 1000
/*
 * A round is appended in chunks of at most this many decisions (or
 * bytes), each its own transaction: another writer never waits for more
 * than one chunk, a kill loses at most one, and the round's memory is
 * bounded. Decisions are emitted in order with ids of their own, so a
 * chunk stands alone.
 */
#define CHUNK_EVENTS 4096
#define CHUNK_BYTES (4u << 20)
/* The longest wait between two tries of a round that lost a race. */
#define BACKOFF_MAX_MS 1000

struct run {
	const struct evt_decider *d;
	struct evt_event ev;
	/* The decisions of a round not yet appended, back to back, one per
	 * line, and their ids (EVT_UUID_LEN + 1 bytes each). */
	struct evt_log *log;
	struct evt_buf pending, ids;
	long long npending, appended, in;
	long long last_seq;	/* the last stored event folded */
	int64_t now;
	int lost;		/* the round lost a race: take it back */
	int failed;		/* the round's append failed: err says why */
	struct evt_err err;
};

/* A stored event: a fact, whatever it holds. One that is not an event is
 * set aside with a warning, never a reason to stop. */
static int
fold_stored(void *arg, long long seq, const char *line, size_t len)
{
	struct run *r = arg;
	struct evt_err err;

	r->in++;
	r->last_seq = seq;
	if (evt_event_parse_stored(&r->ev, line, len, &err) < 0) {
		r->d->warn("%s: seq %lld: %s: set aside", evt_log_path(r->log),
		    seq, err.msg);
		return 0;
	}
	r->d->fold(r->d->st, &r->ev, r->now, evt_log_path(r->log), seq);
	return 0;
}

/*
 * Append the pending decisions in one transaction, and keep them in the
 * state (commit). When one of them, or another outcome of its decision,
 * is stored already (another instance decided meanwhile, or long ago),
 * nothing is written and r->lost is set. Returns 0, or -1 with r->err
 * (r->failed set).
 */
static int
flush(struct run *r)
{
	const char *p = r->pending.p, *end = p + r->pending.len;
	struct evt_err *err = &r->err;
	long long i = 0;

	if (r->npending == 0)
		return 0;
	if (evt_log_begin(r->log, err) < 0) {
		/* Other writers busy past the wait, or a connection lost:
		 * worth another try, never a reason to stop. */
		if (err->code == EX_TEMPFAIL) {
			r->lost = 1;
			return 0;
		}
		goto fail;
	}
	for (; p < end; i++) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		int rc;

		if (evt_event_parse(&r->ev, p, (size_t)(nl - p), 0, err) < 0 ||
		    (rc = evt_log_append(r->log, &r->ev, NULL, r->now, NULL,
		    err)) < 0) {
			evt_log_rollback(r->log);
			/* A conflict: an expectation another writer voided,
			 * or the id stored already with another outcome. */
			if (err->code == EX_TEMPFAIL) {
				if (err->taken)
					r->d->stored(r->d->st, r->ids.p + i *
					    (EVT_UUID_LEN + 1));
				r->lost = 1;
				return 0;
			}
			goto fail;
		}
		if (rc == EVT_APPEND_DUPLICATE) {
			evt_log_rollback(r->log);
			r->d->stored(r->d->st, r->ids.p + i * (EVT_UUID_LEN + 1));
			r->lost = 1;
			return 0;
		}
		p = nl + 1;
	}
	if (evt_log_commit(r->log, err) < 0) {
		/* Whether it was stored or not, the events read next say. */
		if (err->code == EX_TEMPFAIL) {
			r->lost = 1;
			return 0;
		}
		goto fail;
	}
	r->d->commit(r->d->st);
	r->appended += r->npending;
	r->npending = 0;
	evt_buf_reset(&r->pending);
	evt_buf_reset(&r->ids);
	return 0;
fail:
	r->failed = 1;
	return -1;
}

static int
collect(void *arg, const char *id, const char *line, size_t len)
{
	struct run *r = arg;
	char idbuf[EVT_UUID_LEN + 1];

	/* Decision ids are UUIDs: the table keeps them at a fixed size. */
	memset(idbuf, 0, sizeof(idbuf));
	memcpy(idbuf, id, strnlen(id, EVT_UUID_LEN));
	evt_buf_add(&r->pending, line, len);
	evt_buf_addc(&r->pending, '\n');
	evt_buf_add(&r->ids, idbuf, EVT_UUID_LEN + 1);
	if (++r->npending >= CHUNK_EVENTS || r->pending.len >= CHUNK_BYTES) {
		if (flush(r) < 0 || r->lost)
			return -1;
	}
	return 0;
}

/* Wait before the next try of a round that lost tries races in a row:
 * at once the first time, then longer, up to BACKOFF_MAX_MS, with
 * jitter so that two racing instances fall apart. */
static void
backoff(int tries)
{
	long ms;
	struct timespec ts;

	if (tries <= 1)
		return;
	ms = tries > 8 ? BACKOFF_MAX_MS : 5L << (tries - 1);
	if (ms > BACKOFF_MAX_MS)
		ms = BACKOFF_MAX_MS;
	ms = ms / 2 + random() % (ms / 2 + 1);
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000L;
	nanosleep(&ts, NULL);
}

/* After a round: give back what it took, so that memory follows the
 * open sagas. */
static void
shrink(struct run *r, long long decided)
{
	if (r->pending.cap > (1u << 20)) {
		evt_buf_free(&r->pending);
		evt_buf_free(&r->ids);
	}
	if (decided >= 4096)
		malloc_trim(0);
}

int
evt_service_run(const struct evt_decider *d, const char *spec, int follow,
    struct evt_service_stats *stats, struct evt_err *errp)
{
	struct evt_follow *fw = NULL;
	struct evt_read rd;
	struct evt_err err;
	struct run r;
	int tries = 0, ret = 0, quick = 0;

	memset(&r, 0, sizeof(r));
	r.d = d;
	if ((r.log = evt_log_open(spec, 0, errp)) == NULL)
		return -1;
	if (follow && (fw = evt_follow_open(r.log, &err)) == NULL)
		goto fail;
	srandom((unsigned)getpid());
	d->journal(d->st, 1);
	memset(&rd, 0, sizeof(rd));
	for (;;) {
		int64_t dl;
		long long before = r.appended;

		if (evt_clock_now(&r.now, &err) < 0)
			goto fail;
		long long was = rd.after;
		r.last_seq = rd.after;
		if (evt_log_read(r.log, &rd, fold_stored, &r, &err) < 0) {
			/* A server away for a while (PostgreSQL): a follower
			 * waits for it, going on after what it folded. */
			if (!follow || (err.code != EX_TEMPFAIL &&
			    err.code != EX_UNAVAILABLE))
				goto fail;
			d->warn("%s; trying again", err.msg);
			rd.after = r.last_seq;
			backoff(++tries);
			if (evt_follow_stopping(fw))
				break;
			continue;
		}
		/* A wake that found nothing may have come from a commit's
		 * write before the commit could be read (a SQLite WAL frame
		 * is written before its index is): look again soon, then
		 * less and less often. */
		quick = rd.scanned > was ? 0 : quick == 0 ? 10 :
		    quick < RECHECK_MS ? 2 * quick : RECHECK_MS;
		rd.after = rd.scanned;
		r.lost = 0;
		if (d->decide(d->st, r.now, collect, &r, &err) < 0 && !r.lost) {
			if (r.failed)
				err = r.err;
			goto fail;
		}
		if (!r.lost && flush(&r) < 0) {
			err = r.err;
			goto fail;
		}
		if (r.lost) {
			d->undo(d->st);
			r.npending = 0;
			evt_buf_reset(&r.pending);
			evt_buf_reset(&r.ids);
			backoff(++tries);
			if (fw && evt_follow_stopping(fw))
				break;
			continue;
		}
		tries = 0;
		shrink(&r, r.appended - before);
		if (!follow)
			break;
		/* Wake for new events, or when the next deadline falls due. */
		int wait = quick && quick < RECHECK_MS ? quick : RECHECK_MS;
		if ((dl = d->next_deadline(d->st)) != INT64_MAX) {
			int64_t left = dl - r.now;
			if (left < wait)
				wait = left > 0 ? (int)left : 0;
		}
		int w = evt_follow_wait(fw, wait, &err);
		if (w < 0)
			goto fail;
		if (w == 0)
			break;
	}
out:
	if (stats) {
		stats->in = r.in;
		stats->appended = r.appended;
	}
	evt_follow_close(fw);
	evt_log_close(r.log);
	evt_event_free(&r.ev);
	evt_buf_free(&r.pending);
	evt_buf_free(&r.ids);
	return ret;
fail:
	*errp = err;
	ret = -1;
	goto out;
}
