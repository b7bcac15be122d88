#!/bin/bash
# hm-embed: records in -> embedding records out (count, order, keys, labels,
# dimensions, unit length, end marker), the flip modes against each other,
# stdin and concatenated streams, threads and batch sizes, the pipe into
# hm-verify and hm-roc, -v, --progress, --help.  Numerics against PyTorch:
# tests/ref/embed_torch.py.
. "$(dirname "$0")/lib.sh"

# One thread unless a test asks for more: on a busy 2-core machine the
# OpenMP and OpenBLAS workers of a 2-thread run spin against each other and
# these tiny models run several times slower.  Thread counts are compared
# in the records test.
HM_THREADS=1

# Lists a stream as "kind key label dim" per record ("end" for end markers),
# checking CRCs (tests/ref/hmtest.py reads it), and writes the vectors (one
# per line) to $2 if given.
cat >list.py <<'EOF'
import os, sys
sys.path.insert(0, os.path.join(os.environ["TEST_ROOT"], "tests", "ref"))
import hmtest
vecs = []
for r in hmtest.iter_records(open(sys.argv[1], "rb").read()):
    if r.kind == hmtest.END:
        print("end")
    elif r.kind == hmtest.IMAGE:
        print("image", r.key, r.label, "-")
    else:
        vecs.append(" ".join("%.9g" % v for v in r.vec))
        print("embed", r.key, r.label, len(r.vec))
if len(sys.argv) > 2:
    open(sys.argv[2], "w").write("".join(v + "\n" for v in vecs))
EOF

# Compares two vector files: same shape, max |a - b| <= tol.
cat >near.py <<'EOF'
import sys
import numpy as np
a, b = np.loadtxt(sys.argv[1], ndmin=2), np.loadtxt(sys.argv[2], ndmin=2)
assert a.shape == b.shape, (a.shape, b.shape)
err = np.abs(a - b).max()
print("max |a - b| = %.3g" % err)
sys.exit(0 if err <= float(sys.argv[3]) else 1)
EOF

test_expect_success 'data: labelled casia pack, lfw records with pairs; a small trained model' '
	hm-synth -q --kind casia --identities 6 --images-per-id 8 --size 64x64 \
		--lookalike 0 -o c &&
	hm-align -q --root c --size 24x24 c/landmarks.txt >casia.hmr &&
	hm-pack -q -o train.hmr casia.hmr &&
	hm-synth -q --kind lfw --identities 20 --pairs 4 --size 64x64 -o l &&
	hm-align -q --root l --size 24x24 l/landmarks.txt >lfw.hmr &&
	hm-align -q --root l --size 24x24 --encoding raw l/landmarks.txt >lfw-raw.hmr &&
	hm-train -j2 -q -a ir:1,1,1,1:8,16,32,64 --emb-size 32 -b 16 --iters 4 \
		-o m train.hmr >/dev/null &&
	test -s m/model.hmm
'

test_expect_success 'one embedding per image, in order, keys and labels unchanged, then the end' '
	hm-embed -m m/model.hmm lfw.hmr >sum.hmr &&
	/usr/bin/python3 list.py lfw.hmr >in.list &&
	/usr/bin/python3 list.py sum.hmr sum.vec >out.list &&
	test $(grep -c ^image in.list) -ge 40 &&
	sed -n "s/^image \(.*\) -$/embed \1 32/p" in.list >want && echo end >>want &&
	cmp out.list want &&
	hm-embed -m m/model.hmm casia.hmr >c.hmr &&
	/usr/bin/python3 list.py casia.hmr | cut -d" " -f2,3 | sed "\$d" >a &&
	/usr/bin/python3 list.py c.hmr | cut -d" " -f2,3 | sed "\$d" >b &&
	cmp a b && test "$(cut -d" " -f2 b | sort -un | head -n 1)" = 0
'

