/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The simulated Xen, guest side (protocol: include/xvd/sim_proto.h).
 *
 * Plays the hypervisor for one domain: answers the device model's
 * create/map/enable/destroy calls the way Xen does, and turns guest MMIO
 * accesses into ioreqs in the shared page.
 */
#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <xen/xen.h>
#include <xen/hvm/ioreq.h>

#include "sg_log.h"
#include "sg_sim.h"

/* The byte holding state:4, data_is_ptr:1, dir:1, df:1 (as Xen lays it). */
#define IOREQ_FLAGS_OFF		30
#define IOREQ_F_STATE		0x0fu
#define IOREQ_F_DIR_SHIFT	5
_Static_assert(sizeof(ioreq_t) == 32, "ioreq_t layout");
_Static_assert(offsetof(ioreq_t, type) == 31, "ioreq_t layout");
_Static_assert(SIM_MAX_VCPUS * sizeof(ioreq_t) <= SIM_IOREQ_PAGE_LEN,
    "ioreq page holds every vCPU");
/* Why 1 + 2 * vCPUs: the largest fd set of one message (SIM_CREATE_REPLY). */
#define SG_MAX_FDS		(1u + 2u * SIM_MAX_VCPUS)
/* Why 10 s: the daemon may still be starting when a test script runs us. */
#define SG_CONNECT_RETRY_MS	10000
#define SG_CONNECT_RETRY_STEP_MS 50

struct sg_range {
	uint64_t start;
	uint64_t end;		/* inclusive */
};

struct sg_sim {
	int sock;
	uint32_t domid;
	unsigned nr_vcpus;

	struct sg_mem ram;

	unsigned nr_devs;
	struct sim_dev dev[SIM_MAX_DEVS];
	int irq_fd[SIM_MAX_DEVS];

	/* The one ioreq server (Xen allows more; the daemon makes one). */
	bool server;
	bool enabled;
	int iopage_fd;
	uint8_t *iopage;
	int to_dm[SIM_MAX_VCPUS];
	int to_guest[SIM_MAX_VCPUS];
	unsigned nr_ranges;
	struct sg_range range[SG_SIM_MAX_RANGES];

	bool connected;		/* SIM_CONNECTED 0 received */
	bool hup;		/* socket closed by the device model */
	bool destroyed;		/* a server existed and was destroyed */
	bool wedged[SIM_MAX_VCPUS];	/* slot timed out: may still be busy */
	uint64_t access_counter;

	/* The dom0 kernel's privcmd eventfd support, if enabled. */
	bool fast_path;
	struct {
		bool used;
		uint64_t addr;
		uint32_t queue;
		int fd;
	} ioev[SIM_MAX_IRQFDS];
	struct {
		bool used;
		uint32_t irq;
		int fd;
	} irqfd[SIM_MAX_IRQFDS];	/* indexed by the dm's token */
	struct sg_sim_stats st;
};

/* ------------------------------------------------------------------ */
/* Small helpers */

static void fd_close(int *fd)
{
	if (*fd >= 0) {
		int saved = errno;

		close(*fd);
		errno = saved;
	}
	*fd = -1;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Milliseconds left until @deadline, for poll() (0 when passed). */
static int ms_left(uint64_t deadline)
{
	uint64_t now = now_ms();

	if (now >= deadline)
		return 0;
	return deadline - now > 1000000 ? 1000000 : (int)(deadline - now);
}

static int eventfd_kick(int fd)
{
	uint64_t one = 1;

	if (write(fd, &one, sizeof(one)) != (ssize_t)sizeof(one))
		return -errno;
	return 0;
}

/* Read the counter of a non-blocking eventfd: 1 if it was set, 0 if not. */
static int eventfd_drain(int fd)
{
	uint64_t v;
	ssize_t n = read(fd, &v, sizeof(v));

	if (n == (ssize_t)sizeof(v))
		return 1;
	if (n < 0 && errno == EAGAIN)
		return 0;
	return n < 0 ? -errno : -EIO;
}

static ioreq_t *slot_of(struct sg_sim *s, unsigned vcpu)
{
	return (ioreq_t *)(void *)(s->iopage + vcpu * sizeof(ioreq_t));
}

static volatile uint8_t *slot_flags(ioreq_t *slot)
{
	/* Shared with the device model: always through a volatile byte. */
	return (volatile uint8_t *)((uintptr_t)slot + IOREQ_FLAGS_OFF);
}

static uint8_t slot_state(ioreq_t *slot)
{
	return *slot_flags(slot) & IOREQ_F_STATE;
}

static uint64_t size_mask(unsigned size)
{
	return size >= 8 ? ~UINT64_C(0) : (UINT64_C(1) << (size * 8)) - 1;
}

/* ------------------------------------------------------------------ */
/* The socket */

static int sim_send(struct sg_sim *s, uint32_t type, struct sim_msg *m,
    const int *fds, unsigned nr_fds)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * (SG_MAX_FDS + SIM_MAX_DEVS))];
		struct cmsghdr align;
	} cbuf;
	struct iovec iov = { .iov_base = m, .iov_len = sizeof(*m) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

	m->magic = SIM_MAGIC;
	m->type = type;
	if (nr_fds > 0) {
		struct cmsghdr *c;

		memset(&cbuf, 0, sizeof(cbuf));
		mh.msg_control = cbuf.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nr_fds);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nr_fds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nr_fds);
	}
	n = sendmsg(s->sock, &mh, MSG_NOSIGNAL);
	if (n < 0) {
		if (errno == EPIPE || errno == ECONNRESET)
			s->hup = true;
		return sg_err(-errno, "dom%u: send message %u", s->domid, type);
	}
	if ((size_t)n != sizeof(*m))
		return sg_err(-EIO, "dom%u: short send of message %u",
		    s->domid, type);
	return 0;
}

