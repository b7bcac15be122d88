/* pairs: the real protocol files (LFW pairs.txt, YTF splits.txt, arcface
 * lfw_test_pair.txt) parse completely with the right keys, labels and folds;
 * format variants parse identically; CSV with and without folds; every error
 * names the file and line.  The protocol files are the repository's data/
 * (the tests run from the repository root). */
#include "tap.h"
#include "err.h"
#include "pairs.h"

static const char *write_file(const char *name, const char *data, size_t n)
{
	const char *path = tmp_path(name);
	FILE *fp = fopen(path, "wb");
	fwrite(data, 1, n, fp);
	fclose(fp);
	return path;
}

#define WRITE(name, lit) write_file(name, lit, sizeof lit - 1)

static char *read_all(const char *path, size_t *n)
{
	FILE *fp = fopen(path, "rb");
	char *buf = NULL;
	if (!fp)
		return NULL;
	fseek(fp, 0, SEEK_END);
	*n = (size_t)ftell(fp);
	rewind(fp);
	buf = malloc(*n + 1);
	if (fread(buf, 1, *n, fp) != *n)
		*n = 0;
	buf[*n] = '\0';
	fclose(fp);
	return buf;
}

static int cmp_str(const void *x, const void *y)
{
	return strcmp(*(char *const *)x, *(char *const *)y);
}

/* Distinct keys over both sides of every pair. */
static long distinct_keys(const struct pair_list *l)
{
	char **k = malloc(2 * (size_t)l->n * sizeof *k);
	long d = 0;
	for (long i = 0; i < l->n; i++) {
		k[2 * i] = l->p[i].a;
		k[2 * i + 1] = l->p[i].b;
	}
	qsort(k, 2 * (size_t)l->n, sizeof *k, cmp_str);
	for (long i = 0; i < 2 * l->n; i++)
		d += i == 0 || strcmp(k[i], k[i - 1]) != 0;
	free(k);
	return d;
}

/* Each pair as "a\tb\tsame", sorted: the list as a set. */
static char **pair_strings(const struct pair_list *l)
{
	char **s = malloc((size_t)l->n * sizeof *s);
	for (long i = 0; i < l->n; i++) {
		size_t n = strlen(l->p[i].a) + strlen(l->p[i].b) + 8;
		s[i] = malloc(n);
		snprintf(s[i], n, "%s\t%s\t%d", l->p[i].a, l->p[i].b, l->p[i].same);
	}
	qsort(s, (size_t)l->n, sizeof *s, cmp_str);
	return s;
}

static void free_strings(char **s, long n)
{
	for (long i = 0; i < n; i++)
		free(s[i]);
	free(s);
}

/* Same keys, labels and folds, pair by pair (line numbers may differ). */
static int same_pairs(const struct pair_list *x, const struct pair_list *y)
{
	if (x->n != y->n || x->n_folds != y->n_folds || x->format != y->format)
		return 0;
	for (long i = 0; i < x->n; i++)
		if (strcmp(x->p[i].a, y->p[i].a) || strcmp(x->p[i].b, y->p[i].b) ||
		    x->p[i].same != y->p[i].same || x->p[i].fold != y->p[i].fold)
			return 0;
	return 1;
}

