/* SPDX-License-Identifier: GPL-2.0-or-later */
/* virtio-fs: FUSE requests over sg_virtio (virtio 1.2, 5.11). */
#include <endian.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_ring.h>

#include "sg_fs.h"
#include "sg_log.h"

/* Op structs and names start here in the out page, replies in the in page. */
#define SG_FS_BODY_OFF		64u
/* Linux's FUSE_REQ_ID_STEP: the low bit of unique marks interrupts. */
#define SG_FS_UNIQUE_STEP	2u
/* Linux refuses out.error <= -512 (kernel-internal codes) or > 0. */
#define SG_FS_ERROR_MIN		(-511)
/* What a header the device never wrote looks like. */
#define SG_FS_POISON		0xa5u

_Static_assert(sizeof(struct fuse_in_header) == 40, "fuse_in_header");
_Static_assert(sizeof(struct fuse_out_header) == 16, "fuse_out_header");
_Static_assert(sizeof(struct virtio_fs_config) == 40, "virtio_fs_config");
_Static_assert(SG_FS_BODY_OFF + sizeof(struct fuse_create_in) +
    SG_FS_NAME_MAX + 1 <= SG_PAGE_SIZE, "out page");

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

const char *sg_fs_opname(uint32_t opcode)
{
	switch (opcode) {
	case FUSE_LOOKUP:	return "LOOKUP";
	case FUSE_FORGET:	return "FORGET";
	case FUSE_GETATTR:	return "GETATTR";
	case FUSE_MKDIR:	return "MKDIR";
	case FUSE_READ:		return "READ";
	case FUSE_WRITE:	return "WRITE";
	case FUSE_RELEASE:	return "RELEASE";
	case FUSE_FSYNC:	return "FSYNC";
	case FUSE_FLUSH:	return "FLUSH";
	case FUSE_INIT:		return "INIT";
	case FUSE_CREATE:	return "CREATE";
	case FUSE_DESTROY:	return "DESTROY";
	default:		return "request";
	}
}

bool sg_fs_has(const struct sg_fs *fs, unsigned bit)
{
	return sg_vdev_has(&fs->vd, bit);
}

static int read_config(struct sg_fs *fs)
{
	struct virtio_fs_config cfg;
	int rc;

	memset(&cfg, 0, sizeof(cfg));
	rc = sg_vdev_config_read(&fs->vd, 0, &cfg, sizeof(cfg));
	if (rc < 0)
		return rc;
	/* UTF-8, not NUL-terminated when all 36 bytes are used. */
	memcpy(fs->tag, cfg.tag, SG_FS_TAG_LEN);
	fs->tag[SG_FS_TAG_LEN] = '\0';
	fs->nr_request_queues = le32toh(cfg.num_request_queues);
	return 0;
}

int sg_fs_open(struct sg_fs *fs, struct sg_sim *sim, unsigned dev,
    uint64_t base, const struct sg_fs_opts *opts)
{
	struct sg_vq_opts qo = { 0 };
	uint64_t want = UINT64_C(1) << VIRTIO_F_VERSION_1;
	int rc;

	memset(fs, 0, sizeof(*fs));
	if (opts->indirect)
		want |= UINT64_C(1) << VIRTIO_RING_F_INDIRECT_DESC;
	if (opts->event_idx)
		want |= UINT64_C(1) << VIRTIO_RING_F_EVENT_IDX;
	if ((rc = sg_vdev_probe(&fs->vd, sim, dev, base, VIRTIO_ID_FS)) < 0 ||
	    (rc = sg_vdev_negotiate(&fs->vd, want)) < 0 ||
	    (rc = read_config(fs)) < 0)
		return rc;
	qo.num = opts->queue_num;
	qo.indirect = opts->indirect;
	if ((rc = sg_vq_setup(&fs->vd, SG_FS_HIPRIO_QUEUE, &qo,
	    &fs->hiprio)) < 0 ||
	    (rc = sg_vq_setup(&fs->vd, SG_FS_REQUEST_QUEUE, &qo,
	    &fs->req)) < 0)
		return rc;
	fs->out_page = sg_mem_alloc(fs->vd.mem, SG_PAGE_SIZE, &fs->out_gpa);
	fs->in_page = sg_mem_alloc(fs->vd.mem, SG_PAGE_SIZE, &fs->in_gpa);
	if (fs->out_page == NULL || fs->in_page == NULL)
		return sg_err(-ENOMEM, "virtio-fs: guest RAM for requests");
	return sg_vdev_driver_ok(&fs->vd);
}

