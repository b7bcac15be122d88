#include "cli.h"
#include "err.h"
#include "outfile.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* getopt values of the common long options without a short one. */
enum { OPT_PROGRESS = 0x10000, OPT_VERSION };

static const struct {
	unsigned flag;
	const char *shorts;
	struct option opt[2];
} common_opts[] = {
	{ CLI_THREADS, "j:", { { "threads", required_argument, NULL, 'j' } } },
	{ CLI_PROGRESS, "q", { { "progress", no_argument, NULL, OPT_PROGRESS },
			       { "quiet", no_argument, NULL, 'q' } } },
	{ CLI_VERBOSE, "v", { { "verbose", no_argument, NULL, 'v' } } },
	{ 0, "h", { { "help", no_argument, NULL, 'h' },
		    { "version", no_argument, NULL, OPT_VERSION } } },
};
enum { N_COMMON = sizeof common_opts / sizeof *common_opts };

/* C's options and the common ones it takes, as getopt_long() wants them. */
static void build_tables(struct cli *c)
{
	size_t n = 0, k = 0;
	while (c->longs[n].name)
		n++;
	c->all = xcalloc(n + 2 * N_COMMON + 1, sizeof *c->all);
	c->optstring = xmalloc((c->shorts ? strlen(c->shorts) : 0) + 8);
	memcpy(c->all, c->longs, n * sizeof *c->all);
	k = (size_t)sprintf(c->optstring, ":%s", c->shorts ? c->shorts : "");
	for (int i = 0; i < N_COMMON; i++) {
		if (common_opts[i].flag && !(c->common & common_opts[i].flag))
			continue;
		k += (size_t)sprintf(c->optstring + k, "%s", common_opts[i].shorts);
		for (int j = 0; j < 2 && common_opts[i].opt[j].name; j++)
			c->all[n++] = common_opts[i].opt[j];
	}
}

/* How many of C's long options begin with ARG's name ("--NAME[=...]"). */
static int n_matching(const struct cli *c, const char *arg)
{
	size_t k = strcspn(arg + 2, "=");
	int n = 0;
	for (const struct option *o = c->all; o->name; o++)
		n += !strncmp(o->name, arg + 2, k);
	return n;
}

/* The usage error for what getopt_long() refused (it returned RC). */
static void bad_option(const struct cli *c, int rc, char **argv) HM_NORETURN;
static void bad_option(const struct cli *c, int rc, char **argv)
{
	const char *arg = argv[optind - 1];
	int name_len = (int)strcspn(arg, "=");
	int is_short = optopt > 0 && optopt < 256 && strncmp(arg, "--", 2);
	if (rc == ':' && is_short)
		die_usage("option '-%c' needs a value", optopt);
	if (rc == ':')
		die_usage("option '%s' needs a value", arg);
	if (optopt > 0 && optopt < 256 && !strchr(c->optstring, optopt))
		die_usage("unknown option '-%c'", optopt);
	if (optopt)	/* a long option given a value it does not take */
		die_usage("option '%.*s' takes no value", name_len, arg);
	if (!strncmp(arg, "--", 2) && n_matching(c, arg) > 1)
		die_usage("option '%.*s' is ambiguous", name_len, arg);
	die_usage("unknown option '%.*s'", name_len, arg);
}

int cli_next(struct cli *c, int argc, char **argv)
{
	if (!c->all) {
		build_tables(c);
		opterr = 0;
	}
	for (;;) {
		int rc = getopt_long(argc, argv, c->optstring, c->all, NULL);
		switch (rc) {
		case -1:
			free(c->all);
			free(c->optstring);
			c->all = NULL;
			c->optstring = NULL;
			return -1;
		case 'j':
			c->threads = optarg;
			break;
		case OPT_PROGRESS:
			c->progress = 1;
			break;
		case 'q':
			c->quiet = 1;
			break;
		case 'v':
			c->verbose = 1;
			break;
		case 'h':
			cli_help(c->usage);
		case OPT_VERSION:
			cli_version();
		case ':':
		case '?':
			bad_option(c, rc, argv);
		default:
			return rc;
		}
	}
}

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

void cli_close_stdout(void)
{
	if (!fflush(stdout) && !ferror(stdout) && !fclose(stdout))
		return;
	int e = errno;
	outfile_quiet_on_epipe(e);
	die("'-': write error: %s", strerror(e));
}
