/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests for the virtio-msg transport and bus (src/transport/vmsg.c). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "transport/vmmio.h"
#include "transport/vmsg.h"
#include "util.h"

#define T_DEVICE_ID	2u	/* block */
#define T_NR_QUEUES	2u
#define T_QUEUE_MAX	256u
#define T_CONFIG_LEN	60u
#define F_VERSION_1	(1ull << 32)
#define F_RING_RESET	(1ull << 40)
#define T_FEATURES	((1ull << 1) | (1ull << 6) | F_VERSION_1 | F_RING_RESET)
#define T_DEV		5u
#define T_MAX_MSG	64u	/* GET_CONFIG chunks of 64 - 8 - 12 = 44 */

#define T_DESC		0x10000ull
#define T_DRIVER	0x11000ull
#define T_DEVICE	0x12000ull

#define RSP		0x01u
#define BUS		0x02u

static const uint8_t t_uuid[16] = {
	0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17,
	0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f,
};

struct fx {
	struct vmmio m;
	struct vmsg_dev d;
	struct vmsg_bus b;
	uint16_t token;
};

/* The result of one frame. */
struct rsp {
	enum vmsg_rc rc;
	uint8_t out[512];
	size_t len;
	struct vmmio_actions acts;
	const char *why;
	struct vmsg_hdr hdr;
};

static void p16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void p32(uint8_t *p, uint32_t v)
{
	p16(p, (uint16_t)v);
	p16(p + 2, (uint16_t)(v >> 16));
}

static void p64(uint8_t *p, uint64_t v)
{
	p32(p, (uint32_t)v);
	p32(p + 4, (uint32_t)(v >> 32));
}

static uint16_t g16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t g32(const uint8_t *p)
{
	return (uint32_t)g16(p) | (uint32_t)g16(p + 2) << 16;
}

static uint64_t g64(const uint8_t *p)
{
	return (uint64_t)g32(p) | (uint64_t)g32(p + 4) << 32;
}

static size_t mk(uint8_t *buf, uint8_t type, uint8_t id, uint16_t dev,
    uint16_t token, const void *payload, size_t plen)
{
	buf[0] = type;
	buf[1] = id;
	p16(buf + 2, dev);
	p16(buf + 4, token);
	p16(buf + 6, (uint16_t)(8 + plen));
	if (plen != 0)
		memcpy(buf + 8, payload, plen);
	return 8 + plen;
}

static int fx_setup(void **state)
{
	static struct fx f;
	uint8_t cfg[T_CONFIG_LEN];
	unsigned i;

	memset(&f, 0, sizeof(f));
	vmmio_init(&f.m, T_DEVICE_ID, T_FEATURES, T_NR_QUEUES, T_QUEUE_MAX,
	    T_CONFIG_LEN);
	for (i = 0; i < T_CONFIG_LEN; i++)
		cfg[i] = (uint8_t)(0xa0 + i);
	vmmio_config_update(&f.m, 0, cfg, T_CONFIG_LEN, false);
	assert_int_equal(vmsg_dev_init(&f.d, &f.m, T_DEV, t_uuid, T_MAX_MSG),
	    0);
	assert_int_equal(vmsg_bus_init(&f.b, T_MAX_MSG, false), 0);
	f.token = 2;	/* Linux: 0 event, 1 reserved */
	*state = &f;
	return 0;
}

static struct rsp raw(struct fx *f, const uint8_t *in, size_t in_len)
{
	struct rsp r;

	memset(&r, 0, sizeof(r));
	r.len = sizeof(r.out);
	r.acts.nr = 99;	/* vmsg_handle resets it */
	r.rc = vmsg_handle(&f->d, in, in_len, r.out, &r.len, &r.acts, &r.why);
	if (r.rc != VMSG_REPLY)
		assert_int_equal(r.len, 0);
	return r;
}

/* A transport request from the driver, next token. */
static struct rsp req(struct fx *f, uint8_t id, const void *payload,
    size_t plen)
{
	uint8_t in[512];
	size_t n = mk(in, 0, id, T_DEV, f->token++, payload, plen);

	return raw(f, in, n);
}

static void assert_hdr(const struct rsp *r, uint8_t type, uint8_t id,
    uint16_t dev, uint16_t token, uint16_t size)
{
	assert_int_equal(r->rc, VMSG_REPLY);
	assert_null(r->why);
	assert_int_equal(r->len, size);
	assert_int_equal(r->out[0], type);
	assert_int_equal(r->out[1], id);
	assert_int_equal(g16(r->out + 2), dev);
	assert_int_equal(g16(r->out + 4), token);
	assert_int_equal(g16(r->out + 6), size);
}

/* Response to the request just sent by req(): header echo checked. */
static void assert_resp(struct fx *f, const struct rsp *r, uint8_t id,
    uint16_t size)
{
	assert_hdr(r, RSP, id, T_DEV, (uint16_t)(f->token - 1), size);
}

static void assert_dropped(const struct rsp *r)
{
	assert_int_equal(r->rc, VMSG_NONE);
	assert_non_null(r->why);
	assert_int_equal(r->len, 0);
	assert_int_equal(r->acts.nr, 0);
}

static void assert_acts(const struct rsp *r, unsigned nr)
{
	assert_int_equal(r->acts.nr, nr);
}

static void assert_act(const struct rsp *r, unsigned i,
    enum vmmio_act_kind kind)
{
	assert_true(i < r->acts.nr);
	assert_int_equal(r->acts.a[i].kind, kind);
}

/* ---- Small request builders. ---- */

static struct rsp get_vq(struct fx *f, uint32_t idx)
{
	uint8_t p[4];

	p32(p, idx);
	return req(f, VMSG_GET_VQUEUE, p, sizeof(p));
}

static struct rsp set_vq(struct fx *f, uint32_t idx, uint32_t flags,
    uint32_t size, uint64_t desc, uint64_t drv, uint64_t dev)
{
	uint8_t p[40] = { 0 };

	p32(p, idx);
	p32(p + 4, flags);
	p32(p + 8, size);
	p64(p + 16, desc);
	p64(p + 24, drv);
	p64(p + 32, dev);
	return req(f, VMSG_SET_VQUEUE, p, sizeof(p));
}

static struct rsp set_status(struct fx *f, uint32_t st)
{
	uint8_t p[4];

	p32(p, st);
	return req(f, VMSG_SET_DEVICE_STATUS, p, sizeof(p));
}

static struct rsp set_features(struct fx *f, uint32_t idx, uint32_t n,
    const uint32_t *v)
{
	uint8_t p[8 + 4 * 8];
	uint32_t i;

	p32(p, idx);
	p32(p + 4, n);
	for (i = 0; i < n; i++)
		p32(p + 8 + 4 * i, v[i]);
	return req(f, VMSG_SET_DRIVER_FEATURES, p, 8 + 4 * n);
}

static struct rsp get_config(struct fx *f, uint32_t off, uint32_t len)
{
	uint8_t p[8];

	p32(p, off);
	p32(p + 4, len);
	return req(f, VMSG_GET_CONFIG, p, sizeof(p));
}

static struct rsp event_avail(struct fx *f, uint32_t idx)
{
	uint8_t in[16], p[8] = { 0 };

	p32(p, idx);
	return raw(f, in, mk(in, 0, VMSG_EVENT_AVAIL, T_DEV, 0, p, sizeof(p)));
}

/* Status ACK|DRIVER, features VERSION_1|RING_RESET, FEATURES_OK. */
static void negotiate(struct fx *f)
{
	const uint32_t feat[2] = { 0, (uint32_t)((F_VERSION_1 |
	    F_RING_RESET) >> 32) };
	struct rsp r;

	set_status(f, VMMIO_S_ACKNOWLEDGE);
	set_status(f, VMMIO_S_ACKNOWLEDGE | VMMIO_S_DRIVER);
	r = set_features(f, 0, 2, feat);
	assert_resp(f, &r, VMSG_SET_DRIVER_FEATURES, 8);
	r = set_status(f, VMMIO_S_ACKNOWLEDGE | VMMIO_S_DRIVER |
	    VMMIO_S_FEATURES_OK);
	assert_int_equal(g32(r.out + 8), VMMIO_S_ACKNOWLEDGE | VMMIO_S_DRIVER |
	    VMMIO_S_FEATURES_OK);
}

static void queue_up(struct fx *f, uint32_t idx)
{
	struct rsp r = set_vq(f, idx, VMSG_VQ_F_ENABLED, 128,
	    T_DESC + idx * 0x4000, T_DRIVER + idx * 0x4000,
	    T_DEVICE + idx * 0x4000);

	assert_resp(f, &r, VMSG_SET_VQUEUE, 8);
	assert_acts(&r, 1);
	assert_act(&r, 0, VMMIO_ACT_QUEUE_READY);
	assert_int_equal(r.acts.a[0].queue, idx);
}

/* ---- The table. ---- */

