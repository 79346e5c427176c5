/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <stddef.h>
#include <string.h>

#include "hv/ioreq.h"

/* The byte holding state:4, data_is_ptr:1, dir:1, df:1 (checked below). */
#define IOREQ_FLAGS_OFF 30
_Static_assert(sizeof(ioreq_t) == 32, "ioreq_t layout");
_Static_assert(offsetof(ioreq_t, type) == 31, "ioreq_t layout");

#define IOREQ_F_STATE	0x0fu
#define IOREQ_F_PTR	0x10u
#define IOREQ_F_DIR	0x20u
#define IOREQ_F_DF	0x40u

static volatile uint8_t *flags_byte(const ioreq_t *slot)
{
	/* The slot is shared with Xen (or the simulator): always volatile. */
	return (volatile uint8_t *)((uintptr_t)slot + IOREQ_FLAGS_OFF);
}

uint8_t ioreq_state(const ioreq_t *slot)
{
	return *flags_byte(slot) & IOREQ_F_STATE;
}

void ioreq_set_state(ioreq_t *slot, uint8_t state)
{
	volatile uint8_t *b = flags_byte(slot);

	*b = (uint8_t)((*b & ~IOREQ_F_STATE) | (state & IOREQ_F_STATE));
}

/* A snapshot of the request, read once. */
struct ioreq_snap {
	uint64_t addr;
	uint64_t data;
	uint32_t count;
	uint32_t size;
	uint8_t flags;
	uint8_t type;
};

static void snap_read(const ioreq_t *slot, struct ioreq_snap *s)
{
	const volatile ioreq_t *v = slot;

	s->addr = v->addr;
	s->data = v->data;
	s->count = v->count;
	s->size = v->size;
	s->flags = *flags_byte(slot);
	s->type = v->type;
}

static bool size_ok(uint32_t size)
{
	return size == 1 || size == 2 || size == 4 || size == 8;
}

static void reject(const struct ioreq_handler *h, void *opaque,
    const char *why, uint64_t addr)
{
	if (h->rejected != NULL)
		h->rejected(opaque, why, addr);
}

enum ioreq_result ioreq_serve(ioreq_t *slot, const struct ioreq_handler *h,
    void *opaque)
{
	struct ioreq_snap s;
	bool is_read;
	uint64_t data;

	if (ioreq_state(slot) != STATE_IOREQ_READY)
		return IOREQ_IDLE;
	/* Pairs with Xen's barrier before it sets READY. */
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	snap_read(slot, &s);
	ioreq_set_state(slot, STATE_IOREQ_INPROCESS);

	is_read = (s.flags & IOREQ_F_DIR) != 0;
	/* Unserved reads answer all ones, like an unassigned bus. */
	data = ~UINT64_C(0);

	switch (s.type) {
	case IOREQ_TYPE_COPY:
		if (!size_ok(s.size)) {
			reject(h, opaque, "bad access size", s.addr);
		} else if ((s.flags & IOREQ_F_PTR) != 0 || s.count != 1) {
			/* rep/string MMIO: virtio-mmio has no use for it */
			reject(h, opaque, "rep or data_is_ptr access", s.addr);
		} else {
			data = is_read ? 0 : ioreq_mask(s.data, s.size);
			h->mmio(opaque, s.addr, s.size, !is_read, &data);
			data = ioreq_mask(data, s.size);
		}
		break;
	case IOREQ_TYPE_INVALIDATE:
		if (h->invalidate != NULL)
			h->invalidate(opaque);
		break;
	case IOREQ_TYPE_TIMEOFFSET:
		break;
	default:
		reject(h, opaque, "unexpected ioreq type", s.addr);
		break;
	}

	if (is_read)
		((volatile ioreq_t *)slot)->data =
		    size_ok(s.size) ? ioreq_mask(data, s.size) : 0;
	/* The response must be visible before the state says so. */
	__atomic_thread_fence(__ATOMIC_RELEASE);
	ioreq_set_state(slot, STATE_IORESP_READY);
	return IOREQ_DONE;
}
