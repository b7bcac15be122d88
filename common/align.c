/*
 * align: similarity fit, bilinear warp, and hm-align's threaded batch.
 *
 * The warp is an inverse map: output pixel (u, v) reads the source at
 * M^-1 (u, v).  Along an output row that source position moves linearly, so
 * each row is split into the run of pixels whose four bilinear taps all lie
 * inside the image (the fast loop: no bounds checks, fixed-point positions
 * stepped exactly) and the few pixels near the border (per-tap checks, zero
 * outside).  Which pixels are interior is decided with the same integer
 * arithmetic the loop uses, checked at both ends of the run; positions are
 * linear in u, so a run whose ends are inside is inside throughout.
 */
#include "align.h"
#include "err.h"
#include "outfile.h"
#include "progress.h"
#include "rec.h"
#include "util.h"

#include <errno.h>
#include <math.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* insightface python-package/insightface/utils/face_align.py, arcface_dst */
static const double arcface_dst[5][2] = {
	{ 38.2946, 51.6963 }, { 73.5318, 51.5014 }, { 56.0252, 71.7366 },
	{ 41.5493, 92.3655 }, { 70.7299, 92.2041 },
};

int align_template_init(struct align_template *t, const char *name, int width,
			int height)
{
	int w0, h0 = 112;
	if (!strcmp(name, "insightface"))
		w0 = 112;
	else if (!strcmp(name, "sphereface"))
		w0 = 96;
	else
		return hm_error("unknown template '%s' (insightface or sphereface)", name);
	if (!width && !height) {
		width = w0;
		height = h0;
	}
	if (width < 1 || height < 1 || width > REC_MAX_SIDE || height > REC_MAX_SIDE)
		return hm_error("template size %dx%d out of range 1..%d", width, height,
				REC_MAX_SIDE);
	/* estimate_norm(): sizes of the 112 family scale by size/112; those of
	 * the 128 family by size/128 and move right by 8 * ratio, i.e. centre
	 * the 112-wide frame.  Centring horizontally is the general rule. */
	double r = height / 112.0;
	if (width == height && width % 112 && !(width % 128))
		r = width / 128.0;
	double dx = (width - 112.0 * r) / 2;
	t->width = width;
	t->height = height;
	for (int i = 0; i < 5; i++) {
		t->pt[i][0] = arcface_dst[i][0] * r + dx;
		t->pt[i][1] = arcface_dst[i][1] * r;
	}
	return 0;
}

/*
 * Umeyama, "Least-squares estimation of transformation parameters between two
 * point patterns", PAMI 1991.  In 2-D, with centred points s_i (source) and
 * d_i (target), variance S = mean |s|^2 and A = mean (s . d),
 * B = mean (s x d), the optimum is rotation atan2(B, A) with scale
 * sqrt(A^2 + B^2) / S: the linear part [a -b; b a] with a = A/S, b = B/S.
 * (The SVD form reduces to this; its reflection guard is never needed here
 * because this form cannot produce a reflection.)
 */
int align_fit(double m[6], const double (*src)[2], const double (*dst)[2], int n)
{
	if (n < 2)
		return hm_error("a similarity needs at least 2 points, got %d", n);
	double msx = 0, msy = 0, mdx = 0, mdy = 0;
	for (int i = 0; i < n; i++) {
		msx += src[i][0];
		msy += src[i][1];
		mdx += dst[i][0];
		mdy += dst[i][1];
	}
	msx /= n;
	msy /= n;
	mdx /= n;
	mdy /= n;
	double var = 0, A = 0, B = 0;
	for (int i = 0; i < n; i++) {
		double sx = src[i][0] - msx, sy = src[i][1] - msy;
		double dx = dst[i][0] - mdx, dy = dst[i][1] - mdy;
		var += sx * sx + sy * sy;
		A += sx * dx + sy * dy;
		B += sx * dy - sy * dx;
	}
	/* Points closer together than 1/1000 px carry no shape. */
	if (!(var / n > 1e-6))
		return hm_error("degenerate landmarks: the points coincide");
	double a = A / var, b = B / var;
	if (!(a * a + b * b > 1e-18) || !isfinite(a) || !isfinite(b))
		return hm_error("degenerate landmarks: the fitted scale is 0");
	m[0] = a;
	m[1] = -b;
	m[2] = mdx - (a * msx - b * msy);
	m[3] = b;
	m[4] = a;
	m[5] = mdy - (b * msx + a * msy);
	return 0;
}

int align_invert(double inv[6], const double m[6])
{
	double det = m[0] * m[4] - m[1] * m[3];
	if (!isfinite(det) || fabs(det) < 1e-300)
		return hm_error("singular transform");
	double i0 = m[4] / det, i1 = -m[1] / det, i3 = -m[3] / det, i4 = m[0] / det;
	inv[0] = i0;
	inv[1] = i1;
	inv[2] = -(i0 * m[2] + i1 * m[5]);
	inv[3] = i3;
	inv[4] = i4;
	inv[5] = -(i3 * m[2] + i4 * m[5]);
	return 0;
}

void align_map(const double m[6], double x, double y, double *u, double *v)
{
	*u = m[0] * x + m[1] * y + m[2];
	*v = m[3] * x + m[4] * y + m[5];
}

/* ---- warp ---- */

#define WBITS 11	/* bilinear weights in 1/2048 */
#define WONE (1 << WBITS)
#define FRAC 32		/* source positions in 32.32 fixed point */

