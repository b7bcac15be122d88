/* Landmark files: the real LFW file, each format's round trip, every bad line. */
#include "tap.h"
#include "err.h"
#include "lmk.h"

#include <stdint.h>

static const char *write_file(const char *name, const char *text)
{
	const char *path = tmp_path(name);
	FILE *fp = fopen(path, "wb");
	fputs(text, fp);
	fclose(fp);
	return path;
}

static void test_lfw(void)
{
	const char *path = "data/lfw_landmark.txt";
	struct lmk_list l;
	if (!ok(lmk_load(&l, path, LMK_AUTO) == 0, "lfw_landmark.txt parses"))
		diag("%s", hm_errmsg());
	is_int(l.n, 13233, "13233 entries (last line has no newline)");
	is_int(l.format, LMK_PLAIN, "detected as plain");
	if (l.n != 13233)
		return;
	is_str(l.e[0].path, "Aaron_Eckhart/Aaron_Eckhart_0001.jpg", "first path");
	ok(l.e[0].pt[0][0] == 107 && l.e[0].pt[0][1] == 107 && l.e[0].pt[1][0] == 147 &&
	   l.e[0].pt[2][1] == 143 && l.e[0].pt[4][0] == 139 && l.e[0].pt[4][1] == 161,
	   "first line values (107 107 147 111 124 143 103 157 139 161)");
	is_int(l.e[0].label, -1, "plain has no label");
	is_str(l.e[1].path, "Aaron_Guiel/Aaron_Guiel_0001.jpg", "second path");
	const struct lmk_entry *z = &l.e[13232];
	is_str(z->path, "Zydrunas_Ilgauskas/Zydrunas_Ilgauskas_0001.jpg", "last path");
	ok(z->pt[0][0] == 108 && z->pt[0][1] == 116 && z->pt[1][0] == 143 &&
	   z->pt[1][1] == 112 && z->pt[2][0] == 133 && z->pt[2][1] == 131 &&
	   z->pt[3][0] == 120 && z->pt[3][1] == 159 && z->pt[4][0] == 142 &&
	   z->pt[4][1] == 155, "last line values (108 116 ... 142 155)");
	int left_first = 1, in_range = 1;
	for (long i = 0; i < l.n; i++) {
		left_first &= l.e[i].pt[0][0] < l.e[i].pt[1][0];
		for (int k = 0; k < 5; k++)
			in_range &= l.e[i].pt[k][0] >= 52 && l.e[i].pt[k][0] <= 201 &&
				    l.e[i].pt[k][1] >= 52 && l.e[i].pt[k][1] <= 201;
	}
	ok(left_first, "image-left eye has the smaller x on every line");
	ok(in_range, "every coordinate within 52..201 (SOURCES.md)");
	lmk_list_free(&l);
	is_int(l.n, 0, "list_free empties the list");
}

/* Entries used by every round trip. */
static const char *const rt_path[3] = { "A b/c_0001.jpg", "x/y.png", "z.pgm" };
static const int rt_label[3] = { 0, 17, 2147483647 };
static float rt_pt(int i, int k, int c)
{
	return (float)(10 * i + 3.25 * k + (c ? 100.5 : -0.75));
}

static void check_round_trip(const char *path, enum lmk_format named,
			     enum lmk_format want, int labels, float tol, const char *what)
{
	struct lmk_list l;
	int rc = lmk_load(&l, path, named);
	if (!ok(rc == 0, "%s: loads (%s)", what, lmk_format_name(named)))
		diag("%s", hm_errmsg());
	if (rc)
		return;
	is_int(l.format, want, "%s: format", what);
	is_int(l.n, 3, "%s: three entries", what);
	int same = l.n == 3;
	for (int i = 0; same && i < 3; i++) {
		same &= !strcmp(l.e[i].path, rt_path[i]);
		same &= l.e[i].label == (labels ? rt_label[i] : -1);
		for (int k = 0; k < 5; k++)
			for (int c = 0; c < 2; c++)
				same &= fabs(l.e[i].pt[k][c] - rt_pt(i, k, c)) <= tol;
	}
	ok(same, "%s: paths, labels and points come back", what);
	lmk_list_free(&l);
}

