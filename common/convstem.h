/*
 * convstem: a direct 3x3 stride-1 pad-1 convolution for 1 to 4 input
 * channels (IR-18's stem), forward and weight gradient, in place of the
 * im2col path for those shapes (common/nn.c calls it; internal to the
 * library).  See convstem.c.
 */
#ifndef HM_CONVSTEM_H
#define HM_CONVSTEM_H

#include "nn.h"

#include <stddef.h>

/* Whether the direct kernels take this shape on this CPU (AVX-512; k 3,
 * stride 1, pad 1, c 1..4, oc a multiple of 8, w >= 16). */
int convstem_applies(const struct conv2d_dims *d);
/* Floats of one thread's slot of the workspace: conv2d_slot() takes the
 * larger of it and the im2col path's; the kernels use as many slots
 * (rounded up to 16 floats each; doubles in them) as conv2d_workspace()
 * holds, up to OpenMP's thread count. */
size_t convstem_slot(const struct conv2d_dims *d);
/* Called by the thread that made them when output rows [y0, y1) of image
 * n are done (all channels), while they are in its cache. */
typedef void convstem_band_fn(void *ctx, int n, int y0, int y1);
/* The rows of such a band (the last may be short): even, so that a 1x1
 * stride-2 convolution of the output (nn.c's taps) finds its rows whole in
 * one band. */
#define CONVSTEM_BAND 8
/* out [n][oc][h][w] = conv(inp) + bias (bias may be NULL), then the PReLU
 * with slopes alpha [oc] (NULL: none) as the sums are stored: the bytes of
 * channel_affine_prelu(out, out, NULL, NULL, alpha, ...) after it.  Bands
 * of CONVSTEM_BAND rows; band (NULL: none) is called on each. */
void convstem_forward(float *out, float *work, const float *inp, const float *weight,
		      const float *bias, const float *alpha, convstem_band_fn *band, void *ctx,
		      const struct conv2d_dims *d);
/* dweight [oc][c][3][3] += the weight gradient; the same bytes for any
 * thread count. */
void convstem_dweight(float *dweight, float *work, const float *dout, const float *inp,
		      const struct conv2d_dims *d);

#endif
