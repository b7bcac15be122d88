/*
 * tap.h: a tiny TAP emitter for the C unit tests (after git's
 * t/unit-tests/test-lib.h).  Each check prints "ok N - what" or "not ok N";
 * done_testing() prints the plan and returns the exit status (non-zero when
 * anything failed), so `return done_testing();` ends every test's main().
 *
 * Also: tmp_path() names a scratch file under tests/tmp/ unique to this test.
 */
#ifndef HM_TAP_H
#define HM_TAP_H

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int tap_n, tap_failed;

static inline int ok(int cond, const char *fmt, ...)
{
	va_list ap;
	tap_n++;
	printf("%s %d - ", cond ? "ok" : "not ok", tap_n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	if (!cond)
		tap_failed++;
	return cond;
}

/* A check that cannot run here: "ok N # skip WHY" (TAP counts it as run). */
static inline void skip(const char *why)
{
	printf("ok %d # skip %s\n", ++tap_n, why);
	fflush(stdout);
}

static inline void diag(const char *fmt, ...)
{
	va_list ap;
	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

#define is_int(got, want, ...)                                              \
	do {                                                                \
		long long g_ = (long long)(got), w_ = (long long)(want);    \
		if (!ok(g_ == w_, __VA_ARGS__))                             \
			diag("  got %lld, want %lld", g_, w_);             \
	} while (0)

#define is_str(got, want, ...)                                              \
	do {                                                                \
		const char *g_ = (got), *w_ = (want);                       \
		if (!ok(g_ && w_ && !strcmp(g_, w_), __VA_ARGS__))          \
			diag("  got '%s', want '%s'", g_ ? g_ : "(null)",  \
			     w_ ? w_ : "(null)");                           \
	} while (0)

/* |got - want| <= tol */
#define is_near(got, want, tol, ...)                                        \
	do {                                                                \
		double g_ = (got), w_ = (want);                             \
		if (!ok(fabs(g_ - w_) <= (tol), __VA_ARGS__))               \
			diag("  got %.9g, want %.9g (tol %g)", g_, w_,     \
			     (double)(tol));                                \
	} while (0)

/* The message contains SUB. */
#define like(msg, sub, ...)                                                 \
	do {                                                                \
		const char *m_ = (msg);                                     \
		if (!ok(m_ && strstr(m_, (sub)) != NULL, __VA_ARGS__))      \
			diag("  message '%s' lacks '%s'", m_ ? m_ : "", (sub)); \
	} while (0)

static inline int done_testing(void)
{
	printf("1..%d\n", tap_n);
	return tap_failed ? 1 : 0;
}

/* "tests/tmp/<prog>-<pid>-<name>"; the directory is created on first use. */
static inline const char *tmp_path(const char *name)
{
	static char buf[8][512];
	static int next;
	char *p = buf[next++ % 8];
	mkdir("tests/tmp", 0777);
	snprintf(p, 512, "tests/tmp/u%ld-%s", (long)getpid(), name);
	return p;
}

#endif
