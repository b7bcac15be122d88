/*
 * loss: margin losses and hard mining; the formulas are in loss.h.
 *
 * One pass over the batch, in five steps:
 *   1. A = x W^T (one sgemm), then softmax adds b, the margin losses divide
 *      by |x_i| |W_j| to get the (unclamped) cosines;
 *   2. z from A (margins on the target column), copied into P;
 *   3. per row: cross-entropy L_i, q_i = 1 - p_i, and P <- dz / w_i;
 *   4. hard mining: w_i = dloss/dL_i and the batch loss;
 *   5. backward: P <- dz, then dcos and the two sgemms of the gradient.
 *
 * Backward through the normalisations without a [C, D] scratch copy of
 * the normalised W (C can be 10575 classes):
 *   cos_ij = x_i.W_j / (|x_i| |W_j|)
 *   dcos_ij/dx_i = W_j / (|x_i| |W_j|) - cos_ij x_i / |x_i|^2
 *   dcos_ij/dW_j = x_i / (|x_i| |W_j|) - cos_ij W_j / |W_j|^2
 * so with E_ij = dcos_ij / (|x_i| |W_j|):
 *   dx += E W  -  (sum_j dcos_ij cos_ij / |x_i|^2) x_i
 *   dW += E^T x - (sum_i dcos_ij cos_ij / |W_j|^2) W_j
 * two sgemms accumulating straight into the caller's dx and dW, plus a
 * row (column) scaling.  A-Softmax adds the |x_i| factor of its logits:
 *   dx_i += (sum_j dz_ij h_ij) x_i / |x_i|.
 * Where a norm is clamped to its 1e-12 floor it is a constant and the
 * correction terms vanish (as in torch.nn.functional.normalize).
 */
#include "loss.h"
#include "err.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define NORM_EPS 1e-12
#define SINE_MIN 1e-6

void loss_config_default(struct loss_config *c, enum loss_kind k)
{
	memset(c, 0, sizeof *c);
	c->kind = k;
	c->s = 64.0f;
	c->m = k == LOSS_COSFACE ? 0.35f : k == LOSS_ASOFTMAX ? 4.0f : 0.5f;
	c->easy_margin = 0;
	c->lambda_base = 1000.0f;
	c->lambda_gamma = 0.12f;
	c->lambda_power = 1.0f;
	c->lambda_min = 5.0f;
	c->hm = HM_NONE;
	c->hm_param = 0.0f;
	c->shard = (struct loss_shard){ 1, 0, NULL };
}

static const char *const kind_names[] = {
	[LOSS_SOFTMAX] = "softmax", [LOSS_ASOFTMAX] = "asoftmax",
	[LOSS_ARCFACE] = "arcface", [LOSS_COSFACE] = "cosface",
};
static const char *const hm_names[] = {
	[HM_NONE] = "none", [HM_POWER] = "power",
	[HM_FOCAL] = "focal", [HM_OHEM] = "ohem",
	[HM_POWERN] = "powern", [HM_PIVOT] = "pivot", [HM_FOCALN] = "focaln",
};
_Static_assert(sizeof kind_names / sizeof *kind_names == LOSS_NKINDS,
	       "a name for every loss");
_Static_assert(sizeof hm_names / sizeof *hm_names == HM_NKINDS,
	       "a name for every hard-mining mode");

const char *loss_kind_name(enum loss_kind k)
{
	return (unsigned)k < LOSS_NKINDS ? kind_names[k] : "?";
}

const char *loss_hm_name(enum hm_kind hm)
{
	return (unsigned)hm < HM_NKINDS ? hm_names[hm] : "?";
}

int loss_kind_parse(enum loss_kind *k, const char *s)
{
	for (int i = 0; i < LOSS_NKINDS; i++)
		if (!strcmp(s, kind_names[i])) {
			*k = (enum loss_kind)i;
			return 0;
		}
	return hm_error("'%s': unknown loss (expected softmax, asoftmax, "
			"arcface or cosface)", s);
}

