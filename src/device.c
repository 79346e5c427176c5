/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The relay: guest register accesses (vmmio) in, vhost-user requests out;
 * QueueNotify to kick eventfds, call eventfds to InterruptStatus and an
 * interrupt. Guest RAM is handed to the back-end as it is (zero copy) when
 * the hypervisor layer can share it as an fd (the simulator's memfd).
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/virtio_config.h>
#include <linux/virtio_fs.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_mmio.h>
#include <linux/virtio_ring.h>

#include "device.h"
#include "devtab.h"
#include "evloop.h"
#include "hv/hv.h"
#include "log.h"
#include "transport/vmmio.h"
#include "util.h"
#include "vhost/vhu_client.h"
#include "vq/shadow.h"
#include "xs_parse.h"

#define BIT64(n) (UINT64_C(1) << (n))
/* virtio 1.2 feature bits missing from the 6.1 uapi headers. */
#define VIRTIO_F_NOTIFICATION_DATA 38
#define VIRTIO_F_RING_RESET 40
#define VHOST_F_LOG_ALL 26

/*
 * Features the relay cannot pass through: the vhost-user protocol bit, the
 * packed ring and notification data (the relay only parses split rings and
 * plain queue indexes), access-platform (means IOTLB to a vhost-user
 * back-end), per-queue reset (not relayed yet) and dirty logging.
 */
#define DEV_FEATURES_MASKED (BIT64(VHU_F_PROTOCOL_FEATURES) | \
	BIT64(VIRTIO_F_RING_PACKED) | BIT64(VIRTIO_F_NOTIFICATION_DATA) | \
	BIT64(VIRTIO_F_ACCESS_PLATFORM) | BIT64(VIRTIO_F_RING_RESET) | \
	BIT64(VHOST_F_LOG_ALL))

#define DEV_PROTOCOL_WANTED (BIT64(VHU_PROTOCOL_F_MQ) | \
	BIT64(VHU_PROTOCOL_F_REPLY_ACK) | BIT64(VHU_PROTOCOL_F_CONFIG) | \
	BIT64(VHU_PROTOCOL_F_INFLIGHT_SHMFD))

/* Reconnect backoff: first retry after 100 ms, then doubling up to 1 s. */
#define DEV_RECONNECT_FIRST_MS 100u
#define DEV_RECONNECT_MAX_MS 1000u

struct dev_queue {
	struct shadow_vq *svq;	/* shadow mode only */
	/* The used ring the back-end writes, in this process (restart base). */
	volatile uint8_t *used_hva;
	int kick_fd;
	int call_fd;
	struct evloop_watch *call_w;
	bool started;
	bool ioeventfd, irqfd;	/* kernel fast path assigned */
	struct xvd_device *dev;
	uint32_t index;
};

struct xvd_device {
	struct hv_dom *hv;
	struct xvd_device_cfg cfg;
	char name[48];		/* "dom3 blk0" */
	struct vmmio mmio;
	struct vmsg_dev vmsg;	/* virtio-msg devices: the same vmmio */
	struct vhu_client *vhu;
	struct evloop_watch *vhu_w;
	uint64_t backend_features;
	uint64_t protocol_features;
	bool running;
	bool resume;		/* this start resumes a previous daemon's rings */
	bool shadow;		/* this start copies through shadow queues */
	bool xen_mmap;		/* this start hands XEN_MMAP regions */
	struct shadow_mem *smem;
	struct dev_queue q[VMMIO_MAX_QUEUES];
	/* Back-end restart: inflight region (INFLIGHT_SHMFD) and reconnect. */
	int inflight_fd;
	struct vhu_inflight inflight;
	bool recovering;
	bool connecting;	/* connect_async: first back-end not there yet */
	struct evloop_watch *reconnect_w;
	uint64_t reconnect_deadline_ms;
	unsigned reconnect_delay_ms;
	/* Server mode: our socket (and its inode, to unlink only ours). */
	int listen_fd;
	dev_t listen_st_dev;
	ino_t listen_st_ino;
	struct evloop_watch *listen_w;	/* while recovering */
	struct log_rl rl;
	struct xvd_device_stats st;
};

static void device_backend_lost(struct xvd_device *dev, const char *why);
static void device_stop(struct xvd_device *dev);

uint64_t device_base(const struct xvd_device *dev)
{
	return dev->cfg.base;
}

const char *device_name(const struct xvd_device *dev)
{
	return dev->name;
}

const struct xvd_device_stats *device_stats(const struct xvd_device *dev)
{
	return &dev->st;
}

void device_info(const struct xvd_device *dev, struct xvd_device_info *out)
{
	memset(out, 0, sizeof(*out));
	out->name = dev->name;
	out->type = dev->cfg.dt->name;
	out->socket = dev->cfg.socket;
	out->base = dev->cfg.base;
	out->irq = dev->cfg.irq;
	/* Server mode waits for the back-end on its socket: "listening". */
	out->backend = dev->vhu != NULL ? "connected" :
	    dev->connecting ? (dev->cfg.server ? "listening" : "connecting") :
	    dev->recovering ? (dev->cfg.server ? "listening" : "reconnecting") :
	    dev->listen_fd >= 0 ? "listening" : "absent";
	out->memory = !dev->running ? "-" : dev->shadow ? "shadow" :
	    dev->xen_mmap ? "xen-mmap" : "zero-copy";
	out->status = dev->mmio.status;
	out->features = dev->mmio.driver_features;
	out->nr_queues = dev->mmio.nr_queues;
	for (uint32_t i = 0; i < dev->mmio.nr_queues && i < 16; i++) {
		out->q[i].num = dev->mmio.q[i].num;
		out->q[i].ready = dev->mmio.q[i].ready;
		out->q[i].started = dev->q[i].started;
		out->q[i].kernel_fast_path = dev->q[i].ioeventfd ||
		    dev->q[i].irqfd;
		out->q[i].shadow_inflight = dev->q[i].svq != NULL ?
		    shadow_vq_inflight(dev->q[i].svq) : 0;
	}
	out->st = dev->st;
}

int xvd_mem_mode_parse(const char *s, enum xvd_mem_mode *out)
{
	if (strcmp(s, "auto") == 0)
		*out = XVD_MEM_AUTO;
	else if (strcmp(s, "xen-mmap") == 0)
		*out = XVD_MEM_XEN_MMAP;
	else if (strcmp(s, "shadow") == 0)
		*out = XVD_MEM_SHADOW;
	else
		return -EINVAL;
	return 0;
}

const char *xvd_mem_mode_name(enum xvd_mem_mode m)
{
	return m == XVD_MEM_SHADOW ? "shadow" :
	    m == XVD_MEM_XEN_MMAP ? "xen-mmap" : "auto";
}

/*
 * Guest memory for shadow queues: grant addresses (bit 63) mapped per use,
 * other addresses through the hypervisor layer's mapping of guest RAM.
 */
