/*
 * metrics: verification metrics from similarity scores (hm-roc's numerics).
 *
 * Input everywhere: N pairs as three arrays, score[i] (cosine similarity,
 * higher = more alike, finite), same[i] (1 same identity, 0 different) and,
 * for the fold-based measures, fold[i] (a label 0..999, or -1 on every pair when the
 * list has no folds).  Nothing here reads files or prints: hm-roc(1) does.
 *
 * What is computed, and how exactly (hm-roc(1) says the same for users):
 *
 *  ROC (metrics_roc): the points of scikit-learn's
 *    roc_curve(same, score, drop_intermediate=False) (sklearn 1.2): one point
 *    per distinct score s, from the highest down, with
 *    FPR = #diff(score >= s) / #diff and TPR = #same(score >= s) / #same,
 *    preceded by (0, 0) with threshold max(score) + 1.  Tied scores are one
 *    point.  Needs both same and different pairs.
 *  AUC: trapezoids over those points (equal to the Mann-Whitney statistic with
 *    ties counted one half).
 *  EER: where the ROC polyline crosses FPR = 1 - TPR, linearly interpolated
 *    between the two points around the crossing; its threshold is the score
 *    of the first point with 1 - TPR <= FPR.
 *  TAR@FAR f: np.interp(f, FPR, TPR) over the points: the last point j with
 *    FPR_j <= f gives TPR_j when FPR_j == f, otherwise the line from j to
 *    j + 1 is followed; the threshold reported is point j's (the lowest score
 *    threshold whose FAR does not exceed f).
 *
 *  Accuracy (metrics_kfold): the folds are the distinct labels of the fold
 *    column, in increasing order (0..9 and 1..10 alike: each label is a
 *    fold, gaps allowed; metrics_fold.label keeps the data's).  For each
 *    fold the threshold is chosen on the other folds (the best accuracy) and
 *    applied to the fold; accuracy = correct / pairs in the fold; the summary
 *    is the mean and the population standard deviation over folds.  When the
 *    pairs have no folds (-1), or only one fold, there is no cross-validation:
 *    the threshold is chosen on all pairs and scored on all pairs (one "fold",
 *    as insightface's LFold(1) does).
 *    METRICS_EXACT: candidate thresholds are u0 - 1, the midpoints between
 *      consecutive distinct training scores, and umax + 1; a pair is
 *      predicted same when score >= threshold; among equally accurate
 *      candidates the smallest threshold wins.  A midpoint of a < b is
 *      a + (b - a) / 2, moved up to b if rounding left it at a.
 *    METRICS_INSIGHTFACE: insightface's calculate_roc on d = 2 - 2 * score
 *      (the squared L2 distance of unit vectors): thresholds k * 0.01,
 *      k = 0..399 (np.arange(0, 4, 0.01)), predicted same when d < T, the
 *      first best threshold on the training folds (np.argmax).
 *  VAL@FAR (metrics_kfold, facenet's calculate_val): per fold, on the
 *    training folds FAR(T) = #diff(d < T) / #diff for T = k * 0.001,
 *    k = 0..3999; if max FAR >= target, T is scipy's
 *    interp1d(FAR, T, kind='slinear')(target) as facenet ran it (scipy's
 *    degree-1 B-spline with knots [FAR0, FAR..., FARlast], which accepts the
 *    repeated FAR values: the last T whose FAR <= target and the next one are
 *    joined linearly), else T = 0; a target below FAR0 (where scipy raises)
 *    also gives T = 0.  On the test fold VAL = #same(d < T) / #same and
 *    FAR = #diff(d < T) / #diff; the summary is mean VAL, population std of
 *    VAL and mean FAR.  A fold whose training part has no different pairs, or
 *    whose test part lacks same or different pairs, has no VAL (val_ok 0),
 *    and neither has the summary.
 *
 * Ownership: results are caller-owned structs whose arrays the functions
 * allocate; free them with metrics_roc_free() / metrics_kfold_free().
 * Errors (return -1, message recorded): no pairs, no same or no different
 * pairs for the ROC, folds neither all -1 nor all >= 0, a fold label above
 * METRICS_MAX_FOLDS - 1, out of memory.  Messages carry no file name: the caller prefixes it.
 */
