/*
 * audit-scan - audit events: compliance tags, findings in each event and
 * across the stream, an exit status a cron job can act on.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit.h"
#include "buf.h"
#include "chain.h"
#include "cli.h"
#include "clock.h"
#include "decimal.h"
#include "file.h"
#include "input.h"
#include "lines.h"
#include "log.h"
#include "report.h"

#include <curl/curl.h>

#define USAGE "audit-scan [-qv] [-l LOG] [--alertmanager URL] " \
	"[--fail-on info|warning|critical] [--filtered] [--findings FILE] " \
	"[--metrics FILE] [-o text|json|csv] " \
	"[--pushgateway URL] [--refund-over AMOUNT] [--report] [--rules FILE] " \
	"[--show-state] [--since TIME] [--state FILE] " \
	"[--stuck-after DURATION] [--tag] [--until TIME] [FILE ...]"

static void help(void) __attribute__((noreturn));

static void
help(void)
{
	printf("usage: %s\n\n"
	    "Audit events (standard input, the FILEs, or the log with -l):\n"
	    "write one finding per line as JSON, or with --tag every event with\n"
	    "the extension attributes audittags (its compliance tags, joined by\n"
	    "commas) and auditseverity.\n\n"
	    "  -l, --log LOG            read the log\n"
	    "      --rules FILE         rules file: enable, disable, change\n"
	    "                           severities and thresholds\n"
	    "      --tag                pass the events through, tagged\n"
	    "      --filtered           the input is a filtered slice of the log\n"
	    "                           (evt-replay -t, -s, -c): no seq_gap,\n"
	    "                           version_gap or orphan_causation\n"
	    "      --report             a summary for people instead of findings\n"
	    "      --findings FILE      the findings to FILE (also with --report\n"
	    "                           or --tag), not to stdout\n"
	    "      --state FILE         keep the rules' memory in FILE (SQLite):\n"
	    "                           report every event no earlier run\n"
	    "                           reported (one before --since: late),\n"
	    "                           up to the first of --until or later\n"
	    "      --show-state         print the --state checkpoint as JSON\n"
	    "  -o, --output FORMAT      the report as text (default), json or csv\n"
	    "      --alertmanager URL   an alert per critical finding to\n"
	    "                           Alertmanager (POST /api/v2/alerts)\n"
	    "      --pushgateway URL    counts by type and finding to the\n"
	    "                           Pushgateway (job audit-scan)\n"
	    "      --metrics FILE       the same counts as a node_exporter\n"
	    "                           textfile, written atomically\n"
	    "      --since TIME         report on events at or after TIME\n"
	    "      --until TIME         ... and before TIME (judge stuck sagas then)\n"
	    "      --fail-on SEVERITY   exit 1 on a finding this severe or more\n"
	    "                           (default critical)\n"
	    "      --refund-over AMOUNT large_refund above AMOUNT (default 1000)\n"
	    "      --stuck-after DUR    saga_stuck after DUR without an outcome\n"
	    "                           (default 1h)\n"
	    "  -q, --quiet              no warnings\n"
	    "  -v, --verbose            a summary on stderr\n"
	    "  -h, --help               this help\n"
	    "      --version            the version\n\n"
	    "Exit: 0 ok, 1 findings at --fail-on, 64 usage, 65 bad input,\n"
	    "66 no such input, 69 an endpoint unreachable (after the scan),\n"
	    "74 I/O, 75 the --state file in use. See audit-scan(1).\n", USAGE);
	exit(0);
}

/* A --state run writes what it has folded to the state's open
 * transaction every so many events, to bound its memory. */
#define STATE_BATCH 65536

struct run {
	struct evt_audit *a;
	FILE *findings_fp;	/* --findings, else NULL */
	int state;		/* --state: skip up to after, stop at until */
	long long after, batch;
	int64_t late_before;	/* --state: an event before this is late */
	int has_late_before;
	char late[EVT_TIME_LEN + 1];	/* the event in hand's day, if late */
	int64_t now;
	struct evt_event ev;
	struct evt_buf out;
	struct evt_tally tally;
	int tag, report, worst, failon;
	int64_t since, until;
	int has_since, has_until;
	long long events, findings[EVT_SEV_N];
	struct evt_err err;
	const char *where;
	char *logname;		/* the log as it may be printed: a
				 * PostgreSQL URL without its password */
	long long badline;
	const struct evt_audit_opts *o;
	struct evt_verify chain;	/* the log's hash chain, when checked */
	int chain_checked;
};