static void test_round_trips(void)
{
	/* plain, through the writer */
	const char *p = tmp_path("rt.txt");
	FILE *fp = fopen(p, "wb");
	for (int i = 0; i < 3; i++) {
		float pt[5][2];
		for (int k = 0; k < 5; k++)
			for (int c = 0; c < 2; c++)
				pt[k][c] = rt_pt(i, k, c);
		is_int(lmk_write(fp, rt_path[i], -1, pt), 0, "lmk_write line %d", i);
	}
	fclose(fp);
	check_round_trip(p, LMK_AUTO, LMK_PLAIN, 0, 0.005f, "plain");
	check_round_trip(p, LMK_PLAIN, LMK_PLAIN, 0, 0.005f, "plain named");

	/* casia, through the writer (a label makes the casia variant) */
	const char *w = tmp_path("rt-w-casia.txt");
	fp = fopen(w, "wb");
	for (int i = 0; i < 3; i++) {
		float pt[5][2];
		for (int k = 0; k < 5; k++)
			for (int c = 0; c < 2; c++)
				pt[k][c] = rt_pt(i, k, c);
		lmk_write(fp, rt_path[i], rt_label[i], pt);
	}
	fclose(fp);
	check_round_trip(w, LMK_AUTO, LMK_CASIA, 1, 0.005f, "casia through lmk_write");

	/* casia (tabs, CRLF) and lst (five x then five y), written here */
	const char *c = tmp_path("rt-casia.txt"), *s = tmp_path("rt.lst");
	FILE *fc = fopen(c, "wb"), *fs = fopen(s, "wb");
	for (int i = 0; i < 3; i++) {
		fprintf(fc, "%s\t%d", rt_path[i], rt_label[i]);
		fprintf(fs, "%d\t%s\t%d\t0\t0\t250\t250", i & 1, rt_path[i], rt_label[i]);
		for (int k = 0; k < 5; k++)
			fprintf(fc, "\t%.9g\t%.9g", rt_pt(i, k, 0), rt_pt(i, k, 1));
		for (int k = 0; k < 10; k++)
			fprintf(fs, "\t%.9g", rt_pt(i, k % 5, k / 5));
		fputs("\r\n", fc);
		fputs("\n", fs);
	}
	fclose(fc);
	fclose(fs);
	check_round_trip(c, LMK_AUTO, LMK_CASIA, 1, 0, "casia");
	check_round_trip(c, LMK_CASIA, LMK_CASIA, 1, 0, "casia named");
	check_round_trip(s, LMK_AUTO, LMK_LST, 1, 0, "lst");
	check_round_trip(s, LMK_LST, LMK_LST, 1, 0, "lst named");

	/* csv: columns by name in any order, an extra column, a quoted path */
	const char *v = tmp_path("rt.csv");
	FILE *fv = fopen(v, "wb");
	fputs("\xEF\xBB\xBFy5,x5,y4,x4,y3,x3,y2,x2,Y1,X1,note,Label,path\n", fv);
	for (int i = 0; i < 3; i++) {
		for (int k = 4; k >= 0; k--)
			fprintf(fv, "%.9g,%.9g,", rt_pt(i, k, 1), rt_pt(i, k, 0));
		fprintf(fv, "\"a, b\",%d,%s\n", rt_label[i], rt_path[i]);
	}
	fclose(fv);
	check_round_trip(v, LMK_AUTO, LMK_CSV, 1, 0, "csv");
	check_round_trip(v, LMK_CSV, LMK_CSV, 1, 0, "csv named");

	/* auto-detection from stdin, which cannot be rewound */
	if (!freopen(v, "rb", stdin))
		return;
	check_round_trip("-", LMK_AUTO, LMK_CSV, 1, 0, "csv from stdin");
	if (!freopen(c, "rb", stdin))
		return;
	check_round_trip("-", LMK_AUTO, LMK_CASIA, 1, 0, "casia from stdin");

	/* space separated, blank lines, no final newline */
	const char *b = write_file("blank.txt", "\n  \na.jpg 1 2 3 4 5 6 7 8 9 10\n\n"
				   "b.jpg  1.5 2 3 4 5 6 7 8 9 -10");
	struct lmk_list l;
	is_int(lmk_load(&l, b, LMK_AUTO), 0, "spaces, blank lines, no final newline");
	ok(l.n == 2 && l.e[1].pt[0][0] == 1.5f && l.e[1].pt[4][1] == -10.0f &&
	   !strcmp(l.e[1].path, "b.jpg"), "space-separated values read");
	lmk_list_free(&l);

	/* csv without a label column: label -1 */
	const char *nl = write_file("nolabel.csv", "path,x1,y1,x2,y2,x3,y3,x4,y4,x5,y5\n"
				    "q.jpg,1,2,3,4,5,6,7,8,9,10\n");
	is_int(lmk_load(&l, nl, LMK_AUTO), 0, "csv without a label column");
	ok(l.n == 1 && l.e[0].label == -1 && l.e[0].pt[4][1] == 10, "its label is -1");
	lmk_list_free(&l);
}

