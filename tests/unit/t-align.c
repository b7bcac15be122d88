/* Alignment: templates, the similarity fit against an independent solve, the
 * fast warp against its naive twin, region and scaled decodes against the
 * whole decode, keys, and the batch's determinism. */
#include "tap.h"
#include "align.h"
#include "err.h"
#include "rec.h"
#include "rng.h"
#include "util.h"

#include <turbojpeg.h>

static const double arcface[5][2] = {
	{ 38.2946, 51.6963 }, { 73.5318, 51.5014 }, { 56.0252, 71.7366 },
	{ 41.5493, 92.3655 }, { 70.7299, 92.2041 },
};
/* sphereface_pytorch alignment() ref_pts, crop 96 x 112 */
static const double sphereface[5][2] = {
	{ 30.2946, 51.6963 }, { 65.5318, 51.5014 }, { 48.0252, 71.7366 },
	{ 33.5493, 92.3655 }, { 62.7299, 92.2041 },
};

static int points_near(const struct align_template *t, const double p[5][2],
		       double r, double dx, double tol)
{
	int good = 1;
	for (int i = 0; i < 5; i++)
		good &= fabs(t->pt[i][0] - (p[i][0] * r + dx)) <= tol &&
			fabs(t->pt[i][1] - p[i][1] * r) <= tol;
	return good;
}

static void test_templates(void)
{
	struct align_template t;
	is_int(align_template_init(&t, "insightface", 0, 0), 0, "insightface template");
	ok(t.width == 112 && t.height == 112 && points_near(&t, arcface, 1, 0, 1e-12),
	   "insightface: 112x112, arcface_dst");
	is_int(align_template_init(&t, "sphereface", 0, 0), 0, "sphereface template");
	ok(t.width == 96 && t.height == 112 && points_near(&t, sphereface, 1, 0, 1e-12),
	   "sphereface: 96x112, alignment() ref_pts");
	align_template_init(&t, "insightface", 128, 128);
	ok(points_near(&t, arcface, 1, 8, 1e-12), "128x128: ratio 1, +8 px (estimate_norm)");
	align_template_init(&t, "insightface", 224, 224);
	ok(points_near(&t, arcface, 2, 0, 1e-12), "224x224: ratio 2");
	align_template_init(&t, "sphereface", 256, 256);
	ok(points_near(&t, arcface, 2, 16, 1e-12), "256x256: ratio 2, +16 px");
	align_template_init(&t, "insightface", 96, 112);
	ok(points_near(&t, sphereface, 1, 0, 1e-12), "96x112 of insightface = sphereface");
	align_template_init(&t, "insightface", 192, 224);
	ok(points_near(&t, sphereface, 2, 0, 1e-12), "192x224 = sphereface doubled");
	is_int(align_template_init(&t, "dlib", 0, 0), -1, "unknown template fails");
	like(hm_errmsg(), "unknown template 'dlib'", "unknown template message");
	is_int(align_template_init(&t, "insightface", 0, 9000), -1, "size out of range fails");
}

/* Independent fit: unknowns (a, b, tx, ty) of u = a x - b y + tx,
 * v = b x + a y + ty by the 4x4 normal equations (Gauss-Jordan). */
static void fit_normal_equations(double m[6], const double (*s)[2], const double (*d)[2], int n)
{
	double A[4][5] = { { 0 } };
	for (int i = 0; i < n; i++) {
		double rows[2][5] = { { s[i][0], -s[i][1], 1, 0, d[i][0] },
				      { s[i][1], s[i][0], 0, 1, d[i][1] } };
		for (int r = 0; r < 2; r++)
			for (int j = 0; j < 4; j++)
				for (int k = 0; k < 5; k++)
					A[j][k] += rows[r][j] * rows[r][k];
	}
	for (int c = 0; c < 4; c++) {
		int piv = c;
		for (int r = c + 1; r < 4; r++)
			if (fabs(A[r][c]) > fabs(A[piv][c]))
				piv = r;
		for (int k = 0; k < 5; k++) {
			double t = A[c][k];
			A[c][k] = A[piv][k];
			A[piv][k] = t;
		}
		for (int r = 0; r < 4; r++) {
			if (r == c)
				continue;
			double f = A[r][c] / A[c][c];
			for (int k = 0; k < 5; k++)
				A[r][k] -= f * A[c][k];
		}
	}
	double a = A[0][4] / A[0][0], b = A[1][4] / A[1][1];
	double tx = A[2][4] / A[2][2], ty = A[3][4] / A[3][3];
	m[0] = a, m[1] = -b, m[2] = tx, m[3] = b, m[4] = a, m[5] = ty;
}

