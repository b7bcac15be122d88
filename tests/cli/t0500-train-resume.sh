#!/bin/bash
# hm-train checkpoints and exact resume: a run stopped (--stop-after, a real
# SIGINT, a real SIGTERM) and resumed gives the same model.hmm bytes as a run
# that was never stopped; resumed options are checked against the checkpoint.
. "$(dirname "$0")/lib.sh"

ARGS="-q -a ir:1,1,1,1:4,8,16,32 --emb-size 16 -b 8 --lr-steps 3 --warmup 4"

test_expect_success 'a small labelled pack (80 faces, 16x16)' '
	hm-synth -q --kind casia --identities 8 --images-per-id 10 --size 64x64 \
		--lookalike 0 -o d &&
	hm-align -q --root d --size 16x16 --out-dir al d/landmarks.txt &&
	hm-pack -q -o p.hmr al
'

test_expect_success 'uninterrupted runs (one and two threads)' '
	hm-train -j1 $ARGS --epochs 5 --checkpoint-every 7 -o full1 p.hmr >/dev/null &&
	hm-train -j2 $ARGS --epochs 5 --checkpoint-every 7 -o full2 p.hmr >/dev/null &&
	test -s full1/model.hmm && test -s full2/model.hmm
'

test_expect_success 'two runs with the same seed and threads give the same bytes' '
	hm-train -j2 $ARGS --epochs 5 --checkpoint-every 7 -o again p.hmr >/dev/null &&
	cmp full2/model.hmm again/model.hmm && cmp full2/checkpoint.hmm again/checkpoint.hmm
'

test_expect_success 'another seed gives another model' '
	hm-train -j2 $ARGS --epochs 5 --seed 9 -o other p.hmr >/dev/null &&
	! cmp -s full2/model.hmm other/model.hmm
'

test_expect_success '--stop-after mid-epoch, then --resume DIR: byte-identical (-j1)' '
	hm-train -j1 $ARGS --epochs 5 --checkpoint-every 7 --stop-after 13 -o part1 p.hmr \
		>out 2>err &&
	test ! -s out && grep -q "stopped after iteration 13" err &&
	test ! -e part1/model.hmm && test $(wc -l <part1/train.csv) = 14 &&
	hm-train -j1 --resume part1 >out &&
	grep -q "^trained 50 iterations" out &&
	cmp full1/model.hmm part1/model.hmm &&
	cmp full1/checkpoint.hmm part1/checkpoint.hmm
'

test_expect_success 'the resumed log equals the uninterrupted one but for the timing' '
	cut -d, -f 1-5 full1/train.csv >a && cut -d, -f 1-5 part1/train.csv >b &&
	cmp a b
'

test_expect_success 'log rows after the checkpoint (a hard kill) are dropped on resume' '
	hm-train -j1 $ARGS --epochs 5 --checkpoint-every 7 --stop-after 13 -o hard p.hmr \
		2>/dev/null &&
	echo "3,14,99,0,0.1,1" >>hard/train.csv && echo "3,15,99,0,0.1,1" >>hard/train.csv &&
	hm-train -j1 --resume hard >/dev/null &&
	cut -d, -f 1-5 hard/train.csv >c && cmp a c
'

test_expect_success 'the same with two threads, resumed from the file into another -o' '
	hm-train -j2 $ARGS --epochs 5 --checkpoint-every 7 --stop-after 21 -o part2 p.hmr \
		2>/dev/null &&
	hm-train -j2 --resume part2/checkpoint.hmm -o moved p.hmr >/dev/null &&
	cmp full2/model.hmm moved/model.hmm
'

test_expect_success 'resuming with the same options repeated is accepted' '
	hm-train -j1 $ARGS --epochs 5 --checkpoint-every 7 --stop-after 3 -o rep p.hmr \
		2>/dev/null &&
	hm-train -j1 $ARGS --epochs 5 --resume rep p.hmr >/dev/null &&
	cmp full1/model.hmm rep/model.hmm
'

test_expect_success 'resuming with a different run-defining option fails, naming it' '
	hm-train -j1 $ARGS --epochs 5 --stop-after 3 -o conflict p.hmr 2>/dev/null &&
	cp conflict/checkpoint.hmm ck.before &&
	test_fails_cleanly 1 "--lr 0.5 differs from the checkpoint" \
		hm-train --resume conflict --lr 0.5 &&
	test_fails_cleanly 1 "--epochs 6 differs from the checkpoint" \
		hm-train --resume conflict --epochs 6 &&
	cmp ck.before conflict/checkpoint.hmm
'

test_expect_success 'resuming on another pack fails' '
	hm-pack -q -o q.hmr d &&
	test_fails_cleanly 1 "not the pack this checkpoint was trained on" \
		hm-train --resume conflict q.hmr
'

test_expect_success 'a real SIGINT: checkpoint at the last step, exit 130, exact resume' '
	hm-train -j1 $ARGS --iters 1200 --checkpoint-every 0 -o long p.hmr >/dev/null &&
	{ hm-train -j1 $ARGS --iters 1200 --checkpoint-every 0 -o int p.hmr 2>int.err & } &&
	pid=$! &&
	while kill -0 $pid 2>/dev/null && [ "$(wc -l <int/train.csv 2>/dev/null || echo 0)" -lt 30 ]; do sleep 0.02; done &&
	kill -INT $pid;
	wait $pid; rc=$? &&
	echo "exit $rc" && test $rc = 130 &&
	grep -q "interrupted (SIGINT) at iteration" int.err &&
	n=$(tail -n 1 int/train.csv | cut -d, -f2) &&
	echo "stopped at $n" && test "$n" -lt 1200 &&
	grep -q "at iteration $n;" int.err &&
	test -s int/checkpoint.hmm && test ! -e int/model.hmm &&
	! ls int | grep -q tmp &&
	hm-train -j1 --resume int >/dev/null &&
	cmp long/model.hmm int/model.hmm &&
	cut -d, -f 1-5 int/train.csv >a && cut -d, -f 1-5 long/train.csv >b && cmp a b
'

test_expect_success 'a real SIGTERM: exit 143, exact resume' '
	{ hm-train -j1 $ARGS --iters 1200 -o term p.hmr 2>term.err & } &&
	pid=$! &&
	while kill -0 $pid 2>/dev/null && [ "$(wc -l <term/train.csv 2>/dev/null || echo 0)" -lt 50 ]; do sleep 0.02; done &&
	kill -TERM $pid;
	wait $pid; rc=$? &&
	echo "exit $rc" && test $rc = 143 &&
	grep -q "terminated (SIGTERM)" term.err &&
	hm-train -j1 --resume term >/dev/null &&
	cmp long/model.hmm term/model.hmm
'

test_done