static void check_table(const struct vmsg_proto *p,
    const struct vmsg_msg_desc *t, size_t nr, enum vmsg_class cls)
{
	size_t i, j;

	for (i = 0; i < nr; i++) {
		const struct vmsg_msg_desc *r = &t[i];
		bool event = (r->id & VMSG_ID_EVENT) != 0;

		assert_non_null(r->name);
		assert_int_equal(r->cls, cls);
		for (j = i + 1; j < nr; j++)
			assert_int_not_equal(r->id, t[j].id);
		assert_ptr_equal(vmsg_proto_lookup(p, cls, r->id, true), r);
		if (r->id == VMSG_FFA_ERROR) {	/* response class only */
			assert_int_equal(r->req.kind, VMSG_LEN_NONE);
			continue;
		}
		/* An event never has a response; a request always has. */
		assert_int_equal(event, r->resp.kind == VMSG_LEN_NONE);
		assert_int_not_equal(r->req.kind, VMSG_LEN_NONE);
		/* Device-handled rows have a handler, the others none. */
		assert_int_equal(r->dir == VMSG_DIR_TO_DRV, r->handle == NULL);
		/* Every response fits the smallest bus. */
		if (!event)
			assert_true(VMSG_HDR_LEN + r->resp.len <= p->min_size);
	}
}

static void test_table(void **state)
{
	const struct vmsg_proto *p = &vmsg_proto_2026;
	const struct vmsg_msg_desc *d;
	struct vmsg_hdr h = { .type = 0, .msg_id = VMSG_SET_VQUEUE };

	(void)state;
	assert_int_equal(p->min_size, 52);
	assert_int_equal(p->revision, 1);
	check_table(p, p->transport, p->nr_transport, VMSG_CLASS_TRANSPORT);
	check_table(p, p->bus, p->nr_bus, VMSG_CLASS_BUS);
	check_table(p, p->ffa, p->nr_ffa, VMSG_CLASS_BUS);
	assert_int_equal(p->nr_transport, 14);

	d = vmsg_proto_lookup(p, VMSG_CLASS_TRANSPORT, VMSG_GET_DEVICE_INFO,
	    false);
	assert_non_null(d);
	assert_string_equal(d->name, "GET_DEVICE_INFO");
	assert_int_equal(d->resp.kind, VMSG_LEN_FIXED);
	assert_int_equal(d->resp.len, 44);
	assert_null(vmsg_proto_lookup(p, VMSG_CLASS_TRANSPORT, 0x0d, true));
	assert_null(vmsg_proto_lookup(p, VMSG_CLASS_BUS, VMSG_FFA_VERSION,
	    false));
	assert_non_null(vmsg_proto_lookup(p, VMSG_CLASS_BUS, VMSG_FFA_VERSION,
	    true));
	assert_string_equal(vmsg_msg_name(p, &h), "SET_VQUEUE");
	h.type = BUS;
	h.msg_id = VMSG_BUS_GET_DEVICES;
	assert_string_equal(vmsg_msg_name(NULL, &h), "BUS_GET_DEVICES");
	h.msg_id = 0x7f;
	assert_string_equal(vmsg_msg_name(NULL, &h), "?");
}

static void test_init_limits(void **state)
{
	struct fx *f = *state;
	struct vmsg_dev d;
	struct vmsg_bus *b = &f->b;

	assert_int_equal(vmsg_dev_init(&d, &f->m, 1, NULL, 44), -EINVAL);
	assert_int_equal(vmsg_dev_init(&d, &f->m, 1, NULL, 51), -EINVAL);
	assert_int_equal(vmsg_dev_init(&d, &f->m, 1, NULL, 52), 0);
	assert_int_equal(vmsg_dev_init(&d, &f->m, 1, NULL, 1u << 20), 0);
	assert_int_equal(d.max_msg, VMSG_MAX_SIZE);
	assert_memory_equal(d.uuid, (uint8_t[16]){ 0 }, 16);
	assert_int_equal(vmsg_bus_init(b, 48, false), -EINVAL);
	assert_int_equal(vmsg_bus_init(b, 4096, true), 0);
	assert_int_equal(b->max_msg, VMSG_FFA_MAX_MSG);
}

/* ---- Every message, response bytes checked exactly. ---- */

static void test_get_device_info(void **state)
{
	struct fx *f = *state;
	struct rsp r = req(f, VMSG_GET_DEVICE_INFO, NULL, 0);
	static const uint8_t want[52] = {
		0x01, 0x02, T_DEV, 0, 2, 0, 52, 0,
		2, 0, 0, 0,			/* device_id: block */
		0x44, 0x48, 0x56, 0x58,		/* vendor "XVHD" */
		0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17,
		0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f,
		2, 0, 0, 0,			/* num_feature_blocks */
		60, 0, 0, 0,			/* config_size */
		2, 0, 0, 0,			/* max_virtqueues */
		0, 0, 0, 0, 0, 0, 0, 0,		/* no admin queues */
	};

	assert_resp(f, &r, VMSG_GET_DEVICE_INFO, 52);
	assert_memory_equal(r.out, want, sizeof(want));
	assert_acts(&r, 0);
}

static void test_get_device_features(void **state)
{
	struct fx *f = *state;
	uint8_t p[8];
	struct rsp r;

	p32(p, 0);
	p32(p + 4, 2);
	r = req(f, VMSG_GET_DEVICE_FEATURES, p, 8);
	assert_resp(f, &r, VMSG_GET_DEVICE_FEATURES, 8 + 8 + 8);
	assert_int_equal(g32(r.out + 8), 0);
	assert_int_equal(g32(r.out + 12), 2);
	assert_int_equal(g32(r.out + 16), (uint32_t)T_FEATURES);
	assert_int_equal(g32(r.out + 20), (uint32_t)(T_FEATURES >> 32));
	assert_int_equal(g32(r.out + 20), 0x101);

	/* Blocks beyond the implemented bits read 0. */
	p32(p, 1);
	p32(p + 4, 3);
	r = req(f, VMSG_GET_DEVICE_FEATURES, p, 8);
	assert_resp(f, &r, VMSG_GET_DEVICE_FEATURES, 8 + 8 + 12);
	assert_int_equal(g32(r.out + 8), 1);
	assert_int_equal(g32(r.out + 12), 3);
	assert_int_equal(g32(r.out + 16), 0x101);
	assert_int_equal(g32(r.out + 20), 0);
	assert_int_equal(g32(r.out + 24), 0);

	/* Largest that fits 64 bytes: (64 - 16) / 4 = 12 blocks. */
	p32(p, 0);
	p32(p + 4, 12);
	r = req(f, VMSG_GET_DEVICE_FEATURES, p, 8);
	assert_resp(f, &r, VMSG_GET_DEVICE_FEATURES, 64);
	p32(p + 4, 13);
	assert_dropped((r = req(f, VMSG_GET_DEVICE_FEATURES, p, 8), &r));
	p32(p + 4, 0);
	assert_dropped((r = req(f, VMSG_GET_DEVICE_FEATURES, p, 8), &r));
	p32(p, UINT32_MAX);
	p32(p + 4, 2);
	assert_dropped((r = req(f, VMSG_GET_DEVICE_FEATURES, p, 8), &r));
	p32(p, UINT32_MAX);
	p32(p + 4, 1);
	r = req(f, VMSG_GET_DEVICE_FEATURES, p, 8);
	assert_resp(f, &r, VMSG_GET_DEVICE_FEATURES, 20);
}

static void test_set_driver_features(void **state)
{
	struct fx *f = *state;
	const uint32_t feat[2] = { 0x2, 0x1 };
	const uint32_t beyond[3] = { 0, 0x1, 0x4 };
	uint8_t p[12];
	struct rsp r;

	r = set_features(f, 0, 2, feat);
	assert_resp(f, &r, VMSG_SET_DRIVER_FEATURES, 8);
	assert_acts(&r, 0);
	assert_true(vmmio_driver_features(&f->m) == (0x2ull | 1ull << 32));

	/* One block at a time works too. */
	r = set_features(f, 1, 1, &beyond[1]);
	assert_resp(f, &r, VMSG_SET_DRIVER_FEATURES, 8);

	/* num_blocks must match the payload. */
	p32(p, 0);
	p32(p + 4, 2);
	p32(p + 8, 0);
	assert_dropped((r = req(f, VMSG_SET_DRIVER_FEATURES, p, 12), &r));
	p32(p + 4, 0);
	assert_dropped((r = req(f, VMSG_SET_DRIVER_FEATURES, p, 8), &r));

	/* A bit in block 2, which vmmio does not carry: FEATURES_OK refused. */
	set_status(f, VMMIO_S_ACKNOWLEDGE | VMMIO_S_DRIVER);
	r = set_features(f, 0, 3, beyond);
	assert_resp(f, &r, VMSG_SET_DRIVER_FEATURES, 8);
	r = set_status(f, VMMIO_S_ACKNOWLEDGE | VMMIO_S_DRIVER |
	    VMMIO_S_FEATURES_OK);
	assert_resp(f, &r, VMSG_SET_DEVICE_STATUS, 12);
	assert_int_equal(g32(r.out + 8), VMMIO_S_ACKNOWLEDGE | VMMIO_S_DRIVER);
	assert_acts(&r, 1);
	assert_act(&r, 0, VMMIO_ACT_BAD);
	/* Only FEATURES_OK asked: stripping it must not reset the device. */
	r = set_status(f, VMMIO_S_FEATURES_OK);
	assert_int_equal(g32(r.out + 8), VMMIO_S_ACKNOWLEDGE | VMMIO_S_DRIVER);
	assert_act(&r, 0, VMMIO_ACT_BAD);
	assert_int_not_equal(r.acts.a[r.acts.nr - 1].kind, VMMIO_ACT_RESET);
	/* A reset forgets it. */
	r = set_status(f, 0);
	assert_act(&r, 0, VMMIO_ACT_RESET);
	assert_false(f->d.features_beyond);
}