static void test_fit(void)
{
	struct rng r;
	rng_seed(&r, 7);
	double worst_exact = 0, worst_ls = 0, worst_inv = 0;
	for (int trial = 0; trial < 200; trial++) {
		/* A random similarity T; source points = T^-1(template) + noise. */
		double ang = rng_range(&r, -M_PI, M_PI), sc = rng_range(&r, 0.2, 5);
		double T[6] = { sc * cos(ang), -sc * sin(ang), rng_range(&r, -300, 300),
				sc * sin(ang), sc * cos(ang), rng_range(&r, -300, 300) }, Ti[6];
		align_invert(Ti, T);
		double src[5][2], m[6], ref[6];
		double noise = trial < 100 ? 0 : 3;
		for (int i = 0; i < 5; i++) {
			align_map(Ti, arcface[i][0], arcface[i][1], &src[i][0], &src[i][1]);
			src[i][0] += noise * rng_normal(&r);
			src[i][1] += noise * rng_normal(&r);
		}
		if (align_fit(m, (const double (*)[2])src, arcface, 5)) {
			ok(0, "fit %d failed: %s", trial, hm_errmsg());
			continue;
		}
		if (!noise) {
			for (int i = 0; i < 5; i++) {
				double u, v;
				align_map(m, src[i][0], src[i][1], &u, &v);
				worst_exact = fmax(worst_exact, hypot(u - arcface[i][0],
								      v - arcface[i][1]));
			}
		}
		fit_normal_equations(ref, (const double (*)[2])src, arcface, 5);
		for (int k = 0; k < 6; k++)
			worst_ls = fmax(worst_ls, fabs(m[k] - ref[k]) / (1 + fabs(ref[k])));
		double inv[6], u, v, x, y;
		align_invert(inv, m);
		align_map(m, 12.5, -40, &u, &v);
		align_map(inv, u, v, &x, &y);
		worst_inv = fmax(worst_inv, hypot(x - 12.5, y + 40));
	}
	ok(worst_exact < 1e-9, "exact similarity: landmarks land on the template (%.2g px)",
	   worst_exact);
	ok(worst_ls < 1e-9, "noisy points: fit = normal-equation least squares (%.2g)", worst_ls);
	ok(worst_inv < 1e-9, "invert undoes the map (%.2g px)", worst_inv);

	/* A mirrored face still gets a rotation, never a reflection. */
	double mirror[5][2], m[6];
	for (int i = 0; i < 5; i++)
		mirror[i][0] = 200 - arcface[i][0], mirror[i][1] = arcface[i][1];
	is_int(align_fit(m, (const double (*)[2])mirror, arcface, 5), 0, "mirrored points fit");
	ok(m[0] == m[4] && m[1] == -m[3], "the fit is a similarity (no reflection)");

	double same[5][2] = { { 5, 5 }, { 5, 5 }, { 5, 5 }, { 5, 5 }, { 5, 5 } };
	is_int(align_fit(m, (const double (*)[2])same, arcface, 5), -1, "coincident points fail");
	like(hm_errmsg(), "degenerate landmarks", "coincident points message");
	double flat[6] = { 0, 0, 1, 0, 0, 2 }, inv[6];
	is_int(align_invert(inv, flat), -1, "singular matrix does not invert");
}

static void random_image(struct image *im, struct rng *r, int w, int h, int c)
{
	image_alloc(im, w, h, c);
	/* Smooth ramps plus noise: both flat and busy areas. */
	for (int y = 0; y < h; y++)
		for (int x = 0; x < w; x++)
			for (int k = 0; k < c; k++) {
				int v = (x * (3 + k) + y * (5 - k)) % 256;
				if (rng_below(r, 4) == 0)
					v = (int)rng_below(r, 256);
				im->data[((size_t)y * w + x) * c + k] = (unsigned char)v;
			}
}

