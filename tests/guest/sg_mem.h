/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * sg_mem: guest RAM of a simulated guest. One memfd, mapped here, at a
 * guest-physical base; a bump allocator hands out zeroed, page-aligned
 * blocks that are never freed. The memfd is what a device side maps
 * (xen-vhostd through the simulated Xen, or a vhost-user back-end
 * directly); rings and buffers are given to it as guest-physical
 * addresses.
 *
 * Errors: 0 or a negative errno, the cause printed once (sg_log.h).
 */
#ifndef SG_MEM_H
#define SG_MEM_H

#include <stdint.h>

struct sg_mem {
	int fd;			/* memfd, -1 when not created */
	uint8_t *hva;		/* our mapping of all of it */
	uint64_t gpa;		/* guest-physical address of byte 0 */
	uint64_t len;		/* bytes, multiple of the page size */
	uint64_t next;		/* bump allocator: next free offset */
};

/* @len bytes (multiple of 4096) at guest-physical @gpa; @name for the memfd. */
int sg_mem_create(struct sg_mem *m, const char *name, uint64_t gpa,
    uint64_t len);
/* Unmap and close; safe on a zeroed or failed sg_mem (fd -1 or 0 len). */
void sg_mem_destroy(struct sg_mem *m);

/*
 * sg_mem_alloc - @len bytes of zeroed RAM, page aligned, never freed.
 * Returns our mapping of it and sets *gpa, or NULL (printed) when RAM is
 * exhausted.
 */
void *sg_mem_alloc(struct sg_mem *m, uint64_t len, uint64_t *gpa);
/* [gpa, gpa+len) in our mapping, or NULL if it is not all RAM. */
void *sg_mem_ptr(const struct sg_mem *m, uint64_t gpa, uint64_t len);

#endif
