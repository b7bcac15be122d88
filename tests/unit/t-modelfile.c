/* Model files (.hmm): exact bytes, round trip, every corruption, refusals. */
#include "tap.h"
#include "err.h"
#include "modelfile.h"
#include "rec.h"

#include <float.h>
#include <stdint.h>
#include <zlib.h>
#ifdef _OPENMP
#include <omp.h>
#endif

/*
 * The small file every corruption starts from.  Layout (see modelfile.h):
 *   0  header (16)   16 kv "k"="v" (10)   26 metadata CRC (4)
 *   30 tensor "t1" [2]: len 4, name 2, ndim 4, dims 8, data 8, CRC 4 -> 60
 *   60 tensor "t2" [1,2]: 4 + 2 + 4 + 16 + 8 + 4 -> 98
 *   98 "END\x1a" -> 102
 */
#define T1 30
#define T2 60
#define SMALL_SIZE 102

static float t1v[2] = { 1.5f, -2.0f }, t2v[2] = { 3.0f, 0.25f };

static int write_small(const char *path)
{
	struct mf_kv kv[1] = { { "k", "v" } };
	struct mf_tensor t[2] = { { "t1", 1, { 2 }, t1v }, { "t2", 2, { 1, 2 }, t2v } };
	return modelfile_write(path, kv, 1, t, 2);
}

static unsigned char *slurp(const char *path, size_t *n)
{
	FILE *fp = fopen(path, "rb");
	unsigned char *buf = malloc(1 << 16);
	*n = fp ? fread(buf, 1, 1 << 16, fp) : 0;
	if (fp)
		fclose(fp);
	return buf;
}

static void spit(const char *path, const unsigned char *buf, size_t n)
{
	FILE *fp = fopen(path, "wb");
	if (n)
		fwrite(buf, 1, n, fp);
	fclose(fp);
}

/* Recomputes the CRC of [start, end) stored at end, as a writer would have. */
static void fix_crc(unsigned char *buf, size_t start, size_t end)
{
	put_u32(buf + end, (uint32_t)crc32(0L, buf + start, (uInt)(end - start)));
}

/* Reading BUF must fail with a message containing SUB. */
static void expect_bad(const unsigned char *buf, size_t n, const char *what, const char *sub)
{
	const char *path = tmp_path("bad.hmm");
	struct modelfile mf;
	spit(path, buf, n);
	is_int(modelfile_read(&mf, path), -1, "%s: rejected", what);
	like(hm_errmsg(), sub, "%s: message", what);
	ok(mf.n_kv == 0 && mf.n_tensors == 0 && !mf.kv && !mf.tensors, "%s: nothing left", what);
	unlink(path);
}

