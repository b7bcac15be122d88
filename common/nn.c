/*
 * nn.c: layers, forward and backward.  See nn.h for the contracts.
 *
 * Threads.  Convolutions: a team of OpenMP threads runs the im2col tiles
 * itself, one region per call, each thread its own im2col, sgemm
 * (OpenBLAS held to one thread) and col2im ("The threads", above
 * conv2d_forward()), as Winograd does.  The first version left OpenBLAS
 * the cores for a whole convolution and ran im2col, col2im and the group
 * copies on the calling thread between its threaded sgemms: an OpenMP
 * loop in im2col beside them lost (libgomp's idle workers busy-wait,
 * about 3 ms by default, after each region, so the next sgemm shared its
 * cores with a spinning thread: conv forward 20-35 ms -> 45-140 ms on 2
 * cores, bench/gemm.c's layer-1 shape), and with passive waiting gained
 * nothing, while the serial copies kept one core idle: a training step
 * kept 1.76 of 2 cores busy.  The linear layers' own loops (bias) still
 * run on the calling thread between threaded sgemms.  The layers without
 * sgemm (batch norm, PReLU, ReLU, max-pool) use OpenMP loops that each
 * write disjoint outputs (one channel or one plane per iteration).  The
 * `if` clause keeps small loops serial, where waking threads costs more
 * than the work.
 *
 * Backward passes accumulate into dinp; their *_set twins (nn.h) write a
 * dinp that no earlier backward wrote, so that the model need not clear
 * it first in a serial pass of its own (modelplan.c first_writers()).
 * They give the bytes of the clear and the adding pass: 0 + x where they
 * write a value, a clear just before the sums where several terms meet
 * (col2im, max-pool).
 */
#include "blas.h"
#include "clones.h"
#include "convs2.h"
#include "convstem.h"
#include "nn.h"
#include "rng.h"
#include "team.h"
#include "wgemm.h"
#include "winograd.h"
#include "winos2.h"

#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#ifdef __SSE__
#include <xmmintrin.h>
#endif

#define PRAGMA(x) _Pragma(#x)
#ifdef _OPENMP
#define PARALLEL_FOR(work) PRAGMA(omp parallel for if ((work) >= PAR_MIN) schedule(static))
#else
#define PARALLEL_FOR(work)
#endif
/* Elements of work below which a loop stays on one thread. */
#define PAR_MIN 32768L
/* SIMD: vectorise the elementwise loops (GCC's -O2 cost model leaves loops
 * with an unknown trip count, or a stride-2 access, scalar).  The
 * reductions stay in the explicit fixed order of sum_f() and friends. */
#ifdef _OPENMP
#define SIMD PRAGMA(omp simd)
#define SIMD_SUM(...) PRAGMA(omp simd reduction(+ : __VA_ARGS__))
#else
#define SIMD
#define SIMD_SUM(...)
#endif

/* Run-time dispatch (clones.h): the hot elementwise and reduction loops
 * for AVX-512, AVX2 and the baseline; the double-precision sums are what
 * gains (SSE2 holds two doubles a vector, AVX-512 eight). */

CLONES NO_TRAP static void affine_plane(float *y, const float *x, float s, float b, float a,
					  int HW);

int nn_out_size(int size, int k, int stride, int pad)
{
	return (size + 2 * pad - k) / stride + 1;
}

/* Sums in double with eight independent accumulators: a fixed order that
 * depends only on n (not on threads), and no single long dependency chain. */
CLONES static double sum_f(const float *x, size_t n)
{
	double a[8] = { 0 };
	size_t i = 0;
	for (; i + 8 <= n; i += 8)
		for (int l = 0; l < 8; l++)
			a[l] += x[i + l];
	for (; i < n; i++)
		a[i & 7] += x[i];
	return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
}

/* *p += sum dy, *q += sum (x - mu) dy in one pass, each in the order of
 * sum_f(). */
CLONES static void sum_dy_dev(double *p, double *q, const float *x, float mu, const float *dy,
				size_t n)
{
	double a[8] = { 0 }, b[8] = { 0 };
	size_t i = 0;
	for (; i + 8 <= n; i += 8)
		for (int l = 0; l < 8; l++) {
			a[l] += dy[i + l];
			b[l] += ((double)x[i + l] - mu) * dy[i + l];
		}
	for (; i < n; i++) {
		a[i & 7] += dy[i];
		b[i & 7] += ((double)x[i] - mu) * dy[i];
	}
	*p += ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
	*q += ((b[0] + b[1]) + (b[2] + b[3])) + ((b[4] + b[5]) + (b[6] + b[7]));
}

static double sum8(const double *a)
{
	return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
}

/* sum_dy_dev() of the two planes x, dy and x + cs, dy + cs in one pass, for
 * independent chains; the same order per plane, planes added in order. */
CLONES static void sum_dy_dev2(double *p, double *q, const float *x, float mu, const float *dy,
				 size_t cs, size_t n)
{
	const float *x1 = x + cs, *dy1 = dy + cs;
	double a[8] = { 0 }, b[8] = { 0 }, c[8] = { 0 }, d[8] = { 0 };
	size_t i = 0;
	for (; i + 8 <= n; i += 8)
		for (int l = 0; l < 8; l++) {
			a[l] += dy[i + l];
			b[l] += ((double)x[i + l] - mu) * dy[i + l];
			c[l] += dy1[i + l];
			d[l] += ((double)x1[i + l] - mu) * dy1[i + l];
		}
	for (; i < n; i++) {
		a[i & 7] += dy[i];
		b[i & 7] += ((double)x[i] - mu) * dy[i];
		c[i & 7] += dy1[i];
		d[i & 7] += ((double)x1[i] - mu) * dy1[i];
	}
	*p += sum8(a);
	*q += sum8(b);
	*p += sum8(c);
	*q += sum8(d);
}

/* ------------------------------------------------------------------ */
/* Convolution */

int conv2d_out_h(const struct conv2d_dims *d)
{
	return nn_out_size(d->h, d->k, d->stride, d->pad);
}

int conv2d_out_w(const struct conv2d_dims *d)
{
	return nn_out_size(d->w, d->k, d->stride, d->pad);
}

static int conv2d_pointwise(const struct conv2d_dims *d)
{
	return d->k == 1 && d->stride == 1 && d->pad == 0;
}

/*
 * Tiles: each sgemm works on about CONV_COLS output pixels or more.  One
 * image of a late IR-18 layer is a thin matrix (7x7 output: N = 49 columns, and the
 * weight gradient's sgemm has K = 49), on which OpenBLAS runs at a
 * fraction of its speed: there, the im2col matrices of g images side by
 * side, [c*k*k, g*oh*ow], make one sgemm.  One image of an early layer is
 * a wide matrix (112x112 output, 64 channels: a 29 MB im2col matrix, which
 * im2col writes and the sgemm reads back from memory): there, bands of
 * output rows make matrices that stay in the cache between im2col and
 * sgemm (and between sgemm and col2im).  The tiling depends on the
 * layer's shape only, never on d->n, so conv2d_workspace() is the same for
 * every batch size (a network plans it once).  CONV_WORK_MAX bounds the
 * groups' workspace (floats), CONV2D_TEAM_MAX slots of one group each: the
 * group shrinks before they outgrow it.
 * CONV_BAND_MAX bounds a band's im2col matrix (floats; 4 MiB, an eighth of
 * this machine's L3 cache): an image whose matrix fits it (the stem, c*k*k
 * = 27) takes one sgemm.
 */
#define CONV_COLS 1024
#define CONV_WORK_MAX ((size_t)12 << 20)
#define CONV_BAND_MAX ((size_t)1 << 20)

/* *g images per tile, each tile *band output rows of them (g > 1: all). */
static void conv2d_tiles(int *g, int *band, const struct conv2d_dims *d)
{
	const int oh = conv2d_out_h(d), ow = conv2d_out_w(d);
	const size_t ohw = (size_t)oh * ow;
	const size_t per = ((size_t)d->c * d->k * d->k + d->oc) * ohw;

	*g = 1, *band = oh;
	if (ohw == 0)
		return;
	if (ohw > CONV_COLS) {
		/* 1x1 stride 1 needs no im2col matrix: one sgemm per image. */
		const size_t ckk = (size_t)d->c * d->k * d->k;
		size_t cols = CONV_BAND_MAX / ckk, nb;
		cols = cols < CONV_COLS ? CONV_COLS : cols;
		nb = (ohw + cols - 1) / cols;
		if (!conv2d_pointwise(d) && nb > 1)
			*band = (int)(((size_t)oh + nb - 1) / nb);
	} else if (ohw < CONV_COLS / 2) {
		size_t n = (CONV_COLS + ohw - 1) / ohw;
		if (n * per * CONV2D_TEAM_MAX > CONV_WORK_MAX)
			n = CONV_WORK_MAX / (per * CONV2D_TEAM_MAX);
		*g = n < 2 ? 1 : (int)n;
	}
}

int conv2d_group_size(const struct conv2d_dims *d)
{
	int g, band;
	conv2d_tiles(&g, &band, d);
	return g;
}

/* Winograd: -1 until the first convolution reads HM_CONV, then 0 or 1
 * (HM_CONV=f2x2: on, F(2x2, 3x3) only). */
static int wino_on = -1;

void conv2d_set_winograd(int on)
{
	wino_on = on != 0;
}

int conv2d_uses_winograd(const struct conv2d_dims *d)
{
	if (wino_on < 0) {
		const char *e = getenv("HM_CONV");
		wino_on = !(e && !strcmp(e, "im2col"));
		if (e && !strcmp(e, "f2x2"))	/* Winograd F(2x2, 3x3) on every layer */
			wino_set_tile(2);
	}
	return wino_on && wino_applies(d);
}

int conv2d_uses_winos2(const struct conv2d_dims *d)
{
	if (wino_on < 0)
		conv2d_uses_winograd(d);	/* reads HM_CONV */
	return wino_on && winos2_applies(d) && winos2_tile(d);
}

/* Floats of one thread's part of the workspace (its slot): a tile's
 * matrices. */
static size_t conv2d_slot(const struct conv2d_dims *d)
{
	const size_t ow = (size_t)conv2d_out_w(d), ckk = (size_t)d->c * d->k * d->k;
	int g, band;

	size_t s;

	conv2d_tiles(&g, &band, d);
	if (g > 1)	/* the group's im2col matrix, then its [oc, g*oh*ow] output */
		s = (ckk + d->oc) * g * band * ow;
	else
		s = conv2d_pointwise(d) ? 0 : ckk * band * ow;
	if (convstem_applies(d) && convstem_slot(d) > s)
		s = convstem_slot(d);
	return s;
}

