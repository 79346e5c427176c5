/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Small helpers: checked arithmetic, fd handling, time. */
#ifndef XVD_UTIL_H
#define XVD_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* [off, off+len) lies inside [0, limit) without overflow. */
static inline bool range_ok(uint64_t off, uint64_t len, uint64_t limit)
{
	return len <= limit && off <= limit - len;
}

static inline bool add_overflows_u64(uint64_t a, uint64_t b, uint64_t *sum)
{
	return __builtin_add_overflow(a, b, sum);
}

static inline bool is_pow2(uint64_t v)
{
	return v != 0 && (v & (v - 1)) == 0;
}

/* close() that keeps errno and ignores -1; sets *fd to -1. */
void fd_close(int *fd);
int fd_set_nonblock(int fd);
int fd_set_cloexec(int fd);
/*
 * A listening Unix socket of @type (SOCK_STREAM, SOCK_SEQPACKET) at @path,
 * replacing a stale one, with permissions @mode (0: as the umask leaves
 * them); non-blocking, close-on-exec.
 * Returns the fd or -errno.
 */
int fd_unix_listen(const char *path, int type, unsigned mode);
/* Monotonic clock in milliseconds. */
uint64_t now_ms(void);

#endif
