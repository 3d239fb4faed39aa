/*
 * saga-step - a saga participant (or all of them): as a filter, events in,
 * the same events out, then the decisions they call for; or as a service
 * on a log (-l), deciding and appending, and with --follow, staying on.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "cli.h"
#include "clock.h"
#include "event.h"
#include "reject.h"
#include "saga.h"
#include "service.h"

#define USAGE "saga-step SERVICE [-fqv] [-l LOG] [--decline-over AMOUNT] " \
	"[--fail-rate P --seed N] [--member I/N] [--metrics FILE] " \
	"[--only-new] [--reject FILE] [--timeout DURATION] [FILE ...]"

static void help(void) __attribute__((noreturn));

static void
help(void)
{
	printf("usage: %s\n\n"
	    "Decide for store events as the saga participant SERVICE would:\n"
	    "transaction, payment, inventory, store, or all of them.\n"
	    "Every event read is a fact; causes with no recorded outcome are\n"
	    "decided once everything is read. As a filter, input events pass\n"
	    "through and the reactions follow at the end of the input; with\n"
	    "-l the service reads the log and appends its reactions to it.\n"
	    "An order the rules cannot take is rejected (TransactionRejected),\n"
	    "a reaction they cannot use is set aside with a warning.\n\n"
	    "      --decline-over AMOUNT  decline payments over AMOUNT\n"
	    "      --fail-rate P          decline a share P (0..1) of payments,\n"
	    "      --seed N               drawn per transaction from seed N\n"
	    "  -f, --follow               with -l: stay on, deciding as events\n"
	    "                             are appended, until SIGINT or SIGTERM\n"
	    "  -l, --log LOG              read LOG whole, append the reactions\n"
	    "      --member I/N           decide only the causes whose store\n"
	    "                             (inventory) or transaction hashes to\n"
	    "                             I of N: N members share the work\n"
	    "      --metrics FILE         with -l: keep a node_exporter\n"
	    "                             textfile of the service's metrics\n"
	    "                             in FILE (saga-step(1) lists them)\n"
	    "      --only-new             write the reactions only\n"
	    "      --reject FILE          set input lines that are not events\n"
	    "                             aside in FILE and go on\n"
	    "      --timeout DURATION     cancel a transaction with no outcome\n"
	    "                             DURATION (15m, 2h) after its creation\n"
	    "  -q, --quiet                no warnings\n"
	    "  -v, --verbose              a summary on stderr\n"
	    "  -h, --help                 this help\n"
	    "      --version              the version\n\n"
	    "Exit: 0 ok, 64 usage, 65 bad input, 66 no such input or log,\n"
	    "73 cannot create the --metrics file, 74 I/O.\n"
	    "See saga-step(1).\n", USAGE);
	exit(0);
}

struct run {
	struct evt_saga *saga;
	int only_new;
	long long in, out;
	struct evt_event ev;
	struct evt_reject *reject;
};

/* What a fold made of an event the rules cannot take, for people: at
 * is where it was read ("stdin:3", "shop.db: seq 42"). */
static void
warn_folded(int rc, const char *at, const struct evt_err *why)
{
	if (rc == EVT_SAGA_REJECTED)
		evt_warn("%s: %s: the order is rejected", at, why->msg);
	else if (rc == EVT_SAGA_ASIDE)
		evt_warn("%s: %s: set aside", at, why->msg);
}

/* An input event: bad input refused (-1), else as a stored one. */
static int
fold_input(void *st, const struct evt_event *ev, int64_t now,
    struct evt_err *err)
{
	return evt_saga_fold(st, ev, now, err);
}

/* The service (service.h): the saga state as a decider. A stored event
 * the rules cannot take is a fact too: set aside with a warning. */
static int
fold_stored(void *st, const struct evt_event *ev, int64_t now,
    const char *log, long long seq)
{
	struct evt_err err;
	int rc;

	/* A stored event has its id: fold never refuses it. */
	if ((rc = evt_saga_fold(st, ev, now, &err)) < 0)
		rc = EVT_SAGA_ASIDE;
	if (rc != EVT_SAGA_TAKEN) {
		char at[512];
		snprintf(at, sizeof(at), "%s: seq %lld", log, seq);
		warn_folded(rc, at, &err);
	}
	return rc;
}

static int
decide(void *st, int64_t now, evt_saga_emit_fn emit, void *arg,
    struct evt_err *err)
{
	return evt_saga_decide(st, now, emit, arg, err);
}

static void journal(void *st, int on) { evt_saga_journal(st, on); }
static void commit(void *st) { evt_saga_commit(st); }
static void undo(void *st) { evt_saga_undo(st); }
static void stored(void *st, const char *id) { evt_saga_stored(st, id); }
static int64_t next_deadline(const void *st) { return evt_saga_next_deadline(st); }