int sg_fs_close(struct sg_fs *fs)
{
	int rc = 0;

	if (sg_vdev_alive(&fs->vd))
		rc = sg_vdev_reset(&fs->vd);
	sg_vdev_cleanup(&fs->vd);
	fs->hiprio = fs->req = NULL;
	return rc;
}

/* Kick @vq and wait for the one chain in flight on it to come back. */
static int wait_used(struct sg_fs *fs, struct sg_vq *vq, const char *what,
    struct sg_used *u)
{
	uint64_t deadline = now_ms() + SG_FS_TIMEOUT_MS;
	bool notified;
	int rc;

	if ((rc = sg_vq_kick(vq, &notified)) < 0)
		return rc;
	for (;;) {
		uint64_t now;

		rc = sg_vq_get_used(vq, u);
		if (rc < 0)
			return rc;
		if (rc > 0)
			return 0;
		now = now_ms();
		if (now >= deadline)
			return sg_err(-ETIMEDOUT, "virtio-fs: %s not answered"
			    " after %d ms", what, SG_FS_TIMEOUT_MS);
		rc = sg_vdev_wait(&fs->vd, (int)(deadline - now));
		if (rc < 0)
			return rc == -ETIMEDOUT ? sg_err(rc, "virtio-fs: %s:"
			    " no interrupt", what) : rc;
	}
}

static bool in_ram(struct sg_fs *fs, uint64_t gpa, uint32_t len)
{
	return len == 0 || sg_mem_ptr(fs->vd.mem, gpa, len) != NULL;
}

int sg_fs_call(struct sg_fs *fs, const struct sg_fs_req *r,
    struct sg_fs_res *res)
{
	const char *op = sg_fs_opname(r->opcode);
	struct sg_buf out[3], in[3];
	unsigned nr_out = 0, nr_in = 0;
	struct fuse_in_header *ih = (struct fuse_in_header *)(void *)
	    fs->out_page;
	struct fuse_out_header oh;
	size_t name_len = r->name != NULL ? strlen(r->name) + 1 : 0;
	uint32_t body_len, total_in, len;
	struct sg_used u;
	int rc;

	memset(res, 0, sizeof(*res));
	if (name_len > SG_FS_NAME_MAX + 1 ||
	    r->arg_len > SG_PAGE_SIZE - SG_FS_BODY_OFF - name_len ||
	    r->reply_len > SG_PAGE_SIZE - SG_FS_BODY_OFF)
		return sg_err(-EINVAL, "virtio-fs: %s: arguments too large",
		    op);
	if (!in_ram(fs, r->data_gpa, r->data_len) ||
	    !in_ram(fs, r->rdata_gpa, r->rdata_len))
		return sg_err(-EINVAL, "virtio-fs: %s: data not in guest RAM",
		    op);
	if (sg_vq_nr_inflight(fs->req) != 0)
		return sg_err(-EBUSY, "virtio-fs: %s with a request in flight",
		    op);
	body_len = r->arg_len + (uint32_t)name_len;
	if (__builtin_add_overflow(body_len, r->data_len, &len) ||
	    __builtin_add_overflow(len, (uint32_t)sizeof(*ih), &len))
		return sg_err(-EINVAL, "virtio-fs: %s: request above 4 GiB",
		    op);

	fs->unique += SG_FS_UNIQUE_STEP;
	memset(ih, 0, sizeof(*ih));
	ih->len = len;
	ih->opcode = r->opcode;
	ih->unique = fs->unique;
	ih->nodeid = r->nodeid;
	ih->uid = 0;
	ih->gid = 0;
	ih->pid = 1;
	if (r->arg_len != 0)
		memcpy(fs->out_page + SG_FS_BODY_OFF, r->arg, r->arg_len);
	if (name_len != 0)
		memcpy(fs->out_page + SG_FS_BODY_OFF + r->arg_len, r->name,
		    name_len);
	/* Anything the device does not write stays recognisably unwritten. */
	memset(fs->in_page, SG_FS_POISON, SG_FS_BODY_OFF + r->reply_len);

	/* As Linux: header, op args, payload each their own buffer. */
	out[nr_out++] = (struct sg_buf){ fs->out_gpa, sizeof(*ih) };
	if (body_len != 0)
		out[nr_out++] = (struct sg_buf){ fs->out_gpa + SG_FS_BODY_OFF,
		    body_len };
	if (r->data_len != 0)
		out[nr_out++] = (struct sg_buf){ r->data_gpa, r->data_len };
	in[nr_in++] = (struct sg_buf){ fs->in_gpa, sizeof(oh) };
	if (r->reply_len != 0)
		in[nr_in++] = (struct sg_buf){ fs->in_gpa + SG_FS_BODY_OFF,
		    r->reply_len };
	if (r->rdata_len != 0)
		in[nr_in++] = (struct sg_buf){ r->rdata_gpa, r->rdata_len };
	total_in = (uint32_t)sizeof(oh) + r->reply_len + r->rdata_len;

