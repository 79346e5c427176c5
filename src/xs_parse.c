/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "devtab.h"
#include "transport/vmmio.h"
#include "xs_parse.h"

/* Arm SPIs: 32..1019 (GIC); libxl gives virtio devices 33..43. */
#define XS_SPI_MIN 32u
#define XS_SPI_MAX 1019u
/* Longest value we accept: numbers and short strings only. */
#define XS_VALUE_MAX 64u

int xs_parse_u64(const char *s, int base, uint64_t *out)
{
	unsigned long long v;
	char *end;

	if (s == NULL || *s == '\0' || strlen(s) > XS_VALUE_MAX)
		return -EINVAL;
	/* strtoull accepts leading blanks and signs: we do not. */
	if (!(s[0] >= '0' && s[0] <= '9'))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, base);
	if (errno != 0 || *end != '\0')
		return -EINVAL;
	*out = v;
	return 0;
}

int xs_parse_id(const char *s, uint32_t max, uint32_t *out)
{
	uint64_t v;

	if (xs_parse_u64(s, 10, &v) < 0 || v > max)
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

int xs_parse_state(const char *s, enum xs_state *out)
{
	uint64_t v;

	if (xs_parse_u64(s, 10, &v) < 0 || v > XS_STATE_CLOSED)
		return -EINVAL;
	*out = (enum xs_state)v;
	return 0;
}

static bool str_is(const char *s, const char *want)
{
	return s != NULL && strcmp(s, want) == 0;
}

int xs_dev_parse(enum xs_layout layout, uint32_t domid,
    const struct xs_dev_raw *raw, struct xs_dev *out, const char **why)
{
	uint64_t v;

	memset(out, 0, sizeof(*out));
	if (layout == XS_LAYOUT_DISK) {
		/* 4.17 writes specification=virtio for these only. */
		if (!str_is(raw->specification, "virtio")) {
			*why = "not a virtio disk";
			return -ENODEV;
		}
		out->dt = devtab_by_name("blk");
	} else {
		if (raw->type == NULL) {
			*why = "no 'type' key";
			return -EINVAL;
		}
		out->dt = devtab_by_compatible(raw->type);
		if (out->dt == NULL) {
			*why = "device type not in the device table";
			return -ENODEV;
		}
	}
	/* 4.17 disks may omit transport; 4.18+ needs transport=mmio. */
	if (raw->transport != NULL ? !str_is(raw->transport, "mmio") :
	    layout == XS_LAYOUT_VIRTIO) {
		*why = "transport is not mmio";
		return -ENODEV;
	}
	/* Base: decimal on 4.17 disks, "0x..." on 4.18+: accept both. */
	if (xs_parse_u64(raw->base, 0, &out->base) < 0 || out->base == 0 ||
	    (out->base & (VMMIO_WINDOW_LEN - 1)) != 0 ||
	    out->base > UINT64_MAX - VMMIO_WINDOW_LEN) {
		*why = "bad 'base'";
		return -EINVAL;
	}
	if (xs_parse_u64(raw->irq, 10, &v) < 0 || v < XS_SPI_MIN ||
	    v > XS_SPI_MAX) {
		*why = "bad 'irq'";
		return -EINVAL;
	}
	out->irq = (uint32_t)v;
	if (raw->grant_usage != NULL) {
		if (!str_is(raw->grant_usage, "0") &&
		    !str_is(raw->grant_usage, "1")) {
			*why = "bad 'grant_usage'";
			return -EINVAL;
		}
		out->grant_usage = str_is(raw->grant_usage, "1");
	}
	if (raw->frontend_id != NULL) {
		if (xs_parse_id(raw->frontend_id, 0x7fefu, &out->frontend_id) <
		    0 || out->frontend_id != domid) {
			*why = "bad 'frontend-id'";
			return -EINVAL;
		}
	} else {
		out->frontend_id = domid;
	}
	if (xs_parse_state(raw->state, &out->state) < 0) {
		*why = "bad 'state'";
		return -EINVAL;
	}
	return 0;
}
