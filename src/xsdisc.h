/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * xsdisc: xenstore discovery of the guests' virtio devices and the xenbus
 * state handshake with libxl.
 */
#ifndef XVD_XSDISC_H
#define XVD_XSDISC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "device.h"

struct hv_xen;
struct devtab_entry;

struct xd_opts {
	const char *socket_dir;
	int connect_timeout_ms;
	int reply_timeout_ms;
	enum xvd_mem_mode mem_mode;
	size_t shadow_bytes;
	bool force_foreign;	/* --foreign-mapping: ignore grant_usage */
	/* Socket name and memory mode of a new device (configuration). */
	int (*device_settings)(uint32_t domid, const struct devtab_entry *dt,
	    unsigned slot, struct xvd_device_cfg *cfg);
};

/* Open xenstore and watch this domain's backend directories. */
int xd_start(struct hv_xen *x, const struct xd_opts *opts);
struct xvd_guest;
/* cb(guest, arg) for every served guest (control socket). */
void xd_foreach(void (*cb)(struct xvd_guest *g, void *arg), void *arg);
/*
 * xd_stop - close xenstore. @detach: leave every guest's IOREQ server,
 * ranges, xenbus state and restart records for the next xen-vhostd (a
 * restart takes the devices over). Otherwise release every guest: state
 * Closed for each device, IOREQ servers destroyed.
 */
void xd_stop(bool detach);

#endif
