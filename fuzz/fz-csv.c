/*
 * fz-csv: CSV input through csvio_open_fp() and csvio_next() (csvio.h).
 *
 * Checks: every row has 1..CSVIO_FIELDS_MAX fields of at most
 * CSVIO_FIELD_MAX bytes; row line numbers start at 1 and never go back;
 * errors are one line and sticky.  Round trip: each row written back with
 * csvio_put() reads as the same fields (except a row of one empty field,
 * which writes as a blank line, and a first field that starts with a BOM).
 */
#include "csvio.h"
#include "fz.h"

static void fzcsv_roundtrip(char **fields, int n)
{
	if (n == 1 && !fields[0][0])
		return;
	if (!strncmp(fields[0], "\xEF\xBB\xBF", 3))
		return;
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);
	FZ_CHECK(out != NULL);
	for (int i = 0; i < n; i++) {
		if (i)
			FZ_CHECK(fputc(',', out) == ',');
		FZ_CHECK(csvio_put(out, fields[i]) == 0);
	}
	FZ_CHECK(fputc('\n', out) == '\n');
	FZ_CHECK(fclose(out) == 0);
	FILE *in = fz_memfile((const uint8_t *)buf, len);
	struct csvio *c = csvio_open_fp(in, "roundtrip.csv");
	FZ_CHECK(c != NULL);
	char **f2;
	int n2;
	int got = csvio_next(c, &f2, &n2);
	if (got != 1)
		fprintf(stderr, "round trip of \"%s\": %d %s\n", buf, got, hm_errmsg());
	FZ_CHECK(got == 1);
	FZ_CHECK(n2 == n);
	for (int i = 0; i < n; i++)
		FZ_CHECK(!strcmp(f2[i], fields[i]));
	FZ_CHECK(csvio_next(c, &f2, &n2) == 0);
	csvio_close(c);
	fclose(in);
	free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	FILE *fp = fz_memfile(data, size);
	struct csvio *c = csvio_open_fp(fp, "fuzz.csv");
	FZ_CHECK(c != NULL);
	char **fields;
	int n, got;
	long last = 1;
	while ((got = csvio_next(c, &fields, &n)) == 1) {
		FZ_CHECK(n >= 1 && n <= CSVIO_FIELDS_MAX);
		for (int i = 0; i < n; i++)
			FZ_CHECK(strlen(fields[i]) <= CSVIO_FIELD_MAX);
		FZ_CHECK(csvio_line(c) >= last);
		last = csvio_line(c);
		fzcsv_roundtrip(fields, n);
	}
	if (got < 0) {
		fz_check_error();
		FZ_CHECK(csvio_next(c, &fields, &n) == -1);
	} else {
		FZ_CHECK(csvio_next(c, &fields, &n) == 0);
	}
	csvio_close(c);
	fclose(fp);
	return 0;
}
