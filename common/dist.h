/*
 * dist: data-parallel runs over MPI (Open MPI): which rank this process is,
 * how many there are, and the few collectives hm-train needs (sums of
 * float and double buffers, broadcast, barrier, abort), plus the
 * synchronised batch norm that plugs into model_set_bn_sync().
 *
 * Two builds, one API.  Built with MPI (mk/mpi.mk defines HM_MPI when it
 * finds mpicc, or with `make MPI=1`), dist_init() joins the MPI job when
 * the process was started by an MPI launcher: mpirun/mpiexec (Open MPI
 * sets OMPI_COMM_WORLD_SIZE), srun (PMIX_RANK or PMI_SIZE) or an MPICH
 * hydra launcher (PMI_SIZE).  A process started any other way does NOT
 * initialise MPI (no singleton start-up, no daemons): it is rank 0 of 1,
 * exactly as the build without MPI (`make MPI=0`), whose functions are
 * single-process stubs: every sum is the identity, broadcast and barrier
 * do nothing, dist_abort() exits.
 *
 * Collectives are on MPI_COMM_WORLD with MPI's default error handler,
 * MPI_ERRORS_ARE_FATAL: a failed collective, or a rank that died (the
 * launcher sees it), ends the whole job; the launcher names the rank and
 * the signal.  So the functions below return 0, or -1 with a message only
 * on a local error (out of memory, a size MPI cannot express).
 *
 * Determinism: sums of two ranks are exact-commutative (a + b = b + a), so
 * every rank gets the same bits; with more ranks Open MPI's reduction
 * order is fixed for a given size and message, and hm-train broadcasts rank
 * 0's state at every start and checks the ranks agree at checkpoints.
 *
 * Threads: call every function from one thread (the training thread);
 * MPI is initialised with MPI_THREAD_FUNNELED.
 */
#ifndef HM_DIST_H
#define HM_DIST_H

#include <stddef.h>

#include "err.h"

/* Allreduce bucket: sums are issued in pieces of at most this many bytes
 * (dist_set_bucket_bytes() changes it; hm-train's default). */
#define DIST_BUCKET_BYTES (16u << 20)

/*
 * Joins the MPI job if launched by an MPI launcher (see above), else does
 * nothing.  Call once, early in main() (after blas_init(), which may
 * re-execute the program, and before any other dist_ function).  0, or -1
 * with the message recorded (MPI_Init_thread failed: the job cannot run).
 */
int dist_init(int *argc, char ***argv);
/* Leaves the job (MPI_Finalize) if dist_init() joined one.  Collective:
 * every rank calls it once on the way out of a successful run. */
void dist_finalize(void);

int dist_rank(void);		/* 0 .. dist_size() - 1 */
int dist_size(void);		/* ranks in the job, 1 without MPI */
/* Ranks on this machine (MPI_COMM_TYPE_SHARED), 1 without MPI: hm-train
 * gives each rank cores / dist_local_size() threads by default. */
int dist_local_size(void);
/* Default threads of a rank given CORES (the host's, cli_threads()):
 * CORES / dist_local_size(), at most the cores this process may run on
 * (sched_getaffinity: mpirun binds each rank to one core by default when
 * it starts 2 or fewer, to a socket above), at least 1. */
int dist_default_threads(int cores);
/* Whether dist_init() joined an MPI job (MPI built in, launcher seen). */
int dist_joined(void);
/* Whether MPI was built in (whatever the launch). */
int dist_compiled(void);
/* One line for -v: "Open MPI v4.1.4, rank 0 of 2 (2 on this host)", or
 * "one process (built without MPI)".  Static storage. */
const char *dist_describe(void);

/* In place, on every rank: BUF[i] = the sum of every rank's BUF[i].  N may
 * be 0.  Sent in buckets of at most the bucket size, so no MPI count
 * overflows and a large gradient is not copied whole. */
int dist_sum_float(float *buf, size_t n);
int dist_sum_double(double *buf, size_t n);
/* Bucket size in bytes for dist_sum_float(), at least 4096. */
void dist_set_bucket_bytes(size_t bytes);
/* BYTES of BUF from rank ROOT to every rank. */
int dist_bcast(void *buf, size_t bytes, int root);
int dist_barrier(void);
/* Ends every rank of the job with exit status CODE (MPI_Abort), or exits
 * this process when it is the only one.  For tools: the message must be
 * printed first. */
void dist_abort(int code) HM_NORETURN;

/*
 * Synchronised batch norm for model_set_bn_sync() (model.h): the
 * contracts of nn.h's batchnorm_forward() and batchnorm_backward(), with
 * the statistics over all ranks' batches (every rank passes the same N).
 * Forward: per channel, the sum of x over every rank (one dist_sum_double
 * of C values), the mean, then the sum of squared deviations from that
 * mean (a second one): the same two-pass variance as one process.  The
 * running statistics take the unbiased variance of the union, so they
 * match one process that saw the whole batch.  Backward: sum(dout) and
 * sum(dout (x - mean)) are summed over ranks (one call of 2C values) for
 * the input gradient; dgamma and dbeta get this rank's share only (the
 * gradient sum adds the rest).  CTX is a struct dist_bn from
 * dist_bn_new().  A rank that cannot allocate its scratch aborts the job
 * (the others would wait forever in the sum).
 */
struct dist_bn;
/* Scratch for channels up to MAX_C.  NULL when out of memory. */
struct dist_bn *dist_bn_new(int max_c);
void dist_bn_free(struct dist_bn *s);
void dist_bn_forward(void *ctx, float *out, float *mean, float *invstd,
		     float *running_mean, float *running_var, const float *inp,
		     const float *gamma, const float *beta, int N, int C, int HW,
		     float eps, float momentum);
void dist_bn_backward(void *ctx, float *dinp, float *dgamma, float *dbeta,
		      const float *dout, const float *inp, const float *gamma,
		      const float *mean, const float *invstd, int N, int C, int HW);

#endif
