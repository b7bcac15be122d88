/*
 * winos2.c: 3x3 stride-2 pad-1 convolution, the inference forward, by
 * Winograd's minimal filtering on the input's phases.  See winos2.h for
 * the contract.
 *
 * The formulas.  In one dimension an output reads three inputs, y[t] =
 * w0 x[2t-1] + w1 x[2t] + w2 x[2t+1]; with the odd samples o[t] = x[2t-1]
 * and the even ones e[t] = x[2t],
 *
 *   y[t] = (w0 o[t] + w2 o[t+1]) + w1 e[t]:
 *
 * a 2-tap correlation of the odd samples, which Winograd's F(m, 2)
 * computes for m outputs from m+1 samples with m+1 products, plus m plain
 * products with w1.  A tile of m outputs reads the 2m+1 inputs x[2t0-1 ..
 * 2t0+2m-1] and takes 2m+1 products: its 1-d points are p = 0..m, the
 * F(m, 2) points of the odd samples, then p = m+1..2m, the even samples as
 * they are.  In two dimensions the tensor product: (2m+1)^2 points per
 * m x m outputs, each one product M[e] = U[e] . V[e] ([oc x c] . [c x
 * tiles], wgemm()) as in winograd.c, against 9 m^2 multiplications direct
 * (m 2: 25 for 4 outputs, 1.44x fewer; m 4: 81 for 16, 1.78x).  The
 * weights of the even points are all w1 along that axis, so U has only
 * (m+2)^2 distinct matrices (16 or 36, as winograd.c's F(2x2) and F(4x4)):
 * point p takes weight row a(p) = min(p, m+1).
 *
 *   m 2, F(2, 2):  B^T = | 1 -1  0 |   G = | 1  0 |   A^T = | 1  1  0 |
 *                        | 0  1  0 |       | 1  1 |         | 0  1  1 |
 *                        | 0 -1  1 |       | 0  1 |
 *   m 4, F(4, 2) on the points 0, 1, -1, 2 and infinity:
 *     B^T = | 2 -1 -2  1  0 |  G = |  1/2   0   |  A^T = | 1  1  1  1  0 |
 *           | 0 -2 -1  1  0 |      | -1/2 -1/2  |        | 0  1 -1  2  0 |
 *           | 0  2 -3  1  0 |      | -1/6  1/6  |        | 0  1  1  4  0 |
 *           | 0 -1  0  1  0 |      |  1/6  1/3  |        | 0  1 -1  8  1 |
 *           | 0  2 -1 -2  1 |      |  0    1    |
 *
 * with B^T on (o0 .. om), G on (w0, w2); the even points' rows are the
 * identity (inputs, outputs) and w1 (weights).  The weights are transformed
 * once, in double, rounded once (winos2_weights()).
 *
 * Tiles.  Output tile (ty, tx) is outputs [m ty, m ty + m) x [m tx, m tx +
 * m); its inputs are rows and columns 2m ty - 1 .. 2m ty + 2m - 1, zeros
 * outside the image (the padding, and past the last tile's edge); outputs
 * past the edge are not written.  Each 2-d transform applies the 1-d one
 * down the columns (unit stride over an image row), then along the rows,
 * in vector loops over all the chunk's tiles (input_body(), output_body():
 * at 28x28 and 14x14 inputs a tile row has only 14 or 7 tiles).
 *
 * Chunks and threads.  The batch's tile rows are cut into chunks of R
 * whole rows, R from the shape alone: V and M within S2_VM floats (8 MiB),
 * at most S2_TMAX tiles (192: wide enough for wgemm's panels of 48, the
 * chunk's transforms within the caches; m 4 as many products, 59 tiles,
 * so that the workspace is m 2's), and a multiple of 16 tiles where
 * a chunk at least half as wide allows (wgemm computes its last panel in
 * whole vectors of 16 columns).  Each thread of the OpenMP team (at most
 * CONV2D_TEAM_MAX) takes whole chunks, transforms, multiplies and writes
 * them back in a workspace slot of its own, OpenBLAS held to one thread:
 * sharing each chunk's channels between the threads, as winograd.c does,
 * passed its 8 MiB of V and M between the cores' caches with three
 * barriers per chunk.  Every output is one chunk's, summed in a fixed
 * order: the same bytes for any thread count and any batch size.
 *
 * Which tile.  m 2 (transforms of 0 and +-1 only) wherever its partial
 * tiles compute at most S2_WASTE = 1.15 outputs per real one: ir18's 56x56,
 * 28x28 and 14x14 outputs (no partial tiles).  At 7x7 (512x14x14 ->
 * 512x7x7) its 4x4 tiles compute 8x8 outputs, 400 products per channel
 * pair and image against direct's 441, and it measured 0.96-1.01x of the
 * grouped im2col: that layer stays there (winos2_tile() 0).  Whole tiles
 * only, the last row and column computed directly (9 products [oc x c] .
 * [c x edge outputs], the weights read from U, whose rows 0, 3, 2 are w0,
 * w1, w2): 324 products, but it measured 1.00-1.06x of im2col's speed on
 * one thread and 0.95-1.04x on two (load 4-5), within the noise, and the
 * layer's U would add 16 MiB: dropped.  m 4 has
 * fewer products at 56x56 and 28x28 (81 per 16 outputs: 15876 per image
 * at 56x56 against m 2's 19600) but its transforms cost more and its
 * chunks are narrower: one thread, batch 16, min of 5, load 5-6, ms for
 * im2col, m 2, m 4: 64x112 -> 64 44.3 28.9 31.9; 128x56 -> 128 32.7 24.2
 * 26.0; 256x28 -> 256 31.9 22.7 33.4; 512x14 -> 512 31.3 32.8 51.1 (with
 * m 4's chunks as wide as m 2's, at most 192 tiles, no better: 30.8, 23.9,
 * 27.3, 44.3 against m 2's 25.9, 22.8, 20.9, 28.8 at load 4-5).  So m 4
 * is only there for tests and A/B (winos2_set_tile()).
 *
 * Error.  Against conv2d_forward_ref() (double), uniform [-1, 1) inputs
 * and weights, max |diff| / max |ref|: m 2 at most 8.8e-7, m 4 4.8e-6
 * (tests/unit/t-winos2.c, which asserts 1e-5 and 5e-5, winograd.c's
 * bounds).  hm-embed's embeddings of 256 faces (ir18) move by at most
 * 6.3e-7 (absolute, unit vectors) against main's; ir18's folded eval
 * output against PyTorch float64 (tests/ref/model_torch.py, batch 3) 4.2e-6
 * (main 4.0e-6).
 *
 * Speed (the 2-core AVX-512 Xeon, OpenBLAS SkylakeX; load 4-7 from other
 * work, so the ratios mean more than the times).  hm-embed, ir18, 256
 * faces, -b 64 -j 2, main -> this, interleaved, medians of 7, ms per layer
 * over the 4 batches: 64x112 -> 64x56 1021 -> 695 (0.68), 128x56 -> 128x28
 * 833 -> 567 (0.68), 256x28 -> 256x14 797 -> 479 (0.60) (an earlier
 * round: 0.74, 0.68, 0.59).  The whole run, medians of 7, load 1.6-3.6:
 * wall 7.87 -> 7.29 s (0.93), CPU 7.98 -> 7.27 s (0.91).  The
 * 64-channel layer is bound by reading its 112x112 input (a quarter of its
 * time, the input transform's first loads), as im2col was.
 */
