#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "err.h"
#include "pan.h"

int
evt_err_set(struct evt_err *err, int code, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return -1;
	err->code = code;
	err->taken = 0;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	/* A message may quote input: no card number in it whole. */
	evt_pan_mask_str(err->msg);
	return -1;
}

void
evt_err_prefix(struct evt_err *err, const char *fmt, ...)
{
	char pre[256], old[sizeof(err->msg)], both[sizeof(pre) + sizeof(old) + 2];
	va_list ap;

	if (err == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(pre, sizeof(pre), fmt, ap);
	va_end(ap);
	memcpy(old, err->msg, sizeof(old));
	snprintf(both, sizeof(both), "%s: %s", pre, old);
	memcpy(err->msg, both, sizeof(err->msg) - 1);
	err->msg[sizeof(err->msg) - 1] = '\0';
	evt_pan_mask_str(err->msg);
}
