/*
 * optim: hm-train's optimiser (SGD with momentum and weight decay) and its
 * learning-rate schedules (step, cosine, linear warm-up).
 *
 * What it is: the update rule on plain float arrays and the schedule as a
 * pure function of the iteration.  What it is not: it does not know the
 * model or the head; the training loop (common/train) calls optim_sgd_step()
 * once per tensor, with that tensor's weight decay (0 for batch norm, biases
 * and PReLU, whose model_tensor.decay is 0), so the per-tensor choice lives
 * where the tensors are.
 *
 * The update is torch.optim.SGD's (PyTorch 1.13, dampening 0, nesterov
 * off, maximize off), in float32, one operation at a time as torch does:
 *
 *	d   = g + wd * p
 *	buf = momentum * buf + d	(first step: buf = d)
 *	p   = p - lr * buf
 *
 * The first step needs no flag: momentum buffers start at zero, and
 * momentum * 0 + d is exactly d in IEEE arithmetic (for finite d).
 *
 * Weight decay and the classifier head: both insightface trainers decay
 * the head's class weights with the backbone's rate (arcface_torch's
 * train.py passes module_partial_fc.parameters() to the same SGD with
 * weight_decay; the MXNet trainer gives fc7_weight wd_mult 1).  hm-train
 * does too; the softmax head's bias is not decayed.  (arcface_torch also
 * decays batch-norm parameters; hm-train does not: its recipe decays
 * neither batch norm nor biases.)
 *
 * Ownership: the caller owns every array; nothing here allocates, except
 * optim_steps_parse(), which fills a fixed array in the caller's struct.
 */
#ifndef HM_OPTIM_H
#define HM_OPTIM_H

#include <stddef.h>

/*
 * One SGD step on N values: p [n] parameters (updated), buf [n] momentum
 * (updated; zero before the first step), g [n] gradients.  wd 0 disables
 * weight decay, momentum 0 plain SGD (buf then just holds d).
 */
void optim_sgd_step(float *p, float *buf, const float *g, size_t n, float lr,
		    float momentum, float wd);

/* The same in double precision, one value at a time, for tests. */
void optim_sgd_step_ref(double *p, double *buf, const double *g, size_t n,
			double lr, double momentum, double wd);

#define OPTIM_MAX_STEPS 32

enum lr_kind { LR_STEP, LR_COSINE };

/*
 * A learning-rate schedule over iterations t = 0, 1, ... (t counts the
 * steps already taken; lr_at(s, t) is the rate of step t + 1):
 *
 *   step     lr(t) = base * factor^k, k = the number of milestones
 *            steps[i] <= t (milestones in iterations; factor 0.1, as
 *            torch.optim.lr_scheduler.MultiStepLR with gamma 0.1 stepped
 *            once per iteration).  No milestones: constant base.
 *   cosine   lr(t) = base * (1 + cos(pi * u)) / 2,
 *            u = (t - warmup) / (total - warmup) clamped to [0, 1]:
 *            from base after the warm-up down to 0 at the last iteration.
 *   warm-up  for t < warmup, the rate above is multiplied by
 *            (t + 1) / warmup (linear from base/warmup up to base).
 *
 * The milestones in iterations are the caller's conversion (hm-train
 * multiplies epoch milestones by the iterations per epoch).
 */
struct lr_schedule {
	enum lr_kind kind;
	double base;		/* the rate after warm-up, before any decay */
	double factor;		/* step: multiplier at each milestone (0.1) */
	long warmup;		/* iterations of linear warm-up, 0 for none */
	long total;		/* iterations of the whole run (cosine) */
	int n_steps;
	long steps[OPTIM_MAX_STEPS];	/* increasing milestones, iterations */
};

/* The rate of the step after T steps taken (T >= 0). */
double lr_at(const struct lr_schedule *s, long t);

/*
 * Parses a milestone list "10,18,22" (positive integers, strictly
 * increasing, at most OPTIM_MAX_STEPS; "" or "none" for none) into
 * steps[] and *n.  0, or -1 with a message naming the bad element.
 */
int optim_steps_parse(long *steps, int *n, const char *s);

#endif