#include "winos2.h"
#include "blas.h"
#include "clones.h"
#include "nn.h"
#include "team.h"
#include "wgemm.h"

#include <string.h>

#define PRAGMA(x) _Pragma(#x)
#define UNROLL PRAGMA(GCC unroll 16)
#ifdef _OPENMP
#define SIMD PRAGMA(omp simd)
#define SHARED_FOR PRAGMA(omp for schedule(static))
#define PARALLEL PRAGMA(omp parallel)
#define TEAM(n) PRAGMA(omp parallel num_threads(n) if ((n) > 1))
#define TEAM_FOR PRAGMA(omp for schedule(dynamic))
#else
#define SIMD
#define SHARED_FOR
#define PARALLEL
#define TEAM(n) (void)(n);
#define TEAM_FOR
#endif

/* Floats for a thread's chunk's V and M together, the widest chunk (tiles), the
 * widest input (the transforms' scratch rows are on the stack). */
#define S2_VM ((size_t)2 << 20)
#define S2_TMAX 192
#define S2_W_MAX 512
#define S2_MIN_CH 16
/* The most outputs per real one that the automatic choice lets m 2's
 * partial tiles compute (see "Which tile"). */
#define S2_WASTE 1.15
/* The widest chunk: S2_TMAX tiles, or one tile row (128 tiles of m 2). */
#define NT_MAX S2_TMAX

