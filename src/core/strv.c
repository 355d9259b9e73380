/* SPDX-License-Identifier: MIT */
#include <stdlib.h>
#include <string.h>

#include "core/strv.h"

size_t prism_strv_len(const char *const *v)
{
	size_t n = 0;

	while (v != NULL && v[n] != NULL)
		n++;
	return n;
}

char **prism_strv_dup(const char *const *v)
{
	size_t n = prism_strv_len(v);
	char **out = calloc(n + 1, sizeof(*out));

	for (size_t i = 0; out != NULL && i < n; i++) {
		if ((out[i] = strdup(v[i])) == NULL) {
			prism_strv_free(out);
			return NULL;
		}
	}
	return out;
}

void prism_strv_free(char **v)
{
	for (size_t i = 0; v != NULL && v[i] != NULL; i++)
		free(v[i]);
	free(v);
}
