/* SPDX-License-Identifier: MIT */
/*
 * Private to the store backends: what the reconciler decides about each RRset, written once
 * for both (reconcile_core.c). A backend reads the rows its own way and sets the ledger
 * rows its own way; the decision between them is this.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "store/store.h"

/** Add an item to a dry run's plan (copies the strings). 0 or PRISM_ENOMEM */
int prism_reconcile_plan_add(struct prism_reconcile_result *r, enum prism_plan_action a,
			     const char *name, const char *type);

/** One desired RRset of the zone against the target's, and its ledger row. */
struct prism_reconcile_row {
	const char *name, *type;
	int64_t want;	     /**< the desired hash */
	bool present;	     /**< the target has an RRset of that name and type */
	int64_t have;	     /**< its hash */
	bool foreign;	     /**< it (or a CNAME at the name) is not Prism's */
	const char *lstatus; /**< the ledger row's status, NULL: no row */
	int64_t lhash;	     /**< the ledger row's desired hash */
};

/**
 * Count @p r into @p out (and, on a dry run, add it to the plan). @p status receives the
 * state its ledger row is to be set to ("conflict", "synced", "pending"), or NULL when it
 * stays as it is (always on a dry run); @p error the row's error text (NULL: none).
 * @return 0, PRISM_ENOMEM
 */
int prism_reconcile_desired(const struct prism_reconcile_row *r, bool adopt, bool dry,
			    struct prism_reconcile_result *out, const char **status,
			    const char **error);

/**
 * An RRset Prism owns on the target that nothing desires: counted and planned; @p queue is
 * set when its deletion is to be queued (a row in step, none, or one for another hash;
 * a deletion queued already keeps its time: the engine's ownership check needs a read
 * that began after it). @return 0, PRISM_ENOMEM
 */
int prism_reconcile_orphan(const char *name, const char *type, const char *lstatus, int64_t lhash,
			   int64_t hash, bool dry, struct prism_reconcile_result *out,
			   bool *queue);
