/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * sdnotify: the sd_notify(3) datagram protocol without libsystemd. Sends
 * to $NOTIFY_SOCKET (a path, or "@name" for the abstract namespace); each
 * call is a no-op returning 0 when it is unset or empty.
 * Each returns 0 or a negative errno (-EAFNOSUPPORT for an address that is
 * neither; -ENAMETOOLONG when it does not fit sun_path).
 */
#ifndef XVD_SDNOTIFY_H
#define XVD_SDNOTIFY_H

/* "READY=1": startup finished (Type=notify). */
int sdnotify_ready(void);
/*
 * "STATUS=...": a one-line status for systemctl status. Newlines in the
 * text become blanks, so it can never carry another assignment; it is cut
 * at SDNOTIFY_STATUS_MAX bytes.
 */
int sdnotify_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "STOPPING=1": shutdown started. */
int sdnotify_stopping(void);

/* Why 256: a status line, not a log; journald shows it in one line. */
#define SDNOTIFY_STATUS_MAX 256

#endif
