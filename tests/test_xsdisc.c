/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * xsdisc.c against a fake xenstore and fake guests (-Wl,--wrap): both
 * xenstore layouts, the xenbus state handshake libxl waits for, malformed
 * values, device removal, and the daemon-restart takeover (restart record,
 * IOREQ server adoption, detach on exit); virtio-msg domains (a guest
 * without IOREQ server while introduced, shared with MMIO devices).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <xenstore.h>

#include "devtab.h"
#include "device.h"
#include "evloop.h"
#include "guest.h"
#include "hv/hv.h"
#include "xs_parse.h"
#include "xsdisc.h"

/* ---- fake xenstore: a flat list of path=value ---- */

#define NODES 256
static struct {
	char path[256];
	char value[XS_RESTORE_LEN_MAX + 1];
	bool used;
} node[NODES];
static unsigned nr_reads;
static bool watch_pending;
static bool introduced[64];

static int node_find(const char *path)
{
	for (int i = 0; i < NODES; i++)
		if (node[i].used && strcmp(node[i].path, path) == 0)
			return i;
	return -1;
}

static void put(const char *path, const char *value)
{
	int i = node_find(path);

	for (int j = 0; i < 0 && j < NODES; j++)
		if (!node[j].used)
			i = j;
	assert_true(i >= 0);
	node[i].used = true;
	snprintf(node[i].path, sizeof(node[i].path), "%s", path);
	snprintf(node[i].value, sizeof(node[i].value), "%s", value);
}

static const char *get(const char *path)
{
	int i = node_find(path);

	return i < 0 ? NULL : node[i].value;
}

static void rm_tree(const char *prefix)
{
	size_t n = strlen(prefix);

	for (int i = 0; i < NODES; i++)
		if (node[i].used && strncmp(node[i].path, prefix, n) == 0 &&
		    (node[i].path[n] == '\0' || node[i].path[n] == '/'))
			node[i].used = false;
}

struct xs_handle *__wrap_xs_open(unsigned long flags);
void __wrap_xs_close(struct xs_handle *h);
void *__wrap_xs_read(struct xs_handle *h, xs_transaction_t t,
    const char *path, unsigned int *len);
bool __wrap_xs_write(struct xs_handle *h, xs_transaction_t t,
    const char *path, const void *data, unsigned int len);
bool __wrap_xs_rm(struct xs_handle *h, xs_transaction_t t, const char *path);
char **__wrap_xs_directory(struct xs_handle *h, xs_transaction_t t,
    const char *path, unsigned int *num);
bool __wrap_xs_watch(struct xs_handle *h, const char *path,
    const char *token);
int __wrap_xs_fileno(struct xs_handle *h);
char **__wrap_xs_check_watch(struct xs_handle *h);
bool __wrap_xs_is_domain_introduced(struct xs_handle *h, unsigned int domid);

static int fake_xs;

struct xs_handle *__wrap_xs_open(unsigned long flags)
{
	return (struct xs_handle *)&fake_xs;
}

void __wrap_xs_close(struct xs_handle *h)
{
}

void *__wrap_xs_read(struct xs_handle *h, xs_transaction_t t,
    const char *path, unsigned int *len)
{
	const char *v = get(path);

	nr_reads++;
	if (v == NULL)
		return NULL;
	*len = (unsigned)strlen(v);
	return strdup(v);
}

bool __wrap_xs_write(struct xs_handle *h, xs_transaction_t t,
    const char *path, const void *data, unsigned int len)
{
	char v[XS_RESTORE_LEN_MAX + 1];

	assert_true(len < sizeof(v));
	memcpy(v, data, len);
	v[len] = '\0';
	put(path, v);
	return true;
}

bool __wrap_xs_rm(struct xs_handle *h, xs_transaction_t t, const char *path)
{
	rm_tree(path);
	return true;
}

/* The distinct next path components under @path. */
char **__wrap_xs_directory(struct xs_handle *h, xs_transaction_t t,
    const char *path, unsigned int *num)
{
	char names[NODES][64];
	unsigned n = 0;
	size_t plen = strlen(path), total = 0;
	char **out, *p;

	for (int i = 0; i < NODES; i++) {
		const char *rest;
		size_t l;
		bool dup = false;

		if (!node[i].used || strncmp(node[i].path, path, plen) != 0 ||
		    node[i].path[plen] != '/')
			continue;
		rest = node[i].path + plen + 1;
		l = strcspn(rest, "/");
		if (l >= 64)
			continue;
		for (unsigned j = 0; j < n; j++)
			dup = dup || (strlen(names[j]) == l &&
			    strncmp(names[j], rest, l) == 0);
		if (dup)
			continue;
		memcpy(names[n], rest, l);
		names[n][l] = '\0';
		total += l + 1;
		n++;
	}
	*num = n;
	if (n == 0)
		return NULL;
	/* One block, as libxenstore returns it: the caller frees it once. */
	out = malloc(n * sizeof(char *) + total);
	p = (char *)(out + n);
	for (unsigned j = 0; j < n; j++) {
		out[j] = p;
		strcpy(p, names[j]);
		p += strlen(names[j]) + 1;
	}
	return out;
}

