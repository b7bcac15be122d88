/*
 * wgemm.c: the products M[e] = U[e] . V[e] of Winograd convolution
 * (winograd.c: [oc x c] . [c x tiles], 16 or 36 per chunk of tiles, each
 * on one thread) without OpenBLAS's packing.  OpenBLAS copies both
 * operands into its panel layouts on every call: in hm-embed its two
 * copy routines took 10% of the time beside 44% in its kernel, because
 * these products are thin (c and oc 64..512, a few hundred tiles) and the
 * weights U[e] are copied again for every chunk.
 *
 * Here a (the weights) is read in place: the kernel broadcasts a[r][p]
 * from MR row streams, which the hardware prefetches as it would a packed
 * panel.  b is copied once per panel of NR columns into a buffer on the
 * stack (a straight copy of row pieces, no transposition), where the
 * MR x NR kernel reads it for every block of MR rows of a.  The kernel
 * keeps MR x NR sums in registers (AVX-512: 8 x 48, 24 zmm; AVX2: 4 x 24,
 * 12 ymm) and adds one product of k at a time with a fused multiply-add,
 * in order: entry (i, j) is the same bytes whichever thread computes it.
 * The last, narrower panel is computed only as wide as it needs (whole
 * vectors, padded with zeros) and stored under a mask; a block of fewer
 * than MR rows repeats its last row and stores only its own.
 *
 * Products deeper than KMAX take OpenBLAS, as do CPUs without AVX2 and
 * FMA (the choice is made on the first call, by __builtin_cpu_supports).
 */
#include "wgemm.h"
#include "blas.h"

#include <stddef.h>

#define KMAX 512

static enum wgemm_kind chosen = WGEMM_AUTO;

#if defined(__x86_64__) && defined(__GNUC__)
#define WGEMM_X86 1
#include <immintrin.h>

static int cpu_has(enum wgemm_kind kind)
{
	__builtin_cpu_init();
	if (kind == WGEMM_AVX512)
		return __builtin_cpu_supports("avx512f");
	if (kind == WGEMM_AVX2)
		return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
	return 1;
}

#pragma GCC push_options
#pragma GCC target("avx512f")

/* c [mr][nr] = a [mr][k] . bp [k][16 nv] for nv vectors of columns. */
static inline __attribute__((always_inline)) void
tile512(const int nv, int k, const float *a, size_t lda, const float *bp, float *c, size_t ldc,
	int mr, int nr)
{
	__m512 acc[8][3];
	const float *ar[8];
#pragma GCC unroll 8
	for (int r = 0; r < 8; r++) {
		ar[r] = a + (size_t)(r < mr ? r : mr - 1) * lda;
#pragma GCC unroll 3
		for (int v = 0; v < nv; v++)
			acc[r][v] = _mm512_setzero_ps();
	}
	for (int p = 0; p < k; p++, bp += 16 * nv) {
		__m512 b[3];
#pragma GCC unroll 3
		for (int v = 0; v < nv; v++)
			b[v] = _mm512_load_ps(bp + 16 * v);
#pragma GCC unroll 8
		for (int r = 0; r < 8; r++) {
			const __m512 s = _mm512_set1_ps(ar[r][p]);
#pragma GCC unroll 3
			for (int v = 0; v < nv; v++)
				acc[r][v] = _mm512_fmadd_ps(s, b[v], acc[r][v]);
		}
	}
	const __mmask16 tail = (__mmask16)((1u << (nr - 16 * (nv - 1))) - 1);
#pragma GCC unroll 8
	for (int r = 0; r < 8; r++) {
		if (r >= mr)
			break;
#pragma GCC unroll 3
		for (int v = 0; v < nv; v++)
			_mm512_mask_storeu_ps(c + r * ldc + 16 * v, v == nv - 1 ? tail : 0xffff,
					      acc[r][v]);
	}
}

/* bp [k][16 nv] = b [k][j0 .. j0 + nr), zeros past nr. */
static void pack512(int nv, int k, const float *b, size_t ldb, int nr, float *bp)
{
	__mmask16 m[3];
	for (int v = 0; v < nv; v++) {
		const int left = nr - 16 * v;
		m[v] = left >= 16 ? 0xffff : (__mmask16)((1u << left) - 1);
	}
	for (int p = 0; p < k; p++, b += ldb, bp += 16 * nv)
		for (int v = 0; v < nv; v++)
			_mm512_store_ps(bp + 16 * v, _mm512_maskz_loadu_ps(m[v], b + 16 * v));
}

static void gemm512(int m, int n, int k, const float *a, size_t lda, const float *b, size_t ldb,
		    float *c, size_t ldc)
{
	float bp[KMAX * 48] __attribute__((aligned(64)));
	for (int j = 0; j < n; j += 48) {
		const int nr = n - j < 48 ? n - j : 48, nv = (nr + 15) / 16;
		pack512(nv, k, b + j, ldb, nr, bp);
		for (int i = 0; i < m; i += 8) {
			const int mr = m - i < 8 ? m - i : 8;
			const float *ai = a + (size_t)i * lda;
			float *ci = c + (size_t)i * ldc + j;
			if (nv == 3)
				tile512(3, k, ai, lda, bp, ci, ldc, mr, nr);
			else if (nv == 2)
				tile512(2, k, ai, lda, bp, ci, ldc, mr, nr);
			else
				tile512(1, k, ai, lda, bp, ci, ldc, mr, nr);
		}
	}
}
#pragma GCC pop_options

