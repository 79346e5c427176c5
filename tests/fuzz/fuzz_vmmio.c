/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer target for the virtio-mmio register file: the input is a
 * sequence of guest accesses (offset, size, direction, value). After each,
 * the actions name only existing queues and the state stays in bounds.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "log.h"
#include "transport/vmmio.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	log_init(LOG_LVL_ERR, false);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const unsigned sizes[] = { 1, 2, 4, 8, 3, 0 };
	struct vmmio m;

	if (size < 2)
		return 0;
	vmmio_init(&m, 2, (UINT64_C(1) << 32) | 0x3f, 1 + data[0] % 8,
	    1u << (data[1] % 16), 60);
	for (size_t i = 2; i + 7 <= size; i += 7) {
		uint16_t off = (uint16_t)(data[i] | (data[i + 1] << 8));
		unsigned sz = sizes[data[i + 2] % 6];
		bool wr = (data[i + 2] & 0x80) != 0;
		uint32_t val;

		memcpy(&val, &data[i + 3], 4);
		if (wr) {
			struct vmmio_actions acts = { .nr = 0 };

			vmmio_write(&m, off, sz, val, &acts);
			if (acts.nr > VMMIO_MAX_ACTIONS)
				__builtin_trap();
			for (unsigned k = 0; k < acts.nr; k++)
				if ((acts.a[k].kind == VMMIO_ACT_NOTIFY ||
				    acts.a[k].kind == VMMIO_ACT_QUEUE_READY) &&
				    acts.a[k].queue >= m.nr_queues)
					__builtin_trap();
		} else {
			uint64_t v = vmmio_read(&m, off, sz);

			if (sz < 8 && sz != 0 && (v >> (sz * 8)) != 0)
				__builtin_trap();
		}
		if (m.nr_queues > VMMIO_MAX_QUEUES ||
		    m.config_len > VMMIO_CONFIG_MAX)
			__builtin_trap();
	}
	return 0;
}
