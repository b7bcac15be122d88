/*
 * modelfile: the .hmm container for models and checkpoints (hm-model(5)).
 *
 * A file is a header with text metadata (key = value pairs: architecture,
 * input size, embedding size, classes, loss, training state...) followed by
 * named float32 tensors, each with its shape and a CRC-32.  Models and
 * checkpoints are the same container: a checkpoint simply carries more
 * tensors (optimiser momentum "momentum/<name>") and more metadata (RNG
 * state, epoch, iteration, the training options).
 *
 * Writing borrows the caller's arrays; the file is written atomically
 * (outfile.h).  Reading allocates: modelfile_free() releases everything.
 * Every size is checked against limits before allocating; every error names
 * the file: "'m.hmm': tensor 'stem.conv.weight': CRC mismatch".
 */
#ifndef HM_MODELFILE_H
#define HM_MODELFILE_H

#include <stdint.h>

#define MF_MAX_NAME 127
#define MF_MAX_DIMS 4

struct mf_tensor {
	char name[MF_MAX_NAME + 1];
	int ndim;
	int64_t shape[MF_MAX_DIMS];
	float *data;	/* product(shape) floats; borrowed on write, owned after read */
};

struct mf_kv {
	char *key, *value;	/* borrowed on write, owned after read */
};

struct modelfile {
	int n_kv;
	struct mf_kv *kv;
	int n_tensors;
	struct mf_tensor *tensors;
};

/* Writes PATH atomically.  Returns 0 or -1 (error recorded). */
int modelfile_write(const char *path, const struct mf_kv *kv, int n_kv,
		    const struct mf_tensor *tensors, int n_tensors);
/* Reads PATH; caller frees with modelfile_free().  Returns 0 or -1. */
int modelfile_read(struct modelfile *mf, const char *path);
void modelfile_free(struct modelfile *mf);
/* The value for KEY, or NULL. */
const char *modelfile_get(const struct modelfile *mf, const char *key);
/* The tensor named NAME, or NULL. */
const struct mf_tensor *modelfile_find(const struct modelfile *mf, const char *name);
/* Number of floats in a tensor. */
int64_t mf_tensor_count(const struct mf_tensor *t);

#endif
