/*
 * pairs: the four pair-list formats of pairs.h, byte rules in hm-pairs(5).
 *
 * The input is read whole into memory first (pair lists are small; at most
 * PAIRS_FILE_MAX), so that the format can be detected from the first
 * non-empty line even when the list comes on stdin.  lfw and arcface are
 * whitespace-separated and split here line by line; ytf and csv go through
 * csvio (on the memory copy), whose blank trimming turns ytf's ", " into a
 * plain separator.
 */
#include "pairs.h"
#include "csvio.h"
#include "err.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PAIRS_FILE_MAX ((size_t)256 << 20)
#define MAX_FOLDS 1000
#define MAX_HALF 10000000L	/* pairs per half fold in an LFW header */
#define MAX_IMAGE 99999999L	/* LFW image numbers */

struct builder {
	struct pair_list *list;
	long cap;
	const char *name;	/* for messages */
	int max_fold;		/* largest fold seen, -1 if none */
};

static int oom(const struct builder *b)
{
	return hm_error_file(b->name, "out of memory");
}

static char *dup_n(const char *s, size_t n)
{
	char *d = malloc(n + 1);
	if (d) {
		memcpy(d, s, n);
		d[n] = '\0';
	}
	return d;
}

/* Appends a pair; takes A and B (freed on failure).  NULL keys mean an
 * allocation failed before the call. */
static int add_pair(struct builder *b, char *a, char *bk, int same, int fold, long line)
{
	struct pair_list *l = b->list;
	if (!a || !bk) {
		free(a);
		free(bk);
		return oom(b);
	}
	if (l->n == b->cap) {
		long cap = b->cap ? 2 * b->cap : 1024;
		struct pair *p = realloc(l->p, (size_t)cap * sizeof *p);
		if (!p) {
			free(a);
			free(bk);
			return oom(b);
		}
		l->p = p;
		b->cap = cap;
	}
	l->p[l->n++] = (struct pair){ .a = a, .b = bk, .same = same, .fold = fold, .line = line };
	if (fold > b->max_fold)
		b->max_fold = fold;
	return 0;
}

/* A decimal number of digits only (no sign, no blanks) in [lo, hi]. */
static int parse_num(const char *s, long lo, long hi, long *v)
{
	long x = 0;
	if (!*s || strlen(s) > 12)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		x = 10 * x + (*s - '0');
	}
	if (x < lo || x > hi)
		return -1;
	*v = x;
	return 0;
}

static int parse_same(const struct builder *b, long line, const char *s, int *same)
{
	if (strcmp(s, "0") && strcmp(s, "1"))
		return hm_error_file(b->name, "line %ld: same must be 0 or 1, got '%s'", line, s);
	*same = s[0] == '1';
	return 0;
}

/* --- reading the input and walking its lines --- */

/* PATH ("-": stdin) whole, '\0'-terminated. */
static int slurp(const char *path, const char *name, char **buf, size_t *n)
{
	int is_stdin = !strcmp(path, "-");
	FILE *fp = is_stdin ? stdin : fopen(path, "rb");
	if (!fp)
		return hm_error_file(name, "cannot open: %s", strerror(errno));
	unsigned char *p;
	int rc = stream_read_all(fp, name, PAIRS_FILE_MAX, &p, n);
	if (!is_stdin)
		fclose(fp);
	*buf = (char *)p;
	return rc;
}

struct lines {
	const char *p, *end;
	long line;	/* number of the line last returned */
};

static void lines_init(struct lines *it, const char *buf, size_t n)
{
	it->p = buf;
	it->end = buf + n;
	it->line = 0;
	if (n >= 3 && !memcmp(buf, "\xEF\xBB\xBF", 3))
		it->p += 3;
}

/* Next line without its LF or CRLF: 1 = got one, 0 = end. */
static int lines_next(struct lines *it, const char **s, size_t *len)
{
	if (it->p >= it->end)
		return 0;
	const char *nl = memchr(it->p, '\n', (size_t)(it->end - it->p));
	const char *e = nl ? nl : it->end;
	*s = it->p;
	*len = (size_t)(e - it->p);
	if (*len && e[-1] == '\r')
		(*len)--;
	it->p = nl ? nl + 1 : it->end;
	it->line++;
	return 1;
}

static int is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

/* Splits a line copy in place at runs of blanks; returns the field count
 * (counting past MAX, storing at most MAX). */
static int split_ws(char *s, char **tok, int max)
{
	int n = 0;
	for (;;) {
		while (is_ws(*s))
			s++;
		if (!*s)
			return n;
		if (n < max)
			tok[n] = s;
		n++;
		while (*s && !is_ws(*s))
			s++;
		if (*s)
			*s++ = '\0';
	}
}