static void test_get_config(void **state)
{
	struct fx *f = *state;
	struct rsp r = get_config(f, 4, 8);
	unsigned i;

	assert_resp(f, &r, VMSG_GET_CONFIG, 8 + 12 + 8);
	assert_int_equal(g32(r.out + 8), f->m.config_generation);
	assert_int_equal(g32(r.out + 8), 1);
	assert_int_equal(g32(r.out + 12), 4);
	assert_int_equal(g32(r.out + 16), 8);
	for (i = 0; i < 8; i++)
		assert_int_equal(r.out[20 + i], 0xa4 + i);

	/* Biggest chunk for a 64-byte bus: 44 bytes. */
	r = get_config(f, 0, 44);
	assert_resp(f, &r, VMSG_GET_CONFIG, 64);
	assert_int_equal(r.out[20 + 43], 0xa0 + 43);
	assert_dropped((r = get_config(f, 0, 45), &r));
	/* Out of the config space, including wrap-around. */
	assert_dropped((r = get_config(f, 56, 8), &r));
	assert_dropped((r = get_config(f, 61, 0), &r));
	assert_dropped((r = get_config(f, UINT32_MAX, 2), &r));
	/* The last byte; and length 0 at the end is in range. */
	r = get_config(f, 59, 1);
	assert_resp(f, &r, VMSG_GET_CONFIG, 21);
	assert_int_equal(r.out[20], 0xa0 + 59);
	r = get_config(f, 60, 0);
	assert_resp(f, &r, VMSG_GET_CONFIG, 20);
}

static void test_set_config(void **state)
{
	struct fx *f = *state;
	uint8_t p[12 + 4];
	struct rsp r;

	p32(p, 0);		/* generation: ignored (Linux sends 0) */
	p32(p + 4, 8);
	p32(p + 8, 4);
	memcpy(p + 12, "\x01\x02\x03\x04", 4);
	r = req(f, VMSG_SET_CONFIG, p, sizeof(p));
	assert_resp(f, &r, VMSG_SET_CONFIG, 20);
	assert_int_equal(g32(r.out + 8), f->m.config_generation);
	assert_int_equal(g32(r.out + 12), 8);
	assert_int_equal(g32(r.out + 16), 4);
	assert_memory_equal(&f->m.config[8], "\x01\x02\x03\x04", 4);
	/* Four byte writes, one CONFIG_WRITE for the relay. */
	assert_acts(&r, 1);
	assert_act(&r, 0, VMMIO_ACT_CONFIG_WRITE);
	assert_int_equal(r.acts.a[0].cfg_off, 8);
	assert_int_equal(r.acts.a[0].cfg_len, 4);

	/* Out of range: answered "0 bytes applied", nothing written. */
	p32(p + 4, 58);
	r = req(f, VMSG_SET_CONFIG, p, sizeof(p));
	assert_resp(f, &r, VMSG_SET_CONFIG, 20);
	assert_int_equal(g32(r.out + 12), 58);
	assert_int_equal(g32(r.out + 16), 0);
	assert_acts(&r, 1);
	assert_act(&r, 0, VMMIO_ACT_BAD);
	assert_int_equal(f->m.config[58], 0xa0 + 58);

	/* Length field and data disagree: dropped. */
	p32(p + 4, 8);
	p32(p + 8, 5);
	assert_dropped((r = req(f, VMSG_SET_CONFIG, p, sizeof(p)), &r));
	p32(p + 8, UINT32_MAX);
	assert_dropped((r = req(f, VMSG_SET_CONFIG, p, sizeof(p)), &r));
}

static void test_device_status(void **state)
{
	struct fx *f = *state;
	struct rsp r = req(f, VMSG_GET_DEVICE_STATUS, NULL, 0);

	assert_resp(f, &r, VMSG_GET_DEVICE_STATUS, 12);
	assert_int_equal(g32(r.out + 8), 0);

	r = set_status(f, VMMIO_S_ACKNOWLEDGE);
	assert_resp(f, &r, VMSG_SET_DEVICE_STATUS, 12);
	assert_int_equal(g32(r.out + 8), VMMIO_S_ACKNOWLEDGE);
	assert_acts(&r, 1);
	assert_act(&r, 0, VMMIO_ACT_STATUS);
	assert_int_equal(r.acts.a[0].old_status, 0);
	assert_int_equal(r.acts.a[0].new_status, VMMIO_S_ACKNOWLEDGE);

	r = req(f, VMSG_GET_DEVICE_STATUS, NULL, 0);
	assert_int_equal(g32(r.out + 8), VMMIO_S_ACKNOWLEDGE);

	/* Clearing a bit without a reset: refused, status kept. */
	r = set_status(f, VMMIO_S_DRIVER);
	assert_resp(f, &r, VMSG_SET_DEVICE_STATUS, 12);
	assert_int_equal(g32(r.out + 8), VMMIO_S_ACKNOWLEDGE);
	assert_act(&r, 0, VMMIO_ACT_BAD);

	/* The status is 8 bits. */
	assert_dropped((r = set_status(f, 0x101), &r));
}

static void test_vqueue(void **state)
{
	struct fx *f = *state;
	struct rsp r;
	uint8_t want[48] = { 0 };

	/* Inactive: max_size only. */
	r = get_vq(f, 1);
	assert_resp(f, &r, VMSG_GET_VQUEUE, 48);
	memcpy(want, r.out, 8);
	p32(want + 8, 1);
	p32(want + 12, T_QUEUE_MAX);
	assert_memory_equal(r.out, want, 48);

	negotiate(f);
	r = set_vq(f, 1, VMSG_VQ_F_ENABLED, 64, T_DESC, T_DRIVER,
	    T_DEVICE | 0x100000000ull);
	assert_resp(f, &r, VMSG_SET_VQUEUE, 8);
	assert_acts(&r, 1);
	assert_act(&r, 0, VMMIO_ACT_QUEUE_READY);
	assert_int_equal(r.acts.a[0].queue, 1);
	assert_true(f->m.q[1].ready);
	assert_false(f->m.q[0].ready);

	r = get_vq(f, 1);
	assert_resp(f, &r, VMSG_GET_VQUEUE, 48);
	memcpy(want, r.out, 8);
	p32(want + 8, 1);
	p32(want + 12, T_QUEUE_MAX);
	p32(want + 16, 64);
	p32(want + 20, VMSG_VQ_F_ENABLED);
	p64(want + 24, T_DESC);
	p64(want + 32, T_DRIVER);
	p64(want + 40, T_DEVICE | 0x100000000ull);
	assert_memory_equal(r.out, want, 48);

	/* A queue that does not exist: max_size 0, everything 0. */
	r = get_vq(f, 2);
	assert_resp(f, &r, VMSG_GET_VQUEUE, 48);
	memset(want, 0, sizeof(want));
	memcpy(want, r.out, 8);
	p32(want + 8, 2);
	assert_memory_equal(r.out, want, 48);
	r = get_vq(f, UINT32_MAX);
	assert_int_equal(g32(r.out + 12), 0);

	/* SET_VQUEUE: index, flags and reserved field validated. */
	assert_dropped((r = set_vq(f, 2, 1, 64, T_DESC, T_DRIVER, T_DEVICE),
	    &r));
	assert_dropped((r = set_vq(f, 0x10000, 1, 64, T_DESC, T_DRIVER,
	    T_DEVICE), &r));
	assert_dropped((r = set_vq(f, 0, 3, 64, T_DESC, T_DRIVER, T_DEVICE),
	    &r));
	{
		uint8_t p[40] = { 0 };

		p32(p + 8, 64);
		p32(p + 12, 1);	/* reserved */
		p64(p + 16, T_DESC);
		p64(p + 24, T_DRIVER);
		p64(p + 32, T_DEVICE);
		assert_dropped((r = req(f, VMSG_SET_VQUEUE, p, 40), &r));
	}
	assert_false(f->m.q[0].ready);

	/* Dec-2025 drivers send flags 0: set up and enabled all the same. */
	r = set_vq(f, 0, 0, 32, T_DESC + 0x8000, T_DRIVER + 0x8000,
	    T_DEVICE + 0x8000);
	assert_resp(f, &r, VMSG_SET_VQUEUE, 8);
	assert_act(&r, 0, VMMIO_ACT_QUEUE_READY);
	assert_true(f->m.q[0].ready);

	/* Already ready: answered, refused (BAD), the queue unchanged. */
	r = set_vq(f, 1, 1, 32, T_DESC, T_DRIVER, T_DEVICE);
	assert_resp(f, &r, VMSG_SET_VQUEUE, 8);
	/* "written while ready" once, then "already ready". */
	assert_acts(&r, 2);
	assert_act(&r, 0, VMMIO_ACT_BAD);
	assert_act(&r, 1, VMMIO_ACT_BAD);
	assert_int_equal(f->m.q[1].num, 64);
}

