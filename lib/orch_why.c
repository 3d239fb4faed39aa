/*
 * orch_why.c - why an orchestrated saga failed: the reason of its
 * SagaFailed (saga-orch(5)), written from a code by the orchestrator
 * (orch.c) and read back into that code by the participants (saga.c),
 * both from the one table of forms below.
 */
#include <string.h>

#include "buf.h"
#include "orch.h"

/* Each code's text: pre, the step's name, post; post NULL: pre alone. */
static const struct {
	const char *pre, *post;
} form[] = {
	[EVT_ORCH_WHY_NONE] = { "", NULL },
	[EVT_ORCH_WHY_STEP_FAILED] = { "step ", " failed" },
	[EVT_ORCH_WHY_STEP_TIMED_OUT] = { "step ", " timed out" },
	[EVT_ORCH_WHY_DEADLINE] = { "deadline passed", NULL },
	[EVT_ORCH_WHY_UNDO_EXHAUSTED] = { "undo of step ", " exhausted" },
};

void
evt_orch_why_text(struct evt_buf *b, enum evt_orch_why why, const char *step)
{
	evt_buf_adds(b, form[why].pre);
	if (form[why].post) {
		evt_buf_adds(b, step);
		evt_buf_adds(b, form[why].post);
	}
}

enum evt_orch_why
evt_orch_why(const char *p, size_t n)
{
	if (p == NULL)
		return EVT_ORCH_WHY_NONE;
	for (size_t i = 1; i < sizeof(form) / sizeof(*form); i++) {
		size_t a = strlen(form[i].pre);
		size_t z = form[i].post ? strlen(form[i].post) : 0;
		if (memcmp(p, form[i].pre, n < a ? n : a) != 0 || n < a)
			continue;
		if (form[i].post == NULL ? n == a : n > a + z &&
		    memcmp(p + n - z, form[i].post, z) == 0)
			return (enum evt_orch_why)i;
	}
	return EVT_ORCH_WHY_NONE;
}