static void
put_tags(struct evt_buf *b, int tags)
{
	int n = 0;

	evt_buf_addc(b, '[');
	for (int i = 0; i < EVT_TAG_N; i++)
		if (tags & (1 << i)) {
			if (n++)
				evt_buf_addc(b, ',');
			evt_buf_json_str(b, evt_tag_name(i), strlen(evt_tag_name(i)));
		}
	evt_buf_addc(b, ']');
}

static int
put_finding(void *arg, const struct evt_finding *f)
{
	struct run *r = arg;
	struct evt_buf *b = &r->out;
	struct evt_finding lf;

	if (*r->late) {
		lf = *f;
		lf.late = r->late;
		f = &lf;
	}
	r->findings[f->severity]++;
	if (f->severity > r->worst)
		r->worst = f->severity;
	evt_tally_finding(&r->tally, f);
	if ((r->tag || r->report) && r->findings_fp == NULL)
		return 0;	/* shown in the events' tags, or the report */
	evt_buf_reset(b);
	evt_buf_adds(b, "{\"finding\":\"");
	evt_buf_adds(b, evt_finding_name(f->finding));
	evt_buf_adds(b, "\",\"severity\":\"");
	evt_buf_adds(b, evt_severity_name(f->severity));
	evt_buf_adds(b, "\",\"tags\":");
	put_tags(b, f->tags);
	if (f->seq)
		evt_buf_printf(b, ",\"seq\":%lld", f->seq);
	else
		evt_buf_adds(b, ",\"seq\":null");
	evt_buf_adds(b, ",\"id\":");
	if (*f->id)
		evt_buf_json_str(b, f->id, strlen(f->id));
	else
		evt_buf_adds(b, "null");
	evt_buf_adds(b, ",\"subject\":");
	evt_buf_json_str(b, f->subject, strlen(f->subject));
	evt_buf_adds(b, ",\"detail\":");
	evt_buf_json_str(b, f->detail, strlen(f->detail));
	if (f->late)
		evt_buf_printf(b, ",\"late\":\"%s\"", f->late);
	evt_buf_addc(b, '}');
	if (r->findings_fp) {
		evt_buf_addc(b, '\n');
		return fwrite(b->p, 1, b->len, r->findings_fp) == b->len ? 0 : -1;
	}
	return evt_out_line(b->p, b->len);
}

/* Is member m of ev named name (compared decoded)? */
static int
named(const struct evt_event *ev, const struct evt_jmember *m,
    const char *name)
{
	size_t n = strlen(name);
	int eq;

	if (!m->kesc)
		return m->klen == n && memcmp(ev->j.base + m->koff, name, n) == 0;
	struct evt_buf k = EVT_BUF_INIT;
	evt_json_str_decode(ev->j.base + m->koff - 1, m->klen + 2, &k);
	eq = k.len == n && memcmp(k.p, name, n) == 0;
	evt_buf_free(&k);
	return eq;
}

/*
 * The event with the CloudEvents extension attributes audittags (the tags
 * joined by commas) and auditseverity last, in place of any it had, and of
 * the "audit" object that audit-scan 0.1 wrote (an object is no CloudEvents
 * attribute value).
 */
static int
put_tagged(struct run *r, int tags, int sev)
{
	const struct evt_event *ev = &r->ev;
	struct evt_buf *b = &r->out;
	int n = 0;

	evt_buf_reset(b);
	evt_buf_addc(b, '{');
	for (size_t i = 0; i < ev->j.n; i++) {
		const struct evt_jmember *m = &ev->j.m[i];
		if (named(ev, m, "audittags") || named(ev, m, "auditseverity") ||
		    (m->type == EVT_J_OBJECT && named(ev, m, "audit")))
			continue;
		if (n++)
			evt_buf_addc(b, ',');
		evt_buf_add(b, ev->j.base + m->koff - 1,
		    m->voff + m->vlen - (m->koff - 1));
	}
	evt_buf_adds(b, n ? ",\"audittags\":\"" : "\"audittags\":\"");
	n = 0;
	for (int i = 0; i < EVT_TAG_N; i++)
		if (tags & (1 << i)) {
			if (n++)
				evt_buf_addc(b, ',');
			evt_buf_adds(b, evt_tag_name(i));	/* no escapes */
		}
	evt_buf_adds(b, "\",\"auditseverity\":\"");
	evt_buf_adds(b, evt_severity_name(sev));
	evt_buf_adds(b, "\"}");
	return evt_out_line(b->p, b->len);
}

