/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The guest driver as vhost-user front-end: see direct.h. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "direct.h"
#include "sg_log.h"
#include "vhost/vhu_client.h"

#define BIT64(n)	(UINT64_C(1) << (n))
/* As xen-vhostd asks (src/device.c DEV_PROTOCOL_WANTED). */
#define DIRECT_PROTOCOL_WANTED (BIT64(VHU_PROTOCOL_F_MQ) | \
	BIT64(VHU_PROTOCOL_F_REPLY_ACK) | BIT64(VHU_PROTOCOL_F_CONFIG) | \
	BIT64(VHU_PROTOCOL_F_INFLIGHT_SHMFD))
/* Why 1024: the QueueNumMax xen-vhostd offers for blk (src/devtab.c). */
#define DIRECT_QUEUE_MAX	1024u
/* Why 10 s / 5 s: xen-vhostd's default connect and reply timeouts. */
#define DIRECT_CONNECT_MS	10000
#define DIRECT_REPLY_MS		5000

static struct direct_dev *to_direct(const struct sg_vdev *vd)
{
	return vd->tr_ctx;
}

static int vhu_rc(int rc, const char *what)
{
	if (rc < 0)
		return sg_err(rc, "direct: %s", what);
	return 0;
}

static bool has_protocol(const struct direct_dev *d)
{
	return (d->backend_features & BIT64(VHU_F_PROTOCOL_FEATURES)) != 0;
}

static int d_get_features(struct sg_vdev *vd, uint64_t *offered)
{
	/* The vhost-user bit is ours, not the driver's. */
	*offered = to_direct(vd)->backend_features &
	    ~BIT64(VHU_F_PROTOCOL_FEATURES);
	return 0;
}

static int d_set_features(struct sg_vdev *vd, uint64_t features)
{
	struct direct_dev *d = to_direct(vd);

	if ((features & ~d->backend_features) != 0)
		return sg_err(-ENOTSUP, "direct: features %#llx not offered",
		    (unsigned long long)(features & ~d->backend_features));
	if (has_protocol(d))
		features |= BIT64(VHU_F_PROTOCOL_FEATURES);
	return vhu_rc(vhu_set_features(d->vhu, features), "SET_FEATURES");
}

static int d_config_read(struct sg_vdev *vd, uint32_t off, void *buf,
    uint32_t len)
{
	struct direct_dev *d = to_direct(vd);

	if (off > d->config_len || len > d->config_len - off)
		return sg_err(-EINVAL, "direct: config [%u, +%u) beyond the %u"
		    " bytes the back-end gave", off, len, d->config_len);
	memcpy(buf, d->config + off, len);
	return 0;
}

static int d_queue_max(struct sg_vdev *vd, unsigned index, uint32_t *max)
{
	struct direct_dev *d = to_direct(vd);

	*max = index < d->nr_queues && index < SG_VDEV_MAX_QUEUES ?
	    d->queue_max : 0;
	return 0;
}

static int d_queue_enable(struct sg_vdev *vd, const struct sg_vq_layout *l)
{
	struct direct_dev *d = to_direct(vd);

	/* Handed over at DRIVER_OK, as xen-vhostd does. */
	d->q[l->index].l = *l;
	d->q[l->index].ready = true;
	return 0;
}

static int start_queue(struct direct_dev *d, unsigned i)
{
	const struct sg_vq_layout *l = &d->q[i].l;
	struct vhu_vring_addr a = {
		.index = i,
		.desc = (uintptr_t)l->desc,
		.avail = (uintptr_t)l->avail,
		.used = (uintptr_t)l->used,
	};
	int rc;

	if ((rc = vhu_rc(vhu_set_vring_num(d->vhu, i, l->num),
	    "SET_VRING_NUM")) < 0 ||
	    (rc = vhu_rc(vhu_set_vring_base(d->vhu, i, 0),
	    "SET_VRING_BASE")) < 0 ||
	    (rc = vhu_rc(vhu_set_vring_addr(d->vhu, &a),
	    "SET_VRING_ADDR")) < 0 ||
	    (rc = vhu_rc(vhu_set_vring_kick(d->vhu, i, d->q[i].kick_fd),
	    "SET_VRING_KICK")) < 0 ||
	    (rc = vhu_rc(vhu_set_vring_call(d->vhu, i, d->q[i].call_fd),
	    "SET_VRING_CALL")) < 0)
		return rc;
	d->q[i].started = true;
	if (has_protocol(d) &&
	    (rc = vhu_rc(vhu_set_vring_enable(d->vhu, i, true),
	    "SET_VRING_ENABLE")) < 0)
		return rc;
	return 0;
}

