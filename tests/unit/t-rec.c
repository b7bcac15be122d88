/* Record streams and index: round trips, concatenation, every corruption. */
#include "tap.h"
#include "err.h"
#include "rec.h"

#include <stdint.h>

static void write_sample(FILE *fp)
{
	unsigned char px[2 * 3 * 3];
	float e[4] = { 1.5f, -2.0f, 0.0f, 3.25f };
	for (int i = 0; i < (int)sizeof px; i++)
		px[i] = (unsigned char)(i * 13);
	rec_write_image(fp, "a/a_0001", 7, 3, 2, 3, REC_RAW, px, sizeof px);
	rec_write_embed(fp, "b/b_0001", -1, e, 4);
	rec_write_end(fp);
}

/* Reads a stream from memory; returns records read or -1. */
static int count_records(const unsigned char *buf, size_t n, struct record *rec)
{
	FILE *fp = fmemopen((void *)buf, n ? n : 1, "rb");
	struct rec_reader r;
	int got, count = 0;
	if (n == 0)
		fgetc(fp);	/* an empty stream: force EOF */
	rec_reader_init(&r, fp, "mem.hmr");
	while ((got = rec_read(&r, rec)) == 1)
		count++;
	fclose(fp);
	return got < 0 ? -1 : count;
}

static size_t sample(unsigned char **buf)
{
	size_t n;
	FILE *fp = open_memstream((char **)buf, &n);
	write_sample(fp);
	fclose(fp);
	return n;
}

static void test_round_trip(void)
{
	unsigned char *buf;
	size_t n = sample(&buf);
	struct record rec = { 0 };
	FILE *fp = fmemopen(buf, n, "rb");
	struct rec_reader r;
	rec_reader_init(&r, fp, "mem.hmr");
	is_int(rec_read(&r, &rec), 1, "first record read");
	is_str(rec.key, "a/a_0001", "image key");
	is_int(rec.label, 7, "image label");
	ok(rec.kind == REC_IMAGE && rec.width == 3 && rec.height == 2 &&
	   rec.channels == 3 && rec.n_pixels == 18 && rec.pixels[5] == 65,
	   "image header and pixels");
	is_int(rec_read(&r, &rec), 1, "second record read");
	ok(rec.kind == REC_EMBED && rec.dim == 4 && rec.values[3] == 3.25f &&
	   rec.values[1] == -2.0f, "embedding values");
	is_int(rec.label, -1, "unknown label is -1");
	is_int(rec_read(&r, &rec), 0, "clean end after end marker");
	fclose(fp);

	/* Concatenation of two streams is a stream of four records. */
	unsigned char *two = malloc(2 * n);
	memcpy(two, buf, n);
	memcpy(two + n, buf, n);
	is_int(count_records(two, 2 * n, &rec), 4, "cat a.hmr a.hmr reads 4 records");
	is_int(count_records(buf, 0, &rec), -1, "empty input is truncated");
	like(hm_errmsg(), "without an end-of-stream record", "empty input message");
	free(two);
	record_release(&rec);
	free(buf);
}

static void expect_fail(const unsigned char *buf, size_t n, const char *what,
			const char *sub)
{
	struct record rec = { 0 };
	is_int(count_records(buf, n, &rec), -1, "%s fails", what);
	like(hm_errmsg(), sub, "%s message", what);
	like(hm_errmsg(), "'mem.hmr'", "%s message names the file", what);
	record_release(&rec);
}

static void test_corruption(void)
{
	unsigned char *buf;
	size_t n = sample(&buf);
	unsigned char *bad = malloc(n);
	size_t first = REC_HEADER_SIZE + 8 + REC_IMAGE_HEAD + 18;

	memcpy(bad, buf, n);
	bad[0] = 'X';
	expect_fail(bad, n, "bad magic", "bad magic");

	memcpy(bad, buf, n);
	bad[4] = 9;
	expect_fail(bad, n, "wrong version", "unsupported version 9");

	memcpy(bad, buf, n);
	bad[first - 1] ^= 1;
	expect_fail(bad, n, "flipped pixel", "CRC mismatch");

	memcpy(bad, buf, n);
	put_u32(bad + 12, 0xfffffff0u);
	expect_fail(bad, n, "absurd body size", "exceeds limit");

	memcpy(bad, buf, n);
	put_u32(bad + 8, 100000);
	expect_fail(bad, n, "absurd key size", "key length");

	expect_fail(buf, first - 3, "truncated mid-record", "truncated body");
	expect_fail(buf, 10, "truncated header", "truncated header");
	expect_fail(buf, first, "no end marker at a boundary", "without an end-of-stream");
	expect_fail(buf, n - REC_HEADER_SIZE, "missing final end marker",
		    "without an end-of-stream");
	free(bad);
	free(buf);
}

static void test_index(void)
{
	const char *hmr = tmp_path("ix.hmr"), *hmi = tmp_path("ix.hmi");
	FILE *fp = fopen(hmr, "wb");
	write_sample(fp);
	write_sample(fp);
	fclose(fp);
	struct rec_index ix, back;
	fp = fopen(hmr, "rb");
	is_int(rec_index_build(&ix, fp, hmr), 0, "index built");
	is_int(ix.n, 4, "index has 4 entries");
	is_int(rec_index_save(&ix, hmi), 0, "index saved");
	is_int(rec_index_load(&back, hmi), 0, "index loaded");
	ok(back.n == 4 && back.offset[3] == ix.offset[3] && back.label[2] == 7 &&
	   back.stream_size == ix.stream_size, "index round trip");
	rec_index_free(&back);

	struct rec_reader r;
	struct record rec = { 0 };
	rec_reader_init(&r, fp, hmr);
	is_int(rec_read_at(&r, ix.offset[3], &rec), 0, "random access read");
	is_str(rec.key, "b/b_0001", "random access key");
	fclose(fp);

	FILE *f = fopen(hmi, "r+b");
	fseek(f, 40, SEEK_SET);
	fputc(0x55, f);
	fclose(f);
	is_int(rec_index_load(&back, hmi), -1, "corrupt index rejected");
	like(hm_errmsg(), "CRC mismatch", "corrupt index message");
	truncate(hmi, 40);
	is_int(rec_index_load(&back, hmi), -1, "short index rejected");
	record_release(&rec);
	rec_index_free(&ix);
	unlink(hmr);
	unlink(hmi);
}

int main(void)
{
	test_round_trip();
	test_corruption();
	test_index();
	return done_testing();
}
