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

/*
 * The restart record: what a restarted xen-vhostd needs to serve a device
 * whose guest is already running. xen-vhostd writes it into the device's
 * backend node (key XS_RESTORE_KEY) when it serves the device, at the
 * driver's DRIVER_OK and at each reset; only dom0 can write there, but it
 * is parsed as strictly as anything else read from xenstore.
 *
 *   v1 slot=N ioserv=N status=0xS features=0xF [qI=num,desc,avail,used]...
 *
 * One q entry per ready queue (I < XS_RESTORE_MAX_QUEUES), addresses in hex.
 */
#define XS_RESTORE_KEY "xen-vhostd-state"
/* Same bound as VMMIO_MAX_QUEUES. */
#define XS_RESTORE_MAX_QUEUES 16u
/* Longest record: 16 queues of 3 x 18-char addresses, with room to spare. */
#define XS_RESTORE_LEN_MAX 1536u

struct xs_restore {
	uint32_t slot;		/* N of <type>.sock<N> */
	uint32_t ioservid;	/* the guest's IOREQ server */
	uint32_t status;	/* virtio device status */
	uint64_t features;	/* negotiated with the driver */
	uint32_t ready;		/* bit i: queue i set up and ready */
	struct {
		uint32_t num;
		uint64_t desc, avail, used;
	} q[XS_RESTORE_MAX_QUEUES];
};

/* Format @r into @buf; returns the length, or -ENOSPC. */
int xs_restore_format(const struct xs_restore *r, char *buf, size_t len);
/*
 * xs_restore_parse - the record written by xs_restore_format. Returns 0, or
 * -EINVAL with *why naming what is wrong (unknown version or key, a number
 * out of range, a queue twice, a queue size not a power of two <= 32768, an
 * address not aligned as the split ring needs).
 */
int xs_restore_parse(const char *s, struct xs_restore *out, const char **why);

#endif
