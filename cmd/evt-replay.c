/*
 * evt-replay - write the log's events that match the filters, in seq
 * order; with --follow, keep writing new ones as they are appended.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "filter.h"
#include "follow.h"
#include "log.h"
#include "metrics.h"
#include "pace.h"

#define USAGE "evt-replay [-qv] [-l LOG] [-c CATEGORY] [-n LIMIT] " \
	"[-s SUBJECT] [-t TYPE] [--causes] [--checkpoint NAME] " \
	"[--correlation ID] [--count] [--follow] [--from SEQ] " \
	"[--metrics FILE] [--pace FACTOR] [--resume NAME] [--reverse] " \
	"[--since TIME] [--to SEQ] [--until TIME]"

/* With no change seen, look again this often anyway: inotify does not
 * see writes made through another mount (NFS, a container's bind). */
#define FOLLOW_RECHECK_MS 1000
/* After a lost connection, try again this often. */
#define FOLLOW_RETRY_MS 250

static void help(void) __attribute__((noreturn));

static void
help(void)
{
	printf("usage: %s\n\n"
	    "Write the events of the log that match, in seq order.\n"
	    "Filters of one kind are alternatives, different kinds narrow.\n\n"
	    "  -l, --log LOG         the log (default $EVT_LOG, else ./events.db)\n"
	    "  -s, --subject S       events of stream S\n"
	    "  -c, --category C      events of streams C-*\n"
	    "  -t, --type GLOB       events whose type matches GLOB ('Payment*')\n"
	    "      --causes          only the causes: events of types no saga\n"
	    "                        participant emits (orders, stock\n"
	    "                        movements, cancel requests, other types)\n"
	    "      --correlation ID  events of one saga\n"
	    "      --from SEQ        from position SEQ (inclusive)\n"
	    "      --to SEQ          up to position SEQ (inclusive)\n"
	    "      --since TIME      events at or after TIME (RFC 3339)\n"
	    "      --until TIME      events before TIME\n"
	    "  -n, --limit N         at most N events\n"
	    "      --reverse         newest first\n"
	    "      --count           print the number of matching events only\n"
	    "      --pace FACTOR     write events spaced by their recorded\n"
	    "                        times divided by FACTOR (1: as they\n"
	    "                        happened; 60: a minute a second)\n"
	    "  -f, --follow          keep waiting for new events until\n"
	    "                        interrupted or stdout is closed\n"
	    "      --metrics FILE    keep a node_exporter textfile of the\n"
	    "                        events written and the lag in FILE\n"
	    "      --checkpoint NAME resume after NAME's position and move it\n"
	    "                        as stdout takes the events (at most once)\n"
	    "      --resume NAME     resume after NAME's position and leave it\n"
	    "                        to the consumer: evt-append --checkpoint\n"
	    "                        NAME moves it once the events are handled\n"
	    "                        (at least once)\n"
	    "  -q, --quiet           no warnings\n"
	    "  -v, --verbose         a summary on stderr\n"
	    "  -h, --help            this help\n"
	    "      --version         the version\n\n"
	    "Exit: 0 ok, 64 usage, 66 no such log, 73 cannot create the\n"
	    "--metrics file, 74 I/O (or stdout closed when not following).\n"
	    "See evt-replay(1).\n", USAGE);
	exit(0);
}

struct out {
	long long n;		/* events written (or counted) */
	long long limit;	/* with causes: stop after this many; 0: none */
	int count;
	int causes;		/* --causes: the backends pass every type */
	const struct evt_filter *f;
	int cut;		/* stop at the first event at or after until */
	int64_t until;
	long long past;		/* out: the seq where the cut stopped */
	struct evt_event ev;
	struct evt_err err;
	struct evt_pace *pace;	/* --pace, or NULL */
	struct evt_follow *fw;	/* to stop a paced wait */
	struct evt_metrics_follower *mx;	/* --metrics, or NULL */
	struct evt_log *log;
};

