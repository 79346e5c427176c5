/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vmsgep: the virtio-msg bus endpoint, on a real SOCK_SEQPACKET socket in a
 * temporary directory, with fake devices (a vmmio + vmsg_dev each, acting
 * on the actions as the relay does) behind struct vmsgep_port_ops.
 */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include <linux/virtio_mmio.h>

#include "evloop.h"
#include "transport/vmmio.h"
#include "transport/vmsg.h"
#include "vmsgep.h"

struct fake_dev {
	struct vmmio mmio;
	struct vmsg_dev vd;
	unsigned frames, kicks, resets, bad, started;
};

static enum vmsg_rc fake_frame(void *arg, const uint8_t *in, size_t in_len,
    uint8_t *out, size_t *out_len)
{
	struct fake_dev *d = arg;
	struct vmmio_actions acts;
	const char *why = NULL;
	enum vmsg_rc rc;

	d->frames++;
	rc = vmsg_handle(&d->vd, in, in_len, out, out_len, &acts, &why);
	for (unsigned i = 0; i < acts.nr; i++) {
		switch (acts.a[i].kind) {
		case VMMIO_ACT_NOTIFY: d->kicks++; break;
		case VMMIO_ACT_RESET: d->resets++; d->started = 0; break;
		case VMMIO_ACT_BAD: d->bad++; break;
		case VMMIO_ACT_STATUS:
			if (acts.a[i].new_status & VMMIO_S_DRIVER_OK)
				d->started++;
			break;
		default: break;
		}
	}
	if (rc == VMSG_NONE && why != NULL)
		d->bad++;
	return rc;
}

static size_t fake_event(void *arg, bool config, uint32_t queue,
    uint8_t *out, size_t cap)
{
	struct fake_dev *d = arg;

	return config ? vmsg_event_config(&d->vd, 0, 0, out, cap) :
	    vmsg_event_used(&d->vd, queue, out, cap);
}

static void fake_reset(void *arg)
{
	struct fake_dev *d = arg;
	struct vmmio_actions acts;

	vmmio_write(&d->mmio, VIRTIO_MMIO_STATUS, 4, 0, &acts);
	d->resets++;
	d->started = 0;
}

static const struct vmsgep_port_ops fake_ops = {
	.frame = fake_frame, .event = fake_event, .reset = fake_reset,
};

struct fix {
	char dir[64];
	char path[128];
	struct vmsgep *ep;
	struct fake_dev dev;
	int c;			/* the driver's connection */
	uint16_t token;
};

static int setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));
	struct vmsgep_cfg cfg = { .bus = VMSGEP_SOCKET, .domid = 4 };
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	assert_non_null(f);
	assert_int_equal(evloop_init(), 0);
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_vmsgep.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/bus.sock", f->dir);
	snprintf(cfg.name, sizeof(cfg.name), "t");
	snprintf(cfg.path, sizeof(cfg.path), "%s", f->path);
	assert_int_equal(vmsgep_open(&cfg, &f->ep), 0);
	assert_int_equal(vmsgep_max_msg(f->ep), VMSGEP_SOCKET_MAX_MSG);

	/* One blk-like device: 1 queue of 256, 8 config bytes, number 1. */
	vmmio_init(&f->dev.mmio, 2, UINT64_C(1) << 32, 1, 256, 8);
	assert_int_equal(vmsg_dev_init(&f->dev.vd, &f->dev.mmio, 1, NULL,
	    vmsgep_max_msg(f->ep)), 0);
	assert_null(vmsgep_port(f->ep, 0));
	assert_null(vmsgep_port(f->ep, VMSGEP_MAX_DEVS + 1));
	vmsgep_bind(vmsgep_port(f->ep, 1), &fake_ops, &f->dev);
	assert_int_equal(vmsgep_nr_bound(f->ep), 1);

	f->c = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	assert_true(f->c >= 0);
	strcpy(sa.sun_path, f->path);
	assert_int_equal(connect(f->c, (struct sockaddr *)&sa, sizeof(sa)), 0);
	vmsgep_service(f->ep);
	assert_true(vmsgep_connected(f->ep));
	f->token = 2;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fix *f = *state;

	if (f->c >= 0)
		close(f->c);
	vmsgep_unbind_all(f->ep);
	vmsgep_close(f->ep);
	/* The socket file goes with the endpoint. */
	assert_int_equal(access(f->path, F_OK), -1);
	rmdir(f->dir);
	evloop_fini();
	free(f);
	return 0;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)v);
	put16(p + 2, (uint16_t)(v >> 16));
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
}

