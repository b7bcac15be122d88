/*
 * modelrun.c: the forward and backward passes over the graph of model.c,
 * in the buffers that modelplan.c planned: recomputing the values the
 * backward did not keep, and batch-norm folding for inference.
 */
#include "modelint.h"
#include "err.h"
#include "nn.h"
#include "rng.h"
#include "winograd.h"
#include "winos2.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ */
/* Forward and backward */
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

/* The slopes of tensor ACT (-1: none) as a [C] vector (a single slope,
 * SCALAR, spread over m->chan), or NULL. */
static const float *slope_vec(struct model *m, int act, int scalar, int C)
{
	if (act < 0)
		return NULL;
	const float *a = m->t[act].data;
	if (!scalar)
		return a;
	for (int c = 0; c < C; c++)
		m->chan[c] = a[0];
	return m->chan;
}

/* The PReLU slopes of batch-norm layer L, or NULL when no PReLU is fused
 * into it. */
static const float *slopes(struct model *m, const struct layer *l, int C)
{
	return slope_vec(m, l->act, l->scalar, C);
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

/* Eval: the residual add L, and in the same pass the batch norm that
 * reads the sum (l->bn_next; the unfolded eval norm, with its PReLU). */
static void add_bn_eval(struct model *m, const struct layer *l, int B)
{
	const struct layer *b = &m->l[l->bn_next];
	const struct value *vi = &m->v[l->in];
	const int C = vi->c;
	float *scale = m->chan + m->max_c, *shift = scale + m->max_c;
	bn_eval_affine(m, b, C, scale, shift);
	residual_affine_forward(m->v[l->out].data, vi->data, m->v[l->in2].data,
				m->v[b->out].data, scale, shift, slopes(m, b, C), B, C,
				vi->h * vi->w);
}

/* Eval: the weights, shift and PReLU slopes conv L runs with; folded, it
 * adds the shift of the batch norm after it, and applies that norm's
 * PReLU. */
static void conv_eval(struct model *m, const struct layer *l, const float **W,
		      const float **shift, const float **alpha)
{
	*W = m->t[l->w].data;
	*shift = *alpha = NULL;
	if (!m->fold_ok)
		return;
	if (l->fw != NONE)
		*W = m->fold + l->fw;
	if (l->fb != NONE)
		*shift = m->fold + l->fb;
	*alpha = slope_vec(m, l->fact, l->fscalar, m->v[l->out].c);
}

/* Eval: whether batch norm L, folded into its conv, has nothing left to do. */
static int bn_eval_noop(const struct model *m, const struct layer *l)
{
	return m->fold_ok && l->fb != NONE && l->folded && (l->act < 0 || l->act_fused) &&
	       m->v[l->out].eroot == m->v[l->in].eroot;
}

/*
 * Eval: the layers after layer I (a conv or an add) that its pass over
 * bands of its output can run (conv2d_forward_tap()): a 1x1 stride-2 conv
 * and then a batch norm not folded (IResNet's shortcut and bn1 of the
 * first block of a stage), both reading layer I's output, where every
 * layer between is one of them or does nothing (the folded norms), so no
 * other value is written or read meanwhile.  None of them with a single
 * slope (m->chan holds the slopes of one layer).  *sc, *bn: the layers, or
 * -1; 0 when there are none.
 */
static int tap_plan(const struct model *m, int i, int *sc, int *bn)
{
	const int er = m->v[m->l[i].out].eroot;

	*sc = *bn = -1;
	for (int j = i + 1; j < m->n_l && *bn < 0; j++) {
		const struct layer *b = &m->l[j];
		const int reads = m->v[b->in].eroot == er;
		if (b->kind == L_BN && bn_eval_noop(m, b))
			continue;
		if (b->kind == L_CONV && reads && *sc < 0 && b->k == 1 && b->stride == 2 &&
		    b->pad == 0 && !(b->fact >= 0 && b->fscalar))
			*sc = j;
		else if (b->kind == L_BN && reads && !b->by_add && b->fb == NONE &&
			 !(b->act >= 0 && b->scalar))
			*bn = j;
		else
			break;
	}
	return *sc >= 0 || *bn >= 0;
}

/* Whether value V's buffer meets [p, p + n) (B images). */
static int meets(const struct model *m, int v, const float *p, size_t n, int B)
{
	const float *q = m->v[v].data;
	return p && q && p < q + (size_t)B * m->v[v].n && q < p + n;
}

/* The tap of layer I (tap_plan()), its outputs written before their
 * layers' turn: 0 when there is none, or when one of them would land on
 * SRC, a value layer I reads (its buffer free from layer I on, the planner
 * may have given it to them). */
static int tap_build(struct model *m, int i, int src, int B, struct conv2d_tap *t, int *sc,
		     int *bn)
{
	const struct value *o = &m->v[m->l[i].out];

	memset(t, 0, sizeof *t);
	if (!tap_plan(m, i, sc, bn))
		return 0;
	if (*sc >= 0) {
		const struct layer *c = &m->l[*sc];
		conv_eval(m, c, &t->sc_weight, &t->sc_bias, &t->sc_alpha);
		t->sc_out = m->v[c->out].data;
		t->sc_oc = m->v[c->out].c;
		if (meets(m, src, t->sc_out, (size_t)B * m->v[c->out].n, B))
			return 0;
	}
	if (*bn >= 0) {
		const struct layer *b = &m->l[*bn];
		float *scale = m->chan + m->max_c, *sh = scale + m->max_c;
		bn_eval_affine(m, b, o->c, scale, sh);
		t->y = m->v[b->out].data;
		t->scale = scale, t->shift = sh;
		t->alpha = slopes(m, b, o->c);
		if (t->y != o->data && meets(m, src, t->y, (size_t)B * o->n, B))
			return 0;
	}
	return 1;
}

static void tap_done(struct model *m, int sc, int bn)
{
	if (sc >= 0)
		m->l[sc].by_tap = 1;
	if (bn >= 0)
		m->l[bn].by_tap = 1;
}

/* Eval: conv I (the stem) with its tap; 0 when it runs alone. */
static int conv_tap(struct model *m, int i, const float *W, const float *shift,
		    const float *alpha, const struct conv2d_dims *d)
{
	const struct layer *l = &m->l[i];
	struct conv2d_tap t;
	int sc, bn;

	if ((l->fact >= 0 && l->fscalar) || !tap_build(m, i, l->in, d->n, &t, &sc, &bn) ||
	    !conv2d_forward_tap(m->v[l->out].data, m->work, m->v[l->in].data, W, shift, alpha,
				&t, d))
		return 0;
	tap_done(m, sc, bn);
	return 1;
}

/* Eval: add I (out = in + in2, in place on in) with its tap; 0 when it
 * runs alone. */
static int add_tap(struct model *m, int i, int B)
{
	const struct layer *l = &m->l[i];
	const struct value *o = &m->v[l->out];
	struct conv2d_tap t;
	int sc, bn;

	if (!tap_build(m, i, l->in2, B, &t, &sc, &bn) ||
	    !residual_forward_tap(o->data, m->v[l->in].data, m->v[l->in2].data, &t, B, o->c,
				  o->h, o->w))
		return 0;
	tap_done(m, sc, bn);
	return 1;
}

static void forward_layer(struct model *m, struct layer *l, int B, int train, struct rng *r)
{
	struct value *vi = &m->v[l->in], *vo = &m->v[l->out];
	struct value *v2 = l->in2 >= 0 ? &m->v[l->in2] : NULL;
	float *W = l->w >= 0 ? m->t[l->w].data : NULL, *b = l->b >= 0 ? m->t[l->b].data : NULL;
	int hw = vi->h * vi->w;
	size_t n = (size_t)B * vi->n;
	if (!train && l->by_tap) {
		l->by_tap = 0;	/* done by conv_tap() or add_tap() */
		return;
	}
	switch (l->kind) {
	case L_CONV: {
		struct conv2d_dims d = { B, vi->c, vi->h, vi->w, vo->c, l->k, l->stride, l->pad };
		const float *Wc = W, *shift = NULL, *alpha = NULL;
		const int folded = !train && m->fold_ok;
		if (!train)
			conv_eval(m, l, &Wc, &shift, &alpha);
		if (folded && l->fu != NONE && conv2d_uses_winograd(&d))
			wino_forward_pre(vo->data, m->work, vi->data, m->wino + l->fu, l->fm, shift,
					 alpha, &d);
		else if (folded && l->fu != NONE && conv2d_uses_winos2(&d))
			winos2_forward_pre(vo->data, m->work, vi->data, m->wino + l->fu, l->fm,
					   shift, alpha, &d);
		else if (!folded || !conv_tap(m, (int)(l - m->l), Wc, shift, alpha, &d))
			conv2d_forward_act(vo->data, m->work, vi->data, Wc, shift, alpha, &d);
		break;
	}
	case L_BN: {
		float *mean = m->bnstat + l->stat, *invstd = mean + vi->c;
		const int C = vi->c;
		const float *alpha = slopes(m, l, C);
		if (!train && l->by_add)
			break;	/* done by the add (add_bn_eval()) */
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
			if (!l->folded || (alpha && !l->act_fused) || vo->data != vi->data)
				channel_affine_prelu(vo->data, vi->data, NULL,
						     l->folded ? NULL : m->fold + l->fb,
						     l->act_fused ? NULL : alpha,
						     B, C, hw);
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
		if (!train && l->bn_next >= 0)
			add_bn_eval(m, l, B);
		else if (train || !m->fold_ok || !add_tap(m, (int)(l - m->l), B))
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
		(l->dx_set ? conv2d_backward_set : conv2d_backward)(dx, dW, NULL, m->work, dy,
								   vi->data, W, &d);
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
			if (l->dx_set)	/* the replicas' backward adds */
				memset(dx, 0, n * sizeof *dx);
			if (alpha)
				act_grad_inplace(vo->grad, dalpha, vi->data, W, beta, alpha, mean,
						 invstd, B, C, hw);
			m->bn_sync->backward(m->bn_sync->ctx, dx, dW, db, vo->grad, vi->data, W,
					     mean, invstd, B, C, hw);
		} else {
			(l->dx_set ? batchnorm_prelu_backward_set : batchnorm_prelu_backward)(
				dx, dW, db, dalpha, dy, vi->data, W, beta, alpha, mean, invstd, B,
				C, hw);
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
			(l->dx_set ? prelu_backward_set : prelu_backward)(dx, dW, dy, vi->data, W,
									  B, 1, (int)vi->n);
		else
			(l->dx_set ? prelu_backward_set : prelu_backward)(dx, dW, dy, vi->data, W,
									  B, vi->c, hw);
		break;
	case L_MAXPOOL:
		(l->dx_set ? maxpool_backward_set : maxpool_backward)(dx, dy, l->argmax, B, vi->c,
								      vi->h, vi->w, l->k,
								      l->stride, l->pad);
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
		(l->dx_set ? residual_backward_set : residual_backward)(NULL, v2->grad, dy, n);
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

/* Dims of convolution L for batch 1 (the Winograd plan ignores n). */
static struct conv2d_dims conv_dims(const struct model *m, const struct layer *l)
{
	const struct value *vi = &m->v[l->in];
	return (struct conv2d_dims){ 1, vi->c, vi->h, vi->w, m->v[l->out].c, l->k, l->stride,
				     l->pad };
}

/* Places the Winograd convolutions' transformed weights in m->wino (l->fu),
 * growing it; 0, or -1 with the error recorded. */
static int wino_place(struct model *m)
{
	size_t n = 0;
	for (int i = 0; i < m->n_l; i++) {
		struct layer *l = &m->l[i];
		const struct conv2d_dims d = conv_dims(m, l);
		if (l->kind != L_CONV || (!conv2d_uses_winograd(&d) && !conv2d_uses_winos2(&d)))
			continue;
		l->fu = n;
		const size_t size = conv2d_uses_winograd(&d) ? wino_weights_size(&d)
							      : winos2_weights_size(&d);
		n += (size + ALIGN_FLOATS - 1) / ALIGN_FLOATS * ALIGN_FLOATS;
	}
	if (n <= m->n_wino)
		return 0;
	float *u = aligned_alloc(64, n * sizeof(float));
	if (!u) {
		for (int i = 0; i < m->n_l; i++)
			m->l[i].fu = NONE;
		return hm_error("out of memory transforming the weights (%zu MiB)",
				n * sizeof(float) >> 20);
	}
	free(m->wino);
	m->wino = u;
	m->n_wino = n;
	return 0;
}

/* Transforms them: the folded weights, or a convolution's own where no
 * norm folds into it, once for the eval forwards after model_fold_bn()
 * (they change only where the folded copy does). */
static void wino_fill(struct model *m, int in_place)
{
	for (int i = 0; i < m->n_l; i++) {
		struct layer *l = &m->l[i];
		const struct conv2d_dims d = conv_dims(m, l);
		if (l->kind != L_CONV || l->fu == NONE)
			continue;
		const float *W = in_place || l->fw == NONE ? m->t[l->w].data : m->fold + l->fw;
		l->fm = conv2d_uses_winograd(&d) ? wino_weights(m->wino + l->fu, W, &d)
						 : winos2_weights(m->wino + l->fu, W, &d);
	}
}

/* DST[o][k] = SRC[o][k] * SCALE[o] for ROWS rows of N (DST may be SRC), by
 * the team: each product on its own, so the same bytes for any threads. */
static void scale_rows(float *dst, const float *src, const float *scale, int rows, size_t n)
{
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if ((size_t)rows * n >= ((size_t)1 << 16))
#endif
	for (int o = 0; o < rows; o++) {
		const float s = scale[o];
		float *d = dst + (size_t)o * n;
		const float *x = src + (size_t)o * n;
#ifdef _OPENMP
#pragma omp simd
#endif
		for (size_t k = 0; k < n; k++)
			d[k] = x[k] * s;
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
		m->l[i].fw = m->l[i].fb = m->l[i].fu = NONE;
		m->l[i].folded = m->l[i].act_fused = 0;
		m->l[i].fact = -1;
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
	if (wino_place(m) < 0) {
		free(prod);
		return -1;
	}
	/* W'[o] = W[o] scale[o]; shift' = shift (+ bias scale for a linear
	 * layer), with scale, shift the eval-mode norm's (bn_eval_affine). */
	float *scale = m->chan + m->max_c, *shift = scale + m->max_c;
	for (int i = 0; i < L; i++) {
		struct layer *b = &m->l[i];
		if (b->kind != L_BN || b->fb == NONE)
			continue;
		struct layer *p = &m->l[prod[b->in]];
		const int C = m->v[b->in].c;
		const struct model_tensor *w = &m->t[p->w];
		const size_t row = w->count / (size_t)C;
		bn_eval_affine(m, b, C, scale, shift);
		float *fw = in_place ? w->data : m->fold + p->fw, *fb = m->fold + b->fb;
		scale_rows(fw, w->data, scale, C, row);
		for (int o = 0; o < C; o++)
			fb[o] = p->kind == L_LINEAR ? m->t[p->b].data[o] * scale[o] + shift[o]
						    : shift[o];
		if (p->kind == L_CONV)	/* the conv adds the shift as its bias */
			p->fb = b->fb, b->folded = 1;
		/* and the PReLU, when the norm would apply it in place */
		if (p->kind == L_CONV && b->act >= 0 &&
		    m->v[b->out].eroot == m->v[b->in].eroot) {
			p->fact = b->act, p->fscalar = b->scalar;
			b->act_fused = 1;
		}
	}
	free(prod);
	wino_fill(m, in_place);
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
