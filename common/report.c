/* report: hm-roc's per-curve results and their output formats (see report.h). */
#include "report.h"
#include "csvio.h"
#include "err.h"
#include "util.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

int report_curve_compute(struct report_curve *c, const char *label,
			 const struct scores *s, const struct report_opts *o)
{
	memset(c, 0, sizeof *c);
	c->label = label;
	c->n = s->n;
	for (long i = 0; i < s->n; i++)
		c->n_same += s->same[i] != 0;
	c->n_diff = c->n - c->n_same;
	c->data_folds = metrics_count_folds(s->fold, s->n);
	if (c->data_folds < 0)
		return -1;
	if (metrics_kfold(&c->kf, s->score, s->same, s->fold, s->n, o->protocol,
			  o->val_far))
		return -1;
	if (metrics_roc(&c->roc, s->score, s->same, s->n)) {
		metrics_kfold_free(&c->kf);
		return -1;
	}
	c->auc = metrics_auc(&c->roc);
	c->eer = metrics_eer(&c->roc, &c->eer_threshold);
	for (int i = 0; i < o->n_far; i++) {
		c->tar[i] = metrics_tar_at_far(&c->roc, o->far[i], &c->tar_threshold[i]);
		c->tar_ok[i] = o->far[i] == 0.0 || o->far[i] * (double)c->n_diff >= 1.0;
	}
	return 0;
}

void report_curve_free(struct report_curve *c)
{
	metrics_kfold_free(&c->kf);
	metrics_roc_free(&c->roc);
}

static const char *protocol_name(enum metrics_protocol p)
{
	return p == METRICS_EXACT ? "exact" : "insightface";
}

/* ---- tables of text cells: the text and Markdown formats ---- */

#define CELL 64
#define MAX_COLS (12 + REPORT_MAX_FAR)

struct table {
	int cols, rows, cap;
	char (*cell)[CELL];	/* rows x cols */
	int right[MAX_COLS];	/* right-aligned column */
};

static int table_row(struct table *t)
{
	if (t->rows == t->cap) {
		int cap = t->cap ? 2 * t->cap : 16;
		void *p = realloc(t->cell, (size_t)cap * (size_t)t->cols * CELL);
		if (!p)
			return hm_error("out of memory");
		t->cell = p;
		t->cap = cap;
	}
	memset(t->cell[t->rows * t->cols], 0, (size_t)t->cols * CELL);
	t->rows++;
	return 0;
}

static void cellf(struct table *t, int col, const char *fmt, ...) HM_PRINTF(3, 4);
static void cellf(struct table *t, int col, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(t->cell[(t->rows - 1) * t->cols + col], CELL, fmt, ap);
	va_end(ap);
}

static void cell_num(struct table *t, int col, int ok, const char *fmt, double v)
{
	if (ok)
		cellf(t, col, fmt, v);
	else
		cellf(t, col, "n/a");
}

static const char *cell_at(const struct table *t, int r, int c)
{
	return t->cell[r * t->cols + c];
}

