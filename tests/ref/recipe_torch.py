#!/usr/bin/python3
"""Gradient clipping and the poly schedule against their references (TAP).

Clipping: tests/ref/optim-driver clip runs common/optim.c's
optim_clip_grad_norm() on the gradients of a list of tensors laid end to
end (as model_grads() lays out the backbone's); PyTorch's
torch.nn.utils.clip_grad_norm_(params, max_norm) clips the same float32
gradients held by one parameter per tensor, as arcface_torch's train.py
clips backbone.parameters() at 5.  Cases: a norm far above the limit
(clipped), one below it (unchanged), one 3 times the limit.  Tolerance: the
norm within 1e-6 relative of torch's (torch sums each tensor in float32,
optim.c sums in double: they may differ in the last places), every
clipped value within 1e-6 relative of torch's; the largest absolute
difference is printed.

Schedule: optim-driver lr prints lr_at() of "poly" and "poly:P"; the
reference is arcface_torch's PolyScheduler formula (lr_scheduler.py),
written out here from its get_lr(): warm-up base * t / warmup for
t < warmup, then base * (1 - (t - warmup) / (total - warmup))^power,
power 2 by default, driven through torch.optim.lr_scheduler.LambdaLR so
that the rate of optimizer step t + 1 is the formula at t (lr_at's
convention: t steps taken).  PolyScheduler itself resets last_epoch
after its construction, so its first two steps both run at the rate of
t = 0 and every later step one t behind; hm-train follows the formula,
not that off-by-one (see hm-train(1)).  Tolerance 1e-12 relative.
"""
import os
import subprocess
import sys

import numpy as np
import torch

import hmtest
from hmtest import ok

DRIVER = os.path.join(hmtest.DRIVERS, "optim-driver")
# Tensors of a small backbone: conv weights, a batch norm's weight and
# bias, a PReLU slope, a linear layer.
SHAPES = [(16, 3, 3, 3), (16,), (16,), (16,), (32, 16, 3, 3), (64, 128)]


def driver_clip(g, max_norm):
    r = subprocess.run([DRIVER, "clip", str(g.size), repr(max_norm)],
                       input=g.astype("<f4").tobytes(), capture_output=True)
    if r.returncode != 0:
        raise RuntimeError("optim-driver clip failed: " + r.stderr.decode())
    out = r.stdout
    clipped = np.frombuffer(out[:4 * g.size], dtype="<f4")
    norm = float(np.frombuffer(out[4 * g.size:], dtype="<f8")[0])
    return clipped, norm


def torch_clip(grads, max_norm):
    params = []
    for gr in grads:
        p = torch.nn.Parameter(torch.zeros(gr.shape, dtype=torch.float32))
        p.grad = torch.tensor(gr.copy())
        params.append(p)
    norm = torch.nn.utils.clip_grad_norm_(params, max_norm)
    flat = np.concatenate([p.grad.numpy().ravel() for p in params])
    return flat, float(norm)


def check_clip(rng, scale, max_norm, what):
    grads = [(rng.standard_normal(s) * scale).astype(np.float32) for s in SHAPES]
    grads[0].ravel()[:3] *= 50    # a few large values, as early steps have
    flat = np.concatenate([g.ravel() for g in grads])
    mine, mnorm = driver_clip(flat, max_norm)
    ref, rnorm = torch_clip(grads, max_norm)
    ok(abs(mnorm - rnorm) <= 1e-6 * rnorm,
       "%s: norm %.6g is torch's %.6g within 1e-6" % (what, mnorm, rnorm))
    err = np.abs(mine.astype(np.float64) - ref)
    bound = 1e-6 * np.abs(ref.astype(np.float64)) + 1e-30
    ok(bool(np.all(err <= bound)),
       "%s: clipped gradients match clip_grad_norm_ within 1e-6 relative "
       "(max abs diff %.3g, %d of %d values differ in bits)"
       % (what, float(err.max()), int(np.sum(mine != ref)), ref.size))
    new = float(np.sqrt(np.sum(mine.astype(np.float64) ** 2)))
    return rnorm, new, mine, flat


def poly_formula(t, base, warmup, total, power):
    if t < warmup:
        return base * t / warmup
    u = min(1.0, (t - warmup) / (total - warmup))
    return base * (1.0 - u) ** power


def driver_lr(sched, base, warmup, total, ts):
    r = subprocess.run([DRIVER, "lr", sched, repr(base), str(warmup), str(total)]
                       + [str(t) for t in ts], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("optim-driver lr failed: " + r.stderr)
    return [float(x) for x in r.stdout.split()]


def torch_rates(base, warmup, total, power, steps):
    """The rate each optimizer step runs at under LambdaLR (step t + 1)."""
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=base, momentum=0.9)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda t: poly_formula(t, 1.0, warmup, total, power))
    rates = []
    for _ in range(steps):
        rates.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return rates


def main():
    rng = np.random.default_rng(1747)
    norm, new, _, _ = check_clip(rng, 0.5, 5.0, "norm far above 5")
    ok(norm > 50 and abs(new - 5.0) < 1e-4,
       "clipped to norm 5 (was %.4g, now %.7g)" % (norm, new))
    norm, new, mine, flat = check_clip(rng, 0.001, 5.0, "norm below 5")
    ok(norm < 5 and np.array_equal(mine, flat),
       "below the limit the gradients are untouched (norm %.4g)" % norm)
    norm, new, _, _ = check_clip(rng, 0.02, 1.0, "norm 3x the limit 1")
    ok(1 < norm < 5 and abs(new - 1.0) < 1e-5,
       "clipped to norm 1 (was %.4g, now %.7g)" % (norm, new))

    for sched, power in (("poly", 2.0), ("poly:3", 3.0), ("poly:0.5", 0.5)):
        for base, warmup, total in ((0.1, 0, 1000), (0.0125, 100, 1000),
                                    (0.4, 7, 50)):
            ts = sorted({0, 1, warmup // 2, max(warmup - 1, 0), warmup,
                         warmup + 1, (warmup + total) // 2, total - 1, total,
                         total + 5})
            mine = driver_lr(sched, base, warmup, total, ts)
            ref = [poly_formula(t, base, warmup, total, power) for t in ts]
            worst = max(abs(a - b) / max(abs(b), 1e-300) if b else abs(a)
                        for a, b in zip(mine, ref))
            ok(worst <= 1e-12, "%s base %g warm-up %d total %d: lr_at is the "
               "PolyScheduler formula at t = %s" % (sched, base, warmup, total,
                                                     ts), "worst %.3g" % worst)
            rates = torch_rates(base, warmup, total, power, total)
            all_t = list(range(total))
            mine_all = driver_lr(sched, base, warmup, total, all_t)
            worst = max(abs(a - b) for a, b in zip(mine_all, rates))
            ok(worst <= 1e-12 * base, "%s base %g warm-up %d total %d: every "
               "step's rate is LambdaLR's" % (sched, base, warmup, total),
               "worst %.3g" % worst)
    # Chosen values, by hand: base 0.1, no warm-up, 1000 steps, power 2.
    got = driver_lr("poly", 0.1, 0, 1000, [0, 250, 500, 999])
    want = [0.1, 0.1 * 0.75 ** 2, 0.1 * 0.25, 0.1 * 1e-6]
    ok(all(abs(a - b) <= 1e-15 for a, b in zip(got, want)),
       "poly at 0, 250, 500, 999 of 1000: 0.1, 0.05625, 0.025, 1e-7",
       "got %s" % got)
    return hmtest.done()


if __name__ == "__main__":
    sys.exit(main())
