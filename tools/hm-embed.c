/* hm-embed: model + image records -> embedding records.  See hm-embed(1). */
#include "blas.h"
#include "cli.h"
#include "embed.h"
#include "err.h"
#include "model.h"
#include "outfile.h"
#include "progress.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char usage_text[] =
	"Usage: hm-embed [options] -m MODEL [RECORDS]\n"
	"Runs the model MODEL on each image record of RECORDS (default: stdin)\n"
	"and writes embedding records, with the same keys and labels, to stdout.\n"
	"\n"
	"  -m, --model FILE     the model (hm-model(5)), e.g. hm-train's model.hmm\n"
	"      --flip MODE      sum: normalise(e + e_flip), concat: normalise([e,\n"
	"                       e_flip]), none: normalise(e) (sum)\n"
	"  -b, --batch N        images per forward pass (32)\n"
	"  -j, --threads N      threads (HM_THREADS, else all cores)\n"
	"      --progress       show progress even when stderr is not a terminal\n"
	"  -q, --quiet          no progress line\n"
	"  -v, --verbose        report the BLAS core, the model and the count\n"
	"  -h, --help           this text\n"
	"      --version        the suite version\n";

struct cmdline {
	const char *model;
	const char *input;
	enum embed_flip flip;
	int batch;
	int threads;
	int progress, quiet, verbose;
};

static void parse_args(struct cmdline *c, int argc, char **argv)
{
	enum { OPT_FLIP = 256 };
	static const struct option opts[] = {
		{ "model", required_argument, NULL, 'm' },
		{ "flip", required_argument, NULL, OPT_FLIP },
		{ "batch", required_argument, NULL, 'b' },
		{ NULL, 0, NULL, 0 },
	};
	struct cli p = { .usage = usage_text, .longs = opts, .shorts = "m:b:",
			 .common = CLI_THREADS | CLI_PROGRESS | CLI_VERBOSE };
	int opt;
	*c = (struct cmdline){ .input = "-", .flip = EMBED_FLIP_SUM, .batch = 32 };
	while ((opt = cli_next(&p, argc, argv)) != -1) {
		switch (opt) {
		case 'm':
			c->model = optarg;
			break;
		case OPT_FLIP: {
			int f = embed_flip_parse(optarg);
			if (f < 0)
				die_usage("--flip: '%s' is not sum, concat or none", optarg);
			c->flip = (enum embed_flip)f;
			break;
		}
		case 'b':
			c->batch = (int)cli_long("--batch", optarg, 1, 4096);
			break;
		}
	}
	if (argc - optind > 1)
		die_usage("too many arguments");
	if (argc - optind == 1)
		c->input = argv[optind];
	if (!c->model)
		die_usage("no model given (-m MODEL)");
	c->threads = cli_threads(p.threads);
	c->progress = p.progress;
	c->quiet = p.quiet;
	c->verbose = p.verbose;
	if (isatty(STDOUT_FILENO))
		die_usage("refusing to write binary records to a terminal; redirect stdout");
}

int main(int argc, char **argv)
{
	struct cmdline c;
	hm_set_progname(argv[0]);
	outfile_cleanup_on_signals();	/* SIGXFSZ: report EFBIG, not die silently */
	if (blas_init(argc, argv) < 0)
		warn("%s", hm_errmsg());
	parse_args(&c, argc, argv);
	blas_set_threads(c.threads);

	struct model *m = model_load(c.model);
	if (!m)
		die("%s", hm_errmsg());
	const struct model_shape *sh = model_get_shape(m);
	if (c.verbose)
		warn("%s; %d thread%s; model '%s': %s, %dx%dx%d -> %d; flip %s (%d values); "
		     "batch %d", blas_describe(), c.threads, c.threads == 1 ? "" : "s",
		     c.model, sh->arch, sh->in_w, sh->in_h, sh->in_c, sh->emb_dim,
		     embed_flip_name(c.flip), embed_out_dim(sh->emb_dim, c.flip), c.batch);
	FILE *in = cli_open_input(c.input);

	struct progress prog;
	progress_init(&prog, cli_want_progress(c.progress, c.quiet), "images", 0);
	struct embed_job j = {
		.model = m, .in = in, .in_name = c.input, .out = stdout, .out_name = "-",
		.flip = c.flip, .batch = c.batch, .progress = &prog,
	};
	if (embed_run(&j)) {
		if (j.broken_pipe)
			outfile_quiet_on_epipe(EPIPE);
		if (prog.enabled && prog.last > prog.start)
			fputc('\n', stderr);	/* end the progress line first */
		die("%s", hm_errmsg());
	}
	cli_close_stdout();
	progress_done(&prog, j.n_done);
	if (c.verbose)
		warn("wrote %ld embeddings", j.n_done);
	if (in != stdin)
		fclose(in);
	model_free(m);
	return 0;
}
