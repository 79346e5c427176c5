/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Tests of the vhost-user codec (vhu_msg) and client (vhu_client).
 *
 * The client is run against a fake back-end: a forked child on the other
 * end of a socketpair that checks each request it reads and writes scripted
 * replies. A child reports failure through its exit status (it prints the
 * failed check to stderr); the parent asserts on it at the end of each
 * test. Children arm alarm() so a failed parent never leaves one behind.
 * Optionally the client is run against a real qemu-storage-daemon.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util.h"
#include "vhost/vhu_client.h"
#include "vhost/vhu_msg.h"

#define BIT(n)			(UINT64_C(1) << (n))
#define F_VERSION_1		32
#define FLAGS_REQ		VHU_FLAG_VERSION
#define FLAGS_REQ_ACK		(VHU_FLAG_VERSION | VHU_FLAG_NEED_REPLY)
#define FLAGS_REPLY		(VHU_FLAG_VERSION | VHU_FLAG_REPLY)

#define FAKE_FEATURES		(BIT(F_VERSION_1) | \
	BIT(VHU_F_PROTOCOL_FEATURES) | BIT(1))
#define FAKE_PROTO		(BIT(VHU_PROTOCOL_F_MQ) | \
	BIT(VHU_PROTOCOL_F_REPLY_ACK) | BIT(VHU_PROTOCOL_F_CONFIG) | \
	BIT(VHU_PROTOCOL_F_INFLIGHT_SHMFD) | BIT(VHU_PROTOCOL_F_STATUS))
#define FAKE_PROTO_SET		(BIT(VHU_PROTOCOL_F_REPLY_ACK) | \
	BIT(VHU_PROTOCOL_F_CONFIG) | BIT(VHU_PROTOCOL_F_INFLIGHT_SHMFD))
#define GUEST_MARKER		"xvd-ram!"

/* ---------------------------------------------------------------- */
/* Small helpers                                                    */

static uint16_t rd16(const uint8_t *p, size_t off)
{
	uint16_t v;

	memcpy(&v, p + off, sizeof(v));
	return v;
}

static uint32_t rd32(const uint8_t *p, size_t off)
{
	uint32_t v;

	memcpy(&v, p + off, sizeof(v));
	return v;
}

static uint64_t rd64(const uint8_t *p, size_t off)
{
	uint64_t v;

	memcpy(&v, p + off, sizeof(v));
	return v;
}

static void wr32(uint8_t *p, size_t off, uint32_t v)
{
	memcpy(p + off, &v, sizeof(v));
}

static void wr64(uint8_t *p, size_t off, uint64_t v)
{
	memcpy(p + off, &v, sizeof(v));
}

static void wr16(uint8_t *p, size_t off, uint16_t v)
{
	memcpy(p + off, &v, sizeof(v));
}

/* Open fds of this process (the directory's own fd not counted). */
static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {
		.tv_sec = ms / 1000u,
		.tv_nsec = (long)(ms % 1000u) * 1000000L,
	};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* ---------------------------------------------------------------- */
/* Encoders                                                         */

static void test_msg_init(void **state)
{
	struct vhu_msg m;

	memset(&m, 0xa5, sizeof(m));
	vhu_msg_init(&m, VHU_GET_FEATURES);
	assert_int_equal(m.hdr.request, VHU_GET_FEATURES);
	assert_int_equal(m.hdr.flags, 0x1);
	assert_int_equal(m.hdr.size, 0);
	assert_int_equal(m.nr_fds, 0);
	for (unsigned i = 0; i < VHU_MAX_FDS; i++)
		assert_int_equal(m.fds[i], -1);
}

static void test_msg_u64(void **state)
{
	const uint64_t v = 0x0123456789abcdefULL;
	struct vhu_msg m;

	assert_int_equal(vhu_msg_u64(&m, VHU_SET_FEATURES, v), 0);
	assert_int_equal(m.hdr.request, VHU_SET_FEATURES);
	assert_int_equal(m.hdr.flags, VHU_FLAG_VERSION);
	assert_int_equal(m.hdr.size, 8);
	assert_int_equal(m.nr_fds, 0);
	assert_memory_equal(m.payload, &v, 8);

	assert_int_equal(vhu_msg_u64(&m, VHU_SET_PROTOCOL_FEATURES, 8), 0);
	assert_int_equal(vhu_msg_u64(&m, VHU_SET_STATUS, 0xf), 0);
	assert_int_equal(m.hdr.size, 8);

	/* Requests whose row is not a plain u64. */
	assert_int_equal(vhu_msg_u64(&m, VHU_GET_FEATURES, 1), -EINVAL);
	assert_int_equal(vhu_msg_u64(&m, VHU_SET_VRING_NUM, 1), -EINVAL);
	assert_int_equal(vhu_msg_u64(&m, VHU_SET_VRING_KICK, 1), -EINVAL);
	assert_int_equal(vhu_msg_u64(&m, (enum vhu_request)19, 1), -EINVAL);
	assert_int_equal(vhu_msg_u64(&m, (enum vhu_request)VHU_REQUEST_MAX, 1),
	    -EINVAL);
	assert_int_equal(vhu_msg_u64(&m, (enum vhu_request)1000, 1), -EINVAL);
}

static void test_msg_state(void **state)
{
	static const enum vhu_request ok[] = {
		VHU_SET_VRING_NUM, VHU_SET_VRING_BASE, VHU_GET_VRING_BASE,
		VHU_SET_VRING_ENABLE,
	};
	struct vhu_msg m;

	for (size_t i = 0; i < ARRAY_SIZE(ok); i++) {
		assert_int_equal(vhu_msg_state(&m, ok[i], 3, 0x10100), 0);
		assert_int_equal(m.hdr.request, ok[i]);
		assert_int_equal(m.hdr.flags, 0x1);
		assert_int_equal(m.hdr.size, 8);
		assert_int_equal(m.nr_fds, 0);
		assert_int_equal(rd32(m.payload, 0), 3);
		assert_int_equal(rd32(m.payload, 4), 0x10100);
	}
	assert_int_equal(vhu_msg_state(&m, VHU_SET_FEATURES, 0, 0), -EINVAL);
	assert_int_equal(vhu_msg_state(&m, VHU_SET_VRING_ADDR, 0, 0), -EINVAL);
}

static void test_msg_vring_addr(void **state)
{
	const struct vhu_vring_addr a = {
		.index = 1, .flags = 1,
		.desc = 0x1111111111111111ULL, .used = 0x2222222222222222ULL,
		.avail = 0x3333333333333333ULL, .log = 0x4444444444444444ULL,
	};
	struct vhu_msg m;

	assert_int_equal(vhu_msg_vring_addr(&m, &a), 0);
	assert_int_equal(m.hdr.request, VHU_SET_VRING_ADDR);
	assert_int_equal(m.hdr.size, 40);
	assert_int_equal(m.nr_fds, 0);
	assert_int_equal(rd32(m.payload, 0), 1);
	assert_int_equal(rd32(m.payload, 4), 1);
	assert_true(rd64(m.payload, 8) == a.desc);
	assert_true(rd64(m.payload, 16) == a.used);
	assert_true(rd64(m.payload, 24) == a.avail);
	assert_true(rd64(m.payload, 32) == a.log);
	assert_int_equal(vhu_msg_vring_addr(&m, NULL), -EINVAL);
}

static void test_msg_vring_fd(void **state)
{
	static const enum vhu_request ok[] = {
		VHU_SET_VRING_KICK, VHU_SET_VRING_CALL, VHU_SET_VRING_ERR,
	};
	struct vhu_msg m;

	for (size_t i = 0; i < ARRAY_SIZE(ok); i++) {
		assert_int_equal(vhu_msg_vring_fd(&m, ok[i], 5, 42), 0);
		assert_int_equal(m.hdr.request, ok[i]);
		assert_int_equal(m.hdr.size, 8);
		assert_int_equal(m.nr_fds, 1);
		assert_int_equal(m.fds[0], 42);
		assert_true(rd64(m.payload, 0) == 5);

		assert_int_equal(vhu_msg_vring_fd(&m, ok[i], 5, -1), 0);
		assert_int_equal(m.hdr.size, 8);
		assert_int_equal(m.nr_fds, 0);
		assert_true(rd64(m.payload, 0) == (5 | VHU_VRING_NOFD));
	}
	assert_int_equal(vhu_msg_vring_fd(&m, VHU_SET_VRING_KICK, 255, -1), 0);
	assert_true(rd64(m.payload, 0) == 0x1ff);
	assert_int_equal(vhu_msg_vring_fd(&m, VHU_SET_VRING_KICK, 256, -1),
	    -EINVAL);
	assert_int_equal(vhu_msg_vring_fd(&m, VHU_SET_FEATURES, 0, -1),
	    -EINVAL);
}

