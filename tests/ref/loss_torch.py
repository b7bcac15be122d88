#!/usr/bin/python3
"""Margin losses and hard mining against PyTorch autograd (TAP).

Each loss is written here again, independently, in float64 PyTorch after
the public reference implementations (clcarwin/sphereface_pytorch
AngleLinear/AngleLoss, ronghuaiyang/arcface-pytorch ArcMarginProduct and
AddMarginProduct, SphereProduct's lambda schedule); autograd gives the
gradients.  tests/ref/loss-driver runs common/loss.c on the same float32
inputs at a realistic size (B=64, D=512, C=1000).

Detached hard mining (powern, pivot, focaln): the weights under
torch.no_grad(), the surrogate (1/B) sum u_i L_i through autograd.

Tolerances: the batch loss to 1e-4 relative; per-sample losses to 1e-4
relative plus 1e-5 absolute (float32 cosines of 512-long dot products
carry about 1e-7 relative error, times s = 64); logits to 1e-5 of their
largest magnitude; each gradient tensor to 1e-3 of its largest magnitude
(max |ours - torch| / max |torch|); predictions and the correct count
exactly.
"""
import math
import os
import subprocess
import sys
from fractions import Fraction

import numpy as np
import torch
import torch.nn.functional as F

import hmtest
from hmtest import ok

DRIVER = os.path.join(hmtest.DRIVERS, "loss-driver")
B, D, C = 64, 512, 1000


def make_inputs(seed, kinks):
    """x_i at a chosen angle from W_{y_i}, covering the whole range of
    target angles but at least 0.02 rad from every kink (A-Softmax's
    k pi / m, arcface's pi - m and pi / 2)."""
    rng = np.random.default_rng(seed)
    # Linear-layer scale (1/sqrt(D)) with uneven class norms.
    W = rng.standard_normal((C, D)) * rng.uniform(0.5, 2.0, (C, 1)) / D ** 0.5
    b = rng.uniform(-0.5, 0.5, C)
    y = rng.integers(0, C, B)
    x = np.empty((B, D))
    for i in range(B):
        while True:
            t = rng.uniform(0.05, math.pi - 0.05)
            if min(abs(t - k) for k in kinks) > 0.02:
                break
        w = W[y[i]] / np.linalg.norm(W[y[i]])
        u = rng.standard_normal(D)
        u -= (u @ w) * w
        u /= np.linalg.norm(u)
        x[i] = rng.uniform(1.0, 10.0) * (math.cos(t) * w + math.sin(t) * u)
    return (x.astype(np.float32), y.astype(np.int32), W.astype(np.float32),
            b.astype(np.float32))


def run_driver(kind, hm, x, y, W, b, settings):
    args = [DRIVER, kind, hm, str(B), str(D), str(C)] + settings
    data = x.tobytes() + y.tobytes() + W.tobytes() + b.tobytes()
    r = subprocess.run(args, input=data, capture_output=True)
    if r.returncode != 0:
        raise RuntimeError("loss-driver failed: " + r.stderr.decode())
    out = np.frombuffer(r.stdout, dtype="<f4")
    sizes = [("loss", 1), ("correct", 1), ("L", B), ("w", B), ("pred", B),
             ("z", B * C), ("dx", B * D), ("dW", C * D), ("db", C)]
    if out.size != sum(n for _, n in sizes):
        raise RuntimeError("loss-driver wrote %d floats" % out.size)
    res, at = {}, 0
    for name, n in sizes:
        res[name] = out[at:at + n].astype(np.float64)
        at += n
    res["z"] = res["z"].reshape(B, C)
    res["dx"] = res["dx"].reshape(B, D)
    res["dW"] = res["dW"].reshape(C, D)
    return res


# Chebyshev polynomials cos(m theta) = T_m(cos theta), sphereface's table.
MLAMBDA = [
    lambda c: c ** 0,
    lambda c: c,
    lambda c: 2 * c ** 2 - 1,
    lambda c: 4 * c ** 3 - 3 * c,
    lambda c: 8 * c ** 4 - 8 * c ** 2 + 1,
    lambda c: 16 * c ** 5 - 20 * c ** 3 + 5 * c,
]


