/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The virtio-mmio version 2 transport and split virtqueues, after Linux's
 * drivers/virtio/virtio_mmio.c and virtio_ring.c. Everything above the
 * "Transport-independent" line talks to registers; everything below only
 * to struct sg_transport.
 */
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>
#include <linux/virtio_ring.h>

#include "sg_log.h"
#include "sg_virtio.h"

#define VIRTIO_MMIO_MAGIC	0x74726976u	/* "virt" */
/* Why 2 s: a reset is a register write; the daemon acks it at once. */
#define SG_RESET_TIMEOUT_MS	2000
/* Why 16: config changes are rare; more retries means a broken counter. */
#define SG_CONFIG_RETRIES	16
/* Default queue size when the caller has no wish (Linux uses the max). */
#define SG_VQ_DEFAULT_NUM	256u

struct sg_vq_head {
	void *token;
	uint32_t in_len;
	uint16_t nr_desc;	/* descriptors taken from the ring table */
	bool busy;
	bool indirect;
};

struct sg_vq {
	struct sg_vdev *vd;
	unsigned index;
	uint16_t num;
	bool use_indirect;	/* option set and feature negotiated */
	bool event_idx;

	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	uint64_t desc_gpa, avail_gpa, used_gpa;
	struct vring_desc *ind;	/* num tables of SG_VQ_INDIRECT_MAX */
	uint64_t ind_gpa;

	/* Our own free list: never trust links in shared memory. */
	uint16_t *next;
	uint16_t free_head;
	uint16_t nr_free;
	struct sg_vq_head *head;

	uint16_t avail_idx;	/* what we published */
	uint16_t kicked_idx;	/* avail_idx at the last kick decision */
	uint16_t last_used;
	unsigned nr_inflight;
	struct sg_vq_stats st;
};

/* ------------------------------------------------------------------ */
/* virtio-mmio: registers */

static int reg_read(struct sg_vdev *vd, uint32_t off, unsigned size,
    uint64_t *val)
{
	int rc = sg_mmio_read(vd->sim, vd->base + off, size, val);

	if (rc < 0)
		sg_errx("virtio dev %u: read of register %#x failed", vd->dev,
		    off);
	return rc;
}

static int reg_write(struct sg_vdev *vd, uint32_t off, unsigned size,
    uint64_t val)
{
	int rc = sg_mmio_write(vd->sim, vd->base + off, size, val);

	if (rc < 0)
		sg_errx("virtio dev %u: write of register %#x failed", vd->dev,
		    off);
	return rc;
}

int sg_vdev_read32(struct sg_vdev *vd, uint32_t off, uint32_t *val)
{
	uint64_t v;
	int rc = reg_read(vd, off, 4, &v);

	*val = (uint32_t)v;
	return rc;
}

int sg_vdev_write32(struct sg_vdev *vd, uint32_t off, uint32_t val)
{
	return reg_write(vd, off, 4, val);
}

int sg_vdev_status(struct sg_vdev *vd, uint8_t *status)
{
	uint32_t v;
	int rc = sg_vdev_read32(vd, VIRTIO_MMIO_STATUS, &v);

	*status = (uint8_t)v;
	return rc;
}

static int status_set(struct sg_vdev *vd, uint8_t status)
{
	int rc = sg_vdev_write32(vd, VIRTIO_MMIO_STATUS, status);

	if (rc == 0)
		vd->status = status;
	return rc;
}

static int status_add(struct sg_vdev *vd, uint8_t bit)
{
	return status_set(vd, vd->status | bit);
}

static int write64(struct sg_vdev *vd, uint32_t lo_off, uint64_t v)
{
	int rc = sg_vdev_write32(vd, lo_off, (uint32_t)v);

	if (rc == 0)
		rc = sg_vdev_write32(vd, lo_off + 4, (uint32_t)(v >> 32));
	return rc;
}

bool sg_vdev_has(const struct sg_vdev *vd, unsigned bit)
{
	return bit < 64 && (vd->features & (UINT64_C(1) << bit)) != 0;
}

/* ------------------------------------------------------------------ */
/* virtio-mmio: device */

