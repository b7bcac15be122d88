/* metrics: ROC, AUC, EER, TAR@FAR, thresholds, folds and VAL on hand-computed cases. */
#include "tap.h"
#include "err.h"
#include "metrics.h"

#include <math.h>

static void test_roc(void)
{
	/* Sorted down: 0.9 same, 0.5 diff, 0.5 same (a tie), 0.1 diff. */
	const double s[] = { 0.9, 0.5, 0.5, 0.1 };
	const int y[] = { 1, 0, 1, 0 };
	struct metrics_roc r;
	is_int(metrics_roc(&r, s, y, 4), 0, "roc of 4 pairs");
	is_int(r.n, 4, "tied scores are one point: (0,0) + 3 points");
	ok(r.threshold[0] == 1.9 && r.threshold[1] == 0.9 && r.threshold[2] == 0.5 &&
	   r.threshold[3] == 0.1, "thresholds max+1, then the distinct scores down");
	ok(r.fpr[0] == 0 && r.fpr[1] == 0 && r.fpr[2] == 0.5 && r.fpr[3] == 1,
	   "FPR 0, 0, 0.5, 1");
	ok(r.tpr[0] == 0 && r.tpr[1] == 0.5 && r.tpr[2] == 1 && r.tpr[3] == 1,
	   "TPR 0, 0.5, 1, 1");
	is_near(metrics_auc(&r), 0.875, 1e-15, "AUC 0.875 (tie counted half)");
	double t;
	is_near(metrics_eer(&r, &t), 0.25, 1e-15, "EER 0.25 on the segment 0.9 -> 0.5");
	ok(t == 0.5, "EER threshold: the first point past the crossing (0.5)");
	is_near(metrics_tar_at_far(&r, 0.25, &t), 0.75, 1e-15, "TAR@FAR 0.25 interpolated");
	ok(t == 0.9, "its threshold: the last point with FPR <= 0.25 (0.9)");
	is_near(metrics_tar_at_far(&r, 0.5, &t), 1.0, 0, "TAR@FAR 0.5 on a point");
	ok(t == 0.5, "threshold 0.5");
	is_near(metrics_tar_at_far(&r, 0.0, &t), 0.5, 0, "TAR@FAR 0: the top of the vertical run");
	metrics_roc_free(&r);

	const int all_same[] = { 1, 1, 1, 1 };
	is_int(metrics_roc(&r, s, all_same, 4), -1, "one class: no ROC");
	like(hm_errmsg(), "no different pairs", "message says which class is missing");

	/* Perfect separation: AUC 1, EER 0, TAR 1 at any FAR. */
	const double s2[] = { 0.1, 0.2, 0.8, 0.9 };
	const int y2[] = { 0, 0, 1, 1 };
	metrics_roc(&r, s2, y2, 4);
	is_near(metrics_auc(&r), 1.0, 0, "separable: AUC 1");
	is_near(metrics_eer(&r, NULL), 0.0, 0, "separable: EER 0");
	is_near(metrics_tar_at_far(&r, 0.0, NULL), 1.0, 0, "separable: TAR@FAR 0 = 1");
	metrics_roc_free(&r);
}

static void test_exact(void)
{
	double t;
	long right;
	const double s[] = { 0.1, 0.2, 0.3, 0.4 };
	const int y[] = { 0, 0, 1, 1 };
	metrics_best_exact(&t, &right, s, y, 4);
	ok(t == 0.2 + (0.3 - 0.2) / 2 && right == 4, "separable: midpoint 0.25, 4 right");

	const double tie[] = { 0.5, 0.5, 0.5 };
	const int ty[] = { 1, 0, 1 };
	metrics_best_exact(&t, &right, tie, ty, 3);
	ok(t == -0.5 && right == 2, "all tied: below-min threshold (u0 - 1), 2 right");

	const int none[] = { 0, 0 };
	const double s2[] = { 0.3, 0.7 };
	metrics_best_exact(&t, &right, s2, none, 2);
	ok(t == 1.7 && right == 2, "only different pairs: above-max (umax + 1)");

	/* Accuracy 2/3 at -0.9 and again at 0.25: the smallest threshold wins. */
	const double s3[] = { 0.1, 0.2, 0.3 };
	const int y3[] = { 1, 0, 1 };
	metrics_best_exact(&t, &right, s3, y3, 3);
	ok(t == 0.1 - 1.0 && right == 2, "equal accuracy: the smallest threshold");

	/* Adjacent doubles: the midpoint rounds onto a, so b is used. */
	double a = 1.0, b = nextafter(1.0, 2.0);
	const double s4[] = { a, b };
	const int y4[] = { 0, 1 };
	metrics_best_exact(&t, &right, s4, y4, 2);
	ok(t == b && right == 2, "adjacent doubles: threshold b, still 2 right");
}

