/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * shadow: shadow split virtqueues (see shadow.h).
 *
 * Two sides, two trust levels:
 *  - the guest rings and descriptors are untrusted. Every index and length
 *    is read once into a local, validated in a named helper, then used;
 *    descriptors of one chain are copied into a per-queue scratch array on
 *    the first and only pass, so no guest descriptor is read twice.
 *  - the back-end shares the memfd. It is trusted for semantics but not for
 *    memory safety: we never read back what we wrote to the shadow
 *    descriptor table or avail ring (our own bookkeeping lives in private
 *    memory), and the used entries it writes are read once and checked.
 *
 * Shadow memory allocator: a bitmap of SHADOW_BLOCK_LEN blocks, first fit
 * with a rotating hint for bounce buffers, first fit from 0 for rings.
 * One request takes one run: its "out" bytes, padding to SHADOW_ALIGN, then
 * its "in" bytes. The guest's writable segments of in-flight requests are
 * kept in a private per-queue pool managed by the same bitmap allocator
 * (one bit per segment), so completion never re-reads guest descriptors.
 * Nothing on the per-request path allocates from the heap.
 */
#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/virtio_ring.h>

#include "log.h"
#include "util.h"
#include "vq/shadow.h"

/* Bounce buffer granule: small enough for 16-byte virtio-blk headers and
 * 1-byte status to share little, large enough to keep the bitmap short. */
#define SHADOW_BLOCK_LEN	256u
/* Every carved object is aligned to a cache line (ring parts need 16/2/4). */
#define SHADOW_ALIGN		64u
/* Largest queue the split ring allows (virtio 1.x: queue size <= 32768). */
#define SHADOW_QUEUE_MAX	32768u
/*
 * Largest sum of buffer lengths in one chain. The spec allows up to 4 GiB,
 * but every byte is bounced through shadow memory; real drivers stay far
 * below this (Linux virtio-blk: max_sectors, default 1280 KiB; virtiofs:
 * max_pages of 4 KiB, 1 MiB by default). The cap keeps one guest request
 * from needing an absurd bounce buffer and keeps lengths within 32 bits.
 */
#define SHADOW_CHAIN_MAX_BYTES	(UINT64_C(64) << 20)
/*
 * Writable guest segments kept per queue, per entry of the queue. A chain
 * has at most num descriptors, so one full-size chain always fits in an
 * idle queue; beyond the average, requests wait (backpressure).
 */
#define SHADOW_SEGS_PER_REQ	4u

#define DESC_LEN	16u
#define NO_DESC		UINT16_MAX
#define BM_NONE		SIZE_MAX

static inline uint64_t align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) & ~(a - 1);
}

/* ---- bitmap allocator -------------------------------------------------- */

struct bmalloc {
	uint64_t *map;
	size_t nr;	/* units managed */
	size_t hint;	/* where the next first-fit scan starts */
};

static int bm_init(struct bmalloc *b, size_t nr)
{
	b->map = calloc((nr + 63) / 64, sizeof(uint64_t));
	if (b->map == NULL)
		return -ENOMEM;
	b->nr = nr;
	b->hint = 0;
	return 0;
}

static void bm_fini(struct bmalloc *b)
{
	free(b->map);
	b->map = NULL;
}

/* Bits [lo, lo+n) of one word, n in 1..64. */
static inline uint64_t bm_mask(size_t lo, size_t n)
{
	return (n == 64 ? ~UINT64_C(0) : ((UINT64_C(1) << n) - 1)) << lo;
}

/* A word at a time: this runs for every request on the shadow path. */
static void bm_set_range(struct bmalloc *b, size_t first, size_t n, bool on)
{
	while (n > 0) {
		size_t lo = first % 64, k = 64 - lo < n ? 64 - lo : n;
		uint64_t m = bm_mask(lo, k);

		if (on)
			b->map[first / 64] |= m;
		else
			b->map[first / 64] &= ~m;
		first += k;
		n -= k;
	}
}

/*
 * First free run of @n units starting in [from, to); it may end past @to.
 * Runs of used and of free units are skipped a word at a time (ctz).
 */
static size_t bm_find(const struct bmalloc *b, size_t from, size_t to,
    size_t n)
{
	size_t i = from;

	while (i < to) {
		uint64_t w = b->map[i / 64] >> (i % 64);
		size_t avail = 64 - i % 64, j, run;

		if ((w & 1) != 0) {
			/* Used: skip its run of ones (at most to the word end). */
			uint64_t inv = ~w;

			i += inv == 0 ? avail : (size_t)__builtin_ctzll(inv);
			continue;
		}
		/* Free: measure the run of zeros from i, up to n. */
		for (j = i, run = 0; run < n && j < b->nr;) {
			uint64_t v = b->map[j / 64] >> (j % 64);
			size_t left = 64 - j % 64;
			size_t z = v == 0 ? left : (size_t)__builtin_ctzll(v);

			run += z;
			j += z;
			if (z < left)
				break;		/* j is a used unit */
		}
		if (j > b->nr) {
			/* The last word's bits past nr do not exist. */
			run -= j - b->nr;
			j = b->nr;
		}
		if (run >= n)
			return i;
		if (j >= b->nr)
			return BM_NONE;
		i = j;
	}
	return BM_NONE;
}

