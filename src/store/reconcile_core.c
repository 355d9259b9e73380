/* SPDX-License-Identifier: MIT */
/*
 * The reconciler's decisions, written once for both store backends (reconcile_core.h):
 * each backend reads what the target holds against the desired state its own way and
 * writes the ledger rows these functions ask for.
 */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "store/reconcile_core.h"
#include "store/store.h"

void prism_reconcile_result_free(struct prism_reconcile_result *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->nitems; i++) {
		free(r->items[i].name);
		free(r->items[i].type);
	}
	free(r->items);
	r->items = NULL;
	r->nitems = 0;
}

int prism_reconcile_plan_add(struct prism_reconcile_result *r, enum prism_plan_action a,
			     const char *name, const char *type)
{
	if ((r->nitems & (r->nitems + 1)) == 0 || r->items == NULL) {
		/* grow at powers of two */
		size_t cap = r->nitems ? (r->nitems + 1) * 2 : 16;
		struct prism_plan_item *v = realloc(r->items, cap * sizeof(*v));
		if (v == NULL)
			return PRISM_ENOMEM;
		r->items = v;
	}
	struct prism_plan_item *it = &r->items[r->nitems];
	it->action = a;
	it->name = strdup(name);
	it->type = strdup(type);
	if (it->name == NULL || it->type == NULL) {
		free(it->name);
		free(it->type);
		return PRISM_ENOMEM;
	}
	r->nitems++;
	return 0;
}

int prism_reconcile_desired(const struct prism_reconcile_row *r, bool adopt, bool dry,
			    struct prism_reconcile_result *out, const char **status,
			    const char **error)
{
	const char *ls = r->lstatus;
	*status = NULL;
	*error = NULL;
	if (r->foreign && !adopt) {
		out->conflict++;
		if (dry)
			return prism_reconcile_plan_add(out, PRISM_PLAN_CONFLICT, r->name,
							r->type);
		if (ls == NULL || strcmp(ls, "conflict") != 0) {
			*status = "conflict";
			*error = "a foreign RRset (not owned by prism) is at this name; set adopt "
				 "to take it over";
		}
		return 0;
	}
	if (r->present && !r->foreign && r->have == r->want) {
		out->in_sync++;
		if (!dry && (ls == NULL || r->lhash != r->want || strcmp(ls, "synced") != 0))
			*status = "synced";
		return 0;
	}
	if (r->present)
		out->update++;
	else
		out->create++;
	if (dry)
		return prism_reconcile_plan_add(
			out, r->present ? PRISM_PLAN_UPDATE : PRISM_PLAN_CREATE, r->name, r->type);
	if (ls == NULL || r->lhash != r->want || strcmp(ls, "synced") == 0 ||
	    strcmp(ls, "conflict") == 0)
		*status = "pending";
	return 0;
}

int prism_reconcile_orphan(const char *name, const char *type, const char *lstatus, int64_t lhash,
			   int64_t hash, bool dry, struct prism_reconcile_result *out, bool *queue)
{
	out->remove++;
	*queue = !dry && (lstatus == NULL || strcmp(lstatus, "synced") == 0 || lhash != hash);
	return dry ? prism_reconcile_plan_add(out, PRISM_PLAN_DELETE, name, type) : 0;
}
