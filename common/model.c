/*
 * model: backbones as arrays of tagged layers over planned buffers.
 *
 * The graph.  A "value" is an activation [B, c, h, w]; a layer reads one
 * or two values and writes one.  Residual adds run in place: the add's
 * output is an alias of its first input (the branch's last batch norm or SE
 * scale, whose output no backward reads), so a block costs no extra buffer
 * for the sum.  Aliased values share one "root" buffer, for data and for
 * gradient.
 *
 * Memory plan (model_set_batch).  Training runs on a timeline of 2L steps
 * (forward of layer i at step i, backward of layer i at step 2L-1-i).  Each
 * root value's data lives from the step that first writes it to the last
 * step that reads it (a later layer's forward, or a backward that needs the
 * data: conv, batch norm, PReLU, linear, SE scale read their input, the
 * sigmoid its output); each root's gradient lives from the first backward
 * that accumulates into it to the backward of the layer that produced it.
 * Buffers whose lifetimes do not overlap share memory: a greedy first-fit
 * by decreasing size places them all in one arena, so gradients reuse the
 * memory of activations that backward has finished with (free as you go).
 * Eval mode has its own, smaller plan (forward lifetimes only) in the same
 * arena.  A gradient buffer is zeroed at the start of its lifetime, because
 * every backward accumulates (nn.h).
 *
 * Recomputation (plan_graph).  A PReLU right after a batch norm is fused
 * into it (one layer, one sweep each way; its backward reads only the
 * norm's input).  The outputs of batch norms and PReLUs are not kept for
 * the backward: their data lives only through the forward's reads, and a
 * backward that needs one (a convolution's dweight reads its input) first
 * writes it again from its source and the saved statistics into a
 * recomputation buffer, which lives from that step to the last backward
 * read and is placed in the arena like the rest.  What the backward keeps
 * is the convolution and linear outputs and the block outputs: for ir18,
 * 4.6 M floats per image instead of 11.  The recomputed bytes equal the
 * forward's (the same nn.c kernel).  Each block's shortcut is scheduled
 * before its main branch, so the block input's gradient is born late.
 * Eval mode runs batch norm, PReLU, dropout, sigmoid and SE scale in place
 * when they are their input's last reader ("eroot" aliases), and with
 * model_fold_bn() the batch norms after convolutions and linear layers
 * become a shift (+ PReLU) pass.
 *
 * Sources: insightface recognition/arcface_torch/backbones/iresnet.py
 * (IBasicBlock, IResNet) and arcface-pytorch models/resnet.py (IRBlock,
 * SEBlock, ResNetFace, resnet_face18); tensor names are their state_dict
 * names (without num_batches_tracked).
 */
#include "model.h"
#include "err.h"
#include "modelfile.h"
#include "nn.h"
#include "rng.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
				 * and folded shift (batch norm) in m->fold, or NONE */
	int folded;		/* conv, linear: a batch norm is folded into it */
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

	/* the last forward */
	int B, trained;
	const float *inp;

	/* model_set_bn_sync(): batch norm across replicas, or NULL */
	const struct model_bn_sync *bn_sync;
};

/* ------------------------------------------------------------------ */
/* Architecture strings */

static int parse_list(const char **p, int *out, int lo, int hi)
{
	int n = 0;
	for (;;) {
		const char *s = *p;
		long v = 0;
		if (*s < '0' || *s > '9')
			return -1;
		while (*s >= '0' && *s <= '9' && v <= hi)
			v = v * 10 + (*s++ - '0');
		if (v < lo || v > hi || n == MAX_STAGES)
			return -1;
		out[n++] = (int)v;
		*p = s;
		if (*s != ',')
			return n;
		(*p)++;
	}
}

static int parse_arch(const char *s, struct arch *a)
{
	memset(a, 0, sizeof *a);
	if (strlen(s) >= sizeof ((struct model_shape *)0)->arch)
		return hm_error("architecture '%.40s...': too long", s);
	static const int d18[4] = { 2, 2, 2, 2 }, w18[4] = { 64, 128, 256, 512 };
	const char *p;
	if (!strcmp(s, "ir18") || !strcmp(s, "face18") || !strcmp(s, "face18:se")) {
		a->family = s[0] == 'i' ? FAM_IR : FAM_FACE;
		a->se = !strcmp(s, "face18:se");
		a->n_stages = 4;
		memcpy(a->depth, d18, sizeof d18);
		memcpy(a->width, w18, sizeof w18);
	} else if (!strncmp(s, "ir:", 3) || !strncmp(s, "face:", 5)) {
		a->family = s[0] == 'i' ? FAM_IR : FAM_FACE;
		p = s + (a->family == FAM_IR ? 3 : 5);
		int nd = parse_list(&p, a->depth, 1, MAX_DEPTH);
		if (nd < 0 || *p != ':')
			return hm_error("architecture '%s': depths must be 1 to %d numbers "
					"from 1 to %d, then ':'", s, MAX_STAGES, MAX_DEPTH);
		p++;
		int nw = parse_list(&p, a->width, 1, MAX_WIDTH);
		if (nw < 0)
			return hm_error("architecture '%s': widths must be 1 to %d numbers "
					"from 1 to %d", s, MAX_STAGES, MAX_WIDTH);
		if (nw != nd)
			return hm_error("architecture '%s': %d depths but %d widths", s, nd, nw);
		a->n_stages = nd;
		if (a->family == FAM_FACE && !strcmp(p, ":se"))
			a->se = 1;
		else if (*p)
			return hm_error("architecture '%s': unexpected '%s'%s", s, p,
					a->family == FAM_FACE ? " (only ':se' may follow)" : "");
	} else {
		return hm_error("architecture '%s': unknown (ir18, face18[:se], "
				"ir:D1,..:W1,.. or face:D1,..:W1,..[:se])", s);
	}
	if (a->se)
		for (int i = 0; i < a->n_stages; i++)
			if (a->width[i] < SE_REDUCTION)
				return hm_error("architecture '%s': SE blocks need widths of at "
						"least %d", s, SE_REDUCTION);
	if (a->family == FAM_IR) {
		a->in_c = 3, a->in_h = a->in_w = 112;
		a->dropout = 0;		/* arcface_torch trains with dropout=0 */
	} else {
		a->in_c = 1, a->in_h = a->in_w = 128;
		a->dropout = 0.5f;	/* ResNetFace: nn.Dropout() */
	}
	a->emb_dim = 512;
	return 0;
}

static int same_arch(const struct arch *a, const struct arch *b)
{
	if (a->family != b->family || a->n_stages != b->n_stages || a->se != b->se)
		return 0;
	for (int i = 0; i < a->n_stages; i++)
		if (a->depth[i] != b->depth[i] || a->width[i] != b->width[i])
			return 0;
	return 1;
}

/* ------------------------------------------------------------------ */
/* Building */

static void *grow(struct model *m, void *p, int *cap, int need, size_t size)
{
	if (need <= *cap)
		return p;
	int c = *cap ? *cap * 2 : 64;
	void *q = realloc(p, (size_t)c * size);
	if (!q) {
		m->oom = 1;
		return p;
	}
	*cap = c;
	return q;
}

/* Adds a tensor named PREFIX.SUFFIX; returns its index (0 after OOM). */
static int add_tensor(struct model *m, const char *prefix, const char *suffix, int trainable,
		      int decay, enum init init, double scale, int ndim, int d0, int d1,
		      int d2, int d3)
{
	if (m->oom)
		return 0;
	if (m->n_t == m->cap_t) {
		int cap = m->cap_t ? 2 * m->cap_t : 64;
		struct model_tensor *t = realloc(m->t, (size_t)cap * sizeof *t);
		if (t)
			m->t = t;
		struct tinfo *ti = realloc(m->ti, (size_t)cap * sizeof *ti);
		if (ti)
			m->ti = ti;
		if (!t || !ti) {
			m->oom = 1;
			return 0;
		}
		m->cap_t = cap;
	}
	char name[MF_MAX_NAME + 1];
	snprintf(name, sizeof name, "%s%s%s", prefix, *prefix ? "." : "", suffix);
	struct model_tensor *x = &m->t[m->n_t];
	memset(x, 0, sizeof *x);
	x->name = strdup(name);
	if (!x->name) {
		m->oom = 1;
		return 0;
	}
	int dims[4] = { d0, d1, d2, d3 };
	x->ndim = ndim;
	x->count = 1;
	for (int i = 0; i < ndim; i++) {
		x->shape[i] = dims[i];
		x->count *= (size_t)dims[i];
	}
	x->trainable = trainable;
	x->decay = decay;
	m->ti[m->n_t] = (struct tinfo){ 0, init, scale };
	return m->n_t++;
}

