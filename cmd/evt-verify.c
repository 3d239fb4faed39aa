/*
 * evt-verify - recompute the log's hash chain and Merkle tree and check
 * them against a kept checkpoint; write (and sign) a checkpoint of the
 * tree, its tiles, and inclusion and consistency proofs (chain.h,
 * merkle.h); cosign as a witness.
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
#include "merkle.h"

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
	    "                             HOST/PATH of the log)\n"
	    "      --key-name NAME        the signature's key name (default: origin)\n"
	    "      --metrics FILE         write the last verified seq as a\n"
	    "                             node_exporter textfile\n"
	    "      --rechain REASON       repair a broken chain: re-hash from the\n"
	    "                             first seq found wrong to the end, and\n"
	    "                             record it, with REASON, as an event\n\n"
	    "Proofs (from the tiles; the checks need no log):\n"
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

/* The path of the log named by spec as evt_log_open resolves it, or NULL
 * for a PostgreSQL log. */
static const char *
log_file(const char *spec)
{
	if (spec == NULL)
		spec = getenv("EVT_LOG");
	if (spec == NULL || *spec == '\0')
		spec = "events.db";
	if (strncmp(spec, "postgres://", 11) == 0 ||
	    strncmp(spec, "postgresql://", 13) == 0)
		return NULL;
	if (strncmp(spec, "sqlite:", 7) == 0)
		return spec + 7;
	if (strncmp(spec, "file:", 5) == 0)
		return spec + 5;
	return spec;
}

/* --tiles DIR, else LOG.tiles beside a file or SQLite log (new), or NULL. */
static char *
tiles_dir(const char *given, const char *logspec)
{
	const char *f = log_file(logspec);
	char *d;

	if (given)
		return evt_strdup(given);
	if (f == NULL)
		return NULL;
	if (asprintf(&d, "%s.tiles", f) < 0)
		abort();
	return d;
}

/* The tree built as the chain verifies: the leaves, in seq order. */
struct tree {
	struct evt_hasher *hs;
	struct evt_merkle_edge edge;
	struct evt_tiles *tiles;	/* written as it grows, or NULL */
	long long snap;			/* keep the root at this size (> 0) */
	int snapped;
	unsigned char snap_root[EVT_HASH_LEN];
	int broken;			/* a leaf missing: archived events */
};

