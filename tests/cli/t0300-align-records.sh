#!/bin/bash
# hm-align: records on stdout, the JPEG tree, thread-count independence, options.
. "$(dirname "$0")/lib.sh"

# Five 250x250 JPEG "faces" in an LFW-like tree, one PNM, with landmark files
# in the plain, casia, lst and csv formats.
/usr/bin/python3 - <<'EOF' || exit 1
import os, cv2, numpy as np
rng = np.random.default_rng(5)
pts = [(107,107,147,111,124,143,103,157,139,161), (98,110,146,116,122,138,93,158,138,163),
       (102,120,138,105,120,133,120,161,150,149), (110,105,150,108,130,140,112,160,146,158),
       (100,100,140,100,120,130,105,150,135,150)]
names = ["Ann_A/Ann_A_0001.jpg", "Ann_A/Ann_A_0002.jpg", "Bob_B/Bob_B_0001.jpg",
         "Cy_C/Cy_C_0001.jpg", "Dee_D/Dee_D_0001.ppm"]
os.makedirs("lfw/Ann_A"); os.makedirs("lfw/Bob_B"); os.makedirs("lfw/Cy_C"); os.makedirs("lfw/Dee_D")
for n in names:
    base = rng.integers(0, 256, (10, 10, 3), dtype=np.uint8)
    im = cv2.resize(base, (250, 250), interpolation=cv2.INTER_CUBIC)
    cv2.imwrite("lfw/" + n, im, [cv2.IMWRITE_JPEG_QUALITY, 90])
with open("plain.txt", "w") as f:
    f.write("\n".join(n + "\t" + "\t".join(map(str, p)) for n, p in zip(names, pts)))
with open("casia.txt", "w") as f:
    for i, (n, p) in enumerate(zip(names, pts)):
        f.write("%s %d %s\n" % (n, [0, 0, 1, 2, 3][i], " ".join(map(str, p))))
with open("faces.lst", "w") as f:
    for i, (n, p) in enumerate(zip(names, pts)):
        xs, ys = p[0::2], p[1::2]
        f.write("0\t%s\t%d\t0\t0\t250\t250\t%s\n" % (n, 10 + i, "\t".join(map(str, xs + ys))))
with open("faces.csv", "w") as f:
    f.write("path,label," + ",".join("x%d,y%d" % (k, k) for k in range(1, 6)) + "\n")
    for i, (n, p) in enumerate(zip(names, pts)):
        f.write("%s,%d,%s\n" % (n, 20 + i, ",".join(map(str, p))))
EOF

# Lists records as "key label width height channels encoding payload-bytes"
# (tests/ref/hmtest.py reads the stream: CRCs and the end record checked).
cat >list.py <<'EOF'
import os, sys
sys.path.insert(0, os.path.join(os.environ["TEST_ROOT"], "tests", "ref"))
import hmtest
for r in hmtest.read_records(sys.argv[1]):
    print(r.key, r.label, r.w, r.h, r.c, r.enc, len(r.payload))
EOF

test_expect_success 'records: keys without extension, label -1, 112x112 RGB JPEG' '
	hm-align --root lfw plain.txt >out.hmr &&
	/usr/bin/python3 list.py out.hmr >list &&
	cut -d" " -f1-6 list >got &&
	printf "%s -1 112 112 3 1\n" Ann_A/Ann_A_0001 Ann_A/Ann_A_0002 Bob_B/Bob_B_0001 \
		Cy_C/Cy_C_0001 Dee_D/Dee_D_0001 >want &&
	cmp got want
'

test_expect_success 'the JPEG payloads decode to 112x112' '
	/usr/bin/python3 -c "
