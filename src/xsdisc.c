/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * xenstore discovery: the virtio devices libxl writes under this domain's
 * backend directories become served devices, with the xenbus handshake
 * (Initialising -> InitWait once served -> Connected at DRIVER_OK; Closing
 * -> Closed on removal). No sleeps: everything runs off xenstore watches.
 *
 * Daemon restart: each served device carries a restart record in its
 * backend node (xs_parse.h, XS_RESTORE_KEY): socket slot, IOREQ server id
 * and the driver's register state. A xen-vhostd that finds a node past
 * Initialising with a record takes the device over: same socket, the same
 * IOREQ server (its ranges and vCPU event channels survive us in Xen), the
 * guest's rings resumed. On exit xen-vhostd leaves everything in place for
 * that (--on-exit detach), or releases it (--on-exit release).
 *
 * virtio-msg endpoints (xd_opts.vmsg_*): their devices need the domain's
 * RAM but no IOREQ server. One struct xvd_guest per domain holds both
 * kinds: created without the server for an endpoint's domain, the server
 * is added (guest_start_ioreq) when the first MMIO device comes, and stays
 * until the guest goes. One guest rather than two per domain: one RAM
 * mapping, one entry in the control socket's list, and no two owners of
 * the domain's hv_dom. A guest lives while it has xenstore devices or
 * attached endpoints, and goes with its domain (@releaseDomain).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xenstore.h>

#include "device.h"
#include "devtab.h"
#include "evloop.h"
#include "guest.h"
#include "hv/hv.h"
#include "log.h"
#include "slots.h"
#include "util.h"
#include "xsdisc.h"
#include "xs_parse.h"

#define XD_PATH_MAX 256
#define XD_DOMID_MAX 0x7fefu	/* DOMID_FIRST_RESERVED - 1 */
#define XD_DEVID_MAX 0xffffffu
/* Malformed devices remembered so that each is logged once. */
#define XD_BAD_MAX 64u

static const struct {
	enum xs_layout layout;
	const char *dir;
} xd_kinds[] = {
	{ XS_LAYOUT_DISK, "virtio_disk" },
	{ XS_LAYOUT_VIRTIO, "virtio" },
};

struct xd_guest;

struct xd_dev {
	struct xd_guest *xg;
	unsigned kind;
	uint32_t devid;
	char path[XD_PATH_MAX];
	const struct devtab_entry *dt;
	unsigned slot;
	struct xvd_device *dev;
	bool seen;		/* found in the current scan */
	bool restored;		/* taken over from a previous xen-vhostd */
	struct xd_dev *next;
};

struct xd_guest {
	uint32_t domid;
	struct xvd_guest *g;
	struct xd_dev *devs;
	bool sweep;		/* taken-over server: serve stale slots */
	bool vmsg;		/* vmsg_attach added devices: detach first */
	struct xd_guest *next;
};

static struct {
	struct xs_handle *xs;
	struct hv_xen *x;
	struct evloop_watch *w;
	struct xd_opts opts;
	uint32_t self;
	struct xd_guest *guests;
	char bad[XD_BAD_MAX][XD_PATH_MAX];
	unsigned nr_bad;
	/* vmsg_attach called for this incarnation of opts.vmsg_domids[i]. */
	bool vmsg_tried[XD_VMSG_MAX];
} xd;

static char *xd_read(const char *path, const char *key)
{
	char full[XD_PATH_MAX + 32];
	unsigned len;

	snprintf(full, sizeof(full), "%s/%s", path, key);
	return xs_read(xd.xs, XBT_NULL, full, &len);
}

static void xd_write_state(const char *path, enum xs_state st)
{
	char full[XD_PATH_MAX + 32], v[4];

	snprintf(full, sizeof(full), "%s/state", path);
	snprintf(v, sizeof(v), "%d", (int)st);
	if (!xs_write(xd.xs, XBT_NULL, full, v, (unsigned)strlen(v)))
		log_warn("xenstore: write %s=%s", full, v);
}