static void
on_leaf(void *arg, long long seq, const unsigned char *leaf)
{
	struct tree *t = arg;

	if (t->broken)
		return;
	if (seq != t->edge.size + 1) {
		t->broken = 1;
		return;
	}
	evt_merkle_edge_push(t->hs, &t->edge, leaf,
	    t->tiles ? evt_tiles_put : NULL, t->tiles);
	if (seq == t->snap) {
		evt_merkle_edge_root(t->hs, &t->edge, t->snap_root);
		t->snapped = 1;
	}
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

/* The tiles in dir hold cp's tree: its right edge hashes to cp's root.
 * Returns 0; 1 when they do not (why in err); -1 when they cannot be
 * read (err). */
static int
tiles_hold(struct evt_tiles *t, const struct evt_checkpoint *cp,
    struct evt_hasher *hs, struct evt_merkle_edge *e, struct evt_err *err)
{
	struct evt_hash_reader rd = evt_tiles_reader(t);
	unsigned char root[EVT_HASH_LEN];

	if (evt_merkle_edge_load(e, cp->seq, &rd, err) < 0)
		return -1;
	evt_merkle_edge_root(hs, e, root);
	if (memcmp(root, cp->root, EVT_HASH_LEN) != 0)
		return evt_err_set(err, 1, "the tiles do not hold the "
		    "checkpoint's tree: their root at size %lld is another "
		    "(written from a log that differs from the checkpoint's)",
		    cp->seq), 1;
	return 0;
}

/* Open the tiles for a proof and check that they hold cp's tree; exits
 * on failure. */
static struct evt_tiles *
proof_tiles(const char *dir, const struct evt_checkpoint *cp,
    const char *cpname, struct evt_hasher *hs)
{
	struct evt_tiles *t;
	struct evt_merkle_edge e;
	struct evt_err err;
	int rc;

	if (dir == NULL)
		evt_usage_error(USAGE, "a PostgreSQL log keeps no tiles unless "
		    "--tiles DIR is given");
	if (access(dir, F_OK) < 0)
		evt_die(EX_NOINPUT, "%s: no tiles (%s): evt-verify of the log "
		    "writes them", dir, strerror(errno));
	t = evt_tiles_new(dir);
	if ((rc = tiles_hold(t, cp, hs, &e, &err)) != 0) {
		evt_tiles_free(t);
		if (rc < 0)
			evt_die(err.code, "%s: %s", dir, err.msg);
		evt_die(1, "%s: %s: %s", dir, cpname, err.msg);
	}
	return t;
}

/* A decimal number of at most 18 digits, no leading zero; -1 if not. */
static long long
number(const char *p, size_t n)
{
	if (n == 0 || n > 18 || strspn(p, "0123456789") < n ||
	    (*p == '0' && n > 1))
		return -1;
	return strtoll(p, NULL, 10);
}

#define EXT_HEAD "evt-chain-head "

/*
 * The chain's head that a checkpoint of a log without tiles carries in an
 * extension line "evt-chain-head N base64(h(N))": into out, returning 1
 * when cp has one for its own size, else 0.
 */
static int
ext_chain_head(const struct evt_checkpoint *cp, unsigned char *out)
{
	const char *p = cp->text.p, *end = cp->text.p + cp->body_len, *nl;
	int line = 1;

	for (; p < end && (nl = memchr(p, '\n', (size_t)(end - p))); p = nl + 1,
	    line++) {
		const char *sp;
		if (line <= 3 || strncmp(p, EXT_HEAD, strlen(EXT_HEAD)) != 0)
			continue;
		p += strlen(EXT_HEAD);
		if ((sp = memchr(p, ' ', (size_t)(nl - p))) == NULL ||
		    number(p, (size_t)(sp - p)) != cp->seq ||
		    evt_b64_decode(sp + 1, (size_t)(nl - sp - 1), out,
		    EVT_HASH_LEN) != EVT_HASH_LEN)
			continue;
		return 1;
	}
	return 0;
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

/* A proof: its sizes or index, its hashes, and for a tlog-proof the
 * checkpoint it carries. */
struct proof {
	long long a, b;		/* index and -1, or old and new sizes */
	int n;
	unsigned char h[EVT_PROOF_MAX][EVT_HASH_LEN];
	struct evt_checkpoint cp;
};

static void bad_proof(const char *path, int line, const char *what)
	__attribute__((noreturn));

static void
bad_proof(const char *path, int line, const char *what)
{
	evt_die(EX_DATAERR, "%s:%d: not a proof: %s", path, line, what);
}

#define TLOG_PROOF "c2sp.org/tlog-proof@v1"
#define CONS_PROOF "evt/tlog-consistency-proof@v1"

/* Parse the proof in path: a tlog-proof (inclusion) or evt's consistency
 * proof (kind says which). Exits 65 on a bad one. */
static void
parse_proof(const char *path, int inclusion, struct proof *pf)
{
	struct evt_buf b = EVT_BUF_INIT;
	struct evt_err err;
	char *p, *nl, *end;
	int line = 1;

	slurp(path, &b);
	p = b.p;
	end = b.p + b.len;
	memset(pf, 0, sizeof(*pf));
	evt_checkpoint_init(&pf->cp);
	pf->b = -1;
#define NEXT() do { \
	if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL) \
		bad_proof(path, line, "no newline at the end"); \
	} while (0)
	if (b.len == 0)
		bad_proof(path, 1, "empty");
	NEXT();
	if ((size_t)(nl - p) != strlen(inclusion ? TLOG_PROOF : CONS_PROOF) ||
	    memcmp(p, inclusion ? TLOG_PROOF : CONS_PROOF, (size_t)(nl - p)))
		bad_proof(path, line, inclusion ? "the first line is not "
		    TLOG_PROOF : "the first line is not " CONS_PROOF);
	p = nl + 1, line++;
	if (inclusion) {
		if (p < end && strncmp(p, "extra ", 6) == 0) {
			NEXT();
			p = nl + 1, line++;	/* opaque, not trusted */
		}
		if (p >= end)
			bad_proof(path, line, "no index line");
		NEXT();
		if (strncmp(p, "index ", 6) != 0 ||
		    (pf->a = number(p + 6, (size_t)(nl - p - 6))) < 0)
			bad_proof(path, line, "not an index line (index N)");
		p = nl + 1, line++;
	} else {
		if (p >= end)
			bad_proof(path, line, "no old line");
		NEXT();
		if (strncmp(p, "old ", 4) != 0 ||
		    (pf->a = number(p + 4, (size_t)(nl - p - 4))) < 0)
			bad_proof(path, line, "not an old line (old SIZE)");
		p = nl + 1, line++;
		if (p >= end)
			bad_proof(path, line, "no new line");
		NEXT();
		if (strncmp(p, "new ", 4) != 0 ||
		    (pf->b = number(p + 4, (size_t)(nl - p - 4))) < 0)
			bad_proof(path, line, "not a new line (new SIZE)");
		p = nl + 1, line++;
	}
	while (p < end && *p != '\n') {
		NEXT();
		if (pf->n == EVT_PROOF_MAX)
			bad_proof(path, line, "too many hashes");
		if (evt_b64_decode(p, (size_t)(nl - p), pf->h[pf->n],
		    EVT_HASH_LEN) != EVT_HASH_LEN)
			bad_proof(path, line, "not a hash (base64 of 32 bytes)");
		pf->n++;
		p = nl + 1, line++;
	}
	if (inclusion) {
		if (p >= end)
			bad_proof(path, line, "no checkpoint after the hashes");
		p++, line++;
		if (evt_checkpoint_parse(&pf->cp, path, line, p,
		    (size_t)(end - p), &err) < 0)
			evt_die_err(&err);
	} else if (p < end)
		bad_proof(path, line, "a line after the hashes");
#undef NEXT
	evt_buf_free(&b);
}