/* Allocates @n >= 1 units; @rotate uses and moves the hint. */
static size_t bm_alloc(struct bmalloc *b, size_t n, bool rotate)
{
	size_t start = rotate ? b->hint : 0, first;

	if (n == 0 || n > b->nr)
		return BM_NONE;
	first = bm_find(b, start, b->nr, n);
	if (first == BM_NONE && start != 0)
		first = bm_find(b, 0, start, n);
	if (first == BM_NONE)
		return BM_NONE;
	bm_set_range(b, first, n, true);
	if (rotate)
		b->hint = first + n < b->nr ? first + n : 0;
	return first;
}

static void bm_free(struct bmalloc *b, size_t first, size_t n)
{
	bm_set_range(b, first, n, false);
}

/* ---- shadow memory ----------------------------------------------------- */

struct shadow_mem {
	int fd;
	size_t size;
	uint8_t *hva;
	struct bmalloc blocks;
	size_t in_use;		/* bounce buffer bytes (whole blocks) */
};

int shadow_mem_create(size_t bytes, const char *name, struct shadow_mem **out)
{
	struct shadow_mem *m;
	size_t size;
	int rc;

	*out = NULL;
	if (bytes == 0 || bytes > SIZE_MAX - 4095)
		return -EINVAL;
	size = (size_t)align_up(bytes, 4096);
	m = calloc(1, sizeof(*m));
	if (m == NULL)
		return -ENOMEM;
	m->fd = memfd_create(name != NULL ? name : "xvd-shadow", MFD_CLOEXEC);
	if (m->fd < 0) {
		rc = -errno;
		goto fail_free;
	}
	if (ftruncate(m->fd, (off_t)size) < 0) {
		rc = -errno;
		goto fail_close;
	}
	m->hva = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, m->fd, 0);
	if (m->hva == MAP_FAILED) {
		rc = -errno;
		goto fail_close;
	}
	rc = bm_init(&m->blocks, size / SHADOW_BLOCK_LEN);
	if (rc < 0)
		goto fail_unmap;
	m->size = size;
	*out = m;
	return 0;

fail_unmap:
	munmap(m->hva, size);
fail_close:
	fd_close(&m->fd);
fail_free:
	free(m);
	return rc;
}

void shadow_mem_destroy(struct shadow_mem *m)
{
	if (m == NULL)
		return;
	bm_fini(&m->blocks);
	munmap(m->hva, m->size);
	fd_close(&m->fd);
	free(m);
}

int shadow_mem_fd(const struct shadow_mem *m)
{
	return m->fd;
}

size_t shadow_mem_size(const struct shadow_mem *m)
{
	return m->size;
}

uint8_t *shadow_mem_hva(const struct shadow_mem *m)
{
	return m->hva;
}

size_t shadow_mem_in_use(const struct shadow_mem *m)
{
	return m->in_use;
}

static size_t mem_blocks_for(uint64_t bytes)
{
	return (size_t)(align_up(bytes, SHADOW_BLOCK_LEN) / SHADOW_BLOCK_LEN);
}

/* ---- shared memory access: one load or store each, little endian -------- */

static inline uint16_t ld16(const uint8_t *p)
{
	return le16toh(__atomic_load_n((const uint16_t *)(const void *)p,
	    __ATOMIC_RELAXED));
}

static inline uint32_t ld32(const uint8_t *p)
{
	return le32toh(__atomic_load_n((const uint32_t *)(const void *)p,
	    __ATOMIC_RELAXED));
}

static inline uint64_t ld64(const uint8_t *p)
{
	return le64toh(__atomic_load_n((const uint64_t *)(const void *)p,
	    __ATOMIC_RELAXED));
}

static inline void st16(uint8_t *p, uint16_t v)
{
	__atomic_store_n((uint16_t *)(void *)p, htole16(v), __ATOMIC_RELAXED);
}

static inline void st32(uint8_t *p, uint32_t v)
{
	__atomic_store_n((uint32_t *)(void *)p, htole32(v), __ATOMIC_RELAXED);
}

static inline void st64(uint8_t *p, uint64_t v)
{
	__atomic_store_n((uint64_t *)(void *)p, htole64(v), __ATOMIC_RELAXED);
}

struct desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

/*
 * Reads one guest descriptor once. The descriptor table is 16-aligned
 * (checked at create); an indirect table need not be, so a misaligned one
 * is read byte by byte.
 */
static void desc_load(const uint8_t *p, struct desc *d)
{
	uint8_t b[DESC_LEN];
	uint64_t a;
	uint32_t l;
	uint16_t f, n;

	if (((uintptr_t)p & 7) == 0) {
		d->addr = ld64(p);
		d->len = ld32(p + 8);
		d->flags = ld16(p + 12);
		d->next = ld16(p + 14);
		return;
	}
	for (unsigned i = 0; i < DESC_LEN; i++)
		b[i] = __atomic_load_n(p + i, __ATOMIC_RELAXED);
	memcpy(&a, b, 8);
	memcpy(&l, b + 8, 4);
	memcpy(&f, b + 12, 2);
	memcpy(&n, b + 14, 2);
	d->addr = le64toh(a);
	d->len = le32toh(l);
	d->flags = le16toh(f);
	d->next = le16toh(n);
}

