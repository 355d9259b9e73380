/* SPDX-License-Identifier: MIT */
#include <fnmatch.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/dname.h"
#include "core/error.h"
#include "core/reserved.h"
#include "core/srcname.h"

static void say(char *reason, size_t len, const char *what)
{
	if (reason != NULL && len > 0)
		snprintf(reason, len, "%s", what);
}

int prism_srcname_fqdn(const char *name, size_t len, const char *zone, const char *const *zones,
		       const struct prism_reserved *reserved, char *out, size_t outlen,
		       const char **out_zone, char *reason, size_t reason_len)
{
	char why[96];
	if (name == NULL || zone == NULL || out == NULL || out_zone == NULL)
		return PRISM_EINVAL;
	if (outlen > 0)
		out[0] = '\0';
	bool absolute = len > 1 && name[len - 1] == '.';
	if (absolute)
		len--;
	if (prism_hostname_check(name, len, why, sizeof(why)) != 0) {
		say(reason, reason_len, why);
		return PRISM_EMSG;
	}
	char lower[PRISM_HOSTNAME_MAX + 1];
	if (prism_name_lower(name, len, lower, sizeof(lower)) != 0)
		return PRISM_ETOOBIG;
	bool dotted = absolute || memchr(lower, '.', len) != NULL;
	int rc = dotted ? prism_fqdn_join(lower, ".", out, outlen)
			: prism_fqdn_join(lower, zone, out, outlen);
	if (rc != 0) {
		say(reason, reason_len, "name too long with its zone");
		return PRISM_ETOOBIG;
	}
	const char *z = prism_zone_of(out, zones);
	if (z == NULL) {
		say(reason, reason_len, "outside every managed zone");
		out[0] = '\0';
		return PRISM_EMSG;
	}
	if (strcmp(z, out) == 0) {
		say(reason, reason_len, "the zone apex is not a host name");
		out[0] = '\0';
		return PRISM_EMSG;
	}
	if (prism_reserved_match(reserved, out, z)) {
		say(reason, reason_len,
		    "a reserved name (auth.reserved_names, ns names, the "
		    "zones' name servers)");
		out[0] = '\0';
		return PRISM_EMSG;
	}
	*out_zone = z;
	return 0;
}

struct prism_name_filter {
	char **globs; /* NULL-terminated, or NULL */
	regex_t rx;
	bool has_rx;
};

void prism_name_filter_free(struct prism_name_filter *f)
{
	if (f == NULL)
		return;
	for (char **g = f->globs; g != NULL && *g != NULL; g++)
		free(*g);
	free(f->globs);
	if (f->has_rx)
		regfree(&f->rx);
	free(f);
}

int prism_name_filter_new(const char *const *globs, const char *regex,
			  struct prism_name_filter **out)
{
	if (out == NULL)
		return PRISM_EINVAL;
	*out = NULL;
	struct prism_name_filter *f = calloc(1, sizeof(*f));
	if (f == NULL)
		return PRISM_ENOMEM;
	size_t n = 0;
	while (globs != NULL && globs[n] != NULL)
		n++;
	if (n > 0) {
		f->globs = calloc(n + 1, sizeof(*f->globs));
		for (size_t i = 0; f->globs != NULL && i < n; i++) {
			if ((f->globs[i] = strdup(globs[i])) == NULL)
				break;
		}
		if (f->globs == NULL || f->globs[n - 1] == NULL) {
			prism_name_filter_free(f);
			return PRISM_ENOMEM;
		}
	}
	if (regex != NULL && regex[0] != '\0') {
		if (regcomp(&f->rx, regex, REG_EXTENDED | REG_ICASE | REG_NOSUB) != 0) {
			prism_name_filter_free(f);
			return PRISM_EINVAL;
		}
		f->has_rx = true;
	}
	*out = f;
	return 0;
}

/* The whole name or its first label. */
static bool glob_match(const struct prism_name_filter *f, const char *name, const char *label)
{
	if (f->globs == NULL)
		return true;
	for (char **g = f->globs; *g != NULL; g++)
		if (fnmatch(*g, name, FNM_CASEFOLD) == 0 ||
		    (label != NULL && fnmatch(*g, label, FNM_CASEFOLD) == 0))
			return true;
	return false;
}

bool prism_name_filter_match(const struct prism_name_filter *f, const char *name)
{
	if (f == NULL)
		return true;
	if (name == NULL)
		return false;
	char label[PRISM_HOSTNAME_MAX + 1];
	const char *dot = strchr(name, '.');
	const char *first = NULL;
	if (dot != NULL && (size_t)(dot - name) < sizeof(label)) {
		memcpy(label, name, (size_t)(dot - name));
		label[dot - name] = '\0';
		first = label;
	}
	if (!glob_match(f, name, first))
		return false;
	if (!f->has_rx)
		return true;
	return regexec(&f->rx, name, 0, NULL, 0) == 0 ||
	       (first != NULL && regexec(&f->rx, first, 0, NULL, 0) == 0);
}
