/*
 * Margin losses and hard mining: central finite differences of the batch
 * loss for every loss x every hard-mining mode, both sides of every
 * branch (arcface's th fallback and easy margin, A-Softmax's k), the
 * forward values against direct trigonometry, OHEM's selection, the
 * parsers and the error paths.  PyTorch comparisons at realistic sizes
 * are in tests/ref/loss_torch.py.
 */
#include "tap.h"
#include "err.h"
#include "loss.h"
#include "rng.h"

enum { B = 6, D = 5, C = 4 };

struct batch {
	float x[B * D], W[C * D], b[C];
	int y[B];
};

/* Target angles, one per sample, chosen to land on every branch and at
 * least 0.1 rad from every kink:
 *   arcface (m = 0.5): th at theta = pi - m = 2.64; 2.9 falls back
 *   easy margin: phi below pi/2 (0.3, 1.0, 1.3), cos above
 *   A-Softmax (m = 4): k = 0 (0.3), 1 (1.0, 1.3), 2 (1.9), 3 (2.5, 2.9) */
static const double theta[B] = { 0.3, 1.0, 1.9, 2.5, 2.9, 1.3 };

static double dot(const float *a, const float *b, int n)
{
	double s = 0;
	for (int k = 0; k < n; k++)
		s += (double)a[k] * b[k];
	return s;
}

/* Random W, b, labels; x_i = a_i (cos t_i What_y + sin t_i u_i) with u_i
 * a random unit vector orthogonal to What_y, so cos_iy = cos t_i. */
static void make_batch(struct batch *bt, uint64_t seed)
{
	struct rng r;
	rng_seed(&r, seed);
	for (int k = 0; k < C * D; k++)
		bt->W[k] = (float)rng_normal(&r);
	for (int j = 0; j < C; j++)
		bt->b[j] = (float)rng_range(&r, -0.5, 0.5);
	for (int i = 0; i < B; i++) {
		double w[D], u[D], nw, nu, a = rng_range(&r, 1.0, 3.0);
		bt->y[i] = (int)rng_below(&r, C);
		nw = sqrt(dot(bt->W + bt->y[i] * D, bt->W + bt->y[i] * D, D));
		for (int k = 0; k < D; k++) {
			w[k] = bt->W[bt->y[i] * D + k] / nw;
			u[k] = rng_normal(&r);
		}
		double uw = 0;
		for (int k = 0; k < D; k++)
			uw += u[k] * w[k];
		nu = 0;
		for (int k = 0; k < D; k++) {
			u[k] -= uw * w[k];
			nu += u[k] * u[k];
		}
		nu = sqrt(nu);
		for (int k = 0; k < D; k++)
			bt->x[i * D + k] = (float)(a * (cos(theta[i]) * w[k] +
						       sin(theta[i]) * u[k] / nu));
	}
}

static float ws[B * C * 2 + 6 * B + 2 * C];

/* When set, loss_at() gives the surrogate sum_i frozen_w[i] L_i (L_i of
 * the loss without hard mining) instead of the batch loss: the function
 * whose gradient the detached modes (powern, pivot, focaln) compute, their
 * weights held constant. */
static const float *frozen_w;

static float loss_at(const struct batch *bt, const struct loss_config *c,
		     long iter)
{
	struct loss_out o = { 0 };
	struct loss_config cc = *c;
	float L[B];
	if (frozen_w) {
		cc.hm = HM_NONE, cc.hm_param = 0;
		o.sample_loss = L;
	}
	if (loss_forward_backward(&o, NULL, NULL, NULL, ws, bt->x, bt->y, bt->W,
				  bt->b, &cc, iter, B, D, C) < 0)
		return NAN;
	if (!frozen_w)
		return o.loss;
	double sum = 0;
	for (int i = 0; i < B; i++)
		sum += (double)frozen_w[i] * L[i];
	return (float)sum;
}

/*
 * Central differences on one tensor (v, n entries) of bt, against the
 * analytic gradient g.  Error measure: max |fd - g| / max(max |g|, 1e-3).
 * Float FD with h = 1e-3 (relative) is the best step here: measured at
 * most 1.1e-3 of the scale; smaller h is rounding, larger truncation.
 */
static double fd_error(struct batch *bt, float *v, int n, const float *g,
		       const struct loss_config *c, long iter)
{
	double worst = 0, scale = 1e-3;
	for (int k = 0; k < n; k++)
		scale = fmax(scale, fabs(g[k]));
	for (int k = 0; k < n; k++) {
		float keep = v[k];
		float h = 1e-3f * fmaxf(1.0f, fabsf(keep));
		v[k] = keep + h;
		double up = loss_at(bt, c, iter);
		v[k] = keep - h;
		double down = loss_at(bt, c, iter);
		v[k] = keep;
		double fd = (up - down) / (2.0 * h);
		worst = fmax(worst, fabs(fd - g[k]) / scale);
	}
	return worst;
}

