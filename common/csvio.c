/*
 * csvio: libcsv driven in segments that end at each CR or LF, so that we
 * know the line of every event: libcsv reports fields and row ends through
 * callbacks but keeps no line count.  Within one segment at most one row can
 * end (a row ends only at an unquoted CR or LF, and the segment's last byte is
 * its only one), so csvio_next() feeds segments until a row is complete.
 */
#include "csvio.h"
#include "err.h"

#include <csv.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK 65536

/* libcsv buffers a field whole before its callback; we stop a runaway
 * field (a missing closing quote in a large file) once this many raw bytes
 * have gone by without a field ending.  Raw bytes can be twice the field
 * (doubled quotes) plus trimmed blanks, hence the slack. */
#define RAW_FIELD_MAX (4 * (size_t)CSVIO_FIELD_MAX)

struct csvio {
	FILE *fp;
	int own_fp;
	char *name;
	struct csv_parser parser;
	unsigned char buf[CHUNK];
	size_t pos, len;
	int started, eof, err;
	long line;		/* line of the next byte to feed */
	long row_line;		/* line where the row being built starts */
	int row_open;		/* a row has started and not yet ended */
	long ready_line;	/* line of the row just completed */
	int row_ready;
	size_t raw_since_cb;	/* bytes fed since a field last ended */
	int cb_seen;
	/* the row: field texts back to back, each NUL-terminated */
	char *text;
	size_t text_len, text_cap;
	size_t offs[CSVIO_FIELDS_MAX];
	char *fields[CSVIO_FIELDS_MAX];
	int n_fields;
};

static int row_error(struct csvio *c, long line, const char *what)
{
	c->err = 1;
	return hm_error_file(c->name, "line %ld: %s", line, what);
}

static void on_field(void *s, size_t n, void *data)
{
	struct csvio *c = data;
	c->cb_seen = 1;
	if (c->err)
		return;
	long line = c->row_open ? c->row_line : c->line;
	if (c->n_fields == CSVIO_FIELDS_MAX) {
		c->err = 1;
		hm_error_file(c->name, "line %ld: row has more than %d fields",
			      line, CSVIO_FIELDS_MAX);
		return;
	}
	if (n > CSVIO_FIELD_MAX) {
		c->err = 1;
		hm_error_file(c->name, "line %ld: field longer than %d bytes",
			      line, CSVIO_FIELD_MAX);
		return;
	}
	if (n && memchr(s, 0, n)) {
		row_error(c, line, "NUL byte in a field");
		return;
	}
	if (c->text_len + n + 1 > c->text_cap) {
		size_t cap = c->text_cap ? c->text_cap : 256;
		while (cap < c->text_len + n + 1)
			cap *= 2;
		char *t = realloc(c->text, cap);
		if (!t) {
			row_error(c, line, "out of memory");
			return;
		}
		c->text = t;
		c->text_cap = cap;
	}
	if (n)
		memcpy(c->text + c->text_len, s, n);
	c->offs[c->n_fields++] = c->text_len;
	c->text_len += n;
	c->text[c->text_len++] = '\0';
}

static void on_row(int term, void *data)
{
	struct csvio *c = data;
	c->cb_seen = 1;
	if (c->err)
		return;
	/* A row that starts after a lone CR on the same line was never seen
	 * opening; it starts on the current line. */
	c->ready_line = c->row_open ? c->row_line : c->line;
	c->row_open = 0;
	c->row_ready = 1;
}

