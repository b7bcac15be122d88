#!/bin/bash
# hm-train's reference-recipe options (hm-train(1)): --clip-grad clips the
# backbone's gradient norm (it changes the run, and the run resumes byte for
# byte), --lr-schedule poly[:P] logs arcface_torch's PolyScheduler rates,
# both are stored in the checkpoint and checked on resume, and a checkpoint
# written before --clip-grad existed resumes as the unclipped run it was.
# The numerics against PyTorch are tests/ref/recipe_torch.py's.
. "$(dirname "$0")/lib.sh"

NET="-q -a ir:1,1,1,1:4,8,16,32 --emb-size 16 -b 8"
POLY="$NET --lr-schedule poly --warmup 4 --clip-grad 0.5"

test_expect_success 'a small labelled pack (80 faces, 16x16)' '
	hm-synth -q --kind casia --identities 8 --images-per-id 10 --size 64x64 \
		--lookalike 0 -o d &&
	hm-align -q --root d --size 16x16 --out-dir al d/landmarks.txt &&
	hm-pack -q -o p.hmr al
'

test_expect_success 'usage errors exit 2' '
	test_fails_cleanly 2 "--clip-grad" hm-train -o o --epochs 1 --clip-grad -1 p.hmr &&
	test_fails_cleanly 2 "--clip-grad" hm-train -o o --epochs 1 --clip-grad x p.hmr &&
	test_fails_cleanly 2 "power of poly" hm-train -o o --epochs 1 \
		--lr-schedule poly:0 p.hmr &&
	test_fails_cleanly 2 "not step, cosine, poly" hm-train -o o --epochs 1 \
		--lr-schedule polynomial p.hmr &&
	test_fails_cleanly 2 "not poly" hm-train -o o --epochs 3 --lr-schedule poly \
		--lr-steps 2 p.hmr &&
	test ! -e o
'

test_expect_success 'poly with clipping: 5 epochs (50 iterations), stored in the checkpoint' '
	hm-train -j1 $POLY --epochs 5 --checkpoint-every 7 -o full p.hmr >out &&
	grep -q "^trained 50 iterations" out &&
	/usr/bin/python3 -c "