static void test_vqueue_refused(void **state)
{
	struct fx *f = *state;
	struct rsp r;

	negotiate(f);
	/* Misaligned descriptor table: vmmio refuses the enable. */
	r = set_vq(f, 0, 1, 64, T_DESC + 8, T_DRIVER, T_DEVICE);
	assert_resp(f, &r, VMSG_SET_VQUEUE, 8);
	assert_acts(&r, 1);
	assert_act(&r, 0, VMMIO_ACT_BAD);
	assert_false(f->m.q[0].ready);
	/* ... and GET_VQUEUE shows it inactive, whatever vmmio holds. */
	r = get_vq(f, 0);
	assert_int_equal(g32(r.out + 12), T_QUEUE_MAX);
	assert_int_equal(g32(r.out + 16), 0);
	assert_int_equal(g32(r.out + 20), 0);
	assert_true(g64(r.out + 24) == 0);
	/* Size not a power of two. */
	r = set_vq(f, 0, 1, 100, T_DESC, T_DRIVER, T_DEVICE);
	assert_act(&r, 0, VMMIO_ACT_BAD);
	assert_false(f->m.q[0].ready);
	/* A correct retry works. */
	queue_up(f, 0);
}

static void test_reset_vqueue(void **state)
{
	struct fx *f = *state;
	uint8_t p[4];
	struct rsp r;

	negotiate(f);
	queue_up(f, 1);
	p32(p, 1);
	r = req(f, VMSG_RESET_VQUEUE, p, 4);
	assert_resp(f, &r, VMSG_RESET_VQUEUE, 8);
	assert_acts(&r, 1);
	assert_act(&r, 0, VMMIO_ACT_QUEUE_RESET);
	assert_int_equal(r.acts.a[0].queue, 1);
	assert_false(f->m.q[1].ready);
	r = get_vq(f, 1);
	assert_int_equal(g32(r.out + 12), T_QUEUE_MAX);
	assert_int_equal(g32(r.out + 16), 0);
	assert_int_equal(g32(r.out + 20), 0);
	assert_true(g64(r.out + 24) == 0 && g64(r.out + 32) == 0 &&
	    g64(r.out + 40) == 0);
	/* It can be set up again. */
	queue_up(f, 1);

	p32(p, 2);
	assert_dropped((r = req(f, VMSG_RESET_VQUEUE, p, 4), &r));
}

static void test_get_shm(void **state)
{
	struct fx *f = *state;
	uint8_t p[4], want[32] = { 0 };
	struct rsp r;

	p32(p, 3);
	r = req(f, VMSG_GET_SHM, p, 4);
	assert_resp(f, &r, VMSG_GET_SHM, 32);
	memcpy(want, r.out, 8);
	p32(want + 8, 3);	/* shmid; reserved, length 0, address 0 */
	assert_memory_equal(r.out, want, 32);
}

static void test_event_avail(void **state)
{
	struct fx *f = *state;
	struct rsp r;

	negotiate(f);
	queue_up(f, 0);
	set_status(f, VMMIO_S_ACKNOWLEDGE | VMMIO_S_DRIVER |
	    VMMIO_S_FEATURES_OK | VMMIO_S_DRIVER_OK);

	r = event_avail(f, 0);
	assert_int_equal(r.rc, VMSG_NONE);	/* an event: no response */
	assert_null(r.why);
	assert_acts(&r, 1);
	assert_act(&r, 0, VMMIO_ACT_NOTIFY);
	assert_int_equal(r.acts.a[0].queue, 0);

	/* Not ready: vmmio reports it. */
	r = event_avail(f, 1);
	assert_int_equal(r.rc, VMSG_NONE);
	assert_null(r.why);
	assert_acts(&r, 1);
	assert_act(&r, 0, VMMIO_ACT_BAD);

	/* No such queue; 0x10000 must not alias queue 0 (QueueNotify is 16
	 * bits wide in vmmio). */
	assert_dropped((r = event_avail(f, 2), &r));
	assert_dropped((r = event_avail(f, 0x10000), &r));

	/* Exactly 8 payload bytes. */
	{
		uint8_t in[16], pl[4] = { 0 };

		r = raw(f, in, mk(in, 0, VMSG_EVENT_AVAIL, T_DEV, 0, pl, 4));
		assert_dropped(&r);
	}
}

/* ---- The Linux 2026 driver's sequence, end to end. ---- */

static void test_linux_sequence(void **state)
{
	struct fx *f = *state;
	uint8_t cfg[T_CONFIG_LEN], p[8];
	uint32_t gen, done, nr_vqs, q;
	uint64_t dev_features;
	uint32_t feat[2];
	struct rsp r;
	const uint32_t s_ack = VMMIO_S_ACKNOWLEDGE;
	const uint32_t s_drv = s_ack | VMMIO_S_DRIVER;
	const uint32_t s_fok = s_drv | VMMIO_S_FEATURES_OK;
	const uint32_t s_dok = s_fok | VMMIO_S_DRIVER_OK;

	/* Probe. */
	r = req(f, VMSG_GET_DEVICE_INFO, NULL, 0);
	assert_resp(f, &r, VMSG_GET_DEVICE_INFO, 52);
	assert_int_equal(g32(r.out + 8), T_DEVICE_ID);
	assert_int_equal(g32(r.out + 32), 2);
	assert_int_equal(g32(r.out + 36), T_CONFIG_LEN);
	nr_vqs = g32(r.out + 40);
	assert_int_equal(nr_vqs, T_NR_QUEUES);

	/* Whole config space in chunks of max_msg - 8 - 12. */
	for (done = 0, gen = 0; done < T_CONFIG_LEN;) {
		uint32_t chunk = T_CONFIG_LEN - done;

		if (chunk > T_MAX_MSG - 8 - 12)
			chunk = T_MAX_MSG - 8 - 12;
		r = get_config(f, done, chunk);
		assert_resp(f, &r, VMSG_GET_CONFIG, 20 + chunk);
		assert_int_equal(g32(r.out + 12), done);
		assert_int_equal(g32(r.out + 16), chunk);
		if (done == 0)
			gen = g32(r.out + 8);
		assert_int_equal(g32(r.out + 8), gen);
		memcpy(cfg + done, r.out + 20, chunk);
		done += chunk;
	}
	assert_memory_equal(cfg, f->m.config, T_CONFIG_LEN);

	/* virtio core: reset, poll status, ACK, DRIVER. */
	r = set_status(f, 0);
	assert_resp(f, &r, VMSG_SET_DEVICE_STATUS, 12);
	assert_int_equal(g32(r.out + 8), 0);
	assert_acts(&r, 1);
	assert_act(&r, 0, VMMIO_ACT_RESET);
	r = req(f, VMSG_GET_DEVICE_STATUS, NULL, 0);
	assert_int_equal(g32(r.out + 8), 0);
	r = set_status(f, s_ack);
	assert_int_equal(g32(r.out + 8), s_ack);
	r = set_status(f, s_drv);
	assert_int_equal(g32(r.out + 8), s_drv);

	/* All feature blocks in one message. */
	p32(p, 0);
	p32(p + 4, 2);
	r = req(f, VMSG_GET_DEVICE_FEATURES, p, 8);
	assert_resp(f, &r, VMSG_GET_DEVICE_FEATURES, 24);
	assert_int_equal(g32(r.out + 8), 0);
	assert_int_equal(g32(r.out + 12), 2);
	dev_features = g32(r.out + 16) | (uint64_t)g32(r.out + 20) << 32;
	assert_true(dev_features == T_FEATURES);

	/* The driver takes VERSION_1 and RING_RESET. */
	feat[0] = 0;
	feat[1] = (uint32_t)((F_VERSION_1 | F_RING_RESET) >> 32);
	r = set_features(f, 0, 2, feat);
	assert_resp(f, &r, VMSG_SET_DRIVER_FEATURES, 8);
	assert_acts(&r, 0);
	r = set_status(f, s_fok);
	assert_int_equal(g32(r.out + 8), s_fok);
	assert_acts(&r, 1);
	assert_act(&r, 0, VMMIO_ACT_STATUS);
	r = req(f, VMSG_GET_DEVICE_STATUS, NULL, 0);
	assert_int_equal(g32(r.out + 8), s_fok);

	/* Per queue: GET (inactive), SET, GET (verify). */
	for (q = 0; q < nr_vqs; q++) {
		uint64_t desc = T_DESC + q * 0x4000;
		uint64_t drv = T_DRIVER + q * 0x4000;
		uint64_t dev = T_DEVICE + q * 0x4000;
		uint32_t max;

		r = get_vq(f, q);
		assert_resp(f, &r, VMSG_GET_VQUEUE, 48);
		assert_int_equal(g32(r.out + 8), q);
		max = g32(r.out + 12);
		assert_int_equal(max, T_QUEUE_MAX);
		assert_int_equal(g32(r.out + 16), 0);
		assert_int_equal(g32(r.out + 20), 0);
		assert_true(g64(r.out + 24) == 0 && g64(r.out + 32) == 0 &&
		    g64(r.out + 40) == 0);

		r = set_vq(f, q, VMSG_VQ_F_ENABLED, max, desc, drv, dev);
		assert_resp(f, &r, VMSG_SET_VQUEUE, 8);
		assert_acts(&r, 1);
		assert_act(&r, 0, VMMIO_ACT_QUEUE_READY);
		assert_int_equal(r.acts.a[0].queue, q);

		r = get_vq(f, q);
		assert_int_equal(g32(r.out + 16), max);
		assert_int_equal(g32(r.out + 20), VMSG_VQ_F_ENABLED);
		assert_true(g64(r.out + 24) == desc);
		assert_true(g64(r.out + 32) == drv);
		assert_true(g64(r.out + 40) == dev);
	}

	r = set_status(f, s_dok);
	assert_resp(f, &r, VMSG_SET_DEVICE_STATUS, 12);
	assert_int_equal(g32(r.out + 8), s_dok);
	assert_acts(&r, 1);
	assert_act(&r, 0, VMMIO_ACT_STATUS);
	assert_int_equal(r.acts.a[0].old_status, s_fok);
	assert_int_equal(r.acts.a[0].new_status, s_dok);
	assert_true(vmmio_driver_features(&f->m) ==
	    (F_VERSION_1 | F_RING_RESET));

	/* Runtime: a kick, then the device answers with EVENT_USED. */
	r = event_avail(f, 1);
	assert_act(&r, 0, VMMIO_ACT_NOTIFY);
	assert_int_equal(r.acts.a[0].queue, 1);
	{
		uint8_t ev[16];

		assert_int_equal(vmsg_event_used(&f->d, 1, ev, sizeof(ev)), 12);
		assert_int_equal(ev[1], VMSG_EVENT_USED);
	}
}

