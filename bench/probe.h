/*
 * probe.h: the two helpers the bench probes (bench/gemm.c, convstep.c,
 * model.c) share: a monotonic clock and random test data.  Header-only,
 * because each probe is compiled alone against libhm.a by its script.
 */
#ifndef HM_BENCH_PROBE_H
#define HM_BENCH_PROBE_H

#include <stddef.h>
#include <time.h>

#include "err.h"
#include "rng.h"

/* Seconds on the monotonic clock. */
static inline double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* n floats uniform in [-1, 1) from r; the caller frees them. */
static inline float *rnd(size_t n, struct rng *r)
{
	float *p = xmalloc((n ? n : 1) * sizeof *p);
	for (size_t i = 0; i < n; i++)
		p[i] = (float)rng_range(r, -1, 1);
	return p;
}

#endif
