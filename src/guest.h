/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * guest: one domain served by xen-vhostd: its IOREQ server, its guest RAM
 * mapping (shared by its devices) and its devices.
 */
#ifndef XVD_GUEST_H
#define XVD_GUEST_H

#include <stdbool.h>
#include <stdint.h>

#include "device.h"

struct hv_dom;
struct xvd_guest;

#define GUEST_MAX_DEVS 16u

/*
 * guest_create - serve @hv (ownership passes to the guest, also on error):
 * map guest RAM, set up the IOREQ server in Xen's order (create, map the
 * ioreq page, enable, bind each vCPU's event channel) and watch the vCPU
 * event channels. Devices come with guest_add_device().
 */
int guest_create(struct hv_dom *hv, struct xvd_guest **out);
/*
 * guest_create_mem - the same without the IOREQ server: guest RAM mapped
 * (grants through the hv ops) for devices that need no MMIO window, the
 * virtio-msg ones. guest_start_ioreq() adds the server when the first
 * MMIO device comes; guest_add_device() refuses (-EINVAL) until then.
 */
int guest_create_mem(struct hv_dom *hv, struct xvd_guest **out);
/*
 * guest_start_ioreq - set up the IOREQ server of a guest_create_mem()
 * guest (hv->adopt_ioservid as for guest_create). 0 when already up. A
 * failure is logged and final: later calls return the same error.
 */
int guest_start_ioreq(struct xvd_guest *g);
bool guest_has_ioreq(const struct xvd_guest *g);
/*
 * guest_sweep - serve every ioreq slot already READY. For a taken-over
 * IOREQ server (daemon restart), once all its devices are back: a vCPU may
 * have been waiting on the previous xen-vhostd.
 */
void guest_sweep(struct xvd_guest *g);
/* Tears down every device, then the IOREQ server and the RAM mapping. */
void guest_destroy(struct xvd_guest *g);

/*
 * guest_add_device - connect the device's back-end and map its MMIO window
 * to the IOREQ server: from then on the guest's accesses reach it.
 */
int guest_add_device(struct xvd_guest *g, const struct xvd_device_cfg *cfg,
    struct xvd_device **out);
/*
 * guest_add_vmsg_device - the same for a virtio-msg device
 * (cfg->vmsg_max_msg != 0): no MMIO window is mapped; its bus endpoint
 * feeds it frames (device_vmsg). Counted and listed like the others.
 */
int guest_add_vmsg_device(struct xvd_guest *g, const struct xvd_device_cfg *cfg,
    struct xvd_device **out);
/* Unmap the window (if any), stop the back-end, free the device. */
void guest_remove_device(struct xvd_guest *g, struct xvd_device *dev);

uint32_t guest_domid(const struct xvd_guest *g);
struct hv_dom *guest_hv(const struct xvd_guest *g);
unsigned guest_nr_devices(const struct xvd_guest *g);
struct xvd_device *guest_device(const struct xvd_guest *g, unsigned i);
uint64_t guest_nr_ioreqs(const struct xvd_guest *g);

#endif