/* ---- queue ------------------------------------------------------------- */

/* A guest buffer: readable ones during a walk, writable ones until done. */
struct seg {
	uint64_t gpa;
	uint32_t len;
};

/* One request posted on the shadow ring, indexed by its shadow head. */
struct shadow_req {
	bool in_flight;
	uint16_t guest_head;
	uint16_t desc2;		/* second shadow descriptor, or NO_DESC */
	size_t blk_first, nr_blk;	/* bounce run in shadow memory */
	uint64_t out_off, in_off;	/* offsets in shadow memory */
	uint32_t out_len, in_len;
	size_t seg_first;	/* into vq->segs */
	uint32_t nr_seg;
};

/* What one walk over a guest chain found (the segments are in scratch). */
struct walk {
	uint32_t nr_desc;	/* buffer descriptors, zero-length included */
	uint32_t nr_seg;	/* non-empty buffers in scratch */
	uint32_t nr_out_seg;	/* the first nr_out_seg of them are readable */
	uint64_t out_len, in_len;
	bool seen_writable;
};

struct shadow_vq {
	struct shadow_mem *m;
	uint32_t num;
	uint32_t index;
	char name[48];
	bool event_idx, indirect;
	const struct vq_mem_ops *mem;
	void *mem_ctx;

	/* Guest rings, mapped from create to destroy. */
	const uint8_t *g_desc, *g_avail;
	uint8_t *g_used;
	void *g_desc_ck, *g_avail_ck, *g_used_ck;
	uint16_t last_avail;	/* next guest avail entry to take */
	uint16_t g_used_idx;	/* our copy of the guest used idx */
	uint8_t *g_busy;	/* [num] guest head is in flight */

	/* Shadow ring in shadow memory; we are its driver. */
	size_t ring_blk, ring_nr_blk;
	uint64_t desc_off, avail_off, used_off;
	uint8_t *s_desc, *s_avail, *s_used;
	uint16_t s_avail_idx;	/* our copy of the shadow avail idx */
	uint16_t s_last_used;	/* shadow used entries consumed */
	uint16_t *free_next;	/* [num] shadow descriptor free list */
	uint16_t free_head;
	uint32_t nr_free;

	struct shadow_req *req;	/* [num] by shadow head */
	struct seg *scratch;	/* [num] one chain during a walk */
	struct seg *segs;	/* [num * SHADOW_SEGS_PER_REQ] */
	struct bmalloc seg_map;
	unsigned inflight;
};

/* ---- validation helpers (guest and back-end values) --------------------- */

static inline bool desc_idx_ok(const struct shadow_vq *vq, uint32_t idx)
{
	return idx < vq->num;
}

static inline bool avail_jump_ok(const struct shadow_vq *vq, uint16_t idx)
{
	return (uint16_t)(idx - vq->last_avail) <= vq->num;
}

static inline bool used_jump_ok(const struct shadow_vq *vq, uint16_t idx)
{
	return (uint16_t)(idx - vq->s_last_used) <= vq->num;
}

/* A back-end used id names a head we posted and have not completed. */
static inline bool used_id_ok(const struct shadow_vq *vq, uint32_t id)
{
	return id < vq->num && vq->req[id].in_flight;
}

static inline bool indirect_len_ok(const struct shadow_vq *vq, uint32_t len)
{
	return len != 0 && len % DESC_LEN == 0 &&
	    len / DESC_LEN <= vq->num && len / DESC_LEN <= SHADOW_QUEUE_MAX;
}

static bool cfg_ok(const struct shadow_vq_cfg *cfg)
{
	return cfg->num != 0 && is_pow2(cfg->num) &&
	    cfg->num <= SHADOW_QUEUE_MAX && cfg->mem != NULL &&
	    cfg->mem->map != NULL && cfg->mem->unmap != NULL &&
	    cfg->desc_gpa % VRING_DESC_ALIGN_SIZE == 0 &&
	    cfg->avail_gpa % VRING_AVAIL_ALIGN_SIZE == 0 &&
	    cfg->used_gpa % VRING_USED_ALIGN_SIZE == 0;
}

/* ---- guest ring layout (split ring, with the event idx words) ---------- */

static inline uint64_t g_desc_len(uint32_t num)
{
	return (uint64_t)DESC_LEN * num;
}

static inline uint64_t g_avail_len(uint32_t num)
{
	return 6 + 2 * (uint64_t)num;
}

static inline uint64_t g_used_len(uint32_t num)
{
	return 6 + 8 * (uint64_t)num;
}

