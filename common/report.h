/*
 * report: hm-roc's results per curve (one curve = one scores file) and their
 * renderings: aligned text table, CSV, JSON, Markdown, the ROC points as CSV
 * and the ROC plot as a standalone SVG.  The numerics are metrics.h's; this
 * module only gathers them per curve and writes them.  Formats: hm-roc(1).
 *
 * SVG mapping (so that a reader can take points back out of a plot): the
 * <g id="curves"> element carries data-x0, data-y0, data-width, data-height
 * (the plot box in SVG user units) and data-far-min (the FAR at the left
 * edge, a power of ten); each curve is one <polyline class="curve"
 * data-label="..."> whose K-th point is the K-th ROC point of that curve in
 * the --roc output, at
 *   x = x0 + width * (log10(max(FPR, far_min)) - log10(far_min)) / -log10(far_min)
 *   y = y0 + height * (1 - TPR)
 * with coordinates written to 3 decimals.  Points with FPR below far_min
 * (FPR 0) sit on the left edge.  A curve drawn dashed (a label ending in
 * "-hm", report_pair_styles) has the attribute stroke-dasharray.
 *
 * Units: the text and Markdown tables give rates for people, in percent
 * (accuracy and its std, EER, TAR, VAL and its std, FAR) and the AUC as a
 * fraction; CSV and JSON give every number as a fraction (0..1) in full
 * precision, for programs.  The FAR targets are fractions everywhere.
 *
 * Ownership: report_curve_compute() fills a caller-owned struct; free its
 * arrays with report_curve_free().  Writers return 0, or -1 with "write
 * error" recorded; they only write to FP (the caller opens and commits it).
 */
#ifndef HM_REPORT_H
#define HM_REPORT_H

#include <stdio.h>

#include "metrics.h"
#include "scores.h"

#define REPORT_MAX_FAR 16

struct report_opts {
	enum metrics_protocol protocol;
	int n_far;			/* TAR@FAR targets */
	double far[REPORT_MAX_FAR];
	double val_far;			/* facenet VAL target */
	int per_fold;			/* one row per fold (text, csv, markdown) */
};

struct report_curve {
	const char *label;	/* not owned */
	long n, n_same, n_diff;
	int data_folds;		/* folds in the data, 0 when none */
	struct metrics_kfold kf;
	struct metrics_roc roc;
	double auc, eer, eer_threshold;
	double tar[REPORT_MAX_FAR], tar_threshold[REPORT_MAX_FAR];
	/* TAR at far[j] is resolvable: far[j] is 0 or at least 1 / n_diff
	 * (the smallest non-zero FAR the different pairs can show); else it
	 * is written as n/a (null in JSON, empty in CSV) with a note. */
	int tar_ok[REPORT_MAX_FAR];
};

/* Every measure for the scores S.  0, or -1 with the message recorded
 * (without a file name: the caller adds it). */
int report_curve_compute(struct report_curve *c, const char *label,
			 const struct scores *s, const struct report_opts *o);
void report_curve_free(struct report_curve *c);

int report_text(FILE *fp, const struct report_curve *c, int n,
		const struct report_opts *o);
int report_markdown(FILE *fp, const struct report_curve *c, int n,
		    const struct report_opts *o);
int report_csv(FILE *fp, const struct report_curve *c, int n,
	       const struct report_opts *o);
int report_json(FILE *fp, const struct report_curve *c, int n,
		const struct report_opts *o);
/* "curve,threshold,fpr,tpr" and every ROC point of every curve. */
int report_roc_points(FILE *fp, const struct report_curve *c, int n);
/* The ROC curves on a log FAR axis, with axes, labels and a legend, under
 * TITLE (NULL: "ROC"); styles as report_pair_styles() gives them. */
int report_svg(FILE *fp, const struct report_curve *c, int n, const char *title);

/*
 * Paired styles for plots of baselines and their hard-mining runs: a label
 * ending in "-hm" is dashed (*DASHED 1) and shares the colour of the label
 * that is the same without "-hm", when there is one; every other label
 * gets the next colour in order of appearance.  COLOUR and DASHED have N
 * entries.  report_colour() is the colour of index I (10, then again).
 */
void report_pair_styles(const char *const *label, int n, int *colour, int *dashed);
const char *report_colour(int i);
/* The SVG stroke-dasharray of a dashed line. */
#define REPORT_DASH "7 4"
/* Writes S as XML character data (escaped).  0, or -1 "write error". */
int report_xml_str(FILE *fp, const char *s);

#endif
