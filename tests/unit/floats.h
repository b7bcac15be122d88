/*
 * floats.h: float-array helpers for the numeric unit tests (t-nn,
 * t-winograd): random arrays, copies, and the norm-wise relative error
 * they compare with.  Arrays come from xmalloc() (at least one element)
 * and are the caller's to free.
 */
#ifndef HM_TEST_FLOATS_H
#define HM_TEST_FLOATS_H

#include "err.h"
#include "rng.h"

#include <math.h>
#include <string.h>

/* N uniform values in [lo, hi) from R. */
static inline float *rand_floats(struct rng *r, size_t n, float lo, float hi)
{
	float *p = xmalloc((n ? n : 1) * sizeof *p);
	for (size_t i = 0; i < n; i++)
		p[i] = (float)rng_range(r, lo, hi);
	return p;
}

static inline float *copyf(const float *a, size_t n)
{
	float *p = xmalloc((n ? n : 1) * sizeof *p);
	memcpy(p, a, n * sizeof *p);
	return p;
}

/* N NaNs: a buffer whose old contents must never be read. */
static inline float *nan_floats(size_t n)
{
	float *p = xmalloc((n ? n : 1) * sizeof *p);
	for (size_t i = 0; i < n; i++)
		p[i] = NAN;
	return p;
}

/* max |got - want| / max |want|: a norm-wise relative error (NaN:
 * infinity). */
static inline double rel_err(const float *got, const float *want, size_t n)
{
	double e = 0, m = 0;
	for (size_t i = 0; i < n; i++) {
		double d = fabs((double)got[i] - want[i]);
		if (d > e || isnan(d))
			e = isnan(d) ? INFINITY : d;
		if (fabs(want[i]) > m)
			m = fabs(want[i]);
	}
	return m > 0 ? e / m : e;
}

#endif
