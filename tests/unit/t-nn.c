/*
 * Layers: every fast kernel against its naive double-precision twin (odd
 * sizes, stride 2, padding, 1x1, batch > 1, gradients pre-filled so that
 * accumulation is checked too), central finite differences for every
 * layer's input and parameter gradients, the state that layers keep
 * (batch-norm running statistics, eval mode, dropout masks), and outputs
 * that do not depend on the OpenMP thread count.
 */
#include "tap.h"
#include "blas.h"
#include "convs2.h"
#include "convstem.h"
#include "floats.h"
#include "nn.h"
#include "rng.h"
#include "err.h"
#include "wgemm.h"

#include <stdint.h>
#ifdef _OPENMP
#include <omp.h>
#endif

static struct rng R;

static float *rnd(size_t n, float lo, float hi)
{
	return rand_floats(&R, n, lo, hi);
}

#define is_close(got, want, n, tol, ...)                                     \
	do {                                                                 \
		double e_ = rel_err((got), (want), (n));                     \
		if (!ok(e_ <= (tol), __VA_ARGS__))                           \
			diag("  relative error %.3g > %g", e_, (double)(tol)); \
	} while (0)

/* ------------------------------------------------------------------ */
/* Finite differences: L = sum(out * G) in double; dL/dp by central
 * differences, p +- eps in float (the step actually taken is used). */

struct fd {
	void (*forward)(struct fd *f, float *out);
	size_t n_out;
	const float *G;
	float *out;
	void *ctx;
};

static double fd_loss(struct fd *f)
{
	double s = 0;
	f->forward(f, f->out);
	for (size_t i = 0; i < f->n_out; i++)
		s += (double)f->out[i] * f->G[i];
	return s;
}

/* Norm-wise relative error between the analytic gradient and central
 * differences over every element of param. */
static double fd_err(struct fd *f, float *param, size_t n, const float *analytic, float eps)
{
	double e = 0, m = 1e-3;
	for (size_t i = 0; i < n; i++) {
		float save = param[i], up = save + eps, dn = save - eps;
		param[i] = up;
		double lp = fd_loss(f);
		param[i] = dn;
		double lm = fd_loss(f);
		param[i] = save;
		double num = (lp - lm) / ((double)up - dn);
		if (fabs(num - analytic[i]) > e)
			e = fabs(num - analytic[i]);
		if (fabs(analytic[i]) > m)
			m = fabs(analytic[i]);
	}
	return e / m;
}

#define fd_ok(f, param, n, analytic, eps, tol, ...)                          \
	do {                                                                 \
		double e_ = fd_err((f), (param), (n), (analytic), (eps));     \
		if (!ok(e_ <= (tol), __VA_ARGS__))                           \
			diag("  finite-difference error %.3g > %g", e_, (double)(tol)); \
	} while (0)

/* ------------------------------------------------------------------ */
/* Convolution */

static size_t conv_in(const struct conv2d_dims *d)
{
	return (size_t)d->n * d->c * d->h * d->w;
}

static size_t conv_out(const struct conv2d_dims *d)
{
	return (size_t)d->n * d->oc * conv2d_out_h(d) * conv2d_out_w(d);
}

static size_t conv_wt(const struct conv2d_dims *d)
{
	return (size_t)d->oc * d->c * d->k * d->k;
}

static void test_conv_vs_ref(const struct conv2d_dims *d, int with_bias)
{
	size_t ni = conv_in(d), no = conv_out(d), nw = conv_wt(d);
	size_t nwork = conv2d_workspace(d);
	float *x = rnd(ni, -1, 1), *w = rnd(nw, -1, 1), *b = with_bias ? rnd(d->oc, -1, 1) : NULL;
	float *dy = rnd(no, -1, 1), *y = rnd(no, -9, 9), *yr = rnd(no, -9, 9);
	float *work = rnd(nwork, -9, 9);	/* garbage: must not leak into results */
	/* Gradients pre-filled with the same values: backward must add. */
	float *dx = rnd(ni, -1, 1), *dw = rnd(nw, -1, 1), *db = rnd(d->oc, -1, 1);
	float *dxr = copyf(dx, ni), *dwr = copyf(dw, nw), *dbr = copyf(db, d->oc);
	char what[160];

	snprintf(what, sizeof what, "n%d c%d %dx%d oc%d k%d s%d p%d%s", d->n, d->c, d->h, d->w,
		 d->oc, d->k, d->stride, d->pad, with_bias ? " bias" : "");
	if (nwork == 0)
		ok(d->k == 1 && d->stride == 1 && d->pad == 0, "conv %s: no workspace only for 1x1 s1 p0", what);
	conv2d_forward(y, work, x, w, b, d);
	conv2d_forward_ref(yr, x, w, b, d);
	is_close(y, yr, no, 1e-5, "conv forward %s matches the reference", what);
	conv2d_backward(dx, dw, with_bias ? db : NULL, work, dy, x, w, d);
	conv2d_backward_ref(dxr, dwr, with_bias ? dbr : NULL, dy, x, w, d);
	is_close(dx, dxr, ni, 1e-5, "conv dinp %s matches the reference (accumulated)", what);
	is_close(dw, dwr, nw, 1e-5, "conv dweight %s matches the reference (accumulated)", what);
	if (with_bias)
		is_close(db, dbr, d->oc, 1e-5, "conv dbias %s matches the reference", what);

	/* conv2d_forward_act(): the PReLU applied as the outputs are made
	 * gives the bytes of the separate pass after conv2d_forward() (slopes
	 * of either sign, outputs of either sign). */
	{
		const int ohw = conv2d_out_h(d) * conv2d_out_w(d);
		float *al = rnd(d->oc, -0.5, 1.5), *ya = rnd(no, -9, 9), *yp = copyf(y, no);
		channel_affine_prelu(yp, yp, NULL, NULL, al, d->n, d->oc, ohw);
		conv2d_forward_act(ya, work, x, w, b, al, d);
		ok(!memcmp(ya, yp, no * sizeof *ya),
		   "conv %s: forward with the PReLU fused is forward then PReLU, bytes", what);
		free(al), free(ya), free(yp);
	}
	/* NULL gradients skip their work and leave the others right. */
	{
		float *dw2 = rnd(nw, 0, 0), *dw3 = rnd(nw, 0, 0), *dx2 = rnd(ni, 0, 0);
		conv2d_backward(NULL, dw2, NULL, work, dy, x, w, d);
		conv2d_backward(dx2, dw3, NULL, work, dy, x, w, d);
		ok(!memcmp(dw2, dw3, nw * sizeof *dw2), "conv %s: dweight the same with dinp NULL", what);
		free(dw2), free(dw3), free(dx2);
	}
	/* conv2d_backward_set: the bytes of a cleared dinp plus the adding
	 * pass, without reading dinp (NaN); dweight still adds.  Half of dy
	 * zero: sums of signed zeros, whose sign only 0 + x keeps right. */
	{
		float *dyz = copyf(dy, no), *dx0 = rnd(ni, 0, 0), *dxs = nan_floats(ni);
		float *dw0 = rnd(nw, -1, 1), *dws = copyf(dw0, nw);
		memset(dyz, 0, no / 2 * sizeof *dyz);
		conv2d_backward(dx0, dw0, NULL, work, dyz, x, w, d);
		conv2d_backward_set(dxs, dws, NULL, work, dyz, x, w, d);
		ok(!memcmp(dx0, dxs, ni * sizeof *dx0) && !memcmp(dw0, dws, nw * sizeof *dw0),
		   "conv %s: backward_set sets dinp (the bytes of clear and add), adds dweight",
		   what);
		free(dyz), free(dx0), free(dxs), free(dw0), free(dws);
	}
	free(x), free(w), free(b), free(dy), free(y), free(yr), free(work);
	free(dx), free(dw), free(db), free(dxr), free(dwr), free(dbr);
}

struct conv_ctx {
	const struct conv2d_dims *d;
	float *x, *w, *b, *work;
};

static void conv_fd_forward(struct fd *f, float *out)
{
	struct conv_ctx *c = f->ctx;
	conv2d_forward(out, c->work, c->x, c->w, c->b, c->d);
}