static void *hv_mem_map(void *ctx, uint64_t gpa, uint64_t len, bool writable,
    void **cookie)
{
	struct hv_dom *hv = ctx;

	*cookie = NULL;
	if ((gpa & HV_GRANT_ADDR_BIT) != 0)
		return hv->ops->grant_map != NULL ?
		    hv->ops->grant_map(hv, gpa, len, writable, cookie) : NULL;
	return hv_gpa_to_hva(hv, gpa, len);
}

static void hv_mem_unmap(void *ctx, void *cookie)
{
	struct hv_dom *hv = ctx;

	if (cookie != NULL && hv->ops->grant_unmap != NULL)
		hv->ops->grant_unmap(hv, cookie);
}

static const struct vq_mem_ops hv_mem_ops = {
	.map = hv_mem_map,
	.unmap = hv_mem_unmap,
};

static void device_inject(struct xvd_device *dev)
{
	int rc;

	/* Level 1 then 0, as QEMU does: Arm's vGIC treats it as an edge. */
	rc = dev->hv->ops->set_irq(dev->hv, dev->cfg.irq, 1);
	if (rc == 0)
		rc = dev->hv->ops->set_irq(dev->hv, dev->cfg.irq, 0);
	if (rc < 0) {
		dev->st.errors++;
		if (log_ratelimited(&dev->rl))
			log_warnx("%s: injecting irq %u: %s", dev->name,
			    dev->cfg.irq, strerror(-rc));
		return;
	}
	dev->st.irqs++;
}

bool device_is_vmsg(const struct xvd_device *dev)
{
	return dev->cfg.vmsg_max_msg != 0;
}

/* A config/status change: EVENT_CONFIG through the sink, else the SPI. */
static void device_signal_config(struct xvd_device *dev)
{
	if (dev->cfg.notify_config != NULL) {
		dev->st.irqs++;
		dev->cfg.notify_config(dev->cfg.notify_arg);
		return;
	}
	device_inject(dev);
}

static void device_fail(struct xvd_device *dev, const char *why, uint32_t q)
{
	dev->st.errors++;
	if (log_ratelimited(&dev->rl))
		log_warnx("%s queue %u: %s: device needs reset", dev->name, q,
		    why);
	if (vmmio_needs_reset(&dev->mmio))
		device_signal_config(dev);
}

static void kick(struct xvd_device *dev, uint32_t i, bool force);

static void call_cb(int fd, void *arg)
{
	struct dev_queue *q = arg;
	struct xvd_device *dev = q->dev;
	uint64_t v;

	if (read(fd, &v, sizeof(v)) != (ssize_t)sizeof(v))
		return;
	dev->st.calls++;
	if (q->svq != NULL) {
		const char *why = NULL;
		int rc = shadow_vq_complete(q->svq, &why);
		uint64_t one = 1;

		if (rc < 0) {
			device_fail(dev, why != NULL ? why : "shadow queue error",
			    q->index);
			return;
		}
		if ((rc & SHADOW_KICK) != 0 &&
		    write(q->kick_fd, &one, sizeof(one)) != sizeof(one))
			dev->st.errors++;
		/* Freed shadow memory may unblock the device's other queues. */
		for (uint32_t i = 0; i < dev->mmio.nr_queues; i++)
			if (i != q->index && dev->q[i].svq != NULL &&
			    shadow_vq_inflight(dev->q[i].svq) == 0)
				kick(dev, i, false);
		if ((rc & SHADOW_IRQ) == 0)
			return;
	}
	if (dev->cfg.notify_used != NULL) {
		/* virtio-msg: EVENT_USED for this queue, no InterruptStatus. */
		dev->st.irqs++;
		dev->cfg.notify_used(dev->cfg.notify_arg, q->index);
		return;
	}
	if (vmmio_raise(&dev->mmio, VMMIO_INT_VRING))
		device_inject(dev);
}

static void vhu_cb(int fd, void *arg)
{
	/* Between requests the back-end has nothing to say: EOF or junk. */
	device_backend_lost(arg, "back-end closed the connection");
}

/* Every call on a broken client fails: the first error drops the back-end. */
static int vhu_check(struct xvd_device *dev, int rc, const char *what)
{
	if (rc >= 0)
		return 0;
	if (dev->vhu != NULL && vhu_client_broken(dev->vhu)) {
		device_backend_lost(dev, what);
	} else {
		dev->st.errors++;
		log_warnx("%s: %s: %s", dev->name, what, strerror(-rc));
	}
	return rc;
}

static bool has_protocol(const struct xvd_device *dev)
{
	return (dev->backend_features & BIT64(VHU_F_PROTOCOL_FEATURES)) != 0;
}

/*
 * The kernel fast path (privcmd ioeventfd/irqfd, Linux 6.7+): kicks and
 * interrupts then bypass this process. Not with shadow queues, where every
 * kick and call needs copying here.
 */
static void queue_fast_path(struct xvd_device *dev, uint32_t i, bool assign)
{
	struct dev_queue *q = &dev->q[i];
	struct hv_dom *hv = dev->hv;
	uint64_t notify = dev->cfg.base + VIRTIO_MMIO_QUEUE_NOTIFY;
	bool any = false;

	/* virtio-msg: no QueueNotify address, events are not an SPI. */
	if (assign && !dev->shadow && !device_is_vmsg(dev)) {
		if (hv->ops->ioeventfd != NULL && !q->ioeventfd &&
		    hv->ops->ioeventfd(hv, notify, i, q->kick_fd, true) == 0)
			q->ioeventfd = true;
		if (hv->ops->irqfd != NULL && !q->irqfd &&
		    hv->ops->irqfd(hv, dev->cfg.irq, q->call_fd, true) == 0) {
			q->irqfd = true;
			/* The kernel consumes the call eventfd now. */
			evloop_watch_del(q->call_w);
			q->call_w = NULL;
		}
		if (q->ioeventfd || q->irqfd)
			log_debug("%s queue %u: kernel fast path:%s%s", dev->name,
			    i, q->ioeventfd ? " ioeventfd" : "",
			    q->irqfd ? " irqfd" : "");
	} else if (!assign) {
		if (q->ioeventfd && !hv->dead)
			(void)hv->ops->ioeventfd(hv, notify, i, q->kick_fd, false);
		q->ioeventfd = false;
		if (q->irqfd) {
			if (!hv->dead)
				(void)hv->ops->irqfd(hv, dev->cfg.irq, q->call_fd,
				    false);
			q->irqfd = false;
			q->call_w = evloop_watch_add(q->call_fd, call_cb, q);
		}
	}
	for (uint32_t k = 0; k < VMMIO_MAX_QUEUES; k++)
		any = any || dev->q[k].irqfd;
	dev->mmio.vring_irq_external = any;
}

