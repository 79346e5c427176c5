/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vmmio: the virtio-mmio version 2 register file as a pure state machine.
 *
 * No I/O happens here. The relay feeds one guest access at a time
 * (vmmio_read / vmmio_write) and acts on the actions a write produces.
 * Every access is answered: unknown offsets read 0 and writes to them are
 * ignored; QueueSel values >= nr_queues never index anything.
 */
#ifndef XVD_VMMIO_H
#define XVD_VMMIO_H

#include <stdbool.h>
#include <stdint.h>

/* Size of one virtio-mmio device window as libxl allocates it. */
#define VMMIO_WINDOW_LEN	0x200u
/* Config space starts at 0x100 and fills the rest of the window. */
#define VMMIO_CONFIG_OFF	0x100u
#define VMMIO_CONFIG_MAX	(VMMIO_WINDOW_LEN - VMMIO_CONFIG_OFF)
/* Largest queue count any device of the table uses (net with MQ pairs). */
#define VMMIO_MAX_QUEUES	16u
/* Register not in the 6.1 uapi header (virtio 1.2, 4.2.2). */
#define VMMIO_QUEUE_RESET	0x0c0u
#define VMMIO_MAGIC		0x74726976u	/* "virt" */
#define VMMIO_VERSION		2u
#define VMMIO_VENDOR_ID		0x58564844u	/* "XVHD" little endian */

/* Status bits (virtio 1.2, 2.1). */
#define VMMIO_S_ACKNOWLEDGE	0x01u
#define VMMIO_S_DRIVER		0x02u
#define VMMIO_S_DRIVER_OK	0x04u
#define VMMIO_S_FEATURES_OK	0x08u
#define VMMIO_S_NEEDS_RESET	0x40u
#define VMMIO_S_FAILED		0x80u

/* InterruptStatus bits. */
#define VMMIO_INT_VRING		0x1u
#define VMMIO_INT_CONFIG	0x2u

struct vmmio_queue {
	uint32_t num_max;	/* 0: queue does not exist */
	uint32_t num;
	bool ready;
	bool reset;		/* QueueReset reads 1 after a reset until re-enabled */
	uint64_t desc;
	uint64_t driver;	/* avail ring */
	uint64_t device;	/* used ring */
};

struct vmmio {
	uint32_t device_id;
	uint64_t device_features;
	uint64_t driver_features;
	uint32_t dev_features_sel;
	uint32_t drv_features_sel;
	uint32_t queue_sel;
	uint32_t nr_queues;
	struct vmmio_queue q[VMMIO_MAX_QUEUES];
	uint32_t interrupt_status;
	uint32_t status;
	uint32_t config_generation;
	uint32_t shm_sel;
	uint32_t config_len;
	uint8_t config[VMMIO_CONFIG_MAX];
	/*
	 * Queue interrupts are injected by the kernel (privcmd irqfd), unseen
	 * here: InterruptStatus then always reports the VRING bit.
	 */
	bool vring_irq_external;
};

enum vmmio_act_kind {
	VMMIO_ACT_NOTIFY,	/* QueueNotify: .queue (validated < nr_queues) */
	VMMIO_ACT_QUEUE_READY,	/* QueueReady 0->1 accepted: .queue */
	VMMIO_ACT_QUEUE_STOP,	/* QueueReady 1->0: .queue */
	VMMIO_ACT_QUEUE_RESET,	/* QueueReset of .queue (was ready or not) */
	VMMIO_ACT_STATUS,	/* Status changed (non-zero): .old_status, .new_status */
	VMMIO_ACT_RESET,	/* Status written 0: device reset done (state cleared) */
	VMMIO_ACT_CONFIG_WRITE,	/* config bytes [.cfg_off, .cfg_off+.cfg_len) written */
	VMMIO_ACT_BAD,		/* guest did something invalid: .why (static string) */
};

struct vmmio_action {
	enum vmmio_act_kind kind;
	uint32_t queue;
	uint32_t old_status, new_status;
	uint32_t cfg_off, cfg_len;
	const char *why;
};

#define VMMIO_MAX_ACTIONS 4u
struct vmmio_actions {
	unsigned nr;
	struct vmmio_action a[VMMIO_MAX_ACTIONS];
};

/*
 * vmmio_init - set up a device.
 * @nr_queues: number of queues (clamped to VMMIO_MAX_QUEUES)
 * @queue_max: QueueNumMax of every queue (power of two, <= 32768)
 * @config_len: bytes of config space (<= VMMIO_CONFIG_MAX); contents zeroed
 */
void vmmio_init(struct vmmio *m, uint32_t device_id, uint64_t device_features,
    uint32_t nr_queues, uint32_t queue_max, uint32_t config_len);

/*
 * vmmio_read - a guest read of @size bytes (1, 2, 4 or 8) at window offset @off.
 * Registers below 0x100 answer only aligned 32-bit reads (others read 0);
 * config space answers any size inside config_len (little endian).
 * Returns the value, zero-extended.
 */
uint64_t vmmio_read(struct vmmio *m, uint64_t off, unsigned size);

/*
 * vmmio_write - a guest write. @val is masked to @size by the caller or here.
 * Appends what the relay must do to @out (out->nr is not reset: the caller
 * initialises it to 0).
 */
void vmmio_write(struct vmmio *m, uint64_t off, unsigned size, uint64_t val,
    struct vmmio_actions *out);

/*
 * vmmio_raise - set InterruptStatus bits; returns true when the caller must
 * inject the interrupt (some bit of @bits newly set or still pending).
 */
bool vmmio_raise(struct vmmio *m, uint32_t bits);

/*
 * vmmio_needs_reset - set DEVICE_NEEDS_RESET (when the driver has set
 * DRIVER_OK or FEATURES_OK) and the config interrupt bit; returns true when
 * the caller must inject.
 */
bool vmmio_needs_reset(struct vmmio *m);

/*
 * vmmio_config_changed - replace config bytes [off, off+len) from the
 * backend, bump ConfigGeneration; returns true when a config interrupt must
 * be injected (driver is running).
 */
bool vmmio_config_update(struct vmmio *m, uint32_t off, const void *buf,
    uint32_t len, bool notify);

/* Features the driver accepted (valid once FEATURES_OK is set). */
static inline uint64_t vmmio_driver_features(const struct vmmio *m)
{
	return m->driver_features;
}

#endif
