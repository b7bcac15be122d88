/*
 * loss: the classification heads of hm-train (margin losses) and the hard
 * mining applied to their per-sample losses.  Forward and backward in one
 * call; no state, no allocation, no threads of its own (the two matrix
 * products go through OpenBLAS's cblas_sgemm, which owns the cores).
 *
 * Not here: the layers that produce the embedding (nn), the parameters'
 * storage and update (model, optim), the iteration counter (hm-train).
 *
 * Shapes (row-major float32):  x [B, D] embeddings as the network gives
 * them (NOT normalised by the caller), labels [B] in [0, C), W [C, D] the
 * class weights (one row per class), b [C] a bias (softmax only).
 *
 * Ownership: the caller allocates everything, including a scratch
 * workspace of loss_workspace_size(B, C) floats (loss_shard_workspace_size
 * under data parallelism, struct loss_shard); nothing is kept between
 * calls, and nothing is process-wide.  Gradients are ACCUMULATED (+=) into
 * dx [B, D], dW [C, D] and db [C], which the caller zeroes once per step;
 * any of them may be NULL to skip that gradient.
 *
 * Errors: functions returning int give 0, or -1 after hm_error() (bad
 * constants, a label outside [0, C), an unknown name).
 *
 * --- The formulas, exactly as implemented ----------------------------
 *
 * Norms: |v| = max(sqrt(sum v^2), 1e-12) (as torch.nn.functional.normalize).
 * cos_ij = (x_i . W_j) / (|x_i| |W_j|), clamped to [-1, 1] (the gradient
 * is zero where the clamp bites).  y = labels[i], c = cos_iy.
 *
 *   softmax   z_ij = x_i . W_j + b_j                 (nothing normalised)
 *   cosface   z_ij = s cos_ij,  z_iy = s (c - m)      (s = 64, m = 0.35)
 *   arcface   z_ij = s cos_ij,  z_iy = s phi(c)       (s = 64, m = 0.5)
 *             phi(c) = c cos(m) - sqrt(1 - c^2) sin(m)   [= cos(theta + m)]
 *                        where c > th, th = cos(pi - m),
 *                      c - mm otherwise, mm = sin(pi - m) m;
 *             with easy_margin: phi(c) where c > 0, c otherwise.
 *             (ronghuaiyang/arcface-pytorch ArcMarginProduct; insightface.)
 *             d phi / dc = cos(m) + sin(m) c / sqrt(1 - c^2), where
 *             sqrt(1 - c^2) is taken as at least 1e-6 so that c = 1 gives a
 *             large but finite gradient.
 *   asoftmax  (SphereFace A-Softmax; W normalised, x not)
 *             z_ij = |x_i| cos_ij,
 *             z_iy = |x_i| (lambda c + psi(c)) / (1 + lambda),
 *             psi(c) = (-1)^k cos(m theta) - 2k,  theta = acos(c),
 *             k = floor(m theta / pi),  cos(m theta) = T_m(c) (Chebyshev
 *             polynomial: T_4(c) = 8c^4 - 8c^2 + 1 for the default m = 4),
 *             lambda = max(lambda_min, lambda_base (1 + lambda_gamma
 *             iter)^(-lambda_power)), defaults 5, 1000, 0.12, 1.
 *             k is piecewise constant: d psi / dc = (-1)^k T_m'(c).
 *             (clcarwin/sphereface_pytorch AngleLinear + AngleLoss, without
 *             its focal term; the lambda schedule of SphereProduct in
 *             arcface-pytorch.  pi is M_PI, not 3.14159265: psi is
 *             continuous at the k boundaries, so this changes nothing.)
 *
 * Per-sample loss: cross-entropy  L_i = log sum_j exp(z_ij) - z_iy  >= 0,
 * computed with the maximum subtracted and log1p when y is the maximum.
 * p_i = exp(-L_i), the softmax probability of the true class.
 *
 * Hard mining transforms L_i before the batch mean (the batch loss):
 *   none      loss = (1/B) sum_i L_i
 *   power:g   loss = (1/B) sum_i L_i^g          (default g = 2)
 *             dloss/dL_i = g L_i^(g-1) / B  (0 where L_i = 0 and g < 1)
 *   focal:g   loss = (1/B) sum_i (1 - p_i)^g L_i  (default g = 2; the
 *             focal loss of Lin et al., gradient through p_i included:
 *             dloss/dL_i = ((1-p_i)^g + g (1-p_i)^(g-1) p_i L_i) / B)
 *   ohem:r    the K = ceil(r B) samples with the largest L_i are kept
 *             (equal losses: the lower index first), loss = (1/K) sum over
 *             them of L_i, the others get zero gradient (default r = 0.5).
 *             ceil(r B) allows a relative 1e-6 so that r = 0.3, B = 10
 *             keeps 3, not 4.
 *
 * The three readings below keep the base loss's step size: each sample's
 * gradient is multiplied by u_i, a DETACHED weight (computed from the
 * forward values and held constant in the backward: no gradient flows
 * through u_i), so the surrogate is
 *             loss = (1/B) sum_i u_i L_i,   dloss/dL_i = u_i / B,
 * and the batch loss reported is that surrogate's value.  q_i = 1 - p_i is
 * the size of sample i's gradient on its own logit (dL_i/dz_iy = -q_i).
 *   powern:g  u_i = L_i^(g-1) S_q / S_r,  S_q = sum_j q_j,
 *             S_r = sum_j q_j L_j^(g-1)   (default g = 2)
 *             so that sum_i u_i q_i = sum_i q_i: the batch's gradient
 *             mass on the true logits is the base loss's, redistributed
 *             towards the samples with the larger L_i (g > 1).  L_i is
 *             taken as at least 1e-12 in L_i^(g-1).
 *   pivot:g   u_i = (L_i / P)^(g-1)  (default g = 2), the pivot P = s tau
 *             in cosine units: P = s m for arcface and cosface (tau = m,
 *             the margin), P = ln C for softmax and asoftmax (the loss of
 *             a uniform prediction over C classes) and for a margin <= 0;
 *             u_i = 1 when P = 0 (C = 1).  Samples above the pivot weigh
 *             more, those below less; for the margin losses u_i does not
 *             depend on s: L_i / (s m) is roughly the target's cosine
 *             deficit in units of the margin.  No batch normalisation.
 *   focaln:g  u_i = q_i^g S_q / S_f,  S_f = sum_j q_j^(g+1)  (default
 *             g = 2): the focal weight (1 - p_i)^g, detached, normalised
 *             like powern so that sum_i u_i q_i = sum_i q_i.
 *   powern and focaln keep the base weights (u_i = 1) in a batch whose
 *   S_r (S_f) is 0 or not finite.  The literal reading power:g is kept as
 *   it is: its weight g L_i^(g-1) is not normalised, so with L_i of 30 to
 *   45 (s = 64, early arcface and cosface) power:2 multiplies the step by
 *   60 to 90.
 *
 * About the paper: "Hard-Mining Loss based Convolutional Neural Network for
 * Face Recognition" (arXiv 1908.09747) describes its hard-mining loss only
 * qualitatively, as raising the loss of hard samples and lowering that of
 * easy ones.  power:2 (L_i^2: losses above 1 grow, losses below 1 shrink)
 * is the literal reading of it, not a formula from the paper; it also
 * scales the step with the loss.  powern, pivot and focaln are readings
 * that keep the step size; make study (pipelines/study.mk) compares them
 * all at equal rate, and README reports which one, if any, helps.
 *
 * Example (one training step's head):
 *
 *	struct loss_config lc;
 *	struct loss_out lo = { 0 };
 *	loss_config_default(&lc, LOSS_ARCFACE);
 *	if (loss_hm_parse(&lc.hm, &lc.hm_param, "power:2") < 0)
 *		die("%s", hm_errmsg());
 *	float *ws = xmalloc(loss_workspace_size(B, C) * sizeof *ws);
 *	memset(dW, 0, (size_t)C * D * sizeof *dW);   (and dx)
 *	if (loss_forward_backward(&lo, dx, dW, NULL, ws, x, labels, W, NULL,
 *				  &lc, iter, B, D, C) < 0)
 *		die("%s", hm_errmsg());
 *	printf("loss %g, %d of %d right\n", lo.loss, lo.n_correct, B);
 */
