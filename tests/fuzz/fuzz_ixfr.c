/* SPDX-License-Identifier: MIT */
/* Fuzz the RFC 2136 target's incremental reads: a zone transfer (AXFR) that makes the held
 * copy, then an IXFR answer from the copy's serial (difference sequences, the SOA alone, or
 * a whole zone), applied to the copy, which is then read as the reconciler reads it. The
 * input is one stream of 2-byte-length-prefixed messages: the AXFR's until it is complete,
 * then the IXFR's. Any bytes from the network: never a crash, never a leak. */
#include <stdint.h>
#include <stdlib.h>

#include "core/dnsupdate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct prism_tsig key = {"prism-key", "hmac-sha256",
				      "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3I="};

/* Feed messages to @p x until it is complete or fails. @return its last answer */
static int feed(struct prism_axfr *x, const uint8_t **data, size_t *size)
{
	int rc = 0;
	while (rc == 0 && *size >= 2) {
		size_t n = (size_t)(*data)[0] << 8 | (*data)[1];
		if (n > *size - 2)
			n = *size - 2;
		struct prism_dns_answer ans;
		rc = prism_axfr_feed(x, *data + 2, n, &ans);
		*data += 2 + n;
		*size -= 2 + n;
	}
	return rc;
}

static void read_copy(const struct prism_axfr *c)
{
	struct prism_actual_zone z;
	char **keys = NULL;
	if (prism_axfr_zone(c, "prism", &z, &keys) == 0) {
		prism_actual_zone_free(&z);
		for (char **k = keys; *k != NULL; k++)
			free(*k);
		free(keys);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	/* the ids of the answers in the corpus: 0x1234 (AXFR), 0x1235 (IXFR) */
	const struct prism_tsig *k = (data[0] & 1) ? &key : NULL;
	data++;
	size--;
	struct prism_dns_msg qa, qi = {0};
	if (prism_query_build("fuzz.example.", PRISM_DNSQ_AXFR, k, 0x1234, &qa) != 0)
		return 0;
	struct prism_axfr *copy = prism_axfr_new("fuzz.example.", &qa, k);
	struct prism_axfr *diff = NULL;
	if (copy != NULL && feed(copy, &data, &size) == 1 &&
	    prism_ixfr_query_build("fuzz.example.", prism_axfr_serial(copy), k, 0x1235, &qi) ==
		    0 &&
	    (diff = prism_ixfr_new("fuzz.example.", &qi, k, prism_axfr_serial(copy))) != NULL &&
	    feed(diff, &data, &size) == 1) {
		(void)prism_ixfr_incremental(diff);
		if (prism_ixfr_apply(copy, diff) == 0)
			read_copy(copy);
	}
	prism_axfr_free(diff);
	prism_axfr_free(copy);
	prism_dns_msg_free(&qa);
	prism_dns_msg_free(&qi);
	return 0;
}
