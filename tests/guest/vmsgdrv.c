/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vmsgdrv: a simulated guest whose virtio-blk disk is reached through
 * virtio-msg instead of MMIO.
 *
 *   vmsgdrv --sim SOCK --bus SOCK --domid N [options]
 *
 * The domain joins the simulated Xen with no MMIO device (SIM_HELLO with
 * nr_devs 0: only its RAM memfd), then connects to xen-vhostd's virtio-msg
 * socket bus and drives device number 1 the way the Linux virtio-msg
 * transport does (sg_vmsg.h): GET_DEVICES, GET_DEVICE_INFO, GET_CONFIG,
 * reset, ACKNOWLEDGE/DRIVER, features, queues, DRIVER_OK. Then:
 *   1. writes --write-sectors at --write-lba (pattern --write-seed), reads
 *      them back; reads --read-sectors at --read-lba (pattern --read-seed,
 *      what the test wrote into the image beforehand); byte-exact.
 *   2. --reset-lba L: submits writes of pattern seed 1000 at L without
 *      waiting, resets the device (status 0) with them in flight,
 *      re-initialises it from GET_DEVICE_INFO, writes pattern --reset-seed
 *      over the same sectors and reads them back.
 *   3. sends malformed frames (short, long, bad type, unknown id, unknown
 *      and wrong dev_num, response class, bad sizes) and checks the bus
 *      and the device still answer.
 * The patterns are those of `simguest pattern`. One line per phase on
 * stdout; failures on stderr and exit status 1.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/virtio_blk.h>
#include <linux/virtio_ids.h>

#include "sg_blk.h"
#include "sg_log.h"
#include "sg_sim.h"
#include "sg_vmsg.h"

/* Why 4 KiB: one request per guest page, as simguest does. */
#define REQ_LEN		4096u
#define REQ_SECTORS	(REQ_LEN / SG_BLK_SECTOR)
/* Why 16: requests in flight when the reset hits. */
#define RESET_DEPTH	16u
#define RESET_FIRST_SEED 1000u
/* Why 64 MiB: rings, buffers and scratch of one disk with room to spare. */
#define RAM_BYTES	(64u << 20)

struct opts {
	const char *sim, *bus;
	unsigned domid;
	uint64_t expect_sectors;
	uint64_t write_lba, write_sectors;
	uint32_t write_seed;
	uint64_t read_lba, read_sectors;
	uint32_t read_seed;
	bool reset;
	uint64_t reset_lba;
	uint32_t reset_seed;
};

/* The byte at image offset @o for seed @s: the same as simguest.c's. */
static uint8_t pattern_byte(uint32_t s, uint64_t o)
{
	return (uint8_t)(((o * 2654435761u) >> 13) ^ (s * 0x9e3779b9u) ^
	    (o >> 9));
}

static void pattern_fill(uint8_t *buf, uint64_t off, size_t len, uint32_t s)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = pattern_byte(s, off + i);
}

static int pattern_check(const uint8_t *buf, uint64_t off, size_t len,
    uint32_t s)
{
	for (size_t i = 0; i < len; i++)
		if (buf[i] != pattern_byte(s, off + i))
			return sg_err(-EIO, "byte %llu: %#x, pattern %u has %#x",
			    (unsigned long long)(off + i), buf[i], s,
			    pattern_byte(s, off + i));
	return 0;
}

struct drv {
	struct sg_sim *sim;
	struct sg_vmsg_bus *bus;
	struct sg_blk blk;
	uint8_t *buf;
	uint64_t gpa;
};

static int blk_init(struct drv *d)
{
	struct sg_blk_opts bo = { .nr_slots = RESET_DEPTH };
	struct sg_vdev vd = d->blk.vd;
	uint16_t devs[SG_VMSG_MAX_DEVS];
	unsigned nr = 0;
	int rc;

	if ((rc = sg_vmsg_devices(d->bus, devs, SG_VMSG_MAX_DEVS, &nr)) < 0)
		return rc;
	if (nr == 0 || devs[0] != 1)
		return sg_err(-ENODEV, "GET_DEVICES: %u device(s), first %u",
		    nr, nr != 0 ? devs[0] : 0);
	memset(&d->blk, 0, sizeof(d->blk));
	d->blk.vd = vd;
	if ((rc = sg_vmsg_probe(&d->blk.vd, d->bus, 1, sg_sim_mem(d->sim),
	    VIRTIO_ID_BLOCK)) < 0)
		return rc;
	return sg_blk_setup(&d->blk, &bo);
}