static int new_value(struct model *m, int c, int h, int w)
{
	m->v = grow(m, m->v, &m->cap_v, m->n_v + 1, sizeof *m->v);
	if (m->oom)
		return 0;
	size_t n = (size_t)c * h * w;
	if (n > MAX_FLOATS)
		m->too_big = 1;
	m->v[m->n_v] = (struct value){ c, h, w, n, m->n_v, -1, m->n_v, NULL, NULL };
	return m->n_v++;
}

static struct layer *new_layer(struct model *m, enum kind kind, int in, int in2, int out)
{
	static struct layer dummy;
	m->l = grow(m, m->l, &m->cap_l, m->n_l + 1, sizeof *m->l);
	if (m->oom)
		return &dummy;
	struct layer *l = &m->l[m->n_l++];
	*l = (struct layer){ .kind = kind, .in = in, .in2 = in2, .out = out,
			     .w = -1, .b = -1, .rm = -1, .rv = -1, .act = -1,
			     .fw = NONE, .fb = NONE };
	return l;
}

/* Convolution without bias, weight PREFIX.weight [oc, c, k, k]. */
static int conv(struct model *m, const char *prefix, int in, int oc, int k, int stride,
		int pad)
{
	struct value vi = m->oom ? (struct value){ .c = 1, .h = 1, .w = 1, .n = 1 } : m->v[in];
	int oh = nn_out_size(vi.h, k, stride, pad), ow = nn_out_size(vi.w, k, stride, pad);
	double fan_in = (double)vi.c * k * k, fan_out = (double)oc * k * k;
	int w = m->arch.family == FAM_IR
		? add_tensor(m, prefix, "weight", 1, 1, I_NORMAL, IR_CONV_STD, 4, oc, vi.c, k, k)
		: add_tensor(m, prefix, "weight", 1, 1, I_NORMAL,
			     sqrt(2.0 / (fan_in + fan_out)), 4, oc, vi.c, k, k);
	int out = new_value(m, oc, oh, ow);
	struct layer *l = new_layer(m, L_CONV, in, -1, out);
	l->w = w, l->k = k, l->stride = stride, l->pad = pad;
	struct conv2d_dims d = { 1, vi.c, vi.h, vi.w, oc, k, stride, pad };
	size_t ws = conv2d_workspace(&d);
	if (ws > m->work_floats)
		m->work_floats = ws;
	m->macs += (double)oc * vi.c * k * k * oh * ow;
	return out;
}

/* Batch norm over channels (2d) or features (1d: h = w = 1).  FROZEN_GAMMA
 * keeps the weight at its initial 1 as a buffer (iresnet.py's features). */
static int bnorm(struct model *m, const char *prefix, int in, int frozen_gamma)
{
	int c = m->oom ? 1 : m->v[in].c;
	int w = add_tensor(m, prefix, "weight", !frozen_gamma, 0, I_ONE, 0, 1, c, 0, 0, 0);
	int b = add_tensor(m, prefix, "bias", 1, 0, I_ZERO, 0, 1, c, 0, 0, 0);
	int rm = add_tensor(m, prefix, "running_mean", 0, 0, I_ZERO, 0, 1, c, 0, 0, 0);
	int rv = add_tensor(m, prefix, "running_var", 0, 0, I_ONE, 0, 1, c, 0, 0, 0);
	int out = m->oom ? 0 : new_value(m, c, m->v[in].h, m->v[in].w);
	struct layer *l = new_layer(m, L_BN, in, -1, out);
	l->w = w, l->b = b, l->rm = rm, l->rv = rv;
	l->stat = m->n_bnstat;
	m->n_bnstat += 2 * (size_t)c;
	return out;
}

static int prelu_tensor(struct model *m, const char *prefix, int n)
{
	return add_tensor(m, prefix, "weight", 1, 0, I_PRELU, 0, 1, n, 0, 0, 0);
}

static int prelu(struct model *m, int t, int in)
{
	int out = m->oom ? 0 : new_value(m, m->v[in].c, m->v[in].h, m->v[in].w);
	struct layer *l = new_layer(m, L_PRELU, in, -1, out);
	l->w = t;
	l->scalar = m->oom ? 0 : m->t[t].count == 1;
	return out;
}

static int linear(struct model *m, const char *prefix, int in, int n_out)
{
	size_t n_in = m->oom ? 1 : m->v[in].n;
	int w, b;
	if (m->arch.family == FAM_IR) {
		/* nn.Linear's own reset_parameters(): kaiming_uniform_(a=sqrt(5))
		 * gives U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weight and bias. */
		double bound = 1 / sqrt((double)n_in);
		w = add_tensor(m, prefix, "weight", 1, 1, I_UNIFORM, bound, 2, n_out, (int)n_in, 0, 0);
		b = add_tensor(m, prefix, "bias", 1, 0, I_UNIFORM, bound, 1, n_out, 0, 0, 0);
	} else {
		/* ResNetFace: xavier_normal_ weight, zero bias. */
		w = add_tensor(m, prefix, "weight", 1, 1, I_NORMAL,
			       sqrt(2.0 / ((double)n_in + n_out)), 2, n_out, (int)n_in, 0, 0);
		b = add_tensor(m, prefix, "bias", 1, 0, I_ZERO, 0, 1, n_out, 0, 0, 0);
	}
	int out = new_value(m, n_out, 1, 1);
	struct layer *l = new_layer(m, L_LINEAR, in, -1, out);
	l->w = w, l->b = b;
	m->macs += (double)n_in * n_out;
	return out;
}

/* A layer whose output has the input's shape (or a given one). */
static int simple(struct model *m, enum kind kind, int in, int in2, int c, int h, int w)
{
	int out = new_value(m, c, h, w);
	new_layer(m, kind, in, in2, out);
	return out;
}

static int same_shape(struct model *m, enum kind kind, int in, int in2)
{
	if (m->oom)
		return 0;
	return simple(m, kind, in, in2, m->v[in].c, m->v[in].h, m->v[in].w);
}

/* In place: the result aliases A (see the file comment). */
static int add_inplace(struct model *m, int a, int b)
{
	int out = same_shape(m, L_ADD, a, b);
	if (!m->oom)
		m->v[out].root = m->v[a].root;
	return out;
}

static int maxpool2(struct model *m, int in)
{
	struct value vi = m->oom ? (struct value){ .c = 1, .h = 2, .w = 2, .n = 4 } : m->v[in];
	int out = simple(m, L_MAXPOOL, in, -1, vi.c, nn_out_size(vi.h, 2, 2, 0),
			 nn_out_size(vi.w, 2, 2, 0));
	struct layer *l = m->oom ? NULL : &m->l[m->n_l - 1];
	if (l)
		l->k = 2, l->stride = 2, l->pad = 0;
	return out;
}

/* Moves layers [MID, END) before [START, MID): the shortcut branch of a
 * block runs before its main branch.  Tensors keep their registration order
 * (names, initialisation streams, file layout); only the schedule changes,
 * so that in the backward the block input's gradient starts only when the
 * main branch reaches it, instead of waiting, at full resolution, through
 * the whole main branch (a lower memory peak; the same results). */
static void run_first(struct model *m, int start, int mid, int end)
{
	if (m->oom || mid == end || start == mid)
		return;
	size_t n = (size_t)(mid - start);
	struct layer *t = malloc(n * sizeof *t);
	if (!t) {
		m->oom = 1;
		return;
	}
	memcpy(t, &m->l[start], n * sizeof *t);
	memmove(&m->l[start], &m->l[mid], (size_t)(end - mid) * sizeof *t);
	memcpy(&m->l[start + (end - mid)], t, n * sizeof *t);
	free(t);
}

