/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * sg_blk: a virtio-blk driver on sg_virtio, one request queue.
 *
 * A request is a chain: 16-byte header (type, reserved, sector; device
 * readable), the data (readable for writes, writable for reads and
 * GET_ID; split in up to seg_max segments), the status byte (writable).
 * Up to nr_slots requests may be in flight: sg_blk_submit as many as
 * wanted, sg_blk_kick once, sg_blk_reap them in any order.
 */
#ifndef SG_BLK_H
#define SG_BLK_H

#include <stdbool.h>
#include <stdint.h>

#include <linux/virtio_blk.h>

#include "sg_virtio.h"

#define SG_BLK_SECTOR		512u
/* Why 256: request slots of one device; more than any queue used here. */
#define SG_BLK_MAX_SLOTS	256u
/* Why 10 s: qemu-storage-daemon on a loaded CI machine, with margin. */
#define SG_BLK_TIMEOUT_MS	10000

struct sg_blk_opts {
	unsigned queue_num;	/* 0: default (sg_virtio) */
	bool indirect;		/* negotiate and use INDIRECT_DESC */
	bool event_idx;		/* negotiate EVENT_IDX */
	unsigned nr_slots;	/* requests in flight at most; 0: 32 */
};

struct sg_blk_slot;

struct sg_blk {
	struct sg_vdev vd;
	struct sg_vq *vq;
	uint64_t capacity;	/* 512-byte sectors */
	uint32_t blk_size;	/* 0 unless BLK_SIZE */
	uint32_t seg_max;	/* data segments per request (1 without SEG_MAX) */
	unsigned nr_slots;
	struct sg_blk_slot *slot;
	unsigned nr_pending_kick;	/* added since the last kick */
	uint8_t *scratch;	/* one page of guest RAM for GET_ID */
	uint64_t scratch_gpa;
};

/* What sg_blk_reap returns for one request. */
struct sg_blk_done {
	uint32_t type;		/* VIRTIO_BLK_T_* */
	uint64_t sector;
	uint32_t data_len;
	uint8_t status;		/* VIRTIO_BLK_S_*, 0xff if never written */
	uint32_t used_len;
	void *cookie;
};

/*
 * sg_blk_open - probe the virtio-mmio virtio-blk device @dev at @base,
 * then sg_blk_setup.
 */
int sg_blk_open(struct sg_blk *b, struct sg_sim *sim, unsigned dev,
    uint64_t base, const struct sg_blk_opts *opts);
/*
 * sg_blk_setup - on b->vd, already probed by its transport (the rest of
 * *b zeroed): negotiate VERSION_1, FLUSH, BLK_SIZE, SEG_MAX (+
 * INDIRECT_DESC, EVENT_IDX when asked), read the config, set up queue 0,
 * DRIVER_OK.
 */
int sg_blk_setup(struct sg_blk *b, const struct sg_blk_opts *opts);
/* Reset the device (Status 0, read back 0) and free host memory. */
int sg_blk_close(struct sg_blk *b);
bool sg_blk_has(const struct sg_blk *b, unsigned feature_bit);

/*
 * sg_blk_submit - queue one request (not notified: sg_blk_kick).
 * @data_gpa/@data_len in guest RAM; data_len 0 for FLUSH. -EBUSY: no
 * free slot; -ENOSPC: no room in the ring. Both: reap first.
 */
int sg_blk_submit(struct sg_blk *b, uint32_t type, uint64_t sector,
    uint64_t data_gpa, uint32_t data_len, void *cookie);
int sg_blk_kick(struct sg_blk *b);
/* Requests submitted and not reaped. */
unsigned sg_blk_nr_inflight(const struct sg_blk *b);
/*
 * sg_blk_reap - wait up to @timeout_ms for one request to complete (any
 * order), kicking first if needed. 0 with *d filled when it succeeded;
 * -EIO (d filled) on a bad used length or a status other than OK;
 * -ETIMEDOUT when nothing completed.
 */
int sg_blk_reap(struct sg_blk *b, struct sg_blk_done *d, int timeout_ms);
/*
 * sg_blk_poll - take one completed request without waiting: 1 with *d
 * filled, 0 when none is there; -EIO as sg_blk_reap. No kick.
 */
int sg_blk_poll(struct sg_blk *b, struct sg_blk_done *d);

/* Synchronous helpers: submit, kick, reap, status must be OK. */
int sg_blk_io(struct sg_blk *b, uint32_t type, uint64_t sector,
    uint64_t data_gpa, uint32_t data_len);
/* -ENOTSUP without VIRTIO_BLK_F_FLUSH. */
int sg_blk_flush(struct sg_blk *b);
/*
 * sg_blk_get_id - VIRTIO_BLK_T_GET_ID into @id (NUL-terminated).
 * -ENOTSUP when the device answers UNSUPP.
 */
int sg_blk_get_id(struct sg_blk *b, char id[VIRTIO_BLK_ID_BYTES + 1]);

#endif