static void test_msg_mem_table(void **state)
{
	const struct vhu_mem_region r[2] = {
		{ .guest_addr = 0x40000000, .size = 0x10000000,
		  .user_addr = 0x7f0000000000ULL, .mmap_offset = 0x1000,
		  .xen_mmap_flags = VHU_XEN_MMAP_FOREIGN, .domid = 3 },
		{ .guest_addr = 0x8000000000000000ULL, .size = 0x3000,
		  .user_addr = 0x8000000000000000ULL, .mmap_offset = 0,
		  .xen_mmap_flags = VHU_XEN_MMAP_GRANT, .domid = 3 },
	};
	int fds[VHU_MAX_REGIONS + 1] = { 10, 11, 12, 13, 14, 15, 16, 17, 18 };
	struct vhu_mem_region many[VHU_MAX_REGIONS + 1];
	struct vhu_msg m;

	/* Plain 32-byte regions. */
	assert_int_equal(vhu_msg_mem_table(&m, r, fds, 1, false), 0);
	assert_int_equal(m.hdr.request, VHU_SET_MEM_TABLE);
	assert_int_equal(m.hdr.flags, 1);
	assert_int_equal(m.hdr.size, 8 + 32);
	assert_int_equal(rd32(m.payload, 0), 1);
	assert_int_equal(rd32(m.payload, 4), 0);
	assert_true(rd64(m.payload, 8) == r[0].guest_addr);
	assert_true(rd64(m.payload, 16) == r[0].size);
	assert_true(rd64(m.payload, 24) == r[0].user_addr);
	assert_true(rd64(m.payload, 32) == r[0].mmap_offset);
	assert_int_equal(m.nr_fds, 1);
	assert_int_equal(m.fds[0], 10);

	/* XEN_MMAP: 40-byte regions with flags and domid. */
	assert_int_equal(vhu_msg_mem_table(&m, r, fds, 2, true), 0);
	assert_int_equal(m.hdr.size, 8 + 2 * 40);
	assert_int_equal(rd32(m.payload, 0), 2);
	assert_true(rd64(m.payload, 8) == r[0].guest_addr);
	assert_int_equal(rd32(m.payload, 8 + 32), VHU_XEN_MMAP_FOREIGN);
	assert_int_equal(rd32(m.payload, 8 + 36), 3);
	assert_true(rd64(m.payload, 48) == r[1].guest_addr);
	assert_true(rd64(m.payload, 56) == r[1].size);
	assert_true(rd64(m.payload, 64) == r[1].user_addr);
	assert_true(rd64(m.payload, 72) == r[1].mmap_offset);
	assert_int_equal(rd32(m.payload, 80), VHU_XEN_MMAP_GRANT);
	assert_int_equal(rd32(m.payload, 84), 3);
	assert_int_equal(m.nr_fds, 2);
	assert_int_equal(m.fds[0], 10);
	assert_int_equal(m.fds[1], 11);

	/* Limits: at most VHU_MAX_REGIONS, one valid fd each. */
	for (size_t i = 0; i < ARRAY_SIZE(many); i++)
		many[i] = r[0];
	assert_int_equal(vhu_msg_mem_table(&m, many, fds, VHU_MAX_REGIONS,
	    true), 0);
	assert_int_equal(m.hdr.size, 8 + VHU_MAX_REGIONS * 40);
	assert_int_equal(m.nr_fds, VHU_MAX_REGIONS);
	assert_int_equal(vhu_msg_mem_table(&m, many, fds, VHU_MAX_REGIONS + 1,
	    false), -EINVAL);
	fds[1] = -1;
	assert_int_equal(vhu_msg_mem_table(&m, r, fds, 2, false), -EINVAL);
	assert_int_equal(vhu_msg_mem_table(&m, NULL, fds, 1, false), -EINVAL);

	/* An empty table is legal: header only. */
	assert_int_equal(vhu_msg_mem_table(&m, NULL, NULL, 0, false), 0);
	assert_int_equal(m.hdr.size, 8);
	assert_int_equal(m.nr_fds, 0);
}

static void test_msg_config(void **state)
{
	uint8_t bytes[VHU_CONFIG_MAX + 1];
	uint8_t zero[60] = { 0 };
	struct vhu_msg m;

	for (size_t i = 0; i < sizeof(bytes); i++)
		bytes[i] = (uint8_t)i;

	assert_int_equal(vhu_msg_config(&m, VHU_GET_CONFIG, 0, 60, 0, NULL), 0);
	assert_int_equal(m.hdr.request, VHU_GET_CONFIG);
	assert_int_equal(m.hdr.size, 12 + 60);
	assert_int_equal(m.nr_fds, 0);
	assert_int_equal(rd32(m.payload, 0), 0);
	assert_int_equal(rd32(m.payload, 4), 60);
	assert_int_equal(rd32(m.payload, 8), 0);
	assert_memory_equal(m.payload + 12, zero, 60);

	assert_int_equal(vhu_msg_config(&m, VHU_SET_CONFIG, 20, 4, 1, bytes),
	    0);
	assert_int_equal(m.hdr.request, VHU_SET_CONFIG);
	assert_int_equal(m.hdr.size, 12 + 4);
	assert_int_equal(rd32(m.payload, 0), 20);
	assert_int_equal(rd32(m.payload, 4), 4);
	assert_int_equal(rd32(m.payload, 8), 1);
	assert_memory_equal(m.payload + 12, bytes, 4);

	assert_int_equal(vhu_msg_config(&m, VHU_GET_CONFIG, 0, VHU_CONFIG_MAX,
	    0, NULL), 0);
	assert_int_equal(m.hdr.size, 12 + VHU_CONFIG_MAX);
	assert_int_equal(vhu_msg_config(&m, VHU_GET_CONFIG, 0,
	    VHU_CONFIG_MAX + 1, 0, NULL), -EINVAL);
	assert_int_equal(vhu_msg_config(&m, VHU_GET_CONFIG, 0, 0, 0, NULL),
	    -EINVAL);
	assert_int_equal(vhu_msg_config(&m, VHU_GET_CONFIG, UINT32_MAX, 2, 0,
	    NULL), -EINVAL);
	assert_int_equal(vhu_msg_config(&m, VHU_SET_CONFIG, 0, 4, 0, NULL),
	    -EINVAL);
	assert_int_equal(vhu_msg_config(&m, VHU_SET_FEATURES, 0, 4, 0, bytes),
	    -EINVAL);
}

static void test_msg_inflight(void **state)
{
	const struct vhu_inflight in = {
		.mmap_size = 0x1122334455667788ULL,
		.mmap_offset = 0x99aabbccddeeff00ULL,
		.num_queues = 0x0102, .queue_size = 0x0304, .pad = 0xdeadbeef,
	};
	struct vhu_msg m;

	assert_int_equal(vhu_msg_inflight(&m, VHU_GET_INFLIGHT_FD, &in, -1), 0);
	assert_int_equal(m.hdr.request, VHU_GET_INFLIGHT_FD);
	assert_int_equal(m.hdr.size, 24);
	assert_int_equal(m.nr_fds, 0);
	assert_true(rd64(m.payload, 0) == in.mmap_size);
	assert_true(rd64(m.payload, 8) == in.mmap_offset);
	assert_int_equal(rd16(m.payload, 16), 0x0102);
	assert_int_equal(rd16(m.payload, 18), 0x0304);
	/* The tail padding is zero, whatever the caller's struct held. */
	assert_int_equal(rd32(m.payload, 20), 0);

	assert_int_equal(vhu_msg_inflight(&m, VHU_SET_INFLIGHT_FD, &in, 7), 0);
	assert_int_equal(m.hdr.request, VHU_SET_INFLIGHT_FD);
	assert_int_equal(m.hdr.size, 24);
	assert_int_equal(m.nr_fds, 1);
	assert_int_equal(m.fds[0], 7);

	assert_int_equal(vhu_msg_inflight(&m, VHU_GET_INFLIGHT_FD, &in, 7),
	    -EINVAL);
	assert_int_equal(vhu_msg_inflight(&m, VHU_SET_INFLIGHT_FD, &in, -1),
	    -EINVAL);
	assert_int_equal(vhu_msg_inflight(&m, VHU_SET_INFLIGHT_FD, NULL, 7),
	    -EINVAL);
	assert_int_equal(vhu_msg_inflight(&m, VHU_SET_FEATURES, &in, -1),
	    -EINVAL);
}

