/* hm-train: train a backbone and a margin-loss head on a pack (train.h). */
#include "blas.h"
#include "cli.h"
#include "dist.h"
#include "err.h"
#include "loss.h"
#include "model.h"
#include "optim.h"
#include "outfile.h"
#include "train.h"

#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage_text[] =
	"Usage: hm-train [options] -o DIR (--epochs N | --iters N) PACK.hmr\n"
	"       hm-train --resume DIR|FILE [options] [PACK.hmr]\n"
	"Train a CNN backbone and a classifier head on the labelled pack PACK.hmr\n"
	"(its index PACK.hmi beside it); write DIR/model.hmm, DIR/checkpoint.hmm\n"
	"and DIR/train.csv.\n"
	"\n"
	"  -a, --arch ARCH        ir18, face18[:se] or ir:D1,D2,D3,D4:W1,W2,W3,W4\n"
	"                         (ir18)\n"
	"      --emb-size N       embedding size (the architecture's)\n"
	"      --classes N        classes of the head (max label + 1)\n"
	"      --loss NAME        softmax, asoftmax, arcface or cosface (arcface)\n"
	"      --scale S          s of arcface and cosface (64)\n"
	"      --margin M         m: arcface 0.5, cosface 0.35, asoftmax 4\n"
	"      --easy-margin      arcface: the margin only where cos > 0\n"
	"      --lambda-base F    asoftmax lambda = max(min, base (1 + gamma iter)^-power)\n"
	"      --lambda-gamma F     (1000, 0.12, 1, 5)\n"
	"      --lambda-power F\n"
	"      --lambda-min F\n"
	"      --hm MODE          hard mining: none, power[:g], focal[:g], ohem[:r],\n"
	"                         powern[:g], pivot[:g], focaln[:g] (none)\n"
	"  -b, --batch N          images per step, 2 or more (64)\n"
	"      --epochs N         passes over the pack\n"
	"      --iters N          steps in all (instead of --epochs)\n"
	"      --lr F             learning rate (0.1)\n"
	"      --lr-steps LIST    multiply the rate by 0.1 at each milestone, e.g.\n"
	"                         10,18,22: epochs with --epochs, else iterations\n"
	"      --lr-schedule S    step (default), cosine, or poly[:POWER]: lr (1 -\n"
	"                         t/total)^POWER after the warm-up (POWER 2)\n"
	"      --warmup N         linear warm-up over N iterations (0)\n"
	"      --clip-grad NORM   clip the backbone's gradient to global L2 norm\n"
	"                         NORM (0: off, the default)\n"
	"      --momentum F       SGD momentum (0.9)\n"
	"      --wd F             weight decay, not on batch norm, biases, PReLU\n"
	"                         (5e-4)\n"
	"      --seed N           initialisation, order, flips, dropout (0)\n"
	"  -o, --output DIR       output directory (created)\n"
	"      --checkpoint-every N  write DIR/checkpoint.hmm every N iterations\n"
	"                         (1000; 0: only at the end and when stopped)\n"
	"      --resume PATH      continue from a checkpoint (a file, or a directory\n"
	"                         holding checkpoint.hmm); a longer --iters or\n"
	"                         --epochs and new --lr-steps extend the run\n"
	"      --stop-after N     stop after iteration N as if interrupted\n"
	"      --val SET          verification set, LFW-protocol accuracy each epoch\n"
	"                         (DIR/val.csv): a pack, or an insightface .bin;\n"
	"                         repeat it for several sets\n"
	"      --val-pairs FILE   the pair list of the --val before it (LFW\n"
	"                         pairs.txt, YTF splits, CSV...; default: the\n"
	"                         pack's NAME.pairs.csv, the .bin's own)\n"
	"      --test PACK        closed-set top-1 of the head on PACK at the end\n"
	"      --sync-bn          MPI: batch-norm statistics over all ranks\n"
	"  -j, --threads N        threads (HM_THREADS, else the cores, shared\n"
	"                         among the MPI ranks on this host)\n"
	"      --progress         show progress even when stderr is not a terminal\n"
	"  -q, --quiet            no progress line\n"
	"  -v, --verbose          report the BLAS core, the model and the data\n"
	"  -h, --help             this text\n"
	"      --version          the suite version\n";