static void test_warp(void)
{
	struct rng r;
	rng_seed(&r, 11);
	int max_diff = 0, bad_shape = 0;
	double sum_diff = 0, n_values = 0;
	for (int trial = 0; trial < 120; trial++) {
		int c = trial % 2 ? 1 : 3;
		int w = 1 + (int)rng_below(&r, 90), h = 1 + (int)rng_below(&r, 90);
		if (trial < 4)
			w = trial < 2 ? 1 : w, h = trial < 2 ? h : 1;	/* 1-px-wide images */
		int W = 1 + (int)rng_below(&r, 70), H = 1 + (int)rng_below(&r, 70);
		struct image in, fast, ref;
		random_image(&in, &r, w, h, c);
		image_alloc(&fast, W, H, c);
		image_alloc(&ref, W, H, c);
		double ang = rng_range(&r, -M_PI, M_PI), sc = rng_range(&r, 0.3, 3);
		double m[6] = { sc * cos(ang), -sc * sin(ang), rng_range(&r, -60, 60),
				sc * sin(ang), sc * cos(ang), rng_range(&r, -60, 60) };
		if (trial % 7 == 0)	/* axis-aligned: exact zeros in the matrix */
			m[1] = m[3] = 0, m[0] = m[4] = sc;
		if (align_warp(&fast, &in, m) || align_warp_ref(&ref, &in, m)) {
			bad_shape = 1;
			continue;
		}
		for (size_t i = 0; i < (size_t)W * H * c; i++) {
			int d = abs(fast.data[i] - ref.data[i]);
			max_diff = d > max_diff ? d : max_diff;
			sum_diff += d;
			n_values++;
		}
		image_free(&in);
		image_free(&fast);
		image_free(&ref);
	}
	ok(!bad_shape, "warps ran");
	ok(max_diff <= 1, "fast warp within 1 of the double-precision twin (max %d)", max_diff);
	ok(sum_diff / n_values < 0.05, "and rarely off at all (mean %.4f)", sum_diff / n_values);

	/* Identity and integer shifts are exact copies, with black outside. */
	struct image in, out;
	random_image(&in, &r, 40, 30, 3);
	image_alloc(&out, 40, 30, 3);
	double id[6] = { 1, 0, 0, 0, 1, 0 };
	align_warp(&out, &in, id);
	ok(!memcmp(out.data, in.data, 40 * 30 * 3), "identity warp copies the image");
	double shift[6] = { 1, 0, 5, 0, 1, -3 };	/* output = input moved right 5, up 3 */
	align_warp(&out, &in, shift);
	int exact = 1;
	for (int y = 0; y < 30; y++)
		for (int x = 0; x < 40; x++)
			for (int k = 0; k < 3; k++) {
				int sx = x - 5, sy = y + 3;
				int want = sx >= 0 && sx < 40 && sy < 30 ?
					   in.data[(sy * 40 + sx) * 3 + k] : 0;
				exact &= out.data[(y * 40 + x) * 3 + k] == want;
			}
	ok(exact, "integer shift: moved pixels, zero border");
	double half[6] = { 1, 0, 0.5, 0, 1, 0 };	/* source at x - 0.5: mean of neighbours */
	align_warp(&out, &in, half);
	int mean_ok = 1;
	for (int y = 0; y < 30; y++)
		for (int x = 1; x < 40; x++) {
			int a = in.data[(y * 40 + x - 1) * 3], b = in.data[(y * 40 + x) * 3];
			mean_ok &= abs(out.data[(y * 40 + x) * 3] * 2 - (a + b)) <= 1;
		}
	ok(mean_ok, "half-pixel shift averages neighbours");
	double far[6] = { 1, 0, 1000, 0, 1, 1000 };
	align_warp(&out, &in, far);
	int black = 1;
	for (int i = 0; i < 40 * 30 * 3; i++)
		black &= out.data[i] == 0;
	ok(black, "a map off the image gives black");
	double huge[6] = { 1e-7, 0, 0, 0, 1e-7, 0 };	/* everything samples pixel (0,0) */
	is_int(align_warp(&out, &in, huge), 0, "extreme scale warps");
	ok(out.data[(29 * 40 + 39) * 3] == in.data[0], "extreme scale samples the corner");
	struct image grey;
	image_alloc(&grey, 40, 30, 1);
	is_int(align_warp(&grey, &in, id), -1, "channel mismatch fails");
	double sing[6] = { 0, 0, 0, 0, 0, 0 };
	is_int(align_warp(&out, &in, sing), -1, "singular matrix fails");
	image_free(&grey);
	image_free(&in);
	image_free(&out);
}

