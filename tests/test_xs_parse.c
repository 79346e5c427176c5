/* SPDX-License-Identifier: GPL-2.0-or-later */
/* xenstore values of both layouts, and malformed ones. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "devtab.h"
#include "xs_parse.h"

/* What libxl 4.17 writes for `specification=virtio` disks. */
static const struct xs_dev_raw disk417 = {
	.type = "standalone", .specification = "virtio", .transport = "mmio",
	.base = "33554432", .irq = "33", .frontend_id = "1", .state = "1",
};

/* What libxl 4.18+ writes for `virtio = [ "type=virtio,device22, ..." ]`. */
static const struct xs_dev_raw virtio418 = {
	.type = "virtio,device22", .transport = "mmio", .base = "0x2000200",
	.irq = "34", .grant_usage = "1", .frontend_id = "3", .state = "1",
};

static void test_disk_417(void **state)
{
	struct xs_dev d;
	const char *why = NULL;

	assert_int_equal(xs_dev_parse(XS_LAYOUT_DISK, 1, &disk417, &d, &why), 0);
	assert_string_equal(d.dt->name, "blk");
	assert_int_equal(d.base, 0x2000000);
	assert_int_equal(d.irq, 33);
	assert_int_equal(d.frontend_id, 1);
	assert_false(d.grant_usage);
	assert_int_equal(d.state, XS_STATE_INITIALISING);
}

static void test_virtio_418(void **state)
{
	struct xs_dev d;
	const char *why = NULL;

	assert_int_equal(xs_dev_parse(XS_LAYOUT_VIRTIO, 3, &virtio418, &d, &why),
	    0);
	assert_string_equal(d.dt->name, "i2c");
	assert_int_equal(d.base, 0x2000200);
	assert_int_equal(d.irq, 34);
	assert_true(d.grant_usage);
}

static void test_disk_without_transport(void **state)
{
	struct xs_dev_raw r = disk417;
	struct xs_dev d;
	const char *why;

	r.transport = NULL;
	assert_int_equal(xs_dev_parse(XS_LAYOUT_DISK, 1, &r, &d, &why), 0);
	/* ...but the generic layout needs transport=mmio explicitly. */
	struct xs_dev_raw v = virtio418;
	v.transport = NULL;
	assert_int_equal(xs_dev_parse(XS_LAYOUT_VIRTIO, 3, &v, &d, &why),
	    -ENODEV);
}

static void test_not_served(void **state)
{
	struct xs_dev_raw r;
	struct xs_dev d;
	const char *why = NULL;

	r = disk417;
	r.specification = "xen";
	assert_int_equal(xs_dev_parse(XS_LAYOUT_DISK, 1, &r, &d, &why), -ENODEV);
	assert_non_null(why);
	r = virtio418;
	r.type = "virtio,device7f";
	assert_int_equal(xs_dev_parse(XS_LAYOUT_VIRTIO, 3, &r, &d, &why),
	    -ENODEV);
	r = virtio418;
	r.transport = "pci";
	assert_int_equal(xs_dev_parse(XS_LAYOUT_VIRTIO, 3, &r, &d, &why),
	    -ENODEV);
}

struct bad_case {
	const char *key;
	const char *value;
	const char *why;
};

static void set_key(struct xs_dev_raw *r, const char *key, const char *v)
{
	if (strcmp(key, "base") == 0)
		r->base = v;
	else if (strcmp(key, "irq") == 0)
		r->irq = v;
	else if (strcmp(key, "state") == 0)
		r->state = v;
	else if (strcmp(key, "grant_usage") == 0)
		r->grant_usage = v;
	else if (strcmp(key, "frontend-id") == 0)
		r->frontend_id = v;
	else if (strcmp(key, "type") == 0)
		r->type = v;
}

