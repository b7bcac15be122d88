/*
 * cli: the skeleton every tool shares (tools only: these die on bad input
 * with exit 2, as a usage error should, and on a failed stdout with 1).
 *
 * A tool's parse_args() loops on cli_next() over its own options; the
 * common ones (-h, --help, --version, and as the tool chooses -j,
 * --threads, --progress, -q, --quiet, -v, --verbose) are handled there, and
 * so is every unknown option or missing value, in one form:
 *   hm-X: unknown option '--bogus'
 *   Try 'hm-X --help' for more information.
 */
#ifndef HM_CLI_H
#define HM_CLI_H

#include "err.h"

#include <getopt.h>
#include <stdio.h>

/* The common options a tool takes besides -h, --help and --version. */
enum {
	CLI_THREADS = 1,	/* -j, --threads N */
	CLI_PROGRESS = 2,	/* --progress, -q, --quiet */
	CLI_VERBOSE = 4,	/* -v, --verbose */
};

struct cli {
	/* the tool's */
	const char *usage;		/* the --help text */
	const char *shorts;		/* its short options, getopt style ("o:b:"), or NULL */
	const struct option *longs;	/* its long options, a zeroed one last */
	unsigned common;		/* CLI_THREADS | CLI_PROGRESS | CLI_VERBOSE */
	/* the common options given */
	const char *threads;		/* -j's value (for cli_threads), or NULL */
	int progress, quiet, verbose;
	/* cli_next()'s */
	struct option *all;
	char *optstring;
};

/*
 * The tool's next option, as getopt_long() returns it (optarg set), or -1
 * after the last one (then optind is the first operand).  Handles the
 * common options: --help and --version print and exit, the others are
 * recorded in C.  An unknown option, or one missing its value or given one
 * it does not take, is a usage error.
 */
int cli_next(struct cli *c, int argc, char **argv);

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
/*
 * Ends what a tool wrote to stdout: flushes and closes it.  A reader that
 * went away (EPIPE, SIGPIPE ignored) ends the tool quietly by SIGPIPE, as a
 * filter should (outfile_quiet_on_epipe()); another failure dies with
 * "'-': write error: REASON".
 */
void cli_close_stdout(void);

#endif