bool __wrap_xs_watch(struct xs_handle *h, const char *path, const char *token)
{
	return true;
}

int __wrap_xs_fileno(struct xs_handle *h)
{
	return 99;
}

char **__wrap_xs_check_watch(struct xs_handle *h)
{
	char **ev;

	if (!watch_pending)
		return NULL;
	watch_pending = false;
	ev = malloc(2 * sizeof(char *) + 16);
	ev[0] = ev[1] = (char *)(ev + 2);
	strcpy(ev[0], "x");
	return ev;
}

bool __wrap_xs_is_domain_introduced(struct xs_handle *h, unsigned int domid)
{
	return domid < 64 && introduced[domid];
}

/* ---- fake event loop: the one watch xsdisc sets ---- */

struct evloop_watch *__wrap_evloop_watch_add(int fd, evloop_cb cb, void *arg);
void __wrap_evloop_watch_del(struct evloop_watch *w);

static evloop_cb watch_cb;
static void *watch_arg;
static int fake_watch;

struct evloop_watch *__wrap_evloop_watch_add(int fd, evloop_cb cb, void *arg)
{
	assert_int_equal(fd, 99);
	watch_cb = cb;
	watch_arg = arg;
	return (struct evloop_watch *)&fake_watch;
}

void __wrap_evloop_watch_del(struct evloop_watch *w)
{
	watch_cb = NULL;
}

static void fire(void)
{
	watch_pending = true;
	assert_non_null(watch_cb);
	watch_cb(99, watch_arg);
}

/* ---- fake guests and devices ---- */

struct xvd_guest {
	struct hv_dom *hv;
	unsigned nr_devs;	/* MMIO, from xenstore */
	unsigned nr_vmsg;	/* from the vmsg_attach fake */
	bool ioreq;
};

struct xvd_device {
	struct xvd_guest *g;
	struct xvd_device_cfg cfg;
	struct xs_restore rec;	/* copy of cfg.restore */
	bool has_rec;
	struct xs_restore now;	/* what device_save reports */
	bool live;
	bool ready;		/* device_backend_ready */
};

#define DEVS 16
static struct xvd_device devs[DEVS];
static unsigned nr_devs_made, nr_guests_made, nr_guests_destroyed,
    nr_removed, nr_sweeps, next_ioserv;
static int last_adopt;
static bool last_destroy_dead, last_destroy_detach, fail_add, fail_adopt;
static bool backend_late;	/* new devices wait for their back-end */
static unsigned nr_mem_guests, nr_ioreq_starts;

int __wrap_hv_xen_dom_open(struct hv_xen *x, uint32_t domid,
    struct hv_dom **out);
int __wrap_guest_create(struct hv_dom *hv, struct xvd_guest **out);
int __wrap_guest_create_mem(struct hv_dom *hv, struct xvd_guest **out);
int __wrap_guest_start_ioreq(struct xvd_guest *g);
bool __wrap_guest_has_ioreq(const struct xvd_guest *g);
void __wrap_guest_destroy(struct xvd_guest *g);
int __wrap_guest_add_device(struct xvd_guest *g,
    const struct xvd_device_cfg *cfg, struct xvd_device **out);
void __wrap_guest_remove_device(struct xvd_guest *g, struct xvd_device *dev);
struct hv_dom *__wrap_guest_hv(const struct xvd_guest *g);
void __wrap_guest_sweep(struct xvd_guest *g);
void __wrap_device_save(const struct xvd_device *dev, struct xs_restore *out);
bool __wrap_device_backend_ready(const struct xvd_device *dev);

bool __wrap_device_backend_ready(const struct xvd_device *dev)
{
	return dev->ready;
}

int __wrap_hv_xen_dom_open(struct hv_xen *x, uint32_t domid,
    struct hv_dom **out)
{
	struct hv_dom *hv = calloc(1, sizeof(*hv));

	hv->domid = domid;
	hv->nr_vcpus = 1;
	hv->adopt_ioservid = -1;
	*out = hv;
	return 0;
}

int __wrap_guest_create_mem(struct hv_dom *hv, struct xvd_guest **out)
{
	struct xvd_guest *g = calloc(1, sizeof(*g));

	g->hv = hv;
	nr_guests_made++;
	nr_mem_guests++;
	*out = g;
	return 0;
}

