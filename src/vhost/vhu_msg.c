/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vhu_msg: the vhost-user message codec (QEMU docs/interop/vhost-user.rst).
 *
 * Pure: no sockets, no fds opened or closed. Every request has one row in
 * vhu_req_table below; the encoders refuse a request whose row does not
 * match the payload they build, and vhu_check_reply() derives everything
 * it expects of a reply from the row of the request it answers.
 *
 * Payloads are written and read field by field at their wire offsets in
 * native endianness (memcpy), so struct padding never reaches the wire.
 */
#include <errno.h>
#include <string.h>

#include "util.h"
#include "vhost/vhu_msg.h"

/* Payload layouts a request can carry. */
enum vhu_payload {
	VHU_P_NONE,
	VHU_P_U64,
	VHU_P_STATE,
	VHU_P_ADDR,
	VHU_P_VRING_FD,	/* u64 index | NOFD, fd optional */
	VHU_P_MEM,	/* nregions, padding, regions[] */
	VHU_P_LOG,	/* mmap_size u64, mmap_offset u64 */
	VHU_P_CONFIG,	/* config header + bytes */
	VHU_P_INFLIGHT,
};

/* How many fds travel with a request. */
enum vhu_fds {
	VHU_FDS_0,
	VHU_FDS_1,
	VHU_FDS_OPT,		/* 0 or 1: KICK/CALL/ERR with NOFD */
	VHU_FDS_REGIONS,	/* one per memory region */
};

/* Wire sizes of the fixed payloads. */
#define VHU_LEN_U64		8u
#define VHU_LEN_STATE		8u
#define VHU_LEN_ADDR		40u
#define VHU_LEN_INFLIGHT	24u
#define VHU_LEN_MEM_HDR		8u
#define VHU_LEN_REGION		32u
#define VHU_LEN_REGION_XEN	40u
#define VHU_LEN_CONFIG_HDR	12u
/* Payload length depends on the arguments (regions, config size). */
#define VHU_VAR			UINT32_MAX

_Static_assert(sizeof(struct vhu_hdr) == VHU_HDR_LEN, "vhu_hdr");
_Static_assert(sizeof(struct vhu_vring_state) == VHU_LEN_STATE, "state");
_Static_assert(sizeof(struct vhu_vring_addr) == VHU_LEN_ADDR, "addr");
_Static_assert(sizeof(struct vhu_config_hdr) == VHU_LEN_CONFIG_HDR, "cfg");
_Static_assert(sizeof(struct vhu_inflight) == VHU_LEN_INFLIGHT, "inflight");
_Static_assert(VHU_LEN_MEM_HDR + VHU_MAX_REGIONS * VHU_LEN_REGION_XEN <=
    VHU_PAYLOAD_MAX, "mem table fits");
_Static_assert(VHU_LEN_CONFIG_HDR + VHU_CONFIG_MAX <= VHU_PAYLOAD_MAX,
    "config fits");
_Static_assert(VHU_MAX_REGIONS <= VHU_MAX_FDS, "one fd per region");

struct vhu_req_info {
	const char *name;
	enum vhu_payload payload;
	uint32_t len;		/* payload bytes sent, or VHU_VAR */
	enum vhu_fds fds;
	enum vhu_reply_kind reply;
};

/*
 * One row per request: X(name, payload layout, payload bytes sent, fds
 * sent, reply kind). VHU_VAR: the length depends on the arguments (regions,
 * config size). Fixed lengths are the VHU_LEN_* wire sizes above.
 * SET_LOG_BASE: QEMU sends the 16-byte log description; with LOG_SHMFD the
 * fd rides along and libvhost-user answers with a u64. No encoder uses it.
 * SET_MEM_TABLE: postcopy replies are not supported (we never advise).
 */
