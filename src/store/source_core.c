/* SPDX-License-Identifier: MIT */
/*
 * How a source entry is applied to the registry, once for every backend (source_core.h):
 * the steps of store.h "hosts of other sources" over a backend's row operations.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/dname.h"
#include "core/error.h"
#include "core/rrset.h"
#include "store/source_core.h"

static const char *const fam_type[2] = {"A", "AAAA"};

/* The reverse name of @p ip and the managed zone holding it, or NULL (no PTR then). */
static const char *reverse_zone(const char *ip, const char *const *zones, char *rev, size_t len)
{
	if (prism_reverse_name(ip, rev, len) != 0)
		return NULL;
	return prism_zone_of(rev, zones);
}

/* Family @p f of host @p id goes from @p old ("" = none) to @p ip (NULL = none). */
static int src_family(const struct src_ops *ops, struct prism_store *s,
		      const struct prism_source_entry *e, const struct prism_source_ctx *ctx,
		      int64_t id, int f, const char *old, const char *ip, bool *changed)
{
	bool publish = f == 0 ? ctx->publish_a : ctx->publish_aaaa;
	bool ch = false;
	int rc = 0;
	if (e->forward && publish) {
		if (ip != NULL) {
			const char *recs[1] = {ip};
			struct prism_rr_change rr = {e->fqdn, fam_type[f], e->ttl, recs, 1};
			rc = ops->desired_set(s, &rr, e->zone, id, ctx->now, &ch);
		} else {
			rc = ops->drop_owned(s, e->zone, e->fqdn, fam_type[f], id, ctx->now, &ch);
		}
	}
	if (rc != 0 || !e->reverse)
		goto out;
	char rev[PRISM_DNAME_MAX + 1];
	const char *rzone;
	if (old[0] != '\0' && (ip == NULL || strcmp(old, ip) != 0) &&
	    (rzone = reverse_zone(old, ctx->zones, rev, sizeof(rev))) != NULL)
		rc = ops->drop_owned(s, rzone, rev, "PTR", id, ctx->now, &ch);
	if (rc == 0 && ip != NULL && (rzone = reverse_zone(ip, ctx->zones, rev, sizeof(rev)))) {
		const char *recs[1] = {e->fqdn};
		struct prism_rr_change rr = {rev, "PTR", e->ttl, recs, 1};
		bool set = false;
		rc = ops->desired_set(s, &rr, rzone, id, ctx->now, &set);
		ch |= set;
	}
out:
	*changed |= ch;
	return rc;
}

static void conflict(struct prism_source_result *out, enum prism_source holder, bool dhcid)
{
	out->outcome = PRISM_SOURCE_CONFLICT;
	out->holder = holder;
	out->dhcid_conflict = dhcid;
}

/* May the entry take its name? Frees it from a yielding key of its own source. */
static int src_claim(const struct src_ops *ops, struct prism_store *s,
		     const struct prism_source_entry *e, const struct prism_source_ctx *ctx,
		     struct prism_source_result *out)
{
	int64_t id;
	enum prism_source holder = PRISM_SOURCE_AGENT;
	int rc = ops->by_name(s, e->fqdn, &id, &holder);
	if (rc != 0 || id == 0)
		return rc;
	if (holder != e->source || !e->takeover) {
		conflict(out, holder, false);
		return 0;
	}
	return ops->drop_host(s, id, ctx->now, &out->dns_changed);
}

/* Another DHCID holds a family the entry touches (Kea's check-with-dhcid). */
static bool dhcid_refused(const struct prism_source_entry *e, const struct src_row *r)
{
	if (e->dhcid == NULL || !e->check_dhcid || !r->found)
		return false;
	for (int f = 0; f < 2; f++)
		if ((e->families & (1u << f)) && r->ip[f][0] && r->dhcid[f][0] &&
		    strcasecmp(r->dhcid[f], e->dhcid) != 0)
			return true;
	return false;
}

bool src_entry_valid(const struct prism_source_entry *e)
{
	return e != NULL && e->key != NULL && strlen(e->key) < 256 && e->fqdn != NULL &&
	       e->zone != NULL && e->families != 0 && (e->families & ~3u) == 0 &&
	       (unsigned)e->source < PRISM_SOURCE_COUNT && e->source != PRISM_SOURCE_AGENT &&
	       (e->dhcid == NULL || strlen(e->dhcid) < SRC_DHCID_MAX) &&
	       (e->ipv4 == NULL || strlen(e->ipv4) < 64) &&
	       (e->ipv6 == NULL || strlen(e->ipv6) < 64);
}

