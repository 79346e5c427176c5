/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vmsg: virtio-msg transport and bus messages, device side, on top of vmmio.
 *
 * A pure state machine: no I/O, no allocation, no assert on peer values.
 * Frames are decoded with byte loads (no casts of the buffers), checked
 * against the message table before dispatch, and every peer value that
 * indexes something goes through one named helper: vq_index_ok(),
 * feature_blocks_ok(), cfg_range_ok(). The device state lives in struct
 * vmmio only; requests become register accesses on it, so virtio-mmio and
 * virtio-msg devices share one relay.
 */
#include <assert.h>
#include <errno.h>
#include <string.h>

#include <linux/virtio_mmio.h>

#include "transport/vmsg.h"
#include "util.h"

/* 32-bit feature blocks vmmio carries (device_features is 64 bits). */
#define VMSG_VMMIO_FEATURE_BLOCKS	2u

/* Payload layouts of the 2026 revision (offsets in the comments below). */
#define DEVICE_INFO_LEN		44u	/* id, vendor, uuid[16], blocks, cfg,
					 * vqs, admin start, admin count */
#define FEATURES_HDR_LEN	8u	/* block_index, num_blocks */
#define CONFIG_HDR_LEN		12u	/* generation, offset, length */
#define STATUS_LEN		4u
#define VQ_INDEX_LEN		4u
#define VQUEUE_LEN		40u	/* index, max/flags, size, flags/rsvd,
					 * desc, driver, device */
#define SHM_RESP_LEN		24u	/* shmid, rsvd, length64, address64 */
#define EVENT_CONFIG_HDR_LEN	16u	/* status, generation, offset, length */
#define EVENT_AVAIL_LEN		8u	/* vq_index, next_offset */
#define EVENT_USED_LEN		4u	/* vq_index */
#define GET_DEVICES_REQ_LEN	4u	/* offset, count */
#define GET_DEVICES_HDR_LEN	6u	/* offset, next_offset, count */
#define PING_LEN		4u
#define EVENT_DEVICE_LEN	4u	/* dev_num, state */
#define FFA_VERSION_REQ_LEN	12u	/* bus_version, revision, ffa_version */
#define FFA_VERSION_RESP_LEN	22u	/* + features, bus features, areas */
#define FFA_AREA_SHARE_LEN	26u
#define FFA_AREA_UNSHARE_LEN	2u
#define FFA_AREA_RESP_LEN	4u	/* area_id, result */
#define FFA_RESULT_LEN		2u
#define FFA_EVENT_CONF_LEN	4u	/* method u8, rsvd u8, notif_id */
#define FFA_FIFO_CONF_LEN	12u	/* mem_handle64, page_count, notif_id */
#define FFA_FIFO_RESP_LEN	4u	/* result, device_notif_id */
#define FFA_ERROR_LEN		2u	/* original_msg_id */

struct vmsg_call {
	struct vmsg_dev *dev;		/* transport messages */
	struct vmsg_bus *bus;		/* bus messages */
	const struct vmsg_hdr *hdr;
	const uint8_t *req;		/* payload, req_len bytes */
	uint32_t req_len;
	uint8_t *resp;			/* response payload, resp_cap bytes */
	uint32_t resp_cap;
	uint32_t resp_len;
	struct vmmio_actions *acts;
	const char *why;		/* handler returned false */
	/* EVENT_POLL: the handler wrote a whole frame of raw_len at frame. */
	uint8_t *frame;
	uint32_t frame_cap;
	bool raw;
	uint32_t raw_len;
};

/* ---- Little-endian access, no alignment assumed. ---- */

static uint16_t ld16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t ld32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
}

static uint64_t ld64(const uint8_t *p)
{
	return (uint64_t)ld32(p) | (uint64_t)ld32(p + 4) << 32;
}

static void st16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void st32(uint8_t *p, uint32_t v)
{
	st16(p, (uint16_t)v);
	st16(p + 2, (uint16_t)(v >> 16));
}

static void st64(uint8_t *p, uint64_t v)
{
	st32(p, (uint32_t)v);
	st32(p + 4, (uint32_t)(v >> 32));
}

static void hdr_put(uint8_t *out, uint8_t type, uint8_t id, uint16_t dev_num,
    uint16_t token, uint16_t msg_size)
{
	out[0] = type;
	out[1] = id;
	st16(out + 2, dev_num);
	st16(out + 4, token);
	st16(out + 6, msg_size);
}

static uint32_t min_u32(uint64_t a, uint64_t b)
{
	return (uint32_t)(a < b ? a : b);
}

/* ---- Codec: header and table. ---- */

int vmsg_hdr_parse(const uint8_t *in, size_t in_len, uint32_t max_msg,
    struct vmsg_hdr *h, const char **why)
{
	if (in == NULL || in_len < VMSG_HDR_LEN) {
		*why = "frame shorter than the header";
		return -EINVAL;
	}
	h->type = in[0];
	h->msg_id = in[1];
	h->dev_num = ld16(in + 2);
	h->token = ld16(in + 4);
	h->msg_size = ld16(in + 6);
	if (h->msg_size < VMSG_HDR_LEN) {
		*why = "msg_size smaller than the header";
		return -EINVAL;
	}
	if (h->msg_size > in_len) {
		*why = "msg_size beyond the bytes received";
		return -EINVAL;
	}
	if (h->msg_size > max_msg) {
		*why = "msg_size above the bus maximum";
		return -EMSGSIZE;
	}
	return 0;
}

static bool len_ok(const struct vmsg_len *l, uint32_t n)
{
	switch (l->kind) {
	case VMSG_LEN_FIXED:
		return n == l->len;
	case VMSG_LEN_MIN:
		return n >= l->len;
	case VMSG_LEN_NONE:
		break;
	}
	return false;
}

static const struct vmsg_msg_desc *table_find(const struct vmsg_msg_desc *t,
    size_t nr, uint8_t id)
{
	size_t i;

	for (i = 0; i < nr; i++)
		if (t[i].id == id)
			return &t[i];
	return NULL;
}

const struct vmsg_msg_desc *vmsg_proto_lookup(const struct vmsg_proto *p,
    enum vmsg_class cls, uint8_t id, bool ffa)
{
	const struct vmsg_msg_desc *desc;

