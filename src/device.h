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

#include "transport/vmsg.h"

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
	/*
	 * connect_async: a back-end not there at once is retried from the
	 * event loop until connect_timeout_ms; device_create() returns at once
	 * and on_backend_ready(cb_arg) is called when it connected (not when
	 * it was there at once: see device_backend_ready()). Without it the
	 * first connect waits, blocking the caller. Not with @restore.
	 */
	bool connect_async;
	void (*on_backend_ready)(void *arg);
	/* Called each time the driver resets the device (Status 0). */
	void (*on_reset)(void *arg);
	void *cb_arg;
	/*
	 * Daemon restart: the register state a previous xen-vhostd left for a
	 * running guest (NULL: a new device). With DRIVER_OK in it, the device
	 * starts at once and the guest's rings resume at their used index.
	 */
	const struct xs_restore *restore;
	/*
	 * virtio-msg: @vmsg_max_msg != 0 makes this a virtio-msg device, number
	 * @vmsg_dev_num on a bus of that max message size. It has no MMIO
	 * window (@base, @irq unused) and is reached through device_vmsg().
	 * Its interrupt sink: a used buffer on queue q calls notify_used(arg,
	 * q) (from that queue's call eventfd), a config or status change
	 * (DEVICE_NEEDS_RESET) calls notify_config(arg), instead of raising
	 * the SPI. Without vmsg_max_msg both must be NULL.
	 */
	uint32_t vmsg_max_msg;
	uint16_t vmsg_dev_num;
	void (*notify_used)(void *arg, uint32_t queue);
	void (*notify_config)(void *arg);
	void *notify_arg;
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

/* A virtio-msg device (cfg.vmsg_max_msg != 0): no MMIO window. */
bool device_is_vmsg(const struct xvd_device *dev);

/*
 * device_vmsg - one virtio-msg transport frame from the driver, already
 * routed to this device by the bus (vmsg_bus_handle: VMSG_ROUTE). Acts on
 * it (kick, queue start, reset, ...) exactly as on the equivalent register
 * writes, then returns VMSG_REPLY with the response in @out (*out_len is
 * its capacity on entry, the frame length on return) or VMSG_NONE (event,
 * or a bad frame: dropped, counted and logged here, rate-limited, naming
 * the device and the queue). Only for virtio-msg devices.
 */
enum vmsg_rc device_vmsg(struct xvd_device *dev, const uint8_t *in,
    size_t in_len, uint8_t *out, size_t *out_len);
/*
 * device_vmsg_event - the event frame for a notification: EVENT_USED of
 * @queue, or EVENT_CONFIG (status and generation, length 0: "re-read")
 * when @config. Returns its length, 0 when it cannot be built.
 */
size_t device_vmsg_event(const struct xvd_device *dev, bool config,
    uint32_t queue, uint8_t *out, size_t cap);
/* The driver went away (bus closed, FF-A RESET): status 0, as its reset. */
void device_vmsg_reset(struct xvd_device *dev);

/* A snapshot for the control socket. */
struct xvd_device_info {
	const char *name;	/* "dom3 blk0" */
	const char *type;	/* "blk" */
	const char *socket;
	uint64_t base;
	uint32_t irq;
	/* "connected", "reconnecting", "listening" (server mode), "absent" */
	const char *backend;
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

/* The back-end connected and the register file exists. */
bool device_backend_ready(const struct xvd_device *dev);

/* The device's part of the restart record (slot, status, features, rings). */
void device_save(const struct xvd_device *dev, struct xs_restore *out);

uint64_t device_base(const struct xvd_device *dev);
const char *device_name(const struct xvd_device *dev);
const struct xvd_device_stats *device_stats(const struct xvd_device *dev);

#endif
