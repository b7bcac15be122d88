/* hm-align: warp faces onto a 5-point template; image records out.  See hm-align(1). */
#include "align.h"
#include "cli.h"
#include "err.h"
#include "lmk.h"
#include "outfile.h"
#include "rec.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char usage_text[] =
	"Usage: hm-align [options] LANDMARKS\n"
	"Aligns the face in each image of LANDMARKS (\"-\" = stdin) to a template\n"
	"and writes image records to stdout, or JPEG files with --out-dir.\n"
	"\n"
	"  --root DIR           image paths in LANDMARKS are relative to DIR (.)\n"
	"  --out-dir DIR        write DIR/KEY.jpg files instead of records\n"
	"  --format FMT         auto, plain, casia, lst, csv, ytf (YouTube Faces'\n"
	"                       NAME.labeled_faces.txt: a face box per frame) or\n"
	"                       paths (auto; paths with --center-crop)\n"
	"  --center-crop F      no landmarks: LANDMARKS lists image paths, one a\n"
	"                       line; the face box is the centred square of side F\n"
	"                       times the shorter side (YouTube Faces'\n"
	"                       aligned_images_DB: 0.4545, 1/2.2)\n"
	"  --template NAME      insightface (112x112) or sphereface (96x112)\n"
	"                       (insightface)\n"
	"  --size WxH           output size; the template is scaled to it\n"
	"  --gray               grey output (default RGB)\n"
	"  --encoding ENC       record payload: jpeg or raw (jpeg)\n"
	"  --quality N          JPEG quality 1..100 (95)\n"
	"  --decode MODE        region: decode only the part of a JPEG the face\n"
	"                       needs (default; same output as full); full: the\n"
	"                       whole image; scaled: region, at 1/2..1/8 size where\n"
	"                       the face is at least twice the output's (faster;\n"
	"                       changes the output, see hm-align(1))\n"
	"  --skip-bad           skip images that cannot be read or aligned and\n"
	"                       report how many at the end\n"
	"  -j, --threads N      worker threads (HM_THREADS, else all cores)\n"
	"      --progress       show progress even when stderr is not a terminal\n"
	"  -q, --quiet          no progress line\n"
	"  -v, --verbose        report settings and each skipped image\n"
	"  -h, --help           this text\n"
	"      --version        the suite version\n";

struct cmdline {
	const char *landmarks;
	const char *root;
	const char *out_dir;
	enum lmk_format format;
	const char *template_name;
	int width, height;	/* 0 = the template's */
	int gray;
	int encoding;
	int quality;
	enum align_decode decode;
	int skip_bad;
	double center_crop;
	int threads;
	int progress, quiet, verbose;
};

static void parse_size(const char *arg, int *w, int *h)
{
	char *end;
	long a = strtol(arg, &end, 10), b = 0;
	int good = end != arg && (*end == 'x' || *end == 'X');
	if (good) {
		const char *s = end + 1;
		b = strtol(s, &end, 10);
		good = end != s && !*end;
	}
	if (!good || a < 1 || b < 1 || a > REC_MAX_SIDE || b > REC_MAX_SIDE)
		die_usage("--size: '%s' is not WxH with sides in 1..%d", arg, REC_MAX_SIDE);
	*w = (int)a;
	*h = (int)b;
}

