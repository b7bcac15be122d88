/*
 * OpenBLAS core choice: the decision table, and the re-exec itself.  The
 * test binary re-runs itself as a child ("t-blas.t child"); the child
 * prints a "start PID" line each time main() begins, calls blas_init(),
 * then reports the core OpenBLAS loaded and checks one sgemm.  With the
 * test hook HM_BLAS_FAKE_CORE=Prescott on a CPU with AVX2 and FMA (or
 * AVX-512), the child must start twice in the same process (execv keeps
 * the pid) and OpenBLAS must then report the chosen core: proof that the
 * variable reached the library when it loaded.
 */
#include "tap.h"
#include "blas.h"
#include "err.h"

#include <cblas.h>
#include <math.h>
#include <stdint.h>
#ifdef _OPENMP
#include <omp.h>
#endif

/* Exported by OpenBLAS 0.3.21 (driver/others/openblas_env.c), not in cblas.h. */
int openblas_thread_timeout(void);

static int child(int argc, char **argv)
{
	float a[6] = { 1, 2, 3, 4, 5, 6 }, b[6] = { 1, 0, -1, 2, 0.5f, 3 }, c[4];
	const char *guard;

	printf("start %ld\n", (long)getpid());
	fflush(stdout);
	if (blas_init(argc, argv))
		printf("error %s\n", hm_errmsg());
	guard = getenv("HM_BLAS_REEXEC");
	/* [2x3] . [3x2] */
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, 2, 2, 3, 1.0f, a, 3, b, 2, 0.0f, c,
		    2);
	printf("omp %s\n", getenv("OMP_WAIT_POLICY") ? getenv("OMP_WAIT_POLICY") : "-");
	/* what OpenBLAS read when it loaded (its default is 28) */
	printf("timeout %d\n", openblas_thread_timeout());
	printf("guard %s\ncore %s\ndescribe %s\nsgemm %s\n", guard ? guard : "-",
	       openblas_get_corename(), blas_describe(),
	       c[0] == 0.5f && c[1] == 13 && c[2] == 2 && c[3] == 28 ? "ok" : "wrong");
	return 0;
}

struct run {
	int starts, same_pid, timeout;
	char guard[64], core[64], describe[256], sgemm[16], error[256], omp[32];
};

/* Runs the child with the environment changes VARS ("NAME=value" sets,
 * "NAME" unsets), collects what it printed. */
static int run_child(struct run *r, const char *self, const char *const *vars)
{
	char cmd[1200], line[512];
	long first_pid = -1, pid;
	FILE *p;
	int status;

	memset(r, 0, sizeof *r);
	r->same_pid = 1;
	/* env wants its -u options before the assignments.  OMP_WAIT_POLICY is
	 * set so that only the core decides a re-exec, except in the tests
	 * that name it. */
	int names_omp = 0;
	snprintf(cmd, sizeof cmd,
		 "env -u OPENBLAS_CORETYPE -u HM_BLAS_REEXEC -u HM_BLAS_FAKE_CORE"
		 " -u OPENBLAS_THREAD_TIMEOUT");
	for (const char *const *v = vars; *v; v++) {
		names_omp |= !strncmp(*v, "OMP_WAIT_POLICY", 15);
		if (!strchr(*v, '='))
			snprintf(cmd + strlen(cmd), sizeof cmd - strlen(cmd), " -u %s", *v);
	}
	if (!names_omp)
		snprintf(cmd + strlen(cmd), sizeof cmd - strlen(cmd), " OMP_WAIT_POLICY=active");
	for (; *vars; vars++)
		if (strchr(*vars, '='))
			snprintf(cmd + strlen(cmd), sizeof cmd - strlen(cmd), " %s", *vars);
	snprintf(cmd + strlen(cmd), sizeof cmd - strlen(cmd), " '%s' child", self);
	p = popen(cmd, "r");
	if (!p)
		return -1;
	while (fgets(line, sizeof line, p)) {
		line[strcspn(line, "\n")] = 0;
		if (sscanf(line, "start %ld", &pid) == 1) {
			if (r->starts++ == 0)
				first_pid = pid;
			else if (pid != first_pid)
				r->same_pid = 0;
		} else if (sscanf(line, "timeout %d", &r->timeout) == 1) {
			;
		} else if (!strncmp(line, "omp ", 4)) {
			snprintf(r->omp, sizeof r->omp, "%s", line + 4);
		} else if (!strncmp(line, "guard ", 6)) {
			snprintf(r->guard, sizeof r->guard, "%s", line + 6);
		} else if (!strncmp(line, "core ", 5)) {
			snprintf(r->core, sizeof r->core, "%s", line + 5);
		} else if (!strncmp(line, "describe ", 9)) {
			snprintf(r->describe, sizeof r->describe, "%s", line + 9);
		} else if (!strncmp(line, "sgemm ", 6)) {
			snprintf(r->sgemm, sizeof r->sgemm, "%s", line + 6);
		} else if (!strncmp(line, "error ", 6)) {
			snprintf(r->error, sizeof r->error, "%s", line + 6);
		}
	}
	status = pclose(p);
	return status == 0 ? 0 : -1;
}