/* Send @len bytes as one packet and let the endpoint handle it. */
static void drv_send(struct fix *f, const void *frame, size_t len)
{
	assert_int_equal(send(f->c, frame, len, 0), (ssize_t)len);
	vmsgep_service(f->ep);
}

/* The next packet from the endpoint, or 0 when there is none. */
static size_t drv_recv(struct fix *f, uint8_t *buf, size_t cap)
{
	struct pollfd p = { .fd = f->c, .events = POLLIN };
	ssize_t n;

	if (poll(&p, 1, 0) != 1)
		return 0;
	n = recv(f->c, buf, cap, 0);
	assert_true(n > 0);
	return (size_t)n;
}

static size_t req(struct fix *f, uint8_t *fr, uint8_t type, uint8_t id,
    uint16_t dev, const void *pl, uint16_t pl_len)
{
	fr[0] = type;
	fr[1] = id;
	put16(fr + 2, dev);
	put16(fr + 4, f->token++);
	put16(fr + 6, (uint16_t)(8 + pl_len));
	if (pl_len != 0)
		memcpy(fr + 8, pl, pl_len);
	return 8u + pl_len;
}

/* A request that must be answered: returns the response payload length. */
static size_t call(struct fix *f, uint8_t type, uint8_t id, uint16_t dev,
    const void *pl, uint16_t pl_len, uint8_t *resp)
{
	uint8_t fr[VMSGEP_SOCKET_MAX_MSG], in[VMSGEP_SOCKET_MAX_MSG];
	size_t n = req(f, fr, type, id, dev, pl, pl_len), got;

	drv_send(f, fr, n);
	got = drv_recv(f, in, sizeof(in));
	assert_true(got >= 8);
	assert_int_equal(in[0], type | 1);
	assert_int_equal(in[1], id);
	assert_memory_equal(in + 2, fr + 2, 4);	/* dev_num, token echoed */
	if (resp != NULL)
		memcpy(resp, in + 8, got - 8);
	return got - 8;
}

static uint32_t status_set(struct fix *f, uint32_t st)
{
	uint8_t pl[4], resp[8];

	put32(pl, st);
	assert_int_equal(call(f, 0, VMSG_SET_DEVICE_STATUS, 1, pl, 4, resp), 4);
	return get32(resp);
}

static void test_bus_and_device(void **state)
{
	struct fix *f = *state;
	uint8_t pl[4] = { 0, 0, 0, 1 }, resp[VMSGEP_SOCKET_MAX_MSG];

	/* GET_DEVICES: device 1 present, nothing else. */
	assert_int_equal(call(f, VMSG_TYPE_BUS, VMSG_BUS_GET_DEVICES, 0,
	    (uint8_t[]){ 0, 0, 0, 1 }, 4, resp), 6 + 32);
	assert_int_equal(resp[6], 0x02);
	/* PING echoed. */
	put32(pl, 0xdeadbeef);
	assert_int_equal(call(f, VMSG_TYPE_BUS, VMSG_BUS_PING, 0, pl, 4, resp),
	    4);
	assert_int_equal(get32(resp), 0xdeadbeef);
	/* GET_DEVICE_INFO reaches the device. */
	assert_int_equal(call(f, 0, VMSG_GET_DEVICE_INFO, 1, NULL, 0, resp),
	    44);
	assert_int_equal(get32(resp), 2);
	assert_int_equal(f->dev.frames, 1);
}

