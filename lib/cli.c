#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "cli.h"
#include "clock.h"
#include "log.h"
#include "pan.h"

const char *evt_prog = "evt";
int evt_quiet, evt_verbose;

static char outbuf[1 << 16];

/* A server's notice (evt_log_on_notice): shown under -v, never raw. */
static void
cli_notice(const char *where, const char *what)
{
	if (evt_verbose && !evt_quiet)
		fprintf(stderr, "%s: %s: %s\n", evt_prog, where, what);
}

void
evt_cli_init(const char *prog)
{
	evt_prog = prog;
	evt_log_on_notice(cli_notice);
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, outbuf, _IOFBF, sizeof(outbuf));
}

/* A diagnostic, with no card number whole in it: it may quote input. */
static void
vsay(const char *fmt, va_list ap)
{
	char *msg = NULL;

	if (vasprintf(&msg, fmt, ap) < 0) {
		fprintf(stderr, "%s: out of memory\n", evt_prog);
		return;
	}
	evt_pan_mask_str(msg);
	fprintf(stderr, "%s: %s\n", evt_prog, msg);
	free(msg);
}

void
evt_die(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsay(fmt, ap);
	va_end(ap);
	exit(code);
}

void
evt_die_err(const struct evt_err *err)
{
	evt_die(err->code ? err->code : EX_SOFTWARE, "%s", err->msg);
}

void
evt_warn(const char *fmt, ...)
{
	va_list ap;

	if (evt_quiet)
		return;
	va_start(ap, fmt);
	vsay(fmt, ap);
	va_end(ap);
}

void
evt_note(const char *fmt, ...)
{
	va_list ap;

	if (evt_quiet || !(evt_verbose || isatty(2)))
		return;
	va_start(ap, fmt);
	vsay(fmt, ap);
	va_end(ap);
}

void
evt_usage_error(const char *usage, const char *fmt, ...)
{
	va_list ap;

	/* With no message, getopt_long(3) has already said what is wrong. */
	if (fmt != NULL) {
		va_start(ap, fmt);
		vsay(fmt, ap);
		va_end(ap);
	}
	fprintf(stderr, "usage: %s\n", usage);
	exit(EX_USAGE);
}

void
evt_print_version(void)
{
	printf("%s (evt) %s\n", evt_prog, EVT_VERSION);
	exit(fflush(stdout) == 0 ? 0 : EX_IOERR);
}

long long
evt_opt_count(const char *opt, const char *arg, long long min)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(arg, &end, 10);
	if (errno || end == arg || *end != '\0' || v < min)
		evt_die(EX_USAGE, "%s: not an integer >= %lld: %s", opt, min, arg);
	return v;
}

int64_t
evt_opt_time(const char *opt, const char *arg)
{
	int64_t ms;

	if (evt_time_parse(arg, strlen(arg), &ms) < 0)
		evt_die(EX_USAGE, "%s: not an RFC 3339 time: %s", opt, arg);
	return ms;
}

int64_t
evt_opt_time_ceil(const char *opt, const char *arg)
{
	int64_t ms;
	int rc = evt_time_parse_ceil(arg, strlen(arg), &ms);

	if (rc == -2)
		evt_die(EX_USAGE, "%s: outside the years 0000-9999 in UTC: %s",
		    opt, arg);
	if (rc < 0)
		evt_die(EX_USAGE, "%s: not an RFC 3339 time: %s", opt, arg);
	return ms;
}

int64_t
evt_opt_duration(const char *opt, const char *arg)
{
	int64_t ms;

	if (evt_duration_parse(arg, &ms) < 0)
		evt_die(EX_USAGE, "%s: not a duration (like 500ms, 30s, 15m, 2h, "
		    "1d): %s", opt, arg);
	return ms;
}

int *
evt_open_inputs(char **names, int n)
{
	int *fds = calloc((size_t)n + 1, sizeof(int));

	if (fds == NULL)
		abort();
	for (int i = 0; i < n; i++) {
		if (strcmp(names[i], "-") == 0)
			fds[i] = 0;
		else if ((fds[i] = open(names[i], O_RDONLY | O_CLOEXEC)) < 0)
			evt_die(errno == ENOENT ? EX_NOINPUT : EX_IOERR, "%s: %s",
			    names[i], strerror(errno));
	}
	return fds;
}

int
evt_out_line(const char *s, size_t n)
{
	if (fwrite_unlocked(s, 1, n, stdout) != n ||
	    fputc_unlocked('\n', stdout) == EOF)
		return -1;
	return 0;
}

int
evt_out_flush(struct evt_err *err, int *closed)
{
	*closed = 0;
	if (fflush(stdout) == 0 && !ferror(stdout))
		return 0;
	*closed = errno == EPIPE;
	return evt_err_set(err, EX_IOERR, "stdout: %s",
	    errno ? strerror(errno) : "write error");
}

/* The copies evt_cli_log_arg made, kept for the life of the program. */
static char *log_args[4];

const char *
evt_cli_log_arg(char *arg)
{
	char *copy = evt_strdup(arg);

	for (size_t i = 0; i < sizeof(log_args) / sizeof(log_args[0]); i++)
		if (log_args[i] == NULL) {
			log_args[i] = copy;
			break;
		}
	evt_log_hide_password(arg);
	return copy;
}
