/*
 * convstem.c: a direct 3x3 stride-1 pad-1 convolution for few input
 * channels (the stem of IR-18: 3x112x112 -> 64), forward and dweight,
 * AVX-512.  On the im2col path this layer copied every pixel 27 times
 * into a matrix of 27 rows and ran a thin sgemm on it (69 effective
 * GFLOP/s, convstep layer 0); here the taps are read where they lie.
 *
 * Both passes read the input through a zero-padded copy xp [c][rows][pw],
 * pw = w + 2 (one column of padding either side, the rows above and
 * below too).  In it, output pixel (y, x) of a band starting at row y0
 * reads tap (i, j) at flat index (y - y0 + i) pw + x + j: the same
 * offset for every pixel, so the forward runs over the band's pixels as
 * one flat run of (rows x pw) positions, 16 a vector, and drops the two
 * positions past w of each row as it stores the sums.  Its kernel
 * keeps 8 output channels x 3 vectors of positions in registers and adds
 * the c*9 taps in order (one rounding each, a fused multiply-add).
 *
 * dweight [o][c][i][j] += sum over images and pixels of dy[o][y][x] .
 * xp[c][y + i][x + j]: work items of 2 output channels x one input
 * channel (18 sums, in registers over a whole image, 16 lanes each) are
 * cut into fixed contiguous parts, one a thread; at the end of each image
 * an item's lanes are summed in double in a fixed order into its double
 * totals, which are added to dweight at the end.  Each sum thus has one
 * order whatever the thread count: the same bytes for any.
 *
 * Off (convstem_applies() 0, the im2col path) without AVX-512, in a clang
 * build (the fuzzing build: GCC's target pragmas, as wgemm.c) and off x86.
 */
#include "convstem.h"
#include "team.h"

#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define STEM_X86 1
#include <immintrin.h>
#endif

/* Output rows a forward tile computes (its padded input rows: + 2). */
#define BAND CONVSTEM_BAND
/* Output channels a forward kernel keeps, and dweight's item. */
#define FOB 8
#define DOB 2

static int pitch(const struct conv2d_dims *d)
{
	return d->w + 2;
}

/* Floats, rounded up to whole 64-byte lines. */
static size_t lines(size_t n)
{
	return (n + 15) / 16 * 16;
}

/* The forward's slot: the band's padded input (16 floats of slack past
 * it, which the last vector's positions past w may read). */
static size_t fwd_xp(const struct conv2d_dims *d)
{
	return lines((size_t)d->c * (BAND + 2) * pitch(d) + 16);
}

/* dweight's: the double totals [oc][c*9], then the image's padded copy. */
static size_t dw_xp(const struct conv2d_dims *d)
{
	return lines((size_t)d->c * (d->h + 2) * pitch(d));
}

/* The forward's weights, [oc / FOB][c*9][FOB], at the end of its slot. */
static size_t fwd_wp(const struct conv2d_dims *d)
{
	return lines((size_t)d->oc * d->c * 9);
}

size_t convstem_slot(const struct conv2d_dims *d)
{
	const size_t f = fwd_xp(d) + fwd_wp(d);
	const size_t b = lines((size_t)2 * d->oc * d->c * 9) + dw_xp(d);
	return f > b ? f : b;
}

#ifdef STEM_X86
/* Threads sharing the work: OpenMP's, as many as conv2d_workspace()
 * holds slots for (its im2col slots are larger: at least
 * CONV2D_TEAM_MAX, 15 for IR-18's stem). */
static int team_max(const struct conv2d_dims *d)
{
#ifdef _OPENMP
	const size_t fit = conv2d_workspace(d) / lines(convstem_slot(d));
	const int t = omp_get_max_threads();
	return (size_t)t < fit ? t : (int)fit;
#else
	(void)d;
	return 1;
#endif
}

/* xp [c][rows][pw] = input rows [r0 - 1, r0 - 1 + rows) of plane x
 * [c][h][w], one zero column either side, zero rows outside [0, h). */
