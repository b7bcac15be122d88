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
 * panel.  (A transposed a is read as MR neighbours of each row, which
 * is slow when the rows are long: on 512-float rows, 2 KiB apart, few
 * cache sets hold them, and dinp lost to OpenBLAS that way; winograd.c
 * writes U[e]^T for it instead.)  b is copied once per panel of NR
 * columns into a buffer on the stack (a straight copy of row pieces, or
 * a gather down the columns of a transposed b: dweight's V[e]^T), where
 * the MR x NR kernel reads it for every block of MR rows of a.  The kernel
 * keeps MR x NR sums in registers (AVX-512: 8 x 48, 24 zmm; AVX2: 4 x 24,
 * 12 ymm) and adds one product of k at a time with a fused multiply-add,
 * in order: entry (i, j) is the same bytes whichever thread computes it.
 * The last, narrower panel is computed only as wide as it needs (whole
 * vectors, padded with zeros) and stored under a mask; a block of fewer
 * than MR rows repeats its last row and stores only its own.
 *
 * Deep products are summed in blocks of k (depth_block()), each block's
 * sums added to c.  CPUs without AVX2 and FMA take OpenBLAS (the choice is
 * made on the first call, by __builtin_cpu_supports; a clang build, too).
 */
#include "wgemm.h"
#include "blas.h"

#include <cblas.h>
#include <stddef.h>

/* GCC's target pragmas: clang (the fuzzing build) ignores them and
 * refuses the intrinsics, so there the products stay on OpenBLAS, as
 * winograd.c's and nn.c's target_clones stay off. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define WGEMM_X86 1
#include <immintrin.h>
#endif

/* The deepest block of k summed in registers: OpenBLAS's GEMM_Q for
 * SkylakeX sgemm (see depth_block()). */
#define KQ 448

static enum wgemm_kind chosen = WGEMM_AUTO;

#ifdef WGEMM_X86
/*
 * The depth of the next block of k, `left` still to sum: OpenBLAS's split
 * (driver/level3/level3.c, GEMM_Q 448 and GEMM_UNROLL_M 16 for SkylakeX):
 * whole blocks of KQ while 2 KQ or more are left, else all that is left
 * if it is at most KQ, else about half of it.  On that core the kernels
 * therefore give the same bytes as OpenBLAS (measured: IR-18's products
 * at batch 64; an ir18 training run is bit-for-bit the same), and the sums
 * of deep products are split as in the reference's accuracy figures.
 * Small products (the demo's 16- and 32-channel layers) OpenBLAS sums
 * with another kernel, so there the last bits differ.
 */
static int depth_block(int left)
{
	if (left >= 2 * KQ)
		return KQ;
	return left <= KQ ? left : (left / 2 + 15) / 16 * 16;
}

/* One product: c [m][n] (+)= a . b, a (i, p) at a [i ars + p aps], b (p, j)
 * at b [p bps + j bjs]. */
struct op {
	int m, n, k, add;
	const float *a, *b;
	float *c;
	size_t ars, aps, bps, bjs, ldc;
	wgemm_pack_fn *pack;	/* when not NULL, it builds b's panels */
	void *ctx;
};


static int cpu_has(enum wgemm_kind kind)
{
	__builtin_cpu_init();
	if (kind == WGEMM_AVX512)
		return __builtin_cpu_supports("avx512f");
	if (kind == WGEMM_AVX2)
		return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
	return 1;
}

/*
 * The driver, the same for both widths: panels of NR columns of b (nv
 * vectors of W floats), blocks of k (depth_block()), blocks of MR rows.
 * TILE(nv, k, a, ars, aps, bp, c, ldc, mr, nr, add) and PACK(nv, k, b,
 * bps, bjs, nr, bp) are the width's kernel and copy.
 */
#define DRIVER(name, W, MR, TILE, PACK, ALIGN)                                       \
	static void name(const struct op *o)                                         \
	{                                                                            \
		float bp[KQ * 3 * W] __attribute__((aligned(ALIGN)));                \
		for (int j = 0; j < o->n; j += 3 * W) {                              \
			const int nr = o->n - j < 3 * W ? o->n - j : 3 * W;          \
			const int nv = (nr + W - 1) / W;                             \
			for (int l = 0, kb; l < o->k; l += kb) {                     \
				kb = depth_block(o->k - l);                          \
				if (o->pack)                                         \
					o->pack(o->ctx, l, kb, j, nr, bp, W * nv);   \
				else                                                 \
					PACK(nv, kb, o->b + l * o->bps + j * o->bjs, \
					     o->bps, o->bjs, nr, bp);                \
				const int add = o->add || l > 0;                     \
				for (int i = 0; i < o->m; i += MR) {                 \
					const int mr = o->m - i < MR ? o->m - i : MR; \
					const float *ai = o->a + i * o->ars + l * o->aps; \
					float *ci = o->c + i * o->ldc + j;           \
					if (nv == 3)                                 \
						TILE(3, kb, ai, o->ars, o->aps, bp, ci, \
						     o->ldc, mr, nr, add);           \
					else if (nv == 2)                            \
						TILE(2, kb, ai, o->ars, o->aps, bp, ci, \
						     o->ldc, mr, nr, add);           \
					else                                         \
						TILE(1, kb, ai, o->ars, o->aps, bp, ci, \
						     o->ldc, mr, nr, add);           \
				}                                                    \
			}                                                            \
		}                                                                    \
	}

#pragma GCC push_options
#pragma GCC target("avx512f")

/* c [mr][nr] (+)= a [mr][k] . bp [k][16 nv] for nv vectors of columns,
 * a (r, p) at a [r rs + p ps]. */
static inline __attribute__((always_inline)) void
tile512(const int nv, int k, const float *a, size_t rs, size_t ps, const float *bp, float *c,
	size_t ldc, int mr, int nr, int add)
{
	__m512 acc[8][3];
	size_t ar[8];
#pragma GCC unroll 8
	for (int r = 0; r < 8; r++) {
		ar[r] = (size_t)(r < mr ? r : mr - 1) * rs;
#pragma GCC unroll 3
		for (int v = 0; v < nv; v++)
			acc[r][v] = _mm512_setzero_ps();
	}
	for (int p = 0; p < k; p++, a += ps, bp += 16 * nv) {
		__m512 b[3];
#pragma GCC unroll 3
		for (int v = 0; v < nv; v++)
			b[v] = _mm512_load_ps(bp + 16 * v);
#pragma GCC unroll 8
		for (int r = 0; r < 8; r++) {
			const __m512 s = _mm512_set1_ps(a[ar[r]]);
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
		for (int v = 0; v < nv; v++) {
			float *cv = c + r * ldc + 16 * v;
			const __mmask16 m = v == nv - 1 ? tail : 0xffff;
			__m512 x = acc[r][v];
			if (add)
				x = _mm512_add_ps(x, _mm512_maskz_loadu_ps(m, cv));
			_mm512_mask_storeu_ps(cv, m, x);
		}
	}
}

/* bp [k][16 nv] = b (0 .. k, 0 .. nr), zeros past nr: row pieces, or
 * gathered down the columns of a transposed b. */
static void pack512(int nv, int k, const float *b, size_t bps, size_t bjs, int nr, float *bp)
{
	__mmask16 m[3];
	for (int v = 0; v < nv; v++) {
		const int left = nr - 16 * v;
		m[v] = left >= 16 ? 0xffff : (__mmask16)((1u << left) - 1);
	}
	if (bjs == 1) {
		for (int p = 0; p < k; p++, b += bps, bp += 16 * nv)
			for (int v = 0; v < nv; v++)
				_mm512_store_ps(bp + 16 * v, _mm512_maskz_loadu_ps(m[v], b + 16 * v));
		return;
	}
	const __m512i idx = _mm512_mullo_epi32(_mm512_set1_epi32((int)bjs),
					       _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10,
								 11, 12, 13, 14, 15));
	for (int p = 0; p < k; p++, b += bps, bp += 16 * nv)
		for (int v = 0; v < nv; v++)
			_mm512_store_ps(bp + 16 * v,
					_mm512_mask_i32gather_ps(_mm512_setzero_ps(), m[v], idx,
								 b + 16 * v * bjs, 4));
}

DRIVER(gemm512, 16, 8, tile512, pack512, 64)
#pragma GCC pop_options

#pragma GCC push_options
#pragma GCC target("avx2,fma")

/* Lanes below n (0..8) set. */
static inline __m256i lanes(int n)
{
	return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* c [mr][nr] (+)= a [mr][k] . bp [k][8 nv], a (r, p) at a [r rs + p ps]. */
static inline __attribute__((always_inline)) void
tile256(const int nv, int k, const float *a, size_t rs, size_t ps, const float *bp, float *c,
	size_t ldc, int mr, int nr, int add)
{
	__m256 acc[4][3];
	size_t ar[4];
#pragma GCC unroll 4
	for (int r = 0; r < 4; r++) {
		ar[r] = (size_t)(r < mr ? r : mr - 1) * rs;
#pragma GCC unroll 3
		for (int v = 0; v < nv; v++)
			acc[r][v] = _mm256_setzero_ps();
	}
	for (int p = 0; p < k; p++, a += ps, bp += 8 * nv) {
		__m256 b[3];
#pragma GCC unroll 3
		for (int v = 0; v < nv; v++)
			b[v] = _mm256_load_ps(bp + 8 * v);
#pragma GCC unroll 4
		for (int r = 0; r < 4; r++) {
			const __m256 s = _mm256_broadcast_ss(a + ar[r]);
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
			float *cv = c + r * ldc + 8 * v;
			const __m256i m = v == nv - 1 ? tail : lanes(8);
			__m256 x = acc[r][v];
			if (add)
				x = _mm256_add_ps(x, _mm256_maskload_ps(cv, m));
			_mm256_maskstore_ps(cv, m, x);
		}
	}
}

static void pack256(int nv, int k, const float *b, size_t bps, size_t bjs, int nr, float *bp)
{
	__m256i m[3];
	for (int v = 0; v < nv; v++)
		m[v] = lanes(nr - 8 * v);
	if (bjs == 1) {
		for (int p = 0; p < k; p++, b += bps, bp += 8 * nv)
			for (int v = 0; v < nv; v++)
				_mm256_store_ps(bp + 8 * v, _mm256_maskload_ps(b + 8 * v, m[v]));
		return;
	}
	const __m256i idx = _mm256_mullo_epi32(_mm256_set1_epi32((int)bjs),
					       _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
	for (int p = 0; p < k; p++, b += bps, bp += 8 * nv)
		for (int v = 0; v < nv; v++)
			_mm256_store_ps(bp + 8 * v,
					_mm256_mask_i32gather_ps(_mm256_setzero_ps(), b + 8 * v * bjs,
								 idx, _mm256_castsi256_ps(m[v]), 4));
}

DRIVER(gemm256, 8, 4, tile256, pack256, 32)
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

void wgemm(int trans_a, int trans_b, int add, int m, int n, int k, const float *a, int lda,
	   const float *b, int ldb, float *c, int ldc)
{
	if (m <= 0 || n <= 0)
		return;
#ifdef WGEMM_X86
	const struct op o = {
		m, n, k, add, a, b, c,
		trans_a ? 1 : (size_t)lda, trans_a ? (size_t)lda : 1,
		trans_b ? 1 : (size_t)ldb, trans_b ? (size_t)ldb : 1, (size_t)ldc, NULL, NULL
	};
	const enum wgemm_kind kind = k >= 1 ? wgemm_kind() : WGEMM_BLAS;
	if (kind == WGEMM_AVX512) {
		gemm512(&o);
		return;
	}
	if (kind == WGEMM_AVX2) {
		gemm256(&o);
		return;
	}
#endif
	if (add)
		cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
			    trans_b ? CblasTrans : CblasNoTrans, m, n, k, 1.0f, a, lda, b, ldb, 1.0f,
			    c, ldc);
	else
		sgemm_overwrite(trans_a, trans_b, m, n, k, a, lda, b, ldb, c, ldc);
}

int wgemm_panels(int m, int n, int k, const float *a, int lda, wgemm_pack_fn *pack, void *ctx,
		 float *c, int ldc)
{
#ifdef WGEMM_X86
	const struct op o = { m, n, k, 0, a, NULL, c, (size_t)lda, 1, 0, 0, (size_t)ldc, pack, ctx };
	const enum wgemm_kind kind = wgemm_kind();

	if (m <= 0 || n <= 0)
		return kind != WGEMM_BLAS;
	if (kind == WGEMM_AVX512) {
		gemm512(&o);
		return 1;
	}
	if (kind == WGEMM_AVX2) {
		gemm256(&o);
		return 1;
	}
#endif
	return 0;
}