/* SET_DEVICE_STATUS 0 while queues run: RESET, queues cleared. */
static void test_reset_midway(void **state)
{
	struct fx *f = *state;
	struct rsp r;

	negotiate(f);
	queue_up(f, 0);
	queue_up(f, 1);
	r = set_status(f, VMMIO_S_ACKNOWLEDGE | VMMIO_S_DRIVER |
	    VMMIO_S_FEATURES_OK | VMMIO_S_DRIVER_OK);
	assert_act(&r, 0, VMMIO_ACT_STATUS);

	r = set_status(f, 0);
	assert_resp(f, &r, VMSG_SET_DEVICE_STATUS, 12);
	assert_int_equal(g32(r.out + 8), 0);
	assert_acts(&r, 1);
	assert_act(&r, 0, VMMIO_ACT_RESET);
	assert_false(f->m.q[0].ready);
	assert_false(f->m.q[1].ready);
	assert_true(vmmio_driver_features(&f->m) == 0);

	r = get_vq(f, 0);
	assert_int_equal(g32(r.out + 12), T_QUEUE_MAX);
	assert_int_equal(g32(r.out + 16), 0);
	assert_int_equal(g32(r.out + 20), 0);
	assert_true(g64(r.out + 24) == 0);
	r = req(f, VMSG_GET_DEVICE_STATUS, NULL, 0);
	assert_int_equal(g32(r.out + 8), 0);
	/* Kicks after the reset: the queue is gone. */
	r = event_avail(f, 0);
	assert_act(&r, 0, VMMIO_ACT_BAD);
	/* Config contents and generation survive a reset. */
	assert_int_equal(f->m.config_generation, 1);
	/* And the driver can start over. */
	negotiate(f);
	queue_up(f, 0);
}

/* ---- Malformed frames: dropped, with a reason, nothing touched. ---- */

static void test_malformed(void **state)
{
	struct fx *f = *state;
	uint8_t in[128], pl[40] = { 0 };
	struct rsp r;
	size_t n;

	/* Shorter than the header. */
	n = mk(in, 0, VMSG_GET_DEVICE_STATUS, T_DEV, 7, NULL, 0);
	assert_dropped((r = raw(f, in, 7), &r));
	assert_dropped((r = raw(f, in, 0), &r));
	assert_dropped((r = raw(f, NULL, 0), &r));
	/* msg_size below the header. */
	p16(in + 6, 7);
	assert_dropped((r = raw(f, in, n), &r));
	/* msg_size beyond what was received. */
	n = mk(in, 0, VMSG_GET_VQUEUE, T_DEV, 7, pl, 4);
	assert_dropped((r = raw(f, in, n - 1), &r));
	/* msg_size above the bus maximum (even if received). */
	n = mk(in, 0, VMSG_GET_DEVICE_STATUS, T_DEV, 7, pl, 0);
	p16(in + 6, T_MAX_MSG + 1);
	assert_dropped((r = raw(f, in, sizeof(in)), &r));
	/* Payload size wrong for a fixed-size message: short and long. */
	n = mk(in, 0, VMSG_GET_VQUEUE, T_DEV, 7, pl, 3);
	assert_dropped((r = raw(f, in, n), &r));
	n = mk(in, 0, VMSG_GET_VQUEUE, T_DEV, 7, pl, 5);
	assert_dropped((r = raw(f, in, n), &r));
	n = mk(in, 0, VMSG_SET_VQUEUE, T_DEV, 7, pl, 39);
	assert_dropped((r = raw(f, in, n), &r));
	n = mk(in, 0, VMSG_GET_DEVICE_INFO, T_DEV, 7, pl, 4);
	assert_dropped((r = raw(f, in, n), &r));
	/* Below the minimum of a variable-size message. */
	n = mk(in, 0, VMSG_SET_CONFIG, T_DEV, 7, pl, 11);
	assert_dropped((r = raw(f, in, n), &r));
	/* A response sent to the device. */
	n = mk(in, RSP, VMSG_GET_DEVICE_STATUS, T_DEV, 7, NULL, 0);
	assert_dropped((r = raw(f, in, n), &r));
	/* A bus message on the transport path. */
	n = mk(in, BUS, VMSG_GET_DEVICE_STATUS, T_DEV, 7, NULL, 0);
	assert_dropped((r = raw(f, in, n), &r));
	/* Unknown ids: reserved, unassigned standard, impl-defined. */
	n = mk(in, 0, 0x00, T_DEV, 7, NULL, 0);
	assert_dropped((r = raw(f, in, n), &r));
	n = mk(in, 0, 0x01, T_DEV, 7, NULL, 0);
	assert_dropped((r = raw(f, in, n), &r));
	n = mk(in, 0, 0x0d, T_DEV, 7, NULL, 0);
	assert_dropped((r = raw(f, in, n), &r));
	n = mk(in, 0, 0x80, T_DEV, 7, NULL, 0);
	assert_dropped((r = raw(f, in, n), &r));
	n = mk(in, 0, 0x43, T_DEV, 7, NULL, 0);
	assert_dropped((r = raw(f, in, n), &r));
	/* Device-to-driver events sent to the device. */
	n = mk(in, 0, VMSG_EVENT_USED, T_DEV, 0, pl, 4);
	assert_dropped((r = raw(f, in, n), &r));
	n = mk(in, 0, VMSG_EVENT_CONFIG, T_DEV, 0, pl, 16);
	assert_dropped((r = raw(f, in, n), &r));
	/* Another device's frame. */
	n = mk(in, 0, VMSG_GET_DEVICE_STATUS, T_DEV + 1, 7, NULL, 0);
	assert_dropped((r = raw(f, in, n), &r));
	n = mk(in, 0, VMSG_GET_DEVICE_STATUS, 0, 7, NULL, 0);
	assert_dropped((r = raw(f, in, n), &r));
	/* Nothing changed. */
	assert_int_equal(f->m.status, 0);
}

static void test_framing_accepted(void **state)
{
	struct fx *f = *state;
	uint8_t in[128];
	struct rsp r;
	size_t n;

	/* A bus slot longer than msg_size (FF-A registers, zero-filled). */
	memset(in, 0, sizeof(in));
	n = mk(in, 0, VMSG_GET_DEVICE_STATUS, T_DEV, 0x1234, NULL, 0);
	r = raw(f, in, 104);
	assert_hdr(&r, RSP, VMSG_GET_DEVICE_STATUS, T_DEV, 0x1234, 12);
	/* Type bits 2-7 are ignored on receive and echoed back. */
	in[0] = 0xfc;
	r = raw(f, in, n);
	assert_hdr(&r, 0xfd, VMSG_GET_DEVICE_STATUS, T_DEV, 0x1234, 12);
	/* Token 0 and 0xffff are opaque: echoed. */
	in[0] = 0;
	p16(in + 4, 0xffff);
	r = raw(f, in, n);
	assert_hdr(&r, RSP, VMSG_GET_DEVICE_STATUS, T_DEV, 0xffff, 12);
	/* NULL why/acts are allowed. */
	{
		uint8_t out[64];
		size_t len = sizeof(out);

		assert_int_equal(vmsg_handle(&f->d, in, n, out, &len, NULL,
		    NULL), VMSG_REPLY);
		assert_int_equal(len, 12);
	}
}

