/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * xs_parse: validation of the xenstore values libxl writes for a virtio
 * device. Pure: the caller reads the keys, this decides. Xen 4.17 disks
 * (backend/virtio_disk, base in decimal) and Xen 4.18+ generic devices
 * (backend/virtio, base in hex) both land in struct xs_dev.
 */
#ifndef XVD_XS_PARSE_H
#define XVD_XS_PARSE_H

#include <stdbool.h>
#include <stdint.h>

struct devtab_entry;

enum xs_layout {
	XS_LAYOUT_DISK,		/* Xen 4.17: backend/virtio_disk/<domid>/<devid> */
	XS_LAYOUT_VIRTIO,	/* Xen 4.18+: backend/virtio/<domid>/<devid> */
};

/* xenbus states (io/xenbus.h). */
enum xs_state {
	XS_STATE_UNKNOWN = 0,
	XS_STATE_INITIALISING = 1,
	XS_STATE_INITWAIT = 2,
	XS_STATE_INITIALISED = 3,
	XS_STATE_CONNECTED = 4,
	XS_STATE_CLOSING = 5,
	XS_STATE_CLOSED = 6,
};

/* The raw values; NULL where the key is absent. */
struct xs_dev_raw {
	const char *type;		/* 4.18+: compatible; 4.17: "standalone" */
	const char *specification;	/* 4.17: "virtio" */
	const char *transport;		/* "mmio" */
	const char *base;
	const char *irq;
	const char *grant_usage;	/* "0" / "1", 4.18+ (4.19+ disks) */
	const char *frontend_id;
	const char *state;
};

struct xs_dev {
	const struct devtab_entry *dt;
	uint64_t base;
	uint32_t irq;
	uint32_t frontend_id;
	bool grant_usage;
	enum xs_state state;
};

/* Strict unsigned parse: whole string, no sign, no overflow; base 0 or 10. */
int xs_parse_u64(const char *s, int base, uint64_t *out);
/* The state key; -EINVAL when malformed. */
int xs_parse_state(const char *s, enum xs_state *out);
/* Directory entries that are domids / devids: decimal, <= max. */
int xs_parse_id(const char *s, uint32_t max, uint32_t *out);

/*
 * xs_dev_parse - validate one device. Returns 0, -ENODEV for a device this
 * daemon does not serve (not virtio, not mmio, unknown type: *why says which)
 * or -EINVAL for a malformed value (*why names the key).
 */
int xs_dev_parse(enum xs_layout layout, uint32_t domid,
    const struct xs_dev_raw *raw, struct xs_dev *out, const char **why);

#endif
