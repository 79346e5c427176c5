/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vhu_client: one vhost-user front-end connection to a back-end socket.
 *
 * Requests are synchronous: send, then wait (bounded by the timeout given at
 * connect) for the reply, which vhu_check_reply() validates exactly. Any
 * protocol error marks the connection broken: every later call fails with
 * -EPIPE without touching the socket, and the owner drops the back-end.
 * Received fds are closed on every error path. Knows nothing of MMIO or Xen.
 */
#ifndef XVD_VHU_CLIENT_H
#define XVD_VHU_CLIENT_H

#include <stdbool.h>
#include <stdint.h>

#include "vhost/vhu_msg.h"

struct vhu_client;

/*
 * vhu_client_connect - connect to the Unix socket @path (client mode),
 * retrying every 100 ms until @timeout_ms has passed (0: try once).
 * @reply_timeout_ms bounds every later wait for a reply.
 * @name names the device in log lines ("dom3 blk0").
 */
int vhu_client_connect(const char *path, const char *name, int timeout_ms,
    int reply_timeout_ms, struct vhu_client **out);
/* Wrap an already connected socket (tests: socketpair). Takes ownership. */
int vhu_client_from_fd(int fd, const char *name, int reply_timeout_ms,
    struct vhu_client **out);
void vhu_client_close(struct vhu_client *c);

/* The socket, for the owner to watch for hang-up. */
int vhu_client_fd(const struct vhu_client *c);
bool vhu_client_broken(const struct vhu_client *c);
const char *vhu_client_name(const struct vhu_client *c);

/*
 * Protocol features in effect (after vhu_set_protocol_features); REPLY_ACK in
 * them makes every request without a natural reply carry NEED_REPLY.
 */
uint64_t vhu_client_protocol_features(const struct vhu_client *c);

int vhu_get_features(struct vhu_client *c, uint64_t *features);
int vhu_set_features(struct vhu_client *c, uint64_t features);
int vhu_get_protocol_features(struct vhu_client *c, uint64_t *features);
int vhu_set_protocol_features(struct vhu_client *c, uint64_t features);
int vhu_set_owner(struct vhu_client *c);
int vhu_get_queue_num(struct vhu_client *c, uint64_t *nr);
/* @fds[i] is the fd of region @r[i]; fds are not consumed. */
int vhu_set_mem_table(struct vhu_client *c, const struct vhu_mem_region *r,
    const int *fds, unsigned nr);
int vhu_set_vring_num(struct vhu_client *c, uint32_t index, uint32_t num);
int vhu_set_vring_addr(struct vhu_client *c, const struct vhu_vring_addr *a);
int vhu_set_vring_base(struct vhu_client *c, uint32_t index, uint32_t base);
int vhu_get_vring_base(struct vhu_client *c, uint32_t index, uint32_t *base);
/* @fd < 0 sends the no-fd flag. fds are not consumed. */
int vhu_set_vring_kick(struct vhu_client *c, uint32_t index, int fd);
int vhu_set_vring_call(struct vhu_client *c, uint32_t index, int fd);
int vhu_set_vring_err(struct vhu_client *c, uint32_t index, int fd);
int vhu_set_vring_enable(struct vhu_client *c, uint32_t index, bool enable);
int vhu_get_config(struct vhu_client *c, uint32_t offset, uint32_t size,
    void *buf);
int vhu_set_config(struct vhu_client *c, uint32_t offset, uint32_t size,
    const void *buf);
int vhu_reset_device(struct vhu_client *c);
/* Returns the received fd in *fd (caller owns it). */
int vhu_get_inflight_fd(struct vhu_client *c, uint16_t num_queues,
    uint16_t queue_size, struct vhu_inflight *out, int *fd);
int vhu_set_inflight_fd(struct vhu_client *c, const struct vhu_inflight *in,
    int fd);

#endif