static void test_choose(void)
{
	is_str(blas_choose_core("Prescott", 1, 1), "SkylakeX", "Prescott on an AVX-512 CPU -> SkylakeX");
	is_str(blas_choose_core("Prescott", 0, 1), "Haswell", "Prescott on an AVX2+FMA CPU -> Haswell");
	is_str(blas_choose_core("Nehalem", 0, 1), "Haswell", "Nehalem on an AVX2+FMA CPU -> Haswell");
	is_str(blas_choose_core("Sandybridge", 0, 1), "Haswell", "Sandybridge (AVX, no AVX2 kernels) -> Haswell");
	is_str(blas_choose_core("Core2", 1, 1), "SkylakeX", "Core2 on an AVX-512 CPU -> SkylakeX");
	ok(blas_choose_core("Prescott", 0, 0) == NULL, "Prescott on a CPU without AVX2: nothing better");
	ok(blas_choose_core("Zen", 0, 1) == NULL, "Zen is left alone");
	ok(blas_choose_core("Haswell", 1, 1) == NULL, "Haswell is left alone (not generic)");
	ok(blas_choose_core("SkylakeX", 1, 1) == NULL, "SkylakeX is left alone");
	ok(blas_choose_core("COOPERLAKE", 1, 1) == NULL, "names compare without case");
}

/* sgemm_overwrite() and sgemm_bias() against a double loop, every
 * transpose, with c full of NaN (beta 0 must not read it) and two columns
 * past n that must stay; n = 7 makes the bias fill's last doubling copy a
 * partial one. */
static void test_overwrite(void)
{
	enum { M = 5, N = 7, K = 3, LDC = N + 2 };
	float a[M * K], b[K * N], c[M * LDC], bias[M];

	for (int i = 0; i < M * K; i++)
		a[i] = (float)((i * 7) % 11) - 5.0f;
	for (int i = 0; i < K * N; i++)
		b[i] = (float)((i * 5) % 13) * 0.25f - 1.5f;
	for (int i = 0; i < M; i++)
		bias[i] = 0.75f * (float)i - 1.25f;
	for (int wb = 0; wb < 2; wb++)
		for (int ta = 0; ta < 2; ta++)
			for (int tb = 0; tb < 2; tb++) {
				int bad = 0;
				for (int i = 0; i < M * LDC; i++)
					c[i] = i % LDC < N ? NAN : 123.0f;
				/* a is [M, K] or, transposed, read as [K, M]; b likewise */
				if (wb)
					sgemm_bias(ta, tb, M, N, K, a, ta ? M : K, b, tb ? K : N, bias,
						   c, LDC);
				else
					sgemm_overwrite(ta, tb, M, N, K, a, ta ? M : K, b,
							tb ? K : N, c, LDC);
				for (int i = 0; i < M; i++)
					for (int j = 0; j < LDC; j++) {
						double want = 123.0;
						if (j < N) {
							want = wb ? bias[i] : 0;
							for (int l = 0; l < K; l++)
								want += (double)(ta ? a[l * M + i]
										    : a[i * K + l]) *
									(tb ? b[j * K + l] : b[l * N + j]);
						}
						bad += !(fabs(c[i * LDC + j] - want) <=
							 1e-5 * (1 + fabs(want)));
					}
				ok(bad == 0, "%s trans_a %d trans_b %d: %d entries wrong",
				   wb ? "sgemm_bias" : "sgemm_overwrite", ta, tb, bad);
			}
}