static int warp_check(const struct image *out, const struct image *in,
		      const double m[6], double inv[6])
{
	if (out->channels != in->channels)
		return hm_error("warp: %d output channels for a %d-channel image",
				out->channels, in->channels);
	if (in->channels != 1 && in->channels != 3)
		return hm_error("warp: bad channel count %d", in->channels);
	return align_invert(inv, m);
}

/* One border pixel: source position quantised as in the fast loop, each tap
 * checked, taps outside the W x H image read 0.  The pixels are those of
 * the window of IN at (OX, OY) of that image; a tap inside the image but
 * outside the window sets *MISS (the caller decoded too little). */
static void warp_pixel_border(unsigned char *o, const struct image *in, int ox, int oy,
			      int w, int h, double sx, double sy, int C, int *miss)
{
	if (!(sx > -1 && sx < w && sy > -1 && sy < h)) {
		memset(o, 0, C);
		return;
	}
	double qx = floor(sx * WONE + 0.5), qy = floor(sy * WONE + 0.5);
	int x0 = (int)floor(qx / WONE), y0 = (int)floor(qy / WONE);
	int fx = (int)(qx - (double)x0 * WONE), fy = (int)(qy - (double)y0 * WONE);
	int w11 = (fx * fy + WONE / 2) >> WBITS;
	int wt[4] = { WONE - fx - fy + w11, fx - w11, fy - w11, w11 };
	int tx[4] = { x0, x0 + 1, x0, x0 + 1 }, ty[4] = { y0, y0, y0 + 1, y0 + 1 };
	int in_tap[4];
	for (int k = 0; k < 4; k++) {
		in_tap[k] = tx[k] >= 0 && tx[k] < w && ty[k] >= 0 && ty[k] < h;
		tx[k] -= ox;
		ty[k] -= oy;
		if (in_tap[k] && (tx[k] < 0 || tx[k] >= in->width || ty[k] < 0 ||
				  ty[k] >= in->height)) {
			*miss = 1;
			in_tap[k] = 0;
		}
	}
	for (int c = 0; c < C; c++) {
		int acc = WONE / 2;
		for (int k = 0; k < 4; k++)
			if (in_tap[k])
				acc += wt[k] * in->data[((size_t)ty[k] * in->width + tx[k]) * C + c];
		o[c] = (unsigned char)(acc >> WBITS);
	}
}

/* The interior run: all four taps inside, positions X = X0 + u DX exactly.
 * Weights: w11 = fx fy rounded; the others from it, so the four always sum
 * to exactly 2048 (no drift in flat areas).  C is a constant after inlining. */
static inline void warp_run(unsigned char *restrict o, const unsigned char *restrict src,
			    size_t stride, int64_t X, int64_t Y, int64_t DX, int64_t DY,
			    int n, const int C)
{
	for (int i = 0; i < n; i++, X += DX, Y += DY, o += C) {
		/* Inside the run 0 <= X < 2^45, so the 1/2048 grid fits 32 bits. */
		uint32_t xq = (uint32_t)(X >> (FRAC - WBITS)), yq = (uint32_t)(Y >> (FRAC - WBITS));
		uint32_t fx = xq & (WONE - 1), fy = yq & (WONE - 1);
		uint32_t w11 = (fx * fy + WONE / 2) >> WBITS;
		uint32_t w01 = fx - w11, w10 = fy - w11, w00 = WONE - fx - fy + w11;
		const unsigned char *p = src + (size_t)(yq >> WBITS) * stride +
					 (size_t)(xq >> WBITS) * C;
		const unsigned char *q = p + stride;
		if (C == 3) {
			uint32_t r = p[0] * w00 + p[3] * w01 + q[0] * w10 + q[3] * w11;
			uint32_t g = p[1] * w00 + p[4] * w01 + q[1] * w10 + q[4] * w11;
			uint32_t b = p[2] * w00 + p[5] * w01 + q[2] * w10 + q[5] * w11;
			o[0] = (unsigned char)((r + WONE / 2) >> WBITS);
			o[1] = (unsigned char)((g + WONE / 2) >> WBITS);
			o[2] = (unsigned char)((b + WONE / 2) >> WBITS);
		} else {
			uint32_t y = p[0] * w00 + p[1] * w01 + q[0] * w10 + q[1] * w11;
			o[0] = (unsigned char)((y + WONE / 2) >> WBITS);
		}
	}
}

#ifdef __SSE2__
/*
 * The RGB run with SSE2: one 8-byte load per source row gives both taps of
 * all three channels (and two bytes of the next pixel, weighted 0); rows p
 * and q are interleaved so that one pmaddwd forms p*w0x + q*w1x per lane.
 * The 8-byte loads read 2 bytes past the second tap, which the caller
 * guarantees to be inside the image by keeping y0 + 1 < h - 1 (for a
 * window, inside its buffer: image_alloc()'s 16 bytes of slack).
 */
