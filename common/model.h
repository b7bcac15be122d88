/*
 * model: the suite's CNN backbones, built from nn.h layers, with forward,
 * backward, initialisation and model files.
 *
 * A network is an array of small tagged layer structs dispatched by a
 * switch.  All trainable parameters live in ONE allocation, their
 * gradients in another with the same layout, and non-trainable buffers (batch
 * norm running statistics, ir's frozen features.weight) in a third;
 * model_tensor() gives named typed views.  So zeroing, checkpointing and the
 * optimiser update are one loop each.  Activations for a batch size are
 * planned by model_set_batch().
 *
 * Architectures (the string given to model_new):
 *   "ir18"    insightface IResNet-18 (arcface_torch backbones/iresnet.py):
 *             stem conv3x3 (stride 1) + BN + PReLU; stages of IBasicBlocks
 *             [2,2,2,2] x (64,128,256,512), each block BN, conv3x3, BN,
 *             PReLU, conv3x3 (the stage's stride 2 on this second conv), BN,
 *             plus the shortcut (conv1x1 stride 2 + BN on a stage's first
 *             block), no activation after the add; head BN2d, dropout, FC to
 *             the embedding, BN1d "features" whose weight stays 1 (not
 *             trainable, as iresnet.py sets requires_grad=False).
 *             Default 3x112x112, 512-d, dropout 0 (arcface_torch trains with
 *             dropout=0).  24,025,088 trainable parameters; 2.61 GMAC.
 *   "face18"  arcface-pytorch resnet_face18(use_se=False), as its train.py
 *             builds it with config.py's use_se = False ("face18:se": with
 *             the SE blocks, the function's default use_se=True; a file
 *             written as "face18" before this change holds SE tensors and
 *             loads as "face18:se") (models/resnet.py, ResNetFace + IRBlock
 *             [+ SEBlock]): stem conv3x3
 *             + BN + PReLU + max-pool 2x2; IRBlocks [2,2,2,2] x (64,128,256,
 *             512), strides 1,2,2,2, each BN, conv3x3 (in->in), BN, PReLU,
 *             conv3x3 (in->out, stride), BN, [SE,] plus shortcut, then the same
 *             PReLU again after the add (one shared slope per block); head BN2d,
 *             dropout, FC (fc5), BN1d (bn5).  Default 1x128x128, 512-d,
 *             dropout 0.5 (nn.Dropout()).
 *   "ir:D1,..:W1,.."     an IResNet with 1 to 6 stages of depths Di and widths
 *             Wi (the stem has W1 channels), e.g. "ir:1,1,1,1:8,16,32,64";
 *             "ir18" is "ir:2,2,2,2:64,128,256,512".
 *   "face:D1,..:W1,..[:se]"  the same for the face18 family; ":se" adds SE
 *             blocks (widths >= 16); "face18" is
 *             "face:2,2,2,2:64,128,256,512", "face18:se" the same with ":se".
 * Input size, channels and embedding size are options of model_new() with
 * the architecture's defaults when 0; the FC input size follows from the
 * input size (7x7x512 for ir18 at 112x112, 8x8x512 for face18 at 128x128).
 * Batch norm everywhere: eps 1e-5, momentum 0.1 (PyTorch's defaults, as both
 * references use).
 *
 * Memory: model_set_batch() plans one arena for activations and activation
 * gradients by lifetime, so buffers that are never live at the same time
 * share memory (see modelplan.c); model_batch_bytes() says how much.  Training
 * keeps for the backward only what is expensive to recompute (convolution
 * and linear outputs, block outputs): batch-norm and PReLU outputs are
 * recomputed from their inputs and the saved statistics when the backward
 * needs them, a PReLU after a batch norm runs in the same sweep (forward
 * and backward), and a block's shortcut runs before its main branch.  Eval
 * forwards run batch norm, PReLU and dropout in place.  ir18 at 3x112x112:
 * 1187 MiB at batch 64 (2841 MiB before these), 184 MiB at batch 8.
 *
 * The classifier head of the loss (W [classes, emb], bias) is NOT part of
 * the backbone: the training code adds it to the parameter storage with
 * model_add_param() as tensors "head/weight" and "head/bias", which model
 * files then hold after the backbone's.
 *
 * Inference: model_fold_bn() folds each batch norm into the convolution or
 * linear layer before it, for eval forwards (into a copy, or in place).
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
	int trainable;		/* 0 for running statistics, features.weight */
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

/*
 * The same with FLAGS: MODEL_FEATURES_TRAINABLE makes the ir family's
 * "features" BN1d weight a trainable parameter (initialised to 1 as
 * before) instead of the buffer iresnet.py freezes, so the embedding's
 * scale, and with it the feature norm that A-Softmax multiplies its
 * cosines by, can grow as in SphereFace (whose embedding has no batch
 * norm).  hm-train sets it for A-Softmax runs.  The face family's bn5 is
 * trainable anyway: the flag does nothing there.  Model files of such a
 * model carry "features.trainable" = "1" (model_from_file() reads it;
 * files without it load frozen, as they were trained).
 */
