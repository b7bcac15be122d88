/*
 * winograd.c: F(2x2, 3x3) and F(4x4, 3x3) convolution (Lavin & Gray 2016,
 * "Fast Algorithms for Convolutional Neural Networks", section 4).  See
 * winograd.h for the contracts.  F(2x2) is described first; F(4x4) is the
 * same scheme on 6x6 tiles (below, above weight_tiles4()).
 *
 * What and why.  IR-18 spends about 80% of its multiply-adds in 3x3,
 * stride-1, pad-1 convolutions with 64 to 512 channels, and the im2col +
 * sgemm path already runs them near the sgemm peak: only fewer
 * multiplications make them faster.  F(2x2, 3x3) computes each 2x2 block of
 * outputs from a 4x4 block of inputs with 16 multiplications per (input,
 * output) channel pair instead of 36.  (oneDNN, PyTorch's CPU backend, has
 * no Winograd kernel for AVX2, so this is ground PyTorch does not cover.)
 *
 * The formulas, in one dimension (y = A^T [(G g) . (B^T d)] gives the two
 * outputs y_u = sum_i g_i d_{u+i} of a 3-tap correlation on 4 inputs):
 *
 *   B^T = | 1  0 -1  0 |   G = | 1    0    0  |   A^T = | 1  1  1  0 |
 *         | 0  1  1  0 |       | 1/2  1/2  1/2 |         | 0  1 -1 -1 |
 *         | 0 -1  1  0 |       | 1/2 -1/2  1/2 |
 *         | 0  1  0 -1 |       | 0    0    1  |
 *
 * and in two by applying each on both indices.  With e = 4a + b one of the
 * 16 positions of a 4x4 transformed tile, t a tile, ci/o the channels:
 *
 *   forward   U[e][o][ci] = (G g[o][ci] G^T)[e]           (weights)
 *             V[e][ci][t] = (B^T d[ci][t] B)[e]           (input tiles)
 *             M[e] = U[e] . V[e]           16 sgemms [oc x c] . [c x tiles]
 *             y[o][t] = A^T M[.][o][t] A (+ bias)         (2x2 outputs)
 *   dinp      W[e][o][t] = (A dy[o][t] A^T)[e]            (the adjoint of A^T . A)
 *             dV[e] = U[e]^T . W[e]        16 sgemms [c x oc] . [oc x tiles]
 *             dinp tile += B dV[.][ci][t] B^T             (tiles overlap by 2)
 *   dweight   dU[e] = sum over chunks W[e] . V[e]^T   16 sgemms [oc x tiles] . [tiles x c]
 *             dweight[o][ci] += G^T dU[.][o][ci] G
 *
 * Tiles.  Output tile (ty, tx) is outputs [2ty, 2ty+2) x [2tx, 2tx+2); its
 * input tile starts one pixel up and left (the padding): rows 2ty-1 ..
 * 2ty+2.  An image has th x tw = ceil(h/2) x ceil(w/2) tiles; reads outside
 * the image are zeros (the padding, and past an odd edge), outputs past an
 * odd edge are not written, and their gradients are taken as zero, so the
 * partial tiles compute exactly the convolution.  The batch's tile rows
 * (image, ty) are processed in chunks of R whole rows, R*tw tiles: R
 * depends on the shape only (not on the batch), chosen so that the chunk's
 * V and M (16 (c + oc) R tw floats) stay within WINO_VM floats (8 MiB, a
 * quarter of this machine's L3 cache) and sgemms stay wide (at most
 * WINO_TMAX tiles); the forward's chunks are its threads' own
 * (local_rows(), "The threads"), and their size changes no sum.  The workspace is U, dU (16 oc c each; 16 MiB for
 * 512 x 512), V and M (or W); the transforms' few rows of scratch are on
 * the stack (w <= 1024).
 *
 * Set, not add (wino_backward_set(), for a dinp no earlier layer's
 * backward wrote).  Tile rows overlap by two input rows, and a plane's
 * tile rows are summed in order by one thread; so the rows a tile row
 * reaches first (rows 2ty+1 and 2ty+2, all of tile row 0's) are written
 * as 0 + their sum and the two it shares with the row above are added to.
 * The bytes are those of a cleared dinp and the adding pass (0 + x turns
 * -0 into +0 as the clearing did), without the memset of the whole
 * gradient on one thread before the call (model_backward's) nor a read of
 * its zeros.
 *
 * The transforms work on a tile row at once, in loops over tx that GCC
 * vectorises (omp simd): the input transform first combines the tile
 * row's four image rows column by column (unit stride), then reads that
 * at stride 2 (tile tx starts at column 2tx-1); the other transforms read
 * or write the 16 matrices as 16 unit-stride streams.  F(4x4)'s forward
 * transforms take short tile rows (under 16 tiles: maps under 64 wide) a
 * group at once (group4()), their steps along the rows one vector loop
 * over the group's 112 tiles: over one tile row of 7 or 14 tiles the
 * loop was all scalar remainder.  Every sum runs on
 * one thread in a fixed order, so the results are the same bytes from run
 * to run and for any thread count.
 *
 * Threads (see "The threads" below, above wino_forward()): one OpenMP
 * region per call, the forward's chunks each on one of its threads, the
 * backward's transforms' channels and the chunk's 16 sgemms shared among
 * them, OpenBLAS held to one thread meanwhile.  The
 * first version ran the transforms serially between two-thread sgemms;
 * an OpenMP loop in the transforms alone was no faster (OpenBLAS's
 * workers spun on the other core in sched_yield, 21% of a training
 * step's samples in perf), and the whole conv step of IR-18 went from
 * 96 to 124 GFLOP/s (1.29x) with the shared sgemms, hm-train from 5.4 to
 * 7.3 img/s.
 *
 * The products go to wgemm() (common/wgemm.c), an own AVX-512 / AVX2
 * kernel that reads U[e] in place and copies V[e] (or W[e]) once per
 * panel, where OpenBLAS copied both operands for every chunk (10% of
 * hm-embed's samples); it sums as OpenBLAS's SkylakeX kernel does, so on
 * that core the bytes are unchanged.  The backward's weight transform
 * writes U[e]^T, which dinp reads as given (see "The threads" below).
 *
 * Measured (AMD EPYC, 2 cores, 2 threads, OpenBLAS 0.3.21 Zen, batch 64,
 * forward + dinp + dweight, direct-convolution GFLOP per second, im2col ->
 * Winograd, in one process, interleaved; load 5-6 from other work, so only
 * the ratios mean much; bench/convstep.c "compare"):
 *   IR-18 64x112x112->64 53 -> 79, 64x56x56->64 52 -> 70, 64->128 @56
 *   58 -> 82, 128x28x28 61-65 -> 89-105, 256x14x14 59-67 -> 94-111,
 *   512x7x7 62-64 -> 81-90; the whole conv step 55 -> 74 (1.36x).
 *   Also faster at 16 and 32 channels (56x56: 1.9x and 1.3x; 112x112:
 *   1.6x and 1.3x), hence WINO_MIN_CH 16; narrower is untested, so it
 *   stays on im2col.
 *
 * Which tile.  F(4x4, 3x3) computes each 4x4 block of outputs from a 6x6
 * block of inputs with 36 multiplications per channel pair (2.25 per
 * output instead of F(2x2)'s 4, direct's 9), as 36 sgemms, but its
 * transforms have coefficients up to 8 and it is some 10 to 20 times less
 * accurate (below, "Error bound").  Each pass chooses (pass_m()):
 *   forward   F(4x4) on maps of 56x56 and more (IR-18's first stage);
 *             smaller ones keep F(2x2).  The forward error is what
 *             reaches a network's output, through the kinks of its
 *             PReLUs too: with F(4x4) on every forward layer from 8x8 up,
 *             ir18's training output against PyTorch float64
 *             (tests/ref/model_torch.py, batch 3) was 1.2e-4, over that
 *             test's 1e-4, and face18 at 64x64 put PReLU inputs on the
 *             other side of 0 (input gradient 1e-2); from 28x28 up 9.6e-5;
 *             from 56x56 up 6e-5 (F(2x2): 8.4e-6).
 *   inference (wino_weights(): the folded eval forwards, hm-embed) F(4x4)
 *             everywhere (from 7x7 up).  Without training's batch
 *             statistics the error stays small: ir18's folded eval output
 *             against PyTorch float64 (model_torch.py, 112x112, batch 3)
 *             7.2e-6 (F(4x4) from 28x28 up: 4.0e-6; model_torch.py allows
 *             1e-4), hm-embed's embeddings of 256 faces against F(4x4)
 *             from 28x28 up 6.1e-7 absolute on unit vectors
 *             (embed_torch.py allows 1e-4).  Speed (the eval forward of
 *             one layer at batch 64, one thread, CPU ms, medians of 5,
 *             F(2x2) -> F(4x4), load 3-4): 256x14x14 50 -> 41, 256->512
 *             at 14x14 94 -> 82, 512x7x7 58 -> 47.  (Measured before the
 *             transforms took short tile rows in groups (group4()), those
 *             layers were no faster with F(4x4): 82 -> 83, 91 -> 82, 88
 *             -> 76 forward GFLOP/s.)
 *   backward  (dinp and dweight) F(4x4) from 7x7 up, in one sweep over
 *             the tiles where U^T and dU (36 oc c floats each) fit the
 *             workspace bound side by side, else (IR-18's 512x512 layers
 *             at 7x7) in two, dinp then dweight, dU in U^T's place and
 *             the gradient tiles computed twice (one_sweep()).  At 7x7
 *             four 6x6 tiles cover 8x8 outputs, 144 multiplications per
 *             channel pair against F(2x2)'s 16 tiles of 16 (256):
 *             512x7x7->512 at batch 64, one thread, backward 192 -> 171
 *             ms (dinp 104 -> 97, dweight 93 -> 72).  Gradient errors do
 *             not compound through the kinks: ir18's worst gradient
 *             against PyTorch float64 is 1.6e-4 (bound 1e-3), with or
 *             without F(4x4) at 7x7.
 *   The training forward keeps F(2x2) below 56x56 (the error above).
 *   wino_set_tile() (HM_CONV=f2x2 in nn.c) forces one for every layer,
 *   for tests and A/B.
 *
 * Error bound.  The transforms' coefficients are 0, +-1 and +-1/2: B^T d
 * and A^T m add at most 3 terms each way (9 in 2d), G g 3 (exact halving),
 * so each transform adds a few rounding errors of relative size 2^-24
 * against the largest term; each sgemm entry sums 9x fewer products (c
 * instead of 9c), but of terms up to ~4x (input) times ~2.25x (weight)
 * larger than the plain products, which the output transform cancels.
 * Measured against conv2d_forward_ref() (double), the norm-wise relative
 * error max|diff| / max|ref| is at most 7.5e-7 for c up to 256 with
 * uniform inputs, forward, dinp and dweight (tests/unit/t-winograd.c
 * asserts 1e-5), the order of the im2col path's.  Whole networks
 * (tests/ref/model_torch.py against PyTorch float64), ir18 at B=3: dinp
 * 1.5e-5, worst parameter gradient 2.5e-5, output 8.4e-6 (HM_CONV=im2col:
 * 1.4e-5, 3.0e-5, 9.8e-6).
 *
 * F(4x4)'s B^T has coefficients up to 5 and A^T up to 8: its transformed
 * inputs and products are tens of times larger than the outputs they
 * cancel down to.  bench/winoerr.c, IR-18's layers at batch 1, uniform
 * inputs, max|diff| / max|ref| for im2col, F(2x2), F(4x4):
 *   forward  64@112 5.5e-7 3.5e-7 7.0e-6; 64@56 6.5e-7 3.4e-7 7.3e-6;
 *            128@28 6.3e-7 5.2e-7 8.8e-6; 256@14 4.9e-7 5.8e-7 1.7e-5;
 *            512@7 3.5e-7 6.3e-7 8.1e-6
 *   dinp     64@112 2.6e-7 3.4e-7 4.1e-6; 64@56 2.1e-7 3.3e-7 3.8e-6;
 *            128@28 3.3e-7 4.3e-7 4.6e-6; 256@14 3.6e-7 5.4e-7 6.6e-6
 *   dweight  64@112 4.9e-7 7.3e-7 1.1e-5; 64@56 4.4e-7 7.6e-7 7.1e-6;
 *            128@28 4.9e-7 5.9e-7 4.7e-6; 256@14 5.3e-7 5.2e-7 2.9e-6
 * (t-winograd.c asserts 5e-5 where F(4x4) runs, 1e-5 for F(2x2)).
 */
