/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The virtio-msg bus endpoint: one fd, one frame per packet. The two buses
 * differ only in where the fd comes from (a listening socket's accepted
 * connection, or an opened /dev/virtio-msg-N) and whether the FF-A bus
 * messages are answered; reading, dispatch and sending are shared.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "device.h"
#include "evloop.h"
#include "log.h"
#include "util.h"
#include "vmsgep.h"

struct vmsgep_port {
	struct vmsgep *ep;
	uint16_t dev_num;
	const struct vmsgep_port_ops *ops;	/* NULL: nothing bound */
	void *dev;
};

struct vmsgep {
	struct vmsgep_cfg cfg;
	int lfd;			/* socket bus: the listening socket */
	int fd;				/* the driver's connection / the node */
	struct evloop_watch *lw, *w;
	struct vmsg_bus bus;
	struct vmsgep_port port[VMSGEP_MAX_DEVS];
	struct log_rl rl;
	struct vmsgep_stats st;
	uint8_t rx[VMSG_MAX_SIZE + 1];
	uint8_t tx[VMSG_MAX_SIZE];
	/*
	 * Events have their own buffer: a device may signal (NEEDS_RESET)
	 * while the response to the frame that caused it is still in tx.
	 */
	uint8_t ev[VMSG_MAX_SIZE];
};

static enum vmsg_rc dev_frame(void *dev, const uint8_t *in, size_t in_len,
    uint8_t *out, size_t *out_len)
{
	return device_vmsg(dev, in, in_len, out, out_len);
}

static size_t dev_event(void *dev, bool config, uint32_t queue, uint8_t *out,
    size_t cap)
{
	return device_vmsg_event(dev, config, queue, out, cap);
}

static void dev_reset(void *dev)
{
	device_vmsg_reset(dev);
}

const struct vmsgep_port_ops vmsgep_device_ops = {
	.frame = dev_frame,
	.event = dev_event,
	.reset = dev_reset,
};

static const char *const bus_names[] = {
	[VMSGEP_SOCKET] = "socket",
	[VMSGEP_CHARDEV] = "chardev",
};

const char *vmsgep_bus_name(enum vmsgep_bus b)
{
	return (unsigned)b < ARRAY_SIZE(bus_names) ? bus_names[b] : "?";
}

int vmsgep_bus_parse(const char *s, enum vmsgep_bus *out)
{
	for (unsigned i = 0; i < ARRAY_SIZE(bus_names); i++) {
		if (strcmp(s, bus_names[i]) == 0) {
			*out = (enum vmsgep_bus)i;
			return 0;
		}
	}
	return -EINVAL;
}

const struct vmsgep_cfg *vmsgep_cfg(const struct vmsgep *ep)
{
	return &ep->cfg;
}

uint32_t vmsgep_max_msg(const struct vmsgep *ep)
{
	return ep->bus.max_msg;
}

const struct vmsgep_stats *vmsgep_stats(const struct vmsgep *ep)
{
	return &ep->st;
}

bool vmsgep_connected(const struct vmsgep *ep)
{
	return ep->fd >= 0;
}

struct vmsgep_port *vmsgep_port(struct vmsgep *ep, uint16_t dev_num)
{
	if (dev_num == 0 || dev_num > VMSGEP_MAX_DEVS)
		return NULL;
	return &ep->port[dev_num - 1];
}

void vmsgep_bind(struct vmsgep_port *p, const struct vmsgep_port_ops *ops,
    void *dev)
{
	p->ops = ops;
	p->dev = dev;
	vmsg_bus_dev_add(&p->ep->bus, p->dev_num);
}

void vmsgep_unbind_all(struct vmsgep *ep)
{
	for (unsigned i = 0; i < VMSGEP_MAX_DEVS; i++) {
		struct vmsgep_port *p = &ep->port[i];

		if (p->ops == NULL)
			continue;
		vmsg_bus_dev_del(&ep->bus, p->dev_num);
		p->ops = NULL;
		p->dev = NULL;
	}
}

unsigned vmsgep_nr_bound(const struct vmsgep *ep)
{
	unsigned n = 0;

	for (unsigned i = 0; i < VMSGEP_MAX_DEVS; i++)
		n += ep->port[i].ops != NULL;
	return n;
}

static void ep_drop(struct vmsgep *ep, const char *why)
{
	ep->st.dropped++;
	if (log_ratelimited(&ep->rl))
		log_warnx("vmsg %s dom%u: guest: frame dropped: %s",
		    ep->cfg.name, ep->cfg.domid, why);
}

/* Every device back to status 0: its driver is gone. */
static void ep_reset_devices(struct vmsgep *ep)
{
	for (unsigned i = 0; i < VMSGEP_MAX_DEVS; i++)
		if (ep->port[i].ops != NULL)
			ep->port[i].ops->reset(ep->port[i].dev);
}

