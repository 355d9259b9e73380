/* SPDX-License-Identifier: MIT */
/* Client certificate names (any bytes a certificate can carry) against hostnames:
 * "<certificate name>\n<hostname>". */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/certname.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size + 1);
	if (buf == NULL)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	char *nl = memchr(buf, '\n', size);
	const char *host = "web1";
	if (nl != NULL) {
		*nl = '\0';
		host = nl + 1;
	}
	(void)prism_cert_name_allows(buf, host, "managed.prism.local.");
	(void)prism_cert_name_allows(buf, host, "x");
	(void)prism_cert_name_allows(host, buf, NULL);
	free(buf);
	return 0;
}
