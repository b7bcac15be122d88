#!/bin/bash
# make study end to end on a tiny synthetic set (20 identities x 6 images,
# an LFW-shaped set for 100 pairs of the real LFW list, a small net, 6 iterations; under a
# minute): every run announced as "run K of N", one row per run, the
# lr-matched control at lr x 2 L0 with L0 the baseline's first logged loss,
# the table's cells and paired differences from the rows, a second make
# trains nothing, a run whose loss stops being finite is kept as diverged.
. "$(dirname "$0")/lib.sh"
unset MAKEFLAGS MFLAGS MAKELEVEL
keep_tools=()
for t in "$TEST_ROOT"/bin/hm-*; do keep_tools+=(-o "bin/${t##*/}"); done

smake() {
	make -C "$TEST_ROOT" --no-print-directory "${keep_tools[@]}" "${VG_MAKE[@]}" DEMO="$SCRATCH/demo" \
		STUDY="$SCRATCH/study" DEMO_IDS=20 DEMO_IMGS=6 DEMO_LFW_PAIRS="$SCRATCH/pairs100.txt" \
		DEMO_ARCH=ir:1,1,1,1:8,16,32,64 DEMO_EMB=32 \
		DEMO_BATCH=16 STUDY_ITERS=6 STUDY_LR_STEPS=4 STUDY_LOSSES="softmax arcface" \
		STUDY_MODES="none powern:2" STUDY_SEEDS="1 2" "$@"
}

# 100 pairs of the real LFW list, its 10 folds kept: the first 5 matched and
# the first 5 mismatched pairs of each fold under a "10<TAB>5" header.
{ printf '10\t5\n'; for f in 0 1 2 3 4 5 6 7 8 9; do
	sed -n "$((2 + 600 * f)),$((6 + 600 * f))p;$((302 + 600 * f)),$((306 + 600 * f))p" "$DATA/pairs.txt"
done; } >pairs100.txt

test_expect_success 'make study: exit 0, every run announced once, the table printed' '
	smake study >out 2>err &&
	for k in $(seq 12); do
		test $(grep -c "^study: run $k of 12: " out) = 1 || exit 1
	done &&
	grep -q "^study: run 1 of 12: softmax --hm none, seed 1$" out &&
	grep -q "^study: run 3 of 12: softmax, no hard mining, lr-matched to power:2 (lr [0-9.]*), seed 1$" out &&
	test -s study/table.md &&
	grep -qx "| loss | hard mining | lr | seeds | LFW accuracy % | diff | TAR@FAR=1e-3 % | diff |" out
'

# 50 different pairs cannot resolve FAR 1e-3: hm-roc leaves that TAR empty.
test_expect_success 'one row per run: loss, mode, seed, rate, status, accuracy, TAR (empty: n/a)' '
	ls study/*/row | wc -l >n && echo 12 >n.want && cmp n n.want &&
	cat study/*/row >rows &&
	awk -F, "NF != 8 || \$6 != \"ok\" || !(\$7 > 0.3 && \$7 <= 1) || !(\$8 == \"\" || \$8 >= 0 && \$8 <= 1) { exit 1 }" rows &&
	grep -q "^arcface-powern2-s2,arcface,powern:2,2,0.01,ok," rows &&
	grep -q "^softmax-lrmatch-s1,softmax,lrmatch,1," rows &&
	grep -q -- "--hm powern:2 --lr 0.01$" study/arcface-powern2-s2/train.opts
'

test_expect_success 'the control runs at lr x 2 L0, L0 the baseline'"'"'s first logged loss' '
	for l in softmax arcface; do
		l0=$(sed -n 2p study/$l-none-s1/train.csv | cut -d, -f3) &&
		want=$(awk -v l0=$l0 "BEGIN { printf \"%.6g\", 0.01 * 2 * l0 }") &&
		grep -q -- "--hm none --lr $want$" study/$l-lrmatch-s1/train.opts &&
		sed -n 2p study/$l-lrmatch-s1/train.csv | grep -q ",$want," || exit 1
	done
'

test_expect_success 'the table: mean +- std over seeds, paired differences from the rows' '
	t=study/table.md &&
	test $(grep -c "^| softmax |" $t) = 3 && test $(grep -c "^| arcface |" $t) = 3 &&
	a1=$(grep ^arcface-none-s1, rows | cut -d, -f7) && a2=$(grep ^arcface-none-s2, rows | cut -d, -f7) &&
	b1=$(grep ^arcface-powern2-s1, rows | cut -d, -f7) && b2=$(grep ^arcface-powern2-s2, rows | cut -d, -f7) &&
	awk -v a1=$a1 -v a2=$a2 -v b1=$b1 -v b2=$b2 "BEGIN {
		m = (b1 + b2) / 2; s = sqrt((b1 - m)^2 + (b2 - m)^2)
		d1 = b1 - a1; d2 = b2 - a2; dm = (d1 + d2) / 2; ds = sqrt((d1 - dm)^2 + (d2 - dm)^2)
		printf \"| arcface | powern:2 | 0.01 | 2 | %.2f +- %.2f | %+.2f +- %.2f\", 100 * m, 100 * s, 100 * dm, 100 * ds }" >want &&
	grep -qF "$(cat want)" $t
'

test_expect_success 'a second make study trains and embeds nothing' '
	ls -l --time-style=+%s.%N study/*/model.hmm study/*/lfw.scores.csv study/*/row >before &&
	smake study >out 2>err &&
	! grep -q "^study: run" out &&
	ls -l --time-style=+%s.%N study/*/model.hmm study/*/lfw.scores.csv study/*/row >after &&
	cmp before after &&
	cmp study/table.md <(sed -n "/^# hm study/,\$p" out)
'

test_expect_success 'a run cut short in training (checkpoint, no model) resumes; its row is remade' '
	rm study/softmax-none-s2/row study/softmax-none-s2/trained study/softmax-none-s2/model.hmm &&
	smake study >out 2>err &&
	test $(grep -c "^study: run" out) = 1 &&
	grep -q "^study: run 7 of 12: softmax --hm none, seed 2$" out &&
	test -s study/softmax-none-s2/row && test -s study/softmax-none-s2/model.hmm &&
	awk -F, "NR > 1 && \$2 != NR - 1 { exit 1 } END { exit NR != 7 }" study/softmax-none-s2/train.csv
'

test_expect_success 'a run that stops being finite is kept as diverged' '
	smake study STUDY="$SCRATCH/nan" STUDY_LOSSES=softmax STUDY_MODES=none STUDY_SEEDS=1 \
		STUDY_LR=1e30 >out 2>err &&
	grep -q "^study: softmax-none-s1 diverged: " out &&
	grep -q "^softmax-none-s1,softmax,none,1,1e30,diverged,,$" nan/softmax-none-s1/row &&
	grep -q "^| softmax | none | 1e+30 | 0 (1 diverged) | - | - |" nan/table.md
'

test_done