/* Stop the back-end's ring @i; its last avail index is only logged. */
static void queue_stop(struct xvd_device *dev, uint32_t i)
{
	struct dev_queue *q = &dev->q[i];
	bool was_started = q->started;
	uint32_t base = 0;

	/* Also reached again from device_backend_lost() inside this call. */
	if (!was_started && q->svq == NULL)
		return;
	q->started = false;
	queue_fast_path(dev, i, false);
	/* The back-end stops using the ring before its memory goes away. */
	if (was_started && dev->vhu != NULL &&
	    (!has_protocol(dev) ||
	    vhu_check(dev, vhu_set_vring_enable(dev->vhu, i, false),
	    "SET_VRING_ENABLE(0)") == 0) &&
	    vhu_check(dev, vhu_get_vring_base(dev->vhu, i, &base),
	    "GET_VRING_BASE") == 0)
		log_debug("%s queue %u: stopped at avail index %u", dev->name,
		    i, base);
	shadow_vq_destroy(q->svq);
	q->svq = NULL;
}

/*
 * queue_start - hand ring @i to the back-end. On a @restart after the
 * back-end came back, the shadow ring (if any) is kept and the ring resumes
 * at the used index (QEMU's rule): the back-end replays what was in flight
 * from its inflight region, and takes the rest from the avail ring.
 */
static int queue_start(struct xvd_device *dev, uint32_t i, bool restart)
{
	const struct vmmio_queue *mq = &dev->mmio.q[i];
	struct dev_queue *q = &dev->q[i];
	struct vhu_vring_addr a = { .index = i };
	uint64_t num = mq->num;
	uint8_t *desc, *avail, *used = NULL;
	uint16_t base = 0;

	/* The rings, sized as the split layout with event idx words. */
	if (dev->shadow && q->svq != NULL) {
		struct shadow_ring_addr sa;

		shadow_vq_ring_addr(q->svq, &sa);
		a.desc = sa.desc_hva;
		a.avail = sa.avail_hva;
		a.used = sa.used_hva;
	} else if (dev->shadow) {
		uint64_t f = vmmio_driver_features(&dev->mmio);
		struct shadow_vq_cfg sc = {
			.index = i, .name = dev->name, .num = mq->num,
			.desc_gpa = mq->desc, .avail_gpa = mq->driver,
			.used_gpa = mq->device,
			.event_idx = (f & BIT64(VIRTIO_RING_F_EVENT_IDX)) != 0,
			.indirect = (f & BIT64(VIRTIO_RING_F_INDIRECT_DESC)) != 0,
			.resume = dev->resume,
			.mem = &hv_mem_ops, .mem_ctx = dev->hv,
		};
		struct shadow_ring_addr sa;
		int rc = shadow_vq_create(dev->smem, &sc, &q->svq);

		if (rc < 0) {
			device_fail(dev, rc == -ENOMEM ? "shadow memory full" :
			    rc == -EFAULT ? "ring outside guest RAM" :
			    "bad queue size or ring alignment", i);
			return rc;
		}
		shadow_vq_ring_addr(q->svq, &sa);
		a.desc = sa.desc_hva;
		a.avail = sa.avail_hva;
		a.used = sa.used_hva;
	} else {
		desc = hv_gpa_to_hva(dev->hv, mq->desc, 16 * num);
		avail = hv_gpa_to_hva(dev->hv, mq->driver, 6 + 2 * num);
		used = hv_gpa_to_hva(dev->hv, mq->device, 6 + 8 * num);
		if (desc == NULL || avail == NULL || used == NULL) {
			device_fail(dev, "ring outside guest RAM", i);
			return -EFAULT;
		}
		/* XEN_MMAP back-ends map guest RAM: they get guest addresses. */
		a.desc = dev->xen_mmap ? mq->desc : (uintptr_t)desc;
		a.avail = dev->xen_mmap ? mq->driver : (uintptr_t)avail;
		a.used = dev->xen_mmap ? mq->device : (uintptr_t)used;
	}
	q->used_hva = dev->shadow ? (volatile uint8_t *)(uintptr_t)a.used : used;
	if (restart && q->svq != NULL) {
		int n = shadow_vq_backend_restart(q->svq);

		log_info("%s queue %u: %d request(s) in flight posted again",
		    dev->name, i, n);
	} else if (restart) {
		/*
		 * QEMU's rule: resume at the used index. Requests in flight
		 * survive only if the back-end keeps an inflight region.
		 */
		base = *(volatile uint16_t *)(q->used_hva + 2);
		if ((dev->protocol_features &
		    BIT64(VHU_PROTOCOL_F_INFLIGHT_SHMFD)) == 0)
			log_warnx("%s queue %u: back-end has no INFLIGHT_SHMFD:"
			    " requests in flight at the restart may be lost",
			    dev->name, i);
	} else if (dev->resume && q->svq == NULL) {
		/* A previous daemon's ring: what is not used yet is redone. */
		base = *(volatile uint16_t *)(q->used_hva + 2);
	}
	/* From here queue_stop() undoes whatever was done. */
	q->started = true;
	if (vhu_check(dev, vhu_set_vring_num(dev->vhu, i, mq->num),
	    "SET_VRING_NUM") < 0 ||
	    vhu_check(dev, vhu_set_vring_base(dev->vhu, i, base),
	    "SET_VRING_BASE") < 0 ||
	    vhu_check(dev, vhu_set_vring_addr(dev->vhu, &a),
	    "SET_VRING_ADDR") < 0 ||
	    vhu_check(dev, vhu_set_vring_kick(dev->vhu, i, q->kick_fd),
	    "SET_VRING_KICK") < 0 ||
	    vhu_check(dev, vhu_set_vring_call(dev->vhu, i, q->call_fd),
	    "SET_VRING_CALL") < 0)
		return -EPIPE;
	if (has_protocol(dev) &&
	    vhu_check(dev, vhu_set_vring_enable(dev->vhu, i, true),
	    "SET_VRING_ENABLE(1)") < 0)
		return -EPIPE;
	queue_fast_path(dev, i, true);
	log_debug("%s queue %u: started, %u entries, base %u", dev->name, i,
	    mq->num, base);
	return 0;
}

/* Zero copy needs every guest RAM bank as an fd the back-end can map. */
static bool guest_ram_shareable(const struct hv_dom *hv)
{
	for (unsigned i = 0; i < hv->nr_mem; i++)
		if (hv->mem[i].fd < 0)
			return false;
	return hv->nr_mem != 0;
}

static int device_set_shadow_mem_table(struct xvd_device *dev)
{
	struct vhu_mem_region r = { .guest_addr = SHADOW_IOVA_BASE };
	int fd, rc;

	if (dev->smem == NULL) {
		rc = shadow_mem_create(dev->cfg.shadow_bytes, dev->name,
		    &dev->smem);
		if (rc < 0) {
			log_warnx("%s: cannot create %zu bytes of shadow memory:"
			    " %s", dev->name, dev->cfg.shadow_bytes,
			    strerror(-rc));
			return rc;
		}
	}
	r.size = shadow_mem_size(dev->smem);
	r.user_addr = (uintptr_t)shadow_mem_hva(dev->smem);
	fd = shadow_mem_fd(dev->smem);
	return vhu_check(dev, vhu_set_mem_table(dev->vhu, &r, &fd, 1),
	    "SET_MEM_TABLE");
}

