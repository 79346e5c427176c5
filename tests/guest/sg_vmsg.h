/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * sg_vmsg: the driver side of virtio-msg (2026 layout) over a Unix
 * SOCK_SEQPACKET bus, one frame per packet: the messages the Linux
 * virtio-msg transport sends, in its order, as a struct sg_transport for
 * sg_virtio (so sg_blk and sg_fs work unchanged on top).
 *
 * Its own encoding, written from the spec, not the daemon's codec: the
 * daemon is tested from the outside.
 *
 *   sg_vmsg_connect    the bus socket
 *   sg_vmsg_devices    GET_DEVICES (window 0..255)
 *   sg_vmsg_probe      GET_DEVICE_INFO (device id checked), GET_CONFIG of
 *                      the whole config space (generation-consistent),
 *                      reset (SET_DEVICE_STATUS 0, GET_DEVICE_STATUS until
 *                      0), ACKNOWLEDGE, DRIVER
 *   then sg_virtio:    GET_DEVICE_FEATURES / SET_DRIVER_FEATURES /
 *                      FEATURES_OK checked; per queue GET_VQUEUE (inactive),
 *                      SET_VQUEUE, GET_VQUEUE (verified); DRIVER_OK; kicks
 *                      are EVENT_AVAIL, interrupts are EVENT_USED frames.
 *
 * Requests are serialised (one outstanding) and matched on type, msg_id,
 * dev_num and token; events arriving meanwhile are remembered. Every wait
 * is bounded.
 */
#ifndef SG_VMSG_H
#define SG_VMSG_H

#include <stddef.h>
#include <stdint.h>

#include "sg_mem.h"
#include "sg_virtio.h"

/* The socket bus's max message size (the daemon's VMSGEP_SOCKET_MAX_MSG). */
#define SG_VMSG_MAX_MSG		264u
/* Why 5 s: Linux's FF-A exchange timeout; the daemon answers in ms. */
#define SG_VMSG_TIMEOUT_MS	5000
/* Why 16: more than any bus here carries. */
#define SG_VMSG_MAX_DEVS	16u

struct sg_vmsg_bus;

int sg_vmsg_connect(const char *path, struct sg_vmsg_bus **out);
void sg_vmsg_close(struct sg_vmsg_bus *bus);
/* Device numbers present (GET_DEVICES), at most @max of them. */
int sg_vmsg_devices(struct sg_vmsg_bus *bus, uint16_t *devs, unsigned max,
    unsigned *nr);
/* PING with @data; checks the echo. */
int sg_vmsg_ping(struct sg_vmsg_bus *bus, uint32_t data);
/* Send raw bytes as one packet (malformed-frame tests). */
int sg_vmsg_send_raw(struct sg_vmsg_bus *bus, const void *frame, size_t len);
/* Frames received that answered nothing we asked, events aside. */
uint64_t sg_vmsg_nr_stray(const struct sg_vmsg_bus *bus);

/*
 * sg_vmsg_probe - take device @dev_num of @bus as virtio device @device_id
 * (see above); sets vd's transport, @mem as its RAM. Leaves ACKNOWLEDGE |
 * DRIVER set, as sg_vdev_probe does. May be called again on the same vd
 * after sg_vdev_cleanup() to re-initialise the device.
 */
int sg_vmsg_probe(struct sg_vdev *vd, struct sg_vmsg_bus *bus,
    uint16_t dev_num, struct sg_mem *mem, uint32_t device_id);
/* Free what sg_vmsg_probe allocated (after sg_vdev_cleanup). */
void sg_vmsg_release(struct sg_vdev *vd);
/* The config bytes read at probe (@len at most the config size). */
int sg_vmsg_probe_config(const struct sg_vdev *vd, void *buf, uint32_t len);

extern const struct sg_transport sg_vmsg_transport;

#endif