	if (cls == VMSG_CLASS_TRANSPORT)
		return table_find(p->transport, p->nr_transport, id);
	desc = table_find(p->bus, p->nr_bus, id);
	if (desc == NULL && ffa)
		desc = table_find(p->ffa, p->nr_ffa, id);
	return desc;
}

const char *vmsg_msg_name(const struct vmsg_proto *p, const struct vmsg_hdr *h)
{
	const struct vmsg_msg_desc *desc;

	desc = vmsg_proto_lookup(p != NULL ? p : &vmsg_proto_2026,
	    (h->type & VMSG_TYPE_BUS) ? VMSG_CLASS_BUS : VMSG_CLASS_TRANSPORT,
	    h->msg_id, true);
	return desc != NULL ? desc->name : "?";
}

/* ---- vmmio glue. ---- */

/*
 * Append @src to @dst: adjacent CONFIG_WRITEs become one range, a BAD
 * already present (same reason, same queue) is not repeated, and what does
 * not fit is dropped (as vmmio does).
 */
static void acts_merge(struct vmmio_actions *dst,
    const struct vmmio_actions *src)
{
	unsigned i, j;

	for (i = 0; i < src->nr; i++) {
		const struct vmmio_action *a = &src->a[i];
		struct vmmio_action *last =
		    dst->nr > 0 ? &dst->a[dst->nr - 1] : NULL;
		bool dup = false;

		if (a->kind == VMMIO_ACT_CONFIG_WRITE && last != NULL &&
		    last->kind == VMMIO_ACT_CONFIG_WRITE &&
		    last->cfg_off + last->cfg_len == a->cfg_off) {
			last->cfg_len += a->cfg_len;
			continue;
		}
		if (a->kind == VMMIO_ACT_BAD)
			for (j = 0; j < dst->nr; j++)
				if (dst->a[j].kind == VMMIO_ACT_BAD &&
				    dst->a[j].why == a->why &&
				    dst->a[j].queue == a->queue)
					dup = true;
		if (dup || dst->nr >= VMMIO_MAX_ACTIONS)
			continue;
		dst->a[dst->nr++] = *a;
	}
}

static void act_bad(struct vmsg_call *c, uint32_t queue, const char *why)
{
	struct vmmio_actions one = { .nr = 1 };

	memset(&one.a[0], 0, sizeof(one.a[0]));
	one.a[0].kind = VMMIO_ACT_BAD;
	one.a[0].queue = queue;
	one.a[0].why = why;
	acts_merge(c->acts, &one);
}

static uint32_t reg_rd(const struct vmsg_dev *d, uint32_t off)
{
	return (uint32_t)vmmio_read(d->mmio, off, 4);
}

static void reg_wr(struct vmsg_call *c, uint32_t off, uint32_t val)
{
	struct vmmio_actions a = { .nr = 0 };

	vmmio_write(c->dev->mmio, off, 4, val, &a);
	acts_merge(c->acts, &a);
}

static uint64_t reg_rd64(const struct vmsg_dev *d, uint32_t lo, uint32_t hi)
{
	return (uint64_t)reg_rd(d, lo) | (uint64_t)reg_rd(d, hi) << 32;
}

/* ---- The named validators: the only checks of peer indexes. ---- */

/* @idx names a queue the device has. */
static bool vq_index_ok(const struct vmsg_dev *d, uint32_t idx)
{
	const struct vmmio *m = d->mmio;

	return idx < m->nr_queues && idx < VMMIO_MAX_QUEUES &&
	    m->q[idx].num_max != 0;
}

/* Blocks [@idx, @idx+@n) are a non-empty range of at most @max_n blocks. */
static bool feature_blocks_ok(uint32_t idx, uint32_t n, uint32_t max_n)
{
	return n != 0 && n <= max_n && (uint64_t)idx + n <= (1ull << 32);
}

/* Config bytes [@off, @off+@len) lie inside the config space. */
static bool cfg_range_ok(const struct vmsg_dev *d, uint32_t off, uint32_t len)
{
	return range_ok(off, len, d->mmio->config_len);
}

/* ---- Transport handlers. Validate everything, then touch vmmio. ---- */

static bool h_get_device_info(struct vmsg_call *c)
{
	const struct vmsg_dev *d = c->dev;
	uint8_t *p = c->resp;

	st32(p + 0, reg_rd(d, VIRTIO_MMIO_DEVICE_ID));
	st32(p + 4, reg_rd(d, VIRTIO_MMIO_VENDOR_ID));
	memcpy(p + 8, d->uuid, sizeof(d->uuid));
	st32(p + 24, VMSG_VMMIO_FEATURE_BLOCKS);
	st32(p + 28, d->mmio->config_len);
	st32(p + 32, d->mmio->nr_queues);
	st32(p + 36, 0);	/* admin_vq_start: no admin queues */
	st32(p + 40, 0);	/* admin_vq_count */
	c->resp_len = DEVICE_INFO_LEN;
	return true;
}

/* Blocks past what vmmio carries read 0 (DeviceFeatures does the same). */
static bool h_get_device_features(struct vmsg_call *c)
{
	uint32_t idx = ld32(c->req), n = ld32(c->req + 4), i;
	uint8_t *p = c->resp;

	if (!feature_blocks_ok(idx, n,
	    (c->resp_cap - FEATURES_HDR_LEN) / 4)) {
		c->why = "GET_DEVICE_FEATURES block range empty, wrapping or "
		    "larger than a message";
		return false;
	}
	st32(p, idx);
	st32(p + 4, n);
	for (i = 0; i < n; i++) {
		reg_wr(c, VIRTIO_MMIO_DEVICE_FEATURES_SEL, idx + i);
		st32(p + FEATURES_HDR_LEN + 4 * i,
		    reg_rd(c->dev, VIRTIO_MMIO_DEVICE_FEATURES));
	}
	c->resp_len = FEATURES_HDR_LEN + 4 * n;
	return true;
}

