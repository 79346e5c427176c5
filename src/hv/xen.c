/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The real Xen: libxendevicemodel, libxenforeignmemory, libxenevtchn.
 * Order (reference: xen-interfaces.md 1.2): create the server, map its sync
 * page with map_resource, map ranges, enable, then read each vCPU's vp_eport
 * and bind it. Teardown is the reverse.
 */
/* xenctrl.h first: it sets __XEN_TOOLS__ for the public headers. */
#include <xenctrl.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include <xendevicemodel.h>
#include <xenevtchn.h>
#include <xenforeignmemory.h>
#include <xengnttab.h>
#include <xen/hvm/dm_op.h>
#include <xen/memory.h>

#include "hv/hv.h"
#include "log.h"
#include "util.h"

/* public/arch-arm.h guest layout (only visible to __XEN_TOOLS__ there). */
#define XEN_ARM_RAM0_BASE	UINT64_C(0x40000000)
#define XEN_ARM_RAM0_SIZE	UINT64_C(0xc0000000)
#define XEN_ARM_RAM1_BASE	UINT64_C(0x0200000000)
#define XEN_PAGE_SHIFT		12
/* HVM_IOREQSRV_BUFIOREQ_OFF (hvm_op.h, tools-only): Arm refuses anything else. */
#define XEN_BUFIOREQ_OFF	0
/* The 4.17 sync page holds 4096 / 32 slots. */
#define XEN_MAX_VCPUS		128u

/*
 * privcmd eventfd ioctls (Linux 6.7 uapi xen/privcmd.h; not in Debian 12's
 * 6.1 headers). Layouts: reference xen-interfaces.md 6.1.
 */
struct xvd_privcmd_irqfd {
	uint64_t dm_op;		/* user pointer to a struct xen_dm_op */
	uint32_t size;
	uint32_t fd;
	uint32_t flags;		/* bit0: deassign */
	uint16_t dom;
	uint8_t pad[2];
};
struct xvd_privcmd_ioeventfd {
	uint64_t ioreq;		/* user VA of the sync ioreq page */
	uint64_t ports;		/* user pointer to u32[vcpus] local ports */
	uint64_t addr;
	uint32_t addr_len;
	uint32_t event_fd;
	uint32_t vcpus;
	uint32_t vq;
	uint32_t flags;		/* bit0: deassign */
	uint16_t dom;
	uint8_t pad[2];
};
_Static_assert(sizeof(struct xvd_privcmd_irqfd) == 24, "privcmd_irqfd");
_Static_assert(sizeof(struct xvd_privcmd_ioeventfd) == 48, "privcmd_ioeventfd");
#define XVD_IOCTL_PRIVCMD_IRQFD _IOW('P', 8, struct xvd_privcmd_irqfd)
#define XVD_IOCTL_PRIVCMD_IOEVENTFD _IOW('P', 9, struct xvd_privcmd_ioeventfd)
#define XVD_PRIVCMD_DEASSIGN 1u

struct hv_xen {
	int privcmd_fd;		/* XEN_MMAP back-ends and eventfd ioctls */
	bool no_eventfd;	/* the kernel said no once: userspace relay */
	xengnttab_handle *gnt;	/* opened on the first grant map */
	xendevicemodel_handle *dm;
	xenforeignmemory_handle *fmem;
	xc_interface *xc;
};

struct xen_dom {
	struct hv_dom d;	/* first */
	struct hv_xen *x;
	xenevtchn_handle *xce;
	xenforeignmemory_resource_handle *res;
	ioservid_t id;
	bool created, enabled;
	evtchn_port_t local_port[XEN_MAX_VCPUS];
	unsigned nr_bound;
	uint64_t ranges[8][2];
	unsigned nr_ranges;
	size_t map_pages[HV_MAX_MEM];	/* whole mapping, for unmap */
};

static struct xen_dom *to_xen(const struct hv_dom *d)
{
	return (struct xen_dom *)(uintptr_t)d;
}

