/*
 * rng: the suite's one random number generator (xoshiro256**, seeded with
 * splitmix64; Blackman and Vigna, https://prng.di.unimi.it/).
 *
 * The whole state is the struct: copy it to fork a stream, write it into a
 * checkpoint to resume exactly.  Same seed, same sequence, on every machine.
 */
#ifndef HM_RNG_H
#define HM_RNG_H

#include <stdint.h>

struct rng {
	uint64_t s[4];
};

/* Seeds the state from one 64-bit value (any value, including 0). */
void rng_seed(struct rng *r, uint64_t seed);
/* Seeds an independent stream: e.g. one per identity, image or thread. */
void rng_seed2(struct rng *r, uint64_t seed, uint64_t stream);
uint64_t rng_u64(struct rng *r);
uint32_t rng_u32(struct rng *r);
/* Uniform in [0, n) without modulo bias; n > 0. */
uint32_t rng_below(struct rng *r, uint32_t n);
/* Uniform in [0, 1). */
double rng_uniform(struct rng *r);
/* Uniform in [lo, hi). */
double rng_range(struct rng *r, double lo, double hi);
/* Standard normal (Box-Muller, one value per call). */
double rng_normal(struct rng *r);
/* Fisher-Yates shuffle of n ints. */
void rng_shuffle(struct rng *r, int *a, int n);

#endif