static void test_request_table(void **state)
{
	assert_string_equal(vhu_request_name(VHU_GET_FEATURES), "GET_FEATURES");
	assert_string_equal(vhu_request_name(VHU_GET_VRING_BASE),
	    "GET_VRING_BASE");
	assert_string_equal(vhu_request_name(VHU_SET_BACKEND_REQ_FD),
	    "SET_BACKEND_REQ_FD");
	assert_string_equal(vhu_request_name(VHU_GET_STATUS), "GET_STATUS");
	assert_string_equal(vhu_request_name(0), "UNKNOWN");
	assert_string_equal(vhu_request_name(19), "UNKNOWN");
	assert_string_equal(vhu_request_name(VHU_REQUEST_MAX), "UNKNOWN");
	assert_string_equal(vhu_request_name(UINT32_MAX), "UNKNOWN");

	assert_int_equal(vhu_reply_kind(VHU_GET_FEATURES), VHU_REPLY_U64);
	assert_int_equal(vhu_reply_kind(VHU_GET_PROTOCOL_FEATURES),
	    VHU_REPLY_U64);
	assert_int_equal(vhu_reply_kind(VHU_GET_QUEUE_NUM), VHU_REPLY_U64);
	assert_int_equal(vhu_reply_kind(VHU_GET_MAX_MEM_SLOTS), VHU_REPLY_U64);
	assert_int_equal(vhu_reply_kind(VHU_GET_STATUS), VHU_REPLY_U64);
	assert_int_equal(vhu_reply_kind(VHU_GET_VRING_BASE), VHU_REPLY_STATE);
	assert_int_equal(vhu_reply_kind(VHU_GET_CONFIG), VHU_REPLY_CONFIG);
	assert_int_equal(vhu_reply_kind(VHU_GET_INFLIGHT_FD),
	    VHU_REPLY_INFLIGHT);
	assert_int_equal(vhu_reply_kind(VHU_SET_MEM_TABLE), VHU_REPLY_NONE);
	assert_int_equal(vhu_reply_kind(VHU_SET_CONFIG), VHU_REPLY_NONE);
	assert_int_equal(vhu_reply_kind(VHU_SET_VRING_KICK), VHU_REPLY_NONE);
	assert_int_equal(vhu_reply_kind(99), VHU_REPLY_NONE);
}

/* ---------------------------------------------------------------- */
/* vhu_check_reply                                                  */

static void mk_reply(struct vhu_msg *rep, uint32_t request, uint32_t flags,
    uint32_t size)
{
	memset(rep, 0, sizeof(*rep));
	rep->hdr.request = request;
	rep->hdr.flags = flags;
	rep->hdr.size = size;
	for (unsigned i = 0; i < VHU_MAX_FDS; i++)
		rep->fds[i] = -1;
}

/* Expect -EPROTO and a reason. */
static void check_bad(const struct vhu_msg *req, const struct vhu_msg *rep,
    bool ack)
{
	const char *why = NULL;

	assert_int_equal(vhu_check_reply(req, rep, ack, &why), -EPROTO);
	assert_non_null(why);
	assert_true(why[0] != '\0');
}

static void check_good(const struct vhu_msg *req, const struct vhu_msg *rep,
    bool ack)
{
	const char *why = NULL;
	int rc = vhu_check_reply(req, rep, ack, &why);

	if (rc != 0)
		fail_msg("rejected: %s", why ? why : "(no reason)");
}

static void test_check_u64(void **state)
{
	struct vhu_msg req, rep;

	vhu_msg_init(&req, VHU_GET_FEATURES);
	mk_reply(&rep, VHU_GET_FEATURES, FLAGS_REPLY, 8);
	wr64(rep.payload, 0, FAKE_FEATURES);
	check_good(&req, &rep, false);
	assert_true(vhu_reply_u64(&rep) == FAKE_FEATURES);
	/* NEED_REPLY and reserved bits in a reply are tolerated. */
	rep.hdr.flags = FLAGS_REPLY | VHU_FLAG_NEED_REPLY;
	check_good(&req, &rep, false);

	/* Wrong request code echoed. */
	mk_reply(&rep, VHU_GET_PROTOCOL_FEATURES, FLAGS_REPLY, 8);
	check_bad(&req, &rep, false);
	/* REPLY flag missing. */
	mk_reply(&rep, VHU_GET_FEATURES, VHU_FLAG_VERSION, 8);
	check_bad(&req, &rep, false);
	/* Bad versions: 0, 2, 3. */
	for (uint32_t v = 0; v < 4; v++) {
		if (v == 1)
			continue;
		mk_reply(&rep, VHU_GET_FEATURES, v | VHU_FLAG_REPLY, 8);
		check_bad(&req, &rep, false);
	}
	/* Short and long sizes. */
	mk_reply(&rep, VHU_GET_FEATURES, FLAGS_REPLY, 4);
	check_bad(&req, &rep, false);
	mk_reply(&rep, VHU_GET_FEATURES, FLAGS_REPLY, 0);
	check_bad(&req, &rep, false);
	mk_reply(&rep, VHU_GET_FEATURES, FLAGS_REPLY, 16);
	check_bad(&req, &rep, false);
	mk_reply(&rep, VHU_GET_FEATURES, FLAGS_REPLY, VHU_PAYLOAD_MAX + 1);
	check_bad(&req, &rep, false);
	/* fds on a reply that has none. */
	mk_reply(&rep, VHU_GET_FEATURES, FLAGS_REPLY, 8);
	rep.fds[0] = 5;
	rep.nr_fds = 1;
	check_bad(&req, &rep, false);
	rep.nr_fds = VHU_MAX_FDS + 1;
	check_bad(&req, &rep, false);
	/* A NULL why is allowed. */
	assert_int_equal(vhu_check_reply(&req, &rep, false, NULL), -EPROTO);
}

static void test_check_ack(void **state)
{
	struct vhu_msg req, rep;

	vhu_msg_init(&req, VHU_SET_OWNER);
	req.hdr.flags |= VHU_FLAG_NEED_REPLY;
	mk_reply(&rep, VHU_SET_OWNER, FLAGS_REPLY, 8);
	check_good(&req, &rep, true);
	assert_true(vhu_reply_u64(&rep) == 0);
	/* Without NEED_REPLY nothing answers a request of kind NONE. */
	check_bad(&req, &rep, false);
	/* The ack is a u64: exact size. */
	mk_reply(&rep, VHU_SET_OWNER, FLAGS_REPLY, 4);
	check_bad(&req, &rep, true);
	mk_reply(&rep, VHU_SET_OWNER, FLAGS_REPLY, 12);
	check_bad(&req, &rep, true);
	mk_reply(&rep, VHU_SET_FEATURES, FLAGS_REPLY, 8);
	check_bad(&req, &rep, true);
	mk_reply(&rep, VHU_SET_OWNER, FLAGS_REPLY, 8);
	rep.nr_fds = 1;
	rep.fds[0] = 3;
	check_bad(&req, &rep, true);
	/* An unknown request has no row to check against. */
	vhu_msg_init(&req, (enum vhu_request)19);
	mk_reply(&rep, 19, FLAGS_REPLY, 8);
	check_bad(&req, &rep, true);
}

static void test_check_state(void **state)
{
	struct vhu_msg req, rep;

	assert_int_equal(vhu_msg_state(&req, VHU_GET_VRING_BASE, 2, 0), 0);
	mk_reply(&rep, VHU_GET_VRING_BASE, FLAGS_REPLY, 8);
	wr32(rep.payload, 0, 2);
	wr32(rep.payload, 4, 0x1234);
	check_good(&req, &rep, false);
	assert_int_equal(vhu_reply_state_num(&rep), 0x1234);

	/* Wrong echoed index. */
	wr32(rep.payload, 0, 3);
	check_bad(&req, &rep, false);
	/* Short and long. */
	mk_reply(&rep, VHU_GET_VRING_BASE, FLAGS_REPLY, 4);
	wr32(rep.payload, 0, 2);
	check_bad(&req, &rep, false);
	mk_reply(&rep, VHU_GET_VRING_BASE, FLAGS_REPLY, 16);
	wr32(rep.payload, 0, 2);
	check_bad(&req, &rep, false);
	/* fds. */
	mk_reply(&rep, VHU_GET_VRING_BASE, FLAGS_REPLY, 8);
	wr32(rep.payload, 0, 2);
	rep.nr_fds = 2;
	check_bad(&req, &rep, false);
}

static void mk_config_reply(struct vhu_msg *rep, uint32_t offset,
    uint32_t cfg_size, uint32_t hdr_size)
{
	mk_reply(rep, VHU_GET_CONFIG, FLAGS_REPLY, hdr_size);
	wr32(rep->payload, 0, offset);
	wr32(rep->payload, 4, cfg_size);
	wr32(rep->payload, 8, 0);
	for (uint32_t i = 0; i < cfg_size && 12 + i < VHU_PAYLOAD_MAX; i++)
		rep->payload[12 + i] = (uint8_t)(0x40 + i);
}