int src_put(const struct src_ops *ops, struct prism_store *s, const struct prism_source_entry *e0,
	    const struct prism_source_ctx *ctx, struct prism_source_result *out)
{
	if (s == NULL || !src_entry_valid(e0) || ctx == NULL || out == NULL)
		return PRISM_EINVAL;
	memset(out, 0, sizeof(*out));
	struct prism_source_entry e = *e0;
	struct src_row row;
	int rc = ops->by_key(s, e.source, e.key, &row);
	if (rc != 0)
		return rc;
	bool sets =
		((e.families & PRISM_FAM_V4) && e.ipv4) || ((e.families & PRISM_FAM_V6) && e.ipv6);
	if (!sets && row.found) {
		/* a withdrawal concerns the key's host, whatever name it came with */
		e.fqdn = row.name;
		e.zone = row.zone;
	} else if (sets && (!row.found || strcmp(row.name, e.fqdn) != 0)) {
		if ((rc = src_claim(ops, s, &e, ctx, out)) != 0)
			return rc;
		if (row.found) {
			/* renamed: the old name's records go with the old host, also when the
			 * new name turns out to be someone else's */
			if ((rc = ops->drop_host(s, row.id, ctx->now, &out->dns_changed)) != 0)
				return rc;
			row = (struct src_row){0};
		}
		if (out->outcome == PRISM_SOURCE_CONFLICT)
			return 0;
	}
	if (!row.found && !sets)
		return 0; /* nothing held, nothing to withdraw */
	if (dhcid_refused(&e, &row)) {
		conflict(out, e.source, true);
		return 0;
	}
	char ip[2][64], dhcid[2][SRC_DHCID_MAX];
	memcpy(ip, row.ip, sizeof(ip));
	memcpy(dhcid, row.dhcid, sizeof(dhcid));
	const char *want[2] = {e.ipv4, e.ipv6};
	for (int f = 0; f < 2; f++) {
		if (want[f] == NULL && e.only_ip != NULL && strcmp(row.ip[f], e.only_ip) != 0)
			e.families &= ~(1u << f); /* it holds another address now: keep it */
		if (!(e.families & (1u << f)))
			continue;
		if (want[f] != NULL) {
			snprintf(ip[f], sizeof(ip[f]), "%s", want[f]);
			if (e.dhcid != NULL)
				snprintf(dhcid[f], sizeof(dhcid[f]), "%s", e.dhcid);
		} else if (e.forward) {
			ip[f][0] = dhcid[f][0] = '\0';
		}
	}
	for (int f = 0; ctx->dns_enabled && e.forward && f < 2; f++) {
		enum prism_source holder;
		if (!(e.families & (1u << f)) || want[f] == NULL ||
		    !(f == 0 ? ctx->publish_a : ctx->publish_aaaa))
			continue;
		rc = ops->name_holder(s, e.zone, e.fqdn, fam_type[f], row.found ? row.id : 0,
				      &holder);
		if (rc == PRISM_ECONFLICT) {
			conflict(out, holder, false);
			return 0;
		}
		if (rc != 0)
			return rc;
	}
	int64_t id = row.id;
	if (!row.found) {
		rc = ops->insert(s, &e, ctx, ip, dhcid, &id);
		if (rc == PRISM_ECONFLICT) {
			conflict(out, PRISM_SOURCE_AGENT, false);
			return 0;
		}
		if (rc != 0)
			return rc;
	}
	out->host_id = id;
	for (int f = 0; ctx->dns_enabled && f < 2; f++)
		if ((e.families & (1u << f)) && (rc = src_family(ops, s, &e, ctx, id, f, row.ip[f],
								 want[f], &out->dns_changed)) != 0)
			return rc;
	if (ip[0][0] == '\0' && ip[1][0] == '\0') {
		out->outcome = PRISM_SOURCE_REMOVED;
		return ops->drop_host(s, id, ctx->now, &out->dns_changed);
	}
	if (!row.found) {
		out->outcome = PRISM_SOURCE_ADDED;
		return 0;
	}
	bool same = memcmp(ip, row.ip, sizeof(ip)) == 0 &&
		    memcmp(dhcid, row.dhcid, sizeof(dhcid)) == 0 && row.ttl == e.ttl &&
		    strcmp(row.zone, e.zone) == 0;
	if (same && !out->dns_changed)
		return 0;
	out->outcome = PRISM_SOURCE_UPDATED;
	return ops->update(s, &e, ctx, id, ip, dhcid, out->dns_changed);
}