/* The response never exceeds the caller's buffer. */
static void test_output_capacity(void **state)
{
	struct fx *f = *state;
	uint8_t in[32], out[64], p[8];
	struct vmmio_actions acts;
	const char *why;
	size_t n, len;

	n = mk(in, 0, VMSG_GET_DEVICE_INFO, T_DEV, 2, NULL, 0);
	len = 51;
	assert_int_equal(vmsg_handle(&f->d, in, n, out, &len, &acts, &why),
	    VMSG_NONE);
	assert_non_null(why);
	assert_int_equal(len, 0);
	len = 52;
	assert_int_equal(vmsg_handle(&f->d, in, n, out, &len, &acts, &why),
	    VMSG_REPLY);
	assert_int_equal(len, 52);
	assert_int_equal(vmsg_handle(&f->d, in, n, NULL, NULL, &acts, &why),
	    VMSG_NONE);

	/* GET_CONFIG sizes itself by the buffer too. */
	p32(p, 0);
	p32(p + 4, 24);
	n = mk(in, 0, VMSG_GET_CONFIG, T_DEV, 2, p, 8);
	len = 8 + 12 + 23;
	assert_int_equal(vmsg_handle(&f->d, in, n, out, &len, &acts, &why),
	    VMSG_NONE);
	len = 8 + 12 + 24;
	assert_int_equal(vmsg_handle(&f->d, in, n, out, &len, &acts, &why),
	    VMSG_REPLY);
}

/* ---- Events to the driver. ---- */

static void test_event_used(void **state)
{
	struct fx *f = *state;
	uint8_t out[32];
	static const uint8_t want[12] = {
		0x00, 0x42, T_DEV, 0, 0, 0, 12, 0, 1, 0, 0, 0,
	};

	memset(out, 0xee, sizeof(out));
	assert_int_equal(vmsg_event_used(&f->d, 1, out, sizeof(out)), 12);
	assert_memory_equal(out, want, 12);
	assert_int_equal(out[12], 0xee);
	assert_int_equal(vmsg_event_used(&f->d, 2, out, sizeof(out)), 0);
	assert_int_equal(vmsg_event_used(&f->d, 0, out, 11), 0);
	assert_int_equal(vmsg_event_used(&f->d, 0, NULL, 64), 0);
}

static void test_event_config(void **state)
{
	struct fx *f = *state;
	uint8_t out[128];
	uint8_t want[24 + 4] = {
		0x00, 0x40, T_DEV, 0, 0, 0, 28, 0,
		0x0f, 0, 0, 0,			/* status */
		2, 0, 0, 0,			/* generation */
		16, 0, 0, 0,			/* offset */
		4, 0, 0, 0,			/* length */
		0x01, 0x02, 0x03, 0x04,
	};

	negotiate(f);
	set_status(f, VMMIO_S_ACKNOWLEDGE | VMMIO_S_DRIVER |
	    VMMIO_S_FEATURES_OK | VMMIO_S_DRIVER_OK);
	/* The back-end changes config: generation 1 -> 2. */
	assert_true(vmmio_config_update(&f->m, 16, "\x01\x02\x03\x04", 4,
	    true));
	assert_int_equal(vmsg_event_config(&f->d, 16, 4, out, sizeof(out)),
	    28);
	assert_memory_equal(out, want, 28);

	/* Length 0: "re-read", offset 0. */
	assert_int_equal(vmsg_event_config(&f->d, 16, 0, out, sizeof(out)),
	    24);
	assert_int_equal(g16(out + 6), 24);
	assert_int_equal(g32(out + 16), 0);
	assert_int_equal(g32(out + 20), 0);
	assert_int_equal(g32(out + 12), 2);

	/* Data too long for a 64-byte bus: sent as length 0. */
	assert_int_equal(vmsg_event_config(&f->d, 0, 41, out, sizeof(out)),
	    24);
	assert_int_equal(g32(out + 20), 0);
	assert_int_equal(vmsg_event_config(&f->d, 0, 40, out, sizeof(out)),
	    64);
	/* Or for the caller's buffer. */
	assert_int_equal(vmsg_event_config(&f->d, 0, 8, out, 31), 24);
	/* Outside the config space, or no room at all: nothing. */
	assert_int_equal(vmsg_event_config(&f->d, 58, 4, out, sizeof(out)),
	    0);
	assert_int_equal(vmsg_event_config(&f->d, 0, 0, out, 23), 0);
	assert_int_equal(vmsg_event_config(&f->d, 0, 0, NULL, 64), 0);

	/* NEEDS_RESET shows in the status of the next event. */
	assert_true(vmmio_needs_reset(&f->m));
	assert_int_equal(vmsg_event_config(&f->d, 0, 0, out, sizeof(out)),
	    24);
	assert_int_equal(g32(out + 8) & VMMIO_S_NEEDS_RESET,
	    VMMIO_S_NEEDS_RESET);
}

/* ---- Bus. ---- */

static struct rsp bus_raw(struct fx *f, const uint8_t *in, size_t n)
{
	struct rsp r;

	memset(&r, 0, sizeof(r));
	r.len = sizeof(r.out);
	r.rc = vmsg_bus_handle(&f->b, in, n, r.out, &r.len, &r.hdr, &r.why);
	if (r.rc != VMSG_REPLY)
		assert_int_equal(r.len, 0);
	return r;
}

static struct rsp bus_req(struct fx *f, uint8_t id, const void *pl,
    size_t plen)
{
	uint8_t in[128];

	return bus_raw(f, in, mk(in, BUS, id, 0, f->token++, pl, plen));
}

static struct rsp get_devices(struct fx *f, uint16_t off, uint16_t count)
{
	uint8_t p[4];

	p16(p, off);
	p16(p + 2, count);
	return bus_req(f, VMSG_BUS_GET_DEVICES, p, 4);
}

static void assert_bus_resp(struct fx *f, const struct rsp *r, uint8_t id,
    uint16_t size)
{
	assert_hdr(r, BUS | RSP, id, 0, (uint16_t)(f->token - 1), size);
}

static void test_bus_get_devices(void **state)
{
	struct fx *f = *state;
	struct vmsg_bus *b = &f->b;
	struct rsp r;
	uint8_t want[64] = { 0 };

	vmsg_bus_dev_add(b, 1);
	vmsg_bus_dev_add(b, 3);
	vmsg_bus_dev_add(b, 9);
	vmsg_bus_dev_add(b, 300);
	vmsg_bus_dev_add(b, 65535);
	assert_true(vmsg_bus_dev_present(b, 300));
	assert_false(vmsg_bus_dev_present(b, 2));

	/* Window of 256 (what Linux asks): 32 bitmap bytes. */
	r = get_devices(f, 0, 256);
	assert_bus_resp(f, &r, VMSG_BUS_GET_DEVICES, 8 + 6 + 32);
	memcpy(want, r.out, 8);
	p16(want + 8, 0);		/* offset */
	p16(want + 10, 296);		/* next_offset: 300 rounded to 8 */
	p16(want + 12, 256);		/* count */
	want[14] = 0x0a;		/* devices 1 and 3 */
	want[15] = 0x02;		/* device 9 */
	assert_memory_equal(r.out, want, 8 + 6 + 32);

	r = get_devices(f, 296, 8);
	assert_bus_resp(f, &r, VMSG_BUS_GET_DEVICES, 15);
	assert_int_equal(g16(r.out + 8), 296);
	assert_int_equal(g16(r.out + 10), 65528);
	assert_int_equal(g16(r.out + 12), 8);
	assert_int_equal(r.out[14], 0x10);

	/* The last window: no more after it. */
	r = get_devices(f, 65528, 8);
	assert_int_equal(g16(r.out + 10), 0);
	assert_int_equal(r.out[14], 0x80);
	/* A window past the end is cut at 65536. */
	r = get_devices(f, 65528, 64);
	assert_int_equal(g16(r.out + 12), 8);
	vmsg_bus_dev_del(b, 65535);
	r = get_devices(f, 304, 8);
	assert_int_equal(g16(r.out + 10), 0);

	/* Cut to what a 64-byte message carries: (64 - 14) * 8 = 400. */
	r = get_devices(f, 0, 1024);
	assert_bus_resp(f, &r, VMSG_BUS_GET_DEVICES, 64);
	assert_int_equal(g16(r.out + 12), 400);
	assert_int_equal(g16(r.out + 10), 0);	/* 300 was in the window */

	/* Not multiples of 8: dropped (not FF-A). */
	assert_dropped((r = get_devices(f, 4, 8), &r));
	assert_dropped((r = get_devices(f, 0, 12), &r));
}