/* The range check shared by the parser and loss_config_check. */
static int hm_param_check(enum hm_kind hm, double v)
{
	const char *name = loss_hm_name(hm);
	if (!isfinite(v))
		return hm_error("hard mining %s: parameter %g is not finite",
				name, v);
	if ((hm == HM_POWER || hm == HM_POWERN || hm == HM_PIVOT) && !(v > 0))
		return hm_error("hard mining %s: exponent %g must be > 0", name,
				v);
	if ((hm == HM_FOCAL || hm == HM_FOCALN) && !(v >= 0))
		return hm_error("hard mining %s: exponent %g must be >= 0", name,
				v);
	if (hm == HM_OHEM && !(v > 0 && v <= 1))
		return hm_error("hard mining ohem: fraction %g must be in (0, 1]",
				v);
	return 0;
}

int loss_hm_parse(enum hm_kind *hm, float *param, const char *s)
{
	static const char expect[] =
		"expected none, power[:g], focal[:g], ohem[:r], powern[:g], "
		"pivot[:g] or focaln[:g]";
	const char *colon = strchr(s, ':');
	size_t n = colon ? (size_t)(colon - s) : strlen(s);
	int kind = -1;
	for (int i = 0; i < HM_NKINDS; i++)
		if (strlen(hm_names[i]) == n && !strncmp(s, hm_names[i], n))
			kind = i;
	if (kind < 0)
		return hm_error("'%s': unknown hard-mining mode (%s)", s, expect);
	double v = kind == HM_OHEM ? 0.5 : kind == HM_NONE ? 0.0 : 2.0;
	if (colon) {
		char *end;
		if (kind == HM_NONE)
			return hm_error("'%s': none takes no parameter", s);
		v = strtod(colon + 1, &end);
		if (end == colon + 1 || *end)
			return hm_error("'%s': bad number after ':' (%s)", s,
					expect);
	}
	if (hm_param_check((enum hm_kind)kind, v) < 0)
		return hm_error_prefix("'%s'", s);
	*hm = (enum hm_kind)kind;
	*param = (float)v;
	return 0;
}

int loss_config_check(const struct loss_config *c)
{
	const char *name = loss_kind_name(c->kind);
	if ((unsigned)c->kind >= LOSS_NKINDS)
		return hm_error("loss: unknown kind %d", (int)c->kind);
	if ((unsigned)c->hm >= HM_NKINDS)
		return hm_error("loss: unknown hard-mining mode %d", (int)c->hm);
	if (c->hm != HM_NONE && hm_param_check(c->hm, c->hm_param) < 0)
		return -1;
	if (c->shard.n > 1 && !c->shard.sum)
		return hm_error("loss: a shard of %d processes needs a sum",
				c->shard.n);
	if (c->shard.n > 1 && (c->shard.index < 0 || c->shard.index >= c->shard.n))
		return hm_error("loss: shard index %d outside [0, %d)",
				c->shard.index, c->shard.n);
	switch (c->kind) {
	case LOSS_SOFTMAX:
	case LOSS_NKINDS:	/* rejected above */
		return 0;
	case LOSS_ARCFACE:
	case LOSS_COSFACE:
		if (!isfinite(c->s) || !(c->s > 0))
			return hm_error("loss %s: scale s = %g must be > 0", name,
					c->s);
		if (!isfinite(c->m))
			return hm_error("loss %s: margin m = %g is not finite",
					name, c->m);
		if (c->kind == LOSS_ARCFACE && !(c->m >= 0 && c->m < M_PI))
			return hm_error("loss arcface: margin m = %g must be in "
					"[0, pi)", c->m);
		return 0;
	case LOSS_ASOFTMAX:
		if (!(c->m >= 1 && c->m <= 8 && c->m == floorf(c->m)))
			return hm_error("loss asoftmax: margin m = %g must be an "
					"integer from 1 to 8", c->m);
		if (!(isfinite(c->lambda_base) && c->lambda_base >= 0 &&
		      isfinite(c->lambda_gamma) && c->lambda_gamma >= 0 &&
		      isfinite(c->lambda_power) && c->lambda_power >= 0 &&
		      isfinite(c->lambda_min) && c->lambda_min >= 0))
			return hm_error("loss asoftmax: lambda constants (%g, %g, "
					"%g, %g) must be finite and >= 0",
					c->lambda_base, c->lambda_gamma,
					c->lambda_power, c->lambda_min);
		return 0;
	}
	return 0;
}

