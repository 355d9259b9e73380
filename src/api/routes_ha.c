/* SPDX-License-Identifier: MIT */
/*
 * GET /api/v1/cluster/instances: the instances sharing this PostgreSQL registry, as this
 * instance's last renewal of its claims saw them (docs/ha.md).
 */
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "api/api_int.h"
#include "api/routes_zones.h"
#include "core/jw.h"

void prism_api_set_kea_pg(struct prism_api *api, struct prism_kea_pg *k)
{
	if (api != NULL)
		api->opts.kea_pg = k;
}

void h_v1_cluster_instances(struct api_req *r)
{
	struct prism_ha *ha = r->api->opts.ha;
	struct jw *w = api_jw(r->api);
	jw_reset(w);
	jw_obj(w);
	if (ha == NULL) {
		/* SQLite: one instance, nothing shared */
		jw_kbool(w, "enabled", false);
		jw_key(w, "instances");
		jw_arr(w);
		jw_end_arr(w);
		jw_end_obj(w);
		api_reply(r, 200);
		return;
	}
	struct prism_ha_stats st;
	prism_ha_stats(ha, &st);
	if (st.view_age_ms == UINT64_MAX) {
		jw_reset(w);
		api_error(r, 503, "unavailable",
			  "the instances are not known yet: PostgreSQL "
			  "has not answered");
		return;
	}
	size_t ni = 0, nc = 0;
	const struct prism_ha_instance *in = prism_ha_instances(ha, &ni);
	const struct prism_ha_claim *cl = prism_ha_claims(ha, &nc);
	int64_t now = (int64_t)time(NULL);
	int64_t seen = now - (int64_t)(st.view_age_ms / 1000);
	jw_kbool(w, "enabled", true);
	jw_kstr(w, "instance", prism_ha_id(ha));
	jw_kint(w, "lease_seconds", r->api->cfg->ha_lease_seconds);
	jw_kbool(w, "connected", st.connected);
	jw_kint(w, "view_age_ms", (int64_t)st.view_age_ms);
	jw_key(w, "instances");
	jw_arr(w);
	for (size_t i = 0; i < ni; i++) {
		jw_obj(w);
		jw_kstr(w, "id", in[i].id);
		jw_ktime(w, "last_heartbeat", seen - (int64_t)(in[i].heartbeat_age_ms / 1000));
		jw_kint(w, "heartbeat_age_ms", (int64_t)in[i].heartbeat_age_ms);
		jw_kbool(w, "alive", in[i].alive);
		jw_kbool(w, "self", strcmp(in[i].id, prism_ha_id(ha)) == 0);
		jw_key(w, "claims");
		jw_arr(w);
		for (size_t c = 0; c < nc; c++)
			if (cl[c].left_ms > 0 && strcmp(cl[c].holder, in[i].id) == 0)
				jw_str(w, cl[c].name);
		jw_end_arr(w);
		jw_end_obj(w);
	}
	jw_end_arr(w);
	jw_key(w, "claims");
	jw_arr(w);
	for (size_t c = 0; c < nc; c++) {
		jw_obj(w);
		jw_kstr(w, "name", cl[c].name);
		jw_kstr(w, "holder", cl[c].holder);
		jw_kint(w, "expires_in_ms", cl[c].left_ms);
		jw_end_obj(w);
	}
	jw_end_arr(w);
	jw_end_obj(w);
	api_reply(r, 200);
}