/* A white dot at each landmark: after alignment each dot is at its template point. */
static void test_face(void)
{
	struct image in, out;
	image_alloc(&in, 250, 250, 3);
	float pt[5][2] = { { 107, 107 }, { 147, 111 }, { 124, 143 }, { 103, 157 }, { 139, 161 } };
	for (int i = 0; i < 5; i++)
		for (int dy = -2; dy <= 2; dy++)
			for (int dx = -2; dx <= 2; dx++) {
				int x = (int)pt[i][0] + dx, y = (int)pt[i][1] + dy;
				memset(in.data + (y * 250 + x) * 3, 255, 3);
			}
	struct align_template t;
	align_template_init(&t, "insightface", 0, 0);
	double m[6];
	is_int(align_face(&out, m, &in, pt, &t, "dots.ppm"), 0, "align_face");
	ok(out.width == 112 && out.height == 112 && out.channels == 3, "112x112 RGB out");
	double worst = 0, worst_t = 0;
	for (int i = 0; i < 5; i++) {
		/* brightness-weighted centre of the dot around its mapped point */
		double u, v, sx = 0, sy = 0, sw = 0;
		align_map(m, pt[i][0], pt[i][1], &u, &v);
		for (int y = (int)v - 6; y <= (int)v + 6; y++)
			for (int x = (int)u - 6; x <= (int)u + 6; x++) {
				double b = out.data[(y * 112 + x) * 3];
				sx += b * x, sy += b * y, sw += b;
			}
		worst = fmax(worst, hypot(sx / sw - u, sy / sw - v));
		/* and the fit put it near the template (LFW-like faces fit to a few px) */
		worst_t = fmax(worst_t, hypot(u - t.pt[i][0], v - t.pt[i][1]));
	}
	ok(worst < 0.3, "each dot sits where the fit sends its landmark (%.3f px)", worst);
	ok(worst_t < 7, "and that is near its template point (%.2f px)", worst_t);
	image_free(&out);
	float same[5][2] = { { 1, 1 }, { 1, 1 }, { 1, 1 }, { 1, 1 }, { 1, 1 } };
	is_int(align_face(&out, m, &in, same, &t, "dots.ppm"), -1, "degenerate face fails");
	like(hm_errmsg(), "'dots.ppm': degenerate landmarks", "message names the image");
	image_free(&in);
}

/* A photo-like picture: smooth colour, edges, a little noise. */
static void photo(struct image *im, struct rng *r, int w, int h, int c)
{
	image_alloc(im, w, h, c);
	double f[3][4];
	for (int k = 0; k < 3; k++)
		for (int i = 0; i < 4; i++)
			f[k][i] = rng_range(r, 0.01, 0.08);
	for (int y = 0; y < h; y++)
		for (int x = 0; x < w; x++)
			for (int k = 0; k < c; k++) {
				double v = 128 + 60 * sin(x * f[k][0] + y * f[k][1]) +
					   40 * cos(x * f[k][2] - y * f[k][3]);
				if (((x / 17) ^ (y / 11)) % 7 == 0)
					v = 255 - v;
				v += rng_range(r, -6, 6);
				im->data[((size_t)y * w + x) * c + k] =
					(unsigned char)(v < 0 ? 0 : v > 255 ? 255 : v);
			}
}

static unsigned char *to_jpeg(const struct image *im, int sub, int flags, unsigned long *n)
{
	tjhandle tj = tjInitCompress();
	unsigned char *jb = NULL;
	*n = 0;
	tjCompress2(tj, im->data, im->width, 0, im->height,
		    im->channels == 1 ? TJPF_GRAY : TJPF_RGB, &jb, n,
		    im->channels == 1 ? TJSAMP_GRAY : sub, 90, flags);
	tjDestroy(tj);
	return jb;
}

/* Landmarks of a face: the template's points moved by a similarity of
 * scale SC (source px per template px), angle ANG, centred at (CX, CY). */
