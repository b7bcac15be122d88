#!/bin/bash
# hm-embed: bad records, bad models, truncated input, what a failure leaves
# on stdout (nothing when the first batch fails; whole batches and no end
# marker after that), usage errors, and a reader that goes away.
. "$(dirname "$0")/lib.sh"

# One thread unless a test asks for more: on a busy 2-core machine the
# OpenMP and OpenBLAS workers of a 2-thread run spin against each other and
# these tiny models run several times slower.  Thread counts are compared
# in the records test.
HM_THREADS=1

# Counts a stream's embedding records and end markers: "N embeddings, M ends"
# (records read by tests/ref/hmtest.py, CRCs checked).
cat >count.py <<'EOF'
import os, sys
sys.path.insert(0, os.path.join(os.environ["TEST_ROOT"], "tests", "ref"))
import hmtest
kinds = [r.kind for r in hmtest.iter_records(open(sys.argv[1], "rb").read())]
print("%d embeddings, %d ends" % (kinds.count(hmtest.EMBEDDING), kinds.count(hmtest.END)))
EOF

test_expect_success 'data: a small model at 24x24 RGB; 80 good records; 32x32 and grey ones' '
	hm-synth -q --kind casia --identities 4 --images-per-id 8 --size 64x64 \
		--lookalike 0 -o c &&
	hm-align -q --root c --size 24x24 c/landmarks.txt | hm-pack -q -o train.hmr - &&
	hm-train -j2 -q -a ir:1,1,1,1:8,16,32,64 --emb-size 16 -b 8 --iters 2 \
		-o m train.hmr >/dev/null &&
	hm-synth -q --kind lfw --identities 20 --pairs 4 --size 64x64 -o l &&
	hm-align -q --root l --size 24x24 l/landmarks.txt >good.hmr &&
	hm-align -q --root l --size 32x32 l/landmarks.txt >big.hmr &&
	hm-align -q --root l --size 24x24 --gray l/landmarks.txt >gray.hmr &&
	/usr/bin/python3 count.py good.hmr >/dev/null &&
	test $(hm-pack --list good.hmr | wc -l) = 80 &&
	hm-pack --list big.hmr | head -n 1 | cut -f 1 >bigkey &&
	hm-pack --list gray.hmr | head -n 1 | cut -f 1 >graykey &&
	test -s bigkey && test -s graykey
'

test_expect_success 'an image of another size: exit 1 naming the record, nothing on stdout' '
	test_fails_cleanly 1 "hm-embed: '"'"'big.hmr'"'"': record 0 '"'"'$(cat bigkey)'"'"': image is 32x32x3, the model takes 24x24x3" \
		hm-embed -m m/model.hmm big.hmr
'

# Channels are converted as hm-train converts them (hm-embed(1)): a grey
# record for a colour model is the same image copied into three channels,
# a colour record for a grey model its BT.601 luma (libjpeg's fixed point).
# Raw records make both sides exact, so the embeddings must be the same bytes.
cat >chan.py <<'EOF'
import os, sys
sys.path.insert(0, os.path.join(os.environ["TEST_ROOT"], "tests", "ref"))
import hmtest
way, src, dst = sys.argv[1:]
out = []
for r in hmtest.read_records(src):
    p = r.pixels().astype("int64")
    if way == "grey-to-rgb":
        q = p.repeat(3, axis=2)
    else:
        q = (19595 * p[:, :, 0] + 38470 * p[:, :, 1] + 7471 * p[:, :, 2] + 32768) >> 16
        q = q[:, :, None]
    out.append(hmtest.image_record(r.key, r.w, r.h, q.shape[2], 0,
                                   q.astype("uint8").tobytes(), r.label))
hmtest.write_stream(dst, out)
EOF

test_expect_success 'grey records for an RGB model: embedded as the same image in three channels' '
	hm-pack -q --encoding raw -o grayraw.hmr gray.hmr &&
	/usr/bin/python3 chan.py grey-to-rgb grayraw.hmr rgbraw.hmr &&
	hm-embed -m m/model.hmm grayraw.hmr >e-gray.hmr &&
	hm-embed -m m/model.hmm rgbraw.hmr >e-rgb.hmr &&
	echo "80 embeddings, 1 ends" >want && /usr/bin/python3 count.py e-gray.hmr >got &&
	cmp want got && cmp e-gray.hmr e-rgb.hmr &&
	hm-embed -m m/model.hmm - <gray.hmr >e-jpeg.hmr &&
	/usr/bin/python3 count.py e-jpeg.hmr >got && cmp want got
