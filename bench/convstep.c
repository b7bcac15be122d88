/*
 * bench/convstep.c: GFLOP/s of the convolution layers of one IR-18 training
 * step (common/nn.c conv2d_forward over every layer, then conv2d_backward
 * in reverse order) beside plain sgemm in the same process, interleaved:
 * sgemm, conv step, sgemm, conv step, ...  Not a test; bench/run.sh (make
 * bench) builds it against libhm.a and reads its output:
 *
 *   convstep THREADS BATCH RUNS
 *
 * prints one line per run, "run R sgemm G conv G conv_cpu G" (GFLOP/s;
 * conv_cpu: per second of the process's CPU time, which other load on
 * the machine disturbs less than wall time: at THREADS 1 the kernels'
 * own rate, at 2 it counts the threads' spinning too), then
 * "train_gflop_per_image F" (6 x model_macs("ir18"), i.e. forward, dinp
 * and dweight of every layer, FC included) and the BLAS core in use.
 *
 *   convstep THREADS BATCH RUNS compare
 *
 * instead times the conv step with Winograd off (im2col) and on
 * (conv2d_set_winograd()), interleaved, one line per run, "run R im2col G
 * winograd G", then per layer "layer I CxHxW->OC kK sS im2col G winograd
 * G wino yes|no" (forward + backward, median over the runs).  GFLOP/s are
 * always direct-convolution FLOPs over time (effective rates).
 *
 *   convstep THREADS BATCH RUNS tiles
 *
 * times the conv step with every Winograd layer forced to F(2x2, 3x3) and
 * to F(4x4, 3x3) (wino_set_tile()), interleaved, "run R f2 G f4 G", then
 * per Winograd layer its forward and backward GFLOP/s under each (medians)
 * and the tile the automatic choice takes ("auto FORWARD/BACKWARD").
 *
 *   convstep THREADS BATCH RUNS wgemm
 *
 * the same with Winograd's products by OpenBLAS and by common/wgemm.c's
 * kernel (wgemm_use()): "run R blas G wgemm G", then per layer.
 *
 *   convstep THREADS BATCH RUNS stride2
 *
 * the same with the 3x3 stride-2 layers on the im2col path and by input
 * phase (common/convs2.c, convs2_set()): "run R im2col G phases G", then
 * per such layer (the backward is the same path in both).
 *
 * The layers are IR-18 at 3x112x112 as model.h describes it (stem conv3x3
 * 3->64; stages of two IBasicBlocks, widths 64..512, the stage's stride 2
 * on the first block's second conv3x3, plus a conv1x1 stride-2 shortcut),
 * each with its own weights and its own input (a training step keeps every
 * conv input for dweight), so small layers do not find their data warm in
 * the cache from the layer before; out, dout and dinp are shared buffers
 * (transient in a training step too).  The stem's dinp is not computed (a
 * training step does not need it).  At batch 64 this holds about 1.5 GiB.
 * Use the training batch: conv2d_* may group the images of a batch into
 * one sgemm, so the batch changes the speed of the small layers.  Their MACs are checked
 * against model_macs() minus the FC layer, so a change of the architecture
 * shows here.  sgemm: cblas_sgemm 1024x1024x1024, repeated for at least
 * 0.5 s, total FLOPs over total time; conv step: one timed pass per run
 * after one untimed warm-up pass (page faults, thread start-up).  Both are
 * whole-interval rates, not the best of many, so load from elsewhere on the
 * machine weighs on them alike.
 */
#include "blas.h"
#include "convs2.h"
#include "err.h"
#include "model.h"
#include "nn.h"
#include "rng.h"
#include "probe.h"
#include "wgemm.h"
#include "winograd.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct layer {
	struct conv2d_dims d;
	float *x, *w, *dw;	/* own input, weights, weight gradient */
	float *y, *dy, *dx;	/* shared; dx NULL for the stem */
	double macs;		/* forward multiply-adds */
};

