#!/bin/bash
# bench/align.sh [N]: hm-align against OpenCV on the same N (default 2000) generated
# 250x250 JPEG faces: decode, fit, warp to 112x112, encode JPEG q95.
# OpenCV runs on one thread (cv2.setNumThreads(1)); hm-align with -j 1 and -j 2.
# Each figure is the median of 3 runs; hm-align's include its start-up and
# reading the landmark file, OpenCV's only its loop.  Needs bin/hm-align (make) and /usr/bin/python3 with cv2.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
N=${1:-2000}
HM=$ROOT/bin/hm-align
[ -x "$HM" ] || { echo "bench/align.sh: build first: make bin/hm-align" >&2; exit 2; }
DIR=$(mktemp -d "${TMPDIR:-/tmp}/hm-align-bench.XXXXXX")
trap 'rm -rf "$DIR"' EXIT

/usr/bin/python3 "$ROOT/bench/align_opencv.py" --make "$DIR" "$N"
# warm the page cache
cat "$DIR"/img/*/*.jpg >/dev/null

# One run of each in turn, three rounds, so that load from elsewhere on the
# machine hits all of them alike; each figure is the median of its three.
hm_rate() {
	local t0 t1
	t0=$(date +%s.%N)
	"$HM" -q -j "$1" --root "$DIR/img" "$DIR/landmarks.txt" >/dev/null
	t1=$(date +%s.%N)
	echo "$N / ($t1 - $t0)" | bc -l
}
cv=() hm1=() hm2=()
for _ in 1 2 3; do
	cv+=("$(/usr/bin/python3 "$ROOT/bench/align_opencv.py" --run "$DIR" 1)")
	hm1+=("$(hm_rate 1)")
	hm2+=("$(hm_rate 2)")
done
median() { printf "%s\n" "$@" | sort -g | sed -n 2p; }
opencv=$(median "${cv[@]}")
hm1=$(median "${hm1[@]}")
hm2=$(median "${hm2[@]}")

printf "%d images, 250x250 JPEG -> 112x112 JPEG q95, %s\n" "$N" \
	"$(grep -m1 "model name" /proc/cpuinfo | cut -d: -f2 | sed "s/^ //") x $(nproc)"
printf "%-28s %10s %8s\n" "" "images/s" "ratio"
printf "%-28s %10.0f %8.2f\n" "OpenCV 4.6, 1 thread" "$opencv" 1
printf "%-28s %10.0f %8.2f\n" "hm-align -j 1" "$hm1" "$(echo "$hm1 / $opencv" | bc -l)"
printf "%-28s %10.0f %8.2f\n" "hm-align -j 2" "$hm2" "$(echo "$hm2 / $opencv" | bc -l)"
