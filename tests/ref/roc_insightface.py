#!/usr/bin/python3
"""hm-roc's fold measures against independent numpy implementations.

Written here from hm-roc(1) and the reference code named below, not from
common/metrics.c:
  - insightface's calculate_roc/calculate_accuracy (recognition/.../
    verification.py): squared distance d = 2 - 2*cos, thresholds
    np.arange(0, 4, 0.01), "same" when d < threshold, best = np.argmax of the
    training accuracy (the first best), folds by sklearn KFold without shuffle
    (LFold(1) = train on all, test on all, when there are no folds);
  - hm-roc's default exact search as hm-roc(1) defines it, by brute force over
    every candidate threshold;
  - facenet's calculate_val (src/facenet.py): FAR on the training folds over
    np.arange(0, 4, 0.001), interp1d(far, thresholds, kind='slinear') as
    scipy 0.19-1.8 built it (a degree-1 B-spline on knots [x0, x..., xlast];
    newer scipy refuses the repeated FAR values, so the spline is built here
    with BSpline.construct_fast, which is what that interp1d did), VAL and FAR
    on the test fold, mean / population std.
Per-fold accuracies, thresholds, VAL and FAR must be identical (==); means
and standard deviations agree to 1e-12.  Score sets include ties, grid
ties, uneven and interleaved folds, and degenerate folds (all same, all
different, a single pair).
"""
import json
import os
import sys

import numpy as np
from scipy.interpolate import BSpline
from sklearn.model_selection import KFold

import hmtest
from hmtest import ok

HM_ROC = os.path.join(hmtest.BIN, "hm-roc")


def write_scores(path, fold, same, score):
    with open(path, "w") as f:
        f.write("fold,same,score,a,b\n")
        for i, (k, y, s) in enumerate(zip(fold, same, score)):
            f.write("%d,%d,%s,a%d,b%d\n" % (k, y, repr(float(s)), i, i))


def splits(fold):
    """(train, test) index arrays per fold, as the reference codes loop."""
    fold = np.asarray(fold)
    idx = np.arange(len(fold))
    k = fold.max() + 1
    if k <= 1:                      # LFold(n_splits=1): [(indices, indices)]
        return [(idx, idx)]
    return [(idx[fold != f], idx[fold == f]) for f in range(k)]


# --- insightface (verification.py), over a fold column ---
def if_accuracy(threshold, dist, issame):
    predict = np.less(dist, threshold)
    tp = np.sum(np.logical_and(predict, issame))
    tn = np.sum(np.logical_and(np.logical_not(predict), np.logical_not(issame)))
    return float(tp + tn) / dist.size


def ref_insightface(fold, same, score):
    thresholds = np.arange(0, 4, 0.01)
    dist = 2.0 - 2.0 * np.asarray(score, dtype=np.float64)
    issame = np.asarray(same, dtype=bool)
    acc, thr = [], []
    for train, test in splits(fold):
        # calculate_accuracy for every threshold at once (one row each)
        predict = np.less(dist[train][None, :], thresholds[:, None])
        y = issame[train][None, :]
        acc_train = ((predict & y).sum(1) + (~predict & ~y).sum(1)) / len(train)
        best = np.argmax(acc_train)
        acc.append(if_accuracy(thresholds[best], dist[test], issame[test]))
        thr.append(thresholds[best])
    return acc, thr


# --- exact search, brute force over the candidate list of hm-roc(1) ---
def candidates(s):
    u = np.unique(s)
    mids = []
    for a, b in zip(u[:-1], u[1:]):
        t = a + (b - a) / 2.0
        mids.append(t if t > a else b)
    return np.array([u[0] - 1.0] + mids + [u[-1] + 1.0])


def ref_exact(fold, same, score):
    score = np.asarray(score, dtype=np.float64)
    issame = np.asarray(same, dtype=bool)
    acc, thr = [], []
    for train, test in splits(fold):
        c = candidates(score[train])
        pred = score[train][None, :] >= c[:, None]
        right = (pred == issame[train][None, :]).sum(1)
        t = c[np.argmax(right)]          # candidates ascend: smallest best
        acc.append(float(((score[test] >= t) == issame[test]).sum()) / len(test))
        thr.append(t)
    return acc, thr


