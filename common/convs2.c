/*
 * convs2.c: 3x3 stride-2 pad-1 convolutions (IR-18's downsampling
 * conv3x3) by input phase ("polyphase"): the forward and the input
 * gradient through wgemm's kernel, its panels copied from the input's
 * (dy's) phases, no im2col matrix stored, no col2im.  dweight stays on
 * nn.c's im2col path.
 *
 * Output pixel (oy, ox) reads input pixel (2 oy - 1 + i, 2 ox - 1 + j),
 * tap (i, j).
 *
 * Forward: the zero-padded input's four phases (2a + r, 2b + s), r, s in
 * {0, 1}, copied once per band (split_phases(): a pass over the input
 * rows, unit-stride vector shuffles); im2col's row (ci, i, j) is then
 * phase (i % 2, j % 2) of channel ci shifted by (i / 2, j / 2): whole
 * runs of a pixel row, which x_panel() copies into each panel of 48
 * columns that wgemm's kernel reads.  im2col wrote a [9c x pixels] matrix
 * with stride-2 reads and OpenBLAS copied it again into its own panels;
 * the sums are the same, in the same order (the same bytes on the
 * SkylakeX core, where wgemm's blocks of k are OpenBLAS's).
 *
 * Input gradient: an input row of parity p = 0 (2a) is reached by tap row
 * i = 1 from output row a only; of parity 1 (2a + 1), by i = 0 from output
 * row a + 1 and by i = 2 from row a; columns likewise.  So the input
 * pixels of phase (p, q), the grid (2a + p, 2b + q), receive 1, 2, 2 or 4
 * of the nine taps, each from dy shifted by 0 or 1 pixel:
 *
 *   dinp[ci][2a+p][2b+q] = sum over the phase's taps t, o of
 *                          W[o][ci][i_t][j_t] dy[o][a + di_t][b + dj_t]
 *
 * one product [c x T*oc] . [T*oc x pixels] per phase, its panels copied
 * from dy padded with a zero row and column (pad_dy(): shifts without
 * bounds), the weights rearranged once per call; the two column phases'
 * results are interleaved straight into dinp's rows.  Each input pixel
 * belongs to one phase, so dinp is written once, set or added: no
 * clearing, and no col2im pass over a [9c x pixels] matrix (the im2col
 * path's dinp product has K = oc, 64 for IR-18's first such layer; here
 * K = T*oc, up to 4 oc).  The phase grid is oh x ow (oh = ceil(h/2)); with
 * an odd h, the last row of phase p = 1 lies outside the input and is
 * computed but not stored.
 *
 * Every product is one wgemm_panels() call on one thread, over tiles
 * that do not depend on the thread count: the same bytes for any.
 * Without wgemm's kernel (a clang build, a CPU without AVX2) these
 * layers stay on the im2col path.
 */
#include "convs2.h"
#include "blas.h"
#include "clones.h"
#include "wgemm.h"

#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#define PRAGMA(x) _Pragma(#x)
#ifdef _OPENMP
#define FOR_STATIC PRAGMA(omp for schedule(static))
#define FOR_DYNAMIC PRAGMA(omp for schedule(dynamic))
#define SIMD PRAGMA(omp simd)
#else
#define FOR_STATIC
#define FOR_DYNAMIC
#define SIMD
#endif

static int on = 1;

/* Bytes of an image's input phases that the forward copies at a time (a
 * part of the L2 cache). */
#ifndef SUB_BYTES
#define SUB_BYTES (512 << 10)
#endif

void convs2_set(int v)
{
	on = v != 0;
}

/* Taps of row (or column) parity p: tap index i and the shift of dy. */
static const int tap_n[2] = { 1, 2 };
static const int tap_i[2][2] = { { 1, 0 }, { 0, 2 } };
static const int tap_d[2][2] = { { 0, 0 }, { 1, 0 } };

/* Floats of a thread's matrices for one image's band of `rows` output
 * rows: the products of the two column phases, then dy's rows padded with
 * a row and a column of zeros (pad_dy()). */
static size_t tile_floats(const struct conv2d_dims *d, int rows)
{
	const size_t ow = (size_t)conv2d_out_w(d);
	return 2 * (size_t)d->c * rows * ow + (size_t)d->oc * (rows + 1) * (ow + 1);
}

static size_t weight_floats(const struct conv2d_dims *d)
{
	return 9 * (size_t)d->c * d->oc;
}

int convs2_applies(const struct conv2d_dims *d, size_t slot, int band)
{
	return on && d->k == 3 && d->stride == 2 && d->pad == 1 && wgemm_kind() != WGEMM_BLAS &&
	       tile_floats(d, band) + weight_floats(d) <= slot;
}

