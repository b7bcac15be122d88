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
 * For tests and A/B: the kernel later calls take (WGEMM_AUTO: the widest
 * the CPU has, else OpenBLAS).  Returns 0 and changes nothing when the CPU
 * lacks it.  Not thread-safe: call it between products.
 */
int wgemm_use(enum wgemm_kind kind);

/* The kernel calls take now (never WGEMM_AUTO). */
enum wgemm_kind wgemm_kind(void);

#endif
