/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vhu_client: one synchronous vhost-user front-end connection.
 *
 * A request is sent in one sendmsg (header, payload, SCM_RIGHTS fds) and its
 * reply, if the request table says there is one, is read and checked by
 * vhu_check_reply() before any field is used. One deadline of
 * reply_timeout_ms covers both directions. Timeouts, EOF, short reads and
 * protocol violations break the connection (the stream can no longer be
 * trusted to be in sync): it is logged once, and every later call fails
 * with -EPIPE without touching the socket. Received fds are closed on every
 * error path.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "util.h"
#include "vhost/vhu_client.h"

#define VHU_BIT(n)		(UINT64_C(1) << (n))
/* Long enough for "dom32767 blk12" style names; longer ones are cut. */
#define VHU_NAME_MAX		64u
/* Connect retry period while the back-end creates its socket. */
#define VHU_CONNECT_RETRY_MS	100u

struct vhu_client {
	int fd;
	char name[VHU_NAME_MAX];
	int reply_timeout_ms;
	uint64_t protocol_features;	/* in effect (SET done) */
	uint64_t protocol_offered;	/* from GET_PROTOCOL_FEATURES */
	bool have_offered;
	bool broken;
};

/* Control buffer able to carry VHU_MAX_FDS fds, suitably aligned. */
union vhu_cmsg_buf {
	char buf[CMSG_SPACE(sizeof(int) * VHU_MAX_FDS)];
	struct cmsghdr align;
};

static void vhu_close_fds(struct vhu_msg *m)
{
	for (unsigned i = 0; i < m->nr_fds && i < VHU_MAX_FDS; i++)
		fd_close(&m->fds[i]);
	m->nr_fds = 0;
}

/*
 * Mark @c broken and log why, naming client and request. Returns @err so
 * callers can "return vhu_break(...)".
 */
