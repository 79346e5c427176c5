/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer target for the virtio-msg transport and bus
 * (src/transport/vmsg.c on top of src/transport/vmmio.c).
 *
 * Input: 6 set-up bytes (queues, config length, bus max size, output
 * capacity, bus kind / pre-state, dev_num), then frames, each
 *   sel u8, len le16, len bytes
 * sel bit0: through vmsg_bus_handle first (VMSG_ROUTE goes on to the
 * device), else straight to vmsg_handle; bit1: fix msg_size to len; bit2:
 * fix dev_num to the device's; bit3: make it a request (type 0 or bus 2);
 * bit4: the device queues an EVENT_USED / EVENT_CONFIG for EVENT_POLL.
 * The fixes let the fuzzer reach the handlers instead of the header checks.
 *
 * Traps when: a reply exceeds min(capacity, max_msg); a reply does not echo
 * msg_id / dev_num / token or has the wrong type or msg_size; a reply's
 * payload breaks its table row; a request is neither answered nor given a
 * reason; an action names a queue that does not exist; vmmio holds a ready
 * queue with an invalid ring. Output buffers are exact-size heap blocks,
 * so ASan catches any write past the capacity.
 *
 * clang -fsanitize=fuzzer,address,undefined -Isrc -Iinclude \
 *   src/transport/vmsg.c src/transport/vmmio.c src/log.c src/util.c \
 *   tests/fuzz/fuzz_vmsg.c
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "transport/vmmio.h"
#include "transport/vmsg.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define F_FEATURES	((1ull << 1) | (1ull << 32) | (1ull << 40))
#define F_FRAME_MAX	1024u

static const uint32_t max_msgs[] = { 52, 64, 104, 264, 4096, 65535 };
static const size_t caps[] = { 0, 8, 12, 51, 52, 64, 104, 300, 65535 };

#define CHECK(c)	do { if (!(c)) __builtin_trap(); } while (0)

struct in {
	const uint8_t *p;
	size_t left;
};

static uint8_t u8(struct in *in)
{
	if (in->left == 0)
		return 0;
	in->left--;
	return *in->p++;
}

static uint16_t u16(struct in *in)
{
	uint16_t lo = u8(in);

	return (uint16_t)(lo | u8(in) << 8);
}

static uint16_t ld16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static void st16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void check_vmmio(const struct vmmio *m)
{
	uint32_t i;

	CHECK(m->nr_queues <= VMMIO_MAX_QUEUES);
	for (i = 0; i < VMMIO_MAX_QUEUES; i++) {
		const struct vmmio_queue *q = &m->q[i];

		if (!q->ready)
			continue;
		CHECK(i < m->nr_queues);
		CHECK(is_pow2(q->num) && q->num <= q->num_max);
		CHECK(q->desc != 0 && q->driver != 0 && q->device != 0);
	}
}

static void check_acts(const struct vmmio *m, const struct vmmio_actions *a)
{
	unsigned i;

	CHECK(a->nr <= VMMIO_MAX_ACTIONS);
	for (i = 0; i < a->nr; i++) {
		switch (a->a[i].kind) {
		case VMMIO_ACT_NOTIFY:
		case VMMIO_ACT_QUEUE_READY:
		case VMMIO_ACT_QUEUE_STOP:
		case VMMIO_ACT_QUEUE_RESET:
			CHECK(a->a[i].queue < m->nr_queues);
			break;
		case VMMIO_ACT_CONFIG_WRITE:
			CHECK(range_ok(a->a[i].cfg_off, a->a[i].cfg_len,
			    m->config_len));
			break;
		case VMMIO_ACT_BAD:
			CHECK(a->a[i].why != NULL);
			break;
		default:
			break;
		}
	}
}

