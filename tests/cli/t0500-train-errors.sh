#!/bin/bash
# hm-train failures: usage errors exit 2; bad packs, a missing or stale
# index, unlabelled records and a diverging run exit 1 with one message and
# nothing on stdout; a diverging run keeps its last good checkpoint.
. "$(dirname "$0")/lib.sh"

NET="-a ir:1,1,1,1:4,8,16,32 --emb-size 16 -b 8"

test_expect_success 'a small labelled pack and an unlabelled stream pack' '
	hm-synth -q --kind casia --identities 4 --images-per-id 6 --size 64x64 -o d &&
	hm-align -q --root d --size 16x16 --out-dir al d/landmarks.txt &&
	hm-pack -q -o p.hmr al &&
	cut -f 1,3- d/landmarks.txt >plain.txt &&
	hm-align -q --root d --size 16x16 plain.txt | hm-pack -q -o nolabel.hmr -
'

test_expect_success 'usage errors exit 2 with nothing on stdout' '
	test_fails_cleanly 2 "no pack given" hm-train -o o --epochs 1 &&
	test_fails_cleanly 2 "no output directory" hm-train --epochs 1 p.hmr &&
	test_fails_cleanly 2 "--epochs or --iters is required" hm-train -o o p.hmr &&
	test_fails_cleanly 2 "exclusive" hm-train -o o --epochs 1 --iters 5 p.hmr &&
	test_fails_cleanly 2 "--batch" hm-train -o o --epochs 1 -b 1 p.hmr &&
	test_fails_cleanly 2 "--lr" hm-train -o o --epochs 1 --lr fast p.hmr &&
	test_fails_cleanly 2 "--lr-steps" hm-train -o o --epochs 3 --lr-steps 2,1 p.hmr &&
	test_fails_cleanly 2 "not cosine" hm-train -o o --epochs 3 --lr-schedule cosine \
		--lr-steps 2 p.hmr &&
	test_fails_cleanly 2 "--lr-schedule" hm-train -o o --epochs 3 --lr-schedule exp p.hmr &&
	test_fails_cleanly 2 "--loss" hm-train -o o --epochs 1 --loss triplet p.hmr &&
	test_fails_cleanly 2 "--arch: architecture '\''resnet50'\'': unknown (ir18, face18[:se]," \
		hm-train -o o --epochs 1 -a resnet50 p.hmr &&
	test_fails_cleanly 2 "--arch: architecture '\''ir:2,2:64'\'': 2 depths but 1 widths" \
		hm-train -o o --epochs 1 --arch ir:2,2:64 p.hmr &&
	test_fails_cleanly 2 "--hm" hm-train -o o --epochs 1 --hm hardest p.hmr &&
	test_fails_cleanly 2 "--val-pairs '"'"'x.txt'"'"' without a --val" hm-train -o o --epochs 1 \
		--val-pairs x.txt p.hmr &&
	test_fails_cleanly 2 "has a pair list already" hm-train -o o --epochs 1 --val p.hmr \
		--val-pairs x.txt --val-pairs y.txt --val-pairs z.txt p.hmr &&
	test_fails_cleanly 2 "one pack expected" hm-train -o o --epochs 1 p.hmr p.hmr &&
	test_fails_cleanly 2 "unknown option" hm-train --frobnicate &&
	test_fails_cleanly 2 "" hm-train -o o --epochs 1 --loss asoftmax --margin 2.5 p.hmr &&
	test ! -e o
'

test_expect_success 'a --val pack without a pair list exits 1 before training' '
	test_fails_cleanly 1 "p.hmr'"'"': no pair list for this --val set: give --val-pairs FILE after it" \
		hm-train $NET -o oval --epochs 1 --val p.hmr p.hmr &&
	test ! -e oval/train.csv
'

test_expect_success '--help and --version' '
	hm-train --help >help && grep -q "^Usage: hm-train" help &&
	grep -q -- "--stop-after" help &&
	hm-train --version >v && grep -q "hm suite" v
'

test_expect_success 'a missing pack exits 1 naming it' '
	test_fails_cleanly 1 "absent.hmr" hm-train $NET -o o --epochs 1 absent.hmr
'

test_expect_success 'a missing index exits 1 naming it and the fix' '
	cp p.hmr noix.hmr &&
	test_fails_cleanly 1 "noix.hmi" hm-train $NET -o o --epochs 1 noix.hmr &&
	grep -q "run hm-pack --index noix.hmr" .fail.err &&
	test ! -e o
'

test_expect_success 'a stale index exits 1' '
	cp p.hmr stale.hmr && cp p.hmi stale.hmi &&
	cat p.hmr >>stale.hmr &&
	test_fails_cleanly 1 "stale index" hm-train $NET -o o --epochs 1 stale.hmr