static void face_points(float pt[5][2], double sc, double ang, double cx, double cy)
{
	for (int i = 0; i < 5; i++) {
		double x = arcface[i][0] - 56, y = arcface[i][1] - 72;
		pt[i][0] = (float)(cx + sc * (cos(ang) * x - sin(ang) * y));
		pt[i][1] = (float)(cy + sc * (sin(ang) * x + cos(ang) * y));
	}
}

static double mean_diff(const struct image *a, const struct image *b, int *max)
{
	size_t n = (size_t)a->width * a->height * a->channels;
	double s = 0;
	*max = 0;
	for (size_t i = 0; i < n; i++) {
		int d = abs(a->data[i] - b->data[i]);
		s += d;
		*max = d > *max ? d : *max;
	}
	return s / n;
}

static void test_decode(void)
{
	struct rng r;
	rng_seed(&r, 21);
	struct jpeg *j = jpeg_new();
	static const int subs[] = { TJSAMP_420, TJSAMP_422, TJSAMP_444, TJSAMP_420 };
	static const char *const tnames[] = { "insightface", "sphereface", "insightface" };
	static const int tsize[] = { 0, 0, 224 };
	int same = 0, tries = 0, smaller = 0, fails = 0, outside_same = 0, outside = 0;
	int border_same = 0, border = 0;
	for (int pic = 0; pic < 10; pic++) {
		/* colour 4:2:0, 4:2:2, 4:4:4, progressive 4:2:0; and grey files */
		int grey_file = pic >= 8, kind = pic % 4;
		struct image im;
		int w = 160 + (int)rng_below(&r, 400), h = 160 + (int)rng_below(&r, 400);
		photo(&im, &r, w, h, grey_file ? 1 : 3);
		unsigned long n;
		unsigned char *jb = to_jpeg(&im, subs[kind], kind == 3 ? TJFLAG_PROGRESSIVE : 0, &n);
		image_free(&im);
		for (int t = 0; t < 24; t++) {
			struct align_template tp;
			int ti = (int)rng_below(&r, 3);
			align_template_init(&tp, tnames[ti], tsize[ti], tsize[ti]);
			int ch = rng_below(&r, 2) ? 3 : 1;
			float pt[5][2];
			double sc = rng_range(&r, 0.4, 3.5), cx, cy;
			int where = t % 4;	/* inside, across an edge, off the image, anywhere */
			if (where == 0)
				cx = rng_range(&r, 0.3, 0.7) * w, cy = rng_range(&r, 0.3, 0.7) * h;
			else if (where == 1)
				cx = rng_below(&r, 2) ? rng_range(&r, -20, 20) : w + rng_range(&r, -20, 20),
				cy = rng_range(&r, 0, h);
			else if (where == 2)
				cx = -400 * sc, cy = rng_range(&r, -300, h + 300);
			else
				cx = rng_range(&r, -50, w + 50), cy = rng_range(&r, -50, h + 50);
			face_points(pt, sc, rng_range(&r, -0.8, 0.8), cx, cy);
			struct image full, reg;
			struct image_window win;
			double m1[6], m2[6];
			int rc = align_face_decode(&full, m1, NULL, j, jb, n, ch, pt, &tp,
						   ALIGN_DECODE_FULL, "f.jpg");
			rc |= align_face_decode(&reg, m2, &win, j, jb, n, ch, pt, &tp,
						ALIGN_DECODE_REGION, "f.jpg");
			tries++;
			if (rc) {
				fails++;
				diag("decode failed: %s", hm_errmsg());
				continue;
			}
			int eq = !memcmp(full.data, reg.data, (size_t)tp.width * tp.height * ch) &&
				 !memcmp(m1, m2, sizeof m1);
			same += eq;
			if (where == 1)
				border++, border_same += eq;
			if (where == 2) {
				int black = 1;
				for (size_t i = 0; i < (size_t)tp.width * tp.height * ch; i++)
					black &= reg.data[i] == 0;
				outside++, outside_same += eq && black;
			}
			smaller += win.full_width == w && win.full_height == h &&
				   (long)win.x >= 0 && win.y >= 0 &&
				   (long)reg.width * reg.height < (long)w * h;
			image_free(&full);
			image_free(&reg);
		}
		tjFree(jb);
	}
	ok(!fails, "every face decoded and warped");
	ok(same == tries, "region decode: output byte-identical to the whole decode's "
	   "(%d of %d faces: JPEG 4:2:0, 4:2:2, 4:4:4, progressive, grey; RGB and grey out; "
	   "three templates)", same, tries);
	ok(border && border_same == border, "faces across the image's edge: identical (%d)",
	   border);
	ok(outside && outside_same == outside, "faces off the image: identical, black (%d)",
	   outside);
	ok(smaller > tries / 2, "and the region is smaller than the image (%d of %d)", smaller,
	   tries);

	struct align_template t112;
	align_template_init(&t112, "insightface", 0, 0);
	/* SCALED: large faces decode at 1/2, 1/4, 1/8; how far from FULL. */
	is_int(align_decode_denom((double[6]){ 1, 0, 0, 0, 1, 0 }), 1, "scale 1: whole size");
	is_int(align_decode_denom((double[6]){ 0.6, 0, 0, 0, 0.6, 0 }), 1, "scale 0.6: whole size");
	is_int(align_decode_denom((double[6]){ 0, 0.5, 0, -0.5, 0, 0 }), 2, "scale 0.5: 1/2");
	is_int(align_decode_denom((double[6]){ 0.3, 0.1, 0, -0.1, 0.3, 0 }), 2,
	       "scale 0.32: 1/2");
	is_int(align_decode_denom((double[6]){ 0.2, 0, 0, 0, 0.2, 0 }), 4, "scale 0.2: 1/4");
	is_int(align_decode_denom((double[6]){ 0.01, 0, 0, 0, 0.01, 0 }), 8, "scale 0.01: 1/8");
	/*
	 * Faces of scale 1.5 to 9 (source px per template px) in a 1400x1200
	 * JPEG, twice: on the busy picture (edges, noise: what the box filter
	 * of a scaled decode changes most), and as soft bright dots on a smooth
	 * ground, where both decodes see the same picture and the dots' centres
	 * show whether the map was moved to the scaled grid exactly.
	 */
	static const double scs[] = { 1.5, 2.5, 3.5, 5, 7, 9 };
	for (int smooth = 0; smooth < 2; smooth++) {
		struct image big;
		int W = 1400, H = 1200;
		float pts[6][5][2];
		if (smooth)
			image_alloc(&big, W, H, 3);
		else
			photo(&big, &r, W, H, 3);
		for (int f = 0; f < 6; f++)
			face_points(pts[f], scs[f], 0.1 * f - 0.25, 200 + 330 * (f % 3),
				    300 + 600 * (f / 3));
		if (smooth) {
			for (int y = 0; y < H; y++)
				for (int x = 0; x < W; x++) {
					double v = 40 + 20 * sin(x * 0.004) * cos(y * 0.003);
					for (int f = 0; f < 6; f++) {
						double sg = 1.2 * scs[f];	/* 1.2 output px */
						for (int i = 0; i < 5; i++) {
							double dx = x - pts[f][i][0], dy = y - pts[f][i][1];
							if (fabs(dx) < 5 * sg && fabs(dy) < 5 * sg)
								v += 200 * exp(-(dx * dx + dy * dy) / (2 * sg * sg));
						}
					}
					memset(big.data + ((size_t)y * W + x) * 3, (int)fmin(v, 255), 3);
				}
		}
		unsigned long bn;
		unsigned char *bj = to_jpeg(&big, TJSAMP_420, 0, &bn);
		image_free(&big);
		for (int f = 0; f < 6; f++) {
			struct image full, sc;
			struct image_window w2;
			int rc2 = align_face_decode(&full, NULL, NULL, j, bj, bn, 3, pts[f], &t112,
						    ALIGN_DECODE_FULL, "big.jpg");
			rc2 |= align_face_decode(&sc, NULL, &w2, j, bj, bn, 3, pts[f], &t112,
						 ALIGN_DECODE_SCALED, "big.jpg");
			if (!ok(!rc2, "face scale %.1f: decodes", scs[f]))
				continue;
			int mx, want = scs[f] >= 8 ? 8 : scs[f] >= 4 ? 4 : scs[f] >= 2 ? 2 : 1;
			double md = mean_diff(&full, &sc, &mx), worst = 0;
			for (int i = 0; smooth && i < 5; i++) {
				double c[2][2];
				const struct image *o[2] = { &full, &sc };
				for (int k = 0; k < 2; k++) {
					double sx = 0, sy = 0, sw = 0;
					for (int y = (int)t112.pt[i][1] - 6; y <= (int)t112.pt[i][1] + 6; y++)
						for (int x = (int)t112.pt[i][0] - 6;
						     x <= (int)t112.pt[i][0] + 6; x++) {
							double bv = o[k]->data[(y * 112 + x) * 3 + 1] - 90.0;
							bv = bv > 0 ? bv : 0;
							sx += bv * x, sy += bv * y, sw += bv;
						}
					c[k][0] = sx / sw, c[k][1] = sy / sw;
				}
				worst = fmax(worst, hypot(c[0][0] - c[1][0], c[0][1] - c[1][1]));
			}
			if (!smooth)
				ok(w2.denom == want, "face scale %.1f: decoded at 1/%d", scs[f], w2.denom);
			diag("%s picture, face scale %.1f, decoded at 1/%d: scaled vs whole decode "
			     "mean |diff| %.2f, max %d%s", smooth ? "smooth" : "busy", scs[f],
			     w2.denom, md, mx, smooth ? "" : " (the busy picture)");
			if (smooth)
				diag("  dot centres %.3f px apart", worst);
			if (want == 1)
				ok(md == 0, "face scale %.1f: output unchanged", scs[f]);
			else if (smooth)
				ok(md < 1 && worst < 0.05, "smooth, face scale %.1f: scaled output "
				   "within 1 grey level (%.2f), dots within 0.05 px (%.3f)", scs[f],
				   md, worst);
			else
				ok(md < 12, "busy, face scale %.1f: scaled output differs (mean %.2f)",
				   scs[f], md);
			image_free(&full);
			image_free(&sc);
		}
		tjFree(bj);
	}

	/* PNM inputs are read whole in every mode. */
	struct image im, a, b;
	photo(&im, &r, 200, 180, 3);
	const char *ppm = tmp_path("d.ppm");
	image_save_pnm(&im, ppm);
	image_free(&im);
	unsigned char *buf;
	size_t pn;
	file_read_all(ppm, &buf, &pn);
	float pt[5][2];
	face_points(pt, 0.3, 0.2, 100, 90);	/* a large face: SCALED would scale a JPEG */
	struct image_window win;
	int rc = align_face_decode(&a, NULL, NULL, j, buf, pn, 3, pt, &t112, ALIGN_DECODE_FULL,
				   "d.ppm");
	rc |= align_face_decode(&b, NULL, &win, j, buf, pn, 3, pt, &t112, ALIGN_DECODE_SCALED,
				"d.ppm");
	ok(!rc && win.denom == 1 && win.x == 0 && win.full_width == 200 &&
	   !memcmp(a.data, b.data, 112 * 112 * 3), "PNM: read whole, output unchanged");
	image_free(&a);
	image_free(&b);
	free(buf);
	unlink(ppm);

	/* The error a file gives comes before its landmarks' fault. */
	float same_pt[5][2] = { { 1, 1 }, { 1, 1 }, { 1, 1 }, { 1, 1 }, { 1, 1 } };
	const unsigned char junk[] = "not an image at all";
	is_int(align_face_decode(&a, NULL, NULL, j, junk, sizeof junk, 3, same_pt, &t112,
				 ALIGN_DECODE_REGION, "junk.jpg"), -1, "junk with degenerate landmarks");
	like(hm_errmsg(), "'junk.jpg': not a JPEG or PNM", "the file's fault first");
	unsigned long n;
	photo(&im, &r, 64, 64, 3);
	unsigned char *jb = to_jpeg(&im, TJSAMP_420, 0, &n);
	image_free(&im);
	is_int(align_face_decode(&a, NULL, NULL, j, jb, n, 3, same_pt, &t112,
				 ALIGN_DECODE_REGION, "ok.jpg"), -1, "degenerate landmarks fail");
	like(hm_errmsg(), "'ok.jpg': degenerate landmarks", "then the landmarks' fault");
	tjFree(jb);
	jpeg_free(j);
}

