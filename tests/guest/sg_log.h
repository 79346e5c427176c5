/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * sg_log: diagnostics of the simulated guest. Every failure the library
 * detects is explained once on stderr, where it is detected, and reported
 * up as a negative errno; callers add context but never repeat the cause.
 */
#ifndef SG_LOG_H
#define SG_LOG_H

#include <stdbool.h>

/* "simguest: <message>\n" on stderr. */
void sg_errx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Same, with ": strerror(-err)" appended. Returns @err (negative errno). */
int sg_err(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Debug trace on stderr when enabled (simguest -v, or SG_DEBUG=1). */
void sg_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void sg_log_set_debug(bool on);

#endif
