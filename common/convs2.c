/*
 * convs2.c: the forward of a 3x3 stride-2 pad-1 convolution (IR-18's
 * downsampling conv3x3) by input phase, through wgemm's kernel, no im2col
 * matrix stored.
 *
 * Output pixel (oy, ox) reads input pixel (2 oy - 1 + i, 2 ox - 1 + j),
 * tap (i, j).  The zero-padded input's four phases (2a + r, 2b + s), r, s
 * in {0, 1}, are copied once per band of rows (split_phases(): a pass over
 * the input rows, unit-stride vector shuffles); im2col's row (ci, i, j) is
 * then phase (i % 2, j % 2) of channel ci shifted by (i / 2, j / 2): whole
 * runs of a pixel row, which x_panel() copies into each panel of 48
 * columns that wgemm's kernel reads (wgemm_panels()).  im2col wrote a [9c
 * x pixels] matrix with stride-2 reads and OpenBLAS copied it again into
 * its own panels; the sums are the same, in the same order (the same
 * bytes on the SkylakeX core, where wgemm's blocks of k are OpenBLAS's).
 * One image's band is split further so that its phases stay in the L2
 * cache (SUB_BYTES).  nn.c calls it on bands of one image only (the
 * 112x112 and 56x56 inputs): on groups of images (the 28x28 and 14x14
 * inputs, 6 and 16 images at batch 64) it measured 0.93-1.07x, their
 * phases (5.5 and 8.4 MiB) outgrowing the cache, and smaller groups would
 * waste more of the kernel's last panel.
 *
 * The input gradient by phase (one product per input phase, [c x T*oc] .
 * [T*oc x pixels], T = 1, 2, 2, 4 taps, straight into dinp without
 * col2im) was tried and dropped: 0.98-1.05x (see the commit that removed
 * it); the writes of dinp, not col2im's sums, dominate it.
 *
 * Each product is one call on one thread over a tile that nn.c chose
 * independently of the thread count: the same bytes for any.  Without
 * wgemm's kernel (a clang build, a CPU without AVX2) these layers stay on
 * im2col.
 */
#include "convs2.h"
#include "clones.h"
#include "wgemm.h"

#include <string.h>

#define PRAGMA(x) _Pragma(#x)
#ifdef _OPENMP
#define SIMD PRAGMA(omp simd)
#else
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

/* A tile of the forward: images [0, gn), output rows [a0, a1), their
 * input phases at src (split_phases()). */
struct tile {
	const float *src;
	const struct conv2d_dims *d;
	int gn, a0, a1;
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
		struct tile t = { work, d, gn, a, b };
		if (!wgemm_panels(d->oc, gn * (b - a) * ow, ckk, weight, ckk, x_panel, &t,
				  c + (size_t)(a - oy0) * ow, (int)ldc))
			return 0;
	}
	return 1;
}