static void test_conv_fd(const struct conv2d_dims *d)
{
	size_t ni = conv_in(d), no = conv_out(d), nw = conv_wt(d);
	struct conv_ctx c = { d, rnd(ni, -1, 1), rnd(nw, -1, 1), rnd(d->oc, -1, 1),
			      rnd(conv2d_workspace(d), 0, 0) };
	float *G = rnd(no, -1, 1), *out = rnd(no, 0, 0);
	float *dx = rnd(ni, 0, 0), *dw = rnd(nw, 0, 0), *db = rnd(d->oc, 0, 0);
	struct fd f = { conv_fd_forward, no, G, out, &c };

	conv2d_backward(dx, dw, db, c.work, G, c.x, c.w, d);
	/* Linear in each argument: central differences are exact up to rounding. */
	fd_ok(&f, c.x, ni, dx, 0.25f, 1e-5, "conv k%d s%d p%d: dinp = finite differences", d->k, d->stride, d->pad);
	fd_ok(&f, c.w, nw, dw, 0.25f, 1e-5, "conv k%d s%d p%d: dweight = finite differences", d->k, d->stride, d->pad);
	fd_ok(&f, c.b, d->oc, db, 0.25f, 1e-5, "conv k%d s%d p%d: dbias = finite differences", d->k, d->stride, d->pad);
	free(c.x), free(c.w), free(c.b), free(c.work), free(G), free(out), free(dx), free(dw), free(db);
}

/*
 * The tiled paths of conv2d_forward/backward: groups of images in one
 * sgemm (outputs under 512 pixels), with a last partial group of one
 * image and of several, and bands of output rows of one image (outputs
 * over 1820 pixels with c*k*k > 512), with a last band shorter than the
 * others.  The batch sizes follow conv2d_group_size(), so the cases keep
 * hitting those paths if the tiling constants change.
 */
static void test_conv_tiles(void)
{
	struct conv2d_dims grouped[] = {
		{ 0, 2, 20, 20, 3, 3, 1, 1 },	/* 3x3 pad 1, 400 pixels */
		{ 0, 3, 40, 40, 4, 3, 2, 1 },	/* stride 2 pad 1 */
		{ 0, 5, 36, 36, 4, 1, 2, 0 },	/* 1x1 stride 2 (IR shortcut) */
		{ 0, 4, 20, 20, 5, 1, 1, 0 },	/* 1x1 stride 1: im2col only in groups */
		{ 0, 2, 9, 7, 3, 3, 1, 0 },	/* small: the whole batch is one group */
	};
	struct conv2d_dims banded[] = {
		{ 2, 64, 47, 49, 2, 3, 1, 1 },	/* two bands, 24 and 23 rows */
		{ 1, 64, 100, 100, 3, 3, 2, 1 },	/* stride 2: 50x50 output */
	};
	/* IR-18's convolution shapes: the workspace does not grow with the
	 * batch and stays bounded at batch 64. */
	static const int ir18[][5] = {	/* c, h, oc, k, stride */
		{ 3, 112, 64, 3, 1 }, { 64, 112, 64, 3, 1 }, { 64, 112, 64, 3, 2 },
		{ 64, 112, 64, 1, 2 }, { 64, 56, 64, 3, 1 }, { 64, 56, 128, 3, 1 },
		{ 128, 56, 128, 3, 2 }, { 64, 56, 128, 1, 2 }, { 128, 28, 128, 3, 1 },
		{ 128, 28, 256, 3, 1 }, { 256, 28, 256, 3, 2 }, { 128, 28, 256, 1, 2 },
		{ 256, 14, 256, 3, 1 }, { 256, 14, 512, 3, 1 }, { 512, 14, 512, 3, 2 },
		{ 256, 14, 512, 1, 2 }, { 512, 7, 512, 3, 1 },
	};
	int bounded = 1, same = 1, g7 = 0;

	for (size_t i = 0; i < sizeof grouped / sizeof grouped[0]; i++) {
		struct conv2d_dims d = grouped[i];
		int g;
		d.n = 1;
		g = conv2d_group_size(&d);
		if (i < 4) {
			ok(g > 1 && g < 8, "conv tiles: %dx%d k%d s%d groups %d images", d.h, d.w,
			   d.k, d.stride, g);
			d.n = 2 * g + 1;	/* two full groups and one image */
			test_conv_vs_ref(&d, i % 2);
			d.n = g + g / 2 + 1;	/* a partial group of several */
			test_conv_vs_ref(&d, (i + 1) % 2);
		} else {
			ok(g > 5, "conv tiles: a 7x5 output groups many images (%d)", g);
			d.n = 5;
			test_conv_vs_ref(&d, 1);
		}
	}
	for (size_t i = 0; i < sizeof banded / sizeof banded[0]; i++) {
		const struct conv2d_dims *d = &banded[i];
		size_t whole = (size_t)d->c * d->k * d->k * conv2d_out_h(d) * conv2d_out_w(d);
		const size_t slot = conv2d_workspace(d) / CONV2D_TEAM_MAX;
		ok(conv2d_group_size(d) == 1 && slot * 3 / 2 <= whole,
		   "conv tiles: %dx%d c%d k%d s%d in bands (%zu of %zu floats a thread)", d->h,
		   d->w, d->c, d->k, d->stride, slot, whole);
		test_conv_vs_ref(d, (int)i % 2);
	}
	for (size_t i = 0; i < sizeof ir18 / sizeof ir18[0]; i++) {
		const int *s = ir18[i];
		struct conv2d_dims a = { 1, s[0], s[1], s[1], s[2], s[3], s[4], s[3] / 2 };
		struct conv2d_dims b = a;
		b.n = 64;
		same &= conv2d_workspace(&a) == conv2d_workspace(&b);
		bounded &= conv2d_workspace(&b) <= (size_t)12 << 20;
		if (s[1] == 7)
			g7 = conv2d_group_size(&b);
	}
	ok(same, "conv tiles: IR-18's workspaces do not depend on the batch size");
	ok(bounded, "conv tiles: IR-18's workspaces are at most 12 Mi floats");
	ok(g7 >= 16, "conv tiles: IR-18's 7x7 layers take %d images per sgemm", g7);
}

/* The IR-18 stem's shape, 3x112x112 -> 64 at batch 2, against the double
 * reference; on AVX-512 it takes convstem.c's direct kernels. */
static void test_convstem_ir18(void)
{
	const struct conv2d_dims d = { 2, 3, 112, 112, 64, 3, 1, 1 };
	const size_t ni = conv_in(&d), no = conv_out(&d), nw = conv_wt(&d);
	float *x = rnd(ni, -1, 1), *w = rnd(nw, -1, 1), *dy = rnd(no, -1, 1);
	float *y = rnd(no, 0, 0), *yr = rnd(no, 0, 0), *dw = rnd(nw, -1, 1), *dwr = copyf(dw, nw);
	float *dxr = rnd(ni, 0, 0), *work = rnd(conv2d_workspace(&d), -9, 9);

	__builtin_cpu_init();
	ok(convstem_applies(&d) == (__builtin_cpu_supports("avx512f") != 0),
	   "conv stem 3x112x112->64: the direct kernels exactly where AVX-512 is");
	conv2d_forward(y, work, x, w, NULL, &d);
	conv2d_forward_ref(yr, x, w, NULL, &d);
	is_close(y, yr, no, 1e-5, "conv stem 3x112x112->64: forward matches the reference");
	conv2d_backward(NULL, dw, NULL, work, dy, x, w, &d);
	conv2d_backward_ref(dxr, dwr, NULL, dy, x, w, &d);
	is_close(dw, dwr, nw, 1e-5, "conv stem 3x112x112->64: dweight matches the reference");
	free(x), free(w), free(dy), free(y), free(yr), free(dw), free(dwr), free(dxr), free(work);
}