struct plan {
	int m, n1, ne;		/* outputs per tile side, 1-d points 2m+1, ne = n1^2 */
	int oh, ow, th, tw;	/* output size; tiles per image: rows, columns */
	int R;			/* tile rows per chunk */
	long rows;		/* tile rows of the batch, n*th */
};

static int forced_m;

void winos2_set_tile(int m)
{
	forced_m = m == 2 || m == 4 ? m : 0;
}

/* The distance from one matrix of U or V to the next (winograd.c's
 * mat_stride(): whole pages and a cache line, against L1 set conflicts). */
static size_t mat_stride(size_t n)
{
	return (n + 1023) / 1024 * 1024 + 16;
}

static int tiles(int len, int m)
{
	return (len + m - 1) / m;
}

static int tile_rows(const struct conv2d_dims *d, int m, int tw)
{
	const size_t ne = (size_t)(2 * m + 1) * (2 * m + 1);
	/* V's matrices lie mat_stride() apart: up to 1039 floats more each */
	size_t cap = (S2_VM - ne * 1040) / (ne * ((size_t)d->c + d->oc));
	/* S2_TMAX tiles of m 2's 25 points: m 4's 81 take as many products
	 * (59 tiles), so the workspace is m 2's */
	if (cap > S2_TMAX * 25 / ne)
		cap = S2_TMAX * 25 / ne;
	cap /= (size_t)tw;
	/* whole vectors of 16 columns, when a chunk at least half as wide
	 * gives them: wgemm's last panel is computed in whole vectors */
	for (size_t r = cap; 2 * r >= cap && r > 0; r--)
		if (r * tw % 16 == 0)
			return (int)r;
	return cap < 1 ? 1 : (int)cap;
}

/* Floats of one thread's V and M (its slot). */
static size_t slot(const struct conv2d_dims *d, int m)
{
	const size_t ne = (size_t)(2 * m + 1) * (2 * m + 1);
	const int tw = tiles(conv2d_out_w(d), m);
	const size_t nt = (size_t)tile_rows(d, m, tw) * tw;
	return ne * (mat_stride((size_t)d->c * nt) + (size_t)d->oc * nt);
}

static void plan_init(struct plan *p, const struct conv2d_dims *d, int m)
{
	p->m = m, p->n1 = 2 * m + 1, p->ne = p->n1 * p->n1;
	p->oh = conv2d_out_h(d), p->ow = conv2d_out_w(d);
	p->th = tiles(p->oh, m), p->tw = tiles(p->ow, m);
	p->R = tile_rows(d, m, p->tw);
	p->rows = (long)d->n * p->th;
}

static size_t workspace(const struct conv2d_dims *d, int m)
{
	return CONV2D_TEAM_MAX * slot(d, m);
}

int winos2_applies(const struct conv2d_dims *d)
{
	return d->k == 3 && d->stride == 2 && d->pad == 1 && d->c >= S2_MIN_CH &&
	       d->oc >= S2_MIN_CH && d->h >= 1 && d->w >= 1 && d->w <= S2_W_MAX;
}

size_t winos2_workspace(const struct conv2d_dims *d)
{
	const size_t w2 = workspace(d, 2), w4 = workspace(d, 4);
	return w2 > w4 ? w2 : w4;
}

/* Outputs that m's tiles compute per real one (partial tiles waste). */
static double waste(const struct conv2d_dims *d, int m)
{
	const int oh = conv2d_out_h(d), ow = conv2d_out_w(d);
	return (double)tiles(oh, m) * m * tiles(ow, m) * m / ((double)oh * ow);
}

int winos2_tile(const struct conv2d_dims *d)
{
	if (forced_m)
		return forced_m;
	return waste(d, 2) <= S2_WASTE ? 2 : 0;
}

