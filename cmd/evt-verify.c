/*
 * evt-verify - recompute the log's hash chain and check it against a kept
 * checkpoint; write (and sign) a checkpoint of its head (chain.h).
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chain.h"
#include "cli.h"
#include "clock.h"
#include "event.h"
#include "file.h"
#include "log.h"

#define USAGE "evt-verify [-qv] [-l LOG] [-o FILE] [-p PUBKEY] [-s KEY] " \
	"[--full] [--key-name NAME] [--metrics FILE] [--origin TEXT] " \
	"[--rechain REASON] [--since FILE]"

static void help(void) __attribute__((noreturn));

static void
help(void)
{
	printf("usage: %s\n\n"
	    "Recompute the log's hash chain; print its head (seq and SHA-256).\n\n"
	    "  -l, --log LOG              the log (default $EVT_LOG, else ./events.db)\n"
	    "      --since FILE           the log must extend this kept checkpoint;\n"
	    "                             then check only the events after it\n"
	    "      --full                 with --since: recompute from seq 1 too\n"
	    "  -p, --pubkey PUBKEY        the --since checkpoint must be signed by\n"
	    "                             this Ed25519 public key (PEM)\n"
	    "  -o, --checkpoint-out FILE  write a checkpoint of the head to FILE\n"
	    "  -s, --sign KEY             sign it with this Ed25519 private key (PEM)\n"
	    "      --origin TEXT          the checkpoint's origin line (default\n"
	    "                             HOST/PATH of the log)\n"
	    "      --key-name NAME        the signature's key name (default: origin)\n"
	    "      --metrics FILE         write the last verified seq as a\n"
	    "                             node_exporter textfile\n"
	    "      --rechain REASON       repair a broken chain: re-hash from the\n"
	    "                             first seq found wrong to the end, and\n"
	    "                             record it, with REASON, as an event\n"
	    "  -q, --quiet                no warnings\n"
	    "  -v, --verbose              a summary on stderr\n"
	    "  -h, --help                 this help\n"
	    "      --version              the version\n\n"
	    "Without a checkpoint a chain proves nothing against whoever can\n"
	    "rewrite every hash: keep checkpoints elsewhere (evt-verify(1)).\n"
	    "Writers refuse a log whose chain is broken; only --rechain\n"
	    "repairs it, and the repair stays in the log.\n\n"
	    "Exit: 0 the chain holds, 1 it does not (or the checkpoint's\n"
	    "signature), 64 usage, 65 bad checkpoint or key, 66 no such log or\n"
	    "file, 74 I/O. See evt-verify(1).\n", USAGE);
	exit(0);
}

/* HOST/PATH: the log's absolute path on this host, a schema-less URL as
 * C2SP asks of an origin. */
