/*
 * Winograd F(2x2, 3x3) and F(4x4, 3x3) (common/winograd.c), each forced
 * (wino_set_tile()) and as chosen, against the double-precision
 * twins conv2d_forward_ref()/conv2d_backward_ref(): forward (with and
 * without bias), dinp and dweight accumulated into non-zero buffers, on odd
 * and even sizes, outputs smaller than one tile, n 1 and 3, several chunks
 * of tile rows; that conv2d_*() take the path, and leave it after
 * conv2d_set_winograd(0); that the forced im2col path gives the same
 * within the bound; that only 3x3 stride-1 pad-1 shapes with 16 or more
 * channels take it; that the workspace stays bounded and does not grow
 * with the batch; that results are the same bytes twice, and with one
 * thread as with two; that the set pass (conv2d_backward_set()) gives the
 * bytes of a cleared dinp and the adding pass.
 *
 * The bound: max |got - ref| / max |ref| <= 1e-5 (norm-wise) for F(2x2).
 * Each output sums c*9 products of uniform [-1, 1) values; float32
 * rounding of the transforms (coefficients 0, +-1, +-1/2, at most 9 terms
 * each) and of the 16 sgemms (c terms) gives errors of a few 2^-24 times
 * the largest intermediate, which is within a small factor of max |ref|:
 * measured 1e-7 to 1e-6 here (winograd.c, "Error bound").  F(4x4)'s
 * transforms have coefficients up to 8 (A^T) and 5 (B^T) and its
 * intermediates are that much larger than the result: measured 3e-6 to
 * 1.7e-5 on IR-18's layers (bench/winoerr.c), hence 5e-5 for the passes
 * that take it.  A wrong coefficient or a misplaced tile gives errors of
 * order 1, far above either bound.
 */
#include "tap.h"
#include "floats.h"
#include "blas.h"
#include "nn.h"
#include "rng.h"
#include "err.h"
#include "winograd.h"

static struct rng R;

static float *rnd(size_t n, float lo, float hi)
{
	return rand_floats(&R, n, lo, hi);
}

#define TOL2 1e-5
#define TOL4 5e-5
static double worst[2];	/* the largest error seen by F(2x2), F(4x4) */

#define is_close(m, got, want, n, ...)                                       \
	do {                                                                 \
		const double tol_ = (m) == 4 ? TOL4 : TOL2;                  \
		double e_ = rel_err((got), (want), (n));                     \
		if (e_ > worst[(m) == 4])                                    \
			worst[(m) == 4] = e_;                                \
		if (!ok(e_ <= tol_, __VA_ARGS__))                            \
			diag("  relative error %.3g > %g", e_, tol_);        \
	} while (0)

/* One shape: the Winograd path (tile m forced, or 0: the automatic
 * choice) against the references and the im2col path. */