int hv_xen_open(struct hv_xen **out)
{
	struct hv_xen *x = calloc(1, sizeof(*x));

	if (x == NULL)
		return -ENOMEM;
	x->privcmd_fd = -1;
	x->dm = xendevicemodel_open(NULL, 0);
	if (x->dm == NULL)
		goto fail;
	x->fmem = xenforeignmemory_open(NULL, 0);
	if (x->fmem == NULL)
		goto fail;
	x->xc = xc_interface_open(NULL, NULL, 0);
	if (x->xc == NULL)
		goto fail;
	*out = x;
	return 0;
fail:
	log_warn("cannot open the Xen interfaces (is this dom0 with privcmd?)");
	hv_xen_close(x);
	return -ENODEV;
}

void hv_xen_close(struct hv_xen *x)
{
	if (x == NULL)
		return;
	if (x->xc != NULL)
		xc_interface_close(x->xc);
	if (x->fmem != NULL)
		xenforeignmemory_close(x->fmem);
	if (x->dm != NULL)
		xendevicemodel_close(x->dm);
	fd_close(&x->privcmd_fd);
	if (x->gnt != NULL)
		xengnttab_close(x->gnt);
	free(x);
}

static const struct hv_ops xen_ops;

int hv_xen_dom_open(struct hv_xen *x, uint32_t domid, struct hv_dom **out)
{
	struct xen_dom *xd;
	unsigned nr = 0;

	if (xendevicemodel_nr_vcpus(x->dm, (domid_t)domid, &nr) < 0) {
		log_warn("dom%u: xendevicemodel_nr_vcpus (Xen needs"
		    " CONFIG_IOREQ_SERVER)", domid);
		return -errno;
	}
	if (nr == 0 || nr > XEN_MAX_VCPUS) {
		log_warnx("dom%u: %u vCPUs: one ioreq page serves 1..%u",
		    domid, nr, XEN_MAX_VCPUS);
		return -E2BIG;
	}
	xd = calloc(1, sizeof(*xd));
	if (xd == NULL)
		return -ENOMEM;
	xd->x = x;
	xd->d.ops = &xen_ops;
	xd->d.domid = domid;
	xd->d.nr_vcpus = nr;
	xd->d.adopt_ioservid = -1;
	xd->xce = xenevtchn_open(NULL, 0);
	if (xd->xce == NULL) {
		log_warn("dom%u: xenevtchn_open", domid);
		free(xd);
		return -ENODEV;
	}
	*out = &xd->d;
	return 0;
}

/* Map the server's sync ioreq page as its own mapping (reference 1.2). */
static xenforeignmemory_resource_handle *xen_map_iopage(struct xen_dom *xd,
    void **page)
{
	return xenforeignmemory_map_resource(xd->x->fmem, (domid_t)xd->d.domid,
	    XENMEM_resource_ioreq_server, xd->id,
	    XENMEM_resource_ioreq_server_frame_ioreq(0), 1, page,
	    PROT_READ | PROT_WRITE, 0);
}

static int xen_ioreq_create(struct hv_dom *d)
{
	struct xen_dom *xd = to_xen(d);
	void *page = NULL;

	if (d->adopt_ioservid >= 0) {
		/*
		 * A previous xen-vhostd's server outlives it (Xen ties it to
		 * dom0, not to a process), ranges, state and the vp_eports in
		 * its page included: map the page again and serve it.
		 */
		xd->id = (ioservid_t)d->adopt_ioservid;
		xd->res = xen_map_iopage(xd, &page);
		if (xd->res != NULL) {
			xd->created = true;
			d->adopted = true;
			d->ioservid = xd->id;
			d->iopage = page;
			log_info("dom%u: took over IOREQ server %u", d->domid,
			    xd->id);
			return 0;
		}
		log_warn("dom%u: IOREQ server %u of the previous xen-vhostd"
		    " is gone; creating one", d->domid, xd->id);
	}
	if (xendevicemodel_create_ioreq_server(xd->x->dm, (domid_t)d->domid,
	    XEN_BUFIOREQ_OFF, &xd->id) < 0) {
		log_warn("dom%u: create_ioreq_server", d->domid);
		return -errno;
	}
	xd->created = true;
	d->ioservid = xd->id;
	/* Map before enabling: Xen writes vp_eport only into a mapped page. */
	xd->res = xen_map_iopage(xd, &page);
	if (xd->res == NULL) {
		log_warn("dom%u: map_resource(ioreq server %u)", d->domid,
		    xd->id);
		return -errno;
	}
	d->iopage = page;
	return 0;
}

