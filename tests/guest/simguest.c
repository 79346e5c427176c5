/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * simguest: a simulated Xen guest for xen-vhostd's --sim mode.
 *
 *   simguest pattern --seed S --offset BYTES --len BYTES
 *   simguest blk --connect SOCK --domid N [options]
 *   simguest fs --connect SOCK --domid N [options]
 *   simguest net --connect SOCK --domid N [options]
 *
 * "pattern" writes the deterministic disk pattern to stdout so that a test
 * can pre-fill an image; "blk" drives one virtio-blk device through the
 * daemon and checks the same pattern; "fs" drives one virtio-fs device
 * (FUSE) and writes a file holding the pattern; "net" sends frames through
 * one virtio-net device to a back-end that loops them back (DPDK testpmd's
 * io or macswap forwarding) and checks each one. One line per phase on
 * stdout, every failure on stderr and exit status 1.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/virtio_ids.h>
#include <linux/virtio_ring.h>

#include "sg_blk.h"
#include "sg_fs.h"
#include "sg_log.h"
#include "sg_net.h"
#include "sg_sim.h"
#include "xvd/sim_proto.h"

/* Why 8: requests of at most 4 KiB, one guest page each. */
#define MAX_REQ_SECTORS		8u
#define REQ_BUF_LEN		(MAX_REQ_SECTORS * SG_BLK_SECTOR)
/* Why 256: in flight at most; also the request slot limit of sg_blk. */
#define MAX_DEPTH		SG_BLK_MAX_SLOTS

/* The byte at absolute image offset @o for seed @s. */
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

static void usage(FILE *f)
{
	fputs("usage: simguest pattern --seed S --offset BYTES --len BYTES\n"
	    "       simguest blk --connect SOCK --domid N [--vcpus N]"
	    " [--ram-mb N]\n"
	    "                [--indirect] [--event-idx] [--depth N]"
	    " [--queue-size N]\n"
	    "                [--write-lba L --write-sectors N --write-seed S]\n"
	    "                [--read-lba L --read-sectors N --read-seed S]\n"
	    "                [--invalidate] [--expect-sectors N]\n"
	    "                [--reset-mid-io N] [--die-mid-io] [--fast-path] [-v]\n"
	    "       simguest fs --connect SOCK --domid N [--vcpus N]"
	    " [--ram-mb N]\n"
	    "                [--file NAME] [--bytes N] [--seed S] [--chunk N]"
	    " [--dir NAME]\n"
	    "                [--indirect] [--event-idx] [--queue-size N]"
	    " [--expect-tag TAG] [-v]\n"
	    "       simguest net --connect SOCK --domid N [--vcpus N]"
	    " [--ram-mb N]\n"
	    "                [--frames N] [--phases N] [--window N] [--seed S]\n"
	    "                [--fwd io|macswap] [--queue-size N] [-v]\n", f);
}

/* Unsigned number, decimal or 0x hex, optional K/M/G (binary) suffix. */
static int parse_u64(const char *opt, const char *s, uint64_t *out)
{
	unsigned long long v;
	char *end;
	unsigned shift = 0;

	errno = 0;
	if (s[0] == '-' || s[0] == '\0')
		goto bad;
	v = strtoull(s, &end, 0);
	if (errno != 0)
		goto bad;
	switch (*end) {
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	default: break;
	}
	if (*end != '\0' || (shift != 0 && v > (UINT64_MAX >> shift)))
		goto bad;
	*out = (uint64_t)v << shift;
	return 0;
bad:
	sg_errx("bad value for --%s: '%s'", opt, s);
	return -EINVAL;
}

static int parse_u32(const char *opt, const char *s, uint32_t *out)
{
	uint64_t v;

	if (parse_u64(opt, s, &v) < 0)
		return -EINVAL;
	if (v > UINT32_MAX) {
		sg_errx("--%s %s is too large", opt, s);
		return -EINVAL;
	}
	*out = (uint32_t)v;
	return 0;
}

/* ------------------------------------------------------------------ */
/* pattern */

static int cmd_pattern(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "seed", required_argument, NULL, 's' },
		{ "offset", required_argument, NULL, 'o' },
		{ "len", required_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t off = 0, len = 0;
	uint32_t seed = 0;
	bool have_seed = false, have_len = false;
	static uint8_t buf[1 << 16];
	int c;

	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 's':
			if (parse_u32("seed", optarg, &seed) < 0)
				return 1;
			have_seed = true;
			break;
		case 'o':
			if (parse_u64("offset", optarg, &off) < 0)
				return 1;
			break;
		case 'l':
			if (parse_u64("len", optarg, &len) < 0)
				return 1;
			have_len = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 1;
		}
	}
	if (optind != argc || !have_seed || !have_len) {
		usage(stderr);
		return 1;
	}
	if (off > UINT64_MAX - len) {
		sg_errx("--offset + --len overflows");
		return 1;
	}
	while (len > 0) {
		size_t n = len < sizeof(buf) ? (size_t)len : sizeof(buf);
		size_t done = 0;

		pattern_fill(buf, off, n, seed);
		while (done < n) {
			ssize_t w = write(STDOUT_FILENO, buf + done, n - done);

			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0) {
				sg_err(w < 0 ? -errno : -EIO, "write pattern");
				return 1;
			}
			done += (size_t)w;
		}
		off += n;
		len -= n;
	}
	return 0;
}

/*
 * The domain options every guest mode takes: no stray arguments, --connect
 * and --domid given,
 * --vcpus 1..SIM_MAX_VCPUS, --ram-mb @min_ram_mb..4096.
 */
static bool domain_args_ok(const char *mode, bool extra_args, const char *sock,
    bool have_domid, uint32_t nr_vcpus, uint64_t ram_mb, uint64_t min_ram_mb)
{
	if (extra_args || sock == NULL || !have_domid) {
		sg_errx("%s needs --connect SOCK and --domid N", mode);
		return false;
	}
	if (nr_vcpus == 0 || nr_vcpus > SIM_MAX_VCPUS) {
		sg_errx("--vcpus must be 1..%u", SIM_MAX_VCPUS);
		return false;
	}
	if (ram_mb < min_ram_mb || ram_mb > 4096) {
		sg_errx("--ram-mb must be %" PRIu64 "..4096", min_ram_mb);
		return false;
	}
	return true;
}

/* ------------------------------------------------------------------ */
/* blk */

struct blk_args {
	const char *sock;
	uint32_t domid;
	uint32_t nr_vcpus;
	uint64_t ram_mb;
	bool indirect;
	bool event_idx;
	uint32_t depth;
	uint32_t queue_size;
	bool have_write, have_read;
	uint64_t write_lba, read_lba;
	uint32_t write_sectors, read_sectors;
	uint32_t write_seed, read_seed;
	bool invalidate;
	bool have_expect;
	uint64_t expect_sectors;
	uint32_t resets_mid_io;	/* reset/reload cycles with reads in flight */
	bool die_mid_io;	/* exit with requests in flight */
	bool fast_path;		/* play a kernel with privcmd ioeventfd/irqfd */
};

/* One request buffer of the pipeline. */
struct req_buf {
	uint8_t *p;
	uint64_t gpa;
	uint64_t lba;
	uint32_t sectors;
	bool busy;
};

struct guest {
	struct blk_args a;
	struct sg_sim *sim;
	struct sg_blk blk;
	bool blk_open;
	struct req_buf *buf;
	unsigned nr_buf;
};

enum { OPT_CONNECT = 256, OPT_DOMID, OPT_VCPUS, OPT_RAM_MB, OPT_INDIRECT,
	OPT_EVENT_IDX, OPT_DEPTH, OPT_QSIZE, OPT_WLBA, OPT_WSECT, OPT_WSEED,
	OPT_RLBA, OPT_RSECT, OPT_RSEED, OPT_INVALIDATE, OPT_EXPECT,
	OPT_RESETS, OPT_DIE, OPT_FAST };