static void warp_run3_sse2(unsigned char *restrict o, const unsigned char *restrict src,
			   size_t stride, int64_t X, int64_t Y, int64_t DX, int64_t DY, int n)
{
	const __m128i zero = _mm_setzero_si128(), round = _mm_set1_epi32(WONE / 2);
	const __m128i mask = _mm_set1_epi32(WONE - 1), one = _mm_set1_epi32(WONE);
	int i = 0;
	/*
	 * Four pixels a step: their weights side by side (the same integer
	 * formulas as below, so the same bytes), each pixel's sum as below,
	 * and the four results stored as 32-bit words 3 bytes apart, each
	 * word's fourth byte overwritten by the next pixel.  The last store's
	 * fourth byte falls on the pixel after the four, so the group loop
	 * stops while at least one pixel of the run is left for the loop below.
	 */
	for (; i + 4 < n; i += 4) {
		uint32_t xq[4], yq[4];
#pragma GCC unroll 4
		for (int k = 0; k < 4; k++, X += DX, Y += DY) {
			xq[k] = (uint32_t)(X >> (FRAC - WBITS));
			yq[k] = (uint32_t)(Y >> (FRAC - WBITS));
		}
		__m128i fx = _mm_and_si128(_mm_set_epi32((int)xq[3], (int)xq[2], (int)xq[1],
							 (int)xq[0]), mask);
		__m128i fy = _mm_and_si128(_mm_set_epi32((int)yq[3], (int)yq[2], (int)yq[1],
							 (int)yq[0]), mask);
		/* fx, fy < 2^11 in the low halves: pmaddwd gives fx * fy exactly */
		__m128i w11 = _mm_srli_epi32(_mm_add_epi32(_mm_madd_epi16(fx, fy), round), WBITS);
		__m128i w01 = _mm_sub_epi32(fx, w11), w10 = _mm_sub_epi32(fy, w11);
		__m128i w00 = _mm_add_epi32(_mm_sub_epi32(_mm_sub_epi32(one, fx), fy), w11);
		__m128i left = _mm_or_si128(w00, _mm_slli_epi32(w10, 16));
		__m128i right = _mm_or_si128(w01, _mm_slli_epi32(w11, 16));
		__m128i lr[2] = { _mm_unpacklo_epi32(left, right), _mm_unpackhi_epi32(left, right) };
		__m128i res[4];
#pragma GCC unroll 4
		for (int k = 0; k < 4; k++) {
			const unsigned char *p = src + (size_t)(yq[k] >> WBITS) * stride +
						 (size_t)(xq[k] >> WBITS) * 3;
			__m128i a = _mm_loadl_epi64((const __m128i *)p);
			__m128i b = _mm_loadl_epi64((const __m128i *)(p + stride));
			__m128i ab = _mm_unpacklo_epi8(a, b);
			__m128i lo = _mm_unpacklo_epi8(ab, zero), hi = _mm_unpackhi_epi8(ab, zero);
			/* (left, left, left, right) and (right, right, -, -): the lanes
			 * marked - land in the sum's fourth lane, which is dropped */
			__m128i wl, wr;
			if (k & 1) {
				wl = _mm_shuffle_epi32(lr[k >> 1], _MM_SHUFFLE(3, 2, 2, 2));
				wr = _mm_shuffle_epi32(lr[k >> 1], _MM_SHUFFLE(3, 3, 3, 3));
			} else {
				wl = _mm_shuffle_epi32(lr[k >> 1], _MM_SHUFFLE(1, 0, 0, 0));
				wr = _mm_shuffle_epi32(lr[k >> 1], _MM_SHUFFLE(1, 1, 1, 1));
			}
			__m128i s_lo = _mm_madd_epi16(lo, wl), s_hi = _mm_madd_epi16(hi, wr);
			__m128i sum = _mm_add_epi32(s_lo, _mm_add_epi32(_mm_srli_si128(s_lo, 12),
									 _mm_slli_si128(s_hi, 4)));
			res[k] = _mm_srli_epi32(_mm_add_epi32(sum, round), WBITS);
		}
		__m128i px = _mm_packus_epi16(_mm_packs_epi32(res[0], res[1]),
					      _mm_packs_epi32(res[2], res[3]));
#pragma GCC unroll 4
		for (int k = 0; k < 4; k++, o += 3) {
			uint32_t v = (uint32_t)_mm_cvtsi128_si32(px);
			memcpy(o, &v, 4);
			px = _mm_srli_si128(px, 4);
		}
	}
	for (; i < n; i++, X += DX, Y += DY, o += 3) {
		uint32_t xq = (uint32_t)(X >> (FRAC - WBITS)), yq = (uint32_t)(Y >> (FRAC - WBITS));
		uint32_t fx = xq & (WONE - 1), fy = yq & (WONE - 1);
		uint32_t w11 = (fx * fy + WONE / 2) >> WBITS;
		uint32_t w01 = fx - w11, w10 = fy - w11, w00 = WONE - fx - fy + w11;
		const unsigned char *p = src + (size_t)(yq >> WBITS) * stride +
					 (size_t)(xq >> WBITS) * 3;
		__m128i a = _mm_loadl_epi64((const __m128i *)p);
		__m128i b = _mm_loadl_epi64((const __m128i *)(p + stride));
		__m128i ab = _mm_unpacklo_epi8(a, b);	/* p0 q0 p1 q1 ... p7 q7 */
		__m128i lo = _mm_unpacklo_epi8(ab, zero), hi = _mm_unpackhi_epi8(ab, zero);
		int left = (int)(w00 | w10 << 16), right = (int)(w01 | w11 << 16);
		/* lo = (R0, G0, B0, R1) tap pairs, hi = (G1, B1, -, -) */
		__m128i s_lo = _mm_madd_epi16(lo, _mm_set_epi32(right, left, left, left));
		__m128i s_hi = _mm_madd_epi16(hi, _mm_set_epi32(0, 0, right, right));
		__m128i sum = _mm_add_epi32(s_lo, _mm_add_epi32(_mm_srli_si128(s_lo, 12),
								 _mm_slli_si128(s_hi, 4)));
		sum = _mm_srli_epi32(_mm_add_epi32(sum, round), WBITS);
		sum = _mm_packs_epi32(sum, sum);
		uint32_t rgb = (uint32_t)_mm_cvtsi128_si32(_mm_packus_epi16(sum, sum));
		o[0] = (unsigned char)rgb;
		o[1] = (unsigned char)(rgb >> 8);
		o[2] = (unsigned char)(rgb >> 16);
	}
}
#endif

