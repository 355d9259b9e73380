/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* what the library allocates is freed with the C library's free, not cmocka's test_free */
static void lib_free(void *p)
{
	free(p);
}

#include <cmocka.h>

#include "core/error.h"
#include "core/kea.h"
#include "core/kea_lease.h"

static void test_trigger_sql(void **state)
{
	char buf[4096];
	(void)state;
	assert_int_equal(prism_kea_trigger_sql("prism_kea_hosts", buf, sizeof(buf)), 0);
	assert_non_null(strstr(buf, "pg_notify('prism_kea_hosts', json_build_object("));
	assert_non_null(strstr(buf, "AFTER INSERT OR UPDATE OR DELETE ON hosts"));
	assert_non_null(strstr(buf, "AFTER TRUNCATE ON hosts"));
	assert_non_null(strstr(buf, "AFTER INSERT OR UPDATE OR DELETE ON ipv6_reservations"));
	assert_non_null(strstr(buf, "AFTER TRUNCATE ON ipv6_reservations"));
	/* the channel in every notify */
	size_t uses = 0;
	for (const char *p = buf; (p = strstr(p, "pg_notify('prism_kea_hosts'")); p++)
		uses++;
	assert_int_equal(uses, 4);
	assert_int_equal(prism_kea_trigger_sql("bad'chan", buf, sizeof(buf)), PRISM_EINVAL);
	assert_int_equal(prism_kea_trigger_sql("Upper", buf, sizeof(buf)), PRISM_EINVAL);
	assert_int_equal(prism_kea_trigger_sql("", buf, sizeof(buf)), PRISM_EINVAL);
	assert_int_equal(prism_kea_trigger_sql(NULL, buf, sizeof(buf)), PRISM_EINVAL);
	assert_int_equal(prism_kea_trigger_sql("c", buf, 100), PRISM_ETOOBIG);
	assert_non_null(strstr(prism_kea_uninstall_sql(), "DROP FUNCTION IF EXISTS"));
}

static void test_ipv4(void **state)
{
	char ip[16];
	(void)state;
	assert_int_equal(prism_kea_ipv4(167772161, ip, sizeof(ip)), 0);
	assert_string_equal(ip, "10.0.0.1");
	assert_int_equal(prism_kea_ipv4(0xffffffffLL, ip, sizeof(ip)), 0);
	assert_string_equal(ip, "255.255.255.255");
	assert_int_equal(prism_kea_ipv4(0, ip, sizeof(ip)), 0);
	assert_string_equal(ip, "0.0.0.0");
	assert_int_equal(prism_kea_ipv4(-1, ip, sizeof(ip)), PRISM_EINVAL);
	assert_int_equal(prism_kea_ipv4(0x100000000LL, ip, sizeof(ip)), PRISM_EINVAL);
	assert_int_equal(prism_kea_ipv4(1, ip, 4), PRISM_ETOOBIG);
}

static int notify(const char *s, struct prism_kea_notify *n, char *why)
{
	return prism_kea_notify_parse(s, strlen(s), n, why, 96);
}

