/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The simulated Xen, daemon side (protocol: include/xvd/sim_proto.h).
 * Each call that Xen would answer is a request/reply on the domain's
 * SOCK_SEQPACKET connection, bounded by SIM_REPLY_TIMEOUT_MS.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "hv/hv.h"
#include "log.h"
#include "util.h"
#include "xvd/sim_proto.h"

/* Why 5 s: a simulated guest answers at once; this only catches a dead one. */
#define SIM_REPLY_TIMEOUT_MS 5000
/* Why 64 GiB: far above any test guest, small enough to catch nonsense. */
#define SIM_RAM_MAX (UINT64_C(64) << 30)
#define SIM_DOMID_MAX 32751u	/* DOMID_FIRST_RESERVED - 1 */
#define SIM_MAX_FDS (1u + 2u * SIM_MAX_VCPUS + SIM_MAX_DEVS)

struct sim_dom {
	struct hv_dom d;	/* first: hv_dom * converts to sim_dom * */
	int sock;
	int ram_fd;
	int iopage_fd;
	unsigned nr_devs;
	uint32_t dev_irq[SIM_MAX_DEVS];
	int irq_fd[SIM_MAX_DEVS];
	int to_dm[SIM_MAX_VCPUS];
	int to_guest[SIM_MAX_VCPUS];
	bool have_vcpu_fds;
	/* irqfds assigned (the fd is ours, not a dup): token = index. */
	int irqfd[SIM_MAX_IRQFDS];
};

static struct sim_dom *to_sim(const struct hv_dom *d)
{
	return (struct sim_dom *)(uintptr_t)d;
}

static void close_fds(int *fds, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		fd_close(&fds[i]);
}

/* Receive one packet and its fds (all closed on error). */
static int sim_recv(int sock, struct sim_msg *m, int *fds, unsigned max_fds,
    unsigned *nr_fds, int timeout_ms)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * SIM_MAX_FDS)];
		struct cmsghdr align;
	} cbuf;
	struct iovec iov = { .iov_base = m, .iov_len = sizeof(*m) };
	struct msghdr mh = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf.buf, .msg_controllen = sizeof(cbuf.buf),
	};
	struct pollfd pfd = { .fd = sock, .events = POLLIN };
	unsigned got = 0;
	ssize_t n;
	int rc;

	*nr_fds = 0;
	rc = poll(&pfd, 1, timeout_ms);
	if (rc == 0)
		return -ETIMEDOUT;
	if (rc < 0)
		return -errno;
	n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
	if (n < 0)
		return -errno;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c != NULL;
	    c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		unsigned k = (unsigned)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		int tmp[SIM_MAX_FDS];

		if (k > SIM_MAX_FDS)
			k = SIM_MAX_FDS;
		memcpy(tmp, CMSG_DATA(c), k * sizeof(int));
		for (unsigned i = 0; i < k; i++) {
			if (got < max_fds)
				fds[got++] = tmp[i];
			else
				close(tmp[i]);
		}
	}
	*nr_fds = got;
	if (n == 0) {
		close_fds(fds, got);
		*nr_fds = 0;
		return -EPIPE;
	}
	if ((mh.msg_flags & (MSG_CTRUNC | MSG_TRUNC)) != 0 ||
	    (size_t)n != sizeof(*m) || m->magic != SIM_MAGIC) {
		close_fds(fds, got);
		*nr_fds = 0;
		return -EPROTO;
	}
	return 0;
}