static void build_ir(struct model *m)
{
	const struct arch *a = &m->arch;
	char pre[64];
	int x = conv(m, "conv1", m->input, a->width[0], 3, 1, 1);
	x = bnorm(m, "bn1", x, 0);
	x = prelu(m, prelu_tensor(m, "prelu", a->width[0]), x);
	int inplanes = a->width[0];
	for (int s = 0; s < a->n_stages; s++) {
		int planes = a->width[s];
		for (int b = 0; b < a->depth[s]; b++) {
			int stride = b == 0 ? 2 : 1, blk = x, id = x, y;
			char sub[96];
			snprintf(pre, sizeof pre, "layer%d.%d", s + 1, b);
#define P(name) (snprintf(sub, sizeof sub, "%s.%s", pre, name), sub)
			int l0 = m->n_l;
			y = bnorm(m, P("bn1"), blk, 0);
			y = conv(m, P("conv1"), y, planes, 3, 1, 1);
			y = bnorm(m, P("bn2"), y, 0);
			y = prelu(m, prelu_tensor(m, P("prelu"), planes), y);
			y = conv(m, P("conv2"), y, planes, 3, stride, 1);
			y = bnorm(m, P("bn3"), y, 0);
			int l1 = m->n_l;
			if (stride != 1 || inplanes != planes) {
				id = conv(m, P("downsample.0"), blk, planes, 1, stride, 0);
				id = bnorm(m, P("downsample.1"), id, 0);
			}
			run_first(m, l0, l1, m->n_l);
			x = add_inplace(m, y, id);
			inplanes = planes;
		}
	}
	x = bnorm(m, "bn2", x, 0);
	x = same_shape(m, L_DROPOUT, x, -1);
	x = linear(m, "fc", x, m->shape.emb_dim);
	m->output = bnorm(m, "features", x, !(m->flags & MODEL_FEATURES_TRAINABLE));
}

static void build_face(struct model *m)
{
	const struct arch *a = &m->arch;
	char pre[64], sub[96];
	int x = conv(m, "conv1", m->input, a->width[0], 3, 1, 1);
	x = bnorm(m, "bn1", x, 0);
	x = prelu(m, prelu_tensor(m, "prelu", 1), x);
	x = maxpool2(m, x);
	int inplanes = a->width[0];
	for (int s = 0; s < a->n_stages; s++) {
		int planes = a->width[s];
		for (int b = 0; b < a->depth[s]; b++) {
			int stride = b == 0 && s > 0 ? 2 : 1, blk = x, id = x, y;
			snprintf(pre, sizeof pre, "layer%d.%d", s + 1, b);
			int l0 = m->n_l;
			y = bnorm(m, P("bn0"), blk, 0);
			y = conv(m, P("conv1"), y, inplanes, 3, 1, 1);
			y = bnorm(m, P("bn1"), y, 0);
			/* IRBlock has one nn.PReLU() (a single slope), used twice. */
			int act = prelu_tensor(m, P("prelu"), 1);
			y = prelu(m, act, y);
			y = conv(m, P("conv2"), y, planes, 3, stride, 1);
			y = bnorm(m, P("bn2"), y, 0);
			int l1 = m->n_l;
			if (stride != 1 || inplanes != planes) {
				id = conv(m, P("downsample.0"), blk, planes, 1, stride, 0);
				id = bnorm(m, P("downsample.1"), id, 0);
			}
			run_first(m, l0, l1, m->n_l);
			if (a->se) {
				/* SEBlock: x * sigmoid(fc.2(prelu(fc.0(avgpool(x))))) */
				int g = simple(m, L_GAP, y, -1, planes, 1, 1);
				g = linear(m, P("se.fc.0"), g, planes / SE_REDUCTION);
				g = prelu(m, prelu_tensor(m, P("se.fc.1"), 1), g);
				g = linear(m, P("se.fc.2"), g, planes);
				g = same_shape(m, L_SIGMOID, g, -1);
				y = same_shape(m, L_SCALE, y, g);
			}
			x = add_inplace(m, y, id);
			x = prelu(m, act, x);
			inplanes = planes;
		}
	}
#undef P
	x = bnorm(m, "bn4", x, 0);
	x = same_shape(m, L_DROPOUT, x, -1);
	x = linear(m, "fc5", x, m->shape.emb_dim);
	m->output = bnorm(m, "bn5", x, 0);
}

/*
 * After building: fuse each PReLU into the batch norm before it (when the
 * norm's output feeds nothing else), then mark what the backward recomputes
 * instead of keeping, and what eval mode computes in place.
 *   Recomputed: the output of a batch norm (with or without its PReLU) or a
 *   PReLU, which is cheap to compute again from its input and the saved
 *   statistics, unless another value aliases it (a residual add writes into
 *   it) or it is the embedding.  The backward needs only the inputs of
 *   those layers (the convolution outputs), not their outputs.
 *   In place in eval mode: batch norm, PReLU, dropout (the identity),
 *   sigmoid and SE scale write over their input when they are its last
 *   reader and it is not the caller's input.
 */
static void plan_graph(struct model *m)
{
	int nv = m->n_v, L = m->n_l;
	int *prod = malloc(sizeof(int) * 3 * (size_t)(nv ? nv : 1));
	if (!prod) {
		m->oom = 1;
		return;
	}
	int *readers = prod + nv, *last = prod + 2 * nv;
	for (int i = 0; i < nv; i++)
		prod[i] = -1, readers[i] = 0;
	for (int i = 0; i < L; i++) {
		prod[m->l[i].out] = i;
		readers[m->l[i].in]++;
		if (m->l[i].in2 >= 0)
			readers[m->l[i].in2]++;
	}
	/* aliased: a value whose buffer another value shares */
	for (int i = 0; i < nv; i++)
		if (m->v[i].root != i)
			readers[m->v[i].root] += 1 << 20;
	int k = 0;
	for (int i = 0; i < L; i++) {
		struct layer *l = &m->l[i];
		int p = prod[l->in];
		if (l->kind == L_PRELU && p >= 0 && m->l[p].kind == L_BN && m->l[p].act < 0 &&
		    readers[l->in] == 1) {
			m->l[p].act = l->w;
			m->l[p].scalar = l->scalar;
			m->l[p].out = l->out;
			prod[l->out] = p;
			continue;	/* dropped; p is before i, so already kept */
		}
		m->l[k++] = *l;
		prod[l->out] = k - 1;
	}
	m->n_l = L = k;
	for (int i = 0; i < nv; i++)
		last[i] = -1;
	for (int i = 0; i < L; i++) {
		struct layer *l = &m->l[i];
		last[l->in] = i;
		if (l->in2 >= 0)
			last[l->in2] = i;
		struct value *o = &m->v[l->out];
		if ((l->kind == L_BN || l->kind == L_PRELU) && l->out != m->output &&
		    o->root == l->out && readers[l->out] < 1 << 20)
			o->recomp = i;
		if (m->v[l->in].c > m->max_c)
			m->max_c = m->v[l->in].c;
		if (o->c > m->max_c)
			m->max_c = o->c;
	}
	for (int i = 0; i < L; i++) {
		struct layer *l = &m->l[i];
		struct value *o = &m->v[l->out];
		int ip = l->kind == L_BN || l->kind == L_PRELU || l->kind == L_DROPOUT ||
			 l->kind == L_SIGMOID || (l->kind == L_SCALE && l->in2 != l->in);
		int er = m->v[l->in].eroot;
		if (l->kind == L_ADD || (ip && last[l->in] == i && er != m->input))
			o->eroot = er;
	}
	free(prod);
}

/* Parameters first, then buffers, each in registration order; one
 * allocation per kind.  Remaps the layers' tensor indices. */
static int finish_tensors(struct model *m)
{
	int n = m->n_t, *to = malloc((size_t)(n ? n : 1) * sizeof *to);
	struct model_tensor *t = malloc((size_t)(n ? n : 1) * sizeof *t);
	struct tinfo *ti = malloc((size_t)(n ? n : 1) * sizeof *ti);
	if (!to || !t || !ti) {
		free(to), free(t), free(ti);
		return -1;
	}
	int k = 0;
	m->n_params = m->n_buffers = 0;
	for (int pass = 1; pass >= 0; pass--)
		for (int i = 0; i < n; i++)
			if (m->t[i].trainable == pass) {
				to[i] = k;
				t[k] = m->t[i];
				ti[k] = m->ti[i];
				size_t *count = pass ? &m->n_params : &m->n_buffers;
				ti[k].off = *count;
				*count += t[k].count;
				k++;
			}
	free(m->t);
	free(m->ti);
	m->t = t, m->ti = ti, m->cap_t = n;
	for (int i = 0; i < m->n_l; i++) {
		struct layer *l = &m->l[i];
		int *idx[5] = { &l->w, &l->b, &l->rm, &l->rv, &l->act };
		for (int j = 0; j < 5; j++)
			if (*idx[j] >= 0)
				*idx[j] = to[*idx[j]];
	}
	free(to);
	if (m->n_params > MAX_FLOATS || m->n_buffers > MAX_FLOATS)
		return 1;
	m->params = calloc(m->n_params ? m->n_params : 1, sizeof(float));
	m->grads = calloc(m->n_params ? m->n_params : 1, sizeof(float));
	m->buffers = calloc(m->n_buffers ? m->n_buffers : 1, sizeof(float));
	m->bnstat = calloc(m->n_bnstat ? m->n_bnstat : 1, sizeof(float));
	m->chan = calloc(4 * (size_t)(m->max_c ? m->max_c : 1), sizeof(float));
	if (!m->params || !m->grads || !m->buffers || !m->bnstat || !m->chan)
		return -1;
	for (int i = 0; i < n; i++) {
		struct model_tensor *x = &m->t[i];
		x->data = (x->trainable ? m->params : m->buffers) + m->ti[i].off;
		x->grad = x->trainable ? m->grads + m->ti[i].off : NULL;
	}
	return 0;
}