/* Columns and rows of the summary (one row per curve) or per-fold table. */
static int build(struct table *t, const struct report_curve *c, int n,
		 const struct report_opts *o)
{
	const char *thr = o->protocol == METRICS_EXACT ? "threshold" : "distance";
	memset(t, 0, sizeof *t);
	if (o->per_fold) {
		static const char *head[] = { "curve", "fold", "pairs", "same", "diff",
					      "accuracy %", NULL, "VAL %", "FAR %",
					      "VAL distance" };
		t->cols = 10;
		if (table_row(t))
			return -1;
		for (int k = 0; k < t->cols; k++) {
			cellf(t, k, "%s", head[k] ? head[k] : thr);
			t->right[k] = k > 0;
		}
		for (int i = 0; i < n; i++) {
			for (int f = 0; f < c[i].kf.n_folds; f++) {
				const struct metrics_fold *m = &c[i].kf.fold[f];
				if (table_row(t))
					return -1;
				cellf(t, 0, "%s", c[i].label);
				if (c[i].kf.cross)
					cellf(t, 1, "%d", m->label);
				else
					cellf(t, 1, "all");
				cellf(t, 2, "%ld", m->n);
				cellf(t, 3, "%ld", m->n_same);
				cellf(t, 4, "%ld", m->n_diff);
				cellf(t, 5, "%.2f", 100 * m->accuracy);
				cellf(t, 6, "%.4f", m->threshold);
				cell_num(t, 7, m->val_ok, "%.2f", 100 * m->val);
				cell_num(t, 8, m->val_ok, "%.3f", 100 * m->far);
				cell_num(t, 9, m->val_ok, "%.4f", m->val_threshold);
			}
		}
		return 0;
	}
	t->cols = 11 + o->n_far;
	if (table_row(t))
		return -1;
	int k = 0;
	cellf(t, k++, "curve");
	cellf(t, k++, "pairs");
	cellf(t, k++, "folds");
	cellf(t, k++, "accuracy %%");
	cellf(t, k++, "std");
	cellf(t, k++, "%s", thr);
	cellf(t, k++, "AUC");
	cellf(t, k++, "EER %%");
	for (int j = 0; j < o->n_far; j++)
		cellf(t, k++, "TAR@FAR=%g %%", o->far[j]);
	cellf(t, k++, "VAL@FAR=%g %%", o->val_far);
	cellf(t, k++, "std");
	cellf(t, k++, "FAR %%");
	for (k = 1; k < t->cols; k++)
		t->right[k] = 1;
	for (int i = 0; i < n; i++) {
		const struct report_curve *r = &c[i];
		if (table_row(t))
			return -1;
		k = 0;
		cellf(t, k++, "%s", r->label);
		cellf(t, k++, "%ld", r->n);
		if (r->data_folds)
			cellf(t, k++, "%d", r->data_folds);
		else
			cellf(t, k++, "none");
		cellf(t, k++, "%.2f", 100 * r->kf.accuracy);
		cellf(t, k++, "%.2f", 100 * r->kf.accuracy_std);
		cellf(t, k++, "%.4f", r->kf.threshold_mean);
		cellf(t, k++, "%.6f", r->auc);
		cellf(t, k++, "%.2f", 100 * r->eer);
		for (int j = 0; j < o->n_far; j++)
			cell_num(t, k++, r->tar_ok[j], "%.2f", 100 * r->tar[j]);
		cell_num(t, k++, r->kf.val_ok, "%.2f", 100 * r->kf.val);
		cell_num(t, k++, r->kf.val_ok, "%.2f", 100 * r->kf.val_std);
		cell_num(t, k++, r->kf.val_ok, "%.3f", 100 * r->kf.far);
	}
	return 0;
}

/* What the reader needs to know to read the numbers right. */
static int notes(FILE *fp, const struct report_curve *c, int n,
		 const struct report_opts *o, const char *bullet)
{
	if (write_fmt(fp, "\n%saccuracy, EER, TAR, VAL and FAR in percent; AUC as a fraction\n",
		bullet))
		return -1;
	if (write_fmt(fp, "%saccuracy: each fold's threshold chosen on the other folds; %s\n",
		bullet,
		o->protocol == METRICS_EXACT
			? "exact search over the scores (same when score >= threshold)"
			: "insightface grid 0..3.99 step 0.01 on distance 2 - 2 * score "
			  "(same when distance < threshold)"))
		return -1;
	for (int i = 0; i < n; i++) {
		if (!c[i].kf.cross &&
		    write_fmt(fp, "%s%s: %s: one threshold chosen and scored on all pairs "
			"(no k-fold)\n", bullet, c[i].label,
			c[i].data_folds ? "a single fold" : "no folds"))
			return -1;
		if (!c[i].kf.val_ok &&
		    write_fmt(fp, "%s%s: VAL n/a: a fold lacks same or different pairs\n",
			bullet, c[i].label))
			return -1;
		int na = 0;
		for (int j = 0; j < o->n_far && !o->per_fold; j++)
			na += !c[i].tar_ok[j];
		if (na && write_fmt(fp, "%s%s: TAR n/a at FAR < 1/%ld (%.3g): with %ld different "
			      "pairs the smallest FAR above 0 is 1/%ld\n", bullet, c[i].label,
			      c[i].n_diff, 1.0 / (double)c[i].n_diff, c[i].n_diff, c[i].n_diff))
			return -1;
	}
	return 0;
}

