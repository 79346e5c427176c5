/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * sg_virtio: a virtio driver with split virtqueues, done the way Linux's
 * virtio_ring.c does it, over a transport. The transport is virtio-mmio
 * (version 2) over sg_sim, as Linux's virtio_mmio.c drives it; a caller
 * may supply another one (struct sg_transport), e.g. the benchmark's
 * vhost-user front-end in bench/. Virtqueues and the device drivers on top
 * (sg_blk, sg_fs) only use the transport's operations.
 *
 * Order of use:
 *   sg_vdev_probe     (virtio-mmio) magic, version 2, device id, vendor;
 *                     reset; ACKNOWLEDGE | DRIVER. Another transport
 *                     fills struct sg_vdev itself (tr, tr_ctx, mem).
 *   sg_vdev_negotiate features = wanted & offered (VERSION_1 required),
 *                     FEATURES_OK and verified
 *   sg_vq_setup       per queue
 *   sg_vdev_driver_ok
 *   ... sg_vq_add / sg_vq_kick / sg_vq_get_used, sg_vdev_wait ...
 *   sg_vdev_reset
 *
 * Everything the device writes (used ring, config) is read once and
 * checked before use; a device fault is an error, never a crash.
 */
#ifndef SG_VIRTIO_H
#define SG_VIRTIO_H

#include <stdbool.h>
#include <stdint.h>

#include "sg_mem.h"
#include "sg_sim.h"

/* Why 32768: the largest split queue virtio allows. */
#define SG_VQ_MAX_NUM		32768u
/* Why 8: devices of this project use at most a few (blk 1, fs 2, net 3). */
#define SG_VDEV_MAX_QUEUES	8u
/* Why 64: descriptors in one indirect table (blk: hdr + 62 segs + status). */
#define SG_VQ_INDIRECT_MAX	64u

struct sg_vq;
struct sg_vdev;

/* Where the three parts of a split queue are, for the transport. */
struct sg_vq_layout {
	unsigned index;
	uint16_t num;
	uint64_t desc_gpa, avail_gpa, used_gpa;
	void *desc, *avail, *used;	/* the same, in our mapping */
};

/*
 * A transport: how the driver reaches the device. Every operation returns
 * 0 or a negative errno, its cause printed.
 */
struct sg_transport {
	const char *name;
	/* The device's 64 feature bits. */
	int (*get_features)(struct sg_vdev *vd, uint64_t *offered);
	/* Write the driver's features; fail unless the device accepts them. */
	int (*set_features)(struct sg_vdev *vd, uint64_t features);
	/* Device config space [off, off+len), consistent (one generation). */
	int (*config_read)(struct sg_vdev *vd, uint32_t off, void *buf,
	    uint32_t len);
	/* Largest size of queue @index, 0 when it does not exist. */
	int (*queue_max)(struct sg_vdev *vd, unsigned index, uint32_t *max);
	/* Hand the initialised rings of a queue to the device. */
	int (*queue_enable)(struct sg_vdev *vd, const struct sg_vq_layout *l);
	int (*driver_ok)(struct sg_vdev *vd);
	/* Stop the device; it no longer touches the rings afterwards. */
	int (*reset)(struct sg_vdev *vd);
	/* Best effort: tell the device the driver gave up. May be NULL. */
	void (*fail)(struct sg_vdev *vd);
	/* The device can still be reached (for reset at close). */
	bool (*alive)(const struct sg_vdev *vd);
	/* The data path: notify queue @queue (the kick). */
	int (*notify)(struct sg_vdev *vd, unsigned queue);
	/*
	 * Wait up to @timeout_ms for a used-buffer notification (an
	 * interrupt) and acknowledge it. 0: one came (may be spurious);
	 * -ETIMEDOUT; any other error is fatal for the device.
	 */
	int (*wait)(struct sg_vdev *vd, int timeout_ms);
};

/* virtio-mmio over sg_sim: what sg_vdev_probe sets up. */
extern const struct sg_transport sg_vmmio_transport;

struct sg_vdev {
	const struct sg_transport *tr;
	void *tr_ctx;		/* the transport's own state */
	struct sg_mem *mem;	/* guest RAM for rings and buffers */
	struct sg_sim *sim;	/* virtio-mmio: the domain; else NULL */
	unsigned dev;		/* index in the sim's device list (irq) */
	uint64_t base;		/* MMIO window */
	uint32_t device_id;
	uint32_t vendor_id;
	uint64_t offered;	/* device features */
	uint64_t features;	/* negotiated */
	uint8_t status;		/* last status written */
	bool needs_reset;	/* device set DEVICE_NEEDS_RESET */
	struct sg_vq *vq[SG_VDEV_MAX_QUEUES];
};

/* One buffer of a chain: guest-physical, in guest RAM. */
struct sg_buf {
	uint64_t gpa;
	uint32_t len;
};

/* Options for sg_vq_setup. */
struct sg_vq_opts {
	unsigned num;		/* wanted size; 0: the queue's max (<= 256) */
	bool indirect;		/* chains of > 1 buffer via an indirect table */
};

/* --- Device --- */