/* Whether the taps of position (X, Y) start at x0 < XLIM and y0 < YLIM. */
static int inside(int64_t X, int64_t Y, int xlim, int ylim)
{
	return X >= 0 && Y >= 0 && (X >> FRAC) < xlim && (Y >> FRAC) < ylim;
}

/* Whether the taps (x0, y0) .. (x0 + 1, y0 + 1) of window position (X, Y)
 * lie inside a window of WW x WH pixels. */
static int in_window(int64_t X, int64_t Y, int ww, int wh)
{
	return X >= 0 && Y >= 0 && (X >> FRAC) + 1 < ww && (Y >> FRAC) + 1 < wh;
}

/*
 * The warp, reading a window: IN holds the pixels of the rectangle at
 * (OX, OY) of a W x H image.  Every decision (which pixels take the fast
 * run, each position and weight) is made in the coordinates of the whole
 * image, exactly as for the whole image; only the pixel addresses move by
 * (OX, OY), an exact integer shift, so the output is byte-identical to the
 * warp of the whole image as long as the window holds every tap inside the
 * image.  A tap inside the image but outside the window fails (-1): it
 * would mean the caller decoded too little.
 */
static int warp_window(struct image *out, const struct image *in, int ox, int oy,
		       int w, int h, const double m[6])
{
	double inv[6];
	if (warp_check(out, in, m, inv))
		return -1;
	const int C = in->channels, W = out->width;
	const int ww = in->width, wh = in->height;
	const int64_t OX = (int64_t)ox << FRAC, OY = (int64_t)oy << FRAC;
	int miss = 0;
	const double one = (double)((int64_t)1 << FRAC);
	/* Rounding the position to the nearest 1/2048 px = adding half a step. */
	const int64_t half = (int64_t)1 << (FRAC - WBITS - 1);
	/* 32.32 holds positions up to 2^31; keep u DX and X0 far from that. */
	int fixed_ok = fabs(inv[0]) < 65536 && fabs(inv[3]) < 65536;
	int64_t DX = fixed_ok ? llround(inv[0] * one) : 0;
	int64_t DY = fixed_ok ? llround(inv[3] * one) : 0;
	/* Interior: x0 + 1 <= w - 1 and y0 + 1 <= h - 1; the SSE2 RGB loop
	 * over-reads 2 bytes after the lower tap row, so it also keeps that row
	 * off the image's last one (a window's last row may be that row: the
	 * 2 bytes then fall in image_alloc()'s slack). */
	int xlim = w - 1, ylim = h - 1;
#ifdef __SSE2__
	if (C == 3)
		ylim = h - 2;
#endif
	for (int v = 0; v < out->height; v++) {
		unsigned char *row = out->data + (size_t)v * W * C;
		double sx0 = inv[1] * v + inv[2], sy0 = inv[4] * v + inv[5];
		int ua = 0, ub = -1;	/* interior run [ua, ub] */
		if (fixed_ok && fabs(sx0) < 1e8 && fabs(sy0) < 1e8 && xlim > 0 && ylim > 0) {
			int64_t X0 = llround(sx0 * one) + half, Y0 = llround(sy0 * one) + half;
			/* Solve 0 <= s0 + u a < size - 1 for u in double, then
			 * settle the ends with the loop's own arithmetic. */
			double lo = 0, hi = W - 1;
			const double s0[2] = { sx0, sy0 }, a[2] = { inv[0], inv[3] };
			const int lim[2] = { xlim, ylim };
			for (int k = 0; k < 2; k++) {
				if (a[k] == 0) {
					if (s0[k] < 0 || s0[k] >= lim[k])
						hi = -1;
					continue;
				}
				double u1 = -s0[k] / a[k], u2 = (lim[k] - s0[k]) / a[k];
				if (u1 > u2) {
					double t = u1;
					u1 = u2;
					u2 = t;
				}
				lo = fmax(lo, u1);
				hi = fmin(hi, u2);
			}
			if (lo <= hi) {
				ua = (int)ceil(lo);
				ub = (int)floor(hi);
				while (ua <= ub && !inside(X0 + ua * DX, Y0 + ua * DY, xlim, ylim))
					ua++;
				while (ub >= ua && !inside(X0 + ub * DX, Y0 + ub * DY, xlim, ylim))
					ub--;
			}
			/* the run's ends are inside the window, so all of it is */
			if (ua <= ub &&
			    (!in_window(X0 + ua * DX - OX, Y0 + ua * DY - OY, ww, wh) ||
			     !in_window(X0 + ub * DX - OX, Y0 + ub * DY - OY, ww, wh))) {
				miss = 1;
				ua = 0, ub = -1;
			}
			if (ua <= ub) {
				int64_t X = X0 + ua * DX - OX, Y = Y0 + ua * DY - OY;
				unsigned char *o = row + (size_t)ua * C;
				size_t stride = (size_t)ww * C;
				if (C == 3)
#ifdef __SSE2__
					warp_run3_sse2(o, in->data, stride, X, Y, DX, DY, ub - ua + 1);
#else
					warp_run(o, in->data, stride, X, Y, DX, DY, ub - ua + 1, 3);
#endif
				else
					warp_run(o, in->data, stride, X, Y, DX, DY, ub - ua + 1, 1);
			}
		}
		if (ua > ub)
			ua = W, ub = W - 1;	/* no run: every pixel is a border pixel */
		for (int u = 0; u < W; u++) {
			if (u == ua) {
				u = ub;
				continue;
			}
			warp_pixel_border(row + (size_t)u * C, in, ox, oy, w, h,
					  inv[0] * u + sx0, inv[3] * u + sy0, C, &miss);
		}
	}
	if (miss)
		return hm_error("warp: the decoded window (%dx%d at %d,%d) misses pixels "
				"the warp reads", ww, wh, ox, oy);
	return 0;
}