static void fd_check(const char *what, const struct loss_config *c,
		     long iter, uint64_t seed)
{
	struct batch bt;
	float dx[B * D] = { 0 }, dW[C * D] = { 0 }, db[C] = { 0 };
	struct loss_out o = { 0 };
	make_batch(&bt, seed);
	if (!ok(loss_forward_backward(&o, dx, dW, db, ws, bt.x, bt.y, bt.W,
				      bt.b, c, iter, B, D, C) == 0 &&
		isfinite(o.loss), "%s: forward", what))
		diag("  %s", hm_errmsg());
	double ex = fd_error(&bt, bt.x, B * D, dx, c, iter);
	double eW = fd_error(&bt, bt.W, C * D, dW, c, iter);
	if (!ok(ex < 3e-3 && eW < 3e-3, "%s: dx, dW match central differences",
		what))
		diag("  error dx %.3g, dW %.3g (of max |grad|)", ex, eW);
	if (c->kind == LOSS_SOFTMAX) {
		double eb = fd_error(&bt, bt.b, C, db, c, iter);
		if (!ok(eb < 3e-3, "%s: db matches central differences", what))
			diag("  error db %.3g", eb);
	} else {
		float zero[C] = { 0 };
		ok(!memcmp(db, zero, sizeof db), "%s: db untouched", what);
	}
}

static void test_gradients(void)
{
	static const char *const hms[] = {
		"none", "power", "power:0.5", "focal", "focal:0.5", "ohem:0.5",
	};
	/* Then arcface and cosface again at s = 4, where p_i is neither 0
	 * nor 1 and the focal weight's p_i term matters. */
	for (int k = 0; k < 6; k++) {
		struct loss_config c;
		for (unsigned h = 0; h < sizeof hms / sizeof *hms; h++) {
			char what[64];
			loss_config_default(&c, (enum loss_kind)(k < 4 ? k
								 : k - 2));
			if (k >= 4)
				c.s = 4;
			loss_hm_parse(&c.hm, &c.hm_param, hms[h]);
			snprintf(what, sizeof what, "%s%s --hm %s",
				 loss_kind_name(c.kind), k >= 4 ? " s=4" : "",
				 hms[h]);
			fd_check(what, &c, 3, 11 + k);
		}
	}
	/* The other arcface branch, smaller scales, a late A-Softmax lambda. */
	struct loss_config c;
	loss_config_default(&c, LOSS_ARCFACE);
	c.easy_margin = 1;
	fd_check("arcface --easy-margin", &c, 0, 21);
	c.hm = HM_POWER, c.hm_param = 2;
	fd_check("arcface --easy-margin --hm power", &c, 0, 22);
	loss_config_default(&c, LOSS_ARCFACE);
	c.s = 8, c.m = 0.3f;
	fd_check("arcface s=8 m=0.3", &c, 0, 23);
	loss_config_default(&c, LOSS_COSFACE);
	c.m = 0.6f;
	fd_check("cosface m=0.6", &c, 0, 24);
	loss_config_default(&c, LOSS_ASOFTMAX);
	fd_check("asoftmax iter 100000 (lambda 5)", &c, 100000, 25);
	c.m = 2;
	fd_check("asoftmax m=2", &c, 1000, 26);
}

/* The target logits against direct trigonometry (not Chebyshev, not the
 * addition formula), so that each branch is proven to be taken. */
