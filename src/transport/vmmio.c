/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vmmio: the virtio-mmio version 2 register file (virtio 1.2, 4.2.2).
 *
 * A pure state machine: no I/O, no allocation, no assert on guest values.
 * Every guest value that could index something is checked once, in
 * queue_get() / config_access_ok(); nothing else indexes q[] or config[].
 */
#include <string.h>

#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>

#include "log.h"
#include "transport/vmmio.h"
#include "util.h"

/* Largest queue size a split or packed ring allows (virtio 1.2, 2.7/2.8). */
#define VMMIO_QUEUE_NUM_LIMIT	32768u
/* Ring alignments the driver MUST respect (virtio 1.2, 2.7 and 2.8.10.1). */
#define VMMIO_DESC_ALIGN	16u
#define VMMIO_DRIVER_ALIGN	2u
#define VMMIO_DEVICE_ALIGN	4u
/* What SHMLen/SHMBase read for a region that does not exist (4.2.2). */
#define VMMIO_SHM_NONE		0xffffffffu

#define VERSION_1_BIT		(1ull << VIRTIO_F_VERSION_1)

/* Append an action; extra actions beyond VMMIO_MAX_ACTIONS are dropped. */
static struct vmmio_action *act_push(struct vmmio_actions *out,
    enum vmmio_act_kind kind)
{
	struct vmmio_action *a;

	if (out == NULL || out->nr >= VMMIO_MAX_ACTIONS)
		return NULL;
	a = &out->a[out->nr++];
	memset(a, 0, sizeof(*a));
	a->kind = kind;
	return a;
}

static void act_queue(struct vmmio_actions *out, enum vmmio_act_kind kind,
    uint32_t queue)
{
	struct vmmio_action *a = act_push(out, kind);

	if (a != NULL)
		a->queue = queue;
}

static void act_bad(struct vmmio_actions *out, uint32_t queue, const char *why)
{
	struct vmmio_action *a = act_push(out, VMMIO_ACT_BAD);

	if (a != NULL) {
		a->queue = queue;
		a->why = why;
	}
}

/* The one place a guest queue index is validated. NULL: no such queue. */
static struct vmmio_queue *queue_get(struct vmmio *m, uint32_t idx)
{
	if (idx >= m->nr_queues || idx >= VMMIO_MAX_QUEUES)
		return NULL;
	if (m->q[idx].num_max == 0)
		return NULL;
	return &m->q[idx];
}

static struct vmmio_queue *queue_selected(struct vmmio *m)
{
	return queue_get(m, m->queue_sel);
}

/* Back to the state vmmio_init leaves a queue in; num_max is kept. */
static void queue_clear(struct vmmio_queue *q)
{
	uint32_t num_max = q->num_max;

	memset(q, 0, sizeof(*q));
	q->num_max = num_max;
	q->num = num_max;
}

static uint64_t size_mask(unsigned size)
{
	return size >= 8 ? UINT64_MAX : (1ull << (size * 8)) - 1;
}

static bool size_ok(unsigned size)
{
	return size == 1 || size == 2 || size == 4 || size == 8;
}

/* A register access: below the config area, aligned, exactly 32 bits. */
static bool reg_access_ok(uint64_t off, unsigned size)
{
	return off < VMMIO_CONFIG_OFF && size == 4 && (off & 3) == 0;
}

/*
 * A config access: at or above 0x100 and fully inside config_len. On
 * success *cfg_off is the offset into config[].
 */
static bool config_access_ok(const struct vmmio *m, uint64_t off, unsigned size,
    uint32_t *cfg_off)
{
	if (!size_ok(size) || off < VMMIO_CONFIG_OFF)
		return false;
	if (!range_ok(off - VMMIO_CONFIG_OFF, size, m->config_len))
		return false;
	*cfg_off = (uint32_t)(off - VMMIO_CONFIG_OFF);
	return true;
}

static uint32_t lo32(uint64_t v)
{
	return (uint32_t)v;
}

static uint32_t hi32(uint64_t v)
{
	return (uint32_t)(v >> 32);
}

static void set_lo32(uint64_t *v, uint32_t val)
{
	*v = (*v & 0xffffffff00000000ull) | val;
}

static void set_hi32(uint64_t *v, uint32_t val)
{
	*v = (*v & 0xffffffffull) | ((uint64_t)val << 32);
}