/*
 * XEN_MMAP: the back-end maps each bank itself through privcmd (foreign).
 * user_addr is the guest address, so ring addresses are guest addresses.
 */
static int device_set_xen_mem_table(struct xvd_device *dev)
{
	struct vhu_mem_region r[HV_MAX_MEM];
	int fds[HV_MAX_MEM];
	struct hv_dom *hv = dev->hv;
	int fd = hv->ops->xen_mmap_fd(hv);

	if (fd < 0) {
		log_warnx("%s: cannot open privcmd for the back-end: %s",
		    dev->name, strerror(-fd));
		return fd;
	}
	for (unsigned i = 0; i < hv->nr_mem; i++) {
		r[i] = (struct vhu_mem_region) {
			.guest_addr = hv->mem[i].gpa,
			.size = hv->mem[i].size,
			.user_addr = hv->mem[i].gpa,
			.xen_mmap_flags = VHU_XEN_MMAP_FOREIGN,
			.domid = hv->domid,
		};
		fds[i] = fd;
	}
	return vhu_check(dev, vhu_set_mem_table(dev->vhu, r, fds, hv->nr_mem),
	    "SET_MEM_TABLE");
}

static int device_set_mem_table(struct xvd_device *dev)
{
	struct vhu_mem_region r[HV_MAX_MEM];
	int fds[HV_MAX_MEM];
	struct hv_dom *hv = dev->hv;

	if (dev->shadow)
		return device_set_shadow_mem_table(dev);
	if (dev->xen_mmap)
		return device_set_xen_mem_table(dev);
	for (unsigned i = 0; i < hv->nr_mem; i++) {
		const struct hv_mem_region *m = &hv->mem[i];

		r[i] = (struct vhu_mem_region) {
			.guest_addr = m->gpa,
			.size = m->size,
			.user_addr = (uintptr_t)m->hva,
			.mmap_offset = m->fd_offset,
		};
		fds[i] = m->fd;
	}
	return vhu_check(dev, vhu_set_mem_table(dev->vhu, r, fds, hv->nr_mem),
	    "SET_MEM_TABLE");
}

/* INFLIGHT_SHMFD: one region for the device's lifetime with the driver. */
static int device_set_inflight(struct xvd_device *dev)
{
	if ((dev->protocol_features & BIT64(VHU_PROTOCOL_F_INFLIGHT_SHMFD)) == 0)
		return 0;
	if (dev->inflight_fd < 0) {
		uint32_t qsize = 0;

		for (uint32_t i = 0; i < dev->mmio.nr_queues; i++)
			if (dev->mmio.q[i].ready && dev->mmio.q[i].num > qsize)
				qsize = dev->mmio.q[i].num;
		if (vhu_check(dev, vhu_get_inflight_fd(dev->vhu,
		    (uint16_t)dev->mmio.nr_queues, (uint16_t)qsize,
		    &dev->inflight, &dev->inflight_fd), "GET_INFLIGHT_FD") < 0)
			return -EPIPE;
		dev->inflight.num_queues = (uint16_t)dev->mmio.nr_queues;
		dev->inflight.queue_size = (uint16_t)qsize;
	}
	return vhu_check(dev, vhu_set_inflight_fd(dev->vhu, &dev->inflight,
	    dev->inflight_fd), "SET_INFLIGHT_FD");
}

/*
 * The vhost-user half of a start: features, inflight region, memory table
 * and every ready ring. Also replayed after a back-end restart.
 */
static int device_backend_setup(struct xvd_device *dev, bool restart)
{
	/* ACCESS_PLATFORM is ours (grants): to a back-end it means IOTLB. */
	uint64_t f = vmmio_driver_features(&dev->mmio) &
	    ~BIT64(VIRTIO_F_ACCESS_PLATFORM);

	if (has_protocol(dev))
		f |= BIT64(VHU_F_PROTOCOL_FEATURES);
	if (vhu_check(dev, vhu_set_features(dev->vhu, f), "SET_FEATURES") < 0 ||
	    device_set_inflight(dev) < 0)
		return -EPIPE;
	if (device_set_mem_table(dev) < 0) {
		if (dev->vhu != NULL)
			device_fail(dev, "cannot share guest memory", 0);
		return -EPIPE;
	}
	for (uint32_t i = 0; i < dev->mmio.nr_queues; i++)
		if (dev->mmio.q[i].ready && queue_start(dev, i, restart) < 0)
			return -EPIPE;
	return 0;
}

/* DRIVER_OK: hand the negotiated device to the back-end. */
static void device_start(struct xvd_device *dev)
{
	if (dev->vhu == NULL) {
		device_fail(dev, "no back-end connected", 0);
		return;
	}
	dev->xen_mmap = false;
	dev->shadow = false;
	if (dev->cfg.mem_mode == XVD_MEM_SHADOW || dev->cfg.grants) {
		/* Grants are mapped per request: only shadow queues can. */
		dev->shadow = true;
	} else if (dev->cfg.mem_mode == XVD_MEM_AUTO &&
	    guest_ram_shareable(dev->hv)) {
		/* zero copy: guest RAM is a file the back-end maps */
	} else if ((dev->protocol_features &
	    BIT64(VHU_PROTOCOL_F_XEN_MMAP)) != 0) {
		dev->xen_mmap = true;
	} else if (dev->cfg.mem_mode == XVD_MEM_XEN_MMAP) {
		device_fail(dev, "--memory xen-mmap: back-end lacks XEN_MMAP", 0);
		return;
	} else {
		dev->shadow = true;
	}
	if (dev->shadow)
		dev->st.shadow_starts++;
	if (dev->xen_mmap)
		dev->st.xen_mmap_starts++;
	/* running before the rings: a back-end lost meanwhile is recovered. */
	dev->running = true;
	if (device_backend_setup(dev, false) < 0)
		return;
	log_info("%s: driver ready, features %#llx, %s", dev->name,
	    (unsigned long long)vmmio_driver_features(&dev->mmio),
	    dev->shadow ? "shadow virtqueues" :
	    dev->xen_mmap ? "XEN_MMAP regions" : "zero copy");
	if (dev->cfg.on_driver_ok != NULL)
		dev->cfg.on_driver_ok(dev->cfg.cb_arg);
}

static void reconnect_cancel(struct xvd_device *dev)
{
	evloop_watch_del(dev->reconnect_w);
	dev->reconnect_w = NULL;
	evloop_watch_del(dev->listen_w);
	dev->listen_w = NULL;
	dev->recovering = false;
}

static void device_stop(struct xvd_device *dev)
{
	reconnect_cancel(dev);
	for (uint32_t i = 0; i < dev->mmio.nr_queues; i++)
		queue_stop(dev, i);
	dev->running = false;
	shadow_mem_destroy(dev->smem);
	dev->smem = NULL;
	/* A new driver session starts with a fresh inflight region. */
	fd_close(&dev->inflight_fd);
}

