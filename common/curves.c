/* curves: training curves from hm-train's logs, drawn as SVG (see curves.h). */
#include "curves.h"
#include "csvio.h"
#include "err.h"
#include "report.h"
#include "scores.h"
#include "util.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* --- reading ------------------------------------------------------- */

static int series_push(struct curves_series *s, long *cap, double x, double y)
{
	if (s->n == *cap) {
		long c = *cap ? 2 * *cap : 256;
		double *nx = realloc(s->x, (size_t)c * sizeof *nx);
		if (!nx)
			return hm_error("out of memory");
		s->x = nx;
		double *ny = realloc(s->y, (size_t)c * sizeof *ny);
		if (!ny)
			return hm_error("out of memory");
		s->y = ny;
		*cap = c;
	}
	s->x[s->n] = x;
	s->y[s->n] = y;
	s->n++;
	return 0;
}

static void series_free(struct curves_series *s)
{
	free(s->x);
	free(s->y);
	memset(s, 0, sizeof *s);
}

/* The column of NAME in a header row, or -1. */
static int column(char **f, int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(f[i], name))
			return i;
	return -1;
}

/* A finite number, the whole field. */
static int number(const char *s, double *v)
{
	char *end;
	errno = 0;
	*v = strtod(s, &end);
	return end != s && !*end && !errno && isfinite(*v) ? 0 : -1;
}

/* Opens PATH and finds the N columns NAMES[] in its header into COL[]. */
static struct csvio *open_log(const char *path, const char *const *names, int n,
			      int *col)
{
	struct csvio *c = csvio_open(path);
	if (!c)
		return NULL;
	char **f;
	int nf, got = csvio_next(c, &f, &nf);
	if (got <= 0) {
		if (got == 0)
			hm_error_file(path, "empty: no header");
		csvio_close(c);
		return NULL;
	}
	for (int i = 0; i < n; i++)
		if ((col[i] = column(f, nf, names[i])) < 0) {
			hm_error_file(path, "no column '%s' in the header", names[i]);
			csvio_close(c);
			return NULL;
		}
	return c;
}

/* Reads the fields COL[0..N-1] of the next row as numbers into V (the
 * field STR_COL, if >= 0, into *STR).  1, 0 at the end, -1. */
static int next_row(struct csvio *c, const char *path, const int *col, int n,
		    double *v, int str_col, char **str)
{
	char **f;
	int nf, got = csvio_next(c, &f, &nf);
	if (got <= 0)
		return got;
	for (int i = 0; i < n; i++) {
		if (col[i] >= nf)
			return hm_error_file(path, "line %ld: %d fields, too few",
					     csvio_line(c), nf);
		if (number(f[col[i]], &v[i]) < 0)
			return hm_error_file(path, "line %ld: '%s' is not a number",
					     csvio_line(c), f[col[i]]);
	}
	if (str_col >= 0) {
		if (str_col >= nf)
			return hm_error_file(path, "line %ld: %d fields, too few",
					     csvio_line(c), nf);
		*str = f[str_col];
	}
	return 1;
}

static int load_train(struct curves_run *r, const char *path)
{
	static const char *const names[] = { "iter", "loss", "acc", "lr" };
	int col[4];
	struct csvio *c = open_log(path, names, 4, col);
	if (!c)
		return -1;
	long cap[3] = { 0, 0, 0 };
	double v[4];
	int got;
	while ((got = next_row(c, path, col, 4, v, -1, NULL)) == 1)
		if (series_push(&r->loss, &cap[0], v[0], v[1]) < 0 ||
		    series_push(&r->acc, &cap[1], v[0], 100 * v[2]) < 0 ||
		    series_push(&r->lr, &cap[2], v[0], v[3]) < 0) {
			got = -1;
			break;
		}
	csvio_close(c);
	if (got < 0)
		return -1;
	if (!r->loss.n)
		return hm_error_file(path, "no rows: the run has not logged an iteration");
	return 0;
}

