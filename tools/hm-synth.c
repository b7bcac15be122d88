/* hm-synth: render synthetic face data sets (CASIA-, LFW- and YTF-shaped).  See hm-synth(1). */
#include "align.h"
#include "cli.h"
#include "err.h"
#include "outfile.h"
#include "img.h"
#include "lmk.h"
#include "progress.h"
#include "synth.h"
#include "util.h"

#include <errno.h>
#include <math.h>
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
	"  --published          ytf: YouTube Faces' download layout, no landmarks:\n"
	"                       DIR/frame_images_DB/Name/video/N.jpg with\n"
	"                       Name.labeled_faces.txt (face boxes), the same\n"
	"                       frames cropped in DIR/aligned_images_DB, and\n"
	"                       DIR/splits.txt (the exact landmarks go to\n"
	"                       DIR/true_landmarks.txt)\n"
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
	int published;
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
	enum { OPT_KIND = 256, OPT_IDS, OPT_PER_ID, OPT_FRAMES, OPT_PAIRS, OPT_PAIRS_FROM,
	       OPT_LMK_FROM, OPT_DIFFICULTY, OPT_LOOKALIKE, OPT_SIZE, OPT_QUALITY, OPT_SEED,
	       OPT_PUBLISHED };
	static const struct option opts[] = {
		{ "kind", required_argument, NULL, OPT_KIND },
		{ "identities", required_argument, NULL, OPT_IDS },
		{ "images-per-id", required_argument, NULL, OPT_PER_ID },
		{ "frames", required_argument, NULL, OPT_FRAMES },
		{ "pairs", required_argument, NULL, OPT_PAIRS },
		{ "pairs-from", required_argument, NULL, OPT_PAIRS_FROM },
		{ "landmarks-from", required_argument, NULL, OPT_LMK_FROM },
		{ "difficulty", required_argument, NULL, OPT_DIFFICULTY },
		{ "lookalike", required_argument, NULL, OPT_LOOKALIKE },
		{ "size", required_argument, NULL, OPT_SIZE },
		{ "quality", required_argument, NULL, OPT_QUALITY },
		{ "seed", required_argument, NULL, OPT_SEED },
		{ "published", no_argument, NULL, OPT_PUBLISHED },
		{ "output", required_argument, NULL, 'o' },
		{ NULL, 0, NULL, 0 },
	};
	struct cli p = { .usage = usage_text, .longs = opts, .shorts = "o:",
			 .common = CLI_THREADS | CLI_PROGRESS };
	int opt;
	*c = (struct cmdline){ .identities = -1, .per_id = -1, .frames = -1, .pairs = -1,
			       .lookalike = 0.1, .seed = 1 };
	synth_opts_default(&c->o);
	while ((opt = cli_next(&p, argc, argv)) != -1) {
		switch (opt) {
		case OPT_KIND:
			if (strcmp(optarg, "casia") && strcmp(optarg, "lfw") && strcmp(optarg, "ytf"))
				die_usage("--kind: '%s' is not casia, lfw or ytf", optarg);
			c->kind = optarg;
			break;
		case OPT_IDS:
			c->identities = cli_long("--identities", optarg, 1, 10000000);
			break;
		case OPT_PER_ID:
			c->per_id = cli_long("--images-per-id", optarg, 1, 100000);
			break;
		case OPT_FRAMES:
			c->frames = cli_long("--frames", optarg, 1, 100000);
			break;
		case OPT_PAIRS:
			c->pairs = cli_long("--pairs", optarg, 1, 1000000);
			break;
		case OPT_PAIRS_FROM:
			c->pairs_from = optarg;
			break;
		case OPT_LMK_FROM:
			c->landmarks_from = optarg;
			break;
		case OPT_DIFFICULTY:
			c->o.difficulty = cli_double("--difficulty", optarg, 0, 1);
			break;
		case OPT_LOOKALIKE:
			c->lookalike = cli_double("--lookalike", optarg, 0, 1);
			break;
		case OPT_SIZE:
			parse_size(optarg, &c->o.width, &c->o.height);
			break;
		case OPT_QUALITY:
			parse_quality(optarg, &c->o.quality_lo, &c->o.quality_hi);
			break;
		case OPT_SEED:
			c->seed = cli_long("--seed", optarg, 0, 9223372036854775807L);
			break;
		case 'o':
			c->out = optarg;
			break;
		case OPT_PUBLISHED:
			c->published = 1;
			break;
		}
	}
	if (optind < argc)
		die_usage("unexpected argument '%s'", argv[optind]);
	if (!c->out || !*c->out)
		die_usage("no output folder given (-o DIR)");
	c->threads = cli_threads(p.threads);
	c->progress = p.progress;
	c->quiet = p.quiet;
	int from = c->pairs_from || c->landmarks_from;
	if (from && (c->identities >= 0 || c->per_id >= 0 || c->pairs >= 0))
		die_usage("--identities, --images-per-id and --pairs do not go with %s",
			  c->pairs_from ? "--pairs-from" : "--landmarks-from");
	if (c->landmarks_from && !c->pairs_from && c->kind && !strcmp(c->kind, "ytf"))
		die_usage("--landmarks-from alone makes still images: --kind ytf needs "
			  "--pairs-from");
	if (c->published && (!c->kind || strcmp(c->kind, "ytf")))
		die_usage("--published applies to --kind ytf only");
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

