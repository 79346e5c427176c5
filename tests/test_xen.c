/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * hv/xen.c against libxen* faked at link time (-Wl,--wrap): the IOREQ server
 * is set up in the order Xen requires (create, map the ioreq page, map
 * ranges, enable, then bind the vp_eport Xen wrote at enable) and torn down
 * in reverse.
 */
#include <xenctrl.h>

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <xendevicemodel.h>
#include <xenevtchn.h>
#include <xenforeignmemory.h>
#include <xengnttab.h>

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <xen/hvm/dm_op.h>

#include "hv/hv.h"

#define NR_VCPUS 3

static char calls[2048];
static ioreq_t page[4096 / sizeof(ioreq_t)] __attribute__((aligned(4096)));
static bool page_mapped, fail_bind, range_exists;
static int fail_resource_id = -1;	/* map_resource of this id: ENOENT */
static int fake_handle;

/* The kernel's side of the privcmd eventfd ioctls. */
static int ioctl_errno;		/* 0: accept */
static unsigned nr_ioctls;
static unsigned long last_req;
static uint8_t last_arg[48];
static struct xen_dm_op last_dm_op;

int __real_open64(const char *path, int flags, ...);
int __wrap_open64(const char *path, int flags, ...);
int __wrap_ioctl(int fd, unsigned long req, ...);

int __wrap_open64(const char *path, int flags, ...)
{
	if (strcmp(path, "/dev/xen/privcmd") == 0)
		return 999;
	return __real_open64(path, flags);
}

int __wrap_ioctl(int fd, unsigned long req, ...)
{
	va_list ap;
	void *arg;

	va_start(ap, req);
	arg = va_arg(ap, void *);
	va_end(ap);
	assert_int_equal(fd, 999);
	nr_ioctls++;
	last_req = req;
	memcpy(last_arg, arg, _IOC_SIZE(req) <= sizeof(last_arg) ?
	    _IOC_SIZE(req) : sizeof(last_arg));
	if (_IOC_NR(req) == 8) {
		uint64_t p;

		memcpy(&p, arg, sizeof(p));
		memcpy(&last_dm_op, (void *)(uintptr_t)p, sizeof(last_dm_op));
	}
	if (ioctl_errno != 0) {
		errno = ioctl_errno;
		return -1;
	}
	return 0;
}

/* gntdev: grants map into this buffer, one page per ref. */
static uint8_t grant_pages[4][4096] __attribute__((aligned(4096)));
static uint32_t last_refs[8], last_count, last_domid, unmapped_count;
static int last_prot;
static void *unmapped_va;

xengnttab_handle *__wrap_xengnttab_open(struct xentoollog_logger *l,
    unsigned f);
int __wrap_xengnttab_close(xengnttab_handle *h);
void *__wrap_xengnttab_map_domain_grant_refs(xengnttab_handle *h,
    uint32_t count, uint32_t domid, uint32_t *refs, int prot);
int __wrap_xengnttab_unmap(xengnttab_handle *h, void *va, uint32_t count);

xengnttab_handle *__wrap_xengnttab_open(struct xentoollog_logger *l,
    unsigned f)
{
	return (xengnttab_handle *)&fake_handle;
}

int __wrap_xengnttab_close(xengnttab_handle *h)
{
	return 0;
}

void *__wrap_xengnttab_map_domain_grant_refs(xengnttab_handle *h,
    uint32_t count, uint32_t domid, uint32_t *refs, int prot)
{
	last_count = count;
	last_domid = domid;
	last_prot = prot;
	memcpy(last_refs, refs, (count < 8 ? count : 8) * sizeof(*refs));
	if (count > 4 || refs[0] == 666) {
		errno = EINVAL;
		return NULL;
	}
	return grant_pages;
}

int __wrap_xengnttab_unmap(xengnttab_handle *h, void *va, uint32_t count)
{
	unmapped_va = va;
	unmapped_count = count;
	return 0;
}