/* A reply to @in: header echo and the table row's response size. */
static void check_reply(const uint8_t *in, const uint8_t *out, size_t len,
    size_t limit, bool bus)
{
	const struct vmsg_msg_desc *desc;
	uint32_t payload;

	CHECK(len >= VMSG_HDR_LEN && len <= limit);
	CHECK(ld16(out + 6) == len);
	CHECK(ld16(out + 4) == ld16(in + 4));		/* token */
	if (bus && out[1] == VMSG_FFA_ERROR &&
	    !((in[0] & VMSG_TYPE_BUS) && in[1] == VMSG_FFA_ERROR)) {
		CHECK(out[0] == (VMSG_TYPE_BUS | VMSG_TYPE_RESPONSE));
		CHECK(ld16(out + 2) == ld16(in + 2));	/* dev_num */
		CHECK(len == VMSG_HDR_LEN + 2 && out[8] == in[1] &&
		    out[9] == 0);
		return;
	}
	CHECK(out[0] == (in[0] | VMSG_TYPE_RESPONSE));
	CHECK(out[1] == in[1]);
	CHECK(ld16(out + 2) == ld16(in + 2));
	desc = vmsg_proto_lookup(&vmsg_proto_2026, (in[0] & VMSG_TYPE_BUS) ?
	    VMSG_CLASS_BUS : VMSG_CLASS_TRANSPORT, in[1], true);
	CHECK(desc != NULL);
	payload = (uint32_t)len - VMSG_HDR_LEN;
	if (desc->resp.kind == VMSG_LEN_FIXED)
		CHECK(payload == desc->resp.len);
	else
		CHECK(desc->resp.kind == VMSG_LEN_MIN &&
		    payload >= desc->resp.len);
}

/* A frame with no reply was an event, or was dropped with a reason. */
static void check_silence(const uint8_t *in, size_t n, const char *why)
{
	if (why == NULL)
		CHECK(n >= VMSG_HDR_LEN && (in[1] & VMSG_ID_EVENT) != 0);
}

static void device_frame(struct vmsg_dev *d, const uint8_t *f, size_t n,
    size_t cap)
{
	struct vmmio_actions acts;
	uint8_t *out = malloc(cap != 0 ? cap : 1);
	const char *why = NULL;
	size_t len = cap;
	enum vmsg_rc rc;

	if (out == NULL)
		return;
	rc = vmsg_handle(d, f, n, out, &len, &acts, &why);
	CHECK(rc == VMSG_NONE || rc == VMSG_REPLY);
	check_acts(d->mmio, &acts);
	if (rc == VMSG_REPLY)
		check_reply(f, out, len, cap < d->max_msg ? cap : d->max_msg,
		    false);
	else {
		CHECK(len == 0);
		check_silence(f, n, why);
	}
	free(out);
}