static void
add_hashes(struct evt_buf *b, unsigned char (*h)[EVT_HASH_LEN], int n)
{
	for (int i = 0; i < n; i++) {
		evt_b64_add(b, h[i], EVT_HASH_LEN);
		evt_buf_addc(b, '\n');
	}
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

/* Two checkpoints of one log: the same origin. */
static void
same_origin(const struct evt_checkpoint *a, const char *an,
    const struct evt_checkpoint *b, const char *bn)
{
	if (strcmp(a->origin, b->origin) != 0)
		evt_die(1, "%s is for origin %s, %s for %s: not one log", an,
		    a->origin, bn, b->origin);
}

/* --prove SEQ: a tlog-proof of event SEQ in cp's tree, from tiles. */
static int
prove(long long seq, const char *cpname, const char *pub, const char *dir)
{
	struct evt_checkpoint cp;
	struct evt_hasher *hs = evt_hasher_new();
	struct evt_tiles *t;
	struct evt_hash_reader rd;
	struct evt_buf b = EVT_BUF_INIT;
	struct evt_err err;
	unsigned char (*h)[EVT_HASH_LEN] = calloc(EVT_PROOF_MAX, EVT_HASH_LEN);
	unsigned char leaf[EVT_HASH_LEN];
	int n, rc;

	evt_checkpoint_init(&cp);
	read_cp(&cp, cpname, pub);
	if (seq > cp.seq)
		evt_die(1, "--prove: seq %lld is not in the checkpoint's tree "
		    "of %lld events", seq, cp.seq);
	t = proof_tiles(dir, &cp, cpname, hs);
	rd = evt_tiles_reader(t);
	if (h == NULL)
		abort();
	if (evt_merkle_prove_inclusion(hs, &rd, seq - 1, cp.seq, h, &n,
	    &err) < 0 || rd.fn(rd.arg, 0, seq - 1, leaf, &err) < 0)
		evt_die(err.code, "%s: %s", dir, err.msg);
	/* The proof is checked before it is given: tiles that do not hash
	 * up are no proof. */
	if (evt_merkle_check_inclusion(hs, seq - 1, cp.seq, leaf, h, n, cp.root,
	    &err) != 0)
		evt_die(1, "%s: seq %lld: %s", dir, seq, err.msg);
	evt_buf_printf(&b, TLOG_PROOF "\nindex %lld\n", seq - 1);
	add_hashes(&b, h, n);
	evt_buf_addc(&b, '\n');
	evt_buf_add(&b, cp.text.p, cp.text.len);
	rc = put_stdout(&b);
	evt_buf_free(&b);
	free(h);
	evt_tiles_free(t);
	evt_hasher_free(hs);
	evt_checkpoint_free(&cp);
	return rc;
}

/* --check-inclusion PROOF: the event line in evfile against the proof,
 * and the proof's checkpoint against cpname (if given) and pub. */
static int
check_inclusion(const char *path, const char *cpname, const char *pub,
    const char *evfile)
{
	struct proof *pf = calloc(1, sizeof(*pf));
	struct evt_checkpoint cp;
	struct evt_hasher *hs = evt_hasher_new();
	struct evt_buf ev = EVT_BUF_INIT;
	struct evt_err err;
	unsigned char leaf[EVT_HASH_LEN];
	const struct evt_checkpoint *trusted;
	size_t len;
	int rc;

	if (pf == NULL)
		abort();
	parse_proof(path, 1, pf);
	evt_checkpoint_init(&cp);
	trusted = &pf->cp;
	if (cpname) {
		read_cp(&cp, cpname, NULL);
		if (cp.seq != pf->cp.seq || memcmp(cp.root, pf->cp.root,
		    EVT_HASH_LEN) != 0 || strcmp(cp.origin, pf->cp.origin) != 0)
			evt_die(1, "%s: the proof is for the tree of %lld events "
			    "of %s, not %s's (%lld events of %s)", path,
			    pf->cp.seq, pf->cp.origin, cpname, cp.seq, cp.origin);
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
	evt_chain_leaf(hs, pf->a + 1, ev.p, len, leaf);
	rc = evt_merkle_check_inclusion(hs, pf->a, trusted->seq, leaf, pf->h,
	    pf->n, trusted->root, &err);
	if (rc != 0) {
		long long said = evt_chain_line_seq(ev.p, len);
		if (said > 0 && said != pf->a + 1)
			fprintf(stderr, "%s: %s: the event line says seq %lld, "
			    "the proof is for seq %lld (index %lld)\n", evt_prog,
			    path, said, pf->a + 1, pf->a);
		else
			fprintf(stderr, "%s: %s: %s\n", evt_prog, path, err.msg);
	} else
		evt_note("%s: seq %lld is in the tree of %lld events of %s",
		    path, pf->a + 1, trusted->seq, trusted->origin);
	evt_buf_free(&ev);
	evt_checkpoint_free(&pf->cp);
	free(pf);
	evt_checkpoint_free(&cp);
	evt_hasher_free(hs);
	return rc ? 1 : 0;
}

/* The consistency proof from old to cp, from the tiles t (which hold
 * cp's tree), checked; exits 1 when cp does not extend old. */
static int
consistency(struct evt_hasher *hs, struct evt_tiles *t,
    const struct evt_checkpoint *old, const char *oldname,
    const struct evt_checkpoint *cp, const char *cpname,
    unsigned char (*h)[EVT_HASH_LEN], struct evt_err *err)
{
	struct evt_hash_reader rd = evt_tiles_reader(t);
	int n = 0;

	if (old->seq > cp->seq)
		evt_die(1, "%s (%lld events) is older than %s (%lld events): "
		    "a log never shrinks", cpname, cp->seq, oldname, old->seq);
	if (old->seq > 0 && evt_merkle_prove_consistency(hs, &rd, old->seq,
	    cp->seq, h, &n, err) < 0)
		evt_die(err->code, "%s", err->msg);
	if (evt_merkle_check_consistency(hs, old->seq, cp->seq, old->root,
	    cp->root, h, n, err) != 0)
		evt_die(1, "%s does not extend %s: %s", cpname, oldname, err->msg);
	return n;
}

static int
prove_consistency(const char *oldname, const char *cpname, const char *pub,
    const char *dir)
{
	struct evt_checkpoint old, cp;
	struct evt_hasher *hs = evt_hasher_new();
	struct evt_tiles *t;
	struct evt_buf b = EVT_BUF_INIT;
	struct evt_err err;
	unsigned char (*h)[EVT_HASH_LEN] = calloc(EVT_PROOF_MAX, EVT_HASH_LEN);
	int n, rc;

	if (h == NULL)
		abort();
	evt_checkpoint_init(&old);
	evt_checkpoint_init(&cp);
	read_cp(&old, oldname, pub);
	read_cp(&cp, cpname, pub);
	same_origin(&old, oldname, &cp, cpname);
	t = proof_tiles(dir, &cp, cpname, hs);
	n = consistency(hs, t, &old, oldname, &cp, cpname, h, &err);
	evt_buf_printf(&b, CONS_PROOF "\nold %lld\nnew %lld\n", old.seq,
	    cp.seq);
	add_hashes(&b, h, n);
	rc = put_stdout(&b);
	evt_buf_free(&b);
	free(h);
	evt_tiles_free(t);
	evt_hasher_free(hs);
	evt_checkpoint_free(&old);
	evt_checkpoint_free(&cp);
	return rc;
}

static int
check_consistency(const char *path, const char *oldname, const char *cpname,
    const char *pub)
{
	struct proof *pf = calloc(1, sizeof(*pf));
	struct evt_checkpoint old, cp;
	struct evt_hasher *hs = evt_hasher_new();
	struct evt_err err;
	int rc;

	if (pf == NULL)
		abort();
	parse_proof(path, 0, pf);
	evt_checkpoint_init(&old);
	evt_checkpoint_init(&cp);
	read_cp(&old, oldname, pub);
	read_cp(&cp, cpname, pub);
	if (!pub)
		evt_warn("no --pubkey: the checkpoints' signatures are not "
		    "checked");
	same_origin(&old, oldname, &cp, cpname);
	if (pf->a != old.seq || pf->b != cp.seq)
		evt_die(1, "%s: the proof is from %lld to %lld events, the "
		    "checkpoints are at %lld and %lld", path, pf->a, pf->b,
		    old.seq, cp.seq);
	rc = evt_merkle_check_consistency(hs, old.seq, cp.seq, old.root,
	    cp.root, pf->h, pf->n, &err);
	if (rc != 0)
		fprintf(stderr, "%s: %s: %s\n", evt_prog, path, err.msg);
	else
		evt_note("%s extends %s", cpname, oldname);
	free(pf);
	evt_checkpoint_free(&old);
	evt_checkpoint_free(&cp);
	evt_hasher_free(hs);
	return rc ? 1 : 0;
}

/* --cosign KEY: the witness's signature on cpname, once cpname extends
 * the checkpoint in state (the last this witness signed). */
static int
cosign(const char *key, const char *keyname, const char *cpname,
    const char *state, const char *pub, const char *dir, const char *out)
{
	struct evt_checkpoint old, cp;
	struct evt_hasher *hs = evt_hasher_new();
	struct evt_tiles *t = NULL;
	struct evt_err err;
	unsigned char (*h)[EVT_HASH_LEN] = calloc(EVT_PROOF_MAX, EVT_HASH_LEN);
	int first = 0;

	if (h == NULL)
		abort();
	evt_checkpoint_init(&old);
	evt_checkpoint_init(&cp);
	if (access(key, R_OK) < 0)
		evt_die(errno == ENOENT ? EX_NOINPUT : EX_IOERR, "%s: %s", key,
		    strerror(errno));
	read_cp(&cp, cpname, pub);
	if (!pub)
		evt_warn("no --pubkey: cosigning a checkpoint whose log "
		    "signature is not checked");
	if (evt_checkpoint_read(&old, state, &err) < 0) {
		if (err.code != EX_NOINPUT)
			evt_die_err(&err);
		first = 1;
	}
	if (!first) {
		same_origin(&old, state, &cp, cpname);
		if (old.seq < cp.seq) {
			t = proof_tiles(dir, &cp, cpname, hs);
			consistency(hs, t, &old, state, &cp, cpname, h, &err);
		} else if (old.seq > cp.seq)
			evt_die(1, "%s (%lld events) is older than %s (%lld "
			    "events), which this witness signed: refused",
			    cpname, cp.seq, state, old.seq);
		else if (memcmp(old.root, cp.root, EVT_HASH_LEN) != 0)
			evt_die(1, "%s and %s are trees of %lld events with "
			    "different roots: the log forked; refused", cpname,
			    state, cp.seq);
	}
	if (evt_checkpoint_sign(&cp, key, keyname, &err) < 0 ||
	    evt_checkpoint_write(&cp, out ? out : cpname, &err) < 0 ||
	    evt_checkpoint_write(&cp, state, &err) < 0)
		evt_die_err(&err);
	if (first)
		evt_note("%s: no state: %s is the first checkpoint this witness "
		    "signs", state, cpname);
	else
		evt_note("%s (%lld events) extends %s (%lld events): cosigned",
		    cpname, cp.seq, state, old.seq);
	free(h);
	evt_tiles_free(t);
	evt_hasher_free(hs);
	evt_checkpoint_free(&old);
	evt_checkpoint_free(&cp);
	return 0;
}

/* A number for option opt, in full, from 1 on. */
static long long
seq_arg(const char *opt, const char *s)
{
	long long n = number(s, strlen(s));

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
	struct tree tr;
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
	if (vkey) {
		struct evt_buf b = EVT_BUF_INIT;
		const char *name = keyname ? keyname : origin;
		if (name == NULL) {
			const char *f = log_file(logspec);
			if (f == NULL)
				evt_usage_error(USAGE, "--vkey: name the key "
				    "(--key-name or --origin)");
			name = origin_buf = default_origin(f);
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
	tdir = tiles_dir(tiles_arg, logspec);
	if (prove_seq) {
		rc = prove(prove_seq, checkpoint, pub, tdir);
		free(tdir);
		return rc;
	}
	if (prove_cons) {
		rc = prove_consistency(prove_cons, checkpoint, pub, tdir);
		free(tdir);
		return rc;
	}
	if (cosign_key) {
		rc = cosign(cosign_key, keyname, checkpoint, wstate, pub, tdir,
		    NULL);
		free(tdir);
		return rc;
	}
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
	memset(&tr, 0, sizeof(tr));
	tr.hs = evt_hasher_new();
	evt_merkle_edge_init(&tr.edge);
	if (tdir)
		tr.tiles = evt_tiles_new(tdir);
	memset(&v, 0, sizeof(v));
	v.since = since ? &cp : NULL;
	v.full = full;
	v.on_leaf = on_leaf;
	v.leaf_arg = &tr;
	/*
	 * Against a tree checkpoint, tiles that hash to its root hold the
	 * tree up to it: only the events after it are read, and the tree
	 * grows from its right edge. Otherwise (no tiles, other tiles, a
	 * checkpoint of an earlier evt, --full) the tree is recomputed from
	 * seq 1, and its root at the checkpoint's size decides.
	 */
	if (since && cp.seq > 0 && !full && tr.tiles) {
		int h = tiles_hold(tr.tiles, &cp, tr.hs, &tr.edge, &err);
		if (h == 0 && evt_tiles_start(tr.tiles, cp.seq, &err) == 0) {
			incremental = 1;
			if (evt_tiles_chain_head(tr.tiles, cp.seq, upgraded_head))
				v.since_head = upgraded_head;
		} else
			evt_note("%s: %s: recomputing the tree from seq 1",
			    tdir, err.msg);
	}
	if (!incremental) {
		if (since && (has_cp_head = ext_chain_head(&cp, cp_head)))
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
		if (evt_write_atomic(metrics, m.p, m.len, 0644, &err) < 0)
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
			evt_buf_printf(&ext, EXT_HEAD "%lld ", v.seq);
			evt_b64_add(&ext, v.head, EVT_HASH_LEN);
			evt_buf_addc(&ext, '\n');
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
	evt_tiles_free(tr.tiles);
	evt_hasher_free(tr.hs);
	evt_checkpoint_free(&cp);
	evt_checkpoint_free(&mine);
	evt_log_close(log);
	return rc;
}