static void xd_write_restore(struct xd_dev *d)
{
	char full[XD_PATH_MAX + 32], v[XS_RESTORE_LEN_MAX];
	struct xs_restore r;
	int n;

	if (d->dev == NULL || d->xg == NULL)
		return;		/* still being added: written once it is */
	device_save(d->dev, &r);
	r.ioservid = guest_hv(d->xg->g)->ioservid;
	n = xs_restore_format(&r, v, sizeof(v));
	snprintf(full, sizeof(full), "%s/%s", d->path, XS_RESTORE_KEY);
	if (n < 0 || !xs_write(xd.xs, XBT_NULL, full, v, (unsigned)n))
		log_warn("xenstore: write %s", full);
}

static bool xd_is_bad(const char *path)
{
	for (unsigned i = 0; i < xd.nr_bad; i++)
		if (strcmp(xd.bad[i], path) == 0)
			return true;
	return false;
}

static void xd_mark_bad(const char *path)
{
	if (xd.nr_bad < XD_BAD_MAX)
		snprintf(xd.bad[xd.nr_bad++], XD_PATH_MAX, "%s", path);
}

static void xd_forget_bad(uint32_t domid)
{
	char needle[32];

	/* Paths end in /<domid>/<devid>: drop a destroyed guest's entries. */
	snprintf(needle, sizeof(needle), "/%u/", domid);
	for (unsigned i = 0; i < xd.nr_bad;) {
		if (strstr(xd.bad[i], needle) != NULL)
			memcpy(xd.bad[i], xd.bad[--xd.nr_bad], XD_PATH_MAX);
		else
			i++;
	}
}

static struct xd_guest *xd_guest_find(uint32_t domid)
{
	for (struct xd_guest *xg = xd.guests; xg != NULL; xg = xg->next)
		if (xg->domid == domid)
			return xg;
	return NULL;
}

static struct xd_dev *xd_dev_find(struct xd_guest *xg, unsigned kind,
    uint32_t devid)
{
	for (struct xd_dev *d = xg ? xg->devs : NULL; d != NULL; d = d->next)
		if (d->kind == kind && d->devid == devid)
			return d;
	return NULL;
}

static void xd_driver_ok(void *arg)
{
	struct xd_dev *d = arg;

	xd_write_state(d->path, XS_STATE_CONNECTED);
	xd_write_restore(d);
}

static void xd_reset(void *arg)
{
	xd_write_restore(arg);
}

/* The back-end came after the device was added: now libxl may go on. */
static void xd_backend_ready(void *arg)
{
	struct xd_dev *d = arg;

	if (d->dev == NULL)
		return;		/* there at once: xd_dev_add writes InitWait */
	xd_write_restore(d);
	xd_write_state(d->path, XS_STATE_INITWAIT);
}

static void xd_dev_remove(struct xd_dev *d, bool write_closed)
{
	struct xd_guest *xg = d->xg;

	for (struct xd_dev **pp = &xg->devs; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == d) {
			*pp = d->next;
			break;
		}
	}
	guest_remove_device(xg->g, d->dev);
	slot_put(d->dt, d->slot);
	/* Closed only once the mappings are gone: libxl destroys next. */
	if (write_closed) {
		char full[XD_PATH_MAX + 32];

		snprintf(full, sizeof(full), "%s/%s", d->path, XS_RESTORE_KEY);
		(void)xs_rm(xd.xs, XBT_NULL, full);
		xd_write_state(d->path, XS_STATE_CLOSED);
	}
	free(d);
}

static void xd_guest_destroy(struct xd_guest *xg, bool domain_gone)
{
	for (struct xd_guest **pp = &xd.guests; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == xg) {
			*pp = xg->next;
			break;
		}
	}
	if (domain_gone)
		guest_hv(xg->g)->dead = true;
	/* Off the bus before the devices go: no frame reaches a freed one. */
	if (xg->vmsg)
		xd.opts.vmsg_detach(xg->domid, xg->g);
	while (xg->devs != NULL)
		xd_dev_remove(xg->devs, !domain_gone);
	guest_destroy(xg->g);
	xd_forget_bad(xg->domid);
	free(xg);
}

/*
 * The guest of @domid, created if need be. @adopt: the IOREQ server a
 * previous xen-vhostd left, or -1. @mmio: the guest must have its IOREQ
 * server (added to a virtio-msg-only guest now); otherwise a new guest
 * gets none.
 */
