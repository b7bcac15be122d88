/* verify: embeddings by key, video aggregation, cosine scores (see verify.h). */
#include "verify.h"
#include "err.h"
#include "rec.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int verify_init(struct verify *v, const struct pair_list *pairs, int videos)
{
	memset(v, 0, sizeof *v);
	v->videos = videos;
	v->want = embtab_new();
	v->seen = embtab_new();
	if (!v->want || !v->seen) {
		verify_release(v);
		return -1;
	}
	for (long i = 0; i < pairs->n; i++) {
		if (embtab_add(v->want, pairs->p[i].a, NULL) < 0 ||
		    embtab_add(v->want, pairs->p[i].b, NULL) < 0) {
			verify_release(v);
			return -1;
		}
	}
	return 0;
}

void verify_release(struct verify *v)
{
	embtab_free(v->want);
	embtab_free(v->seen);
	free(v->frame);
	memset(v, 0, sizeof *v);
}

/* One embedding being added: its key, values [dim], and for messages the
 * stream's name and the record's number. */
struct emb {
	const char *key;
	const float *values;
	const char *name;
	long no;
};

/* The embedding's values as a unit vector in v->frame. */
static int unit(struct verify *v, const struct emb *r)
{
	double ss = 0.0;
	for (int i = 0; i < v->dim; i++) {
		v->frame[i] = r->values[i];
		ss += v->frame[i] * v->frame[i];
	}
	if (!(ss > 0.0))
		return hm_error_file(r->name, "record %ld: '%s': zero vector, cannot be "
				     "normalised", r->no, r->key);
	double inv = 1.0 / sqrt(ss);
	for (int i = 0; i < v->dim; i++)
		v->frame[i] *= inv;
	return 0;
}

/* Adds the unit frame to every listed video that the key lies under. */
static int add_frame(struct verify *v, const struct emb *r)
{
	size_t len = strlen(r->key);
	char *prefix = malloc(len + 1);
	int have = 0, rc = 0;
	if (!prefix)
		return hm_error("out of memory");
	for (size_t p = 1; p < len; p++) {
		if (r->key[p] != '/')
			continue;
		memcpy(prefix, r->key, p);
		prefix[p] = 0;
		long e = embtab_find(v->want, prefix);
		if (e < 0)
			continue;
		if (!have && (rc = unit(v, r)))
			break;
		have = 1;
		double *sum = embtab_vec(v->want, e, v->dim);
		if (!sum) {
			rc = -1;
			break;
		}
		for (int i = 0; i < v->dim; i++)
			sum[i] += v->frame[i];
		embtab_entry(v->want, e)->count++;
	}
	free(prefix);
	return rc;
}

int verify_add(struct verify *v, const char *key, const float *values, int dim,
	       const char *name, long no)
{
	const struct emb r = { key, values, name, no };
	if (!v->dim) {
		v->dim = dim;
		v->frame = malloc((size_t)v->dim * sizeof *v->frame);
		if (!v->frame)
			return hm_error("out of memory");
	} else if (dim != v->dim) {
		return hm_error_file(name, "record %ld: '%s': dimension %d, but the "
				     "first record has dimension %d", no, key, dim,
				     v->dim);
	}
	for (int i = 0; i < dim; i++)
		if (!isfinite(values[i]))
			return hm_error_file(name, "record %ld: '%s': value %d is %s", no,
					     key, i, isnan(values[i]) ? "NaN" : "infinite");
	int added;
	long s = embtab_add(v->seen, key, &added);
	if (s < 0)
		return -1;
	if (!added)
		return hm_error_file(name, "record %ld: key '%s' appears twice (first "
				     "at record %ld)", no, key,
				     embtab_entry(v->seen, s)->record);
	embtab_entry(v->seen, s)->record = no;
	if (v->videos)
		return add_frame(v, &r);
	long e = embtab_find(v->want, key);
	if (e < 0)
		return 0;
	double *vec = embtab_vec(v->want, e, v->dim);
	if (!vec || unit(v, &r))
		return -1;
	memcpy(vec, v->frame, (size_t)v->dim * sizeof *vec);
	embtab_entry(v->want, e)->record = no;
	embtab_entry(v->want, e)->count = 1;
	return 0;
}

static int take(struct verify *v, const struct record *r, const char *name, long no)
{
	if (r->kind != REC_EMBED)
		return hm_error_file(name, "record %ld: '%s': an image record, not an "
				     "embedding", no, r->key);
	return verify_add(v, r->key, r->values, r->dim, name, no);
}

int verify_read(struct verify *v, FILE *fp, const char *name)
{
	struct rec_reader rd;
	struct record r = { 0 };
	int got;
	rec_reader_init(&rd, fp, name);
	while ((got = rec_read(&rd, &r)) == 1) {
		if (take(v, &r, name, v->n_records)) {
			got = -1;
			break;
		}
		v->n_records++;
	}
	record_release(&r);
	return got < 0 ? -1 : 0;
}

/* Normalises each video's summed frames (once). */
static int finish(struct verify *v, const char *emb_name)
{
	if (v->finished || !v->videos)
		return 0;
	for (long i = 0; i < embtab_count(v->want); i++) {
		struct embtab_entry *e = embtab_entry(v->want, i);
		if (!e->vec)
			continue;
		double ss = 0.0;
		for (int j = 0; j < v->dim; j++)
			ss += e->vec[j] * e->vec[j];
		if (!(ss > 0.0))
			return hm_error_file(emb_name, "video '%s': the mean of its %ld "
					     "frames is the zero vector", e->key, e->count);
		double inv = 1.0 / sqrt(ss);
		for (int j = 0; j < v->dim; j++)
			e->vec[j] *= inv;
	}
	v->finished = 1;
	return 0;
}

static const double *vector_of(struct verify *v, const char *key, long line,
			       const char *pairs_name, const char *emb_name)
{
	long i = embtab_find(v->want, key);
	struct embtab_entry *e = i < 0 ? NULL : embtab_entry(v->want, i);
	if (e && e->vec)
		return e->vec;
	if (v->videos)
		hm_error_file(pairs_name, "line %ld: video '%s': no records under '%s/' "
			      "in '%s'", line, key, key, emb_name);
	else
		hm_error_file(pairs_name, "line %ld: no embedding for '%s' in '%s'", line,
			      key, emb_name);
	return NULL;
}

int verify_scores(struct verify *v, const struct pair_list *pairs,
		  const char *pairs_name, const char *emb_name, double *score)
{
	if (finish(v, emb_name))
		return -1;
	for (long i = 0; i < pairs->n; i++) {
		const struct pair *p = &pairs->p[i];
		const double *a = vector_of(v, p->a, p->line, pairs_name, emb_name);
		const double *b = a ? vector_of(v, p->b, p->line, pairs_name, emb_name)
				    : NULL;
		if (!b)
			return -1;
		double dot = 0.0;
		for (int j = 0; j < v->dim; j++)
			dot += a[j] * b[j];
		score[i] = dot;
	}
	return 0;
}
