/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vmsg: the virtio-msg transport (device side) as a pure state machine.
 *
 * No I/O happens here. A virtio-msg device is a struct vmmio seen through
 * messages: every transport request is translated into register reads and
 * writes on the same struct vmmio the virtio-mmio transport uses, and the
 * vmmio_actions those writes produce are handed back to the relay, which
 * acts on them exactly as for MMIO. The relay then sends the response (if
 * any) that vmsg_handle() wrote; events to the driver are built with
 * vmsg_event_used() / vmsg_event_config().
 *
 * Bus-level messages (type bit1 set, dev_num 0: GET_DEVICES, PING and the
 * FF-A bus messages) are answered by vmsg_bus_handle(), which also gates
 * transport frames (device present, FF-A negotiation done) before the relay
 * passes them to the device's vmsg_handle().
 *
 * The wire format is table driven: one static const row per message id
 * (struct vmsg_msg_desc) in a struct vmsg_proto. vmsg_proto_2026 is the
 * newest layout (8-byte header with token, GET_DEVICE_INFO with device UUID,
 * minimum bus message size 52; the Linux 2026 virtio_msg_protocol.h). Another
 * revision is another vmsg_proto with its own rows.
 *
 * Every multi-byte field is little endian; nothing here assumes alignment of
 * the frame buffers. Malformed, unknown or misdirected frames are dropped
 * (the transport has no error message) with a static reason in *why for a
 * rate-limited log; nothing a peer sends can crash or overrun.
 */
#ifndef XVD_VMSG_H
#define XVD_VMSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "transport/vmmio.h"

/* Header: type u8, msg_id u8, dev_num le16, token le16, msg_size le16. */
#define VMSG_HDR_LEN		8u
/* Largest msg_size the 16-bit field can carry. */
#define VMSG_MAX_SIZE		65535u
/* Transport revision every layout here implements. */
#define VMSG_REVISION		1u

/* Header type bits. Bits 2-7 are sent 0 and ignored on receive. */
#define VMSG_TYPE_RESPONSE	0x01u
#define VMSG_TYPE_BUS		0x02u
/* msg_id bit 6: an event (0x40-0x7f standard, 0xc0-0xff impl-defined). */
#define VMSG_ID_EVENT		0x40u

/* Transport message ids (unchanged from Dec-2025 to 2026). */
#define VMSG_GET_DEVICE_INFO	0x02u
#define VMSG_GET_DEVICE_FEATURES 0x03u
#define VMSG_SET_DRIVER_FEATURES 0x04u
#define VMSG_GET_CONFIG		0x05u
#define VMSG_SET_CONFIG		0x06u
#define VMSG_GET_DEVICE_STATUS	0x07u
#define VMSG_SET_DEVICE_STATUS	0x08u
#define VMSG_GET_VQUEUE		0x09u
#define VMSG_SET_VQUEUE		0x0au
#define VMSG_RESET_VQUEUE	0x0bu
#define VMSG_GET_SHM		0x0cu
#define VMSG_EVENT_CONFIG	0x40u
#define VMSG_EVENT_AVAIL	0x41u
#define VMSG_EVENT_USED		0x42u

/* GET_VQUEUE flags / SET_VQUEUE flags (2026). */
#define VMSG_VQ_F_ENABLED	0x1u

/* Bus message ids. */
#define VMSG_BUS_GET_DEVICES	0x02u
#define VMSG_BUS_PING		0x03u
#define VMSG_BUS_EVENT_DEVICE	0x40u
/* EVENT_DEVICE states (2026: ADDED == READY). */
#define VMSG_DEV_STATE_ADDED	1u
#define VMSG_DEV_STATE_REMOVED	2u

