/*
 * blas: OpenBLAS set-up for the whole suite (core choice, threads, -v text).
 *
 * Why this exists: Debian's OpenBLAS 0.3.21 is built with
 * DYNAMIC_ARCH and picks its kernels ("core") once, when the library loads,
 * from the CPU it detects.  It misdetects some CPUs (AVX-512 ones as
 * "Prescott") and then runs SSE3 kernels at a fifth of the speed.  The
 * variable OPENBLAS_CORETYPE overrides the choice, but it is read only at
 * load time, before main() runs.  So blas_init(), called first thing in
 * main(), re-executes the program once (execv of /proc/self/exe with the same
 * argv) with OPENBLAS_CORETYPE set, when all of these hold:
 *   - the user has not set OPENBLAS_CORETYPE (the user's choice always wins);
 *   - this is not already the re-executed process (guard HM_BLAS_REEXEC,
 *     whose value is the core hm asked for), so there is never a loop;
 *   - openblas_get_corename() names a generic core: anything but Haswell,
 *     Zen, SkylakeX, Cooperlake, SapphireRapids (the cores with AVX2 kernels);
 *   - the CPU (GCC's __builtin_cpu_supports, which also checks that the OS
 *     saves the wide registers) has AVX-512 F/BW/DQ/VL -> "SkylakeX", or else
 *     AVX2 and FMA -> "Haswell".
 * A CPU that OpenBLAS already detects well (e.g. an AMD EPYC as "Zen") keeps
 * its core.
 * The same re-exec sets OMP_WAIT_POLICY=passive when the suite is built with
 * OpenMP and the user has not set the variable (libgomp, too, reads it only
 * when it loads): libgomp's idle threads otherwise spin for milliseconds
 * after each parallel loop while OpenBLAS's threads want the same cores,
 * which made two-thread training 40% slower than one thread on a small net.
 * The guard is then "same" when only that variable changed.  If the execv fails, the program goes on with the
 * detected core and blas_init() reports why.
 *
 * Test hook: HM_BLAS_FAKE_CORE=NAME makes blas_init() treat the detected
 * core as NAME (e.g. Prescott) when deciding; everything else is real, so a
 * test can watch the re-exec happen and OpenBLAS load the chosen core.
 *
 * Threads, one owner of the cores at a time: OpenBLAS owns them inside an
 * sgemm call; the suite's own loops (common/nn.c) use OpenMP over disjoint
 * outputs.  The one place an OpenMP team calls sgemm itself
 * (common/winograd.c) first holds OpenBLAS to one thread
 * (blas_hold_single()), so the two pools never nest.  blas_set_threads()
 * sets both to the tool's -j value.
 *
 * Nothing here allocates; blas_describe() returns a static string.
 */
#ifndef HM_BLAS_H
#define HM_BLAS_H

/*
 * Chooses the core and may re-execute the program (see above): call it at
 * the top of main(), before any output and before opening files, with
 * main's own argc/argv (argv[argc] must be NULL, as C guarantees).  Returns
 * 0 when no re-exec is needed (or this is the re-executed process).  When
 * one is needed and execv succeeds, it does not return.  When execv fails
 * it returns -1 with the error recorded; the program can go on with the
 * detected core (a tool warns).
 */
int blas_init(int argc, char **argv);

/*
 * One line for -v, e.g.
 *   "OpenBLAS 0.3.21 core Haswell (chosen by hm: CPU has AVX2 and FMA)"
 *   "OpenBLAS 0.3.21 core Zen (detected by OpenBLAS)"
 *   "OpenBLAS 0.3.21 core Nehalem (set by OPENBLAS_CORETYPE)"
 * Valid after blas_init(); a static buffer, not to be freed.
 */
const char *blas_describe(void);

/* Threads for OpenBLAS and, when built with OpenMP, the suite's own loops; n >= 1. */
void blas_set_threads(int n);

/*
 * For a layer whose OpenMP team runs the sgemms itself, one per thread:
 * blas_hold_single() sets OpenBLAS to one thread (so none of its workers
 * spins beside the team) and returns the count it had, which
 * blas_release_single() restores.  Without OpenMP both do nothing (the
 * layer's one thread then leaves the sgemms to OpenBLAS's threads).
 */
int blas_hold_single(void);
void blas_release_single(int n);

/*
 * c [m, n] (row stride ldc) = op(a) . op(b), row-major, op transposing when
 * trans_a / trans_b is non-zero: what cblas_sgemm gives with alpha 1 and
 * beta 0, whatever c held (NaN included).  It clears c with memset and asks
 * for beta 1: OpenBLAS 0.3.21 clears c for beta 0 in its own sgemm_beta
 * pass, which on the thin products of the convolutions costs more than
 * memset (conv layers of an IR-18 step: 121 -> 135 GFLOP/s).
 */
void sgemm_overwrite(int trans_a, int trans_b, int m, int n, int k, const float *a, int lda,
		     const float *b, int ldb, float *c, int ldc);

/* The same with row i of c starting from bias[i] instead of 0 (bias NULL:
 * sgemm_overwrite): a bias added at no extra pass over c. */
void sgemm_bias(int trans_a, int trans_b, int m, int n, int k, const float *a, int lda,
		const float *b, int ldb, const float *bias, float *c, int ldc);

/*
 * The decision alone, for tests: the core to ask for, given the detected
 * core's name and the CPU's features; NULL when the detected core is fine
 * or the CPU has nothing better than it.
 */
const char *blas_choose_core(const char *detected, int has_avx512, int has_avx2_fma);

#endif