size_t conv2d_workspace(const struct conv2d_dims *d)
{
	size_t ws = CONV2D_TEAM_MAX * conv2d_slot(d);

	if (wino_applies(d) && wino_workspace(d) > ws)
		ws = wino_workspace(d);
	if (winos2_applies(d) && winos2_workspace(d) > ws)
		ws = winos2_workspace(d);
	return ws;
}

/* The output columns [*x0, *x1) whose input column ox*stride - pad + j
 * lies inside [0, w); the rest of a row reads padding. */
static void valid_cols(int *x0, int *x1, int j, int w, int ow, int stride, int pad)
{
	int lo = pad - j, hi = w - 1 + pad - j;
	*x0 = lo <= 0 ? 0 : (lo + stride - 1) / stride;
	*x1 = hi < 0 ? 0 : hi / stride + 1;
	if (*x1 > ow)
		*x1 = ow;
	if (*x0 > *x1)
		*x0 = *x1;
}

/* Stride 2, the IR-18 downsampling layers: dst[t] = src[2t] and, the
 * adjoint, dst[2t] += src[t].  Vectorised, a shuffle per vector; the plain
 * loops ran scalar and made these layers' im2col and col2im a quarter
 * slower (64x112x112 -> 64 forward 44 -> 58 GFLOP/s). */
static void strided2_copy(float *restrict dst, const float *restrict src, int n)
{
	SIMD
	for (int t = 0; t < n; t++)
		dst[t] = src[2 * t];
}

static void strided2_add(float *restrict dst, const float *restrict src, int n)
{
	SIMD
	for (int t = 0; t < n; t++)
		dst[2 * t] += src[t];
}

/*
 * Row r = (ci*k + i)*k + j of the im2col matrix of one image x [c, h, w],
 * output rows [oy0, oy1): dst[(oy - oy0)*ow + ox] =
 * x[ci][oy*stride - pad + i][ox*stride - pad + j], zero in the padding.
 * After Caffe's im2col_cpu (also darknet src/im2col.c), with the valid
 * span of each row computed once instead of a bounds test per element.
 */
static void im2col_row(float *dst, const float *x, int r, const struct conv2d_dims *d,
		       int ow, int oy0, int oy1)
{
	const int k = d->k, s = d->stride, p = d->pad, h = d->h, w = d->w;
	const int ci = r / (k * k), i = r / k % k, j = r % k;
	const float *plane = x + (size_t)ci * h * w;
	int x0, x1;

	valid_cols(&x0, &x1, j, w, ow, s, p);
	for (int oy = oy0; oy < oy1; oy++, dst += ow) {
		const int iy = oy * s - p + i;
		if (iy < 0 || iy >= h || x0 == x1) {
			memset(dst, 0, (size_t)ow * sizeof *dst);
			continue;
		}
		const float *src = plane + (size_t)iy * w + (x0 * s - p + j);
		memset(dst, 0, (size_t)x0 * sizeof *dst);
		if (s == 1) {
			memcpy(dst + x0, src, (size_t)(x1 - x0) * sizeof *dst);
		} else if (s == 2) {
			strided2_copy(dst + x0, src, x1 - x0);
		} else {
			for (int ox = x0; ox < x1; ox++)
				dst[ox] = src[(size_t)(ox - x0) * s];
		}
		memset(dst + x1, 0, (size_t)(ow - x1) * sizeof *dst);
	}
}

/*
 * Rows [r0, r1) of the im2col matrix [c*k*k, ld] of a tile, row r at col +
 * (r - r0)*ld: output rows [oy0, oy1) of gn images x [gn, c, h, w], image t
 * in columns [t*cols, (t+1)*cols) of every row, cols = (oy1 - oy0)*ow.
 */
static void im2col(float *col, size_t ld, const float *x, int gn, const struct conv2d_dims *d,
		   int ow, int oy0, int oy1, int r0, int r1)
{
	const size_t cols = (size_t)(oy1 - oy0) * ow, in_sz = (size_t)d->c * d->h * d->w;

	for (int r = r0; r < r1; r++)
		for (int t = 0; t < gn; t++)
			im2col_row(col + (r - r0) * ld + t * cols, x + t * in_sz, r, d, ow, oy0,
				   oy1);
}

/* dst[0..n) += src[0..n), in blocks of eight that the compiler vectorises
 * at -O2 (a plain loop would need a runtime overlap check it will not add
 * there). */
static void add_to(float *restrict dst, const float *restrict src, int n)
{
	int i = 0;
	for (; i + 8 <= n; i += 8)
		for (int l = 0; l < 8; l++)
			dst[i + l] += src[i + l];
	for (; i < n; i++)
		dst[i] += src[i];
}

/* The adjoint of im2col_row summed over the rows of channel ci: plane [h,
 * w] += every entry of col (row stride ld, output rows [oy0, oy1)) that
 * im2col copied from there, in a fixed (i, j, oy, ox) order. */
static void col2im_plane(float *plane, const float *col, size_t ld, int ci,
			 const struct conv2d_dims *d, int ow, int oy0, int oy1)
{
	const int k = d->k, s = d->stride, p = d->pad, h = d->h, w = d->w;

	for (int i = 0; i < k; i++)
		for (int j = 0; j < k; j++) {
			const float *src = col + ((size_t)(ci * k + i) * k + j) * ld;
			int x0, x1;
			valid_cols(&x0, &x1, j, w, ow, s, p);
			for (int oy = oy0; oy < oy1; oy++, src += ow) {
				const int iy = oy * s - p + i;
				if (iy < 0 || iy >= h)
					continue;
				float *dst = plane + (size_t)iy * w + (x0 * s - p + j);
				if (s == 1)
					add_to(dst, src + x0, x1 - x0);
				else if (s == 2)
					strided2_add(dst, src + x0, x1 - x0);
				else
					for (int ox = x0; ox < x1; ox++)
						dst[(size_t)(ox - x0) * s] += src[ox];
			}
		}
}

/* The input rows [*r0, *r1) that output rows [oy0, oy1) reach before any
 * later output row does and after every earlier one: the rows that tile
 * clears in a set pass (the last tile also takes the rows no output row
 * reaches, e.g. the odd rows of a 1x1 stride-2 convolution). */
static void fresh_rows(int *r0, int *r1, const struct conv2d_dims *d, int oh, int oy0, int oy1)
{
	const int s = d->stride, p = d->pad, k = d->k, h = d->h;
	int a = oy0 ? (oy0 - 1) * s - p + k : 0, b = oy1 < oh ? (oy1 - 1) * s - p + k : h;
	a = a < 0 ? 0 : a > h ? h : a;
	b = b < a ? a : b > h ? h : b;
	*r0 = a, *r1 = b;
}

/* x [gn, c, h, w] += the adjoint of im2col() for the same tile; with SET,
 * each plane's fresh_rows() are cleared first, just before the sum reaches
 * them (no separate pass over x). */
static void col2im_add(float *x, const float *col, size_t ld, int gn,
		       const struct conv2d_dims *d, int ow, int oy0, int oy1, int set)
{
	const size_t cols = (size_t)(oy1 - oy0) * ow, hw = (size_t)d->h * d->w;
	const long planes = (long)gn * d->c;
	int r0 = 0, r1 = 0;

	if (set)
		fresh_rows(&r0, &r1, d, conv2d_out_h(d), oy0, oy1);
	for (long pl = 0; pl < planes; pl++) {
		const int t = (int)(pl / d->c), ci = (int)(pl % d->c);
		float *plane = x + (size_t)pl * hw;
		if (r1 > r0)
			memset(plane + (size_t)r0 * d->w, 0,
			       (size_t)(r1 - r0) * d->w * sizeof *plane);
		col2im_plane(plane, col + t * cols, ld, ci, d, ow, oy0, oy1);
	}
}

/* gn NCHW planes y [gn, oc, ohw] (plus bias [oc] when not NULL, then the
 * PReLU with slopes alpha [oc] when not NULL) from the group's sgemm result
 * m [oc, gn*ohw]. */
static void group_scatter(float *y, const float *m, const float *bias, const float *alpha,
			  int gn, int oc, size_t ohw)
{
	const size_t ld = (size_t)gn * ohw;

	for (int o = 0; o < oc; o++)
		for (int t = 0; t < gn; t++) {
			float *plane = y + ((size_t)t * oc + o) * ohw;
			const float *row = m + o * ld + t * ohw;
			if (!bias)
				memcpy(plane, row, ohw * sizeof *row);
			else
				for (size_t e = 0; e < ohw; e++)
					plane[e] = row[e] + bias[o];
			if (alpha)
				affine_plane(plane, plane, 1.0f, 0.0f, alpha[o], (int)ohw);
		}
}

/* The PReLU with slopes alpha [oc] over rows [oc, cols] (stride ld), in
 * place: channel_affine_prelu()'s operations, on rows still in the cache. */
static void prelu_rows(float *c, size_t ld, int oc, size_t cols, const float *alpha)
{
	for (int o = 0; o < oc; o++)
		affine_plane(c + o * ld, c + o * ld, 1.0f, 0.0f, alpha[o], (int)cols);
}

/* The inverse, its rows [o0, o1): m [oc, gn*ohw] from gn planes y [gn,
 * oc, ohw]. */
static void group_gather(float *m, const float *y, int gn, int oc, size_t ohw, int o0, int o1)
{
	const size_t ld = (size_t)gn * ohw;

	for (int o = o0; o < o1; o++)
		for (int t = 0; t < gn; t++)
			memcpy(m + o * ld + t * ohw, y + ((size_t)t * oc + o) * ohw,
			       ohw * sizeof *m);
}