static int xen_map_range(struct hv_dom *d, uint64_t start, uint64_t end)
{
	struct xen_dom *xd = to_xen(d);

	if (xd->nr_ranges >= ARRAY_SIZE(xd->ranges))
		return -ENOSPC;
	/* A taken-over server still has the ranges of its devices. */
	if (xendevicemodel_map_io_range_to_ioreq_server(xd->x->dm,
	    (domid_t)d->domid, xd->id, 1, start, end) < 0 &&
	    !(d->adopted && errno == EEXIST)) {
		log_warn("dom%u: map_io_range %#llx-%#llx", d->domid,
		    (unsigned long long)start, (unsigned long long)end);
		return -errno;
	}
	xd->ranges[xd->nr_ranges][0] = start;
	xd->ranges[xd->nr_ranges][1] = end;
	xd->nr_ranges++;
	return 0;
}

static int xen_unmap_range(struct hv_dom *d, uint64_t start, uint64_t end)
{
	struct xen_dom *xd = to_xen(d);

	for (unsigned i = 0; i < xd->nr_ranges; i++) {
		if (xd->ranges[i][0] != start || xd->ranges[i][1] != end)
			continue;
		xd->ranges[i][0] = xd->ranges[xd->nr_ranges - 1][0];
		xd->ranges[i][1] = xd->ranges[xd->nr_ranges - 1][1];
		xd->nr_ranges--;
		if (!d->dead && !d->detach &&
		    xendevicemodel_unmap_io_range_from_ioreq_server(
		    xd->x->dm, (domid_t)d->domid, xd->id, 1, start, end) < 0)
			return -errno;
		return 0;
	}
	return -ENOENT;
}

static int xen_enable(struct hv_dom *d)
{
	struct xen_dom *xd = to_xen(d);

	if (xendevicemodel_set_ioreq_server_state(xd->x->dm, (domid_t)d->domid,
	    xd->id, 1) < 0) {
		log_warn("dom%u: set_ioreq_server_state(1)", d->domid);
		return -errno;
	}
	xd->enabled = true;
	for (unsigned i = 0; i < d->nr_vcpus; i++) {
		uint32_t remote = ((volatile ioreq_t *)d->iopage)[i].vp_eport;
		xenevtchn_port_or_error_t p;

		p = xenevtchn_bind_interdomain(xd->xce, d->domid, remote);
		if (p < 0) {
			log_warn("dom%u: bind vCPU %u event channel %u",
			    d->domid, i, remote);
			return -errno;
		}
		xd->local_port[i] = (evtchn_port_t)p;
		xd->nr_bound = i + 1;
	}
	return 0;
}

static unsigned xen_nr_event_fds(const struct hv_dom *d)
{
	return to_xen(d)->nr_bound != 0 ? 1 : 0;
}

static int xen_event_fd(const struct hv_dom *d, unsigned i)
{
	return i == 0 ? xenevtchn_fd(to_xen(d)->xce) : -1;
}

static int xen_pending(struct hv_dom *d, unsigned i, unsigned *vcpu)
{
	struct xen_dom *xd = to_xen(d);
	xenevtchn_port_or_error_t p = xenevtchn_pending(xd->xce);

	if (p < 0)
		return errno == EAGAIN ? 0 : -errno;
	xenevtchn_unmask(xd->xce, (evtchn_port_t)p);
	for (unsigned v = 0; v < xd->nr_bound; v++) {
		if (xd->local_port[v] == (evtchn_port_t)p) {
			*vcpu = v;
			return 1;
		}
	}
	return 0;
}

