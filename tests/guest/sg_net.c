/* SPDX-License-Identifier: GPL-2.0-or-later */
/* virtio-net frames over sg_virtio (virtio 1.2, 5.1). */
#include <endian.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>

#include "sg_log.h"
#include "sg_net.h"

#define SG_NET_RX_QUEUE		0u
#define SG_NET_TX_QUEUE		1u
#define SG_NET_DEFAULT_NUM	256u

_Static_assert(sizeof(struct virtio_net_hdr_v1) == SG_NET_HDR_LEN,
    "virtio-net header");
_Static_assert(SG_NET_HDR_LEN + SG_NET_FRAME_MAX <= SG_NET_BUF_LEN,
    "frame buffer");

struct sg_net_buf {
	uint8_t *p;		/* header, then the frame */
	uint64_t gpa;
	bool busy;		/* owned by the device */
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int bufs_alloc(struct sg_net *n, unsigned nr, struct sg_net_buf **out)
{
	struct sg_net_buf *b = calloc(nr, sizeof(*b));
	uint64_t gpa;
	uint8_t *p;

	*out = b;
	if (b == NULL)
		return sg_err(-ENOMEM, "virtio-net: allocate buffers");
	p = sg_mem_alloc(n->vd.mem, (uint64_t)nr * SG_NET_BUF_LEN, &gpa);
	if (p == NULL)
		return -ENOMEM;
	for (unsigned i = 0; i < nr; i++) {
		b[i].p = p + (size_t)i * SG_NET_BUF_LEN;
		b[i].gpa = gpa + (uint64_t)i * SG_NET_BUF_LEN;
	}
	return 0;
}

/* Hand receive buffer @b to the device (not notified). */
static int rx_post(struct sg_net *n, struct sg_net_buf *b)
{
	struct sg_buf in = { .gpa = b->gpa, .len = SG_NET_BUF_LEN };
	int rc;

	/* Poison: a header byte the device does not write shows. */
	memset(b->p, 0xa5, SG_NET_BUF_LEN);
	rc = sg_vq_add(n->rx, NULL, 0, &in, 1, b);
	if (rc < 0)
		return sg_err(rc, "virtio-net: post a receive buffer");
	b->busy = true;
	return 0;
}

int sg_net_open(struct sg_net *n, struct sg_sim *sim, unsigned dev,
    uint64_t base, const struct sg_net_opts *opts)
{
	struct sg_vq_opts qo = { 0 };
	uint64_t want = UINT64_C(1) << VIRTIO_F_VERSION_1 |
	    UINT64_C(1) << VIRTIO_NET_F_MAC;
	bool notified;
	int rc;

	memset(n, 0, sizeof(*n));
	if ((rc = sg_vdev_probe(&n->vd, sim, dev, base, VIRTIO_ID_NET)) < 0 ||
	    (rc = sg_vdev_negotiate(&n->vd, want)) < 0)
		return rc;
	n->has_mac = sg_vdev_has(&n->vd, VIRTIO_NET_F_MAC);
	if (n->has_mac && (rc = sg_vdev_config_read(&n->vd,
	    offsetof(struct virtio_net_config, mac), n->mac,
	    sizeof(n->mac))) < 0)
		return rc;
	qo.num = opts->queue_num != 0 ? opts->queue_num : SG_NET_DEFAULT_NUM;
	if ((rc = sg_vq_setup(&n->vd, SG_NET_RX_QUEUE, &qo, &n->rx)) < 0 ||
	    (rc = sg_vq_setup(&n->vd, SG_NET_TX_QUEUE, &qo, &n->tx)) < 0)
		return rc;
	n->nr_rx = sg_vq_num(n->rx) < SG_NET_MAX_BUFS ? sg_vq_num(n->rx) :
	    SG_NET_MAX_BUFS;
	n->nr_tx = sg_vq_num(n->tx) < SG_NET_MAX_BUFS ? sg_vq_num(n->tx) :
	    SG_NET_MAX_BUFS;
	if ((rc = bufs_alloc(n, n->nr_rx, &n->rxb)) < 0 ||
	    (rc = bufs_alloc(n, n->nr_tx, &n->txb)) < 0)
		return rc;
	/* Receive buffers before DRIVER_OK (virtio 1.2, 5.1.6.3.1). */
	for (unsigned i = 0; i < n->nr_rx; i++)
		if ((rc = rx_post(n, &n->rxb[i])) < 0)
			return rc;
	if ((rc = sg_vdev_driver_ok(&n->vd)) < 0)
		return rc;
	return sg_vq_kick(n->rx, &notified);
}

void sg_net_cleanup(struct sg_net *n)
{
	sg_vdev_cleanup(&n->vd);
	free(n->rxb);
	free(n->txb);
	n->rxb = n->txb = NULL;
	n->rx = n->tx = NULL;
}

int sg_net_close(struct sg_net *n)
{
	int rc = 0;

	if (sg_vdev_alive(&n->vd))
		rc = sg_vdev_reset(&n->vd);
	sg_net_cleanup(n);
	return rc;
}

/* Take every transmitted chain back. Returns how many, or -EIO. */
static int tx_reap(struct sg_net *n)
{
	struct sg_used u;
	int rc, nr = 0;

	while ((rc = sg_vq_get_used(n->tx, &u)) > 0) {
		struct sg_net_buf *b = u.token;

		if (b == NULL || b < n->txb || b >= n->txb + n->nr_tx ||
		    !b->busy)
			return sg_err(-EIO, "virtio-net: tx used head %u has no"
			    " frame", u.head);
		b->busy = false;
		nr++;
	}
	return rc < 0 ? rc : nr;
}

static struct sg_net_buf *tx_free_buf(struct sg_net *n)
{
	for (unsigned i = 0; i < n->nr_tx; i++)
		if (!n->txb[i].busy)
			return &n->txb[i];
	return NULL;
}

int sg_net_send(struct sg_net *n, const void *frame, uint32_t len,
    int timeout_ms)
{
	uint64_t deadline = now_ms() + (uint64_t)(timeout_ms < 0 ? 0 :
	    timeout_ms);
	struct sg_net_buf *b;
	struct sg_buf out;
	bool notified;
	int rc;

	if (len < 14 || len > SG_NET_FRAME_MAX)
		return sg_err(-EINVAL, "virtio-net: frame of %u bytes", len);
	for (;;) {
		uint64_t now;

		if ((rc = tx_reap(n)) < 0)
			return rc;
		if ((b = tx_free_buf(n)) != NULL)
			break;
		now = now_ms();
		if (now >= deadline)
			return sg_err(-ETIMEDOUT, "virtio-net: all %u transmit"
			    " buffers still in flight after %d ms", n->nr_tx,
			    timeout_ms);
		if ((rc = sg_vdev_wait(&n->vd, (int)(deadline - now))) < 0 &&
		    rc != -ETIMEDOUT)
			return rc;
	}
	memset(b->p, 0, SG_NET_HDR_LEN);
	memcpy(b->p + SG_NET_HDR_LEN, frame, len);
	out.gpa = b->gpa;
	out.len = SG_NET_HDR_LEN + len;
	if ((rc = sg_vq_add(n->tx, &out, 1, NULL, 0, b)) < 0)
		return sg_err(rc, "virtio-net: queue a frame");
	b->busy = true;
	n->nr_sent++;
	return sg_vq_kick(n->tx, &notified);
}

/* The device's answer for one receive buffer, checked. */
static int rx_take(struct sg_net *n, const struct sg_used *u, void *frame,
    uint32_t cap, uint32_t *len)
{
	struct sg_net_buf *b = u->token;
	struct virtio_net_hdr_v1 h;
	uint16_t nb;

	if (b == NULL || b < n->rxb || b >= n->rxb + n->nr_rx || !b->busy)
		return sg_err(-EIO, "virtio-net: rx used head %u has no buffer",
		    u->head);
	b->busy = false;
	if (u->len < SG_NET_HDR_LEN + 14 ||
	    u->len > SG_NET_HDR_LEN + SG_NET_FRAME_MAX ||
	    u->len - SG_NET_HDR_LEN > cap)
		return sg_err(-EIO, "virtio-net: rx used length %u", u->len);
	memcpy(&h, b->p, sizeof(h));
	nb = le16toh(h.num_buffers);
	/* Without MRG_RXBUF num_buffers means nothing; DPDK leaves it. */
	if (h.flags != 0 || h.gso_type != 0 || h.hdr_len != 0 ||
	    h.gso_size != 0 || h.csum_start != 0 || h.csum_offset != 0 ||
	    (nb != 1 && nb != 0 && nb != 0xa5a5))
		return sg_err(-EIO, "virtio-net: rx header flags %#x gso %#x"
		    " num_buffers %u: not a plain frame", h.flags, h.gso_type,
		    nb);
	if (nb != 1)
		n->nr_hdr_nb_unset++;
	*len = u->len - SG_NET_HDR_LEN;
	memcpy(frame, b->p + SG_NET_HDR_LEN, *len);
	n->nr_received++;
	return rx_post(n, b);
}

int sg_net_recv(struct sg_net *n, void *frame, uint32_t cap, uint32_t *len,
    int timeout_ms)
{
	uint64_t deadline = now_ms() + (uint64_t)(timeout_ms < 0 ? 0 :
	    timeout_ms);
	struct sg_used u;
	bool notified;
	int rc;

	for (;;) {
		uint64_t now;

		if ((rc = tx_reap(n)) < 0)
			return rc;
		rc = sg_vq_get_used(n->rx, &u);
		if (rc < 0)
			return rc;
		if (rc > 0) {
			if ((rc = rx_take(n, &u, frame, cap, len)) < 0)
				return rc;
			return sg_vq_kick(n->rx, &notified);
		}
		now = now_ms();
		if (now >= deadline)
			return -ETIMEDOUT;
		rc = sg_vdev_wait(&n->vd, (int)(deadline - now));
		if (rc < 0 && rc != -ETIMEDOUT)
			return rc;
	}
}