/*
 * Guest entries to the back-end, and its kick eventfd written unless
 * shadow queues had nothing new to post; @force writes it anyway.
 */
static void kick(struct xvd_device *dev, uint32_t i, bool force)
{
	struct dev_queue *q = &dev->q[i];
	uint64_t one = 1;

	if (!q->started)
		return;
	if (q->svq != NULL) {
		const char *why = NULL;
		int rc = shadow_vq_kick(q->svq, &why);

		if (rc < 0) {
			device_fail(dev, why != NULL ? why : "shadow queue error",
			    i);
			return;
		}
		if (rc == 0 && !force)
			return;
	}
	dev->st.kicks++;
	if (write(dev->q[i].kick_fd, &one, sizeof(one)) != sizeof(one))
		dev->st.errors++;
}

static int backend_connect(struct xvd_device *dev, int timeout_ms);

static void device_act(struct xvd_device *dev, const struct vmmio_action *a)
{
	switch (a->kind) {
	case VMMIO_ACT_NOTIFY:
		kick(dev, a->queue, false);
		break;
	case VMMIO_ACT_QUEUE_READY:
		if (dev->running && dev->vhu != NULL && !dev->recovering)
			queue_start(dev, a->queue, false);
		break;
	case VMMIO_ACT_QUEUE_STOP:
	case VMMIO_ACT_QUEUE_RESET:
		queue_stop(dev, a->queue);
		break;
	case VMMIO_ACT_STATUS:
		if ((a->new_status & VMMIO_S_DRIVER_OK) != 0 &&
		    (a->old_status & VMMIO_S_DRIVER_OK) == 0)
			device_start(dev);
		break;
	case VMMIO_ACT_RESET:
		device_stop(dev);
		log_debug("%s: reset by the driver", dev->name);
		if (dev->cfg.on_reset != NULL)
			dev->cfg.on_reset(dev->cfg.cb_arg);
		/* A reset is the guest's way back from NEEDS_RESET. */
		if (dev->vhu == NULL && backend_connect(dev, 0) < 0)
			log_warnx("%s: back-end still unavailable", dev->name);
		break;
	case VMMIO_ACT_CONFIG_WRITE:
		if (dev->vhu != NULL &&
		    (dev->protocol_features & BIT64(VHU_PROTOCOL_F_CONFIG)) != 0)
			vhu_check(dev, vhu_set_config(dev->vhu, a->cfg_off,
			    a->cfg_len, dev->mmio.config + a->cfg_off),
			    "SET_CONFIG");
		break;
	case VMMIO_ACT_BAD:
		dev->st.errors++;
		if (log_ratelimited(&dev->rl))
			log_warnx("%s: guest: %s", dev->name, a->why);
		break;
	}
}

void device_mmio(struct xvd_device *dev, uint64_t off, unsigned size,
    bool is_write, uint64_t *data)
{
	struct vmmio_actions acts = { .nr = 0 };

	if (!device_backend_ready(dev)) {
		/* No register file before the back-end: no device here yet. */
		if (!is_write)
			*data = 0;
		return;
	}
	if (!is_write) {
		dev->st.mmio_reads++;
		*data = vmmio_read(&dev->mmio, off, size);
		return;
	}
	dev->st.mmio_writes++;
	vmmio_write(&dev->mmio, off, size, *data, &acts);
	for (unsigned i = 0; i < acts.nr; i++)
		device_act(dev, &acts.a[i]);
}

/* The queue a queue message names (index first), for the log; or -1. */
static long vmsg_frame_queue(const uint8_t *in, size_t in_len)
{
	static const uint8_t queue_msgs[] = { VMSG_GET_VQUEUE, VMSG_SET_VQUEUE,
		VMSG_RESET_VQUEUE, VMSG_EVENT_AVAIL };

	if (in_len < VMSG_HDR_LEN + 4)
		return -1;
	for (size_t i = 0; i < ARRAY_SIZE(queue_msgs); i++)
		if (in[1] == queue_msgs[i])
			return (long)((uint32_t)in[8] | (uint32_t)in[9] << 8 |
			    (uint32_t)in[10] << 16 | (uint32_t)in[11] << 24);
	return -1;
}

enum vmsg_rc device_vmsg(struct xvd_device *dev, const uint8_t *in,
    size_t in_len, uint8_t *out, size_t *out_len)
{
	struct vmmio_actions acts = { .nr = 0 };
	const char *why = NULL;
	enum vmsg_rc rc;

	dev->st.mmio_writes++;
	rc = vmsg_handle(&dev->vmsg, in, in_len, out, out_len, &acts, &why);
	for (unsigned i = 0; i < acts.nr; i++)
		device_act(dev, &acts.a[i]);
	if (rc == VMSG_NONE && why != NULL) {
		long q = vmsg_frame_queue(in, in_len);
		struct vmsg_hdr h = { .msg_id = in_len > 1 ? in[1] : 0 };
		const char *name = vmsg_msg_name(dev->vmsg.proto, &h);
		char msg[32];

		dev->st.errors++;
		if (!log_ratelimited(&dev->rl))
			return rc;
		if (strcmp(name, "?") == 0)
			snprintf(msg, sizeof(msg), "message %#x", h.msg_id);
		else
			snprintf(msg, sizeof(msg), "%s", name);
		if (q >= 0)
			log_warnx("%s queue %ld: guest: virtio-msg %s dropped: %s",
			    dev->name, q, msg, why);
		else
			log_warnx("%s: guest: virtio-msg %s dropped: %s",
			    dev->name, msg, why);
	}
	return rc;
}

size_t device_vmsg_event(const struct xvd_device *dev, bool config,
    uint32_t queue, uint8_t *out, size_t cap)
{
	if (config)
		return vmsg_event_config(&dev->vmsg, 0, 0, out, cap);
	return vmsg_event_used(&dev->vmsg, queue, out, cap);
}

void device_vmsg_reset(struct xvd_device *dev)
{
	struct vmmio_actions acts = { .nr = 0 };

	if (dev->mmio.status == 0)
		return;
	vmmio_write(&dev->mmio, VIRTIO_MMIO_STATUS, 4, 0, &acts);
	for (unsigned i = 0; i < acts.nr; i++)
		device_act(dev, &acts.a[i]);
}

static void backend_close(struct xvd_device *dev)
{
	evloop_watch_del(dev->vhu_w);
	dev->vhu_w = NULL;
	if (dev->vhu != NULL)
		vhu_client_close(dev->vhu);
	dev->vhu = NULL;
}

static void reconnect_cb(int fd, void *arg);

