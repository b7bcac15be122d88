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
 * the file: "'m.hmm': tensor 'layer1.0.conv1.weight': CRC mismatch".
 *
 * Byte layout (all integers little-endian; hm-model(5) is the reference):
 *   "HMM\x1a"  u32 version  u32 n_kv  u32 n_tensors
 *   n_kv x { u32 key_len, key bytes, u32 value_len, value bytes }
 *   u32 CRC-32 (zlib) of every byte above
 *   n_tensors x { u32 name_len, name, u32 ndim, u64 shape[ndim],
 *                 float32 data[product(shape)], u32 CRC-32 of the entry }
 *   "END\x1a", then nothing.
 *
 * Rules both directions enforce: keys and tensor names are printable ASCII
 * without spaces (0x21..0x7e), unique; values are strings without NUL;
 * 1 <= ndim <= 4, every dimension >= 1; every value is finite (a NaN or an
 * infinity is refused on write and rejected on read, naming the tensor).
 * Reading needs a regular file (the sizes are checked against its length).
 */
#ifndef HM_MODELFILE_H
#define HM_MODELFILE_H

#include <stdint.h>

#define MF_MAX_NAME 127
#define MF_MAX_DIMS 4
/* Further limits, checked on write and on read before allocating. */
#define MF_MAX_KV 4096			/* metadata entries */
#define MF_MAX_KEY 255			/* bytes in a key */
#define MF_MAX_VALUE (1 << 20)		/* bytes in a value */
#define MF_MAX_TENSORS 65536
#define MF_MAX_DIM 2147483647LL		/* each dimension: 1 .. MF_MAX_DIM */
#define MF_VERSION 1

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
	unsigned char *placed;	/* [n_tensors]: 1 where the data are the place
				 * function's (modelfile_read_into()) */
};

/* Writes PATH atomically ("-": stdout).  Checks everything first (names,
 * keys, shapes, limits, duplicates, finite values): a refused write creates
 * no file and leaves an existing PATH as it was.  0 or -1 (error recorded). */
int modelfile_write(const char *path, const struct mf_kv *kv, int n_kv,
		    const struct mf_tensor *tensors, int n_tensors);
/* Reads PATH (a regular file); caller frees with modelfile_free().
 * Returns 0, or -1 with the error recorded and *MF empty: bad magic, other
 * version, truncation, a size over the limits or beyond the file's end,
 * CRC mismatch, non-finite value, duplicate name, bytes after the end. */
int modelfile_read(struct modelfile *mf, const char *path);
/* Where a tensor's data go as modelfile_read_into() reads them: a buffer of
 * mf_tensor_count(T) floats of the caller's, or NULL for one of the
 * reader's own.  T has its name and shape; MF all of the metadata, and
 * the tensors up to T. */
typedef float *mf_place_fn(void *ctx, const struct modelfile *mf, const struct mf_tensor *t);
/* modelfile_read(), with each tensor's data read straight into the buffer
 * PLACE(CTX, ...) gives: the same checks and errors, and the tensors so
 * placed are marked in MF->placed (modelfile_free() leaves their data
 * alone; on an error their contents are undefined). */
int modelfile_read_into(struct modelfile *mf, const char *path, mf_place_fn *place,
			void *ctx);
void modelfile_free(struct modelfile *mf);
/* The value for KEY, or NULL. */
const char *modelfile_get(const struct modelfile *mf, const char *key);
/* The tensor named NAME, or NULL. */
const struct mf_tensor *modelfile_find(const struct modelfile *mf, const char *name);
/* Number of floats in a tensor. */
int64_t mf_tensor_count(const struct mf_tensor *t);

#endif