static struct xd_guest *xd_guest_get(uint32_t domid, int adopt, bool mmio)
{
	struct xd_guest *xg = xd_guest_find(domid);
	struct hv_dom *hv;
	int rc;

	if (xg != NULL && guest_has_ioreq(xg->g)) {
		if (adopt >= 0 && (uint32_t)adopt != guest_hv(xg->g)->ioservid)
			log_warnx("dom%u: restart records name IOREQ servers %u"
			    " and %d: serving %u", domid,
			    guest_hv(xg->g)->ioservid, adopt,
			    guest_hv(xg->g)->ioservid);
		return xg;
	}
	if (xg != NULL) {
		if (!mmio)
			return xg;
		guest_hv(xg->g)->adopt_ioservid = adopt;
		if (guest_start_ioreq(xg->g) < 0)
			return NULL;
		xg->sweep = guest_hv(xg->g)->adopted;
		return xg;
	}
	xg = calloc(1, sizeof(*xg));
	if (xg == NULL)
		return NULL;
	xg->domid = domid;
	if (hv_xen_dom_open(xd.x, domid, &hv) < 0) {
		free(xg);
		return NULL;
	}
	hv->adopt_ioservid = adopt;
	rc = mmio ? guest_create(hv, &xg->g) : guest_create_mem(hv, &xg->g);
	if (rc < 0) {
		free(xg);
		return NULL;
	}
	xg->sweep = guest_hv(xg->g)->adopted;
	xg->next = xd.guests;
	xd.guests = xg;
	return xg;
}

/*
 * A node past Initialising is served only with a restart record (a previous
 * xen-vhostd's device); others are stale, or another back-end's. Returns
 * 1 with *r filled to take it over, 0 to leave it alone.
 */
static int xd_restorable(const char *path, enum xs_state st,
    struct xs_restore *r)
{
	char *rec;
	const char *why = NULL;
	int rc;

	if (st != XS_STATE_INITWAIT && st != XS_STATE_CONNECTED)
		return 0;
	rec = xd_read(path, XS_RESTORE_KEY);
	if (rec == NULL)
		return 0;
	rc = xs_restore_parse(rec, r, &why);
	free(rec);
	if (rc < 0) {
		log_warnx("%s: %s: device not taken over", path, why);
		return 0;
	}
	return 1;
}

/*
 * A device node seen for the first time. @restoring: the first pass of a
 * scan, which takes over a previous xen-vhostd's devices (they claim their
 * socket numbers before new devices take the lowest free ones).
 */
