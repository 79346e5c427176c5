/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * config: the xen-vhostd.conf(5) parser. Produces an immutable struct of
 * fixed-size arrays (no pointer into the input); config_print() writes the
 * effective configuration in the same syntax (what `xen-vhostd -n` prints).
 * Independent of device.h and log.h: it has its own enums, the caller maps
 * them.
 */
#ifndef XVD_CONFIG_H
#define XVD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum config_log_level {
	CONFIG_LOG_ERR,
	CONFIG_LOG_WARN,
	CONFIG_LOG_INFO,
	CONFIG_LOG_DEBUG,
};

/* How the back-end reaches guest memory (like --memory). */
enum config_mem {
	CONFIG_MEM_AUTO,
	CONFIG_MEM_XEN_MMAP,
	CONFIG_MEM_SHADOW,
};

/* Who connects: client = xen-vhostd connects to a listening back-end. */
enum config_mode {
	CONFIG_MODE_CLIENT,
	CONFIG_MODE_SERVER,
};

/* Why 108: sizeof(sockaddr_un.sun_path); a socket path must fit it. */
#define CONFIG_SUN_PATH_MAX 108u
/* socket-dir, bytes with the NUL; at most CONFIG_SUN_PATH_MAX - 3. */
#define CONFIG_DIR_MAX CONFIG_SUN_PATH_MAX
/* A socket name pattern as written, bytes with the NUL. */
#define CONFIG_PATTERN_MAX 64u
/* An expanded socket name (no directory), bytes with the NUL. */
#define CONFIG_SOCKET_NAME_MAX 64u
/*
 * A pattern with %t expanded (config_dev_eff.socket). Each remaining
 * escape (%n, %d, %%) shrinks by at most one byte on expansion, so twice
 * the expanded name limit always holds it.
 */
#define CONFIG_EFF_PATTERN_MAX (2u * CONFIG_SOCKET_NAME_MAX)
/* Why 32: room for the device table to double; checked by test_config. */
#define CONFIG_MAX_TYPES 32u
/* Why 64: per-guest overrides are exceptions; the struct stays ~100 KiB. */
#define CONFIG_MAX_GUESTS 64u
/* Xen's DOMID_FIRST_RESERVED - 1: the highest ordinary domain id. */
#define CONFIG_DOMID_MAX 0x7fefu
/* Why one hour: larger is a typo, and ms stay far from int overflow. */
#define CONFIG_TIMEOUT_MAX_MS 3600000
/* Same bound as --shadow-mem: a bound, not a need (memfds are sparse). */
#define CONFIG_SHADOW_MIB_MAX 4096u

/* Why 8: one bus per guest is the rule; a few spare for tests. */
#define CONFIG_MAX_VMSG 8u
/* An endpoint name as in [vmsg NAME], bytes with the NUL. */
#define CONFIG_VMSG_NAME_MAX 32u
/* Devices on one virtio-msg bus (VMSGEP_MAX_DEVS). */
#define CONFIG_VMSG_MAX_DEVS 8u

/* Which bus a virtio-msg endpoint uses. */
enum config_vmsg_bus {
	CONFIG_VMSG_SOCKET,	/* listening Unix SOCK_SEQPACKET socket */
	CONFIG_VMSG_CHARDEV,	/* /dev/virtio-msg-N (FF-A) */
};

/* [vmsg NAME], or --vmsg BUS:PATH:DOMID:TYPE[,TYPE...] */
struct config_vmsg {
	char name[CONFIG_VMSG_NAME_MAX];
	enum config_vmsg_bus bus;
	char path[CONFIG_SUN_PATH_MAX];
	uint32_t domid;
	unsigned nr_devs;
	uint8_t dev_type[CONFIG_VMSG_MAX_DEVS];	/* devtab index, bus order */
	unsigned line;			/* of the section header (messages) */
	unsigned set;			/* CONFIG_VMSG_SET_* seen */
};
#define CONFIG_VMSG_SET_BUS 0x1u
#define CONFIG_VMSG_SET_PATH 0x2u
#define CONFIG_VMSG_SET_DOMAIN 0x4u
#define CONFIG_VMSG_SET_DEVICES 0x8u