/* Offsets inside an avail or used ring. */
#define AVAIL_FLAGS		0u
#define AVAIL_IDX		2u
#define AVAIL_RING(i)		(4u + 2u * (uint32_t)(i))
#define USED_FLAGS		0u
#define USED_IDX		2u
#define USED_RING(i)		(4u + 8u * (uint32_t)(i))

static inline uint32_t used_event_off(uint32_t num)
{
	return AVAIL_RING(num);
}

static inline uint32_t avail_event_off(uint32_t num)
{
	return USED_RING(num);
}

/* ---- shadow descriptors ------------------------------------------------ */

static uint16_t sdesc_get(struct shadow_vq *vq)
{
	uint16_t d = vq->free_head;

	vq->free_head = vq->free_next[d];
	vq->nr_free--;
	return d;
}

static void sdesc_put(struct shadow_vq *vq, uint16_t d)
{
	vq->free_next[d] = vq->free_head;
	vq->free_head = d;
	vq->nr_free++;
}

static void sdesc_write(struct shadow_vq *vq, uint16_t d, uint64_t off,
    uint32_t len, uint16_t flags, uint16_t next)
{
	uint8_t *p = vq->s_desc + (size_t)d * DESC_LEN;

	st64(p, SHADOW_IOVA_BASE + off);
	st32(p + 8, len);
	st16(p + 12, flags);
	st16(p + 14, next);
}

/* ---- request lifetime -------------------------------------------------- */

static void req_release(struct shadow_vq *vq, uint16_t head)
{
	struct shadow_req *r = &vq->req[head];

	if (r->nr_blk != 0) {
		bm_free(&vq->m->blocks, r->blk_first, r->nr_blk);
		vq->m->in_use -= r->nr_blk * SHADOW_BLOCK_LEN;
	}
	if (r->nr_seg != 0)
		bm_free(&vq->seg_map, r->seg_first, r->nr_seg);
	if (r->desc2 != NO_DESC)
		sdesc_put(vq, r->desc2);
	sdesc_put(vq, head);
	vq->g_busy[r->guest_head] = 0;
	memset(r, 0, sizeof(*r));
	vq->inflight--;
}

/* ---- guest chain walk -------------------------------------------------- */

/* Adds one guest buffer of a chain to the walk; zero-length ones are skipped. */
static int walk_add(struct shadow_vq *vq, struct walk *w, const struct desc *d,
    const char **why)
{
	bool writable = (d->flags & VRING_DESC_F_WRITE) != 0;
	uint64_t end;

	/* Spec: a chain is no longer than the queue; scratch holds num. */
	if (++w->nr_desc > vq->num) {
		*why = "descriptor chain longer than the queue";
		return -EINVAL;
	}
	if (d->len == 0)
		return 0;
	if (add_overflows_u64(d->addr, d->len, &end)) {
		*why = "descriptor address overflows";
		return -EINVAL;
	}
	if (!writable && w->seen_writable) {
		*why = "device-readable descriptor after a writable one";
		return -EINVAL;
	}
	if (w->out_len + w->in_len + d->len > SHADOW_CHAIN_MAX_BYTES) {
		*why = "descriptor chain too large";
		return -EINVAL;
	}
	vq->scratch[w->nr_seg].gpa = d->addr;
	vq->scratch[w->nr_seg].len = d->len;
	w->nr_seg++;
	if (writable) {
		w->seen_writable = true;
		w->in_len += d->len;
	} else {
		w->nr_out_seg++;
		w->out_len += d->len;
	}
	return 0;
}

static int walk_indirect(struct shadow_vq *vq, struct walk *w,
    const struct desc *top, const char **why)
{
	const uint8_t *tbl;
	void *ck;
	uint64_t end;
	uint32_t nr, idx = 0, visited = 0;
	int rc = 0;

	if (!vq->indirect) {
		*why = "indirect descriptor not negotiated";
		return -EINVAL;
	}
	if ((top->flags & VRING_DESC_F_NEXT) != 0) {
		*why = "indirect descriptor with NEXT";
		return -EINVAL;
	}
	if (!indirect_len_ok(vq, top->len)) {
		*why = "indirect table length invalid";
		return -EINVAL;
	}
	if (add_overflows_u64(top->addr, top->len, &end)) {
		*why = "indirect table address overflows";
		return -EINVAL;
	}
	nr = top->len / DESC_LEN;
	tbl = vq->mem->map(vq->mem_ctx, top->addr, top->len, false, &ck);
	if (tbl == NULL) {
		*why = "indirect table outside guest memory";
		return -EFAULT;
	}
	for (;;) {
		struct desc d;

		/* Without a loop, a chain visits each entry at most once. */
		if (++visited > nr) {
			*why = "indirect descriptor chain loops";
			rc = -EINVAL;
			break;
		}
		desc_load(tbl + (size_t)idx * DESC_LEN, &d);
		if ((d.flags & VRING_DESC_F_INDIRECT) != 0) {
			*why = "indirect descriptor inside an indirect table";
			rc = -EINVAL;
			break;
		}
		rc = walk_add(vq, w, &d, why);
		if (rc < 0 || (d.flags & VRING_DESC_F_NEXT) == 0)
			break;
		if (d.next >= nr) {
			*why = "indirect descriptor next out of range";
			rc = -EINVAL;
			break;
		}
		idx = d.next;
	}
	vq->mem->unmap(vq->mem_ctx, ck);
	return rc;
}

