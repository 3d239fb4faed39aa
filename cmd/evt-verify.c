/*
 * evt-verify - recompute the log's hash chain and Merkle tree and check
 * them against a kept checkpoint; write (and sign) a checkpoint of the
 * tree and its tiles (chain.h, merkle.h). Inclusion and consistency
 * proofs, their checks and a witness's cosignature are tlog.h's; this
 * file reads the options and the files, and decides what is printed and
 * the exit status.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chain.h"
#include "cli.h"
#include "clock.h"
#include "crypto_load.h"
#include "event.h"
#include "file.h"
#include "log.h"
#include "merkle.h"
#include "tlog.h"

#define USAGE "evt-verify [-qv] [-l LOG] [-o FILE] [-p PUBKEY] [-s KEY] " \
	"[--check-consistency PROOF] [--check-inclusion PROOF] " \
	"[--checkpoint FILE] [--cosign KEY] [--event FILE] [--full] " \
	"[--key-name NAME] [--metrics FILE] [--origin TEXT] [--prove SEQ] " \
	"[--prove-consistency FILE] [--rechain REASON] [--since FILE] " \
	"[--tiles DIR] [--vkey KEY] [--witness-state FILE]"

static void help(void) __attribute__((noreturn));

static void
help(void)
{
	printf("usage: %s\n\n"
	    "Recompute the log's hash chain and its RFC 6962 Merkle tree; print\n"
	    "the head (seq and chain SHA-256); keep the tree in tiles.\n\n"
	    "  -l, --log LOG              the log (default $EVT_LOG, else ./events.db)\n"
	    "      --tiles DIR            the tree's tiles (default LOG.tiles; a\n"
	    "                             PostgreSQL log keeps none unless given)\n"
	    "      --since FILE           the log must extend this kept checkpoint;\n"
	    "                             then check only the events after it\n"
	    "      --full                 with --since: recompute from seq 1 too\n"
	    "  -p, --pubkey PUBKEY        the checkpoints read must be signed by\n"
	    "                             this Ed25519 public key (PEM)\n"
	    "  -o, --checkpoint-out FILE  write a checkpoint of the tree to FILE\n"
	    "  -s, --sign KEY             sign it with this Ed25519 private key (PEM)\n"
	    "      --origin TEXT          the checkpoint's origin line (default\n"
	    "                             HOST/PATH of the log; for PostgreSQL\n"
	    "                             HOST/URL, and /SCHEMA past public)\n"
	    "      --key-name NAME        the signature's key name (default: origin)\n"
	    "      --metrics FILE         write the last verified seq as a\n"
	    "                             node_exporter textfile\n"
	    "      --rechain REASON       repair a broken chain: re-hash from the\n"
	    "                             first seq found wrong to the end, and\n"
	    "                             record it, with REASON, as an event\n\n"
	    "Proofs (from the tiles, and from -l LOG what they lack; the\n"
	    "checks need no log):\n"
	    "      --checkpoint FILE      the checkpoint a proof is about\n"
	    "      --prove SEQ            print a tlog-proof of event SEQ's inclusion\n"
	    "      --check-inclusion PROOF  check it against the event line on\n"
	    "                             stdin (or --event FILE)\n"
	    "      --prove-consistency OLD  print a proof that --checkpoint\n"
	    "                             extends the checkpoint OLD\n"
	    "      --check-consistency PROOF  check it (--since OLD --checkpoint NEW)\n\n"
	    "Witnesses:\n"
	    "      --cosign KEY           add KEY's signature (--key-name NAME) to\n"
	    "                             --checkpoint once it extends the one in\n"
	    "      --witness-state FILE   which is then replaced by it\n"
	    "      --vkey KEY             print KEY's verifier key NAME+ID+KEY\n\n"
	    "  -q, --quiet                no warnings\n"
	    "  -v, --verbose              a summary on stderr\n"
	    "  -h, --help                 this help\n"
	    "      --version              the version\n\n"
	    "Without a checkpoint kept elsewhere the log proves nothing against\n"
	    "whoever can rewrite it. Writers refuse a log whose chain is broken;\n"
	    "only --rechain repairs it, and the repair stays in the log.\n\n"
	    "Exit: 0 the chain holds (the proof verifies), 1 it does not (or a\n"
	    "signature, or the proof), 64 usage, 65 bad checkpoint, proof or key,\n"
	    "66 no such log or file, 74 I/O. See evt-verify(1).\n", USAGE);
	exit(0);
}

/* Read the checkpoint in path, and check its signature by pub (if not
 * NULL); exits on failure. */