/* Every malformed frame is dropped, never answered, and the bus goes on. */
static void test_malformed(void **state)
{
	struct fix *f = *state;
	uint8_t fr[VMSGEP_SOCKET_MAX_MSG + 32], buf[VMSGEP_SOCKET_MAX_MSG];
	uint64_t dropped0 = vmsgep_stats(f->ep)->dropped;
	unsigned bad0;
	size_t n;

	memset(fr, 0, sizeof(fr));
	drv_send(f, fr, 1);					/* short */
	drv_send(f, fr, 7);
	req(f, fr, 0, VMSG_GET_DEVICE_STATUS, 1, NULL, 0);
	put16(fr + 6, 4);					/* size < 8 */
	drv_send(f, fr, 8);
	put16(fr + 6, 100);					/* > received */
	drv_send(f, fr, 8);
	n = req(f, fr, 0, VMSG_GET_DEVICE_STATUS, 1, NULL, 0);
	drv_send(f, fr, sizeof(fr));				/* too long */
	req(f, fr, 1, VMSG_GET_DEVICE_STATUS, 1, NULL, 0);	/* response */
	drv_send(f, fr, 8);
	req(f, fr, 0, VMSG_GET_DEVICE_STATUS, 3, NULL, 0);	/* absent dev */
	drv_send(f, fr, 8);
	req(f, fr, 0, VMSG_GET_DEVICE_STATUS, 0xffff, NULL, 0);
	drv_send(f, fr, 8);
	req(f, fr, VMSG_TYPE_BUS, 0x3e, 0, NULL, 0);		/* unknown bus */
	drv_send(f, fr, 8);
	req(f, fr, VMSG_TYPE_BUS, VMSG_BUS_PING, 1, "abcd", 4);	/* dev_num */
	drv_send(f, fr, 12);
	assert_int_equal(vmsgep_stats(f->ep)->dropped - dropped0, 10);
	assert_int_equal(f->dev.frames, 0);

	/* Routed to the device, dropped there. */
	bad0 = f->dev.bad;
	req(f, fr, 0, 0x3e, 1, NULL, 0);			/* unknown id */
	drv_send(f, fr, 8);
	req(f, fr, 0, VMSG_GET_VQUEUE, 1, "ab", 2);		/* bad size */
	drv_send(f, fr, 10);
	req(f, fr, 0, VMSG_EVENT_USED, 1, "\0\0\0\0", 4);	/* wrong way */
	drv_send(f, fr, 12);
	req(f, fr, 0, VMSG_EVENT_AVAIL, 1, "\x09\0\0\0\0\0\0\0", 8);
	drv_send(f, fr, 16);					/* no queue 9 */
	assert_int_equal(f->dev.frames, 4);
	assert_int_equal(f->dev.bad - bad0, 4);
	assert_int_equal(f->dev.kicks, 0);
	/* Nothing was answered, and the bus still is. */
	assert_int_equal(drv_recv(f, buf, sizeof(buf)), 0);
	(void)n;
	assert_int_equal(call(f, VMSG_TYPE_BUS, VMSG_BUS_PING, 0, "wxyz", 4,
	    buf), 4);
	assert_true(vmsgep_connected(f->ep));
}

/* A second driver is refused; the first keeps the bus. */
static void test_second_driver(void **state)
{
	struct fix *f = *state;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int c2 = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	uint8_t buf[16];

	strcpy(sa.sun_path, f->path);
	assert_int_equal(connect(c2, (struct sockaddr *)&sa, sizeof(sa)), 0);
	vmsgep_service(f->ep);
	assert_int_equal(vmsgep_stats(f->ep)->refused, 1);
	assert_int_equal(recv(c2, buf, sizeof(buf), 0), 0);	/* closed */
	close(c2);
	assert_int_equal(call(f, VMSG_TYPE_BUS, VMSG_BUS_PING, 0, "1234", 4,
	    buf), 4);
}

