/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "evloop.h"
#include "guest.h"
#include "hv/hv.h"
#include "hv/ioreq.h"
#include "log.h"
#include "transport/vmmio.h"
#include "util.h"

/* Event fds per domain: one per vCPU in the simulator, one on Xen. */
#define GUEST_MAX_EVENT_FDS 8u

struct guest_evt {
	struct xvd_guest *g;
	unsigned index;
	struct evloop_watch *w;
};

struct xvd_guest {
	struct hv_dom *hv;
	unsigned nr_devs;
	struct xvd_device *dev[GUEST_MAX_DEVS];
	unsigned nr_evt;
	struct guest_evt evt[GUEST_MAX_EVENT_FDS];
	/*
	 * The IOREQ server: up (guest_create, guest_start_ioreq), or not yet
	 * (guest_create_mem). ioreq_rc: the first setup's error, kept: a
	 * half-made server is only undone by hv destroy, so never retried.
	 */
	bool ioreq;
	int ioreq_rc;
	uint64_t nr_ioreqs, nr_invalidates, nr_unclaimed;
	struct log_rl rl;
};

uint32_t guest_domid(const struct xvd_guest *g)
{
	return g->hv->domid;
}

struct hv_dom *guest_hv(const struct xvd_guest *g)
{
	return g->hv;
}

unsigned guest_nr_devices(const struct xvd_guest *g)
{
	return g->nr_devs;
}

struct xvd_device *guest_device(const struct xvd_guest *g, unsigned i)
{
	return i < g->nr_devs ? g->dev[i] : NULL;
}

bool guest_has_ioreq(const struct xvd_guest *g)
{
	return g->ioreq;
}

uint64_t guest_nr_ioreqs(const struct xvd_guest *g)
{
	return g->nr_ioreqs;
}

static void guest_mmio(void *opaque, uint64_t addr, unsigned size,
    bool is_write, uint64_t *data)
{
	struct xvd_guest *g = opaque;

	for (unsigned i = 0; i < g->nr_devs; i++) {
		uint64_t base = device_base(g->dev[i]);

		if (device_is_vmsg(g->dev[i]))
			continue;
		if (addr >= base && addr - base < VMMIO_WINDOW_LEN) {
			device_mmio(g->dev[i], addr - base, size, is_write,
			    data);
			return;
		}
	}
	/* Xen only forwards mapped ranges: this is a stale mapping. */
	g->nr_unclaimed++;
	if (!is_write)
		*data = 0;
}

static void guest_invalidate(void *opaque)
{
	struct xvd_guest *g = opaque;

	/* Guest RAM is mapped whole and never cached per page: nothing to drop. */
	g->nr_invalidates++;
	log_debug("dom%u: mapcache invalidate", g->hv->domid);
}

static void guest_rejected(void *opaque, const char *why, uint64_t addr)
{
	struct xvd_guest *g = opaque;

	if (log_ratelimited(&g->rl))
		log_warnx("dom%u: ioreq at %#llx completed unserved: %s",
		    g->hv->domid, (unsigned long long)addr, why);
}

static const struct ioreq_handler guest_ioreq_handler = {
	.mmio = guest_mmio,
	.invalidate = guest_invalidate,
	.rejected = guest_rejected,
};

/* Serve vCPU @v's slot if READY, and tell the vCPU. True when served. */
static bool guest_serve(struct xvd_guest *g, unsigned v)
{
	struct hv_dom *hv = g->hv;

	if (ioreq_serve(&hv->iopage[v], &guest_ioreq_handler, g) != IOREQ_DONE)
		return false;
	g->nr_ioreqs++;
	hv->ops->notify(hv, v);
	return true;
}