int __wrap_guest_start_ioreq(struct xvd_guest *g)
{
	struct hv_dom *hv = g->hv;

	assert_false(g->ioreq);
	last_adopt = hv->adopt_ioservid;
	if (hv->adopt_ioservid >= 0 && !fail_adopt) {
		hv->adopted = true;
		hv->ioservid = (uint32_t)hv->adopt_ioservid;
	} else {
		hv->ioservid = next_ioserv++;
	}
	g->ioreq = true;
	nr_ioreq_starts++;
	return 0;
}

bool __wrap_guest_has_ioreq(const struct xvd_guest *g)
{
	return g->ioreq;
}

int __wrap_guest_create(struct hv_dom *hv, struct xvd_guest **out)
{
	struct xvd_guest *g;

	(void)__wrap_guest_create_mem(hv, &g);
	nr_mem_guests--;
	(void)__wrap_guest_start_ioreq(g);
	*out = g;
	return 0;
}

void __wrap_guest_destroy(struct xvd_guest *g)
{
	assert_int_equal(g->nr_devs, 0);
	assert_int_equal(g->nr_vmsg, 0);	/* vmsg_detach came first */
	last_destroy_dead = g->hv->dead;
	last_destroy_detach = g->hv->detach;
	nr_guests_destroyed++;
	free(g->hv);
	free(g);
}

int __wrap_guest_add_device(struct xvd_guest *g,
    const struct xvd_device_cfg *cfg, struct xvd_device **out)
{
	struct xvd_device *d;

	if (fail_add)
		return -ECONNREFUSED;
	if (!g->ioreq)
		return -EINVAL;
	assert_true(nr_devs_made < DEVS);
	d = &devs[nr_devs_made++];
	memset(d, 0, sizeof(*d));
	d->g = g;
	d->cfg = *cfg;
	d->live = true;
	d->ready = !(backend_late && cfg->connect_async);
	d->now.slot = cfg->slot;
	if (cfg->restore != NULL) {
		d->rec = *cfg->restore;
		d->has_rec = true;
		d->now = *cfg->restore;
	}
	g->nr_devs++;
	*out = d;
	return 0;
}

void __wrap_guest_remove_device(struct xvd_guest *g, struct xvd_device *dev)
{
	assert_true(dev->live);
	dev->live = false;
	g->nr_devs--;
	nr_removed++;
}

struct hv_dom *__wrap_guest_hv(const struct xvd_guest *g)
{
	return g->hv;
}

void __wrap_guest_sweep(struct xvd_guest *g)
{
	assert_true(g->hv->adopted);
	nr_sweeps++;
}

void __wrap_device_save(const struct xvd_device *dev, struct xs_restore *out)
{
	*out = dev->now;
}

/* ---- fake virtio-msg wiring (main.c's vmsg_attach / vmsg_detach) ---- */

static unsigned nr_attach, nr_detach;
static int attach_ret;
static struct xvd_guest *last_attach_g;
static uint32_t last_attach_domid;

static int fake_vmsg_attach(uint32_t domid, struct xvd_guest *g)
{
	assert_int_equal(g->hv->domid, domid);
	nr_attach++;
	last_attach_g = g;
	last_attach_domid = domid;
	g->nr_vmsg = attach_ret > 0 ? (unsigned)attach_ret : 0;
	return attach_ret;
}

static void fake_vmsg_detach(uint32_t domid, struct xvd_guest *g)
{
	assert_int_equal(g->hv->domid, domid);
	assert_true(g->nr_vmsg > 0);
	g->nr_vmsg = 0;
	nr_detach++;
}

/* ---- helpers ---- */

#define BE "/local/domain/0/backend"

/* dom1 listed twice (two endpoints of one guest), dom5 once. */
static const uint32_t vmsg_domids[] = { 5, 1, 1 };

static struct xd_opts opts = {
	.socket_dir = "/run/sock",
	.connect_timeout_ms = 1000,
	.reply_timeout_ms = 1000,
	.vmsg_domids = vmsg_domids,
	.vmsg_attach = fake_vmsg_attach,
	.vmsg_detach = fake_vmsg_detach,
};

static void disk417(uint32_t domid, uint32_t devid, const char *base,
    const char *irq)
{
	char p[256], k[300], fe[16];

	snprintf(p, sizeof(p), BE "/virtio_disk/%u/%u", domid, devid);
	snprintf(fe, sizeof(fe), "%u", domid);
#define KEY(key, val) snprintf(k, sizeof(k), "%s/" key, p), put(k, val)
	KEY("frontend-id", fe);
	KEY("online", "1");
	KEY("state", "1");
	KEY("type", "standalone");
	KEY("specification", "virtio");
	KEY("base", base);
	KEY("irq", irq);
#undef KEY
	introduced[domid] = true;
}