static int sim_reply_status(struct sg_sim *s, int status)
{
	struct sim_msg m;

	memset(&m, 0, sizeof(m));
	m.status = status;
	return sim_send(s, SIM_STATUS, &m, NULL, 0);
}

/*
 * Receive one message. A fast-path message may carry one fd: it goes to
 * *fd_out (else -1); any other fd is closed. 0, -ETIMEDOUT, -EPIPE
 * (hang-up) or -EPROTO.
 */
static int sim_recv(struct sg_sim *s, struct sim_msg *m, int timeout_ms,
    int *fd_out)
{
	int kept = -1;
	union {
		char buf[CMSG_SPACE(sizeof(int) * SG_MAX_FDS)];
		struct cmsghdr align;
	} cbuf;
	struct iovec iov = { .iov_base = m, .iov_len = sizeof(*m) };
	struct msghdr mh = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf.buf, .msg_controllen = sizeof(cbuf.buf),
	};
	struct pollfd pfd = { .fd = s->sock, .events = POLLIN };
	unsigned nr_fds = 0;
	ssize_t n;
	int rc;

	if (s->hup)
		return -EPIPE;
	do
		rc = poll(&pfd, 1, timeout_ms);
	while (rc < 0 && errno == EINTR);
	if (rc < 0)
		return sg_err(-errno, "dom%u: poll socket", s->domid);
	if (rc == 0)
		return -ETIMEDOUT;
	n = recvmsg(s->sock, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	if (n < 0 && errno == EAGAIN)
		return -ETIMEDOUT;
	if (n < 0 && errno != ECONNRESET)
		return sg_err(-errno, "dom%u: receive", s->domid);
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); n > 0 && c != NULL;
	    c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		unsigned k = (unsigned)((c->cmsg_len - CMSG_LEN(0)) /
		    sizeof(int));

		for (unsigned i = 0; i < k; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(fd));
			if (kept < 0 && fd_out != NULL)
				kept = fd;
			else
				close(fd);
			nr_fds++;
		}
	}
	if (fd_out != NULL)
		*fd_out = -1;
	if (n <= 0) {
		fd_close(&kept);
		s->hup = true;
		return -EPIPE;
	}
	if ((mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0 ||
	    (size_t)n != sizeof(*m) || m->magic != SIM_MAGIC) {
		fd_close(&kept);
		return sg_err(-EPROTO, "dom%u: malformed message (%zd bytes,"
		    " magic %#x)", s->domid, n, m->magic);
	}
	if (kept >= 0 && nr_fds == 1 && (m->type == SIM_IOEVENTFD ||
	    m->type == SIM_IRQFD)) {
		*fd_out = kept;
		return 0;
	}
	fd_close(&kept);
	if (nr_fds != 0)
		sg_errx("dom%u: message %u came with %u unexpected fds (closed)",
		    s->domid, m->type, nr_fds);
	return 0;
}

/* ------------------------------------------------------------------ */
/* The ioreq server, as Xen keeps it */

