/*
 * fz: helpers shared by the libFuzzer targets fuzz/fz-NAME.c (make fuzz,
 * mk/fuzz.mk).  Each target feeds its input through one parser's real entry
 * point and checks the contract that parser's header states: success gives
 * sane values, failure records one non-empty, one-line message.  A broken
 * contract aborts, which libFuzzer reports as a crash.
 *
 * The targets are also compiled into the normal build by
 * tests/unit/t-fuzz.c (which renames LLVMFuzzerTestOneInput before including
 * each one), so every committed corpus file and regression input is replayed
 * by make check without clang.  Hence: static names unique per target, and
 * only this header shared.
 */
#ifndef HM_FZ_H
#define HM_FZ_H

#include "err.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FZ_CHECK(cond)                                                        \
	do {                                                                  \
		if (!(cond)) {                                                \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, \
				__LINE__, #cond);                             \
			abort();                                              \
		}                                                             \
	} while (0)

/* After a parser returned -1: the message must exist and be one line. */
static inline void fz_check_error(void)
{
	const char *m = hm_errmsg();
	if (!m[0] || strchr(m, '\n') || strchr(m, '\r')) {
		fprintf(stderr, "bad error message: \"%s\"\n", m);
		abort();
	}
}

/* A stdio stream reading the N bytes at DATA (no copy; fclose() it). */
static inline FILE *fz_memfile(const uint8_t *data, size_t n)
{
	FILE *fp = n ? fmemopen((void *)data, n, "rb") : fopen("/dev/null", "rb");
	FZ_CHECK(fp != NULL);
	return fp;
}

/* Writes the bytes to a file private to this process (in /dev/shm when
 * there is one) and returns its path, valid until the next call.  For
 * parsers that take a path or need a regular file. */
static inline const char *fz_tmpfile(const uint8_t *data, size_t n, const char *ext)
{
	static char path[256];
	const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
	snprintf(path, sizeof path, "%s/hm-fz-%ld%s", dir, (long)getpid(), ext);
	FILE *fp = fopen(path, "wb");
	FZ_CHECK(fp != NULL);
	FZ_CHECK(fwrite(data, 1, n, fp) == n);
	FZ_CHECK(fclose(fp) == 0);
	return path;
}

static inline void fz_unlink(const char *path)
{
	unlink(path);
}

#endif
