#!/bin/bash
# hm-train --val/--val-pairs (LFW-protocol accuracy after each epoch) and
# --test (closed-set top-1 of the head at the end): report lines, order,
# determinism, and the errors they can meet.
. "$(dirname "$0")/lib.sh"

NET="-j1 -q -a ir:1,1,1,1:8,16,32,64 --emb-size 32 -b 16"

test_expect_success 'training pack (casia) and verification pack (lfw) at 24x24' '
	hm-synth -q --kind casia --identities 8 --images-per-id 12 --size 96x96 \
		--lookalike 0 -o c &&
	hm-align -q --root c --size 24x24 c/landmarks.txt | hm-pack -q -o train.hmr - &&
	hm-synth -q --kind lfw --identities 30 --pairs 10 --size 96x96 -o l &&
	hm-align -q --root l --size 24x24 l/landmarks.txt | hm-pack -q -o val.hmr - &&
	head -n 1 l/pairs.txt | grep -q "^10	10$"
'

test_expect_success 'one val line per epoch, then top-1, then the final line' '
	hm-train $NET --epochs 3 -o out --val val.hmr --val-pairs l/pairs.txt \
		--test train.hmr train.hmr >report &&
	cat report &&
	test $(wc -l <report) = 5 &&
	for e in 1 2 3; do
		sed -n "${e}p" report |
		grep -q "^epoch $e: val accuracy [0-9.]*% +- [0-9.]*% (200 pairs, 10 folds)$" ||
		return 1
	done &&
	sed -n 4p report | grep -q "^top-1: [0-9.]*% (96 records of .train.hmr.)$" &&
	sed -n 5p report | grep -q "^trained 18 iterations (3 epochs)"
'

test_expect_success 'accuracies are percentages in range; val beats chance after training' '
	awk "/val accuracy/ { a = \$5 + 0; if (a < 0 || a > 100) exit 1; last = a }
	     END { exit !(last > 55) }" report &&
	awk "/^top-1/ { a = \$2 + 0; exit !(a >= 0 && a <= 100) }" report
'

test_expect_success 'the last val line agrees with hm-embed | hm-verify | hm-roc on model.hmm' '
	hm-embed -j1 -q -m out/model.hmm val.hmr | hm-verify l/pairs.txt | hm-roc --csv >roc.csv &&
	acc=$(awk -F, "NR == 2 { printf \"%.2f%% +- %.2f%%\", 100 * \$7, 100 * \$8 }" roc.csv) &&
	echo "hm-roc: $acc" &&
	sed -n 3p report | grep -qF "val accuracy $acc (200 pairs"
'