static void virtio418(uint32_t domid, uint32_t devid, const char *type,
    const char *base, const char *irq, const char *grants)
{
	char p[256], k[300], fe[16];

	snprintf(p, sizeof(p), BE "/virtio/%u/%u", domid, devid);
	snprintf(fe, sizeof(fe), "%u", domid);
#define KEY(key, val) snprintf(k, sizeof(k), "%s/" key, p), put(k, val)
	KEY("frontend-id", fe);
	KEY("online", "1");
	KEY("state", "1");
	KEY("type", type);
	KEY("transport", "mmio");
	KEY("base", base);
	KEY("irq", irq);
	if (grants != NULL)
		KEY("grant_usage", grants);
#undef KEY
	introduced[domid] = true;
}

static const char *key(const char *dev, const char *k)
{
	static char p[300];

	snprintf(p, sizeof(p), "%s/%s", dev, k);
	return get(p);
}

static void set(const char *dev, const char *k, const char *v)
{
	char p[300];

	snprintf(p, sizeof(p), "%s/%s", dev, k);
	put(p, v);
}

static int setup(void **state)
{
	memset(node, 0, sizeof(node));
	memset(introduced, 0, sizeof(introduced));
	memset(devs, 0, sizeof(devs));
	nr_devs_made = nr_guests_made = nr_guests_destroyed = nr_removed = 0;
	nr_sweeps = next_ioserv = 0;
	last_adopt = -2;
	fail_add = fail_adopt = backend_late = false;
	nr_mem_guests = nr_ioreq_starts = nr_attach = nr_detach = 0;
	attach_ret = 2;
	last_attach_g = NULL;
	last_attach_domid = 0;
	opts.force_foreign = false;
	opts.nr_vmsg_domids = 0;
	assert_int_equal(xd_start((struct hv_xen *)&fake_xs, &opts), 0);
	return 0;
}

/* The same with virtio-msg endpoints configured for dom5 and dom1. */
static int setup_vmsg(void **state)
{
	setup(state);
	xd_stop(false);
	opts.nr_vmsg_domids = 3;
	assert_int_equal(xd_start((struct hv_xen *)&fake_xs, &opts), 0);
	return 0;
}

static int teardown(void **state)
{
	xd_stop(false);
	return 0;
}

#define D417 BE "/virtio_disk/1/51712"

/* ---- tests ---- */

/* Xen 4.17 disk: InitWait once served, Connected at DRIVER_OK, Closed. */
static void test_handshake_417(void **state)
{
	struct xvd_device *d = &devs[0];
	struct xs_restore r;
	const char *why;

	disk417(1, 51712, "33554432", "33");
	fire();
	assert_int_equal(nr_guests_made, 1);
	assert_int_equal(nr_devs_made, 1);
	assert_string_equal(d->cfg.dt->name, "blk");
	assert_int_equal(d->cfg.base, 0x2000000);
	assert_int_equal(d->cfg.irq, 33);
	assert_int_equal(d->cfg.slot, 0);
	assert_string_equal(d->cfg.socket, "/run/sock/blk.sock0");
	assert_false(d->cfg.grants);
	assert_null(d->cfg.restore);
	assert_string_equal(key(D417, "state"), "2");
	/* The restart record names the slot and the IOREQ server. */
	assert_non_null(key(D417, XS_RESTORE_KEY));
	assert_int_equal(xs_restore_parse(key(D417, XS_RESTORE_KEY), &r, &why),
	    0);
	assert_int_equal(r.slot, 0);
	assert_int_equal(r.status, 0);

	/* libxl moves the frontend on; nothing changes for us. */
	fire();
	assert_int_equal(nr_devs_made, 1);
	assert_string_equal(key(D417, "state"), "2");

	/* The guest driver sets DRIVER_OK. */
	d->now.status = 0xf;
	d->now.features = UINT64_C(0x100000000);
	d->now.ready = 1;
	d->now.q[0].num = 128;
	d->now.q[0].desc = 0x40001000;
	d->now.q[0].avail = 0x40002000;
	d->now.q[0].used = 0x40003000;
	d->cfg.on_driver_ok(d->cfg.cb_arg);
	assert_string_equal(key(D417, "state"), "4");
	assert_int_equal(xs_restore_parse(key(D417, XS_RESTORE_KEY), &r, &why),
	    0);
	assert_int_equal(r.status, 0xf);
	assert_int_equal(r.ready, 1);
	assert_int_equal(r.q[0].used, 0x40003000);

	/* A driver reset updates the record. */
	d->now.status = 0;
	d->now.ready = 0;
	d->cfg.on_reset(d->cfg.cb_arg);
	assert_int_equal(xs_restore_parse(key(D417, XS_RESTORE_KEY), &r, &why),
	    0);
	assert_int_equal(r.status, 0);
	assert_int_equal(r.ready, 0);

	/* xl destroy: Closing -> the device goes, then Closed. */
	set(D417, "state", "5");
	fire();
	assert_int_equal(nr_removed, 1);
	assert_false(d->live);
	assert_string_equal(key(D417, "state"), "6");
	assert_null(key(D417, XS_RESTORE_KEY));
	assert_int_equal(nr_guests_destroyed, 1);
	assert_false(last_destroy_dead);
}