/*
 * The threads.  A team of the OpenMP threads, CONV2D_TEAM_MAX at most (the
 * workspace holds a slot for each), runs the tiles itself, in one OpenMP
 * region per call, with OpenBLAS held to one thread (blas_hold_single()),
 * as winograd.c does: each thread im2cols its tile into its own slot and
 * runs its own sgemm, so no core waits while another copies.  Every sgemm
 * is the same call on the same operands whatever the thread count, run by
 * one thread (OpenBLAS's threads may split a call's sums differently:
 * dweight of a 4-channel layer differed between 1 and 2 of them), and
 * every other sum is made on one thread in a fixed order, so the results
 * are the same bytes for 1 and 2 threads (with more, conv_team() leaves
 * the tiles to one thread and the sgemms to OpenBLAS's threads, whose
 * split of dweight's sums may move its last bits):
 *   forward   a tile writes its own outputs: tiles are shared out whole;
 *   dinp      col2im adds into its images' planes: a group of images, all
 *             its bands in order, is shared out whole;
 *   dweight   every tile adds into all of dweight, in the tiles' order:
 *             the team walks the tiles together and splits each tile's
 *             sgemm by the im2col matrix's rows (dweight's columns) into
 *             CONV2D_TEAM_MAX fixed parts (a small sgemm stays whole,
 *             DW_SPLIT_MIN), each thread building the rows of its parts;
 *             a group's dy is gathered by all, between two barriers.
 * The forward and dinp groups are the batch cut into ceil(n / g) groups,
 * rounded up to a multiple of CONV2D_TEAM_MAX, of equal size (give or take
 * one image): 64 images of 21 per group make 4 groups of 16, not 21, 21,
 * 21 and 1.  dweight keeps the groups of g images (they set the order of
 * its sums); the forward and dinp depend on the grouping only through the
 * width of the sgemm, which leaves each output's sum as it is.
 * Measured on the 2-core AVX-512 Xeon of issue 19 (IR-18's nine im2col
 * layers at batch 64, forward and backward, the team on and off
 * interleaved in one process, medians of 5, load 5-7 from other work):
 * 1.01x to 1.16x over the nine in four runs, the stem's backward
 * (dweight: im2col of 27 rows, a thin sgemm) 1.3x or more in each, CPU
 * time never more.  With
 * OpenBLAS's threads (main before it), dweight of the 28x28 and 14x14
 * layers also differed between -j 1 and -j 2.
 */
#ifdef _OPENMP
#define TEAM(team) PRAGMA(omp parallel num_threads(team) if ((team) > 1))
#define TEAM_FOR PRAGMA(omp for schedule(dynamic))
#define BARRIER PRAGMA(omp barrier)
#else
#define TEAM(team) (void)(team);
#define TEAM_FOR
#define BARRIER
#endif

/* The team for a call, and OpenBLAS held to one thread for it (*held,
 * for blas_release_single()).  Past CONV2D_TEAM_MAX threads the calling
 * thread runs the tiles alone and each sgemm takes all of OpenBLAS's
 * threads, as before the team: a team of 2 would leave the other cores
 * of a larger machine idle in these layers (a fifth of IR-18's
 * multiply-adds). */
static int conv_team(int *held)
{
#ifdef _OPENMP
	const int t = omp_get_max_threads();
	if (t <= CONV2D_TEAM_MAX) {
		*held = blas_hold_single();
		return t;
	}
#endif
	*held = 1;
	return 1;
}

/* Groups that the forward and dinp share out (see above): g images or
 * fewer each; group u is images [u*n/ng, (u+1)*n/ng). */
static int team_groups(int n, int g)
{
	int ng = (n + g - 1) / g;
	if (g > 1)
		ng = (ng + CONV2D_TEAM_MAX - 1) / CONV2D_TEAM_MAX * CONV2D_TEAM_MAX;
	return ng < n ? ng : n;
}

/*
 * A tile: images [n0, n0 + gn), output rows [oy0, oy1) of each; the
 * tile's matrices have cols = gn*(oy1 - oy0)*ow columns.  A single image's
 * output rows are a column range of its [oc, oh*ow] plane (leading
 * dimension oh*ow), so the sgemm reads and writes them in place; a
 * group's are gathered into (scattered from) the slot after the im2col
 * matrix.
 */
static void forward_tile(float *out, float *work, const float *inp, const float *weight,
			 const float *bias, const float *alpha, const struct conv2d_dims *d,
			 int n0, int gn, int oy0, int oy1)
{
	const int ow = conv2d_out_w(d), ckk = d->c * d->k * d->k;
	const size_t ohw = (size_t)conv2d_out_h(d) * ow, in_sz = (size_t)d->c * d->h * d->w;
	const size_t cols = (size_t)gn * (oy1 - oy0) * ow;
	const float *x = inp + n0 * in_sz, *col = x;
	float *y = out + n0 * d->oc * ohw, *c = y + (size_t)oy0 * ow;
	size_t ldcol = ohw, ldc = ohw;

	if (gn > 1)
		c = work + (size_t)ckk * cols, ldc = cols;
	/* a 3x3 stride-2 layer's band of one image: by input phase, without
	 * bias (convs2.c; groups of images stay here: 0.93-1.07x there) */
	if (gn == 1 && !bias &&
	    convs2_forward(c, ldc, work, (size_t)ckk * cols, x, weight, d, gn, oy0, oy1))
		goto out;
	if (!(conv2d_pointwise(d) && gn == 1)) {
		im2col(work, cols, x, gn, d, ow, oy0, oy1, 0, ckk);
		col = work, ldcol = cols;
	}
	/* c [oc, cols] = weight [oc, ckk] . col [ckk, cols]
	 * (+ bias: here, or as a group's planes are copied out) */
	sgemm_bias(0, 0, d->oc, (int)cols, ckk, weight, ckk, col, (int)ldcol,
		   gn > 1 ? NULL : bias, c, (int)ldc);
out:
	if (gn > 1)
		group_scatter(y, c, bias, alpha, gn, d->oc, ohw);
	else if (alpha)
		prelu_rows(c, ldc, d->oc, cols, alpha);
}

void conv2d_forward(float *out, float *work, const float *inp, const float *weight,
		    const float *bias, const struct conv2d_dims *d)
{
	conv2d_forward_act(out, work, inp, weight, bias, NULL, d);
}

void conv2d_forward_act(float *out, float *work, const float *inp, const float *weight,
			const float *bias, const float *alpha, const struct conv2d_dims *d)
{
	const int oh = conv2d_out_h(d);
	const size_t slot = conv2d_slot(d);
	int g, band;

	if (conv2d_uses_winograd(d)) {
		wino_forward_act(out, work, inp, weight, bias, alpha, d);
		return;
	}
	if (convstem_applies(d)) {
		convstem_forward(out, work, inp, weight, bias, alpha, NULL, NULL, d);
		return;
	}
	conv2d_tiles(&g, &band, d);
	const int nb = oh > 0 ? (oh + band - 1) / band : 0, ng = team_groups(d->n, g);
	const long tiles = (long)ng * nb;
	int held;
	const int team = conv_team(&held);
	TEAM(team)
	{
		float *w = work + slot * thread_id();
		TEAM_FOR
		for (long u = 0; u < tiles; u++) {
			const int n0 = (int)(u / nb * d->n / ng), n1 = (int)((u / nb + 1) * d->n / ng);
			const int oy0 = (int)(u % nb) * band, oy1 = oy0 + band < oh ? oy0 + band : oh;
			forward_tile(out, w, inp, weight, bias, alpha, d, n0, n1 - n0, oy0, oy1);
		}
	}
	blas_release_single(held);
}

/* A band of a convolution's output, for conv2d_forward_tap(). */
struct tap_band {
	const struct conv2d_tap *t;
	const struct conv2d_dims *d;
	const float *x;		/* the image's output [oc, h, w] */
	int oy0, oy1;		/* the 1x1 convolution's output rows */
};

/* wgemm_pack_fn: rows [p0, p0 + kb) (input channels) and columns [j0, j0 +
 * nr) (pixels from row oy0) of the 1x1 stride-2 convolution's im2col
 * matrix: the even columns of the band's even rows. */
static void tap_panel(void *ctx, int p0, int kb, int j0, int nr, float *bp, int ld)
{
	const struct tap_band *b = ctx;
	const int w = b->d->w, sw = (w + 1) / 2;
	const size_t hw = (size_t)b->d->h * w;

	for (int r = p0; r < p0 + kb; r++, bp += ld) {
		for (int j = j0; j < j0 + nr;) {
			const int oy = b->oy0 + j / sw, ox = j % sw;
			const int len = sw - ox < j0 + nr - j ? sw - ox : j0 + nr - j;
			strided2_copy(bp + (j - j0), b->x + r * hw + (size_t)2 * oy * w + 2 * ox, len);
			j += len;
		}
		memset(bp + nr, 0, (size_t)(ld - nr) * sizeof *bp);
	}
}

/* convstem_band_fn: the tap's layers on output rows [y0, y1) of image n. */
static void tap_rows(void *ctx, int n, int y0, int y1)
{
	const struct tap_band *a = ctx;
	const struct conv2d_tap *t = a->t;
	const struct conv2d_dims *d = a->d;
	const size_t hw = (size_t)d->h * d->w, img = (size_t)d->oc * hw;
	const int sh = (d->h + 1) / 2, sw = (d->w + 1) / 2;
	struct tap_band b = { t, d, a->x + n * img, (y0 + 1) / 2, (y1 + 1) / 2 };

	if (t->sc_out && b.oy1 > b.oy0) {
		const size_t shw = (size_t)sh * sw, cols = (size_t)(b.oy1 - b.oy0) * sw;
		float *c = t->sc_out + (n * (size_t)t->sc_oc * shw) + (size_t)b.oy0 * sw;
		wgemm_panels(t->sc_oc, (int)cols, d->oc, t->sc_weight, d->oc, tap_panel, &b, c,
			     (int)shw);
		/* the sums + bias (x 1 + b: the one rounding of sgemm_bias()'s b +
		 * x, or 0 + x), then the PReLU in a pass of its own, as
		 * forward_tile()'s */
		for (int o = 0; o < t->sc_oc; o++) {
			float *row = c + o * shw;
			affine_plane(row, row, 1.0f, t->sc_bias ? t->sc_bias[o] : 0.0f, 1.0f,
				     (int)cols);
			if (t->sc_alpha)
				affine_plane(row, row, 1.0f, 0.0f, t->sc_alpha[o], (int)cols);
		}
	}
	if (t->y)
		for (int c = 0; c < d->oc; c++) {
			const size_t o = n * img + c * hw + (size_t)y0 * d->w;
			affine_plane(t->y + o, a->x + o, t->scale ? t->scale[c] : 1.0f,
				     t->shift ? t->shift[c] : 0.0f, t->alpha ? t->alpha[c] : 1.0f,
				     (y1 - y0) * d->w);
		}
}

/* Rows of a band (convstem.c's, residual_forward_tap()'s tiles): even, so
 * the 1x1 stride-2 convolution's rows lie whole in one. */
#define TAP_ROWS CONVSTEM_BAND
_Static_assert(TAP_ROWS % 2 == 0, "a tap's bands hold whole stride-2 rows");
/* Columns of a band's 1x1 stride-2 product (TAP_ROWS / 2 of its rows)
 * below which the tap is not taken: wgemm's kernel computes panels of 48
 * columns, and IR-18's 256x14x14 -> 512x7x7 shortcut on 28-column bands
 * ran 0.8x the grouped im2col product (at 28x28, 56 columns, 1.2x). */