static int blk_parse(int argc, char **argv, struct blk_args *a)
{
	static const struct option longopts[] = {
		{ "connect", required_argument, NULL, OPT_CONNECT },
		{ "domid", required_argument, NULL, OPT_DOMID },
		{ "vcpus", required_argument, NULL, OPT_VCPUS },
		{ "ram-mb", required_argument, NULL, OPT_RAM_MB },
		{ "indirect", no_argument, NULL, OPT_INDIRECT },
		{ "event-idx", no_argument, NULL, OPT_EVENT_IDX },
		{ "depth", required_argument, NULL, OPT_DEPTH },
		{ "queue-size", required_argument, NULL, OPT_QSIZE },
		{ "write-lba", required_argument, NULL, OPT_WLBA },
		{ "write-sectors", required_argument, NULL, OPT_WSECT },
		{ "write-seed", required_argument, NULL, OPT_WSEED },
		{ "read-lba", required_argument, NULL, OPT_RLBA },
		{ "read-sectors", required_argument, NULL, OPT_RSECT },
		{ "read-seed", required_argument, NULL, OPT_RSEED },
		{ "invalidate", no_argument, NULL, OPT_INVALIDATE },
		{ "expect-sectors", required_argument, NULL, OPT_EXPECT },
		{ "reset-mid-io", required_argument, NULL, OPT_RESETS },
		{ "die-mid-io", no_argument, NULL, OPT_DIE },
		{ "fast-path", no_argument, NULL, OPT_FAST },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool w_lba = false, w_n = false, w_s = false;
	bool r_lba = false, r_n = false, r_s = false, have_domid = false;
	int c, rc = 0;

	memset(a, 0, sizeof(*a));
	a->nr_vcpus = 2;
	a->ram_mb = 64;
	a->depth = 1;
	a->queue_size = 128;
	while (rc == 0 &&
	    (c = getopt_long(argc, argv, "vh", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_CONNECT: a->sock = optarg; break;
		case OPT_DOMID:
			rc = parse_u32("domid", optarg, &a->domid);
			have_domid = true;
			break;
		case OPT_VCPUS: rc = parse_u32("vcpus", optarg, &a->nr_vcpus); break;
		case OPT_RAM_MB: rc = parse_u64("ram-mb", optarg, &a->ram_mb); break;
		case OPT_INDIRECT: a->indirect = true; break;
		case OPT_EVENT_IDX: a->event_idx = true; break;
		case OPT_DEPTH: rc = parse_u32("depth", optarg, &a->depth); break;
		case OPT_QSIZE:
			rc = parse_u32("queue-size", optarg, &a->queue_size);
			break;
		case OPT_WLBA:
			rc = parse_u64("write-lba", optarg, &a->write_lba);
			w_lba = true;
			break;
		case OPT_WSECT:
			rc = parse_u32("write-sectors", optarg,
			    &a->write_sectors);
			w_n = true;
			break;
		case OPT_WSEED:
			rc = parse_u32("write-seed", optarg, &a->write_seed);
			w_s = true;
			break;
		case OPT_RLBA:
			rc = parse_u64("read-lba", optarg, &a->read_lba);
			r_lba = true;
			break;
		case OPT_RSECT:
			rc = parse_u32("read-sectors", optarg, &a->read_sectors);
			r_n = true;
			break;
		case OPT_RSEED:
			rc = parse_u32("read-seed", optarg, &a->read_seed);
			r_s = true;
			break;
		case OPT_INVALIDATE: a->invalidate = true; break;
		case OPT_RESETS:
			rc = parse_u32("reset-mid-io", optarg, &a->resets_mid_io);
			break;
		case OPT_DIE: a->die_mid_io = true; break;
		case OPT_FAST: a->fast_path = true; break;
		case OPT_EXPECT:
			rc = parse_u64("expect-sectors", optarg,
			    &a->expect_sectors);
			a->have_expect = true;
			break;
		case 'v': sg_log_set_debug(true); break;
		case 'h': usage(stdout); exit(0);
		default: rc = -EINVAL; break;
		}
	}
	if (rc < 0)
		goto bad;
	if (!domain_args_ok("blk", optind != argc, a->sock, have_domid,
	    a->nr_vcpus, a->ram_mb, 1))
		goto bad;
	if ((w_lba || w_n || w_s) && !(w_lba && w_n && w_s)) {
		sg_errx("--write-lba, --write-sectors and --write-seed go"
		    " together");
		goto bad;
	}
	if ((r_lba || r_n || r_s) && !(r_lba && r_n && r_s)) {
		sg_errx("--read-lba, --read-sectors and --read-seed go"
		    " together");
		goto bad;
	}
	a->have_write = w_lba && a->write_sectors > 0;
	a->have_read = r_lba && a->read_sectors > 0;
	if (a->depth == 0 || a->depth > MAX_DEPTH) {
		sg_errx("--depth must be 1..%u", MAX_DEPTH);
		goto bad;
	}
	if (a->queue_size == 0 || a->queue_size > SG_VQ_MAX_NUM) {
		sg_errx("--queue-size must be 1..%u", SG_VQ_MAX_NUM);
		goto bad;
	}
	return 0;
bad:
	usage(stderr);
	return -EINVAL;
}

/* The seed a read must find at @o: written bytes, else the read seed. */
static uint32_t expected_seed(const struct blk_args *a, uint64_t o,
    bool readback)
{
	uint64_t ws = a->write_lba * SG_BLK_SECTOR;
	uint64_t we = ws + (uint64_t)a->write_sectors * SG_BLK_SECTOR;

	if (readback || (a->have_write && o >= ws && o < we))
		return a->write_seed;
	return a->read_seed;
}

static int verify(const struct guest *g, const struct req_buf *rb,
    bool readback)
{
	uint64_t base = rb->lba * SG_BLK_SECTOR;
	uint32_t len = rb->sectors * SG_BLK_SECTOR;

	for (uint32_t i = 0; i < len; i++) {
		uint32_t seed = expected_seed(&g->a, base + i, readback);
		uint8_t want = pattern_byte(seed, base + i);

		if (rb->p[i] != want) {
			sg_errx("data mismatch at byte %" PRIu64 " (lba %"
			    PRIu64 " + %u): got %#04x, expected %#04x (seed"
			    " %u)", base + i, (base + i) / SG_BLK_SECTOR,
			    (unsigned)((base + i) % SG_BLK_SECTOR), rb->p[i],
			    want, seed);
			return -EIO;
		}
	}
	return 0;
}

static struct req_buf *buf_get(struct guest *g)
{
	for (unsigned i = 0; i < g->nr_buf; i++)
		if (!g->buf[i].busy)
			return &g->buf[i];
	return NULL;
}

/*
 * Move [lba, lba+nr_sect) in requests of at most MAX_REQ_SECTORS, with up
 * to depth requests in flight (sliding window, one kick per batch).
 */
static int run_range(struct guest *g, uint32_t type, uint64_t lba,
    uint32_t nr_sect, uint32_t seed, bool readback)
{
	uint64_t next = lba, end = lba + nr_sect;
	struct sg_blk_done d;
	int rc;

	while (next < end || sg_blk_nr_inflight(&g->blk) > 0) {
		struct req_buf *rb;

		while (next < end && (rb = buf_get(g)) != NULL) {
			uint32_t n = end - next < MAX_REQ_SECTORS ?
			    (uint32_t)(end - next) : MAX_REQ_SECTORS;

			rb->lba = next;
			rb->sectors = n;
			if (type == VIRTIO_BLK_T_OUT)
				pattern_fill(rb->p, next * SG_BLK_SECTOR,
				    n * SG_BLK_SECTOR, seed);
			else
				memset(rb->p, 0xa5, REQ_BUF_LEN);
			rc = sg_blk_submit(&g->blk, type, next, rb->gpa,
			    n * SG_BLK_SECTOR, rb);
			if (rc == -ENOSPC || rc == -EBUSY) {
				if (sg_blk_nr_inflight(&g->blk) == 0)
					return sg_err(rc, "request does not"
					    " fit an empty queue");
				break;
			}
			if (rc < 0)
				return rc;
			rb->busy = true;
			next += n;
		}
		if ((rc = sg_blk_kick(&g->blk)) < 0)
			return rc;
		rc = sg_blk_reap(&g->blk, &d, SG_BLK_TIMEOUT_MS);
		if (rc < 0)
			return rc;
		rb = d.cookie;
		if (rb == NULL || rb < g->buf || rb >= g->buf + g->nr_buf ||
		    !rb->busy)
			return sg_err(-EIO, "completion for an unknown buffer");
		rb->busy = false;
		if (type == VIRTIO_BLK_T_IN && (rc = verify(g, rb,
		    readback)) < 0)
			return rc;
	}
	return 0;
}

/*
 * Reads in flight, up to depth, never reaped: what a driver leaves behind
 * when it is reset, reloaded, kexec'd or its domain destroyed. Returns how
 * many were made available (and kicked).
 */
static int reads_in_flight(struct guest *g)
{
	unsigned n = 0;
	int rc;

	for (unsigned i = 0; i < g->nr_buf; i++) {
		struct req_buf *rb = &g->buf[i];
		uint64_t lba = (uint64_t)i * MAX_REQ_SECTORS;

		if (lba + MAX_REQ_SECTORS > g->blk.capacity)
			break;
		rc = sg_blk_submit(&g->blk, VIRTIO_BLK_T_IN, lba, rb->gpa,
		    MAX_REQ_SECTORS * SG_BLK_SECTOR, rb);
		if (rc == -ENOSPC || rc == -EBUSY)
			break;
		if (rc < 0)
			return rc;
		n++;
	}
	if ((rc = sg_blk_kick(&g->blk)) < 0)
		return rc;
	return (int)n;
}

/*
 * Status=0 with requests in flight, alternating with a driver reload (a new
 * probe: new rings elsewhere in guest RAM, as after rmmod/modprobe or a
 * kexec'd kernel). Whatever the device still completes for the old rings
 * must not disturb the new ones: the verified I/O after this proves it.
 */
static int reset_cycles(struct guest *g, const struct sg_blk_opts *bo)
{
	int rc, n;

	for (uint32_t i = 0; i < g->a.resets_mid_io; i++) {
		if ((n = reads_in_flight(g)) < 0)
			return n;
		if (i % 2 == 0) {
			/* Reset, then set the same device up again. */
			if ((rc = sg_vdev_reset(&g->blk.vd)) < 0)
				return rc;
			sg_vdev_cleanup(&g->blk.vd);
			free(g->blk.slot);
			g->blk.slot = NULL;
			g->blk.vq = NULL;
			rc = sg_blk_setup(&g->blk, bo);
		} else {
			/* Driver reload: reset, probe from scratch. */
			if ((rc = sg_blk_close(&g->blk)) < 0)
				return rc;
			rc = sg_blk_open(&g->blk, g->sim, 0, SIM_MMIO_BASE, bo);
		}
		if (rc < 0)
			return rc;
		printf("guest: %s %u with %d request(s) in flight ok\n",
		    i % 2 == 0 ? "reset" : "reload", i + 1, n);
	}
	return 0;
}

static int range_check(const struct guest *g, const char *what, uint64_t lba,
    uint32_t n)
{
	if (lba > g->blk.capacity || n > g->blk.capacity - lba)
		return sg_err(-ERANGE, "%s range lba %" PRIu64 " + %u sectors"
		    " beyond capacity %" PRIu64, what, lba, n,
		    g->blk.capacity);
	return 0;
}

static int maybe_invalidate(struct guest *g, const char *after)
{
	int rc;

	if (!g->a.invalidate)
		return 0;
	rc = sg_invalidate(g->sim);
	if (rc < 0)
		return rc;
	printf("guest: invalidate after %s ok\n", after);
	return 0;
}

static void print_id(const char id[VIRTIO_BLK_ID_BYTES + 1])
{
	char out[4 * VIRTIO_BLK_ID_BYTES + 1];
	size_t o = 0;

	for (size_t i = 0; i < VIRTIO_BLK_ID_BYTES && id[i] != '\0'; i++) {
		unsigned char ch = (unsigned char)id[i];

		if (ch >= 0x20 && ch < 0x7f && ch != '\'' && ch != '\\')
			out[o++] = (char)ch;
		else
			o += (size_t)snprintf(out + o, sizeof(out) - o,
			    "\\x%02x", ch);
	}
	out[o] = '\0';
	printf("guest: id '%s'\n", out);
}

static int blk_phases(struct guest *g)
{
	struct blk_args *a = &g->a;
	struct sg_blk_opts bo = {
		.queue_num = a->queue_size,
		.indirect = a->indirect,
		.event_idx = a->event_idx,
		.nr_slots = a->depth,
	};
	struct sim_dev dev = {
		.virtio_id = VIRTIO_ID_BLOCK,
		.irq = SIM_SPI_FIRST,
		.base = SIM_MMIO_BASE,
	};
	char id[VIRTIO_BLK_ID_BYTES + 1];
	int rc;

	rc = sg_sim_connect(a->sock, a->domid, a->nr_vcpus, a->ram_mb << 20,
	    &dev, 1, &g->sim);
	if (rc < 0)
		return rc;
	printf("guest: connected as dom%u (%u vCPUs, %" PRIu64 " MiB)\n",
	    a->domid, a->nr_vcpus, a->ram_mb);
	sg_sim_set_fast_path(g->sim, a->fast_path);

	g->blk_open = true;
	rc = sg_blk_open(&g->blk, g->sim, 0, SIM_MMIO_BASE, &bo);
	if (rc < 0)
		return rc;
	printf("guest: features %#" PRIx64 " (offered %#" PRIx64 "), queue"
	    " %u, seg_max %u, blk_size %u\n", g->blk.vd.features,
	    g->blk.vd.offered, sg_vq_num(g->blk.vq), g->blk.seg_max,
	    g->blk.blk_size);
	if (a->indirect && !sg_blk_has(&g->blk, VIRTIO_RING_F_INDIRECT_DESC))
		printf("guest: indirect descriptors not offered\n");
	if (a->event_idx && !sg_blk_has(&g->blk, VIRTIO_RING_F_EVENT_IDX))
		printf("guest: event idx not offered\n");
	printf("guest: capacity %" PRIu64 " sectors\n", g->blk.capacity);
	if (a->have_expect && g->blk.capacity != a->expect_sectors)
		return sg_err(-EIO, "capacity %" PRIu64 " sectors, expected %"
		    PRIu64, g->blk.capacity, a->expect_sectors);
	if ((a->have_write && (rc = range_check(g, "write", a->write_lba,
	    a->write_sectors)) < 0) ||
	    (a->have_read && (rc = range_check(g, "read", a->read_lba,
	    a->read_sectors)) < 0))
		return rc;

	g->nr_buf = a->depth;
	g->buf = calloc(g->nr_buf, sizeof(*g->buf));
	if (g->buf == NULL)
		return sg_err(-ENOMEM, "allocate buffers");
	for (unsigned i = 0; i < g->nr_buf; i++) {
		g->buf[i].p = sg_ram_alloc(g->sim, REQ_BUF_LEN, &g->buf[i].gpa);
		if (g->buf[i].p == NULL)
			return -ENOMEM;
	}

	if (a->resets_mid_io != 0 && (rc = reset_cycles(g, &bo)) < 0)
		return rc;
	if (a->die_mid_io) {
		int n = reads_in_flight(g);

		if (n < 0)
			return n;
		/* The domain goes with its requests: no reset, no goodbye. */
		printf("guest: exiting with %d request(s) in flight\n", n);
		fflush(stdout);
		_exit(0);
	}

	rc = sg_blk_get_id(&g->blk, id);
	if (rc == -ENOTSUP)
		printf("guest: id unsupported\n");
	else if (rc < 0)
		return rc;
	else
		print_id(id);
	if ((rc = maybe_invalidate(g, "get-id")) < 0)
		return rc;

	if (a->have_write) {
		rc = run_range(g, VIRTIO_BLK_T_OUT, a->write_lba,
		    a->write_sectors, a->write_seed, false);
		if (rc < 0)
			return rc;
		printf("guest: wrote %u sectors at lba %" PRIu64 " (seed %u)\n",
		    a->write_sectors, a->write_lba, a->write_seed);
		if ((rc = maybe_invalidate(g, "write")) < 0)
			return rc;
	}

	rc = sg_blk_flush(&g->blk);
	if (rc == -ENOTSUP)
		printf("guest: flush not offered\n");
	else if (rc < 0)
		return rc;
	else
		printf("guest: flush ok\n");
	if ((rc = maybe_invalidate(g, "flush")) < 0)
		return rc;

	if (a->have_read) {
		rc = run_range(g, VIRTIO_BLK_T_IN, a->read_lba,
		    a->read_sectors, a->read_seed, false);
		if (rc < 0)
			return rc;
		printf("guest: read %u sectors at lba %" PRIu64 ": pattern ok\n",
		    a->read_sectors, a->read_lba);
		if ((rc = maybe_invalidate(g, "read")) < 0)
			return rc;
	}

	if (a->have_write) {
		rc = run_range(g, VIRTIO_BLK_T_IN, a->write_lba,
		    a->write_sectors, a->write_seed, true);
		if (rc < 0)
			return rc;
		printf("guest: read back %u sectors at lba %" PRIu64 ": pattern"
		    " ok\n", a->write_sectors, a->write_lba);
	}
	return 0;
}

static void print_stats(const struct guest *g)
{
	struct sg_sim_stats ss;
	struct sg_vq_stats qs;
	char per[SIM_MAX_VCPUS * 24] = "";
	size_t o = 0;

	sg_sim_get_stats(g->sim, &ss);
	sg_vq_get_stats(g->blk.vq, &qs);
	for (unsigned v = 0; v < sg_sim_nr_vcpus(g->sim); v++)
		o += (size_t)snprintf(per + o, sizeof(per) - o, "%s%" PRIu64,
		    v != 0 ? "/" : "", ss.nr_mmio_vcpu[v]);
	printf("guest: stats: mmio %" PRIu64 " (per vCPU %s), invalidate %"
	    PRIu64 ", irqs %" PRIu64 ", chains %" PRIu64 " (indirect %" PRIu64
	    "), kicks %" PRIu64 " (suppressed %" PRIu64 "), kernel fast path:"
	    " kicks %" PRIu64 ", irqs %" PRIu64 "\n", ss.nr_mmio, per,
	    ss.nr_invalidate, ss.nr_irq, qs.nr_added, qs.nr_indirect,
	    qs.nr_kicks, qs.nr_kicks_suppressed, ss.nr_fast_kicks,
	    ss.nr_fast_irqs);
}

static int cmd_blk(int argc, char **argv)
{
	struct guest g;
	int rc;

	memset(&g, 0, sizeof(g));
	if (blk_parse(argc, argv, &g.a) < 0)
		return 1;
	rc = blk_phases(&g);
	if (rc == 0) {
		if (g.blk.vq != NULL)
			print_stats(&g);
		rc = sg_blk_close(&g.blk);
		if (rc == 0)
			printf("guest: reset ok\n");
	} else if (g.blk_open) {
		/* Tell the device we gave up, unless it cannot hear us. */
		if (rc != -ETIMEDOUT && rc != -EPIPE && rc != -ESHUTDOWN &&
		    rc != -EFAULT)
			sg_vdev_fail(&g.blk.vd);
		sg_vdev_cleanup(&g.blk.vd);
		free(g.blk.slot);
	}
	free(g.buf);
	sg_sim_close(g.sim);
	if (rc < 0) {
		sg_errx("blk test failed: %s", strerror(-rc));
		return 1;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* fs */

/* Why 16 KiB: a 64 KiB file takes several WRITEs; capped by max_write. */
#define FS_DEFAULT_CHUNK	(16u << 10)
/* Why 1 MiB: Linux's virtiofs max_pages (256 pages) and virtiofsd's buffer. */
#define FS_MAX_CHUNK		(1u << 20)
/* Why 128 KiB: Linux's default max_readahead. */
#define FS_MAX_READAHEAD	(128u << 10)
#define FS_MISSING_NAME		"xvd-no-such-file"
/* What a read buffer holds where the device wrote nothing. */
#define FS_READ_POISON		0x5au

struct fs_args {
	const char *sock;
	uint32_t domid;
	uint32_t nr_vcpus;
	uint64_t ram_mb;
	const char *file;
	const char *dir;
	uint64_t bytes;
	uint32_t seed;
	uint32_t chunk;
	bool indirect;
	bool event_idx;
	uint32_t queue_size;
	const char *expect_tag;
};

struct fs_guest {
	struct fs_args a;
	struct sg_sim *sim;
	struct sg_fs fs;
	bool fs_open;
};

enum { OPT_FS_CONNECT = 256, OPT_FS_DOMID, OPT_FS_VCPUS, OPT_FS_RAM_MB,
	OPT_FS_FILE, OPT_FS_DIR, OPT_FS_BYTES, OPT_FS_SEED, OPT_FS_CHUNK,
	OPT_FS_INDIRECT, OPT_FS_EVENT_IDX, OPT_FS_QSIZE, OPT_FS_TAG };

static bool fs_name_ok(const char *opt, const char *name)
{
	if (name[0] == '\0' || strchr(name, '/') != NULL ||
	    strcmp(name, ".") == 0 || strcmp(name, "..") == 0 ||
	    strlen(name) > SG_FS_NAME_MAX) {
		sg_errx("--%s '%s' is not a plain file name", opt, name);
		return false;
	}
	return true;
}

static int fs_parse(int argc, char **argv, struct fs_args *a)
{
	static const struct option longopts[] = {
		{ "connect", required_argument, NULL, OPT_FS_CONNECT },
		{ "domid", required_argument, NULL, OPT_FS_DOMID },
		{ "vcpus", required_argument, NULL, OPT_FS_VCPUS },
		{ "ram-mb", required_argument, NULL, OPT_FS_RAM_MB },
		{ "file", required_argument, NULL, OPT_FS_FILE },
		{ "dir", required_argument, NULL, OPT_FS_DIR },
		{ "bytes", required_argument, NULL, OPT_FS_BYTES },
		{ "seed", required_argument, NULL, OPT_FS_SEED },
		{ "chunk", required_argument, NULL, OPT_FS_CHUNK },
		{ "indirect", no_argument, NULL, OPT_FS_INDIRECT },
		{ "event-idx", no_argument, NULL, OPT_FS_EVENT_IDX },
		{ "queue-size", required_argument, NULL, OPT_FS_QSIZE },
		{ "expect-tag", required_argument, NULL, OPT_FS_TAG },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool have_domid = false;
	int c, rc = 0;

	memset(a, 0, sizeof(*a));
	a->nr_vcpus = 2;
	a->ram_mb = 64;
	a->file = "hello.txt";
	a->dir = "sub";
	a->bytes = 65536;
	a->seed = 1;
	a->chunk = FS_DEFAULT_CHUNK;
	a->queue_size = 128;
	while (rc == 0 &&
	    (c = getopt_long(argc, argv, "vh", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_FS_CONNECT: a->sock = optarg; break;
		case OPT_FS_DOMID:
			rc = parse_u32("domid", optarg, &a->domid);
			have_domid = true;
			break;
		case OPT_FS_VCPUS:
			rc = parse_u32("vcpus", optarg, &a->nr_vcpus);
			break;
		case OPT_FS_RAM_MB:
			rc = parse_u64("ram-mb", optarg, &a->ram_mb);
			break;
		case OPT_FS_FILE: a->file = optarg; break;
		case OPT_FS_DIR: a->dir = optarg; break;
		case OPT_FS_BYTES:
			rc = parse_u64("bytes", optarg, &a->bytes);
			break;
		case OPT_FS_SEED: rc = parse_u32("seed", optarg, &a->seed); break;
		case OPT_FS_CHUNK:
			rc = parse_u32("chunk", optarg, &a->chunk);
			break;
		case OPT_FS_INDIRECT: a->indirect = true; break;
		case OPT_FS_EVENT_IDX: a->event_idx = true; break;
		case OPT_FS_QSIZE:
			rc = parse_u32("queue-size", optarg, &a->queue_size);
			break;
		case OPT_FS_TAG: a->expect_tag = optarg; break;
		case 'v': sg_log_set_debug(true); break;
		case 'h': usage(stdout); exit(0);
		default: rc = -EINVAL; break;
		}
	}
	if (rc < 0)
		goto bad;
	if (!domain_args_ok("fs", optind != argc, a->sock, have_domid,
	    a->nr_vcpus, a->ram_mb, 1))
		goto bad;
	if (a->chunk == 0 || a->chunk > FS_MAX_CHUNK) {
		sg_errx("--chunk must be 1..%u", FS_MAX_CHUNK);
		goto bad;
	}
	if (a->bytes > (UINT64_C(1) << 40)) {
		sg_errx("--bytes must be at most 1 TiB");
		goto bad;
	}
	if (a->queue_size == 0 || a->queue_size > SG_VQ_MAX_NUM) {
		sg_errx("--queue-size must be 1..%u", SG_VQ_MAX_NUM);
		goto bad;
	}
	if (a->expect_tag != NULL && strlen(a->expect_tag) > SG_FS_TAG_LEN) {
		sg_errx("--expect-tag is longer than %u bytes", SG_FS_TAG_LEN);
		goto bad;
	}
	if (!fs_name_ok("file", a->file) || !fs_name_ok("dir", a->dir))
		goto bad;
	if (strcmp(a->file, a->dir) == 0 || strcmp(a->file,
	    FS_MISSING_NAME) == 0 || strcmp(a->dir, FS_MISSING_NAME) == 0) {
		sg_errx("--file, --dir and '%s' must differ", FS_MISSING_NAME);
		goto bad;
	}
	return 0;
bad:
	usage(stderr);
	return -EINVAL;
}

/* @s quoted for a log line: printable ASCII as is, the rest as \xNN. */
static void quote(const char *s, char *out, size_t out_len)
{
	size_t o = 0;

	for (; *s != '\0' && o + 5 < out_len; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch >= 0x20 && ch < 0x7f && ch != '\'' && ch != '\\')
			out[o++] = (char)ch;
		else
			o += (size_t)snprintf(out + o, out_len - o, "\\x%02x",
			    ch);
	}
	out[o] = '\0';
}

static const char *fs_errname(int32_t err)
{
	switch (err) {
	case 0:		return "ok";
	case -ENOENT:	return "ENOENT";
	case -EEXIST:	return "EEXIST";
	default:	return strerror(-err);
	}
}

/* An entry the server returned for @name: a live node of type @type. */
static int fs_check_entry(const char *what, const char *name,
    const struct fuse_entry_out *e, uint32_t type)
{
	if (e->nodeid == 0 || e->nodeid == FUSE_ROOT_ID)
		return sg_err(-EIO, "virtio-fs: %s '%s': nodeid %" PRIu64, what,
		    name, (uint64_t)e->nodeid);
	if ((e->attr.mode & S_IFMT) != type)
		return sg_err(-EIO, "virtio-fs: %s '%s': mode %#o, expected a"
		    " %s", what, name, e->attr.mode,
		    type == S_IFDIR ? "directory" : "regular file");
	return 0;
}

static int fs_write_file(struct fs_guest *g, uint64_t nodeid, uint64_t fh,
    uint32_t chunk, uint8_t *buf, uint64_t buf_gpa)
{
	uint64_t off = 0, nr = 0;
	int rc;

	while (off < g->a.bytes) {
		uint32_t n = g->a.bytes - off < chunk ?
		    (uint32_t)(g->a.bytes - off) : chunk, done;

		pattern_fill(buf, off, n, g->a.seed);
		rc = sg_fs_write(&g->fs, nodeid, fh, off, buf_gpa, n, &done,
		    NULL);
		if (rc < 0)
			return rc;
		if (done != n)
			return sg_err(-EIO, "virtio-fs: WRITE of %u bytes at %"
			    PRIu64 ": short write of %u", n, off, done);
		off += n;
		nr++;
	}
	printf("guest: wrote %" PRIu64 " bytes in %" PRIu64 " requests of up"
	    " to %u\n", g->a.bytes, nr, chunk);
	return 0;
}

static int fs_read_file(struct fs_guest *g, uint64_t nodeid, uint64_t fh,
    uint32_t chunk, uint8_t *buf, uint64_t buf_gpa)
{
	uint64_t off = 0, nr = 0;
	uint32_t got;
	int rc;

	while (off < g->a.bytes) {
		uint32_t n = g->a.bytes - off < chunk ?
		    (uint32_t)(g->a.bytes - off) : chunk;

		memset(buf, FS_READ_POISON, n);
		rc = sg_fs_read(&g->fs, nodeid, fh, off, buf_gpa, n, &got,
		    NULL);
		if (rc < 0)
			return rc;
		if (got != n)
			return sg_err(-EIO, "virtio-fs: READ of %u bytes at %"
			    PRIu64 ": got %u", n, off, got);
		for (uint32_t i = 0; i < n; i++) {
			uint8_t want = pattern_byte(g->a.seed, off + i);

			if (buf[i] != want)
				return sg_err(-EIO, "data mismatch at byte %"
				    PRIu64 " of %s: got %#04x, expected %#04x"
				    " (seed %u)", off + i, g->a.file, buf[i],
				    want, g->a.seed);
		}
		off += n;
		nr++;
	}
	printf("guest: read back %" PRIu64 " bytes in %" PRIu64 " requests:"
	    " pattern ok\n", g->a.bytes, nr);
	/* At end of file: a successful READ of no data. */
	rc = sg_fs_read(&g->fs, nodeid, fh, g->a.bytes, buf_gpa, chunk, &got,
	    NULL);
	if (rc < 0)
		return rc;
	if (got != 0)
		return sg_err(-EIO, "virtio-fs: READ at end of file returned %u"
		    " bytes", got);
	printf("guest: read at end of file: 0 bytes\n");
	return 0;
}

static int fs_phases(struct fs_guest *g)
{
	struct fs_args *a = &g->a;
	struct sg_fs_opts fo = {
		.queue_num = a->queue_size,
		.indirect = a->indirect,
		.event_idx = a->event_idx,
	};
	struct sim_dev dev = {
		.virtio_id = VIRTIO_ID_FS,
		.irq = SIM_SPI_FIRST,
		.base = SIM_MMIO_BASE,
	};
	struct fuse_entry_out fe, de, e;
	struct fuse_open_out fo_out;
	struct fuse_attr_out attr;
	char tag[4 * SG_FS_TAG_LEN + 1];
	uint64_t wgpa, rgpa;
	uint8_t *wbuf, *rbuf;
	uint32_t chunk;
	int32_t ferr;
	int rc;

	rc = sg_sim_connect(a->sock, a->domid, a->nr_vcpus, a->ram_mb << 20,
	    &dev, 1, &g->sim);
	if (rc < 0)
		return rc;
	printf("guest: connected as dom%u (%u vCPUs, %" PRIu64 " MiB)\n",
	    a->domid, a->nr_vcpus, a->ram_mb);

	g->fs_open = true;
	rc = sg_fs_open(&g->fs, g->sim, 0, SIM_MMIO_BASE, &fo);
	if (rc < 0)
		return rc;
	printf("guest: features %#" PRIx64 " (offered %#" PRIx64 "), queues"
	    " %u+%u\n", g->fs.vd.features, g->fs.vd.offered,
	    sg_vq_num(g->fs.hiprio), sg_vq_num(g->fs.req));
	if (a->indirect && !sg_fs_has(&g->fs, VIRTIO_RING_F_INDIRECT_DESC))
		printf("guest: indirect descriptors not offered\n");
	if (a->event_idx && !sg_fs_has(&g->fs, VIRTIO_RING_F_EVENT_IDX))
		printf("guest: event idx not offered\n");
	quote(g->fs.tag, tag, sizeof(tag));
	printf("guest: fs tag '%s', %u request queues\n", tag,
	    g->fs.nr_request_queues);
	if (a->expect_tag != NULL && strcmp(g->fs.tag, a->expect_tag) != 0)
		return sg_err(-EIO, "virtio-fs: tag '%s', expected '%s'", tag,
		    a->expect_tag);
	/* Linux's virtio_fs refuses both; we go on to test the queues. */
	if (g->fs.tag[0] == '\0' || g->fs.nr_request_queues == 0)
		printf("guest: warning: %s%s%s in config (Linux would refuse"
		    " the device)\n", g->fs.tag[0] == '\0' ? "empty tag" : "",
		    g->fs.tag[0] == '\0' && g->fs.nr_request_queues == 0 ?
		    " and " : "", g->fs.nr_request_queues == 0 ?
		    "num_request_queues 0" : "");

	rc = sg_fs_init(&g->fs, FS_MAX_READAHEAD, 0);
	if (rc < 0)
		return rc;
	printf("guest: FUSE init: server %u.%u, max_write %u, max_readahead %u,"
	    " flags %#x\n", g->fs.init.major, g->fs.init.minor,
	    g->fs.init.max_write, g->fs.init.max_readahead, g->fs.init.flags);
	chunk = a->chunk < g->fs.init.max_write ? a->chunk :
	    g->fs.init.max_write;
	wbuf = sg_ram_alloc(g->sim, chunk, &wgpa);
	rbuf = sg_ram_alloc(g->sim, chunk, &rgpa);
	if (wbuf == NULL || rbuf == NULL)
		return sg_err(-ENOMEM, "guest RAM for %u-byte buffers", chunk);

	rc = sg_fs_lookup(&g->fs, FUSE_ROOT_ID, FS_MISSING_NAME, &e, &ferr);
	if (rc < 0)
		return rc;
	/* ENOENT, or a negative entry (nodeid 0) as libfuse may send. */
	if (ferr == 0 && e.nodeid != 0)
		return sg_err(-EIO, "virtio-fs: LOOKUP '%s' found nodeid %"
		    PRIu64, FS_MISSING_NAME, (uint64_t)e.nodeid);
	if (ferr != 0 && ferr != -ENOENT)
		return sg_err(ferr, "virtio-fs: LOOKUP '%s': expected ENOENT",
		    FS_MISSING_NAME);
	printf("guest: lookup '%s': %s\n", FS_MISSING_NAME, ferr != 0 ?
	    fs_errname(ferr) : "negative entry");

	rc = sg_fs_create(&g->fs, FUSE_ROOT_ID, a->file,
	    O_RDWR | O_CREAT | O_EXCL, S_IFREG | 0644, &fe, &fo_out, NULL);
	if (rc < 0)
		return rc;
	if ((rc = fs_check_entry("CREATE", a->file, &fe, S_IFREG)) < 0)
		return rc;
	printf("guest: created %s nodeid %" PRIu64 " fh %" PRIu64 " (open"
	    " flags %#x)\n", a->file, (uint64_t)fe.nodeid, (uint64_t)fo_out.fh,
	    fo_out.open_flags);

	if ((rc = fs_write_file(g, fe.nodeid, fo_out.fh, chunk, wbuf,
	    wgpa)) < 0)
		return rc;
	if ((rc = sg_fs_flush(&g->fs, fe.nodeid, fo_out.fh, NULL)) < 0)
		return rc;
	printf("guest: flush ok\n");
	if ((rc = sg_fs_fsync(&g->fs, fe.nodeid, fo_out.fh, false, NULL)) < 0)
		return rc;
	printf("guest: fsync ok\n");
	if ((rc = fs_read_file(g, fe.nodeid, fo_out.fh, chunk, rbuf,
	    rgpa)) < 0)
		return rc;

	rc = sg_fs_getattr(&g->fs, fe.nodeid, fo_out.fh, &attr, NULL);
	if (rc < 0)
		return rc;
	if (attr.attr.size != a->bytes)
		return sg_err(-EIO, "virtio-fs: GETATTR %s: size %" PRIu64
		    ", expected %" PRIu64, a->file, (uint64_t)attr.attr.size,
		    a->bytes);
	if (!S_ISREG(attr.attr.mode) || (attr.attr.mode & 07777 & ~0644u) != 0)
		return sg_err(-EIO, "virtio-fs: GETATTR %s: mode %#o, expected"
		    " a regular file within 0644", a->file, attr.attr.mode);
	printf("guest: getattr %s: size %" PRIu64 " mode %#o\n", a->file,
	    (uint64_t)attr.attr.size, attr.attr.mode);

	rc = sg_fs_release(&g->fs, fe.nodeid, fo_out.fh, O_RDWR, NULL);
	if (rc < 0)
		return rc;
	printf("guest: released fh %" PRIu64 "\n", (uint64_t)fo_out.fh);

	rc = sg_fs_mkdir(&g->fs, FUSE_ROOT_ID, a->dir, S_IFDIR | 0755, &de,
	    NULL);
	if (rc < 0)
		return rc;
	if ((rc = fs_check_entry("MKDIR", a->dir, &de, S_IFDIR)) < 0)
		return rc;
	printf("guest: mkdir %s nodeid %" PRIu64 "\n", a->dir,
	    (uint64_t)de.nodeid);
	rc = sg_fs_lookup(&g->fs, FUSE_ROOT_ID, a->dir, &e, NULL);
	if (rc < 0)
		return rc;
	if ((rc = fs_check_entry("LOOKUP", a->dir, &e, S_IFDIR)) < 0)
		return rc;
	if (e.nodeid != de.nodeid)
		return sg_err(-EIO, "virtio-fs: LOOKUP %s: nodeid %" PRIu64
		    ", MKDIR gave %" PRIu64, a->dir, (uint64_t)e.nodeid,
		    (uint64_t)de.nodeid);
	printf("guest: lookup %s nodeid %" PRIu64 ": directory\n", a->dir,
	    (uint64_t)e.nodeid);
	rc = sg_fs_lookup(&g->fs, FUSE_ROOT_ID, a->file, &e, NULL);
	if (rc < 0)
		return rc;
	if ((rc = fs_check_entry("LOOKUP", a->file, &e, S_IFREG)) < 0)
		return rc;
	if (e.nodeid != fe.nodeid || e.attr.size != a->bytes)
		return sg_err(-EIO, "virtio-fs: LOOKUP %s: nodeid %" PRIu64
		    " size %" PRIu64 ", expected nodeid %" PRIu64 " size %"
		    PRIu64, a->file, (uint64_t)e.nodeid, (uint64_t)e.attr.size,
		    (uint64_t)fe.nodeid, a->bytes);
	printf("guest: lookup %s nodeid %" PRIu64 ": size %" PRIu64 "\n",
	    a->file, (uint64_t)e.nodeid, (uint64_t)e.attr.size);

	/* Each of CREATE/MKDIR and LOOKUP counted one reference. */
	if ((rc = sg_fs_forget(&g->fs, fe.nodeid, 2)) < 0 ||
	    (rc = sg_fs_forget(&g->fs, de.nodeid, 2)) < 0)
		return rc;
	printf("guest: forget on the hiprio queue ok\n");
	if ((rc = sg_fs_destroy(&g->fs, NULL)) < 0)
		return rc;
	printf("guest: destroy ok\n");
	return 0;
}

static void fs_print_stats(const struct fs_guest *g)
{
	struct sg_sim_stats ss;
	struct sg_vq_stats hq, rq;

	sg_sim_get_stats(g->sim, &ss);
	sg_vq_get_stats(g->fs.hiprio, &hq);
	sg_vq_get_stats(g->fs.req, &rq);
	printf("guest: stats: mmio %" PRIu64 ", irqs %" PRIu64 ", requests %"
	    PRIu64 " (indirect %" PRIu64 ", kicks %" PRIu64 ", suppressed %"
	    PRIu64 "), hiprio %" PRIu64 " (kicks %" PRIu64 ")\n", ss.nr_mmio,
	    ss.nr_irq, rq.nr_added, rq.nr_indirect, rq.nr_kicks,
	    rq.nr_kicks_suppressed, hq.nr_added, hq.nr_kicks);
}

static int cmd_fs(int argc, char **argv)
{
	struct fs_guest g;
	int rc;

	memset(&g, 0, sizeof(g));
	if (fs_parse(argc, argv, &g.a) < 0)
		return 1;
	rc = fs_phases(&g);
	if (rc == 0) {
		fs_print_stats(&g);
		rc = sg_fs_close(&g.fs);
		if (rc == 0)
			printf("guest: reset ok\n");
	} else if (g.fs_open) {
		if (rc != -ETIMEDOUT && rc != -EPIPE && rc != -ESHUTDOWN &&
		    rc != -EFAULT)
			sg_vdev_fail(&g.fs.vd);
		sg_vdev_cleanup(&g.fs.vd);
	}
	sg_sim_close(g.sim);
	if (rc < 0) {
		sg_errx("fs test failed: %s", strerror(-rc));
		return 1;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* net */

/* Why 0x88b5: the IEEE local experimental EtherType. */
#define NET_ETHERTYPE		0x88b5u
#define NET_ETH_HLEN		14u
/* Why 60: the shortest Ethernet frame without FCS. */
#define NET_FRAME_MIN		60u
/* Why 32: frames in flight at most; fewer than the posted rx buffers. */
#define NET_DEFAULT_WINDOW	32u
/*
 * Probe frames (numbers with this bit) find out that the link is up before
 * a phase: a back-end drops what arrives while it attaches (testpmd does,
 * between the vhost-user rings going ready and its port's link up).
 */
#define NET_PROBE_BIT		0x80000000u
/* Why 250 ms: the wait for one probe; a live loop answers in microseconds. */
#define NET_PROBE_WAIT_MS	250
/* Why 30 s: a back-end restart, with the connect timeout's margin. */
#define NET_PROBE_TIMEOUT_MS	30000

static const uint8_t net_peer_mac[6] = { 0x02, 0, 0, 0, 0, 0x02 };
static const uint8_t net_own_mac[6] = { 0x02, 0, 0, 0, 0, 0x01 };

struct net_args {
	const char *sock;
	uint32_t domid;
	uint32_t nr_vcpus;
	uint64_t ram_mb;
	uint32_t frames;	/* per phase */
	uint32_t phases;
	uint32_t window;
	uint32_t seed;
	uint32_t queue_size;
	bool macswap;
};

enum { OPT_NET_CONNECT = 256, OPT_NET_DOMID, OPT_NET_VCPUS, OPT_NET_RAM_MB,
	OPT_NET_FRAMES, OPT_NET_PHASES, OPT_NET_WINDOW, OPT_NET_SEED,
	OPT_NET_FWD, OPT_NET_QSIZE };

static int net_parse(int argc, char **argv, struct net_args *a)
{
	static const struct option longopts[] = {
		{ "connect", required_argument, NULL, OPT_NET_CONNECT },
		{ "domid", required_argument, NULL, OPT_NET_DOMID },
		{ "vcpus", required_argument, NULL, OPT_NET_VCPUS },
		{ "ram-mb", required_argument, NULL, OPT_NET_RAM_MB },
		{ "frames", required_argument, NULL, OPT_NET_FRAMES },
		{ "phases", required_argument, NULL, OPT_NET_PHASES },
		{ "window", required_argument, NULL, OPT_NET_WINDOW },
		{ "seed", required_argument, NULL, OPT_NET_SEED },
		{ "fwd", required_argument, NULL, OPT_NET_FWD },
		{ "queue-size", required_argument, NULL, OPT_NET_QSIZE },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool have_domid = false;
	int c, rc = 0;

	memset(a, 0, sizeof(*a));
	a->nr_vcpus = 2;
	a->ram_mb = 64;
	a->frames = 1000;
	a->phases = 1;
	a->window = NET_DEFAULT_WINDOW;
	a->seed = 1;
	a->queue_size = 256;
	while (rc == 0 &&
	    (c = getopt_long(argc, argv, "vh", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_NET_CONNECT: a->sock = optarg; break;
		case OPT_NET_DOMID:
			rc = parse_u32("domid", optarg, &a->domid);
			have_domid = true;
			break;
		case OPT_NET_VCPUS:
			rc = parse_u32("vcpus", optarg, &a->nr_vcpus);
			break;
		case OPT_NET_RAM_MB:
			rc = parse_u64("ram-mb", optarg, &a->ram_mb);
			break;
		case OPT_NET_FRAMES:
			rc = parse_u32("frames", optarg, &a->frames);
			break;
		case OPT_NET_PHASES:
			rc = parse_u32("phases", optarg, &a->phases);
			break;
		case OPT_NET_WINDOW:
			rc = parse_u32("window", optarg, &a->window);
			break;
		case OPT_NET_SEED: rc = parse_u32("seed", optarg, &a->seed); break;
		case OPT_NET_FWD:
			if (strcmp(optarg, "macswap") == 0) {
				a->macswap = true;
			} else if (strcmp(optarg, "io") != 0) {
				sg_errx("--fwd must be io or macswap");
				rc = -EINVAL;
			}
			break;
		case OPT_NET_QSIZE:
			rc = parse_u32("queue-size", optarg, &a->queue_size);
			break;
		case 'v': sg_log_set_debug(true); break;
		case 'h': usage(stdout); exit(0);
		default: rc = -EINVAL; break;
		}
	}
	if (rc < 0)
		goto bad;
	if (!domain_args_ok("net", optind != argc, a->sock, have_domid,
	    a->nr_vcpus, a->ram_mb, 4))
		goto bad;
	if (a->frames == 0 || a->phases == 0) {
		sg_errx("--frames and --phases must be at least 1");
		goto bad;
	}
	if (a->queue_size < 2 || a->queue_size > SG_NET_MAX_BUFS) {
		sg_errx("--queue-size must be 2..%u", SG_NET_MAX_BUFS);
		goto bad;
	}
	/* Every frame in flight must find a posted receive buffer. */
	if (a->window == 0 || a->window > a->queue_size / 2) {
		sg_errx("--window must be 1..%u (half the queue)",
		    a->queue_size / 2);
		goto bad;
	}
	return 0;
bad:
	usage(stderr);
	return -EINVAL;
}

/* The frame of sequence number @seq, as the guest sends it. */
static uint32_t net_frame(const struct net_args *a, const uint8_t *src,
    uint32_t seq, uint8_t *f)
{
	uint32_t len = NET_FRAME_MIN + (seq * 37u) %
	    (SG_NET_FRAME_MAX - NET_FRAME_MIN + 1);
	uint32_t le = htole32(seq);

	memcpy(f, net_peer_mac, 6);
	memcpy(f + 6, src, 6);
	f[12] = NET_ETHERTYPE >> 8;
	f[13] = NET_ETHERTYPE & 0xff;
	memcpy(f + NET_ETH_HLEN, &le, sizeof(le));
	pattern_fill(f + NET_ETH_HLEN + 4, (uint64_t)seq * SG_NET_BUF_LEN,
	    len - NET_ETH_HLEN - 4, a->seed);
	return len;
}

/* One frame that came back: which it is, and that it is byte-exact. */
static int net_check(const struct net_args *a, const uint8_t *src,
    const uint8_t *got, uint32_t len, uint32_t first, uint32_t end,
    uint8_t *seen)
{
	uint8_t want[SG_NET_FRAME_MAX];
	uint32_t seq, wlen;

	if (len < NET_FRAME_MIN)
		return sg_err(-EIO, "received a frame of %u bytes", len);
	memcpy(&seq, got + NET_ETH_HLEN, sizeof(seq));
	seq = le32toh(seq);
	if ((seq & NET_PROBE_BIT) == 0 && (seq < first || seq >= end))
		return sg_err(-EIO, "received frame number %u, not one of this"
		    " phase (%u..%u)", seq, first, end - 1);
	if ((seq & NET_PROBE_BIT) == 0 && seen[seq - first])
		return sg_err(-EIO, "frame %u received twice", seq);
	if ((seq & NET_PROBE_BIT) == 0)
		seen[seq - first] = 1;
	wlen = net_frame(a, src, seq, want);
	if (a->macswap) {
		/* testpmd's macswap: destination and source exchanged. */
		memcpy(want, src, 6);
		memcpy(want + 6, net_peer_mac, 6);
	}
	if (len != wlen)
		return sg_err(-EIO, "frame %u came back with %u bytes, sent %u",
		    seq, len, wlen);
	for (uint32_t i = 0; i < len; i++)
		if (got[i] != want[i])
			return sg_err(-EIO, "frame %u: byte %u is %#04x, expected"
			    " %#04x", seq, i, got[i], want[i]);
	return 0;
}

/*
 * Frames [first, first+nr) with at most window in flight: each must come
 * back exactly once, byte-exact, in any order.
 */
static int net_phase(struct sg_net *n, const struct net_args *a,
    uint32_t first, uint32_t *reordered)
{
	uint8_t *seen = calloc(a->frames, 1);
	uint8_t f[SG_NET_FRAME_MAX], got[SG_NET_FRAME_MAX];
	const uint8_t *src = n->has_mac ? n->mac : net_own_mac;
	uint32_t next = first, end = first + a->frames, done = 0, len;
	uint32_t expect = first;
	int rc = 0;

	if (seen == NULL)
		return sg_err(-ENOMEM, "allocate the frame map");
	while (done < a->frames) {
		uint32_t seq;

		while (next < end && next - first - done < a->window) {
			uint32_t flen = net_frame(a, src, next, f);

			if ((rc = sg_net_send(n, f, flen, SG_NET_TIMEOUT_MS)) < 0)
				goto out;
			next++;
		}
		rc = sg_net_recv(n, got, sizeof(got), &len, 2 * SG_NET_TIMEOUT_MS);
		if (rc == -ETIMEDOUT) {
			sg_errx("%u of %u frames (from %u) not back after %d ms",
			    a->frames - done, a->frames, first,
			    2 * SG_NET_TIMEOUT_MS);
			goto out;
		}
		if (rc < 0 || (rc = net_check(a, src, got, len, first, end,
		    seen)) < 0)
			goto out;
		memcpy(&seq, got + NET_ETH_HLEN, sizeof(seq));
		/* A late probe (checked all the same): not one of ours. */
		if ((le32toh(seq) & NET_PROBE_BIT) != 0)
			continue;
		if (le32toh(seq) != expect)
			(*reordered)++;
		expect = le32toh(seq) + 1;
		done++;
	}
out:
	free(seen);
	return rc;
}

/*
 * Send probe frames until one comes back (byte-exact): the link is up.
 * *probe is the next probe number; *nr_probes counts those sent.
 */
static int net_probe(struct sg_net *n, const struct net_args *a,
    uint32_t *probe, uint32_t *nr_probes)
{
	uint8_t f[SG_NET_FRAME_MAX], got[SG_NET_FRAME_MAX];
	const uint8_t *src = n->has_mac ? n->mac : net_own_mac;
	uint32_t len, seq;
	int rc;

	for (uint32_t t = 0; t < NET_PROBE_TIMEOUT_MS / NET_PROBE_WAIT_MS; t++) {
		uint32_t flen = net_frame(a, src, *probe | NET_PROBE_BIT, f);

		if ((rc = sg_net_send(n, f, flen, SG_NET_TIMEOUT_MS)) < 0)
			return rc;
		(*probe)++;
		(*nr_probes)++;
		rc = sg_net_recv(n, got, sizeof(got), &len, NET_PROBE_WAIT_MS);
		if (rc == -ETIMEDOUT)
			continue;
		if (rc < 0 || (rc = net_check(a, src, got, len, 0, 0,
		    NULL)) < 0)
			return rc;
		memcpy(&seq, got + NET_ETH_HLEN, sizeof(seq));
		if ((le32toh(seq) & NET_PROBE_BIT) == 0)
			return sg_err(-EIO, "frame %u outside a phase",
			    le32toh(seq));
		return 0;
	}
	return sg_err(-ETIMEDOUT, "no probe frame came back in %d ms",
	    NET_PROBE_TIMEOUT_MS);
}

static int net_phases(struct sg_sim **simp, struct sg_net *n,
    const struct net_args *a, bool *open)
{
	struct sg_net_opts no = { .queue_num = a->queue_size };
	struct sim_dev dev = {
		.virtio_id = VIRTIO_ID_NET,
		.irq = SIM_SPI_FIRST,
		.base = SIM_MMIO_BASE,
	};
	uint32_t reordered = 0, probe = 0, nr_probes;
	int rc;

	rc = sg_sim_connect(a->sock, a->domid, a->nr_vcpus, a->ram_mb << 20,
	    &dev, 1, simp);
	if (rc < 0)
		return rc;
	printf("guest: connected as dom%u (%u vCPUs, %" PRIu64 " MiB)\n",
	    a->domid, a->nr_vcpus, a->ram_mb);
	*open = true;
	if ((rc = sg_net_open(n, *simp, 0, SIM_MMIO_BASE, &no)) < 0)
		return rc;
	printf("guest: features %#" PRIx64 " (offered %#" PRIx64 "), queues %u"
	    "/%u, %u rx buffers posted\n", n->vd.features, n->vd.offered,
	    sg_vq_num(n->rx), sg_vq_num(n->tx), n->nr_rx);
	if (n->has_mac)
		printf("guest: mac %02x:%02x:%02x:%02x:%02x:%02x\n", n->mac[0],
		    n->mac[1], n->mac[2], n->mac[3], n->mac[4], n->mac[5]);
	for (uint32_t p = 0; p < a->phases; p++) {
		char line[64];

		if (p > 0) {
			/* The test restarts the back-end meanwhile. */
			printf("guest: waiting for a line on stdin\n");
			if (fgets(line, sizeof(line), stdin) == NULL)
				printf("guest: stdin closed, going on\n");
		}
		nr_probes = 0;
		if ((rc = net_probe(n, a, &probe, &nr_probes)) < 0)
			return rc;
		printf("guest: phase %u: link up after %u probe frame(s)\n",
		    p + 1, nr_probes);
		rc = net_phase(n, a, p * a->frames, &reordered);
		if (rc < 0)
			return rc;
		printf("guest: phase %u: %u frames looped back byte-exact (%s)\n",
		    p + 1, a->frames, a->macswap ? "macswap" : "io");
	}
	printf("guest: %" PRIu64 " sent, %" PRIu64 " received, %u out of order,"
	    " %" PRIu64 " rx headers without num_buffers\n", n->nr_sent,
	    n->nr_received, reordered, n->nr_hdr_nb_unset);
	return 0;
}

static int cmd_net(int argc, char **argv)
{
	struct net_args a;
	struct sg_sim *sim = NULL;
	struct sg_net n;
	bool open = false;
	int rc;

	memset(&n, 0, sizeof(n));
	if (net_parse(argc, argv, &a) < 0)
		return 1;
	rc = net_phases(&sim, &n, &a, &open);
	if (rc == 0) {
		rc = sg_net_close(&n);
		if (rc == 0)
			printf("guest: reset ok\n");
	} else if (open) {
		if (rc != -ETIMEDOUT && rc != -EPIPE && rc != -ESHUTDOWN &&
		    rc != -EFAULT)
			sg_vdev_fail(&n.vd);
		sg_net_cleanup(&n);
	}
	sg_sim_close(sim);
	if (rc < 0) {
		sg_errx("net test failed: %s", strerror(-rc));
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 2) {
		usage(stderr);
		return 1;
	}
	/* Subcommand options start after the subcommand. */
	if (strcmp(argv[1], "pattern") == 0)
		return cmd_pattern(argc - 1, argv + 1);
	if (strcmp(argv[1], "blk") == 0)
		return cmd_blk(argc - 1, argv + 1);
	if (strcmp(argv[1], "fs") == 0)
		return cmd_fs(argc - 1, argv + 1);
	if (strcmp(argv[1], "net") == 0)
		return cmd_net(argc - 1, argv + 1);
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
		usage(stdout);
		return 0;
	}
	sg_errx("unknown command '%s'", argv[1]);
	usage(stderr);
	return 1;
}
