/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * guest: one domain served by xen-vhostd: its IOREQ server, its guest RAM
 * mapping (shared by its devices) and its devices.
 */
#ifndef XVD_GUEST_H
#define XVD_GUEST_H

#include <stdint.h>

#include "device.h"

struct hv_dom;
struct xvd_guest;

#define GUEST_MAX_DEVS 16u

/*
 * guest_create - serve @hv (ownership passes to the guest, also on error):
 * create every device of @cfgs (a device whose back-end is unavailable is
 * logged and left out), map guest RAM, set up the IOREQ server in Xen's
 * order, map each device's window, enable, watch the vCPU event channels,
 * and tell the toolstack (hv connected).
 */
int guest_create(struct hv_dom *hv, const struct xvd_device_cfg *cfgs,
    unsigned nr, struct xvd_guest **out);
void guest_destroy(struct xvd_guest *g);

uint32_t guest_domid(const struct xvd_guest *g);
struct hv_dom *guest_hv(const struct xvd_guest *g);
unsigned guest_nr_devices(const struct xvd_guest *g);
struct xvd_device *guest_device(const struct xvd_guest *g, unsigned i);
uint64_t guest_nr_ioreqs(const struct xvd_guest *g);

#endif
