/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <linux/virtio_config.h>

#include "sg_log.h"
#include "sg_vmsg.h"

/* Header: type, msg_id, dev_num le16, token le16, msg_size le16. */
#define HDR		8u
#define T_RESP		0x01u
#define T_BUS		0x02u

enum {
	M_GET_DEVICE_INFO = 0x02, M_GET_DEVICE_FEATURES = 0x03,
	M_SET_DRIVER_FEATURES = 0x04, M_GET_CONFIG = 0x05,
	M_GET_DEVICE_STATUS = 0x07, M_SET_DEVICE_STATUS = 0x08,
	M_GET_VQUEUE = 0x09, M_SET_VQUEUE = 0x0a,
	M_EVENT_CONFIG = 0x40, M_EVENT_AVAIL = 0x41, M_EVENT_USED = 0x42,
	B_GET_DEVICES = 0x02, B_PING = 0x03,
};

#define VQ_F_ENABLED	0x1u
/* Why 2000: Linux 2026 polls 10 s; the daemon resets synchronously. */
#define RESET_POLL_MS	2000
#define CONFIG_RETRIES	5
/* Why 256: the virtio config spaces of the devices used here are smaller. */
#define CONFIG_MAX	256u

struct sg_vmsg_bus {
	int fd;
	uint16_t token;		/* last used; 0 = event, 1 reserved */
	uint64_t nr_stray;
	/* Events seen while waiting for responses, per device number. */
	uint32_t used_pending[SG_VMSG_MAX_DEVS + 1];	/* bit per queue */
	bool config_pending[SG_VMSG_MAX_DEVS + 1];
	uint32_t config_status[SG_VMSG_MAX_DEVS + 1];
};

struct vmsg_ctx {
	struct sg_vmsg_bus *bus;
	uint16_t dev_num;
	uint32_t config_size;
	uint32_t max_vqs;
	uint8_t config[CONFIG_MAX];
};

static void st16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void st32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void st64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

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

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int sg_vmsg_connect(const char *path, struct sg_vmsg_bus **out)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct sg_vmsg_bus *b;

	*out = NULL;
	if (strlen(path) >= sizeof(sa.sun_path))
		return sg_err(-ENAMETOOLONG, "vmsg socket path %s", path);
	strcpy(sa.sun_path, path);
	b = calloc(1, sizeof(*b));
	if (b == NULL)
		return sg_err(-ENOMEM, "vmsg bus");
	b->token = 1;
	b->fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (b->fd < 0 || connect(b->fd, (struct sockaddr *)&sa,
	    sizeof(sa)) < 0) {
		int err = sg_err(-errno, "vmsg: connect %s", path);

		if (b->fd >= 0)
			close(b->fd);
		free(b);
		return err;
	}
	*out = b;
	return 0;
}

void sg_vmsg_close(struct sg_vmsg_bus *b)
{
	if (b == NULL)
		return;
	close(b->fd);
	free(b);
}

uint64_t sg_vmsg_nr_stray(const struct sg_vmsg_bus *b)
{
	return b->nr_stray;
}

int sg_vmsg_send_raw(struct sg_vmsg_bus *b, const void *frame, size_t len)
{
	if (send(b->fd, frame, len, MSG_NOSIGNAL) != (ssize_t)len)
		return sg_err(-errno, "vmsg: send %zu bytes", len);
	return 0;
}

/* An event frame: remembered for sg_vmsg wait / status checks. */
static bool take_event(struct sg_vmsg_bus *b, const uint8_t *f, size_t n)
{
	uint16_t dev;

	if (n < HDR || (f[0] & (T_RESP | T_BUS)) != 0 || ld16(f + 6) != n)
		return false;
	dev = ld16(f + 2);
	if (dev == 0 || dev > SG_VMSG_MAX_DEVS)
		return false;
	if (f[1] == M_EVENT_USED && n == HDR + 4) {
		uint32_t q = ld32(f + HDR);

		if (q < 32)
			b->used_pending[dev] |= 1u << q;
		return true;
	}
	if (f[1] == M_EVENT_CONFIG && n >= HDR + 16) {
		b->config_pending[dev] = true;
		b->config_status[dev] = ld32(f + HDR);
		return true;
	}
	return false;
}

