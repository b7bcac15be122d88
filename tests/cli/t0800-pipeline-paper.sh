#!/bin/bash
# pipelines/paper.mk: a row with missing data stops before any work (exit 2,
# the variable, the expected layout and where the data set is published),
# while make -n still prints its recipe, with the same report on stderr;
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
	grep -q "^hm: LFW: no image tree at .$SCRATCH/nolfw. (and no lfw.bin beside a CASIA or MS1M train.rec)$" err &&
	grep -q "expected: an image tree CASIA/ID/NNN.jpg with its landmark file CASIA_LANDMARKS" err &&
	grep -q "faces_webface_112x112" err &&
	grep -q "github.com/deepinsight/insightface" err &&
	grep -q "expected: an image tree LFW/Name/Name_0001.jpg" err &&
	grep -q "published: LFW at http://vis-www.cs.umass.edu/lfw/" err &&
	grep -q "missing data for lfw-arcface-hm; nothing was run" err &&
	! grep -q "^hm: YTF\|^hm: MS1M" err
'

test_expect_success 'make -n with no data: exit 0, the recipe printed, the same report on stderr' '
	pmake -n lfw-arcface-hm PROFILE=paper CASIA=/nowhere LFW=/nowhere >out 2>err &&
	grep -q "^hm: CASIA: no training data at ./nowhere.$" err &&
	grep -q "^hm: LFW: no image tree at ./nowhere. (and no lfw.bin beside a CASIA or MS1M train.rec)$" err &&
	grep -q "published: LFW at http://vis-www.cs.umass.edu/lfw/" err &&
	grep -q "^hm: make -n: lfw-arcface-hm would stop here for missing data" err &&
	grep -qx "bin/hm-align --root /nowhere /nowhere/landmarks.txt | bin/hm-pack -o $SCRATCH/results/data/casia.hmr -" out &&
	grep -q "^bin/hm-train .*-a ir18 --emb-size 512 -b 8 --loss arcface --epochs 34 --lr-steps 20,28,32 --hm powern:2 --lr 0.0015625 --clip-grad 5 .* -o $SCRATCH/results/paper/casia-arcface-hm $SCRATCH/results/data/casia.hmr$" out &&
	grep -qx "bin/hm-align --root /nowhere data/lfw_landmark.txt | bin/hm-pack -o $SCRATCH/results/data/lfw.hmr -" out &&
	grep -q "^bin/hm-verify -o $SCRATCH/results/paper/casia-arcface-hm/lfw.scores.csv data/pairs.txt " out &&
	! grep -q "exit 2" out && test ! -e results &&
	test_expect_code 2 pmake lfw-arcface-hm PROFILE=paper CASIA=/nowhere LFW=/nowhere >out 2>err &&
	test ! -s out && test ! -e results &&
	grep -q "^hm: CASIA: no training data at ./nowhere.$" err &&
	grep -q "missing data for lfw-arcface-hm; nothing was run" err
'

test_expect_success 'make -n: MS1M and YTF rows name their sets and still print the recipe' '
	pmake -n ms1m-ytf-softmax MS1M="$SCRATCH/none" YTF="$SCRATCH/none" >out 2>err &&
	grep -q "^bin/hm-train .*--loss softmax .* -o $SCRATCH/results/small/ms1m-softmax " out &&
	grep -q "^bin/hm-verify -o $SCRATCH/results/small/ms1m-softmax/ytf.scores.csv data/splits.txt " out &&
	test ! -e results &&
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

test_expect_success 'a missing LFW landmark list is named with where the list comes from' '
	test_expect_code 2 pmake lfw-softmax CASIA="$SCRATCH/casia" LFW="$SCRATCH/lfw" LFW_LANDMARKS=nolm.txt >out 2>err &&
	test ! -s out && test ! -e results &&
	grep -qx "hm: LFW_LANDMARKS: no landmark file .nolm.txt. (data/lfw_landmark.txt has MTCNN.s five points for all 13233 LFW images, from github.com/clcarwin/sphereface_pytorch; see data/README.md)" err &&
	! grep -q "^hm: CASIA\|^hm: LFW:\|^hm: LFW_PAIRS" err
