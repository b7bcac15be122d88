/*
 * bench/wgemm.c: the products of Winograd convolution (winograd.c) for
 * the chunk shapes of IR-18's 3x3 layers at batch 64, on one thread, by
 * wgemm() (common/wgemm.c) and by OpenBLAS (held to one thread),
 * interleaved: wgemm, blas, wgemm, blas, ...  The three passes: forward
 * M[e] = U[e] . V[e] [oc x c] . [c x nt], dinp V[e] = U[e]^T . M[e] (for
 * wgemm U[e]^T stored as such, as winograd.c's backward writes it),
 * dweight dU[e] += M[e] . V[e]^T.  Not a test; prints per shape and pass
 * the median GFLOP/s of each over RUNS runs (each run: the ne products
 * of one chunk, repeated for at least 0.2 s of the thread's CPU time):
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

#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

/* Seconds of this thread's CPU time (other load on the machine weighs
 * less on it than on wall time). */
static double cpu_seconds(void)
{
	struct timespec t;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
	return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* GFLOP/s of the chunk's ne products of one pass (0 forward, 1 dinp, 2
 * dweight) by wgemm or by OpenBLAS (blas), repeated for 0.2 s of CPU. */
static double run(int blas, int pass, const struct shape *s, float *U, float *V, float *M,
		  float *dU)
{
	const int oc = s->oc, c = s->c, nt = s->nt;
	const size_t us = (size_t)oc * c, vs = (size_t)c * nt, ms = (size_t)oc * nt;
	long reps = 0;
	double t0 = cpu_seconds(), t;
	do {
		for (int e = 0; e < s->ne; e++) {
			float *u = U + e * us, *v = V + e * vs, *m = M + e * ms, *du = dU + e * us;
			if (pass == 0 && blas)
				sgemm_overwrite(0, 0, oc, nt, c, u, c, v, nt, m, nt);
			else if (pass == 0)
				wgemm(0, 0, 0, oc, nt, c, u, c, v, nt, m, nt);
			else if (pass == 1 && blas)
				sgemm_overwrite(1, 0, c, nt, oc, u, c, m, nt, v, nt);
			else if (pass == 1)	/* U[e]^T as winograd.c writes it for dinp */
				wgemm(0, 0, 0, c, nt, oc, u, oc, m, nt, v, nt);
			else if (blas)
				cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, oc, c, nt, 1.0f,
					    m, nt, v, nt, 1.0f, du, c);
			else
				wgemm(0, 1, 1, oc, c, nt, m, nt, v, nt, du, c);
		}
		reps++;
		t = cpu_seconds() - t0;
	} while (t < 0.2);
	return 2.0 * s->ne * oc * c * nt * reps / t * 1e-9;
}

static int cmp(const void *a, const void *b)
{
	const double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	static const char *const pass_name[3] = { "forward", "dinp", "dweight" };
	int runs = argc > 1 ? atoi(argv[1]) : 5;
	runs = runs < 1 ? 1 : runs > 64 ? 64 : runs;
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
		float *dU = xmalloc((size_t)s->ne * s->oc * s->c * sizeof *dU);
		for (size_t j = 0; j < (size_t)s->ne * s->oc * s->c; j++)
			U[j] = (float)rng_range(&r, -1, 1);
		for (size_t j = 0; j < (size_t)s->ne * s->c * s->nt; j++)
			V[j] = (float)rng_range(&r, -1, 1);
		for (size_t j = 0; j < (size_t)s->ne * s->oc * s->nt; j++)
			M[j] = (float)rng_range(&r, -1, 1);
		memset(dU, 0, (size_t)s->ne * s->oc * s->c * sizeof *dU);
		for (int pass = 0; pass < 3; pass++) {
			double g[2][64];
			for (int k = 0; k < runs; k++)
				for (int b = 0; b < 2; b++)
					g[b][k] = run(b, pass, s, U, V, M, dU);
			qsort(g[0], runs, sizeof **g, cmp);
			qsort(g[1], runs, sizeof **g, cmp);
			printf("%-16s %-7s %dx[%dx%d].[%dx%d] wgemm %.1f blas %.1f ratio %.2f\n",
			       s->name, pass_name[pass], s->ne, s->oc, s->c, s->c, s->nt,
			       g[0][runs / 2], g[1][runs / 2], g[0][runs / 2] / g[1][runs / 2]);
		}
		free(U), free(V), free(M), free(dU);
	}
	return 0;
}