#include "winograd.h"
#include "blas.h"
#include "clones.h"
#include "nn.h"
#include "team.h"
#include "wgemm.h"

#include <cblas.h>
#include <string.h>

#define PRAGMA(x) _Pragma(#x)
/* Whole, so that the vector loop around it holds no loop. */
#define UNROLL PRAGMA(GCC unroll 8)
#ifdef _OPENMP
#define SIMD PRAGMA(omp simd)
/* A loop shared among the threads of the enclosing parallel region (run
 * whole by the caller outside one), in equal static parts. */
#define SHARED_FOR PRAGMA(omp for schedule(static))
#define PARALLEL PRAGMA(omp parallel)
#define BARRIER PRAGMA(omp barrier)
/* A loop whose iterations go to the threads as they come free. */
#define FREE_FOR PRAGMA(omp for schedule(dynamic))
#else
#define SIMD
#define SHARED_FOR
#define PARALLEL
#define BARRIER
#define FREE_FOR
#endif

/* Floats for a chunk's V and M together, and the widest chunk (tiles). */
#ifndef WINO_VM
#define WINO_VM ((size_t)2 << 20)
#endif
#define WINO_TMAX 1024
/* The forward's chunks, each on one thread (local_rows()): floats of its
 * V and M at most, and the fewest tiles. */
#ifndef WINO_LOCAL_VM
#define WINO_LOCAL_VM ((size_t)512 << 10)
#endif
#define WINO_LOCAL_NT 48
/* The workspace bound (floats), CONV_WORK_MAX in nn.c. */
#ifndef WINO_WORK_MAX
#define WINO_WORK_MAX ((size_t)12 << 20)
#endif
/* Narrower layers stay on im2col (see "Measured" above). */
#define WINO_MIN_CH 16
/* The widest tile row of F(2x2, 3x3) (w <= 2 WINO_TW_MAX): the transforms'
 * scratch rows live on each thread's stack.  F(4x4, 3x3) takes the same
 * widths (w <= 4 TW4_MAX). */
#define WINO_TW_MAX 512
#define SCRATCH (16 * (WINO_TW_MAX + 1))
#define TW4_MAX (WINO_TW_MAX / 2)
#define ZW4_MAX (4 * TW4_MAX + 2)
/* dweight's products take wgemm up to this many oc x c (U[e] of 128
 * KiB), OpenBLAS beyond (see "The threads" below). */
#define WINO_OWN_BACKWARD (128 * 256)
/* F(4x4, 3x3) from these map sizes up (see "Which tile" above). */
#define WINO4_MIN_FORWARD 56
#define WINO4_MIN_BACKWARD 7
#define WINO4_MIN_INFER 7

/* The transforms are compiled for AVX-512 and AVX2 besides the baseline
 * (CLONES, clones.h): their loops are unit-stride vector work, twice or
 * four times as wide, and every version computes the same bytes.
 * prelu_row()'s select needs NO_TRAP to vectorise. */

struct plan {
	int m;			/* outputs per tile side: 2 or 4 */
	int ne;			/* transformed tile elements: (m + 2)^2 */
	int th, tw;		/* tiles per image: rows, columns */
	int R;			/* tile rows per chunk */
	long rows;		/* tile rows of the batch, n*th */
	float *U, *dU, *V, *M;	/* workspace parts */
};

/* Tiles per image side for m outputs per tile. */
static int tiles(int len, int m)
{
	return (len + m - 1) / m;
}

static int tile_rows(const struct conv2d_dims *d, int m, int tw)
{
	const size_t ne = (size_t)(m + 2) * (m + 2);
	size_t cap = WINO_VM / (ne * ((size_t)d->c + d->oc));
	if (cap > WINO_TMAX)
		cap = WINO_TMAX;
	cap /= (size_t)tw;
	return cap < 1 ? 1 : (int)cap;
}

/*
 * The distance (floats) from one matrix e of U, dU, V or W to the next, n
 * floats each: whole 4 KiB pages and a cache line more.  The transforms
 * write (or read) all ne matrices at once, one stream each, and at a
 * distance of whole pages (U: oc c, V of a 7x7 map: c 128 tiles, powers
 * of two) those streams fall in one set of the 8-way L1 cache and evict
 * each other line by line.  The forward's M stays packed (n apart):
 * output_tiles() reads it.
 */
static size_t mat_stride(size_t n)
{
	return (n + 1023) / 1024 * 1024 + 16;
}

/* Floats of workspace for F(m x m, 3x3): U (and dU with `both`, the
 * backward's dinp and dweight in one sweep), V, M. */
static size_t workspace(const struct conv2d_dims *d, int m, int both)
{
	const size_t ne = (size_t)(m + 2) * (m + 2), tw = (size_t)tiles(d->w, m);
	const size_t R = (size_t)tile_rows(d, m, (int)tw);
	return ne * ((both ? 2 : 1) * mat_stride((size_t)d->oc * d->c) +
		     mat_stride((size_t)d->c * R * tw) + mat_stride((size_t)d->oc * R * tw));
}

int wino_applies(const struct conv2d_dims *d)
{
	return d->k == 3 && d->stride == 1 && d->pad == 1 && d->c >= WINO_MIN_CH &&
	       d->oc >= WINO_MIN_CH && d->h >= 1 && d->w >= 1 && d->w <= 2 * WINO_TW_MAX &&
	       workspace(d, 2, 1) <= WINO_WORK_MAX;
}

/* 0 automatic, else the m every pass takes (wino_set_tile()). */
static int forced_m;

void wino_set_tile(int m)
{
	forced_m = m == 2 || m == 4 ? m : 0;
}

/* The passes: their tile choices differ (see "Which tile" above). */
enum pass { FORWARD, BACKWARD, INFER };

/* The backward runs dinp and dweight in one sweep over the tiles where U^T
 * and dU fit the bound side by side, else in two, dU taking U^T's place
 * (see backward()). */
static int one_sweep(const struct conv2d_dims *d, int m)
{
	return workspace(d, m, 1) <= WINO_WORK_MAX;
}

/* The pass's workspace with tile m. */
static size_t pass_workspace(const struct conv2d_dims *d, int m, enum pass pass)
{
	return workspace(d, m, pass == BACKWARD && one_sweep(d, m));
}

/* F(4x4, 3x3) fits the workspace bound for the pass. */
static int fits4(const struct conv2d_dims *d, enum pass pass)
{
	return pass_workspace(d, 4, pass) <= WINO_WORK_MAX;
}