static void call(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void call(const char *fmt, ...)
{
	size_t n = strlen(calls);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(calls + n, sizeof(calls) - n, fmt, ap);
	va_end(ap);
	n = strlen(calls);
	snprintf(calls + n, sizeof(calls) - n, " ");
}

/* The fakes: prototypes only to satisfy -Wmissing-prototypes. */
xendevicemodel_handle *__wrap_xendevicemodel_open(struct xentoollog_logger *l,
    unsigned f);
int __wrap_xendevicemodel_close(xendevicemodel_handle *h);
int __wrap_xendevicemodel_nr_vcpus(xendevicemodel_handle *h, domid_t d,
    unsigned *n);
int __wrap_xendevicemodel_create_ioreq_server(xendevicemodel_handle *h,
    domid_t d, int buf, ioservid_t *id);
int __wrap_xendevicemodel_map_io_range_to_ioreq_server(
    xendevicemodel_handle *h, domid_t d, ioservid_t id, int mmio,
    uint64_t s, uint64_t e);
int __wrap_xendevicemodel_unmap_io_range_from_ioreq_server(
    xendevicemodel_handle *h, domid_t d, ioservid_t id, int mmio,
    uint64_t s, uint64_t e);
int __wrap_xendevicemodel_set_ioreq_server_state(xendevicemodel_handle *h,
    domid_t d, ioservid_t id, int en);
int __wrap_xendevicemodel_destroy_ioreq_server(xendevicemodel_handle *h,
    domid_t d, ioservid_t id);
int __wrap_xendevicemodel_set_irq_level(xendevicemodel_handle *h, domid_t d,
    unsigned irq, unsigned level);
xenforeignmemory_handle *__wrap_xenforeignmemory_open(
    struct xentoollog_logger *l, unsigned f);
int __wrap_xenforeignmemory_close(xenforeignmemory_handle *h);
xenforeignmemory_resource_handle *__wrap_xenforeignmemory_map_resource(
    xenforeignmemory_handle *h, domid_t d, unsigned type, unsigned id,
    unsigned long frame, unsigned long nr, void **addr, int prot, int flags);
int __wrap_xenforeignmemory_unmap_resource(xenforeignmemory_handle *h,
    xenforeignmemory_resource_handle *r);
xc_interface *__wrap_xc_interface_open(xentoollog_logger *a,
    xentoollog_logger *b, unsigned f);
int __wrap_xc_interface_close(xc_interface *x);
xenevtchn_handle *__wrap_xenevtchn_open(struct xentoollog_logger *l,
    unsigned f);
int __wrap_xenevtchn_close(xenevtchn_handle *x);
xenevtchn_port_or_error_t __wrap_xenevtchn_bind_interdomain(
    xenevtchn_handle *x, uint32_t d, evtchn_port_t remote);
int __wrap_xenevtchn_unbind(xenevtchn_handle *x, evtchn_port_t p);
int __wrap_xenevtchn_notify(xenevtchn_handle *x, evtchn_port_t p);

xendevicemodel_handle *__wrap_xendevicemodel_open(struct xentoollog_logger *l,
    unsigned f)
{
	return (xendevicemodel_handle *)&fake_handle;
}

int __wrap_xendevicemodel_close(xendevicemodel_handle *h)
{
	return 0;
}

int __wrap_xendevicemodel_nr_vcpus(xendevicemodel_handle *h, domid_t d,
    unsigned *n)
{
	call("nr_vcpus(%u)", d);
	*n = NR_VCPUS;
	return 0;
}

int __wrap_xendevicemodel_create_ioreq_server(xendevicemodel_handle *h,
    domid_t d, int buf, ioservid_t *id)
{
	call("create(%u,buf=%d)", d, buf);
	*id = 4;
	return 0;
}

int __wrap_xendevicemodel_map_io_range_to_ioreq_server(
    xendevicemodel_handle *h, domid_t d, ioservid_t id, int mmio,
    uint64_t s, uint64_t e)
{
	call("map_range(%u,%#llx-%#llx)", id, (unsigned long long)s,
	    (unsigned long long)e);
	if (range_exists) {
		errno = EEXIST;
		return -1;
	}
	return 0;
}

int __wrap_xendevicemodel_unmap_io_range_from_ioreq_server(
    xendevicemodel_handle *h, domid_t d, ioservid_t id, int mmio,
    uint64_t s, uint64_t e)
{
	call("unmap_range(%u,%#llx)", id, (unsigned long long)s);
	return 0;
}

int __wrap_xendevicemodel_set_ioreq_server_state(xendevicemodel_handle *h,
    domid_t d, ioservid_t id, int en)
{
	call("state(%u,%d)", id, en);
	/* Xen writes vp_eport at enable, and only into an acquired page. */
	if (en && page_mapped)
		for (unsigned i = 0; i < NR_VCPUS; i++)
			page[i].vp_eport = 100 + i;
	return 0;
}

int __wrap_xendevicemodel_destroy_ioreq_server(xendevicemodel_handle *h,
    domid_t d, ioservid_t id)
{
	call("destroy(%u)", id);
	return 0;
}

int __wrap_xendevicemodel_set_irq_level(xendevicemodel_handle *h, domid_t d,
    unsigned irq, unsigned level)
{
	call("irq(%u,%u)", irq, level);
	return 0;
}

xenforeignmemory_handle *__wrap_xenforeignmemory_open(
    struct xentoollog_logger *l, unsigned f)
{
	return (xenforeignmemory_handle *)&fake_handle;
}

int __wrap_xenforeignmemory_close(xenforeignmemory_handle *h)
{
	return 0;
}

xenforeignmemory_resource_handle *__wrap_xenforeignmemory_map_resource(
    xenforeignmemory_handle *h, domid_t d, unsigned type, unsigned id,
    unsigned long frame, unsigned long nr, void **addr, int prot, int flags)
{
	call("map_resource(type=%u,id=%u,frame=%lu,nr=%lu)", type, id, frame,
	    nr);
	if ((int)id == fail_resource_id) {
		errno = ENOENT;
		return NULL;
	}
	page_mapped = true;
	*addr = page;
	return (xenforeignmemory_resource_handle *)&fake_handle;
}

int __wrap_xenforeignmemory_unmap_resource(xenforeignmemory_handle *h,
    xenforeignmemory_resource_handle *r)
{
	call("unmap_resource");
	page_mapped = false;
	return 0;
}

xc_interface *__wrap_xc_interface_open(xentoollog_logger *a,
    xentoollog_logger *b, unsigned f)
{
	return (xc_interface *)&fake_handle;
}

int __wrap_xc_interface_close(xc_interface *x)
{
	return 0;
}

xenevtchn_handle *__wrap_xenevtchn_open(struct xentoollog_logger *l,
    unsigned f)
{
	return (xenevtchn_handle *)&fake_handle;
}

int __wrap_xenevtchn_close(xenevtchn_handle *x)
{
	return 0;
}

xenevtchn_port_or_error_t __wrap_xenevtchn_bind_interdomain(
    xenevtchn_handle *x, uint32_t d, evtchn_port_t remote)
{
	call("bind(%u)", remote);
	if (fail_bind || remote == 0) {
		errno = EINVAL;
		return -1;
	}
	return (xenevtchn_port_or_error_t)(remote + 1000);
}

int __wrap_xenevtchn_unbind(xenevtchn_handle *x, evtchn_port_t p)
{
	call("unbind(%u)", p);
	return 0;
}

int __wrap_xenevtchn_notify(xenevtchn_handle *x, evtchn_port_t p)
{
	call("notify(%u)", p);
	return 0;
}

static int setup(void **state)
{
	ioctl_errno = 0;
	nr_ioctls = 0;
	calls[0] = '\0';
	memset(page, 0, sizeof(page));
	page_mapped = fail_bind = range_exists = false;
	fail_resource_id = -1;
	return 0;
}

static void test_setup_order(void **state)
{
	struct hv_xen *x;
	struct hv_dom *d;

	assert_int_equal(hv_xen_open(&x), 0);
	assert_int_equal(hv_xen_dom_open(x, 7, &d), 0);
	assert_int_equal(d->nr_vcpus, NR_VCPUS);
	assert_int_equal(d->ops->ioreq_create(d), 0);
	assert_ptr_equal(d->iopage, page);
	assert_int_equal(d->ops->map_range(d, 0x2000000, 0x20001ff), 0);
	assert_int_equal(d->ops->map_range(d, 0x2000200, 0x20003ff), 0);
	assert_int_equal(d->ops->enable(d), 0);
	assert_string_equal(calls,
	    "nr_vcpus(7) create(7,buf=0) "
	    "map_resource(type=0,id=4,frame=1,nr=1) "
	    "map_range(4,0x2000000-0x20001ff) map_range(4,0x2000200-0x20003ff) "
	    "state(4,1) bind(100) bind(101) bind(102) ");

	calls[0] = '\0';
	assert_int_equal(d->ops->notify(d, 2), 0);
	assert_int_equal(d->ops->notify(d, NR_VCPUS), -EINVAL);
	assert_int_equal(d->ops->set_irq(d, 33, 1), 0);
	assert_string_equal(calls, "notify(1102) irq(33,1) ");

	calls[0] = '\0';
	d->ops->destroy(d);
	assert_string_equal(calls,
	    "state(4,0) unmap_range(4,0x2000000) unmap_range(4,0x2000200) "
	    "unmap_resource unbind(1100) unbind(1101) unbind(1102) destroy(4) ");
	hv_xen_close(x);
}

static void test_bind_failure_unwinds(void **state)
{
	struct hv_xen *x;
	struct hv_dom *d;

	assert_int_equal(hv_xen_open(&x), 0);
	assert_int_equal(hv_xen_dom_open(x, 9, &d), 0);
	assert_int_equal(d->ops->ioreq_create(d), 0);
	fail_bind = true;
	assert_true(d->ops->enable(d) < 0);
	calls[0] = '\0';
	d->ops->destroy(d);
	/* Nothing was bound, everything else is released. */
	assert_string_equal(calls, "state(4,0) unmap_resource destroy(4) ");
	hv_xen_close(x);
}

static void test_dead_domain_skips_hypercalls(void **state)
{
	struct hv_xen *x;
	struct hv_dom *d;

	assert_int_equal(hv_xen_open(&x), 0);
	assert_int_equal(hv_xen_dom_open(x, 9, &d), 0);
	assert_int_equal(d->ops->ioreq_create(d), 0);
	assert_int_equal(d->ops->map_range(d, 0x2000000, 0x20001ff), 0);
	assert_int_equal(d->ops->enable(d), 0);
	d->dead = true;
	calls[0] = '\0';
	d->ops->destroy(d);
	/* Xen destroyed the server with the domain: only local state goes. */
	assert_string_equal(calls,
	    "unmap_resource unbind(1100) unbind(1101) unbind(1102) ");
	hv_xen_close(x);
}

/*
 * Daemon restart: a previous xen-vhostd's server is mapped again, not
 * created; its ranges are there already (EEXIST); a detached exit leaves
 * the server, its state and its ranges to the next daemon.
 */
static void test_adopt_and_detach(void **state)
{
	struct hv_xen *x;
	struct hv_dom *d;

	assert_int_equal(hv_xen_open(&x), 0);
	assert_int_equal(hv_xen_dom_open(x, 7, &d), 0);
	assert_int_equal(d->adopt_ioservid, -1);
	d->adopt_ioservid = 2;
	/* What the old server's page holds: Xen wrote it at its enable. */
	for (unsigned i = 0; i < NR_VCPUS; i++)
		page[i].vp_eport = 100 + i;
	calls[0] = '\0';
	assert_int_equal(d->ops->ioreq_create(d), 0);
	assert_true(d->adopted);
	assert_int_equal(d->ioservid, 2);
	range_exists = true;
	assert_int_equal(d->ops->map_range(d, 0x2000000, 0x20001ff), 0);
	range_exists = false;
	assert_int_equal(d->ops->enable(d), 0);
	assert_string_equal(calls,
	    "map_resource(type=0,id=2,frame=1,nr=1) "
	    "map_range(2,0x2000000-0x20001ff) state(2,1) "
	    "bind(100) bind(101) bind(102) ");

	calls[0] = '\0';
	d->detach = true;
	d->ops->destroy(d);
	assert_string_equal(calls,
	    "unmap_resource unbind(1100) unbind(1101) unbind(1102) ");
	hv_xen_close(x);
}

/* The server named in the restart record is gone: create a new one. */
static void test_adopt_server_gone(void **state)
{
	struct hv_xen *x;
	struct hv_dom *d;

	assert_int_equal(hv_xen_open(&x), 0);
	assert_int_equal(hv_xen_dom_open(x, 7, &d), 0);
	d->adopt_ioservid = 3;
	fail_resource_id = 3;
	calls[0] = '\0';
	assert_int_equal(d->ops->ioreq_create(d), 0);
	assert_false(d->adopted);
	assert_int_equal(d->ioservid, 4);
	assert_string_equal(calls,
	    "map_resource(type=0,id=3,frame=1,nr=1) create(7,buf=0) "
	    "map_resource(type=0,id=4,frame=1,nr=1) ");
	/* A range that exists in a server we created is an error. */
	range_exists = true;
	assert_int_equal(d->ops->map_range(d, 0x2000000, 0x20001ff), -EEXIST);
	d->ops->destroy(d);
	hv_xen_close(x);
}

static uint32_t arg32(unsigned off)
{
	uint32_t v;

	memcpy(&v, last_arg + off, sizeof(v));
	return v;
}

static uint64_t arg64(unsigned off)
{
	uint64_t v;

	memcpy(&v, last_arg + off, sizeof(v));
	return v;
}

static void test_kernel_fast_path_args(void **state)
{
	struct hv_xen *x;
	struct hv_dom *d;
	uint32_t ports[NR_VCPUS];

	assert_int_equal(hv_xen_open(&x), 0);
	assert_int_equal(hv_xen_dom_open(x, 7, &d), 0);
	assert_int_equal(d->ops->ioreq_create(d), 0);
	assert_int_equal(d->ops->enable(d), 0);

	/* irqfd: _IOW('P', 8, 24) with a whole set_irq_level dm_op. */
	assert_int_equal(d->ops->irqfd(d, 33, 41, true), 0);
	assert_int_equal(last_req, 0x40185008ul);
	assert_int_equal(arg32(8), sizeof(struct xen_dm_op));
	assert_int_equal(arg32(12), 41);
	assert_int_equal(arg32(16), 0);
	assert_int_equal(last_arg[20] | (last_arg[21] << 8), 7);
	assert_int_equal(last_dm_op.op, XEN_DMOP_set_irq_level);
	assert_int_equal(last_dm_op.u.set_irq_level.irq, 33);
	assert_int_equal(last_dm_op.u.set_irq_level.level, 1);
	assert_int_equal(d->ops->irqfd(d, 33, 41, false), 0);
	assert_int_equal(arg32(16), 1);	/* deassign */

	/* ioeventfd: _IOW('P', 9, 48), the ioreq page and the local ports. */
	assert_int_equal(d->ops->ioeventfd(d, 0x2000050, 1, 42, true), 0);
	assert_int_equal(last_req, 0x40305009ul);
	assert_ptr_equal((void *)(uintptr_t)arg64(0), page);
	memcpy(ports, (void *)(uintptr_t)arg64(8), sizeof(ports));
	assert_int_equal(ports[0], 1100);
	assert_int_equal(ports[2], 1102);
	assert_int_equal(arg64(16), 0x2000050);
	assert_int_equal(arg32(24), 4);
	assert_int_equal(arg32(28), 42);
	assert_int_equal(arg32(32), NR_VCPUS);
	assert_int_equal(arg32(36), 1);
	assert_int_equal(arg32(40), 0);
	assert_int_equal(last_arg[44] | (last_arg[45] << 8), 7);
	d->ops->destroy(d);
	hv_xen_close(x);
}

static void test_kernel_without_fast_path(void **state)
{
	struct hv_xen *x;
	struct hv_dom *d;

	assert_int_equal(hv_xen_open(&x), 0);
	assert_int_equal(hv_xen_dom_open(x, 7, &d), 0);
	assert_int_equal(d->ops->ioreq_create(d), 0);
	assert_int_equal(d->ops->enable(d), 0);
	/* Debian 12's 6.1: the ioctl is unknown. */
	ioctl_errno = ENOTTY;
	assert_int_equal(d->ops->irqfd(d, 33, 41, true), -EOPNOTSUPP);
	assert_int_equal(nr_ioctls, 1);
	/* Asked once: afterwards the userspace relay, without ioctls. */
	assert_int_equal(d->ops->ioeventfd(d, 0x2000050, 0, 42, true),
	    -EOPNOTSUPP);
	assert_int_equal(nr_ioctls, 1);
	d->ops->destroy(d);
	hv_xen_close(x);
}

static void test_grant_map(void **state)
{
	struct hv_xen *x;
	struct hv_dom *d;
	void *cookie, *p;

	assert_int_equal(hv_xen_open(&x), 0);
	assert_int_equal(hv_xen_dom_open(x, 7, &d), 0);
	/* gref 5 at offset 0x10, 0x2000 bytes: refs 5, 6, 7. */
	p = d->ops->grant_map(d, HV_GRANT_ADDR_BIT | (5u << 12) | 0x10, 0x2000,
	    false, &cookie);
	assert_ptr_equal(p, &grant_pages[0][0x10]);
	assert_int_equal(last_count, 3);
	assert_int_equal(last_refs[0], 5);
	assert_int_equal(last_refs[2], 7);
	assert_int_equal(last_domid, 7);
	assert_int_equal(last_prot, PROT_READ);
	d->ops->grant_unmap(d, cookie);
	assert_ptr_equal(unmapped_va, grant_pages);
	assert_int_equal(unmapped_count, 3);
	/* Writable buffers are mapped writable. */
	p = d->ops->grant_map(d, HV_GRANT_ADDR_BIT | (9u << 12), 4096, true,
	    &cookie);
	assert_non_null(p);
	assert_int_equal(last_count, 1);
	assert_int_equal(last_prot, PROT_READ | PROT_WRITE);
	d->ops->grant_unmap(d, cookie);
	/* Refused: not a grant address, empty, too long, revoked grant. */
	assert_null(d->ops->grant_map(d, 0x40000000, 4096, false, &cookie));
	assert_null(cookie);
	assert_null(d->ops->grant_map(d, HV_GRANT_ADDR_BIT, 0, false, &cookie));
	assert_null(d->ops->grant_map(d, HV_GRANT_ADDR_BIT, 8u << 20, false,
	    &cookie));
	assert_null(d->ops->grant_map(d, HV_GRANT_ADDR_BIT | (666u << 12), 64,
	    false, &cookie));
	assert_null(cookie);
	/* gref numbers must not wrap around. */
	assert_null(d->ops->grant_map(d, HV_GRANT_ADDR_BIT | 0x7ffffffffffff000ull,
	    8192, false, &cookie));
	d->ops->destroy(d);
	hv_xen_close(x);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_setup_order, setup),
		cmocka_unit_test_setup(test_bind_failure_unwinds, setup),
		cmocka_unit_test_setup(test_dead_domain_skips_hypercalls, setup),
		cmocka_unit_test_setup(test_kernel_fast_path_args, setup),
		cmocka_unit_test_setup(test_kernel_without_fast_path, setup),
		cmocka_unit_test_setup(test_grant_map, setup),
		cmocka_unit_test_setup(test_adopt_and_detach, setup),
		cmocka_unit_test_setup(test_adopt_server_gone, setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
