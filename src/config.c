/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * config: xen-vhostd.conf(5). Line based: "key = value" lines, global keys
 * first, then [device TYPE], [guest DOMID], [guest DOMID TYPE] and
 * [vmsg NAME] (virtio-msg endpoint) sections.
 * One table of keys (which sections take them, their setter); every value
 * is checked where it is read, so the struct handed out is valid as a whole.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "devtab.h"
#include "util.h"

/* Why 1024: a config line is a key and a path; longer is not a config. */
#define CONFIG_LINE_MAX 1024u
/* Why 1 MiB: far above any real file, and a bound on what we read. */
#define CONFIG_FILE_MAX (1u << 20)

#define CONFIG_DEFAULT_DIR "/run/xen-vhostd"
#define CONFIG_DEFAULT_SOCKET "%t.sock%n"

/* Where a key may appear. */
enum {
	SC_GLOBAL = 1u << 0,	/* before the first section */
	SC_DEVICE = 1u << 1,	/* [device T] */
	SC_GUEST = 1u << 2,	/* [guest D] */
	SC_GUEST_DEV = 1u << 3,	/* [guest D T] */
	SC_ALL = SC_GLOBAL | SC_DEVICE | SC_GUEST | SC_GUEST_DEV,
	SC_VMSG = 1u << 4,	/* [vmsg NAME]: only its own keys */
};

struct parse {
	const char *name;
	unsigned line;
	char *err;
	size_t errlen;
	struct xvd_config *c;
	unsigned scope;		/* SC_* of the current section */
	struct config_devset *ds;	/* its per-device settings */
	int type;		/* its devtab index, -1: every type */
	uint32_t keys_seen;	/* bit k: config_keys[k] set in it */
	uint32_t device_sections;	/* bit i: [device devtab_at(i)] seen */
	struct config_vmsg *vm;	/* the current [vmsg NAME] */
};

static int set_socket_dir(struct parse *p, const char *v);
static int set_log_level(struct parse *p, const char *v);
static int set_connect_timeout(struct parse *p, const char *v);
static int set_reply_timeout(struct parse *p, const char *v);
static int set_shadow_mem(struct parse *p, const char *v);
static int set_foreign_mapping(struct parse *p, const char *v);
static int set_socket(struct parse *p, const char *v);
static int set_mode(struct parse *p, const char *v);
static int set_memory(struct parse *p, const char *v);
static int set_vmsg_bus(struct parse *p, const char *v);
static int set_vmsg_path(struct parse *p, const char *v);
static int set_vmsg_domain(struct parse *p, const char *v);
static int set_vmsg_devices(struct parse *p, const char *v);

/* name, where, setter; config_print() writes them in this order. */
#define CONFIG_KEY_TABLE(X)						\
	X("socket-dir", SC_GLOBAL, set_socket_dir)			\
	X("log-level", SC_GLOBAL, set_log_level)			\
	X("connect-timeout", SC_GLOBAL, set_connect_timeout)		\
	X("reply-timeout", SC_GLOBAL, set_reply_timeout)		\
	X("shadow-mem", SC_GLOBAL, set_shadow_mem)			\
	X("foreign-mapping", SC_GLOBAL, set_foreign_mapping)		\
	X("socket", SC_ALL, set_socket)					\
	X("mode", SC_ALL, set_mode)					\
	X("memory", SC_ALL, set_memory)					\
	X("bus", SC_VMSG, set_vmsg_bus)					\
	X("path", SC_VMSG, set_vmsg_path)				\
	X("domain", SC_VMSG, set_vmsg_domain)				\
	X("devices", SC_VMSG, set_vmsg_devices)

struct key_def {
	const char *name;
	unsigned scopes;
	int (*set)(struct parse *p, const char *v);
};

#define KEY_DEF(n, s, f) { n, s, f },
static const struct key_def key_defs[] = { CONFIG_KEY_TABLE(KEY_DEF) };
#undef KEY_DEF

#define KEY_NAME(n, s, f) n,
const char *const config_keys[] = { CONFIG_KEY_TABLE(KEY_NAME) NULL };
#undef KEY_NAME

static const char *const log_level_names[] = {
	[CONFIG_LOG_ERR] = "err", [CONFIG_LOG_WARN] = "warn",
	[CONFIG_LOG_INFO] = "info", [CONFIG_LOG_DEBUG] = "debug",
};
static const char *const mem_names[] = {
	[CONFIG_MEM_AUTO] = "auto", [CONFIG_MEM_XEN_MMAP] = "xen-mmap",
	[CONFIG_MEM_SHADOW] = "shadow",
};
static const char *const mode_names[] = {
	[CONFIG_MODE_CLIENT] = "client", [CONFIG_MODE_SERVER] = "server",
};
static const char *const vmsg_bus_names[] = {
	[CONFIG_VMSG_SOCKET] = "socket", [CONFIG_VMSG_CHARDEV] = "chardev",
};

const char *config_vmsg_bus_name(enum config_vmsg_bus b)
{
	return (unsigned)b < ARRAY_SIZE(vmsg_bus_names) ?
	    vmsg_bus_names[b] : "?";
}