static int vhu_break(struct vhu_client *c, uint32_t request, int err,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int vhu_break(struct vhu_client *c, uint32_t request, int err,
    const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_warnx("%s: %s: %s", c->name, vhu_request_name(request), msg);
	c->broken = true;
	return err;
}

/* Wait for @events on @fd until @deadline (now_ms clock). */
static int vhu_wait(int fd, short events, uint64_t deadline)
{
	for (;;) {
		struct pollfd p = { .fd = fd, .events = events };
		uint64_t now = now_ms();
		uint64_t left = deadline > now ? deadline - now : 0;
		int r;

		r = poll(&p, 1, left > INT_MAX ? INT_MAX : (int)left);
		if (r > 0)
			return 0;
		if (r == 0) {
			if (left == 0)
				return -ETIMEDOUT;
			continue;
		}
		if (errno != EINTR)
			return -errno;
	}
}

/* Number of fds an SCM_RIGHTS control message carries. */
static size_t cmsg_fd_count(const struct cmsghdr *cmsg)
{
	if (cmsg->cmsg_len < CMSG_LEN(0))
		return 0;
	return (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
}

/*
 * Move the fds of @mh into @m. Beyond VHU_MAX_FDS they are closed at once
 * and -EPROTO is returned; the ones kept are closed by the caller's error
 * path.
 */
static int vhu_take_fds(struct msghdr *mh, struct vhu_msg *m)
{
	struct cmsghdr *cmsg;
	int rc = 0;

	for (cmsg = CMSG_FIRSTHDR(mh); cmsg != NULL;
	    cmsg = CMSG_NXTHDR(mh, cmsg)) {
		const unsigned char *data = CMSG_DATA(cmsg);
		size_t n;

		if (cmsg->cmsg_level != SOL_SOCKET ||
		    cmsg->cmsg_type != SCM_RIGHTS)
			continue;
		n = cmsg_fd_count(cmsg);
		for (size_t i = 0; i < n; i++) {
			int fd;

			memcpy(&fd, data + i * sizeof(int), sizeof(fd));
			if (m->nr_fds < VHU_MAX_FDS) {
				m->fds[m->nr_fds++] = fd;
			} else {
				fd_close(&fd);
				rc = -EPROTO;
			}
		}
	}
	return rc;
}

/*
 * Read exactly @len bytes into @buf before @deadline, collecting any fds
 * into @m. Breaks @c on timeout, EOF, error or fd trouble.
 */
static int vhu_read_full(struct vhu_client *c, uint32_t request, void *buf,
    size_t len, struct vhu_msg *m, uint64_t deadline, const char *what)
{
	size_t got = 0;

	while (got < len) {
		union vhu_cmsg_buf ctl;
		struct iovec iov = {
			.iov_base = (uint8_t *)buf + got,
			.iov_len = len - got,
		};
		struct msghdr mh = {
			.msg_iov = &iov,
			.msg_iovlen = 1,
			.msg_control = ctl.buf,
			.msg_controllen = sizeof(ctl.buf),
		};
		ssize_t n;
		int rc;

		rc = vhu_wait(c->fd, POLLIN, deadline);
		if (rc == -ETIMEDOUT)
			return vhu_break(c, request, -ETIMEDOUT,
			    "no reply within %d ms (%zu of %zu %s bytes)",
			    c->reply_timeout_ms, got, len, what);
		if (rc < 0)
			return vhu_break(c, request, rc, "poll: %s",
			    strerror(-rc));

		n = recvmsg(c->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN ||
			    errno == EWOULDBLOCK)
				continue;
			rc = errno;
			return vhu_break(c, request,
			    rc == ECONNRESET ? -EPIPE : -rc, "recvmsg: %s",
			    strerror(rc));
		}
		rc = vhu_take_fds(&mh, m);
		if (mh.msg_flags & MSG_CTRUNC)
			return vhu_break(c, request, -EPROTO,
			    "ancillary data truncated (more than %u fds)",
			    VHU_MAX_FDS);
		if (rc < 0)
			return vhu_break(c, request, rc,
			    "more than %u fds on reply", VHU_MAX_FDS);
		if (n == 0)
			return vhu_break(c, request, -EPIPE, "back-end closed "
			    "the connection (%zu of %zu %s bytes)", got, len,
			    what);
		got += (size_t)n;
	}
	return 0;
}

/* Receive one message: header, size check, then exactly hdr.size bytes. */
static int vhu_recv(struct vhu_client *c, uint32_t request,
    struct vhu_msg *m, uint64_t deadline)
{
	int rc;

	rc = vhu_read_full(c, request, &m->hdr, VHU_HDR_LEN, m, deadline,
	    "header");
	if (rc < 0)
		return rc;
	if (m->hdr.size > VHU_PAYLOAD_MAX)
		return vhu_break(c, request, -EPROTO,
		    "reply payload of %" PRIu32 " bytes exceeds %u",
		    m->hdr.size, VHU_PAYLOAD_MAX);
	return vhu_read_full(c, request, m->payload, m->hdr.size, m, deadline,
	    "payload");
}

/*
 * Send @m whole before @deadline; its fds go with the first byte. A failure
 * before any byte left leaves the stream in sync and the connection usable
 * (unless the peer is gone); a partial send breaks it.
 */
static int vhu_send(struct vhu_client *c, struct vhu_msg *m,
    uint64_t deadline)
{
	size_t total = VHU_HDR_LEN + (size_t)m->hdr.size;
	size_t sent = 0;

	/* Our own encoders guarantee both; refuse rather than overrun. */
	if (m->hdr.size > VHU_PAYLOAD_MAX || m->nr_fds > VHU_MAX_FDS)
		return -EINVAL;

	while (sent < total) {
		union vhu_cmsg_buf ctl;
		struct iovec iov[2];
		struct msghdr mh = { .msg_iov = iov };
		ssize_t n;
		int rc;

		if (sent < VHU_HDR_LEN) {
			iov[0].iov_base = (uint8_t *)&m->hdr + sent;
			iov[0].iov_len = VHU_HDR_LEN - sent;
			iov[1].iov_base = m->payload;
			iov[1].iov_len = m->hdr.size;
			mh.msg_iovlen = m->hdr.size > 0 ? 2 : 1;
		} else {
			iov[0].iov_base = m->payload + (sent - VHU_HDR_LEN);
			iov[0].iov_len = total - sent;
			mh.msg_iovlen = 1;
		}
		if (sent == 0 && m->nr_fds > 0) {
			struct cmsghdr *cmsg;
			size_t fds_len = sizeof(int) * m->nr_fds;

			memset(&ctl, 0, sizeof(ctl));
			mh.msg_control = ctl.buf;
			mh.msg_controllen = CMSG_SPACE(fds_len);
			cmsg = &ctl.align;	/* CMSG_FIRSTHDR, never NULL */
			cmsg->cmsg_level = SOL_SOCKET;
			cmsg->cmsg_type = SCM_RIGHTS;
			cmsg->cmsg_len = CMSG_LEN(fds_len);
			memcpy(CMSG_DATA(cmsg), m->fds, fds_len);
		}

		n = sendmsg(c->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n >= 0) {
			sent += (size_t)n;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			rc = vhu_wait(c->fd, POLLOUT, deadline);
			if (rc == -ETIMEDOUT)
				return vhu_break(c, m->hdr.request, rc,
				    "send blocked for %d ms (%zu of %zu bytes)",
				    c->reply_timeout_ms, sent, total);
			if (rc < 0)
				return vhu_break(c, m->hdr.request, rc,
				    "poll: %s", strerror(-rc));
			continue;
		}
		rc = errno;
		if (rc == EPIPE || rc == ECONNRESET)
			return vhu_break(c, m->hdr.request, -EPIPE,
			    "back-end closed the connection (sendmsg: %s)",
			    strerror(rc));
		if (sent > 0)
			return vhu_break(c, m->hdr.request, -rc,
			    "sendmsg after %zu of %zu bytes: %s", sent, total,
			    strerror(rc));
		/* Nothing went out (e.g. EBADF on one of our fds). */
		errno = rc;
		log_warn("%s: %s: sendmsg", c->name,
		    vhu_request_name(m->hdr.request));
		return -rc;
	}
	return 0;
}

/*
 * Send @req and, if it has one, receive and check its reply into @rep.
 * With REPLY_ACK in effect a request without a natural reply carries
 * NEED_REPLY and a non-zero ack fails it with -EIO (connection usable).
 * On success the caller owns the fds in @rep (only INFLIGHT has any).
 */
static int vhu_transact(struct vhu_client *c, struct vhu_msg *req,
    struct vhu_msg *rep)
{
	uint32_t request = req->hdr.request;
	enum vhu_reply_kind kind = vhu_reply_kind(request);
	const char *why = NULL;
	uint64_t deadline;
	uint64_t ack_val;
	bool ack;
	int rc;

	vhu_msg_init(rep, (enum vhu_request)request);
	if (c->broken) {
		log_debug("%s: %s: connection is broken", c->name,
		    vhu_request_name(request));
		return -EPIPE;
	}
	ack = kind == VHU_REPLY_NONE &&
	    (c->protocol_features & VHU_BIT(VHU_PROTOCOL_F_REPLY_ACK)) != 0;
	if (ack)
		req->hdr.flags |= VHU_FLAG_NEED_REPLY;

	deadline = now_ms() + (uint64_t)c->reply_timeout_ms;
	rc = vhu_send(c, req, deadline);
	if (rc < 0)
		return rc;
	if (kind == VHU_REPLY_NONE && !ack)
		return 0;

	rc = vhu_recv(c, request, rep, deadline);
	if (rc < 0)
		goto err_fds;
	rc = vhu_check_reply(req, rep, ack, &why);
	if (rc < 0) {
		vhu_break(c, request, rc,
		    "%s; got request %" PRIu32 ", flags 0x%" PRIx32
		    ", size %" PRIu32 ", %u fds", why, rep->hdr.request,
		    rep->hdr.flags, rep->hdr.size, rep->nr_fds);
		goto err_fds;
	}
	if (ack) {
		ack_val = vhu_reply_u64(rep);
		if (ack_val != 0) {
			log_warnx("%s: %s: back-end failed the request "
			    "(ack %" PRIu64 ")", c->name,
			    vhu_request_name(request), ack_val);
			return -EIO;
		}
	}
	return 0;

err_fds:
	vhu_close_fds(rep);
	return rc;
}

int vhu_client_from_fd(int fd, const char *name, int reply_timeout_ms,
    struct vhu_client **out)
{
	struct vhu_client *c;

	if (out != NULL)
		*out = NULL;
	if (fd < 0 || name == NULL || out == NULL || reply_timeout_ms <= 0) {
		fd_close(&fd);
		return -EINVAL;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		fd_close(&fd);
		return -ENOMEM;
	}
	c->fd = fd;
	snprintf(c->name, sizeof(c->name), "%s", name);
	c->reply_timeout_ms = reply_timeout_ms;
	*out = c;
	return 0;
}

static void vhu_sleep_ms(uint64_t ms)
{
	struct timespec ts = {
		.tv_sec = (time_t)(ms / 1000u),
		.tv_nsec = (long)(ms % 1000u) * 1000000L,
	};

	/* An early wake-up only shortens one retry period. */
	nanosleep(&ts, NULL);
}

int vhu_client_connect(const char *path, const char *name, int timeout_ms,
    int reply_timeout_ms, struct vhu_client **out)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	uint64_t deadline;
	size_t len;
	int fd, err;

	if (out != NULL)
		*out = NULL;
	if (path == NULL || name == NULL || out == NULL || timeout_ms < 0 ||
	    reply_timeout_ms <= 0)
		return -EINVAL;
	len = strlen(path);
	if (len == 0)
		return -EINVAL;
	if (len >= sizeof(sa.sun_path)) {
		log_warnx("%s: socket path too long (%zu bytes, at most %zu)",
		    name, len, sizeof(sa.sun_path) - 1);
		return -ENAMETOOLONG;
	}
	memcpy(sa.sun_path, path, len + 1);

	deadline = now_ms() + (uint64_t)timeout_ms;
	for (;;) {
		uint64_t now;

		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			err = errno;
			log_warn("%s: socket", name);
			return -err;
		}
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			break;
		err = errno;
		fd_close(&fd);
		/* Back-end not started yet, or not listening yet. */
		if (err != ENOENT && err != ECONNREFUSED && err != EAGAIN &&
		    err != EINTR) {
			errno = err;
			log_warn("%s: connect %s", name, path);
			return -err;
		}
		now = now_ms();
		if (now >= deadline) {
			errno = err;
			if (timeout_ms > 0)
				log_warn("%s: connect %s (gave up after %d ms)",
				    name, path, timeout_ms);
			else
				log_warn("%s: connect %s", name, path);
			return -err;
		}
		vhu_sleep_ms(deadline - now < VHU_CONNECT_RETRY_MS ?
		    deadline - now : VHU_CONNECT_RETRY_MS);
	}
	log_debug("%s: connected to %s", name, path);
	return vhu_client_from_fd(fd, name, reply_timeout_ms, out);
}

