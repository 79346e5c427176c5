/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer target for shadow virtqueues (src/vq/shadow.c).
 *
 * The input is a script: one config byte (queue size, event idx, indirect,
 * shadow memory size), then operations played by a hostile guest (writes
 * descriptors, avail entries, ring words, raw bytes) and a hostile back-end
 * (completes popped requests with any length, writes raw used entries,
 * scribbles over the shadow ring). After every call the invariants hold:
 * only the three rings stay mapped, shadow accounting stays in bounds; after
 * destroy nothing is mapped and no bounce buffer is in use. ASan/UBSan
 * catch the rest (guest RAM is an exact-size heap buffer).
 *
 * clang -fsanitize=fuzzer,address,undefined -Isrc -Iinclude \
 *   src/vq/shadow.c src/log.c src/util.c tests/fuzz/fuzz_shadow.c
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <linux/virtio_ring.h>

#include "log.h"
#include "util.h"
#include "vq/shadow.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define F_BASE		UINT64_C(0x40000000)
#define F_RAM_LEN	0x10000u
#define F_DESC		0x0000u		/* num <= 64: 1 KiB */
#define F_AVAIL		0x0400u
#define F_USED		0x0600u
#define F_MAX_POP	64u

static uint8_t *ram;
static int maps_out;

static void *f_map(void *ctx, uint64_t gpa, uint64_t len, bool writable,
    void **cookie)
{
	(void)ctx;
	(void)writable;
	if (gpa < F_BASE || !range_ok(gpa - F_BASE, len, F_RAM_LEN))
		return NULL;
	maps_out++;
	*cookie = &maps_out;
	return ram + (gpa - F_BASE);
}

static void f_unmap(void *ctx, void *cookie)
{
	(void)ctx;
	if (cookie != &maps_out || --maps_out < 0)
		__builtin_trap();
}

static const struct vq_mem_ops f_mem_ops = { .map = f_map, .unmap = f_unmap };

struct in {
	const uint8_t *p;
	size_t left;
};

static uint8_t u8(struct in *in)
{
	if (in->left == 0)
		return 0;
	in->left--;
	return *in->p++;
}

static uint16_t u16(struct in *in)
{
	uint16_t lo = u8(in);

	return (uint16_t)(lo | u8(in) << 8);
}

static uint32_t u32(struct in *in)
{
	uint32_t lo = u16(in);

	return lo | (uint32_t)u16(in) << 16;
}

static void put16(uint8_t *p, uint16_t v)
{
	memcpy(p, &v, 2);
}

static void put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

static uint16_t get16(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, 2);
	return v;
}

static uint32_t get32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return v;
}

struct fz {
	struct shadow_mem *m;
	struct shadow_vq *vq;
	uint32_t num;
	uint8_t *s_desc, *s_avail, *s_used;
	uint16_t g_avail_idx, be_last_avail, be_used_idx;
	uint16_t popped[F_MAX_POP];
	uint32_t popped_in_len[F_MAX_POP];
	unsigned nr_popped;
};

/* A back-end translating shadow addresses defensively. */
static uint8_t *be_xlate(struct fz *f, uint64_t iova, uint32_t len)
{
	if (iova < SHADOW_IOVA_BASE ||
	    !range_ok(iova - SHADOW_IOVA_BASE, len, shadow_mem_size(f->m)))
		return NULL;
	return shadow_mem_hva(f->m) + (iova - SHADOW_IOVA_BASE);
}

static void be_pop(struct fz *f, uint8_t fill)
{
	uint16_t idx = get16(f->s_avail + 2), d;
	uint32_t in_len = 0;

	if (idx == f->be_last_avail || f->nr_popped == F_MAX_POP)
		return;
	d = get16(f->s_avail + 4 + 2 * (f->be_last_avail % f->num));
	f->be_last_avail++;
	if (d >= f->num)
		return;
	f->popped[f->nr_popped] = d;
	for (unsigned k = 0, i = d; k < 2 && i < f->num; k++) {
		const uint8_t *p = f->s_desc + 16 * i;
		uint32_t len = get32(p + 8);
		uint16_t flags = get16(p + 12);
		uint8_t *b = be_xlate(f, get64(p), len);

		if (b != NULL && (flags & VRING_DESC_F_WRITE)) {
			memset(b, fill, len);
			in_len = len;
		}
		if (!(flags & VRING_DESC_F_NEXT))
			break;
		i = get16(p + 14);
	}
	f->popped_in_len[f->nr_popped++] = in_len;
}

static void be_used(struct fz *f, uint32_t id, uint32_t len)
{
	uint8_t *e = f->s_used + 4 + 8 * (f->be_used_idx % f->num);

	put32(e, id);
	put32(e + 4, len);
	f->be_used_idx++;
	put16(f->s_used + 2, f->be_used_idx);
}

