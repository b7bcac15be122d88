/* hm-synth: render synthetic face data sets (CASIA-, LFW- and YTF-shaped).  See hm-synth(1). */
#include "cli.h"
#include "err.h"
#include "outfile.h"
#include "progress.h"
#include "synth.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage_text[] =
	"Usage: hm-synth [options] -o DIR\n"
	"Renders a synthetic face data set into DIR: JPEG images, DIR/landmarks.txt\n"
	"(each image's exact 5-point landmarks) and, for lfw and ytf, the pair list.\n"
	"\n"
	"  --kind KIND          casia, lfw or ytf (casia; taken from --pairs-from)\n"
	"  --identities N       identities to generate (casia 100, lfw 200, ytf 100)\n"
	"  --images-per-id N    images per identity; videos per identity for ytf\n"
	"                       (casia 20, lfw 4, ytf 3)\n"
	"  --frames N           frames per ytf video (8)\n"
	"  --pairs N            pairs per fold and half: lfw N matched + N mismatched,\n"
	"                       ytf N same + N different, 10 folds (lfw 60, ytf 25)\n"
	"  --pairs-from FILE    create exactly the images (or videos) that the pair\n"
	"                       list FILE names (LFW pairs.txt, YTF splits.txt, ...)\n"
	"                       and copy FILE into DIR\n"
	"  --landmarks-from FILE  render each face at FILE's landmarks; alone, create\n"
	"                       exactly FILE's images\n"
	"  --difficulty D       nuisance from 0 (none) to 1 (hard) (0.5)\n"
	"  --lookalike F        fraction of identities that copy another (0.1)\n"
	"  --size N|WxH         image size (250x250)\n"
	"  --quality Q|LO-HI    JPEG quality range (60-95)\n"
	"  --seed S             random seed (1)\n"
	"  -o, --output DIR     output folder (created)\n"
	"  -j, --threads N      worker threads (HM_THREADS, else all cores)\n"
	"      --progress       show progress even when stderr is not a terminal\n"
	"  -q, --quiet          no progress line\n"
	"  -h, --help           this text\n"
	"      --version        the suite version\n";

struct cmdline {
	const char *kind;		/* NULL: casia, or the pair list's */
	long identities, per_id, frames, pairs;	/* -1: the kind's default */
	const char *pairs_from, *landmarks_from;
	struct synth_opts o;
	double lookalike;
	long seed;
	const char *out;
	int threads;
	int progress, quiet;
};

static void parse_size(const char *arg, int *w, int *h)
{
	char *end;
	long a = strtol(arg, &end, 10), b = a;
	int good = end != arg;
	if (good && (*end == 'x' || *end == 'X')) {
		const char *s = end + 1;
		b = strtol(s, &end, 10);
		good = end != s;
	}
	if (!good || *end || a < 32 || b < 32 || a > 4096 || b > 4096)
		die_usage("--size: '%s' is not N or WxH with sides in 32..4096", arg);
	*w = (int)a;
	*h = (int)b;
}

static void parse_quality(const char *arg, int *lo, int *hi)
{
	char *end;
	long a = strtol(arg, &end, 10), b = a;
	int good = end != arg;
	if (good && *end == '-') {
		const char *s = end + 1;
		b = strtol(s, &end, 10);
		good = end != s;
	}
	if (!good || *end || a < 1 || b > 100 || a > b)
		die_usage("--quality: '%s' is not Q or LO-HI with 1 <= LO <= HI <= 100", arg);
	*lo = (int)a;
	*hi = (int)b;
}

