/*
 * optim-driver: runs optim_sgd_step() for tests/ref/optim_torch.py.
 *
 *   optim-driver N STEPS MOMENTUM WD
 *
 * Reads raw little-endian float32 from stdin: lr [STEPS], p [N], then
 * g [STEPS][N] (one gradient per step).  Starts from a zero momentum
 * buffer, applies STEPS updates and writes raw float32 to stdout: p after
 * each step ([STEPS][N]), then the final momentum buffer [N].
 * Exit 1 on a short read or failed write, 2 on bad usage.
 */
#include "err.h"
#include "optim.h"

#include <stdio.h>
#include <stdlib.h>

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

int main(int argc, char **argv)
{
	hm_set_progname(argv[0]);
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