static void test_bytes_and_round_trip(void)
{
	const char *path = tmp_path("small.hmm");
	size_t n;
	is_int(write_small(path), 0, "small file written");
	unsigned char *b = slurp(path, &n);
	is_int(n, SMALL_SIZE, "size is the documented layout's");
	ok(!memcmp(b, "HMM\x1a", 4) && get_u32(b + 4) == 1 && get_u32(b + 8) == 1 &&
	   get_u32(b + 12) == 2, "header: magic, version 1, one kv, two tensors");
	ok(get_u32(b + 16) == 1 && b[20] == 'k' && get_u32(b + 21) == 1 && b[25] == 'v',
	   "kv: lengths and bytes");
	is_int(get_u32(b + 26), (uint32_t)crc32(0L, b, 26), "metadata CRC covers bytes 0..25");
	ok(get_u32(b + T1) == 2 && !memcmp(b + T1 + 4, "t1", 2) && get_u32(b + T1 + 6) == 1 &&
	   get_u64(b + T1 + 10) == 2, "tensor t1: name, ndim, shape");
	uint32_t bits;
	memcpy(&bits, &t1v[1], 4);
	is_int(get_u32(b + T1 + 22), bits, "data are little-endian float32");
	is_int(get_u32(b + T1 + 26), (uint32_t)crc32(0L, b + T1, 26), "tensor CRC covers the entry");
	ok(get_u64(b + T2 + 10) == 1 && get_u64(b + T2 + 18) == 2, "tensor t2 shape 1x2");
	ok(!memcmp(b + 98, "END\x1a", 4), "end marker last");
	free(b);

	/* A richer round trip, including caller tensors with '/'. */
	float big[2 * 3 * 1 * 2], vals[5] = { 0.0f, -0.0f, FLT_MAX, -FLT_MIN / 4, 1e-30f };
	for (int i = 0; i < 12; i++)
		big[i] = (float)i * 0.5f - 3;
	char longv[2000];
	memset(longv, 'x', sizeof longv - 1);
	longv[sizeof longv - 1] = 0;
	struct mf_kv kv[3] = { { "arch", "ir18" }, { "note", "two words, \xc3\xbc\n2nd line" },
			       { "empty", "" } };
	struct mf_kv kv4[4] = { kv[0], kv[1], kv[2], { "long", longv } };
	struct mf_tensor t[3] = { { "a", 1, { 5 }, vals }, { "layer1.0.conv1.weight", 4,
				  { 2, 3, 1, 2 }, big }, { "momentum/a", 1, { 5 }, vals } };
	is_int(modelfile_write(path, kv4, 4, t, 3), 0, "rich file written");
	struct modelfile mf;
	is_int(modelfile_read(&mf, path), 0, "rich file read");
	ok(mf.n_kv == 4 && mf.n_tensors == 3, "counts");
	is_str(modelfile_get(&mf, "note"), kv[1].value, "value with UTF-8 and newline");
	is_str(modelfile_get(&mf, "empty"), "", "empty value");
	is_str(modelfile_get(&mf, "long"), longv, "long value");
	ok(modelfile_get(&mf, "nope") == NULL && modelfile_find(&mf, "nope") == NULL,
	   "absent key and tensor give NULL");
	const struct mf_tensor *c = modelfile_find(&mf, "layer1.0.conv1.weight");
	ok(c && c->ndim == 4 && c->shape[0] == 2 && c->shape[1] == 3 && c->shape[2] == 1 &&
	   c->shape[3] == 2 && mf_tensor_count(c) == 12 && !memcmp(c->data, big, sizeof big),
	   "4-d tensor: shape and bytes");
	const struct mf_tensor *a = modelfile_find(&mf, "a");
	ok(a && !memcmp(a->data, vals, sizeof vals) && signbit(a->data[1]),
	   "extreme values, -0 and denormals exact");
	ok(modelfile_find(&mf, "momentum/a") != NULL, "names with '/' kept");
	modelfile_free(&mf);
	ok(mf.kv == NULL && mf.tensors == NULL && mf.n_kv == 0, "free clears the struct");

	is_int(modelfile_write(path, NULL, 0, NULL, 0), 0, "empty file written");
	is_int(modelfile_read(&mf, path), 0, "empty file read");
	ok(mf.n_kv == 0 && mf.n_tensors == 0, "empty file has nothing");
	modelfile_free(&mf);
	unlink(path);
}