int align_warp(struct image *out, const struct image *in, const double m[6])
{
	return warp_window(out, in, 0, 0, in->width, in->height, m);
}

int align_warp_ref(struct image *out, const struct image *in, const double m[6])
{
	double inv[6];
	if (warp_check(out, in, m, inv))
		return -1;
	int C = in->channels, w = in->width, h = in->height;
	for (int v = 0; v < out->height; v++)
		for (int u = 0; u < out->width; u++) {
			double sx, sy;
			align_map(inv, u, v, &sx, &sy);
			double x0 = floor(sx), y0 = floor(sy), fx = sx - x0, fy = sy - y0;
			double wt[4] = { (1 - fx) * (1 - fy), fx * (1 - fy), (1 - fx) * fy, fx * fy };
			double tx[4] = { x0, x0 + 1, x0, x0 + 1 }, ty[4] = { y0, y0, y0 + 1, y0 + 1 };
			for (int c = 0; c < C; c++) {
				double acc = 0;
				for (int k = 0; k < 4; k++)
					if (tx[k] >= 0 && tx[k] < w && ty[k] >= 0 && ty[k] < h)
						acc += wt[k] * in->data[((size_t)ty[k] * w +
									 (size_t)tx[k]) * C + c];
				int q = (int)floor(acc + 0.5);
				out->data[((size_t)v * out->width + u) * C + c] =
					(unsigned char)(q < 0 ? 0 : q > 255 ? 255 : q);
			}
		}
	return 0;
}

int align_face(struct image *out, double m[6], const struct image *in,
	       const float pt[5][2], const struct align_template *t, const char *name)
{
	double src[5][2], mm[6];
	memset(out, 0, sizeof *out);
	for (int i = 0; i < 5; i++) {
		src[i][0] = pt[i][0];
		src[i][1] = pt[i][1];
	}
	if (align_fit(mm, (const double (*)[2])src, (const double (*)[2])t->pt, 5))
		return hm_error_prefix("'%s'", name);
	if (m)
		memcpy(m, mm, sizeof mm);
	if (image_alloc(out, t->width, t->height, in->channels))
		return -1;
	if (align_warp(out, in, mm)) {
		image_free(out);
		return hm_error_prefix("'%s'", name);
	}
	return 0;
}

int align_decode_denom(const double m[6])
{
	double s = hypot(m[0], m[3]);	/* output px per source px */
	int d = 8;
	while (d > 1 && !(s * d <= 1))
		d /= 2;
	return d;
}

/* M for the image decoded at 1/D: source x = D x' + (D - 1) / 2. */
static void map_scaled(double ms[6], const double m[6], int d)
{
	double c = (d - 1) / 2.0;
	for (int r = 0; r < 2; r++) {
		const double *a = m + 3 * r;
		double *b = ms + 3 * r;
		b[0] = a[0] * d;
		b[1] = a[1] * d;
		b[2] = a[2] + (a[0] + a[1]) * c;
	}
}

static int clamp_coord(double v)
{
	const double lim = 1 << 24;
	return (int)(v < -lim ? -lim : v > lim ? lim : v);
}

/* The source pixels the warp by M into W x H reads: the bounding box of the
 * output corners mapped back, the bilinear tap to the right and below, and
 * one pixel of margin all round (positions are quantised to 1/2048). */
static void source_rect(int rect[4], const double m[6], int W, int H)
{
	double inv[6], x0 = INFINITY, y0 = INFINITY, x1 = -INFINITY, y1 = -INFINITY;
	align_invert(inv, m);	/* M came from align_fit(): never singular */
	for (int k = 0; k < 4; k++) {
		double x, y;
		align_map(inv, k & 1 ? W - 1 : 0, k & 2 ? H - 1 : 0, &x, &y);
		x0 = fmin(x0, x), x1 = fmax(x1, x);
		y0 = fmin(y0, y), y1 = fmax(y1, y);
	}
	rect[0] = clamp_coord(floor(x0) - 1);
	rect[1] = clamp_coord(floor(y0) - 1);
	rect[2] = clamp_coord(floor(x1) + 2);
	rect[3] = clamp_coord(floor(y1) + 2);
}

