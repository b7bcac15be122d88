/* optim: SGD with momentum and weight decay, learning-rate schedules,
 * gradient-norm clipping. */
#include "optim.h"
#include "err.h"
#include "scores.h"

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

/* Blocks of SGD_BLOCK values shared among the OpenMP threads (each value
 * on its own: the same bytes whatever their number) when a tensor has
 * SGD_PAR_MIN values or more; on the main thread alone, the step was
 * about 0.4% of a training step's samples while the other core idled. */
#define SGD_BLOCK 16384
#define SGD_PAR_MIN 65536
#ifdef _OPENMP
#define PRAGMA(x) _Pragma(#x)
#else
#define PRAGMA(x)
#endif
#define SGD_BLOCKS(body)						\
	const size_t nb = (n0 + SGD_BLOCK - 1) / SGD_BLOCK;		\
	PRAGMA(omp parallel for if (n0 >= SGD_PAR_MIN) schedule(static)) \
	for (size_t u = 0; u < nb; u++) {				\
		const size_t o = u * SGD_BLOCK;				\
		const size_t n = n0 - o < SGD_BLOCK ? n0 - o : SGD_BLOCK; \
		body(p0 + o, buf0 + o, g0 + o, n, lr, momentum, wd);	\
	}

#if defined(__x86_64__) && defined(__GNUC__)
/* Vectorised (omp simd): fmaf on vectors is still one rounding a lane. */
__attribute__((target("fma"))) static void sgd_fma(float *p, float *buf,
						    const float *g, size_t n,
						    float lr, float momentum,
						    float wd)
{
	PRAGMA(omp simd)
	SGD_LOOP
}
#endif

static void sgd_plain(float *p, float *buf, const float *g, size_t n, float lr,
		      float momentum, float wd)
{
	SGD_LOOP
}

void optim_sgd_step(float *p0, float *buf0, const float *g0, size_t n0, float lr,
		    float momentum, float wd)
{
#if defined(__x86_64__) && defined(__GNUC__)
	if (__builtin_cpu_supports("fma")) {
		SGD_BLOCKS(sgd_fma)
		return;
	}
#endif
	SGD_BLOCKS(sgd_plain)
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
	if (s->kind == LR_POLY) {
		/* PolyScheduler.get_lr() at last_epoch t. */
		if (t < s->warmup)
			return s->base * (double)t / (double)s->warmup;
		double span = (double)(s->total - s->warmup);
		double u = span > 0 ? (double)(t - s->warmup) / span : 1.0;
		if (u > 1)
			u = 1;
		return s->base * pow(1.0 - u, s->power);
	}
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

int optim_schedule_parse(enum lr_kind *kind, double *power, const char *s)
{
	*power = 2;
	if (!strcmp(s, "step")) {
		*kind = LR_STEP;
		return 0;
	}
	if (!strcmp(s, "cosine")) {
		*kind = LR_COSINE;
		return 0;
	}
	if (strncmp(s, "poly", 4) || (s[4] && s[4] != ':'))
		return hm_error("'%s' is not step, cosine, poly or poly:POWER", s);
	*kind = LR_POLY;
	if (!s[4])
		return 0;
	char *end;
	errno = 0;
	double p = strtod(s + 5, &end);
	if (end == s + 5 || *end || errno || !isfinite(p) || p <= 0 || p > 1e6)
		return hm_error("'%s': the power of poly must be a number > 0", s);
	*power = p;
	return 0;
}

char *optim_schedule_name(char *buf, size_t n, enum lr_kind kind, double power)
{
	char p[40];
	if (kind == LR_POLY)
		snprintf(buf, n, "poly:%s", scores_fmt_double(p, power));
	else
		snprintf(buf, n, "%s", kind == LR_COSINE ? "cosine" : "step");
	return buf;
}

double optim_clip_grad_norm(float *g, size_t n, double max_norm)
{
	double ss = 0;
	for (size_t i = 0; i < n; i++)
		ss += (double)g[i] * g[i];
	float norm = (float)sqrt(ss);
	/* torch: clip_coef = max_norm / (total_norm + 1e-6), float32 */
	float recip = 1.0f / (norm + 1e-6f);
	float coef = recip * (float)max_norm;
	if (coef > 1.0f)	/* torch.clamp(max=1.0); NaN stays NaN */
		coef = 1.0f;
	for (size_t i = 0; i < n; i++)
		g[i] *= coef;
	return norm;
}