int model_arch_check(const char *arch)
{
	struct arch a;
	return parse_arch(arch ? arch : "", &a) ? -1 : 0;
}

struct model *model_new(const char *arch, int in_c, int in_h, int in_w, int emb_dim)
{
	return model_new_flags(arch, in_c, in_h, in_w, emb_dim, 0);
}

struct model *model_new_flags(const char *arch, int in_c, int in_h, int in_w, int emb_dim,
			      unsigned flags)
{
	struct arch a;
	if (!arch)
		arch = "";
	if (parse_arch(arch, &a))
		return NULL;
	in_c = in_c ? in_c : a.in_c;
	in_h = in_h ? in_h : a.in_h;
	in_w = in_w ? in_w : a.in_w;
	emb_dim = emb_dim ? emb_dim : a.emb_dim;
	int min_side = a.family == FAM_FACE ? 2 : 1;
	if (in_c < 1 || in_c > MAX_IN_C)
		return hm_error("architecture '%s': %d input channels (1 to %d)", arch, in_c,
				MAX_IN_C), NULL;
	if (in_h < min_side || in_h > MAX_SIDE || in_w < min_side || in_w > MAX_SIDE)
		return hm_error("architecture '%s': input %dx%d (sides %d to %d)", arch, in_h,
				in_w, min_side, MAX_SIDE), NULL;
	if (emb_dim < 1 || emb_dim > MAX_EMB)
		return hm_error("architecture '%s': embedding size %d (1 to %d)", arch, emb_dim,
				MAX_EMB), NULL;

	struct model *m = calloc(1, sizeof *m);
	if (!m)
		return hm_error("out of memory"), NULL;
	snprintf(m->shape.arch, sizeof m->shape.arch, "%s", arch);
	m->shape.in_c = in_c, m->shape.in_h = in_h, m->shape.in_w = in_w;
	m->shape.emb_dim = emb_dim;
	m->arch = a;
	m->flags = a.family == FAM_IR ? flags & MODEL_FEATURES_TRAINABLE : 0;
	m->dropout = a.dropout;
	m->input = new_value(m, in_c, in_h, in_w);
	if (a.family == FAM_IR)
		build_ir(m);
	else
		build_face(m);
	if (!m->oom)
		plan_graph(m);
	int rc = m->oom ? -1 : m->too_big ? 1 : finish_tensors(m);
	if (rc) {
		if (rc > 0)
			hm_error("architecture '%s' at %dx%dx%d: too large", arch, in_c, in_h, in_w);
		else
			hm_error("out of memory");
		model_free(m);
		return NULL;
	}
	return m;
}

static void free_plan(struct model *m)
{
	free(m->arena);
	free(m->work);
	free(m->off_train);
	free(m->off_eval);
	free(m->off_grad);
	free(m->zero_step);
	free(m->off_rc);
	free(m->rc_step);
	for (int i = 0; i < m->n_l; i++) {
		free(m->l[i].argmax);
		free(m->l[i].mask);
		m->l[i].argmax = NULL;
		m->l[i].mask = NULL;
	}
	m->arena = m->work = NULL;
	m->arena_floats = 0;
	m->off_train = m->off_eval = m->off_grad = NULL;
	m->zero_step = NULL;
	m->off_rc = NULL;
	m->rc_step = NULL;
	m->max_batch = 0;
	m->trained = 0;
}

void model_free(struct model *m)
{
	if (!m)
		return;
	free_plan(m);
	for (int i = 0; i < m->n_t; i++)
		free((char *)m->t[i].name);
	free(m->t);
	free(m->ti);
	free(m->params);
	free(m->grads);
	free(m->buffers);
	free(m->bnstat);
	free(m->chan);
	free(m->fold);
	free(m->v);
	free(m->l);
	free(m);
}

const struct model_shape *model_get_shape(const struct model *m)
{
	return &m->shape;
}

int model_set_dropout(struct model *m, float p)
{
	if (!(p >= 0 && p < 1))
		return hm_error("dropout %g: must be at least 0 and below 1", (double)p);
	m->dropout = p;
	return 0;
}

float model_get_dropout(const struct model *m)
{
	return m->dropout;
}

void model_set_bn_sync(struct model *m, const struct model_bn_sync *s)
{
	m->bn_sync = s;
}

size_t model_dropout_draws(const struct model *m)
{
	size_t n = 0;
	if (m->dropout > 0)
		for (int i = 0; i < m->n_l; i++)
			if (m->l[i].kind == L_DROPOUT)
				n += m->v[m->l[i].in].n;
	return n;
}

/* ------------------------------------------------------------------ */
/* Initialisation */

void model_init(struct model *m, uint64_t seed)
{
	m->fold_ok = m->fold_inplace = 0;
	for (int i = 0; i < m->n_t; i++) {
		struct model_tensor *x = &m->t[i];
		struct rng r;
		/* One stream per tensor: a tensor's values depend only on the seed
		 * and its index, not on the other tensors' sizes. */
		rng_seed2(&r, seed, (uint64_t)i);
		for (size_t j = 0; j < x->count; j++) {
			double v = 0;
			switch (m->ti[i].init) {
			case I_ZERO: v = 0; break;
			case I_ONE: v = 1; break;
			case I_PRELU: v = PRELU_INIT; break;
			case I_NORMAL: v = m->ti[i].scale * rng_normal(&r); break;
			case I_UNIFORM:
				v = rng_range(&r, -m->ti[i].scale, m->ti[i].scale);
				break;
			}
			x->data[j] = (float)v;
		}
	}
}

/* ------------------------------------------------------------------ */
/* Memory plan */

struct item {
	int start, end;		/* inclusive steps */
	size_t size, *off;
};

static int cmp_item(const void *pa, const void *pb)
{
	const struct item *a = pa, *b = pb;
	if (a->size != b->size)
		return a->size > b->size ? -1 : 1;
	return a->start - b->start;
}

static int cmp_off(const void *pa, const void *pb)
{
	const struct item *a = *(const struct item *const *)pa;
	const struct item *b = *(const struct item *const *)pb;
	return *a->off < *b->off ? -1 : *a->off > *b->off;
}

/* Greedy first fit by decreasing size; returns the arena size in floats. */
static size_t place(struct item *it, int n, struct item **scratch)
{
	size_t total = 0;
	qsort(it, (size_t)n, sizeof *it, cmp_item);
	for (int i = 0; i < n; i++) {
		int k = 0;
		for (int j = 0; j < i; j++)
			if (it[j].start <= it[i].end && it[i].start <= it[j].end)
				scratch[k++] = &it[j];
		qsort(scratch, (size_t)k, sizeof *scratch, cmp_off);
		size_t off = 0;
		for (int j = 0; j < k; j++) {
			if (off + it[i].size <= *scratch[j]->off)
				break;
			size_t e = *scratch[j]->off + scratch[j]->size;
			if (e > off)
				off = e;
		}
		*it[i].off = off;
		if (off + it[i].size > total)
			total = off + it[i].size;
	}
	return total;
}

/* Does the backward of L read the data of value V (a direct operand)? */
static int backward_reads(const struct layer *l, int which)
{
	switch (l->kind) {
	case L_CONV: case L_BN: case L_PRELU: case L_LINEAR:
		return which == 0;
	case L_SCALE:
		return which == 0 || which == 1;
	case L_SIGMOID:
		return which == 2;
	default:
		return 0;
	}
}