static void test_conv(void)
{
	static const struct conv2d_dims shapes[] = {
		{ 2, 3, 7, 5, 4, 3, 1, 1 },	/* 3x3 same padding, odd sizes */
		{ 2, 3, 9, 8, 5, 3, 2, 1 },	/* stride 2 pad 1 (IR's downsampling conv) */
		{ 3, 4, 6, 5, 6, 1, 1, 0 },	/* 1x1: no im2col */
		{ 2, 5, 7, 7, 3, 1, 2, 0 },	/* 1x1 stride 2 (IR shortcut) */
		{ 1, 2, 5, 6, 3, 3, 1, 0 },	/* no padding */
		{ 2, 3, 11, 9, 4, 5, 3, 2 },	/* 5x5 stride 3 */
		{ 1, 2, 4, 4, 2, 3, 2, 2 },	/* pad 2 > k/2: rows and columns of padding only */
		{ 2, 32, 15, 15, 8, 3, 1, 1 },	/* big enough for the OpenMP loops */
		/* convstem.c's direct kernels (on AVX-512): a band and an odd
		 * row of 16-pixel vectors, several bands and a short last one,
		 * one channel, four, one image, the narrowest rows it takes */
		{ 1, 3, 13, 21, 8, 3, 1, 1 },
		{ 2, 4, 19, 35, 16, 3, 1, 1 },
		{ 3, 1, 6, 17, 24, 3, 1, 1 },
		{ 1, 2, 3, 16, 8, 3, 1, 1 },
	};
	for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
		test_conv_vs_ref(&shapes[i], i % 2 == 0);
	test_conv_vs_ref(&shapes[9], 1);
	test_conv_vs_ref(&shapes[2], 1);
	test_conv_tiles();
	test_convstem_ir18();

	{
		struct conv2d_dims a = { 2, 3, 5, 4, 2, 3, 2, 1 }, b = { 2, 3, 4, 3, 2, 1, 1, 0 };
		test_conv_fd(&a);
		test_conv_fd(&b);
	}
	/* PyTorch's output size: floor((h + 2p - k)/s) + 1. */
	ok(nn_out_size(112, 3, 1, 1) == 112 && nn_out_size(112, 3, 2, 1) == 56 &&
	   nn_out_size(7, 3, 2, 1) == 4 && nn_out_size(56, 1, 2, 0) == 28 &&
	   nn_out_size(5, 2, 2, 0) == 2, "nn_out_size follows PyTorch");
}

/* ------------------------------------------------------------------ */
/* Batch norm */

static void test_bn_vs_ref(int N, int C, int HW, int affine)
{
	size_t n = (size_t)N * C * HW;
	float *x = rnd(n, -2, 3), *g = affine ? rnd(C, 0.5, 1.5) : NULL, *b = affine ? rnd(C, -1, 1) : NULL;
	float *y = rnd(n, 0, 0), *yr = rnd(n, 0, 0), *mu = rnd(C, 0, 0), *mur = rnd(C, 0, 0);
	float *is = rnd(C, 0, 0), *isr = rnd(C, 0, 0);
	float *rm = rnd(C, -1, 1), *rv = rnd(C, 0.5, 2), *rmr = copyf(rm, C), *rvr = copyf(rv, C);
	float *dy = rnd(n, -1, 1), *dx = rnd(n, -1, 1), *dxr = copyf(dx, n);
	float *dg = rnd(C, -1, 1), *dgr = copyf(dg, C), *db = rnd(C, -1, 1), *dbr = copyf(db, C);

	batchnorm_forward(y, mu, is, rm, rv, x, g, b, N, C, HW, 1e-5f, 0.1f);
	batchnorm_forward_ref(yr, mur, isr, rmr, rvr, x, g, b, N, C, HW, 1e-5f, 0.1f);
	is_close(y, yr, n, 1e-5, "batchnorm N%d C%d HW%d%s: forward matches the reference", N, C, HW, affine ? "" : " (no affine)");
	is_close(mu, mur, C, 1e-6, "batchnorm N%d C%d HW%d: saved mean", N, C, HW);
	is_close(is, isr, C, 1e-6, "batchnorm N%d C%d HW%d: saved invstd", N, C, HW);
	is_close(rm, rmr, C, 1e-6, "batchnorm N%d C%d HW%d: running mean", N, C, HW);
	is_close(rv, rvr, C, 1e-6, "batchnorm N%d C%d HW%d: running var", N, C, HW);
	batchnorm_backward(dx, affine ? dg : NULL, affine ? db : NULL, dy, x, g, mu, is, N, C, HW);
	batchnorm_backward_ref(dxr, affine ? dgr : NULL, affine ? dbr : NULL, dy, x, g, mu, is, N, C, HW);
	is_close(dx, dxr, n, 1e-5, "batchnorm N%d C%d HW%d: dinp matches the textbook chain rule", N, C, HW);
	if (affine) {
		is_close(dg, dgr, C, 1e-5, "batchnorm N%d C%d HW%d: dgamma", N, C, HW);
		is_close(db, dbr, C, 1e-5, "batchnorm N%d C%d HW%d: dbeta", N, C, HW);
	}
	free(x), free(g), free(b), free(y), free(yr), free(mu), free(mur), free(is), free(isr);
	free(rm), free(rv), free(rmr), free(rvr), free(dy), free(dx), free(dxr);
	free(dg), free(dgr), free(db), free(dbr);
}

struct bn_ctx {
	int N, C, HW;
	float *x, *g, *b, *mu, *is;
};

static void bn_fd_forward(struct fd *f, float *out)
{
	struct bn_ctx *c = f->ctx;
	batchnorm_forward(out, c->mu, c->is, NULL, NULL, c->x, c->g, c->b, c->N, c->C, c->HW,
			  1e-5f, 0.1f);
}

static void test_bn_fd(int N, int C, int HW)
{
	size_t n = (size_t)N * C * HW;
	struct bn_ctx c = { N, C, HW, rnd(n, -2, 2), rnd(C, 0.5, 1.5), rnd(C, -1, 1),
			    rnd(C, 0, 0), rnd(C, 0, 0) };
	float *G = rnd(n, -1, 1), *out = rnd(n, 0, 0);
	float *dx = rnd(n, 0, 0), *dg = rnd(C, 0, 0), *db = rnd(C, 0, 0);
	struct fd f = { bn_fd_forward, n, G, out, &c };

	bn_fd_forward(&f, out);
	batchnorm_backward(dx, dg, db, G, c.x, c.g, c.mu, c.is, N, C, HW);
	fd_ok(&f, c.x, n, dx, 1e-2f, 2e-4, "batchnorm N%d C%d HW%d: dinp = finite differences", N, C, HW);
	fd_ok(&f, c.g, C, dg, 1e-2f, 2e-4, "batchnorm N%d C%d HW%d: dgamma = finite differences", N, C, HW);
	fd_ok(&f, c.b, C, db, 1e-2f, 2e-4, "batchnorm N%d C%d HW%d: dbeta = finite differences", N, C, HW);
	free(c.x), free(c.g), free(c.b), free(c.mu), free(c.is), free(G), free(out), free(dx), free(dg), free(db);
}