static int load_val(struct curves_run *r, const char *path)
{
	static const char *const names[] = { "iter", "accuracy", "set" };
	int col[3];
	struct csvio *c = open_log(path, names, 3, col);
	if (!c)
		return -1;
	long *cap = NULL;
	double v[2], top = 0;
	char *set;
	int got;
	while ((got = next_row(c, path, col, 2, v, col[2], &set)) == 1) {
		int k = 0;
		while (k < r->n_sets && strcmp(r->sets[k].name, set))
			k++;
		if (k == r->n_sets) {
			struct curves_set *ns = realloc(r->sets, (size_t)(k + 1) * sizeof *ns);
			long *nc = ns ? realloc(cap, (size_t)(k + 1) * sizeof *nc) : NULL;
			if (ns)
				r->sets = ns;
			if (nc)
				cap = nc;
			if (!ns || !nc) {
				got = hm_error("out of memory");
				break;
			}
			memset(&ns[k], 0, sizeof ns[k]);
			cap[k] = 0;
			if (!(ns[k].name = strdup(set))) {
				got = hm_error("out of memory");
				break;
			}
			r->n_sets++;
		}
		top = fmax(top, v[1]);
		if (series_push(&r->sets[k].acc, &cap[k], v[0], v[1]) < 0) {
			got = -1;
			break;
		}
	}
	free(cap);
	csvio_close(c);
	if (got < 0)
		return -1;
	/* hm-train writes fractions; a file in percent is taken as it is. */
	if (top <= 1)
		for (int k = 0; k < r->n_sets; k++)
			for (long i = 0; i < r->sets[k].acc.n; i++)
				r->sets[k].acc.y[i] *= 100;
	return 0;
}

/* The last component of DIR's real path (DIR itself if it has none). */
static char *dir_name(const char *dir)
{
	char *real = realpath(dir, NULL);
	const char *d = real ? real : dir;
	const char *slash = strrchr(d, '/');
	char *name = strdup(slash && slash[1] ? slash + 1 : d);
	free(real);
	return name;
}

int curves_load(struct curves_run *r, const char *path, const char *label)
{
	memset(r, 0, sizeof *r);
	struct stat st;
	char *dir = NULL, *train = NULL, *val = NULL;
	int rc = -1;
	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
		dir = strdup(path);
		train = path_join(path, "train.csv");
	} else {
		const char *slash = strrchr(path, '/');
		dir = slash ? strndup(path, (size_t)(slash - path + (slash == path))) :
			      strdup(".");
		train = strdup(path);
	}
	if (!dir || !train || !(val = path_join(dir, "val.csv"))) {
		hm_error("out of memory");
		goto out;
	}
	r->label = label ? strdup(label) : dir_name(dir);
	if (!r->label) {
		hm_error("out of memory");
		goto out;
	}
	if (load_train(r, train) < 0)
		goto out;
	if (stat(val, &st) == 0 && load_val(r, val) < 0)
		goto out;
	rc = 0;
out:
	if (rc)
		curves_free(r);
	free(dir);
	free(train);
	free(val);
	return rc;
}

void curves_free(struct curves_run *r)
{
	free(r->label);
	series_free(&r->loss);
	series_free(&r->acc);
	series_free(&r->lr);
	for (int k = 0; k < r->n_sets; k++) {
		free(r->sets[k].name);
		series_free(&r->sets[k].acc);
	}
	free(r->sets);
	memset(r, 0, sizeof *r);
}

/* --- drawing ------------------------------------------------------- */

#define SVG_W 1000.0
#define PX0 90.0	/* panels' left edge */
#define PW 680.0	/* panels' width */
#define PY0 50.0	/* the first panel's top */
#define PH 160.0	/* a panel's height */
#define GAP 44.0	/* between panels: the x tick labels */
#define LX (PX0 + PW + 24)	/* the legend's left edge */

