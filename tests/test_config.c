/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * config: tests/regress/NAME.conf -> NAME.ok (config_print() output, or the
 * error line), the shipped conf/xen-vhostd.conf, precedence, socket names,
 * and every key documented in xen-vhostd.conf(5).
 *
 * usage: test_config REGRESS_DIR MAN_PAGE EXAMPLE_CONF
 * (or $XVD_REGRESS_DIR, $XVD_CONF_MAN, $XVD_EXAMPLE_CONF)
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "devtab.h"
#include "util.h"

static const char *regress_dir;
static const char *man_path;
static const char *example_path;

/* Every tests/regress/NAME.conf; test_regress_all_listed keeps it complete. */
static const char *const regress_names[] = {
	"default", "full", "guest", "syntax",
	"err-unknown-key", "err-unknown-key-section", "err-bad-value",
	"err-bad-bool", "err-bad-number", "err-range", "err-range-zero",
	"err-range-big", "err-dup-section", "err-dup-guest",
	"err-dup-guest-type", "err-dup-key", "err-unknown-type",
	"err-unknown-type-guest", "err-unknown-section", "err-domid",
	"err-domid-range", "err-syntax", "err-syntax-header",
	"err-syntax-header-words", "err-unterminated", "err-missing-value",
	"err-quote-inside", "err-dir-relative", "err-socket-slash",
	"err-socket-slash2", "err-socket-dotdot", "err-socket-escape",
	"err-socket-dangling", "err-socket-no-t", "err-socket-no-t-guest",
	"err-socket-space", "err-socket-dot", "err-socket-too-long",
	"err-socket-pattern-long", "err-socket-dir-fit", "err-socket-fit",
	"vmsg", "err-vmsg-nopath", "err-vmsg-type", "err-vmsg-key",
	"err-vmsg-dup-path", "err-vmsg-bus", "err-vmsg-outside", "err-vmsg-name",
};

static char *read_all(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	size_t len = 0, cap = 0;
	int ch;

	if (f == NULL) {
		fail_msg("cannot open %s: %s", path, strerror(errno));
		return NULL;
	}
	while ((ch = getc(f)) != EOF) {
		if (len + 2 > cap) {
			cap = cap ? cap * 2 : 4096;
			buf = realloc(buf, cap);
			assert_non_null(buf);
		}
		buf[len++] = (char)ch;
	}
	fclose(f);
	if (buf == NULL)
		buf = malloc(1);
	assert_non_null(buf);
	buf[len] = '\0';
	return buf;
}

static char *print_str(const struct xvd_config *c)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	config_print(c, f);
	fclose(f);
	return buf;
}

/* What test_regress compares with NAME.ok: print output or error line. */
static char *parse_result(const char *path, const char *shown_as)
{
	static struct xvd_config c;
	char err[512], *out;
	size_t plen = strlen(path);
	int rc;

	rc = config_parse_file(path, &c, err, sizeof(err));
	if (rc == 0)
		return print_str(&c);
	assert_int_equal(rc, -EINVAL);
	/* The message names the file as given; compare from the basename. */
	assert_true(strncmp(err, path, plen) == 0);
	assert_int_equal(err[plen], ':');
	out = malloc(strlen(shown_as) + strlen(err + plen) + 2);
	assert_non_null(out);
	sprintf(out, "%s%s\n", shown_as, err + plen);
	return out;
}

static void compare(const char *what, const char *got, const char *want)
{
	if (strcmp(got, want) != 0) {
		print_error("%s: got\n%s--- want\n%s---\n", what, got, want);
		fail();
	}
}

static void test_regress(void **state)
{
	for (size_t i = 0; i < ARRAY_SIZE(regress_names); i++) {
		char conf[PATH_MAX], ok[PATH_MAX], shown[128];
		char *got, *want;

		snprintf(conf, sizeof(conf), "%s/%s.conf", regress_dir,
		    regress_names[i]);
		snprintf(ok, sizeof(ok), "%s/%s.ok", regress_dir,
		    regress_names[i]);
		snprintf(shown, sizeof(shown), "%s.conf", regress_names[i]);
		got = parse_result(conf, shown);
		want = read_all(ok);
		compare(regress_names[i], got, want);
		free(got);
		free(want);
	}
}

