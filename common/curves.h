/*
 * curves: hm-plot's training curves: runs read from hm-train's logs and
 * drawn as one standalone SVG.  hm-plot(1) is the user's view.
 *
 * A run is an hm-train output directory (or its train.csv):
 *   train.csv  one row per iteration, columns found by name in the header:
 *              iter, loss, acc (a fraction), lr (others ignored);
 *   val.csv    optional, beside it: one row per epoch and validation set,
 *              columns epoch, iter, set, accuracy (a fraction; a file
 *              whose accuracies exceed 1 holds percent), others ignored.
 *
 * The picture: panels one above the other over a shared x axis
 * (iterations, from 0 to the last iteration of the longest run):
 * training loss, training accuracy (%), learning rate and, when some run
 * has a val.csv, validation accuracy (%) with one line per run and set
 * (points at the epochs' ends, a marker shape per set).  Each panel's y
 * range is the range of the values drawn in it (padded when they are all
 * equal); the loss is drawn on a log scale when its values are positive
 * and span a factor of 30 or more (a hard-mining loss beside a plain one).  Styles: a run whose label ends in "-hm" is dashed and takes the
 * colour of the run labelled the same without "-hm" (report_pair_styles).
 *
 * Long runs: with max_points > 0, a run of more rows is drawn as
 * max_points points, each the mean (iteration and value) of a bin of
 * consecutive rows (bins of floor or ceil of rows / max_points rows).
 *
 * SVG mapping (for tests and readers): each panel is a
 * <g class="panel" data-name="loss|acc|lr|val" data-x0 data-y0
 * data-width data-height data-xmin data-xmax data-ymin data-ymax
 * data-ylog="0|1">, its lines <polyline class="run" data-label="..."
 * [data-set="..."]> at
 *   x = x0 + width * (iteration - xmin) / (xmax - xmin)
 *   y = y0 + height * (ymax - value) / (ymax - ymin)
 * or, with data-ylog 1, log10 of value, ymin and ymax in the last line
 * (3 decimals).  The ranges are written in the fewest digits that read
 * back exactly.
 *
 * Ownership: curves_load() fills a caller-owned struct that
 * curves_free() empties.  Errors: -1 with the message recorded, naming the
 * file and line.
 */
#ifndef HM_CURVES_H
#define HM_CURVES_H

#include <stdio.h>

struct curves_series {
	long n;
	double *x, *y;
};

struct curves_set {
	char *name;
	struct curves_series acc;	/* x = iteration, y = accuracy in % */
};

struct curves_run {
	char *label;
	struct curves_series loss, acc, lr;	/* acc in % */
	int n_sets;
	struct curves_set *sets;
};

struct curves_opts {
	const char *title;	/* NULL: "training" */
	long max_points;	/* 0: every row */
};

/* Reads PATH (a directory holding train.csv, or a train.csv file) and the
 * val.csv beside it if any; LABEL NULL names the run after the directory. */
int curves_load(struct curves_run *r, const char *path, const char *label);
void curves_free(struct curves_run *r);

/* Draws the N runs. 0, or -1 with "write error" recorded. */
int curves_svg(FILE *fp, const struct curves_run *r, int n,
	       const struct curves_opts *o);

#endif