'

test_expect_success 'an unknown profile is refused before any work' '
	test_expect_code 2 pmake lfw-softmax CASIA="$SCRATCH/casia" LFW="$SCRATCH/lfw" PROFILE=huge >out 2>err &&
	grep -q "PROFILE must be paper or small" err && test ! -e results
'

test_expect_success 'other goals do not check data: make -n all with no data exits 0' '
	pmake -n all CASIA=none LFW=none >out 2>err && ! grep -q "^hm:" err
'

test_expect_success 'make -n: the paper recipe (ir18, 34 epochs, powern:2 at the baseline rate, clipped) runs nothing' '
	pmake -n lfw-arcface-hm PROFILE=paper CASIA="$SCRATCH/casia" LFW="$SCRATCH/lfw" >out 2>err &&
	grep -q "^bin/hm-align --root $SCRATCH/casia $SCRATCH/casia/landmarks.txt | bin/hm-pack -o $SCRATCH/results/data/casia.hmr -$" out &&
	grep -q "^bin/hm-train .*-a ir18 --emb-size 512 -b 8 --loss arcface --epochs 34 --lr-steps 20,28,32 --hm powern:2 --lr 0.0015625 --clip-grad 5 .* -o $SCRATCH/results/paper/casia-arcface-hm $SCRATCH/results/data/casia.hmr$" out &&
	grep -q "^bin/hm-embed -m $SCRATCH/results/paper/casia-arcface-hm/model.hmm $SCRATCH/results/data/lfw.hmr" out &&
	grep -q "^bin/hm-verify -o $SCRATCH/results/paper/casia-arcface-hm/lfw.scores.csv $SCRATCH/lfw/pairs.txt " out &&
	test ! -e results
'

# The rate follows the batch as arcface_torch scales it (0.1 x B / 512),
# clipping and the schedule's shape are the paper profile's in both
# profiles, and HM_CLIP=0 turns clipping off.
test_expect_success 'the recipe: rate 0.1 x batch / 512, --clip-grad 5, the schedule scaled in PROFILE=small' '
	make -C "$TEST_ROOT" --no-print-directory -n "${keep_tools[@]}" RESULTS="$SCRATCH/results" \
		PROFILE=paper lfw-softmax CASIA="$SCRATCH/casia" LFW="$SCRATCH/lfw" >out 2>err &&
	grep -q "^bin/hm-train .* -b 64 --loss softmax --epochs 34 --lr-steps 20,28,32 --lr 0.0125 --clip-grad 5 " out &&
	make -C "$TEST_ROOT" --no-print-directory -n "${keep_tools[@]}" RESULTS="$SCRATCH/results" \
		PROFILE=paper HM_BATCH=128 HM_CLIP=0 ms1m-lfw-softmax MS1M="$SCRATCH/webface" LFW="$SCRATCH/lfw" >out 2>err &&
	grep -q "^bin/hm-train .* -b 128 --loss softmax --epochs 16 --lr-steps 8,14 --lr 0.025  *--checkpoint-every" out &&
	make -C "$TEST_ROOT" --no-print-directory -n "${keep_tools[@]}" RESULTS="$SCRATCH/results" \
		PROFILE=small lfw-softmax CASIA="$SCRATCH/casia" LFW="$SCRATCH/lfw" >out 2>err &&
	grep -q "^bin/hm-train .* -b 64 --loss softmax --iters 2000 --lr-steps 1176,1647,1882 --lr 0.0125 --clip-grad 5 " out &&
	test ! -e results
'

