/*
 * cli.h - what every main() in cmd/ shares: the program name, messages in
 * the form `prog: where: what`, option values parsed in full, stdout as a
 * checked data channel.
 *
 * This is the one module of lib/ that prints and exits, and only cmd/ may
 * use it: it is main's side of the line that STYLE.md draws.
 */
#ifndef EVT_CLI_H
#define EVT_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "err.h"

#ifndef EVT_VERSION
#define EVT_VERSION "0.1.0"
#endif

extern const char *evt_prog;
extern int evt_quiet, evt_verbose;

/* Set the program name and make stdout a large, fully buffered, checked
 * channel (SIGPIPE ignored: a closed stdout is a write error we see);
 * a log server's notices and warnings become `prog: log: severity: what`
 * on stderr under -v, and are dropped otherwise (evt_log_on_notice). */
void evt_cli_init(const char *prog);

/* Print `prog: msg` to stderr and exit with code. */
void evt_die(int code, const char *fmt, ...)
	__attribute__((format(printf, 2, 3), noreturn));
/* Print err as `prog: msg` and exit with its code. */
void evt_die_err(const struct evt_err *err) __attribute__((noreturn));
/* A warning (silenced by -q). */
void evt_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A note for people: printed when -v or stderr is a terminal. */
void evt_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Exit 64 with a usage error that names the option and the usage line. */
void evt_usage_error(const char *usage, const char *fmt, ...)
	__attribute__((format(printf, 2, 3), noreturn));
/* Print the version line and exit 0. */
void evt_print_version(void) __attribute__((noreturn));

/* Option values, parsed in full; a bad one exits 64 naming the option. */
long long evt_opt_count(const char *opt, const char *arg, long long min);
int64_t evt_opt_time(const char *opt, const char *arg);
/* A time bound: digits past the millisecond round up (evt_time_parse_ceil). */
int64_t evt_opt_time_ceil(const char *opt, const char *arg);
int64_t evt_opt_duration(const char *opt, const char *arg);

/*
 * Open the n named inputs ("-" is standard input) before any work is done,
 * so a missing one exits 66 with nothing written. Returns a new array of n
 * file descriptors (one slot, 0, when n is 0); free it.
 */
int *evt_open_inputs(char **names, int n);

/*
 * The value of -l LOG, taken from argv: returns a copy for the program
 * (kept until it exits), and overwrites arg, argv's own bytes, when it is
 * a PostgreSQL URL that holds a password, as curl does, so that ps(1)
 * does not show the password while the program runs (evt_log_hide_password).
 */
const char *evt_cli_log_arg(char *arg);

/* Write one line (and a newline) to stdout. Returns 0 or -1 (see
 * evt_out_flush for why). */
int evt_out_line(const char *s, size_t n);
/*
 * Flush stdout. Returns 0, or -1 with err: EX_IOERR, with *closed set when
 * the reader went away (EPIPE), so a caller can stop quietly.
 */
int evt_out_flush(struct evt_err *err, int *closed);

#endif