int report_text(FILE *fp, const struct report_curve *c, int n,
		const struct report_opts *o)
{
	struct table t;
	int w[MAX_COLS] = { 0 }, rc = build(&t, c, n, o);
	for (int r = 0; !rc && r < t.rows; r++)
		for (int k = 0; k < t.cols; k++)
			if ((int)strlen(cell_at(&t, r, k)) > w[k])
				w[k] = (int)strlen(cell_at(&t, r, k));
	for (int r = 0; !rc && r < t.rows; r++) {
		for (int k = 0; !rc && k < t.cols; k++) {
			const char *sep = k ? "  " : "";
			if (k == t.cols - 1 && !t.right[k])
				rc = write_fmt(fp, "%s%s", sep, cell_at(&t, r, k));
			else
				rc = write_fmt(fp, "%s%*s", sep, t.right[k] ? w[k] : -w[k],
					 cell_at(&t, r, k));
		}
		if (!rc)
			rc = write_fmt(fp, "\n");
	}
	free(t.cell);
	return rc ? -1 : notes(fp, c, n, o, "");
}

static int md_cell(FILE *fp, const char *s)
{
	for (; *s; s++) {
		if (*s == '|' && putc('\\', fp) == EOF)
			return write_error();
		if (putc(*s, fp) == EOF)
			return write_error();
	}
	return 0;
}

int report_markdown(FILE *fp, const struct report_curve *c, int n,
		    const struct report_opts *o)
{
	struct table t;
	int rc = build(&t, c, n, o);
	for (int r = 0; !rc && r < t.rows; r++) {
		for (int k = 0; !rc && k < t.cols; k++)
			if (write_fmt(fp, "| ") || md_cell(fp, cell_at(&t, r, k)) || write_fmt(fp, " "))
				rc = -1;
		if (!rc)
			rc = write_fmt(fp, "|\n");
		for (int k = 0; !rc && r == 0 && k < t.cols; k++)
			rc = write_fmt(fp, "%s", t.right[k] ? "| ---: " : "| :--- ");
		if (!rc && r == 0)
			rc = write_fmt(fp, "|\n");
	}
	free(t.cell);
	return rc ? -1 : notes(fp, c, n, o, "- ");
}

/* ---- CSV and JSON: full precision ---- */

static int csv_num(FILE *fp, int ok, double v)
{
	char b[32];
	return write_fmt(fp, ",%s", ok ? scores_fmt_double(b, v) : "");
}

int report_csv(FILE *fp, const struct report_curve *c, int n,
	       const struct report_opts *o)
{
	char g[32];
	if (o->per_fold) {
		if (write_fmt(fp, "curve,fold,pairs,same,different,accuracy,threshold,val,far,"
			"val_threshold\n"))
			return -1;
		for (int i = 0; i < n; i++)
			for (int f = 0; f < c[i].kf.n_folds; f++) {
				const struct metrics_fold *m = &c[i].kf.fold[f];
				if (csvio_put(fp, c[i].label) ||
				    write_fmt(fp, ",%d,%ld,%ld,%ld", c[i].kf.cross ? m->label : -1, m->n,
					m->n_same, m->n_diff) ||
				    csv_num(fp, 1, m->accuracy) || csv_num(fp, 1, m->threshold) ||
				    csv_num(fp, m->val_ok, m->val) ||
				    csv_num(fp, m->val_ok, m->far) ||
				    csv_num(fp, m->val_ok, m->val_threshold) || write_fmt(fp, "\n"))
					return -1;
			}
		return 0;
	}
	if (write_fmt(fp, "curve,pairs,same,different,folds,protocol,accuracy,accuracy_std,"
		"threshold_mean,auc,eer,eer_threshold"))
		return -1;
	for (int j = 0; j < o->n_far; j++) {
		scores_fmt_double(g, o->far[j]);
		if (write_fmt(fp, ",tar@far=%s,threshold@far=%s", g, g))
			return -1;
	}
	if (write_fmt(fp, ",val@far=%s,val_std,val_far\n", scores_fmt_double(g, o->val_far)))
		return -1;
	for (int i = 0; i < n; i++) {
		const struct report_curve *r = &c[i];
		if (csvio_put(fp, r->label) ||
		    write_fmt(fp, ",%ld,%ld,%ld,%d,%s", r->n, r->n_same, r->n_diff,
			r->data_folds, protocol_name(o->protocol)) ||
		    csv_num(fp, 1, r->kf.accuracy) || csv_num(fp, 1, r->kf.accuracy_std) ||
		    csv_num(fp, 1, r->kf.threshold_mean) || csv_num(fp, 1, r->auc) ||
		    csv_num(fp, 1, r->eer) || csv_num(fp, 1, r->eer_threshold))
			return -1;
		for (int j = 0; j < o->n_far; j++)
			if (csv_num(fp, r->tar_ok[j], r->tar[j]) ||
			    csv_num(fp, r->tar_ok[j], r->tar_threshold[j]))
				return -1;
		if (csv_num(fp, r->kf.val_ok, r->kf.val) ||
		    csv_num(fp, r->kf.val_ok, r->kf.val_std) ||
		    csv_num(fp, r->kf.val_ok, r->kf.far) || write_fmt(fp, "\n"))
			return -1;
	}
	return 0;
}