static void server_drop(struct sg_sim *s)
{
	if (s->iopage != NULL)
		munmap(s->iopage, SIM_IOREQ_PAGE_LEN);
	s->iopage = NULL;
	fd_close(&s->iopage_fd);
	for (unsigned v = 0; v < SIM_MAX_VCPUS; v++) {
		fd_close(&s->to_dm[v]);
		fd_close(&s->to_guest[v]);
	}
	s->nr_ranges = 0;
	s->enabled = false;
	s->server = false;
}

/* SIM_CREATE: create_ioreq_server, reply with the page and eventfds. */
static int handle_create(struct sg_sim *s)
{
	int fds[SG_MAX_FDS];
	struct sim_msg m;
	unsigned nr = 0;
	int err;

	memset(&m, 0, sizeof(m));
	if (s->server) {
		/* One server per domain here; Xen would make a second one. */
		sg_errx("dom%u: SIM_CREATE while a server exists", s->domid);
		m.status = -EEXIST;
		return sim_send(s, SIM_CREATE_REPLY, &m, NULL, 0);
	}
	s->iopage_fd = memfd_create("xvd-sim-ioreq", MFD_CLOEXEC);
	if (s->iopage_fd < 0) {
		err = sg_err(-errno, "dom%u: memfd for ioreq page", s->domid);
		goto fail;
	}
	if (ftruncate(s->iopage_fd, SIM_IOREQ_PAGE_LEN) < 0) {
		err = sg_err(-errno, "dom%u: size ioreq page", s->domid);
		goto fail;
	}
	s->iopage = mmap(NULL, SIM_IOREQ_PAGE_LEN, PROT_READ | PROT_WRITE,
	    MAP_SHARED, s->iopage_fd, 0);
	if (s->iopage == MAP_FAILED) {
		s->iopage = NULL;
		err = sg_err(-errno, "dom%u: map ioreq page", s->domid);
		goto fail;
	}
	memset(s->iopage, 0, SIM_IOREQ_PAGE_LEN);
	for (unsigned v = 0; v < s->nr_vcpus; v++) {
		s->to_dm[v] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		s->to_guest[v] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (s->to_dm[v] < 0 || s->to_guest[v] < 0) {
			err = sg_err(-errno, "dom%u: vCPU eventfd", s->domid);
			goto fail;
		}
		s->wedged[v] = false;
	}
	fds[nr++] = s->iopage_fd;
	for (unsigned v = 0; v < s->nr_vcpus; v++)
		fds[nr++] = s->to_dm[v];
	for (unsigned v = 0; v < s->nr_vcpus; v++)
		fds[nr++] = s->to_guest[v];
	s->server = true;
	s->destroyed = false;
	sg_debug("dom%u: ioreq server created (%u vCPUs)", s->domid,
	    s->nr_vcpus);
	return sim_send(s, SIM_CREATE_REPLY, &m, fds, nr);
fail:
	server_drop(s);
	m.status = err;
	return sim_send(s, SIM_CREATE_REPLY, &m, NULL, 0);
}

/* map_io_range_to_ioreq_server: Xen's rangeset rules. */
static int range_add(struct sg_sim *s, uint64_t start, uint64_t end)
{
	if (!s->server)
		return -ENOENT;
	if (start > end)
		return -EINVAL;
	for (unsigned i = 0; i < s->nr_ranges; i++)
		if (start <= s->range[i].end && s->range[i].start <= end)
			return -EEXIST;
	if (s->nr_ranges >= SG_SIM_MAX_RANGES)
		return -ENOSPC;
	s->range[s->nr_ranges].start = start;
	s->range[s->nr_ranges].end = end;
	s->nr_ranges++;
	return 0;
}

static int handle_map_range(struct sg_sim *s, const struct sim_msg *req)
{
	uint64_t start = req->u.range.start, end = req->u.range.end;
	int rc = range_add(s, start, end);

	if (rc < 0)
		sg_debug("dom%u: map [%#llx, %#llx] refused: %s", s->domid,
		    (unsigned long long)start, (unsigned long long)end,
		    strerror(-rc));
	else
		sg_debug("dom%u: mapped [%#llx, %#llx]", s->domid,
		    (unsigned long long)start, (unsigned long long)end);
	return sim_reply_status(s, rc);
}

static int handle_set_state(struct sg_sim *s, const struct sim_msg *req)
{
	if (!s->server)
		return sim_reply_status(s, -ENOENT);
	s->enabled = req->u.state.enabled != 0;
	if (s->enabled) {
		/* Xen binds one event channel per vCPU and publishes it. */
		for (unsigned v = 0; v < s->nr_vcpus; v++)
			((volatile ioreq_t *)slot_of(s, v))->vp_eport = v + 1;
		__atomic_thread_fence(__ATOMIC_RELEASE);
	}
	sg_debug("dom%u: server %s", s->domid,
	    s->enabled ? "enabled" : "disabled");
	return sim_reply_status(s, 0);
}