#define TAP_COLS_MIN 48

/* Whether wgemm's kernel is there for TAP's 1x1 convolution of a w-pixel
 * wide output, with columns enough (or there is no such convolution). */
static int tap_fits(const struct conv2d_tap *tap, int w)
{
	return !tap->sc_out ||
	       (wgemm_kind() != WGEMM_BLAS && TAP_ROWS / 2 * ((w + 1) / 2) >= TAP_COLS_MIN);
}

int conv2d_forward_tap(float *out, float *work, const float *inp, const float *weight,
		       const float *bias, const float *alpha, const struct conv2d_tap *tap,
		       const struct conv2d_dims *d)
{
	struct tap_band b = { tap, d, out, 0, 0 };

	if (!convstem_applies(d) || !tap_fits(tap, d->w))
		return 0;
	convstem_forward(out, work, inp, weight, bias, alpha, tap_rows, &b, d);
	return 1;
}

/* Multiply-adds of half a tile's dweight sgemm below which a layer's
 * stay whole (for all its tiles, judged by the narrowest): OpenBLAS 0.3.21
 * (SkylakeX) takes its small-matrix kernel for products under about 1e6
 * of them, which sums in another order, so the halves of a small layer's
 * sgemm rounded differently from the whole (the two-rank MPI training
 * test of a net 8 and 16 channels wide drifted past its 1e-5 from the
 * one-process run). */
#define DW_SPLIT_MIN 1e6

/*
 * dweight [oc, ckk] += dy [oc, cols] . col^T over every tile, in order;
 * run by each of the team's `team` threads, t its number (see "The
 * threads").  Part p of the im2col matrix, its rows [r0, r1), lives at a
 * fixed place, work + r0*cmax, whatever a tile's width, so a thread
 * building its rows of the next tile never overwrites another's that are
 * still being read; the group's dy comes after the whole matrix.
 */
static void dweight_pass(float *dweight, float *work, const float *dout, const float *inp,
			 const struct conv2d_dims *d, int g, int band, int t, int team)
{
	const int oh = conv2d_out_h(d), ow = conv2d_out_w(d);
	const int ckk = d->c * d->k * d->k, pw = conv2d_pointwise(d);
	const size_t ohw = (size_t)oh * ow, in_sz = (size_t)d->c * d->h * d->w;
	const size_t cmax = (size_t)g * band * ow;
	/* the narrowest tile: the last group's, the last band's */
	const int gmin = d->n % g ? d->n % g : g, bmin = band && oh % band ? oh % band : band;
	const double half = (double)d->oc * (ckk / CONV2D_TEAM_MAX) * gmin * bmin * ow;
	const int parts = half > DW_SPLIT_MIN ? CONV2D_TEAM_MAX : 1;

	for (int n0 = 0; n0 < d->n; n0 += g) {
		const int gn = d->n - n0 < g ? d->n - n0 : g;
		const float *x = inp + n0 * in_sz;
		for (int oy0 = 0; oy0 < oh; oy0 += band) {
			const int oy1 = oy0 + band < oh ? oy0 + band : oh;
			const size_t cols = (size_t)gn * (oy1 - oy0) * ow;
			const float *dy = dout + n0 * d->oc * ohw + (size_t)oy0 * ow;
			size_t lddy = ohw;
			if (gn > 1) {	/* dy [oc, cols]: the group's planes side by side */
				float *m = work + (size_t)ckk * cmax;
				group_gather(m, dy, gn, d->oc, ohw, t * d->oc / team,
					     (t + 1) * d->oc / team);
				BARRIER
				dy = m, lddy = cols;
			}
			for (int p = t; p < parts; p += team) {
				const int r0 = p * ckk / parts, r1 = (p + 1) * ckk / parts;
				const float *col = x + (size_t)r0 * ohw;
				size_t ldcol = ohw;
				if (r0 == r1)
					continue;
				if (!(pw && gn == 1)) {
					im2col(work + r0 * cmax, cols, x, gn, d, ow, oy0, oy1, r0, r1);
					col = work + r0 * cmax, ldcol = cols;
				}
				/* y = weight . col  =>  dweight += dy . col^T */
				cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, d->oc, r1 - r0,
					    (int)cols, 1.0f, dy, (int)lddy, col, (int)ldcol, 1.0f,
					    dweight + r0, ckk);
			}
			if (gn > 1) {
				BARRIER	/* all done with m */
			}
		}
	}
}

/* dinp += (SET 0) or dinp = (SET 1) the input gradient of images [n0, n0 +
 * gn), every band in order: y = weight . col  =>  dcol [ckk, cols] =
 * weight^T . dy, then col2im; for one image of a 1x1 stride-1 convolution,
 * col is the input itself (set: the whole image, sgemm_overwrite).  The
 * one place where a convolution writes dinp. */
static void dinp_group(float *dinp, int set, float *work, const float *dout, const float *weight,
		       const struct conv2d_dims *d, int n0, int gn, int band)
{
	const int oh = conv2d_out_h(d), ow = conv2d_out_w(d);
	const int ckk = d->c * d->k * d->k;
	const size_t ohw = (size_t)oh * ow, in_sz = (size_t)d->c * d->h * d->w;
	float *dx = dinp + n0 * in_sz;

	for (int oy0 = 0; oy0 < oh; oy0 += band) {
		const int oy1 = oy0 + band < oh ? oy0 + band : oh;
		const size_t cols = (size_t)gn * (oy1 - oy0) * ow;
		const float *dy = dout + n0 * d->oc * ohw + (size_t)oy0 * ow;
		size_t lddy = ohw;
		if (gn > 1) {
			float *m = work + (size_t)ckk * cols;
			group_gather(m, dy, gn, d->oc, ohw, 0, d->oc);
			dy = m, lddy = cols;
		}
		if (conv2d_pointwise(d) && gn == 1 && set) {
			sgemm_overwrite(1, 0, ckk, (int)cols, d->oc, weight, ckk, dy, (int)lddy,
					dx, (int)ohw);
		} else if (conv2d_pointwise(d) && gn == 1) {
			cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, ckk, (int)cols, d->oc,
				    1.0f, weight, ckk, dy, (int)lddy, 1.0f, dx, (int)ohw);
		} else {
			sgemm_overwrite(1, 0, ckk, (int)cols, d->oc, weight, ckk, dy, (int)lddy,
					work, (int)cols);
			col2im_add(dx, work, cols, gn, d, ow, oy0, oy1, set);
		}
	}
}

/* conv2d_backward(), dinp += (SET 0) or dinp = (SET 1). */
static void conv_backward(float *dinp, int set, float *dweight, float *dbias, float *work,
			  const float *dout, const float *inp, const float *weight,
			  const struct conv2d_dims *d)
{
	const size_t ohw = (size_t)conv2d_out_h(d) * conv2d_out_w(d), out_sz = d->oc * ohw;
	const size_t slot = conv2d_slot(d);
	int g, band;

	if (dbias) {
		/* out[n][o][.] = bias[o] + ...: dbias[o] += sum over n and pixels. */
		for (int o = 0; o < d->oc; o++) {
			double s = 0;
			for (int n = 0; n < d->n; n++)
				s += sum_f(dout + n * out_sz + (size_t)o * ohw, ohw);
			dbias[o] += (float)s;
		}
	}
	if (!dweight && !dinp)
		return;
	if (conv2d_uses_winograd(d)) {
		(set ? wino_backward_set : wino_backward)(dinp, dweight, work, dout, inp,
							  weight, d);
		return;
	}
	if (dweight && convstem_applies(d)) {
		convstem_dweight(dweight, work, dout, inp, d);
		dweight = NULL;
		if (!dinp)
			return;
	}
	conv2d_tiles(&g, &band, d);
	const int ng = team_groups(d->n, g);
	int held;
	const int team = conv_team(&held);
	TEAM(team)
	{
		const int t = thread_id();
		if (dweight)
			dweight_pass(dweight, work, dout, inp, d, g, band, t, team_size());
		if (dweight && dinp) {
			BARRIER	/* the slots reuse dweight's matrices */
		}
		if (dinp) {
			float *w = work + slot * t;
			TEAM_FOR
			for (int u = 0; u < ng; u++) {
				const int n0 = (int)((long)u * d->n / ng);
				const int n1 = (int)((long)(u + 1) * d->n / ng);
				dinp_group(dinp, set, w, dout, weight, d, n0, n1 - n0, band);
			}
		}
	}
	blas_release_single(held);
}

void conv2d_backward(float *dinp, float *dweight, float *dbias, float *work,
		     const float *dout, const float *inp, const float *weight,
		     const struct conv2d_dims *d)
{
	conv_backward(dinp, 0, dweight, dbias, work, dout, inp, weight, d);
}

void conv2d_backward_set(float *dinp, float *dweight, float *dbias, float *work,
			 const float *dout, const float *inp, const float *weight,
			 const struct conv2d_dims *d)
{
	conv_backward(dinp, 1, dweight, dbias, work, dout, inp, weight, d);
}

/* ------------------------------------------------------------------ */
/* Batch normalisation (with an optional PReLU in the same sweep) */

/* y [HW] = prelu((x - mu) * scale + shift) with slope a; a = 1 is plain
 * batch norm (a * z == z exactly).  The one formula of the forward, the
 * recomputation and the backward's sign test, so all three agree bit for bit.
 * Both sides of the select are computed, so that GCC can vectorise it
 * (with -ftrapping-math it will not execute a product the source makes
 * conditional). */
NO_TRAP static inline float bn_act(float x, float mu, float scale, float shift, float a)
{
	const float z = (x - mu) * scale + shift, n = a * z;
	return z > 0 ? z : n;
}

CLONES NO_TRAP static void bn_act_plane(float *restrict y, const float *x, float mu,
					  float scale, float shift, float a, int HW)
{
	SIMD
	for (int t = 0; t < HW; t++)
		y[t] = bn_act(x[t], mu, scale, shift, a);
}

/*
 * Streaming stores: the batch norm's outputs (forward y, backward dinp)
 * are written whole before the next layer reads them, and at batch 64
 * they are 6-205 MB, far past the caches; a plain store first reads the
 * line it writes.  Blocks of NT_BLOCK floats (four cache lines) are
 * computed into a buffer in L1 and written with SSE's movntps, which every
 * x86-64 clone has; the values are those of the plain loops.  Tensors
 * below NT_MIN floats (32 MB) keep plain stores: measured slower with
 * streaming at 128x28x28 and 256x14x14, batch 64 (26 and 13 MB), faster at
 * 64x56x56 and 64x112x112.
 */