def reference(kind, hm, param, x, y, W, b, s, m, easy, it):
    x = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    W = torch.tensor(W, dtype=torch.float64, requires_grad=True)
    b = torch.tensor(b, dtype=torch.float64, requires_grad=True)
    yt = torch.tensor(y, dtype=torch.int64)
    one_hot = F.one_hot(yt, C).to(torch.float64)
    if kind == "softmax":
        z = x @ W.t() + b
        raw = z
    else:
        cos = (F.normalize(x) @ F.normalize(W).t()).clamp(-1, 1)
        raw = cos
    if kind == "cosface":
        z = s * (cos - one_hot * m)
    elif kind == "arcface":
        cos_m, sin_m = math.cos(m), math.sin(m)
        th, mm = math.cos(math.pi - m), math.sin(math.pi - m) * m
        sine = torch.sqrt((1.0 - cos ** 2).clamp(min=0))
        phi = cos * cos_m - sine * sin_m
        if easy:
            phi = torch.where(cos > 0, phi, cos)
        else:
            phi = torch.where(cos > th, phi, cos - mm)
        z = s * (one_hot * phi + (1.0 - one_hot) * cos)
    elif kind == "asoftmax":
        mi = int(m)
        lamb = max(5.0, 1000.0 * (1 + 0.12 * it) ** -1)
        cos_m_theta = MLAMBDA[mi](cos)
        theta = cos.detach().acos()
        k = (mi * theta / math.pi).floor()
        phi = ((-1.0) ** k) * cos_m_theta - 2 * k
        xlen = x.norm(dim=1, keepdim=True)
        z = (cos + one_hot * (phi - cos) / (1 + lamb)) * xlen
    L = F.cross_entropy(z, yt, reduction="none")
    if hm == "none":
        loss = L.mean()
    elif hm == "power":
        # L^g for g < 1 has an infinite slope at L = 0 (autograd: inf * 0
        # = nan) while the gradient's limit is 0; the clamp gives that 0.
        loss = (L.clamp(min=1e-300) ** param).mean()
    elif hm == "focal":
        q = (-torch.expm1(-L)).clamp(min=1e-300)   # 1 - p, likewise
        loss = (q ** param * L).mean()
    elif hm == "ohem":
        K = math.ceil(Fraction(param) * B)
        order = sorted(range(B), key=lambda i: (-L[i].item(), i))[:K]
        loss = L[torch.tensor(order)].mean()
    elif hm in ("powern", "pivot", "focaln"):
        # Detached weights: computed without the graph, constants of the
        # backward; the surrogate (1/B) sum u_i L_i is what autograd sees.
        with torch.no_grad():
            Ld = L.detach()
            q = -torch.expm1(-Ld)
            if hm == "pivot":
                P = s * m if kind in ("arcface", "cosface") and s * m > 0 \
                    else math.log(C)
                u = (Ld.clamp(min=1e-12) / P) ** (param - 1)
            else:
                r = (Ld.clamp(min=1e-12) ** (param - 1) if hm == "powern"
                     else q ** param)
                u = r * q.sum() / (r * q).sum()
        loss = (u * L).mean()
        w = u / B
    loss.backward()
    pred = raw.detach().argmax(dim=1).numpy()
    return {
        "w": w.numpy() if hm in ("powern", "pivot", "focaln") else None,
        "loss": loss.item(), "L": L.detach().numpy(),
        "z": z.detach().numpy(), "pred": pred,
        "correct": int((pred == y).sum()),
        "dx": x.grad.numpy(), "dW": W.grad.numpy(),
        "db": b.grad.numpy() if b.grad is not None else np.zeros(C),
    }


def rel_max(a, b):
    return np.abs(a - b).max() / max(np.abs(b).max(), 1e-30)