static void check(const struct fz *f)
{
	if (maps_out != 3 || shadow_mem_in_use(f->m) > shadow_mem_size(f->m) ||
	    shadow_vq_inflight(f->vq) > f->num)
		__builtin_trap();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_init(LOG_LVL_ERR, false);
	ram = malloc(F_RAM_LEN);
	return ram == NULL ? -1 : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct in in = { data, size };
	struct shadow_vq_cfg cfg;
	struct shadow_ring_addr a;
	struct fz f;
	uint8_t c = u8(&in);
	unsigned steps = 0;

	memset(&f, 0, sizeof(f));
	memset(ram, 0, F_RAM_LEN);
	maps_out = 0;
	f.num = 1u << (c & 7) % 7;			/* 1..64 */
	cfg = (struct shadow_vq_cfg){
		.name = "fuzz", .num = f.num,
		.desc_gpa = F_BASE + F_DESC, .avail_gpa = F_BASE + F_AVAIL,
		.used_gpa = F_BASE + F_USED,
		.event_idx = (c & 8) != 0, .indirect = (c & 16) != 0,
		.mem = &f_mem_ops,
	};
	if (shadow_mem_create(4096u << (c >> 5 & 3), "fuzz", &f.m) < 0)
		return 0;
	if (shadow_vq_create(f.m, &cfg, &f.vq) < 0) {
		if (maps_out != 0)
			__builtin_trap();
		shadow_mem_destroy(f.m);
		return 0;
	}
	shadow_vq_ring_addr(f.vq, &a);
	f.s_desc = (uint8_t *)(uintptr_t)a.desc_hva;
	f.s_avail = (uint8_t *)(uintptr_t)a.avail_hva;
	f.s_used = (uint8_t *)(uintptr_t)a.used_hva;

	while (in.left != 0 && steps++ < 4096) {
		const char *why = NULL;
		uint8_t op = u8(&in);
		int rc = 0;

		switch (op % 12) {
		case 0:
			rc = shadow_vq_kick(f.vq, &why);
			break;
		case 1:
		case 2: {
			/* A descriptor in the table or anywhere in RAM. */
			uint16_t off = op % 12 == 1 ?
			    (uint16_t)(F_DESC + 16 * (u8(&in) % f.num)) :
			    (uint16_t)(u16(&in) % (F_RAM_LEN - 16));
			uint8_t *p = ram + off;
			uint8_t mode = u8(&in);
			uint64_t addr = mode & 1 ? u32(&in) :
			    F_BASE + 0x1000 + u16(&in) % 0xe000;
			uint32_t len = mode & 2 ? u32(&in) : u16(&in) % 0x1000;

			if (mode & 8)
				addr |= (uint64_t)u32(&in) << 32;
			memcpy(p, &addr, 8);
			put32(p + 8, len);
			put16(p + 12, (uint16_t)(u8(&in) & 7));
			put16(p + 14, mode & 4 ? u16(&in) : u8(&in) % f.num);
			break;
		}
		case 3: {
			uint8_t *av = ram + F_AVAIL;
			uint8_t h = u8(&in);

			put16(av + 4 + 2 * (f.g_avail_idx % f.num),
			    h & 0x80 ? (uint16_t)h : (uint16_t)(h % f.num));
			f.g_avail_idx++;
			put16(av + 2, f.g_avail_idx);
			break;
		}
		case 4:
			f.g_avail_idx = u16(&in);
			put16(ram + F_AVAIL + 2, f.g_avail_idx);
			break;
		case 5:
			be_pop(&f, u8(&in));
			break;
		case 6: {
			/* Complete a popped request, usually with a fair length. */
			uint8_t k = u8(&in), mode = u8(&in);
			uint32_t len;

			if (f.nr_popped == 0)
				break;
			k %= f.nr_popped;
			len = mode & 1 ? u32(&in) :
			    (f.popped_in_len[k] != 0 ?
			    u32(&in) % (f.popped_in_len[k] + 1) : 0);
			be_used(&f, f.popped[k], len);
			f.popped[k] = f.popped[f.nr_popped - 1];
			f.popped_in_len[k] = f.popped_in_len[f.nr_popped - 1];
			f.nr_popped--;
			break;
		}
		case 7: {
			uint32_t id = u32(&in);

			be_used(&f, id, u32(&in));
			break;
		}
		case 8:
			rc = shadow_vq_complete(f.vq, &why);
			break;
		case 9: {
			/* Raw guest bytes (ring flags, event words, data). */
			uint16_t off = u16(&in) % F_RAM_LEN;
			uint8_t n = u8(&in) % 16;

			for (uint8_t i = 0; i < n && off + i < F_RAM_LEN; i++)
				ram[off + i] = u8(&in);
			break;
		}
		case 10: {
			/* The back-end scribbles over its view of the ring. */
			uint8_t *base = f.s_desc;
			size_t span = (size_t)(f.s_used - f.s_desc) + 6 +
			    8 * f.num;
			uint16_t off = (uint16_t)(u16(&in) % span);

			base[off] = u8(&in);
			break;
		}
		case 11:
			/* Back-end notification wishes. */
			put16(f.s_used, u8(&in) & 1);
			put16(f.s_used + 4 + 8 * f.num, u16(&in));
			break;
		}
		if (rc < 0) {
			if (why == NULL)
				__builtin_trap();
			break;	/* DEVICE_NEEDS_RESET: the caller stops here */
		}
		if (rc > 3)
			__builtin_trap();
		check(&f);
	}
	shadow_vq_destroy(f.vq);
	if (maps_out != 0 || shadow_mem_in_use(f.m) != 0)
		__builtin_trap();
	shadow_mem_destroy(f.m);
	return 0;
}
