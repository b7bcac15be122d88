#!/usr/bin/python3
"""OpenCV side of the hm-align row of bench/run.sh (make bench), and its test data.

  align_opencv.py --make DIR N [--large]
                                 writes N 250x250 JPEG faces (DIR/img/pNNNN/NNNNNN.jpg,
                                 quality 90, as LFW) and DIR/landmarks.txt (plain format,
                                 LFW-like 5-point landmarks); --large: 1000x1000 photos
                                 with one face about 150 px across, anywhere in the frame
  align_opencv.py --run DIR [R] [--umeyama] [--raw]
                                 aligns them on one thread, R times (default 3), and
                                 prints the median images/s; --raw: no JPEG encode, the
                                 pixels are written as they are (hm-align --encoding raw)

The OpenCV chain per image: read the file, cv2.imdecode, the similarity by
cv2.estimateAffinePartial2D (about 50 us; a numpy Umeyama as insightface's
estimate_norm costs about 250 us here, so OpenCV's own is the fairer baseline;
--umeyama selects it), cv2.warpAffine to 112x112 (INTER_LINEAR, black border),
cv2.imencode JPEG quality 95, write the bytes to /dev/null: the same work as
`hm-align --root DIR/img DIR/landmarks.txt >/dev/null`.  The whole image is
decoded, as users' scripts do (cv2.imread or cv2.imdecode), whatever its size.
"""
import os
import sys
import time

import cv2
import numpy as np

ARCFACE = np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366],
                    [41.5493, 92.3655], [70.7299, 92.2041]])
# mean of data/lfw_landmark.txt, rounded
LFW_MEAN = np.array([[107.0, 114.0], [145.0, 114.0], [126.0, 137.0], [109.0, 158.0],
                     [142.0, 158.0]])


def make(d, n, large=False):
    rng = np.random.default_rng(1)
    side = 1000 if large else 250
    lines = []
    for i in range(n):
        # smooth background, a skin-toned ellipse, eyes, mouth, mild noise
        bg = cv2.resize(rng.integers(0, 256, (6, 6, 3), dtype=np.uint8), (side, side),
                        interpolation=cv2.INTER_CUBIC)
        ang = rng.uniform(-0.25, 0.25)
        sc = rng.uniform(0.85, 1.15)
        c = LFW_MEAN.mean(0) + rng.normal(0, 4, 2)
        if large:
            # a photo: some mid-scale detail over the background, and the
            # face (the ellipse is 124 px wide at scale 1) 150 px across
            detail = cv2.resize(rng.integers(0, 64, (60, 60, 3), dtype=np.uint8),
                                (side, side), interpolation=cv2.INTER_LINEAR)
            bg = cv2.add(cv2.multiply(bg, 0.8), detail)
            sc *= 150 / 124
            c = rng.uniform(150, side - 150, 2)
        R = sc * np.array([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]])
        lm = (LFW_MEAN - LFW_MEAN.mean(0)) @ R.T + c + rng.normal(0, 1.5, (5, 2))
        skin = tuple(int(v) for v in rng.integers(90, 230, 3))
        centre = tuple(int(v) for v in lm[2])
        cv2.ellipse(bg, centre, (int(62 * sc), int(80 * sc)), np.degrees(ang), 0, 360, skin, -1)
        for k in (0, 1):
            cv2.circle(bg, tuple(int(v) for v in lm[k]), 6, (40, 30, 30), -1)
        cv2.line(bg, tuple(int(v) for v in lm[3]), tuple(int(v) for v in lm[4]), (60, 40, 120), 4)
        im = cv2.GaussianBlur(bg, (5, 5), 1.2).astype(np.float32)
        im += rng.normal(0, 3, im.shape)
        im = np.clip(im, 0, 255).astype(np.uint8)
        rel = "p%02d/%06d.jpg" % (i // 100, i)
        os.makedirs(os.path.join(d, "img", os.path.dirname(rel)), exist_ok=True)
        cv2.imwrite(os.path.join(d, "img", rel), im, [cv2.IMWRITE_JPEG_QUALITY, 90])
        lines.append(rel + "\t" + "\t".join("%.2f" % v for v in lm.ravel()))
    with open(os.path.join(d, "landmarks.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")


def umeyama(src, dst):
    n = src.shape[0]
    ms, md = src.mean(0), dst.mean(0)
    sc, dc = src - ms, dst - md
    A = dc.T @ sc / n
    sign = np.ones(2)
    if np.linalg.det(A) < 0:
        sign[-1] = -1
    U, S, Vt = np.linalg.svd(A)
    R = U @ np.diag(sign) @ Vt
    scale = (S * sign).sum() / sc.var(0).sum()
    M = np.empty((2, 3))
    M[:, :2] = scale * R
    M[:, 2] = md - scale * R @ ms
    return M


def run(d, repeats, fit, raw=False):
    cv2.setNumThreads(1)
    items = []
    with open(os.path.join(d, "landmarks.txt")) as f:
        for line in f:
            v = line.split("\t")
            items.append((os.path.join(d, "img", v[0]),
                          np.array([float(x) for x in v[1:]]).reshape(5, 2)))
    rates = []
    with open(os.devnull, "wb") as sink:
        for _ in range(repeats):
            t = time.perf_counter()
            for path, lm in items:
                with open(path, "rb") as f:
                    buf = np.frombuffer(f.read(), np.uint8)
                img = cv2.imdecode(buf, cv2.IMREAD_COLOR)
                M = fit(lm)
                face = cv2.warpAffine(img, M, (112, 112), flags=cv2.INTER_LINEAR,
                                      borderValue=0)
                if raw:
                    sink.write(face.tobytes())
                else:
                    ok, enc = cv2.imencode(".jpg", face, [cv2.IMWRITE_JPEG_QUALITY, 95])
                    sink.write(enc.tobytes())
            rates.append(len(items) / (time.perf_counter() - t))
    print("%.1f" % sorted(rates)[len(rates) // 2])


if __name__ == "__main__":
    flags = {a for a in sys.argv[2:] if a.startswith("--")}
    args = [a for a in sys.argv[2:] if not a.startswith("--")]
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "--make" and len(args) == 2 and flags <= {"--large"}:
        make(args[0], int(args[1]), "--large" in flags)
    elif cmd == "--run" and 1 <= len(args) <= 2 and flags <= {"--umeyama", "--raw"}:
        if "--umeyama" in flags:
            fit = lambda lm: umeyama(lm, ARCFACE)
        else:
            fit = lambda lm: cv2.estimateAffinePartial2D(lm, ARCFACE)[0]
        run(args[0], int(args[1]) if len(args) > 1 else 3, fit, "--raw" in flags)
    else:
        sys.exit("usage: align_opencv.py --make DIR N [--large] | "
                 "--run DIR [REPEATS] [--umeyama] [--raw]")