def compare(kind, hm, settings, seed):
    cfg = dict(s=64.0, m={"cosface": 0.35, "asoftmax": 4.0}.get(kind, 0.5),
               easy=0, iter=0)
    for kv in settings:
        k, v = kv.split("=")
        cfg[k] = float(v)
    name, _, p = hm.partition(":")
    param = p if p else {"power": "2", "focal": "2", "ohem": "0.5",
                         "powern": "2", "pivot": "2", "focaln": "2"}.get(
        name, "0")
    param = param if name == "ohem" else float(param)
    if kind == "asoftmax":
        kinks = [k * math.pi / cfg["m"] for k in range(int(cfg["m"]) + 1)]
    else:
        kinks = [math.pi / 2, math.pi - cfg["m"]]
    x, y, W, b = make_inputs(seed, kinks)
    what = " ".join([kind, "--hm", hm] + settings)
    try:
        got = run_driver(kind, hm, x, y, W, b, settings)
    except RuntimeError as e:
        ok(False, what + ": driver runs", str(e))
        return
    want = reference(kind, name, param, x, y, W, b, cfg["s"], cfg["m"],
                     cfg["easy"], cfg["iter"])
    e_loss = abs(got["loss"][0] - want["loss"]) / abs(want["loss"])
    e_L = np.max(np.abs(got["L"] - want["L"]) /
                 (1e-4 * np.abs(want["L"]) + 1e-5))
    ok(e_loss < 1e-4 and e_L <= 1,
       what + ": batch and per-sample loss values",
       "loss %.9g vs %.9g (rel %.2g), per-sample err/tol %.2g"
       % (got["loss"][0], want["loss"], e_loss, e_L))
    e_z = rel_max(got["z"], want["z"])
    ok(e_z < 1e-5, what + ": logits", "rel %.2g" % e_z)
    same = (np.array_equal(got["pred"].astype(np.int64), want["pred"]) and
            int(got["correct"][0]) == want["correct"])
    ok(same, what + ": predictions and correct count",
       "correct %d vs %d" % (got["correct"][0], want["correct"]))
    errs = {g: rel_max(got[g], want[g]) for g in ("dx", "dW", "db")
            if g != "db" or kind == "softmax"}
    if kind != "softmax":
        ok(not got["db"].any(), what + ": db untouched")
    ok(all(e < 1e-3 for e in errs.values()), what + ": gradients "
       + ", ".join(errs), ", ".join("%s %.2g" % kv for kv in errs.items()))
    if want["w"] is not None:
        # u_i is L_i^(g-1) or q_i^g up to a batch constant: the per-sample
        # loss tolerance (1e-4 relative + 1e-5 absolute), carried through
        # the power, plus 1e-4 for the normalisation; a weight that is 0
        # in float32 (q_i rounds to 0) against a tiny one in float64
        # counts against the largest.
        wa, wb = got["w"], want["w"]
        gg = max(abs(param - 1), param)
        tol = (1e-4 + gg * (1e-4 + 1e-5 / np.maximum(want["L"], 1e-30))) \
            * np.abs(wb) + 1e-6 * np.abs(wb).max()
        e_w = np.max(np.abs(wa - wb) / tol)
        e_r = np.max(np.abs(wa - wb) / (np.abs(wb) + 1e-6 * np.abs(wb).max()))
        ok(e_w <= 1, what + ": detached weights",
           "max rel %.2g, err/tol %.2g" % (e_r, e_w))
        e_w = e_r
        e_a = max(np.abs(got[g] - want[g]).max() for g in errs)
        DETACHED.append((what, e_w, max(errs.values()), e_a))


DETACHED = []


def main():
    if not os.access(DRIVER, os.X_OK):
        return hmtest.bail_out("%s is not built (make tests/ref/loss-driver)" % DRIVER)
    torch.set_num_threads(2)
    hms = ["none", "power", "power:0.5", "focal", "focal:0.5", "ohem:0.5"]
    seed = 100
    for kind in ["softmax", "asoftmax", "arcface", "cosface"]:
        for hm in hms:
            seed += 1
            compare(kind, hm, [], seed)
    cases = [
        ("arcface", "none", ["easy=1"]),
        ("arcface", "focal", ["easy=1"]),
        ("arcface", "focal:1.5", ["s=8", "m=0.3"]),
        ("cosface", "focal", ["s=8"]),
        ("cosface", "ohem:0.3", ["s=30", "m=0.4"]),
        ("asoftmax", "none", ["iter=100"]),
        ("asoftmax", "power", ["iter=100000"]),
        ("asoftmax", "none", ["m=2", "iter=500"]),
        ("asoftmax", "focal", ["m=3", "iter=100000"]),
    ]
    for kind, hm, settings in cases:
        seed += 1
        compare(kind, hm, settings, seed)
    for kind in ["softmax", "asoftmax", "arcface", "cosface"]:
        for hm in ["powern", "powern:3", "pivot", "pivot:0.5", "focaln",
                   "focaln:1"]:
            seed += 1
            compare(kind, hm, [], seed)
    for kind, hm, settings in [("arcface", "pivot", ["s=8", "m=0.3"]),
                               ("cosface", "powern", ["s=8"]),
                               ("cosface", "focaln", ["s=8"]),
                               ("asoftmax", "powern", ["iter=100000"])]:
        seed += 1
        compare(kind, hm, settings, seed)
    if DETACHED:
        print("# detached modes (%d cases): weights max rel %.2g; gradients "
              "max rel (of max |torch|) %.2g, max abs %.2g"
              % (len(DETACHED), max(d[1] for d in DETACHED),
                 max(d[2] for d in DETACHED), max(d[3] for d in DETACHED)))
    return hmtest.done()


if __name__ == "__main__":
    sys.exit(main())