static void widen(int *lo, int *hi, int step)
{
	if (step < *lo)
		*lo = step;
	if (step > *hi)
		*hi = step;
}

int model_set_batch(struct model *m, int max_batch)
{
	if (max_batch < 1 || max_batch > (1 << 20))
		return hm_error("batch size %d: must be 1 to %d", max_batch, 1 << 20);
	free_plan(m);
	int nv = m->n_v, L = m->n_l;
	size_t B = (size_t)max_batch;
	int *d_lo = malloc(sizeof(int) * 9 * (size_t)nv);
	struct item *items = malloc(sizeof *items * 3 * (size_t)nv);
	struct item **scratch = malloc(sizeof *scratch * 3 * (size_t)nv);
	m->off_train = malloc(sizeof(size_t) * (size_t)nv);
	m->off_eval = malloc(sizeof(size_t) * (size_t)nv);
	m->off_grad = malloc(sizeof(size_t) * (size_t)nv);
	m->off_rc = malloc(sizeof(size_t) * (size_t)nv);
	m->zero_step = malloc(sizeof(int) * (size_t)nv);
	m->rc_step = malloc(sizeof(int) * (size_t)nv);
	if (!d_lo || !items || !scratch || !m->off_train || !m->off_eval || !m->off_grad ||
	    !m->off_rc || !m->zero_step || !m->rc_step)
		goto oom;
	/* Lifetimes per root: training data, gradient, recomputation; per eval
	 * root: eval data. */
	int *d_hi = d_lo + nv, *g_lo = d_lo + 2 * nv, *g_hi = d_lo + 3 * nv;
	int *r_lo = d_lo + 4 * nv, *r_hi = d_lo + 5 * nv, *e_lo = d_lo + 6 * nv;
	int *e_hi = d_lo + 7 * nv, *used = d_lo + 8 * nv;
	for (int i = 0; i < nv; i++) {
		d_lo[i] = g_lo[i] = r_lo[i] = e_lo[i] = 1 << 30;
		d_hi[i] = g_hi[i] = r_hi[i] = e_hi[i] = -1;
		used[i] = 0;
		m->off_train[i] = m->off_eval[i] = m->off_grad[i] = m->off_rc[i] = NONE;
		m->zero_step[i] = m->rc_step[i] = -1;
	}
	for (int i = 0; i < L; i++) {
		const struct layer *l = &m->l[i];
		int ops[3] = { l->in, l->in2, l->out }, bstep = 2 * L - 1 - i;
		for (int j = 0; j < 3; j++) {
			if (ops[j] < 0)
				continue;
			int r = m->v[ops[j]].root, er = m->v[ops[j]].eroot;
			used[r] = 1;
			widen(&d_lo[r], &d_hi[r], i);
			widen(&e_lo[er], &e_hi[er], i);
			/* the backward reads dout, and accumulates dinp except
			 * into its own alias */
			if (j == 2 || !(l->kind == L_ADD && j == 0))
				widen(&g_lo[r], &g_hi[r], bstep);
			if (backward_reads(l, j)) {
				if (m->v[r].recomp >= 0)
					widen(&r_lo[r], &r_hi[r], bstep);
				else
					widen(&d_lo[r], &d_hi[r], bstep);
			}
		}
	}
	/* A recomputation at step r_lo needs its source then: kept, or itself
	 * recomputed (sources have lower indices, so one pass down suffices). */
	for (int r = nv - 1; r >= 0; r--) {
		if (m->v[r].recomp < 0 || r_hi[r] < 0)
			continue;
		int src = m->v[m->l[m->v[r].recomp].in].root;
		if (m->v[src].recomp >= 0)
			widen(&r_lo[src], &r_hi[src], r_lo[r]);
		else
			widen(&d_lo[src], &d_hi[src], r_lo[r]);
	}
	int out = m->v[m->output].root, eout = m->v[m->output].eroot;
	d_hi[out] = 2 * L - 1;		/* the embedding outlives the step */
	e_hi[eout] = L - 1;
	widen(&g_lo[out], &g_hi[out], L);	/* demb is copied in before step L */

	int n = 0;
	for (int r = 0; r < nv; r++) {
		if (!used[r] || m->v[r].root != r || r == m->input)
			continue;
		size_t size = (B * m->v[r].n + ALIGN_FLOATS - 1) / ALIGN_FLOATS * ALIGN_FLOATS;
		items[n++] = (struct item){ d_lo[r], d_hi[r], size, &m->off_train[r] };
		items[n++] = (struct item){ g_lo[r], g_hi[r], size, &m->off_grad[r] };
		m->zero_step[r] = r == out ? -1 : g_lo[r];
		if (r_hi[r] >= 0) {
			items[n++] = (struct item){ r_lo[r], r_hi[r], size, &m->off_rc[r] };
			m->rc_step[r] = r_lo[r];
		}
	}
	size_t train = place(items, n, scratch);
	n = 0;
	for (int r = 0; r < nv; r++) {
		if (!used[r] || m->v[r].eroot != r || r == m->input || e_hi[r] < 0)
			continue;
		size_t size = (B * m->v[r].n + ALIGN_FLOATS - 1) / ALIGN_FLOATS * ALIGN_FLOATS;
		items[n++] = (struct item){ e_lo[r], e_hi[r], size, &m->off_eval[r] };
	}
	size_t eval = place(items, n, scratch);
	free(d_lo), free(items), free(scratch);
	d_lo = NULL, items = NULL, scratch = NULL;

	m->arena_floats = train > eval ? train : eval;
	m->arena = aligned_alloc(64, (m->arena_floats ? m->arena_floats : ALIGN_FLOATS) *
				 sizeof(float));
	m->work = malloc((m->work_floats ? m->work_floats : 1) * sizeof(float));
	if (!m->arena || !m->work)
		goto oom;
	for (int i = 0; i < L; i++) {
		struct layer *l = &m->l[i];
		if (l->kind == L_MAXPOOL && !(l->argmax = malloc(B * m->v[l->out].n * 4)))
			goto oom;
		if (l->kind == L_DROPOUT && !(l->mask = malloc(B * m->v[l->out].n)))
			goto oom;
	}
	m->max_batch = max_batch;
	return 0;
oom:
	free(d_lo), free(items), free(scratch);
	free_plan(m);
	return hm_error("out of memory planning a batch of %d", max_batch);
}

size_t model_batch_bytes(const struct model *m)
{
	size_t n = m->arena_floats + m->work_floats;
	size_t extra = 0;
	for (int i = 0; i < m->n_l && m->max_batch; i++) {
		if (m->l[i].kind == L_MAXPOOL)
			extra += (size_t)m->max_batch * m->v[m->l[i].out].n * 4;
		if (m->l[i].kind == L_DROPOUT)
			extra += (size_t)m->max_batch * m->v[m->l[i].out].n;
	}
	return m->max_batch ? n * sizeof(float) + extra : 0;
}

/* Points every value at its buffers for a pass: PASS 0 eval forward, 1
 * training forward, 2 backward (recomputed values in their recomputation
 * buffers). */
static void bind(struct model *m, int pass, const float *inp, float *dinp)
{
	for (int i = 0; i < m->n_v; i++) {
		struct value *v = &m->v[i];
		int r = pass ? v->root : v->eroot;
		size_t off = pass == 0 ? m->off_eval[r]
			   : pass == 2 && v->recomp >= 0 ? m->off_rc[r] : m->off_train[r];
		v->data = off == NONE ? NULL : m->arena + off;
		v->grad = pass && m->off_grad[r] != NONE ? m->arena + m->off_grad[r] : NULL;
	}
	m->v[m->input].data = (float *)inp;
	m->v[m->input].grad = dinp;
}

/* ------------------------------------------------------------------ */
/* Forward and backward */

/* The PReLU slopes of batch-norm layer L as a [C] vector (a single slope
 * spread over m->chan), or NULL when no PReLU is fused into it. */
static const float *slopes(struct model *m, const struct layer *l, int C)
{
	if (l->act < 0)
		return NULL;
	const float *a = m->t[l->act].data;
	if (!l->scalar)
		return a;
	for (int c = 0; c < C; c++)
		m->chan[c] = a[0];
	return m->chan;
}

/* Eval-mode batch norm of layer L as out = x scale + shift (PyTorch's
 * form): scale = gamma / sqrt(running_var + eps), shift = beta -
 * running_mean scale. */
