/*
 * t-nnfuse: the fused batch norm + PReLU functions of nn.h against the
 * composition of the naive twins (batchnorm_*_ref, prelu_*_ref, double
 * precision), the recomputation against the forward (the same bytes), the
 * one-pass statistics on data far from zero, channel_affine_prelu() in and
 * out of place, and the bytes for one and two threads.
 */
#include "tap.h"
#include "blas.h"
#include "nn.h"
#include "rng.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* max |a - b| / max |b| */
static double rel_err(const float *a, const float *b, size_t n)
{
	double d = 0, r = 0;
	for (size_t i = 0; i < n; i++) {
		d = fmax(d, fabs((double)a[i] - b[i]));
		r = fmax(r, fabs((double)b[i]));
	}
	return r > 0 ? d / r : d;
}

static float *randv(struct rng *r, size_t n, double lo, double hi)
{
	float *v = malloc(n * sizeof *v);
	for (size_t i = 0; i < n; i++)
		v[i] = (float)rng_range(r, lo, hi);
	return v;
}

static float *copyv(const float *a, size_t n)
{
	float *v = malloc(n * sizeof *v);
	memcpy(v, a, n * sizeof *v);
	return v;
}

/* One shape: forward, apply, backward against the reference chain. */
static void check(int N, int C, int HW, double offset, int with_alpha)
{
	struct rng r;
	rng_seed(&r, (uint64_t)(N * 1000 + C * 10 + HW));
	const size_t n = (size_t)N * C * HW;
	const char *what = with_alpha ? "bn+prelu" : "bn";
	float *x = randv(&r, n, offset - 2, offset + 2), *dout = randv(&r, n, -1, 1);
	float *gamma = randv(&r, (size_t)C, 0.5, 1.5), *beta = randv(&r, (size_t)C, -0.5, 0.5);
	float *alpha = with_alpha ? randv(&r, (size_t)C, -0.3, 0.6) : NULL;
	float *rm = randv(&r, (size_t)C, -1, 1), *rv = randv(&r, (size_t)C, 0.5, 2);
	float *rm2 = copyv(rm, (size_t)C), *rv2 = copyv(rv, (size_t)C);
	float *out = malloc(n * sizeof *out), *z = malloc(n * sizeof *z);
	float *ref = malloc(n * sizeof *ref), *again = malloc(n * sizeof *again);
	float mean[64], invstd[64], mref[64], iref[64];

	batchnorm_prelu_forward(out, mean, invstd, rm, rv, x, gamma, beta, alpha, N, C, HW,
				1e-5f, 0.1f);
	batchnorm_forward_ref(z, mref, iref, rm2, rv2, x, gamma, beta, N, C, HW, 1e-5f, 0.1f);
	if (alpha)
		prelu_forward_ref(ref, z, alpha, N, C, HW);
	else
		memcpy(ref, z, n * sizeof *ref);
	/* Far from zero the float mean itself is off by up to half an ulp of
	 * the offset (3e-5 at 1000), as in any float batch norm. */
	ok(rel_err(out, ref, n) <= (offset ? 1e-4 : 1e-5), "%s %dx%dx%d offset %g: output (%.2g)",
	   what, N, C,
	   HW, offset, rel_err(out, ref, n));
	ok(rel_err(mean, mref, (size_t)C) <= 1e-6 && rel_err(invstd, iref, (size_t)C) <= 1e-5,
	   "%s %dx%dx%d offset %g: mean and invstd (%.2g, %.2g)", what, N, C, HW, offset,
	   rel_err(mean, mref, (size_t)C), rel_err(invstd, iref, (size_t)C));
	ok(rel_err(rm, rm2, (size_t)C) <= 1e-6 && rel_err(rv, rv2, (size_t)C) <= 1e-5,
	   "%s %dx%dx%d: running statistics", what, N, C, HW);

	batchnorm_prelu_apply(again, x, gamma, beta, alpha, mean, invstd, N, C, HW);
	ok(!memcmp(again, out, n * sizeof *out), "%s %dx%dx%d: apply gives the forward's bytes",
	   what, N, C, HW);
	memcpy(again, x, n * sizeof *again);
	batchnorm_prelu_apply(again, again, gamma, beta, alpha, mean, invstd, N, C, HW);
	ok(!memcmp(again, out, n * sizeof *out), "%s %dx%dx%d: apply in place", what, N, C, HW);

	/* Backward from prefilled gradients (they accumulate). */
	float *dx = randv(&r, n, -1, 1), *dxr = copyv(dx, n), *dz = calloc(n, sizeof *dz);
	float dg[64], db[64], da[64], dgr[64], dbr[64], dar[64];
	for (int c = 0; c < C; c++)
		dg[c] = dgr[c] = 0.5f, db[c] = dbr[c] = -0.25f, da[c] = dar[c] = 1;
	batchnorm_prelu_backward(dx, dg, db, alpha ? da : NULL, dout, x, gamma, beta, alpha,
				 mean, invstd, N, C, HW);
	if (alpha)
		prelu_backward_ref(dz, dar, dout, z, alpha, N, C, HW);
	else
		memcpy(dz, dout, n * sizeof *dz);
	batchnorm_backward_ref(dxr, dgr, dbr, dz, x, gamma, mean, invstd, N, C, HW);
	ok(rel_err(dx, dxr, n) <= 1e-4, "%s %dx%dx%d: dinp (%.2g)", what, N, C, HW,
	   rel_err(dx, dxr, n));
	ok(rel_err(dg, dgr, (size_t)C) <= 1e-4 && rel_err(db, dbr, (size_t)C) <= 1e-4,
	   "%s %dx%dx%d: dgamma, dbeta (%.2g, %.2g)", what, N, C, HW,
	   rel_err(dg, dgr, (size_t)C), rel_err(db, dbr, (size_t)C));
	if (alpha)
		ok(rel_err(da, dar, (size_t)C) <= 1e-4, "%s %dx%dx%d: dalpha (%.2g)", what, N, C,
		   HW, rel_err(da, dar, (size_t)C));

	/* The setting variant ignores what dinp held (NaN here) and gives what
	 * the accumulating one (checked above) adds to zero; the parameter
	 * gradients still add. */
	float *dxs = malloc(n * sizeof *dxs), *dx0 = calloc(n, sizeof *dx0);
	float dgs[64], dbs[64], das[64], dg0[64], db0[64], da0[64];
	for (size_t e = 0; e < n; e++)
		dxs[e] = NAN;
	for (int c = 0; c < C; c++)
		dgs[c] = dg0[c] = 0.5f, dbs[c] = db0[c] = -0.25f, das[c] = da0[c] = 1;
	batchnorm_prelu_backward_set(dxs, dgs, dbs, alpha ? das : NULL, dout, x, gamma, beta,
				     alpha, mean, invstd, N, C, HW);
	batchnorm_prelu_backward(dx0, dg0, db0, alpha ? da0 : NULL, dout, x, gamma, beta, alpha,
				 mean, invstd, N, C, HW);
	int same = !memcmp(dgs, dg0, (size_t)C * sizeof *dg0) &&
		   !memcmp(dbs, db0, (size_t)C * sizeof *db0) &&
		   !memcmp(das, da0, (size_t)C * sizeof *da0);
	for (size_t e = 0; e < n; e++)
		same &= dxs[e] == dx0[e];
	ok(same, "%s %dx%dx%d: backward_set sets dinp, adds the rest", what, N, C, HW);
	free(dxs), free(dx0);

	/* channel_affine_prelu: an eval-mode norm as scale and shift. */
	float sc[64], sh[64];
	for (int c = 0; c < C; c++) {
		sc[c] = gamma[c] / sqrtf(rv[c] + 1e-5f);
		sh[c] = beta[c] - rm[c] * sc[c];
	}
	channel_affine_prelu(out, x, sc, sh, alpha, N, C, HW);
	double worst = 0;
	for (size_t e = 0; e < n; e++) {
		int c = (int)(e / HW % C);
		double v = ((double)x[e] - rm[c]) / sqrt((double)rv[c] + 1e-5) * gamma[c] + beta[c];
		v = v > 0 || !alpha ? v : alpha[c] * v;
		worst = fmax(worst, fabs(out[e] - v) / (1 + fabs(offset) * sc[c]));
	}
	ok(worst <= 1e-5, "%s %dx%dx%d: channel_affine_prelu (%.2g)", what, N, C, HW, worst);
	memcpy(again, x, n * sizeof *again);
	channel_affine_prelu(again, again, sc, sh, alpha, N, C, HW);
	ok(!memcmp(again, out, n * sizeof *out), "%s %dx%dx%d: channel_affine_prelu in place",
	   what, N, C, HW);

	free(x), free(dout), free(gamma), free(beta), free(alpha), free(rm), free(rv);
	free(rm2), free(rv2), free(out), free(z), free(ref), free(again);
	free(dx), free(dxr), free(dz);
}