/* Images of a tile: as many bands of `rows` as fit the slot beside the
 * weights (at least one: convs2_applies()). */
static int tile_images(const struct conv2d_dims *d, size_t slot, int rows)
{
	const size_t fit = (slot - weight_floats(d)) / tile_floats(d, rows);
	return fit > 1 ? (int)(fit < 1 << 20 ? fit : 1 << 20) : 1;
}

/* Phase (p, q)'s weights: [c][T*oc] at this offset in the rearranged
 * block (phases (0,0), (0,1), (1,0), (1,1): 1, 2, 2, 4 taps). */
static size_t phase_offset(const struct conv2d_dims *d, int p, int q)
{
	static const int before[2][2] = { { 0, 1 }, { 3, 5 } };
	return (size_t)before[p][q] * d->c * d->oc;
}

/* Row ci of every phase's weights: A_pq[ci][t*oc + o] = W[o][ci][i_t][j_t],
 * taps t in (row tap, column tap) order. */
static void rearrange_row(float *a, const float *weight, const struct conv2d_dims *d, int ci)
{
	const int c = d->c, oc = d->oc;

	for (int p = 0; p < 2; p++)
		for (int q = 0; q < 2; q++) {
			const int taps = tap_n[p] * tap_n[q];
			float *row = a + phase_offset(d, p, q) + (size_t)ci * taps * oc;
			for (int u = 0; u < tap_n[p]; u++)
				for (int v = 0; v < tap_n[q]; v++, row += oc) {
					const int ij = tap_i[p][u] * 3 + tap_i[q][v];
					for (int o = 0; o < oc; o++)
						row[o] = weight[((size_t)o * c + ci) * 9 + ij];
				}
		}
}

/* A tile of a product: images [0, gn) from `src` (planes of ohw floats,
 * `planes` a image), output (phase) rows [a0, a1), ow pixels each. */
struct tile {
	const float *src;
	const struct conv2d_dims *d;
	int p, q;		/* dinp: the phase */
	int planes, gn, a0, a1;
};

/* A run of a panel's columns along one pixel row: columns [pos, pos +
 * len) are pixels b .. b + len of row a of image img. */
struct run {
	int pos, len, img, a, b;
};

/* The runs of columns [j0, j0 + nr) of a tile (column j: image j / per,
 * row a0 + j % per / ow, pixel j % ow); returns their count. */
static int runs_of(struct run *run, const struct tile *t, int j0, int nr)
{
	const int ow = conv2d_out_w(t->d), per = (t->a1 - t->a0) * ow;
	int n = 0;

	for (int j = j0; j < j0 + nr; n++) {
		const int b = j % ow, len = ow - b < j0 + nr - j ? ow - b : j0 + nr - j;
		run[n] = (struct run){ j - j0, len, j / per, t->a0 + j % per / ow, b };
		j += len;
	}
	return n;
}

/*
 * dinp's matrix for phase (p, q), rows [p0, p0 + kb), columns [j0, j0 +
 * nr), into bp (rows ld apart, zeros past nr): row (tap, o) is dy[o]
 * shifted by the tap's (di, dj), zero past dy's last row and column.
 */
static void dy_panel(void *ctx, int p0, int kb, int j0, int nr, float *bp, int ld)
{
	const struct tile *t = ctx;
	const int pw = conv2d_out_w(t->d) + 1, nq = tap_n[t->q], oc = t->d->oc;
	const size_t plane = (size_t)(t->a1 - t->a0 + 1) * pw;
	struct run run[64];
	const int nrun = runs_of(run, t, j0, nr);

	for (int r = p0; r < p0 + kb; r++, bp += ld) {
		const int tap = r / oc, o = r % oc;
		const int di = tap_d[t->p][tap / nq], dj = tap_d[t->q][tap % nq];
		const float *src = t->src + (size_t)o * plane + (size_t)di * pw + dj;
		for (int u = 0; u < nrun; u++) {
			const struct run *x = &run[u];
			memcpy(bp + x->pos,
			       src + (size_t)x->img * oc * plane + (size_t)(x->a - t->a0) * pw + x->b,
			       (size_t)x->len * sizeof *bp);
		}
		memset(bp + nr, 0, (size_t)(ld - nr) * sizeof *bp);
	}
}

/* dyp [gn][oc][a1 - a0 + 1][ow + 1] = dy's rows [a0, a1 + 1) of images
 * [0, gn), zeros past its last row and column: the phases' shifted reads
 * without bounds. */