/* Running statistics against their definition, over two steps; eval mode. */
static void test_bn_state(void)
{
	enum { N = 3, C = 2, HW = 5, M = N * HW };
	float x[N * C * HW], y[N * C * HW], ye[N * C * HW], mu[C], is[C];
	float rm[C] = { 0, 0 }, rv[C] = { 1, 1 }, g[C] = { 1.5f, 0.5f }, b[C] = { 0.25f, -1 };
	double wm[C] = { 0, 0 }, wv[C] = { 1, 1 };
	int good = 1;

	for (int step = 0; step < 2; step++) {
		for (int i = 0; i < N * C * HW; i++)
			x[i] = (float)rng_range(&R, -1, 3) + step;
		batchnorm_forward(y, mu, is, rm, rv, x, g, b, N, C, HW, 2e-5f, 0.1f);
		for (int c = 0; c < C; c++) {
			double s = 0, v = 0;
			for (int n = 0; n < N; n++)
				for (int t = 0; t < HW; t++)
					s += x[(n * C + c) * HW + t];
			s /= M;
			for (int n = 0; n < N; n++)
				for (int t = 0; t < HW; t++)
					v += pow(x[(n * C + c) * HW + t] - s, 2);
			wm[c] = 0.9 * wm[c] + 0.1 * s;
			wv[c] = 0.9 * wv[c] + 0.1 * v / (M - 1);	/* unbiased */
			if (fabs(rm[c] - wm[c]) > 1e-6 || fabs(rv[c] - wv[c]) > 1e-6)
				good = 0;
			if (fabs(is[c] - 1 / sqrt(v / M + 2e-5)) > 1e-5)	/* biased */
				good = 0;
		}
	}
	ok(good, "batchnorm: running mean/unbiased var with momentum 0.1, saved invstd biased (2 steps, eps 2e-5)");

	batchnorm_forward_eval(ye, x, g, b, rm, rv, N, C, HW, 2e-5f);
	good = 1;
	for (int n = 0; n < N; n++)
		for (int c = 0; c < C; c++)
			for (int t = 0; t < HW; t++) {
				int e = (n * C + c) * HW + t;
				double want = (x[e] - wm[c]) / sqrt(wv[c] + 2e-5) * g[c] + b[c];
				if (fabs(ye[e] - want) > 1e-5 * (1 + fabs(want)))
					good = 0;
			}
	ok(good, "batchnorm eval: normalises with the running statistics");
	ok(fabs(ye[0] - y[0]) > 1e-3, "batchnorm eval differs from training mode");

	/* Without running statistics: training output identical, nothing else touched. */
	{
		float y2[N * C * HW], mu2[C], is2[C];
		batchnorm_forward(y2, mu2, is2, NULL, NULL, x, g, b, N, C, HW, 2e-5f, 0.1f);
		ok(!memcmp(y, y2, sizeof y), "batchnorm: running stats NULL gives the same output");
	}
}

static void test_bn(void)
{
	test_bn_vs_ref(2, 3, 7 * 5, 1);
	test_bn_vs_ref(5, 4, 1, 1);	/* BatchNorm1d */
	test_bn_vs_ref(3, 3, 9, 0);
	test_bn_vs_ref(4, 8, 32 * 32, 1);	/* OpenMP-sized */
	test_bn_fd(2, 3, 6);
	test_bn_fd(6, 4, 1);	/* 1d */
	test_bn_state();
}

/* ------------------------------------------------------------------ */
/* Elementwise layers: PReLU, ReLU, residual, dropout */

/* Values away from 0 so that a finite-difference step never crosses a kink. */
static float *rnd_away(size_t n)
{
	float *p = rnd(n, 0.1f, 1);
	for (size_t i = 0; i < n; i++)
		if (rng_u32(&R) & 1)
			p[i] = -p[i];
	return p;
}

struct ew_ctx {
	int N, C, HW;
	float *x, *a, *b;
	uint64_t seed;
	float p;
};

static void prelu_fd_forward(struct fd *f, float *out)
{
	struct ew_ctx *c = f->ctx;
	prelu_forward(out, c->x, c->a, c->N, c->C, c->HW);
}

static void relu_fd_forward(struct fd *f, float *out)
{
	struct ew_ctx *c = f->ctx;
	relu_forward(out, c->x, f->n_out);
}

static void residual_fd_forward(struct fd *f, float *out)
{
	struct ew_ctx *c = f->ctx;
	residual_forward(out, c->x, c->b, f->n_out);
}

static void dropout_fd_forward(struct fd *f, float *out)
{
	struct ew_ctx *c = f->ctx;
	struct rng r;
	uint8_t *mask = xmalloc(f->n_out);
	rng_seed(&r, c->seed);	/* the same mask every time */
	dropout_forward(out, mask, &r, c->x, c->p, f->n_out);
	free(mask);
}

static void test_prelu(void)
{
	const int shapes[][3] = { { 2, 3, 11 }, { 7, 5, 1 }, { 4, 16, 32 * 32 } };
	for (int s = 0; s < 3; s++) {
		int N = shapes[s][0], C = shapes[s][1], HW = shapes[s][2];
		size_t n = (size_t)N * C * HW;
		float *x = rnd(n, -1, 1), *a = rnd(C, -0.5, 0.5), *dy = rnd(n, -1, 1);
		float *y = rnd(n, 0, 0), *yr = rnd(n, 0, 0);
		float *dx = rnd(n, -1, 1), *dxr = copyf(dx, n), *da = rnd(C, -1, 1), *dar = copyf(da, C);
		x[0] = 0;	/* x = 0 goes with the slope, as PyTorch */
		prelu_forward(y, x, a, N, C, HW);
		prelu_forward_ref(yr, x, a, N, C, HW);
		ok(!memcmp(y, yr, n * sizeof *y), "prelu N%d C%d HW%d: forward = reference", N, C, HW);
		prelu_backward(dx, da, dy, x, a, N, C, HW);
		prelu_backward_ref(dxr, dar, dy, x, a, N, C, HW);
		is_close(dx, dxr, n, 1e-6, "prelu N%d C%d HW%d: dinp = reference (accumulated)", N, C, HW);
		is_close(da, dar, C, 1e-5, "prelu N%d C%d HW%d: dalpha = reference (accumulated)", N, C, HW);
		/* set: the bytes of a cleared dinp and the adding pass, dinp
		 * (NaN) not read; dy partly zero, for the signs of zeros */
		float *dxs = nan_floats(n), *dx0 = rnd(n, 0, 0), *das = copyf(da, C);
		float *da0 = copyf(da, C);
		memset(dy, 0, n / 2 * sizeof *dy);
		prelu_backward(dx0, da0, dy, x, a, N, C, HW);
		prelu_backward_set(dxs, das, dy, x, a, N, C, HW);
		ok(!memcmp(dx0, dxs, n * sizeof *dx0) && !memcmp(da0, das, C * sizeof *da0),
		   "prelu N%d C%d HW%d: backward_set sets dinp, adds dalpha", N, C, HW);
		free(dxs), free(dx0), free(das), free(da0);
		free(x), free(a), free(dy), free(y), free(yr), free(dx), free(dxr), free(da), free(dar);
	}
	{
		enum { N = 3, C = 4, HW = 5, n = N * C * HW };
		struct ew_ctx c = { N, C, HW, rnd_away(n), rnd(C, -0.5, 0.5), NULL, 0, 0 };
		float *G = rnd(n, -1, 1), *out = rnd(n, 0, 0), *dx = rnd(n, 0, 0), *da = rnd(C, 0, 0);
		struct fd f = { prelu_fd_forward, n, G, out, &c };
		prelu_backward(dx, da, G, c.x, c.a, N, C, HW);
		fd_ok(&f, c.x, n, dx, 1e-2f, 1e-5, "prelu: dinp = finite differences");
		fd_ok(&f, c.a, C, da, 1e-2f, 1e-5, "prelu: dalpha = finite differences");
		free(c.x), free(c.a), free(G), free(out), free(dx), free(da);
	}
}