static void bn_eval_affine(const struct model *m, const struct layer *l, int C, float *scale,
			   float *shift)
{
	const float *g = m->t[l->w].data, *b = m->t[l->b].data;
	const float *rm = m->t[l->rm].data, *rv = m->t[l->rv].data;
	for (int c = 0; c < C; c++) {
		scale[c] = g[c] / (float)sqrt((double)rv[c] + BN_EPS);
		shift[c] = b[c] - rm[c] * scale[c];
	}
}

/* With synchronised batch norm (the replicas' S->backward wants the
 * gradient at the norm's output): turns DY, the gradient at the fused
 * PReLU's output, into the gradient at its input in place, and accumulates
 * the slopes' gradient into DALPHA [C] (may be NULL); the norm's output z
 * is recomputed from its input X as the forward computed it. */
static void act_grad_inplace(float *dy, float *dalpha, const float *x, const float *gamma,
			     const float *beta, const float *alpha, const float *mean,
			     const float *invstd, int N, int C, int HW)
{
	const size_t cs = (size_t)C * HW;
	for (int c = 0; c < C; c++) {
		const float mu = mean[c], scale = (gamma ? gamma[c] : 1.0f) * invstd[c];
		const float shift = beta ? beta[c] : 0.0f, a = alpha[c];
		double s = 0;
		for (int n = 0; n < N; n++) {
			const float *xn = x + n * cs + (size_t)c * HW;
			float *g = dy + n * cs + (size_t)c * HW;
			for (int t = 0; t < HW; t++) {
				const float z = (xn[t] - mu) * scale + shift;
				if (!(z > 0)) {
					s += (double)g[t] * z;
					g[t] *= a;
				}
			}
		}
		if (dalpha)
			dalpha[c] += (float)s;
	}
}

static void forward_layer(struct model *m, struct layer *l, int B, int train, struct rng *r)
{
	struct value *vi = &m->v[l->in], *vo = &m->v[l->out];
	struct value *v2 = l->in2 >= 0 ? &m->v[l->in2] : NULL;
	float *W = l->w >= 0 ? m->t[l->w].data : NULL, *b = l->b >= 0 ? m->t[l->b].data : NULL;
	int hw = vi->h * vi->w;
	size_t n = (size_t)B * vi->n;
	switch (l->kind) {
	case L_CONV: {
		struct conv2d_dims d = { B, vi->c, vi->h, vi->w, vo->c, l->k, l->stride, l->pad };
		/* folded: the batch norm after it adds the shift */
		if (!train && m->fold_ok && l->fw != NONE)
			W = m->fold + l->fw;
		conv2d_forward(vo->data, m->work, vi->data, W, NULL, &d);
		break;
	}
	case L_BN: {
		float *mean = m->bnstat + l->stat, *invstd = mean + vi->c;
		const int C = vi->c;
		const float *alpha = slopes(m, l, C);
		if (train && m->bn_sync) {
			m->bn_sync->forward(m->bn_sync->ctx, vo->data, mean, invstd,
					    m->t[l->rm].data, m->t[l->rv].data, vi->data,
					    W, b, B, C, hw, BN_EPS, BN_MOMENTUM);
			if (alpha)
				channel_affine_prelu(vo->data, vo->data, NULL, NULL, alpha, B, C,
						     hw);
		} else if (train) {
			batchnorm_prelu_forward(vo->data, mean, invstd, m->t[l->rm].data,
						m->t[l->rv].data, vi->data, W, b, alpha, B, C, hw,
						BN_EPS, BN_MOMENTUM);
		} else if (m->fold_ok && l->fb != NONE) {
			channel_affine_prelu(vo->data, vi->data, NULL, m->fold + l->fb, alpha, B,
					     C, hw);
		} else {
			float *scale = m->chan + m->max_c, *shift = scale + m->max_c;
			bn_eval_affine(m, l, C, scale, shift);
			channel_affine_prelu(vo->data, vi->data, scale, shift, alpha, B, C, hw);
		}
		break;
	}
	case L_PRELU:
		if (!train)	/* may be in place */
			channel_affine_prelu(vo->data, vi->data, NULL, NULL, W, B,
					     l->scalar ? 1 : vi->c, l->scalar ? (int)vi->n : hw);
		else if (l->scalar)
			prelu_forward(vo->data, vi->data, W, B, 1, (int)vi->n);
		else
			prelu_forward(vo->data, vi->data, W, B, vi->c, hw);
		break;
	case L_MAXPOOL:
		maxpool_forward(vo->data, l->argmax, vi->data, B, vi->c, vi->h, vi->w, l->k,
				l->stride, l->pad);
		break;
	case L_DROPOUT:
		l->p = train ? m->dropout : 0;
		if (l->p > 0)
			dropout_forward(vo->data, l->mask, r, vi->data, l->p, n);
		else if (vo->data != vi->data)	/* eval runs it in place */
			memcpy(vo->data, vi->data, n * sizeof(float));
		break;
	case L_LINEAR:
		if (!train && m->fold_ok && l->folded)
			linear_forward(vo->data, vi->data, l->fw != NONE ? m->fold + l->fw : W, NULL,
				       B, (int)vi->n, (int)vo->n);
		else
			linear_forward(vo->data, vi->data, W, b, B, (int)vi->n, (int)vo->n);
		break;
	case L_ADD:
		residual_forward(vo->data, vi->data, v2->data, n);
		break;
	case L_GAP:
		/* out[b][c] = mean over the plane (AdaptiveAvgPool2d(1)) */
		for (int i = 0; i < B * vi->c; i++) {
			const float *x = vi->data + (size_t)i * hw;
			double s = 0;
			for (int j = 0; j < hw; j++)
				s += x[j];
			vo->data[i] = (float)(s / hw);
		}
		break;
	case L_SIGMOID:
		for (size_t i = 0; i < n; i++)
			vo->data[i] = (float)(1 / (1 + exp(-(double)vi->data[i])));
		break;
	case L_SCALE:
		/* out[b][c][.] = x[b][c][.] * s[b][c] */
		for (int i = 0; i < B * vi->c; i++) {
			const float *x = vi->data + (size_t)i * hw;
			float s = v2->data[i], *y = vo->data + (size_t)i * hw;
			for (int j = 0; j < hw; j++)
				y[j] = x[j] * s;
		}
		break;
	}
}

static void backward_layer(struct model *m, struct layer *l, int B)
{
	struct value *vi = &m->v[l->in], *vo = &m->v[l->out];
	struct value *v2 = l->in2 >= 0 ? &m->v[l->in2] : NULL;
	struct model_tensor *tw = l->w >= 0 ? &m->t[l->w] : NULL;
	struct model_tensor *tb = l->b >= 0 ? &m->t[l->b] : NULL;
	float *W = tw ? tw->data : NULL, *dW = tw ? tw->grad : NULL;
	float *db = tb ? tb->grad : NULL, *dx = vi->grad;
	const float *dy = vo->grad;
	int hw = vi->h * vi->w;
	size_t n = (size_t)B * vi->n;
	switch (l->kind) {
	case L_CONV: {
		struct conv2d_dims d = { B, vi->c, vi->h, vi->w, vo->c, l->k, l->stride, l->pad };
		conv2d_backward(dx, dW, NULL, m->work, dy, vi->data, W, &d);
		break;
	}
	case L_BN: {
		float *mean = m->bnstat + l->stat, *invstd = mean + vi->c;
		const int C = vi->c;
		const float *alpha = slopes(m, l, C), *beta = tb ? tb->data : NULL;
		float *dalpha = NULL;
		if (alpha) {
			dalpha = l->scalar ? m->chan + 3 * (size_t)m->max_c : m->t[l->act].grad;
			if (l->scalar)
				memset(dalpha, 0, (size_t)C * sizeof *dalpha);
		}
		if (m->bn_sync) {
			if (alpha)
				act_grad_inplace(vo->grad, dalpha, vi->data, W, beta, alpha, mean,
						 invstd, B, C, hw);
			m->bn_sync->backward(m->bn_sync->ctx, dx, dW, db, vo->grad, vi->data, W,
					     mean, invstd, B, C, hw);
		} else {
			batchnorm_prelu_backward(dx, dW, db, dalpha, dy, vi->data, W, beta, alpha,
						 mean, invstd, B, C, hw);
		}
		if (alpha && l->scalar) {	/* one slope: the channels' sum, in order */
			double s = 0;
			for (int c = 0; c < C; c++)
				s += dalpha[c];
			m->t[l->act].grad[0] += (float)s;
		}
		break;
	}
	case L_PRELU:
		if (l->scalar)
			prelu_backward(dx, dW, dy, vi->data, W, B, 1, (int)vi->n);
		else
			prelu_backward(dx, dW, dy, vi->data, W, B, vi->c, hw);
		break;
	case L_MAXPOOL:
		maxpool_backward(dx, dy, l->argmax, B, vi->c, vi->h, vi->w, l->k, l->stride,
				 l->pad);
		break;
	case L_DROPOUT:
		if (l->p > 0)
			dropout_backward(dx, dy, l->mask, l->p, n);
		else
			residual_backward(dx, NULL, dy, n);
		break;
	case L_LINEAR:
		linear_backward(dx, dW, db, dy, vi->data, W, B, (int)vi->n, (int)vo->n);
		break;
	case L_ADD:
		/* out = a + b in place on a: da is dout itself (the same buffer) */
		residual_backward(NULL, v2->grad, dy, n);
		break;
	case L_GAP:
		for (int i = 0; i < B * vi->c; i++) {
			float g = (float)(dy[i] / hw), *d = dx + (size_t)i * hw;
			for (int j = 0; j < hw; j++)
				d[j] += g;
		}
		break;
	case L_SIGMOID:
		/* y = 1/(1+exp(-x)): dx += dy y (1 - y) */
		for (size_t i = 0; i < n; i++) {
			float y = vo->data[i];
			dx[i] += dy[i] * y * (1 - y);
		}
		break;
	case L_SCALE:
		/* y = x s: dx += dy s;  ds[b][c] += sum dy x */
		for (int i = 0; i < B * vi->c; i++) {
			const float *x = vi->data + (size_t)i * hw, *g = dy + (size_t)i * hw;
			float s = v2->data[i], *d = dx + (size_t)i * hw;
			double acc = 0;
			for (int j = 0; j < hw; j++) {
				d[j] += g[j] * s;
				acc += (double)g[j] * x[j];
			}
			v2->grad[i] += (float)acc;
		}
		break;
	}
}

