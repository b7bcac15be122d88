/*
 * winos2: the inference forward of a 3x3 stride-2 pad-1 convolution (IR-18's
 * downsampling conv3x3) by Winograd's minimal filtering on the input's
 * phases, F(m, 2) on the odd samples and plain products on the even ones,
 * (2m+1)^2 products per m x m outputs instead of 9 m^2 (m 2: 1.44x
 * fewer; m 4: 1.78x).  See winos2.c for the formulas.
 *
 * What it is: the path model_forward()'s folded eval forward (hm-embed)
 * takes for the shapes winos2_applies() accepts, with the weights
 * transformed once (winos2_weights()), as winograd.h's wino_weights() and
 * wino_forward_pre() for stride 1.  What it is not: no training forward,
 * no backward, no allocation, no errors.
 *
 * Ownership and threads as in winograd.h: the caller owns every buffer,
 * work included (winos2_workspace() floats, independent of d->n); the
 * calling thread's OpenMP team shares the transforms and runs the products
 * one per thread, OpenBLAS held to one thread; call it outside any
 * parallel region.  The same bytes for any thread count.
 */
#ifndef HM_WINOS2_H
#define HM_WINOS2_H

#include <stddef.h>

struct conv2d_dims;

/* 1 when the shape suits it (k 3, stride 2, pad 1, c and oc of at least
 * 16, input width at most 512, workspace within the bound), else 0.
 * Does not look at conv2d_set_winograd(). */
int winos2_applies(const struct conv2d_dims *d);

/* The m (2 or 4) that winos2_weights() transforms for, or 0 where the
 * shape is better left to im2col (small odd outputs, whose partial tiles
 * waste too much: ir18's 7x7).  See winos2.c "Which tile". */
int winos2_tile(const struct conv2d_dims *d);

/* Forces m (2 or 4) for later winos2_tile() and winos2_weights(), on
 * every shape, or back to the automatic choice (0).  For tests and A/B. */
void winos2_set_tile(int m);

/* Floats of workspace for winos2_forward_pre() on a shape that
 * winos2_applies(), whichever m; at most 4 Mi floats. */
size_t winos2_workspace(const struct conv2d_dims *d);

/* U [winos2_weights_size(d) floats] from weight [oc, c, 3, 3]; returns the
 * m it transformed for (winos2_tile(), or 2 where that is 0), which
 * winos2_forward_pre() takes.  U is a copy: transform again when the
 * weights change. */
size_t winos2_weights_size(const struct conv2d_dims *d);
int winos2_weights(float *U, const float *weight, const struct conv2d_dims *d);

/* out [n, oc, oh, ow] = conv(inp [n, c, h, w], weight) + bias [oc] (or
 * NULL), then the PReLU with slopes alpha [oc] (NULL: none), as
 * wino_forward_pre(); U and m from winos2_weights(); work
 * [winos2_workspace(d)]. */
void winos2_forward_pre(float *out, float *work, const float *inp, const float *U, int m,
			const float *bias, const float *alpha, const struct conv2d_dims *d);

#endif