static void test_relu_residual(void)
{
	enum { n = 300 };
	struct ew_ctx c = { 0, 0, 0, rnd_away(n), NULL, rnd(n, -1, 1), 0, 0 };
	float *G = rnd(n, -1, 1), *out = rnd(n, 0, 0), *dx = rnd(n, 0, 0), *db = rnd(n, 0, 0);
	float *y = rnd(n, 0, 0), *inplace = copyf(c.x, n);
	struct fd f = { relu_fd_forward, n, G, out, &c };
	int good = 1;

	relu_forward(y, c.x, n);
	for (int i = 0; i < n; i++)
		good &= y[i] == (c.x[i] > 0 ? c.x[i] : 0.0f);
	ok(good, "relu forward = max(x, 0)");
	relu_forward(inplace, inplace, n);
	ok(!memcmp(inplace, y, n * sizeof *y), "relu works in place");
	relu_backward(dx, G, c.x, n);
	fd_ok(&f, c.x, n, dx, 1e-2f, 1e-5, "relu: dinp = finite differences");
	memset(db, 0, n * sizeof *db);
	relu_backward(db, G, y, n);
	ok(!memcmp(db, dx, n * sizeof *db), "relu backward from the output = from the input");

	memset(dx, 0, n * sizeof *dx);
	memset(db, 0, n * sizeof *db);
	f.forward = residual_fd_forward;
	residual_backward(dx, db, G, n);
	fd_ok(&f, c.x, n, dx, 0.25f, 1e-5, "residual: da = finite differences");
	fd_ok(&f, c.b, n, db, 0.25f, 1e-5, "residual: db = finite differences");
	residual_backward(dx, NULL, G, n);
	good = 1;
	for (int i = 0; i < n; i++)
		good &= dx[i] == 2 * G[i];
	ok(good, "residual backward accumulates (twice = 2 dout), db may be NULL");
	{
		float *da = nan_floats(n), *ds = nan_floats(n), *d0 = rnd(n, 0, 0);
		float *dz = copyf(G, n);
		memset(dz, 0, n / 2 * sizeof *dz);
		for (int i = 0; i < n / 2; i += 2)
			dz[i] = -0.0f;
		residual_backward(d0, NULL, dz, n);
		residual_backward_set(NULL, ds, dz, n);
		residual_backward_set(da, NULL, dz, n);
		ok(!memcmp(ds, d0, n * sizeof *ds) && !memcmp(da, d0, n * sizeof *da),
		   "residual backward_set: da, db = the bytes of 0 + dout (-0 too)");
		free(da), free(ds), free(d0), free(dz);
	}
	free(c.x), free(c.b), free(G), free(out), free(dx), free(db), free(y), free(inplace);

	/* residual_affine_forward(): the sum in place and the eval batch norm
	 * (+ PReLU) of it in one pass give the bytes of the two passes; 2 x 3
	 * planes of 50, and a size for the OpenMP loop */
	for (int k = 0; k < 2; k++) {
		const int N = k ? 4 : 2, C = k ? 16 : 3, HW = k ? 1000 : 50;
		const size_t m = (size_t)N * C * HW;
		float *a = rnd(m, -1, 1), *b = rnd(m, -1, 1), *a2 = copyf(a, m);
		float *sc = rnd(C, 0.2f, 2), *sh = rnd(C, -1, 1), *al = rnd(C, -0.5f, 1.5f);
		float *ya = rnd(m, 0, 0), *yb = rnd(m, 0, 0), *yc = rnd(m, 0, 0);
		residual_forward(a2, a2, b, m);
		channel_affine_prelu(yb, a2, sc, sh, al, N, C, HW);
		channel_affine_prelu(yc, a2, sc, sh, NULL, N, C, HW);
		float *a3 = copyf(a, m);
		residual_affine_forward(a, a, b, ya, sc, sh, al, N, C, HW);
		int same = !memcmp(a, a2, m * sizeof *a) && !memcmp(ya, yb, m * sizeof *ya);
		residual_affine_forward(a3, a3, b, ya, sc, sh, NULL, N, C, HW);
		same &= !memcmp(a3, a2, m * sizeof *a) && !memcmp(ya, yc, m * sizeof *ya);
		ok(same, "residual + eval batch norm (+ PReLU) in one pass: the two passes' bytes "
		   "(%d x %d x %d)", N, C, HW);
		free(a), free(b), free(a2), free(a3), free(sc), free(sh), free(al);
		free(ya), free(yb), free(yc);
	}
}

static void test_dropout(void)
{
	enum { n = 100000 };
	float *x = rnd(n, -1, 1), *y = rnd(n, 0, 0), *y2 = rnd(n, 0, 0);
	uint8_t *m = xmalloc(n), *m2 = xmalloc(n);
	struct rng r, r2, r3;
	const float p = 0.3f, scale = 1.0f / (1.0f - p);
	long kept = 0;
	int good = 1;

	rng_seed(&r, 42);
	rng_seed(&r2, 42);
	dropout_forward(y, m, &r, x, p, n);
	dropout_forward(y2, m2, &r2, x, p, n);
	ok(!memcmp(m, m2, n) && !memcmp(y, y2, n * sizeof *y), "dropout: same RNG state, same mask and output");
	rng_seed(&r3, 42);
	for (int i = 0; i < n; i++)
		rng_uniform(&r3);
	ok(!memcmp(&r, &r3, sizeof r), "dropout: consumes exactly one draw per element");
	rng_seed(&r2, 43);
	dropout_forward(y2, m2, &r2, x, p, n);
	ok(memcmp(m, m2, n) != 0, "dropout: another seed, another mask");
	for (int i = 0; i < n; i++) {
		kept += m[i];
		good &= m[i] <= 1 && y[i] == (m[i] ? x[i] * scale : 0.0f);
	}
	ok(good, "dropout: out = mask ? x / (1 - p) : 0");
	/* Binomial(n, 0.7): sd = 145; allow 5 sd. */
	ok(fabs(kept - 0.7 * n) < 5 * sqrt(n * 0.21), "dropout: keeps 1 - p of the elements (%ld of %d)", kept, n);

	rng_seed(&r2, 1);
	dropout_forward(y2, m2, &r2, x, 0.0f, n);
	ok(!memcmp(y2, x, n * sizeof *y2), "dropout p = 0 is the identity");
	rng_seed(&r2, 1);
	dropout_forward(y2, m2, &r2, x, 1.0f, n);
	good = 1;
	for (int i = 0; i < n; i++)
		good &= y2[i] == 0 && m2[i] == 0;
	ok(good, "dropout p = 1 drops everything");

	{
		enum { k = 200 };
		struct ew_ctx c = { 0, 0, 0, rnd(k, -1, 1), NULL, NULL, 7, 0.4f };
		float *G = rnd(k, -1, 1), *out = rnd(k, 0, 0), *dx = rnd(k, 0, 0);
		struct fd f = { dropout_fd_forward, k, G, out, &c };
		rng_seed(&r2, c.seed);
		dropout_forward(out, m2, &r2, c.x, c.p, k);
		dropout_backward(dx, G, m2, c.p, k);
		fd_ok(&f, c.x, k, dx, 0.25f, 1e-5, "dropout: dinp = finite differences (fixed mask)");
		free(c.x), free(G), free(out), free(dx);
	}
	free(x), free(y), free(y2), free(m), free(m2);
}

/* ------------------------------------------------------------------ */
/* Max-pool */

static void test_maxpool_vs_ref(int N, int C, int H, int W, int k, int s, int pad, int ties)
{
	int oh = nn_out_size(H, k, s, pad), ow = nn_out_size(W, k, s, pad);
	size_t ni = (size_t)N * C * H * W, no = (size_t)N * C * oh * ow;
	float *x = rnd(ni, -1, 1), *y = rnd(no, 0, 0), *yr = rnd(no, 0, 0), *dy = rnd(no, -1, 1);
	float *dx = rnd(ni, -1, 1), *dxr = copyf(dx, ni);
	int32_t *am = xmalloc(no * sizeof *am), *amr = xmalloc(no * sizeof *amr);

	if (ties)	/* few distinct values, -inf and a NaN: PyTorch's tie rules */
		for (size_t i = 0; i < ni; i++)
			x[i] = i == 5 ? NAN : i % 7 == 3 ? -INFINITY : (float)(int)(x[i] * 2);
	maxpool_forward(y, am, x, N, C, H, W, k, s, pad);
	maxpool_forward_ref(yr, amr, x, N, C, H, W, k, s, pad);
	ok(!memcmp(am, amr, no * sizeof *am) && !memcmp(y, yr, no * sizeof *y),
	   "maxpool %dx%d k%d s%d p%d%s: output and argmax = reference", H, W, k, s, pad, ties ? " (ties, NaN, -inf)" : "");
	maxpool_backward(dx, dy, am, N, C, H, W, k, s, pad);
	maxpool_backward_ref(dxr, dy, x, N, C, H, W, k, s, pad);
	ok(!memcmp(dx, dxr, ni * sizeof *dx), "maxpool %dx%d k%d s%d p%d: dinp = reference (accumulated)", H, W, k, s, pad);
	{
		float *dxs = nan_floats(ni), *dx0 = rnd(ni, 0, 0);
		maxpool_backward(dx0, dy, am, N, C, H, W, k, s, pad);
		maxpool_backward_set(dxs, dy, am, N, C, H, W, k, s, pad);
		ok(!memcmp(dxs, dx0, ni * sizeof *dx0),
		   "maxpool %dx%d k%d s%d p%d: backward_set sets dinp", H, W, k, s, pad);
		free(dxs), free(dx0);
	}
	free(x), free(y), free(yr), free(dy), free(dx), free(dxr), free(am), free(amr);
}

