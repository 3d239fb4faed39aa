/*
 * reject.c - the --reject file (see reject.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "file.h"
#include "reject.h"

struct evt_reject {
	FILE *f;
	char *path;
	long long n;
	struct evt_buf b;
};

struct evt_reject *
evt_reject_open(const char *path, struct evt_err *err)
{
	struct evt_reject *rj;
	int fd = evt_open_out(path, O_WRONLY | O_CREAT | O_TRUNC, 0600, err);
	FILE *f = fd < 0 ? NULL : fdopen(fd, "w");

	if (f == NULL) {
		if (fd >= 0) {
			evt_err_set(err, EX_CANTCREAT, "%s: %s", path,
			    strerror(errno));
			close(fd);
		}
		return NULL;
	}
	if ((rj = calloc(1, sizeof(*rj))) == NULL || (rj->path =
	    strdup(path)) == NULL)
		abort();
	rj->f = f;
	return rj;
}

int
evt_reject_line(struct evt_reject *rj, const char *where, long long lineno,
    const char *line, size_t len, const char *reason, struct evt_err *err)
{
	struct evt_buf *b = &rj->b;

	evt_buf_reset(b);
	evt_buf_adds(b, "{\"input\":");
	evt_buf_json_str(b, where, strlen(where));
	evt_buf_printf(b, ",\"line\":%lld,\"error\":", lineno);
	evt_buf_json_str(b, reason, strlen(reason));
	if (line) {
		evt_buf_adds(b, ",\"text\":");
		evt_buf_json_str(b, line, len);
	}
	evt_buf_adds(b, "}\n");
	if (fwrite(b->p, 1, b->len, rj->f) != b->len || fflush(rj->f) != 0)
		return evt_err_set(err, EX_IOERR, "%s: %s", rj->path,
		    strerror(errno));
	rj->n++;
	return 0;
}

long long
evt_reject_count(const struct evt_reject *rj)
{
	return rj ? rj->n : 0;
}

const char *
evt_reject_path(const struct evt_reject *rj)
{
	return rj->path;
}

int
evt_reject_close(struct evt_reject *rj, struct evt_err *err)
{
	int rc = 0;

	if (rj == NULL)
		return 0;
	if (fclose(rj->f) != 0)
		rc = evt_err_set(err, EX_IOERR, "%s: %s", rj->path,
		    strerror(errno));
	evt_buf_free(&rj->b);
	free(rj->path);
	free(rj);
	return rc;
}
