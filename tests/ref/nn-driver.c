/*
 * nn-driver: runs one layer of common/nn.c forward and backward for
 * tests/ref/nn_torch.py.  Reads raw little-endian float32 from stdin and
 * writes raw float32 (int32 for argmax) to stdout, in the orders below.
 * Gradient buffers start at zero; dout is the upstream gradient.
 *
 *   conv N C H W OC K S P BIAS   in: x, w [OC,C,K,K], b [OC] if BIAS, dout
 *                                out: y, dx, dw, db if BIAS
 *   linear N IC OC BIAS          in: x [N,IC], w [OC,IC], b if BIAS, dout
 *                                out: y, dx, dw, db if BIAS
 *   bn N C HW EPS MOM AFFINE     in: x, gamma, beta if AFFINE, running mean,
 *                                    running var, dout
 *                                out: y (training mode), dx, dgamma, dbeta if
 *                                     AFFINE, running mean, running var (both
 *                                     updated), y again in eval mode with the
 *                                     updated running statistics
 *   prelu N C HW                 in: x, alpha [C], dout   out: y, dx, dalpha
 *   relu n                       in: x, dout              out: y, dx
 *   maxpool N C H W K S P        in: x, dout              out: y, dx, argmax (int32)
 *   dropout n P SEED             in: x, dout              out: y, mask (0/1), dx
 *   residual n                   in: a, b, dout           out: y, da, db
 *
 * Exit 1 on a short read or failed write, 2 on bad usage.
 */
#include "blas.h"
#include "err.h"
#include "nn.h"
#include "rng.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static float *in_f(size_t n, const char *what)
{
	float *p = xcalloc(n ? n : 1, sizeof *p);
	if (fread(p, sizeof *p, n, stdin) != n)
		die("stdin: short read in %s", what);
	return p;
}

static float *zeros(size_t n)
{
	return xcalloc(n ? n : 1, sizeof(float));
}

static void out_f(const void *p, size_t size, size_t n)
{
	if (fwrite(p, size, n, stdout) != n)
		die("stdout: write failed");
}

static int arg_int(char **argv, int i, int lo)
{
	char *end;
	long v = strtol(argv[i], &end, 10);
	if (*end || v < lo || v > 1 << 24)
		die_usage("'%s': not an integer >= %d", argv[i], lo);
	return (int)v;
}

static float arg_float(char **argv, int i)
{
	char *end;
	double v = strtod(argv[i], &end);
	if (*end)
		die_usage("'%s': not a number", argv[i]);
	return (float)v;
}

static void need(int argc, int n, const char *usage)
{
	if (argc != n)
		die_usage("usage: nn-driver %s", usage);
}

static void run_conv(int argc, char **argv)
{
	need(argc, 11, "conv N C H W OC K S P BIAS");
	struct conv2d_dims d = { arg_int(argv, 2, 1), arg_int(argv, 3, 1), arg_int(argv, 4, 1),
				 arg_int(argv, 5, 1), arg_int(argv, 6, 1), arg_int(argv, 7, 1),
				 arg_int(argv, 8, 1), arg_int(argv, 9, 0) };
	int bias = arg_int(argv, 10, 0);
	size_t ni = (size_t)d.n * d.c * d.h * d.w, nw = (size_t)d.oc * d.c * d.k * d.k;
	size_t no = (size_t)d.n * d.oc * conv2d_out_h(&d) * conv2d_out_w(&d);
	float *x = in_f(ni, "x"), *w = in_f(nw, "w"), *b = bias ? in_f(d.oc, "b") : NULL;
	float *dy = in_f(no, "dout"), *y = zeros(no), *work = zeros(conv2d_workspace(&d));
	float *dx = zeros(ni), *dw = zeros(nw), *db = zeros(d.oc);

	conv2d_forward(y, work, x, w, b, &d);
	conv2d_backward(dx, dw, bias ? db : NULL, work, dy, x, w, &d);
	out_f(y, sizeof *y, no);
	out_f(dx, sizeof *dx, ni);
	out_f(dw, sizeof *dw, nw);
	if (bias)
		out_f(db, sizeof *db, d.oc);
	free(x), free(w), free(b), free(dy), free(y), free(work), free(dx), free(dw), free(db);
}

