/*
 * model: the suite's CNN backbones (DESIGN section 5), built from nn.h
 * layers, with forward, backward, initialisation and model files.
 *
 * A network is an array of small tagged layer structs dispatched by a
 * switch (STYLE 8).  All trainable parameters live in ONE allocation, their
 * gradients in another with the same layout, and non-trainable buffers (batch
 * norm running statistics) in a third; model_tensor() gives named typed views
 * (STYLE 6), so zeroing, checkpointing and the optimiser update are one loop
 * each.  Activations for a batch size are planned by model_set_batch().
 *
 * Architectures (the string given to model_new):
 *   "ir18"    insightface IResNet-18: [2,2,2,2] x (64,128,256,512) IR blocks
 *             on 3x112x112, head BN2d, dropout, FC to 512, BN1d.
 *   "face18"  arcface-pytorch resnet_face18 on 1x128x128 grayscale.
 *   "ir:D1,D2,D3,D4:W1,W2,W3,W4" a small IR net, e.g. "ir:1,1,1,1:8,16,32,64".
 * Input size, channels and embedding size are options of model_new() with
 * the architecture's defaults when 0.
 *
 * The classifier head of the loss (W [classes, emb], bias) is NOT part of
 * the backbone: the training code owns it and stores it in the model file
 * as tensors "head/weight" and "head/bias".
 *
 * Threads: OpenBLAS and OpenMP inside the layers (see nn.h); a model is
 * used by one thread at a time.
 */
#ifndef HM_MODEL_H
#define HM_MODEL_H

#include <stddef.h>
#include <stdint.h>

struct rng;
struct modelfile;
struct mf_kv;
struct mf_tensor;

struct model_shape {
	char arch[128];
	int in_c, in_h, in_w;	/* input channels, height, width */
	int emb_dim;		/* embedding size */
};

/* A named view into the parameter, gradient or buffer storage. */
struct model_tensor {
	const char *name;	/* e.g. "layer1.0.conv1.weight" (PyTorch names) */
	float *data;		/* into the parameter or buffer allocation */
	float *grad;		/* into the gradient allocation; NULL for buffers */
	int ndim;
	int shape[4];
	size_t count;
	int trainable;		/* 0 for running statistics */
	int decay;		/* weight decay applies (conv/linear weights only) */
};

struct model;

/*
 * Builds a network for ARCH with input IN_C x IN_H x IN_W and embedding
 * EMB_DIM (0 = the architecture's default).  Parameters are zero until
 * model_init() or model_load_tensors().  NULL with the error recorded on a
 * bad architecture string or size.  Free with model_free().
 */
struct model *model_new(const char *arch, int in_c, int in_h, int in_w, int emb_dim);
void model_free(struct model *m);
const struct model_shape *model_get_shape(const struct model *m);

/* Initialises parameters as insightface's iresnet.py does (look it up; write
 * the rule here), deterministically from SEED. */
void model_init(struct model *m, uint64_t seed);

/* Plans activation memory for batches of up to MAX_BATCH.  0 or -1. */
int model_set_batch(struct model *m, int max_batch);

/*
 * Forward pass of B <= max_batch images inp [B, in_c, in_h, in_w].
 * TRAIN selects batch statistics and dropout (drawing from R); eval mode
 * uses running statistics.  Returns the embedding [B, emb_dim] (owned by the
 * model, valid until the next forward).
 */
const float *model_forward(struct model *m, const float *inp, int B, int train,
			   struct rng *r);
/* Backward of the last training forward: accumulates parameter gradients
 * from demb [B, emb_dim]; if dinp is not NULL accumulates the input gradient. */
void model_backward(struct model *m, const float *demb, float *dinp);
/* Zeroes every gradient (one memset). */
void model_zero_grad(struct model *m);

/* Named tensors: parameters then buffers, in a fixed order. */
int model_n_tensors(const struct model *m);
const struct model_tensor *model_tensor(const struct model *m, int i);
/* The whole parameter / gradient / buffer storage, for one-loop updates. */
float *model_params(struct model *m, size_t *n);
float *model_grads(struct model *m, size_t *n);
/* Multiply-accumulates per image of one forward pass (for reports). */
double model_macs(const struct model *m);

/*
 * Model files (hm-model(5)).  model_file_entries() appends the model's
 * metadata (arch, in_c, in_h, in_w, emb_dim) and every tensor by name to the
 * growing arrays *kv/*n_kv and *t/*n_t (realloc'd; each kv key and value is
 * malloc'd and freed by the caller, tensor data is borrowed from the model),
 * so a caller can add its own entries (head, momentum, training state)
 * before modelfile_write().  model_save() is the plain case.  0 or -1.
 */
int model_file_entries(const struct model *m, struct mf_kv **kv, int *n_kv,
		       struct mf_tensor **t, int *n_t);
int model_save(const struct model *m, const char *path);
/* Builds the model a file describes and loads its tensors.  NULL on error. */
struct model *model_load(const char *path);
/* As model_load(), from an already-read file (checkpoints). */
struct model *model_from_file(const struct modelfile *mf, const char *name);

#endif