static void test_check_config(void **state)
{
	struct vhu_msg req, rep;
	uint8_t buf[16];

	assert_int_equal(vhu_msg_config(&req, VHU_GET_CONFIG, 8, 16, 0, NULL),
	    0);
	mk_config_reply(&rep, 8, 16, 12 + 16);
	check_good(&req, &rep, false);
	memset(buf, 0, sizeof(buf));
	vhu_reply_config(&rep, buf, sizeof(buf));
	for (unsigned i = 0; i < sizeof(buf); i++)
		assert_int_equal(buf[i], 0x40 + i);

	/* Offset not echoed. */
	mk_config_reply(&rep, 0, 16, 12 + 16);
	check_bad(&req, &rep, false);
	/* Size field not echoed (hdr.size consistent with our request). */
	mk_config_reply(&rep, 8, 8, 12 + 16);
	check_bad(&req, &rep, false);
	/* Shorter reply, consistent with itself but not with our request. */
	mk_config_reply(&rep, 8, 8, 12 + 8);
	check_bad(&req, &rep, false);
	/* Longer. */
	mk_config_reply(&rep, 8, 16, 12 + 17);
	check_bad(&req, &rep, false);
	/* Shorter than the config header. */
	mk_config_reply(&rep, 8, 16, 8);
	check_bad(&req, &rep, false);
	/* The back-end's failure answers: size 0, either way. */
	mk_config_reply(&rep, 8, 0, 0);
	check_bad(&req, &rep, false);
	mk_config_reply(&rep, 8, 0, 12);
	check_bad(&req, &rep, false);
	mk_config_reply(&rep, 8, 0, 12 + 16);
	check_bad(&req, &rep, false);
	/* fds. */
	mk_config_reply(&rep, 8, 16, 12 + 16);
	rep.nr_fds = 1;
	check_bad(&req, &rep, false);
}

static void test_check_inflight(void **state)
{
	const struct vhu_inflight in = { .num_queues = 2, .queue_size = 128 };
	struct vhu_inflight out;
	struct vhu_msg req, rep;

	assert_int_equal(vhu_msg_inflight(&req, VHU_GET_INFLIGHT_FD, &in, -1),
	    0);
	mk_reply(&rep, VHU_GET_INFLIGHT_FD, FLAGS_REPLY, 24);
	wr64(rep.payload, 0, 8192);
	wr64(rep.payload, 8, 4096);
	wr16(rep.payload, 16, 2);
	wr16(rep.payload, 18, 128);
	rep.fds[0] = 9;
	rep.nr_fds = 1;
	check_good(&req, &rep, false);
	vhu_reply_inflight(&rep, &out);
	assert_true(out.mmap_size == 8192);
	assert_true(out.mmap_offset == 4096);
	assert_int_equal(out.num_queues, 2);
	assert_int_equal(out.queue_size, 128);

	/* Without an fd, with two. */
	rep.nr_fds = 0;
	check_bad(&req, &rep, false);
	rep.nr_fds = 2;
	check_bad(&req, &rep, false);
	/* Size. */
	rep.nr_fds = 1;
	rep.hdr.size = 20;
	check_bad(&req, &rep, false);
	rep.hdr.size = 32;
	check_bad(&req, &rep, false);
}

/* ---------------------------------------------------------------- */
/* Fake back-end (runs in a forked child)                           */

#define FB_FAIL(...)							\
	do {								\
		fprintf(stderr, "fake back-end %s:%d: ", __FILE__,	\
		    __LINE__);						\
		fprintf(stderr, __VA_ARGS__);				\
		fputc('\n', stderr);					\
		_exit(1);						\
	} while (0)

#define FB_CHECK(cond)							\
	do {								\
		if (!(cond))						\
			FB_FAIL("check failed: %s", #cond);		\
	} while (0)

#define FB_EQ(a, b)							\
	do {								\
		unsigned long long a_ = (unsigned long long)(a);	\
		unsigned long long b_ = (unsigned long long)(b);	\
		if (a_ != b_)						\
			FB_FAIL("%s == %#llx, expected %s == %#llx",	\
			    #a, a_, #b, b_);				\
	} while (0)

typedef void fb_fn(int fd, intptr_t arg);

/* One read with fds collected into @m. Returns bytes (0 at EOF). */
static size_t fb_read_some(int fd, void *buf, size_t len, struct vhu_msg *m)
{
	union {
		char b[CMSG_SPACE(sizeof(int) * 16)];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	struct msghdr mh = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = ctl.b, .msg_controllen = sizeof(ctl.b),
	};
	struct cmsghdr *cmsg;
	ssize_t n;

	do
		n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0 && errno == ECONNRESET)
		return 0;
	FB_CHECK(n >= 0);
	FB_CHECK((mh.msg_flags & MSG_CTRUNC) == 0);
	for (cmsg = CMSG_FIRSTHDR(&mh); cmsg; cmsg = CMSG_NXTHDR(&mh, cmsg)) {
		size_t nfd = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);

		FB_CHECK(cmsg->cmsg_type == SCM_RIGHTS);
		for (size_t i = 0; i < nfd; i++) {
			FB_CHECK(m->nr_fds < VHU_MAX_FDS);
			memcpy(&m->fds[m->nr_fds++],
			    CMSG_DATA(cmsg) + i * sizeof(int), sizeof(int));
		}
	}
	return (size_t)n;
}

/* Read one request; false at EOF before its first byte. */
static bool fb_recv(int fd, struct vhu_msg *m)
{
	size_t got = 0, n;

	m->nr_fds = 0;
	while (got < VHU_HDR_LEN) {
		n = fb_read_some(fd, (uint8_t *)&m->hdr + got,
		    VHU_HDR_LEN - got, m);
		if (n == 0) {
			FB_CHECK(got == 0);
			return false;
		}
		got += n;
	}
	FB_CHECK(m->hdr.size <= VHU_PAYLOAD_MAX);
	for (got = 0; got < m->hdr.size; got += n) {
		n = fb_read_some(fd, m->payload + got, m->hdr.size - got, m);
		FB_CHECK(n > 0);
	}
	return true;
}

static void fb_expect(int fd, struct vhu_msg *m, uint32_t request,
    uint32_t flags, uint32_t size, unsigned nr_fds)
{
	if (!fb_recv(fd, m))
		FB_FAIL("EOF, expected %s", vhu_request_name(request));
	FB_EQ(m->hdr.request, request);
	FB_EQ(m->hdr.flags, flags);
	FB_EQ(m->hdr.size, size);
	FB_EQ(m->nr_fds, nr_fds);
}

/* The front-end sends nothing more and closes. */
static void fb_expect_eof(int fd)
{
	struct vhu_msg m;

	if (fb_recv(fd, &m))
		FB_FAIL("got %s after the connection should be dead",
		    vhu_request_name(m.hdr.request));
}

static void fb_send(int fd, uint32_t request, uint32_t flags,
    const void *payload, uint32_t len, uint32_t hdr_size, const int *fds,
    unsigned nr_fds)
{
	union {
		char b[CMSG_SPACE(sizeof(int) * 16)];
		struct cmsghdr align;
	} ctl;
	struct vhu_hdr hdr = {
		.request = request, .flags = flags, .size = hdr_size,
	};
	struct iovec iov[2] = {
		{ .iov_base = &hdr, .iov_len = sizeof(hdr) },
		{ .iov_base = (void *)(uintptr_t)payload, .iov_len = len },
	};
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = len ? 2 : 1 };
	ssize_t n;

	FB_CHECK(nr_fds <= 16);
	if (nr_fds > 0) {
		struct cmsghdr *cmsg;

		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.b;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nr_fds);
		cmsg = CMSG_FIRSTHDR(&mh);
		cmsg->cmsg_level = SOL_SOCKET;
		cmsg->cmsg_type = SCM_RIGHTS;
		cmsg->cmsg_len = CMSG_LEN(sizeof(int) * nr_fds);
		memcpy(CMSG_DATA(cmsg), fds, sizeof(int) * nr_fds);
	}
	n = sendmsg(fd, &mh, MSG_NOSIGNAL);
	FB_EQ(n, sizeof(hdr) + len);
}

static void fb_reply(int fd, uint32_t request, const void *payload,
    uint32_t len, const int *fds, unsigned nr_fds)
{
	fb_send(fd, request, FLAGS_REPLY, payload, len, len, fds, nr_fds);
}

static void fb_reply_u64(int fd, uint32_t request, uint64_t v)
{
	fb_reply(fd, request, &v, sizeof(v), NULL, 0);
}

static void fb_write_all(int fd, const void *buf, size_t len)
{
	FB_EQ(send(fd, buf, len, MSG_NOSIGNAL), len);
}

/* Fork a fake back-end running @fn; returns the front-end's socket. */
static int fake_start(fb_fn *fn, intptr_t arg, pid_t *pid)
{
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
	    sv), 0);
	fflush(stdout);
	fflush(stderr);
	*pid = fork();
	assert_true(*pid >= 0);
	if (*pid == 0) {
		close(sv[0]);
		alarm(10);
		fn(sv[1], arg);
		_exit(0);
	}
	close(sv[1]);
	return sv[0];
}

static void fake_finish(pid_t pid)
{
	int status;

	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail_msg("fake back-end failed (status %#x)", status);
}