static void guest_event_cb(int fd, void *arg)
{
	struct guest_evt *e = arg;
	struct xvd_guest *g = e->g;
	struct hv_dom *hv = g->hv;
	unsigned vcpu;
	int rc;

	while ((rc = hv->ops->pending(hv, e->index, &vcpu)) > 0) {
		if (vcpu >= hv->nr_vcpus)
			continue;
		(void)guest_serve(g, vcpu);
		/* Xen's evtchn fd hands out one port per read: let poll say more. */
		if (hv->ops->nr_event_fds(hv) == 1)
			break;
	}
	if (rc < 0 && log_ratelimited(&g->rl))
		log_warnx("dom%u: event channel: %s", hv->domid, strerror(-rc));
}

void guest_sweep(struct xvd_guest *g)
{
	struct hv_dom *hv = g->hv;
	unsigned n = 0;

	/*
	 * A request's notification went to a port nobody had bound then.
	 * INPROCESS: the previous daemon died serving it (a register access
	 * done twice is harmless); IORESP_READY: it died before notifying.
	 */
	for (unsigned v = 0; v < hv->nr_vcpus; v++) {
		ioreq_t *slot = &hv->iopage[v];

		if (ioreq_state(slot) == STATE_IORESP_READY) {
			hv->ops->notify(hv, v);
			continue;
		}
		if (ioreq_state(slot) == STATE_IOREQ_INPROCESS)
			ioreq_set_state(slot, STATE_IOREQ_READY);
		if (guest_serve(g, v))
			n++;
	}
	if (n != 0)
		log_info("dom%u: %u ioreq(s) left waiting by the previous"
		    " xen-vhostd answered", hv->domid, n);
}

static int guest_setup_ioreq(struct xvd_guest *g)
{
	struct hv_dom *hv = g->hv;
	int rc;

	rc = hv->ops->ioreq_create(hv);
	if (rc < 0)
		return rc;
	rc = hv->ops->enable(hv);
	if (rc < 0)
		return rc;
	if (hv->ops->nr_event_fds(hv) > GUEST_MAX_EVENT_FDS)
		return -E2BIG;
	g->nr_evt = hv->ops->nr_event_fds(hv);
	for (unsigned i = 0; i < g->nr_evt; i++) {
		struct guest_evt *e = &g->evt[i];

		e->g = g;
		e->index = i;
		e->w = evloop_watch_add(hv->ops->event_fd(hv, i),
		    guest_event_cb, e);
		if (e->w == NULL)
			return -ENOMEM;
	}
	return 0;
}

int guest_create_mem(struct hv_dom *hv, struct xvd_guest **out)
{
	struct xvd_guest *g;
	int rc;

	g = calloc(1, sizeof(*g));
	if (g == NULL) {
		hv->ops->destroy(hv);
		return -ENOMEM;
	}
	g->hv = hv;
	rc = hv->ops->map_memory(hv);
	if (rc < 0) {
		log_warnx("dom%u: cannot map guest RAM: %s", hv->domid,
		    strerror(-rc));
		guest_destroy(g);
		return rc;
	}
	*out = g;
	return 0;
}

int guest_start_ioreq(struct xvd_guest *g)
{
	struct hv_dom *hv = g->hv;
	int rc;

	if (g->ioreq)
		return 0;
	if (g->ioreq_rc < 0)
		return g->ioreq_rc;
	rc = guest_setup_ioreq(g);
	if (rc < 0) {
		log_warnx("dom%u: IOREQ server setup failed: %s", hv->domid,
		    strerror(-rc));
		/* No event reaches a half-made server; hv destroy undoes it. */
		for (unsigned i = 0; i < g->nr_evt; i++)
			evloop_watch_del(g->evt[i].w);
		g->nr_evt = 0;
		g->ioreq_rc = rc;
		return rc;
	}
	g->ioreq = true;
	log_info("dom%u: IOREQ server up, %u vCPU(s), via %s", hv->domid,
	    hv->nr_vcpus, hv->ops->name);
	return 0;
}

int guest_create(struct hv_dom *hv, struct xvd_guest **out)
{
	struct xvd_guest *g;
	int rc;

	rc = guest_create_mem(hv, &g);
	if (rc < 0)
		return rc;
	rc = guest_start_ioreq(g);
	if (rc < 0) {
		guest_destroy(g);
		return rc;
	}
	*out = g;
	return 0;
}