static int d_driver_ok(struct sg_vdev *vd)
{
	struct direct_dev *d = to_direct(vd);
	struct vhu_mem_region r = {
		.guest_addr = d->mem.gpa,
		.size = d->mem.len,
		.user_addr = (uintptr_t)d->mem.hva,
		.mmap_offset = 0,
	};
	uint32_t qsize = 0;
	int rc;

	for (unsigned i = 0; i < SG_VDEV_MAX_QUEUES; i++)
		if (d->q[i].ready && d->q[i].l.num > qsize)
			qsize = d->q[i].l.num;
	if ((d->protocol_features & BIT64(VHU_PROTOCOL_F_INFLIGHT_SHMFD)) != 0) {
		struct vhu_inflight in;

		if ((rc = vhu_rc(vhu_get_inflight_fd(d->vhu,
		    (uint16_t)d->nr_queues, (uint16_t)qsize, &in,
		    &d->inflight_fd), "GET_INFLIGHT_FD")) < 0)
			return rc;
		in.num_queues = (uint16_t)d->nr_queues;
		in.queue_size = (uint16_t)qsize;
		if ((rc = vhu_rc(vhu_set_inflight_fd(d->vhu, &in,
		    d->inflight_fd), "SET_INFLIGHT_FD")) < 0)
			return rc;
	}
	if ((rc = vhu_rc(vhu_set_mem_table(d->vhu, &r, &d->mem.fd, 1),
	    "SET_MEM_TABLE")) < 0)
		return rc;
	for (unsigned i = 0; i < SG_VDEV_MAX_QUEUES; i++)
		if (d->q[i].ready && (rc = start_queue(d, i)) < 0)
			return rc;
	d->started = true;
	return 0;
}

static int d_reset(struct sg_vdev *vd)
{
	struct direct_dev *d = to_direct(vd);
	uint32_t base;
	int rc = 0;

	/* xen-vhostd's queue_stop: disable, then GET_VRING_BASE stops it. */
	for (unsigned i = 0; i < SG_VDEV_MAX_QUEUES; i++) {
		if (!d->q[i].started)
			continue;
		d->q[i].started = false;
		d->q[i].ready = false;
		if (has_protocol(d) && rc == 0)
			rc = vhu_rc(vhu_set_vring_enable(d->vhu, i, false),
			    "SET_VRING_ENABLE(0)");
		if (rc == 0)
			rc = vhu_rc(vhu_get_vring_base(d->vhu, i, &base),
			    "GET_VRING_BASE");
	}
	d->started = false;
	vd->status = 0;
	return rc;
}

static bool d_alive(const struct sg_vdev *vd)
{
	const struct direct_dev *d = to_direct(vd);

	return d->vhu != NULL && !vhu_client_broken(d->vhu);
}

static int d_notify(struct sg_vdev *vd, unsigned queue)
{
	struct direct_dev *d = to_direct(vd);
	uint64_t one = 1;

	if (queue >= SG_VDEV_MAX_QUEUES || !d->q[queue].started)
		return sg_err(-EINVAL, "direct: kick of queue %u, not started",
		    queue);
	if (write(d->q[queue].kick_fd, &one, sizeof(one)) != sizeof(one))
		return sg_err(-errno, "direct: kick queue %u", queue);
	return 0;
}