/* What OpenBLAS detects in a process started without OPENBLAS_CORETYPE:
 * the parent's own openblas_get_corename() names the user's forced core
 * when the environment sets one, not the detection. */
static void detected_core(const char *self, char *core, size_t n)
{
	char cmd[1200];
	FILE *p;

	snprintf(cmd, sizeof cmd, "env -u OPENBLAS_CORETYPE '%s' corename", self);
	core[0] = 0;
	p = popen(cmd, "r");
	if (!p)
		return;
	if (fgets(core, (int)n, p))
		core[strcspn(core, "\n")] = 0;
	pclose(p);
}

int main(int argc, char **argv)
{
	char self[1024], real[64];
	ssize_t len;
	struct run r;
	const char *want;
	int avx512, avx2_fma;

	if (argc > 1 && !strcmp(argv[1], "child"))
		return child(argc, argv);
	if (argc > 1 && !strcmp(argv[1], "corename"))
		return puts(openblas_get_corename()) < 0;

	test_choose();
	test_overwrite();

	len = readlink("/proc/self/exe", self, sizeof self - 1);
	if (!ok(len > 0, "found the test binary"))
		return done_testing();
	self[len] = 0;

	__builtin_cpu_init();
	avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
		 __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
	avx2_fma = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
	want = avx512 ? "SkylakeX" : avx2_fma ? "Haswell" : NULL;
	detected_core(self, real, sizeof real);
	ok(real[0] != 0, "a child without OPENBLAS_CORETYPE names its core: %s", real);
	diag("this CPU: %s; OpenBLAS detects %s; this process runs %s (OPENBLAS_CORETYPE %s)",
	     want ? want : "no AVX2", real, openblas_get_corename(),
	     getenv("OPENBLAS_CORETYPE") ? getenv("OPENBLAS_CORETYPE") : "unset");

	{
		/* The forced case: the detection is told the core is Prescott. */
		const char *vars[] = { "HM_BLAS_FAKE_CORE=Prescott", NULL };
		ok(run_child(&r, self, vars) == 0, "child with HM_BLAS_FAKE_CORE=Prescott ran");
		if (want) {
			is_int(r.starts, 2, "it re-executed itself once");
			ok(r.same_pid, "in the same process (execv)");
			is_str(r.guard, want, "with the guard naming the chosen core");
			is_str(r.core, want, "and OpenBLAS loaded the chosen core");
			like(r.describe, "(chosen by hm: CPU has", "-v says hm chose it: %s", r.describe);
		} else {
			is_int(r.starts, 1, "no better core for this CPU: no re-exec");
		}
		is_str(r.sgemm, "ok", "sgemm is right on the chosen core");
		is_str(r.error, "", "no error");
	}
	{
		/* Nothing forced: a CPU that OpenBLAS detects well runs as is. */
		const char *vars[] = { NULL };
		int generic = blas_choose_core(real, avx512, avx2_fma) != NULL;
		ok(run_child(&r, self, vars) == 0, "child without the hook ran");
		is_int(r.starts, generic ? 2 : 1, "re-exec only when the detected core (%s) is generic", real);
		if (!generic)
			like(r.describe, "(detected by OpenBLAS)", "-v says OpenBLAS detected it: %s", r.describe);
		like(r.describe, "OpenBLAS 0.", "-v names the library and version");
		is_str(r.sgemm, "ok", "sgemm is right");
	}
	{
		/* The user's OPENBLAS_CORETYPE always wins. */
		const char *vars[] = { "HM_BLAS_FAKE_CORE=Prescott", "OPENBLAS_CORETYPE=Nehalem", NULL };
		ok(run_child(&r, self, vars) == 0, "child with OPENBLAS_CORETYPE=Nehalem ran");
		is_int(r.starts, 1, "user's OPENBLAS_CORETYPE: no re-exec");
		is_str(r.core, "Nehalem", "the user's core is loaded");
		like(r.describe, "core Nehalem (set by OPENBLAS_CORETYPE)", "-v says the user set it: %s", r.describe);
		is_str(r.sgemm, "ok", "sgemm is right on Nehalem");
	}
	{
		/* OMP_WAIT_POLICY unset: with OpenMP, one re-exec sets it passive and
		 * leaves a well-detected core alone. */
		const char *vars[] = { "OMP_WAIT_POLICY", NULL };
		int generic = blas_choose_core(real, avx512, avx2_fma) != NULL;
		ok(run_child(&r, self, vars) == 0, "child without OMP_WAIT_POLICY ran");
#ifdef _OPENMP
		is_int(r.starts, 2, "OpenMP build: it re-executed itself once");
		is_str(r.omp, "passive", "with OMP_WAIT_POLICY=passive");
		is_int(r.timeout, 4, "and OpenBLAS read OPENBLAS_THREAD_TIMEOUT=4");
		if (!generic) {
			is_str(r.guard, "same", "the guard says only the wait policy changed");
			is_str(r.core, real, "the detected core is kept");
			like(r.describe, "(detected by OpenBLAS)", "-v: %s", r.describe);
		}
#else
		is_int(r.starts, generic ? 2 : 1, "no OpenMP: the core alone decides");
		is_str(r.omp, "-", "OMP_WAIT_POLICY stays unset");
		is_int(r.timeout, 28, "OpenBLAS keeps its thread timeout");
#endif
		is_str(r.sgemm, "ok", "sgemm is right");
	}
#ifdef _OPENMP
	{
		/* The user's OPENBLAS_THREAD_TIMEOUT is kept through the re-exec. */
		const char *vars[] = { "OMP_WAIT_POLICY", "OPENBLAS_THREAD_TIMEOUT=10", NULL };
		ok(run_child(&r, self, vars) == 0, "child with OPENBLAS_THREAD_TIMEOUT=10 ran");
		is_int(r.starts, 2, "it re-executed itself once");
		is_int(r.timeout, 10, "OpenBLAS read the user's timeout");
	}
#endif
	{
		/* The user's OMP_WAIT_POLICY is kept. */
		const char *vars[] = { "OMP_WAIT_POLICY=active", NULL };
		ok(run_child(&r, self, vars) == 0, "child with OMP_WAIT_POLICY=active ran");
		is_str(r.omp, "active", "the user's wait policy is kept");
	}
	{
		/* The guard stops a loop even if the detection still says generic. */
		const char *vars[] = { "HM_BLAS_FAKE_CORE=Prescott", "HM_BLAS_REEXEC=Haswell", NULL };
		ok(run_child(&r, self, vars) == 0, "child with the guard already set ran");
		is_int(r.starts, 1, "guard set: never re-executes");
	}
	{
		blas_set_threads(1);
		is_int(openblas_get_num_threads(), 1, "blas_set_threads sets OpenBLAS's threads");
#ifdef _OPENMP
		is_int(omp_get_max_threads(), 1, "and OpenMP's");
#endif
		blas_set_threads(2);
		is_int(openblas_get_num_threads(), 2, "blas_set_threads(2)");
	}
	return done_testing();
}