static int json_str(FILE *fp, const char *s)
{
	if (putc('"', fp) == EOF)
		return write_error();
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		int r;
		if (*p == '"' || *p == '\\')
			r = fprintf(fp, "\\%c", *p);
		else if (*p < 0x20)
			r = fprintf(fp, "\\u%04x", *p);
		else
			r = putc(*p, fp) == EOF ? -1 : 1;
		if (r < 0)
			return write_error();
	}
	return putc('"', fp) == EOF ? write_error() : 0;
}

/* "KEY": number (or null) with a leading separator SEP. */
static int json_num(FILE *fp, const char *sep, const char *key, int ok, double v)
{
	char b[32];
	return write_fmt(fp, "%s\"%s\": %s", sep, key,
		   ok && isfinite(v) ? scores_fmt_double(b, v) : "null");
}

int report_json(FILE *fp, const struct report_curve *c, int n,
		const struct report_opts *o)
{
	char b[32];
	if (write_fmt(fp, "{\n  \"protocol\": \"%s\",\n  \"far_targets\": [",
		protocol_name(o->protocol)))
		return -1;
	for (int j = 0; j < o->n_far; j++)
		if (write_fmt(fp, "%s%s", j ? ", " : "", scores_fmt_double(b, o->far[j])))
			return -1;
	if (write_fmt(fp, "],\n") || json_num(fp, "  ", "val_far", 1, o->val_far) ||
	    write_fmt(fp, ",\n  \"threshold_kind\": \"%s\",\n  \"curves\": [",
		o->protocol == METRICS_EXACT ? "score" : "distance"))
		return -1;
	for (int i = 0; i < n; i++) {
		const struct report_curve *r = &c[i];
		if (write_fmt(fp, "%s\n    {\n      \"label\": ", i ? "," : "") ||
		    json_str(fp, r->label) ||
		    write_fmt(fp, ",\n      \"pairs\": %ld, \"same\": %ld, \"different\": %ld, "
			"\"folds\": %d, \"kfold\": %s,\n", r->n, r->n_same, r->n_diff,
			r->data_folds, r->kf.cross ? "true" : "false") ||
		    json_num(fp, "      ", "accuracy", 1, r->kf.accuracy) ||
		    json_num(fp, ", ", "accuracy_std", 1, r->kf.accuracy_std) ||
		    json_num(fp, ", ", "threshold_mean", 1, r->kf.threshold_mean) ||
		    json_num(fp, ",\n      ", "auc", 1, r->auc) ||
		    json_num(fp, ", ", "eer", 1, r->eer) ||
		    json_num(fp, ", ", "eer_threshold", 1, r->eer_threshold) ||
		    json_num(fp, ",\n      ", "far_resolution", 1, 1.0 / (double)r->n_diff) ||
		    write_fmt(fp, ",\n      \"tar\": ["))
			return -1;
		for (int j = 0; j < o->n_far; j++)
			if (json_num(fp, j ? ", {" : "{", "far", 1, o->far[j]) ||
			    json_num(fp, ", ", "tar", r->tar_ok[j], r->tar[j]) ||
			    json_num(fp, ", ", "threshold", r->tar_ok[j], r->tar_threshold[j]) ||
			    write_fmt(fp, "}"))
				return -1;
		if (write_fmt(fp, "],\n") ||
		    json_num(fp, "      ", "val", r->kf.val_ok, r->kf.val) ||
		    json_num(fp, ", ", "val_std", r->kf.val_ok, r->kf.val_std) ||
		    json_num(fp, ", ", "val_far", r->kf.val_ok, r->kf.far) ||
		    write_fmt(fp, ",\n      \"fold_results\": ["))
			return -1;
		for (int f = 0; f < r->kf.n_folds; f++) {
			const struct metrics_fold *m = &r->kf.fold[f];
			if (write_fmt(fp, "%s\n        {\"fold\": %d, \"pairs\": %ld, \"same\": %ld, "
				"\"different\": %ld", f ? "," : "", r->kf.cross ? m->label : -1, m->n,
				m->n_same, m->n_diff) ||
			    json_num(fp, ", ", "accuracy", 1, m->accuracy) ||
			    json_num(fp, ", ", "threshold", 1, m->threshold) ||
			    json_num(fp, ", ", "val", m->val_ok, m->val) ||
			    json_num(fp, ", ", "far", m->val_ok, m->far) ||
			    json_num(fp, ", ", "val_threshold", m->val_ok, m->val_threshold) ||
			    write_fmt(fp, "}"))
				return -1;
		}
		if (write_fmt(fp, "\n      ]\n    }"))
			return -1;
	}
	return write_fmt(fp, "\n  ]\n}\n");
}