/* The m the pass takes (see "Which tile" above). */
static int pass_m(const struct conv2d_dims *d, enum pass pass)
{
	const int least = pass == BACKWARD ? WINO4_MIN_BACKWARD
			: pass == INFER	   ? WINO4_MIN_INFER
					   : WINO4_MIN_FORWARD;
	if (forced_m)
		return forced_m == 4 && fits4(d, pass) ? 4 : 2;
	return fits4(d, pass) && d->h >= least && d->w >= least ? 4 : 2;
}

int wino_tile(const struct conv2d_dims *d, int backward)
{
	return pass_m(d, backward ? BACKWARD : FORWARD);
}

size_t wino_workspace(const struct conv2d_dims *d)
{
	size_t ws = workspace(d, 2, 1);
	for (int b = 0; b < 2; b++)
		if (fits4(d, b ? BACKWARD : FORWARD) &&
		    pass_workspace(d, 4, b ? BACKWARD : FORWARD) > ws)
			ws = pass_workspace(d, 4, b ? BACKWARD : FORWARD);
	return ws;
}

static void plan_init(struct plan *p, float *work, const struct conv2d_dims *d, int m,
		      int both)
{
	p->m = m, p->ne = (m + 2) * (m + 2);
	const size_t uc = (size_t)p->ne * mat_stride((size_t)d->oc * d->c);
	p->th = tiles(d->h, m), p->tw = tiles(d->w, m);
	p->R = tile_rows(d, m, p->tw);
	p->rows = (long)d->n * p->th;
	p->U = work, p->dU = both ? work + uc : work, p->V = work + (both ? 2 : 1) * uc;
	p->M = p->V + (size_t)p->ne * mat_stride((size_t)d->c * p->R * p->tw);
}

/*
 * The weight transforms write U[e] a row at a time, the row's entries a
 * vector loop over its weights: row o of U[e] from weights [o][0..c), or
 * with tr (the backward's U[e]^T) row ci from weights [0..oc)[ci].  The
 * stores are unit stride (scattered to the transposed place one float at
 * a time, a line was filled over 16 rows' visits, fetched again each
 * time) and the weights are gathered, 9 c floats apart with tr.
 */
struct wrows {
	int rows, cols;		/* of U[e] */
	size_t rs, cs;		/* floats from weight to weight: row, column */
};

static struct wrows weight_rows(const struct conv2d_dims *d, int tr)
{
	if (tr)
		return (struct wrows){ d->c, d->oc, 9, (size_t)9 * d->c };
	return (struct wrows){ d->oc, d->c, (size_t)9 * d->c, 9 };
}

/* U [16][oc][c] (tr: [16][c][oc]) = G g G^T for every weight g [3][3]. */
CLONES static void weight_tiles(float *U, const float *weight, const struct conv2d_dims *d,
				int tr)
{
	const size_t es = mat_stride((size_t)d->oc * d->c);
	const struct wrows wr = weight_rows(d, tr);

	SHARED_FOR
	for (int r = 0; r < wr.rows; r++) {
		const float *gr = weight + r * wr.rs;
		float *ur = U + (size_t)r * wr.cols;
		SIMD
		for (int x = 0; x < wr.cols; x++) {
			const float *g = gr + x * wr.cs;
			float t[4][3];
			UNROLL
			for (int q = 0; q < 3; q++) {
				t[0][q] = g[q];
				t[1][q] = 0.5f * (g[q] + g[3 + q] + g[6 + q]);
				t[2][q] = 0.5f * (g[q] - g[3 + q] + g[6 + q]);
				t[3][q] = g[6 + q];
			}
			UNROLL
			for (int a = 0; a < 4; a++) {
				float *u = ur + x + (size_t)(4 * a) * es;
				u[0] = t[a][0];
				u[es] = 0.5f * (t[a][0] + t[a][1] + t[a][2]);
				u[2 * es] = 0.5f * (t[a][0] - t[a][1] + t[a][2]);
				u[3 * es] = t[a][2];
			}
		}
	}
}

/* dweight [oc][c][3][3] += G^T dU G. */
CLONES static void dweight_add(float *dweight, const float *dU, const struct conv2d_dims *d)
{
	const size_t n = (size_t)d->oc * d->c, es = mat_stride(n);

	SHARED_FOR
	for (size_t oc = 0; oc < n; oc++) {
		float t[3][4], *dw = dweight + oc * 9;
		for (int j = 0; j < 4; j++) {
			const float x0 = dU[j * es + oc], x1 = dU[(4 + j) * es + oc];
			const float x2 = dU[(8 + j) * es + oc], x3 = dU[(12 + j) * es + oc];
			t[0][j] = x0 + 0.5f * (x1 + x2);
			t[1][j] = 0.5f * (x1 - x2);
			t[2][j] = 0.5f * (x1 + x2) + x3;
		}
		for (int a = 0; a < 3; a++) {
			dw[3 * a + 0] += t[a][0] + 0.5f * (t[a][1] + t[a][2]);
			dw[3 * a + 1] += 0.5f * (t[a][1] - t[a][2]);
			dw[3 * a + 2] += 0.5f * (t[a][1] + t[a][2]) + t[a][3];
		}
	}
}

/* Row y of plane [h][w], or the zero row when y is outside the image. */
static const float *row_or_zero(const float *plane, int y, int h, int w, const float *zero)
{
	return y < 0 || y >= h ? zero : plane + (size_t)y * w;
}

/* V [16][c][nt] = B^T d B for the input tiles of tile rows [q0, q1), nt =
 * (q1 - q0) tw: channels [c0, c1) of it. */
CLONES static void input_tiles(float *V, const float *inp, const struct conv2d_dims *d,
			const struct plan *p, long q0, long q1, int c0, int c1)
{
	const int tw = p->tw, h = d->h, w = d->w;
	const size_t tw2 = 2 * (size_t)tw + 2, nt = (size_t)(q1 - q0) * tw;
	const size_t es = mat_stride((size_t)d->c * nt), hw = (size_t)h * w;

	for (int ci = c0; ci < c1; ci++) {
		/* z_i[x + 1] = (B^T applied down the tile's four rows)_i at column x;
		 * columns -1 and w, w + 1 (past an odd edge) stay zero */
		float s[SCRATCH];
		float *zero = s, *z[4] = { s + tw2, s + 2 * tw2, s + 3 * tw2, s + 4 * tw2 };
		memset(s, 0, 5 * tw2 * sizeof *s);
		for (long q = q0; q < q1; q++) {
			const long img = q / p->th;
			const int ty = (int)(q % p->th);
			const float *plane = inp + ((size_t)img * d->c + ci) * hw;
			const float *r0 = row_or_zero(plane, 2 * ty - 1, h, w, zero);
			const float *r1 = row_or_zero(plane, 2 * ty, h, w, zero);
			const float *r2 = row_or_zero(plane, 2 * ty + 1, h, w, zero);
			const float *r3 = row_or_zero(plane, 2 * ty + 2, h, w, zero);
			float *z0 = z[0] + 1, *z1 = z[1] + 1, *z2 = z[2] + 1, *z3 = z[3] + 1;
			SIMD
			for (int x = 0; x < w; x++) {
				z0[x] = r0[x] - r2[x];
				z1[x] = r1[x] + r2[x];
				z2[x] = r2[x] - r1[x];
				z3[x] = r1[x] - r3[x];
			}
			/* along the row: tile tx reads columns 2tx-1 .. 2tx+2, z_i[2tx ..] */
			float *v = V + (size_t)ci * nt + (size_t)(q - q0) * tw;
			for (int i = 0; i < 4; i++) {
				const float *zi = z[i];
				float *v0 = v + (4 * i) * es, *v1 = v0 + es, *v2 = v1 + es, *v3 = v2 + es;
				SIMD
				for (int tx = 0; tx < tw; tx++) {
					v0[tx] = zi[2 * tx] - zi[2 * tx + 2];
					v1[tx] = zi[2 * tx + 1] + zi[2 * tx + 2];
					v2[tx] = zi[2 * tx + 2] - zi[2 * tx + 1];
					v3[tx] = zi[2 * tx + 1] - zi[2 * tx + 3];
				}
			}
		}
	}
}

/* The four outputs A^T m A of tile tx (m[e * es + tx], e = 4a + b). */
#define M_(e) m[(size_t)(e) * es + tx]
#define OUT_TILE                                                                   \
	const float a0 = M_(0) + M_(4) + M_(8), a1 = M_(1) + M_(5) + M_(9);        \
	const float a2 = M_(2) + M_(6) + M_(10), a3 = M_(3) + M_(7) + M_(11);      \
	const float c0 = M_(4) - M_(8) - M_(12), c1 = M_(5) - M_(9) - M_(13);      \
	const float c2 = M_(6) - M_(10) - M_(14), c3 = M_(7) - M_(11) - M_(15);    \
	const float y00 = a0 + a1 + a2 + b, y01 = a1 - a2 - a3 + b;                \
	const float y10 = c0 + c1 + c2 + b, y11 = c1 - c2 - c3 + b

/* row [n] = its PReLU with slope a, in place: the float operations of
 * nn.c's separate pass (channel_affine_prelu() with no scale and shift: z
 * = y 1 + 0, then z or a z), so that the fused output is that pass's
 * bytes.  Run on each output row just written, in the L1 cache. */
CLONES NO_TRAP static void prelu_row(float *row, float a, int n)
{
	SIMD
	for (int x = 0; x < n; x++) {
		const float z = row[x] + 0.0f, neg = a * z;
		row[x] = z > 0 ? z : neg;
	}
}

