/* SPDX-License-Identifier: MIT */
/*
 * Every error text built here ends up in a JSON response, and jansson refuses strings that
 * are not valid UTF-8. Parts of the texts come from the peer (a version, a type) or from
 * jansson (which cuts its messages at a fixed size), and truncation to the caller's buffer
 * can split a character, so each message is cut back to its longest valid UTF-8 prefix.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/agent_msg.h"
#include "core/error.h"
#include "core/frame.h"
#include "core/jw.h"
#include "core/timefmt.h"

#define PROTO_VERSION "1.0"
#define MSG_TYPE      "registration"
#define ERR_DECODE    "Protocol error: Message decoding failed: "
#define ERR_INVALID   "Invalid message: "
#define REASON_MAX    128

/* Length of one well-formed UTF-8 sequence at @p s (RFC 3629: no overlong forms, no
 * surrogates, nothing above U+10FFFF), or 0. */
static size_t utf8_seq(const uint8_t *s, size_t len)
{
	uint8_t c = s[0], lo = 0x80, hi = 0xbf;
	size_t n;
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4;
	else
		return 0;
	if (c == 0xe0)
		lo = 0xa0;
	else if (c == 0xed)
		hi = 0x9f;
	else if (c == 0xf0)
		lo = 0x90;
	else if (c == 0xf4)
		hi = 0x8f;
	if (len < n || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	return n;
}

/* Length of the longest valid UTF-8 prefix (== len when all of it is valid). */
static size_t utf8_valid_prefix(const uint8_t *s, size_t len)
{
	size_t i = 0;
	while (i < len) {
		if (s[i] < 0x80) { /* ASCII, nearly all of every frame: no call per byte */
			i++;
			continue;
		}
		size_t n = utf8_seq(s + i, len - i);
		if (n == 0)
			break;
		i += n;
	}
	return i;
}

static void utf8_trim(char *s)
{
	s[utf8_valid_prefix((const uint8_t *)s, strlen(s))] = '\0';
}

__attribute__((format(printf, 4, 5))) static int set_err(char *buf, size_t len, int code,
							 const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
	utf8_trim(buf);
	return code;
}

/* UTF-8 and JSON decoding; any JSON value is taken, the caller checks for an object. */
static int decode(const uint8_t *payload, size_t len, json_t **root, char *err, size_t errlen)
{
	if (len == 0)
		return set_err(err, errlen, PRISM_EPROTO, ERR_DECODE "empty message");
	size_t valid = utf8_valid_prefix(payload, len);
	if (valid < len)
		return set_err(err, errlen, PRISM_EPROTO, ERR_DECODE "invalid UTF-8 at byte %zu",
			       valid);
	json_error_t e;
	*root = json_loadb((const char *)payload, len, JSON_DECODE_ANY, &e);
	if (*root != NULL)
		return 0;
	if (json_error_code(&e) == json_error_out_of_memory)
		return set_err(err, errlen, PRISM_EPROTO, ERR_DECODE "out of memory");
	utf8_trim(e.text);
	return set_err(err, errlen, PRISM_EPROTO,
		       ERR_DECODE "invalid JSON: %s at line %d column %d", e.text, e.line,
		       e.column);
}

static const char *const required[] = {"version", "type", "timestamp", "hostname"};
#define NREQUIRED (sizeof(required) / sizeof(required[0]))

/* All required fields present, then all of them strings, each checked in table order. */
static int check_fields(json_t *root, char *err, size_t errlen)
{
	for (size_t i = 0; i < NREQUIRED; i++)
		if (json_object_get(root, required[i]) == NULL)
			return set_err(err, errlen, PRISM_EMSG,
				       ERR_INVALID "Missing required field: %s", required[i]);
	for (size_t i = 0; i < NREQUIRED; i++)
		if (!json_is_string(json_object_get(root, required[i])))
			return set_err(err, errlen, PRISM_EMSG,
				       ERR_INVALID "Field '%s' must be a string", required[i]);
	return 0;
}

static bool str_is(json_t *v, const char *want)
{
	return json_string_length(v) == strlen(want) && strcmp(json_string_value(v), want) == 0;
}

static int check_values(json_t *root, struct prism_agent_req *req, char *err, size_t errlen)
{
	json_t *version = json_object_get(root, "version");
	json_t *type = json_object_get(root, "type");
	json_t *ts = json_object_get(root, "timestamp");
	json_t *host = json_object_get(root, "hostname");
	char reason[REASON_MAX];

	if (!str_is(version, PROTO_VERSION))
		return set_err(err, errlen, PRISM_EMSG, ERR_INVALID "Unsupported version: %s",
			       json_string_value(version));
	if (!str_is(type, MSG_TYPE))
		return set_err(err, errlen, PRISM_EMSG, ERR_INVALID "Unsupported message type: %s",
			       json_string_value(type));
	if (prism_iso8601_check(json_string_value(ts), json_string_length(ts), reason,
				sizeof(reason)) != 0)
		return set_err(err, errlen, PRISM_EMSG, ERR_INVALID "Invalid timestamp: %s",
			       reason);
	/* the raw text is checked, so the reason names the character the agent sent */
	if (prism_hostname_check(json_string_value(host), json_string_length(host), reason,
				 sizeof(reason)) != 0)
		return set_err(err, errlen, PRISM_EMSG, ERR_INVALID "Invalid hostname: %s",
			       reason);
	return prism_name_lower(json_string_value(host), json_string_length(host), req->hostname,
				sizeof(req->hostname));
}

/* auth_token: absent, null and "" all mean no token; an over-long token is not an error
 * here (no such token can exist, the caller answers token_not_found). */
static int take_token(json_t *root, struct prism_agent_req *req, char *err, size_t errlen)
{
	json_t *tok = json_object_get(root, "auth_token");
	if (tok == NULL || json_is_null(tok))
		return 0;
	if (!json_is_string(tok))
		return set_err(err, errlen, PRISM_EMSG,
			       ERR_INVALID "Field 'auth_token' must be a string");
	size_t len = json_string_length(tok);
	if (len == 0)
		return 0;
	req->has_token = true;
	if (len > PRISM_TOKEN_MAX) {
		req->token_too_long = true;
		return 0;
	}
	memcpy(req->token, json_string_value(tok), len + 1);
	return 0;
}

/*
 * The fast path: the message every agent sends is one flat object of plain strings. It is
 * scanned in place, without building a JSON tree. Anything outside that shape (an escape,
 * a number, nesting, a key given twice, a control character, trailing data) or any failed
 * check goes to the jansson path, which decides and words every error: both paths accept
 * exactly the same messages with the same result (the agent fuzz target compares them).
 */
enum { F_VERSION, F_TYPE, F_TIMESTAMP, F_HOSTNAME, F_TOKEN, F_COUNT };

struct flat {
	const char *v[F_COUNT];
	size_t n[F_COUNT];
	bool seen[F_COUNT];
	bool token_null;
};

static const char *const flat_keys[F_COUNT] = {
	"version", "type", "timestamp", "hostname", "auth_token",
};

static size_t skip_ws(const uint8_t *p, size_t i, size_t len)
{
	while (i < len && (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' || p[i] == '\r'))
		i++;
	return i;
}

/* A string without escapes or control characters starting at p[i] == '"'; its bytes are
 * p[*start, *end). Returns the index after the closing quote, or 0. */
static size_t plain_string(const uint8_t *p, size_t i, size_t len, size_t *start, size_t *end)
{
	if (i >= len || p[i] != '"')
		return 0;
	size_t j = ++i;
	while (j < len && p[j] != '"' && p[j] != '\\' && p[j] >= 0x20)
		j++;
	if (j >= len || p[j] != '"')
		return 0;
	*start = i;
	*end = j;
	return j + 1;
}

static bool fast_scan(const uint8_t *p, size_t len, struct flat *f)
{
	memset(f, 0, sizeof(*f));
	size_t i = skip_ws(p, 0, len);
	if (i >= len || p[i] != '{')
		return false;
	for (size_t fields = 0; fields < 64; fields++) {
		size_t ks, ke, vs = 0, ve = 0;
		i = skip_ws(p, i + 1, len);
		if ((i = plain_string(p, i, len, &ks, &ke)) == 0)
			return false;
		i = skip_ws(p, i, len);
		if (i >= len || p[i] != ':')
			return false;
		i = skip_ws(p, i + 1, len);
		bool null = len - i >= 4 && memcmp(p + i, "null", 4) == 0;
		if (null)
			i += 4;
		else if ((i = plain_string(p, i, len, &vs, &ve)) == 0)
			return false;
		int k = F_COUNT;
		for (int x = 0; x < F_COUNT; x++)
			if (strlen(flat_keys[x]) == ke - ks &&
			    memcmp(flat_keys[x], p + ks, ke - ks) == 0)
				k = x;
		if (k < F_COUNT) {
			if (f->seen[k] || (null && k != F_TOKEN))
				return false;
			f->seen[k] = true;
			f->v[k] = (const char *)p + vs;
			f->n[k] = ve - vs;
			f->token_null = null && k == F_TOKEN;
		}
		i = skip_ws(p, i, len);
		if (i < len && p[i] == '}')
			return skip_ws(p, i + 1, len) == len;
		if (i >= len || p[i] != ',')
			return false;
	}
	return false;
}

static bool flat_is(const struct flat *f, int k, const char *want)
{
	return f->n[k] == strlen(want) && memcmp(f->v[k], want, f->n[k]) == 0;
}

/* The checks of check_values and take_token on a scanned message; false: let jansson say. */
static bool fast_values(const struct flat *f, struct prism_agent_req *req)
{
	for (int k = 0; k < F_TOKEN; k++)
		if (!f->seen[k])
			return false;
	if (!flat_is(f, F_VERSION, PROTO_VERSION) || !flat_is(f, F_TYPE, MSG_TYPE) ||
	    prism_iso8601_check(f->v[F_TIMESTAMP], f->n[F_TIMESTAMP], NULL, 0) != 0 ||
	    prism_hostname_check(f->v[F_HOSTNAME], f->n[F_HOSTNAME], NULL, 0) != 0 ||
	    prism_name_lower(f->v[F_HOSTNAME], f->n[F_HOSTNAME], req->hostname,
			     sizeof(req->hostname)) != 0)
		return false;
	size_t n = f->seen[F_TOKEN] && !f->token_null ? f->n[F_TOKEN] : 0;
	if (n == 0)
		return true;
	req->has_token = true;
	if (n > PRISM_TOKEN_MAX) {
		req->token_too_long = true;
		return true;
	}
	memcpy(req->token, f->v[F_TOKEN], n);
	req->token[n] = '\0';
	return true;
}

int prism_agent_parse(const uint8_t *payload, size_t len, struct prism_agent_req *req,
		      char *errmsg, size_t errmsg_len)
{
	if (payload == NULL || req == NULL || errmsg == NULL || errmsg_len == 0)
		return PRISM_EINVAL;
	memset(req, 0, sizeof(*req));
	errmsg[0] = '\0';
	struct flat f;
	if (len > 0 && utf8_valid_prefix(payload, len) == len && fast_scan(payload, len, &f) &&
	    fast_values(&f, req))
		return 0;
	memset(req, 0, sizeof(*req));
	return prism_agent_parse_reference(payload, len, req, errmsg, errmsg_len);
}

int prism_agent_parse_reference(const uint8_t *payload, size_t len, struct prism_agent_req *req,
				char *errmsg, size_t errmsg_len)
{
	if (payload == NULL || req == NULL || errmsg == NULL || errmsg_len == 0)
		return PRISM_EINVAL;
	memset(req, 0, sizeof(*req));
	errmsg[0] = '\0';

	json_t *root = NULL;
	int ret = decode(payload, len, &root, errmsg, errmsg_len);
	if (ret != 0)
		return ret;
	if (!json_is_object(root))
		ret = set_err(errmsg, errmsg_len, PRISM_EPROTO,
			      "Protocol error: Message must be a JSON object");
	if (ret == 0)
		ret = check_fields(root, errmsg, errmsg_len);
	if (ret == 0)
		ret = check_values(root, req, errmsg, errmsg_len);
	if (ret == 0)
		ret = take_token(root, req, errmsg, errmsg_len);
	json_decref(root);
	if (ret != 0)
		memset(req, 0, sizeof(*req));
	return ret;
}

int prism_agent_err_too_large(uint32_t declared, char *errmsg, size_t errmsg_len)
{
	if (errmsg == NULL || errmsg_len == 0)
		return PRISM_EINVAL;
	return set_err(errmsg, errmsg_len, PRISM_EPROTO,
		       "Protocol error: Message too large: %" PRIu32 " > %u", declared,
		       PRISM_FRAME_MAX);
}

/* Responses are written with core/jw.h, not through jansson: this runs once per
 * registration on the agent port's hot path. Keys come out in the order below. */
int prism_agent_resp_encode(const struct prism_agent_resp *resp, uint8_t **out, size_t *outlen)
{
	if (resp == NULL || resp->message == NULL || out == NULL || outlen == NULL)
		return PRISM_EINVAL;
	char ts[40];
	if (prism_time_format(resp->now_usec, ts, sizeof(ts)) != 0)
		return PRISM_EINVAL;
	const char *const kv[][2] = {
		{"version", PROTO_VERSION},
		{"type", "response"},
		{"status", resp->success ? "success" : "error"},
		{"message", resp->message},
		{"timestamp", ts},
		{"result", resp->result},
		{"hostname", resp->hostname},
		{"ip", resp->ip},
		{"fqdn", resp->fqdn},
		{"code", resp->code},
	};
	for (size_t i = 0; i < sizeof(kv) / sizeof(kv[0]); i++) {
		size_t len = kv[i][1] ? strlen(kv[i][1]) : 0;
		if (kv[i][1] != NULL && utf8_valid_prefix((const uint8_t *)kv[i][1], len) != len)
			return PRISM_EINVAL;
	}
	char stack[1024]; /* an answer is a few hundred bytes: no allocation for the text */
	struct jw w;
	jw_init_buf(&w, stack, sizeof(stack));
	jw_obj(&w);
	for (size_t i = 0; i < sizeof(kv) / sizeof(kv[0]); i++)
		if (kv[i][1] != NULL)
			jw_kstr(&w, kv[i][0], kv[i][1]);
	jw_end_obj(&w);
	int ret = PRISM_ENOMEM;
	if (jw_text(&w) != NULL)
		ret = w.len > PRISM_FRAME_MAX ? PRISM_EINVAL
					      : prism_frame_encode(w.buf, w.len, out, outlen);
	jw_free(&w);
	return ret;
}