/* Averages S into at most MAX points of consecutive rows (MAX 0: a copy of
 * the pointers, nothing allocated: *OWNED 0). */
static int bin_series(struct curves_series *o, const struct curves_series *s,
		      long max, int *owned)
{
	*owned = 0;
	if (max <= 0 || s->n <= max) {
		*o = *s;
		return 0;
	}
	o->n = max;
	o->x = malloc((size_t)max * sizeof *o->x);
	o->y = malloc((size_t)max * sizeof *o->y);
	if (!o->x || !o->y) {
		free(o->x);
		free(o->y);
		return hm_error("out of memory");
	}
	*owned = 1;
	for (long b = 0; b < max; b++) {
		long lo = (long)((double)b * s->n / max), hi = (long)((double)(b + 1) * s->n / max);
		double sx = 0, sy = 0;
		for (long i = lo; i < hi; i++) {
			sx += s->x[i];
			sy += s->y[i];
		}
		o->x[b] = sx / (double)(hi - lo);
		o->y[b] = sy / (double)(hi - lo);
	}
	return 0;
}

struct panel {
	const char *name, *title;
	double y0, xmin, xmax, ymin, ymax;
	int log;		/* y on a log scale */
};

static double px(const struct panel *p, double x)
{
	return PX0 + PW * (x - p->xmin) / (p->xmax - p->xmin);
}

static double py(const struct panel *p, double y)
{
	if (p->log)
		return p->y0 + PH * (log10(p->ymax) - log10(y)) /
			       (log10(p->ymax) - log10(p->ymin));
	return p->y0 + PH * (p->ymax - y) / (p->ymax - p->ymin);
}

static int y_tick(FILE *fp, const struct panel *p, double y)
{
	double sy = py(p, y);
	return write_fmt(fp, "<line x1=\"%g\" y1=\"%.3f\" x2=\"%g\" y2=\"%.3f\" "
		   "stroke=\"#e4e4e4\"/>\n<text x=\"%g\" y=\"%.3f\" "
		   "text-anchor=\"end\">%.6g</text>\n", PX0, sy, PX0 + PW, sy, PX0 - 6,
		   sy + 4, y);
}

/* A round tick step for SPAN: 1, 2 or 5 times a power of ten, about 5 ticks. */
static double tick_step(double span)
{
	double raw = span / 5, mag = pow(10.0, floor(log10(raw)));
	double m = raw / mag;
	return mag * (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10);
}

static int panel_frame(FILE *fp, const struct panel *p, int last)
{
	char a[32], b[32], c[32], d[32];
	if (write_fmt(fp, "<g class=\"panel\" data-name=\"%s\" data-x0=\"%g\" data-y0=\"%g\" "
		"data-width=\"%g\" data-height=\"%g\" data-xmin=\"%s\" data-xmax=\"%s\" "
		"data-ymin=\"%s\" data-ymax=\"%s\" data-ylog=\"%d\">\n<rect x=\"%g\" "
		"y=\"%g\" width=\"%g\" height=\"%g\" fill=\"white\" stroke=\"black\"/>\n",
		p->name, PX0, p->y0, PW, PH, scores_fmt_double(a, p->xmin),
		scores_fmt_double(b, p->xmax), scores_fmt_double(c, p->ymin),
		scores_fmt_double(d, p->ymax), p->log, PX0, p->y0, PW, PH))
		return -1;
	double st = tick_step(p->xmax - p->xmin);
	for (double x = ceil(p->xmin / st) * st; x <= p->xmax + st * 1e-9; x += st) {
		double sx = px(p, x);
		if (write_fmt(fp, "<line x1=\"%.3f\" y1=\"%g\" x2=\"%.3f\" y2=\"%g\" "
			"stroke=\"#e4e4e4\"/>\n<text x=\"%.3f\" y=\"%g\" "
			"text-anchor=\"middle\">%.10g</text>\n", sx, p->y0, sx, p->y0 + PH, sx,
			p->y0 + PH + 15, x))
			return -1;
	}
	if (p->log) {
		/* 1, 2 and 5 of each decade in the range */
		static const double m[] = { 1, 2, 5 };
		for (int e = (int)floor(log10(p->ymin)); e <= (int)ceil(log10(p->ymax)); e++)
			for (int k = 0; k < 3; k++) {
				double y = m[k] * pow(10.0, e);
				if (y >= p->ymin * (1 - 1e-9) && y <= p->ymax * (1 + 1e-9) &&
				    y_tick(fp, p, y) < 0)
					return -1;
			}
	} else {
		st = tick_step(p->ymax - p->ymin);
		for (double y = ceil(p->ymin / st) * st; y <= p->ymax + st * 1e-9; y += st)
			if (y_tick(fp, p, fabs(y) < st * 1e-9 ? 0 : y) < 0)
				return -1;
	}
	return write_fmt(fp, "<text x=\"%g\" y=\"%g\" font-weight=\"bold\">%s%s</text>\n",
		   PX0 + 4, p->y0 - 6, p->title, p->log ? " (log scale)" : "") ||
	       (last && write_fmt(fp, "<text x=\"%g\" y=\"%g\" text-anchor=\"middle\">"
			    "iteration</text>\n", PX0 + PW / 2, p->y0 + PH + 34)) ? -1 : 0;
}

