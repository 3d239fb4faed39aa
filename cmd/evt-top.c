/*
 * evt-top - the store, live, in a terminal: event flow, sagas, sales
 * today, stock running low, the last critical audit findings (top.h).
 */
#include <errno.h>
#include <getopt.h>
#include <langinfo.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curses.h>

#include "cli.h"
#include "clock.h"
#include "event.h"
#include "follow.h"
#include "log.h"
#include "top.h"

#define USAGE "evt-top [-q] [-l LOG] [-n SECONDS] [--findings FILE] " \
	"[--low N] [--once] [--stuck-after DURATION]"

/* How often, at most, a wait for the log gives the keyboard a look. */
#define KEY_POLL_MS 100

static void help(void) __attribute__((noreturn));

static void
help(void)
{
	printf("usage: %s\n\n"
	    "Follow the log and show the store live: events per second by\n"
	    "type, sagas in flight and their outcomes, sales per store today,\n"
	    "stock running low, the last critical audit findings. q quits.\n\n"
	    "  -l, --log LOG            the log (default $EVT_LOG, else ./events.db)\n"
	    "  -n, --interval SECONDS   redraw every SECONDS (default 1)\n"
	    "      --once               print one frame as plain text and exit\n"
	    "      --findings FILE      audit-scan findings (NDJSON) to show\n"
	    "                           the last critical ones of\n"
	    "      --low N              stock is low below N available (default 5)\n"
	    "      --stuck-after DUR    a saga in flight longer is stuck\n"
	    "                           (default 15m)\n"
	    "  -q, --quiet              no warnings\n"
	    "  -h, --help               this help\n"
	    "      --version            the version\n\n"
	    "Without a terminal on standard output, or with --once, frames are\n"
	    "plain text. Exit: 0 ok, 64 usage, 65 bad event, 66 no such log,\n"
	    "74 I/O. See evt-top(1).\n", USAGE);
	exit(0);
}

struct run {
	struct evt_top *top;
	struct evt_event ev;
	struct evt_err err;
	long long bad;
};

static int
from_log(void *arg, long long seq, const char *line, size_t len)
{
	struct run *r = arg;
	struct evt_err e;

	/* A stored event the read models cannot use is said once and
	 * skipped: a view never stops on one. */
	if (evt_event_parse_stored(&r->ev, line, len, &e) < 0 ||
	    evt_top_event(r->top, &r->ev, &e) < 0) {
		if (r->bad++ < 10)
			evt_warn("seq %lld: %s", seq, e.msg);
	}
	return 0;
}

/* Print frame text without its marks (plain). */
static int
print_plain(const struct evt_buf *b, FILE *f)
{
	const char *p = b->p, *end = b->p + b->len;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		if (*p == '#' || *p == '!')
			p++;
		fwrite(p, 1, (size_t)(nl - p + 1), f);
		p = nl + 1;
	}
	return fflush(f) == 0 ? 0 : -1;
}

static void
draw(const struct evt_buf *b, int colour)
{
	const char *p = b->p, *end = b->p + b->len;
	int y = 0;

	erase();
	while (p < end && y < LINES) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		attr_t a = A_NORMAL;
		if (*p == '#') {
			a = A_BOLD | (colour ? COLOR_PAIR(1) : 0);
			p++;
		} else if (*p == '!') {
			a = colour ? COLOR_PAIR(2) : A_BOLD;
			p++;
		}
		attrset(a);
		mvaddnstr(y++, 0, p, (int)(nl - p));
		p = nl + 1;
	}
	attrset(A_NORMAL);
	refresh();
}

