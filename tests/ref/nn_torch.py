#!/usr/bin/python3
"""Every layer of common/nn.c against PyTorch (TAP).

The same float32 inputs go to tests/ref/nn-driver (our layers, float32)
and to torch.nn / torch.nn.functional in float64, whose autograd gives the
gradients for the same upstream gradient dout.  Shapes are IR-like with
odd sizes, stride 2, padding, 1x1, bias and no bias, batch > 1.

Tolerances (norm-wise: max |ours - torch| / max |torch| per tensor):
outputs, running statistics and eval-mode outputs 1e-4; gradients 1e-3;
max-pool indices exactly.  Dropout's mask comes from our RNG, not
torch's, so torch gets our mask: the check is the scaling and the
gradient, the kept fraction, and that torch's own dropout scales kept
values by the same 1/(1-p).  Flatten is the convention that a contiguous
NCHW buffer is the [N, C*H*W] matrix: a conv output's bytes go straight
into our linear layer, torch flattens explicitly.
"""
import os
import subprocess
import sys

import numpy as np
import torch
import torch.nn.functional as F

import hmtest
from hmtest import ok

DRIVER = os.path.join(hmtest.DRIVERS, "nn-driver")
OUT_TOL, GRAD_TOL = 1e-4, 1e-3

torch.set_num_threads(1)
rng = np.random.default_rng(20240611)


def close(ours, ref, tol, what):
    ref = np.asarray(ref, dtype=np.float64).ravel()
    ours = np.asarray(ours, dtype=np.float64).ravel()
    if ours.shape != ref.shape:
        ok(False, what, "shape %s, want %s" % (ours.shape, ref.shape))
        return
    scale = max(np.abs(ref).max(), 1e-30)
    err = np.abs(ours - ref).max() / scale
    ok(bool(err <= tol), what, "relative error %.3g > %g" % (err, tol))


def f32(*shape, lo=-1.0, hi=1.0):
    return rng.uniform(lo, hi, shape).astype(np.float32)