static void test_bus_misc(void **state)
{
	struct fx *f = *state;
	uint8_t in[64], p[4] = { 0xde, 0xad, 0xbe, 0xef };
	struct rsp r;
	size_t n;

	r = bus_req(f, VMSG_BUS_PING, p, 4);
	assert_bus_resp(f, &r, VMSG_BUS_PING, 12);
	assert_memory_equal(r.out + 8, p, 4);
	assert_dropped((r = bus_req(f, VMSG_BUS_PING, p, 3), &r));

	/* EVENT_DEVICE goes the other way. */
	assert_dropped((r = bus_req(f, VMSG_BUS_EVENT_DEVICE, p, 4), &r));
	/* FF-A messages are unknown on a plain bus. */
	assert_dropped((r = bus_req(f, VMSG_FFA_VERSION, in, 12), &r));
	/* Bus messages carry dev_num 0. */
	n = mk(in, BUS, VMSG_BUS_PING, 3, 9, p, 4);
	assert_dropped((r = bus_raw(f, in, n), &r));
	/* Responses are not for the device. */
	n = mk(in, BUS | RSP, VMSG_BUS_PING, 0, 9, p, 4);
	assert_dropped((r = bus_raw(f, in, n), &r));

	/* Transport frames: routed to present devices only. */
	n = mk(in, 0, VMSG_GET_DEVICE_INFO, T_DEV, 9, NULL, 0);
	assert_dropped((r = bus_raw(f, in, n), &r));
	vmsg_bus_dev_add(&f->b, T_DEV);
	r = bus_raw(f, in, n);
	assert_int_equal(r.rc, VMSG_ROUTE);
	assert_null(r.why);
	assert_int_equal(r.hdr.dev_num, T_DEV);
	assert_int_equal(r.hdr.msg_id, VMSG_GET_DEVICE_INFO);
	assert_int_equal(r.hdr.token, 9);
	/* Broken headers never route. */
	assert_dropped((r = bus_raw(f, in, 7), &r));

	/* EVENT_DEVICE encoder. */
	{
		static const uint8_t want[12] = {
			0x02, 0x40, 0, 0, 0, 0, 12, 0, 5, 0, 1, 0,
		};

		assert_int_equal(vmsg_bus_event_device(T_DEV,
		    VMSG_DEV_STATE_ADDED, in, sizeof(in)), 12);
		assert_memory_equal(in, want, 12);
		assert_int_equal(vmsg_bus_event_device(1, 2, in, 11), 0);
	}
}

/* ---- FF-A bus. ---- */

static int ffa_setup(void **state)
{
	struct fx *f;

	fx_setup(state);
	f = *state;
	assert_int_equal(vmsg_bus_init(&f->b, 4096, true), 0);
	vmsg_bus_dev_add(&f->b, T_DEV);
	return 0;
}

static void assert_ffa_error(struct fx *f, const struct rsp *r,
    uint16_t dev_num, uint16_t token, uint8_t orig)
{
	uint8_t want[10] = { 0x03, 0x87, 0, 0, 0, 0, 10, 0, orig, 0 };

	(void)f;
	p16(want + 2, dev_num);
	p16(want + 4, token);
	assert_int_equal(r->rc, VMSG_REPLY);
	assert_non_null(r->why);	/* still logged */
	assert_int_equal(r->len, 10);
	assert_memory_equal(r->out, want, 10);
}

static struct rsp ffa_version(struct fx *f, uint32_t bus, uint32_t rev)
{
	uint8_t p[12];

	p32(p, bus);
	p32(p + 4, rev);
	p32(p + 8, VMSG_FFA_VERSION_1_2);
	return bus_req(f, VMSG_FFA_VERSION, p, 12);
}

static void ffa_negotiate(struct fx *f)
{
	struct rsp r = ffa_version(f, 0, 0);

	assert_false(f->b.negotiated);
	r = ffa_version(f, g32(r.out + 8), g32(r.out + 12));
	assert_bus_resp(f, &r, VMSG_FFA_VERSION, 30);
	assert_true(f->b.negotiated);
}

static void test_ffa_version(void **state)
{
	struct fx *f = *state;
	uint8_t want[30] = { 0x03, 0x80, 0, 0, 0, 0, 30, 0 };
	uint8_t in[32];
	struct rsp r;

	/* Probe: our versions, not negotiated yet. */
	r = ffa_version(f, 0, 0);
	assert_bus_resp(f, &r, VMSG_FFA_VERSION, 30);
	memcpy(want + 4, r.out + 4, 2);
	p32(want + 8, VMSG_FFA_BUS_VERSION);
	p32(want + 12, VMSG_REVISION);
	p32(want + 16, VMSG_FFA_VERSION_1_2);
	p32(want + 20, 0);
	p32(want + 24, VMSG_FFA_F_INDIRECT_RX | VMSG_FFA_F_INDIRECT_TX);
	p16(want + 28, 0);
	assert_memory_equal(r.out, want, 30);
	assert_false(f->b.negotiated);

	/* Transport traffic is refused until the echo. */
	r = bus_raw(f, in, mk(in, 0, VMSG_GET_DEVICE_INFO, T_DEV, 77, NULL, 0));
	assert_ffa_error(f, &r, T_DEV, 77, VMSG_GET_DEVICE_INFO);
	r = get_devices(f, 0, 256);
	assert_ffa_error(f, &r, 0, (uint16_t)(f->token - 1),
	    VMSG_BUS_GET_DEVICES);
	/* Events are dropped, never answered. */
	{
		uint8_t p[8] = { 0 };

		r = bus_raw(f, in, mk(in, 0, VMSG_EVENT_AVAIL, T_DEV, 0, p, 8));
		assert_dropped(&r);
	}

	/* An older version: zeros (unsupported). */
	r = ffa_version(f, 0x00000001, 1);
	assert_int_equal(g32(r.out + 8), 0);
	assert_int_equal(g32(r.out + 12), 0);
	assert_int_equal(g32(r.out + 24), 0);
	assert_false(f->b.negotiated);
	/* A newer one: ours, to pick from. */
	r = ffa_version(f, 0x00020000, 1);
	assert_int_equal(g32(r.out + 8), VMSG_FFA_BUS_VERSION);
	assert_false(f->b.negotiated);

	/* The echo completes negotiation. */
	r = ffa_version(f, VMSG_FFA_BUS_VERSION, VMSG_REVISION);
	assert_memory_equal(r.out + 8, want + 8, 22);
	assert_true(f->b.negotiated);
	r = bus_raw(f, in, mk(in, 0, VMSG_GET_DEVICE_INFO, T_DEV, 78, NULL, 0));
	assert_int_equal(r.rc, VMSG_ROUTE);
	/* Something else once negotiated: zeros, still negotiated. */
	r = ffa_version(f, 0x00020000, 1);
	assert_int_equal(g32(r.out + 8), 0);
	assert_true(f->b.negotiated);
	/* Wrong size: ERROR. */
	r = bus_req(f, VMSG_FFA_VERSION, in, 8);
	assert_ffa_error(f, &r, 0, (uint16_t)(f->token - 1), VMSG_FFA_VERSION);
}

static void test_ffa_reset(void **state)
{
	struct fx *f = *state;
	uint8_t p[4] = { VMSG_FFA_EV_POLL, 0, 0, 0 };
	struct rsp r;

	ffa_negotiate(f);
	r = bus_req(f, VMSG_FFA_EVENT_CONFIGURE, p, 4);
	assert_int_equal(g16(r.out + 8), VMSG_FFA_SUCCESS);

	r = bus_req(f, VMSG_FFA_RESET, NULL, 0);
	assert_bus_resp(f, &r, VMSG_FFA_RESET, 10);
	assert_int_equal(g16(r.out + 8), VMSG_FFA_SUCCESS);
	assert_false(f->b.negotiated);
	assert_false(f->b.event_configured);
	assert_true(f->b.reset_pending);
	/* RESET is accepted before negotiation as well. */
	r = bus_req(f, VMSG_FFA_RESET, NULL, 0);
	assert_bus_resp(f, &r, VMSG_FFA_RESET, 10);
	ffa_negotiate(f);
}