static void pad_dy(float *dyp, const float *dy, const struct conv2d_dims *d, int gn, int a0,
		   int a1)
{
	const int oh = conv2d_out_h(d), ow = conv2d_out_w(d);
	const long planes = (long)gn * d->oc;

	for (long pl = 0; pl < planes; pl++) {
		const float *src = dy + pl * oh * ow;
		for (int a = a0; a <= a1; a++, dyp += ow + 1) {
			if (a < oh)
				memcpy(dyp, src + (size_t)a * ow, (size_t)ow * sizeof *dyp);
			else
				memset(dyp, 0, (size_t)ow * sizeof *dyp);
			dyp[ow] = 0;
		}
	}
}

/* dst[0..w) = (zip_add: +=) the two column phases interleaved: even
 * columns from e, odd from o; zip_set writes 0 + x, the bytes of a cleared
 * dinp added to (a -0 becomes +0). */
CLONES static void zip_set(float *restrict dst, const float *restrict e,
			   const float *restrict o, int w)
{
	const int n = w / 2;
	SIMD
	for (int x = 0; x < n; x++) {
		dst[2 * x] = 0.0f + e[x];
		dst[2 * x + 1] = 0.0f + o[x];
	}
	if (w & 1)
		dst[w - 1] = 0.0f + e[n];
}

CLONES static void zip_add(float *restrict dst, const float *restrict e,
			   const float *restrict o, int w)
{
	const int n = w / 2;
	SIMD
	for (int x = 0; x < n; x++) {
		dst[2 * x] += e[x];
		dst[2 * x + 1] += o[x];
	}
	if (w & 1)
		dst[w - 1] += e[n];
}

/* Images [n0, n0 + gn), phase rows [a0, a1): both row phases, each from
 * its two column phases' products. */
static void dinp_tile(float *dinp, int set, float *work, const float *wts, const float *dout,
		      const struct conv2d_dims *d, int n0, int gn, int a0, int a1)
{
	const int ow = conv2d_out_w(d), c = d->c, oc = d->oc;
	const size_t ohw = (size_t)conv2d_out_h(d) * ow, hw = (size_t)d->h * d->w;
	const size_t per = (size_t)(a1 - a0) * ow, cols = gn * per;
	float *cq[2] = { work, work + (size_t)c * cols }, *dyp = work + 2 * (size_t)c * cols;

	pad_dy(dyp, dout + (size_t)n0 * oc * ohw, d, gn, a0, a1);
	for (int p = 0; p < 2; p++) {
		for (int q = 0; q < 2; q++) {
			const int k = tap_n[p] * tap_n[q] * oc;
			struct tile t = { dyp, d, p, q, oc, gn, a0, a1 };
			wgemm_panels(c, (int)cols, k, wts + phase_offset(d, p, q), k, dy_panel, &t,
				     cq[q], (int)cols);
		}
		for (int t = 0; t < gn; t++)
			for (int ci = 0; ci < c; ci++) {
				float *plane = dinp + ((size_t)(n0 + t) * c + ci) * hw;
				const size_t off = ci * cols + t * per;
				for (int a = a0; a < a1 && 2 * a + p < d->h; a++) {
					float *row = plane + (size_t)(2 * a + p) * d->w;
					const size_t x = off + (size_t)(a - a0) * ow;
					(set ? zip_set : zip_add)(row, cq[0] + x, cq[1] + x, d->w);
				}
			}
	}
}

void convs2_dinp(float *dinp, int set, float *work, size_t slot, const float *dout,
		 const float *weight, const struct conv2d_dims *d, int ng, int band)
{
	const int oh = conv2d_out_h(d);
	const int nb = (oh + band - 1) / band;
	float *wts = work + CONV2D_TEAM_MAX * slot - weight_floats(d);
#ifdef _OPENMP
	float *w = work + slot * omp_get_thread_num();
#else
	float *w = work;
#endif
	const int gt = tile_images(d, slot, band);

	FOR_STATIC
	for (int ci = 0; ci < d->c; ci++)
		rearrange_row(wts, weight, d, ci);
	FOR_DYNAMIC
	for (int u = 0; u < ng; u++) {
		const int n0 = (int)((long)u * d->n / ng), n1 = (int)((long)(u + 1) * d->n / ng);
		for (int m = n0; m < n1; m += gt)
			for (int b = 0; b < nb; b++) {
				const int a0 = b * band, a1 = a0 + band < oh ? a0 + band : oh;
				dinp_tile(dinp, set, w, wts, dout, d, m, n1 - m < gt ? n1 - m : gt,
					  a0, a1);
			}
	}
}

/* Input row x [w] into its column phases, zero-padded to pw: e[b] = x[2b
 * - 1] (e[0] the padding), o[b] = x[2b]. */