static void test_regress_all_listed(void **state)
{
	DIR *d = opendir(regress_dir);
	struct dirent *e;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL) {
		size_t len = strlen(e->d_name);
		bool listed = false;

		if (len < 5 || strcmp(e->d_name + len - 5, ".conf") != 0)
			continue;
		for (size_t i = 0; i < ARRAY_SIZE(regress_names); i++)
			if (strlen(regress_names[i]) == len - 5 &&
			    strncmp(regress_names[i], e->d_name, len - 5) == 0)
				listed = true;
		if (!listed)
			fail_msg("%s/%s is not in regress_names", regress_dir,
			    e->d_name);
	}
	closedir(d);
}

/* print(parse(print(x))) == print(x): the output is a valid config. */
static void test_roundtrip(void **state)
{
	static const char *const ok[] = { "default", "full", "guest", "syntax" };

	for (size_t i = 0; i < ARRAY_SIZE(ok); i++) {
		static struct xvd_config c1, c2;
		char conf[PATH_MAX], err[512];
		char *p1, *p2;

		snprintf(conf, sizeof(conf), "%s/%s.conf", regress_dir, ok[i]);
		assert_int_equal(config_parse_file(conf, &c1, err, sizeof(err)), 0);
		p1 = print_str(&c1);
		if (config_parse_string(p1, "printed", &c2, err, sizeof(err)) != 0)
			fail_msg("%s: printed config does not parse: %s", ok[i], err);
		p2 = print_str(&c2);
		compare(ok[i], p2, p1);
		/* Same effective settings for every guest device. */
		for (unsigned t = 0; t < c1.nr_types; t++) {
			for (uint32_t dom = 0; dom < 16; dom++) {
				struct config_dev_eff e1, e2;

				config_device(&c1, dom, devtab_at(t)->name, &e1);
				config_device(&c2, dom, devtab_at(t)->name, &e2);
				assert_string_equal(e1.socket, e2.socket);
				assert_int_equal(e1.mode, e2.mode);
				assert_int_equal(e1.memory, e2.memory);
			}
		}
		free(p1);
		free(p2);
	}
}

/* The shipped file is the defaults, spelled out. */
static void test_example_is_default(void **state)
{
	static struct xvd_config c;
	char ok[PATH_MAX], shown[] = "xen-vhostd.conf", *got, *want;

	got = parse_result(example_path, shown);
	snprintf(ok, sizeof(ok), "%s/default.ok", regress_dir);
	want = read_all(ok);
	compare(example_path, got, want);
	free(got);
	free(want);
	(void)c;
}

/*
 * Its examples ("#key" and "#[" lines) are valid: with the '#' removed
 * the file gives example.ok.
 */
static void test_example_enabled(void **state)
{
	static struct xvd_config c;
	char *text = read_all(example_path), *out, *got, *want, ok[PATH_MAX];
	char err[512];
	size_t o = 0;
	bool bol = true;

	out = malloc(strlen(text) + 1);
	assert_non_null(out);
	for (const char *s = text; *s != '\0'; s++) {
		if (bol && s[0] == '#' && s[1] != ' ' && s[1] != '\n' &&
		    s[1] != '\0' && s[1] != '#') {
			bol = false;
			continue;
		}
		bol = *s == '\n';
		out[o++] = *s;
	}
	out[o] = '\0';
	if (config_parse_string(out, "xen-vhostd.conf", &c, err,
	    sizeof(err)) != 0)
		fail_msg("examples do not parse: %s", err);
	got = print_str(&c);
	snprintf(ok, sizeof(ok), "%s/example.ok", regress_dir);
	want = read_all(ok);
	compare("examples enabled", got, want);
	free(got);
	free(want);
	free(out);
	free(text);
}

/* Every key is an item of the man page: ".It Ic KEY". */
static void test_keys_documented(void **state)
{
	char *man = read_all(man_path);

	for (size_t k = 0; config_keys[k] != NULL; k++) {
		char item[64];
		const char *s = man;
		bool found = false;

		snprintf(item, sizeof(item), "\n.It Ic %s", config_keys[k]);
		while ((s = strstr(s, item)) != NULL) {
			char next = s[strlen(item)];

			if (next == ' ' || next == '\n') {
				found = true;
				break;
			}
			s++;
		}
		if (!found)
			fail_msg("key '%s' has no '.It Ic %s' in %s", config_keys[k],
			    config_keys[k], man_path);
	}
	free(man);
}

