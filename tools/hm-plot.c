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

int main(int argc, char **argv)
{
	enum { O_LABEL = 256, O_TITLE, O_POINTS, O_VERSION };
	static const struct option opts[] = {
		{ "label", required_argument, NULL, O_LABEL },
		{ "title", required_argument, NULL, O_TITLE },
		{ "points", required_argument, NULL, O_POINTS },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, O_VERSION },
		{ NULL, 0, NULL, 0 },
	};
	hm_set_progname(argv[0]);
	struct curves_opts co = { .title = NULL, .max_points = 2000 };
	const char *output = "-";
	const char **labels = xcalloc((size_t)argc, sizeof *labels);
	int n_labels = 0, opt;
	while ((opt = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
		switch (opt) {
		case O_LABEL:
			labels[n_labels++] = optarg;
			break;
		case O_TITLE:
			co.title = optarg;
			break;
		case O_POINTS:
			co.max_points = cli_long("--points", optarg, 0, 1L << 30);
			if (co.max_points == 1)
				die_usage("--points: 2 or more (0: all)");
			break;
		case 'o':
			output = optarg;
			break;
		case 'h':
			cli_help(usage_text);
		case O_VERSION:
			cli_version();
			break;
		default:
			die_usage("bad option");
		}
	}
	int n = argc - optind;
	if (n < 1)
		die_usage("no run given");
	if (n_labels > n)
		die_usage("%d labels for %d runs", n_labels, n);
	outfile_cleanup_on_signals();

	struct curves_run *r = xcalloc((size_t)n, sizeof *r);
	for (int i = 0; i < n; i++)
		if (curves_load(&r[i], argv[optind + i], i < n_labels ? labels[i] : NULL) < 0)
			die("%s", hm_errmsg());
	struct outfile f;
	if (outfile_open(&f, output))
		die("%s", hm_errmsg());
	if (curves_svg(f.fp, r, n, &co) < 0) {
		outfile_abort(&f);
		die("'%s': %s", output, hm_errmsg());
	}
	if (outfile_commit(&f))
		die("%s", hm_errmsg());
	for (int i = 0; i < n; i++)
		curves_free(&r[i]);
	free(r);
	free(labels);
	return 0;
}