'

test_expect_success 'a grey pack trains an ir model, and the same records embed with it' '
	hm-align -q --root c --size 24x24 --gray c/landmarks.txt | hm-pack -q -o gtrain.hmr - &&
	hm-train -j2 -q -a ir:1,1,1,1:8,16,32,64 --emb-size 16 -b 8 --iters 2 \
		-o mg gtrain.hmr >/dev/null &&
	hm-embed -m mg/model.hmm gray.hmr >e.hmr &&
	/usr/bin/python3 count.py e.hmr >got && cmp want got
'

test_expect_success 'RGB records for a grey model (face): embedded as their luma' '
	hm-train -j2 -q -a face:1,1:8,16 --emb-size 16 -b 8 --iters 2 \
		-o mf gtrain.hmr >/dev/null &&
	hm-pack -q --encoding raw -o goodraw.hmr good.hmr &&
	/usr/bin/python3 chan.py rgb-to-grey goodraw.hmr lumaraw.hmr &&
	hm-embed -m mf/model.hmm goodraw.hmr >f-rgb.hmr &&
	hm-embed -m mf/model.hmm lumaraw.hmr >f-luma.hmr &&
	/usr/bin/python3 count.py f-rgb.hmr >got && cmp want got &&
	cmp f-rgb.hmr f-luma.hmr
'

test_expect_success 'a bad record in the first batch: nothing written' '
	cat good.hmr big.hmr >mixed.hmr &&
	test_fails_cleanly 1 "'"'"'mixed.hmr'"'"': record 80 '"'"'$(cat bigkey)'"'"': image is 32x32x3" \
		hm-embed -b 128 -m m/model.hmm mixed.hmr
'

test_expect_success 'a bad record later: the batches before it, no end marker, and the reader says truncated' '
	test_expect_code 1 hm-embed -b 24 -m m/model.hmm mixed.hmr >part.hmr 2>err &&
	grep -q "record 80 .*image is 32x32x3" err &&
	echo "72 embeddings, 0 ends" >want &&
	/usr/bin/python3 count.py part.hmr >got && cmp got want &&
	test_expect_code 1 hm-pack --list part.hmr >/dev/null 2>err &&
	grep -q "truncated" err
'

test_expect_success 'a truncated input: exit 1; the first batch: nothing written' '
	size=$(wc -c <good.hmr) &&
	head -c $((size - 24)) good.hmr >noend.hmr &&
	test_fails_cleanly 1 "'"'"'noend.hmr'"'"': truncated: input ends after 80 records without an end-of-stream record" \
		hm-embed -b 128 -m m/model.hmm noend.hmr &&
	head -c $((size - 100)) good.hmr >cut.hmr &&
	test_fails_cleanly 1 "'"'"'cut.hmr'"'"': record 79" hm-embed -b 128 -m m/model.hmm cut.hmr &&
	test_fails_cleanly 1 "truncated" hm-embed -m m/model.hmm - </dev/null
'

test_expect_success 'a truncated input after whole batches: those batches, no end marker' '
	test_expect_code 1 hm-embed -b 32 -m m/model.hmm noend.hmr >part2.hmr 2>/dev/null &&
	echo "64 embeddings, 0 ends" >want &&
	/usr/bin/python3 count.py part2.hmr >got && cmp got want
'

test_expect_success 'embedding records as input: exit 1, not an image record' '
	hm-embed -m m/model.hmm good.hmr >emb.hmr &&
	test_fails_cleanly 1 "'"'"'emb.hmr'"'"': record 0 " hm-embed -m m/model.hmm emb.hmr &&
	grep -q "not an image record" .fail.err
'

test_expect_success 'a JPEG payload that does not decode: exit 1 naming the record' '
	/usr/bin/python3 -c "
