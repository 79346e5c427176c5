/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * xen-vhostd: serve Xen guests' virtio-mmio devices with vhost-user
 * back-ends. Staged start (options, event loop, hypervisor, discovery),
 * reverse teardown.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "ctl.h"
#include "device.h"
#include "devtab.h"
#include "evloop.h"
#include "guest.h"
#include "hv/hv.h"
#include "log.h"
#include "sdnotify.h"
#include "slots.h"
#include "util.h"
#include "vmsgep.h"
#include "xsdisc.h"
#include "xvd/sim_proto.h"

#define XVD_CTL_DEFAULT "/run/xen-vhostd/ctl.sock"

#ifndef XVD_VERSION
#define XVD_VERSION "0.1.0"
#endif


struct opts {
	const char *socket_dir;
	const char *sim_path;
	const char *ctl_path;
	int connect_timeout_ms;
	int reply_timeout_ms;
	int verbose;
	enum xvd_mem_mode mem_mode;
	size_t shadow_bytes;
	bool force_foreign;
	const char *config_path;
	bool check_only;	/* -n */
	bool daemonize;		/* -D, unless -F */
	bool release_on_exit;	/* --on-exit release */
	/* Options given on the command line (they override the file). */
	bool set_socket, set_connect, set_reply, set_memory, set_shadow;
};

/* The configuration file (defaults when there is none). */
static struct xvd_config conf;

struct served {
	struct xvd_guest *g;
	struct evloop_watch *life_w;
	unsigned nr_slots;
	struct {
		const struct devtab_entry *dt;
		unsigned slot;
	} slots[GUEST_MAX_DEVS];
	struct served *next;
};

/*
 * The virtio-msg endpoints of the configuration, conf.vmsg order, and the
 * socket numbers their bound devices hold (vmsg_attach to vmsg_detach).
 */
static struct {
	struct vmsgep *ep;
	unsigned nr_slots;
	struct {
		const struct devtab_entry *dt;
		unsigned slot;
	} slots[VMSGEP_MAX_DEVS];
} vmsg_eps[CONFIG_MAX_VMSG];
/* Their domids, conf.vmsg order (xd_opts.vmsg_domids). */
static uint32_t vmsg_domids[CONFIG_MAX_VMSG];

static struct opts opts = {
	.connect_timeout_ms = 10000,
	.reply_timeout_ms = 5000,
	.mem_mode = XVD_MEM_AUTO,
	/* Why 8 MiB: 32 requests of 128 KiB in flight on two queues. */
	.shadow_bytes = 8u << 20,
};
static struct served *served_list;

static void usage(FILE *f)
{
	fprintf(f,
"usage: xen-vhostd --socket-path DIR [options]\n"
"\n"
"Serve Xen guests' virtio-mmio devices with vhost-user back-ends.\n"
"The back-end of a guest's Nth device of a type is DIR/<type>.sock<N>,\n"
"N being the lowest number not in use by another live guest device.\n"
"\n"
"  -s, --socket-path DIR      directory of the back-end sockets (required\n"
"                             unless the configuration file gives it)\n"
"  -c, --config FILE          configuration file (xen-vhostd.conf(5));\n"
"                             command-line options override it\n"
"  -n                         check the configuration, print the effective\n"
"                             settings and exit\n"
"      --sim PATH             serve simulated guests connecting to PATH\n"
"                             (the simulated Xen used by the tests)\n"
"                             instead of Xen guests found in xenstore\n"
"      --control PATH         control socket for xen-vhostctl (Xen mode\n"
"                             default: " XVD_CTL_DEFAULT ")\n"
"      --connect-timeout MS   how long to retry a back-end connect (10000)\n"
"      --reply-timeout MS     how long to wait for a back-end reply (5000)\n"
"      --memory MODE          how back-ends reach guest memory: auto (guest\n"
"                             RAM as an fd if it is one, else XEN_MMAP if\n"
"                             the back-end offers it, else shadow),\n"
"                             xen-mmap (the back-end maps guest RAM) or\n"
"                             shadow (copy through shadow virtqueues)\n"
"      --shadow-mem MIB       shadow memory per device, MiB (8)\n"
"      --vmsg BUS:PATH:DOMID:TYPE[,TYPE...]\n"
"                             a virtio-msg endpoint (repeatable): BUS\n"
"                             socket (SOCK_SEQPACKET socket at PATH) or\n"
"                             chardev (the /dev/virtio-msg-N node at PATH),\n"
"                             serving guest DOMID the devices TYPE, ...\n"
"                             (device numbers 1, 2, ...); as [vmsg] in\n"
"                             xen-vhostd.conf(5)\n"
"  -f, --foreign-mapping      map guest RAM with foreign mappings even for\n"
"                             devices with grant_usage=1\n"
"  -F, --foreground           stay in the foreground, log to stderr (the\n"
"                             default; overrides --daemon)\n"
"  -D, --daemon               detach from the terminal, log to syslog\n"
"      --on-exit WHAT         Xen mode, on SIGTERM/SIGINT: detach (leave\n"
"                             guests' IOREQ servers and devices to the next\n"
"                             xen-vhostd, which takes them over; default)\n"
"                             or release (close every device, destroy the\n"
"                             IOREQ servers)\n"
"  -v, --verbose              more log output (repeat for debug)\n"
"  -h, --help                 this text\n"
"  -V, --version              print the version\n"
"\n"
"Device types:");
	for (unsigned i = 0; devtab_at(i) != NULL; i++)
		fprintf(f, " %s", devtab_at(i)->name);
	fprintf(f, "\n");
}

