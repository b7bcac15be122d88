/* mxrec: RecordIO parts joined back into records (both magics), the image
 * record header, the .idx file, and hostile bytes (run under SANITIZE=1). */
#include "tap.h"
#include "err.h"
#include "mxrec.h"
#include "rec.h"

#include <stdint.h>

/* dmlc::RecordIOWriter::WriteRecord into memory: split at every 4-aligned
 * magic, drop it, cflag 1/2/3; SHIFT is 29 (0xced7230a) or 30 (0x3ed7230a). */
static size_t write_record(unsigned char *out, const unsigned char *buf, uint32_t n,
			   uint32_t magic, int shift)
{
	unsigned char mb[4];
	size_t w = 0;
	uint32_t dptr = 0;
	put_u32(mb, magic);
	for (uint32_t i = 0; i + 4 <= n; i += 4) {
		if (memcmp(buf + i, mb, 4))
			continue;
		put_u32(out + w, magic);
		put_u32(out + w + 4, (uint32_t)(dptr == 0 ? 1 : 2) << shift | (i - dptr));
		memcpy(out + w + 8, buf + dptr, i - dptr);
		w += 8 + (i - dptr);
		dptr = i + 4;
	}
	put_u32(out + w, magic);
	put_u32(out + w + 4, (uint32_t)(dptr ? 3 : 0) << shift | (n - dptr));
	memcpy(out + w + 8, buf + dptr, n - dptr);
	w += 8 + (n - dptr);
	while (w % 4)
		out[w++] = 0;
	return w;
}

/* Reads every record of BUF; returns the count or -1.  LAST gets the last record. */
static int read_all(const unsigned char *buf, size_t n, unsigned char *last, size_t *n_last)
{
	FILE *fp = fmemopen((void *)buf, n ? n : 1, "rb");
	struct mxrec_reader r;
	const unsigned char *data;
	size_t len;
	int got, count = 0;
	if (n == 0)
		fgetc(fp);
	mxrec_reader_init(&r, fp, "t.rec");
	while ((got = mxrec_read(&r, &data, &len, NULL)) == 1) {
		count++;
		if (last && len <= 4096) {
			memcpy(last, data, len);
			*n_last = len;
		}
	}
	mxrec_reader_release(&r);
	fclose(fp);
	return got < 0 ? -1 : count;
}

static unsigned char file[8192];
static size_t n_file;
static unsigned char rec1[64];

static void build(uint32_t magic, int shift)
{
	/* Record 0: plain; record 1: the magic twice at aligned offsets and once
	 * unaligned (offset 21, must stay), 51 bytes (padding). */
	static const unsigned char r0[] = "hello";
	for (int i = 0; i < 51; i++)
		rec1[i] = (unsigned char)(i * 7 + 1);
	put_u32(rec1 + 8, magic);
	put_u32(rec1 + 12, magic);
	put_u32(rec1 + 21, magic);
	n_file = write_record(file, r0, 5, magic, shift);
	n_file += write_record(file + n_file, rec1, 51, magic, shift);
}

static void test_parts(void)
{
	unsigned char last[4096];
	size_t n_last = 0;
	build(MXREC_MAGIC, 29);
	/* 16 (record 0) + 16 (8 bytes) + 8 (empty part) + 44 (35 bytes, padded) */
	is_int(n_file, 16 + 16 + 8 + 44, "writer split record 1 into three parts");
	is_int(read_all(file, n_file, last, &n_last), 2, "two records read");
	ok(n_last == 51 && !memcmp(last, rec1, 51), "split record joined with the magic back");
	build(MXREC_MAGIC_OLD, 30);
	n_last = 0;
	is_int(read_all(file, n_file, last, &n_last), 2, "old magic: two records read");
	ok(n_last == 51 && !memcmp(last, rec1, 51), "old magic: cflag at bit 30 decoded");
}

static void expect_fail(const unsigned char *buf, size_t n, const char *what, const char *sub)
{
	is_int(read_all(buf, n, NULL, NULL), -1, "%s fails", what);
	like(hm_errmsg(), sub, "%s: message", what);
	like(hm_errmsg(), "'t.rec'", "%s: names the file", what);
}

