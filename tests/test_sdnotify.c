/* SPDX-License-Identifier: GPL-2.0-or-later */
/* sdnotify against our own datagram socket, by path and abstract name. */
#include <errno.h>
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

#include "sdnotify.h"

struct listener {
	char dir[64];
	char path[96];
	int fd;
};

/* A datagram socket at @l->path, in a fresh temporary directory. */
static void listen_path(struct listener *l)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	snprintf(l->dir, sizeof(l->dir), "/tmp/test_sdnotify.XXXXXX");
	assert_non_null(mkdtemp(l->dir));
	snprintf(l->path, sizeof(l->path), "%s/notify", l->dir);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", l->path);
	l->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(l->fd >= 0);
	assert_int_equal(bind(l->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(setenv("NOTIFY_SOCKET", l->path, 1), 0);
}

static void unlisten_path(struct listener *l)
{
	close(l->fd);
	unlink(l->path);
	rmdir(l->dir);
	unsetenv("NOTIFY_SOCKET");
}

/* The next datagram, which must be there already. */
static void expect(int fd, const char *want)
{
	char buf[512];
	ssize_t n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);

	assert_true(n >= 0);
	buf[n] = '\0';
	assert_string_equal(buf, want);
}

static void expect_none(int fd)
{
	char buf[16];

	assert_int_equal(recv(fd, buf, sizeof(buf), MSG_DONTWAIT), -1);
	assert_int_equal(errno, EAGAIN);
}

static void test_path(void **state)
{
	struct listener l;

	listen_path(&l);
	assert_int_equal(sdnotify_ready(), 0);
	expect(l.fd, "READY=1");
	assert_int_equal(sdnotify_status("serving %u guests", 3u), 0);
	expect(l.fd, "STATUS=serving 3 guests");
	assert_int_equal(sdnotify_stopping(), 0);
	expect(l.fd, "STOPPING=1");
	expect_none(l.fd);
	unlisten_path(&l);
}

/* A newline cannot smuggle a second assignment; long text is cut. */
static void test_status_sanitised(void **state)
{
	char want[8 + SDNOTIFY_STATUS_MAX], longer[2 * SDNOTIFY_STATUS_MAX];
	struct listener l;

	listen_path(&l);
	assert_int_equal(sdnotify_status("dom%u\nREADY=1\n", 5u), 0);
	expect(l.fd, "STATUS=dom5 READY=1 ");
	memset(longer, 'x', sizeof(longer) - 1);
	longer[sizeof(longer) - 1] = '\0';
	assert_int_equal(sdnotify_status("%s", longer), 0);
	snprintf(want, sizeof(want), "STATUS=%.*s", SDNOTIFY_STATUS_MAX, longer);
	expect(l.fd, want);
	unlisten_path(&l);
}

static void test_abstract(void **state)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char name[64], env[80];
	size_t len;
	int fd;

	len = (size_t)snprintf(name, sizeof(name), "xvd-test-sdnotify-%ld-%d",
	    (long)getpid(), rand());
	memcpy(sa.sun_path + 1, name, len);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa,
	    (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + len)), 0);
	snprintf(env, sizeof(env), "@%s", name);
	assert_int_equal(setenv("NOTIFY_SOCKET", env, 1), 0);

	assert_int_equal(sdnotify_ready(), 0);
	expect(fd, "READY=1");
	assert_int_equal(sdnotify_stopping(), 0);
	expect(fd, "STOPPING=1");

	/* The name is exact: no trailing NUL, so a prefix is another socket. */
	env[strlen(env) - 1] = '\0';
	assert_int_equal(setenv("NOTIFY_SOCKET", env, 1), 0);
	assert_int_equal(sdnotify_ready(), -ECONNREFUSED);
	expect_none(fd);
	close(fd);
	unsetenv("NOTIFY_SOCKET");
}

static void test_unset(void **state)
{
	unsetenv("NOTIFY_SOCKET");
	assert_int_equal(sdnotify_ready(), 0);
	assert_int_equal(sdnotify_status("x"), 0);
	assert_int_equal(sdnotify_stopping(), 0);
	assert_int_equal(setenv("NOTIFY_SOCKET", "", 1), 0);
	assert_int_equal(sdnotify_ready(), 0);
	unsetenv("NOTIFY_SOCKET");
}

static void test_bad_address(void **state)
{
	char longer[200];

	assert_int_equal(setenv("NOTIFY_SOCKET", "vsock:2:1234", 1), 0);
	assert_int_equal(sdnotify_ready(), -EAFNOSUPPORT);
	assert_int_equal(setenv("NOTIFY_SOCKET", "relative/notify", 1), 0);
	assert_int_equal(sdnotify_ready(), -EAFNOSUPPORT);
	assert_int_equal(setenv("NOTIFY_SOCKET",
	    "/nonexistent/xvd-test/notify", 1), 0);
	assert_int_equal(sdnotify_ready(), -ENOENT);

	longer[0] = '/';
	memset(longer + 1, 'a', sizeof(longer) - 2);
	longer[sizeof(longer) - 1] = '\0';
	assert_int_equal(setenv("NOTIFY_SOCKET", longer, 1), 0);
	assert_int_equal(sdnotify_ready(), -ENAMETOOLONG);
	longer[0] = '@';
	assert_int_equal(setenv("NOTIFY_SOCKET", longer, 1), 0);
	assert_int_equal(sdnotify_ready(), -ENAMETOOLONG);
	unsetenv("NOTIFY_SOCKET");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_path),
		cmocka_unit_test(test_status_sanitised),
		cmocka_unit_test(test_abstract),
		cmocka_unit_test(test_unset),
		cmocka_unit_test(test_bad_address),
	};

	srand((unsigned)getpid());
	return cmocka_run_group_tests(tests, NULL, NULL);
}
