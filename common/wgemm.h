/*
 * wgemm: the single-threaded products of Winograd's batched sgemms
 * (common/winograd.c), c [m][n] = a [m][k] . b [k][n], row-major, with
 * a register-blocked AVX-512 or AVX2 kernel chosen at run time.  See
 * wgemm.c for why it beats OpenBLAS on these shapes.
 */
#ifndef HM_WGEMM_H
#define HM_WGEMM_H

/* The kernels wgemm_use() can ask for. */
enum wgemm_kind { WGEMM_AUTO, WGEMM_BLAS, WGEMM_AVX2, WGEMM_AVX512 };

/*
 * c [m][n] (row stride ldc) = op(a) [m][k] . op(b) [k][n], or with add
 * c += that: what sgemm_overwrite(trans_a, trans_b, ...) or cblas_sgemm
 * with beta 1 give.  op(a) is a [m][k] (row stride lda) or with trans_a
 * a^T, a [k][m]; op(b) likewise b [k][n] or b^T (ldb).  Without add c may
 * hold anything (NaN).  Runs on the calling thread only (the caller
 * holds OpenBLAS to one thread when it is the BLAS path).  Each entry is
 * summed over k in order with fused multiply-adds, in blocks of k as
 * OpenBLAS's SkylakeX kernel does, so the bytes do not depend on the
 * caller's threads.
 */
void wgemm(int trans_a, int trans_b, int add, int m, int n, int k, const float *a, int lda,
	   const float *b, int ldb, float *c, int ldc);

/*
 * Builds a panel of an implicit b for wgemm_panels(): bp [kb][ld] =
 * b (p0 .. p0 + kb, j0 .. j0 + nr), rows ld floats apart, zeros in
 * columns nr .. ld.
 */
typedef void wgemm_pack_fn(void *ctx, int p0, int kb, int j0, int nr, float *bp, int ld);

/*
 * c [m][n] (row stride ldc) = a [m][k] (row stride lda) . b [k][n], k >= 1,
 * b never stored whole: `pack` writes each panel the kernel reads (a copy
 * of b's entries, such as an im2col matrix's, from where they lie).  The
 * same sums, in the same order, as wgemm() on the stored b.  Returns 0
 * and does nothing when the products take OpenBLAS (wgemm_kind()), which
 * needs b stored: the caller takes its own path then.
 */
int wgemm_panels(int m, int n, int k, const float *a, int lda, wgemm_pack_fn *pack, void *ctx,
		 float *c, int ldc);

/*
 * For tests and A/B: the kernel later calls take (WGEMM_AUTO: the widest
 * the CPU has, else OpenBLAS).  Returns 0 and changes nothing when the CPU
 * lacks it.  Not thread-safe: call it between products.
 */
int wgemm_use(enum wgemm_kind kind);

/* The kernel calls take now (never WGEMM_AUTO). */
enum wgemm_kind wgemm_kind(void);

#endif