int model_fold_bn(struct model *m, int in_place)
{
	int nv = m->n_v, L = m->n_l;
	if (m->fold_inplace)
		return 0;	/* already, and the weights cannot fold twice */
	int *prod = malloc(sizeof(int) * 2 * (size_t)(nv ? nv : 1));
	if (!prod)
		return hm_error("out of memory");
	int *readers = prod + nv;
	for (int i = 0; i < nv; i++)
		prod[i] = -1, readers[i] = m->v[i].root != i ? 1 << 20 : 0;
	for (int i = 0; i < nv; i++)
		if (m->v[i].root != i)
			readers[m->v[i].root] = 1 << 20;	/* aliased */
	for (int i = 0; i < L; i++) {
		prod[m->l[i].out] = i;
		readers[m->l[i].in]++;
		if (m->l[i].in2 >= 0)
			readers[m->l[i].in2]++;
	}
	/* Which batch norms fold: those whose input is a convolution's or
	 * linear layer's output that nothing else reads. */
	size_t n = 0;
	for (int i = 0; i < L; i++) {
		m->l[i].fw = m->l[i].fb = NONE;
		m->l[i].folded = 0;
	}
	for (int i = 0; i < L; i++) {
		struct layer *b = &m->l[i];
		int p = prod[b->in];
		if (b->kind != L_BN || p < 0 || readers[b->in] != 1 ||
		    (m->l[p].kind != L_CONV && m->l[p].kind != L_LINEAR))
			continue;
		m->l[p].folded = 1;
		if (!in_place) {
			m->l[p].fw = n;
			n += (m->t[m->l[p].w].count + ALIGN_FLOATS - 1) / ALIGN_FLOATS *
			     ALIGN_FLOATS;
		}
		b->fb = n;
		n += (size_t)(m->v[b->in].c + ALIGN_FLOATS - 1) / ALIGN_FLOATS * ALIGN_FLOATS;
	}
	m->fold_ok = 0;
	if (n > m->n_fold) {
		float *f = aligned_alloc(64, n * sizeof(float));
		if (!f) {
			free(prod);
			return hm_error("out of memory folding batch norm (%zu MiB)",
					n * sizeof(float) >> 20);
		}
		free(m->fold);
		m->fold = f;
		m->n_fold = n;
	}
	/* W'[o] = W[o] scale[o]; shift' = shift (+ bias scale for a linear
	 * layer), with scale, shift the eval-mode norm's (bn_eval_affine). */
	float *scale = m->chan + m->max_c, *shift = scale + m->max_c;
	for (int i = 0; i < L; i++) {
		struct layer *b = &m->l[i];
		if (b->fb == NONE)
			continue;
		const struct layer *p = &m->l[prod[b->in]];
		const int C = m->v[b->in].c;
		const struct model_tensor *w = &m->t[p->w];
		const size_t row = w->count / (size_t)C;
		bn_eval_affine(m, b, C, scale, shift);
		float *fw = in_place ? w->data : m->fold + p->fw, *fb = m->fold + b->fb;
		for (int o = 0; o < C; o++) {
			for (size_t k = 0; k < row; k++)
				fw[o * row + k] = w->data[o * row + k] * scale[o];
			fb[o] = p->kind == L_LINEAR ? m->t[p->b].data[o] * scale[o] + shift[o]
						    : shift[o];
		}
	}
	free(prod);
	m->fold_ok = 1;
	m->fold_inplace = in_place;
	return 0;
}

/* Writes value R again, as the training forward did, into its
 * recomputation buffer (bound by bind(m, 2, ...)). */
static void recompute(struct model *m, int r, int B)
{
	struct layer *l = &m->l[m->v[r].recomp];
	struct value *vi = &m->v[l->in], *vo = &m->v[r];
	const float *W = m->t[l->w].data;
	int hw = vi->h * vi->w;
	if (l->kind == L_BN) {
		const float *mean = m->bnstat + l->stat, *invstd = mean + vi->c;
		batchnorm_prelu_apply(vo->data, vi->data, W, m->t[l->b].data, slopes(m, l, vi->c),
				      mean, invstd, B, vi->c, hw);
	} else if (l->scalar) {
		prelu_forward(vo->data, vi->data, W, B, 1, (int)vi->n);
	} else {
		prelu_forward(vo->data, vi->data, W, B, vi->c, hw);
	}
}

const float *model_forward(struct model *m, const float *inp, int B, int train,
			   struct rng *r)
{
	m->trained = 0;
	if (!m->arena)
		return hm_error("model: no batch planned (model_set_batch)"), NULL;
	if (B < 1 || B > m->max_batch)
		return hm_error("model: batch of %d, planned for 1 to %d", B, m->max_batch), NULL;
	if (train && B < 2)
		return hm_error("model: training needs a batch of at least 2 (batch norm)"), NULL;
	if (train && m->dropout > 0 && !r)
		return hm_error("model: dropout needs a random number generator"), NULL;
	if (train && m->fold_inplace)
		return hm_error("model: batch norm folded into the weights for inference "
				"(model_fold_bn); load the tensors again to train"), NULL;
	bind(m, train, inp, NULL);
	if (train)
		m->fold_ok = 0;	/* the running statistics move */
	for (int i = 0; i < m->n_l; i++)
		forward_layer(m, &m->l[i], B, train, r);
	m->B = B;
	m->inp = inp;
	m->trained = train;
	return m->v[m->output].data;
}

void model_backward(struct model *m, const float *demb, float *dinp)
{
	if (!m->trained)
		return;
	int B = m->B, L = m->n_l;
	bind(m, 2, m->inp, dinp);
	struct value *out = &m->v[m->output];
	memcpy(out->grad, demb, (size_t)B * out->n * sizeof(float));
	for (int i = L - 1; i >= 0; i--) {
		int step = 2 * L - 1 - i;
		for (int r = 0; r < m->n_v; r++) {
			if (m->zero_step[r] == step)
				memset(m->arena + m->off_grad[r], 0,
				       (size_t)B * m->v[r].n * sizeof(float));
			if (m->rc_step[r] == step)	/* sources first: lower index */
				recompute(m, r, B);
		}
		backward_layer(m, &m->l[i], B);
	}
}

void model_zero_grad(struct model *m)
{
	memset(m->grads, 0, m->n_params * sizeof(float));
}

int model_n_tensors(const struct model *m)
{
	return m->n_t;
}

const struct model_tensor *model_tensor(const struct model *m, int i)
{
	return i >= 0 && i < m->n_t ? &m->t[i] : NULL;
}

