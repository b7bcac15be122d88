/*
 * modelio.c: models in .hmm files (modelfile.h): the metadata and tensors
 * model_save writes, and the checks made on loading (architecture, input
 * size, every tensor's name and shape).
 */
#include "modelint.h"
#include "err.h"
#include "modelfile.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ */
/* Model files */

static char *dup_int(int v)
{
	char buf[24];
	snprintf(buf, sizeof buf, "%d", v);
	return strdup(buf);
}

int model_file_entries(const struct model *m, struct mf_kv **kv, int *n_kv,
		       struct mf_tensor **t, int *n_t)
{
	static const char *keys[6] = { "arch", "in_c", "in_h", "in_w", "emb_dim",
				       "features.trainable" };
	/* the last only when set: files without it load as before */
	int nk = m->flags & MODEL_FEATURES_TRAINABLE ? 6 : 5;
	struct mf_kv *k = realloc(*kv, sizeof *k * (size_t)(*n_kv + nk));
	if (!k)
		return hm_error("out of memory");
	*kv = k;
	struct mf_tensor *x = realloc(*t, sizeof *x * (size_t)(*n_t + m->n_t));
	if (!x)
		return hm_error("out of memory");
	*t = x;
	const int vals[5] = { m->shape.in_c, m->shape.in_h, m->shape.in_w, m->shape.emb_dim,
			      1 };
	for (int i = 0; i < nk; i++) {
		char *key = strdup(keys[i]);
		char *value = i == 0 ? strdup(m->shape.arch) : dup_int(vals[i - 1]);
		if (!key || !value) {
			free(key), free(value);
			return hm_error("out of memory");
		}
		k[(*n_kv)++] = (struct mf_kv){ key, value };
	}
	for (int i = 0; i < m->n_t; i++) {
		struct mf_tensor *y = &x[(*n_t)++];
		memset(y, 0, sizeof *y);
		snprintf(y->name, sizeof y->name, "%s", m->t[i].name);
		y->ndim = m->t[i].ndim;
		for (int d = 0; d < y->ndim; d++)
			y->shape[d] = m->t[i].shape[d];
		y->data = m->t[i].data;
	}
	return 0;
}

int model_save(const struct model *m, const char *path)
{
	struct mf_kv *kv = NULL;
	struct mf_tensor *t = NULL;
	int n_kv = 0, n_t = 0;
	int rc = model_file_entries(m, &kv, &n_kv, &t, &n_t);
	if (!rc)
		rc = modelfile_write(path, kv, n_kv, t, n_t);
	for (int i = 0; i < n_kv; i++) {
		free(kv[i].key);
		free(kv[i].value);
	}
	free(kv);
	free(t);
	return rc;
}

static void shape_str(char *buf, size_t n, int ndim, const int64_t *s64, const int *s32)
{
	size_t k = 0;
	buf[0] = 0;
	for (int d = 0; d < ndim && k < n; d++)
		k += (size_t)snprintf(buf + k, n - k, "%s%lld", d ? "x" : "",
				      s64 ? (long long)s64[d] : (long long)s32[d]);
}

/* Metadata KEY as an int in [lo, hi]. */
static int meta_int(const struct modelfile *mf, const char *name, const char *key, int lo,
		    int hi, int *v)
{
	const char *s = modelfile_get(mf, key);
	if (!s)
		return hm_error_file(name, "metadata '%s' missing", key);
	char *end;
	errno = 0;
	long x = strtol(s, &end, 10);
	if (!*s || *end || errno || x < lo || x > hi)
		return hm_error_file(name, "metadata '%s': '%s' is not an integer from %d to %d",
				     key, s, lo, hi);
	*v = (int)x;
	return 0;
}

/* The architecture a file's metadata and tensors say: "face18" files
 * written before face18 meant use_se=False hold SE tensors, and are
 * "face18:se". */
static const char *file_arch(const struct modelfile *mf)
{
	const char *arch = modelfile_get(mf, "arch");
	if (arch && !strcmp(arch, "face18"))
		for (int i = 0; i < mf->n_tensors; i++)
			if (!strncmp(mf->tensors[i].name, "layer", 5) &&
			    strstr(mf->tensors[i].name, ".se."))
				return "face18:se";
	return arch;
}