static int vmmio_reset(struct sg_vdev *vd)
{
	struct timespec ms = { .tv_nsec = 1000000 };
	uint8_t status = 0xff;
	int rc;

	rc = sg_vdev_write32(vd, VIRTIO_MMIO_STATUS, 0);
	if (rc < 0)
		return rc;
	vd->status = 0;
	vd->needs_reset = false;
	/* virtio 1.2, 4.2.3.1: wait until Status reads back 0. */
	for (unsigned i = 0; i < SG_RESET_TIMEOUT_MS; i++) {
		rc = sg_vdev_status(vd, &status);
		if (rc < 0)
			return rc;
		if (status == 0)
			return 0;
		nanosleep(&ms, NULL);
	}
	return sg_err(-ETIMEDOUT, "virtio dev %u: status still %#x %d ms"
	    " after reset", vd->dev, status, SG_RESET_TIMEOUT_MS);
}

int sg_vdev_probe(struct sg_vdev *vd, struct sg_sim *sim, unsigned dev,
    uint64_t base, uint32_t device_id)
{
	uint32_t magic, version, id;
	int rc;

	memset(vd, 0, sizeof(*vd));
	vd->tr = &sg_vmmio_transport;
	vd->sim = sim;
	vd->mem = sg_sim_mem(sim);
	vd->dev = dev;
	vd->base = base;
	if ((rc = sg_vdev_read32(vd, VIRTIO_MMIO_MAGIC_VALUE, &magic)) < 0)
		return rc;
	if (magic != VIRTIO_MMIO_MAGIC)
		return sg_err(-ENODEV, "virtio dev %u at %#llx: bad magic"
		    " %#x", dev, (unsigned long long)base, magic);
	if ((rc = sg_vdev_read32(vd, VIRTIO_MMIO_VERSION, &version)) < 0)
		return rc;
	if (version != 2)
		return sg_err(-ENODEV, "virtio dev %u: version %u (%s)", dev,
		    version, version == 1 ? "legacy, not supported" :
		    "unknown");
	if ((rc = sg_vdev_read32(vd, VIRTIO_MMIO_DEVICE_ID, &id)) < 0)
		return rc;
	if (id == 0)
		return sg_err(-ENODEV, "virtio dev %u: placeholder (device id"
		    " 0)", dev);
	if (id != device_id)
		return sg_err(-ENODEV, "virtio dev %u: device id %u, expected"
		    " %u", dev, id, device_id);
	vd->device_id = id;
	if ((rc = sg_vdev_read32(vd, VIRTIO_MMIO_VENDOR_ID, &vd->vendor_id)) < 0)
		return rc;
	sg_debug("virtio dev %u: id %u vendor %#x", dev, id, vd->vendor_id);

	if ((rc = sg_vdev_reset(vd)) < 0)
		return rc;
	if ((rc = status_add(vd, VIRTIO_CONFIG_S_ACKNOWLEDGE)) < 0)
		return rc;
	return status_add(vd, VIRTIO_CONFIG_S_DRIVER);
}

static int vmmio_get_features(struct sg_vdev *vd, uint64_t *offered)
{
	uint32_t lo, hi;
	int rc;

	if ((rc = sg_vdev_write32(vd, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0)) < 0 ||
	    (rc = sg_vdev_read32(vd, VIRTIO_MMIO_DEVICE_FEATURES, &lo)) < 0 ||
	    (rc = sg_vdev_write32(vd, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1)) < 0 ||
	    (rc = sg_vdev_read32(vd, VIRTIO_MMIO_DEVICE_FEATURES, &hi)) < 0)
		return rc;
	*offered = (uint64_t)hi << 32 | lo;
	return 0;
}

static int vmmio_set_features(struct sg_vdev *vd, uint64_t features)
{
	uint8_t status;
	int rc;

	if ((rc = sg_vdev_write32(vd, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0)) < 0 ||
	    (rc = sg_vdev_write32(vd, VIRTIO_MMIO_DRIVER_FEATURES,
	    (uint32_t)features)) < 0 ||
	    (rc = sg_vdev_write32(vd, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1)) < 0 ||
	    (rc = sg_vdev_write32(vd, VIRTIO_MMIO_DRIVER_FEATURES,
	    (uint32_t)(features >> 32))) < 0)
		return rc;
	if ((rc = status_add(vd, VIRTIO_CONFIG_S_FEATURES_OK)) < 0)
		return rc;
	if ((rc = sg_vdev_status(vd, &status)) < 0)
		return rc;
	if ((status & VIRTIO_CONFIG_S_FEATURES_OK) == 0)
		return sg_err(-ENOTSUP, "virtio dev %u: device refused features"
		    " %#llx (status %#x)", vd->dev,
		    (unsigned long long)features, status);
	return 0;
}