/* Audit the event in hand. Returns 0, 1 to stop reading (with --state,
 * the period's end), or -1 with r->err. */
static int
take(struct run *r)
{
	const struct evt_event *ev = &r->ev;
	int in = 1, when = EVT_AUDIT_IN, tags, sev;
	int has_time = ev->slot[EVT_F_TIME] >= 0;
	struct evt_err e;

	*r->late = '\0';
	if (r->state) {
		if (ev->slot[EVT_F_SEQ] < 0)
			return evt_err_set(&r->err, EX_DATAERR, "no \"seq\": "
			    "--state needs stored events (from the log, or "
			    "evt-replay)");
		if (ev->seq <= r->after)
			return 0;	/* folded by an earlier run */
		/* The period ends, and the state with it, just before the
		 * first event of a later period: the next run reads on from
		 * there. Every event before it is reported here, whatever
		 * its time: one of an earlier period (a till that was
		 * offline, a clock that was wrong) is late, and said so.
		 * An event from the future is a finding, not where a period
		 * ends: it would hold the state back for years. */
		if (r->has_until && has_time && ev->time_ms >= r->until &&
		    ev->time_ms <= r->now + EVT_AUDIT_FUTURE_MS)
			return 1;
		if (has_time && r->has_late_before &&
		    ev->time_ms < r->late_before) {
			evt_time_format(ev->time_ms, r->late);
			r->late[10] = '\0';
		}
	} else if (r->has_since || r->has_until) {
		in = has_time && (!r->has_since || ev->time_ms >= r->since) &&
		    (!r->has_until || ev->time_ms < r->until);
		when = in ? EVT_AUDIT_IN : r->has_until && has_time &&
		    ev->time_ms >= r->until ? EVT_AUDIT_AFTER : EVT_AUDIT_BEFORE;
	}
	if (evt_audit_event(r->a, ev, when, put_finding, r, &tags, &sev,
	    &e) < 0) {
		if (e.code) {
			r->err = e;
			return -1;
		}
		return evt_err_set(&r->err, EX_IOERR, "%s: %s", r->findings_fp ?
		    "findings" : "stdout", strerror(errno));
	}
	if (in && r->tag && put_tagged(r, tags, sev) < 0)
		return evt_err_set(&r->err, EX_IOERR, "stdout: %s",
		    strerror(errno));
	if (in)
		evt_tally_event(&r->tally, ev->type.p, ev->type.n, tags);
	if (*r->late)
		evt_tally_late(&r->tally, ev->time_ms);
	r->events += in;
	/* A long run (a first one over a big log) keeps its memory bounded:
	 * what it folded goes to the state's open transaction, committed
	 * only with the rest, once the findings and report are out. */
	if (r->state && ++r->batch >= STATE_BATCH) {
		r->batch = 0;
		if (evt_audit_state_spill(r->a, &r->err) < 0)
			return -1;
	}
	return 0;
}

static int
from_log(void *arg, long long seq, const char *line, size_t len)
{
	struct run *r = arg;

	if (evt_event_parse_stored(&r->ev, line, len, &r->err) < 0) {
		evt_err_prefix(&r->err, "seq %lld", seq);
		return -1;
	}
	return take(r);
}

