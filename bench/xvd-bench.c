/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * xvd-bench: 4 KiB random I/O from the simulated guest's virtio-blk driver
 * (tests/guest), timed. A benchmark, not a test: see docs/performance.md.
 *
 *   xvd-bench sim --connect SOCK --domid N [--devices K] [workload]
 *       the guest behind xen-vhostd --sim SOCK (virtio-mmio over the
 *       simulated Xen; zero copy or shadow is the daemon's choice)
 *   xvd-bench direct --socket PATH [workload]
 *       the same driver as vhost-user front-end of the back-end at PATH
 *   xvd-bench pingpong [--seconds S]
 *       the machine's cost of one cross-process wake-up and back: two
 *       processes bouncing a count over two eventfds with blocking reads
 *       (what every notification of the paths above costs)
 *
 * workload: --rw randread|randwrite --depth N --seconds S [--warmup S]
 *           [--queue-size N] [--no-indirect] [--no-event-idx]
 *           [--span-mb N] [--seed N] [--xvd-pid PID] [--qsd-pid PID]
 *
 * Each device gets a closed loop of depth requests: every completion is
 * timed (submit to reap) and replaced by a new request at a random 4 KiB
 * aligned offset; completions are taken in batches (one blocking reap,
 * then whatever else is done) and the replacements kicked once per batch.
 * Requests completed inside the measuring window (after --warmup, for
 * --seconds) are counted and their latencies kept. With --devices K the
 * devices are driven one after the other, --seconds each.
 *
 * Output: one "result key=value ..." line on stdout (see print_result):
 * requests (counted in the window), completed (all, warm-up included),
 * iops, p50_us / p99_us / mean_us / max_us latency, guest_cpu_us /
 * xvd_cpu_us / qsd_cpu_us per counted request (-1: not measured),
 * xvd_run_us (the same from /proc/PID/schedstat, exact), kicks /
 * irqs / mmio per request (guest side), xvd_*_kb (VmRSS, VmHWM, RssAnon,
 * RssShmem of --xvd-pid after the I/O, the guest still connected).
 * CPU of xen-vhostd / qemu-storage-daemon: utime + stime from
 * /proc/PID/stat over the window, divided by the requests counted.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/virtio_blk.h>
#include <linux/virtio_ids.h>

#include "direct.h"
#include "log.h"
#include "sg_blk.h"
#include "sg_log.h"
#include "sg_sim.h"
#include "xvd/sim_proto.h"

#define BENCH_BLOCK		4096u
/* Why 64 MiB: rings, 256 request buffers and slack; the daemon maps it. */
#define BENCH_RAM		(UINT64_C(64) << 20)
#define BENCH_MAX_DEPTH		SG_BLK_MAX_SLOTS
#define BENCH_MAX_DEVS		4u
/* Why 60 bytes: the virtio-blk config QEMU 7.2's export answers (devtab). */
#define BENCH_BLK_CONFIG_LEN	60u

enum bench_mode { MODE_SIM, MODE_DIRECT, MODE_PINGPONG };

struct bench_args {
	enum bench_mode mode;
	const char *sock;		/* sim: --connect; direct: --socket */
	uint32_t domid;
	unsigned nr_devs;
	bool write;
	unsigned depth;
	double seconds, warmup;
	unsigned queue_size;
	bool indirect, event_idx;
	bool fast_path;		/* sim: a dom0 kernel with privcmd eventfds */
	uint64_t span_mb;		/* 0: whole disk */
	uint64_t seed;
	int xvd_pid, qsd_pid;
};

/* One request buffer of the closed loop. */
struct io {
	uint8_t *buf;
	uint64_t gpa;
	uint64_t t0;			/* submit time, ns */
};

struct stats {
	uint32_t *lat_ns;		/* counted requests */
	size_t nr, cap;
	uint64_t window_ns;		/* sum over devices */
	long xvd_ticks, qsd_ticks;	/* -1: not measured */
	long long xvd_run_ns;		/* schedstat; -1: not measured */
	uint64_t guest_cpu_ns;
	uint64_t kicks, irqs, mmio;	/* in the windows */
	uint64_t completed;		/* all requests, warm-up and drain too */
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t self_cpu_ns(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ((uint64_t)ru.ru_utime.tv_sec + (uint64_t)ru.ru_stime.tv_sec) *
	    1000000000u + ((uint64_t)ru.ru_utime.tv_usec +
	    (uint64_t)ru.ru_stime.tv_usec) * 1000u;
}

/* utime + stime of @pid in clock ticks, or -1. */
static long proc_ticks(int pid)
{
	char path[64], buf[1024], *p;
	unsigned long ut, st;
	FILE *f;
	size_t n;

	if (pid <= 0)
		return -1;
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "r");
	if (f == NULL)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* Fields after the command name, which may hold spaces: ") S ..." */
	p = strrchr(buf, ')');
	if (p == NULL || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u"
	    " %*u %*u %lu %lu", &ut, &st) != 2)
		return -1;
	return (long)(ut + st);
}