	rc = sg_vq_add(fs->req, out, nr_out, in, nr_in, ih);
	if (rc == -ENOSPC)
		return sg_err(rc, "virtio-fs: %s does not fit an idle queue",
		    op);
	if (rc < 0)
		return rc;
	fs->nr_requests++;
	rc = wait_used(fs, fs->req, op, &u);
	if (rc < 0)
		return rc;
	if (u.token != ih)
		return sg_err(-EIO, "virtio-fs: %s: used head %u is not ours",
		    op, u.head);
	res->used_len = u.len;
	if (u.len < sizeof(oh))
		return sg_err(-EIO, "virtio-fs: %s (unique %llu): used len %u,"
		    " shorter than fuse_out_header", op,
		    (unsigned long long)fs->unique, u.len);
	memcpy(&oh, fs->in_page, sizeof(oh));
	if (oh.unique != fs->unique)
		return sg_err(-EIO, "virtio-fs: %s: reply unique %llu, sent"
		    " %llu", op, (unsigned long long)oh.unique,
		    (unsigned long long)fs->unique);
	if (oh.len != u.len)
		return sg_err(-EIO, "virtio-fs: %s (unique %llu): out.len %u,"
		    " used len %u", op, (unsigned long long)fs->unique,
		    oh.len, u.len);
	if (oh.len > total_in)
		return sg_err(-EIO, "virtio-fs: %s: out.len %u above the %u"
		    " bytes offered", op, oh.len, total_in);
	if (oh.error > 0 || oh.error < SG_FS_ERROR_MIN)
		return sg_err(-EIO, "virtio-fs: %s: invalid error %d", op,
		    oh.error);
	if (oh.error != 0 && oh.len != sizeof(oh))
		return sg_err(-EIO, "virtio-fs: %s: error %d with %u bytes"
		    " of reply", op, oh.error, oh.len - (uint32_t)sizeof(oh));
	res->error = oh.error;
	res->out_len = oh.len - (uint32_t)sizeof(oh);
	if (r->reply_len != 0) {
		uint32_t n = res->out_len < r->reply_len ? res->out_len :
		    r->reply_len;

		memset(r->reply, 0, r->reply_len);
		memcpy(r->reply, fs->in_page + SG_FS_BODY_OFF, n);
	}
	sg_debug("virtio-fs: %s unique %llu nodeid %llu: error %d, %u bytes",
	    op, (unsigned long long)fs->unique,
	    (unsigned long long)r->nodeid, oh.error, res->out_len);
	return 0;
}

/*
 * The common tail of the op helpers: server error to *ferr or a failure,
 * reply size within [min, max].
 */
static int finish(const struct sg_fs_req *r, const struct sg_fs_res *res,
    uint32_t min, uint32_t max, int32_t *ferr)
{
	const char *op = sg_fs_opname(r->opcode);

	if (ferr != NULL)
		*ferr = res->error;
	if (res->error != 0)
		return ferr != NULL ? 0 : sg_err(res->error, "virtio-fs: %s"
		    " of nodeid %llu", op, (unsigned long long)r->nodeid);
	if (res->out_len < min || res->out_len > max)
		return sg_err(-EIO, "virtio-fs: %s: reply of %u bytes, expected"
		    " %u%s", op, res->out_len, min, min == max ? "" :
		    " or more");
	return 0;
}

static int call(struct sg_fs *fs, const struct sg_fs_req *r, uint32_t min,
    uint32_t max, int32_t *ferr)
{
	struct sg_fs_res res;
	int rc;

	if (!fs->initialised && r->opcode != FUSE_INIT)
		return sg_err(-EINVAL, "virtio-fs: %s before INIT",
		    sg_fs_opname(r->opcode));
	rc = sg_fs_call(fs, r, &res);
	if (rc < 0)
		return rc;
	return finish(r, &res, min, max, ferr);
}

