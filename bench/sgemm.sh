#!/bin/bash
# bench/sgemm.sh: IR-18's convolutions against the sgemm peak (bench/gemm.c):
# the peak, every layer forward and backward in GFLOP/s and % of the peak,
# and the training step's convolutions as a whole.
#   bench/sgemm.sh [THREADS [BATCH]]       (defaults 2 and 64; run from anywhere)
# Environment:
#   BASE=REV   also build bench/gemm.c against common/nn.c as of git
#              revision REV (e.g. HEAD~3) and run the two alternately,
#              ROUNDS times each (default 2), so "before" and "after" share
#              the machine's load; the summary keeps each one's best round.
#   TORCH=1    add PyTorch's conv2d (forward, and autograd backward) on the
#              same shapes, batch and threads.
# Builds libhm.a with the repository's Makefile (OPENMP=0 etc. pass through
# as make variables in the environment), the bench in a temp dir.
set -eu
threads=${1:-2}
batch=${2:-64}
rounds=${ROUNDS:-2}
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
omp=-fopenmp
[ "${OPENMP:-1}" = 0 ] && omp=
cflags="-std=c11 -O2 -D_GNU_SOURCE $omp -I$root/common"
libs="-lturbojpeg -ljpeg -lz -lopenblas -lcsv -lpthread -lm"
make -s -C "$root" libhm.a
# shellcheck disable=SC2086
cc $cflags -o "$tmp/gemm" "$root/bench/gemm.c" "$root/libhm.a" $libs
runs="hm"
if [ -n "${BASE:-}" ]; then
	# The old nn.c with its own nn.h, linked ahead of libhm.a's nn.o.
	mkdir "$tmp/base"
	git -C "$root" show "$BASE:common/nn.c" >"$tmp/base/nn.c"
	git -C "$root" show "$BASE:common/nn.h" >"$tmp/base/nn.h"
	# shellcheck disable=SC2086
	cc $cflags -I"$tmp/base" -c -o "$tmp/base/nn.o" "$tmp/base/nn.c"
	# shellcheck disable=SC2086
	cc $cflags -I"$tmp/base" -o "$tmp/gemm-base" "$root/bench/gemm.c" "$tmp/base/nn.o" \
		"$root/libhm.a" $libs
	runs="hm base"
fi
for _ in $(seq "$rounds"); do
	for who in $runs; do
		if [ "$who" = base ]; then
			"$tmp/gemm-base" "$threads" "$batch" "base($BASE)"
		else
			"$tmp/gemm" "$threads" "$batch" hm
		fi | tee -a "$tmp/all"
	done
	[ "$runs" = hm ] && break
done
if [ "${TORCH:-0}" = 1 ]; then
	/usr/bin/python3 - "$threads" "$batch" <<'EOF' | tee -a "$tmp/all"
import sys, time, torch
import torch.nn.functional as F
threads, B = int(sys.argv[1]), int(sys.argv[2])
torch.set_num_threads(threads)
layers = [("conv1 (stem)", 1, 3, 112, 64, 3, 1, 1), ("layer1.0.conv1", 1, 64, 112, 64, 3, 1, 1),
          ("layer1.0.conv2", 1, 64, 112, 64, 3, 2, 1), ("layer1.0.downsample", 1, 64, 112, 64, 1, 2, 0),
          ("layer1.1.conv1,2", 2, 64, 56, 64, 3, 1, 1), ("layer2.0.conv1", 1, 64, 56, 128, 3, 1, 1),
          ("layer2.0.conv2", 1, 128, 56, 128, 3, 2, 1), ("layer2.0.downsample", 1, 64, 56, 128, 1, 2, 0),
          ("layer2.1.conv1,2", 2, 128, 28, 128, 3, 1, 1), ("layer3.0.conv1", 1, 128, 28, 256, 3, 1, 1),
          ("layer3.0.conv2", 1, 256, 28, 256, 3, 2, 1), ("layer3.0.downsample", 1, 128, 28, 256, 1, 2, 0),
          ("layer3.1.conv1,2", 2, 256, 14, 256, 3, 1, 1), ("layer4.0.conv1", 1, 256, 14, 512, 3, 1, 1),
          ("layer4.0.conv2", 1, 512, 14, 512, 3, 2, 1), ("layer4.0.downsample", 1, 256, 14, 512, 1, 2, 0),
          ("layer4.1.conv1,2", 2, 512, 7, 512, 3, 1, 1)]
def best(fn):
    fn()
    ts = []
    for _ in range(3):
        t0 = time.perf_counter(); fn(); ts.append(time.perf_counter() - t0)
    return min(ts)
print("# torch %s, %d threads, batch %d" % (torch.__version__, threads, B))
ff = tf_all = fs = ts_all = 0.0
for i, (name, count, c, hw, oc, k, s, p) in enumerate(layers):
    x = torch.randn(B, c, hw, hw, requires_grad=i > 0)
    w = torch.randn(oc, c, k, k, requires_grad=True)
    with torch.no_grad():
        tf = best(lambda: F.conv2d(x, w, stride=s, padding=p))
    y = F.conv2d(x, w, stride=s, padding=p)
    g = torch.randn_like(y)
    wrt = (x, w) if i > 0 else (w,)
    tb = best(lambda: torch.autograd.grad(y, wrt, g, retain_graph=True))
    fl = 2.0 * y.numel() * c * k * k
    bfl = fl * (2 if i > 0 else 1)
    print("conv torch %-20s x%d %3d->%3d %3dx%-3d k%d s%d: forward %8.2f ms %6.1f GFLOP/s, "
          "backward %8.2f ms %6.1f GFLOP/s" % (name, count, c, oc, hw, hw, k, s, 1e3 * tf,
                                               fl / tf * 1e-9, 1e3 * tb, bfl / tb * 1e-9))
    sys.stdout.flush()
    ff += count * fl; tf_all += count * tf; fs += count * (fl + bfl); ts_all += count * (tf + tb)
print("step torch convolutions, forward: %.2f s for %d images, %.1f GFLOP/s" % (tf_all, B, ff / tf_all * 1e-9))
print("step torch convolutions, training step: %.2f s for %d images, %.1f GFLOP/s" % (ts_all, B, fs / ts_all * 1e-9))
EOF
fi
echo "== summary: best round of each (the peak: best over all runs)"
awk '
/^peak/ { v = $4 + 0; if (v > peak) peak = v }
/^step/ && /training step/ {
	who = $2; gf = 0
	for (i = 1; i <= NF; i++) if ($i ~ /^GFLOP\/s/) gf = $(i - 1) + 0
	if (!(who in best) || gf > best[who]) { best[who] = gf; line[who] = $0 }
}
END {
	printf "sgemm peak %.1f GFLOP/s\n", peak
	for (w in best)
		printf "%-16s conv training step %6.1f GFLOP/s = %3.0f%% of the peak\n", w, best[w], 100 * best[w] / peak
}' "$tmp/all"
