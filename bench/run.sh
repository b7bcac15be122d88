#!/bin/bash
# bench/run.sh: the suite's performance table (`make bench`): every row a
# pair measured side by side in this one invocation, interleaved (ours,
# reference, ours, reference, ...), each figure the median of BENCH_RUNS
# runs; the table on stdout (Markdown), progress on stderr.
#
#   bench/run.sh [ROW...]        rows: conv align embed train (default all)
#
# Environment:
#   BENCH_RUNS=3       runs per figure (at least 1; 3 or more for the table)
#   BENCH_THREADS=2    threads on both sides: -j for hm (OpenBLAS and OpenMP),
#                      torch.set_num_threads and OMP_NUM_THREADS for PyTorch
#   BENCH_ALIGN_BASE=BIN
#                      another hm-align (say main's, built elsewhere) measured
#                      in the same rounds on the two -j 1 JPEG cases: a
#                      before/after row each
#   QUICK=1            small work (batch 8 training, 48 images to embed, 200
#                      to align, batch 2 conv step) to check the harness itself
#   BENCH_CC, BENCH_CFLAGS, BENCH_LIBS
#                      compiler, flags and libraries for bench/convstep.c
#                      (mk/bench.mk passes the Makefile's)
#
# Rows (README "Performance" says more):
#   conv   bench/convstep.c: the conv layers of one IR-18 training step
#          (forward, dinp, dweight) in GFLOP/s beside cblas_sgemm
#          1024^3 in the same process; the sgemm figure is the peak that
#          the training and embedding limits below use.
#   align  hm-align -j 1 beside OpenCV 4.6 on one thread
#          (bench/align_opencv.py: decode a 250x250 JPEG, fit the
#          similarity, warp to 112x112, encode q95); the same with raw
#          pixels out (--encoding raw; OpenCV without imencode), which shows
#          what the encode costs; -j 2 beside -j 1; and 1000x1000 photos with
#          a 150-px face, where hm-align decodes only the face's region and
#          OpenCV the whole image, as users' scripts do.
#   embed  hm-embed ir18 end to end (read records, decode JPEG, forward,
#          write; --flip none, start-up included) beside PyTorch eval
#          forwards under no_grad (bench/embed_torch.py, start-up excluded).
#   train  hm-train ir18 (ArcFace, SGD) beside bench/train_torch.py (the
#          same net, loss, optimiser, batch, threads): img/s as the median
#          of the per-step rates after the first step (hm-train's timed by
#          when each line of train.csv arrives), and peak RSS of each whole
#          process (/usr/bin/time).
# The tools are copied at the start, so a rebuild elsewhere during the run
# does not change what is measured.  Needs /usr/bin/python3 with torch and
# cv2, and /usr/bin/time; awk does the arithmetic.
# Lists of figures are split into words on purpose:
# shellcheck disable=SC2046,SC2086
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
runs=${BENCH_RUNS:-3}
threads=${BENCH_THREADS:-2}
quick=${QUICK:-0}
py=/usr/bin/python3
rows=${*:-conv align embed train}
case $runs in '' | *[!0-9]* | 0) echo "bench/run.sh: BENCH_RUNS must be 1 or more" >&2; exit 2 ;; esac
case $threads in '' | *[!0-9]* | 0) echo "bench/run.sh: BENCH_THREADS must be 1 or more" >&2; exit 2 ;; esac
for r in $rows; do
	case $r in conv | align | embed | train) ;;
	*) echo "bench/run.sh: unknown row '$r' (conv, align, embed, train)" >&2; exit 2 ;;
	esac
done
want() { case " $rows " in *" $1 "*) return 0 ;; esac; return 1; }

if [ "$quick" = 1 ]; then
	train_b=8 train_iters=2 embed_b=16 embed_n=48 embed_batches=1 align_n=200 conv_b=2
	align_big_n=20