int align_face_decode(struct image *out, double m[6], struct image_window *win,
		      struct jpeg *j, const unsigned char *buf, size_t n, int channels,
		      const float pt[5][2], const struct align_template *t,
		      enum align_decode mode, const char *name)
{
	double src[5][2], mm[6], ms[6];
	struct image in = { 0 };
	struct image_window w;
	memset(out, 0, sizeof *out);
	for (int i = 0; i < 5; i++) {
		src[i][0] = pt[i][0];
		src[i][1] = pt[i][1];
	}
	if (align_fit(mm, (const double (*)[2])src, (const double (*)[2])t->pt, 5)) {
		/* the decode's complaint first, as when the image was read first */
		if (image_decode(j, buf, n, channels, &in, name))
			return -1;
		image_free(&in);
		align_fit(mm, (const double (*)[2])src, (const double (*)[2])t->pt, 5);
		return hm_error_prefix("'%s'", name);
	}
	if (m)
		memcpy(m, mm, sizeof mm);
	int rc;
	if (mode == ALIGN_DECODE_FULL) {
		rc = image_decode(j, buf, n, channels, &in, name);
		w = (struct image_window){ .full_width = in.width, .full_height = in.height,
					   .denom = 1 };
	} else {
		int d = mode == ALIGN_DECODE_SCALED ? align_decode_denom(mm) : 1, rect[4];
		map_scaled(ms, mm, d);
		source_rect(rect, ms, t->width, t->height);
		rc = image_decode_region(j, buf, n, channels, d, rect, &in, &w, name);
	}
	if (rc)
		return -1;
	map_scaled(ms, mm, w.denom);
	if (win)
		*win = w;
	rc = image_alloc(out, t->width, t->height, in.channels);
	if (!rc && warp_window(out, &in, w.x, w.y, w.full_width, w.full_height, ms)) {
		image_free(out);
		rc = hm_error_prefix("'%s'", name);
	}
	image_free(&in);
	return rc;
}

int align_key(char *buf, size_t size, const char *path)
{
	while (path[0] == '.' && path[1] == '/') {
		path += 2;
		while (*path == '/')
			path++;
	}
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	const char *dot = strrchr(base, '.');
	size_t n = dot && dot > base ? (size_t)(dot - path) : strlen(path);
	if (n == 0 || n >= size || n > REC_MAX_KEY)
		return hm_error("'%s': no usable key (empty or longer than %d bytes)", path,
				REC_MAX_KEY);
	memcpy(buf, path, n);
	buf[n] = '\0';
	return 0;
}

/* ---- align_batch ---- */

/*
 * Threads claim entries in input order from a window of WINDOW slots ahead
 * of the writer; the writer (the calling thread) takes slot after slot in
 * order, so the bytes out never depend on the thread count.  With -j N the
 * writer is one of the N: while its next slot is not done it aligns an
 * entry itself instead of sleeping, so N threads share N cores and the
 * writer seldom waits (-j 2 made 2.4 futex calls an image with two
 * workers beside a sleeping writer).  With one thread everything runs
 * inline.
 */
#define WINDOW_PER_THREAD 16
#define HOLD_BACK (4u << 20)

enum { SLOT_FREE, SLOT_BUSY, SLOT_DONE };

struct slot {
	int state;
	int failed;
	int fatal;		/* a failure --skip-bad must not skip */
	char *msg;		/* failure message (malloc'd) */
	unsigned char *data;	/* JPEG bytes or raw pixels (records only) */
	size_t n;
	int width, height, channels;
};

struct run {
	struct align_batch *b;
	pthread_mutex_t mu;
	pthread_cond_t done_cv, space_cv;
	long next, written;
	int window, stop;
	struct slot *slots;
};

static char *full_path(const struct align_batch *b, const char *path)
{
	if (!b->root || !*b->root || !strcmp(b->root, "."))
		return strdup(path);
	size_t n = strlen(b->root);
	while (n > 1 && b->root[n - 1] == '/')
		n--;
	char *s = malloc(n + strlen(path) + 2);
	if (s)
		sprintf(s, "%.*s/%s", (int)n, b->root, path);
	return s;
}

/* Out-dir file for an entry: OUT_DIR/KEY.jpg. */
static char *out_path(const struct align_batch *b, const char *path)
{
	char key[REC_MAX_KEY + 1];
	if (align_key(key, sizeof key, path))
		return NULL;
	char *s = malloc(strlen(b->out_dir) + strlen(key) + 6);
	if (!s) {
		hm_error("out of memory");
		return NULL;
	}
	sprintf(s, "%s/%s.jpg", b->out_dir, key);
	return s;
}

void align_box_points(float pt[5][2], double cx, double cy, double side,
		      const struct align_template *t)
{
	double mx = 0, my = 0;
	for (int i = 0; i < 5; i++) {
		mx += t->pt[i][0] / 5;
		my += t->pt[i][1] / 5;
	}
	double eyes = hypot(t->pt[1][0] - t->pt[0][0], t->pt[1][1] - t->pt[0][1]);
	double k = side * ALIGN_BOX_EYES / eyes;
	for (int i = 0; i < 5; i++) {
		pt[i][0] = (float)(cx + k * (t->pt[i][0] - mx));
		pt[i][1] = (float)(cy + k * (t->pt[i][1] - my));
	}
}

/* The points to fit for entry E: its landmarks, or the stand-ins of its
 * face box (into BOX_PT). */
static const float (*face_points(float box_pt[5][2], const struct lmk_entry *e,
				 const struct align_template *t))[2]
{
	if (!e->has_box)
		return e->pt;
	align_box_points(box_pt, e->box[0], e->box[1],
			 e->box[2] > e->box[3] ? e->box[2] : e->box[3], t);
	return (const float (*)[2])box_pt;
}

/* hm-align --center-crop: the face box is a centred square of the image,
 * so the image's size must be known first: the whole image is decoded. */
