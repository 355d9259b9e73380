/* SPDX-License-Identifier: MIT */
/*
 * Fuzz the PowerDNS JSON mapping: prism_pdns_error_message() and the statistics parser
 * (prism_pdns_stats_parse) and the DNS address of a config answer (prism_pdns_dns_address)
 * on the raw input, then a PATCH
 * body built from records split out of the input (one change per line, "name type ttl
 * content..." with fields separated by spaces, no content = DELETE). Any body that is built
 * must be valid JSON with DELETEs before REPLACEs. The input is also read as a zone answer:
 * the in-place fast path of prism_pdns_zone_parse() must give exactly what its jansson
 * reference gives (return code and every RRset).
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/pdns_json.h"
#include "core/rrset.h"

#define MAX_CHANGES 64
#define MAX_FIELDS  16

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_error_message(const uint8_t *data, size_t size)
{
	char small[7], out[512];

	prism_pdns_error_message((const char *)data, size, out, sizeof(out));
	if (strlen(out) >= sizeof(out))
		abort();
	prism_pdns_error_message((const char *)data, size, small, sizeof(small));
	if (strlen(small) >= sizeof(small))
		abort();
}

static void check_body(const char *body, size_t len, size_t n)
{
	json_t *root = json_loadb(body, len, 0, NULL);
	json_t *rrsets = json_object_get(root, "rrsets");
	int seen_replace = 0;

	if (root == NULL || strlen(body) != len || json_array_size(rrsets) != n)
		abort();
	for (size_t i = 0; i < n; i++) {
		const char *ct = json_string_value(
			json_object_get(json_array_get(rrsets, i), "changetype"));
		int is_replace = ct != NULL && strcmp(ct, "REPLACE") == 0;

		if (ct == NULL || (seen_replace && !is_replace))
			abort();
		seen_replace |= is_replace;
	}
	json_decref(root);
}

/* Split one line in place into space-separated fields. */
static size_t split_fields(char *line, char **fields)
{
	size_t n = 0;
	char *save = NULL;

	for (char *f = strtok_r(line, " ", &save); f != NULL && n < MAX_FIELDS;
	     f = strtok_r(NULL, " ", &save))
		fields[n++] = f;
	return n;
}

static void check_patch(const uint8_t *data, size_t size)
{
	struct prism_rr_change changes[MAX_CHANGES];
	char *fields[MAX_CHANGES][MAX_FIELDS];
	char *text = malloc(size + 1), *save = NULL, *body = NULL;
	size_t n = 0, len = 0;

	if (text == NULL)
		return;
	memcpy(text, data, size);
	text[size] = '\0'; /* an embedded NUL just ends the text early */
	for (char *line = strtok_r(text, "\n", &save); line != NULL && n < MAX_CHANGES;
	     line = strtok_r(NULL, "\n", &save)) {
		char **f = fields[n];
		size_t nf = split_fields(line, f);

		if (nf < 2)
			continue;
		changes[n] = (struct prism_rr_change){
			.name = f[0],
			.type = f[1],
			.ttl = nf > 2 ? (uint32_t)strtoul(f[2], NULL, 10) : 0,
			.records = (const char *const *)&f[3],
			.nrecords = nf > 3 ? nf - 3 : 0,
		};
		(void)prism_rrset_hash(&changes[n]);
		n++;
	}
	if (n > 0 && prism_pdns_patch_body(changes, n, "prism", "fuzz", &body, &len) == 0) {
		check_body(body, len, n);
		free(body);
	}
	free(text);
}

/* A zone answer from a target: parsed or refused, never crashing or leaking, and the fast
 * path agrees with the jansson reference in every respect. */
static void check_zone(const uint8_t *data, size_t size)
{
	struct prism_actual_zone z, ref;
	int rc = prism_pdns_zone_parse((const char *)data, size, "prism", &z);
	int ref_rc = prism_pdns_zone_parse_reference((const char *)data, size, "prism", &ref);

	if (rc != ref_rc)
		abort();
	if (rc != 0)
		return;
	if (z.n != ref.n)
		abort();
	for (size_t i = 0; i < z.n; i++) {
		const struct prism_actual_rrset *a = &z.v[i], *b = &ref.v[i];

		if (a->name == NULL || a->type == NULL || strcmp(a->name, b->name) != 0 ||
		    strcmp(a->type, b->type) != 0 || a->ttl != b->ttl || a->hash != b->hash ||
		    a->owned != b->owned)
			abort();
	}
	prism_actual_zone_free(&z);
	prism_actual_zone_free(&ref);
}

/* The statistics: any input, a result or a refusal; the ratio's parts add up. */
static void check_stats(const uint8_t *data, size_t size)
{
	struct prism_pdns_stats st;
	int rc = prism_pdns_stats_parse((const char *)data, size, &st);
	if (rc != 0 && (st.has_uptime || st.has_queries || st.has_cache || st.has_latency))
		abort();
	if (!st.has_cache && (st.cache_hits || st.cache_misses))
		abort();
}

/* The DNS address from a config answer: a result is a bounded "IP:port" string. */
static void check_dns_address(const uint8_t *data, size_t size)
{
	char out[64];
	int rc = prism_pdns_dns_address((const char *)data, size, "http://[::1]:8081/api/v1", out,
					sizeof(out));
	if (strlen(out) >= sizeof(out) || (rc == 0) != (out[0] != '\0'))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_error_message(data, size);
	check_stats(data, size);
	check_dns_address(data, size);
	check_patch(data, size);
	check_zone(data, size);
	return 0;
}