static void test_bad(void)
{
	unsigned char b[sizeof file];
	build(MXREC_MAGIC, 29);
	memcpy(b, file, n_file);
	b[16] = 'x';
	expect_fail(b, n_file, "bad magic", "record 1: bad magic");
	memcpy(b, file, n_file);
	put_u32(b + 20, 2u << 29 | 8);
	expect_fail(b, n_file, "continuation first", "without a start");
	memcpy(b, file, n_file);
	put_u32(b + 4, (1u << 29) - 1);
	expect_fail(b, n_file, "absurd length", "record 0: longer than the limit");
	memcpy(b, file, n_file);
	put_u32(b + 4, 5u << 29 | 5);
	expect_fail(b, n_file, "flag above 3", "bad continuation flag 5");
	expect_fail(file, n_file - 4, "cut inside the last part", "record 1: truncated");
	expect_fail(file, 14, "cut inside the first", "record 0: truncated");
	expect_fail(file, 18, "cut in a part header", "record 1: truncated");
	/* A split record whose end part never comes. */
	expect_fail(file, 12 + 8 + 8, "split record without its end", "record 1: truncated");
	is_int(read_all(file, 0, NULL, NULL), 0, "empty file: no records");
}

static void test_header(void)
{
	unsigned char r[64] = { 0 };
	struct mxrec_header h;
	union { float f; uint32_t u; } v;
	put_u32(r, 0);
	v.f = 42.0f;
	put_u32(r + 4, v.u);
	put_u64(r + 8, 7);
	memcpy(r + 24, "JPEG", 4);
	is_int(mxrec_unpack(&h, r, 28), 0, "flag 0 header");
	ok(mxrec_class(&h) == 42.0f && h.id == 7 && h.n_payload == 4 &&
	   !memcmp(h.payload, "JPEG", 4), "label, id, payload");
	put_u32(r, 2);
	v.f = 3.0f;
	put_u32(r + 24, v.u);
	v.f = 9.0f;
	put_u32(r + 28, v.u);
	memcpy(r + 32, "JP", 2);
	is_int(mxrec_unpack(&h, r, 34), 0, "flag 2 header");
	ok(mxrec_class(&h) == 3.0f && mxrec_label_at(&h, 1) == 9.0f && h.n_payload == 2,
	   "label array: class is its first element");
	put_u32(r, 0xffffffffu);
	is_int(mxrec_unpack(&h, r, 34), -1, "absurd label count refused");
	like(hm_errmsg(), "labels", "message");
	is_int(mxrec_unpack(&h, r, 20), -1, "short record refused");
}

static void test_idx(void)
{
	const char *path = tmp_path("t.idx");
	struct mxrec_index ix;
	FILE *fp = fopen(path, "w");
	fputs("0\t0\n2\t40\n1\t16\n\n2\t64\r\n", fp);
	fclose(fp);
	is_int(mxrec_index_load(&ix, path), 0, ".idx loads");
	is_int(ix.n, 4, "four lines (a blank one skipped)");
	is_int(mxrec_index_find(&ix, 1), 2, "key 1 on line 2");
	is_int(mxrec_index_find(&ix, 2), 3, "a repeated key: the last line wins");
	is_int(mxrec_index_find(&ix, 5), -1, "missing key");
	is_int(mxrec_index_find(&ix, -1), -1, "key below all");
	mxrec_index_free(&ix);
	fp = fopen(path, "w");
	fputs("0\t0\n1 16\n", fp);
	fclose(fp);
	is_int(mxrec_index_load(&ix, path), -1, "a line without a tab fails");
	like(hm_errmsg(), "line 2", "names the line");
	fp = fopen(path, "w");
	fputs("0\t-4\n", fp);
	fclose(fp);
	is_int(mxrec_index_load(&ix, path), -1, "a negative offset fails");
	unlink(path);
}

static void test_hostile(void)
{
	build(MXREC_MAGIC, 29);
	unsigned char b[sizeof file];
	static const unsigned char vals[] = { 0, 1, 0x20, 0x3f, 0x40, 0x60, 0x80, 0xce, 0xff };
	int bad = 0;
	for (size_t i = 0; i < n_file; i++)
		for (size_t v = 0; v < sizeof vals; v++) {
			memcpy(b, file, n_file);
			b[i] = vals[v];
			int got = read_all(b, n_file, NULL, NULL);
			bad += got < -1 || got > 3;
		}
	for (size_t k = 0; k < n_file; k++)
		bad += read_all(file, k, NULL, NULL) < -1;
	ok(!bad, "mutations and truncations give records or an error, nothing else");
}

int main(void)
{
	test_parts();
	test_bad();
	test_header();
	test_idx();
	test_hostile();
	return done_testing();
}