static int xen_notify(struct hv_dom *d, unsigned vcpu)
{
	struct xen_dom *xd = to_xen(d);

	if (vcpu >= xd->nr_bound)
		return -EINVAL;
	return xenevtchn_notify(xd->xce, xd->local_port[vcpu]) < 0 ? -errno : 0;
}

static int xen_set_irq(struct hv_dom *d, unsigned irq, unsigned level)
{
	struct xen_dom *xd = to_xen(d);

	if (xendevicemodel_set_irq_level(xd->x->dm, (domid_t)d->domid, irq,
	    level) < 0)
		return -errno;
	return 0;
}

/* Map [base, base+size) of guest RAM in one foreign mapping. */
static int xen_map_bank(struct xen_dom *xd, uint64_t base, uint64_t size)
{
	struct hv_dom *d = &xd->d;
	size_t pages = size >> XEN_PAGE_SHIFT, ok = 0;
	xen_pfn_t *pfns;
	int *err;
	void *p;

	if (d->nr_mem >= HV_MAX_MEM)
		return -ENOSPC;
	pfns = calloc(pages, sizeof(*pfns));
	err = calloc(pages, sizeof(*err));
	if (pfns == NULL || err == NULL) {
		free(pfns);
		free(err);
		return -ENOMEM;
	}
	for (size_t i = 0; i < pages; i++)
		pfns[i] = (base >> XEN_PAGE_SHIFT) + i;
	p = xenforeignmemory_map(xd->x->fmem, d->domid, PROT_READ | PROT_WRITE,
	    pages, pfns, err);
	free(pfns);
	if (p == NULL) {
		free(err);
		log_warn("dom%u: foreign map of RAM %#llx+%#llx", d->domid,
		    (unsigned long long)base, (unsigned long long)size);
		return -errno;
	}
	/*
	 * Pages Xen refused (err[i] set) fault when touched: the region the
	 * relay may use ends at the first of them (RAM is populated from its
	 * base; max_memkb may count a little more than is populated).
	 */
	while (ok < pages && err[ok] == 0)
		ok++;
	free(err);
	if (ok < pages)
		log_info("dom%u: RAM bank %#llx: %zu of %zu pages mapped",
		    d->domid, (unsigned long long)base, ok, pages);
	if (ok == 0) {
		xenforeignmemory_unmap(xd->x->fmem, p, pages);
		return -EFAULT;
	}
	xd->map_pages[d->nr_mem] = pages;
	d->mem[d->nr_mem].gpa = base;
	d->mem[d->nr_mem].size = (uint64_t)ok << XEN_PAGE_SHIFT;
	d->mem[d->nr_mem].hva = p;
	d->mem[d->nr_mem].fd = -1;
	d->nr_mem++;
	return 0;
}

static int xen_map_memory(struct hv_dom *d)
{
	struct xen_dom *xd = to_xen(d);
	xc_dominfo_t info;
	uint64_t ram, low;
	int rc;

	if (d->nr_mem != 0)
		return 0;
	if (xc_domain_getinfo(xd->x->xc, d->domid, 1, &info) != 1 ||
	    info.domid != d->domid) {
		log_warnx("dom%u: xc_domain_getinfo failed", d->domid);
		return -ESRCH;
	}
	ram = (uint64_t)info.max_memkb << 10;
	low = ram < XEN_ARM_RAM0_SIZE ? ram : XEN_ARM_RAM0_SIZE;
	rc = xen_map_bank(xd, XEN_ARM_RAM0_BASE, low);
	/* A bank cut short by unpopulated pages ends the RAM we can reach. */
	if (rc == 0 && ram > low && d->mem[0].size == low)
		rc = xen_map_bank(xd, XEN_ARM_RAM1_BASE, ram - low);
	return rc;
}