/* Any started queue's call eventfd: a used-buffer notification. */
static int d_wait(struct sg_vdev *vd, int timeout_ms)
{
	struct direct_dev *d = to_direct(vd);
	struct pollfd pfd[SG_VDEV_MAX_QUEUES + 1];
	unsigned n = 0, qi[SG_VDEV_MAX_QUEUES];
	int rc;

	for (unsigned i = 0; i < SG_VDEV_MAX_QUEUES; i++) {
		if (!d->q[i].started)
			continue;
		pfd[n] = (struct pollfd){ .fd = d->q[i].call_fd,
		    .events = POLLIN };
		qi[n++] = i;
	}
	/* A back-end hang-up ends the wait too. */
	pfd[n] = (struct pollfd){ .fd = vhu_client_fd(d->vhu),
	    .events = POLLIN };
	do
		rc = poll(pfd, n + 1, timeout_ms);
	while (rc < 0 && errno == EINTR);
	if (rc < 0)
		return sg_err(-errno, "direct: poll");
	if (rc == 0)
		return sg_err(-ETIMEDOUT, "direct: no call in %d ms",
		    timeout_ms);
	if (pfd[n].revents != 0)
		return sg_err(-EPIPE, "direct: back-end hung up or spoke out"
		    " of turn");
	for (unsigned k = 0; k < n; k++) {
		uint64_t v;

		if (pfd[k].revents == 0)
			continue;
		if (read(pfd[k].fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
			return sg_err(-errno, "direct: call eventfd of queue"
			    " %u", qi[k]);
	}
	return 0;
}

const struct sg_transport direct_transport = {
	.name = "vhost-user (direct)",
	.get_features = d_get_features,
	.set_features = d_set_features,
	.config_read = d_config_read,
	.queue_max = d_queue_max,
	.queue_enable = d_queue_enable,
	.driver_ok = d_driver_ok,
	.reset = d_reset,
	.fail = NULL,
	.alive = d_alive,
	.notify = d_notify,
	.wait = d_wait,
};

int direct_open(struct direct_dev *d, struct sg_vdev *vd, const char *socket,
    uint64_t ram_bytes, uint32_t device_id, uint32_t config_len)
{
	uint64_t nq = 1;
	int rc;

	memset(d, 0, sizeof(*d));
	d->mem.fd = -1;
	d->inflight_fd = -1;
	for (unsigned i = 0; i < SG_VDEV_MAX_QUEUES; i++)
		d->q[i].kick_fd = d->q[i].call_fd = -1;
	memset(vd, 0, sizeof(*vd));
	vd->tr = &direct_transport;
	vd->tr_ctx = d;
	vd->mem = &d->mem;
	vd->device_id = device_id;

	if ((rc = sg_mem_create(&d->mem, "xvd-bench-ram", 0x40000000ull,
	    ram_bytes)) < 0)
		return rc;
	rc = vhu_client_connect(socket, "direct", DIRECT_CONNECT_MS,
	    DIRECT_REPLY_MS, &d->vhu);
	if (rc < 0) {
		d->vhu = NULL;
		return sg_err(rc, "direct: connect %s", socket);
	}
	if ((rc = vhu_rc(vhu_get_features(d->vhu, &d->backend_features),
	    "GET_FEATURES")) < 0)
		return rc;
	if (has_protocol(d)) {
		uint64_t pf;

		if ((rc = vhu_rc(vhu_get_protocol_features(d->vhu, &pf),
		    "GET_PROTOCOL_FEATURES")) < 0)
			return rc;
		pf &= DIRECT_PROTOCOL_WANTED;
		if ((rc = vhu_rc(vhu_set_protocol_features(d->vhu, pf),
		    "SET_PROTOCOL_FEATURES")) < 0)
			return rc;
		d->protocol_features = pf;
	}
	if ((d->protocol_features & BIT64(VHU_PROTOCOL_F_MQ)) != 0 &&
	    (rc = vhu_rc(vhu_get_queue_num(d->vhu, &nq), "GET_QUEUE_NUM")) < 0)
		return rc;
	d->nr_queues = nq == 0 ? 1 : nq > SG_VDEV_MAX_QUEUES ?
	    SG_VDEV_MAX_QUEUES : (uint32_t)nq;
	d->queue_max = DIRECT_QUEUE_MAX;
	if ((rc = vhu_rc(vhu_set_owner(d->vhu), "SET_OWNER")) < 0)
		return rc;
	if ((d->protocol_features & BIT64(VHU_PROTOCOL_F_CONFIG)) != 0 &&
	    config_len != 0) {
		if (config_len > sizeof(d->config))
			config_len = sizeof(d->config);
		if ((rc = vhu_rc(vhu_get_config(d->vhu, 0, config_len,
		    d->config), "GET_CONFIG")) < 0)
			return rc;
		d->config_len = config_len;
	}
	for (unsigned i = 0; i < d->nr_queues; i++) {
		d->q[i].kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		d->q[i].call_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (d->q[i].kick_fd < 0 || d->q[i].call_fd < 0)
			return sg_err(-errno, "direct: eventfd");
	}
	return 0;
}

void direct_close(struct direct_dev *d)
{
	if (d->vhu != NULL)
		vhu_client_close(d->vhu);
	d->vhu = NULL;
	for (unsigned i = 0; i < SG_VDEV_MAX_QUEUES; i++) {
		if (d->q[i].kick_fd >= 0)
			close(d->q[i].kick_fd);
		if (d->q[i].call_fd >= 0)
			close(d->q[i].call_fd);
		d->q[i].kick_fd = d->q[i].call_fd = -1;
	}
	if (d->inflight_fd >= 0)
		close(d->inflight_fd);
	d->inflight_fd = -1;
	sg_mem_destroy(&d->mem);
}
