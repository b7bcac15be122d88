#!/bin/bash
# Faults: a full disk while writing, made with a file size limit (ulimit -f:
# write() then fails with EFBIG; the tools ignore SIGXFSZ, which would
# otherwise kill them without a word).  Each tool exits 1 with one line
# naming the file and "File too large", stdout empty, no temp file left,
# and the output from before (a pack and its index, a checkpoint, scores,
# an image tree) is exactly as it was; a checkpoint kept so still resumes.
. "$(dirname "$0")/lib.sh"

HM_THREADS=1
ARGS="-j1 -q -a ir:1,1:8,16 --emb-size 16 -b 8 --epochs 3 --checkpoint-every 7"

# limited KB CMD...: CMD under a file size limit of KB kilobytes.
limited() {
	local kb=$1
	shift
	(ulimit -f "$kb" && exec "$@")
}

no_temp() {
	test -z "$(find . -name "*.tmp.*")"
}

test_expect_success 'data: a pack (80 faces), an LFW-like set, embeddings, scores' '
	hm-synth -q --kind casia --identities 8 --images-per-id 10 --size 64x64 \
		--lookalike 0 -o d &&
	hm-align -q --root d --size 16x16 d/landmarks.txt >faces.hmr &&
	hm-pack -q -o p.hmr faces.hmr &&
	hm-synth -q --kind lfw --identities 20 --pairs 4 --size 64x64 -o l &&
	hm-align -q --root l --size 16x16 l/landmarks.txt >lfw.hmr &&
	hm-train $ARGS -o full p.hmr >/dev/null &&
	hm-embed -q -m full/model.hmm lfw.hmr >emb.hmr &&
	test $(wc -c <p.hmr) -gt 40000
'

test_expect_success 'hm-pack: the pack and index from before stay whole' '
	hm-pack -q -o out.hmr lfw.hmr && cp out.hmr was.hmr && cp out.hmi was.hmi &&
	test_fails_cleanly 1 "hm-pack: '"'"'out.hmr'"'"': write error: File too large" \
		limited 40 hm-pack -q -o out.hmr p.hmr &&
	cmp was.hmr out.hmr && cmp was.hmi out.hmi && no_temp
'

test_expect_success 'hm-train: the checkpoint write fails, the one before stays and resumes' '
	hm-train $ARGS --stop-after 14 -o run p.hmr 2>/dev/null &&
	cp run/checkpoint.hmm kept.hmm &&
	test $(wc -c <kept.hmm) -gt 60000 &&
	test_fails_cleanly 1 "hm-train: '"'"'run/checkpoint.hmm'"'"': write error: File too large" \
		limited 60 hm-train --resume run &&
	cmp kept.hmm run/checkpoint.hmm && test ! -e run/model.hmm && no_temp &&
	hm-train --resume run >/dev/null &&
	cmp full/model.hmm run/model.hmm && cmp full/checkpoint.hmm run/checkpoint.hmm
'

test_expect_success 'hm-train: the final writes fail, the last checkpoint stays' '
	hm-train $ARGS --stop-after 28 -o run2 p.hmr 2>/dev/null &&
	cp run2/checkpoint.hmm kept2.hmm &&
	test_fails_cleanly 1 "File too large" limited 20 hm-train --resume run2 &&
	cmp kept2.hmm run2/checkpoint.hmm && test ! -e run2/model.hmm && no_temp
'

# one_line_efbig FILE: stderr file FILE is one line saying stdout hit the limit.
one_line_efbig() {
	test "$(wc -l <"$1")" = 1 && grep -q "^hm-[a-z]*: '-': write error: File too large$" "$1"
}

test_expect_success 'hm-embed: a write error on stdout (a file at its limit), one line' '
	test_expect_code 1 limited 1 hm-embed -q -m full/model.hmm lfw.hmr >e.hmr 2>err &&
	one_line_efbig err && test $(wc -c <e.hmr) = 1024
'

test_expect_success 'hm-align: records on stdout, one line' '
	test_expect_code 1 limited 4 hm-align -q --root l --size 16x16 l/landmarks.txt \
		>a.hmr 2>err &&
	one_line_efbig err
'

test_expect_success 'hm-align --out-dir: the failing image is named, the tree from before stays' '
	hm-align -q --root l --size 64x64 --out-dir tree l/landmarks.txt &&
	(cd tree && find . -type f | sort | xargs md5sum) >was.md5 &&
	test_fails_cleanly 1 "write error: File too large" \
		limited 1 hm-align -q --root l --size 64x64 --out-dir tree l/landmarks.txt &&
	grep -q "^hm-align: '"'"'tree/.*\.jpg'"'"': write error" .fail.err &&
	(cd tree && find . -type f | sort | xargs md5sum) >now.md5 &&
	cmp was.md5 now.md5 && no_temp
'

test_expect_success 'hm-verify -o: the scores from before stay' '
	hm-verify -o s.csv l/pairs.txt emb.hmr && cp s.csv was.csv &&
	test $(wc -c <s.csv) -gt 3000 &&
	test_fails_cleanly 1 "hm-verify: '"'"'s.csv'"'"': write error: File too large" \
		limited 2 hm-verify -o s.csv l/pairs.txt emb.hmr &&
	cmp was.csv s.csv && no_temp
'

test_expect_success 'hm-roc --svg and hm-synth: one line, no temp file' '
	hm-verify l/pairs.txt emb.hmr >s2.csv &&
	test_fails_cleanly 1 "hm-roc: '"'"'r.svg'"'"': write error: File too large" \
		limited 1 hm-roc --svg r.svg s2.csv &&
	test ! -e r.svg &&
	test_fails_cleanly 1 "write error: File too large" \
		limited 1 hm-synth -q --kind casia --identities 2 --images-per-id 2 -o sy &&
	no_temp
'

test_done
