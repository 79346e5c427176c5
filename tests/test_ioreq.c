/* SPDX-License-Identifier: GPL-2.0-or-later */
/* ioreq slot handling: read, write, INVALIDATE, and requests we refuse. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "hv/ioreq.h"

struct rec {
	unsigned calls, invalidates, rejects;
	uint64_t addr;
	unsigned size;
	bool is_write;
	uint64_t wdata;
	uint64_t rvalue;
};

static void rec_mmio(void *opaque, uint64_t addr, unsigned size, bool is_write,
    uint64_t *data)
{
	struct rec *r = opaque;

	r->calls++;
	r->addr = addr;
	r->size = size;
	r->is_write = is_write;
	if (is_write)
		r->wdata = *data;
	else
		*data = r->rvalue;
}

static void rec_invalidate(void *opaque)
{
	((struct rec *)opaque)->invalidates++;
}

static void rec_rejected(void *opaque, const char *why, uint64_t addr)
{
	((struct rec *)opaque)->rejects++;
}

static const struct ioreq_handler handler = {
	.mmio = rec_mmio,
	.invalidate = rec_invalidate,
	.rejected = rec_rejected,
};

static void slot_fill(ioreq_t *s, uint8_t type, uint64_t addr, uint64_t data,
    uint32_t size, bool read)
{
	memset(s, 0, sizeof(*s));
	s->addr = addr;
	s->data = data;
	s->size = size;
	s->count = 1;
	s->type = type;
	s->dir = read ? IOREQ_READ : IOREQ_WRITE;
	s->vp_eport = 7;
	s->state = STATE_IOREQ_READY;
}

static void test_read_zero_extends(void **state)
{
	struct rec r = { .rvalue = 0xffffffffffffffffull };
	ioreq_t s;

	slot_fill(&s, IOREQ_TYPE_COPY, 0x2000070, 0xdeadbeefdeadbeefull, 4, true);
	assert_int_equal(ioreq_serve(&s, &handler, &r), IOREQ_DONE);
	assert_int_equal(r.calls, 1);
	assert_false(r.is_write);
	assert_int_equal(r.addr, 0x2000070);
	assert_int_equal(r.size, 4);
	/* Only the low 4 bytes survive: Xen relies on us zero-extending. */
	assert_int_equal(s.data, 0xffffffffull);
	assert_int_equal(s.state, STATE_IORESP_READY);
	assert_int_equal(s.vp_eport, 7);
	assert_int_equal(s.dir, IOREQ_READ);
}

static void test_write_masks_value(void **state)
{
	struct rec r = { 0 };
	ioreq_t s;

	/* Arm puts the whole 64-bit source register in data. */
	slot_fill(&s, IOREQ_TYPE_COPY, 0x2000050, 0x1234567800000003ull, 2, false);
	assert_int_equal(ioreq_serve(&s, &handler, &r), IOREQ_DONE);
	assert_true(r.is_write);
	assert_int_equal(r.wdata, 0x3);
	assert_int_equal(s.state, STATE_IORESP_READY);
	/* Writes leave data alone. */
	assert_int_equal(s.data, 0x1234567800000003ull);
}

static void test_sizes(void **state)
{
	static const uint32_t sizes[] = { 1, 2, 4, 8 };

	for (size_t i = 0; i < 4; i++) {
		struct rec r = { .rvalue = 0x0102030405060708ull };
		ioreq_t s;

		slot_fill(&s, IOREQ_TYPE_COPY, 0x2000100, 0, sizes[i], true);
		ioreq_serve(&s, &handler, &r);
		assert_int_equal(r.calls, 1);
		assert_int_equal(s.data, sizes[i] == 8 ? r.rvalue :
		    r.rvalue & ((1ull << (sizes[i] * 8)) - 1));
	}
}