static void
read_cp(struct evt_checkpoint *cp, const char *path, const char *pub)
{
	struct evt_err err;
	int rc;

	if (evt_checkpoint_read(cp, path, &err) < 0)
		evt_die_err(&err);
	if (pub && (rc = evt_checkpoint_check_sig(cp, pub, &err)) != 0) {
		if (rc < 0)
			evt_die_err(&err);
		evt_die(1, "%s: %s", path, err.msg);
	}
}

/* The end of a tlog.h operation that returned rc: 1 exits 1, -1 exits
 * with err's code (64 with the usage line: no tiles to prove from). */
static void
done(int rc, const struct evt_err *err)
{
	if (rc > 0)
		evt_die(1, "%s", err->msg);
	if (rc < 0 && err->code == EX_USAGE)
		evt_usage_error(USAGE, "%s", err->msg);
	if (rc < 0)
		evt_die_err(err);
}

/* Slurp path ("-": stdin) into b; exits on failure. */
static void
slurp(const char *path, struct evt_buf *b)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
	char chunk[8192];
	size_t n;

	if (f == NULL)
		evt_die(errno == ENOENT ? EX_NOINPUT : EX_IOERR, "%s: %s", path,
		    strerror(errno));
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		evt_buf_add(b, chunk, n);
	if (ferror(f))
		evt_die(EX_IOERR, "%s: %s", path, strerror(errno));
	if (f != stdin)
		fclose(f);
	evt_buf_addc(b, '\0');
	b->len--;
}

/* The proof in path (inclusion or consistency, tlog.h); exits 65 on a
 * bad one. A new proof. */
static struct evt_tlog_proof *
read_proof(const char *path, int inclusion)
{
	struct evt_tlog_proof *pf = evt_tlog_proof_new();
	struct evt_buf b = EVT_BUF_INIT;
	struct evt_err err;

	slurp(path, &b);
	if (evt_tlog_proof_parse(pf, inclusion, path, b.p, b.len, &err) < 0)
		evt_die_err(&err);
	evt_buf_free(&b);
	return pf;
}

static int
put_stdout(const struct evt_buf *b)
{
	if (fwrite(b->p, 1, b->len, stdout) != b->len || fclose(stdout) != 0) {
		if (errno != EPIPE)
			fprintf(stderr, "%s: stdout: %s\n", evt_prog,
			    strerror(errno));
		return EX_IOERR;
	}
	return 0;
}

/* Say what a proof made from the log (tlog.h): the tiles were behind
 * the checkpoint; and free src's. */
static void
src_report(struct evt_tlog_src *src, const char *dir)
{
	if (src->events > 0 || src->tiles > 0)
		evt_note("%s: the tiles were behind the checkpoint: %lld events "
		    "of %s hashed, %lld tiles made, %lld written", dir,
		    src->events, src->log, src->tiles, src->saved);
	if (src->unsaved)
		evt_warn("%s: tiles not brought up to date: %s (the proof is "
		    "made from the log all the same)", dir, src->save_err.msg);
	evt_tlog_src_free(src);
}

/* --prove SEQ: a tlog-proof of event SEQ in cp's tree, from tiles (and
 * what they lack, from the log). */
static int
prove(long long seq, const char *cpname, const char *pub, const char *dir,
    const char *logspec)
{
	struct evt_checkpoint cp;
	struct evt_buf b = EVT_BUF_INIT;
	struct evt_tlog_src src = { .logspec = logspec };
	struct evt_err err;
	int rc;

	evt_checkpoint_init(&cp);
	read_cp(&cp, cpname, pub);
	done(evt_tlog_prove(seq, &cp, cpname, dir, &src, &b, &err), &err);
	src_report(&src, dir);
	rc = put_stdout(&b);
	evt_buf_free(&b);
	evt_checkpoint_free(&cp);
	return rc;
}

