/* hm-plot: training curves of hm-train runs as one SVG.  See hm-plot(1). */
#include "cli.h"
#include "curves.h"
#include "err.h"
#include "outfile.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage_text[] =
	"Usage: hm-plot [options] RUN...\n"
	"Draws the training curves of hm-train runs as one SVG: training loss,\n"
	"batch accuracy and learning rate against iterations, and each\n"
	"validation set's accuracy per epoch.  RUN is an hm-train output\n"
	"directory (its train.csv, and val.csv if there is one) or a train.csv.\n"
	"A run labelled NAME-hm is dashed in NAME's colour.\n"
	"\n"
	"  --label NAME         name of the next run (repeatable, in order of RUN;\n"
	"                       default: the run directory's name)\n"
	"  --title TEXT         the title (training)\n"
	"  --points N           at most N points per curve: longer runs are drawn\n"
	"                       as means of consecutive iterations (2000; 0: all)\n"
	"  -o, --output FILE    write the SVG to FILE instead of stdout\n"
	"  -h, --help           this text\n"
	"      --version        the suite version\n";

struct cmdline {
	struct curves_opts co;
	const char *output;
	const char **labels;
	int n_labels;
	char **runs;
	int n_runs;
};

static void parse_args(struct cmdline *c, int argc, char **argv)
{
	enum { OPT_LABEL = 256, OPT_TITLE, OPT_POINTS };
	static const struct option opts[] = {
		{ "label", required_argument, NULL, OPT_LABEL },
		{ "title", required_argument, NULL, OPT_TITLE },
		{ "points", required_argument, NULL, OPT_POINTS },
		{ "output", required_argument, NULL, 'o' },
		{ NULL, 0, NULL, 0 },
	};
	struct cli p = { .usage = usage_text, .shorts = "o:", .longs = opts };
	int opt;
	*c = (struct cmdline){ .co = { .title = NULL, .max_points = 2000 }, .output = "-" };
	c->labels = xcalloc((size_t)argc, sizeof *c->labels);
	while ((opt = cli_next(&p, argc, argv)) != -1) {
		switch (opt) {
		case OPT_LABEL:
			c->labels[c->n_labels++] = optarg;
			break;
		case OPT_TITLE:
			c->co.title = optarg;
			break;
		case OPT_POINTS:
			c->co.max_points = cli_long("--points", optarg, 0, 1L << 30);
			if (c->co.max_points == 1)
				die_usage("--points: 2 or more (0: all)");
			break;
		case 'o':
			c->output = optarg;
			break;
		}
	}
	c->n_runs = argc - optind;
	c->runs = argv + optind;
	if (c->n_runs < 1)
		die_usage("no run given");
	if (c->n_labels > c->n_runs)
		die_usage("%d labels for %d runs", c->n_labels, c->n_runs);
}

int main(int argc, char **argv)
{
	struct cmdline c;
	hm_set_progname(argv[0]);
	parse_args(&c, argc, argv);
	outfile_cleanup_on_signals();

	int n = c.n_runs;
	struct curves_run *r = xcalloc((size_t)n, sizeof *r);
	for (int i = 0; i < n; i++)
		if (curves_load(&r[i], c.runs[i], i < c.n_labels ? c.labels[i] : NULL) < 0)
			die("%s", hm_errmsg());
	struct outfile f;
	if (outfile_open(&f, c.output))
		die("%s", hm_errmsg());
	if (curves_svg(f.fp, r, n, &c.co) < 0) {
		outfile_abort(&f);
		die("'%s': %s", c.output, hm_errmsg());
	}
	if (outfile_commit(&f))
		die("%s", hm_errmsg());
	for (int i = 0; i < n; i++)
		curves_free(&r[i]);
	free(r);
	free(c.labels);
	return 0;
}
