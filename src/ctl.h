/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ctl: the control socket. A client connects, sends one request line and
 * reads the answer until EOF:
 *   "status"       guests, devices, queues, back-end state and counters,
 *                  as text
 *   "status json"  the same as one JSON object
 * Anything else is answered with "error: unknown request".
 */
#ifndef XVD_CTL_H
#define XVD_CTL_H

#include <stdbool.h>
#include <stdio.h>

struct xvd_guest;

/* Walks every served guest: cb(guest, arg) for each. */
typedef void (*ctl_foreach_fn)(void (*cb)(struct xvd_guest *g, void *arg),
    void *arg);

int ctl_start(const char *path, ctl_foreach_fn foreach);
void ctl_stop(void);

/* The status report (exposed for tests). */
void ctl_write_status(FILE *f, bool json, ctl_foreach_fn foreach);

#endif