static bool h_set_driver_features(struct vmsg_call *c)
{
	uint32_t idx = ld32(c->req), n = ld32(c->req + 4), i;

	if ((uint64_t)c->req_len != FEATURES_HDR_LEN + 4ull * n ||
	    !feature_blocks_ok(idx, n, (c->req_len - FEATURES_HDR_LEN) / 4)) {
		c->why = "SET_DRIVER_FEATURES length does not match num_blocks";
		return false;
	}
	for (i = 0; i < n; i++) {
		uint32_t v = ld32(c->req + FEATURES_HDR_LEN + 4 * i);

		/* vmmio ignores blocks >= 2; FEATURES_OK must not be. */
		if (idx + i >= VMSG_VMMIO_FEATURE_BLOCKS && v != 0)
			c->dev->features_beyond = true;
		reg_wr(c, VIRTIO_MMIO_DRIVER_FEATURES_SEL, idx + i);
		reg_wr(c, VIRTIO_MMIO_DRIVER_FEATURES, v);
	}
	c->resp_len = 0;
	return true;
}

static bool h_get_config(struct vmsg_call *c)
{
	const struct vmsg_dev *d = c->dev;
	uint32_t off = ld32(c->req), len = ld32(c->req + 4), i;
	uint8_t *p = c->resp;

	if (!cfg_range_ok(d, off, len)) {
		c->why = "GET_CONFIG outside the config space";
		return false;
	}
	if (len > c->resp_cap - CONFIG_HDR_LEN) {
		c->why = "GET_CONFIG longer than a message can carry";
		return false;
	}
	st32(p, reg_rd(d, VIRTIO_MMIO_CONFIG_GENERATION));
	st32(p + 4, off);
	st32(p + 8, len);
	for (i = 0; i < len; i++)
		p[CONFIG_HDR_LEN + i] = (uint8_t)vmmio_read(d->mmio,
		    VMMIO_CONFIG_OFF + off + i, 1);
	c->resp_len = CONFIG_HDR_LEN + len;
	return true;
}

/*
 * The request's generation is not checked: STRICT_CONFIG_GENERATION is
 * not offered (and Linux sends 0). Out of range is answered "0 bytes
 * applied" (the spec's rejection), plus a BAD action for the log.
 */
static bool h_set_config(struct vmsg_call *c)
{
	uint32_t off = ld32(c->req + 4), len = ld32(c->req + 8), i;
	uint32_t applied = 0;
	uint8_t *p = c->resp;

	if ((uint64_t)c->req_len != CONFIG_HDR_LEN + (uint64_t)len) {
		c->why = "SET_CONFIG length does not match the data";
		return false;
	}
	if (cfg_range_ok(c->dev, off, len)) {
		for (i = 0; i < len; i++) {
			struct vmmio_actions a = { .nr = 0 };

			vmmio_write(c->dev->mmio, VMMIO_CONFIG_OFF + off + i, 1,
			    c->req[CONFIG_HDR_LEN + i], &a);
			acts_merge(c->acts, &a);
		}
		applied = len;
	} else {
		act_bad(c, 0, "SET_CONFIG outside the config space");
	}
	st32(p, reg_rd(c->dev, VIRTIO_MMIO_CONFIG_GENERATION));
	st32(p + 4, off);
	st32(p + 8, applied);
	c->resp_len = CONFIG_HDR_LEN;
	return true;
}

static bool h_get_device_status(struct vmsg_call *c)
{
	st32(c->resp, reg_rd(c->dev, VIRTIO_MMIO_STATUS));
	c->resp_len = STATUS_LEN;
	return true;
}

static bool h_set_device_status(struct vmsg_call *c)
{
	struct vmsg_dev *d = c->dev;
	uint32_t v = ld32(c->req), cur = reg_rd(d, VIRTIO_MMIO_STATUS);

	if (v > 0xffu) {
		c->why = "SET_DEVICE_STATUS with bits above bit 7";
		return false;
	}
	if (v == 0) {
		d->features_beyond = false;
		reg_wr(c, VIRTIO_MMIO_STATUS, 0);
	} else {
		if ((v & VMMIO_S_FEATURES_OK) && !(cur & VMMIO_S_FEATURES_OK) &&
		    d->features_beyond) {
			act_bad(c, 0, "driver accepted features above bit 63");
			v &= ~VMMIO_S_FEATURES_OK;
		}
		/* Stripping FEATURES_OK must never turn into a reset. */
		if (v != 0)
			reg_wr(c, VIRTIO_MMIO_STATUS, v);
	}
	st32(c->resp, reg_rd(d, VIRTIO_MMIO_STATUS));
	c->resp_len = STATUS_LEN;
	return true;
}

/*
 * Any index is answered: max_size 0 says "no such queue". A queue that is
 * not enabled reports size, flags and addresses 0 (what Linux checks before
 * set-up), whatever half set-up vmmio holds.
 */
static bool h_get_vqueue(struct vmsg_call *c)
{
	const struct vmsg_dev *d = c->dev;
	uint32_t idx = ld32(c->req);
	uint8_t *p = c->resp;

	memset(p, 0, VQUEUE_LEN);
	reg_wr(c, VIRTIO_MMIO_QUEUE_SEL, idx);
	st32(p, idx);
	st32(p + 4, reg_rd(d, VIRTIO_MMIO_QUEUE_NUM_MAX));
	if (vq_index_ok(d, idx) && reg_rd(d, VIRTIO_MMIO_QUEUE_READY) == 1) {
		/* QueueNum is write-only in MMIO: the value vmmio holds. */
		st32(p + 8, d->mmio->q[idx].num);
		st32(p + 12, VMSG_VQ_F_ENABLED);
		st64(p + 16, reg_rd64(d, VIRTIO_MMIO_QUEUE_DESC_LOW,
		    VIRTIO_MMIO_QUEUE_DESC_HIGH));
		st64(p + 24, reg_rd64(d, VIRTIO_MMIO_QUEUE_AVAIL_LOW,
		    VIRTIO_MMIO_QUEUE_AVAIL_HIGH));
		st64(p + 32, reg_rd64(d, VIRTIO_MMIO_QUEUE_USED_LOW,
		    VIRTIO_MMIO_QUEUE_USED_HIGH));
	}
	c->resp_len = VQUEUE_LEN;
	return true;
}