static char *
default_origin(const char *path)
{
	char host[256], *abs = realpath(path, NULL), *o;

	if (gethostname(host, sizeof(host)) < 0)
		strcpy(host, "localhost");
	host[sizeof(host) - 1] = '\0';
	if (asprintf(&o, "%s%s%s", host, abs && *abs == '/' ? "" : "/",
	    abs ? abs : path) < 0)
		abort();
	free(abs);
	return o;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "checkpoint-out", required_argument, NULL, 'o' },
		{ "full", no_argument, NULL, 'F' },
		{ "help", no_argument, NULL, 'h' },
		{ "key-name", required_argument, NULL, 'N' },
		{ "log", required_argument, NULL, 'l' },
		{ "metrics", required_argument, NULL, 'M' },
		{ "origin", required_argument, NULL, 'O' },
		{ "pubkey", required_argument, NULL, 'p' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "rechain", required_argument, NULL, 'R' },
		{ "since", required_argument, NULL, 'S' },
		{ "sign", required_argument, NULL, 's' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	const char *logspec = NULL, *out = NULL, *key = NULL, *pub = NULL;
	const char *since = NULL, *origin = NULL, *keyname = NULL;
	const char *metrics = NULL, *rechain = NULL;
	struct evt_checkpoint cp, mine;
	struct evt_verify v;
	struct evt_err err;
	struct evt_log *log;
	char *origin_buf = NULL, hex[2 * EVT_CHAIN_LEN + 1];
	int c, rc, full = 0;
	int64_t now;

	evt_cli_init("evt-verify");
	while ((c = getopt_long(argc, argv, "hl:o:p:qs:v", opts, NULL)) != -1) {
		switch (c) {
		case 'F': full = 1; break;
		case 'h': help();
		case 'l': logspec = evt_cli_log_arg(optarg); break;
		case 'M': metrics = optarg; break;
		case 'N': keyname = optarg; break;
		case 'o': out = optarg; break;
		case 'O': origin = optarg; break;
		case 'p': pub = optarg; break;
		case 'q': evt_quiet = 1; break;
		case 'R': rechain = optarg; break;
		case 's': key = optarg; break;
		case 'S': since = optarg; break;
		case 'v': evt_verbose = 1; break;
		case 'V': evt_print_version();
		default: evt_usage_error(USAGE, NULL);
		}
	}
	if (optind < argc)
		evt_usage_error(USAGE, "unexpected argument: %s", argv[optind]);
	if (key && !out)
		evt_usage_error(USAGE, "--sign signs the checkpoint of "
		    "--checkpoint-out");
	if (keyname && !key)
		evt_usage_error(USAGE, "--key-name names the key of --sign");
	if ((full || pub) && !since)
		evt_usage_error(USAGE, "%s checks the checkpoint of --since",
		    full ? "--full" : "--pubkey");
	if (rechain && since)
		evt_usage_error(USAGE, "--rechain: a re-chained log extends no "
		    "earlier checkpoint; leave out --since");
	if (rechain && (*rechain == '\0' ||
	    !evt_ce_string_ok(rechain, strlen(rechain))))
		evt_usage_error(USAGE, "--rechain: a reason, one line of text");
	if (origin && (*origin == '\0' || strchr(origin, '\n')))
		evt_usage_error(USAGE, "--origin: one line, not empty");
	if (evt_clock_now(&now, &err) < 0)
		evt_die_err(&err);
	evt_checkpoint_init(&cp);
	evt_checkpoint_init(&mine);
	/* The kept checkpoint first: a bad one is known before the work. */
	if (since) {
		if (evt_checkpoint_read(&cp, since, &err) < 0) {
			evt_checkpoint_free(&cp);
			evt_die_err(&err);
		}
		if (pub && (rc = evt_checkpoint_check_sig(&cp, pub, &err)) != 0) {
			evt_checkpoint_free(&cp);
			if (rc < 0)
				evt_die_err(&err);
			evt_die(1, "%s: %s", since, err.msg);
		}
	}
	if (key && access(key, R_OK) < 0)
		evt_die(errno == ENOENT ? EX_NOINPUT : EX_IOERR, "%s: %s", key,
		    strerror(errno));
	if ((log = evt_log_open(logspec, 0, &err)) == NULL) {
		evt_checkpoint_free(&cp);
		evt_die_err(&err);
	}
	if (!origin)
		origin = origin_buf = default_origin(evt_log_path(log));
	/* The kept checkpoint must be this log's, by the origin given or
	 * the default one (issue 22: a copy of another log is no proof). */
	if (since && strcmp(origin, cp.origin) != 0) {
		fprintf(stderr, "%s: %s: the checkpoint is for origin %s, not "
		    "%s\n", evt_prog, since, cp.origin, origin);
		evt_checkpoint_free(&cp);
		free(origin_buf);
		evt_log_close(log);
		return 1;
	}
	memset(&v, 0, sizeof(v));
	v.since = since ? &cp : NULL;
	v.full = full;
	rc = evt_chain_verify(log, &v, &err);
	if (rc == 0 && rechain)
		evt_note("%s: the chain holds: nothing to re-chain",
		    evt_log_path(log));
	else if (rc == 1 && rechain) {
		/* The operator's repair: from the first seq found wrong (or
		 * 1, a log never chained), recorded in the log with what was
		 * found and why it was repaired. */
		long long from = v.fault == EVT_CHAIN_UNCHAINED ? 1 : v.bad_seq;
		long long rseq = 0;
		struct evt_buf d = EVT_BUF_INIT;

		if (from < 1)
			from = 1;
		evt_buf_printf(&d, "{\"from\":%lld,\"fault\":", from);
		evt_buf_json_str(&d, evt_chain_fault_name(v.fault),
		    strlen(evt_chain_fault_name(v.fault)));
		evt_buf_adds(&d, ",\"detail\":");
		evt_buf_json_str(&d, v.detail, strlen(v.detail));
		evt_buf_adds(&d, ",\"reason\":");
		evt_buf_json_str(&d, rechain, strlen(rechain));
		evt_buf_addc(&d, '}');
		rc = evt_log_rechain(log, from, d.p, now, &rseq, &err);
		evt_buf_free(&d);
		if (rc == 0) {
			if (!evt_quiet)
				fprintf(stderr, "%s: %s: re-chained from seq %lld "
				    "(%s); recorded as seq %lld\n", evt_prog,
				    evt_log_path(log), from, v.detail, rseq);
			rc = evt_chain_verify(log, &v, &err);
		}
	}
	if (rc >= 0 && metrics) {
		struct evt_buf m = EVT_BUF_INIT;
		evt_chain_metrics(&v, "evt-verify", now, &m);
		if (evt_write_atomic(metrics, m.p, m.len, 0644, &err) < 0)
			rc = -1;
		evt_buf_free(&m);
	}
	if (rc == 0 && out) {
		if (evt_checkpoint_make(&mine, origin, v.seq, v.head, &err) < 0 ||
		    (key && evt_checkpoint_sign(&mine, key, keyname, &err) < 0) ||
		    evt_checkpoint_write(&mine, out, &err) < 0)
			rc = -1;
	}
	if (rc < 0) {
		fprintf(stderr, "%s: %s\n", evt_prog, err.msg);
		rc = err.code;
	} else if (rc == 1) {
		fprintf(stderr, "%s: %s: %s\n", evt_prog, evt_log_path(log),
		    v.detail);
		if (v.fault != EVT_CHAIN_UNCHAINED && v.seq > 0)
			evt_note("the chain holds up to seq %lld", v.seq);
	} else {
		evt_chain_hex(v.head, hex);
		printf("%lld %s\n", v.seq, hex);
		if (since && !full)
			evt_note("%s: extends the checkpoint at seq %lld; %lld "
			    "events after it verified", evt_log_path(log),
			    cp.seq, v.events);
		else
			evt_note("%s: %lld events verified", evt_log_path(log),
			    v.events);
		if (v.archived > 0)
			evt_note("%s: seq 1 to %lld are archived: verified on "
			    "from the hash the log keeps of seq %lld",
			    evt_log_path(log), v.archived, v.archived);
		if (fclose(stdout) != 0) {
			if (errno != EPIPE)
				fprintf(stderr, "%s: stdout: %s\n", evt_prog,
				    strerror(errno));
			rc = EX_IOERR;
		}
	}
	free(origin_buf);
	evt_checkpoint_free(&cp);
	evt_checkpoint_free(&mine);
	evt_log_close(log);
	return rc;
}
