/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * One logging API with OpenBSD vmd semantics: log_warn appends strerror(errno),
 * log_warnx does not; fatal/fatalx only at startup or for impossibilities.
 * log_ratelimited() gates messages a guest or back-end can trigger at will.
 */
#ifndef XVD_LOG_H
#define XVD_LOG_H

#include <stdbool.h>
#include <stdint.h>

enum log_level { LOG_LVL_ERR, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

void log_init(enum log_level level, bool use_syslog);
void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* Parses "err", "warn", "info", "debug"; returns -1 when unknown. */
int log_level_parse(const char *s);

void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void fatal(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));

/*
 * A rate limit for messages caused by untrusted peers: at most @burst per
 * second per limiter. Returns true when the message may be logged.
 */
struct log_rl {
	uint64_t window_start_ms;
	unsigned count;
	unsigned suppressed;
};
bool log_ratelimited(struct log_rl *rl);

#endif
