#!/bin/bash
# pipelines/paper.mk: a row with missing data stops before any work (exit 2,
# the variable, the expected layout and where the data set is published);
# the row lfw-arcface-hm with PROFILE=small runs end to end on CASIA- and
# LFW-shaped trees made by hm-synth; an interrupted training resumes to the
# same model as an uninterrupted one; new options retrain from scratch; a
# YTF row reuses the model; make table collects the finished rows.
. "$(dirname "$0")/lib.sh"
unset MAKEFLAGS MFLAGS MAKELEVEL
# The tools as make check built them (with its flags, SANITIZE=1 included):
# make may not rebuild them here (-o: treat as up to date).
keep_tools=()
for t in "$TEST_ROOT"/bin/hm-*; do keep_tools+=(-o "bin/${t##*/}"); done

# Tiny runs: 10 steps of 8 images on one thread (bit-exact resume needs the
# same thread count).
pmake() {
	make -C "$TEST_ROOT" --no-print-directory "${keep_tools[@]}" "${VG_MAKE[@]}" RESULTS="$SCRATCH/results" \
		PROFILE=small SMALL_ITERS=10 SMALL_LR_STEPS=8 HM_BATCH=8 HM_TRAIN_FLAGS=-j1 "$@"
}

test_expect_success 'missing CASIA and LFW: exit 2 before any work, each named with layout and source' '
	test_expect_code 2 pmake lfw-arcface-hm CASIA="$SCRATCH/none" LFW="$SCRATCH/nolfw" >out 2>err &&
	test ! -s out && test ! -e results &&
	grep -q "^hm: CASIA: no training data at .$SCRATCH/none.$" err &&
	grep -q "^hm: LFW: no image tree at .$SCRATCH/nolfw.$" err &&
	grep -q "expected: an image tree CASIA/ID/NNN.jpg with its landmark file CASIA_LANDMARKS" err &&
	grep -q "faces_webface_112x112" err &&
	grep -q "github.com/deepinsight/insightface" err &&
	grep -q "expected: an image tree LFW/Name/Name_0001.jpg" err &&
	grep -q "published: LFW at http://vis-www.cs.umass.edu/lfw/" err &&
	grep -q "missing data for lfw-arcface-hm; nothing was run" err &&
	! grep -q "YTF\|MS1M" err
'

test_expect_success 'make -n fails the same way; MS1M and YTF rows name their sets' '
	test_expect_code 2 pmake -n ms1m-ytf-softmax MS1M="$SCRATCH/none" YTF="$SCRATCH/none" >out 2>err &&
	test ! -s out && test ! -e results &&
	grep -q "^hm: MS1M: no RecordIO file at" err &&
	grep -q "^hm: YTF: no frame folders at" err &&
	grep -q "^hm: YTF_LANDMARKS: no landmark file" err &&
	grep -q "published: YouTube Faces at https://www.cs.tau.ac.il/~wolf/ytfaces/" err &&
	grep -q "published: MS1M-ArcFace" err && ! grep -q "CASIA" err
'

test_expect_success 'synthetic CASIA- and LFW-shaped trees (hm-synth)' '
	hm-synth -q --kind casia --identities 20 --images-per-id 8 --size 128 -o casia &&
	hm-synth -q --kind lfw --identities 20 --images-per-id 3 --pairs 5 --size 128 -o lfw &&
	test -s casia/landmarks.txt && test -s lfw/pairs.txt
'

test_expect_success 'a missing pair list alone is named, not the data that is there' '
	test_expect_code 2 pmake lfw-softmax CASIA="$SCRATCH/casia" LFW="$SCRATCH/lfw" LFW_PAIRS=nope.txt >out 2>err &&
	test ! -s out && test ! -e results &&
	grep -q "^hm: LFW_PAIRS: no pair list .nope.txt.$" err &&
	! grep -q "^hm: CASIA\|^hm: LFW:" err
'

test_expect_success 'an unknown profile is refused before any work' '
	test_expect_code 2 pmake lfw-softmax CASIA="$SCRATCH/casia" LFW="$SCRATCH/lfw" PROFILE=huge >out 2>err &&
	grep -q "PROFILE must be paper or small" err && test ! -e results
'

test_expect_success 'other goals do not check data: make -n all with no data exits 0' '
	pmake -n all CASIA=none LFW=none >out 2>err && ! grep -q "^hm:" err