#define VHU_REQUESTS(X)                                                 \
	X(GET_FEATURES,          NONE,     0,       0,       U64)       \
	X(SET_FEATURES,          U64,      8,       0,       NONE)      \
	X(SET_OWNER,             NONE,     0,       0,       NONE)      \
	X(RESET_OWNER,           NONE,     0,       0,       NONE)      \
	X(SET_MEM_TABLE,         MEM,      VHU_VAR, REGIONS, NONE)      \
	X(SET_LOG_BASE,          LOG,      16,      1,       U64)       \
	X(SET_LOG_FD,            NONE,     0,       1,       NONE)      \
	X(SET_VRING_NUM,         STATE,    8,       0,       NONE)      \
	X(SET_VRING_ADDR,        ADDR,     40,      0,       NONE)      \
	X(SET_VRING_BASE,        STATE,    8,       0,       NONE)      \
	X(GET_VRING_BASE,        STATE,    8,       0,       STATE)     \
	X(SET_VRING_KICK,        VRING_FD, 8,       OPT,     NONE)      \
	X(SET_VRING_CALL,        VRING_FD, 8,       OPT,     NONE)      \
	X(SET_VRING_ERR,         VRING_FD, 8,       OPT,     NONE)      \
	X(GET_PROTOCOL_FEATURES, NONE,     0,       0,       U64)       \
	X(SET_PROTOCOL_FEATURES, U64,      8,       0,       NONE)      \
	X(GET_QUEUE_NUM,         NONE,     0,       0,       U64)       \
	X(SET_VRING_ENABLE,      STATE,    8,       0,       NONE)      \
	X(SET_BACKEND_REQ_FD,    NONE,     0,       1,       NONE)      \
	X(GET_CONFIG,            CONFIG,   VHU_VAR, 0,       CONFIG)    \
	X(SET_CONFIG,            CONFIG,   VHU_VAR, 0,       NONE)      \
	X(GET_INFLIGHT_FD,       INFLIGHT, 24,      0,       INFLIGHT)  \
	X(SET_INFLIGHT_FD,       INFLIGHT, 24,      1,       NONE)      \
	X(RESET_DEVICE,          NONE,     0,       0,       NONE)      \
	X(GET_MAX_MEM_SLOTS,     NONE,     0,       0,       U64)       \
	X(SET_STATUS,            U64,      8,       0,       NONE)      \
	X(GET_STATUS,            NONE,     0,       0,       U64)

#define VHU_REQ_ROW(req, pl, len_, nfds, rk)				\
	[VHU_##req] = {							\
		.name = #req,						\
		.payload = VHU_P_##pl,					\
		.len = (len_),						\
		.fds = VHU_FDS_##nfds,					\
		.reply = VHU_REPLY_##rk,				\
	},

static const struct vhu_req_info vhu_req_table[VHU_REQUEST_MAX] = {
	VHU_REQUESTS(VHU_REQ_ROW)
};

#undef VHU_REQ_ROW

/* The row of @request, or NULL for codes we do not know. */
static const struct vhu_req_info *vhu_req_lookup(uint32_t request)
{
	if (request >= ARRAY_SIZE(vhu_req_table))
		return NULL;
	if (vhu_req_table[request].name == NULL)
		return NULL;
	return &vhu_req_table[request];
}

/* The row of @req if it carries payload layout @pl, else NULL. */
static const struct vhu_req_info *vhu_req_with(enum vhu_request req,
    enum vhu_payload pl)
{
	const struct vhu_req_info *ri = vhu_req_lookup((uint32_t)req);

	if (ri == NULL || ri->payload != pl)
		return NULL;
	return ri;
}

static void put_u16(uint8_t *p, size_t off, uint16_t v)
{
	memcpy(p + off, &v, sizeof(v));
}

static void put_u32(uint8_t *p, size_t off, uint32_t v)
{
	memcpy(p + off, &v, sizeof(v));
}

static void put_u64(uint8_t *p, size_t off, uint64_t v)
{
	memcpy(p + off, &v, sizeof(v));
}

static uint16_t get_u16(const uint8_t *p, size_t off)
{
	uint16_t v;

	memcpy(&v, p + off, sizeof(v));
	return v;
}

static uint32_t get_u32(const uint8_t *p, size_t off)
{
	uint32_t v;

	memcpy(&v, p + off, sizeof(v));
	return v;
}