static int
emit(void *arg, long long seq, const char *line, size_t len)
{
	struct out *o = arg;

	/* The backends turn the other filters into index lookups but leave
	 * --causes to the reader: it is a property of the type that only
	 * the saga rules know (evt_filter_types_pass). */
	if (o->causes) {
		if (evt_event_parse_stored(&o->ev, line, len, &o->err) < 0)
			return -1;
		if (!evt_filter_types_pass(o->f, o->ev.type.p, o->ev.type.n))
			return 0;
	}
	if (o->cut) {
		if (evt_event_parse_stored(&o->ev, line, len, &o->err) < 0)
			return -1;
		if (o->ev.time_ms >= o->until) {
			o->past = seq;
			return 1;
		}
	}
	if (o->pace) {
		int64_t ns;
		if (evt_event_parse_stored(&o->ev, line, len, &o->err) < 0)
			return -1;
		/* The wait is cut into slices, so that a signal stops it
		 * soon. */
		ns = evt_pace_due(o->pace, o->ev.time_ms);
		while (ns > 0) {
			if (o->fw && evt_follow_stopping(o->fw))
				return 1;
			evt_pace_sleep(ns, 100000000);
			ns = evt_pace_due(o->pace, o->ev.time_ms);
		}
	}
	o->n++;
	if (o->mx) {
		evt_metrics_follower_line(o->mx);
		/* A long replay writes as it goes. */
		if ((o->n & 4095) == 0) {
			/* Its lag in seconds from this line: the log cannot
			 * be asked inside a read of it. */
			evt_metrics_follower_line_time(o->mx, line, len);
			if (evt_metrics_follower_tick(o->mx, o->log, 0, seq, 0,
			    &o->err) < 0) {
				evt_warn("--metrics: %s", o->err.msg);
				o->err.msg[0] = '\0';
			}
		}
	}
	if (!o->count && evt_out_line(line, len) < 0)
		return -1;
	/* Paced, each event goes out on time, not with the next. */
	if (!o->count && o->pace && evt_out_flush(&o->err, &(int){ 0 }) < 0)
		return -1;
	return o->limit && o->n >= o->limit;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "category", required_argument, NULL, 'c' },
		{ "causes", no_argument, NULL, 'A' },
		{ "checkpoint", required_argument, NULL, 'K' },
		{ "correlation", required_argument, NULL, 'C' },
		{ "count", no_argument, NULL, 'N' },
		{ "follow", no_argument, NULL, 'f' },
		{ "pace", required_argument, NULL, 'P' },
		{ "from", required_argument, NULL, 'F' },
		{ "help", no_argument, NULL, 'h' },
		{ "limit", required_argument, NULL, 'n' },
		{ "log", required_argument, NULL, 'l' },
		{ "metrics", required_argument, NULL, 'X' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "resume", required_argument, NULL, 'R' },
		{ "reverse", no_argument, NULL, 'r' },
		{ "since", required_argument, NULL, 'S' },
		{ "subject", required_argument, NULL, 's' },
		{ "to", required_argument, NULL, 'T' },
		{ "type", required_argument, NULL, 't' },
		{ "until", required_argument, NULL, 'U' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	struct evt_filter f;
	struct evt_read rd;
	struct evt_err err;
	struct out o;
	struct evt_log *log;
	struct evt_follow *fw = NULL;
	const char *logspec = NULL, *ckpt = NULL, *resume = NULL, *metrics = NULL;
	long long limit = 0, ck = 0;
	int c, follow = 0, reverse = 0, closed = 0, code = 0;
	double pace_factor = 0;
	struct evt_pace pace;

	memset(&f, 0, sizeof(f));
	memset(&o, 0, sizeof(o));
	evt_cli_init("evt-replay");
	while ((c = getopt_long(argc, argv, "c:fhl:n:qrs:t:v", opts, NULL)) != -1) {
		switch (c) {
		case 'A': f.causes = o.causes = 1; break;
		case 'c':
			/* A category is the text before the subject's first
			 * '-', so one with a '-' in it could match nothing. */
			if (*optarg == '\0' || strchr(optarg, '-'))
				evt_usage_error(USAGE, "--category: a category is "
				    "what comes before the first '-' of a subject "
				    "(for a whole subject use -s): %s", optarg);
			evt_strv_add(&f.categories, optarg);
			break;
		case 'C': evt_strv_add(&f.corrs, optarg); break;
		case 'f': follow = 1; break;
		case 'P': {
			char *end;
			errno = 0;
			pace_factor = strtod(optarg, &end);
			if (end == optarg || *end || errno || !(pace_factor > 0) ||
			    pace_factor > 1e9)
				evt_usage_error(USAGE, "--pace: not a factor above 0 "
				    "(1: real time): %s", optarg);
			break;
		}
		case 'F': f.from = evt_opt_count("--from", optarg, 1); break;
		case 'h': help();
		case 'K':
			if (*optarg == '\0')
				evt_usage_error(USAGE, "--checkpoint: empty name");
			ckpt = optarg;
			break;
		case 'l': logspec = evt_cli_log_arg(optarg); break;
		case 'n': limit = evt_opt_count("--limit", optarg, 1); break;
		case 'N': o.count = 1; break;
		case 'q': evt_quiet = 1; break;
		case 'r': reverse = 1; break;
		case 'R':
			if (*optarg == '\0')
				evt_usage_error(USAGE, "--resume: empty name");
			resume = optarg;
			break;
		case 's': evt_strv_add(&f.subjects, optarg); break;
		case 'S':
			f.since = evt_opt_time_ceil("--since", optarg);
			f.has_since = 1;
			break;
		case 't': evt_strv_add(&f.types, optarg); break;
		case 'T': f.to = evt_opt_count("--to", optarg, 1); break;
		case 'U':
			f.until = evt_opt_time_ceil("--until", optarg);
			f.has_until = 1;
			break;
		case 'v': evt_verbose = 1; break;
		case 'V': evt_print_version();
		case 'X':
			if (*optarg == '\0')
				evt_usage_error(USAGE, "--metrics: empty file name");
			metrics = optarg;
			break;
		default: evt_usage_error(USAGE, NULL);
		}
	}
	if (optind < argc)
		evt_usage_error(USAGE, "unexpected argument: %s", argv[optind]);
	if (follow && (reverse || o.count))
		evt_usage_error(USAGE, "--follow cannot go with --reverse or --count");
	if (pace_factor > 0 && (reverse || o.count))
		evt_usage_error(USAGE, "--pace cannot go with --reverse or --count");
	if (pace_factor > 0) {
		evt_pace_init(&pace, pace_factor);
		o.pace = &pace;
	}
	if (ckpt && resume)
		evt_usage_error(USAGE, "--checkpoint and --resume: one or the other");
	if ((ckpt || resume) && reverse)
		evt_usage_error(USAGE, "--checkpoint and --resume cannot go with "
		    "--reverse");
	if (ckpt && f.has_until) {
		/* The checkpoint may not pass an event left out for being at
		 * or after --until: times need not grow with seq, so the
		 * replay stops at the first such event instead, and the next
		 * run begins with it. */
		o.cut = 1;
		o.until = f.until;
		f.has_until = 0;
	}
	if ((log = evt_log_open(logspec, 0, &err)) == NULL)
		evt_die_err(&err);
	if ((ckpt || resume) && evt_log_checkpoint_get(log, ckpt ? ckpt : resume,
	    &ck, &err) < 0)
		goto fail;
	if (follow && (fw = evt_follow_open(log, &err)) == NULL)
		goto fail;
	o.fw = fw;
	o.log = log;
	if (metrics) {
		/* Written now, so that a FILE that cannot be written is an
		 * error before any work; and once more at exit. */
		struct evt_metrics *m = evt_metrics_new(metrics, "evt-replay");
		o.mx = evt_metrics_follower_copying(m);
		evt_metrics_at_exit(m);
		if (evt_metrics_follower_tick(o.mx, log, 1, ck, 1, &err) < 0) {
			evt_err_prefix(&err, "--metrics");
			goto fail;
		}
	}
	/* A log whose beginning was archived says where it now starts,
	 * when the reader asks for what is gone. */
	long long first = 1;
	if (evt_log_first_seq(log, &first, &err) < 0)
		goto fail;
	if (first > ck + 1 && first > (f.from ? f.from : 1) &&
	    !(f.to && f.to < f.from))
		evt_warn("%s: events before seq %lld are archived; the log "
		    "starts there now", evt_log_path(log), first);
	memset(&rd, 0, sizeof(rd));
	rd.filter = &f;
	o.f = &f;
	rd.after = ck;
	rd.reverse = reverse;
	long long ckat = ck;	/* the position the checkpoint holds */
	for (;;) {
		/* A backend counts what it hands over, and with --causes
		 * emit sets some of that aside: then emit keeps the count. */
		rd.limit = limit && !o.causes ? limit - o.n : 0;
		o.limit = o.causes ? limit : 0;
		int lost = 0;
		if (evt_log_read(log, &rd, emit, &o, &err) < 0) {
			if (errno == EPIPE || ferror(stdout))
				goto out_error;
			if (o.err.msg[0]) {
				err = o.err;
				err.code = EX_IOERR;
				goto fail;
			}
			/* A follower rides out a lost connection (a server
			 * restart): it goes on after the last event written,
			 * so nothing is lost or repeated. */
			if (!follow || err.code != EX_TEMPFAIL)
				goto fail;
			evt_warn("%s; trying again", err.msg);
			lost = 1;
		}
		if (!o.count && evt_out_flush(&err, &closed) < 0)
			goto out_error;
		/* Never past what was not written: the end of --to, the
		 * first event past --until. */
		if (f.to && rd.scanned > f.to)
			rd.scanned = f.to;
		if (o.past)
			rd.scanned = o.past - 1;
		/* The checkpoint moves only past what stdout has taken. */
		if (ckpt && rd.scanned > ckat) {
			if (evt_log_checkpoint_set(log, ckpt, rd.scanned, &err) == 0)
				ckat = rd.scanned;
			else if (!follow || err.code != EX_TEMPFAIL)
				goto fail;
			else {
				evt_warn("%s; trying again", err.msg);
				lost = 1;
			}
		}
		rd.after = rd.scanned;
		if (o.mx && evt_metrics_follower_tick(o.mx, log, 1, rd.after,
		    0, &err) < 0)
			evt_warn("--metrics: %s", err.msg);
		if (!follow || (limit && o.n >= limit) || (f.to && rd.after >= f.to) ||
		    o.past)
			break;
		int w = evt_follow_wait(fw, lost ? FOLLOW_RETRY_MS :
		    FOLLOW_RECHECK_MS, &err);
		if (w < 0)
			goto fail;
		if (w == 0)
			break;
	}
	/* The last word, written at exit: where the replay ends. */
	if (o.mx)
		evt_metrics_follower_tick(o.mx, log, 1, rd.after, 1, &err);
	if (o.count)
		printf("%lld\n", o.n);
	evt_note("%lld events", o.n);
	evt_follow_close(fw);
	evt_log_close(log);
	evt_filter_free(&f);
	evt_event_free(&o.ev);
	if (fclose(stdout) != 0) {
		if (errno == EPIPE)
			return follow ? 0 : EX_IOERR;
		evt_die(EX_IOERR, "stdout: %s", strerror(errno));
	}
	return 0;
out_error:
	/* A reader that went away is how a pipeline ends: quietly, and
	 * for a follower it is the normal way to stop. */
	if (errno == EPIPE || closed)
		code = follow ? 0 : EX_IOERR;
	else {
		fprintf(stderr, "%s: stdout: %s\n", evt_prog, strerror(errno));
		code = EX_IOERR;
	}
	evt_follow_close(fw);
	evt_log_close(log);
	evt_filter_free(&f);
	evt_event_free(&o.ev);
	return code;
fail:
	evt_follow_close(fw);
	evt_log_close(log);
	evt_filter_free(&f);
	evt_event_free(&o.ev);
	evt_die_err(&err);
}
