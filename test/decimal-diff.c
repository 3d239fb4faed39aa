/*
 * decimal-diff - lib/decimal.c driven line by line, for the differential
 * test against Python's decimal module (test/decimal.bats).
 *
 * Each input line is "OP A [B]"; the output line is the result:
 *	parse A     A printed back (min scale 0), or "syntax" or "range"
 *	add A B     A + B, or "range"
 *	cmp A B     -1, 0 or 1
 *	fmt2 A      A printed with at least 2 decimals
 */
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "decimal.h"

static const char *
status(int rc)
{
	return rc == EVT_DEC_SYNTAX ? "syntax" : "range";
}

int
main(void)
{
	char line[1024];
	struct evt_buf b = EVT_BUF_INIT;

	while (fgets(line, sizeof(line), stdin)) {
		char op[8], x[512], y[512];
		struct evt_dec a, c, r;
		int n = sscanf(line, "%7s %511s %511s", op, x, y), rc;

		evt_buf_reset(&b);
		if (n >= 2 && (rc = evt_dec_parse(x, strlen(x), &a)) != EVT_DEC_OK)
			evt_buf_adds(&b, status(rc));
		else if (n == 3 && (rc = evt_dec_parse(y, strlen(y), &c)) !=
		    EVT_DEC_OK)
			evt_buf_adds(&b, status(rc));
		else if (strcmp(op, "parse") == 0)
			evt_dec_format(&b, a, 0);
		else if (strcmp(op, "fmt2") == 0)
			evt_dec_format(&b, a, 2);
		else if (strcmp(op, "cmp") == 0 && n == 3)
			evt_buf_printf(&b, "%d", evt_dec_cmp(a, c));
		else if (strcmp(op, "add") == 0 && n == 3) {
			if (evt_dec_add(&r, a, c) != EVT_DEC_OK)
				evt_buf_adds(&b, "range");
			else
				evt_dec_format(&b, r, 0);
		} else
			evt_buf_adds(&b, "usage");
		printf("%.*s\n", (int)b.len, b.p ? b.p : "");
	}
	evt_buf_free(&b);
	return 0;
}