/* dst [n] = the PReLU of src [n], the operations of prelu_row(). */
CLONES NO_TRAP static void prelu_copy(float *restrict dst, const float *restrict src, float a,
				      int n)
{
	SIMD
	for (int x = 0; x < n; x++) {
		const float z = src[x] + 0.0f, neg = a * z;
		dst[x] = z > 0 ? z : neg;
	}
}

/* out [n][oc][h][w], tile rows [q0, q1) = A^T M A + bias, then the PReLU
 * with slopes alpha [oc] unless NULL (s: where row 2ty+1 goes when it is
 * past the image): channels [olo, ohi) of it. */
CLONES static void output_tiles(float *out, const float *M, const float *bias,
				const float *alpha, const struct conv2d_dims *d,
				const struct plan *p, long q0, long q1, int olo, int ohi)
{
	const int tw = p->tw, h = d->h, w = d->w, full = w / 2;
	const size_t nt = (size_t)(q1 - q0) * tw, es = (size_t)d->oc * nt, hw = (size_t)h * w;

	for (int o = olo; o < ohi; o++) {
		const float b = bias ? bias[o] : 0.0f;
		float s[2 * WINO_TW_MAX];
		for (long q = q0; q < q1; q++) {
			const long img = q / p->th;
			const int ty = (int)(q % p->th);
			const float *m = M + (size_t)o * nt + (size_t)(q - q0) * tw;
			float *r0 = out + ((size_t)img * d->oc + o) * hw + (size_t)(2 * ty) * w;
			float *r1 = 2 * ty + 1 < h ? r0 + w : s;
			SIMD
			for (int tx = 0; tx < full; tx++) {
				OUT_TILE;
				r0[2 * tx] = y00;
				r0[2 * tx + 1] = y01;
				r1[2 * tx] = y10;
				r1[2 * tx + 1] = y11;
			}
			for (int tx = full; tx < tw; tx++) {	/* odd w: one column */
				OUT_TILE;
				(void)y01, (void)y11;
				r0[2 * tx] = y00;
				r1[2 * tx] = y10;
			}
			if (alpha)	/* rows 2ty and 2ty+1 are consecutive */
				prelu_row(r0, alpha[o], r1 != s ? 2 * w : w);
		}
	}
}

/* W = A dy A^T for tile tx from its gradients a b / c dd (rows 2ty, 2ty+1). */
#define W_(e) wt[(size_t)(e) * es + tx]
#define GRAD_TILE(a, b, c, dd)                                                     \
	do {                                                                       \
		const float u1 = (a) + (c), v1 = (b) + (dd), u2 = (a) - (c), v2 = (b) - (dd); \
		W_(0) = (a), W_(1) = (a) + (b), W_(2) = (a) - (b), W_(3) = -(b);    \
		W_(4) = u1, W_(5) = u1 + v1, W_(6) = u1 - v1, W_(7) = -v1;           \
		W_(8) = u2, W_(9) = u2 + v2, W_(10) = u2 - v2, W_(11) = -v2;         \
		W_(12) = -(c), W_(13) = -(c) - (dd), W_(14) = (dd) - (c), W_(15) = (dd); \
	} while (0)

/* W [16][oc][nt] = A dy A^T for the output tiles of tile rows [q0, q1),
 * gradients past the image's edge taken as zero. */
CLONES static void grad_tiles(float *W, const float *dout, const struct conv2d_dims *d,
		       const struct plan *p, long q0, long q1)
{
	const int tw = p->tw, h = d->h, w = d->w, full = w / 2;
	const size_t nt = (size_t)(q1 - q0) * tw, es = mat_stride((size_t)d->oc * nt), hw = (size_t)h * w;

	SHARED_FOR
	for (int o = 0; o < d->oc; o++) {
		float zero[2 * WINO_TW_MAX + 2];
		memset(zero, 0, (2 * (size_t)tw + 2) * sizeof *zero);
		for (long q = q0; q < q1; q++) {
			const long img = q / p->th;
			const int ty = (int)(q % p->th);
			const float *plane = dout + ((size_t)img * d->oc + o) * hw;
			const float *r0 = plane + (size_t)(2 * ty) * w;
			const float *r1 = row_or_zero(plane, 2 * ty + 1, h, w, zero);
			float *wt = W + (size_t)o * nt + (size_t)(q - q0) * tw;
			SIMD
			for (int tx = 0; tx < full; tx++) {
				const float a = r0[2 * tx], b = r0[2 * tx + 1];
				const float c = r1[2 * tx], dd = r1[2 * tx + 1];
				GRAD_TILE(a, b, c, dd);
			}
			for (int tx = full; tx < tw; tx++) {	/* odd w: column 2tx+1 is past the edge */
				const float a = r0[2 * tx], c = r1[2 * tx], b = 0.0f, dd = 0.0f;
				GRAD_TILE(a, b, c, dd);
			}
		}
	}
}

/* dinp [n][c][h][w] += B dV B^T for the input tiles of tile rows [q0, q1),
 * dropping what falls on the padding.  SET: the rows a tile row reaches
 * first (all of tile row 0's, rows 2 and 3 of the others') are written as
 * 0 + the sum, what a cleared dinp would hold (-0 becomes +0). */
CLONES static void dinput_tiles(float *dinp, const float *dV, const struct conv2d_dims *d,
			 const struct plan *p, long q0, long q1, int set)
{
	const int tw = p->tw, h = d->h, w = d->w;
	const size_t tw1 = (size_t)tw + 1, nt = (size_t)(q1 - q0) * tw;
	const size_t es = mat_stride((size_t)d->c * nt), hw = (size_t)h * w;

	SHARED_FOR
	for (int ci = 0; ci < d->c; ci++) {
		float s[SCRATCH];
		for (long q = q0; q < q1; q++) {
			const long img = q / p->th;
			const int ty = (int)(q % p->th);
			const float *v = dV + (size_t)ci * nt + (size_t)(q - q0) * tw;
			float *plane = dinp + ((size_t)img * d->c + ci) * hw;
			/* B x = (x0, x1 - x2 + x3, x1 + x2 - x0, -x3), first down the
			 * columns (z[4a + j] for row a), then along the rows in place */
			for (int j = 0; j < 4; j++) {
				const float *x0 = v + j * es, *x1 = x0 + 4 * es, *x2 = x1 + 4 * es;
				const float *x3 = x2 + 4 * es;
				float *z0 = s + j * tw1, *z1 = z0 + 4 * tw1, *z2 = z1 + 4 * tw1;
				float *z3 = z2 + 4 * tw1;
				SIMD
				for (int tx = 0; tx < tw; tx++) {
					z0[tx] = x0[tx];
					z1[tx] = x1[tx] - x2[tx] + x3[tx];
					z2[tx] = x1[tx] + x2[tx] - x0[tx];
					z3[tx] = -x3[tx];
				}
			}
			for (int i = 0; i < 4; i++) {
				float *z0 = s + 4 * i * tw1, *z1 = z0 + tw1, *z2 = z1 + tw1, *z3 = z2 + tw1;
				SIMD
				for (int tx = 0; tx < tw; tx++) {
					const float x0 = z0[tx], x1 = z1[tx], x2 = z2[tx], x3 = z3[tx];
					z1[tx] = x1 - x2 + x3;
					z2[tx] = x1 + x2 - x0;
					z3[tx] = -x3;
				}
				/* row 2ty-1+i: column 2k-1 gets z0[k] + z2[k-1], column 2k
				 * gets z1[k] + z3[k-1]; column -1 (padding) is dropped */
				const int y = 2 * ty - 1 + i;
				if (y < 0 || y >= h)
					continue;
				float *row = plane + (size_t)y * w;
				if (set && (ty == 0 || i >= 2)) {
					row[0] = 0.0f + z1[0];
					SIMD
					for (int k = 1; k < tw; k++) {
						row[2 * k - 1] = 0.0f + (z0[k] + z2[k - 1]);
						row[2 * k] = 0.0f + (z1[k] + z3[k - 1]);
					}
					if (2 * tw - 1 < w)
						row[2 * tw - 1] = 0.0f + z2[tw - 1];
					continue;
				}
				row[0] += z1[0];
				SIMD
				for (int k = 1; k < tw; k++) {
					row[2 * k - 1] += z0[k] + z2[k - 1];
					row[2 * k] += z1[k] + z3[k - 1];
				}
				if (2 * tw - 1 < w)
					row[2 * tw - 1] += z2[tw - 1];
			}
		}
	}
}

/*
 * F(4x4, 3x3): 6x6 tiles, 36 sgemms.  In one dimension, on the points 0,
 * 1, -1, 2, -2 and infinity (Lavin & Gray's matrices):
 *
 *   B^T = | 4  0 -5  0  1  0 |   G = |  1/4     0     0  |   A^T = | 1  1  1  1  1  0 |
 *         | 0 -4 -4  1  1  0 |       | -1/6  -1/6  -1/6  |         | 0  1 -1  2 -2  0 |
 *         | 0  4 -4 -1  1  0 |       | -1/6   1/6  -1/6  |         | 0  1  1  4  4  0 |
 *         | 0 -2 -1  2  1  0 |       |  1/24  1/12  1/6  |         | 0  1 -1  8 -8  1 |
 *         | 0  2 -1 -2  1  0 |       |  1/24 -1/12  1/6  |
 *         | 0  4  0 -5  0  1 |       |  0     0     1    |
 *
 * Output tile (ty, tx) is outputs [4ty, 4ty+4) x [4tx, 4tx+4), its input
 * tile rows and columns 4ty-1 .. 4ty+4: neighbouring input tiles overlap
 * by two.  Each 2-d transform applies the 1-d one down the columns (unit
 * stride over the image row or the tiles), then along the rows.
 */