#define NT_BLOCK 64
#define NT_MIN (1L << 23)

/* Floats before y's next 64-byte boundary, at most n. */
static int to_line(const float *y, int n)
{
	const int k = (int)((64 - ((uintptr_t)y & 63)) & 63) / (int)sizeof *y;
	return k < n ? k : n;
}

/* y [NT_BLOCK] = b, y 64-byte aligned, bypassing the caches. */
static inline __attribute__((always_inline)) void stream_block(float *y,
								     const float *b)
{
#ifdef __SSE__
	for (int i = 0; i < NT_BLOCK; i += 4)
		_mm_stream_ps(y + i, _mm_load_ps(b + i));
#else
	memcpy(y, b, NT_BLOCK * sizeof *y);
#endif
}

/* Orders the streaming stores before what the thread does next (another
 * thread reading the tensor after the OpenMP barrier). */
static void stream_fence(void)
{
#ifdef __SSE__
	_mm_sfence();
#endif
}

/* bn_act_plane() with streaming stores (no fence). */
CLONES NO_TRAP static void bn_act_plane_nt(float *y, const float *x, float mu, float scale,
					     float shift, float a, int HW)
{
	float b[NT_BLOCK] __attribute__((aligned(64)));
	int t = to_line(y, HW);
	bn_act_plane(y, x, mu, scale, shift, a, t);
	for (; t + NT_BLOCK <= HW; t += NT_BLOCK) {
		SIMD
		for (int i = 0; i < NT_BLOCK; i++)
			b[i] = bn_act(x[t + i], mu, scale, shift, a);
		stream_block(y + t, b);
	}
	bn_act_plane(y + t, x + t, mu, scale, shift, a, HW - t);
}

/* The backward's sums over one plane: *p += sum g, *q += sum g (x - mu),
 * *r += sum_{z <= 0} dy z (see batchnorm_prelu_backward()).  The loops
 * live in their own functions: GCC 12 does not if-convert (so does not
 * vectorise) them inside an OpenMP-outlined body. */
CLONES NO_TRAP static void bn_act_sums(double *p, double *q, double *r, const float *x,
					 const float *dy, float mu, float scale, float shift,
					 float a, int HW)
{
	double sp = 0, sq = 0, sr = 0;
	SIMD_SUM(sp, sq, sr)
	for (int t = 0; t < HW; t++) {
		const float z = (x[t] - mu) * scale + shift;
		const float ag = a * dy[t], zg = dy[t] * z;
		const float g = z > 0 ? dy[t] : ag;
		sp += g;
		sq += (double)g * ((double)x[t] - mu);
		sr += z > 0 ? 0.0f : zg;
	}
	*p += sp;
	*q += sq;
	*r += sr;
}

/* bn_act_sums() of the four planes x + k cs, dy + k cs, k = 0..3, in one
 * pass: independent chains for the adds that bound one plane's loop, each
 * plane summed in bn_act_sums()'s order and added in plane order: the same
 * bits. */
CLONES NO_TRAP static void bn_act_sums4(double *p, double *q, double *r, const float *x,
					  const float *dy, size_t cs, float mu, float scale,
					  float shift, float a, int HW)
{
	const float *x1 = x + cs, *x2 = x1 + cs, *x3 = x2 + cs;
	const float *d1 = dy + cs, *d2 = d1 + cs, *d3 = d2 + cs;
	double p0 = 0, q0 = 0, r0 = 0, p1 = 0, q1 = 0, r1 = 0;
	double p2 = 0, q2 = 0, r2 = 0, p3 = 0, q3 = 0, r3 = 0;
	SIMD_SUM(p0, q0, r0, p1, q1, r1, p2, q2, r2, p3, q3, r3)
	for (int t = 0; t < HW; t++) {
		const float z0 = (x[t] - mu) * scale + shift, z1 = (x1[t] - mu) * scale + shift;
		const float z2 = (x2[t] - mu) * scale + shift, z3 = (x3[t] - mu) * scale + shift;
		const float g0 = z0 > 0 ? dy[t] : a * dy[t], g1 = z1 > 0 ? d1[t] : a * d1[t];
		const float g2 = z2 > 0 ? d2[t] : a * d2[t], g3 = z3 > 0 ? d3[t] : a * d3[t];
		const float zg0 = dy[t] * z0, zg1 = d1[t] * z1, zg2 = d2[t] * z2, zg3 = d3[t] * z3;
		/* the selects apart from the adds: with them inside, GCC 12's
		 * two-plane loop crashed (a masked load walking off the stack) */
		const float n0 = z0 > 0 ? 0.0f : zg0, n1 = z1 > 0 ? 0.0f : zg1;
		const float n2 = z2 > 0 ? 0.0f : zg2, n3 = z3 > 0 ? 0.0f : zg3;
		p0 += g0;
		q0 += (double)g0 * ((double)x[t] - mu);
		r0 += n0;
		p1 += g1;
		q1 += (double)g1 * ((double)x1[t] - mu);
		r1 += n1;
		p2 += g2;
		q2 += (double)g2 * ((double)x2[t] - mu);
		r2 += n2;
		p3 += g3;
		q3 += (double)g3 * ((double)x3[t] - mu);
		r3 += n3;
	}
	*p += p0;
	*q += q0;
	*r += r0;
	*p += p1;
	*q += q1;
	*r += r1;
	*p += p2;
	*q += q2;
	*r += r2;
	*p += p3;
	*q += q3;
	*r += r3;
}

/* scale (g - mdy - (x - mu) kx), g as in bn_act_sums(): the backward's
 * dinp at one element. */
NO_TRAP static inline float bn_act_dx(float x, float dy, float mu, float scale, float shift,
				      float a, float mdy, float kx)
{
	const float z = (x - mu) * scale + shift, ag = a * dy;
	const float g = z > 0 ? dy : ag;
	return scale * (g - mdy - (x - mu) * kx);
}

/* dx [HW] += bn_act_dx(). */
CLONES NO_TRAP static void bn_act_dinp(float *restrict dx, const float *x, const float *dy,
					 float mu, float scale, float shift, float a, float mdy,
					 float kx, int HW)
{
	SIMD
	for (int t = 0; t < HW; t++)
		dx[t] += bn_act_dx(x[t], dy[t], mu, scale, shift, a, mdy, kx);
}

/* dx [HW] = bn_act_dx(): no read of dx. */
CLONES NO_TRAP static void bn_act_dinp_set(float *restrict dx, const float *x, const float *dy,
					     float mu, float scale, float shift, float a,
					     float mdy, float kx, int HW)
{
	SIMD
	for (int t = 0; t < HW; t++)
		dx[t] = bn_act_dx(x[t], dy[t], mu, scale, shift, a, mdy, kx);
}

/* bn_act_dinp_set() with streaming stores (no fence). */
CLONES NO_TRAP static void bn_act_dinp_set_nt(float *dx, const float *x, const float *dy,
					       float mu, float scale, float shift, float a,
					       float mdy, float kx, int HW)
{
	float b[NT_BLOCK] __attribute__((aligned(64)));
	int t = to_line(dx, HW);
	bn_act_dinp_set(dx, x, dy, mu, scale, shift, a, mdy, kx, t);
	for (; t + NT_BLOCK <= HW; t += NT_BLOCK) {
		SIMD
		for (int i = 0; i < NT_BLOCK; i++)
			b[i] = bn_act_dx(x[t + i], dy[t + i], mu, scale, shift, a, mdy, kx);
		stream_block(dx + t, b);
	}
	bn_act_dinp_set(dx + t, x + t, dy + t, mu, scale, shift, a, mdy, kx, HW - t);
}

/* y [HW] = prelu(x s + b) with slope a. */
CLONES NO_TRAP static void affine_plane(float *y, const float *x, float s, float b, float a,
					  int HW)
{
	SIMD
	for (int t = 0; t < HW; t++) {
		const float z = x[t] * s + b, neg = a * z;
		y[t] = z > 0 ? z : neg;
	}
}

/* Shifted sums of one channel: s1 = sum (x - K), s2 = sum (x - K)^2, with K
 * the channel's first value, in double, in vector lanes (an order fixed by
 * the compiled code, not by threads).  Shifting
 * by a sample keeps E[(x-K)^2] - E[x-K]^2 free of cancellation in practice
 * (Chan, Golub & LeVeque 1983, "Algorithms for computing the sample
 * variance"), so one pass gives what the two-pass deviation sum gives. */
CLONES static void shifted_sums(double *s1, double *s2, const float *x, float K, int n)
{
	double a = 0, b = 0;
	SIMD_SUM(a, b)
	for (int i = 0; i < n; i++) {
		const double t = (double)x[i] - K;
		a += t;
		b += t * t;
	}
	*s1 += a;
	*s2 += b;
}

/* shifted_sums() of the four planes x + k cs, k = 0..3, in one pass.  One
 * plane's sums are two chains of dependent adds, which bound the loop
 * (measured 1.5x slower than memory at 56x56); four planes give eight
 * independent chains.  Each plane is summed in shifted_sums()'s order and
 * added in plane order: the same bits. */
CLONES static void shifted_sums4(double *s1, double *s2, const float *x, size_t cs, float K,
				   int n)
{
	const float *x1 = x + cs, *x2 = x1 + cs, *x3 = x2 + cs;
	double a0 = 0, b0 = 0, a1 = 0, b1 = 0, a2 = 0, b2 = 0, a3 = 0, b3 = 0;
	SIMD_SUM(a0, b0, a1, b1, a2, b2, a3, b3)
	for (int i = 0; i < n; i++) {
		const double t0 = (double)x[i] - K, t1 = (double)x1[i] - K;
		const double t2 = (double)x2[i] - K, t3 = (double)x3[i] - K;
		a0 += t0;
		b0 += t0 * t0;
		a1 += t1;
		b1 += t1 * t1;
		a2 += t2;
		b2 += t2 * t2;
		a3 += t3;
		b3 += t3 * t3;
	}
	*s1 += a0;
	*s2 += b0;
	*s1 += a1;
	*s2 += b1;
	*s1 += a2;
	*s2 += b2;
	*s1 += a3;
	*s2 += b3;
}