static int is_blank(unsigned char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

struct csvio *csvio_open_fp(FILE *fp, const char *name)
{
	struct csvio *c = calloc(1, sizeof *c);
	if (!c || !(c->name = strdup(name ? name : "-"))) {
		free(c);
		hm_error_file(name, "out of memory");
		return NULL;
	}
	if (csv_init(&c->parser, CSV_STRICT | CSV_STRICT_FINI) != 0) {
		free(c->name);
		free(c);
		hm_error_file(name, "out of memory");
		return NULL;
	}
	c->fp = fp;
	c->line = 1;
	return c;
}

struct csvio *csvio_open(const char *path)
{
	int is_stdin = !path || !strcmp(path, "-");
	FILE *fp = is_stdin ? stdin : fopen(path, "rb");
	if (!fp) {
		hm_error_file(path, "cannot open: %s", strerror(errno));
		return NULL;
	}
	struct csvio *c = csvio_open_fp(fp, is_stdin ? "-" : path);
	if (!c) {
		if (!is_stdin)
			fclose(fp);
		return NULL;
	}
	c->own_fp = !is_stdin;
	return c;
}

/* Refills the buffer; 1 = data, 0 = end of input, -1 = read error. */
static int refill(struct csvio *c)
{
	int first = !c->started;
	c->started = 1;
	size_t got = fread(c->buf, 1, CHUNK, c->fp);
	if (got == 0) {
		if (ferror(c->fp)) {
			c->err = 1;
			return hm_error_file(c->name, "read error: %s", strerror(errno));
		}
		return 0;
	}
	c->pos = 0;
	c->len = got;
	/* fread() fills the whole chunk unless the input ends, so a BOM is
	 * never split across the first two reads. */
	if (first && got >= 3 && !memcmp(c->buf, "\xEF\xBB\xBF", 3))
		c->pos = 3;
	return 1;
}

static int finish(struct csvio *c)
{
	c->eof = 1;
	if (csv_fini(&c->parser, on_field, on_row, c) != 0 && !c->err)
		return row_error(c, c->row_line, "quoted field not closed at the end of the input");
	return c->err ? -1 : 0;
}

int csvio_next(struct csvio *c, char ***fields, int *n_fields)
{
	if (c->err)
		return -1;
	c->row_ready = 0;
	c->n_fields = 0;
	c->text_len = 0;
	while (!c->row_ready) {
		if (c->pos == c->len) {
			if (c->eof)
				return 0;
			int r = refill(c);
			if (r < 0)
				return -1;
			if (r == 0) {
				if (finish(c) < 0)
					return -1;
				continue;
			}
			if (c->pos == c->len)
				continue;
		}
		unsigned char *s = c->buf + c->pos;
		size_t avail = c->len - c->pos, n = 0;
		while (n < avail && s[n] != '\n' && s[n] != '\r')
			n++;
		if (n < avail)
			n++;	/* the terminator ends the segment */
		if (!c->row_open) {
			/* libcsv starts a row at the first byte that is not a
			 * space, tab, CR or LF (blank lines are not rows). */
			for (size_t i = 0; i < n; i++)
				if (!is_blank(s[i])) {
					c->row_open = 1;
					c->row_line = c->line;
					break;
				}
		}
		c->cb_seen = 0;
		size_t done = csv_parse(&c->parser, s, n, on_field, on_row, c);
		if (c->err)
			return -1;
		if (done != n && csv_error(&c->parser) != CSV_EPARSE)
			return row_error(c, c->line, "out of memory");
		if (done != n)
			return row_error(c, c->line, c->parser.quoted ?
					 "text after a closing quote" :
					 "quote inside an unquoted field");
		c->pos += n;
		c->raw_since_cb = c->cb_seen ? 0 : c->raw_since_cb + n;
		if (c->raw_since_cb > RAW_FIELD_MAX) {
			c->err = 1;
			return hm_error_file(c->name, "line %ld: field longer than %d bytes",
					     c->row_line, CSVIO_FIELD_MAX);
		}
		if (s[n - 1] == '\n')
			c->line++;
	}
	for (int i = 0; i < c->n_fields; i++)
		c->fields[i] = c->text + c->offs[i];
	*fields = c->fields;
	*n_fields = c->n_fields;
	return 1;
}

long csvio_line(const struct csvio *c)
{
	return c->ready_line;
}

void csvio_close(struct csvio *c)
{
	if (!c)
		return;
	csv_free(&c->parser);
	if (c->own_fp)
		fclose(c->fp);
	free(c->text);
	free(c->name);
	free(c);
}

int csvio_put(FILE *fp, const char *field)
{
	size_t n = strlen(field);
	int quote = strpbrk(field, ",\"\r\n") != NULL ||
		    (n && (field[0] == ' ' || field[0] == '\t' ||
			   field[n - 1] == ' ' || field[n - 1] == '\t'));
	if (!quote) {
		if (fwrite(field, 1, n, fp) != n)
			return hm_error("write error: %s", strerror(errno));
		return 0;
	}
	if (putc('"', fp) == EOF)
		return hm_error("write error: %s", strerror(errno));
	for (const char *p = field; *p; p++) {
		if (*p == '"' && putc('"', fp) == EOF)
			return hm_error("write error: %s", strerror(errno));
		if (putc(*p, fp) == EOF)
			return hm_error("write error: %s", strerror(errno));
	}
	if (putc('"', fp) == EOF)
		return hm_error("write error: %s", strerror(errno));
	return 0;
}