static void test_grid(void)
{
	double t;
	long right;
	/* d = 2 - 2s: 0.2-, 0.4-, 1.6, 1.8; all right from T = 0.40 on. */
	const double s[] = { 0.9, 0.8, 0.2, 0.1 };
	const int y[] = { 1, 1, 0, 0 };
	metrics_best_grid(&t, &right, s, y, 4);
	ok(t == 40 * 0.01 && right == 4, "first best grid threshold 0.40 (got %.17g)", t);
	/* One pair with d = 1.2 exactly on the grid value 1.2: d < T needs 1.21. */
	const double s2[] = { 0.4 };
	const int y2[] = { 1 };
	metrics_best_grid(&t, &right, s2, y2, 1);
	ok(t == 121 * 0.01 && right == 1, "d on a grid value: the next one (1.21)");
	const int y3[] = { 0 };
	metrics_best_grid(&t, &right, s2, y3, 1);
	ok(t == 0.0 && right == 1, "a different pair: T = 0 is already right");
}

static void test_val(void)
{
	/* Different pairs at d = 0.5, 1, 1.5, 2 (and a same pair, ignored). */
	const double s[] = { 0.75, 0.5, 0.25, 0.0, 0.9 };
	const int y[] = { 0, 0, 0, 0, 1 };
	double t;
	metrics_val_threshold(&t, s, y, 5, 0.5);
	ok(t == 1500 * 0.001, "FAR 0.5 reached on T = 1.001..1.5: the last, 1.5");
	metrics_val_threshold(&t, s, y, 5, 0.6);
	is_near(t, 1.5 * 0.6 + 1.501 * 0.4, 1e-12, "FAR 0.6: 1.5 + 0.4 * 0.001");
	metrics_val_threshold(&t, s, y, 5, 0.0);
	ok(t == 500 * 0.001, "FAR 0: the last T with FAR 0 (0.5)");
	metrics_val_threshold(&t, s, y, 5, 1.0);
	ok(t == 0.0, "FAR 1 = the repeated maximum: scipy's empty interval gives 0");
	const double far_away[] = { -1.0, -1.0 };
	const int yd[] = { 0, 0 };
	metrics_val_threshold(&t, far_away, yd, 2, 0.1);
	ok(t == 0.0, "FAR target never reached: threshold 0");
}

static void test_folds(void)
{
	const int none[] = { -1, -1, -1 }, three[] = { 0, 1, 1, 2 }, gap[] = { 0, 2 },
		  mixed[] = { 0, -1 }, big[] = { 1000 };
	is_int(metrics_count_folds(none, 3), 0, "all -1: no folds");
	is_int(metrics_count_folds(three, 4), 3, "folds 0..2");
	is_int(metrics_count_folds(gap, 2), 2, "labels 0 and 2: two folds (any labels)");
	is_int(metrics_count_folds(mixed, 2), -1, "-1 mixed with folds");
	like(hm_errmsg(), "pair 1", "message names the pair");
	is_int(metrics_count_folds(big, 1), -1, "fold 1000 is out of range");
}

