/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * devtab: the devices xen-vhostd serves, as data. A new device is a new row.
 */
#ifndef XVD_DEVTAB_H
#define XVD_DEVTAB_H

#include <stdint.h>

struct devtab_entry {
	uint32_t virtio_id;
	const char *name;	/* socket names: <name>.sock<N> */
	const char *compatible;	/* xenstore type / DT: virtio,device<hex id> */
	uint32_t nr_queues;	/* default queue count */
	uint32_t queue_max;	/* QueueNumMax offered to the guest */
	uint32_t config_len;	/* config space bytes asked of the back-end */
};

const struct devtab_entry *devtab_by_id(uint32_t virtio_id);
const struct devtab_entry *devtab_by_name(const char *name);
/* Accepts "virtio,device<hex>" as libxl writes it. */
const struct devtab_entry *devtab_by_compatible(const char *compatible);
/* Iteration: NULL past the end. */
const struct devtab_entry *devtab_at(unsigned i);

#endif