void vhu_client_close(struct vhu_client *c)
{
	if (c == NULL)
		return;
	fd_close(&c->fd);
	free(c);
}

int vhu_client_fd(const struct vhu_client *c)
{
	return c->fd;
}

bool vhu_client_broken(const struct vhu_client *c)
{
	return c->broken;
}

const char *vhu_client_name(const struct vhu_client *c)
{
	return c->name;
}

uint64_t vhu_client_protocol_features(const struct vhu_client *c)
{
	return c->protocol_features;
}

/* A request with no payload and a u64 reply. */
static int vhu_get_u64(struct vhu_client *c, enum vhu_request r,
    uint64_t *v)
{
	struct vhu_msg req, rep;
	int rc;

	vhu_msg_init(&req, r);
	rc = vhu_transact(c, &req, &rep);
	if (rc < 0)
		return rc;
	*v = vhu_reply_u64(&rep);
	return 0;
}

static int vhu_set_u64(struct vhu_client *c, enum vhu_request r, uint64_t v)
{
	struct vhu_msg req, rep;
	int rc;

	rc = vhu_msg_u64(&req, r, v);
	if (rc < 0)
		return rc;
	return vhu_transact(c, &req, &rep);
}

static int vhu_set_state(struct vhu_client *c, enum vhu_request r,
    uint32_t index, uint32_t num)
{
	struct vhu_msg req, rep;
	int rc;

	rc = vhu_msg_state(&req, r, index, num);
	if (rc < 0)
		return rc;
	return vhu_transact(c, &req, &rep);
}