static struct vhu_client *fake_client(fb_fn *fn, intptr_t arg,
    int reply_timeout_ms, pid_t *pid)
{
	struct vhu_client *c = NULL;
	int fd = fake_start(fn, arg, pid);

	assert_int_equal(vhu_client_from_fd(fd, "dom3 blk0", reply_timeout_ms,
	    &c), 0);
	assert_non_null(c);
	assert_int_equal(vhu_client_fd(c), fd);
	assert_string_equal(vhu_client_name(c), "dom3 blk0");
	assert_false(vhu_client_broken(c));
	return c;
}

/* ---------------------------------------------------------------- */
/* Client against the fake                                          */

static const uint8_t cfg_bytes[16] = "0123456789abcdef";

static void fb_happy(int fd, intptr_t arg)
{
	struct vhu_msg m;
	struct vhu_inflight inf;
	uint8_t buf[24];
	char marker[sizeof(GUEST_MARKER)];
	uint64_t one = 1;
	int ifd;

	fb_expect(fd, &m, VHU_GET_FEATURES, FLAGS_REQ, 0, 0);
	fb_reply_u64(fd, VHU_GET_FEATURES, FAKE_FEATURES);

	fb_expect(fd, &m, VHU_GET_PROTOCOL_FEATURES, FLAGS_REQ, 0, 0);
	fb_reply_u64(fd, VHU_GET_PROTOCOL_FEATURES, FAKE_PROTO);

	/* REPLY_ACK is not in effect until this one has gone out. */
	fb_expect(fd, &m, VHU_SET_PROTOCOL_FEATURES, FLAGS_REQ, 8, 0);
	FB_EQ(rd64(m.payload, 0), FAKE_PROTO_SET);

	fb_expect(fd, &m, VHU_SET_OWNER, FLAGS_REQ_ACK, 0, 0);
	fb_reply_u64(fd, VHU_SET_OWNER, 0);

	fb_expect(fd, &m, VHU_SET_FEATURES, FLAGS_REQ_ACK, 8, 0);
	FB_EQ(rd64(m.payload, 0),
	    BIT(F_VERSION_1) | BIT(VHU_F_PROTOCOL_FEATURES));
	fb_reply_u64(fd, VHU_SET_FEATURES, 0);

	/* One 32-byte region and its memfd. */
	fb_expect(fd, &m, VHU_SET_MEM_TABLE, FLAGS_REQ_ACK, 8 + 32, 1);
	FB_EQ(rd32(m.payload, 0), 1);
	FB_EQ(rd32(m.payload, 4), 0);
	FB_EQ(rd64(m.payload, 8), 0x40000000);
	FB_EQ(rd64(m.payload, 16), 4096);
	FB_EQ(rd64(m.payload, 24), 0x40000000);
	FB_EQ(rd64(m.payload, 32), 0);
	FB_EQ(pread(m.fds[0], marker, sizeof(marker), 0), sizeof(marker));
	FB_CHECK(memcmp(marker, GUEST_MARKER, sizeof(marker)) == 0);
	close(m.fds[0]);
	fb_reply_u64(fd, VHU_SET_MEM_TABLE, 0);

	fb_expect(fd, &m, VHU_SET_VRING_NUM, FLAGS_REQ_ACK, 8, 0);
	FB_EQ(rd32(m.payload, 0), 0);
	FB_EQ(rd32(m.payload, 4), 256);
	fb_reply_u64(fd, VHU_SET_VRING_NUM, 0);

	fb_expect(fd, &m, VHU_SET_VRING_BASE, FLAGS_REQ_ACK, 8, 0);
	FB_EQ(rd32(m.payload, 0), 0);
	FB_EQ(rd32(m.payload, 4), 0);
	fb_reply_u64(fd, VHU_SET_VRING_BASE, 0);

	fb_expect(fd, &m, VHU_SET_VRING_ADDR, FLAGS_REQ_ACK, 40, 0);
	FB_EQ(rd32(m.payload, 0), 0);
	FB_EQ(rd32(m.payload, 4), 0);
	FB_EQ(rd64(m.payload, 8), 0x40000000);
	FB_EQ(rd64(m.payload, 16), 0x40002000);
	FB_EQ(rd64(m.payload, 24), 0x40001000);
	FB_EQ(rd64(m.payload, 32), 0);
	fb_reply_u64(fd, VHU_SET_VRING_ADDR, 0);

	fb_expect(fd, &m, VHU_SET_VRING_KICK, FLAGS_REQ_ACK, 8, 1);
	FB_EQ(rd64(m.payload, 0), 0);
	/* It is the front-end's eventfd: usable from here. */
	FB_EQ(write(m.fds[0], &one, sizeof(one)), sizeof(one));
	close(m.fds[0]);
	fb_reply_u64(fd, VHU_SET_VRING_KICK, 0);

	fb_expect(fd, &m, VHU_SET_VRING_CALL, FLAGS_REQ_ACK, 8, 0);
	FB_EQ(rd64(m.payload, 0), VHU_VRING_NOFD);
	fb_reply_u64(fd, VHU_SET_VRING_CALL, 0);

	fb_expect(fd, &m, VHU_SET_VRING_ENABLE, FLAGS_REQ_ACK, 8, 0);
	FB_EQ(rd32(m.payload, 0), 0);
	FB_EQ(rd32(m.payload, 4), 1);
	fb_reply_u64(fd, VHU_SET_VRING_ENABLE, 0);

	/* Natural replies never carry NEED_REPLY. */
	fb_expect(fd, &m, VHU_GET_VRING_BASE, FLAGS_REQ, 8, 0);
	FB_EQ(rd32(m.payload, 0), 0);
	wr32(buf, 0, 0);
	wr32(buf, 4, 42);
	fb_reply(fd, VHU_GET_VRING_BASE, buf, 8, NULL, 0);

	fb_expect(fd, &m, VHU_GET_CONFIG, FLAGS_REQ, 12 + 16, 0);
	FB_EQ(rd32(m.payload, 0), 0);
	FB_EQ(rd32(m.payload, 4), 16);
	FB_EQ(rd32(m.payload, 8), 0);
	memcpy(m.payload + 12, cfg_bytes, 16);
	fb_reply(fd, VHU_GET_CONFIG, m.payload, 12 + 16, NULL, 0);

	fb_expect(fd, &m, VHU_SET_CONFIG, FLAGS_REQ_ACK, 12 + 4, 0);
	FB_EQ(rd32(m.payload, 0), 20);
	FB_EQ(rd32(m.payload, 4), 4);
	FB_EQ(rd32(m.payload, 8), 0);
	FB_CHECK(memcmp(m.payload + 12, "wxyz", 4) == 0);
	fb_reply_u64(fd, VHU_SET_CONFIG, 0);

	fb_expect(fd, &m, VHU_GET_INFLIGHT_FD, FLAGS_REQ, 24, 0);
	FB_EQ(rd16(m.payload, 16), 1);
	FB_EQ(rd16(m.payload, 18), 256);
	ifd = memfd_create("inflight", MFD_CLOEXEC);
	FB_CHECK(ifd >= 0);
	FB_EQ(ftruncate(ifd, 4096), 0);
	memset(&inf, 0, sizeof(inf));
	memset(buf, 0, sizeof(buf));
	wr64(buf, 0, 4096);
	wr64(buf, 8, 0);
	wr16(buf, 16, 1);
	wr16(buf, 18, 256);
	fb_reply(fd, VHU_GET_INFLIGHT_FD, buf, 24, &ifd, 1);
	close(ifd);

	fb_expect(fd, &m, VHU_SET_INFLIGHT_FD, FLAGS_REQ_ACK, 24, 1);
	FB_EQ(rd64(m.payload, 0), 4096);
	FB_EQ(rd16(m.payload, 16), 1);
	FB_EQ(rd16(m.payload, 18), 256);
	close(m.fds[0]);
	fb_reply_u64(fd, VHU_SET_INFLIGHT_FD, 0);

	/* A failed ack: the request fails, the connection stays. */
	fb_expect(fd, &m, VHU_SET_VRING_ERR, FLAGS_REQ_ACK, 8, 0);
	FB_EQ(rd64(m.payload, 0), VHU_VRING_NOFD | 1);
	fb_reply_u64(fd, VHU_SET_VRING_ERR, 1);

	fb_expect(fd, &m, VHU_GET_QUEUE_NUM, FLAGS_REQ, 0, 0);
	fb_reply_u64(fd, VHU_GET_QUEUE_NUM, 1);

	fb_expect(fd, &m, VHU_RESET_DEVICE, FLAGS_REQ_ACK, 0, 0);
	fb_reply_u64(fd, VHU_RESET_DEVICE, 0);

	fb_expect_eof(fd);
}

