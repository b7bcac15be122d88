#!/bin/bash
# make demo end to end on a tiny synthetic set (40 identities x 10 images,
# an LFW-shaped set for 200 pairs of the real LFW list, a small net, 4
# epochs; a few seconds): softmax, asoftmax and arcface, each without and
# with hard mining, at one rate; the table printed and written with its
# structure (the -hm mode and the rate stated), every run above chance and
# softmax well above an untrained network, the table's numbers equal to
# hm-roc's, the ROC plot beside it; a second make
# does nothing; SEEDS="1 2" trains only the new seed and reports the spread.
. "$(dirname "$0")/lib.sh"
unset MAKEFLAGS MFLAGS MAKELEVEL
# The tools as make check built them (with its flags, SANITIZE=1 included):
# make may not rebuild them here (-o: treat as up to date).
keep_tools=()
for t in "$TEST_ROOT"/bin/hm-*; do keep_tools+=(-o "bin/${t##*/}"); done

dmake() {
	make -C "$TEST_ROOT" --no-print-directory "${keep_tools[@]}" "${VG_MAKE[@]}" DEMO="$SCRATCH/demo" \
		DEMO_IDS=40 DEMO_IMGS=10 DEMO_LFW_PAIRS="$SCRATCH/pairs200.txt" \
		DEMO_ARCH=ir:1,1,1,1:8,16,32,64 DEMO_EMB=64 \
		DEMO_BATCH=32 DEMO_EPOCHS=4 DEMO_LR_STEPS=3 "$@"
}

# 200 pairs of the real LFW list, its 10 folds kept: the first 10 matched and
# the first 10 mismatched pairs of each fold under a "10<TAB>10" header.
{ printf '10\t10\n'; for f in 0 1 2 3 4 5 6 7 8 9; do
	sed -n "$((2 + 600 * f)),$((11 + 600 * f))p;$((302 + 600 * f)),$((311 + 600 * f))p" "$DATA/pairs.txt"
done; } >pairs200.txt

test_expect_success 'by default the demo renders its test set for the real LFW pairs.txt (6000 pairs)' '
	make -C "$TEST_ROOT" --no-print-directory -n "${keep_tools[@]}" DEMO="$SCRATCH/d0" demo-run >out 2>err &&
	grep -qx "bin/hm-synth -q --kind lfw --pairs-from data/pairs.txt --difficulty 0.9 --lookalike 0.3 --seed 1 -o $SCRATCH/d0/lfw" out &&
	test "$(head -n 1 "$TEST_ROOT/data/pairs.txt")" = "$(printf "10\t300")" &&
	test ! -e d0
'

test_expect_success 'make demo: exit 0, every stage ran, the table printed last' '
	dmake demo >out 2>err &&
	test $(grep -c "^bin/hm-train " out) = 6 &&
	test $(grep -c "^bin/hm-embed " out) = 6 &&
	test $(grep "^bin/hm-train " out | grep -c -- "--lr 0.01 ") = 6 &&
	test $(grep "^bin/hm-train " out | grep -c -- "--hm powern:2 ") = 3 &&
	grep -q "^bin/hm-synth -q --kind casia --identities 40 --images-per-id 10 --difficulty 0.9" out &&
	grep -q "^bin/hm-synth -q --kind lfw --pairs-from $SCRATCH/pairs200.txt " out &&
	cmp pairs200.txt demo/lfw/pairs.txt &&
	test -s demo/table.md && test -s demo/lfw-roc.svg &&
	n=$(wc -l <demo/table.md) &&
	tail -n $((n + 2)) out | head -n $n >printed && cmp printed demo/table.md &&
	tail -n 1 out | grep -q "^ROC plot: $SCRATCH/demo/lfw-roc.svg"
'

test_expect_success 'table structure: title, test set, header, one row per loss with both variants' '
	t=demo/table.md &&
	sed -n 1p $t | grep -q "^# hm demo: 40 synthetic identities x 10 images at 32x32, ir:1,1,1,1:8,16,32,64, 4 epochs (x0.1 after 3), -hm: --hm powern:2, every run at lr 0.01; seeds 1$" &&
	grep -qx "## LFW: 200 pairs, 10 folds, exact threshold search" $t &&
	grep -qx "| training | loss | -hm mode | lr | accuracy % | -hm | diff | AUC | -hm | diff | TAR@FAR=1e-3 % | -hm | diff |" $t &&
	grep -qx "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|" $t &&
	test $(grep -c "^| synthetic |" $t) = 3 &&
	for l in softmax asoftmax arcface; do
		grep "^| synthetic | $l | powern:2 | 0.01 |" $t >row.$l &&
		awk -F" [|] " "{ sub(/ [|]\$/, \"\") } NF != 13 { exit 1 } { for (i = 3; i <= 13; i++) if (\$i ~ /^ *-? *\$/) exit 1 }" row.$l || exit 1
	done