import sys, cv2, numpy as np
sys.path.insert(0, \"$TEST_ROOT/tests/ref\")
import hmtest
recs = hmtest.read_records(\"out.hmr\")
for r in recs:
    im = cv2.imdecode(np.frombuffer(r.payload, np.uint8), 1)
    assert im.shape == (112, 112, 3), im.shape
assert len(recs) == 5
"
'

test_expect_success '-j 1 and -j 2 give identical bytes' '
	hm-align -j 1 --root lfw plain.txt >j1.hmr &&
	hm-align -j 2 --root lfw plain.txt >j2.hmr &&
	HM_THREADS=3 hm-align --root lfw plain.txt >j3.hmr &&
	cmp j1.hmr j2.hmr && cmp j1.hmr j3.hmr && cmp j1.hmr out.hmr
'

test_expect_success 'casia, lst and csv labels; same pixels whatever the format' '
	hm-align --root lfw --encoding raw plain.txt >plain.hmr &&
	hm-align --root lfw --encoding raw casia.txt >casia.hmr &&
	hm-align --root lfw --encoding raw --format lst faces.lst >lst.hmr &&
	hm-align --root lfw --encoding raw faces.csv >csv.hmr &&
	/usr/bin/python3 list.py casia.hmr | cut -d" " -f2 | tr "\n" " " >labels &&
	/usr/bin/python3 list.py lst.hmr | cut -d" " -f2 | tr "\n" " " >>labels &&
	/usr/bin/python3 list.py csv.hmr | cut -d" " -f2 | tr "\n" " " >>labels &&
	printf "0 0 1 2 3 10 11 12 13 14 20 21 22 23 24 " >want &&
	cmp labels want &&
	/usr/bin/python3 -c "
import sys
sys.path.insert(0, \"$TEST_ROOT/tests/ref\")
import hmtest
def bodies(f):
    return [(r.key, r.body) for r in hmtest.read_records(f)]
a = bodies(\"plain.hmr\")
assert len(a) == 5
for f in (\"casia.hmr\", \"lst.hmr\", \"csv.hmr\"): assert bodies(f) == a, f
"
'

test_expect_success '--encoding raw: exact payload sizes; --gray, --size, --template' '
	/usr/bin/python3 list.py plain.hmr | cut -d" " -f3-7 | sort -u >got &&
	echo "112 112 3 0 37632" >want && cmp got want &&
	hm-align --root lfw --encoding raw --gray --size 128x128 plain.txt >g.hmr &&
	/usr/bin/python3 list.py g.hmr | cut -d" " -f3-7 | sort -u >got &&
	echo "128 128 1 0 16384" >want && cmp got want &&
	hm-align --root lfw --template sphereface plain.txt >s.hmr &&
	/usr/bin/python3 list.py s.hmr | cut -d" " -f3-6 | sort -u >got &&
	echo "96 112 3 1" >want && cmp got want
'

test_expect_success '--quality changes the JPEG size' '
	hm-align --root lfw --quality 30 plain.txt >q30.hmr &&
	test $(wc -c <q30.hmr) -lt $(wc -c <out.hmr)
'

test_expect_success 'landmarks from stdin, root with a trailing slash' '
	hm-align --root lfw/ - <plain.txt >stdin.hmr &&
	cmp stdin.hmr out.hmr
'

test_expect_success '--out-dir writes the JPEG tree, nothing on stdout' '
	hm-align --root lfw --out-dir tree plain.txt >stdout &&
	test ! -s stdout &&
	(cd tree && find . -type f | sort) >files &&
	printf "./%s.jpg\n" Ann_A/Ann_A_0001 Ann_A/Ann_A_0002 Bob_B/Bob_B_0001 \
		Cy_C/Cy_C_0001 Dee_D/Dee_D_0001 >want &&
	cmp files want &&
	/usr/bin/python3 -c "
import cv2, glob
fs = glob.glob(\"tree/*/*.jpg\"); assert len(fs) == 5
for f in fs: assert cv2.imread(f).shape == (112, 112, 3), f
"
'

test_expect_success '--out-dir tree matches the records'"'"' JPEG payloads' '
	/usr/bin/python3 -c "
import sys
sys.path.insert(0, \"$TEST_ROOT/tests/ref\")
import hmtest
for r in hmtest.read_records(\"out.hmr\"):
    assert open(\"tree/\" + r.key + \".jpg\", \"rb\").read() == r.payload, r.key
"
'

test_expect_success '--gray --out-dir writes grey JPEGs' '
	hm-align --root lfw --out-dir gtree --gray plain.txt &&
	/usr/bin/python3 -c "
import cv2
im = cv2.imread(\"gtree/Bob_B/Bob_B_0001.jpg\", cv2.IMREAD_UNCHANGED)
assert im.shape == (112, 112), im.shape
"
'

test_expect_success '-v reports the settings and the count' '
	hm-align -v --root lfw plain.txt >/dev/null 2>err &&
	grep -q "5 faces (plain format)" err &&
	grep -q "112x112 RGB, JPEG records; " err &&
	grep -q "wrote 5 images" err
'

test_expect_success '--progress draws a progress line; -q silences it' '
	hm-align --progress --root lfw plain.txt >/dev/null 2>err &&
	grep -q "5/5 images" err &&
	hm-align --progress -q --root lfw plain.txt >/dev/null 2>err &&
	test ! -s err
'

test_expect_success '--help and --version' '
	hm-align --help >help &&
	grep -q "^Usage: hm-align \[options\] LANDMARKS" help &&
	grep -q -- "--skip-bad" help &&
	hm-align --version >v && grep -q "^hm-align (hm suite) " v
'

test_done
