/*
 * bench/winoerr.c: the float error of the 3x3 stride-1 layers of IR-18
 * against the double-precision references conv2d_forward_ref() and
 * conv2d_backward_ref(), by path: im2col, Winograd F(2x2, 3x3) and
 * F(4x4, 3x3) (wino_set_tile()).  Not a test (t-winograd.c asserts the
 * bounds on small shapes); prints one line per layer and pass:
 *
 *   winoerr BATCH
 *
 * "layer CxHxW->OC PASS im2col E f2 E f4 E", E = max |got - ref| /
 * max |ref| (norm-wise), inputs, weights and output gradients uniform in
 * [-1, 1).  F(4x4) is "nan" where its workspace does not fit
 * (wino_tile()).  Build it against libhm.a as bench/run.sh builds
 * convstep:
 *
 *   cc -std=c11 -O2 -D_GNU_SOURCE -fopenmp -Icommon -o winoerr \
 *      bench/winoerr.c libhm.a -fopenmp -lturbojpeg -ljpeg -lz -lopenblas \
 *      -lcsv -lpthread -lm
 */
#include "blas.h"
#include "err.h"
#include "nn.h"
#include "rng.h"
#include "winograd.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static double rel_err(const float *got, const float *want, size_t n)
{
	double e = 0, m = 0;
	for (size_t i = 0; i < n; i++) {
		double d = fabs((double)got[i] - want[i]);
		e = d > e ? d : e;
		m = fabs(want[i]) > m ? fabs(want[i]) : m;
	}
	return m > 0 ? e / m : e;
}

static float *uniform(struct rng *r, size_t n)
{
	float *v = malloc(n * sizeof *v);
	if (!v)
		die("out of memory");
	for (size_t i = 0; i < n; i++)
		v[i] = 2.0f * (float)rng_uniform(r) - 1.0f;
	return v;
}

int main(int argc, char **argv)
{
	static const int ir18[][3] = {	/* c, h, oc */
		{ 64, 112, 64 }, { 64, 56, 64 }, { 64, 56, 128 }, { 128, 28, 128 },
		{ 128, 28, 256 }, { 256, 14, 256 }, { 256, 14, 512 }, { 512, 7, 512 },
	};
	struct rng r;

	hm_set_progname(argv[0]);
	if (argc != 2 || atoi(argv[1]) < 1)
		die_usage("usage: winoerr BATCH");
	blas_set_threads(2);
	rng_seed(&r, 3);
	for (size_t i = 0; i < sizeof ir18 / sizeof ir18[0]; i++) {
		const struct conv2d_dims d = { atoi(argv[1]), ir18[i][0], ir18[i][1], ir18[i][1],
					       ir18[i][2], 3, 1, 1 };
		const size_t ni = (size_t)d.n * d.c * d.h * d.w, no = (size_t)d.n * d.oc * d.h * d.w;
		const size_t nw = (size_t)d.oc * d.c * 9;
		float *x = uniform(&r, ni), *w = uniform(&r, nw), *dy = uniform(&r, no);
		float *y = malloc(no * sizeof *y), *dx = calloc(ni, sizeof *dx);
		float *dw = calloc(nw, sizeof *dw), *yr = malloc(no * sizeof *yr);
		float *dxr = calloc(ni, sizeof *dxr), *dwr = calloc(nw, sizeof *dwr);
		float *work = malloc(conv2d_workspace(&d) * sizeof *work);
		double e[3][3];	/* [pass][path] */

		conv2d_forward_ref(yr, x, w, NULL, &d);
		conv2d_backward_ref(dxr, dwr, NULL, dy, x, w, &d);
		for (int p = 0; p < 3; p++) {
			conv2d_set_winograd(p > 0);
			wino_set_tile(p == 2 ? 4 : 2);
			memset(dx, 0, ni * sizeof *dx), memset(dw, 0, nw * sizeof *dw);
			conv2d_forward(y, work, x, w, NULL, &d);
			conv2d_backward(dx, dw, NULL, work, dy, x, w, &d);
			e[0][p] = p == 2 && wino_tile(&d, 0) != 4 ? NAN : rel_err(y, yr, no);
			e[1][p] = p == 2 && wino_tile(&d, 1) != 4 ? NAN : rel_err(dx, dxr, ni);
			e[2][p] = p == 2 && wino_tile(&d, 1) != 4 ? NAN : rel_err(dw, dwr, nw);
		}
		static const char *pass[3] = { "forward", "dinp", "dweight" };
		for (int k = 0; k < 3; k++)
			printf("layer %dx%dx%d->%d %s im2col %.2g f2 %.2g f4 %.2g\n", d.c, d.h, d.w,
			       d.oc, pass[k], e[k][0], e[k][1], e[k][2]);
		fflush(stdout);
		free(x), free(w), free(dy), free(y), free(dx), free(dw), free(yr), free(dxr);
		free(dwr), free(work);
	}
	wino_set_tile(0);
	conv2d_set_winograd(1);
	return 0;
}