struct pool_ctx {
	int N, C, H, W, k, s, p;
	float *x;
};

static void pool_fd_forward(struct fd *f, float *out)
{
	struct pool_ctx *c = f->ctx;
	int32_t *am = xmalloc(f->n_out * sizeof *am);
	maxpool_forward(out, am, c->x, c->N, c->C, c->H, c->W, c->k, c->s, c->p);
	free(am);
}

static void test_maxpool(void)
{
	test_maxpool_vs_ref(2, 3, 8, 8, 2, 2, 0, 0);	/* face18's 2x2/2 */
	test_maxpool_vs_ref(2, 3, 9, 7, 3, 2, 1, 0);	/* 3x3/2 pad 1, odd sizes */
	test_maxpool_vs_ref(1, 2, 7, 6, 3, 1, 1, 0);	/* overlapping windows */
	test_maxpool_vs_ref(2, 2, 9, 9, 3, 2, 1, 1);
	test_maxpool_vs_ref(4, 16, 32, 32, 2, 2, 0, 0);	/* OpenMP-sized */
	{
		/* Distinct values 0.05 apart, so a 1e-2 step never changes an argmax. */
		struct pool_ctx c = { 2, 2, 7, 5, 3, 2, 1, NULL };
		size_t ni = (size_t)c.N * c.C * c.H * c.W;
		int oh = nn_out_size(c.H, c.k, c.s, c.p), ow = nn_out_size(c.W, c.k, c.s, c.p);
		size_t no = (size_t)c.N * c.C * oh * ow;
		int *perm = xmalloc(ni * sizeof *perm);
		float *G = rnd(no, -1, 1), *out = rnd(no, 0, 0), *dx = rnd(ni, 0, 0);
		int32_t *am = xmalloc(no * sizeof *am);
		struct fd f = { pool_fd_forward, no, G, out, &c };
		c.x = rnd(ni, 0, 0);
		for (size_t i = 0; i < ni; i++)
			perm[i] = (int)i;
		rng_shuffle(&R, perm, (int)ni);
		for (size_t i = 0; i < ni; i++)
			c.x[i] = 0.05f * perm[i] - 3;
		maxpool_forward(out, am, c.x, c.N, c.C, c.H, c.W, c.k, c.s, c.p);
		maxpool_backward(dx, G, am, c.N, c.C, c.H, c.W, c.k, c.s, c.p);
		fd_ok(&f, c.x, ni, dx, 1e-2f, 1e-5, "maxpool 3x3/2 pad 1: dinp = finite differences");
		free(perm), free(G), free(out), free(dx), free(am), free(c.x);
	}
}

/* ------------------------------------------------------------------ */
/* Linear */

struct lin_ctx {
	int N, IC, OC;
	float *x, *w, *b;
};

static void lin_fd_forward(struct fd *f, float *out)
{
	struct lin_ctx *c = f->ctx;
	linear_forward(out, c->x, c->w, c->b, c->N, c->IC, c->OC);
}

static void test_linear(void)
{
	const int shapes[][3] = { { 5, 7, 3 }, { 1, 16, 9 }, { 33, 65, 17 } };
	for (int s = 0; s < 3; s++) {
		int N = shapes[s][0], IC = shapes[s][1], OC = shapes[s][2];
		float *x = rnd((size_t)N * IC, -1, 1), *w = rnd((size_t)OC * IC, -1, 1);
		float *b = s == 1 ? NULL : rnd(OC, -1, 1), *dy = rnd((size_t)N * OC, -1, 1);
		float *y = rnd((size_t)N * OC, 0, 0), *yr = rnd((size_t)N * OC, 0, 0);
		float *dx = rnd((size_t)N * IC, -1, 1), *dxr = copyf(dx, (size_t)N * IC);
		float *dw = rnd((size_t)OC * IC, -1, 1), *dwr = copyf(dw, (size_t)OC * IC);
		float *db = rnd(OC, -1, 1), *dbr = copyf(db, OC);
		linear_forward(y, x, w, b, N, IC, OC);
		linear_forward_ref(yr, x, w, b, N, IC, OC);
		is_close(y, yr, (size_t)N * OC, 1e-5, "linear N%d %d->%d%s: forward = reference", N, IC, OC, b ? "" : " (no bias)");
		linear_backward(dx, dw, b ? db : NULL, dy, x, w, N, IC, OC);
		linear_backward_ref(dxr, dwr, b ? dbr : NULL, dy, x, w, N, IC, OC);
		is_close(dx, dxr, (size_t)N * IC, 1e-5, "linear N%d %d->%d: dinp = reference (accumulated)", N, IC, OC);
		is_close(dw, dwr, (size_t)OC * IC, 1e-5, "linear N%d %d->%d: dweight = reference (accumulated)", N, IC, OC);
		is_close(db, dbr, OC, 1e-5, "linear N%d %d->%d: dbias = reference", N, IC, OC);
		free(x), free(w), free(b), free(dy), free(y), free(yr), free(dx), free(dxr);
		free(dw), free(dwr), free(db), free(dbr);
	}
	{
		struct lin_ctx c = { 4, 6, 3, rnd(24, -1, 1), rnd(18, -1, 1), rnd(3, -1, 1) };
		float *G = rnd(12, -1, 1), *out = rnd(12, 0, 0);
		float *dx = rnd(24, 0, 0), *dw = rnd(18, 0, 0), *db = rnd(3, 0, 0);
		struct fd f = { lin_fd_forward, 12, G, out, &c };
		linear_backward(dx, dw, db, G, c.x, c.w, 4, 6, 3);
		fd_ok(&f, c.x, 24, dx, 0.25f, 1e-5, "linear: dinp = finite differences");
		fd_ok(&f, c.w, 18, dw, 0.25f, 1e-5, "linear: dweight = finite differences");
		fd_ok(&f, c.b, 3, db, 0.25f, 1e-5, "linear: dbias = finite differences");
		free(c.x), free(c.w), free(c.b), free(G), free(out), free(dx), free(dw), free(db);
	}
}

/* ------------------------------------------------------------------ */
/* The OpenMP loops give the same bytes for 1 and 2 threads. */

static void test_threads(void)
{
	enum { N = 4, C = 8, HW = 32 * 32, n = N * C * HW, H = 32, W = 32, no = N * C * 16 * 16 };
	float *x = rnd(n, -1, 2), *g = rnd(C, 0.5, 1.5), *b = rnd(C, -1, 1), *dy = rnd(n, -1, 1);
	float *pdy = rnd(no, -1, 1), *out[2], *dx[2], *dg[2], *da[2], *pdx[2], mu[C], is[C];
	int32_t *am = xmalloc(no * sizeof *am);
	int t, threads[2] = { 1, 2 };

	for (t = 0; t < 2; t++) {
#ifdef _OPENMP
		omp_set_num_threads(threads[t]);
#endif
		out[t] = rnd(n, 0, 0), dx[t] = rnd(n, 0, 0), dg[t] = rnd(C, 0, 0);
		da[t] = rnd(C, 0, 0), pdx[t] = rnd(n, 0, 0);
		batchnorm_forward(out[t], mu, is, NULL, NULL, x, g, b, N, C, HW, 1e-5f, 0.1f);
		batchnorm_backward(dx[t], dg[t], NULL, dy, x, g, mu, is, N, C, HW);
		prelu_backward(dx[t], da[t], dy, x, b, N, C, HW);
		maxpool_forward(out[t], am, x, N, C, H, W, 3, 2, 1);
		maxpool_backward(pdx[t], pdy, am, N, C, H, W, 3, 2, 1);
	}
	ok(!memcmp(dx[0], dx[1], n * sizeof(float)) && !memcmp(dg[0], dg[1], C * sizeof(float)) &&
	   !memcmp(da[0], da[1], C * sizeof(float)),
	   "batchnorm and PReLU: the same bytes with %d and %d threads", threads[0], threads[1]);
	ok(!memcmp(out[0], out[1], no * sizeof(float)) && !memcmp(pdx[0], pdx[1], n * sizeof(float)),
	   "maxpool: the same bytes with %d and %d threads", threads[0], threads[1]);
	for (t = 0; t < 2; t++)
		free(out[t]), free(dx[t]), free(dg[t]), free(da[t]), free(pdx[t]);
	free(x), free(g), free(b), free(dy), free(pdy), free(am);
}