/* Every key is printed: config_print() misses nothing the parser knows. */
static void test_keys_printed(void **state)
{
	static struct xvd_config c;
	char err[256], *out;

	/* A [vmsg] section: its keys are printed only when there is one. */
	assert_int_equal(config_parse_string("[vmsg a]\npath = /x\n"
	    "domain = 1\ndevices = blk\n", "t", &c, err, sizeof(err)), 0);
	out = print_str(&c);
	for (size_t k = 0; config_keys[k] != NULL; k++) {
		char line[64];

		snprintf(line, sizeof(line), "%s = ", config_keys[k]);
		if (strncmp(out, line, strlen(line)) != 0 &&
		    strstr(out, line) == NULL)
			fail_msg("key '%s' not printed", config_keys[k]);
	}
	free(out);
}

static void test_devtab_fits(void **state)
{
	static struct xvd_config c;

	assert_null(devtab_at(CONFIG_MAX_TYPES));
	config_defaults(&c);
	assert_non_null(devtab_at(c.nr_types - 1));
	assert_null(devtab_at(c.nr_types));
}

static void test_precedence(void **state)
{
	static struct xvd_config c;
	struct config_dev_eff e;
	char err[256];
	const char *text =
	    "mode = server\n"
	    "memory = xen-mmap\n"
	    "[device blk]\n"
	    "memory = shadow\n"
	    "socket = \"disk%n\"\n"
	    "[guest 9]\n"
	    "memory = auto\n"
	    "socket = \"g%d-%t-%n\"\n"
	    "[guest 9 blk]\n"
	    "mode = client\n"
	    "[guest 10 i2c]\n"
	    "socket = \"bus%%%n\"\n";

	assert_int_equal(config_parse_string(text, "t", &c, err, sizeof(err)),
	    0);
	/* global only */
	config_device(&c, 1, "i2c", &e);
	assert_string_equal(e.socket, "i2c.sock%n");
	assert_int_equal(e.mode, CONFIG_MODE_SERVER);
	assert_int_equal(e.memory, CONFIG_MEM_XEN_MMAP);
	/* type > global */
	config_device(&c, 1, "blk", &e);
	assert_string_equal(e.socket, "disk%n");
	assert_int_equal(e.memory, CONFIG_MEM_SHADOW);
	assert_int_equal(e.mode, CONFIG_MODE_SERVER);
	/* guest > type */
	config_device(&c, 9, "blk", &e);
	assert_string_equal(e.socket, "g%d-blk-%n");
	assert_int_equal(e.memory, CONFIG_MEM_AUTO);
	/* guest+type > guest */
	assert_int_equal(e.mode, CONFIG_MODE_CLIENT);
	config_device(&c, 9, "fs", &e);
	assert_string_equal(e.socket, "g%d-fs-%n");
	assert_int_equal(e.mode, CONFIG_MODE_SERVER);
	/* another guest's type section does not leak */
	config_device(&c, 9, "i2c", &e);
	assert_string_equal(e.socket, "g%d-i2c-%n");
	config_device(&c, 10, "i2c", &e);
	assert_string_equal(e.socket, "bus%%%n");
	config_device(&c, 10, "blk", &e);
	assert_string_equal(e.socket, "disk%n");
	/* unknown type: global and guest-wide only; names refuse it */
	config_device(&c, 1, "nope", &e);
	assert_string_equal(e.socket, "nope.sock%n");
	assert_int_equal(e.memory, CONFIG_MEM_XEN_MMAP);
	config_device(&c, 1, "a/b", &e);
	{
		char name[CONFIG_SOCKET_NAME_MAX];

		assert_int_equal(config_socket_name(e.socket, 0, 1, name,
		    sizeof(name)), -EINVAL);
	}
}