test_expect_success 'dimensions: emb_dim for sum and none, twice that for concat; unit length' '
	hm-embed -m m/model.hmm --flip none lfw.hmr >none.hmr &&
	hm-embed -m m/model.hmm --flip concat lfw.hmr >concat.hmr &&
	/usr/bin/python3 list.py none.hmr none.vec | grep ^embed | cut -d" " -f4 | sort -u >d1 &&
	/usr/bin/python3 list.py concat.hmr concat.vec | grep ^embed | cut -d" " -f4 | sort -u >d2 &&
	echo 32 >want1 && echo 64 >want2 && cmp d1 want1 && cmp d2 want2 &&
	/usr/bin/python3 -c "
import numpy as np
for f in (\"sum.vec\", \"none.vec\", \"concat.vec\"):
    n = np.linalg.norm(np.loadtxt(f), axis=1)
    assert np.abs(n - 1).max() < 1e-6, (f, n)
"
'

test_expect_success 'the modes agree: concat = [e, e_flip] scaled, sum = its halves added, none = the first half' '
	/usr/bin/python3 -c "
import numpy as np
c = np.loadtxt(\"concat.vec\")
e, ef = c[:, :32], c[:, 32:]
unit = lambda v: v / np.linalg.norm(v, axis=1, keepdims=True)
np.savetxt(\"sum.want\", unit(e + ef)); np.savetxt(\"none.want\", unit(e))
assert np.abs(e - ef).max() > 1e-2, \"the mirror made no difference\"
" &&
	/usr/bin/python3 near.py sum.vec sum.want 1e-6 &&
	/usr/bin/python3 near.py none.vec none.want 1e-6 &&
	! cmp -s sum.hmr none.hmr
'

test_expect_success 'the default flip mode is sum' '
	hm-embed -m m/model.hmm --flip sum lfw.hmr >sum2.hmr &&
	cmp sum.hmr sum2.hmr
'

test_expect_success 'stdin, "-" and a file give the same bytes; raw records close to JPEG ones' '
	hm-embed -m m/model.hmm <lfw.hmr >stdin.hmr &&
	hm-embed -m m/model.hmm - <lfw.hmr >dash.hmr &&
	cmp stdin.hmr sum.hmr && cmp dash.hmr sum.hmr &&
	hm-embed -m m/model.hmm lfw-raw.hmr >raw.hmr &&
	/usr/bin/python3 list.py raw.hmr raw.vec >raw.list && cmp raw.list out.list &&
	/usr/bin/python3 near.py raw.vec sum.vec 0.02
'

test_expect_success 'concatenated streams: every record, one end marker at the end' '
	cat lfw.hmr casia.hmr | hm-embed -m m/model.hmm >cat.hmr &&
	cat sum.hmr c.hmr >sep.hmr &&
	/usr/bin/python3 list.py cat.hmr >cat.list &&
	/usr/bin/python3 list.py sep.hmr | grep -v ^end >want && echo end >>want &&
	cmp cat.list want
'

test_expect_success 'an input of nothing but an end marker gives an end marker' '
	tail -c 24 lfw.hmr >empty.hmr &&
	hm-embed -m m/model.hmm empty.hmr >e.hmr &&
	cmp e.hmr empty.hmr
'

test_expect_success 'same thread count, same bytes; -j 1 and -j 2 agree within 1e-6' '
	hm-embed -j 2 -m m/model.hmm lfw.hmr >j2a.hmr &&
	HM_THREADS=2 hm-embed -m m/model.hmm lfw.hmr >j2b.hmr &&
	hm-embed -j 1 -m m/model.hmm lfw.hmr >j1a.hmr &&
	HM_THREADS=2 hm-embed -j 1 -m m/model.hmm lfw.hmr >j1b.hmr &&
	cmp j2a.hmr j2b.hmr && cmp j1a.hmr j1b.hmr && cmp j1a.hmr sum.hmr &&
	/usr/bin/python3 list.py j1a.hmr j1.vec >j1.list && cmp j1.list out.list &&
	/usr/bin/python3 list.py j2a.hmr j2.vec >/dev/null &&
	/usr/bin/python3 near.py j1.vec j2.vec 1e-6
'

test_expect_success 'batch sizes 1, 7 and 64: same records, values within 1e-6' '
	for b in 1 7 64; do
		hm-embed -b $b -m m/model.hmm lfw.hmr >b$b.hmr &&
		/usr/bin/python3 list.py b$b.hmr b$b.vec >b$b.list &&
		cmp b$b.list out.list &&
		/usr/bin/python3 near.py b$b.vec sum.vec 1e-6 || return 1
	done
'

test_expect_success 'memory does not grow with the input (32 times the records, 0.8 MB out)' '
	for i in $(seq 32); do cat lfw.hmr; done >x32.hmr &&
	# AddressSanitizer and memcheck (make check-valgrind) keep freed blocks
	# in quarantine, up to 20 MB: not the program growing.
	ASAN_OPTIONS="${ASAN_OPTIONS:-}:quarantine_size_mb=0" && export ASAN_OPTIONS &&
	VALGRIND_OPTS="${VALGRIND_OPTS:-} --freelist-vol=0 --freelist-big-blocks=0" &&
	export VALGRIND_OPTS &&
	/usr/bin/time -f %M -o rss1 hm-embed --flip concat -m m/model.hmm lfw.hmr >/dev/null &&
	/usr/bin/time -f %M -o rss32 hm-embed --flip concat -m m/model.hmm x32.hmr >out32.hmr &&
	echo "peak RSS $(cat rss1) KB, then $(cat rss32) KB; $(wc -c <out32.hmr) bytes out" &&
	test $(wc -c <out32.hmr) -gt 800000 &&
	# 3840 more records: a leak of even 256 bytes each would pass 1 MB
	test $(cat rss32) -lt $(($(cat rss1) + 512 + $(cat rss1) / 20))
'

test_expect_success 'a checkpoint works as a model file' '
	hm-embed -m m/checkpoint.hmm lfw.hmr >ck.hmr &&
	cmp ck.hmr sum.hmr
'

test_expect_success 'the pipe of the man page: hm-embed | hm-verify | hm-roc' '
	hm-align -q --root l --size 24x24 l/landmarks.txt |
		hm-embed -m m/model.hmm | hm-verify l/pairs.txt >scores.csv &&
	head -n 1 scores.csv | grep -q "^fold,same,score,a,b$" &&
	test $(wc -l <scores.csv) = 81 &&
	hm-roc scores.csv >roc &&
	grep -q "^scores.csv  *80  *10 " roc
'

test_expect_success '-v names the BLAS core, the model and the count' '
	hm-embed -v -j 1 -m m/model.hmm --flip concat lfw.hmr >/dev/null 2>err &&
	grep -q "^hm-embed: OpenBLAS .* core " err &&
	grep -q "1 thread; model .m/model.hmm.: ir:1,1,1,1:8,16,32,64, 24x24x3 -> 32; flip concat (64 values); batch 32$" err &&
	n=$(grep -c ^image in.list) &&
	grep -q "^hm-embed: wrote $n embeddings$" err
'

test_expect_success '--progress draws a progress line; -q silences it; none by default here' '
	n=$(grep -c ^image in.list) &&
	hm-embed --progress -m m/model.hmm lfw.hmr >/dev/null 2>err &&
	grep -q "$n images" err &&
	hm-embed --progress -q -m m/model.hmm lfw.hmr >/dev/null 2>err &&
	test ! -s err &&
	hm-embed -m m/model.hmm lfw.hmr >/dev/null 2>err &&
	test ! -s err
'

test_expect_success '--help and --version' '
	hm-embed --help >help &&
	grep -q "^Usage: hm-embed \[options\] -m MODEL \[RECORDS\]" help &&
	grep -q -- "--flip MODE" help &&
	hm-embed --version >v && grep -q "^hm-embed (hm suite) " v
'

test_done