/* The filter (no spec) or the service on the log spec; the exit code. */
static int
run(struct run *r, const char *spec, int follow,
    const struct evt_service_metrics *mx, char **names, int nin)
{
	struct evt_decider d = { r->saga, fold_stored, decide, journal, commit,
	    undo, stored, next_deadline, evt_warn };
	struct evt_service_filter f = { &d, fold_input, warn_folded, r->reject,
	    r->only_new };
	struct evt_service_stats stats = { 0, 0 };
	struct evt_err err;
	int code = 0;

	if (spec == NULL)
		code = evt_service_filter(&f, names, nin, &r->ev, &stats);
	else if (evt_service_run(&d, spec, follow, mx, &stats, &err) < 0) {
		fprintf(stderr, "%s: %s\n", evt_prog, err.msg);
		code = err.code ? err.code : EX_IOERR;
	}
	r->in = stats.in;
	r->out = stats.appended;
	return code;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "decline-over", required_argument, NULL, 'D' },
		{ "fail-rate", required_argument, NULL, 'F' },
		{ "follow", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ "log", required_argument, NULL, 'l' },
		{ "member", required_argument, NULL, 'M' },
		{ "metrics", required_argument, NULL, 'X' },
		{ "only-new", no_argument, NULL, 'O' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "reject", required_argument, NULL, 'R' },
		{ "seed", required_argument, NULL, 'S' },
		{ "timeout", required_argument, NULL, 'T' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	struct evt_saga_opts so;
	struct evt_service_metrics mx = { NULL, "saga-step", NULL, 0, 0 };
	struct evt_err err;
	struct run r;
	const char *logspec = NULL, *reject = NULL;
	int c, has_seed = 0, follow = 0, code;
	char *end;

	memset(&so, 0, sizeof(so));
	memset(&r, 0, sizeof(r));
	evt_cli_init("saga-step");
	while ((c = getopt_long(argc, argv, "fhl:qv", opts, NULL)) != -1) {
		switch (c) {
		case 'D':
			if (!evt_saga_amount_ok(optarg))
				evt_usage_error(USAGE, "--decline-over: not an "
				    "amount (a number >= 0, as in JSON): %s", optarg);
			so.decline_over = optarg;
			break;
		case 'f': follow = 1; break;
		case 'F':
			errno = 0;
			so.fail_rate = strtod(optarg, &end);
			if (end == optarg || *end || errno || !(so.fail_rate >= 0 &&
			    so.fail_rate <= 1))
				evt_usage_error(USAGE, "--fail-rate: not a "
				    "number from 0 to 1: %s", optarg);
			break;
		case 'h': help();
		case 'l': logspec = evt_cli_log_arg(optarg); break;
		case 'M': {
			unsigned long long mi, mn;
			int k = -1;
			if (sscanf(optarg, "%llu/%llu%n", &mi, &mn, &k) != 2 ||
			    k < 0 || optarg[k] != '\0' || !isdigit((unsigned char)
			    optarg[0]) || mn < 1 || mn > 1000000 || mi >= mn)
				evt_usage_error(USAGE, "--member: not I/N with 0 <= "
				    "I < N: %s", optarg);
			so.member_i = (unsigned)mi;
			so.member_n = (unsigned)mn;
			break;
		}
		case 'O': r.only_new = 1; break;
		case 'q': evt_quiet = 1; break;
		case 'R': reject = optarg; break;
		case 'S':
			so.seed = (unsigned long long)evt_opt_count("--seed", optarg, 0);
			has_seed = 1;
			break;
		case 'T': so.timeout_ms = evt_opt_duration("--timeout", optarg); break;
		case 'v': evt_verbose = 1; break;
		case 'V': evt_print_version();
		case 'X':
			if (*optarg == '\0')
				evt_usage_error(USAGE, "--metrics: empty file name");
			mx.path = optarg;
			break;
		default: evt_usage_error(USAGE, NULL);
		}
	}
	if (optind >= argc)
		evt_usage_error(USAGE, "which service? transaction, payment, "
		    "inventory, store or all");
	if ((so.services = evt_saga_service(argv[optind])) == 0)
		evt_usage_error(USAGE, "unknown service: %s", argv[optind]);
	mx.service = argv[optind++];
	/* The sagas' outcomes are the transaction service's to report: one
	 * member's, when members share it. */
	if ((so.services & EVT_SAGA_TRANSACTION) && so.member_i == 0)
		mx.sagas = EVT_SERVICE_SAGAS_CHOREOGRAPHY;
	mx.stuck_ms = so.timeout_ms;
	if (so.fail_rate > 0 && !has_seed)
		evt_usage_error(USAGE, "--fail-rate needs --seed, so that runs "
		    "can be repeated");
	if (follow && !logspec)
		evt_usage_error(USAGE, "--follow needs -l LOG");
	if (mx.path && !logspec)
		evt_usage_error(USAGE, "--metrics needs -l LOG");
	if (logspec && (optind < argc || r.only_new || reject))
		evt_usage_error(USAGE, "-l reads the log: no input files, no "
		    "--only-new, no --reject");
	r.saga = evt_saga_new(&so);
	if (reject && (r.reject = evt_reject_open(reject, &err)) == NULL)
		evt_die_err(&err);
	code = run(&r, logspec, follow, &mx, argv + optind, argc - optind);
	long long nrej = evt_reject_count(r.reject);
	if (evt_reject_close(r.reject, &err) < 0 && code == 0) {
		fprintf(stderr, "%s: %s\n", evt_prog, err.msg);
		code = err.code;
	}
	if (code == 0 && nrej > 0)
		fprintf(stderr, "%s: %lld lines rejected to %s\n", evt_prog,
		    nrej, reject);
	if (code == 0)
		evt_note("%lld events in, %lld reactions, %zu sagas open, "
		    "%lld orders rejected, %lld events set aside", r.in, r.out,
		    evt_saga_open(r.saga), evt_saga_count(r.saga,
		    EVT_SAGA_REJECTED), evt_saga_count(r.saga, EVT_SAGA_ASIDE));
	evt_saga_free(r.saga);
	evt_event_free(&r.ev);
	if (fclose(stdout) != 0 && code == 0) {
		if (errno != EPIPE)
			fprintf(stderr, "%s: stdout: %s\n", evt_prog, strerror(errno));
		code = EX_IOERR;
	}
	return code;
}