static void test_branches(void)
{
	struct batch bt;
	struct loss_config c;
	struct loss_out o = { 0 };
	float z[B * C];
	double worst;
	o.logits = z;
	make_batch(&bt, 5);

	loss_config_default(&c, LOSS_ARCFACE);
	loss_forward_backward(&o, NULL, NULL, NULL, ws, bt.x, bt.y, bt.W, bt.b,
			      &c, 0, B, D, C);
	worst = 0;
	for (int i = 0; i < B; i++) {
		double want = theta[i] < M_PI - 0.5
			? cos(theta[i] + 0.5)
			: cos(theta[i]) - 0.5 * sin(0.5);
		worst = fmax(worst, fabs(z[i * C + bt.y[i]] - 64 * want));
	}
	ok(worst < 1e-3, "arcface: cos(t+m) below pi-m, "
	   "cos t - m sin m beyond (max err %.2g)", worst);

	c.easy_margin = 1;
	loss_forward_backward(&o, NULL, NULL, NULL, ws, bt.x, bt.y, bt.W, bt.b,
			      &c, 0, B, D, C);
	worst = 0;
	for (int i = 0; i < B; i++) {
		double want = theta[i] < M_PI / 2 ? cos(theta[i] + 0.5)
						  : cos(theta[i]);
		worst = fmax(worst, fabs(z[i * C + bt.y[i]] - 64 * want));
	}
	ok(worst < 1e-3, "arcface easy margin: cos(t+m) where cos > 0, cos t "
	   "elsewhere (max err %.2g)", worst);

	loss_config_default(&c, LOSS_COSFACE);
	loss_forward_backward(&o, NULL, NULL, NULL, ws, bt.x, bt.y, bt.W, bt.b,
			      &c, 0, B, D, C);
	worst = 0;
	for (int i = 0; i < B; i++)
		for (int j = 0; j < C; j++) {
			double cs = dot(bt.x + i * D, bt.W + j * D, D) /
				    sqrt(dot(bt.x + i * D, bt.x + i * D, D) *
					 dot(bt.W + j * D, bt.W + j * D, D));
			worst = fmax(worst, fabs(z[i * C + j] -
						 64 * (cs - (j == bt.y[i]) * 0.35)));
		}
	ok(worst < 1e-3, "cosface: s (cos - m) target, s cos others (max err "
	   "%.2g)", worst);

	loss_config_default(&c, LOSS_ASOFTMAX);
	long iter = 10;
	double lambda = 1000 / (1 + 0.12 * iter);
	is_near(loss_asoftmax_lambda(&c, iter), lambda, 1e-6 * lambda,
		"asoftmax: lambda = 1000 / (1 + 0.12 iter)");
	is_near(loss_asoftmax_lambda(&c, 0), 1000, 1e-9, "lambda at iter 0");
	is_near(loss_asoftmax_lambda(&c, 1000000), 5, 0,
		"lambda floored at lambda_min");
	loss_forward_backward(&o, NULL, NULL, NULL, ws, bt.x, bt.y, bt.W, bt.b,
			      &c, iter, B, D, C);
	worst = 0;
	for (int i = 0; i < B; i++) {
		double nx = sqrt(dot(bt.x + i * D, bt.x + i * D, D));
		int k = (int)floor(4 * theta[i] / M_PI);
		double psi = (k % 2 ? -1 : 1) * cos(4 * theta[i]) - 2 * k;
		double want = nx * (lambda * cos(theta[i]) + psi) / (1 + lambda);
		worst = fmax(worst, fabs(z[i * C + bt.y[i]] - want));
	}
	ok(worst < 1e-4, "asoftmax: |x| (lambda cos + psi)/(1 + lambda) for "
	   "k = 0..3 (max err %.2g)", worst);
	c.lambda_min = 0;
	loss_forward_backward(&o, NULL, NULL, NULL, ws, bt.x, bt.y, bt.W, bt.b,
			      &c, 1L << 40, B, D, C);
	worst = 0;
	for (int i = 0; i < B; i++) {
		double nx = sqrt(dot(bt.x + i * D, bt.x + i * D, D));
		int k = (int)floor(4 * theta[i] / M_PI);
		double psi = (k % 2 ? -1 : 1) * cos(4 * theta[i]) - 2 * k;
		worst = fmax(worst, fabs(z[i * C + bt.y[i]] - nx * psi));
	}
	ok(worst < 1e-4, "asoftmax with lambda -> 0: |x| psi (max err %.2g)",
	   worst);
}

/* Batch loss = the mining transform of the per-sample losses, which are
 * the cross-entropy of the logits (checked in double here). */
static void test_values(void)
{
	struct batch bt;
	struct loss_config c;
	float L[B], w[B], z[B * C];
	int pred[B], pred2[B];
	struct loss_out o = { .sample_loss = L, .sample_weight = w,
			      .logits = z, .pred = pred };
	make_batch(&bt, 7);
	loss_config_default(&c, LOSS_SOFTMAX);
	loss_forward_backward(&o, NULL, NULL, NULL, ws, bt.x, bt.y, bt.W, bt.b,
			      &c, 0, B, D, C);
	double worst = 0, mean = 0;
	int correct = 0;
	for (int i = 0; i < B; i++) {
		double zz[C], mx = -INFINITY, s = 0;
		int best = 0;
		for (int j = 0; j < C; j++) {
			zz[j] = dot(bt.x + i * D, bt.W + j * D, D) + bt.b[j];
			mx = fmax(mx, zz[j]);
			if (zz[j] > zz[best])
				best = j;
		}
		for (int j = 0; j < C; j++)
			s += exp(zz[j] - mx);
		double l = mx + log(s) - zz[bt.y[i]];
		worst = fmax(worst, fabs(L[i] - l) / fmax(1, l));
		mean += l / B;
		correct += best == bt.y[i];
		worst = fmax(worst, pred[i] != best);
	}
	ok(worst < 1e-5, "softmax: per-sample cross-entropy and argmax");
	is_near(o.loss, mean, 1e-5 * mean, "softmax: loss is the batch mean");
	is_int(o.n_correct, correct, "softmax: correct count");
	loss_predict(pred2, ws, bt.x, bt.W, bt.b, &c, B, D, C);
	ok(!memcmp(pred, pred2, sizeof pred), "loss_predict agrees");

	loss_config_default(&c, LOSS_ARCFACE);
	c.s = 4;
	static const char *const hms[] = { "power:2", "power:3", "focal:2",
					   "focal:0" };
	for (int h = 0; h < 4; h++) {
		loss_hm_parse(&c.hm, &c.hm_param, hms[h]);
		loss_forward_backward(&o, NULL, NULL, NULL, ws, bt.x, bt.y,
				      bt.W, bt.b, &c, 0, B, D, C);
		double want = 0, g = c.hm_param;
		for (int i = 0; i < B; i++)
			want += (c.hm == HM_POWER ? pow(L[i], g)
				 : pow(1 - exp(-L[i]), g) * L[i]) / B;
		is_near(o.loss, want, 1e-5 * want, "arcface --hm %s: value",
			hms[h]);
	}
	/* Each sample has the argmax of its cosines, the margin aside. */
	loss_predict(pred2, ws, bt.x, bt.W, NULL, &c, B, D, C);
	worst = 0;
	for (int i = 0; i < B; i++) {
		int best = 0;
		double bc = -2;
		for (int j = 0; j < C; j++) {
			double cs = dot(bt.x + i * D, bt.W + j * D, D) /
				    sqrt(dot(bt.W + j * D, bt.W + j * D, D));
			if (cs > bc)
				bc = cs, best = j;
		}
		worst = fmax(worst, pred2[i] != best || pred[i] != best);
	}
	ok(worst == 0, "arcface: prediction is the argmax of cos");
}

