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
	test_fails_cleanly 1 "--loss softmax differs from the checkpoint" \
		hm-train --resume conflict --loss softmax &&
	test_fails_cleanly 1 "--classes 9 differs from the checkpoint" \
		hm-train --resume conflict --classes 9 &&
	test_fails_cleanly 1 "--batch 4 differs from the checkpoint" \
		hm-train --resume conflict -b 4 &&
	test_fails_cleanly 1 "--arch ir:1,1,1,1:4,8,16,64 differs from the checkpoint" \
		hm-train --resume conflict -a ir:1,1,1,1:4,8,16,64 &&
	test_fails_cleanly 1 "--epochs 4 (40 iterations) is shorter than the checkpoint'\''s --epochs 5 (50): a resume can extend a run, not shorten it" \
		hm-train --resume conflict --epochs 4 &&
	test_fails_cleanly 1 "the checkpoint'\''s --lr-steps 3 count epochs; with --iters 60 give --lr-steps again" \
		hm-train --resume conflict --iters 60 &&
	cmp ck.before conflict/checkpoint.hmm
'

# Extending a run: nothing in a step schedule depends on the run's length
# (the order of batch t, warm-up and milestones are functions of t), so a
# finished run extended to N iterations must give the bytes of a run of N
# from the start, and a new milestone past the old end must give the bytes
# of a run that had it all along.
EXT="-q -a ir:1,1,1,1:4,8,16,32 --emb-size 16 -b 8 --warmup 4"
test_expect_success 'a finished run of 12 iterations extended to 20 (--iters 20): the bytes of a 20-run' '
	hm-train -j1 $EXT --iters 20 -o ref20 p.hmr >/dev/null &&
	hm-train -j1 $EXT --iters 12 -o ext p.hmr >/dev/null && test -s ext/model.hmm &&
	hm-train -j1 --resume ext --iters 20 >out 2>err &&
	grep -q "^trained 20 iterations" out &&
	echo "hm-train: resuming '\''ext/checkpoint.hmm'\'': extended at iteration 12 from 12 to 20 iterations (--iters 20, was --iters 12)" >want &&
	cmp want err &&
	cmp ref20/model.hmm ext/model.hmm && cmp ref20/checkpoint.hmm ext/checkpoint.hmm
'

test_expect_success 'train.csv notes where the extension began, on that row alone' '
	head -n 1 ext/train.csv | grep -qx "epoch,iter,loss,acc,lr,img_s,note" &&
	test $(wc -l <ext/train.csv) = 21 &&
	awk -F, "\$2 == 13" ext/train.csv | grep -q ",\"extended at iteration 12 from 12 to 20 iterations (--iters 20, was --iters 12)\"\$" &&
	test $(grep -c extended ext/train.csv) = 1 &&
	cut -d, -f 1-5 ref20/train.csv >a && cut -d, -f 1-5 ext/train.csv >b && cmp a b
'

test_expect_success 'the checkpoint keeps the new length: stopped in the extension, a plain --resume ends at 20' '
	hm-train -j1 $EXT --iters 12 -o ext2 p.hmr >/dev/null &&
	hm-train -j1 --resume ext2 --iters 20 --stop-after 16 2>/dev/null &&
	test ! -e ext2/model.hmm.tmp.* && hm-train -j1 --resume ext2 >out 2>err &&
	grep -q "^trained 20 iterations" out && test ! -s err &&
	cmp ref20/model.hmm ext2/model.hmm
'

test_expect_success 'a new schedule on resume: --lr-steps 16 added to a run of 12, extended to 20' '
	hm-train -j1 $EXT --iters 20 --lr-steps 16 -o ref20s p.hmr >/dev/null &&
	hm-train -j1 $EXT --iters 12 -o ext3 p.hmr >/dev/null &&
	hm-train -j1 --resume ext3 --iters 20 --lr-steps 16 >/dev/null 2>err &&
	grep -q "from 12 to 20 iterations (--iters 20, was --iters 12); --lr-steps 16 (was none)" err &&
	cmp ref20s/model.hmm ext3/model.hmm &&
	! cmp -s ref20/model.hmm ext3/model.hmm
'

test_expect_success 'in epochs: a run of 2 epochs extended with --epochs 3 is a 3-epoch run' '
	hm-train -j1 $EXT --epochs 3 -o ref3 p.hmr >/dev/null &&
	hm-train -j1 $EXT --epochs 2 -o ext4 p.hmr >/dev/null &&
	hm-train -j1 --resume ext4 --epochs 3 >out 2>err &&
	grep -q "^trained 30 iterations" out &&
	grep -q "from 20 to 30 iterations (--epochs 3, was --epochs 2)" err &&
	cmp ref3/model.hmm ext4/model.hmm
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