double loss_asoftmax_lambda(const struct loss_config *c, long iter)
{
	double l = c->lambda_base *
		   pow(1.0 + c->lambda_gamma * (double)iter, -c->lambda_power);
	return l > c->lambda_min ? l : c->lambda_min;
}

size_t loss_workspace_size(int B, int C)
{
	return 2 * (size_t)B * C + 6 * (size_t)B + 2 * (size_t)C;
}

size_t loss_shard_workspace_size(int B, int C, int n)
{
	return loss_workspace_size(B, C) + (n > 1 ? (size_t)n * B : 0);
}

/* n[r] = max(|v_r|, NORM_EPS) for rows r of v [rows, D]. */
static void row_norms(float *n, const float *v, int rows, int D)
{
	for (int r = 0; r < rows; r++) {
		const float *p = v + (size_t)r * D;
		double s = 0;
		for (int k = 0; k < D; k++)
			s += (double)p[k] * p[k];
		s = sqrt(s);
		n[r] = (float)(s > NORM_EPS ? s : NORM_EPS);
	}
}

/* Step 1: A [B, C] = x W^T (+ b), or the unclamped cosines. */
static void raw_scores(float *A, float *nx, float *nw, const float *x,
		       const float *W, const float *b,
		       const struct loss_config *c, int B, int D, int C)
{
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, C, D, 1.0f, x,
		    D, W, D, 0.0f, A, C);
	if (c->kind == LOSS_SOFTMAX) {
		if (b)
			for (int i = 0; i < B; i++)
				for (int j = 0; j < C; j++)
					A[(size_t)i * C + j] += b[j];
		return;
	}
	row_norms(nx, x, B, D);
	row_norms(nw, W, C, D);
	for (int i = 0; i < B; i++)
		for (int j = 0; j < C; j++)
			A[(size_t)i * C + j] /= nx[i] * nw[j];
}

static int argmax(const float *a, int n)
{
	int best = 0;
	for (int j = 1; j < n; j++)
		if (a[j] > a[best])
			best = j;
	return best;
}

static double clamp1(double v)
{
	return v < -1 ? -1 : v > 1 ? 1 : v;
}

/* T_m(c) = cos(m acos c) by the Chebyshev recurrence, and its derivative:
 * T_{n+1} = 2c T_n - T_{n-1},  T'_{n+1} = 2 T_n + 2c T'_n - T'_{n-1}. */
static double chebyshev(int m, double c, double *dT)
{
	double t0 = 1, t1 = c, d0 = 0, d1 = 1;
	if (m == 0) {
		*dT = 0;
		return 1;
	}
	for (int n = 1; n < m; n++) {
		double t2 = 2 * c * t1 - t0, d2 = 2 * t1 + 2 * c * d1 - d0;
		t0 = t1, t1 = t2, d0 = d1, d1 = d2;
	}
	*dT = d1;
	return t1;
}

/*
 * The target column's h(c), so that z_iy = scale_i h(c) (scale s, or |x_i|
 * for A-Softmax), and dh/dc in *dh.  c is already clamped to [-1, 1].
 */