'

test_expect_success 'make -n: the paper recipe (ir18, 24 epochs, powern:2 at the baseline rate 0.1) runs nothing' '
	pmake -n lfw-arcface-hm PROFILE=paper CASIA="$SCRATCH/casia" LFW="$SCRATCH/lfw" >out 2>err &&
	grep -q "^bin/hm-align --root $SCRATCH/casia $SCRATCH/casia/landmarks.txt | bin/hm-pack -o $SCRATCH/results/data/casia.hmr -$" out &&
	grep -q "^bin/hm-train .*-a ir18 --emb-size 512 -b 8 --loss arcface --epochs 24 --lr-steps 10,18,22 --hm powern:2 --lr 0.1 .* -o $SCRATCH/results/paper/casia-arcface-hm $SCRATCH/results/data/casia.hmr$" out &&
	grep -q "^bin/hm-embed -m $SCRATCH/results/paper/casia-arcface-hm/model.hmm $SCRATCH/results/data/lfw.hmr" out &&
	grep -q "^bin/hm-verify -o $SCRATCH/results/paper/casia-arcface-hm/lfw.scores.csv $SCRATCH/lfw/pairs.txt " out &&
	test ! -e results
'

test_expect_success 'insightface .rec sets (a folder with train.rec, or the file) are imported by hm-pack' '
	mkdir -p webface emore && : >webface/train.rec && : >emore/other.rec &&
	pmake -n lfw-softmax CASIA="$SCRATCH/webface" LFW="$SCRATCH/lfw" >out 2>err &&
	grep -qx "bin/hm-pack -o $SCRATCH/results/data/casia.hmr $SCRATCH/webface/train.rec" out &&
	pmake -n ms1m-lfw-softmax MS1M="$SCRATCH/emore/other.rec" LFW="$SCRATCH/lfw" >out 2>err &&
	grep -qx "bin/hm-pack -o $SCRATCH/results/data/ms1m.hmr $SCRATCH/emore/other.rec" out &&
	grep -q "^bin/hm-train .*--loss softmax .* -o $SCRATCH/results/small/ms1m-softmax $SCRATCH/results/data/ms1m.hmr$" out &&
	test_expect_code 2 pmake -n ms1m-lfw-softmax MS1M="$SCRATCH/emore" LFW="$SCRATCH/lfw" >out 2>err &&
	grep -q "^hm: MS1M: no RecordIO file at .$SCRATCH/emore. (nor .$SCRATCH/emore/train.rec.)$" err &&
	test ! -e results
'

test_expect_success 'PROFILE=small lfw-arcface-hm end to end: packs, model, scores, the row' '
	pmake lfw-arcface-hm CASIA="$SCRATCH/casia" LFW="$SCRATCH/lfw" >out 2>err &&
	grep -q "^bin/hm-train .*-a ir:1,1,1,1:16,32,64,128 --emb-size 128 -b 8 --loss arcface --iters 10 --lr-steps 8 --hm powern:2 --lr 0.1" out &&
	test -s results/data/casia.hmi && test -s results/data/lfw.hmr &&
	r=results/small/casia-arcface-hm &&
	test -s $r/model.hmm && test -s $r/checkpoint.hmm && test $(wc -l <$r/train.csv) = 11 &&
	head -n 1 $r/lfw.scores.csv >h && echo fold,same,score,a,b >h.want && cmp h h.want &&
	test $(wc -l <$r/lfw.scores.csv) = 101 &&
	grep -q "^small:lfw-arcface-hm  *100  *10  *0\.[0-9]" out
'

test_expect_success 'a second make trains and embeds nothing, and prints the row again' '
	pmake lfw-arcface-hm CASIA="$SCRATCH/casia" LFW="$SCRATCH/lfw" >out 2>err &&
	! grep -q "hm-train\|hm-embed\|hm-align" out &&
	grep -q "^small:lfw-arcface-hm  *100" out
'