/* TEXT must fail to load as FORMAT with a message containing SUB. */
static void expect_bad(const char *text, enum lmk_format format, const char *sub,
		       const char *what)
{
	const char *p = write_file("bad.txt", text);
	struct lmk_list l = { 0 };
	is_int(lmk_load(&l, p, format), -1, "%s: fails", what);
	like(hm_errmsg(), sub, "%s: message", what);
	like(hm_errmsg(), "bad.txt'", "%s: message names the file", what);
	ok(l.n == 0 && l.e == NULL, "%s: list left empty", what);
}

#define GOOD "a.jpg\t1\t2\t3\t4\t5\t6\t7\t8\t9\t10\n"
static void test_bad(void)
{
	expect_bad(GOOD GOOD "c.jpg\t1\t2\t3\t4\t5\t6\t7\n", LMK_AUTO,
		   "line 3: expected 10 landmark numbers, got 7", "7 numbers");
	expect_bad(GOOD "\n" GOOD "c.jpg\t1\t2\t3\t4\t5\t6\t7\t8\t9\t10\t11\n", LMK_AUTO,
		   "line 4: expected 10 landmark numbers, got 11", "11 numbers");
	expect_bad(GOOD "b.jpg\t1\t2\t3\tabc\t5\t6\t7\t8\t9\t10\n", LMK_AUTO,
		   "line 2: landmark value 'abc' is not a number", "not a number");
	expect_bad(GOOD "b.jpg\t1\t2\t3\t4x\t5\t6\t7\t8\t9\t10\n", LMK_PLAIN,
		   "line 2: landmark value '4x' is not a number", "trailing junk");
	expect_bad(GOOD GOOD "b.jpg\t1\t2\t3\t4\t5\tnan\t7\t8\t9\t10\n", LMK_AUTO,
		   "line 3: landmark value 'nan' is not finite", "NaN");
	expect_bad("b.jpg\t1\t2\t3\t4\t5\t6\t7\t8\t9\t-inf\n", LMK_AUTO,
		   "line 1: landmark value '-inf' is not finite", "infinity");
	expect_bad("b.jpg\t1\t2\t3\t4\t5\t6\t7\t8\t9\t1e300\n", LMK_AUTO,
		   "line 1: landmark value '1e300' is out of range", "huge value");
	expect_bad("a.jpg 3 1 2 3 4 5 6 7 8 9 10\nb.jpg x 1 2 3 4 5 6 7 8 9 10\n", LMK_AUTO,
		   "line 2: class id 'x' is not an integer", "casia label");
	expect_bad("a.jpg -4 1 2 3 4 5 6 7 8 9 10\n", LMK_CASIA,
		   "line 1: class id '-4' is not an integer", "negative class id");
	expect_bad(GOOD, LMK_CASIA, "line 1: expected 10 landmark numbers, got 9",
		   "plain line read as casia");
	expect_bad("0\ta.jpg\t1\t0\t0\t9\t9\t1\t2\t3\t4\t5\t6\t7\t8\t9\t10\n"
		   "2\tb.jpg\t1\t0\t0\t9\t9\t1\t2\t3\t4\t5\t6\t7\t8\t9\t10\n", LMK_AUTO,
		   "line 2: aligned flag '2' is not 0 or 1", "lst aligned flag");
	expect_bad("0\ta.jpg\t1\t0\tz\t9\t9\t1\t2\t3\t4\t5\t6\t7\t8\t9\t10\n", LMK_LST,
		   "line 1: bounding box value 'z'", "lst bounding box");
	expect_bad("1\ta.jpg\t1\n", LMK_LST, "line 1: expected 10 landmark numbers, got 0",
		   "lst without landmarks");
	expect_bad("a.jpg\t1\n", LMK_LST, "line 1: expected the .lst fields", "lst too short");
	expect_bad("a,b.jpg 1 2 3 4 5 6 7 8 9 10\nc.jpg 1 2\n", LMK_AUTO,
		   "line 2: expected 10 landmark numbers, got 2", "comma in a plain path");
	expect_bad("a.jpg 1 2 3 4 5\n", LMK_AUTO, "line 1: cannot tell the landmark format "
		   "from 6 fields", "undetectable");
	expect_bad("\n\n a.jpg 1 2 3 4 5\n", LMK_AUTO, "line 3: cannot tell", "undetectable "
		   "after blank lines");
	expect_bad("", LMK_AUTO, "no landmark lines", "empty file");
	expect_bad(" \n\n", LMK_PLAIN, "no landmark lines", "blank file");
	expect_bad(GOOD "../a.jpg\t1\t2\t3\t4\t5\t6\t7\t8\t9\t10\n", LMK_AUTO,
		   "line 2: image path '../a.jpg' is not inside the root", "'..' path");
	expect_bad("/abs/a.jpg\t1\t2\t3\t4\t5\t6\t7\t8\t9\t10\n", LMK_AUTO,
		   "line 1: image path '/abs/a.jpg' is not inside the root", "absolute path");
	expect_bad("path,x1,y1,x2,y2,x3,y3,x4,y4,x5\n", LMK_AUTO,
		   "line 1: the CSV header has no 'y5' column", "csv missing column");
	expect_bad("path,x1,y1,x2,y2,x3,y3,x4,y4,x5,y5,x1\n", LMK_CSV,
		   "line 1: column 'x1' appears twice", "csv duplicate column");
	expect_bad("path,x1,y1,x2,y2,x3,y3,x4,y4,x5,y5\na,1,2,3,4,5,6,7,8,9,10\n"
		   "b,1,2,3,4,5,6,7,8,9\n", LMK_AUTO,
		   "line 3: expected 11 fields as in the header, got 10", "csv short row");
	expect_bad("path,note,x1,y1,x2,y2,x3,y3,x4,y4,x5,y5\n\na,\"x\ny\",1,2,3,4,5,6,7,8,9,10\n"
		   "c,,1,2,3,4,5,6,7,8,9,ten\n", LMK_AUTO,
		   "line 5: landmark value 'ten' is not a number", "csv non-number");
	expect_bad("0\ta\tb.jpg\t1\t0\t0\t9\t9\t1\t2\t3\t4\t5\t6\t7\t8\t9\t10\n",
		   LMK_AUTO, "cannot tell the landmark format from 18 fields", "lst 18 fields");
	expect_bad("path,x1,y1,x2,y2,x3,y3,x4,y4,x5,y5\n\"a\nb\",1,2,3,4,5,6,7,8,9,10\n",
		   LMK_AUTO, "line 2: image path contains a control character", "control character");
	expect_bad("path,label,x1,y1,x2,y2,x3,y3,x4,y4,x5,y5\na,one,1,2,3,4,5,6,7,8,9,10\n",
		   LMK_AUTO, "line 2: class id 'one'", "csv label");
	expect_bad("path,x1,y1,x2,y2,x3,y3,x4,y4,x5,y5\n,1,2,3,4,5,6,7,8,9,10\n", LMK_AUTO,
		   "line 2: empty image path", "csv empty path");

	const char *p = tmp_path("nul.txt");
	FILE *fp = fopen(p, "wb");
	fputs(GOOD, fp);
	fwrite("a\0b", 1, 3, fp);
	fclose(fp);
	struct lmk_list l;
	is_int(lmk_load(&l, p, LMK_AUTO), -1, "NUL byte fails");
	like(hm_errmsg(), "line 2: NUL byte", "NUL byte message");
	is_int(lmk_load(&l, "tests/tmp/no-such-file.txt", LMK_AUTO), -1, "missing file fails");
	like(hm_errmsg(), "'tests/tmp/no-such-file.txt': cannot open", "missing file message");
}

static void test_names(void)
{
	is_int(lmk_format_parse("lst"), LMK_LST, "parse lst");
	is_int(lmk_format_parse("auto"), LMK_AUTO, "parse auto");
	is_int(lmk_format_parse("LST"), -1, "names are case-sensitive");
	is_str(lmk_format_name(LMK_CASIA), "casia", "name casia");
	is_str(lmk_format_name(LMK_CSV), "csv", "name csv");
}

int main(void)
{
	test_lfw();
	test_round_trips();
	test_bad();
	test_names();
	return done_testing();
}