test_expect_success 'insightface .rec sets (a folder with train.rec, or the file) are imported by hm-pack' '
	mkdir -p webface emore && : >webface/train.rec && : >emore/other.rec &&
	pmake -n lfw-softmax CASIA="$SCRATCH/webface" LFW="$SCRATCH/lfw" >out 2>err &&
	grep -qx "bin/hm-pack -o $SCRATCH/results/data/casia.hmr $SCRATCH/webface/train.rec" out &&
	pmake -n ms1m-lfw-softmax MS1M="$SCRATCH/emore/other.rec" LFW="$SCRATCH/lfw" >out 2>err &&
	grep -qx "bin/hm-pack -o $SCRATCH/results/data/ms1m.hmr $SCRATCH/emore/other.rec" out &&
	grep -q "^bin/hm-train .*--loss softmax .* -o $SCRATCH/results/small/ms1m-softmax $SCRATCH/results/data/ms1m.hmr$" out &&
	test_expect_code 2 pmake ms1m-lfw-softmax MS1M="$SCRATCH/emore" LFW="$SCRATCH/lfw" >out 2>err &&
	grep -q "^hm: MS1M: no RecordIO file at .$SCRATCH/emore. (nor .$SCRATCH/emore/train.rec.)$" err &&
	test ! -e results
'

test_expect_success 'PROFILE=small lfw-arcface-hm end to end: packs, model, scores, the row' '
	pmake lfw-arcface-hm CASIA="$SCRATCH/casia" LFW="$SCRATCH/lfw" >out 2>err &&
	grep -q "^bin/hm-train .*-a ir:1,1,1,1:16,32,64,128 --emb-size 128 -b 8 --loss arcface --iters 10 --lr-steps 8 --hm powern:2 --lr 0.0015625 --clip-grad 5 " out &&
	test -s results/data/casia.hmi && test -s results/data/lfw.hmr &&
	r=results/small/casia-arcface-hm &&
	test -s $r/model.hmm && test -s $r/checkpoint.hmm && test $(wc -l <$r/train.csv) = 11 &&
	head -n 1 $r/lfw.scores.csv >h && echo fold,same,score,a,b >h.want && cmp h h.want &&
	test $(wc -l <$r/lfw.scores.csv) = 101 &&
	grep -q "^small:lfw-arcface-hm  *100  *10  *[0-9]*\.[0-9][0-9]  " out
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

# 100 pairs have 50 different ones: TAR@FAR=1e-3 is not resolvable (n/a).
test_expect_success 'make table: both finished rows, baseline and -hm side by side, the ROC plot' '
	pmake table >out 2>err &&
	t=results/small/table.md && test -s $t && test -s results/small/lfw-roc.svg &&
	grep -qx "## LFW: 100 pairs, 10 folds, exact threshold search" $t &&
	grep -qx "| training | loss | -hm mode | lr | accuracy % | -hm | diff | AUC | -hm | diff | TAR@FAR=1e-3 % | -hm | diff |" $t &&
	grep -q "^| CASIA | softmax | - | 0.0015625 | [0-9.]* +- [0-9.]* | - | - | [01]\.[0-9]* | - | - | n/a | - | - |$" $t &&
	grep -q "^| CASIA | arcface | powern:2 | 0.0015625 | - | [0-9.]* +- [0-9.]* | - | - | [01]\.[0-9]* | - | - | n/a | - |$" $t &&
	grep -q "^Training curves: .*results/small/casia-arcface-curves.svg" out &&
	xmllint --noout results/small/casia-arcface-curves.svg results/small/casia-softmax-curves.svg &&
	grep -q "casia-arcface-hm" results/small/casia-arcface-curves.svg &&
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

# insightface's faces_webface_112x112 as downloaded: train.rec/.idx and the
# verification sets lfw.bin, cfp_fp.bin, agedb_30.bin (tests/ref/fake_bundle.py
# writes them from hm-synth trees aligned to 112x112).
test_expect_success 'a fake faces_webface_112x112 bundle (train.rec, lfw.bin, cfp_fp.bin, agedb_30.bin)' '
	hm-align -q --root casia --out-dir bundle-casia casia/landmarks.txt &&
	hm-align -q --root lfw --out-dir bundle-lfw lfw/landmarks.txt &&
	/usr/bin/python3 "$TEST_ROOT/tests/ref/fake_bundle.py" faces_webface_112x112 \
		bundle-casia bundle-lfw lfw/pairs.txt &&
	ls faces_webface_112x112 | tr "\n" " " | grep -qx "agedb_30.bin cfp_fp.bin lfw.bin property train.idx train.rec "
'

