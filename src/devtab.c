/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <string.h>

#include "devtab.h"
#include "util.h"

/*
 * Queue counts are the spec's base queues (no multiqueue); config_len is the
 * virtio 1.2 config layout size that common back-ends answer GET_CONFIG for
 * (blk: 60 bytes, what QEMU 7.2's vhost-user-blk export accepts).
 */
static const struct devtab_entry devtab[] = {
	{ 1,  "net",     "virtio,device1",  2, 1024, 12 },
	{ 2,  "blk",     "virtio,device2",  1, 1024, 60 },
	{ 3,  "console", "virtio,device3",  2,  256, 12 },
	{ 4,  "rng",     "virtio,device4",  1,  256,  0 },
	{ 16, "gpu",     "virtio,device10", 2,  256, 16 },
	{ 18, "input",   "virtio,device12", 2,  256, 136 },
	{ 19, "vsock",   "virtio,device13", 3,  256,  8 },
	{ 25, "sound",   "virtio,device19", 4,  256, 16 },
	{ 26, "fs",      "virtio,device1a", 2, 1024, 40 },
	{ 32, "scmi",    "virtio,device20", 2,  256,  0 },
	{ 34, "i2c",     "virtio,device22", 1,  256,  0 },
	{ 36, "can",     "virtio,device24", 3,  256,  2 },
	{ 41, "gpio",    "virtio,device29", 2,  256,  8 },
	{ 45, "spi",     "virtio,device2d", 1,  256, 12 },
};

const struct devtab_entry *devtab_at(unsigned i)
{
	return i < ARRAY_SIZE(devtab) ? &devtab[i] : NULL;
}

const struct devtab_entry *devtab_by_id(uint32_t virtio_id)
{
	for (size_t i = 0; i < ARRAY_SIZE(devtab); i++)
		if (devtab[i].virtio_id == virtio_id)
			return &devtab[i];
	return NULL;
}

const struct devtab_entry *devtab_by_name(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(devtab); i++)
		if (strcmp(devtab[i].name, name) == 0)
			return &devtab[i];
	return NULL;
}

const struct devtab_entry *devtab_by_compatible(const char *compatible)
{
	for (size_t i = 0; i < ARRAY_SIZE(devtab); i++)
		if (strcasecmp(devtab[i].compatible, compatible) == 0)
			return &devtab[i];
	return NULL;
}
