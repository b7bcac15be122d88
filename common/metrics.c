/*
 * metrics: ROC, AUC, EER, TAR@FAR, k-fold accuracy and facenet VAL.  The
 * definitions, and the reference code each follows, are in metrics.h.
 */
#include "metrics.h"
#include "err.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* insightface's accuracy grid and facenet's VAL grid, as np.arange builds
 * them: element k is k * step (numpy fills start + k * (start + step - start)). */
#define GRID_ACC_N 400
#define GRID_ACC_STEP 0.01
#define GRID_VAL_N 4000
#define GRID_VAL_STEP 0.001

struct sp {
	double s;	/* score, or distance */
	int same;
};

static int cmp_up(const void *a, const void *b)
{
	double x = ((const struct sp *)a)->s, y = ((const struct sp *)b)->s;
	return (x > y) - (x < y);
}

static int cmp_double_up(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static int cmp_down(const void *a, const void *b)
{
	return cmp_up(b, a);
}

static int oom(void)
{
	return hm_error("out of memory");
}

/* N pairs into a fresh array; NULL when out of memory. */
static struct sp *pairs_of(const double *score, const int *same, long n)
{
	struct sp *p = malloc((size_t)(n ? n : 1) * sizeof *p);
	if (!p)
		return NULL;
	for (long i = 0; i < n; i++) {
		p[i].s = score[i];
		p[i].same = same[i] != 0;
	}
	return p;
}

/* The squared L2 distance of two unit vectors whose cosine is S. */
static double dist_of(double s)
{
	return 2.0 - 2.0 * s;
}

void metrics_roc_free(struct metrics_roc *r)
{
	free(r->threshold);
	free(r->fpr);
	free(r->tpr);
	memset(r, 0, sizeof *r);
}

int metrics_roc(struct metrics_roc *r, const double *score, const int *same, long n)
{
	memset(r, 0, sizeof *r);
	if (n < 1)
		return hm_error("no pairs");
	struct sp *p = pairs_of(score, same, n);
	if (!p)
		return oom();
	long n_same = 0;
	for (long i = 0; i < n; i++)
		n_same += p[i].same;
	if (n_same == 0 || n_same == n) {
		free(p);
		return hm_error("no %s pairs: the ROC needs both kinds",
				n_same ? "different" : "same");
	}
	qsort(p, (size_t)n, sizeof *p, cmp_down);
	size_t cap = (size_t)n + 1;
	r->threshold = malloc(cap * sizeof(double));
	r->fpr = malloc(cap * sizeof(double));
	r->tpr = malloc(cap * sizeof(double));
	if (!r->threshold || !r->fpr || !r->tpr) {
		free(p);
		metrics_roc_free(r);
		return oom();
	}
	r->n_same = n_same;
	r->n_diff = n - n_same;
	/* sklearn 1.2: thresholds = np.r_[thresholds[0] + 1, thresholds] */
	r->threshold[0] = p[0].s + 1.0;
	r->fpr[0] = r->tpr[0] = 0.0;
	long m = 1, tp = 0, fp = 0;
	for (long i = 0; i < n; i++) {
		tp += p[i].same;
		fp += !p[i].same;
		if (i + 1 < n && p[i + 1].s == p[i].s)
			continue;	/* tied scores make one point */
		r->threshold[m] = p[i].s;
		r->fpr[m] = (double)fp / (double)r->n_diff;
		r->tpr[m] = (double)tp / (double)r->n_same;
		m++;
	}
	r->n = m;
	free(p);
	return 0;
}

double metrics_auc(const struct metrics_roc *r)
{
	double area = 0.0;
	for (long i = 1; i < r->n; i++)
		area += (r->fpr[i] - r->fpr[i - 1]) * (r->tpr[i] + r->tpr[i - 1]) / 2.0;
	return area;
}

double metrics_eer(const struct metrics_roc *r, double *threshold)
{
	/* g = FNR - FPR falls from 1 at (0, 0) to -1 at (1, 1). */
	long i = 1;
	while (i < r->n - 1 && 1.0 - r->tpr[i] - r->fpr[i] > 0.0)
		i++;
	double g1 = 1.0 - r->tpr[i] - r->fpr[i];
	double g0 = 1.0 - r->tpr[i - 1] - r->fpr[i - 1];
	if (threshold)
		*threshold = r->threshold[i];
	if (g1 == 0.0)
		return r->fpr[i];
	double a = g0 / (g0 - g1);
	return r->fpr[i - 1] + a * (r->fpr[i] - r->fpr[i - 1]);
}

double metrics_tar_at_far(const struct metrics_roc *r, double far, double *threshold)
{
	/* The last point j with fpr[j] <= far; fpr[0] = 0 <= far. */
	long lo = 0, hi = r->n - 1;
	while (lo < hi) {
		long mid = lo + (hi - lo + 1) / 2;
		if (r->fpr[mid] <= far)
			lo = mid;
		else
			hi = mid - 1;
	}
	long j = lo;
	if (threshold)
		*threshold = r->threshold[j];
	if (j == r->n - 1 || r->fpr[j] == far)
		return r->tpr[j];
	/* numpy's interp: slope * (x - xp[j]) + fp[j] */
	double slope = (r->tpr[j + 1] - r->tpr[j]) / (r->fpr[j + 1] - r->fpr[j]);
	return slope * (far - r->fpr[j]) + r->tpr[j];
}

/* A threshold strictly above A and at most B (A < B). */
static double midpoint(double a, double b)
{
	double t = a + (b - a) / 2.0;
	return t > a ? t : b;
}

static double above(double u)
{
	double t = u + 1.0;
	return t > u ? t : nextafter(u, HUGE_VAL);
}

int metrics_best_exact(double *threshold, long *correct, const double *score,
		       const int *same, long n)
{
	struct sp *p = pairs_of(score, same, n);
	if (!p)
		return oom();
	qsort(p, (size_t)n, sizeof *p, cmp_up);
	long right = 0;
	for (long i = 0; i < n; i++)
		right += p[i].same;	/* threshold below all: every pair "same" */
	long best = right;
	double best_t = p[0].s - 1.0;
	for (long i = 0, j; i < n; i = j) {
		long d_same = 0, d_diff = 0;
		for (j = i; j < n && p[j].s == p[i].s; j++) {
			d_same += p[j].same;
			d_diff += !p[j].same;
		}
		/* The next threshold rejects this group of equal scores. */
		right += d_diff - d_same;
		if (right > best) {
			best = right;
			best_t = j < n ? midpoint(p[i].s, p[j].s) : above(p[i].s);
		}
	}
	free(p);
	*threshold = best_t;
	*correct = best;
	return 0;
}

int metrics_best_grid(double *threshold, long *correct, const double *score,
		      const int *same, long n)
{
	struct sp *p = pairs_of(score, same, n);
	if (!p)
		return oom();
	long n_diff = 0;
	for (long i = 0; i < n; i++) {
		p[i].s = dist_of(p[i].s);
		n_diff += !p[i].same;
	}
	qsort(p, (size_t)n, sizeof *p, cmp_up);
	long below = 0, same_below = 0, best = -1;
	double best_t = 0.0;
	for (int k = 0; k < GRID_ACC_N; k++) {
		double t = (double)k * GRID_ACC_STEP;
		for (; below < n && p[below].s < t; below++)
			same_below += p[below].same;
		long diff_below = below - same_below;
		long right = same_below + (n_diff - diff_below);
		if (right > best) {	/* np.argmax: the first best */
			best = right;
			best_t = t;
		}
	}
	free(p);
	*threshold = best_t;
	*correct = best;
	return 0;
}

int metrics_val_threshold(double *threshold, const double *score, const int *same,
			  long n, double far_target)
{
	long n_diff = 0;
	for (long i = 0; i < n; i++)
		n_diff += !same[i];
	double *d = malloc((size_t)(n_diff ? n_diff : 1) * sizeof *d);
	double *far = malloc(GRID_VAL_N * sizeof *far);
	if (!d || !far) {
		free(d);
		free(far);
		return oom();
	}
	for (long i = 0, m = 0; i < n; i++)
		if (!same[i])
			d[m++] = dist_of(score[i]);
	/* sort the different pairs' distances, then count those below each T */
	qsort(d, (size_t)n_diff, sizeof *d, cmp_double_up);
	long below = 0;
	for (int k = 0; k < GRID_VAL_N; k++) {
		double t = (double)k * GRID_VAL_STEP;
		while (below < n_diff && d[below] < t)
			below++;
		far[k] = (double)below / (double)n_diff;
	}
	free(d);
	double t = 0.0;
	if (far[GRID_VAL_N - 1] >= far_target && far_target >= far[0]) {
		/*
		 * scipy (0.19 to 1.8) interp1d(x, y, kind='slinear') built
		 * make_interp_spline(x, y, k=1): knots [x0, x..., xlast],
		 * coefficients y.  Evaluation takes the interval l with
		 * t[l] <= v < t[l+1] searching up from l = 1 (at most the last
		 * interval), i.e. j = l - 1 is the last index <= GRID_VAL_N - 2
		 * with x[j] <= v, and de Boor's degree-1 step on it; an empty
		 * interval (x[j] == x[j+1]) evaluates to 0.
		 */
		int j = 0;
		while (j + 1 < GRID_VAL_N - 1 && far[j + 1] <= far_target)
			j++;
		double xa = far[j], xb = far[j + 1];
		if (xb != xa) {
			double w = 1.0 / (xb - xa);
			double h0 = 0.0 + w * (xb - far_target);
			double h1 = w * (far_target - xa);
			t = 0.0 + ((double)j * GRID_VAL_STEP) * h0;
			t = t + ((double)(j + 1) * GRID_VAL_STEP) * h1;
		}
	}
	free(far);
	*threshold = t;
	return 0;
}

/* Marks the fold labels present in SEEN[METRICS_MAX_FOLDS]; returns how many
 * distinct ones (0 when every pair has -1), or -1 with the message recorded. */
static int fold_labels(char *seen, const int *fold, long n)
{
	if (n < 1)
		return hm_error("no pairs");
	int none = fold[0] == -1, k = 0;
	memset(seen, 0, METRICS_MAX_FOLDS);
	for (long i = 0; i < n; i++) {
		if ((fold[i] == -1) != none)
			return hm_error("pair %ld: fold %d, but pair 0 has fold %d: "
					"either every pair has a fold or none (-1)",
					i, fold[i], fold[0]);
		if (fold[i] < -1 || fold[i] >= METRICS_MAX_FOLDS)
			return hm_error("pair %ld: fold %d is outside -1..%d", i, fold[i],
					METRICS_MAX_FOLDS - 1);
		if (!none && !seen[fold[i]]) {
			seen[fold[i]] = 1;
			k++;
		}
	}
	return k;
}

int metrics_count_folds(const int *fold, long n)
{
	char seen[METRICS_MAX_FOLDS];
	return fold_labels(seen, fold, n);
}

void metrics_kfold_free(struct metrics_kfold *k)
{
	free(k->fold);
	memset(k, 0, sizeof *k);
}

/* Population mean and standard deviation of X[0..N-1]. */
static void mean_std(const double *x, int n, double *mean, double *std)
{
	double s = 0.0, v = 0.0;
	for (int i = 0; i < n; i++)
		s += x[i];
	s /= n;
	for (int i = 0; i < n; i++)
		v += (x[i] - s) * (x[i] - s);
	*mean = s;
	*std = sqrt(v / n);
}

/* One fold: choose on TRAIN (N_TRAIN pairs), score TEST (N_TEST pairs). */
static int one_fold(struct metrics_fold *f, const double *tr_s, const int *tr_y,
		    long n_train, const double *te_s, const int *te_y, long n_test,
		    enum metrics_protocol protocol, double val_far)
{
	long right = 0, tr_diff = 0;
	double t;
	int rc = protocol == METRICS_EXACT
			 ? metrics_best_exact(&t, &right, tr_s, tr_y, n_train)
			 : metrics_best_grid(&t, &right, tr_s, tr_y, n_train);
	if (rc)
		return -1;
	f->threshold = t;
	f->n = n_test;
	f->n_same = f->n_diff = 0;
	right = 0;
	long ta = 0, fa = 0;
	for (long i = 0; i < n_test; i++) {
		int pred = protocol == METRICS_EXACT ? te_s[i] >= t : dist_of(te_s[i]) < t;
		right += pred == (te_y[i] != 0);
		f->n_same += te_y[i] != 0;
	}
	f->n_diff = n_test - f->n_same;
	f->accuracy = (double)right / (double)n_test;

	for (long i = 0; i < n_train; i++)
		tr_diff += !tr_y[i];
	f->val_ok = tr_diff > 0 && f->n_same > 0 && f->n_diff > 0;
	f->val = f->far = f->val_threshold = 0.0;
	if (!f->val_ok)
		return 0;
	if (metrics_val_threshold(&t, tr_s, tr_y, n_train, val_far))
		return -1;
	for (long i = 0; i < n_test; i++) {
		if (dist_of(te_s[i]) < t) {
			ta += te_y[i] != 0;
			fa += !te_y[i];
		}
	}
	f->val_threshold = t;
	f->val = (double)ta / (double)f->n_same;
	f->far = (double)fa / (double)f->n_diff;
	return 0;
}

int metrics_kfold(struct metrics_kfold *k, const double *score, const int *same,
		  const int *fold, long n, enum metrics_protocol protocol,
		  double val_far)
{
	memset(k, 0, sizeof *k);
	char seen[METRICS_MAX_FOLDS];
	int n_folds = fold_labels(seen, fold, n);
	if (n_folds < 0)
		return -1;
	k->cross = n_folds >= 2;
	k->n_folds = k->cross ? n_folds : 1;
	k->fold = calloc((size_t)k->n_folds, sizeof *k->fold);
	/* Fold labels in increasing order: the K-th one is fold index K. */
	int label[METRICS_MAX_FOLDS], n_label = 0;
	for (int v = 0; v < METRICS_MAX_FOLDS; v++)
		if (seen[v])
			label[n_label++] = v;
	int *pos = malloc((size_t)METRICS_MAX_FOLDS * sizeof *pos);
	if (pos)
		for (int j = 0; j < n_label; j++)
			pos[label[j]] = j;
	double *tr_s = malloc((size_t)n * sizeof *tr_s);
	double *te_s = malloc((size_t)n * sizeof *te_s);
	int *tr_y = malloc((size_t)n * sizeof *tr_y);
	int *te_y = malloc((size_t)n * sizeof *te_y);
	double *acc = malloc((size_t)k->n_folds * sizeof *acc);
	double *val = malloc((size_t)k->n_folds * sizeof *val);
	int rc = 0;
	if (!k->fold || !tr_s || !te_s || !tr_y || !te_y || !acc || !val || !pos) {
		rc = oom();
		goto out;
	}
	double thr_sum = 0.0, far_sum = 0.0;
	k->val_ok = 1;
	for (int f = 0; f < k->n_folds; f++) {
		long n_tr = 0, n_te = 0;
		for (long i = 0; i < n; i++) {
			int in_f = k->cross && pos[fold[i]] == f;
			if (!k->cross || !in_f) {
				tr_s[n_tr] = score[i];
				tr_y[n_tr++] = same[i];
			}
			if (!k->cross || in_f) {
				te_s[n_te] = score[i];
				te_y[n_te++] = same[i];
			}
		}
		struct metrics_fold *mf = &k->fold[f];
		if (one_fold(mf, tr_s, tr_y, n_tr, te_s, te_y, n_te, protocol, val_far)) {
			rc = -1;
			goto out;
		}
		mf->label = k->cross ? label[f] : -1;
		acc[f] = mf->accuracy;
		val[f] = mf->val;
		thr_sum += mf->threshold;
		far_sum += mf->far;
		k->val_ok &= mf->val_ok;
	}
	mean_std(acc, k->n_folds, &k->accuracy, &k->accuracy_std);
	k->threshold_mean = thr_sum / k->n_folds;
	if (k->val_ok) {
		mean_std(val, k->n_folds, &k->val, &k->val_std);
		k->far = far_sum / k->n_folds;
	}
out:
	free(pos);
	free(tr_s);
	free(te_s);
	free(tr_y);
	free(te_y);
	free(acc);
	free(val);
	if (rc)
		metrics_kfold_free(k);
	return rc;
}