int model_load_tensors(struct model *m, const struct modelfile *mf, const char *name)
{
	const char *arch = file_arch(mf);
	if (arch) {
		struct arch a;
		if (parse_arch(arch, &a))
			return hm_error_prefix("'%s'", name);
		if (!same_arch(&a, &m->arch))
			return hm_error_file(name, "architecture '%s', but the model is '%s'", arch,
					     m->shape.arch);
	}
	static const char *keys[4] = { "in_c", "in_h", "in_w", "emb_dim" };
	const int want[4] = { m->shape.in_c, m->shape.in_h, m->shape.in_w, m->shape.emb_dim };
	for (int i = 0; i < 4; i++) {
		int v;
		if (!modelfile_get(mf, keys[i]))
			continue;
		if (meta_int(mf, name, keys[i], 1, 1 << 30, &v))
			return -1;
		if (v != want[i])
			return hm_error_file(name, "metadata '%s' is %d, the model has %d",
					     keys[i], v, want[i]);
	}
	for (int i = 0; i < m->n_t; i++) {
		const struct model_tensor *x = &m->t[i];
		const struct mf_tensor *f = modelfile_find(mf, x->name);
		if (!f)
			return hm_error_file(name, "tensor '%s' missing (architecture '%s')",
					     x->name, m->shape.arch);
		int same = f->ndim == x->ndim;
		for (int d = 0; same && d < x->ndim; d++)
			same = f->shape[d] == x->shape[d];
		if (!same) {
			char got[96], want_s[96];
			shape_str(got, sizeof got, f->ndim, f->shape, NULL);
			shape_str(want_s, sizeof want_s, x->ndim, NULL, x->shape);
			return hm_error_file(name, "tensor '%s': shape %s, architecture '%s' "
					     "needs %s", x->name, got, m->shape.arch, want_s);
		}
	}
	for (int i = 0; i < mf->n_tensors; i++) {
		const char *tn = mf->tensors[i].name;
		if (strchr(tn, '/'))
			continue;	/* the caller's: head/..., momentum/... */
		int found = 0;
		for (int j = 0; j < m->n_t && !found; j++)
			found = !strcmp(m->t[j].name, tn);
		if (!found)
			return hm_error_file(name, "tensor '%s' is not part of architecture '%s'",
					     tn, m->shape.arch);
	}
	m->fold_ok = m->fold_inplace = 0;
	for (int i = 0; i < m->n_t; i++) {
		const float *data = modelfile_find(mf, m->t[i].name)->data;
		if (data != m->t[i].data)	/* else read into place (model_load) */
			memcpy(m->t[i].data, data, m->t[i].count * sizeof(float));
	}
	return 0;
}

/* The model MF's metadata describe, its tensors as model_new() leaves them;
 * NULL with the error recorded. */
static struct model *model_for_file(const struct modelfile *mf, const char *name)
{
	const char *arch = file_arch(mf);
	const char *ft = modelfile_get(mf, "features.trainable");
	int in_c, in_h, in_w, emb;
	if (!arch)
		return hm_error_file(name, "metadata 'arch' missing (not a model?)"), NULL;
	if (meta_int(mf, name, "in_c", 1, MAX_IN_C, &in_c) ||
	    meta_int(mf, name, "in_h", 1, MAX_SIDE, &in_h) ||
	    meta_int(mf, name, "in_w", 1, MAX_SIDE, &in_w) ||
	    meta_int(mf, name, "emb_dim", 1, MAX_EMB, &emb))
		return NULL;
	if (ft && strcmp(ft, "0") && strcmp(ft, "1"))
		return hm_error_file(name, "metadata 'features.trainable': '%s' is not 0 "
				     "or 1", ft), NULL;
	struct model *m = model_new_flags(arch, in_c, in_h, in_w, emb,
					  ft && !strcmp(ft, "1") ? MODEL_FEATURES_TRAINABLE : 0);
	if (!m)
		hm_error_prefix("'%s'", name);
	return m;
}

struct model *model_from_file(const struct modelfile *mf, const char *name)
{
	struct model *m = model_for_file(mf, name);
	if (m && model_load_tensors(m, mf, name)) {
		model_free(m);
		return NULL;
	}
	return m;
}

/* model_load(): the model is built from the metadata when the first tensor
 * comes, and the tensors it has, by name and shape, are read straight into
 * it.  Its errors wait for the file's (the order of model_from_file()):
 * without a model, or with tensors that do not fit, the file is read as
 * modelfile_read() reads it, and model_from_file() says what is wrong. */
struct placer {
	const char *name;
	struct model *m;
	int tried;
};

static float *place_tensor(void *ctx, const struct modelfile *mf, const struct mf_tensor *t)
{
	struct placer *p = ctx;
	if (!p->tried) {
		p->tried = 1;
		const char *arch = modelfile_get(mf, "arch");
		/* "face18" may be "face18:se", which only the names tell */
		if (arch && strcmp(arch, "face18"))
			p->m = model_for_file(mf, p->name);
	}
	for (int i = 0; p->m && i < p->m->n_t; i++) {
		const struct model_tensor *x = &p->m->t[i];
		if (strcmp(x->name, t->name))
			continue;
		int same = t->ndim == x->ndim;
		for (int d = 0; same && d < x->ndim; d++)
			same = t->shape[d] == x->shape[d];
		return same ? x->data : NULL;
	}
	return NULL;
}

struct model *model_load(const char *path)
{
	struct modelfile mf;
	struct placer p = { path, NULL, 0 };
	if (modelfile_read_into(&mf, path, place_tensor, &p)) {
		model_free(p.m);
		return NULL;
	}
	struct model *m = p.m;
	if (!m)
		m = model_from_file(&mf, path);
	else if (model_load_tensors(m, &mf, path)) {
		model_free(m);
		m = NULL;
	}
	modelfile_free(&mf);
	return m;
}