static void test_ohem(void)
{
	enum { N = 10 };
	float x[N * 2], W[3 * 2] = { 1, 0, 0, 1, -1, -1 };
	float dx[N * 2] = { 0 }, L[N], w[N];
	int y[N];
	static float big[N * 3 * 2 + 6 * N + 2 * 3];
	struct loss_config c;
	struct loss_out o = { .sample_loss = L, .sample_weight = w };
	loss_config_default(&c, LOSS_COSFACE);
	c.s = 4;

	/* All samples equal: the first ceil(0.3 * 10) = 3 indices are kept. */
	for (int i = 0; i < N; i++)
		x[2 * i] = 0.8f, x[2 * i + 1] = 0.6f, y[i] = 1;
	loss_hm_parse(&c.hm, &c.hm_param, "ohem:0.3");
	loss_forward_backward(&o, dx, NULL, NULL, big, x, y, W, NULL, &c, 0, N,
			      2, 3);
	int kept = 0, first = 1;
	for (int i = 0; i < N; i++) {
		int nz = dx[2 * i] != 0 || dx[2 * i + 1] != 0;
		kept += w[i] != 0;
		first &= (i < 3) == (w[i] != 0) && nz == (i < 3);
	}
	is_int(kept, 3, "ohem:0.3 of 10 keeps exactly 3 (not 4: 0.3f*10 > 3)");
	ok(first, "equal losses: the lowest indices are kept, the rest get no "
	   "gradient");
	is_near(o.loss, L[0], 1e-6, "ohem loss is the kept samples' mean");

	/* Distinct losses: the hardest ceil(0.25 * 10) = 3 are kept. */
	for (int i = 0; i < N; i++) {
		double a = 0.3 * i;
		x[2 * i] = (float)cos(a), x[2 * i + 1] = (float)sin(a);
		y[i] = i % 3;
	}
	loss_hm_parse(&c.hm, &c.hm_param, "ohem:0.25");
	loss_forward_backward(&o, NULL, NULL, NULL, big, x, y, W, NULL, &c, 0,
			      N, 2, 3);
	int good = 1;
	double sum = 0;
	kept = 0;
	for (int i = 0; i < N; i++) {
		int harder = 0;
		for (int j = 0; j < N; j++)
			harder += L[j] > L[i];
		good &= (harder < 3) == (w[i] != 0);
		if (w[i] != 0)
			sum += L[i], kept++;
		good &= w[i] == 0 || fabsf(w[i] - 1.0f / 3) < 1e-7;
	}
	is_int(kept, 3, "ohem:0.25 of 10 keeps ceil(2.5) = 3");
	ok(good, "ohem keeps the largest losses, weight 1/K each");
	is_near(o.loss, sum / 3, 1e-6, "ohem loss = mean of the kept");
	loss_hm_parse(&c.hm, &c.hm_param, "ohem:1");
	loss_forward_backward(&o, NULL, NULL, NULL, big, x, y, W, NULL, &c, 0,
			      N, 2, 3);
	kept = 0;
	for (int i = 0; i < N; i++)
		kept += w[i] != 0;
	is_int(kept, N, "ohem:1 keeps everything");
	loss_hm_parse(&c.hm, &c.hm_param, "ohem:0.01");
	loss_forward_backward(&o, NULL, NULL, NULL, big, x, y, W, NULL, &c, 0,
			      N, 2, 3);
	kept = 0;
	for (int i = 0; i < N; i++)
		kept += w[i] != 0;
	is_int(kept, 1, "ohem:0.01 keeps at least one");
}

/* The other process of a two-process job, for test_ohem_shards(): its
 * losses, added where its shard lies. */
static const float *other_L;
static int other_at, other_n;

static int fake_sum(float *buf, size_t n)
{
	for (int i = 0; i < other_n; i++)
		buf[other_at + i] += other_L[i];
	return n == (size_t)2 * other_n ? 0 : -1;
}

/* Two shards of 5 (loss_config.shard) keep what one process of 10 keeps,
 * with N/K weights and N/K-scaled losses summing to one process's. */