static int xen_privcmd(struct hv_xen *x);

static int xen_mmap_fd(struct hv_dom *d)
{
	return xen_privcmd(to_xen(d)->x);
}

static int xen_privcmd(struct hv_xen *x)
{
	if (x->privcmd_fd < 0)
		x->privcmd_fd = open("/dev/xen/privcmd", O_RDWR | O_CLOEXEC);
	return x->privcmd_fd >= 0 ? x->privcmd_fd : -errno;
}

/* ENOTTY (old kernel), EOPNOTSUPP (no CONFIG_XEN_PRIVCMD_EVENTFD), ... */
static int xen_eventfd_ioctl(struct hv_xen *x, unsigned long req, void *arg,
    const char *what)
{
	int fd;

	if (x->no_eventfd)
		return -EOPNOTSUPP;
	fd = xen_privcmd(x);
	if (fd < 0)
		return fd;
	if (ioctl(fd, req, arg) == 0)
		return 0;
	if (errno == ENOTTY || errno == EOPNOTSUPP || errno == ENOSYS ||
	    errno == EINVAL) {
		log_info("kernel fast path unavailable (%s: %s; needs Linux"
		    " 6.7+ with CONFIG_XEN_PRIVCMD_EVENTFD): userspace relay",
		    what, strerror(errno));
		x->no_eventfd = true;
		return -EOPNOTSUPP;
	}
	return -errno;
}

static int xen_irqfd(struct hv_dom *d, unsigned irq, int fd, bool assign)
{
	struct xen_dom *xd = to_xen(d);
	struct xen_dm_op op;
	struct xvd_privcmd_irqfd a;

	memset(&op, 0, sizeof(op));
	op.op = XEN_DMOP_set_irq_level;
	op.u.set_irq_level.irq = irq;
	op.u.set_irq_level.level = 1;
	memset(&a, 0, sizeof(a));
	a.dm_op = (uintptr_t)&op;	/* copied by the kernel at assign */
	a.size = sizeof(op);
	a.fd = (uint32_t)fd;
	a.flags = assign ? 0 : XVD_PRIVCMD_DEASSIGN;
	a.dom = (uint16_t)d->domid;
	return xen_eventfd_ioctl(xd->x, XVD_IOCTL_PRIVCMD_IRQFD, &a, "irqfd");
}

static int xen_ioeventfd(struct hv_dom *d, uint64_t addr, uint32_t queue,
    int fd, bool assign)
{
	struct xen_dom *xd = to_xen(d);
	struct xvd_privcmd_ioeventfd a;

	if (xd->nr_bound != d->nr_vcpus)
		return -EINVAL;
	memset(&a, 0, sizeof(a));
	a.ioreq = (uintptr_t)d->iopage;
	a.ports = (uintptr_t)xd->local_port;
	a.addr = addr;
	a.addr_len = 4;
	a.event_fd = (uint32_t)fd;
	a.vcpus = d->nr_vcpus;
	a.vq = queue;
	a.flags = assign ? 0 : XVD_PRIVCMD_DEASSIGN;
	a.dom = (uint16_t)d->domid;
	return xen_eventfd_ioctl(xd->x, XVD_IOCTL_PRIVCMD_IOEVENTFD, &a,
	    "ioeventfd");
}

/*
 * Why 1024 pages: a bound on one buffer's mapping (4 MiB), far above what a
 * virtio driver maps per descriptor; it also lets the page count ride in
 * the low 12 bits of the page-aligned cookie.
 */
#define XEN_GRANT_MAX_PAGES 1024u

