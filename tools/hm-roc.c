/* hm-roc: scores -> k-fold accuracy, AUC, EER, TAR@FAR, VAL, ROC.  See hm-roc(1). */
#include "cli.h"
#include "err.h"
#include "metrics.h"
#include "outfile.h"
#include "report.h"
#include "scores.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage_text[] =
	"Usage: hm-roc [options] [SCORES...]\n"
	"Evaluates score files (fold,same,score,a,b as hm-verify writes them;\n"
	"default: stdin), each one curve: k-fold accuracy (mean +- std), AUC, EER,\n"
	"TAR at given FARs, facenet VAL at a FAR, and the thresholds chosen.\n"
	"\n"
	"  --label NAME         name of the next curve (repeatable, in order of\n"
	"                       SCORES; default: the file name, stdin for -)\n"
	"  --protocol P         accuracy threshold search: exact or insightface\n"
	"                       (exact)\n"
	"  --far LIST           comma-separated FARs for TAR@FAR (1e-3,1e-2)\n"
	"  --val-far F          FAR target of facenet's VAL (1e-3)\n"
	"  --csv                CSV instead of the aligned text table\n"
	"  --json               JSON instead of the aligned text table\n"
	"  --markdown           a Markdown table instead of the text table\n"
	"  --per-fold           one row per fold instead of per curve\n"
	"  --roc FILE           also write every ROC point to FILE (CSV)\n"
	"  --svg FILE           also draw the ROC curves to FILE (SVG); a curve\n"
	"                       labelled NAME-hm is dashed in NAME's colour\n"
	"  --title TEXT         the title of the SVG (ROC)\n"
	"  -o, --output FILE    write the table to FILE instead of stdout\n"
	"  -h, --help           this text\n"
	"      --version        the suite version\n";

enum format { F_TEXT, F_CSV, F_JSON, F_MARKDOWN };

struct cmdline {
	int n_files;
	char **files;
	int n_labels;
	const char **labels;
	enum format format;
	struct report_opts opts;
	const char *roc, *svg, *output;
};

static const char *svg_title;	/* --title */

static void parse_far(struct report_opts *o, const char *arg)
{
	char *copy = xstrdup(arg), *save = NULL;
	o->n_far = 0;
	for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		if (o->n_far == REPORT_MAX_FAR)
			die_usage("--far: at most %d values", REPORT_MAX_FAR);
		o->far[o->n_far++] = cli_double("--far", t, 0.0, 1.0);
	}
	if (!o->n_far)
		die_usage("--far: no value in '%s'", arg);
	free(copy);
}

static void set_format(struct cmdline *c, enum format f, int *set)
{
	if (*set && c->format != f)
		die_usage("--csv, --json and --markdown exclude each other");
	c->format = f;
	*set = 1;
}

