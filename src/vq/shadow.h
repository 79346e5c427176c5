/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * shadow: shadow split virtqueues for back-ends that cannot map guest RAM.
 *
 * xen-vhostd owns a memfd (struct shadow_mem) shared with the back-end in
 * SET_MEM_TABLE. It holds one shadow split ring per queue and a bounded pool
 * of bounce buffers. On a guest kick, shadow_vq_kick() walks the guest's
 * available ring through the guest memory accessor, validates each chain
 * (direct and indirect descriptors), copies its driver-readable bytes into
 * one shadow buffer, reserves one shadow buffer for its device-writable
 * bytes, and posts a chain of at most two shadow descriptors. On a back-end
 * call, shadow_vq_complete() takes the shadow used entries, copies the bytes
 * the back-end wrote (its used length, no more) back into the guest's
 * writable buffers, and publishes the guest used entry with that length.
 *
 * Guest rings and descriptors are untrusted: anything invalid makes the call
 * return -EINVAL (or -EFAULT for unmapped memory) with a reason, and the
 * caller sets DEVICE_NEEDS_RESET. No write outside a validated buffer, no
 * unbounded loop. Nothing here does I/O other than memory copies.
 */
#ifndef XVD_SHADOW_H
#define XVD_SHADOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Guest memory accessor. map() returns a pointer to [gpa, gpa+len) in this
 * process, or NULL when the range is not guest memory (or the grant cannot be
 * mapped); @writable asks for a writable mapping. unmap() is called for every
 * successful map(), before the request is completed to the guest.
 * (Foreign/simulated RAM: map is a range lookup, unmap does nothing. Grants:
 * map maps the grant refs, unmap unmaps them.)
 */
struct vq_mem_ops {
	void *(*map)(void *ctx, uint64_t gpa, uint64_t len, bool writable,
	    void **cookie);
	void (*unmap)(void *ctx, void *cookie);
};

struct shadow_mem;

/*
 * shadow_mem_create - a memfd of @bytes (rounded up to 4096) mapped here.
 * @name labels the memfd. Rings and bounce buffers are carved from it.
 */
int shadow_mem_create(size_t bytes, const char *name, struct shadow_mem **out);
void shadow_mem_destroy(struct shadow_mem *m);
int shadow_mem_fd(const struct shadow_mem *m);
size_t shadow_mem_size(const struct shadow_mem *m);
uint8_t *shadow_mem_hva(const struct shadow_mem *m);
/*
 * The address the back-end sees for offset 0 of the memfd (guest_addr of
 * the SET_MEM_TABLE region). Shadow descriptors carry SHADOW_IOVA_BASE +
 * offset.
 */
#define SHADOW_IOVA_BASE UINT64_C(0x100000000)
/* Bytes of bounce buffers in use (for stats and tests). */
size_t shadow_mem_in_use(const struct shadow_mem *m);

struct shadow_vq;

struct shadow_vq_cfg {
	uint32_t index;		/* queue index, for log lines */
	const char *name;	/* device name, for log lines ("dom3 blk0") */
	uint32_t num;		/* queue size, power of two <= 32768 */
	uint64_t desc_gpa, avail_gpa, used_gpa;	/* guest rings */
	bool event_idx;		/* VIRTIO_RING_F_EVENT_IDX negotiated */
	bool indirect;		/* VIRTIO_RING_F_INDIRECT_DESC negotiated */
	/*
	 * The guest rings were served by a previous xen-vhostd: start at the
	 * guest's used index, so every request not completed yet is taken
	 * (again) from the avail ring.
	 */
	bool resume;
	const struct vq_mem_ops *mem;
	void *mem_ctx;
};

/*
 * shadow_vq_create - map the guest rings (kept mapped until destroy) and
 * carve the shadow ring of the same size from @m. Fails with -EFAULT when a
 * guest ring is not mappable, -ENOMEM when @m has no room for the ring.
 */
int shadow_vq_create(struct shadow_mem *m, const struct shadow_vq_cfg *cfg,
    struct shadow_vq **out);
/* Releases the shadow ring and every bounce buffer still held; unmaps. */
void shadow_vq_destroy(struct shadow_vq *vq);

/* Back-end view of the shadow ring, for SET_VRING_ADDR (our addresses). */
struct shadow_ring_addr {
	uint64_t desc_hva, avail_hva, used_hva;	/* in this process */
};
void shadow_vq_ring_addr(const struct shadow_vq *vq,
    struct shadow_ring_addr *a);

/*
 * shadow_vq_kick - move new guest avail entries to the shadow ring.
 * Returns 1 if the back-end must be kicked (honouring its notification
 * suppression: VRING_USED_F_NO_NOTIFY or avail_event), 0 if not, or -errno
 * on a guest error (with *why set to a static reason). When shadow memory or
 * shadow descriptors run out, it stops early and returns normally; the rest
 * is taken on the next kick or completion (backpressure).
 */
int shadow_vq_kick(struct shadow_vq *vq, const char **why);

/*
 * shadow_vq_complete - move back-end used entries to the guest used ring,
 * then retry pending guest avail entries (backpressure). Returns a bitmask:
 * SHADOW_IRQ if the guest must be interrupted (honouring its
 * VRING_AVAIL_F_NO_INTERRUPT or used_event), SHADOW_KICK if the back-end
 * must be kicked for entries posted meanwhile; or -errno on an error (a
 * back-end used entry with a bad id or length is an error too).
 */
#define SHADOW_IRQ	0x1
#define SHADOW_KICK	0x2
int shadow_vq_complete(struct shadow_vq *vq, const char **why);

/*
 * shadow_vq_backend_restart - the back-end died and a new one takes the
 * ring: reset the shadow ring to index 0 and post every request still in
 * flight again, so none is lost (the guest never sees the restart). Call
 * before SET_VRING_BASE(0) to the new back-end. Returns how many requests
 * were posted again.
 */
int shadow_vq_backend_restart(struct shadow_vq *vq);

/* The guest avail index the back-end has consumed up to (for stop/restart). */
uint16_t shadow_vq_last_avail(const struct shadow_vq *vq);
/* Requests posted to the back-end and not yet completed. */
unsigned shadow_vq_inflight(const struct shadow_vq *vq);

#endif