/* "A/B" into a new string, or die. */
static char *join(const char *a, const char *b)
{
	char *p = path_join(a, b);
	if (!p)
		die("%s", hm_errmsg());
	return p;
}

/*
 * YouTube Faces as published, from the set rendered into OUT/frame_images_DB:
 * per identity frame_images_DB/Name.labeled_faces.txt, one line per frame
 * "Name\video\N.jpg,0,X,Y,W,H,0.0,1" with the face box of its landmarks
 * (centre: their centroid; side: the eye distance / ALIGN_BOX_EYES, so that
 * hm-align's box crop gives the template's face size); the same frames
 * cropped as aligned_images_DB/Name/video/aligned_detect_N.jpg (the box
 * enlarged 2.2 times and centred, resized to the shorter frame side, as
 * YTF's aligned frames; not rotated); splits.txt moved to OUT, the
 * landmarks to OUT/true_landmarks.txt.
 */
static void publish_ytf(const char *out, const char *fdir)
{
	char *lm = join(fdir, "landmarks.txt"), *al = join(out, "aligned_images_DB");
	struct lmk_list list;
	struct jpeg *j = jpeg_new();
	if (!j)
		die("cannot start the JPEG codec");
	if (lmk_load(&list, lm, LMK_PLAIN))
		die("%s", hm_errmsg());
	struct outfile of;
	char name[256] = "";
	int open = 0;
	for (long i = 0; i < list.n; i++) {
		const struct lmk_entry *e = &list.e[i];
		size_t k = strcspn(e->path, "/");
		if (!open || strlen(name) != k || strncmp(name, e->path, k)) {
			if (open && outfile_commit(&of))
				die("%s", hm_errmsg());
			snprintf(name, sizeof name, "%.*s", (int)k, e->path);
			char file[300];
			snprintf(file, sizeof file, "%s.labeled_faces.txt", name);
			char *p = join(fdir, file);
			if (outfile_open(&of, p))
				die("%s", hm_errmsg());
			free(p);
			open = 1;
		}
		double cx = 0, cy = 0;
		for (int q = 0; q < 5; q++) {
			cx += e->pt[q][0] / 5;
			cy += e->pt[q][1] / 5;
		}
		double side = hypot(e->pt[1][0] - e->pt[0][0], e->pt[1][1] - e->pt[0][1]) /
			      ALIGN_BOX_EYES;
		char win[1024];
		snprintf(win, sizeof win, "%s", e->path);
		for (char *c = win; *c; c++)
			if (*c == '/')
				*c = '\\';
		if (fprintf(of.fp, "%s,0,%.0f,%.0f,%.0f,%.0f,0.0,1\n", win, cx, cy, side,
			    side) < 0)
			die("'%s': write error: %s", fdir, strerror(errno));
		/* the aligned frame */
		struct image in = { 0 }, crop = { 0 };
		char *src = join(fdir, e->path);
		if (image_load(j, src, 3, &in))
			die("%s", hm_errmsg());
		int a = in.width < in.height ? in.width : in.height;
		double s = a / (2.2 * side);
		double m[6] = { s, 0, (a - 1) / 2.0 - s * cx, 0, s, (a - 1) / 2.0 - s * cy };
		const char *base = strrchr(e->path, '/');
		char rel[1100];
		snprintf(rel, sizeof rel, "%.*s/aligned_detect_%s",
			 (int)(base - e->path), e->path, base + 1);
		char *dst = join(al, rel);
		if (image_alloc(&crop, a, a, 3) || align_warp(&crop, &in, m) ||
		    make_parent_dirs(dst) || image_save_jpeg(j, &crop, 95, dst))
			die("%s", hm_errmsg());
		image_free(&in);
		image_free(&crop);
		free(src);
		free(dst);
	}
	if (open && outfile_commit(&of))
		die("%s", hm_errmsg());
	char *sp = join(fdir, "splits.txt"), *sp2 = join(out, "splits.txt");
	char *tl = join(out, "true_landmarks.txt");
	if (rename(sp, sp2) || rename(lm, tl))
		die("'%s': cannot move: %s", fdir, strerror(errno));
	free(sp);
	free(sp2);
	free(tl);
	free(lm);
	free(al);
	lmk_list_free(&list);
	jpeg_free(j);
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
	char *fdir = c.published ? join(c.out, "frame_images_DB") : NULL;
	if (synth_set_write(&s, fdir ? fdir : c.out, &c.o, (uint64_t)c.seed, c.threads, &p))
		die("%s", hm_errmsg());
	if (fdir)
		publish_ytf(c.out, fdir);
	free(fdir);
	synth_set_free(&s);
	return 0;
}
