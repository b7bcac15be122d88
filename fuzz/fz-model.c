/*
 * fz-model: model and checkpoint files (.hmm) through modelfile_read(),
 * then model_from_file() as hm-train --resume does, and model_load(),
 * which must agree with them (modelfile.h, model.h).
 *
 * Checks on success: counts within the MF_MAX_* limits, keys and tensor
 * names printable ASCII without spaces and unique, values without NUL,
 * 1..4 dimensions each >= 1, every float finite.  On failure: an empty
 * struct and a one-line message.  The custom mutator usually rewrites the
 * metadata CRC and each complete tensor's CRC, so mutations reach the
 * checks behind them (shapes, non-finite values, duplicates, the model's
 * metadata and tensor shapes).
 */
#include "fz.h"
#include "model.h"
#include "modelfile.h"
#include "rec.h"

#include <math.h>
#include <zlib.h>

static void fzmodel_check_name(const char *s, size_t max)
{
	size_t n = strlen(s);
	FZ_CHECK(n >= 1 && n <= max);
	for (size_t i = 0; i < n; i++)
		FZ_CHECK(s[i] >= 0x21 && s[i] <= 0x7e);
}

static void fzmodel_check(const struct modelfile *mf)
{
	FZ_CHECK(mf->n_kv >= 0 && mf->n_kv <= MF_MAX_KV);
	FZ_CHECK(mf->n_tensors >= 0 && mf->n_tensors <= MF_MAX_TENSORS);
	for (int i = 0; i < mf->n_kv; i++) {
		fzmodel_check_name(mf->kv[i].key, MF_MAX_KEY);
		FZ_CHECK(strlen(mf->kv[i].value) <= MF_MAX_VALUE);
		for (int j = 0; j < i; j++)
			FZ_CHECK(strcmp(mf->kv[i].key, mf->kv[j].key));
		FZ_CHECK(modelfile_get(mf, mf->kv[i].key) == mf->kv[i].value);
	}
	for (int i = 0; i < mf->n_tensors; i++) {
		const struct mf_tensor *t = &mf->tensors[i];
		fzmodel_check_name(t->name, MF_MAX_NAME);
		FZ_CHECK(t->ndim >= 1 && t->ndim <= MF_MAX_DIMS);
		for (int d = 0; d < t->ndim; d++)
			FZ_CHECK(t->shape[d] >= 1 && t->shape[d] <= MF_MAX_DIM);
		int64_t n = mf_tensor_count(t);
		for (int64_t k = 0; k < n; k++)
			FZ_CHECK(isfinite(t->data[k]));
		for (int j = 0; j < i; j++)
			FZ_CHECK(strcmp(t->name, mf->tensors[j].name));
		FZ_CHECK(modelfile_find(mf, t->name) == t);
	}
}

/* model_load(), which reads the tensors into the model as it builds it,
 * does what M (model_from_file()'s model, or NULL with the error
 * recorded) says: the same tensors, or the same message. */
static void fzmodel_check_load(const char *path, const struct model *m)
{
	char want[1024];
	snprintf(want, sizeof want, "%s", hm_errmsg());
	struct model *l = model_load(path);
	FZ_CHECK(!l == !m);
	if (!l) {
		FZ_CHECK(!strcmp(hm_errmsg(), want));
		return;
	}
	FZ_CHECK(model_n_tensors(l) == model_n_tensors(m));
	for (int i = 0; i < model_n_tensors(m); i++) {
		const struct model_tensor *a = model_tensor(m, i), *b = model_tensor(l, i);
		FZ_CHECK(!strcmp(a->name, b->name) && a->count == b->count &&
			 !memcmp(a->data, b->data, a->count * sizeof(float)));
	}
	model_free(l);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *path = fz_tmpfile(data, size, ".hmm");
	struct modelfile mf;
	struct model *m = NULL;
	if (modelfile_read(&mf, path) < 0) {
		fz_check_error();
		FZ_CHECK(mf.n_kv == 0 && mf.n_tensors == 0 && !mf.kv && !mf.tensors);
	} else {
		fzmodel_check(&mf);
		m = model_from_file(&mf, path);
		if (!m)
			fz_check_error();
	}
	fzmodel_check_load(path, m);
	model_free(m);
	modelfile_free(&mf);
	fz_unlink(path);
	return 0;
}

#ifndef HM_FZ_REPLAY
size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);

/* Reads a u32 at *POS if it is there. */
static int fzmodel_u32(const uint8_t *d, size_t size, size_t *pos, uint64_t *v)
{
	if (size - *pos < 4)
		return -1;
	*v = get_u32(d + *pos);
	*pos += 4;
	return 0;
}

/* Skips N bytes if they are there. */
static int fzmodel_skip(size_t size, size_t *pos, uint64_t n)
{
	if (n > size - *pos)
		return -1;
	*pos += n;
	return 0;
}

/* Stores the CRC of d[from, *pos) at *pos if there is room. */
static int fzmodel_put_crc(uint8_t *d, size_t size, size_t from, size_t *pos)
{
	if (size - *pos < 4)
		return -1;
	put_u32(d + *pos, (uint32_t)crc32(0L, d + from, (uInt)(*pos - from)));
	*pos += 4;
	return 0;
}

/* Puts the right CRCs on the metadata block and each complete tensor. */
static void fzmodel_fix_crcs(uint8_t *d, size_t size)
{
	if (size < 16 || memcmp(d, "HMM\x1a", 4))
		return;
	uint64_t n_kv = get_u32(d + 8), n_t = get_u32(d + 12), len;
	size_t pos = 16;
	for (uint64_t i = 0; i < n_kv; i++)
		if (fzmodel_u32(d, size, &pos, &len) || fzmodel_skip(size, &pos, len) ||
		    fzmodel_u32(d, size, &pos, &len) || fzmodel_skip(size, &pos, len))
			return;
	if (fzmodel_put_crc(d, size, 0, &pos))
		return;
	for (uint64_t i = 0; i < n_t; i++) {
		size_t from = pos;
		uint64_t ndim, count = 1;
		if (fzmodel_u32(d, size, &pos, &len) || fzmodel_skip(size, &pos, len) ||
		    fzmodel_u32(d, size, &pos, &ndim) || ndim > 4 ||
		    size - pos < 8 * ndim)
			return;
		for (uint64_t k = 0; k < ndim; k++, pos += 8) {
			uint64_t v = get_u64(d + pos);
			if (v > size)
				return;
			count *= v;
			if (count > size)
				return;
		}
		if (fzmodel_skip(size, &pos, 4 * count) || fzmodel_put_crc(d, size, from, &pos))
			return;
	}
}

size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size,
			       unsigned int seed)
{
	size = LLVMFuzzerMutate(data, size, max_size);
	if (seed % 8)
		fzmodel_fix_crcs(data, size);
	return size;
}
#endif
