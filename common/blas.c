#include "blas.h"
#include "err.h"

#include <cblas.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

static char describe_buf[256];
/* The guard's value when the re-exec changed only OMP_WAIT_POLICY. */
#define REEXEC_SAME_CORE "same"


/* OpenBLAS 0.3.21's x86_64 cores with AVX2 (or wider) sgemm kernels. */
static int core_is_good(const char *name)
{
	static const char *const good[] = {
		"Haswell", "Zen", "SkylakeX", "Cooperlake", "SapphireRapids",
	};
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
		if (!strcasecmp(name, good[i]))
			return 1;
	return 0;
}

const char *blas_choose_core(const char *detected, int has_avx512, int has_avx2_fma)
{
	if (detected && core_is_good(detected))
		return NULL;
	if (has_avx512)
		return "SkylakeX";
	if (has_avx2_fma)
		return "Haswell";
	return NULL;
}

static void cpu_features(int *avx512, int *avx2_fma)
{
	__builtin_cpu_init();
	*avx512 = __builtin_cpu_supports("avx512f") &&
		  __builtin_cpu_supports("avx512bw") &&
		  __builtin_cpu_supports("avx512dq") &&
		  __builtin_cpu_supports("avx512vl");
	*avx2_fma = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

static const char *reason_for(const char *core)
{
	return !strcasecmp(core, "SkylakeX") ? "CPU has AVX-512" : "CPU has AVX2 and FMA";
}

/* "OpenBLAS 0.3.21" from openblas_get_config()'s "OpenBLAS 0.3.21 NO_LAPACKE ...". */
static void library_name(char *buf, size_t n)
{
	const char *cfg = openblas_get_config();
	const char *sp = cfg ? strchr(cfg, ' ') : NULL;
	size_t len;
	if (!sp) {
		snprintf(buf, n, "OpenBLAS");
		return;
	}
	sp = strchr(sp + 1, ' ');
	len = sp ? (size_t)(sp - cfg) : strlen(cfg);
	snprintf(buf, n, "%.*s", (int)len, cfg);
}

static void describe(const char *how)
{
	char lib[64];
	library_name(lib, sizeof lib);
	snprintf(describe_buf, sizeof describe_buf, "%s core %s (%s)", lib,
		 openblas_get_corename(), how);
}

int blas_init(int argc, char **argv)
{
	const char *user = getenv("OPENBLAS_CORETYPE");
	const char *guard = getenv("HM_BLAS_REEXEC");
	const char *fake = getenv("HM_BLAS_FAKE_CORE");
	const char *detected = openblas_get_corename();
	const char *want;
	char how[128];
	int avx512, avx2_fma;

	(void)argc;
	if (guard && *guard) {
		/* The re-executed process: say whether OpenBLAS took the core. */
		if (user && !strcasecmp(user, guard) && !strcasecmp(detected, guard))
			snprintf(how, sizeof how, "chosen by hm: %s", reason_for(guard));
		else if (user && !strcasecmp(user, guard))
			snprintf(how, sizeof how, "hm asked for %s; OpenBLAS did not take it",
				 guard);
		else
			snprintf(how, sizeof how, "%s", user ? "set by OPENBLAS_CORETYPE"
							     : "detected by OpenBLAS");
		describe(how);
		return 0;
	}
	cpu_features(&avx512, &avx2_fma);
	want = user && *user ? NULL
			     : blas_choose_core(fake && *fake ? fake : detected, avx512, avx2_fma);
	const char *plain = user && *user ? "set by OPENBLAS_CORETYPE" : "detected by OpenBLAS";
	int passive = 0;
#ifdef _OPENMP
	/* libgomp's idle threads spin for milliseconds after each parallel loop,
	 * beside OpenBLAS's threads; passive waiting hands the cores back.
	 * OpenBLAS's idle workers, in turn, call sched_yield for 2^28 cycles
	 * (0.1 s) after each sgemm, on the cores the suite's own team works on
	 * next; 2^4, OpenBLAS's least, has them sleep at once (ir18 training:
	 * sched_yield calls 6.3 M -> 1.0 M, CPU time 49.0 -> 43.6 s). */
	passive = !getenv("OMP_WAIT_POLICY");
#endif
	if (!want && !passive) {
		describe(plain);
		return 0;
	}
	if ((want && setenv("OPENBLAS_CORETYPE", want, 1)) ||
	    (passive && setenv("OMP_WAIT_POLICY", "passive", 1)) ||
	    (passive && setenv("OPENBLAS_THREAD_TIMEOUT", "4", 0)) ||
	    setenv("HM_BLAS_REEXEC", want ? want : REEXEC_SAME_CORE, 1)) {
		describe(plain);
		return hm_error("cannot set the environment: %s", strerror(errno));
	}
	fflush(NULL);
	execv("/proc/self/exe", argv);
	/* Still here: the exec failed; carry on with the slow core. */
	{
		int e = errno;
		if (want)
			unsetenv("OPENBLAS_CORETYPE");
		unsetenv("HM_BLAS_REEXEC");
		snprintf(how, sizeof how, "%s; re-exec failed", plain);
		describe(how);
		return hm_error("cannot re-execute '/proc/self/exe' with OPENBLAS_CORETYPE=%s: %s",
				want ? want : "(unchanged)", strerror(e));
	}
}

const char *blas_describe(void)
{
	if (!describe_buf[0])
		describe("detected by OpenBLAS");
	return describe_buf;
}

int blas_hold_single(void)
{
#ifdef _OPENMP
	const int n = openblas_get_num_threads();
	if (n > 1)
		openblas_set_num_threads(1);
	return n;
#else
	return 1;
#endif
}

void blas_release_single(int n)
{
	if (n > 1)
		openblas_set_num_threads(n);
}

void sgemm_overwrite(int trans_a, int trans_b, int m, int n, int k, const float *a, int lda,
		     const float *b, int ldb, float *c, int ldc)
{
	sgemm_bias(trans_a, trans_b, m, n, k, a, lda, b, ldb, NULL, c, ldc);
}

void sgemm_bias(int trans_a, int trans_b, int m, int n, int k, const float *a, int lda,
		const float *b, int ldb, const float *bias, float *c, int ldc)
{
	for (int i = 0; i < m; i++) {
		float *row = c + (size_t)i * ldc;
		if (!bias) {
			memset(row, 0, (size_t)n * sizeof *c);
			continue;
		}
		/* a fill by doubling copies: memcpy's vector stores (a plain
		 * loop stays scalar at -O2 without -march) */
		if (n > 0)
			row[0] = bias[i];
		for (int j = 1; j < n; j *= 2)
			memcpy(row + j, row, (size_t)(j < n - j ? j : n - j) * sizeof *c);
	}
	cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
		    trans_b ? CblasTrans : CblasNoTrans, m, n, k, 1.0f, a, lda, b, ldb, 1.0f, c,
		    ldc);
}

void blas_set_threads(int n)
{
	if (n < 1)
		n = 1;
	openblas_set_num_threads(n);
#ifdef _OPENMP
	omp_set_num_threads(n);
#endif
}
