/*
 * nn: the layers of the suite's CNNs, forward and backward, as plain
 * functions over caller-owned float32 buffers (after llm.c's
 * layernorm_forward/layernorm_backward).
 *
 * What it is: convolution (im2col + sgemm), batch normalisation (2d and
 * 1d), PReLU, ReLU, max-pool, dropout, linear, residual add, and the
 * flatten convention.  What it is not: no tensors, no allocation, no
 * graph; models (common/model), losses (common/loss) and the optimiser
 * compose these functions.
 *
 * Conventions
 *   - float32, NCHW, batch-major; every buffer is contiguous.  The first
 *     comment line of each function states the shapes.
 *   - Argument order: outputs first, then saved buffers (for backward),
 *     then state updated in place (running statistics, the RNG), then const
 *     inputs, parameters, and the dimensions last.  Backward: gradient
 *     outputs first, then workspace, then dout and what forward saw.
 *   - Ownership: the caller allocates and frees everything, including
 *     workspaces (conv2d_workspace() says how many floats).  Nothing here
 *     allocates, fails or reports errors; shapes are the caller's contract
 *     (the model code checks them once when it builds a network).
 *   - Backward ACCUMULATES (+=) into every gradient buffer (dinp, dweight,
 *     ...): the caller zeroes gradients once per step, so a tensor used
 *     twice (a residual branch) simply receives both contributions.  A
 *     gradient pointer may be NULL when that gradient is not wanted (e.g.
 *     dinp of the first layer): the work for it is skipped.
 *   - Buffers do not alias unless a function says so.
 *   - Flatten is a no-op view: a contiguous [N, C, H, W] buffer already is
 *     the [N, C*H*W] matrix that torch.flatten(x, 1) gives, so linear_*()
 *     takes the conv output pointer directly and dinp of the linear layer
 *     is the conv layer's dout.  There is no flatten function.
 *
 * Threads: one owner per layer.  A convolution's im2col tiles are shared
 * among a team of OpenMP threads (up to CONV2D_TEAM_MAX threads; with
 * more, one thread runs the tiles and OpenBLAS's threads each sgemm),
 * each running its own single-threaded sgemms (see nn.c); Winograd's likewise
 * (winograd.h).  In linear layers OpenBLAS owns the cores, and the bias
 * loop runs on the calling thread.  Batch norm, PReLU, ReLU and max-pool
 * call no sgemm and use OpenMP "parallel for" over disjoint outputs (one
 * channel or plane per iteration).  blas_set_threads() (common/blas.h)
 * sets both pools to the tool's -j.  Without OpenMP (make OPENMP=0) the
 * same code runs serially.  Reductions run in a fixed order that does not
 * depend on the thread count (batch-norm sums: one channel per thread, n
 * then hw, in double; a convolution's sums: each sgemm on one thread, the
 * same calls for any count), so the outputs are the same bytes for any
 * number of threads.  (OpenBLAS's threaded sgemm results may depend on
 * its own thread count: the linear layers', and the im2col convolutions'
 * past CONV2D_TEAM_MAX threads.)
 *
 * Reference twins: each layer with a fast path (sgemm, OpenMP, clipped
 * loops) has a naive *_ref twin that computes the same thing with plain
 * loops in double precision; they exist for tests only.  ReLU, dropout and
 * residual add are single plain loops with no fast path: they are their
 * own reference, and the finite-difference and PyTorch tests check them
 * directly.
 */
#ifndef HM_NN_H
#define HM_NN_H

#include <stddef.h>
#include <stdint.h>

struct rng;

/* Output size of a convolution or pooling window along one axis:
 * floor((size + 2 pad - k) / stride) + 1 (PyTorch, ceil_mode=False). */
int nn_out_size(int size, int k, int stride, int pad);

/* ---------------------------------------------------------------------
 * Convolution 2d, square kernel, symmetric zero padding, no dilation or
 * groups.  Input [n, c, h, w], weight [oc, c, k, k] (PyTorch's layout),
 * optional bias [oc], output [n, oc, oh, ow] with oh = nn_out_size(h, k,
 * stride, pad).  Convolution is im2col (Caffe/darknet) + sgemm, tiled so
 * that each sgemm sees about 1024 to 2048 output pixels: small outputs
 * (stages 3 and 4 of IR-18, 14x14 and 7x7) put the im2col matrices of g
 * images side by side, [c*k*k, g*oh*ow], in one sgemm; large ones (112x112)
 * take bands of output rows of one image, so the im2col matrix stays in
 * the cache.
 * A 1x1 stride-1 pad-0 convolution of one image uses the input itself as
 * that matrix.  A 3x3 stride-2 pad-1 convolution's forward on bands of
 * one image (outputs of 512 pixels or more, without bias) goes by input
 * phase (convs2.h), through the same tiles and workspace, where wgemm's
 * kernel runs.
 */