/*
 * Nanoseconds @pid's main thread ran (/proc/PID/schedstat, exact), or -1.
 * xen-vhostd is single-threaded: a cross-check of the tick-sampled stat.
 */
static long long proc_run_ns(int pid)
{
	char path[64];
	long long ns;
	FILE *f;

	if (pid <= 0)
		return -1;
	snprintf(path, sizeof(path), "/proc/%d/schedstat", pid);
	f = fopen(path, "r");
	if (f == NULL)
		return -1;
	if (fscanf(f, "%lld", &ns) != 1)
		ns = -1;
	fclose(f);
	return ns;
}

/* A "Key:  N kB" line of /proc/PID/status, or -1. */
static long proc_status_kb(int pid, const char *key)
{
	char path[64], line[256];
	size_t klen = strlen(key);
	long v = -1;
	FILE *f;

	if (pid <= 0)
		return -1;
	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	f = fopen(path, "r");
	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
			v = strtol(line + klen + 1, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

static uint64_t rng_next(uint64_t *s)
{
	/* xorshift64* */
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * UINT64_C(2685821657736338717);
}

static int lat_push(struct stats *st, uint64_t ns)
{
	if (st->nr == st->cap) {
		size_t cap = st->cap != 0 ? st->cap * 2 : 1u << 16;
		uint32_t *p = realloc(st->lat_ns, cap * sizeof(*p));

		if (p == NULL)
			return sg_err(-ENOMEM, "latency samples");
		st->lat_ns = p;
		st->cap = cap;
	}
	st->lat_ns[st->nr++] = ns > UINT32_MAX ? UINT32_MAX : (uint32_t)ns;
	return 0;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Nearest rank: the smallest sample with at least @q of them at or below. */
static double pct_us(const struct stats *st, double q)
{
	size_t k;

	if (st->nr == 0)
		return 0;
	k = (size_t)ceil(q * (double)st->nr);
	if (k == 0)
		k = 1;
	return st->lat_ns[k - 1] / 1000.0;
}

struct counters {
	uint64_t kicks, irqs, mmio;
};

static void counters_get(struct sg_blk *b, struct sg_sim *sim,
    struct counters *c)
{
	struct sg_vq_stats qs;

	sg_vq_get_stats(b->vq, &qs);
	c->kicks = qs.nr_kicks;
	c->irqs = c->mmio = 0;
	if (sim != NULL) {
		struct sg_sim_stats ss;

		sg_sim_get_stats(sim, &ss);
		c->irqs = ss.nr_irq;
		c->mmio = ss.nr_mmio;
	}
}

static int submit(struct sg_blk *b, const struct bench_args *a,
    struct io *io, uint64_t nr_blocks, uint64_t *rng)
{
	uint64_t blk = rng_next(rng) % nr_blocks;
	int rc;

	io->t0 = now_ns();
	rc = sg_blk_submit(b, a->write ? VIRTIO_BLK_T_OUT : VIRTIO_BLK_T_IN,
	    blk * (BENCH_BLOCK / SG_BLK_SECTOR), io->gpa, BENCH_BLOCK, io);
	if (rc < 0)
		return rc == -EBUSY || rc == -ENOSPC ? sg_err(rc, "depth %u"
		    " does not fit the queue", a->depth) : rc;
	return 0;
}

/* The closed loop on one device. */
static int run_dev(struct sg_blk *b, struct sg_mem *mem, struct sg_sim *sim,
    const struct bench_args *a, struct stats *st, uint64_t *rng)
{
	uint64_t nr_blocks = b->capacity / (BENCH_BLOCK / SG_BLK_SECTOR);
	uint64_t t_start, t_warm, t_end, now, cpu0 = 0;
	long xvd0 = -1, qsd0 = -1;
	long long xrun0 = -1;
	struct counters c0 = { 0 }, c1;
	bool measuring = false, done = false;
	struct io io[BENCH_MAX_DEPTH];
	int rc;

	if (a->span_mb != 0 && a->span_mb * (1u << 20) / BENCH_BLOCK <
	    nr_blocks)
		nr_blocks = a->span_mb * (1u << 20) / BENCH_BLOCK;
	if (nr_blocks == 0)
		return sg_err(-ERANGE, "disk of %" PRIu64 " sectors is smaller"
		    " than one block", b->capacity);
	for (unsigned i = 0; i < a->depth; i++) {
		io[i].buf = sg_mem_alloc(mem, BENCH_BLOCK, &io[i].gpa);
		if (io[i].buf == NULL)
			return -ENOMEM;
		memset(io[i].buf, 0x5a + i, BENCH_BLOCK);
	}
	t_start = now_ns();
	t_warm = t_start + (uint64_t)(a->warmup * 1e9);
	t_end = t_warm + (uint64_t)(a->seconds * 1e9);
	for (unsigned i = 0; i < a->depth; i++)
		if ((rc = submit(b, a, &io[i], nr_blocks, rng)) < 0)
			return rc;
	while (sg_blk_nr_inflight(b) > 0) {
		struct sg_blk_done d;
		unsigned nr_done = 0;
		struct io *again[BENCH_MAX_DEPTH];

		/* Kicks what is pending, then waits for one. */
		rc = sg_blk_reap(b, &d, SG_BLK_TIMEOUT_MS);
		if (rc < 0)
			return rc;
		for (;;) {
			struct io *x = d.cookie;

			now = now_ns();
			if (now >= t_warm && now <= t_end &&
			    (rc = lat_push(st, now - x->t0)) < 0)
				return rc;
			again[nr_done++] = x;
			st->completed++;
			rc = sg_blk_poll(b, &d);
			if (rc < 0)
				return rc;
			if (rc == 0)
				break;
		}
		now = now_ns();
		if (!measuring && now >= t_warm) {
			measuring = true;
			xvd0 = proc_ticks(a->xvd_pid);
			xrun0 = proc_run_ns(a->xvd_pid);
			qsd0 = proc_ticks(a->qsd_pid);
			cpu0 = self_cpu_ns();
			counters_get(b, sim, &c0);
		}
		if (measuring && !done && now >= t_end) {
			long x1 = proc_ticks(a->xvd_pid);
			long long xr1 = proc_run_ns(a->xvd_pid);
			long q1 = proc_ticks(a->qsd_pid);

			done = true;
			st->guest_cpu_ns += self_cpu_ns() - cpu0;
			counters_get(b, sim, &c1);
			st->kicks += c1.kicks - c0.kicks;
			st->irqs += c1.irqs - c0.irqs;
			st->mmio += c1.mmio - c0.mmio;
			st->window_ns += t_end - t_warm;
			if (x1 >= 0 && xvd0 >= 0)
				st->xvd_ticks += x1 - xvd0;
			else
				st->xvd_ticks = -1;
			if (xr1 >= 0 && xrun0 >= 0)
				st->xvd_run_ns += xr1 - xrun0;
			else
				st->xvd_run_ns = -1;
			if (q1 >= 0 && qsd0 >= 0)
				st->qsd_ticks += q1 - qsd0;
			else
				st->qsd_ticks = -1;
		}
		if (done)
			continue;	/* drain */
		for (unsigned i = 0; i < nr_done; i++)
			if ((rc = submit(b, a, again[i], nr_blocks, rng)) < 0)
				return rc;
		if ((rc = sg_blk_kick(b)) < 0)
			return rc;
	}
	return 0;
}

static void print_result(const struct bench_args *a, struct stats *st,
    long xvd_rss_kb, long xvd_hwm_kb, long xvd_anon_kb, long xvd_shmem_kb)
{
	double secs = st->window_ns / 1e9, tick_us = 1e6 / sysconf(_SC_CLK_TCK);
	double n = st->nr != 0 ? (double)st->nr : 1, sum = 0;

	for (size_t i = 0; i < st->nr; i++)
		sum += st->lat_ns[i];
	qsort(st->lat_ns, st->nr, sizeof(*st->lat_ns), cmp_u32);
	printf("result mode=%s rw=%s depth=%u devices=%u requests=%zu"
	    " completed=%" PRIu64 " seconds=%.3f iops=%.0f p50_us=%.1f"
	    " p99_us=%.1f mean_us=%.1f max_us=%.1f guest_cpu_us=%.2f"
	    " xvd_cpu_us=%.2f xvd_run_us=%.2f qsd_cpu_us=%.2f"
	    " kicks=%.3f irqs=%.3f mmio=%.3f xvd_rss_kb=%ld xvd_hwm_kb=%ld"
	    " xvd_anon_kb=%ld xvd_shmem_kb=%ld\n",
	    a->mode == MODE_SIM ? "sim" : "direct",
	    a->write ? "randwrite" : "randread", a->depth, a->nr_devs,
	    st->nr, st->completed, secs, secs > 0 ? st->nr / secs : 0,
	    pct_us(st, 0.5), pct_us(st, 0.99), sum / n / 1000.0,
	    st->nr != 0 ? st->lat_ns[st->nr - 1] / 1000.0 : 0,
	    st->guest_cpu_ns / n / 1000.0,
	    st->xvd_ticks >= 0 && a->xvd_pid > 0 ?
	    st->xvd_ticks * tick_us / n : -1.0,
	    st->xvd_run_ns >= 0 && a->xvd_pid > 0 ?
	    st->xvd_run_ns / n / 1000.0 : -1.0,
	    st->qsd_ticks >= 0 && a->qsd_pid > 0 ?
	    st->qsd_ticks * tick_us / n : -1.0,
	    st->kicks / n, st->irqs / n, st->mmio / n,
	    xvd_rss_kb, xvd_hwm_kb, xvd_anon_kb, xvd_shmem_kb);
}

static int open_opts(const struct bench_args *a, struct sg_blk_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->queue_num = a->queue_size;
	o->indirect = a->indirect;
	o->event_idx = a->event_idx;
	o->nr_slots = a->depth;
	return 0;
}

static int bench(const struct bench_args *a)
{
	struct sg_blk blk[BENCH_MAX_DEVS];
	struct sim_dev devs[BENCH_MAX_DEVS];
	struct direct_dev dd;
	struct sg_sim *sim = NULL;
	struct sg_mem *mem;
	struct sg_blk_opts bo;
	struct stats st = { 0 };
	uint64_t rng = a->seed * 2 + 1;
	unsigned nr_open = 0;
	int rc;

	memset(blk, 0, sizeof(blk));
	open_opts(a, &bo);
	if (a->mode == MODE_SIM) {
		for (unsigned i = 0; i < a->nr_devs; i++)
			devs[i] = (struct sim_dev){
				.virtio_id = VIRTIO_ID_BLOCK,
				.irq = SIM_SPI_FIRST + i,
				.base = SIM_MMIO_BASE + i * SIM_MMIO_STRIDE,
			};
		rc = sg_sim_connect(a->sock, a->domid, 1, BENCH_RAM, devs,
		    a->nr_devs, &sim);
		if (rc < 0)
			return rc;
		sg_sim_set_fast_path(sim, a->fast_path);
		mem = sg_sim_mem(sim);
		for (unsigned i = 0; i < a->nr_devs; i++, nr_open++)
			if ((rc = sg_blk_open(&blk[i], sim, i, devs[i].base,
			    &bo)) < 0)
				goto out;
	} else {
		rc = direct_open(&dd, &blk[0].vd, a->sock, BENCH_RAM,
		    VIRTIO_ID_BLOCK, BENCH_BLK_CONFIG_LEN);
		mem = &dd.mem;
		nr_open = 1;
		if (rc < 0 || (rc = sg_blk_setup(&blk[0], &bo)) < 0)
			goto out;
	}
	for (unsigned i = 0; i < a->nr_devs; i++)
		if ((rc = run_dev(&blk[i], mem, sim, a, &st, &rng)) < 0)
			goto out;
	/* Still connected, after the I/O: the daemon's memory now. */
	print_result(a, &st, proc_status_kb(a->xvd_pid, "VmRSS"),
	    proc_status_kb(a->xvd_pid, "VmHWM"),
	    proc_status_kb(a->xvd_pid, "RssAnon"),
	    proc_status_kb(a->xvd_pid, "RssShmem"));
out:
	for (unsigned i = 0; i < nr_open; i++) {
		if (rc == 0)
			rc = sg_blk_close(&blk[i]);
		else {
			sg_vdev_cleanup(&blk[i].vd);
			free(blk[i].slot);
		}
	}
	if (a->mode == MODE_SIM)
		sg_sim_close(sim);
	else
		direct_close(&dd);
	free(st.lat_ns);
	return rc;
}

/* Round trips parent -> child -> parent over two blocking eventfds. */
static int pingpong(const struct bench_args *a)
{
	int to_child = eventfd(0, EFD_CLOEXEC);
	int to_parent = eventfd(0, EFD_CLOEXEC);
	struct stats st = { 0 };
	uint64_t v = 1, t_end;
	pid_t pid;
	int rc = 0, status;

	if (to_child < 0 || to_parent < 0)
		return sg_err(-errno, "eventfd");
	pid = fork();
	if (pid < 0)
		return sg_err(-errno, "fork");
	if (pid == 0) {
		/* Echo until the parent sends 2. */
		for (;;) {
			if (read(to_child, &v, sizeof(v)) != sizeof(v))
				_exit(1);
			if (v >= 2)
				_exit(0);
			if (write(to_parent, &v, sizeof(v)) != sizeof(v))
				_exit(1);
		}
	}
	t_end = now_ns() + (uint64_t)(a->seconds * 1e9);
	for (uint64_t t0 = now_ns(); t0 < t_end && rc == 0; t0 = now_ns()) {
		v = 1;
		if (write(to_child, &v, sizeof(v)) != sizeof(v) ||
		    read(to_parent, &v, sizeof(v)) != sizeof(v))
			rc = sg_err(-errno, "ping-pong");
		else
			rc = lat_push(&st, now_ns() - t0);
	}
	v = 2;
	if (write(to_child, &v, sizeof(v)) != sizeof(v))
		rc = sg_err(-errno, "stop the child");
	waitpid(pid, &status, 0);
	close(to_child);
	close(to_parent);
	if (rc == 0) {
		qsort(st.lat_ns, st.nr, sizeof(*st.lat_ns), cmp_u32);
		printf("result mode=pingpong round_trips=%zu p50_us=%.1f"
		    " p99_us=%.1f\n", st.nr, pct_us(&st, 0.5),
		    pct_us(&st, 0.99));
	}
	free(st.lat_ns);
	return rc;
}

static void usage(FILE *f)
{
	fputs("usage: xvd-bench sim --connect SOCK --domid N [--devices K]"
	    " [--fast-path] [workload]\n"
	    "       xvd-bench direct --socket PATH [workload]\n"
	    "       xvd-bench pingpong [--seconds S]\n"
	    "workload: --rw randread|randwrite --depth N --seconds S"
	    " [--warmup S]\n"
	    "          [--queue-size N] [--no-indirect] [--no-event-idx]"
	    " [--span-mb N]\n"
	    "          [--seed N] [--xvd-pid PID] [--qsd-pid PID]\n", f);
}

static int parse_num(const char *opt, const char *s, double lo, double hi,
    double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi) {
		sg_errx("--%s: '%s' is not in %g..%g", opt, s, lo, hi);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

static int parse(int argc, char **argv, struct bench_args *a)
{
	enum { O_CONNECT = 256, O_SOCKET, O_DOMID, O_DEVICES, O_RW, O_DEPTH,
		O_SECONDS, O_WARMUP, O_QSIZE, O_NO_IND, O_NO_EVIDX, O_SPAN,
		O_SEED, O_XVD, O_QSD, O_FAST };
	static const struct option lo[] = {
		{ "connect", required_argument, NULL, O_CONNECT },
		{ "socket", required_argument, NULL, O_SOCKET },
		{ "domid", required_argument, NULL, O_DOMID },
		{ "devices", required_argument, NULL, O_DEVICES },
		{ "rw", required_argument, NULL, O_RW },
		{ "depth", required_argument, NULL, O_DEPTH },
		{ "seconds", required_argument, NULL, O_SECONDS },
		{ "warmup", required_argument, NULL, O_WARMUP },
		{ "queue-size", required_argument, NULL, O_QSIZE },
		{ "no-indirect", no_argument, NULL, O_NO_IND },
		{ "no-event-idx", no_argument, NULL, O_NO_EVIDX },
		{ "span-mb", required_argument, NULL, O_SPAN },
		{ "seed", required_argument, NULL, O_SEED },
		{ "xvd-pid", required_argument, NULL, O_XVD },
		{ "qsd-pid", required_argument, NULL, O_QSD },
		{ "fast-path", no_argument, NULL, O_FAST },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	double v;
	int c, rc = 0;

	if (argc < 2) {
		usage(stderr);
		return -EINVAL;
	}
	memset(a, 0, sizeof(*a));
	if (strcmp(argv[1], "sim") == 0)
		a->mode = MODE_SIM;
	else if (strcmp(argv[1], "direct") == 0)
		a->mode = MODE_DIRECT;
	else if (strcmp(argv[1], "pingpong") == 0)
		a->mode = MODE_PINGPONG;
	else if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
		usage(stdout);
		exit(0);
	} else {
		sg_errx("unknown mode '%s'", argv[1]);
		usage(stderr);
		return -EINVAL;
	}
	a->nr_devs = 1;
	a->depth = 1;
	a->seconds = 2;
	a->warmup = 0.25;
	a->queue_size = 256;
	a->indirect = a->event_idx = true;
	a->seed = 1;
	argc--;
	argv++;
	while (rc == 0 && (c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case O_CONNECT:
		case O_SOCKET:
			a->sock = optarg;
			break;
		case O_DOMID:
			rc = parse_num("domid", optarg, 1, 32751, &v);
			a->domid = (uint32_t)v;
			break;
		case O_DEVICES:
			rc = parse_num("devices", optarg, 1, BENCH_MAX_DEVS, &v);
			a->nr_devs = (unsigned)v;
			break;
		case O_RW:
			if (strcmp(optarg, "randread") == 0)
				a->write = false;
			else if (strcmp(optarg, "randwrite") == 0)
				a->write = true;
			else {
				sg_errx("--rw: randread or randwrite");
				rc = -EINVAL;
			}
			break;
		case O_DEPTH:
			rc = parse_num("depth", optarg, 1, BENCH_MAX_DEPTH, &v);
			a->depth = (unsigned)v;
			break;
		case O_SECONDS:
			rc = parse_num("seconds", optarg, 0.01, 3600,
			    &a->seconds);
			break;
		case O_WARMUP:
			rc = parse_num("warmup", optarg, 0, 60, &a->warmup);
			break;
		case O_QSIZE:
			rc = parse_num("queue-size", optarg, 1, 1024, &v);
			a->queue_size = (unsigned)v;
			break;
		case O_NO_IND: a->indirect = false; break;
		case O_FAST: a->fast_path = true; break;
		case O_NO_EVIDX: a->event_idx = false; break;
		case O_SPAN:
			rc = parse_num("span-mb", optarg, 0, 1 << 30, &v);
			a->span_mb = (uint64_t)v;
			break;
		case O_SEED:
			rc = parse_num("seed", optarg, 0, 1e15, &v);
			a->seed = (uint64_t)v;
			break;
		case O_XVD:
			rc = parse_num("xvd-pid", optarg, 1, 1 << 22, &v);
			a->xvd_pid = (int)v;
			break;
		case O_QSD:
			rc = parse_num("qsd-pid", optarg, 1, 1 << 22, &v);
			a->qsd_pid = (int)v;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			rc = -EINVAL;
			break;
		}
	}
	if (rc == 0 && (optind != argc || (a->mode != MODE_PINGPONG &&
	    a->sock == NULL) || (a->mode == MODE_SIM && a->domid == 0))) {
		sg_errx("sim needs --connect and --domid, direct --socket");
		rc = -EINVAL;
	}
	if (rc == 0 && a->mode == MODE_DIRECT && a->nr_devs != 1) {
		sg_errx("direct drives one device");
		rc = -EINVAL;
	}
	if (rc == 0 && a->depth > a->queue_size) {
		sg_errx("--depth %u above --queue-size %u", a->depth,
		    a->queue_size);
		rc = -EINVAL;
	}
	if (rc < 0)
		usage(stderr);
	return rc;
}

int main(int argc, char **argv)
{
	struct bench_args a;
	int rc;

	setvbuf(stdout, NULL, _IOLBF, 0);
	/* vhu_client logs through the daemon's log.c. */
	log_init(LOG_LVL_WARN, false);
	if (parse(argc, argv, &a) < 0)
		return 2;
	rc = a.mode == MODE_PINGPONG ? pingpong(&a) : bench(&a);
	if (rc < 0) {
		sg_errx("benchmark failed: %s", strerror(-rc));
		return 1;
	}
	return 0;
}