static double target_h(double c, double *dh, const struct loss_config *cf,
		       double lambda)
{
	switch (cf->kind) {
	case LOSS_COSFACE:
		*dh = 1;
		return c - cf->m;
	case LOSS_ARCFACE: {
		/* ArcMarginProduct: phi = cos(theta + m) by the addition
		 * formula.  Beyond theta = pi - m, theta + m passes pi and
		 * cos(theta + m) would rise again, so the target falls back
		 * to c - mm, mm = sin(pi - m) m = m sin(m). */
		double m = cf->m, th = cos(M_PI - m), mm = sin(M_PI - m) * m;
		int use_phi = cf->easy_margin ? c > 0 : c > th;
		if (!use_phi) {
			*dh = 1;
			return cf->easy_margin ? c : c - mm;
		}
		double sine = sqrt(fmax(0.0, 1 - c * c));
		*dh = cos(m) + sin(m) * c / fmax(sine, SINE_MIN);
		return c * cos(m) - sine * sin(m);
	}
	case LOSS_ASOFTMAX: {
		/* AngleLinear: psi = (-1)^k cos(m theta) - 2k, k piecewise
		 * constant; AngleLoss: z = |x| (c + (psi - c) / (1 + lambda)),
		 * the same as |x| (lambda c + psi) / (1 + lambda). */
		int m = (int)cf->m;
		double dT, T = chebyshev(m, c, &dT);
		double k = floor(m * acos(c) / M_PI);
		double sign = fmod(k, 2) != 0 ? -1 : 1;
		double psi = sign * T - 2 * k;
		*dh = (lambda + sign * dT) / (1 + lambda);
		return (lambda * c + psi) / (1 + lambda);
	}
	case LOSS_SOFTMAX:
	case LOSS_NKINDS:	/* not a loss: loss_config_check rejects it */
		break;
	}
	*dh = 1;
	return c;
}

/* The factor the margin losses' logits carry for row i. */
static double row_scale(const struct loss_config *c, const float *nx, int i)
{
	return c->kind == LOSS_ASOFTMAX ? nx[i] : c->s;
}

/* Step 2: z [B, C] from A into Z. */
static void margin_logits(float *Z, const float *A, const float *nx,
			  const int *labels, const struct loss_config *c,
			  double lambda, int B, int C)
{
	if (c->kind == LOSS_SOFTMAX) {
		memcpy(Z, A, (size_t)B * C * sizeof *Z);
		return;
	}
	for (int i = 0; i < B; i++) {
		double sc = row_scale(c, nx, i), dh;
		const float *a = A + (size_t)i * C;
		float *z = Z + (size_t)i * C;
		for (int j = 0; j < C; j++)
			z[j] = (float)(sc * clamp1(a[j]));
		z[labels[i]] = (float)(sc * target_h(clamp1(a[labels[i]]), &dh,
						     c, lambda));
	}
}

/*
 * Step 3 for one row: L = -log softmax(z)_y, and q = 1 - p_y computed
 * without cancellation; z is overwritten by the probabilities.
 */
static void cross_entropy(float *L, float *q, float *z, int y, int C)
{
	double mx = z[0], rest = 0, ey, sum;
	for (int j = 1; j < C; j++)
		if (z[j] > mx)
			mx = z[j];
	for (int j = 0; j < C; j++)
		if (j != y)
			rest += exp(z[j] - mx);
	ey = exp(z[y] - mx);
	sum = rest + ey;
	/* When y is the maximum, ey = 1 and log1p keeps a tiny loss exact. */
	double l = z[y] == mx ? log1p(rest) : (mx - z[y]) + log(sum);
	*L = (float)(l > 0 ? l : 0);
	*q = (float)(rest / sum);
	for (int j = 0; j < C; j++)
		z[j] = (float)(exp(z[j] - mx) / sum);
}

/* OHEM's K = ceil(r B), with a relative 1e-6 allowance for decimal r. */
static int ohem_keep(double r, int B)
{
	double t = r * B;
	int K = (int)ceil(t - 1e-6 * t);
	return K < 1 ? 1 : K > B ? B : K;
}

/* OHEM over ALL [NB] (this process's L at ALL + OFF): w [B] and *loss for
 * this process's samples, scaled by N (see struct loss_shard). */