static int vmmio_driver_ok(struct sg_vdev *vd)
{
	uint8_t status;
	int rc;

	if ((rc = status_add(vd, VIRTIO_CONFIG_S_DRIVER_OK)) < 0)
		return rc;
	if ((rc = sg_vdev_status(vd, &status)) < 0)
		return rc;
	if ((status & VIRTIO_CONFIG_S_NEEDS_RESET) != 0) {
		vd->needs_reset = true;
		return sg_err(-EIO, "virtio dev %u: device needs reset right"
		    " after DRIVER_OK (status %#x)", vd->dev, status);
	}
	if ((status & VIRTIO_CONFIG_S_DRIVER_OK) == 0)
		return sg_err(-EIO, "virtio dev %u: DRIVER_OK not kept (status"
		    " %#x)", vd->dev, status);
	return 0;
}

static void vmmio_fail(struct sg_vdev *vd)
{
	(void)status_add(vd, VIRTIO_CONFIG_S_FAILED);
}

static bool vmmio_alive(const struct sg_vdev *vd)
{
	return vd->sim != NULL && sg_sim_alive(vd->sim);
}

static int vmmio_config_read(struct sg_vdev *vd, uint32_t off, void *buf,
    uint32_t len)
{
	uint8_t *out = buf;
	uint32_t gen0, gen1;
	int rc;

	if (off > VIRTIO_MMIO_CONFIG || len > 0x100 - off)
		return sg_err(-EINVAL, "virtio dev %u: config [%#x, +%u) out of"
		    " the window", vd->dev, off, len);
	for (int tries = 0; tries < SG_CONFIG_RETRIES; tries++) {
		if ((rc = sg_vdev_read32(vd, VIRTIO_MMIO_CONFIG_GENERATION,
		    &gen0)) < 0)
			return rc;
		for (uint32_t i = 0; i < len;) {
			uint32_t o = off + i;
			unsigned w = (o % 4 == 0 && len - i >= 4) ? 4 :
			    (o % 2 == 0 && len - i >= 2) ? 2 : 1;
			uint64_t v;

			if ((rc = reg_read(vd, VIRTIO_MMIO_CONFIG + o, w,
			    &v)) < 0)
				return rc;
			/* Config space is little endian. */
			for (unsigned b = 0; b < w; b++)
				out[i + b] = (uint8_t)(v >> (8 * b));
			i += w;
		}
		if ((rc = sg_vdev_read32(vd, VIRTIO_MMIO_CONFIG_GENERATION,
		    &gen1)) < 0)
			return rc;
		if (gen0 == gen1)
			return 0;
		sg_debug("virtio dev %u: config generation %u -> %u, re-read",
		    vd->dev, gen0, gen1);
	}
	return sg_err(-EAGAIN, "virtio dev %u: config generation keeps"
	    " changing", vd->dev);
}

int sg_vdev_interrupt(struct sg_vdev *vd, uint32_t *isr)
{
	uint8_t status;
	int rc;

	*isr = 0;
	if ((rc = sg_vdev_read32(vd, VIRTIO_MMIO_INTERRUPT_STATUS, isr)) < 0)
		return rc;
	if (*isr == 0)
		return 0;
	if ((rc = sg_vdev_write32(vd, VIRTIO_MMIO_INTERRUPT_ACK, *isr)) < 0)
		return rc;
	if ((*isr & VIRTIO_MMIO_INT_CONFIG) != 0) {
		if ((rc = sg_vdev_status(vd, &status)) < 0)
			return rc;
		if ((status & VIRTIO_CONFIG_S_NEEDS_RESET) != 0) {
			vd->needs_reset = true;
			return sg_err(-EIO, "virtio dev %u: device needs reset"
			    " (status %#x)", vd->dev, status);
		}
	}
	return 0;
}

static int vmmio_queue_max(struct sg_vdev *vd, unsigned index,
    uint32_t *max)
{
	uint32_t ready;
	int rc;

	if ((rc = sg_vdev_write32(vd, VIRTIO_MMIO_QUEUE_SEL, index)) < 0 ||
	    (rc = sg_vdev_read32(vd, VIRTIO_MMIO_QUEUE_READY, &ready)) < 0)
		return rc;
	if (ready != 0)
		return sg_err(-EBUSY, "virtio dev %u: queue %u ready before"
		    " setup", vd->dev, index);
	return sg_vdev_read32(vd, VIRTIO_MMIO_QUEUE_NUM_MAX, max);
}