static void test_key(void)
{
	char k[64];
	align_key(k, sizeof k, "Aaron_Eckhart/Aaron_Eckhart_0001.jpg");
	is_str(k, "Aaron_Eckhart/Aaron_Eckhart_0001", "key drops the extension");
	align_key(k, sizeof k, "./a.b/c");
	is_str(k, "a.b/c", "leading ./ dropped; dots in directories kept");
	align_key(k, sizeof k, ".//x/.hidden");
	is_str(k, "x/.hidden", "a leading dot is no extension");
	align_key(k, sizeof k, "p/q.tar.gz");
	is_str(k, "p/q.tar", "only the last extension goes");
	is_int(align_key(k, 8, "long_name_here.jpg"), -1, "too long for the buffer");
}

/* Three images (one missing), records through align_batch_run. */
static size_t run_batch(struct lmk_list *l, int threads, int skip, unsigned char **buf,
			int *rc, struct align_batch *b)
{
	static struct align_template t;
	align_template_init(&t, "sphereface", 0, 0);
	size_t n = 0;
	FILE *fp = open_memstream((char **)buf, &n);
	*b = (struct align_batch){ .list = l, .root = "tests/tmp", .tmpl = &t, .channels = 3,
				   .encoding = REC_RAW, .quality = 90, .threads = threads,
				   .skip_bad = skip, .out = fp };
	*rc = align_batch_run(b);
	fclose(fp);
	return n;
}

