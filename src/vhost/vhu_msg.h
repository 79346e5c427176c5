/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vhu_msg: the vhost-user message codec. Pure: no sockets, no fds opened.
 *
 * One table row per request (vhu_msg.c) gives the payload size sent, the
 * number of fds sent, and the reply kind expected. Replies are checked
 * exactly against that row before anything reads their payload.
 */
#ifndef XVD_VHU_MSG_H
#define XVD_VHU_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Front-end -> back-end requests (QEMU docs/interop/vhost-user.rst). */
enum vhu_request {
	VHU_GET_FEATURES = 1,
	VHU_SET_FEATURES = 2,
	VHU_SET_OWNER = 3,
	VHU_RESET_OWNER = 4,
	VHU_SET_MEM_TABLE = 5,
	VHU_SET_LOG_BASE = 6,
	VHU_SET_LOG_FD = 7,
	VHU_SET_VRING_NUM = 8,
	VHU_SET_VRING_ADDR = 9,
	VHU_SET_VRING_BASE = 10,
	VHU_GET_VRING_BASE = 11,
	VHU_SET_VRING_KICK = 12,
	VHU_SET_VRING_CALL = 13,
	VHU_SET_VRING_ERR = 14,
	VHU_GET_PROTOCOL_FEATURES = 15,
	VHU_SET_PROTOCOL_FEATURES = 16,
	VHU_GET_QUEUE_NUM = 17,
	VHU_SET_VRING_ENABLE = 18,
	VHU_SET_BACKEND_REQ_FD = 21,
	VHU_GET_CONFIG = 24,
	VHU_SET_CONFIG = 25,
	VHU_GET_INFLIGHT_FD = 31,
	VHU_SET_INFLIGHT_FD = 32,
	VHU_RESET_DEVICE = 34,
	VHU_GET_MAX_MEM_SLOTS = 36,
	VHU_SET_STATUS = 39,
	VHU_GET_STATUS = 40,
	VHU_REQUEST_MAX = 44
};

/* Header flags. */
#define VHU_FLAG_VERSION	0x1u
#define VHU_FLAG_VERSION_MASK	0x3u
#define VHU_FLAG_REPLY		0x4u
#define VHU_FLAG_NEED_REPLY	0x8u

/* Virtio feature bit 30 gates protocol features. */
#define VHU_F_PROTOCOL_FEATURES	30

/* Protocol feature bits. */
#define VHU_PROTOCOL_F_MQ		0
#define VHU_PROTOCOL_F_LOG_SHMFD	1
#define VHU_PROTOCOL_F_REPLY_ACK	3
#define VHU_PROTOCOL_F_BACKEND_REQ	5
#define VHU_PROTOCOL_F_CONFIG		9
#define VHU_PROTOCOL_F_INFLIGHT_SHMFD	12
#define VHU_PROTOCOL_F_RESET_DEVICE	13
#define VHU_PROTOCOL_F_CONFIGURE_MEM_SLOTS 15
#define VHU_PROTOCOL_F_STATUS		16
#define VHU_PROTOCOL_F_XEN_MMAP		17

#define VHU_HDR_LEN		12u
/* Largest payload we send or accept (rust-vmm's limit is 4096 bytes total). */
#define VHU_PAYLOAD_MAX		4084u
/* QEMU sends at most 8 fds per message; we send and accept no more. */
#define VHU_MAX_FDS		8u
#define VHU_MAX_REGIONS		8u
/* Config space payload limit (QEMU: 256). */
#define VHU_CONFIG_MAX		256u

/* Kick/call/err u64: vring index in bits 0-7, bit 8 = no fd. */
#define VHU_VRING_IDX_MASK	0xffu
#define VHU_VRING_NOFD		0x100u

/* Xen mmap flags (XEN_MMAP). See reference: NO_ADVANCE_MAP conflict. */
#define VHU_XEN_MMAP_FOREIGN	0x1u
#define VHU_XEN_MMAP_GRANT	0x2u
#define VHU_XEN_MMAP_NO_ADVANCE	0x8u

