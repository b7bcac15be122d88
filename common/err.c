#include "err.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MSG_MAX 1024

static _Thread_local char msg[MSG_MAX];
static const char *progname = "hm";
static void (*die_hook)(void);

/* Messages are one line whatever the input quoted in them holds (a key or
 * a field with a CR, LF or other control byte): those become '?'. */
static void one_line(char *s)
{
	for (; *s; s++)
		if (((unsigned char)*s < 0x20 && *s != '\t') || *s == 0x7f)
			*s = '?';
}

int hm_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	one_line(msg);
	return -1;
}

int hm_error_file(const char *file, const char *fmt, ...)
{
	char tail[MSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(tail, sizeof tail, fmt, ap);
	va_end(ap);
	snprintf(msg, sizeof msg, "'%s': %s", file ? file : "-", tail);
	one_line(msg);
	return -1;
}

int hm_error_prefix(const char *fmt, ...)
{
	char head[MSG_MAX], old[MSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(head, sizeof head, fmt, ap);
	va_end(ap);
	memcpy(old, msg, sizeof old);
	snprintf(msg, sizeof msg, "%s: %s", head, old);
	one_line(msg);
	return -1;
}

const char *hm_errmsg(void)
{
	return msg;
}

void hm_set_progname(const char *argv0)
{
	const char *slash = strrchr(argv0, '/');
	progname = slash ? slash + 1 : argv0;
}

const char *hm_progname(void)
{
	return progname;
}

void hm_at_die(void (*fn)(void))
{
	die_hook = fn;
}

static void vreport(const char *fmt, va_list ap)
{
	char line[MSG_MAX];
	vsnprintf(line, sizeof line, fmt, ap);
	fprintf(stderr, "%s: %s\n", progname, line);
}

void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vreport(fmt, ap);
	va_end(ap);
	if (die_hook)
		die_hook();
	exit(HM_EXIT_DATA);
}

void die_usage(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vreport(fmt, ap);
	va_end(ap);
	fprintf(stderr, "Try '%s --help' for more information.\n", progname);
	exit(HM_EXIT_USAGE);
}

void warn(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vreport(fmt, ap);
	va_end(ap);
}

static void *checked(void *p, size_t n)
{
	if (!p && n)
		die("out of memory allocating %zu bytes", n);
	return p;
}

void *xmalloc(size_t n)
{
	return checked(malloc(n ? n : 1), n);
}

void *xcalloc(size_t n, size_t size)
{
	return checked(calloc(n ? n : 1, size ? size : 1), n * size);
}

void *xrealloc(void *p, size_t n)
{
	return checked(realloc(p, n ? n : 1), n);
}

char *xstrdup(const char *s)
{
	return checked(strdup(s), strlen(s) + 1);
}
