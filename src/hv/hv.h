/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * hv: the hypervisor layer. One small interface, two implementations:
 * xen (libxendevicemodel, libxenforeignmemory, libxenevtchn) and sim (the
 * simulated Xen of include/xvd/sim_proto.h). Knows nothing of virtio.
 *
 * Both hand out the same thing: a shared page of ioreq_t slots, one per
 * vCPU, served by hv/ioreq.c whatever the implementation.
 */
#ifndef XVD_HV_H
#define XVD_HV_H

#include <stdbool.h>
#include <stdint.h>

#include <xen/xen.h>
#include <xen/hvm/ioreq.h>

/* Bit 63 of a guest DMA address marks a grant (XEN_GRANT_DMA_ADDR_OFF). */
#define HV_GRANT_ADDR_BIT (UINT64_C(1) << 63)

/* Guest RAM banks mapped into this process. */
#define HV_MAX_MEM 4u

struct hv_mem_region {
	uint64_t gpa;
	uint64_t size;
	uint8_t *hva;		/* our mapping */
	int fd;			/* shareable with a back-end, or -1 */
	uint64_t fd_offset;
};

struct hv_dom;

struct hv_ops {
	const char *name;
	/* create_ioreq_server, then map its page: sets d->iopage. */
	int (*ioreq_create)(struct hv_dom *d);
	/* map_io_range_to_ioreq_server, [start, end] inclusive. */
	int (*map_range)(struct hv_dom *d, uint64_t start, uint64_t end);
	int (*unmap_range)(struct hv_dom *d, uint64_t start, uint64_t end);
	/* set_ioreq_server_state(1), then bind every vCPU's event channel. */
	int (*enable)(struct hv_dom *d);
	/* fds to watch for ioreq notifications (sim: one per vCPU). */
	unsigned (*nr_event_fds)(const struct hv_dom *d);
	int (*event_fd)(const struct hv_dom *d, unsigned i);
	/*
	 * Fetch one pending notification of event fd @i: 1 and *vcpu set,
	 * 0 when nothing was pending, <0 on error.
	 */
	int (*pending)(struct hv_dom *d, unsigned i, unsigned *vcpu);
	int (*notify)(struct hv_dom *d, unsigned vcpu);
	int (*set_irq)(struct hv_dom *d, unsigned irq, unsigned level);
	/*
	 * An fd a XEN_MMAP back-end maps guest RAM through itself
	 * (/dev/xen/privcmd); NULL where guest RAM is an fd already (sim).
	 */
	int (*xen_mmap_fd)(struct hv_dom *d);
	/*
	 * Kernel fast path (Linux 6.7+ privcmd, CONFIG_XEN_PRIVCMD_EVENTFD):
	 * the kernel signals @fd on a guest QueueNotify write of @queue at
	 * @addr (ioeventfd), or injects SPI @irq when @fd is signalled
	 * (irqfd). -EOPNOTSUPP where the kernel lacks it; NULL in the sim.
	 */
	int (*ioeventfd)(struct hv_dom *d, uint64_t addr, uint32_t queue, int fd,
	    bool assign);
	int (*irqfd)(struct hv_dom *d, unsigned irq, int fd, bool assign);
	/*
	 * Grants: guest addresses with bit 63 set (Linux grant DMA ops:
	 * gref = (addr & ~bit63) >> 12, consecutive for larger buffers). Map
	 * [addr, addr+len) read-only or writable; *cookie goes to grant_unmap.
	 * NULL on failure (bad or revoked grant). NULL ops in the sim.
	 */
	void *(*grant_map)(struct hv_dom *d, uint64_t addr, uint64_t len,
	    bool writable, void **cookie);
	void (*grant_unmap)(struct hv_dom *d, void *cookie);
	/* Map guest RAM (once per domain): fills d->mem. */
	int (*map_memory)(struct hv_dom *d);
	/* The toolstack may now start the guest (sim: SIM_CONNECTED). */
	int (*connected)(struct hv_dom *d, int status);
	/* Reverse of everything above; frees d. */
	void (*destroy)(struct hv_dom *d);
};

struct hv_dom {
	const struct hv_ops *ops;
	uint32_t domid;
	unsigned nr_vcpus;
	ioreq_t *iopage;	/* nr_vcpus slots, valid after ioreq_create */
	unsigned nr_mem;
	struct hv_mem_region mem[HV_MAX_MEM];
	bool dead;		/* domain gone: skip calls that would fail */
	/*
	 * Daemon restart (xen): serve the IOREQ server a previous xen-vhostd
	 * left (its id), instead of creating one; -1 creates. ioservid is
	 * the server in use once ioreq_create succeeded.
	 */
	int adopt_ioservid;
	uint32_t ioservid;
	bool adopted;		/* ioreq_create took over adopt_ioservid */
	/*
	 * destroy() leaves the IOREQ server, its ranges and the domain's
	 * xenbus state to the next xen-vhostd (daemon exit, not domain end).
	 */
	bool detach;
};

/* The region holding @gpa, or NULL. Inline: once per guest buffer. */
static inline const struct hv_mem_region *hv_mem_find(const struct hv_dom *d,
    uint64_t gpa)
{
	for (unsigned i = 0; i < d->nr_mem; i++) {
		const struct hv_mem_region *r = &d->mem[i];

		if (gpa >= r->gpa && gpa - r->gpa < r->size)
			return r;
	}
	return NULL;
}

/*
 * hv_gpa_to_hva - translate [gpa, gpa+len) into our mapping of guest RAM.
 * The whole range must lie inside one region. NULL otherwise.
 */
static inline uint8_t *hv_gpa_to_hva(const struct hv_dom *d, uint64_t gpa,
    uint64_t len)
{
	const struct hv_mem_region *r = hv_mem_find(d, gpa);

	/* Inside the region: gpa - r->gpa < size; the length must fit too. */
	if (r == NULL || r->hva == NULL || len > r->size - (gpa - r->gpa))
		return NULL;
	return r->hva + (gpa - r->gpa);
}

/* sim: listen on a SOCK_SEQPACKET socket; returns the fd or -errno. */
int sim_listen(const char *path);
/*
 * sim_accept - accept one simulated domain from @lfd and read its SIM_HELLO.
 * On success *out is a new domain and @hello holds its validated devices.
 */
struct sim_hello;
int sim_accept(int lfd, struct hv_dom **out, struct sim_hello *hello);
/* sim: the connection socket, watched for hang-up (domain destroyed). */
int sim_dom_fd(const struct hv_dom *d);
/* sim: handle a readable connection socket: 0 fine, -EPIPE domain gone. */
int sim_dom_input(struct hv_dom *d);

/* xen: open the libxen* handles once (process-wide). */
struct hv_xen;
int hv_xen_open(struct hv_xen **out);
void hv_xen_close(struct hv_xen *x);
/* xen: a domain to serve; nr_vcpus from xendevicemodel_nr_vcpus. */
int hv_xen_dom_open(struct hv_xen *x, uint32_t domid, struct hv_dom **out);

#endif
