/* data: pack checks, image conversion, deterministic order and flips, batches. */
#include "tap.h"
#include "data.h"
#include "err.h"
#include "rec.h"
#include "rng.h"

#include <stdint.h>

enum { W = 5, H = 3, NREC = 23 };

/* Pixel value of record r at (y, x, c): distinct per record and place. */
static unsigned char pix(int r, int y, int x, int c)
{
	return (unsigned char)(r * 11 + y * 37 + x * 5 + c * 70);
}

/* Writes a pack of N raw RGB records (labels LABEL(i)) and its index. */
static void write_pack(const char *path, int n, int bad_label_at, int bad_size_at)
{
	FILE *fp = fopen(path, "wb");
	for (int r = 0; r < n; r++) {
		unsigned char px[(W + 1) * H * 3];
		int w = r == bad_size_at ? W + 1 : W;
		for (int y = 0; y < H; y++)
			for (int x = 0; x < w; x++)
				for (int c = 0; c < 3; c++)
					px[(y * w + x) * 3 + c] = pix(r, y, x, c);
		char key[32];
		snprintf(key, sizeof key, "id%d/%03d", r % 4, r);
		rec_write_image(fp, key, r == bad_label_at ? -1 : r % 4, w, H, 3,
				REC_RAW, px, (size_t)w * H * 3);
	}
	rec_write_end(fp);
	fclose(fp);
	struct rec_index ix;
	fp = fopen(path, "rb");
	rec_index_build(&ix, fp, path);
	fclose(fp);
	char ipath[512];
	snprintf(ipath, sizeof ipath, "%.*s.hmi", (int)strlen(path) - 4, path);
	rec_index_save(&ix, ipath);
	rec_index_free(&ix);
}

static void test_convert(void)
{
	unsigned char rgb[2 * 1 * 3] = { 0, 255, 128, 10, 20, 30 };
	float out[6];
	data_image_to_chw(out, rgb, 2, 1, 3, 3, 0);
	is_near(out[0], -1.0, 0, "0 -> -1");
	is_near(out[2], 1.0, 0, "255 -> 1 (G plane of pixel 0)");
	is_near(out[4], (128 - 127.5) / 127.5, 1e-7, "128 -> 0.5/127.5");
	is_near(out[1], (10 - 127.5) / 127.5, 1e-7, "planar layout: R of pixel 1");
	data_image_to_chw(out, rgb, 2, 1, 3, 3, 1);
	is_near(out[0], (10 - 127.5) / 127.5, 1e-7, "flip: pixel 1 comes first");
	is_near(out[5], (128 - 127.5) / 127.5, 1e-7, "flip: B of pixel 0 last");
	data_image_to_chw(out, rgb, 2, 1, 3, 1, 0);
	int y0 = (19595 * 0 + 38470 * 255 + 7471 * 128 + 32768) >> 16;
	is_near(out[0], (y0 - 127.5) / 127.5, 1e-7, "RGB -> grey: BT.601 luma");
	unsigned char g[2] = { 0, 200 };
	data_image_to_chw(out, g, 2, 1, 1, 3, 1);
	ok(out[0] == out[2] && out[2] == out[4] &&
	   fabs(out[0] - (200 - 127.5) / 127.5) < 1e-7 && out[1] == -1.0f,
	   "grey -> RGB copies the value, flipped");
}