static uint64_t get_u64(const uint8_t *p, size_t off)
{
	uint64_t v;

	memcpy(&v, p + off, sizeof(v));
	return v;
}

void vhu_msg_init(struct vhu_msg *m, enum vhu_request req)
{
	m->hdr.request = (uint32_t)req;
	m->hdr.flags = VHU_FLAG_VERSION;
	m->hdr.size = 0;
	for (size_t i = 0; i < ARRAY_SIZE(m->fds); i++)
		m->fds[i] = -1;
	m->nr_fds = 0;
}

/* Header for a fixed-size payload of row @ri, payload bytes zeroed. */
static void vhu_msg_fixed(struct vhu_msg *m, enum vhu_request req,
    const struct vhu_req_info *ri)
{
	vhu_msg_init(m, req);
	m->hdr.size = ri->len;
	memset(m->payload, 0, ri->len);
}

int vhu_msg_u64(struct vhu_msg *m, enum vhu_request req, uint64_t v)
{
	const struct vhu_req_info *ri = vhu_req_with(req, VHU_P_U64);

	if (ri == NULL)
		return -EINVAL;
	vhu_msg_fixed(m, req, ri);
	put_u64(m->payload, 0, v);
	return 0;
}

int vhu_msg_state(struct vhu_msg *m, enum vhu_request req, uint32_t index,
    uint32_t num)
{
	const struct vhu_req_info *ri = vhu_req_with(req, VHU_P_STATE);

	if (ri == NULL)
		return -EINVAL;
	vhu_msg_fixed(m, req, ri);
	put_u32(m->payload, 0, index);
	put_u32(m->payload, 4, num);
	return 0;
}

int vhu_msg_vring_addr(struct vhu_msg *m, const struct vhu_vring_addr *a)
{
	const struct vhu_req_info *ri =
	    vhu_req_with(VHU_SET_VRING_ADDR, VHU_P_ADDR);

	if (ri == NULL || a == NULL)
		return -EINVAL;
	vhu_msg_fixed(m, VHU_SET_VRING_ADDR, ri);
	put_u32(m->payload, 0, a->index);
	put_u32(m->payload, 4, a->flags);
	put_u64(m->payload, 8, a->desc);
	put_u64(m->payload, 16, a->used);
	put_u64(m->payload, 24, a->avail);
	put_u64(m->payload, 32, a->log);
	return 0;
}

int vhu_msg_vring_fd(struct vhu_msg *m, enum vhu_request req, uint32_t index,
    int fd)
{
	const struct vhu_req_info *ri = vhu_req_with(req, VHU_P_VRING_FD);
	uint64_t v = index;

	if (ri == NULL || index > VHU_VRING_IDX_MASK)
		return -EINVAL;
	vhu_msg_fixed(m, req, ri);
	if (fd < 0) {
		v |= VHU_VRING_NOFD;
	} else {
		m->fds[0] = fd;
		m->nr_fds = 1;
	}
	put_u64(m->payload, 0, v);
	return 0;
}

int vhu_msg_mem_table(struct vhu_msg *m, const struct vhu_mem_region *r,
    const int *fds, unsigned nr, bool xen)
{
	const struct vhu_req_info *ri =
	    vhu_req_with(VHU_SET_MEM_TABLE, VHU_P_MEM);
	uint32_t rlen = xen ? VHU_LEN_REGION_XEN : VHU_LEN_REGION;

	if (ri == NULL || nr > VHU_MAX_REGIONS)
		return -EINVAL;
	if (nr > 0 && (r == NULL || fds == NULL))
		return -EINVAL;
	for (unsigned i = 0; i < nr; i++)
		if (fds[i] < 0)
			return -EINVAL;

	vhu_msg_init(m, VHU_SET_MEM_TABLE);
	m->hdr.size = VHU_LEN_MEM_HDR + nr * rlen;
	memset(m->payload, 0, m->hdr.size);
	put_u32(m->payload, 0, nr);
	for (unsigned i = 0; i < nr; i++) {
		size_t off = VHU_LEN_MEM_HDR + (size_t)i * rlen;

		put_u64(m->payload, off, r[i].guest_addr);
		put_u64(m->payload, off + 8, r[i].size);
		put_u64(m->payload, off + 16, r[i].user_addr);
		put_u64(m->payload, off + 24, r[i].mmap_offset);
		if (xen) {
			put_u32(m->payload, off + 32, r[i].xen_mmap_flags);
			put_u32(m->payload, off + 36, r[i].domid);
		}
		m->fds[i] = fds[i];
	}
	m->nr_fds = nr;
	return 0;
}