static int handle_destroy(struct sg_sim *s)
{
	if (!s->server)
		return sim_reply_status(s, -ENOENT);
	server_drop(s);
	s->destroyed = true;
	sg_debug("dom%u: ioreq server destroyed", s->domid);
	return sim_reply_status(s, 0);
}

/*
 * Serve one message already received. Returns 0, or <0 when the reply
 * could not be sent. SIM_CONNECTED sets *connected_status when non-NULL.
 */
/*
 * SIM_IOEVENTFD / SIM_IRQFD: what privcmd does with them. Takes @fd (the
 * eventfd, -1 on deassign) in every case.
 */
static int handle_fast(struct sg_sim *s, const struct sim_msg *m, int fd)
{
	bool assign = m->u.fast.assign != 0;
	int status = 0;

	if (!s->fast_path) {
		status = -EOPNOTSUPP;	/* Debian 12's 6.1: no such ioctl */
	} else if (assign && fd < 0) {
		status = -EBADF;
	} else if (m->type == SIM_IOEVENTFD) {
		unsigned i, free_i = SIM_MAX_IRQFDS;

		for (i = 0; i < SIM_MAX_IRQFDS; i++) {
			if (!s->ioev[i].used) {
				if (free_i == SIM_MAX_IRQFDS)
					free_i = i;
				continue;
			}
			if (s->ioev[i].addr == m->u.fast.addr &&
			    s->ioev[i].queue == m->u.fast.queue)
				break;
		}
		if (assign && i < SIM_MAX_IRQFDS) {
			status = -EEXIST;
		} else if (assign && free_i == SIM_MAX_IRQFDS) {
			status = -ENOSPC;
		} else if (assign) {
			s->ioev[free_i].used = true;
			s->ioev[free_i].addr = m->u.fast.addr;
			s->ioev[free_i].queue = m->u.fast.queue;
			s->ioev[free_i].fd = fd;
			fd = -1;
		} else if (i == SIM_MAX_IRQFDS) {
			status = -ENOENT;
		} else {
			fd_close(&s->ioev[i].fd);
			s->ioev[i].used = false;
		}
	} else {
		uint32_t k = m->u.fast.token;

		if (k >= SIM_MAX_IRQFDS || s->irqfd[k].used != !assign) {
			status = -EINVAL;
		} else if (assign) {
			s->irqfd[k].used = true;
			s->irqfd[k].irq = m->u.fast.irq;
			s->irqfd[k].fd = fd;
			fd = -1;
		} else {
			fd_close(&s->irqfd[k].fd);
			s->irqfd[k].used = false;
		}
	}
	fd_close(&fd);
	sg_debug("dom%u: %s %s: %d", s->domid, m->type == SIM_IOEVENTFD ?
	    "ioeventfd" : "irqfd", assign ? "assign" : "deassign", status);
	return sim_reply_status(s, status);
}

static int dispatch(struct sg_sim *s, const struct sim_msg *m,
    int *connected_status, int fd)
{
	if (m->type == SIM_IOEVENTFD || m->type == SIM_IRQFD)
		return handle_fast(s, m, fd);
	fd_close(&fd);
	switch (m->type) {
	case SIM_CREATE:
		return handle_create(s);
	case SIM_MAP_RANGE:
		return handle_map_range(s, m);
	case SIM_SET_STATE:
		return handle_set_state(s, m);
	case SIM_DESTROY:
		return handle_destroy(s);
	case SIM_CONNECTED:
		if (connected_status != NULL) {
			*connected_status = m->status;
			return 0;
		}
		sg_errx("dom%u: SIM_CONNECTED again (status %d), ignored",
		    s->domid, m->status);
		return 0;
	default:
		sg_errx("dom%u: unexpected message type %u from the device"
		    " model", s->domid, m->type);
		return sim_reply_status(s, -EOPNOTSUPP);
	}
}

/* Serve one message if one is readable within @timeout_ms. */
static int service_one(struct sg_sim *s, int timeout_ms)
{
	struct sim_msg m;
	int fd;
	int rc = sim_recv(s, &m, timeout_ms, &fd);

	if (rc == -ETIMEDOUT)
		return 0;
	if (rc < 0)
		return rc;
	return dispatch(s, &m, NULL, fd);
}

