#!/bin/bash
# Faults: a closed pipe downstream (| head).  Every writer stops quietly:
# no message, exit by SIGPIPE (status 141 in the shell), also when the
# shell ignores SIGPIPE (the write then fails with EPIPE and the tool ends
# itself by SIGPIPE all the same), and leaves no temp file.  A reader fed
# by a writer cut off mid-stream sees no end-of-stream record: it reports
# the truncation and writes no file, so nothing corrupt is ever kept.
. "$(dirname "$0")/lib.sh"

HM_THREADS=1

# quiet_stop CMD...: CMD | head -c 100 ends CMD by SIGPIPE, stderr empty;
# the same with SIGPIPE ignored.
quiet_stop() {
	"$@" 2>err | head -c 100 >/dev/null
	local rc=${PIPESTATUS[0]}
	if [ "$rc" != 141 ] || [ -s err ]; then
		echo "not stopped quietly by SIGPIPE (exit $rc): $*"
		cat err
		return 1
	fi
	(
		trap '' PIPE
		"$@" 2>err | head -c 100 >/dev/null
		rc=${PIPESTATUS[0]}
		if [ "$rc" != 141 ] || [ -s err ]; then
			echo "SIGPIPE ignored: not stopped quietly (exit $rc): $*"
			cat err
			exit 1
		fi
	) && test -z "$(find . -name "*.tmp.*")"
}

test_expect_success 'data: faces, a model, LFW-like records; embeddings for every key of the real pairs.txt' '
	hm-synth -q --kind casia --identities 4 --images-per-id 4 --size 64x64 \
		--lookalike 0 -o d &&
	hm-align -q --root d --size 16x16 d/landmarks.txt | hm-pack -q -o p.hmr - &&
	hm-train -j1 -q -a ir:1:4 --emb-size 4 -b 4 --iters 2 -o m p.hmr >/dev/null &&
	hm-synth -q --kind lfw --identities 40 --images-per-id 4 --pairs 4 --size 64x64 -o l &&
	hm-align -q --root l --size 16x16 --encoding raw l/landmarks.txt >lfw.hmr &&
	test $(wc -c <lfw.hmr) -gt 100000 &&
	/usr/bin/python3 - "$DATA/pairs.txt" <<-\EOF
	import os, random, sys
	sys.path.insert(0, os.path.join(os.environ["TEST_ROOT"], "tests", "ref"))
	import hmtest
	keys = set()
	for line in open(sys.argv[1]).read().split("\n")[1:]:
	    f = line.split("\t")
	    if len(f) == 3:
	        keys.update("%s/%s_%04d" % (f[0], f[0], int(n)) for n in f[1:])
	    elif len(f) == 4:
	        keys.update("%s/%s_%04d" % (f[2 * i], f[2 * i], int(f[2 * i + 1])) for i in (0, 1))
	r = random.Random(1)
	hmtest.write_stream("emb.hmr", [hmtest.embedding_record(k, [r.gauss(0, 1) for _ in range(8)])
	                                for k in sorted(keys)])
	EOF
'

test_expect_success 'hm-embed | head -c 100 (1280 embeddings, more than a pipe holds)' '
	cat lfw.hmr lfw.hmr lfw.hmr lfw.hmr lfw.hmr lfw.hmr lfw.hmr lfw.hmr >big.hmr &&
	quiet_stop hm-embed -q -m m/model.hmm big.hmr
'

test_expect_success 'hm-align | head -c 100 (raw records, more than a pipe holds)' '
	quiet_stop hm-align -q --root l --encoding raw l/landmarks.txt
'

test_expect_success 'hm-verify | head -c 100 (6000 pairs), also with -o -' '
	quiet_stop hm-verify "$DATA/pairs.txt" emb.hmr &&
	quiet_stop hm-verify -o - "$DATA/pairs.txt" emb.hmr
'

test_expect_success 'hm-pack --list | head -c 100 (7701 records)' '
	quiet_stop hm-pack --list emb.hmr
'

test_expect_success 'a stream cut off upstream: hm-pack reports it and keeps no file' '
	hm-align -q --root l --encoding raw l/landmarks.txt | head -c 150000 |
		hm-pack -q -o cut.hmr - 2>err;
	test "${PIPESTATUS[2]}" = 1 && test "$(wc -l <err)" = 1 &&
	grep -q "^hm-pack: '"'"'-'"'"': record [0-9]*.*truncated" err &&
	! test -e cut.hmr && ! test -e cut.hmi && test -z "$(find . -name "*.tmp.*")"
'

test_expect_success 'hm-embed cut off: hm-verify reports the truncation, writes no scores file' '
	hm-embed -q -m m/model.hmm lfw.hmr | head -c 3000 |
		hm-verify -o s.csv l/pairs.txt 2>err;
	test "${PIPESTATUS[2]}" = 1 && test "$(wc -l <err)" = 1 &&
	grep -q "truncated" err && ! test -e s.csv
'

test_done