/* --check-inclusion PROOF: the event line in evfile against the proof,
 * and the proof's checkpoint against cpname (if given) and pub. */
static int
check_inclusion(const char *path, const char *cpname, const char *pub,
    const char *evfile)
{
	struct evt_tlog_proof *pf = read_proof(path, 1);
	struct evt_checkpoint cp;
	struct evt_buf ev = EVT_BUF_INIT;
	struct evt_err err;
	const struct evt_checkpoint *trusted;
	size_t len;
	int rc;

	evt_checkpoint_init(&cp);
	trusted = &pf->cp;
	if (cpname) {
		read_cp(&cp, cpname, NULL);
		done(evt_tlog_proof_for(pf, path, &cp, cpname, &err), &err);
		trusted = &cp;
	}
	if (pub && (rc = evt_checkpoint_check_sig(trusted, pub, &err)) != 0) {
		if (rc < 0)
			evt_die_err(&err);
		evt_die(1, "%s: %s", cpname ? cpname : path, err.msg);
	}
	if (!pub)
		evt_warn("no --pubkey: the checkpoint's signature is not checked");
	slurp(evfile, &ev);
	len = ev.len;
	if (len > 0 && ev.p[len - 1] == '\n')
		len--;
	if (len == 0 || memchr(ev.p, '\n', len))
		evt_die(EX_DATAERR, "%s: not one event line", evfile[0] == '-' &&
		    !evfile[1] ? "stdin" : evfile);
	rc = evt_tlog_check_inclusion(pf, path, trusted, ev.p, len, &err);
	if (rc != 0)
		fprintf(stderr, "%s: %s\n", evt_prog, err.msg);
	else
		evt_note("%s: seq %lld is in the tree of %lld events of %s",
		    path, pf->a + 1, trusted->seq, trusted->origin);
	evt_buf_free(&ev);
	evt_tlog_proof_free(pf);
	evt_checkpoint_free(&cp);
	return rc ? 1 : 0;
}

/* --prove-consistency OLD: a proof that cpname extends OLD, from tiles. */
static int
prove_consistency(const char *oldname, const char *cpname, const char *pub,
    const char *dir, const char *logspec)
{
	struct evt_checkpoint old, cp;
	struct evt_buf b = EVT_BUF_INIT;
	struct evt_tlog_src src = { .logspec = logspec };
	struct evt_err err;
	int rc;

	evt_checkpoint_init(&old);
	evt_checkpoint_init(&cp);
	read_cp(&old, oldname, pub);
	read_cp(&cp, cpname, pub);
	done(evt_tlog_same_origin(&old, oldname, &cp, cpname, &err), &err);
	done(evt_tlog_prove_consistency(&old, oldname, &cp, cpname, dir, &src,
	    &b, &err), &err);
	src_report(&src, dir);
	rc = put_stdout(&b);
	evt_buf_free(&b);
	evt_checkpoint_free(&old);
	evt_checkpoint_free(&cp);
	return rc;
}

/* --check-consistency PROOF --since OLD --checkpoint NEW. */
static int
check_consistency(const char *path, const char *oldname, const char *cpname,
    const char *pub)
{
	struct evt_tlog_proof *pf = read_proof(path, 0);
	struct evt_checkpoint old, cp;
	struct evt_err err;
	int rc;

	evt_checkpoint_init(&old);
	evt_checkpoint_init(&cp);
	read_cp(&old, oldname, pub);
	read_cp(&cp, cpname, pub);
	if (!pub)
		evt_warn("no --pubkey: the checkpoints' signatures are not "
		    "checked");
	done(evt_tlog_same_origin(&old, oldname, &cp, cpname, &err), &err);
	rc = evt_tlog_check_consistency(pf, path, &old, &cp, &err);
	if (rc != 0)
		fprintf(stderr, "%s: %s\n", evt_prog, err.msg);
	else
		evt_note("%s extends %s", cpname, oldname);
	evt_tlog_proof_free(pf);
	evt_checkpoint_free(&old);
	evt_checkpoint_free(&cp);
	return rc ? 1 : 0;
}