/* online=0 without Closing is a removal too. */
static void test_online_zero(void **state)
{
	disk417(1, 51712, "33554432", "33");
	fire();
	set(D417, "online", "0");
	fire();
	assert_int_equal(nr_removed, 1);
	assert_string_equal(key(D417, "state"), "6");
}

/* Xen 4.18+ generic device: hex base, compatible, grant_usage. */
static void test_layout_418(void **state)
{
	const char *p = BE "/virtio/3/0";

	virtio418(3, 0, "virtio,device22", "0x2000200", "34", "1");
	fire();
	assert_int_equal(nr_devs_made, 1);
	assert_string_equal(devs[0].cfg.dt->name, "i2c");
	assert_int_equal(devs[0].cfg.base, 0x2000200);
	assert_int_equal(devs[0].cfg.irq, 34);
	assert_true(devs[0].cfg.grants);
	assert_string_equal(devs[0].cfg.socket, "/run/sock/i2c.sock0");
	assert_string_equal(key(p, "state"), "2");
}

/* --foreign-mapping overrides grant_usage=1. */
static void test_force_foreign(void **state)
{
	xd_stop(false);
	opts.force_foreign = true;
	assert_int_equal(xd_start((struct hv_xen *)&fake_xs, &opts), 0);
	virtio418(3, 0, "virtio,device22", "0x2000200", "34", "1");
	fire();
	assert_int_equal(nr_devs_made, 1);
	assert_false(devs[0].cfg.grants);
}

/* Each malformed value: not served, state untouched, read once. */
static void test_malformed(void **state)
{
	static const struct { const char *k, *v; } bad[] = {
		{ "base", "0x2000001" },	/* not window aligned */
		{ "base", "-1" },
		{ "base", "12abc" },
		{ "irq", "abc" },
		{ "irq", "2000" },
		{ "state", "9" },
		{ "frontend-id", "99" },	/* not the directory's domid */
		{ "grant_usage", "yes" },
		{ "transport", "pci" },		/* not ours: ignored */
		{ "type", "virtio,device99" },	/* unknown type: ignored */
	};

	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char p[64];
		unsigned reads;

		snprintf(p, sizeof(p), BE "/virtio/%u/0", i + 1);
		virtio418(i + 1, 0, "virtio,device22", "0x2000000", "33", NULL);
		set(p, bad[i].k, bad[i].v);
		fire();
		assert_int_equal(nr_devs_made, 0);
		assert_int_equal(nr_guests_made, 0);
		assert_string_equal(key(p, "state"),
		    strcmp(bad[i].k, "state") == 0 ? bad[i].v : "1");
		/* Remembered: the next scan does not read it again. */
		reads = nr_reads;
		fire();
		assert_int_equal(nr_reads - reads, 0);
	}
}

/* A node without its state key is half written or half removed: wait. */
static void test_no_state_yet(void **state)
{
	disk417(1, 51712, "33554432", "33");
	rm_tree(D417 "/state");
	fire();
	assert_int_equal(nr_devs_made, 0);
	set(D417, "state", "1");
	fire();
	assert_int_equal(nr_devs_made, 1);
	assert_string_equal(key(D417, "state"), "2");
}

/*
 * A back-end that is not there yet: the device waits for it from the event
 * loop (connect_async), InitWait only once it connected.
 */
static void test_backend_late(void **state)
{
	backend_late = true;
	disk417(1, 51712, "33554432", "33");
	fire();
	assert_int_equal(nr_devs_made, 1);
	assert_true(devs[0].cfg.connect_async);
	assert_non_null(devs[0].cfg.on_backend_ready);
	assert_string_equal(key(D417, "state"), "1");
	fire();
	assert_string_equal(key(D417, "state"), "1");
	devs[0].ready = true;
	devs[0].cfg.on_backend_ready(devs[0].cfg.cb_arg);
	assert_string_equal(key(D417, "state"), "2");
	assert_non_null(key(D417, XS_RESTORE_KEY));
}

