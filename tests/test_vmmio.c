/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests for the virtio-mmio register file (src/transport/vmmio.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <linux/virtio_mmio.h>

#include "transport/vmmio.h"
#include "util.h"

#define T_DEVICE_ID	2u	/* block */
#define T_NR_QUEUES	2u
#define T_QUEUE_MAX	256u
#define T_CONFIG_LEN	60u
#define F_VERSION_1	(1ull << 32)
#define F_RING_RESET	(1ull << 40)
/* Offered: a couple of low bits, VERSION_1, RING_RESET. */
#define T_FEATURES	((1ull << 1) | (1ull << 6) | F_VERSION_1 | F_RING_RESET)

#define T_DESC		0x10000ull
#define T_DRIVER	0x11000ull
#define T_DEVICE	0x12000ull

static void dev_init(struct vmmio *m)
{
	vmmio_init(m, T_DEVICE_ID, T_FEATURES, T_NR_QUEUES, T_QUEUE_MAX,
	    T_CONFIG_LEN);
}

static uint32_t rd(struct vmmio *m, uint64_t off)
{
	return (uint32_t)vmmio_read(m, off, 4);
}

/* A 32-bit register write; returns the actions it produced. */
static struct vmmio_actions wr(struct vmmio *m, uint64_t off, uint32_t val)
{
	struct vmmio_actions out = { .nr = 0 };

	vmmio_write(m, off, 4, val, &out);
	return out;
}

static void wr_none(struct vmmio *m, uint64_t off, uint32_t val)
{
	struct vmmio_actions out = wr(m, off, val);

	assert_int_equal(out.nr, 0);
}

static void assert_one(const struct vmmio_actions *out,
    enum vmmio_act_kind kind)
{
	assert_int_equal(out->nr, 1);
	assert_int_equal(out->a[0].kind, kind);
}

static void assert_bad(const struct vmmio_actions *out)
{
	assert_one(out, VMMIO_ACT_BAD);
	assert_non_null(out->a[0].why);
}

static void set_features(struct vmmio *m, uint64_t f)
{
	wr_none(m, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	wr_none(m, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)f);
	wr_none(m, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	wr_none(m, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(f >> 32));
}

/* ACKNOWLEDGE, DRIVER, features, FEATURES_OK: as Linux probes. */
static void negotiate(struct vmmio *m, uint64_t f)
{
	struct vmmio_actions out;

	out = wr(m, VIRTIO_MMIO_STATUS, 0);
	assert_one(&out, VMMIO_ACT_RESET);
	out = wr(m, VIRTIO_MMIO_STATUS, VMMIO_S_ACKNOWLEDGE);
	assert_one(&out, VMMIO_ACT_STATUS);
	out = wr(m, VIRTIO_MMIO_STATUS, VMMIO_S_ACKNOWLEDGE | VMMIO_S_DRIVER);
	assert_one(&out, VMMIO_ACT_STATUS);
	set_features(m, f);
	out = wr(m, VIRTIO_MMIO_STATUS,
	    VMMIO_S_ACKNOWLEDGE | VMMIO_S_DRIVER | VMMIO_S_FEATURES_OK);
	assert_one(&out, VMMIO_ACT_STATUS);
	assert_int_equal(rd(m, VIRTIO_MMIO_STATUS),
	    VMMIO_S_ACKNOWLEDGE | VMMIO_S_DRIVER | VMMIO_S_FEATURES_OK);
}

static void driver_ok(struct vmmio *m)
{
	struct vmmio_actions out;
	uint32_t s = rd(m, VIRTIO_MMIO_STATUS);

	out = wr(m, VIRTIO_MMIO_STATUS, s | VMMIO_S_DRIVER_OK);
	assert_one(&out, VMMIO_ACT_STATUS);
}

static void queue_setup(struct vmmio *m, uint32_t idx, uint32_t num,
    uint64_t desc, uint64_t drv, uint64_t dev)
{
	wr_none(m, VIRTIO_MMIO_QUEUE_SEL, idx);
	wr_none(m, VIRTIO_MMIO_QUEUE_NUM, num);
	wr_none(m, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)desc);
	wr_none(m, VIRTIO_MMIO_QUEUE_DESC_HIGH, (uint32_t)(desc >> 32));
	wr_none(m, VIRTIO_MMIO_QUEUE_AVAIL_LOW, (uint32_t)drv);
	wr_none(m, VIRTIO_MMIO_QUEUE_AVAIL_HIGH, (uint32_t)(drv >> 32));
	wr_none(m, VIRTIO_MMIO_QUEUE_USED_LOW, (uint32_t)dev);
	wr_none(m, VIRTIO_MMIO_QUEUE_USED_HIGH, (uint32_t)(dev >> 32));
}

static void queue_start(struct vmmio *m, uint32_t idx)
{
	struct vmmio_actions out;

	queue_setup(m, idx, 128, T_DESC + idx * 0x10000ull,
	    T_DRIVER + idx * 0x10000ull, T_DEVICE + idx * 0x10000ull);
	out = wr(m, VIRTIO_MMIO_QUEUE_READY, 1);
	assert_one(&out, VMMIO_ACT_QUEUE_READY);
	assert_int_equal(out.a[0].queue, idx);
}

/* A running device: negotiated, both queues ready, DRIVER_OK. */
static void dev_running(struct vmmio *m)
{
	uint32_t i;

	dev_init(m);
	negotiate(m, F_VERSION_1 | (1ull << 1));
	for (i = 0; i < T_NR_QUEUES; i++)
		queue_start(m, i);
	driver_ok(m);
}

/* Offsets of every register that depends on QueueSel. */
static const uint32_t queue_regs[] = {
	VIRTIO_MMIO_QUEUE_NUM_MAX, VIRTIO_MMIO_QUEUE_NUM,
	VIRTIO_MMIO_QUEUE_READY, VIRTIO_MMIO_QUEUE_DESC_LOW,
	VIRTIO_MMIO_QUEUE_DESC_HIGH, VIRTIO_MMIO_QUEUE_AVAIL_LOW,
	VIRTIO_MMIO_QUEUE_AVAIL_HIGH, VIRTIO_MMIO_QUEUE_USED_LOW,
	VIRTIO_MMIO_QUEUE_USED_HIGH, VMMIO_QUEUE_RESET,
};

/* ---- init ---- */

static void test_init_defaults(void **state)
{
	struct vmmio m;
	uint32_t i;

	memset(&m, 0xa5, sizeof(m));
	dev_init(&m);
	assert_int_equal(m.device_id, T_DEVICE_ID);
	assert_true(m.device_features == T_FEATURES);
	assert_true(m.driver_features == 0);
	assert_int_equal(m.nr_queues, T_NR_QUEUES);
	assert_int_equal(m.config_len, T_CONFIG_LEN);
	assert_int_equal(m.status, 0);
	assert_int_equal(m.interrupt_status, 0);
	assert_int_equal(m.config_generation, 0);
	for (i = 0; i < T_NR_QUEUES; i++) {
		assert_int_equal(m.q[i].num_max, T_QUEUE_MAX);
		assert_int_equal(m.q[i].num, T_QUEUE_MAX);
		assert_false(m.q[i].ready);
		assert_false(m.q[i].reset);
	}
	for (; i < VMMIO_MAX_QUEUES; i++)
		assert_int_equal(m.q[i].num_max, 0);
	for (i = 0; i < VMMIO_CONFIG_MAX; i++)
		assert_int_equal(m.config[i], 0);
}

static void test_init_clamps(void **state)
{
	struct vmmio m;

	vmmio_init(&m, 1, 0, 100, 65536, 1000);
	assert_int_equal(m.nr_queues, VMMIO_MAX_QUEUES);
	assert_int_equal(m.config_len, VMMIO_CONFIG_MAX);
	assert_int_equal(m.q[VMMIO_MAX_QUEUES - 1].num_max, 32768);

	vmmio_init(&m, 1, 0, 1, 300, 0);
	assert_int_equal(m.q[0].num_max, 256);
	assert_int_equal(m.q[0].num, 256);
}

/* ---- read-only identification registers ---- */

static void test_read_ids(void **state)
{
	struct vmmio m;

	dev_init(&m);
	assert_int_equal(rd(&m, VIRTIO_MMIO_MAGIC_VALUE), 0x74726976);
	assert_int_equal(rd(&m, VIRTIO_MMIO_VERSION), 2);
	assert_int_equal(rd(&m, VIRTIO_MMIO_DEVICE_ID), T_DEVICE_ID);
	assert_int_equal(rd(&m, VIRTIO_MMIO_VENDOR_ID), VMMIO_VENDOR_ID);
}

static void test_readonly_writes_ignored(void **state)
{
	static const uint32_t ro[] = {
		VIRTIO_MMIO_MAGIC_VALUE, VIRTIO_MMIO_VERSION,
		VIRTIO_MMIO_DEVICE_ID, VIRTIO_MMIO_VENDOR_ID,
		VIRTIO_MMIO_DEVICE_FEATURES, VIRTIO_MMIO_QUEUE_NUM_MAX,
		VIRTIO_MMIO_INTERRUPT_STATUS, VIRTIO_MMIO_SHM_LEN_LOW,
		VIRTIO_MMIO_SHM_LEN_HIGH, VIRTIO_MMIO_SHM_BASE_LOW,
		VIRTIO_MMIO_SHM_BASE_HIGH, VIRTIO_MMIO_CONFIG_GENERATION,
	};
	struct vmmio m, ref;
	size_t i;

	dev_init(&m);
	vmmio_raise(&m, VMMIO_INT_VRING);
	memcpy(&ref, &m, sizeof(ref));
	for (i = 0; i < ARRAY_SIZE(ro); i++)
		wr_none(&m, ro[i], 0xdeadbeef);
	assert_memory_equal(&m, &ref, sizeof(m));
	assert_int_equal(rd(&m, VIRTIO_MMIO_MAGIC_VALUE), VMMIO_MAGIC);
	assert_int_equal(rd(&m, VIRTIO_MMIO_QUEUE_NUM_MAX), T_QUEUE_MAX);
}

/* ---- features ---- */

static void test_device_features_sel(void **state)
{
	struct vmmio m;

	dev_init(&m);
	assert_int_equal(rd(&m, VIRTIO_MMIO_DEVICE_FEATURES),
	    (uint32_t)T_FEATURES);
	wr_none(&m, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	assert_int_equal(m.dev_features_sel, 1);
	assert_int_equal(rd(&m, VIRTIO_MMIO_DEVICE_FEATURES),
	    (uint32_t)(T_FEATURES >> 32));
	wr_none(&m, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 2);
	assert_int_equal(rd(&m, VIRTIO_MMIO_DEVICE_FEATURES), 0);
	wr_none(&m, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0xffffffff);
	assert_int_equal(rd(&m, VIRTIO_MMIO_DEVICE_FEATURES), 0);
	wr_none(&m, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	assert_int_equal(rd(&m, VIRTIO_MMIO_DEVICE_FEATURES),
	    (uint32_t)T_FEATURES);
}

static void test_driver_features_write(void **state)
{
	struct vmmio m;

	dev_init(&m);
	wr_none(&m, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	wr_none(&m, VIRTIO_MMIO_DRIVER_FEATURES, 0x42);
	assert_true(m.driver_features == 0x42);
	wr_none(&m, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	assert_int_equal(m.drv_features_sel, 1);
	wr_none(&m, VIRTIO_MMIO_DRIVER_FEATURES, 0x101);
	assert_true(m.driver_features == 0x0000010100000042ull);
	assert_true(vmmio_driver_features(&m) == 0x0000010100000042ull);

	/* Selector beyond the second word: ignored. */
	wr_none(&m, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 2);
	wr_none(&m, VIRTIO_MMIO_DRIVER_FEATURES, 0xffffffff);
	wr_none(&m, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0xffffffff);
	wr_none(&m, VIRTIO_MMIO_DRIVER_FEATURES, 0xffffffff);
	assert_true(m.driver_features == 0x0000010100000042ull);

	/* Overwriting a word replaces it. */
	wr_none(&m, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	wr_none(&m, VIRTIO_MMIO_DRIVER_FEATURES, 0x1);
	assert_true(m.driver_features == 0x0000010100000001ull);
}

static void test_driver_features_locked_after_features_ok(void **state)
{
	struct vmmio m;
	struct vmmio_actions out;

	dev_init(&m);
	negotiate(&m, F_VERSION_1 | (1ull << 6));
	wr_none(&m, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	out = wr(&m, VIRTIO_MMIO_DRIVER_FEATURES, 0x2);
	assert_bad(&out);
	assert_true(m.driver_features == (F_VERSION_1 | (1ull << 6)));
}

static void test_features_ok_accepted(void **state)
{
	struct vmmio m;
	struct vmmio_actions out;

	dev_init(&m);
	wr(&m, VIRTIO_MMIO_STATUS, VMMIO_S_ACKNOWLEDGE | VMMIO_S_DRIVER);
	set_features(&m, T_FEATURES);
	out = wr(&m, VIRTIO_MMIO_STATUS,
	    VMMIO_S_ACKNOWLEDGE | VMMIO_S_DRIVER | VMMIO_S_FEATURES_OK);
	assert_one(&out, VMMIO_ACT_STATUS);
	assert_int_equal(out.a[0].old_status,
	    VMMIO_S_ACKNOWLEDGE | VMMIO_S_DRIVER);
	assert_int_equal(out.a[0].new_status,
	    VMMIO_S_ACKNOWLEDGE | VMMIO_S_DRIVER | VMMIO_S_FEATURES_OK);
	assert_true(rd(&m, VIRTIO_MMIO_STATUS) & VMMIO_S_FEATURES_OK);
	assert_true(vmmio_driver_features(&m) == T_FEATURES);
}

static void test_features_ok_unsupported_feature(void **state)
{
	struct vmmio m;
	struct vmmio_actions out;

	dev_init(&m);
	wr(&m, VIRTIO_MMIO_STATUS, VMMIO_S_ACKNOWLEDGE | VMMIO_S_DRIVER);
	set_features(&m, F_VERSION_1 | (1ull << 2));	/* bit 2 not offered */
	out = wr(&m, VIRTIO_MMIO_STATUS,
	    VMMIO_S_ACKNOWLEDGE | VMMIO_S_DRIVER | VMMIO_S_FEATURES_OK);
	assert_bad(&out);
	assert_int_equal(rd(&m, VIRTIO_MMIO_STATUS),
	    VMMIO_S_ACKNOWLEDGE | VMMIO_S_DRIVER);

	/* The driver may fix its features and retry. */
	set_features(&m, F_VERSION_1);
	out = wr(&m, VIRTIO_MMIO_STATUS,
	    VMMIO_S_ACKNOWLEDGE | VMMIO_S_DRIVER | VMMIO_S_FEATURES_OK);
	assert_one(&out, VMMIO_ACT_STATUS);
	assert_true(rd(&m, VIRTIO_MMIO_STATUS) & VMMIO_S_FEATURES_OK);
}

static void test_features_ok_missing_version1(void **state)
{
	struct vmmio m;
	struct vmmio_actions out;

	dev_init(&m);
	wr(&m, VIRTIO_MMIO_STATUS, VMMIO_S_ACKNOWLEDGE | VMMIO_S_DRIVER);
	set_features(&m, 1ull << 1);
	out = wr(&m, VIRTIO_MMIO_STATUS,
	    VMMIO_S_ACKNOWLEDGE | VMMIO_S_DRIVER | VMMIO_S_FEATURES_OK);
	assert_bad(&out);
	assert_false(rd(&m, VIRTIO_MMIO_STATUS) & VMMIO_S_FEATURES_OK);
}

static void test_features_ok_rejected_other_bits_kept(void **state)
{
	struct vmmio m;
	struct vmmio_actions out;

	dev_init(&m);
	wr(&m, VIRTIO_MMIO_STATUS, VMMIO_S_ACKNOWLEDGE);
	/* DRIVER and a bad FEATURES_OK in one write: DRIVER is stored. */
	out = wr(&m, VIRTIO_MMIO_STATUS,
	    VMMIO_S_ACKNOWLEDGE | VMMIO_S_DRIVER | VMMIO_S_FEATURES_OK);
	assert_int_equal(out.nr, 2);
	assert_int_equal(out.a[0].kind, VMMIO_ACT_BAD);
	assert_int_equal(out.a[1].kind, VMMIO_ACT_STATUS);
	assert_int_equal(out.a[1].new_status,
	    VMMIO_S_ACKNOWLEDGE | VMMIO_S_DRIVER);
	assert_int_equal(rd(&m, VIRTIO_MMIO_STATUS),
	    VMMIO_S_ACKNOWLEDGE | VMMIO_S_DRIVER);
}

/* ---- status ---- */

static void test_status_progression(void **state)
{
	struct vmmio m;
	struct vmmio_actions out;

	dev_init(&m);
	out = wr(&m, VIRTIO_MMIO_STATUS, VMMIO_S_ACKNOWLEDGE);
	assert_one(&out, VMMIO_ACT_STATUS);
	assert_int_equal(out.a[0].old_status, 0);
	assert_int_equal(out.a[0].new_status, VMMIO_S_ACKNOWLEDGE);
	assert_int_equal(rd(&m, VIRTIO_MMIO_STATUS), VMMIO_S_ACKNOWLEDGE);

	/* Same value again: no change, no action. */
	wr_none(&m, VIRTIO_MMIO_STATUS, VMMIO_S_ACKNOWLEDGE);

	out = wr(&m, VIRTIO_MMIO_STATUS, VMMIO_S_ACKNOWLEDGE | VMMIO_S_DRIVER);
	assert_one(&out, VMMIO_ACT_STATUS);
	assert_int_equal(out.a[0].old_status, VMMIO_S_ACKNOWLEDGE);

	/* FAILED may be added at any time. */
	out = wr(&m, VIRTIO_MMIO_STATUS,
	    VMMIO_S_ACKNOWLEDGE | VMMIO_S_DRIVER | VMMIO_S_FAILED);
	assert_one(&out, VMMIO_ACT_STATUS);
	assert_true(rd(&m, VIRTIO_MMIO_STATUS) & VMMIO_S_FAILED);
}

static void test_status_clear_bits_rejected(void **state)
{
	struct vmmio m;
	struct vmmio_actions out;

	dev_init(&m);
	negotiate(&m, F_VERSION_1);
	out = wr(&m, VIRTIO_MMIO_STATUS, VMMIO_S_ACKNOWLEDGE);
	assert_bad(&out);
	assert_int_equal(rd(&m, VIRTIO_MMIO_STATUS),
	    VMMIO_S_ACKNOWLEDGE | VMMIO_S_DRIVER | VMMIO_S_FEATURES_OK);
	/* Clearing one bit while adding another is rejected too. */
	out = wr(&m, VIRTIO_MMIO_STATUS,
	    VMMIO_S_ACKNOWLEDGE | VMMIO_S_FEATURES_OK | VMMIO_S_DRIVER_OK);
	assert_bad(&out);
	assert_false(rd(&m, VIRTIO_MMIO_STATUS) & VMMIO_S_DRIVER_OK);
}

static void test_driver_ok_without_features_ok(void **state)
{
	struct vmmio m;
	struct vmmio_actions out;

	dev_init(&m);
	wr(&m, VIRTIO_MMIO_STATUS, VMMIO_S_ACKNOWLEDGE | VMMIO_S_DRIVER);
	out = wr(&m, VIRTIO_MMIO_STATUS,
	    VMMIO_S_ACKNOWLEDGE | VMMIO_S_DRIVER | VMMIO_S_DRIVER_OK);
	assert_bad(&out);
	assert_int_equal(rd(&m, VIRTIO_MMIO_STATUS),
	    VMMIO_S_ACKNOWLEDGE | VMMIO_S_DRIVER);
}

static void test_status_reset_clears(void **state)
{
	struct vmmio m;
	struct vmmio_actions out;
	uint8_t cfg[4] = { 1, 2, 3, 4 };
	uint32_t i;

	dev_running(&m);
	vmmio_config_update(&m, 0, cfg, sizeof(cfg), false);
	assert_int_equal(m.config_generation, 1);
	wr_none(&m, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	wr_none(&m, VIRTIO_MMIO_SHM_SEL, 3);
	wr_none(&m, VIRTIO_MMIO_QUEUE_SEL, 1);
	vmmio_raise(&m, VMMIO_INT_VRING | VMMIO_INT_CONFIG);

	out = wr(&m, VIRTIO_MMIO_STATUS, 0);
	assert_one(&out, VMMIO_ACT_RESET);

	assert_int_equal(m.status, 0);
	assert_int_equal(m.interrupt_status, 0);
	assert_true(m.driver_features == 0);
	assert_int_equal(m.dev_features_sel, 0);
	assert_int_equal(m.drv_features_sel, 0);
	assert_int_equal(m.queue_sel, 0);
	assert_int_equal(m.shm_sel, 0);
	for (i = 0; i < VMMIO_MAX_QUEUES; i++) {
		assert_false(m.q[i].ready);
		assert_false(m.q[i].reset);
		assert_true(m.q[i].desc == 0);
		assert_true(m.q[i].driver == 0);
		assert_true(m.q[i].device == 0);
		assert_int_equal(m.q[i].num, m.q[i].num_max);
	}
	/* Kept: identity, offer, queue limits, config and its generation. */
	assert_int_equal(m.device_id, T_DEVICE_ID);
	assert_true(m.device_features == T_FEATURES);
	assert_int_equal(m.nr_queues, T_NR_QUEUES);
	assert_int_equal(m.q[0].num_max, T_QUEUE_MAX);
	assert_int_equal(m.config_len, T_CONFIG_LEN);
	assert_memory_equal(m.config, cfg, sizeof(cfg));
	assert_int_equal(m.config_generation, 1);

	/* Reset of a reset device is still a reset. */
	out = wr(&m, VIRTIO_MMIO_STATUS, 0);
	assert_one(&out, VMMIO_ACT_RESET);
}

static void test_full_probe_sequence(void **state)
{
	struct vmmio m;
	struct vmmio_actions out;

	dev_running(&m);
	assert_int_equal(rd(&m, VIRTIO_MMIO_STATUS),
	    VMMIO_S_ACKNOWLEDGE | VMMIO_S_DRIVER | VMMIO_S_FEATURES_OK |
	    VMMIO_S_DRIVER_OK);
	out = wr(&m, VIRTIO_MMIO_QUEUE_NOTIFY, 1);
	assert_one(&out, VMMIO_ACT_NOTIFY);
	assert_int_equal(out.a[0].queue, 1);
	assert_true(vmmio_raise(&m, VMMIO_INT_VRING));
	assert_int_equal(rd(&m, VIRTIO_MMIO_INTERRUPT_STATUS), VMMIO_INT_VRING);
	wr_none(&m, VIRTIO_MMIO_INTERRUPT_ACK, VMMIO_INT_VRING);
	assert_int_equal(rd(&m, VIRTIO_MMIO_INTERRUPT_STATUS), 0);
}

/* ---- write-only, unknown and misaligned ---- */

static void test_write_only_regs_read_zero(void **state)
{
	static const uint32_t wo[] = {
		VIRTIO_MMIO_DEVICE_FEATURES_SEL, VIRTIO_MMIO_DRIVER_FEATURES,
		VIRTIO_MMIO_DRIVER_FEATURES_SEL, VIRTIO_MMIO_QUEUE_SEL,
		VIRTIO_MMIO_QUEUE_NUM, VIRTIO_MMIO_QUEUE_NOTIFY,
		VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_MMIO_SHM_SEL,
	};
	struct vmmio m;
	size_t i;

	dev_init(&m);
	set_features(&m, F_VERSION_1 | 2);
	wr_none(&m, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	wr_none(&m, VIRTIO_MMIO_SHM_SEL, 1);
	wr_none(&m, VIRTIO_MMIO_QUEUE_NUM, 64);
	for (i = 0; i < ARRAY_SIZE(wo); i++)
		assert_int_equal(rd(&m, wo[i]), 0);
}

static void test_unknown_offsets(void **state)
{
	static const uint32_t unk[] = {
		VIRTIO_MMIO_GUEST_PAGE_SIZE, VIRTIO_MMIO_QUEUE_ALIGN,
		VIRTIO_MMIO_QUEUE_PFN, 0x018, 0x01c, 0x02c, 0x048, 0x04c,
		0x054, 0x068, 0x074, 0x088, 0x0a8, 0x0c4, 0x0f0, 0x0f8,
	};
	struct vmmio m, ref;
	size_t i;

	dev_running(&m);
	memcpy(&ref, &m, sizeof(ref));
	for (i = 0; i < ARRAY_SIZE(unk); i++) {
		assert_int_equal(rd(&m, unk[i]), 0);
		wr_none(&m, unk[i], 0xffffffff);
		wr_none(&m, unk[i], 1);
		assert_int_equal(rd(&m, unk[i]), 0);
	}
	assert_memory_equal(&m, &ref, sizeof(m));
}

static void test_misaligned_register_access(void **state)
{
	struct vmmio m, ref;
	struct vmmio_actions out = { .nr = 0 };
	unsigned s;

	dev_init(&m);
	/* Non-4-byte reads of the magic value, misaligned 4-byte reads. */
	assert_true(vmmio_read(&m, VIRTIO_MMIO_MAGIC_VALUE, 1) == 0);
	assert_true(vmmio_read(&m, VIRTIO_MMIO_MAGIC_VALUE, 2) == 0);
	assert_true(vmmio_read(&m, VIRTIO_MMIO_MAGIC_VALUE, 8) == 0);
	assert_true(vmmio_read(&m, 0x001, 4) == 0);
	assert_true(vmmio_read(&m, 0x002, 4) == 0);
	assert_true(vmmio_read(&m, 0x003, 4) == 0);
	assert_true(vmmio_read(&m, VIRTIO_MMIO_VERSION, 2) == 0);
	/* An 8-byte access straddling into config space. */
	assert_true(vmmio_read(&m, VIRTIO_MMIO_CONFIG_GENERATION, 8) == 0);
	/* Sizes that do not exist. */
	assert_true(vmmio_read(&m, VIRTIO_MMIO_MAGIC_VALUE, 0) == 0);
	assert_true(vmmio_read(&m, VIRTIO_MMIO_MAGIC_VALUE, 3) == 0);
	assert_true(vmmio_read(&m, VIRTIO_MMIO_MAGIC_VALUE, 16) == 0);

	/* Writes of the wrong size or alignment are ignored. */
	memcpy(&ref, &m, sizeof(ref));
	for (s = 1; s <= 8; s *= 2) {
		if (s == 4)
			continue;
		vmmio_write(&m, VIRTIO_MMIO_STATUS, s, VMMIO_S_ACKNOWLEDGE,
		    &out);
		vmmio_write(&m, VIRTIO_MMIO_QUEUE_SEL, s, 1, &out);
		vmmio_write(&m, VIRTIO_MMIO_STATUS, s, 0, &out);
	}
	vmmio_write(&m, VIRTIO_MMIO_STATUS + 1, 4, VMMIO_S_ACKNOWLEDGE, &out);
	vmmio_write(&m, VIRTIO_MMIO_STATUS + 2, 4, 0, &out);
	vmmio_write(&m, VIRTIO_MMIO_QUEUE_SEL + 2, 4, 1, &out);
	vmmio_write(&m, VIRTIO_MMIO_STATUS, 3, VMMIO_S_ACKNOWLEDGE, &out);
	vmmio_write(&m, VIRTIO_MMIO_STATUS, 0, VMMIO_S_ACKNOWLEDGE, &out);
	assert_int_equal(out.nr, 0);
	assert_memory_equal(&m, &ref, sizeof(m));
}

static void test_write_value_masked(void **state)
{
	struct vmmio m;
	struct vmmio_actions out = { .nr = 0 };

	dev_init(&m);
	/* Upper bits of a 32-bit register write are dropped. */
	vmmio_write(&m, VIRTIO_MMIO_QUEUE_SEL, 4, 0x100000001ull, &out);
	assert_int_equal(m.queue_sel, 1);
	/* A 1-byte config write stores one byte only. */
	vmmio_write(&m, VMMIO_CONFIG_OFF + 4, 1, 0xabcdull, &out);
	assert_int_equal(m.config[4], 0xcd);
	assert_int_equal(m.config[5], 0);
	vmmio_write(&m, VMMIO_CONFIG_OFF + 8, 2, 0x12345678ull, &out);
	assert_int_equal(m.config[8], 0x78);
	assert_int_equal(m.config[9], 0x56);
	assert_int_equal(m.config[10], 0);
}

/* ---- queues ---- */

static void test_queue_num_max(void **state)
{
	struct vmmio m;

	dev_init(&m);
	assert_int_equal(rd(&m, VIRTIO_MMIO_QUEUE_NUM_MAX), T_QUEUE_MAX);
	wr_none(&m, VIRTIO_MMIO_QUEUE_SEL, 1);
	assert_int_equal(rd(&m, VIRTIO_MMIO_QUEUE_NUM_MAX), T_QUEUE_MAX);
	wr_none(&m, VIRTIO_MMIO_QUEUE_SEL, T_NR_QUEUES);
	assert_int_equal(rd(&m, VIRTIO_MMIO_QUEUE_NUM_MAX), 0);
}

static void test_queue_num_stored(void **state)
{
	struct vmmio m;

	dev_init(&m);
	wr_none(&m, VIRTIO_MMIO_QUEUE_SEL, 1);
	wr_none(&m, VIRTIO_MMIO_QUEUE_NUM, 64);
	assert_int_equal(m.q[1].num, 64);
	assert_int_equal(m.q[0].num, T_QUEUE_MAX);
	/* Any value is stored; it is checked at QueueReady. */
	wr_none(&m, VIRTIO_MMIO_QUEUE_NUM, 0xffffffff);
	assert_int_equal(m.q[1].num, 0xffffffff);
}

static void test_queue_addr_readback(void **state)
{
	struct vmmio m;

	dev_init(&m);
	queue_setup(&m, 1, 64, 0x123456789abcdef0ull, 0x0fedcba987654320ull,
	    0x1111222233334444ull);
	assert_int_equal(rd(&m, VIRTIO_MMIO_QUEUE_DESC_LOW), 0x9abcdef0);
	assert_int_equal(rd(&m, VIRTIO_MMIO_QUEUE_DESC_HIGH), 0x12345678);
	assert_int_equal(rd(&m, VIRTIO_MMIO_QUEUE_AVAIL_LOW), 0x87654320);
	assert_int_equal(rd(&m, VIRTIO_MMIO_QUEUE_AVAIL_HIGH), 0x0fedcba9);
	assert_int_equal(rd(&m, VIRTIO_MMIO_QUEUE_USED_LOW), 0x33334444);
	assert_int_equal(rd(&m, VIRTIO_MMIO_QUEUE_USED_HIGH), 0x11112222);
	assert_true(m.q[1].desc == 0x123456789abcdef0ull);
	assert_true(m.q[1].driver == 0x0fedcba987654320ull);
	assert_true(m.q[1].device == 0x1111222233334444ull);
	/* Queue 0 untouched. */
	wr_none(&m, VIRTIO_MMIO_QUEUE_SEL, 0);
	assert_int_equal(rd(&m, VIRTIO_MMIO_QUEUE_DESC_LOW), 0);
	assert_true(m.q[0].desc == 0);
}

static void test_queue_ready_ok(void **state)
{
	struct vmmio m;
	struct vmmio_actions out;

	dev_init(&m);
	negotiate(&m, F_VERSION_1);
	queue_setup(&m, 1, T_QUEUE_MAX, T_DESC, T_DRIVER, T_DEVICE);
	assert_int_equal(rd(&m, VIRTIO_MMIO_QUEUE_READY), 0);
	out = wr(&m, VIRTIO_MMIO_QUEUE_READY, 1);
	assert_one(&out, VMMIO_ACT_QUEUE_READY);
	assert_int_equal(out.a[0].queue, 1);
	assert_int_equal(rd(&m, VIRTIO_MMIO_QUEUE_READY), 1);
	assert_true(m.q[1].ready);
	assert_false(m.q[0].ready);
	/* num 1 is a power of two. */
	queue_setup(&m, 0, 1, T_DESC, T_DRIVER, T_DEVICE);
	out = wr(&m, VIRTIO_MMIO_QUEUE_READY, 1);
	assert_one(&out, VMMIO_ACT_QUEUE_READY);
	assert_int_equal(out.a[0].queue, 0);
}

/* Set up queue 0 with @num and addresses, expect QueueReady=1 refused. */
static void expect_ready_rejected(uint32_t num, uint64_t desc, uint64_t drv,
    uint64_t dev)
{
	struct vmmio m;
	struct vmmio_actions out;

	dev_init(&m);
	queue_setup(&m, 0, num, desc, drv, dev);
	out = wr(&m, VIRTIO_MMIO_QUEUE_READY, 1);
	assert_bad(&out);
	assert_int_equal(out.a[0].queue, 0);
	assert_int_equal(rd(&m, VIRTIO_MMIO_QUEUE_READY), 0);
	assert_false(m.q[0].ready);
}

static void test_queue_ready_num_zero(void **state)
{
	expect_ready_rejected(0, T_DESC, T_DRIVER, T_DEVICE);
}

static void test_queue_ready_num_not_pow2(void **state)
{
	expect_ready_rejected(100, T_DESC, T_DRIVER, T_DEVICE);
	expect_ready_rejected(3, T_DESC, T_DRIVER, T_DEVICE);
	expect_ready_rejected(0xffffffff, T_DESC, T_DRIVER, T_DEVICE);
}

static void test_queue_ready_num_too_big(void **state)
{
	expect_ready_rejected(T_QUEUE_MAX * 2, T_DESC, T_DRIVER, T_DEVICE);
	expect_ready_rejected(0x80000000u, T_DESC, T_DRIVER, T_DEVICE);
}

static void test_queue_ready_zero_addr(void **state)
{
	expect_ready_rejected(64, 0, T_DRIVER, T_DEVICE);
	expect_ready_rejected(64, T_DESC, 0, T_DEVICE);
	expect_ready_rejected(64, T_DESC, T_DRIVER, 0);
}

static void test_queue_ready_misaligned_addr(void **state)
{
	expect_ready_rejected(64, T_DESC + 8, T_DRIVER, T_DEVICE);
	expect_ready_rejected(64, T_DESC, T_DRIVER + 1, T_DEVICE);
	expect_ready_rejected(64, T_DESC, T_DRIVER, T_DEVICE + 2);
}

static void test_queue_ready_twice(void **state)
{
	struct vmmio m;
	struct vmmio_actions out;

	dev_init(&m);
	queue_start(&m, 0);
	out = wr(&m, VIRTIO_MMIO_QUEUE_READY, 1);
	assert_bad(&out);
	assert_true(m.q[0].ready);
}

static void test_queue_ready_bad_value(void **state)
{
	struct vmmio m;
	struct vmmio_actions out;

	dev_init(&m);
	queue_setup(&m, 0, 64, T_DESC, T_DRIVER, T_DEVICE);
	out = wr(&m, VIRTIO_MMIO_QUEUE_READY, 2);
	assert_bad(&out);
	assert_false(m.q[0].ready);
}

static void test_queue_stop(void **state)
{
	struct vmmio m;
	struct vmmio_actions out;

	dev_init(&m);
	queue_start(&m, 1);
	out = wr(&m, VIRTIO_MMIO_QUEUE_READY, 0);
	assert_one(&out, VMMIO_ACT_QUEUE_STOP);
	assert_int_equal(out.a[0].queue, 1);
	assert_int_equal(rd(&m, VIRTIO_MMIO_QUEUE_READY), 0);
	/* Already stopped: nothing to do. */
	wr_none(&m, VIRTIO_MMIO_QUEUE_READY, 0);
	/* Addresses survive a stop and the queue can be restarted. */
	assert_true(m.q[1].desc == T_DESC + 0x10000ull);
	out = wr(&m, VIRTIO_MMIO_QUEUE_READY, 1);
	assert_one(&out, VMMIO_ACT_QUEUE_READY);
}

static void test_queue_setup_ignored_while_ready(void **state)
{
	static const uint32_t setup[] = {
		VIRTIO_MMIO_QUEUE_NUM, VIRTIO_MMIO_QUEUE_DESC_LOW,
		VIRTIO_MMIO_QUEUE_DESC_HIGH, VIRTIO_MMIO_QUEUE_AVAIL_LOW,
		VIRTIO_MMIO_QUEUE_AVAIL_HIGH, VIRTIO_MMIO_QUEUE_USED_LOW,
		VIRTIO_MMIO_QUEUE_USED_HIGH,
	};
	struct vmmio m;
	struct vmmio_queue ref;
	struct vmmio_actions out;
	size_t i;

	dev_init(&m);
	queue_start(&m, 0);
	memcpy(&ref, &m.q[0], sizeof(ref));
	for (i = 0; i < ARRAY_SIZE(setup); i++) {
		out = wr(&m, setup[i], 0x1000);
		assert_bad(&out);
	}
	assert_memory_equal(&m.q[0], &ref, sizeof(ref));
}

static void test_bad_queue_sel(void **state)
{
	static const uint32_t sels[] = {
		T_NR_QUEUES, T_NR_QUEUES + 1, VMMIO_MAX_QUEUES,
		VMMIO_MAX_QUEUES + 1, 0x10000, 0x7fffffff, 0xffffffff,
	};
	struct vmmio m, ref;
	size_t i, j;

	dev_running(&m);
	for (i = 0; i < ARRAY_SIZE(sels); i++) {
		wr_none(&m, VIRTIO_MMIO_QUEUE_SEL, sels[i]);
		assert_int_equal(m.queue_sel, sels[i]);
		memcpy(&ref, &m, sizeof(ref));
		for (j = 0; j < ARRAY_SIZE(queue_regs); j++)
			assert_int_equal(rd(&m, queue_regs[j]), 0);
		for (j = 0; j < ARRAY_SIZE(queue_regs); j++) {
			wr_none(&m, queue_regs[j], 1);
			wr_none(&m, queue_regs[j], 0);
			wr_none(&m, queue_regs[j], 0x1000);
		}
		assert_memory_equal(&m, &ref, sizeof(m));
	}
}

static void test_queue_sel_with_no_queues(void **state)
{
	struct vmmio m, ref;
	struct vmmio_actions out;
	size_t j;

	vmmio_init(&m, 1, F_VERSION_1, 0, 256, 0);
	memcpy(&ref, &m, sizeof(ref));
	for (j = 0; j < ARRAY_SIZE(queue_regs); j++) {
		assert_int_equal(rd(&m, queue_regs[j]), 0);
		wr_none(&m, queue_regs[j], 1);
	}
	assert_memory_equal(&m, &ref, sizeof(m));
	out = wr(&m, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	assert_bad(&out);
}

static void test_queue_notify(void **state)
{
	struct vmmio m;
	struct vmmio_actions out;

	dev_init(&m);
	queue_start(&m, 0);
	out = wr(&m, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	assert_one(&out, VMMIO_ACT_NOTIFY);
	assert_int_equal(out.a[0].queue, 0);
	/* Upper 16 bits (notification data) are not part of the index. */
	out = wr(&m, VIRTIO_MMIO_QUEUE_NOTIFY, 0xabcd0000);
	assert_one(&out, VMMIO_ACT_NOTIFY);
	assert_int_equal(out.a[0].queue, 0);
	/* Notify does not depend on QueueSel. */
	wr_none(&m, VIRTIO_MMIO_QUEUE_SEL, 0xffffffff);
	out = wr(&m, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	assert_one(&out, VMMIO_ACT_NOTIFY);
}

static void test_queue_notify_not_ready(void **state)
{
	struct vmmio m;
	struct vmmio_actions out;

	dev_init(&m);
	queue_start(&m, 0);
	out = wr(&m, VIRTIO_MMIO_QUEUE_NOTIFY, 1);
	assert_bad(&out);
	assert_int_equal(out.a[0].queue, 1);
}

static void test_queue_notify_out_of_range(void **state)
{
	static const uint32_t idx[] = {
		T_NR_QUEUES, VMMIO_MAX_QUEUES, 0xffff, 0xffffffff, 0x0002ffff,
	};
	struct vmmio m;
	struct vmmio_actions out;
	size_t i;

	dev_running(&m);
	for (i = 0; i < ARRAY_SIZE(idx); i++) {
		out = wr(&m, VIRTIO_MMIO_QUEUE_NOTIFY, idx[i]);
		assert_bad(&out);
	}
}

static void test_queue_reset(void **state)
{
	struct vmmio m;
	struct vmmio_actions out;

	dev_init(&m);
	queue_start(&m, 1);
	assert_int_equal(rd(&m, VMMIO_QUEUE_RESET), 0);
	out = wr(&m, VMMIO_QUEUE_RESET, 1);
	assert_one(&out, VMMIO_ACT_QUEUE_RESET);
	assert_int_equal(out.a[0].queue, 1);
	assert_int_equal(rd(&m, VMMIO_QUEUE_RESET), 1);
	assert_int_equal(rd(&m, VIRTIO_MMIO_QUEUE_READY), 0);
	assert_int_equal(rd(&m, VIRTIO_MMIO_QUEUE_DESC_LOW), 0);
	assert_int_equal(rd(&m, VIRTIO_MMIO_QUEUE_AVAIL_LOW), 0);
	assert_int_equal(rd(&m, VIRTIO_MMIO_QUEUE_USED_LOW), 0);
	assert_int_equal(rd(&m, VIRTIO_MMIO_QUEUE_NUM_MAX), T_QUEUE_MAX);
	assert_int_equal(m.q[1].num, T_QUEUE_MAX);

	/* Still 1 while being set up again, 0 once re-enabled. */
	queue_setup(&m, 1, 64, T_DESC, T_DRIVER, T_DEVICE);
	assert_int_equal(rd(&m, VMMIO_QUEUE_RESET), 1);
	out = wr(&m, VIRTIO_MMIO_QUEUE_READY, 1);
	assert_one(&out, VMMIO_ACT_QUEUE_READY);
	assert_int_equal(rd(&m, VMMIO_QUEUE_RESET), 0);

	/* A rejected enable leaves reset set. */
	wr(&m, VMMIO_QUEUE_RESET, 1);
	out = wr(&m, VIRTIO_MMIO_QUEUE_READY, 1);
	assert_bad(&out);
	assert_int_equal(rd(&m, VMMIO_QUEUE_RESET), 1);
}

static void test_queue_reset_not_ready_and_others(void **state)
{
	struct vmmio m;
	struct vmmio_actions out;

	dev_init(&m);
	queue_start(&m, 0);
	/* Reset of a stopped queue is reported too; queue 0 untouched. */
	wr_none(&m, VIRTIO_MMIO_QUEUE_SEL, 1);
	out = wr(&m, VMMIO_QUEUE_RESET, 1);
	assert_one(&out, VMMIO_ACT_QUEUE_RESET);
	assert_int_equal(out.a[0].queue, 1);
	assert_true(m.q[0].ready);
	assert_false(m.q[0].reset);
	/* Writing 0 (or anything but 1) does nothing. */
	wr_none(&m, VIRTIO_MMIO_QUEUE_SEL, 0);
	wr_none(&m, VMMIO_QUEUE_RESET, 0);
	wr_none(&m, VMMIO_QUEUE_RESET, 2);
	assert_true(m.q[0].ready);
	assert_int_equal(rd(&m, VMMIO_QUEUE_RESET), 0);
}

/* ---- interrupts ---- */

static void test_interrupt_ack(void **state)
{
	struct vmmio m;

	dev_init(&m);
	vmmio_raise(&m, VMMIO_INT_VRING | VMMIO_INT_CONFIG);
	assert_int_equal(rd(&m, VIRTIO_MMIO_INTERRUPT_STATUS), 3);
	wr_none(&m, VIRTIO_MMIO_INTERRUPT_ACK, VMMIO_INT_VRING);
	assert_int_equal(rd(&m, VIRTIO_MMIO_INTERRUPT_STATUS),
	    VMMIO_INT_CONFIG);
	wr_none(&m, VIRTIO_MMIO_INTERRUPT_ACK, 0);
	assert_int_equal(rd(&m, VIRTIO_MMIO_INTERRUPT_STATUS),
	    VMMIO_INT_CONFIG);
	wr_none(&m, VIRTIO_MMIO_INTERRUPT_ACK, 0xffffffff);
	assert_int_equal(rd(&m, VIRTIO_MMIO_INTERRUPT_STATUS), 0);
}

static void test_raise(void **state)
{
	struct vmmio m;

	dev_init(&m);
	assert_false(vmmio_raise(&m, 0));
	assert_true(vmmio_raise(&m, VMMIO_INT_VRING));
	assert_int_equal(m.interrupt_status, VMMIO_INT_VRING);
	/* Still pending: inject again. */
	assert_true(vmmio_raise(&m, VMMIO_INT_VRING));
	assert_true(vmmio_raise(&m, 0));
	assert_true(vmmio_raise(&m, VMMIO_INT_CONFIG));
	assert_int_equal(m.interrupt_status, 3);
	wr_none(&m, VIRTIO_MMIO_INTERRUPT_ACK, 3);
	assert_false(vmmio_raise(&m, 0));
}

static void test_needs_reset(void **state)
{
	struct vmmio m, ref;
	struct vmmio_actions out;

	dev_init(&m);
	wr(&m, VIRTIO_MMIO_STATUS, VMMIO_S_ACKNOWLEDGE | VMMIO_S_DRIVER);
	memcpy(&ref, &m, sizeof(ref));
	/* Before negotiation: nothing happens. */
	assert_false(vmmio_needs_reset(&m));
	assert_memory_equal(&m, &ref, sizeof(m));

	set_features(&m, F_VERSION_1);
	wr(&m, VIRTIO_MMIO_STATUS,
	    VMMIO_S_ACKNOWLEDGE | VMMIO_S_DRIVER | VMMIO_S_FEATURES_OK);
	assert_true(vmmio_needs_reset(&m));
	assert_true(rd(&m, VIRTIO_MMIO_STATUS) & VMMIO_S_NEEDS_RESET);
	assert_int_equal(rd(&m, VIRTIO_MMIO_INTERRUPT_STATUS),
	    VMMIO_INT_CONFIG);
	/* Again: still true. */
	assert_true(vmmio_needs_reset(&m));

	/* The driver cannot clear it but by a reset. */
	out = wr(&m, VIRTIO_MMIO_STATUS,
	    VMMIO_S_ACKNOWLEDGE | VMMIO_S_DRIVER | VMMIO_S_FEATURES_OK);
	assert_bad(&out);
	assert_true(rd(&m, VIRTIO_MMIO_STATUS) & VMMIO_S_NEEDS_RESET);
	wr(&m, VIRTIO_MMIO_STATUS, 0);
	assert_int_equal(rd(&m, VIRTIO_MMIO_STATUS), 0);
	assert_false(vmmio_needs_reset(&m));
}

static void test_needs_reset_running(void **state)
{
	struct vmmio m;

	dev_running(&m);
	assert_true(vmmio_needs_reset(&m));
	assert_true(m.status & VMMIO_S_NEEDS_RESET);
	assert_true(m.status & VMMIO_S_DRIVER_OK);
	assert_true(m.interrupt_status & VMMIO_INT_CONFIG);
}

/* ---- config space ---- */

static void fill_config(struct vmmio *m)
{
	uint8_t buf[T_CONFIG_LEN];
	uint32_t i;

	for (i = 0; i < T_CONFIG_LEN; i++)
		buf[i] = (uint8_t)(i + 1);
	assert_false(vmmio_config_update(m, 0, buf, sizeof(buf), false));
}

static void test_config_read_sizes(void **state)
{
	struct vmmio m;

	dev_init(&m);
	fill_config(&m);
	assert_true(vmmio_read(&m, VMMIO_CONFIG_OFF, 1) == 0x01);
	assert_true(vmmio_read(&m, VMMIO_CONFIG_OFF, 2) == 0x0201);
	assert_true(vmmio_read(&m, VMMIO_CONFIG_OFF, 4) == 0x04030201);
	assert_true(vmmio_read(&m, VMMIO_CONFIG_OFF, 8) ==
	    0x0807060504030201ull);
	/* Unaligned inside config space is fine. */
	assert_true(vmmio_read(&m, VMMIO_CONFIG_OFF + 3, 4) == 0x07060504);
	assert_true(vmmio_read(&m, VMMIO_CONFIG_OFF + 5, 2) == 0x0706);
	/* Last bytes. */
	assert_true(vmmio_read(&m, VMMIO_CONFIG_OFF + T_CONFIG_LEN - 1, 1) ==
	    T_CONFIG_LEN);
	assert_true(vmmio_read(&m, VMMIO_CONFIG_OFF + T_CONFIG_LEN - 8, 8) ==
	    0x3c3b3a3938373635ull);
}

static void test_config_read_out_of_range(void **state)
{
	struct vmmio m;

	dev_init(&m);
	fill_config(&m);
	/* Past config_len, straddling its end, past the window. */
	assert_true(vmmio_read(&m, VMMIO_CONFIG_OFF + T_CONFIG_LEN, 1) == 0);
	assert_true(vmmio_read(&m, VMMIO_CONFIG_OFF + T_CONFIG_LEN - 1, 2) ==
	    0);
	assert_true(vmmio_read(&m, VMMIO_CONFIG_OFF + T_CONFIG_LEN - 4, 8) ==
	    0);
	assert_true(vmmio_read(&m, VMMIO_WINDOW_LEN - 1, 1) == 0);
	assert_true(vmmio_read(&m, VMMIO_WINDOW_LEN, 4) == 0);
	assert_true(vmmio_read(&m, UINT64_MAX, 1) == 0);
	assert_true(vmmio_read(&m, UINT64_MAX - 3, 4) == 0);
	assert_true(vmmio_read(&m, 0x8000000000000100ull, 4) == 0);
	/* Sizes that do not exist. */
	assert_true(vmmio_read(&m, VMMIO_CONFIG_OFF, 0) == 0);
	assert_true(vmmio_read(&m, VMMIO_CONFIG_OFF, 3) == 0);
	assert_true(vmmio_read(&m, VMMIO_CONFIG_OFF, 16) == 0);
}

static void test_config_full_window(void **state)
{
	struct vmmio m;
	uint8_t buf[VMMIO_CONFIG_MAX];

	vmmio_init(&m, 1, F_VERSION_1, 1, 256, VMMIO_CONFIG_MAX);
	memset(buf, 0xee, sizeof(buf));
	vmmio_config_update(&m, 0, buf, sizeof(buf), false);
	assert_true(vmmio_read(&m, VMMIO_WINDOW_LEN - 8, 8) ==
	    0xeeeeeeeeeeeeeeeeull);
	assert_true(vmmio_read(&m, VMMIO_WINDOW_LEN - 4, 8) == 0);
	assert_true(vmmio_read(&m, VMMIO_WINDOW_LEN, 1) == 0);
}

static void test_config_write(void **state)
{
	struct vmmio m;
	struct vmmio_actions out = { .nr = 0 };
	unsigned s;

	dev_init(&m);
	for (s = 1; s <= 8; s *= 2) {
		out.nr = 0;
		vmmio_write(&m, VMMIO_CONFIG_OFF + 16, s,
		    0x8877665544332211ull, &out);
		assert_one(&out, VMMIO_ACT_CONFIG_WRITE);
		assert_int_equal(out.a[0].cfg_off, 16);
		assert_int_equal(out.a[0].cfg_len, s);
		assert_true(vmmio_read(&m, VMMIO_CONFIG_OFF + 16, s) ==
		    (0x8877665544332211ull &
		    (s == 8 ? UINT64_MAX : (1ull << (s * 8)) - 1)));
	}
	assert_memory_equal(&m.config[16],
	    "\x11\x22\x33\x44\x55\x66\x77\x88", 8);
	/* Config writes do not bump the generation (the driver wrote it). */
	assert_int_equal(m.config_generation, 0);
}

static void test_config_write_out_of_range(void **state)
{
	struct vmmio m, ref;
	struct vmmio_actions out = { .nr = 0 };

	dev_init(&m);
	fill_config(&m);
	memcpy(&ref, &m, sizeof(ref));
	vmmio_write(&m, VMMIO_CONFIG_OFF + T_CONFIG_LEN, 1, 0xff, &out);
	vmmio_write(&m, VMMIO_CONFIG_OFF + T_CONFIG_LEN - 1, 2, 0xffff, &out);
	vmmio_write(&m, VMMIO_CONFIG_OFF + T_CONFIG_LEN - 4, 8, UINT64_MAX,
	    &out);
	vmmio_write(&m, VMMIO_WINDOW_LEN, 4, 0xffffffff, &out);
	vmmio_write(&m, UINT64_MAX, 1, 0xff, &out);
	vmmio_write(&m, UINT64_MAX - 7, 8, UINT64_MAX, &out);
	vmmio_write(&m, VMMIO_CONFIG_OFF, 3, 0xffffff, &out);
	vmmio_write(&m, VMMIO_CONFIG_OFF, 0, 0xff, &out);
	vmmio_write(&m, VMMIO_CONFIG_OFF, 16, 0xff, &out);
	assert_int_equal(out.nr, 0);
	assert_memory_equal(&m, &ref, sizeof(m));
}

static void test_config_generation_read(void **state)
{
	struct vmmio m;
	uint8_t v = 9;

	dev_init(&m);
	assert_int_equal(rd(&m, VIRTIO_MMIO_CONFIG_GENERATION), 0);
	vmmio_config_update(&m, 0, &v, 1, false);
	assert_int_equal(rd(&m, VIRTIO_MMIO_CONFIG_GENERATION), 1);
}

static void test_config_update(void **state)
{
	struct vmmio m, ref;
	uint8_t buf[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };

	dev_init(&m);
	/* Out of range: refused, nothing changes. */
	memcpy(&ref, &m, sizeof(ref));
	assert_false(vmmio_config_update(&m, T_CONFIG_LEN - 4, buf, 8, true));
	assert_false(vmmio_config_update(&m, T_CONFIG_LEN, buf, 1, true));
	assert_false(vmmio_config_update(&m, 0xfffffffc, buf, 8, true));
	assert_false(vmmio_config_update(&m, 4, buf, 0xfffffffe, true));
	assert_memory_equal(&m, &ref, sizeof(m));

	/* A change bumps the generation; no interrupt before DRIVER_OK. */
	assert_false(vmmio_config_update(&m, 4, buf, 8, true));
	assert_int_equal(m.config_generation, 1);
	assert_memory_equal(&m.config[4], buf, 8);
	assert_int_equal(m.interrupt_status, 0);
	assert_true(vmmio_read(&m, VMMIO_CONFIG_OFF + 4, 4) == 0x04030201);

	/* Same contents: no bump. */
	assert_false(vmmio_config_update(&m, 4, buf, 8, false));
	assert_int_equal(m.config_generation, 1);

	/* Zero length at the very end is in range and changes nothing. */
	assert_false(vmmio_config_update(&m, T_CONFIG_LEN, buf, 0, false));
	assert_int_equal(m.config_generation, 1);
}

static void test_config_update_notify(void **state)
{
	struct vmmio m;
	uint8_t v = 0x5a;

	dev_running(&m);
	/* notify=false: no interrupt even with DRIVER_OK. */
	assert_false(vmmio_config_update(&m, 0, &v, 1, false));
	assert_int_equal(m.interrupt_status, 0);
	assert_int_equal(m.config_generation, 1);
	v = 0x5b;
	assert_true(vmmio_config_update(&m, 0, &v, 1, true));
	assert_int_equal(m.interrupt_status, VMMIO_INT_CONFIG);
	assert_int_equal(m.config_generation, 2);
	assert_true(vmmio_read(&m, VMMIO_CONFIG_OFF, 1) == 0x5b);
	/* Out of range refused even when running. */
	assert_false(vmmio_config_update(&m, T_CONFIG_LEN, &v, 1, true));
	assert_int_equal(m.config_generation, 2);
}

/* ---- shared memory ---- */

static void test_shm(void **state)
{
	struct vmmio m;

	dev_init(&m);
	wr_none(&m, VIRTIO_MMIO_SHM_SEL, 5);
	assert_int_equal(m.shm_sel, 5);
	assert_int_equal(rd(&m, VIRTIO_MMIO_SHM_LEN_LOW), 0xffffffff);
	assert_int_equal(rd(&m, VIRTIO_MMIO_SHM_LEN_HIGH), 0xffffffff);
	assert_int_equal(rd(&m, VIRTIO_MMIO_SHM_BASE_LOW), 0xffffffff);
	assert_int_equal(rd(&m, VIRTIO_MMIO_SHM_BASE_HIGH), 0xffffffff);
	wr_none(&m, VIRTIO_MMIO_SHM_SEL, 0);
	assert_int_equal(rd(&m, VIRTIO_MMIO_SHM_LEN_LOW), 0xffffffff);
}

/* ---- action list ---- */

static void test_actions_capped(void **state)
{
	struct vmmio m;
	struct vmmio_actions out = { .nr = VMMIO_MAX_ACTIONS };

	dev_init(&m);
	queue_start(&m, 0);
	vmmio_write(&m, VIRTIO_MMIO_QUEUE_NOTIFY, 4, 0, &out);
	assert_int_equal(out.nr, VMMIO_MAX_ACTIONS);
	vmmio_write(&m, VMMIO_CONFIG_OFF, 1, 0, &out);
	assert_int_equal(out.nr, VMMIO_MAX_ACTIONS);

	/* Two actions with room for one: the second is dropped. */
	wr(&m, VIRTIO_MMIO_STATUS, VMMIO_S_ACKNOWLEDGE);
	out.nr = VMMIO_MAX_ACTIONS - 1;
	vmmio_write(&m, VIRTIO_MMIO_STATUS, 4,
	    VMMIO_S_ACKNOWLEDGE | VMMIO_S_DRIVER | VMMIO_S_FEATURES_OK, &out);
	assert_int_equal(out.nr, VMMIO_MAX_ACTIONS);
	assert_int_equal(out.a[VMMIO_MAX_ACTIONS - 1].kind, VMMIO_ACT_BAD);
	/* The state change itself still happened. */
	assert_int_equal(m.status, VMMIO_S_ACKNOWLEDGE | VMMIO_S_DRIVER);

	/* Accumulating across writes. */
	out.nr = 0;
	vmmio_write(&m, VIRTIO_MMIO_QUEUE_NOTIFY, 4, 0, &out);
	vmmio_write(&m, VIRTIO_MMIO_QUEUE_NOTIFY, 4, 0, &out);
	assert_int_equal(out.nr, 2);
}

/* ---- brute force (run under ASan/UBSan) ---- */

static void check_actions(const struct vmmio *m,
    const struct vmmio_actions *out)
{
	unsigned i;

	assert_true(out->nr <= VMMIO_MAX_ACTIONS);
	for (i = 0; i < out->nr; i++) {
		switch (out->a[i].kind) {
		case VMMIO_ACT_NOTIFY:
		case VMMIO_ACT_QUEUE_READY:
		case VMMIO_ACT_QUEUE_STOP:
		case VMMIO_ACT_QUEUE_RESET:
			assert_true(out->a[i].queue < m->nr_queues);
			break;
		case VMMIO_ACT_CONFIG_WRITE:
			assert_true(range_ok(out->a[i].cfg_off,
			    out->a[i].cfg_len, m->config_len));
			break;
		case VMMIO_ACT_BAD:
			assert_non_null(out->a[i].why);
			break;
		default:
			break;
		}
	}
}

static void brute(struct vmmio *m)
{
	static const uint64_t vals[] = {
		0, 1, 2, 0x8, 0xff, 0x8000, 0xffff, 0x80000000u, 0xffffffffu,
		0x100000000ull, UINT64_MAX,
	};
	static const unsigned sizes[] = { 0, 1, 2, 3, 4, 8, 16 };
	static const uint64_t far[] = {
		0x200, 0x201, 0x1000, 0xffffffffull, 0x100000100ull,
		UINT64_MAX - 7, UINT64_MAX,
	};
	struct vmmio_actions out;
	uint64_t off;
	size_t s, v, i;

	for (off = 0; off < VMMIO_WINDOW_LEN; off++) {
		for (s = 0; s < ARRAY_SIZE(sizes); s++) {
			(void)vmmio_read(m, off, sizes[s]);
			for (v = 0; v < ARRAY_SIZE(vals); v++) {
				out.nr = 0;
				vmmio_write(m, off, sizes[s], vals[v], &out);
				check_actions(m, &out);
				(void)vmmio_read(m, off, sizes[s]);
				assert_true(m->nr_queues <= VMMIO_MAX_QUEUES);
				assert_true(m->config_len <=
				    VMMIO_CONFIG_MAX);
			}
		}
	}
	for (i = 0; i < ARRAY_SIZE(far); i++) {
		for (s = 0; s < ARRAY_SIZE(sizes); s++) {
			assert_true(vmmio_read(m, far[i], sizes[s]) == 0);
			out.nr = 0;
			vmmio_write(m, far[i], sizes[s], UINT64_MAX, &out);
			assert_int_equal(out.nr, 0);
		}
	}
}

static void test_brute_force(void **state)
{
	struct vmmio m;

	dev_init(&m);
	brute(&m);
	dev_running(&m);
	brute(&m);
	vmmio_init(&m, 1, 0, 0, 0, 0);
	brute(&m);
	vmmio_init(&m, 1, UINT64_MAX, VMMIO_MAX_QUEUES, 32768,
	    VMMIO_CONFIG_MAX);
	brute(&m);
	/* With QueueSel parked out of range. */
	dev_running(&m);
	wr_none(&m, VIRTIO_MMIO_QUEUE_SEL, 0xffffffff);
	brute(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_defaults),
		cmocka_unit_test(test_init_clamps),
		cmocka_unit_test(test_read_ids),
		cmocka_unit_test(test_readonly_writes_ignored),
		cmocka_unit_test(test_device_features_sel),
		cmocka_unit_test(test_driver_features_write),
		cmocka_unit_test(test_driver_features_locked_after_features_ok),
		cmocka_unit_test(test_features_ok_accepted),
		cmocka_unit_test(test_features_ok_unsupported_feature),
		cmocka_unit_test(test_features_ok_missing_version1),
		cmocka_unit_test(test_features_ok_rejected_other_bits_kept),
		cmocka_unit_test(test_status_progression),
		cmocka_unit_test(test_status_clear_bits_rejected),
		cmocka_unit_test(test_driver_ok_without_features_ok),
		cmocka_unit_test(test_status_reset_clears),
		cmocka_unit_test(test_full_probe_sequence),
		cmocka_unit_test(test_write_only_regs_read_zero),
		cmocka_unit_test(test_unknown_offsets),
		cmocka_unit_test(test_misaligned_register_access),
		cmocka_unit_test(test_write_value_masked),
		cmocka_unit_test(test_queue_num_max),
		cmocka_unit_test(test_queue_num_stored),
		cmocka_unit_test(test_queue_addr_readback),
		cmocka_unit_test(test_queue_ready_ok),
		cmocka_unit_test(test_queue_ready_num_zero),
		cmocka_unit_test(test_queue_ready_num_not_pow2),
		cmocka_unit_test(test_queue_ready_num_too_big),
		cmocka_unit_test(test_queue_ready_zero_addr),
		cmocka_unit_test(test_queue_ready_misaligned_addr),
		cmocka_unit_test(test_queue_ready_twice),
		cmocka_unit_test(test_queue_ready_bad_value),
		cmocka_unit_test(test_queue_stop),
		cmocka_unit_test(test_queue_setup_ignored_while_ready),
		cmocka_unit_test(test_bad_queue_sel),
		cmocka_unit_test(test_queue_sel_with_no_queues),
		cmocka_unit_test(test_queue_notify),
		cmocka_unit_test(test_queue_notify_not_ready),
		cmocka_unit_test(test_queue_notify_out_of_range),
		cmocka_unit_test(test_queue_reset),
		cmocka_unit_test(test_queue_reset_not_ready_and_others),
		cmocka_unit_test(test_interrupt_ack),
		cmocka_unit_test(test_raise),
		cmocka_unit_test(test_needs_reset),
		cmocka_unit_test(test_needs_reset_running),
		cmocka_unit_test(test_config_read_sizes),
		cmocka_unit_test(test_config_read_out_of_range),
		cmocka_unit_test(test_config_full_window),
		cmocka_unit_test(test_config_write),
		cmocka_unit_test(test_config_write_out_of_range),
		cmocka_unit_test(test_config_generation_read),
		cmocka_unit_test(test_config_update),
		cmocka_unit_test(test_config_update_notify),
		cmocka_unit_test(test_shm),
		cmocka_unit_test(test_actions_capped),
		cmocka_unit_test(test_brute_force),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