import sys
sys.path.insert(0, \"$TEST_ROOT/tests/ref\")
from hmtest import end_record, image_record
open(\"badjpeg.hmr\", \"wb\").write(image_record(\"x/x_0001\", 24, 24, 3, 1, b\"\\xff\\xd8\\xff\\xe0junk\" * 9) + end_record())
" &&
	test_fails_cleanly 1 "'"'"'badjpeg.hmr'"'"': record 0" hm-embed -m m/model.hmm badjpeg.hmr
'

test_expect_success 'a model whose embeddings overflow: exit 1 naming the record, nothing written' '
	/usr/bin/python3 -c "
import sys
sys.path.insert(0, \"$TEST_ROOT/tests/ref\")
import numpy as np, hmm_load
meta, t = hmm_load.read_hmm(\"m/model.hmm\")
t = dict(t); t[\"fc.weight\"] = np.full(t[\"fc.weight\"].shape, 3e38, np.float32)
hmm_load.write_hmm(\"inf.hmm\", meta, t)
" &&
	key=$(hm-pack --list good.hmr | head -n 1 | cut -f 1) &&
	test_fails_cleanly 1 "'"'"'good.hmr'"'"': record 0 '"'"'$key'"'"': the embedding has NaN or infinite values" \
		hm-embed -m inf.hmm good.hmr
'

test_expect_success 'bad model files: missing, not a model, corrupt, truncated: exit 1, nothing written' '
	test_fails_cleanly 1 "'"'"'nope.hmm'"'"'" hm-embed -m nope.hmm good.hmr &&
	test_fails_cleanly 1 "'"'"'good.hmr'"'"'" hm-embed -m good.hmr good.hmr &&
	cp m/model.hmm flip.hmm &&
	printf "\\377" | dd of=flip.hmm bs=1 seek=2000 conv=notrunc 2>/dev/null &&
	test_fails_cleanly 1 "'"'"'flip.hmm'"'"'" hm-embed -m flip.hmm good.hmr &&
	head -c 5000 m/model.hmm >short.hmm &&
	test_fails_cleanly 1 "'"'"'short.hmm'"'"'" hm-embed -m short.hmm good.hmr
'

test_expect_success 'a missing input file: exit 1 naming it' '
	test_fails_cleanly 1 "'"'"'none.hmr'"'"'" hm-embed -m m/model.hmm none.hmr
'

test_expect_success 'usage errors exit 2' '
	test_fails_cleanly 2 "no model given" hm-embed good.hmr &&
	test_fails_cleanly 2 "--flip: '"'"'both'"'"' is not sum, concat or none" \
		hm-embed -m m/model.hmm --flip both good.hmr &&
	test_fails_cleanly 2 "--batch" hm-embed -m m/model.hmm -b 0 good.hmr &&
	test_fails_cleanly 2 "--batch" hm-embed -m m/model.hmm -b x good.hmr &&
	test_fails_cleanly 2 "too many arguments" hm-embed -m m/model.hmm good.hmr good.hmr &&
	test_expect_code 2 hm-embed -m m/model.hmm --no-such-option good.hmr 2>/dev/null &&
	test_expect_code 2 hm-embed -m m/model.hmm -j 0 good.hmr 2>/dev/null
'

test_expect_success 'refuses to write records to a terminal' '
	script -qec "hm-embed -m m/model.hmm good.hmr" /dev/null >tty.out 2>&1
	test $? = 2 &&
	grep -q "refusing to write binary records to a terminal" tty.out
'

test_expect_success 'a reader that closes early stops it quietly (SIGPIPE)' '
	for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16; do cat good.hmr; done >many.hmr &&
	hm-embed -m m/model.hmm --flip none many.hmr 2>err | head -c 100 >/dev/null
	test "${PIPESTATUS[0]}" = 141 && test ! -s err
'

test_expect_success 'with SIGPIPE ignored, EPIPE also stops it quietly' '
	(trap "" PIPE &&
	 hm-embed -m m/model.hmm --flip none many.hmr 2>err | head -c 100 >/dev/null
	 test "${PIPESTATUS[0]}" = 141) && test ! -s err
'

test_done