CLONES static void unzip_row(float *restrict e, float *restrict o, const float *restrict x, int w,
			     int pw)
{
	const int n = w / 2;

	e[0] = 0;
	SIMD
	for (int b = 0; b < n; b++) {
		o[b] = x[2 * b];
		e[b + 1] = x[2 * b + 1];
	}
	for (int b = n + 1; b < pw; b++)
		e[b] = 0;
	for (int b = n; b < pw; b++)
		o[b] = b == n && (w & 1) ? x[w - 1] : 0;
}

/* The phases of input rows [2 oy0 - 1, 2 oy1] of images x [gn, c, h, w]:
 * xp [gn][c][4][rows + 1][ow + 1], phase (r, s) holding the zero-padded
 * input's (2a + r, 2b + s) for a in [oy0, oy1], b in [0, ow]: tap (i, j)
 * of output pixel (oy, ox) is phase (i % 2, j % 2)'s (oy + i/2, ox + j/2). */
static void split_phases(float *xp, const float *x, const struct conv2d_dims *d, int gn, int oy0,
			 int oy1)
{
	const int ow = conv2d_out_w(d), h = d->h, w = d->w, pw = ow + 1;
	const long planes = (long)gn * d->c;

	for (long pl = 0; pl < planes; pl++) {
		const float *src = x + (size_t)pl * h * w;
		for (int r = 0; r < 2; r++)
			for (int a = oy0; a <= oy1; a++) {
				const int iy = 2 * a + r - 1;
				float *e = xp + (r * 2 * (oy1 - oy0 + 1) + a - oy0) * (size_t)pw;
				float *o = e + (size_t)(oy1 - oy0 + 1) * pw;
				if (iy < 0 || iy >= h) {
					memset(e, 0, (size_t)pw * sizeof *e);
					memset(o, 0, (size_t)pw * sizeof *o);
					continue;
				}
				unzip_row(e, o, src + (size_t)iy * w, w, pw);
			}
		xp += 4 * (size_t)(oy1 - oy0 + 1) * pw;
	}
}

/* im2col's matrix, rows [p0, p0 + kb) (row (ci, i, j)), columns [j0, j0 +
 * nr), into bp (rows ld apart, zeros past nr), from the phases. */
static void x_panel(void *ctx, int p0, int kb, int j0, int nr, float *bp, int ld)
{
	const struct tile *t = ctx;
	const int pw = conv2d_out_w(t->d) + 1, rows = t->a1 - t->a0 + 1;
	const size_t phase = (size_t)rows * pw, chan = 4 * phase, img = chan * t->d->c;
	struct run run[64];
	const int nrun = runs_of(run, t, j0, nr);

	for (int r = p0; r < p0 + kb; r++, bp += ld) {
		const int ci = r / 9, i = r / 3 % 3, j = r % 3;
		const float *src = t->src + ci * chan + ((i & 1) * 2 + (j & 1)) * phase +
				   (size_t)(i / 2) * pw + j / 2;
		for (int u = 0; u < nrun; u++) {
			const struct run *x = &run[u];
			memcpy(bp + x->pos, src + x->img * img + (size_t)(x->a - t->a0) * pw + x->b,
			       (size_t)x->len * sizeof *bp);
		}
		memset(bp + nr, 0, (size_t)(ld - nr) * sizeof *bp);
	}
}

int convs2_forward(float *c, size_t ldc, float *work, size_t room, const float *x,
		   const float *weight, const struct conv2d_dims *d, int gn, int oy0, int oy1)
{
	const int ow = conv2d_out_w(d), ckk = 9 * d->c;
	const size_t need = (size_t)gn * d->c * 4 * (oy1 - oy0 + 1) * (ow + 1);

	if (!on || d->k != 3 || d->stride != 2 || d->pad != 1 || wgemm_kind() == WGEMM_BLAS ||
	    need > room)
		return 0;
	/* one image: bands of `sub` rows, whose phases stay in the cache */
	const int per_row = 4 * d->c * (ow + 1) * (int)sizeof(float);
	int sub = gn > 1 ? oy1 - oy0 : SUB_BYTES / per_row - 1;
	sub = sub < 1 ? 1 : sub;
	for (int a = oy0; a < oy1; a += sub) {
		const int b = a + sub < oy1 ? a + sub : oy1;
		split_phases(work, x, d, gn, a, b);
		struct tile t = { work, d, 0, 0, 0, gn, a, b };
		if (!wgemm_panels(d->oc, gn * (b - a) * ow, ckk, weight, ckk, x_panel, &t,
				  c + (size_t)(a - oy0) * ow, (int)ldc))
			return 0;
	}
	return 1;
}