static void test_ohem_shards(void)
{
	enum { N = 10, H = N / 2 };
	float x[N * 2], W[3 * 2] = { 1, 0, 0, 1, -1, -1 };
	float L[N], w[N], L2[2][H], w2[2][H], loss2[2];
	int y[N];
	static float big[N * 3 * 2 + 6 * N + 2 * 3];
	struct loss_config c;
	loss_config_default(&c, LOSS_COSFACE);
	c.s = 4;
	loss_hm_parse(&c.hm, &c.hm_param, "ohem:0.3");
	/* The hardest three all in the second half: a per-shard choice would
	 * keep two of each half. */
	for (int i = 0; i < N; i++) {
		double a = i < H ? 0.1 * i : 2.0 + 0.3 * i;
		x[2 * i] = (float)cos(a), x[2 * i + 1] = (float)sin(a);
		y[i] = 0;
	}
	struct loss_out o = { .sample_loss = L, .sample_weight = w };
	loss_forward_backward(&o, NULL, NULL, NULL, big, x, y, W, NULL, &c, 0, N, 2, 3);
	for (int s = 0; s < 2; s++) {	/* each shard's own losses first */
		struct loss_out os = { .sample_loss = L2[s] };
		loss_forward_backward(&os, NULL, NULL, NULL, big, x + 2 * H * s, y, W, NULL,
				      &c, 0, H, 2, 3);
	}
	int rc = 0;
	for (int s = 0; s < 2; s++) {
		struct loss_out os = { .sample_weight = w2[s] };
		other_L = L2[1 - s], other_at = H * (1 - s), other_n = H;
		struct loss_config cs = c;
		cs.shard = (struct loss_shard){ 2, s, fake_sum };
		rc |= loss_forward_backward(&os, NULL, NULL, NULL, big, x + 2 * H * s, y, W,
					    NULL, &cs, 0, H, 2, 3);
		loss2[s] = os.loss;
	}
	int same = 1, kept_second = 0;
	for (int i = 0; i < N; i++) {
		same &= w2[i / H][i % H] == 2 * w[i];
		kept_second += i >= H && w[i] != 0;
	}
	is_int(rc, 0, "sharded ohem: both shards computed");
	is_int(kept_second, 3, "the three hardest lie in the second shard");
	ok(same, "each shard weights its samples 2/K where one process weights 1/K");
	is_near((loss2[0] + loss2[1]) / 2, o.loss, 1e-6,
		"the shards' losses average to one process's");
}

/* The largest FD error and normalisation error the detached modes saw,
 * reported at the end (the figures the closing note asks for). */
static double worst_fd_detached, worst_norm_detached;

/*
 * The detached modes: the analytic gradient against central differences
 * of the surrogate sum_i w_i L_i with the weights w_i frozen at their
 * values (sample_weight), the reported loss equal to that surrogate, and
 * the weights themselves against their formulas: sum_i u_i q_i = sum_i q_i
 * for powern and focaln, u_i = (L_i / P)^(g-1) for pivot, and a harder
 * sample never weighing less than an easier one (g > 1).
 */
static void detached_check(const char *what, const struct loss_config *c,
			   long iter, uint64_t seed)
{
	struct batch bt;
	float dx[B * D] = { 0 }, dW[C * D] = { 0 }, db[C] = { 0 };
	float L[B], w[B];
	struct loss_out o = { .sample_loss = L, .sample_weight = w };
	make_batch(&bt, seed);
	if (!ok(loss_forward_backward(&o, dx, dW, db, ws, bt.x, bt.y, bt.W,
				      bt.b, c, iter, B, D, C) == 0 &&
		isfinite(o.loss), "%s: forward", what))
		diag("  %s", hm_errmsg());
	frozen_w = w;
	double ex = fd_error(&bt, bt.x, B * D, dx, c, iter);
	double eW = fd_error(&bt, bt.W, C * D, dW, c, iter);
	double eb = c->kind == LOSS_SOFTMAX
		? fd_error(&bt, bt.b, C, db, c, iter) : 0;
	frozen_w = NULL;
	worst_fd_detached = fmax(worst_fd_detached, fmax(ex, fmax(eW, eb)));
	if (!ok(ex < 3e-3 && eW < 3e-3 && eb < 3e-3, "%s: dx, dW%s match "
		"central differences of sum w_i L_i, w frozen", what,
		c->kind == LOSS_SOFTMAX ? ", db" : ""))
		diag("  error dx %.3g, dW %.3g, db %.3g (of max |grad|)", ex,
		     eW, eb);

	double sur = 0, sq = 0, suq = 0, g = c->hm_param, err = 0;
	int monotone = 1;
	for (int i = 0; i < B; i++) {
		double q = -expm1(-(double)L[i]), u = (double)w[i] * B;
		sur += (double)w[i] * L[i];
		sq += q, suq += u * q;
		for (int j = 0; j < B; j++)
			if (g > 1 && L[j] > L[i] && w[j] < w[i] * (1 - 1e-6))
				monotone = 0;
		if (c->hm == HM_PIVOT) {
			double P = c->kind == LOSS_ARCFACE ||
					   c->kind == LOSS_COSFACE
				   ? (double)c->s * c->m : log(C);
			double want = pow(fmax(L[i], 1e-12) / P, g - 1);
			err = fmax(err, fabs(u - want) / want);
		}
	}
	is_near(o.loss, sur, 1e-5 * fmax(1, fabs(sur)),
		"%s: the loss is the surrogate sum w_i L_i", what);
	ok(monotone, "%s: a harder sample weighs at least as much", what);
	if (c->hm == HM_PIVOT) {
		if (!ok(err < 1e-5, "%s: u_i = (L_i / P)^(g-1)", what))
			diag("  max relative error %.3g", err);
	} else {
		err = fabs(suq - sq) / sq;
		if (!ok(err < 1e-5, "%s: sum u_i q_i = sum q_i", what))
			diag("  %.9g vs %.9g (relative %.3g)", suq, sq, err);
	}
	worst_norm_detached = fmax(worst_norm_detached, err);
}

