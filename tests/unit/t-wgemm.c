/*
 * wgemm() (common/wgemm.c) with every kernel this CPU has (OpenBLAS,
 * AVX2, AVX-512; wgemm_use()) against a plain double-precision product:
 * shapes around the kernels' blocks (8 x 48 and 4 x 24: fewer rows than a
 * block, one more, a narrower last panel, one column), a as given or
 * transposed, strides wider than
 * the rows, depth 1 to past two blocks of k (wgemm.c, depth_block()); that c
 * is overwritten whatever it held (NaN) and nothing outside [m][n] is
 * written; that the same call gives the same bytes twice.  And that with
 * OpenBLAS's SkylakeX core the AVX-512 kernel gives OpenBLAS's bytes (the
 * same order of sums), on products big enough for its general path.
 *
 * The bound, per entry: |got - ref| <= k 2^-23 sum_p |a_ip b_pj|, twice
 * the classic bound for a float sum of k products in any order (k u
 * times the sum of magnitudes, u = 2^-24); a wrong index or a lost
 * product gives errors of the order of the entries themselves.
 */
#include "tap.h"
#include "floats.h"
#include "blas.h"
#include "wgemm.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

static struct rng R;

/* c = a . b through wgemm, checked entry by entry. */
static void check(const char *kind, int ta, int m, int n, int k, int pad)
{
	const int lda = (ta ? m : k) + pad, ldb = n + pad, ldc = n + 2 * pad;
	const size_t ri = ta ? 1 : (size_t)lda, rp = ta ? (size_t)lda : 1;	/* a(i, p) */
	float *a = rand_floats(&R, (size_t)(ta ? k : m) * lda, -1, 1);
	float *b = rand_floats(&R, (size_t)k * ldb, -1, 1);
	const size_t nc = (size_t)m * ldc + 16;
	float *c = rand_floats(&R, nc, 0, 0), *c2 = rand_floats(&R, nc, 0, 0);
	for (size_t i = 0; i < nc; i++)
		c[i] = c2[i] = (i / ldc < (size_t)m && (int)(i % ldc) < n) ? NAN : 7.0f;
	wgemm(ta, m, n, k, a, lda, b, ldb, c, ldc);
	wgemm(ta, m, n, k, a, lda, b, ldb, c2, ldc);

	int bad = 0, outside = 0;
	double worst = 0;
	for (int i = 0; i < m; i++)
		for (int j = 0; j < n; j++) {
			double s = 0, mag = 0;
			for (int p = 0; p < k; p++) {
				const double x = (double)a[i * ri + p * rp] * b[(size_t)p * ldb + j];
				s += x, mag += fabs(x);
			}
			const double e = fabs(c[(size_t)i * ldc + j] - s);
			if (!(e <= k * ldexp(1, -23) * mag))
				bad++;
			if (mag > 0 && e / mag > worst)
				worst = e / mag;
		}
	for (size_t i = 0; i < nc; i++)
		if (!(i / ldc < (size_t)m && (int)(i % ldc) < n) && c[i] != 7.0f)
			outside++;
	if (!ok(!bad && !outside && !memcmp(c, c2, nc * sizeof *c),
		     "%s %s%dx%d . %dx%d pad %d: within the bound, nothing else written, "
		     "same bytes twice", kind, ta ? "transposed " : "", m, k, k, n, pad))
		diag("  %d entries off (worst %.3g of the magnitudes), %d written outside",
		     bad, worst, outside);
	free(a), free(b), free(c), free(c2);
}

/* On SkylakeX the AVX-512 kernel sums as OpenBLAS does (see above). */
static void same_as_blas(void)
{
	if (!strstr(blas_describe(), "core SkylakeX") || !wgemm_use(WGEMM_AVX512)) {
		diag("not OpenBLAS SkylakeX with AVX-512: the bytes are not compared");
		return;
	}
	static const int ks[] = { 64, 256, 448, 512, 513, 1000 };
	for (size_t t = 0; t < sizeof ks / sizeof *ks; t++) {
		const int m = 64, n = 448, k = ks[t];
		float *a = rand_floats(&R, (size_t)m * k, -1, 1);
		float *b = rand_floats(&R, (size_t)k * n, -1, 1);
		float *c = rand_floats(&R, (size_t)m * n, 0, 0), *c2 = copyf(c, (size_t)m * n);
		wgemm(1, m, n, k, a, m, b, n, c, n);
		sgemm_overwrite(1, 0, m, n, k, a, m, b, n, c2, n);
		ok(!memcmp(c, c2, (size_t)m * n * sizeof *c), "avx512 %dx%d . %dx%d: OpenBLAS's bytes",
		   m, k, k, n);
		free(a), free(b), free(c), free(c2);
	}
}

int main(void)
{
	static const struct {
		enum wgemm_kind kind;
		const char *name;
	} kinds[] = { { WGEMM_BLAS, "blas" }, { WGEMM_AVX2, "avx2" }, { WGEMM_AVX512, "avx512" } };
	static const int ms[] = { 1, 3, 4, 5, 8, 9, 64 };
	static const int ns[] = { 1, 7, 8, 16, 23, 24, 25, 47, 48, 49, 100, 448 };
	static const int ks[] = { 1, 2, 64, 448, 449, 512, 513, 1000 };

	blas_set_threads(1);
	rng_seed(&R, 11);
	ok(wgemm_use(WGEMM_AUTO) && wgemm_kind() != WGEMM_AUTO, "the automatic choice names a kernel");
	for (size_t t = 0; t < sizeof kinds / sizeof *kinds; t++) {
		if (!wgemm_use(kinds[t].kind)) {
			diag("this CPU has no %s kernel: not tested here", kinds[t].name);
			continue;
		}
		ok(wgemm_kind() == kinds[t].kind, "%s: wgemm_use takes it", kinds[t].name);
		for (size_t i = 0; i < sizeof ms / sizeof *ms; i++)
			for (size_t j = 0; j < sizeof ns / sizeof *ns; j++)
				for (int ta = 0; ta < 2; ta++)
					check(kinds[t].name, ta, ms[i], ns[j], 64, (int)(i + j) % 3);
		for (size_t p = 0; p < sizeof ks / sizeof *ks; p++)
			check(kinds[t].name, (int)p % 2, 9, 49, ks[p], 1);
		check(kinds[t].name, 0, 64, 448, 64, 0);	/* a chunk of IR-18's 64@56 */
		check(kinds[t].name, 0, 512, 128, 512, 0);	/* and of its 512@7 */
		check(kinds[t].name, 1, 512, 128, 512, 0);	/* its dinp */
	}
	same_as_blas();
	return done_testing();
}