#ifndef HM_LOSS_H
#define HM_LOSS_H

#include <stddef.h>

/*
 * Data parallel training (hm-train over MPI): each of N processes holds
 * shard INDEX (0..N-1) of every batch, samples [INDEX B, (INDEX+1) B) of a
 * batch of N B, and its gradients are summed over the processes and divided
 * by N.  OHEM then keeps the K = ceil(r N B) hardest samples of the whole
 * batch, as one process would: SUM(buf, n) must sum buf element-wise over
 * the processes, in place, on every process (dist_sum_float), and returns 0
 * or -1 with a message; the N B losses are gathered in the workspace, which
 * must then hold loss_shard_workspace_size(B, C, N) floats.  Each process
 * weights its kept samples N/K and reports N/K times their loss sum, so the
 * sums over processes divided by N are one process's gradient and loss.
 * powern and focaln normalise over the whole batch the same way: the two
 * sums S_q and S_r (S_f) are summed over the processes with SUM (two
 * floats), and each process weights its samples u_i / B with the
 * batch-wide u_i.  power, focal and pivot are per sample and need nothing.
 * N <= 1 (loss_config_default()'s 1, or a zeroed struct) is one process.
 * Not a constant of the loss: hm-train sets it for each process, and it is
 * not stored.
 */
struct loss_shard {
	int n, index;
	int (*sum)(float *buf, size_t n);
};