static void test_malformed(void **state)
{
	static const struct bad_case cases[] = {
		{ "base", NULL, "bad 'base'" },
		{ "base", "", "bad 'base'" },
		{ "base", "0", "bad 'base'" },
		{ "base", "-33554432", "bad 'base'" },
		{ "base", " 33554432", "bad 'base'" },
		{ "base", "33554432x", "bad 'base'" },
		{ "base", "0x2000100", "bad 'base'" },		/* not 0x200 aligned */
		{ "base", "0xfffffffffffffe00", "bad 'base'" },	/* window wraps */
		{ "base", "99999999999999999999999", "bad 'base'" },
		{ "irq", NULL, "bad 'irq'" },
		{ "irq", "31", "bad 'irq'" },
		{ "irq", "1020", "bad 'irq'" },
		{ "irq", "0x21", "bad 'irq'" },
		{ "irq", "33 ", "bad 'irq'" },
		{ "state", NULL, "bad 'state'" },
		{ "state", "7", "bad 'state'" },
		{ "state", "one", "bad 'state'" },
		{ "grant_usage", "yes", "bad 'grant_usage'" },
		{ "grant_usage", "2", "bad 'grant_usage'" },
		{ "frontend-id", "2", "bad 'frontend-id'" },	/* not this domain */
		{ "frontend-id", "-1", "bad 'frontend-id'" },
		{ "frontend-id", "40000", "bad 'frontend-id'" },
		{ "type", NULL, "no 'type' key" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct xs_dev_raw r = virtio418;
		struct xs_dev d;
		const char *why = NULL;

		set_key(&r, cases[i].key, cases[i].value);
		assert_int_equal(xs_dev_parse(XS_LAYOUT_VIRTIO, 3, &r, &d, &why),
		    -EINVAL);
		assert_non_null(why);
		assert_string_equal(why, cases[i].why);
	}
}

static void test_numbers(void **state)
{
	uint64_t v;
	uint32_t id;
	enum xs_state st;

	assert_int_equal(xs_parse_u64("0x2000000", 0, &v), 0);
	assert_int_equal(v, 0x2000000);
	assert_int_equal(xs_parse_u64("33554432", 0, &v), 0);
	assert_int_equal(v, 33554432);
	assert_int_equal(xs_parse_u64("18446744073709551615", 10, &v), 0);
	assert_int_equal(xs_parse_u64("18446744073709551616", 10, &v), -EINVAL);
	assert_int_equal(xs_parse_u64("+1", 10, &v), -EINVAL);
	assert_int_equal(xs_parse_u64(NULL, 10, &v), -EINVAL);
	assert_int_equal(xs_parse_id("51712", 0xffffff, &id), 0);
	assert_int_equal(id, 51712);
	assert_int_equal(xs_parse_id("32752", 0x7fef, &id), -EINVAL);
	assert_int_equal(xs_parse_id("1a", 0x7fef, &id), -EINVAL);
	assert_int_equal(xs_parse_state("5", &st), 0);
	assert_int_equal(st, XS_STATE_CLOSING);
}

/* The restart record: what is formatted parses back the same. */
static void test_restore_roundtrip(void **state)
{
	struct xs_restore r, back;
	char buf[XS_RESTORE_LEN_MAX];
	const char *why = NULL;
	int n;

	/* Padding zeroed too: the comparisons below are of whole structs. */
	memset(&r, 0, sizeof(r));
	r.slot = 63;
	r.ioservid = 7;
	r.status = 0xf;
	r.features = UINT64_C(0x130007e46);
	r.ready = 0x8001;

	r.q[0].num = 256;
	r.q[0].desc = UINT64_C(0x44e10000);
	r.q[0].avail = UINT64_C(0x44e11000);
	r.q[0].used = UINT64_C(0x44e11240);
	r.q[15].num = 32768;
	r.q[15].desc = UINT64_C(0xfffffffffffffff0);
	r.q[15].avail = UINT64_C(0xfffffffffffffffe);
	r.q[15].used = UINT64_C(0xfffffffffffffffc);
	n = xs_restore_format(&r, buf, sizeof(buf));
	assert_true(n > 0);
	assert_int_equal(xs_restore_parse(buf, &back, &why), 0);
	assert_memory_equal(&r, &back, sizeof(r));
	/* Every queue ready, longest addresses: still fits the bound. */
	for (unsigned i = 0; i < XS_RESTORE_MAX_QUEUES; i++)
		r.q[i] = r.q[15];
	r.ready = 0xffff;
	r.features = UINT64_MAX;
	n = xs_restore_format(&r, buf, sizeof(buf));
	assert_true(n > 0 && (size_t)n < XS_RESTORE_LEN_MAX);
	assert_int_equal(xs_restore_parse(buf, &back, &why), 0);
	assert_memory_equal(&r, &back, sizeof(r));
	assert_int_equal(xs_restore_format(&r, buf, 40), -ENOSPC);
	/* Status 0: no queues. */
	assert_int_equal(xs_restore_parse("v1 slot=0 ioserv=0 status=0 "
	    "features=0", &back, &why), 0);
	assert_int_equal(back.ready, 0);
}

static void test_restore_malformed(void **state)
{
	static const char *const bad[] = {
		"", "v1", "v2 slot=0 ioserv=0 status=0 features=0",
		"v1 slot=0 ioserv=0 status=0",
		"v1 slot=0 ioserv=0 status=0 features=0 extra",
		"v1 slot=-1 ioserv=0 status=0 features=0",
		"v1 slot=64 ioserv=0 status=0 features=0",
		"v1 slot=0 ioserv=65536 status=0 features=0",
		"v1 slot=0 ioserv=0 status=256 features=0",
		"v1 slot=0 ioserv=0 status=0 features=0x1ffffffffffffffff",
		"v1 slot=0 ioserv=0 ioserv=0 status=0 features=0",
		"v1 slot=0 ioserv=0 status=0 features=0 q0=0,0,0,0",
		"v1 slot=0 ioserv=0 status=0 features=0 q0=3,0,0,0",
		"v1 slot=0 ioserv=0 status=0 features=0 q0=65536,0,0,0",
		"v1 slot=0 ioserv=0 status=0 features=0 q0=8,0x8,0,0",
		"v1 slot=0 ioserv=0 status=0 features=0 q0=8,0,0x1,0",
		"v1 slot=0 ioserv=0 status=0 features=0 q0=8,0,0,0x2",
		"v1 slot=0 ioserv=0 status=0 features=0 q0=8,0,0",
		"v1 slot=0 ioserv=0 status=0 features=0 q0=8,0,0,0,0",
		"v1 slot=0 ioserv=0 status=0 features=0 q0=8,,0,0",
		"v1 slot=0 ioserv=0 status=0 features=0 q0=8,0,0,0 q0=8,0,0,0",
		"v1 slot=0 ioserv=0 status=0 features=0 q16=8,0,0,0",
		"v1 slot=0 ioserv=0 status=0 features=0 q=8,0,0,0",
		"v1 slot=0 ioserv=0 status=0 features=0 qx=8,0,0,0",
		"v1 slot= ioserv=0 status=0 features=0",
		"v1 slot=0 ioserv=0 status=0 features=0 nokey",
	};
	struct xs_restore r;

	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *why = NULL;

		if (xs_restore_parse(bad[i], &r, &why) == 0)
			fail_msg("accepted: '%s'", bad[i]);
		assert_non_null(why);
	}
	assert_int_equal(xs_restore_parse(NULL, &r, &(const char *){ NULL }),
	    -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_disk_417),
		cmocka_unit_test(test_virtio_418),
		cmocka_unit_test(test_disk_without_transport),
		cmocka_unit_test(test_not_served),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_numbers),
		cmocka_unit_test(test_restore_roundtrip),
		cmocka_unit_test(test_restore_malformed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