int sg_fs_init(struct sg_fs *fs, uint32_t max_readahead, uint32_t flags)
{
	struct fuse_init_in in = {
		.major = FUSE_KERNEL_VERSION,
		.minor = FUSE_KERNEL_MINOR_VERSION,
		.max_readahead = max_readahead,
		.flags = flags,
	};
	struct sg_fs_req r = {
		.opcode = FUSE_INIT,
		.arg = &in, .arg_len = sizeof(in),
		.reply = &fs->init, .reply_len = sizeof(fs->init),
	};
	int rc;

	rc = call(fs, &r, FUSE_COMPAT_22_INIT_OUT_SIZE, sizeof(fs->init),
	    NULL);
	if (rc < 0)
		return rc;
	if (fs->init.major != FUSE_KERNEL_VERSION)
		return sg_err(-EPROTO, "virtio-fs: INIT: server speaks FUSE"
		    " %u.%u, we %u.%u", fs->init.major, fs->init.minor,
		    FUSE_KERNEL_VERSION, FUSE_KERNEL_MINOR_VERSION);
	if (fs->init.max_write < SG_PAGE_SIZE)
		return sg_err(-EPROTO, "virtio-fs: INIT: max_write %u below"
		    " a page", fs->init.max_write);
	fs->initialised = true;
	return 0;
}

int sg_fs_lookup(struct sg_fs *fs, uint64_t parent, const char *name,
    struct fuse_entry_out *e, int32_t *ferr)
{
	struct sg_fs_req r = {
		.opcode = FUSE_LOOKUP, .nodeid = parent, .name = name,
		.reply = e, .reply_len = sizeof(*e),
	};

	return call(fs, &r, sizeof(*e), sizeof(*e), ferr);
}

int sg_fs_create(struct sg_fs *fs, uint64_t parent, const char *name,
    uint32_t flags, uint32_t mode, struct fuse_entry_out *e,
    struct fuse_open_out *o, int32_t *ferr)
{
	struct fuse_create_in in = {
		.flags = flags, .mode = mode, .umask = 022,
	};
	struct {
		struct fuse_entry_out e;
		struct fuse_open_out o;
	} rep;
	struct sg_fs_req r = {
		.opcode = FUSE_CREATE, .nodeid = parent,
		.arg = &in, .arg_len = sizeof(in), .name = name,
		.reply = &rep, .reply_len = sizeof(rep),
	};
	int rc;

	_Static_assert(sizeof(rep) == sizeof(rep.e) + sizeof(rep.o),
	    "create reply packed");
	memset(&rep, 0, sizeof(rep));
	rc = call(fs, &r, sizeof(rep), sizeof(rep), ferr);
	*e = rep.e;
	*o = rep.o;
	return rc;
}

int sg_fs_mkdir(struct sg_fs *fs, uint64_t parent, const char *name,
    uint32_t mode, struct fuse_entry_out *e, int32_t *ferr)
{
	struct fuse_mkdir_in in = { .mode = mode, .umask = 022 };
	struct sg_fs_req r = {
		.opcode = FUSE_MKDIR, .nodeid = parent,
		.arg = &in, .arg_len = sizeof(in), .name = name,
		.reply = e, .reply_len = sizeof(*e),
	};

	return call(fs, &r, sizeof(*e), sizeof(*e), ferr);
}

int sg_fs_write(struct sg_fs *fs, uint64_t nodeid, uint64_t fh,
    uint64_t off, uint64_t gpa, uint32_t len, uint32_t *written,
    int32_t *ferr)
{
	struct fuse_write_in in = { .fh = fh, .offset = off, .size = len };
	struct fuse_write_out wo;
	struct sg_fs_req r = {
		.opcode = FUSE_WRITE, .nodeid = nodeid,
		.arg = &in, .arg_len = sizeof(in),
		.data_gpa = gpa, .data_len = len,
		.reply = &wo, .reply_len = sizeof(wo),
	};
	int rc;

	*written = 0;
	rc = call(fs, &r, sizeof(wo), sizeof(wo), ferr);
	if (rc < 0 || (ferr != NULL && *ferr != 0))
		return rc;
	if (wo.size > len)
		return sg_err(-EIO, "virtio-fs: WRITE of %u bytes at %llu:"
		    " server wrote %u", len, (unsigned long long)off, wo.size);
	*written = wo.size;
	return 0;
}

int sg_fs_read(struct sg_fs *fs, uint64_t nodeid, uint64_t fh, uint64_t off,
    uint64_t gpa, uint32_t len, uint32_t *got, int32_t *ferr)
{
	struct fuse_read_in in = { .fh = fh, .offset = off, .size = len };
	struct sg_fs_req r = {
		.opcode = FUSE_READ, .nodeid = nodeid,
		.arg = &in, .arg_len = sizeof(in),
		.rdata_gpa = gpa, .rdata_len = len,
	};
	struct sg_fs_res res;
	int rc;

	*got = 0;
	if (!fs->initialised)
		return sg_err(-EINVAL, "virtio-fs: READ before INIT");
	rc = sg_fs_call(fs, &r, &res);
	if (rc < 0)
		return rc;
	rc = finish(&r, &res, 0, len, ferr);
	if (rc == 0 && res.error == 0)
		*got = res.out_len;
	return rc;
}