/* Walks the chain at @head once, filling vq->scratch and @w. */
static int walk_chain(struct shadow_vq *vq, uint16_t head, struct walk *w,
    const char **why)
{
	uint32_t idx = head, visited = 0;

	memset(w, 0, sizeof(*w));
	for (;;) {
		struct desc d;
		int rc;

		if (++visited > vq->num) {
			*why = "descriptor chain loops";
			return -EINVAL;
		}
		desc_load(vq->g_desc + (size_t)idx * DESC_LEN, &d);
		if ((d.flags & VRING_DESC_F_INDIRECT) != 0)
			return walk_indirect(vq, w, &d, why);
		rc = walk_add(vq, w, &d, why);
		if (rc < 0)
			return rc;
		if ((d.flags & VRING_DESC_F_NEXT) == 0)
			return 0;
		if (!desc_idx_ok(vq, d.next)) {
			*why = "descriptor next out of range";
			return -EINVAL;
		}
		idx = d.next;
	}
}

/* Copies the readable buffers of the walk into shadow memory at @off. */
static int copy_from_guest(struct shadow_vq *vq, const struct walk *w,
    uint64_t off, const char **why)
{
	uint8_t *dst = vq->m->hva + off;

	for (uint32_t i = 0; i < w->nr_out_seg; i++) {
		const struct seg *s = &vq->scratch[i];
		void *ck;
		const void *src = vq->mem->map(vq->mem_ctx, s->gpa, s->len,
		    false, &ck);

		if (src == NULL) {
			*why = "readable buffer outside guest memory";
			return -EFAULT;
		}
		memcpy(dst, src, s->len);
		vq->mem->unmap(vq->mem_ctx, ck);
		dst += s->len;
	}
	return 0;
}

/* Nothing is in flight anywhere, so waiting cannot free anything. */
static bool vq_idle(const struct shadow_vq *vq)
{
	return vq->inflight == 0 && vq->m->in_use == 0;
}

/*
 * Moves the guest avail entry at last_avail to the shadow ring.
 * Returns 1 when posted, 0 when out of shadow resources (backpressure).
 */
static int take_one(struct shadow_vq *vq, const char **why)
{
	struct walk w;
	struct shadow_req *r;
	uint16_t head, sh, d2 = NO_DESC;
	uint32_t nr_desc;
	uint64_t in_pos, bytes;
	size_t nr_blk = 0, blk = 0, seg_first = 0;
	uint32_t nr_w;
	int rc;

	head = ld16(vq->g_avail + AVAIL_RING(vq->last_avail & (vq->num - 1)));
	if (!desc_idx_ok(vq, head)) {
		*why = "avail ring head out of range";
		return -EINVAL;
	}
	if (vq->g_busy[head]) {
		*why = "avail ring head already in flight";
		return -EINVAL;
	}
	rc = walk_chain(vq, head, &w, why);
	if (rc < 0)
		return rc;
	if (w.out_len == 0 && w.in_len == 0) {
		*why = "descriptor chain without data";
		return -EINVAL;
	}
	nr_desc = (w.out_len != 0) + (w.in_len != 0);
	nr_w = w.nr_seg - w.nr_out_seg;
	in_pos = align_up(w.out_len, SHADOW_ALIGN);
	bytes = in_pos + w.in_len;

	if (vq->nr_free < nr_desc)
		goto wait;
	nr_blk = mem_blocks_for(bytes);
	/* First fit from the bottom: the pages in use stay few and resident. */
	blk = bm_alloc(&vq->m->blocks, nr_blk, false);
	if (blk == BM_NONE)
		goto wait;
	if (nr_w != 0) {
		seg_first = bm_alloc(&vq->seg_map, nr_w, true);
		if (seg_first == BM_NONE) {
			bm_free(&vq->m->blocks, blk, nr_blk);
			goto wait;
		}
	}
	rc = copy_from_guest(vq, &w, blk * SHADOW_BLOCK_LEN, why);
	if (rc < 0) {
		bm_free(&vq->m->blocks, blk, nr_blk);
		if (nr_w != 0)
			bm_free(&vq->seg_map, seg_first, nr_w);
		return rc;
	}
	vq->m->in_use += nr_blk * SHADOW_BLOCK_LEN;
	memcpy(&vq->segs[seg_first], &vq->scratch[w.nr_out_seg],
	    nr_w * sizeof(struct seg));

	sh = sdesc_get(vq);
	if (nr_desc == 2)
		d2 = sdesc_get(vq);
	r = &vq->req[sh];
	r->in_flight = true;
	r->guest_head = head;
	r->desc2 = d2;
	r->blk_first = blk;
	r->nr_blk = nr_blk;
	r->out_off = blk * SHADOW_BLOCK_LEN;
	r->in_off = r->out_off + in_pos;
	r->out_len = (uint32_t)w.out_len;
	r->in_len = (uint32_t)w.in_len;
	r->seg_first = seg_first;
	r->nr_seg = nr_w;
	vq->g_busy[head] = 1;
	vq->inflight++;

	if (w.out_len != 0 && w.in_len != 0) {
		sdesc_write(vq, sh, r->out_off, r->out_len, VRING_DESC_F_NEXT,
		    d2);
		sdesc_write(vq, d2, r->in_off, r->in_len, VRING_DESC_F_WRITE, 0);
	} else if (w.out_len != 0) {
		sdesc_write(vq, sh, r->out_off, r->out_len, 0, 0);
	} else {
		sdesc_write(vq, sh, r->in_off, r->in_len, VRING_DESC_F_WRITE, 0);
	}
	st16(vq->s_avail + AVAIL_RING(vq->s_avail_idx & (vq->num - 1)), sh);
	vq->s_avail_idx++;
	return 1;

wait:
	/* Only a completion can make room; with none to come, it never fits. */
	if (vq_idle(vq)) {
		*why = "request larger than shadow memory";
		return -ENOSPC;
	}
	return 0;
}