static void test_lfw(struct pair_list *lfw)
{
	const char *path = "data/pairs.txt";
	if (!ok(pairs_load(lfw, path, PAIRS_AUTO) == 0, "LFW pairs.txt loads (%s)", path)) {
		diag("  %s", hm_errmsg());
		return;
	}
	is_int(lfw->format, PAIRS_LFW, "detected as lfw");
	is_int(lfw->n, 6000, "6000 LFW pairs");
	is_int(lfw->n_folds, 10, "10 folds");
	is_str(lfw->p[0].a, "Abel_Pacheco/Abel_Pacheco_0001", "first pair, key a");
	is_str(lfw->p[0].b, "Abel_Pacheco/Abel_Pacheco_0004", "first pair, key b");
	ok(lfw->p[0].same == 1 && lfw->p[0].fold == 0 && lfw->p[0].line == 2,
	   "first pair: same, fold 0, line 2");
	ok(lfw->p[299].same == 1 && lfw->p[300].same == 0, "pair 300 is the first mismatched");
	is_str(lfw->p[300].a, "Abdel_Madi_Shabneh/Abdel_Madi_Shabneh_0001", "pair 300 key a");
	is_str(lfw->p[300].b, "Dean_Barker/Dean_Barker_0001", "pair 300 key b");
	is_int(lfw->p[5999].fold, 9, "fold of pair 5999");
	is_str(lfw->p[5999].b, "Sok_An/Sok_An_0001", "last pair key b");
	is_int(lfw->p[5999].line, 6001, "last pair's line");
	int layout = 1;
	for (long i = 0; i < lfw->n; i++)
		layout &= lfw->p[i].fold == i / 600 && lfw->p[i].same == (i % 600 < 300);
	ok(layout, "every fold: 300 matched then 300 mismatched, fold = i / 600");
	is_int(distinct_keys(lfw), 7701, "LFW pairs use 7701 distinct images");
}

static void test_arcface(const struct pair_list *lfw)
{
	struct pair_list l;
	if (!ok(pairs_load(&l, "data/lfw_test_pair.txt", PAIRS_AUTO) == 0,
		"arcface lfw_test_pair.txt loads")) {
		diag("  %s", hm_errmsg());
		return;
	}
	is_int(l.format, PAIRS_ARCFACE, "detected as arcface");
	is_int(l.n, 6000, "6000 arcface pairs");
	is_int(l.n_folds, 0, "no folds");
	int nofold = 1;
	for (long i = 0; i < l.n; i++)
		nofold &= l.p[i].fold == -1;
	ok(nofold, "every pair has fold -1");
	is_str(l.p[0].a, "Abel_Pacheco/Abel_Pacheco_0001", "extension stripped from key a");
	is_str(l.p[0].b, "Abel_Pacheco/Abel_Pacheco_0004", "extension stripped from key b");
	ok(l.p[3000].same == 0 && l.p[2999].same == 1, "3000 positives, then negatives");
	if (lfw->n == l.n) {
		char **x = pair_strings(lfw), **y = pair_strings(&l);
		long diff = 0;
		for (long i = 0; i < l.n; i++)
			diff += strcmp(x[i], y[i]) != 0;
		is_int(diff, 0, "LFW and arcface lists name the same 6000 pairs (as sets)");
		free_strings(x, l.n);
		free_strings(y, l.n);
	} else {
		ok(0, "LFW and arcface lists name the same 6000 pairs (as sets)");
	}
	pair_list_free(&l);
}

