/* The face renderer: landmarks on the drawn features, determinism, identity
 * separation, look-alikes, the data-set layouts and their failures. */
#include "tap.h"
#include "err.h"
#include "lmk.h"
#include "pairs.h"
#include "synth.h"

#include <stdint.h>

static struct synth_canvas *cv;
static struct image im;
static struct synth_opts opts;

static void setup(double difficulty)
{
	synth_opts_default(&opts);
	opts.difficulty = difficulty;
}

/* Renders identity ID (drawn from SEED, stream ID) as image STREAM. */
static void render(struct image *out, float lmk[5][2], long id, uint64_t stream,
		   const float (*target)[2])
{
	struct synth_identity ident;
	int q;
	synth_identity_draw(&ident, 7, (uint64_t)id);
	if (synth_render(cv, out, lmk, &q, &ident, &opts, 7, stream, stream, target))
		diag("render failed: %s", hm_errmsg());
}

/* Luminance (Rec. 601) of the pixel nearest to (x, y). */
static double lum(const struct image *m, double x, double y)
{
	int ix = (int)lround(x), iy = (int)lround(y);
	if (ix < 0 || iy < 0 || ix >= m->width || iy >= m->height)
		return -1;
	const unsigned char *p = m->data + ((size_t)iy * m->width + ix) * 3;
	return 0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2];
}

/* Mean absolute difference over the square of half side R around (cx, cy),
 * image B shifted by (dx, dy) against A. */
static double window_diff(const struct image *a, const struct image *b, int cx, int cy,
			  int r, int dx, int dy)
{
	double sum = 0;
	long n = 0;
	for (int y = cy - r; y <= cy + r; y++)
		for (int x = cx - r; x <= cx + r; x++)
			for (int k = 0; k < 3; k++) {
				int pa = a->data[((size_t)y * a->width + x) * 3 + k];
				int pb = b->data[((size_t)(y + dy) * b->width + x + dx) * 3 + k];
				sum += abs(pa - pb);
				n++;
			}
	return sum / n;
}

static void test_hash_and_identity(void)
{
	ok(synth_hash("") == 0xcbf29ce484222325ULL && synth_hash("a") == 0xaf63dc4c8601ec8cULL,
	   "synth_hash is 64-bit FNV-1a");
	struct synth_identity a, b, c;
	synth_identity_draw(&a, 1, 42);
	synth_identity_draw(&b, 1, 42);
	synth_identity_draw(&c, 1, 43);
	ok(!memcmp(&a, &b, sizeof a), "identity: same seed and stream, same parameters");
	ok(memcmp(a.z, c.z, sizeof a.z) != 0, "identity: another stream, other parameters");
	double mean = 0, var = 0;
	for (int i = 0; i < 200; i++) {
		synth_identity_draw(&c, 3, (uint64_t)i);
		for (int k = 0; k < SYNTH_NZ; k++) {
			mean += c.z[k];
			var += c.z[k] * c.z[k];
		}
	}
	mean /= 200.0 * SYNTH_NZ;
	var = var / (200.0 * SYNTH_NZ) - mean * mean;
	ok(fabs(mean) < 0.05 && fabs(var - 1) < 0.08, "identity values are standard normal "
	   "(mean %.3f, variance %.3f)", mean, var);
	synth_identity_lookalike(&b, &a, 1, 99);
	double d = 0;
	for (int k = 0; k < SYNTH_NZ; k++)
		d += (b.z[k] - a.z[k]) * (b.z[k] - a.z[k]);
	d = sqrt(d / SYNTH_NZ);
	is_near(d, 0.3, 0.1, "look-alike: parameters move by 0.3 sd (rms %.3f)", d);
	ok(b.detail == a.detail, "look-alike keeps the base's detail stream");
}

static void test_determinism(void)
{
	struct image a, b;
	float la[5][2], lb[5][2];
	image_alloc(&a, 250, 250, 3);
	image_alloc(&b, 250, 250, 3);
	setup(1.0);
	render(&a, la, 5, 1001, NULL);
	render(&b, lb, 5, 1001, NULL);
	ok(!memcmp(a.data, b.data, 250 * 250 * 3) && !memcmp(la, lb, sizeof la),
	   "same identity, seed and stream: identical pixels and landmarks");
	render(&b, lb, 5, 1002, NULL);
	ok(memcmp(a.data, b.data, 250 * 250 * 3) != 0, "another image stream: other pixels");
	ok(memcmp(la, lb, sizeof la) != 0, "another image stream at difficulty 1: other landmarks");
	image_free(&a);
	image_free(&b);
}

