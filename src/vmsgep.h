/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vmsgep: a virtio-msg bus endpoint. One endpoint is one bus to one guest's
 * driver: an fd that carries exactly one virtio-msg frame per packet or
 * per read()/write(), whatever its source:
 *
 *   VMSGEP_CHARDEV  a dom0 /dev/virtio-msg-N node (the Linux virtio-msg
 *                   FF-A bus in passive mode): opened at start, read()
 *                   returns one pending frame, write() submits one; poll
 *                   for input. FF-A bus messages answered (max 104 bytes).
 *   VMSGEP_SOCKET   a listening Unix SOCK_SEQPACKET socket; one driver
 *                   connection at a time, one frame per packet. Plain bus
 *                   (GET_DEVICES, PING), max VMSGEP_SOCKET_MAX_MSG bytes.
 *
 * Every frame goes to vmsg_bus_handle() first; bus messages are answered
 * here, transport frames are routed to the device bound at that dev_num.
 * Devices are numbered 1..VMSGEP_MAX_DEVS on the bus. A device is reached
 * through struct vmsgep_port_ops (the relay's device_vmsg() in the daemon,
 * a fake in the tests), and its interrupt sink is vmsgep_notify_used() /
 * vmsgep_notify_config() with the port as argument: they send EVENT_USED /
 * EVENT_CONFIG (on FF-A with EVENT_POLL configured, queue them instead).
 *
 * Untrusted input: a bad frame is dropped with a rate-limited log line
 * naming the endpoint and guest (the device logs its own, naming device
 * and queue); nothing the driver sends stops the endpoint. When the
 * driver goes away (connection closed, FF-A RESET) every device is reset
 * (status 0). Outgoing frames that the fd cannot take right now are dropped
 * and counted (the driver times out and resets, as the spec expects).
 */
#ifndef XVD_VMSGEP_H
#define XVD_VMSGEP_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "transport/vmsg.h"

/* Why 8: one guest's devices on one bus; GUEST_MAX_DEVS bounds them too. */
#define VMSGEP_MAX_DEVS		8u
/* Why 264: the spec's SHOULD (256-byte payload), above the 2026 minimum 52. */
#define VMSGEP_SOCKET_MAX_MSG	264u
/* Why 64: frames handled per wake-up before other fds get their turn. */
#define VMSGEP_BATCH		64u

enum vmsgep_bus {
	VMSGEP_SOCKET,
	VMSGEP_CHARDEV,
};

struct vmsgep_cfg {
	char name[32];		/* for logs: "vmsg NAME" */
	enum vmsgep_bus bus;
	char path[PATH_MAX];
	uint32_t domid;		/* the guest served */
};

/* How the endpoint reaches a device (all required). */
struct vmsgep_port_ops {
	/* A transport frame for this device: as device_vmsg(). */
	enum vmsg_rc (*frame)(void *dev, const uint8_t *in, size_t in_len,
	    uint8_t *out, size_t *out_len);
	/* An event frame: as device_vmsg_event(). */
	size_t (*event)(void *dev, bool config, uint32_t queue, uint8_t *out,
	    size_t cap);
	/* The driver is gone: reset the device (status 0). */
	void (*reset)(void *dev);
};

/* The ops of a relay device (struct xvd_device): device_vmsg() & co. */
extern const struct vmsgep_port_ops vmsgep_device_ops;

struct vmsgep_stats {
	uint64_t frames_in, frames_out, dropped, events, events_lost;
	uint64_t connections, refused;
};

struct vmsgep;
struct vmsgep_port;

/*
 * vmsgep_open - listen on / open cfg->path and watch it. No device bound.
 * Returns 0, or -errno (logged).
 */
int vmsgep_open(const struct vmsgep_cfg *cfg, struct vmsgep **out);
/* Closes the fds; the devices must have been unbound (vmsgep_unbind_all). */
void vmsgep_close(struct vmsgep *ep);

const struct vmsgep_cfg *vmsgep_cfg(const struct vmsgep *ep);
/* The bus maximum message size (give it to the devices' vmsg_max_msg). */
uint32_t vmsgep_max_msg(const struct vmsgep *ep);
const struct vmsgep_stats *vmsgep_stats(const struct vmsgep *ep);
/* A driver is connected (socket) or the node is open (chardev). */
bool vmsgep_connected(const struct vmsgep *ep);

/* The port of bus device number @dev_num (1..VMSGEP_MAX_DEVS), or NULL. */
struct vmsgep_port *vmsgep_port(struct vmsgep *ep, uint16_t dev_num);
/* Put @dev on the bus at its port (present in GET_DEVICES from now on). */
void vmsgep_bind(struct vmsgep_port *p, const struct vmsgep_port_ops *ops,
    void *dev);
/* Take every device off the bus (before they are destroyed). */
void vmsgep_unbind_all(struct vmsgep *ep);
unsigned vmsgep_nr_bound(const struct vmsgep *ep);

/* Interrupt sinks (xvd_device_cfg.notify_used/notify_config): @port. */
void vmsgep_notify_used(void *port, uint32_t queue);
void vmsgep_notify_config(void *port);

/*
 * vmsgep_input - handle one received frame of @len bytes (@truncated: the
 * packet was longer than the bus maximum). What vmsgep_service() does per
 * frame; public for the tests and the fuzzer. Never fails.
 */
void vmsgep_input(struct vmsgep *ep, const uint8_t *in, size_t len,
    bool truncated);
/*
 * vmsgep_service - accept a pending connection and handle up to
 * VMSGEP_BATCH pending frames, without blocking (the fd watches call it).
 */
void vmsgep_service(struct vmsgep *ep);

const char *vmsgep_bus_name(enum vmsgep_bus b);
/* "socket" / "chardev"; -EINVAL otherwise. */
int vmsgep_bus_parse(const char *s, enum vmsgep_bus *out);

#endif