# --- facenet calculate_val ---
def slinear(x, y, v):
    """scipy <= 1.8 interp1d(x, y, kind='slinear')(v) for sorted x."""
    if v < x[0] or v > x[-1]:
        raise ValueError("out of bounds")   # interp1d's bounds_error
    spline = BSpline.construct_fast(np.r_[x[0], x, x[-1]], np.asarray(y), 1)
    return float(spline(v))


def ref_val(fold, same, score, far_target):
    thresholds = np.arange(0, 4, 0.001)
    dist = 2.0 - 2.0 * np.asarray(score, dtype=np.float64)
    issame = np.asarray(same, dtype=bool)
    out = []
    for train, test in splits(fold):
        if (~issame[train]).sum() == 0 or issame[test].sum() == 0 or \
                (~issame[test]).sum() == 0:
            out.append(None)
            continue
        d, y = dist[train], issame[train]
        # calculate_val_far for every threshold at once (one row each)
        far_train = (np.less(d[None, :], thresholds[:, None]) & ~y).sum(1) \
            / float(np.sum(~y))
        if np.max(far_train) >= far_target:
            try:
                t = slinear(far_train, thresholds, far_target)
            except ValueError:
                t = 0.0      # hm-roc(1): facenet raises here; hm-roc uses 0
        else:
            t = 0.0
        p = np.less(dist[test], t)
        val = float(np.sum(p & issame[test])) / float(np.sum(issame[test]))
        far = float(np.sum(p & ~issame[test])) / float(np.sum(~issame[test]))
        out.append((val, far, t))
    return out


def run_roc(path, protocol, val_far=1e-3):
    rc, out, err = hmtest.capture([HM_ROC, "--json", "--protocol", protocol,
                                   "--val-far", repr(val_far), path], text=True)
    if rc:
        return None, err
    return json.loads(out)["curves"][0], err


def check(name, fold, same, score, tmp, val_far=1e-3):
    path = os.path.join(tmp, name + ".csv")
    write_scores(path, fold, same, score)
    # written with repr(): the file holds exactly these doubles
    score = np.array([float(repr(float(s))) for s in score])
    for protocol, ref in (("insightface", ref_insightface), ("exact", ref_exact)):
        got, err = run_roc(path, protocol, val_far)
        if got is None:
            ok(False, "%s %s: hm-roc ran" % (name, protocol), err)
            continue
        acc, thr = ref(fold, same, score)
        g_acc = [f["accuracy"] for f in got["fold_results"]]
        g_thr = [f["threshold"] for f in got["fold_results"]]
        ok(g_acc == acc, "%s %s: per-fold accuracies identical (%d folds)"
           % (name, protocol, len(acc)), "got %s\nref %s" % (g_acc, acc))
        ok(g_thr == [float(t) for t in thr],
           "%s %s: per-fold thresholds identical" % (name, protocol),
           "got %s\nref %s" % (g_thr, thr))
        ok(abs(got["accuracy"] - np.mean(acc)) <= 1e-12 and
           abs(got["accuracy_std"] - np.std(acc)) <= 1e-12,
           "%s %s: mean %.6f and population std %.6f"
           % (name, protocol, np.mean(acc), np.std(acc)),
           "got %r +- %r" % (got["accuracy"], got["accuracy_std"]))
    # VAL (same for both protocols)
    ref = ref_val(fold, same, score, val_far)
    g = [(f["val"], f["far"], f["val_threshold"]) for f in got["fold_results"]]
    r = [None if x is None else x for x in ref]
    g2 = [None if v[0] is None else v for v in g]
    ok(g2 == r, "%s: facenet VAL, FAR and threshold per fold identical" % name,
       "got %s\nref %s" % (g2, r))
    if all(x is not None for x in ref):
        vals = [x[0] for x in ref]
        ok(abs(got["val"] - np.mean(vals)) <= 1e-12 and
           abs(got["val_std"] - np.std(vals)) <= 1e-12 and
           abs(got["val_far"] - np.mean([x[1] for x in ref])) <= 1e-12,
           "%s: VAL %.4f +- %.4f" % (name, np.mean(vals), np.std(vals)),
           "got %r +- %r" % (got["val"], got["val_std"]))
    else:
        ok(got["val"] is None, "%s: VAL null when a fold lacks a class" % name)