int sg_fs_flush(struct sg_fs *fs, uint64_t nodeid, uint64_t fh,
    int32_t *ferr)
{
	struct fuse_flush_in in = { .fh = fh };
	struct sg_fs_req r = {
		.opcode = FUSE_FLUSH, .nodeid = nodeid,
		.arg = &in, .arg_len = sizeof(in),
	};

	return call(fs, &r, 0, 0, ferr);
}

int sg_fs_fsync(struct sg_fs *fs, uint64_t nodeid, uint64_t fh,
    bool datasync, int32_t *ferr)
{
	struct fuse_fsync_in in = { .fh = fh, .fsync_flags = datasync ? 1 : 0 };
	struct sg_fs_req r = {
		.opcode = FUSE_FSYNC, .nodeid = nodeid,
		.arg = &in, .arg_len = sizeof(in),
	};

	return call(fs, &r, 0, 0, ferr);
}

int sg_fs_getattr(struct sg_fs *fs, uint64_t nodeid, uint64_t fh,
    struct fuse_attr_out *a, int32_t *ferr)
{
	struct fuse_getattr_in in = {
		.getattr_flags = fh != UINT64_MAX ? FUSE_GETATTR_FH : 0,
		.fh = fh != UINT64_MAX ? fh : 0,
	};
	struct sg_fs_req r = {
		.opcode = FUSE_GETATTR, .nodeid = nodeid,
		.arg = &in, .arg_len = sizeof(in),
		.reply = a, .reply_len = sizeof(*a),
	};

	return call(fs, &r, sizeof(*a), sizeof(*a), ferr);
}

int sg_fs_release(struct sg_fs *fs, uint64_t nodeid, uint64_t fh,
    uint32_t flags, int32_t *ferr)
{
	struct fuse_release_in in = { .fh = fh, .flags = flags };
	struct sg_fs_req r = {
		.opcode = FUSE_RELEASE, .nodeid = nodeid,
		.arg = &in, .arg_len = sizeof(in),
	};

	return call(fs, &r, 0, 0, ferr);
}

int sg_fs_destroy(struct sg_fs *fs, int32_t *ferr)
{
	struct sg_fs_req r = { .opcode = FUSE_DESTROY };
	int rc = call(fs, &r, 0, 0, ferr);

	if (rc == 0)
		fs->initialised = false;
	return rc;
}

int sg_fs_forget(struct sg_fs *fs, uint64_t nodeid, uint64_t nlookup)
{
	struct fuse_in_header *ih = (struct fuse_in_header *)(void *)
	    fs->out_page;
	struct fuse_forget_in *fi = (struct fuse_forget_in *)(void *)
	    (fs->out_page + SG_FS_BODY_OFF);
	struct sg_buf out[2] = {
		{ fs->out_gpa, sizeof(*ih) },
		{ fs->out_gpa + SG_FS_BODY_OFF, sizeof(*fi) },
	};
	struct sg_used u;
	int rc;

	if (!fs->initialised)
		return sg_err(-EINVAL, "virtio-fs: FORGET before INIT");
	if (sg_vq_nr_inflight(fs->hiprio) != 0 ||
	    sg_vq_nr_inflight(fs->req) != 0)
		return sg_err(-EBUSY, "virtio-fs: FORGET with a request in"
		    " flight");
	/* FORGET has no reply; Linux still gives it a unique. */
	fs->unique += SG_FS_UNIQUE_STEP;
	memset(ih, 0, sizeof(*ih));
	ih->len = (uint32_t)(sizeof(*ih) + sizeof(*fi));
	ih->opcode = FUSE_FORGET;
	ih->unique = fs->unique;
	ih->nodeid = nodeid;
	ih->pid = 1;
	fi->nlookup = nlookup;
	rc = sg_vq_add(fs->hiprio, out, 2, NULL, 0, fi);
	if (rc < 0)
		return rc == -ENOSPC ? sg_err(rc, "virtio-fs: FORGET does not"
		    " fit an idle queue") : rc;
	fs->nr_forgets++;
	rc = wait_used(fs, fs->hiprio, "FORGET", &u);
	if (rc < 0)
		return rc;
	if (u.token != fi)
		return sg_err(-EIO, "virtio-fs: FORGET: used head %u is not"
		    " ours", u.head);
	/* sg_vq_get_used already refused a length above 0 writable bytes. */
	return 0;
}