static void ohem(float *w, double *loss, const float *all, int off, int B, int N, double r)
{
	int K = ohem_keep(r, N * B);
	double total = 0;
	/* rank_i: samples harder than i, equal ones before i first; kept iff
	 * rank_i < K.  O((NB)^2), no sort, no ties to chance. */
	for (int i = off; i < off + B; i++) {
		int rank = 0;
		for (int j = 0; j < N * B; j++)
			rank += all[j] > all[i] || (all[j] == all[i] && j < i);
		w[i - off] = rank < K ? (float)N / K : 0.0f;
		if (rank < K)
			total += all[i];
	}
	*loss = total * N / K;
}

/* The floor of L_i in L_i^(g-1) (powern, pivot): g < 1 would give an
 * infinite weight at L_i = 0, where the sample's gradient q_i is 0. */
#define HM_L_FLOOR 1e-12

/* pivot's P = s tau: s m for arcface and cosface, ln C for softmax and
 * asoftmax (and for a margin of 0 or less); 0 (weights 1) when C = 1. */
static double pivot_of(const struct loss_config *c, int C)
{
	if ((c->kind == LOSS_ARCFACE || c->kind == LOSS_COSFACE) &&
	    c->s * c->m > 0)
		return (double)c->s * c->m;
	return log((double)C);
}

/*
 * The detached modes (powern, pivot, focaln): w [B] = u_i / B with u_i a
 * constant of the backward, *loss = (1/B) sum u_i L_i.  powern and focaln
 * normalise over the whole batch, every process's shard included: the two
 * sums go through c->shard.sum (see struct loss_shard), so N processes of
 * B give one process of N B its u_i.
 */
static int detached_weights(float *w, double *loss, const float *L,
			    const float *q, const struct loss_config *c,
			    int B, int C)
{
	double g = c->hm_param, total = 0, scale = 1;
	if (c->hm == HM_POWERN || c->hm == HM_FOCALN) {
		double sq = 0, srq = 0;
		for (int i = 0; i < B; i++) {
			double r = c->hm == HM_POWERN
				? pow(fmax(L[i], HM_L_FLOOR), g - 1)
				: pow(q[i], g);
			sq += q[i];
			srq += r * q[i];
		}
		if (c->shard.n > 1) {
			float s2[2] = { (float)sq, (float)srq };
			if (c->shard.sum(s2, 2) < 0)
				return -1;
			sq = s2[0], srq = s2[1];
		}
		/* A batch with no gradient at all keeps the base weights. */
		scale = srq > 0 && isfinite(srq) ? sq / srq : 0;
	}
	double P = c->hm == HM_PIVOT ? pivot_of(c, C) : 0;
	for (int i = 0; i < B; i++) {
		double l = L[i], u;
		switch (c->hm) {
		case HM_POWERN:
			u = scale > 0 ? pow(fmax(l, HM_L_FLOOR), g - 1) * scale
				      : 1;
			break;
		case HM_FOCALN:
			u = scale > 0 ? pow(q[i], g) * scale : 1;
			break;
		default:	/* HM_PIVOT */
			u = P > 0 ? pow(fmax(l, HM_L_FLOOR) / P, g - 1) : 1;
			break;
		}
		total += u * l;
		w[i] = (float)(u / B);
	}
	*loss = total / B;
	return 0;
}

/* Step 4: w [B] = dloss/dL_i and *loss the batch loss; 0 or -1.  ALL:
 * the workspace's [N B] floats for sharded OHEM. */