'

test_expect_success 'all six runs are above chance (10-fold accuracy > 0.6, AUC > 0.6)' '
	grep -q "^curve,pairs,same,different,folds,protocol,accuracy,accuracy_std,threshold_mean,auc," demo/lfw.csv &&
	cut -d, -f1 demo/lfw.csv | tail -n +2 >labels &&
	printf "%s\n" softmax-s1 softmax-hm-s1 asoftmax-s1 asoftmax-hm-s1 arcface-s1 arcface-hm-s1 >labels.want &&
	cmp labels labels.want &&
	awk -F, "NR > 1 { print \$1, \$7, \$10; if (!(\$7 > 0.6 && \$10 > 0.6 && \$2 == 200 && \$5 == 10)) bad = 1 }
		END { exit bad }" demo/lfw.csv
'

test_expect_success 'training learned: softmax AUC beats an untrained network (one step at lr 1e-9) by 0.05' '
	hm-train -q -j1 -a ir:1,1,1,1:8,16,32,64 --emb-size 64 -b 32 --iters 1 --lr 1e-9 \
		-o untrained demo/train.hmr >/dev/null &&
	hm-embed -q -j1 -m untrained/model.hmm demo/lfw.hmr >untrained.hmr &&
	hm-verify -o untrained.csv demo/lfw/pairs.txt untrained.hmr &&
	hm-roc --csv -o u.csv untrained.csv &&
	u=$(cut -d, -f10 u.csv | tail -n 1) &&
	s=$(awk -F, "\$1 == \"softmax-s1\" { print \$10 }" demo/lfw.csv) &&
	echo "untrained AUC $u, softmax AUC $s" &&
	awk -v u="$u" -v s="$s" "BEGIN { exit !(s > u + 0.05) }"
'

# 200 pairs have 100 different ones: FAR 1e-3 is below 1/100, so hm-roc
# leaves TAR@FAR=1e-3 empty (not resolvable) and the table says n/a.
test_expect_success 'the table repeats hm-roc: accuracy +- std, AUC, TAR (n/a here), differences' '
	awk -F, "NR > 1 { a[\$1] = \$7; s[\$1] = \$8; u[\$1] = \$10; t[\$1] = \$13 }
		function p(v) { return v == \"\" ? \"n/a\" : sprintf(\"%.2f\", v * 100) }
		END {
			l = \"softmax\"; b = l \"-s1\"; h = l \"-hm-s1\"
			d = t[b] == \"\" || t[h] == \"\" ? \"n/a\" : sprintf(\"%+.2f\", (t[h] - t[b]) * 100)
			printf \"| synthetic | %s | powern:2 | 0.01 | %.2f +- %.2f | %.2f +- %.2f | %+.2f | %.4f | %.4f | %+.4f | %s | %s | %s |\n\",
				l, a[b] * 100, s[b] * 100, a[h] * 100, s[h] * 100, (a[h] - a[b]) * 100,
				u[b], u[h], u[h] - u[b], p(t[b]), p(t[h]), d
		}" demo/lfw.csv >row.want &&
	cmp row.softmax row.want &&
	grep -q "| n/a | n/a | n/a |\$" row.softmax
'

test_expect_success 'the ROC plot has one curve per run' '
	for l in softmax-s1 softmax-hm-s1 asoftmax-s1 asoftmax-hm-s1 arcface-s1 arcface-hm-s1; do
		grep -q "<polyline class=\"curve\" data-label=\"$l\"" demo/lfw-roc.svg || exit 1
	done
'

test_expect_success 'a second make demo runs nothing and prints the same table' '
	dmake demo >out 2>err &&
	! grep -q "^bin/" out && grep -qx "| synthetic | softmax |.*" out &&
	test -s demo/softmax-s1/model.hmm
'

test_expect_success 'SEEDS="1 2": only seed 2 trains; mean +- std over seeds, per-seed differences' '
	dmake demo SEEDS="1 2" >out 2>err &&
	test $(grep -c "^bin/hm-train " out) = 6 &&
	! grep "^bin/hm-train " out | grep -qv -- "--seed 2 " &&
	t=demo/table.md &&
	grep -q "seeds 1 2$" $t &&
	grep -q "^Over 2 seeds: mean +- sample std over the seeds" $t &&
	grep -q "^- softmax accuracy diff per seed: [-+][0-9.]*, [-+][0-9.]*$" $t &&
	awk -F, "\$1 == \"softmax-s1\" { x = \$7 } \$1 == \"softmax-s2\" { y = \$7 }
		END { m = (x + y) / 2; d = sqrt(((x - m)^2 + (y - m)^2)); printf \"| synthetic | softmax | powern:2 | 0.01 | %.2f +- %.2f |\n\", m * 100, d * 100 }" \
		demo/lfw.csv >want &&
	grep -qF "$(cat want)" $t
'

test_done