void batchnorm_prelu_forward(float *out, float *mean, float *invstd, float *running_mean,
			     float *running_var, const float *inp, const float *gamma,
			     const float *beta, const float *alpha, int N, int C, int HW,
			     float eps, float momentum)
{
	const size_t M = (size_t)N * HW, cs = (size_t)C * HW;
	const int nt = (long)(M * C) >= NT_MIN;
	void (*plane)(float *, const float *, float, float, float, float, int) =
		nt ? bn_act_plane_nt : bn_act_plane;

	PARALLEL_FOR((long)(M * C))
	for (long c = 0; c < C; c++) {
		const float *x = inp + (size_t)c * HW;
		float *y = out + (size_t)c * HW;
		/* One pass for the statistics, one for the output. */
		const float K = x[0];
		double s1 = 0, s2 = 0;
		int n = 0;
		for (; n + 4 <= N; n += 4)
			shifted_sums4(&s1, &s2, x + n * cs, cs, K, HW);
		for (; n < N; n++)
			shifted_sums(&s1, &s2, x + n * cs, K, HW);
		const double d = s1 / (double)M;
		double v = s2 / (double)M - d * d;
		v = v > 0 ? v : 0;
		const float mu = (float)(K + d);
		const float is = (float)(1.0 / sqrt(v + eps));
		const float scale = (gamma ? gamma[c] : 1.0f) * is;
		const float shift = beta ? beta[c] : 0.0f;
		const float a = alpha ? alpha[c] : 1.0f;
		mean[c] = mu;
		invstd[c] = is;
		for (n = 0; n < N; n++)
			plane(y + n * cs, x + n * cs, mu, scale, shift, a, HW);
		stream_fence();
		if (running_mean && running_var) {
			double unbiased = M > 1 ? v * (double)M / (double)(M - 1) : v;
			running_mean[c] = (1.0f - momentum) * running_mean[c] + momentum * mu;
			running_var[c] = (float)((1.0 - momentum) * running_var[c] +
						 momentum * unbiased);
		}
	}
}

void batchnorm_prelu_apply(float *out, const float *inp, const float *gamma,
			   const float *beta, const float *alpha, const float *mean,
			   const float *invstd, int N, int C, int HW)
{
	const size_t cs = (size_t)C * HW;
	void (*plane)(float *, const float *, float, float, float, float, int) =
		(long)N * (long)cs >= NT_MIN ? bn_act_plane_nt : bn_act_plane;

	PARALLEL_FOR((long)N * (long)cs)
	for (long c = 0; c < C; c++) {
		const float scale = (gamma ? gamma[c] : 1.0f) * invstd[c];
		const float shift = beta ? beta[c] : 0.0f;
		const float a = alpha ? alpha[c] : 1.0f;
		for (int n = 0; n < N; n++)
			plane(out + n * cs + (size_t)c * HW, inp + n * cs + (size_t)c * HW,
			      mean[c], scale, shift, a, HW);
		stream_fence();
	}
}

void channel_affine_prelu(float *out, const float *inp, const float *scale,
			  const float *shift, const float *alpha, int N, int C, int HW)
{
	PARALLEL_FOR((long)N * C * HW)
	for (long pl = 0; pl < (long)N * C; pl++) {
		const int c = (int)(pl % C);
		const float s = scale ? scale[c] : 1.0f, b = shift ? shift[c] : 0.0f;
		const float a = alpha ? alpha[c] : 1.0f;
		affine_plane(out + (size_t)pl * HW, inp + (size_t)pl * HW, s, b, a, HW);
	}
}

/* batchnorm_prelu_backward(), dinp += (SET 0) or dinp = (SET 1). */
static void bn_prelu_backward(float *dinp, int set, float *dgamma, float *dbeta, float *dalpha,
			      const float *dout, const float *inp, const float *gamma,
			      const float *beta, const float *alpha, const float *mean,
			      const float *invstd, int N, int C, int HW)
{
	const size_t M = (size_t)N * HW, cs = (size_t)C * HW;
	void (*dinp_plane)(float *, const float *, const float *, float, float, float, float,
			   float, float, int) = !set ? bn_act_dinp
					      : (long)(M * C) >= NT_MIN ? bn_act_dinp_set_nt
									: bn_act_dinp_set;

	PARALLEL_FOR((long)(M * C))
	for (long c = 0; c < C; c++) {
		const float *x = inp + (size_t)c * HW, *dy = dout + (size_t)c * HW;
		const float mu = mean[c], is = invstd[c];
		const float scale = (gamma ? gamma[c] : 1.0f) * is;
		const float shift = beta ? beta[c] : 0.0f;
		const float a = alpha ? alpha[c] : 1.0f;
		/* sum g, sum g (x - mu), sum_{z <= 0} dy z, where z is the batch
		 * norm's output (recomputed, bit for bit the forward's) and g the
		 * gradient at z: dy, or a dy where z <= 0 */
		double sdy = 0, sdyx = 0, sa = 0;
		int n = 0;
		for (; !alpha && n + 2 <= N; n += 2)
			sum_dy_dev2(&sdy, &sdyx, x + n * cs, mu, dy + n * cs, cs, (size_t)HW);
		for (; alpha && n + 4 <= N; n += 4)
			bn_act_sums4(&sdy, &sdyx, &sa, x + n * cs, dy + n * cs, cs, mu, scale,
				     shift, a, HW);
		for (; n < N; n++) {
			const float *xn = x + n * cs, *dn = dy + n * cs;
			if (!alpha)
				sum_dy_dev(&sdy, &sdyx, xn, mu, dn, (size_t)HW);
			else
				bn_act_sums(&sdy, &sdyx, &sa, xn, dn, mu, scale, shift, a, HW);
		}
		if (dgamma)
			dgamma[c] += (float)(sdyx * is);
		if (dbeta)
			dbeta[c] += (float)sdy;
		if (alpha && dalpha)
			dalpha[c] += (float)sa;
		if (!dinp)
			continue;
		/* dinp += gamma invstd (g - mean(g) - xhat mean(g xhat)), with
		 * xhat mean(g xhat) = (x - mu) * sdyx is^2 / M */
		const float mdy = (float)(sdy / (double)M);
		const float kx = (float)(sdyx * is * is / (double)M);
		float *dx = dinp + (size_t)c * HW;
		for (n = 0; n < N; n++)
			dinp_plane(dx + n * cs, x + n * cs, dy + n * cs, mu, scale, shift, a, mdy,
				   kx, HW);
		stream_fence();
	}
}

void batchnorm_prelu_backward(float *dinp, float *dgamma, float *dbeta, float *dalpha,
			      const float *dout, const float *inp, const float *gamma,
			      const float *beta, const float *alpha, const float *mean,
			      const float *invstd, int N, int C, int HW)
{
	bn_prelu_backward(dinp, 0, dgamma, dbeta, dalpha, dout, inp, gamma, beta, alpha, mean,
			  invstd, N, C, HW);
}

void batchnorm_prelu_backward_set(float *dinp, float *dgamma, float *dbeta, float *dalpha,
				  const float *dout, const float *inp, const float *gamma,
				  const float *beta, const float *alpha, const float *mean,
				  const float *invstd, int N, int C, int HW)
{
	bn_prelu_backward(dinp, 1, dgamma, dbeta, dalpha, dout, inp, gamma, beta, alpha, mean,
			  invstd, N, C, HW);
}

/* ------------------------------------------------------------------ */
/* PReLU */

void prelu_forward(float *out, const float *inp, const float *alpha, int N, int C, int HW)
{
	PARALLEL_FOR((long)N * C * HW)
	for (long pl = 0; pl < (long)N * C; pl++) {
		affine_plane(out + (size_t)pl * HW, inp + (size_t)pl * HW, 1.0f, 0.0f,
			     alpha[pl % C], HW);
	}
}

/* prelu_backward(), dinp += (SET 0) or dinp = 0 + (SET 1). */
static void prelu_back(float *dinp, int set, float *dalpha, const float *dout,
		       const float *inp, const float *alpha, int N, int C, int HW)
{
	const size_t cs = (size_t)C * HW;

	PARALLEL_FOR((long)N * (long)cs)
	for (long c = 0; c < C; c++) {
		const float a = alpha[c];
		double s = 0;
		for (int n = 0; n < N; n++) {
			const float *x = inp + n * cs + (size_t)c * HW;
			const float *dy = dout + n * cs + (size_t)c * HW;
			float *dx = dinp ? dinp + n * cs + (size_t)c * HW : NULL;
			for (int t = 0; t < HW; t++) {
				if (x[t] > 0) {
					if (dx)
						dx[t] = (set ? 0.0f : dx[t]) + dy[t];
				} else {
					if (dx)
						dx[t] = (set ? 0.0f : dx[t]) + a * dy[t];
					s += (double)dy[t] * x[t];
				}
			}
		}
		if (dalpha)
			dalpha[c] += (float)s;
	}
}

void prelu_backward(float *dinp, float *dalpha, const float *dout, const float *inp,
		    const float *alpha, int N, int C, int HW)
{
	prelu_back(dinp, 0, dalpha, dout, inp, alpha, N, C, HW);
}

void prelu_backward_set(float *dinp, float *dalpha, const float *dout, const float *inp,
			const float *alpha, int N, int C, int HW)
{
	prelu_back(dinp, 1, dalpha, dout, inp, alpha, N, C, HW);
}

/* ------------------------------------------------------------------ */
/* Max-pool */

void maxpool_forward(float *out, int32_t *argmax, const float *inp, int N, int C,
		     int H, int W, int k, int stride, int pad)
{
	const int oh = nn_out_size(H, k, stride, pad), ow = nn_out_size(W, k, stride, pad);

	PARALLEL_FOR((long)N * C * oh * ow * k * k)
	for (long pl = 0; pl < (long)N * C; pl++) {
		const float *x = inp + (size_t)pl * H * W;
		float *y = out + (size_t)pl * oh * ow;
		int32_t *am = argmax + (size_t)pl * oh * ow;
		for (int oy = 0; oy < oh; oy++) {
			int y0 = oy * stride - pad, y1 = y0 + k;
			y0 = y0 < 0 ? 0 : y0;
			y1 = y1 > H ? H : y1;
			for (int ox = 0; ox < ow; ox++) {
				int x0 = ox * stride - pad, x1 = x0 + k;
				x0 = x0 < 0 ? 0 : x0;
				x1 = x1 > W ? W : x1;
				/* PyTorch's rule: first maximum wins, NaN wins. */
				float best = -INFINITY;
				int32_t bi = y0 * W + x0;
				for (int iy = y0; iy < y1; iy++)
					for (int ix = x0; ix < x1; ix++) {
						float v = x[iy * W + ix];
						if (v > best || isnan(v)) {
							best = v;
							bi = iy * W + ix;
						}
					}
				y[oy * ow + ox] = best;
				am[oy * ow + ox] = bi;
			}
		}
	}
}

