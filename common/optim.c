/* optim: SGD with momentum and weight decay, learning-rate schedules. */
#include "optim.h"
#include "err.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/*
 * torch/optim/sgd.py, _single_tensor_sgd (1.13):
 *	d_p = d_p.add(param, alpha=weight_decay)
 *	buf.mul_(momentum).add_(d_p)		(buf = clone(d_p) at first)
 *	param.add_(buf, alpha=-lr)
 * ATen's CPU add with alpha is one fused multiply-add (vec::fmadd): the
 * result is rounded once.  fmaf() gives the same correctly rounded value,
 * so the update matches torch bit for bit; mul_ then add_ round twice.
 * On a CPU with FMA the loop is compiled a second time for it (fmaf
 * becomes one instruction); elsewhere fmaf() from libm computes the same
 * value in software.
 */
#define SGD_LOOP							\
	for (size_t i = 0; i < n; i++) {				\
		float d = fmaf(wd, p[i], g[i]);				\
		float b = momentum * buf[i] + d;			\
		buf[i] = b;						\
		p[i] = fmaf(-lr, b, p[i]);				\
	}

#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target("fma"))) static void sgd_fma(float *p, float *buf,
						    const float *g, size_t n,
						    float lr, float momentum,
						    float wd)
{
	SGD_LOOP
}
#endif

void optim_sgd_step(float *p, float *buf, const float *g, size_t n, float lr,
		    float momentum, float wd)
{
#if defined(__x86_64__) && defined(__GNUC__)
	if (__builtin_cpu_supports("fma")) {
		sgd_fma(p, buf, g, n, lr, momentum, wd);
		return;
	}
#endif
	SGD_LOOP
}

void optim_sgd_step_ref(double *p, double *buf, const double *g, size_t n,
			double lr, double momentum, double wd)
{
	for (size_t i = 0; i < n; i++) {
		double d = g[i] + wd * p[i];
		buf[i] = momentum * buf[i] + d;
		p[i] -= lr * buf[i];
	}
}

double lr_at(const struct lr_schedule *s, long t)
{
	double lr = s->base;
	if (t < 0)
		t = 0;
	if (s->kind == LR_COSINE) {
		double span = (double)(s->total - s->warmup);
		double u = span > 0 ? (double)(t - s->warmup) / span : 1.0;
		if (u < 0)
			u = 0;
		if (u > 1)
			u = 1;
		lr = s->base * (1.0 + cos(M_PI * u)) / 2.0;
	} else {
		for (int i = 0; i < s->n_steps && s->steps[i] <= t; i++)
			lr *= s->factor;
	}
	if (t < s->warmup)
		lr *= (double)(t + 1) / (double)s->warmup;
	return lr;
}

static int steps_bad(int *n)
{
	*n = 0;
	return -1;
}

int optim_steps_parse(long *steps, int *n, const char *s)
{
	*n = 0;
	if (!*s || !strcmp(s, "none"))
		return 0;
	const char *p = s;
	for (;;) {
		char *end;
		if (*p < '0' || *p > '9')
			return hm_error("'%s': milestone %d is not a positive integer",
					s, *n + 1), steps_bad(n);
		errno = 0;
		long v = strtol(p, &end, 10);
		if (errno || v < 1 || (*end && *end != ','))
			return hm_error("'%s': milestone %d is not a positive integer",
					s, *n + 1), steps_bad(n);
		if (*n == OPTIM_MAX_STEPS)
			return hm_error("'%s': more than %d milestones", s,
					OPTIM_MAX_STEPS), steps_bad(n);
		if (*n > 0 && v <= steps[*n - 1])
			return hm_error("'%s': milestones must increase (%ld after %ld)",
					s, v, steps[*n - 1]), steps_bad(n);
		steps[(*n)++] = v;
		if (!*end)
			return 0;
		p = end + 1;
	}
}
