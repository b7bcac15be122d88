/*
 * loss-driver: runs one loss_forward_backward() for tests/ref/loss_torch.py.
 *
 *   loss-driver KIND HM B D C [iter=N] [s=F] [m=F] [easy=0|1]
 *
 * KIND and HM as loss_kind_parse / loss_hm_parse take them; constants not
 * named keep loss_config_default's values.  Reads raw little-endian
 * float32 x [B, D], int32 labels [B], float32 W [C, D], float32 b [C] from
 * stdin; writes raw float32 to stdout, in this order:
 *   loss, n_correct, sample_loss [B], sample_weight [B], pred [B],
 *   logits [B, C], dx [B, D], dW [C, D], db [C].
 * Exit 1 with a message on bad input or a failing call, 2 on bad usage.
 */
#include "err.h"
#include "loss.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void read_all(void *p, size_t size, size_t n, const char *what)
{
	if (fread(p, size, n, stdin) != n)
		die("stdin: short read in %s", what);
}

static void write_all(const void *p, size_t size, size_t n)
{
	if (fwrite(p, size, n, stdout) != n)
		die("stdout: write failed");
}

static int positive(const char *s)
{
	char *end;
	long v = strtol(s, &end, 10);
	if (*end || v < 1 || v > 1 << 20)
		die_usage("'%s': not a size", s);
	return (int)v;
}

int main(int argc, char **argv)
{
	struct loss_config c;
	enum loss_kind kind;
	long iter = 0;

	hm_set_progname(argv[0]);
	if (argc < 6)
		die_usage("usage: loss-driver KIND HM B D C [iter=N] [s=F] "
			  "[m=F] [easy=0|1]");
	if (loss_kind_parse(&kind, argv[1]) < 0)
		die_usage("%s", hm_errmsg());
	loss_config_default(&c, kind);
	if (loss_hm_parse(&c.hm, &c.hm_param, argv[2]) < 0)
		die_usage("%s", hm_errmsg());
	int B = positive(argv[3]), D = positive(argv[4]), C = positive(argv[5]);
	for (int a = 6; a < argc; a++) {
		const char *v = strchr(argv[a], '=');
		if (!v)
			die_usage("'%s': expected name=value", argv[a]);
		v++;
		if (!strncmp(argv[a], "iter=", 5))
			iter = atol(v);
		else if (!strncmp(argv[a], "s=", 2))
			c.s = (float)atof(v);
		else if (!strncmp(argv[a], "m=", 2))
			c.m = (float)atof(v);
		else if (!strncmp(argv[a], "easy=", 5))
			c.easy_margin = atoi(v);
		else
			die_usage("'%s': unknown setting", argv[a]);
	}

	size_t BD = (size_t)B * D, CD = (size_t)C * D, BC = (size_t)B * C;
	float *x = xmalloc(BD * sizeof *x), *W = xmalloc(CD * sizeof *W);
	float *b = xmalloc(C * sizeof *b);
	int *y = xmalloc(B * sizeof *y), *pred = xmalloc(B * sizeof *pred);
	float *L = xmalloc(B * sizeof *L), *w = xmalloc(B * sizeof *w);
	float *fpred = xmalloc(B * sizeof *fpred);
	float *z = xmalloc(BC * sizeof *z);
	float *dx = xcalloc(BD, sizeof *dx), *dW = xcalloc(CD, sizeof *dW);
	float *db = xcalloc(C, sizeof *db);
	float *ws = xmalloc(loss_workspace_size(B, C) * sizeof *ws);
	read_all(x, sizeof *x, BD, "x");
	read_all(y, sizeof *y, B, "labels");
	read_all(W, sizeof *W, CD, "W");
	read_all(b, sizeof *b, C, "b");

	struct loss_out o = { .sample_loss = L, .sample_weight = w,
			      .logits = z, .pred = pred };
	if (loss_forward_backward(&o, dx, dW, db, ws, x, y, W, b, &c, iter, B,
				  D, C) < 0)
		die("%s", hm_errmsg());
	float head[2] = { o.loss, (float)o.n_correct };
	for (int i = 0; i < B; i++)
		fpred[i] = (float)pred[i];
	write_all(head, sizeof *head, 2);
	write_all(L, sizeof *L, B);
	write_all(w, sizeof *w, B);
	write_all(fpred, sizeof *fpred, B);
	write_all(z, sizeof *z, BC);
	write_all(dx, sizeof *dx, BD);
	write_all(dW, sizeof *dW, CD);
	write_all(db, sizeof *db, C);
	if (fflush(stdout) != 0)
		die("stdout: write failed");
	free(x), free(W), free(b), free(y), free(pred), free(L), free(w);
	free(fpred), free(z), free(dx), free(dW), free(db), free(ws);
	return 0;
}
