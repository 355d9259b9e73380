/* SPDX-License-Identifier: MIT */
/* Prism's notification trigger on Kea's hosts table (kea_trigger.h): blocking libpq. */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/conffile.h"
#include "core/config.h"
#include "core/kea.h"
#include "sources/kea_trigger.h"

/* libpq's messages end with a newline: one line of @p text into @p err. */
static void set_err(char *err, size_t errlen, const char *what, const char *text)
{
	size_t n = strcspn(text, "\n");
	snprintf(err, errlen, "%s%.*s", what, (int)n, text);
}

/* One statement (or several) in a transaction; the refusal goes to @p err. */
static int exec_tx(PGconn *conn, const char *sql, char *err, size_t errlen)
{
	PGresult *r = PQexec(conn, "BEGIN");
	bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
	PQclear(r);
	if (ok) {
		r = PQexec(conn, sql);
		ok = PQresultStatus(r) == PGRES_COMMAND_OK;
		if (!ok)
			set_err(err, errlen, "", PQresultErrorMessage(r));
		PQclear(r);
	} else {
		set_err(err, errlen, "", PQerrorMessage(conn));
	}
	r = PQexec(conn, ok ? "COMMIT" : "ROLLBACK");
	if (ok && PQresultStatus(r) != PGRES_COMMAND_OK) {
		set_err(err, errlen, "", PQresultErrorMessage(r));
		ok = false;
	}
	PQclear(r);
	return ok ? 0 : -1;
}

static long count_triggers(PGconn *conn)
{
	PGresult *r = PQexec(conn, prism_kea_trigger_count_sql());
	long n = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1
			 ? strtol(PQgetvalue(r, 0, 0), NULL, 10)
			 : -1;
	PQclear(r);
	return n;
}

static PGconn *connect_db(const struct prism_config *cfg, const char *conninfo, char *err,
			  size_t errlen)
{
	if (conninfo != NULL) {
		const char *k1[] = {"dbname", "application_name", NULL};
		const char *v1[] = {conninfo, "prism kea", NULL};
		return PQconnectdbParams(k1, v1, 1);
	}
	char **keys, **vals;
	if (prism_kea_pg_params(cfg, "prism kea", &keys, &vals, err, errlen) != 0)
		return NULL;
	PGconn *conn = PQconnectdbParams((const char *const *)keys, (const char *const *)vals, 1);
	prism_kea_pg_params_free(keys, vals);
	return conn;
}

enum prism_kea_trigger_status prism_kea_trigger_apply(const struct prism_config *cfg,
						      const char *conninfo, bool uninstall,
						      struct prism_kea_trigger_out *out, char *err,
						      size_t errlen)
{
	char sql[4096];
	*out = (struct prism_kea_trigger_out){.found = -1};
	if (prism_kea_trigger_sql(cfg->kea_reservations_channel, sql, sizeof(sql)) != 0) {
		snprintf(err, errlen, "kea.reservations.channel is invalid");
		return PRISM_KEA_TRIGGER_BADCONFIG;
	}
	PGconn *conn = connect_db(cfg, conninfo, err, errlen);
	if (conn == NULL)
		return PRISM_KEA_TRIGGER_BADCONFIG;
	if (PQstatus(conn) != CONNECTION_OK) {
		set_err(err, errlen, "cannot connect (", PQerrorMessage(conn));
		snprintf(err + strlen(err), errlen - strlen(err), ")");
		PQfinish(conn);
		return PRISM_KEA_TRIGGER_UNREACHABLE;
	}
	snprintf(out->db, sizeof(out->db), "%s", PQdb(conn));
	enum prism_kea_trigger_status st = PRISM_KEA_TRIGGER_DONE;
	if (exec_tx(conn, uninstall ? prism_kea_uninstall_sql() : sql, err, errlen) != 0) {
		st = PRISM_KEA_TRIGGER_REFUSED;
	} else {
		out->found = count_triggers(conn);
		if (out->found != (uninstall ? 0 : PRISM_KEA_TRIGGERS)) {
			snprintf(err, errlen,
				 "the triggers did not come out as expected (%ld found)",
				 out->found);
			st = PRISM_KEA_TRIGGER_UNEXPECTED;
		}
	}
	PQfinish(conn);
	return st;
}