/* The thread's number in the enclosing parallel region (0 outside one). */
static int in_team(void)
{
#ifdef _OPENMP
	return omp_get_thread_num();
#else
	return 0;
#endif
}

/*
 * Convolutions on the im2col path give the same bytes for 1 and 2
 * threads (a team of 2 at most, each thread its own tiles and sgemms) and
 * called from one thread of a parallel region (a team of 1 where 2 were
 * asked), and with 3 (one thread runs the tiles, OpenBLAS's three each
 * sgemm) the same outputs within 1e-5 of the largest:
 * groups shared out over an uneven batch, small (dweight whole) and not,
 * bands (where OpenBLAS's own threads changed dweight's bytes), a 1x1
 * convolution without workspace.
 */
static void test_conv_threads(void)
{
	static const struct conv2d_dims shapes[] = {
		{ 45, 4, 14, 14, 6, 3, 2, 1 },	/* 7x7: groups of 21, shared as 4 */
		{ 45, 64, 14, 14, 32, 3, 2, 1 },	/* the same, dweight split in two */
		{ 25, 9, 20, 20, 8, 1, 2, 0 },	/* 1x1 stride 2 in groups */
		{ 3, 64, 47, 49, 4, 3, 1, 1 },	/* two bands an image */
		{ 3, 8, 40, 40, 6, 1, 1, 0 },	/* 1x1 stride 1: the input is the matrix */
		{ 5, 3, 23, 37, 16, 3, 1, 1 },	/* the stem: convstem.c on AVX-512 */
	};
	const int threads[4] = { 1, 2, 3, 2 };

	for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
		const struct conv2d_dims *d = &shapes[i];
		const size_t ni = conv_in(d), no = conv_out(d), nw = conv_wt(d);
		float *x = rnd(ni, -1, 1), *w = rnd(nw, -1, 1), *dy = rnd(no, -1, 1);
		float *dx0 = rnd(ni, -1, 1), *dw0 = rnd(nw, -1, 1);
		float *work = rnd(conv2d_workspace(d), 0, 0), *y[4], *dx[4], *dw[4];
		int same = 1;
		for (int t = 0; t < 4; t++) {
			blas_set_threads(threads[t]);
			y[t] = rnd(no, 0, 0), dx[t] = copyf(dx0, ni), dw[t] = copyf(dw0, nw);
#ifdef _OPENMP
#pragma omp parallel num_threads(2) if (t == 3)
#endif
			if (!in_team()) {
				conv2d_forward(y[t], work, x, w, NULL, d);
				conv2d_backward(dx[t], dw[t], NULL, work, dy, x, w, d);
			}
			if (threads[t] == 3)
				same &= rel_err(y[t], y[0], no) < 1e-5 &&
					rel_err(dx[t], dx[0], ni) < 1e-5 &&
					rel_err(dw[t], dw[0], nw) < 1e-5;
			else if (t)
				same &= !memcmp(y[0], y[t], no * sizeof(float)) &&
					!memcmp(dx[0], dx[t], ni * sizeof(float)) &&
					!memcmp(dw[0], dw[t], nw * sizeof(float));
		}
		ok(same && !conv2d_uses_winograd(d),
		   "conv n%d c%d %dx%d oc%d k%d s%d: the same bytes for 1, 2 threads and nested, 3 within 1e-5",
		   d->n,
		   d->c, d->h, d->w, d->oc, d->k, d->stride);
		for (int t = 0; t < 4; t++)
			free(y[t]), free(dx[t]), free(dw[t]);
		free(x), free(w), free(dy), free(dx0), free(dw0), free(work);
	}
	blas_set_threads(1);
}

/*
 * The 3x3 stride-2 pad-1 forward by input phase (common/convs2.c), on odd
 * and even sizes, one image and groups, one band and several: called
 * directly on a whole batch (and on a band of rows) where wgemm's kernel
 * runs, and through conv2d_forward() on 1 and 2 threads; against the
 * double-precision reference within the im2col path's 1e-5 (each path's
 * error shown), the same bytes for 1 and 2 threads.
 */
static void test_convs2(void)
{
	static const struct conv2d_dims shapes[] = {
		{ 1, 5, 9, 11, 7, 3, 2, 1 },	/* odd h and w, one image, 5x6 output */
		{ 3, 16, 15, 8, 24, 3, 2, 1 },	/* odd h, even w, oc > c */
		{ 2, 64, 100, 101, 8, 3, 2, 1 },	/* bands of one image, odd w */
		{ 23, 12, 14, 13, 10, 3, 2, 1 },	/* 7x7 output, groups of images */
		{ 1, 3, 2, 1, 4, 3, 2, 1 },	/* a 1x1 output */
	};
	const int kernel = wgemm_kind() != WGEMM_BLAS;

	for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
		const struct conv2d_dims *d = &shapes[i];
		const int oh = conv2d_out_h(d), ow = conv2d_out_w(d);
		const size_t ni = conv_in(d), no = conv_out(d), nw = conv_wt(d);
		const size_t ohw = (size_t)oh * ow, room = (size_t)4 * d->n * d->c * (oh + 1) * (ow + 1);
		float *x = rnd(ni, -1, 1), *w = rnd(nw, -1, 1), *yr = rnd(no, 0, 0);
		float *work = rnd(conv2d_workspace(d), -9, 9), *xw = rnd(room, -9, 9);
		float *c = rnd(no, -9, 9), *y[3];
		double e[3];

		conv2d_forward_ref(yr, x, w, NULL, d);
		if (kernel) {
			/* c [oc, n*ohw] by images, then rows [1, oh) of image 0 again */
			int took = convs2_forward(c, (size_t)d->n * ohw, xw, room, x, w, d, d->n, 0, oh);
			float *band = rnd(d->oc * ohw, -9, 9);
			took &= !convs2_forward(c, 0, xw, room - 1, x, w, d, d->n, 0, oh);
			if (oh > 1)
				took &= convs2_forward(band + ow, ohw, xw, room, x, w, d, 1, 1, oh);
			float *yc = rnd(no, 0, 0);
			int ebad = 0;
			for (int t = 0; t < d->n; t++)
				for (int o = 0; o < d->oc; o++)
					for (size_t p = 0; p < ohw; p++) {
						const float g = c[(size_t)o * d->n * ohw + t * ohw + p];
						yc[((size_t)t * d->oc + o) * ohw + p] = g;
						if (t == 0 && p >= (size_t)ow && band[o * ohw + p] != g)
							ebad = 1;
					}
			const double err = rel_err(yc, yr, no);
			free(yc);
			ok(took && err < 1e-5 && !ebad,
			   "convs2 n%d c%d %dx%d oc%d: the phases' product matches the reference "
			   "(%.2g), a band its rows, no room no product", d->n, d->c, d->h, d->w,
			   d->oc, err);
			free(band);
		}
		/* 0: im2col path; 1, 2: the phases on 1 and 2 threads */
		for (int t = 0; t < 3; t++) {
			convs2_set(t > 0);
			blas_set_threads(t == 2 ? 2 : 1);
			y[t] = rnd(no, -9, 9);
			conv2d_forward(y[t], work, x, w, NULL, d);
			e[t] = rel_err(y[t], yr, no);
		}
		convs2_set(1);
		blas_set_threads(1);
		diag("n%d c%d %dx%d oc%d: forward error im2col %.2g, phases %.2g", d->n, d->c, d->h,
		     d->w, d->oc, e[0], e[1]);
		ok(e[1] < 1e-5 && !memcmp(y[1], y[2], no * sizeof(float)),
		   "convs2 n%d c%d %dx%d oc%d: conv2d_forward matches the reference, the same bytes "
		   "for 1 and 2 threads", d->n, d->c, d->h, d->w, d->oc);
		for (int t = 0; t < 3; t++)
			free(y[t]);
		free(x), free(w), free(yr), free(work), free(xw), free(c);
	}
}

