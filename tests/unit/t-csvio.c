/* csvio: quoting, line endings, blank lines, line numbers, every error, limits,
 * and csvio_put round trips. */
#include "tap.h"
#include "err.h"
#include "csvio.h"

static const char *write_file(const char *name, const char *data, size_t n)
{
	const char *path = tmp_path(name);
	FILE *fp = fopen(path, "wb");
	fwrite(data, 1, n, fp);
	fclose(fp);
	return path;
}

/* Reads PATH whole into "LINE:f1|f2|...;" per row; returns the status of
 * the last csvio_next() (0 at a clean end, -1 on error).  Caller frees *out. */
static int dump_file(const char *path, char **out)
{
	size_t n;
	FILE *mem = open_memstream(out, &n);
	struct csvio *c = csvio_open(path);
	char **f;
	int nf, r = -1;
	if (c) {
		while ((r = csvio_next(c, &f, &nf)) == 1) {
			fprintf(mem, "%ld:", csvio_line(c));
			for (int i = 0; i < nf; i++)
				fprintf(mem, "%s%s", i ? "|" : "", f[i]);
			fputc(';', mem);
		}
		csvio_close(c);
	}
	fclose(mem);
	return r;
}

static void check(const char *what, const char *data, size_t n, const char *want)
{
	char *got;
	int r = dump_file(write_file("in.csv", data, n), &got);
	if (!ok(r == 0 && !strcmp(got, want), "%s", what))
		diag("  got '%s' (status %d, %s), want '%s'", got, r, hm_errmsg(), want);
	free(got);
}

#define CHECK(what, lit, want) check(what, lit, sizeof lit - 1, want)

static void check_fail(const char *what, const char *data, size_t n, const char *sub)
{
	char *got;
	const char *path = write_file("bad.csv", data, n);
	int r = dump_file(path, &got);
	is_int(r, -1, "%s fails", what);
	like(hm_errmsg(), sub, "%s: message", what);
	like(hm_errmsg(), "'tests/tmp/", "%s: message names the file", what);
	free(got);
}

#define FAIL(what, lit, sub) check_fail(what, lit, sizeof lit - 1, sub)

static void test_reading(void)
{
	CHECK("plain rows", "a,b,c\n1,2,3\n", "1:a|b|c;2:1|2|3;");
	CHECK("no final newline", "a,b\nc,d", "1:a|b;2:c|d;");
	CHECK("CRLF", "a,b\r\nc,d\r\n", "1:a|b;2:c|d;");
	CHECK("CRLF, no final newline", "a,b\r\nc,d", "1:a|b;2:c|d;");
	CHECK("empty and blank lines skipped, lines still counted",
	      "\n\na,b\n\n  \t\r\n\r\nc\n\n", "3:a|b;7:c;");
	CHECK("quoted comma, doubled quote",
	      "\"x,y\",\"say \"\"hi\"\"\",z\n", "1:x,y|say \"hi\"|z;");
	CHECK("quoted newlines: the next row's line number counts them",
	      "\"one\ntwo\n\nthree\",b\nnext,row\n",
	      "1:one\ntwo\n\nthree|b;5:next|row;");
	CHECK("quoted CRLF kept inside the field",
	      "\"a\r\nb\",c\r\nd\r\n", "1:a\r\nb|c;3:d;");
	CHECK("blanks around unquoted fields trimmed, kept when quoted",
	      "1, 2 ,\t3\n\" a \", b\n", "1:1|2|3;2: a |b;");
	CHECK("empty fields", ",,\na,,\n\"\"\n", "1:||;2:a||;3:;");
	CHECK("UTF-8 BOM skipped", "\xEF\xBB\xBFh1,h2\n", "1:h1|h2;");
	CHECK("empty file", "", "");
	CHECK("only blank lines", "\n\r\n  \n", "");
}

static void test_errors(void)
{
	FAIL("unterminated quote", "a,b\nc,d\n\"open,\nx\ny\n",
	     "line 3: quoted field not closed at the end of the input");
	FAIL("unterminated quote, no newline", "a\n\n\"x", "line 3: quoted field not closed");
	FAIL("quote inside an unquoted field", "a,b\nc,d\nab\"c,d\n",
	     "line 3: quote inside an unquoted field");
	FAIL("text after a closing quote", "a\n\"q\n\"x,b\n",
	     "line 3: text after a closing quote");
	FAIL("NUL byte", "a,b\nc,d\0e\n", "line 2: NUL byte in a field");

	struct csvio *c = csvio_open("tests/tmp/no/such/file.csv");
	ok(c == NULL, "missing file fails to open");
	like(hm_errmsg(), "'tests/tmp/no/such/file.csv': cannot open:", "missing file message");

	/* Errors are sticky. */
	const char *path = write_file("sticky.csv", "a\"b\nc\n", 6);
	char **f;
	int nf;
	c = csvio_open(path);
	is_int(csvio_next(c, &f, &nf), -1, "bad first row");
	is_int(csvio_next(c, &f, &nf), -1, "error is sticky");
	csvio_close(c);
}