/* A non-negative decimal int. */
static int parse_uint(const char *s, int *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *s == '\0' || *end != '\0' || v < 0 || v > INT_MAX)
		return -EINVAL;
	*out = (int)v;
	return 0;
}

static void parse_opts(int argc, char **argv)
{
	enum { OPT_SIM = 256, OPT_CONNECT, OPT_REPLY, OPT_MEMORY, OPT_SHADOW,
		OPT_FOREIGN, OPT_CTL, OPT_CONFIG, OPT_ON_EXIT, OPT_VMSG };
	bool foreground = false;
	static const struct option lopts[] = {
		{ "socket-path", required_argument, NULL, 's' },
		{ "sim", required_argument, NULL, OPT_SIM },
		{ "control", required_argument, NULL, OPT_CTL },
		{ "config", required_argument, NULL, 'c' },
		{ "connect-timeout", required_argument, NULL, OPT_CONNECT },
		{ "reply-timeout", required_argument, NULL, OPT_REPLY },
		{ "memory", required_argument, NULL, OPT_MEMORY },
		{ "shadow-mem", required_argument, NULL, OPT_SHADOW },
		{ "vmsg", required_argument, NULL, OPT_VMSG },
		{ "foreign-mapping", no_argument, NULL, 'f' },
		{ "foreground", no_argument, NULL, 'F' },
		{ "daemon", no_argument, NULL, 'D' },
		{ "on-exit", required_argument, NULL, OPT_ON_EXIT },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *vmsg_args[CONFIG_MAX_VMSG];
	unsigned nr_vmsg_args = 0;
	int c;

	while ((c = getopt_long(argc, argv, "s:c:nfFDvhV", lopts, NULL)) != -1) {
		switch (c) {
		case 's':
			opts.socket_dir = optarg;
			opts.set_socket = true;
			break;
		case 'c':
			opts.config_path = optarg;
			break;
		case 'n':
			opts.check_only = true;
			break;
		case OPT_SIM:
			opts.sim_path = optarg;
			break;
		case OPT_CTL:
			opts.ctl_path = optarg;
			break;
		case OPT_CONNECT:
			opts.set_connect = true;
			if (parse_uint(optarg, &opts.connect_timeout_ms) < 0)
				fatalx("--connect-timeout: bad value '%s'",
				    optarg);
			break;
		case OPT_REPLY:
			opts.set_reply = true;
			if (parse_uint(optarg, &opts.reply_timeout_ms) < 0 ||
			    opts.reply_timeout_ms == 0)
				fatalx("--reply-timeout: bad value '%s'", optarg);
			break;
		case OPT_MEMORY:
			opts.set_memory = true;
			if (xvd_mem_mode_parse(optarg, &opts.mem_mode) < 0)
				fatalx("--memory: '%s' is not auto, xen-mmap or"
				    " shadow",
				    optarg);
			break;
		case OPT_SHADOW: {
			int mib;

			/* Why 4096: a bound, not a need; memfds are sparse. */
			if (parse_uint(optarg, &mib) < 0 || mib < 1 || mib > 4096)
				fatalx("--shadow-mem: '%s' is not 1..4096 MiB",
				    optarg);
			opts.shadow_bytes = (size_t)mib << 20;
			opts.set_shadow = true;
			break;
		}
		case OPT_VMSG:
			if (nr_vmsg_args == CONFIG_MAX_VMSG)
				fatalx("--vmsg: at most %u endpoints",
				    CONFIG_MAX_VMSG);
			vmsg_args[nr_vmsg_args++] = optarg;
			break;
		case 'f':
			opts.force_foreign = true;
			break;
		case 'F':
			foreground = true;
			break;
		case 'D':
			opts.daemonize = true;
			break;
		case OPT_ON_EXIT:
			if (strcmp(optarg, "detach") == 0)
				opts.release_on_exit = false;
			else if (strcmp(optarg, "release") == 0)
				opts.release_on_exit = true;
			else
				fatalx("--on-exit: '%s' is not detach or release",
				    optarg);
			break;
		case 'v':
			opts.verbose++;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		case 'V':
			printf("xen-vhostd %s\n", XVD_VERSION);
			exit(0);
		default:
			usage(stderr);
			exit(2);
		}
	}
	if (optind != argc) {
		usage(stderr);
		exit(2);
	}
	if (foreground)
		opts.daemonize = false;
	config_defaults(&conf);
	if (opts.config_path != NULL) {
		char err[256];

		if (config_parse_file(opts.config_path, &conf, err,
		    sizeof(err)) < 0) {
			fprintf(stderr, "xen-vhostd: %s\n", err);
			exit(1);
		}
		/* The file gives what the command line does not. */
		if (!opts.set_socket)
			opts.socket_dir = conf.socket_dir;
		if (!opts.set_connect)
			opts.connect_timeout_ms = conf.connect_timeout_ms;
		if (!opts.set_reply)
			opts.reply_timeout_ms = conf.reply_timeout_ms;
		if (!opts.set_shadow)
			opts.shadow_bytes = (size_t)conf.shadow_mem_mib << 20;
		if (!opts.force_foreign)
			opts.force_foreign = conf.foreign_mapping;
		if (opts.verbose == 0 && conf.log_level == CONFIG_LOG_DEBUG)
			opts.verbose = 2;
	}
	/* Command-line endpoints come after the file's. */
	for (unsigned i = 0; i < nr_vmsg_args; i++) {
		char err[256];

		if (config_vmsg_add_arg(&conf, vmsg_args[i], err,
		    sizeof(err)) < 0) {
			fprintf(stderr, "xen-vhostd: %s\n", err);
			exit(2);
		}
	}
	if (opts.check_only) {
		if (opts.set_socket)
			snprintf(conf.socket_dir, sizeof(conf.socket_dir), "%s",
			    opts.socket_dir);
		config_print(&conf, stdout);
		exit(0);
	}
	if (opts.socket_dir == NULL) {
		fprintf(stderr, "xen-vhostd: --socket-path is required\n");
		usage(stderr);
		exit(2);
	}
}

/*
 * Per-device settings from the configuration: socket name and memory mode
 * (guest+type > guest > type > global; --memory overrides the file).
 */
static int device_settings(uint32_t domid, const struct devtab_entry *dt,
    unsigned slot, struct xvd_device_cfg *c)
{
	struct config_dev_eff eff;
	char name[128];
	int rc;

	config_device(&conf, domid, dt->name, &eff);
	rc = config_socket_name(eff.socket, slot, domid, name, sizeof(name));
	if (rc < 0 || snprintf(c->socket, sizeof(c->socket), "%s/%s",
	    opts.socket_dir, name) >= (int)sizeof(c->socket)) {
		log_warnx("dom%u %s%u: socket name from pattern '%s' unusable",
		    domid, dt->name, slot, eff.socket);
		return -ENAMETOOLONG;
	}
	c->server = eff.mode == CONFIG_MODE_SERVER;
	c->mem_mode = opts.set_memory ? opts.mem_mode :
	    eff.memory == CONFIG_MEM_SHADOW ? XVD_MEM_SHADOW :
	    eff.memory == CONFIG_MEM_XEN_MMAP ? XVD_MEM_XEN_MMAP : XVD_MEM_AUTO;
	return 0;
}

/*
 * vmsg_attach - the devices of every virtio-msg endpoint configured for
 * @domid, now that its guest @g exists (--sim: the simulated domain
 * connected; Xen: xsdisc saw the domain introduced): each is an ordinary
 * relay device of the guest (same hv_dom, so the same guest RAM and grant
 * mapping, socket numbers and settings as its MMIO devices) without an
 * MMIO window, bound to its endpoint port as interrupt sink. A device
 * whose back-end is missing is logged and left off the bus. Returns the
 * number of devices bound (xd_opts.vmsg_attach).
 */
static int vmsg_attach(uint32_t domid, struct xvd_guest *g)
{
	int n = 0;

	for (unsigned e = 0; e < conf.nr_vmsg; e++) {
		const struct config_vmsg *cv = &conf.vmsg[e];
		struct vmsgep *ep = vmsg_eps[e].ep;

		if (ep == NULL || cv->domid != domid || vmsgep_nr_bound(ep) > 0)
			continue;
		for (unsigned i = 0; i < cv->nr_devs; i++) {
			const struct devtab_entry *dt = devtab_at(cv->dev_type[i]);
			struct vmsgep_port *port = vmsgep_port(ep,
			    (uint16_t)(i + 1));
			struct xvd_device_cfg c;
			struct xvd_device *dev;

			if (port == NULL ||
			    vmsg_eps[e].nr_slots >= VMSGEP_MAX_DEVS)
				break;
			memset(&c, 0, sizeof(c));
			c.dt = dt;
			if (slot_take(dt, &c.slot) < 0) {
				log_warnx("dom%u: no free %s socket number",
				    domid, dt->name);
				continue;
			}
			c.connect_timeout_ms = opts.connect_timeout_ms;
			c.reply_timeout_ms = opts.reply_timeout_ms;
			c.shadow_bytes = opts.shadow_bytes;
			c.vmsg_max_msg = vmsgep_max_msg(ep);
			c.vmsg_dev_num = (uint16_t)(i + 1);
			c.notify_used = vmsgep_notify_used;
			c.notify_config = vmsgep_notify_config;
			c.notify_arg = port;
			if (device_settings(domid, dt, c.slot, &c) < 0 ||
			    guest_add_vmsg_device(g, &c, &dev) < 0) {
				slot_put(dt, c.slot);
				continue;
			}
			vmsg_eps[e].slots[vmsg_eps[e].nr_slots].dt = dt;
			vmsg_eps[e].slots[vmsg_eps[e].nr_slots].slot = c.slot;
			vmsg_eps[e].nr_slots++;
			vmsgep_bind(port, &vmsgep_device_ops, dev);
			n++;
		}
	}
	return n;
}

/*
 * vmsg_detach - take the devices of @domid's endpoints off their bus
 * before @g destroys them (no frame reaches a freed device); the
 * endpoints stay open for the next domain with that id.
 */
static void vmsg_detach(uint32_t domid, struct xvd_guest *g)
{
	(void)g;
	for (unsigned e = 0; e < conf.nr_vmsg; e++) {
		if (vmsg_eps[e].ep == NULL || conf.vmsg[e].domid != domid)
			continue;
		vmsgep_unbind_all(vmsg_eps[e].ep);
		for (unsigned i = 0; i < vmsg_eps[e].nr_slots; i++)
			slot_put(vmsg_eps[e].slots[i].dt,
			    vmsg_eps[e].slots[i].slot);
		vmsg_eps[e].nr_slots = 0;
	}
}

static void served_put_slots(struct served *s)
{
	for (unsigned i = 0; i < s->nr_slots; i++)
		slot_put(s->slots[i].dt, s->slots[i].slot);
	s->nr_slots = 0;
}

static void served_free(struct served *s)
{
	for (struct served **pp = &served_list; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == s) {
			*pp = s->next;
			break;
		}
	}
	evloop_watch_del(s->life_w);
	vmsg_detach(guest_domid(s->g), s->g);
	guest_destroy(s->g);
	served_put_slots(s);
	free(s);
}

