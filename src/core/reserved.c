/* SPDX-License-Identifier: MIT */
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/dname.h"
#include "core/error.h"
#include "core/reserved.h"

struct prism_reserved {
	char **rel; /* relative names, no trailing dot; NULL-terminated */
	char **abs; /* FQDNs with the trailing dot; NULL-terminated */
	size_t nrel, nabs;
};

static int push(char ***v, size_t *n, const char *s, size_t len)
{
	char **nv = realloc(*v, (*n + 2) * sizeof(*nv));
	if (nv == NULL)
		return PRISM_ENOMEM;
	*v = nv;
	char *c = malloc(len + 1);
	if (c == NULL)
		return PRISM_ENOMEM;
	memcpy(c, s, len);
	c[len] = '\0';
	nv[(*n)++] = c;
	nv[*n] = NULL;
	return 0;
}

static int add_name(struct prism_reserved *r, const char *name)
{
	size_t len = strlen(name);
	if (len == 0)
		return 0;
	if (name[len - 1] == '.')
		return push(&r->abs, &r->nabs, name, len);
	return push(&r->rel, &r->nrel, name, len);
}

int prism_reserved_new(const char *const *names, const struct prism_config_zone *const *zones,
		       struct prism_reserved **out)
{
	if (out == NULL)
		return PRISM_EINVAL;
	*out = NULL;
	struct prism_reserved *r = calloc(1, sizeof(*r));
	if (r == NULL)
		return PRISM_ENOMEM;
	int rc = 0;
	for (size_t i = 0; rc == 0 && names != NULL && names[i] != NULL; i++)
		rc = add_name(r, names[i]);
	for (size_t z = 0; rc == 0 && zones != NULL && zones[z] != NULL; z++)
		for (char **ns = zones[z]->nameservers; rc == 0 && ns && *ns; ns++)
			rc = push(&r->abs, &r->nabs, *ns, strlen(*ns));
	if (rc != 0) {
		prism_reserved_free(r);
		return rc;
	}
	*out = r;
	return 0;
}

void prism_reserved_swap(struct prism_reserved *a, struct prism_reserved *b)
{
	struct prism_reserved t = *a;
	*a = *b;
	*b = t;
}

static void free_list(char **v)
{
	for (size_t i = 0; v != NULL && v[i] != NULL; i++)
		free(v[i]);
	free(v);
}

void prism_reserved_free(struct prism_reserved *r)
{
	if (r == NULL)
		return;
	free_list(r->rel);
	free_list(r->abs);
	free(r);
}

static bool listed(char *const *v, const char *s, size_t len)
{
	for (size_t i = 0; v != NULL && v[i] != NULL; i++)
		if (strlen(v[i]) == len && memcmp(v[i], s, len) == 0)
			return true;
	return false;
}

/* "ns", "ns1", "ns2", …: the usual names of a zone's name servers */
static bool ns_label(const char *s, size_t len)
{
	if (len < 2 || s[0] != 'n' || s[1] != 's')
		return false;
	for (size_t i = 2; i < len; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

bool prism_reserved_match(const struct prism_reserved *r, const char *fqdn, const char *zone)
{
	if (fqdn == NULL || zone == NULL)
		return false;
	size_t fl = strlen(fqdn), zl = strlen(zone);
	if (strcmp(fqdn, zone) == 0)
		return true; /* the apex */
	if (r != NULL && listed(r->abs, fqdn, fl))
		return true;
	if (fl <= zl + 1 || strcmp(fqdn + fl - zl, zone) != 0 || fqdn[fl - zl - 1] != '.')
		return false;	 /* not below the zone: nothing relative to compare */
	size_t rl = fl - zl - 1; /* the part before ".<zone>" */
	/* a relative part that spells a zone's own name ("example.com" in example.com.) */
	if (zl > 1 && rl == zl - 1 && memcmp(fqdn, zone, rl) == 0)
		return true;
	return ns_label(fqdn, rl) || (r != NULL && listed(r->rel, fqdn, rl));
}

bool prism_reserved_host(const struct prism_reserved *r, const char *hostname, const char *zone)
{
	char fqdn[PRISM_DNAME_MAX + 1];
	if (hostname == NULL || zone == NULL ||
	    prism_fqdn_join(hostname, zone, fqdn, sizeof(fqdn)) != 0)
		return false;
	return prism_reserved_match(r, fqdn, zone);
}
