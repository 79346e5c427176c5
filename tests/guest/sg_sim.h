/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * sg_sim: the simulated Xen, guest side of include/xvd/sim_proto.h.
 *
 * One struct sg_sim is one simulated domain: guest RAM in a memfd mapped at
 * SIM_RAM_BASE, an irq eventfd per device, and (once the device model asked
 * for it) one ioreq server with its shared page and per-vCPU eventfds. The
 * guest is single-threaded: an MMIO access blocks "its" vCPU until the
 * device model answers, as a trapped access does on Xen.
 *
 * Every wait is bounded; a timeout is reported as -ETIMEDOUT and the
 * vCPU that timed out is wedged (later accesses on it fail with -EIO),
 * since its slot may still be owned by the device model.
 *
 * Errors: 0 or a negative errno. The cause is printed once (sg_log.h).
 */
#ifndef SG_SIM_H
#define SG_SIM_H

#include <stdbool.h>
#include <stdint.h>

#include "sg_mem.h"
#include "xvd/sim_proto.h"

/* Why 10 s: a live device model answers within milliseconds. */
#define SG_SIM_MSG_TIMEOUT_MS	10000
/* Why 5 s: one register access; a backend stall longer than that is a bug. */
#define SG_MMIO_TIMEOUT_MS	5000
/* Why 16: Xen's limit is per server and larger, 16 covers SIM_MAX_DEVS twice. */
#define SG_SIM_MAX_RANGES	16u
#define SG_PAGE_SIZE		4096u

struct sg_sim;

/* What happened to the domain, as seen by the guest. */
struct sg_sim_stats {
	uint64_t nr_mmio;			/* register accesses sent */
	uint64_t nr_mmio_vcpu[SIM_MAX_VCPUS];	/* per slot */
	uint64_t nr_invalidate;
	uint64_t nr_irq;			/* irq eventfd wake-ups */
	uint64_t nr_aborts;			/* accesses outside the ranges */
	uint64_t nr_fast_kicks;		/* QueueNotify taken by an ioeventfd */
	uint64_t nr_fast_irqs;		/* interrupts from an irqfd */
};

/*
 * sg_sim_connect - create the domain and hand it to the device model.
 * Creates RAM (@ram_bytes, multiple of 4096) and @ndevs irq eventfds,
 * connects to the SOCK_SEQPACKET socket @path, sends SIM_HELLO and serves
 * the device model's requests until SIM_CONNECTED. A SIM_CONNECTED with
 * status < 0 fails with that status (-ECONNREFUSED if it is not an errno).
 */
int sg_sim_connect(const char *path, uint32_t domid, unsigned nr_vcpus,
    uint64_t ram_bytes, const struct sim_dev *devs, unsigned ndevs,
    struct sg_sim **out);
/* Close the socket (the device model destroys the domain), free all. */
void sg_sim_close(struct sg_sim *sim);

/*
 * sg_mmio_read / sg_mmio_write - one guest register access of @size
 * (1, 2, 4 or 8) bytes at @gpa, on the next vCPU (round robin).
 * -EFAULT: outside every mapped range of an enabled server (data abort,
 * nothing sent). -ETIMEDOUT: no answer in SG_MMIO_TIMEOUT_MS. -EPIPE: the
 * device model hung up. -ESHUTDOWN: it destroyed the server meanwhile.
 */
int sg_mmio_read(struct sg_sim *sim, uint64_t gpa, unsigned size,
    uint64_t *val);
int sg_mmio_write(struct sg_sim *sim, uint64_t gpa, unsigned size,
    uint64_t val);
/* Send IOREQ_TYPE_INVALIDATE (size 4, write, data ~0) on vCPU 0. */
int sg_invalidate(struct sg_sim *sim);

/*
 * sg_wait_irq - wait up to @timeout_ms for device @dev's interrupt.
 * 0: raised (the eventfd is drained), -ETIMEDOUT, -EPIPE, -ESHUTDOWN as
 * above. Device model messages arriving meanwhile are served.
 */
int sg_wait_irq(struct sg_sim *sim, unsigned dev, int timeout_ms);
/* Serve pending device model messages for up to @timeout_ms (0: poll). */
int sg_sim_poll(struct sg_sim *sim, int timeout_ms);

/* [gpa, gpa+len) of guest RAM in our mapping, or NULL if not all RAM. */
void *sg_gpa_to_ptr(struct sg_sim *sim, uint64_t gpa, uint64_t len);
/*
 * sg_ram_alloc - @len bytes of zeroed guest RAM, page aligned, never freed
 * (bump allocator). Returns the mapping and sets *gpa, or NULL when RAM is
 * exhausted.
 */
void *sg_ram_alloc(struct sg_sim *sim, uint64_t len, uint64_t *gpa);
/* The domain's guest RAM (what sg_ram_alloc and sg_gpa_to_ptr use). */
struct sg_mem *sg_sim_mem(struct sg_sim *sim);

unsigned sg_sim_nr_vcpus(const struct sg_sim *sim);
/* The domain can still do MMIO: connected, no hang-up, server alive. */
bool sg_sim_alive(const struct sg_sim *sim);
void sg_sim_get_stats(const struct sg_sim *sim, struct sg_sim_stats *st);
/*
 * sg_sim_set_fast_path - play a dom0 kernel with privcmd ioeventfd/irqfd
 * (Linux 6.7+): the device model's SIM_IOEVENTFD/SIM_IRQFD are accepted,
 * so kicks and interrupts bypass it. Off by default (Debian 12's 6.1).
 */
void sg_sim_set_fast_path(struct sg_sim *sim, bool on);

#endif
