/*
 * winograd.c: F(2x2, 3x3) convolution (Lavin & Gray 2016, "Fast Algorithms
 * for Convolutional Neural Networks", section 4).  See winograd.h for the
 * contracts.
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
 * WINO_TMAX tiles).  The workspace is U, dU (16 oc c each; 16 MiB for
 * 512 x 512), V and M (or W); the transforms' few rows of scratch are on
 * the stack (w <= 1024).
 *
 * The transforms work on a tile row at once, in loops over tx that GCC
 * vectorises (omp simd): the input transform first combines the tile
 * row's four image rows column by column (unit stride), then reads that
 * at stride 2 (tile tx starts at column 2tx-1); the other transforms read
 * or write the 16 matrices as 16 unit-stride streams.  Every sum runs on
 * one thread in a fixed order, so the results are the same bytes from run
 * to run and for any thread count.
 *
 * Threads (see "The threads" below, above wino_forward()): one OpenMP
 * region per call, the transforms' channels and the chunk's 16 sgemms
 * shared among its threads, OpenBLAS held to one thread meanwhile.  The
 * first version ran the transforms serially between two-thread sgemms;
 * an OpenMP loop in the transforms alone was no faster (OpenBLAS's
 * workers spun on the other core in sched_yield, 21% of a training
 * step's samples in perf), and the whole conv step of IR-18 went from
 * 96 to 124 GFLOP/s (1.29x) with the shared sgemms, hm-train from 5.4 to
 * 7.3 img/s.
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
 */
#include "winograd.h"
#include "blas.h"
#include "nn.h"

#include <cblas.h>
#include <string.h>

#define PRAGMA(x) _Pragma(#x)
#ifdef _OPENMP
#define SIMD PRAGMA(omp simd)
/* A loop shared among the threads of the enclosing parallel region (run
 * whole by the caller outside one), in equal static parts. */
#define SHARED_FOR PRAGMA(omp for schedule(static))
#define PARALLEL PRAGMA(omp parallel)
#else
#define SIMD
#define SHARED_FOR
#define PARALLEL
#endif

/* Floats for a chunk's V and M together, and the widest chunk (tiles). */
#ifndef WINO_VM
#define WINO_VM ((size_t)2 << 20)
#endif
#define WINO_TMAX 1024
/* The workspace bound (floats), CONV_WORK_MAX in nn.c. */
#define WINO_WORK_MAX ((size_t)12 << 20)
/* Narrower layers stay on im2col (see "Measured" above). */
#define WINO_MIN_CH 16
/* The widest tile row (w <= 2 WINO_TW_MAX): the transforms' scratch rows
 * live on each thread's stack. */
#define WINO_TW_MAX 512
#define SCRATCH (16 * (WINO_TW_MAX + 1))

struct plan {
	int th, tw;		/* tiles per image: rows, columns */
	int R;			/* tile rows per chunk */
	long rows;		/* tile rows of the batch, n*th */
	float *U, *dU, *V, *M;	/* workspace parts */
};

static int tile_rows(const struct conv2d_dims *d, int tw)
{
	size_t cap = WINO_VM / (16 * ((size_t)d->c + d->oc));
	if (cap > WINO_TMAX)
		cap = WINO_TMAX;
	cap /= (size_t)tw;
	return cap < 1 ? 1 : (int)cap;
}

static size_t workspace(const struct conv2d_dims *d)
{
	const size_t tw = ((size_t)d->w + 1) / 2, R = (size_t)tile_rows(d, (int)tw);
	return 32 * (size_t)d->oc * d->c + 16 * ((size_t)d->c + d->oc) * R * tw;
}

int wino_applies(const struct conv2d_dims *d)
{
	return d->k == 3 && d->stride == 1 && d->pad == 1 && d->c >= WINO_MIN_CH &&
	       d->oc >= WINO_MIN_CH && d->h >= 1 && d->w >= 1 && d->w <= 2 * WINO_TW_MAX &&
	       workspace(d) <= WINO_WORK_MAX;
}

size_t wino_workspace(const struct conv2d_dims *d)
{
	return workspace(d);
}

static void plan_init(struct plan *p, float *work, const struct conv2d_dims *d)
{
	const size_t uc = 16 * (size_t)d->oc * d->c;
	p->th = (d->h + 1) / 2, p->tw = (d->w + 1) / 2;
	p->R = tile_rows(d, p->tw);
	p->rows = (long)d->n * p->th;
	p->U = work, p->dU = work + uc, p->V = work + 2 * uc;
	p->M = p->V + 16 * (size_t)d->c * p->R * p->tw;
}

/* U [16][oc][c] = G g G^T for every weight g [3][3]. */
static void weight_tiles(float *U, const float *weight, const struct conv2d_dims *d)
{
	const size_t es = (size_t)d->oc * d->c;

	SHARED_FOR
	for (size_t oc = 0; oc < es; oc++) {
		const float *g = weight + oc * 9;
		float t[4][3];
		for (int q = 0; q < 3; q++) {
			t[0][q] = g[q];
			t[1][q] = 0.5f * (g[q] + g[3 + q] + g[6 + q]);
			t[2][q] = 0.5f * (g[q] - g[3 + q] + g[6 + q]);
			t[3][q] = g[6 + q];
		}
		for (int a = 0; a < 4; a++) {
			U[(4 * a + 0) * es + oc] = t[a][0];
			U[(4 * a + 1) * es + oc] = 0.5f * (t[a][0] + t[a][1] + t[a][2]);
			U[(4 * a + 2) * es + oc] = 0.5f * (t[a][0] - t[a][1] + t[a][2]);
			U[(4 * a + 3) * es + oc] = t[a][2];
		}
	}
}