static void test_corruption(void)
{
	const char *path = tmp_path("base.hmm");
	size_t n;
	write_small(path);
	unsigned char *orig = slurp(path, &n), *b = malloc(n + 8);
	unlink(path);

	/* Every truncation, at every byte. */
	int all = 1, all_named = 1;
	const char *p2 = tmp_path("cut.hmm");
	for (size_t cut = 0; cut < n; cut++) {
		struct modelfile mf;
		spit(p2, orig, cut);
		if (modelfile_read(&mf, p2) != -1)
			all = 0;
		else if (!strstr(hm_errmsg(), "truncated") || !strstr(hm_errmsg(), "cut.hmm"))
			all_named = 0, diag("cut at %zu: %s", cut, hm_errmsg());
	}
	unlink(p2);
	ok(all, "every one of %zu truncations is rejected", n);
	ok(all_named, "every truncation message names the file and says truncated");

#define RESET() memcpy(b, orig, n)
	RESET();
	b[1] = 'X';
	expect_bad(b, n, "bad magic", "not an hm model file (bad magic)");
	RESET();
	put_u32(b + 4, 2);
	expect_bad(b, n, "version 2", "version 2 not supported (this hm reads version 1; "
		   "was it written by a newer hm?)");
	RESET();
	b[n] = 0;
	expect_bad(b, n + 1, "trailing byte", "1 bytes after the end marker");
	RESET();
	b[n - 1] = 'x';
	expect_bad(b, n, "bad end marker", "no end marker");

	RESET();
	b[25] ^= 1;
	expect_bad(b, n, "metadata byte flipped", "metadata: CRC mismatch");
	RESET();
	b[T1 + 20] ^= 0x10;
	expect_bad(b, n, "t1 data flipped", "'t1': CRC mismatch");
	RESET();
	b[T2 + 27] ^= 0x80;
	expect_bad(b, n, "t2 data flipped", "tensor 't2': CRC mismatch");
	RESET();
	b[T2 + 35] ^= 1;	/* t2's stored CRC itself */
	expect_bad(b, n, "t2 CRC flipped", "tensor 't2': CRC mismatch");

	/* Absurd sizes: caught before any CRC or allocation. */
	RESET();
	put_u32(b + 8, 100000);
	expect_bad(b, n, "100000 metadata entries", "100000 metadata entries (at most 4096)");
	RESET();
	put_u32(b + 12, 0xffffffffu);
	expect_bad(b, n, "2^32-1 tensors", "tensors (at most 65536)");
	RESET();
	put_u32(b + 12, 4000);
	expect_bad(b, n, "4000 tensors in 102 bytes", "cannot fit in 102 bytes");
	RESET();
	put_u32(b + 16, 0);
	expect_bad(b, n, "key length 0", "key length 0 out of range");
	RESET();
	put_u32(b + 16, 300);
	expect_bad(b, n, "key length 300", "key length 300 out of range (1 to 255)");
	RESET();
	put_u32(b + 21, 0x7fffffff);
	expect_bad(b, n, "value length 2^31-1", "value length 2147483647 (at most 1048576)");
	RESET();
	put_u32(b + 21, 1000);
	expect_bad(b, n, "value longer than the file", "truncated in metadata 'k'");
	RESET();
	put_u32(b + T1, 0);
	expect_bad(b, n, "name length 0", "tensor 0: name length 0 out of range (1 to 127)");
	RESET();
	put_u32(b + T1, 128);
	expect_bad(b, n, "name length 128", "name length 128 out of range");
	RESET();
	put_u32(b + T1 + 6, 0);
	expect_bad(b, n, "ndim 0", "tensor 't1': 0 dimensions (1 to 4)");
	RESET();
	put_u32(b + T1 + 6, 5);
	expect_bad(b, n, "ndim 5", "tensor 't1': 5 dimensions (1 to 4)");
	RESET();
	put_u64(b + T1 + 10, 0);
	expect_bad(b, n, "dimension 0", "tensor 't1': dimension 0 is 0 (1 to 2147483647)");
	RESET();
	put_u64(b + T1 + 10, (uint64_t)1 << 40);
	expect_bad(b, n, "dimension 2^40", "dimension 0 is 1099511627776 (1 to 2147483647)");
	RESET();
	put_u64(b + T1 + 10, 3);
	expect_bad(b, n, "one float more than stored", "'t1': CRC mismatch");
	RESET();
	put_u64(b + T2 + 10, 2147483647);
	put_u64(b + T2 + 18, 2147483647);
	expect_bad(b, n, "2^62 floats", "tensor 't2': shape needs more bytes than the");

	/* Well-formed but invalid content (CRCs recomputed). */
	float nan = NAN, inf = -INFINITY;
	RESET();
	memcpy(b + T1 + 22, &nan, 4);
	fix_crc(b, T1, T1 + 26);
	expect_bad(b, n, "NaN", "tensor 't1': value 1 is NaN");
	RESET();
	memcpy(b + T2 + 26, &inf, 4);
	fix_crc(b, T2, T2 + 34);
	expect_bad(b, n, "-inf", "tensor 't2': value 0 is infinite");
	RESET();
	b[T2 + 5] = '1';
	fix_crc(b, T2, T2 + 34);
	expect_bad(b, n, "duplicate tensor", "duplicate tensor 't1'");
	RESET();
	b[T1 + 5] = ' ';
	fix_crc(b, T1, T1 + 26);
	expect_bad(b, n, "space in a name", "tensor 0: name is not printable ASCII");
	RESET();
	b[20] = '\n';
	fix_crc(b, 0, 26);
	expect_bad(b, n, "newline in a key", "metadata entry 0: key is not printable ASCII");
	RESET();
	b[25] = 0;
	fix_crc(b, 0, 26);
	expect_bad(b, n, "NUL in a value", "metadata 'k': contains a NUL byte");

	/* Two equal keys: build the file by hand. */
	unsigned char d[64];
	memcpy(d, "HMM\x1a", 4);
	put_u32(d + 4, 1), put_u32(d + 8, 2), put_u32(d + 12, 0);
	for (int i = 0; i < 2; i++) {
		put_u32(d + 16 + 10 * i, 1), d[20 + 10 * i] = 'k';
		put_u32(d + 21 + 10 * i, 1), d[25 + 10 * i] = 'v';
	}
	fix_crc(d, 0, 36);
	memcpy(d + 40, "END\x1a", 4);
	expect_bad(d, 44, "duplicate key", "duplicate metadata key 'k'");

	struct modelfile mf;
	is_int(modelfile_read(&mf, "tests/tmp/no/such.hmm"), -1, "missing file fails");
	like(hm_errmsg(), "'tests/tmp/no/such.hmm': cannot open", "missing file message");
	is_int(modelfile_read(&mf, "tests/tmp"), -1, "a directory fails");
	like(hm_errmsg(), "'tests/tmp': not a regular file", "directory message");
	free(orig);
	free(b);
}

