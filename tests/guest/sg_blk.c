/* SPDX-License-Identifier: GPL-2.0-or-later */
/* virtio-blk requests over sg_virtio (virtio 1.2, 5.2). */
#include <endian.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>

#include "sg_blk.h"
#include "sg_log.h"

#define SG_BLK_DEFAULT_SLOTS	32u
/* Header and status of one slot, 32 bytes apart in guest RAM. */
#define SG_BLK_SLOT_STRIDE	32u
#define SG_BLK_STATUS_UNSET	0xffu

_Static_assert(sizeof(struct virtio_blk_outhdr) == 16, "blk header");
_Static_assert(offsetof(struct virtio_blk_config, blk_size) == 20,
    "blk config layout");

struct sg_blk_slot {
	bool busy;
	uint32_t type;
	uint64_t sector;
	uint32_t data_len;
	void *cookie;
	struct virtio_blk_outhdr *hdr;
	uint64_t hdr_gpa;
	volatile uint8_t *status;
	uint64_t status_gpa;
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static const char *type_name(uint32_t type)
{
	switch (type) {
	case VIRTIO_BLK_T_IN:		return "read";
	case VIRTIO_BLK_T_OUT:		return "write";
	case VIRTIO_BLK_T_FLUSH:	return "flush";
	case VIRTIO_BLK_T_GET_ID:	return "get-id";
	default:			return "request";
	}
}

static const char *status_name(uint8_t status)
{
	switch (status) {
	case VIRTIO_BLK_S_OK:		return "OK";
	case VIRTIO_BLK_S_IOERR:	return "IOERR";
	case VIRTIO_BLK_S_UNSUPP:	return "UNSUPP";
	case SG_BLK_STATUS_UNSET:	return "never written";
	default:			return "unknown";
	}
}

bool sg_blk_has(const struct sg_blk *b, unsigned bit)
{
	return sg_vdev_has(&b->vd, bit);
}

static int read_config(struct sg_blk *b)
{
	struct virtio_blk_config cfg;
	int rc;

	memset(&cfg, 0, sizeof(cfg));
	rc = sg_vdev_config_read(&b->vd, offsetof(struct virtio_blk_config,
	    capacity), &cfg.capacity, sizeof(cfg.capacity));
	if (rc < 0)
		return rc;
	b->capacity = le64toh(cfg.capacity);
	b->seg_max = 1;		/* Linux's default without SEG_MAX */
	if (sg_blk_has(b, VIRTIO_BLK_F_SEG_MAX)) {
		rc = sg_vdev_config_read(&b->vd, offsetof(struct
		    virtio_blk_config, seg_max), &cfg.seg_max,
		    sizeof(cfg.seg_max));
		if (rc < 0)
			return rc;
		b->seg_max = le32toh(cfg.seg_max);
		if (b->seg_max == 0) {
			sg_errx("virtio-blk: seg_max 0 read as 1");
			b->seg_max = 1;
		}
	}
	if (sg_blk_has(b, VIRTIO_BLK_F_BLK_SIZE)) {
		rc = sg_vdev_config_read(&b->vd, offsetof(struct
		    virtio_blk_config, blk_size), &cfg.blk_size,
		    sizeof(cfg.blk_size));
		if (rc < 0)
			return rc;
		b->blk_size = le32toh(cfg.blk_size);
	}
	return 0;
}

static int slots_alloc(struct sg_blk *b, unsigned nr)
{
	uint64_t gpa;
	uint8_t *p;

	b->slot = calloc(nr, sizeof(*b->slot));
	if (b->slot == NULL)
		return sg_err(-ENOMEM, "allocate request slots");
	p = sg_mem_alloc(b->vd.mem, (uint64_t)nr * SG_BLK_SLOT_STRIDE, &gpa);
	if (p == NULL)
		return -ENOMEM;
	for (unsigned i = 0; i < nr; i++) {
		struct sg_blk_slot *s = &b->slot[i];

		s->hdr = (struct virtio_blk_outhdr *)(void *)
		    (p + i * SG_BLK_SLOT_STRIDE);
		s->hdr_gpa = gpa + i * SG_BLK_SLOT_STRIDE;
		s->status = p + i * SG_BLK_SLOT_STRIDE + 16;
		s->status_gpa = s->hdr_gpa + 16;
	}
	b->nr_slots = nr;
	b->scratch = sg_mem_alloc(b->vd.mem, SG_PAGE_SIZE, &b->scratch_gpa);
	return b->scratch == NULL ? -ENOMEM : 0;
}

int sg_blk_open(struct sg_blk *b, struct sg_sim *sim, unsigned dev,
    uint64_t base, const struct sg_blk_opts *opts)
{
	int rc;

	memset(b, 0, sizeof(*b));
	if ((rc = sg_vdev_probe(&b->vd, sim, dev, base, 2)) < 0)
		return rc;
	return sg_blk_setup(b, opts);
}

int sg_blk_setup(struct sg_blk *b, const struct sg_blk_opts *opts)
{
	struct sg_vq_opts qo = { 0 };
	uint64_t want = UINT64_C(1) << VIRTIO_F_VERSION_1 |
	    UINT64_C(1) << VIRTIO_BLK_F_FLUSH |
	    UINT64_C(1) << VIRTIO_BLK_F_BLK_SIZE |
	    UINT64_C(1) << VIRTIO_BLK_F_SEG_MAX;
	unsigned nr;
	int rc;

	if (opts->indirect)
		want |= UINT64_C(1) << VIRTIO_RING_F_INDIRECT_DESC;
	if (opts->event_idx)
		want |= UINT64_C(1) << VIRTIO_RING_F_EVENT_IDX;
	if ((rc = sg_vdev_negotiate(&b->vd, want)) < 0 ||
	    (rc = read_config(b)) < 0)
		return rc;
	qo.num = opts->queue_num;
	qo.indirect = opts->indirect;
	if ((rc = sg_vq_setup(&b->vd, 0, &qo, &b->vq)) < 0)
		return rc;
	nr = opts->nr_slots != 0 ? opts->nr_slots : SG_BLK_DEFAULT_SLOTS;
	if (nr > SG_BLK_MAX_SLOTS)
		nr = SG_BLK_MAX_SLOTS;
	if (nr > sg_vq_num(b->vq))
		nr = sg_vq_num(b->vq);
	if ((rc = slots_alloc(b, nr)) < 0)
		return rc;
	return sg_vdev_driver_ok(&b->vd);
}

int sg_blk_close(struct sg_blk *b)
{
	int rc = 0;

	if (sg_vdev_alive(&b->vd))
		rc = sg_vdev_reset(&b->vd);
	sg_vdev_cleanup(&b->vd);
	free(b->slot);
	b->slot = NULL;
	b->vq = NULL;
	return rc;
}

unsigned sg_blk_nr_inflight(const struct sg_blk *b)
{
	return b->vq != NULL ? sg_vq_nr_inflight(b->vq) : 0;
}

/* Data segments: whole sectors, at most seg_max of them (and the table). */
static unsigned split_data(const struct sg_blk *b, uint64_t gpa, uint32_t len,
    struct sg_buf *seg, unsigned max_segs)
{
	uint32_t nr_sect = len / SG_BLK_SECTOR, per, off = 0;
	unsigned n = b->seg_max < max_segs ? b->seg_max : max_segs, i = 0;

