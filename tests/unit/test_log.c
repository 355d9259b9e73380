/* SPDX-License-Identifier: MIT */
/*
 * The log's lines: "<UTC time to the millisecond>Z <level> <tag>: <message>\n", one write
 * each, the time formatted again when the second changes, a message too long for a line cut
 * where the line ends.
 */
#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/log.h"

static char *read_all(const char *path, size_t *len)
{
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	char *buf = calloc(1, 1 << 16);
	assert_non_null(buf);
	*len = fread(buf, 1, (1 << 16) - 1, f);
	fclose(f);
	return buf;
}

static void test_lines(void **state)
{
	(void)state;
	char path[] = "/tmp/prism-test-log-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(prism_log_init(PRISM_LOG_INFO, path), 0);
	prism_log(PRISM_LOG_DEBUG, "agent", "not written: below the level");
	prism_log(PRISM_LOG_INFO, "agent", "host %s from %s: %s", "web1", "10.0.0.1",
		  "New host registered");
	char big[5000];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	prism_log(PRISM_LOG_WARNING, "engine", "%s", big);
	sleep(1); /* the next second: its time is formatted again */
	prism_log(PRISM_LOG_ERROR, "store", "last");
	prism_log_deinit();
	size_t len;
	char *text = read_all(path, &len);
	unlink(path);
	char *l1 = text, *l2 = strchr(l1, '\n') + 1, *l3 = strchr(l2, '\n') + 1;
	assert_non_null(strchr(l3, '\n'));
	regex_t re;
	assert_int_equal(
		regcomp(&re,
			"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z "
			"info agent: host web1 from 10\\.0\\.0\\.1: New host registered\n",
			REG_EXTENDED | REG_NEWLINE),
		0);
	assert_int_equal(regexec(&re, l1, 0, NULL, 0), 0);
	regfree(&re);
	/* the long one: cut to 2,047 characters, then its newline */
	assert_int_equal(l3 - l2, 2048);
	assert_memory_equal(l2 + 24, " warning engine: xxx", 20);
	assert_int_equal(l2[2047], '\n');
	assert_memory_equal(l3 + 24, " error store: last\n", 19);
	/* a second later than the first line */
	assert_true(memcmp(l1, l3, 19) < 0);
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lines),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
