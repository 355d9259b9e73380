/* SPDX-License-Identifier: MIT */
/* Client certificate names against registration hostnames (certname.h). */
#include <string.h>
#include <strings.h>

#include "core/certname.h"
#include "core/dname.h"

/* Length of @p name without a trailing dot and without a suffix "." + @p zone (its part
 * relative to the zone; the whole name when it is not in it). */
static size_t relative_len(const char *name, const char *zone)
{
	size_t n = strlen(name);
	if (n > 0 && name[n - 1] == '.')
		n--;
	size_t zl = zone != NULL ? strlen(zone) : 0;
	if (zl > 0 && zone[zl - 1] == '.')
		zl--;
	if (zl > 0 && n > zl + 1 && name[n - zl - 1] == '.' &&
	    strncasecmp(name + n - zl, zone, zl) == 0)
		n -= zl + 1;
	return n;
}

bool prism_cert_name_allows(const char *cert_name, const char *hostname, const char *zone)
{
	if (cert_name == NULL || hostname == NULL)
		return false;
	size_t cl = strlen(cert_name);
	if (cl > 0 && cert_name[cl - 1] == '.')
		cl--;
	/* a wildcard or anything else that is not one host's name grants nothing */
	if (cl == 0 || prism_hostname_check(cert_name, cl, NULL, 0) != 0)
		return false;
	size_t a = relative_len(cert_name, zone), b = relative_len(hostname, zone);
	return a == b && strncasecmp(cert_name, hostname, a) == 0;
}