/* modelfile_write must refuse, say why, and create nothing. */
static void expect_refused(const struct mf_kv *kv, int n_kv, const struct mf_tensor *t,
			   int n_t, const char *what, const char *sub)
{
	const char *path = tmp_path("refused.hmm");
	unlink(path);
	is_int(modelfile_write(path, kv, n_kv, t, n_t), -1, "write refuses %s", what);
	like(hm_errmsg(), sub, "%s: message", what);
	ok(access(path, F_OK) != 0, "%s: no file created", what);
}

static void test_write_refusals(void)
{
	float v[3] = { 1, 2, 3 }, nanv[3] = { 1, NAN, 3 }, infv[3] = { INFINITY, 0, 0 };
	struct mf_kv kv[2] = { { "a", "1" }, { "a", "2" } }, bad_key = { "two words", "x" };
	struct mf_tensor t[2] = { { "x", 1, { 3 }, v }, { "x", 1, { 3 }, v } };
	struct mf_tensor one = t[0];

	expect_refused(kv, 2, t, 1, "a duplicate key", "duplicate metadata key 'a'");
	expect_refused(kv, 1, t, 2, "a duplicate tensor", "duplicate tensor 'x'");
	expect_refused(&bad_key, 1, NULL, 0, "a key with a space", "metadata key 'two words'");
	struct mf_tensor x = one;
	x.name[0] = 0;
	expect_refused(NULL, 0, &x, 1, "an empty name", "tensor 0: name ''");
	x = one, strcpy(x.name, "a b");
	expect_refused(NULL, 0, &x, 1, "a name with a space", "name 'a b'");
	x = one, x.ndim = 0;
	expect_refused(NULL, 0, &x, 1, "0 dimensions", "tensor 'x': 0 dimensions (1 to 4)");
	x = one, x.ndim = 5;
	expect_refused(NULL, 0, &x, 1, "5 dimensions", "tensor 'x': 5 dimensions");
	x = one, x.shape[0] = 0;
	expect_refused(NULL, 0, &x, 1, "a zero dimension", "dimension 0 is 0");
	x = one, x.data = NULL;
	expect_refused(NULL, 0, &x, 1, "no data", "tensor 'x': no data");
	x = one, x.data = nanv;
	expect_refused(NULL, 0, &x, 1, "NaN", "tensor 'x': value 1 is NaN; not written");
	x = one, x.data = infv;
	expect_refused(NULL, 0, &x, 1, "infinity", "tensor 'x': value 0 is infinite");

	/* A refused write leaves an existing file as it was. */
	const char *path = tmp_path("keep.hmm");
	size_t n1, n2;
	write_small(path);
	unsigned char *before = slurp(path, &n1);
	x = one, x.data = nanv;
	modelfile_write(path, NULL, 0, &x, 1);
	unsigned char *after = slurp(path, &n2);
	ok(n1 == n2 && !memcmp(before, after, n1), "a refused write keeps the old file");
	free(before);
	free(after);
	unlink(path);

	is_int(modelfile_write("tests/tmp/no/such/dir/m.hmm", kv, 1, t, 1), -1,
	       "unwritable path fails");
	like(hm_errmsg(), "cannot create", "unwritable path message");
}

