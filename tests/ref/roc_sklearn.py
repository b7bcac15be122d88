#!/usr/bin/python3
"""hm-roc's ROC, AUC, EER and TAR@FAR against scikit-learn and numpy.

The same score files go to hm-roc (--roc points, --json summary) and to
sklearn.metrics.roc_curve(drop_intermediate=False) / roc_auc_score:
  - every ROC point (threshold, FPR, TPR) equal, tied scores included; the
    first threshold is sklearn 1.2's max + 1 (later sklearn writes inf);
  - AUC equal to roc_auc_score within 1e-9;
  - EER equal within 1e-9 to the root of 1 - x = interp(x, FPR, TPR) found
    with scipy's brentq, and TAR@FAR equal to np.interp(far, FPR, TPR);
  - several files in one run are several curves, named by --label.
"""
import csv
import json
import os
import sys

import numpy as np
from scipy.optimize import brentq
from sklearn.metrics import roc_auc_score, roc_curve

import hmtest
from hmtest import ok

HM_ROC = os.path.join(hmtest.BIN, "hm-roc")


def write_scores(path, same, score, fold=None):
    with open(path, "w") as f:
        f.write("fold,same,score,a,b\n")
        for i, (y, s) in enumerate(zip(same, score)):
            f.write("%d,%d,%s,x%d,y%d\n" % (-1 if fold is None else fold[i], y,
                                             repr(float(s)), i, i))


