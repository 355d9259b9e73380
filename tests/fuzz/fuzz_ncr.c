/* SPDX-License-Identifier: MIT */
/*
 * Fuzz the NameChangeRequest parser with whole datagrams, as the listener receives them.
 * Invariants: an accepted request has a valid lower-case FQDN with its trailing dot, an
 * address that reads back in its family, an upper-case hex DHCID of even length, at least one
 * of forward/reverse; it encodes, and the encoding parses back to the same request. Every
 * reason is one printable line.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/dname.h"
#include "core/error.h"
#include "core/ncr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const struct prism_ncr *n)
{
	size_t len = strlen(n->fqdn);
	unsigned char a[16];
	if (len < 2 || n->fqdn[len - 1] != '.' ||
	    prism_hostname_check(n->fqdn, len - 1, NULL, 0) != 0)
		abort();
	for (size_t i = 0; i < len; i++)
		if (isupper((unsigned char)n->fqdn[i]))
			abort();
	if (inet_pton(n->ipv6 ? AF_INET6 : AF_INET, n->ip, a) != 1)
		abort();
	size_t dl = strlen(n->dhcid);
	if (dl == 0 || dl % 2 != 0 || dl > PRISM_NCR_DHCID_MAX)
		abort();
	for (size_t i = 0; i < dl; i++)
		if (!isxdigit((unsigned char)n->dhcid[i]) || islower((unsigned char)n->dhcid[i]))
			abort();
	if (!n->forward && !n->reverse)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct prism_ncr n, m;
	char why[160];
	why[0] = '\0';
	int rc = prism_ncr_parse(data, size, &n, why, sizeof(why));
	if (rc != 0) {
		if (rc != PRISM_EPROTO && rc != PRISM_EMSG)
			abort();
		for (const char *p = why; *p; p++)
			if (!isprint((unsigned char)*p))
				abort();
		return 0;
	}
	check(&n);
	static uint8_t buf[PRISM_NCR_MAX];
	size_t len;
	if (prism_ncr_encode(&n, buf, sizeof(buf), &len) != 0)
		abort();
	if (prism_ncr_parse(buf, len, &m, NULL, 0) != 0 || memcmp(&n, &m, sizeof(n)) != 0)
		abort();
	return 0;
}