/*
 * A tensor of several parts (modelfile.c reads 1 MiB and more in parts, by
 * threads): the bytes, and the first error, as one serial read would find
 * them, with 1 thread and with 3.  "big" [BIG] then "s" [3]; layout: header
 * 16, metadata CRC 4, big's entry at 20: name length 4, "big" 3, ndim 4,
 * dim 8, data from BIG_DATA, CRC; then s.
 */
#define BIG (1500000 + 3)
#define BIG_DATA (20 + 19)
#define BIG_END (BIG_DATA + 4 * BIG)

static void set_threads(int n)
{
#ifdef _OPENMP
	omp_set_num_threads(n);
#else
	(void)n;
#endif
}

static void spit_big(const char *path, const unsigned char *buf, size_t n)
{
	FILE *fp = fopen(path, "wb");
	fwrite(buf, 1, n, fp);
	fclose(fp);
}

/* The data of "big" go to the caller's buffer (CTX), the others not. */
static float *place_big(void *ctx, const struct modelfile *mf, const struct mf_tensor *t)
{
	(void)mf;
	return !strcmp(t->name, "big") ? ctx : NULL;
}

static void expect_big_bad(const unsigned char *buf, size_t n, const char *what,
			   const char *sub)
{
	const char *path = tmp_path("bigbad.hmm");
	spit_big(path, buf, n);
	for (int threads = 1; threads <= 3; threads += 2) {
		struct modelfile mf;
		set_threads(threads);
		is_int(modelfile_read(&mf, path), -1, "%s, %d thread(s): rejected", what, threads);
		like(hm_errmsg(), sub, "%s, %d thread(s): message", what, threads);
		ok(!mf.tensors && !mf.placed, "%s, %d thread(s): nothing left", what, threads);
	}
	unlink(path);
}

