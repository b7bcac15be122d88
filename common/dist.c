/* dist: MPI ranks, sums and synchronised batch norm (see dist.h). */
#include "dist.h"

#include <math.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef HM_MPI
#include <mpi.h>
#endif

#ifdef HM_MPI
static int joined;
#endif
static int rank_, size_ = 1, local_size_ = 1;
static size_t bucket_bytes = DIST_BUCKET_BYTES;
static char describe_buf[256];

int dist_compiled(void)
{
#ifdef HM_MPI
	return 1;
#else
	return 0;
#endif
}

/* Whether an MPI launcher started this process. */
static int launched_by_mpi(void)
{
	static const char *const vars[] = {
		"OMPI_COMM_WORLD_SIZE",	/* Open MPI's mpirun / mpiexec */
		"PMIX_RANK",		/* PMIx: srun --mpi=pmix, prte */
		"PMI_SIZE",		/* PMI-1/2: srun --mpi=pmi2, MPICH hydra */
		NULL
	};
	for (int i = 0; vars[i]; i++)
		if (getenv(vars[i]))
			return 1;
	return 0;
}

int dist_init(int *argc, char ***argv)
{
#ifdef HM_MPI
	if (joined || !launched_by_mpi())
		return 0;
	int provided;
	if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
		return hm_error("MPI_Init failed: cannot join the MPI job");
	joined = 1;
	MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
	MPI_Comm_size(MPI_COMM_WORLD, &size_);
	MPI_Comm local;
	if (MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL,
				&local) == MPI_SUCCESS) {
		MPI_Comm_size(local, &local_size_);
		MPI_Comm_free(&local);
	}
#else
	(void)argc;
	(void)argv;
	/* N copies of a one-process hm-train would all write the same files. */
	static const char *const sizes[] = { "OMPI_COMM_WORLD_SIZE", "PMI_SIZE",
					     "SLURM_NTASKS", NULL };
	for (int i = 0; launched_by_mpi() && sizes[i]; i++) {
		const char *v = getenv(sizes[i]);
		if (v && atoi(v) > 1)
			return hm_error("started as one of %s MPI ranks (%s), but built "
					"without MPI; rebuild with make MPI=1", v, sizes[i]);
	}
#endif
	return 0;
}

void dist_finalize(void)
{
#ifdef HM_MPI
	if (joined) {
		MPI_Finalize();
		joined = 0;
	}
#endif
}

int dist_rank(void)
{
	return rank_;
}

int dist_size(void)
{
	return size_;
}

int dist_local_size(void)
{
	return local_size_;
}

int dist_joined(void)
{
#ifdef HM_MPI
	return joined;
#else
	return 0;
#endif
}

int dist_default_threads(int cores)
{
	int n = cores / local_size_;
	cpu_set_t set;
	if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) < n)
		n = CPU_COUNT(&set);
	return n < 1 ? 1 : n;
}

const char *dist_describe(void)
{
#ifdef HM_MPI
	if (!joined) {
		snprintf(describe_buf, sizeof describe_buf,
			 "one process (MPI built in; not started by mpirun)");
		return describe_buf;
	}
	char lib[MPI_MAX_LIBRARY_VERSION_STRING];
	int n = 0;
	MPI_Get_library_version(lib, &n);
	lib[strcspn(lib, ",\n")] = 0;	/* "Open MPI v4.1.4, package: ..." */
	snprintf(describe_buf, sizeof describe_buf, "%s, rank %d of %d (%d on this host)",
		 lib, rank_, size_, local_size_);
#else
	snprintf(describe_buf, sizeof describe_buf, "one process (built without MPI)");
#endif
	return describe_buf;
}

void dist_set_bucket_bytes(size_t bytes)
{
	bucket_bytes = bytes < 4096 ? 4096 : bytes;
}