static void test_client_happy(void **state)
{
	const struct vhu_mem_region r = {
		.guest_addr = 0x40000000, .size = 4096,
		.user_addr = 0x40000000, .mmap_offset = 0,
	};
	const struct vhu_vring_addr a = {
		.index = 0, .desc = 0x40000000, .avail = 0x40001000,
		.used = 0x40002000,
	};
	struct vhu_inflight inf;
	struct vhu_client *c;
	uint64_t f, pf, nr;
	uint32_t base;
	uint8_t cfg[16];
	uint64_t kicks;
	struct stat st;
	int mfd, efd, ifd, fds_before;
	pid_t pid;

	mfd = memfd_create("guest", MFD_CLOEXEC);
	assert_true(mfd >= 0);
	assert_int_equal(ftruncate(mfd, 4096), 0);
	assert_int_equal(pwrite(mfd, GUEST_MARKER, sizeof(GUEST_MARKER), 0),
	    sizeof(GUEST_MARKER));
	efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	assert_true(efd >= 0);

	c = fake_client(fb_happy, 0, 2000, &pid);
	fds_before = count_fds();

	assert_int_equal(vhu_get_features(c, &f), 0);
	assert_true(f == FAKE_FEATURES);
	assert_int_equal(vhu_get_protocol_features(c, &pf), 0);
	assert_true(pf == FAKE_PROTO);
	assert_true(vhu_client_protocol_features(c) == 0);
	assert_int_equal(vhu_set_protocol_features(c, pf & FAKE_PROTO_SET), 0);
	assert_true(vhu_client_protocol_features(c) == FAKE_PROTO_SET);
	assert_int_equal(vhu_set_owner(c), 0);
	assert_int_equal(vhu_set_features(c, BIT(F_VERSION_1) |
	    BIT(VHU_F_PROTOCOL_FEATURES)), 0);
	assert_int_equal(vhu_set_mem_table(c, &r, &mfd, 1), 0);
	assert_int_equal(vhu_set_vring_num(c, 0, 256), 0);
	assert_int_equal(vhu_set_vring_base(c, 0, 0), 0);
	assert_int_equal(vhu_set_vring_addr(c, &a), 0);
	assert_int_equal(vhu_set_vring_kick(c, 0, efd), 0);
	/* The fake wrote to our eventfd before acking. */
	assert_int_equal(read(efd, &kicks, sizeof(kicks)), sizeof(kicks));
	assert_true(kicks == 1);
	assert_int_equal(vhu_set_vring_call(c, 0, -1), 0);
	assert_int_equal(vhu_set_vring_enable(c, 0, true), 0);
	assert_int_equal(vhu_get_vring_base(c, 0, &base), 0);
	assert_int_equal(base, 42);
	assert_int_equal(vhu_get_config(c, 0, sizeof(cfg), cfg), 0);
	assert_memory_equal(cfg, cfg_bytes, sizeof(cfg));
	assert_int_equal(vhu_set_config(c, 20, 4, "wxyz"), 0);

	assert_int_equal(vhu_get_inflight_fd(c, 1, 256, &inf, &ifd), 0);
	assert_true(ifd >= 0);
	assert_true(inf.mmap_size == 4096);
	assert_true(inf.mmap_offset == 0);
	assert_int_equal(inf.num_queues, 1);
	assert_int_equal(inf.queue_size, 256);
	assert_int_equal(fstat(ifd, &st), 0);
	assert_int_equal(st.st_size, 4096);
	/* The one new fd is the inflight fd, and it is close-on-exec. */
	assert_int_equal(count_fds(), fds_before + 1);
	assert_true(fcntl(ifd, F_GETFD) & FD_CLOEXEC);
	assert_int_equal(vhu_set_inflight_fd(c, &inf, ifd), 0);
	close(ifd);

	assert_int_equal(vhu_set_vring_err(c, 1, -1), -EIO);
	assert_false(vhu_client_broken(c));
	assert_int_equal(vhu_get_queue_num(c, &nr), 0);
	assert_true(nr == 1);
	assert_int_equal(vhu_reset_device(c), 0);
	assert_false(vhu_client_broken(c));
	assert_int_equal(count_fds(), fds_before);

	vhu_client_close(c);
	fake_finish(pid);
	close(mfd);
	close(efd);
}

/* Without REPLY_ACK, requests without a natural reply are not waited on. */
static void fb_no_ack(int fd, intptr_t arg)
{
	struct vhu_msg m;

	fb_expect(fd, &m, VHU_GET_PROTOCOL_FEATURES, FLAGS_REQ, 0, 0);
	fb_reply_u64(fd, VHU_GET_PROTOCOL_FEATURES, BIT(VHU_PROTOCOL_F_MQ));
	fb_expect(fd, &m, VHU_SET_PROTOCOL_FEATURES, FLAGS_REQ, 8, 0);
	FB_EQ(rd64(m.payload, 0), BIT(VHU_PROTOCOL_F_MQ));
	fb_expect(fd, &m, VHU_SET_OWNER, FLAGS_REQ, 0, 0);
	fb_expect(fd, &m, VHU_SET_VRING_CALL, FLAGS_REQ, 8, 0);
	FB_EQ(rd64(m.payload, 0), 3 | VHU_VRING_NOFD);
	fb_expect(fd, &m, VHU_GET_QUEUE_NUM, FLAGS_REQ, 0, 0);
	fb_reply_u64(fd, VHU_GET_QUEUE_NUM, 2);
	fb_expect_eof(fd);
}

static void test_client_no_ack(void **state)
{
	struct vhu_client *c;
	uint64_t pf, nr;
	pid_t pid;

	c = fake_client(fb_no_ack, 0, 2000, &pid);
	assert_int_equal(vhu_get_protocol_features(c, &pf), 0);
	/* Not offered: refused before anything is sent. */
	assert_int_equal(vhu_set_protocol_features(c,
	    BIT(VHU_PROTOCOL_F_REPLY_ACK)), -EINVAL);
	assert_false(vhu_client_broken(c));
	assert_int_equal(vhu_set_protocol_features(c, pf), 0);
	assert_int_equal(vhu_set_owner(c), 0);
	assert_int_equal(vhu_set_vring_call(c, 3, -1), 0);
	/* Bad arguments fail locally and break nothing. */
	assert_int_equal(vhu_set_vring_kick(c, 300, -1), -EINVAL);
	assert_int_equal(vhu_get_config(c, 0, VHU_CONFIG_MAX + 1, &nr),
	    -EINVAL);
	assert_false(vhu_client_broken(c));
	assert_int_equal(vhu_get_queue_num(c, &nr), 0);
	assert_true(nr == 2);
	vhu_client_close(c);
	fake_finish(pid);
}

/* GET_VRING_BASE answered with a 4-byte payload. */
static void fb_short_state(int fd, intptr_t arg)
{
	struct vhu_msg m;
	uint32_t idx = 0;

	fb_expect(fd, &m, VHU_GET_VRING_BASE, FLAGS_REQ, 8, 0);
	fb_reply(fd, VHU_GET_VRING_BASE, &idx, sizeof(idx), NULL, 0);
	fb_expect_eof(fd);
}

static void test_client_malformed(void **state)
{
	struct vhu_client *c;
	uint32_t base = 77;
	uint64_t f;
	pid_t pid;

	c = fake_client(fb_short_state, 0, 2000, &pid);
	assert_int_equal(vhu_get_vring_base(c, 0, &base), -EPROTO);
	assert_int_equal(base, 77);
	assert_true(vhu_client_broken(c));
	/* Later calls fail at once, without touching the socket. */
	assert_int_equal(vhu_get_features(c, &f), -EPIPE);
	assert_int_equal(vhu_set_owner(c), -EPIPE);
	assert_int_equal(vhu_set_vring_call(c, 0, -1), -EPIPE);
	vhu_client_close(c);
	fake_finish(pid);
}

/* A header announcing more payload than we accept. */
static void fb_huge(int fd, intptr_t arg)
{
	struct vhu_msg m;

	fb_expect(fd, &m, VHU_GET_FEATURES, FLAGS_REQ, 0, 0);
	fb_send(fd, VHU_GET_FEATURES, FLAGS_REPLY, NULL, 0,
	    VHU_PAYLOAD_MAX + 1, NULL, 0);
	fb_expect_eof(fd);
}

static void test_client_huge(void **state)
{
	struct vhu_client *c;
	uint64_t t0, f;
	pid_t pid;

	c = fake_client(fb_huge, 0, 2000, &pid);
	t0 = now_ms();
	assert_int_equal(vhu_get_features(c, &f), -EPROTO);
	/* Rejected from the header, not after waiting for the payload. */
	assert_true(now_ms() - t0 < 1000);
	assert_true(vhu_client_broken(c));
	vhu_client_close(c);
	fake_finish(pid);
}

/*
 * Replies carrying fds they should not. arg selects the case:
 * 0: GET_FEATURES + 3 fds; 1: GET_FEATURES + 12 fds (MSG_CTRUNC);
 * 2: GET_INFLIGHT_FD + 2 fds; 3: GET_VRING_BASE, bad index + 1 fd;
 * 4: ack + 1 fd.
 */