static int
read_log(struct run *r, const char *spec)
{
	struct evt_filter f;
	struct evt_read rd;
	struct evt_log *log;
	int rc;

	memset(&f, 0, sizeof(f));
	memset(&rd, 0, sizeof(rd));
	rd.filter = &f;
	rd.after = r->after;
	if ((log = evt_log_open(spec, 0, &r->err)) == NULL)
		return -1;
	r->logname = evt_strdup(evt_log_path(log));
	r->where = r->logname;
	rc = evt_log_read(log, &rd, from_log, r, &r->err);
	/* The log's hash chain, in full (evt-verify without a checkpoint). A
	 * log made by an earlier evt, not chained yet, is no finding: the
	 * metrics say so (evt_chain_ok 0). An incremental run (--state)
	 * leaves it to evt-verify --since, as scripts/audit-daily does: a
	 * full walk would cost what --state saves. */
	if (rc == 0 && !r->state && r->o->rule[EVT_F_CHAIN].enabled) {
		const struct evt_rule *ru = &r->o->rule[EVT_F_CHAIN];
		rc = evt_chain_verify(log, &r->chain, &r->err);
		if (rc >= 0)
			r->chain_checked = 1;
		if (rc == 1 && r->chain.fault != EVT_CHAIN_UNCHAINED) {
			struct evt_finding cf = { EVT_F_CHAIN, ru->severity,
			    ru->tags, r->chain.bad_seq, "", "", r->chain.detail, NULL };
			rc = put_finding(r, &cf) < 0 ? evt_err_set(&r->err,
			    EX_IOERR, "stdout: %s", strerror(errno)) : 0;
		} else if (rc == 1)
			rc = 0;
	}
	evt_log_close(log);
	return rc;
}

static int
take_line(void *arg, struct evt_event *ev, const char *line, size_t len,
    long long lineno, struct evt_err *err)
{
	(void)ev; (void)line; (void)len; (void)lineno; (void)err;
	/* > 0: the period's end */
	return take(arg);
}