float *model_params(struct model *m, size_t *n)
{
	if (n)
		*n = m->n_params;
	return m->params;
}

float *model_grads(struct model *m, size_t *n)
{
	if (n)
		*n = m->n_params;
	return m->grads;
}

float *model_buffers(struct model *m, size_t *n)
{
	if (n)
		*n = m->n_buffers;
	return m->buffers;
}

double model_macs(const struct model *m)
{
	return m->macs;
}

/* ------------------------------------------------------------------ */
/* Model files */

static char *dup_int(int v)
{
	char buf[24];
	snprintf(buf, sizeof buf, "%d", v);
	return strdup(buf);
}

int model_file_entries(const struct model *m, struct mf_kv **kv, int *n_kv,
		       struct mf_tensor **t, int *n_t)
{
	static const char *keys[6] = { "arch", "in_c", "in_h", "in_w", "emb_dim",
				       "features.trainable" };
	/* the last only when set: files without it load as before */
	int nk = m->flags & MODEL_FEATURES_TRAINABLE ? 6 : 5;
	struct mf_kv *k = realloc(*kv, sizeof *k * (size_t)(*n_kv + nk));
	if (!k)
		return hm_error("out of memory");
	*kv = k;
	struct mf_tensor *x = realloc(*t, sizeof *x * (size_t)(*n_t + m->n_t));
	if (!x)
		return hm_error("out of memory");
	*t = x;
	const int vals[5] = { m->shape.in_c, m->shape.in_h, m->shape.in_w, m->shape.emb_dim,
			      1 };
	for (int i = 0; i < nk; i++) {
		char *key = strdup(keys[i]);
		char *value = i == 0 ? strdup(m->shape.arch) : dup_int(vals[i - 1]);
		if (!key || !value) {
			free(key), free(value);
			return hm_error("out of memory");
		}
		k[(*n_kv)++] = (struct mf_kv){ key, value };
	}
	for (int i = 0; i < m->n_t; i++) {
		struct mf_tensor *y = &x[(*n_t)++];
		memset(y, 0, sizeof *y);
		snprintf(y->name, sizeof y->name, "%s", m->t[i].name);
		y->ndim = m->t[i].ndim;
		for (int d = 0; d < y->ndim; d++)
			y->shape[d] = m->t[i].shape[d];
		y->data = m->t[i].data;
	}
	return 0;
}

int model_save(const struct model *m, const char *path)
{
	struct mf_kv *kv = NULL;
	struct mf_tensor *t = NULL;
	int n_kv = 0, n_t = 0;
	int rc = model_file_entries(m, &kv, &n_kv, &t, &n_t);
	if (!rc)
		rc = modelfile_write(path, kv, n_kv, t, n_t);
	for (int i = 0; i < n_kv; i++) {
		free(kv[i].key);
		free(kv[i].value);
	}
	free(kv);
	free(t);
	return rc;
}

static void shape_str(char *buf, size_t n, int ndim, const int64_t *s64, const int *s32)
{
	size_t k = 0;
	buf[0] = 0;
	for (int d = 0; d < ndim && k < n; d++)
		k += (size_t)snprintf(buf + k, n - k, "%s%lld", d ? "x" : "",
				      s64 ? (long long)s64[d] : (long long)s32[d]);
}

/* Metadata KEY as an int in [lo, hi]. */
static int meta_int(const struct modelfile *mf, const char *name, const char *key, int lo,
		    int hi, int *v)
{
	const char *s = modelfile_get(mf, key);
	if (!s)
		return hm_error_file(name, "metadata '%s' missing", key);
	char *end;
	errno = 0;
	long x = strtol(s, &end, 10);
	if (!*s || *end || errno || x < lo || x > hi)
		return hm_error_file(name, "metadata '%s': '%s' is not an integer from %d to %d",
				     key, s, lo, hi);
	*v = (int)x;
	return 0;
}

/* The architecture a file's metadata and tensors say: "face18" files
 * written before face18 meant use_se=False hold SE tensors, and are
 * "face18:se". */
static const char *file_arch(const struct modelfile *mf)
{
	const char *arch = modelfile_get(mf, "arch");
	if (arch && !strcmp(arch, "face18"))
		for (int i = 0; i < mf->n_tensors; i++)
			if (!strncmp(mf->tensors[i].name, "layer", 5) &&
			    strstr(mf->tensors[i].name, ".se."))
				return "face18:se";
	return arch;
}

int model_load_tensors(struct model *m, const struct modelfile *mf, const char *name)
{
	const char *arch = file_arch(mf);
	if (arch) {
		struct arch a;
		if (parse_arch(arch, &a))
			return hm_error_prefix("'%s'", name);
		if (!same_arch(&a, &m->arch))
			return hm_error_file(name, "architecture '%s', but the model is '%s'", arch,
					     m->shape.arch);
	}
	static const char *keys[4] = { "in_c", "in_h", "in_w", "emb_dim" };
	const int want[4] = { m->shape.in_c, m->shape.in_h, m->shape.in_w, m->shape.emb_dim };
	for (int i = 0; i < 4; i++) {
		int v;
		if (!modelfile_get(mf, keys[i]))
			continue;
		if (meta_int(mf, name, keys[i], 1, 1 << 30, &v))
			return -1;
		if (v != want[i])
			return hm_error_file(name, "metadata '%s' is %d, the model has %d",
					     keys[i], v, want[i]);
	}
	for (int i = 0; i < m->n_t; i++) {
		const struct model_tensor *x = &m->t[i];
		const struct mf_tensor *f = modelfile_find(mf, x->name);
		if (!f)
			return hm_error_file(name, "tensor '%s' missing (architecture '%s')",
					     x->name, m->shape.arch);
		int same = f->ndim == x->ndim;
		for (int d = 0; same && d < x->ndim; d++)
			same = f->shape[d] == x->shape[d];
		if (!same) {
			char got[96], want_s[96];
			shape_str(got, sizeof got, f->ndim, f->shape, NULL);
			shape_str(want_s, sizeof want_s, x->ndim, NULL, x->shape);
			return hm_error_file(name, "tensor '%s': shape %s, architecture '%s' "
					     "needs %s", x->name, got, m->shape.arch, want_s);
		}
	}
	for (int i = 0; i < mf->n_tensors; i++) {
		const char *tn = mf->tensors[i].name;
		if (strchr(tn, '/'))
			continue;	/* the caller's: head/..., momentum/... */
		int found = 0;
		for (int j = 0; j < m->n_t && !found; j++)
			found = !strcmp(m->t[j].name, tn);
		if (!found)
			return hm_error_file(name, "tensor '%s' is not part of architecture '%s'",
					     tn, m->shape.arch);
	}
	m->fold_ok = m->fold_inplace = 0;
	for (int i = 0; i < m->n_t; i++)
		memcpy(m->t[i].data, modelfile_find(mf, m->t[i].name)->data,
		       m->t[i].count * sizeof(float));
	return 0;
}

struct model *model_from_file(const struct modelfile *mf, const char *name)
{
	const char *arch = file_arch(mf);
	const char *ft = modelfile_get(mf, "features.trainable");
	int in_c, in_h, in_w, emb;
	if (!arch)
		return hm_error_file(name, "metadata 'arch' missing (not a model?)"), NULL;
	if (meta_int(mf, name, "in_c", 1, MAX_IN_C, &in_c) ||
	    meta_int(mf, name, "in_h", 1, MAX_SIDE, &in_h) ||
	    meta_int(mf, name, "in_w", 1, MAX_SIDE, &in_w) ||
	    meta_int(mf, name, "emb_dim", 1, MAX_EMB, &emb))
		return NULL;
	if (ft && strcmp(ft, "0") && strcmp(ft, "1"))
		return hm_error_file(name, "metadata 'features.trainable': '%s' is not 0 "
				     "or 1", ft), NULL;
	struct model *m = model_new_flags(arch, in_c, in_h, in_w, emb,
					  ft && !strcmp(ft, "1") ? MODEL_FEATURES_TRAINABLE : 0);
	if (!m) {
		hm_error_prefix("'%s'", name);
		return NULL;
	}
	if (model_load_tensors(m, mf, name)) {
		model_free(m);
		return NULL;
	}
	return m;
}

struct model *model_load(const char *path)
{
	struct modelfile mf;
	if (modelfile_read(&mf, path))
		return NULL;
	struct model *m = model_from_file(&mf, path);
	modelfile_free(&mf);
	return m;
}