/* Requests of one page each over [lba, lba+sectors). */
static int blk_rw(struct drv *d, uint32_t type, uint64_t lba, uint64_t sectors,
    uint32_t seed)
{
	for (uint64_t s = lba; s < lba + sectors; s += REQ_SECTORS) {
		uint64_t n = lba + sectors - s < REQ_SECTORS ?
		    lba + sectors - s : REQ_SECTORS;
		uint32_t len = (uint32_t)(n * SG_BLK_SECTOR);
		int rc;

		if (type == VIRTIO_BLK_T_OUT)
			pattern_fill(d->buf, s * SG_BLK_SECTOR, len, seed);
		else
			memset(d->buf, 0, len);
		rc = sg_blk_io(&d->blk, type, s, d->gpa, len);
		if (rc < 0)
			return sg_err(rc, "%s at sector %llu", type ==
			    VIRTIO_BLK_T_OUT ? "write" : "read",
			    (unsigned long long)s);
		if (type == VIRTIO_BLK_T_IN &&
		    (rc = pattern_check(d->buf, s * SG_BLK_SECTOR, len,
		    seed)) < 0)
			return rc;
	}
	return 0;
}

/* Writes in flight, then status 0: the device must stop and come back. */
static int reset_mid_io(struct drv *d, const struct opts *o)
{
	uint64_t gpa[RESET_DEPTH];
	unsigned n = 0;
	int rc;

	for (unsigned i = 0; i < RESET_DEPTH; i++) {
		uint8_t *p = sg_ram_alloc(d->sim, REQ_LEN, &gpa[i]);
		uint64_t s = o->reset_lba + (uint64_t)i * REQ_SECTORS;

		if (p == NULL)
			return -ENOMEM;
		pattern_fill(p, s * SG_BLK_SECTOR, REQ_LEN, RESET_FIRST_SEED);
		if ((rc = sg_blk_submit(&d->blk, VIRTIO_BLK_T_OUT, s, gpa[i],
		    REQ_LEN, NULL)) < 0)
			return sg_err(rc, "submit before the reset");
		n++;
	}
	if ((rc = sg_blk_kick(&d->blk)) < 0)
		return rc;
	/* No reaping: the reset races the back-end's processing. */
	if ((rc = sg_vdev_reset(&d->blk.vd)) < 0)
		return rc;
	printf("reset: with %u request(s) in flight\n", n);
	sg_vdev_cleanup(&d->blk.vd);
	free(d->blk.slot);
	d->blk.slot = NULL;
	if ((rc = blk_init(d)) < 0)
		return sg_err(rc, "re-initialisation after the reset");
	if ((rc = blk_rw(d, VIRTIO_BLK_T_OUT, o->reset_lba,
	    RESET_DEPTH * REQ_SECTORS, o->reset_seed)) < 0 ||
	    (rc = blk_rw(d, VIRTIO_BLK_T_IN, o->reset_lba,
	    RESET_DEPTH * REQ_SECTORS, o->reset_seed)) < 0)
		return rc;
	printf("reset: re-initialised, %u sectors written and read back\n",
	    RESET_DEPTH * REQ_SECTORS);
	return 0;
}

static void frame(uint8_t *f, uint8_t type, uint8_t id, uint16_t dev,
    uint16_t size)
{
	memset(f, 0, size > 8 ? size : 8);
	f[0] = type;
	f[1] = id;
	f[2] = (uint8_t)dev;
	f[3] = (uint8_t)(dev >> 8);
	f[4] = 7;
	f[6] = (uint8_t)size;
	f[7] = (uint8_t)(size >> 8);
}

