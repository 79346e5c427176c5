/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests for shadow virtqueues (src/vq/shadow.c).
 *
 * The test plays both peers: the guest driver writes its split ring in a
 * fake guest RAM (a heap buffer at T_GPA_BASE reached through counting mem
 * ops), and the back-end reads and writes the shadow ring in shadow memory.
 * Guest data areas are filled with a canary byte and mirrored in an
 * "expected" copy; after every test the data area must equal the mirror, so
 * any stray write shows up.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <linux/virtio_ring.h>

#include "util.h"
#include "vq/shadow.h"

#define T_GPA_BASE	UINT64_C(0x40000000)
#define T_RAM_LEN	(1u << 20)
#define T_DESC_OFF	0x0000u		/* up to num 256 */
#define T_AVAIL_OFF	0x1000u
#define T_USED_OFF	0x2000u
#define T_INDIR_OFF	0x4000u		/* indirect tables, 0x1000 each */
#define T_DATA_OFF	0x10000u	/* data buffers, 0x1000-byte slots */
#define T_SLOT_LEN	0x1000u
#define T_CANARY	0xcc
#define T_NUM		16u
#define T_SHADOW_LEN	(256u << 10)

#define GPA(off)	(T_GPA_BASE + (off))
#define SLOT(n)		GPA(T_DATA_OFF + (n) * T_SLOT_LEN)
#define INDIR(n)	GPA(T_INDIR_OFF + (n) * 0x1000u)

static uint8_t *ram;		/* fake guest RAM */
static uint8_t *expect;		/* what the data area must hold */
static int maps_out;		/* map() calls not yet unmapped */
static unsigned maps_total;
static unsigned maps_writable;	/* map() calls asking for write access */

/* ---- fake guest memory ------------------------------------------------- */

static void *t_map(void *ctx, uint64_t gpa, uint64_t len, bool writable,
    void **cookie)
{
	(void)ctx;
	if (gpa < T_GPA_BASE || !range_ok(gpa - T_GPA_BASE, len, T_RAM_LEN))
		return NULL;
	maps_out++;
	maps_total++;
	maps_writable += writable;
	*cookie = &maps_out;
	return ram + (gpa - T_GPA_BASE);
}

static void t_unmap(void *ctx, void *cookie)
{
	(void)ctx;
	assert_ptr_equal(cookie, &maps_out);
	maps_out--;
	assert_true(maps_out >= 0);
}

static const struct vq_mem_ops t_mem_ops = {
	.map = t_map,
	.unmap = t_unmap,
};

static uint8_t *g(uint64_t gpa)
{
	return ram + (gpa - T_GPA_BASE);
}

static uint8_t *gx(uint64_t gpa)
{
	return expect + (gpa - T_GPA_BASE);
}

static uint16_t rd16(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, 2);
	return v;
}

static uint32_t rd32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

static uint64_t rd64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return v;
}

static void wr16(uint8_t *p, uint16_t v)
{
	memcpy(p, &v, 2);
}

static void wr32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

static void wr64(uint8_t *p, uint64_t v)
{
	memcpy(p, &v, 8);
}

/* ---- fixture ----------------------------------------------------------- */

struct t {
	struct shadow_mem *m;
	struct shadow_vq *vq;
	struct shadow_vq_cfg cfg;
	uint32_t num;
	/* guest driver */
	uint16_t g_avail_idx;
	/* back-end */
	uint8_t *s_desc, *s_avail, *s_used;
	uint16_t be_last_avail, be_used_idx;
};

static int setup(void **state)
{
	ram = malloc(T_RAM_LEN);
	expect = malloc(T_RAM_LEN);
	assert_non_null(ram);
	assert_non_null(expect);
	memset(ram, 0, T_DATA_OFF);
	memset(ram + T_DATA_OFF, T_CANARY, T_RAM_LEN - T_DATA_OFF);
	memcpy(expect, ram, T_RAM_LEN);
	maps_out = 0;
	maps_total = 0;
	maps_writable = 0;
	*state = NULL;
	return 0;
}

static int teardown(void **state)
{
	/* Nothing outside the buffers the back-end filled was written. */
	assert_memory_equal(ram + T_DATA_OFF, expect + T_DATA_OFF,
	    T_RAM_LEN - T_DATA_OFF);
	free(ram);
	free(expect);
	ram = expect = NULL;
	return 0;
}

static void t_open_mem(struct t *t, size_t shadow_len, uint32_t num,
    bool event_idx, bool indirect)
{
	struct shadow_ring_addr a;
	int rc;

	memset(t, 0, sizeof(*t));
	t->num = num;
	assert_int_equal(shadow_mem_create(shadow_len, "test-shadow", &t->m), 0);
	assert_true(shadow_mem_fd(t->m) >= 0);
	assert_true(shadow_mem_size(t->m) >= shadow_len);
	assert_int_equal(shadow_mem_size(t->m) % 4096, 0);
	t->cfg = (struct shadow_vq_cfg){
		.index = 0, .name = "test", .num = num,
		.desc_gpa = GPA(T_DESC_OFF), .avail_gpa = GPA(T_AVAIL_OFF),
		.used_gpa = GPA(T_USED_OFF), .event_idx = event_idx,
		.indirect = indirect, .mem = &t_mem_ops, .mem_ctx = NULL,
	};
	rc = shadow_vq_create(t->m, &t->cfg, &t->vq);
	assert_int_equal(rc, 0);
	assert_int_equal(maps_out, 3);
	shadow_vq_ring_addr(t->vq, &a);
	t->s_desc = (uint8_t *)(uintptr_t)a.desc_hva;
	t->s_avail = (uint8_t *)(uintptr_t)a.avail_hva;
	t->s_used = (uint8_t *)(uintptr_t)a.used_hva;
	/* The ring lies inside shadow memory, aligned. */
	assert_true(t->s_desc >= shadow_mem_hva(t->m));
	assert_true(t->s_used + 6 + 8 * num <=
	    shadow_mem_hva(t->m) + shadow_mem_size(t->m));
	assert_int_equal(a.desc_hva % 16, 0);
	assert_int_equal(a.avail_hva % 2, 0);
	assert_int_equal(a.used_hva % 4, 0);
	assert_int_equal(shadow_mem_in_use(t->m), 0);
}

static void t_open(struct t *t, bool event_idx, bool indirect)
{
	t_open_mem(t, T_SHADOW_LEN, T_NUM, event_idx, indirect);
}

static void t_close(struct t *t)
{
	shadow_vq_destroy(t->vq);
	assert_int_equal(maps_out, 0);
	assert_int_equal(shadow_mem_in_use(t->m), 0);
	shadow_mem_destroy(t->m);
}

/* ---- guest driver side ------------------------------------------------- */

static void g_desc(uint32_t i, uint64_t addr, uint32_t len, uint16_t flags,
    uint16_t next)
{
	uint8_t *p = g(GPA(T_DESC_OFF)) + 16 * i;

	wr64(p, addr);
	wr32(p + 8, len);
	wr16(p + 12, flags);
	wr16(p + 14, next);
}

static void g_idesc(uint64_t table, uint32_t i, uint64_t addr, uint32_t len,
    uint16_t flags, uint16_t next)
{
	uint8_t *p = g(table) + 16 * i;

	wr64(p, addr);
	wr32(p + 8, len);
	wr16(p + 12, flags);
	wr16(p + 14, next);
}

static void g_push(struct t *t, uint16_t head)
{
	uint8_t *av = g(GPA(T_AVAIL_OFF));

	wr16(av + 4 + 2 * (t->g_avail_idx % t->num), head);
	t->g_avail_idx++;
	wr16(av + 2, t->g_avail_idx);
}

static uint16_t g_used_idx(void)
{
	return rd16(g(GPA(T_USED_OFF)) + 2);
}

