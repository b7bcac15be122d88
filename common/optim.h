/*
 * optim: hm-train's optimiser (SGD with momentum and weight decay), its
 * learning-rate schedules (step, cosine, polynomial, linear warm-up) and
 * gradient-norm clipping.
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

enum lr_kind { LR_STEP, LR_COSINE, LR_POLY };

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
 *   poly     arcface_torch's PolyScheduler (lr_scheduler.py):
 *            lr(t) = base * t / warmup for t < warmup (from 0: the
 *            reference's warm-up, not the one below), then
 *            base * (1 - (t - warmup) / (total - warmup))^power, power 2
 *            by default, 0 at the last iteration (clamped past it).
 *   warm-up  step and cosine: for t < warmup, the rate above is
 *            multiplied by (t + 1) / warmup (linear from base/warmup up
 *            to base).
 *
 * The milestones in iterations are the caller's conversion (hm-train
 * multiplies epoch milestones by the iterations per epoch).
 */
struct lr_schedule {
	enum lr_kind kind;
	double base;		/* the rate after warm-up, before any decay */
	double factor;		/* step: multiplier at each milestone (0.1) */
	long warmup;		/* iterations of linear warm-up, 0 for none */
	long total;		/* iterations of the whole run (cosine, poly) */
	double power;		/* poly: the exponent (2) */
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

/*
 * Parses a schedule name: "step", "cosine", "poly" (power 2) or
 * "poly:P" (P > 0, finite) into *KIND and *POWER (2 unless poly:P).
 * 0, or -1 with a message.  optim_schedule_name() writes the canonical
 * text back ("step", "cosine", "poly:2"; the power in the fewest digits
 * that read back exactly) into BUF of N >= 40 bytes and returns it.
 */
int optim_schedule_parse(enum lr_kind *kind, double *power, const char *s);
char *optim_schedule_name(char *buf, size_t n, enum lr_kind kind, double power);

/*
 * Clips the global L2 norm of N gradient values G to MAX_NORM, as
 * torch.nn.utils.clip_grad_norm_(params, max_norm) (PyTorch 1.13,
 * norm_type 2) does over a parameter list:
 *
 *	norm = sqrt(sum of g^2)		(over all N values together)
 *	coef = min(1, max_norm / (norm + 1e-6))
 *	g    = g * coef			(every value, even when coef is 1)
 *
 * The sum is taken in double and rounded to float once (torch sums each
 * tensor in float32, then the norms: the two norms agree to a few units
 * in the last place); coef is computed in float32 as torch does
 * ((1 / (norm + 1e-6)) * max_norm, Tensor.__rtruediv__'s reciprocal
 * then multiply), so for the same norm the clipped values are torch's
 * bit for bit.  Returns the norm before clipping (NaN or infinite when a
 * gradient is: the gradients are then scaled by NaN or 0 as torch's are,
 * and the caller's finiteness checks stop the run).
 */
double optim_clip_grad_norm(float *g, size_t n, double max_norm);

#endif