/* maxpool_backward(); SET: each plane cleared just before its sums. */
static void maxpool_back(float *dinp, int set, const float *dout, const int32_t *argmax,
			 int N, int C, int H, int W, int k, int stride, int pad)
{
	const int oh = nn_out_size(H, k, stride, pad), ow = nn_out_size(W, k, stride, pad);
	const size_t ohw = (size_t)oh * ow;

	PARALLEL_FOR((long)N * C * (long)ohw)
	for (long pl = 0; pl < (long)N * C; pl++) {
		float *dx = dinp + (size_t)pl * H * W;
		const float *dy = dout + (size_t)pl * ohw;
		const int32_t *am = argmax + (size_t)pl * ohw;
		if (set)
			memset(dx, 0, (size_t)H * W * sizeof *dx);
		for (size_t o = 0; o < ohw; o++)
			dx[am[o]] += dy[o];
	}
}

void maxpool_backward(float *dinp, const float *dout, const int32_t *argmax, int N,
		      int C, int H, int W, int k, int stride, int pad)
{
	maxpool_back(dinp, 0, dout, argmax, N, C, H, W, k, stride, pad);
}

void maxpool_backward_set(float *dinp, const float *dout, const int32_t *argmax, int N,
			  int C, int H, int W, int k, int stride, int pad)
{
	maxpool_back(dinp, 1, dout, argmax, N, C, H, W, k, stride, pad);
}

/* ------------------------------------------------------------------ */
/* Dropout */

void dropout_forward(float *out, uint8_t *mask, struct rng *r, const float *inp, float p,
		     size_t n)
{
	/* PyTorch multiplies by the float 1/(1-p); so do we. */
	const float scale = p < 1.0f ? 1.0f / (1.0f - p) : 0.0f;
	for (size_t i = 0; i < n; i++) {
		mask[i] = rng_uniform(r) >= p;
		out[i] = mask[i] ? inp[i] * scale : 0.0f;
	}
}

void dropout_backward(float *dinp, const float *dout, const uint8_t *mask, float p, size_t n)
{
	const float scale = p < 1.0f ? 1.0f / (1.0f - p) : 0.0f;
	for (size_t i = 0; i < n; i++)
		if (mask[i])
			dinp[i] += dout[i] * scale;
}

/* ------------------------------------------------------------------ */
/* Linear */

void linear_forward(float *out, const float *inp, const float *weight, const float *bias,
		    int N, int IC, int OC)
{
	/* out [N, OC] = inp [N, IC] . weight^T [IC, OC] */
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, OC, IC, 1.0f, inp, IC, weight,
		    IC, 0.0f, out, OC);
	if (bias)
		for (int n = 0; n < N; n++)
			for (int o = 0; o < OC; o++)
				out[(size_t)n * OC + o] += bias[o];
}

void linear_backward(float *dinp, float *dweight, float *dbias, const float *dout,
		     const float *inp, const float *weight, int N, int IC, int OC)
{
	if (dinp) /* dinp [N, IC] += dout [N, OC] . weight [OC, IC] */
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, IC, OC, 1.0f, dout, OC,
			    weight, IC, 1.0f, dinp, IC);
	if (dweight) /* dweight [OC, IC] += dout^T [OC, N] . inp [N, IC] */
		cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, OC, IC, N, 1.0f, dout, OC,
			    inp, IC, 1.0f, dweight, IC);
	if (dbias)
		for (int o = 0; o < OC; o++) {
			double s = 0;
			for (int n = 0; n < N; n++)
				s += dout[(size_t)n * OC + o];
			dbias[o] += (float)s;
		}
}

/* ------------------------------------------------------------------ */
/* Residual add */

/* out = a + b: the residual sums, elementwise (out may be a). */
CLONES static void add_block(float *out, const float *a, const float *b, long n)
{
	SIMD
	for (long i = 0; i < n; i++)
		out[i] = a[i] + b[i];
}

/* 0 + b: the bytes a cleared gradient plus b would hold (-0 gives +0). */
CLONES static void set_block(float *out, const float *b, long n)
{
	SIMD
	for (long i = 0; i < n; i++)
		out[i] = 0.0f + b[i];
}

void residual_affine_forward(float *out, const float *a, const float *b, float *y,
			     const float *scale, const float *shift, const float *alpha, int N,
			     int C, int HW)
{
	PARALLEL_FOR((long)N * C * HW)
	for (long pl = 0; pl < (long)N * C; pl++) {
		const int c = (int)(pl % C);
		const size_t o = (size_t)pl * HW;
		add_block(out + o, a + o, b + o, HW);
		affine_plane(y + o, out + o, scale[c], shift[c], alpha ? alpha[c] : 1.0f, HW);
	}
}

/* Blocks of RES_BLOCK elements shared among the threads: elementwise, so
 * the same bytes whatever their number; once on the main thread alone,
 * they were about 1% of a training step's samples while the other core
 * idled. */
#define RES_BLOCK 16384L

void residual_forward(float *out, const float *a, const float *b, size_t n)
{
	const long nb = (long)((n + RES_BLOCK - 1) / RES_BLOCK);

	PARALLEL_FOR((long)n)
	for (long u = 0; u < nb; u++) {
		const size_t i = (size_t)u * RES_BLOCK;
		add_block(out + i, a + i, b + i, n - i < RES_BLOCK ? (long)(n - i) : RES_BLOCK);
	}
}

int residual_forward_tap(float *out, const float *a, const float *b,
			 const struct conv2d_tap *tap, int N, int C, int H, int W)
{
	const struct conv2d_dims d = { N, C, H, W, C, 1, 1, 0 };
	struct tap_band t = { tap, &d, out, 0, 0 };
	const int nb = (H + TAP_ROWS - 1) / TAP_ROWS;
	const size_t hw = (size_t)H * W;

	if (!tap_fits(tap, W))
		return 0;
	PARALLEL_FOR((long)N * C * H * W)
	for (long u = 0; u < (long)N * nb; u++) {
		const int n = (int)(u / nb), y0 = (int)(u % nb) * TAP_ROWS;
		const int y1 = y0 + TAP_ROWS < H ? y0 + TAP_ROWS : H;
		for (int c = 0; c < C; c++) {
			const size_t o = ((size_t)n * C + c) * hw + (size_t)y0 * W;
			add_block(out + o, a + o, b + o, (long)(y1 - y0) * W);
		}
		tap_rows(&t, n, y0, y1);
	}
	return 1;
}

/* residual_backward(), da and db += (SET 0) or = (SET 1) dout. */
static void residual_back(float *da, float *db, int set, const float *dout, size_t n)
{
	const long nb = (long)((n + RES_BLOCK - 1) / RES_BLOCK);

	PARALLEL_FOR((long)n)
	for (long u = 0; u < nb; u++) {
		const size_t i = (size_t)u * RES_BLOCK;
		const long m = n - i < RES_BLOCK ? (long)(n - i) : RES_BLOCK;
		for (int k = 0; k < 2; k++) {
			float *d = k ? db : da;
			if (d && set)
				set_block(d + i, dout + i, m);
			else if (d)
				add_block(d + i, d + i, dout + i, m);
		}
	}
}

void residual_backward(float *da, float *db, const float *dout, size_t n)
{
	residual_back(da, db, 0, dout, n);
}

void residual_backward_set(float *da, float *db, const float *dout, size_t n)
{
	residual_back(da, db, 1, dout, n);
}

/* ------------------------------------------------------------------ */
/* Used by tests only (nn.h): plain and eval-mode batch norm, ReLU. */

void batchnorm_forward(float *out, float *mean, float *invstd, float *running_mean,
		       float *running_var, const float *inp, const float *gamma,
		       const float *beta, int N, int C, int HW, float eps, float momentum)
{
	batchnorm_prelu_forward(out, mean, invstd, running_mean, running_var, inp, gamma, beta,
				NULL, N, C, HW, eps, momentum);
}

void batchnorm_forward_eval(float *out, const float *inp, const float *gamma,
			    const float *beta, const float *running_mean,
			    const float *running_var, int N, int C, int HW, float eps)
{
	const size_t cs = (size_t)C * HW;

	PARALLEL_FOR((long)N * (long)cs)
	for (long c = 0; c < C; c++) {
		const float mu = running_mean[c];
		const float scale = (gamma ? gamma[c] : 1.0f) /
				    (float)sqrt((double)running_var[c] + eps);
		const float shift = beta ? beta[c] : 0.0f;
		for (int n = 0; n < N; n++)
			bn_act_plane(out + n * cs + (size_t)c * HW, inp + n * cs + (size_t)c * HW,
				     mu, scale, shift, 1.0f, HW);
	}
}

void batchnorm_backward(float *dinp, float *dgamma, float *dbeta, const float *dout,
			const float *inp, const float *gamma, const float *mean,
			const float *invstd, int N, int C, int HW)
{
	batchnorm_prelu_backward(dinp, dgamma, dbeta, NULL, dout, inp, gamma, NULL, NULL, mean,
				 invstd, N, C, HW);
}

void relu_forward(float *out, const float *inp, size_t n)
{
	PARALLEL_FOR((long)n)
	for (long i = 0; i < (long)n; i++)
		out[i] = inp[i] > 0 ? inp[i] : 0.0f;
}

void relu_backward(float *dinp, const float *dout, const float *inp, size_t n)
{
	PARALLEL_FOR((long)n)
	for (long i = 0; i < (long)n; i++)
		if (inp[i] > 0)
			dinp[i] += dout[i];
}

/* ------------------------------------------------------------------ */
/* Reference twins: direct definitions, double accumulators, no tricks. */

void conv2d_forward_ref(float *out, const float *inp, const float *weight,
			const float *bias, const struct conv2d_dims *d)
{
	const int oh = conv2d_out_h(d), ow = conv2d_out_w(d), k = d->k;
	for (int n = 0; n < d->n; n++)
		for (int o = 0; o < d->oc; o++)
			for (int oy = 0; oy < oh; oy++)
				for (int ox = 0; ox < ow; ox++) {
					double s = bias ? bias[o] : 0.0;
					for (int ci = 0; ci < d->c; ci++)
						for (int i = 0; i < k; i++)
							for (int j = 0; j < k; j++) {
								int iy = oy * d->stride - d->pad + i;
								int ix = ox * d->stride - d->pad + j;
								if (iy < 0 || iy >= d->h || ix < 0 ||
								    ix >= d->w)
									continue;
								s += (double)weight[((o * d->c + ci) * k + i) * k + j] *
								     inp[((size_t)(n * d->c + ci) * d->h + iy) * d->w + ix];
							}
					out[((size_t)(n * d->oc + o) * oh + oy) * ow + ox] = (float)s;
				}
}

