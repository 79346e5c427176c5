/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * slots: the N of <type>.sock<N>. A live guest device holds its number; a
 * removed one gives it back, so a rebooted guest finds the same socket.
 */
#ifndef XVD_SLOTS_H
#define XVD_SLOTS_H

struct devtab_entry;

/* The lowest number of @dt not in use; -ENOSPC when all are. */
int slot_take(const struct devtab_entry *dt, unsigned *slot);
/* Take number @slot of @dt (daemon restart); -EBUSY when in use. */
int slot_claim(const struct devtab_entry *dt, unsigned slot);
void slot_put(const struct devtab_entry *dt, unsigned slot);

#endif
