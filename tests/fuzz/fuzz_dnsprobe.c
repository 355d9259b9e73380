/* SPDX-License-Identifier: MIT */
/* Fuzz the health check's DNS answer reader: any bytes from the network, never a crash. */
#include <stdint.h>
#include <stdlib.h>

#include "core/dnsprobe.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint16_t id;
	int rcode;
	uint32_t serial;
	(void)prism_soa_answer(data, size, "fuzz.example.", &id, &rcode, &serial);
	return 0;
}
