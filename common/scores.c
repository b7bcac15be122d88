/* scores: read and write the scores CSV (see scores.h). */
#include "scores.h"
#include "csvio.h"
#include "err.h"
#include "outfile.h"
#include "pairs.h"
#include "util.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

char *scores_fmt_double(char *buf, double v)
{
	/* %.17g always reads back; fewer digits usually do and read better. */
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(buf, 32, "%.*g", prec, v);
		if (strtod(buf, NULL) == v)
			break;
	}
	return buf;
}

void scores_free(struct scores *s)
{
	free(s->fold);
	free(s->same);
	free(s->score);
	memset(s, 0, sizeof *s);
}

static int grow(struct scores *s, long *cap)
{
	if (s->n < *cap)
		return 0;
	long c = *cap ? 2 * *cap : 1024;
	int *f = realloc(s->fold, (size_t)c * sizeof *f);
	if (f)
		s->fold = f;
	int *y = realloc(s->same, (size_t)c * sizeof *y);
	if (y)
		s->same = y;
	double *d = realloc(s->score, (size_t)c * sizeof *d);
	if (d)
		s->score = d;
	if (!f || !y || !d)
		return hm_error("out of memory");
	*cap = c;
	return 0;
}

static int parse_row(struct scores *s, char **f, const char *name, long line)
{
	char *end;
	errno = 0;
	long fold = strtol(f[0], &end, 10);
	if (!*f[0] || *end || errno || fold < -1 || fold > 999)
		return hm_error_file(name, "line %ld: fold must be an integer in -1..999, "
				     "got '%s'", line, f[0]);
	if (strcmp(f[1], "0") && strcmp(f[1], "1"))
		return hm_error_file(name, "line %ld: same must be 0 or 1, got '%s'", line,
				     f[1]);
	errno = 0;
	double v = strtod(f[2], &end);
	if (!*f[2] || *end || !isfinite(v))
		return hm_error_file(name, "line %ld: score must be a finite number, "
				     "got '%s'", line, f[2]);
	s->fold[s->n] = (int)fold;
	s->same[s->n] = f[1][0] == '1';
	s->score[s->n] = v;
	s->n++;
	return 0;
}

static void close_input(FILE *fp)
{
	if (fp != stdin)
		fclose(fp);
}

/* What the first bytes say a file is, when it is clearly no CSV. */
static const char *not_csv(const unsigned char *h, size_t n)
{
	if (n >= 4 && !memcmp(h, "HMR\x1a", 4))
		return "a record stream (.hmr: images or embeddings; hm-verify "
		       "scores embeddings)";
	if (n >= 4 && !memcmp(h, "HMI\x1a", 4))
		return "a pack index (.hmi)";
	if (n >= 4 && !memcmp(h, "HMM\x1a", 4))
		return "a model file (.hmm)";
	for (size_t i = 0; i < n; i++)
		if (h[i] == 0 || (h[i] < 0x20 && h[i] != '\t' && h[i] != '\n' &&
				  h[i] != '\r'))
			return "binary data";
	return NULL;
}

#define NOT_SCORES "not a scores CSV: expected the header '" SCORES_HEADER \
	"' (or 'fold,same,score') and rows like 0,1,0.71,KEY_A,KEY_B, as " \
	"hm-verify writes them"

int scores_load(struct scores *s, const char *path)
{
	memset(s, 0, sizeof *s);
	const char *name = path ? path : "-";
	FILE *fp = strcmp(name, "-") ? fopen(name, "rb") : stdin;
	if (!fp)
		return hm_error_file(name, "cannot open: %s", strerror(errno));
	/* the first bytes say what a file that is no CSV is; then they are
	 * read again with the rest, also from a pipe */
	unsigned char head[8];
	size_t n = fread(head, 1, sizeof head, fp);
	if (n == 0 && ferror(fp)) {
		int e = errno;
		close_input(fp);
		return hm_error_file(name, "read error: %s", strerror(e));
	}
	const char *kind = not_csv(head, n);
	if (kind) {
		close_input(fp);
		return hm_error_file(name, "%s, " NOT_SCORES, kind);
	}
	FILE *in = replay_open(fp, head, n, 1);
	if (!in) {
		close_input(fp);
		return hm_error_file(name, "out of memory");
	}
	struct csvio *c = csvio_open_fp(in, name);
	if (!c) {
		fclose(in);
		return -1;
	}
	char **f;
	int nf, rc, width = 0;
	long cap = 0;
	while ((rc = csvio_next(c, &f, &nf)) == 1) {
		long line = csvio_line(c);
		if (!width) {
			if (nf < 3 || strcmp(f[0], "fold") || strcmp(f[1], "same") ||
			    strcmp(f[2], "score") || (nf != 3 && nf != 5)) {
				rc = hm_error_file(name, "line %ld: " NOT_SCORES, line);
				break;
			}
			width = nf;
			continue;
		}
		if (nf != width) {
			rc = hm_error_file(name, "line %ld: expected %d fields, got %d", line,
					   width, nf);
			break;
		}
		if (grow(s, &cap) || parse_row(s, f, name, line)) {
			if (!strcmp(hm_errmsg(), "out of memory"))
				hm_error_file(name, "out of memory");
			rc = -1;
			break;
		}
	}
	if (rc < 0 && !width && strstr(hm_errmsg(), ": line ") &&
	    !strstr(hm_errmsg(), "read error") && !strstr(hm_errmsg(), NOT_SCORES)) {
		/* CSV syntax broken before any header: not a scores file. */
		char msg[512];
		snprintf(msg, sizeof msg, "%s", hm_errmsg());
		hm_error("%s: " NOT_SCORES, msg);
	}
	csvio_close(c);
	fclose(in);
	if (rc == 0 && !width)
		rc = hm_error_file(name, "empty file: expected the header '%s'",
				   SCORES_HEADER);
	else if (rc == 0 && s->n == 0)
		rc = hm_error_file(name, "no scores after the header");
	if (rc) {
		scores_free(s);
		return -1;
	}
	return 0;
}

int scores_write_header(FILE *fp)
{
	if (fputs(SCORES_HEADER "\n", fp) == EOF)
		return hm_error("write error: %s", strerror(errno));
	return 0;
}

int scores_write_row(FILE *fp, int fold, int same, double score, const char *a,
		     const char *b)
{
	char num[32];
	if (fprintf(fp, "%d,%d,%s,", fold, same ? 1 : 0,
		    scores_fmt_double(num, score)) < 0)
		return hm_error("write error: %s", strerror(errno));
	if (csvio_put(fp, a) || putc(',', fp) == EOF || csvio_put(fp, b) ||
	    putc('\n', fp) == EOF)
		return hm_error("write error: %s", strerror(errno));
	return 0;
}

int scores_write(const char *path, const struct pair_list *pairs, const double *score)
{
	struct outfile o;
	if (outfile_open(&o, path))
		return -1;
	int rc = scores_write_header(o.fp);
	for (long i = 0; !rc && i < pairs->n; i++) {
		const struct pair *p = &pairs->p[i];
		rc = scores_write_row(o.fp, p->fold, p->same, score[i], p->a, p->b);
	}
	if (rc) {
		int e = errno;
		hm_error_prefix("'%s'", path);
		outfile_abort(&o);
		errno = e;
		return -1;
	}
	return outfile_commit(&o);
}
