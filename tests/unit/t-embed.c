/* embed: flip modes, the combination of e and e_flip, and embed_run() on
 * in-memory streams (against the model run directly; what a failure leaves
 * in the output). */
#include "tap.h"
#include "data.h"
#include "embed.h"
#include "err.h"
#include "model.h"
#include "rec.h"

#define W 5
#define H 6
#define C 3
#define N_IMG 5

static unsigned char px[N_IMG][H * W * C];

/* Writes images I0..I1-1 (raw W x H x C, key "id/k<i>", label i - 1) and,
 * if BAD, a 7 x 6 image, and, if END, the end marker. */
static size_t stream(unsigned char **buf, int i0, int i1, int bad, int end)
{
	size_t n;
	FILE *fp = open_memstream((char **)buf, &n);
	char key[32];
	for (int i = i0; i < i1; i++) {
		snprintf(key, sizeof key, "id/k%d", i);
		rec_write_image(fp, key, i - 1, W, H, C, REC_RAW, px[i], sizeof px[i]);
	}
	if (bad) {
		unsigned char big[H * 7 * C] = { 0 };
		rec_write_image(fp, "id/bad", 3, 7, H, C, REC_RAW, big, sizeof big);
	}
	if (end)
		rec_write_end(fp);
	fclose(fp);
	return n;
}

struct result {
	int rc;
	char msg[512];
	unsigned char *out;
	size_t n_out;
	long n_done;
};

static void run(struct result *r, struct model *m, const unsigned char *in, size_t n,
		enum embed_flip flip, int batch)
{
	FILE *fin = fmemopen((void *)in, n, "rb");
	FILE *fout = open_memstream((char **)&r->out, &r->n_out);
	struct embed_job j = { .model = m, .in = fin, .in_name = "mem.hmr", .out = fout,
			       .out_name = "-", .flip = flip, .batch = batch };
	r->rc = embed_run(&j);
	snprintf(r->msg, sizeof r->msg, "%s", r->rc ? hm_errmsg() : "");
	r->n_done = j.n_done;
	fclose(fin);
	fclose(fout);
}

/* Reads the embedding records of OUT; returns how many, -1 on a read error
 * (truncated included).  Vectors into V [max][dim], keys and labels kept. */
static int read_out(const struct result *r, float v[][16], char keys[][32], int *labels,
		    int *dim)
{
	FILE *fp = fmemopen((void *)r->out, r->n_out ? r->n_out : 1, "rb");
	if (!r->n_out)
		fgetc(fp);
	struct rec_reader rd;
	struct record rec = { 0 };
	int n = 0, got;
	rec_reader_init(&rd, fp, "out");
	while ((got = rec_read(&rd, &rec)) == 1) {
		if (n < N_IMG && rec.kind == REC_EMBED && rec.dim <= 16) {
			*dim = rec.dim;
			memcpy(v[n], rec.values, (size_t)rec.dim * sizeof(float));
			snprintf(keys[n], 32, "%s", rec.key);
			labels[n] = rec.label;
		}
		n++;
	}
	record_release(&rec);
	fclose(fp);
	return got < 0 ? -1 : n;
}

static void test_combine(void)
{
	is_int(embed_flip_parse("sum"), EMBED_FLIP_SUM, "parse sum");
	is_int(embed_flip_parse("concat"), EMBED_FLIP_CONCAT, "parse concat");
	is_int(embed_flip_parse("none"), EMBED_FLIP_NONE, "parse none");
	is_int(embed_flip_parse("Sum"), -1, "parse is exact");
	is_str(embed_flip_name(EMBED_FLIP_CONCAT), "concat", "name concat");
	is_int(embed_out_dim(512, EMBED_FLIP_CONCAT), 1024, "concat doubles the size");
	is_int(embed_out_dim(512, EMBED_FLIP_SUM), 512, "sum keeps the size");

	float e[2] = { 3, 4 }, ef[2] = { 1, 0 }, out[4], zero[2] = { 0, 0 };
	embed_combine(out, e, ef, 2, EMBED_FLIP_SUM);
	ok(fabs(out[0] - sqrt(0.5)) < 1e-7 && fabs(out[1] - sqrt(0.5)) < 1e-7,
	   "sum: (3,4) + (1,0) -> (4,4)/|(4,4)|");
	embed_combine(out, e, ef, 2, EMBED_FLIP_CONCAT);
	double s = sqrt(26.0);
	ok(fabs(out[0] - 3 / s) < 1e-7 && fabs(out[1] - 4 / s) < 1e-7 &&
	   fabs(out[2] - 1 / s) < 1e-7 && out[3] == 0, "concat: (3,4,1,0)/sqrt(26)");
	embed_combine(out, e, NULL, 2, EMBED_FLIP_NONE);
	ok(fabs(out[0] - 0.6) < 1e-7 && fabs(out[1] - 0.8) < 1e-7, "none: (0.6, 0.8)");
	embed_combine(out, zero, zero, 2, EMBED_FLIP_SUM);
	ok(out[0] == 0 && out[1] == 0, "a zero vector stays zero");
}

