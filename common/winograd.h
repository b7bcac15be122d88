/*
 * winograd: 3x3 stride-1 pad-1 convolutions by Winograd's minimal
 * filtering F(2x2, 3x3) or F(4x4, 3x3) (Lavin & Gray 2016, "Fast
 * Algorithms for Convolutional Neural Networks"): forward, input gradient
 * and weight gradient, each as 16 (36) sgemms over transformed 4x4 (6x6)
 * tiles instead of one im2col sgemm, 2.25x (4x) fewer multiplications.
 * Each pass picks its tile by the shape (wino_tile()).
 *
 * What it is: the fast path that common/nn.c's conv2d_forward() and
 * conv2d_backward() take for the shapes wino_applies() accepts; the
 * contracts (shapes, accumulation, bias) are those of nn.h.  What it is
 * not: no other kernel size, stride or padding; no allocation, no errors.
 * Callers normally go through conv2d_*(); tests call these directly too.
 *
 * Ownership: the caller owns every buffer, work included
 * (wino_workspace() floats, independent of d->n).  Threads: the calling
 * thread's OpenMP team (omp_get_max_threads()) shares the transforms and
 * runs the sgemms one per thread, with OpenBLAS set to one thread for the
 * call and restored after; call it outside any parallel region.  Results
 * are the same bytes for the same inputs, whatever the thread count (in
 * a build without OpenMP, OpenBLAS runs the sgemms on its threads).
 */
#ifndef HM_WINOGRAD_H
#define HM_WINOGRAD_H

#include <stddef.h>

struct conv2d_dims;

/* 1 when the shape suits Winograd (k 3, stride 1, pad 1, c and oc of
 * at least 16, weights small enough for the workspace bound), else 0.
 * Does not look at conv2d_set_winograd(). */
int wino_applies(const struct conv2d_dims *d);

/* The m of F(m x m, 3x3) that wino_forward() (backward 0) or
 * wino_backward() (backward 1) takes for the shape: 2 or 4. */
int wino_tile(const struct conv2d_dims *d, int backward);

/* Forces every pass to F(m x m, 3x3), m 2 or 4 (4 only where its workspace
 * fits), or back to the automatic choice (m 0).  For tests and A/B. */
void wino_set_tile(int m);

/* Floats of workspace for wino_forward()/wino_backward() on a shape that
 * wino_applies(), whichever tile a pass takes or is forced to; at most
 * 12 Mi floats, independent of d->n. */
size_t wino_workspace(const struct conv2d_dims *d);

/* out [n, oc, h, w]; work [wino_workspace(d)]; inp [n, c, h, w]; weight
 * [oc, c, 3, 3]; bias [oc] or NULL.  out = conv(inp, weight) + bias, as
 * conv2d_forward(). */
void wino_forward(float *out, float *work, const float *inp, const float *weight,
		  const float *bias, const struct conv2d_dims *d);

/* The same, then the PReLU with slopes alpha [oc] (NULL: none) applied as
 * the outputs are written: the bytes of wino_forward() followed by
 * channel_affine_prelu(out, out, NULL, NULL, alpha, ...) (nn.h). */
void wino_forward_act(float *out, float *work, const float *inp, const float *weight,
		      const float *bias, const float *alpha, const struct conv2d_dims *d);

/*
 * Inference with the weights transformed once (a model's are constant
 * while it embeds): wino_weights() writes U [wino_weights_size(d) floats]
 * from weight [oc, c, 3, 3] for the inference forward's tile, which may be
 * larger than the training forward's (F(4x4) from 28x28 maps up, see
 * winograd.c "Which tile"), and returns its m (2 or 4); wino_forward_pre()
 * is wino_forward_act() with that U and m in place of weight.  Call
 * wino_weights() again whenever the weights change: U is a copy.
 */
size_t wino_weights_size(const struct conv2d_dims *d);
int wino_weights(float *U, const float *weight, const struct conv2d_dims *d);
void wino_forward_pre(float *out, float *work, const float *inp, const float *U, int m,
		      const float *bias, const float *alpha, const struct conv2d_dims *d);

/* dinp [n, c, h, w] or NULL; dweight [oc, c, 3, 3] or NULL; work
 * [wino_workspace(d)]; dout [n, oc, h, w]; inp, weight as in forward.
 * Accumulates (+=) dinp and dweight as conv2d_backward() does (no bias:
 * the caller sums dbias). */
void wino_backward(float *dinp, float *dweight, float *work, const float *dout,
		   const float *inp, const float *weight, const struct conv2d_dims *d);
/* The same with dinp = instead of += (conv2d_backward_set()): each input
 * row is written, not added to, by the tile row that reaches it first. */
void wino_backward_set(float *dinp, float *dweight, float *work, const float *dout,
		       const float *inp, const float *weight, const struct conv2d_dims *d);

#endif
