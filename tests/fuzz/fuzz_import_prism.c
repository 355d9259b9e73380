/* SPDX-License-Identifier: MIT */
/*
 * Fuzz the checks of the original Prism registry's rows: the input is the row's eight
 * fields separated by '\n' (a missing field is NULL). An accepted row must come out with a
 * valid lower-case hostname, an address that reads back as itself, and first <= last seen.
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/dname.h"
#include "core/import_prism.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	const char *f[8] = {0};
	char *p = text;
	for (size_t i = 0; i < 8 && p != NULL; i++) {
		f[i] = p;
		p = strchr(p, '\n');
		if (p != NULL)
			*p++ = '\0';
	}
	struct prism_orig_row row = {f[0], f[1], f[2], f[3], f[4], f[5], f[6], f[7]};
	struct prism_orig_host h;
	char why[160];
	enum prism_orig_verdict v =
		prism_orig_row_check(&row, "managed.prism.local.", &h, why, sizeof(why));
	if (v != PRISM_ORIG_OK) {
		if (strlen(why) >= sizeof(why))
			abort();
	} else {
		unsigned char a[16];
		char back[64];
		if (prism_hostname_check(h.hostname, strlen(h.hostname), NULL, 0) != 0 ||
		    h.first_seen > h.last_seen)
			abort();
		int af = h.ipv6 ? AF_INET6 : AF_INET;
		if (inet_pton(af, h.ip, a) != 1 || !inet_ntop(af, a, back, sizeof(back)) ||
		    strcmp(back, h.ip) != 0)
			abort();
		for (const char *c = h.hostname; *c; c++)
			if (*c >= 'A' && *c <= 'Z')
				abort();
	}
	free(text);
	return 0;
}
