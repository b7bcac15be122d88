/*
 * lmk: landmark files, streamed line by line (CASIA-size files never sit in
 * memory whole).  The format is decided once, from the first non-blank line
 * or by the caller, and every line is then parsed with that format's field
 * count: a line that does not fit is an error naming the file and line.
 *
 * Detection needs to look at the first line before the parser for the
 * format starts, and the CSV parser (csvio) wants to read its header itself;
 * so the peeked bytes are handed back through a replaying stream (util.h)
 * that gives them and then continues with the real input.  That keeps
 * stdin (which cannot be rewound) on the same path as a file.
 */
#include "lmk.h"
#include "csvio.h"
#include "err.h"
#include "util.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>

/* Coordinates beyond this are certainly garbage (images are <= 8192 px). */
#define COORD_MAX 1e6
#define FIELDS_MAX 32

static const char *const format_names[] = { "auto", "plain", "casia", "lst", "csv",
					    "ytf", "paths" };

int lmk_format_parse(const char *name)
{
	for (int i = 0; i < (int)(sizeof format_names / sizeof *format_names); i++)
		if (!strcmp(name, format_names[i]))
			return i;
	return -1;
}

const char *lmk_format_name(enum lmk_format format)
{
	if ((int)format < 0 || (int)format >= (int)(sizeof format_names / sizeof *format_names))
		return "?";
	return format_names[format];
}

void lmk_list_free(struct lmk_list *list)
{
	for (long i = 0; i < list->n; i++)
		free(list->e[i].path);
	free(list->e);
	memset(list, 0, sizeof *list);
}

int lmk_write(FILE *fp, const char *path, int label, const float pt[5][2])
{
	if (fputs(path, fp) == EOF || (label >= 0 && fprintf(fp, "\t%d", label) < 0))
		return hm_error("write error: %s", strerror(errno));
	for (int i = 0; i < 5; i++)
		if (fprintf(fp, "\t%.2f\t%.2f", pt[i][0], pt[i][1]) < 0)
			return hm_error("write error: %s", strerror(errno));
	if (putc('\n', fp) == EOF)
		return hm_error("write error: %s", strerror(errno));
	return 0;
}

/* ---- one parse session ---- */

struct parser {
	const char *name;	/* for messages */
	struct lmk_list *list;
	long cap;
	long line;		/* current line number */
};

static struct lmk_entry *new_entry(struct parser *p)
{
	struct lmk_list *l = p->list;
	if (l->n == p->cap) {
		long cap = p->cap ? 2 * p->cap : 1024;
		struct lmk_entry *e = realloc(l->e, cap * sizeof *e);
		if (!e) {
			hm_error_file(p->name, "out of memory at line %ld", p->line);
			return NULL;
		}
		l->e = e;
		p->cap = cap;
	}
	struct lmk_entry *e = &l->e[l->n];
	memset(e, 0, sizeof *e);
	e->label = -1;
	return e;
}

/* A finished entry joins the list only once its path is owned. */
static int add_entry(struct parser *p, struct lmk_entry *e, const char *path)
{
	if (!*path)
		return hm_error_file(p->name, "line %ld: empty image path", p->line);
	/* Keys and --out-dir files are derived from the path, so it must stay
	 * inside the root. */
	int dotdot = 0;
	for (const char *s = path; *s;) {
		size_t k = strcspn(s, "/");
		if (k == 2 && s[0] == '.' && s[1] == '.')
			dotdot = 1;
		s += k;
		s += *s == '/';
	}
	for (const unsigned char *s = (const unsigned char *)path; *s; s++)
		if (*s < 0x20 || *s == 0x7f)
			return hm_error_file(p->name, "line %ld: image path contains a "
					     "control character", p->line);
	if (path[0] == '/' || dotdot)
		return hm_error_file(p->name, "line %ld: image path '%s' is not inside the root "
				     "(absolute or with '..')", p->line, path);
	e->path = strdup(path);
	if (!e->path)
		return hm_error_file(p->name, "out of memory at line %ld", p->line);
	p->list->n++;
	return 0;
}

static int parse_coord(struct parser *p, const char *s, float *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (end == s || *end)
		return hm_error_file(p->name, "line %ld: landmark value '%s' is not a number",
				     p->line, s);
	if (!isfinite(v))
		return hm_error_file(p->name, "line %ld: landmark value '%s' is not finite",
				     p->line, s);
	if (fabs(v) > COORD_MAX)
		return hm_error_file(p->name, "line %ld: landmark value '%s' is out of range",
				     p->line, s);
	*out = (float)v;
	return 0;
}