#define MODEL_FEATURES_TRAINABLE 1u
struct model *model_new_flags(const char *arch, int in_c, int in_h, int in_w, int emb_dim,
			      unsigned flags);
/* Whether ARCH is a valid architecture string (what model_new() accepts,
 * sizes aside): 0, or -1 with the reason recorded ("architecture 'x': ..."),
 * so that tools can refuse a bad --arch as a usage error. */
int model_arch_check(const char *arch);
void model_free(struct model *m);
const struct model_shape *model_get_shape(const struct model *m);

/*
 * Initialises every tensor deterministically from SEED (each tensor from its
 * own stream rng_seed2(SEED, index), so the same seed gives the same bytes on
 * any machine).  The rules are the reference modules' own:
 *   ir family (iresnet.py): every conv weight N(0, 0.1); BN2d weight 1,
 *     bias 0; PReLU 0.25; fc weight and bias U(-1/sqrt(fan_in),
 *     1/sqrt(fan_in)) (nn.Linear's default); features weight 1, bias 0.
 *   face family (ResNetFace): conv and linear weights xavier_normal_
 *     (std sqrt(2/(fan_in+fan_out)), fans including the kernel area), linear
 *     biases 0; BN weight 1, bias 0; PReLU 0.25.
 *   Running means 0, running variances 1.
 */
void model_init(struct model *m, uint64_t seed);

/* Dropout probability used in training forwards, 0 <= p < 1 (default: the
 * architecture's, see above).  0 makes the layer the identity and draws
 * nothing from the RNG.  -1 with the error recorded on a bad p. */
int model_set_dropout(struct model *m, float p);
float model_get_dropout(const struct model *m);

/* Plans activation memory for batches of up to MAX_BATCH (replacing any
 * earlier plan).  0 or -1 (error recorded: bad size, out of memory). */
int model_set_batch(struct model *m, int max_batch);
/* Bytes model_set_batch() allocated (arena, conv workspace, max-pool
 * indices, dropout masks); 0 before it. */
size_t model_batch_bytes(const struct model *m);

/*
 * Forward pass of B <= max_batch images inp [B, in_c, in_h, in_w].
 * TRAIN selects batch statistics (and updates the running statistics) and
 * dropout (drawing from R, which may be NULL when dropout is 0); eval mode
 * uses running statistics.  Training needs B >= 2 (the final BN1d).
 * Returns the embedding [B, emb_dim] (owned by the model, valid until the
 * next forward), or NULL with the error recorded (no batch planned, B out
 * of range, missing R).  The model keeps the INP pointer for the backward:
 * leave it unchanged until then.
 */
const float *model_forward(struct model *m, const float *inp, int B, int train,
			   struct rng *r);
/* Backward of the last forward, which must have been a training forward
 * (after an eval forward, or a failed one, it does nothing): accumulates
 * parameter gradients from demb [B, emb_dim]; if dinp is not NULL
 * accumulates the input gradient [B, in_c, in_h, in_w] into it.  Gradients
 * of non-trainable tensors (running statistics, the frozen features.weight)
 * are never computed.  Once per training forward: the backward reuses the
 * memory of activations it has finished with, so a second call without a
 * new forward gives garbage.  The embedding returned by the forward stays
 * valid through it. */
void model_backward(struct model *m, const float *demb, float *dinp);
/*
 * Folds batch norm into the layer before it for eval forwards: where a
 * batch norm's input is a convolution's (or linear layer's) output that
 * nothing else reads, the eval forward uses W'[o] = W[o] s[o] and adds
 * t'[o] in the norm's place, with s = gamma / sqrt(running_var + eps),
 * t = beta - running_mean s (t' = bias s + t for a linear layer); the
 * convolution adds t' and applies the PReLU that follows as it writes its
 * outputs.  The folded weights are a copy (about the parameters' size,
 * kept until model_free()), computed once here, and so are the Winograd
 * convolutions' weights transformed for their tiles (16 or 36 floats for
 * every 9; ir18: 63 MB); eval forwards use them until a training forward,
 * model_init() or
 * model_load_tensors(), after which eval is unfolded again until the next
 * call.  Call it again after changing parameters through model_params()
 * or model_buffers().  Training never uses them.  Outputs equal the
 * unfolded eval forward's up to float rounding (t-model checks 1e-5
 * relative on ir18).
 * IN_PLACE nonzero writes W' over the weights instead (no copy: for
 * inference-only users such as hm-embed): the model's tensors then hold
 * the folded weights (model_tensor(), model_save() show them), training
 * forwards fail with an error, and further calls do nothing, until
 * model_init() or model_load_tensors() replaces the weights.
 * 0, or -1 with the error recorded (out of memory).
 */