/* B^T x: o0..o5 from x0..x5 (6 inputs, 6 outputs). */
#define BT6(o, x)                                                                  \
	do {                                                                       \
		o##0 = 4.0f * x##0 - 5.0f * x##2 + x##4;                           \
		o##1 = (x##3 + x##4) - 4.0f * (x##1 + x##2);                       \
		o##2 = (x##4 - x##3) + 4.0f * (x##1 - x##2);                       \
		o##3 = (x##4 - x##2) + 2.0f * (x##3 - x##1);                       \
		o##4 = (x##4 - x##2) - 2.0f * (x##3 - x##1);                       \
		o##5 = 4.0f * x##1 - 5.0f * x##3 + x##5;                           \
	} while (0)

/* B x (the transpose): o0..o5 from x0..x5. */
#define B6(o, x)                                                                   \
	do {                                                                       \
		o##0 = 4.0f * x##0;                                                \
		o##1 = 4.0f * (x##2 - x##1 + x##5) + 2.0f * (x##4 - x##3);         \
		o##2 = -5.0f * x##0 - 4.0f * (x##1 + x##2) - (x##3 + x##4);        \
		o##3 = (x##1 - x##2) + 2.0f * (x##3 - x##4) - 5.0f * x##5;         \
		o##4 = x##0 + x##1 + x##2 + x##3 + x##4;                           \
		o##5 = x##5;                                                       \
	} while (0)

/* A^T m: o0..o3 from m0..m5. */
#define AT6(o, x)                                                                  \
	do {                                                                       \
		const float s12_ = x##1 + x##2, d12_ = x##1 - x##2;                \
		const float s34_ = x##3 + x##4, d34_ = x##3 - x##4;                \
		o##0 = x##0 + s12_ + s34_;                                         \
		o##1 = d12_ + 2.0f * d34_;                                         \
		o##2 = s12_ + 4.0f * s34_;                                         \
		o##3 = d12_ + 8.0f * d34_ + x##5;                                  \
	} while (0)

/* A y (the transpose): o0..o5 from y0..y3. */
#define A6(o, x)                                                                   \
	do {                                                                       \
		const float s02_ = x##0 + x##2, s13_ = x##1 + x##3;                \
		const float p_ = x##0 + 4.0f * x##2, q_ = 2.0f * x##1 + 8.0f * x##3; \
		o##0 = x##0;                                                       \
		o##1 = s02_ + s13_;                                                \
		o##2 = s02_ - s13_;                                                \
		o##3 = p_ + q_;                                                    \
		o##4 = p_ - q_;                                                    \
		o##5 = x##3;                                                       \
	} while (0)

/* G g: o0..o5 from g0..g2. */
#define G6(o, x)                                                                   \
	do {                                                                       \
		o##0 = 0.25f * x##0;                                               \
		o##1 = (-1.0f / 6) * (x##0 + x##1 + x##2);                         \
		o##2 = (-1.0f / 6) * (x##0 - x##1 + x##2);                         \
		o##3 = (1.0f / 24) * x##0 + (1.0f / 12) * x##1 + (1.0f / 6) * x##2; \
		o##4 = (1.0f / 24) * x##0 - (1.0f / 12) * x##1 + (1.0f / 6) * x##2; \
		o##5 = x##2;                                                       \
	} while (0)

/* G^T u: o0..o2 from u0..u5. */
#define GT6(o, x)                                                                  \
	do {                                                                       \
		const float s12_ = x##1 + x##2, s34_ = x##3 + x##4;                \
		o##0 = 0.25f * x##0 - (1.0f / 6) * s12_ + (1.0f / 24) * s34_;      \
		o##1 = (1.0f / 6) * (x##2 - x##1) + (1.0f / 12) * (x##3 - x##4);   \
		o##2 = (1.0f / 6) * (s34_ - s12_) + x##5;                          \
	} while (0)

/* U [36][oc][c] (tr: [36][c][oc]) = G g G^T for every weight g [3][3]
 * (by rows, as weight_tiles()). */
CLONES static void weight_tiles4(float *U, const float *weight, const struct conv2d_dims *d,
				 int tr)
{
	const size_t es = mat_stride((size_t)d->oc * d->c);
	const struct wrows wr = weight_rows(d, tr);

	SHARED_FOR
	for (int r = 0; r < wr.rows; r++) {
		const float *gr = weight + r * wr.rs;
		float *ur = U + (size_t)r * wr.cols;
		SIMD
		for (int x = 0; x < wr.cols; x++) {
			const float *g = gr + x * wr.cs;
			float t[6][3];
			UNROLL
			for (int q = 0; q < 3; q++) {
				const float x0 = g[q], x1 = g[3 + q], x2 = g[6 + q];
				float o0, o1, o2, o3, o4, o5;
				G6(o, x);
				t[0][q] = o0, t[1][q] = o1, t[2][q] = o2;
				t[3][q] = o3, t[4][q] = o4, t[5][q] = o5;
			}
			UNROLL
			for (int a = 0; a < 6; a++) {
				const float x0 = t[a][0], x1 = t[a][1], x2 = t[a][2];
				float o0, o1, o2, o3, o4, o5;
				G6(o, x);
				float *u = ur + x + (size_t)(6 * a) * es;
				u[0] = o0, u[es] = o1, u[2 * es] = o2;
				u[3 * es] = o3, u[4 * es] = o4, u[5 * es] = o5;
			}
		}
	}
}

/* dweight [oc][c][3][3] += G^T dU G. */
CLONES static void dweight_add4(float *dweight, const float *dU, const struct conv2d_dims *d)
{
	const size_t n = (size_t)d->oc * d->c, es = mat_stride(n);

	SHARED_FOR
	for (size_t oc = 0; oc < n; oc++) {
		float t[3][6], *dw = dweight + oc * 9;
		for (int j = 0; j < 6; j++) {
			const float *u = dU + (size_t)j * es + oc;
			const float x0 = u[0], x1 = u[6 * es], x2 = u[12 * es];
			const float x3 = u[18 * es], x4 = u[24 * es], x5 = u[30 * es];
			float o0, o1, o2;
			GT6(o, x);
			t[0][j] = o0, t[1][j] = o1, t[2][j] = o2;
		}
		for (int a = 0; a < 3; a++) {
			const float x0 = t[a][0], x1 = t[a][1], x2 = t[a][2];
			const float x3 = t[a][3], x4 = t[a][4], x5 = t[a][5];
			float o0, o1, o2;
			GT6(o, x);
			dw[3 * a] += o0, dw[3 * a + 1] += o1, dw[3 * a + 2] += o2;
		}
	}
}

/* Tile row q's image and tile row index. */
#define TILE_ROW(q, p) const long img = (q) / (p)->th; const int ty = (int)((q) % (p)->th)

/* The tile rows the F(4x4) forward transforms take at once (a group):
 * their steps along the rows run over the group's tiles in one vector
 * loop, 112 of them (7 vectors of 16) where the tile rows are short, so
 * that the loop is not mostly its scalar remainder (a 28x28 map's tile
 * row is 7 tiles: GCC's 16-wide loop ran none of them in vectors). */
#define GROUP4_TILES 112

static int group4(int tw)
{
	return tw < 16 ? GROUP4_TILES / tw : 1;
}

/* The widest group (tiles). */
#define GT4_MAX (TW4_MAX > GROUP4_TILES ? TW4_MAX : GROUP4_TILES)

/* V [36][c][nt] = B^T d B for the input tiles of tile rows [q0, q1):
 * channels [c0, c1) of it. */