const char *config_log_level_name(enum config_log_level l)
{
	return (unsigned)l < ARRAY_SIZE(log_level_names) ?
	    log_level_names[l] : "?";
}

const char *config_mem_name(enum config_mem m)
{
	return (unsigned)m < ARRAY_SIZE(mem_names) ? mem_names[m] : "?";
}

const char *config_mode_name(enum config_mode m)
{
	return (unsigned)m < ARRAY_SIZE(mode_names) ? mode_names[m] : "?";
}

static void perr(struct parse *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void perr(struct parse *p, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (p->errlen > 0)
		snprintf(p->err, p->errlen, "%s:%u: %s", p->name, p->line, msg);
}

/* --- socket name patterns ----------------------------------------------- */

static bool name_byte_ok(unsigned char ch)
{
	return ch > ' ' && ch < 0x7f && ch != '/';
}

/*
 * Check @pat (escapes %n %d %%, and %t when @type_ok) and expand it into
 * @buf. *why says what is wrong for -EINVAL.
 */
static int pattern_expand(const char *pat, const char *type, unsigned slot,
    uint32_t domid, char *buf, size_t len, const char **why)
{
	size_t o = 0;

	*why = NULL;
	if (pat[0] == '\0') {
		*why = "empty socket name";
		return -EINVAL;
	}
	if (strstr(pat, "..") != NULL) {
		*why = "\"..\" in a socket name";
		return -EINVAL;
	}
	for (const char *s = pat; *s != '\0'; s++) {
		if (*s == '/') {
			*why = "'/' in a socket name";
			return -EINVAL;
		}
		if (!name_byte_ok((unsigned char)*s)) {
			*why = "space, control or non-ASCII byte in a socket name";
			return -EINVAL;
		}
		if (*s != '%')
			continue;
		s++;
		if (*s == '\0') {
			*why = "'%' at the end of a socket name (use %%)";
			return -EINVAL;
		}
		if (*s != 'n' && *s != 'd' && *s != '%' &&
		    !(*s == 't' && type != NULL)) {
			*why = *s == 't' ? "%t where the device type is unknown" :
			    "unknown escape in a socket name (%n, %d, %t, %%)";
			return -EINVAL;
		}
	}

	for (const char *s = pat; *s != '\0'; s++) {
		char num[16];
		const char *add = num;
		size_t k;

		if (*s != '%') {
			num[0] = *s;
			num[1] = '\0';
		} else {
			s++;
			if (*s == 'n')
				snprintf(num, sizeof(num), "%u", slot);
			else if (*s == 'd')
				snprintf(num, sizeof(num), "%u", (unsigned)domid);
			else if (*s == 't')
				add = type;
			else
				snprintf(num, sizeof(num), "%%");
		}
		k = strlen(add);
		if (k >= len || o > len - 1 - k)
			return -ENAMETOOLONG;
		memcpy(buf + o, add, k);
		o += k;
	}
	buf[o] = '\0';
	if (strcmp(buf, ".") == 0) {
		*why = "socket name \".\"";
		return -EINVAL;
	}
	return 0;
}

int config_socket_name(const char *pattern, unsigned slot, uint32_t domid,
    char *buf, size_t len)
{
	const char *why;

	if (pattern == NULL || buf == NULL || len == 0)
		return -EINVAL;
	return pattern_expand(pattern, NULL, slot, domid, buf, len, &why);
}

/*
 * %t of @pat replaced by @type, other escapes kept. "" when it does not fit
 * (config_socket_name() then refuses it).
 */
static void pattern_subst_type(const char *pat, const char *type, char *out,
    size_t len)
{
	size_t o = 0;

	for (const char *s = pat; *s != '\0'; s++) {
		const char *add = s;
		size_t k = 1;

		if (s[0] == '%' && s[1] == 't') {
			add = type;
			k = strlen(type);
			s++;
		} else if (s[0] == '%' && s[1] != '\0') {
			k = 2;
			s++;
		}
		if (o + k >= len) {
			out[0] = '\0';
			return;
		}
		memcpy(out + o, add, k);
		o += k;
	}
	out[o] = '\0';
}

/* --- values --------------------------------------------------------------- */

static int parse_keyword(struct parse *p, const char *key, const char *v,
    const char *const *names, size_t nr, unsigned *out)
{
	char list[128] = "";
	size_t o = 0;

	for (size_t i = 0; i < nr; i++) {
		if (strcmp(v, names[i]) == 0) {
			*out = (unsigned)i;
			return 0;
		}
	}
	for (size_t i = 0; i < nr && o < sizeof(list); i++)
		o += (size_t)snprintf(list + o, sizeof(list) - o, "%s%s",
		    i == 0 ? "" : i + 1 == nr ? " or " : ", ", names[i]);
	perr(p, "bad value '%s' for %s: expected %s", v, key, list);
	return -1;
}

/* A decimal number in [min, max]. */
static int parse_num(struct parse *p, const char *key, const char *v,
    unsigned long min, unsigned long max, unsigned long *out)
{
	unsigned long n = 0;
	bool big = false;

	if (v[0] == '\0') {
		perr(p, "bad value '' for %s: expected a decimal number", key);
		return -1;
	}
	for (const char *s = v; *s != '\0'; s++) {
		if (*s < '0' || *s > '9') {
			perr(p, "bad value '%s' for %s: expected a decimal number",
			    v, key);
			return -1;
		}
		if (n > (ULONG_MAX - 9) / 10)
			big = true;
		else
			n = n * 10 + (unsigned long)(*s - '0');
	}
	if (big || n < min || n > max) {
		perr(p, "%s %s out of range %lu..%lu", key, v, min, max);
		return -1;
	}
	*out = n;
	return 0;
}

static int set_socket_fit(struct parse *p, const char *key, const char *dir,
    const char *pat, int type);

static int set_socket_dir(struct parse *p, const char *v)
{
	char dir[CONFIG_DIR_MAX];
	size_t len = strlen(v);

	if (v[0] != '/') {
		perr(p, "bad value '%s' for socket-dir: not an absolute path", v);
		return -1;
	}
	while (len > 1 && v[len - 1] == '/')
		len--;
	/* Room for '/', one byte of name and the NUL in sun_path. */
	if (len > CONFIG_SUN_PATH_MAX - 3) {
		perr(p, "socket-dir of %zu bytes out of range: at most %u", len,
		    CONFIG_SUN_PATH_MAX - 3);
		return -1;
	}
	/* The global pattern may come first; check it against this one. */
	memcpy(dir, v, len);
	dir[len] = '\0';
	if (set_socket_fit(p, "socket-dir", dir, p->c->global.socket, -1) < 0)
		return -1;
	memcpy(p->c->socket_dir, dir, len + 1);
	return 0;
}

static int set_log_level(struct parse *p, const char *v)
{
	unsigned i;

	if (parse_keyword(p, "log-level", v, log_level_names,
	    ARRAY_SIZE(log_level_names), &i) < 0)
		return -1;
	p->c->log_level = (enum config_log_level)i;
	return 0;
}

static int set_connect_timeout(struct parse *p, const char *v)
{
	unsigned long n;

	if (parse_num(p, "connect-timeout", v, 0, CONFIG_TIMEOUT_MAX_MS, &n) < 0)
		return -1;
	p->c->connect_timeout_ms = (int)n;
	return 0;
}

static int set_reply_timeout(struct parse *p, const char *v)
{
	unsigned long n;

	if (parse_num(p, "reply-timeout", v, 1, CONFIG_TIMEOUT_MAX_MS, &n) < 0)
		return -1;
	p->c->reply_timeout_ms = (int)n;
	return 0;
}

static int set_shadow_mem(struct parse *p, const char *v)
{
	unsigned long n;

	if (parse_num(p, "shadow-mem", v, 1, CONFIG_SHADOW_MIB_MAX, &n) < 0)
		return -1;
	p->c->shadow_mem_mib = (unsigned)n;
	return 0;
}

static int set_foreign_mapping(struct parse *p, const char *v)
{
	static const char *const names[] = {
		"no", "yes", "false", "true", "off", "on", "0", "1",
	};
	unsigned i;

	if (parse_keyword(p, "foreign-mapping", v, names, ARRAY_SIZE(names),
	    &i) < 0)
		return -1;
	p->c->foreign_mapping = (i & 1) != 0;
	return 0;
}

/*
 * @pat gives valid names, for the worst slot and domid, that fit
 * CONFIG_SOCKET_NAME_MAX and, after @dir and '/', a socket path; for the
 * one device type @type, or every type when @type < 0.
 */
static int set_socket_fit(struct parse *p, const char *key, const char *dir,
    const char *pat, int type)
{
	size_t dir_len = strlen(dir);

	for (unsigned i = 0; i < p->c->nr_types; i++) {
		const char *tname = devtab_at(i)->name;
		char eff[CONFIG_EFF_PATTERN_MAX], name[CONFIG_SOCKET_NAME_MAX];
		const char *why;
		int rc;

		if (type >= 0 && (unsigned)type != i)
			continue;
		rc = pattern_expand(pat, tname, UINT_MAX, CONFIG_DOMID_MAX, name,
		    sizeof(name), &why);
		if (rc == -EINVAL) {
			perr(p, "bad value '%s' for %s: %s", pat, key, why);
			return -1;
		}
		if (rc < 0) {
			perr(p, "socket '%s' out of range: %s names exceed %u bytes",
			    pat, tname, CONFIG_SOCKET_NAME_MAX - 1);
			return -1;
		}
		if (dir_len + 1 + strlen(name) >= CONFIG_SUN_PATH_MAX) {
			perr(p, "%s out of range: the longest socket path, %s/%s,"
			    " exceeds %u bytes", key, dir, name,
			    CONFIG_SUN_PATH_MAX - 1);
			return -1;
		}
		/* What config_device() hands out must fit too. */
		pattern_subst_type(pat, tname, eff, sizeof(eff));
		if (eff[0] == '\0') {
			perr(p, "socket '%s' out of range", pat);
			return -1;
		}
	}
	return 0;
}

static int set_socket(struct parse *p, const char *v)
{
	if (strlen(v) >= CONFIG_PATTERN_MAX) {
		perr(p, "socket '%s' out of range: at most %u bytes", v,
		    CONFIG_PATTERN_MAX - 1);
		return -1;
	}
	if (p->type < 0 && strstr(v, "%t") == NULL) {
		perr(p, "bad value '%s' for socket: a pattern for every device"
		    " type needs %%t", v);
		return -1;
	}
	if (set_socket_fit(p, "socket", p->c->socket_dir, v, p->type) < 0)
		return -1;
	snprintf(p->ds->socket, sizeof(p->ds->socket), "%s", v);
	p->ds->set |= CONFIG_SET_SOCKET;
	return 0;
}

static int set_mode(struct parse *p, const char *v)
{
	unsigned i;

	if (parse_keyword(p, "mode", v, mode_names, ARRAY_SIZE(mode_names),
	    &i) < 0)
		return -1;
	p->ds->mode = (enum config_mode)i;
	p->ds->set |= CONFIG_SET_MODE;
	return 0;
}

static int set_memory(struct parse *p, const char *v)
{
	unsigned i;

	if (parse_keyword(p, "memory", v, mem_names, ARRAY_SIZE(mem_names),
	    &i) < 0)
		return -1;
	p->ds->memory = (enum config_mem)i;
	p->ds->set |= CONFIG_SET_MEMORY;
	return 0;
}

/* --- lines ------------------------------------------------------------------ */

static bool is_space(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r';
}

static char *skip_space(char *s)
{
	while (is_space(*s))
		s++;
	return s;
}

/* Nothing but blanks and perhaps a comment from @s on. */
static bool rest_empty(const char *s)
{
	while (is_space(*s))
		s++;
	return *s == '\0' || *s == '#';
}

static int type_index(const char *name)
{
	const struct devtab_entry *dt = devtab_by_name(name);

	for (unsigned i = 0; dt != NULL && i < CONFIG_MAX_TYPES; i++)
		if (devtab_at(i) == dt)
			return (int)i;
	return -1;
}

static struct config_guest *guest_get(struct parse *p, uint32_t domid)
{
	struct xvd_config *c = p->c;
	unsigned i;

	for (i = 0; i < c->nr_guests && c->guest[i].domid < domid; i++)
		;
	if (i < c->nr_guests && c->guest[i].domid == domid)
		return &c->guest[i];
	if (c->nr_guests == CONFIG_MAX_GUESTS) {
		perr(p, "guest %u out of range: at most %u guests have sections",
		    (unsigned)domid, CONFIG_MAX_GUESTS);
		return NULL;
	}
	memmove(&c->guest[i + 1], &c->guest[i],
	    (c->nr_guests - i) * sizeof(c->guest[0]));
	memset(&c->guest[i], 0, sizeof(c->guest[i]));
	c->guest[i].domid = domid;
	c->nr_guests++;
	return &c->guest[i];
}

/* --- virtio-msg endpoints ------------------------------------------------ */

static bool vmsg_name_ok(const char *n)
{
	size_t len = strlen(n);

	if (len == 0 || len >= CONFIG_VMSG_NAME_MAX)
		return false;
	for (const char *s = n; *s != '\0'; s++)
		if (!(*s == '-' || *s == '_' || (*s >= 'a' && *s <= 'z') ||
		    (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9')))
			return false;
	return true;
}

static struct config_vmsg *vmsg_new(struct parse *p, const char *name)
{
	struct xvd_config *c = p->c;
	struct config_vmsg *v;

	if (!vmsg_name_ok(name)) {
		perr(p, "bad virtio-msg endpoint name '%s': 1..%u of A-Z a-z"
		    " 0-9 - _", name, CONFIG_VMSG_NAME_MAX - 1);
		return NULL;
	}
	for (unsigned i = 0; i < c->nr_vmsg; i++) {
		if (strcmp(c->vmsg[i].name, name) == 0) {
			perr(p, "duplicate section [vmsg %s]", name);
			return NULL;
		}
	}
	if (c->nr_vmsg == CONFIG_MAX_VMSG) {
		perr(p, "too many virtio-msg endpoints: at most %u",
		    CONFIG_MAX_VMSG);
		return NULL;
	}
	v = &c->vmsg[c->nr_vmsg++];
	memset(v, 0, sizeof(*v));
	snprintf(v->name, sizeof(v->name), "%s", name);
	v->bus = CONFIG_VMSG_SOCKET;
	v->line = p->line;
	return v;
}

static int vmsg_section(struct parse *p, const char *name)
{
	p->vm = vmsg_new(p, name);
	if (p->vm == NULL)
		return -1;
	p->scope = SC_VMSG;
	p->ds = NULL;
	p->type = -1;
	return 0;
}

static int set_vmsg_bus(struct parse *p, const char *v)
{
	unsigned b;

	if (parse_keyword(p, "bus", v, vmsg_bus_names,
	    ARRAY_SIZE(vmsg_bus_names), &b) < 0)
		return -1;
	p->vm->bus = (enum config_vmsg_bus)b;
	p->vm->set |= CONFIG_VMSG_SET_BUS;
	return 0;
}

static int set_vmsg_path(struct parse *p, const char *v)
{
	const struct xvd_config *c = p->c;

	if (v[0] != '/') {
		perr(p, "bad value '%s' for path: not an absolute path", v);
		return -1;
	}
	if (strlen(v) >= CONFIG_SUN_PATH_MAX) {
		perr(p, "path of %zu bytes out of range: at most %u",
		    strlen(v), CONFIG_SUN_PATH_MAX - 1);
		return -1;
	}
	for (unsigned i = 0; i < c->nr_vmsg; i++) {
		if (&c->vmsg[i] != p->vm && strcmp(c->vmsg[i].path, v) == 0) {
			perr(p, "path %s already used by [vmsg %s]", v,
			    c->vmsg[i].name);
			return -1;
		}
	}
	snprintf(p->vm->path, sizeof(p->vm->path), "%s", v);
	p->vm->set |= CONFIG_VMSG_SET_PATH;
	return 0;
}

static int set_vmsg_domain(struct parse *p, const char *v)
{
	unsigned long domid;

	if (parse_num(p, "domain", v, 0, CONFIG_DOMID_MAX, &domid) < 0)
		return -1;
	p->vm->domid = (uint32_t)domid;
	p->vm->set |= CONFIG_VMSG_SET_DOMAIN;
	return 0;
}

/* "blk, fs" or "blk fs": device types in bus order (dev_num 1, 2, ...). */
static int set_vmsg_devices(struct parse *p, const char *v)
{
	char buf[CONFIG_LINE_MAX + 1], *save = NULL;
	struct config_vmsg *vm = p->vm;

	snprintf(buf, sizeof(buf), "%s", v);
	vm->nr_devs = 0;
	for (char *tok = strtok_r(buf, ", \t", &save); tok != NULL;
	    tok = strtok_r(NULL, ", \t", &save)) {
		int t = type_index(tok);

		if (t < 0) {
			perr(p, "unknown device type '%s'", tok);
			return -1;
		}
		if (vm->nr_devs == CONFIG_VMSG_MAX_DEVS) {
			perr(p, "too many devices: at most %u on one bus",
			    CONFIG_VMSG_MAX_DEVS);
			return -1;
		}
		vm->dev_type[vm->nr_devs++] = (uint8_t)t;
	}
	if (vm->nr_devs == 0) {
		perr(p, "bad value '%s' for devices: no device type", v);
		return -1;
	}
	vm->set |= CONFIG_VMSG_SET_DEVICES;
	return 0;
}

/* Every endpoint needs path, domain and devices (bus defaults to socket). */
static int vmsg_check_all(struct parse *p)
{
	static const struct {
		unsigned bit;
		const char *key;
	} required[] = {
		{ CONFIG_VMSG_SET_PATH, "path" },
		{ CONFIG_VMSG_SET_DOMAIN, "domain" },
		{ CONFIG_VMSG_SET_DEVICES, "devices" },
	};

	for (unsigned i = 0; i < p->c->nr_vmsg; i++) {
		const struct config_vmsg *v = &p->c->vmsg[i];

		for (unsigned k = 0; k < ARRAY_SIZE(required); k++) {
			if (v->set & required[k].bit)
				continue;
			p->line = v->line;
			perr(p, "[vmsg %s] has no %s", v->name,
			    required[k].key);
			return -1;
		}
	}
	return 0;
}

int config_vmsg_add_arg(struct xvd_config *c, const char *arg, char *err,
    size_t errlen)
{
	char buf[CONFIG_LINE_MAX + 1], name[CONFIG_VMSG_NAME_MAX], *f[4];
	struct parse p = {
		.name = "--vmsg", .err = err, .errlen = errlen, .c = c,
		.scope = SC_VMSG, .type = -1,
	};
	char *s = buf;

	if (errlen > 0)
		err[0] = '\0';
	if (strlen(arg) > CONFIG_LINE_MAX) {
		perr(&p, "argument too long");
		return -EINVAL;
	}
	snprintf(buf, sizeof(buf), "%s", arg);
	for (unsigned i = 0; i < ARRAY_SIZE(f); i++) {
		char *colon = i + 1 < ARRAY_SIZE(f) ? strchr(s, ':') : NULL;

		if (i + 1 < ARRAY_SIZE(f) && colon == NULL) {
			perr(&p, "'%s': expected BUS:PATH:DOMID:TYPE[,TYPE...]",
			    arg);
			return -EINVAL;
		}
		f[i] = s;
		if (colon != NULL) {
			*colon = '\0';
			s = colon + 1;
		}
	}
	snprintf(name, sizeof(name), "cli%u", c->nr_vmsg + 1);
	p.vm = vmsg_new(&p, name);
	if (p.vm == NULL || set_vmsg_bus(&p, f[0]) < 0 ||
	    set_vmsg_path(&p, f[1]) < 0 || set_vmsg_domain(&p, f[2]) < 0 ||
	    set_vmsg_devices(&p, f[3]) < 0) {
		if (p.vm != NULL)
			c->nr_vmsg--;
		return -EINVAL;
	}
	return 0;
}

/* [device T], [guest D], [guest D T]; @s is past the '['. */
static int parse_section(struct parse *p, char *s)
{
	char *end = strchr(s, ']'), *w[4], *save = NULL;
	unsigned nr = 0;
	int t = -1;

	if (end == NULL) {
		perr(p, "syntax error: '[' without ']'");
		return -1;
	}
	*end = '\0';
	if (!rest_empty(end + 1)) {
		perr(p, "syntax error: text after ']'");
		return -1;
	}
	for (char *tok = strtok_r(s, " \t", &save); tok != NULL;
	    tok = strtok_r(NULL, " \t", &save)) {
		if (nr == ARRAY_SIZE(w)) {
			perr(p, "syntax error: section header of too many words");
			return -1;
		}
		w[nr++] = tok;
	}
	if (nr == 0) {
		perr(p, "syntax error: empty section header");
		return -1;
	}
	p->keys_seen = 0;

	if (strcmp(w[0], "device") == 0) {
		if (nr != 2) {
			perr(p, "syntax error: expected [device TYPE]");
			return -1;
		}
		t = type_index(w[1]);
		if (t < 0) {
			perr(p, "unknown device type '%s'", w[1]);
			return -1;
		}
		if (p->device_sections & (1u << t)) {
			perr(p, "duplicate section [device %s]", w[1]);
			return -1;
		}
		p->device_sections |= 1u << t;
		p->scope = SC_DEVICE;
		p->ds = &p->c->type[t];
		p->type = t;
		return 0;
	}
	if (strcmp(w[0], "guest") == 0) {
		struct config_guest *g;
		unsigned long domid;

		if (nr != 2 && nr != 3) {
			perr(p, "syntax error: expected [guest DOMID] or"
			    " [guest DOMID TYPE]");
			return -1;
		}
		if (parse_num(p, "guest", w[1], 0, CONFIG_DOMID_MAX, &domid) < 0)
			return -1;
		if (nr == 3) {
			t = type_index(w[2]);
			if (t < 0) {
				perr(p, "unknown device type '%s'", w[2]);
				return -1;
			}
		}
		g = guest_get(p, (uint32_t)domid);
		if (g == NULL)
			return -1;
		if (t < 0) {
			if (g->has_section) {
				perr(p, "duplicate section [guest %lu]", domid);
				return -1;
			}
			g->has_section = true;
			p->scope = SC_GUEST;
			p->ds = &g->all;
		} else {
			if (g->type_sections & (1u << t)) {
				perr(p, "duplicate section [guest %lu %s]", domid,
				    w[2]);
				return -1;
			}
			g->type_sections |= 1u << t;
			p->scope = SC_GUEST_DEV;
			p->ds = &g->type[t];
		}
		p->type = t;
		return 0;
	}
	if (strcmp(w[0], "vmsg") == 0) {
		if (nr != 2) {
			perr(p, "syntax error: expected [vmsg NAME]");
			return -1;
		}
		return vmsg_section(p, w[1]);
	}
	perr(p, "unknown section '%s': expected device, guest or vmsg", w[0]);
	return -1;
}

/* key = value, or key = "value"; @s is at the key. */
static int parse_assignment(struct parse *p, char *s)
{
	char *key = s, *v;
	unsigned k;

	while (*s == '-' || *s == '_' || (*s >= 'a' && *s <= 'z') ||
	    (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9'))
		s++;
	if (s == key || (!is_space(*s) && *s != '=')) {
		perr(p, "syntax error: expected 'key = value' or '[section]'");
		return -1;
	}
	v = skip_space(s);
	if (*v != '=') {
		perr(p, "syntax error: expected '=' after '%.*s'", (int)(s - key),
		    key);
		return -1;
	}
	*s = '\0';
	for (k = 0; k < ARRAY_SIZE(key_defs); k++)
		if (strcmp(key, key_defs[k].name) == 0)
			break;
	if (k == ARRAY_SIZE(key_defs)) {
		perr(p, "unknown key '%s'", key);
		return -1;
	}
	if (!(key_defs[k].scopes & p->scope)) {
		perr(p, "unknown key '%s' in this section: %s", key,
		    key_defs[k].scopes == SC_VMSG ?
		    "it belongs in a [vmsg NAME] section" :
		    p->scope == SC_VMSG ?
		    "a [vmsg] section takes bus, path, domain and devices" :
		    "it is a global setting, before the first section");
		return -1;
	}
	if (p->keys_seen & (1u << k)) {
		perr(p, "duplicate key '%s' in this section", key);
		return -1;
	}

	v = skip_space(v + 1);
	if (*v == '"') {
		char *q = strchr(++v, '"');

		if (q == NULL) {
			perr(p, "syntax error: unterminated quoted value");
			return -1;
		}
		*q = '\0';
		if (!rest_empty(q + 1)) {
			perr(p, "syntax error: text after the quoted value");
			return -1;
		}
	} else {
		char *e = strchr(v, '#');

		if (e == NULL)
			e = v + strlen(v);
		while (e > v && is_space(e[-1]))
			e--;
		*e = '\0';
		if (*v == '\0') {
			perr(p, "bad value '' for %s: missing value", key);
			return -1;
		}
		if (strchr(v, '"') != NULL) {
			perr(p, "syntax error: '\"' inside an unquoted value");
			return -1;
		}
	}
	if (key_defs[k].set(p, v) < 0)
		return -1;
	p->keys_seen |= 1u << k;
	return 0;
}

static int parse_line(struct parse *p, const char *text, size_t len)
{
	char buf[CONFIG_LINE_MAX + 1], *s;

	if (len > CONFIG_LINE_MAX) {
		perr(p, "syntax error: line longer than %u bytes",
		    CONFIG_LINE_MAX);
		return -1;
	}
	memcpy(buf, text, len);
	buf[len] = '\0';
	for (size_t i = 0; i < len; i++) {
		if ((unsigned char)buf[i] < ' ' && buf[i] != '\t' &&
		    buf[i] != '\r') {
			perr(p, "syntax error: control character 0x%02x",
			    (unsigned char)buf[i]);
			return -1;
		}
	}
	s = skip_space(buf);
	if (*s == '\0' || *s == '#')
		return 0;
	if (*s == '[')
		return parse_section(p, s + 1);
	return parse_assignment(p, s);
}

void config_defaults(struct xvd_config *out)
{
	memset(out, 0, sizeof(*out));
	snprintf(out->socket_dir, sizeof(out->socket_dir), "%s",
	    CONFIG_DEFAULT_DIR);
	out->log_level = CONFIG_LOG_INFO;
	out->connect_timeout_ms = 10000;
	out->reply_timeout_ms = 5000;
	/* Why 8 MiB: 32 requests of 128 KiB in flight on two queues. */
	out->shadow_mem_mib = 8;
	out->foreign_mapping = false;
	out->global.set = CONFIG_SET_SOCKET | CONFIG_SET_MODE | CONFIG_SET_MEMORY;
	snprintf(out->global.socket, sizeof(out->global.socket), "%s",
	    CONFIG_DEFAULT_SOCKET);
	out->global.mode = CONFIG_MODE_CLIENT;
	out->global.memory = CONFIG_MEM_AUTO;
	while (out->nr_types < CONFIG_MAX_TYPES &&
	    devtab_at(out->nr_types) != NULL)
		out->nr_types++;
}

int config_parse_string(const char *text, const char *name,
    struct xvd_config *out, char *err, size_t errlen)
{
	struct parse p = {
		.name = name != NULL ? name : "(string)",
		.err = err,
		.errlen = errlen,
		.scope = SC_GLOBAL,
		.type = -1,
	};
	struct xvd_config *c;
	int rc = 0;

	if (errlen > 0)
		err[0] = '\0';
	if (text == NULL || out == NULL)
		return -EINVAL;
	c = malloc(sizeof(*c));
	if (c == NULL) {
		if (errlen > 0)
			snprintf(err, errlen, "%s: out of memory", p.name);
		return -ENOMEM;
	}
	config_defaults(c);
	p.c = c;
	p.ds = &c->global;
	while (*text != '\0') {
		const char *nl = strchr(text, '\n');
		size_t len = nl != NULL ? (size_t)(nl - text) : strlen(text);

		p.line++;
		if (parse_line(&p, text, len) < 0) {
			rc = -EINVAL;
			break;
		}
		text += len + (nl != NULL);
	}
	if (rc == 0 && vmsg_check_all(&p) < 0)
		rc = -EINVAL;
	if (rc == 0)
		memcpy(out, c, sizeof(*c));
	free(c);
	return rc;
}

int config_parse_file(const char *path, struct xvd_config *out, char *err,
    size_t errlen)
{
	char *text = NULL;
	size_t len = 0;
	int fd, rc;

	if (errlen > 0)
		err[0] = '\0';
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		goto fail_errno;
	}
	text = malloc(CONFIG_FILE_MAX + 1);
	if (text == NULL) {
		rc = -ENOMEM;
		goto fail_errno;
	}
	for (;;) {
		ssize_t n = read(fd, text + len, CONFIG_FILE_MAX + 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			goto fail_errno;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > CONFIG_FILE_MAX) {
			if (errlen > 0)
				snprintf(err, errlen, "%s: larger than %u bytes",
				    path, CONFIG_FILE_MAX);
			rc = -EFBIG;
			goto out;
		}
	}
	text[len] = '\0';
	if (strlen(text) != len) {
		unsigned line = 1;

		for (const char *s = text; *s != '\0'; s++)
			line += *s == '\n';
		if (errlen > 0)
			snprintf(err, errlen, "%s:%u: syntax error: NUL byte",
			    path, line);
		rc = -EINVAL;
		goto out;
	}
	rc = config_parse_string(text, path, out, err, errlen);
	goto out;
fail_errno:
	if (errlen > 0)
		snprintf(err, errlen, "%s: %s", path, strerror(-rc));
out:
	free(text);
	if (fd >= 0)
		close(fd);
	return rc;
}

/* --- resolution and printing -------------------------------------------- */

static const struct config_guest *guest_find(const struct xvd_config *c,
    uint32_t domid)
{
	for (unsigned i = 0; i < c->nr_guests; i++)
		if (c->guest[i].domid == domid)
			return &c->guest[i];
	return NULL;
}

static void devset_apply(const struct config_devset *ds, const char **sock,
    enum config_mode *mode, enum config_mem *mem)
{
	if (ds->set & CONFIG_SET_SOCKET)
		*sock = ds->socket;
	if (ds->set & CONFIG_SET_MODE)
		*mode = ds->mode;
	if (ds->set & CONFIG_SET_MEMORY)
		*mem = ds->memory;
}

void config_device(const struct xvd_config *c, uint32_t domid,
    const char *type, struct config_dev_eff *out)
{
	const struct config_guest *g = guest_find(c, domid);
	const char *sock = c->global.socket;
	int t;

	if (type == NULL)
		type = "";
	t = type_index(type);
	out->mode = c->global.mode;
	out->memory = c->global.memory;
	if (t >= 0 && (unsigned)t < c->nr_types)
		devset_apply(&c->type[t], &sock, &out->mode, &out->memory);
	else
		t = -1;
	if (g != NULL) {
		devset_apply(&g->all, &sock, &out->mode, &out->memory);
		if (t >= 0)
			devset_apply(&g->type[t], &sock, &out->mode,
			    &out->memory);
	}
	pattern_subst_type(sock, type, out->socket, sizeof(out->socket));
}

static void devset_print(const struct config_devset *ds, const char *type,
    FILE *f)
{
	if (ds->set & CONFIG_SET_SOCKET) {
		char eff[CONFIG_EFF_PATTERN_MAX];

		if (type != NULL)
			pattern_subst_type(ds->socket, type, eff, sizeof(eff));
		fprintf(f, "socket = \"%s\"\n", type != NULL ? eff : ds->socket);
	}
	if (ds->set & CONFIG_SET_MODE)
		fprintf(f, "mode = %s\n", config_mode_name(ds->mode));
	if (ds->set & CONFIG_SET_MEMORY)
		fprintf(f, "memory = %s\n", config_mem_name(ds->memory));
}

void config_print(const struct xvd_config *c, FILE *f)
{
	fprintf(f, "socket-dir = \"%s\"\n", c->socket_dir);
	fprintf(f, "log-level = %s\n", config_log_level_name(c->log_level));
	fprintf(f, "connect-timeout = %d\n", c->connect_timeout_ms);
	fprintf(f, "reply-timeout = %d\n", c->reply_timeout_ms);
	fprintf(f, "shadow-mem = %u\n", c->shadow_mem_mib);
	fprintf(f, "foreign-mapping = %s\n", c->foreign_mapping ? "yes" : "no");
	devset_print(&c->global, NULL, f);

	/* Every type with its effective settings: what a guest inherits. */
	for (unsigned i = 0; i < c->nr_types; i++) {
		struct config_devset ds = c->global;
		const char *sock = c->global.socket;

		devset_apply(&c->type[i], &sock, &ds.mode, &ds.memory);
		snprintf(ds.socket, sizeof(ds.socket), "%s", sock);
		fprintf(f, "\n[device %s]\n", devtab_at(i)->name);
		devset_print(&ds, devtab_at(i)->name, f);
	}
	/* Guests: only what they override. */
	for (unsigned i = 0; i < c->nr_guests; i++) {
		const struct config_guest *g = &c->guest[i];

		if (g->has_section) {
			fprintf(f, "\n[guest %u]\n", (unsigned)g->domid);
			devset_print(&g->all, NULL, f);
		}
		for (unsigned t = 0; t < c->nr_types; t++) {
			if (!(g->type_sections & (1u << t)))
				continue;
			fprintf(f, "\n[guest %u %s]\n", (unsigned)g->domid,
			    devtab_at(t)->name);
			devset_print(&g->type[t], devtab_at(t)->name, f);
		}
	}
	for (unsigned i = 0; i < c->nr_vmsg; i++) {
		const struct config_vmsg *v = &c->vmsg[i];

		fprintf(f, "\n[vmsg %s]\n", v->name);
		fprintf(f, "bus = %s\n", config_vmsg_bus_name(v->bus));
		fprintf(f, "path = \"%s\"\n", v->path);
		fprintf(f, "domain = %u\n", (unsigned)v->domid);
		fprintf(f, "devices =");
		for (unsigned d = 0; d < v->nr_devs; d++)
			fprintf(f, "%s %s", d == 0 ? "" : ",",
			    devtab_at(v->dev_type[d])->name);
		fprintf(f, "\n");
	}
}