static int parse_label(struct parser *p, const char *s, int *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (end == s || *end || errno || v < 0 || v > INT32_MAX)
		return hm_error_file(p->name, "line %ld: class id '%s' is not an integer "
				     "in 0..2147483647", p->line, s);
	*out = (int)v;
	return 0;
}

/* Ten values in order x1 y1 ... x5 y5 (XY_PAIRS) or x1..x5 y1..y5. */
static int parse_points(struct parser *p, char **f, int xy_pairs, float pt[5][2])
{
	for (int i = 0; i < 10; i++) {
		int k = xy_pairs ? i / 2 : i % 5;
		int c = xy_pairs ? i % 2 : i / 5;
		if (parse_coord(p, f[i], &pt[k][c]))
			return -1;
	}
	return 0;
}

/*
 * Splits LINE in place: on tabs when it holds one (paths may then contain
 * spaces), else on runs of spaces.  Fields are trimmed of spaces and CR.
 */
static int split_fields(char *line, char **f, int max)
{
	int tabs = strchr(line, '\t') != NULL, n = 0;
	char *s = line;
	for (;;) {
		while (*s == ' ' || (tabs && *s == '\t') || *s == '\r')
			s++;
		if (!*s)
			break;
		char *start = s;
		while (*s && *s != '\t' && (tabs || *s != ' '))
			s++;
		char *end = s;
		while (end > start && (end[-1] == ' ' || end[-1] == '\r'))
			end--;
		int more = *s != '\0';
		*end = '\0';
		if (n < max)
			f[n] = start;
		n++;
		if (!more)
			break;
		s++;
	}
	return n;
}

static int is_blank_line(const char *s)
{
	return s[strspn(s, " \t\r\n")] == '\0';
}

static int count_commas(const char *s)
{
	int n = 0;
	for (; *s; s++)
		n += *s == ',';
	return n;
}

/* Whether the 7 fields after the first comma of LINE are all numbers. */
static int ytf_numbers(const char *line)
{
	const char *s = strchr(line, ',');
	for (int i = 0; i < 7; i++) {
		char *end;
		if (!s)
			return 0;
		s++;
		while (*s == ' ')
			s++;
		strtod(s, &end);
		if (end == s)
			return 0;
		while (*end == ' ' || *end == '\r')
			end++;
		if (*end != ',' && *end != '\0')
			return 0;
		s = *end == ',' ? end : NULL;
	}
	return 1;
}

/* YouTube Faces' "Name\video\frame.jpg,i,x,y,width,height,i,i". */
static int parse_ytf_line(struct parser *p, char *line, struct lmk_entry *e)
{
	char *f[8];
	int n = 0;
	for (char *s = line;; s++) {
		if (n < 8)
			f[n] = s;
		n++;
		s = strchr(s, ',');
		if (!s)
			break;
		*s = '\0';
	}
	if (n != 8)
		return hm_error_file(p->name, "line %ld: expected the 8 fields of a "
				     "YouTube Faces labeled_faces.txt line "
				     "'file,i,x,y,width,height,i,i', got %d", p->line, n);
	for (int i = 0; i < 8; i++) {
		while (*f[i] == ' ')
			f[i]++;
		size_t k = strlen(f[i]);
		while (k && (f[i][k - 1] == ' ' || f[i][k - 1] == '\r'))
			f[i][--k] = '\0';
	}
	for (int i = 0; i < 4; i++)
		if (parse_coord(p, f[2 + i], &e->box[i]))
			return hm_error_file(p->name, "line %ld: face box value '%s' is not "
					     "a finite number", p->line, f[2 + i]);
	if (e->box[2] <= 0 || e->box[3] <= 0)
		return hm_error_file(p->name, "line %ld: face box %gx%g is empty",
				     p->line, e->box[2], e->box[3]);
	e->has_box = 1;
	for (char *s = f[0]; *s; s++)
		if (*s == '\\')
			*s = '/';
	return add_entry(p, e, f[0]);
}

static int detect(struct parser *p, char *line, enum lmk_format *fmt)
{
	char *copy = strdup(line), *f[FIELDS_MAX];
	if (!copy)
		return hm_error("out of memory");
	int n = split_fields(copy, f, FIELDS_MAX);
	/* A CSV header splits better on commas than on blanks; a plain line
	 * whose path holds a comma does not. */
	int commas = count_commas(line);
	if (commas == 7 && !strchr(line, '\t') && ytf_numbers(line)) {
		free(copy);
		*fmt = LMK_YTF;
		return 0;
	}
	if (commas && !strchr(line, '\t') && commas + 1 >= n) {
		free(copy);
		*fmt = LMK_CSV;
		return 0;
	}
	int lst = n == 17 && (!strcmp(f[0], "0") || !strcmp(f[0], "1"));
	free(copy);
	if (lst)
		*fmt = LMK_LST;
	else if (n == 11)
		*fmt = LMK_PLAIN;
	else if (n == 12)
		*fmt = LMK_CASIA;
	else
		return hm_error_file(p->name, "line %ld: cannot tell the landmark format "
				     "from %d fields (plain has 11, casia 12, lst 17, csv a "
				     "header); name the format", p->line, n);
	return 0;
}

