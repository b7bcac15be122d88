#include "cli.h"
#include "err.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

long cli_long(const char *opt, const char *arg, long lo, long hi)
{
	char *end;
	errno = 0;
	long v = strtol(arg, &end, 10);
	if (errno || end == arg || *end || v < lo || v > hi)
		die_usage("%s: '%s' is not an integer in %ld..%ld", opt, arg, lo, hi);
	return v;
}

double cli_double(const char *opt, const char *arg, double lo, double hi)
{
	char *end;
	errno = 0;
	double v = strtod(arg, &end);
	if (errno || end == arg || *end || !(v >= lo && v <= hi))
		die_usage("%s: '%s' is not a number in %g..%g", opt, arg, lo, hi);
	return v;
}

int cli_threads(const char *arg)
{
	if (arg)
		return (int)cli_long("-j", arg, 1, 1024);
	const char *env = getenv("HM_THREADS");
	if (env && *env)
		return (int)cli_long("HM_THREADS", env, 1, 1024);
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (int)n : 1;
}

/* Exits 0 once what went to stdout is out, else 1 with a message. */
static void exit_after_stdout(void) HM_NORETURN;
static void exit_after_stdout(void)
{
	if (fflush(stdout) || ferror(stdout))
		die("write error: %s", strerror(errno));
	exit(0);
}

void cli_version(void)
{
	printf("%s (hm suite) %s\n", hm_progname(), HM_VERSION);
	exit_after_stdout();
}

void cli_help(const char *text)
{
	fputs(text, stdout);
	exit_after_stdout();
}

FILE *cli_open_input(const char *path)
{
	if (!path || !strcmp(path, "-"))
		return stdin;
	FILE *fp = fopen(path, "rb");
	if (!fp)
		die("'%s': cannot open: %s", path, strerror(errno));
	return fp;
}

int cli_want_progress(int force, int quiet)
{
	if (quiet)
		return 0;
	return force || isatty(STDERR_FILENO);
}