int report_roc_points(FILE *fp, const struct report_curve *c, int n)
{
	char t[32], x[32], y[32];
	if (write_fmt(fp, "curve,threshold,fpr,tpr\n"))
		return -1;
	for (int i = 0; i < n; i++)
		for (long k = 0; k < c[i].roc.n; k++)
			if (csvio_put(fp, c[i].label) ||
			    write_fmt(fp, ",%s,%s,%s\n", scores_fmt_double(t, c[i].roc.threshold[k]),
				scores_fmt_double(x, c[i].roc.fpr[k]),
				scores_fmt_double(y, c[i].roc.tpr[k])))
				return -1;
	return 0;
}

/* ---- SVG ---- */

#define SVG_W 720
#define SVG_H 540
#define PX0 80.0	/* plot box */
#define PY0 40.0
#define PW 600.0
#define PH 420.0

static const char *const palette[] = { "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728",
				       "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
				       "#bcbd22", "#17becf" };

const char *report_colour(int i)
{
	return palette[(i % 10 + 10) % 10];
}

/* Whether label A without a "-hm" suffix is B's base. */
static size_t base_len(const char *s)
{
	size_t n = strlen(s);
	return n >= 3 && !strcmp(s + n - 3, "-hm") ? n - 3 : n;
}

void report_pair_styles(const char *const *label, int n, int *colour, int *dashed)
{
	int next = 0;
	for (int i = 0; i < n; i++) {
		size_t bi = base_len(label[i]);
		dashed[i] = bi != strlen(label[i]);
		colour[i] = -1;
		for (int j = 0; j < i && colour[i] < 0; j++)
			if (base_len(label[j]) == bi && !strncmp(label[i], label[j], bi))
				colour[i] = colour[j];
		if (colour[i] < 0)
			colour[i] = next++;
	}
}

int report_xml_str(FILE *fp, const char *s)
{
	for (; *s; s++) {
		int r;
		switch (*s) {
		case '&': r = fputs("&amp;", fp); break;
		case '<': r = fputs("&lt;", fp); break;
		case '>': r = fputs("&gt;", fp); break;
		case '"': r = fputs("&quot;", fp); break;
		case '\'': r = fputs("&apos;", fp); break;
		default:
			/* control characters other than tab are not allowed in XML */
			r = putc((unsigned char)*s < 0x20 && *s != '\t' ? '?' : *s, fp);
		}
		if (r == EOF)
			return write_error();
	}
	return 0;
}

struct axis {
	double far_min, lmin;	/* lmin = log10(far_min) < 0 */
};

static double sx(const struct axis *a, double fpr)
{
	double l = fpr > a->far_min ? log10(fpr) : a->lmin;
	return PX0 + PW * (l - a->lmin) / -a->lmin;
}

