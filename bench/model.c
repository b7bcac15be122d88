/*
 * bench/model.c: images per second of a backbone (common/model*.c), training
 * step (forward + backward) and inference (eval forward), with the memory
 * model_set_batch() planned.  Not a test; run by bench/model.sh, which
 * builds it against libhm.a and runs PyTorch on the same network:
 *
 *   bench/model.sh [ARCH [BATCH [THREADS]]]     (default ir18 8 2)
 *
 * Each figure is the best of several timed repetitions (at least 3 and 2 s
 * of work) after one warm-up step, so page faults and thread start-up are
 * not counted.
 */
#include "blas.h"
#include "err.h"
#include "model.h"
#include "rng.h"
#include "probe.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

int main(int argc, char **argv)
{
	hm_set_progname(argv[0]);
	if (blas_init(argc, argv))
		warn("%s", hm_errmsg());
	const char *arch = argc > 1 ? argv[1] : "ir18";
	int B = argc > 2 ? atoi(argv[2]) : 8, threads = argc > 3 ? atoi(argv[3]) : 2;
	if (B < 2 || threads < 1)
		die_usage("usage: model ARCH BATCH>=2 THREADS>=1");
	blas_set_threads(threads);

	struct model *m = model_new(arch, 0, 0, 0, 0);
	if (!m || model_set_batch(m, B))
		die("%s", hm_errmsg());
	model_init(m, 1);
	const struct model_shape *s = model_get_shape(m);
	size_t n_in = (size_t)B * s->in_c * s->in_h * s->in_w, n_emb = (size_t)B * s->emb_dim;
	float *x = xmalloc(n_in * sizeof *x), *demb = xmalloc(n_emb * sizeof *demb);
	struct rng r;
	rng_seed(&r, 2);
	for (size_t i = 0; i < n_in; i++)
		x[i] = (float)rng_range(&r, -1, 1);
	for (size_t i = 0; i < n_emb; i++)
		demb[i] = (float)rng_normal(&r) / (float)n_emb;

	double best_train = 1e30, best_eval = 1e30, total = 0;
	for (int rep = 0; rep < 4 || total < 2; rep++) {
		double t0 = now();
		model_zero_grad(m);
		if (!model_forward(m, x, B, 1, &r))
			die("%s", hm_errmsg());
		model_backward(m, demb, NULL);
		double t1 = now();
		if (!model_forward(m, x, B, 0, NULL))
			die("%s", hm_errmsg());
		double t2 = now();
		if (rep > 0) {	/* the first is the warm-up */
			best_train = t1 - t0 < best_train ? t1 - t0 : best_train;
			best_eval = t2 - t1 < best_eval ? t2 - t1 : best_eval;
			total += t2 - t0;
		}
	}
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	size_t np;
	model_params(m, &np);
	double gmac = model_macs(m) / 1e9;
	printf("%s, batch %d, %d threads, %s\n", arch, B, threads, blas_describe());
	printf("  parameters %zu, %.2f GMAC per image\n", np, gmac);
	printf("  training step   %7.3f s  %6.2f img/s  %5.1f GFLOP/s\n", best_train,
	       B / best_train, 6 * gmac * B / best_train);
	printf("  inference       %7.3f s  %6.2f img/s  %5.1f GFLOP/s\n", best_eval,
	       B / best_eval, 2 * gmac * B / best_eval);
	printf("  planned memory  %.0f MiB; peak RSS %.0f MiB\n",
	       (double)model_batch_bytes(m) / (1 << 20), ru.ru_maxrss / 1024.0);
	model_free(m);
	free(x);
	free(demb);
	return 0;
}
