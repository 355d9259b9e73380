/* SPDX-License-Identifier: MIT */
/*
 * Moving a registry from one backend to another (prism registry copy; store.h): every
 * table, through each backend's copy functions, in batches; one transaction on each side,
 * the destination's committed only when every table's counts agree.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/strv.h"
#include "store/store.h"

#define BATCH 1000 /* rows per copy_api.in call */

static const char *const c_meta[] = {"name", "value", NULL};
static const char *const c_hosts[] = {"id",
				      "hostname",
				      "current_ip",
				      "ipv4",
				      "ipv6",
				      "status",
				      "first_seen",
				      "last_seen",
				      "owner_token_hash",
				      "dns_zone",
				      "dns_record_id",
				      "dns_ttl",
				      "dns_sync_status",
				      "dns_last_sync",
				      "expires_at",
				      "source",
				      "source_key",
				      "dhcid4",
				      "dhcid6",
				      NULL};
static const char *const c_tokens[] = {"hash", "name", "created_at", "expires_at", "active", NULL};
static const char *const c_keys[] = {"hash", "name", "role", "created_at", "revoked", NULL};
static const char *const c_zones[] = {"name",	"kind",	 "targets", "nameservers", "soa", "ttl",
				      "dnssec", "adopt", "origin",  "created_at",  NULL};
static const char *const c_desired[] = {"zone",	   "name", "type",    "ttl",
					"content", "hash", "host_id", NULL};
static const char *const c_tz[] = {"target", "zone", NULL};
static const char *const c_ledger[] = {
	"target",	"zone",	      "name",	  "type",	  "desired_hash",
	"applied_hash", "status",     "attempts", "next_attempt", "last_error",
	"host_id",	"updated_at", NULL};
static const char *const c_deletions[] = {"target", "zone", "at", NULL};
static const char *const c_audit[] = {"id",	"at",	  "actor", "action",
				      "object", "before", "after", NULL};
static const char *const c_queue[] = {"seq",	  "source",  "key",  "fqdn", "zone",
				      "families", "ipv4",    "ipv6", "ttl",  "flags",
				      "dhcid",	  "only_ip", NULL};
static const char *const c_targets[] = {"name",	     "api_url", "api_key", "api_key_file",
					"server_id", "zones",	"grp",	   "dns_address",
					"created",   NULL};

const struct prism_copy_table prism_copy_tables[] = {
	{"meta", c_meta, 1u << 1},
	{"hosts", c_hosts, 0},
	{"tokens", c_tokens, 0},
	{"api_keys", c_keys, 0},
	{"zones", c_zones, 0},
	{"desired", c_desired, 0},
	{"target_zones", c_tz, 0},
	{"ledger", c_ledger, 0},
	{"zone_deletions", c_deletions, 0},
	{"audit", c_audit, 0},
	{"source_queue", c_queue, 0},
	{"runtime_targets", c_targets, 0},
	{NULL, NULL, 0},
};

/* Rows gathered from the source, handed to the destination BATCH at a time. */
struct batch {
	const struct prism_store_copy_api *da;
	struct prism_store *dst;
	const struct prism_copy_table *t;
	size_t ncols, n;
	char **v; /* BATCH × ncols copies */
	int64_t rows;
	int err;
};

static int flush(struct batch *b)
{
	if (b->n == 0)
		return 0;
	int rc = b->da->in(b->dst, b->t, (const char *const *)b->v, b->n);
	for (size_t i = 0; i < b->n * b->ncols; i++) {
		free(b->v[i]);
		b->v[i] = NULL;
	}
	b->n = 0;
	return rc;
}

static int take_row(void *ctx, const char *const *v)
{
	struct batch *b = ctx;
	for (size_t c = 0; c < b->ncols; c++) {
		char **slot = &b->v[b->n * b->ncols + c];
		if (v[c] != NULL && (*slot = strdup(v[c])) == NULL) {
			b->err = PRISM_ENOMEM;
			return 1;
		}
	}
	b->n++;
	b->rows++;
	if (b->n == BATCH && (b->err = flush(b)) != 0)
		return 1;
	return 0;
}

static int copy_table(const struct prism_store_copy_api *sa, struct prism_store *src,
		      struct batch *b)
{
	b->ncols = prism_strv_len(b->t->cols);
	b->n = 0;
	b->rows = 0;
	b->err = 0;
	b->v = calloc(BATCH * b->ncols, sizeof(*b->v));
	if (b->v == NULL)
		return PRISM_ENOMEM;
	int rc = sa->out(src, b->t, take_row, b);
	if (b->err != 0)
		rc = b->err;
	else if (rc == 0)
		rc = flush(b);
	for (size_t i = 0; i < BATCH * b->ncols; i++)
		free(b->v[i]);
	free(b->v);
	b->v = NULL;
	return rc;
}