static void test_batch(void)
{
	struct rng r;
	rng_seed(&r, 3);
	char name[64];
	struct image im;
	struct lmk_entry e[40] = { { 0 } };	/* has_box 0: points */
	mkdir("tests/tmp", 0777);	/* the images live there; it may not exist yet */
	for (int i = 0; i < 40; i++) {
		snprintf(name, sizeof name, "u%ld-b%02d.ppm", (long)getpid(), i);
		random_image(&im, &r, 60, 70, 3);
		char full[128];
		snprintf(full, sizeof full, "tests/tmp/%s", name);
		image_save_pnm(&im, full);
		image_free(&im);
		e[i].path = strdup(name);
		e[i].label = i;
		for (int k = 0; k < 5; k++)
			e[i].pt[k][0] = (float)(20 + arcface[k][0] / 3 + i % 5),
			e[i].pt[k][1] = (float)(arcface[k][1] / 3 + 5);
	}
	struct lmk_list l = { .n = 40, .e = e, .format = LMK_PLAIN };
	unsigned char *one, *three;
	int rc1, rc3;
	struct align_batch b;
	size_t n1 = run_batch(&l, 1, 0, &one, &rc1, &b);
	size_t n3 = run_batch(&l, 3, 0, &three, &rc3, &b);
	ok(rc1 == 0 && rc3 == 0, "batch runs with 1 and 3 threads");
	ok(n1 == n3 && n1 > 0 && !memcmp(one, three, n1), "identical bytes for 1 and 3 threads");
	FILE *fp = fmemopen(one, n1, "rb");
	struct rec_reader rd;
	struct record rec = { 0 };
	rec_reader_init(&rd, fp, "mem");
	int count = 0, order = 1;
	while (rec_read(&rd, &rec) == 1) {
		snprintf(name, sizeof name, "u%ld-b%02d", (long)getpid(), count);
		order &= !strcmp(rec.key, name) && rec.label == count && rec.width == 96 &&
			 rec.height == 112 && rec.encoding == REC_RAW;
		count++;
	}
	ok(count == 40 && order, "40 raw 96x112 records in input order, keys without extension");
	fclose(fp);
	free(one);
	free(three);

	free(e[7].path);
	e[7].path = strdup("no-such-image.jpg");
	n1 = run_batch(&l, 2, 0, &one, &rc1, &b);
	ok(rc1 == -1 && n1 == 0, "missing image: fails before writing anything");
	like(hm_errmsg(), "'tests/tmp/no-such-image.jpg': cannot open", "names the image");
	free(one);
	n1 = run_batch(&l, 2, 1, &one, &rc1, &b);
	ok(rc1 == 0 && b.n_skipped == 1 && b.n_done == 39, "skip_bad: 39 written, 1 skipped");
	free(one);
	for (int i = 0; i < 40; i++) {
		snprintf(name, sizeof name, "tests/tmp/u%ld-b%02d.ppm", (long)getpid(), i);
		unlink(name);
		free(e[i].path);
	}
	record_release(&rec);
}

int main(void)
{
	test_templates();
	test_fit();
	test_warp();
	test_face();
	test_decode();
	test_key();
	test_batch();
	return done_testing();
}