static void g_used_elem(struct t *t, uint16_t i, uint32_t *id, uint32_t *len)
{
	const uint8_t *e = g(GPA(T_USED_OFF)) + 4 + 8 * (i % t->num);

	*id = rd32(e);
	*len = rd32(e + 4);
}

static void g_set_used_event(struct t *t, uint16_t v)
{
	wr16(g(GPA(T_AVAIL_OFF)) + 4 + 2 * t->num, v);
}

static uint16_t g_avail_event(struct t *t)
{
	return rd16(g(GPA(T_USED_OFF)) + 4 + 8 * t->num);
}

/* Fills a guest buffer with a pattern seeded by @seed (and mirrors it). */
static void g_fill(uint64_t gpa, uint32_t len, uint8_t seed)
{
	for (uint32_t i = 0; i < len; i++)
		g(gpa)[i] = (uint8_t)(seed + i * 7);
	memcpy(gx(gpa), g(gpa), len);
}

/* ---- back-end side ----------------------------------------------------- */

struct be_req {
	uint16_t id;
	uint8_t *out;
	uint32_t out_len;
	uint8_t *in;
	uint32_t in_len;
	unsigned nr_desc;
};

static uint8_t *be_xlate(struct t *t, uint64_t iova, uint32_t len)
{
	uint64_t off;

	assert_true(iova >= SHADOW_IOVA_BASE);
	off = iova - SHADOW_IOVA_BASE;
	assert_true(range_ok(off, len, shadow_mem_size(t->m)));
	return shadow_mem_hva(t->m) + off;
}

/* Takes the next shadow avail entry; checks its chain is (out)(in). */
static bool be_pop(struct t *t, struct be_req *r)
{
	uint16_t idx = rd16(t->s_avail + 2), d;

	memset(r, 0, sizeof(*r));
	if (idx == t->be_last_avail)
		return false;
	d = rd16(t->s_avail + 4 + 2 * (t->be_last_avail % t->num));
	t->be_last_avail++;
	assert_true(d < t->num);
	r->id = d;
	for (;;) {
		const uint8_t *p = t->s_desc + 16 * d;
		uint64_t addr = rd64(p);
		uint32_t len = rd32(p + 8);
		uint16_t flags = rd16(p + 12);

		assert_true(++r->nr_desc <= 2);
		assert_int_equal(flags & VRING_DESC_F_INDIRECT, 0);
		assert_true(len > 0);
		if (flags & VRING_DESC_F_WRITE) {
			assert_null(r->in);
			r->in = be_xlate(t, addr, len);
			r->in_len = len;
		} else {
			assert_null(r->out);
			assert_null(r->in);
			r->out = be_xlate(t, addr, len);
			r->out_len = len;
		}
		if (!(flags & VRING_DESC_F_NEXT))
			break;
		d = rd16(p + 14);
		assert_true(d < t->num);
	}
	return true;
}

static void be_used(struct t *t, uint32_t id, uint32_t len)
{
	uint8_t *e = t->s_used + 4 + 8 * (t->be_used_idx % t->num);

	wr32(e, id);
	wr32(e + 4, len);
	t->be_used_idx++;
	wr16(t->s_used + 2, t->be_used_idx);
}

static void be_set_avail_event(struct t *t, uint16_t v)
{
	wr16(t->s_used + 4 + 8 * t->num, v);
}

static uint16_t be_used_event(struct t *t)
{
	return rd16(t->s_avail + 4 + 2 * t->num);
}

/* Back-end "device": writes @n pattern bytes into the in buffer. */
static void be_write(struct be_req *r, uint32_t n, uint8_t seed)
{
	assert_true(n <= r->in_len);
	memset(r->in, 0xee, r->in_len);	/* beyond n: must not reach guest */
	for (uint32_t i = 0; i < n; i++)
		r->in[i] = (uint8_t)(seed ^ (i * 13));
}

/* Guest-visible result of be_write(): @n bytes across @nr segments. */
static void expect_written(const uint64_t *gpa, const uint32_t *len,
    unsigned nr, uint32_t n, uint8_t seed)
{
	uint32_t pos = 0;

	for (unsigned s = 0; s < nr && pos < n; s++)
		for (uint32_t i = 0; i < len[s] && pos < n; i++, pos++)
			gx(gpa[s])[i] = (uint8_t)(seed ^ (pos * 13));
}

/* ---- tests: data path -------------------------------------------------- */

static void test_mem_basics(void **state)
{
	struct shadow_mem *m;

	(void)state;
	assert_int_equal(shadow_mem_create(0, "x", &m), -EINVAL);
	assert_null(m);
	assert_int_equal(shadow_mem_create(1, "x", &m), 0);
	assert_int_equal(shadow_mem_size(m), 4096);
	assert_non_null(shadow_mem_hva(m));
	shadow_mem_hva(m)[4095] = 1;
	assert_int_equal(shadow_mem_in_use(m), 0);
	shadow_mem_destroy(m);
	shadow_mem_destroy(NULL);
	shadow_vq_destroy(NULL);
}

static void test_create_errors(void **state)
{
	struct t t;
	struct shadow_vq *vq = (struct shadow_vq *)&t;
	struct shadow_vq_cfg c;

	(void)state;
	t_open(&t, false, false);
	c = t.cfg;
	/* A ring outside guest RAM: -EFAULT and nothing left mapped. */
	c.used_gpa = GPA(T_RAM_LEN - 8);
	assert_int_equal(shadow_vq_create(t.m, &c, &vq), -EFAULT);
	assert_null(vq);
	assert_int_equal(maps_out, 3);
	/* Misaligned, bad size. */
	c = t.cfg;
	c.desc_gpa += 8;
	assert_int_equal(shadow_vq_create(t.m, &c, &vq), -EINVAL);
	c = t.cfg;
	c.num = 12;
	assert_int_equal(shadow_vq_create(t.m, &c, &vq), -EINVAL);
	c.num = 65536;
	assert_int_equal(shadow_vq_create(t.m, &c, &vq), -EINVAL);
	assert_int_equal(maps_out, 3);
	t_close(&t);

	/* No room for the ring: -ENOMEM. num 256 needs 16*256+... > 4096. */
	assert_int_equal(shadow_mem_create(4096, "tiny", &t.m), 0);
	c.num = 256;
	assert_int_equal(shadow_vq_create(t.m, &c, &vq), -ENOMEM);
	assert_int_equal(maps_out, 0);
	shadow_mem_destroy(t.m);
}