/* Open every configured endpoint (staged start: failure is fatal). */
static void vmsg_open_all(void)
{
	for (unsigned e = 0; e < conf.nr_vmsg; e++) {
		const struct config_vmsg *cv = &conf.vmsg[e];
		struct vmsgep_cfg ec;

		memset(&ec, 0, sizeof(ec));
		snprintf(ec.name, sizeof(ec.name), "%s", cv->name);
		ec.bus = cv->bus == CONFIG_VMSG_CHARDEV ? VMSGEP_CHARDEV :
		    VMSGEP_SOCKET;
		snprintf(ec.path, sizeof(ec.path), "%s", cv->path);
		ec.domid = cv->domid;
		vmsg_domids[e] = cv->domid;
		if (vmsgep_open(&ec, &vmsg_eps[e].ep) < 0)
			fatalx("vmsg %s: cannot open %s", cv->name, cv->path);
	}
}

static void vmsg_close_all(void)
{
	for (unsigned e = 0; e < conf.nr_vmsg; e++) {
		vmsgep_close(vmsg_eps[e].ep);
		vmsg_eps[e].ep = NULL;
	}
}

static void sim_life_cb(int fd, void *arg)
{
	struct served *s = arg;

	if (sim_dom_input(guest_hv(s->g)) < 0) {
		log_info("dom%u: simulated domain destroyed",
		    guest_domid(s->g));
		served_free(s);
	}
}

