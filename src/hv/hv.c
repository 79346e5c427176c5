/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <stddef.h>

#include "hv/hv.h"
#include "util.h"

const struct hv_mem_region *hv_mem_find(const struct hv_dom *d, uint64_t gpa)
{
	for (unsigned i = 0; i < d->nr_mem; i++) {
		const struct hv_mem_region *r = &d->mem[i];

		if (gpa >= r->gpa && gpa - r->gpa < r->size)
			return r;
	}
	return NULL;
}

uint8_t *hv_gpa_to_hva(const struct hv_dom *d, uint64_t gpa, uint64_t len)
{
	const struct hv_mem_region *r = hv_mem_find(d, gpa);

	if (r == NULL || r->hva == NULL || !range_ok(gpa - r->gpa, len, r->size))
		return NULL;
	return r->hva + (gpa - r->gpa);
}