/* One request: 2 readable, 2 writable; back-end writes less than reserved. */
static void test_roundtrip(void **state)
{
	uint64_t wg[2] = { SLOT(2), SLOT(3) };
	uint32_t wl[2] = { 64, 64 }, id, len;
	struct be_req r;
	const char *why = NULL;
	struct t t;
	int rc;

	(void)state;
	t_open(&t, false, false);
	g_fill(SLOT(0), 16, 1);
	g_fill(SLOT(1), 100, 2);
	g_desc(5, SLOT(0), 16, VRING_DESC_F_NEXT, 9);
	g_desc(9, SLOT(1), 100, VRING_DESC_F_NEXT, 1);
	g_desc(1, SLOT(2), 64, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 3);
	g_desc(3, SLOT(3), 64, VRING_DESC_F_WRITE, 0);
	g_push(&t, 5);

	rc = shadow_vq_kick(t.vq, &why);
	assert_int_equal(rc, 1);
	assert_null(why);
	assert_int_equal(maps_out, 3);
	/* The rings (used: writable) and the two readable buffers. */
	assert_int_equal(maps_total, 5);
	assert_int_equal(maps_writable, 1);
	assert_int_equal(shadow_vq_inflight(t.vq), 1);
	assert_int_equal(shadow_vq_last_avail(t.vq), 1);
	assert_true(shadow_mem_in_use(t.m) >= 116 + 128);

	assert_true(be_pop(&t, &r));
	assert_false(be_pop(&t, &(struct be_req){ 0 }));
	assert_int_equal(r.nr_desc, 2);
	assert_int_equal(r.out_len, 116);
	assert_int_equal(r.in_len, 128);
	assert_memory_equal(r.out, g(SLOT(0)), 16);
	assert_memory_equal(r.out + 16, g(SLOT(1)), 100);

	/* A second kick with nothing new: nothing to do. */
	assert_int_equal(shadow_vq_kick(t.vq, &why), 0);

	be_write(&r, 100, 0x5a);
	be_used(&t, r.id, 100);
	expect_written(wg, wl, 2, 100, 0x5a);
	rc = shadow_vq_complete(t.vq, &why);
	assert_int_equal(rc, SHADOW_IRQ);
	assert_int_equal(maps_out, 3);
	assert_int_equal(maps_writable, 3);
	assert_int_equal(g_used_idx(), 1);
	g_used_elem(&t, 0, &id, &len);
	assert_int_equal(id, 5);
	assert_int_equal(len, 100);
	assert_int_equal(shadow_vq_inflight(t.vq), 0);
	assert_int_equal(shadow_mem_in_use(t.m), 0);
	/* Bytes 36..63 of the second buffer are untouched. */
	assert_int_equal(g(SLOT(3))[36], T_CANARY);
	assert_memory_equal(g(SLOT(2)), gx(SLOT(2)), 2 * T_SLOT_LEN);

	/* A spurious call: nothing to do, no interrupt. */
	assert_int_equal(shadow_vq_complete(t.vq, &why), 0);
	t_close(&t);
}

/* Out-only and in-only chains, zero-length descriptors skipped. */
static void test_one_direction(void **state)
{
	uint64_t wg[1] = { SLOT(5) };
	uint32_t wl[1] = { 300 }, id, len;
	struct be_req r1, r2;
	const char *why = NULL;
	struct t t;

	(void)state;
	t_open(&t, false, false);
	g_fill(SLOT(4), 40, 9);
	g_desc(0, SLOT(4), 40, VRING_DESC_F_NEXT, 1);
	g_desc(1, SLOT(8), 0, 0, 0);		/* empty, skipped */
	g_desc(2, SLOT(9), 0, VRING_DESC_F_NEXT, 3);	/* empty */
	g_desc(3, SLOT(5), 300, VRING_DESC_F_WRITE, 0);
	g_push(&t, 0);
	g_push(&t, 2);
	assert_int_equal(shadow_vq_kick(t.vq, &why), 1);
	assert_true(be_pop(&t, &r1));
	assert_true(be_pop(&t, &r2));
	assert_int_equal(r1.nr_desc, 1);
	assert_int_equal(r1.out_len, 40);
	assert_null(r1.in);
	assert_memory_equal(r1.out, g(SLOT(4)), 40);
	assert_int_equal(r2.nr_desc, 1);
	assert_null(r2.out);
	assert_int_equal(r2.in_len, 300);

	be_write(&r2, 300, 3);
	be_used(&t, r2.id, 300);
	be_used(&t, r1.id, 0);
	expect_written(wg, wl, 1, 300, 3);
	assert_int_equal(shadow_vq_complete(t.vq, &why), SHADOW_IRQ);
	assert_int_equal(g_used_idx(), 2);
	g_used_elem(&t, 0, &id, &len);
	assert_int_equal(id, 2);
	assert_int_equal(len, 300);
	g_used_elem(&t, 1, &id, &len);
	assert_int_equal(id, 0);
	assert_int_equal(len, 0);
	t_close(&t);
}

/* Many requests, completed out of order, over several ring wraps. */
static void test_many(void **state)
{
	struct be_req r[T_NUM];
	const char *why = NULL;
	struct t t;

	(void)state;
	t_open(&t, false, false);
	for (unsigned round = 0; round < 5; round++) {
		unsigned nr = 0;
		uint16_t used0 = g_used_idx();

		/* 8 requests of 2 descriptors: heads 0,2,..14. */
		for (unsigned i = 0; i < 8; i++) {
			uint16_t h = (uint16_t)(2 * i);

			g_fill(SLOT(2 * i), 10 + i, (uint8_t)(round * 16 + i));
			g_desc(h, SLOT(2 * i), 10 + i, VRING_DESC_F_NEXT,
			    h + 1);
			g_desc(h + 1u, SLOT(2 * i + 1), 200 + i,
			    VRING_DESC_F_WRITE, 0);
			g_push(&t, h);
		}
		assert_int_equal(shadow_vq_kick(t.vq, &why), 1);
		assert_int_equal(shadow_vq_inflight(t.vq), 8);
		while (be_pop(&t, &r[nr]))
			nr++;
		assert_int_equal(nr, 8);
		/* Complete in reverse order, in two batches. */
		for (unsigned k = 0; k < 8; k++) {
			unsigned i = 7 - k;
			uint64_t wg = SLOT(2 * i + 1);
			uint32_t wl = 200 + i, n = 50 + i + round;

			assert_int_equal(r[i].out_len, 10 + i);
			assert_memory_equal(r[i].out, g(SLOT(2 * i)), 10 + i);
			be_write(&r[i], n, (uint8_t)(i + round));
			be_used(&t, r[i].id, n);
			expect_written(&wg, &wl, 1, n, (uint8_t)(i + round));
			if (k == 3 || k == 7)
				assert_int_equal(shadow_vq_complete(t.vq, &why),
				    SHADOW_IRQ);
		}
		assert_int_equal((uint16_t)(g_used_idx() - used0), 8);
		for (unsigned k = 0; k < 8; k++) {
			uint32_t id, len;

			g_used_elem(&t, (uint16_t)(used0 + k), &id, &len);
			assert_int_equal(id, 2 * (7 - k));
			assert_int_equal(len, 50 + (7 - k) + round);
		}
		assert_int_equal(shadow_vq_inflight(t.vq), 0);
		assert_int_equal(shadow_mem_in_use(t.m), 0);
	}
	assert_int_equal(maps_out, 3);
	t_close(&t);
}

/* Indirect: one table alone, and direct descriptors followed by a table. */
static void test_indirect(void **state)
{
	uint64_t wg[2] = { SLOT(11), SLOT(12) }, wg2[1] = { SLOT(14) };
	uint32_t wl[2] = { 8, 1000 }, wl2[1] = { 32 }, id, len;
	struct be_req r1, r2;
	const char *why = NULL;
	struct t t;

	(void)state;
	t_open(&t, false, true);
	g_fill(SLOT(10), 48, 4);
	/* Table of 4, chain 0 -> 2 -> 3, entry 1 unused. */
	g_idesc(INDIR(0), 0, SLOT(10), 48, VRING_DESC_F_NEXT, 2);
	g_idesc(INDIR(0), 2, SLOT(11), 8,
	    VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 3);
	g_idesc(INDIR(0), 3, SLOT(12), 1000, VRING_DESC_F_WRITE, 0);
	g_idesc(INDIR(0), 1, 0, 0, 0, 0);
	/* WRITE on the table descriptor itself is ignored (spec). */
	g_desc(7, INDIR(0), 64, VRING_DESC_F_INDIRECT | VRING_DESC_F_WRITE, 0);
	g_push(&t, 7);

	/* Direct readable, then a table of one writable entry. */
	g_fill(SLOT(13), 20, 8);
	g_desc(0, SLOT(13), 20, VRING_DESC_F_NEXT, 1);
	g_desc(1, INDIR(1), 16, VRING_DESC_F_INDIRECT, 0);
	g_idesc(INDIR(1), 0, SLOT(14), 32, VRING_DESC_F_WRITE, 0);
	g_push(&t, 0);

	assert_int_equal(shadow_vq_kick(t.vq, &why), 1);
	assert_int_equal(maps_out, 3);
	assert_true(be_pop(&t, &r1));
	assert_true(be_pop(&t, &r2));
	assert_int_equal(r1.out_len, 48);
	assert_int_equal(r1.in_len, 1008);
	assert_memory_equal(r1.out, g(SLOT(10)), 48);
	assert_int_equal(r2.out_len, 20);
	assert_int_equal(r2.in_len, 32);
	assert_memory_equal(r2.out, g(SLOT(13)), 20);

	be_write(&r1, 1008, 0x11);
	be_used(&t, r1.id, 1008);
	expect_written(wg, wl, 2, 1008, 0x11);
	be_write(&r2, 31, 0x22);
	be_used(&t, r2.id, 31);
	expect_written(wg2, wl2, 1, 31, 0x22);
	assert_int_equal(shadow_vq_complete(t.vq, &why), SHADOW_IRQ);
	assert_int_equal(maps_out, 3);
	g_used_elem(&t, 0, &id, &len);
	assert_int_equal(id, 7);
	assert_int_equal(len, 1008);
	g_used_elem(&t, 1, &id, &len);
	assert_int_equal(id, 0);
	assert_int_equal(len, 31);
	t_close(&t);
}