struct conv2d_dims {
	int n, c, h, w;		/* input */
	int oc, k, stride, pad;	/* output channels, kernel, stride >= 1, pad >= 0 */
};

/* Threads, at most, that share a convolution's im2col tiles (nn.c, "The
 * threads"): the workspace holds a slot for each. */
#define CONV2D_TEAM_MAX 2

int conv2d_out_h(const struct conv2d_dims *d);
int conv2d_out_w(const struct conv2d_dims *d);
/* Floats of workspace that conv2d_forward() and conv2d_backward() need.
 * It does not depend on d->n (nor on the thread count): a network sizes it
 * once, for any batch.  It is CONV2D_TEAM_MAX slots, one a thread, each
 * (c*k*k + oc) * g*oh*ow for a group of g images (all slots together at
 * most 12 Mi floats, 48 MiB; 10.0 Mi for IR-18's 7x7 layers), c*k*k times
 * a band of 1024 or more output pixels (up to 1 Mi floats of im2col
 * matrix) for one image, and 0 for a 1x1 stride-1 pad-0 convolution whose
 * images are not grouped (oh*ow >= 512); for a shape that Winograd suits,
 * the larger of that and wino_workspace() (at most 12 Mi floats too), for
 * a 3x3 stride-2 pad-1 one the larger of that and winos2_workspace() (at
 * most 4 Mi floats: the folded inference forward's Winograd); for
 * one that the stem's direct kernels take (convstem.h), slots of at least
 * convstem_slot() (smaller than the im2col slot for IR-18's stem). */
size_t conv2d_workspace(const struct conv2d_dims *d);
/* Images per sgemm (>= 1; like the workspace, independent of d->n): the
 * last group of a batch may be smaller.  For tests and benchmarks. */
int conv2d_group_size(const struct conv2d_dims *d);
/* Winograd F(2x2, 3x3) or F(4x4, 3x3) (common/winograd.h, wino_tile()):
 * conv2d_forward() and conv2d_backward() take it for 3x3 stride-1 pad-1
 * convolutions with 16 or more input and output channels (wino_applies()),
 * unless it is off.  It is on by default; the environment variable
 * HM_CONV=im2col (read at the first convolution) turns it off,
 * HM_CONV=f2x2 keeps it to F(2x2, 3x3), and conv2d_set_winograd(0) turns it off
 * (for tests and benchmarks; not thread-safe: call it between
 * convolutions).  conv2d_workspace() covers both paths, so switching needs
 * no new workspace.  conv2d_uses_winograd() says which path D takes now. */
void conv2d_set_winograd(int on);
int conv2d_uses_winograd(const struct conv2d_dims *d);
/* The inference forward of a folded model (model_forward() in eval mode
 * after model_fold_bn()) takes Winograd for 3x3 stride-2 pad-1 layers too
 * (common/winos2.h) when this says 1 (where it is faster: winos2_tile()):
 * as conv2d_uses_winograd(), off with HM_CONV=im2col or
 * conv2d_set_winograd(0).  conv2d_forward() does not take it. */
int conv2d_uses_winos2(const struct conv2d_dims *d);

/* out [n, oc, oh, ow]; work [conv2d_workspace(d)]; inp [n, c, h, w];
 * weight [oc, c, k, k]; bias [oc] or NULL.
 * Computes out = conv(inp, weight) + bias; work is scratch. */
void conv2d_forward(float *out, float *work, const float *inp, const float *weight,
		    const float *bias, const struct conv2d_dims *d);

/* The same, then the PReLU with slopes alpha [oc] (NULL: none), applied
 * while the outputs are in the cache (an inference fusion): the bytes of
 * conv2d_forward() followed by channel_affine_prelu(out, out, NULL, NULL,
 * alpha, ...). */