/* Receive one frame within @timeout_ms: its length, -ETIMEDOUT, -EPIPE. */
static int recv_one(struct sg_vmsg_bus *b, uint8_t *buf, size_t cap,
    int timeout_ms)
{
	struct pollfd p = { .fd = b->fd, .events = POLLIN };
	ssize_t n;
	int rc;

	rc = poll(&p, 1, timeout_ms);
	if (rc < 0)
		return -errno;
	if (rc == 0)
		return -ETIMEDOUT;
	n = recv(b->fd, buf, cap, 0);
	if (n < 0)
		return -errno;
	if (n == 0)
		return -EPIPE;
	return (int)n;
}

/*
 * One request and its response: @resp gets the response payload, which
 * must be exactly @resp_len bytes (or at least, when @resp_min).
 */
static int xfer(struct sg_vmsg_bus *b, bool bus, uint8_t id, uint16_t dev,
    const void *req, size_t req_len, void *resp, size_t resp_len,
    bool resp_min, size_t *got)
{
	uint8_t f[SG_VMSG_MAX_MSG];
	uint64_t deadline;
	uint16_t token;
	int rc;

	if (HDR + req_len > sizeof(f))
		return sg_err(-EMSGSIZE, "vmsg: request %#x too big", id);
	if (++b->token < 2)
		b->token = 2;
	token = b->token;
	f[0] = bus ? T_BUS : 0;
	f[1] = id;
	st16(f + 2, dev);
	st16(f + 4, token);
	st16(f + 6, (uint16_t)(HDR + req_len));
	if (req_len != 0)
		memcpy(f + HDR, req, req_len);
	if ((rc = sg_vmsg_send_raw(b, f, HDR + req_len)) < 0)
		return rc;
	deadline = mono_ms() + SG_VMSG_TIMEOUT_MS;
	for (;;) {
		uint64_t now = mono_ms();
		int n;

		if (now >= deadline)
			return sg_err(-ETIMEDOUT, "vmsg dev %u: no response to"
			    " %#x in %d ms", dev, id, SG_VMSG_TIMEOUT_MS);
		n = recv_one(b, f, sizeof(f), (int)(deadline - now));
		if (n == -ETIMEDOUT)
			continue;
		if (n < 0)
			return sg_err(n, "vmsg dev %u: waiting for %#x", dev, id);
		if (take_event(b, f, (size_t)n))
			continue;
		if ((size_t)n < HDR || f[0] != ((bus ? T_BUS : 0) | T_RESP) ||
		    f[1] != id || ld16(f + 2) != dev || ld16(f + 4) != token) {
			b->nr_stray++;
			continue;
		}
		n -= (int)HDR;
		if (ld16(f + 6) != n + HDR ||
		    (resp_min ? (size_t)n < resp_len : (size_t)n != resp_len))
			return sg_err(-EPROTO, "vmsg dev %u: response to %#x"
			    " of %d bytes, expected %s%zu", dev, id, n,
			    resp_min ? ">= " : "", resp_len);
		if (resp != NULL)
			memcpy(resp, f + HDR, resp_min ? (size_t)n : resp_len);
		if (got != NULL)
			*got = (size_t)n;
		return 0;
	}
}

int sg_vmsg_devices(struct sg_vmsg_bus *b, uint16_t *devs, unsigned max,
    unsigned *nr)
{
	uint8_t req[4], resp[SG_VMSG_MAX_MSG];
	size_t got;
	unsigned count;
	int rc;

	st16(req, 0);
	st16(req + 2, 256);
	rc = xfer(b, true, B_GET_DEVICES, 0, req, sizeof(req), resp, 6, true,
	    &got);
	if (rc < 0)
		return rc;
	count = ld16(resp + 4);
	if (ld16(resp) != 0 || count % 8 != 0 || got != 6 + count / 8)
		return sg_err(-EPROTO, "vmsg: GET_DEVICES response: offset %u"
		    " count %u in %zu bytes", ld16(resp), count, got);
	*nr = 0;
	for (unsigned i = 0; i < count; i++)
		if ((resp[6 + i / 8] >> (i % 8)) & 1) {
			if (*nr < max)
				devs[*nr] = (uint16_t)i;
			(*nr)++;
		}
	return 0;
}

