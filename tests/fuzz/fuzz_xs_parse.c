/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer target for the xenstore value parsers: the input is split at
 * NUL bytes into the keys of one device; whatever is accepted must satisfy
 * the documented bounds.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "transport/vmmio.h"
#include "xs_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf, *f[8] = { NULL };
	struct xs_dev_raw raw;
	struct xs_dev d;
	const char *why = NULL;
	size_t n = 0, start = 1;

	if (size < 1)
		return 0;
	buf = malloc(size + 1);
	if (buf == NULL)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	for (size_t i = 1; i <= size && n < 8; i++) {
		if (buf[i] == '\0') {
			/* a field of 0xff bytes means "key absent" */
			f[n++] = (unsigned char)buf[start] == 0xff ? NULL :
			    &buf[start];
			start = i + 1;
		}
	}
	raw = (struct xs_dev_raw) {
		.type = f[0], .specification = f[1], .transport = f[2],
		.base = f[3], .irq = f[4], .grant_usage = f[5],
		.frontend_id = f[6], .state = f[7],
	};
	if (xs_dev_parse(buf[0] & 1 ? XS_LAYOUT_VIRTIO : XS_LAYOUT_DISK, 1, &raw,
	    &d, &why) == 0) {
		if (d.dt == NULL || d.base == 0 ||
		    (d.base & (VMMIO_WINDOW_LEN - 1)) != 0 || d.irq < 32 ||
		    d.irq > 1019 || d.state > XS_STATE_CLOSED ||
		    d.frontend_id != 1)
			__builtin_trap();
	} else if (why == NULL) {
		__builtin_trap();
	}
	/* The whole input as a restart record: it must round-trip. */
	{
		struct xs_restore r, back;
		char out[XS_RESTORE_LEN_MAX];

		why = NULL;
		if (xs_restore_parse(buf, &r, &why) == 0) {
			int n = xs_restore_format(&r, out, sizeof(out));

			if (n < 0 || xs_restore_parse(out, &back, &why) != 0 ||
			    memcmp(&r, &back, sizeof(r)) != 0 || r.slot >= 64 ||
			    r.status > 0xff)
				__builtin_trap();
		} else if (why == NULL) {
			__builtin_trap();
		}
	}
	free(buf);
	return 0;
}