static void check_m(int m, int n, int c, int oc, int h, int w, int with_bias)
{
	const struct conv2d_dims d = { n, c, h, w, oc, 3, 1, 1 };
	const size_t ni = (size_t)n * c * h * w, no = (size_t)n * oc * h * w;
	const size_t nw = (size_t)oc * c * 9, nwork = conv2d_workspace(&d);
	float *x = rnd(ni, -1, 1), *wt = rnd(nw, -1, 1);
	float *b = with_bias ? rnd(oc, -1, 1) : NULL;
	float *dy = rnd(no, -1, 1), *y = rnd(no, -9, 9), *yr = rnd(no, -9, 9), *yi = rnd(no, 0, 0);
	float *work = rnd(nwork, -9, 9);	/* garbage: must not leak into results */
	float *dx = rnd(ni, -1, 1), *dw = rnd(nw, -1, 1);	/* backward must add */
	float *dxr = copyf(dx, ni), *dwr = copyf(dw, nw), *dxi = copyf(dx, ni), *dwi = copyf(dw, nw);
	char what[96];

	wino_set_tile(m);
	const int mf = wino_tile(&d, 0), mb = wino_tile(&d, 1);
	snprintf(what, sizeof what, "F(%d|%d) n%d c%d oc%d %dx%d%s", mf, mb, n, c, oc, h, w,
		 with_bias ? " bias" : "");
	ok(conv2d_uses_winograd(&d) && nwork >= wino_workspace(&d) && (!m || (mf == m && mb == m)),
	   "%s: conv2d takes the Winograd path, F(%d) if forced", what, m);

	conv2d_forward(y, work, x, wt, b, &d);
	conv2d_forward_ref(yr, x, wt, b, &d);
	is_close(mf, y, yr, no, "%s: forward matches the reference", what);
	conv2d_backward(dx, dw, NULL, work, dy, x, wt, &d);
	conv2d_backward_ref(dxr, dwr, NULL, dy, x, wt, &d);
	is_close(mb, dx, dxr, ni, "%s: dinp matches the reference (accumulated)", what);
	is_close(mb, dw, dwr, nw, "%s: dweight matches the reference (accumulated)", what);

	/* the same bytes a second time (dinp and dweight alone, too) */
	{
		float *y2 = rnd(no, 0, 0), *dx2 = rnd(ni, 0, 0), *dw2 = rnd(nw, 0, 0);
		float *dx3 = rnd(ni, 0, 0), *dw3 = rnd(nw, 0, 0);
		float *dw1 = rnd(nw, 0, 0), *dx1 = rnd(ni, 0, 0);
		conv2d_forward(y2, work, x, wt, b, &d);
		conv2d_backward(dx2, dw2, NULL, work, dy, x, wt, &d);
		conv2d_backward(dx3, dw3, NULL, work, dy, x, wt, &d);
		conv2d_backward(NULL, dw1, NULL, work, dy, x, wt, &d);
		conv2d_backward(dx1, NULL, NULL, work, dy, x, wt, &d);
		ok(!memcmp(y, y2, no * sizeof *y) && !memcmp(dx2, dx3, ni * sizeof *dx2) &&
		   !memcmp(dw2, dw3, nw * sizeof *dw2) && !memcmp(dw1, dw2, nw * sizeof *dw2) &&
		   !memcmp(dx1, dx2, ni * sizeof *dx2),
		   "%s: the same bytes twice, and with dinp or dweight NULL", what);
		free(y2), free(dx2), free(dw2), free(dx3), free(dw3), free(dw1), free(dx1);
	}

	/* conv2d_backward_set: the bytes of a cleared dinp plus the adding
	 * pass, without reading dinp (NaN); dweight still adds.  Half of dy
	 * zero: sums of signed zeros, whose sign only 0 + x keeps right. */
	{
		float *dyz = copyf(dy, no), *dx0 = rnd(ni, 0, 0), *dxs = nan_floats(ni);
		float *dw0 = copyf(dwi, nw), *dws = copyf(dwi, nw);
		memset(dyz, 0, no / 2 * sizeof *dyz);
		conv2d_backward(dx0, dw0, NULL, work, dyz, x, wt, &d);
		conv2d_backward_set(dxs, dws, NULL, work, dyz, x, wt, &d);
		ok(!memcmp(dx0, dxs, ni * sizeof *dx0) && !memcmp(dw0, dws, nw * sizeof *dw0),
		   "%s: backward_set sets dinp (the bytes of clear and add), adds dweight", what);
		free(dyz), free(dx0), free(dxs), free(dw0), free(dws);
	}

#ifdef _OPENMP
	/* one thread computes the same bytes as two (every sum is one
	 * thread's, in a fixed order; see winograd.c "The threads").  Without
	 * OpenMP (make OPENMP=0) OpenBLAS splits the sgemms, whose bytes then
	 * depend on its thread count. */
	{
		float *y1 = rnd(no, 0, 0), *dx1 = copyf(dxi, ni), *dw1 = copyf(dwi, nw);
		float *dx2 = copyf(dxi, ni), *dw2 = copyf(dwi, nw);
		conv2d_backward(dx2, dw2, NULL, work, dy, x, wt, &d);
		blas_set_threads(1);
		conv2d_forward(y1, work, x, wt, b, &d);
		conv2d_backward(dx1, dw1, NULL, work, dy, x, wt, &d);
		blas_set_threads(2);
		ok(!memcmp(y, y1, no * sizeof *y) && !memcmp(dx1, dx2, ni * sizeof *dx1) &&
		   !memcmp(dw1, dw2, nw * sizeof *dw1),
		   "%s: one thread gives the bytes two threads give", what);
		free(y1), free(dx1), free(dw1), free(dx2), free(dw2);
	}
#endif

	/* the PReLU fused into the output transform: the bytes of the
	 * separate pass; the weights transformed once for inference
	 * (wino_weights(), whose tile may be larger: its bound), within the
	 * bound of the reference, and the forward's bytes when its tile is
	 * the forward's */
	{
		float *al = rnd(oc, -0.5, 1.5), *ya = rnd(no, -9, 9), *yp = copyf(y, no);
		float *yu = rnd(no, -9, 9), *U = rnd(wino_weights_size(&d), -9, 9);
		channel_affine_prelu(yp, yp, NULL, NULL, al, n, oc, h * w);
		conv2d_forward_act(ya, work, x, wt, b, al, &d);
		ok(!memcmp(ya, yp, no * sizeof *ya), "%s: the fused PReLU gives the pass's bytes",
		   what);
		const int mi = wino_weights(U, wt, &d);
		ok(mi == (m ? m : h >= 7 && w >= 7 ? 4 : 2),
		   "%s: inference takes F(%d) (F(4x4) from 7x7 up)", what, mi);
		wino_forward_pre(yu, work, x, U, mi, b, NULL, &d);
		is_close(mi, yu, yr, no, "%s: inference forward F(%d) matches the reference",
			 what, mi);
		if (mi == mf)
			ok(!memcmp(yu, y, no * sizeof *y), "%s: transformed once, the same bytes",
			   what);
		channel_affine_prelu(yu, yu, NULL, NULL, al, n, oc, h * w);
		wino_forward_pre(ya, work, x, U, mi, b, al, &d);
		ok(!memcmp(ya, yu, no * sizeof *ya), "%s: inference with the PReLU fused, bytes",
		   what);
		free(al), free(ya), free(yp), free(yu), free(U);
	}

	/* the forced im2col path agrees within the bound */
	conv2d_set_winograd(0);
	ok(!conv2d_uses_winograd(&d), "%s: conv2d_set_winograd(0) leaves the path", what);
	conv2d_forward(yi, work, x, wt, b, &d);
	conv2d_backward(dxi, dwi, NULL, work, dy, x, wt, &d);
	conv2d_set_winograd(1);
	is_close(mf, y, yi, no, "%s: forward matches im2col", what);
	is_close(mb, dx, dxi, ni, "%s: dinp matches im2col", what);
	is_close(mb, dw, dwi, nw, "%s: dweight matches im2col", what);

	free(x), free(wt), free(b), free(dy), free(y), free(yr), free(yi), free(work);
	free(dx), free(dw), free(dxr), free(dwr), free(dxi), free(dwi);
	wino_set_tile(0);
}

