/*
 * bench/gemm.c: how close IR-18's convolutions come to the machine's sgemm
 * peak.  Measures plain cblas_sgemm on large square matrices (the peak),
 * then conv2d_forward and conv2d_backward on every convolution shape of
 * IR-18 at 3x112x112 (layer counts as in the network, backward as in a
 * training step: no dinp for the stem), and prints each in GFLOP/s and in
 * percent of the peak, then the whole training step's convolutions.  Not a
 * test; run by bench/sgemm.sh, which builds it against libhm.a (and
 * against an older common/nn.c for a before/after comparison):
 *
 *   gemm [THREADS [BATCH [LABEL]]]      (defaults 2, 64, "hm")
 *
 * Each figure is the best of three timed calls after a warm-up call, so it
 * measures the kernels, not page faults, and the best of a few calls is
 * the figure least disturbed by other work on a shared machine.  The
 * peak is the best of the square sgemms timed before and after the layers.
 * A layer's FLOPs are 2 * N * OC * OH * OW * C * K * K for the forward and
 * twice that for the backward (dinp and dweight; once for the stem).
 * Lines start with a tag (peak, conv, step) for scripts.
 */
#include "blas.h"
#include "err.h"
#include "nn.h"
#include "rng.h"
#include "probe.h"

#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* Best seconds per call of fn: three timed calls after a warm-up. */
static double best_time(void (*fn)(void *), void *ctx)
{
	double best = 1e30;
	fn(ctx);
	for (int rep = 0; rep < 3; rep++) {
		double t0 = now();
		fn(ctx);
		double dt = now() - t0;
		if (dt < best)
			best = dt;
	}
	return best;
}

struct gemm_ctx {
	int m, n, k;
	float *a, *b, *c;
};

static void gemm_run(void *p)
{
	struct gemm_ctx *g = p;
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, g->m, g->n, g->k, 1.0f, g->a,
		    g->k, g->b, g->n, 0.0f, g->c, g->n);
}

/* The best GFLOP/s of square sgemms of a few sizes. */
static double sgemm_peak(struct rng *r)
{
	static const int sizes[] = { 1024, 1536, 2048 };
	double best = 0;
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		int s = sizes[i];
		struct gemm_ctx g = { s, s, s, rnd((size_t)s * s, r), rnd((size_t)s * s, r),
				      rnd((size_t)s * s, r) };
		double gf = 2.0 * s * s * s / best_time(gemm_run, &g) * 1e-9;
		best = gf > best ? gf : best;
		free(g.a), free(g.b), free(g.c);
	}
	return best;
}

struct conv_ctx {
	struct conv2d_dims d;
	int want_dinp;
	float *x, *w, *y, *dy, *dx, *dw, *work;
};

static void conv_fwd(void *p)
{
	struct conv_ctx *c = p;
	conv2d_forward(c->y, c->work, c->x, c->w, NULL, &c->d);
}

static void conv_bwd(void *p)
{
	struct conv_ctx *c = p;
	conv2d_backward(c->want_dinp ? c->dx : NULL, c->dw, NULL, c->work, c->dy, c->x, c->w,
			&c->d);
}

/* IR-18 (insightface iresnet18) at 3x112x112: each distinct convolution
 * with the number of times a step runs it. */
static const struct layer {
	const char *name;
	int count, c, hw, oc, k, stride, pad;
} ir18[] = {
	{ "conv1 (stem)", 1, 3, 112, 64, 3, 1, 1 },
	{ "layer1.0.conv1", 1, 64, 112, 64, 3, 1, 1 },
	{ "layer1.0.conv2", 1, 64, 112, 64, 3, 2, 1 },
	{ "layer1.0.downsample", 1, 64, 112, 64, 1, 2, 0 },
	{ "layer1.1.conv1,2", 2, 64, 56, 64, 3, 1, 1 },
	{ "layer2.0.conv1", 1, 64, 56, 128, 3, 1, 1 },
	{ "layer2.0.conv2", 1, 128, 56, 128, 3, 2, 1 },
	{ "layer2.0.downsample", 1, 64, 56, 128, 1, 2, 0 },
	{ "layer2.1.conv1,2", 2, 128, 28, 128, 3, 1, 1 },
	{ "layer3.0.conv1", 1, 128, 28, 256, 3, 1, 1 },
	{ "layer3.0.conv2", 1, 256, 28, 256, 3, 2, 1 },
	{ "layer3.0.downsample", 1, 128, 28, 256, 1, 2, 0 },
	{ "layer3.1.conv1,2", 2, 256, 14, 256, 3, 1, 1 },
	{ "layer4.0.conv1", 1, 256, 14, 512, 3, 1, 1 },
	{ "layer4.0.conv2", 1, 512, 14, 512, 3, 2, 1 },
	{ "layer4.0.downsample", 1, 256, 14, 512, 1, 2, 0 },
	{ "layer4.1.conv1,2", 2, 512, 7, 512, 3, 1, 1 },
};

