/* Alignment: templates, the similarity fit against an independent solve, the
 * fast warp against its naive twin, keys, and the batch's determinism. */
#include "tap.h"
#include "align.h"
#include "err.h"
#include "rec.h"
#include "rng.h"

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
	test_key();
	test_batch();
	return done_testing();
}