/* Whether the destination holds anything but meta (made with every registry). */
static int dest_empty(const struct prism_store_copy_api *da, struct prism_store *dst, char *err,
		      size_t errlen)
{
	for (const struct prism_copy_table *t = prism_copy_tables; t->name != NULL; t++) {
		int64_t n;
		if (strcmp(t->name, "meta") == 0)
			continue;
		if (da->count(dst, t, &n) != 0) {
			snprintf(err, errlen, "the destination cannot be read (table %s)",
				 t->name);
			return PRISM_ESTORE;
		}
		if (n > 0) {
			snprintf(err, errlen,
				 "the destination is not empty (%s: %lld rows); --force replaces "
				 "its contents",
				 t->name, (long long)n);
			return PRISM_ECONFLICT;
		}
	}
	return 0;
}

static int copy_all(const struct prism_store_copy_api *sa, struct prism_store *src,
		    const struct prism_store_copy_api *da, struct prism_store *dst, bool force,
		    void (*report)(void *ctx, const struct prism_copy_report *r), void *ctx,
		    char *err, size_t errlen)
{
	size_t nt = 0;
	while (prism_copy_tables[nt].name != NULL)
		nt++;
	int rc = 0;
	if (!force && (rc = dest_empty(da, dst, err, errlen)) != 0)
		return rc;
	/* children first: nothing refers to a row that is gone */
	for (size_t i = nt; i-- > 0;) {
		bool meta = strcmp(prism_copy_tables[i].name, "meta") == 0;
		if ((force || meta) && da->clear(dst, &prism_copy_tables[i]) != 0) {
			snprintf(err, errlen, "cannot empty %s in the destination",
				 prism_copy_tables[i].name);
			return PRISM_ESTORE;
		}
	}
	int64_t counts[32] = {0};
	for (size_t i = 0; i < nt && i < 32; i++) {
		struct batch b = {.da = da, .dst = dst, .t = &prism_copy_tables[i]};
		rc = copy_table(sa, src, &b);
		if (rc != 0) {
			snprintf(err, errlen, "copying %s failed%s", prism_copy_tables[i].name,
				 rc == PRISM_ECONFLICT ? " (a row is there already)" : "");
			return rc;
		}
		counts[i] = b.rows;
	}
	if (da->done(dst) != 0) {
		snprintf(err, errlen, "cannot set the destination's identity counters");
		return PRISM_ESTORE;
	}
	/* every table: what the source holds (counted again, not trusted from the read), what
	 * the destination holds now */
	for (size_t i = 0; i < nt && i < 32; i++) {
		const struct prism_copy_table *t = &prism_copy_tables[i];
		struct prism_copy_report r = {t->name, 0, 0};
		if (sa->count(src, t, &r.source) != 0 || da->count(dst, t, &r.dest) != 0) {
			snprintf(err, errlen, "cannot count %s", t->name);
			return PRISM_ESTORE;
		}
		if (report != NULL)
			report(ctx, &r);
		if (r.source != r.dest || r.source != counts[i]) {
			snprintf(err, errlen,
				 "%s: %lld rows in the source, %lld copied, %lld in the "
				 "destination",
				 t->name, (long long)r.source, (long long)counts[i],
				 (long long)r.dest);
			return PRISM_EMSG;
		}
	}
	return 0;
}

int prism_store_copy(const struct prism_store_api *sa, struct prism_store *src,
		     const struct prism_store_api *da, struct prism_store *dst, bool force,
		     void (*report)(void *ctx, const struct prism_copy_report *r), void *ctx,
		     char *err, size_t errlen)
{
	const struct prism_store_copy_api *sc = sa ? sa->copy : NULL, *dc = da ? da->copy : NULL;
	if (src == NULL || dst == NULL || sc == NULL || dc == NULL) {
		snprintf(err, errlen, "this backend cannot copy a registry");
		return PRISM_EINVAL;
	}
	if (sa->begin(src) != 0) {
		snprintf(err, errlen, "cannot begin a transaction on the source");
		return PRISM_ESTORE;
	}
	if (da->begin(dst) != 0) {
		sa->rollback(src);
		snprintf(err, errlen, "cannot begin a transaction on the destination");
		return PRISM_ESTORE;
	}
	int rc = copy_all(sc, src, dc, dst, force, report, ctx, err, errlen);
	if (rc == 0 && da->commit(dst) != 0) {
		snprintf(err, errlen, "the destination refused the commit");
		rc = PRISM_ESTORE;
	}
	if (rc != 0)
		da->rollback(dst);
	sa->rollback(src); /* it only read */
	return rc;
}