/* Everything the daemon must drop; it must keep serving afterwards. */
static int malformed(struct drv *d)
{
	uint8_t f[SG_VMSG_MAX_MSG + 64];
	uint8_t st[4];
	unsigned nr = 0;
	int rc = 0;

	st[0] = 0;
	rc = rc ? rc : sg_vmsg_send_raw(d->bus, st, 1);		/* short */
	frame(f, 0, 0x07, 1, 4);				/* size < 8 */
	rc = rc ? rc : sg_vmsg_send_raw(d->bus, f, 8);
	frame(f, 0, 0x07, 1, 200);				/* size > recv */
	rc = rc ? rc : sg_vmsg_send_raw(d->bus, f, 8);
	frame(f, 0, 0x07, 1, sizeof(f));			/* too long */
	rc = rc ? rc : sg_vmsg_send_raw(d->bus, f, sizeof(f));
	frame(f, 0x01, 0x07, 1, 8);				/* response */
	rc = rc ? rc : sg_vmsg_send_raw(d->bus, f, 8);
	frame(f, 0, 0x3e, 1, 8);				/* unknown id */
	rc = rc ? rc : sg_vmsg_send_raw(d->bus, f, 8);
	frame(f, 0x02, 0x3e, 0, 8);				/* unknown bus */
	rc = rc ? rc : sg_vmsg_send_raw(d->bus, f, 8);
	frame(f, 0, 0x07, 5, 8);				/* absent dev */
	rc = rc ? rc : sg_vmsg_send_raw(d->bus, f, 8);
	frame(f, 0x02, 0x03, 1, 12);				/* bus, dev 1 */
	rc = rc ? rc : sg_vmsg_send_raw(d->bus, f, 12);
	frame(f, 0, 0x09, 1, 10);				/* bad size */
	rc = rc ? rc : sg_vmsg_send_raw(d->bus, f, 10);
	frame(f, 0, 0x0a, 1, 48);				/* no queue */
	f[8] = 200;
	f[16] = 1;
	rc = rc ? rc : sg_vmsg_send_raw(d->bus, f, 48);
	frame(f, 0, 0x41, 1, 16);				/* kick queue 9 */
	f[8] = 9;
	rc = rc ? rc : sg_vmsg_send_raw(d->bus, f, 16);
	frame(f, 0, 0x42, 1, 12);				/* device event */
	rc = rc ? rc : sg_vmsg_send_raw(d->bus, f, 12);
	if (rc < 0)
		return rc;
	/* Still alive: the bus, then the device. */
	if ((rc = sg_vmsg_ping(d->bus, 0x5a5a1234)) < 0)
		return sg_err(rc, "PING after malformed frames");
	if ((rc = sg_vmsg_devices(d->bus, (uint16_t[1]){ 0 }, 1, &nr)) < 0)
		return rc;
	if ((rc = sg_vmsg_probe_config(&d->blk.vd, st, 4)) < 0)
		return sg_err(rc, "probe config");
	printf("malformed: 13 bad frames dropped, bus and device answer\n");
	return 0;
}