/* Socket numbers: lowest free, given back when a device goes. */
static void test_slots(void **state)
{
	disk417(1, 51712, "33554432", "33");
	disk417(1, 51728, "33555456", "34");
	fire();
	assert_int_equal(nr_devs_made, 2);
	assert_int_equal(nr_guests_made, 1);	/* one server per guest */
	assert_true((devs[0].cfg.slot == 0 && devs[1].cfg.slot == 1) ||
	    (devs[0].cfg.slot == 1 && devs[1].cfg.slot == 0));
	set(D417, "state", "5");
	fire();
	assert_int_equal(nr_removed, 1);
	assert_int_equal(nr_guests_destroyed, 0);	/* one device left */
	rm_tree(D417);
	disk417(2, 51712, "33554432", "33");
	fire();
	assert_int_equal(nr_devs_made, 3);
	assert_int_equal(devs[2].cfg.slot,
	    devs[0].cfg.base == 0x2000000 ? devs[0].cfg.slot : devs[1].cfg.slot);
}

/* A node that vanishes without Closing: removed, no Closed written. */
static void test_vanished(void **state)
{
	disk417(1, 51712, "33554432", "33");
	fire();
	rm_tree(D417);
	fire();
	assert_int_equal(nr_removed, 1);
	assert_null(key(D417, "state"));
	assert_int_equal(nr_guests_destroyed, 1);
}

/* @releaseDomain: the domain is gone, Xen calls are skipped. */
static void test_domain_gone(void **state)
{
	disk417(1, 51712, "33554432", "33");
	fire();
	introduced[1] = false;
	fire();
	assert_int_equal(nr_guests_destroyed, 1);
	assert_true(last_destroy_dead);
}

/* A back-end that cannot be reached: not served, guest released. */
static void test_add_fails(void **state)
{
	fail_add = true;
	disk417(1, 51712, "33554432", "33");
	fire();
	assert_int_equal(nr_guests_made, 1);
	assert_int_equal(nr_guests_destroyed, 1);
	assert_string_equal(key(D417, "state"), "1");
	fail_add = false;
	fire();		/* logged once, not retried on every watch */
	assert_int_equal(nr_guests_made, 1);
}

/* Daemon restart: a Connected node with a record is taken over. */
static void test_restore(void **state)
{
	disk417(1, 51712, "33554432", "33");
	set(D417, "state", "4");
	set(D417, XS_RESTORE_KEY, "v1 slot=3 ioserv=2 status=0xf "
	    "features=0x100000000 q0=128,0x40001000,0x40002000,0x40003000");
	/* and a new device of the same type in the same scan */
	disk417(1, 51728, "33555456", "34");
	fire();
	assert_int_equal(nr_guests_made, 1);
	assert_int_equal(last_adopt, 2);
	assert_int_equal(nr_devs_made, 2);
	for (unsigned i = 0; i < 2; i++) {
		struct xvd_device *d = &devs[i];

		if (d->cfg.base == 0x2000000) {
			assert_true(d->has_rec);
			assert_false(d->cfg.connect_async);
			assert_int_equal(d->cfg.slot, 3);
			assert_string_equal(d->cfg.socket, "/run/sock/blk.sock3");
			assert_int_equal(d->rec.status, 0xf);
			assert_int_equal(d->rec.q[0].num, 128);
			assert_int_equal(d->rec.q[0].avail, 0x40002000);
		} else {
			assert_false(d->has_rec);
			assert_int_equal(d->cfg.slot, 0);	/* not 3 */
		}
	}
	/* Its state stays Connected; the new one gets InitWait. */
	assert_string_equal(key(D417, "state"), "4");
	assert_string_equal(key(BE "/virtio_disk/1/51728", "state"), "2");
	assert_int_equal(nr_sweeps, 1);
	fire();
	assert_int_equal(nr_sweeps, 1);
}

/* Records that cannot be trusted, or nodes without one: left alone. */
static void test_restore_refused(void **state)
{
	static const char *const bad[] = {
		NULL,			/* someone else's back-end */
		"v2 slot=0 ioserv=0 status=0 features=0",
		"v1 slot=64 ioserv=0 status=0 features=0",
		"v1 slot=0 ioserv=0 status=0x100 features=0",
		"v1 slot=0 ioserv=0 status=0",
		"v1 slot=0 slot=1 ioserv=0 status=0 features=0",
		"v1 slot=0 ioserv=0 status=0xf features=0 q0=100,0x1000,0x2000,0x3000",
		"v1 slot=0 ioserv=0 status=0xf features=0 q0=128,0x1008,0x2000,0x3000",
		"v1 slot=0 ioserv=0 status=0xf features=0 q16=128,0x1000,0x2000,0x3000",
		"v1 slot=0 ioserv=0 status=0xf features=0 q0=128,0x1000,0x2000",
		"v1 slot=0 ioserv=0 status=0xf features=0 bogus=1",
	};

	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char p[64];

		snprintf(p, sizeof(p), BE "/virtio_disk/%u/51712", i + 1);
		disk417(i + 1, 51712, "33554432", "33");
		set(p, "state", "4");
		if (bad[i] != NULL)
			set(p, XS_RESTORE_KEY, bad[i]);
		fire();
		assert_int_equal(nr_devs_made, 0);
		assert_string_equal(key(p, "state"), "4");
	}
}