test_expect_success 'interrupted training (checkpoint at step 6, no model) resumes on the next make' '
	pmake "$SCRATCH/results/small/casia-softmax/model.hmm" CASIA="$SCRATCH/casia" LFW="$SCRATCH/lfw" \
		HM_TRAIN_FLAGS="-j1 --stop-after 6" >out 2>err &&
	r=results/small/casia-softmax &&
	test -s $r/checkpoint.hmm && test ! -e $r/model.hmm &&
	pmake lfw-softmax CASIA="$SCRATCH/casia" LFW="$SCRATCH/lfw" >out 2>err &&
	grep -q "^bin/hm-train --resume $SCRATCH/$r .*--loss softmax" out &&
	awk -F, "NR > 1 && \$2 != NR - 1 { exit 1 } END { exit NR != 11 }" $r/train.csv &&
	grep -q "^small:lfw-softmax " out
'

test_expect_success 'the resumed model equals an uninterrupted run byte for byte' '
	make -C "$TEST_ROOT" --no-print-directory "${keep_tools[@]}" "${VG_MAKE[@]}" \
		RESULTS="$SCRATCH/straight" PROFILE=small \
		SMALL_ITERS=10 SMALL_LR_STEPS=8 HM_BATCH=8 HM_TRAIN_FLAGS=-j1 CASIA="$SCRATCH/casia" LFW="$SCRATCH/lfw" \
		"$SCRATCH/straight/small/casia-softmax/model.hmm" >out 2>err &&
	! grep -q -- --resume out &&
	cmp straight/small/casia-softmax/model.hmm results/small/casia-softmax/model.hmm
'

test_expect_success 'changed options retrain from scratch, not resume' '
	pmake lfw-softmax CASIA="$SCRATCH/casia" LFW="$SCRATCH/lfw" SMALL_ITERS=12 >out 2>err &&
	grep -q "^bin/hm-train  *-a .*--iters 12 " out && ! grep -q -- --resume out &&
	test $(wc -l <results/small/casia-softmax/train.csv) = 13
'

test_expect_success 'ytf-softmax: a YTF-shaped tree, the same model (no training), videos scored' '
	hm-synth -q --kind ytf --identities 20 --images-per-id 2 --frames 2 --pairs 5 --size 128 -o ytf &&
	pmake ytf-softmax CASIA="$SCRATCH/casia" YTF="$SCRATCH/ytf" SMALL_ITERS=12 >out 2>err &&
	! grep -q "hm-train" out &&
	grep -q "^bin/hm-verify -o $SCRATCH/results/small/casia-softmax/ytf.scores.csv $SCRATCH/ytf/splits.txt " out &&
	test $(wc -l <results/small/casia-softmax/ytf.scores.csv) = 101 &&
	grep -q "^small:ytf-softmax  *100  *10 " out
'

test_expect_success 'make table: both finished rows, baseline and -hm side by side, the ROC plot' '
	pmake table >out 2>err &&
	t=results/small/table.md && test -s $t && test -s results/small/lfw-roc.svg &&
	grep -qx "## LFW: 100 pairs, 10 folds, exact threshold search" $t &&
	grep -qx "| training | loss | -hm mode | lr | accuracy % | -hm | diff | AUC | -hm | diff | TAR@FAR=1e-3 % | -hm | diff |" $t &&
	grep -q "^| CASIA | softmax | - | 0.1 | [0-9.]* +- [0-9.]* | - | - | [01]\.[0-9]* | - | - | [0-9.]* | - | - |$" $t &&
	grep -q "^| CASIA | arcface | powern:2 | 0.1 | - | [0-9.]* +- [0-9.]* | - | - | [01]\.[0-9]* | - | - | [0-9.]* | - |$" $t &&
	grep -q "^curve,pairs" results/small/lfw.csv &&
	grep -q "^casia-arcface-hm,100,50,50,10," results/small/lfw.csv &&
	grep -q "data-label=\"casia-softmax\"" results/small/lfw-roc.svg &&
	grep -qx "## YTF: 100 pairs, 10 folds, exact threshold search" $t &&
	test $(grep -c "^| CASIA | softmax |" $t) = 2 &&
	test -s results/small/ytf-roc.svg &&
	grep -qF "ROC plots: $SCRATCH/results/small/lfw-roc.svg $SCRATCH/results/small/ytf-roc.svg" out
'

test_expect_success 'make table with no finished rows: exit 2 and says so' '
	test_expect_code 2 pmake table RESULTS="$SCRATCH/empty" >out 2>err &&
	grep -q "no finished rows in $SCRATCH/empty/small" err
'

test_done