int sg_vmsg_ping(struct sg_vmsg_bus *b, uint32_t data)
{
	uint8_t req[4], resp[4];
	int rc;

	st32(req, data);
	rc = xfer(b, true, B_PING, 0, req, 4, resp, 4, false, NULL);
	if (rc == 0 && ld32(resp) != data)
		return sg_err(-EPROTO, "vmsg: PING %#x echoed %#x", data,
		    ld32(resp));
	return rc;
}

static struct vmsg_ctx *ctx(const struct sg_vdev *vd)
{
	return vd->tr_ctx;
}

static int dev_xfer(struct sg_vdev *vd, uint8_t id, const void *req,
    size_t req_len, void *resp, size_t resp_len)
{
	struct vmsg_ctx *c = ctx(vd);

	return xfer(c->bus, false, id, c->dev_num, req, req_len, resp,
	    resp_len, false, NULL);
}

static int get_status(struct sg_vdev *vd, uint32_t *status)
{
	uint8_t resp[4];
	int rc = dev_xfer(vd, M_GET_DEVICE_STATUS, NULL, 0, resp, 4);

	if (rc == 0)
		*status = ld32(resp);
	return rc;
}

/* SET_DEVICE_STATUS: the response carries the resulting status. */
static int set_status(struct sg_vdev *vd, uint32_t status, uint32_t *result)
{
	uint8_t req[4], resp[4];
	int rc;

	st32(req, status);
	rc = dev_xfer(vd, M_SET_DEVICE_STATUS, req, 4, resp, 4);
	if (rc < 0)
		return rc;
	vd->status = (uint8_t)status;
	if (result != NULL)
		*result = ld32(resp);
	return 0;
}

static int status_add(struct sg_vdev *vd, uint8_t bit, uint32_t *result)
{
	return set_status(vd, (uint32_t)(vd->status | bit), result);
}

static int t_reset(struct sg_vdev *vd)
{
	struct timespec ms10 = { .tv_nsec = 10000000 };
	uint32_t st = 0xff;
	int rc;

	if ((rc = set_status(vd, 0, NULL)) < 0)
		return rc;
	vd->needs_reset = false;
	for (int waited = 0; waited <= RESET_POLL_MS; waited += 10) {
		if ((rc = get_status(vd, &st)) < 0)
			return rc;
		if (st == 0) {
			struct vmsg_ctx *c = ctx(vd);

			c->bus->used_pending[c->dev_num] = 0;
			return 0;
		}
		nanosleep(&ms10, NULL);
	}
	return sg_err(-ETIMEDOUT, "vmsg dev %u: status %#x %d ms after reset",
	    vd->dev, st, RESET_POLL_MS);
}

