#!/usr/bin/python3
"""hm-embed against PyTorch (TAP).

For two small networks, an IResNet on RGB images and a face-family net
with SE blocks on grey images, both at a non-square 24x28 (width x height)
input so that a transposition cannot hide:
  1. hm-synth renders a tiny CASIA-like set; hm-align writes it as RAW
     image records (so JPEG decoding is not in question) and hm-pack packs
     it; hm-train runs a few iterations, so the batch-norm running
     statistics in model.hmm are no longer 0 and 1 (checked).
  2. hm-embed embeds the records with --flip sum, concat and none, in
     batches of 5 (the last one partial).
  3. The man page's loader (hmm_load.load_into, hm-model(5)) loads model.hmm
     into the independent reference module (torch_models.py, float64, eval
     mode); the images are normalised as hm-train's loader documents,
     (x - 127.5) / 127.5 in NCHW, and mirrored with torch.flip; the
     references for the flip modes are insightface's
     sklearn.preprocessing.normalize(e + e_flip), arcface-pytorch's
     np.hstack((e, e_flip)) scaled to unit length (its cosine is
     unchanged), and normalize(e).
Compared: count, order, keys and labels exactly; dimensions; every value
within 1e-4 (absolute, on unit vectors).  The flip modes' references
differ from each other by far more than that (checked), so a missing or
wrong mirror fails.
"""
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
from sklearn.preprocessing import normalize

import hmm_load
import hmtest
from hmtest import ok
from torch_models import reference

BIN = hmtest.BIN
TOL = 1e-4
W, H = 24, 28
torch.set_num_threads(2)


def run(cmd, cwd, out=None):
    """Runs a suite tool from bin/; True on exit 0 (stdout to OUT if given)."""
    env = dict(os.environ, PATH=BIN + os.pathsep + os.environ["PATH"], HM_THREADS="2")
    with open(os.path.join(cwd, out), "wb") if out else open(os.devnull, "wb") as f:
        p = subprocess.run(cmd, cwd=cwd, stdout=f, stderr=subprocess.PIPE, env=env,
                           shell=True, check=False)
    if p.returncode:
        print("# %s: exit %d: %s" % (cmd, p.returncode, p.stderr.decode(errors="replace")))
    return p.returncode == 0


def case(tmp, arch, emb, gray):
    what = "%s %s %dx%d emb %d" % (arch, "grey" if gray else "RGB", W, H, emb)
    d = tempfile.mkdtemp(prefix="case.", dir=tmp)
    good = (run("hm-align -q --root %s/c --size %dx%d --encoding raw %s %s/c/landmarks.txt"
                % (tmp, W, H, "--gray" if gray else "", tmp), d, "data.hmr") and
            run("hm-pack -q -o train.hmr data.hmr", d) and
            run("hm-train -j2 -q -a %s --emb-size %d -b 8 --iters 3 --lr 0.01 -o m train.hmr"
                % (arch, emb), d, "train.out"))
    ok(good, what + ": hm-align, hm-pack, hm-train ran")
    if not good:
        return
    model_path = os.path.join(d, "m", "model.hmm")
    meta, tensors = hmm_load.read_hmm(model_path)
    in_c = int(meta["in_c"])
    ok((meta["arch"], in_c, int(meta["in_h"]), int(meta["in_w"]), int(meta["emb_dim"])) ==
       (arch, 1 if gray else 3, H, W, emb), what + ": model metadata", repr(meta))
    var = np.concatenate([v.ravel() for k, v in tensors.items() if k.endswith("running_var")])
    mean = np.concatenate([v.ravel() for k, v in tensors.items()
                           if k.endswith("running_mean")])
    ok(np.abs(var - 1).max() > 1e-2 and np.abs(mean).max() > 1e-2,
       what + ": batch-norm running statistics trained (not 0 and 1)")

    model = reference(arch, in_c, H, W, emb)
    hmm_load.load_into(model, model_path)
    model.eval()
    imgs = hmtest.read_records(os.path.join(d, "data.hmr"))
    ok(len(imgs) == 32 and all(r.kind == hmtest.IMAGE and (r.w, r.h, r.c, r.enc) ==
                               (W, H, in_c, 0) for r in imgs),
       what + ": 32 raw %dx%dx%d image records" % (W, H, in_c))
    x = np.stack([r.pixels() for r in imgs])
    # NCHW with standard strides: a permuted view with one channel counts as
    # contiguous yet has channels-last strides, which the convolutions keep
    # (and view() in ResNetFace then refuses)
    x = torch.empty((len(imgs), in_c, H, W), dtype=torch.float64).copy_(
        torch.tensor((x.astype(np.float64) - 127.5) / 127.5).permute(0, 3, 1, 2))
    with torch.no_grad():
        e = model(x).numpy()
        ef = model(torch.flip(x, dims=[3])).numpy()
    want = {"sum": normalize(e + ef), "concat": normalize(np.hstack((e, ef))),
            "none": normalize(e)}
    gap = float(np.abs(want["sum"] - want["none"]).max())
    ok(gap > 100 * TOL, what + ": the mirror image changes the embedding (%.2g), "
       "so the comparison sees the flip" % gap)

    for flip in ("sum", "concat", "none"):
        out = "%s.hmr" % flip
        if not run("hm-embed -m m/model.hmm -b 5 --flip %s data.hmr" % flip, d, out):
            ok(False, what + ": hm-embed --flip %s ran" % flip)
            continue
        got = hmtest.read_records(os.path.join(d, out))
        same_ids = [(r.key, r.label) for r in got] == [(r.key, r.label) for r in imgs]
        ok(same_ids and all(r.kind == hmtest.EMBEDDING for r in got),
           what + ", --flip %s: one embedding record per image, keys and labels kept" % flip)
        if not same_ids:
            continue
        g = np.stack([r.vec for r in got]).astype(np.float64)
        dim = emb * (2 if flip == "concat" else 1)
        ok(g.shape == (32, dim), what + ", --flip %s: %d values each" % (flip, dim),
           repr(g.shape))
        if g.shape != (32, dim):
            continue
        err = float(np.abs(g - want[flip]).max())
        ok(err <= TOL, what + ", --flip %s: equals PyTorch within %g" % (flip, TOL),
           "max |hm-embed - torch| = %.3g" % err)
        print("# %s, --flip %s: max abs error %.2g" % (what, flip, err))


def main():
    tmp = tempfile.TemporaryDirectory(prefix="embed_torch.")
    if run("hm-synth -q --kind casia --identities 4 --images-per-id 8 --size 64x64 "
           "--lookalike 0 -o c", tmp.name):
        case(tmp.name, "ir:1,1,1:8,16,32", 16, gray=False)
        case(tmp.name, "face:1,1:16,16:se", 12, gray=True)
    else:
        ok(False, "hm-synth ran")
    tmp.cleanup()
    return hmtest.done()


if __name__ == "__main__":
    sys.exit(main())