static void xd_dev_add(unsigned kind, uint32_t domid, uint32_t devid,
    const char *path, bool restoring)
{
	char *keys[8] = { NULL };
	struct xs_restore rec;
	struct xs_dev_raw raw;
	struct xvd_device_cfg cfg;
	struct xd_guest *xg;
	struct xd_dev *d;
	struct xs_dev xdev;
	const char *why = NULL;
	int rc;

	raw.type = keys[0] = xd_read(path, "type");
	raw.specification = keys[1] = xd_read(path, "specification");
	raw.transport = keys[2] = xd_read(path, "transport");
	raw.base = keys[3] = xd_read(path, "base");
	raw.irq = keys[4] = xd_read(path, "irq");
	raw.grant_usage = keys[5] = xd_read(path, "grant_usage");
	raw.frontend_id = keys[6] = xd_read(path, "frontend-id");
	raw.state = keys[7] = xd_read(path, "state");
	/* No state: libxl is still writing the node, or removing it. */
	rc = raw.state == NULL ? -EAGAIN :
	    xs_dev_parse(xd_kinds[kind].layout, domid, &raw, &xdev, &why);
	for (unsigned i = 0; i < 8; i++)
		free(keys[i]);
	if (rc == -EAGAIN)
		return;
	if (rc == -ENODEV) {
		log_debug("%s: not served: %s", path, why);
		xd_mark_bad(path);
		return;
	}
	if (rc < 0) {
		log_warnx("dom%u: %s device %u: %s: device ignored", domid,
		    xd_kinds[kind].dir, devid, why);
		xd_mark_bad(path);
		return;
	}
	/* A node libxl is still setting up, or one to take over. */
	if (restoring) {
		if (xdev.state == XS_STATE_INITIALISING ||
		    !xd_restorable(path, xdev.state, &rec))
			return;
	} else if (xdev.state != XS_STATE_INITIALISING) {
		return;
	}
	d = calloc(1, sizeof(*d));
	if (d == NULL)
		return;
	d->kind = kind;
	d->devid = devid;
	d->dt = xdev.dt;
	d->restored = restoring;
	snprintf(d->path, sizeof(d->path), "%s", path);
	if (restoring ? slot_claim(d->dt, rec.slot) < 0 :
	    slot_take(d->dt, &d->slot) < 0) {
		log_warnx("dom%u: no free %s socket number", domid, d->dt->name);
		free(d);
		xd_mark_bad(path);
		return;
	}
	if (restoring)
		d->slot = rec.slot;
	memset(&cfg, 0, sizeof(cfg));
	cfg.dt = d->dt;
	cfg.slot = d->slot;
	cfg.base = xdev.base;
	cfg.irq = xdev.irq;
	cfg.connect_timeout_ms = xd.opts.connect_timeout_ms;
	cfg.reply_timeout_ms = xd.opts.reply_timeout_ms;
	cfg.mem_mode = xd.opts.mem_mode;
	cfg.shadow_bytes = xd.opts.shadow_bytes;
	cfg.grants = xdev.grant_usage && !xd.opts.force_foreign;
	cfg.on_driver_ok = xd_driver_ok;
	cfg.on_reset = xd_reset;
	cfg.on_backend_ready = xd_backend_ready;
	/* A missing back-end must not stall the other guests' ioreqs. */
	cfg.connect_async = !restoring;
	cfg.cb_arg = d;
	cfg.restore = restoring ? &rec : NULL;
	snprintf(cfg.socket, sizeof(cfg.socket), "%s/%s.sock%u",
	    xd.opts.socket_dir, d->dt->name, d->slot);
	if (xd.opts.device_settings != NULL &&
	    xd.opts.device_settings(domid, d->dt, d->slot, &cfg) < 0) {
		slot_put(d->dt, d->slot);
		free(d);
		xd_mark_bad(path);
		return;
	}

	xg = xd_guest_get(domid, restoring ? (int)rec.ioservid : -1, true);
	if (xg == NULL || guest_add_device(xg->g, &cfg, &d->dev) < 0) {
		log_warnx("dom%u: %s device %u at %#llx not served", domid,
		    d->dt->name, devid, (unsigned long long)xdev.base);
		slot_put(d->dt, d->slot);
		free(d);
		/* Before the mark: destroying the guest forgets its marks. */
		if (xg != NULL && xg->devs == NULL && !xg->vmsg)
			xd_guest_destroy(xg, false);
		xd_mark_bad(path);
		return;
	}
	d->xg = xg;
	d->seen = true;
	d->next = xg->devs;
	xg->devs = d;
	xd_write_restore(d);
	if (restoring) {
		log_info("dom%u %s%u: taken over (%s)", domid, d->dt->name,
		    d->slot, path);
		return;
	}
	/*
	 * libxl waits for exactly InitWait before it starts the guest; with
	 * the back-end not there yet, xd_backend_ready() writes it later (or
	 * never: libxl then gives up and removes the device).
	 */
	if (device_backend_ready(d->dev))
		xd_write_state(path, XS_STATE_INITWAIT);
}

/* A known device: removal is libxl writing Closing (or online=0). */
static void xd_dev_check(struct xd_dev *d)
{
	char *state = xd_read(d->path, "state");
	char *online = xd_read(d->path, "online");
	enum xs_state st = XS_STATE_UNKNOWN;
	bool closing;

	d->seen = true;
	if (state != NULL)
		(void)xs_parse_state(state, &st);
	closing = st == XS_STATE_CLOSING ||
	    (online != NULL && strcmp(online, "0") == 0 &&
	    st != XS_STATE_CLOSED);
	free(state);
	free(online);
	if (closing) {
		log_info("dom%u %s%u: removed by the toolstack", d->xg->domid,
		    d->dt->name, d->slot);
		xd_dev_remove(d, true);
	}
}

