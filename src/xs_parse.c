/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdio.h>
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

int xs_restore_format(const struct xs_restore *r, char *buf, size_t len)
{
	size_t off = 0;
	int n;

	n = snprintf(buf, len, "v1 slot=%u ioserv=%u status=%#x features=%#llx",
	    r->slot, r->ioservid, r->status, (unsigned long long)r->features);
	if (n < 0 || (size_t)n >= len)
		return -ENOSPC;
	off = (size_t)n;
	for (unsigned i = 0; i < XS_RESTORE_MAX_QUEUES; i++) {
		if ((r->ready & (1u << i)) == 0)
			continue;
		n = snprintf(buf + off, len - off, " q%u=%u,%#llx,%#llx,%#llx",
		    i, r->q[i].num, (unsigned long long)r->q[i].desc,
		    (unsigned long long)r->q[i].avail,
		    (unsigned long long)r->q[i].used);
		if (n < 0 || (size_t)n >= len - off)
			return -ENOSPC;
		off += (size_t)n;
	}
	return (int)off;
}

/* Split ring alignment (virtio 1.2, 2.7): desc 16, avail 2, used 4. */
static bool restore_queue_ok(uint32_t num, uint64_t desc, uint64_t avail,
    uint64_t used)
{
	return num != 0 && num <= 32768 && (num & (num - 1)) == 0 &&
	    (desc & 15) == 0 && (avail & 1) == 0 && (used & 3) == 0;
}

/* "qI=num,desc,avail,used" */
static int restore_queue(char *v, unsigned qi, struct xs_restore *out)
{
	uint64_t f[4];
	char *save = NULL, *tok = strtok_r(v, ",", &save);
	unsigned n = 0;

	for (; tok != NULL; tok = strtok_r(NULL, ",", &save)) {
		if (n == 4 || xs_parse_u64(tok, 0, &f[n]) < 0)
			return -EINVAL;
		n++;
	}
	if (n != 4 || f[0] > UINT32_MAX ||
	    !restore_queue_ok((uint32_t)f[0], f[1], f[2], f[3]))
		return -EINVAL;
	out->q[qi].num = (uint32_t)f[0];
	out->q[qi].desc = f[1];
	out->q[qi].avail = f[2];
	out->q[qi].used = f[3];
	out->ready |= 1u << qi;
	return 0;
}

int xs_restore_parse(const char *s, struct xs_restore *out, const char **why)
{
	char buf[XS_RESTORE_LEN_MAX + 1], *save = NULL, *tok;
	unsigned seen = 0;	/* bit 0 slot, 1 ioserv, 2 status, 3 features */
	uint64_t v;

	memset(out, 0, sizeof(*out));
	*why = "malformed restart record";
	if (s == NULL || strlen(s) > XS_RESTORE_LEN_MAX)
		return -EINVAL;
	memcpy(buf, s, strlen(s) + 1);
	tok = strtok_r(buf, " ", &save);
	if (tok == NULL || strcmp(tok, "v1") != 0) {
		*why = "restart record of an unknown version";
		return -EINVAL;
	}
	while ((tok = strtok_r(NULL, " ", &save)) != NULL) {
		char *eq = strchr(tok, '=');
		static const char *const keys[] = { "slot", "ioserv", "status",
		    "features" };
		unsigned k;

		if (eq == NULL)
			return -EINVAL;
		*eq++ = '\0';
		if (tok[0] == 'q' && tok[1] != '\0') {
			uint32_t qi;

			if (xs_parse_id(tok + 1, XS_RESTORE_MAX_QUEUES - 1,
			    &qi) < 0 || (out->ready & (1u << qi)) != 0 ||
			    restore_queue(eq, qi, out) < 0) {
				*why = "bad queue in the restart record";
				return -EINVAL;
			}
			continue;
		}
		for (k = 0; k < 4; k++)
			if (strcmp(tok, keys[k]) == 0)
				break;
		if (k == 4 || (seen & (1u << k)) != 0 ||
		    xs_parse_u64(eq, 0, &v) < 0) {
			*why = "bad key in the restart record";
			return -EINVAL;
		}
		seen |= 1u << k;
		/* Bounds: 64 slots a type, 8 servers a domain, a status byte. */
		if ((k == 0 && v >= 64) || (k == 1 && v > 0xffff) ||
		    (k == 2 && v > 0xff)) {
			*why = "value out of range in the restart record";
			return -EINVAL;
		}
		if (k == 0)
			out->slot = (uint32_t)v;
		else if (k == 1)
			out->ioservid = (uint32_t)v;
		else if (k == 2)
			out->status = (uint32_t)v;
		else
			out->features = v;
	}
	if (seen != 0xf) {
		*why = "restart record lacks a key";
		return -EINVAL;
	}
	return 0;
}