static void test_ytf(void)
{
	struct pair_list y, v;
	size_t n = 0;
	const char *path = "data/splits.txt";
	if (!ok(pairs_load(&y, path, PAIRS_AUTO) == 0, "YTF splits.txt loads")) {
		diag("  %s", hm_errmsg());
		return;
	}
	is_int(y.format, PAIRS_YTF, "detected as ytf");
	is_int(y.n, 5000, "5000 YTF pairs");
	is_int(y.n_folds, 10, "10 splits");
	is_str(y.p[0].a, "Sadie_Frost/1", "first pair, key a");
	is_str(y.p[0].b, "Sadie_Frost/5", "first pair, key b");
	ok(y.p[0].same == 1 && y.p[0].fold == 0, "first pair same, fold 0");
	is_str(y.p[4999].a, "Ben_Curtis/0", "last pair (no final newline), key a");
	is_str(y.p[4999].b, "Hank_Stram/4", "last pair, key b");
	ok(y.p[4999].same == 0 && y.p[4999].fold == 9 && y.p[4999].line == 5000,
	   "last pair: different, fold 9, line 5000");
	int layout = 1;
	for (long i = 0; i < y.n; i++)
		layout &= y.p[i].fold == i / 500 && y.p[i].same == (i % 500 < 250);
	ok(layout, "every split: 250 same then 250 different");
	is_int(distinct_keys(&y), 3226, "YTF pairs use 3226 distinct videos");

	/* The distributed form: header line, LF endings, a final newline. */
	char *orig = read_all(path, &n);
	char *alt = malloc(n + 128);
	size_t m = (size_t)sprintf(alt, "split number, pair number, first name, second name, is same\n");
	for (size_t i = 0; i < n; i++)
		if (orig[i] != '\r')
			alt[m++] = orig[i];
	alt[m++] = '\n';
	const char *vpath = write_file("splits-lf.txt", alt, m);
	ok(pairs_load(&v, vpath, PAIRS_AUTO) == 0, "header + LF + final newline variant loads");
	ok(same_pairs(&y, &v), "and parses identically");
	is_int(v.n ? v.p[0].line : 0, 2, "line numbers count the header");
	pair_list_free(&v);

	/* The same list from stdin (read whole, detected, parsed via csvio). */
	ok(freopen(vpath, "rb", stdin) != NULL, "stdin redirected");
	ok(pairs_load(&v, "-", PAIRS_AUTO) == 0 && same_pairs(&y, &v), "'-' reads stdin");
	pair_list_free(&v);
	fclose(stdin);
	free(orig);
	free(alt);
	pair_list_free(&y);
}

static void test_csv(void)
{
	struct pair_list l;
	const char *p;

	p = WRITE("nofold.csv", "a,b,same\r\nx/1,x/2,1\r\n\r\n\"y,z/1\",w/3,0");
	ok(pairs_load(&l, p, PAIRS_AUTO) == 0, "CSV with header, CRLF, no final newline");
	ok(l.format == PAIRS_CSV && l.n == 2 && l.n_folds == 0, "2 pairs, no folds");
	ok(l.n == 2 && l.p[0].fold == -1 && l.p[1].fold == -1 && l.p[0].same == 1 &&
	   l.p[1].same == 0, "fold -1, labels");
	ok(l.n == 2 && !strcmp(l.p[1].a, "y,z/1") && !strcmp(l.p[1].b, "w/3") &&
	   l.p[1].line == 4, "quoted key read as written, line 4");
	pair_list_free(&l);

	p = WRITE("fold.csv", "img/a.jpg,img/b.jpg,1,0\nc,d,0,1\ne,f,1,1\n");
	ok(pairs_load(&l, p, PAIRS_AUTO) == 0, "CSV with folds, no header");
	ok(l.n == 3 && l.n_folds == 2 && l.p[0].fold == 0 && l.p[2].fold == 1,
	   "3 pairs in 2 folds");
	is_str(l.n ? l.p[0].a : NULL, "img/a.jpg", "CSV keys taken as written (extension kept)");
	pair_list_free(&l);

	/* Folds numbered from 1, or any labels: each label a fold, kept. */
	p = WRITE("fold1.csv", "a,b,same,fold\nx,y,1,1\nx,z,0,10\nu,v,1,2\n");
	ok(pairs_load(&l, p, PAIRS_AUTO) == 0, "CSV with folds 1, 2, 10 (from 1, a gap)");
	ok(l.n == 3 && l.n_folds == 3 && l.p[0].fold == 1 && l.p[1].fold == 10 &&
	   l.p[2].fold == 2, "3 folds, labels as written");
	pair_list_free(&l);

	p = WRITE("forced.csv", "a b 1\n");
	ok(pairs_load(&l, p, PAIRS_CSV) < 0, "--format csv on a non-CSV file fails");
	like(hm_errmsg(), "line 1: expected 3 or 4 fields, got 1", "and says why");

	/* An explicit format is obeyed: csv content read as arcface fails. */
	p = WRITE("forced2.txt", "1\t2\n");
	ok(pairs_load(&l, p, PAIRS_ARCFACE) < 0, "forced arcface on an LFW header fails");
	like(hm_errmsg(), "line 1: expected 3 fields, got 2", "with the arcface rule");
}

