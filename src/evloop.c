/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdlib.h>

#include <event2/event.h>

#include "evloop.h"

struct evloop_watch {
	struct event *ev;
	evloop_cb cb;
	void *arg;
};

static struct event_base *base;

int evloop_init(void)
{
	base = event_base_new();
	return base != NULL ? 0 : -ENOMEM;
}

void evloop_fini(void)
{
	if (base != NULL)
		event_base_free(base);
	base = NULL;
}

static void trampoline(evutil_socket_t fd, short what, void *arg)
{
	struct evloop_watch *w = arg;

	w->cb((int)fd, w->arg);
}

static struct evloop_watch *watch_new(int fd, short what, evloop_cb cb,
    void *arg, const struct timeval *tv)
{
	struct evloop_watch *w = calloc(1, sizeof(*w));

	if (w == NULL)
		return NULL;
	w->cb = cb;
	w->arg = arg;
	w->ev = event_new(base, fd, what, trampoline, w);
	if (w->ev == NULL || event_add(w->ev, tv) < 0) {
		if (w->ev != NULL)
			event_free(w->ev);
		free(w);
		return NULL;
	}
	return w;
}

struct evloop_watch *evloop_watch_add(int fd, evloop_cb cb, void *arg)
{
	return watch_new(fd, EV_READ | EV_PERSIST, cb, arg, NULL);
}

struct evloop_watch *evloop_timer_add(unsigned ms, evloop_cb cb, void *arg)
{
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };

	return watch_new(-1, 0, cb, arg, &tv);
}

struct evloop_watch *evloop_signal_add(int sig, evloop_cb cb, void *arg)
{
	return watch_new(sig, EV_SIGNAL | EV_PERSIST, cb, arg, NULL);
}

void evloop_watch_del(struct evloop_watch *w)
{
	if (w == NULL)
		return;
	event_free(w->ev);
	free(w);
}

int evloop_run(void)
{
	return event_base_dispatch(base) < 0 ? -EIO : 0;
}

void evloop_break(void)
{
	event_base_loopbreak(base);
}
