/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Guest RAM: one memfd and a bump allocator. */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "sg_log.h"
#include "sg_mem.h"

#define SG_MEM_PAGE	4096u

int sg_mem_create(struct sg_mem *m, const char *name, uint64_t gpa,
    uint64_t len)
{
	void *p;

	memset(m, 0, sizeof(*m));
	m->fd = -1;
	if (len == 0 || len % SG_MEM_PAGE != 0 || gpa % SG_MEM_PAGE != 0 ||
	    gpa > UINT64_MAX - len)
		return sg_err(-EINVAL, "guest RAM of %llu bytes at %#llx",
		    (unsigned long long)len, (unsigned long long)gpa);
	m->fd = memfd_create(name, MFD_CLOEXEC);
	if (m->fd < 0)
		return sg_err(-errno, "memfd for guest RAM");
	if (ftruncate(m->fd, (off_t)len) < 0)
		return sg_err(-errno, "size guest RAM (%llu bytes)",
		    (unsigned long long)len);
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, m->fd, 0);
	if (p == MAP_FAILED)
		return sg_err(-errno, "map guest RAM");
	m->hva = p;
	m->gpa = gpa;
	m->len = len;
	return 0;
}

void sg_mem_destroy(struct sg_mem *m)
{
	if (m->hva != NULL)
		munmap(m->hva, m->len);
	m->hva = NULL;
	if (m->fd >= 0)
		close(m->fd);
	m->fd = -1;
	m->len = m->next = 0;
}

void *sg_mem_ptr(const struct sg_mem *m, uint64_t gpa, uint64_t len)
{
	uint64_t off;

	if (m->hva == NULL || gpa < m->gpa)
		return NULL;
	off = gpa - m->gpa;
	if (len > m->len || off > m->len - len)
		return NULL;
	return m->hva + off;
}

void *sg_mem_alloc(struct sg_mem *m, uint64_t len, uint64_t *gpa)
{
	uint64_t pages = (len + SG_MEM_PAGE - 1) / SG_MEM_PAGE;
	uint64_t bytes = pages * SG_MEM_PAGE;
	uint8_t *p;

	if (len == 0 || pages > m->len / SG_MEM_PAGE ||
	    bytes > m->len - m->next) {
		sg_errx("guest RAM exhausted (%llu bytes wanted, %llu free)",
		    (unsigned long long)len,
		    (unsigned long long)(m->len - m->next));
		return NULL;
	}
	p = m->hva + m->next;
	*gpa = m->gpa + m->next;
	m->next += bytes;
	memset(p, 0, bytes);
	return p;
}
