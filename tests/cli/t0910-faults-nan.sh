#!/bin/bash
# Faults: training that diverges (a huge learning rate).  hm-train stops at
# the first iteration whose loss, parameters or batch-norm statistics are
# not finite, with one line naming the iteration and the last good
# checkpoint; that checkpoint stays byte for byte, loads (as a model in
# hm-embed, and in hm-train --resume, which diverges again the same way),
# and no model.hmm or temp file is written.
. "$(dirname "$0")/lib.sh"

HM_THREADS=1
NET="-j1 -q -a ir:1,1:8,16 --emb-size 16 -b 8 --epochs 6"

# The iteration numbers in the message "iteration N: ...; last good
# checkpoint 'DIR/checkpoint.hmm' (iteration M)", as "N M".
iterations() {
	sed -n "s/^hm-train: iteration \([0-9]*\): .*; last good checkpoint '.*' (iteration \([0-9]*\))$/\1 \2/p" "$1"
}

test_expect_success 'a small pack (80 faces)' '
	hm-synth -q --kind casia --identities 8 --images-per-id 10 --size 64x64 \
		--lookalike 0 -o d &&
	hm-align -q --root d --size 16x16 d/landmarks.txt >faces.hmr &&
	hm-pack -q -o p.hmr faces.hmr
'

test_expect_success 'a rate of 1e4 diverges mid-run: one line, the last good checkpoint named' '
	test_fails_cleanly 1 "(NaN or infinite); last good checkpoint '"'"'run/checkpoint.hmm'"'"'" \
		hm-train $NET --lr 1e4 --checkpoint-every 3 -o run p.hmr &&
	iterations .fail.err >it && read -r n m <it &&
	test "$m" -ge 3 && test "$m" -lt "$n" && test $((m % 3)) = 0 &&
	test ! -e run/model.hmm && test -z "$(find . -name "*.tmp.*")" &&
	cp run/checkpoint.hmm kept.hmm && cp .fail.err first.err
'

test_expect_success 'the kept checkpoint is the one a run stopped there writes' '
	read -r n m <it &&
	hm-train $NET --lr 1e4 --checkpoint-every 3 --stop-after "$m" -o upto p.hmr 2>/dev/null &&
	cmp upto/checkpoint.hmm run/checkpoint.hmm
'

test_expect_success 'it loads: hm-embed runs it, --resume diverges again at the same iteration' '
	hm-embed -q -m run/checkpoint.hmm faces.hmr >emb.hmr &&
	hm-pack --verify emb.hmr >/dev/null &&
	test_fails_cleanly 1 "last good checkpoint" hm-train --resume run &&
	cmp first.err .fail.err && cmp kept.hmm run/checkpoint.hmm && test ! -e run/model.hmm
'

test_expect_success 'a rate of 1e30: NaN at once, before any checkpoint, says so' '
	test_fails_cleanly 1 "no checkpoint was written" \
		hm-train $NET --lr 1e30 --checkpoint-every 3 -o early p.hmr &&
	grep -q "^hm-train: iteration [12]: .*(NaN or infinite)" .fail.err &&
	test ! -e early/checkpoint.hmm && test ! -e early/model.hmm
'

test_done