/* An indirect table at an odd address is read byte by byte, same result. */
static void test_indirect_misaligned(void **state)
{
	uint64_t tbl = INDIR(2) + 5, wg[1] = { SLOT(16) };
	uint32_t wl[1] = { 77 }, id, len;
	struct be_req r;
	const char *why = NULL;
	struct t t;

	(void)state;
	t_open(&t, false, true);
	g_fill(SLOT(15), 33, 0x42);
	g_idesc(tbl, 0, SLOT(15), 33, VRING_DESC_F_NEXT, 1);
	g_idesc(tbl, 1, SLOT(16), 77, VRING_DESC_F_WRITE, 0);
	g_desc(4, tbl, 32, VRING_DESC_F_INDIRECT, 0);
	g_push(&t, 4);
	assert_int_equal(shadow_vq_kick(t.vq, &why), 1);
	assert_true(be_pop(&t, &r));
	assert_int_equal(r.out_len, 33);
	assert_int_equal(r.in_len, 77);
	assert_memory_equal(r.out, g(SLOT(15)), 33);
	be_write(&r, 77, 0x24);
	be_used(&t, r.id, 77);
	expect_written(wg, wl, 1, 77, 0x24);
	assert_int_equal(shadow_vq_complete(t.vq, &why), SHADOW_IRQ);
	g_used_elem(&t, 0, &id, &len);
	assert_int_equal(id, 4);
	assert_int_equal(len, 77);
	t_close(&t);
}

/* Post one out-only request at head @h (descriptor @h). */
static void post_simple(struct t *t, uint16_t h)
{
	g_fill(SLOT(h), 8, (uint8_t)h);
	g_desc(h, SLOT(h), 8, 0, 0);
	g_push(t, h);
}

/* Back-end notification suppression: flags without, avail_event with. */
static void test_kick_suppression(void **state)
{
	struct be_req r;
	const char *why = NULL;
	struct t t;

	(void)state;
	t_open(&t, false, false);
	wr16(t.s_used, VRING_USED_F_NO_NOTIFY);
	post_simple(&t, 0);
	assert_int_equal(shadow_vq_kick(t.vq, &why), 0);
	wr16(t.s_used, 0);
	post_simple(&t, 1);
	assert_int_equal(shadow_vq_kick(t.vq, &why), 1);
	/* The shadow avail flags stay 0: we want every interrupt. */
	assert_int_equal(rd16(t.s_avail), 0);
	while (be_pop(&t, &r))
		be_used(&t, r.id, 0);
	assert_int_equal(shadow_vq_complete(t.vq, &why), SHADOW_IRQ);
	t_close(&t);

	t_open(&t, true, false);
	/* Kick wanted once avail idx passes 2: 0->1 and 1->2 are quiet. */
	be_set_avail_event(&t, 2);
	post_simple(&t, 0);
	assert_int_equal(shadow_vq_kick(t.vq, &why), 0);
	/* The guest is asked to kick for the next entry. */
	assert_int_equal(g_avail_event(&t), 1);
	post_simple(&t, 1);
	assert_int_equal(shadow_vq_kick(t.vq, &why), 0);
	assert_int_equal(g_avail_event(&t), 2);
	/* 2 -> 4 crosses the event: kick. */
	post_simple(&t, 2);
	post_simple(&t, 3);
	assert_int_equal(shadow_vq_kick(t.vq, &why), 1);
	assert_int_equal(g_avail_event(&t), 4);
	/* The used ring's flags are ignored with event idx. */
	wr16(t.s_used, VRING_USED_F_NO_NOTIFY);
	be_set_avail_event(&t, 4);
	post_simple(&t, 4);
	assert_int_equal(shadow_vq_kick(t.vq, &why), 1);
	while (be_pop(&t, &r))
		be_used(&t, r.id, 0);
	assert_int_equal(shadow_vq_complete(t.vq, &why), SHADOW_IRQ);
	/* We asked the back-end to interrupt us for the next used entry. */
	assert_int_equal(be_used_event(&t), 5);
	assert_int_equal(g_used_idx(), 5);
	t_close(&t);
}

/* Guest interrupt suppression: used_event with event idx. */
static void test_irq_event_idx(void **state)
{
	struct be_req r[4];
	const char *why = NULL;
	struct t t;

	(void)state;
	t_open(&t, true, false);
	for (uint16_t h = 0; h < 4; h++)
		post_simple(&t, h);
	assert_int_equal(shadow_vq_kick(t.vq, &why), 1);
	for (unsigned i = 0; i < 4; i++)
		assert_true(be_pop(&t, &r[i]));
	/* Interrupt when the used entry at index 1 is written (idx -> 2). */
	g_set_used_event(&t, 1);
	be_used(&t, r[0].id, 0);
	assert_int_equal(shadow_vq_complete(t.vq, &why), 0);
	assert_int_equal(be_used_event(&t), 1);
	be_used(&t, r[1].id, 0);
	assert_int_equal(shadow_vq_complete(t.vq, &why), SHADOW_IRQ);
	/* used_event 1 is behind now: 2 -> 4 does not cross it. */
	be_used(&t, r[2].id, 0);
	be_used(&t, r[3].id, 0);
	assert_int_equal(shadow_vq_complete(t.vq, &why), 0);
	assert_int_equal(g_used_idx(), 4);
	assert_int_equal(be_used_event(&t), 4);
	/* avail flags are ignored with event idx. */
	wr16(g(GPA(T_AVAIL_OFF)), VRING_AVAIL_F_NO_INTERRUPT);
	g_set_used_event(&t, 4);
	be_set_avail_event(&t, 4);	/* the back-end wants the next kick */
	post_simple(&t, 0);
	assert_int_equal(shadow_vq_kick(t.vq, &why), 1);
	assert_true(be_pop(&t, &r[0]));
	be_used(&t, r[0].id, 0);
	assert_int_equal(shadow_vq_complete(t.vq, &why), SHADOW_IRQ);
	t_close(&t);
}

static void test_no_interrupt_flag(void **state)
{
	struct be_req r;
	const char *why = NULL;
	struct t t;

	(void)state;
	t_open(&t, false, false);
	wr16(g(GPA(T_AVAIL_OFF)), VRING_AVAIL_F_NO_INTERRUPT);
	post_simple(&t, 0);
	assert_int_equal(shadow_vq_kick(t.vq, &why), 1);
	assert_true(be_pop(&t, &r));
	be_used(&t, r.id, 0);
	assert_int_equal(shadow_vq_complete(t.vq, &why), 0);
	assert_int_equal(g_used_idx(), 1);
	wr16(g(GPA(T_AVAIL_OFF)), 0);
	post_simple(&t, 1);
	assert_int_equal(shadow_vq_kick(t.vq, &why), 1);
	assert_true(be_pop(&t, &r));
	be_used(&t, r.id, 0);
	assert_int_equal(shadow_vq_complete(t.vq, &why), SHADOW_IRQ);
	t_close(&t);
}

