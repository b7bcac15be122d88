#!/usr/bin/python3
"""SGD with momentum and weight decay against torch.optim.SGD (TAP).

tests/ref/optim-driver runs common/optim.c's optim_sgd_step() on random
float32 parameters and three steps of random gradients; torch.optim.SGD
(momentum 0.9, dampening 0, nesterov off) does the same on the same
float32 tensors, with weight_decay 5e-4 (a decayed tensor: conv and head
weights) and 0 (batch norm, biases, PReLU).  The learning rate changes
between steps (as a schedule does) through param_groups.

Tolerance: every parameter after every step, and the final momentum
buffer, within 1e-6 relative of torch's (|ours - torch| <= 1e-6 |torch|
+ 1e-12), and the parameter change of each step within 1e-4 relative
of its largest magnitude, so the check is not swamped by p itself.
Beyond the tolerance, the values are compared bit for bit: optim.c
rounds as ATen does (one fused multiply-add for add(alpha=...)), so the
two must be identical; a plain multiply-then-add would differ in a few
per cent of the values by one unit in the last place.
"""
import os
import subprocess
import sys

import numpy as np
import torch

import hmtest
from hmtest import ok

DRIVER = os.path.join(hmtest.DRIVERS, "optim-driver")
N, STEPS, MOM = 10000, 3, 0.9


def run_driver(lr, p, g, wd):
    data = lr.tobytes() + p.tobytes() + g.tobytes()
    r = subprocess.run([DRIVER, str(N), str(STEPS), repr(MOM), repr(wd)],
                       input=data, capture_output=True)
    if r.returncode != 0:
        raise RuntimeError("optim-driver failed: " + r.stderr.decode())
    out = np.frombuffer(r.stdout, dtype="<f4")
    if out.size != (STEPS + 1) * N:
        raise RuntimeError("optim-driver: %d floats out" % out.size)
    return out[:STEPS * N].reshape(STEPS, N), out[STEPS * N:]


def run_torch(lr, p, g, wd):
    t = torch.tensor(p.copy())
    param = torch.nn.Parameter(t)
    opt = torch.optim.SGD([param], lr=float(lr[0]), momentum=MOM,
                          weight_decay=wd)
    ps = []
    for s in range(STEPS):
        for group in opt.param_groups:
            group["lr"] = float(lr[s])
        opt.zero_grad()
        param.grad = torch.tensor(g[s].copy())
        opt.step()
        ps.append(param.detach().numpy().copy())
    buf = opt.state[param]["momentum_buffer"].numpy().copy()
    return np.array(ps), buf


def rel_close(a, b, rtol):
    err = np.abs(a.astype(np.float64) - b.astype(np.float64))
    bound = rtol * np.abs(b.astype(np.float64)) + 1e-12
    worst = float(np.max(err / bound)) if err.size else 0.0
    return bool(np.all(err <= bound)), worst


def main():
    rng = np.random.default_rng(1908)
    # Parameters as a trained layer has them; gradients smaller, with a
    # few large ones; the rate changes each step (warm-up, then decay).
    p = (rng.standard_normal(N) * 0.5).astype(np.float32)
    g = (rng.standard_normal((STEPS, N)) * 0.01).astype(np.float32)
    g[:, :10] *= 1000
    lr = np.array([0.1, 0.05, 0.01], dtype=np.float32)
    for wd in (5e-4, 0.0):
        mine, mbuf = run_driver(lr, p, g, wd)
        ref, rbuf = run_torch(lr, p, g, wd)
        for s in range(STEPS):
            good, worst = rel_close(mine[s], ref[s], 1e-6)
            ok(good, "wd %g: parameters after step %d match torch within 1e-6 "
               "relative" % (wd, s + 1), "worst error %.3g of the bound" % worst)
            prev_m = p if s == 0 else mine[s - 1]
            prev_r = p if s == 0 else ref[s - 1]
            dm = mine[s].astype(np.float64) - prev_m
            dr = ref[s].astype(np.float64) - prev_r
            scale = np.max(np.abs(dr))
            err = np.max(np.abs(dm - dr)) / scale
            ok(err <= 1e-4, "wd %g: step %d's update matches torch's "
               "(1e-4 of its largest)" % (wd, s + 1), "error %.3g" % err)
        good, worst = rel_close(mbuf, rbuf, 1e-6)
        ok(good, "wd %g: momentum buffer after %d steps matches torch" %
           (wd, STEPS), "worst error %.3g of the bound" % worst)
        diff = int(np.sum(mine != ref)) + int(np.sum(mbuf != rbuf))
        ok(diff == 0, "wd %g: parameters and buffer are torch's bit for bit"
           % wd, "%d values differ" % diff)
    # Weight decay must matter: the two runs differ where p is large.
    a, _ = run_driver(lr, p, g, 5e-4)
    b, _ = run_driver(lr, p, g, 0.0)
    ok(np.max(np.abs(a[-1] - b[-1])) > 1e-5,
       "weight decay changes the result (the test can see it)")
    return hmtest.done()


if __name__ == "__main__":
    sys.exit(main())
