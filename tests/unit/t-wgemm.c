/*
 * wgemm() (common/wgemm.c) with every kernel this CPU has (OpenBLAS,
 * AVX2, AVX-512; wgemm_use()) against a plain double-precision product,
 * each of a and b as given or transposed, c overwritten or added to:
 * shapes around the kernels' blocks (8 x 48 and 4 x 24: fewer rows than a
 * block, one more, a narrower last panel, one column), strides wider than
 * the rows, depth 1 to past two blocks of k (wgemm.c, depth_block()); that
 * c is overwritten whatever it held (NaN) and nothing outside [m][n] is
 * written; that the same call gives the same bytes twice.  And that with
 * OpenBLAS's SkylakeX core the AVX-512 kernel gives OpenBLAS's bytes (the
 * same order of sums), on products big enough for its general path.
 *
 * The bound, per entry: |got - ref| <= (k + 1) 2^-23 (|c0| + sum_p |a_ip
 * b_pj|), twice the classic bound for a float sum of k products (and c0,
 * the value added to) in any order (k u times the sum of magnitudes, u =
 * 2^-24); a wrong index or a lost product gives errors of the order of
 * the entries themselves.
 */
#include "tap.h"
#include "floats.h"
#include "blas.h"
#include "wgemm.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>

static struct rng R;

/* Element (i, j) of x [rows][ld], or of its transpose. */
static float at(const float *x, int trans, size_t ld, int i, int j)
{
	return trans ? x[(size_t)j * ld + i] : x[(size_t)i * ld + j];
}

/* c (+)= op(a) . op(b) through wgemm, checked entry by entry; 1 if all
 * pass, else a diagnostic and 0.  f: ta, tb, add in bits 0, 1, 2. */
static int check(const char *kind, int f, int m, int n, int k, int pad)
{
	const int ta = f & 1, tb = f >> 1 & 1, add = f >> 2 & 1;
	const int lda = (ta ? m : k) + pad, ldb = (tb ? k : n) + pad, ldc = n + 2 * pad;
	float *a = rand_floats(&R, (size_t)(ta ? k : m) * lda, -1, 1);
	float *b = rand_floats(&R, (size_t)(tb ? n : k) * ldb, -1, 1);
	const size_t nc = (size_t)m * ldc + 16;
	float *c = rand_floats(&R, nc, -1, 1);
	for (size_t i = 0; i < nc; i++)
		if (!(i / ldc < (size_t)m && (int)(i % ldc) < n))
			c[i] = 7.0f;
		else if (!add)
			c[i] = NAN;
	float *c0 = copyf(c, nc), *c2 = copyf(c, nc);
	wgemm(ta, tb, add, m, n, k, a, lda, b, ldb, c, ldc);
	wgemm(ta, tb, add, m, n, k, a, lda, b, ldb, c2, ldc);

	int bad = 0, outside = 0;
	for (int i = 0; i < m; i++)
		for (int j = 0; j < n; j++) {
			const double s0 = add ? c0[(size_t)i * ldc + j] : 0;
			double s = s0, mag = fabs(s0);
			for (int p = 0; p < k; p++) {
				const double x = (double)at(a, ta, lda, i, p) * at(b, tb, ldb, p, j);
				s += x, mag += fabs(x);
			}
			if (!(fabs(c[(size_t)i * ldc + j] - s) <= (k + 1) * ldexp(1, -23) * mag))
				bad++;
		}
	for (size_t i = 0; i < nc; i++)
		if (!(i / ldc < (size_t)m && (int)(i % ldc) < n) && c[i] != 7.0f)
			outside++;
	const int pass = !bad && !outside && !memcmp(c, c2, nc * sizeof *c);
	if (!pass)
		diag("%s%s%s%s %dx%d . %dx%d pad %d: %d entries off, %d written outside%s", kind,
		     ta ? " a^T" : "", tb ? " b^T" : "", add ? " add" : "", m, k, k, n, pad, bad,
		     outside, memcmp(c, c2, nc * sizeof *c) ? ", not the same bytes twice" : "");
	free(a), free(b), free(c), free(c0), free(c2);
	return pass;
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
		const int m = 64, n = 448, k = ks[t], f = (int)t % 4, ta = f & 1, tb = f >> 1;
		float *a = rand_floats(&R, (size_t)m * k, -1, 1);
		float *b = rand_floats(&R, (size_t)k * n, -1, 1);
		float *c = rand_floats(&R, (size_t)m * n, -1, 1), *c2 = copyf(c, (size_t)m * n);
		const int lda = ta ? m : k, ldb = tb ? k : n;
		const int add = t % 2;
		wgemm(ta, tb, add, m, n, k, a, lda, b, ldb, c, n);
		if (add)
			cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans,
				    tb ? CblasTrans : CblasNoTrans, m, n, k, 1.0f, a, lda, b, ldb,
				    1.0f, c2, n);
		else
			sgemm_overwrite(ta, tb, m, n, k, a, lda, b, ldb, c2, n);
		ok(!memcmp(c, c2, (size_t)m * n * sizeof *c), "avx512%s%s%s %dx%d . %dx%d: OpenBLAS's bytes",
		   ta ? " a^T" : "", tb ? " b^T" : "", add ? " add" : "", m, k, k, n);
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
		const char *name = kinds[t].name;
		if (!wgemm_use(kinds[t].kind)) {
			diag("this CPU has no %s kernel: not tested here", name);
			continue;
		}
		ok(wgemm_kind() == kinds[t].kind, "%s: wgemm_use takes it", name);
		for (int f = 0; f < 8; f++) {
			int pass = 1;
			for (size_t i = 0; i < sizeof ms / sizeof *ms; i++)
				for (size_t j = 0; j < sizeof ns / sizeof *ns; j++)
					pass &= check(name, f, ms[i], ns[j], 64, (int)(i + j) % 3);
			for (size_t p = 0; p < sizeof ks / sizeof *ks; p++)
				pass &= check(name, f, 9, 49, ks[p], 1);
			pass &= check(name, f, 64, 448, 64, 0);	/* IR-18's 64@56 */
			pass &= check(name, f, 512, 128, 512, 0);	/* and 512@7 */
			ok(pass, "%s%s%s%s: every shape within the bound, nothing else written, "
			   "the same bytes twice", name, f & 1 ? " a^T" : "", f & 2 ? " b^T" : "",
			   f & 4 ? " add" : "");
		}
	}
	same_as_blas();
	return done_testing();
}