static bool domid_served(uint32_t domid)
{
	for (struct served *s = served_list; s != NULL; s = s->next)
		if (guest_domid(s->g) == domid)
			return true;
	return false;
}

static void sim_accept_cb(int lfd, void *arg)
{
	struct xvd_device_cfg cfgs[SIM_MAX_DEVS];
	struct sim_hello hello;
	struct hv_dom *hv;
	struct served *s;
	unsigned nr = 0;

	if (sim_accept(lfd, &hv, &hello) < 0)
		return;
	s = calloc(1, sizeof(*s));
	if (s == NULL || domid_served(hello.domid)) {
		log_warnx("dom%u: refused (%s)", hello.domid,
		    s == NULL ? "out of memory" : "domain id already served");
		hv->ops->connected(hv, s == NULL ? -ENOMEM : -EEXIST);
		hv->ops->destroy(hv);
		free(s);
		return;
	}
	for (unsigned i = 0; i < hello.nr_devs; i++) {
		const struct devtab_entry *dt = devtab_by_id(hello.dev[i].virtio_id);
		struct xvd_device_cfg *c = &cfgs[nr];

		if (dt == NULL) {
			log_warnx("dom%u: device %u: virtio id %u not served",
			    hello.domid, i, hello.dev[i].virtio_id);
			continue;
		}
		memset(c, 0, sizeof(*c));
		c->dt = dt;
		if (slot_take(dt, &c->slot) < 0) {
			log_warnx("dom%u: no free %s socket number", hello.domid,
			    dt->name);
			continue;
		}
		s->slots[s->nr_slots].dt = dt;
		s->slots[s->nr_slots].slot = c->slot;
		s->nr_slots++;
		c->base = hello.dev[i].base;
		c->irq = hello.dev[i].irq;
		c->connect_timeout_ms = opts.connect_timeout_ms;
		c->reply_timeout_ms = opts.reply_timeout_ms;
		c->shadow_bytes = opts.shadow_bytes;
		if (device_settings(hello.domid, dt, c->slot, c) < 0)
			continue;
		nr++;
	}
	if (guest_create(hv, &s->g) < 0) {
		s->g = NULL;
		goto fail;
	}
	for (unsigned i = 0; i < nr; i++) {
		struct xvd_device *dev;

		/* A device whose back-end is missing is logged and left out. */
		(void)guest_add_device(s->g, &cfgs[i], &dev);
	}
	/* A guest may have only virtio-msg devices (hello.nr_devs 0). */
	(void)vmsg_attach(hello.domid, s->g);
	if (guest_nr_devices(s->g) == 0) {
		log_warnx("dom%u: no device could be set up", hello.domid);
		hv->ops->connected(hv, -ENODEV);
		guest_destroy(s->g);
		goto fail;
	}
	if (hv->ops->connected(hv, 0) < 0) {
		vmsg_detach(hello.domid, s->g);
		guest_destroy(s->g);
		goto fail;
	}
	s->life_w = evloop_watch_add(sim_dom_fd(hv), sim_life_cb, s);
	s->next = served_list;
	served_list = s;
	return;
fail:
	served_put_slots(s);
	free(s);
}