# 20 iterations: one epoch of the 160 images, so the training validates
# once on the row's test set.
test_expect_success 'CASIA=bundle alone: make lfw-arcface-hm tests on its lfw.bin (its pairs, 10 folds)' '
	pmake lfw-arcface-hm CASIA="$SCRATCH/faces_webface_112x112" RESULTS="$SCRATCH/bres" \
		SMALL_ITERS=20 >out 2>err &&
	cat out &&
	grep -qx "bin/hm-pack -o $SCRATCH/bres/data/casia.hmr $SCRATCH/faces_webface_112x112/train.rec" out &&
	grep -qx "bin/hm-pack -o $SCRATCH/bres/data/lfw.hmr $SCRATCH/faces_webface_112x112/lfw.bin" out &&
	grep -q "^bin/hm-verify -o $SCRATCH/bres/small/casia-arcface-hm/lfw.scores.csv $SCRATCH/bres/data/lfw.pairs.csv " out &&
	grep -q "^small:lfw-arcface-hm  *100  *10  *[0-9][0-9]*\.[0-9][0-9]  " out &&
	grep -q "^bin/hm-train .* --val $SCRATCH/bres/data/lfw.hmr --val-pairs $SCRATCH/bres/data/lfw.pairs.csv -o " out &&
	grep -q "^epoch 1: val accuracy [0-9.]*% +- [0-9.]*% (100 pairs, 10 folds)$" out &&
	cat bres/small/casia-arcface-hm/val.csv &&
	test $(wc -l <bres/small/casia-arcface-hm/val.csv) = 2 &&
	grep -q "^1,20,lfw,0\.[0-9]*,[-0-9.e]*,0\.[0-9]*$" bres/small/casia-arcface-hm/val.csv
'

test_expect_success 'CASIA=bundle alone: cfpfp-arcface-hm and agedb-arcface-hm reuse the model' '
	pmake cfpfp-arcface-hm agedb-arcface-hm CASIA="$SCRATCH/faces_webface_112x112" \
		RESULTS="$SCRATCH/bres" SMALL_ITERS=20 >out 2>err &&
	cat out &&
	! grep -q "hm-train" out &&
	grep -qx "bin/hm-pack -o $SCRATCH/bres/data/cfpfp.hmr $SCRATCH/faces_webface_112x112/cfp_fp.bin" out &&
	grep -q "^small:cfpfp-arcface-hm  *100  *10  *[0-9][0-9]*\.[0-9][0-9]  " out &&
	grep -q "^small:agedb-arcface-hm  *100  *10  *[0-9][0-9]*\.[0-9][0-9]  " out
'

test_expect_success 'LFW=FILE.bin with a CASIA tree; the table names the LFW each test used' '
	pmake lfw-softmax CASIA="$SCRATCH/casia" LFW="$SCRATCH/faces_webface_112x112/lfw.bin" \
		RESULTS="$SCRATCH/bres2" >out 2>err &&
	grep -qx "bin/hm-pack -o $SCRATCH/bres2/data/lfw.hmr $SCRATCH/faces_webface_112x112/lfw.bin" out &&
	grep -q "^small:lfw-softmax  *100  *10 " out &&
	pmake table RESULTS="$SCRATCH/bres" >out 2>err &&
	cat out &&
	grep -qx "Data: $SCRATCH/faces_webface_112x112/lfw.bin (insightface .bin: its pairs and 10 folds)" out &&
	grep -qx "## CFPFP: 100 pairs, 10 folds, exact threshold search" out &&
	grep -qx "Data: $SCRATCH/faces_webface_112x112/cfp_fp.bin (insightface .bin: its pairs and 10 folds)" out &&
	grep -qx "## AGEDB: 100 pairs, 10 folds, exact threshold search" out &&
	pmake table >out 2>err &&
	grep -qx "Data: $SCRATCH/lfw $SCRATCH/lfw/landmarks.txt $SCRATCH/lfw/pairs.txt" out
'