enum {
	OPT_EMB = 256, OPT_CLASSES, OPT_LOSS, OPT_SCALE, OPT_MARGIN, OPT_EASY,
	OPT_LBASE, OPT_LGAMMA, OPT_LPOWER, OPT_LMIN, OPT_HM, OPT_EPOCHS,
	OPT_ITERS, OPT_LR, OPT_LR_STEPS, OPT_LR_SCHEDULE, OPT_WARMUP,
	OPT_MOMENTUM, OPT_WD, OPT_SEED, OPT_CKPT, OPT_RESUME, OPT_STOP,
	OPT_VAL, OPT_VAL_PAIRS, OPT_TEST, OPT_SYNC_BN, OPT_CLIP_GRAD
};

struct cmdline {
	struct train_config c;
	const char *threads;
	const char *loss, *hm;
	const char *pairs_next;		/* --val-pairs waiting for its --val */
	const char *scale, *margin, *lbase, *lgamma, *lpower, *lmin;
	int easy, quiet, progress, verbose;
};

/* The long name of option O, a short one's long twin ("batch" for 'b'). */
static const char *long_name(const struct option *lo, int o)
{
	for (; lo->name; lo++)
		if (lo->val == o)
			return lo->name;
	return NULL;
}

static float opt_float(const char *opt, const char *arg, double lo, double hi)
{
	return (float)cli_double(opt, arg, lo, hi);
}