else
	train_b=64 train_iters=3 embed_b=64 embed_n=256 embed_batches=2 align_n=2000 conv_b=64
	align_big_n=200
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/hm-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
say() { echo "bench: $*" >&2; }
loads=
load_sample() { loads="$loads $(cut -d' ' -f1 /proc/loadavg)"; }
median() {
	printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 }
		END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
calc() { awk "BEGIN { printf \"%.${2:-2}f\", $1 }"; }
load_sample

# --- build, then snapshot what is measured --------------------------------
if [ -z "${HM_BENCH_BUILT:-}" ]; then
	say "building"
	make -s bin/hm-synth bin/hm-align bin/hm-pack bin/hm-train bin/hm-embed libhm.a \
		tests/ref/model-driver >&2
fi
mkdir "$tmp/bin"
cp bin/hm-synth bin/hm-align bin/hm-pack bin/hm-train bin/hm-embed tests/ref/model-driver \
	"$tmp/bin/"
cc=${BENCH_CC:-cc}
cflags=${BENCH_CFLAGS:--std=c11 -O2 -D_GNU_SOURCE -fopenmp -Icommon}
libs=${BENCH_LIBS:--fopenmp -lturbojpeg -ljpeg -lz -lopenblas -lcsv -lpthread -lm}
# shellcheck disable=SC2086
$cc $cflags -o "$tmp/bin/convstep" bench/convstep.c libhm.a $libs
PATH=$tmp/bin:$PATH

# --- conv: conv layers of a training step vs plain sgemm (also the peak) ----
conv_runs=$runs conv_batch=$conv_b
want conv || conv_runs=1 conv_batch=1
say "conv step (batch $conv_batch) and sgemm, $conv_runs run(s)"
convstep "$threads" "$conv_batch" "$conv_runs" >"$tmp/conv.out"
sg=$(awk '/^run/ { print $4 }' "$tmp/conv.out")
cv=$(awk '/^run/ { print $6 }' "$tmp/conv.out")
peak=$(median $sg)
conv=$(median $cv)
train_gflop=$(awk '/^train_gflop_per_image/ { print $2 }' "$tmp/conv.out")
blas=$(sed -n 's/^blas //p' "$tmp/conv.out")
load_sample

# --- align: hm-align -j 1 / -j 2 vs OpenCV, one of each per round --------
if want align; then
	say "align: making $align_n images, and $align_big_n 1000x1000 ones"
	mkdir "$tmp/al" "$tmp/alb"
	OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 $py bench/align_opencv.py --make "$tmp/al" "$align_n"
	OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 $py bench/align_opencv.py --make "$tmp/alb" \
		"$align_big_n" --large
	cat "$tmp"/al/img/*/*.jpg "$tmp"/alb/img/*/*.jpg >/dev/null	# page cache
	hm_align_rate() {	# DIR N THREADS [OPTION...]
		local t0 t1 d=$1 n=$2 j=$3
		shift 3
		t0=$(date +%s.%N)
		"${HM_ALIGN:-hm-align}" -q -j "$j" "$@" --root "$d/img" "$d/landmarks.txt" >/dev/null
		t1=$(date +%s.%N)
		calc "$n / ($t1 - $t0)" 1
	}
	cv_rate() {	# DIR [--raw]
		OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 $py bench/align_opencv.py --run "$1" 1 ${2:-}
	}
	base=${BENCH_ALIGN_BASE:-}
	if [ -n "$base" ]; then
		cp "$base" "$tmp/bin/hm-align-base"
	fi
	al_cv=() al_1=() al_2=() al_raw=() al_cvraw=() al_big=() al_cvbig=() al_b1=() al_bbig=()
	for r in $(seq "$runs"); do
		say "align run $r/$runs"
		al_1+=("$(hm_align_rate "$tmp/al" "$align_n" 1)")
		al_cv+=("$(cv_rate "$tmp/al")")
		al_2+=("$(hm_align_rate "$tmp/al" "$align_n" 2)")
		al_raw+=("$(hm_align_rate "$tmp/al" "$align_n" 1 --encoding raw)")
		al_cvraw+=("$(cv_rate "$tmp/al" --raw)")
		al_big+=("$(hm_align_rate "$tmp/alb" "$align_big_n" 1)")
		al_cvbig+=("$(cv_rate "$tmp/alb")")
		if [ -n "$base" ]; then
			al_b1+=("$(HM_ALIGN=hm-align-base hm_align_rate "$tmp/al" "$align_n" 1)")
			al_bbig+=("$(HM_ALIGN=hm-align-base hm_align_rate "$tmp/alb" "$align_big_n" 1)")
		fi
		load_sample
	done
	cv_version=$($py -c 'import cv2; print(cv2.__version__)')