static void conn_close(struct vmsgep *ep, const char *why)
{
	if (ep->fd < 0)
		return;
	evloop_watch_del(ep->w);
	ep->w = NULL;
	fd_close(&ep->fd);
	log_info("vmsg %s dom%u: driver %s: %s", ep->cfg.name, ep->cfg.domid,
	    ep->cfg.bus == VMSGEP_SOCKET ? "disconnected" : "node closed",
	    why);
	ep_reset_devices(ep);
	/* A new driver starts from nothing: FF-A state too. */
	(void)vmsg_bus_init(&ep->bus, ep->bus.max_msg, ep->bus.ffa);
	for (unsigned i = 0; i < VMSGEP_MAX_DEVS; i++)
		if (ep->port[i].ops != NULL)
			vmsg_bus_dev_add(&ep->bus, ep->port[i].dev_num);
}

static void ep_send(struct vmsgep *ep, const uint8_t *frame, size_t len)
{
	ssize_t n;

	if (ep->fd < 0)
		return;
	if (ep->cfg.bus == VMSGEP_SOCKET)
		n = send(ep->fd, frame, len, MSG_DONTWAIT | MSG_NOSIGNAL);
	else
		n = write(ep->fd, frame, len);
	if (n == (ssize_t)len) {
		ep->st.frames_out++;
		return;
	}
	ep->st.events_lost++;
	if (n < 0 && (errno == EPIPE || errno == ECONNRESET ||
	    errno == ENOTCONN)) {
		conn_close(ep, "send failed");
		return;
	}
	if (log_ratelimited(&ep->rl))
		log_warnx("vmsg %s dom%u: frame of %zu bytes not sent: %s",
		    ep->cfg.name, ep->cfg.domid, len,
		    n < 0 ? strerror(errno) : "short write");
}

/* A device event: sent now, or queued for FF-A EVENT_POLL. */
static void ep_event(struct vmsgep *ep, const uint8_t *frame, size_t len)
{
	int rc;

	if (len == 0) {
		ep->st.events_lost++;
		return;
	}
	ep->st.events++;
	if (!ep->bus.ffa ||
	    (ep->bus.event_configured &&
	    ep->bus.event_method != VMSG_FFA_EV_POLL)) {
		ep_send(ep, frame, len);
		return;
	}
	rc = vmsg_bus_event_push(&ep->bus, frame, len);
	if (rc < 0) {
		ep->st.events_lost++;
		if (rc != -ENOTCONN && log_ratelimited(&ep->rl))
			log_warnx("vmsg %s dom%u: event for device %u lost: %s",
			    ep->cfg.name, ep->cfg.domid,
			    frame[2] | (unsigned)frame[3] << 8, strerror(-rc));
	}
}

void vmsgep_notify_used(void *port, uint32_t queue)
{
	struct vmsgep_port *p = port;
	struct vmsgep *ep = p->ep;

	if (p->ops == NULL)
		return;
	ep_event(ep, ep->ev, p->ops->event(p->dev, false, queue, ep->ev,
	    ep->bus.max_msg));
}

void vmsgep_notify_config(void *port)
{
	struct vmsgep_port *p = port;
	struct vmsgep *ep = p->ep;

	if (p->ops == NULL)
		return;
	ep_event(ep, ep->ev, p->ops->event(p->dev, true, 0, ep->ev,
	    ep->bus.max_msg));
}

void vmsgep_input(struct vmsgep *ep, const uint8_t *in, size_t len,
    bool truncated)
{
	struct vmsgep_port *p;
	struct vmsg_hdr h;
	const char *why = NULL;
	size_t out_len = ep->bus.max_msg;
	enum vmsg_rc rc;

	ep->st.frames_in++;
	if (truncated) {
		ep_drop(ep, "frame longer than the bus maximum message size");
		return;
	}
	rc = vmsg_bus_handle(&ep->bus, in, len, ep->tx, &out_len, &h, &why);
	if (why != NULL)
		ep_drop(ep, why);
	if (ep->bus.reset_pending) {
		ep->bus.reset_pending = false;
		log_info("vmsg %s dom%u: bus reset by the driver", ep->cfg.name,
		    ep->cfg.domid);
		ep_reset_devices(ep);
	}
	if (rc == VMSG_REPLY) {
		ep_send(ep, ep->tx, out_len);
		return;
	}
	if (rc != VMSG_ROUTE)
		return;
	/* vmsg_bus_handle routes only to present, i.e. bound, devices. */
	p = vmsgep_port(ep, h.dev_num);
	if (p == NULL || p->ops == NULL) {
		ep_drop(ep, "transport frame for an unbound device");
		return;
	}
	out_len = ep->bus.max_msg;
	if (p->ops->frame(p->dev, in, len, ep->tx, &out_len) == VMSG_REPLY)
		ep_send(ep, ep->tx, out_len);
	else if (ep->bus.ffa && (h.msg_id & VMSG_ID_EVENT) == 0) {
		/* FF-A: a request the device dropped still gets an answer. */
		size_t n = vmsg_ffa_error(in, len, ep->tx, ep->bus.max_msg);

		if (n != 0)
			ep_send(ep, ep->tx, n);
	}
}