static void test_ffa_events(void **state)
{
	struct fx *f = *state;
	uint8_t p[4] = { VMSG_FFA_EV_POLL, 0, 0, 0 };
	uint8_t ev[16], big[128];
	struct rsp r;
	unsigned i;

	/* Before EVENT_CONFIGURE, device events are not kept. */
	assert_int_equal(vmsg_event_used(&f->d, 0, ev, sizeof(ev)), 12);
	assert_int_equal(vmsg_bus_event_push(&f->b, ev, 12), -ENOTCONN);
	/* EVENT_CONFIGURE and EVENT_POLL need negotiation. */
	r = bus_req(f, VMSG_FFA_EVENT_CONFIGURE, p, 4);
	assert_ffa_error(f, &r, 0, (uint16_t)(f->token - 1),
	    VMSG_FFA_EVENT_CONFIGURE);
	ffa_negotiate(f);

	/* Unsupported methods are refused in the result. */
	p[0] = VMSG_FFA_EV_FIFO;
	r = bus_req(f, VMSG_FFA_EVENT_CONFIGURE, p, 4);
	assert_bus_resp(f, &r, VMSG_FFA_EVENT_CONFIGURE, 10);
	assert_int_equal(g16(r.out + 8), VMSG_FFA_FAILED);
	p[0] = VMSG_FFA_EV_NOTIF;
	p16(p + 2, 64);
	r = bus_req(f, VMSG_FFA_EVENT_CONFIGURE, p, 4);
	assert_int_equal(g16(r.out + 8), VMSG_FFA_FAILED);
	p16(p + 2, 0);
	p[1] = 1;	/* reserved */
	r = bus_req(f, VMSG_FFA_EVENT_CONFIGURE, p, 4);
	assert_int_equal(g16(r.out + 8), VMSG_FFA_FAILED);
	assert_false(f->b.event_configured);
	/* NOTIF with id 5. */
	p[1] = 0;
	p16(p + 2, 5);
	r = bus_req(f, VMSG_FFA_EVENT_CONFIGURE, p, 4);
	assert_int_equal(g16(r.out + 8), VMSG_FFA_SUCCESS);
	assert_true(f->b.event_configured);
	assert_int_equal(f->b.event_method, VMSG_FFA_EV_NOTIF);
	assert_int_equal(f->b.notif_id, 5);
	/* Only once (Linux answers ERROR). */
	r = bus_req(f, VMSG_FFA_EVENT_CONFIGURE, p, 4);
	assert_ffa_error(f, &r, 0, (uint16_t)(f->token - 1),
	    VMSG_FFA_EVENT_CONFIGURE);

	/* Empty: a header-only EVENT_POLL response. */
	r = bus_req(f, VMSG_FFA_EVENT_POLL, NULL, 0);
	assert_bus_resp(f, &r, VMSG_FFA_EVENT_POLL, 8);

	/* Queued events come back one per poll, in order. */
	assert_int_equal(vmsg_bus_event_push(&f->b, ev, 12), 0);
	assert_int_equal(vmsg_event_config(&f->d, 0, 4, big, sizeof(big)), 28);
	assert_int_equal(vmsg_bus_event_push(&f->b, big, 28), 0);
	r = bus_req(f, VMSG_FFA_EVENT_POLL, NULL, 0);
	assert_int_equal(r.rc, VMSG_REPLY);
	assert_int_equal(r.len, 12);
	assert_memory_equal(r.out, ev, 12);
	r = bus_req(f, VMSG_FFA_EVENT_POLL, NULL, 0);
	assert_int_equal(r.len, 28);
	assert_memory_equal(r.out, big, 28);
	r = bus_req(f, VMSG_FFA_EVENT_POLL, NULL, 0);
	assert_bus_resp(f, &r, VMSG_FFA_EVENT_POLL, 8);

	/* Only events, only whole valid frames, no more than the depth. */
	assert_int_equal(vmsg_bus_event_push(&f->b, ev, 11), -EINVAL);
	assert_int_equal(vmsg_bus_event_push(&f->b, ev, 13), -EINVAL);
	{
		uint8_t q[12];

		mk(q, 0, VMSG_GET_VQUEUE, T_DEV, 0, ev + 8, 4);
		assert_int_equal(vmsg_bus_event_push(&f->b, q, 12), -EINVAL);
		mk(q, RSP, VMSG_EVENT_USED, T_DEV, 0, ev + 8, 4);
		assert_int_equal(vmsg_bus_event_push(&f->b, q, 12), -EINVAL);
	}
	mk(big, 0, VMSG_EVENT_CONFIG, T_DEV, 0, big + 8, 105 - 8);
	assert_int_equal(vmsg_bus_event_push(&f->b, big, 105), -EINVAL);
	for (i = 0; i < VMSG_EVQ_DEPTH; i++)
		assert_int_equal(vmsg_bus_event_push(&f->b, ev, 12), 0);
	assert_int_equal(vmsg_bus_event_push(&f->b, ev, 12), -ENOSPC);
	for (i = 0; i < VMSG_EVQ_DEPTH; i++) {
		r = bus_req(f, VMSG_FFA_EVENT_POLL, NULL, 0);
		assert_int_equal(r.len, 12);
	}
	r = bus_req(f, VMSG_FFA_EVENT_POLL, NULL, 0);
	assert_int_equal(r.len, 8);
	/* EVENT_DEVICE through the same queue. */
	assert_int_equal(vmsg_bus_event_device(T_DEV, VMSG_DEV_STATE_REMOVED,
	    ev, sizeof(ev)), 12);
	assert_int_equal(vmsg_bus_event_push(&f->b, ev, 12), 0);
	r = bus_req(f, VMSG_FFA_EVENT_POLL, NULL, 0);
	assert_memory_equal(r.out, ev, 12);
}

static void test_ffa_unsupported(void **state)
{
	struct fx *f = *state;
	uint8_t p[26] = { 0x34, 0x12 }, in[64];
	struct rsp r;

	ffa_negotiate(f);
	r = bus_req(f, VMSG_FFA_AREA_SHARE, p, 26);
	assert_bus_resp(f, &r, VMSG_FFA_AREA_SHARE, 12);
	assert_int_equal(g16(r.out + 8), 0x1234);
	assert_int_equal(g16(r.out + 10), VMSG_FFA_FAILED);
	r = bus_req(f, VMSG_FFA_AREA_UNSHARE, p, 2);
	assert_bus_resp(f, &r, VMSG_FFA_AREA_UNSHARE, 12);
	assert_int_equal(g16(r.out + 8), 0x1234);
	assert_int_equal(g16(r.out + 10), VMSG_FFA_FAILED);
	r = bus_req(f, VMSG_FFA_FIFO_CONFIGURE, p, 12);
	assert_bus_resp(f, &r, VMSG_FFA_FIFO_CONFIGURE, 12);
	assert_int_equal(g16(r.out + 8), VMSG_FFA_FAILED);
	assert_int_equal(g16(r.out + 10), 0);

	/* Bad size, unknown id, absent device, non-zero dev_num: ERROR. */
	r = bus_req(f, VMSG_FFA_AREA_SHARE, p, 25);
	assert_ffa_error(f, &r, 0, (uint16_t)(f->token - 1),
	    VMSG_FFA_AREA_SHARE);
	r = bus_req(f, 0x8f, NULL, 0);
	assert_ffa_error(f, &r, 0, (uint16_t)(f->token - 1), 0x8f);
	r = bus_raw(f, in, mk(in, 0, VMSG_GET_VQUEUE, 9, 44, p, 4));
	assert_ffa_error(f, &r, 9, 44, VMSG_GET_VQUEUE);
	r = bus_raw(f, in, mk(in, BUS, VMSG_BUS_PING, 9, 45, p, 4));
	assert_ffa_error(f, &r, 9, 45, VMSG_BUS_PING);
	/* ERROR and AREA_RELEASE go the other way: dropped, not answered. */
	r = bus_req(f, VMSG_FFA_ERROR, p, 2);
	assert_dropped(&r);
	r = bus_req(f, VMSG_FFA_AREA_RELEASE, p, 2);
	assert_dropped(&r);
	/* ... even with a non-zero dev_num or reserved type bits (fuzzer). */
	r = bus_raw(f, in, mk(in, BUS | 0x04, VMSG_FFA_ERROR, 0x4300, 5, p, 12));
	assert_dropped(&r);
	r = bus_raw(f, in, mk(in, BUS, VMSG_BUS_EVENT_DEVICE, 7, 0, p, 4));
	assert_dropped(&r);
	/* Unknown events: dropped. */
	r = bus_req(f, 0xc7, NULL, 0);
	assert_dropped(&r);
}

static void test_ffa_error_encoder(void **state)
{
	struct fx *f = *state;
	uint8_t in[16], out[16], p[4] = { 0 };
	static const uint8_t want[10] = {
		0x03, 0x87, T_DEV, 0, 0x21, 0x43, 10, 0, VMSG_GET_VQUEUE, 0,
	};

	(void)f;
	mk(in, 0, VMSG_GET_VQUEUE, T_DEV, 0x4321, p, 4);
	assert_int_equal(vmsg_ffa_error(in, 12, out, sizeof(out)), 10);
	assert_memory_equal(out, want, 10);
	assert_int_equal(vmsg_ffa_error(in, 12, out, 9), 0);
	assert_int_equal(vmsg_ffa_error(in, 11, out, sizeof(out)), 0);
	mk(in, 0, VMSG_EVENT_AVAIL, T_DEV, 0, p, 4);
	assert_int_equal(vmsg_ffa_error(in, 12, out, sizeof(out)), 0);
	mk(in, RSP, VMSG_GET_VQUEUE, T_DEV, 0, p, 4);
	assert_int_equal(vmsg_ffa_error(in, 12, out, sizeof(out)), 0);
}

/* Transport and bus together, as the relay will run them. */
static void test_ffa_route_to_device(void **state)
{
	struct fx *f = *state;
	uint8_t in[64];
	struct rsp r, t;
	size_t n;

	ffa_negotiate(f);
	n = mk(in, 0, VMSG_GET_DEVICE_STATUS, T_DEV, 0x55, NULL, 0);
	r = bus_raw(f, in, n);
	assert_int_equal(r.rc, VMSG_ROUTE);
	assert_int_equal(r.hdr.dev_num, f->d.dev_num);
	t = raw(f, in, n);
	assert_hdr(&t, RSP, VMSG_GET_DEVICE_STATUS, T_DEV, 0x55, 12);
}

#define T(fn)	cmocka_unit_test_setup(fn, fx_setup)
#define TF(fn)	cmocka_unit_test_setup(fn, ffa_setup)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_table),
		T(test_init_limits),
		T(test_get_device_info),
		T(test_get_device_features),
		T(test_set_driver_features),
		T(test_get_config),
		T(test_set_config),
		T(test_device_status),
		T(test_vqueue),
		T(test_vqueue_refused),
		T(test_reset_vqueue),
		T(test_get_shm),
		T(test_event_avail),
		T(test_linux_sequence),
		T(test_reset_midway),
		T(test_malformed),
		T(test_framing_accepted),
		T(test_output_capacity),
		T(test_event_used),
		T(test_event_config),
		T(test_bus_get_devices),
		T(test_bus_misc),
		TF(test_ffa_version),
		TF(test_ffa_reset),
		TF(test_ffa_events),
		TF(test_ffa_unsupported),
		TF(test_ffa_error_encoder),
		TF(test_ffa_route_to_device),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