#ifdef HM_MPI
/* In-place MPI_SUM of N elements of SIZE bytes, in buckets. */
static int sum_buckets(void *buf, size_t n, size_t size, MPI_Datatype type)
{
	size_t per = bucket_bytes / size;
	char *p = buf;
	for (size_t done = 0; done < n; ) {
		size_t k = n - done < per ? n - done : per;
		if (MPI_Allreduce(MPI_IN_PLACE, p + done * size, (int)k, type, MPI_SUM,
				  MPI_COMM_WORLD) != MPI_SUCCESS)
			return hm_error("MPI_Allreduce failed");
		done += k;
	}
	return 0;
}
#endif

int dist_sum_float(float *buf, size_t n)
{
#ifdef HM_MPI
	if (joined && size_ > 1)
		return sum_buckets(buf, n, sizeof *buf, MPI_FLOAT);
#endif
	(void)buf;
	(void)n;
	return 0;
}

int dist_sum_double(double *buf, size_t n)
{
#ifdef HM_MPI
	if (joined && size_ > 1)
		return sum_buckets(buf, n, sizeof *buf, MPI_DOUBLE);
#endif
	(void)buf;
	(void)n;
	return 0;
}

int dist_bcast(void *buf, size_t bytes, int root)
{
#ifdef HM_MPI
	if (joined && size_ > 1) {
		char *p = buf;
		for (size_t done = 0; done < bytes; ) {
			size_t k = bytes - done < bucket_bytes ? bytes - done : bucket_bytes;
			if (MPI_Bcast(p + done, (int)k, MPI_BYTE, root, MPI_COMM_WORLD) !=
			    MPI_SUCCESS)
				return hm_error("MPI_Bcast failed");
			done += k;
		}
	}
#endif
	(void)buf;
	(void)bytes;
	(void)root;
	return 0;
}

int dist_barrier(void)
{
#ifdef HM_MPI
	if (joined && size_ > 1 && MPI_Barrier(MPI_COMM_WORLD) != MPI_SUCCESS)
		return hm_error("MPI_Barrier failed");
#endif
	return 0;
}

void dist_abort(int code)
{
	fflush(stdout);
	fflush(stderr);
#ifdef HM_MPI
	if (joined && size_ > 1)
		MPI_Abort(MPI_COMM_WORLD, code);
#endif
	exit(code);
}

/* --- synchronised batch norm ---------------------------------------- */

struct dist_bn {
	int max_c;
	double *v;	/* [2 max_c] */
};

struct dist_bn *dist_bn_new(int max_c)
{
	struct dist_bn *s = calloc(1, sizeof *s);
	if (!s || !(s->v = calloc(2 * (size_t)(max_c > 0 ? max_c : 1), sizeof *s->v))) {
		free(s);
		hm_error("out of memory");
		return NULL;
	}
	s->max_c = max_c;
	return s;
}

void dist_bn_free(struct dist_bn *s)
{
	if (s) {
		free(s->v);
		free(s);
	}
}

static void bn_check(const struct dist_bn *s, int C)
{
	if (C > s->max_c) {
		fprintf(stderr, "%s: internal: batch norm of %d channels, scratch for %d\n",
			hm_progname(), C, s->max_c);
		dist_abort(1);
	}
}

static void bn_sum(double *v, size_t n)
{
	if (dist_sum_double(v, n) < 0) {
		fprintf(stderr, "%s: %s\n", hm_progname(), hm_errmsg());
		dist_abort(1);
	}
}

/* The statistics as nn.c's batchnorm_forward(): the mean in double, cast to
 * float, then the variance from deviations to that float mean; only the
 * sums run over every rank. */