static int hard_mining(float *w, double *loss, float *all, const float *L,
		       const float *q, const struct loss_config *c, int B, int C)
{
	double g = c->hm_param, total = 0;
	const struct loss_shard *sh = &c->shard;
	if (c->hm == HM_POWERN || c->hm == HM_PIVOT || c->hm == HM_FOCALN)
		return detached_weights(w, loss, L, q, c, B, C);
	if (c->hm == HM_OHEM && sh->n > 1) {
		/* Every process's L_i, in batch order: a sum of zeros and
		 * one value per element is that value, exactly. */
		size_t nb = (size_t)sh->n * B;
		memset(all, 0, nb * sizeof *all);
		memcpy(all + (size_t)sh->index * B, L, (size_t)B * sizeof *L);
		if (sh->sum(all, nb) < 0)
			return -1;
		ohem(w, loss, all, sh->index * B, B, sh->n, g);
		return 0;
	}
	if (c->hm == HM_OHEM) {
		ohem(w, loss, L, 0, B, 1, g);
		return 0;
	}
	for (int i = 0; i < B; i++) {
		double l = L[i], t, d;
		switch (c->hm) {
		case HM_POWER:
			t = pow(l, g);
			/* pow(0, 0) = 1 gives g = 1 its slope at L = 0. */
			d = l > 0 || g >= 1 ? g * pow(l, g - 1) : 0;
			break;
		case HM_FOCAL: {
			double qq = q[i], p = exp(-l);
			t = pow(qq, g) * l;
			d = pow(qq, g);
			if (qq > 0 && g != 0)
				d += g * pow(qq, g - 1) * p * l;
			break;
		}
		default:
			t = l, d = 1;
			break;
		}
		total += t;
		w[i] = (float)(d / B);
	}
	*loss = total / B;
	return 0;
}

/* Checks what every entry point checks before it writes anything. */
static int check_args(const struct loss_config *c, const int *labels,
		      int B, int D, int C)
{
	if (B < 1 || D < 1 || C < 1)
		return hm_error("loss: bad sizes B = %d, D = %d, C = %d", B, D,
				C);
	if (loss_config_check(c) < 0)
		return -1;
	if (labels)
		for (int i = 0; i < B; i++)
			if (labels[i] < 0 || labels[i] >= C)
				return hm_error("loss: sample %d: label %d "
						"outside [0, %d)", i, labels[i],
						C);
	return 0;
}

int loss_predict(int *pred, float *workspace, const float *x,
		 const float *W, const float *b, const struct loss_config *c,
		 int B, int D, int C)
{
	float *A = workspace, *nx = A + 2 * (size_t)B * C, *nw = nx + 6 * B;
	if (check_args(c, NULL, B, D, C) < 0)
		return -1;
	raw_scores(A, nx, nw, x, W, b, c, B, D, C);
	for (int i = 0; i < B; i++)
		pred[i] = argmax(A + (size_t)i * C, C);
	return 0;
}

/* Step 5 for the margin losses: P holds dz; turns it into E (in place),
 * accumulates dx and dW. */
static void margin_backward(float *dx, float *dW, float *P, float *rowacc,
			    float *colacc, const float *A, const float *nx,
			    const float *nw, const float *x, const int *labels,
			    const float *W, const struct loss_config *c,
			    double lambda, int B, int D, int C)
{
	memset(colacc, 0, (size_t)C * sizeof *colacc);
	for (int i = 0; i < B; i++) {
		const float *a = A + (size_t)i * C;
		float *e = P + (size_t)i * C;
		double sc = row_scale(c, nx, i), dnx = 0, racc = 0;
		for (int j = 0; j < C; j++) {
			double cc = clamp1(a[j]), h = cc, dh = 1, dc;
			if (j == labels[i])
				h = target_h(cc, &dh, c, lambda);
			/* z_ij = sc h(clamp(cos_ij)), sc = s or |x_i| */
			dnx += e[j] * h;
			dc = a[j] >= -1 && a[j] <= 1 ? e[j] * sc * dh : 0;
			racc += dc * a[j];
			colacc[j] += (float)(dc * a[j]);
			e[j] = (float)(dc / ((double)nx[i] * nw[j]));
		}
		/* dx_i gets -(sum_j dcos cos) x_i/|x_i|^2 [+ dnx x_i/|x_i|] */
		double r = 0;
		if (nx[i] > NORM_EPS) {
			r = -racc / ((double)nx[i] * nx[i]);
			if (c->kind == LOSS_ASOFTMAX)
				r += dnx / nx[i];
		}
		rowacc[i] = (float)r;
	}
	if (dx) {
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, B, D, C,
			    1.0f, P, C, W, D, 1.0f, dx, D);
		for (int i = 0; i < B; i++)
			cblas_saxpy(D, rowacc[i], x + (size_t)i * D, 1,
				    dx + (size_t)i * D, 1);
	}
	if (dW) {
		cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, C, D, B,
			    1.0f, P, C, x, D, 1.0f, dW, D);
		for (int j = 0; j < C; j++)
			if (nw[j] > NORM_EPS)
				cblas_saxpy(D, -colacc[j] / (nw[j] * nw[j]),
					    W + (size_t)j * D, 1,
					    dW + (size_t)j * D, 1);
	}
}