static void test_not_ready_is_idle(void **state)
{
	static const uint8_t states[] = { STATE_IOREQ_NONE,
	    STATE_IOREQ_INPROCESS, STATE_IORESP_READY };

	for (size_t i = 0; i < 3; i++) {
		struct rec r = { 0 };
		ioreq_t s;

		slot_fill(&s, IOREQ_TYPE_COPY, 0x2000000, 0, 4, true);
		s.state = states[i];
		assert_int_equal(ioreq_serve(&s, &handler, &r), IOREQ_IDLE);
		assert_int_equal(r.calls, 0);
		assert_int_equal(s.state, states[i]);
	}
}

static void test_invalidate_acked(void **state)
{
	struct rec r = { 0 };
	ioreq_t s;

	slot_fill(&s, IOREQ_TYPE_INVALIDATE, 0, ~0ull, 4, false);
	assert_int_equal(ioreq_serve(&s, &handler, &r), IOREQ_DONE);
	assert_int_equal(r.invalidates, 1);
	assert_int_equal(r.calls, 0);
	assert_int_equal(s.state, STATE_IORESP_READY);
}

static void test_bad_size_completed(void **state)
{
	struct rec r = { .rvalue = 5 };
	ioreq_t s;

	slot_fill(&s, IOREQ_TYPE_COPY, 0x2000000, 0x55, 3, true);
	assert_int_equal(ioreq_serve(&s, &handler, &r), IOREQ_DONE);
	assert_int_equal(r.calls, 0);
	assert_int_equal(r.rejects, 1);
	assert_int_equal(s.data, 0);
	assert_int_equal(s.state, STATE_IORESP_READY);
}

static void test_rep_and_ptr_refused(void **state)
{
	struct rec r = { 0 };
	ioreq_t s;

	slot_fill(&s, IOREQ_TYPE_COPY, 0x2000000, 0x40001000, 4, true);
	s.data_is_ptr = 1;
	assert_int_equal(ioreq_serve(&s, &handler, &r), IOREQ_DONE);
	assert_int_equal(r.calls, 0);
	assert_int_equal(r.rejects, 1);
	assert_int_equal(s.state, STATE_IORESP_READY);

	slot_fill(&s, IOREQ_TYPE_COPY, 0x2000000, 0, 4, false);
	s.count = 16;
	assert_int_equal(ioreq_serve(&s, &handler, &r), IOREQ_DONE);
	assert_int_equal(r.calls, 0);
	assert_int_equal(r.rejects, 2);
}

static void test_other_types_completed(void **state)
{
	static const uint8_t types[] = { IOREQ_TYPE_PIO, IOREQ_TYPE_PCI_CONFIG,
	    IOREQ_TYPE_TIMEOFFSET, 42 };

	for (size_t i = 0; i < 4; i++) {
		struct rec r = { 0 };
		ioreq_t s;

		slot_fill(&s, types[i], 0xcf8, 0, 4, true);
		assert_int_equal(ioreq_serve(&s, &handler, &r), IOREQ_DONE);
		assert_int_equal(r.calls, 0);
		assert_int_equal(s.state, STATE_IORESP_READY);
		/* An unserved read answers all ones, like an empty bus. */
		if (types[i] != IOREQ_TYPE_TIMEOFFSET)
			assert_int_equal(s.data, 0xffffffffull);
	}
}

static void test_state_accessors_keep_flags(void **state)
{
	ioreq_t s;

	slot_fill(&s, IOREQ_TYPE_COPY, 0, 0, 4, true);
	s.df = 1;
	ioreq_set_state(&s, STATE_IOREQ_INPROCESS);
	assert_int_equal(ioreq_state(&s), STATE_IOREQ_INPROCESS);
	assert_int_equal(s.dir, IOREQ_READ);
	assert_int_equal(s.df, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_read_zero_extends),
		cmocka_unit_test(test_write_masks_value),
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_not_ready_is_idle),
		cmocka_unit_test(test_invalidate_acked),
		cmocka_unit_test(test_bad_size_completed),
		cmocka_unit_test(test_rep_and_ptr_refused),
		cmocka_unit_test(test_other_types_completed),
		cmocka_unit_test(test_state_accessors_keep_flags),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
