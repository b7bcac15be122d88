#!/bin/bash
# Faults: hm-train killed with SIGKILL at random moments (no handler runs),
# then resumed, again and again.  Whatever moment the kill hits, the
# checkpoint on disk loads, and the resumed run ends with the same model,
# checkpoint and log (but for the timing column) as a run never killed.
# Each moment is a random iteration (seeded awk rand(), so a failure can be
# replayed): the kill comes as soon as train.csv, flushed every iteration,
# shows it.  A moment in iterations, not seconds, hits a running training
# however fast or loaded the machine is.
. "$(dirname "$0")/lib.sh"

HM_THREADS=1
ARGS="-j1 -q -a ir:1,1:8,16 --emb-size 16 -b 8 --epochs 25 --checkpoint-every 7"

test_expect_success 'a small pack and a run never killed (250 iterations)' '
	hm-synth -q --kind casia --identities 8 --images-per-id 10 --size 64x64 \
		--lookalike 0 -o d &&
	hm-align -q --root d --size 16x16 --out-dir al d/landmarks.txt &&
	hm-pack -q -o p.hmr al &&
	hm-align -q --root d --size 16x16 d/landmarks.txt >faces.hmr &&
	hm-train $ARGS -o ref p.hmr >/dev/null &&
	test -s ref/model.hmm && test -s ref/checkpoint.hmm
'

# rows CSV: the iterations CSV has logged (0 when it does not exist yet).
rows() {
	local n
	n=$(wc -l <"$1" 2>/dev/null) || n=1
	echo $((n > 0 ? n - 1 : 0))
}

# kill_at ITER CSV CMD...: runs CMD and kills it with SIGKILL once CSV
# shows iteration ITER, unless it ended first; prints "killed" or "ended RC".
kill_at() {
	local iter=$1 csv=$2 pid rc
	shift 2
	"$@" >/dev/null 2>>errors &
	pid=$!
	while kill -0 "$pid" 2>/dev/null && [ "$(rows "$csv")" -lt "$iter" ]; do
		sleep 0.002
	done
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
	local seed=$1 dir=k$1 i t what done_
	for i in 1 2 3; do
		# An iteration past what the log shows (a resumed run first cuts
		# the log back to its checkpoint, never below) and 20 short of
		# the end, so the kill hits a running training.
		done_=$(rows "$dir/train.csv")
		[ "$done_" -lt 229 ] || break
		t=$(awk -v s="$seed" -v i="$i" -v d="$done_" \
			'BEGIN { srand(s * 10 + i); printf "%d", d + 1 + int((229 - d) * rand() ^ 2) }')
		if [ -e "$dir/checkpoint.hmm" ]; then
			what=$(kill_at "$t" "$dir/train.csv" hm-train --resume "$dir")
		else
			what=$(kill_at "$t" "$dir/train.csv" hm-train $ARGS -o "$dir" p.hmr)
		fi
		echo "seed $seed kill $i at iteration $t: $what" >>kills
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
	test $(grep -c "killed$" kills) -ge 10
'

test_expect_success 'the resumes removed the temp files the kills left: only the run'"'"'s files remain' '
	ls k1 k2 k3 k4 | grep -v -e "^k[1-4]:$" -e "^$" -e "^checkpoint\.hmm$" -e "^model\.hmm$" \
		-e "^train\.csv$" >other;
	test ! -s other
'

test_expect_success 'a resume removes a dead run'"'"'s temp files and keeps a live one'"'"'s' '
	cp -r k1 t && : >t/checkpoint.hmm.tmp.999999999 && : >t/model.hmm.tmp.999999998 &&
	{ sleep 30 & } && live=$! &&
	: >t/checkpoint.hmm.tmp.$live && : >t/model.hmm.tmp.x1 &&
	hm-train --resume t >/dev/null;
	rc=$?; kill $live; test $rc = 0 &&
	ls t >names && cat names &&
	! grep -q "tmp\.99999999" names &&
	grep -q "^checkpoint\.hmm\.tmp\.$live$" names && grep -q "^model\.hmm\.tmp\.x1$" names
'

test_done