/*
 * flags 1 (2026 ENABLE op) or 0 (Dec-2025 reserved0, where SET_VQUEUE
 * enables too). A refused enable (vmmio: bad size or address) shows as a
 * BAD action and in the driver's verifying GET_VQUEUE.
 */
static bool h_set_vqueue(struct vmsg_call *c)
{
	const uint8_t *q = c->req;
	uint32_t idx = ld32(q), flags = ld32(q + 4), size = ld32(q + 8);
	uint64_t desc = ld64(q + 16), drv = ld64(q + 24), dev = ld64(q + 32);

	if ((flags & ~VMSG_VQ_F_ENABLED) != 0 || ld32(q + 12) != 0) {
		c->why = "SET_VQUEUE reserved bits set";
		return false;
	}
	if (!vq_index_ok(c->dev, idx)) {
		c->why = "SET_VQUEUE of a queue that does not exist";
		return false;
	}
	reg_wr(c, VIRTIO_MMIO_QUEUE_SEL, idx);
	reg_wr(c, VIRTIO_MMIO_QUEUE_NUM, size);
	reg_wr(c, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)desc);
	reg_wr(c, VIRTIO_MMIO_QUEUE_DESC_HIGH, (uint32_t)(desc >> 32));
	reg_wr(c, VIRTIO_MMIO_QUEUE_AVAIL_LOW, (uint32_t)drv);
	reg_wr(c, VIRTIO_MMIO_QUEUE_AVAIL_HIGH, (uint32_t)(drv >> 32));
	reg_wr(c, VIRTIO_MMIO_QUEUE_USED_LOW, (uint32_t)dev);
	reg_wr(c, VIRTIO_MMIO_QUEUE_USED_HIGH, (uint32_t)(dev >> 32));
	reg_wr(c, VIRTIO_MMIO_QUEUE_READY, 1);
	c->resp_len = 0;
	return true;
}

/* Answered once the relay has acted on QUEUE_RESET (it stops the queue). */
static bool h_reset_vqueue(struct vmsg_call *c)
{
	uint32_t idx = ld32(c->req);

	if (!vq_index_ok(c->dev, idx)) {
		c->why = "RESET_VQUEUE of a queue that does not exist";
		return false;
	}
	reg_wr(c, VIRTIO_MMIO_QUEUE_SEL, idx);
	reg_wr(c, VMMIO_QUEUE_RESET, 1);
	c->resp_len = 0;
	return true;
}

static bool h_get_shm(struct vmsg_call *c)
{
	const struct vmsg_dev *d = c->dev;
	uint32_t id = ld32(c->req);
	uint64_t len, addr;
	uint8_t *p = c->resp;

	reg_wr(c, VIRTIO_MMIO_SHM_SEL, id);
	len = reg_rd64(d, VIRTIO_MMIO_SHM_LEN_LOW, VIRTIO_MMIO_SHM_LEN_HIGH);
	addr = reg_rd64(d, VIRTIO_MMIO_SHM_BASE_LOW, VIRTIO_MMIO_SHM_BASE_HIGH);
	/* MMIO says "no region" with all ones; virtio-msg with length 0. */
	if (len == UINT64_MAX) {
		len = 0;
		addr = 0;
	}
	st32(p, id);
	st32(p + 4, 0);
	st64(p + 8, len);
	st64(p + 16, addr);
	c->resp_len = SHM_RESP_LEN;
	return true;
}

/*
 * next_offset is only meaningful with VIRTIO_F_NOTIFICATION_DATA, which a
 * QueueNotify cannot carry either: ignored.
 */
static bool h_event_avail(struct vmsg_call *c)
{
	uint32_t idx = ld32(c->req);

	if (!vq_index_ok(c->dev, idx)) {
		c->why = "EVENT_AVAIL for a queue that does not exist";
		return false;
	}
	reg_wr(c, VIRTIO_MMIO_QUEUE_NOTIFY, idx);
	return true;
}

/* ---- Bus handlers. ---- */

static bool bus_present(const struct vmsg_bus *b, uint32_t dev_num)
{
	return (b->present[dev_num / 8] >> (dev_num % 8)) & 1;
}

/*
 * The window is cut to what the response can carry; next_offset is the
 * first 8-aligned window after it holding a device, 0 when there is none.
 */
static bool h_get_devices(struct vmsg_call *c)
{
	const struct vmsg_bus *b = c->bus;
	uint32_t off = ld16(c->req), count = ld16(c->req + 2), i;
	uint32_t max_count = (c->resp_cap - GET_DEVICES_HDR_LEN) * 8u;
	uint32_t next = 0;
	uint8_t *p = c->resp;

	if (off % 8 != 0 || count % 8 != 0) {
		c->why = "GET_DEVICES offset or count not a multiple of 8";
		return false;
	}
	count = min_u32(count, max_count);
	count = min_u32(count, VMSG_BUS_NR_DEVS - off);

	/* off and count are multiples of 8: whole bytes of present[]. */
	memcpy(p + GET_DEVICES_HDR_LEN, &b->present[off / 8], count / 8);
	for (i = (off + count) / 8; i < sizeof(b->present); i++) {
		if (b->present[i] != 0) {
			next = i * 8;
			break;
		}
	}
	st16(p, (uint16_t)off);
	st16(p + 2, (uint16_t)next);
	st16(p + 4, (uint16_t)count);
	c->resp_len = GET_DEVICES_HDR_LEN + count / 8;
	return true;
}

static bool h_ping(struct vmsg_call *c)
{
	memcpy(c->resp, c->req, PING_LEN);
	c->resp_len = PING_LEN;
	return true;
}

/* Back to "never negotiated": events, queued events and areas dropped. */
static void ffa_state_reset(struct vmsg_bus *b)
{
	b->negotiated = false;
	b->event_configured = false;
	b->event_method = VMSG_FFA_EV_POLL;
	b->notif_id = 0;
	b->evq_head = 0;
	b->evq_nr = 0;
}

/*
 * As the Linux device role: a probe {0, 0} gets our versions; a request
 * equal to ours completes negotiation (the driver echoes our answer); a
 * newer one gets ours to pick from; an older one, or a different one once
 * negotiated, gets zeros (not supported).
 */