static int vhu_set_vring_fd(struct vhu_client *c, enum vhu_request r,
    uint32_t index, int fd)
{
	struct vhu_msg req, rep;
	int rc;

	rc = vhu_msg_vring_fd(&req, r, index, fd);
	if (rc < 0)
		return rc;
	return vhu_transact(c, &req, &rep);
}

static int vhu_simple(struct vhu_client *c, enum vhu_request r)
{
	struct vhu_msg req, rep;

	vhu_msg_init(&req, r);
	return vhu_transact(c, &req, &rep);
}

int vhu_get_features(struct vhu_client *c, uint64_t *features)
{
	return vhu_get_u64(c, VHU_GET_FEATURES, features);
}

int vhu_set_features(struct vhu_client *c, uint64_t features)
{
	return vhu_set_u64(c, VHU_SET_FEATURES, features);
}

int vhu_get_protocol_features(struct vhu_client *c, uint64_t *features)
{
	int rc;

	rc = vhu_get_u64(c, VHU_GET_PROTOCOL_FEATURES, features);
	if (rc < 0)
		return rc;
	c->protocol_offered = *features;
	c->have_offered = true;
	return 0;
}

int vhu_set_protocol_features(struct vhu_client *c, uint64_t features)
{
	int rc;

	/* Enabling what the back-end did not offer (REPLY_ACK!) would hang. */
	if (c->have_offered && (features & ~c->protocol_offered) != 0) {
		log_warnx("%s: SET_PROTOCOL_FEATURES: 0x%" PRIx64
		    " not offered by the back-end (0x%" PRIx64 ")", c->name,
		    features & ~c->protocol_offered, c->protocol_offered);
		return -EINVAL;
	}
	rc = vhu_set_u64(c, VHU_SET_PROTOCOL_FEATURES, features);
	if (rc < 0)
		return rc;
	c->protocol_features = features;
	return 0;
}