	if (len == 0)
		return 0;
	if (len % SG_BLK_SECTOR != 0 || nr_sect <= 1 || n <= 1) {
		seg[0].gpa = gpa;
		seg[0].len = len;
		return 1;
	}
	if (n > nr_sect)
		n = nr_sect;
	per = (nr_sect + n - 1) / n * SG_BLK_SECTOR;
	while (off < len) {
		seg[i].gpa = gpa + off;
		seg[i].len = len - off < per ? len - off : per;
		off += seg[i].len;
		i++;
	}
	return i;
}

int sg_blk_submit(struct sg_blk *b, uint32_t type, uint64_t sector,
    uint64_t data_gpa, uint32_t data_len, void *cookie)
{
	struct sg_buf out[1 + SG_VQ_INDIRECT_MAX], in[1 + SG_VQ_INDIRECT_MAX];
	unsigned nr_out = 0, nr_in = 0, nr_data, max_segs;
	bool data_in = type != VIRTIO_BLK_T_OUT;
	struct sg_blk_slot *s = NULL;
	int rc;

	for (unsigned i = 0; i < b->nr_slots; i++)
		if (!b->slot[i].busy) {
			s = &b->slot[i];
			break;
		}
	if (s == NULL)
		return -EBUSY;
	if (data_len != 0 && sg_mem_ptr(b->vd.mem, data_gpa, data_len) == NULL)
		return sg_err(-EINVAL, "virtio-blk: %s buffer %#llx+%u not in"
		    " guest RAM", type_name(type),
		    (unsigned long long)data_gpa, data_len);

	s->hdr->type = htole32(type);
	s->hdr->ioprio = 0;
	s->hdr->sector = htole64(sector);
	*s->status = SG_BLK_STATUS_UNSET;

	/* hdr + data + status must fit an indirect table or the ring. */
	max_segs = SG_VQ_INDIRECT_MAX - 2;
	if (!sg_vq_uses_indirect(b->vq) && sg_vq_num(b->vq) < max_segs + 2)
		max_segs = sg_vq_num(b->vq) > 3 ? sg_vq_num(b->vq) - 2 : 1;
	out[nr_out].gpa = s->hdr_gpa;
	out[nr_out++].len = sizeof(struct virtio_blk_outhdr);
	nr_data = split_data(b, data_gpa, data_len, data_in ? in : out + 1,
	    max_segs);
	if (data_in)
		nr_in += nr_data;
	else
		nr_out += nr_data;
	in[nr_in].gpa = s->status_gpa;
	in[nr_in++].len = 1;

	rc = sg_vq_add(b->vq, out, nr_out, in, nr_in, s);
	if (rc < 0)
		return rc;
	s->busy = true;
	s->type = type;
	s->sector = sector;
	s->data_len = data_len;
	s->cookie = cookie;
	b->nr_pending_kick++;
	return 0;
}

int sg_blk_kick(struct sg_blk *b)
{
	bool notified;
	int rc;

	if (b->nr_pending_kick == 0)
		return 0;
	rc = sg_vq_kick(b->vq, &notified);
	if (rc == 0)
		b->nr_pending_kick = 0;
	return rc;
}

/* The device's answer for one slot, checked. */
static int complete(struct sg_blk *b, const struct sg_used *u,
    struct sg_blk_done *d)
{
	struct sg_blk_slot *s = u->token;
	bool len_ok;