/* At difficulty 0 the face is frontal and upright: the landmarks have the
 * mean LFW layout, the pupils (near black) sit at the eye landmarks, the
 * mouth line between the corners is darker than the nose tip. */
static void test_landmarks_on_features(void)
{
	setup(0);
	int eyes_dark = 1, mouth_dark = 1, layout = 1;
	for (long id = 0; id < 16; id++) {
		float l[5][2];
		render(&im, l, id, (uint64_t)(500 + id), NULL);
		double iod = l[1][0] - l[0][0];
		double eye_y = 0.5 * (l[0][1] + l[1][1]), mouth_y = 0.5 * (l[3][1] + l[4][1]);
		if (!(iod > 30 && iod < 50 && fabs(l[0][1] - l[1][1]) < 3 && l[2][1] > eye_y + 15 &&
		      mouth_y > l[2][1] + 10 && mouth_y < eye_y + 60 &&
		      fabs(0.5 * (l[0][0] + l[1][0]) - 124.5) < 2)) {
			layout = 0;
			diag("identity %ld: landmarks %.1f,%.1f %.1f,%.1f %.1f,%.1f %.1f,%.1f %.1f,%.1f",
			     id, l[0][0], l[0][1], l[1][0], l[1][1], l[2][0], l[2][1], l[3][0],
			     l[3][1], l[4][0], l[4][1]);
		}
		double nose = lum(&im, l[2][0], l[2][1]);
		for (int e = 0; e < 2; e++) {
			double pupil = lum(&im, l[e][0], l[e][1]);
			if (!(pupil < 40 && pupil < nose - 30)) {
				eyes_dark = 0;
				diag("identity %ld eye %d: pupil %.0f, nose tip %.0f", id, e, pupil, nose);
			}
		}
		double mouth = lum(&im, 0.5 * (l[3][0] + l[4][0]), 0.5 * (l[3][1] + l[4][1]));
		if (!(mouth < nose - 15)) {
			mouth_dark = 0;
			diag("identity %ld: mouth line %.0f, nose tip %.0f", id, mouth, nose);
		}
	}
	ok(layout, "difficulty 0: frontal layout (eyes level, ~40 px apart, centred; "
	   "nose then mouth below)");
	ok(eyes_dark, "the eye landmarks fall on the (dark) pupils");
	ok(mouth_dark, "the mouth line between the corner landmarks is darker than the nose tip");
}

/* Target landmarks: returned exactly; the features follow them, so a shift
 * of the targets shifts the face around every landmark by the same amount. */
static void test_target_landmarks(void)
{
	const float t0[5][2] = { { 105, 112 }, { 145, 112 }, { 125, 136 }, { 108, 157 }, { 143, 157 } };
	float t1[5][2], la[5][2], lb[5][2];
	struct image a, b;
	image_alloc(&a, 250, 250, 3);
	image_alloc(&b, 250, 250, 3);
	for (int i = 0; i < 5; i++) {
		t1[i][0] = t0[i][0] + 7;
		t1[i][1] = t0[i][1] + 4;
	}
	setup(0);
	render(&a, la, 3, 77, t0);
	render(&b, lb, 3, 77, t1);
	ok(!memcmp(la, t0, sizeof la) && !memcmp(lb, t1, sizeof lb),
	   "target landmarks come back exactly");
	int follows = 1, moved = 1;
	for (int i = 0; i < 5; i++) {
		int cx = (int)t0[i][0], cy = (int)t0[i][1];
		double same = window_diff(&a, &b, cx, cy, 8, 7, 4);
		double still = window_diff(&a, &b, cx, cy, 8, 0, 0);
		if (same > 1.0)
			follows = 0;
		if (still < 3)
			moved = 0;
		diag("landmark %d: shifted diff %.2f, unshifted %.2f", i, same, still);
	}
	ok(follows, "shifting the targets by (7, 4) shifts the face around all five landmarks");
	ok(moved, "... and the unshifted images differ there");
	/* a rolled, yawed real LFW line (Alexandra_Vodjanikova_0002) */
	const float t2[5][2] = { { 110, 113 }, { 148, 111 }, { 139, 136 }, { 109, 148 }, { 146, 144 } };
	render(&a, la, 4, 78, t2);
	ok(!memcmp(la, t2, sizeof la), "a yawed target comes back exactly too");
	ok(lum(&a, t2[0][0], t2[0][1]) < 40 && lum(&a, t2[1][0], t2[1][1]) < 40,
	   "... with the pupils on its eye landmarks");
	image_free(&a);
	image_free(&b);
}