size_t winos2_weights_size(const struct conv2d_dims *d)
{
	const size_t m = (size_t)(winos2_tile(d) ? winos2_tile(d) : 2);
	return (m + 2) * (m + 2) * mat_stride((size_t)d->oc * d->c);
}

/* The weight rows: G (on w0, w2) in the first m+1 rows, w1 in the last. */
static const double G2[4][3] = { { 1, 0, 0 }, { 1, 0, 1 }, { 0, 0, 1 }, { 0, 1, 0 } };
static const double G4[6][3] = { { 0.5, 0, 0 },		 { -0.5, 0, -0.5 },
				  { -1.0 / 6, 0, 1.0 / 6 }, { 1.0 / 6, 0, 1.0 / 3 },
				  { 0, 0, 1 },		 { 0, 1, 0 } };

int winos2_weights(float *U, const float *weight, const struct conv2d_dims *d)
{
	const int m = winos2_tile(d) ? winos2_tile(d) : 2, nu = m + 2, c = d->c;
	const double(*G)[3] = m == 2 ? G2 : G4;
	const size_t es = mat_stride((size_t)d->oc * c);

	PARALLEL
	{
		SHARED_FOR
		for (int o = 0; o < d->oc; o++)
			for (int ci = 0; ci < c; ci++) {
				const float *g = weight + ((size_t)o * c + ci) * 9;
				double t[6][3];	/* G g */
				for (int a = 0; a < nu; a++)
					for (int j = 0; j < 3; j++)
						t[a][j] = G[a][0] * g[j] + G[a][1] * g[3 + j] +
							  G[a][2] * g[6 + j];
				for (int a = 0; a < nu; a++)
					for (int b = 0; b < nu; b++)
						U[(size_t)(a * nu + b) * es + (size_t)o * c + ci] =
							(float)(t[a][0] * G[b][0] + t[a][1] * G[b][1] +
								t[a][2] * G[b][2]);
			}
	}
	return m;
}

/* B^T on the odd samples x0 .. xm, into o0 .. om. */
#define BT2(o, x)                                                                  \
	do {                                                                       \
		o##0 = x##0 - x##1;                                                \
		o##1 = x##1;                                                       \
		o##2 = x##2 - x##1;                                                \
	} while (0)
#define BT4(o, x)                                                                  \
	do {                                                                       \
		o##0 = 2.0f * (x##0 - x##2) + (x##3 - x##1);                       \
		o##1 = (x##3 - x##2) - 2.0f * x##1;                                \
		o##2 = (x##3 - 3.0f * x##2) + 2.0f * x##1;                         \
		o##3 = x##3 - x##1;                                                \
		o##4 = 2.0f * (x##1 - x##3) + (x##4 - x##2);                       \
	} while (0)
/* A^T: outputs y0 .. y(m-1) from the Winograd points x0 .. xm. */
#define AT2(y, x)                                                                  \
	do {                                                                       \
		y##0 = x##0 + x##1;                                                \
		y##1 = x##1 + x##2;                                                \
	} while (0)
#define AT4(y, x)                                                                  \
	do {                                                                       \
		const float s12_ = x##1 + x##2, d12_ = x##1 - x##2;                \
		y##0 = x##0 + s12_ + x##3;                                         \
		y##1 = d12_ + 2.0f * x##3;                                         \
		y##2 = s12_ + 4.0f * x##3;                                         \
		y##3 = d12_ + 8.0f * x##3 + x##4;                                  \
	} while (0)

/* Row y of plane [h][w], or the zero row outside the image. */
static const float *row_or_zero(const float *plane, int y, int h, int w, const float *zero)
{
	return y < 0 || y >= h ? zero : plane + (size_t)y * w;
}

/*
 * V [ne][c][nt] for the tiles of tile rows [q0, q1), in two passes over
 * the chunk.  Down the columns: z_a[r zs + x] = the 1-d transform down
 * tile row r's 2m+1 input rows at column x (point a), zs = 2m tw, zeros
 * at columns w .. zs-1.  Then along the rows, over all the chunk's tiles
 * in one vector loop: tile t = r tw + tx reads z_a[2m t - 1 .. 2m t +
 * 2m - 1], which is its columns 2m tx - 1 .. 2m tx + 2m - 1 since the
 * chunk's rows lie zs apart, except column -1 of each row's first tile
 * (the padding): its one point that reads it is computed again after,
 * with a zero there.  One body for both m (constants after inlining).
 */