static void pad_rows(float *xp, const float *x, const struct conv2d_dims *d, int r0, int rows)
{
	const int pw = pitch(d);

	for (int c = 0; c < d->c; c++)
		for (int r = 0; r < rows; r++) {
			float *dst = xp + ((size_t)c * rows + r) * pw;
			const int iy = r0 - 1 + r;
			if (iy < 0 || iy >= d->h) {
				memset(dst, 0, (size_t)pw * sizeof *dst);
				continue;
			}
			dst[0] = 0.0f;
			memcpy(dst + 1, x + ((size_t)c * d->h + iy) * d->w, (size_t)d->w * sizeof *dst);
			dst[pw - 1] = 0.0f;
		}
}

#pragma GCC push_options
#pragma GCC target("avx512f")

/* Lanes below n (0..16) set. */
static inline __mmask16 below(int n)
{
	return n >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << n) - 1);
}

/* channel_affine_prelu()'s operations with scale 1, shift 0 and slope a,
 * so its bytes: z = x + 0 (x 1 + 0 rounds alike: -0 becomes +0), then z
 * where z > 0, else a z (NaN too). */
static inline __m512 prelu16(__m512 x, __m512 a)
{
	const __m512 z = _mm512_add_ps(x, _mm512_setzero_ps());
	const __mmask16 pos = _mm512_cmp_ps_mask(z, _mm512_setzero_ps(), _CMP_GT_OQ);
	return _mm512_mask_blend_ps(pos, _mm512_mul_ps(a, z), z);
}

/* Outputs o < FOB (planes hw apart from y, rows w long) at flat positions
 * [p, p + 16 nv) below `end` = bias + sum over taps t of wp[t][o] .
 * xp[off[t] + p ..], then the PReLU with slopes alpha [FOB] (NULL: none)
 * before they are stored.  A vector of positions spans at most two rows (pw >
 * 16): its lanes before the row's padding columns go to that row, those
 * after them to the next, in two masked stores made as the sums are done
 * (a buffer copied out afterwards left the stores' cache misses bare:
 * 60% of the time). */
static inline __attribute__((always_inline)) void
fwd_kernel(const int nv, const float *xp, const int *off, const float *wp, int ckk,
	   const float *bias, const float *alpha, float *y, size_t hw, int w, int p, int end)
{
	const int pw = w + 2;
	__m512 acc[FOB][3];
	const __mmask16 last = below(end - p - 16 * (nv - 1));
#pragma GCC unroll 8
	for (int o = 0; o < FOB; o++)
#pragma GCC unroll 3
		for (int v = 0; v < nv; v++)
			acc[o][v] = bias ? _mm512_set1_ps(bias[o]) : _mm512_setzero_ps();
	for (int t = 0; t < ckk; t++, wp += FOB) {
		const float *src = xp + p + off[t];
		__m512 x[3];
#pragma GCC unroll 3
		for (int v = 0; v < nv; v++)
			x[v] = _mm512_maskz_loadu_ps(v == nv - 1 ? last : 0xffff, src + 16 * v);
#pragma GCC unroll 8
		for (int o = 0; o < FOB; o++) {
			const __m512 s = _mm512_set1_ps(wp[o]);
#pragma GCC unroll 3
			for (int v = 0; v < nv; v++)
				acc[o][v] = _mm512_fmadd_ps(s, x[v], acc[o][v]);
		}
	}
	if (alpha)
#pragma GCC unroll 8
		for (int o = 0; o < FOB; o++) {
			const __m512 a = _mm512_set1_ps(alpha[o]);
#pragma GCC unroll 3
			for (int v = 0; v < nv; v++)
				acc[o][v] = prelu16(acc[o][v], a);
		}
#pragma GCC unroll 3
	for (int v = 0; v < nv; v++) {
		const int q = p + 16 * v, r = q / pw, c0 = q % pw;
		const __mmask16 in = v == nv - 1 ? last : 0xffff;
		const __mmask16 m1 = c0 < w ? below(w - c0) : 0;
		const __mmask16 m2 = c0 + 16 > pw ? (__mmask16)(in & ~below(pw - c0)) : 0;
		float *d1 = y + (size_t)r * w + c0;
#pragma GCC unroll 8
		for (int o = 0; o < FOB; o++) {
			_mm512_mask_storeu_ps(d1 + o * hw, m1, acc[o][v]);
			if (m2)	/* then c0 > 2: the next row's start lies after y */
				_mm512_mask_storeu_ps(d1 + o * hw + w - pw, m2, acc[o][v]);
		}
	}
}