static int wrong_count(struct parser *p, int got)
{
	return hm_error_file(p->name, "line %ld: expected 10 landmark numbers, got %d",
			     p->line, got < 0 ? 0 : got);
}

static int parse_text_line(struct parser *p, char *line, enum lmk_format fmt)
{
	char *f[FIELDS_MAX];
	int n = fmt == LMK_YTF || fmt == LMK_PATHS ? 0 : split_fields(line, f, FIELDS_MAX);
	struct lmk_entry *e = new_entry(p);
	if (!e)
		return -1;
	if (fmt == LMK_YTF)
		return parse_ytf_line(p, line, e);
	if (fmt == LMK_PATHS) {
		size_t k = strlen(line);
		while (k && (line[k - 1] == '\r' || line[k - 1] == ' '))
			line[--k] = '\0';
		while (line[0] == '.' && line[1] == '/')
			line += 2;
		return add_entry(p, e, line);
	}
	switch (fmt) {
	case LMK_PLAIN:
		if (n != 11)
			return wrong_count(p, n - 1);
		if (parse_points(p, f + 1, 1, e->pt))
			return -1;
		break;
	case LMK_CASIA:
		if (n != 12)
			return wrong_count(p, n - 2);
		if (parse_label(p, f[1], &e->label) || parse_points(p, f + 2, 1, e->pt))
			return -1;
		break;
	default:	/* LMK_LST: aligned, path, label, 4 bbox values, 5 x, 5 y */
		if (n < 3)
			return hm_error_file(p->name, "line %ld: expected the .lst fields "
					     "'aligned<TAB>path<TAB>label...', got %d field%s",
					     p->line, n, n == 1 ? "" : "s");
		if (strcmp(f[0], "0") && strcmp(f[0], "1"))
			return hm_error_file(p->name, "line %ld: aligned flag '%s' is not 0 or 1",
					     p->line, f[0]);
		if (n != 17)
			return wrong_count(p, n - 7);
		if (parse_label(p, f[2], &e->label))
			return -1;
		for (int i = 3; i < 7; i++) {
			float ignored;
			if (parse_coord(p, f[i], &ignored))
				return hm_error_file(p->name, "line %ld: bounding box value '%s' "
						     "is not a finite number", p->line, f[i]);
		}
		if (parse_points(p, f + 7, 0, e->pt))
			return -1;
		f[0] = f[1];	/* the path, for add_entry below */
		break;
	}
	return add_entry(p, e, f[0]);
}

static int load_text(struct parser *p, FILE *in, enum lmk_format fmt)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	int rc = 0;
	p->line = 0;
	while ((len = getline(&line, &cap, in)) >= 0) {
		p->line++;
		if ((size_t)len != strlen(line)) {
			rc = hm_error_file(p->name, "line %ld: NUL byte (not a text file?)", p->line);
			break;
		}
		if (p->line == 1 && !strncmp(line, "\xEF\xBB\xBF", 3)) {
			len -= 3;	/* else the '\n' below is looked for past the end */
			memmove(line, line + 3, (size_t)len + 1);
		}
		if (len && line[len - 1] == '\n')
			line[--len] = '\0';
		if (is_blank_line(line))
			continue;
		if (parse_text_line(p, line, fmt)) {
			rc = -1;
			break;
		}
	}
	if (!rc && ferror(in))
		rc = hm_error_file(p->name, "read error: %s", strerror(errno));
	free(line);
	return rc;
}

/* CSV: the header names the columns; path and x1..y5 required, label optional. */
enum { COL_PATH = 10, COL_LABEL = 11, N_COLS = 12 };

static int column_of(const char *name)
{
	static const char *const paths[] = { "path", "image", "file", "filename" };
	static const char *const labels[] = { "label", "class", "classid", "class_id" };
	for (int i = 0; i < 4; i++) {
		if (!strcasecmp(name, paths[i]))
			return COL_PATH;
		if (!strcasecmp(name, labels[i]))
			return COL_LABEL;
	}
	if ((name[0] == 'x' || name[0] == 'X' || name[0] == 'y' || name[0] == 'Y') &&
	    name[1] >= '1' && name[1] <= '5' && !name[2])
		return 2 * (name[1] - '1') + (name[0] == 'y' || name[0] == 'Y');
	return -1;
}