/* The bytes of a forward and backward do not depend on the thread count. */
static void check_threads(void)
{
	const int N = 4, C = 16, HW = 1024;	/* above nn.c's parallel threshold */
	const size_t n = (size_t)N * C * HW;
	struct rng r;
	rng_seed(&r, 3);
	float *x = randv(&r, n, -2, 2), *dout = randv(&r, n, -1, 1);
	float *alpha = randv(&r, (size_t)C, 0, 0.5);
	float *o[2], *d[2], mean[16], invstd[16], da[2][16];
	for (int t = 0; t < 2; t++) {
		blas_set_threads(t + 1);
		o[t] = malloc(n * sizeof(float));
		d[t] = calloc(n, sizeof(float));
		memset(da[t], 0, sizeof da[t]);
		batchnorm_prelu_forward(o[t], mean, invstd, NULL, NULL, x, NULL, NULL, alpha, N, C,
					HW, 1e-5f, 0.1f);
		batchnorm_prelu_backward(d[t], NULL, NULL, da[t], dout, x, NULL, NULL, alpha, mean,
					 invstd, N, C, HW);
	}
	ok(!memcmp(o[0], o[1], n * sizeof(float)) && !memcmp(d[0], d[1], n * sizeof(float)) &&
	   !memcmp(da[0], da[1], sizeof da[0]), "same bytes for 1 and 2 threads");
	blas_set_threads(1);
	free(x), free(dout), free(alpha);
	for (int t = 0; t < 2; t++)
		free(o[t]), free(d[t]);
}

int main(void)
{
	check(3, 5, 37, 0, 1);
	check(3, 5, 37, 0, 0);
	check(2, 7, 1, 0, 1);		/* BatchNorm1d shape */
	check(4, 3, 49, 1000, 1);	/* far from zero: the one-pass variance */
	check(2, 16, 1100, 0, 1);	/* parallel loops */
	/* 2^23 floats and more: nn.c's streaming stores, planes that start
	 * off the cache lines; five planes a channel, past the sums' blocks
	 * of four and two */
	check(5, 3, 559241, 0, 1);
	check_threads();
	return done_testing();
}