/* One packet/frame: 1 handled, 0 nothing pending, <0 the fd is finished. */
static int ep_read_one(struct vmsgep *ep)
{
	size_t cap = ep->bus.max_msg;
	ssize_t n;

	if (ep->cfg.bus == VMSGEP_SOCKET)
		n = recv(ep->fd, ep->rx, cap, MSG_DONTWAIT | MSG_TRUNC);
	else
		n = read(ep->fd, ep->rx, cap);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return 0;
		return -errno;
	}
	if (n == 0)
		return -EPIPE;
	vmsgep_input(ep, ep->rx, (size_t)n > cap ? cap : (size_t)n,
	    (size_t)n > cap);
	return 1;
}

static void conn_cb(int fd, void *arg)
{
	vmsgep_service(arg);
}

static void ep_accept(struct vmsgep *ep)
{
	int fd = accept4(ep->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

	if (fd < 0)
		return;
	if (ep->fd >= 0) {
		/* One driver per bus: a second one would share the devices. */
		ep->st.refused++;
		if (log_ratelimited(&ep->rl))
			log_warnx("vmsg %s dom%u: second driver connection"
			    " refused", ep->cfg.name, ep->cfg.domid);
		close(fd);
		return;
	}
	ep->fd = fd;
	ep->w = evloop_watch_add(fd, conn_cb, ep);
	if (ep->w == NULL) {
		log_warnx("vmsg %s dom%u: cannot watch the driver connection",
		    ep->cfg.name, ep->cfg.domid);
		fd_close(&ep->fd);
		return;
	}
	ep->st.connections++;
	log_info("vmsg %s dom%u: driver connected", ep->cfg.name,
	    ep->cfg.domid);
}

void vmsgep_service(struct vmsgep *ep)
{
	if (ep->lfd >= 0)
		ep_accept(ep);
	for (unsigned i = 0; i < VMSGEP_BATCH && ep->fd >= 0; i++) {
		int rc = ep_read_one(ep);

		if (rc == 0)
			break;
		if (rc < 0)
			conn_close(ep, rc == -EPIPE ? "end of file" :
			    strerror(-rc));
	}
}

static void listen_cb(int fd, void *arg)
{
	ep_accept(arg);
}

int vmsgep_open(const struct vmsgep_cfg *cfg, struct vmsgep **out)
{
	struct vmsgep *ep = calloc(1, sizeof(*ep));
	bool ffa = cfg->bus == VMSGEP_CHARDEV;
	int rc;

	if (ep == NULL)
		return -ENOMEM;
	ep->cfg = *cfg;
	ep->lfd = ep->fd = -1;
	for (unsigned i = 0; i < VMSGEP_MAX_DEVS; i++) {
		ep->port[i].ep = ep;
		ep->port[i].dev_num = (uint16_t)(i + 1);
	}
	rc = vmsg_bus_init(&ep->bus, ffa ? VMSG_FFA_MAX_MSG :
	    VMSGEP_SOCKET_MAX_MSG, ffa);
	if (rc < 0)
		goto fail;
	if (cfg->bus == VMSGEP_SOCKET) {
		rc = fd_unix_listen(cfg->path, SOCK_SEQPACKET, 0);
		if (rc < 0)
			goto fail;
		ep->lfd = rc;
		ep->lw = evloop_watch_add(ep->lfd, listen_cb, ep);
		if (ep->lw == NULL) {
			rc = -ENOMEM;
			goto fail;
		}
	} else {
		ep->fd = open(cfg->path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
		if (ep->fd < 0) {
			rc = -errno;
			goto fail;
		}
		ep->w = evloop_watch_add(ep->fd, conn_cb, ep);
		if (ep->w == NULL) {
			rc = -ENOMEM;
			goto fail;
		}
	}
	log_info("vmsg %s dom%u: %s bus on %s, max message %u bytes",
	    cfg->name, cfg->domid, vmsgep_bus_name(cfg->bus), cfg->path,
	    ep->bus.max_msg);
	*out = ep;
	return 0;
fail:
	log_warnx("vmsg %s dom%u: %s bus on %s: %s", cfg->name, cfg->domid,
	    vmsgep_bus_name(cfg->bus), cfg->path, strerror(-rc));
	vmsgep_close(ep);
	return rc;
}

void vmsgep_close(struct vmsgep *ep)
{
	if (ep == NULL)
		return;
	evloop_watch_del(ep->w);
	evloop_watch_del(ep->lw);
	fd_close(&ep->fd);
	if (ep->lfd >= 0) {
		fd_close(&ep->lfd);
		(void)unlink(ep->cfg.path);
	}
	free(ep);
}
