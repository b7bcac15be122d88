#!/bin/bash
# hm-pack from a record stream (file or standard input), --list, --stats.
. "$(dirname "$0")/lib.sh"

# A stream written independently of the suite (hm-records(5), by
# tests/ref/hmtest.py): two raw images, a JPEG, an embedding, and a key with
# a tab in it.
/usr/bin/python3 - <<'PY' || exit 1
import os, sys, cv2, numpy as np
sys.path.insert(0, os.path.join(os.environ["TEST_ROOT"], "tests", "ref"))
from hmtest import embedding_record, end_record, image_record
r = np.random.default_rng(5)
rgb = r.integers(0, 256, (4, 5, 3), dtype=np.uint8)
ok, jpg = cv2.imencode(".jpg", r.integers(0, 256, (16, 24, 3), dtype=np.uint8))
s = (image_record("p/1", 5, 4, 3, 0, rgb.tobytes(), label=3) +
     image_record("p/2", 2, 1, 1, 0, b"\x10\x20", label=3) +
     image_record("q/1", 24, 16, 3, 1, jpg.tobytes(), label=7) +
     embedding_record("e/1", [1.0, -2.0, 0.5, 3.25]) +
     image_record("t\tab", 1, 1, 1, 0, b"\x00", label=1) +
     end_record())
open("in.hmr", "wb").write(s)
open("more.hmr", "wb").write(image_record("r/1", 1, 1, 1, 0, b"\x07", label=2) +
                             end_record())
np.save("rgb.npy", rgb)
PY

test_expect_success 'stream: --list prints every record (embeddings show their dimension)' '
	hm-pack --list in.hmr >list &&
	printf "%s\n" \
		"p/1	3	image	5x4x3	raw	60" \
		"p/2	3	image	2x1x1	raw	2" \
		"q/1	7	image	24x16x3	jpeg	$(sed -n 3p list | cut -f6)" \
		"e/1	-1	embed	4	f32	16" \
		"t\\tab	1	image	1x1x1	raw	1" >expect &&
	cmp expect list
'

test_expect_success 'stream: --list reads standard input' '
	hm-pack --list in.hmr >a && hm-pack --list <in.hmr >b && hm-pack --list - <in.hmr >c &&
	cmp a b && cmp a c
'

test_expect_success 'stream: packing a stream copies it record for record' '
	hm-pack -o out.hmr in.hmr &&
	cmp in.hmr out.hmr && test -s out.hmi
'

test_expect_success 'stream: -o from standard input gives the same pack and index' '
	hm-pack -o out.hmr in.hmr &&
	hm-pack -o pipe.hmr - <in.hmr && cmp out.hmr pipe.hmr && cmp out.hmi pipe.hmi &&
	cat in.hmr | hm-pack -o pipe2.hmr && cmp out.hmr pipe2.hmr
'

test_expect_success 'stream: concatenated streams are one input' '
	cat in.hmr more.hmr | hm-pack -o cat.hmr - &&
	hm-pack --list cat.hmr >list && test $(wc -l <list) -eq 6
'

test_expect_success 'stream: a key twice (the same stream concatenated) is refused' '
	cat in.hmr in.hmr >twice.hmr &&
	test_fails_cleanly 1 "'"'"'twice.hmr'"'"': record 5: key '"'"'p/1'"'"' appears twice (first at record 0)" \
		hm-pack -o dup.hmr twice.hmr &&
	! test -e dup.hmr && ! test -e dup.hmi
'

test_expect_success 'stream: --encoding raw decodes the JPEG record, keeps the embedding' '
	hm-pack --encoding raw -o raw.hmr in.hmr &&
	hm-pack --list raw.hmr | cut -f1,3-6 >list &&
	printf "%s\n" "p/1	image	5x4x3	raw	60" "p/2	image	2x1x1	raw	2" \
		"q/1	image	24x16x3	raw	1152" "e/1	embed	4	f32	16" \
		"t\\tab	image	1x1x1	raw	1" >expect &&
	cmp expect list
'

test_expect_success 'stream: --encoding jpeg encodes raw records; --gray converts RGB' '
	hm-pack --encoding jpeg -o j.hmr in.hmr &&
	hm-pack --list j.hmr | cut -f5 | sort -u >enc &&
	printf "f32\njpeg\n" >expect && cmp expect enc &&
	hm-pack --gray --encoding raw -o g.hmr in.hmr &&
	hm-pack --list g.hmr | cut -f4 >dims &&
	printf "5x4x1\n2x1x1\n24x16x1\n4\n1x1x1\n" >expect && cmp expect dims
'

test_expect_success 'stream: --gray on raw RGB is BT.601 luma (checked with numpy)' '
	hm-pack --gray -o g1.hmr in.hmr &&
	tail -c +$((24 + 3 + 8 + 1)) g1.hmr | head -c 20 >luma &&
	/usr/bin/python3 -c "
import numpy as np, sys
a = np.load(\"rgb.npy\").astype(np.int64)
want = (19595 * a[..., 0] + 38470 * a[..., 1] + 7471 * a[..., 2] + 32768) >> 16
got = np.fromfile(\"luma\", np.uint8).reshape(4, 5)
sys.exit(int(not np.array_equal(got, want)))
"
'

test_expect_success 'stream: --stats counts records, identities and images per identity' '
	hm-pack --stats in.hmr >stats &&
	printf "%s\n" "records 5" "images 4" "embeddings 1" "identities 3" "unlabelled 1" \
		"per_identity_min 1" "per_identity_median 1" "per_identity_max 2" >expect &&
	cmp expect stats
'

test_expect_success 'stream: --list of a bad stream prints nothing and exits 1' '
	head -c 150 in.hmr >cut.hmr &&
	test_fails_cleanly 1 "truncated" hm-pack --list cut.hmr
'

test_expect_success 'stream: -h prints the usage, --version the version' '
	hm-pack -h >help && grep -q "^Usage: hm-pack" help &&
	hm-pack --version >v && grep -q "^hm-pack (hm suite) " v
'

test_done
