#!/bin/bash
# bench/sgemm.sh: sgemm and convolution GFLOP/s (bench/gemm.c), then
# PyTorch's conv2d on the IR-18 layer-1 shape for comparison.
#   bench/sgemm.sh [THREADS]     (default 2; run from anywhere)
# Builds libhm.a with the repository's Makefile (OPENMP=0 etc. pass
# through as make variables in the environment), the bench in a temp dir.
set -eu
threads=${1:-2}
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
omp=-fopenmp
[ "${OPENMP:-1}" = 0 ] && omp=
make -s -C "$root" libhm.a
cc -std=c11 -O2 -D_GNU_SOURCE $omp -I"$root/common" -o "$tmp/gemm" "$root/bench/gemm.c" \
	"$root/libhm.a" -lturbojpeg -lz -lopenblas -lcsv -lpthread -lm
"$tmp/gemm" "$threads"
/usr/bin/python3 - "$threads" <<'EOF'
import sys, time, torch
import torch.nn.functional as F
torch.set_num_threads(int(sys.argv[1]))
x = torch.randn(8, 64, 56, 56)
w = torch.randn(64, 64, 3, 3, requires_grad=True)
xg = x.clone().requires_grad_(True)
flops = 2.0 * 8 * 64 * 56 * 56 * 64 * 9
def best(fn):
    fn()
    ts = []
    while sum(ts) < 0.3 or len(ts) < 3:
        t0 = time.perf_counter(); fn(); ts.append(time.perf_counter() - t0)
    return min(ts)
with torch.no_grad():
    tf = best(lambda: F.conv2d(x, w, padding=1))
y = F.conv2d(xg, w, padding=1)
g = torch.randn_like(y)
tb = best(lambda: torch.autograd.grad(y, (xg, w), g, retain_graph=True))
print("torch %s conv N8 64->64 56x56 k3 s1: forward %7.2f ms %6.1f GFLOP/s, "
      "backward %7.2f ms %6.1f GFLOP/s" % (torch.__version__, 1e3 * tf, flops / tf * 1e-9,
                                          1e3 * tb, 2 * flops / tb * 1e-9))
EOF