#pragma GCC push_options
#pragma GCC target("avx2,fma")

/* Lanes below n (0..8) set. */
static inline __m256i lanes(int n)
{
	return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* c [mr][nr] = a [mr][k] . bp [k][8 nv]. */
static inline __attribute__((always_inline)) void
tile256(const int nv, int k, const float *a, size_t lda, const float *bp, float *c, size_t ldc,
	int mr, int nr)
{
	__m256 acc[4][3];
	const float *ar[4];
#pragma GCC unroll 4
	for (int r = 0; r < 4; r++) {
		ar[r] = a + (size_t)(r < mr ? r : mr - 1) * lda;
#pragma GCC unroll 3
		for (int v = 0; v < nv; v++)
			acc[r][v] = _mm256_setzero_ps();
	}
	for (int p = 0; p < k; p++, bp += 8 * nv) {
		__m256 b[3];
#pragma GCC unroll 3
		for (int v = 0; v < nv; v++)
			b[v] = _mm256_load_ps(bp + 8 * v);
#pragma GCC unroll 4
		for (int r = 0; r < 4; r++) {
			const __m256 s = _mm256_broadcast_ss(ar[r] + p);
#pragma GCC unroll 3
			for (int v = 0; v < nv; v++)
				acc[r][v] = _mm256_fmadd_ps(s, b[v], acc[r][v]);
		}
	}
	const __m256i tail = lanes(nr - 8 * (nv - 1));
#pragma GCC unroll 4
	for (int r = 0; r < 4; r++) {
		if (r >= mr)
			break;
#pragma GCC unroll 3
		for (int v = 0; v < nv; v++) {
			float *cr = c + r * ldc + 8 * v;
			if (v == nv - 1)
				_mm256_maskstore_ps(cr, tail, acc[r][v]);
			else
				_mm256_storeu_ps(cr, acc[r][v]);
		}
	}
}

static void pack256(int nv, int k, const float *b, size_t ldb, int nr, float *bp)
{
	__m256i m[3];
	for (int v = 0; v < nv; v++)
		m[v] = lanes(nr - 8 * v);
	for (int p = 0; p < k; p++, b += ldb, bp += 8 * nv)
		for (int v = 0; v < nv; v++)
			_mm256_store_ps(bp + 8 * v, _mm256_maskload_ps(b + 8 * v, m[v]));
}

static void gemm256(int m, int n, int k, const float *a, size_t lda, const float *b, size_t ldb,
		    float *c, size_t ldc)
{
	float bp[KMAX * 24] __attribute__((aligned(32)));
	for (int j = 0; j < n; j += 24) {
		const int nr = n - j < 24 ? n - j : 24, nv = (nr + 7) / 8;
		pack256(nv, k, b + j, ldb, nr, bp);
		for (int i = 0; i < m; i += 4) {
			const int mr = m - i < 4 ? m - i : 4;
			const float *ai = a + (size_t)i * lda;
			float *ci = c + (size_t)i * ldc + j;
			if (nv == 3)
				tile256(3, k, ai, lda, bp, ci, ldc, mr, nr);
			else if (nv == 2)
				tile256(2, k, ai, lda, bp, ci, ldc, mr, nr);
			else
				tile256(1, k, ai, lda, bp, ci, ldc, mr, nr);
		}
	}
}
#pragma GCC pop_options

#else
static int cpu_has(enum wgemm_kind kind)
{
	return kind == WGEMM_BLAS;
}
#endif

int wgemm_use(enum wgemm_kind kind)
{
	if (kind == WGEMM_AUTO)
		kind = cpu_has(WGEMM_AVX512) ? WGEMM_AVX512 :
		       cpu_has(WGEMM_AVX2) ? WGEMM_AVX2 : WGEMM_BLAS;
	if (!cpu_has(kind))
		return 0;
	chosen = kind;
	return 1;
}

enum wgemm_kind wgemm_kind(void)
{
	if (chosen == WGEMM_AUTO)
		wgemm_use(WGEMM_AUTO);
	return chosen;
}

void wgemm(int m, int n, int k, const float *a, int lda, const float *b, int ldb, float *c,
	   int ldc)
{
	const enum wgemm_kind kind = k >= 1 && k <= KMAX ? wgemm_kind() : WGEMM_BLAS;
	if (m <= 0 || n <= 0)
		return;
#ifdef WGEMM_X86
	if (kind == WGEMM_AVX512) {
		gemm512(m, n, k, a, (size_t)lda, b, (size_t)ldb, c, (size_t)ldc);
		return;
	}
	if (kind == WGEMM_AVX2) {
		gemm256(m, n, k, a, (size_t)lda, b, (size_t)ldb, c, (size_t)ldc);
		return;
	}
#endif
	sgemm_overwrite(0, 0, m, n, k, a, lda, b, ldb, c, ldc);
}
