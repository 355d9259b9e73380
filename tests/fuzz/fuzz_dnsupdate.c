/* SPDX-License-Identifier: MIT */
/* Fuzz the RFC 2136 target's readers of server answers: an UPDATE's or SOA query's answer,
 * and a zone transfer (a stream of 2-byte-length-prefixed messages) turned into RRsets with
 * their ownership. Any bytes from the network: never a crash, never a leak. */
#include <stdint.h>
#include <stdlib.h>

#include "core/dnsupdate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct prism_tsig key = {"prism-key", "hmac-sha256",
				      "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3I="};

static void transfer(const struct prism_dns_msg *q, const uint8_t *data, size_t size)
{
	struct prism_axfr *x = prism_axfr_new("fuzz.example.", q, &key);
	if (x == NULL)
		return;
	int rc = 0;
	while (rc == 0 && size >= 2) {
		size_t n = (size_t)data[0] << 8 | data[1];
		if (n > size - 2)
			n = size - 2;
		struct prism_dns_answer ans;
		rc = prism_axfr_feed(x, data + 2, n, &ans);
		data += 2 + n;
		size -= 2 + n;
	}
	if (rc == 1) {
		struct prism_actual_zone z;
		char **keys = NULL;
		if (prism_axfr_zone(x, "prism", &z, &keys) == 0) {
			prism_actual_zone_free(&z);
			for (char **k = keys; *k != NULL; k++)
				free(*k);
			free(keys);
		}
		struct prism_zone_data d;
		if (prism_axfr_records(x, &d) == 0)
			prism_zone_data_free(&d);
	}
	prism_axfr_free(x);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	/* the id of the answers in the corpus: 0x1234 */
	struct prism_dns_msg q;
	bool axfr = data[0] & 1;
	if (prism_query_build("fuzz.example.", axfr ? PRISM_DNSQ_AXFR : PRISM_DNSQ_SOA,
			      (data[0] & 2) ? NULL : &key, 0x1234, &q) != 0)
		return 0;
	if (axfr) {
		transfer(&q, data + 1, size - 1);
	} else {
		struct prism_dns_answer ans;
		(void)prism_answer_read(data + 1, size - 1, &q, "fuzz.example.", &key, &ans);
	}
	prism_dns_msg_free(&q);
	return 0;
}