/* FF-A bus binding messages (Linux virtio_msg_bus_ffa_protocol.h, 2026). */
#define VMSG_FFA_VERSION	0x80u
#define VMSG_FFA_AREA_SHARE	0x81u
#define VMSG_FFA_AREA_UNSHARE	0x82u
#define VMSG_FFA_RESET		0x83u
#define VMSG_FFA_EVENT_POLL	0x84u
#define VMSG_FFA_EVENT_CONFIGURE 0x85u
#define VMSG_FFA_FIFO_CONFIGURE	0x86u
#define VMSG_FFA_ERROR		0x87u
#define VMSG_FFA_AREA_RELEASE	0xc0u
/* FF-A results. */
#define VMSG_FFA_SUCCESS	0u
#define VMSG_FFA_FAILED		1u
#define VMSG_FFA_BUSY		2u
/* EVENT_CONFIGURE methods. */
#define VMSG_FFA_EV_POLL	0u
#define VMSG_FFA_EV_NOTIF	1u
#define VMSG_FFA_EV_INDIRECT	2u
#define VMSG_FFA_EV_FIFO	3u
/* FF-A notification ids are 0-63. */
#define VMSG_FFA_NOTIF_ID_MAX	63u
/* VERSION bus_features bits. */
#define VMSG_FFA_F_DIRECT_RX	(1u << 0)
#define VMSG_FFA_F_DIRECT_TX	(1u << 1)
#define VMSG_FFA_F_INDIRECT_RX	(1u << 2)
#define VMSG_FFA_F_INDIRECT_TX	(1u << 3)
#define VMSG_FFA_F_NOTIF_RX	(1u << 4)
#define VMSG_FFA_F_NOTIF_TX	(1u << 5)
#define VMSG_FFA_F_FIFO		(1u << 6)
/* FF-A bus version 1.0 and the largest frame the binding carries. */
#define VMSG_FFA_BUS_VERSION	0x00010000u
#define VMSG_FFA_MAX_MSG	104u
/* FF-A 1.2: what the 2026 Linux driver requires. */
#define VMSG_FFA_VERSION_1_2	0x00010002u

/* Return values of vmsg_handle() / vmsg_bus_handle(). */
enum vmsg_rc {
	VMSG_NONE = 0,		/* nothing to send: event done, or dropped */
	VMSG_REPLY = 1,		/* out holds one frame to send to the driver */
	VMSG_ROUTE = 2,		/* bus only: transport frame for hdr->dev_num */
};

struct vmsg_hdr {
	uint8_t type;
	uint8_t msg_id;
	uint16_t dev_num;
	uint16_t token;
	uint16_t msg_size;
};

/* ---- The message table. ---- */

enum vmsg_class { VMSG_CLASS_TRANSPORT, VMSG_CLASS_BUS };

enum vmsg_dir {
	VMSG_DIR_TO_DEV,	/* driver -> device: the device handles it */
	VMSG_DIR_TO_DRV,	/* device -> driver: dropped if received */
	VMSG_DIR_BOTH,		/* PING */
};

enum vmsg_len_kind {
	VMSG_LEN_NONE,		/* no such message (events have no response) */
	VMSG_LEN_FIXED,		/* payload is exactly .len bytes */
	VMSG_LEN_MIN,		/* payload is at least .len bytes (the handler
				 * checks the variable part exactly) */
};

struct vmsg_len {
	enum vmsg_len_kind kind;
	uint16_t len;
};

struct vmsg_call;

/* One row per message id of a revision. */
struct vmsg_msg_desc {
	uint8_t id;
	const char *name;
	enum vmsg_class cls;
	enum vmsg_dir dir;
	struct vmsg_len req;	/* request (or event) payload */
	struct vmsg_len resp;	/* response payload; NONE for events */
	/* NULL: known but not handled here (dropped / FF-A ERROR). */
	bool (*handle)(struct vmsg_call *c);
};

struct vmsg_proto {
	const char *name;
	uint32_t revision;
	/* Smallest bus max message size every fixed response fits in. */
	uint32_t min_size;
	const struct vmsg_msg_desc *transport;
	size_t nr_transport;
	const struct vmsg_msg_desc *bus;	/* generic bus messages */
	size_t nr_bus;
	const struct vmsg_msg_desc *ffa;	/* FF-A binding's bus msgs */
	size_t nr_ffa;
};

/* 2026 layout (Linux MIN_SIZE 52). */
extern const struct vmsg_proto vmsg_proto_2026;