void conv2d_forward_act(float *out, float *work, const float *inp, const float *weight,
			const float *bias, const float *alpha, const struct conv2d_dims *d);

/* The layers that read a convolution's output, run by
 * conv2d_forward_tap() on each band of its rows as it is made (an
 * inference fusion: the output is read back from the cache, not from
 * memory).  Each part is skipped where its output pointer is NULL. */
struct conv2d_tap {
	/* a 1x1 stride-2 pad-0 convolution of the output to sc_oc channels:
	 * sc_out [n, sc_oc, (oh + 1) / 2, (ow + 1) / 2], as
	 * conv2d_forward_act(sc_out, ..., out, sc_weight, sc_bias, sc_alpha)
	 * would give it (the same bytes where wgemm.h's sums are OpenBLAS's) */
	float *sc_out;
	const float *sc_weight, *sc_bias, *sc_alpha;
	int sc_oc;
	/* then y [n, oc, oh, ow] = channel_affine_prelu(out, scale, shift,
	 * alpha)'s bytes; y may be out (in place, after the convolution above
	 * read it) */
	float *y;
	const float *scale, *shift, *alpha;
};

/* conv2d_forward_act(), then what TAP asks, band by band; 1, or 0 having
 * done nothing where no such pass exists (only the stem's direct kernels,
 * convstem.h, with wgemm.h's kernel for the 1x1 convolution, have one)
 * or where a band's 1x1 product would be too narrow for that kernel
 * (TAP_COLS_MIN in nn.c): the caller then runs the layers one after the
 * other. */
int conv2d_forward_tap(float *out, float *work, const float *inp, const float *weight,
		       const float *bias, const float *alpha, const struct conv2d_tap *tap,
		       const struct conv2d_dims *d);

/* dinp [n, c, h, w] or NULL; dweight [oc, c, k, k] or NULL; dbias [oc] or
 * NULL; work [conv2d_workspace(d)]; dout [n, oc, oh, ow]; inp, weight as in
 * forward.  Accumulates the gradients of
 *   out[n][o][y][x] = bias[o] + sum_{ci,i,j} weight[o][ci][i][j] *
 *                     inp[n][ci][y*stride - pad + i][x*stride - pad + j]
 * dweight via sgemm with the im2col matrix; dinp via sgemm into the
 * workspace, then col2im. */
void conv2d_backward(float *dinp, float *dweight, float *dbias, float *work,
		     const float *dout, const float *inp, const float *weight,
		     const struct conv2d_dims *d);
/* The same with dinp = instead of += (dweight, dbias still accumulate):
 * for a dinp that no earlier backward wrote (its old contents, NaN
 * included, are never read).  Each part of dinp is cleared where the pass
 * first reaches it, or written there without a read: the same bytes as a
 * memset of dinp followed by conv2d_backward(). */
void conv2d_backward_set(float *dinp, float *dweight, float *dbias, float *work,
			 const float *dout, const float *inp, const float *weight,
			 const struct conv2d_dims *d);

/* ---------------------------------------------------------------------
 * Batch normalisation over [N, C, HW]: per channel c, statistics over N*HW
 * values.  BatchNorm2d is HW = H*W; BatchNorm1d over [N, C] is HW = 1.
 * gamma/beta may be NULL (affine=False: gamma 1, beta 0).  PyTorch's
 * defaults are eps = 1e-5, momentum = 0.1 (insightface uses eps 2e-5 in
 * places, hence the parameter).  Training mode needs N*HW >= 2.
 */

/* Fused batch norm + PReLU (one sweep over memory where the two follow each
 * other, as in every IResNet block).  ALPHA [C] are the PReLU slopes; NULL
 * means no PReLU, and each function is then exactly its plain batch-norm
 * counterpart (batchnorm_forward() and batchnorm_backward(), with the
 * test-only functions below, are these with alpha NULL).  The statistics
 * take one pass: shifted sums in double (the variance as E[(x-K)^2] -
 * E[x-K]^2, K the channel's first value).
 * out [N, C, HW]; mean, invstd [C] (saved); running_mean, running_var [C] or
 * both NULL; inp [N, C, HW]; gamma, beta, alpha [C] or NULL.
 * Training mode: out = prelu((inp - mean) * invstd * gamma + beta, alpha). */
