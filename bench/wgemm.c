/*
 * bench/wgemm.c: the products of Winograd's forward (winograd.c, M[e] =
 * U[e] . V[e], [oc x c] . [c x nt]) for the chunk shapes of IR-18's 3x3
 * layers at batch 64, on one thread, by wgemm() (common/wgemm.c) and by
 * sgemm_overwrite() (OpenBLAS held to one thread), interleaved: wgemm,
 * blas, wgemm, blas, ...  Not a test; prints per shape the median GFLOP/s
 * of each over RUNS runs (each run: the ne products of one chunk, each
 * operand its own, repeated for at least 0.2 s):
 *
 *   wgemm [RUNS]
 *
 * Build it against libhm.a as bench/run.sh builds convstep:
 *
 *   cc -std=c11 -O2 -D_GNU_SOURCE -fopenmp -Icommon -o wgemm bench/wgemm.c \
 *      libhm.a -fopenmp -lturbojpeg -ljpeg -lz -lopenblas -lcsv -lpthread -lm
 */
#include "blas.h"
#include "err.h"
#include "rng.h"
#include "wgemm.h"
#include "probe.h"

#include <stdio.h>
#include <stdlib.h>

struct shape {
	int ne, oc, c, nt;
	const char *name;
};

/* The chunk shapes winograd.c's plan gives IR-18's layers at batch 64. */
static const struct shape shapes[] = {
	{ 36, 64, 64, 448, "64@112 f4" },
	{ 36, 64, 64, 448, "64@56 f4" },
	{ 16, 128, 64, 504, "64->128@28 f2" },
	{ 16, 128, 128, 504, "128@28 f2" },
	{ 16, 256, 128, 252, "128->256@14 f2" },
	{ 16, 256, 256, 252, "256@14 f2" },
	{ 16, 512, 256, 128, "256->512@7 f2" },
	{ 16, 512, 512, 128, "512@7 f2" },
};

static double run(int blas, const struct shape *s, float *U, float *V, float *M)
{
	const size_t us = (size_t)s->oc * s->c, vs = (size_t)s->c * s->nt;
	const size_t ms = (size_t)s->oc * s->nt;
	long reps = 0;
	double t0 = now(), t;
	do {
		for (int e = 0; e < s->ne; e++)
			if (blas)
				sgemm_overwrite(0, 0, s->oc, s->nt, s->c, U + e * us, s->c,
						V + e * vs, s->nt, M + e * ms, s->nt);
			else
				wgemm(0, s->oc, s->nt, s->c, U + e * us, s->c, V + e * vs, s->nt,
				      M + e * ms, s->nt);
		reps++;
		t = now() - t0;
	} while (t < 0.2);
	return 2.0 * s->ne * s->oc * s->c * s->nt * reps / t * 1e-9;
}

static int cmp(const void *a, const void *b)
{
	const double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	const int runs = argc > 1 ? atoi(argv[1]) : 5;
	struct rng r;
	blas_init(argc, argv);
	blas_set_threads(1);
	rng_seed(&r, 1);
	wgemm_use(WGEMM_AUTO);
	printf("kernel %d\n", (int)wgemm_kind());
	for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) {
		const struct shape *s = &shapes[i];
		float *U = xmalloc((size_t)s->ne * s->oc * s->c * sizeof *U);
		float *V = xmalloc((size_t)s->ne * s->c * s->nt * sizeof *V);
		float *M = xmalloc((size_t)s->ne * s->oc * s->nt * sizeof *M);
		for (size_t j = 0; j < (size_t)s->ne * s->oc * s->c; j++)
			U[j] = (float)rng_range(&r, -1, 1);
		for (size_t j = 0; j < (size_t)s->ne * s->c * s->nt; j++)
			V[j] = (float)rng_range(&r, -1, 1);
		double g[2][64];
		for (int k = 0; k < runs && k < 64; k++)
			for (int b = 0; b < 2; b++)
				g[b][k] = run(b, s, U, V, M);
		qsort(g[0], runs, sizeof **g, cmp);
		qsort(g[1], runs, sizeof **g, cmp);
		printf("%-16s %dx[%dx%d].[%dx%d] wgemm %.1f blas %.1f ratio %.2f\n", s->name,
		       s->ne, s->oc, s->c, s->c, s->nt, g[0][runs / 2], g[1][runs / 2],
		       g[0][runs / 2] / g[1][runs / 2]);
		free(U), free(V), free(M);
	}
	return 0;
}