	if (s == NULL || s < b->slot || s >= b->slot + b->nr_slots || !s->busy)
		return sg_err(-EIO, "virtio-blk: used head %u has no request",
		    u->head);
	d->type = s->type;
	d->sector = s->sector;
	d->data_len = s->data_len;
	d->cookie = s->cookie;
	d->used_len = u->len;
	d->status = *s->status;
	s->busy = false;

	switch (s->type) {
	case VIRTIO_BLK_T_IN:
		/* Every data byte and the status byte were written. */
		len_ok = u->len == s->data_len + 1;
		break;
	case VIRTIO_BLK_T_GET_ID:
		len_ok = u->len >= 1 && u->len <= s->data_len + 1;
		break;
	default:
		len_ok = u->len >= 1 && u->len <= 1;
		break;
	}
	if (!len_ok && d->status == VIRTIO_BLK_S_OK)
		return sg_err(-EIO, "virtio-blk: %s of %u bytes at sector %llu:"
		    " used len %u, expected %u", type_name(s->type),
		    s->data_len, (unsigned long long)s->sector, u->len,
		    s->type == VIRTIO_BLK_T_IN ? s->data_len + 1 : 1);
	if (d->status != VIRTIO_BLK_S_OK) {
		/* UNSUPP for GET_ID is the caller's to judge; quietly. */
		if (!(s->type == VIRTIO_BLK_T_GET_ID &&
		    d->status == VIRTIO_BLK_S_UNSUPP))
			sg_errx("virtio-blk: %s of %u bytes at sector %llu:"
			    " status %u (%s)", type_name(s->type), s->data_len,
			    (unsigned long long)s->sector, d->status,
			    status_name(d->status));
		return -EIO;
	}
	return 0;
}

int sg_blk_poll(struct sg_blk *b, struct sg_blk_done *d)
{
	struct sg_used u;
	int rc;

	memset(d, 0, sizeof(*d));
	rc = sg_vq_get_used(b->vq, &u);
	if (rc <= 0)
		return rc;
	rc = complete(b, &u, d);
	return rc < 0 ? rc : 1;
}

int sg_blk_reap(struct sg_blk *b, struct sg_blk_done *d, int timeout_ms)
{
	uint64_t deadline = now_ms() + (uint64_t)(timeout_ms < 0 ? 0 :
	    timeout_ms);
	struct sg_used u;
	int rc;

	memset(d, 0, sizeof(*d));
	if (sg_blk_nr_inflight(b) == 0)
		return sg_err(-EINVAL, "virtio-blk: reap with nothing in"
		    " flight");
	if ((rc = sg_blk_kick(b)) < 0)
		return rc;
	for (;;) {
		uint64_t now;

		rc = sg_vq_get_used(b->vq, &u);
		if (rc < 0)
			return rc;
		if (rc > 0)
			return complete(b, &u, d);
		now = now_ms();
		if (now >= deadline)
			return sg_err(-ETIMEDOUT, "virtio-blk: %u requests"
			    " still in flight after %d ms",
			    sg_blk_nr_inflight(b), timeout_ms);
		rc = sg_vdev_wait(&b->vd, (int)(deadline - now));
		if (rc < 0)
			return rc;
	}
}

int sg_blk_io(struct sg_blk *b, uint32_t type, uint64_t sector,
    uint64_t data_gpa, uint32_t data_len)
{
	struct sg_blk_done d;
	int rc;

	if (sg_blk_nr_inflight(b) != 0)
		return sg_err(-EBUSY, "virtio-blk: synchronous %s with %u"
		    " requests in flight", type_name(type),
		    sg_blk_nr_inflight(b));
	rc = sg_blk_submit(b, type, sector, data_gpa, data_len, NULL);
	if (rc < 0)
		return rc == -ENOSPC || rc == -EBUSY ?
		    sg_err(rc, "virtio-blk: %s does not fit the queue",
		    type_name(type)) : rc;
	return sg_blk_reap(b, &d, SG_BLK_TIMEOUT_MS);
}

int sg_blk_flush(struct sg_blk *b)
{
	if (!sg_blk_has(b, VIRTIO_BLK_F_FLUSH))
		return -ENOTSUP;
	return sg_blk_io(b, VIRTIO_BLK_T_FLUSH, 0, 0, 0);
}

int sg_blk_get_id(struct sg_blk *b, char id[VIRTIO_BLK_ID_BYTES + 1])
{
	struct sg_blk_done d;
	int rc;

	memset(b->scratch, 0, VIRTIO_BLK_ID_BYTES);
	memset(id, 0, VIRTIO_BLK_ID_BYTES + 1);
	if (sg_blk_nr_inflight(b) != 0)
		return sg_err(-EBUSY, "virtio-blk: get-id with requests in"
		    " flight");
	rc = sg_blk_submit(b, VIRTIO_BLK_T_GET_ID, 0, b->scratch_gpa,
	    VIRTIO_BLK_ID_BYTES, NULL);
	if (rc < 0)
		return rc;
	rc = sg_blk_reap(b, &d, SG_BLK_TIMEOUT_MS);
	if (rc == -EIO && d.status == VIRTIO_BLK_S_UNSUPP &&
	    d.type == VIRTIO_BLK_T_GET_ID)
		return -ENOTSUP;
	if (rc < 0)
		return rc;
	/* Not NUL-terminated when all 20 bytes are used (virtio 5.2.6). */
	memcpy(id, b->scratch, VIRTIO_BLK_ID_BYTES);
	return 0;
}
