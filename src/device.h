/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * device: one guest virtio device relayed to one vhost-user back-end. The
 * only module that sees both the transport and vhost-user.
 */
#ifndef XVD_DEVICE_H
#define XVD_DEVICE_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct devtab_entry;
struct hv_dom;
struct xs_restore;
struct xvd_device;

/* How the back-end reaches guest memory (--memory). */
enum xvd_mem_mode {
	XVD_MEM_AUTO,		/* RAM as an fd, else XEN_MMAP, else shadow */
	XVD_MEM_XEN_MMAP,	/* the back-end maps guest RAM (XEN_MMAP) */
	XVD_MEM_SHADOW,		/* always copy through shadow virtqueues */
};
int xvd_mem_mode_parse(const char *s, enum xvd_mem_mode *out);
const char *xvd_mem_mode_name(enum xvd_mem_mode m);

struct xvd_device_cfg {
	const struct devtab_entry *dt;
	unsigned slot;		/* N of <name>.sock<N> */
	uint64_t base;		/* MMIO window base (guest physical) */
	uint32_t irq;		/* SPI */
	char socket[PATH_MAX];
	/*
	 * Server mode (mode = server): xen-vhostd listens on @socket and the
	 * back-end connects to it, first and after each restart.
	 */
	bool server;
	int connect_timeout_ms;	/* back-end connect (or accept) window */
	int reply_timeout_ms;
	enum xvd_mem_mode mem_mode;
	size_t shadow_bytes;	/* shadow memfd size per device */
	/*
	 * The guest uses grants (grant_usage=1): offer ACCESS_PLATFORM (the
	 * Linux guest requires it), map buffers per request, shadow queues.
	 */
	bool grants;
	/* Called each time the guest driver sets DRIVER_OK and it worked. */
	void (*on_driver_ok)(void *arg);
	/* Called each time the driver resets the device (Status 0). */
	void (*on_reset)(void *arg);
	void *cb_arg;
	/*
	 * Daemon restart: the register state a previous xen-vhostd left for a
	 * running guest (NULL: a new device). With DRIVER_OK in it, the device
	 * starts at once and the guest's rings resume at their used index.
	 */
	const struct xs_restore *restore;
};

struct xvd_device_stats {
	uint64_t mmio_reads, mmio_writes, kicks, calls, irqs, errors;
	uint64_t shadow_starts;	/* device starts through shadow queues */
	uint64_t xen_mmap_starts; /* device starts with XEN_MMAP regions */
	uint64_t reconnects;	/* back-end restarts recovered */
};

/*
 * device_create - connect the back-end, read its features and config and
 * build the register file. The device is not yet reachable by the guest.
 */
int device_create(struct hv_dom *hv, const struct xvd_device_cfg *cfg,
    struct xvd_device **out);
void device_destroy(struct xvd_device *dev);

/* A guest access at window offset @off (validated by the caller). */
void device_mmio(struct xvd_device *dev, uint64_t off, unsigned size,
    bool is_write, uint64_t *data);

/* A snapshot for the control socket. */
struct xvd_device_info {
	const char *name;	/* "dom3 blk0" */
	const char *type;	/* "blk" */
	const char *socket;
	uint64_t base;
	uint32_t irq;
	const char *backend;	/* "connected", "reconnecting", "absent" */
	const char *memory;	/* "zero-copy", "xen-mmap", "shadow", "-" */
	uint32_t status;	/* virtio status register */
	uint64_t features;	/* negotiated with the driver */
	uint32_t nr_queues;
	struct {
		uint32_t num;
		bool ready, started, kernel_fast_path;
		unsigned shadow_inflight;
	} q[16];
	struct xvd_device_stats st;
};
void device_info(const struct xvd_device *dev, struct xvd_device_info *out);

/* The device's part of the restart record (slot, status, features, rings). */
void device_save(const struct xvd_device *dev, struct xs_restore *out);

uint64_t device_base(const struct xvd_device *dev);
const char *device_name(const struct xvd_device *dev);
const struct xvd_device_stats *device_stats(const struct xvd_device *dev);

#endif