void batchnorm_prelu_forward(float *out, float *mean, float *invstd, float *running_mean,
			     float *running_var, const float *inp, const float *gamma,
			     const float *beta, const float *alpha, int N, int C, int HW,
			     float eps, float momentum);
/* out, inp [N, C, HW] (out may equal inp); gamma, beta, alpha [C] or NULL;
 * mean, invstd [C] as saved by batchnorm_prelu_forward().  Recomputes the
 * forward's output from its input: the same bytes, so a model need not keep
 * it for the backward. */
void batchnorm_prelu_apply(float *out, const float *inp, const float *gamma,
			   const float *beta, const float *alpha, const float *mean,
			   const float *invstd, int N, int C, int HW);
/* dinp [N, C, HW] or NULL; dgamma, dbeta, dalpha [C] or NULL; dout (the
 * gradient at the PReLU's output), inp [N, C, HW]; gamma, beta, alpha [C] or
 * NULL; mean, invstd [C] as saved.  Reads only the batch norm's INPUT: the
 * normalised value z is recomputed, g = z > 0 ? dout : alpha dout, then
 *   dalpha += sum_{z <= 0} dout z, dgamma += sum(g xhat), dbeta += sum(g),
 *   dinp += gamma invstd (g - mean(g) - xhat mean(g xhat)). */
void batchnorm_prelu_backward(float *dinp, float *dgamma, float *dbeta, float *dalpha,
			      const float *dout, const float *inp, const float *gamma,
			      const float *beta, const float *alpha, const float *mean,
			      const float *invstd, int N, int C, int HW);
/* The same with dinp = instead of +=: for a dinp that nothing else writes
 * (its old contents, NaN included, are never read). */
void batchnorm_prelu_backward_set(float *dinp, float *dgamma, float *dbeta, float *dalpha,
				  const float *dout, const float *inp, const float *gamma,
				  const float *beta, const float *alpha, const float *mean,
				  const float *invstd, int N, int C, int HW);

/* out, inp [N, C, HW] (out may equal inp); scale, shift, alpha [C] or NULL
 * (1, 0, no PReLU).  out = prelu(inp * scale + shift, alpha): an eval-mode
 * batch norm in PyTorch's form (scale = gamma / sqrt(running_var + eps),
 * shift = beta - running_mean scale), or with scale NULL the bias of a
 * convolution whose weights absorbed the batch norm, with the PReLU that
 * follows. */
void channel_affine_prelu(float *out, const float *inp, const float *scale,
			  const float *shift, const float *alpha, int N, int C, int HW);

/* ---------------------------------------------------------------------
 * PReLU with one slope per channel: out = inp > 0 ? inp : alpha[c] inp.
 */

/* out, inp [N, C, HW]; alpha [C]. */
void prelu_forward(float *out, const float *inp, const float *alpha, int N, int C, int HW);
/* dinp [N, C, HW] or NULL; dalpha [C] or NULL; dout, inp [N, C, HW]; alpha [C].
 * Differentiates out = inp > 0 ? inp : alpha[c] * inp:
 *   dinp += inp > 0 ? dout : alpha[c] dout;  dalpha[c] += sum_{inp <= 0} dout inp. */
void prelu_backward(float *dinp, float *dalpha, const float *dout, const float *inp,
		    const float *alpha, int N, int C, int HW);
/* The same with dinp = 0 + instead of += (dalpha still adds): for a dinp no
 * earlier backward wrote (its old contents are never read). */
void prelu_backward_set(float *dinp, float *dalpha, const float *dout, const float *inp,
			const float *alpha, int N, int C, int HW);

/* ---------------------------------------------------------------------
 * Max-pool, k x k window, stride, implicit -infinity padding (0 <= pad <=
 * k/2, as PyTorch requires, so every window holds a real value).  Output
 * [N, C, oh, ow], oh = nn_out_size(H, k, stride, pad).  Ties and NaN as
 * PyTorch: the first maximum in row-major window order wins; NaN wins.
 */

/* out, argmax [N, C, oh, ow]; inp [N, C, H, W].  argmax saves, for each
 * output, the index h*W + w of its maximum within the input plane. */
void maxpool_forward(float *out, int32_t *argmax, const float *inp, int N, int C,
		     int H, int W, int k, int stride, int pad);
/* dinp [N, C, H, W]; dout, argmax [N, C, oh, ow].  Differentiates
 * out[n][c][y][x] = inp[n][c][argmax[n][c][y][x]]: dinp[argmax] += dout. */
