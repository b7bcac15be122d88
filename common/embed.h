/*
 * embed: a model and a stream of image records -> a stream of embedding
 * records (hm-embed(1)).
 *
 * The loop: read up to `batch` image records, check and convert each one
 * exactly as hm-train's loader does (data_record_to_chw(): size check,
 * JPEG decoding, (x - 127.5) / 127.5, NCHW), run the model in eval mode
 * (running batch-norm statistics, no dropout), run it again on the
 * left-right mirrored batch unless the flip mode is "none", combine, check,
 * write one embedding record per image with the image's key and label
 * unchanged, repeat; after the last record, the end-of-stream record.
 *
 * Flip modes and the vectors written (every one has unit L2 length, so a
 * dot product downstream is the cosine; the scaling is computed in double
 * precision and rounded once to float32):
 *   EMBED_FLIP_SUM     normalise(e + e_flip): insightface's flip test
 *                      (arcface_torch eval/verification.py test(): the two
 *                      embeddings are added, then sklearn normalize()).
 *                      emb_dim values.  The default.
 *   EMBED_FLIP_CONCAT  normalise([e, e_flip]): arcface-pytorch's test.py
 *                      (np.hstack of the image's and its mirror's features,
 *                      compared by cosine; scaling the whole vector keeps
 *                      that cosine).  2 * emb_dim values.
 *   EMBED_FLIP_NONE    normalise(e), emb_dim values, one forward per batch.
 * A zero vector stays zero (as sklearn's normalize leaves it).
 *
 * Checks, each an error naming the input and the record (numbered from 0)
 * and its key: a record that is not an image; an image whose width, height
 * or channel count is not the model's input (no conversion: the channels
 * must match, unlike hm-train's loader, which converts grey and RGB); a JPEG
 * that does not decode to its header's size; a NaN or infinite value in an
 * embedding (a broken model).  A batch is written only after all of its
 * records passed every check, so an error in the first batch leaves the
 * output empty; after that, the output holds the earlier batches and no
 * end-of-stream record, which a reader reports as truncation
 * (hm-records(5)).  Input that stops without an end-of-stream record is
 * an error in the same way (rec_read()).
 *
 * Speed: embed_run() folds the model's batch norms into its convolutions
 * IN PLACE (model_fold_bn(m, 1)) before the first batch: afterwards the
 * model serves eval forwards only (training forwards fail) until its
 * tensors are loaded again.  The eval forward runs its element-wise layers
 * in place.
 * Memory is constant in the input's length: one batch of images (twice,
 * for the mirror), its keys and the model's activations for the batch.
 * Determinism: the same model, input, batch size, flip mode and thread
 * count give the same bytes.  Another thread count or batch size may
 * change the last bits: OpenBLAS's sgemm (0.3.21) rounds differently when
 * it splits a product over threads, and the fully connected layer's
 * product has one row per image of the batch.  Measured: up to 2.4e-7 on
 * the unit vectors (tests/cli/t0650-embed-records.sh checks 1e-6).
 *
 * Threads: all compute is in model_forward() (OpenBLAS and OpenMP, set
 * with blas_set_threads()); reading and decoding run on the calling
 * thread: a 112x112 JPEG decodes in well under a millisecond, against
 * tens of milliseconds for an IR-18 forward of one image.
 *
 * Errors: -1 with the message recorded (err.h); nothing printed.
 */
#ifndef HM_EMBED_H
#define HM_EMBED_H

#include <stdio.h>

struct model;
struct progress;

enum embed_flip { EMBED_FLIP_SUM, EMBED_FLIP_CONCAT, EMBED_FLIP_NONE };

/* "sum", "concat" or "none" -> the mode; -1 (nothing recorded) otherwise. */
int embed_flip_parse(const char *s);
const char *embed_flip_name(enum embed_flip f);
/* Values per written embedding for a model of EMB_DIM: 2 * EMB_DIM for
 * concat, else EMB_DIM. */
int embed_out_dim(int emb_dim, enum embed_flip f);

/*
 * The vector written for one image, OUT [embed_out_dim(DIM, F)], from the
 * model's embedding E [DIM] of the image and EF [DIM] of its mirror image
 * (not read, and may be NULL, for EMBED_FLIP_NONE), as described above.
 */
void embed_combine(float *out, const float *e, const float *ef, int dim,
		   enum embed_flip f);

/*
 * The vectors of N images X [N, c, h, w] (data_record_to_chw()'s layout,
 * the model's input size): the eval forward of X and, unless F is
 * EMBED_FLIP_NONE, of its mirror image (data_flip_chw() into XF, scratch
 * of X's size, else unused), combined by embed_combine() into OUT
 * [N, embed_out_dim(emb_dim, F)].  E: scratch [N, emb_dim].  The model's
 * batch must hold N (model_set_batch()).  Returns N; or the index of the
 * first image whose embedding, or its mirror's, has a NaN or an infinite
 * value (OUT then not written); or -1 with the message recorded (a forward
 * failed).  embed_run() and hm-train's --val both embed with it.
 */
int embed_images(struct model *m, const float *x, float *xf, float *e, int n,
		 enum embed_flip f, float *out);

struct embed_job {
	/* set by the caller */
	struct model *model;	/* borrowed; embed_run() plans its batch */
	FILE *in;
	const char *in_name;	/* for messages, e.g. "lfw.hmr" or "-" */
	FILE *out;
	const char *out_name;	/* for messages about writing */
	enum embed_flip flip;
	int batch;		/* images per forward, >= 1 */
	struct progress *progress;	/* updated per batch; may be NULL */
	/* results */
	long n_done;		/* embeddings written */
	int broken_pipe;	/* the failure was EPIPE on OUT */
};

/*
 * Embeds every record of J->in into J->out as described above and ends
 * the output with rec_write_end() (the caller flushes and closes OUT).
 * 0, or -1 with the message recorded (bad record, bad size, non-finite
 * embedding, read or write error, out of memory).
 */
int embed_run(struct embed_job *j);

#endif