static void sim_foreach(void (*cb)(struct xvd_guest *g, void *arg), void *arg)
{
	for (struct served *s = served_list; s != NULL; s = s->next)
		cb(s->g, arg);
}

static void start_ctl(ctl_foreach_fn foreach, const char *dflt)
{
	const char *path = opts.ctl_path != NULL ? opts.ctl_path : dflt;
	int rc;

	if (path == NULL)
		return;
	if (opts.ctl_path == NULL)
		(void)mkdir("/run/xen-vhostd", 0700);
	rc = ctl_start(path, foreach);
	if (rc < 0)
		log_warnx("control socket %s: %s (xen-vhostctl unavailable)",
		    path, strerror(-rc));
}

static void signal_cb(int sig, void *arg)
{
	log_info("signal %d: shutting down", sig);
	evloop_break();
}

int main(int argc, char **argv)
{
	struct evloop_watch *sig_w[2], *accept_w = NULL;
	struct hv_xen *xen = NULL;
	int lfd = -1;

	parse_opts(argc, argv);
	if (opts.daemonize && daemon(0, 0) < 0)
		fatal("cannot detach from the terminal");
	log_init(opts.verbose >= 2 ? LOG_LVL_DEBUG : LOG_LVL_INFO,
	    opts.daemonize);
	signal(SIGPIPE, SIG_IGN);
	if (evloop_init() < 0)
		fatalx("cannot create the event loop");
	sig_w[0] = evloop_signal_add(SIGTERM, signal_cb, NULL);
	sig_w[1] = evloop_signal_add(SIGINT, signal_cb, NULL);

	if (opts.sim_path == NULL) {
		struct xd_opts xo = {
			.socket_dir = opts.socket_dir,
			.connect_timeout_ms = opts.connect_timeout_ms,
			.reply_timeout_ms = opts.reply_timeout_ms,
			.mem_mode = opts.mem_mode,
			.shadow_bytes = opts.shadow_bytes,
			.force_foreign = opts.force_foreign,
			.device_settings = device_settings,
			.vmsg_domids = vmsg_domids,
			.nr_vmsg_domids = conf.nr_vmsg,
			.vmsg_attach = vmsg_attach,
			.vmsg_detach = vmsg_detach,
		};

		vmsg_open_all();
		if (hv_xen_open(&xen) < 0)
			fatalx("cannot open the Xen interfaces");
		if (xd_start(xen, &xo) < 0)
			fatalx("cannot start xenstore discovery");
		log_info("xen-vhostd %s: serving Xen guests, back-ends in %s",
		    XVD_VERSION, opts.socket_dir);
		start_ctl(xd_foreach, XVD_CTL_DEFAULT);
		/* Ready once the xenstore watches are set (Type=notify). */
		sdnotify_ready();
		evloop_run();
		sdnotify_stopping();
		ctl_stop();
		xd_stop(!opts.release_on_exit);
		vmsg_close_all();
		hv_xen_close(xen);
		goto out;
	}
	vmsg_open_all();
	lfd = sim_listen(opts.sim_path);
	if (lfd < 0) {
		errno = -lfd;
		fatal("cannot listen on %s", opts.sim_path);
	}
	accept_w = evloop_watch_add(lfd, sim_accept_cb, NULL);
	if (accept_w == NULL)
		fatalx("cannot watch %s", opts.sim_path);
	log_info("xen-vhostd %s: simulated Xen on %s, back-ends in %s",
	    XVD_VERSION, opts.sim_path, opts.socket_dir);
	start_ctl(sim_foreach, NULL);
	sdnotify_ready();

	evloop_run();
	sdnotify_stopping();
	ctl_stop();

	while (served_list != NULL)
		served_free(served_list);
	vmsg_close_all();
	evloop_watch_del(accept_w);
	close(lfd);
	unlink(opts.sim_path);
out:
	evloop_watch_del(sig_w[1]);
	evloop_watch_del(sig_w[0]);
	evloop_fini();
	log_info("stopped");
	return 0;
}