int src_remove(const struct src_ops *ops, struct prism_store *s, enum prism_source source,
	       const char *key, const struct prism_source_ctx *ctx,
	       struct prism_source_result *out)
{
	if (s == NULL || key == NULL || ctx == NULL || out == NULL)
		return PRISM_EINVAL;
	memset(out, 0, sizeof(*out));
	struct src_row row;
	int rc = ops->by_key(s, source, key, &row);
	if (rc != 0 || !row.found)
		return rc;
	out->host_id = row.id;
	out->outcome = PRISM_SOURCE_REMOVED;
	return ops->drop_host(s, row.id, ctx->now, &out->dns_changed);
}

void src_tally(struct prism_source_sync_result *out, const struct prism_source_entry *e,
	       const struct prism_source_result *r)
{
	out->dns_changed |= r->dns_changed;
	switch (r->outcome) {
	case PRISM_SOURCE_ADDED: out->added++; break;
	case PRISM_SOURCE_UPDATED: out->updated++; break;
	case PRISM_SOURCE_REMOVED: out->removed++; break;
	case PRISM_SOURCE_UNCHANGED: out->unchanged++; break;
	case PRISM_SOURCE_CONFLICT:
		if (out->conflicts < PRISM_SOURCE_SYNC_SHOWN) {
			struct prism_source_conflict *c = &out->shown[out->conflicts];
			snprintf(c->name, sizeof(c->name), "%s", e->fqdn);
			c->holder = r->holder;
		}
		out->conflicts++;
		break;
	}
}

/* ---- the intake queue ---- */

enum { QF_FORWARD = 1, QF_REVERSE = 2, QF_CHECK = 4, QF_TAKEOVER = 8 };

int src_queue_flags(const struct prism_source_entry *e)
{
	return (e->forward ? QF_FORWARD : 0) | (e->reverse ? QF_REVERSE : 0) |
	       (e->check_dhcid ? QF_CHECK : 0) | (e->takeover ? QF_TAKEOVER : 0);
}

int src_queued_entry(struct src_queued *x, enum prism_source source, unsigned families,
		     uint32_t ttl, int flags)
{
	x->e = (struct prism_source_entry){
		.source = source,
		.key = x->col[0],
		.fqdn = x->col[1],
		.zone = x->col[2],
		.families = families,
		.ipv4 = x->col[3],
		.ipv6 = x->col[4],
		.ttl = ttl,
		.forward = flags & QF_FORWARD,
		.reverse = flags & QF_REVERSE,
		.check_dhcid = flags & QF_CHECK,
		.takeover = flags & QF_TAKEOVER,
		.dhcid = x->col[5],
		.only_ip = x->col[6],
	};
	return x->e.key == NULL || x->e.fqdn == NULL || x->e.zone == NULL ? PRISM_ENOMEM : 0;
}

void src_queued_free(struct src_queued *q, size_t n)
{
	for (size_t i = 0; q != NULL && i < n; i++)
		for (int c = 0; c < 7; c++)
			free(q[i].col[c]);
	free(q);
}

int src_apply_queued(const struct src_ops *ops, struct prism_store *s, struct src_queued *q,
		     size_t n, const struct prism_source_ctx *ctx,
		     struct prism_source_sync_result *out, int (*mark)(struct prism_store *s),
		     size_t every)
{
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < n; i++) {
		struct prism_source_result r;
		rc = src_put(ops, s, &q[i].e, ctx, &r);
		if (rc == PRISM_EINVAL) {
			rc = 0; /* cannot be applied: dropped, not retried forever */
			continue;
		}
		if (rc == 0)
			src_tally(out, &q[i].e, &r);
		if (rc == 0 && i % every == every - 1)
			rc = mark(s);
	}
	return rc;
}