/*
 * vmsg_proto_lookup - the row for @id of class @cls, or NULL when unknown.
 * @ffa: also search the FF-A binding's bus messages.
 */
const struct vmsg_msg_desc *vmsg_proto_lookup(const struct vmsg_proto *p,
    enum vmsg_class cls, uint8_t id, bool ffa);

/*
 * vmsg_hdr_parse - decode and check the header of a received frame.
 * @in_len: bytes received (a bus slot may be longer than msg_size; the
 *   tail is ignored)
 * @max_msg: the bus maximum message size
 * Returns 0, or -EINVAL/-EMSGSIZE with *why set: shorter than the header,
 * msg_size < 8, msg_size beyond what was received, msg_size > max_msg.
 */
int vmsg_hdr_parse(const uint8_t *in, size_t in_len, uint32_t max_msg,
    struct vmsg_hdr *h, const char **why);

/* Name of a message for logs ("?" when unknown). */
const char *vmsg_msg_name(const struct vmsg_proto *p, const struct vmsg_hdr *h);

/* ---- Transport, device side. ---- */

struct vmsg_dev {
	struct vmmio *mmio;	/* shared with the relay, not owned */
	const struct vmsg_proto *proto;
	uint16_t dev_num;
	uint8_t uuid[16];
	uint32_t max_msg;	/* bus max message size, header included */
	/*
	 * The driver set a feature bit in a block vmmio does not carry
	 * (block >= 2): FEATURES_OK is refused until the next reset.
	 */
	bool features_beyond;
};

/*
 * vmsg_dev_init - bind a virtio-msg device to an initialised vmmio.
 * @uuid: 16 bytes reported by GET_DEVICE_INFO, or NULL for all zero
 * @max_msg: the bus max message size (clamped to VMSG_MAX_SIZE); use the
 *   bus's own vmsg_bus.max_msg (FF-A: 104) so events fit its queue
 * Returns 0, or -EINVAL when @max_msg is below proto->min_size (the
 * fixed responses would not fit).
 */
int vmsg_dev_init(struct vmsg_dev *d, struct vmmio *mmio, uint16_t dev_num,
    const uint8_t *uuid, uint32_t max_msg);

/*
 * vmsg_handle - one frame from the driver for this device.
 * @out, @out_len: on entry *out_len is the capacity of @out; on return the
 *   bytes written (0 unless VMSG_REPLY). A response never exceeds
 *   min(capacity, max_msg).
 * @acts: reset, then filled with what the relay must do (as from
 *   vmmio_write); the relay acts on them before sending the response.
 * @why: NULL, or why the frame was dropped (static string).
 * Returns VMSG_REPLY when a response frame (dev_num and token echoed,
 * type = request type | 1) was written, VMSG_NONE for an event or a drop.
 */
enum vmsg_rc vmsg_handle(struct vmsg_dev *d, const uint8_t *in, size_t in_len,
    uint8_t *out, size_t *out_len, struct vmmio_actions *acts,
    const char **why);

/*
 * vmsg_event_used - EVENT_USED(@queue) into @out (token 0). Returns the
 * frame length (12), or 0 when @queue does not exist or @cap is too small.
 */
size_t vmsg_event_used(const struct vmsg_dev *d, uint32_t queue, uint8_t *out,
    size_t cap);

/*
 * vmsg_event_config - EVENT_CONFIG with the current device status and
 * config generation, carrying config bytes [@off, @off+@len). @len 0, or
 * data that does not fit min(@cap, max_msg), sends length 0 ("re-read with
 * GET_CONFIG"). Returns the frame length, or 0 when the range is outside
 * the config space or @cap cannot hold even the empty event.
 */
size_t vmsg_event_config(const struct vmsg_dev *d, uint32_t off, uint32_t len,
    uint8_t *out, size_t cap);

/* ---- Bus, device side. ---- */

/* Device numbers the bus can name: all of the 16-bit space. */
#define VMSG_BUS_NR_DEVS	65536u
/* Device events the FF-A bus holds for EVENT_POLL. */
#define VMSG_EVQ_DEPTH		32u

