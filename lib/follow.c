#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "follow.h"

struct evt_follow {
	struct evt_log *log;
	int notify;		/* the log notifies commits (PostgreSQL) */
	int ino, sig;
	const char *prefix;
	size_t plen;
	int stop;
	struct stat st;		/* the log's file when the watch began */
	int has_st;
};

/*
 * The log's file must still be the one this follower reads: deleted or
 * replaced (a copy restored over it, a new log made in its place), it
 * would wait for ever on a file no writer appends to any more. -1 with
 * err then.
 */
static int
same_file(struct evt_follow *f, struct evt_err *err)
{
	struct stat st;

	if (!f->has_st)
		return 0;
	if (stat(evt_log_path(f->log), &st) < 0 || st.st_dev != f->st.st_dev ||
	    st.st_ino != f->st.st_ino)
		return evt_err_set(err, EX_IOERR, "%s: %s under the follower: "
		    "start it again to read the log that is there now",
		    evt_log_path(f->log), errno == ENOENT ? "deleted" :
		    "replaced");
	return 0;
}

struct evt_follow *
evt_follow_open(struct evt_log *log, struct evt_err *err)
{
	struct evt_follow *f = calloc(1, sizeof(*f));
	sigset_t set;

	if (f == NULL)
		abort();
	f->log = log;
	f->ino = -1;
	f->prefix = evt_log_watch_prefix(log);
	f->plen = strlen(f->prefix);
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigprocmask(SIG_BLOCK, &set, NULL);
	f->sig = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if ((f->notify = evt_log_listen(log, err)) < 0) {
		evt_follow_close(f);
		return NULL;
	}
	if (!f->notify) {
		f->ino = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
		f->has_st = stat(evt_log_path(log), &f->st) == 0;
	}
	if (f->sig < 0 || (!f->notify && (f->ino < 0 ||
	    inotify_add_watch(f->ino, evt_log_watch_dir(log), IN_MODIFY |
	    IN_CLOSE_WRITE | IN_CREATE | IN_MOVED_TO) < 0))) {
		evt_err_set(err, EX_OSERR, "%s: watch: %s", evt_log_path(log),
		    strerror(errno));
		evt_follow_close(f);
		return NULL;
	}
	return f;
}

int
evt_follow_stopping(struct evt_follow *f)
{
	struct signalfd_siginfo si;

	if (read(f->sig, &si, sizeof(si)) == (ssize_t)sizeof(si))
		f->stop = 1;
	return f->stop;
}

/*
 * The timeout is a deadline for the whole wait, not for each poll: the
 * directory watched holds other files (other logs, their -wal and -shm,
 * whatever else is there), and events on them that are not the log's
 * would otherwise start the wait again each time. Callers count on the
 * timeout to read again: a wake-up on the log's last write to its WAL can
 * come before the commit is visible (the WAL index, in -shm, is updated
 * after it, through a mapping that inotify does not see), and nothing is
 * written to the log after that until the next append.
 */
int
evt_follow_wait(struct evt_follow *f, int timeout_ms, struct evt_err *err)
{
	struct pollfd p[3] = {
		{ f->ino, POLLIN, 0 }, { f->sig, POLLIN, 0 }, { 1, 0, 0 }
	};
	char buf[sizeof(struct inotify_event) + NAME_MAX + 1]
	    __attribute__((aligned(__alignof__(struct inotify_event))));
	long long end = timeout_ms < 0 ? -1 : evt_mono_ms() + timeout_ms;

	for (;;) {
		if (evt_follow_stopping(f))
			return 0;
		/* A log's connection may be new after a reconnect, or down
		 * (-1: then only the timeout wakes us, and the read that
		 * follows connects again). */
		if (f->notify) {
			/* Notifications that came in during the last read
			 * wait in the connection, not in the socket. */
			if (evt_log_notified(f->log))
				return 1;
			p[0].fd = evt_log_notify_fd(f->log);
		}
		int left = -1;
		if (end >= 0) {
			long long ms = end - evt_mono_ms();
			left = ms > 0 ? (int)ms : 0;
		}
		int n = poll(p, 3, left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return evt_err_set(err, EX_OSERR, "poll: %s",
			    strerror(errno));
		if (n == 0)
			return same_file(f, err) < 0 ? -1 : 1;
		if (p[1].revents)
			continue;	/* the signal is read at the top */
		if (p[2].revents & POLLNVAL) {
			p[2].fd = -1;	/* no stdout at all: nothing to watch */
			continue;
		}
		if (p[2].revents & (POLLERR | POLLHUP))
			return 0;	/* stdout's reader is gone */
		if (f->notify) {
			if (p[0].revents && evt_log_notified(f->log))
				return 1;
			continue;
		}
		int hit = 0;
		ssize_t len;
		while ((len = read(f->ino, buf, sizeof(buf))) > 0) {
			for (char *q = buf; q < buf + len;) {
				struct inotify_event *e = (struct inotify_event *)q;
				/* A full queue dropped events: the log's may be
				 * among them. */
				if ((e->mask & IN_Q_OVERFLOW) || (e->len &&
				    strncmp(e->name, f->prefix, f->plen) == 0))
					hit = 1;
				q += sizeof(*e) + e->len;
			}
		}
		if (hit || (end >= 0 && evt_mono_ms() >= end))
			return same_file(f, err) < 0 ? -1 : 1;
	}
}

void
evt_follow_close(struct evt_follow *f)
{
	if (f == NULL)
		return;
	if (f->ino >= 0)
		close(f->ino);
	if (f->sig >= 0)
		close(f->sig);
	free(f);
}