/* Tiny shadow memory: kick posts what fits, completions post the rest. */
static void test_backpressure(void **state)
{
	const unsigned nr = 7, in_len = 1024;
	struct be_req r[8];
	const char *why = NULL;
	unsigned posted = 0, done = 0, peak = 0;
	struct t t;
	int rc;

	(void)state;
	/*
	 * 16 blocks of 256: the ring of 16 takes 2 (desc 256, avail 38, used
	 * at 320 + 134); a request takes 5 (out 16 -> 64, in 1024): 2 fit.
	 */
	t_open_mem(&t, 4096, 16, false, false);
	for (unsigned i = 0; i < nr; i++) {
		uint16_t h = (uint16_t)(2 * i);

		g_fill(SLOT(2 * i), 16, (uint8_t)(0x30 + i));
		g_desc(h, SLOT(2 * i), 16, VRING_DESC_F_NEXT, (uint16_t)(h + 1));
		g_desc(h + 1u, SLOT(2 * i + 1), in_len, VRING_DESC_F_WRITE, 0);
		g_push(&t, h);
	}
	rc = shadow_vq_kick(t.vq, &why);
	assert_int_equal(rc, 1);
	assert_null(why);
	posted = shadow_vq_inflight(t.vq);
	assert_int_equal(posted, 2);
	assert_int_equal(shadow_vq_last_avail(t.vq), 2);
	/* A kick while full posts nothing and is no error. */
	assert_int_equal(shadow_vq_kick(t.vq, &why), 0);
	assert_int_equal(shadow_vq_last_avail(t.vq), 2);

	while (done < nr) {
		unsigned got = 0;

		while (be_pop(&t, &r[got]))
			got++;
		assert_true(got > 0);
		for (unsigned k = 0; k < got; k++) {
			unsigned i;
			uint64_t wg;
			uint32_t wl = in_len, n = 100 + done;

			/* Identify the request by its out bytes. */
			for (i = 0; i < nr; i++)
				if (memcmp(r[k].out, g(SLOT(2 * i)), 16) == 0)
					break;
			assert_true(i < nr);
			wg = SLOT(2 * i + 1);
			be_write(&r[k], n, (uint8_t)i);
			be_used(&t, r[k].id, n);
			expect_written(&wg, &wl, 1, n, (uint8_t)i);
			done++;
		}
		if (shadow_vq_inflight(t.vq) > peak)
			peak = shadow_vq_inflight(t.vq);
		rc = shadow_vq_complete(t.vq, &why);
		assert_true(rc >= 0);
		assert_true(rc & SHADOW_IRQ);
		if (done < nr)
			assert_true(rc & SHADOW_KICK);
		assert_int_equal(maps_out, 3);
	}
	assert_true(peak <= 2);
	assert_int_equal(g_used_idx(), nr);
	for (unsigned k = 0; k < nr; k++) {
		uint32_t id, len;

		g_used_elem(&t, (uint16_t)k, &id, &len);
		assert_true(id % 2 == 0 && id < 2 * nr);
		assert_int_equal(len, 100 + k);
	}
	assert_int_equal(shadow_vq_inflight(t.vq), 0);
	assert_int_equal(shadow_mem_in_use(t.m), 0);
	t_close(&t);
}

/*
 * Writable segments of requests in flight are kept per queue (4 per entry):
 * tables of 1 readable + 15 writable entries fit 4 at a time in a queue of
 * 16; the fifth waits for a completion.
 */
static void test_backpressure_segments(void **state)
{
	struct be_req r[5];
	const char *why = NULL;
	unsigned got = 0;
	struct t t;

	(void)state;
	t_open(&t, false, true);
	for (uint16_t h = 0; h < 5; h++) {
		g_fill(SLOT(h * 16u), 4, (uint8_t)h);
		g_idesc(INDIR(h), 0, SLOT(h * 16u), 4, VRING_DESC_F_NEXT, 1);
		for (uint16_t i = 1; i < 16; i++)
			g_idesc(INDIR(h), i, SLOT(h * 16u + i), 4,
			    VRING_DESC_F_WRITE |
			    (i < 15 ? VRING_DESC_F_NEXT : 0), (uint16_t)(i + 1));
		g_desc(h, INDIR(h), 256, VRING_DESC_F_INDIRECT, 0);
		g_push(&t, h);
	}
	assert_int_equal(shadow_vq_kick(t.vq, &why), 1);
	assert_int_equal(shadow_vq_inflight(t.vq), 4);
	while (be_pop(&t, &r[got]))
		got++;
	assert_int_equal(got, 4);
	/* Complete the second: its segments go to the fifth. */
	for (unsigned i = 0; i < 60; i++)
		r[1].in[i] = (uint8_t)(0x80 + i);
	be_used(&t, r[1].id, 60);
	for (unsigned i = 0; i < 15; i++)
		memcpy(gx(SLOT(16u + 1 + i)), r[1].in + 4 * i, 4);
	assert_int_equal(shadow_vq_complete(t.vq, &why),
	    SHADOW_IRQ | SHADOW_KICK);
	assert_true(be_pop(&t, &r[4]));
	assert_memory_equal(r[4].out, g(SLOT(64)), 4);
	assert_int_equal(r[4].in_len, 60);
	/* The rest complete with nothing written. */
	be_used(&t, r[0].id, 0);
	be_used(&t, r[2].id, 0);
	be_used(&t, r[3].id, 0);
	be_used(&t, r[4].id, 0);
	assert_int_equal(shadow_vq_complete(t.vq, &why), SHADOW_IRQ);
	assert_int_equal(g_used_idx(), 5);
	assert_int_equal(maps_out, 3);
	t_close(&t);
}

/*
 * The bounce allocator reuses holes: 15 requests of 64 blocks fill 256 KiB
 * (the ring has 2 blocks); the sixteenth fits only once one completes.
 */
static void test_alloc_holes(void **state)
{
	struct be_req r[T_NUM];
	const char *why = NULL;
	unsigned got = 0;
	struct t t;

	(void)state;
	t_open(&t, false, false);
	for (uint16_t h = 0; h < T_NUM; h++) {
		g_desc(h, SLOT(0), 16384, VRING_DESC_F_WRITE, 0);
		g_push(&t, h);
	}
	assert_int_equal(shadow_vq_kick(t.vq, &why), 1);
	assert_int_equal(shadow_vq_inflight(t.vq), 15);
	assert_int_equal(shadow_mem_in_use(t.m), 15 * 16384);
	while (be_pop(&t, &r[got]))
		got++;
	assert_int_equal(got, 15);
	be_used(&t, r[7].id, 0);
	assert_int_equal(shadow_vq_complete(t.vq, &why),
	    SHADOW_IRQ | SHADOW_KICK);
	assert_true(be_pop(&t, &r[15]));
	/* It took the hole the eighth left. */
	assert_ptr_equal(r[15].in, r[7].in);
	for (unsigned i = 0; i < T_NUM; i++)
		if (i != 7)
			be_used(&t, r[i].id, 0);
	assert_int_equal(shadow_vq_complete(t.vq, &why), SHADOW_IRQ);
	assert_int_equal(g_used_idx(), T_NUM);
	assert_int_equal(shadow_mem_in_use(t.m), 0);
	t_close(&t);
}