static inline __attribute__((always_inline)) void
input_body(float *V, const float *inp, const struct conv2d_dims *d, const struct plan *p, long q0,
	   long q1, const int m)
{
	const int tw = p->tw, h = d->h, w = d->w, n1 = 2 * m + 1, zs = 2 * m * tw;
	const size_t nt = (size_t)(q1 - q0) * tw, zl = nt * 2 * m + 1;
	const size_t es = mat_stride((size_t)d->c * nt), hw = (size_t)h * w;
	float zero[S2_W_MAX], z[9 * (8 * NT_MAX + 1)];

	memset(zero, 0, (size_t)w * sizeof *zero);
	for (int a = 0; a < n1; a++)
		z[a * zl] = 0.0f;	/* read as column -1 of tile 0, then replaced */
	for (int ci = 0; ci < d->c; ci++) {
		for (long q = q0; q < q1; q++) {
			const long img = q / p->th;
			const int ty = (int)(q % p->th), y0 = 2 * m * ty - 1;
			const float *plane = inp + ((size_t)img * d->c + ci) * hw;
			const float *r[9];
			UNROLL
			for (int k = 0; k < n1; k++)
				r[k] = row_or_zero(plane, y0 + k, h, w, zero);
			float *zr = z + 1 + (size_t)(q - q0) * zs;
			if (m == 2) {
				const float *r0 = r[0], *r2 = r[2], *r4 = r[4];
				float *z0 = zr, *z1 = z0 + zl, *z2 = z1 + zl;
				SIMD
				for (int x = 0; x < w; x++) {
					const float x0 = r0[x], x1 = r2[x], x2 = r4[x];
					float o0, o1, o2;
					BT2(o, x);
					z0[x] = o0, z1[x] = o1, z2[x] = o2;
				}
			} else {
				const float *r0 = r[0], *r2 = r[2], *r4 = r[4], *r6 = r[6], *r8 = r[8];
				float *z0 = zr, *z1 = z0 + zl, *z2 = z1 + zl, *z3 = z2 + zl;
				float *z4 = z3 + zl;
				SIMD
				for (int x = 0; x < w; x++) {
					const float x0 = r0[x], x1 = r2[x], x2 = r4[x], x3 = r6[x];
					const float x4 = r8[x];
					float o0, o1, o2, o3, o4;
					BT4(o, x);
					z0[x] = o0, z1[x] = o1, z2[x] = o2, z3[x] = o3, z4[x] = o4;
				}
			}
			for (int k = 0; k < m; k++)	/* the even rows as they are */
				memcpy(zr + (size_t)(m + 1 + k) * zl, r[2 * k + 1], (size_t)w * sizeof *z);
			for (int a = 0; a < n1; a++)
				for (int x = w; x < zs; x++)
					zr[(size_t)a * zl + x] = 0.0f;
		}
		float *v = V + (size_t)ci * nt;
		for (int a = 0; a < n1; a++) {
			const float *za = z + 1 + (size_t)a * zl;
			float *va = v + (size_t)(a * n1) * es;
			if (m == 2) {
				float *v0 = va, *v1 = v0 + es, *v2 = v1 + es, *v3 = v2 + es;
				float *v4 = v3 + es;
				SIMD
				for (size_t t = 0; t < nt; t++) {
					const float *cz = za + 4 * t - 1;
					const float x0 = cz[0], x1 = cz[2], x2 = cz[4];
					float o0, o1, o2;
					BT2(o, x);
					v0[t] = o0, v1[t] = o1, v2[t] = o2;
					v3[t] = cz[1], v4[t] = cz[3];
				}
				for (size_t t = 0; t < nt; t += tw) {	/* column -1: zero */
					const float x0 = 0.0f, x1 = za[4 * t + 1], x2 = za[4 * t + 3];
					float o0, o1, o2;
					BT2(o, x);
					(void)o1, (void)o2;
					v0[t] = o0;
				}
			} else {
				float *v0 = va, *v1 = v0 + es, *v2 = v1 + es, *v3 = v2 + es;
				float *v4 = v3 + es, *v5 = v4 + es, *v6 = v5 + es, *v7 = v6 + es;
				float *v8 = v7 + es;
				SIMD
				for (size_t t = 0; t < nt; t++) {
					const float *cz = za + 8 * t - 1;
					const float x0 = cz[0], x1 = cz[2], x2 = cz[4], x3 = cz[6];
					const float x4 = cz[8];
					float o0, o1, o2, o3, o4;
					BT4(o, x);
					v0[t] = o0, v1[t] = o1, v2[t] = o2, v3[t] = o3, v4[t] = o4;
					v5[t] = cz[1], v6[t] = cz[3], v7[t] = cz[5], v8[t] = cz[7];
				}
				for (size_t t = 0; t < nt; t += tw) {	/* column -1: zero */
					const float x0 = 0.0f, x1 = za[8 * t + 1], x2 = za[8 * t + 3];
					const float x3 = za[8 * t + 5], x4 = za[8 * t + 7];
					float o0, o1, o2, o3, o4;
					BT4(o, x);
					(void)o1, (void)o2, (void)o3, (void)o4;
					v0[t] = o0;
				}
			}
		}
	}
}