static void parse_args(struct cmdline *c, int argc, char **argv)
{
	enum { O_KIND = 256, O_IDS, O_PER_ID, O_FRAMES, O_PAIRS, O_PAIRS_FROM,
	       O_LMK_FROM, O_DIFFICULTY, O_LOOKALIKE, O_SIZE, O_QUALITY, O_SEED,
	       O_PROGRESS, O_VERSION };
	static const struct option opts[] = {
		{ "kind", required_argument, NULL, O_KIND },
		{ "identities", required_argument, NULL, O_IDS },
		{ "images-per-id", required_argument, NULL, O_PER_ID },
		{ "frames", required_argument, NULL, O_FRAMES },
		{ "pairs", required_argument, NULL, O_PAIRS },
		{ "pairs-from", required_argument, NULL, O_PAIRS_FROM },
		{ "landmarks-from", required_argument, NULL, O_LMK_FROM },
		{ "difficulty", required_argument, NULL, O_DIFFICULTY },
		{ "lookalike", required_argument, NULL, O_LOOKALIKE },
		{ "size", required_argument, NULL, O_SIZE },
		{ "quality", required_argument, NULL, O_QUALITY },
		{ "seed", required_argument, NULL, O_SEED },
		{ "output", required_argument, NULL, 'o' },
		{ "threads", required_argument, NULL, 'j' },
		{ "progress", no_argument, NULL, O_PROGRESS },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, O_VERSION },
		{ NULL, 0, NULL, 0 },
	};
	const char *threads = NULL;
	int opt;
	*c = (struct cmdline){ .identities = -1, .per_id = -1, .frames = -1, .pairs = -1,
			       .lookalike = 0.1, .seed = 1 };
	synth_opts_default(&c->o);
	while ((opt = getopt_long(argc, argv, "o:j:qh", opts, NULL)) != -1) {
		switch (opt) {
		case O_KIND:
			if (strcmp(optarg, "casia") && strcmp(optarg, "lfw") && strcmp(optarg, "ytf"))
				die_usage("--kind: '%s' is not casia, lfw or ytf", optarg);
			c->kind = optarg;
			break;
		case O_IDS:
			c->identities = cli_long("--identities", optarg, 1, 10000000);
			break;
		case O_PER_ID:
			c->per_id = cli_long("--images-per-id", optarg, 1, 100000);
			break;
		case O_FRAMES:
			c->frames = cli_long("--frames", optarg, 1, 100000);
			break;
		case O_PAIRS:
			c->pairs = cli_long("--pairs", optarg, 1, 1000000);
			break;
		case O_PAIRS_FROM:
			c->pairs_from = optarg;
			break;
		case O_LMK_FROM:
			c->landmarks_from = optarg;
			break;
		case O_DIFFICULTY:
			c->o.difficulty = cli_double("--difficulty", optarg, 0, 1);
			break;
		case O_LOOKALIKE:
			c->lookalike = cli_double("--lookalike", optarg, 0, 1);
			break;
		case O_SIZE:
			parse_size(optarg, &c->o.width, &c->o.height);
			break;
		case O_QUALITY:
			parse_quality(optarg, &c->o.quality_lo, &c->o.quality_hi);
			break;
		case O_SEED:
			c->seed = cli_long("--seed", optarg, 0, 9223372036854775807L);
			break;
		case 'o':
			c->out = optarg;
			break;
		case 'j':
			threads = optarg;
			break;
		case O_PROGRESS:
			c->progress = 1;
			break;
		case 'q':
			c->quiet = 1;
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
	if (optind < argc)
		die_usage("unexpected argument '%s'", argv[optind]);
	if (!c->out || !*c->out)
		die_usage("no output folder given (-o DIR)");
	c->threads = cli_threads(threads);
	int from = c->pairs_from || c->landmarks_from;
	if (from && (c->identities >= 0 || c->per_id >= 0 || c->pairs >= 0))
		die_usage("--identities, --images-per-id and --pairs do not go with %s",
			  c->pairs_from ? "--pairs-from" : "--landmarks-from");
	if (c->landmarks_from && !c->pairs_from && c->kind && !strcmp(c->kind, "ytf"))
		die_usage("--landmarks-from alone makes still images: --kind ytf needs "
			  "--pairs-from");
	if (c->frames >= 0 && (c->kind ? strcmp(c->kind, "ytf") : !c->pairs_from))
		die_usage("--frames applies to --kind ytf only");
	if (c->pairs >= 0 && (!c->kind || !strcmp(c->kind, "casia")))
		die_usage("--pairs applies to --kind lfw and ytf only");
	/* the 10 folds of lfw and ytf each need two identities, and matched
	 * pairs two images (videos) of one */
	if (!from && c->kind && strcmp(c->kind, "casia") &&
	    ((c->identities >= 0 && c->identities < 20) || (c->per_id >= 0 && c->per_id < 2)))
		die_usage("--kind %s needs at least 20 identities (two per fold) and 2 %s each",
			  c->kind, strcmp(c->kind, "ytf") ? "images" : "videos");
}

static void build(struct synth_set *s, const struct cmdline *c)
{
	const char *kind = c->kind ? c->kind : "casia";
	long frames = c->frames >= 0 ? c->frames : 8;
	int rc;
	if (c->pairs_from) {
		rc = synth_set_from_pairs(s, c->pairs_from, frames, c->lookalike,
					  (uint64_t)c->seed);
		if (rc)
			die("%s", hm_errmsg());
		const char *got = s->kind == SYNTH_YTF ? "ytf" : "lfw";
		if (c->kind && strcmp(c->kind, got)) {
			synth_set_free(s);
			die_usage("--kind %s, but '%s' is a%s %s pair list", c->kind,
				  c->pairs_from, got[0] == 'y' ? "" : "n", got);
		}
		if (c->landmarks_from && synth_set_use_landmarks(s, c->landmarks_from) < 0)
			die("%s", hm_errmsg());
		return;
	}
	if (c->landmarks_from) {
		if (synth_set_from_landmarks(s, c->landmarks_from, c->lookalike,
					     (uint64_t)c->seed))
			die("%s", hm_errmsg());
		return;
	}
	if (!strcmp(kind, "casia"))
		rc = synth_set_casia(s, c->identities >= 0 ? c->identities : 100,
				     c->per_id >= 0 ? c->per_id : 20, c->lookalike,
				     (uint64_t)c->seed);
	else if (!strcmp(kind, "lfw"))
		rc = synth_set_lfw(s, c->identities >= 0 ? c->identities : 200,
				   c->per_id >= 0 ? c->per_id : 4,
				   c->pairs >= 0 ? c->pairs : 60, c->lookalike,
				   (uint64_t)c->seed);
	else
		rc = synth_set_ytf(s, c->identities >= 0 ? c->identities : 100,
				   c->per_id >= 0 ? c->per_id : 3, frames,
				   c->pairs >= 0 ? c->pairs : 25, c->lookalike,
				   (uint64_t)c->seed);
	if (rc)
		die("%s", hm_errmsg());
}

int main(int argc, char **argv)
{
	struct cmdline c;
	struct synth_set s;
	struct progress p;
	hm_set_progname(argv[0]);
	parse_args(&c, argc, argv);
	outfile_cleanup_on_signals();
	build(&s, &c);
	progress_init(&p, cli_want_progress(c.progress, c.quiet), "images", s.n_jobs);
	if (synth_set_write(&s, c.out, &c.o, (uint64_t)c.seed, c.threads, &p))
		die("%s", hm_errmsg());
	synth_set_free(&s);
	return 0;
}