/* The previous server is gone: a new one, and no sweep. */
static void test_restore_server_gone(void **state)
{
	fail_adopt = true;
	disk417(1, 51712, "33554432", "33");
	set(D417, "state", "4");
	set(D417, XS_RESTORE_KEY, "v1 slot=0 ioserv=5 status=0 features=0");
	fire();
	assert_int_equal(nr_devs_made, 1);
	assert_int_equal(last_adopt, 5);
	assert_int_equal(nr_sweeps, 0);
}

/* Exit, detached: nothing written, the server left; released otherwise. */
static void test_detach(void **state)
{
	const char *rec;

	disk417(1, 51712, "33554432", "33");
	fire();
	devs[0].now.status = 0xf;
	devs[0].cfg.on_driver_ok(devs[0].cfg.cb_arg);
	rec = key(D417, XS_RESTORE_KEY);
	assert_non_null(rec);
	xd_stop(true);
	assert_int_equal(nr_removed, 1);
	assert_int_equal(nr_guests_destroyed, 1);
	assert_true(last_destroy_detach);
	assert_string_equal(key(D417, "state"), "4");
	assert_non_null(key(D417, XS_RESTORE_KEY));

	/* The next daemon takes it over, then releases it. */
	assert_int_equal(xd_start((struct hv_xen *)&fake_xs, &opts), 0);
	fire();
	assert_int_equal(nr_devs_made, 2);
	assert_true(devs[1].has_rec);
	assert_int_equal(devs[1].rec.status, 0xf);
	xd_stop(false);
	assert_false(last_destroy_detach);
	assert_string_equal(key(D417, "state"), "6");
	assert_null(key(D417, XS_RESTORE_KEY));
	assert_int_equal(xd_start((struct hv_xen *)&fake_xs, &opts), 0);
}

/* ---- virtio-msg domains ---- */

/*
 * A configured domain: nothing until xenstore introduces it, then a guest
 * without IOREQ server and one attach; later scans keep it; its release
 * detaches and destroys it; the next domain with that id is attached anew.
 */
static void test_vmsg_domain(void **state)
{
	fire();
	assert_int_equal(nr_guests_made, 0);
	assert_int_equal(nr_attach, 0);

	introduced[5] = true;
	fire();
	assert_int_equal(nr_guests_made, 1);
	assert_int_equal(nr_mem_guests, 1);
	assert_int_equal(nr_ioreq_starts, 0);
	assert_int_equal(nr_attach, 1);
	assert_int_equal(last_attach_domid, 5);
	assert_false(last_attach_g->ioreq);
	for (unsigned i = 0; i < 3; i++)
		fire();
	assert_int_equal(nr_attach, 1);
	assert_int_equal(nr_guests_made, 1);
	assert_int_equal(nr_guests_destroyed, 0);

	/* An unrelated device node's scan does not touch it either. */
	disk417(2, 51712, "33554432", "33");
	fire();
	assert_int_equal(nr_guests_made, 2);
	assert_int_equal(nr_guests_destroyed, 0);

	introduced[5] = false;
	fire();
	assert_int_equal(nr_detach, 1);
	assert_int_equal(nr_guests_destroyed, 1);
	assert_true(last_destroy_dead);
	fire();
	assert_int_equal(nr_detach, 1);
	assert_int_equal(nr_attach, 1);

	introduced[5] = true;
	fire();
	assert_int_equal(nr_attach, 2);
	assert_int_equal(nr_guests_made, 3);
}

/* No device could be set up: guest released, not retried while it lives. */
static void test_vmsg_attach_none(void **state)
{
	attach_ret = 0;
	introduced[5] = true;
	fire();
	assert_int_equal(nr_attach, 1);
	assert_int_equal(nr_guests_made, 1);
	assert_int_equal(nr_guests_destroyed, 1);
	attach_ret = 2;
	fire();
	assert_int_equal(nr_attach, 1);
	assert_int_equal(nr_detach, 0);
}

/*
 * MMIO device and endpoints of one domain (dom1, listed twice): one guest
 * with its IOREQ server, one attach; removing the MMIO device keeps the
 * guest for the endpoints.
 */