/* Which fields of a struct config_devset a section set. */
#define CONFIG_SET_SOCKET 0x1u
#define CONFIG_SET_MODE 0x2u
#define CONFIG_SET_MEMORY 0x4u

/* The per-device settings of one level (global, type, guest, guest+type). */
struct config_devset {
	unsigned set;			/* CONFIG_SET_*; all at the global level */
	char socket[CONFIG_PATTERN_MAX];	/* pattern as written */
	enum config_mode mode;
	enum config_mem memory;
};

struct config_guest {
	uint32_t domid;
	bool has_section;		/* [guest D] present (not only [guest D T]) */
	uint32_t type_sections;		/* bit i: [guest D <devtab_at(i)>] present */
	struct config_devset all;	/* [guest D] */
	struct config_devset type[CONFIG_MAX_TYPES];	/* by devtab index */
};

struct xvd_config {
	char socket_dir[CONFIG_DIR_MAX];
	enum config_log_level log_level;
	int connect_timeout_ms;
	int reply_timeout_ms;
	unsigned shadow_mem_mib;
	bool foreign_mapping;
	struct config_devset global;	/* every field set */
	unsigned nr_types;		/* devtab entries, <= CONFIG_MAX_TYPES */
	struct config_devset type[CONFIG_MAX_TYPES];	/* [device T], by devtab index */
	unsigned nr_guests;
	struct config_guest guest[CONFIG_MAX_GUESTS];	/* sorted by domid */
	unsigned nr_vmsg;
	struct config_vmsg vmsg[CONFIG_MAX_VMSG];	/* in file order */
};

/* The effective settings of one device: guest+type > guest > type > global. */
struct config_dev_eff {
	/* Pattern with %t expanded; give it to config_socket_name(). */
	char socket[CONFIG_EFF_PATTERN_MAX];
	enum config_mode mode;
	enum config_mem memory;
};

/* Every key the parser knows, NULL-terminated (the man page test uses it). */
extern const char *const config_keys[];

/* The configuration of an empty file. */
void config_defaults(struct xvd_config *out);

/*
 * config_parse_string - parse @text (NUL-terminated), @name naming it in
 * messages. Returns 0, or -EINVAL with "NAME:LINE: message" in @err (always
 * NUL-terminated when @errlen > 0). *out is written only on success.
 */
int config_parse_string(const char *text, const char *name,
    struct xvd_config *out, char *err, size_t errlen);
/*
 * config_parse_file - read and parse @path. Returns 0, -EINVAL for a parse
 * error ("PATH:LINE: message"), or -errno when it cannot be read
 * ("PATH: reason"). *out is written only on success.
 */
int config_parse_file(const char *path, struct xvd_config *out, char *err,
    size_t errlen);

/* The effective configuration, in config syntax, every setting, stable order. */
void config_print(const struct xvd_config *c, FILE *f);

/*
 * config_device - the effective settings of the @type device of guest
 * @domid. A @type not in the device table gets the global and guest-wide
 * settings only.
 */
void config_device(const struct xvd_config *c, uint32_t domid,
    const char *type, struct config_dev_eff *out);

/*
 * config_socket_name - expand @pattern: %n = @slot, %d = @domid, %% = '%'.
 * Returns 0; -EINVAL for an empty pattern, '/', "..", a space, control or
 * non-ASCII byte, an unknown or dangling escape (%t included: config_device
 * expands it), or a result of "."; -ENAMETOOLONG when the result and its
 * NUL do not fit @len. The parser has checked that every configured pattern
 * fits CONFIG_SOCKET_NAME_MAX for any slot and domid.
 */
int config_socket_name(const char *pattern, unsigned slot, uint32_t domid,
    char *buf, size_t len);

/*
 * config_vmsg_add_arg - add the endpoint of a --vmsg argument,
 * "BUS:PATH:DOMID:TYPE[,TYPE...]" (named "cliN"), checked as a [vmsg]
 * section is. Returns 0, or -EINVAL with a message in @err.
 */
int config_vmsg_add_arg(struct xvd_config *c, const char *arg, char *err,
    size_t errlen);

const char *config_vmsg_bus_name(enum config_vmsg_bus b);
const char *config_log_level_name(enum config_log_level l);
const char *config_mem_name(enum config_mem m);
const char *config_mode_name(enum config_mode m);

#endif
