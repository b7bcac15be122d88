/*
 * convs2: the forward and the input gradient of a 3x3 stride-2 pad-1
 * convolution (IR-18's downsampling conv3x3) by input phase, for nn.c's
 * conv2d_forward() and conv2d_backward().  See convs2.c.
 */
#ifndef HM_CONVS2_H
#define HM_CONVS2_H

#include "nn.h"

#include <stddef.h>

/*
 * Whether convs2_dinp() takes d's input gradient: a 3x3 stride-2 pad-1
 * convolution, unless convs2_set(0), whose images' tiles of up to `cols`
 * output pixels (a group of images, a band of rows) fit a thread's `slot`
 * floats of the workspace of CONV2D_TEAM_MAX slots, with the rearranged
 * weights at the end of the last.
 */
int convs2_applies(const struct conv2d_dims *d, size_t slot, int band);

/* For tests and A/B: on (the default) or off (nn.c's im2col path). */
void convs2_set(int on);

/*
 * dinp += (SET 0) or dinp = (SET 1) the input gradient of the convolution,
 * from dout [n, oc, oh, ow] and weight [oc, c, 3, 3]; work as conv2d's
 * (slots of `slot` floats).  Called by every thread of the team, inside
 * its OpenMP region (worksharing loops within): the batch cut into ng
 * groups (group u: images [u*n/ng, (u+1)*n/ng)), each in bands of `band`
 * output rows.  Each entry of dinp is one product's sum, made on one
 * thread, whatever the thread count.
 */
void convs2_dinp(float *dinp, int set, float *work, size_t slot, const float *dout,
		 const float *weight, const struct conv2d_dims *d, int ng, int band);

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