import sys, types
sys.path.insert(0, \"$TEST_ROOT/tests/ref\")
sys.modules[\"torch\"] = types.ModuleType(\"torch\")
from hmm_load import read_hmm
meta, _ = read_hmm(\"full/checkpoint.hmm\")
print(meta[\"train.lr-schedule\"], meta[\"train.clip-grad\"])
assert meta[\"train.lr-schedule\"] == \"poly:2\" and meta[\"train.clip-grad\"] == \"0.5\"
"
'

# lr of step t + 1: 0.1 t / 4 in the warm-up, then 0.1 (1 - (t - 4) / 46)^2;
# the log has 6 significant digits (1e-5 relative).
test_expect_success 'the logged rate is the PolyScheduler formula at every step' '
	awk -F, "NR > 1 { t = \$2 - 1;
		want = t < 4 ? 0.1 * t / 4 : 0.1 * (1 - (t - 4) / 46) ^ 2;
		d = \$5 - want; if (d < 0) d = -d;
		if (d > 1e-5 * want + 1e-12) { print \"iter \" \$2 \": \" \$5 \" want \" want; bad = 1 }
		n++ } END { exit bad || n != 50 }" full/train.csv &&
	sed -n "2p;6p;29p;51p" full/train.csv | cut -d, -f2,5 >rates &&
	printf "1,0\n5,0.1\n28,0.025\n50,4.72590e-05\n" >want &&
	awk -F, "NR == FNR { w[\$1] = \$2; next }
		{ d = \$2 - w[\$1]; if (d < 0) d = -d; if (d > 1e-5 * w[\$1]) exit 1 }" \
		want rates
'

test_expect_success 'clipping binds at 0.5: another model than without it' '
	hm-train -j1 $NET --lr-schedule poly --warmup 4 --epochs 5 -o noclip p.hmr \
		>/dev/null &&
	! cmp -s full/model.hmm noclip/model.hmm &&
	hm-train -j1 $NET --lr-schedule poly --warmup 4 --clip-grad 1e6 --epochs 5 \
		-o loose p.hmr >/dev/null &&
	cmp noclip/model.hmm loose/model.hmm
'

test_expect_success 'stopped at 13, resumed: byte-identical model and checkpoint' '
	hm-train -j1 $POLY --epochs 5 --checkpoint-every 7 --stop-after 13 -o part p.hmr \
		2>/dev/null &&
	hm-train -j1 --resume part >/dev/null &&
	cmp full/model.hmm part/model.hmm && cmp full/checkpoint.hmm part/checkpoint.hmm &&
	cut -d, -f 1-5 full/train.csv >a && cut -d, -f 1-5 part/train.csv >b && cmp a b
'

test_expect_success 'resuming with another --clip-grad or schedule fails, naming it' '
	hm-train -j1 $POLY --epochs 5 --stop-after 3 -o conflict p.hmr 2>/dev/null &&
	cp conflict/checkpoint.hmm ck.before &&
	test_fails_cleanly 1 "--clip-grad 5 differs from the checkpoint"  \
		hm-train --resume conflict --clip-grad 5 &&
	test_fails_cleanly 1 "--lr-schedule poly:3 differs from the checkpoint" \
		hm-train --resume conflict --lr-schedule poly:3 &&
	hm-train -j1 --resume conflict --clip-grad 0.5 --lr-schedule poly:2 >/dev/null &&
	cmp full/model.hmm conflict/model.hmm
'

# A checkpoint of a step-schedule run stopped at 13, rewritten without the
# key train.clip-grad as checkpoints before it were: it resumes, unclipped,
# to the bytes of the uninterrupted unclipped run.
test_expect_success 'a checkpoint without train.clip-grad resumes unclipped' '
	hm-train -j1 $NET --lr-steps 3 --epochs 5 -o old1 p.hmr >/dev/null &&
	hm-train -j1 $NET --lr-steps 3 --epochs 5 --stop-after 13 -o old2 p.hmr \
		2>/dev/null &&
	/usr/bin/python3 -c "
import sys, types
sys.path.insert(0, \"$TEST_ROOT/tests/ref\")
sys.modules[\"torch\"] = types.ModuleType(\"torch\")
from hmm_load import read_hmm, write_hmm
meta, t = read_hmm(\"old2/checkpoint.hmm\")
del meta[\"train.clip-grad\"]
write_hmm(\"old2/checkpoint.hmm\", meta, t)
" &&
	hm-train -j1 --resume old2 >/dev/null &&
	cmp old1/model.hmm old2/model.hmm
'

# A-Softmax multiplies cos by |x|.  The ir embedding ends in a batch norm:
# in training, each feature has zero mean and unit variance over the batch,
# so the mean |x|^2 of a batch is exactly sum(gamma^2 + beta^2); with gamma
# frozen at 1 (iresnet.py) only beta could move it.  For A-Softmax gamma
# trains (hm-train(1)): after 50 steps |gamma| has grown well past its
# initial sqrt(16) = 4 (measured 5.93), the model file says
# features.trainable, the checkpoint holds its momentum.  ArcFace keeps
# gamma at exactly 1.
read_gamma() {
	/usr/bin/python3 -c "
import sys, types
sys.path.insert(0, \"$TEST_ROOT/tests/ref\")
sys.modules[\"torch\"] = types.ModuleType(\"torch\")
import numpy as np
from hmm_load import read_hmm
meta, t = read_hmm(sys.argv[1])
g = t[\"features.weight\"].astype(np.float64)
print(\"%.6f\" % np.linalg.norm(g), meta.get(\"features.trainable\", \"-\"),
      int(\"momentum/features.weight\" in t), float(np.abs(g - 1).max()))
" "$1"
}

test_expect_success 'A-Softmax: the embedding scale trains, and the feature norm grows' '
	hm-train -j1 $NET --loss asoftmax --epochs 5 -o asm p.hmr >/dev/null &&
	read_gamma asm/checkpoint.hmm >g && cat g &&
	read -r norm key mom dev <g &&
	test "$key" = 1 && test "$mom" = 1 &&
	awk -v n="$norm" "BEGIN { exit !(n > 1.2 * 4) }" &&
	read_gamma asm/model.hmm | grep -q " 1 0 " &&
	hm-train -j1 $NET --loss arcface --epochs 5 -o arc p.hmr >/dev/null &&
	read_gamma arc/checkpoint.hmm >g && cat g &&
	read -r norm key mom dev <g &&
	test "$norm" = 4.000000 && test "$key" = - && test "$mom" = 0 && test "$dev" = 0.0
'

test_expect_success 'A-Softmax: stopped and resumed, byte-identical' '
	hm-train -j1 $NET --loss asoftmax --epochs 5 --stop-after 13 -o asm2 p.hmr \
		2>/dev/null &&
	hm-train -j1 --resume asm2 >/dev/null &&
	cmp asm/model.hmm asm2/model.hmm
'

# A checkpoint from before: no features.trainable key, no momentum for it.
# It resumes with the weight frozen at the value it has.
test_expect_success 'an A-Softmax checkpoint without the key resumes with gamma frozen' '
	hm-train -j1 $NET --loss asoftmax --epochs 5 --stop-after 13 -o asm3 p.hmr \
		2>/dev/null &&
	/usr/bin/python3 -c "
import sys, types
sys.path.insert(0, \"$TEST_ROOT/tests/ref\")
sys.modules[\"torch\"] = types.ModuleType(\"torch\")
from hmm_load import read_hmm, write_hmm
meta, t = read_hmm(\"asm3/checkpoint.hmm\")
del meta[\"features.trainable\"], t[\"momentum/features.weight\"]
write_hmm(\"asm3/checkpoint.hmm\", meta, t)
" &&
	read_gamma asm3/checkpoint.hmm >before &&
	hm-train -j1 --resume asm3 >/dev/null &&
	read_gamma asm3/checkpoint.hmm >after && cat before after &&
	test "$(cut -d" " -f1 before)" = "$(cut -d" " -f1 after)" &&
	grep -q " - 0 " after
'

test_done