/* Output rows [y0, y1) of one image: y [oc][h][w] from x [c][h][w], with
 * the weights wp [oc / FOB][c*9][FOB]. */
static void fwd_band(float *y, float *slot, const float *x, const float *wp,
		     const float *bias, const float *alpha, const struct conv2d_dims *d, int y0,
		     int y1)
{
	const int pw = pitch(d), rows = y1 - y0 + 2, ckk = d->c * 9, end = (y1 - y0) * pw;
	const size_t hw = (size_t)d->h * d->w;
	float *xp = slot;
	int off[36];

	for (int t = 0; t < ckk; t++)
		off[t] = (t / 9 * rows + t / 3 % 3) * pw + t % 3;
	pad_rows(xp, x, d, y0, rows);
	memset(xp + (size_t)d->c * rows * pw, 0, 16 * sizeof *xp);
	for (int o0 = 0; o0 < d->oc; o0 += FOB) {
		const float *w = wp + (size_t)o0 * ckk, *b = bias ? bias + o0 : NULL;
		const float *a = alpha ? alpha + o0 : NULL;
		float *yo = y + o0 * hw + (size_t)y0 * d->w;
		int p = 0;
		for (; p + 48 <= end; p += 48)
			fwd_kernel(3, xp, off, w, ckk, b, a, yo, hw, d->w, p, end);
		if (end - p > 32)
			fwd_kernel(3, xp, off, w, ckk, b, a, yo, hw, d->w, p, end);
		else if (end - p > 16)
			fwd_kernel(2, xp, off, w, ckk, b, a, yo, hw, d->w, p, end);
		else if (end > p)
			fwd_kernel(1, xp, off, w, ckk, b, a, yo, hw, d->w, p, end);
	}
}

/* One item: outputs o0, o0 + 1 and input channel c of one image; tot
 * [o][c*9 + t] (rows c*9 apart, from the item's first) += its sums
 * (lanes in double, in order). */
static void dw_item(double *tot, const float *dy, const float *xp, const struct conv2d_dims *d,
		    int o0, int c)
{
	const int pw = pitch(d), w = d->w, nv = (w + 15) / 16;
	const size_t hw = (size_t)d->h * w;
	const float *xc = xp + (size_t)c * (d->h + 2) * pw;
	const __mmask16 last = below(w - 16 * (nv - 1));
	__m512 acc[DOB][9];
	float lane[16];

	/* every loop over acc unrolled, so that it stays in registers */
#pragma GCC unroll 2
	for (int o = 0; o < DOB; o++)
#pragma GCC unroll 9
		for (int t = 0; t < 9; t++)
			acc[o][t] = _mm512_setzero_ps();
	for (int yy = 0; yy < d->h; yy++)
		for (int v = 0; v < nv; v++) {
			const __mmask16 m = v == nv - 1 ? last : 0xffff;
			const size_t e = (size_t)yy * w + 16 * v;
			const __m512 g0 = _mm512_maskz_loadu_ps(m, dy + (size_t)o0 * hw + e);
			const __m512 g1 = _mm512_maskz_loadu_ps(m, dy + (size_t)(o0 + 1) * hw + e);
#pragma GCC unroll 9
			for (int t = 0; t < 9; t++) {
				const __m512 x = _mm512_maskz_loadu_ps(
					m, xc + (size_t)(yy + t / 3) * pw + t % 3 + 16 * v);
				acc[0][t] = _mm512_fmadd_ps(g0, x, acc[0][t]);
				acc[1][t] = _mm512_fmadd_ps(g1, x, acc[1][t]);
			}
		}
#pragma GCC unroll 2
	for (int o = 0; o < DOB; o++)
#pragma GCC unroll 9
		for (int t = 0; t < 9; t++) {
			double s = 0;
			_mm512_storeu_ps(lane, acc[o][t]);
			for (int l = 0; l < 16; l++)
				s += lane[l];
			tot[(size_t)o * d->c * 9 + t] += s;
		}
}

