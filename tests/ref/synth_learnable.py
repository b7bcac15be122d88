#!/usr/bin/python3
"""hm-synth identities are learnable but not trivially separable.

Renders small CASIA-shaped sets (30 identities x 10 images, default 10%
look-alikes) at difficulty 0, 0.5 (the default) and 1, aligns every image
to the insightface 112x112 template with its landmarks.txt (numpy Umeyama
fit + cv2.warpAffine, independent of hm-align), and trains a simple
classifier on 5 images per identity: PCA (whitened) + logistic regression
(scikit-learn) on 28x28 colour crops, tested on the other 5.  Expect:
  - difficulty 0: nearly every test image classified right (>= 0.9);
  - default difficulty: far above chance (>= 10x 1/30) yet not perfect (< 0.99);
  - accuracy falls with difficulty: d=0 > d=0.5 > d=1.
"""
import os
import subprocess
import sys

import cv2
import numpy as np
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression

import hmtest
from hmtest import ok

HM_SYNTH = os.path.join(hmtest.BIN, "hm-synth")
TEMPLATE = np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366],
                     [41.5493, 92.3655], [70.7299, 92.2041]])
IDS, PER = 30, 10


def similarity(src, dst):
    """Least-squares similarity src -> dst (Umeyama without reflection), 2x3."""
    ms, md = src.mean(0), dst.mean(0)
    s, d = src - ms, dst - md
    n = (s ** 2).sum()
    a = (s * d).sum() / n
    b = (s[:, 0] * d[:, 1] - s[:, 1] * d[:, 0]).sum() / n
    m = np.array([[a, -b, 0.0], [b, a, 0.0]])
    m[:, 2] = md - m[:, :2] @ ms
    return m


def accuracy(tmp, difficulty):
    out = os.path.join(tmp, "d%g" % difficulty)
    subprocess.run([HM_SYNTH, "--kind", "casia", "--identities", str(IDS),
                    "--images-per-id", str(PER), "--difficulty", str(difficulty),
                    "--seed", "3", "-q", "-o", out], check=True)
    x, y, k = [], [], []
    with open(os.path.join(out, "landmarks.txt")) as f:
        for line in f:
            fields = line.rstrip("\n").split("\t")
            # casia lines: path, class id, then the ten coordinates
            pts = np.array(fields[2:], dtype=float).reshape(5, 2)
            im = cv2.imread(os.path.join(out, fields[0]))
            crop = cv2.warpAffine(im, similarity(pts, TEMPLATE), (112, 112))
            small = cv2.resize(crop, (28, 28), interpolation=cv2.INTER_AREA)
            x.append(small.astype(np.float32).ravel() / 255)
            y.append(int(fields[1]))
            assert y[-1] == int(fields[0].split("/")[0]), "class id is the folder's rank"
            k.append(int(fields[0].split("/")[1].split(".")[0]))
    x, y, k = np.array(x), np.array(y), np.array(k)
    train, test = k <= PER // 2, k > PER // 2
    pca = PCA(40, whiten=True, random_state=0).fit(x[train])
    clf = LogisticRegression(C=0.1, max_iter=3000).fit(pca.transform(x[train]), y[train])
    return clf.score(pca.transform(x[test]), y[test])


def main():
    if not os.access(HM_SYNTH, os.X_OK):
        ok(False, "bin/hm-synth is built")
        return
    with hmtest.scratch_dir("synth-learn-") as tmp:
        acc = {d: accuracy(tmp, d) for d in (0, 0.5, 1)}
    chance = 1.0 / IDS
    print("# accuracy: d=0 %.3f, d=0.5 %.3f, d=1 %.3f (chance %.3f)"
          % (acc[0], acc[0.5], acc[1], chance))
    ok(acc[0] >= 0.9, "difficulty 0: identities learnable from 5 images (%.3f)" % acc[0])
    ok(acc[0.5] >= 10 * chance, "default difficulty: far above chance (%.3f vs %.3f)"
       % (acc[0.5], chance))
    ok(acc[0.5] < 0.99, "default difficulty: not trivially separable (%.3f)" % acc[0.5])
    ok(acc[0] > acc[0.5] > acc[1], "accuracy falls with difficulty (%.3f > %.3f > %.3f)"
       % (acc[0], acc[0.5], acc[1]))


main()
sys.exit(hmtest.done())