/* Shadow descriptors run out: a queue of 4 holds two out+in requests. */
static void test_backpressure_descs(void **state)
{
	struct be_req r[3];
	const char *why = NULL;
	struct t t;

	(void)state;
	t_open_mem(&t, T_SHADOW_LEN, 4, false, false);
	/* Heads 0 and 2 use 0->1 and 2->3; the third reuses 0 after. */
	for (uint16_t h = 0; h < 4; h += 2) {
		g_fill(SLOT(h), 8, (uint8_t)h);
		g_desc(h, SLOT(h), 8, VRING_DESC_F_NEXT, (uint16_t)(h + 1));
		g_desc(h + 1u, SLOT(h + 1u), 8, VRING_DESC_F_WRITE, 0);
		g_push(&t, h);
	}
	assert_int_equal(shadow_vq_kick(t.vq, &why), 1);
	assert_true(be_pop(&t, &r[0]));
	assert_true(be_pop(&t, &r[1]));
	be_used(&t, r[0].id, 0);
	assert_int_equal(shadow_vq_complete(t.vq, &why), SHADOW_IRQ);
	/* Guest reuses head 0 while 2 is in flight, plus a one-desc one. */
	g_push(&t, 0);
	g_desc(1, SLOT(1), 8, VRING_DESC_F_WRITE, 0);
	g_push(&t, 1);
	/* Head 0 needs 2 shadow descriptors: 2 free. Head 1 needs 1: none. */
	assert_int_equal(shadow_vq_kick(t.vq, &why), 1);
	assert_int_equal(shadow_vq_inflight(t.vq), 2);
	assert_int_equal(shadow_vq_last_avail(t.vq), 3);
	assert_true(be_pop(&t, &r[2]));
	be_used(&t, r[1].id, 0);
	assert_int_equal(shadow_vq_complete(t.vq, &why),
	    SHADOW_IRQ | SHADOW_KICK);
	assert_int_equal(shadow_vq_last_avail(t.vq), 4);
	assert_true(be_pop(&t, &r[0]));
	be_used(&t, r[2].id, 0);
	be_used(&t, r[0].id, 0);
	assert_int_equal(shadow_vq_complete(t.vq, &why), SHADOW_IRQ);
	assert_int_equal(g_used_idx(), 4);
	t_close(&t);
}

/* A request that can never fit is an error, not an endless wait. */
static void test_too_big_for_shadow(void **state)
{
	const char *why = NULL;
	struct t t;

	(void)state;
	t_open_mem(&t, 4096, 16, false, false);
	g_desc(0, SLOT(0), 8192, VRING_DESC_F_WRITE, 0);
	g_push(&t, 0);
	assert_int_equal(shadow_vq_kick(t.vq, &why), -ENOSPC);
	assert_non_null(why);
	t_close(&t);
}

/* Requests in flight are released by destroy. */
static void test_destroy_inflight(void **state)
{
	const char *why = NULL;
	struct t t;

	(void)state;
	t_open(&t, true, true);
	for (uint16_t h = 0; h < 4; h++) {
		g_desc(h, SLOT(h), 100, VRING_DESC_F_WRITE, 0);
		g_push(&t, h);
	}
	assert_int_equal(shadow_vq_kick(t.vq, &why), 1);
	assert_int_equal(shadow_vq_inflight(t.vq), 4);
	assert_true(shadow_mem_in_use(t.m) > 0);
	t_close(&t);
}

/*
 * Daemon restart: a new shadow queue over rings a previous xen-vhostd
 * served resumes at the guest's used index: what was made available but
 * not completed is taken (again), nothing completed is redone.
 */
static void test_resume(void **state)
{
	const char *why = NULL;
	struct be_req r;
	uint32_t id, len;
	struct t t;

	(void)state;
	t_open(&t, true, false);
	/* The guest made four requests available... */
	for (uint16_t h = 0; h < 4; h++) {
		g_desc(h, SLOT(h), 100, VRING_DESC_F_WRITE, 0);
		g_push(&t, h);
	}
	/* ...the previous daemon completed head 0 and died. */
	shadow_vq_destroy(t.vq);
	wr32(g(GPA(T_USED_OFF)) + 4, 0);
	wr32(g(GPA(T_USED_OFF)) + 8, 100);
	wr16(g(GPA(T_USED_OFF)) + 2, 1);
	memset(gx(SLOT(0)), T_CANARY, 100);
	t.cfg.resume = true;
	assert_int_equal(shadow_vq_create(t.m, &t.cfg, &t.vq), 0);
	{
		struct shadow_ring_addr a;

		shadow_vq_ring_addr(t.vq, &a);
		t.s_desc = (uint8_t *)(uintptr_t)a.desc_hva;
		t.s_avail = (uint8_t *)(uintptr_t)a.avail_hva;
		t.s_used = (uint8_t *)(uintptr_t)a.used_hva;
	}
	assert_int_equal(g_avail_event(&t), 1);
	assert_int_equal(shadow_vq_kick(t.vq, &why), 1);
	assert_int_equal(shadow_vq_inflight(t.vq), 3);
	for (unsigned i = 0; i < 3; i++) {
		assert_true(be_pop(&t, &r));
		be_write(&r, 100, (uint8_t)(0x10 * i));
		be_used(&t, r.id, 100);
	}
	assert_false(be_pop(&t, &r));
	assert_true(shadow_vq_complete(t.vq, &why) >= 0);
	assert_int_equal(g_used_idx(), 4);
	for (uint16_t i = 1; i < 4; i++) {
		g_used_elem(&t, i, &id, &len);
		assert_int_equal(id, i);	/* heads 1, 2, 3 in order */
		assert_int_equal(len, 100);
		memcpy(gx(SLOT(i)), g(SLOT(i)), 100);
	}
	t_close(&t);
}

/* Resume over indexes no driver can have left: refused. */
static void test_resume_bad_indexes(void **state)
{
	struct shadow_vq *vq;
	struct t t;

	(void)state;
	t_open(&t, false, false);
	wr16(g(GPA(T_AVAIL_OFF)) + 2, T_NUM + 1);
	t.cfg.resume = true;
	assert_int_equal(shadow_vq_create(t.m, &t.cfg, &vq), -EINVAL);
	assert_null(vq);
	t_close(&t);
}

/* Two queues share one shadow memory. */
static void test_two_queues(void **state)
{
	struct shadow_vq *vq2;
	struct shadow_vq_cfg c;
	struct shadow_ring_addr a1, a2;
	const char *why = NULL;
	struct t t;

	(void)state;
	t_open(&t, false, false);
	c = t.cfg;
	c.index = 1;
	c.desc_gpa = GPA(0x8000);
	c.avail_gpa = GPA(0x9000);
	c.used_gpa = GPA(0xa000);
	assert_int_equal(shadow_vq_create(t.m, &c, &vq2), 0);
	shadow_vq_ring_addr(t.vq, &a1);
	shadow_vq_ring_addr(vq2, &a2);
	assert_true(a2.desc_hva >= a1.used_hva + 6 + 8 * T_NUM ||
	    a1.desc_hva >= a2.used_hva + 6 + 8 * T_NUM);
	wr64(g(GPA(0x8000)), SLOT(0));
	wr32(g(GPA(0x8000)) + 8, 64);
	wr16(g(GPA(0x8000)) + 12, VRING_DESC_F_WRITE);
	wr16(g(GPA(0x9000)) + 4, 0);
	wr16(g(GPA(0x9000)) + 2, 1);
	assert_int_equal(shadow_vq_kick(vq2, &why), 1);
	assert_int_equal(shadow_mem_in_use(t.m), 256);
	shadow_vq_destroy(vq2);
	assert_int_equal(maps_out, 3);
	t_close(&t);
}

/* ---- tests: malicious guest -------------------------------------------- */