/* Recovery is over without a back-end: the guest must reset the device. */
static void reconnect_give_up(struct xvd_device *dev)
{
	log_warnx("%s: back-end %s did not come back: device needs reset",
	    dev->name, dev->cfg.socket);
	backend_close(dev);
	/* With no back-end, this only releases the shadow queues. */
	device_stop(dev);
	if (vmmio_needs_reset(&dev->mmio))
		device_signal_config(dev);
}

/* Retries until the connect timeout: the first after 100 ms. */
static void backoff_start(struct xvd_device *dev)
{
	dev->reconnect_delay_ms = DEV_RECONNECT_FIRST_MS;
	dev->reconnect_deadline_ms = now_ms() +
	    (uint64_t)dev->cfg.connect_timeout_ms;
}

/* The next try of @cb after the delay, which then doubles up to 1 s. */
static bool backoff_timer(struct xvd_device *dev, evloop_cb cb)
{
	dev->reconnect_w = evloop_timer_add(dev->reconnect_delay_ms, cb, dev);
	if (dev->reconnect_w == NULL)
		return false;
	dev->reconnect_delay_ms *= 2;
	if (dev->reconnect_delay_ms > DEV_RECONNECT_MAX_MS)
		dev->reconnect_delay_ms = DEV_RECONNECT_MAX_MS;
	return true;
}

static void reconnect_schedule(struct xvd_device *dev)
{
	uint64_t now = now_ms();

	if (now >= dev->reconnect_deadline_ms) {
		reconnect_give_up(dev);
		return;
	}
	if (dev->cfg.server) {
		/* The back-end's connection wakes us; the timer ends the wait. */
		dev->listen_w = evloop_watch_add(dev->listen_fd, reconnect_cb,
		    dev);
		dev->reconnect_w = dev->listen_w == NULL ? NULL :
		    evloop_timer_add((unsigned)(dev->reconnect_deadline_ms -
		    now), reconnect_cb, dev);
		if (dev->reconnect_w == NULL)
			reconnect_give_up(dev);
		return;
	}
	if (!backoff_timer(dev, reconnect_cb))
		reconnect_give_up(dev);
}

static void reconnect_cb(int fd, void *arg)
{
	struct xvd_device *dev = arg;
	uint64_t want = vmmio_driver_features(&dev->mmio) &
	    ~BIT64(VIRTIO_F_ACCESS_PLATFORM);

	evloop_watch_del(dev->reconnect_w);
	dev->reconnect_w = NULL;
	evloop_watch_del(dev->listen_w);
	dev->listen_w = NULL;
	if (backend_connect(dev, 0) < 0) {
		reconnect_schedule(dev);
		return;
	}
	if ((dev->backend_features & want) != want) {
		log_warnx("%s: restarted back-end lacks features %#llx",
		    dev->name, (unsigned long long)(want & ~dev->backend_features));
		reconnect_give_up(dev);
		return;
	}
	if (device_backend_setup(dev, true) < 0) {
		/* Lost again (rescheduled by device_backend_lost) or refused. */
		if (dev->vhu != NULL && dev->recovering)
			reconnect_give_up(dev);
		return;
	}
	dev->recovering = false;
	dev->st.reconnects++;
	log_info("%s: back-end %s reconnected, rings resumed", dev->name,
	    dev->cfg.socket);
	/*
	 * Whatever the guest queued meanwhile; and the new back-end must look
	 * at its ring even if nothing new came: the requests posted again in
	 * queue_start() are already in it, and with all of the guest's
	 * requests in flight no guest kick would ever come.
	 */
	for (uint32_t i = 0; i < dev->mmio.nr_queues; i++)
		kick(dev, i, true);
}

static void device_backend_lost(struct xvd_device *dev, const char *why)
{
	dev->st.errors++;
	log_warnx("%s: back-end %s lost: %s", dev->name, dev->cfg.socket, why);
	backend_close(dev);
	if (!dev->running) {
		/* No driver session: the next DRIVER_OK connects again. */
		device_stop(dev);
		return;
	}
	/* Keep rings, shadow queues and inflight region: reconnect. */
	for (uint32_t i = 0; i < VMMIO_MAX_QUEUES; i++)
		dev->q[i].started = false;
	if (!dev->recovering) {
		dev->recovering = true;
		backoff_start(dev);
	}
	if (dev->reconnect_w == NULL)
		reconnect_schedule(dev);
}

/*
 * Config space for a back-end that does not serve it (no CONFIG protocol
 * feature), where the guest driver cannot do without: virtio-fs needs a
 * tag and a request queue count (QEMU's vhost-user-fs supplies them the
 * same way). The tag is the socket's base name: "fs0" for fs.sock0.
 */
static uint32_t device_default_config(struct xvd_device *dev, uint32_t nq,
    uint8_t *cfg)
{
	if (dev->cfg.dt->virtio_id == VIRTIO_ID_FS) {
		struct virtio_fs_config fc;
		uint32_t nreq = nq > 1 ? nq - 1 : 1;

		memset(&fc, 0, sizeof(fc));
		snprintf((char *)fc.tag, sizeof(fc.tag), "%s%u",
		    dev->cfg.dt->name, dev->cfg.slot);
		memcpy(&fc.num_request_queues, &nreq, sizeof(nreq));
		memcpy(cfg, &fc, sizeof(fc));
		return sizeof(fc);
	}
	return 0;
}

/*
 * Server mode: take the back-end's connection on our socket, waiting up to
 * @timeout_ms (0: only one already there). Returns the connected fd
 * (blocking, as vhu_client_connect's) or -errno, -ETIMEDOUT for none.
 */
static int server_accept(struct xvd_device *dev, int timeout_ms)
{
	uint64_t deadline = now_ms() + (uint64_t)timeout_ms;

	for (;;) {
		struct pollfd pfd = { .fd = dev->listen_fd, .events = POLLIN };
		uint64_t now;
		int fd = accept4(dev->listen_fd, NULL, NULL, SOCK_CLOEXEC);

		if (fd >= 0) {
			log_debug("%s: back-end connected on %s", dev->name,
			    dev->cfg.socket);
			return fd;
		}
		/* A back-end that hung up before we took it: next one. */
		if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED) {
			int err = errno;

			log_warn("%s: accept on %s", dev->name, dev->cfg.socket);
			return -err;
		}
		now = now_ms();
		if (now >= deadline)
			return -ETIMEDOUT;
		if (poll(&pfd, 1, (int)(deadline - now)) < 0 && errno != EINTR)
			return -errno;
	}
}

/*
 * Server mode: listen on the device's socket, replacing a stale one from a
 * previous run. Mode 0660: back-ends of the daemon's user or group.
 */
static int server_listen(struct xvd_device *dev)
{
	struct stat st;
	int fd = fd_unix_listen(dev->cfg.socket, SOCK_STREAM, 0660);

	if (fd < 0) {
		log_warnx("%s: cannot listen on %s: %s", dev->name,
		    dev->cfg.socket, strerror(-fd));
		return fd;
	}
	if (stat(dev->cfg.socket, &st) < 0) {
		int err = -errno;

		log_warn("%s: stat %s", dev->name, dev->cfg.socket);
		close(fd);
		return err;
	}
	dev->listen_fd = fd;
	dev->listen_st_dev = st.st_dev;
	dev->listen_st_ino = st.st_ino;
	log_info("%s: listening on %s for the back-end", dev->name,
	    dev->cfg.socket);
	return 0;
}