/* GET_CONFIG in chunks the bus carries; all of one generation. */
static int t_config_read(struct sg_vdev *vd, uint32_t off, void *buf,
    uint32_t len)
{
	const uint32_t chunk = SG_VMSG_MAX_MSG - HDR - 12;
	struct vmsg_ctx *c = ctx(vd);
	uint8_t req[8], resp[SG_VMSG_MAX_MSG];

	if (off > c->config_size || len > c->config_size - off)
		return sg_err(-EINVAL, "vmsg dev %u: config [%u, +%u) beyond"
		    " %u bytes", vd->dev, off, len, c->config_size);
	for (int tries = 0; tries < CONFIG_RETRIES; tries++) {
		uint32_t gen = 0;
		bool same = true;

		for (uint32_t i = 0; i < len && same; i += chunk) {
			uint32_t n = len - i < chunk ? len - i : chunk;
			int rc;

			st32(req, off + i);
			st32(req + 4, n);
			rc = dev_xfer(vd, M_GET_CONFIG, req, 8, resp, 12 + n);
			if (rc < 0)
				return rc;
			if (ld32(resp + 4) != off + i || ld32(resp + 8) != n)
				return sg_err(-EPROTO, "vmsg dev %u: GET_CONFIG"
				    " answered [%u, +%u) for [%u, +%u)",
				    vd->dev, ld32(resp + 4), ld32(resp + 8),
				    off + i, n);
			if (i == 0)
				gen = ld32(resp);
			else if (ld32(resp) != gen)
				same = false;
			memcpy((uint8_t *)buf + i, resp + 12, n);
		}
		if (same)
			return 0;
		sg_debug("vmsg dev %u: config generation changed, re-read",
		    vd->dev);
	}
	return sg_err(-EAGAIN, "vmsg dev %u: config generation keeps changing",
	    vd->dev);
}

static int t_get_features(struct sg_vdev *vd, uint64_t *offered)
{
	uint8_t req[8], resp[16];
	int rc;

	st32(req, 0);
	st32(req + 4, 2);
	rc = dev_xfer(vd, M_GET_DEVICE_FEATURES, req, 8, resp, 16);
	if (rc < 0)
		return rc;
	if (ld32(resp) != 0 || ld32(resp + 4) != 2)
		return sg_err(-EPROTO, "vmsg dev %u: GET_DEVICE_FEATURES echoed"
		    " block %u count %u", vd->dev, ld32(resp), ld32(resp + 4));
	*offered = (uint64_t)ld32(resp + 12) << 32 | ld32(resp + 8);
	return 0;
}

static int t_set_features(struct sg_vdev *vd, uint64_t features)
{
	uint8_t req[16];
	uint32_t st;
	int rc;

	st32(req, 0);
	st32(req + 4, 2);
	st32(req + 8, (uint32_t)features);
	st32(req + 12, (uint32_t)(features >> 32));
	if ((rc = dev_xfer(vd, M_SET_DRIVER_FEATURES, req, 16, NULL, 0)) < 0 ||
	    (rc = status_add(vd, VIRTIO_CONFIG_S_FEATURES_OK, &st)) < 0)
		return rc;
	if ((st & VIRTIO_CONFIG_S_FEATURES_OK) == 0)
		return sg_err(-ENOTSUP, "vmsg dev %u: FEATURES_OK refused in"
		    " the SET_DEVICE_STATUS response (%#x)", vd->dev, st);
	if ((rc = get_status(vd, &st)) < 0)
		return rc;
	if ((st & VIRTIO_CONFIG_S_FEATURES_OK) == 0)
		return sg_err(-ENOTSUP, "vmsg dev %u: device refused features"
		    " %#llx (status %#x)", vd->dev,
		    (unsigned long long)features, st);
	return 0;
}

struct vq_info {
	uint32_t index, max, size, flags;
	uint64_t desc, driver, device;
};

static int get_vqueue(struct sg_vdev *vd, unsigned index, struct vq_info *q)
{
	uint8_t req[4], resp[40];
	int rc;

	st32(req, index);
	if ((rc = dev_xfer(vd, M_GET_VQUEUE, req, 4, resp, 40)) < 0)
		return rc;
	q->index = ld32(resp);
	q->max = ld32(resp + 4);
	q->size = ld32(resp + 8);
	q->flags = ld32(resp + 12);
	q->desc = ld64(resp + 16);
	q->driver = ld64(resp + 24);
	q->device = ld64(resp + 32);
	if (q->index != index)
		return sg_err(-EPROTO, "vmsg dev %u: GET_VQUEUE %u answered for"
		    " %u", vd->dev, index, q->index);
	return 0;
}

