#!/bin/bash
# Faults: hm-train killed with SIGKILL at random moments (no handler runs),
# then resumed, again and again.  Whatever moment the kill hits, the
# checkpoint on disk loads, and the resumed run ends with the same model,
# checkpoint and log (but for the timing column) as a run never killed.
# The moments come from a seeded awk rand(), as fractions of an unkilled
# run's duration, so a failure can be replayed.
. "$(dirname "$0")/lib.sh"

HM_THREADS=1
ARGS="-j1 -q -a ir:1,1:8,16 --emb-size 16 -b 8 --epochs 25 --checkpoint-every 7"

test_expect_success 'a small pack and a run never killed (250 iterations)' '
	hm-synth -q --kind casia --identities 8 --images-per-id 10 --size 64x64 \
		--lookalike 0 -o d &&
	hm-align -q --root d --size 16x16 --out-dir al d/landmarks.txt &&
	hm-pack -q -o p.hmr al &&
	hm-align -q --root d --size 16x16 d/landmarks.txt >faces.hmr &&
	t0=$(date +%s.%N) &&
	hm-train $ARGS -o ref p.hmr >/dev/null &&
	t1=$(date +%s.%N) &&
	test -s ref/model.hmm && test -s ref/checkpoint.hmm &&
	awk -v a="$t0" -v b="$t1" "BEGIN { print b - a }" >duration
'

# kill_at SECONDS CMD...: runs CMD, kills it with SIGKILL after SECONDS
# unless it ended first; prints "killed" or "ended RC".
kill_at() {
	local t=$1 pid rc
	shift
	"$@" >/dev/null 2>>errors &
	pid=$!
	sleep "$t"
	if kill -9 "$pid" 2>/dev/null; then
		wait "$pid" 2>/dev/null
		echo killed
	else
		wait "$pid"
		rc=$?
		echo "ended $rc"
	fi
}

# A seed's run: three kills at random moments, each followed by a check
# that the checkpoint on disk (if one was written yet) loads, then a resume
# to the end.
killed_run() {
	local seed=$1 dir=k$1 i t what
	for i in 1 2 3; do
		# A moment within the first 80% of an unkilled run's duration, so
		# the kills hit a running training however fast this machine is.
		t=$(awk -v s="$seed" -v i="$i" -v d="$(cat duration)" \
			'BEGIN { srand(s * 10 + i); printf "%.3f", d * (0.05 + 0.75 * rand()) }')
		if [ -e "$dir/checkpoint.hmm" ]; then
			what=$(kill_at "$t" hm-train --resume "$dir")
		else
			what=$(kill_at "$t" hm-train $ARGS -o "$dir" p.hmr)
		fi
		echo "seed $seed kill $i at ${t}s: $what" >>kills
		case $what in
		killed | "ended 0") ;;
		*) echo "hm-train failed before the kill: $what"; cat errors; return 1 ;;
		esac
		if [ -e "$dir/checkpoint.hmm" ]; then
			# The checkpoint on disk is whole: it loads as a model.
			hm-embed -q -m "$dir/checkpoint.hmm" faces.hmr >emb.hmr ||
				{ echo "seed $seed: checkpoint after kill $i does not load"; return 1; }
		fi
	done
	if [ -e "$dir/checkpoint.hmm" ]; then
		hm-train --resume "$dir" >/dev/null
	else
		hm-train $ARGS -o "$dir" p.hmr >/dev/null
	fi || return 1
	cmp ref/model.hmm "$dir/model.hmm" &&
	cmp ref/checkpoint.hmm "$dir/checkpoint.hmm" &&
	cut -d, -f1-5 ref/train.csv >a && cut -d, -f1-5 "$dir/train.csv" >b && cmp a b
}

for seed in 1 2 3 4; do
	test_expect_success "seed $seed: three SIGKILLs, each checkpoint loads, the resumed run ends as the unkilled one" "
		killed_run $seed
	"
done

test_expect_success 'the kills hit running trainings (not only finished ones)' '
	cat kills &&
	test $(grep -c "killed$" kills) -ge 6
'

test_expect_success 'a kill leaves no file but the run'"'"'s own (a temp file only if it hit a write)' '
	ls k1 k2 k3 k4 | grep -v -e "^k[1-4]:$" -e "^$" -e "^checkpoint\.hmm$" -e "^model\.hmm$" \
		-e "^train\.csv$" -e "^checkpoint\.hmm\.tmp\.[0-9]*$" -e "^model\.hmm\.tmp\.[0-9]*$" >other;
	test ! -s other
'

test_done