static void test_detached(void)
{
	static const char *const hms[] = {
		"powern", "powern:3", "powern:0.5", "pivot", "pivot:0.5",
		"focaln", "focaln:0.5",
	};
	/* softmax, asoftmax, arcface, cosface at their defaults, then arcface
	 * and cosface at s = 4 (p_i between 0 and 1), asoftmax late. */
	for (int k = 0; k < 7; k++) {
		struct loss_config c;
		for (unsigned h = 0; h < sizeof hms / sizeof *hms; h++) {
			char what[80];
			loss_config_default(&c, (enum loss_kind)(k < 4 ? k
				: k == 6 ? LOSS_ASOFTMAX : k - 2));
			if (k == 4 || k == 5)
				c.s = 4;
			long iter = k == 6 ? 100000 : 3;
			loss_hm_parse(&c.hm, &c.hm_param, hms[h]);
			snprintf(what, sizeof what, "%s%s --hm %s",
				 loss_kind_name(c.kind), k == 4 || k == 5
				 ? " s=4" : k == 6 ? " iter 100000" : "",
				 hms[h]);
			detached_check(what, &c, iter, 31 + k);
		}
	}
	diag("detached modes: worst FD error %.3g of max |grad|; worst "
	     "normalisation / formula error %.3g (relative)",
	     worst_fd_detached, worst_norm_detached);

	/* With g = 1 (power of 1) every reading is the base loss. */
	struct batch bt;
	float w[B];
	struct loss_config c;
	struct loss_out o = { .sample_weight = w };
	make_batch(&bt, 41);
	loss_config_default(&c, LOSS_ARCFACE);
	static const char *const ones[] = { "powern:1", "pivot:1", "focaln:0" };
	for (int h = 0; h < 3; h++) {
		loss_hm_parse(&c.hm, &c.hm_param, ones[h]);
		loss_forward_backward(&o, NULL, NULL, NULL, ws, bt.x, bt.y, bt.W,
				      NULL, &c, 0, B, D, C);
		double e = 0;
		for (int i = 0; i < B; i++)
			e = fmax(e, fabs(w[i] * B - 1));
		ok(e < 1e-6, "--hm %s: every weight 1/B", ones[h]);
	}
}

/* The sums each shard contributes, for test_detached_shards(): pass 1
 * records them (adding nothing), pass 2 adds the other shard's. */
static float shard_sums[2][2];
static int shard_now, shard_pass;

static int sums_sum(float *buf, size_t n)
{
	if (n != 2)
		return -1;
	for (int k = 0; k < 2; k++) {
		if (shard_pass == 1)
			shard_sums[shard_now][k] = buf[k];
		else
			buf[k] += shard_sums[1 - shard_now][k];
	}
	return 0;
}

/* Two shards of 3 (loss_config.shard) weight their samples as one
 * process of 6 does (powern, focaln: the normalisation is batch-wide). */
static void test_detached_shards(void)
{
	enum { H = B / 2 };
	static const char *const hms[] = { "powern", "focaln", "pivot" };
	struct batch bt;
	make_batch(&bt, 43);
	for (int h = 0; h < 3; h++) {
		struct loss_config c;
		float w[B], w2[2][H], loss2[2];
		loss_config_default(&c, LOSS_COSFACE);
		c.s = 4;
		loss_hm_parse(&c.hm, &c.hm_param, hms[h]);
		struct loss_out o = { .sample_weight = w };
		loss_forward_backward(&o, NULL, NULL, NULL, ws, bt.x, bt.y, bt.W,
				      NULL, &c, 0, B, D, C);
		int rc = 0;
		for (shard_pass = 1; shard_pass <= 2; shard_pass++)
			for (shard_now = 0; shard_now < 2; shard_now++) {
				struct loss_out os = { .sample_weight = w2[shard_now] };
				struct loss_config cs = c;
				cs.shard = (struct loss_shard){ 2, shard_now, sums_sum };
				rc |= loss_forward_backward(&os, NULL, NULL, NULL, ws,
					bt.x + H * D * shard_now, bt.y + H * shard_now,
					bt.W, NULL, &cs, 0, H, D, C);
				loss2[shard_now] = os.loss;
			}
		double e = 0;
		for (int i = 0; i < B; i++)
			e = fmax(e, fabs(w2[i / H][i % H] - 2 * w[i]) / (2 * w[i]));
		is_int(rc, 0, "sharded %s: both shards computed", hms[h]);
		if (!ok(e < 1e-6, "sharded %s: each shard weights its samples "
			"2 u_i / B, u_i of the whole batch", hms[h]))
			diag("  max relative difference %.3g", e);
		is_near((loss2[0] + loss2[1]) / 2, o.loss, 1e-6 * fabs(o.loss),
			"sharded %s: the shards' losses average to one "
			"process's", hms[h]);
	}
}