def main():
    rng = np.random.default_rng(20261127)
    with hmtest.scratch_dir("roc_if.", parent=os.path.join(hmtest.ROOT, "tests")) as tmp:
        # 1. LFW-like: 6000 pairs, 10 folds of 600 by position = KFold(10).
        n = 6000
        same = np.tile(np.r_[np.ones(300, int), np.zeros(300, int)], 10)
        score = np.where(same == 1, rng.normal(0.55, 0.15, n),
                         rng.normal(0.05, 0.15, n))
        fold = np.zeros(n, int)
        for f, (_, test) in enumerate(KFold(10, shuffle=False).split(np.arange(n))):
            fold[test] = f
        ok((fold == np.arange(n) // 600).all(),
           "KFold(10) on 6000 pairs is fold = i // 600 (LFW by position)")
        check("lfw_like", fold, same, score, tmp)

        # 2. Rounded to 2 decimals: many ties, distances on the grid.
        check("ties2", fold, same, np.round(score, 2), tmp)

        # 3. Three distinct scores only; KFold(7) on 1003 pairs (uneven).
        n = 1003
        same3 = rng.integers(0, 2, n)
        score3 = np.array([0.1, 0.2, 0.3])[np.clip(same3 + rng.integers(0, 2, n), 0, 2)]
        fold3 = np.zeros(n, int)
        for f, (_, test) in enumerate(KFold(7, shuffle=False).split(np.arange(n))):
            fold3[test] = f
        check("three_values_kfold7", fold3, same3, score3, tmp)

        # 4. Degenerate folds: fold 0 all same, fold 1 all different, fold 2
        #    one pair, fold 3 interleaved with fold 4.
        s4, y4, f4 = [], [], []
        for i in range(40):
            s4.append(rng.normal(0.6, 0.2)); y4.append(1); f4.append(0)
        for i in range(40):
            s4.append(rng.normal(0.0, 0.2)); y4.append(0); f4.append(1)
        s4.append(0.4); y4.append(1); f4.append(2)
        for i in range(200):
            y = int(rng.integers(0, 2))
            s4.append(round(rng.normal(0.5 if y else 0.1, 0.25), 3))
            y4.append(y); f4.append(3 + i % 2)
        check("degenerate_folds", np.array(f4), np.array(y4), np.array(s4), tmp)

        # 5. No folds: one threshold on all pairs (insightface's LFold(1)).
        n = 500
        y5 = rng.integers(0, 2, n)
        s5 = np.round(np.where(y5 == 1, rng.normal(0.5, 0.3, n),
                               rng.normal(0.0, 0.3, n)), 2)
        check("no_folds", -np.ones(n, int), y5, s5, tmp)

        # 6. Scores at and beyond the ends of the grid (cos near +-1),
        #    with VAL at FAR 1e-2 so the interpolation meets several values.
        n = 800
        y6 = rng.integers(0, 2, n)
        s6 = np.clip(np.where(y6 == 1, rng.normal(0.9, 0.2, n),
                              rng.normal(-0.6, 0.5, n)), -1.0, 1.0)
        s6[:10] = 1.0
        s6[10:20] = -1.0
        f6 = np.arange(n) // 80
        check("grid_ends", f6, y6, s6, tmp, val_far=1e-2)

        # 7. Perfectly separable scores: every fold 100%, FAR 0.
        n = 600
        y7 = np.tile([1, 0], n // 2)
        s7 = np.where(y7 == 1, 0.8, 0.1) + rng.normal(0, 0.01, n)
        check("separable", np.arange(n) // 60, y7, s7, tmp)

        # 8. FAR target met exactly on the training folds: 1000 different
        #    pairs in each training part, target 0.01 = 10 / 1000.
        y8 = np.tile(np.r_[np.ones(100, int), np.zeros(1000, int)], 2)
        s8 = np.where(y8 == 1, rng.normal(0.6, 0.2, len(y8)),
                      rng.normal(0.0, 0.2, len(y8)))
        check("far_hit", np.repeat([0, 1], 1100), y8, s8, tmp, val_far=0.01)
    return hmtest.done()


if __name__ == "__main__":
    sys.exit(main())