/* The queue is still selected: queue_max came just before. */
static int vmmio_queue_enable(struct sg_vdev *vd, const struct sg_vq_layout *l)
{
	uint32_t ready;
	int rc;

	if ((rc = sg_vdev_write32(vd, VIRTIO_MMIO_QUEUE_NUM, l->num)) < 0 ||
	    (rc = write64(vd, VIRTIO_MMIO_QUEUE_DESC_LOW, l->desc_gpa)) < 0 ||
	    (rc = write64(vd, VIRTIO_MMIO_QUEUE_AVAIL_LOW, l->avail_gpa)) < 0 ||
	    (rc = write64(vd, VIRTIO_MMIO_QUEUE_USED_LOW, l->used_gpa)) < 0)
		return rc;
	/* The rings must be initialised before the device may look. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if ((rc = sg_vdev_write32(vd, VIRTIO_MMIO_QUEUE_READY, 1)) < 0 ||
	    (rc = sg_vdev_read32(vd, VIRTIO_MMIO_QUEUE_READY, &ready)) < 0)
		return rc;
	if (ready != 1)
		return sg_err(-EIO, "virtio dev %u: queue %u: QueueReady reads"
		    " %u after writing 1", vd->dev, l->index, ready);
	return 0;
}

static int vmmio_notify(struct sg_vdev *vd, unsigned queue)
{
	return sg_vdev_write32(vd, VIRTIO_MMIO_QUEUE_NOTIFY, queue);
}

/* The interrupt, then InterruptStatus and InterruptACK (Linux vm_interrupt). */
static int vmmio_wait(struct sg_vdev *vd, int timeout_ms)
{
	uint32_t isr;
	int rc;

	rc = sg_wait_irq(vd->sim, vd->dev, timeout_ms);
	if (rc < 0)
		return rc;
	return sg_vdev_interrupt(vd, &isr);
}

const struct sg_transport sg_vmmio_transport = {
	.name = "virtio-mmio",
	.get_features = vmmio_get_features,
	.set_features = vmmio_set_features,
	.config_read = vmmio_config_read,
	.queue_max = vmmio_queue_max,
	.queue_enable = vmmio_queue_enable,
	.driver_ok = vmmio_driver_ok,
	.reset = vmmio_reset,
	.fail = vmmio_fail,
	.alive = vmmio_alive,
	.notify = vmmio_notify,
	.wait = vmmio_wait,
};

/* ------------------------------------------------------------------ */
/* Transport-independent: device */

int sg_vdev_negotiate(struct sg_vdev *vd, uint64_t wanted)
{
	int rc;

	if ((rc = vd->tr->get_features(vd, &vd->offered)) < 0)
		return rc;
	if ((vd->offered & (UINT64_C(1) << VIRTIO_F_VERSION_1)) == 0)
		return sg_err(-ENOTSUP, "virtio dev %u: VERSION_1 not offered"
		    " (features %#llx)", vd->dev,
		    (unsigned long long)vd->offered);
	vd->features = vd->offered &
	    (wanted | UINT64_C(1) << VIRTIO_F_VERSION_1);
	if ((rc = vd->tr->set_features(vd, vd->features)) < 0)
		return rc;
	sg_debug("virtio dev %u: offered %#llx, negotiated %#llx", vd->dev,
	    (unsigned long long)vd->offered, (unsigned long long)vd->features);
	return 0;
}

int sg_vdev_config_read(struct sg_vdev *vd, uint32_t off, void *buf,
    uint32_t len)
{
	return vd->tr->config_read(vd, off, buf, len);
}

int sg_vdev_driver_ok(struct sg_vdev *vd)
{
	return vd->tr->driver_ok(vd);
}

int sg_vdev_reset(struct sg_vdev *vd)
{
	return vd->tr->reset(vd);
}

bool sg_vdev_alive(const struct sg_vdev *vd)
{
	return vd->tr != NULL && vd->tr->alive(vd);
}

void sg_vdev_fail(struct sg_vdev *vd)
{
	if (vd->tr != NULL && vd->tr->fail != NULL && sg_vdev_alive(vd))
		vd->tr->fail(vd);
}

int sg_vdev_wait(struct sg_vdev *vd, int timeout_ms)
{
	return vd->tr->wait(vd, timeout_ms);
}

void sg_vdev_cleanup(struct sg_vdev *vd)
{
	for (unsigned i = 0; i < SG_VDEV_MAX_QUEUES; i++) {
		struct sg_vq *vq = vd->vq[i];

		if (vq == NULL)
			continue;
		free(vq->next);
		free(vq->head);
		free(vq);
		vd->vq[i] = NULL;
	}
}

/* ------------------------------------------------------------------ */
/* Transport-independent: split virtqueue */

static uint16_t load16(const __virtio16 *p)
{
	return le16toh(__atomic_load_n((const volatile uint16_t *)p,
	    __ATOMIC_RELAXED));
}

static void store16(__virtio16 *p, uint16_t v)
{
	__atomic_store_n((volatile uint16_t *)p, htole16(v), __ATOMIC_RELAXED);
}

static uint16_t pow2_floor(uint32_t v)
{
	uint32_t p = 1;

	while (p * 2 <= v)
		p *= 2;
	return (uint16_t)p;
}

/* Guest RAM for the three parts, each at its virtio 1 alignment. */
static int vq_alloc_rings(struct sg_vq *vq)
{
	uint64_t num = vq->num;
	uint64_t desc_len = 16 * num;
	uint64_t avail_len = 4 + 2 * num + 2;		/* + used_event */
	uint64_t used_off = (desc_len + avail_len + 3) & ~UINT64_C(3);
	uint64_t used_len = 4 + 8 * num + 2;		/* + avail_event */
	uint64_t gpa;
	uint8_t *p;

	/* One block, packed tight: desc 16-, avail 2-, used 4-aligned. */
	p = sg_mem_alloc(vq->vd->mem, used_off + used_len, &gpa);
	if (p == NULL)
		return -ENOMEM;
	vq->desc = (struct vring_desc *)(void *)p;
	vq->avail = (struct vring_avail *)(void *)(p + desc_len);
	vq->used = (struct vring_used *)(void *)(p + used_off);
	vq->desc_gpa = gpa;
	vq->avail_gpa = gpa + desc_len;
	vq->used_gpa = gpa + used_off;
	if (vq->use_indirect) {
		p = sg_mem_alloc(vq->vd->mem,
		    num * SG_VQ_INDIRECT_MAX * sizeof(struct vring_desc), &gpa);
		if (p == NULL)
			return -ENOMEM;
		vq->ind = (struct vring_desc *)(void *)p;
		vq->ind_gpa = gpa;
	}
	return 0;
}

int sg_vq_setup(struct sg_vdev *vd, unsigned index,
    const struct sg_vq_opts *opts, struct sg_vq **out)
{
	struct sg_vq_layout l;
	uint32_t max, want;
	struct sg_vq *vq;
	int rc;

	*out = NULL;
	if (index >= SG_VDEV_MAX_QUEUES || vd->vq[index] != NULL)
		return sg_err(-EINVAL, "virtio dev %u: queue %u already set up"
		    " or out of range", vd->dev, index);
	if ((rc = vd->tr->queue_max(vd, index, &max)) < 0)
		return rc;
	if (max == 0)
		return sg_err(-ENOENT, "virtio dev %u: queue %u does not exist",
		    vd->dev, index);
	if (max > SG_VQ_MAX_NUM)
		max = SG_VQ_MAX_NUM;
	want = opts != NULL && opts->num != 0 ? opts->num : SG_VQ_DEFAULT_NUM;

	vq = calloc(1, sizeof(*vq));
	if (vq == NULL)
		return sg_err(-ENOMEM, "allocate queue");
	vq->vd = vd;
	vq->index = index;
	/* Split queue sizes are powers of 2 (virtio 1.2, 2.7). */
	vq->num = pow2_floor(want < max ? want : max);
	vq->use_indirect = opts != NULL && opts->indirect &&
	    sg_vdev_has(vd, VIRTIO_RING_F_INDIRECT_DESC);
	vq->event_idx = sg_vdev_has(vd, VIRTIO_RING_F_EVENT_IDX);
	vq->next = calloc(vq->num, sizeof(*vq->next));
	vq->head = calloc(vq->num, sizeof(*vq->head));
	if (vq->next == NULL || vq->head == NULL) {
		rc = sg_err(-ENOMEM, "allocate queue");
		goto fail;
	}
	rc = vq_alloc_rings(vq);
	if (rc < 0)
		goto fail;
	for (unsigned i = 0; i < vq->num; i++)
		vq->next[i] = (uint16_t)(i + 1);
	vq->nr_free = vq->num;
	store16(&vq->avail->flags, 0);		/* interrupts wanted */
	store16(&vq->avail->idx, 0);
	if (vq->event_idx)
		store16(&vq->avail->ring[vq->num], 0);	/* used_event */
	l = (struct sg_vq_layout){
		.index = index, .num = vq->num,
		.desc_gpa = vq->desc_gpa, .avail_gpa = vq->avail_gpa,
		.used_gpa = vq->used_gpa,
		.desc = vq->desc, .avail = vq->avail, .used = vq->used,
	};
	/* Initialised rings before the device learns where they are. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	rc = vd->tr->queue_enable(vd, &l);
	if (rc < 0)
		goto fail;
	sg_debug("virtio dev %u: queue %u: %u entries (max %u)%s%s, desc %#llx"
	    " avail %#llx used %#llx", vd->dev, index, vq->num, max,
	    vq->use_indirect ? ", indirect" : "",
	    vq->event_idx ? ", event idx" : "",
	    (unsigned long long)vq->desc_gpa,
	    (unsigned long long)vq->avail_gpa,
	    (unsigned long long)vq->used_gpa);
	vd->vq[index] = vq;
	*out = vq;
	return 0;
fail:
	free(vq->next);
	free(vq->head);
	free(vq);
	return rc;
}

unsigned sg_vq_num(const struct sg_vq *vq)
{
	return vq->num;
}

bool sg_vq_uses_indirect(const struct sg_vq *vq)
{
	return vq->use_indirect;
}

unsigned sg_vq_nr_free(const struct sg_vq *vq)
{
	return vq->nr_free;
}

unsigned sg_vq_nr_inflight(const struct sg_vq *vq)
{
	return vq->nr_inflight;
}

void sg_vq_get_stats(const struct sg_vq *vq, struct sg_vq_stats *st)
{
	*st = vq->st;
}

static void desc_fill(struct vring_desc *d, const struct sg_buf *b,
    uint16_t flags, uint16_t next)
{
	d->addr = htole64(b->gpa);
	d->len = htole32(b->len);
	d->flags = htole16(flags);
	d->next = htole16(next);
}

int sg_vq_add(struct sg_vq *vq, const struct sg_buf *out, unsigned nr_out,
    const struct sg_buf *in, unsigned nr_in, void *token)
{
	unsigned total = nr_out + nr_in;
	bool indirect = vq->use_indirect && total > 1 &&
	    total <= SG_VQ_INDIRECT_MAX;
	unsigned need = indirect ? 1 : total;
	uint16_t head = vq->free_head, d = head, last = head;
	uint32_t in_len = 0;

	if (total == 0 || (total > vq->num && !indirect))
		return sg_err(-EINVAL, "virtio dev %u: queue %u: chain of %u"
		    " buffers cannot fit %u descriptors", vq->vd->dev,
		    vq->index, total, vq->num);
	if (vq->nr_free < need)
		return -ENOSPC;
	for (unsigned i = 0; i < nr_in; i++)
		if (__builtin_add_overflow(in_len, in[i].len, &in_len))
			return sg_err(-EINVAL, "virtio dev %u: queue %u: in"
			    " buffers above 4 GiB", vq->vd->dev, vq->index);

	if (indirect) {
		struct vring_desc *t = vq->ind + (size_t)head * SG_VQ_INDIRECT_MAX;
		struct sg_buf tb = {
			.gpa = vq->ind_gpa + (uint64_t)head *
			    SG_VQ_INDIRECT_MAX * sizeof(struct vring_desc),
			.len = (uint32_t)(total * sizeof(struct vring_desc)),
		};

		for (unsigned i = 0; i < total; i++) {
			bool is_in = i >= nr_out;
			uint16_t f = (uint16_t)((i + 1 < total ?
			    VRING_DESC_F_NEXT : 0) |
			    (is_in ? VRING_DESC_F_WRITE : 0));

			desc_fill(&t[i], is_in ? &in[i - nr_out] : &out[i], f,
			    (uint16_t)(i + 1 < total ? i + 1 : 0));
		}
		desc_fill(&vq->desc[head], &tb, VRING_DESC_F_INDIRECT, 0);
		vq->free_head = vq->next[head];
		vq->st.nr_indirect++;
	} else {
		for (unsigned i = 0; i < total; i++) {
			bool is_in = i >= nr_out;
			uint16_t f = (uint16_t)((i + 1 < total ?
			    VRING_DESC_F_NEXT : 0) |
			    (is_in ? VRING_DESC_F_WRITE : 0));

			desc_fill(&vq->desc[d], is_in ? &in[i - nr_out] :
			    &out[i], f, i + 1 < total ? vq->next[d] : 0);
			last = d;
			d = vq->next[d];
		}
		vq->free_head = vq->next[last];
	}
	vq->nr_free = (uint16_t)(vq->nr_free - need);
	vq->head[head].token = token;
	vq->head[head].in_len = in_len;
	vq->head[head].nr_desc = (uint16_t)need;
	vq->head[head].indirect = indirect;
	vq->head[head].busy = true;
	vq->nr_inflight++;
	vq->st.nr_added++;

	store16(&vq->avail->ring[vq->avail_idx % vq->num], head);
	/* Descriptors and ring entry before the index that publishes them. */
	__atomic_thread_fence(__ATOMIC_RELEASE);
	vq->avail_idx++;
	store16(&vq->avail->idx, vq->avail_idx);
	return 0;
}

int sg_vq_kick(struct sg_vq *vq, bool *notified)
{
	uint16_t old = vq->kicked_idx, now = vq->avail_idx;
	bool need;
	int rc;

	*notified = false;
	/* avail->idx before reading the device's suppression (Linux: mb). */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (vq->event_idx)
		need = vring_need_event(
		    load16((const __virtio16 *)(const void *)
		    &vq->used->ring[vq->num]), now, old);
	else
		need = (load16(&vq->used->flags) & VRING_USED_F_NO_NOTIFY) == 0;
	vq->kicked_idx = now;
	if (!need) {
		vq->st.nr_kicks_suppressed++;
		return 0;
	}
	rc = vq->vd->tr->notify(vq->vd, vq->index);
	if (rc < 0)
		return rc;
	vq->st.nr_kicks++;
	*notified = true;
	return 0;
}

static void vq_free_chain(struct sg_vq *vq, uint16_t head)
{
	struct sg_vq_head *h = &vq->head[head];
	uint16_t last = head;

	for (unsigned i = 1; i < h->nr_desc; i++)
		last = vq->next[last];
	vq->next[last] = vq->free_head;
	vq->free_head = head;
	vq->nr_free = (uint16_t)(vq->nr_free + h->nr_desc);
	h->busy = false;
	h->token = NULL;
	vq->nr_inflight--;
}

int sg_vq_get_used(struct sg_vq *vq, struct sg_used *u)
{
	const volatile struct vring_used_elem *e;
	uint16_t used_idx;
	uint32_t id, len;

	used_idx = load16(&vq->used->idx);
	if (used_idx == vq->last_used && vq->event_idx) {
		/* Ask for an interrupt at the next entry, then re-check. */
		store16(&vq->avail->ring[vq->num], vq->last_used);
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		used_idx = load16(&vq->used->idx);
	}
	if (used_idx == vq->last_used)
		return 0;
	if ((uint16_t)(used_idx - vq->last_used) > vq->num)
		return sg_err(-EIO, "virtio dev %u: queue %u: used idx %u is %u"
		    " ahead of %u (size %u)", vq->vd->dev, vq->index, used_idx,
		    (uint16_t)(used_idx - vq->last_used), vq->last_used,
		    vq->num);
	/* The entry is read only after the index that published it. */
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	e = &vq->used->ring[vq->last_used % vq->num];
	id = le32toh(e->id);
	len = le32toh(e->len);
	if (id >= vq->num || !vq->head[id].busy)
		return sg_err(-EIO, "virtio dev %u: queue %u: used entry %u"
		    " names %s head %u", vq->vd->dev, vq->index, vq->last_used,
		    id >= vq->num ? "out of range" : "idle", id);
	if (len > vq->head[id].in_len)
		return sg_err(-EIO, "virtio dev %u: queue %u: head %u used len"
		    " %u > writable %u", vq->vd->dev, vq->index, id, len,
		    vq->head[id].in_len);
	u->head = (uint16_t)id;
	u->len = len;
	u->in_len = vq->head[id].in_len;
	u->token = vq->head[id].token;
	vq_free_chain(vq, (uint16_t)id);
	vq->last_used++;
	vq->st.nr_used++;
	if (vq->event_idx)
		store16(&vq->avail->ring[vq->num], vq->last_used);
	return 1;
}