/* --cosign KEY: the witness's signature on cpname, once cpname extends
 * the checkpoint in state (the last this witness signed). */
static int
cosign(const char *key, const char *keyname, const char *cpname,
    const char *state, const char *pub, const char *dir, const char *logspec)
{
	struct evt_checkpoint cp;
	struct evt_tlog_src src = { .logspec = logspec };
	struct evt_err err;
	long long old_seq;
	int first;

	evt_checkpoint_init(&cp);
	if (access(key, R_OK) < 0)
		evt_die(errno == ENOENT ? EX_NOINPUT : EX_IOERR, "%s: %s", key,
		    strerror(errno));
	read_cp(&cp, cpname, pub);
	if (!pub)
		evt_warn("no --pubkey: cosigning a checkpoint whose log "
		    "signature is not checked");
	done(evt_tlog_cosign(&cp, cpname, key, keyname, state, dir, &src, NULL,
	    &first, &old_seq, &err), &err);
	src_report(&src, dir);
	if (first)
		evt_note("%s: no state: %s is the first checkpoint this witness "
		    "signs", state, cpname);
	else
		evt_note("%s (%lld events) extends %s (%lld events): cosigned",
		    cpname, cp.seq, state, old_seq);
	evt_checkpoint_free(&cp);
	return 0;
}

