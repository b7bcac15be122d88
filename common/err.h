/*
 * err: error messages and exit codes for the whole suite.
 *
 * Library code (common/) never prints and never exits: a failing function
 * records one message with hm_error() and returns -1 (or NULL).  The message
 * is kept per thread, so worker threads can fail independently.  Tools read
 * it back with hm_errmsg() and decide: usually die("%s", hm_errmsg()).
 *
 * Messages follow one shape, the subject first and quoted, lower case, no
 * full stop:  'lfw.hmr': record 17: CRC mismatch
 * Tools prefix their name:  hm-pack: 'lfw.hmr': record 17: CRC mismatch
 *
 * Exit codes are interface: 0 success, 1 bad data or failed I/O, 2 usage.
 */
#ifndef HM_ERR_H
#define HM_ERR_H

#include <stddef.h>

enum { HM_EXIT_OK = 0, HM_EXIT_DATA = 1, HM_EXIT_USAGE = 2 };

#define HM_VERSION "0.1.0"

#if defined(__GNUC__)
#define HM_PRINTF(a, b) __attribute__((format(printf, a, b)))
#define HM_NORETURN __attribute__((noreturn))
#else
#define HM_PRINTF(a, b)
#define HM_NORETURN
#endif

/* Records a message for this thread; always returns -1. */
int hm_error(const char *fmt, ...) HM_PRINTF(1, 2);
/* Records "'file': message"; always returns -1. */
int hm_error_file(const char *file, const char *fmt, ...) HM_PRINTF(2, 3);
/* Prepends "prefix: " to this thread's message; returns -1. */
int hm_error_prefix(const char *fmt, ...) HM_PRINTF(1, 2);
/* The last message recorded by this thread ("" if none). */
const char *hm_errmsg(void);

/* --- for tools only (print and exit) --- */

/* Sets the name used in messages (basename of argv0). */
void hm_set_progname(const char *argv0);
const char *hm_progname(void);
/* "prog: message" on stderr, then exit(1).  Removes registered temp files. */
void die(const char *fmt, ...) HM_PRINTF(1, 2) HM_NORETURN;
/* "prog: message" plus a hint to --help, then exit(2). */
void die_usage(const char *fmt, ...) HM_PRINTF(1, 2) HM_NORETURN;
/* "prog: message" on stderr; returns nothing. */
void warn(const char *fmt, ...) HM_PRINTF(1, 2);

/* Allocation that cannot fail (dies with a message). Tools and tests only. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);

/* Called by die() before exiting; outfile uses it to remove temp files. */
void hm_at_die(void (*fn)(void));

#endif
