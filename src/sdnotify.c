/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "sdnotify.h"

/* One datagram to $NOTIFY_SOCKET. */
static int sdnotify_send(const char *msg, size_t len)
{
	const char *addr = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	socklen_t sa_len;
	size_t addr_len;
	ssize_t n;
	int fd, err;

	if (addr == NULL || addr[0] == '\0')
		return 0;
	if (addr[0] != '/' && addr[0] != '@')
		return -EAFNOSUPPORT;	/* e.g. systemd's "vsock:" addresses */
	addr_len = strlen(addr);
	if (addr[0] == '@') {
		/* Abstract: a leading NUL, no terminating one. */
		if (addr_len > sizeof(sa.sun_path))
			return -ENAMETOOLONG;
		memcpy(sa.sun_path, addr, addr_len);
		sa.sun_path[0] = '\0';
		sa_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
		    addr_len);
	} else {
		if (addr_len >= sizeof(sa.sun_path))
			return -ENAMETOOLONG;
		memcpy(sa.sun_path, addr, addr_len + 1);
		sa_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
		    addr_len + 1);
	}

	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	do {
		n = sendto(fd, msg, len, MSG_NOSIGNAL,
		    (const struct sockaddr *)&sa, sa_len);
	} while (n < 0 && errno == EINTR);
	err = n < 0 ? -errno : (size_t)n != len ? -EMSGSIZE : 0;
	close(fd);
	return err;
}

int sdnotify_ready(void)
{
	return sdnotify_send("READY=1", 7);
}

int sdnotify_stopping(void)
{
	return sdnotify_send("STOPPING=1", 10);
}

int sdnotify_status(const char *fmt, ...)
{
	char msg[sizeof("STATUS=") - 1 + SDNOTIFY_STATUS_MAX + 1];
	const size_t pre = sizeof("STATUS=") - 1;
	va_list ap;
	size_t len;
	int n;

	memcpy(msg, "STATUS=", pre);
	va_start(ap, fmt);
	n = vsnprintf(msg + pre, sizeof(msg) - pre, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -EINVAL;
	len = strlen(msg);
	for (size_t i = pre; i < len; i++)
		if (msg[i] == '\n')
			msg[i] = ' ';
	return sdnotify_send(msg, len);
}
