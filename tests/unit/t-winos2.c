/*
 * The stride-2 Winograd inference forward (common/winos2.c), each tile
 * (m 2 and 4) forced, against the double-precision twin
 * conv2d_forward_ref(): IR-18's four downsampling shapes at batch 1 and 2,
 * and narrower layers on odd and even inputs (a tile's outputs past the
 * edge, inputs past it read as zero), several chunks of tile rows; with
 * and without bias; the PReLU fused into the output transform (the bytes
 * of the separate pass); the same bytes twice and with one thread as with
 * two; garbage in the workspace and the output not leaking in; the rule
 * (3x3 stride 2 pad 1, 16 channels or more), the automatic tile (m 2, or
 * im2col where partial tiles waste over 1.15x: ir18's 7x7 outputs) and
 * the workspace bound.  (hm-embed's bytes for -j 1 and -j 2 and for any
 * -b: t0650-embed-records.sh; against PyTorch: tests/ref/embed_torch.py,
 * model_torch.py's folded eval.)
 *
 * The bound: max |got - ref| / max |ref| (norm-wise).  m 2's transforms
 * have coefficients 0 and +-1 only, as direct summation: errors of a few
 * 2^-24 of the largest intermediate, measured at most 8.8e-7 here, asserted
 * 1e-5 (winograd.c's F(2x2) bound).  m 4's F(4, 2) has coefficients up to
 * 8 (A^T) and 3 (B^T): measured at most 4.8e-6, asserted 5e-5 (F(4x4)'s
 * bound).  A wrong coefficient, point or tile offset gives errors of
 * order 1.
 */
#include "tap.h"
#include "floats.h"
#include "blas.h"
#include "nn.h"
#include "rng.h"
#include "winos2.h"

static struct rng R;

static float *rnd(size_t n, float lo, float hi)
{
	return rand_floats(&R, n, lo, hi);
}

#define TOL2 1e-5
#define TOL4 5e-5
static double worst[2];	/* the largest error seen for m 2, m 4 */

/* One shape with tile m forced: against the reference, with the PReLU,
 * twice, with one thread. */
static void check_m(int m, int n, int c, int oc, int h, int w, int with_bias)
{
	const struct conv2d_dims d = { n, c, h, w, oc, 3, 2, 1 };
	const int oh = conv2d_out_h(&d), ow = conv2d_out_w(&d);
	const size_t ni = (size_t)n * c * h * w, no = (size_t)n * oc * oh * ow;
	const size_t nw = (size_t)oc * c * 9, nwork = conv2d_workspace(&d);
	float *x = rnd(ni, -1, 1), *wt = rnd(nw, -1, 1), *b = with_bias ? rnd(oc, -1, 1) : NULL;
	float *work = rnd(nwork, -9, 9);	/* garbage: must not leak into results */
	float *y = rnd(no, -9, 9), *yr = rnd(no, 0, 0), *al = rnd(oc, -0.5, 1.5);
	char what[96];

	winos2_set_tile(m);
	float *U = rnd(winos2_weights_size(&d), -9, 9);
	const int mu = winos2_weights(U, wt, &d);
	snprintf(what, sizeof what, "m %d n%d c%d oc%d %dx%d%s", m, n, c, oc, h, w,
		 with_bias ? " bias" : "");
	ok(mu == m && conv2d_uses_winos2(&d) && nwork >= winos2_workspace(&d),
	   "%s: the path applies, takes the forced tile, workspace within conv2d's", what);

	winos2_forward_pre(y, work, x, U, mu, b, NULL, &d);
	conv2d_forward_ref(yr, x, wt, b, &d);
	const double e = rel_err(y, yr, no), tol = m == 4 ? TOL4 : TOL2;
	if (e > worst[m == 4])
		worst[m == 4] = e;
	if (!ok(e <= tol, "%s: matches the reference", what))
		diag("  relative error %.3g > %g", e, tol);

	/* the PReLU fused: the separate pass's bytes; twice the same bytes;
	 * one thread the bytes of two */
	float *yp = copyf(y, no), *ya = rnd(no, -9, 9), *y2 = rnd(no, -9, 9);
	channel_affine_prelu(yp, yp, NULL, NULL, al, n, oc, oh * ow);
	winos2_forward_pre(ya, work, x, U, mu, b, al, &d);
	ok(!memcmp(ya, yp, no * sizeof *ya), "%s: the fused PReLU gives the pass's bytes", what);
	winos2_forward_pre(y2, work, x, U, mu, b, NULL, &d);
	ok(!memcmp(y, y2, no * sizeof *y), "%s: the same bytes twice", what);
#ifdef _OPENMP
	float *y1 = rnd(no, -9, 9);
	blas_set_threads(1);
	winos2_forward_pre(y1, work, x, U, mu, b, NULL, &d);
	blas_set_threads(2);
	ok(!memcmp(y, y1, no * sizeof *y), "%s: one thread gives the bytes two threads give",
	   what);
	free(y1);
#endif
	free(x), free(wt), free(b), free(work), free(y), free(yr), free(al), free(U);
	free(yp), free(ya), free(y2);
	winos2_set_tile(0);
}

