#!/usr/bin/python3
"""hm-align against numpy + OpenCV.

Faces with known landmarks are moved by random similarity transforms
(cv2.warpAffine); for each moved image:
  - the transform hm-align fits (printed by tests/ref/align-driver) maps the
    moved landmarks onto the template within 0.01 px, and equals a numpy
    Umeyama fit (SVD form, as skimage's SimilarityTransform) on noisy points;
  - hm-align's raw output equals cv2.warpAffine(INTER_LINEAR, borderValue=0)
    with the numpy matrix within 1 grey level mean absolute difference, for
    RGB and grey, the insightface and sphereface templates and a 128x128
    size, from lossless PPM and from JPEG inputs;
  - from JPEG, the default region decode (--decode region) gives the same
    bytes as --decode full, here and on 1000x1000 photos with large faces
    anywhere (edges included), where --decode scaled decodes at 1/2 or 1/4:
    its difference from cv2.warpAffine on the full decode is measured and
    held to a loose bound (it is not the same computation; see hm-align(1)).
"""
import os
import subprocess
import sys

import cv2
import numpy as np

import hmtest
from hmtest import ok

HM_ALIGN = os.path.join(hmtest.BIN, "hm-align")
DRIVER = os.path.join(hmtest.DRIVERS, "align-driver")

ARCFACE = np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366],
                    [41.5493, 92.3655], [70.7299, 92.2041]])
SPHEREFACE = np.array([[30.2946, 51.6963], [65.5318, 51.5014], [48.0252, 71.7366],
                       [33.5493, 92.3655], [62.7299, 92.2041]])


def umeyama(src, dst):
    """Umeyama 1991 with scaling, SVD form (skimage's _umeyama)."""
    n, d = src.shape
    ms, md = src.mean(0), dst.mean(0)
    sc, dc = src - ms, dst - md
    A = dc.T @ sc / n
    sign = np.ones(d)
    if np.linalg.det(A) < 0:
        sign[-1] = -1
    U, S, Vt = np.linalg.svd(A)
    R = U @ np.diag(sign) @ Vt
    scale = (S * sign).sum() / sc.var(0).sum()
    M = np.zeros((2, 3))
    M[:, :2] = scale * R
    M[:, 2] = md - scale * R @ ms
    return M


def make_face(rng):
    """A 250x250 RGB 'face': smooth colour field, some hard edges, five dots."""
    base = rng.integers(0, 256, (9, 9, 3), dtype=np.uint8)
    im = cv2.resize(base, (250, 250), interpolation=cv2.INTER_CUBIC)
    for _ in range(6):
        p = tuple(int(v) for v in rng.integers(30, 220, 2))
        cv2.circle(im, p, int(rng.integers(5, 30)), tuple(int(v) for v in rng.integers(0, 256, 3)), -1)
    # landmarks: the template itself, scaled and placed like an LFW face, so
    # every moved copy is an exact similarity image of the template
    lm = ARCFACE * 1.15 + [61.0, 50.0]
    for x, y in lm:
        cv2.circle(im, (int(x), int(y)), 3, (255, 255, 255), -1)
    return im, lm


def main():
    if not os.access(HM_ALIGN, os.X_OK) or not os.access(DRIVER, os.X_OK):
        return hmtest.bail_out("build first: make bin/hm-align tests/ref/align-driver")
    rng = np.random.default_rng(2024)
    with hmtest.scratch_dir("align_opencv.") as tmp:
        return run(rng, tmp)


