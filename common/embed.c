/* embed: image records -> embedding records through a model (embed.h). */
#include "embed.h"
#include "data.h"
#include "err.h"
#include "img.h"
#include "model.h"
#include "progress.h"
#include "rec.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

int embed_flip_parse(const char *s)
{
	if (!strcmp(s, "sum"))
		return EMBED_FLIP_SUM;
	if (!strcmp(s, "concat"))
		return EMBED_FLIP_CONCAT;
	if (!strcmp(s, "none"))
		return EMBED_FLIP_NONE;
	return -1;
}

const char *embed_flip_name(enum embed_flip f)
{
	return f == EMBED_FLIP_SUM ? "sum" : f == EMBED_FLIP_CONCAT ? "concat" : "none";
}

int embed_out_dim(int emb_dim, enum embed_flip f)
{
	return f == EMBED_FLIP_CONCAT ? 2 * emb_dim : emb_dim;
}

/* Component I of the combined vector, before normalising. */
static double combined(const float *e, const float *ef, int dim, enum embed_flip f, int i)
{
	if (f == EMBED_FLIP_SUM)
		return (double)e[i] + (double)ef[i];
	if (f == EMBED_FLIP_CONCAT)
		return i < dim ? e[i] : ef[i - dim];
	return e[i];
}

void embed_combine(float *out, const float *e, const float *ef, int dim,
		   enum embed_flip f)
{
	int n = embed_out_dim(dim, f);
	double ss = 0.0;
	for (int i = 0; i < n; i++) {
		double v = combined(e, ef, dim, f, i);
		ss += v * v;
	}
	/* sklearn's normalize(): a zero vector is left as it is */
	double inv = ss > 0.0 ? 1.0 / sqrt(ss) : 1.0;
	for (int i = 0; i < n; i++)
		out[i] = (float)(combined(e, ef, dim, f, i) * inv);
}

/* Per-run buffers: one batch of inputs, keys and outputs. */
struct buffers {
	float *x, *xf;		/* [batch, c, h, w]: images, mirrored images */
	float *e;		/* [batch, emb_dim]: a copy of the first forward */
	float *out;		/* [batch, out_dim] */
	char *keys;		/* batch * (REC_MAX_KEY + 1) */
	int *labels;
	long *index;		/* record numbers, for messages */
};

static void buffers_free(struct buffers *b)
{
	free(b->x);
	free(b->xf);
	free(b->e);
	free(b->out);
	free(b->keys);
	free(b->labels);
	free(b->index);
}

static int buffers_alloc(struct buffers *b, int batch, size_t img, int dim, int out_dim,
			 int flip)
{
	memset(b, 0, sizeof *b);
	b->x = malloc((size_t)batch * img * sizeof *b->x);
	b->xf = flip ? malloc((size_t)batch * img * sizeof *b->xf) : NULL;
	b->e = malloc((size_t)batch * dim * sizeof *b->e);
	b->out = malloc((size_t)batch * out_dim * sizeof *b->out);
	b->keys = malloc((size_t)batch * (REC_MAX_KEY + 1));
	b->labels = malloc((size_t)batch * sizeof *b->labels);
	b->index = malloc((size_t)batch * sizeof *b->index);
	if (!b->x || (flip && !b->xf) || !b->e || !b->out || !b->keys || !b->labels ||
	    !b->index) {
		buffers_free(b);
		return hm_error("out of memory (batch of %d)", batch);
	}
	return 0;
}

/* The first non-finite value of V [n], or -1. */
static long first_bad(const float *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!isfinite(v[i]))
			return (long)i;
	return -1;
}

int embed_images(struct model *m, const float *x, float *xf, float *e, int n,
		 enum embed_flip f, float *out)
{
	const struct model_shape *sh = model_get_shape(m);
	int dim = sh->emb_dim, out_dim = embed_out_dim(dim, f);
	const float *e0 = model_forward(m, x, n, 0, NULL);
	if (!e0)
		return -1;
	memcpy(e, e0, (size_t)n * dim * sizeof *e);
	const float *ef = NULL;
	if (f != EMBED_FLIP_NONE) {
		data_flip_chw(xf, x, (long)n * sh->in_c * sh->in_h, sh->in_w);
		ef = model_forward(m, xf, n, 0, NULL);
		if (!ef)
			return -1;
	}
	for (int k = 0; k < n; k++)
		if (first_bad(e + (size_t)k * dim, (size_t)dim) >= 0 ||
		    (ef && first_bad(ef + (size_t)k * dim, (size_t)dim) >= 0))
			return k;
	for (int k = 0; k < n; k++)
		embed_combine(out + (size_t)k * out_dim, e + (size_t)k * dim,
			      ef ? ef + (size_t)k * dim : NULL, dim, f);
	return n;
}

