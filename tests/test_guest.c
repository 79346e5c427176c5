/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * guest.c against a fake hv_dom: a guest without IOREQ server (virtio-msg
 * only) maps guest RAM, refuses MMIO devices until guest_start_ioreq(),
 * and a failed server setup is not retried.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "device.h"
#include "guest.h"
#include "hv/hv.h"

static unsigned nr_map_memory, nr_ioreq_create, nr_enable, nr_destroy;
static int ioreq_create_rc;

static int fake_ioreq_create(struct hv_dom *d)
{
	nr_ioreq_create++;
	return ioreq_create_rc;
}

static int fake_enable(struct hv_dom *d)
{
	nr_enable++;
	return 0;
}

static unsigned fake_nr_event_fds(const struct hv_dom *d)
{
	return 0;	/* no event loop needed */
}

static int fake_map_memory(struct hv_dom *d)
{
	nr_map_memory++;
	return 0;
}

static void fake_destroy(struct hv_dom *d)
{
	nr_destroy++;
	free(d);
}

static const struct hv_ops fake_ops = {
	.name = "fake",
	.ioreq_create = fake_ioreq_create,
	.enable = fake_enable,
	.nr_event_fds = fake_nr_event_fds,
	.map_memory = fake_map_memory,
	.destroy = fake_destroy,
};

static struct hv_dom *fake_dom(void)
{
	struct hv_dom *hv = calloc(1, sizeof(*hv));

	assert_non_null(hv);
	hv->ops = &fake_ops;
	hv->domid = 3;
	hv->nr_vcpus = 1;
	hv->adopt_ioservid = -1;
	return hv;
}

static int setup(void **state)
{
	nr_map_memory = nr_ioreq_create = nr_enable = nr_destroy = 0;
	ioreq_create_rc = 0;
	return 0;
}

static void test_mem_only(void **state)
{
	struct xvd_device_cfg cfg;
	struct xvd_guest *g;
	struct xvd_device *dev = NULL;

	assert_int_equal(guest_create_mem(fake_dom(), &g), 0);
	assert_int_equal(nr_map_memory, 1);
	assert_int_equal(nr_ioreq_create, 0);
	assert_false(guest_has_ioreq(g));
	memset(&cfg, 0, sizeof(cfg));
	cfg.base = 0x2000000;
	assert_int_equal(guest_add_device(g, &cfg, &dev), -EINVAL);
	assert_null(dev);
	assert_int_equal(guest_nr_devices(g), 0);

	assert_int_equal(guest_start_ioreq(g), 0);
	assert_true(guest_has_ioreq(g));
	assert_int_equal(nr_ioreq_create, 1);
	assert_int_equal(nr_enable, 1);
	assert_int_equal(guest_start_ioreq(g), 0);	/* already up */
	assert_int_equal(nr_ioreq_create, 1);
	guest_destroy(g);
	assert_int_equal(nr_destroy, 1);
}

static void test_full(void **state)
{
	struct xvd_guest *g;

	assert_int_equal(guest_create(fake_dom(), &g), 0);
	assert_true(guest_has_ioreq(g));
	assert_int_equal(nr_map_memory, 1);
	assert_int_equal(nr_ioreq_create, 1);
	guest_destroy(g);
	assert_int_equal(nr_destroy, 1);
}

static void test_ioreq_fails(void **state)
{
	struct xvd_guest *g;

	ioreq_create_rc = -EBUSY;
	assert_int_equal(guest_create(fake_dom(), &g), -EBUSY);
	assert_int_equal(nr_destroy, 1);

	assert_int_equal(guest_create_mem(fake_dom(), &g), 0);
	assert_int_equal(guest_start_ioreq(g), -EBUSY);
	ioreq_create_rc = 0;
	assert_int_equal(guest_start_ioreq(g), -EBUSY);	/* not retried */
	assert_int_equal(nr_ioreq_create, 2);
	assert_false(guest_has_ioreq(g));
	guest_destroy(g);
	assert_int_equal(nr_destroy, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_mem_only, setup),
		cmocka_unit_test_setup(test_full, setup),
		cmocka_unit_test_setup(test_ioreq_fails, setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