static int align_center_crop(struct image *out, const struct align_batch *b,
			     struct jpeg *j, const unsigned char *buf, size_t n,
			     const char *path)
{
	struct image in = { 0 };
	float pt[5][2];
	int rc = image_decode(j, buf, n, b->channels, &in, path);
	if (!rc) {
		align_box_points(pt, (in.width - 1) / 2.0, (in.height - 1) / 2.0,
				 b->center_crop * (in.width < in.height ? in.width : in.height),
				 b->tmpl);
		rc = align_face(out, NULL, &in, (const float (*)[2])pt, b->tmpl, path);
	}
	image_free(&in);
	return rc;
}

/* Decode, fit, warp, encode (or save) entry I into S.  Thread-safe. */
static void process(struct align_batch *b, struct jpeg *j, long i, struct slot *s)
{
	const struct lmk_entry *e = &b->list->e[i];
	struct image out = { 0 };
	char *path = full_path(b, e->path), *dest = NULL;
	unsigned char *buf = NULL;
	size_t n = 0;
	float box_pt[5][2];
	int rc = path ? 0 : hm_error("out of memory");
	if (!rc)
		rc = file_read_all(path, &buf, &n);
	if (!rc && b->center_crop > 0)
		rc = align_center_crop(&out, b, j, buf, n, path);
	else if (!rc)
		rc = align_face_decode(&out, NULL, NULL, j, buf, n, b->channels,
				       face_points(box_pt, e, b->tmpl), b->tmpl, b->decode, path);
	free(buf);
	if (!rc && b->out_dir) {
		dest = out_path(b, e->path);
		rc = !dest || make_parent_dirs(dest) ||
		     image_save_jpeg(j, &out, b->quality, dest) ? -1 : 0;
	} else if (!rc && b->encoding == REC_JPEG) {
		rc = image_encode_jpeg(j, &out, b->quality, &s->data, &s->n);
		if (rc)
			hm_error_prefix("'%s'", path);
	} else if (!rc) {
		s->data = out.data;	/* raw: the pixels are the payload */
		s->n = (size_t)out.width * out.height * out.channels;
		out.data = NULL;
	}
	s->width = out.width;
	s->height = out.height;
	s->channels = out.channels;
	image_free(&out);
	s->failed = rc != 0;
	if (rc)
		s->msg = strdup(hm_errmsg());
	free(path);
	free(dest);
}

struct writer {
	struct align_batch *b;
	FILE *fp;		/* the hold-back buffer, then b->out */
	char *mem;
	size_t mem_n;
	int direct;
	struct progress prog;
};

static int write_failed(struct writer *w)
{
	int e = errno ? errno : EIO;
	w->b->broken_pipe = e == EPIPE;
	return hm_error_file("-", "write error: %s", strerror(e));
}

/* Sends the held-back records on and writes to OUT directly from now on. */
static int release_held(struct writer *w)
{
	if (w->direct)
		return 0;
	if (fclose(w->fp))
		return hm_error("out of memory");
	w->fp = w->b->out;
	w->direct = 1;
	errno = 0;
	if (w->mem_n && fwrite(w->mem, 1, w->mem_n, w->fp) != w->mem_n)
		return write_failed(w);
	return 0;
}

/* Hands slot I on: a record, a skip, or the error that stops the run. */
static int finish_slot(struct writer *w, long i, struct slot *s)
{
	struct align_batch *b = w->b;
	int rc = 0;
	if (s->failed) {
		if (!b->skip_bad || s->fatal) {
			hm_error("%s", s->msg ? s->msg : "out of memory");
			rc = -1;
		} else {
			b->n_skipped++;
			if (b->on_skip)
				b->on_skip(b->ctx, s->msg ? s->msg : "out of memory");
		}
	} else if (!b->out_dir) {
		const struct lmk_entry *e = &b->list->e[i];
		char key[REC_MAX_KEY + 1];
		errno = 0;
		rc = align_key(key, sizeof key, e->path);
		if (!rc && rec_write_image(w->fp, key, e->label, s->width, s->height,
					   s->channels, b->encoding, s->data, s->n))
			rc = w->direct ? write_failed(w) : -1;
		if (!rc)
			b->n_done++;
		if (!rc && !w->direct && ftell(w->fp) >= (long)HOLD_BACK)
			rc = release_held(w);
	} else {
		b->n_done++;
	}
	free(s->msg);
	free(s->data);
	memset(s, 0, sizeof *s);
	progress_update(&w->prog, i + 1);
	return rc;
}

/* The next entry for the calling thread, marked busy (R->mu held); -1 when
 * none is free now (the window is full) or left. */
static long claim(struct run *r)
{
	if (r->stop || r->next >= r->b->list->n || r->next >= r->written + r->window)
		return -1;
	long i = r->next++;
	r->slots[i % r->window].state = SLOT_BUSY;
	return i;
}

/* Aligns entry I into its slot with J; called and returns with R->mu held. */
static void align_one(struct run *r, struct jpeg *j, long i)
{
	struct slot *s = &r->slots[i % r->window];
	pthread_mutex_unlock(&r->mu);
	if (j) {
		process(r->b, j, i, s);
	} else {
		s->failed = s->fatal = 1;
		s->msg = strdup(hm_errmsg());
	}
	pthread_mutex_lock(&r->mu);
	s->state = SLOT_DONE;
	if (i == r->written)
		pthread_cond_signal(&r->done_cv);
}

