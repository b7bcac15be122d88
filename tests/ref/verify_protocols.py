#!/usr/bin/python3
"""hm-verify end to end on the real protocol files, against numpy.

Embedding records (written here byte by byte from hm-records(5)) are made for
every key of data/pairs.txt (LFW, 7701 images) and for the videos of
splits.txt (YTF, 1 to 4 frames per video, plus decoy frames under look-alike
video names such as "Name/10/" beside "Name/1" that must not be mixed in).
hm-verify's scores must equal numpy's cosine of the unit vectors (for YTF the
normalised mean of the normalised frames) within 1e-12, row by row, with
the list's folds, labels and keys; the arcface list (no folds) gives fold -1.
A missing key, a missing video and a duplicate key each fail with exit 1,
the key named, and nothing on stdout.
"""
import csv
import io
import os
import sys

import numpy as np

import hmtest
from hmtest import DATA, ok

HM_VERIFY = os.path.join(hmtest.BIN, "hm-verify")
DIM = 48


def write_stream(path, items):
    """An embedding record stream (hm-records(5)) of the (key, vector) ITEMS."""
    hmtest.write_stream(path, (hmtest.embedding_record(k, v) for k, v in items))


# --- the pair lists, parsed here ---
def lfw_pairs():
    lines = open(os.path.join(DATA, "pairs.txt")).read().split("\n")
    folds, half = map(int, lines[0].split())
    out = []
    for i, ln in enumerate(x for x in lines[1:] if x.strip()):
        t = ln.split()
        if len(t) == 3:
            a, b, same = "%s/%s_%04d" % (t[0], t[0], int(t[1])), \
                "%s/%s_%04d" % (t[0], t[0], int(t[2])), 1
        else:
            a, b, same = "%s/%s_%04d" % (t[0], t[0], int(t[1])), \
                "%s/%s_%04d" % (t[2], t[2], int(t[3])), 0
        out.append((i // (2 * half), same, a, b))
    return out


def ytf_pairs():
    out = []
    for ln in open(os.path.join(DATA, "splits.txt"), newline="").read().split("\n"):
        t = [x.strip() for x in ln.strip("\r").split(",")]
        if len(t) == 5 and t[0].isdigit():
            out.append((int(t[0]) - 1, int(t[4]), t[2], t[3]))
    return out


def arcface_pairs():
    out = []
    for ln in open(os.path.join(DATA, "lfw_test_pair.txt")):
        t = ln.split()
        if len(t) == 3:
            out.append((-1, int(t[2]), t[0].rsplit(".", 1)[0], t[1].rsplit(".", 1)[0]))
    return out


def unit(v):
    v = np.asarray(v, dtype=np.float64)
    return v / np.linalg.norm(v)


def run(args, **kwargs):
    return hmtest.capture([HM_VERIFY] + args, text=True, **kwargs)


def check_scores(name, out, pairs, emb):
    rows = list(csv.reader(io.StringIO(out)))
    ok(rows and rows[0] == ["fold", "same", "score", "a", "b"] and len(rows) == len(pairs) + 1,
       "%s: header and %d rows" % (name, len(pairs)), rows[:2])
    got = [(int(r[0]), int(r[1]), r[3], r[4]) for r in rows[1:]]
    ok(got == [(f, s, a, b) for f, s, a, b in pairs],
       "%s: folds, labels and keys in list order" % name,
       [(g, p) for g, p in zip(got, pairs) if g != p][:3])
    score = np.array([float(r[2]) for r in rows[1:]])
    want = np.array([emb[a] @ emb[b] for _, _, a, b in pairs])
    err = np.max(np.abs(score - want)) if len(score) == len(want) else np.inf
    ok(err <= 1e-12, "%s: scores equal numpy's cosine (max error %.2g)" % (name, err))


def main():
    rng = np.random.default_rng(11)
    with hmtest.scratch_dir("verify.", parent=os.path.join(hmtest.ROOT, "tests")) as tmp:
        # LFW: one vector per image, identities clustered
        pairs = lfw_pairs()
        ok(len(pairs) == 6000, "pairs.txt parsed here: 6000 pairs")
        keys = sorted({k for p in pairs for k in p[2:]})
        centre, items, emb = {}, [], {}
        for k in keys:
            who = k.split("/")[0]
            if who not in centre:
                centre[who] = rng.normal(size=DIM)
            v = (centre[who] + rng.normal(size=DIM)).astype(np.float32)
            items.append((k, v))
            emb[k] = unit(v)
        order = rng.permutation(len(items))
        items = [items[i] for i in order]
        items.append(("Not_Listed/Not_Listed_0001", rng.normal(size=DIM)))
        lfw = os.path.join(tmp, "lfw.hmr")
        write_stream(lfw, items)
        rc, out, err = run([os.path.join(DATA, "pairs.txt"), lfw])
        ok(rc == 0 and err == "", "hm-verify pairs.txt lfw.hmr runs", err)
        check_scores("lfw", out, pairs, emb)

        # the same embeddings on stdin, the arcface list (no folds)
        with open(lfw, "rb") as f:
            rc, out, err = run([os.path.join(DATA, "lfw_test_pair.txt")], stdin=f)
        ok(rc == 0, "arcface list with embeddings on stdin", err)
        check_scores("arcface", out, arcface_pairs(), emb)

        # YTF: frames under Name/video/, decoys under Name/video + "0"/
        ypairs = ytf_pairs()
        ok(len(ypairs) == 5000, "splits.txt parsed here: 5000 pairs")
        videos = sorted({k for p in ypairs for k in p[2:]})
        items, vemb, n_frames = [], {}, 0
        for vid in videos:
            base = rng.normal(size=DIM)
            frames = []
            for j in range(int(rng.integers(1, 5))):
                v = (base + 0.5 * rng.normal(size=DIM)).astype(np.float32)
                items.append(("%s/%03d" % (vid, j + 1), v))
                frames.append(unit(v))
            vemb[vid] = unit(np.mean(frames, axis=0))
            n_frames += len(frames)
            if vid + "0" not in videos:
                items.append(("%s0/001" % vid, rng.normal(size=DIM)))
        items = [items[i] for i in rng.permutation(len(items))]
        ytf = os.path.join(tmp, "ytf.hmr")
        write_stream(ytf, items)
        rc, out, err = run([os.path.join(DATA, "splits.txt"), ytf])
        ok(rc == 0, "hm-verify splits.txt ytf.hmr runs (%d videos, %d frames)"
           % (len(videos), n_frames), err)
        check_scores("ytf", out, ypairs, vemb)

        # a missing key: drop the record of pair 1234's second image
        gone = pairs[1234][3]
        lfw_items = [(k, v) for k, v in
                     ((k, emb[k].astype(np.float32)) for k in keys) if k != gone]
        bad = os.path.join(tmp, "missing.hmr")
        write_stream(bad, lfw_items)
        rc, out, err = run([os.path.join(DATA, "pairs.txt"), bad])
        ok(rc == 1 and out == "" and "'%s'" % gone in err and err.count("\n") == 1,
           "missing key: exit 1, the key named, stdout empty", "rc %d, %r" % (rc, err))
        # a duplicate key
        dup_key = keys[100]
        write_stream(bad, [(k, emb[k].astype(np.float32)) for k in keys] +
                     [(dup_key, np.ones(DIM))])
        rc, out, err = run([os.path.join(DATA, "pairs.txt"), bad])
        ok(rc == 1 and out == "" and "'%s'" % dup_key in err and "twice" in err,
           "duplicate key: exit 1, the key named, stdout empty", "rc %d, %r" % (rc, err))
        # a missing video: every frame of one video dropped
        gone = ypairs[77][2]
        write_stream(bad, [(k, v) for k, v in items if not k.startswith(gone + "/")])
        rc, out, err = run([os.path.join(DATA, "splits.txt"), bad])
        ok(rc == 1 and out == "" and "'%s'" % gone in err and "no records under" in err,
           "missing video: exit 1, the video named, stdout empty", "rc %d, %r" % (rc, err))
    return hmtest.done()


if __name__ == "__main__":
    sys.exit(main())
