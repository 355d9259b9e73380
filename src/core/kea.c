/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <ctype.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/kea.h"

/* The function reads the row (OLD for a DELETE) and sends it; RETURN NULL: an AFTER
 * trigger's result is ignored. A change of ipv6_reservations names its host (both hosts
 * when a reservation moves). The channel is an identifier checked by the caller, so it can
 * stand inside the quoted literal. */
static const char trigger_fmt[] =
	"CREATE OR REPLACE FUNCTION " PRISM_KEA_FUNCTION "() RETURNS trigger "
	"LANGUAGE plpgsql AS $prism$\n"
	"DECLARE r record;\n"
	"BEGIN\n"
	"  IF TG_OP = 'TRUNCATE' THEN\n"
	"    PERFORM pg_notify('%1$s', '{\"op\":\"TRUNCATE\"}');\n"
	"    RETURN NULL;\n"
	"  END IF;\n"
	"  IF TG_OP = 'DELETE' THEN r := OLD; ELSE r := NEW; END IF;\n"
	"  IF TG_TABLE_NAME = 'ipv6_reservations' THEN\n"
	"    PERFORM pg_notify('%1$s', json_build_object('op', TG_OP, 'id', r.host_id,\n"
	"      'table', TG_TABLE_NAME)::text);\n"
	"    IF TG_OP = 'UPDATE' AND OLD.host_id <> NEW.host_id THEN\n"
	"      PERFORM pg_notify('%1$s', json_build_object('op', TG_OP, 'id', OLD.host_id,\n"
	"        'table', TG_TABLE_NAME)::text);\n"
	"    END IF;\n"
	"    RETURN NULL;\n"
	"  END IF;\n"
	"  PERFORM pg_notify('%1$s', json_build_object('op', TG_OP, 'id', r.host_id,\n"
	"    'hostname', r.hostname, 'ipv4', r.ipv4_address)::text);\n"
	"  RETURN NULL;\n"
	"END\n"
	"$prism$;\n"
	"DROP TRIGGER IF EXISTS " PRISM_KEA_TRIGGER " ON hosts;\n"
	"DROP TRIGGER IF EXISTS " PRISM_KEA_TRUNCATE_TRIGGER " ON hosts;\n"
	"DROP TRIGGER IF EXISTS " PRISM_KEA_V6_TRIGGER " ON ipv6_reservations;\n"
	"DROP TRIGGER IF EXISTS " PRISM_KEA_V6_TRUNCATE_TRIGGER " ON ipv6_reservations;\n"
	"CREATE TRIGGER " PRISM_KEA_TRIGGER " AFTER INSERT OR UPDATE OR DELETE ON hosts "
	"FOR EACH ROW EXECUTE FUNCTION " PRISM_KEA_FUNCTION "();\n"
	"CREATE TRIGGER " PRISM_KEA_TRUNCATE_TRIGGER " AFTER TRUNCATE ON hosts "
	"FOR EACH STATEMENT EXECUTE FUNCTION " PRISM_KEA_FUNCTION "();\n"
	"CREATE TRIGGER " PRISM_KEA_V6_TRIGGER " AFTER INSERT OR UPDATE OR DELETE ON "
	"ipv6_reservations FOR EACH ROW EXECUTE FUNCTION " PRISM_KEA_FUNCTION "();\n"
	"CREATE TRIGGER " PRISM_KEA_V6_TRUNCATE_TRIGGER " AFTER TRUNCATE ON ipv6_reservations "
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
	int n = snprintf(buf, len, trigger_fmt, channel);
	return n >= 0 && (size_t)n < len ? 0 : PRISM_ETOOBIG;
}

const char *prism_kea_uninstall_sql(void)
{
	return "DROP TRIGGER IF EXISTS " PRISM_KEA_TRIGGER " ON hosts;\n"
	       "DROP TRIGGER IF EXISTS " PRISM_KEA_TRUNCATE_TRIGGER " ON hosts;\n"
	       "DROP TRIGGER IF EXISTS " PRISM_KEA_V6_TRIGGER " ON ipv6_reservations;\n"
	       "DROP TRIGGER IF EXISTS " PRISM_KEA_V6_TRUNCATE_TRIGGER " ON ipv6_reservations;\n"
	       "DROP FUNCTION IF EXISTS " PRISM_KEA_FUNCTION "();\n";
}

const char *prism_kea_trigger_count_sql(void)
{
	return "SELECT count(*) FROM pg_trigger WHERE (tgrelid = 'hosts'::regclass AND tgname IN "
	       "('" PRISM_KEA_TRIGGER "', '" PRISM_KEA_TRUNCATE_TRIGGER "')) OR "
	       "(tgrelid = 'ipv6_reservations'::regclass AND tgname IN "
	       "('" PRISM_KEA_V6_TRIGGER "', '" PRISM_KEA_V6_TRUNCATE_TRIGGER "'))";
}

/* A reservation's columns: its first IPv6 reservation of type address (0; 2 is a
 * prefix), as text (a varchar in Kea's schema 13, inet later) */
#define KEA_COLUMNS                                                                               \
	"SELECT h.host_id, h.hostname, h.ipv4_address, (SELECT r.address::text FROM "             \
	"ipv6_reservations r WHERE r.host_id = h.host_id AND r.type = 0 "                         \
	"ORDER BY r.reservation_id LIMIT 1) FROM hosts h "