/* The next non-blank line, copied into *copy (NUL-terminated, caller's
 * buffer grown as needed) and split: 1 = got one, 0 = end, -1 = error. */
static int next_fields(struct builder *b, struct lines *it, char **copy, size_t *cap,
		       char **tok, int max, int *n_tok)
{
	const char *s;
	size_t len;
	while (lines_next(it, &s, &len)) {
		if (memchr(s, '\0', len))
			return hm_error_file(b->name, "line %ld: NUL byte", it->line);
		if (len + 1 > *cap) {
			char *c = realloc(*copy, len + 1);
			if (!c)
				return oom(b);
			*copy = c;
			*cap = len + 1;
		}
		memcpy(*copy, s, len);
		(*copy)[len] = '\0';
		*n_tok = split_ws(*copy, tok, max);
		if (*n_tok)
			return 1;
	}
	return 0;
}

/* --- the formats --- */

static char *lfw_key(const char *name, long num)
{
	size_t n = 2 * strlen(name) + 32;
	char *k = malloc(n);
	if (k)
		snprintf(k, n, "%s/%s_%04ld", name, name, num);
	return k;
}

static int load_lfw(struct builder *b, const char *buf, size_t n)
{
	struct lines it;
	char *copy = NULL, *tok[5];
	size_t cap = 0;
	int nt, r;
	long folds = 1, half, header_line, num[2];
	lines_init(&it, buf, n);
	if ((r = next_fields(b, &it, &copy, &cap, tok, 5, &nt)) <= 0)
		goto done;	/* empty files are caught by the caller */
	header_line = it.line;
	/* "folds<TAB>half", or a lone "half" as in LFW's pairsDevTest.txt. */
	if ((nt != 1 && nt != 2) ||
	    (nt == 2 && parse_num(tok[0], 1, MAX_FOLDS, &folds) < 0) ||
	    parse_num(tok[nt - 1], 1, MAX_HALF, &half) < 0) {
		r = hm_error_file(b->name, "line %ld: bad LFW header: expected "
				  "'<folds> <pairs per half fold>'", it.line);
		goto done;
	}
	b->list->n_folds = (int)folds;
	while ((r = next_fields(b, &it, &copy, &cap, tok, 5, &nt)) == 1) {
		long i = b->list->n;
		int fold = (int)(i / (2 * half));
		int same = i % (2 * half) < half;
		if (nt != 3 && nt != 4) {
			r = hm_error_file(b->name, "line %ld: expected 3 or 4 fields, got %d",
					  it.line, nt);
			goto done;
		}
		if (fold >= folds) {
			r = hm_error_file(b->name, "line %ld: more pairs than the header's "
					  "%ld folds x 2 x %ld", it.line, folds, half);
			goto done;
		}
		if ((nt == 3) != same) {
			r = hm_error_file(b->name, "line %ld: %s pair where a %s one belongs "
					  "(each fold: %ld matched, then %ld mismatched)",
					  it.line, nt == 3 ? "matched" : "mismatched",
					  same ? "matched" : "mismatched", half, half);
			goto done;
		}
		for (int k = 0; k < 2; k++) {
			const char *t = tok[nt == 3 ? 1 + k : 1 + 2 * k];
			if (parse_num(t, 1, MAX_IMAGE, &num[k]) < 0) {
				r = hm_error_file(b->name, "line %ld: bad image number '%s'",
						  it.line, t);
				goto done;
			}
		}
		const char *name_b = nt == 3 ? tok[0] : tok[2];
		if ((r = add_pair(b, lfw_key(tok[0], num[0]), lfw_key(name_b, num[1]),
				  same, fold, it.line)) < 0)
			goto done;
	}
	if (r == 0 && b->list->n != folds * 2 * half)
		r = hm_error_file(b->name, "line %ld: header says %ld folds x 2 x %ld = %ld "
				  "pairs, the file has %ld", header_line, folds, half,
				  folds * 2 * half, b->list->n);
done:
	free(copy);
	return r;
}

/* "dir/name.jpg" -> "dir/name": drops the last extension of the last path
 * component (not a leading dot). */
static char *strip_ext(const char *path)
{
	const char *slash = strrchr(path, '/');
	const char *base = slash ? slash + 1 : path;
	const char *dot = strrchr(base, '.');
	return dup_n(path, dot && dot > base ? (size_t)(dot - path) : strlen(path));
}

static int load_arcface(struct builder *b, const char *buf, size_t n)
{
	struct lines it;
	char *copy = NULL, *tok[4];
	size_t cap = 0;
	int nt, r, same;
	lines_init(&it, buf, n);
	while ((r = next_fields(b, &it, &copy, &cap, tok, 4, &nt)) == 1) {
		if (nt != 3) {
			r = hm_error_file(b->name, "line %ld: expected 3 fields, got %d",
					  it.line, nt);
			break;
		}
		if ((r = parse_same(b, it.line, tok[2], &same)) < 0 ||
		    (r = add_pair(b, strip_ext(tok[0]), strip_ext(tok[1]), same, -1,
				  it.line)) < 0)
			break;
	}
	free(copy);
	return r;
}