/* A number for option opt, in full, from 1 on. */
static long long
seq_arg(const char *opt, const char *s)
{
	long long n = evt_tlog_number(s, strlen(s));

	if (n < 1)
		evt_usage_error(USAGE, "%s: not a seq (a number from 1): %s", opt,
		    s);
	return n;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "check-consistency", required_argument, NULL, 'C' },
		{ "check-inclusion", required_argument, NULL, 'I' },
		{ "checkpoint", required_argument, NULL, 'c' },
		{ "checkpoint-out", required_argument, NULL, 'o' },
		{ "cosign", required_argument, NULL, 'W' },
		{ "event", required_argument, NULL, 'E' },
		{ "full", no_argument, NULL, 'F' },
		{ "help", no_argument, NULL, 'h' },
		{ "key-name", required_argument, NULL, 'N' },
		{ "log", required_argument, NULL, 'l' },
		{ "metrics", required_argument, NULL, 'M' },
		{ "origin", required_argument, NULL, 'O' },
		{ "prove", required_argument, NULL, 'P' },
		{ "prove-consistency", required_argument, NULL, 'Q' },
		{ "pubkey", required_argument, NULL, 'p' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "rechain", required_argument, NULL, 'R' },
		{ "since", required_argument, NULL, 'S' },
		{ "sign", required_argument, NULL, 's' },
		{ "tiles", required_argument, NULL, 'T' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "version", no_argument, NULL, 'V' },
		{ "vkey", required_argument, NULL, 'K' },
		{ "witness-state", required_argument, NULL, 'w' },
		{ NULL, 0, NULL, 0 }
	};
	const char *logspec = NULL, *out = NULL, *key = NULL, *pub = NULL;
	const char *since = NULL, *origin = NULL, *keyname = NULL;
	const char *metrics = NULL, *rechain = NULL, *tiles_arg = NULL;
	const char *checkpoint = NULL, *chk_incl = NULL, *chk_cons = NULL;
	const char *cosign_key = NULL, *event = NULL, *prove_cons = NULL;
	const char *vkey = NULL, *wstate = NULL;
	long long prove_seq = 0;
	struct evt_checkpoint cp, mine;
	struct evt_verify v;
	struct evt_err err;
	struct evt_log *log;
	struct evt_tlog_tree tr;
	char *origin_buf = NULL, *tdir = NULL, hex[2 * EVT_CHAIN_LEN + 1];
	int c, rc, full = 0, modes, incremental = 0, upgraded = 0;
	unsigned char root[EVT_HASH_LEN], upgraded_head[EVT_HASH_LEN];
	unsigned char cp_head[EVT_HASH_LEN];
	int has_cp_head = 0;
	int64_t now;

	evt_cli_init("evt-verify");
	while ((c = getopt_long(argc, argv, "hl:o:p:qs:v", opts, NULL)) != -1) {
		switch (c) {
		case 'c': checkpoint = optarg; break;
		case 'C': chk_cons = optarg; break;
		case 'E': event = optarg; break;
		case 'F': full = 1; break;
		case 'h': help();
		case 'I': chk_incl = optarg; break;
		case 'K': vkey = optarg; break;
		case 'l': logspec = evt_cli_log_arg(optarg); break;
		case 'M': metrics = optarg; break;
		case 'N': keyname = optarg; break;
		case 'o': out = optarg; break;
		case 'O': origin = optarg; break;
		case 'p': pub = optarg; break;
		case 'P': prove_seq = seq_arg("--prove", optarg); break;
		case 'q': evt_quiet = 1; break;
		case 'Q': prove_cons = optarg; break;
		case 'R': rechain = optarg; break;
		case 's': key = optarg; break;
		case 'S': since = optarg; break;
		case 'T': tiles_arg = optarg; break;
		case 'v': evt_verbose = 1; break;
		case 'V': evt_print_version();
		case 'w': wstate = optarg; break;
		case 'W': cosign_key = optarg; break;
		default: evt_usage_error(USAGE, NULL);
		}
	}
	if (optind < argc)
		evt_usage_error(USAGE, "unexpected argument: %s", argv[optind]);
	if (tiles_arg && *tiles_arg == '\0')
		evt_usage_error(USAGE, "--tiles: a directory");
	modes = (prove_seq > 0) + !!chk_incl + !!prove_cons + !!chk_cons +
	    !!cosign_key + !!vkey;
	if (modes > 1)
		evt_usage_error(USAGE, "--prove, --check-inclusion, "
		    "--prove-consistency, --check-consistency, --cosign and "
		    "--vkey are each a task of their own: one at a time");
	if (modes && (out || key || metrics || rechain || full))
		evt_usage_error(USAGE, "%s: not with a proof, --cosign or --vkey",
		    out ? "--checkpoint-out" : key ? "--sign" : metrics ?
		    "--metrics" : rechain ? "--rechain" : "--full");
	if (event && !chk_incl)
		evt_usage_error(USAGE, "--event is the event line of "
		    "--check-inclusion");
	if (wstate && !cosign_key)
		evt_usage_error(USAGE, "--witness-state is --cosign's");
	if (checkpoint && !modes)
		evt_usage_error(USAGE, "--checkpoint names the checkpoint of a "
		    "proof or of --cosign; the one to verify the log against "
		    "is --since");
	if ((prove_seq || prove_cons || chk_cons || cosign_key) && !checkpoint)
		evt_usage_error(USAGE, "%s needs --checkpoint FILE", prove_seq ?
		    "--prove" : prove_cons ? "--prove-consistency" : chk_cons ?
		    "--check-consistency" : "--cosign");
	if (chk_cons && !since)
		evt_usage_error(USAGE, "--check-consistency needs --since OLD, "
		    "the older checkpoint");
	if (since && modes && !chk_cons)
		evt_usage_error(USAGE, "--since: the old checkpoint is "
		    "--prove-consistency's argument");
	if (cosign_key && !wstate)
		evt_usage_error(USAGE, "--cosign needs --witness-state FILE, the "
		    "last checkpoint this witness signed");
	if (cosign_key && !keyname)
		evt_usage_error(USAGE, "--cosign needs --key-name NAME, the "
		    "witness's name");
	/* The verification's own usage, before libcrypto is looked for:
	 * a usage error is 64 with or without it. */
	if (!vkey && !chk_incl && !chk_cons && !prove_seq && !prove_cons &&
	    !cosign_key) {
		if (key && !out)
			evt_usage_error(USAGE, "--sign signs the checkpoint "
			    "of --checkpoint-out");
		if (keyname && !key)
			evt_usage_error(USAGE, "--key-name names the key of "
			    "--sign");
		if ((full || pub) && !since)
			evt_usage_error(USAGE, "%s checks the checkpoint of "
			    "--since", full ? "--full" : "--pubkey");
		if (rechain && since)
			evt_usage_error(USAGE, "--rechain: a re-chained log "
			    "extends no earlier checkpoint; leave out --since");
		if (rechain && (*rechain == '\0' ||
		    !evt_ce_string_ok(rechain, strlen(rechain))))
			evt_usage_error(USAGE, "--rechain: a reason, one "
			    "line of text");
		if (origin && (*origin == '\0' || strchr(origin, '\n')))
			evt_usage_error(USAGE, "--origin: one line, not "
			    "empty");
	}
	/* Whatever it is asked, it hashes: libcrypto now, or the reason
	 * why not, before any work (crypto_load.h). */
	if (evt_crypto_load(NULL, &err) < 0)
		evt_die_err(&err);
	if (vkey) {
		struct evt_buf b = EVT_BUF_INIT;
		const char *name = keyname ? keyname : origin;
		if (name == NULL) {
			const char *f = evt_tlog_log_file(logspec);
			if (f == NULL)
				evt_usage_error(USAGE, "--vkey: name the key "
				    "(--key-name or --origin)");
			name = origin_buf = evt_tlog_default_origin(f);
		}
		if (evt_key_vkey(vkey, name, &b, &err) < 0)
			evt_die_err(&err);
		evt_buf_addc(&b, '\n');
		rc = put_stdout(&b);
		evt_buf_free(&b);
		free(origin_buf);
		return rc;
	}
	if (chk_incl)
		return check_inclusion(chk_incl, checkpoint, pub, event ? event :
		    "-");
	if (chk_cons)
		return check_consistency(chk_cons, since, checkpoint, pub);
	tdir = evt_tlog_tiles_dir(tiles_arg, logspec);
	if (prove_seq) {
		rc = prove(prove_seq, checkpoint, pub, tdir, logspec);
		free(tdir);
		return rc;
	}
	if (prove_cons) {
		rc = prove_consistency(prove_cons, checkpoint, pub, tdir,
		    logspec);
		free(tdir);
		return rc;
	}
	if (cosign_key) {
		rc = cosign(cosign_key, keyname, checkpoint, wstate, pub, tdir,
		    logspec);
		free(tdir);
		return rc;
	}
	if (evt_clock_now(&now, &err) < 0)
		evt_die_err(&err);
	evt_checkpoint_init(&cp);
	evt_checkpoint_init(&mine);
	/* The kept checkpoint first: a bad one is known before the work. */
	if (since)
		read_cp(&cp, since, pub);
	if (key && access(key, R_OK) < 0)
		evt_die(errno == ENOENT ? EX_NOINPUT : EX_IOERR, "%s: %s", key,
		    strerror(errno));
	if ((log = evt_log_open(logspec, 0, &err)) == NULL) {
		evt_checkpoint_free(&cp);
		evt_die_err(&err);
	}
	if (!origin)
		origin = origin_buf =
		    evt_tlog_default_origin(evt_log_origin(log));
	/* The kept checkpoint must be this log's, by the origin given or
	 * the default one (issue 22: a copy of another log is no proof). */
	if (since && strcmp(origin, cp.origin) != 0) {
		fprintf(stderr, "%s: %s: the checkpoint is for origin %s, not "
		    "%s\n", evt_prog, since, cp.origin, origin);
		evt_checkpoint_free(&cp);
		free(origin_buf);
		free(tdir);
		evt_log_close(log);
		return 1;
	}