fi

# --- embed: hm-embed end to end vs PyTorch eval ---------------------------
if want embed; then
	say "embed: making $embed_n aligned faces and an ir18 model"
	model-driver init ir18 1 "$tmp/model.hmm" >/dev/null
	hm-synth -q -j "$threads" --kind lfw --identities $((embed_n / 2)) --images-per-id 2 \
		--pairs 1 -o "$tmp/lfw"
	hm-align -q -j "$threads" --root "$tmp/lfw" --size 112x112 "$tmp/lfw/landmarks.txt" \
		>"$tmp/faces.hmr"
	n=$(wc -l <"$tmp/lfw/landmarks.txt")
	em_hm=() em_pt=()
	for r in $(seq "$runs"); do
		say "embed run $r/$runs"
		/usr/bin/time -f %e -o "$tmp/time" hm-embed -q -j "$threads" -b "$embed_b" \
			--flip none -m "$tmp/model.hmm" "$tmp/faces.hmr" >/dev/null
		em_hm+=("$(calc "$n / $(tail -1 "$tmp/time")" 3)")
		line=$(OMP_NUM_THREADS=$threads $py bench/embed_torch.py "$threads" "$embed_b" \
			"$embed_batches")
		em_pt+=("$(echo "$line" | sed -n 's/^torch_embed: \([0-9.]*\) img\/s.*/\1/p')")
		load_sample
	done
fi

# --- train: hm-train vs PyTorch, img/s and peak RSS -----------------------
if want train; then
	say "train: making the pack (8 identities x 24 images, 112x112)"
	hm-synth -q -j "$threads" --kind casia --identities 8 --images-per-id 24 -o "$tmp/casia"
	hm-align -q -j "$threads" --root "$tmp/casia" "$tmp/casia/landmarks.txt" |
		hm-pack -q -o "$tmp/p.hmr" -
	tr_hm=() tr_pt=() rss_hm=() rss_pt=()
	for r in $(seq "$runs"); do
		say "train run $r/$runs: hm-train"
		rm -rf "$tmp/out"
		/usr/bin/time -f %M -o "$tmp/time" hm-train -q -j "$threads" -a ir18 \
			-b "$train_b" --iters "$train_iters" --checkpoint-every 0 -o "$tmp/out" \
			"$tmp/p.hmr" >/dev/null &
		pid=$!
		# train.csv gets one line per step, flushed when the step ends; its
		# img_s is rounded to 0.1, too coarse at 1 img/s, so time each line's
		# arrival instead (tail -F: inotify, no polling; it ends with the run)
		# (tail fails for the file that is not there yet: the count below checks)
		{ tail -F -s 0.1 --pid=$pid -n +1 "$tmp/out/train.csv" 2>/dev/null || :; } |
			while IFS= read -r _; do date +%s.%N; done >"$tmp/stamps"
		wait $pid
		rss_hm+=("$(tail -1 "$tmp/time")")
		# steps after the first (warm-up): the batch over the time between
		# the previous line and this one; their median
		[ "$(wc -l <"$tmp/stamps")" -eq $((train_iters + 1)) ] || {
			echo "bench/run.sh: hm-train wrote $(wc -l <"$tmp/stamps") lines to train.csv, not $((train_iters + 1))" >&2
			exit 1
		}
		tr_hm+=("$(median $(awk -v b="$train_b" 'NR > 2 { printf "%.3f\n", b / ($1 - t) }
			{ t = $1 }' "$tmp/stamps"))")
		load_sample
		say "train run $r/$runs: PyTorch"
		line=$(OMP_NUM_THREADS=$threads /usr/bin/time -f %M -o "$tmp/time" \
			$py bench/train_torch.py "$threads" "$train_b" "$train_iters" 1)
		rss_pt+=("$(tail -1 "$tmp/time")")
		tr_pt+=("$(echo "$line" | sed -n 's/^torch: \([0-9.]*\) img\/s.*/\1/p')")
		load_sample
	done
fi

# --- the table ------------------------------------------------------------
met() {	# met VALUE OP TARGET -> "met" or "not met"
	awk -v v="$1" -v t="$3" -v op="$2" 'BEGIN {
		ok = (op == ">=") ? v >= t : v <= t; print ok ? "met" : "not met" }'
}
gib() { calc "$1 / 1048576" 2; }
list() { echo "$*"; }
infer_gflop=$(calc "$train_gflop / 3" 2)
torch_version=$($py -c 'import torch; print(torch.__version__)')
load_sample