/* Runs the model on the N images of B (and their mirrors), checks, writes. */
static int embed_batch(struct embed_job *j, struct buffers *b, int n)
{
	int out_dim = embed_out_dim(model_get_shape(j->model)->emb_dim, j->flip);
	/* Every record of the batch is checked before any is written. */
	int k = embed_images(j->model, b->x, b->xf, b->e, n, j->flip, b->out);
	if (k < 0)
		return -1;
	if (k < n)
		return hm_error_file(j->in_name, "record %ld '%s': the embedding "
				     "has NaN or infinite values (a broken model?)",
				     b->index[k], b->keys + (size_t)k * (REC_MAX_KEY + 1));
	for (k = 0; k < n; k++) {
		if (rec_write_embed(j->out, b->keys + (size_t)k * (REC_MAX_KEY + 1),
				    b->labels[k], b->out + (size_t)k * out_dim, out_dim) < 0) {
			j->broken_pipe = errno == EPIPE;
			return hm_error_prefix("'%s'", j->out_name);
		}
		j->n_done++;
	}
	return 0;
}

int embed_run(struct embed_job *j)
{
	j->n_done = 0;
	j->broken_pipe = 0;
	if (j->batch < 1)
		return hm_error("batch size %d: must be at least 1", j->batch);
	const struct model_shape *sh = model_get_shape(j->model);
	int dim = sh->emb_dim, out_dim = embed_out_dim(dim, j->flip);
	if (out_dim > REC_MAX_DIM)
		return hm_error("embeddings of %d values exceed the record limit %d",
				out_dim, REC_MAX_DIM);
	if (model_set_batch(j->model, j->batch) < 0 || model_fold_bn(j->model, 1) < 0)
		return -1;
	size_t img = (size_t)sh->in_c * sh->in_h * sh->in_w;
	struct buffers b;
	if (buffers_alloc(&b, j->batch, img, dim, out_dim, j->flip != EMBED_FLIP_NONE) < 0)
		return -1;
	struct jpeg *jp = jpeg_new();
	struct image scratch = { 0 };
	struct record rec = { 0 };
	struct rec_reader rd;
	int rc = jp ? 0 : hm_error("cannot start the JPEG decoder");
	rec_reader_init(&rd, j->in, j->in_name);
	for (int end = 0; !rc && !end;) {
		int n = 0;
		while (n < j->batch) {
			int got = rec_read(&rd, &rec);
			if (got < 0) {
				rc = -1;
				break;
			}
			if (got == 0) {
				end = 1;
				break;
			}
			long idx = rd.n_records - 1;
			/* Channels are converted as hm-train converts them
			 * (data_record_to_chw): grey copied into three, colour
			 * to grey luma.  The size must be the model's. */
			if (rec.kind == REC_IMAGE &&
			    (rec.width != sh->in_w || rec.height != sh->in_h)) {
				rc = hm_error_file(j->in_name, "record %ld '%s': image is "
						   "%dx%dx%d, the model takes %dx%dx%d", idx,
						   rec.key, rec.width, rec.height,
						   rec.channels, sh->in_w, sh->in_h, sh->in_c);
				break;
			}
			if (data_record_to_chw(b.x + (size_t)n * img, &rec, sh->in_c,
					       sh->in_h, sh->in_w, 0, jp, &scratch,
					       j->in_name, idx) < 0) {
				rc = -1;
				break;
			}
			snprintf(b.keys + (size_t)n * (REC_MAX_KEY + 1), REC_MAX_KEY + 1,
				 "%s", rec.key);
			b.labels[n] = rec.label;
			b.index[n] = idx;
			n++;
		}
		if (!rc && n > 0)
			rc = embed_batch(j, &b, n);
		if (!rc && j->progress)
			progress_update(j->progress, j->n_done);
	}
	if (!rc && rec_write_end(j->out) < 0) {
		j->broken_pipe = errno == EPIPE;
		rc = hm_error_prefix("'%s'", j->out_name);
	}
	record_release(&rec);
	image_free(&scratch);
	jpeg_free(jp);
	buffers_free(&b);
	return rc;
}