static void parse_args(struct cmdline *c, int argc, char **argv)
{
	enum { OPT_ROOT = 256, OPT_OUT_DIR, OPT_FORMAT, OPT_TEMPLATE, OPT_SIZE, OPT_GRAY,
	       OPT_ENCODING, OPT_QUALITY, OPT_SKIP_BAD, OPT_DECODE, OPT_CENTER };
	static const struct option opts[] = {
		{ "root", required_argument, NULL, OPT_ROOT },
		{ "out-dir", required_argument, NULL, OPT_OUT_DIR },
		{ "format", required_argument, NULL, OPT_FORMAT },
		{ "template", required_argument, NULL, OPT_TEMPLATE },
		{ "size", required_argument, NULL, OPT_SIZE },
		{ "gray", no_argument, NULL, OPT_GRAY },
		{ "encoding", required_argument, NULL, OPT_ENCODING },
		{ "quality", required_argument, NULL, OPT_QUALITY },
		{ "decode", required_argument, NULL, OPT_DECODE },
		{ "skip-bad", no_argument, NULL, OPT_SKIP_BAD },
		{ "center-crop", required_argument, NULL, OPT_CENTER },
		{ NULL, 0, NULL, 0 },
	};
	struct cli p = { .usage = usage_text, .longs = opts,
			 .common = CLI_THREADS | CLI_PROGRESS | CLI_VERBOSE };
	int encoding_set = 0, opt;
	*c = (struct cmdline){ .root = ".", .format = LMK_AUTO,
			       .template_name = "insightface", .encoding = REC_JPEG,
			       .quality = 95 };
	while ((opt = cli_next(&p, argc, argv)) != -1) {
		switch (opt) {
		case OPT_ROOT:
			c->root = optarg;
			break;
		case OPT_OUT_DIR:
			c->out_dir = optarg;
			break;
		case OPT_FORMAT: {
			int f = lmk_format_parse(optarg);
			if (f < 0)
				die_usage("--format: '%s' is not auto, plain, casia, lst, csv, "
					  "ytf or paths", optarg);
			c->format = (enum lmk_format)f;
			break;
		}
		case OPT_TEMPLATE:
			if (strcmp(optarg, "insightface") && strcmp(optarg, "sphereface"))
				die_usage("--template: '%s' is not insightface or sphereface",
					  optarg);
			c->template_name = optarg;
			break;
		case OPT_SIZE:
			parse_size(optarg, &c->width, &c->height);
			break;
		case OPT_GRAY:
			c->gray = 1;
			break;
		case OPT_ENCODING:
			if (!strcmp(optarg, "jpeg"))
				c->encoding = REC_JPEG;
			else if (!strcmp(optarg, "raw"))
				c->encoding = REC_RAW;
			else
				die_usage("--encoding: '%s' is not jpeg or raw", optarg);
			encoding_set = 1;
			break;
		case OPT_QUALITY:
			c->quality = (int)cli_long("--quality", optarg, 1, 100);
			break;
		case OPT_DECODE:
			if (!strcmp(optarg, "region"))
				c->decode = ALIGN_DECODE_REGION;
			else if (!strcmp(optarg, "full"))
				c->decode = ALIGN_DECODE_FULL;
			else if (!strcmp(optarg, "scaled"))
				c->decode = ALIGN_DECODE_SCALED;
			else
				die_usage("--decode: '%s' is not region, full or scaled", optarg);
			break;
		case OPT_SKIP_BAD:
			c->skip_bad = 1;
			break;
		case OPT_CENTER:
			c->center_crop = cli_double("--center-crop", optarg, 1e-3, 100);
			break;
		}
	}
	if (argc - optind != 1)
		die_usage(argc == optind ? "no landmark file given" : "too many arguments");
	c->landmarks = argv[optind];
	if (c->center_crop > 0 && c->format == LMK_AUTO)
		c->format = LMK_PATHS;
	if (c->center_crop > 0 && c->format != LMK_PATHS)
		die_usage("--center-crop takes a list of image paths (--format paths)");
	if (c->format == LMK_PATHS && !(c->center_crop > 0))
		die_usage("--format paths has no landmarks: give --center-crop F");
	c->threads = cli_threads(p.threads);
	c->progress = p.progress;
	c->quiet = p.quiet;
	c->verbose = p.verbose;
	if (c->out_dir && encoding_set && c->encoding == REC_RAW)
		die_usage("--encoding raw applies to records, not to --out-dir files");
	if (!c->out_dir && isatty(STDOUT_FILENO))
		die_usage("refusing to write binary records to a terminal; "
			  "redirect stdout or use --out-dir");
}

static void report_skip(void *ctx, const char *msg)
{
	if (*(const int *)ctx)
		warn("skipped %s", msg);
}

int main(int argc, char **argv)
{
	struct cmdline c;
	hm_set_progname(argv[0]);
	parse_args(&c, argc, argv);
	outfile_cleanup_on_signals();

	struct align_template t;
	if (align_template_init(&t, c.template_name, c.width, c.height))
		die_usage("%s", hm_errmsg());
	struct lmk_list list;
	if (lmk_load(&list, c.landmarks, c.format))
		die("%s", hm_errmsg());
	if (c.verbose)
		warn("%ld faces (%s format) from '%s'; %dx%d %s, %s; %d thread%s",
		     list.n, lmk_format_name(list.format), c.landmarks, t.width, t.height,
		     c.gray ? "grey" : "RGB",
		     c.out_dir ? "JPEG files" : c.encoding == REC_RAW ? "raw records" :
		     "JPEG records", c.threads, c.threads == 1 ? "" : "s");

	struct align_batch b = {
		.list = &list, .root = c.root, .tmpl = &t, .channels = c.gray ? 1 : 3,
		.encoding = c.encoding, .quality = c.quality, .decode = c.decode,
		.threads = c.threads, .skip_bad = c.skip_bad, .center_crop = c.center_crop,
		.out = c.out_dir ? NULL : stdout,
		.out_dir = c.out_dir, .progress = cli_want_progress(c.progress, c.quiet),
		.on_skip = report_skip, .ctx = &c.verbose,
	};
	if (align_batch_run(&b)) {
		if (b.broken_pipe)
			outfile_quiet_on_epipe(EPIPE);
		die("%s", hm_errmsg());
	}
	if (!c.out_dir)
		cli_close_stdout();
	if (b.n_skipped)
		warn("skipped %ld of %ld images", b.n_skipped, list.n);
	if (c.verbose)
		warn("wrote %ld images", b.n_done);
	lmk_list_free(&list);
	return 0;
}
