/*
 * convs2: the forward of a 3x3 stride-2 pad-1 convolution (IR-18's
 * downsampling conv3x3) by input phase, for nn.c's conv2d_forward().
 * See convs2.c.
 */
#ifndef HM_CONVS2_H
#define HM_CONVS2_H

#include "nn.h"

#include <stddef.h>

/* For tests and A/B: on (the default) or off (nn.c's im2col path). */
void convs2_set(int on);

/*
 * c [oc, cols] (row stride ldc) = the output of images x [gn, c, h, w],
 * output rows [oy0, oy1) (cols = gn*(oy1 - oy0)*ow pixels, image-major),
 * without bias, when d is a 3x3 stride-2 pad-1 convolution (unless
 * convs2_set(0)) and its copy of the input's phases fits the `room`
 * floats at work: returns 1 then, else 0 and does nothing.  The product
 * of im2col's, the same sums in the same order, its matrix never stored
 * whole: each panel is read from the phases (wgemm_panels()).
 */
int convs2_forward(float *c, size_t ldc, float *work, size_t room, const float *x,
		   const float *weight, const struct conv2d_dims *d, int gn, int oy0, int oy1);

#endif