static int run(const struct opts *o)
{
	struct drv d;
	uint64_t cap = 0;
	int rc;

	memset(&d, 0, sizeof(d));
	rc = sg_sim_connect(o->sim, o->domid, 1, RAM_BYTES, NULL, 0, &d.sim);
	if (rc < 0)
		return rc;
	printf("dom%u: connected with no MMIO device\n", o->domid);
	if ((rc = sg_vmsg_connect(o->bus, &d.bus)) < 0)
		goto out;
	d.buf = sg_ram_alloc(d.sim, REQ_LEN, &d.gpa);
	if (d.buf == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	if ((rc = sg_vmsg_ping(d.bus, 0x12345678)) < 0 ||
	    (rc = blk_init(&d)) < 0)
		goto out;
	cap = d.blk.capacity;
	printf("virtio-msg blk: %llu sectors, features %#llx\n",
	    (unsigned long long)cap, (unsigned long long)d.blk.vd.features);
	if (o->expect_sectors != 0 && cap != o->expect_sectors) {
		rc = sg_err(-EIO, "capacity %llu, expected %llu",
		    (unsigned long long)cap,
		    (unsigned long long)o->expect_sectors);
		goto out;
	}
	if (o->write_sectors != 0) {
		if ((rc = blk_rw(&d, VIRTIO_BLK_T_OUT, o->write_lba,
		    o->write_sectors, o->write_seed)) < 0 ||
		    (rc = blk_rw(&d, VIRTIO_BLK_T_IN, o->write_lba,
		    o->write_sectors, o->write_seed)) < 0)
			goto out;
		printf("write: %llu sectors at %llu, read back\n",
		    (unsigned long long)o->write_sectors,
		    (unsigned long long)o->write_lba);
	}
	if (o->read_sectors != 0) {
		if ((rc = blk_rw(&d, VIRTIO_BLK_T_IN, o->read_lba,
		    o->read_sectors, o->read_seed)) < 0)
			goto out;
		printf("read: %llu sectors at %llu match seed %u\n",
		    (unsigned long long)o->read_sectors,
		    (unsigned long long)o->read_lba, o->read_seed);
	}
	if (o->reset && (rc = reset_mid_io(&d, o)) < 0)
		goto out;
	if ((rc = malformed(&d)) < 0)
		goto out;
	if ((rc = sg_blk_flush(&d.blk)) < 0 && rc != -ENOTSUP)
		goto out;
	rc = sg_blk_close(&d.blk);
	if (rc == 0)
		printf("closed: device reset\n");
out:
	sg_vdev_cleanup(&d.blk.vd);
	free(d.blk.slot);
	sg_vmsg_release(&d.blk.vd);
	sg_vmsg_close(d.bus);
	sg_sim_close(d.sim);
	return rc;
}

static int num(const char *opt, const char *s, uint64_t *out)
{
	char *end;

	errno = 0;
	*out = strtoull(s, &end, 0);
	if (errno != 0 || *s == '\0' || *end != '\0') {
		sg_errx("%s: bad number '%s'", opt, s);
		return -1;
	}
	return 0;
}

static void usage(FILE *f)
{
	fputs("usage: vmsgdrv --sim SOCK --bus SOCK --domid N"
	    " [--expect-sectors N]\n"
	    "               [--write-lba L --write-sectors N --write-seed S]\n"
	    "               [--read-lba L --read-sectors N --read-seed S]\n"
	    "               [--reset-lba L --reset-seed S] [-v]\n", f);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "sim", required_argument, NULL, 'S' },
		{ "bus", required_argument, NULL, 'B' },
		{ "domid", required_argument, NULL, 'd' },
		{ "expect-sectors", required_argument, NULL, 'e' },
		{ "write-lba", required_argument, NULL, 'w' },
		{ "write-sectors", required_argument, NULL, 'W' },
		{ "write-seed", required_argument, NULL, 'x' },
		{ "read-lba", required_argument, NULL, 'r' },
		{ "read-sectors", required_argument, NULL, 'R' },
		{ "read-seed", required_argument, NULL, 'y' },
		{ "reset-lba", required_argument, NULL, 'l' },
		{ "reset-seed", required_argument, NULL, 'z' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct opts o = { .domid = 0 };
	uint64_t v;
	int c;

	while ((c = getopt_long(argc, argv, "vh", lo, NULL)) != -1) {
		if (c == 'v') {
			sg_log_set_debug(true);
			continue;
		}
		if (c == 'h') {
			usage(stdout);
			return 0;
		}
		if (c == 'S' || c == 'B') {
			*(c == 'S' ? &o.sim : &o.bus) = optarg;
			continue;
		}
		if (c == '?' || num(argv[optind - 1], optarg, &v) < 0) {
			usage(stderr);
			return 2;
		}
		switch (c) {
		case 'd': o.domid = (unsigned)v; break;
		case 'e': o.expect_sectors = v; break;
		case 'w': o.write_lba = v; break;
		case 'W': o.write_sectors = v; break;
		case 'x': o.write_seed = (uint32_t)v; break;
		case 'r': o.read_lba = v; break;
		case 'R': o.read_sectors = v; break;
		case 'y': o.read_seed = (uint32_t)v; break;
		case 'l': o.reset_lba = v; o.reset = true; break;
		case 'z': o.reset_seed = (uint32_t)v; break;
		}
	}
	if (o.sim == NULL || o.bus == NULL || o.domid == 0 || optind != argc) {
		usage(stderr);
		return 2;
	}
	if (run(&o) < 0) {
		fprintf(stderr, "vmsgdrv: failed\n");
		return 1;
	}
	printf("vmsgdrv: ok\n");
	return 0;
}
