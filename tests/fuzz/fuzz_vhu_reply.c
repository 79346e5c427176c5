/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer target for the vhost-user reply checker: a fuzzed reply (header,
 * payload, fd count) against each request kind. A reply that passes must
 * have exactly the size its kind needs, and its accessors stay in bounds.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "vhost/vhu_msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct vhu_msg req, rep;
	static const uint8_t cfg[VHU_CONFIG_MAX];
	uint8_t out[VHU_CONFIG_MAX];
	const char *why = NULL;
	uint32_t cfg_len;
	bool ack;

	if (size < 3 + VHU_HDR_LEN)
		return 0;
	ack = data[1] & 1;
	cfg_len = 1 + data[2] % VHU_CONFIG_MAX;
	switch (data[0] % 6) {
	case 0:
		vhu_msg_init(&req, VHU_GET_FEATURES);
		break;
	case 1:
		vhu_msg_state(&req, VHU_GET_VRING_BASE, data[1] >> 1, 0);
		break;
	case 2:
		vhu_msg_config(&req, VHU_GET_CONFIG, 0, cfg_len, 0, cfg);
		break;
	case 3:
		vhu_msg_u64(&req, VHU_SET_FEATURES, 1);
		break;
	case 4: {
		struct vhu_inflight in = { .num_queues = 1, .queue_size = 128 };

		vhu_msg_inflight(&req, VHU_GET_INFLIGHT_FD, &in, -1);
		break;
	}
	default:
		vhu_msg_init(&req, VHU_GET_QUEUE_NUM);
		break;
	}
	memset(&rep, 0, sizeof(rep));
	memcpy(&rep.hdr, data + 3, VHU_HDR_LEN);
	size -= 3 + VHU_HDR_LEN;
	if (size > VHU_PAYLOAD_MAX)
		size = VHU_PAYLOAD_MAX;
	memcpy(rep.payload, data + 3 + VHU_HDR_LEN, size);
	rep.nr_fds = data[1] >> 7;
	rep.fds[0] = -1;
	if (vhu_check_reply(&req, &rep, ack, &why) == 0) {
		if (rep.hdr.size > size)
			return 0;	/* header claims bytes we did not supply */
		switch (vhu_reply_kind(req.hdr.request)) {
		case VHU_REPLY_U64:
			(void)vhu_reply_u64(&rep);
			break;
		case VHU_REPLY_STATE:
			(void)vhu_reply_state_num(&rep);
			break;
		case VHU_REPLY_CONFIG:
			vhu_reply_config(&rep, out, cfg_len);
			break;
		default:
			break;
		}
	} else if (why == NULL) {
		__builtin_trap();
	}
	return 0;
}
