/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * sg_fs: a virtio-fs driver on sg_virtio (virtio 1.2, 5.11), FUSE over a
 * virtqueue the way Linux's fs/fuse/virtio_fs.c sends it.
 *
 * Queue 0 is hiprio (FORGET, no reply), queue 1 the one request queue. A
 * request is one chain: device-readable fuse_in_header, the op struct (and
 * name), the payload; then device-writable fuse_out_header, the reply
 * struct, the data. One request in flight at a time: every call waits for
 * its answer and checks it before returning.
 *
 * Every reply is checked: used length >= fuse_out_header, out.len equal to
 * the used length, unique echoed, error 0 or a negative errno and then a
 * bare header, reply size as the op defines it.
 *
 * Server errors: the op helpers take an optional int32_t *ferr. With it, a
 * FUSE error (negative errno from the server) is stored there and the call
 * returns 0; without it, a FUSE error is a failure: printed and returned.
 * Transport and protocol faults are always printed and returned.
 */
#ifndef SG_FS_H
#define SG_FS_H

#include <stdbool.h>
#include <stdint.h>

#include <linux/fuse.h>
#include <linux/virtio_fs.h>

#include "sg_virtio.h"

#define SG_FS_HIPRIO_QUEUE	0u
#define SG_FS_REQUEST_QUEUE	1u
#define SG_FS_TAG_LEN		36u
/* Why 10 s: virtiofsd on a loaded CI machine, with margin. */
#define SG_FS_TIMEOUT_MS	10000
/* Why 255: NAME_MAX; longer names are refused before sending. */
#define SG_FS_NAME_MAX		255u

struct sg_fs_opts {
	unsigned queue_num;	/* 0: default (sg_virtio) */
	bool indirect;		/* negotiate and use INDIRECT_DESC */
	bool event_idx;		/* negotiate EVENT_IDX */
};

struct sg_fs {
	struct sg_vdev vd;
	struct sg_vq *hiprio;
	struct sg_vq *req;
	char tag[SG_FS_TAG_LEN + 1];	/* NUL-terminated copy of config.tag */
	uint32_t nr_request_queues;	/* config, as read */
	uint64_t unique;		/* last unique sent */
	bool initialised;		/* FUSE_INIT answered */
	struct fuse_init_out init;	/* the server's INIT reply */
	/* Scratch in guest RAM: headers and op structs of one request. */
	uint8_t *out_page;		/* device-readable */
	uint64_t out_gpa;
	uint8_t *in_page;		/* device-writable */
	uint64_t in_gpa;
	uint64_t nr_requests;
	uint64_t nr_forgets;
};

/*
 * sg_fs_open - probe virtio-fs (id 26) dev @dev at @base, negotiate
 * VERSION_1 (+ INDIRECT_DESC, EVENT_IDX when asked), read the config,
 * set up the hiprio and the request queue, DRIVER_OK.
 */
int sg_fs_open(struct sg_fs *fs, struct sg_sim *sim, unsigned dev,
    uint64_t base, const struct sg_fs_opts *opts);
/* Reset the device (Status 0, read back 0) and free host memory. */
int sg_fs_close(struct sg_fs *fs);
bool sg_fs_has(const struct sg_fs *fs, unsigned feature_bit);

/* One FUSE request, described by the caller. */
struct sg_fs_req {
	uint32_t opcode;
	uint64_t nodeid;
	const void *arg;	/* op struct, copied to guest RAM */
	uint32_t arg_len;
	const char *name;	/* NUL-terminated name after arg, or NULL */
	uint64_t data_gpa;	/* payload in guest RAM (WRITE), or 0 */
	uint32_t data_len;
	void *reply;		/* reply struct, copied from guest RAM */
	uint32_t reply_len;
	uint64_t rdata_gpa;	/* data in guest RAM (READ), or 0 */
	uint32_t rdata_len;
};

/* What came back. */
struct sg_fs_res {
	int32_t error;		/* 0 or negative errno from the server */
	uint32_t out_len;	/* bytes after fuse_out_header */
	uint32_t used_len;	/* as the device reported */
};

/*
 * sg_fs_call - send @r on the request queue and wait for the answer. 0:
 * answered (res->error may be non-zero); negative: transport or protocol
 * fault (bad used entry, header mismatch, timeout), printed.
 */
int sg_fs_call(struct sg_fs *fs, const struct sg_fs_req *r,
    struct sg_fs_res *res);

/* FUSE_INIT, version 7.FUSE_KERNEL_MINOR_VERSION; reply in fs->init. */
int sg_fs_init(struct sg_fs *fs, uint32_t max_readahead, uint32_t flags);
int sg_fs_lookup(struct sg_fs *fs, uint64_t parent, const char *name,
    struct fuse_entry_out *e, int32_t *ferr);
int sg_fs_create(struct sg_fs *fs, uint64_t parent, const char *name,
    uint32_t flags, uint32_t mode, struct fuse_entry_out *e,
    struct fuse_open_out *o, int32_t *ferr);
int sg_fs_mkdir(struct sg_fs *fs, uint64_t parent, const char *name,
    uint32_t mode, struct fuse_entry_out *e, int32_t *ferr);
/* Sets *written to what the server says it wrote. */
int sg_fs_write(struct sg_fs *fs, uint64_t nodeid, uint64_t fh,
    uint64_t off, uint64_t gpa, uint32_t len, uint32_t *written,
    int32_t *ferr);
/* Sets *got to the data bytes returned (short at end of file). */
int sg_fs_read(struct sg_fs *fs, uint64_t nodeid, uint64_t fh, uint64_t off,
    uint64_t gpa, uint32_t len, uint32_t *got, int32_t *ferr);
int sg_fs_flush(struct sg_fs *fs, uint64_t nodeid, uint64_t fh,
    int32_t *ferr);
int sg_fs_fsync(struct sg_fs *fs, uint64_t nodeid, uint64_t fh,
    bool datasync, int32_t *ferr);
/* With FUSE_GETATTR_FH when @fh is not ~0. */
int sg_fs_getattr(struct sg_fs *fs, uint64_t nodeid, uint64_t fh,
    struct fuse_attr_out *a, int32_t *ferr);
int sg_fs_release(struct sg_fs *fs, uint64_t nodeid, uint64_t fh,
    uint32_t flags, int32_t *ferr);
int sg_fs_destroy(struct sg_fs *fs, int32_t *ferr);
/*
 * sg_fs_forget - FUSE_FORGET on the hiprio queue. No reply: the device
 * returns the chain with used length 0.
 */
int sg_fs_forget(struct sg_fs *fs, uint64_t nodeid, uint64_t nlookup);

/* "LOOKUP" etc. for messages. */
const char *sg_fs_opname(uint32_t opcode);

#endif