test_expect_success 'MS1M=bundle alone: the ms1m rows take its lfw.bin and cfp_fp.bin (make -n)' '
	pmake -n ms1m-lfw-softmax ms1m-cfpfp-softmax MS1M="$SCRATCH/faces_webface_112x112" \
		RESULTS="$SCRATCH/mres" >out 2>err &&
	grep -qx "bin/hm-pack -o $SCRATCH/mres/data/ms1m.hmr $SCRATCH/faces_webface_112x112/train.rec" out &&
	grep -qx "bin/hm-pack -o $SCRATCH/mres/data/lfw.hmr $SCRATCH/faces_webface_112x112/lfw.bin" out &&
	grep -qx "bin/hm-pack -o $SCRATCH/mres/data/cfpfp.hmr $SCRATCH/faces_webface_112x112/cfp_fp.bin" out &&
	grep -q "^bin/hm-train .* --val $SCRATCH/mres/data/cfpfp.hmr --val-pairs $SCRATCH/mres/data/cfpfp.pairs.csv --val $SCRATCH/mres/data/lfw.hmr --val-pairs $SCRATCH/mres/data/lfw.pairs.csv -o $SCRATCH/mres/small/ms1m-softmax " out &&
	test ! -e mres
'

test_expect_success 'a missing .bin is named with the variable, the layout and the source' '
	test_expect_code 2 pmake cfpfp-softmax CASIA="$SCRATCH/casia" >out 2>err &&
	grep -q "^hm: CFP_FP: no cfp_fp.bin beside a CASIA or MS1M train.rec$" err &&
	grep -q "published: CFP " err &&
	test_expect_code 2 pmake lfw-softmax CASIA="$SCRATCH/casia" LFW=nope.bin >out 2>err &&
	grep -q "^hm: LFW: no .bin file at .nope.bin.$" err
'

# YouTube Faces as downloaded: no landmarks, face boxes in
# frame_images_DB/NAME.labeled_faces.txt, pre-cropped aligned_images_DB.
test_expect_success 'ytf-arcface from frame_images_DB face boxes, no landmark file' '
	hm-synth -q --kind ytf --identities 20 --images-per-id 2 --frames 2 --pairs 5 --size 128 \
		--published -o ytfpub &&
	test ! -e ytfpub/landmarks.txt && test -s ytfpub/splits.txt &&
	pmake ytf-arcface CASIA="$SCRATCH/casia" YTF="$SCRATCH/ytfpub" RESULTS="$SCRATCH/yres" >out 2>err &&
	cat out &&
	grep -qx "cat $SCRATCH/ytfpub/frame_images_DB/\*.labeled_faces.txt | bin/hm-align --format ytf --root $SCRATCH/ytfpub/frame_images_DB - | bin/hm-pack -o $SCRATCH/yres/data/ytf.hmr -" out &&
	grep -q "^small:ytf-arcface  *100  *10  *[0-9][0-9]*\.[0-9][0-9]  " out
'

test_expect_success 'ytf-arcface from aligned_images_DB alone (centre crop), the same model' '
	mkdir ytfal && cp -r ytfpub/aligned_images_DB ytfpub/splits.txt ytfal/ &&
	pmake ytf-arcface CASIA="$SCRATCH/casia" YTF="$SCRATCH/ytfal" RESULTS="$SCRATCH/yres" >out 2>err &&
	cat out &&
	! grep -q "hm-train" out &&
	grep -q "bin/hm-align --center-crop 0.4545 --root $SCRATCH/ytfal/aligned_images_DB - | bin/hm-pack" out &&
	grep -q "^small:ytf-arcface  *100  *10  *[0-9][0-9]*\.[0-9][0-9]  " out
'

test_expect_success 'YTF_ALIGN names what is missing' '
	test_expect_code 2 pmake ytf-softmax CASIA="$SCRATCH/casia" YTF="$SCRATCH/ytfal" YTF_ALIGN=boxes >out 2>err &&
	grep -q "^hm: YTF: no NAME.labeled_faces.txt in .$SCRATCH/ytfal/frame_images_DB. (YTF_ALIGN=boxes)$" err &&
	test_expect_code 2 pmake ytf-softmax CASIA="$SCRATCH/casia" YTF="$SCRATCH/ytfal" YTF_ALIGN=frames >out 2>err &&
	grep -q "^hm: YTF_ALIGN: .frames. is not landmarks or boxes or center$" err
'

test_done