int vhu_msg_config(struct vhu_msg *m, enum vhu_request req, uint32_t offset,
    uint32_t size, uint32_t flags, const void *bytes)
{
	const struct vhu_req_info *ri = vhu_req_with(req, VHU_P_CONFIG);
	uint32_t end;

	if (ri == NULL || size == 0 || size > VHU_CONFIG_MAX)
		return -EINVAL;
	if (__builtin_add_overflow(offset, size, &end))
		return -EINVAL;
	/* A request without a natural reply writes: it needs the bytes. */
	if (bytes == NULL && ri->reply == VHU_REPLY_NONE)
		return -EINVAL;

	vhu_msg_init(m, req);
	m->hdr.size = VHU_LEN_CONFIG_HDR + size;
	put_u32(m->payload, 0, offset);
	put_u32(m->payload, 4, size);
	put_u32(m->payload, 8, flags);
	if (bytes != NULL)
		memcpy(m->payload + VHU_LEN_CONFIG_HDR, bytes, size);
	else
		memset(m->payload + VHU_LEN_CONFIG_HDR, 0, size);
	return 0;
}

int vhu_msg_inflight(struct vhu_msg *m, enum vhu_request req,
    const struct vhu_inflight *in, int fd)
{
	const struct vhu_req_info *ri = vhu_req_with(req, VHU_P_INFLIGHT);

	if (ri == NULL || in == NULL)
		return -EINVAL;
	/* GET sends no fd, SET exactly one. */
	if ((ri->fds == VHU_FDS_1) != (fd >= 0))
		return -EINVAL;
	vhu_msg_fixed(m, req, ri);
	put_u64(m->payload, 0, in->mmap_size);
	put_u64(m->payload, 8, in->mmap_offset);
	put_u16(m->payload, 16, in->num_queues);
	put_u16(m->payload, 18, in->queue_size);
	if (fd >= 0) {
		m->fds[0] = fd;
		m->nr_fds = 1;
	}
	return 0;
}

enum vhu_reply_kind vhu_reply_kind(uint32_t request)
{
	const struct vhu_req_info *ri = vhu_req_lookup(request);

	return ri != NULL ? ri->reply : VHU_REPLY_NONE;
}

const char *vhu_request_name(uint32_t request)
{
	const struct vhu_req_info *ri = vhu_req_lookup(request);

	return ri != NULL ? ri->name : "UNKNOWN";
}

static int vhu_bad(const char **why, const char *reason)
{
	if (why != NULL)
		*why = reason;
	return -EPROTO;
}

/* Payload checks of a GET_CONFIG reply; the request is ours and valid. */
static int vhu_check_config(const struct vhu_msg *req,
    const struct vhu_msg *rep, const char **why)
{
	uint32_t want = get_u32(req->payload, 4);

	/* libvhost-user answers a failed GET_CONFIG with size 0. */
	if (rep->hdr.size == 0)
		return vhu_bad(why, "back-end failed GET_CONFIG (size 0)");
	if (rep->hdr.size < VHU_LEN_CONFIG_HDR)
		return vhu_bad(why, "config reply shorter than its header");
	if (get_u32(rep->payload, 4) == 0)
		return vhu_bad(why,
		    "back-end failed GET_CONFIG (config size 0)");
	if (rep->hdr.size != VHU_LEN_CONFIG_HDR + want)
		return vhu_bad(why,
		    "reply size not 12 + requested config size");
	if (get_u32(rep->payload, 0) != get_u32(req->payload, 0))
		return vhu_bad(why, "config offset not echoed");
	if (get_u32(rep->payload, 4) != want)
		return vhu_bad(why, "config size not echoed");
	return 0;
}

