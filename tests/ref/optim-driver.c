/*
 * optim-driver: runs optim_sgd_step() for tests/ref/optim_torch.py.
 *
 *   optim-driver N STEPS MOMENTUM WD
 *
 * Reads raw little-endian float32 from stdin: lr [STEPS], p [N], then
 * g [STEPS][N] (one gradient per step).  Starts from a zero momentum
 * buffer, applies STEPS updates and writes raw float32 to stdout: p after
 * each step ([STEPS][N]), then the final momentum buffer [N].
 *
 *   optim-driver clip N MAX_NORM
 *
 * Reads g [N] (float32) from stdin, runs optim_clip_grad_norm() and
 * writes the clipped g [N] (float32), then the norm it returned
 * (float64).
 *
 *   optim-driver lr SCHEDULE BASE WARMUP TOTAL T...
 *
 * Prints lr_at() of the schedule ("step", "cosine", "poly", "poly:P";
 * no milestones) at each iteration T, one "%.17g" per line.
 * Exit 1 on a short read or failed write, 2 on bad usage.
 */
#include "err.h"
#include "optim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static long positive(const char *s)
{
	char *end;
	long v = strtol(s, &end, 10);
	if (*end || v < 1 || v > 1L << 26)
		die_usage("'%s': not a size", s);
	return v;
}

static float *in_f(size_t n, const char *what)
{
	float *p = xmalloc(n * sizeof *p);
	if (fread(p, sizeof *p, n, stdin) != n)
		die("stdin: short read in %s", what);
	return p;
}

static int clip_main(int argc, char **argv)
{
	if (argc != 4)
		die_usage("usage: optim-driver clip N MAX_NORM");
	size_t n = (size_t)positive(argv[2]);
	double max_norm = strtod(argv[3], NULL);
	float *g = in_f(n, "g");
	double norm = optim_clip_grad_norm(g, n, max_norm);
	if (fwrite(g, sizeof *g, n, stdout) != n ||
	    fwrite(&norm, sizeof norm, 1, stdout) != 1 || fflush(stdout))
		die("stdout: write failed");
	free(g);
	return 0;
}

static int lr_main(int argc, char **argv)
{
	if (argc < 7)
		die_usage("usage: optim-driver lr SCHEDULE BASE WARMUP TOTAL T...");
	struct lr_schedule s = { .factor = 0.1 };
	if (optim_schedule_parse(&s.kind, &s.power, argv[2]) < 0)
		die_usage("%s", hm_errmsg());
	s.base = strtod(argv[3], NULL);
	s.warmup = strtol(argv[4], NULL, 10);
	s.total = strtol(argv[5], NULL, 10);
	for (int i = 6; i < argc; i++)
		printf("%.17g\n", lr_at(&s, strtol(argv[i], NULL, 10)));
	return fflush(stdout) ? 1 : 0;
}

int main(int argc, char **argv)
{
	hm_set_progname(argv[0]);
	if (argc > 1 && !strcmp(argv[1], "clip"))
		return clip_main(argc, argv);
	if (argc > 1 && !strcmp(argv[1], "lr"))
		return lr_main(argc, argv);
	if (argc != 5)
		die_usage("usage: optim-driver N STEPS MOMENTUM WD");
	size_t n = (size_t)positive(argv[1]);
	long steps = positive(argv[2]);
	float momentum = strtof(argv[3], NULL), wd = strtof(argv[4], NULL);
	float *lr = in_f((size_t)steps, "lr");
	float *p = in_f(n, "p");
	float *g = in_f(n * (size_t)steps, "g");
	float *buf = xcalloc(n, sizeof *buf);
	for (long s = 0; s < steps; s++) {
		optim_sgd_step(p, buf, g + (size_t)s * n, n, lr[s], momentum, wd);
		if (fwrite(p, sizeof *p, n, stdout) != n)
			die("stdout: write failed");
	}
	if (fwrite(buf, sizeof *buf, n, stdout) != n || fflush(stdout))
		die("stdout: write failed");
	free(lr);
	free(p);
	free(g);
	free(buf);
	return 0;
}