/* IR-18's conv layers at 112x112, in forward order; returns their count. */
static int ir18_convs(struct conv2d_dims *out, int batch)
{
	static const int widths[4] = { 64, 128, 256, 512 };
	int n = 0, res = 112, in = 64;

	out[n++] = (struct conv2d_dims){ batch, 3, 112, 112, 64, 3, 1, 1 };
	for (int s = 0; s < 4; s++) {
		int p = widths[s];
		/* first block: conv1 at res, conv2 stride 2, conv1x1 stride-2 shortcut */
		out[n++] = (struct conv2d_dims){ batch, in, res, res, p, 3, 1, 1 };
		out[n++] = (struct conv2d_dims){ batch, p, res, res, p, 3, 2, 1 };
		out[n++] = (struct conv2d_dims){ batch, in, res, res, p, 1, 2, 0 };
		res /= 2;
		/* second block: two conv3x3 stride 1 */
		out[n++] = (struct conv2d_dims){ batch, p, res, res, p, 3, 1, 1 };
		out[n++] = (struct conv2d_dims){ batch, p, res, res, p, 3, 1, 1 };
		in = p;
	}
	return n;
}

/* Seconds of CPU time this process has used, all threads. */
static double cpu_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* GFLOP/s of n x n x n sgemms repeated for >= 0.5 s (after one untimed). */
static double sgemm_rate(int n, float *a, float *b, float *c)
{
	double t0, total = 0;
	int reps = 0;

	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f,
		    c, n);
	t0 = now();
	for (; total < 0.5 || reps < 3; reps++) {
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n,
			    0.0f, c, n);
		total = now() - t0;
	}
	return 2.0 * n * n * n * reps / total * 1e-9;
}

/* One training step's convolutions: forward in order, backward in reverse;
 * per layer, when lt is not NULL, its forward + backward seconds, and when
 * bt is not NULL its backward seconds alone. */
static double conv_step2(struct layer *l, int n, float *work, double *lt, double *bt)
{
	double t0 = now(), t;
	for (int i = 0; i < n; i++) {
		t = now();
		conv2d_forward(l[i].y, work, l[i].x, l[i].w, NULL, &l[i].d);
		if (lt)
			lt[i] = now() - t;
	}
	for (int i = n - 1; i >= 0; i--) {
		t = now();
		conv2d_backward(l[i].dx, l[i].dw, NULL, work, l[i].dy, l[i].x, l[i].w, &l[i].d);
		if (lt)
			lt[i] += now() - t;
		if (bt)
			bt[i] = now() - t;
	}
	return now() - t0;
}