{
echo "hm bench: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //') x $(nproc)," \
	"$(grep -qw avx512f /proc/cpuinfo && echo AVX-512 || { grep -qw avx2 /proc/cpuinfo && echo 'AVX2, no AVX-512' || echo 'no AVX2'; })," \
	"$threads threads, median of $runs run(s)$([ "$quick" = 1 ] && echo ', QUICK (small work: not the figures)')"
echo "$blas; PyTorch $torch_version${cv_version:+; OpenCV $cv_version}"
echo "load average (1 min) sampled during the run: $(printf '%s\n' $loads | sort -g | head -1) to $(printf '%s\n' $loads | sort -g | tail -1)"
echo
echo "| what | hm | reference | ratio | target | physical limit / distance |"
echo "|---|---:|---:|---:|---|---|"
if want train; then
	h=$(median "${tr_hm[@]}") p=$(median "${tr_pt[@]}")
	ratio=$(calc "$h / $p")
	lim=$(calc "$peak / $train_gflop" 1)
	echo "| hm-train ir18 3x112x112, batch $train_b, $threads threads: img/s | $h | PyTorch $torch_version: $p | ${ratio}x | >= 2.0x: $(met "$ratio" ">=" 2.0) | $lim img/s ($train_gflop GFLOP/img at the sgemm peak, $peak GFLOP/s): hm at $(calc "100 * $h / $lim" 0)% |"
	h=$(median "${rss_hm[@]}") p=$(median "${rss_pt[@]}")
	ratio=$(calc "$h / $p")
	echo "| hm-train peak RSS, batch $train_b: GiB | $(gib "$h") | PyTorch: $(gib "$p") | ${ratio}x | <= 0.5x: $(met "$ratio" "<=" 0.5) | - |"
fi
if want embed; then
	h=$(median "${em_hm[@]}") p=$(median "${em_pt[@]}")
	ratio=$(calc "$h / $p")
	lim=$(calc "$peak / $infer_gflop" 1)
	echo "| hm-embed ir18, batch $embed_b, $threads threads, end to end ($n images): img/s | $(calc "$h" 2) | PyTorch eval, no_grad: $(calc "$p" 2) | ${ratio}x | >= 1.5x: $(met "$ratio" ">=" 1.5) | $lim img/s ($infer_gflop GFLOP/img at $peak GFLOP/s): hm at $(calc "100 * $h / $lim" 0)% |"
fi
if want align; then
	h=$(median "${al_1[@]}") p=$(median "${al_cv[@]}")
	ratio=$(calc "$h / $p")
	echo "| hm-align -j 1, 250x250 JPEG -> 112x112 JPEG: img/s | $(calc "$h" 0) | OpenCV ${cv_version}, 1 thread: $(calc "$p" 0) | ${ratio}x | >= 1.5x: $(met "$ratio" ">=" 1.5) | - |"
	hr=$(median "${al_raw[@]}") pr=$(median "${al_cvraw[@]}")
	echo "| hm-align -j 1, 250x250 JPEG -> 112x112 raw (--encoding raw): img/s | $(calc "$hr" 0) | OpenCV, no imencode: $(calc "$pr" 0) | $(calc "$hr / $pr")x | - | the JPEG encode: hm $(calc "1e6 / $h - 1e6 / $hr" 0) us of $(calc "1e6 / $h" 0) us per image, OpenCV $(calc "1e6 / $p - 1e6 / $pr" 0) of $(calc "1e6 / $p" 0) |"
	hb=$(median "${al_big[@]}") pb=$(median "${al_cvbig[@]}")
	ratio=$(calc "$hb / $pb")
	echo "| hm-align -j 1, 1000x1000 JPEG (150-px face) -> 112x112 JPEG: img/s | $(calc "$hb" 0) | OpenCV, whole-image decode: $(calc "$pb" 0) | ${ratio}x | >= 3.0x: $(met "$ratio" ">=" 3.0) | - |"
	if [ -n "$base" ]; then
		b1=$(median "${al_b1[@]}") bb=$(median "${al_bbig[@]}")
		echo "| hm-align -j 1, 250x250 JPEG, this build beside BENCH_ALIGN_BASE: img/s | $(calc "$h" 0) | base: $(calc "$b1" 0) | $(calc "$h / $b1")x | - | - |"
		echo "| hm-align -j 1, 1000x1000 JPEG, this build beside BENCH_ALIGN_BASE: img/s | $(calc "$hb" 0) | base: $(calc "$bb" 0) | $(calc "$hb / $bb")x | - | - |"
	fi
	h2=$(median "${al_2[@]}")
	ratio=$(calc "$h2 / $h")
	echo "| hm-align -j 2 beside -j 1: img/s | $(calc "$h2" 0) | hm-align -j 1: $(calc "$h" 0) | ${ratio}x | - | 2.00x on 2 cores: at $(calc "100 * $ratio / 2" 0)% |"
fi
if want conv; then
	ratio=$(calc "$conv / $peak")
	echo "| conv layers of an ir18 training step (batch $conv_batch, $threads threads): GFLOP/s | $conv | plain sgemm 1024^3: $peak | ${ratio}x | >= 0.60x: $(met "$ratio" ">=" 0.6) | the sgemm peak: at $(calc "100 * $ratio" 0)% |"
fi
echo
echo "runs (hm / reference, in the order run):"
want train && echo "  train img/s: $(list "${tr_hm[@]}") / $(list "${tr_pt[@]}"); peak RSS KiB: $(list "${rss_hm[@]}") / $(list "${rss_pt[@]}")"
want embed && echo "  embed img/s: $(list "${em_hm[@]}") / $(list "${em_pt[@]}")"
want align && echo "  align img/s: -j 1 $(list "${al_1[@]}") / OpenCV $(list "${al_cv[@]}") / -j 2 $(list "${al_2[@]}")"
want align && echo "  align raw img/s: -j 1 $(list "${al_raw[@]}") / OpenCV $(list "${al_cvraw[@]}"); 1000x1000: -j 1 $(list "${al_big[@]}") / OpenCV $(list "${al_cvbig[@]}")"
want align && [ -n "${BENCH_ALIGN_BASE:-}" ] && echo "  BENCH_ALIGN_BASE ($BENCH_ALIGN_BASE) img/s: 250x250 $(list "${al_b1[@]}"); 1000x1000 $(list "${al_bbig[@]}")"
echo "  conv GFLOP/s: $(list $cv) / sgemm $(list $sg)"
}