int loss_forward_backward(struct loss_out *out, float *dx, float *dW,
			  float *db, float *workspace, const float *x,
			  const int *labels, const float *W, const float *b,
			  const struct loss_config *c, long iter, int B,
			  int D, int C)
{
	/* workspace: A [B C], P [B C], nx L q w rowacc (spare) [B], nw
	 * colacc [C], and with a shard of N the gathered losses [N B] */
	float *A = workspace, *P = A + (size_t)B * C, *nx = P + (size_t)B * C;
	float *L = nx + B, *q = L + B, *w = q + B, *rowacc = w + B;
	float *nw = nx + 6 * B, *colacc = nw + C, *all = colacc + C;
	double lambda = 0;

	if (check_args(c, labels, B, D, C) < 0)
		return -1;
	if (c->kind == LOSS_ASOFTMAX)
		lambda = loss_asoftmax_lambda(c, iter);

	raw_scores(A, nx, nw, x, W, b, c, B, D, C);
	margin_logits(P, A, nx, labels, c, lambda, B, C);
	if (out->logits)
		memcpy(out->logits, P, (size_t)B * C * sizeof *P);
	out->n_correct = 0;
	for (int i = 0; i < B; i++) {
		int p = argmax(A + (size_t)i * C, C);
		out->n_correct += p == labels[i];
		if (out->pred)
			out->pred[i] = p;
		cross_entropy(&L[i], &q[i], P + (size_t)i * C, labels[i], C);
	}
	double loss = 0;
	if (hard_mining(w, &loss, all, L, q, c, B, C) < 0)
		return -1;
	out->loss = (float)loss;
	if (out->sample_loss)
		memcpy(out->sample_loss, L, (size_t)B * sizeof *L);
	if (out->sample_weight)
		memcpy(out->sample_weight, w, (size_t)B * sizeof *w);
	if (!dx && !dW && !(db && c->kind == LOSS_SOFTMAX))
		return 0;

	/* dz_ij = w_i (p_ij - [j = y]); the target as -w_i q_i, exact even
	 * when p_iy rounds to 1. */
	for (int i = 0; i < B; i++) {
		float *pz = P + (size_t)i * C;
		for (int j = 0; j < C; j++)
			pz[j] *= w[i];
		pz[labels[i]] = -w[i] * q[i];
	}
	if (c->kind != LOSS_SOFTMAX) {
		margin_backward(dx, dW, P, rowacc, colacc, A, nx, nw, x, labels,
				W, c, lambda, B, D, C);
		return 0;
	}
	/* z = x W^T + b:  dx += dz W,  dW += dz^T x,  db += sum_i dz_i */
	if (dx)
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, B, D, C,
			    1.0f, P, C, W, D, 1.0f, dx, D);
	if (dW)
		cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, C, D, B,
			    1.0f, P, C, x, D, 1.0f, dW, D);
	if (db)
		for (int i = 0; i < B; i++)
			for (int j = 0; j < C; j++)
				db[j] += P[(size_t)i * C + j];
	return 0;
}