def run(args, inputs, sizes):
    """Runs the driver; splits its stdout into arrays of the given sizes
    (a size given as ('i', n) is int32)."""
    data = b"".join(np.ascontiguousarray(a, dtype=np.float32).tobytes() for a in inputs)
    p = subprocess.run([DRIVER] + [str(a) for a in args], input=data,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
    if p.returncode != 0:
        ok(False, "nn-driver %s ran" % " ".join(map(str, args)),
           p.stderr.decode(errors="replace").strip())
        return None
    out, pos = [], 0
    for s in sizes:
        dt, n = (np.int32, s[1]) if isinstance(s, tuple) else (np.float32, s)
        nbytes = n * 4
        out.append(np.frombuffer(p.stdout[pos:pos + nbytes], dtype=dt))
        pos += nbytes
    if pos != len(p.stdout):
        ok(False, "nn-driver %s output size" % " ".join(map(str, args)),
           "%d bytes, want %d" % (len(p.stdout), pos))
        return None
    return out


def t64(a, grad=False):
    return torch.tensor(np.asarray(a, dtype=np.float64), requires_grad=grad)


def conv(N, C, H, W, OC, K, S, P, bias):
    what = "conv N%d %d->%d %dx%d k%d s%d p%d%s" % (N, C, OC, H, W, K, S, P,
                                                    " bias" if bias else "")
    x, w = f32(N, C, H, W), f32(OC, C, K, K, lo=-0.3, hi=0.3)
    b = f32(OC) if bias else None
    tx, tw = t64(x, True), t64(w, True)
    tb = t64(b, True) if bias else None
    y = F.conv2d(tx, tw, tb, stride=S, padding=P)
    dy = f32(*y.shape)
    y.backward(t64(dy))
    sizes = [y.numel(), x.size, w.size] + ([OC] if bias else [])
    got = run(["conv", N, C, H, W, OC, K, S, P, int(bias)],
              [x, w] + ([b] if bias else []) + [dy], sizes)
    if got is None:
        return
    close(got[0], y.detach(), OUT_TOL, what + ": output")
    close(got[1], tx.grad, GRAD_TOL, what + ": dinp")
    close(got[2], tw.grad, GRAD_TOL, what + ": dweight")
    if bias:
        close(got[3], tb.grad, GRAD_TOL, what + ": dbias")


def linear(N, IC, OC, bias, x=None, what=None):
    what = what or "linear N%d %d->%d%s" % (N, IC, OC, " bias" if bias else "")
    x = f32(N, IC) if x is None else x
    w, b = f32(OC, IC, lo=-0.2, hi=0.2), f32(OC) if bias else None
    tx, tw = t64(x, True), t64(w, True)
    tb = t64(b, True) if bias else None
    y = F.linear(torch.flatten(tx, 1), tw, tb)
    dy = f32(*y.shape)
    y.backward(t64(dy))
    got = run(["linear", N, IC, OC, int(bias)], [x, w] + ([b] if bias else []) + [dy],
              [N * OC, N * IC, OC * IC] + ([OC] if bias else []))
    if got is None:
        return
    close(got[0], y.detach(), OUT_TOL, what + ": output")
    close(got[1], tx.grad, GRAD_TOL, what + ": dinp")
    close(got[2], tw.grad, GRAD_TOL, what + ": dweight")
    if bias:
        close(got[3], tb.grad, GRAD_TOL, what + ": dbias")


def batchnorm(shape, eps, momentum, affine):
    N, C = shape[0], shape[1]
    HW = int(np.prod(shape[2:])) if len(shape) > 2 else 1
    kind = "BatchNorm2d" if len(shape) == 4 else "BatchNorm1d"
    what = "%s %s eps %g%s" % (kind, "x".join(map(str, shape)), eps,
                               "" if affine else " (no affine)")
    x = f32(*shape, lo=-2, hi=3)
    g, b = f32(C, lo=0.5, hi=1.5), f32(C)
    rm, rv = f32(C, lo=-0.5, hi=0.5), f32(C, lo=0.5, hi=2)
    bn = (torch.nn.BatchNorm2d if len(shape) == 4 else torch.nn.BatchNorm1d)(
        C, eps=eps, momentum=momentum, affine=affine).double()
    with torch.no_grad():
        bn.running_mean.copy_(t64(rm))
        bn.running_var.copy_(t64(rv))
        if affine:
            bn.weight.copy_(t64(g))
            bn.bias.copy_(t64(b))
    bn.train()
    tx = t64(x, True)
    y = bn(tx)
    dy = f32(*shape)
    y.backward(t64(dy))
    bn.eval()
    with torch.no_grad():
        ye = bn(t64(x))
    n = x.size
    got = run(["bn", N, C, HW, eps, momentum, int(affine)],
              [x] + ([g, b] if affine else []) + [rm, rv, dy],
              [n, n] + ([C, C] if affine else []) + [C, C, n])
    if got is None:
        return
    close(got[0], y.detach(), OUT_TOL, what + ": training output")
    close(got[1], tx.grad, GRAD_TOL, what + ": dinp")
    if affine:
        close(got[2], bn.weight.grad, GRAD_TOL, what + ": dgamma")
        close(got[3], bn.bias.grad, GRAD_TOL, what + ": dbeta")
    close(got[-3], bn.running_mean, OUT_TOL, what + ": running mean (momentum %g)" % momentum)
    close(got[-2], bn.running_var, OUT_TOL, what + ": running var (unbiased)")
    close(got[-1], ye, OUT_TOL, what + ": eval-mode output")


def prelu(shape):
    N, C = shape[0], shape[1]
    HW = int(np.prod(shape[2:])) if len(shape) > 2 else 1
    what = "PReLU %s" % "x".join(map(str, shape))
    x, a, dy = f32(*shape), f32(C, lo=-0.3, hi=0.5), f32(*shape)
    x.ravel()[:5] = 0  # torch: x = 0 takes the slope branch
    tx, ta = t64(x, True), t64(a, True)
    y = F.prelu(tx, ta)
    y.backward(t64(dy))
    got = run(["prelu", N, C, HW], [x, a, dy], [x.size, x.size, C])
    if got is None:
        return
    close(got[0], y.detach(), OUT_TOL, what + ": output")
    close(got[1], tx.grad, GRAD_TOL, what + ": dinp")
    close(got[2], ta.grad, GRAD_TOL, what + ": dalpha")


def relu(n):
    x, dy = f32(n), f32(n)
    x[:4] = 0
    tx = t64(x, True)
    y = F.relu(tx)
    y.backward(t64(dy))
    got = run(["relu", n], [x, dy], [n, n])
    if got is None:
        return
    close(got[0], y.detach(), OUT_TOL, "ReLU n%d: output" % n)
    close(got[1], tx.grad, GRAD_TOL, "ReLU n%d: dinp" % n)


def maxpool(N, C, H, W, K, S, P, ties=False):
    what = "MaxPool2d %dx%d k%d s%d p%d%s" % (H, W, K, S, P, " (ties)" if ties else "")
    x = f32(N, C, H, W)
    if ties:
        x = np.round(x * 2).astype(np.float32)
    tx = t64(x, True)
    y, idx = F.max_pool2d(tx, K, S, P, return_indices=True)
    dy = f32(*y.shape)
    y.backward(t64(dy))
    got = run(["maxpool", N, C, H, W, K, S, P], [x, dy], [y.numel(), x.size, ("i", y.numel())])
    if got is None:
        return
    close(got[0], y.detach(), OUT_TOL, what + ": output")
    close(got[1], tx.grad, GRAD_TOL, what + ": dinp")
    ok(bool(np.array_equal(got[2], idx.numpy().ravel())), what + ": argmax = torch's indices")


def dropout(n, p, seed):
    x, dy = f32(n), f32(n)
    got = run(["dropout", n, p, seed], [x, dy], [n, n, n])
    if got is None:
        return
    y, mask, dx = got
    ok(bool(np.isin(mask, [0, 1]).all()), "dropout p=%g: mask is 0/1" % p)
    keep = mask.mean()
    sd = (p * (1 - p) / n) ** 0.5
    ok(bool(abs(keep - (1 - p)) < 5 * sd), "dropout p=%g: keeps %.4f (want %.4f)" % (p, keep, 1 - p))
    tx = t64(x, True)
    ty = tx * t64(mask) / (1 - p)  # PyTorch's inverted dropout with our mask
    ty.backward(t64(dy))
    close(y, ty.detach(), OUT_TOL, "dropout p=%g: output = x * mask / (1 - p)" % p)
    close(dx, tx.grad, GRAD_TOL, "dropout p=%g: dinp" % p)
    torch.manual_seed(1)
    t = F.dropout(torch.ones(4096), p, training=True)
    kept = t[t != 0]
    ours = y[mask == 1] / x[mask == 1]
    ok(bool(np.allclose(kept.numpy(), ours.mean(), rtol=1e-5)) and
       bool(np.allclose(ours, 1 / (1 - p), rtol=1e-5)),
       "dropout p=%g: torch scales kept values by the same 1/(1-p)" % p)


def residual(n):
    a, b, dy = f32(n), f32(n), f32(n)
    ta, tb = t64(a, True), t64(b, True)
    y = ta + tb
    y.backward(t64(dy))
    got = run(["residual", n], [a, b, dy], [n, n, n])
    if got is None:
        return
    close(got[0], y.detach(), OUT_TOL, "residual add: output")
    close(got[1], ta.grad, GRAD_TOL, "residual add: da")
    close(got[2], tb.grad, GRAD_TOL, "residual add: db")


def flatten_head():
    # A conv feature map [N, C, H, W] as stored is the linear layer's input.
    fmap = f32(6, 16, 7, 7)
    linear(6, 16 * 7 * 7, 64, True, x=fmap,
           what="flatten + linear on a 6x16x7x7 feature map (IR head)")


def main():
    if not os.access(DRIVER, os.X_OK):
        print("1..1\nnot ok 1 - %s is built (make check builds it)" % DRIVER)
        return 1
    conv(4, 16, 28, 28, 32, 3, 1, 1, False)   # IR body conv
    conv(3, 8, 15, 13, 16, 3, 2, 1, False)    # IR downsampling conv, odd sizes
    conv(2, 3, 32, 30, 16, 3, 1, 1, True)     # stem on RGB, bias
    conv(4, 16, 14, 14, 32, 1, 1, 0, True)    # 1x1, no im2col
    conv(4, 16, 15, 15, 32, 1, 2, 0, False)   # 1x1 stride 2 shortcut
    conv(2, 4, 11, 9, 6, 5, 3, 2, True)       # 5x5 stride 3
    batchnorm((8, 16, 14, 14), 1e-5, 0.1, True)
    batchnorm((8, 16, 7, 9), 2e-5, 0.1, True)
    batchnorm((8, 16, 7, 9), 1e-5, 0.1, False)
    batchnorm((32, 128), 1e-5, 0.1, True)     # BatchNorm1d on embeddings
    prelu((4, 16, 14, 14))
    prelu((16, 64))
    relu(10000)
    maxpool(2, 8, 16, 16, 2, 2, 0)            # face18's 2x2/2
    maxpool(2, 8, 15, 13, 3, 2, 1)            # 3x3/2 pad 1
    maxpool(2, 4, 9, 9, 3, 1, 1, ties=True)   # overlapping windows, ties
    dropout(100000, 0.4, 7)
    dropout(20000, 0.2, 8)
    linear(16, 512, 128, True)
    linear(5, 33, 17, False)
    residual(5000)
    flatten_head()
    return hmtest.done()


if __name__ == "__main__":
    sys.exit(main())
