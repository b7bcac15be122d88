/*
 * modelint: the types behind struct model, shared by model.c (the graph),
 * modelplan.c (its memory), modelrun.c (forward, backward, folding) and
 * modelio.c (files).  Internal to the model module: callers use model.h.
 */
#ifndef HM_MODELINT_H
#define HM_MODELINT_H

#include "model.h"

#include <stddef.h>
#include <stdint.h>

#define BN_EPS 1e-5f		/* both references: nn.BatchNorm*d(eps=1e-05) */
#define BN_MOMENTUM 0.1f	/* PyTorch's default */
#define PRELU_INIT 0.25f	/* nn.PReLU's default */
#define IR_CONV_STD 0.1	/* iresnet.py: nn.init.normal_(m.weight, 0, 0.1) */
#define SE_REDUCTION 16	/* arcface-pytorch SEBlock(reduction=16) */

#define MAX_STAGES 6
#define MAX_DEPTH 64
#define MAX_WIDTH 4096
#define MAX_SIDE 4096
#define MAX_IN_C 64
#define MAX_EMB 65536
#define MAX_FLOATS ((size_t)1 << 30)	/* parameters, or one activation per image */
#define ALIGN_FLOATS 16			/* 64-byte alignment in the arena */
#define NONE ((size_t)-1)

enum family { FAM_IR, FAM_FACE };

struct arch {
	int family, n_stages, se;
	int depth[MAX_STAGES], width[MAX_STAGES];
	int in_c, in_h, in_w, emb_dim;	/* defaults */
	float dropout;			/* default */
};

enum kind { L_CONV, L_BN, L_PRELU, L_MAXPOOL, L_DROPOUT, L_LINEAR, L_ADD, L_GAP,
	    L_SIGMOID, L_SCALE };

struct value {
	int c, h, w;
	size_t n;		/* c*h*w: floats per image */
	int root;		/* value whose buffers this one shares */
	int recomp;		/* training: the layer that recomputes it for the
				 * backward instead of keeping it, or -1 */
	int eroot;		/* root in eval mode (in-place layers) */
	float *data, *grad;	/* bound for the current pass */
};

/* out = f(in[, in2]); parameters by tensor index (-1: none). */
struct layer {
	enum kind kind;
	int in, in2, out;
	int w, b, rm, rv;
	int k, stride, pad;	/* conv, max-pool */
	int scalar;		/* PReLU: one slope for every channel */
	int act;		/* batch norm: the fused PReLU's slope tensor, or -1 */
	size_t stat;		/* batch norm: mean, invstd [2c] in m->bnstat */
	size_t fw, fb;		/* model_fold_bn(): folded weight (conv, linear)
				 * and folded shift (batch norm; a conv adds its
				 * norm's as its bias) in m->fold, or NONE */
	int folded;		/* conv, linear: a batch norm is folded into it;
				 * batch norm: its conv adds the shift */
	int fact, fscalar;	/* conv, folded: the slopes (tensor, -1 none;
				 * one slope) of the PReLU it applies for the
				 * batch norm after it */
	int act_fused;		/* batch norm, folded: its conv applies the
				 * PReLU (nothing left to do in place) */
	size_t fu;		/* conv, folded: its Winograd-transformed
				 * weights in m->wino, or NONE */
	int fm;			/* the m of their tile F(m x m, 3x3) */
	int bn_next;		/* add: the batch norm that reads the sum,
				 * which eval forwards apply in the add's pass
				 * (layer), or -1 */
	int by_add;		/* batch norm: applied so (eval) */
	int by_tap;		/* done by an earlier conv's or add's pass
				 * over its output in this eval forward
				 * (tap_plan()): skipped once */
	int dx_set;		/* the first backward to write its input's
				 * gradient (an add: in2's), which it sets (no
				 * zeroing first); first_writers() */
	float p;		/* dropout: p of the last forward (0: identity) */
	int32_t *argmax;	/* max-pool, [max_batch * out n] */
	uint8_t *mask;		/* dropout, [max_batch * n] */
};

enum init { I_ZERO, I_ONE, I_PRELU, I_NORMAL, I_UNIFORM };

struct tinfo {
	size_t off;		/* into params (trainable) or buffers */
	enum init init;
	double scale;		/* standard deviation or uniform bound */
};

struct model {
	struct model_shape shape;
	struct arch arch;
	unsigned flags;		/* MODEL_* of model_new_flags() */
	float dropout;
	int oom, too_big;	/* sticky while building */

	int n_t, cap_t;
	struct model_tensor *t;
	struct tinfo *ti;
	float *params, *grads, *buffers;
	size_t n_params, n_buffers;

	int n_v, cap_v;
	struct value *v;
	int n_l, cap_l;
	struct layer *l;
	int input, output;
	float *bnstat;
	size_t n_bnstat, work_floats;
	double macs;

	/* model_set_batch() */
	int max_batch;
	float *arena, *work;
	size_t arena_floats;
	size_t *off_train, *off_eval, *off_grad;	/* per root value */
	int *zero_step;					/* per root value */
	size_t *off_rc;		/* per root: recomputation buffer, or NONE */
	int *rc_step;		/* per root: the backward step that recomputes it */
	int max_c;		/* widest value, for the per-channel scratch */
	float *chan;		/* [4 max_c]: slopes, scale, shift, dalpha */

	/* model_fold_bn() */
	float *fold;
	size_t n_fold;
	int fold_ok;		/* the folded copy matches the parameters */
	int fold_inplace;	/* the weights themselves are folded */
	float *wino;		/* the convolutions' transformed weights */
	size_t n_wino;

	/* the last forward */
	int B, trained;
	const float *inp;

	/* model_set_bn_sync(): batch norm across replicas, or NULL */
	const struct model_bn_sync *bn_sync;
};

/* model.c: A from an architecture string ("ir18", "face18:se", ...); 0,
 * or -1 with the error recorded. */
int parse_arch(const char *s, struct arch *a);
/* model.c: do A and B build the same layers (family, stages, SE)? */
int same_arch(const struct arch *a, const struct arch *b);
/* modelplan.c: recomputation and in-place marks, after building. */
void plan_graph(struct model *m);
/* modelplan.c: frees what model_set_batch() planned. */
void free_plan(struct model *m);

#endif