int sg_sim_poll(struct sg_sim *s, int timeout_ms)
{
	uint64_t deadline = now_ms() + (uint64_t)(timeout_ms < 0 ? 0 :
	    timeout_ms);
	int rc;

	do {
		rc = service_one(s, ms_left(deadline));
		if (rc < 0)
			return rc;
	} while (ms_left(deadline) > 0);
	return s->hup ? -EPIPE : 0;
}

/* ------------------------------------------------------------------ */
/* Connect */

static int sock_connect(const char *path, uint32_t domid)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	uint64_t deadline = now_ms() + SG_CONNECT_RETRY_MS;
	int fd, err;

	if (strlen(path) >= sizeof(sa.sun_path))
		return sg_err(-ENAMETOOLONG, "socket path %s", path);
	strcpy(sa.sun_path, path);
	for (;;) {
		fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return sg_err(-errno, "socket");
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			return fd;
		err = -errno;
		close(fd);
		/* The daemon may not be listening yet: retry, bounded. */
		if ((err != -ENOENT && err != -ECONNREFUSED) ||
		    ms_left(deadline) == 0)
			return sg_err(err, "dom%u: connect %s", domid, path);
		usleep(SG_CONNECT_RETRY_STEP_MS * 1000);
	}
}

static int args_check(unsigned nr_vcpus, uint64_t ram_bytes,
    const struct sim_dev *devs, unsigned ndevs)
{
	if (nr_vcpus == 0 || nr_vcpus > SIM_MAX_VCPUS)
		return sg_err(-EINVAL, "%u vCPUs (1..%u)", nr_vcpus,
		    SIM_MAX_VCPUS);
	if (ram_bytes == 0 || ram_bytes % SG_PAGE_SIZE != 0)
		return sg_err(-EINVAL, "RAM size %llu not a page multiple",
		    (unsigned long long)ram_bytes);
	if (ndevs > SIM_MAX_DEVS)
		return sg_err(-EINVAL, "%u devices (max %u)", ndevs,
		    SIM_MAX_DEVS);
	for (unsigned i = 0; i < ndevs; i++)
		if (devs[i].base % SIM_MMIO_STRIDE != 0)
			return sg_err(-EINVAL, "device %u base %#llx unaligned",
			    i, (unsigned long long)devs[i].base);
	return 0;
}

static struct sg_sim *sim_new(uint32_t domid, unsigned nr_vcpus)
{
	struct sg_sim *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	s->sock = s->ram.fd = s->iopage_fd = -1;
	s->domid = domid;
	s->nr_vcpus = nr_vcpus;
	for (unsigned i = 0; i < SIM_MAX_DEVS; i++)
		s->irq_fd[i] = -1;
	for (unsigned v = 0; v < SIM_MAX_VCPUS; v++)
		s->to_dm[v] = s->to_guest[v] = -1;
	return s;
}

/* Serve the device model until SIM_CONNECTED; bounded per message. */
static int serve_until_connected(struct sg_sim *s)
{
	for (;;) {
		struct sim_msg m;
		int status = 1;		/* not a SIM_CONNECTED yet */
		int fd;
		int rc = sim_recv(s, &m, SG_SIM_MSG_TIMEOUT_MS, &fd);

		if (rc == -ETIMEDOUT)
			return sg_err(rc, "dom%u: device model silent for %d ms"
			    " before SIM_CONNECTED", s->domid,
			    SG_SIM_MSG_TIMEOUT_MS);
		if (rc == -EPIPE)
			return sg_err(rc, "dom%u: device model hung up before"
			    " SIM_CONNECTED", s->domid);
		if (rc < 0)
			return rc;
		rc = dispatch(s, &m, &status, fd);
		if (rc < 0)
			return rc;
		if (status == 1)
			continue;
		if (status < 0) {
			int err = status >= -4095 ? status : -ECONNREFUSED;

			return sg_err(err, "dom%u: device model gave up on the"
			    " domain (SIM_CONNECTED status %d)", s->domid,
			    status);
		}
		if (status > 0)
			sg_errx("dom%u: SIM_CONNECTED status %d taken as 0",
			    s->domid, status);
		s->connected = true;
		return 0;
	}
}

int sg_sim_connect(const char *path, uint32_t domid, unsigned nr_vcpus,
    uint64_t ram_bytes, const struct sim_dev *devs, unsigned ndevs,
    struct sg_sim **out)
{
	int fds[1 + SIM_MAX_DEVS];
	struct sim_msg m;
	struct sg_sim *s;
	int rc;