/* One packet, with @fd as SCM_RIGHTS unless it is -1. */
static int sim_send(int sock, uint32_t type, struct sim_msg *m, int fd)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} cbuf;
	struct iovec iov = { .iov_base = m, .iov_len = sizeof(*m) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	m->magic = SIM_MAGIC;
	m->type = type;
	if (fd >= 0) {
		struct cmsghdr *c;

		memset(&cbuf, 0, sizeof(cbuf));
		mh.msg_control = cbuf.buf;
		mh.msg_controllen = sizeof(cbuf.buf);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	if (sendmsg(sock, &mh, MSG_NOSIGNAL) != (ssize_t)sizeof(*m))
		return -errno ? -errno : -EIO;
	return 0;
}

/* One Xen call: send (with @send_fd), wait for the reply of @want_type. */
static int sim_call(struct sim_dom *s, uint32_t type, struct sim_msg *m,
    int send_fd, uint32_t want_type, int *fds, unsigned max_fds,
    unsigned *nr_fds)
{
	struct sim_msg rep;
	unsigned dummy;
	int rc;

	if (s->d.dead)
		return -ESRCH;
	rc = sim_send(s->sock, type, m, send_fd);
	if (rc < 0)
		goto dead;
	rc = sim_recv(s->sock, &rep, fds, max_fds, nr_fds ? nr_fds : &dummy,
	    SIM_REPLY_TIMEOUT_MS);
	if (rc < 0)
		goto dead;
	if (rep.type != want_type) {
		close_fds(fds, nr_fds ? *nr_fds : 0);
		rc = -EPROTO;
		goto dead;
	}
	*m = rep;
	return rep.status;
dead:
	log_warnx("dom%u: simulated Xen: call %u failed (%s)", s->d.domid, type,
	    strerror(-rc));
	s->d.dead = true;
	return rc;
}

int sim_listen(const char *path)
{
	return fd_unix_listen(path, SOCK_SEQPACKET, 0);
}

/* Validate a SIM_HELLO: the guest side is untrusted input. */
static const char *hello_check(const struct sim_hello *h, unsigned nr_fds)
{
	if (h->domid == 0 || h->domid > SIM_DOMID_MAX)
		return "domid out of range";
	if (h->nr_vcpus == 0 || h->nr_vcpus > SIM_MAX_VCPUS)
		return "vCPU count out of range";
	if (h->ram_size == 0 || h->ram_size > SIM_RAM_MAX ||
	    (h->ram_size & 4095) != 0 || (h->ram_base & 4095) != 0 ||
	    h->ram_base > UINT64_MAX - h->ram_size)
		return "bad RAM range";
	if (h->nr_devs > SIM_MAX_DEVS)
		return "too many devices";
	if (nr_fds != 1 + h->nr_devs)
		return "wrong number of fds";
	for (unsigned i = 0; i < h->nr_devs; i++) {
		const struct sim_dev *dv = &h->dev[i];

		if ((dv->base & (SIM_MMIO_STRIDE - 1)) != 0 ||
		    dv->base > UINT64_MAX - SIM_MMIO_STRIDE)
			return "device base not aligned";
		if (dv->irq < 32 || dv->irq > 1019)
			return "device irq is not an SPI";
	}
	return NULL;
}

static const struct hv_ops sim_ops;

int sim_accept(int lfd, struct hv_dom **out, struct sim_hello *hello)
{
	int fds[1 + SIM_MAX_DEVS];
	struct sim_msg m;
	struct sim_dom *s;
	const char *why;
	unsigned nr = 0;
	int sock, rc;

	sock = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (sock < 0)
		return -errno;
	rc = sim_recv(sock, &m, fds, ARRAY_SIZE(fds), &nr, SIM_REPLY_TIMEOUT_MS);
	if (rc < 0) {
		log_warnx("simulated Xen: no hello from new domain (%s)",
		    strerror(-rc));
		close(sock);
		return rc;
	}
	why = m.type != SIM_HELLO ? "first message is not SIM_HELLO" :
	    hello_check(&m.u.hello, nr);
	if (why != NULL) {
		log_warnx("simulated Xen: domain refused: %s", why);
		close_fds(fds, nr);
		close(sock);
		return -EINVAL;
	}
	s = calloc(1, sizeof(*s));
	if (s == NULL) {
		close_fds(fds, nr);
		close(sock);
		return -ENOMEM;
	}
	*hello = m.u.hello;
	s->d.ops = &sim_ops;
	s->d.domid = hello->domid;
	s->d.nr_vcpus = hello->nr_vcpus;
	s->d.adopt_ioservid = -1;
	for (unsigned k = 0; k < SIM_MAX_IRQFDS; k++)
		s->irqfd[k] = -1;
	s->sock = sock;
	s->ram_fd = fds[0];
	s->iopage_fd = -1;
	s->nr_devs = hello->nr_devs;
	for (unsigned i = 0; i < SIM_MAX_VCPUS; i++)
		s->to_dm[i] = s->to_guest[i] = -1;
	for (unsigned i = 0; i < SIM_MAX_DEVS; i++)
		s->irq_fd[i] = -1;
	for (unsigned i = 0; i < hello->nr_devs; i++) {
		s->irq_fd[i] = fds[1 + i];
		s->dev_irq[i] = hello->dev[i].irq;
	}
	s->d.mem[0].gpa = hello->ram_base;
	s->d.mem[0].size = hello->ram_size;
	s->d.mem[0].fd = -1;
	*out = &s->d;
	return 0;
}

int sim_dom_fd(const struct hv_dom *d)
{
	return to_sim(d)->sock;
}

int sim_dom_input(struct hv_dom *d)
{
	struct sim_dom *s = to_sim(d);
	int fds[SIM_MAX_FDS];
	struct sim_msg m;
	unsigned nr;
	int rc;

	rc = sim_recv(s->sock, &m, fds, ARRAY_SIZE(fds), &nr, 0);
	if (rc == -ETIMEDOUT || rc == -EAGAIN || rc == -EINTR)
		return 0;
	close_fds(fds, nr);
	if (rc < 0) {
		d->dead = true;
		return -EPIPE;
	}
	log_warnx("dom%u: simulated Xen: unexpected message %u ignored",
	    d->domid, m.type);
	return 0;
}

static int sim_ioreq_create(struct hv_dom *d)
{
	struct sim_dom *s = to_sim(d);
	unsigned want = 1 + 2 * d->nr_vcpus, nr = 0;
	int fds[SIM_MAX_FDS];
	struct sim_msg m = { 0 };
	struct stat st;
	void *p;
	int rc;

	rc = sim_call(s, SIM_CREATE, &m, -1, SIM_CREATE_REPLY, fds, ARRAY_SIZE(fds),
	    &nr);
	if (rc < 0) {
		close_fds(fds, nr);
		return rc;
	}
	if (nr != want || fstat(fds[0], &st) < 0 ||
	    st.st_size < (off_t)SIM_IOREQ_PAGE_LEN) {
		close_fds(fds, nr);
		log_warnx("dom%u: simulated Xen: bad ioreq server reply",
		    d->domid);
		return -EPROTO;
	}
	p = mmap(NULL, SIM_IOREQ_PAGE_LEN, PROT_READ | PROT_WRITE, MAP_SHARED,
	    fds[0], 0);
	if (p == MAP_FAILED) {
		rc = -errno;
		close_fds(fds, nr);
		return rc;
	}
	s->iopage_fd = fds[0];
	d->iopage = p;
	for (unsigned i = 0; i < d->nr_vcpus; i++) {
		s->to_dm[i] = fds[1 + i];
		s->to_guest[i] = fds[1 + d->nr_vcpus + i];
		fd_set_nonblock(s->to_dm[i]);
	}
	s->have_vcpu_fds = true;
	return 0;
}

static int sim_map_range(struct hv_dom *d, uint64_t start, uint64_t end)
{
	struct sim_msg m = { 0 };

	m.u.range.start = start;
	m.u.range.end = end;
	return sim_call(to_sim(d), SIM_MAP_RANGE, &m, -1, SIM_STATUS, NULL, 0,
	    NULL);
}

static int sim_unmap_range(struct hv_dom *d, uint64_t start, uint64_t end)
{
	/* The simulated Xen drops ranges with the server (SIM_DESTROY). */
	return 0;
}

static int sim_enable(struct hv_dom *d)
{
	struct sim_msg m = { 0 };

	m.u.state.enabled = 1;
	return sim_call(to_sim(d), SIM_SET_STATE, &m, -1, SIM_STATUS, NULL, 0,
	    NULL);
}

static unsigned sim_nr_event_fds(const struct hv_dom *d)
{
	return to_sim(d)->have_vcpu_fds ? d->nr_vcpus : 0;
}

static int sim_event_fd(const struct hv_dom *d, unsigned i)
{
	return i < d->nr_vcpus ? to_sim(d)->to_dm[i] : -1;
}

static int sim_pending(struct hv_dom *d, unsigned i, unsigned *vcpu)
{
	uint64_t v;
	ssize_t n;

	if (i >= d->nr_vcpus)
		return -EINVAL;
	n = read(to_sim(d)->to_dm[i], &v, sizeof(v));
	if (n < 0)
		return errno == EAGAIN ? 0 : -errno;
	*vcpu = i;
	return 1;
}

static int eventfd_signal(int fd)
{
	uint64_t one = 1;

	if (write(fd, &one, sizeof(one)) != (ssize_t)sizeof(one))
		return -errno;
	return 0;
}

static int sim_notify(struct hv_dom *d, unsigned vcpu)
{
	if (vcpu >= d->nr_vcpus)
		return -EINVAL;
	return eventfd_signal(to_sim(d)->to_guest[vcpu]);
}

static int sim_set_irq(struct hv_dom *d, unsigned irq, unsigned level)
{
	struct sim_dom *s = to_sim(d);

	/* Edge-like, as Xen's default vGIC: only level 1 queues the SPI. */
	if (level == 0)
		return 0;
	for (unsigned i = 0; i < s->nr_devs; i++)
		if (s->dev_irq[i] == irq)
			return eventfd_signal(s->irq_fd[i]);
	return -EINVAL;
}

/*
 * The kernel fast path as the simulated guest's "dom0 kernel" offers it.
 * A reply < 0 is the kernel saying no: the relay stays in userspace.
 */
static int sim_ioeventfd(struct hv_dom *d, uint64_t addr, uint32_t queue,
    int fd, bool assign)
{
	struct sim_msg m = { 0 };

	m.u.fast.addr = addr;
	m.u.fast.queue = queue;
	m.u.fast.assign = assign;
	return sim_call(to_sim(d), SIM_IOEVENTFD, &m, assign ? fd : -1,
	    SIM_STATUS, NULL, 0, NULL);
}

static int sim_irqfd(struct hv_dom *d, unsigned irq, int fd, bool assign)
{
	struct sim_dom *s = to_sim(d);
	struct sim_msg m = { 0 };
	unsigned k;
	int rc;

	/* The token names the fd for the deassign: eventfds look alike. */
	for (k = 0; k < SIM_MAX_IRQFDS; k++)
		if (assign ? s->irqfd[k] < 0 : s->irqfd[k] == fd)
			break;
	if (k == SIM_MAX_IRQFDS)
		return assign ? -ENOSPC : -ENOENT;
	m.u.fast.irq = irq;
	m.u.fast.token = k;
	m.u.fast.assign = assign;
	rc = sim_call(s, SIM_IRQFD, &m, assign ? fd : -1, SIM_STATUS, NULL, 0,
	    NULL);
	if (rc == 0 || !assign)
		s->irqfd[k] = assign ? fd : -1;
	return rc;
}

static int sim_map_memory(struct hv_dom *d)
{
	struct sim_dom *s = to_sim(d);
	struct hv_mem_region *r = &d->mem[0];
	struct stat st;
	void *p;

	if (d->nr_mem != 0)
		return 0;
	if (fstat(s->ram_fd, &st) < 0)
		return -errno;
	if ((uint64_t)st.st_size < r->size) {
		log_warnx("dom%u: simulated Xen: RAM file smaller than RAM",
		    d->domid);
		return -EINVAL;
	}
	p = mmap(NULL, r->size, PROT_READ | PROT_WRITE, MAP_SHARED, s->ram_fd, 0);
	if (p == MAP_FAILED)
		return -errno;
	r->hva = p;
	r->fd = s->ram_fd;
	r->fd_offset = 0;
	d->nr_mem = 1;
	return 0;
}

static int sim_connected(struct hv_dom *d, int status)
{
	struct sim_msg m = { 0 };

	if (d->dead)
		return -ESRCH;
	m.status = status;
	return sim_send(to_sim(d)->sock, SIM_CONNECTED, &m, -1);
}

static void sim_destroy(struct hv_dom *d)
{
	struct sim_dom *s = to_sim(d);
	struct sim_msg m = { 0 };

	if (s->have_vcpu_fds && !d->dead)
		(void)sim_call(s, SIM_DESTROY, &m, -1, SIM_STATUS, NULL, 0,
		    NULL);
	if (d->iopage != NULL)
		munmap(d->iopage, SIM_IOREQ_PAGE_LEN);
	if (d->nr_mem != 0)
		munmap(d->mem[0].hva, d->mem[0].size);
	close_fds(s->to_dm, SIM_MAX_VCPUS);
	close_fds(s->to_guest, SIM_MAX_VCPUS);
	close_fds(s->irq_fd, SIM_MAX_DEVS);
	fd_close(&s->iopage_fd);
	fd_close(&s->ram_fd);
	fd_close(&s->sock);
	free(s);
}

static const struct hv_ops sim_ops = {
	.name = "sim",
	.ioreq_create = sim_ioreq_create,
	.map_range = sim_map_range,
	.unmap_range = sim_unmap_range,
	.enable = sim_enable,
	.nr_event_fds = sim_nr_event_fds,
	.event_fd = sim_event_fd,
	.pending = sim_pending,
	.notify = sim_notify,
	.set_irq = sim_set_irq,
	.ioeventfd = sim_ioeventfd,
	.irqfd = sim_irqfd,
	.map_memory = sim_map_memory,
	.connected = sim_connected,
	.destroy = sim_destroy,
};
