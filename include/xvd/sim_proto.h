/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The simulated Xen: wire protocol between xen-vhostd (hv/sim.c) and a
 * simulated guest process (tests/guest/), which plays both Xen and the guest.
 *
 * xen-vhostd listens on a Unix SOCK_SEQPACKET socket (--sim PATH). Each
 * connection is one domain. Messages are one struct sim_msg per packet, fds
 * as SCM_RIGHTS on the same packet. The sequence mirrors the libxen* calls of
 * a real IOREQ server, in the order Xen requires:
 *
 *   guest -> dm  SIM_HELLO        domain facts, devices; fds: RAM memfd, then
 *                                 one irq eventfd per device (device order)
 *   dm -> guest  SIM_CREATE       create_ioreq_server
 *   guest -> dm  SIM_CREATE_REPLY fds: ioreq page memfd (4096 bytes,
 *                                 shared_iopage_t, zeroed), then nr_vcpus
 *                                 "to dm" eventfds, then nr_vcpus "to guest"
 *                                 eventfds. status < 0 on error, no fds.
 *   dm -> guest  SIM_MAP_RANGE    map_io_range_to_ioreq_server [start, end]
 *   guest -> dm  SIM_STATUS       status 0, or -EEXIST on overlap, -EINVAL
 *   dm -> guest  SIM_SET_STATE    enabled 0/1; on enable the guest writes
 *                                 vp_eport = vcpu + 1 into each slot (as Xen
 *                                 does only if the page was acquired first)
 *   guest -> dm  SIM_STATUS
 *   dm -> guest  SIM_CONNECTED    every device is served (xenbus state 4);
 *                                 status < 0: the dm gave up on the domain
 *   dm -> guest  SIM_DESTROY      destroy_ioreq_server (teardown)
 *   guest -> dm  SIM_STATUS
 *
 * The kernel fast path (Linux 6.7+ privcmd ioeventfd/irqfd), at any time
 * after SIM_CONNECTED; the guest plays the dom0 kernel:
 *   dm -> guest  SIM_IOEVENTFD    u.fast.addr, .queue, .assign; fd (assign
 *                                 only): a 4-byte guest write of .queue at
 *                                 .addr signals the eventfd instead of
 *                                 becoming an ioreq (privcmd completes it)
 *   dm -> guest  SIM_IRQFD        u.fast.irq, .token, .assign; fd (assign
 *                                 only): the eventfd signalled raises SPI
 *                                 .irq; .token names it for the deassign
 *   guest -> dm  SIM_STATUS       0, or -EOPNOTSUPP for a kernel without
 *                                 CONFIG_XEN_PRIVCMD_EVENTFD (the default:
 *                                 the guest enables it explicitly)
 *
 * After SIM_CONNECTED, a guest MMIO access on vCPU v inside a mapped range of
 * an enabled server: the guest fills slot v (type IOREQ_TYPE_COPY, count 1),
 * write barrier, state = STATE_IOREQ_READY, then writes 1 to to_dm[v]. The dm
 * answers in the slot, write barrier, state = STATE_IORESP_READY, writes 1 to
 * to_guest[v]. The guest reads the result and sets STATE_IOREQ_NONE. An access
 * outside every mapped range is a data abort for the guest (never sent).
 * IOREQ_TYPE_INVALIDATE (size 4, dir write, data ~0) is sent the same way.
 * The dm raises device i's interrupt by writing 1 to irq eventfd i.
 * Closing the socket destroys the domain.
 */
#ifndef XVD_SIM_PROTO_H
#define XVD_SIM_PROTO_H

#include <stdint.h>

#define SIM_MAGIC		0x314d5358u	/* "XSM1" */
#define SIM_MAX_VCPUS		8u
#define SIM_MAX_DEVS		8u
/* irqfds a domain may hold: every queue of every device (16 each). */
#define SIM_MAX_IRQFDS		(SIM_MAX_DEVS * 16u)
/* Guest layout as libxl lays out an Arm guest (public/arch-arm.h). */
#define SIM_RAM_BASE		0x40000000ull
#define SIM_MMIO_BASE		0x02000000ull
#define SIM_MMIO_STRIDE		0x200ull
#define SIM_SPI_FIRST		33u
#define SIM_IOREQ_PAGE_LEN	4096u

enum sim_msg_type {
	SIM_HELLO = 1,
	SIM_CREATE = 2,
	SIM_CREATE_REPLY = 3,
	SIM_MAP_RANGE = 4,
	SIM_SET_STATE = 5,
	SIM_STATUS = 6,
	SIM_CONNECTED = 7,
	SIM_DESTROY = 8,
	SIM_IOEVENTFD = 9,
	SIM_IRQFD = 10,
};

struct sim_dev {
	uint32_t virtio_id;	/* virtio device id, e.g. 2 = block */
	uint32_t irq;		/* SPI */
	uint64_t base;		/* window base; window is 0x200 bytes */
};

struct sim_hello {
	uint32_t domid;		/* 1..32751, unique among connected guests */
	uint32_t nr_vcpus;	/* 1..SIM_MAX_VCPUS */
	uint64_t ram_base;	/* guest physical address of RAM */
	uint64_t ram_size;	/* bytes, multiple of 4096 */
	uint32_t nr_devs;	/* 0..SIM_MAX_DEVS */
	uint32_t pad;
	struct sim_dev dev[SIM_MAX_DEVS];
};

struct sim_msg {
	uint32_t magic;		/* SIM_MAGIC */
	uint32_t type;		/* enum sim_msg_type */
	int32_t status;		/* SIM_STATUS, SIM_CREATE_REPLY, SIM_CONNECTED */
	uint32_t pad;
	union {
		struct sim_hello hello;
		struct {
			uint64_t start;
			uint64_t end;	/* inclusive, like Xen */
		} range;
		struct {
			uint32_t enabled;
		} state;
		struct {
			uint64_t addr;
			uint32_t queue;
			uint32_t irq;
			uint32_t token;
			uint32_t assign;
		} fast;
	} u;
};

#endif