static void test_socket_name(void **state)
{
	char b[CONFIG_SOCKET_NAME_MAX];

	assert_int_equal(config_socket_name("blk.sock%n", 3, 7, b, sizeof(b)), 0);
	assert_string_equal(b, "blk.sock3");
	assert_int_equal(config_socket_name("d%d-%n%%", 0, 32751, b, sizeof(b)),
	    0);
	assert_string_equal(b, "d32751-0%");
	assert_int_equal(config_socket_name("x%n", UINT_MAX, 0, b, sizeof(b)), 0);
	assert_string_equal(b, "x4294967295");
	/* exactly fits, one too long */
	assert_int_equal(config_socket_name("ab%n", 5, 0, b, 4), 0);
	assert_string_equal(b, "ab5");
	assert_int_equal(config_socket_name("ab%n", 15, 0, b, 4), -ENAMETOOLONG);
	assert_int_equal(config_socket_name("abcd", 0, 0, b, 4), -ENAMETOOLONG);
	/* refused */
	assert_int_equal(config_socket_name("", 0, 0, b, sizeof(b)), -EINVAL);
	assert_int_equal(config_socket_name("a/b", 0, 0, b, sizeof(b)), -EINVAL);
	assert_int_equal(config_socket_name("/x", 0, 0, b, sizeof(b)), -EINVAL);
	assert_int_equal(config_socket_name("..", 0, 0, b, sizeof(b)), -EINVAL);
	assert_int_equal(config_socket_name("a..b", 0, 0, b, sizeof(b)),
	    -EINVAL);
	assert_int_equal(config_socket_name(".", 0, 0, b, sizeof(b)), -EINVAL);
	assert_int_equal(config_socket_name("%t.sock", 0, 0, b, sizeof(b)),
	    -EINVAL);
	assert_int_equal(config_socket_name("a%x", 0, 0, b, sizeof(b)), -EINVAL);
	assert_int_equal(config_socket_name("a%", 0, 0, b, sizeof(b)), -EINVAL);
	assert_int_equal(config_socket_name("a b", 0, 0, b, sizeof(b)), -EINVAL);
	assert_int_equal(config_socket_name("a\tb", 0, 0, b, sizeof(b)), -EINVAL);
	assert_int_equal(config_socket_name("a\xc3\xa9", 0, 0, b, sizeof(b)),
	    -EINVAL);
	/* a bad byte after a too-long prefix is still -EINVAL */
	assert_int_equal(config_socket_name("abcdefgh/", 0, 0, b, 4), -EINVAL);
	/* ".%n" is a hidden file, not "." */
	assert_int_equal(config_socket_name(".%n", 0, 0, b, sizeof(b)), 0);
	assert_string_equal(b, ".0");
	assert_int_equal(config_socket_name(NULL, 0, 0, b, sizeof(b)), -EINVAL);
	assert_int_equal(config_socket_name("a", 0, 0, b, 0), -EINVAL);
}

/* A failed parse leaves *out alone (a reload keeps the running config). */
static void test_error_keeps_out(void **state)
{
	static struct xvd_config c, before;
	char err[256];

	assert_int_equal(config_parse_string("log-level = debug\n", "a", &c, err,
	    sizeof(err)), 0);
	memcpy(&before, &c, sizeof(c));
	assert_int_equal(config_parse_string("log-level = warn\nfoo = 1\n", "b",
	    &c, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "b:2: unknown key 'foo'");
	assert_memory_equal(&c, &before, sizeof(c));
	/* a short error buffer is truncated, still terminated */
	assert_int_equal(config_parse_string("foo = 1\n", "b", &c, err, 5),
	    -EINVAL);
	assert_string_equal(err, "b:1:");
	assert_int_equal(config_parse_string("foo = 1\n", "b", &c, NULL, 0),
	    -EINVAL);
}

static void test_file_errors(void **state)
{
	static struct xvd_config c;
	char err[256], path[] = "/tmp/test_config.XXXXXX";
	int fd;

	assert_int_equal(config_parse_file("/nonexistent/xen-vhostd.conf", &c,
	    err, sizeof(err)), -ENOENT);
	assert_string_equal(err,
	    "/nonexistent/xen-vhostd.conf: No such file or directory");
	assert_int_equal(config_parse_file("/", &c, err, sizeof(err)), -EISDIR);

	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "mode = client\n\nmo\0de = x\n", 25), 25);
	close(fd);
	assert_int_equal(config_parse_file(path, &c, err, sizeof(err)), -EINVAL);
	assert_true(strncmp(err, path, strlen(path)) == 0);
	assert_string_equal(err + strlen(path), ":3: syntax error: NUL byte");

	/* larger than 1 MiB */
	{
		FILE *f = fopen(path, "w");

		assert_non_null(f);
		for (unsigned i = 0; i < (1u << 20) / 16 + 1; i++)
			fputs("# padding line\n\n", f);
		fclose(f);
	}
	assert_int_equal(config_parse_file(path, &c, err, sizeof(err)), -EFBIG);
	unlink(path);
}

