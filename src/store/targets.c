/* SPDX-License-Identifier: MIT */
/*
 * Targets added at run time (POST /api/v1/targets): one row each in runtime_targets, read
 * back at start so that they survive a restart. The ledger and target_zones rows of such a
 * target are kept by zones_targets_sync like those of the configuration's targets.
 */
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "store/sqlite_int.h"

/* NULL stays NULL; PRISM_ENOMEM through @p rc. */
static char *col_opt(sqlite3_stmt *st, int i, int *rc)
{
	const unsigned char *t = sqlite3_column_text(st, i);
	if (t == NULL)
		return NULL;
	char *c = strdup((const char *)t);
	if (c == NULL)
		*rc = PRISM_ENOMEM;
	return c;
}

/* Bind the fields of @p t in table order (name first). */
static void bind_target(sqlite3_stmt *st, const struct prism_runtime_target *t)
{
	sq_bind_copy(st, 1, t->name);
	sq_bind_copy(st, 2, t->api_url);
	sq_bind_copy(st, 3, t->api_key);
	sq_bind_copy(st, 4, t->api_key_file);
	sq_bind_copy(st, 5, t->server_id);
	sq_bind_copy(st, 6, t->zones);
	sq_bind_copy(st, 7, t->group);
	sq_bind_copy(st, 8, t->dns_address);
	sqlite3_bind_int64(st, 9, t->created);
}

static int write_target(struct prism_store *s, const char *sql,
			const struct prism_runtime_target *t)
{
	sqlite3_stmt *st;
	if (s == NULL || t == NULL || t->name == NULL || t->api_url == NULL ||
	    t->server_id == NULL)
		return PRISM_EINVAL;
	if (sqlite3_prepare_v2(prism_sqlite_db(s), sql, -1, &st, NULL) != SQLITE_OK)
		return PRISM_ESTORE;
	bind_target(st, t);
	int step = sqlite3_step(st);
	sqlite3_finalize(st);
	if (step == SQLITE_CONSTRAINT)
		return PRISM_ECONFLICT;
	if (step != SQLITE_DONE)
		return PRISM_ESTORE;
	return sqlite3_changes(prism_sqlite_db(s)) > 0 ? 0 : PRISM_ENOTFOUND;
}

int tq_runtime_target_add(struct prism_store *s, const struct prism_runtime_target *t)
{
	return write_target(s,
			    "INSERT INTO runtime_targets (name, api_url, api_key, "
			    "api_key_file, server_id, zones, grp, dns_address, created) VALUES "
			    "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
			    t);
}

int tq_runtime_target_update(struct prism_store *s, const struct prism_runtime_target *t)
{
	return write_target(s,
			    "UPDATE runtime_targets SET api_url = ?2, api_key = ?3, "
			    "api_key_file = ?4, server_id = ?5, zones = ?6, grp = ?7, "
			    "dns_address = ?8 WHERE name = ?1",
			    t);
}

int tq_runtime_target_delete(struct prism_store *s, const char *name)
{
	sqlite3_stmt *st;
	if (s == NULL || name == NULL)
		return PRISM_EINVAL;
	if (sqlite3_prepare_v2(prism_sqlite_db(s), "DELETE FROM runtime_targets WHERE name = ?1",
			       -1, &st, NULL) != SQLITE_OK)
		return PRISM_ESTORE;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
	int step = sqlite3_step(st);
	sqlite3_finalize(st);
	if (step != SQLITE_DONE)
		return PRISM_ESTORE;
	return sqlite3_changes(prism_sqlite_db(s)) > 0 ? 0 : PRISM_ENOTFOUND;
}

void prism_runtime_target_clear(struct prism_runtime_target *t)
{
	if (t == NULL)
		return;
	free(t->name);
	free(t->api_url);
	if (t->api_key != NULL)
		explicit_bzero(t->api_key, strlen(t->api_key));
	free(t->api_key);
	free(t->api_key_file);
	free(t->server_id);
	free(t->zones);
	free(t->group);
	free(t->dns_address);
	memset(t, 0, sizeof(*t));
}

int prism_runtime_target_copy(const struct prism_runtime_target *t,
			      struct prism_runtime_target *out)
{
	if (t == NULL || out == NULL)
		return PRISM_EINVAL;
	const char *src[] = {t->name,	   t->api_url, t->api_key, t->api_key_file,
			     t->server_id, t->zones,   t->group,   t->dns_address};
	char **dst[] = {&out->name,	 &out->api_url, &out->api_key, &out->api_key_file,
			&out->server_id, &out->zones,	&out->group,   &out->dns_address};
	memset(out, 0, sizeof(*out));
	out->created = t->created;
	for (size_t i = 0; i < sizeof(src) / sizeof(src[0]); i++)
		if (src[i] != NULL && (*dst[i] = strdup(src[i])) == NULL) {
			prism_runtime_target_clear(out);
			return PRISM_ENOMEM;
		}
	return 0;
}

void prism_runtime_targets_free(struct prism_runtime_target *t, size_t n)
{
	for (size_t i = 0; t != NULL && i < n; i++)
		prism_runtime_target_clear(&t[i]);
	free(t);
}

static int read_row(sqlite3_stmt *st, struct prism_runtime_target *t)
{
	int rc = 0;
	t->name = col_opt(st, 0, &rc);
	t->api_url = col_opt(st, 1, &rc);
	t->api_key = col_opt(st, 2, &rc);
	t->api_key_file = col_opt(st, 3, &rc);
	t->server_id = col_opt(st, 4, &rc);
	t->zones = col_opt(st, 5, &rc);
	t->group = col_opt(st, 6, &rc);
	t->dns_address = col_opt(st, 7, &rc);
	t->created = sqlite3_column_int64(st, 8);
	return rc;
}

int tq_runtime_targets(struct prism_store *s, struct prism_runtime_target **out, size_t *n)
{
	sqlite3_stmt *st;
	if (s == NULL || out == NULL || n == NULL)
		return PRISM_EINVAL;
	*out = NULL;
	*n = 0;
	if (sqlite3_prepare_v2(prism_sqlite_db(s),
			       "SELECT name, api_url, api_key, api_key_file, "
			       "server_id, zones, grp, dns_address, created FROM runtime_targets "
			       "ORDER BY name",
			       -1, &st, NULL) != SQLITE_OK)
		return PRISM_ESTORE;
	int rc = 0, step;
	size_t cap = 0;
	while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW) {
		if (*n == cap) {
			size_t nc = cap ? cap * 2 : 4;
			struct prism_runtime_target *g = realloc(*out, nc * sizeof(*g));
			if (g == NULL) {
				rc = PRISM_ENOMEM;
				break;
			}
			*out = g;
			cap = nc;
		}
		memset(&(*out)[*n], 0, sizeof(**out));
		rc = read_row(st, &(*out)[(*n)++]);
	}
	if (rc == 0 && step != SQLITE_DONE)
		rc = PRISM_ESTORE;
	sqlite3_finalize(st);
	if (rc != 0) {
		prism_runtime_targets_free(*out, *n);
		*out = NULL;
		*n = 0;
	}
	return rc;
}