static void xd_scan_kind(unsigned kind, bool restoring)
{
	/* Sized so that dir/<domid>/<devid> always fits in XD_PATH_MAX. */
	char dir[XD_PATH_MAX - 32], path[XD_PATH_MAX - 16];
	unsigned nd = 0, nv;
	char **doms, **devs;

	snprintf(dir, sizeof(dir), "/local/domain/%u/backend/%s", xd.self,
	    xd_kinds[kind].dir);
	doms = xs_directory(xd.xs, XBT_NULL, dir, &nd);
	for (unsigned i = 0; doms != NULL && i < nd; i++) {
		uint32_t domid;

		if (xs_parse_id(doms[i], XD_DOMID_MAX, &domid) < 0)
			continue;
		snprintf(path, sizeof(path), "%s/%u", dir, domid);
		nv = 0;
		devs = xs_directory(xd.xs, XBT_NULL, path, &nv);
		for (unsigned j = 0; devs != NULL && j < nv; j++) {
			char dpath[XD_PATH_MAX];
			struct xd_dev *d;
			uint32_t devid;

			if (xs_parse_id(devs[j], XD_DEVID_MAX, &devid) < 0)
				continue;
			snprintf(dpath, sizeof(dpath), "%s/%u", path, devid);
			d = xd_dev_find(xd_guest_find(domid), kind, devid);
			if (d != NULL)
				xd_dev_check(d);
			else if (!xd_is_bad(dpath))
				xd_dev_add(kind, domid, devid, dpath,
				    restoring);
		}
		free(devs);
	}
	free(doms);
}

/*
 * After a scan: the virtio-msg devices of each configured domain that is
 * introduced and not yet tried. Once per domain: a domain whose devices
 * could not be set up waits for its next incarnation (a new domain with
 * that id), as a failed MMIO device waits for its next node.
 */
static void xd_vmsg_scan(void)
{
	for (unsigned i = 0; i < xd.opts.nr_vmsg_domids; i++) {
		uint32_t domid = xd.opts.vmsg_domids[i];
		struct xd_guest *xg;
		bool first = true;
		int n;

		if (!xs_is_domain_introduced(xd.xs, domid)) {
			xd.vmsg_tried[i] = false;
			continue;
		}
		/* A domid listed twice: its first entry stands for both. */
		for (unsigned j = 0; j < i; j++)
			first = first && xd.opts.vmsg_domids[j] != domid;
		if (!first || xd.vmsg_tried[i])
			continue;
		xd.vmsg_tried[i] = true;
		xg = xd_guest_get(domid, -1, false);
		if (xg == NULL) {
			log_warnx("dom%u: virtio-msg devices not served",
			    domid);
			continue;
		}
		n = xd.opts.vmsg_attach(domid, xg->g);
		if (n > 0) {
			xg->vmsg = true;
			log_info("dom%u: %d virtio-msg device(s) attached",
			    domid, n);
		} else if (xg->devs == NULL) {
			log_warnx("dom%u: no virtio-msg device could be set up",
			    domid);
			xd_guest_destroy(xg, false);
		}
	}
}

static void xd_scan(void)
{
	struct xd_guest *xg, *next;

	for (xg = xd.guests; xg != NULL; xg = xg->next)
		for (struct xd_dev *d = xg->devs; d != NULL; d = d->next)
			d->seen = false;
	for (unsigned pass = 0; pass < 2; pass++)
		for (unsigned k = 0; k < ARRAY_SIZE(xd_kinds); k++)
			xd_scan_kind(k, pass == 0);
	for (xg = xd.guests; xg != NULL; xg = xg->next) {
		/* Once every taken-over device is back. */
		if (xg->sweep)
			guest_sweep(xg->g);
		xg->sweep = false;
	}
	for (xg = xd.guests; xg != NULL; xg = next) {
		struct xd_dev *d, *dnext;

		next = xg->next;
		/* A node that vanished without Closing: the toolstack forced it. */
		for (d = xg->devs; d != NULL; d = dnext) {
			dnext = d->next;
			if (!d->seen)
				xd_dev_remove(d, false);
		}
		if (!xs_is_domain_introduced(xd.xs, xg->domid))
			xd_guest_destroy(xg, xg->devs != NULL || xg->vmsg);
		else if (xg->devs == NULL && !xg->vmsg)
			xd_guest_destroy(xg, false);
	}
	xd_vmsg_scan();
}

