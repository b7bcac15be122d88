#!/bin/bash
# hm-train learns: a small IR net with the default ArcFace head on hm-synth
# faces (10 identities x 20 images, no look-alikes, aligned to 32x32; the
# casia landmark file carries each image's identity, which becomes the
# record label) reaches at least 95% training accuracy in 20 epochs (about
# 10 s on one core).
. "$(dirname "$0")/lib.sh"

test_expect_success 'synthetic casia data, aligned and packed with identity labels' '
	hm-synth -q --kind casia --identities 10 --images-per-id 20 --size 96x96 \
		--lookalike 0 -o d &&
	hm-align -q --root d --size 32x32 d/landmarks.txt | hm-pack -q -o train.hmr - &&
	hm-pack --stats train.hmr >stats &&
	grep -qx "identities 10" stats && grep -qx "unlabelled 0" stats
'

test_expect_success 'training: report lines on stdout, the files in -o DIR' '
	hm-train -j1 -q -a ir:1,1,1,1:8,16,32,64 --emb-size 64 -b 20 --epochs 20 \
		--lr-steps 14,18 -o out --test train.hmr train.hmr >report 2>err &&
	test ! -s err &&
	test $(wc -l <report) = 2 &&
	grep -q "^top-1: [0-9.]*% (200 records of .train.hmr.)$" report &&
	grep -q "^trained 200 iterations (20 epochs): loss .*; model .out/model.hmm.$" report &&
	test -s out/model.hmm && test -s out/checkpoint.hmm && test -s out/train.csv &&
	! ls out | grep -q tmp
'

test_expect_success 'closed-set top-1 on the training pack (eval mode) is at least 95%' '
	top1=$(sed -n "s/^top-1: \([0-9.]*\)%.*/\1/p" report) &&
	echo "top-1 $top1" &&
	awk -v a="$top1" "BEGIN { exit !(a >= 95) }"
'

test_expect_success 'mean training accuracy of the last epoch is at least 95%' '
	acc=$(sed -n "s/^trained .* accuracy \([0-9.]*\)%.*/\1/p" report) &&
	echo "last epoch $acc" &&
	awk -v a="$acc" "BEGIN { exit !(a >= 95) }" &&
	awk -F, "NR > 181 { s += \$4; n++ } END { exit !(n == 20 && s / n >= 0.95) }" out/train.csv
'

test_expect_success 'it learned: the first epoch was far below' '
	awk -F, "NR > 1 && NR <= 11 { s += \$4 } END { print s / 10; exit !(s / 10 < 0.5) }" out/train.csv
'

test_expect_success 'train.csv: header, one row per iteration, epochs, the step schedule' '
	head -n 1 out/train.csv >h && echo "epoch,iter,loss,acc,lr,img_s,note" >h.want &&
	cmp h h.want &&
	test $(wc -l <out/train.csv) = 201 &&
	awk -F, "NR > 1 && (\$2 != NR - 1 || \$1 != int((NR - 2) / 10) + 1) { exit 1 }" out/train.csv &&
	awk -F, "NR > 1 && \$2 <= 140 && \$5 != 0.1 { exit 1 }
		 NR > 1 && \$2 > 140 && \$2 <= 180 && \$5 != 0.01 { exit 1 }
		 NR > 1 && \$2 > 180 && \$5 != 0.001 { exit 1 }" out/train.csv
'

test_done
