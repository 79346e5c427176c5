/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sg_log.h"

static int debug_on = -1;	/* -1: not decided yet, read SG_DEBUG */

__attribute__((format(printf, 1, 0)))
static void vlog(const char *fmt, va_list ap, int err)
{
	char buf[512];

	vsnprintf(buf, sizeof(buf), fmt, ap);
	if (err != 0)
		fprintf(stderr, "simguest: %s: %s\n", buf, strerror(-err));
	else
		fprintf(stderr, "simguest: %s\n", buf);
}

void sg_errx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(fmt, ap, 0);
	va_end(ap);
}

int sg_err(int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(fmt, ap, err);
	va_end(ap);
	return err;
}

void sg_log_set_debug(bool on)
{
	debug_on = on;
}

void sg_debug(const char *fmt, ...)
{
	va_list ap;

	if (debug_on < 0) {
		const char *e = getenv("SG_DEBUG");

		debug_on = e != NULL && *e != '\0' && strcmp(e, "0") != 0;
	}
	if (!debug_on)
		return;
	va_start(ap, fmt);
	fputs("simguest: debug: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}