/* Kick must fail with a reason; nothing posted, nothing leaked. */
static void expect_kick_fails(struct t *t, int err)
{
	const char *why = NULL;
	int rc = shadow_vq_kick(t->vq, &why);

	assert_true(rc < 0);
	if (err != 0)
		assert_int_equal(rc, err);
	assert_non_null(why);
	assert_int_equal(maps_out, 3);
	assert_int_equal(shadow_vq_inflight(t->vq), 0);
	assert_int_equal(shadow_mem_in_use(t->m), 0);
	assert_int_equal(rd16(t->s_avail + 2), 0);
	assert_int_equal(g_used_idx(), 0);
}

static void test_bad_loop(void **state)
{
	struct t t;

	(void)state;
	t_open(&t, false, false);
	g_desc(0, SLOT(0), 8, VRING_DESC_F_NEXT, 1);
	g_desc(1, SLOT(1), 8, VRING_DESC_F_NEXT, 0);
	g_push(&t, 0);
	expect_kick_fails(&t, -EINVAL);
	t_close(&t);

	/* A descriptor pointing at itself. */
	t_open(&t, false, false);
	g_desc(3, SLOT(0), 0, VRING_DESC_F_NEXT, 3);
	g_push(&t, 3);
	expect_kick_fails(&t, -EINVAL);
	t_close(&t);
}

static void test_bad_chain_too_long(void **state)
{
	struct t t;

	(void)state;
	/* 2 direct + a table of 15: 17 buffers for a queue of 16. */
	t_open(&t, false, true);
	g_desc(0, SLOT(0), 8, VRING_DESC_F_NEXT, 1);
	g_desc(1, SLOT(1), 8, VRING_DESC_F_NEXT, 2);
	g_desc(2, INDIR(0), 15 * 16, VRING_DESC_F_INDIRECT, 0);
	for (uint16_t i = 0; i < 15; i++)
		g_idesc(INDIR(0), i, SLOT(2 + i), 8,
		    i < 14 ? VRING_DESC_F_NEXT : 0, (uint16_t)(i + 1));
	g_push(&t, 0);
	expect_kick_fails(&t, -EINVAL);
	t_close(&t);
}

static void test_bad_head(void **state)
{
	struct t t;

	(void)state;
	t_open(&t, false, false);
	g_push(&t, T_NUM);
	expect_kick_fails(&t, -EINVAL);
	t_close(&t);

	t_open(&t, false, false);
	g_push(&t, 0xffff);
	expect_kick_fails(&t, -EINVAL);
	t_close(&t);
}

static void test_bad_next(void **state)
{
	struct t t;

	(void)state;
	t_open(&t, false, false);
	g_desc(0, SLOT(0), 8, VRING_DESC_F_NEXT, T_NUM);
	g_push(&t, 0);
	expect_kick_fails(&t, -EINVAL);
	t_close(&t);
}

static void test_bad_addr(void **state)
{
	struct be_req r;
	const char *why = NULL;
	struct t t;

	(void)state;
	/* A readable buffer outside guest RAM: the kick fails. */
	t_open(&t, false, false);
	g_desc(0, GPA(T_RAM_LEN - 4), 8, VRING_DESC_F_NEXT, 1);
	g_desc(1, SLOT(1), 8, VRING_DESC_F_WRITE, 0);
	g_push(&t, 0);
	expect_kick_fails(&t, -EFAULT);
	t_close(&t);

	t_open(&t, false, false);
	g_desc(0, 0x1000, 8, 0, 0);
	g_push(&t, 0);
	expect_kick_fails(&t, -EFAULT);
	t_close(&t);

	/* A writable one: found at completion, which fails. */
	t_open(&t, false, false);
	g_desc(0, SLOT(0), 8, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 1);
	g_desc(1, GPA(T_RAM_LEN), 8, VRING_DESC_F_WRITE, 0);
	g_push(&t, 0);
	assert_int_equal(shadow_vq_kick(t.vq, &why), 1);
	assert_true(be_pop(&t, &r));
	be_write(&r, 16, 1);
	be_used(&t, r.id, 16);
	why = NULL;
	assert_int_equal(shadow_vq_complete(t.vq, &why), -EFAULT);
	assert_non_null(why);
	assert_int_equal(maps_out, 3);
	assert_int_equal(g_used_idx(), 0);
	/* The first 8 bytes may have reached the first buffer. */
	memcpy(gx(SLOT(0)), g(SLOT(0)), 8);
	t_close(&t);
}

static void test_bad_overflow(void **state)
{
	struct t t;

	(void)state;
	t_open(&t, false, false);
	g_desc(0, UINT64_MAX - 10, 100, 0, 0);
	g_push(&t, 0);
	expect_kick_fails(&t, -EINVAL);
	t_close(&t);

	/* Same for an indirect table's address. */
	t_open(&t, false, true);
	g_desc(0, UINT64_MAX - 10, 32, VRING_DESC_F_INDIRECT, 0);
	g_push(&t, 0);
	expect_kick_fails(&t, -EINVAL);
	t_close(&t);

	/* Chain larger than the byte cap (4 x 4 GiB - 1). */
	t_open(&t, false, false);
	for (uint16_t i = 0; i < 4; i++)
		g_desc(i, SLOT(0), UINT32_MAX, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE,
		    (uint16_t)(i + 1));
	g_desc(4, SLOT(0), 8, VRING_DESC_F_WRITE, 0);
	g_push(&t, 0);
	expect_kick_fails(&t, -EINVAL);
	t_close(&t);
}

static void test_bad_indirect(void **state)
{
	static const uint32_t bad_len[] = { 0, 8, 17, 24, 17 * 16, 0xfffffff0u };
	struct t t;

	(void)state;
	/* Indirect inside indirect. */
	t_open(&t, false, true);
	g_desc(0, INDIR(0), 32, VRING_DESC_F_INDIRECT, 0);
	g_idesc(INDIR(0), 0, SLOT(0), 8, VRING_DESC_F_NEXT, 1);
	g_idesc(INDIR(0), 1, INDIR(1), 16, VRING_DESC_F_INDIRECT, 0);
	g_idesc(INDIR(1), 0, SLOT(1), 8, 0, 0);
	g_push(&t, 0);
	expect_kick_fails(&t, -EINVAL);
	t_close(&t);

	/* Not negotiated. */
	t_open(&t, false, false);
	g_desc(0, INDIR(0), 16, VRING_DESC_F_INDIRECT, 0);
	g_idesc(INDIR(0), 0, SLOT(0), 8, 0, 0);
	g_push(&t, 0);
	expect_kick_fails(&t, -EINVAL);
	t_close(&t);

	/* Bad table lengths. */
	for (unsigned k = 0; k < ARRAY_SIZE(bad_len); k++) {
		t_open(&t, false, true);
		g_desc(0, INDIR(0), bad_len[k], VRING_DESC_F_INDIRECT, 0);
		g_idesc(INDIR(0), 0, SLOT(0), 8, 0, 0);
		g_push(&t, 0);
		expect_kick_fails(&t, -EINVAL);
		t_close(&t);
	}

	/* INDIRECT with NEXT. */
	t_open(&t, false, true);
	g_desc(0, INDIR(0), 16, VRING_DESC_F_INDIRECT | VRING_DESC_F_NEXT, 1);
	g_desc(1, SLOT(1), 8, 0, 0);
	g_idesc(INDIR(0), 0, SLOT(0), 8, 0, 0);
	g_push(&t, 0);
	expect_kick_fails(&t, -EINVAL);
	t_close(&t);

	/* A loop inside the table, and next past the table. */
	t_open(&t, false, true);
	g_desc(0, INDIR(0), 32, VRING_DESC_F_INDIRECT, 0);
	g_idesc(INDIR(0), 0, SLOT(0), 8, VRING_DESC_F_NEXT, 1);
	g_idesc(INDIR(0), 1, SLOT(1), 8, VRING_DESC_F_NEXT, 0);
	g_push(&t, 0);
	expect_kick_fails(&t, -EINVAL);
	t_close(&t);

	t_open(&t, false, true);
	g_desc(0, INDIR(0), 32, VRING_DESC_F_INDIRECT, 0);
	g_idesc(INDIR(0), 0, SLOT(0), 8, VRING_DESC_F_NEXT, 2);
	g_push(&t, 0);
	expect_kick_fails(&t, -EINVAL);
	t_close(&t);

	/* The table itself outside guest RAM. */
	t_open(&t, false, true);
	g_desc(0, GPA(T_RAM_LEN - 16), 32, VRING_DESC_F_INDIRECT, 0);
	g_push(&t, 0);
	expect_kick_fails(&t, -EFAULT);
	t_close(&t);
}