/* Bring queue 0 up and DRIVER_OK, as the Linux driver does. */
static void dev_up(struct fix *f)
{
	uint8_t pl[40], resp[64];

	status_set(f, 0);
	status_set(f, 1);
	status_set(f, 3);
	memset(pl, 0, 16);
	put32(pl + 4, 2);
	put32(pl + 12, 1);			/* VERSION_1 */
	assert_int_equal(call(f, 0, VMSG_SET_DRIVER_FEATURES, 1, pl, 16, NULL),
	    0);
	assert_true(status_set(f, 0xb) & 8);
	memset(pl, 0, sizeof(pl));
	put32(pl + 4, VMSG_VQ_F_ENABLED);
	put32(pl + 8, 64);
	put32(pl + 16, 0x40000000);
	put32(pl + 24, 0x40001000);
	put32(pl + 32, 0x40002000);
	assert_int_equal(call(f, 0, VMSG_SET_VQUEUE, 1, pl, 40, NULL), 0);
	put32(pl, 0);
	assert_int_equal(call(f, 0, VMSG_GET_VQUEUE, 1, pl, 4, resp), 40);
	assert_int_equal(get32(resp + 8), 64);
	assert_true(get32(resp + 12) & VMSG_VQ_F_ENABLED);
	assert_int_equal(status_set(f, 0xf), 0xf);
	assert_int_equal(f->dev.started, 1);
}

/*
 * I/O, then status 0 with kicks in flight: reset, queue gone, later kicks
 * dropped; then the device comes up again and kicks flow.
 */
static void test_reset_mid_io(void **state)
{
	struct fix *f = *state;
	uint8_t fr[32], ev[32], resp[64];
	unsigned resets;

	dev_up(f);
	for (int i = 0; i < 3; i++) {
		req(f, fr, 0, VMSG_EVENT_AVAIL, 1, "\0\0\0\0\0\0\0\0", 8);
		drv_send(f, fr, 16);
	}
	assert_int_equal(f->dev.kicks, 3);
	/* Used buffers: EVENT_USED of queue 0, token 0. */
	vmsgep_notify_used(vmsgep_port(f->ep, 1), 0);
	assert_int_equal(drv_recv(f, ev, sizeof(ev)), 12);
	assert_int_equal(ev[1], VMSG_EVENT_USED);
	assert_int_equal(ev[4] | ev[5], 0);
	assert_int_equal(get32(ev + 8), 0);
	/* A queue that does not exist gives no event. */
	vmsgep_notify_used(vmsgep_port(f->ep, 1), 7);
	assert_int_equal(drv_recv(f, ev, sizeof(ev)), 0);

	/* A kick and the reset back to back, nothing reaped in between. */
	req(f, fr, 0, VMSG_EVENT_AVAIL, 1, "\0\0\0\0\0\0\0\0", 8);
	drv_send(f, fr, 16);
	resets = f->dev.resets;
	assert_int_equal(status_set(f, 0), 0);
	assert_int_equal(f->dev.resets, resets + 1);
	assert_int_equal(call(f, 0, VMSG_GET_DEVICE_STATUS, 1, NULL, 0, resp),
	    4);
	assert_int_equal(get32(resp), 0);
	put32(fr, 0);
	assert_int_equal(call(f, 0, VMSG_GET_VQUEUE, 1, fr, 4, resp), 40);
	assert_int_equal(get32(resp + 8), 0);			/* unconfigured */
	assert_int_equal(get32(resp + 12), 0);
	/* A late kick is not one. */
	req(f, fr, 0, VMSG_EVENT_AVAIL, 1, "\0\0\0\0\0\0\0\0", 8);
	drv_send(f, fr, 16);
	assert_int_equal(f->dev.kicks, 4);
	/* Re-initialised, it works again. */
	dev_up(f);
	req(f, fr, 0, VMSG_EVENT_AVAIL, 1, "\0\0\0\0\0\0\0\0", 8);
	drv_send(f, fr, 16);
	assert_int_equal(f->dev.kicks, 5);
	/* A config change: EVENT_CONFIG with status and length 0. */
	vmsgep_notify_config(vmsgep_port(f->ep, 1));
	assert_int_equal(drv_recv(f, ev, sizeof(ev)), 24);
	assert_int_equal(ev[1], VMSG_EVENT_CONFIG);
	assert_int_equal(get32(ev + 8), 0xf);
}