static double sy(double tpr)
{
	return PY0 + PH * (1.0 - tpr);
}

static int svg_frame(FILE *fp, const struct axis *a, const char *title)
{
	if (write_fmt(fp, "<rect x=\"%g\" y=\"%g\" width=\"%g\" height=\"%g\" fill=\"white\" "
		"stroke=\"black\"/>\n", PX0, PY0, PW, PH))
		return -1;
	for (int e = (int)lround(a->lmin); e <= 0; e++) {
		double x = sx(a, pow(10.0, e));
		char lab[16];
		if (e == 0)
			snprintf(lab, sizeof lab, "1");
		else
			snprintf(lab, sizeof lab, "1e%d", e);
		if (write_fmt(fp, "<line x1=\"%.3f\" y1=\"%g\" x2=\"%.3f\" y2=\"%g\" "
			"stroke=\"#dddddd\"/>\n<text x=\"%.3f\" y=\"%g\" "
			"text-anchor=\"middle\">%s</text>\n", x, PY0, x, PY0 + PH, x,
			PY0 + PH + 18, lab))
			return -1;
		for (int m = 2; m <= 9 && e < 0; m++) {
			double xm = sx(a, m * pow(10.0, e));
			if (write_fmt(fp, "<line x1=\"%.3f\" y1=\"%g\" x2=\"%.3f\" y2=\"%g\" "
				"stroke=\"black\"/>\n", xm, PY0 + PH, xm, PY0 + PH - 4))
				return -1;
		}
	}
	for (int k = 0; k <= 10; k++) {
		double y = sy(k / 10.0);
		if (write_fmt(fp, "<line x1=\"%g\" y1=\"%.3f\" x2=\"%g\" y2=\"%.3f\" "
			"stroke=\"#dddddd\"/>\n<text x=\"%g\" y=\"%.3f\" "
			"text-anchor=\"end\">%.1f</text>\n", PX0, y, PX0 + PW, y, PX0 - 6,
			y + 4, k / 10.0))
			return -1;
	}
	return write_fmt(fp, "<text x=\"%g\" y=\"%g\" text-anchor=\"middle\">false accept rate "
		   "(FAR), log scale</text>\n"
		   "<text x=\"%g\" y=\"%g\" text-anchor=\"middle\" "
		   "transform=\"rotate(-90 %g %g)\">true accept rate (TAR)</text>\n"
		   "<text class=\"title\" x=\"%g\" y=\"%g\" text-anchor=\"middle\" "
		   "font-size=\"15\">",
		   PX0 + PW / 2, PY0 + PH + 42, 24.0, PY0 + PH / 2, 24.0, PY0 + PH / 2,
		   PX0 + PW / 2, PY0 - 14) ||
	       report_xml_str(fp, title) || write_fmt(fp, "</text>\n");
}

static int svg_chance(FILE *fp, const struct axis *a)
{
	if (write_fmt(fp, "<polyline class=\"chance\" fill=\"none\" stroke=\"#999999\" "
		"stroke-dasharray=\"4 4\" points=\""))
		return -1;
	for (int k = 0; k <= 60; k++) {
		double f = pow(10.0, a->lmin * (1.0 - k / 60.0));
		if (write_fmt(fp, "%s%.3f,%.3f", k ? " " : "", sx(a, f), sy(f)))
			return -1;
	}
	return write_fmt(fp, "\"/>\n");
}

static int svg_legend(FILE *fp, const struct report_curve *c, int n,
		      const int *colour, const int *dashed)
{
	size_t longest = 0;
	for (int i = 0; i < n; i++)
		if (strlen(c[i].label) > longest)
			longest = strlen(c[i].label);
	double w = 44.0 + 7.0 * (double)(longest < 80 ? longest : 80);
	double h = 8.0 + 18.0 * n;
	double x = PX0 + PW - 10 - w, y = PY0 + PH - 10 - h;
	if (write_fmt(fp, "<g id=\"legend\">\n<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
		"height=\"%.1f\" fill=\"white\" stroke=\"#888888\"/>\n", x, y, w, h))
		return -1;
	for (int i = 0; i < n; i++) {
		double ly = y + 4 + 18.0 * i + 9;
		if (write_fmt(fp, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
			"stroke=\"%s\" stroke-width=\"2\"%s/>\n<text x=\"%.1f\" y=\"%.1f\">",
			x + 8, ly, x + 32, ly, report_colour(colour[i]),
			dashed[i] ? " stroke-dasharray=\"" REPORT_DASH "\"" : "", x + 38,
			ly + 4) ||
		    report_xml_str(fp, c[i].label) || write_fmt(fp, "</text>\n"))
			return -1;
	}
	return write_fmt(fp, "</g>\n");
}