/*
 * conv2d_forward_tap() and residual_forward_tap(): the stem's forward, or
 * a residual add, with on each band of its output a 1x1 stride-2 conv of
 * it and an eval batch norm (in place or not), against the layers run
 * apart: the conv's (the sum's) output and the norm's the same bytes, the
 * 1x1 conv within 1e-5 of the double reference (wgemm's sums: OpenBLAS's
 * bytes only on its SkylakeX core, for products it does not take its
 * small kernel for), the same bytes for 1 and 2 threads.  Odd sizes: a
 * short last band, odd rows and columns (the 1x1 conv's last row and
 * column read the last ones), channels not a multiple of wgemm's 8 rows;
 * and a 1x1 conv too narrow for the pass, which is refused.
 */
static void test_tap(void)
{
	static const struct { int add; struct conv2d_dims d; int sc_oc, bias, act, in_place; } cases[] = {
		{ 0, { 2, 3, 112, 112, 64, 3, 1, 1 }, 64, 1, 1, 1 },	/* IR-18's stem */
		{ 0, { 3, 3, 13, 25, 16, 3, 1, 1 }, 24, 1, 0, 0 },
		{ 0, { 1, 1, 19, 27, 8, 3, 1, 1 }, 5, 0, 1, 1 },
		{ 0, { 2, 4, 9, 16, 24, 3, 1, 1 }, 0, 1, 1, 0 },	/* the norm only */
		{ 0, { 2, 2, 11, 33, 8, 3, 1, 1 }, 16, 1, 1, -1 },	/* the 1x1 conv only */
		{ 0, { 1, 3, 8, 22, 8, 3, 1, 1 }, 8, 1, 0, 1 },	/* too narrow (44 columns) */
		{ 1, { 2, 64, 28, 28, 64, 1, 1, 0 }, 128, 1, 0, 1 },	/* IR-18's second stage */
		{ 1, { 3, 16, 13, 25, 16, 1, 1, 0 }, 24, 0, 1, 0 },
		{ 1, { 2, 8, 20, 30, 8, 1, 1, 0 }, 0, 0, 1, 1 },
		{ 1, { 2, 5, 9, 95, 5, 1, 1, 0 }, 9, 1, 1, -1 },
		{ 1, { 2, 8, 14, 14, 8, 1, 1, 0 }, 16, 1, 0, 1 },	/* too narrow (IR-18's 14x14) */
	};
	__builtin_cpu_init();
	const int kernels = __builtin_cpu_supports("avx512f") != 0 && wgemm_kind() != WGEMM_BLAS;

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const struct conv2d_dims *d = &cases[i].d;
		const int soc = cases[i].sc_oc, sh = (d->h + 1) / 2, sw = (d->w + 1) / 2;
		const int add = cases[i].add, narrow = soc && 4 * sw < 48;
		const struct conv2d_dims s = { d->n, d->oc, d->h, d->w, soc ? soc : 1, 1, 2, 0 };
		const size_t ni = add ? conv_out(d) : conv_in(d), no = conv_out(d);
		const size_t ns = (size_t)d->n * soc * sh * sw;
		size_t nwork = add ? 1 : conv2d_workspace(d);
		if (conv2d_workspace(&s) > nwork)
			nwork = conv2d_workspace(&s);
		float *x = rnd(ni, -1, 1), *w = add ? NULL : rnd(conv_wt(d), -1, 1);
		float *b = rnd(d->oc, -1, 1), *al = rnd(d->oc, -0.5, 1.5);
		float *ws = rnd((size_t)d->oc * soc + 1, -1, 1), *bs = rnd(soc + 1, -1, 1);
		float *as = rnd(soc + 1, -0.5, 1.5), *scale = rnd(d->oc, -2, 2);
		float *shift = rnd(d->oc, -1, 1), *an = rnd(d->oc, -0.5, 1.5);
		float *work = rnd(nwork, -9, 9), *out0 = rnd(no, -1, 1), *y0 = rnd(no, -9, 9);
		float *sc0 = rnd(ns + 1, -9, 9), *scr = rnd(ns + 1, 0, 0), *out[2], *y[2], *sc[2];
		float *a0 = copyf(out0, no);	/* the add's first term */
		const float *bias = cases[i].bias ? b : NULL, *alpha = cases[i].act ? al : NULL;
		const float *sc_bias = cases[i].bias ? bs : NULL, *sc_alpha = cases[i].act ? as : NULL;
		const int bn = cases[i].in_place >= 0;
		int took = 1, same;
		char what[96];

		snprintf(what, sizeof what, "%s tap n%d c%d %dx%d oc%d, 1x1 to %d", add ? "add" : "conv",
			 d->n, d->c, d->h, d->w, d->oc, soc);
		/* apart: the conv (the sum), the 1x1 conv of its output, the norm */
		if (add)
			residual_forward(out0, a0, x, no);
		else
			conv2d_forward_act(out0, work, x, w, bias, alpha, d);
		if (soc) {
			conv2d_forward_act(sc0, work, out0, ws, sc_bias, sc_alpha, &s);
			conv2d_forward_ref(scr, out0, ws, sc_bias, &s);
			if (sc_alpha)
				channel_affine_prelu(scr, scr, NULL, NULL, sc_alpha, d->n, soc, sh * sw);
		}
		if (bn)
			channel_affine_prelu(y0, out0, scale, shift, an, d->n, d->oc,
					     d->h * d->w);
		for (int t = 0; t < 2; t++) {
			out[t] = add ? copyf(a0, no) : rnd(no, -9, 9), sc[t] = rnd(ns + 1, -9, 9);
			sc[t][ns] = 7.0f;
			y[t] = cases[i].in_place > 0 ? out[t] : rnd(no, -9, 9);
			struct conv2d_tap tap = { soc ? sc[t] : NULL, ws, sc_bias, sc_alpha, soc,
						  bn ? y[t] : NULL, scale, shift, an };
			omp_set_num_threads(t + 1);
			took &= add ? residual_forward_tap(out[t], out[t], x, &tap, d->n, d->c, d->h,
							   d->w)
				    : conv2d_forward_tap(out[t], work, x, w, bias, alpha, &tap, d);
		}
		omp_set_num_threads(1);
		if (!kernels || narrow) {
			ok(!took, "%s: no pass (%s)", what,
			   kernels ? "too narrow" : "no kernels on this CPU");
			goto next;
		}
		same = !memcmp(out[0], out[1], no * sizeof(float)) &&
		       !memcmp(sc[0], sc[1], ns * sizeof(float)) &&
		       (!bn || !memcmp(y[0], y[1], no * sizeof(float)));
		ok(took && same, "%s: taken, the same bytes for 1 and 2 threads", what);
		if (cases[i].in_place <= 0)
			ok(!memcmp(out[0], out0, no * sizeof(float)),
			   "%s: the output is the bytes of the layer apart", what);
		if (bn)
			ok(!memcmp(y[0], y0, no * sizeof(float)),
			   "%s: the norm's output is channel_affine_prelu()'s bytes", what);
		if (soc) {
			is_close(sc[0], scr, ns, 1e-5, "%s: the 1x1 conv matches the reference", what);
			ok(sc[0][ns] == 7.0f && sc[1][ns] == 7.0f,
			   "%s: nothing written past the 1x1 conv's output",
			   what);
			diag("%s: 1x1 conv apart vs tap: %g relative", what, rel_err(sc[0], sc0, ns));
		}
next:
		for (int t = 0; t < 2; t++) {
			if (y[t] != out[t])
				free(y[t]);
			free(out[t]), free(sc[t]);
		}
		free(x), free(w), free(b), free(al), free(ws), free(bs), free(as), free(scale);
		free(shift), free(an), free(work), free(out0), free(y0), free(sc0), free(scr), free(a0);
	}
}

int main(void)
{
	rng_seed(&R, 2024);
	test_conv();
	test_bn();
	test_prelu();
	test_relu_residual();
	test_dropout();
	test_maxpool();
	test_linear();
	test_threads();
	test_conv_threads();
	test_convs2();
	test_tap();
	return done_testing();
}