static void *xen_grant_map(struct hv_dom *d, uint64_t addr, uint64_t len,
    bool writable, void **cookie)
{
	struct hv_xen *x = to_xen(d)->x;
	uint64_t off = addr & 0xfff, first, count;
	uint32_t refs[XEN_GRANT_MAX_PAGES];
	uint8_t *va;

	*cookie = NULL;
	if ((addr & HV_GRANT_ADDR_BIT) == 0 || len == 0 ||
	    len > (uint64_t)XEN_GRANT_MAX_PAGES << XEN_PAGE_SHIFT)
		return NULL;
	first = (addr & ~HV_GRANT_ADDR_BIT) >> XEN_PAGE_SHIFT;
	count = (off + len + 0xfff) >> XEN_PAGE_SHIFT;
	if (count > XEN_GRANT_MAX_PAGES || first > UINT32_MAX - count)
		return NULL;
	if (x->gnt == NULL) {
		x->gnt = xengnttab_open(NULL, 0);
		if (x->gnt == NULL) {
			log_warn("cannot open gntdev");
			return NULL;
		}
	}
	for (uint64_t i = 0; i < count; i++)
		refs[i] = (uint32_t)(first + i);
	va = xengnttab_map_domain_grant_refs(x->gnt, (uint32_t)count, d->domid,
	    refs, writable ? PROT_READ | PROT_WRITE : PROT_READ);
	if (va == NULL)
		return NULL;
	*cookie = (void *)((uintptr_t)va | (uintptr_t)(count - 1));
	return va + off;
}

static void xen_grant_unmap(struct hv_dom *d, void *cookie)
{
	struct hv_xen *x = to_xen(d)->x;
	uintptr_t c = (uintptr_t)cookie;

	if (c == 0 || x->gnt == NULL)
		return;
	/* Unmapped before the request completes: the guest may then revoke. */
	xengnttab_unmap(x->gnt, (void *)(c & ~(uintptr_t)0xfff),
	    (uint32_t)(c & 0xfff) + 1);
}

static int xen_connected(struct hv_dom *d, int status)
{
	/* The xenbus state handshake lives with xenstore discovery. */
	return 0;
}

static void xen_destroy(struct hv_dom *d)
{
	struct xen_dom *xd = to_xen(d);
	xendevicemodel_handle *dm = xd->x->dm;

	if (xd->enabled && !d->dead && !d->detach)
		xendevicemodel_set_ioreq_server_state(dm, (domid_t)d->domid,
		    xd->id, 0);
	while (xd->nr_ranges > 0)
		xen_unmap_range(d, xd->ranges[0][0], xd->ranges[0][1]);
	for (unsigned i = 0; i < d->nr_mem; i++)
		xenforeignmemory_unmap(xd->x->fmem, d->mem[i].hva,
		    xd->map_pages[i]);
	if (xd->res != NULL)
		xenforeignmemory_unmap_resource(xd->x->fmem, xd->res);
	for (unsigned i = 0; i < xd->nr_bound; i++)
		xenevtchn_unbind(xd->xce, xd->local_port[i]);
	if (xd->created && !d->dead && !d->detach)
		xendevicemodel_destroy_ioreq_server(dm, (domid_t)d->domid,
		    xd->id);
	else if (xd->created && d->detach)
		log_info("dom%u: IOREQ server %u left for the next xen-vhostd",
		    d->domid, xd->id);
	xenevtchn_close(xd->xce);
	free(xd);
}

static const struct hv_ops xen_ops = {
	.name = "xen",
	.ioreq_create = xen_ioreq_create,
	.map_range = xen_map_range,
	.unmap_range = xen_unmap_range,
	.enable = xen_enable,
	.nr_event_fds = xen_nr_event_fds,
	.event_fd = xen_event_fd,
	.pending = xen_pending,
	.notify = xen_notify,
	.set_irq = xen_set_irq,
	.xen_mmap_fd = xen_mmap_fd,
	.ioeventfd = xen_ioeventfd,
	.grant_map = xen_grant_map,
	.grant_unmap = xen_grant_unmap,
	.irqfd = xen_irqfd,
	.map_memory = xen_map_memory,
	.connected = xen_connected,
	.destroy = xen_destroy,
};