static void xd_watch_cb(int fd, void *arg)
{
	bool any = false;
	char **ev;

	while ((ev = xs_check_watch(xd.xs)) != NULL) {
		any = true;
		free(ev);
	}
	if (any)
		xd_scan();
}

int xd_start(struct hv_xen *x, const struct xd_opts *opts)
{
	char path[XD_PATH_MAX];
	char *self;
	unsigned len;

	if (opts->nr_vmsg_domids > XD_VMSG_MAX ||
	    (opts->nr_vmsg_domids > 0 && (opts->vmsg_domids == NULL ||
	    opts->vmsg_attach == NULL || opts->vmsg_detach == NULL)))
		return -EINVAL;
	xd.x = x;
	xd.opts = *opts;
	xd.nr_bad = 0;
	memset(xd.vmsg_tried, 0, sizeof(xd.vmsg_tried));
	xd.xs = xs_open(0);
	if (xd.xs == NULL) {
		log_warn("cannot open xenstore");
		return -ENODEV;
	}
	self = xs_read(xd.xs, XBT_NULL, "domid", &len);
	if (self == NULL || xs_parse_id(self, XD_DOMID_MAX, &xd.self) < 0)
		xd.self = 0;
	free(self);
	for (unsigned k = 0; k < ARRAY_SIZE(xd_kinds); k++) {
		snprintf(path, sizeof(path), "/local/domain/%u/backend/%s",
		    xd.self, xd_kinds[k].dir);
		if (!xs_watch(xd.xs, path, "backend")) {
			log_warn("xenstore: watch %s", path);
			goto fail;
		}
	}
	if (!xs_watch(xd.xs, "@releaseDomain", "release")) {
		log_warn("xenstore: watch @releaseDomain");
		goto fail;
	}
	/* A configured virtio-msg domain may come with no backend node. */
	if (opts->nr_vmsg_domids > 0 &&
	    !xs_watch(xd.xs, "@introduceDomain", "introduce")) {
		log_warn("xenstore: watch @introduceDomain");
		goto fail;
	}
	xd.w = evloop_watch_add(xs_fileno(xd.xs), xd_watch_cb, NULL);
	if (xd.w == NULL)
		goto fail;
	log_info("watching /local/domain/%u/backend/{virtio_disk,virtio}",
	    xd.self);
	/* Watches fire once when set: the first scan comes from the loop. */
	return 0;
fail:
	xs_close(xd.xs);
	xd.xs = NULL;
	return -EIO;
}

void xd_foreach(void (*cb)(struct xvd_guest *g, void *arg), void *arg)
{
	for (struct xd_guest *xg = xd.guests; xg != NULL; xg = xg->next)
		cb(xg->g, arg);
}

/* Daemon exit, detached: Xen and xenstore keep everything for the next. */
static void xd_guest_detach(struct xd_guest *xg)
{
	struct hv_dom *hv = guest_hv(xg->g);
	unsigned n = 0;

	xd.guests = xg->next;
	hv->detach = true;
	/* No restart record for virtio-msg devices: the next one adds them. */
	if (xg->vmsg)
		xd.opts.vmsg_detach(xg->domid, xg->g);
	while (xg->devs != NULL) {
		struct xd_dev *d = xg->devs;

		xg->devs = d->next;
		guest_remove_device(xg->g, d->dev);
		slot_put(d->dt, d->slot);
		free(d);
		n++;
	}
	if (guest_has_ioreq(xg->g))
		log_info("dom%u: %u device(s) left to the next xen-vhostd"
		    " (IOREQ server %u)", xg->domid, n, hv->ioservid);
	guest_destroy(xg->g);
	free(xg);
}

void xd_stop(bool detach)
{
	while (xd.guests != NULL) {
		if (detach)
			xd_guest_detach(xd.guests);
		else
			xd_guest_destroy(xd.guests, false);
	}
	evloop_watch_del(xd.w);
	xd.w = NULL;
	if (xd.xs != NULL)
		xs_close(xd.xs);
	xd.xs = NULL;
}
