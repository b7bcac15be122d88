#!/bin/bash
# bench/train_ir18.sh: hm-train's training speed on IResNet-18 (3x112x112,
# batch 64, ArcFace head, SGD) beside PyTorch 1.13 on the same network, loss,
# optimiser, batch and threads (bench/train_torch.py).
#   bench/train_ir18.sh [THREADS [ITERS [RUNS]]]    (default 2 3 3)
# hm-train trains on a synthetic pack (hm-synth casia, 8 identities x 24
# images, aligned to 112x112) for ITERS steps; its rate is the median of the
# per-step img_s of train.csv without the first step; the figure is the
# median over RUNS runs.  PyTorch is measured the same way on random input.
# Prints both rates and hm-train's as a fraction of PyTorch's.
set -eu
threads=${1:-2}
iters=${2:-3}
runs=${3:-3}
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
make -s -C "$root" bin/hm-synth bin/hm-align bin/hm-pack bin/hm-train
PATH=$root/bin:$PATH
hm-synth -q --kind casia --identities 8 --images-per-id 24 -o "$tmp/d"
hm-align -q --root "$tmp/d" "$tmp/d/landmarks.txt" | hm-pack -q -o "$tmp/p.hmr" -
median() {
	sort -g | awk '{ v[NR] = $1 }
		END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
rates=
for r in $(seq "$runs"); do
	rm -rf "$tmp/out"
	hm-train -q -j "$threads" -a ir18 -b 64 --iters "$iters" --checkpoint-every 0 \
		-o "$tmp/out" "$tmp/p.hmr" >/dev/null
	# per-step rates without the header and, when there are others, the
	# first (warm-up) step; their median
	rate=$(awk -F, -v n="$iters" 'NR > 1 && (NR > 2 || n == 1) { print $6 }' \
		"$tmp/out/train.csv" | median)
	rates="$rates $rate"
done
hm=$(printf '%s\n' $rates | median)
printf 'hm-train: %.2f img/s (runs:%s; %d threads, batch 64)\n' "$hm" "$rates" "$threads"
torch_line=$(/usr/bin/python3 "$root/bench/train_torch.py" "$threads" 64 "$iters" "$runs")
echo "$torch_line"
pt=$(echo "$torch_line" | sed -n 's/^torch: \([0-9.]*\) img\/s.*/\1/p')
awk -v a="$hm" -v b="$pt" 'BEGIN { printf "ratio hm-train / torch: %.2f\n", a / b }'