void dist_bn_forward(void *ctx, float *out, float *mean, float *invstd,
		     float *running_mean, float *running_var, const float *inp,
		     const float *gamma, const float *beta, int N, int C, int HW,
		     float eps, float momentum)
{
	struct dist_bn *s = ctx;
	bn_check(s, C);
	const size_t cs = (size_t)C * HW;
	const double M = (double)N * HW * size_;
	double *v = s->v;
#ifdef _OPENMP
#pragma omp parallel for schedule(static)
#endif
	for (int c = 0; c < C; c++) {
		double a = 0;
		for (int n = 0; n < N; n++) {
			const float *x = inp + n * cs + (size_t)c * HW;
			for (int t = 0; t < HW; t++)
				a += x[t];
		}
		v[c] = a;
	}
	bn_sum(v, (size_t)C);
	for (int c = 0; c < C; c++)
		mean[c] = (float)(v[c] / M);
#ifdef _OPENMP
#pragma omp parallel for schedule(static)
#endif
	for (int c = 0; c < C; c++) {
		double a = 0;
		const float mu = mean[c];
		for (int n = 0; n < N; n++) {
			const float *x = inp + n * cs + (size_t)c * HW;
			for (int t = 0; t < HW; t++) {
				double d = (double)x[t] - mu;
				a += d * d;
			}
		}
		v[c] = a;
	}
	bn_sum(v, (size_t)C);
#ifdef _OPENMP
#pragma omp parallel for schedule(static)
#endif
	for (int c = 0; c < C; c++) {
		const double var = v[c] / M;
		const float mu = mean[c], is = (float)(1.0 / sqrt(var + eps));
		const float scale = (gamma ? gamma[c] : 1.0f) * is;
		const float shift = beta ? beta[c] : 0.0f;
		invstd[c] = is;
		for (int n = 0; n < N; n++) {
			const float *x = inp + n * cs + (size_t)c * HW;
			float *y = out + n * cs + (size_t)c * HW;
			for (int t = 0; t < HW; t++)
				y[t] = (x[t] - mu) * scale + shift;
		}
		if (running_mean && running_var) {
			double unbiased = M > 1 ? var * M / (M - 1) : var;
			running_mean[c] = (1.0f - momentum) * running_mean[c] + momentum * mu;
			running_var[c] = (float)((1.0 - momentum) * running_var[c] +
						 momentum * unbiased);
		}
	}
}

/* dinp += gamma invstd (dout - mean(dout) - xhat mean(dout xhat)), the means
 * over every rank's batch; dgamma, dbeta this rank's sums. */
void dist_bn_backward(void *ctx, float *dinp, float *dgamma, float *dbeta,
		      const float *dout, const float *inp, const float *gamma,
		      const float *mean, const float *invstd, int N, int C, int HW)
{
	struct dist_bn *s = ctx;
	bn_check(s, C);
	const size_t cs = (size_t)C * HW;
	const double M = (double)N * HW * size_;
	double *v = s->v;	/* [C] sum dy, [C] sum dy (x - mu) */
#ifdef _OPENMP
#pragma omp parallel for schedule(static)
#endif
	for (int c = 0; c < C; c++) {
		const float mu = mean[c];
		double sdy = 0, sdyx = 0;
		for (int n = 0; n < N; n++) {
			const float *x = inp + n * cs + (size_t)c * HW;
			const float *dy = dout + n * cs + (size_t)c * HW;
			for (int t = 0; t < HW; t++) {
				sdy += dy[t];
				sdyx += (double)dy[t] * ((double)x[t] - mu);
			}
		}
		if (dgamma)
			dgamma[c] += (float)(sdyx * invstd[c]);
		if (dbeta)
			dbeta[c] += (float)sdy;
		v[c] = sdy;
		v[C + c] = sdyx;
	}
	if (!dinp)
		return;
	bn_sum(v, 2 * (size_t)C);
#ifdef _OPENMP
#pragma omp parallel for schedule(static)
#endif
	for (int c = 0; c < C; c++) {
		const float mu = mean[c], is = invstd[c];
		const float mdy = (float)(v[c] / M);
		const float kx = (float)(v[C + c] * is * is / M);
		const float scale = (gamma ? gamma[c] : 1.0f) * is;
		for (int n = 0; n < N; n++) {
			const float *x = inp + n * cs + (size_t)c * HW;
			const float *dy = dout + n * cs + (size_t)c * HW;
			float *dx = dinp + n * cs + (size_t)c * HW;
			for (int t = 0; t < HW; t++)
				dx[t] += scale * (dy[t] - mdy - (x[t] - mu) * kx);
		}
	}
}
