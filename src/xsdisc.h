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
struct xvd_guest;

/* Why 16: twice CONFIG_MAX_VMSG, the endpoints a configuration may have. */
#define XD_VMSG_MAX 16u

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
	/*
	 * virtio-msg: the domids that have endpoints configured (at most
	 * XD_VMSG_MAX; the array must outlive xsdisc). After each scan, a
	 * listed domain that xenstore has introduced gets its guest (the
	 * one of its MMIO devices, else one without IOREQ server) and one
	 * vmsg_attach(domid, g) call: the number of devices it added to
	 * @g (0: none; the domain is then not retried until it goes).
	 * vmsg_detach(domid, g): before the devices of @g are destroyed
	 * (domain released, daemon exit); only after an attach that
	 * returned > 0. Both required when nr_vmsg_domids > 0.
	 */
	const uint32_t *vmsg_domids;
	unsigned nr_vmsg_domids;
	int (*vmsg_attach)(uint32_t domid, struct xvd_guest *g);
	void (*vmsg_detach)(uint32_t domid, struct xvd_guest *g);
};

/*
 * Open xenstore and watch this domain's backend directories, and
 * @introduceDomain / @releaseDomain. -EINVAL: more than XD_VMSG_MAX
 * virtio-msg domids, or a callback missing.
 */
int xd_start(struct hv_xen *x, const struct xd_opts *opts);
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
