/* SPDX-License-Identifier: MIT */
#include <ctype.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "core/kea.h"

/* The function reads the row (OLD for a DELETE) and sends it; RETURN NULL: an AFTER
 * trigger's result is ignored. The channel is an identifier checked by the caller, so it
 * can stand inside the quoted literal. */
static const char trigger_fmt[] =
	"CREATE OR REPLACE FUNCTION " PRISM_KEA_FUNCTION "() RETURNS trigger "
	"LANGUAGE plpgsql AS $prism$\n"
	"DECLARE r record;\n"
	"BEGIN\n"
	"  IF TG_OP = 'TRUNCATE' THEN\n"
	"    PERFORM pg_notify('%s', '{\"op\":\"TRUNCATE\"}');\n"
	"    RETURN NULL;\n"
	"  END IF;\n"
	"  IF TG_OP = 'DELETE' THEN r := OLD; ELSE r := NEW; END IF;\n"
	"  PERFORM pg_notify('%s', json_build_object('op', TG_OP, 'id', r.host_id,\n"
	"    'hostname', r.hostname, 'ipv4', r.ipv4_address)::text);\n"
	"  RETURN NULL;\n"
	"END\n"
	"$prism$;\n"
	"DROP TRIGGER IF EXISTS " PRISM_KEA_TRIGGER " ON hosts;\n"
	"DROP TRIGGER IF EXISTS " PRISM_KEA_TRUNCATE_TRIGGER " ON hosts;\n"
	"CREATE TRIGGER " PRISM_KEA_TRIGGER " AFTER INSERT OR UPDATE OR DELETE ON hosts "
	"FOR EACH ROW EXECUTE FUNCTION " PRISM_KEA_FUNCTION "();\n"
	"CREATE TRIGGER " PRISM_KEA_TRUNCATE_TRIGGER " AFTER TRUNCATE ON hosts "
	"FOR EACH STATEMENT EXECUTE FUNCTION " PRISM_KEA_FUNCTION "();\n";

static bool identifier(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (n == 0 || n > 63 || !(islower((unsigned char)s[0]) || s[0] == '_'))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!islower((unsigned char)s[i]) && !isdigit((unsigned char)s[i]) && s[i] != '_')
			return false;
	return true;
}

int prism_kea_trigger_sql(const char *channel, char *buf, size_t len)
{
	if (!identifier(channel) || buf == NULL)
		return PRISM_EINVAL;
	int n = snprintf(buf, len, trigger_fmt, channel, channel);
	return n >= 0 && (size_t)n < len ? 0 : PRISM_ETOOBIG;
}

const char *prism_kea_uninstall_sql(void)
{
	return "DROP TRIGGER IF EXISTS " PRISM_KEA_TRIGGER " ON hosts;\n"
	       "DROP TRIGGER IF EXISTS " PRISM_KEA_TRUNCATE_TRIGGER " ON hosts;\n"
	       "DROP FUNCTION IF EXISTS " PRISM_KEA_FUNCTION "();\n";
}

const char *prism_kea_trigger_count_sql(void)
{
	return "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'hosts'::regclass AND tgname IN "
	       "('" PRISM_KEA_TRIGGER "', '" PRISM_KEA_TRUNCATE_TRIGGER "')";
}

const char *prism_kea_select_sql(void)
{
	return "SELECT host_id, hostname, ipv4_address FROM hosts WHERE ipv4_address IS NOT NULL "
	       "AND hostname IS NOT NULL AND hostname <> '' ORDER BY host_id";
}

int prism_kea_ipv4(int64_t v, char *out, size_t outlen)
{
	if (out == NULL || v < 0 || v > 0xffffffffLL)
		return PRISM_EINVAL;
	uint32_t a = (uint32_t)v;
	int n = snprintf(out, outlen, "%u.%u.%u.%u", a >> 24, (a >> 16) & 255, (a >> 8) & 255,
			 a & 255);
	return n > 0 && (size_t)n < outlen ? 0 : PRISM_ETOOBIG;
}

__attribute__((format(printf, 3, 4)))
static int bad(char *reason, size_t len, const char *fmt, ...)
{
	if (reason != NULL && len > 0) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(reason, len, fmt, ap);
		va_end(ap);
	}
	return PRISM_EMSG;
}

static int take_op(json_t *root, struct prism_kea_notify *n, char *reason, size_t rl)
{
	static const char *const ops[] = { "INSERT", "UPDATE", "DELETE", "TRUNCATE" };
	const char *op = json_string_value(json_object_get(root, "op"));
	if (op == NULL)
		return bad(reason, rl, "missing op");
	for (int i = 0; i < 4; i++)
		if (strcmp(op, ops[i]) == 0) {
			n->op = i;
			return 0;
		}
	return bad(reason, rl, "unknown op");
}

static int take_row(json_t *root, struct prism_kea_notify *n, char *reason, size_t rl)
{
	json_t *id = json_object_get(root, "id");
	json_t *host = json_object_get(root, "hostname");
	json_t *ip = json_object_get(root, "ipv4");
	if (!json_is_integer(id) || json_integer_value(id) < 0)
		return bad(reason, rl, "id must be a non-negative integer");
	n->id = json_integer_value(id);
	if (host != NULL && !json_is_null(host)) {
		size_t hl = json_string_length(host);
		if (!json_is_string(host) || hl >= sizeof(n->hostname) ||
		    strlen(json_string_value(host)) != hl)
			return bad(reason, rl, "hostname must be a string of at most 255 bytes");
		memcpy(n->hostname, json_string_value(host), hl + 1);
		n->has_hostname = true;
	}
	if (ip != NULL && !json_is_null(ip)) {
		if (!json_is_integer(ip))
			return bad(reason, rl, "ipv4 must be an integer");
		n->ipv4 = json_integer_value(ip);
		n->has_ipv4 = true;
	}
	return 0;
}

int prism_kea_notify_parse(const char *payload, size_t len, struct prism_kea_notify *out,
			   char *reason, size_t reason_len)
{
	if (payload == NULL || out == NULL)
		return PRISM_EINVAL;
	memset(out, 0, sizeof(*out));
	json_error_t e;
	json_t *root = json_loadb(payload, len, JSON_REJECT_DUPLICATES, &e);
	if (root == NULL || !json_is_object(root)) {
		json_decref(root);
		return bad(reason, reason_len, "not a JSON object");
	}
	int rc = take_op(root, out, reason, reason_len);
	if (rc == 0 && out->op != PRISM_KEA_TRUNCATE)
		rc = take_row(root, out, reason, reason_len);
	json_decref(root);
	return rc;
}