static void test_bad_order(void **state)
{
	struct t t;

	(void)state;
	t_open(&t, false, false);
	g_desc(0, SLOT(0), 8, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 1);
	g_desc(1, SLOT(1), 8, 0, 0);
	g_push(&t, 0);
	expect_kick_fails(&t, -EINVAL);
	t_close(&t);

	/* Writable direct descriptor, then a readable one in a table. */
	t_open(&t, false, true);
	g_desc(0, SLOT(0), 8, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 1);
	g_desc(1, INDIR(0), 16, VRING_DESC_F_INDIRECT, 0);
	g_idesc(INDIR(0), 0, SLOT(1), 8, 0, 0);
	g_push(&t, 0);
	expect_kick_fails(&t, -EINVAL);
	t_close(&t);
}

static void test_bad_avail_jump(void **state)
{
	struct t t;

	(void)state;
	t_open(&t, false, false);
	wr16(g(GPA(T_AVAIL_OFF)) + 2, T_NUM + 1);
	expect_kick_fails(&t, -EINVAL);
	t_close(&t);

	t_open(&t, false, false);
	wr16(g(GPA(T_AVAIL_OFF)) + 2, 0xffff);
	expect_kick_fails(&t, -EINVAL);
	t_close(&t);
}

static void test_bad_empty_chain(void **state)
{
	struct t t;

	(void)state;
	t_open(&t, false, false);
	g_desc(0, SLOT(0), 0, VRING_DESC_F_NEXT, 1);
	g_desc(1, SLOT(1), 0, VRING_DESC_F_WRITE, 0);
	g_push(&t, 0);
	expect_kick_fails(&t, -EINVAL);
	t_close(&t);
}

/* A head still in flight offered again. */
static void test_bad_head_reused(void **state)
{
	const char *why = NULL;
	struct t t;

	(void)state;
	t_open(&t, false, false);
	post_simple(&t, 0);
	assert_int_equal(shadow_vq_kick(t.vq, &why), 1);
	g_push(&t, 0);
	why = NULL;
	assert_int_equal(shadow_vq_kick(t.vq, &why), -EINVAL);
	assert_non_null(why);
	assert_int_equal(shadow_vq_inflight(t.vq), 1);
	t_close(&t);
}

/* A good request before a bad one stays posted; the error is reported. */
static void test_bad_after_good(void **state)
{
	const char *why = NULL;
	struct t t;

	(void)state;
	t_open(&t, false, false);
	post_simple(&t, 0);
	g_push(&t, 20);
	assert_int_equal(shadow_vq_kick(t.vq, &why), -EINVAL);
	assert_non_null(why);
	assert_int_equal(shadow_vq_inflight(t.vq), 1);
	assert_int_equal(rd16(t.s_avail + 2), 1);
	t_close(&t);
}

/* ---- tests: misbehaving back-end --------------------------------------- */

static void post_rw(struct t *t, uint16_t h, uint32_t in_len)
{
	g_fill(SLOT(2 * h), 8, (uint8_t)h);
	g_desc(h, SLOT(2 * h), 8, VRING_DESC_F_NEXT, (uint16_t)(h + 8));
	g_desc(h + 8u, SLOT(2 * h + 1), in_len, VRING_DESC_F_WRITE, 0);
	g_push(t, h);
}

static void expect_complete_fails(struct t *t)
{
	const char *why = NULL;
	int rc = shadow_vq_complete(t->vq, &why);

	assert_true(rc < 0);
	assert_non_null(why);
	assert_int_equal(maps_out, 3);
	assert_int_equal(g_used_idx(), 0);
}

static void test_be_bad_id(void **state)
{
	static const uint32_t bad_id[] = { 5, T_NUM, 1000, UINT32_MAX };
	struct be_req r;
	const char *why = NULL;
	struct t t;

	(void)state;
	for (unsigned k = 0; k < ARRAY_SIZE(bad_id); k++) {
		t_open(&t, false, false);
		post_rw(&t, 0, 64);
		assert_int_equal(shadow_vq_kick(t.vq, &why), 1);
		assert_true(be_pop(&t, &r));
		assert_true(r.id != bad_id[k]);
		be_used(&t, bad_id[k], 0);
		expect_complete_fails(&t);
		assert_int_equal(shadow_vq_inflight(t.vq), 1);
		t_close(&t);
	}

	/* The same id completed twice. */
	t_open(&t, false, false);
	post_rw(&t, 0, 64);
	assert_int_equal(shadow_vq_kick(t.vq, &why), 1);
	assert_true(be_pop(&t, &r));
	be_used(&t, r.id, 0);
	be_used(&t, r.id, 0);
	why = NULL;
	assert_true(shadow_vq_complete(t.vq, &why) < 0);
	assert_non_null(why);
	/* The first completion was published. */
	assert_int_equal(g_used_idx(), 1);
	t_close(&t);
}

static void test_be_bad_len(void **state)
{
	struct be_req r;
	const char *why = NULL;
	struct t t;

	(void)state;
	t_open(&t, false, false);
	post_rw(&t, 0, 64);
	assert_int_equal(shadow_vq_kick(t.vq, &why), 1);
	assert_true(be_pop(&t, &r));
	be_used(&t, r.id, 65);
	expect_complete_fails(&t);
	t_close(&t);

	/* Out-only request: any length is too long. */
	t_open(&t, false, false);
	post_simple(&t, 0);
	assert_int_equal(shadow_vq_kick(t.vq, &why), 1);
	assert_true(be_pop(&t, &r));
	be_used(&t, r.id, UINT32_MAX);
	expect_complete_fails(&t);
	t_close(&t);
}

static void test_be_bad_used_idx(void **state)
{
	struct be_req r;
	const char *why = NULL;
	struct t t;

	(void)state;
	t_open(&t, false, false);
	post_rw(&t, 0, 64);
	assert_int_equal(shadow_vq_kick(t.vq, &why), 1);
	assert_true(be_pop(&t, &r));
	wr16(t.s_used + 2, T_NUM + 1);
	expect_complete_fails(&t);
	t_close(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_mem_basics, setup, teardown),
		cmocka_unit_test_setup_teardown(test_create_errors, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_roundtrip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_one_direction, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_many, setup, teardown),
		cmocka_unit_test_setup_teardown(test_indirect, setup, teardown),
		cmocka_unit_test_setup_teardown(test_indirect_misaligned, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_kick_suppression, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_irq_event_idx, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_no_interrupt_flag, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_backpressure, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_backpressure_segments,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_alloc_holes, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_backpressure_descs, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_too_big_for_shadow, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_destroy_inflight, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_resume, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resume_bad_indexes, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_two_queues, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_bad_loop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_chain_too_long, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_bad_head, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_next, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_addr, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_overflow, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_bad_indirect, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_bad_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_avail_jump, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_bad_empty_chain, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_bad_head_reused, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_bad_after_good, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_be_bad_id, setup, teardown),
		cmocka_unit_test_setup_teardown(test_be_bad_len, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_be_bad_used_idx, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