static void check(int n, int c, int oc, int h, int w, int with_bias)
{
	check_m(0, n, c, oc, h, w, with_bias);
}

int main(void)
{
	static const int hw[][2] = { { 1, 1 }, { 2, 3 }, { 7, 7 }, { 8, 8 }, { 13, 11 } };
	static const int ch[][2] = { { 16, 16 }, { 16, 64 }, { 64, 16 } };

	blas_set_threads(2);	/* the parallel path, on any machine */
	rng_seed(&R, 7);
	for (size_t i = 0; i < sizeof hw / sizeof hw[0]; i++)
		for (size_t j = 0; j < sizeof ch / sizeof ch[0]; j++)
			check(i % 2 ? 3 : 1, ch[j][0], ch[j][1], hw[i][0], hw[i][1], (int)(i + j) % 2);
	check(3, 16, 16, 1, 1, 1);
	check(1, 64, 64, 13, 11, 0);
	check(2, 16, 16, 56, 56, 1);	/* several chunks of tile rows */
	check(1, 64, 64, 56, 56, 0);
	check(1, 32, 16, 29, 30, 1);	/* inference takes F(4x4) */
	check(1, 128, 128, 14, 14, 1);	/* IR-18 widths */
	check(3, 256, 256, 7, 7, 0);
	check(1, 512, 512, 7, 7, 1);	/* the backward's two sweeps */
	/* each tile size forced: partial tiles at every w % 4, h % 4 */
	static const int hw4[][2] = { { 1, 1 }, { 2, 3 }, { 5, 6 }, { 7, 7 }, { 8, 8 }, { 13, 11 } };
	for (size_t i = 0; i < sizeof hw4 / sizeof hw4[0]; i++) {
		check_m(4, i % 2 ? 1 : 2, 16, 32, hw4[i][0], hw4[i][1], (int)i % 2);
		check_m(2, i % 2 ? 1 : 2, 32, 16, hw4[i][0], hw4[i][1], (int)i % 2 == 0);
	}
	check_m(4, 1, 64, 64, 56, 56, 1);	/* several chunks of tile rows */
	check_m(2, 1, 64, 64, 56, 56, 0);
	check_m(4, 2, 256, 256, 14, 14, 0);
	diag("largest relative error F(2x2) %.3g, F(4x4) %.3g", worst[0], worst[1]);

	/* the rule: only 3x3 stride 1 pad 1, 16 or more channels each way */
	{
		const struct conv2d_dims no[] = {
			{ 1, 15, 8, 8, 16, 3, 1, 1 }, { 1, 16, 8, 8, 15, 3, 1, 1 },
			{ 1, 16, 8, 8, 16, 3, 2, 1 }, { 1, 16, 8, 8, 16, 3, 1, 0 },
			{ 1, 16, 8, 8, 16, 1, 1, 0 }, { 1, 3, 112, 112, 64, 3, 1, 1 },
		};
		int none = 1;
		for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
			none &= !conv2d_uses_winograd(&no[i]) && !wino_applies(&no[i]);
		ok(none, "Winograd only for 3x3 s1 p1 with c, oc >= 16");
	}
	/* IR-18's Winograd layers: applied, workspace bounded and batch-free */
	{
		static const int ir18[][3] = {	/* c, h, oc */
			{ 64, 112, 64 }, { 64, 56, 64 }, { 64, 56, 128 }, { 128, 28, 128 },
			{ 128, 28, 256 }, { 256, 14, 256 }, { 256, 14, 512 }, { 512, 7, 512 },
		};
		int all = 1;
		for (size_t i = 0; i < sizeof ir18 / sizeof ir18[0]; i++) {
			struct conv2d_dims a = { 1, ir18[i][0], ir18[i][1], ir18[i][1], ir18[i][2], 3, 1, 1 };
			struct conv2d_dims b = a;
			b.n = 64;
			all &= conv2d_uses_winograd(&b) && conv2d_workspace(&a) == conv2d_workspace(&b) &&
			       conv2d_workspace(&b) <= (size_t)12 << 20;
		}
		ok(all, "IR-18's 3x3 s1 layers use Winograd, workspace <= 12 Mi floats, batch-free");
		/* forward: F(4x4) at 56x56 and up; backward: everywhere, the
		 * 512x512 layer at 7x7 in two sweeps (its U^T and dU side by side
		 * would outgrow the workspace); winograd.c "Which tile" */
		int four = 1;
		for (size_t i = 0; i < sizeof ir18 / sizeof ir18[0]; i++) {
			struct conv2d_dims a = { 64, ir18[i][0], ir18[i][1], ir18[i][1], ir18[i][2], 3, 1, 1 };
			four &= wino_tile(&a, 0) == (ir18[i][1] >= 56 ? 4 : 2) &&
				wino_tile(&a, 1) == 4;
		}
		ok(four, "IR-18: F(4x4) forward from 56x56 (else F(2x2)), backward everywhere");
	}
	return done_testing();
}