static void test_notify(void **state)
{
	struct prism_kea_notify n;
	char why[96];
	(void)state;
	/* what PostgreSQL's json_build_object sends */
	assert_int_equal(notify("{\"op\" : \"UPDATE\", \"id\" : 42, \"hostname\" : "
				"\"us3-cab10-ru20-idrac\", \"ipv4\" : 167772161}",
				&n, why),
			 0);
	assert_int_equal(n.op, PRISM_KEA_UPDATE);
	assert_int_equal(n.id, 42);
	assert_true(n.has_hostname && n.has_ipv4);
	assert_string_equal(n.hostname, "us3-cab10-ru20-idrac");
	assert_int_equal(n.ipv4, 167772161);
	assert_int_equal(
		notify("{\"op\":\"DELETE\",\"id\":7,\"hostname\":null,\"ipv4\":null}", &n, why),
		0);
	assert_int_equal(n.op, PRISM_KEA_DELETE);
	assert_false(n.has_hostname || n.has_ipv4);
	assert_int_equal(notify("{\"op\":\"TRUNCATE\"}", &n, why), 0);
	assert_int_equal(n.op, PRISM_KEA_TRUNCATE);
	static const struct {
		const char *s, *why;
	} bad[] = {
		{"", "not a JSON object"},
		{"[1]", "not a JSON object"},
		{"{\"id\":1}", "missing op"},
		{"{\"op\":\"MERGE\",\"id\":1}", "unknown op"},
		{"{\"op\":\"INSERT\"}", "id must be a non-negative integer"},
		{"{\"op\":\"INSERT\",\"id\":-3}", "id must be a non-negative integer"},
		{"{\"op\":\"INSERT\",\"id\":1,\"hostname\":5}",
		 "hostname must be a string of at most 255 bytes"},
		{"{\"op\":\"INSERT\",\"id\":1,\"ipv4\":\"10.0.0.1\"}", "ipv4 must be an integer"},
		{"{\"op\":\"INSERT\",\"op\":\"DELETE\",\"id\":1}", "not a JSON object"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(notify(bad[i].s, &n, why), PRISM_EMSG);
		assert_string_equal(why, bad[i].why);
	}
	char longname[400] = "{\"op\":\"INSERT\",\"id\":1,\"hostname\":\"";
	memset(longname + strlen(longname), 'a', 300);
	strcat(longname, "\"}");
	assert_int_equal(notify(longname, &n, why), PRISM_EMSG);
	assert_int_equal(prism_kea_notify_parse(NULL, 0, &n, NULL, 0), PRISM_EINVAL);
}

static void test_notify_kea_service(void **state)
{
	struct prism_kea_notify n;
	char why[128];
	(void)state;
	/* the Kea service's own trigger: no host_id, the identifier in hex */
	assert_int_equal(notify("{\"operation\" : \"INSERT\", \"hostname\" : \"bmc-7\", "
				"\"ipv4_address\" : 167772161, \"dhcp_identifier\" : "
				"\"0200AABBccdd\"}",
				&n, why),
			 0);
	assert_true(n.kea_service);
	assert_int_equal(n.op, PRISM_KEA_INSERT);
	assert_string_equal(n.identifier, "0200aabbccdd");
	assert_true(n.has_hostname && n.has_ipv4);
	assert_string_equal(n.hostname, "bmc-7");
	assert_int_equal(n.ipv4, 167772161);
	assert_int_equal(notify("{\"operation\":\"UPDATE\",\"hostname\":\"x\",\"ipv4_address\":"
				"null,\"dhcp_identifier\":\"01\"}",
				&n, why),
			 0);
	assert_int_equal(n.op, PRISM_KEA_UPDATE);
	assert_false(n.has_ipv4);
	/* Prism's trigger on ipv6_reservations: the host's id */
	assert_int_equal(
		notify("{\"op\":\"DELETE\",\"id\":9,\"table\":\"ipv6_reservations\"}", &n, why),
		0);
	assert_false(n.kea_service);
	assert_int_equal(n.id, 9);
	static const struct {
		const char *s, *why;
	} bad[] = {
		{"{\"operation\":\"INSERT\"}", "dhcp_identifier must be an even number of hex "
					       "digits (at most 510)"},
		{"{\"operation\":\"INSERT\",\"dhcp_identifier\":\"abc\"}",
		 "dhcp_identifier "
		 "must be an even number of hex digits (at most 510)"},
		{"{\"operation\":\"INSERT\",\"dhcp_identifier\":\"zz\"}",
		 "dhcp_identifier "
		 "must be an even number of hex digits (at most 510)"},
		{"{\"operation\":\"INSERT\",\"dhcp_identifier\":\"\"}",
		 "dhcp_identifier "
		 "must be an even number of hex digits (at most 510)"},
		{"{\"operation\":1,\"dhcp_identifier\":\"01\"}", "missing operation"},
		{"{\"operation\":\"COPY\",\"dhcp_identifier\":\"01\"}", "unknown op"},
		{"{\"operation\":\"INSERT\",\"dhcp_identifier\":\"01\",\"ipv4_address\":\"1\"}",
		 "ipv4_address must be an integer"},
		{"{\"operation\":\"INSERT\",\"dhcp_identifier\":\"01\",\"hostname\":[]}",
		 "hostname must be a string of at most 255 bytes"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(notify(bad[i].s, &n, why), PRISM_EMSG);
		assert_string_equal(why, bad[i].why);
	}
	char big[700] = "{\"operation\":\"INSERT\",\"dhcp_identifier\":\"";
	memset(big + strlen(big), 'a', 512);
	strcat(big, "\"}");
	assert_int_equal(notify(big, &n, why), PRISM_EMSG);
	big[strlen(big) - 4] = '\0';
	strcat(big, "\"}"); /* 510 digits: the most */
	assert_int_equal(notify(big, &n, why), 0);
	assert_int_equal(strlen(n.identifier), 510);
}

static void test_lookup(void **state)
{
	char ip6[46];
	(void)state;
	const int64_t ids[] = {1, 42, 9223372036854775807LL};
	char *a = prism_kea_array_literal(ids, NULL, 3);
	assert_string_equal(a, "{1,42,9223372036854775807}");
	lib_free(a);
	a = prism_kea_array_literal(NULL, NULL, 0);
	assert_string_equal(a, "{}");
	lib_free(a);
	const char *hex[] = {"0a1b", "FFee"};
	a = prism_kea_array_literal(NULL, hex, 2);
	assert_string_equal(a, "{0a1b,FFee}");
	lib_free(a);
	const char *bad[] = {"0a", "x\"}"};
	assert_null(prism_kea_array_literal(NULL, bad, 2));
	assert_non_null(strstr(prism_kea_lookup_sql(), "ANY($1::bigint[])"));
	assert_non_null(strstr(prism_kea_select_sql(), "ipv6_reservations"));
	assert_int_equal(prism_kea_ipv6("2001:DB8:0::1", ip6, sizeof(ip6)), 0);
	assert_string_equal(ip6, "2001:db8::1");
	assert_int_equal(prism_kea_ipv6("10.0.0.1", ip6, sizeof(ip6)), PRISM_EINVAL);
	assert_int_equal(prism_kea_ipv6(NULL, ip6, sizeof(ip6)), PRISM_EINVAL);
	assert_int_equal(prism_kea_ipv6("::1", ip6, 2), PRISM_ETOOBIG);
}

static const char v4head[] =
	"address,hwaddr,client_id,valid_lifetime,expire,subnet_id,fqdn_fwd,fqdn_rev,hostname,"
	"state,user_context";

static void test_csv(void **state)
{
	struct prism_kea_csv h;
	struct prism_kea_lease l;
	char why[96];
	(void)state;
	assert_int_equal(prism_kea_csv_header(v4head, strlen(v4head), &h, why, sizeof(why)), 0);
	assert_false(h.v6);
	assert_int_equal(h.hostname, 8);
	assert_int_equal(h.state, 9);
	/* the lines a real kea-dhcp4 wrote: a lease, then its RELEASE */
	static const char a[] = "10.99.0.100,3a:08:d8:de:ad:ab,01:3a:08:d8:de:ad:ab,3600,"
				"1795316519,1,1,1,client1.lab.test,0,";
	assert_int_equal(prism_kea_csv_line(&h, a, strlen(a), &l, why, sizeof(why)), 0);
	assert_string_equal(l.address, "10.99.0.100");
	assert_string_equal(l.hostname, "client1.lab.test");
	assert_int_equal(l.valid_lifetime, 3600);
	assert_int_equal(l.expire, 1795316519);
	assert_true(prism_kea_lease_active(&l, 1795316000));
	assert_false(prism_kea_lease_active(&l, 1795316519)); /* expired */
	static const char r[] = "10.99.0.100,3a:08:d8:de:ad:ab,01:3a:08:d8:de:ad:ab,0,"
				"1795312940,1,1,1,client1.lab.test,0,";
	assert_int_equal(prism_kea_csv_line(&h, r, strlen(r), &l, why, sizeof(why)), 0);
	assert_false(prism_kea_lease_active(&l, 0));
	/* declined, escaped commas in user_context, no hostname */
	static const char d[] = "10.99.0.101,,,3600,1795316519,1,0,0,x.lab.test,1,"
				"{ \"a\": 1&#x2c \"b\": 2 }";
	assert_int_equal(prism_kea_csv_line(&h, d, strlen(d), &l, why, sizeof(why)), 0);
	assert_int_equal(l.state, 1);
	assert_false(prism_kea_lease_active(&l, 0));
	static const char e[] = "10.99.0.102,,,3600,1795316519,1,0,0,,0,";
	assert_int_equal(prism_kea_csv_line(&h, e, strlen(e), &l, why, sizeof(why)), 0);
	assert_false(prism_kea_lease_active(&l, 0));
	/* v6: the columns are elsewhere */
	static const char h6[] = "address,duid,valid_lifetime,expire,subnet_id,pref_lifetime,"
				 "lease_type,iaid,prefix_len,fqdn_fwd,fqdn_rev,hostname,hwaddr,"
				 "state,user_context";
	assert_int_equal(prism_kea_csv_header(h6, strlen(h6), &h, why, sizeof(why)), 0);
	assert_true(h.v6);
	static const char six[] = "2001:DB8::10,00:01,4000,1795316519,1,3000,0,1,128,1,1,"
				  "v6host.lab.test,,0,";
	assert_int_equal(prism_kea_csv_line(&h, six, strlen(six), &l, why, sizeof(why)), 0);
	assert_string_equal(l.address, "2001:db8::10");
	assert_true(l.ipv6);
	assert_string_equal(l.hostname, "v6host.lab.test");
	/* refused */
	assert_int_equal(prism_kea_csv_header("hwaddr,address", 14, &h, why, sizeof(why)),
			 PRISM_EMSG);
	assert_int_equal(prism_kea_csv_header(v4head, strlen(v4head), &h, why, sizeof(why)), 0);
	static const struct {
		const char *line, *why;
	} bad[] = {
		{"10.99.0.300,,,3600,1,1,1,1,a,0,", "bad address"},
		{"10.99.0.1,,,36x0,1,1,1,1,a,0,", "bad valid_lifetime"},
		{"10.99.0.1,,,3600,-1,1,1,1,a,0,", "bad expire"},
		{"10.99.0.1,,,99999999999,1,1,1,1,a,0,", "bad valid_lifetime"},
		{"10.99.0.1,,,3600,1,1,1,1,a", "bad state"},
		{"10.99.0.1,,,3600", "bad expire"},
		{"", "bad address"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(prism_kea_csv_line(&h, bad[i].line, strlen(bad[i].line), &l, why,
						    sizeof(why)),
				 PRISM_EMSG);
		assert_string_equal(why, bad[i].why);
	}
}

static void lease(struct prism_kea_lease *l, const char *addr, const char *host, uint64_t life,
		  int64_t expire, unsigned st)
{
	memset(l, 0, sizeof(*l));
	snprintf(l->address, sizeof(l->address), "%s", addr);
	snprintf(l->hostname, sizeof(l->hostname), "%s", host);
	l->valid_lifetime = life;
	l->expire = expire;
	l->state = st;
}

static int expired_n;
static void count_expired(void *arg, const struct prism_kea_lease *l)
{
	(void)arg;
	(void)l;
	expired_n++;
}

static bool count_each(void *arg, const struct prism_kea_lease *l)
{
	(*(size_t *)arg)++;
	return l != NULL;
}

static void test_table(void **state)
{
	struct prism_kea_leases *t = prism_kea_leases_new();
	struct prism_kea_lease l, got;
	bool was, is, renamed;
	(void)state;
	lease(&l, "10.0.0.1", "a.lab", 3600, 2000, 0);
	assert_int_equal(prism_kea_leases_put(t, &l, 1000, &was, &is, &renamed), 0);
	assert_true(!was && is && !renamed);
	/* a renewal: the same name, active before and after */
	lease(&l, "10.0.0.1", "a.lab", 3600, 3000, 0);
	assert_int_equal(prism_kea_leases_put(t, &l, 1000, &was, &is, &renamed), 0);
	assert_true(was && is && !renamed);
	lease(&l, "10.0.0.1", "b.lab", 3600, 3000, 0);
	assert_int_equal(prism_kea_leases_put(t, &l, 1000, &was, &is, &renamed), 0);
	assert_true(was && is && renamed);
	/* the release: the last line wins */
	lease(&l, "10.0.0.1", "b.lab", 0, 1000, 0);
	assert_int_equal(prism_kea_leases_put(t, &l, 1000, &was, &is, &renamed), 0);
	assert_true(was && !is);
	assert_true(prism_kea_leases_get(t, "10.0.0.1", &got));
	assert_int_equal(got.valid_lifetime, 0);
	assert_false(prism_kea_leases_get(t, "10.0.0.9", &got));
	/* many: the table grows, expiry finds the ones that ran out */
	char a[32];
	for (int i = 0; i < 5000; i++) {
		snprintf(a, sizeof(a), "10.1.%d.%d", i / 250, i % 250);
		lease(&l, a, "h", 60, i < 100 ? 1500 : 5000, 0);
		assert_int_equal(prism_kea_leases_put(t, &l, 1000, NULL, NULL, NULL), 0);
	}
	assert_int_equal(prism_kea_leases_count(t), 5001);
	size_t n = 0;
	prism_kea_leases_each(t, count_each, &n);
	assert_int_equal(n, 5001);
	expired_n = 0;
	assert_int_equal(prism_kea_leases_expired(t, 1000, 1499, count_expired, NULL), 1500);
	assert_int_equal(expired_n, 0);
	assert_int_equal(prism_kea_leases_expired(t, 1499, 1500, count_expired, NULL), 5000);
	assert_int_equal(expired_n, 100);
	prism_kea_leases_free(t);
	prism_kea_leases_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_trigger_sql), cmocka_unit_test(test_ipv4),
		cmocka_unit_test(test_notify),	    cmocka_unit_test(test_notify_kea_service),
		cmocka_unit_test(test_lookup),	    cmocka_unit_test(test_csv),
		cmocka_unit_test(test_table),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