int guest_add_device(struct xvd_guest *g, const struct xvd_device_cfg *cfg,
    struct xvd_device **out)
{
	struct hv_dom *hv = g->hv;
	struct xvd_device *dev;
	int rc;

	if (g->nr_devs >= GUEST_MAX_DEVS)
		return -ENOSPC;
	/* MMIO needs the IOREQ server (guest_start_ioreq first). */
	if (cfg->vmsg_max_msg != 0 || !g->ioreq)
		return -EINVAL;
	for (unsigned i = 0; i < g->nr_devs; i++) {
		if (!device_is_vmsg(g->dev[i]) &&
		    device_base(g->dev[i]) == cfg->base) {
			log_warnx("dom%u: two devices at %#llx", hv->domid,
			    (unsigned long long)cfg->base);
			return -EEXIST;
		}
	}
	rc = device_create(hv, cfg, &dev);
	if (rc < 0)
		return rc;
	rc = hv->ops->map_range(hv, cfg->base, cfg->base + VMMIO_WINDOW_LEN - 1);
	if (rc < 0) {
		log_warnx("%s: cannot map MMIO window %#llx: %s",
		    device_name(dev), (unsigned long long)cfg->base,
		    strerror(-rc));
		device_destroy(dev);
		return rc;
	}
	g->dev[g->nr_devs++] = dev;
	log_info("%s: serving MMIO %#llx, SPI %u", device_name(dev),
	    (unsigned long long)cfg->base, cfg->irq);
	*out = dev;
	return 0;
}

/*
 * A virtio-msg device shares everything with an MMIO one (the guest's
 * hv_dom, so the same guest RAM mapping and grant handling, the device
 * count and the control socket listing) except the window: nothing is
 * mapped to the IOREQ server and guest_mmio() never routes to it. Frames
 * reach it from its bus endpoint (vmsgep) through device_vmsg().
 */
int guest_add_vmsg_device(struct xvd_guest *g, const struct xvd_device_cfg *cfg,
    struct xvd_device **out)
{
	struct xvd_device *dev;
	int rc;

	if (cfg->vmsg_max_msg == 0)
		return -EINVAL;
	if (g->nr_devs >= GUEST_MAX_DEVS)
		return -ENOSPC;
	rc = device_create(g->hv, cfg, &dev);
	if (rc < 0)
		return rc;
	g->dev[g->nr_devs++] = dev;
	log_info("%s: serving virtio-msg device number %u", device_name(dev),
	    cfg->vmsg_dev_num);
	*out = dev;
	return 0;
}

void guest_remove_device(struct xvd_guest *g, struct xvd_device *dev)
{
	uint64_t base = device_base(dev);

	for (unsigned i = 0; i < g->nr_devs; i++) {
		if (g->dev[i] != dev)
			continue;
		g->dev[i] = g->dev[--g->nr_devs];
		/* The guest must not reach a device that is going away. */
		if (!device_is_vmsg(dev))
			g->hv->ops->unmap_range(g->hv, base,
			    base + VMMIO_WINDOW_LEN - 1);
		device_destroy(dev);
		return;
	}
}

void guest_destroy(struct xvd_guest *g)
{
	if (g == NULL)
		return;
	for (unsigned i = 0; i < g->nr_evt; i++)
		evloop_watch_del(g->evt[i].w);
	/* Devices first (back-ends stop using guest RAM), then Xen state. */
	while (g->nr_devs > 0)
		guest_remove_device(g, g->dev[g->nr_devs - 1]);
	log_info("dom%u: released (%llu ioreqs, %llu invalidates)",
	    g->hv->domid, (unsigned long long)g->nr_ioreqs,
	    (unsigned long long)g->nr_invalidates);
	g->hv->ops->destroy(g->hv);
	free(g);
}
