/*
 * data: hm-train's loader.  Reads a pack (a .hmr record stream with its
 * .hmi index, hm-records(5)) in random order, decodes the images on a
 * background thread and hands out batches ready for model_forward():
 * float32 NCHW, normalised (x - 127.5) / 127.5, with labels.
 *
 * What it is not: no augmentation beyond the horizontal flip, no
 * resizing (an image whose size is not the model's input is an error that
 * names the record: align the data to the model's size with hm-align).
 *
 * Packs.  data_pack_open() loads the index and checks it against the
 * stream: a missing index, or one written for a stream of another size,
 * is an error that says to run "hm-pack --index"; a path that is no pack
 * at all (a directory, RecordIO, .bin, landmark list: pack_check_is_pack)
 * is an error that names its kind and the hm-pack command for it.  With NEED_LABELS every
 * label must be >= 0 (the first negative one is reported with its record
 * number and key) and the classes are max label + 1.  The first record
 * gives the pack's image size; every record is checked when decoded.
 *
 * Order and determinism.  Training (DATA_TRAIN) walks epochs: epoch e's
 * order is a Fisher-Yates shuffle of 0..n-1 drawn from
 * rng_seed2(seed ^ DATA_TAG_ORDER, e), and its batches are consecutive
 * slices of that order.  The last partial batch of each epoch is DROPPED
 * (every step sees a full batch, so the batch-norm statistics and the
 * rate stay the same; the records it would hold come first in some later
 * epoch's order): an epoch is floor(n / batch) batches.  Batch b of epoch
 * e flips each image left-right with probability 1/2, drawn from
 * rng_seed2(seed ^ DATA_TAG_FLIP, e * 2^32 + b), one rng_u64() per image,
 * in batch order (flip when the top bit is set).  A sharded loader
 * (data_config.shard) takes its consecutive slice of each global batch and
 * skips the draws of the slices before it, so N shards of batch B/N see
 * exactly the images and flips of one loader of batch B.  So a batch's content is
 * a function of (seed, e, b) alone: never of timing, of the queue depth,
 * or of where a run was resumed.  Batches are numbered globally:
 * batch t is epoch t / per_epoch, batch t % per_epoch within it, which is
 * hm-train's iteration t.
 * Evaluation (DATA_EVAL) reads the pack once in stream order without
 * flips, and keeps the last partial batch; batches carry the keys.
 *
 * Channels: images are converted to the model's channel count: grey to
 * RGB by copying, RGB to grey by ITU-R BT.601 luma (libjpeg's, as
 * img.c's PNM decoder; TurboJPEG does the same for JPEG).
 *
 * Threads: one background thread per loader does all reading and
 * decoding (its own FILE and TurboJPEG handle) and fills a bounded queue
 * of prepared batches (DATA_QUEUE deep); the caller's thread only takes
 * them.  The loader does not use OpenBLAS or OpenMP.
 *
 * Ownership: data_pack_open() fills a caller-owned struct, released by
 * data_pack_close().  data_loader_new() allocates (free with
 * data_loader_free(), which stops and joins the thread); it borrows the
 * pack, which must outlive it.  A batch returned by data_loader_next()
 * belongs to the loader and stays valid until the next call or the free.
 * Errors: 0/1 or -1 (NULL) with the message recorded, naming the file and
 * the record: "'train.hmr': record 17 'a/001': image is 64x64x3, the
 * model takes 112x112".
 */
#ifndef HM_DATA_H
#define HM_DATA_H

#include <stdint.h>

#include "rec.h"

#define DATA_QUEUE 3
#define DATA_TAG_ORDER 0x4f52444552ULL	/* "ORDER" */
#define DATA_TAG_FLIP 0x464c4950ULL	/* "FLIP" */

struct data_pack {
	char *path;		/* the .hmr stream (a copy) */
	char *index_path;	/* its .hmi */
	struct rec_index ix;	/* offset and label of every record */
	int n_classes;		/* max label + 1; 0 without NEED_LABELS */
	int n_identities;	/* distinct labels; 0 without NEED_LABELS */
	int width, height, channels;	/* the first record's image */
};