static void test_open(void)
{
	const char *path = tmp_path("a.hmr");
	struct data_pack p;
	write_pack(path, NREC, -1, -1);
	is_int(data_pack_open(&p, path, 1), 0, "open a labelled pack");
	is_int(p.ix.n, NREC, "records");
	is_int(p.n_classes, 4, "classes = max label + 1");
	ok(p.width == W && p.height == H && p.channels == 3, "first record's size");
	is_int(data_batches_per_epoch(&p, 5), NREC / 5, "last partial batch dropped");
	data_pack_close(&p);

	/* stale: the stream grew after indexing */
	FILE *fp = fopen(path, "ab");
	fputc(0, fp);
	fclose(fp);
	is_int(data_pack_open(&p, path, 1), -1, "stale index rejected");
	like(hm_errmsg(), "stale index", "message says stale");
	like(hm_errmsg(), "hm-pack --index", "message says how to fix it");

	const char *nix = tmp_path("noindex.hmr");
	write_pack(nix, 3, -1, -1);
	char ipath[512];
	snprintf(ipath, sizeof ipath, "%.*s.hmi", (int)strlen(nix) - 4, nix);
	unlink(ipath);
	is_int(data_pack_open(&p, nix, 1), -1, "missing index rejected");
	like(hm_errmsg(), "noindex.hmi", "message names the index");
	like(hm_errmsg(), "run hm-pack --index", "message says how to fix it");

	const char *neg = tmp_path("neg.hmr");
	write_pack(neg, 9, 6, -1);
	is_int(data_pack_open(&p, neg, 1), -1, "negative label rejected");
	like(hm_errmsg(), "record 6 'id2/006': label -1", "message names the record");
	is_int(data_pack_open(&p, neg, 0), 0, "accepted when labels are not needed");
	data_pack_close(&p);
	is_int(data_pack_open(&p, tmp_path("absent.hmr"), 1), -1, "absent pack");
	like(hm_errmsg(), "absent.hmr': cannot open", "names the pack");
	unlink(path);
	unlink(nix);
	unlink(neg);
}

/* Checks batch B against the pack's pixels and the documented order/flips. */
static int batch_is_expected(const struct data_batch *b, const int *order,
			     uint64_t seed, int batch)
{
	struct rng r;
	rng_seed2(&r, seed ^ DATA_TAG_FLIP, ((uint64_t)b->epoch << 32) + (uint64_t)b->index);
	for (int k = 0; k < b->n; k++) {
		int rec = order[b->index * batch + k];
		int flip = (int)(rng_u64(&r) >> 63);
		if (b->record[k] != rec || b->labels[k] != rec % 4 || b->flipped[k] != flip)
			return 0;
		const float *x = b->x + (size_t)k * 3 * H * W;
		for (int c = 0; c < 3; c++)
			for (int y = 0; y < H; y++)
				for (int xx = 0; xx < W; xx++) {
					int sx = flip ? W - 1 - xx : xx;
					float want = ((float)pix(rec, y, sx, c) - 127.5f) / 127.5f;
					if (x[(c * H + y) * W + xx] != want)
						return 0;
				}
	}
	return 1;
}