static double conv_step(struct layer *l, int n, float *work, double *lt)
{
	return conv_step2(l, n, work, lt, NULL);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* The median of v[0], v[stride], ... (n values; sorts a copy). */
static double median_of(const double *v, int n, int stride)
{
	double t[64];
	for (int i = 0; i < n; i++)
		t[i] = v[(size_t)i * stride];
	qsort(t, (size_t)n, sizeof *t, cmp_double);
	return n % 2 ? t[n / 2] : (t[n / 2 - 1] + t[n / 2]) / 2;
}

/* Winograd off and on, interleaved (see the header comment). */
static void compare(struct layer *l, int n, float *work, int runs, double flops)
{
	double lt[2][64][32];	/* [path][run][layer] */

	for (int run = 1; run <= runs; run++) {
		double t[2];
		for (int p = 0; p < 2; p++) {
			conv2d_set_winograd(p);
			t[p] = conv_step(l, n, work, lt[p][run - 1]);
		}
		printf("run %d im2col %.1f winograd %.1f\n", run, flops / t[0] * 1e-9,
		       flops / t[1] * 1e-9);
		fflush(stdout);
	}
	for (int i = 0; i < n; i++) {
		const struct conv2d_dims *d = &l[i].d;
		double f = 2 * l[i].macs * (i ? 3 : 2);
		printf("layer %d %dx%dx%d->%d k%d s%d im2col %.1f winograd %.1f wino %s\n", i, d->c,
		       d->h, d->w, d->oc, d->k, d->stride, f / median_of(&lt[0][0][i], runs, 32) * 1e-9,
		       f / median_of(&lt[1][0][i], runs, 32) * 1e-9,
		       wino_applies(d) ? "yes" : "no");
	}
	conv2d_set_winograd(1);
}

/* Mode "tiles": F(2x2, 3x3) or F(4x4, 3x3) for every layer. */
static void set_tile(int p)
{
	wino_set_tile(p ? 4 : 2);
}

/* Mode "wgemm": Winograd's products by OpenBLAS or by wgemm's kernel. */
static void set_wgemm(int p)
{
	wgemm_use(p ? WGEMM_AUTO : WGEMM_BLAS);
}

/* Mode "stride2": the 3x3 stride-2 layers by im2col or by phase. */
static void set_phases(int p)
{
	convs2_set(p);
}

/* The layers a mode's variants change. */
static int shown(const struct conv2d_dims *d, void (*set)(int))
{
	if (set == set_phases)
		return d->k == 3 && d->stride == 2;
	return wino_applies(d);
}

/* Two variants of the Winograd path (set(0), set(1): F(2x2) and F(4x4),
 * or OpenBLAS and wgemm), interleaved: per Winograd layer the median
 * forward and backward GFLOP/s of each. */
static void two_ways(struct layer *l, int n, float *work, int runs, double flops,
		     void (*set)(int), const char *const name[2])
{
	double lt[2][64][32], bt[2][64][32];	/* [variant][run][layer] */

	for (int run = 1; run <= runs; run++) {
		double t[2];
		for (int p = 0; p < 2; p++) {
			set(p);
			t[p] = conv_step2(l, n, work, lt[p][run - 1], bt[p][run - 1]);
		}
		printf("run %d %s %.1f %s %.1f\n", run, name[0], flops / t[0] * 1e-9, name[1],
		       flops / t[1] * 1e-9);
		fflush(stdout);
	}
	wino_set_tile(0);
	wgemm_use(WGEMM_AUTO);
	convs2_set(1);
	for (int i = 0; i < n; i++) {
		const struct conv2d_dims *d = &l[i].d;
		double f = 2 * l[i].macs;
		if (!shown(d, set))
			continue;
		for (int p = 0; p < 2; p++)
			for (int r = 0; r < runs; r++)
				lt[p][r][i] -= bt[p][r][i];
		printf("layer %d %dx%dx%d->%d forward %s %.1f %s %.1f backward %s %.1f %s %.1f",
		       i, d->c, d->h, d->w, d->oc, name[0],
		       f / median_of(&lt[0][0][i], runs, 32) * 1e-9,
		       name[1], f / median_of(&lt[1][0][i], runs, 32) * 1e-9, name[0],
		       2 * f / median_of(&bt[0][0][i], runs, 32) * 1e-9, name[1],
		       2 * f / median_of(&bt[1][0][i], runs, 32) * 1e-9);
		if (set == set_phases)
			printf(" total %s %.1f %s %.1f\n", name[0],
			       3 * f / (median_of(&lt[0][0][i], runs, 32) +
					median_of(&bt[0][0][i], runs, 32)) * 1e-9,
			       name[1], 3 * f / (median_of(&lt[1][0][i], runs, 32) +
						 median_of(&bt[1][0][i], runs, 32)) * 1e-9);
		else
			printf(" auto %d/%d\n", wino_tile(d, 0), wino_tile(d, 1));
	}
}

int main(int argc, char **argv)
{
	struct conv2d_dims dims[32];
	struct layer l[32];
	struct rng r;
	size_t n_work = 0;
	double flops = 0, macs = 0;

	hm_set_progname(argv[0]);
	if (blas_init(argc, argv))
		warn("%s", hm_errmsg());
	if (argc != 4 && !(argc == 5 && (!strcmp(argv[4], "compare") || !strcmp(argv[4], "tiles") ||
					 !strcmp(argv[4], "wgemm") || !strcmp(argv[4], "stride2"))))
		die_usage("usage: convstep THREADS BATCH RUNS [compare|tiles|wgemm|stride2]");
	int threads = atoi(argv[1]), batch = atoi(argv[2]), runs = atoi(argv[3]);
	if (threads < 1 || batch < 1 || runs < 1 || (argc == 5 && runs > 64))
		die_usage("usage: convstep THREADS>=1 BATCH>=1 RUNS>=1 (<= 64 with compare)");
	blas_set_threads(threads);
	rng_seed(&r, 1);

	int n = ir18_convs(dims, batch);
	size_t max_in = 0, max_out = 0;
	for (int i = 0; i < n; i++) {
		const struct conv2d_dims *d = &dims[i];
		size_t ni = (size_t)d->n * d->c * d->h * d->w;
		size_t no = (size_t)d->n * d->oc * conv2d_out_h(d) * conv2d_out_w(d);
		size_t nk = conv2d_workspace(d);
		max_in = ni > max_in ? ni : max_in;
		max_out = no > max_out ? no : max_out;
		n_work = nk > n_work ? nk : n_work;
	}
	float *y = rnd(max_out, &r), *dy = rnd(max_out, &r), *dx = rnd(max_in, &r);
	for (int i = 0; i < n; i++) {
		const struct conv2d_dims *d = &dims[i];
		size_t ni = (size_t)d->n * d->c * d->h * d->w;
		size_t nw = (size_t)d->oc * d->c * d->k * d->k;
		size_t no = (size_t)d->n * d->oc * conv2d_out_h(d) * conv2d_out_w(d);
		l[i] = (struct layer){ *d, rnd(ni, &r), rnd(nw, &r), rnd(nw, &r), y, dy,
				       i ? dx : NULL, (double)no * d->c * d->k * d->k };
		macs += l[i].macs / batch;
		flops += 2 * l[i].macs * (i ? 3 : 2);	/* forward, dweight, dinp */
	}
	float *work = rnd(n_work, &r);

	/* the conv layers are the model's MACs but for the FC (7x7x512 -> 512) */
	struct model *m = model_new("ir18", 0, 0, 0, 0);
	if (!m)
		die("%s", hm_errmsg());
	double model = model_macs(m), fc = 512.0 * 7 * 7 * 512;
	if (fabs(model - fc - macs) > 1e-6 * model)
		warn("conv layers here: %.0f MACs per image; model_macs - FC: %.0f (has ir18 changed?)",
		     macs, model - fc);

	int sq = 1024;
	float *a = rnd((size_t)sq * sq, &r), *b = rnd((size_t)sq * sq, &r);
	float *c = rnd((size_t)sq * sq, &r);
	conv_step(l, n, work, NULL);	/* warm-up */
	if (argc == 5 && strcmp(argv[4], "compare")) {
		static const char *const tile_names[2] = { "f2", "f4" };
		static const char *const wgemm_names[2] = { "blas", "wgemm" };
		static const char *const phase_names[2] = { "im2col", "phases" };
		const int t = !strcmp(argv[4], "tiles"), w = !strcmp(argv[4], "wgemm");
		void (*set)(int) = t ? set_tile : w ? set_wgemm : set_phases;
		set(0);
		conv_step(l, n, work, NULL);	/* warm-up of the other path */
		two_ways(l, n, work, runs, flops, set,
			 t ? tile_names : w ? wgemm_names : phase_names);
		runs = 0;
	} else if (argc == 5) {
		conv2d_set_winograd(0);
		conv_step(l, n, work, NULL);	/* warm-up of the other path */
		compare(l, n, work, runs, flops);
		runs = 0;
	}
	for (int run = 1; run <= runs; run++) {
		double peak = sgemm_rate(sq, a, b, c), c0 = cpu_now();
		double t = conv_step(l, n, work, NULL);
		printf("run %d sgemm %.1f conv %.1f conv_cpu %.1f\n", run, peak, flops / t * 1e-9,
		       flops / (cpu_now() - c0) * 1e-9);
		fflush(stdout);
	}
	printf("train_gflop_per_image %.2f\n", 6 * model * 1e-9);
	printf("conv_layers %d batch %d threads %d\n", n, batch, threads);
	printf("blas %s\n", blas_describe());

	for (int i = 0; i < n; i++)
		free(l[i].x), free(l[i].w), free(l[i].dw);
	free(y), free(dy), free(dx), free(work), free(a), free(b), free(c);
	model_free(m);
	return 0;
}