static void test_kfold(void)
{
	/* fold 0: 0.9 s, 0.1 d, 0.5 d;  fold 1: 0.8 s, 0.4 s, 0.3 d */
	const double s[] = { 0.9, 0.1, 0.5, 0.8, 0.4, 0.3 };
	const int y[] = { 1, 0, 0, 1, 1, 0 };
	const int f[] = { 0, 0, 0, 1, 1, 1 };
	struct metrics_kfold k;
	is_int(metrics_kfold(&k, s, y, f, 6, METRICS_EXACT, 1e-3), 0, "exact 2-fold");
	ok(k.cross && k.n_folds == 2, "two folds, cross-validated");
	is_near(k.fold[0].threshold, 0.35, 1e-15, "fold 0: threshold 0.35 from fold 1");
	is_near(k.fold[0].accuracy, 2.0 / 3, 0, "fold 0: 2/3 (0.5 different, accepted)");
	is_near(k.fold[1].threshold, 0.7, 1e-15, "fold 1: threshold 0.7 from fold 0");
	is_near(k.fold[1].accuracy, 2.0 / 3, 0, "fold 1: 2/3 (0.4 same, rejected)");
	is_near(k.accuracy, 2.0 / 3, 1e-15, "mean 2/3");
	is_near(k.accuracy_std, 0.0, 1e-15, "std 0");
	is_near(k.threshold_mean, 0.525, 1e-15, "mean threshold 0.525");
	ok(k.fold[0].n == 3 && k.fold[0].n_same == 1 && k.fold[0].n_diff == 2,
	   "fold 0 counts");
	metrics_kfold_free(&k);

	metrics_kfold(&k, s, y, f, 6, METRICS_INSIGHTFACE, 1e-3);
	ok(k.fold[0].threshold == 121 * 0.01, "insightface fold 0: T 1.21 (d 1.2 not < 1.2)");
	is_near(k.fold[0].accuracy, 2.0 / 3, 0, "insightface fold 0: 2/3");
	ok(k.fold[1].threshold == 20 * 0.01, "insightface fold 1: T 0.20 (d 0.2- < 0.2)");
	is_near(k.fold[1].accuracy, 1.0 / 3, 0, "insightface fold 1: 1/3");
	is_near(k.accuracy, 0.5, 1e-15, "insightface mean 0.5");
	is_near(k.accuracy_std, 1.0 / 6, 1e-15, "population std 1/6");
	metrics_kfold_free(&k);

	/* Folds numbered from 1 (or any labels): the same folds, in label
	 * order, and the same numbers; the labels are kept. */
	const int f1[] = { 1, 1, 1, 2, 2, 2 }, f7[] = { 7, 7, 7, 30, 30, 30 };
	for (int v = 0; v < 2; v++) {
		metrics_kfold(&k, s, y, v ? f7 : f1, 6, METRICS_EXACT, 1e-3);
		ok(k.cross && k.n_folds == 2 && k.fold[0].label == (v ? 7 : 1) &&
		   k.fold[1].label == (v ? 30 : 2), "labels %s: two folds, labels kept",
		   v ? "7, 30" : "1, 2");
		ok(fabs(k.fold[0].threshold - 0.35) < 1e-15 &&
		   fabs(k.fold[1].threshold - 0.7) < 1e-15 &&
		   fabs(k.accuracy - 2.0 / 3) < 1e-15 && k.fold[0].n == 3, "labels %s: as folds 0 and 1",
		   v ? "7, 30" : "1, 2");
		metrics_kfold_free(&k);
	}

	const int nf[] = { -1, -1, -1, -1, -1, -1 };
	metrics_kfold(&k, s, y, nf, 6, METRICS_EXACT, 1e-3);
	ok(!k.cross && k.n_folds == 1, "no folds: one set, no cross-validation");
	is_near(k.fold[0].accuracy, 5.0 / 6, 0, "chosen and scored on all: 5/6");
	is_near(k.fold[0].threshold, 0.35, 1e-15, "threshold 0.35 (0.65 ties, larger)");
	metrics_kfold_free(&k);

	/* Fold 0 only same pairs, fold 1 only different: each threshold is
	 * learnt from the other class alone (accept all / reject all), so both
	 * folds score 0; VAL is undefined. */
	const int f2[] = { 0, 1, 1, 0, 0, 1 };
	const int y2[] = { 1, 0, 0, 1, 1, 0 };
	metrics_kfold(&k, s, y2, f2, 6, METRICS_EXACT, 1e-3);
	ok(!k.val_ok && !k.fold[0].val_ok, "fold without different pairs: no VAL");
	is_near(k.accuracy, 0.0, 0, "one-class folds: accuracy 0");
	ok(k.fold[0].threshold == 0.5 + 1.0 && k.fold[1].threshold == 0.4 - 1.0,
	   "thresholds: above the max, below the min");
	metrics_kfold_free(&k);
}

int main(void)
{
	test_roc();
	test_exact();
	test_grid();
	test_val();
	test_folds();
	test_kfold();
	return done_testing();
}
