/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * direct: the simulated guest's virtio driver (tests/guest/sg_virtio) as
 * the vhost-user front-end itself, with no xen-vhostd in between. The
 * "limit" path of the benchmark.
 *
 * Guest RAM is a memfd handed to the back-end in SET_MEM_TABLE; a kick is
 * a write to the queue's kick eventfd, a used-buffer notification is its
 * call eventfd becoming readable. The vhost-user sequence is xen-vhostd's
 * (src/device.c): features, protocol features (MQ, REPLY_ACK, CONFIG,
 * INFLIGHT_SHMFD), SET_OWNER, GET_CONFIG; at DRIVER_OK SET_FEATURES,
 * the inflight region, SET_MEM_TABLE and every ring; so the back-end does
 * the same work per request on both paths.
 */
#ifndef XVD_BENCH_DIRECT_H
#define XVD_BENCH_DIRECT_H

#include <stdbool.h>
#include <stdint.h>

#include "sg_mem.h"
#include "sg_virtio.h"

struct vhu_client;

struct direct_dev {
	struct vhu_client *vhu;
	struct sg_mem mem;		/* guest RAM, shared with the back-end */
	uint64_t backend_features;	/* GET_FEATURES */
	uint64_t protocol_features;	/* in effect */
	uint32_t nr_queues;
	uint32_t queue_max;
	uint8_t config[256];
	uint32_t config_len;
	bool started;
	int inflight_fd;
	struct {
		bool ready;		/* queue_enable seen */
		bool started;		/* handed to the back-end */
		struct sg_vq_layout l;
		int kick_fd, call_fd;
	} q[SG_VDEV_MAX_QUEUES];
};

/*
 * direct_open - connect to the vhost-user back-end at @socket (retrying up
 * to 10 s), create @ram_bytes of guest RAM and learn the device (config of
 * @config_len bytes when the back-end serves it). Fills @vd as a probe
 * would (transport, RAM, device id), ready for sg_vdev_negotiate or
 * sg_blk_setup.
 */
int direct_open(struct direct_dev *d, struct sg_vdev *vd, const char *socket,
    uint64_t ram_bytes, uint32_t device_id, uint32_t config_len);
/* Disconnect (the back-end drops the rings) and free everything. */
void direct_close(struct direct_dev *d);

extern const struct sg_transport direct_transport;

#endif