static void parse_args(struct cmdline *cl, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "arch", required_argument, NULL, 'a' },
		{ "emb-size", required_argument, NULL, OPT_EMB },
		{ "classes", required_argument, NULL, OPT_CLASSES },
		{ "loss", required_argument, NULL, OPT_LOSS },
		{ "scale", required_argument, NULL, OPT_SCALE },
		{ "margin", required_argument, NULL, OPT_MARGIN },
		{ "easy-margin", no_argument, NULL, OPT_EASY },
		{ "lambda-base", required_argument, NULL, OPT_LBASE },
		{ "lambda-gamma", required_argument, NULL, OPT_LGAMMA },
		{ "lambda-power", required_argument, NULL, OPT_LPOWER },
		{ "lambda-min", required_argument, NULL, OPT_LMIN },
		{ "hm", required_argument, NULL, OPT_HM },
		{ "batch", required_argument, NULL, 'b' },
		{ "epochs", required_argument, NULL, OPT_EPOCHS },
		{ "iters", required_argument, NULL, OPT_ITERS },
		{ "lr", required_argument, NULL, OPT_LR },
		{ "lr-steps", required_argument, NULL, OPT_LR_STEPS },
		{ "lr-schedule", required_argument, NULL, OPT_LR_SCHEDULE },
		{ "warmup", required_argument, NULL, OPT_WARMUP },
		{ "clip-grad", required_argument, NULL, OPT_CLIP_GRAD },
		{ "momentum", required_argument, NULL, OPT_MOMENTUM },
		{ "wd", required_argument, NULL, OPT_WD },
		{ "seed", required_argument, NULL, OPT_SEED },
		{ "output", required_argument, NULL, 'o' },
		{ "checkpoint-every", required_argument, NULL, OPT_CKPT },
		{ "resume", required_argument, NULL, OPT_RESUME },
		{ "stop-after", required_argument, NULL, OPT_STOP },
		{ "val", required_argument, NULL, OPT_VAL },
		{ "val-pairs", required_argument, NULL, OPT_VAL_PAIRS },
		{ "test", required_argument, NULL, OPT_TEST },
		{ "sync-bn", no_argument, NULL, OPT_SYNC_BN },
		{ NULL, 0, NULL, 0 }
	};
	struct cli p = { .usage = usage_text, .longs = longopts, .shorts = "a:b:o:",
			 .common = CLI_THREADS | CLI_PROGRESS | CLI_VERBOSE };
	struct train_config *c = &cl->c;
	int o;
	while ((o = cli_next(&p, argc, argv)) != -1) {
		switch (o) {
		case 'a':
			if (strlen(optarg) >= sizeof c->arch)
				die_usage("--arch: '%s' is too long", optarg);
			snprintf(c->arch, sizeof c->arch, "%s", optarg);
			if (model_arch_check(c->arch) < 0)	/* exit 2, as other bad values */
				die_usage("--arch: %s", hm_errmsg());
			break;
		case OPT_EMB:
			c->emb_dim = (int)cli_long("--emb-size", optarg, 1, 65536);
			break;
		case OPT_CLASSES:
			c->classes = (int)cli_long("--classes", optarg, 1, 1 << 24);
			break;
		case OPT_LOSS: cl->loss = optarg; break;
		case OPT_SCALE: cl->scale = optarg; break;
		case OPT_MARGIN: cl->margin = optarg; break;
		case OPT_EASY: cl->easy = 1; break;
		case OPT_LBASE: cl->lbase = optarg; break;
		case OPT_LGAMMA: cl->lgamma = optarg; break;
		case OPT_LPOWER: cl->lpower = optarg; break;
		case OPT_LMIN: cl->lmin = optarg; break;
		case OPT_HM: cl->hm = optarg; break;
		case 'b':
			c->batch = (int)cli_long("--batch", optarg, 2, 1 << 16);
			break;
		case OPT_EPOCHS:
			c->epochs = cli_long("--epochs", optarg, 1, 1L << 30);
			break;
		case OPT_ITERS:
			c->iters = cli_long("--iters", optarg, 1, 1L << 40);
			break;
		case OPT_LR:
			c->lr = cli_double("--lr", optarg, 0, 1e38);
			break;
		case OPT_LR_STEPS:
			if (strlen(optarg) >= sizeof c->lr_steps)
				die_usage("--lr-steps: '%s' is too long", optarg);
			snprintf(c->lr_steps, sizeof c->lr_steps, "%s", optarg);
			break;
		case OPT_LR_SCHEDULE:
			if (optim_schedule_parse(&c->schedule, &c->poly_power, optarg) < 0)
				die_usage("--lr-schedule: %s", hm_errmsg());
			break;
		case OPT_WARMUP:
			c->warmup = cli_long("--warmup", optarg, 0, 1L << 40);
			break;
		case OPT_CLIP_GRAD:
			c->clip_grad = cli_double("--clip-grad", optarg, 0, 1e38);
			break;
		case OPT_MOMENTUM:
			c->momentum = cli_double("--momentum", optarg, 0, 1);
			break;
		case OPT_WD:
			c->wd = cli_double("--wd", optarg, 0, 1);
			break;
		case OPT_SEED:
			c->seed = (uint64_t)cli_long("--seed", optarg, 0, LONG_MAX);
			break;
		case 'o': c->out_dir = optarg; break;
		case OPT_CKPT:
			c->checkpoint_every = cli_long("--checkpoint-every", optarg, 0,
						       1L << 40);
			break;
		case OPT_RESUME: c->resume = optarg; break;
		case OPT_STOP:
			c->stop_after = cli_long("--stop-after", optarg, 1, 1L << 40);
			break;
		case OPT_VAL:
			if (c->n_val == TRAIN_MAX_VAL)
				die_usage("--val: %d sets at most", TRAIN_MAX_VAL);
			c->val[c->n_val].path = optarg;
			c->val[c->n_val++].pairs = cl->pairs_next;
			cl->pairs_next = NULL;
			break;
		case OPT_VAL_PAIRS:
			/* The pair list of the --val before it (or of the next
			 * one, when it comes first). */
			if (c->n_val && !c->val[c->n_val - 1].pairs)
				c->val[c->n_val - 1].pairs = optarg;
			else if (!cl->pairs_next)
				cl->pairs_next = optarg;
			else
				die_usage("--val-pairs '%s': the --val before it has a pair "
					  "list already", optarg);
			break;
		case OPT_TEST: c->test = optarg; break;
		case OPT_SYNC_BN: c->sync_bn = 1; break;
		}
		/* One that defines the run: the resume compares it (train.h). */
		train_config_given(c, long_name(longopts, o));
	}
	cl->threads = p.threads;
	cl->progress = p.progress;
	cl->quiet = p.quiet;
	cl->verbose = p.verbose;
	if (optind < argc)
		c->pack = argv[optind++];
	if (optind < argc)
		die_usage("one pack expected, got '%s' too", argv[optind]);

	/* The loss: the kind's defaults, then the constants given. */
	enum loss_kind kind = c->loss.kind;
	if (cl->loss && loss_kind_parse(&kind, cl->loss) < 0)
		die_usage("--loss: %s", hm_errmsg());
	loss_config_default(&c->loss, kind);
	if (cl->hm && loss_hm_parse(&c->loss.hm, &c->loss.hm_param, cl->hm) < 0)
		die_usage("--hm: %s", hm_errmsg());
	if (cl->scale)
		c->loss.s = opt_float("--scale", cl->scale, 1e-6, 1e6);
	if (cl->margin)
		c->loss.m = opt_float("--margin", cl->margin, -1e6, 1e6);
	c->loss.easy_margin = cl->easy;
	if (cl->lbase)
		c->loss.lambda_base = opt_float("--lambda-base", cl->lbase, 0, 1e12);
	if (cl->lgamma)
		c->loss.lambda_gamma = opt_float("--lambda-gamma", cl->lgamma, 0, 1e12);
	if (cl->lpower)
		c->loss.lambda_power = opt_float("--lambda-power", cl->lpower, 0, 1e12);
	if (cl->lmin)
		c->loss.lambda_min = opt_float("--lambda-min", cl->lmin, 0, 1e12);
	if (loss_config_check(&c->loss) < 0)
		die_usage("%s", hm_errmsg());

	if (c->epochs && c->iters)
		die_usage("--epochs and --iters are exclusive");
	if (!c->resume) {
		if (!c->pack)
			die_usage("no pack given");
		if (!c->out_dir)
			die_usage("no output directory (-o DIR)");
		if (!c->epochs && !c->iters)
			die_usage("--epochs or --iters is required");
	}
	if (c->schedule != LR_STEP && c->lr_steps[0])
		die_usage("--lr-steps is for the step schedule, not %s",
			  c->schedule == LR_COSINE ? "cosine" : "poly");
	if (c->lr_steps[0]) {
		long st[OPTIM_MAX_STEPS];
		int n;
		if (optim_steps_parse(st, &n, c->lr_steps) < 0)
			die_usage("--lr-steps: %s", hm_errmsg());
	}
	if (cl->pairs_next)
		die_usage("--val-pairs '%s' without a --val", cl->pairs_next);
	if (cl->quiet && cl->progress)
		die_usage("--quiet and --progress are exclusive");
}