const char *prism_kea_select_sql(void)
{
	return KEA_COLUMNS "WHERE h.hostname IS NOT NULL AND h.hostname <> '' AND "
			   "((h.ipv4_address IS NOT NULL AND h.ipv4_address <> 0) OR EXISTS "
			   "(SELECT 1 FROM ipv6_reservations r WHERE r.host_id = h.host_id AND "
			   "r.type = 0)) ORDER BY h.host_id";
}

const char *prism_kea_lookup_sql(void)
{
	return KEA_COLUMNS "WHERE h.host_id = ANY($1::bigint[]) OR h.dhcp_identifier IN "
			   "(SELECT decode(x, 'hex') FROM unnest($2::text[]) x)";
}

static bool is_hex(const char *s)
{
	for (; *s; s++)
		if (!isxdigit((unsigned char)*s))
			return false;
	return true;
}

char *prism_kea_array_literal(const int64_t *ints, const char *const *hex, size_t n)
{
	size_t len = 3;
	for (size_t i = 0; i < n; i++) {
		if (hex != NULL && (hex[i] == NULL || !is_hex(hex[i])))
			return NULL;
		len += (hex != NULL ? strlen(hex[i]) : 20) + 1;
	}
	char *out = malloc(len), *p = out;
	if (out == NULL)
		return NULL;
	*p++ = '{';
	for (size_t i = 0; i < n; i++) {
		size_t room = len - (size_t)(p - out);
		int w = hex != NULL ? snprintf(p, room, "%s%s", i ? "," : "", hex[i])
				    : snprintf(p, room, "%s%" PRId64, i ? "," : "", ints[i]);
		p += w;
	}
	*p++ = '}';
	*p = '\0';
	return out;
}

int prism_kea_ipv6(const char *in, char *out, size_t outlen)
{
	unsigned char a[16];
	if (in == NULL || out == NULL || inet_pton(AF_INET6, in, a) != 1)
		return PRISM_EINVAL;
	return inet_ntop(AF_INET6, a, out, (socklen_t)outlen) ? 0 : PRISM_ETOOBIG;
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

__attribute__((format(printf, 3, 4))) static int bad(char *reason, size_t len, const char *fmt,
						     ...)
{
	if (reason != NULL && len > 0) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(reason, len, fmt, ap);
		va_end(ap);
	}
	return PRISM_EMSG;
}

static int take_op(json_t *root, const char *key, struct prism_kea_notify *n, char *reason,
		   size_t rl)
{
	static const char *const ops[] = {"INSERT", "UPDATE", "DELETE", "TRUNCATE"};
	const char *op = json_string_value(json_object_get(root, key));
	if (op == NULL)
		return bad(reason, rl, "missing %s", key);
	for (int i = 0; i < 4; i++)
		if (strcmp(op, ops[i]) == 0) {
			n->op = i;
			return 0;
		}
	return bad(reason, rl, "unknown op");
}

static int take_fields(json_t *root, const char *ipkey, struct prism_kea_notify *n, char *reason,
		       size_t rl)
{
	json_t *host = json_object_get(root, "hostname");
	json_t *ip = json_object_get(root, ipkey);
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
			return bad(reason, rl, "%s must be an integer", ipkey);
		n->ipv4 = json_integer_value(ip);
		n->has_ipv4 = true;
	}
	return 0;
}

/* Prism's trigger: the row's host_id (and its fields, when it is a row of hosts) */
static int take_row(json_t *root, struct prism_kea_notify *n, char *reason, size_t rl)
{
	json_t *id = json_object_get(root, "id");
	if (!json_is_integer(id) || json_integer_value(id) < 0)
		return bad(reason, rl, "id must be a non-negative integer");
	n->id = json_integer_value(id);
	return take_fields(root, "ipv4", n, reason, rl);
}

/* The Kea service's trigger: {"operation": TG_OP, "hostname", "ipv4_address",
 * "dhcp_identifier": "<hex>"}, the row after an INSERT or UPDATE */
static int take_service(json_t *root, struct prism_kea_notify *n, char *reason, size_t rl)
{
	n->kea_service = true;
	int rc = take_op(root, "operation", n, reason, rl);
	if (rc != 0 || n->op == PRISM_KEA_TRUNCATE)
		return rc;
	json_t *ident = json_object_get(root, "dhcp_identifier");
	const char *hex = json_string_value(ident);
	size_t hl = json_string_length(ident);
	if (hex == NULL || hl == 0 || hl > PRISM_KEA_IDENT_MAX || hl % 2 != 0 ||
	    strlen(hex) != hl || !is_hex(hex))
		return bad(reason, rl,
			   "dhcp_identifier must be an even number of hex digits "
			   "(at most %d)",
			   PRISM_KEA_IDENT_MAX);
	for (size_t i = 0; i <= hl; i++)
		n->identifier[i] = (char)tolower((unsigned char)hex[i]);
	return take_fields(root, "ipv4_address", n, reason, rl);
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
	int rc = json_object_get(root, "operation") != NULL
			 ? take_service(root, out, reason, reason_len)
			 : take_op(root, "op", out, reason, reason_len);
	if (rc == 0 && !out->kea_service && out->op != PRISM_KEA_TRUNCATE)
		rc = take_row(root, out, reason, reason_len);
	json_decref(root);
	return rc;
}