'

# The window a crash leaves between hm-pack renaming the index and the pack:
# a new index beside an old pack of the same size, another shuffle of the
# same records.  Raw records of one size put records at the same offsets,
# so only the labels show the difference.
test_expect_success 'an index of another order of the same records exits 1' '
	hm-pack -q --encoding raw --shuffle --seed 1 -o s1.hmr al &&
	hm-pack -q --encoding raw --shuffle --seed 2 -o s2.hmr al &&
	test $(wc -c <s1.hmr) = $(wc -c <s2.hmr) && ! cmp -s s1.hmi s2.hmi &&
	cp s1.hmi s2.hmi &&
	test_fails_cleanly 1 "s2.hmi'"'"': stale index: entry" \
		hm-train $NET -o o2 --epochs 1 s2.hmr &&
	grep -q "run hm-pack --index s2.hmr" .fail.err
'

test_expect_success 'unlabelled records are named' '
	test_fails_cleanly 1 "record 0 '\''0000000/001'\'': label -1" \
		hm-train $NET -o o --epochs 1 nolabel.hmr
'

test_expect_success '--classes below the labels is refused' '
	test_fails_cleanly 1 "--classes 2 is too few" hm-train $NET --classes 2 -o o \
		--epochs 1 p.hmr
'

test_expect_success 'a pack of one identity is refused before training' '
	awk -F "\t" "\$2 == 0" d/landmarks.txt >one.txt && test $(wc -l <one.txt) = 6 &&
	hm-align -q --root d --size 16x16 one.txt | hm-pack -q -o one.hmr - &&
	test_fails_cleanly 1 "one.hmr'"'"': 6 records, all of one identity (label 0); training a classifier needs 2 or more" \
		hm-train $NET -o o --epochs 1 one.hmr &&
	test ! -e o
'

test_expect_success '--classes other than the labels is refused, naming both' '
	test_fails_cleanly 1 "p.hmr'"'"': labels 0..3 (4 identities); --classes 5 does not match" \
		hm-train $NET --classes 5 -o o --epochs 1 p.hmr &&
	test ! -e o
'

cat >mkrec.py <<'PY'
import glob, os, sys
sys.path.insert(0, os.path.join(sys.argv[1], "tests", "ref"))
import pack_import as P
ids = sorted(os.listdir("al"))
imgs = [(open(f, "rb").read(), ids.index(f.split("/")[1]), None)
        for f in sorted(glob.glob("al/*/*.jpg"))]
P.write_rec("train.rec", P.insightface_records(imgs))
PY

test_expect_success 'a RecordIO file: the message gives the hm-pack command, which works' '
	/usr/bin/python3 mkrec.py "$TEST_ROOT" &&
	test_fails_cleanly 1 "train.rec'"'"': an MXNet RecordIO file" \
		hm-train $NET -o o --epochs 1 train.rec &&
	cmd=$(sed -n "s/.*make one with: //p" .fail.err) &&
	test "$cmd" = "hm-pack -o train.hmr train.rec" &&
	$cmd -q && hm-train $NET -q -o fromrec --epochs 1 train.hmr >/dev/null &&
	test -s fromrec/model.hmm
'

test_expect_success 'a batch larger than the pack is refused' '
	test_fails_cleanly 1 "fewer than one batch" hm-train -a ir:1,1,1,1:4,8,16,32 -b 64 \
		-o o --epochs 1 p.hmr
'

test_expect_success 'divergence (--lr 1e30) stops with exit 1 and keeps the good checkpoint' '
	hm-train $NET --lr 1e30 --iters 20 --stop-after 1 -o ref p.hmr 2>/dev/null &&
	test_fails_cleanly 1 "last good checkpoint '\''nan/checkpoint.hmm'\'' (iteration 1)" \
		hm-train $NET --lr 1e30 --iters 20 --checkpoint-every 1 -o nan p.hmr &&
	grep -q "^hm-train: iteration 2: .*NaN or infinite" .fail.err &&
	cmp ref/checkpoint.hmm nan/checkpoint.hmm &&
	test ! -e nan/model.hmm && ! ls nan | grep -q tmp
'

test_expect_success 'divergence before any checkpoint says so' '
	test_fails_cleanly 1 "no checkpoint was written" \
		hm-train $NET --lr 1e30 --iters 20 -o nan2 p.hmr &&
	test ! -e nan2/checkpoint.hmm
'

test_expect_success 'a resume from something that is not a checkpoint fails' '
	hm-train $NET --iters 2 -o m p.hmr >/dev/null &&
	test_fails_cleanly 1 "not a checkpoint" hm-train --resume m/model.hmm -o r &&
	test_fails_cleanly 1 "absent" hm-train --resume absent
'

test_done