static int
read_fd(struct run *r, int fd, const char *where)
{
	struct evt_input in = { where, 1, NULL, take_line, NULL, r, 0 };
	int rc;

	r->where = where;
	rc = evt_input_read(&in, fd, &r->ev, &r->err);
	if (rc < 0)
		r->badline = in.lineno;
	return rc;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "alertmanager", required_argument, NULL, 'A' },
		{ "fail-on", required_argument, NULL, 'F' },
		{ "filtered", no_argument, NULL, 'f' },
		{ "findings", required_argument, NULL, 'N' },
		{ "metrics", required_argument, NULL, 'M' },
		{ "output", required_argument, NULL, 'o' },
		{ "pushgateway", required_argument, NULL, 'P' },
		{ "report", no_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ "log", required_argument, NULL, 'l' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "refund-over", required_argument, NULL, 'R' },
		{ "rules", required_argument, NULL, 'r' },
		{ "show-state", no_argument, NULL, 'W' },
		{ "since", required_argument, NULL, 'S' },
		{ "state", required_argument, NULL, 'T' },
		{ "stuck-after", required_argument, NULL, 'K' },
		{ "tag", no_argument, NULL, 't' },
		{ "until", required_argument, NULL, 'U' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	struct evt_audit_opts o;
	const char *logspec = NULL, *rules = NULL, *refund = NULL;
	const char *am = NULL, *pg = NULL, *metrics = NULL;
	const char *statefile = NULL, *findings = NULL;
	int fmt = EVT_REPORT_TEXT, has_fmt = 0, filtered = 0, show = 0;
	int64_t stuck = 0, now;
	struct run r;
	int c, rc = 0, *fds = NULL;

	memset(&r, 0, sizeof(r));
	r.failon = EVT_SEV_CRITICAL;
	evt_cli_init("audit-scan");
	while ((c = getopt_long(argc, argv, "hl:o:qv", opts, NULL)) != -1) {
		switch (c) {
		case 'A': am = optarg; break;
		case 'f': filtered = 1; break;
		case 'N': findings = optarg; break;
		case 'T': statefile = optarg; break;
		case 'M': metrics = optarg; break;
		case 'o':
			has_fmt = 1;
			if (strcmp(optarg, "text") == 0)
				fmt = EVT_REPORT_TEXT;
			else if (strcmp(optarg, "json") == 0)
				fmt = EVT_REPORT_JSON;
			else if (strcmp(optarg, "csv") == 0)
				fmt = EVT_REPORT_CSV;
			else
				evt_usage_error(USAGE, "-o: not a report format: %s "
				    "(text, json, csv)", optarg);
			break;
		case 'p': r.report = 1; break;
		case 'P': pg = optarg; break;
		case 'F':
			if ((r.failon = evt_severity_parse(optarg)) < 0)
				evt_usage_error(USAGE, "--fail-on: not a severity: %s "
				    "(info, warning, critical)", optarg);
			break;
		case 'h': help();
		case 'K': stuck = evt_opt_duration("--stuck-after", optarg); break;
		case 'l': logspec = evt_cli_log_arg(optarg); break;
		case 'q': evt_quiet = 1; break;
		case 'r': rules = optarg; break;
		case 'W': show = 1; break;
		case 'R': refund = optarg; break;
		case 'S':
			r.since = evt_opt_time_ceil("--since", optarg);
			r.has_since = 1;
			break;
		case 't': r.tag = 1; break;
		case 'U':
			r.until = evt_opt_time_ceil("--until", optarg);
			r.has_until = 1;
			break;
		case 'v': evt_verbose = 1; break;
		case 'V': evt_print_version();
		default: evt_usage_error(USAGE, NULL);
		}
	}
	if (logspec && optind < argc)
		evt_usage_error(USAGE, "-l and input files cannot go together");
	if (has_fmt && !r.report)
		evt_usage_error(USAGE, "-o chooses the format of --report");
	if (r.report && r.tag)
		evt_usage_error(USAGE, "--report and --tag cannot go together");
	if (show && (!statefile || optind < argc || logspec))
		evt_usage_error(USAGE, "--show-state takes --state FILE and no "
		    "input");
	evt_audit_defaults(&o);
	if (rules && evt_audit_rules(&o, rules, &r.err) < 0) {
		evt_audit_opts_free(&o);
		evt_die_err(&r.err);
	}
	/* Options after the rules file: the command line has the last word. */
	if (refund) {
		int pr = evt_dec_parse(refund, strlen(refund), &o.refund_over);
		if (pr != EVT_DEC_OK || evt_dec_sign(o.refund_over) < 0) {
			evt_audit_opts_free(&o);
			evt_usage_error(USAGE, "--refund-over: not an amount (a "
			    "number, 0 or more%s): %s", pr == EVT_DEC_RANGE ?
			    ", of at most 38 digits" : "", refund);
		}
	}
	if (filtered)
		o.filtered = 1;
	if (stuck)
		o.stuck_after_ms = stuck;
	if (evt_clock_now(&now, &r.err) < 0)
		evt_die_err(&r.err);
	r.now = now;
	o.now_ms = now;
	int nin = argc - optind;
	if (!logspec)
		fds = evt_open_inputs(argv + optind, nin);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	r.a = evt_audit_new(&o);
	r.o = &o;
	if (statefile) {
		int64_t prev;
		int has_prev;
		r.state = 1;
		if (evt_audit_state_open(r.a, statefile, &r.after, &prev,
		    &has_prev, &r.err) < 0)
			rc = -1;
		/* Late: before this period, or else before the end of the
		 * last period committed. */
		r.has_late_before = r.has_since || has_prev;
		r.late_before = r.has_since ? r.since : prev;
		if (rc == 0 && r.has_until)
			evt_audit_state_until(r.a, r.until);
	}
	if (rc == 0 && show) {
		struct evt_buf b = EVT_BUF_INIT;
		evt_audit_state_json(r.a, &b);
		if (evt_out_line(b.p, b.len) < 0)
			rc = evt_err_set(&r.err, EX_IOERR, "stdout: %s",
			    strerror(errno));
		evt_buf_free(&b);
		curl_global_cleanup();
		evt_audit_free(r.a);
		evt_audit_opts_free(&o);
		free(fds);
		if (rc < 0)
			evt_die_err(&r.err);
		return fclose(stdout) == 0 ? 0 : EX_IOERR;
	}
	/* Findings carry what the report does: private, 0600, even in a
	 * file that was there with another mode. */
	if (rc == 0 && findings) {
		int fd = evt_open_out(findings, O_WRONLY | O_CREAT | O_TRUNC,
		    0600, &r.err);
		struct stat st;
		if (fd < 0)
			rc = -1;
		else if (fstat(fd, &st) < 0 || (S_ISREG(st.st_mode) &&
		    fchmod(fd, 0600) < 0) ||
		    (r.findings_fp = fdopen(fd, "w")) == NULL)
			rc = evt_err_set(&r.err, EX_CANTCREAT, "%s: %s", findings,
			    strerror(errno));
	}
	if (rc < 0)
		;
	else if (logspec)
		rc = read_log(&r, logspec);
	else
		for (int i = 0; i < (nin ? nin : 1) && rc == 0; i++) {
			rc = read_fd(&r, fds[i], nin ? argv[optind + i] : "stdin");
			if (fds[i] > 0)
				close(fds[i]);
		}
	/* Sagas are judged stuck at the end of the period, else now. */
	struct evt_err e;
	if (rc == 0 && !r.tag && evt_audit_end(r.a, r.has_until ? r.until : now,
	    put_finding, &r, &e) < 0)
		rc = e.code ? (r.err = e, -1) : evt_err_set(&r.err, EX_IOERR,
		    "%s: %s", r.findings_fp ? findings : "stdout",
		    strerror(errno));
	if (rc == 0 && r.report && evt_report_write(&r.tally, fmt, logspec ?
	    r.logname : nin ? argv[optind] : "stdin", r.has_since, r.since,
	    r.has_until, r.until, stdout) < 0)
		rc = evt_err_set(&r.err, EX_IOERR, "stdout: %s", strerror(errno));
	/* The state moves on only once the period's findings and report
	 * are out: a run that fails before leaves the period to a re-run. */
	if (rc == 0 && r.findings_fp && (fflush(r.findings_fp) != 0 ||
	    (fsync(fileno(r.findings_fp)) != 0 && errno != EINVAL &&
	    errno != EROFS && errno != ENOTSUP)))
		rc = evt_err_set(&r.err, EX_IOERR, "%s: %s", findings,
		    strerror(errno));
	/* The report too is durable before the state moves, when it goes
	 * to a file (a pipe or a terminal cannot be synced). */
	if (rc == 0 && statefile && (fflush(stdout) != 0 ||
	    (fsync(STDOUT_FILENO) != 0 && errno != EINVAL && errno != EROFS &&
	    errno != ENOTSUP) || evt_audit_state_commit(r.a, &r.err) < 0))
		rc = r.err.code ? -1 : evt_err_set(&r.err, EX_IOERR, "stdout: %s",
		    strerror(errno));
	/* The scan is done and written; now tell monitoring. A service that
	 * cannot be reached is 69, after the others have been tried. */
	int svc = 0;
	if (rc == 0 && (metrics || pg)) {
		struct evt_buf m = EVT_BUF_INIT;
		evt_metrics_text(&r.tally, &o, now, &m);
		if (r.chain_checked)
			evt_chain_metrics(&r.chain, "audit-scan", now, &m);
		if (metrics && evt_write_atomic(metrics, m.p, m.len, 0644, 0,
		    &r.err) < 0)
			rc = -1;
		if (rc == 0 && pg && evt_metrics_push(pg, m.p, m.len, &r.err) < 0) {
			fprintf(stderr, "%s: %s\n", evt_prog, r.err.msg);
			svc = 1;
		}
		evt_buf_free(&m);
	}
	if (rc == 0 && am && evt_alerts_send(&r.tally, am, now, &r.err) < 0) {
		fprintf(stderr, "%s: %s\n", evt_prog, r.err.msg);
		svc = 1;
	}
	curl_global_cleanup();
	if (r.findings_fp && fclose(r.findings_fp) != 0 && rc == 0)
		rc = evt_err_set(&r.err, EX_IOERR, "%s: %s", findings,
		    strerror(errno));
	free(fds);
	evt_event_free(&r.ev);
	evt_buf_free(&r.out);
	evt_tally_free(&r.tally);
	evt_audit_free(r.a);
	evt_audit_opts_free(&o);
	if (rc < 0) {
		int closed = r.err.code == EX_IOERR && errno == EPIPE;
		if (r.badline)
			fprintf(stderr, "%s: %s:%lld: %s\n", evt_prog, r.where,
			    r.badline, r.err.msg);
		else if (!closed)
			fprintf(stderr, "%s: %s\n", evt_prog, r.err.msg);
		free(r.logname);
		fclose(stdout);
		return r.err.code;
	}
	free(r.logname);
	evt_note("%lld events, %lld critical, %lld warning, %lld info findings",
	    r.events, r.findings[EVT_SEV_CRITICAL], r.findings[EVT_SEV_WARNING],
	    r.findings[EVT_SEV_INFO]);
	if (fclose(stdout) != 0) {
		if (errno != EPIPE)
			fprintf(stderr, "%s: stdout: %s\n", evt_prog, strerror(errno));
		return EX_IOERR;
	}
	if (svc)
		return EX_UNAVAILABLE;
	int any = r.findings[EVT_SEV_INFO] + r.findings[EVT_SEV_WARNING] +
	    r.findings[EVT_SEV_CRITICAL] > 0;
	return any && r.worst >= r.failon ? 1 : 0;
}