def run(rng, tmp):
    n = 24
    faces, exact_lm, noisy_lm, names = [], [], [], []
    for i in range(n):
        face, lm = make_face(rng)
        ang = rng.uniform(-0.6, 0.6)
        sc = rng.uniform(0.6, 1.5)
        c = np.array([125.0, 125.0])
        R = sc * np.array([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]])
        t = c - R @ c + rng.uniform(-30, 30, 2)
        T = np.hstack([R, t[:, None]])
        moved = cv2.warpAffine(face, T, (250, 250), flags=cv2.INTER_LINEAR, borderValue=0)
        lm2 = lm @ R.T + t
        faces.append(moved)
        exact_lm.append(lm2)
        noisy_lm.append(lm2 + rng.normal(0, 2.0, lm2.shape))
        name = "f%02d" % i
        names.append(name)
        # PPM holds RGB; cv2 writes BGR, so flip
        cv2.imwrite(os.path.join(tmp, name + ".ppm"), moved[:, :, ::-1])
        cv2.imwrite(os.path.join(tmp, name + ".jpg"), moved[:, :, ::-1],
                    [cv2.IMWRITE_JPEG_QUALITY, 92])

    def write_lm(path, lms, ext):
        with open(path, "w") as f:
            for name, lm in zip(names, lms):
                f.write(name + ext + "\t" + "\t".join("%.6f" % v for v in lm.ravel()) + "\n")

    write_lm(os.path.join(tmp, "exact.txt"), exact_lm, ".ppm")
    write_lm(os.path.join(tmp, "noisy.txt"), noisy_lm, ".ppm")
    write_lm(os.path.join(tmp, "noisy_jpg.txt"), noisy_lm, ".jpg")
    # what the tool reads back: float32 landmarks
    exact32 = [lm.astype(np.float32).astype(float) for lm in
               [np.array([float("%.6f" % v) for v in lm.ravel()]).reshape(5, 2) for lm in exact_lm]]
    noisy32 = [np.array([float("%.6f" % v) for v in lm.ravel()]).reshape(5, 2)
               .astype(np.float32).astype(float) for lm in noisy_lm]

    def driver(template, size, lmfile):
        out = subprocess.run([DRIVER, template, size, os.path.join(tmp, lmfile)],
                             capture_output=True, text=True, check=True).stdout.split("\n")
        ms = [np.array([float(v) for v in line.split()]).reshape(2, 3) for line in out[:n]]
        tpl = np.array([float(v) for v in out[n].split()[1:]]).reshape(5, 2)
        return ms, tpl

    # 1. The fit.
    ms, tpl = driver("insightface", "0x0", "exact.txt")
    ok(np.abs(tpl - ARCFACE).max() < 1e-9, "insightface template = arcface_dst")
    worst = max(np.abs(np.hstack([lm, np.ones((5, 1))]) @ M.T - ARCFACE).max()
                for M, lm in zip(ms, exact32))
    ok(worst < 0.01, "exact similarity: fitted map puts landmarks on the template "
       "(worst %.2g px)" % worst)
    ms, _ = driver("insightface", "0x0", "noisy.txt")
    worst = max(np.abs(M - umeyama(lm, ARCFACE)).max() / (1 + np.abs(M).max())
                for M, lm in zip(ms, noisy32))
    ok(worst < 1e-6, "noisy landmarks: fit = numpy Umeyama (SVD) (worst %.2g)" % worst)
    ms_s, tpl_s = driver("sphereface", "0x0", "noisy.txt")
    ok(tpl_s.shape == (5, 2) and np.abs(tpl_s - SPHEREFACE).max() < 1e-9,
       "sphereface template = alignment() ref_pts")

    # 2. The warp, through the tool.
    def tool(args, lmfile):
        p = subprocess.run([HM_ALIGN, "-q", "--root", tmp, "--encoding", "raw"] + args +
                           [os.path.join(tmp, lmfile)], capture_output=True)
        if p.returncode != 0:
            sys.stdout.write("# hm-align failed: %s\n" % p.stderr.decode())
            return None
        return hmtest.read_records(p.stdout)

    def compare(recs, dst, size, gray, lms, jpeg, what):
        if not ok(recs is not None and len(recs) == n, what + ": tool ran, %d records" % n):
            return
        maes, offs, worst_max = [], [], 0
        for i, r in enumerate(recs):
            head = (r.key, r.label, r.w, r.h, r.c, r.enc)
            if head != (names[i], -1, size[0], size[1], 1 if gray else 3, 0):
                ok(False, what + ": record %d header %r" % (i, head))
                return
            h, w, c = r.h, r.w, r.c
            ours = r.pixels()
            if jpeg:
                src = cv2.imread(os.path.join(tmp, names[i] + ".jpg"))[:, :, ::-1]
            else:
                src = faces[i]
            if gray:
                src = cv2.cvtColor(np.ascontiguousarray(src), cv2.COLOR_RGB2GRAY)
            M = umeyama(lms[i], dst)
            ref = cv2.warpAffine(np.ascontiguousarray(src), M, size, flags=cv2.INTER_LINEAR,
                                 borderMode=cv2.BORDER_CONSTANT, borderValue=0)
            d = np.abs(ours.astype(int) - ref.reshape(h, w, c).astype(int))
            maes.append(d.mean())
            worst_max = max(worst_max, int(d.max()))
            # the same comparison with the map half a pixel off, to show
            # that the tolerance would catch such an error
            M2 = M.copy()
            M2[:, 2] += 0.5
            off = cv2.warpAffine(np.ascontiguousarray(src), M2, size, flags=cv2.INTER_LINEAR,
                                 borderMode=cv2.BORDER_CONSTANT, borderValue=0)
            offs.append(np.abs(ours.astype(int) - off.reshape(h, w, c).astype(int)).mean())
        ok(max(maes) <= 1.0, "%s: matches cv2.warpAffine, mean |diff| <= 1 "
           "(worst image %.3f, largest single diff %d)" % (what, max(maes), worst_max))
        ok(min(offs) > 1.0, "%s: a map half a pixel off would differ by more "
           "(best image %.3f)" % (what, min(offs)))

    compare(tool([], "noisy.txt"), ARCFACE, (112, 112), False, noisy32, False,
            "insightface 112x112 RGB")
    compare(tool(["--gray"], "noisy.txt"), ARCFACE, (112, 112), True, noisy32, False,
            "insightface 112x112 grey")
    compare(tool(["--template", "sphereface", "-j", "2"], "noisy.txt"), SPHEREFACE, (96, 112),
            False, noisy32, False, "sphereface 96x112 RGB")
    compare(tool(["--size", "128x128"], "noisy.txt"), ARCFACE + [8, 0], (128, 128), False,
            noisy32, False, "insightface 128x128 (+8 px)")
    compare(tool([], "noisy_jpg.txt"), ARCFACE, (112, 112), False, noisy32, True,
            "from JPEG input (decoders agree)")

    # 3. Region decode = full decode, byte for byte; scaled decode measured.
    def raw_bytes(args, lmfile):
        p = subprocess.run([HM_ALIGN, "-q", "--root", tmp, "--encoding", "raw"] + args +
                           [os.path.join(tmp, lmfile)], capture_output=True)
        return p.stdout if p.returncode == 0 else None

    full = raw_bytes(["--decode", "full"], "noisy_jpg.txt")
    ok(full is not None and full == raw_bytes([], "noisy_jpg.txt"),
       "250x250 JPEG: region decode output = full decode output, byte for byte")
    grey = raw_bytes(["--decode", "full", "--gray"], "noisy_jpg.txt")
    ok(grey is not None and grey == raw_bytes(["--gray"], "noisy_jpg.txt"),
       "and grey out")
    big_names, big_lm, big_img = [], [], []
    for i in range(8):
        face, lm = make_face(rng)
        base = cv2.resize(rng.integers(0, 256, (12, 12, 3), dtype=np.uint8), (1000, 1000),
                          interpolation=cv2.INTER_CUBIC)
        sc = [2.2, 3.0, 3.6, 4.5][i % 4]    # face 2.2 to 4.5 times the template
        ang = rng.uniform(-0.4, 0.4)
        R = sc * np.array([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]])
        # faces anywhere: the last two run off the left and the bottom edge
        c = [rng.uniform(250, 750, 2), rng.uniform(250, 750, 2), rng.uniform(250, 750, 2),
             rng.uniform(250, 750, 2), rng.uniform(250, 750, 2), rng.uniform(250, 750, 2),
             np.array([60.0, 500.0]), np.array([500.0, 960.0])][i]
        T = np.hstack([R, (c - R @ np.array([125.0, 125.0]))[:, None]])
        mask = cv2.warpAffine(np.full((250, 250), 255, np.uint8), T, (1000, 1000))
        moved = cv2.warpAffine(face, T, (1000, 1000), flags=cv2.INTER_LINEAR)
        im = np.where(mask[:, :, None] > 0, moved, base)
        name = "big%02d" % i
        cv2.imwrite(os.path.join(tmp, name + ".jpg"), im[:, :, ::-1],
                    [cv2.IMWRITE_JPEG_QUALITY, 92])
        big_names.append(name)
        big_lm.append(lm @ R.T + T[:, 2])
        big_img.append(cv2.imread(os.path.join(tmp, name + ".jpg"))[:, :, ::-1])
    with open(os.path.join(tmp, "big.txt"), "w") as f:
        for name, lm in zip(big_names, big_lm):
            f.write(name + ".jpg\t" + "\t".join("%.6f" % v for v in lm.ravel()) + "\n")
    full = raw_bytes(["--decode", "full"], "big.txt")
    ok(full is not None and full == raw_bytes([], "big.txt"),
       "1000x1000 JPEG, large faces, some across the edge: region decode = full decode, "
       "byte for byte")
    p = subprocess.run([HM_ALIGN, "-q", "--root", tmp, "--encoding", "raw", "--decode",
                        "scaled", os.path.join(tmp, "big.txt")], capture_output=True)
    recs = hmtest.read_records(p.stdout) if p.returncode == 0 else []
    fulls = hmtest.read_records(full) if full else []
    d_cv, d_full = [], []
    for i, (r, rf) in enumerate(zip(recs, fulls)):
        lm32 = np.array([float("%.6f" % v) for v in big_lm[i].ravel()]).reshape(5, 2) \
            .astype(np.float32).astype(float)
        ref = cv2.warpAffine(big_img[i], umeyama(lm32, ARCFACE), (112, 112),
                             flags=cv2.INTER_LINEAR, borderValue=0)
        ours = r.pixels().astype(int)
        d_cv.append(np.abs(ours - ref.astype(int)).mean())
        d_full.append(np.abs(ours - rf.pixels().astype(int)).mean())
    if ok(len(recs) == 8, "--decode scaled ran on the 8 large faces"):
        sys.stdout.write("# --decode scaled: mean |diff| vs cv2.warpAffine on the full decode "
                         "%s; vs --decode full %s\n" % (
                             " ".join("%.2f" % v for v in d_cv),
                             " ".join("%.2f" % v for v in d_full)))
        ok(min(d_full) > 0, "--decode scaled did scale (every output differs from full's)")
        ok(max(d_cv) <= 3.0 and max(d_full) <= 3.0,
           "--decode scaled stays near the full decode's warp (worst mean |diff| %.2f vs cv2, "
           "%.2f vs --decode full; <= 3)" % (max(d_cv), max(d_full)))
    return hmtest.done()


if __name__ == "__main__":
    sys.exit(main())
