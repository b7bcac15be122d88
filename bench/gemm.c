/*
 * bench/gemm.c: GFLOP/s of cblas_sgemm at the shapes IR-18's convolutions
 * hand it (one image: M = out channels, N = out pixels, K = in channels *
 * 9), and of conv2d_forward/conv2d_backward on a whole layer.  Not a test;
 * run by bench/sgemm.sh, which builds it against libhm.a:
 *
 *   bench/sgemm.sh [THREADS]      (default 2)
 *
 * Each figure is the best of several timed repetitions (at least 0.3 s
 * of work), so it measures the kernels, not page faults.  A conv layer's
 * FLOPs are counted as 2 * N * OC * OH * OW * C * K * K for the forward
 * and twice that for the backward (dinp and dweight).
 */
#include "blas.h"
#include "err.h"
#include "nn.h"
#include "rng.h"

#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static float *rnd(size_t n, struct rng *r)
{
	float *p = xmalloc((n ? n : 1) * sizeof *p);
	for (size_t i = 0; i < n; i++)
		p[i] = (float)rng_range(r, -1, 1);
	return p;
}

/* Best seconds per call of fn over repetitions totalling >= 0.3 s. */
static double best_time(void (*fn)(void *), void *ctx)
{
	double best = 1e30, total = 0;
	int reps = 0;
	fn(ctx);	/* warm up: page faults, thread start */
	while (total < 0.3 || reps < 3) {
		double t0 = now();
		fn(ctx);
		double dt = now() - t0;
		total += dt;
		reps++;
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

struct conv_ctx {
	struct conv2d_dims d;
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
	conv2d_backward(c->dx, c->dw, NULL, c->work, c->dy, c->x, c->w, &c->d);
}

static void bench_conv(const struct conv2d_dims *d, struct rng *r)
{
	struct conv_ctx c = { *d, NULL, NULL, NULL, NULL, NULL, NULL, NULL };
	int oh = conv2d_out_h(d), ow = conv2d_out_w(d);
	size_t ni = (size_t)d->n * d->c * d->h * d->w, nw = (size_t)d->oc * d->c * d->k * d->k;
	size_t no = (size_t)d->n * d->oc * oh * ow;
	double flops = 2.0 * no * d->c * d->k * d->k, tf, tb;

	c.x = rnd(ni, r), c.w = rnd(nw, r), c.y = rnd(no, r), c.dy = rnd(no, r);
	c.dx = rnd(ni, r), c.dw = rnd(nw, r), c.work = rnd(conv2d_workspace(d), r);
	tf = best_time(conv_fwd, &c);
	tb = best_time(conv_bwd, &c);
	printf("conv N%d %d->%d %dx%d k%d s%d: forward %7.2f ms %6.1f GFLOP/s, "
	       "backward %7.2f ms %6.1f GFLOP/s\n",
	       d->n, d->c, d->oc, d->h, d->w, d->k, d->stride, 1e3 * tf, flops / tf * 1e-9,
	       1e3 * tb, 2 * flops / tb * 1e-9);
	free(c.x), free(c.w), free(c.y), free(c.dy), free(c.dx), free(c.dw), free(c.work);
}

int main(int argc, char **argv)
{
	/* M, N, K: IR-18's per-image conv sgemms at 112x112 input, and a square one. */
	static const int shapes[][3] = {
		{ 64, 3136, 576 }, { 128, 784, 1152 }, { 256, 196, 2304 },
		{ 512, 49, 4608 }, { 1024, 1024, 1024 },
	};
	static const struct conv2d_dims convs[] = {
		{ 8, 64, 56, 56, 64, 3, 1, 1 },		/* IR-18 layer 1 */
		{ 8, 64, 56, 56, 128, 3, 2, 1 },	/* layer 2's downsampling conv */
		{ 8, 512, 7, 7, 512, 3, 1, 1 },		/* layer 4 */
	};
	struct rng r;
	int threads = argc > 1 ? atoi(argv[1]) : 2;

	hm_set_progname(argv[0]);
	if (blas_init(argc, argv))
		warn("%s", hm_errmsg());
	if (threads < 1)
		die_usage("usage: gemm [THREADS]");
	blas_set_threads(threads);
	rng_seed(&r, 1);
	printf("%s, %d threads\n", blas_describe(), threads);
	for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
		struct gemm_ctx g = { shapes[i][0], shapes[i][1], shapes[i][2], NULL, NULL, NULL };
		g.a = rnd((size_t)g.m * g.k, &r);
		g.b = rnd((size_t)g.k * g.n, &r);
		g.c = rnd((size_t)g.m * g.n, &r);
		double t = best_time(gemm_run, &g);
		printf("sgemm M %4d N %4d K %4d: %7.3f ms %6.1f GFLOP/s\n", g.m, g.n, g.k, 1e3 * t,
		       2.0 * g.m * g.n * g.k / t * 1e-9);
		free(g.a), free(g.b), free(g.c);
	}
	for (size_t i = 0; i < sizeof convs / sizeof convs[0]; i++)
		bench_conv(&convs[i], &r);
	return 0;
}
