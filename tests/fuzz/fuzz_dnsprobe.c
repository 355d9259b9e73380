/* SPDX-License-Identifier: MIT */
/* Fuzz the DNS answer readers (health check, ownership check): any bytes from the network,
 * never a crash. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "core/dnsprobe.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint16_t id;
	int rcode;
	uint32_t serial;
	bool present;
	(void)prism_soa_answer(data, size, "fuzz.example.", &id, &rcode, &serial);
	(void)prism_rr_answer(data, size, "fuzz.example.", "A", &id, &rcode, &present);
	return 0;
}