/* Opens PATH (the .hmr) and its index.  0 or -1; on error P is empty. */
int data_pack_open(struct data_pack *p, const char *path, int need_labels);
void data_pack_close(struct data_pack *p);

enum data_mode { DATA_TRAIN, DATA_EVAL };

struct data_config {
	enum data_mode mode;
	int batch;		/* images per batch, >= 1 */
	int c, h, w;		/* the model's input; h, w must be the pack's */
	uint64_t seed;		/* order and flips (DATA_TRAIN) */
	int flip;		/* DATA_TRAIN: random horizontal flips */
	long start;		/* DATA_TRAIN: global number of the first batch */
	long end;		/* DATA_TRAIN: stop before this batch; 0 never */
	/* DATA_TRAIN sharding (data-parallel training, one shard per rank):
	 * global batch t is batch * n_shards images of the epoch's order and
	 * this loader hands out slice SHARD of it (images shard * batch ..
	 * (shard + 1) * batch - 1), with the flips the whole batch would get.
	 * 0 and 0 (or 1): no sharding. */
	int shard, n_shards;
};

struct data_batch {
	int n;			/* images: batch, or fewer at the end (eval) */
	long epoch, index;	/* position (eval: epoch 0) */
	float *x;		/* [batch, c, h, w] */
	int *labels;		/* [batch] */
	long *record;		/* [batch] record numbers in the pack */
	char **keys;		/* [batch] record keys (DATA_EVAL only) */
	int *flipped;		/* [batch] 1 where the image was mirrored */
};

struct data_loader;

/* Full batches per epoch in DATA_TRAIN: floor(n / batch), BATCH the
 * global batch (batch * n_shards when sharded). */
long data_batches_per_epoch(const struct data_pack *p, int batch);

/* Starts the loader thread.  NULL on a bad configuration (batch larger
 * than the pack in DATA_TRAIN, channels not 1 or 3, size mismatch with
 * the first record) or when out of memory. */
struct data_loader *data_loader_new(const struct data_pack *p,
				    const struct data_config *c);
/* The next batch: 1 and *OUT set, 0 at the end (eval: the pack read;
 * train: batch `end` reached), -1 on a bad record or read error. */
int data_loader_next(struct data_loader *L, const struct data_batch **out);
void data_loader_free(struct data_loader *L);

/* Epoch E's order: ORDER[0..n-1] a permutation of 0..n-1 (see above). */
void data_epoch_order(int *order, long n, uint64_t seed, long epoch);

/*
 * One image into the network's input: px [h, w, in_c] uint8 (in_c 1 or 3)
 * to out [out_c, h, w] float32, (x - 127.5) / 127.5, converted to out_c
 * channels as described above, mirrored left-right when FLIP.
 */
void data_image_to_chw(float *out, const unsigned char *px, int w, int h,
		       int in_c, int out_c, int flip);

/*
 * One image record into the network's input out [c, h, w]: the loader's
 * checks and decoding, shared with hm-embed (common/embed.c) so that both
 * see exactly the same floats.  REC must be an image record of W x H
 * pixels; raw payloads must hold 1 or 3 channels; JPEG payloads are
 * decoded with J into SCRATCH (an image the caller owns and frees with
 * image_free(); reused from call to call) converted to C channels.  Then
 * data_image_to_chw() (channel conversion, normalisation, FLIP).  FILE and
 * IDX (the record's number) name the record in messages, e.g.
 * "'f.hmr': record 17 'a/001': image is 64x64x3, the model takes 112x112".
 * 0, or -1 with the message recorded (OUT then partly written).
 */
struct jpeg;
struct image;
int data_record_to_chw(float *out, const struct record *rec, int c, int h, int w,
		       int flip, struct jpeg *j, struct image *scratch,
		       const char *file, long idx);

/* Mirrors ROWS rows of W floats left-right from SRC into DST (distinct
 * buffers): a batch [n, c, h, w] is n * c * h rows.  Equal to converting
 * with FLIP set, since the conversion is per pixel. */
void data_flip_chw(float *dst, const float *src, long rows, int w);

#endif