/*
 * Takes guest avail entries until none is left or shadow resources run out,
 * and publishes the shadow avail idx. *@need_kick tells whether the
 * back-end wants a notification for what was posted.
 */
static int take_avail(struct shadow_vq *vq, bool *need_kick, const char **why)
{
	uint16_t old = vq->s_avail_idx;
	int rc = 0;

	*need_kick = false;
	for (;;) {
		uint16_t avail;

		avail = ld16(vq->g_avail + AVAIL_IDX);
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (!avail_jump_ok(vq, avail)) {
			*why = "avail index jumped";
			rc = -EINVAL;
			goto publish;
		}
		while (vq->last_avail != avail) {
			rc = take_one(vq, why);
			if (rc < 0)
				goto publish;
			if (rc == 0)
				goto stalled;
			vq->last_avail++;
		}
		if (!vq->event_idx)
			break;
		/* Kick us for the next entry; then look again for a race. */
		st16(vq->g_used + avail_event_off(vq->num), vq->last_avail);
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		if (ld16(vq->g_avail + AVAIL_IDX) == vq->last_avail)
			break;
	}
stalled:
	if (vq->event_idx)
		st16(vq->g_used + avail_event_off(vq->num), vq->last_avail);
	rc = 0;
publish:
	if (vq->s_avail_idx != old) {
		uint16_t nw = vq->s_avail_idx;

		__atomic_thread_fence(__ATOMIC_RELEASE);
		st16(vq->s_avail + AVAIL_IDX, nw);
		/* Order the idx store before reading the back-end's wishes. */
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		if (vq->event_idx)
			*need_kick = vring_need_event(
			    ld16(vq->s_used + avail_event_off(vq->num)), nw,
			    old);
		else
			*need_kick = (ld16(vq->s_used + USED_FLAGS) &
			    VRING_USED_F_NO_NOTIFY) == 0;
	}
	return rc;
}

int shadow_vq_kick(struct shadow_vq *vq, const char **why)
{
	bool need_kick;
	const char *dummy;
	int rc;

	if (why == NULL)
		why = &dummy;
	*why = NULL;
	rc = take_avail(vq, &need_kick, why);
	if (rc < 0)
		return rc;
	return need_kick ? 1 : 0;
}

/* ---- completion -------------------------------------------------------- */

/* Copies @len bytes of the request's in buffer to its writable segments. */
static int copy_to_guest(struct shadow_vq *vq, const struct shadow_req *r,
    uint32_t len, const char **why)
{
	const uint8_t *src = vq->m->hva + r->in_off;
	uint32_t left = len;

	for (uint32_t i = 0; i < r->nr_seg && left != 0; i++) {
		const struct seg *s = &vq->segs[r->seg_first + i];
		uint32_t n = s->len < left ? s->len : left;
		void *ck;
		void *dst = vq->mem->map(vq->mem_ctx, s->gpa, n, true, &ck);

		if (dst == NULL) {
			*why = "writable buffer outside guest memory";
			return -EFAULT;
		}
		memcpy(dst, src, n);
		vq->mem->unmap(vq->mem_ctx, ck);
		src += n;
		left -= n;
	}
	return 0;
}

/* Takes one back-end used entry and writes the guest used entry. */
static int complete_one(struct shadow_vq *vq, const char **why)
{
	const uint8_t *e = vq->s_used +
	    USED_RING(vq->s_last_used & (vq->num - 1));
	uint32_t id = ld32(e), len = ld32(e + 4);
	struct shadow_req *r;
	uint8_t *g;
	int rc;

	if (!used_id_ok(vq, id)) {
		*why = "back-end used id not in flight";
		return -EINVAL;
	}
	r = &vq->req[id];
	if (len > r->in_len) {
		*why = "back-end used length too long";
		return -EINVAL;
	}
	rc = copy_to_guest(vq, r, len, why);
	if (rc < 0)
		return rc;
	g = vq->g_used + USED_RING(vq->g_used_idx & (vq->num - 1));
	st32(g, r->guest_head);
	st32(g + 4, len);
	vq->g_used_idx++;
	req_release(vq, (uint16_t)id);
	vq->s_last_used++;
	return 0;
}