CLONES static void input_tiles2(float *V, const float *inp, const struct conv2d_dims *d,
				const struct plan *p, long q0, long q1)
{
	input_body(V, inp, d, p, q0, q1, 2);
}

CLONES static void input_tiles4(float *V, const float *inp, const struct conv2d_dims *d,
				const struct plan *p, long q0, long q1)
{
	input_body(V, inp, d, p, q0, q1, 4);
}

/* row [n] = its PReLU with slope a, in place: winograd.c's prelu_row(),
 * the bytes of nn.c's separate pass. */
CLONES NO_TRAP static void prelu_row(float *row, float a, int n)
{
	SIMD
	for (int x = 0; x < n; x++) {
		const float z = row[x] + 0.0f, neg = a * z;
		row[x] = z > 0 ? z : neg;
	}
}

/* One 1-d output transform of the points x[0 .. 2m] (x[k * xs]): y_i =
 * (A^T of the Winograd points)_i + the even point m+1+i. */
#define OUT1(m, y, x, xs)                                                          \
	do {                                                                       \
		if ((m) == 2) {                                                    \
			const float x0 = x[0], x1 = x[xs], x2 = x[2 * (xs)];       \
			float a0, a1;                                              \
			AT2(a, x);                                                 \
			y[0] = a0 + x[3 * (xs)], y[1] = a1 + x[4 * (xs)];          \
		} else {                                                           \
			const float x0 = x[0], x1 = x[xs], x2 = x[2 * (xs)];       \
			const float x3 = x[3 * (xs)], x4 = x[4 * (xs)];            \
			float a0, a1, a2, a3;                                      \
			AT4(a, x);                                                 \
			y[0] = a0 + x[5 * (xs)], y[1] = a1 + x[6 * (xs)];          \
			y[2] = a2 + x[7 * (xs)], y[3] = a3 + x[8 * (xs)];          \
		}                                                                  \
	} while (0)

/*
 * out [n][oc][oh][ow], tile rows [q0, q1) = A'^T M A' + bias, then the
 * PReLU with slopes alpha [oc] unless NULL: first down the columns (over
 * point a, for each column point b: t[i][b][t]), then along the rows into
 * y[i][m t + j] (the chunk's output rows i, tile after tile), each a vector
 * loop over the chunk's tiles; then the rows are copied out.
 */