static void test_train(void)
{
	const char *path = tmp_path("t.hmr");
	struct data_pack p;
	write_pack(path, NREC, -1, -1);
	data_pack_open(&p, path, 1);
	const int batch = 5;
	const uint64_t seed = 42;
	struct data_config c = { .mode = DATA_TRAIN, .batch = batch, .c = 3, .h = H,
				 .w = W, .seed = seed, .flip = 1, .end = 12 };
	struct data_loader *L = data_loader_new(&p, &c);
	ok(L != NULL, "train loader starts");
	int order[3][NREC];
	for (int e = 0; e < 3; e++)
		data_epoch_order(order[e], NREC, seed, e);
	int seen[NREC] = { 0 }, flips = 0, all_ok = 1, n = 0, got;
	float saved[5 * 3 * H * W];
	const struct data_batch *b;
	while ((got = data_loader_next(L, &b)) == 1) {
		all_ok &= b->n == batch && b->epoch == n / 4 && b->index == n % 4;
		all_ok &= batch_is_expected(b, order[b->epoch], seed, batch);
		if (b->epoch == 0)
			for (int k = 0; k < b->n; k++)
				seen[b->record[k]]++;
		for (int k = 0; k < b->n; k++)
			flips += b->flipped[k];
		if (n == 6)
			memcpy(saved, b->x, sizeof saved);
		n++;
	}
	is_int(got, 0, "ends at batch `end`");
	is_int(n, 12, "12 batches: 3 epochs of 4 (23 records, batch 5)");
	ok(all_ok, "every batch has the documented records, labels, flips, pixels");
	int twice = 0, none = 0;
	for (int i = 0; i < NREC; i++) {
		twice += seen[i] > 1;
		none += seen[i] == 0;
	}
	ok(twice == 0 && none == 3, "an epoch sees 20 distinct records, 3 dropped");
	ok(flips > 12 && flips < 48, "about half the images flipped (%d of 60)", flips);
	ok(memcmp(order[0], order[1], sizeof order[0]) != 0, "each epoch has its own order");
	data_loader_free(L);

	/* Resume: starting at batch 6 gives batch 6's bytes. */
	c.start = 6;
	c.end = 0;
	L = data_loader_new(&p, &c);
	got = data_loader_next(L, &b);
	ok(got == 1 && b->epoch == 1 && b->index == 2 &&
	   !memcmp(b->x, saved, sizeof saved), "a loader started at batch 6 gives the same batch 6");
	data_loader_free(L);	/* stopped while the queue is full */

	c.flip = 0;
	c.start = 0;
	L = data_loader_new(&p, &c);
	flips = 0;
	for (int i = 0; i < 8 && data_loader_next(L, &b) == 1; i++)
		for (int k = 0; k < b->n; k++)
			flips += b->flipped[k];
	is_int(flips, 0, "flip off: no image mirrored");
	data_loader_free(L);

	c.batch = NREC + 1;
	ok(data_loader_new(&p, &c) == NULL, "batch larger than the pack rejected");
	like(hm_errmsg(), "fewer than one batch", "message says so");
	c.batch = 4;
	c.w = W + 2;
	ok(data_loader_new(&p, &c) == NULL, "model size other than the pack's rejected");
	like(hm_errmsg(), "images are 5x3, the model takes 7x3", "message gives both sizes");
	data_pack_close(&p);
	unlink(path);
}

static void test_eval(void)
{
	const char *path = tmp_path("e.hmr");
	struct data_pack p;
	write_pack(path, NREC, -1, 17);
	data_pack_open(&p, path, 0);
	struct data_config c = { .mode = DATA_EVAL, .batch = 8, .c = 1, .h = H, .w = W };
	struct data_loader *L = data_loader_new(&p, &c);
	const struct data_batch *b;
	int got = data_loader_next(L, &b);
	int y = (19595 * pix(3, 1, 2, 0) + 38470 * pix(3, 1, 2, 1) +
		 7471 * pix(3, 1, 2, 2) + 32768) >> 16;
	ok(got == 1 && b->n == 8 && b->record[3] == 3 && !strcmp(b->keys[3], "id3/003") &&
	   b->x[3 * H * W + 1 * W + 2] == ((float)y - 127.5f) / 127.5f,
	   "eval: stream order, keys, grey conversion");
	got = data_loader_next(L, &b);
	is_int(got, 1, "second batch");
	got = data_loader_next(L, &b);
	is_int(got, -1, "third batch holds the 6x3 record: error");
	like(hm_errmsg(), "e.hmr': record 17 'id1/017': image is 6x3x3, the model takes 5x3",
	     "message names the pack, record, key and both sizes");
	data_loader_free(L);
	data_pack_close(&p);

	write_pack(path, NREC, -1, -1);
	data_pack_open(&p, path, 0);
	L = data_loader_new(&p, &c);
	int n = 0, last = 0;
	while (data_loader_next(L, &b) == 1) {
		n++;
		last = b->n;
	}
	ok(n == 3 && last == 7, "eval keeps the last partial batch (8 + 8 + 7)");
	data_loader_free(L);
	data_pack_close(&p);
	unlink(path);
}

int main(void)
{
	test_convert();
	test_open();
	test_train();
	test_eval();
	return done_testing();
}
