#!/bin/bash
# Every run-defining option a checkpoint stores ("train.NAME") is hm-train's
# --NAME, and a resume checks it: another value is refused, naming the value
# given and the stored one; the length and the milestones, which a resume
# may change, are taken as an extension instead.  A stored key without a
# case here fails the test: a new option needs one.
. "$(dirname "$0")/lib.sh"

test_expect_success 'a checkpoint of a small run' '
	hm-synth -q --kind casia --identities 8 --images-per-id 10 --size 64x64 \
		--lookalike 0 -o d &&
	hm-align -q --root d --size 16x16 --out-dir al d/landmarks.txt &&
	hm-pack -q -o p.hmr al &&
	hm-train -q -j1 -a ir:1,1,1,1:4,8,16,32 --emb-size 16 -b 8 --iters 12 \
		--stop-after 3 -o ck p.hmr 2>/dev/null &&
	test -s ck/checkpoint.hmm
'

# The stored keys, "NAME VALUE" a line, but the pack's and the threads
# (not options that define the run).
test_expect_success 'every other value of every stored option is refused, naming both' '
	/usr/bin/python3 -c "
import sys, types
sys.path.insert(0, \"$TEST_ROOT/tests/ref\")
sys.modules[\"torch\"] = types.ModuleType(\"torch\")
from hmm_load import read_hmm
meta, _ = read_hmm(\"ck/checkpoint.hmm\")
skip = (\"pack\", \"pack-records\", \"pack-bytes\", \"threads\")
for k, v in meta.items():
    if k.startswith(\"train.\") and k[6:] not in skip:
        print(k[6:], v)
" >keys &&
	test $(wc -l <keys) -ge 23 &&
	cp ck/checkpoint.hmm ck.before &&
	while read -r name stored; do
		case $name in
		arch) arg=ir:1,1,1,1:4,8,16,64 ;;
		emb-size) arg=8 ;;
		classes) arg=9 ;;
		loss) arg=cosface ;;
		scale) arg=30 ;;
		margin) arg=0.25 ;;
		easy-margin) arg= ;;
		lambda-base) arg=10 ;;
		lambda-gamma) arg=0.5 ;;
		lambda-power) arg=2 ;;
		lambda-min) arg=1 ;;
		hm) arg=power:2 ;;
		batch) arg=4 ;;
		lr) arg=0.5 ;;
		lr-schedule) arg=cosine ;;
		warmup) arg=5 ;;
		momentum) arg=0.8 ;;
		wd) arg=0.001 ;;
		seed) arg=4 ;;
		clip-grad) arg=1 ;;
		iters|epochs|lr-steps) continue ;;	# the extension test below
		*) echo "no case for train.$name" >&2; exit 1 ;;
		esac
		shown=${arg:-1}
		test "$shown" != "$stored" &&
		test_fails_cleanly 1 \
			"--$name $shown differs from the checkpoint'\''s $stored" \
			hm-train --resume ck --$name $arg || exit 1
	done <keys &&
	cmp ck.before ck/checkpoint.hmm
'

test_expect_success 'the length and the milestones are taken as an extension' '
	grep -q "^iters 12$" keys && grep -q "^epochs 0$" keys &&
	grep -q "^lr-steps none$" keys &&
	test_fails_cleanly 1 "--iters 5 (5 iterations) is shorter than the checkpoint'\''s --iters 12 (12)" \
		hm-train --resume ck --iters 5 &&
	test_fails_cleanly 1 "--epochs 1 (10 iterations) is shorter than the checkpoint'\''s --iters 12 (12)" \
		hm-train --resume ck --epochs 1 &&
	hm-train -q --resume ck --lr-steps 5 --stop-after 4 2>err &&
	grep -q "new schedule at iteration 3; --lr-steps 5 (was none)" err
'

test_done