static int
env_int(const char *name, int dflt)
{
	const char *s = getenv(name);
	long v;
	char *e;

	if (s == NULL || *s == '\0')
		return dflt;
	v = strtol(s, &e, 10);
	return *e == '\0' && v > 0 && v < 10000 ? (int)v : dflt;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "findings", required_argument, NULL, 'F' },
		{ "help", no_argument, NULL, 'h' },
		{ "interval", required_argument, NULL, 'n' },
		{ "log", required_argument, NULL, 'l' },
		{ "low", required_argument, NULL, 'L' },
		{ "once", no_argument, NULL, 'O' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "stuck-after", required_argument, NULL, 'S' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	struct evt_top_opts o = { 15 * 60 * 1000LL, 5, 0, NULL, NULL };
	const char *logspec = NULL;
	int c, once = 0, rc = 0;
	long long interval_ms = 1000;
	struct run r;
	struct evt_log *log;
	struct evt_follow *fw = NULL;
	struct evt_read rd;
	struct evt_filter f;
	struct evt_buf frame = EVT_BUF_INIT;
	int64_t now;

	evt_cli_init("evt-top");
	setlocale(LC_ALL, "");
	while ((c = getopt_long(argc, argv, "hl:n:q", opts, NULL)) != -1) {
		switch (c) {
		case 'F': o.findings = optarg; break;
		case 'h': help();
		case 'l': logspec = evt_cli_log_arg(optarg); break;
		case 'L': o.low = evt_opt_count("--low", optarg, 0); break;
		case 'n':
			interval_ms = evt_opt_count("--interval", optarg, 1) * 1000;
			break;
		case 'O': once = 1; break;
		case 'q': evt_quiet = 1; break;
		case 'S':
			o.stuck_after_ms = evt_opt_duration("--stuck-after", optarg);
			break;
		case 'V': evt_print_version();
		default: evt_usage_error(USAGE, NULL);
		}
	}
	if (optind < argc)
		evt_usage_error(USAGE, "unexpected argument: %s", argv[optind]);
	o.utf8 = strcmp(nl_langinfo(CODESET), "UTF-8") == 0;
	memset(&r, 0, sizeof(r));
	if ((log = evt_log_open(logspec, 0, &r.err)) == NULL)
		evt_die_err(&r.err);
	o.title = evt_log_path(log);
	if ((r.top = evt_top_new(&o, &r.err)) == NULL)
		evt_die_err(&r.err);
	memset(&f, 0, sizeof(f));
	memset(&rd, 0, sizeof(rd));
	rd.filter = &f;
	int tty = !once && isatty(STDOUT_FILENO);
	if (!once && (fw = evt_follow_open(log, &r.err)) == NULL)
		goto fail;
	if (evt_log_read(log, &rd, from_log, &r, &r.err) < 0)
		goto fail;
	rd.after = rd.scanned;
	int colour = 0;
	if (tty) {
		initscr();
		cbreak();
		noecho();
		nodelay(stdscr, TRUE);
		keypad(stdscr, TRUE);
		curs_set(0);
		if (has_colors() && getenv("NO_COLOR") == NULL) {
			start_color();
			use_default_colors();
			init_pair(1, COLOR_CYAN, -1);
			init_pair(2, COLOR_RED, -1);
			colour = 1;
		}
	}
	int64_t next = 0;
	for (;;) {
		if (evt_clock_now(&now, &r.err) < 0)
			goto fail;
		if (once || now >= next) {
			/* The log is read when a frame is due, not at each
			 * commit: a writer committing 100 times a second woke
			 * a read of the log each time, most of evt-top's
			 * time, for frames drawn once a second. */
			if (!once && evt_log_read(log, &rd, from_log, &r,
			    &r.err) < 0)
				goto fail;
			rd.after = rd.scanned;
			int w = tty ? COLS : env_int("COLUMNS", 80);
			int h = tty ? LINES : env_int("LINES", 24);
			evt_top_render(r.top, now, w, h, &frame);
			if (tty)
				draw(&frame, colour);
			else if (print_plain(&frame, stdout) < 0 ||
			    (!once && (putchar('\n') == EOF || fflush(stdout))))
				break;	/* the reader went away */
			next = now + interval_ms;
		}
		if (once)
			break;
		int key, redraw = 0;
		while (tty && (key = getch()) != ERR) {
			if (key == 'q' || key == 'Q')
				goto out;
			redraw = 1;	/* a resize, or any other key */
		}
		if (redraw) {
			next = 0;
			continue;
		}
		int wr = evt_follow_wait(fw, tty ? KEY_POLL_MS :
		    (int)(next - now > 0 ? next - now : 1), &r.err);
		if (wr < 0)
			goto fail;
		if (wr == 0)
			break;	/* SIGINT or SIGTERM */
	}
	goto out;
fail:
	rc = -1;
out:
	if (tty)
		endwin();
	if (rc < 0) {
		fprintf(stderr, "%s: %s\n", evt_prog, r.err.msg);
		rc = r.err.code;
	} else if (!tty && fflush(stdout) != 0 && errno != EPIPE) {
		fprintf(stderr, "%s: stdout: %s\n", evt_prog, strerror(errno));
		rc = EX_IOERR;
	}
	evt_follow_close(fw);
	evt_top_free(r.top);
	evt_buf_free(&frame);
	evt_event_free(&r.ev);
	evt_log_close(log);
	return rc;
}