/* dweight [oc][c][3][3] += G^T dU G. */
static void dweight_add(float *dweight, const float *dU, const struct conv2d_dims *d)
{
	const size_t es = (size_t)d->oc * d->c;

	SHARED_FOR
	for (size_t oc = 0; oc < es; oc++) {
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
 * (q1 - q0) tw. */
static void input_tiles(float *V, const float *inp, const struct conv2d_dims *d,
			const struct plan *p, long q0, long q1)
{
	const int tw = p->tw, h = d->h, w = d->w;
	const size_t tw2 = 2 * (size_t)tw + 2, nt = (size_t)(q1 - q0) * tw;
	const size_t es = (size_t)d->c * nt, hw = (size_t)h * w;

	SHARED_FOR
	for (int ci = 0; ci < d->c; ci++) {
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

/* out [n][oc][h][w], tile rows [q0, q1) = A^T M A + bias (s: where row
 * 2ty+1 goes when it is past the image). */
static void output_tiles(float *out, const float *M, const float *bias,
			 const struct conv2d_dims *d, const struct plan *p, long q0, long q1)
{
	const int tw = p->tw, h = d->h, w = d->w, full = w / 2;
	const size_t nt = (size_t)(q1 - q0) * tw, es = (size_t)d->oc * nt, hw = (size_t)h * w;

	SHARED_FOR
	for (int o = 0; o < d->oc; o++) {
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
static void grad_tiles(float *W, const float *dout, const struct conv2d_dims *d,
		       const struct plan *p, long q0, long q1)
{
	const int tw = p->tw, h = d->h, w = d->w, full = w / 2;
	const size_t nt = (size_t)(q1 - q0) * tw, es = (size_t)d->oc * nt, hw = (size_t)h * w;

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
 * dropping what falls on the padding. */
static void dinput_tiles(float *dinp, const float *dV, const struct conv2d_dims *d,
			 const struct plan *p, long q0, long q1)
{
	const int tw = p->tw, h = d->h, w = d->w;
	const size_t tw1 = (size_t)tw + 1, nt = (size_t)(q1 - q0) * tw;
	const size_t es = (size_t)d->c * nt, hw = (size_t)h * w;

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
 * The threads.  Every thread of one OpenMP parallel region walks the same
 * chunks; each transform shares its channels among them, and the 16
 * sgemms of a chunk are shared out whole, each run single-threaded on the
 * thread that owns it.  OpenBLAS's own threads are set to one for the
 * call (and restored after): its workers would otherwise spin beside ours
 * while the transforms run, which is why an OpenMP loop in the transforms
 * alone did not pay.  Every sum is made on one thread in a fixed order
 * (an sgemm by one thread, dU[e] by the thread that owns e), so the
 * results do not depend on the thread count.
 */
void wino_forward(float *out, float *work, const float *inp, const float *weight,
		  const float *bias, const struct conv2d_dims *d)
{
	const int c = d->c, oc = d->oc;
	struct plan p;

	plan_init(&p, work, d);
	if (p.rows == 0)
		return;
	const int nb = blas_hold_single();
	PARALLEL
	{
		weight_tiles(p.U, weight, d);
		for (long q0 = 0; q0 < p.rows; q0 += p.R) {
			const long q1 = q0 + p.R < p.rows ? q0 + p.R : p.rows;
			const int nt = (int)(q1 - q0) * p.tw;
			input_tiles(p.V, inp, d, &p, q0, q1);
			SHARED_FOR
			for (int e = 0; e < 16; e++)
				sgemm_overwrite(0, 0, oc, nt, c, p.U + (size_t)e * oc * c, c,
						p.V + (size_t)e * c * nt, nt,
						p.M + (size_t)e * oc * nt, nt);
			output_tiles(out, p.M, bias, d, &p, q0, q1);
		}
	}
	blas_release_single(nb);
}

void wino_backward(float *dinp, float *dweight, float *work, const float *dout,
		   const float *inp, const float *weight, const struct conv2d_dims *d)
{
	const int c = d->c, oc = d->oc;
	struct plan p;

	plan_init(&p, work, d);
	if (p.rows == 0 || (!dinp && !dweight))
		return;
	const int nb = blas_hold_single();
	PARALLEL
	{
		if (dinp)
			weight_tiles(p.U, weight, d);
		for (long q0 = 0; q0 < p.rows; q0 += p.R) {
			const long q1 = q0 + p.R < p.rows ? q0 + p.R : p.rows;
			const int nt = (int)(q1 - q0) * p.tw;
			grad_tiles(p.M, dout, d, &p, q0, q1);
			if (dweight) {
				input_tiles(p.V, inp, d, &p, q0, q1);
				SHARED_FOR
				for (int e = 0; e < 16; e++) {
					const float *dy = p.M + (size_t)e * oc * nt;
					const float *x = p.V + (size_t)e * c * nt;
					float *du = p.dU + (size_t)e * oc * c;
					if (q0)
						cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans,
							    oc, c, nt, 1.0f, dy, nt, x, nt, 1.0f, du, c);
					else
						sgemm_overwrite(0, 1, oc, c, nt, dy, nt, x, nt, du, c);
				}
			}
			if (dinp) {
				SHARED_FOR
				for (int e = 0; e < 16; e++)
					sgemm_overwrite(1, 0, c, nt, oc, p.U + (size_t)e * oc * c, c,
							p.M + (size_t)e * oc * nt, nt,
							p.V + (size_t)e * c * nt, nt);
				dinput_tiles(dinp, p.V, d, &p, q0, q1);
			}
		}
		if (dweight)
			dweight_add(dweight, p.dU, d);
	}
	blas_release_single(nb);
}
