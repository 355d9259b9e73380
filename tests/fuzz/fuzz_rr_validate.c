/* SPDX-License-Identifier: MIT */
/*
 * Fuzz the record validator: the input is "TYPE\nCONTENT" (or a zone template line when it
 * has no line break). Whatever is accepted must come out NUL-terminated, within its buffer,
 * free of line breaks, and be accepted again unchanged (the canonical form is a fixed point).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/rr_validate.h"

#define ZONE "fuzz.example."

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_content(const char *type, const char *in)
{
	static char out[PRISM_RR_CONTENT_MAX], again[PRISM_RR_CONTENT_MAX];
	char why[PRISM_RR_WHY_MAX];
	if (prism_rr_content(type, in, ZONE, out, sizeof(out), why, sizeof(why)) != 0) {
		if (strlen(why) >= sizeof(why))
			abort();
		return;
	}
	if (strlen(out) >= sizeof(out) || strchr(out, '\n') != NULL)
		abort();
	/* canonical in, the same canonical out */
	if (prism_rr_content(type, out, ZONE, again, sizeof(again), why, sizeof(why)) != 0 ||
	    strcmp(out, again) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	char *nl = strchr(text, '\n');
	if (nl != NULL) {
		*nl = '\0';
		check_content(text, nl + 1);
		char owner[256], why[PRISM_RR_WHY_MAX];
		(void)prism_rr_owner(nl + 1, ZONE, owner, sizeof(owner), why, sizeof(why));
	} else {
		struct prism_rr_line *l = malloc(sizeof(*l));
		char why[PRISM_RR_WHY_MAX];
		if (l != NULL && prism_rr_line(text, ZONE, 300, l, why, sizeof(why)) == 0)
			check_content(l->type, l->content);
		free(l);
	}
	free(text);
	return 0;
}
