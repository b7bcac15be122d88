/*
 * clones.h: attributes for the hot vector loops of nn.c and winograd.c
 * (internal to the library).
 *
 * CLONES compiles a function three times, for AVX-512, AVX2 and the
 * baseline x86-64 (SSE2), the variant chosen once at load by the CPU
 * (GCC's target_clones, an ifunc).  ISO C mode (-std=c11) turns off
 * floating-point contraction, so the elementwise results are the same
 * IEEE operations on every variant; an omp simd reduction's order follows
 * the vector width.  Off with clang (the fuzzing build) and off Linux.
 *
 * NO_TRAP: GCC 12 if-converts (and so vectorises) a select like
 * z > 0 ? z : a z only without -ftrapping-math (measured: "control flow
 * in loop" otherwise); nothing in the suite enables floating-point traps,
 * and the results are the same IEEE operations element by element.
 */
#ifndef HM_CLONES_H
#define HM_CLONES_H

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define CLONES
#endif

#if defined(__GNUC__) && !defined(__clang__)
#define NO_TRAP __attribute__((optimize("no-trapping-math")))
#else
#define NO_TRAP
#endif

#endif