static int polyline(FILE *fp, const struct panel *p, const struct curves_series *s,
		    const char *label, const char *set, int colour, int dashed)
{
	if (write_fmt(fp, "<polyline class=\"run\" data-label=\"") ||
	    report_xml_str(fp, label) || write_fmt(fp, "\""))
		return -1;
	if (set && (write_fmt(fp, " data-set=\"") || report_xml_str(fp, set) || write_fmt(fp, "\"")))
		return -1;
	if (write_fmt(fp, " fill=\"none\" stroke=\"%s\" stroke-width=\"1.3\"%s "
		"stroke-linejoin=\"round\" points=\"", report_colour(colour),
		dashed ? " stroke-dasharray=\"" REPORT_DASH "\"" : ""))
		return -1;
	for (long i = 0; i < s->n; i++)
		if (write_fmt(fp, "%s%.3f,%.3f", i ? " " : "", px(p, s->x[i]), py(p, s->y[i])))
			return -1;
	return write_fmt(fp, "\"/>\n");
}

/* Marker K (a shape per validation set) at X, Y. */
static int marker(FILE *fp, int k, double x, double y, const char *colour)
{
	switch (k % 4) {
	case 0:
		return write_fmt(fp, "<circle cx=\"%.3f\" cy=\"%.3f\" r=\"3.2\" fill=\"%s\"/>\n",
			   x, y, colour);
	case 1:
		return write_fmt(fp, "<rect x=\"%.3f\" y=\"%.3f\" width=\"6\" height=\"6\" "
			   "fill=\"%s\"/>\n", x - 3, y - 3, colour);
	case 2:
		return write_fmt(fp, "<path d=\"M%.3f,%.3fl3.5,6h-7z\" fill=\"%s\"/>\n", x,
			   y - 4, colour);
	default:
		return write_fmt(fp, "<path d=\"M%.3f,%.3fl4,4l-4,4l-4,-4z\" fill=\"white\" "
			   "stroke=\"%s\" stroke-width=\"1.5\"/>\n", x, y - 4, colour);
	}
}

/* The range of the values drawn; padded when they are all equal. */
static void y_range(struct panel *p, const struct curves_series *const *s, int n)
{
	double lo = INFINITY, hi = -INFINITY;
	for (int i = 0; i < n; i++)
		for (long k = 0; k < s[i]->n; k++) {
			lo = fmin(lo, s[i]->y[k]);
			hi = fmax(hi, s[i]->y[k]);
		}
	if (lo == hi) {
		double pad = lo ? fabs(lo) * 0.1 : 1;
		lo -= pad;
		hi += pad;
	}
	p->ymin = lo;
	p->ymax = hi;
}