/* Mean absolute difference over the central face (65x65 px around the
 * landmarks' centroid). */
static double face_distance(const struct image *a, const float la[5][2],
			    const struct image *b, const float lb[5][2])
{
	double ca[2] = { 0, 0 }, cb[2] = { 0, 0 };
	for (int i = 0; i < 5; i++) {
		ca[0] += la[i][0] / 5;
		ca[1] += la[i][1] / 5;
		cb[0] += lb[i][0] / 5;
		cb[1] += lb[i][1] / 5;
	}
	int dx = (int)lround(cb[0] - ca[0]), dy = (int)lround(cb[1] - ca[1]);
	return window_diff(a, b, (int)lround(ca[0]), (int)lround(ca[1]), 32, dx, dy);
}

static void test_identity_separation(void)
{
	enum { N = 8 };
	struct image a[N], b[N];
	float la[N][5][2], lb[N][5][2];
	setup(0);
	opts.difficulty = 0;
	for (int i = 0; i < N; i++) {
		image_alloc(&a[i], 250, 250, 3);
		image_alloc(&b[i], 250, 250, 3);
		render(&a[i], la[i], 100 + i, (uint64_t)(9000 + i), NULL);
		render(&b[i], lb[i], 100 + i, (uint64_t)(9100 + i), NULL);
	}
	double worst_same = 0, best_diff = 1e9;
	for (int i = 0; i < N; i++) {
		double s = face_distance(&a[i], la[i], &b[i], lb[i]);
		worst_same = fmax(worst_same, s);
		for (int j = 0; j < N; j++)
			if (j != i)
				best_diff = fmin(best_diff, face_distance(&a[i], la[i], &b[j], lb[j]));
	}
	diag("difficulty 0: largest same-identity distance %.2f, smallest other %.2f",
	     worst_same, best_diff);
	ok(worst_same < best_diff, "difficulty 0: two images of one identity are closer than "
	   "any two identities");
	/* look-alikes: closer to their base than other identities are */
	struct synth_identity base, look, other;
	struct image x, y, z;
	float lx[5][2], ly[5][2], lz[5][2];
	image_alloc(&x, 250, 250, 3);
	image_alloc(&y, 250, 250, 3);
	image_alloc(&z, 250, 250, 3);
	double d_look = 0, d_other = 0;
	for (int i = 0; i < 10; i++) {
		int q;
		synth_identity_draw(&base, 11, (uint64_t)(200 + i));
		synth_identity_lookalike(&look, &base, 11, (uint64_t)(300 + i));
		synth_identity_draw(&other, 11, (uint64_t)(400 + i));
		synth_render(cv, &x, lx, &q, &base, &opts, 11, 1, 1, NULL);
		synth_render(cv, &y, ly, &q, &look, &opts, 11, 2, 2, NULL);
		synth_render(cv, &z, lz, &q, &other, &opts, 11, 3, 3, NULL);
		d_look += face_distance(&x, lx, &y, ly) / 10;
		d_other += face_distance(&x, lx, &z, lz) / 10;
	}
	ok(d_look < 0.7 * d_other, "look-alikes are closer to their base than strangers "
	   "(mean distance %.2f against %.2f)", d_look, d_other);
	for (int i = 0; i < N; i++) {
		image_free(&a[i]);
		image_free(&b[i]);
	}
	image_free(&x);
	image_free(&y);
	image_free(&z);
}