/* Close our socket and remove its file, unless another took the name. */
static void server_close(struct xvd_device *dev)
{
	struct stat st;

	if (dev->listen_fd < 0)
		return;
	if (stat(dev->cfg.socket, &st) == 0 && st.st_dev == dev->listen_st_dev &&
	    st.st_ino == dev->listen_st_ino && unlink(dev->cfg.socket) < 0)
		log_warn("%s: unlink %s", dev->name, dev->cfg.socket);
	fd_close(&dev->listen_fd);
}

/*
 * A connection to the back-end: client mode connects to its socket, server
 * mode takes its connection on ours. vhu_client sees only the fd.
 */
static int backend_open(struct xvd_device *dev, int timeout_ms)
{
	int fd;

	if (!dev->cfg.server)
		return vhu_client_connect(dev->cfg.socket, dev->name,
		    timeout_ms, dev->cfg.reply_timeout_ms, &dev->vhu);
	fd = server_accept(dev, timeout_ms);
	if (fd < 0)
		return fd;
	return vhu_client_from_fd(fd, dev->name, dev->cfg.reply_timeout_ms,
	    &dev->vhu);
}

/* Connect and learn the back-end: features, queues, config. */
static int backend_connect(struct xvd_device *dev, int timeout_ms)
{
	const struct devtab_entry *dt = dev->cfg.dt;
	uint64_t f = 0, pf = 0, nq = dt->nr_queues;
	uint8_t cfg[VMMIO_CONFIG_MAX];
	uint32_t cfg_len = 0;
	int rc;

	rc = backend_open(dev, timeout_ms);
	if (rc < 0) {
		/*
		 * Server mode: none waiting is no news while recovering; the
		 * retries of a first connect (connect_async) are not either.
		 */
		if (!dev->connecting && (!dev->cfg.server || rc != -ETIMEDOUT ||
		    timeout_ms != 0 || !dev->recovering))
			log_warnx("%s: %s back-end %s: %s", dev->name,
			    dev->cfg.server ? "no connection from the" :
			    "cannot connect to", dev->cfg.socket,
			    strerror(-rc));
		dev->vhu = NULL;
		return rc;
	}
	rc = vhu_get_features(dev->vhu, &f);
	if (rc == 0 && (f & BIT64(VIRTIO_F_VERSION_1)) == 0) {
		log_warnx("%s: back-end does not offer VIRTIO_F_VERSION_1",
		    dev->name);
		rc = -EPROTO;
	}
	dev->backend_features = f;
	if (rc == 0 && has_protocol(dev)) {
		rc = vhu_get_protocol_features(dev->vhu, &pf);
		if (rc == 0) {
			uint64_t want = DEV_PROTOCOL_WANTED;

			/* Only where guest RAM is not an fd, and not forced off. */
			if (dev->hv->ops->xen_mmap_fd != NULL &&
			    dev->cfg.mem_mode != XVD_MEM_SHADOW)
				want |= BIT64(VHU_PROTOCOL_F_XEN_MMAP);
			pf &= want;
			rc = vhu_set_protocol_features(dev->vhu, pf);
		}
	}
	dev->protocol_features = pf;
	if (rc == 0 && (pf & BIT64(VHU_PROTOCOL_F_MQ)) != 0) {
		rc = vhu_get_queue_num(dev->vhu, &nq);
		if (rc == 0 && nq == 0) {
			log_warnx("%s: back-end has no queues", dev->name);
			rc = -EPROTO;
		}
		/*
		 * The most it supports (DPDK answers 128); virtio-net counts
		 * queue pairs, as QEMU's vhost-user net reads it.
		 */
		if (rc == 0 && dt->virtio_id == VIRTIO_ID_NET &&
		    nq <= VMMIO_MAX_QUEUES / 2)
			nq *= 2;
		/* A multiqueue back-end serves what we ask of it. */
		if (rc == 0 && nq > dt->nr_queues)
			nq = dt->nr_queues;
	}
	if (rc == 0)
		rc = vhu_set_owner(dev->vhu);
	if (rc == 0 && (pf & BIT64(VHU_PROTOCOL_F_CONFIG)) != 0 &&
	    dt->config_len != 0) {
		cfg_len = dt->config_len;
		rc = vhu_get_config(dev->vhu, 0, cfg_len, cfg);
	}
	if (rc < 0) {
		log_warnx("%s: back-end %s: setup failed: %s", dev->name,
		    dev->cfg.socket, strerror(-rc));
		backend_close(dev);
		return rc;
	}
	if (cfg_len == 0)
		cfg_len = device_default_config(dev, (uint32_t)nq, cfg);
	f &= ~DEV_FEATURES_MASKED;
	/* A grant-using Linux guest refuses a device without these two. */
	if (dev->cfg.grants)
		f |= BIT64(VIRTIO_F_ACCESS_PLATFORM) | BIT64(VIRTIO_F_VERSION_1);
	if (dev->mmio.device_id == 0) {
		vmmio_init(&dev->mmio, dt->virtio_id, f, (uint32_t)nq,
		    dt->queue_max, cfg_len);
	} else {
		/* Reconnected: keep the register file, refresh config. */
		dev->mmio.device_features = f;
	}
	if (cfg_len != 0)
		vmmio_config_update(&dev->mmio, 0, cfg, cfg_len, false);
	dev->vhu_w = evloop_watch_add(vhu_client_fd(dev->vhu), vhu_cb, dev);
	log_info("%s: back-end %s: features %#llx, protocol %#llx, %llu queues",
	    dev->name, dev->cfg.socket,
	    (unsigned long long)dev->backend_features,
	    (unsigned long long)pf, (unsigned long long)nq);
	return 0;
}

void device_save(const struct xvd_device *dev, struct xs_restore *out)
{
	const struct vmmio *m = &dev->mmio;

	memset(out, 0, sizeof(*out));
	out->slot = dev->cfg.slot;
	out->status = m->status;
	out->features = m->driver_features;
	for (uint32_t i = 0; i < m->nr_queues && i < XS_RESTORE_MAX_QUEUES;
	    i++) {
		if (!m->q[i].ready)
			continue;
		out->ready |= 1u << i;
		out->q[i].num = m->q[i].num;
		out->q[i].desc = m->q[i].desc;
		out->q[i].avail = m->q[i].driver;
		out->q[i].used = m->q[i].device;
	}
}

/*
 * Daemon restart: take over the register state of a running driver from
 * the restart record, checked against what the back-end offers now.
 */
