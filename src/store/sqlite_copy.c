/* SPDX-License-Identifier: MIT */
/*
 * The SQLite backend's side of moving a registry (store.h, struct prism_store_copy_api):
 * rows out as texts, rows in through one prepared INSERT per batch. Table and column
 * names come from prism_copy_tables only, never from input.
 */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "store/sqlite_int.h"

#define SQL_MAX 1024

/* An online agent host's expires_at may lag behind its last heartbeat (sqlite.c,
 * BEAT_QUICK): what leaves this registry is its true expiry */
static const char host_expiry[] = "CASE WHEN live_for IS NULL OR status != 'online' THEN "
				  "expires_at ELSE max(expires_at, last_seen + live_for) END";

/* "SELECT c1, hex(c2), ... FROM t" (binary columns as hex) */
static void select_sql(const struct prism_copy_table *t, char *sql, size_t len)
{
	int n = snprintf(sql, len, "SELECT ");
	for (size_t i = 0; t->cols[i] != NULL; i++) {
		const char *col = t->cols[i];
		if (strcmp(t->name, "hosts") == 0 && strcmp(col, "expires_at") == 0)
			col = host_expiry;
		n += snprintf(sql + n, len - (size_t)n,
			      (t->binary >> i) & 1 ? "%shex(%s)" : "%s%s", i ? ", " : "", col);
	}
	snprintf(sql + n, len - (size_t)n, " FROM %s", t->name);
}

static int sq_copy_out(struct prism_store *s, const struct prism_copy_table *t,
		       int (*row)(void *ctx, const char *const *v), void *ctx)
{
	char sql[SQL_MAX];
	sqlite3_stmt *st;
	select_sql(t, sql, sizeof(sql));
	if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
		return PRISM_ESTORE;
	int nc = sqlite3_column_count(st), rc, stop = 0;
	const char *v[32];
	if (nc > 32) {
		sqlite3_finalize(st);
		return PRISM_EINVAL;
	}
	while (stop == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		for (int i = 0; i < nc; i++)
			v[i] = (const char *)sqlite3_column_text(st, i);
		stop = row(ctx, v);
	}
	sqlite3_finalize(st);
	if (stop != 0)
		return stop;
	return rc == SQLITE_DONE ? 0 : PRISM_ESTORE;
}

static int hexval(char c)
{
	return c >= '0' && c <= '9'   ? c - '0'
	       : c >= 'a' && c <= 'f' ? c - 'a' + 10
	       : c >= 'A' && c <= 'F' ? c - 'A' + 10
				      : -1;
}

/* Bind hex text @p v as a blob; false when it is not hex. */
static bool bind_hex(sqlite3_stmt *st, int i, const char *v)
{
	size_t len = strlen(v);
	if (len % 2 != 0)
		return false;
	unsigned char *b = malloc(len / 2 + 1);
	if (b == NULL)
		return false;
	for (size_t k = 0; k < len / 2; k++) {
		int hi = hexval(v[2 * k]), lo = hexval(v[2 * k + 1]);
		if (hi < 0 || lo < 0) {
			free(b);
			return false;
		}
		b[k] = (unsigned char)(hi << 4 | lo);
	}
	sqlite3_bind_blob(st, i, b, (int)(len / 2), SQLITE_TRANSIENT);
	explicit_bzero(b, len / 2);
	free(b);
	return true;
}

static int sq_copy_in(struct prism_store *s, const struct prism_copy_table *t,
		      const char *const *v, size_t n)
{
	char sql[SQL_MAX];
	size_t nc = 0;
	int off = snprintf(sql, sizeof(sql), "INSERT INTO %s (", t->name);
	for (; t->cols[nc] != NULL; nc++)
		off += snprintf(sql + off, sizeof(sql) - (size_t)off, "%s%s", nc ? ", " : "",
				t->cols[nc]);
	off += snprintf(sql + off, sizeof(sql) - (size_t)off, ") VALUES (");
	for (size_t i = 0; i < nc; i++)
		off += snprintf(sql + off, sizeof(sql) - (size_t)off, "%s?", i ? ", " : "");
	snprintf(sql + off, sizeof(sql) - (size_t)off, ")");
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
		return PRISM_ESTORE;
	int rc = 0;
	for (size_t r = 0; rc == 0 && r < n; r++) {
		sqlite3_reset(st);
		for (size_t c = 0; c < nc; c++) {
			const char *x = v[r * nc + c];
			if (x == NULL)
				sqlite3_bind_null(st, (int)c + 1);
			else if ((t->binary >> c) & 1) {
				if (!bind_hex(st, (int)c + 1, x))
					rc = PRISM_EINVAL;
			} else {
				/* the column's affinity makes "12" an integer where one belongs */
				sqlite3_bind_text(st, (int)c + 1, x, -1, SQLITE_STATIC);
			}
		}
		int step = rc == 0 ? sqlite3_step(st) : SQLITE_DONE;
		if (step == SQLITE_CONSTRAINT)
			rc = PRISM_ECONFLICT;
		else if (step != SQLITE_DONE)
			rc = PRISM_ESTORE;
	}
	sqlite3_finalize(st);
	return rc;
}

static int sq_copy_count(struct prism_store *s, const struct prism_copy_table *t, int64_t *n)
{
	char sql[SQL_MAX];
	sqlite3_stmt *st;
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", t->name);
	if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
		return PRISM_ESTORE;
	int rc = sqlite3_step(st);
	*n = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 0 : PRISM_ESTORE;
}

static int sq_copy_clear(struct prism_store *s, const struct prism_copy_table *t)
{
	char sql[SQL_MAX];
	snprintf(sql, sizeof(sql), "DELETE FROM %s", t->name);
	return sqlite3_exec(s->db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : PRISM_ESTORE;
}

static int sq_copy_done(struct prism_store *s)
{
	/* INTEGER PRIMARY KEY: the next id follows the largest. The last registration time
	 * is kept in meta by the writer: the copied hosts'. Hosts are counted by the
	 * statements that insert them, not by a trigger (migration 13): the copied ones here */
	return sq_exec(s, SQ_LAST_SEEN_FROM_HOSTS ";" SQ_RECOUNT_HOSTS);
}

const struct prism_store_copy_api prism_sqlite_copy = {
	.out = sq_copy_out,
	.in = sq_copy_in,
	.count = sq_copy_count,
	.clear = sq_copy_clear,
	.done = sq_copy_done,
};