static void test_parts(void)
{
	const char *path = tmp_path("big.hmm");
	float *v = malloc(BIG * sizeof *v), s3[3] = { 1, 2, 3 };
	for (int i = 0; i < BIG; i++)
		v[i] = (float)sin(i) * 1e3f;
	struct mf_tensor t[2] = { { "big", 1, { BIG }, v }, { "s", 1, { 3 }, s3 } };
	is_int(modelfile_write(path, NULL, 0, t, 2), 0, "a file with a tensor of %d floats", BIG);
	size_t n = BIG_END + 4 + 33 + 4;
	unsigned char *orig = malloc(n + 1), *b = malloc(n);
	FILE *fp = fopen(path, "rb");
	ok(fp && fread(orig, 1, n + 1, fp) == n, "its size is the layout's");
	if (fp)
		fclose(fp);
	for (int threads = 1; threads <= 3; threads += 2) {
		struct modelfile mf;
		set_threads(threads);
		int rc = modelfile_read(&mf, path);
		ok(rc == 0 && mf.n_tensors == 2 && !memcmp(mf.tensors[0].data, v, BIG * 4) &&
		   !memcmp(mf.tensors[1].data, s3, sizeof s3), "%d thread(s): read back bitwise",
		   threads);
		modelfile_free(&mf);
	}

	float *dst = calloc(BIG, sizeof *dst);
	struct modelfile mf;
	is_int(modelfile_read_into(&mf, path, place_big, dst), 0, "read into a buffer");
	ok(mf.tensors[0].data == dst && mf.placed[0] && !mf.placed[1] &&
	   mf.tensors[1].data != NULL, "big in the caller's buffer, s in the reader's");
	ok(!memcmp(dst, v, BIG * 4) && !memcmp(mf.tensors[1].data, s3, sizeof s3), "bitwise");
	modelfile_free(&mf);
	ok(!memcmp(dst, v, BIG * 4), "modelfile_free() leaves the caller's buffer alone");

	/* A flipped bit in the fifth part, as in the first. */
	memcpy(b, orig, n);
	b[BIG_DATA + 4 * (4 * 262144 + 1234) + 2] ^= 4;
	expect_big_bad(b, n, "a bit flipped in the fifth part", "tensor 'big': CRC mismatch");
	memcpy(b, orig, n);
	b[BIG_DATA + 5] ^= 1;
	expect_big_bad(b, n, "a bit flipped in the first part", "tensor 'big': CRC mismatch");
	/* The first non-finite value wherever the parts end. */
	float nan = NAN, inf = INFINITY;
	memcpy(b, orig, n);
	memcpy(b + BIG_DATA + 4 * (5 * 262144 + 7), &inf, 4);
	memcpy(b + BIG_DATA + 4 * (3 * 262144 + 5), &nan, 4);
	memcpy(b + BIG_DATA + 4 * (BIG - 1), &nan, 4);
	fix_crc(b, 20, BIG_END);
	expect_big_bad(b, n, "NaN in the fourth part, infinity in the sixth",
		       "tensor 'big': value 786437 is NaN");
	memcpy(b, orig, n);
	memcpy(b + BIG_DATA + 4 * (BIG - 1), &inf, 4);
	fix_crc(b, 20, BIG_END);
	expect_big_bad(b, n, "infinity last", "tensor 'big': value 1500002 is infinite");
	memcpy(b, orig, n);
	memcpy(b + BIG_DATA + 4 * 4100, &inf, 4);
	fix_crc(b, 20, BIG_END);
	expect_big_bad(b, n, "infinity in the second block", "'big': value 4100 is infinite");
	/* A placed read fails the same way, and leaves the buffer to the caller. */
	spit_big(path, b, n);
	is_int(modelfile_read_into(&mf, path, place_big, dst), -1, "a placed read of it fails");
	like(hm_errmsg(), "tensor 'big': value 4100 is infinite", "with the same message");
	ok(!mf.tensors && !mf.placed, "nothing left");
	set_threads(2);
	unlink(path);
	free(dst);
	free(orig);
	free(b);
	free(v);
}

int main(void)
{
	test_bytes_and_round_trip();
	test_corruption();
	test_write_refusals();
	test_parts();
	return done_testing();
}
