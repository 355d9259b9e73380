/* SPDX-License-Identifier: MIT */
/* Client certificate names against registration hostnames (certname.h). */
#include <string.h>
#include <strings.h>

#include "core/certname.h"
#include "core/dname.h"

/* Length of @p name without a trailing dot and without the longest ".zone" suffix. */
static size_t short_len(const char *name, const char *const *zones)
{
	size_t n = strlen(name);
	if (n > 0 && name[n - 1] == '.')
		n--;
	size_t best = n;
	for (const char *const *z = zones; z != NULL && *z != NULL; z++) {
		size_t zl = strlen(*z);
		if (zl > 0 && (*z)[zl - 1] == '.')
			zl--;
		if (zl == 0 || zl + 1 >= n)
			continue;
		const char *tail = name + n - zl;
		if (tail[-1] == '.' && strncasecmp(tail, *z, zl) == 0 && n - zl - 1 < best)
			best = n - zl - 1;
	}
	return best;
}

bool prism_cert_name_allows(const char *cert_name, const char *hostname, const char *const *zones)
{
	if (cert_name == NULL || hostname == NULL)
		return false;
	size_t cl = strlen(cert_name);
	if (cl > 0 && cert_name[cl - 1] == '.')
		cl--;
	/* a wildcard or anything else that is not one host's name grants nothing */
	if (cl == 0 || prism_hostname_check(cert_name, cl, NULL, 0) != 0)
		return false;
	size_t a = short_len(cert_name, zones), b = short_len(hostname, zones);
	return a == b && strncasecmp(cert_name, hostname, a) == 0;
}
