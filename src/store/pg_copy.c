/* SPDX-License-Identifier: MIT */
/*
 * The PostgreSQL backend's side of moving a registry (store.h, struct
 * prism_store_copy_api): rows out in single-row mode (a million hosts never sit in memory
 * at once), rows in through COPY FROM STDIN, one COPY a batch; afterwards the identity
 * columns continue after the largest id copied. Table and column names come from
 * prism_copy_tables only, never from input; these statements are not prepared (their
 * texts are built).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "store/pg_int.h"
#include "store/pg_parts.h"

#define SQL_MAX 1024

static void keep(struct prism_store *s, const PGresult *r)
{
	const char *msg = r != NULL ? PQresultErrorMessage(r) : "";
	snprintf(s->errmsg, sizeof(s->errmsg), "%s",
		 msg && msg[0] ? msg : PQerrorMessage(s->conn));
}

static int simple(struct prism_store *s, const char *sql)
{
	PGresult *r = PQexec(s->conn, sql);
	ExecStatusType st = PQresultStatus(r);
	int rc = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK ? 0 : PRISM_ESTORE;
	if (rc != 0)
		keep(s, r);
	PQclear(r);
	return rc;
}

static int pg_copy_out(struct prism_store *s, const struct prism_copy_table *t,
		       int (*row)(void *ctx, const char *const *v), void *ctx)
{
	char sql[SQL_MAX];
	int n = snprintf(sql, sizeof(sql), "SELECT ");
	for (size_t i = 0; t->cols[i] != NULL; i++)
		n += snprintf(sql + n, sizeof(sql) - (size_t)n,
			      (t->binary >> i) & 1 ? "%sencode(%s, 'hex')" : "%s%s", i ? ", " : "",
			      t->cols[i]);
	snprintf(sql + n, sizeof(sql) - (size_t)n, " FROM %s", t->name);
	if (!PQsendQuery(s->conn, sql) || !PQsetSingleRowMode(s->conn))
		return PRISM_ESTORE;
	int rc = 0, stop = 0;
	PGresult *r;
	const char *v[32];
	while ((r = PQgetResult(s->conn)) != NULL) {
		ExecStatusType st = PQresultStatus(r);
		if (st == PGRES_SINGLE_TUPLE && stop == 0) {
			int nc = PQnfields(r);
			for (int i = 0; i < nc && i < 32; i++)
				v[i] = PQgetisnull(r, 0, i) ? NULL : PQgetvalue(r, 0, i);
			stop = row(ctx, v);
		} else if (st != PGRES_SINGLE_TUPLE && st != PGRES_TUPLES_OK) {
			keep(s, r);
			rc = PRISM_ESTORE;
		}
		PQclear(r); /* read to the end, also after a stop: the connection goes on */
	}
	return stop != 0 ? stop : rc;
}

struct cbuf {
	char *s;
	size_t len, cap;
	bool oom;
};

static void cput(struct cbuf *b, const char *v, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 65536;
		while (b->len + n + 1 > cap)
			cap *= 2;
		char *p = realloc(b->s, cap);
		if (p == NULL) {
			b->oom = true;
			return;
		}
		b->s = p;
		b->cap = cap;
	}
	memcpy(b->s + b->len, v, n);
	b->len += n;
}

/* @p v in COPY's text format: \N for NULL; backslash, tab, newline, CR escaped. */
static void cvalue(struct cbuf *b, const char *v, bool binary)
{
	if (v == NULL) {
		cput(b, "\\N", 2);
		return;
	}
	if (binary)
		cput(b, "\\\\x", 3); /* bytea's hex input, its backslash escaped for COPY */
	for (const char *c = v; *c; c++) {
		const char *e = *c == '\\'   ? "\\\\"
				: *c == '\t' ? "\\t"
				: *c == '\n' ? "\\n"
				: *c == '\r' ? "\\r"
					     : NULL;
		if (e != NULL)
			cput(b, e, 2);
		else
			cput(b, c, 1);
	}
}

static int pg_copy_in(struct prism_store *s, const struct prism_copy_table *t,
		      const char *const *v, size_t n)
{
	char sql[SQL_MAX];
	size_t nc = 0;
	int off = snprintf(sql, sizeof(sql), "COPY %s (", t->name);
	for (; t->cols[nc] != NULL; nc++)
		off += snprintf(sql + off, sizeof(sql) - (size_t)off, "%s%s", nc ? ", " : "",
				t->cols[nc]);
	snprintf(sql + off, sizeof(sql) - (size_t)off, ") FROM STDIN");
	struct cbuf b = {0};
	for (size_t r = 0; r < n; r++) {
		for (size_t c = 0; c < nc; c++) {
			if (c > 0)
				cput(&b, "\t", 1);
			cvalue(&b, v[r * nc + c], (t->binary >> c) & 1);
		}
		cput(&b, "\n", 1);
	}
	if (b.oom) {
		free(b.s);
		return PRISM_ENOMEM;
	}
	PGresult *r = PQexec(s->conn, sql);
	int rc = PQresultStatus(r) == PGRES_COPY_IN ? 0 : PRISM_ESTORE;
	if (rc != 0)
		keep(s, r);
	PQclear(r);
	if (rc == 0 &&
	    (PQputCopyData(s->conn, b.s, (int)b.len) != 1 || PQputCopyEnd(s->conn, NULL) != 1))
		rc = PRISM_ESTORE;
	if (b.s != NULL)
		explicit_bzero(b.s, b.len); /* it may hold the credential key */
	free(b.s);
	while ((r = PQgetResult(s->conn)) != NULL) {
		if (PQresultStatus(r) != PGRES_COMMAND_OK && rc == 0) {
			keep(s, r);
			const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
			rc = state != NULL && strcmp(state, "23505") == 0 ? PRISM_ECONFLICT
									  : PRISM_ESTORE;
		}
		PQclear(r);
	}
	return rc;
}

static int pg_copy_count(struct prism_store *s, const struct prism_copy_table *t, int64_t *n)
{
	char sql[SQL_MAX];
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", t->name);
	PGresult *r = PQexec(s->conn, sql);
	int rc = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 ? 0 : PRISM_ESTORE;
	*n = rc == 0 ? pg_int(r, 0, 0) : 0;
	if (rc != 0)
		keep(s, r);
	PQclear(r);
	return rc;
}

static int pg_copy_clear(struct prism_store *s, const struct prism_copy_table *t)
{
	char sql[SQL_MAX];
	snprintf(sql, sizeof(sql), "DELETE FROM %s", t->name);
	return simple(s, sql);
}

static int pg_copy_done(struct prism_store *s)
{
	/* the identity columns go on after the largest id copied */
	return simple(s, "SELECT setval(pg_get_serial_sequence('hosts', 'id'), "
			 "coalesce((SELECT max(id) FROM hosts), 0) + 1, false);"
			 "SELECT setval(pg_get_serial_sequence('audit', 'id'), "
			 "coalesce((SELECT max(id) FROM audit), 0) + 1, false);"
			 "SELECT setval(pg_get_serial_sequence('source_queue', 'seq'), "
			 "coalesce((SELECT max(seq) FROM source_queue), 0) + 1, false)");
}

const struct prism_store_copy_api prism_pg_copy = {
	.out = pg_copy_out,
	.in = pg_copy_in,
	.count = pg_copy_count,
	.clear = pg_copy_clear,
	.done = pg_copy_done,
};