CLONES static void input_tiles4(float *V, const float *inp, const struct conv2d_dims *d,
			 const struct plan *p, long q0, long q1, int c0, int c1)
{
	const int tw = p->tw, h = d->h, w = d->w, G = group4(tw);
	const size_t zw = 4 * (size_t)tw + 4, nt = (size_t)(q1 - q0) * tw;
	const size_t es = mat_stride((size_t)d->c * nt), hw = (size_t)h * w;

	for (int ci = c0; ci < c1; ci++) {
		/* z_i[x + 1] = (B^T down a tile row's six rows)_i at column x;
		 * columns -1 and w .. 4tw + 2 stay zero.  Tile t of the group
		 * reads columns 4tx-1 .. 4tx+2 from a_i[4t ..] (z_i[0 .. 4tw)
		 * of each of its tile rows in turn) and 4tx+3, 4tx+4 from
		 * b_i[4t ..] (z_i[4 .. 4tw + 4)). */
		float s[7 * (4 * TW4_MAX + 4)];
		float a[6][4 * GT4_MAX + 4], b[6][4 * GT4_MAX + 4];
		float *zero = s, *z = s + zw;
		memset(s, 0, 7 * zw * sizeof *s);
		for (long g0 = q0; g0 < q1; g0 += G) {
			const long g1 = g0 + G < q1 ? g0 + G : q1;
			const int gt = (int)(g1 - g0) * tw;
			for (long q = g0; q < g1; q++) {
				TILE_ROW(q, p);
				const float *plane = inp + ((size_t)img * d->c + ci) * hw;
				const int y = 4 * ty - 1;
				const float *r0 = row_or_zero(plane, y, h, w, zero);
				const float *r1 = row_or_zero(plane, y + 1, h, w, zero);
				const float *r2 = row_or_zero(plane, y + 2, h, w, zero);
				const float *r3 = row_or_zero(plane, y + 3, h, w, zero);
				const float *r4 = row_or_zero(plane, y + 4, h, w, zero);
				const float *r5 = row_or_zero(plane, y + 5, h, w, zero);
				float *z0 = z + 1, *z1 = z0 + zw, *z2 = z1 + zw, *z3 = z2 + zw;
				float *z4 = z3 + zw, *z5 = z4 + zw;
				SIMD
				for (int x = 0; x < w; x++) {
					const float x0 = r0[x], x1 = r1[x], x2 = r2[x];
					const float x3 = r3[x], x4 = r4[x], x5 = r5[x];
					float o0, o1, o2, o3, o4, o5;
					BT6(o, x);
					z0[x] = o0, z1[x] = o1, z2[x] = o2;
					z3[x] = o3, z4[x] = o4, z5[x] = o5;
				}
				const size_t at = 4 * (size_t)(q - g0) * tw;
				for (int i = 0; G > 1 && i < 6; i++) {
					memcpy(a[i] + at, z + i * zw, 4 * (size_t)tw * sizeof *z);
					memcpy(b[i] + at, z + i * zw + 4, 4 * (size_t)tw * sizeof *z);
				}
			}
			/* along the rows */
			float *v = V + (size_t)ci * nt + (size_t)(g0 - q0) * tw;
			for (int i = 0; i < 6; i++) {
				const float *ai = G > 1 ? a[i] : z + i * zw;
				const float *bi = G > 1 ? b[i] : z + i * zw + 4;
				float *v0 = v + (size_t)(6 * i) * es, *v1 = v0 + es, *v2 = v1 + es;
				float *v3 = v2 + es, *v4 = v3 + es, *v5 = v4 + es;
				SIMD
				for (int t = 0; t < gt; t++) {
					const float x0 = ai[4 * t], x1 = ai[4 * t + 1];
					const float x2 = ai[4 * t + 2], x3 = ai[4 * t + 3];
					const float x4 = bi[4 * t], x5 = bi[4 * t + 1];
					float o0, o1, o2, o3, o4, o5;
					BT6(o, x);
					v0[t] = o0, v1[t] = o1, v2[t] = o2;
					v3[t] = o3, v4[t] = o4, v5[t] = o5;
				}
			}
		}
	}
}

/* out [n][oc][h][w], tile rows [q0, q1) = A^T M A + bias, then the PReLU
 * with slopes alpha [oc] unless NULL: channels [olo, ohi) of it.  By
 * groups of tile rows (group4()): the second step writes the group's
 * output rows i side by side, r_i[4t + j] for output column j of tile t,
 * which are copied to their rows (the PReLU applied in that copy). */
CLONES static void output_tiles4(float *out, const float *M, const float *bias,
				 const float *alpha, const struct conv2d_dims *d,
				 const struct plan *p, long q0, long q1, int olo, int ohi)
{
	const int tw = p->tw, h = d->h, w = d->w, G = group4(tw);
	const size_t nt = (size_t)(q1 - q0) * tw, es = (size_t)d->oc * nt, hw = (size_t)h * w;

	for (int o = olo; o < ohi; o++) {
		const float b = bias ? bias[o] : 0.0f;
		float s[24 * GT4_MAX];	/* t[i][j][t], A^T applied down the columns */
		float r[4][4 * GT4_MAX];
		for (long g0 = q0; g0 < q1; g0 += G) {
			const long g1 = g0 + G < q1 ? g0 + G : q1;
			const int gt = (int)(g1 - g0) * tw;
			const float *m = M + (size_t)o * nt + (size_t)(g0 - q0) * tw;
			for (int j = 0; j < 6; j++) {
				const float *m0 = m + (size_t)j * es, *m1 = m0 + 6 * es;
				const float *m2 = m1 + 6 * es, *m3 = m2 + 6 * es;
				const float *m4 = m3 + 6 * es, *m5 = m4 + 6 * es;
				float *t0 = s + (size_t)j * gt, *t1 = t0 + 6 * gt;
				float *t2 = t1 + 6 * gt, *t3 = t2 + 6 * gt;
				SIMD
				for (int t = 0; t < gt; t++) {
					const float x0 = m0[t], x1 = m1[t], x2 = m2[t];
					const float x3 = m3[t], x4 = m4[t], x5 = m5[t];
					float o0, o1, o2, o3;
					AT6(o, x);
					t0[t] = o0, t1[t] = o1, t2[t] = o2, t3[t] = o3;
				}
			}
			for (int i = 0; i < 4; i++) {
				const float *t = s + (size_t)(6 * i) * gt;
				float *ri = r[i];
				SIMD
				for (int k = 0; k < gt; k++) {
					const float x0 = t[k], x1 = t[gt + k], x2 = t[2 * gt + k];
					const float x3 = t[3 * gt + k], x4 = t[4 * gt + k];
					const float x5 = t[5 * gt + k];
					float o0, o1, o2, o3;
					AT6(o, x);
					ri[4 * k] = o0 + b, ri[4 * k + 1] = o1 + b;
					ri[4 * k + 2] = o2 + b, ri[4 * k + 3] = o3 + b;
				}
			}
			for (long q = g0; q < g1; q++) {
				TILE_ROW(q, p);
				const size_t at = 4 * (size_t)(q - g0) * tw;
				for (int i = 0; i < 4 && 4 * ty + i < h; i++) {
					float *row = out + ((size_t)img * d->oc + o) * hw +
						     (size_t)(4 * ty + i) * w;
					if (alpha)
						prelu_copy(row, r[i] + at, alpha[o], w);
					else
						memcpy(row, r[i] + at, (size_t)w * sizeof *row);
				}
			}
		}
	}
}

/* The tile rows the F(4x4) gradient transforms take at once (a group):
 * their second step runs over the group's tiles in one loop, as long as
 * a tile row of a 448-wide map even where tile rows are short (14x14: 4
 * tiles). */
static int group_rows(int tw)
{
	return TW4_MAX / tw;
}

/* W [36][oc][nt] = A dy A^T for the output tiles of tile rows [q0, q1),
 * gradients past the image's edge taken as zero. */
CLONES static void grad_tiles4(float *W, const float *dout, const struct conv2d_dims *d,
			const struct plan *p, long q0, long q1)
{
	const int tw = p->tw, h = d->h, w = d->w, G = group_rows(tw);
	const size_t nt = (size_t)(q1 - q0) * tw;
	const size_t es = mat_stride((size_t)d->oc * nt), hw = (size_t)h * w;

	SHARED_FOR
	for (int o = 0; o < d->oc; o++) {
		/* z_k[4 (tile row in the group) tw + x] = (A down the tile's four
		 * rows)_k at column x, zero at columns w .. 4tw-1 */
		float zero[4 * TW4_MAX], z[6][4 * TW4_MAX];
		memset(zero, 0, (size_t)w * sizeof *zero);
		for (long g0 = q0; g0 < q1; g0 += G) {
			const long g1 = g0 + G < q1 ? g0 + G : q1;
			const int gt = (int)(g1 - g0) * tw;
			for (long q = g0; q < g1; q++) {
				TILE_ROW(q, p);
				const float *plane = dout + ((size_t)img * d->oc + o) * hw;
				const float *r0 = plane + (size_t)(4 * ty) * w;
				const float *r1 = row_or_zero(plane, 4 * ty + 1, h, w, zero);
				const float *r2 = row_or_zero(plane, 4 * ty + 2, h, w, zero);
				const float *r3 = row_or_zero(plane, 4 * ty + 3, h, w, zero);
				const size_t at = 4 * (size_t)(q - g0) * tw;
				float *z0 = z[0] + at, *z1 = z[1] + at, *z2 = z[2] + at;
				float *z3 = z[3] + at, *z4 = z[4] + at, *z5 = z[5] + at;
				SIMD
				for (int x = 0; x < w; x++) {
					const float x0 = r0[x], x1 = r1[x], x2 = r2[x], x3 = r3[x];
					float o0, o1, o2, o3, o4, o5;
					A6(o, x);
					z0[x] = o0, z1[x] = o1, z2[x] = o2;
					z3[x] = o3, z4[x] = o4, z5[x] = o5;
				}
				for (int x = w; x < 4 * tw; x++)
					z0[x] = z1[x] = z2[x] = z3[x] = z4[x] = z5[x] = 0.0f;
			}
			/* along the rows: tile t of the group reads z_k[4t .. 4t+3] */
			float *wt = W + (size_t)o * nt + (size_t)(g0 - q0) * tw;
			for (int k = 0; k < 6; k++) {
				const float *zk = z[k];
				float *w0 = wt + (size_t)(6 * k) * es, *w1 = w0 + es, *w2 = w1 + es;
				float *w3 = w2 + es, *w4 = w3 + es, *w5 = w4 + es;
				SIMD
				for (int t = 0; t < gt; t++) {
					const float *c = zk + 4 * t;
					const float x0 = c[0], x1 = c[1], x2 = c[2], x3 = c[3];
					float o0, o1, o2, o3, o4, o5;
					A6(o, x);
					w0[t] = o0, w1[t] = o1, w2[t] = o2;
					w3[t] = o3, w4[t] = o4, w5[t] = o5;
				}
			}
		}
	}
}

/* dinp [n][c][h][w] += B dV B^T for the input tiles of tile rows [q0, q1),
 * dropping what falls on the padding or past the edge.  SET: as in
 * dinput_tiles(), here rows 2 to 5 of a tile row after the first. */
