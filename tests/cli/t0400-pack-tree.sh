#!/bin/bash
# hm-pack from a directory tree: labels in sorted folder order, the label
# map, JPEG bytes copied, PNM pixels stored raw, re-encoding options, and the
# trees it refuses.
. "$(dirname "$0")/lib.sh"

# Folders in byte order: C < a < b < d (d is empty and still gets a label).
mkdir -p tree/b tree/a/sub tree/C tree/d tree/a/.hidden &&
printf 'P6\n2 2\n255\n\001\002\003\004\005\006\007\010\011\012\013\014' >tree/b/b1.ppm &&
printf 'P5\n3 1\n255\nabc' >tree/a/sub/x.pgm &&
printf 'not an image' >tree/a/notes.txt &&
printf 'junk' >tree/a/.hidden/y.jpg &&
printf 'readme' >tree/README &&
/usr/bin/python3 -c '
import cv2, numpy as np
r = np.random.default_rng(3)
cv2.imwrite("tree/a/a1.jpg", r.integers(0, 256, (20, 30, 3), dtype=np.uint8))
cv2.imwrite("tree/C/c1.JPG", r.integers(0, 256, (8, 6), dtype=np.uint8))
' || exit 1

test_expect_success 'tree: labels follow sorted folder order; keys are paths without extension' '
	hm-pack -o out.hmr tree &&
	hm-pack --list out.hmr >list &&
	printf "%s\n" \
		"C/c1	0	image	6x8x1	jpeg	$(wc -c <tree/C/c1.JPG)" \
		"a/a1	1	image	30x20x3	jpeg	$(wc -c <tree/a/a1.jpg)" \
		"a/sub/x	1	image	3x1x1	raw	3" \
		"b/b1	2	image	2x2x3	raw	12" >expect &&
	cmp expect list &&
	test -s out.hmi
'

test_expect_success 'tree: label map beside the pack, every folder in label order' '
	hm-pack -o out.hmr tree &&
	printf "label,name\n0,C\n1,a\n2,b\n3,d\n" >expect &&
	cmp expect out.labels.csv
'

# One-record packs: the payload is the file tail after header, key and image head.
payload() { # payload PACK KEYLEN N
	tail -c +$((24 + $2 + 8 + 1)) "$1" | head -c "$3"
}

test_expect_success 'tree: a JPEG is stored as its original bytes' '
	mkdir -p one/x && cp tree/a/a1.jpg one/x/y.jpg &&
	hm-pack -o one.hmr one &&
	payload one.hmr 3 $(wc -c <one/x/y.jpg) >got &&
	cmp one/x/y.jpg got
'

test_expect_success 'tree: PNM P6 and P5 pixels are stored raw, byte for byte' '
	mkdir -p p6/x p5/x && cp tree/b/b1.ppm p6/x/y.ppm && cp tree/a/sub/x.pgm p5/x/y.pgm &&
	hm-pack -o p6.hmr p6 && hm-pack -o p5.hmr p5 &&
	payload p6.hmr 3 12 >got6 && tail -c 12 tree/b/b1.ppm >want6 && cmp want6 got6 &&
	payload p5.hmr 3 3 >got5 && printf abc >want5 && cmp want5 got5
'

test_expect_success 'tree: --encoding raw decodes JPEGs to the pixels OpenCV decodes' '
	hm-pack --encoding raw -o raw.hmr one &&
	payload raw.hmr 3 1800 >pix &&
	/usr/bin/python3 -c "
import cv2, numpy as np, sys
want = cv2.imread(\"one/x/y.jpg\")[:, :, ::-1]
got = np.fromfile(\"pix\", np.uint8).reshape(want.shape)
sys.exit(int(np.abs(got.astype(int) - want).max() > 1))
"
'

test_expect_success 'tree: --encoding jpeg encodes PNM (quality 95, close to the pixels)' '
	mkdir -p big/x &&
	/usr/bin/python3 -c "
import numpy as np
y, x = np.mgrid[0:32, 0:48]
a = np.stack([x * 5, y * 7, (x + y) * 2], -1).astype(np.uint8)
open(\"big/x/y.ppm\", \"wb\").write(b\"P6\n48 32\n255\n\" + a.tobytes())
np.save(\"big.npy\", a)
" &&
	hm-pack --encoding jpeg -o bj.hmr big &&
	hm-pack --list bj.hmr >list && grep -q "^x/y	0	image	48x32x3	jpeg	" list &&
	n=$(cut -f6 list) && payload bj.hmr 3 $n >y.jpg &&
	/usr/bin/python3 -c "
import cv2, numpy as np, sys
want = np.load(\"big.npy\").astype(int)
got = cv2.imread(\"y.jpg\")[:, :, ::-1].astype(int)
sys.exit(int(np.abs(got - want).mean() > 2))
"
'

test_expect_success 'tree: --quality re-encodes JPEG inputs, --gray stores one channel' '
	hm-pack --quality 30 -o q.hmr one &&
	hm-pack --list q.hmr >list &&
	n=$(cut -f6 list) && test "$n" -lt $(wc -c <one/x/y.jpg) &&
	grep -q "	jpeg	" list &&
	hm-pack --gray -o g.hmr tree &&
	hm-pack --list g.hmr | cut -f4 >dims &&
	printf "6x8x1\n30x20x1\n3x1x1\n2x2x1\n" >expect && cmp expect dims
'

test_expect_success 'tree: -j 1 and -j 2 write the same bytes' '
	hm-pack -j 1 --encoding jpeg --gray -o j1.hmr tree &&
	hm-pack -j 2 --encoding jpeg --gray -o j2.hmr tree &&
	cmp j1.hmr j2.hmr && cmp j1.hmi j2.hmi
'

no_outputs() {
	! ls bad.* 2>/dev/null | grep -q .
}

test_expect_success 'tree: non-JPEG bytes in a .jpg: exit 1, names the file, nothing written' '
	cp -r tree t2 && printf "hello" >t2/b/b2.jpg &&
	test_fails_cleanly 1 "t2/b/b2.jpg" hm-pack -o bad.hmr t2 &&
	no_outputs
'

test_expect_success 'tree: a PNG is refused by name' '
	cp -r tree t3 && printf "\211PNG" >t3/b/b2.png &&
	test_fails_cleanly 1 "t3/b/b2.png" hm-pack -o bad.hmr t3 &&
	no_outputs
'

test_expect_success 'tree: an image outside the identity folders is refused' '
	cp -r tree t4 && cp tree/b/b1.ppm t4/top.ppm &&
	test_fails_cleanly 1 "identity folder" hm-pack -o bad.hmr t4 &&
	no_outputs
'

test_expect_success 'tree: two files with one key are refused' '
	cp -r tree t5 && cp tree/b/b1.ppm t5/b/b1.pgm &&
	test_fails_cleanly 1 "same key" hm-pack -o bad.hmr t5 &&
	no_outputs
'

test_expect_success 'tree: no images at all is an error' '
	mkdir -p empty/a &&
	test_fails_cleanly 1 "no images" hm-pack -o bad.hmr empty &&
	no_outputs
'

test_expect_success 'tree: a failed run leaves an earlier pack untouched' '
	hm-pack -o keep.hmr tree && cp keep.hmr keep.orig && cp keep.hmi keep.iorig &&
	cp -r tree t6 && printf "x" >t6/b/b3.jpg &&
	test_expect_code 1 hm-pack -o keep.hmr t6 2>/dev/null &&
	cmp keep.orig keep.hmr && cmp keep.iorig keep.hmi &&
	! ls keep.hmr.tmp.* 2>/dev/null
'

test_done