static bool h_ffa_version(struct vmsg_call *c)
{
	struct vmsg_bus *b = c->bus;
	uint32_t rb = ld32(c->req), rr = ld32(c->req + 4);
	uint32_t resp_bus = 0, resp_rev = 0;
	uint8_t *p = c->resp;
	bool same = rb == VMSG_FFA_BUS_VERSION && rr == VMSG_REVISION;
	bool newer = rb > VMSG_FFA_BUS_VERSION ||
	    (rb == VMSG_FFA_BUS_VERSION && rr > VMSG_REVISION);

	if ((rb == 0 && rr == 0) || same || (!b->negotiated && newer)) {
		resp_bus = VMSG_FFA_BUS_VERSION;
		resp_rev = VMSG_REVISION;
	}
	if (same && !b->negotiated) {
		ffa_state_reset(b);
		b->negotiated = true;
	}
	st32(p, resp_bus);
	st32(p + 4, resp_rev);
	st32(p + 8, b->ffa_version);
	st32(p + 12, 0);	/* transport features: none */
	st32(p + 16, resp_bus != 0 ? b->bus_features : 0);
	st16(p + 20, 0);	/* max_areas: AREA_SHARE is not supported */
	c->resp_len = FFA_VERSION_RESP_LEN;
	return true;
}

static bool h_ffa_reset(struct vmsg_call *c)
{
	ffa_state_reset(c->bus);
	c->bus->reset_pending = true;
	st16(c->resp, VMSG_FFA_SUCCESS);
	c->resp_len = FFA_RESULT_LEN;
	return true;
}

static bool h_ffa_event_configure(struct vmsg_call *c)
{
	struct vmsg_bus *b = c->bus;
	uint8_t method = c->req[0];
	uint16_t notif_id = ld16(c->req + 2);
	uint16_t result = VMSG_FFA_FAILED;

	if (b->event_configured) {
		c->why = "EVENT_CONFIGURE when events are already configured";
		return false;
	}
	if (c->req[1] == 0 && method < 8 &&
	    (b->event_methods & (1u << method)) != 0 &&
	    (method != VMSG_FFA_EV_NOTIF ||
	    notif_id <= VMSG_FFA_NOTIF_ID_MAX)) {
		b->event_configured = true;
		b->event_method = method;
		b->notif_id = method == VMSG_FFA_EV_NOTIF ? notif_id : 0;
		result = VMSG_FFA_SUCCESS;
	}
	st16(c->resp, result);
	c->resp_len = FFA_RESULT_LEN;
	return true;
}

static bool h_ffa_event_poll(struct vmsg_call *c)
{
	struct vmsg_bus *b = c->bus;
	unsigned slot = b->evq_head;

	if (b->evq_nr == 0) {
		c->resp_len = 0;	/* header-only: nothing queued */
		return true;
	}
	if (b->evq_len[slot] > c->frame_cap) {
		c->why = "EVENT_POLL: output buffer smaller than the event";
		return false;
	}
	memcpy(c->frame, b->evq[slot], b->evq_len[slot]);
	c->raw = true;
	c->raw_len = b->evq_len[slot];
	b->evq_head = (slot + 1) % VMSG_EVQ_DEPTH;
	b->evq_nr--;
	return true;
}

static bool h_ffa_fifo_configure(struct vmsg_call *c)
{
	st16(c->resp, VMSG_FFA_FAILED);
	st16(c->resp + 2, 0);
	c->resp_len = FFA_FIFO_RESP_LEN;
	return true;
}

/* No memory sharing: guest memory is reached through Xen mappings. */
static bool h_ffa_area(struct vmsg_call *c)
{
	memcpy(c->resp, c->req, 2);	/* area_id */
	st16(c->resp + 2, VMSG_FFA_FAILED);
	c->resp_len = FFA_AREA_RESP_LEN;
	return true;
}

/* ---- Tables. ---- */

/*
 * One row per message: id, direction, request (kind, bytes), response
 * (kind, bytes), handler. The name is the macro name without "VMSG_".
 */
#define ROW(i, nm, cl, d, qk, ql, sk, sl, h) { .id = (i), .name = (nm), \
	.cls = (cl), .dir = VMSG_DIR_##d, \
	.req = { VMSG_LEN_##qk, (ql) }, .resp = { VMSG_LEN_##sk, (sl) }, \
	.handle = (h) }
