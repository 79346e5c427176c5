/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * evloop: the only module that includes libevent. Others register fd
 * watches and timers through these calls.
 */
#ifndef XVD_EVLOOP_H
#define XVD_EVLOOP_H

#include <stdbool.h>

struct evloop_watch;
typedef void (*evloop_cb)(int fd, void *arg);

int evloop_init(void);
void evloop_fini(void);
/* Persistent read watch on @fd; NULL on failure. */
struct evloop_watch *evloop_watch_add(int fd, evloop_cb cb, void *arg);
void evloop_watch_del(struct evloop_watch *w);
/* One-shot timer after @ms milliseconds (@fd passed as -1). */
struct evloop_watch *evloop_timer_add(unsigned ms, evloop_cb cb, void *arg);
/* Persistent signal watch (SIGTERM, SIGINT, SIGHUP). */
struct evloop_watch *evloop_signal_add(int sig, evloop_cb cb, void *arg);
int evloop_run(void);
void evloop_break(void);

#endif
