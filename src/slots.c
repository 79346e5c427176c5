/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>

#include "devtab.h"
#include "slots.h"

/* Why 64 per type: far above the 11 virtio-mmio SPIs of a guest. */
#define SLOTS_PER_TYPE 64u
#define SLOT_TYPES 64u

static bool slot_used[SLOT_TYPES][SLOTS_PER_TYPE];

static int type_index(const struct devtab_entry *dt)
{
	for (unsigned i = 0; i < SLOT_TYPES && devtab_at(i) != NULL; i++)
		if (devtab_at(i) == dt)
			return (int)i;
	return -1;
}

int slot_take(const struct devtab_entry *dt, unsigned *slot)
{
	int t = type_index(dt);

	if (t < 0)
		return -EINVAL;
	for (unsigned n = 0; n < SLOTS_PER_TYPE; n++) {
		if (!slot_used[t][n]) {
			slot_used[t][n] = true;
			*slot = n;
			return 0;
		}
	}
	return -ENOSPC;
}

int slot_claim(const struct devtab_entry *dt, unsigned slot)
{
	int t = type_index(dt);

	if (t < 0 || slot >= SLOTS_PER_TYPE)
		return -EINVAL;
	if (slot_used[t][slot])
		return -EBUSY;
	slot_used[t][slot] = true;
	return 0;
}

void slot_put(const struct devtab_entry *dt, unsigned slot)
{
	int t = type_index(dt);

	if (t >= 0 && slot < SLOTS_PER_TYPE)
		slot_used[t][slot] = false;
}