static void parse_args(struct cmdline *c, int argc, char **argv)
{
	enum { OPT_LABEL = 256, OPT_PROTOCOL, OPT_FAR, OPT_VAL_FAR, OPT_CSV, OPT_JSON,
	       OPT_MARKDOWN, OPT_PER_FOLD, OPT_ROC, OPT_SVG, OPT_TITLE };
	static const struct option opts[] = {
		{ "label", required_argument, NULL, OPT_LABEL },
		{ "protocol", required_argument, NULL, OPT_PROTOCOL },
		{ "far", required_argument, NULL, OPT_FAR },
		{ "val-far", required_argument, NULL, OPT_VAL_FAR },
		{ "csv", no_argument, NULL, OPT_CSV },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "markdown", no_argument, NULL, OPT_MARKDOWN },
		{ "per-fold", no_argument, NULL, OPT_PER_FOLD },
		{ "roc", required_argument, NULL, OPT_ROC },
		{ "svg", required_argument, NULL, OPT_SVG },
		{ "title", required_argument, NULL, OPT_TITLE },
		{ "output", required_argument, NULL, 'o' },
		{ NULL, 0, NULL, 0 },
	};
	struct cli p = { .usage = usage_text, .shorts = "o:", .longs = opts };
	static char *stdin_only[] = { "-" };
	int opt, format_set = 0;
	*c = (struct cmdline){ .format = F_TEXT, .output = "-" };
	c->opts = (struct report_opts){ .protocol = METRICS_EXACT, .n_far = 2,
					.far = { 1e-3, 1e-2 }, .val_far = 1e-3 };
	c->labels = xcalloc((size_t)argc, sizeof *c->labels);
	while ((opt = cli_next(&p, argc, argv)) != -1) {
		switch (opt) {
		case OPT_LABEL:
			c->labels[c->n_labels++] = optarg;
			break;
		case OPT_PROTOCOL:
			if (!strcmp(optarg, "exact"))
				c->opts.protocol = METRICS_EXACT;
			else if (!strcmp(optarg, "insightface"))
				c->opts.protocol = METRICS_INSIGHTFACE;
			else
				die_usage("--protocol: '%s' is not exact or insightface", optarg);
			break;
		case OPT_FAR:
			parse_far(&c->opts, optarg);
			break;
		case OPT_VAL_FAR:
			c->opts.val_far = cli_double("--val-far", optarg, 0.0, 1.0);
			break;
		case OPT_CSV:
			set_format(c, F_CSV, &format_set);
			break;
		case OPT_JSON:
			set_format(c, F_JSON, &format_set);
			break;
		case OPT_MARKDOWN:
			set_format(c, F_MARKDOWN, &format_set);
			break;
		case OPT_PER_FOLD:
			c->opts.per_fold = 1;
			break;
		case OPT_ROC:
			c->roc = optarg;
			break;
		case OPT_SVG:
			c->svg = optarg;
			break;
		case OPT_TITLE:
			svg_title = optarg;
			break;
		case 'o':
			c->output = optarg;
			break;
		}
	}
	c->n_files = argc - optind;
	c->files = argv + optind;
	if (!c->n_files) {
		c->n_files = 1;
		c->files = stdin_only;
	}
	if (c->n_labels > c->n_files)
		die_usage("%d labels for %d score files", c->n_labels, c->n_files);
	int n_stdin = 0;
	for (int i = 0; i < c->n_files; i++)
		n_stdin += !strcmp(c->files[i], "-");
	if (n_stdin > 1)
		die_usage("stdin ('-') can be read only once");
	if (c->roc && c->svg && !strcmp(c->roc, "-") && !strcmp(c->svg, "-"))
		die_usage("--roc and --svg cannot both write to stdout");
}

typedef int (*writer)(FILE *fp, const struct report_curve *c, int n,
		      const struct report_opts *o);

static int roc_writer(FILE *fp, const struct report_curve *c, int n,
		      const struct report_opts *o)
{
	return report_roc_points(fp, c, n);
}

static int svg_writer(FILE *fp, const struct report_curve *c, int n,
		      const struct report_opts *o)
{
	return report_svg(fp, c, n, svg_title);
}

/* Writes PATH atomically with W; dies naming PATH on failure. */
static void emit(const char *path, writer w, const struct report_curve *c, int n,
		 const struct report_opts *o)
{
	struct outfile f;
	if (outfile_open(&f, path))
		die("%s", hm_errmsg());
	if (w(f.fp, c, n, o)) {
		outfile_abort(&f);
		die("'%s': %s", path, hm_errmsg());
	}
	if (outfile_commit(&f))
		die("%s", hm_errmsg());
}

int main(int argc, char **argv)
{
	struct cmdline c;
	hm_set_progname(argv[0]);
	parse_args(&c, argc, argv);
	outfile_cleanup_on_signals();

	struct report_curve *curve = xcalloc((size_t)c.n_files, sizeof *curve);
	for (int i = 0; i < c.n_files; i++) {
		struct scores s;
		if (scores_load(&s, c.files[i]))
			die("%s", hm_errmsg());
		const char *label = c.files[i];
		if (i < c.n_labels)
			label = c.labels[i];
		else if (!strcmp(label, "-"))
			label = "stdin";
		if (report_curve_compute(&curve[i], label, &s, &c.opts))
			die("'%s': %s", c.files[i], hm_errmsg());
		scores_free(&s);
	}

	/* Side outputs first; the table goes to stdout unless one of them does. */
	int to_stdout = 0;
	if (c.roc) {
		emit(c.roc, roc_writer, curve, c.n_files, &c.opts);
		to_stdout |= !strcmp(c.roc, "-");
	}
	if (c.svg) {
		emit(c.svg, svg_writer, curve, c.n_files, &c.opts);
		to_stdout |= !strcmp(c.svg, "-");
	}
	static const writer table[] = { report_text, report_csv, report_json,
					report_markdown };
	if (!to_stdout || strcmp(c.output, "-"))
		emit(c.output, table[c.format], curve, c.n_files, &c.opts);

	for (int i = 0; i < c.n_files; i++)
		report_curve_free(&curve[i]);
	free(curve);
	free(c.labels);
	return 0;
}