void vmmio_init(struct vmmio *m, uint32_t device_id, uint64_t device_features,
    uint32_t nr_queues, uint32_t queue_max, uint32_t config_len)
{
	uint32_t i;

	memset(m, 0, sizeof(*m));
	m->device_id = device_id;
	m->device_features = device_features;

	if (nr_queues > VMMIO_MAX_QUEUES) {
		log_warnx("vmmio: device %u: %u queues clamped to %u",
		    device_id, nr_queues, VMMIO_MAX_QUEUES);
		nr_queues = VMMIO_MAX_QUEUES;
	}
	if (queue_max > VMMIO_QUEUE_NUM_LIMIT) {
		log_warnx("vmmio: device %u: queue size %u clamped to %u",
		    device_id, queue_max, VMMIO_QUEUE_NUM_LIMIT);
		queue_max = VMMIO_QUEUE_NUM_LIMIT;
	}
	if (queue_max != 0 && !is_pow2(queue_max)) {
		uint32_t p = 1;

		while (p <= queue_max / 2)
			p <<= 1;
		log_warnx("vmmio: device %u: queue size %u rounded down to %u",
		    device_id, queue_max, p);
		queue_max = p;
	}
	if (config_len > VMMIO_CONFIG_MAX) {
		log_warnx("vmmio: device %u: config length %u clamped to %u",
		    device_id, config_len, VMMIO_CONFIG_MAX);
		config_len = VMMIO_CONFIG_MAX;
	}

	m->nr_queues = nr_queues;
	m->config_len = config_len;
	for (i = 0; i < nr_queues; i++) {
		m->q[i].num_max = queue_max;
		m->q[i].num = queue_max;
	}
}

/* Status 0: back to the state after vmmio_init, config contents kept. */
static void device_reset(struct vmmio *m)
{
	uint32_t i;

	m->driver_features = 0;
	m->dev_features_sel = 0;
	m->drv_features_sel = 0;
	m->queue_sel = 0;
	m->interrupt_status = 0;
	m->status = 0;
	m->shm_sel = 0;
	for (i = 0; i < VMMIO_MAX_QUEUES; i++)
		queue_clear(&m->q[i]);
}

static uint32_t reg_read(struct vmmio *m, uint32_t off)
{
	struct vmmio_queue *q;

	switch (off) {
	case VIRTIO_MMIO_MAGIC_VALUE:
		return VMMIO_MAGIC;
	case VIRTIO_MMIO_VERSION:
		return VMMIO_VERSION;
	case VIRTIO_MMIO_DEVICE_ID:
		return m->device_id;
	case VIRTIO_MMIO_VENDOR_ID:
		return VMMIO_VENDOR_ID;
	case VIRTIO_MMIO_DEVICE_FEATURES:
		if (m->dev_features_sel == 0)
			return lo32(m->device_features);
		if (m->dev_features_sel == 1)
			return hi32(m->device_features);
		return 0;
	case VIRTIO_MMIO_INTERRUPT_STATUS:
		/* Kernel irqfd injects without us: a used buffer may be why. */
		return m->interrupt_status |
		    (m->vring_irq_external ? VMMIO_INT_VRING : 0);
	case VIRTIO_MMIO_STATUS:
		return m->status;
	case VIRTIO_MMIO_SHM_LEN_LOW:
	case VIRTIO_MMIO_SHM_LEN_HIGH:
	case VIRTIO_MMIO_SHM_BASE_LOW:
	case VIRTIO_MMIO_SHM_BASE_HIGH:
		return VMMIO_SHM_NONE;
	case VIRTIO_MMIO_CONFIG_GENERATION:
		return m->config_generation;
	}

	q = queue_selected(m);
	if (q == NULL)
		return 0;

	switch (off) {
	case VIRTIO_MMIO_QUEUE_NUM_MAX:
		return q->num_max;
	case VIRTIO_MMIO_QUEUE_READY:
		return q->ready;
	case VIRTIO_MMIO_QUEUE_DESC_LOW:
		return lo32(q->desc);
	case VIRTIO_MMIO_QUEUE_DESC_HIGH:
		return hi32(q->desc);
	case VIRTIO_MMIO_QUEUE_AVAIL_LOW:
		return lo32(q->driver);
	case VIRTIO_MMIO_QUEUE_AVAIL_HIGH:
		return hi32(q->driver);
	case VIRTIO_MMIO_QUEUE_USED_LOW:
		return lo32(q->device);
	case VIRTIO_MMIO_QUEUE_USED_HIGH:
		return hi32(q->device);
	case VMMIO_QUEUE_RESET:
		return q->reset;
	}

	/* Write-only, legacy and unknown registers. */
	return 0;
}

uint64_t vmmio_read(struct vmmio *m, uint64_t off, unsigned size)
{
	uint32_t cfg_off;
	uint64_t v = 0;
	unsigned i;

	if (reg_access_ok(off, size))
		return reg_read(m, (uint32_t)off);

	if (!config_access_ok(m, off, size, &cfg_off))
		return 0;
	for (i = 0; i < size; i++)
		v |= (uint64_t)m->config[cfg_off + i] << (i * 8);
	return v;
}