static void run_linear(int argc, char **argv)
{
	need(argc, 6, "linear N IC OC BIAS");
	int N = arg_int(argv, 2, 1), IC = arg_int(argv, 3, 1), OC = arg_int(argv, 4, 1);
	int bias = arg_int(argv, 5, 0);
	float *x = in_f((size_t)N * IC, "x"), *w = in_f((size_t)OC * IC, "w");
	float *b = bias ? in_f(OC, "b") : NULL, *dy = in_f((size_t)N * OC, "dout");
	float *y = zeros((size_t)N * OC), *dx = zeros((size_t)N * IC);
	float *dw = zeros((size_t)OC * IC), *db = zeros(OC);

	linear_forward(y, x, w, b, N, IC, OC);
	linear_backward(dx, dw, bias ? db : NULL, dy, x, w, N, IC, OC);
	out_f(y, sizeof *y, (size_t)N * OC);
	out_f(dx, sizeof *dx, (size_t)N * IC);
	out_f(dw, sizeof *dw, (size_t)OC * IC);
	if (bias)
		out_f(db, sizeof *db, OC);
	free(x), free(w), free(b), free(dy), free(y), free(dx), free(dw), free(db);
}

static void run_bn(int argc, char **argv)
{
	need(argc, 8, "bn N C HW EPS MOM AFFINE");
	int N = arg_int(argv, 2, 1), C = arg_int(argv, 3, 1), HW = arg_int(argv, 4, 1);
	float eps = arg_float(argv, 5), mom = arg_float(argv, 6);
	int affine = arg_int(argv, 7, 0);
	size_t n = (size_t)N * C * HW;
	float *x = in_f(n, "x"), *g = affine ? in_f(C, "gamma") : NULL;
	float *b = affine ? in_f(C, "beta") : NULL;
	float *rm = in_f(C, "running mean"), *rv = in_f(C, "running var"), *dy = in_f(n, "dout");
	float *y = zeros(n), *ye = zeros(n), *mu = zeros(C), *is = zeros(C), *dx = zeros(n);
	float *dg = zeros(C), *db = zeros(C);

	batchnorm_forward(y, mu, is, rm, rv, x, g, b, N, C, HW, eps, mom);
	batchnorm_backward(dx, affine ? dg : NULL, affine ? db : NULL, dy, x, g, mu, is, N, C, HW);
	batchnorm_forward_eval(ye, x, g, b, rm, rv, N, C, HW, eps);
	out_f(y, sizeof *y, n);
	out_f(dx, sizeof *dx, n);
	if (affine) {
		out_f(dg, sizeof *dg, C);
		out_f(db, sizeof *db, C);
	}
	out_f(rm, sizeof *rm, C);
	out_f(rv, sizeof *rv, C);
	out_f(ye, sizeof *ye, n);
	free(x), free(g), free(b), free(rm), free(rv), free(dy), free(y), free(ye);
	free(mu), free(is), free(dx), free(dg), free(db);
}

static void run_prelu(int argc, char **argv)
{
	need(argc, 5, "prelu N C HW");
	int N = arg_int(argv, 2, 1), C = arg_int(argv, 3, 1), HW = arg_int(argv, 4, 1);
	size_t n = (size_t)N * C * HW;
	float *x = in_f(n, "x"), *a = in_f(C, "alpha"), *dy = in_f(n, "dout");
	float *y = zeros(n), *dx = zeros(n), *da = zeros(C);

	prelu_forward(y, x, a, N, C, HW);
	prelu_backward(dx, da, dy, x, a, N, C, HW);
	out_f(y, sizeof *y, n);
	out_f(dx, sizeof *dx, n);
	out_f(da, sizeof *da, C);
	free(x), free(a), free(dy), free(y), free(dx), free(da);
}