static void test_vmsg_with_mmio(void **state)
{
	disk417(1, 51712, "33554432", "33");
	fire();
	assert_int_equal(nr_guests_made, 1);
	assert_int_equal(nr_mem_guests, 0);
	assert_int_equal(nr_devs_made, 1);
	assert_int_equal(nr_attach, 1);
	assert_ptr_equal(last_attach_g, devs[0].g);
	assert_true(last_attach_g->ioreq);
	assert_string_equal(key(D417, "state"), "2");

	set(D417, "state", "5");	/* Closing */
	fire();
	assert_int_equal(nr_removed, 1);
	assert_string_equal(key(D417, "state"), "6");
	assert_int_equal(nr_guests_destroyed, 0);
	rm_tree(D417);
	fire();
	assert_int_equal(nr_guests_destroyed, 0);
	assert_int_equal(nr_attach, 1);

	/* A new MMIO device joins the same guest and its server. */
	disk417(1, 51728, "33555456", "34");
	fire();
	assert_int_equal(nr_guests_made, 1);
	assert_int_equal(nr_devs_made, 2);
	assert_ptr_equal(devs[1].g, last_attach_g);

	introduced[1] = false;
	fire();
	assert_int_equal(nr_detach, 1);
	assert_int_equal(nr_guests_destroyed, 1);
}

/* Endpoints first, then an MMIO device: the server comes with the device. */
static void test_vmsg_then_mmio(void **state)
{
	introduced[1] = true;
	fire();
	assert_int_equal(nr_mem_guests, 1);
	assert_int_equal(nr_ioreq_starts, 0);
	assert_int_equal(nr_attach, 1);

	disk417(1, 51712, "33554432", "33");
	fire();
	assert_int_equal(nr_guests_made, 1);
	assert_int_equal(nr_ioreq_starts, 1);
	assert_int_equal(nr_devs_made, 1);
	assert_ptr_equal(devs[0].g, last_attach_g);
	assert_string_equal(key(D417, "state"), "2");
	assert_int_equal(nr_attach, 1);
}

/* Daemon exit: endpoints off the bus first, in both exit modes. */
static void test_vmsg_stop(void **state)
{
	introduced[5] = true;
	disk417(1, 51712, "33554432", "33");
	fire();
	assert_int_equal(nr_attach, 2);
	xd_stop(true);
	assert_int_equal(nr_detach, 2);
	assert_int_equal(nr_guests_destroyed, 2);
	assert_int_equal(xd_start((struct hv_xen *)&fake_xs, &opts), 0);
	fire();
	assert_int_equal(nr_attach, 4);
	xd_stop(false);
	assert_int_equal(nr_detach, 4);
	assert_int_equal(xd_start((struct hv_xen *)&fake_xs, &opts), 0);
}

/* More domids than XD_VMSG_MAX, or a callback missing: refused. */
static void test_vmsg_opts(void **state)
{
	struct xd_opts o = opts;

	xd_stop(false);
	o.nr_vmsg_domids = XD_VMSG_MAX + 1;
	assert_int_equal(xd_start((struct hv_xen *)&fake_xs, &o), -EINVAL);
	o.nr_vmsg_domids = 1;
	o.vmsg_detach = NULL;
	assert_int_equal(xd_start((struct hv_xen *)&fake_xs, &o), -EINVAL);
	assert_int_equal(xd_start((struct hv_xen *)&fake_xs, &opts), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_handshake_417, setup, teardown),
		cmocka_unit_test_setup_teardown(test_online_zero, setup, teardown),
		cmocka_unit_test_setup_teardown(test_layout_418, setup, teardown),
		cmocka_unit_test_setup_teardown(test_force_foreign, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_state_yet, setup, teardown),
		cmocka_unit_test_setup_teardown(test_backend_late, setup, teardown),
		cmocka_unit_test_setup_teardown(test_slots, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vanished, setup, teardown),
		cmocka_unit_test_setup_teardown(test_domain_gone, setup, teardown),
		cmocka_unit_test_setup_teardown(test_add_fails, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restore, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restore_refused, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_restore_server_gone, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_detach, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vmsg_domain, setup_vmsg,
		    teardown),
		cmocka_unit_test_setup_teardown(test_vmsg_attach_none,
		    setup_vmsg, teardown),
		cmocka_unit_test_setup_teardown(test_vmsg_with_mmio, setup_vmsg,
		    teardown),
		cmocka_unit_test_setup_teardown(test_vmsg_then_mmio, setup_vmsg,
		    teardown),
		cmocka_unit_test_setup_teardown(test_vmsg_stop, setup_vmsg,
		    teardown),
		cmocka_unit_test_setup_teardown(test_vmsg_opts, setup_vmsg,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
