#!/bin/bash
# bench/embed.sh: hm-embed's images per second end to end (read, JPEG
# decode, forward, flip, write) beside PyTorch 1.13 (Debian) eval forwards
# of the same network, batch and thread count (the reference module of
# tests/ref/torch_models.py, float32, under torch.no_grad()).
#   bench/embed.sh [ARCH [BATCH [THREADS [IMAGES]]]]   (default ir18 64 2 128)
# The images are hm-synth LFW-like faces aligned by hm-align to the model's
# input (JPEG records); the model is a random initialisation (speed only).
# hm-embed: wall time of the whole run, --flip none (one forward per image)
# and sum (two); its peak RSS.  PyTorch: the best of several batches after
# a warm-up, one forward per image and two.
set -eu
arch=${1:-ir18}
batch=${2:-64}
threads=${3:-2}
images=${4:-128}
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
make -s -C "$root" bin/hm-embed bin/hm-synth bin/hm-align tests/ref/model-driver
PATH=$root/bin:$PATH
case $arch in
ir*) size=112x112 c=3 gray= ;;
*) size=128x128 c=1 gray=--gray ;;
esac
"$root/tests/ref/model-driver" init "$arch" 1 "$tmp/model.hmm" >/dev/null
hm-synth -q -j "$threads" --kind lfw --identities $((images / 2)) --images-per-id 2 \
	--pairs 1 -o "$tmp/lfw"
hm-align -q -j "$threads" --root "$tmp/lfw" --size $size $gray "$tmp/lfw/landmarks.txt" \
	>"$tmp/faces.hmr"
n=$(wc -l <"$tmp/lfw/landmarks.txt")
echo "hm-embed $arch, $n images ($size), batch $batch, $threads threads"
for flip in none sum; do
	/usr/bin/time -f "%e %M" -o "$tmp/time" hm-embed -q -j "$threads" -b "$batch" \
		--flip $flip -m "$tmp/model.hmm" "$tmp/faces.hmr" >/dev/null
	read -r secs kb <"$tmp/time"
	awk -v f=$flip -v s="$secs" -v n="$n" -v kb="$kb" 'BEGIN {
		printf "  --flip %-5s %7.2f s  %6.2f img/s  peak RSS %.0f MiB\n",
			f, s, n / s, kb / 1024 }'
done
/usr/bin/python3 - "$root" "$arch" "$batch" "$threads" "$c" "${size%x*}" <<'PY'
import sys, time
import torch
sys.path.insert(0, sys.argv[1] + "/tests/ref")
from torch_models import reference
arch, B, threads, c, s = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
torch.set_num_threads(threads)
model = reference(arch, c, s, s, 512).float().eval()
x = torch.rand(B, c, s, s) * 2 - 1
def infer():
    with torch.no_grad():
        model(x)
infer()
ts = []
while len(ts) < 3 or sum(ts) < 5:
    t0 = time.perf_counter()
    infer()
    ts.append(time.perf_counter() - t0)
t = min(ts)
print("torch %s eval, batch %d, %d threads" % (torch.__version__, B, threads))
print("  one forward   %7.3f s/batch  %6.2f img/s" % (t, B / t))
print("  two (flip)    %7.3f s/batch  %6.2f img/s" % (2 * t, B / (2 * t)))
PY