static int load_csv(struct parser *p, FILE *in)
{
	static const char *const col_names[] = { "x1", "y1", "x2", "y2", "x3", "y3",
						 "x4", "y4", "x5", "y5", "path" };
	struct csvio *c = csvio_open_fp(in, p->name);
	if (!c)
		return -1;
	char **f;
	int n, rc, n_header = 0, col[N_COLS];
	for (int i = 0; i < N_COLS; i++)
		col[i] = -1;
	rc = csvio_next(c, &f, &n);
	if (rc > 0) {
		p->line = csvio_line(c);
		n_header = n;
		for (int i = 0; i < n; i++) {
			int k = column_of(f[i]);
			if (k < 0)
				continue;	/* other columns are allowed and ignored */
			if (col[k] >= 0) {
				rc = hm_error_file(p->name, "line %ld: column '%s' appears twice",
						   p->line, f[i]);
				break;
			}
			col[k] = i;
		}
		for (int k = 0; rc > 0 && k <= COL_PATH; k++)
			if (col[k] < 0)
				rc = hm_error_file(p->name, "line %ld: the CSV header has no "
						   "'%s' column", p->line, col_names[k]);
	}
	while (rc > 0 && (rc = csvio_next(c, &f, &n)) > 0) {
		p->line = csvio_line(c);
		if (n != n_header) {
			rc = hm_error_file(p->name, "line %ld: expected %d fields as in the "
					   "header, got %d", p->line, n_header, n);
			break;
		}
		struct lmk_entry *e = new_entry(p);
		if (!e) {
			rc = -1;
			break;
		}
		for (int k = 0; k < 10 && rc > 0; k++)
			if (parse_coord(p, f[col[k]], &e->pt[k / 2][k % 2]))
				rc = -1;
		if (rc > 0 && col[COL_LABEL] >= 0 && parse_label(p, f[col[COL_LABEL]], &e->label))
			rc = -1;
		if (rc > 0 && add_entry(p, e, f[col[COL_PATH]]))
			rc = -1;
	}
	csvio_close(c);
	return rc < 0 ? -1 : 0;
}

int lmk_load(struct lmk_list *list, const char *path, enum lmk_format format)
{
	memset(list, 0, sizeof *list);
	int is_stdin = !path || !strcmp(path, "-");
	struct parser p = { .name = is_stdin ? "-" : path, .list = list };
	if ((int)format < LMK_AUTO || format > LMK_PATHS)
		return hm_error_file(p.name, "unknown landmark format %d", (int)format);
	FILE *fp = is_stdin ? stdin : fopen(path, "rb");
	if (!fp)
		return hm_error_file(path, "cannot open: %s", strerror(errno));

	/* Peek up to and including the first non-blank line. */
	char *peek = NULL;
	size_t n_peek = 0, peek_cap = 0;
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	int rc = 0;
	while ((len = getline(&line, &cap, fp)) >= 0) {
		p.line++;
		if (n_peek + len + 1 > peek_cap) {
			peek_cap = 2 * (n_peek + len + 1);
			char *t = realloc(peek, peek_cap);
			if (!t) {
				rc = hm_error("out of memory");
				break;
			}
			peek = t;
		}
		memcpy(peek + n_peek, line, len);
		n_peek += len;
		const char *s = line;
		if (p.line == 1 && !strncmp(s, "\xEF\xBB\xBF", 3))
			s += 3;
		if (!is_blank_line(s)) {
			if (format == LMK_AUTO) {
				char *text = strdup(s);
				if (!text) {
					rc = hm_error("out of memory");
					break;
				}
				text[strcspn(text, "\r\n")] = '\0';
				rc = detect(&p, text, &format);
				free(text);
			}
			break;
		}
	}
	free(line);
	if (!rc && ferror(fp))
		rc = hm_error_file(p.name, "read error: %s", strerror(errno));
	if (!rc && format == LMK_AUTO)	/* empty, or only blank lines */
		rc = hm_error_file(p.name, "no landmark lines");

	if (!rc) {
		FILE *in = replay_open(fp, peek, n_peek, 0);
		if (!in) {
			rc = -1;
		} else {
			rc = format == LMK_CSV ? load_csv(&p, in) : load_text(&p, in, format);
			fclose(in);
		}
	}
	free(peek);
	if (!is_stdin)
		fclose(fp);
	if (!rc && list->n == 0)
		rc = hm_error_file(p.name, "no landmark lines");
	if (rc) {
		lmk_list_free(list);
		return -1;
	}
	list->format = format;
	return 0;
}