/* The model run directly, one image at a time: the expected vector. */
static void expect(struct model *m, int i, enum embed_flip flip, float *want)
{
	float x[C * H * W], xf[C * H * W], e[3], ef[3];
	data_image_to_chw(x, px[i], W, H, C, C, 0);
	data_image_to_chw(xf, px[i], W, H, C, C, 1);
	memcpy(e, model_forward(m, x, 1, 0, NULL), sizeof e);
	memcpy(ef, model_forward(m, xf, 1, 0, NULL), sizeof ef);
	embed_combine(want, e, ef, 3, flip);
}

static void test_run(void)
{
	for (int i = 0; i < N_IMG; i++)
		for (int k = 0; k < H * W * C; k++)
			px[i][k] = (unsigned char)((k * 37 + i * 101) % 256);
	struct model *m = model_new("ir:1:4", C, H, W, 3);
	ok(m != NULL, "tiny model");
	model_init(m, 5);
	/* running statistics away from 0 and 1 */
	size_t nb;
	float *buf = model_buffers(m, &nb);
	for (size_t k = 0; k < nb; k++)
		buf[k] = buf[k] == 0.0f ? 0.1f * (float)(k % 5) : 0.5f + 0.2f * (float)(k % 3);

	unsigned char *in;
	size_t n = stream(&in, 0, N_IMG, 0, 1);
	static const enum embed_flip flips[] = { EMBED_FLIP_SUM, EMBED_FLIP_CONCAT,
						 EMBED_FLIP_NONE };
	for (int f = 0; f < 3; f++) {
		struct result r = { 0 };
		run(&r, m, in, n, flips[f], 2);
		is_int(r.rc, 0, "%s: embed_run succeeds", embed_flip_name(flips[f]));
		is_int(r.n_done, N_IMG, "%s: n_done", embed_flip_name(flips[f]));
		float v[N_IMG][16];
		char keys[N_IMG][32];
		int labels[N_IMG], dim = 0, good = 1;
		is_int(read_out(&r, v, keys, labels, &dim), N_IMG,
		       "%s: %d records and the end marker", embed_flip_name(flips[f]), N_IMG);
		is_int(dim, embed_out_dim(3, flips[f]), "%s: dimension",
		       embed_flip_name(flips[f]));
		model_set_batch(m, 1);
		double err = 0;
		for (int i = 0; i < N_IMG; i++) {
			float want[6];
			char key[32];
			expect(m, i, flips[f], want);
			snprintf(key, sizeof key, "id/k%d", i);
			good &= !strcmp(keys[i], key) && labels[i] == i - 1;
			for (int d = 0; d < dim; d++)
				err = fmax(err, fabs(v[i][d] - want[d]));
		}
		ok(good, "%s: keys and labels in order", embed_flip_name(flips[f]));
		ok(err < 1e-6, "%s: equals the model run directly (max error %.2g)",
		   embed_flip_name(flips[f]), err);
		free(r.out);
	}
	free(in);

	struct result r = { 0 };
	n = stream(&in, 0, 1, 1, 1);
	run(&r, m, in, n, EMBED_FLIP_SUM, 4);
	is_int(r.rc, -1, "a bad size in the first batch fails");
	like(r.msg, "'mem.hmr': record 1 'id/bad': image is 7x6x3, the model takes 5x6x3",
	     "the message names the input, record, key and sizes");
	is_int((long)r.n_out, 0, "nothing written");
	free(r.out);
	free(in);

	memset(&r, 0, sizeof r);
	n = stream(&in, 0, 3, 1, 1);
	run(&r, m, in, n, EMBED_FLIP_SUM, 2);
	float v[N_IMG][16];
	char keys[N_IMG][32];
	int labels[N_IMG], dim;
	ok(r.rc == -1 && r.n_done == 2, "a bad record in the second batch: the first written");
	is_int(read_out(&r, v, keys, labels, &dim), -1, "and no end marker (truncated)");
	free(r.out);
	free(in);

	memset(&r, 0, sizeof r);
	n = stream(&in, 0, 3, 0, 0);
	run(&r, m, in, n, EMBED_FLIP_NONE, 8);
	is_int(r.rc, -1, "input without an end marker fails");
	like(r.msg, "truncated", "and says truncated");
	is_int((long)r.n_out, 0, "nothing written");
	free(r.out);

	memset(&r, 0, sizeof r);
	run(&r, m, in, n, EMBED_FLIP_NONE, 0);
	like(r.msg, "batch size 0", "batch 0 is refused");
	free(r.out);
	free(in);
	model_free(m);
}

int main(void)
{
	test_combine();
	test_run();
	return done_testing();
}