static int svg_curves(FILE *fp, const struct report_curve *c, int n,
		      const struct axis *a, const char *fm, const int *colour,
		      const int *dashed);

int report_svg(FILE *fp, const struct report_curve *c, int n, const char *title)
{
	if (!title)
		title = "ROC";
	/* The left edge: the decade at or below the smallest non-zero FPR. */
	double m = 1.0;
	for (int i = 0; i < n; i++)
		for (long k = 0; k < c[i].roc.n; k++)
			if (c[i].roc.fpr[k] > 0.0 && c[i].roc.fpr[k] < m)
				m = c[i].roc.fpr[k];
	struct axis a;
	a.lmin = floor(log10(m) + 1e-12);
	if (a.lmin > -1.0)
		a.lmin = -1.0;
	if (a.lmin < -12.0)
		a.lmin = -12.0;
	a.far_min = pow(10.0, a.lmin);
	char fm[32];
	if (write_fmt(fp, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		"<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"%d\" "
		"height=\"%d\" viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" "
		"font-size=\"12\">\n<title>", SVG_W, SVG_H, SVG_W, SVG_H) ||
	    report_xml_str(fp, title) ||
	    write_fmt(fp, "</title>\n<desc>ROC curves written by "
		"hm-roc: x = log10 of the false accept rate from %s (left edge; FAR 0 "
		"drawn there) to 1, y = true accept rate from 0 to 1. See hm-roc(1) for "
		"the mapping of points.</desc>\n"
		"<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
		scores_fmt_double(fm, a.far_min)) ||
	    svg_frame(fp, &a, title) || svg_chance(fp, &a))
		return -1;
	const char **labels = malloc((size_t)(n ? n : 1) * sizeof *labels);
	int *colour = malloc((size_t)(n ? n : 1) * sizeof *colour);
	int *dashed = malloc((size_t)(n ? n : 1) * sizeof *dashed);
	int rc = labels && colour && dashed ? 0 : hm_error("out of memory");
	if (!rc) {
		for (int i = 0; i < n; i++)
			labels[i] = c[i].label;
		report_pair_styles(labels, n, colour, dashed);
		rc = svg_curves(fp, c, n, &a, fm, colour, dashed);
	}
	free(labels);
	free(colour);
	free(dashed);
	return rc;
}

static int svg_curves(FILE *fp, const struct report_curve *c, int n,
		      const struct axis *ap, const char *fm, const int *colour,
		      const int *dashed)
{
	struct axis a = *ap;
	if (write_fmt(fp, "<g id=\"curves\" data-x0=\"%g\" data-y0=\"%g\" data-width=\"%g\" "
		"data-height=\"%g\" data-far-min=\"%s\">\n", PX0, PY0, PW, PH, fm))
		return -1;
	for (int i = 0; i < n; i++) {
		if (write_fmt(fp, "<polyline class=\"curve\" data-label=\"") ||
		    report_xml_str(fp, c[i].label) ||
		    write_fmt(fp, "\" fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\"%s "
			"stroke-linejoin=\"round\" points=\"", report_colour(colour[i]),
			dashed[i] ? " stroke-dasharray=\"" REPORT_DASH "\"" : ""))
			return -1;
		for (long k = 0; k < c[i].roc.n; k++)
			if (write_fmt(fp, "%s%.3f,%.3f", k ? " " : "", sx(&a, c[i].roc.fpr[k]),
				sy(c[i].roc.tpr[k])))
				return -1;
		if (write_fmt(fp, "\"/>\n"))
			return -1;
	}
	return write_fmt(fp, "</g>\n") || svg_legend(fp, c, n, colour, dashed) ||
	       write_fmt(fp, "</svg>\n") ? -1 : 0;
}