static void fails(const char *what, const char *name, const char *data, size_t n,
		  enum pairs_format f, const char *sub)
{
	struct pair_list l;
	const char *path = write_file(name, data, n);
	char want[512];
	ok(pairs_load(&l, path, f) == -1, "%s: fails", what);
	snprintf(want, sizeof want, "'%s': %s", path, sub);
	like(hm_errmsg(), want, "%s: message", what);
	ok(l.n == 0 && l.p == NULL, "%s: list left empty", what);
}

#define FAILS(what, lit, f, sub) fails(what, "bad.txt", lit, sizeof lit - 1, f, sub)

static void test_errors(void)
{
	struct pair_list l;
	/* lfw */
	FAILS("lfw: 2 fields", "1\t2\nA\t1\t2\nB\t1\nC\t1\tD\t2\nE\t1\tF\t2\n", PAIRS_AUTO,
	      "line 3: expected 3 or 4 fields, got 2");
	FAILS("lfw: 5 fields", "1\t1\nA\t1\tB\t2\t3\n", PAIRS_AUTO,
	      "line 2: expected 3 or 4 fields, got 5");
	FAILS("lfw: bad image number", "1\t1\nA\t1\tx\nB\t1\tC\t1\n", PAIRS_AUTO,
	      "line 2: bad image number 'x'");
	FAILS("lfw: image number 0", "1\t1\nA\t0\t2\nB\t1\tC\t1\n", PAIRS_AUTO,
	      "line 2: bad image number '0'");
	FAILS("lfw: fewer pairs than the header", "2\t1\nA\t1\t2\nB\t1\tC\t1\n", PAIRS_AUTO,
	      "line 1: header says 2 folds x 2 x 1 = 4 pairs, the file has 2");
	FAILS("lfw: more pairs than the header", "1\t1\nA\t1\t2\nB\t1\tC\t1\nD\t1\t2\n",
	      PAIRS_AUTO, "line 4: more pairs than the header's 1 folds x 2 x 1");
	FAILS("lfw: matched pair in the mismatched half", "1\t2\nA\t1\t2\nA\t1\t3\nA\t2\t3\n",
	      PAIRS_AUTO, "line 4: matched pair where a mismatched one belongs");
	FAILS("lfw: mismatched pair in the matched half", "1\t2\nA\t1\tB\t2\n",
	      PAIRS_AUTO, "line 2: mismatched pair where a matched one belongs");
	FAILS("lfw: bad header", "x\ty\nA\t1\t2\n", PAIRS_LFW, "line 1: bad LFW header");
	FAILS("lfw: header 0 folds", "0\t300\n", PAIRS_LFW, "line 1: bad LFW header");
	/* A one-number header (LFW pairsDevTest.txt) is one fold. */
	const char *p = WRITE("dev.txt", "\n1\nA\t1\t2\r\nB\t3\tC\t4\n");
	ok(pairs_load(&l, p, PAIRS_AUTO) == 0 && l.n == 2 && l.n_folds == 1 &&
	   !strcmp(l.p[1].b, "C/C_0004") && l.p[1].line == 4,
	   "one-number LFW header: one fold, blank line and CRLF tolerated");
	pair_list_free(&l);

	/* ytf */
	FAILS("ytf: 4 fields", "1, 1, a/1, b/2, 1\n1, 2, a/1, b/2\n", PAIRS_AUTO,
	      "line 2: expected 5 fields, got 4");
	FAILS("ytf: bad split", "1, 1, a/1, b/2, 1\n0, 2, a/1, b/2, 1\n", PAIRS_AUTO,
	      "line 2: bad split number '0'");
	FAILS("ytf: bad pair number", "1, 1, a/1, b/2, 1\n\n1, x, a/1, b/2, 1\n", PAIRS_AUTO,
	      "line 3: bad pair number 'x'");
	FAILS("ytf: same not 0/1", "1, 1, a/1, b/2, 2\n", PAIRS_AUTO,
	      "line 1: same must be 0 or 1, got '2'");
	FAILS("ytf: empty key", "1, 1, a/1, \"\", 1\n", PAIRS_AUTO, "line 1: empty key");
	FAILS("ytf: a split with no pairs", "1, 1, a/1, b/2, 1\r\n3, 1, a/1, b/2, 0\r\n",
	      PAIRS_AUTO, "split 2 has no pairs (splits run 1..3)");
	FAILS("ytf: header only", "split number, pair number, first name, second name, is same\n",
	      PAIRS_AUTO, "no pairs");
	FAILS("ytf: header not first", "1, 1, a/1, b/2, 1\nsplit, pair, a, b, same\n",
	      PAIRS_AUTO, "line 2: bad split number 'split'");
	FAILS("ytf: quoting error from csvio", "1, 1, a/1, b\"/2, 1\n", PAIRS_AUTO,
	      "line 1: quote inside an unquoted field");

	/* arcface */
	FAILS("arcface: 2 fields", "a.jpg b.jpg 1\nc.jpg d.jpg\n", PAIRS_AUTO,
	      "line 2: expected 3 fields, got 2");
	FAILS("arcface: same not 0/1", "a.jpg b.jpg 1\nc.jpg d.jpg yes\n", PAIRS_AUTO,
	      "line 2: same must be 0 or 1, got 'yes'");

	/* csv */
	FAILS("csv: 2 fields", "a,b,same\nx,y,1\n\nx,y\n", PAIRS_CSV,
	      "line 4: expected 3 or 4 fields, got 2");
	FAILS("csv: width changes", "x,y,1,0\nx,y,1\n", PAIRS_AUTO,
	      "line 2: expected 4 fields as on line 1, got 3");
	FAILS("csv: same not 0/1 on the first row is no header", "x,y,2\nx,y,1\n", PAIRS_AUTO,
	      "line 1: same must be 0 or 1, got '2'");
	FAILS("csv: bad fold", "x,y,1,0\nx,y,0,-1\n", PAIRS_AUTO, "line 2: bad fold '-1'");
	FAILS("csv: empty key", "a,b,same\n,y,1\n", PAIRS_AUTO, "line 2: empty key");
	FAILS("csv: unterminated quote", "a,b,same\nx,\"y,1\n", PAIRS_AUTO,
	      "line 2: quoted field not closed");

	/* any format */
	FAILS("empty file", "", PAIRS_AUTO, "empty file");
	FAILS("blank lines only", "\n \r\n\t\n", PAIRS_AUTO, "empty file");
	FAILS("empty file, explicit format", "", PAIRS_YTF, "empty file");
	FAILS("unknown format", "\nhello world\n", PAIRS_AUTO,
	      "line 2: not a pair list in a known format");
	FAILS("one comma", "a,b\n", PAIRS_AUTO, "line 1: not a pair list in a known format");
	FAILS("NUL byte", "a b 1\nc\0 d 0\n", PAIRS_AUTO, "line 2: NUL byte");
	ok(pairs_load(&l, "tests/tmp/no-such-pairs.txt", PAIRS_AUTO) == -1 &&
	   strstr(hm_errmsg(), "'tests/tmp/no-such-pairs.txt': cannot open:"),
	   "missing file: cannot open");
}

static void test_names(void)
{
	const char *names[] = { "auto", "lfw", "ytf", "arcface", "csv" };
	int good = 1;
	for (int i = 0; i < 5; i++)
		good &= pairs_format_parse(names[i]) == i &&
			!strcmp(pairs_format_name((enum pairs_format)i), names[i]);
	ok(good, "format names round-trip");
	is_int(pairs_format_parse("tsv"), -1, "unknown format name");
}

int main(void)
{
	struct pair_list lfw;
	test_lfw(&lfw);
	test_arcface(&lfw);
	pair_list_free(&lfw);
	test_ytf();
	test_csv();
	test_errors();
	test_names();
	return done_testing();
}