struct vmsg_bus {
	const struct vmsg_proto *proto;
	uint32_t max_msg;
	uint8_t present[VMSG_BUS_NR_DEVS / 8];	/* LSB first */

	/* FF-A binding (false: only GET_DEVICES / PING). */
	bool ffa;
	uint32_t ffa_version;	/* ours, in VERSION responses */
	uint32_t bus_features;	/* VMSG_FFA_F_* offered */
	uint8_t event_methods;	/* bit n: EVENT_CONFIGURE method n accepted */

	/* FF-A state. */
	bool negotiated;	/* VERSION echoed: transport may flow */
	bool event_configured;
	uint8_t event_method;
	uint16_t notif_id;
	/*
	 * Set by a RESET request: the driver dropped all state; the relay
	 * resets its devices (status 0) and clears the flag.
	 */
	bool reset_pending;

	/* Events waiting for EVENT_POLL. */
	unsigned evq_head;
	unsigned evq_nr;
	uint16_t evq_len[VMSG_EVQ_DEPTH];
	uint8_t evq[VMSG_EVQ_DEPTH][VMSG_FFA_MAX_MSG];
};

/*
 * vmsg_bus_init - no device present, not negotiated.
 * @ffa: answer the FF-A bus messages (max_msg is then clamped to 104);
 *   defaults: ffa_version 1.2, bus_features INDIRECT_RX|INDIRECT_TX,
 *   event methods POLL, NOTIF and INDIRECT.
 * Returns 0, or -EINVAL when @max_msg is below proto->min_size.
 */
int vmsg_bus_init(struct vmsg_bus *b, uint32_t max_msg, bool ffa);

void vmsg_bus_dev_add(struct vmsg_bus *b, uint16_t dev_num);
void vmsg_bus_dev_del(struct vmsg_bus *b, uint16_t dev_num);
bool vmsg_bus_dev_present(const struct vmsg_bus *b, uint16_t dev_num);

/*
 * vmsg_bus_handle - first stop of every frame received on the bus.
 * Bus messages are answered here (VMSG_REPLY) or dropped (VMSG_NONE, *why).
 * A transport frame for a present device returns VMSG_ROUTE with *hdr
 * filled: pass it to that device's vmsg_handle(). On FF-A, requests that
 * cannot be served (before negotiation, unknown id, bad size, absent
 * device) are answered with an FF-A ERROR frame instead of being dropped;
 * *why is set then too, for the log.
 * @hdr: may be NULL when the caller parses the header itself.
 * The EVENT_POLL reply is a queued event frame (its own dev_num, token 0),
 * or a header-only EVENT_POLL response when nothing is queued.
 */
enum vmsg_rc vmsg_bus_handle(struct vmsg_bus *b, const uint8_t *in,
    size_t in_len, uint8_t *out, size_t *out_len, struct vmsg_hdr *hdr,
    const char **why);

/*
 * vmsg_bus_event_push - queue a device event frame (EVENT_USED, EVENT_CONFIG,
 * EVENT_DEVICE, ...) for EVENT_POLL. Returns 0, -EINVAL (not one valid event
 * frame that fits the bus), -ENOTCONN (events not configured yet: Linux
 * drops them too) or -ENOSPC (queue full).
 */
int vmsg_bus_event_push(struct vmsg_bus *b, const uint8_t *frame, size_t len);

/*
 * vmsg_bus_event_device - EVENT_DEVICE(@dev_num, @state) into @out.
 * Returns the frame length (12) or 0 when @cap is too small.
 */
size_t vmsg_bus_event_device(uint16_t dev_num, uint16_t state, uint8_t *out,
    size_t cap);

/*
 * vmsg_ffa_error - the FF-A ERROR response to the request in @in (dev_num
 * and token copied, payload = original msg_id), for a transport request the
 * device dropped. Returns the frame length (10), or 0 when @in is not a
 * parseable request or @cap is too small.
 */
size_t vmsg_ffa_error(const uint8_t *in, size_t in_len, uint8_t *out,
    size_t cap);

#endif