static int t_queue_max(struct sg_vdev *vd, unsigned index, uint32_t *max)
{
	struct vq_info q;
	int rc = get_vqueue(vd, index, &q);

	if (rc < 0)
		return rc;
	if (q.max != 0 && ((q.flags & VQ_F_ENABLED) != 0 || q.size != 0 ||
	    q.desc != 0 || q.driver != 0 || q.device != 0))
		return sg_err(-EBUSY, "vmsg dev %u: queue %u not inactive before"
		    " setup (size %u, flags %#x)", vd->dev, index, q.size,
		    q.flags);
	*max = q.max;
	return 0;
}

static int t_queue_enable(struct sg_vdev *vd, const struct sg_vq_layout *l)
{
	uint8_t req[40];
	struct vq_info q;
	int rc;

	memset(req, 0, sizeof(req));
	st32(req, l->index);
	st32(req + 4, VQ_F_ENABLED);
	st32(req + 8, l->num);
	st64(req + 16, l->desc_gpa);
	st64(req + 24, l->avail_gpa);
	st64(req + 32, l->used_gpa);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if ((rc = dev_xfer(vd, M_SET_VQUEUE, req, 40, NULL, 0)) < 0 ||
	    (rc = get_vqueue(vd, l->index, &q)) < 0)
		return rc;
	if (q.size != l->num || q.desc != l->desc_gpa ||
	    q.driver != l->avail_gpa || q.device != l->used_gpa ||
	    (q.flags & VQ_F_ENABLED) == 0)
		return sg_err(-EIO, "vmsg dev %u: queue %u did not stick (size"
		    " %u flags %#x)", vd->dev, l->index, q.size, q.flags);
	return 0;
}

static int t_driver_ok(struct sg_vdev *vd)
{
	uint32_t st;
	int rc;

	if ((rc = status_add(vd, VIRTIO_CONFIG_S_DRIVER_OK, NULL)) < 0 ||
	    (rc = get_status(vd, &st)) < 0)
		return rc;
	if ((st & VIRTIO_CONFIG_S_NEEDS_RESET) != 0) {
		vd->needs_reset = true;
		return sg_err(-EIO, "vmsg dev %u: needs reset right after"
		    " DRIVER_OK (status %#x)", vd->dev, st);
	}
	if ((st & VIRTIO_CONFIG_S_DRIVER_OK) == 0)
		return sg_err(-EIO, "vmsg dev %u: DRIVER_OK not kept (status"
		    " %#x)", vd->dev, st);
	return 0;
}

static void t_fail(struct sg_vdev *vd)
{
	(void)status_add(vd, VIRTIO_CONFIG_S_FAILED, NULL);
}

static bool t_alive(const struct sg_vdev *vd)
{
	return ctx(vd) != NULL && ctx(vd)->bus->fd >= 0;
}

static int t_notify(struct sg_vdev *vd, unsigned queue)
{
	struct vmsg_ctx *c = ctx(vd);
	uint8_t f[HDR + 8];

	f[0] = 0;
	f[1] = M_EVENT_AVAIL;
	st16(f + 2, c->dev_num);
	st16(f + 4, 0);
	st16(f + 6, sizeof(f));
	st32(f + HDR, queue);
	st32(f + HDR + 4, 0);
	return sg_vmsg_send_raw(c->bus, f, sizeof(f));
}

/* An EVENT_USED for this device (any queue), or EVENT_CONFIG. */
static int t_wait(struct sg_vdev *vd, int timeout_ms)
{
	struct vmsg_ctx *c = ctx(vd);
	struct sg_vmsg_bus *b = c->bus;
	uint64_t deadline = mono_ms() + (uint64_t)timeout_ms;
	uint8_t f[SG_VMSG_MAX_MSG];

	for (;;) {
		uint64_t now;
		int n;

		if (b->config_pending[c->dev_num]) {
			b->config_pending[c->dev_num] = false;
			if (b->config_status[c->dev_num] &
			    VIRTIO_CONFIG_S_NEEDS_RESET) {
				vd->needs_reset = true;
				return sg_err(-EIO, "vmsg dev %u: EVENT_CONFIG:"
				    " device needs reset", vd->dev);
			}
		}
		if (b->used_pending[c->dev_num] != 0) {
			b->used_pending[c->dev_num] = 0;
			return 0;
		}
		now = mono_ms();
		if (now >= deadline)
			return -ETIMEDOUT;
		n = recv_one(b, f, sizeof(f), (int)(deadline - now));
		if (n == -ETIMEDOUT)
			return n;
		if (n < 0)
			return sg_err(n, "vmsg dev %u: waiting for EVENT_USED",
			    vd->dev);
		if (!take_event(b, f, (size_t)n))
			b->nr_stray++;
	}
}