int shadow_vq_complete(struct shadow_vq *vq, const char **why)
{
	uint16_t old_used = vq->g_used_idx;
	const char *dummy;
	bool need_kick;
	int rc = 0, ret = 0;

	if (why == NULL)
		why = &dummy;
	*why = NULL;
	for (;;) {
		uint16_t used = ld16(vq->s_used + USED_IDX);

		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (!used_jump_ok(vq, used)) {
			*why = "back-end used index jumped";
			rc = -EINVAL;
			break;
		}
		while (rc == 0 && vq->s_last_used != used)
			rc = complete_one(vq, why);
		if (rc < 0 || !vq->event_idx)
			break;
		/* Interrupt us for the next entry; then look again. */
		st16(vq->s_avail + used_event_off(vq->num), vq->s_last_used);
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		if (ld16(vq->s_used + USED_IDX) == vq->s_last_used)
			break;
	}
	/* Publish what completed, even when a later entry failed. */
	if (vq->g_used_idx != old_used) {
		uint16_t nw = vq->g_used_idx;
		bool irq;

		__atomic_thread_fence(__ATOMIC_RELEASE);
		st16(vq->g_used + USED_IDX, nw);
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		if (vq->event_idx)
			irq = vring_need_event(
			    ld16(vq->g_avail + used_event_off(vq->num)), nw,
			    old_used);
		else
			irq = (ld16(vq->g_avail + AVAIL_FLAGS) &
			    VRING_AVAIL_F_NO_INTERRUPT) == 0;
		if (irq)
			ret |= SHADOW_IRQ;
	}
	if (rc < 0)
		return rc;
	rc = take_avail(vq, &need_kick, why);
	if (rc < 0)
		return rc;
	if (need_kick)
		ret |= SHADOW_KICK;
	return ret;
}

/* ---- create / destroy -------------------------------------------------- */

static void vq_unmap_guest(struct shadow_vq *vq)
{
	if (vq->g_desc != NULL)
		vq->mem->unmap(vq->mem_ctx, vq->g_desc_ck);
	if (vq->g_avail != NULL)
		vq->mem->unmap(vq->mem_ctx, vq->g_avail_ck);
	if (vq->g_used != NULL)
		vq->mem->unmap(vq->mem_ctx, vq->g_used_ck);
	vq->g_desc = vq->g_avail = NULL;
	vq->g_used = NULL;
}

static int vq_map_guest(struct shadow_vq *vq, const struct shadow_vq_cfg *cfg)
{
	uint32_t n = cfg->num;

	vq->g_desc = vq->mem->map(vq->mem_ctx, cfg->desc_gpa, g_desc_len(n),
	    false, &vq->g_desc_ck);
	vq->g_avail = vq->mem->map(vq->mem_ctx, cfg->avail_gpa,
	    g_avail_len(n), false, &vq->g_avail_ck);
	vq->g_used = vq->mem->map(vq->mem_ctx, cfg->used_gpa, g_used_len(n),
	    true, &vq->g_used_ck);
	if (vq->g_desc == NULL || vq->g_avail == NULL || vq->g_used == NULL)
		return -EFAULT;
	/* Our loads and stores need natural alignment here too. */
	if ((uintptr_t)vq->g_desc % VRING_DESC_ALIGN_SIZE != 0 ||
	    (uintptr_t)vq->g_avail % VRING_AVAIL_ALIGN_SIZE != 0 ||
	    (uintptr_t)vq->g_used % VRING_USED_ALIGN_SIZE != 0)
		return -EINVAL;
	return 0;
}

/* Carves the shadow ring: desc, avail, used, each SHADOW_ALIGN-aligned. */
static int vq_carve_ring(struct shadow_vq *vq)
{
	uint32_t n = vq->num;
	uint64_t avail = align_up(g_desc_len(n), SHADOW_ALIGN);
	uint64_t used = align_up(avail + g_avail_len(n), SHADOW_ALIGN);
	uint64_t end = used + g_used_len(n);
	size_t nr_blk = mem_blocks_for(end), blk;
	uint64_t base;

	blk = bm_alloc(&vq->m->blocks, nr_blk, false);
	if (blk == BM_NONE)
		return -ENOMEM;
	vq->ring_blk = blk;
	vq->ring_nr_blk = nr_blk;
	base = (uint64_t)blk * SHADOW_BLOCK_LEN;
	vq->desc_off = base;
	vq->avail_off = base + avail;
	vq->used_off = base + used;
	vq->s_desc = vq->m->hva + vq->desc_off;
	vq->s_avail = vq->m->hva + vq->avail_off;
	vq->s_used = vq->m->hva + vq->used_off;
	/* flags 0: we always want the back-end's interrupts; used_event 0. */
	memset(vq->s_desc, 0, nr_blk * SHADOW_BLOCK_LEN);
	return 0;
}