int vhu_set_owner(struct vhu_client *c)
{
	return vhu_simple(c, VHU_SET_OWNER);
}

int vhu_get_queue_num(struct vhu_client *c, uint64_t *nr)
{
	return vhu_get_u64(c, VHU_GET_QUEUE_NUM, nr);
}

int vhu_set_mem_table(struct vhu_client *c, const struct vhu_mem_region *r,
    const int *fds, unsigned nr)
{
	bool xen = (c->protocol_features &
	    VHU_BIT(VHU_PROTOCOL_F_XEN_MMAP)) != 0;
	struct vhu_msg req, rep;
	int rc;

	rc = vhu_msg_mem_table(&req, r, fds, nr, xen);
	if (rc < 0)
		return rc;
	return vhu_transact(c, &req, &rep);
}

int vhu_set_vring_num(struct vhu_client *c, uint32_t index, uint32_t num)
{
	return vhu_set_state(c, VHU_SET_VRING_NUM, index, num);
}

int vhu_set_vring_addr(struct vhu_client *c, const struct vhu_vring_addr *a)
{
	struct vhu_msg req, rep;
	int rc;

	rc = vhu_msg_vring_addr(&req, a);
	if (rc < 0)
		return rc;
	return vhu_transact(c, &req, &rep);
}

