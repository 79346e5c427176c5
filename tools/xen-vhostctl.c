/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * xen-vhostctl: query a running xen-vhostd over its control socket.
 *   xen-vhostctl [-s SOCKET] [--json] [status]
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define DEFAULT_CTL "/run/xen-vhostd/ctl.sock"

static void usage(FILE *f)
{
	fprintf(f, "usage: xen-vhostctl [-s SOCKET] [-j|--json] [status]\n"
	    "  -s, --socket SOCKET  control socket (default " DEFAULT_CTL ")\n"
	    "  -j, --json           JSON output\n"
	    "  -h, --help           this text\n");
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *path = DEFAULT_CTL;
	char buf[4096], req[32];
	bool json = false;
	int c, fd;

	while ((c = getopt_long(argc, argv, "s:jh", lopts, NULL)) != -1) {
		switch (c) {
		case 's':
			path = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc && strcmp(argv[optind], "status") != 0) {
		usage(stderr);
		return 2;
	}
	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "xen-vhostctl: socket path too long\n");
		return 2;
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr, "xen-vhostctl: %s: %s\n", path, strerror(errno));
		return 1;
	}
	snprintf(req, sizeof(req), "status%s\n", json ? " json" : "");
	if (write(fd, req, strlen(req)) != (ssize_t)strlen(req)) {
		fprintf(stderr, "xen-vhostctl: write: %s\n", strerror(errno));
		return 1;
	}
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&pfd, 1, 5000) != 1) {
			fprintf(stderr, "xen-vhostctl: no answer\n");
			return 1;
		}
		n = read(fd, buf, sizeof(buf));
		if (n < 0) {
			fprintf(stderr, "xen-vhostctl: read: %s\n",
			    strerror(errno));
			return 1;
		}
		if (n == 0)
			break;
		fwrite(buf, 1, (size_t)n, stdout);
	}
	close(fd);
	return 0;
}