static int legend(FILE *fp, const struct curves_run *r, int n, const int *colour,
		  const int *dashed, char **sets, int n_sets)
{
	double y = PY0;
	if (write_fmt(fp, "<g id=\"legend\">\n<text x=\"%g\" y=\"%g\" font-weight=\"bold\">"
		"runs</text>\n", LX, y))
		return -1;
	for (int i = 0; i < n; i++) {
		y += 18;
		if (write_fmt(fp, "<line x1=\"%g\" y1=\"%g\" x2=\"%g\" y2=\"%g\" stroke=\"%s\" "
			"stroke-width=\"2\"%s/>\n<text x=\"%g\" y=\"%g\">", LX, y - 4,
			LX + 28, y - 4, report_colour(colour[i]),
			dashed[i] ? " stroke-dasharray=\"" REPORT_DASH "\"" : "", LX + 34,
			y) || report_xml_str(fp, r[i].label) || write_fmt(fp, "</text>\n"))
			return -1;
	}
	if (n_sets) {
		y += 30;
		if (write_fmt(fp, "<text x=\"%g\" y=\"%g\" font-weight=\"bold\">validation "
			"sets</text>\n", LX, y))
			return -1;
		for (int k = 0; k < n_sets; k++) {
			y += 18;
			if (marker(fp, k, LX + 14, y - 4, "#444444") ||
			    write_fmt(fp, "<text x=\"%g\" y=\"%g\">", LX + 34, y) ||
			    report_xml_str(fp, sets[k]) || write_fmt(fp, "</text>\n"))
				return -1;
		}
	}
	return write_fmt(fp, "</g>\n");
}

