/*
 * model-driver: runs common/model*.c for tests/ref/model_torch.py.  Inputs
 * and outputs are .hmm files (hm-model(5)), so the test reads our results
 * with the same loader a user would.
 *
 *   init ARCH SEED OUT [IN_C IN_H IN_W EMB]
 *       model_new + model_init(SEED) + model_save(OUT).  Prints
 *       "params N", "buffers N", "tensors N", "macs N" on stdout.
 *   run IN OUT [DROPOUT]
 *       IN holds a model plus "in/x" [B, C, H, W] and "in/demb" [B, E].
 *       Loads it with model_from_file() (the in/ tensors are the caller's),
 *       runs a training forward (dropout DROPOUT, default 0, RNG seed 1)
 *       and a backward from demb, then an eval forward of the same x with
 *       the updated running statistics, and one more with the batch norms
 *       folded (model_fold_bn(), hm-embed's inference path).  OUT holds the
 *       model as it is then (running statistics updated) plus "out/emb",
 *       "out/dinp", "out/emb_eval", "out/emb_fold" and "grad/NAME" for every
 *       trainable tensor.
 *
 * Exit 1 on any error (message on stderr), 2 on bad usage.
 */
#include "blas.h"
#include "err.h"
#include "model.h"
#include "modelfile.h"
#include "rng.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static long arg_long(const char *s)
{
	char *end;
	long v = strtol(s, &end, 10);
	if (!*s || *end || v < 0)
		die_usage("'%s': not a non-negative integer", s);
	return v;
}

static int run_init(int argc, char **argv)
{
	if (argc != 5 && argc != 9)
		die_usage("usage: model-driver init ARCH SEED OUT [IN_C IN_H IN_W EMB]");
	int sz[4] = { 0, 0, 0, 0 };
	for (int i = 0; argc == 9 && i < 4; i++)
		sz[i] = (int)arg_long(argv[5 + i]);
	struct model *m = model_new(argv[2], sz[0], sz[1], sz[2], sz[3]);
	if (!m)
		die("%s", hm_errmsg());
	model_init(m, (uint64_t)arg_long(argv[3]));
	if (model_save(m, argv[4]))
		die("%s", hm_errmsg());
	size_t np, nb;
	model_params(m, &np);
	model_buffers(m, &nb);
	printf("params %zu\nbuffers %zu\ntensors %d\nmacs %.0f\n", np, nb, model_n_tensors(m),
	       model_macs(m));
	model_free(m);
	return 0;
}

static const struct mf_tensor *need(const struct modelfile *mf, const char *name, int ndim)
{
	const struct mf_tensor *t = modelfile_find(mf, name);
	if (!t || t->ndim != ndim)
		die("input lacks tensor '%s' with %d dimensions", name, ndim);
	return t;
}

static void add(struct mf_tensor **t, int *n, const char *name, float *data, int ndim,
		const int64_t *shape)
{
	*t = xrealloc(*t, sizeof **t * (size_t)(*n + 1));
	struct mf_tensor *x = &(*t)[(*n)++];
	memset(x, 0, sizeof *x);
	snprintf(x->name, sizeof x->name, "%s", name);
	x->ndim = ndim;
	memcpy(x->shape, shape, sizeof(int64_t) * (size_t)ndim);
	x->data = data;
}

static int run_run(int argc, char **argv)
{
	if (argc != 4 && argc != 5)
		die_usage("usage: model-driver run IN OUT [DROPOUT]");
	struct modelfile mf;
	if (modelfile_read(&mf, argv[2]))
		die("%s", hm_errmsg());
	struct model *m = model_from_file(&mf, argv[2]);
	if (!m)
		die("%s", hm_errmsg());
	if (model_set_dropout(m, argc == 5 ? (float)atof(argv[4]) : 0.0f))
		die("%s", hm_errmsg());
	const struct model_shape *s = model_get_shape(m);
	const struct mf_tensor *x = need(&mf, "in/x", 4), *demb = need(&mf, "in/demb", 2);
	int B = (int)x->shape[0];
	if (x->shape[1] != s->in_c || x->shape[2] != s->in_h || x->shape[3] != s->in_w ||
	    demb->shape[0] != B || demb->shape[1] != s->emb_dim)
		die("in/x or in/demb: shapes do not fit the model");
	if (model_set_batch(m, B))
		die("%s", hm_errmsg());

	size_t n_in = (size_t)B * s->in_c * s->in_h * s->in_w, n_emb = (size_t)B * s->emb_dim;
	float *emb = xmalloc(n_emb * sizeof *emb), *emb_eval = xmalloc(n_emb * sizeof *emb);
	float *emb_fold = xmalloc(n_emb * sizeof *emb);
	float *dinp = xcalloc(n_in, sizeof *dinp);
	struct rng r;
	rng_seed(&r, 1);
	model_zero_grad(m);
	const float *y = model_forward(m, x->data, B, 1, &r);
	if (!y)
		die("%s", hm_errmsg());
	memcpy(emb, y, n_emb * sizeof *emb);
	model_backward(m, demb->data, dinp);
	if (!(y = model_forward(m, x->data, B, 0, NULL)))
		die("%s", hm_errmsg());
	memcpy(emb_eval, y, n_emb * sizeof *emb);
	if (model_fold_bn(m, 0) || !(y = model_forward(m, x->data, B, 0, NULL)))
		die("%s", hm_errmsg());
	memcpy(emb_fold, y, n_emb * sizeof *emb);

	struct mf_kv *kv = NULL;
	struct mf_tensor *t = NULL;
	int n_kv = 0, n_t = 0;
	if (model_file_entries(m, &kv, &n_kv, &t, &n_t))
		die("%s", hm_errmsg());
	int64_t es[2] = { B, s->emb_dim };
	add(&t, &n_t, "out/emb", emb, 2, es);
	add(&t, &n_t, "out/emb_eval", emb_eval, 2, es);
	add(&t, &n_t, "out/emb_fold", emb_fold, 2, es);
	add(&t, &n_t, "out/dinp", dinp, 4, x->shape);
	for (int i = 0; i < model_n_tensors(m); i++) {
		const struct model_tensor *p = model_tensor(m, i);
		if (!p->trainable)
			continue;
		char name[MF_MAX_NAME + 1];
		int64_t shape[4];
		for (int d = 0; d < p->ndim; d++)
			shape[d] = p->shape[d];
		snprintf(name, sizeof name, "grad/%s", p->name);
		add(&t, &n_t, name, p->grad, p->ndim, shape);
	}
	if (modelfile_write(argv[3], kv, n_kv, t, n_t))
		die("%s", hm_errmsg());
	for (int i = 0; i < n_kv; i++) {
		free(kv[i].key);
		free(kv[i].value);
	}
	free(kv), free(t), free(emb), free(emb_eval), free(emb_fold), free(dinp);
	model_free(m);
	modelfile_free(&mf);
	return 0;
}

int main(int argc, char **argv)
{
	hm_set_progname(argv[0]);
	if (blas_init(argc, argv))
		warn("%s", hm_errmsg());
	if (argc >= 2 && !strcmp(argv[1], "init"))
		return run_init(argc, argv);
	if (argc >= 2 && !strcmp(argv[1], "run"))
		return run_run(argc, argv);
	die_usage("usage: model-driver init|run ... (see tests/ref/model-driver.c)");
}