int main(void)
{
	static const int hw[][2] = { { 1, 1 }, { 2, 3 }, { 7, 7 }, { 9, 9 }, { 14, 14 },
				     { 15, 15 }, { 13, 10 }, { 16, 17 } };

	blas_set_threads(2);	/* the parallel path, on any machine */
	rng_seed(&R, 11);
	for (int m = 2; m <= 4; m += 2)
		for (size_t i = 0; i < sizeof hw / sizeof hw[0]; i++)
			check_m(m, i % 2 ? 2 : 1, i % 3 ? 16 : 24, i % 3 ? 32 : 16, hw[i][0],
				hw[i][1], (int)(i + m / 2) % 2);
	/* IR-18's downsampling layers, their widths and sizes; several
	 * chunks of tile rows (at 112x112 and 56x56) */
	static const int ir18[][3] = { { 64, 112, 64 }, { 128, 56, 128 }, { 256, 28, 256 },
				       { 512, 14, 512 } };
	for (int m = 2; m <= 4; m += 2)
		for (size_t i = 0; i < sizeof ir18 / sizeof ir18[0]; i++)
			check_m(m, i < 2 ? 1 : 2, ir18[i][0], ir18[i][2], ir18[i][1], ir18[i][1],
				(int)i % 2);
	check_m(2, 3, 256, 256, 15, 15, 1);
	check_m(4, 3, 256, 256, 15, 15, 0);
	diag("largest relative error m 2 %.3g, m 4 %.3g", worst[0], worst[1]);

	/* the rule: 3x3 stride 2 pad 1, 16 or more channels each way; off
	 * with conv2d_set_winograd(0) */
	{
		const struct conv2d_dims no[] = {
			{ 1, 15, 8, 8, 16, 3, 2, 1 }, { 1, 16, 8, 8, 15, 3, 2, 1 },
			{ 1, 16, 8, 8, 16, 3, 1, 1 }, { 1, 16, 8, 8, 16, 3, 2, 0 },
			{ 1, 16, 8, 8, 16, 1, 2, 0 }, { 1, 16, 8, 1030, 16, 3, 2, 1 },
		};
		int none = 1;
		for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
			none &= !conv2d_uses_winos2(&no[i]) && !winos2_applies(&no[i]);
		ok(none, "stride-2 Winograd only for 3x3 s2 p1 with c, oc >= 16");
		const struct conv2d_dims yes = { 1, 16, 8, 8, 16, 3, 2, 1 };
		conv2d_set_winograd(0);
		ok(winos2_applies(&yes) && !conv2d_uses_winos2(&yes),
		   "conv2d_set_winograd(0) turns it off");
		conv2d_set_winograd(1);
	}
	/* workspace: bounded, independent of the batch; the automatic tile:
	 * m 2, but im2col at 7x7 outputs (winos2.c "Which tile") */
	{
		int all = 1, tile = 1;
		for (size_t i = 0; i < sizeof ir18 / sizeof ir18[0]; i++) {
			struct conv2d_dims a = { 1, ir18[i][0], ir18[i][1], ir18[i][1], ir18[i][2], 3, 2, 1 };
			struct conv2d_dims b = a;
			b.n = 64;
			all &= winos2_applies(&b) && winos2_workspace(&a) == winos2_workspace(&b) &&
			       winos2_workspace(&b) <= (size_t)4 << 20 &&
			       conv2d_workspace(&b) >= winos2_workspace(&b) &&
			       conv2d_workspace(&b) <= (size_t)12 << 20;
			tile &= winos2_tile(&b) == (ir18[i][1] > 14 ? 2 : 0) &&
				conv2d_uses_winos2(&b) == (ir18[i][1] > 14);
		}
		ok(all, "IR-18's 3x3 s2 layers: workspace <= 4 Mi floats, batch-free");
		ok(tile, "IR-18: m 2 down to 28x28 inputs, im2col at 14x14 (7x7 outputs)");
		const struct conv2d_dims odd = { 1, 16, 29, 30, 16, 3, 2, 1 };	/* 15x15 */
		const struct conv2d_dims small = { 1, 16, 17, 17, 16, 3, 2, 1 };	/* 9x9 */
		ok(winos2_tile(&odd) == 2 && winos2_tile(&small) == 0,
		   "odd outputs: m 2 at 15x15 (1.14x the outputs), im2col at 9x9 (1.23x)");
	}
	return done_testing();
}
