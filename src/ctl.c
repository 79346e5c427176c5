/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "ctl.h"
#include "device.h"
#include "evloop.h"
#include "guest.h"
#include "hv/hv.h"
#include "log.h"
#include "util.h"

/* Why 100 ms: a request is one short line; a slow client must not stall. */
#define CTL_READ_TIMEOUT_MS 100
#define CTL_LINE_MAX 64

static struct {
	int fd;
	char path[108];
	struct evloop_watch *w;
	ctl_foreach_fn foreach;
} ctl = { .fd = -1 };

struct status_ctx {
	FILE *f;
	bool json;
	unsigned nr_guests;
};

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			fprintf(f, "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			fprintf(f, "\\u%04x", *s);
		else
			fputc(*s, f);
	}
	fputc('"', f);
}

static void status_device_text(FILE *f, const struct xvd_device_info *i)
{
	fprintf(f, "  %s: %s at %#llx SPI %u, back-end %s (%s), memory %s,"
	    " status %#x, features %#llx\n", i->name, i->type,
	    (unsigned long long)i->base, i->irq, i->backend, i->socket,
	    i->memory, i->status, (unsigned long long)i->features);
	fprintf(f, "    counters: mmio reads %llu, writes %llu, kicks %llu,"
	    " calls %llu, interrupts %llu, errors %llu, reconnects %llu\n",
	    (unsigned long long)i->st.mmio_reads,
	    (unsigned long long)i->st.mmio_writes,
	    (unsigned long long)i->st.kicks, (unsigned long long)i->st.calls,
	    (unsigned long long)i->st.irqs, (unsigned long long)i->st.errors,
	    (unsigned long long)i->st.reconnects);
	for (uint32_t q = 0; q < i->nr_queues && q < 16; q++)
		fprintf(f, "    queue %u: %u entries, %s%s%s, shadow in flight %u\n",
		    q, i->q[q].num, i->q[q].ready ? "ready" : "not ready",
		    i->q[q].started ? ", started" : "",
		    i->q[q].kernel_fast_path ? ", kernel fast path" : "",
		    i->q[q].shadow_inflight);
}

static void status_device_json(FILE *f, const struct xvd_device_info *i)
{
	fprintf(f, "{\"name\":");
	json_str(f, i->name);
	fprintf(f, ",\"type\":");
	json_str(f, i->type);
	fprintf(f, ",\"socket\":");
	json_str(f, i->socket);
	fprintf(f, ",\"base\":%llu,\"irq\":%u,\"backend\":\"%s\","
	    "\"memory\":\"%s\",\"status\":%u,\"features\":%llu,"
	    "\"counters\":{\"mmio_reads\":%llu,\"mmio_writes\":%llu,"
	    "\"kicks\":%llu,\"calls\":%llu,\"interrupts\":%llu,"
	    "\"errors\":%llu,\"reconnects\":%llu},\"queues\":[",
	    (unsigned long long)i->base, i->irq, i->backend, i->memory,
	    i->status, (unsigned long long)i->features,
	    (unsigned long long)i->st.mmio_reads,
	    (unsigned long long)i->st.mmio_writes,
	    (unsigned long long)i->st.kicks, (unsigned long long)i->st.calls,
	    (unsigned long long)i->st.irqs, (unsigned long long)i->st.errors,
	    (unsigned long long)i->st.reconnects);
	for (uint32_t q = 0; q < i->nr_queues && q < 16; q++)
		fprintf(f, "%s{\"index\":%u,\"num\":%u,\"ready\":%s,"
		    "\"started\":%s,\"kernel_fast_path\":%s,"
		    "\"shadow_inflight\":%u}", q ? "," : "", q, i->q[q].num,
		    i->q[q].ready ? "true" : "false",
		    i->q[q].started ? "true" : "false",
		    i->q[q].kernel_fast_path ? "true" : "false",
		    i->q[q].shadow_inflight);
	fprintf(f, "]}");
}

static void status_guest(struct xvd_guest *g, void *arg)
{
	struct status_ctx *c = arg;
	struct hv_dom *hv = guest_hv(g);

	if (c->json) {
		fprintf(c->f, "%s{\"domid\":%u,\"vcpus\":%u,\"hypervisor\":\"%s\","
		    "\"ioreqs\":%llu,\"devices\":[", c->nr_guests ? "," : "",
		    hv->domid, hv->nr_vcpus, hv->ops->name,
		    (unsigned long long)guest_nr_ioreqs(g));
	} else {
		fprintf(c->f, "dom%u: %u vCPU(s) via %s, %llu ioreqs\n",
		    hv->domid, hv->nr_vcpus, hv->ops->name,
		    (unsigned long long)guest_nr_ioreqs(g));
	}
	for (unsigned i = 0; i < guest_nr_devices(g); i++) {
		struct xvd_device_info info;

		device_info(guest_device(g, i), &info);
		if (c->json) {
			if (i != 0)
				fputc(',', c->f);
			status_device_json(c->f, &info);
		} else {
			status_device_text(c->f, &info);
		}
	}
	if (c->json)
		fprintf(c->f, "]}");
	c->nr_guests++;
}

void ctl_write_status(FILE *f, bool json, ctl_foreach_fn foreach)
{
	struct status_ctx c = { .f = f, .json = json };

	if (json)
		fprintf(f, "{\"guests\":[");
	foreach(status_guest, &c);
	if (json)
		fprintf(f, "]}\n");
	else if (c.nr_guests == 0)
		fprintf(f, "no guests\n");
}

static void ctl_accept_cb(int lfd, void *arg)
{
	char line[CTL_LINE_MAX + 1];
	struct pollfd pfd;
	size_t len = 0;
	FILE *f;
	int fd;

	fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return;
	pfd.fd = fd;
	pfd.events = POLLIN;
	/* One line, bounded in size and time: the loop serves guests too. */
	while (len < CTL_LINE_MAX && poll(&pfd, 1, CTL_READ_TIMEOUT_MS) == 1) {
		ssize_t n = read(fd, line + len, CTL_LINE_MAX - len);

		if (n <= 0)
			break;
		len += (size_t)n;
		if (memchr(line, '\n', len) != NULL)
			break;
	}
	line[len] = '\0';
	line[strcspn(line, "\r\n")] = '\0';
	f = fdopen(fd, "w");
	if (f == NULL) {
		close(fd);
		return;
	}
	if (strcmp(line, "status") == 0)
		ctl_write_status(f, false, ctl.foreach);
	else if (strcmp(line, "status json") == 0)
		ctl_write_status(f, true, ctl.foreach);
	else
		fprintf(f, "error: unknown request\n");
	fclose(f);
}

int ctl_start(const char *path, ctl_foreach_fn foreach)
{
	int fd = fd_unix_listen(path, SOCK_STREAM, 0600);

	if (fd < 0)
		return fd;
	ctl.w = evloop_watch_add(fd, ctl_accept_cb, NULL);
	if (ctl.w == NULL) {
		close(fd);
		unlink(path);
		return -ENOMEM;
	}
	ctl.fd = fd;
	ctl.foreach = foreach;
	snprintf(ctl.path, sizeof(ctl.path), "%s", path);
	return 0;
}

void ctl_stop(void)
{
	if (ctl.fd < 0)
		return;
	evloop_watch_del(ctl.w);
	close(ctl.fd);
	unlink(ctl.path);
	ctl.fd = -1;
}