static void test_limits(void)
{
	size_t big = CSVIO_FIELD_MAX + 1;
	char *buf = malloc(big + 64), *got;
	int n;

	/* Exactly the limit: fine; one byte more: fails, naming the row's line. */
	n = sprintf(buf, "x\n\ny,");
	memset(buf + n, 'a', CSVIO_FIELD_MAX);
	strcpy(buf + n + CSVIO_FIELD_MAX, ",z\n");
	is_int(dump_file(write_file("lim.csv", buf, strlen(buf)), &got), 0,
	       "a field of CSVIO_FIELD_MAX bytes is accepted");
	ok(strlen(got) == 2 + 2 + 2 + 2 + CSVIO_FIELD_MAX + 3, "and read whole");
	free(got);
	n = sprintf(buf, "x\n\ny,\"");
	memset(buf + n, 'a', big);
	strcpy(buf + n + big, "\",z\n");
	check_fail("a quoted field one byte over", buf, strlen(buf),
		   "line 3: field longer than 65536 bytes");
	free(buf);

	/* An unclosed quote early in a large input stops at the raw-byte guard,
	 * not at the end of the file (memory stays bounded). */
	size_t huge = 600000;
	buf = malloc(huge + 1);
	buf[0] = '"';
	for (size_t i = 1; i < huge; i++)
		buf[i] = i % 50 == 0 ? '\n' : 'q';
	check_fail("runaway quoted field", buf, huge, "line 1: field longer than 65536 bytes");
	free(buf);

	/* 1024 fields fine, 1025 fail. */
	buf = malloc(4 * 1100);
	n = 0;
	for (int i = 0; i < CSVIO_FIELDS_MAX; i++)
		n += sprintf(buf + n, "%s%d", i ? "," : "", i % 10);
	strcpy(buf + n, "\n");
	is_int(dump_file(write_file("wide.csv", buf, strlen(buf)), &got), 0,
	       "1024 fields accepted");
	free(got);
	strcpy(buf + n, ",x\n");
	check_fail("1025 fields", buf, strlen(buf), "line 1: row has more than 1024 fields");
	free(buf);
}

/* Rows straddling the 64 KiB read chunks, with multi-line quoted fields:
 * every row comes back whole with its line number. */
static void test_chunks(void)
{
	size_t n;
	char *data;
	FILE *mem = open_memstream(&data, &n);
	int rows = 20000;
	for (int i = 0; i < rows; i++)
		if (i % 3 == 0)
			fprintf(mem, "%d,\"q\n%d\"\r\n", i, i * 7);
		else
			fprintf(mem, "%d,%d\r\n", i, i * 7);
	fclose(mem);
	ok(n > 3 * 65536, "input spans several chunks (%zu bytes)", n);
	struct csvio *c = csvio_open(write_file("chunks.csv", data, n));
	char **f;
	int nf, bad = 0, count = 0;
	long line = 1;
	while (csvio_next(c, &f, &nf) == 1) {
		char want[32];
		int i = count++;
		snprintf(want, sizeof want, i % 3 == 0 ? "q\n%d" : "%d", i * 7);
		if (nf != 2 || atoi(f[0]) != i || strcmp(f[1], want) || csvio_line(c) != line)
			bad++;
		line += i % 3 == 0 ? 2 : 1;
	}
	csvio_close(c);
	is_int(count, rows, "all rows read");
	is_int(bad, 0, "every row's fields and line number right");
	free(data);
}

static void test_fp(void)
{
	static char text[] = "k,v\n1,2\n";
	FILE *fp = fmemopen(text, sizeof text - 1, "rb");
	struct csvio *c = csvio_open_fp(fp, "mem");
	char **f;
	int nf;
	is_int(csvio_next(c, &f, &nf), 1, "csvio_open_fp reads");
	is_str(f[1], "v", "first row from memory");
	is_int(csvio_next(c, &f, &nf), 1, "second row");
	is_int(csvio_next(c, &f, &nf), 0, "end");
	csvio_close(c);
	ok(fgetc(fp) == EOF && !ferror(fp), "caller's FILE still open after csvio_close");
	fclose(fp);

	static char bad[] = "a\n\"b";
	fp = fmemopen(bad, sizeof bad - 1, "rb");
	c = csvio_open_fp(fp, "mem");
	while (csvio_next(c, &f, &nf) == 1)
		;
	is_str(hm_errmsg(), "'mem': line 2: quoted field not closed at the end of the input",
	       "csvio_open_fp names its input in messages");
	csvio_close(c);
	fclose(fp);
}

static void test_put(void)
{
	const char *fields[] = { "plain", "a,b", "say \"hi\"", "two\nlines", "cr\rlf",
				 " lead", "trail\t", "", "mid dle", "\"" };
	const char *want = "plain,\"a,b\",\"say \"\"hi\"\"\",\"two\nlines\",\"cr\rlf\","
			   "\" lead\",\"trail\t\",,mid dle,\"\"\"\"\n";
	int nf = (int)(sizeof fields / sizeof *fields);
	char *buf;
	size_t n;
	FILE *mem = open_memstream(&buf, &n);
	int r = 0;
	for (int i = 0; i < nf; i++) {
		if (i)
			fputc(',', mem);
		r |= csvio_put(mem, fields[i]);
	}
	fputc('\n', mem);
	fclose(mem);
	is_int(r, 0, "csvio_put succeeds");
	is_str(buf, want, "quotes only where needed, quotes doubled");

	struct csvio *c = csvio_open(write_file("put.csv", buf, n));
	char **f;
	int got_n, same = 1;
	is_int(csvio_next(c, &f, &got_n), 1, "written row reads back");
	is_int(got_n, nf, "same number of fields");
	for (int i = 0; i < nf && i < got_n; i++)
		same &= !strcmp(f[i], fields[i]);
	ok(same, "every field reads back byte for byte");
	csvio_close(c);
	free(buf);

	FILE *full = fopen("/dev/full", "w");
	setvbuf(full, NULL, _IONBF, 0);
	is_int(csvio_put(full, "x,y"), -1, "write error reported");
	like(hm_errmsg(), "write error", "write error message");
	fclose(full);
}

int main(void)
{
	test_reading();
	test_errors();
	test_limits();
	test_chunks();
	test_fp();
	test_put();
	return done_testing();
}