static void bus_frame(struct vmsg_bus *b, struct vmsg_dev *d,
    const uint8_t *f, size_t n, size_t cap)
{
	uint8_t *out = malloc(cap != 0 ? cap : 1);
	const char *why = NULL;
	struct vmsg_hdr h;
	size_t len = cap;
	enum vmsg_rc rc;

	if (out == NULL)
		return;
	rc = vmsg_bus_handle(b, f, n, out, &len, &h, &why);
	switch (rc) {
	case VMSG_REPLY:
		/* EVENT_POLL may hand out a queued event frame instead. */
		if (f[1] == VMSG_FFA_EVENT_POLL &&
		    out[1] != VMSG_FFA_EVENT_POLL &&
		    out[1] != VMSG_FFA_ERROR) {
			CHECK(len >= VMSG_HDR_LEN && len <= VMSG_FFA_MAX_MSG);
			CHECK(ld16(out + 6) == len);
			CHECK((out[1] & VMSG_ID_EVENT) != 0);
			CHECK(!(out[0] & VMSG_TYPE_RESPONSE));
		} else {
			check_reply(f, out, len,
			    cap < b->max_msg ? cap : b->max_msg, true);
		}
		break;
	case VMSG_ROUTE:
		CHECK(len == 0 && why == NULL);
		CHECK(!(h.type & (VMSG_TYPE_BUS | VMSG_TYPE_RESPONSE)));
		CHECK(vmsg_bus_dev_present(b, h.dev_num));
		CHECK(!b->ffa || b->negotiated);
		if (h.dev_num == d->dev_num)
			device_frame(d, f, n, cap);
		break;
	case VMSG_NONE:
		CHECK(len == 0);
		check_silence(f, n, why);
		break;
	default:
		CHECK(0);
	}
	CHECK(b->evq_nr <= VMSG_EVQ_DEPTH);
	free(out);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_init(LOG_LVL_ERR, false);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct vmmio m;
	static struct vmsg_dev d;
	static struct vmsg_bus b;
	struct in in = { data, size };
	uint8_t nr_queues = u8(&in) % (VMMIO_MAX_QUEUES + 1);
	uint32_t config_len = u8(&in);
	uint32_t max_msg = max_msgs[u8(&in) % ARRAY_SIZE(max_msgs)];
	size_t cap = caps[u8(&in) % ARRAY_SIZE(caps)];
	uint8_t mode = u8(&in);
	uint16_t dev_num = u8(&in);
	uint8_t cfg[VMMIO_CONFIG_MAX];

	vmmio_init(&m, 2, F_FEATURES, nr_queues, 256, config_len);
	memset(cfg, 0x5a, sizeof(cfg));
	vmmio_config_update(&m, 0, cfg, m.config_len, false);
	if (vmsg_dev_init(&d, &m, dev_num, NULL, max_msg) < 0)
		__builtin_trap();	/* every max_msgs[] entry is >= 52 */
	if (vmsg_bus_init(&b, max_msg, (mode & 1) != 0) < 0)
		return 0;		/* FF-A clamps to 104: always fine */
	vmsg_bus_dev_add(&b, dev_num);
	if (mode & 2)
		b.negotiated = true;
	if (mode & 4)
		b.event_configured = true;
	/* A device in some state: features, queue 0, DRIVER_OK. */
	if (mode & 8) {
		struct vmmio_actions a = { .nr = 0 };

		vmmio_write(&m, 0x24, 4, 1, &a);	/* DriverFeaturesSel */
		vmmio_write(&m, 0x20, 4, 1, &a);	/* VERSION_1 */
		vmmio_write(&m, 0x70, 4, 0xb, &a);	/* ..FEATURES_OK */
		if (nr_queues > 0) {
			vmmio_write(&m, 0x30, 4, 0, &a);
			vmmio_write(&m, 0x38, 4, 64, &a);
			vmmio_write(&m, 0x80, 4, 0x10000, &a);
			vmmio_write(&m, 0x90, 4, 0x20000, &a);
			vmmio_write(&m, 0xa0, 4, 0x30000, &a);
			vmmio_write(&m, 0x44, 4, 1, &a);
		}
		if (mode & 16)
			vmmio_write(&m, 0x70, 4, 0xf, &a);
		if (mode & 32)
			vmmio_needs_reset(&m);
	}

	while (in.left > 0) {
		uint8_t sel = u8(&in);
		size_t n = u16(&in) % (F_FRAME_MAX + 1);
		uint8_t *f;

		if (n > in.left)
			n = in.left;
		/* Exact-size copy: reads past n are caught. */
		f = malloc(n != 0 ? n : 1);
		if (f == NULL)
			return 0;
		memcpy(f, in.p, n);
		in.p += n;
		in.left -= n;
		if (n >= VMSG_HDR_LEN) {
			bool bus = (f[0] & VMSG_TYPE_BUS) != 0;

			if (sel & 2)	/* n <= F_FRAME_MAX: fits 16 bits */
				st16(f + 6, (uint16_t)n);
			if (sel & 4)
				st16(f + 2, bus ? 0 : dev_num);
			if (sel & 8)
				f[0] &= VMSG_TYPE_BUS;
		}
		if (sel & 16) {
			uint8_t ev[VMSG_FFA_MAX_MSG];
			size_t evn = (sel & 32) ?
			    vmsg_event_config(&d, 0, sel >> 6, ev, sizeof(ev)) :
			    vmsg_event_used(&d, sel >> 6, ev, sizeof(ev));

			if (evn != 0)
				(void)vmsg_bus_event_push(&b, ev, evn);
		}
		if (sel & 1)
			bus_frame(&b, &d, f, n, cap);
		else
			device_frame(&d, f, n, cap);
		check_vmmio(&m);
		free(f);
	}
	return 0;
}