/* Difficulty 1 at an odd size: landmarks finite, in or near the frame. */
static void test_hard_odd_size(void)
{
	struct synth_canvas *c = synth_canvas_new(96, 128);
	struct image m;
	struct synth_identity id;
	float l[5][2];
	int q, good = 1, qual = 1;
	image_alloc(&m, 96, 128, 3);
	setup(1);
	opts.width = 96;
	opts.height = 128;
	opts.quality_lo = 40;
	opts.quality_hi = 80;
	for (int i = 0; i < 100; i++) {
		synth_identity_draw(&id, 5, (uint64_t)i);
		synth_render(c, &m, l, &q, &id, &opts, 5, (uint64_t)i, (uint64_t)i / 4, NULL);
		for (int k = 0; k < 5; k++)
			if (!isfinite(l[k][0]) || l[k][0] < 0 || l[k][0] > 96 || l[k][1] < 0 ||
			    l[k][1] > 128)
				good = 0;
		if (q < 40 || q > 80)
			qual = 0;
	}
	ok(good, "difficulty 1, 96x128: landmarks stay in the frame");
	ok(qual, "JPEG quality stays in the asked range");
	ok(synth_render(cv, &m, l, &q, &id, &opts, 5, 1, 1, NULL) == -1,
	   "a canvas of another size is refused");
	like(hm_errmsg(), "disagree", "... with a message");
	ok(synth_canvas_new(8, 8) == NULL, "a tiny canvas is refused");
	image_free(&m);
	synth_canvas_free(c);
}