int shadow_vq_create(struct shadow_mem *m, const struct shadow_vq_cfg *cfg,
    struct shadow_vq **out)
{
	struct shadow_vq *vq;
	uint32_t n;
	int rc;

	*out = NULL;
	if (m == NULL || !cfg_ok(cfg))
		return -EINVAL;
	n = cfg->num;
	vq = calloc(1, sizeof(*vq));
	if (vq == NULL)
		return -ENOMEM;
	vq->m = m;
	vq->num = n;
	vq->index = cfg->index;
	snprintf(vq->name, sizeof(vq->name), "%s",
	    cfg->name != NULL ? cfg->name : "?");
	vq->event_idx = cfg->event_idx;
	vq->indirect = cfg->indirect;
	vq->mem = cfg->mem;
	vq->mem_ctx = cfg->mem_ctx;
	vq->ring_nr_blk = 0;

	vq->g_busy = calloc(n, 1);
	vq->free_next = calloc(n, sizeof(*vq->free_next));
	vq->req = calloc(n, sizeof(*vq->req));
	vq->scratch = calloc(n, sizeof(*vq->scratch));
	vq->segs = calloc((size_t)n * SHADOW_SEGS_PER_REQ, sizeof(*vq->segs));
	if (vq->g_busy == NULL || vq->free_next == NULL || vq->req == NULL ||
	    vq->scratch == NULL || vq->segs == NULL) {
		rc = -ENOMEM;
		goto fail;
	}
	rc = bm_init(&vq->seg_map, (size_t)n * SHADOW_SEGS_PER_REQ);
	if (rc < 0)
		goto fail;
	for (uint32_t i = 0; i < n; i++)
		vq->free_next[i] = i + 1 < n ? (uint16_t)(i + 1) : NO_DESC;
	vq->free_head = 0;
	vq->nr_free = n;

	rc = vq_map_guest(vq, cfg);
	if (rc < 0)
		goto fail;
	rc = vq_carve_ring(vq);
	if (rc < 0)
		goto fail;
	if (cfg->resume) {
		/* The used index is the guest's; we may write it, so read once. */
		vq->g_used_idx = vq->last_avail = ld16(vq->g_used + USED_IDX);
		if ((uint16_t)(ld16(vq->g_avail + AVAIL_IDX) - vq->last_avail) >
		    n) {
			rc = -EINVAL;
			goto fail;
		}
	}
	if (vq->event_idx)
		st16(vq->g_used + avail_event_off(n), vq->last_avail);
	log_debug("%s queue %u: shadow ring of %u at offset 0x%llx", vq->name,
	    vq->index, n, (unsigned long long)vq->desc_off);
	*out = vq;
	return 0;

fail:
	shadow_vq_destroy(vq);
	return rc;
}

void shadow_vq_destroy(struct shadow_vq *vq)
{
	if (vq == NULL)
		return;
	if (vq->req != NULL)
		for (uint32_t i = 0; i < vq->num; i++)
			if (vq->req[i].in_flight)
				req_release(vq, (uint16_t)i);
	if (vq->ring_nr_blk != 0)
		bm_free(&vq->m->blocks, vq->ring_blk, vq->ring_nr_blk);
	vq_unmap_guest(vq);
	bm_fini(&vq->seg_map);
	free(vq->segs);
	free(vq->scratch);
	free(vq->req);
	free(vq->free_next);
	free(vq->g_busy);
	free(vq);
}

void shadow_vq_ring_addr(const struct shadow_vq *vq,
    struct shadow_ring_addr *a)
{
	a->desc_hva = (uint64_t)(uintptr_t)vq->s_desc;
	a->avail_hva = (uint64_t)(uintptr_t)vq->s_avail;
	a->used_hva = (uint64_t)(uintptr_t)vq->s_used;
}

uint16_t shadow_vq_last_avail(const struct shadow_vq *vq)
{
	return vq->last_avail;
}

unsigned shadow_vq_inflight(const struct shadow_vq *vq)
{
	return vq->inflight;
}

int shadow_vq_backend_restart(struct shadow_vq *vq)
{
	unsigned nr = 0;

	/*
	 * The back-end that held the ring is gone: whatever it wrote to the
	 * shadow used ring is void. Start both rings over at index 0 and post
	 * every request still in flight again (descriptors and bounce data
	 * are ours and intact). The new back-end starts at avail index 0.
	 */
	memset(vq->s_avail, 0, (size_t)g_avail_len(vq->num));
	memset(vq->s_used, 0, (size_t)g_used_len(vq->num));
	vq->s_avail_idx = 0;
	vq->s_last_used = 0;
	for (uint32_t sh = 0; sh < vq->num; sh++) {
		if (!vq->req[sh].in_flight)
			continue;
		st16(vq->s_avail + AVAIL_RING(vq->s_avail_idx & (vq->num - 1)),
		    (uint16_t)sh);
		vq->s_avail_idx++;
		nr++;
	}
	__atomic_thread_fence(__ATOMIC_RELEASE);
	st16(vq->s_avail + AVAIL_IDX, vq->s_avail_idx);
	return (int)nr;
}