void conv2d_backward_ref(float *dinp, float *dweight, float *dbias, const float *dout,
			 const float *inp, const float *weight,
			 const struct conv2d_dims *d)
{
	const int oh = conv2d_out_h(d), ow = conv2d_out_w(d), k = d->k;
#define DOUT(n_, o_, y_, x_) dout[((size_t)((n_) * d->oc + (o_)) * oh + (y_)) * ow + (x_)]
#define INP(n_, c_, y_, x_) inp[((size_t)((n_) * d->c + (c_)) * d->h + (y_)) * d->w + (x_)]
	if (dbias)
		for (int o = 0; o < d->oc; o++) {
			double s = 0;
			for (int n = 0; n < d->n; n++)
				for (int oy = 0; oy < oh; oy++)
					for (int ox = 0; ox < ow; ox++)
						s += DOUT(n, o, oy, ox);
			dbias[o] += (float)s;
		}
	if (dweight)
		for (int o = 0; o < d->oc; o++)
			for (int ci = 0; ci < d->c; ci++)
				for (int i = 0; i < k; i++)
					for (int j = 0; j < k; j++) {
						double s = 0;
						for (int n = 0; n < d->n; n++)
							for (int oy = 0; oy < oh; oy++)
								for (int ox = 0; ox < ow; ox++) {
									int iy = oy * d->stride - d->pad + i;
									int ix = ox * d->stride - d->pad + j;
									if (iy >= 0 && iy < d->h && ix >= 0 &&
									    ix < d->w)
										s += (double)DOUT(n, o, oy, ox) *
										     INP(n, ci, iy, ix);
								}
						dweight[((o * d->c + ci) * k + i) * k + j] += (float)s;
					}
	/* Gather form: input pixel (iy, ix) feeds output (oy, ox) through tap
	 * (i, j) when oy*stride - pad + i == iy (and the same for x). */
	if (dinp)
		for (int n = 0; n < d->n; n++)
			for (int ci = 0; ci < d->c; ci++)
				for (int iy = 0; iy < d->h; iy++)
					for (int ix = 0; ix < d->w; ix++) {
						double s = 0;
						for (int o = 0; o < d->oc; o++)
							for (int i = 0; i < k; i++)
								for (int j = 0; j < k; j++) {
									int ty = iy + d->pad - i, tx = ix + d->pad - j;
									if (ty < 0 || tx < 0 || ty % d->stride ||
									    tx % d->stride)
										continue;
									int oy = ty / d->stride, ox = tx / d->stride;
									if (oy >= oh || ox >= ow)
										continue;
									s += (double)weight[((o * d->c + ci) * k + i) * k + j] *
									     DOUT(n, o, oy, ox);
								}
						dinp[((size_t)(n * d->c + ci) * d->h + iy) * d->w + ix] += (float)s;
					}
#undef DOUT
#undef INP
}

void batchnorm_forward_ref(float *out, float *mean, float *invstd, float *running_mean,
			   float *running_var, const float *inp, const float *gamma,
			   const float *beta, int N, int C, int HW, float eps,
			   float momentum)
{
	const double M = (double)N * HW;
	for (int c = 0; c < C; c++) {
		double s = 0, v = 0;
		for (int n = 0; n < N; n++)
			for (int t = 0; t < HW; t++)
				s += inp[((size_t)n * C + c) * HW + t];
		double mu = s / M;
		for (int n = 0; n < N; n++)
			for (int t = 0; t < HW; t++) {
				double dd = inp[((size_t)n * C + c) * HW + t] - mu;
				v += dd * dd;
			}
		v /= M;
		double is = 1.0 / sqrt(v + eps);
		for (int n = 0; n < N; n++)
			for (int t = 0; t < HW; t++) {
				size_t e = ((size_t)n * C + c) * HW + t;
				out[e] = (float)((inp[e] - mu) * is * (gamma ? gamma[c] : 1.0) +
						 (beta ? beta[c] : 0.0));
			}
		mean[c] = (float)mu;
		invstd[c] = (float)is;
		if (running_mean && running_var) {
			running_mean[c] = (float)((1.0 - momentum) * running_mean[c] + momentum * mu);
			running_var[c] = (float)((1.0 - momentum) * running_var[c] +
						 momentum * (M > 1 ? v * M / (M - 1) : v));
		}
	}
}

void batchnorm_backward_ref(float *dinp, float *dgamma, float *dbeta, const float *dout,
			    const float *inp, const float *gamma, const float *mean,
			    const float *invstd, int N, int C, int HW)
{
	const double M = (double)N * HW;
	for (int c = 0; c < C; c++) {
		const double mu = mean[c], is = invstd[c], g = gamma ? gamma[c] : 1.0;
		double dvar = 0, dmu = 0, sdev = 0, dg = 0, db = 0;
		for (int n = 0; n < N; n++)
			for (int t = 0; t < HW; t++) {
				size_t e = ((size_t)n * C + c) * HW + t;
				double xmu = inp[e] - mu, dxhat = dout[e] * g;
				dvar += dxhat * xmu;
				dmu += -dxhat * is;
				sdev += -2.0 * xmu;
				dg += dout[e] * xmu * is;
				db += dout[e];
			}
		/* var = mean((x-mu)^2); xhat = (x-mu) (var+eps)^-1/2 */
		dvar *= -0.5 * is * is * is;
		dmu += dvar * sdev / M;
		if (dinp)
			for (int n = 0; n < N; n++)
				for (int t = 0; t < HW; t++) {
					size_t e = ((size_t)n * C + c) * HW + t;
					double xmu = inp[e] - mu;
					dinp[e] += (float)(dout[e] * g * is + dvar * 2.0 * xmu / M +
							   dmu / M);
				}
		if (dgamma)
			dgamma[c] += (float)dg;
		if (dbeta)
			dbeta[c] += (float)db;
	}
}

void prelu_forward_ref(float *out, const float *inp, const float *alpha, int N, int C,
		       int HW)
{
	for (size_t e = 0; e < (size_t)N * C * HW; e++) {
		int c = (int)(e / HW % C);
		out[e] = inp[e] > 0 ? inp[e] : (float)((double)alpha[c] * inp[e]);
	}
}

void prelu_backward_ref(float *dinp, float *dalpha, const float *dout, const float *inp,
			const float *alpha, int N, int C, int HW)
{
	for (int c = 0; c < C; c++) {
		double s = 0;
		for (int n = 0; n < N; n++)
			for (int t = 0; t < HW; t++) {
				size_t e = ((size_t)n * C + c) * HW + t;
				if (dinp)
					dinp[e] += inp[e] > 0 ? dout[e] : alpha[c] * dout[e];
				if (!(inp[e] > 0))
					s += (double)dout[e] * inp[e];
			}
		if (dalpha)
			dalpha[c] += (float)s;
	}
}

/* The index of the window's maximum, testing every tap against the bounds. */
static int32_t window_argmax(const float *x, int H, int W, int oy, int ox, int k,
			     int stride, int pad)
{
	int32_t bi = -1;
	float best = -INFINITY;
	for (int i = 0; i < k; i++)
		for (int j = 0; j < k; j++) {
			int iy = oy * stride - pad + i, ix = ox * stride - pad + j;
			if (iy < 0 || iy >= H || ix < 0 || ix >= W)
				continue;
			float v = x[iy * W + ix];
			if (bi < 0)	/* PyTorch starts from the first tap and -inf */
				bi = iy * W + ix;
			if (v > best || isnan(v)) {
				best = v;
				bi = iy * W + ix;
			}
		}
	return bi;
}

void maxpool_forward_ref(float *out, int32_t *argmax, const float *inp, int N, int C,
			 int H, int W, int k, int stride, int pad)
{
	const int oh = nn_out_size(H, k, stride, pad), ow = nn_out_size(W, k, stride, pad);
	for (size_t pl = 0; pl < (size_t)N * C; pl++)
		for (int oy = 0; oy < oh; oy++)
			for (int ox = 0; ox < ow; ox++) {
				const float *x = inp + pl * H * W;
				int32_t bi = window_argmax(x, H, W, oy, ox, k, stride, pad);
				out[(pl * oh + oy) * ow + ox] = x[bi];
				argmax[(pl * oh + oy) * ow + ox] = bi;
			}
}

void maxpool_backward_ref(float *dinp, const float *dout, const float *inp, int N, int C,
			  int H, int W, int k, int stride, int pad)
{
	const int oh = nn_out_size(H, k, stride, pad), ow = nn_out_size(W, k, stride, pad);
	for (size_t pl = 0; pl < (size_t)N * C; pl++)
		for (int oy = 0; oy < oh; oy++)
			for (int ox = 0; ox < ow; ox++) {
				int32_t bi = window_argmax(inp + pl * H * W, H, W, oy, ox, k, stride,
							   pad);
				dinp[pl * H * W + bi] += dout[(pl * oh + oy) * ow + ox];
			}
}

void linear_forward_ref(float *out, const float *inp, const float *weight,
			const float *bias, int N, int IC, int OC)
{
	for (int n = 0; n < N; n++)
		for (int o = 0; o < OC; o++) {
			double s = bias ? bias[o] : 0.0;
			for (int i = 0; i < IC; i++)
				s += (double)inp[(size_t)n * IC + i] * weight[(size_t)o * IC + i];
			out[(size_t)n * OC + o] = (float)s;
		}
}

void linear_backward_ref(float *dinp, float *dweight, float *dbias, const float *dout,
			 const float *inp, const float *weight, int N, int IC, int OC)
{
	if (dinp)
		for (int n = 0; n < N; n++)
			for (int i = 0; i < IC; i++) {
				double s = 0;
				for (int o = 0; o < OC; o++)
					s += (double)dout[(size_t)n * OC + o] * weight[(size_t)o * IC + i];
				dinp[(size_t)n * IC + i] += (float)s;
			}
	if (dweight)
		for (int o = 0; o < OC; o++)
			for (int i = 0; i < IC; i++) {
				double s = 0;
				for (int n = 0; n < N; n++)
					s += (double)dout[(size_t)n * OC + o] * inp[(size_t)n * IC + i];
				dweight[(size_t)o * IC + i] += (float)s;
			}
	if (dbias)
		for (int o = 0; o < OC; o++) {
			double s = 0;
			for (int n = 0; n < N; n++)
				s += dout[(size_t)n * OC + o];
			dbias[o] += (float)s;
		}
}
