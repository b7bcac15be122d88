/*
 * cli: the option helpers every tool shares (tools only: these die on bad
 * input with exit 2, as a usage error should).
 */
#ifndef HM_CLI_H
#define HM_CLI_H

#include "err.h"

#include <stdio.h>

/* Integer option value in [lo, hi]; "--OPT: 'x' is not an integer in lo..hi". */
long cli_long(const char *opt, const char *arg, long lo, long hi);
/* Floating-point option value in [lo, hi]. */
double cli_double(const char *opt, const char *arg, double lo, double hi);
/* Thread count: ARG if given, else $HM_THREADS, else the number of online cores. */
int cli_threads(const char *arg);
/* Prints "PROG (hm suite) VERSION" and exits 0. */
void cli_version(void) HM_NORETURN;
/* Prints TEXT (the tool's usage) and exits 0.  Both exit 1 with
 * "write error" when stdout does not take the text (--help >/dev/full). */
void cli_help(const char *text) HM_NORETURN;
/* Opens an input ("-" or NULL = stdin); dies with "'path': cannot open: ...". */
FILE *cli_open_input(const char *path);
/* Whether progress goes to stderr: FORCE (--progress) or stderr is a tty, and not QUIET. */
int cli_want_progress(int force, int quiet);

#endif