int curves_svg(FILE *fp, const struct curves_run *r, int n, const struct curves_opts *o)
{
	const char *title = o->title ? o->title : "training";
	/* The validation sets of every run, in order of appearance. */
	char **sets = NULL;
	int n_sets = 0, rc = -1;
	const char **labels = calloc((size_t)n + 1, sizeof *labels);
	int *colour = calloc((size_t)n + 1, sizeof *colour);
	int *dashed = calloc((size_t)n + 1, sizeof *dashed);
	struct curves_series *bins = calloc(3 * (size_t)n + 1, sizeof *bins);
	int *owned = calloc(3 * (size_t)n + 1, sizeof *owned);
	const struct curves_series **sv = calloc(3 * (size_t)n + 1, sizeof *sv);
	int total_sets = 0;
	for (int i = 0; i < n; i++)
		total_sets += r[i].n_sets;
	const struct curves_series **vs = calloc((size_t)total_sets + 1, sizeof *vs);
	sets = calloc((size_t)total_sets + 1, sizeof *sets);
	if (!labels || !colour || !dashed || !bins || !owned || !sv || !vs || !sets) {
		hm_error("out of memory");
		goto out;
	}
	for (int i = 0; i < n; i++) {
		labels[i] = r[i].label;
		for (int k = 0; k < r[i].n_sets; k++) {
			int j = 0;
			while (j < n_sets && strcmp(sets[j], r[i].sets[k].name))
				j++;
			if (j == n_sets)
				sets[n_sets++] = r[i].sets[k].name;
		}
	}
	report_pair_styles(labels, n, colour, dashed);
	const struct curves_series *all[3];
	for (int i = 0; i < n; i++) {
		all[0] = &r[i].loss;
		all[1] = &r[i].acc;
		all[2] = &r[i].lr;
		for (int q = 0; q < 3; q++)
			if (bin_series(&bins[3 * i + q], all[q], o->max_points,
				       &owned[3 * i + q]) < 0)
				goto out;
	}
	double xmax = 0;
	for (int i = 0; i < n; i++)
		xmax = fmax(xmax, r[i].loss.x[r[i].loss.n - 1]);
	for (int i = 0; i < n; i++)
		for (int k = 0; k < r[i].n_sets; k++)
			if (r[i].sets[k].acc.n)
				xmax = fmax(xmax, r[i].sets[k].acc.x[r[i].sets[k].acc.n - 1]);
	struct panel p[4] = {
		{ "loss", "training loss", 0, 0, 0, 0, 0, 0 },
		{ "acc", "training accuracy (%, batch)", 0, 0, 0, 0, 0, 0 },
		{ "lr", "learning rate", 0, 0, 0, 0, 0, 0 },
		{ "val", "validation accuracy (%, each epoch)", 0, 0, 0, 0, 0, 0 },
	};
	int np = n_sets ? 4 : 3;
	for (int q = 0; q < np; q++) {
		p[q].y0 = PY0 + q * (PH + GAP);
		p[q].xmin = 0;
		p[q].xmax = xmax > 0 ? xmax : 1;
		if (q < 3) {
			for (int i = 0; i < n; i++)
				sv[i] = &bins[3 * i + q];
			y_range(&p[q], sv, n);
			/* A loss over decades (hard mining's, beside a softmax's) */
			p[q].log = q == 0 && p[q].ymin > 0 && p[q].ymax >= 30 * p[q].ymin;
		} else {
			int m = 0;
			for (int i = 0; i < n; i++)
				for (int k = 0; k < r[i].n_sets; k++)
					vs[m++] = &r[i].sets[k].acc;
			y_range(&p[q], vs, m);
		}
	}
	double height = PY0 + np * (PH + GAP) + 10;
	if (write_fmt(fp, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\""
		"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"%g\" height=\"%g\" "
		"viewBox=\"0 0 %g %g\" font-family=\"sans-serif\" font-size=\"12\">\n"
		"<title>", SVG_W, height, SVG_W, height) ||
	    report_xml_str(fp, title) ||
	    write_fmt(fp, "</title>\n<desc>Training curves written by hm-plot from "
		"hm-train's train.csv and val.csv: x = iteration; see hm-plot(1) for "
		"the mapping of points.</desc>\n<rect width=\"100%%\" height=\"100%%\" "
		"fill=\"white\"/>\n<text class=\"title\" x=\"%g\" y=\"%g\" "
		"text-anchor=\"middle\" font-size=\"16\">", PX0 + PW / 2, PY0 - 28) ||
	    report_xml_str(fp, title) || write_fmt(fp, "</text>\n"))
		goto out;
	for (int q = 0; q < np; q++) {
		if (panel_frame(fp, &p[q], q == np - 1) < 0)
			goto out;
		for (int i = 0; i < n; i++) {
			if (q < 3) {
				if (polyline(fp, &p[q], &bins[3 * i + q], r[i].label, NULL,
					     colour[i], dashed[i]) < 0)
					goto out;
				continue;
			}
			for (int k = 0; k < r[i].n_sets; k++) {
				const struct curves_series *s = &r[i].sets[k].acc;
				int shape = 0;
				while (strcmp(sets[shape], r[i].sets[k].name))
					shape++;
				if (polyline(fp, &p[q], s, r[i].label, r[i].sets[k].name,
					     colour[i], dashed[i]) < 0)
					goto out;
				for (long j = 0; j < s->n; j++)
					if (marker(fp, shape, px(&p[q], s->x[j]),
						   py(&p[q], s->y[j]),
						   report_colour(colour[i])) < 0)
						goto out;
			}
		}
		if (write_fmt(fp, "</g>\n"))
			goto out;
	}
	if (legend(fp, r, n, colour, dashed, sets, n_sets) < 0 || write_fmt(fp, "</svg>\n"))
		goto out;
	rc = 0;
out:
	for (int i = 0; bins && owned && i < 3 * n; i++)
		if (owned[i]) {
			free(bins[i].x);
			free(bins[i].y);
		}
	free(labels);
	free(colour);
	free(dashed);
	free(bins);
	free(owned);
	free(sv);
	free(vs);
	free(sets);
	return rc;
}