static inline __attribute__((always_inline)) void
output_body(float *out, const float *M, const float *bias, const float *alpha,
	    const struct conv2d_dims *d, const struct plan *p, long q0, long q1, const int m)
{
	const int tw = p->tw, oh = p->oh, ow = p->ow, n1 = 2 * m + 1;
	const size_t nt = (size_t)(q1 - q0) * tw, es = (size_t)d->oc * nt;
	const size_t ohw = (size_t)oh * ow, ps = (size_t)n1 * es, ts = (size_t)n1 * nt;
	float s[4 * 9 * NT_MAX], yr[4 * 4 * NT_MAX];

	for (int o = 0; o < d->oc; o++) {
		const float bo = bias ? bias[o] : 0.0f;
		for (int b = 0; b < n1; b++) {
			const float *mb = M + (size_t)b * es + (size_t)o * nt;
			float *tb = s + (size_t)b * nt;
			SIMD
			for (size_t t = 0; t < nt; t++) {
				const float *x = mb + t;
				float y[4];
				OUT1(m, y, x, ps);
				UNROLL
				for (int i = 0; i < m; i++)
					tb[i * ts + t] = y[i];
			}
		}
		for (int i = 0; i < m; i++) {
			const float *ti = s + (size_t)i * ts;
			float *yi = yr + (size_t)i * m * nt;
			SIMD
			for (size_t t = 0; t < nt; t++) {
				const float *x = ti + t;
				float y[4];
				OUT1(m, y, x, nt);
				UNROLL
				for (int j = 0; j < m; j++)
					yi[m * t + j] = y[j] + bo;
			}
		}
		for (long q = q0; q < q1; q++) {
			const long img = q / p->th;
			const int ty = (int)(q % p->th);
			const int rows = oh - m * ty < m ? oh - m * ty : m;
			float *o0 = out + ((size_t)img * d->oc + o) * ohw + (size_t)(m * ty) * ow;
			for (int i = 0; i < rows; i++)
				memcpy(o0 + (size_t)i * ow, yr + ((size_t)i * nt + (size_t)(q - q0) * tw) * m,
				       (size_t)ow * sizeof *o0);
			if (alpha)	/* the tile row's output rows are consecutive */
				prelu_row(o0, alpha[o], rows * ow);
		}
	}
}

CLONES static void output_tiles2(float *out, const float *M, const float *bias,
				 const float *alpha, const struct conv2d_dims *d,
				 const struct plan *p, long q0, long q1)
{
	output_body(out, M, bias, alpha, d, p, q0, q1, 2);
}

CLONES static void output_tiles4(float *out, const float *M, const float *bias,
				 const float *alpha, const struct conv2d_dims *d,
				 const struct plan *p, long q0, long q1)
{
	output_body(out, M, bias, alpha, d, p, q0, q1, 4);
}

void winos2_forward_pre(float *out, float *work, const float *inp, const float *U, int m,
			const float *bias, const float *alpha, const struct conv2d_dims *d)
{
	const int c = d->c, oc = d->oc, nu = m + 2;
	struct plan p;

	plan_init(&p, d, m);
	if (p.rows == 0)
		return;
	const size_t us = mat_stride((size_t)oc * c), sl = slot(d, m);
	const long chunks = (p.rows + p.R - 1) / p.R;
	const int nb = blas_hold_single();
#ifdef _OPENMP
	int team = omp_get_max_threads();
	team = team < CONV2D_TEAM_MAX ? team : CONV2D_TEAM_MAX;
#else
	const int team = 1;
#endif
	TEAM(team)
	{
		float *V = work + sl * thread_id();
		float *M = V + (size_t)p.ne * mat_stride((size_t)c * p.R * p.tw);
		TEAM_FOR
		for (long k = 0; k < chunks; k++) {
			const long q0 = k * p.R, q1 = q0 + p.R < p.rows ? q0 + p.R : p.rows;
			const int nt = (int)(q1 - q0) * p.tw;
			const size_t vs = mat_stride((size_t)c * nt);
			if (m == 2)
				input_tiles2(V, inp, d, &p, q0, q1);
			else
				input_tiles4(V, inp, d, &p, q0, q1);
			for (int e = 0; e < p.ne; e++) {
				const int a = e / p.n1, b = e % p.n1;
				const int u = (a < m + 1 ? a : m + 1) * nu + (b < m + 1 ? b : m + 1);
				wgemm(0, 0, 0, oc, nt, c, U + u * us, c, V + e * vs, nt,
				      M + (size_t)e * oc * nt, nt);
			}
			if (m == 2)
				output_tiles2(out, M, bias, alpha, d, &p, q0, q1);
			else
				output_tiles4(out, M, bias, alpha, d, &p, q0, q1);
		}
	}
	blas_release_single(nb);
}