static void test_sets(void)
{
	struct synth_set s;
	ok(synth_set_casia(&s, 3, 4, 0, 1) == 0 && s.n_jobs == 12 && s.n_identities == 3,
	   "casia: 3 identities x 4 images");
	is_str(s.jobs[5].path, "0000001/002.jpg", "casia: identity folders, numbered images");
	ok(s.jobs[5].identity == 1 && s.protocol == NULL, "casia: label = folder order, no pairs");
	synth_set_free(&s);

	ok(synth_set_lfw(&s, 30, 3, 7, 0.1, 4) == 0 && s.n_jobs == 90, "lfw: 30 x 3 images");
	int sorted = 1, named = 1;
	for (long i = 1; i < s.n_identities; i++)
		sorted &= strcmp(s.names[i - 1], s.names[i]) < 0;
	for (long i = 0; i < s.n_identities; i++) {
		const char *n = s.names[i], *u = strchr(n, '_');
		named &= n[0] >= 'A' && n[0] <= 'Z' && u && u[1] >= 'A' && u[1] <= 'Z' &&
			 strspn(n, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_") ==
				 strlen(n);
	}
	ok(sorted, "lfw: names unique and sorted");
	ok(named, "lfw: names look like First_Last");
	char want[128];
	snprintf(want, sizeof want, "%s/%s_0002.jpg", s.names[0], s.names[0]);
	is_str(s.jobs[1].path, want, "lfw: Name/Name_0002.jpg");
	is_str(s.protocol_name, "pairs.txt", "lfw: protocol file is pairs.txt");
	const char *pp = tmp_path("pairs.txt");
	FILE *fp = fopen(pp, "wb");
	fwrite(s.protocol, 1, (size_t)s.protocol_len, fp);
	fclose(fp);
	struct pair_list pl;
	ok(pairs_load(&pl, pp, PAIRS_AUTO) == 0 && pl.format == PAIRS_LFW && pl.n == 140 &&
	   pl.n_folds == 10, "lfw: the pairs parse as LFW, 10 folds x (7 + 7)");
	int halves = 1, disjoint = 1, exist = 1;
	for (long i = 0; i < pl.n; i++) {
		halves &= pl.p[i].same == ((i % 14) < 7) && pl.p[i].fold == i / 14;
		char ka[128], kb[128];
		snprintf(ka, sizeof ka, "%s.jpg", pl.p[i].a);
		snprintf(kb, sizeof kb, "%s.jpg", pl.p[i].b);
		int fa = 0, fb = 0;
		for (long j = 0; j < s.n_jobs; j++) {
			fa |= !strcmp(s.jobs[j].path, ka);
			fb |= !strcmp(s.jobs[j].path, kb);
		}
		exist &= fa && fb;
		for (long j = 0; j < pl.n; j++) {
			if (pl.p[j].fold == pl.p[i].fold)
				continue;
			size_t n = strcspn(pl.p[i].a, "/");
			disjoint &= strncmp(pl.p[i].a, pl.p[j].a, n) || pl.p[j].a[n] != '/';
		}
	}
	ok(halves, "lfw: matched then mismatched in every fold");
	ok(exist, "lfw: every image the pairs name is in the set");
	ok(disjoint, "lfw: no identity appears in two folds");
	pair_list_free(&pl);
	synth_set_free(&s);

	ok(synth_set_ytf(&s, 20, 2, 3, 2, 0.1, 4) == 0 && s.n_jobs == 120, "ytf: 20 x 2 videos x 3 frames");
	static const char header[] = "split number, pair number, first name, second name, is same\n";
	ok(!strcmp(s.protocol_name, "splits.txt") && !strncmp(s.protocol, header, sizeof header - 1),
	   "ytf: splits.txt with its header line");
	ok(s.jobs[0].video_stream == s.jobs[2].video_stream &&
	   s.jobs[0].video_stream != s.jobs[3].video_stream &&
	   s.jobs[0].image_stream != s.jobs[1].image_stream,
	   "ytf: frames of a video share the scene stream, not the frame stream");
	pp = tmp_path("splits.txt");
	fp = fopen(pp, "wb");
	fwrite(s.protocol, 1, (size_t)s.protocol_len, fp);
	fclose(fp);
	ok(pairs_load(&pl, pp, PAIRS_AUTO) == 0 && pl.format == PAIRS_YTF && pl.n == 40 &&
	   pl.n_folds == 10, "ytf: the splits parse as YTF, 10 splits x (2 + 2)");
	pair_list_free(&pl);
	synth_set_free(&s);

	ok(synth_set_lfw(&s, 5, 3, 7, 0.1, 4) == -1, "lfw: 5 identities cannot fill 10 folds");
	like(hm_errmsg(), "at least 20 identities", "... says why");
	ok(synth_set_ytf(&s, 40, 1, 3, 2, 0.1, 4) == -1, "ytf: one video per identity is refused");

	/* landmark lists: paths must stay inside the folder and be unique */
	const char *lp = tmp_path("lm.txt");
	fp = fopen(lp, "w");
	fputs("a/x.jpg\t100\t110\t140\t110\t120\t135\t105\t155\t140\t155\n"
	      "../evil.jpg\t100\t110\t140\t110\t120\t135\t105\t155\t140\t155\n", fp);
	fclose(fp);
	ok(synth_set_from_landmarks(&s, lp, 0.1, 1) == -1, "landmarks: '..' is refused");
	like(hm_errmsg(), "'../evil.jpg'", "... naming the path");
	fp = fopen(lp, "w");
	fputs("a/x.jpg\t100\t110\t140\t110\t120\t135\t105\t155\t140\t155\n"
	      "b/y.jpg\t100\t110\t140\t110\t120\t135\t105\t155\t140\t155\n"
	      "a/x.jpg\t101\t110\t140\t110\t120\t135\t105\t155\t140\t155\n", fp);
	fclose(fp);
	ok(synth_set_from_landmarks(&s, lp, 0.1, 1) == -1, "landmarks: a path listed twice is refused");
	like(hm_errmsg(), "'a/x.jpg' is listed twice", "... naming it");
	fp = fopen(lp, "w");
	fputs("b/y.jpg\t100\t110\t140\t110\t120\t135\t105\t155\t140\t155\n"
	      "a/x.jpg\t101\t111\t141\t110\t120\t135\t105\t155\t140\t155\n", fp);
	fclose(fp);
	ok(synth_set_from_landmarks(&s, lp, 0.1, 1) == 0 && s.n_jobs == 2 && s.n_identities == 2 &&
	   !strcmp(s.jobs[0].path, "b/y.jpg") && s.jobs[0].identity == 1 &&
	   s.jobs[1].has_target && s.jobs[1].target[0][1] == 111,
	   "landmarks: file order kept, identity = folder, targets set");
	synth_set_free(&s);
	unlink(lp);
	unlink(tmp_path("pairs.txt"));
	unlink(tmp_path("splits.txt"));
}

int main(void)
{
	cv = synth_canvas_new(250, 250);
	image_alloc(&im, 250, 250, 3);
	test_hash_and_identity();
	test_determinism();
	test_landmarks_on_features();
	test_target_landmarks();
	test_identity_separation();
	test_hard_odd_size();
	test_sets();
	image_free(&im);
	synth_canvas_free(cv);
	return done_testing();
}