#pragma GCC pop_options
#endif

int convstem_applies(const struct conv2d_dims *d)
{
#ifdef STEM_X86
	static int avx512 = -1;
	if (avx512 < 0) {
		__builtin_cpu_init();
		avx512 = __builtin_cpu_supports("avx512f") != 0;
	}
	return avx512 && d->k == 3 && d->stride == 1 && d->pad == 1 && d->c >= 1 && d->c <= 4 &&
	       d->oc > 0 && d->oc % FOB == 0 && d->h > 0 && d->w >= 16;
#else
	(void)d;
	return 0;
#endif
}

void convstem_forward(float *out, float *work, const float *inp, const float *weight,
		      const float *bias, const float *alpha, convstem_band_fn *band, void *ctx,
		      const struct conv2d_dims *d)
{
#ifdef STEM_X86
	const int nb = (d->h + BAND - 1) / BAND, ckk = d->c * 9;
	const long tiles = (long)d->n * nb;
	const size_t slot = lines(convstem_slot(d));
	const size_t in_sz = (size_t)d->c * d->h * d->w, out_sz = (size_t)d->oc * d->h * d->w;
	const int team = team_max(d);

	(void)team;
#ifdef _OPENMP
#pragma omp parallel num_threads(team) if (team > 1)
#endif
	{
		float *s = work + slot * thread_id(), *wp = s + slot - fwd_wp(d);
		for (int o = 0; o < d->oc; o++)
			for (int t = 0; t < ckk; t++)
				wp[((size_t)(o / FOB) * ckk + t) * FOB + o % FOB] = weight[(size_t)o * ckk + t];
#ifdef _OPENMP
#pragma omp for schedule(dynamic)
#endif
		for (long u = 0; u < tiles; u++) {
			const int n = (int)(u / nb), y0 = (int)(u % nb) * BAND;
			const int y1 = y0 + BAND < d->h ? y0 + BAND : d->h;
			fwd_band(out + n * out_sz, s, inp + n * in_sz, wp, bias, alpha, d, y0, y1);
			if (band)
				band(ctx, n, y0, y1);
		}
	}
#else
	(void)out, (void)work, (void)inp, (void)weight, (void)bias, (void)alpha, (void)band;
	(void)ctx, (void)d;
#endif
}

void convstem_dweight(float *dweight, float *work, const float *dout, const float *inp,
		      const struct conv2d_dims *d)
{
#ifdef STEM_X86
	const int items = d->oc / DOB * d->c, ckk = d->c * 9;
	const size_t slot = lines(convstem_slot(d)), tot_sz = lines((size_t)2 * d->oc * ckk);
	const size_t in_sz = (size_t)d->c * d->h * d->w, out_sz = (size_t)d->oc * d->h * d->w;
	const int team = team_max(d);

	(void)team;
#ifdef _OPENMP
#pragma omp parallel num_threads(team) if (team > 1)
#endif
	{
		const int t = thread_id(), nt = team_size();
		const int i0 = (int)((long)t * items / nt), i1 = (int)((long)(t + 1) * items / nt);
		double *tot = (double *)(work + slot * t);
		float *xp = work + slot * t + tot_sz;
		memset(tot, 0, (size_t)d->oc * ckk * sizeof *tot);
		for (int n = 0; n < d->n && i1 > i0; n++) {
			pad_rows(xp, inp + n * in_sz, d, 0, d->h + 2);
			for (int it = i0; it < i1; it++) {
				const int o0 = it / d->c * DOB, c = it % d->c;
				dw_item(tot + (size_t)o0 * ckk + c * 9, dout + n * out_sz, xp, d, o0, c);
			}
		}
		for (int it = i0; it < i1; it++) {
			const int o0 = it / d->c * DOB, c = it % d->c;
			for (int o = o0; o < o0 + DOB; o++)
				for (int k = 0; k < 9; k++) {
					const size_t e = (size_t)o * ckk + c * 9 + k;
					dweight[e] += (float)tot[e];
				}
		}
	}
#else
	(void)dweight, (void)work, (void)dout, (void)inp, (void)d;
#endif
}