int main(int argc, char **argv)
{
	struct cmdline cl;
	static char rank_name[64];
	hm_set_progname(argv[0]);
	if (blas_init(argc, argv) < 0)
		warn("%s", hm_errmsg());
	if (dist_init(&argc, &argv) < 0)
		die("%s", hm_errmsg());
	int rank = dist_rank(), size = dist_size();
	if (size > 1) {
		/* "hm-train (rank 1 of 4): ..." tells the ranks' messages apart. */
		snprintf(rank_name, sizeof rank_name, "%s (rank %d of %d)", hm_progname(),
			 rank, size);
		hm_set_progname(rank_name);
	}
	memset(&cl, 0, sizeof cl);
	train_config_default(&cl.c);
	parse_args(&cl, argc, argv);
	int threads = cli_threads(cl.threads);
	if (!cl.threads && !getenv("HM_THREADS") && dist_joined())
		threads = dist_default_threads(threads);	/* not oversubscribed */
	blas_set_threads(threads);
	cl.c.threads = threads;
	cl.c.progress = rank == 0 && cli_want_progress(cl.progress, cl.quiet);
	cl.c.report = stdout;
	cl.c.log = cl.verbose && rank == 0 ? stderr : NULL;
	if (cl.c.log)
		fprintf(stderr, "hm-train: %s; %d threads; %s\n", blas_describe(), threads,
			dist_describe());
	outfile_cleanup_on_signals();
	train_catch_signals();

	int sig = 0;
	long iter = 0;
	int how = train_run(&cl.c, &sig, &iter);
	if (how < 0) {
		if (size < 2)
			die("%s", hm_errmsg());
		/* Other ranks may be waiting in a sum: end them all. */
		warn("%s", hm_errmsg());
		dist_abort(1);
	}
	dist_finalize();
	if (how == TRAIN_INTERRUPTED) {
		if (rank == 0)
			warn("%s at iteration %ld; checkpoint written; continue with "
			     "--resume", sig == SIGINT ? "interrupted (SIGINT)" :
			     "terminated (SIGTERM)", iter);
		return 128 + sig;
	}
	if (how == TRAIN_STOPPED && rank == 0)
		warn("stopped after iteration %ld (--stop-after); checkpoint written", iter);
	return 0;
}