static void run_relu(int argc, char **argv)
{
	need(argc, 3, "relu n");
	size_t n = (size_t)arg_int(argv, 2, 1);
	float *x = in_f(n, "x"), *dy = in_f(n, "dout"), *y = zeros(n), *dx = zeros(n);

	relu_forward(y, x, n);
	relu_backward(dx, dy, x, n);
	out_f(y, sizeof *y, n);
	out_f(dx, sizeof *dx, n);
	free(x), free(dy), free(y), free(dx);
}

static void run_maxpool(int argc, char **argv)
{
	need(argc, 9, "maxpool N C H W K S P");
	int N = arg_int(argv, 2, 1), C = arg_int(argv, 3, 1), H = arg_int(argv, 4, 1);
	int W = arg_int(argv, 5, 1), k = arg_int(argv, 6, 1), s = arg_int(argv, 7, 1);
	int p = arg_int(argv, 8, 0);
	size_t ni = (size_t)N * C * H * W;
	size_t no = (size_t)N * C * nn_out_size(H, k, s, p) * nn_out_size(W, k, s, p);
	float *x = in_f(ni, "x"), *dy = in_f(no, "dout"), *y = zeros(no), *dx = zeros(ni);
	int32_t *am = xcalloc(no, sizeof *am);

	maxpool_forward(y, am, x, N, C, H, W, k, s, p);
	maxpool_backward(dx, dy, am, N, C, H, W, k, s, p);
	out_f(y, sizeof *y, no);
	out_f(dx, sizeof *dx, ni);
	out_f(am, sizeof *am, no);
	free(x), free(dy), free(y), free(dx), free(am);
}

static void run_dropout(int argc, char **argv)
{
	need(argc, 5, "dropout n P SEED");
	size_t n = (size_t)arg_int(argv, 2, 1);
	float p = arg_float(argv, 3);
	struct rng r;
	float *x = in_f(n, "x"), *dy = in_f(n, "dout"), *y = zeros(n), *dx = zeros(n);
	float *mf = zeros(n);
	uint8_t *m = xcalloc(n, 1);

	rng_seed(&r, (uint64_t)arg_int(argv, 4, 0));
	dropout_forward(y, m, &r, x, p, n);
	dropout_backward(dx, dy, m, p, n);
	for (size_t i = 0; i < n; i++)
		mf[i] = m[i];
	out_f(y, sizeof *y, n);
	out_f(mf, sizeof *mf, n);
	out_f(dx, sizeof *dx, n);
	free(x), free(dy), free(y), free(dx), free(mf), free(m);
}

static void run_residual(int argc, char **argv)
{
	need(argc, 3, "residual n");
	size_t n = (size_t)arg_int(argv, 2, 1);
	float *a = in_f(n, "a"), *b = in_f(n, "b"), *dy = in_f(n, "dout");
	float *y = zeros(n), *da = zeros(n), *db = zeros(n);

	residual_forward(y, a, b, n);
	residual_backward(da, db, dy, n);
	out_f(y, sizeof *y, n);
	out_f(da, sizeof *da, n);
	out_f(db, sizeof *db, n);
	free(a), free(b), free(dy), free(y), free(da), free(db);
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		void (*run)(int, char **);
	} layers[] = {
		{ "conv", run_conv }, { "linear", run_linear }, { "bn", run_bn },
		{ "prelu", run_prelu }, { "relu", run_relu }, { "maxpool", run_maxpool },
		{ "dropout", run_dropout }, { "residual", run_residual },
	};

	hm_set_progname(argv[0]);
	if (blas_init(argc, argv))
		warn("%s", hm_errmsg());
	if (argc < 2)
		die_usage("usage: nn-driver LAYER ARGS... (see tests/ref/nn-driver.c)");
	for (size_t i = 0; i < sizeof layers / sizeof layers[0]; i++)
		if (!strcmp(argv[1], layers[i].name)) {
			layers[i].run(argc, argv);
			if (fflush(stdout))
				die("stdout: write failed");
			return 0;
		}
	die_usage("'%s': unknown layer", argv[1]);
}