#ifndef HM_METRICS_H
#define HM_METRICS_H

enum metrics_protocol { METRICS_EXACT, METRICS_INSIGHTFACE };

#define METRICS_MAX_FOLDS 1000

struct metrics_roc {
	long n;			/* points, including the first (0, 0) */
	double *threshold;	/* n, decreasing; [0] = max score + 1 */
	double *fpr, *tpr;	/* n each, non-decreasing */
	long n_same, n_diff;
};

/* The ROC of N pairs.  0, or -1 (N < 1, no same or no different pair, out of
 * memory) with the message recorded and R empty. */
int metrics_roc(struct metrics_roc *r, const double *score, const int *same, long n);
void metrics_roc_free(struct metrics_roc *r);
/* Area under the ROC (trapezoids). */
double metrics_auc(const struct metrics_roc *r);
/* Equal error rate; *THRESHOLD (if not NULL) gets the crossing point's score. */
double metrics_eer(const struct metrics_roc *r, double *threshold);
/* TAR at FAR FAR (0..1), interpolated; *THRESHOLD as described above. */
double metrics_tar_at_far(const struct metrics_roc *r, double far, double *threshold);

struct metrics_fold {
	int label;		/* the data's fold label; -1 without k-fold */
	long n, n_same, n_diff;	/* test pairs */
	double accuracy;	/* correct / n on the test pairs */
	double threshold;	/* chosen on the training pairs: a score (exact)
				   or a distance (insightface) */
	int val_ok;		/* VAL defined for this fold */
	double val, far;	/* facenet VAL and FAR on the test pairs */
	double val_threshold;	/* the distance threshold VAL used */
};

struct metrics_kfold {
	int n_folds;		/* entries in fold[] (1 when there is no k-fold) */
	int cross;		/* 1 k-fold, 0 threshold chosen on all pairs */
	struct metrics_fold *fold;
	double accuracy, accuracy_std;	/* mean, population std over folds */
	double threshold_mean;	/* mean of the chosen thresholds */
	int val_ok;		/* every fold has VAL */
	double val, val_std, far;	/* mean VAL, its std, mean FAR */
};

/* Accuracy by PROTOCOL and facenet VAL at VAL_FAR over the folds of N pairs.
 * 0, or -1 with the message recorded (K emptied). */
int metrics_kfold(struct metrics_kfold *k, const double *score, const int *same,
		  const int *fold, long n, enum metrics_protocol protocol,
		  double val_far);
void metrics_kfold_free(struct metrics_kfold *k);

/* Building blocks, exported for the unit tests. */

/* The exact-search threshold for N pairs (the rule above); *CORRECT gets the
 * pairs it classifies right.  N >= 1.  -1 out of memory, else 0. */
int metrics_best_exact(double *threshold, long *correct, const double *score,
		       const int *same, long n);
/* insightface's first best grid distance threshold for N pairs, N >= 1. */
int metrics_best_grid(double *threshold, long *correct, const double *score,
		      const int *same, long n);
/* facenet's FAR-target distance threshold on N pairs with N_DIFF >= 1
 * different ones; -1 out of memory, else 0. */
int metrics_val_threshold(double *threshold, const double *score, const int *same,
			  long n, double far_target);
/* Checks FOLD[0..N-1] and counts the folds: all -1 gives 0, else the number
 * of distinct labels (each 0..METRICS_MAX_FOLDS - 1) is returned; -1 with
 * "pair I: ..." recorded (I 0-based) when they are not. */
int metrics_count_folds(const int *fold, long n);

#endif