static void fb_extra_fds(int fd, intptr_t arg)
{
	int fds[12];
	uint8_t buf[24] = { 0 };
	struct vhu_msg m;
	unsigned nr = arg == 1 ? 12 : arg == 0 ? 3 : arg == 2 ? 2 : 1;

	for (unsigned i = 0; i < nr; i++) {
		fds[i] = eventfd(0, EFD_CLOEXEC);
		FB_CHECK(fds[i] >= 0);
	}
	switch (arg) {
	case 0:
	case 1:
		fb_expect(fd, &m, VHU_GET_FEATURES, FLAGS_REQ, 0, 0);
		wr64(buf, 0, 1);
		fb_reply(fd, VHU_GET_FEATURES, buf, 8, fds, nr);
		break;
	case 2:
		fb_expect(fd, &m, VHU_GET_INFLIGHT_FD, FLAGS_REQ, 24, 0);
		wr64(buf, 0, 4096);
		fb_reply(fd, VHU_GET_INFLIGHT_FD, buf, 24, fds, nr);
		break;
	case 3:
		fb_expect(fd, &m, VHU_GET_VRING_BASE, FLAGS_REQ, 8, 0);
		wr32(buf, 0, 1);
		fb_reply(fd, VHU_GET_VRING_BASE, buf, 8, fds, nr);
		break;
	case 4:
		fb_expect(fd, &m, VHU_GET_PROTOCOL_FEATURES, FLAGS_REQ, 0, 0);
		fb_reply_u64(fd, VHU_GET_PROTOCOL_FEATURES,
		    BIT(VHU_PROTOCOL_F_REPLY_ACK));
		fb_expect(fd, &m, VHU_SET_PROTOCOL_FEATURES, FLAGS_REQ, 8, 0);
		fb_expect(fd, &m, VHU_SET_OWNER, FLAGS_REQ_ACK, 0, 0);
		fb_reply(fd, VHU_SET_OWNER, buf, 8, fds, nr);
		break;
	}
	for (unsigned i = 0; i < nr; i++)
		close(fds[i]);
	fb_expect_eof(fd);
}

static void test_client_fd_leak(void **state)
{
	for (intptr_t arg = 0; arg <= 4; arg++) {
		struct vhu_inflight inf;
		struct vhu_client *c;
		uint64_t v;
		uint32_t base;
		int before, ifd = 123, rc = 0;
		pid_t pid;

		c = fake_client(fb_extra_fds, arg, 2000, &pid);
		before = count_fds();
		switch (arg) {
		case 0:
		case 1:
			rc = vhu_get_features(c, &v);
			break;
		case 2:
			rc = vhu_get_inflight_fd(c, 1, 64, &inf, &ifd);
			assert_int_equal(ifd, -1);
			break;
		case 3:
			rc = vhu_get_vring_base(c, 0, &base);
			break;
		case 4:
			assert_int_equal(vhu_get_protocol_features(c, &v), 0);
			assert_int_equal(vhu_set_protocol_features(c, v), 0);
			rc = vhu_set_owner(c);
			break;
		}
		assert_int_equal(rc, -EPROTO);
		assert_true(vhu_client_broken(c));
		assert_int_equal(count_fds(), before);
		vhu_client_close(c);
		fake_finish(pid);
	}
}

/* Reads the request, never answers, waits for the front-end to go. */
static void fb_silent(int fd, intptr_t arg)
{
	struct vhu_msg m;

	fb_expect(fd, &m, VHU_GET_FEATURES, FLAGS_REQ, 0, 0);
	fb_expect_eof(fd);
}

static void test_client_timeout(void **state)
{
	struct vhu_client *c;
	uint64_t t0, dt, f;
	pid_t pid;

	c = fake_client(fb_silent, 0, 200, &pid);
	t0 = now_ms();
	assert_int_equal(vhu_get_features(c, &f), -ETIMEDOUT);
	dt = now_ms() - t0;
	assert_true(dt >= 195);
	assert_true(dt < 1500);
	assert_true(vhu_client_broken(c));
	assert_int_equal(vhu_get_features(c, &f), -EPIPE);
	vhu_client_close(c);
	fake_finish(pid);
}

/* arg 0: EOF instead of a reply; 1: EOF in the middle of the payload. */
static void fb_eof(int fd, intptr_t arg)
{
	struct vhu_msg m;
	struct vhu_hdr h = {
		.request = VHU_GET_FEATURES, .flags = FLAGS_REPLY, .size = 8,
	};
	uint8_t buf[VHU_HDR_LEN + 4] = { 0 };

	fb_expect(fd, &m, VHU_GET_FEATURES, FLAGS_REQ, 0, 0);
	if (arg == 1) {
		memcpy(buf, &h, sizeof(h));
		fb_write_all(fd, buf, sizeof(buf));
	}
	close(fd);
}

static void test_client_eof(void **state)
{
	for (intptr_t arg = 0; arg <= 1; arg++) {
		struct vhu_client *c;
		uint64_t f = 5;
		pid_t pid;

		c = fake_client(fb_eof, arg, 2000, &pid);
		assert_int_equal(vhu_get_features(c, &f), -EPIPE);
		assert_true(f == 5);
		assert_true(vhu_client_broken(c));
		assert_int_equal(vhu_get_features(c, &f), -EPIPE);
		vhu_client_close(c);
		fake_finish(pid);
	}
}

/* A peer that is already gone when we send. */
static void fb_gone(int fd, intptr_t arg)
{
	close(fd);
}

static void test_client_send_epipe(void **state)
{
	struct vhu_client *c;
	pid_t pid;

	c = fake_client(fb_gone, 0, 2000, &pid);
	fake_finish(pid);
	/* No SIGPIPE (MSG_NOSIGNAL): just -EPIPE, and broken. */
	assert_int_equal(vhu_set_owner(c), -EPIPE);
	assert_true(vhu_client_broken(c));
	vhu_client_close(c);
}

/* The back-end stops reading: our send must not block forever. */
static void test_client_send_timeout(void **state)
{
	static const uint8_t junk[4096];
	const struct vhu_mem_region r = { .guest_addr = 0, .size = 4096 };
	struct vhu_client *c;
	int sv[2], sndbuf = 4096;
	uint64_t t0, dt;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
	    sv), 0);
	assert_int_equal(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf,
	    sizeof(sndbuf)), 0);
	while (send(sv[0], junk, sizeof(junk), MSG_DONTWAIT | MSG_NOSIGNAL) > 0)
		;
	assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
	assert_int_equal(vhu_client_from_fd(sv[0], "dom3 blk0", 200, &c), 0);
	t0 = now_ms();
	assert_int_equal(vhu_set_mem_table(c, &r, &sv[1], 1), -ETIMEDOUT);
	dt = now_ms() - t0;
	assert_true(dt >= 195);
	assert_true(dt < 1500);
	assert_true(vhu_client_broken(c));
	vhu_client_close(c);
	close(sv[1]);
}

/* The reply arrives in pieces: header split, payload separate. */
static void fb_split(int fd, intptr_t arg)
{
	struct vhu_msg m;
	struct vhu_hdr h = {
		.request = VHU_GET_FEATURES, .flags = FLAGS_REPLY, .size = 8,
	};
	uint8_t buf[VHU_HDR_LEN + 8];
	uint64_t v = FAKE_FEATURES;

	memcpy(buf, &h, sizeof(h));
	memcpy(buf + VHU_HDR_LEN, &v, sizeof(v));
	fb_expect(fd, &m, VHU_GET_FEATURES, FLAGS_REQ, 0, 0);
	fb_write_all(fd, buf, 5);
	sleep_ms(30);
	fb_write_all(fd, buf + 5, VHU_HDR_LEN - 5 + 3);
	sleep_ms(30);
	fb_write_all(fd, buf + VHU_HDR_LEN + 3, 5);
	fb_expect_eof(fd);
}

static void test_client_split(void **state)
{
	struct vhu_client *c;
	uint64_t f;
	pid_t pid;

	c = fake_client(fb_split, 0, 2000, &pid);
	assert_int_equal(vhu_get_features(c, &f), 0);
	assert_true(f == FAKE_FEATURES);
	assert_false(vhu_client_broken(c));
	vhu_client_close(c);
	fake_finish(pid);
}

static void test_client_from_fd_args(void **state)
{
	struct vhu_client *c = (struct vhu_client *)&c;
	int before = count_fds();
	int fd = eventfd(0, EFD_CLOEXEC);

	assert_true(fd >= 0);
	/* Ownership is taken even on failure: the fd is closed. */
	assert_int_equal(vhu_client_from_fd(fd, "x", 0, &c), -EINVAL);
	assert_null(c);
	assert_int_equal(count_fds(), before);
	assert_int_equal(vhu_client_from_fd(-1, "x", 100, &c), -EINVAL);
	vhu_client_close(NULL);
}

/* ---------------------------------------------------------------- */
/* Connect                                                          */

struct tmpdir {
	char dir[64];
	char sock[128];
};

static void tmpdir_make(struct tmpdir *t)
{
	snprintf(t->dir, sizeof(t->dir), "/tmp/test_vhu.XXXXXX");
	assert_non_null(mkdtemp(t->dir));
	snprintf(t->sock, sizeof(t->sock), "%s/blk.sock", t->dir);
}

