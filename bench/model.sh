#!/bin/bash
# bench/model.sh: training-step and inference speed of a backbone with
# common/model*.c (bench/model.c), then PyTorch 1.13 (Debian) on the same
# network, batch and thread count: the reference modules that
# tests/ref/model_torch.py checks us against, in float32.
#   bench/model.sh [ARCH [BATCH [THREADS]]]    (default ir18 8 2)
# Builds libhm.a with the repository's Makefile, the bench in a temp dir.
# Both report the best of several steps after a warm-up.
set -eu
arch=${1:-ir18}
batch=${2:-8}
threads=${3:-2}
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
omp=-fopenmp
[ "${OPENMP:-1}" = 0 ] && omp=
make -s -C "$root" libhm.a
cc -std=c11 -O2 -D_GNU_SOURCE $omp -I"$root/common" -o "$tmp/model" "$root/bench/model.c" \
	"$root/libhm.a" -lturbojpeg -ljpeg -lz -lopenblas -lcsv -lpthread -lm
"$tmp/model" "$arch" "$batch" "$threads"
/usr/bin/python3 - "$root" "$arch" "$batch" "$threads" <<'PY'
import resource, sys, time
import torch
sys.path.insert(0, sys.argv[1] + "/tests/ref")
from model_torch import reference
arch, B, threads = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
torch.set_num_threads(threads)
size = (3, 112, 112) if arch.startswith("ir") else (1, 128, 128)
model = reference(arch, *size, 512).float()
x, demb = torch.rand(B, *size) * 2 - 1, torch.randn(B, 512) / (B * 512)
def train():
    model.train()
    model.zero_grad()
    model(x).backward(demb)
def infer():
    model.eval()
    with torch.no_grad():
        model(x)
def best(fn):
    fn()
    ts = []
    while len(ts) < 3 or sum(ts) < 2:
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return min(ts)
t, e = best(train), best(infer)
print("torch %s, batch %d, %d threads" % (torch.__version__, B, threads))
print("  training step   %7.3f s  %6.2f img/s" % (t, B / t))
print("  inference       %7.3f s  %6.2f img/s" % (e, B / e))
print("  peak RSS %.0f MiB" % (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))
PY