enum loss_kind {
	LOSS_SOFTMAX, LOSS_ASOFTMAX, LOSS_ARCFACE, LOSS_COSFACE,
	LOSS_NKINDS			/* the number of losses */
};

enum hm_kind {
	HM_NONE, HM_POWER, HM_FOCAL, HM_OHEM,
	HM_POWERN, HM_PIVOT, HM_FOCALN,	/* detached, step-size preserving */
	HM_NKINDS			/* the number of modes */
};

struct loss_config {
	enum loss_kind kind;
	float s;		/* scale (arcface, cosface) */
	float m;		/* margin; asoftmax: an integer 1..8 */
	int easy_margin;	/* arcface: phi only where cos > 0 */
	/* asoftmax: lambda = max(lambda_min,
	 *	lambda_base (1 + lambda_gamma iter)^-lambda_power) */
	float lambda_base, lambda_gamma, lambda_power, lambda_min;
	enum hm_kind hm;
	float hm_param;		/* power, focal, powern, pivot, focaln: g;
				 * ohem: r */
	struct loss_shard shard;	/* this process's part of the batch */
};

/* What one forward pass reports.  The pointer members are optional
 * caller-owned buffers (NULL: not wanted), filled when given. */
struct loss_out {
	float loss;		/* the batch loss, after hard mining */
	int n_correct;		/* samples whose argmax of the raw score
				 * (softmax: z; others: cos) is the label */
	float *sample_loss;	/* [B] L_i, before hard mining */
	float *sample_weight;	/* [B] dloss/dL_i (0 for samples OHEM drops) */
	float *logits;		/* [B, C] z, margins applied, as fed to CE */
	int *pred;		/* [B] argmax of the raw score, lowest index
				 * on ties */
};

/* Fills *c with hm-train's defaults for kind k and no hard
 * mining: arcface s = 64, m = 0.5, no easy margin; cosface s = 64,
 * m = 0.35; asoftmax m = 4, lambda 1000, 0.12, 1, 5; one process (no
 * shard).  Unused fields get these values too, so a config is always fully
 * defined. */
void loss_config_default(struct loss_config *c, enum loss_kind k);

/* 0 when every constant of c is usable by its loss and hard-mining mode
 * (finite; s > 0; arcface 0 <= m < pi; cosface m finite; asoftmax m an
 * integer in 1..8 and lambda constants >= 0; power, powern, pivot g > 0;
 * focal, focaln g >= 0; ohem 0 < r <= 1; a shard of N > 1 has a SUM and
 * an INDEX in 0..N-1), else -1 with a message naming the constant. */
int loss_config_check(const struct loss_config *c);

/* Parses a loss name (softmax, asoftmax, arcface, cosface) into *k. */
int loss_kind_parse(enum loss_kind *k, const char *s);
/* Parses none, power[:g], focal[:g], ohem[:r], powern[:g], pivot[:g] or
 * focaln[:g] into *hm and *param (defaults: g = 2, r = 0.5); rejects empty or trailing text, values out
 * of the ranges of loss_config_check, and a value after "none". */
int loss_hm_parse(enum hm_kind *hm, float *param, const char *s);
/* The names parse accepts ("arcface", "focal"). */
const char *loss_kind_name(enum loss_kind k);
const char *loss_hm_name(enum hm_kind hm);

/* lambda of A-Softmax at iteration iter (see the formula above). */
double loss_asoftmax_lambda(const struct loss_config *c, long iter);

/* Floats of workspace that the functions below need for B samples and
 * C classes: 2 B C + 6 B + 2 C. */
size_t loss_workspace_size(int B, int C);
/* The same for B samples of a shard of N processes: N B more when N > 1
 * (struct loss_shard). */
size_t loss_shard_workspace_size(int B, int C, int n);

/* One training step of the head.  x [B, D], labels [B], W [C, D], b [C]
 * (softmax only; ignored otherwise and may be NULL), iter for the
 * asoftmax lambda.  Fills *out (loss, n_correct, and its given buffers);
 * adds the gradients of out->loss to dx [B, D], dW [C, D], db [C] (each
 * may be NULL; db is only touched for softmax).  workspace: at least
 * loss_workspace_size(B, C) floats (loss_shard_workspace_size(B, C, N)
 * with a shard of N), contents undefined afterwards.
 * Fails (-1) on a bad config or label; then nothing is written. */
int loss_forward_backward(struct loss_out *out, float *dx, float *dW,
			  float *db, float *workspace, const float *x,
			  const int *labels, const float *W, const float *b,
			  const struct loss_config *c, long iter, int B,
			  int D, int C);

/* Forward only, for closed-set evaluation: pred[i] = argmax_j of the raw
 * score (softmax: x_i . W_j + b_j; the margin losses: cos_ij, margins
 * play no part), lowest index on ties.  Same workspace as above. */
int loss_predict(int *pred, float *workspace, const float *x,
		 const float *W, const float *b, const struct loss_config *c,
		 int B, int D, int C);

#endif