/* Why a QueueReady=1 is refused, or NULL when the queue may start. */
static const char *queue_enable_check(const struct vmmio_queue *q)
{
	if (q->ready)
		return "QueueReady=1 on a queue already ready";
	if (!is_pow2(q->num))
		return "QueueNum is 0 or not a power of two";
	if (q->num > q->num_max)
		return "QueueNum exceeds QueueNumMax";
	if (q->desc == 0 || q->driver == 0 || q->device == 0)
		return "queue ring address is zero";
	if ((q->desc % VMMIO_DESC_ALIGN) != 0 ||
	    (q->driver % VMMIO_DRIVER_ALIGN) != 0 ||
	    (q->device % VMMIO_DEVICE_ALIGN) != 0)
		return "queue ring address misaligned";
	return NULL;
}

static void write_queue_ready(struct vmmio *m, uint32_t val,
    struct vmmio_actions *out)
{
	struct vmmio_queue *q = queue_selected(m);
	const char *why;

	if (q == NULL)
		return;

	if (val == 0) {
		if (q->ready) {
			q->ready = false;
			act_queue(out, VMMIO_ACT_QUEUE_STOP, m->queue_sel);
		}
		return;
	}
	if (val != 1) {
		act_bad(out, m->queue_sel, "QueueReady value is not 0 or 1");
		return;
	}
	why = queue_enable_check(q);
	if (why != NULL) {
		act_bad(out, m->queue_sel, why);
		return;
	}
	q->ready = true;
	q->reset = false;
	act_queue(out, VMMIO_ACT_QUEUE_READY, m->queue_sel);
}

/* QueueNum and the ring addresses: only while the queue is stopped. */
static void write_queue_setup(struct vmmio *m, uint32_t off, uint32_t val,
    struct vmmio_actions *out)
{
	struct vmmio_queue *q = queue_selected(m);

	if (q == NULL)
		return;
	if (q->ready) {
		act_bad(out, m->queue_sel, "queue set-up written while ready");
		return;
	}

	switch (off) {
	case VIRTIO_MMIO_QUEUE_NUM:
		q->num = val;
		break;
	case VIRTIO_MMIO_QUEUE_DESC_LOW:
		set_lo32(&q->desc, val);
		break;
	case VIRTIO_MMIO_QUEUE_DESC_HIGH:
		set_hi32(&q->desc, val);
		break;
	case VIRTIO_MMIO_QUEUE_AVAIL_LOW:
		set_lo32(&q->driver, val);
		break;
	case VIRTIO_MMIO_QUEUE_AVAIL_HIGH:
		set_hi32(&q->driver, val);
		break;
	case VIRTIO_MMIO_QUEUE_USED_LOW:
		set_lo32(&q->device, val);
		break;
	case VIRTIO_MMIO_QUEUE_USED_HIGH:
		set_hi32(&q->device, val);
		break;
	}
}

static void write_queue_notify(struct vmmio *m, uint32_t val,
    struct vmmio_actions *out)
{
	uint32_t idx = val & 0xffff;
	struct vmmio_queue *q = queue_get(m, idx);

	if (q == NULL) {
		act_bad(out, idx, "QueueNotify of a queue that does not exist");
		return;
	}
	if (!q->ready) {
		act_bad(out, idx, "QueueNotify of a queue that is not ready");
		return;
	}
	act_queue(out, VMMIO_ACT_NOTIFY, idx);
}

static void write_queue_reset(struct vmmio *m, uint32_t val,
    struct vmmio_actions *out)
{
	struct vmmio_queue *q = queue_selected(m);

	if (q == NULL || val != 1)
		return;
	queue_clear(q);
	q->reset = true;
	act_queue(out, VMMIO_ACT_QUEUE_RESET, m->queue_sel);
}

static void write_driver_features(struct vmmio *m, uint32_t val,
    struct vmmio_actions *out)
{
	if (m->status & VMMIO_S_FEATURES_OK) {
		act_bad(out, 0, "DriverFeatures written after FEATURES_OK");
		return;
	}
	if (m->drv_features_sel == 0)
		set_lo32(&m->driver_features, val);
	else if (m->drv_features_sel == 1)
		set_hi32(&m->driver_features, val);
}

/* Why FEATURES_OK cannot be accepted, or NULL when it can. */
static const char *features_check(const struct vmmio *m)
{
	if ((m->driver_features & ~m->device_features) != 0)
		return "driver accepted features the device did not offer";
	if ((m->driver_features & VERSION_1_BIT) == 0)
		return "driver did not accept VIRTIO_F_VERSION_1";
	return NULL;
}

static void write_status(struct vmmio *m, uint32_t val,
    struct vmmio_actions *out)
{
	uint32_t old = m->status;
	uint32_t added = val & ~old;
	const char *why;
	struct vmmio_action *a;