struct vhu_hdr {
	uint32_t request;
	uint32_t flags;
	uint32_t size;
};

struct vhu_vring_state {
	uint32_t index;
	uint32_t num;
};

struct vhu_vring_addr {
	uint32_t index;
	uint32_t flags;
	uint64_t desc;
	uint64_t used;
	uint64_t avail;
	uint64_t log;
};

/* 32-byte region; 40 with XEN_MMAP (xen_mmap_flags, domid appended). */
struct vhu_mem_region {
	uint64_t guest_addr;
	uint64_t size;
	uint64_t user_addr;
	uint64_t mmap_offset;
	uint32_t xen_mmap_flags;
	uint32_t domid;
};

struct vhu_config_hdr {
	uint32_t offset;
	uint32_t size;
	uint32_t flags;
};

struct vhu_inflight {
	uint64_t mmap_size;
	uint64_t mmap_offset;
	uint16_t num_queues;
	uint16_t queue_size;
	uint32_t pad;
};

/* A whole message: header, payload bytes, and the fds travelling with it. */
struct vhu_msg {
	struct vhu_hdr hdr;
	uint8_t payload[VHU_PAYLOAD_MAX];
	int fds[VHU_MAX_FDS];
	unsigned nr_fds;
};

/* What a request is answered with. */
enum vhu_reply_kind {
	VHU_REPLY_NONE,		/* no reply (REPLY_ACK u64 if NEED_REPLY was set) */
	VHU_REPLY_U64,		/* u64 */
	VHU_REPLY_STATE,	/* vhu_vring_state with the same index */
	VHU_REPLY_CONFIG,	/* config header + bytes, same offset and size */
	VHU_REPLY_INFLIGHT,	/* vhu_inflight + exactly one fd */
};

/* Encoders: fill @m (header, payload, fds); return 0 or -EINVAL. */
void vhu_msg_init(struct vhu_msg *m, enum vhu_request req);
int vhu_msg_u64(struct vhu_msg *m, enum vhu_request req, uint64_t v);
int vhu_msg_state(struct vhu_msg *m, enum vhu_request req, uint32_t index,
    uint32_t num);
int vhu_msg_vring_addr(struct vhu_msg *m, const struct vhu_vring_addr *a);
int vhu_msg_vring_fd(struct vhu_msg *m, enum vhu_request req, uint32_t index,
    int fd);
/* @xen: 40-byte regions. @fds[i] belongs to @r[i]. */
int vhu_msg_mem_table(struct vhu_msg *m, const struct vhu_mem_region *r,
    const int *fds, unsigned nr, bool xen);
int vhu_msg_config(struct vhu_msg *m, enum vhu_request req, uint32_t offset,
    uint32_t size, uint32_t flags, const void *bytes);
int vhu_msg_inflight(struct vhu_msg *m, enum vhu_request req,
    const struct vhu_inflight *in, int fd);

/* The reply kind a request expects (VHU_REPLY_NONE for unknown). */
enum vhu_reply_kind vhu_reply_kind(uint32_t request);
/* Name of a request for log lines ("GET_FEATURES"); "UNKNOWN" otherwise. */
const char *vhu_request_name(uint32_t request);

/*
 * vhu_check_reply - validate @rep as the answer to @req. With @ack set the
 * request carried NEED_REPLY and a request of kind NONE expects a u64 ack.
 * Checks: request code echoed, version bits 1, REPLY set, exact payload size,
 * fd count, echoed vring index / config offset and size.
 * Returns 0, or -EPROTO with a static reason in *why.
 */
int vhu_check_reply(const struct vhu_msg *req, const struct vhu_msg *rep,
    bool ack, const char **why);

/* Payload accessors for a reply that passed vhu_check_reply. */
uint64_t vhu_reply_u64(const struct vhu_msg *rep);
uint32_t vhu_reply_state_num(const struct vhu_msg *rep);
/* Copies the config bytes (size from the checked header) to @buf. */
void vhu_reply_config(const struct vhu_msg *rep, void *buf, uint32_t len);
void vhu_reply_inflight(const struct vhu_msg *rep, struct vhu_inflight *out);

#endif