def score_sets(rng):
    sets = []
    # continuous scores, LFW-sized, 10 folds
    y = np.tile(np.r_[np.ones(300, int), np.zeros(300, int)], 10)
    s = np.where(y == 1, rng.normal(0.5, 0.2, y.size), rng.normal(0.0, 0.2, y.size))
    sets.append(("continuous", y, s, np.arange(y.size) // 600))
    # heavy ties: two decimals
    sets.append(("ties_2dp", y, np.round(s, 2), np.arange(y.size) // 600))
    # ties across classes: five values only, no folds
    y2 = rng.integers(0, 2, 300)
    s2 = np.array([-0.5, 0.0, 0.25, 0.5, 1.0])[np.clip(y2 * 2 + rng.integers(0, 3, 300), 0, 4)]
    sets.append(("five_values", y2, s2, None))
    # every score equal: one point besides (0, 0)
    sets.append(("all_tied", np.r_[np.ones(5, int), np.zeros(7, int)], np.full(12, 0.3), None))
    # tiny hand set: 4 pairs, one tie across classes
    sets.append(("tiny", np.array([1, 0, 1, 0]), np.array([0.9, 0.5, 0.5, 0.1]), None))
    # imbalanced, many negatives (TAR at small FAR matters)
    y3 = np.r_[np.ones(200, int), np.zeros(5000, int)]
    s3 = np.where(y3 == 1, rng.normal(0.6, 0.15, y3.size),
                  rng.normal(0.0, 0.2, y3.size))
    sets.append(("imbalanced", y3, np.round(s3, 3), None))
    return sets


def run(args):
    return hmtest.capture([HM_ROC] + args, text=True)


def main():
    rng = np.random.default_rng(7)
    with hmtest.scratch_dir("roc_sk.", parent=os.path.join(hmtest.ROOT, "tests")) as tmp:
        sets = score_sets(rng)
        files, args = [], ["--json", "--far", "1e-3,1e-2,0.1,0.3",
                           "--roc", os.path.join(tmp, "roc.csv")]
        for name, y, s, f in sets:
            path = os.path.join(tmp, name + ".csv")
            write_scores(path, y, s, f)
            files.append(path)
            args += ["--label", name]
        rc, out, err = run(args + files)
        ok(rc == 0, "hm-roc ran on %d files" % len(files), err)
        if rc:
            return 1
        summary = {c["label"]: c for c in json.loads(out)["curves"]}
        ok(list(summary) == [s[0] for s in sets], "one curve per file, in order, labelled")
        with open(os.path.join(tmp, "roc.csv")) as f:
            rows = list(csv.reader(f))
        ok(rows[0] == ["curve", "threshold", "fpr", "tpr"], "--roc header")
        points = {}
        for r in rows[1:]:
            points.setdefault(r[0], []).append([float(v) for v in r[1:]])
        for name, y, s, _ in sets:
            s = np.array([float(repr(float(v))) for v in s])
            fpr, tpr, thr = roc_curve(y, s, drop_intermediate=False)
            got = np.array(points.get(name, []))
            if got.shape != (len(fpr), 3):
                ok(False, "%s: %d ROC points like sklearn" % (name, len(fpr)),
                   "got shape %s" % (got.shape,))
                continue
            ok(np.array_equal(got[:, 1], fpr) and np.array_equal(got[:, 2], tpr),
               "%s: %d ROC points (FPR, TPR) equal to sklearn's" % (name, len(fpr)),
               "got %s\nsk  %s" % (got[:8].tolist(), list(zip(fpr[:8], tpr[:8]))))
            first_ok = thr[0] == got[0, 0] or (np.isinf(thr[0]) and got[0, 0] == s.max() + 1)
            ok(first_ok and np.array_equal(got[1:, 0], thr[1:]),
               "%s: thresholds equal to sklearn's (first = max + 1)" % name,
               "got %s\nsk  %s" % (got[:5, 0], thr[:5]))
            auc = roc_auc_score(y, s)
            c = summary[name]
            ok(abs(c["auc"] - auc) <= 1e-9, "%s: AUC %.12f equal to roc_auc_score" % (name, auc),
               "got %r, sklearn %r" % (c["auc"], auc))
            eer = brentq(lambda x: 1.0 - x - np.interp(x, fpr, tpr), 0.0, 1.0,
                         xtol=1e-14)
            ok(abs(c["eer"] - eer) <= 1e-9, "%s: EER %.9f" % (name, eer),
               "got %r, brentq %r" % (c["eer"], eer))
            # FARs below 1 / (different pairs) are not resolvable: null
            n_diff = int((np.asarray(y) == 0).sum())
            fars = (1e-3, 1e-2, 0.1, 0.3)
            res = [f * n_diff >= 1 for f in fars]
            ok(c["far_resolution"] == 1 / n_diff,
               "%s: far_resolution 1/%d" % (name, n_diff), repr(c["far_resolution"]))
            tars = [t["tar"] for t in c["tar"]]
            ok([t is not None for t in tars] == res,
               "%s: TAR null exactly where FAR < 1/%d" % (name, n_diff), repr(tars))
            want = [float(np.interp(f, fpr, tpr)) for f in fars]
            pick = [i for i in range(len(fars)) if res[i] and tars[i] is not None]
            ok(np.allclose([tars[i] for i in pick], [want[i] for i in pick], rtol=0,
                           atol=1e-12),
               "%s: TAR@FAR = np.interp on the ROC" % name, "got %s\nnp  %s" % (tars, want))
            # the TAR threshold: the last point with FPR <= target
            th = [t["threshold"] for t in c["tar"]]
            want_th = [thr[np.nonzero(fpr <= f)[0][-1]] for f in fars]
            want_th = [(s.max() + 1 if np.isinf(v) else v) if r else None
                       for v, r in zip(want_th, res)]
            ok(th == want_th, "%s: TAR thresholds are the last point with FPR <= FAR" % name,
               "got %s\nwant %s" % (th, want_th))
        # one class only: no ROC, a clean error naming the file
        path = os.path.join(tmp, "one_class.csv")
        write_scores(path, np.ones(4, int), np.array([0.1, 0.2, 0.3, 0.4]))
        rc, out, err = run([path])
        ok(rc == 1 and out == "" and "one_class.csv" in err and "no different pairs" in err,
           "only same pairs: exit 1 naming the file", "rc %d, err %r" % (rc, err))
    return hmtest.done()


if __name__ == "__main__":
    sys.exit(main())