CLONES static void dinput_tiles4(float *dinp, const float *dV, const struct conv2d_dims *d,
			  const struct plan *p, long q0, long q1, int set)
{
	const int tw = p->tw, h = d->h, w = d->w, G = group_rows(tw);
	const size_t nt = (size_t)(q1 - q0) * tw;
	const size_t es = mat_stride((size_t)d->c * nt), hw = (size_t)h * w;

	SHARED_FOR
	for (int ci = 0; ci < d->c; ci++) {
		/* z[6a + j][t]: B down tile column j, t over the group's tiles;
		 * pl[l][tx + 1]: then along row a of a tile row (pl[l][0] = 0, no
		 * tile left of the first); acc[x + 1]: the row's sum at column x */
		float z[36 * TW4_MAX], pl[6][TW4_MAX + 1], acc[ZW4_MAX];
		for (int l = 0; l < 6; l++)
			pl[l][0] = 0.0f;
		for (long g0 = q0; g0 < q1; g0 += G) {
			const long g1 = g0 + G < q1 ? g0 + G : q1;
			const int gt = (int)(g1 - g0) * tw;
			const float *v = dV + (size_t)ci * nt + (size_t)(g0 - q0) * tw;
			for (int j = 0; j < 6; j++) {
				const float *x0 = v + (size_t)j * es, *x1 = x0 + 6 * es;
				const float *x2 = x1 + 6 * es, *x3 = x2 + 6 * es;
				const float *x4 = x3 + 6 * es, *x5 = x4 + 6 * es;
				float *z0 = z + (size_t)j * gt, *z1 = z0 + 6 * gt, *z2 = z1 + 6 * gt;
				float *z3 = z2 + 6 * gt, *z4 = z3 + 6 * gt, *z5 = z4 + 6 * gt;
				SIMD
				for (int t = 0; t < gt; t++) {
					const float y0 = x0[t], y1 = x1[t], y2 = x2[t];
					const float y3 = x3[t], y4 = x4[t], y5 = x5[t];
					float o0, o1, o2, o3, o4, o5;
					B6(o, y);
					z0[t] = o0, z1[t] = o1, z2[t] = o2;
					z3[t] = o3, z4[t] = o4, z5[t] = o5;
				}
			}
			for (long q = g0; q < g1; q++) {
				TILE_ROW(q, p);
				const float *zq = z + (size_t)(q - g0) * tw;
				float *plane = dinp + ((size_t)img * d->c + ci) * hw;
				for (int a = 0; a < 6; a++) {
					const int y = 4 * ty - 1 + a;
					if (y < 0 || y >= h)
						continue;
					const float *za = zq + (size_t)(6 * a) * gt;
					float *p0 = pl[0] + 1, *p1 = pl[1] + 1, *p2 = pl[2] + 1;
					float *p3 = pl[3] + 1, *p4 = pl[4] + 1, *p5 = pl[5] + 1;
					SIMD
					for (int tx = 0; tx < tw; tx++) {
						const float y0 = za[tx], y1 = za[gt + tx], y2 = za[2 * gt + tx];
						const float y3 = za[3 * gt + tx], y4 = za[4 * gt + tx];
						const float y5 = za[5 * gt + tx];
						float o0, o1, o2, o3, o4, o5;
						B6(o, y);
						p0[tx] = o0, p1[tx] = o1, p2[tx] = o2;
						p3[tx] = o3, p4[tx] = o4, p5[tx] = o5;
					}
					/* tile k covers columns 4k-1 .. 4k+4: columns 4k-1 and
					 * 4k also take the last two of tile k-1 */
					SIMD
					for (int k = 0; k < tw; k++) {
						acc[4 * k] = p0[k] + pl[4][k];
						acc[4 * k + 1] = p1[k] + pl[5][k];
						acc[4 * k + 2] = p2[k];
						acc[4 * k + 3] = p3[k];
					}
					acc[4 * tw] = p4[tw - 1];
					acc[4 * tw + 1] = p5[tw - 1];
					float *row = plane + (size_t)y * w;
					if (set && (ty == 0 || a >= 2)) {
						SIMD
						for (int x = 0; x < w; x++)
							row[x] = 0.0f + acc[x + 1];
						continue;
					}
					SIMD
					for (int x = 0; x < w; x++)
						row[x] += acc[x + 1];
				}
			}
		}
	}
}

/*
 * The threads.  The forward gives each thread whole chunks (local_rows(),
 * forward_local()): a thread transforms a chunk's inputs, runs its 16 or
 * 36 products and writes its outputs alone, in its own slot of V and M
 * (2 MiB), the chunks handed out as threads come free.  No barrier
 * until the layer ends: with the chunks shared, each took three (after
 * the input transform, the products, the output transform), a thread
 * waiting on the other at each, and V and M (8 MiB a chunk) went through
 * the L3 cache between the cores.  Measured on wino_forward_pre over
 * IR-18's eight eval shapes, batch 64, 2 threads, medians of 5, load
 * about 5 from other work: CPU 2.76 -> 1.23 s, wall 3.37 -> 1.58 s (the
 * shared chunks' threads spun at the barriers while the other was
 * descheduled); one thread the same within noise.  hm-embed at load 2
 * (with F(4x4) at 7x7 and 14x14 too): its Winograd layers 2.32 -> 2.03
 * s over 256 faces.  The backward still walks shared chunks: every
 * thread of one OpenMP parallel region walks the same chunks; each
 * transform shares its channels among them, and the 16 sgemms of a
 * chunk are shared out whole, each run single-threaded on the thread
 * that owns it.  OpenBLAS's own threads are set to one for the
 * call (and restored after): its workers would otherwise spin beside ours
 * while the transforms run, which is why an OpenMP loop in the transforms
 * alone did not pay.  Every sum is made on one thread in a fixed order
 * (a product by one thread, dU[e] by the thread that owns e), so the
 * results do not depend on the thread count.
 *
 * The products go to wgemm(), dweight's only up to 128 x 256 channels:
 * it reads V[e] transposed (gathered into wgemm's panels), and from 256 x
 * 256 up OpenBLAS's packed blocks were faster.  dinp's U[e]^T is written
 * so by the weight transform: read transposed from U[e], 8 floats from
 * each row of c, it lost to OpenBLAS from 256 x 256 up, the rows 1-2 KiB
 * apart.  bench/wgemm.c, one thread, wgemm / OpenBLAS: forward 1.09-1.34x
 * on every IR-18 shape, dinp (U[e]^T) 1.07-1.31x (read transposed: 0.94,
 * 0.78, 0.67x at 256 x 256, 256 x 512, 512 x 512), dweight 1.00-1.22x up
 * to 128 x 256, then 0.97, 0.90, 0.85x.
 */
/* The transforms of F(m x m, 3x3), by the plan's m. */
static void weights_t(float *U, const float *weight, const struct conv2d_dims *d,
		      const struct plan *p, int tr)
{
	if (p->m == 4)
		weight_tiles4(U, weight, d, tr);
	else
		weight_tiles(U, weight, d, tr);
}

/* This thread's part [*lo, *hi) of n channels shared among the region's
 * threads as SHARED_FOR shares them (equal static parts), or all of them
 * when not shared. */
static void part(int n, int shared, int *lo, int *hi)
{
	const int t = shared ? team_size() : 1, i = shared ? thread_id() : 0;
	const int q = n / t, r = n % t;
	*lo = i * q + (i < r ? i : r);
	*hi = *lo + q + (i < r);
}

/* The input and output transforms of a chunk: SHARED among the region's
 * threads (then a barrier), or all on the calling thread. */
static void inputs_t(float *V, const float *inp, const struct conv2d_dims *d,
		     const struct plan *p, long q0, long q1, int shared)
{
	int c0, c1;

	part(d->c, shared, &c0, &c1);
	if (p->m == 4)
		input_tiles4(V, inp, d, p, q0, q1, c0, c1);
	else
		input_tiles(V, inp, d, p, q0, q1, c0, c1);
	if (shared) {
		BARRIER
	}
}

static void outputs_t(float *out, const float *M, const float *bias, const float *alpha,
		      const struct conv2d_dims *d, const struct plan *p, long q0, long q1,
		      int shared)
{
	int o0, o1;

	part(d->oc, shared, &o0, &o1);
	if (p->m == 4)
		output_tiles4(out, M, bias, alpha, d, p, q0, q1, o0, o1);
	else
		output_tiles(out, M, bias, alpha, d, p, q0, q1, o0, o1);
	if (shared) {
		BARRIER
	}
}

static void grads_t(float *W, const float *dout, const struct conv2d_dims *d,
		    const struct plan *p, long q0, long q1)
{
	if (p->m == 4)
		grad_tiles4(W, dout, d, p, q0, q1);
	else
		grad_tiles(W, dout, d, p, q0, q1);
}

static void dinputs_t(float *dinp, const float *dV, const struct conv2d_dims *d,
		      const struct plan *p, long q0, long q1, int set)
{
	if (p->m == 4)
		dinput_tiles4(dinp, dV, d, p, q0, q1, set);
	else
		dinput_tiles(dinp, dV, d, p, q0, q1, set);
}

static void dweights_t(float *dweight, const float *dU, const struct conv2d_dims *d,
		       const struct plan *p)
{
	if (p->m == 4)
		dweight_add4(dweight, dU, d);
	else
		dweight_add(dweight, dU, d);
}