static int key_ok(const struct builder *b, long line, const char *k)
{
	if (!*k)
		return hm_error_file(b->name, "line %ld: empty key", line);
	return 0;
}

/* Starts with a letter or '_': a column name, never a number. */
static int is_word(const char *s)
{
	return (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_';
}

static int load_ytf(struct builder *b, struct csvio *c)
{
	char **f;
	int nf, r, same, first = 1;
	long split, pair;
	while ((r = csvio_next(c, &f, &nf)) == 1) {
		long line = csvio_line(c);
		if (nf != 5)
			return hm_error_file(b->name, "line %ld: expected 5 fields, got %d",
					     line, nf);
		/* "split number, pair number, first name, second name, is same" */
		if (first && is_word(f[0])) {
			first = 0;
			continue;
		}
		first = 0;
		if (parse_num(f[0], 1, MAX_FOLDS, &split) < 0)
			return hm_error_file(b->name, "line %ld: bad split number '%s'",
					     line, f[0]);
		if (parse_num(f[1], 1, MAX_HALF, &pair) < 0)
			return hm_error_file(b->name, "line %ld: bad pair number '%s'",
					     line, f[1]);
		if (parse_same(b, line, f[4], &same) < 0 || key_ok(b, line, f[2]) < 0 ||
		    key_ok(b, line, f[3]) < 0)
			return -1;
		if (add_pair(b, strdup(f[2]), strdup(f[3]), same, (int)split - 1, line) < 0)
			return -1;
	}
	if (r == 0)
		b->list->n_folds = b->max_fold + 1;
	return r;
}

static int load_csv(struct builder *b, struct csvio *c)
{
	char **f;
	int nf, r, same, width = 0;
	long fold, first_line = 0;
	while ((r = csvio_next(c, &f, &nf)) == 1) {
		long line = csvio_line(c);
		if (nf != 3 && nf != 4)
			return hm_error_file(b->name, "line %ld: expected 3 or 4 fields, got %d",
					     line, nf);
		if (!width) {
			width = nf;
			first_line = line;
			/* A header: the first row, when its third field is a
			 * word ("same"); a bad number there is an error, not a
			 * header, so no pair is ever dropped. */
			if (is_word(f[2]))
				continue;
		}
		if (nf != width)
			return hm_error_file(b->name, "line %ld: expected %d fields as on "
					     "line %ld, got %d", line, width, first_line, nf);
		if (parse_same(b, line, f[2], &same) < 0 || key_ok(b, line, f[0]) < 0 ||
		    key_ok(b, line, f[1]) < 0)
			return -1;
		fold = -1;
		if (nf == 4 && parse_num(f[3], 0, MAX_FOLDS - 1, &fold) < 0)
			return hm_error_file(b->name, "line %ld: bad fold '%s' (0..%d)",
					     line, f[3], MAX_FOLDS - 1);
		if (add_pair(b, strdup(f[0]), strdup(f[1]), same, (int)fold, line) < 0)
			return -1;
	}
	if (r == 0)
		b->list->n_folds = width == 4 ? b->max_fold + 1 : 0;
	return r;
}

/* Runs a csvio-based loader over the memory copy. */
static int load_with_csvio(struct builder *b, char *buf, size_t n, enum pairs_format format)
{
	FILE *fp = fmemopen(buf, n ? n : 1, "rb");
	struct csvio *c;
	int r;
	if (!fp)
		return oom(b);
	if (n == 0)
		fgetc(fp);	/* fmemopen() wants a size > 0: read it away */
	if (!(c = csvio_open_fp(fp, b->name))) {
		fclose(fp);
		return -1;
	}
	r = format == PAIRS_YTF ? load_ytf(b, c) : load_csv(b, c);
	csvio_close(c);
	fclose(fp);
	return r;
}

/* Content sniffing on the first non-empty line: commas outside quotes
 * decide ytf (5 fields) or csv (3 or 4); otherwise whitespace fields decide
 * lfw (1 or 2 numbers: the header) or arcface (3). */
static int detect(const struct builder *b, const char *buf, size_t n,
		  enum pairs_format *format)
{
	struct lines it;
	const char *s;
	size_t len;
	lines_init(&it, buf, n);
	while (lines_next(&it, &s, &len)) {
		size_t i = 0;
		while (i < len && is_ws(s[i]))
			i++;
		if (i == len)
			continue;
		int commas = 0, quoted = 0;
		for (i = 0; i < len; i++)
			if (s[i] == '"')
				quoted = !quoted;
			else if (s[i] == ',' && !quoted)
				commas++;
		if (commas == 4) {
			*format = PAIRS_YTF;
			return 0;
		}
		if (commas == 2 || commas == 3) {
			*format = PAIRS_CSV;
			return 0;
		}
		if (commas == 0) {
			char line[256], *tok[4];
			long v;
			size_t m = len < sizeof line - 1 ? len : sizeof line - 1;
			memcpy(line, s, m);
			line[m] = '\0';
			int nt = split_ws(line, tok, 4);
			if ((nt == 1 || nt == 2) && len < sizeof line &&
			    parse_num(tok[0], 1, MAX_HALF, &v) == 0 &&
			    parse_num(tok[nt - 1], 1, MAX_HALF, &v) == 0) {
				*format = PAIRS_LFW;
				return 0;
			}
			if (nt == 3) {
				*format = PAIRS_ARCFACE;
				return 0;
			}
		}
		return hm_error_file(b->name, "line %ld: not a pair list in a known format "
				     "(lfw, ytf, arcface, csv)", it.line);
	}
	return hm_error_file(b->name, "empty file");
}

int pairs_load(struct pair_list *list, const char *path, enum pairs_format format)
{
	struct builder b = { .list = list, .max_fold = -1 };
	char *buf = NULL;
	size_t n = 0;
	int r;
	if (!path)
		path = "-";
	b.name = path;
	memset(list, 0, sizeof *list);
	if (slurp(path, b.name, &buf, &n) < 0)
		return -1;
	if (format == PAIRS_AUTO && detect(&b, buf, n, &format) < 0) {
		free(buf);
		return -1;
	}
	list->format = format;
	switch (format) {
	case PAIRS_LFW:
		r = load_lfw(&b, buf, n);
		break;
	case PAIRS_ARCFACE:
		r = load_arcface(&b, buf, n);
		break;
	case PAIRS_YTF:
	case PAIRS_CSV:
		r = load_with_csvio(&b, buf, n, format);
		break;
	default:
		r = hm_error_file(b.name, "unknown pair-list format %d", (int)format);
		break;
	}
	if (r == 0 && list->n == 0) {
		struct lines it;
		const char *s;
		size_t len;
		int blank = 1;
		lines_init(&it, buf, n);
		while (blank && lines_next(&it, &s, &len))
			for (size_t i = 0; i < len; i++)
				if (!is_ws(s[i]))
					blank = 0;
		r = hm_error_file(b.name, blank ? "empty file" : "no pairs");
	}
	/* csv: any fold labels, each one a fold (metrics.h); count them. */
	if (r == 0 && list->n_folds > 0 && format == PAIRS_CSV) {
		char *seen = calloc((size_t)list->n_folds, 1);
		if (!seen)
			r = oom(&b);
		list->n_folds = 0;
		for (long i = 0; seen && i < list->n; i++)
			if (!seen[list->p[i].fold]) {
				seen[list->p[i].fold] = 1;
				list->n_folds++;
			}
		free(seen);
	}
	/* ytf splits run 1..max: each one must have pairs. */
	if (r == 0 && list->n_folds > 0 && format == PAIRS_YTF) {
		long *count = calloc((size_t)list->n_folds, sizeof *count);
		if (!count)
			r = oom(&b);
		for (long i = 0; count && i < list->n; i++)
			count[list->p[i].fold]++;
		for (int k = 0; count && k < list->n_folds; k++)
			if (!count[k]) {
				r = hm_error_file(b.name, "split %d has no pairs (splits "
						  "run 1..%d)", k + 1, list->n_folds);
				break;
			}
		free(count);
	}
	free(buf);
	if (r < 0) {
		pair_list_free(list);
		return -1;
	}
	return 0;
}

void pair_list_free(struct pair_list *list)
{
	for (long i = 0; i < list->n; i++) {
		free(list->p[i].a);
		free(list->p[i].b);
	}
	free(list->p);
	memset(list, 0, sizeof *list);
}

static const char *const format_names[] = {
	[PAIRS_AUTO] = "auto", [PAIRS_LFW] = "lfw", [PAIRS_YTF] = "ytf",
	[PAIRS_ARCFACE] = "arcface", [PAIRS_CSV] = "csv",
};

int pairs_format_parse(const char *name)
{
	for (int i = 0; i < (int)(sizeof format_names / sizeof *format_names); i++)
		if (!strcmp(name, format_names[i]))
			return i;
	return -1;
}

const char *pairs_format_name(enum pairs_format format)
{
	if ((int)format < 0 || (int)format >= (int)(sizeof format_names / sizeof *format_names))
		return "?";
	return format_names[format];
}