/* Gradients add to what the buffers hold; NULL skips one. */
static void test_accumulate(void)
{
	struct batch bt;
	struct loss_config c;
	struct loss_out o = { 0 };
	float dx1[B * D] = { 0 }, dW1[C * D] = { 0 };
	float dx2[B * D] = { 0 }, dW2[C * D] = { 0 };
	make_batch(&bt, 9);
	loss_config_default(&c, LOSS_ARCFACE);
	loss_forward_backward(&o, dx1, dW1, NULL, ws, bt.x, bt.y, bt.W, NULL,
			      &c, 0, B, D, C);
	loss_forward_backward(&o, dx2, NULL, NULL, ws, bt.x, bt.y, bt.W, NULL,
			      &c, 0, B, D, C);
	loss_forward_backward(&o, dx2, dW2, NULL, ws, bt.x, bt.y, bt.W, NULL,
			      &c, 0, B, D, C);
	double e = 0;
	for (int k = 0; k < B * D; k++)
		e = fmax(e, fabs(dx2[k] - 2 * dx1[k]));
	for (int k = 0; k < C * D; k++)
		e = fmax(e, fabs(dW2[k] - dW1[k]));
	ok(e < 1e-5, "gradients accumulate (+=); NULL dW is skipped");
}

static void test_parse(void)
{
	enum hm_kind hm = HM_OHEM;
	enum loss_kind k = LOSS_SOFTMAX;
	float p = -1;
	static const struct {
		const char *s;
		enum hm_kind hm;
		float p;
	} good[] = {
		{ "none", HM_NONE, 0 },     { "power", HM_POWER, 2 },
		{ "power:3", HM_POWER, 3 }, { "power:0.5", HM_POWER, 0.5f },
		{ "focal", HM_FOCAL, 2 },   { "focal:1.5", HM_FOCAL, 1.5f },
		{ "focal:0", HM_FOCAL, 0 }, { "ohem", HM_OHEM, 0.5f },
		{ "ohem:0.5", HM_OHEM, 0.5f }, { "ohem:1", HM_OHEM, 1 },
		{ "powern", HM_POWERN, 2 }, { "powern:3", HM_POWERN, 3 },
		{ "pivot", HM_PIVOT, 2 },   { "pivot:1.5", HM_PIVOT, 1.5f },
		{ "focaln", HM_FOCALN, 2 }, { "focaln:0", HM_FOCALN, 0 },
	};
	for (unsigned i = 0; i < sizeof good / sizeof *good; i++)
		ok(loss_hm_parse(&hm, &p, good[i].s) == 0 &&
		   hm == good[i].hm && p == good[i].p, "--hm %s parses",
		   good[i].s);
	static const struct {
		const char *s, *msg;
	} bad[] = {
		{ "", "unknown hard-mining mode" },
		{ "hard", "'hard': unknown hard-mining mode (expected none" },
		{ "Power", "unknown hard-mining mode" },
		{ "powerx", "unknown hard-mining mode" },
		{ "power:", "'power:': bad number" },
		{ "power:x", "bad number" },
		{ "power:2x", "bad number" },
		{ "power:0", "'power:0': hard mining power: exponent 0 must be > 0" },
		{ "power:-1", "must be > 0" },
		{ "power:inf", "not finite" },
		{ "focal:-0.5", "must be >= 0" },
		{ "focal:nan", "not finite" },
		{ "ohem:0", "fraction 0 must be in (0, 1]" },
		{ "ohem:1.5", "must be in (0, 1]" },
		{ "none:1", "'none:1': none takes no parameter" },
		{ "powern:0", "hard mining powern: exponent 0 must be > 0" },
		{ "pivot:-2", "hard mining pivot: exponent -2 must be > 0" },
		{ "focaln:-1", "hard mining focaln: exponent -1 must be >= 0" },
		{ "pivotx", "unknown hard-mining mode" },
		{ "x", "focaln[:g]" },
	};
	for (unsigned i = 0; i < sizeof bad / sizeof *bad; i++) {
		hm = HM_OHEM, p = -1;
		is_int(loss_hm_parse(&hm, &p, bad[i].s), -1, "--hm '%s' fails",
		       bad[i].s);
		like(hm_errmsg(), bad[i].msg, "--hm '%s' message", bad[i].s);
		ok(hm == HM_OHEM && p == -1, "--hm '%s' leaves outputs",
		   bad[i].s);
	}
	static const char *const names[] = { "softmax", "asoftmax", "arcface",
					     "cosface" };
	for (int i = 0; i < 4; i++) {
		ok(loss_kind_parse(&k, names[i]) == 0 && (int)k == i &&
		   !strcmp(loss_kind_name(k), names[i]), "loss %s parses",
		   names[i]);
	}
	is_int(loss_kind_parse(&k, "ArcFace"), -1, "loss names are exact");
	like(hm_errmsg(), "'ArcFace': unknown loss (expected softmax, "
	     "asoftmax, arcface or cosface)", "unknown loss message");
	is_int(loss_kind_parse(&k, ""), -1, "empty loss name fails");
	is_str(loss_hm_name(HM_FOCAL), "focal", "loss_hm_name");
	is_str(loss_hm_name(HM_FOCALN), "focaln", "loss_hm_name, a new mode");
	is_str(loss_hm_name(HM_NKINDS), "?", "loss_hm_name out of range");
}