/* c (+)= op(a) . op(b) (wgemm()'s arguments) by wgemm's kernel, or with
 * own 0 by OpenBLAS (the same bytes on SkylakeX). */
static void product(int own, int trans_a, int trans_b, int add, int m, int n, int k,
		    const float *a, int lda, const float *b, int ldb, float *c, int ldc)
{
	if (own)
		wgemm(trans_a, trans_b, add, m, n, k, a, lda, b, ldb, c, ldc);
	else if (add)
		cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
			    trans_b ? CblasTrans : CblasNoTrans, m, n, k, 1.0f, a, lda, b, ldb, 1.0f,
			    c, ldc);
	else
		sgemm_overwrite(trans_a, trans_b, m, n, k, a, lda, b, ldb, c, ldc);
}

/* Floats of one thread's V and M for chunks of R tile rows. */
static size_t local_slot(const struct conv2d_dims *d, const struct plan *p, int R)
{
	const size_t nt = (size_t)R * p->tw;
	const size_t n = p->ne * (mat_stride((size_t)d->c * nt) + (size_t)d->oc * nt);
	return (n + 15) / 16 * 16;
}

/* The share of wgemm's work that a chunk of nt tiles puts to use: its
 * kernel computes whole vectors of 16 columns. */
static double vector_use(int nt)
{
	return nt / (16.0 * ((nt + 15) / 16));
}

/* Tile rows per chunk in the forward, T threads each with a slot of V
 * and M in AVAIL floats: what keeps a slot within WINO_LOCAL_VM floats
 * (2 MiB; 1 MiB was 3-10% slower on the 64-channel layers), but at
 * least WINO_LOCAL_NT tiles (a wgemm panel of 48 columns: U is read once
 * per panel); then the next number up, at most twice that, whose tiles
 * fill 95% of wgemm's vectors (a 28x28 map's tile rows are 7 tiles: 7
 * of them, 49 tiles, left 15 of 64 columns computed empty, and 63 ran
 * 7-11% faster; chunks larger than needed were slower on the 512-channel
 * layers).  0 where not even one tile row fits. */
static int local_rows(const struct conv2d_dims *d, const struct plan *p, int T, size_t avail)
{
	const int least = (WINO_LOCAL_NT + p->tw - 1) / p->tw;
	int R = (int)(WINO_LOCAL_VM / ((size_t)p->ne * (d->c + d->oc) * p->tw));
	if (R < least)
		R = least;
	for (int r = R; r <= 2 * R; r++)
		if (vector_use(r * p->tw) >= 0.95) {
			R = r;
			break;
		}
	while (R > 1 && (size_t)T * local_slot(d, p, R) > avail)
		R--;
	return (size_t)T * local_slot(d, p, R) <= avail ? R : 0;
}

/* The forward of the chunks of R tile rows, each on one thread in its
 * slot of VM (V then M). */
static void forward_local(float *out, float *vm, const float *inp, const struct plan *p,
			  int R, const float *bias, const float *alpha,
			  const struct conv2d_dims *d)
{
	const int c = d->c, oc = d->oc;
	const size_t us = mat_stride((size_t)oc * c);
	float *V = vm + (size_t)thread_id() * local_slot(d, p, R);
	const long chunks = (p->rows + R - 1) / R;

	FREE_FOR
	for (long k = 0; k < chunks; k++) {
		const long q0 = k * R, q1 = q0 + R < p->rows ? q0 + R : p->rows;
		const int nt = (int)(q1 - q0) * p->tw;
		const size_t vs = mat_stride((size_t)c * nt);
		float *M = V + p->ne * vs;
		inputs_t(V, inp, d, p, q0, q1, 0);
		for (int e = 0; e < p->ne; e++)
			wgemm(0, 0, 0, oc, nt, c, p->U + e * us, c, V + e * vs, nt,
			      M + (size_t)e * oc * nt, nt);
		outputs_t(out, M, bias, alpha, d, p, q0, q1, 0);
	}
}

/* The forward with tile m: the weights transformed here from WEIGHT, or
 * given as U (then WEIGHT is NULL), and the PReLU with ALPHA fused. */
static void forward(float *out, float *work, const float *inp, const float *weight,
		    const float *U, int m, const float *bias, const float *alpha,
		    const struct conv2d_dims *d)
{
	const int c = d->c, oc = d->oc;
	struct plan p;

	plan_init(&p, work, d, m, 0);
	if (p.rows == 0)
		return;
	const size_t us = mat_stride((size_t)oc * c);
	if (U)
		p.U = (float *)U;	/* read only */
	float *vm = U ? work : p.V;
	const size_t avail = wino_workspace(d) - (size_t)(vm - work);
	const int nb = blas_hold_single();
	PARALLEL
	{
		const int R = local_rows(d, &p, team_size(), avail);
		if (weight)
			weights_t(p.U, weight, d, &p, 0);
		if (R)
			forward_local(out, vm, inp, &p, R, bias, alpha, d);
		for (long q0 = 0; !R && q0 < p.rows; q0 += p.R) {
			const long q1 = q0 + p.R < p.rows ? q0 + p.R : p.rows;
			const int nt = (int)(q1 - q0) * p.tw;
			const size_t vs = mat_stride((size_t)c * nt);
			inputs_t(p.V, inp, d, &p, q0, q1, 1);
			SHARED_FOR
			for (int e = 0; e < p.ne; e++)
				wgemm(0, 0, 0, oc, nt, c, p.U + e * us, c, p.V + e * vs, nt,
				      p.M + (size_t)e * oc * nt, nt);
			outputs_t(out, p.M, bias, alpha, d, &p, q0, q1, 1);
		}
	}
	blas_release_single(nb);
}

void wino_forward(float *out, float *work, const float *inp, const float *weight,
		  const float *bias, const struct conv2d_dims *d)
{
	forward(out, work, inp, weight, NULL, pass_m(d, FORWARD), bias, NULL, d);
}

void wino_forward_act(float *out, float *work, const float *inp, const float *weight,
		      const float *bias, const float *alpha, const struct conv2d_dims *d)
{
	forward(out, work, inp, weight, NULL, pass_m(d, FORWARD), bias, alpha, d);
}

size_t wino_weights_size(const struct conv2d_dims *d)
{
	const size_t m = (size_t)pass_m(d, INFER);
	return (m + 2) * (m + 2) * mat_stride((size_t)d->oc * d->c);
}

int wino_weights(float *U, const float *weight, const struct conv2d_dims *d)
{
	struct plan p = { .m = pass_m(d, INFER) };
	PARALLEL
	weights_t(U, weight, d, &p, 0);
	return p.m;
}

void wino_forward_pre(float *out, float *work, const float *inp, const float *U, int m,
		      const float *bias, const float *alpha, const struct conv2d_dims *d)
{
	forward(out, work, inp, NULL, U, m, bias, alpha, d);
}

/* wino_backward(), dinp += (SET 0) or dinp = (SET 1).  In two sweeps
 * (one_sweep()): dinp first, U^T in the place dweight's dU takes after,
 * the output gradients' tiles (grad_tiles()) computed in each. */
static void backward(float *dinp, int set, float *dweight, float *work, const float *dout,
		     const float *inp, const float *weight, const struct conv2d_dims *d)
{
	const int c = d->c, oc = d->oc, m = pass_m(d, BACKWARD);
	const int sweeps = dinp && dweight && !one_sweep(d, m) ? 2 : 1;
	struct plan p;

	plan_init(&p, work, d, m, one_sweep(d, m));
	if (p.rows == 0 || (!dinp && !dweight))
		return;
	const size_t us = mat_stride((size_t)oc * c);
	const int own = (size_t)oc * c <= WINO_OWN_BACKWARD;
	const int nb = blas_hold_single();
	PARALLEL
	for (int s = 0; s < sweeps; s++) {
		float *di = s == 0 ? dinp : NULL, *dw = s == sweeps - 1 ? dweight : NULL;
		if (di)
			weights_t(p.U, weight, d, &p, 1);
		for (long q0 = 0; q0 < p.rows; q0 += p.R) {
			const long q1 = q0 + p.R < p.rows ? q0 + p.R : p.rows;
			const int nt = (int)(q1 - q0) * p.tw;
			const size_t vs = mat_stride((size_t)c * nt), ws = mat_stride((size_t)oc * nt);
			grads_t(p.M, dout, d, &p, q0, q1);
			if (dw) {
				inputs_t(p.V, inp, d, &p, q0, q1, 1);
				SHARED_FOR
				for (int e = 0; e < p.ne; e++)
					product(own, 0, 1, q0 > 0, oc, c, nt, p.M + e * ws, nt,
						p.V + e * vs, nt, p.dU + e * us, c);
			}
			if (di) {
				SHARED_FOR
				for (int e = 0; e < p.ne; e++)
					wgemm(0, 0, 0, c, nt, oc, p.U + e * us, oc, p.M + e * ws, nt,
					      p.V + e * vs, nt);
				dinputs_t(di, p.V, d, &p, q0, q1, set);
			}
		}
		if (dw)
			dweights_t(dw, p.dU, d, &p);
	}
	blas_release_single(nb);
}

void wino_backward(float *dinp, float *dweight, float *work, const float *dout,
		   const float *inp, const float *weight, const struct conv2d_dims *d)
{
	backward(dinp, 0, dweight, work, dout, inp, weight, d);
}

void wino_backward_set(float *dinp, float *dweight, float *work, const float *dout,
		       const float *inp, const float *weight, const struct conv2d_dims *d)
{
	backward(dinp, 1, dweight, work, dout, inp, weight, d);
}