int vhu_set_vring_base(struct vhu_client *c, uint32_t index, uint32_t base)
{
	return vhu_set_state(c, VHU_SET_VRING_BASE, index, base);
}

int vhu_get_vring_base(struct vhu_client *c, uint32_t index, uint32_t *base)
{
	struct vhu_msg req, rep;
	int rc;

	rc = vhu_msg_state(&req, VHU_GET_VRING_BASE, index, 0);
	if (rc < 0)
		return rc;
	rc = vhu_transact(c, &req, &rep);
	if (rc < 0)
		return rc;
	*base = vhu_reply_state_num(&rep);
	return 0;
}

int vhu_set_vring_kick(struct vhu_client *c, uint32_t index, int fd)
{
	return vhu_set_vring_fd(c, VHU_SET_VRING_KICK, index, fd);
}

int vhu_set_vring_call(struct vhu_client *c, uint32_t index, int fd)
{
	return vhu_set_vring_fd(c, VHU_SET_VRING_CALL, index, fd);
}

int vhu_set_vring_err(struct vhu_client *c, uint32_t index, int fd)
{
	return vhu_set_vring_fd(c, VHU_SET_VRING_ERR, index, fd);
}

int vhu_set_vring_enable(struct vhu_client *c, uint32_t index, bool enable)
{
	return vhu_set_state(c, VHU_SET_VRING_ENABLE, index, enable ? 1 : 0);
}

int vhu_get_config(struct vhu_client *c, uint32_t offset, uint32_t size,
    void *buf)
{
	struct vhu_msg req, rep;
	int rc;

	if (buf == NULL)
		return -EINVAL;
	rc = vhu_msg_config(&req, VHU_GET_CONFIG, offset, size, 0, NULL);
	if (rc < 0)
		return rc;
	rc = vhu_transact(c, &req, &rep);
	if (rc < 0)
		return rc;
	vhu_reply_config(&rep, buf, size);
	return 0;
}

int vhu_set_config(struct vhu_client *c, uint32_t offset, uint32_t size,
    const void *buf)
{
	struct vhu_msg req, rep;
	int rc;

	/* flags 0: a live write, not a migration restore. */
	rc = vhu_msg_config(&req, VHU_SET_CONFIG, offset, size, 0, buf);
	if (rc < 0)
		return rc;
	return vhu_transact(c, &req, &rep);
}

int vhu_reset_device(struct vhu_client *c)
{
	return vhu_simple(c, VHU_RESET_DEVICE);
}

int vhu_get_inflight_fd(struct vhu_client *c, uint16_t num_queues,
    uint16_t queue_size, struct vhu_inflight *out, int *fd)
{
	struct vhu_inflight in = {
		.num_queues = num_queues,
		.queue_size = queue_size,
	};
	struct vhu_msg req, rep;
	int rc;

	if (out == NULL || fd == NULL)
		return -EINVAL;
	*fd = -1;
	rc = vhu_msg_inflight(&req, VHU_GET_INFLIGHT_FD, &in, -1);
	if (rc < 0)
		return rc;
	rc = vhu_transact(c, &req, &rep);
	if (rc < 0)
		return rc;
	vhu_reply_inflight(&rep, out);
	/* vhu_check_reply guaranteed exactly one fd; hand it over. */
	*fd = rep.fds[0];
	rep.fds[0] = -1;
	rep.nr_fds = 0;
	return 0;
}

int vhu_set_inflight_fd(struct vhu_client *c, const struct vhu_inflight *in,
    int fd)
{
	struct vhu_msg req, rep;
	int rc;

	if (fd < 0)
		return -EINVAL;
	rc = vhu_msg_inflight(&req, VHU_SET_INFLIGHT_FD, in, fd);
	if (rc < 0)
		return rc;
	return vhu_transact(c, &req, &rep);
}