test_expect_success 'an image with itself against two people, no folds: 100%' '
	hm-pack --list val.hmr | cut -f 1 | awk "NR % 6 == 1" | head -n 40 >keys &&
	test $(cut -d/ -f 1 keys | sort -u | wc -l) = 20 &&
	awk "NR % 2 { print \$1 \",\" \$1 \",1\" }
	     !(NR % 2) { print prev \",\" \$1 \",0\" } { prev = \$1 }" keys >self.csv &&
	test $(wc -l <self.csv) = 20 &&
	hm-train $NET --epochs 1 -o self --val val.hmr --val-pairs self.csv train.hmr >r &&
	grep -q "^epoch 1: val accuracy 100.00% +- 0.00% (20 pairs, no folds)$" r
'

test_expect_success 'the report is deterministic (same seed, same threads)' '
	hm-train $NET --epochs 3 -o out2 --val val.hmr --val-pairs l/pairs.txt \
		--test train.hmr train.hmr >report2 &&
	grep -v "img/s" report >a && grep -v "img/s" report2 >b && cmp a b &&
	cmp out/model.hmm out2/model.hmm
'

test_expect_success '--val does not change the model' '
	hm-train $NET --epochs 3 -o plain train.hmr >/dev/null &&
	cmp out/model.hmm plain/model.hmm
'

test_expect_success 'a pair naming a missing image fails naming the key and line' '
	{ head -n 1 l/pairs.txt && echo "Nobody_Here	1	2" && tail -n +3 l/pairs.txt; } >bad.txt &&
	test_fails_cleanly 1 "bad.txt'\'': line 2: no embedding for '\''Nobody_Here/Nobody_Here_0001'\''" \
		hm-train $NET --epochs 1 -o o --val val.hmr --val-pairs bad.txt train.hmr
'

test_expect_success '--test on a pack with labels beyond the classes fails before training' '
	hm-synth -q --kind casia --identities 9 --images-per-id 2 --size 96x96 -o c9 &&
	hm-align -q --root c9 --size 24x24 c9/landmarks.txt | hm-pack -q -o nine.hmr - &&
	test_fails_cleanly 1 "nine.hmr'\'': labels go up to 8; the model has 8 classes (0..7)" \
		hm-train $NET --epochs 1 -o o2 --test nine.hmr train.hmr &&
	test ! -e o2/train.csv
'

test_expect_success '--test on an image size other than the model'\''s fails' '
	hm-align -q --root c --size 32x32 c/landmarks.txt | hm-pack -q -o big.hmr - &&
	test_fails_cleanly 1 "images are 32x32, the model takes 24x24" \
		hm-train $NET --epochs 1 -o o3 --test big.hmr train.hmr &&
	test_fails_cleanly 1 "images are 32x32, the model takes 24x24" \
		hm-train $NET --epochs 1 -o o4 --val big.hmr --val-pairs l/pairs.txt train.hmr &&
	test ! -e o3/train.csv && test ! -e o4/train.csv
'

# An insightface .bin of the same faces and pairs: the images in the pairs'
# order, (bins, issame) pickled as insightface's lfw.bin is.
cat >mkbin.py <<'PY'
import pickle, sys
lines = open(sys.argv[1]).read().split("\n")[1:]
bins, same = [], []
def img(name, n):
    return open("lal/%s/%s_%04d.jpg" % (name, name, int(n)), "rb").read()
for l in lines:
    f = l.split()
    if len(f) == 3:
        bins += [img(f[0], f[1]), img(f[0], f[2])]
        same.append(True)
    elif len(f) == 4:
        bins += [img(f[0], f[1]), img(f[2], f[3])]
        same.append(False)
pickle.dump((bins, same), open(sys.argv[2], "wb"), protocol=4)
PY

test_expect_success 'three validation sets (a pack with pairs, a .bin, a pack with NAME.pairs.csv): val.csv has 3 rows per epoch' '
	hm-align -q --root l --size 24x24 --out-dir lal l/landmarks.txt &&
	/usr/bin/python3 mkbin.py l/pairs.txt lfw.bin &&
	hm-pack -q -o third.hmr lfw.bin && test -s third.pairs.csv &&
	hm-train $NET --epochs 3 -o three --val val.hmr --val-pairs l/pairs.txt \
		--val lfw.bin --val third.hmr train.hmr >r3 &&
	cat r3 three/val.csv &&
	test $(grep -c "^epoch [123]: val [a-z]* accuracy" r3) = 9 &&
	sed -n 1p three/val.csv | grep -qx "epoch,iter,set,accuracy,threshold,auc" &&
	test $(wc -l <three/val.csv) = 10 &&
	awk -F, "NR > 1 { n[\$1 \" \" \$3]++; if (\$2 != 6 * \$1) exit 1 }
		 END { for (k in n) if (n[k] != 1) exit 1; exit length(n) != 9 }" three/val.csv &&
	cut -d, -f 3 three/val.csv | sed 1d | sort -u | tr "\n" " " | grep -qx "lfw third val " &&
	awk -F, "NR > 1 && !(\$4 >= 0 && \$4 <= 1 && \$6 >= 0 && \$6 <= 1) { exit 1 }" three/val.csv &&
	test -s three/val/lfw.hmr && test -s three/val/lfw.pairs.csv
'

test_expect_success 'the progress line shows every set'"'"'s latest accuracy' '
	hm-train -j1 -a ir:1,1,1,1:8,16,32,64 --emb-size 32 -b 16 --progress --epochs 2 -o prog --val val.hmr --val-pairs l/pairs.txt \
		--val lfw.bin train.hmr >/dev/null 2>err &&
	tr "\r" "\n" <err | grep -q "^hm-train: epoch 2/2 .* ETA [0-9:]* val val [0-9.]*% lfw [0-9.]*%"
'

test_expect_success 'val.csv agrees with hm-embed | hm-verify | hm-roc for the .bin set' '
	hm-embed -j1 -q -m three/model.hmm three/val/lfw.hmr |
		hm-verify three/val/lfw.pairs.csv | hm-roc --csv >roc3.csv &&
	want=$(awk -F, "NR == 2 { printf \"%.4f\", \$7 }" roc3.csv) &&
	got=$(awk -F, "\$1 == 3 && \$3 == \"lfw\" { printf \"%.4f\", \$4 }" three/val.csv) &&
	echo "hm-roc $want, val.csv $got" && test "$want" = "$got" &&
	sed -n "1p" roc3.csv | tr , "\n" | grep -qx auc &&
	col=$(sed -n 1p roc3.csv | tr , "\n" | grep -nx auc | cut -d: -f1) &&
	wauc=$(awk -F, -v c=$col "NR == 2 { printf \"%.4f\", \$c }" roc3.csv) &&
	gauc=$(awk -F, "\$1 == 3 && \$3 == \"lfw\" { printf \"%.4f\", \$6 }" three/val.csv) &&
	echo "AUC hm-roc $wauc, val.csv $gauc" && test "$wauc" = "$gauc"
'

test_expect_success 'a resumed run with three sets writes the same val.csv' '
	hm-train $NET --epochs 3 -o three2 --val val.hmr --val-pairs l/pairs.txt \
		--val lfw.bin --val third.hmr --stop-after 8 train.hmr >/dev/null 2>&1 &&
	test $(wc -l <three2/val.csv) = 4 &&
	echo "1,99,stale,0.5,0.1," >>three2/val.csv &&
	hm-train -j1 -q --resume three2 --val val.hmr --val-pairs l/pairs.txt \
		--val lfw.bin --val third.hmr >/dev/null &&
	cmp three/val.csv three2/val.csv
'

test_done
