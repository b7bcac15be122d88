/*
 * util: small helpers any module may use (foundation layer: includes only
 * err.h and the C library).  Whole-file reads, the FNV-1a hash, path
 * joining, formatted strings and checked writes, a replaying stream, a
 * string table, a growing array.
 *
 * Functions that fail record a message (err.h) and return -1 or NULL.
 */
#ifndef HM_UTIL_H
#define HM_UTIL_H

#include "err.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/*
 * Reads FP to its end into memory: *BUF (malloc'd, the caller frees it)
 * holds the *N bytes read and one '\0' after them, so a text can be
 * walked as a string.  More than MAX bytes is an error.  Returns 0, or -1
 * with "'NAME': larger than M MiB", "'NAME': read error: ..." or "out of
 * memory" recorded (*BUF NULL).  FP stays open.
 */
int stream_read_all(FILE *fp, const char *name, size_t max, unsigned char **buf,
		    size_t *n);
/* The file PATH whole, as stream_read_all() with a limit of 64 MiB (an
 * image, a list); also "'PATH': cannot open: ...". */
int file_read_all(const char *path, unsigned char **buf, size_t *n);

/* Grows the array *P (elements of SIZE bytes, capacity *CAP elements,
 * doubled from 64) to hold NEED elements.  0, or -1 with "out of memory
 * (N bytes)" recorded (*P and *CAP unchanged). */
int buf_reserve(void **p, size_t *cap, size_t need, size_t size);

/* 64-bit FNV-1a of a string. */
uint64_t fnv1a_str(const char *s);

/* fprintf() to FP: 0, or -1 with "write error: REASON" recorded. */
int write_fmt(FILE *fp, const char *fmt, ...) HM_PRINTF(2, 3);
/* Records "write error: REASON" (errno's, else EIO's); returns -1. */
int write_error(void);

/*
 * A stream that gives the N bytes at HEAD (copied), then the rest of FP:
 * an input whose first bytes were read to tell its format, a pipe
 * included, can still be read whole by a parser that wants its start.
 * fclose() on it closes FP too when CLOSE_FP (never stdin).  NULL with
 * "out of memory" recorded on failure (FP left as it is).
 */
FILE *replay_open(FILE *fp, const void *head, size_t n, int close_fp);

/* "DIR/NAME" (just NAME when DIR is ""), malloc'd; NULL out of memory. */
char *path_join(const char *dir, const char *name);
/* A malloc'd string formatted as printf would; NULL out of memory. */
char *str_printf(const char *fmt, ...) HM_PRINTF(1, 2);

/*
 * A table of strings numbered 0, 1, ... in the order added: open
 * addressing with linear probing on FNV-1a, at most half full.  It keeps
 * the caller's pointers, not copies: the strings must stay in place and
 * unchanged while the table lives.  Start from a zeroed struct; a failing
 * call records "out of memory".
 */
struct strtab {
	const char **key;	/* key[i]: string number i */
	long n, cap;
	long *slot;		/* string number + 1, 0 = empty */
	long n_slot;		/* a power of two, or 0 */
};

/* The number of KEY, or -1 when absent. */
long strtab_find(const struct strtab *t, const char *key);
/* The number of KEY, adding it when absent (*ADDED, if not NULL, says
 * which); -1 out of memory. */
long strtab_add(struct strtab *t, const char *key, int *added);
/* Frees the table (not the strings) and zeroes it. */
void strtab_free(struct strtab *t);

#endif