static void *worker(void *arg)
{
	struct run *r = arg;
	struct jpeg *j = jpeg_new();
	pthread_mutex_lock(&r->mu);
	while (!r->stop && r->next < r->b->list->n) {
		long i = claim(r);
		if (i < 0)
			pthread_cond_wait(&r->space_cv, &r->mu);
		else
			align_one(r, j, i);
	}
	pthread_mutex_unlock(&r->mu);
	jpeg_free(j);
	return NULL;
}

/* Waits, as the writer, until slot I is done, aligning free entries with J
 * meanwhile (J NULL: only waits). */
static void wait_slot(struct run *r, struct jpeg *j, long i)
{
	const struct slot *s = &r->slots[i % r->window];
	pthread_mutex_lock(&r->mu);
	while (s->state != SLOT_DONE) {
		long k = j ? claim(r) : -1;
		if (k >= 0)
			align_one(r, j, k);
		else
			pthread_cond_wait(&r->done_cv, &r->mu);
	}
	pthread_mutex_unlock(&r->mu);
}

static int run_threads(struct align_batch *b, struct writer *w)
{
	struct run r = { .b = b };
	int rc = 0, started = 0, n_workers = b->threads - 1;
	r.window = b->threads * WINDOW_PER_THREAD;
	r.slots = calloc(r.window, sizeof *r.slots);
	pthread_t *tid = calloc(n_workers, sizeof *tid);
	struct jpeg *j = jpeg_new();	/* the writer's own; NULL: it only writes */
	if (!r.slots || !tid) {
		free(r.slots);
		free(tid);
		jpeg_free(j);
		return hm_error("out of memory");
	}
	pthread_mutex_init(&r.mu, NULL);
	pthread_cond_init(&r.done_cv, NULL);
	pthread_cond_init(&r.space_cv, NULL);
	for (; started < n_workers; started++)
		if (pthread_create(&tid[started], NULL, worker, &r)) {
			rc = hm_error("cannot start thread %d: %s", started + 2,
				      strerror(errno));
			break;
		}
	for (long i = 0; !rc && i < b->list->n; i++) {
		struct slot *s = &r.slots[i % r.window];
		wait_slot(&r, j, i);
		rc = finish_slot(w, i, s);
		pthread_mutex_lock(&r.mu);
		r.written = i + 1;
		pthread_cond_broadcast(&r.space_cv);
		pthread_mutex_unlock(&r.mu);
	}
	pthread_mutex_lock(&r.mu);
	r.stop = 1;
	pthread_cond_broadcast(&r.space_cv);
	pthread_mutex_unlock(&r.mu);
	for (int t = 0; t < started; t++)
		pthread_join(tid[t], NULL);
	for (int k = 0; k < r.window; k++) {
		free(r.slots[k].msg);
		free(r.slots[k].data);
	}
	pthread_mutex_destroy(&r.mu);
	pthread_cond_destroy(&r.done_cv);
	pthread_cond_destroy(&r.space_cv);
	jpeg_free(j);
	free(r.slots);
	free(tid);
	return rc;
}

static int run_inline(struct align_batch *b, struct writer *w)
{
	struct jpeg *j = jpeg_new();
	if (!j)
		return -1;
	int rc = 0;
	for (long i = 0; !rc && i < b->list->n; i++) {
		struct slot s = { 0 };
		process(b, j, i, &s);
		rc = finish_slot(w, i, &s);
	}
	jpeg_free(j);
	return rc;
}

/* Every file is there before any work starts (unless skipping). */
static int check_inputs(const struct align_batch *b)
{
	for (long i = 0; i < b->list->n; i++) {
		char *path = full_path(b, b->list->e[i].path);
		if (!path)
			return hm_error("out of memory");
		int bad = access(path, R_OK);
		int e = errno;
		if (bad)
			hm_error_file(path, "cannot open: %s", strerror(e));
		free(path);
		if (bad)
			return -1;
	}
	return 0;
}

int align_batch_run(struct align_batch *b)
{
	b->n_done = b->n_skipped = 0;
	b->broken_pipe = 0;
	if (b->threads < 1 || !b->tmpl || !b->list || (!b->out && !b->out_dir))
		return hm_error("align_batch_run: bad arguments");
	if (!b->out_dir && b->encoding != REC_JPEG && b->encoding != REC_RAW)
		return hm_error("align_batch_run: bad encoding %d", b->encoding);
	if (!b->skip_bad && check_inputs(b))
		return -1;
	if (b->out_dir && make_dirs(b->out_dir))
		return -1;
	/* A JPEG tree: one sync at the end instead of one per file. */
	if (b->out_dir)
		outfile_defer_fsync(1);
	struct writer w = { .b = b, .direct = 1, .fp = b->out };
	if (!b->out_dir) {
		w.fp = open_memstream(&w.mem, &w.mem_n);
		w.direct = 0;
		if (!w.fp)
			return hm_error("out of memory");
	}
	progress_init(&w.prog, b->progress, "images", b->list->n);
	int rc = b->threads == 1 ? run_inline(b, &w) : run_threads(b, &w);
	if (!rc && !b->out_dir) {
		errno = 0;
		if (rec_write_end(w.fp))
			rc = w.direct ? write_failed(&w) : -1;
		if (!rc)
			rc = release_held(&w);
		errno = 0;
		if (!rc && fflush(w.fp))
			rc = write_failed(&w);
	}
	if (b->out_dir) {
		outfile_defer_fsync(0);
		if (!rc)
			rc = outfile_sync_dir(b->out_dir);
	}
	if (!w.direct)
		fclose(w.fp);
	free(w.mem);
	if (!rc)
		progress_done(&w.prog, b->list->n);
	return rc;
}