void maxpool_backward(float *dinp, const float *dout, const int32_t *argmax, int N,
		      int C, int H, int W, int k, int stride, int pad);
/* The same into a dinp no earlier backward wrote: each plane is cleared
 * just before its sums (the bytes of a cleared dinp and the adding pass). */
void maxpool_backward_set(float *dinp, const float *dout, const int32_t *argmax, int N,
			  int C, int H, int W, int k, int stride, int pad);

/* ---------------------------------------------------------------------
 * Dropout (training mode; in eval mode the layer is the identity and is
 * skipped).  Each element is kept with probability 1 - p and scaled by
 * 1/(1 - p) (inverted dropout, as PyTorch); p >= 1 drops everything.  The
 * mask comes from R, consumed in index order (one rng_uniform() per
 * element), so the same RNG state gives the same mask on any machine and
 * for any thread count.  The masks differ from PyTorch's (another RNG).
 */

/* out, mask, inp [n]; r advances by n draws.  mask[i] = 1 kept, 0 dropped. */
void dropout_forward(float *out, uint8_t *mask, struct rng *r, const float *inp, float p,
		     size_t n);
/* dinp, dout, mask [n].  Differentiates out = mask ? inp / (1 - p) : 0. */
void dropout_backward(float *dinp, const float *dout, const uint8_t *mask, float p, size_t n);

/* ---------------------------------------------------------------------
 * Linear (PyTorch's nn.Linear): out = inp weight^T + bias, by one sgemm.
 */

/* out [N, OC]; inp [N, IC]; weight [OC, IC]; bias [OC] or NULL. */
void linear_forward(float *out, const float *inp, const float *weight, const float *bias,
		    int N, int IC, int OC);
/* dinp [N, IC] or NULL; dweight [OC, IC] or NULL; dbias [OC] or NULL;
 * dout [N, OC]; inp [N, IC]; weight [OC, IC].  Differentiates
 * out[n][o] = bias[o] + sum_i inp[n][i] weight[o][i]:
 *   dinp += dout weight,  dweight += dout^T inp,  dbias += sum_n dout. */
void linear_backward(float *dinp, float *dweight, float *dbias, const float *dout,
		     const float *inp, const float *weight, int N, int IC, int OC);

/* ---------------------------------------------------------------------
 * Residual add: out = a + b (out may equal a or b).
 */

/* out, a, b [n]. */
void residual_forward(float *out, const float *a, const float *b, size_t n);
/* out, a, b, y [N, C, HW]: out = a + b (out may equal a or b), then y =
 * prelu(out scale + shift) with slopes alpha [C] (NULL: none), the eval
 * batch norm that reads the sum (an inference fusion): the bytes of
 * residual_forward() followed by channel_affine_prelu(y, out, scale, shift,
 * alpha, ...), in one pass over the planes. */
void residual_affine_forward(float *out, const float *a, const float *b, float *y,
			     const float *scale, const float *shift, const float *alpha, int N,
			     int C, int HW);
/* out, a, b [N, C, H, W]: residual_forward()'s out = a + b (out may be a
 * or b), then what TAP asks (conv2d_forward_tap(), the sum as the
 * convolution's output), by bands of rows of each image (an inference
 * fusion, at IResNet's stage changes: their shortcut and bn1 read the
 * sum); 1, or 0 having done nothing where conv2d_forward_tap() would for
 * the 1x1 convolution (no wgemm kernel, bands too narrow). */
int residual_forward_tap(float *out, const float *a, const float *b,
			 const struct conv2d_tap *tap, int N, int C, int H, int W);
/* da, db, dout [n] (da or db may be NULL).  Differentiates out = a + b:
 * da += dout, db += dout. */
void residual_backward(float *da, float *db, const float *dout, size_t n);
/* The same with da = dout, db = dout (for gradients no earlier backward
 * wrote; their old contents are never read). */
void residual_backward_set(float *da, float *db, const float *dout, size_t n);

/* ---------------------------------------------------------------------
 * Used by tests only, beside the reference twins below: the plain
 * batch norm (the contracts dist.h and model.h refer to), eval-mode
 * batch norm and ReLU; production code calls the fused functions above.
 */

