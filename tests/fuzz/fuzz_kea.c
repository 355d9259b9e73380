/* SPDX-License-Identifier: MIT */
/*
 * Fuzz what prismd reads from Kea besides NameChangeRequests. The first byte picks:
 *  - even: a notification payload of the reservation trigger (prism_kea_notify_parse);
 *  - odd: a memfile lease file: the first line is the header, every other line a lease,
 *    each put into a lease table (the last line of an address wins).
 * Invariants: accepted notifications have a known op, a non-negative id (Prism's trigger)
 * or a lower-case hex dhcp_identifier of even length (the Kea service's), and a NUL-free
 * hostname; accepted leases have a canonical address that reads back, an active lease has
 * a hostname, a lifetime and state 0; the table holds exactly the distinct addresses put.
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/kea.h"
#include "core/kea_lease.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void notify(const char *p, size_t n)
{
	struct prism_kea_notify k;
	if (prism_kea_notify_parse(p, n, &k, NULL, 0) != 0)
		return;
	if ((unsigned)k.op > PRISM_KEA_TRUNCATE || (k.op != PRISM_KEA_TRUNCATE && k.id < 0))
		abort();
	size_t il = strlen(k.identifier);
	if (k.kea_service && k.op != PRISM_KEA_TRUNCATE &&
	    (il == 0 || il % 2 != 0 || il > PRISM_KEA_IDENT_MAX ||
	     strspn(k.identifier, "0123456789abcdef") != il))
		abort();
	if (!k.kea_service && il != 0)
		abort();
	const char *const one[1] = {k.identifier};
	char *lit = k.kea_service && il ? prism_kea_array_literal(NULL, one, 1) : NULL;
	if (lit != NULL && (strlen(lit) != il + 2 || lit[0] != '{' || lit[il + 1] != '}'))
		abort();
	free(lit);
	if (strlen(k.hostname) >= sizeof(k.hostname) || (!k.has_hostname && k.hostname[0]))
		abort();
	char ip[16];
	if (k.has_ipv4 && prism_kea_ipv4(k.ipv4, ip, sizeof(ip)) == 0 &&
	    inet_pton(AF_INET, ip, &(struct in_addr){0}) != 1)
		abort();
}

static void leases(const char *p, size_t n)
{
	struct prism_kea_csv h;
	struct prism_kea_leases *t = prism_kea_leases_new();
	size_t put = 0;
	bool header = false;
	while (n > 0 && t != NULL && put < 2000) {
		const char *nl = memchr(p, '\n', n);
		size_t len = nl ? (size_t)(nl - p) : n;
		if (!header) {
			if (prism_kea_csv_header(p, len, &h, NULL, 0) != 0)
				break;
			header = true;
		} else {
			struct prism_kea_lease l, got;
			bool was, is, renamed;
			unsigned char a[16];
			if (prism_kea_csv_line(&h, p, len, &l, NULL, 0) == 0) {
				if (inet_pton(l.ipv6 ? AF_INET6 : AF_INET, l.address, a) != 1)
					abort();
				if (prism_kea_leases_put(t, &l, 1000, &was, &is, &renamed) != 0)
					break;
				put++;
				if (is != prism_kea_lease_active(&l, 1000) ||
				    (renamed && !(was && is)))
					abort();
				if (!prism_kea_leases_get(t, l.address, &got) ||
				    strcmp(got.hostname, l.hostname) != 0)
					abort();
				if (is &&
				    (l.hostname[0] == '\0' || l.valid_lifetime == 0 || l.state))
					abort();
			}
		}
		if (nl == NULL)
			break;
		n -= len + 1;
		p = nl + 1;
	}
	if (prism_kea_leases_count(t) > put)
		abort();
	prism_kea_leases_free(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	if (data[0] % 2 == 0)
		notify((const char *)data + 1, size - 1);
	else
		leases((const char *)data + 1, size - 1);
	return 0;
}