#ifdef EVT_BENCH_NO_TREE
	/* scripts/bench, section 15: the chain alone, as evt-verify checked
	 * it before the tree (a chain checkpoint holds h(N) on line 3), the
	 * baseline of what the tree costs. Built there, never installed. */
	memset(&v, 0, sizeof(v));
	v.since = since ? &cp : NULL;
	v.since_head = since ? cp.root : NULL;
	v.full = full;
	if ((rc = evt_chain_verify(log, &v, &err)) == 0) {
		evt_chain_hex(v.head, hex);
		printf("%lld %s\n", v.seq, hex);
	} else
		fprintf(stderr, "%s: %s\n", evt_prog, rc < 0 ? err.msg :
		    v.detail);
	evt_checkpoint_free(&cp);
	free(origin_buf);
	free(tdir);
	evt_log_close(log);
	return rc < 0 ? err.code : rc;
#endif
	evt_tlog_tree_init(&tr, tdir);
	memset(&v, 0, sizeof(v));
	v.since = since ? &cp : NULL;
	v.full = full;
	v.on_leaf = evt_tlog_tree_leaf;
	v.leaf_arg = &tr;
	/*
	 * Against a tree checkpoint, tiles that hash to its root hold the
	 * tree up to it: only the events after it are read, and the tree
	 * grows from its right edge. Otherwise (no tiles, other tiles, a
	 * checkpoint of an earlier evt, --full) the tree is recomputed from
	 * seq 1, and its root at the checkpoint's size decides.
	 */
	if (since && cp.seq > 0 && !full && tr.tiles) {
		int h = evt_tlog_tiles_hold(tr.tiles, &cp, tr.hs, &tr.edge,
		    &err);
		if (h == 0 && evt_tiles_start(tr.tiles, cp.seq, &err) == 0) {
			incremental = 1;
			if (evt_tiles_chain_head(tr.tiles, cp.seq, upgraded_head))
				v.since_head = upgraded_head;
		} else
			evt_note("%s: %s: recomputing the tree from seq 1",
			    tdir, err.msg);
	}
	if (!incremental) {
		if (since && (has_cp_head = evt_tlog_ext_chain_head(&cp,
		    cp_head)))
			v.since_head = cp_head;
		v.full = since != NULL;
		evt_merkle_edge_init(&tr.edge);
		tr.snap = since ? cp.seq : 0;
		if (tr.tiles && evt_tiles_start(tr.tiles, 0, &err) < 0)
			evt_die_err(&err);
	}
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
			evt_merkle_edge_init(&tr.edge);
			tr.broken = 0;
			if (tr.tiles && evt_tiles_start(tr.tiles, 0, &err) < 0)
				rc = -1;
			else
				rc = evt_chain_verify(log, &v, &err);
		}
	}
	/* The tree's verdict on the checkpoint, when it was recomputed. */
	if (rc == 0 && since && !incremental) {
		unsigned char empty[EVT_HASH_LEN];
		evt_merkle_empty(empty);
		if (tr.broken && has_cp_head && v.since_seen)
			/* An archived log: the tree cannot be recomputed, and
			 * the chain held to the head the checkpoint signs. */
			evt_note("%s: seq 1 to %lld are archived: checked "
			    "against the chain's head the checkpoint carries, "
			    "not its tree", evt_log_path(log), v.archived);
		else if (tr.broken && !(v.since_seen && memcmp(v.since_chain,
		    cp.root, EVT_HASH_LEN) == 0)) {
			rc = 1;
			v.fault = EVT_CHAIN_TRUNCATED;
			v.bad_seq = cp.seq;
			snprintf(v.detail, sizeof(v.detail), "seq %lld: the "
			    "checkpoint's tree cannot be recomputed: seq 1 to "
			    "%lld are archived out of the log; keep its tiles "
			    "(--tiles DIR)", cp.seq, v.archived);
		} else if (cp.seq == 0 ? memcmp(cp.root, empty, EVT_HASH_LEN) == 0 :
		    tr.snapped && memcmp(tr.snap_root, cp.root,
		    EVT_HASH_LEN) == 0)
			;
		else if (v.since_seen && memcmp(v.since_chain, cp.root,
		    EVT_HASH_LEN) == 0) {
			/* A checkpoint of an earlier evt: line 3 is the
			 * chain's head, which the chain just verified up to
			 * and on from. */
			upgraded = 1;
			memcpy(upgraded_head, cp.root, EVT_HASH_LEN);
		} else {
			rc = 1;
			v.fault = EVT_CHAIN_FORKED;
			v.bad_seq = cp.seq;
			snprintf(v.detail, sizeof(v.detail), "seq %lld: %s (the "
			    "tree of its first %lld events has another root: "
			    "history rewritten or the log replaced)", cp.seq,
			    evt_chain_fault_name(EVT_CHAIN_FORKED), cp.seq);
		}
	}
	if (rc == 0 && tr.broken && (out || tr.tiles)) {
		if (out)
			rc = evt_err_set(&err, EX_DATAERR, "%s: seq 1 to %lld are "
			    "archived out of the log: the tree needs every "
			    "event", evt_log_path(log), v.archived);
		else
			evt_note("%s: seq 1 to %lld are archived: no tiles",
			    evt_log_path(log), v.archived);
	}
	if (rc == 0 && tr.tiles && !tr.broken) {
		evt_tiles_set_head(tr.tiles, v.seq, v.head);
		if (evt_tiles_finish(tr.tiles, &err) < 0) {
			if (tiles_arg)
				rc = -1;
			else
				evt_warn("%s: tiles not written: %s", tdir, err.msg);
		}
	}
	if (rc >= 0 && metrics) {
		struct evt_buf m = EVT_BUF_INIT;
		evt_chain_metrics(&v, "evt-verify", now, &m);
		if (evt_write_atomic(metrics, m.p, m.len, 0644, 0, &err) < 0)
			rc = -1;
		evt_buf_free(&m);
	}
	evt_merkle_edge_root(tr.hs, &tr.edge, root);
	if (rc == 0 && out) {
		struct evt_buf ext = EVT_BUF_INIT;
		if (upgraded) {
			/* Recorded in what is signed: this tree checkpoint
			 * took over from the chain checkpoint at seq N. */
			evt_buf_printf(&ext, "evt-upgraded-from-chain %lld ",
			    cp.seq);
			evt_b64_add(&ext, upgraded_head, EVT_HASH_LEN);
			evt_buf_addc(&ext, '\n');
		}
		if (!tr.tiles) {
			/* No tiles to keep the chain's head with (a
			 * PostgreSQL log without --tiles): the checkpoint
			 * carries it, so that --since holds the log to it
			 * once its oldest events are archived. */
			evt_tlog_ext_add_chain_head(&ext, v.seq, v.head);
		}
		if (evt_checkpoint_make(&mine, origin, v.seq, root,
		    ext.len ? ext.p : NULL, &err) < 0 ||
		    (key && evt_checkpoint_sign(&mine, key, keyname, &err) < 0) ||
		    evt_checkpoint_write(&mine, out, &err) < 0)
			rc = -1;
		evt_buf_free(&ext);
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
		if (since && incremental)
			evt_note("%s: extends the checkpoint at seq %lld; %lld "
			    "events after it verified", evt_log_path(log),
			    cp.seq, v.events);
		else
			evt_note("%s: %lld events verified", evt_log_path(log),
			    v.events);
		if (!tr.broken) {
			struct evt_buf r = EVT_BUF_INIT;
			evt_b64_add(&r, root, EVT_HASH_LEN);
			evt_note("%s: tree of %lld events, root %s",
			    evt_log_path(log), tr.edge.size, r.p);
			evt_buf_free(&r);
		}
		if (upgraded && out)
			fprintf(stderr, "%s: %s: upgraded: %s held the chain's "
			    "head at seq %lld (a checkpoint of an earlier evt), "
			    "verified; %s holds the tree's root and records the "
			    "upgrade; the log itself was not re-hashed\n",
			    evt_prog, evt_log_path(log), since, cp.seq, out);
		else if (upgraded && !evt_quiet)
			fprintf(stderr, "%s: %s: %s is a chain checkpoint of an "
			    "earlier evt, and the log extends it; -o FILE "
			    "upgrades it to a tree checkpoint\n", evt_prog,
			    evt_log_path(log), since);
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
	free(tdir);
	evt_tlog_tree_free(&tr);
	evt_checkpoint_free(&cp);
	evt_checkpoint_free(&mine);
	evt_log_close(log);
	return rc;
}