static void test_limits(void **state)
{
	static struct xvd_config c;
	char err[256], *text, *s;
	size_t cap = (CONFIG_MAX_GUESTS + 1) * 32;

	/* CONFIG_MAX_GUESTS guests, in reverse order: kept sorted */
	text = malloc(cap);
	assert_non_null(text);
	s = text;
	for (unsigned i = CONFIG_MAX_GUESTS; i > 0; i--)
		s += sprintf(s, "[guest %u]\nmemory = shadow\n", i * 10);
	assert_int_equal(config_parse_string(text, "g", &c, err, sizeof(err)), 0);
	assert_int_equal(c.nr_guests, CONFIG_MAX_GUESTS);
	for (unsigned i = 0; i < c.nr_guests; i++)
		assert_int_equal(c.guest[i].domid, (i + 1) * 10);
	sprintf(s, "[guest 1]\n");
	assert_int_equal(config_parse_string(text, "g", &c, err, sizeof(err)),
	    -EINVAL);
	assert_string_equal(err, "g:129: guest 1 out of range: at most 64 guests"
	    " have sections");
	free(text);

	/* a line of 1024 bytes is fine, 1025 is not */
	text = malloc(2048);
	assert_non_null(text);
	memset(text, ' ', 1025);
	memcpy(text + 1024 - 13, "memory = auto", 13);
	text[1024] = '\0';
	assert_int_equal(config_parse_string(text, "l", &c, err, sizeof(err)), 0);
	text[1024] = ' ';
	text[1025] = '\0';
	assert_int_equal(config_parse_string(text, "l", &c, err, sizeof(err)),
	    -EINVAL);
	assert_string_equal(err, "l:1: syntax error: line longer than 1024 bytes");
	free(text);

	/* control characters */
	assert_int_equal(config_parse_string("memory = au\x01to\n", "c", &c, err,
	    sizeof(err)), -EINVAL);
	assert_string_equal(err, "c:1: syntax error: control character 0x01");
	/* domain 0 and the highest ordinary domain id */
	assert_int_equal(config_parse_string("[guest 0]\n[guest 32751]\n", "d",
	    &c, err, sizeof(err)), 0);
	/* no final newline */
	assert_int_equal(config_parse_string("log-level = err", "n", &c, err,
	    sizeof(err)), 0);
	assert_int_equal(c.log_level, CONFIG_LOG_ERR);
}

static void test_names(void **state)
{
	assert_string_equal(config_mem_name(CONFIG_MEM_XEN_MMAP), "xen-mmap");
	assert_string_equal(config_mode_name(CONFIG_MODE_SERVER), "server");
	assert_string_equal(config_log_level_name(CONFIG_LOG_DEBUG), "debug");
	assert_string_equal(config_mem_name((enum config_mem)99), "?");
}

static const char *arg_or_env(int argc, char **argv, int i, const char *env)
{
	if (argc > i)
		return argv[i];
	return getenv(env);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_regress),
		cmocka_unit_test(test_regress_all_listed),
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_example_is_default),
		cmocka_unit_test(test_example_enabled),
		cmocka_unit_test(test_keys_documented),
		cmocka_unit_test(test_keys_printed),
		cmocka_unit_test(test_devtab_fits),
		cmocka_unit_test(test_precedence),
		cmocka_unit_test(test_socket_name),
		cmocka_unit_test(test_error_keeps_out),
		cmocka_unit_test(test_file_errors),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_names),
	};

	regress_dir = arg_or_env(argc, argv, 1, "XVD_REGRESS_DIR");
	man_path = arg_or_env(argc, argv, 2, "XVD_CONF_MAN");
	example_path = arg_or_env(argc, argv, 3, "XVD_EXAMPLE_CONF");
	if (regress_dir == NULL || man_path == NULL || example_path == NULL) {
		fprintf(stderr, "usage: %s REGRESS_DIR MAN_PAGE EXAMPLE_CONF\n"
		    "(or XVD_REGRESS_DIR, XVD_CONF_MAN, XVD_EXAMPLE_CONF)\n",
		    argv[0]);
		return 2;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