int model_fold_bn(struct model *m, int in_place);

/* Zeroes every gradient (one memset). */
void model_zero_grad(struct model *m);

/* Named tensors: parameters, then buffers, in a fixed order, then those of
 * model_add_param(). */
int model_n_tensors(const struct model *m);
const struct model_tensor *model_tensor(const struct model *m, int i);
/* The whole parameter / gradient / buffer storage, for one-loop updates:
 * the trainable tensors in model_tensor() order, back to back (their
 * model_tensor data/grad point inside); buffers likewise. */
float *model_params(struct model *m, size_t *n);
float *model_grads(struct model *m, size_t *n);
float *model_buffers(struct model *m, size_t *n);
/*
 * Appends a trainable tensor NAME of NDIM (1 to 4) dimensions SHAPE to the
 * parameter storage, for a caller that trains more than the backbone (the
 * classifier head): it comes last in model_tensor() order and in
 * model_params()/model_grads(), so one loop or call covers the backbone
 * and it.  Its values and gradient start at 0 (model_init() sets them to
 * 0 too); DECAY as in struct model_tensor.  NAME must hold a '/' (e.g.
 * "head/weight"): model files hold it after the backbone's tensors, and
 * model_from_file() leaves it to the caller.  The storage may move: take
 * model_params(), model_grads() and model_tensor() pointers again after.
 * Its index, or -1 with the error recorded (out of memory).
 */
int model_add_param(struct model *m, const char *name, int ndim, const int *shape, int decay);
/* Multiply-accumulates per image of one forward pass (for reports). */
double model_macs(const struct model *m);

/*
 * Data-parallel training (hm-train over MPI, common/dist.h).
 *
 * Synchronised batch norm: with S set, every batch-norm layer of a
 * TRAINING forward calls S->forward instead of nn.h's batchnorm_forward(),
 * and every backward calls S->backward instead of batchnorm_backward(),
 * with the same arguments (after CTX) and the same contracts, except that
 * the batch statistics (mean, variance; in the backward sum(dout) and
 * sum(dout xhat)) are those of the union of every replica's batch.
 * Evaluation forwards are unchanged.  NULL restores the local functions
 * (the default).  S is borrowed: it must stay valid while set.
 */
struct model_bn_sync {
	void (*forward)(void *ctx, float *out, float *mean, float *invstd,
			float *running_mean, float *running_var, const float *inp,
			const float *gamma, const float *beta, int N, int C, int HW,
			float eps, float momentum);
	void (*backward)(void *ctx, float *dinp, float *dgamma, float *dbeta,
			 const float *dout, const float *inp, const float *gamma,
			 const float *mean, const float *invstd, int N, int C, int HW);
	void *ctx;
};
void model_set_bn_sync(struct model *m, const struct model_bn_sync *s);
/* rng_uniform() draws that a training forward makes per image (dropout
 * masks, image after image in batch order); 0 when dropout is 0.  A
 * replica holding images k.. of a larger batch skips k times this many
 * draws to draw the masks one process would. */
size_t model_dropout_draws(const struct model *m);

/*
 * Model files (hm-model(5)).  model_file_entries() appends the model's
 * metadata (arch, in_c, in_h, in_w, emb_dim) and every tensor by name to the
 * growing arrays (*kv, *n_kv) and (*t, *n_t) (realloc'd; each kv key and value is
 * malloc'd and freed by the caller, tensor data is borrowed from the model),
 * so a caller can add its own entries (head, momentum, training state)
 * before modelfile_write().  model_save() is the plain case.  0 or -1.
 */
int model_file_entries(const struct model *m, struct mf_kv **kv, int *n_kv,
		       struct mf_tensor **t, int *n_t);
int model_save(const struct model *m, const char *path);
/* Builds the model a file describes and loads its tensors.  NULL on error. */
struct model *model_load(const char *path);
/* As model_load(), from an already-read file (checkpoints); NAME is the
 * file name for messages.  Verifies the metadata (arch, in_c, in_h, in_w,
 * emb_dim) and every tensor's shape; a missing tensor, or an extra one
 * whose name has no '/', is an error naming it.  Tensors with a '/' in the
 * name (head/weight, momentum/...) belong to the caller and are ignored. */
struct model *model_from_file(const struct modelfile *mf, const char *name);
/* Loads the tensors of MF into an existing model M with the same checks
 * (metadata present in MF must match M).  On error M is unchanged. */
int model_load_tensors(struct model *m, const struct modelfile *mf, const char *name);

#endif