	*out = NULL;
	rc = args_check(nr_vcpus, ram_bytes, devs, ndevs);
	if (rc < 0)
		return rc;
	s = sim_new(domid, nr_vcpus);
	if (s == NULL)
		return sg_err(-ENOMEM, "allocate domain");
	rc = sg_mem_create(&s->ram, "xvd-sim-ram", SIM_RAM_BASE, ram_bytes);
	if (rc < 0)
		goto fail;
	s->nr_devs = ndevs;
	for (unsigned i = 0; i < ndevs; i++) {
		s->dev[i] = devs[i];
		s->irq_fd[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (s->irq_fd[i] < 0) {
			rc = sg_err(-errno, "irq eventfd");
			goto fail;
		}
	}
	rc = sock_connect(path, domid);
	if (rc < 0)
		goto fail;
	s->sock = rc;

	memset(&m, 0, sizeof(m));
	m.u.hello.domid = domid;
	m.u.hello.nr_vcpus = nr_vcpus;
	m.u.hello.ram_base = SIM_RAM_BASE;
	m.u.hello.ram_size = ram_bytes;
	m.u.hello.nr_devs = ndevs;
	fds[0] = s->ram.fd;
	for (unsigned i = 0; i < ndevs; i++) {
		m.u.hello.dev[i] = devs[i];
		fds[1 + i] = s->irq_fd[i];
	}
	rc = sim_send(s, SIM_HELLO, &m, fds, 1 + ndevs);
	if (rc < 0)
		goto fail;
	rc = serve_until_connected(s);
	if (rc < 0)
		goto fail;
	sg_debug("dom%u: connected, %u ranges, server %s", domid, s->nr_ranges,
	    s->enabled ? "enabled" : "disabled");
	*out = s;
	return 0;
fail:
	sg_sim_close(s);
	return rc;
}

void sg_sim_close(struct sg_sim *s)
{
	if (s == NULL)
		return;
	/* Closing the socket first: the device model sees the domain go. */
	fd_close(&s->sock);
	server_drop(s);
	for (unsigned i = 0; i < SIM_MAX_DEVS; i++)
		fd_close(&s->irq_fd[i]);
	for (unsigned i = 0; i < SIM_MAX_IRQFDS; i++) {
		if (s->ioev[i].used)
			fd_close(&s->ioev[i].fd);
		if (s->irqfd[i].used)
			fd_close(&s->irqfd[i].fd);
	}
	sg_mem_destroy(&s->ram);
	free(s);
}

/* ------------------------------------------------------------------ */
/* MMIO */

/* The ranges of an enabled server claim [gpa, gpa+size). */
static bool gpa_served(const struct sg_sim *s, uint64_t gpa, unsigned size)
{
	uint64_t last = gpa + size - 1;

	if (!s->server || !s->enabled || last < gpa)
		return false;
	for (unsigned i = 0; i < s->nr_ranges; i++)
		if (gpa >= s->range[i].start && last <= s->range[i].end)
			return true;
	return false;
}

/*
 * Wait until slot @v says IORESP_READY, bounded. Serves the socket
 * meanwhile: a SIM_DESTROY or a hang-up ends the wait.
 */
static int slot_wait(struct sg_sim *s, unsigned v, ioreq_t *slot,
    uint64_t addr)
{
	uint64_t deadline = now_ms() + SG_MMIO_TIMEOUT_MS;

	for (;;) {
		struct pollfd pfd[2] = {
			{ .fd = s->to_guest[v], .events = POLLIN },
			{ .fd = s->sock, .events = POLLIN },
		};
		int rc;

		if (slot_state(slot) == STATE_IORESP_READY) {
			/* Pairs with the device model's barrier. */
			__atomic_thread_fence(__ATOMIC_ACQUIRE);
			return 0;
		}
		if (ms_left(deadline) == 0) {
			s->wedged[v] = true;
			return sg_err(-ETIMEDOUT, "dom%u: vCPU %u: no answer to"
			    " the access at %#llx in %d ms (slot state %u)",
			    s->domid, v, (unsigned long long)addr,
			    SG_MMIO_TIMEOUT_MS, slot_state(slot));
		}
		rc = poll(pfd, 2, ms_left(deadline));
		if (rc < 0 && errno != EINTR)
			return sg_err(-errno, "dom%u: poll", s->domid);
		if (rc <= 0)
			continue;
		if (pfd[0].revents != 0) {
			rc = eventfd_drain(s->to_guest[v]);
			if (rc < 0)
				return sg_err(rc, "dom%u: vCPU %u eventfd",
				    s->domid, v);
		}
		if (pfd[1].revents != 0) {
			rc = service_one(s, 0);
			if (rc < 0 && rc != -EPIPE)
				return rc;
			if (s->hup)
				return sg_err(-EPIPE, "dom%u: device model hung"
				    " up during the access at %#llx", s->domid,
				    (unsigned long long)addr);
			if (!s->server)
				return sg_err(-ESHUTDOWN, "dom%u: ioreq server"
				    " destroyed during the access at %#llx",
				    s->domid, (unsigned long long)addr);
		}
	}
}

/* One ioreq on vCPU @v, the way Xen sends it. */
static int ioreq_send(struct sg_sim *s, unsigned v, uint8_t type,
    uint64_t addr, unsigned size, bool is_read, uint64_t *data)
{
	ioreq_t *slot = slot_of(s, v);
	volatile ioreq_t *vs = slot;
	uint8_t flags = (uint8_t)((is_read ? 1u : 0u) << IOREQ_F_DIR_SHIFT);
	int rc;

	if (s->wedged[v])
		return sg_err(-EIO, "dom%u: vCPU %u is stuck in an earlier"
		    " access", s->domid, v);
	if (slot_state(slot) != STATE_IOREQ_NONE)
		return sg_err(-EIO, "dom%u: vCPU %u slot busy (state %u)",
		    s->domid, v, slot_state(slot));
	/* A late kick of an earlier access must not end this one's wait. */
	rc = eventfd_drain(s->to_guest[v]);
	if (rc < 0)
		return sg_err(rc, "dom%u: vCPU %u eventfd", s->domid, v);

	vs->addr = addr;
	vs->data = is_read ? 0 : *data;
	vs->count = 1;
	vs->size = size;
	vs->type = type;
	*slot_flags(slot) = flags | STATE_IOREQ_NONE;	/* ptr 0, df 0 */
	/* The request must be visible before the state says so. */
	__atomic_thread_fence(__ATOMIC_RELEASE);
	*slot_flags(slot) = flags | STATE_IOREQ_READY;
	rc = eventfd_kick(s->to_dm[v]);
	if (rc < 0)
		return sg_err(rc, "dom%u: vCPU %u notify", s->domid, v);

	rc = slot_wait(s, v, slot, addr);
	if (rc < 0)
		return rc;
	if (is_read)
		*data = vs->data & size_mask(size);
	*slot_flags(slot) = (uint8_t)(*slot_flags(slot) & ~IOREQ_F_STATE) |
	    STATE_IOREQ_NONE;
	return 0;
}

static int mmio_access(struct sg_sim *s, uint64_t gpa, unsigned size,
    bool is_read, uint64_t *val)
{
	unsigned v;

	if (size != 1 && size != 2 && size != 4 && size != 8)
		return sg_err(-EINVAL, "dom%u: access size %u at %#llx",
		    s->domid, size, (unsigned long long)gpa);
	if (s->hup)
		return sg_err(-EPIPE, "dom%u: device model gone (access at"
		    " %#llx)", s->domid, (unsigned long long)gpa);
	if (!gpa_served(s, gpa, size)) {
		s->st.nr_aborts++;
		return sg_err(-EFAULT, "dom%u: data abort: %s of %u bytes at"
		    " %#llx is outside every mapped range%s", s->domid,
		    is_read ? "read" : "write", size,
		    (unsigned long long)gpa,
		    s->destroyed ? " (server destroyed)" : "");
	}
	if (!is_read && size == 4) {
		/* privcmd ioeventfd: the kernel takes the kick, no ioreq. */
		for (unsigned i = 0; i < SIM_MAX_IRQFDS; i++) {
			if (!s->ioev[i].used || s->ioev[i].addr != gpa ||
			    s->ioev[i].queue != *val)
				continue;
			s->st.nr_fast_kicks++;
			return eventfd_kick(s->ioev[i].fd);
		}
	}
	v = (unsigned)(s->access_counter++ % s->nr_vcpus);
	s->st.nr_mmio++;
	s->st.nr_mmio_vcpu[v]++;
	return ioreq_send(s, v, IOREQ_TYPE_COPY, gpa, size, is_read, val);
}

int sg_mmio_read(struct sg_sim *s, uint64_t gpa, unsigned size, uint64_t *val)
{
	*val = 0;
	return mmio_access(s, gpa, size, true, val);
}

int sg_mmio_write(struct sg_sim *s, uint64_t gpa, unsigned size, uint64_t val)
{
	val &= size_mask(size);
	return mmio_access(s, gpa, size, false, &val);
}

int sg_invalidate(struct sg_sim *s)
{
	uint64_t data = ~UINT64_C(0);

	if (s->hup)
		return sg_err(-EPIPE, "dom%u: device model gone (invalidate)",
		    s->domid);
	if (!s->server || !s->enabled)
		return sg_err(-ENOENT, "dom%u: invalidate: no enabled server",
		    s->domid);
	s->st.nr_invalidate++;
	return ioreq_send(s, 0, IOREQ_TYPE_INVALIDATE, 0, 4, false, &data);
}

/* ------------------------------------------------------------------ */
/* Interrupts */

int sg_wait_irq(struct sg_sim *s, unsigned dev, int timeout_ms)
{
	uint64_t deadline = now_ms() + (uint64_t)(timeout_ms < 0 ? 0 :
	    timeout_ms);

	if (dev >= s->nr_devs)
		return sg_err(-EINVAL, "dom%u: no device %u", s->domid, dev);
	for (;;) {
		struct pollfd pfd[2 + SIM_MAX_IRQFDS] = {
			{ .fd = s->irq_fd[dev], .events = POLLIN },
			{ .fd = s->sock, .events = POLLIN },
		};
		unsigned npfd = 2;
		int rc;

		/* irqfds of this device's SPI: the kernel would inject it. */
		for (unsigned i = 0; i < SIM_MAX_IRQFDS; i++)
			if (s->irqfd[i].used && s->irqfd[i].irq == s->dev[dev].irq)
				pfd[npfd++] = (struct pollfd){
					.fd = s->irqfd[i].fd, .events = POLLIN,
				};
		if (s->hup)
			return sg_err(-EPIPE, "dom%u: device model hung up"
			    " (waiting for irq %u)", s->domid, s->dev[dev].irq);
		if (s->destroyed && !s->server)
			return sg_err(-ESHUTDOWN, "dom%u: ioreq server"
			    " destroyed (waiting for irq %u)", s->domid,
			    s->dev[dev].irq);
		rc = poll(pfd, npfd, ms_left(deadline));
		if (rc < 0 && errno != EINTR)
			return sg_err(-errno, "dom%u: poll", s->domid);
		if (rc == 0 && ms_left(deadline) == 0)
			return sg_err(-ETIMEDOUT, "dom%u: no interrupt on irq"
			    " %u in %d ms", s->domid, s->dev[dev].irq,
			    timeout_ms);
		if (rc <= 0)
			continue;
		if (pfd[0].revents != 0) {
			rc = eventfd_drain(s->irq_fd[dev]);
			if (rc < 0)
				return sg_err(rc, "dom%u: irq eventfd",
				    s->domid);
			if (rc > 0) {
				s->st.nr_irq++;
				return 0;
			}
		}
		for (unsigned i = 2; i < npfd; i++) {
			if (pfd[i].revents == 0)
				continue;
			rc = eventfd_drain(pfd[i].fd);
			if (rc < 0)
				return sg_err(rc, "dom%u: irqfd", s->domid);
			if (rc > 0) {
				s->st.nr_irq++;
				s->st.nr_fast_irqs++;
				return 0;
			}
		}
		if (pfd[1].revents != 0) {
			rc = service_one(s, 0);
			if (rc < 0 && rc != -EPIPE)
				return rc;
		}
	}
}

/* ------------------------------------------------------------------ */
/* Guest RAM */

void *sg_gpa_to_ptr(struct sg_sim *s, uint64_t gpa, uint64_t len)
{
	return sg_mem_ptr(&s->ram, gpa, len);
}

void *sg_ram_alloc(struct sg_sim *s, uint64_t len, uint64_t *gpa)
{
	return sg_mem_alloc(&s->ram, len, gpa);
}

struct sg_mem *sg_sim_mem(struct sg_sim *s)
{
	return &s->ram;
}

/* ------------------------------------------------------------------ */

unsigned sg_sim_nr_vcpus(const struct sg_sim *s)
{
	return s->nr_vcpus;
}

bool sg_sim_alive(const struct sg_sim *s)
{
	return s->connected && !s->hup && s->server;
}

void sg_sim_set_fast_path(struct sg_sim *s, bool on)
{
	s->fast_path = on;
}

void sg_sim_get_stats(const struct sg_sim *s, struct sg_sim_stats *st)
{
	*st = s->st;
}
