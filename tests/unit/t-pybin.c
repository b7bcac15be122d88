/* pybin: the .bin pickle reader on hand-assembled pickles, and on every
 * truncation and many mutations of them (run under SANITIZE=1 to catch any
 * out-of-bounds read). */
#include "tap.h"
#include "err.h"
#include "pybin.h"

#include <stdint.h>

/* ([b"ab", b"cde"], [True]) as Python 3.11 writes it with protocol 3. */
static const unsigned char p3[] = {
	0x80, 3, ']', 'q', 0, '(', 'C', 2, 'a', 'b', 'q', 1, 'C', 3, 'c', 'd', 'e',
	'q', 2, 'e', ']', 'q', 3, 0x88, 'a', 0x86, 'q', 4, '.'
};

/* ([b"\xff\x00A", b"\xff\x00A"], [False]) with protocol 2: the bytes go
 * through _codecs.encode(u"\xff\x00A", "latin1"), the second time through
 * the memo (BINGET), as pickle writes a repeated object. */
static const unsigned char p2[] = {
	0x80, 2, ']', 'q', 0, '(',
	'c', '_', 'c', 'o', 'd', 'e', 'c', 's', '\n', 'e', 'n', 'c', 'o', 'd', 'e', '\n',
	'q', 1, 'X', 4, 0, 0, 0, 0xc3, 0xbf, 0x00, 'A', 'q', 2,
	'X', 6, 0, 0, 0, 'l', 'a', 't', 'i', 'n', '1', 'q', 3, 0x86, 'q', 4, 'R', 'q', 5,
	'h', 5, 'e', ']', 'q', 6, 0x89, 'a', 0x86, 'q', 7, '.'
};

static int parse(const unsigned char *buf, size_t n, struct pybin *pb)
{
	return pybin_parse(pb, buf, n, "t.bin");
}

static void test_good(void)
{
	struct pybin pb;
	is_int(parse(p3, sizeof p3, &pb), 0, "protocol 3 pickle parses");
	ok(pb.n_images == 2 && pb.n_pairs == 1 && pb.issame[0] == 1, "two images, one pair");
	ok(pb.n_image[0] == 2 && !memcmp(pb.image[0], "ab", 2) && pb.n_image[1] == 3 &&
	   !memcmp(pb.image[1], "cde", 3), "image bytes");
	ok(pb.image[0] >= p3 && pb.image[0] < p3 + sizeof p3, "images point into the buffer");
	pybin_free(&pb);

	is_int(parse(p2, sizeof p2, &pb), 0, "protocol 2 pickle (_codecs.encode) parses");
	ok(pb.n_images == 2 && pb.n_pairs == 1 && pb.issame[0] == 0, "shape");
	ok(pb.n_image[0] == 3 && !memcmp(pb.image[0], "\xff\x00" "A", 3) &&
	   pb.n_image[1] == 3 && !memcmp(pb.image[1], "\xff\x00" "A", 3),
	   "latin1 text decoded back to bytes, memo reference too");
	pybin_free(&pb);
}

static void expect_fail(const unsigned char *buf, size_t n, const char *what,
			const char *sub)
{
	struct pybin pb;
	is_int(parse(buf, n, &pb), -1, "%s fails", what);
	like(hm_errmsg(), sub, "%s: message", what);
	like(hm_errmsg(), "'t.bin'", "%s: names the file", what);
}

static void test_bad(void)
{
	unsigned char b[sizeof p3];
	expect_fail(p3, 0, "empty input", "PROTO");
	memcpy(b, p3, sizeof b);
	b[1] = 1;
	expect_fail(b, sizeof b, "protocol 1 byte", "protocol 1 not supported");
	memcpy(b, p3, sizeof b);
	b[7] = 200;	/* first SHORT_BINBYTES claims 200 bytes */
	expect_fail(b, sizeof b, "string past the end", "byte 6: pickle truncated");
	memcpy(b, p3, sizeof b);
	b[20] = '}';	/* EMPTY_DICT where the second list starts */
	expect_fail(b, sizeof b, "a dict", "byte 20: pickle opcode '}' not supported");
	memcpy(b, p3, sizeof b);
	b[sizeof b - 1] = 'N';	/* NONE where STOP was */
	expect_fail(b, sizeof b, "no STOP", "no STOP");
	static const unsigned char two[] = { 0x80, 4, ']', '(', 'C', 1, 'x', 'C', 1, 'y', 'e',
					     ']', '(', 'K', 2, 'e', 0x86, '.' };
	expect_fail(two, sizeof two, "an integer that is not a boolean",
		    "issame_list entry 0 is not a boolean");
	static const unsigned char one[] = { 0x80, 4, ']', '(', 'C', 1, 'x', 'e', ']', '(',
					     0x88, 'e', 0x86, '.' };
	expect_fail(one, sizeof one, "one image for one pair", "two images per pair");
	static const unsigned char deep[] = { 0x80, 4, '(', '(', '(', ']', 'h', 9, '.' };
	expect_fail(deep, sizeof deep, "unset memo", "memo index 9");
	static const unsigned char glob[] = { 0x80, 2, 'c', 'o', 's', '\n', 's', 'y', 's',
					      't', 'e', 'm', '\n', '.' };
	expect_fail(glob, sizeof glob, "os.system", "global 'os.system' is not allowed");
}

/* Parses every prefix and many one-byte mutations; only 0 or -1 may come
 * back, and the sanitizers watch every read. */
static void test_hostile(const unsigned char *good, size_t n, const char *name)
{
	struct pybin pb;
	int bad = 0, parsed = 0, shape = 0;
	for (size_t k = 0; k < n; k++) {
		unsigned char *cut = malloc(k ? k : 1);
		memcpy(cut, good, k);
		int rc = parse(cut, k, &pb);
		if (rc == 0)
			pybin_free(&pb);
		bad += rc != -1;
		free(cut);
	}
	ok(!bad, "%s: every truncation fails cleanly", name);
	static const unsigned char vals[] = { 0, 1, 2, 0x7f, 0x80, 0xff, '(', ']', 'e', 'a',
					      't', 'h', 'q', 'r', 'j', 'B', 'C', 0x8e, 0x95,
					      0x94, 'R', 'c', '.', 0x86, 0x85 };
	unsigned char *m = malloc(n);
	for (size_t i = 0; i < n; i++)
		for (size_t v = 0; v < sizeof vals; v++) {
			memcpy(m, good, n);
			m[i] = vals[v];
			int rc = parse(m, n, &pb);
			if (rc == 0) {
				parsed++;
				shape += pb.n_images != 2 * pb.n_pairs;
				pybin_free(&pb);
			} else if (rc != -1) {
				bad++;
			}
		}
	free(m);
	ok(!shape, "%s: mutations that parse still have two images per pair", name);
	ok(!bad, "%s: %zu mutations return 0 or -1 (%d parse)", name, n * sizeof vals,
	   parsed);
}

int main(void)
{
	test_good();
	test_bad();
	test_hostile(p3, sizeof p3, "protocol 3");
	test_hostile(p2, sizeof p2, "protocol 2");
	return done_testing();
}