	if (val == 0) {
		device_reset(m);
		act_push(out, VMMIO_ACT_RESET);
		return;
	}
	if ((old & ~val) != 0) {
		act_bad(out, 0, "Status write clears bits without a reset");
		return;
	}

	if (added & VMMIO_S_FEATURES_OK) {
		why = features_check(m);
		if (why != NULL) {
			act_bad(out, 0, why);
			val &= ~VMMIO_S_FEATURES_OK;
		}
	}
	/*
	 * The relay hands driver_features to the backend at DRIVER_OK; they
	 * are only validated once FEATURES_OK has been accepted.
	 */
	if ((added & VMMIO_S_DRIVER_OK) && !(val & VMMIO_S_FEATURES_OK)) {
		act_bad(out, 0, "DRIVER_OK without FEATURES_OK");
		val &= ~VMMIO_S_DRIVER_OK;
	}

	if (val == old)
		return;
	m->status = val;
	a = act_push(out, VMMIO_ACT_STATUS);
	if (a != NULL) {
		a->old_status = old;
		a->new_status = val;
	}
}

static void reg_write(struct vmmio *m, uint32_t off, uint32_t val,
    struct vmmio_actions *out)
{
	switch (off) {
	case VIRTIO_MMIO_DEVICE_FEATURES_SEL:
		m->dev_features_sel = val;
		break;
	case VIRTIO_MMIO_DRIVER_FEATURES:
		write_driver_features(m, val, out);
		break;
	case VIRTIO_MMIO_DRIVER_FEATURES_SEL:
		m->drv_features_sel = val;
		break;
	case VIRTIO_MMIO_QUEUE_SEL:
		m->queue_sel = val;
		break;
	case VIRTIO_MMIO_QUEUE_NUM:
	case VIRTIO_MMIO_QUEUE_DESC_LOW:
	case VIRTIO_MMIO_QUEUE_DESC_HIGH:
	case VIRTIO_MMIO_QUEUE_AVAIL_LOW:
	case VIRTIO_MMIO_QUEUE_AVAIL_HIGH:
	case VIRTIO_MMIO_QUEUE_USED_LOW:
	case VIRTIO_MMIO_QUEUE_USED_HIGH:
		write_queue_setup(m, off, val, out);
		break;
	case VIRTIO_MMIO_QUEUE_READY:
		write_queue_ready(m, val, out);
		break;
	case VIRTIO_MMIO_QUEUE_NOTIFY:
		write_queue_notify(m, val, out);
		break;
	case VIRTIO_MMIO_INTERRUPT_ACK:
		m->interrupt_status &= ~val;
		break;
	case VIRTIO_MMIO_STATUS:
		write_status(m, val, out);
		break;
	case VIRTIO_MMIO_SHM_SEL:
		m->shm_sel = val;
		break;
	case VMMIO_QUEUE_RESET:
		write_queue_reset(m, val, out);
		break;
	default:
		/* Read-only, legacy and unknown registers. */
		break;
	}
}

void vmmio_write(struct vmmio *m, uint64_t off, unsigned size, uint64_t val,
    struct vmmio_actions *out)
{
	struct vmmio_action *a;
	uint32_t cfg_off;
	unsigned i;

	if (!size_ok(size))
		return;
	val &= size_mask(size);

	if (reg_access_ok(off, size)) {
		reg_write(m, (uint32_t)off, (uint32_t)val, out);
		return;
	}

	if (!config_access_ok(m, off, size, &cfg_off))
		return;
	for (i = 0; i < size; i++)
		m->config[cfg_off + i] = (uint8_t)(val >> (i * 8));
	a = act_push(out, VMMIO_ACT_CONFIG_WRITE);
	if (a != NULL) {
		a->cfg_off = cfg_off;
		a->cfg_len = size;
	}
}

bool vmmio_raise(struct vmmio *m, uint32_t bits)
{
	m->interrupt_status |= bits;
	return m->interrupt_status != 0;
}

bool vmmio_needs_reset(struct vmmio *m)
{
	if (!(m->status & (VMMIO_S_DRIVER_OK | VMMIO_S_FEATURES_OK)))
		return false;
	m->status |= VMMIO_S_NEEDS_RESET;
	m->interrupt_status |= VMMIO_INT_CONFIG;
	return true;
}

bool vmmio_config_update(struct vmmio *m, uint32_t off, const void *buf,
    uint32_t len, bool notify)
{
	if (!range_ok(off, len, m->config_len))
		return false;
	if (len != 0 && memcmp(&m->config[off], buf, len) != 0) {
		memcpy(&m->config[off], buf, len);
		m->config_generation++;
	}
	if (notify && (m->status & VMMIO_S_DRIVER_OK)) {
		m->interrupt_status |= VMMIO_INT_CONFIG;
		return true;
	}
	return false;
}