static int device_restore(struct xvd_device *dev, const struct xs_restore *r)
{
	struct vmmio *m = &dev->mmio;
	const uint32_t bad = VMMIO_S_NEEDS_RESET | VMMIO_S_FAILED;

	if ((r->status & VMMIO_S_DRIVER_OK) == 0 || (r->status & bad) != 0) {
		/* No running driver session: a fresh device serves it. */
		log_info("%s: taken over (driver not running, status %#x)",
		    dev->name, r->status);
		return 0;
	}
	if ((r->features & ~m->device_features) != 0) {
		log_warnx("%s: back-end no longer offers features %#llx the"
		    " driver uses", dev->name,
		    (unsigned long long)(r->features & ~m->device_features));
		return -EPROTO;
	}
	for (uint32_t i = 0; i < XS_RESTORE_MAX_QUEUES; i++) {
		if ((r->ready & (1u << i)) == 0)
			continue;
		if (i >= m->nr_queues || r->q[i].num > m->q[i].num_max) {
			log_warnx("%s queue %u: restart record does not fit the"
			    " device", dev->name, i);
			return -EINVAL;
		}
		m->q[i].num = r->q[i].num;
		m->q[i].desc = r->q[i].desc;
		m->q[i].driver = r->q[i].avail;
		m->q[i].device = r->q[i].used;
		m->q[i].ready = true;
	}
	m->driver_features = r->features;
	m->status = r->status;
	dev->resume = true;
	device_start(dev);
	dev->resume = false;
	if (!dev->running || (m->status & VMMIO_S_NEEDS_RESET) != 0)
		return 0;	/* device_start() said why; the guest resets */
	log_info("%s: taken over from a previous xen-vhostd, rings resumed",
	    dev->name);
	/* Requests the old daemon took but did not complete, and new ones. */
	for (uint32_t i = 0; i < m->nr_queues; i++)
		kick(dev, i, false);
	/* Completions of the old daemon the driver may not have seen. */
	if (vmmio_raise(m, VMMIO_INT_VRING))
		device_inject(dev);
	return 0;
}

/* What a device needs once its back-end said how many queues it has. */
static int device_finish(struct xvd_device *dev)
{
	const struct xvd_device_cfg *cfg = &dev->cfg;
	int rc;

	if (device_is_vmsg(dev)) {
		rc = vmsg_dev_init(&dev->vmsg, &dev->mmio, cfg->vmsg_dev_num,
		    NULL, cfg->vmsg_max_msg);
		if (rc < 0) {
			log_warnx("%s: virtio-msg bus max message %u too small",
			    dev->name, cfg->vmsg_max_msg);
			return rc;
		}
	}
	for (uint32_t i = 0; i < dev->mmio.nr_queues; i++) {
		struct dev_queue *q = &dev->q[i];

		q->kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		q->call_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (q->kick_fd < 0 || q->call_fd < 0)
			return -errno;
		q->call_w = evloop_watch_add(q->call_fd, call_cb, q);
		if (q->call_w == NULL)
			return -ENOMEM;
	}
	return 0;
}

/*
 * connect_async: retry the first connect from the event loop (backoff_timer)
 * until the connect timeout, so that one missing back-end
 * does not hold up every other guest.
 */
static void first_connect_cb(int fd, void *arg)
{
	struct xvd_device *dev = arg;
	int rc;

	evloop_watch_del(dev->reconnect_w);
	dev->reconnect_w = NULL;
	if (backend_connect(dev, 0) == 0) {
		dev->connecting = false;
		rc = device_finish(dev);
		if (rc < 0) {
			log_warnx("%s: cannot set the device up: %s", dev->name,
			    strerror(-rc));
			backend_close(dev);
			return;
		}
		log_info("%s: back-end %s is there now", dev->name,
		    dev->cfg.socket);
		if (dev->cfg.on_backend_ready != NULL)
			dev->cfg.on_backend_ready(dev->cfg.cb_arg);
		return;
	}
	if (now_ms() >= dev->reconnect_deadline_ms) {
		dev->connecting = false;
		log_warnx("%s: no back-end on %s within %d ms: device not served",
		    dev->name, dev->cfg.socket, dev->cfg.connect_timeout_ms);
		return;
	}
	if (!backoff_timer(dev, first_connect_cb)) {
		dev->connecting = false;
		log_warnx("%s: cannot schedule a back-end connect", dev->name);
	}
}

bool device_backend_ready(const struct xvd_device *dev)
{
	return dev->mmio.device_id != 0;
}

int device_create(struct hv_dom *hv, const struct xvd_device_cfg *cfg,
    struct xvd_device **out)
{
	struct xvd_device *dev = calloc(1, sizeof(*dev));
	int rc;

	if (dev == NULL)
		return -ENOMEM;
	dev->hv = hv;
	dev->cfg = *cfg;
	snprintf(dev->name, sizeof(dev->name), "dom%u %s%u", hv->domid,
	    cfg->dt->name, cfg->slot);
	for (uint32_t i = 0; i < VMMIO_MAX_QUEUES; i++) {
		dev->q[i].dev = dev;
		dev->q[i].index = i;
		dev->q[i].kick_fd = dev->q[i].call_fd = -1;
	}
	dev->inflight_fd = -1;
	dev->listen_fd = -1;
	if (cfg->server && (rc = server_listen(dev)) < 0)
		goto fail;
	if (cfg->connect_async && cfg->restore == NULL) {
		rc = backend_connect(dev, 0);
		if (rc < 0) {
			/* Not there yet: the loop keeps trying. */
			dev->connecting = true;
			backoff_start(dev);
			if (!backoff_timer(dev, first_connect_cb)) {
				rc = -ENOMEM;
				goto fail;
			}
			log_info("%s: waiting up to %d ms for back-end %s",
			    dev->name, cfg->connect_timeout_ms, cfg->socket);
			*out = dev;
			return 0;
		}
	} else {
		rc = backend_connect(dev, cfg->connect_timeout_ms);
		if (rc < 0)
			goto fail;
	}
	rc = device_finish(dev);
	if (rc < 0)
		goto fail;
	if (cfg->restore != NULL) {
		dev->cfg.restore = NULL;	/* the caller's, not kept */
		rc = device_restore(dev, cfg->restore);
		if (rc < 0)
			goto fail;
	}
	*out = dev;
	return 0;
fail:
	device_destroy(dev);
	return rc;
}

void device_destroy(struct xvd_device *dev)
{
	if (dev == NULL)
		return;
	device_stop(dev);
	backend_close(dev);
	server_close(dev);
	for (uint32_t i = 0; i < VMMIO_MAX_QUEUES; i++) {
		evloop_watch_del(dev->q[i].call_w);
		fd_close(&dev->q[i].kick_fd);
		fd_close(&dev->q[i].call_fd);
	}
	log_info("%s: removed (%llu kicks, %llu interrupts, %llu errors)",
	    dev->name, (unsigned long long)dev->st.kicks,
	    (unsigned long long)dev->st.irqs, (unsigned long long)dev->st.errors);
	free(dev);
}
