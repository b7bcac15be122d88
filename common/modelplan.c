/*
 * modelplan.c: where the graph of model.c lives in memory.
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
 * every backward accumulates (nn.h), unless the backward that starts it
 * sets it instead (first_writers(): convolutions, batch norms, PReLUs,
 * max-pools, residual adds).
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
 * become the layer's bias, and a PReLU after one in place the
 * convolution's last step (else a shift + PReLU pass).
 *
 * modelrun.c runs the passes over this plan.
 */
#include "modelint.h"
#include "err.h"

#include <stdlib.h>

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
void plan_graph(struct model *m)
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
	/* Eval: a batch norm that reads a residual sum runs in the add's pass
	 * over the planes, when its output has a buffer of its own (IResNet's
	 * bn1 beside the shortcut), which then lives from the add on
	 * (model_set_batch), or when it runs in place right after the add (the
	 * last bn2).  Not in place later: a shortcut conv between the two
	 * (scheduled first) still reads the sum. */
	for (int i = 0; i < L; i++) {
		struct layer *b = &m->l[i];
		int a = prod[b->in];
		if (b->kind != L_BN || a < 0 || m->l[a].kind != L_ADD || m->l[a].bn_next >= 0 ||
		    (m->v[b->out].eroot == m->v[b->in].eroot && i != a + 1))
			continue;
		m->l[a].bn_next = i;
		b->by_add = 1;
	}
	free(prod);
}

void free_plan(struct model *m)
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

/* Marks the convolutions, batch norms, PReLUs, max-pools and residual adds
 * that are the first backward to write their input's gradient (the add:
 * its second input's), at the step that gradient's lifetime starts
 * (zero_step): they set it (the nn.h *_backward_set), so it is not zeroed
 * first, and the backwards after them add to it as before.  Not the
 * caller's input (dinp is the caller's), the embedding (demb is copied
 * in), nor a value narrower than its root's buffer. */
static void first_writers(struct model *m, int out)
{
	const int L = m->n_l;
	for (int i = 0; i < L; i++) {
		struct layer *l = &m->l[i];
		const int add = l->kind == L_ADD, x = add ? l->in2 : l->in;
		const int r = m->v[x].root;
		l->dx_set = 0;
		const int sets = l->kind == L_CONV || l->kind == L_BN || l->kind == L_PRELU ||
				 l->kind == L_MAXPOOL || add;
		if (sets && r != m->input && r != out &&
		    m->zero_step[r] == 2 * L - 1 - i && m->v[x].n == m->v[r].n &&
		    !(add && r == m->v[l->in].root)) {
			l->dx_set = 1;
			m->zero_step[r] = -1;
		}
	}
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
	for (int i = 0; i < L; i++) {	/* see plan_graph(): from the add on */
		if (m->l[i].bn_next >= 0) {
			int er = m->v[m->l[m->l[i].bn_next].out].eroot;
			widen(&e_lo[er], &e_hi[er], i);
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
	first_writers(m, out);
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