int main(int argc, char **argv)
{
	struct rng r;
	int threads = argc > 1 ? atoi(argv[1]) : 2, batch = argc > 2 ? atoi(argv[2]) : 64;
	const char *label = argc > 3 ? argv[3] : "hm";
	double peak, flops_step = 0, time_step = 0, flops_f = 0, time_f = 0;

	hm_set_progname(argv[0]);
	if (blas_init(argc, argv))
		warn("%s", hm_errmsg());
	if (threads < 1 || batch < 1)
		die_usage("usage: gemm [THREADS [BATCH [LABEL]]]");
	blas_set_threads(threads);
	rng_seed(&r, 1);
	printf("# %s: %s, %d threads, batch %d\n", label, blas_describe(), threads, batch);
	peak = sgemm_peak(&r);
	printf("peak %s sgemm %.1f GFLOP/s (square 1024..2048, before the layers)\n", label, peak);
	fflush(stdout);
	for (size_t i = 0; i < sizeof ir18 / sizeof ir18[0]; i++) {
		const struct layer *l = &ir18[i];
		struct conv_ctx c = { { batch, l->c, l->hw, l->hw, l->oc, l->k, l->stride, l->pad },
				      i > 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL };
		const struct conv2d_dims *d = &c.d;
		int oh = conv2d_out_h(d), ow = conv2d_out_w(d);
		size_t ni = (size_t)d->n * d->c * d->h * d->w;
		size_t nw = (size_t)d->oc * d->c * d->k * d->k;
		size_t no = (size_t)d->n * d->oc * oh * ow;
		double flops = 2.0 * no * d->c * d->k * d->k, bflops = (c.want_dinp ? 2 : 1) * flops;

		c.x = rnd(ni, &r), c.w = rnd(nw, &r), c.y = rnd(no, &r), c.dy = rnd(no, &r);
		c.dx = rnd(ni, &r), c.dw = rnd(nw, &r), c.work = rnd(conv2d_workspace(d), &r);
		double tf = best_time(conv_fwd, &c), tb = best_time(conv_bwd, &c);
		printf("conv %s %-20s x%d %3d->%3d %3dx%-3d k%d s%d: forward %8.2f ms %6.1f GFLOP/s "
		       "(%3.0f%%), backward %8.2f ms %6.1f GFLOP/s (%3.0f%%)\n",
		       label, l->name, l->count, d->c, d->oc, d->h, d->w, d->k, d->stride, 1e3 * tf,
		       flops / tf * 1e-9, 100 * flops / tf * 1e-9 / peak, 1e3 * tb,
		       bflops / tb * 1e-9, 100 * bflops / tb * 1e-9 / peak);
		fflush(stdout);
		flops_f += l->count * flops;
		time_f += l->count * tf;
		flops_step += l->count * (flops + bflops);
		time_step += l->count * (tf + tb);
		free(c.x), free(c.w), free(c.y), free(c.dy), free(c.dx), free(c.dw), free(c.work);
	}
	double peak2 = sgemm_peak(&r);
	printf("peak %s sgemm %.1f GFLOP/s (after the layers)\n", label, peak2);
	peak = peak2 > peak ? peak2 : peak;
	printf("step %s convolutions, forward: %.2f s for %d images, %.1f GFLOP/s, %.0f%% of "
	       "the sgemm peak %.1f\n", label, time_f, batch, flops_f / time_f * 1e-9,
	       100 * flops_f / time_f * 1e-9 / peak, peak);
	printf("step %s convolutions, training step: %.2f s for %d images, %.1f GFLOP/s, %.0f%% "
	       "of the sgemm peak %.1f\n", label, time_step, batch, flops_step / time_step * 1e-9,
	       100 * flops_step / time_step * 1e-9 / peak, peak);
	return 0;
}
