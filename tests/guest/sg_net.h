/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * sg_net: a minimal virtio-net driver on sg_virtio (virtio 1.2, 5.1).
 *
 * VERSION_1 (so a 12-byte struct virtio_net_hdr_v1 before every frame)
 * and, when offered, MAC; no offloads, no mergeable buffers, no control
 * queue, one queue pair: receiveq1 is queue 0, transmitq1 queue 1. Every
 * receive buffer holds a whole frame (SG_NET_BUF_LEN bytes, one
 * descriptor); all of them are posted at DRIVER_OK and each one again as
 * soon as its frame is taken.
 */
#ifndef SG_NET_H
#define SG_NET_H

#include <stdbool.h>
#include <stdint.h>

#include <linux/virtio_net.h>

#include "sg_virtio.h"

#define SG_NET_HDR_LEN		12u	/* struct virtio_net_hdr_v1 */
/* Why 1514: an Ethernet frame without FCS at the default MTU of 1500. */
#define SG_NET_FRAME_MAX	1514u
/* Why 2048: header and the largest frame, with room, two per page. */
#define SG_NET_BUF_LEN		2048u
/* Why 256: buffers per queue, the queue size these tests use at most. */
#define SG_NET_MAX_BUFS		256u
/* Why 10 s: a back-end restart (testpmd starts in about a second). */
#define SG_NET_TIMEOUT_MS	10000

struct sg_net_opts {
	unsigned queue_num;	/* 0: 256 */
};

struct sg_net_buf;

struct sg_net {
	struct sg_vdev vd;
	struct sg_vq *rx, *tx;
	uint8_t mac[6];
	bool has_mac;		/* VIRTIO_NET_F_MAC negotiated */
	unsigned nr_rx, nr_tx;	/* buffers of each queue */
	struct sg_net_buf *rxb, *txb;
	unsigned nr_pending_kick;	/* tx chains added since the last kick */
	uint64_t nr_sent, nr_received;
	uint64_t nr_hdr_nb_unset;	/* rx headers with num_buffers 0 */
};

/* sg_net_open - probe the virtio-net device @dev at @base and set it up. */
int sg_net_open(struct sg_net *n, struct sg_sim *sim, unsigned dev,
    uint64_t base, const struct sg_net_opts *opts);
/* Reset the device (Status 0, read back 0) and free host memory. */
int sg_net_close(struct sg_net *n);
/* Free host memory only (the device is gone or failed). */
void sg_net_cleanup(struct sg_net *n);

/*
 * sg_net_send - queue the frame @frame of @len bytes (14..SG_NET_FRAME_MAX)
 * behind a zeroed header and notify. Waits up to @timeout_ms for a free
 * transmit buffer when all are in flight (-ETIMEDOUT).
 */
int sg_net_send(struct sg_net *n, const void *frame, uint32_t len,
    int timeout_ms);
/*
 * sg_net_recv - wait up to @timeout_ms for one received frame, copy it to
 * @frame (@cap bytes, at least SG_NET_FRAME_MAX), set *len, post the
 * buffer again. The header must be all zero but num_buffers (0 or 1):
 * -EIO otherwise, or on a bad used length; -ETIMEDOUT when none came.
 */
int sg_net_recv(struct sg_net *n, void *frame, uint32_t cap, uint32_t *len,
    int timeout_ms);

#endif