static void tmpdir_remove(struct tmpdir *t)
{
	unlink(t->sock);
	rmdir(t->dir);
}

static int listen_on(const char *path, bool do_listen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (s < 0)
		return -1;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (bind(s, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    (do_listen && listen(s, 1) < 0)) {
		close(s);
		return -1;
	}
	return s;
}

static void test_connect_errors(void **state)
{
	char longpath[200];
	struct vhu_client *c = NULL;
	struct tmpdir t;
	uint64_t t0, dt;
	int s, before = count_fds();

	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[0] = '/';
	longpath[sizeof(longpath) - 1] = '\0';
	assert_int_equal(vhu_client_connect(longpath, "x", 0, 100, &c),
	    -ENAMETOOLONG);
	assert_int_equal(vhu_client_connect("", "x", 0, 100, &c), -EINVAL);
	assert_int_equal(vhu_client_connect("/x", "x", -1, 100, &c), -EINVAL);

	tmpdir_make(&t);
	/* Nothing there, try once. */
	t0 = now_ms();
	assert_int_equal(vhu_client_connect(t.sock, "x", 0, 100, &c), -ENOENT);
	assert_true(now_ms() - t0 < 100);
	/* Nothing there, retried for 300 ms. */
	t0 = now_ms();
	assert_int_equal(vhu_client_connect(t.sock, "x", 300, 100, &c),
	    -ENOENT);
	dt = now_ms() - t0;
	assert_true(dt >= 295);
	assert_true(dt < 1500);
	assert_null(c);
	/* Bound but not listening. */
	s = listen_on(t.sock, false);
	assert_true(s >= 0);
	assert_int_equal(vhu_client_connect(t.sock, "x", 0, 100, &c),
	    -ECONNREFUSED);
	close(s);
	tmpdir_remove(&t);
	assert_int_equal(count_fds(), before);
}

/* Starts listening late, then serves GET_FEATURES. */
static void fb_late_listener(int unused, intptr_t arg)
{
	const char *path = (const char *)arg;
	struct vhu_msg m;
	int s, fd;

	sleep_ms(250);
	s = listen_on(path, true);
	FB_CHECK(s >= 0);
	fd = accept(s, NULL, NULL);
	FB_CHECK(fd >= 0);
	fb_expect(fd, &m, VHU_GET_FEATURES, FLAGS_REQ, 0, 0);
	fb_reply_u64(fd, VHU_GET_FEATURES, FAKE_FEATURES);
	fb_expect_eof(fd);
}

static void test_connect_retry(void **state)
{
	struct vhu_client *c = NULL;
	struct tmpdir t;
	uint64_t f;
	pid_t pid;
	int unused;

	tmpdir_make(&t);
	unused = fake_start(fb_late_listener, (intptr_t)t.sock, &pid);
	close(unused);
	assert_int_equal(vhu_client_connect(t.sock, "dom1 blk0", 3000, 2000,
	    &c), 0);
	assert_non_null(c);
	assert_true(fcntl(vhu_client_fd(c), F_GETFD) & FD_CLOEXEC);
	assert_int_equal(vhu_get_features(c, &f), 0);
	assert_true(f == FAKE_FEATURES);
	vhu_client_close(c);
	fake_finish(pid);
	tmpdir_remove(&t);
}

/* ---------------------------------------------------------------- */
/* Against a real qemu-storage-daemon (skipped when not installed)  */

struct qsd {
	pid_t pid;
	struct tmpdir t;
	struct vhu_client *c;
};

static bool in_path(const char *prog)
{
	const char *path = getenv("PATH");
	char buf[4096];

	while (path != NULL && *path != '\0') {
		const char *end = strchr(path, ':');
		size_t len = end ? (size_t)(end - path) : strlen(path);

		if (len > 0 && len + strlen(prog) + 2 <= sizeof(buf)) {
			memcpy(buf, path, len);
			buf[len] = '/';
			strcpy(buf + len + 1, prog);
			if (access(buf, X_OK) == 0)
				return true;
		}
		path = end ? end + 1 : NULL;
	}
	return false;
}

static int qsd_teardown(void **state)
{
	struct qsd *q = *state;
	int status;

	if (q == NULL)
		return 0;
	vhu_client_close(q->c);
	if (q->pid > 0) {
		kill(q->pid, SIGTERM);
		waitpid(q->pid, &status, 0);
	}
	tmpdir_remove(&q->t);
	free(q);
	*state = NULL;
	return 0;
}

static void test_qsd(void **state)
{
	const uint64_t want_pf = BIT(VHU_PROTOCOL_F_MQ) |
	    BIT(VHU_PROTOCOL_F_REPLY_ACK) | BIT(VHU_PROTOCOL_F_CONFIG) |
	    BIT(VHU_PROTOCOL_F_INFLIGHT_SHMFD);
	char exp[256];
	uint8_t cfg[60];
	struct vhu_inflight inf;
	struct qsd *q;
	uint64_t f, pf, nr, cap;
	int ifd;

	if (!in_path("qemu-storage-daemon"))
		skip();
	q = calloc(1, sizeof(*q));
	assert_non_null(q);
	*state = q;
	tmpdir_make(&q->t);
	snprintf(exp, sizeof(exp), "type=vhost-user-blk,id=e0,node-name=n0,"
	    "addr.type=unix,addr.path=%s,writable=on", q->t.sock);
	fflush(stdout);
	fflush(stderr);
	q->pid = fork();
	assert_true(q->pid >= 0);
	if (q->pid == 0) {
		/* Survives exec: the daemon dies even if we do. */
		alarm(30);
		execlp("qemu-storage-daemon", "qemu-storage-daemon",
		    "--blockdev", "driver=null-co,node-name=n0,size=1048576",
		    "--export", exp, (char *)NULL);
		_exit(127);
	}

	assert_int_equal(vhu_client_connect(q->t.sock, "qsd blk0", 5000, 2000,
	    &q->c), 0);
	assert_int_equal(vhu_get_features(q->c, &f), 0);
	assert_true(f & BIT(F_VERSION_1));
	assert_true(f & BIT(VHU_F_PROTOCOL_FEATURES));
	assert_int_equal(vhu_get_protocol_features(q->c, &pf), 0);
	assert_true(pf & BIT(VHU_PROTOCOL_F_REPLY_ACK));
	assert_true(pf & BIT(VHU_PROTOCOL_F_CONFIG));
	assert_int_equal(vhu_set_protocol_features(q->c, pf & want_pf), 0);
	assert_true(vhu_client_protocol_features(q->c) &
	    BIT(VHU_PROTOCOL_F_REPLY_ACK));
	/* Acked: REPLY_ACK is in effect now. */
	assert_int_equal(vhu_set_owner(q->c), 0);
	assert_int_equal(vhu_get_queue_num(q->c, &nr), 0);
	assert_true(nr >= 1);
	assert_int_equal(vhu_get_config(q->c, 0, sizeof(cfg), cfg), 0);
	memcpy(&cap, cfg, sizeof(cap));
	assert_true(cap == 2048);	/* 1 MiB in 512-byte sectors */
	if (pf & BIT(VHU_PROTOCOL_F_INFLIGHT_SHMFD)) {
		assert_int_equal(vhu_get_inflight_fd(q->c, 1, 128, &inf, &ifd),
		    0);
		assert_true(ifd >= 0);
		assert_true(inf.mmap_size > 0);
		close(ifd);
	}
	assert_false(vhu_client_broken(q->c));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_msg_init),
		cmocka_unit_test(test_msg_u64),
		cmocka_unit_test(test_msg_state),
		cmocka_unit_test(test_msg_vring_addr),
		cmocka_unit_test(test_msg_vring_fd),
		cmocka_unit_test(test_msg_mem_table),
		cmocka_unit_test(test_msg_config),
		cmocka_unit_test(test_msg_inflight),
		cmocka_unit_test(test_request_table),
		cmocka_unit_test(test_check_u64),
		cmocka_unit_test(test_check_ack),
		cmocka_unit_test(test_check_state),
		cmocka_unit_test(test_check_config),
		cmocka_unit_test(test_check_inflight),
		cmocka_unit_test(test_client_happy),
		cmocka_unit_test(test_client_no_ack),
		cmocka_unit_test(test_client_malformed),
		cmocka_unit_test(test_client_huge),
		cmocka_unit_test(test_client_fd_leak),
		cmocka_unit_test(test_client_timeout),
		cmocka_unit_test(test_client_eof),
		cmocka_unit_test(test_client_send_epipe),
		cmocka_unit_test(test_client_send_timeout),
		cmocka_unit_test(test_client_split),
		cmocka_unit_test(test_client_from_fd_args),
		cmocka_unit_test(test_connect_errors),
		cmocka_unit_test(test_connect_retry),
		cmocka_unit_test_teardown(test_qsd, qsd_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