const struct sg_transport sg_vmsg_transport = {
	.name = "virtio-msg",
	.get_features = t_get_features,
	.set_features = t_set_features,
	.config_read = t_config_read,
	.queue_max = t_queue_max,
	.queue_enable = t_queue_enable,
	.driver_ok = t_driver_ok,
	.reset = t_reset,
	.fail = t_fail,
	.alive = t_alive,
	.notify = t_notify,
	.wait = t_wait,
};

int sg_vmsg_probe(struct sg_vdev *vd, struct sg_vmsg_bus *bus,
    uint16_t dev_num, struct sg_mem *mem, uint32_t device_id)
{
	struct vmsg_ctx *c = vd->tr == &sg_vmsg_transport ? vd->tr_ctx : NULL;
	uint8_t info[44];
	int rc;

	if (dev_num == 0 || dev_num > SG_VMSG_MAX_DEVS)
		return sg_err(-EINVAL, "vmsg: device number %u", dev_num);
	if (c == NULL) {
		memset(vd, 0, sizeof(*vd));
		c = calloc(1, sizeof(*c));
		if (c == NULL)
			return sg_err(-ENOMEM, "vmsg dev %u", dev_num);
	}
	c->bus = bus;
	c->dev_num = dev_num;
	vd->tr = &sg_vmsg_transport;
	vd->tr_ctx = c;
	vd->mem = mem;
	vd->dev = dev_num;
	vd->status = 0;

	/* GET_DEVICE_INFO: the 2026 layout, 44 bytes. */
	if ((rc = dev_xfer(vd, M_GET_DEVICE_INFO, NULL, 0, info, 44)) < 0)
		return rc;
	vd->device_id = ld32(info);
	vd->vendor_id = ld32(info + 4);
	c->config_size = ld32(info + 28);
	c->max_vqs = ld32(info + 32);
	if (vd->device_id != device_id)
		return sg_err(-ENODEV, "vmsg dev %u: device id %u, expected %u",
		    dev_num, vd->device_id, device_id);
	if (ld32(info + 24) == 0 || c->config_size > CONFIG_MAX ||
	    c->max_vqs == 0)
		return sg_err(-EPROTO, "vmsg dev %u: GET_DEVICE_INFO: %u feature"
		    " blocks, config %u bytes, %u queues", dev_num,
		    ld32(info + 24), c->config_size, c->max_vqs);
	sg_debug("vmsg dev %u: id %u vendor %#x, config %u bytes, %u queues",
	    dev_num, vd->device_id, vd->vendor_id, c->config_size, c->max_vqs);
	/* Linux reads the whole config space before the core resets. */
	if ((rc = t_config_read(vd, 0, c->config, c->config_size)) < 0 ||
	    (rc = t_reset(vd)) < 0 ||
	    (rc = status_add(vd, VIRTIO_CONFIG_S_ACKNOWLEDGE, NULL)) < 0)
		return rc;
	return status_add(vd, VIRTIO_CONFIG_S_DRIVER, NULL);
}

int sg_vmsg_probe_config(const struct sg_vdev *vd, void *buf, uint32_t len)
{
	const struct vmsg_ctx *c = ctx(vd);

	if (c == NULL || len > c->config_size)
		return -EINVAL;
	memcpy(buf, c->config, len);
	return 0;
}

void sg_vmsg_release(struct sg_vdev *vd)
{
	if (vd->tr != &sg_vmsg_transport)
		return;
	free(vd->tr_ctx);
	vd->tr_ctx = NULL;
	vd->tr = NULL;
}