/* out [N, C, HW]; mean, invstd [C] (saved for backward); running_mean,
 * running_var [C] or both NULL; inp [N, C, HW]; gamma, beta [C] or NULL.
 * Training mode: normalises with the batch mean and biased variance,
 *   out = (inp - mean) * invstd * gamma + beta,  invstd = 1/sqrt(var + eps),
 * saves mean and invstd, and updates the running statistics as PyTorch
 * does: running = (1 - momentum) running + momentum batch, with the
 * unbiased variance var * M/(M-1), M = N*HW. */
void batchnorm_forward(float *out, float *mean, float *invstd, float *running_mean,
		       float *running_var, const float *inp, const float *gamma,
		       const float *beta, int N, int C, int HW, float eps, float momentum);

/* out [N, C, HW]; inp [N, C, HW]; gamma, beta [C] or NULL; running_mean,
 * running_var [C].  Eval mode: out = (inp - running_mean) /
 * sqrt(running_var + eps) * gamma + beta.  No backward (frozen). */
void batchnorm_forward_eval(float *out, const float *inp, const float *gamma,
			    const float *beta, const float *running_mean,
			    const float *running_var, int N, int C, int HW, float eps);

/* dinp [N, C, HW] or NULL; dgamma, dbeta [C] or NULL; dout, inp [N, C, HW];
 * gamma [C] or NULL; mean, invstd [C] as saved by batchnorm_forward().
 * Accumulates the training-mode gradients of
 *   out = (inp - mean) * invstd * gamma + beta
 * through mean and invstd too: with xhat = (inp - mean) invstd,
 *   dinp += gamma invstd (dout - mean(dout) - xhat mean(dout xhat)),
 *   dgamma += sum(dout xhat), dbeta += sum(dout). */
void batchnorm_backward(float *dinp, float *dgamma, float *dbeta, const float *dout,
			const float *inp, const float *gamma, const float *mean,
			const float *invstd, int N, int C, int HW);

/* ReLU: out = max(inp, 0); out, inp [n].  out may equal inp (in place). */
void relu_forward(float *out, const float *inp, size_t n);
/* dinp, dout, inp [n].  Differentiates out = inp > 0 ? inp : 0:
 * dinp += inp > 0 ? dout : 0.  inp may be forward's output instead of its
 * input (same sign test), so an in-place ReLU can still be differentiated. */
void relu_backward(float *dinp, const float *dout, const float *inp, size_t n);

/* ---------------------------------------------------------------------
 * Reference twins: the same contracts as above, naive loops in double,
 * for tests only (slow).  conv2d_*_ref need no workspace.
 */
void conv2d_forward_ref(float *out, const float *inp, const float *weight,
			const float *bias, const struct conv2d_dims *d);
void conv2d_backward_ref(float *dinp, float *dweight, float *dbias, const float *dout,
			 const float *inp, const float *weight,
			 const struct conv2d_dims *d);
void batchnorm_forward_ref(float *out, float *mean, float *invstd, float *running_mean,
			   float *running_var, const float *inp, const float *gamma,
			   const float *beta, int N, int C, int HW, float eps,
			   float momentum);
/* The textbook chain rule through var and mean (Ioffe & Szegedy 2015,
 * algorithm in section 3), not the fused form batchnorm_backward() uses. */
void batchnorm_backward_ref(float *dinp, float *dgamma, float *dbeta, const float *dout,
			    const float *inp, const float *gamma, const float *mean,
			    const float *invstd, int N, int C, int HW);
void prelu_forward_ref(float *out, const float *inp, const float *alpha, int N, int C,
		       int HW);
void prelu_backward_ref(float *dinp, float *dalpha, const float *dout, const float *inp,
			const float *alpha, int N, int C, int HW);
void maxpool_forward_ref(float *out, int32_t *argmax, const float *inp, int N, int C,
			 int H, int W, int k, int stride, int pad);
/* Finds each window's maximum again in inp instead of trusting an argmax. */
void maxpool_backward_ref(float *dinp, const float *dout, const float *inp, int N, int C,
			  int H, int W, int k, int stride, int pad);
void linear_forward_ref(float *out, const float *inp, const float *weight,
			const float *bias, int N, int IC, int OC);
void linear_backward_ref(float *dinp, float *dweight, float *dbias, const float *dout,
			 const float *inp, const float *weight, int N, int IC, int OC);

#endif