int vhu_check_reply(const struct vhu_msg *req, const struct vhu_msg *rep,
    bool ack, const char **why)
{
	const struct vhu_req_info *ri = vhu_req_lookup(req->hdr.request);
	enum vhu_reply_kind kind;
	unsigned want_fds = 0;
	int rc;

	if (ri == NULL)
		return vhu_bad(why, "unknown request");
	kind = ri->reply;
	if (kind == VHU_REPLY_NONE && !ack)
		return vhu_bad(why, "no reply expected");

	if (rep->hdr.request != req->hdr.request)
		return vhu_bad(why, "reply to another request");
	if ((rep->hdr.flags & VHU_FLAG_VERSION_MASK) != VHU_FLAG_VERSION)
		return vhu_bad(why, "bad version in reply flags");
	if ((rep->hdr.flags & VHU_FLAG_REPLY) == 0)
		return vhu_bad(why, "REPLY flag not set");
	if (rep->hdr.size > VHU_PAYLOAD_MAX)
		return vhu_bad(why, "reply payload too large");
	if (rep->nr_fds > VHU_MAX_FDS)
		return vhu_bad(why, "too many fds on reply");

	switch (kind) {
	case VHU_REPLY_NONE:
		if (rep->hdr.size != VHU_LEN_U64)
			return vhu_bad(why, "reply size not 8 (REPLY_ACK u64)");
		break;
	case VHU_REPLY_U64:
		if (rep->hdr.size != VHU_LEN_U64)
			return vhu_bad(why, "reply size not 8 (u64)");
		break;
	case VHU_REPLY_STATE:
		if (rep->hdr.size != VHU_LEN_STATE)
			return vhu_bad(why, "reply size not 8 (vring state)");
		if (get_u32(rep->payload, 0) != get_u32(req->payload, 0))
			return vhu_bad(why, "vring index not echoed");
		break;
	case VHU_REPLY_CONFIG:
		rc = vhu_check_config(req, rep, why);
		if (rc < 0)
			return rc;
		break;
	case VHU_REPLY_INFLIGHT:
		if (rep->hdr.size != VHU_LEN_INFLIGHT)
			return vhu_bad(why, "reply size not 24 (inflight)");
		want_fds = 1;
		break;
	default:
		return vhu_bad(why, "unknown reply kind");
	}

	if (rep->nr_fds != want_fds)
		return vhu_bad(why, want_fds == 0 ? "unexpected fds on reply" :
		    "inflight reply without exactly one fd");
	return 0;
}

uint64_t vhu_reply_u64(const struct vhu_msg *rep)
{
	return get_u64(rep->payload, 0);
}

uint32_t vhu_reply_state_num(const struct vhu_msg *rep)
{
	return get_u32(rep->payload, 4);
}

void vhu_reply_config(const struct vhu_msg *rep, void *buf, uint32_t len)
{
	uint32_t have = 0;

	/* Clamp to what the message holds even if it was never checked. */
	if (rep->hdr.size >= VHU_LEN_CONFIG_HDR &&
	    rep->hdr.size <= VHU_PAYLOAD_MAX) {
		have = get_u32(rep->payload, 4);
		if (have > rep->hdr.size - VHU_LEN_CONFIG_HDR)
			have = rep->hdr.size - VHU_LEN_CONFIG_HDR;
	}
	if (len > have)
		len = have;
	memcpy(buf, rep->payload + VHU_LEN_CONFIG_HDR, len);
}

void vhu_reply_inflight(const struct vhu_msg *rep, struct vhu_inflight *out)
{
	memset(out, 0, sizeof(*out));
	out->mmap_size = get_u64(rep->payload, 0);
	out->mmap_offset = get_u64(rep->payload, 8);
	out->num_queues = get_u16(rep->payload, 16);
	out->queue_size = get_u16(rep->payload, 18);
}