#define T(i, d, qk, ql, sk, sl, h) \
	ROW(i, &(#i)[5], VMSG_CLASS_TRANSPORT, d, qk, ql, sk, sl, h)
#define B(i, d, qk, ql, sk, sl, h) \
	ROW(i, &(#i)[5], VMSG_CLASS_BUS, d, qk, ql, sk, sl, h)

static const struct vmsg_msg_desc transport_2026[] = {
	T(VMSG_GET_DEVICE_INFO, TO_DEV, FIXED, 0,
	    FIXED, DEVICE_INFO_LEN, h_get_device_info),
	T(VMSG_GET_DEVICE_FEATURES, TO_DEV, FIXED, FEATURES_HDR_LEN,
	    MIN, FEATURES_HDR_LEN, h_get_device_features),
	T(VMSG_SET_DRIVER_FEATURES, TO_DEV, MIN, FEATURES_HDR_LEN,
	    FIXED, 0, h_set_driver_features),
	T(VMSG_GET_CONFIG, TO_DEV, FIXED, 8, MIN, CONFIG_HDR_LEN,
	    h_get_config),
	T(VMSG_SET_CONFIG, TO_DEV, MIN, CONFIG_HDR_LEN,
	    FIXED, CONFIG_HDR_LEN, h_set_config),
	T(VMSG_GET_DEVICE_STATUS, TO_DEV, FIXED, 0, FIXED, STATUS_LEN,
	    h_get_device_status),
	T(VMSG_SET_DEVICE_STATUS, TO_DEV, FIXED, STATUS_LEN,
	    FIXED, STATUS_LEN, h_set_device_status),
	T(VMSG_GET_VQUEUE, TO_DEV, FIXED, VQ_INDEX_LEN,
	    FIXED, VQUEUE_LEN, h_get_vqueue),
	T(VMSG_SET_VQUEUE, TO_DEV, FIXED, VQUEUE_LEN, FIXED, 0,
	    h_set_vqueue),
	T(VMSG_RESET_VQUEUE, TO_DEV, FIXED, VQ_INDEX_LEN, FIXED, 0,
	    h_reset_vqueue),
	T(VMSG_GET_SHM, TO_DEV, FIXED, 4, FIXED, SHM_RESP_LEN,
	    h_get_shm),
	T(VMSG_EVENT_CONFIG, TO_DRV, MIN, EVENT_CONFIG_HDR_LEN,
	    NONE, 0, NULL),
	T(VMSG_EVENT_AVAIL, TO_DEV, FIXED, EVENT_AVAIL_LEN, NONE, 0,
	    h_event_avail),
	T(VMSG_EVENT_USED, TO_DRV, FIXED, EVENT_USED_LEN, NONE, 0, NULL),
};

static const struct vmsg_msg_desc bus_2026[] = {
	B(VMSG_BUS_GET_DEVICES, TO_DEV, FIXED, GET_DEVICES_REQ_LEN,
	    MIN, GET_DEVICES_HDR_LEN, h_get_devices),
	B(VMSG_BUS_PING, BOTH, FIXED, PING_LEN, FIXED, PING_LEN,
	    h_ping),
	B(VMSG_BUS_EVENT_DEVICE, TO_DRV, FIXED, EVENT_DEVICE_LEN,
	    NONE, 0, NULL),
};

static const struct vmsg_msg_desc ffa_2026[] = {
	B(VMSG_FFA_VERSION, TO_DEV, FIXED, FFA_VERSION_REQ_LEN,
	    FIXED, FFA_VERSION_RESP_LEN, h_ffa_version),
	B(VMSG_FFA_AREA_SHARE, TO_DEV, FIXED, FFA_AREA_SHARE_LEN,
	    FIXED, FFA_AREA_RESP_LEN, h_ffa_area),
	B(VMSG_FFA_AREA_UNSHARE, TO_DEV, FIXED, FFA_AREA_UNSHARE_LEN,
	    FIXED, FFA_AREA_RESP_LEN, h_ffa_area),
	B(VMSG_FFA_RESET, TO_DEV, FIXED, 0, FIXED, FFA_RESULT_LEN,
	    h_ffa_reset),
	/* Response: header only, or a whole queued event frame. */
	B(VMSG_FFA_EVENT_POLL, TO_DEV, FIXED, 0, MIN, 0,
	    h_ffa_event_poll),
	B(VMSG_FFA_EVENT_CONFIGURE, TO_DEV, FIXED, FFA_EVENT_CONF_LEN,
	    FIXED, FFA_RESULT_LEN, h_ffa_event_configure),
	B(VMSG_FFA_FIFO_CONFIGURE, TO_DEV, FIXED, FFA_FIFO_CONF_LEN,
	    FIXED, FFA_FIFO_RESP_LEN, h_ffa_fifo_configure),
	/* A response-class message: only ever sent, never handled. */
	B(VMSG_FFA_ERROR, TO_DRV, NONE, 0, FIXED, FFA_ERROR_LEN, NULL),
	B(VMSG_FFA_AREA_RELEASE, TO_DRV, FIXED, 2, NONE, 0, NULL),
};

#undef ROW
#undef T
#undef B

const struct vmsg_proto vmsg_proto_2026 = {
	.name = "virtio-msg 2026 (8-byte header, device UUID, min size 52)",
	.revision = VMSG_REVISION,
	.min_size = VMSG_HDR_LEN + DEVICE_INFO_LEN,
	.transport = transport_2026,
	.nr_transport = ARRAY_SIZE(transport_2026),
	.bus = bus_2026,
	.nr_bus = ARRAY_SIZE(bus_2026),
	.ffa = ffa_2026,
	.nr_ffa = ARRAY_SIZE(ffa_2026),
};

/* ---- Dispatch. ---- */

/* Our own invariant: a handler wrote what its row promises. */
static void resp_check(const struct vmsg_msg_desc *desc,
    const struct vmsg_call *c)
{
	assert(c->resp_len <= c->resp_cap);
	assert(len_ok(&desc->resp, c->resp_len));
	(void)desc;
	(void)c;
}

static uint32_t out_limit(size_t cap, uint32_t max_msg)
{
	return min_u32(cap, max_msg);
}

int vmsg_dev_init(struct vmsg_dev *d, struct vmmio *mmio, uint16_t dev_num,
    const uint8_t *uuid, uint32_t max_msg)
{
	memset(d, 0, sizeof(*d));
	d->mmio = mmio;
	d->proto = &vmsg_proto_2026;
	d->dev_num = dev_num;
	if (uuid != NULL)
		memcpy(d->uuid, uuid, sizeof(d->uuid));
	d->max_msg = min_u32(max_msg, VMSG_MAX_SIZE);
	if (d->max_msg < d->proto->min_size)
		return -EINVAL;
	return 0;
}

enum vmsg_rc vmsg_handle(struct vmsg_dev *d, const uint8_t *in, size_t in_len,
    uint8_t *out, size_t *out_len, struct vmmio_actions *acts,
    const char **why)
{
	const struct vmsg_msg_desc *desc;
	struct vmmio_actions scratch;
	struct vmsg_call c;
	struct vmsg_hdr h;
	const char *ignored;
	size_t cap = out_len != NULL ? *out_len : 0;
	uint32_t limit = 0;
	bool event;

	if (why == NULL)
		why = &ignored;
	*why = NULL;
	if (out_len != NULL)
		*out_len = 0;
	if (acts == NULL)
		acts = &scratch;
	acts->nr = 0;

	if (vmsg_hdr_parse(in, in_len, d->max_msg, &h, why) < 0)
		return VMSG_NONE;
	if (h.type & VMSG_TYPE_RESPONSE) {
		*why = "response frame received by the device";
		return VMSG_NONE;
	}
	if (h.type & VMSG_TYPE_BUS) {
		*why = "bus message on the transport path";
		return VMSG_NONE;
	}
	if (h.dev_num != d->dev_num) {
		*why = "dev_num is not this device";
		return VMSG_NONE;
	}
	desc = vmsg_proto_lookup(d->proto, VMSG_CLASS_TRANSPORT, h.msg_id,
	    false);
	if (desc == NULL) {
		*why = "unknown transport message id";
		return VMSG_NONE;
	}
	if (desc->dir == VMSG_DIR_TO_DRV || desc->handle == NULL) {
		*why = "device-to-driver message received by the device";
		return VMSG_NONE;
	}
	if (!len_ok(&desc->req, h.msg_size - VMSG_HDR_LEN)) {
		*why = "payload size wrong for the message";
		return VMSG_NONE;
	}
	event = desc->resp.kind == VMSG_LEN_NONE;
	if (!event) {
		limit = out_limit(cap, d->max_msg);
		if (out == NULL ||
		    limit < VMSG_HDR_LEN + (uint32_t)desc->resp.len) {
			*why = "output buffer smaller than the response";
			return VMSG_NONE;
		}
	}

	memset(&c, 0, sizeof(c));
	c.dev = d;
	c.hdr = &h;
	c.req = in + VMSG_HDR_LEN;
	c.req_len = h.msg_size - VMSG_HDR_LEN;
	c.resp = event ? NULL : out + VMSG_HDR_LEN;
	c.resp_cap = event ? 0 : limit - VMSG_HDR_LEN;
	c.acts = acts;
	if (!desc->handle(&c)) {
		*why = c.why;
		return VMSG_NONE;
	}
	if (event)
		return VMSG_NONE;

	resp_check(desc, &c);
	hdr_put(out, h.type | VMSG_TYPE_RESPONSE, h.msg_id, h.dev_num, h.token,
	    (uint16_t)(VMSG_HDR_LEN + c.resp_len));
	*out_len = VMSG_HDR_LEN + c.resp_len;
	return VMSG_REPLY;
}

size_t vmsg_event_used(const struct vmsg_dev *d, uint32_t queue, uint8_t *out,
    size_t cap)
{
	const uint32_t len = VMSG_HDR_LEN + EVENT_USED_LEN;

	if (!vq_index_ok(d, queue) || out == NULL ||
	    out_limit(cap, d->max_msg) < len)
		return 0;
	hdr_put(out, 0, VMSG_EVENT_USED, d->dev_num, 0, (uint16_t)len);
	st32(out + VMSG_HDR_LEN, queue);
	return len;
}

size_t vmsg_event_config(const struct vmsg_dev *d, uint32_t off, uint32_t len,
    uint8_t *out, size_t cap)
{
	const uint32_t hdr_len = VMSG_HDR_LEN + EVENT_CONFIG_HDR_LEN;
	uint32_t limit = out == NULL ? 0 : out_limit(cap, d->max_msg);
	uint8_t *p;
	uint32_t i;

	if (limit < hdr_len)
		return 0;
	if (len == 0)
		off = 0;
	if (!cfg_range_ok(d, off, len))
		return 0;
	if (len > limit - hdr_len) {
		off = 0;
		len = 0;
	}
	hdr_put(out, 0, VMSG_EVENT_CONFIG, d->dev_num, 0,
	    (uint16_t)(hdr_len + len));
	p = out + VMSG_HDR_LEN;
	st32(p, reg_rd(d, VIRTIO_MMIO_STATUS));
	st32(p + 4, reg_rd(d, VIRTIO_MMIO_CONFIG_GENERATION));
	st32(p + 8, off);
	st32(p + 12, len);
	for (i = 0; i < len; i++)
		p[EVENT_CONFIG_HDR_LEN + i] = (uint8_t)vmmio_read(d->mmio,
		    VMMIO_CONFIG_OFF + off + i, 1);
	return hdr_len + len;
}

/* ---- Bus. ---- */

int vmsg_bus_init(struct vmsg_bus *b, uint32_t max_msg, bool ffa)
{
	memset(b, 0, sizeof(*b));
	b->proto = &vmsg_proto_2026;
	b->max_msg = min_u32(max_msg, VMSG_MAX_SIZE);
	b->ffa = ffa;
	if (ffa) {
		b->max_msg = min_u32(b->max_msg, VMSG_FFA_MAX_MSG);
		b->ffa_version = VMSG_FFA_VERSION_1_2;
		/* Xen VM-to-VM FF-A: indirect messages only (no direct). */
		b->bus_features = VMSG_FFA_F_INDIRECT_RX |
		    VMSG_FFA_F_INDIRECT_TX;
		b->event_methods = 1u << VMSG_FFA_EV_POLL |
		    1u << VMSG_FFA_EV_NOTIF | 1u << VMSG_FFA_EV_INDIRECT;
	}
	ffa_state_reset(b);
	if (b->max_msg < b->proto->min_size)
		return -EINVAL;
	return 0;
}

void vmsg_bus_dev_add(struct vmsg_bus *b, uint16_t dev_num)
{
	b->present[dev_num / 8] |= (uint8_t)(1u << (dev_num % 8));
}

void vmsg_bus_dev_del(struct vmsg_bus *b, uint16_t dev_num)
{
	b->present[dev_num / 8] &= (uint8_t)~(1u << (dev_num % 8));
}

bool vmsg_bus_dev_present(const struct vmsg_bus *b, uint16_t dev_num)
{
	return bus_present(b, dev_num);
}

static size_t ffa_error_put(const struct vmsg_hdr *h, uint8_t *out, size_t cap)
{
	const uint32_t len = VMSG_HDR_LEN + FFA_ERROR_LEN;

	if (out == NULL || cap < len)
		return 0;
	hdr_put(out, VMSG_TYPE_BUS | VMSG_TYPE_RESPONSE, VMSG_FFA_ERROR,
	    h->dev_num, h->token, (uint16_t)len);
	st16(out + VMSG_HDR_LEN, h->msg_id);
	return len;
}

size_t vmsg_ffa_error(const uint8_t *in, size_t in_len, uint8_t *out,
    size_t cap)
{
	struct vmsg_hdr h;
	const char *why;

	if (vmsg_hdr_parse(in, in_len, VMSG_MAX_SIZE, &h, &why) < 0)
		return 0;
	if ((h.type & VMSG_TYPE_RESPONSE) || (h.msg_id & VMSG_ID_EVENT))
		return 0;
	return ffa_error_put(&h, out, cap);
}

/*
 * A request the bus will not serve: on FF-A it is answered with ERROR (the
 * driver fails fast instead of timing out), elsewhere dropped. Events are
 * always dropped. *why is set either way, for the log.
 */
static enum vmsg_rc bus_refuse(const struct vmsg_bus *b,
    const struct vmsg_hdr *h, uint8_t *out, size_t cap, size_t *out_len,
    const char **why, const char *reason)
{
	size_t n;

	*why = reason;
	if (!b->ffa || (h->msg_id & VMSG_ID_EVENT))
		return VMSG_NONE;
	n = ffa_error_put(h, out, out_limit(cap, b->max_msg));
	if (n == 0)
		return VMSG_NONE;
	*out_len = n;
	return VMSG_REPLY;
}

enum vmsg_rc vmsg_bus_handle(struct vmsg_bus *b, const uint8_t *in,
    size_t in_len, uint8_t *out, size_t *out_len, struct vmsg_hdr *hdr,
    const char **why)
{
	const struct vmsg_msg_desc *desc;
	struct vmsg_call c;
	struct vmsg_hdr h;
	const char *ignored;
	size_t cap = out_len != NULL ? *out_len : 0;
	size_t discard = 0;
	uint32_t limit;
	bool event;

	if (why == NULL)
		why = &ignored;
	*why = NULL;
	if (out_len == NULL)
		out_len = &discard;
	*out_len = 0;

	if (vmsg_hdr_parse(in, in_len, b->max_msg, &h, why) < 0)
		return VMSG_NONE;
	if (hdr != NULL)
		*hdr = h;
	if (h.type & VMSG_TYPE_RESPONSE) {
		*why = "response frame received by the device";
		return VMSG_NONE;
	}

	if (!(h.type & VMSG_TYPE_BUS)) {
		if (b->ffa && !b->negotiated)
			return bus_refuse(b, &h, out, cap, out_len, why,
			    "transport message before FF-A negotiation");
		if (!bus_present(b, h.dev_num))
			return bus_refuse(b, &h, out, cap, out_len, why,
			    "transport message for a device not on the bus");
		return VMSG_ROUTE;
	}

	/*
	 * Device-to-driver messages (ERROR, AREA_RELEASE, EVENT_DEVICE) are
	 * dropped before anything could answer them: never ERROR an ERROR.
	 */
	desc = vmsg_proto_lookup(b->proto, VMSG_CLASS_BUS, h.msg_id, b->ffa);
	if (desc != NULL &&
	    (desc->dir == VMSG_DIR_TO_DRV || desc->handle == NULL)) {
		*why = "device-to-driver bus message received by the device";
		return VMSG_NONE;
	}
	if (h.dev_num != 0)
		return bus_refuse(b, &h, out, cap, out_len, why,
		    "bus message with a non-zero dev_num");
	if (desc == NULL)
		return bus_refuse(b, &h, out, cap, out_len, why,
		    "unknown bus message id");
	if (b->ffa && !b->negotiated && h.msg_id != VMSG_FFA_VERSION &&
	    h.msg_id != VMSG_FFA_RESET)
		return bus_refuse(b, &h, out, cap, out_len, why,
		    "bus message before FF-A VERSION negotiation");
	if (!len_ok(&desc->req, h.msg_size - VMSG_HDR_LEN))
		return bus_refuse(b, &h, out, cap, out_len, why,
		    "payload size wrong for the message");
	event = desc->resp.kind == VMSG_LEN_NONE;
	limit = out == NULL ? 0 : out_limit(cap, b->max_msg);
	if (!event && limit < VMSG_HDR_LEN + (uint32_t)desc->resp.len) {
		*why = "output buffer smaller than the response";
		return VMSG_NONE;
	}

	memset(&c, 0, sizeof(c));
	c.bus = b;
	c.hdr = &h;
	c.req = in + VMSG_HDR_LEN;
	c.req_len = h.msg_size - VMSG_HDR_LEN;
	c.resp = event ? NULL : out + VMSG_HDR_LEN;
	c.resp_cap = event ? 0 : limit - VMSG_HDR_LEN;
	c.frame = out;
	c.frame_cap = limit;
	if (!desc->handle(&c))
		return bus_refuse(b, &h, out, cap, out_len, why, c.why);
	if (event)
		return VMSG_NONE;
	if (c.raw) {
		*out_len = c.raw_len;
		return VMSG_REPLY;
	}

	resp_check(desc, &c);
	hdr_put(out, h.type | VMSG_TYPE_RESPONSE, h.msg_id, 0, h.token,
	    (uint16_t)(VMSG_HDR_LEN + c.resp_len));
	*out_len = VMSG_HDR_LEN + c.resp_len;
	return VMSG_REPLY;
}

int vmsg_bus_event_push(struct vmsg_bus *b, const uint8_t *frame, size_t len)
{
	struct vmsg_hdr h;
	const char *why;
	unsigned slot;

	if (vmsg_hdr_parse(frame, len, b->max_msg, &h, &why) < 0 ||
	    h.msg_size != len || len > VMSG_FFA_MAX_MSG ||
	    (h.type & VMSG_TYPE_RESPONSE) || !(h.msg_id & VMSG_ID_EVENT))
		return -EINVAL;
	if (!b->event_configured)
		return -ENOTCONN;
	if (b->evq_nr >= VMSG_EVQ_DEPTH)
		return -ENOSPC;
	slot = (b->evq_head + b->evq_nr) % VMSG_EVQ_DEPTH;
	memcpy(b->evq[slot], frame, len);
	b->evq_len[slot] = (uint16_t)len;
	b->evq_nr++;
	return 0;
}

size_t vmsg_bus_event_device(uint16_t dev_num, uint16_t state, uint8_t *out,
    size_t cap)
{
	const uint32_t len = VMSG_HDR_LEN + EVENT_DEVICE_LEN;

	if (out == NULL || cap < len)
		return 0;
	hdr_put(out, VMSG_TYPE_BUS, VMSG_BUS_EVENT_DEVICE, 0, 0,
	    (uint16_t)len);
	st16(out + VMSG_HDR_LEN, dev_num);
	st16(out + VMSG_HDR_LEN + 2, state);
	return len;
}