/* The driver goes away: the device is reset and a new one may connect. */
static void test_driver_gone(void **state)
{
	struct fix *f = *state;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	uint8_t buf[16];
	unsigned resets;

	dev_up(f);
	resets = f->dev.resets;
	close(f->c);
	vmsgep_service(f->ep);
	assert_false(vmsgep_connected(f->ep));
	assert_int_equal(f->dev.resets, resets + 1);
	assert_int_equal(f->dev.mmio.status, 0);
	/* Events with no driver are dropped quietly. */
	vmsgep_notify_used(vmsgep_port(f->ep, 1), 0);

	f->c = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	strcpy(sa.sun_path, f->path);
	assert_int_equal(connect(f->c, (struct sockaddr *)&sa, sizeof(sa)), 0);
	vmsgep_service(f->ep);
	assert_true(vmsgep_connected(f->ep));
	/* Still on the bus after the re-init of the bus state. */
	assert_int_equal(call(f, VMSG_TYPE_BUS, VMSG_BUS_GET_DEVICES, 0,
	    (uint8_t[]){ 0, 0, 8, 0 }, 4, buf), 7);
	assert_int_equal(buf[6], 0x02);
}

/* Unbound: transport frames for the old number are dropped, not routed. */
static void test_unbound(void **state)
{
	struct fix *f = *state;
	uint8_t fr[16], buf[16];

	vmsgep_unbind_all(f->ep);
	assert_int_equal(vmsgep_nr_bound(f->ep), 0);
	req(f, fr, 0, VMSG_GET_DEVICE_STATUS, 1, NULL, 0);
	drv_send(f, fr, 8);
	assert_int_equal(drv_recv(f, buf, sizeof(buf)), 0);
	assert_int_equal(f->dev.frames, 0);
	/* Sinks of an unbound port do nothing. */
	vmsgep_notify_used(vmsgep_port(f->ep, 1), 0);
	vmsgep_notify_config(vmsgep_port(f->ep, 1));
	assert_int_equal(drv_recv(f, buf, sizeof(buf)), 0);
}

static void test_bus_names(void **state)
{
	enum vmsgep_bus b;

	assert_int_equal(vmsgep_bus_parse("socket", &b), 0);
	assert_int_equal(b, VMSGEP_SOCKET);
	assert_int_equal(vmsgep_bus_parse("chardev", &b), 0);
	assert_int_equal(b, VMSGEP_CHARDEV);
	assert_int_equal(vmsgep_bus_parse("ffa", &b), -EINVAL);
	assert_string_equal(vmsgep_bus_name(VMSGEP_CHARDEV), "chardev");
}

/* A chardev that cannot be opened fails vmsgep_open cleanly. */
static void test_chardev_missing(void **state)
{
	struct vmsgep_cfg cfg = { .bus = VMSGEP_CHARDEV, .domid = 1 };
	struct vmsgep *ep = NULL;

	assert_int_equal(evloop_init(), 0);
	snprintf(cfg.name, sizeof(cfg.name), "c");
	snprintf(cfg.path, sizeof(cfg.path), "/nonexistent/virtio-msg-0");
	assert_int_equal(vmsgep_open(&cfg, &ep), -ENOENT);
	assert_null(ep);
	evloop_fini();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_bus_and_device, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_malformed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_second_driver, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_reset_mid_io, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_driver_gone, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_unbound, setup, teardown),
		cmocka_unit_test(test_bus_names),
		cmocka_unit_test(test_chardev_missing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
