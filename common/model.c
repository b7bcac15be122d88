/*
 * model: backbones as arrays of tagged layers over planned buffers.
 *
 * This file builds the graph (architecture strings, layers, tensors) and
 * owns the object; modelplan.c plans its memory, modelrun.c runs it
 * (forward, backward, batch-norm folding) and modelio.c reads and writes
 * model files.  modelint.h holds the types they share.
 *
 * The graph.  A "value" is an activation [B, c, h, w]; a layer reads one
 * or two values and writes one.  Residual adds run in place: the add's
 * output is an alias of its first input (the branch's last batch norm or SE
 * scale, whose output no backward reads), so a block costs no extra buffer
 * for the sum.  Aliased values share one "root" buffer, for data and for
 * gradient.
 *
 * Sources: insightface recognition/arcface_torch/backbones/iresnet.py
 * (IBasicBlock, IResNet) and arcface-pytorch models/resnet.py (IRBlock,
 * SEBlock, ResNetFace, resnet_face18); tensor names are their state_dict
 * names (without num_batches_tracked).
 */
#include "modelint.h"
#include "err.h"
#include "modelfile.h"
#include "nn.h"
#include "rng.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

int parse_arch(const char *s, struct arch *a)
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

int same_arch(const struct arch *a, const struct arch *b)
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
			     .fw = NONE, .fb = NONE, .fact = -1, .fu = NONE, .bn_next = -1 };
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
	free(m->wino);
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

int model_add_param(struct model *m, const char *name, int ndim, const int *shape, int decay)
{
	if (!strchr(name, '/') || ndim < 1 || ndim > 4)
		return hm_error("internal: model_add_param('%s', %d dimensions)", name, ndim);
	int d[4] = { 1, 1, 1, 1 };
	for (int i = 0; i < ndim; i++)
		d[i] = shape[i];
	int k = add_tensor(m, "", name, 1, decay, I_ZERO, 0, ndim, d[0], d[1], d[2], d[3]);
	if (m->oom) {
		m->oom = 0;
		return hm_error("out of memory");
	}
	/* no MAX_FLOATS: a head of millions of classes is the loss's to bound */
	size_t count = m->t[k].count, n = m->n_params + count;
	float *p = realloc(m->params, n * sizeof *p);
	if (p)
		m->params = p;
	float *g = p ? realloc(m->grads, n * sizeof *g) : NULL;
	if (g)
		m->grads = g;
	if (p && g) {
		memset(p + m->n_params, 0, count * sizeof *p);
		memset(g + m->n_params, 0, count * sizeof *g);
		m->ti[k].off = m->n_params;
		m->n_params = n;
	} else {
		free((char *)m->t[k].name);
		m->n_t--;
	}
	for (int i = 0; i < m->n_t; i++)	/* the storage may have moved */
		if (m->t[i].trainable) {
			m->t[i].data = m->params + m->ti[i].off;
			m->t[i].grad = m->grads + m->ti[i].off;
		}
	return p && g ? k : hm_error("out of memory");
}