/*
 * sg_vdev_probe - check the window at @base is a version 2 virtio-mmio
 * device of @device_id, reset it and set ACKNOWLEDGE and DRIVER. Sets the
 * virtio-mmio transport and the sim's guest RAM.
 */
int sg_vdev_probe(struct sg_vdev *vd, struct sg_sim *sim, unsigned dev,
    uint64_t base, uint32_t device_id);
/* Features wanted & offered; fails without VERSION_1 or FEATURES_OK. */
int sg_vdev_negotiate(struct sg_vdev *vd, uint64_t wanted);
int sg_vdev_driver_ok(struct sg_vdev *vd);
/* Status 0 and wait for it to read back 0; frees nothing. */
int sg_vdev_reset(struct sg_vdev *vd);
/* Free the host-side queue state (guest RAM is never freed). */
void sg_vdev_cleanup(struct sg_vdev *vd);
/* Best effort: set FAILED (the driver gave up). */
void sg_vdev_fail(struct sg_vdev *vd);
/* The device can still be reached (connected, not hung up). */
bool sg_vdev_alive(const struct sg_vdev *vd);
bool sg_vdev_has(const struct sg_vdev *vd, unsigned feature_bit);

/*
 * sg_vdev_wait - wait up to @timeout_ms for the device's used-buffer
 * notification and acknowledge it (virtio-mmio: the interrupt, then
 * InterruptStatus / InterruptACK as sg_vdev_interrupt). 0 when one came.
 */
int sg_vdev_wait(struct sg_vdev *vd, int timeout_ms);

/*
 * sg_vdev_config_read - @len bytes of device config space from @off
 * (virtio-mmio: natural-width accesses at base + 0x100, repeated while
 * ConfigGeneration changes, bounded).
 */
int sg_vdev_config_read(struct sg_vdev *vd, uint32_t off, void *buf,
    uint32_t len);

/* --- virtio-mmio registers (sg_vmmio_transport only) --- */

int sg_vdev_read32(struct sg_vdev *vd, uint32_t off, uint32_t *val);
int sg_vdev_write32(struct sg_vdev *vd, uint32_t off, uint32_t val);
int sg_vdev_status(struct sg_vdev *vd, uint8_t *status);

/*
 * sg_vdev_interrupt - handle one interrupt: read InterruptStatus, write
 * InterruptACK. Sets *isr (may be 0: spurious). With the CONFIG bit set
 * the status is re-read: DEVICE_NEEDS_RESET gives -EIO (vd->needs_reset).
 */
int sg_vdev_interrupt(struct sg_vdev *vd, uint32_t *isr);

/* --- Split virtqueue --- */

/* Negotiates nothing: uses vd->features for INDIRECT_DESC and EVENT_IDX. */
int sg_vq_setup(struct sg_vdev *vd, unsigned index,
    const struct sg_vq_opts *opts, struct sg_vq **out);
unsigned sg_vq_num(const struct sg_vq *vq);
/* Chains of more than one buffer go through an indirect table. */
bool sg_vq_uses_indirect(const struct sg_vq *vq);
/* Descriptors free right now. */
unsigned sg_vq_nr_free(const struct sg_vq *vq);
/* Chains added and not yet returned by sg_vq_get_used. */
unsigned sg_vq_nr_inflight(const struct sg_vq *vq);

/*
 * sg_vq_add - put a chain of @nr_out device-readable then @nr_in
 * device-writable buffers in the avail ring and publish it (avail->idx,
 * release ordered). No notification: see sg_vq_kick. @token comes back
 * from sg_vq_get_used. -ENOSPC: not enough free descriptors.
 */
int sg_vq_add(struct sg_vq *vq, const struct sg_buf *out, unsigned nr_out,
    const struct sg_buf *in, unsigned nr_in, void *token);
/*
 * sg_vq_kick - notify the device (the transport's notify; virtio-mmio:
 * QueueNotify) unless it asked not to be:
 * VRING_USED_F_NO_NOTIFY, or avail_event with EVENT_IDX. Sets *notified.
 */
int sg_vq_kick(struct sg_vq *vq, bool *notified);
/* One returned chain. */
struct sg_used {
	uint16_t head;		/* first descriptor of the chain */
	uint32_t len;		/* bytes the device says it wrote */
	uint32_t in_len;	/* bytes it was allowed to write */
	void *token;		/* as given to sg_vq_add */
};

/*
 * sg_vq_get_used - take one used entry: 1 with *u filled, 0 when none,
 * -EIO when the device returned a bad entry (unknown or idle head, length
 * above the chain's writable bytes, used->idx ahead by more than num).
 * With EVENT_IDX, used_event asks for an interrupt at the next entry.
 */
int sg_vq_get_used(struct sg_vq *vq, struct sg_used *u);

struct sg_vq_stats {
	uint64_t nr_added;	/* chains */
	uint64_t nr_indirect;	/* of which through an indirect table */
	uint64_t nr_kicks;	/* notifications sent (QueueNotify writes) */
	uint64_t nr_kicks_suppressed;	/* device said it needs none */
	uint64_t nr_used;	/* chains returned */
};
void sg_vq_get_stats(const struct sg_vq *vq, struct sg_vq_stats *st);

#endif
