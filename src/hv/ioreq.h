/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ioreq: serving one synchronous ioreq slot, shared by the xen and sim
 * implementations. Read the slot once into locals (after an acquire
 * barrier), validate, dispatch, write the response, release barrier, mark
 * STATE_IORESP_READY. Every READY request is completed, whatever it holds:
 * a vCPU left waiting would hang forever.
 */
#ifndef XVD_IOREQ_H
#define XVD_IOREQ_H

#include <stdbool.h>
#include <stdint.h>

#include <xen/xen.h>
#include <xen/hvm/ioreq.h>

struct ioreq_handler {
	/*
	 * A validated MMIO access: @size is 1, 2, 4 or 8; for writes @*data
	 * is already masked to @size; for reads the handler stores the value
	 * (masked to @size here afterwards). An access that matches no device
	 * reads as 0 (the handler decides).
	 */
	void (*mmio)(void *opaque, uint64_t addr, unsigned size, bool is_write,
	    uint64_t *data);
	/* IOREQ_TYPE_INVALIDATE: drop cached guest mappings. */
	void (*invalidate)(void *opaque);
	/* A request we complete without serving (bad size, PIO, ...). */
	void (*rejected)(void *opaque, const char *why, uint64_t addr);
};

enum ioreq_result {
	IOREQ_IDLE,	/* slot not READY: spurious or handled elsewhere */
	IOREQ_DONE,	/* completed: notify the vCPU's port */
};

/* Slot state accessors (the 4-bit field of the byte at offset 30). */
uint8_t ioreq_state(const ioreq_t *slot);
void ioreq_set_state(ioreq_t *slot, uint8_t state);

enum ioreq_result ioreq_serve(ioreq_t *slot, const struct ioreq_handler *h,
    void *opaque);

/* Mask @v to @size bytes (size 8 or anything else: unchanged). */
static inline uint64_t ioreq_mask(uint64_t v, unsigned size)
{
	return size >= 8 ? v : v & ((UINT64_C(1) << (size * 8)) - 1);
}

#endif