static void test_defaults_and_errors(void)
{
	struct loss_config c;
	struct batch bt;
	struct loss_out o = { 0 };
	float dx[B * D] = { 0 };
	loss_config_default(&c, LOSS_ARCFACE);
	ok(c.s == 64 && c.m == 0.5f && !c.easy_margin && c.hm == HM_NONE,
	   "arcface defaults s=64 m=0.5");
	loss_config_default(&c, LOSS_COSFACE);
	ok(c.s == 64 && c.m == 0.35f, "cosface defaults s=64 m=0.35");
	loss_config_default(&c, LOSS_ASOFTMAX);
	ok(c.m == 4 && c.lambda_base == 1000 && c.lambda_gamma == 0.12f &&
	   c.lambda_power == 1 && c.lambda_min == 5,
	   "asoftmax defaults m=4, lambda 1000, 0.12, 1, 5");
	is_int(loss_config_check(&c), 0, "defaults pass the check");
	c.m = 4.5f;
	is_int(loss_config_check(&c), -1, "asoftmax m=4.5 rejected");
	like(hm_errmsg(), "must be an integer from 1 to 8", "its message");
	loss_config_default(&c, LOSS_ARCFACE);
	c.m = 3.2f;
	is_int(loss_config_check(&c), -1, "arcface m=3.2 rejected");
	like(hm_errmsg(), "must be in [0, pi)", "its message");
	c.m = 0.5f, c.s = 0;
	is_int(loss_config_check(&c), -1, "s=0 rejected");
	c.s = 64, c.hm = HM_OHEM, c.hm_param = 2;
	is_int(loss_config_check(&c), -1, "ohem r=2 in a config rejected");

	make_batch(&bt, 3);
	loss_config_default(&c, LOSS_COSFACE);
	bt.y[4] = C;
	o.loss = 123;
	is_int(loss_forward_backward(&o, dx, NULL, NULL, ws, bt.x, bt.y, bt.W,
				     NULL, &c, 0, B, D, C), -1,
	       "label C rejected");
	like(hm_errmsg(), "sample 4: label 4 outside [0, 4)", "label message");
	float zero[B * D] = { 0 };
	ok(o.loss == 123 && !memcmp(dx, zero, sizeof dx),
	   "nothing written on error");
	bt.y[4] = -1;
	is_int(loss_forward_backward(&o, dx, NULL, NULL, ws, bt.x, bt.y, bt.W,
				     NULL, &c, 0, B, D, C), -1,
	       "label -1 rejected");
	is_int(loss_workspace_size(64, 1000), 2 * 64 * 1000 + 6 * 64 + 2000,
	       "workspace size 2BC + 6B + 2C");
	is_int(loss_shard_workspace_size(64, 1000, 1), loss_workspace_size(64, 1000),
	       "one process: no more workspace");
	is_int(loss_shard_workspace_size(16, 1000, 4),
	       loss_workspace_size(16, 1000) + 4 * 16,
	       "a shard of 4: the whole batch's losses more");
	loss_config_default(&c, LOSS_COSFACE);
	c.shard = (struct loss_shard){ 2, 0, NULL };
	is_int(loss_config_check(&c), -1, "a shard without a sum rejected");
	like(hm_errmsg(), "needs a sum", "its message");
	c.shard = (struct loss_shard){ 2, 2, fake_sum };
	is_int(loss_config_check(&c), -1, "a shard index of N rejected");
	like(hm_errmsg(), "shard index 2 outside [0, 2)", "its message");
}

int main(void)
{
	test_parse();
	test_defaults_and_errors();
	test_branches();
	test_values();
	test_ohem();
	test_ohem_shards();
	test_accumulate();
	test_gradients();
	test_detached();
	test_detached_shards();
	return done_testing();
}
