#!/bin/bash
# hm-synth: the generated casia, lfw and ytf layouts, sizes, determinism and
# bad arguments.
. "$(dirname "$0")/lib.sh"

# check_images DIR W H: every .jpg under DIR is a WxH colour JPEG; prints the count
check_images() {
	/usr/bin/python3 - "$@" <<'PY'
import sys, os, cv2
root, w, h = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
n = 0
for d, _, files in os.walk(root):
    for f in files:
        if f.endswith(".jpg"):
            b = open(os.path.join(d, f), "rb").read(2)
            im = cv2.imread(os.path.join(d, f))
            assert b == b"\xff\xd8" and im is not None and im.shape == (h, w, 3), f
            n += 1
print(n)
PY
}

test_expect_success 'casia: identity folders, numbered images, landmarks for each' '
	hm-synth --kind casia --identities 3 --images-per-id 4 --seed 5 -o c -q &&
	ls c >dirs &&
	printf "0000000\n0000001\n0000002\nlandmarks.txt\n" >want &&
	cmp dirs want &&
	ls c/0000001 >files &&
	printf "001.jpg\n002.jpg\n003.jpg\n004.jpg\n" >want &&
	cmp files want &&
	test "$(check_images c 250 250)" = 12 &&
	cut -f1 c/landmarks.txt >paths &&
	(cd c && find . -name "*.jpg" | sed "s|^\./||" | sort) >found &&
	cmp paths found &&
	awk -F"\t" "NF != 12 || \$3 !~ /^[0-9]+\.[0-9][0-9]$/ { bad = 1 } END { exit bad }" c/landmarks.txt &&
	cut -f1-2 c/landmarks.txt | sed "s|^0*\([0-9][0-9]*\)/[^\t]*\t|\1 |; s|^ |0 |" >labels &&
	awk "\$1 != \$2 { bad = 1 } END { exit bad }" labels
'

test_expect_success 'casia: the class ids reach the aligned records' '
	hm-align -q --root c c/landmarks.txt >c.hmr &&
	hm-pack --list c.hmr | cut -f1,2 >got &&
	printf "0000000/001\t0\n" >want &&
	head -n 1 got | cmp - want &&
	tail -n 1 got | grep -q "^0000002/004	2\$"
'

test_expect_success 'casia: landmarks in MTCNN order (eyes left to right, nose, mouth below)' '
	awk -F"\t" "!(\$3 < \$5 && \$9 < \$11 && \$8 > \$4 && \$10 > \$8 && \$12 > \$8) { bad = 1 }
		END { exit bad }" c/landmarks.txt
'

test_expect_success 'lfw: Name/Name_0001.jpg and a pairs.txt of 10 folds whose images exist' '
	hm-synth --kind lfw --identities 20 --images-per-id 3 --pairs 5 -o l -q &&
	test "$(check_images l 250 250)" = 60 &&
	test "$(ls -d l/*/ | wc -l)" = 20 &&
	(cd l && ls */*.jpg) | awk -F/ "{ split(\$2, a, \"_0\"); if (a[1] != \$1) bad = 1 } END { exit bad }" &&
	test "$(head -n 1 l/pairs.txt)" = "$(printf "10\t5")" &&
	test "$(wc -l <l/pairs.txt)" = 101 &&
	awk -F"\t" "NR > 1 { m = (NR - 2) % 10 < 5;
		if (m && NF != 3 || !m && NF != 4) bad = 1;
		if (NF == 3) { print \$1 \"/\" \$1 sprintf(\"_%04d.jpg\", \$2); print \$1 \"/\" \$1 sprintf(\"_%04d.jpg\", \$3) }
		else { print \$1 \"/\" \$1 sprintf(\"_%04d.jpg\", \$2); print \$3 \"/\" \$3 sprintf(\"_%04d.jpg\", \$4) } }
		END { exit bad }" l/pairs.txt | sort -u >referenced &&
	(cd l && ls */*.jpg) >all &&
	comm -23 referenced all >missing &&
	test ! -s missing
'

test_expect_success 'ytf: Name/video/frame.jpg and a splits.txt whose videos exist' '
	hm-synth --kind ytf --identities 20 --images-per-id 2 --frames 3 --pairs 2 -o y -q &&
	test "$(check_images y 250 250)" = 120 &&
	test "$(head -n 1 y/splits.txt)" = "split number, pair number, first name, second name, is same" &&
	test "$(wc -l <y/splits.txt)" = 41 &&
	sed 1d y/splits.txt | awk -F", " "{ print \$3; print \$4 }" | sort -u >videos &&
	while read -r v; do test -f "y/$v/0003.jpg" || exit 1; done <videos &&
	sed 1d y/splits.txt | awk -F", " "\$1 != int((NR - 1) / 4) + 1 || \$5 != ((NR - 1) % 4 < 2) { bad = 1 } END { exit bad }"
'

test_expect_success '--size: WxH and N' '
	hm-synth --identities 1 --images-per-id 2 --size 128x96 -o s1 -q &&
	test "$(check_images s1 128 96)" = 2 &&
	hm-synth --identities 1 --images-per-id 1 --size 112 -o s2 -q &&
	test "$(check_images s2 112 112)" = 1
'

test_expect_success 'same seed: byte-identical trees whatever -j; another seed differs' '
	hm-synth --kind lfw --identities 20 --images-per-id 2 --pairs 3 --seed 9 -j 1 -o a -q &&
	hm-synth --kind lfw --identities 20 --images-per-id 2 --pairs 3 --seed 9 -j 2 -o b -q &&
	diff -r a b &&
	(cd a && find . -type f | sort | xargs md5sum) >sum.a &&
	(cd b && find . -type f | sort | xargs md5sum) >sum.b &&
	cmp sum.a sum.b &&
	hm-synth --kind lfw --identities 20 --images-per-id 2 --pairs 3 --seed 10 -o c2 -q &&
	! cmp -s a/pairs.txt c2/pairs.txt &&
	hm-synth --kind casia --identities 2 --images-per-id 2 --seed 1 -o d1 -q &&
	hm-synth --kind casia --identities 2 --images-per-id 2 --seed 2 -o d2 -q &&
	! cmp -s d1/0000000/001.jpg d2/0000000/001.jpg
'

test_expect_success 'difficulty 0: two images of one identity nearly equal, other identities not' '
	hm-synth --identities 2 --images-per-id 2 --difficulty 0 --quality 95 -o z -q &&
	/usr/bin/python3 -c "
import cv2, numpy as np
r = lambda p: cv2.imread(\"z/\" + p).astype(float)[95:175, 85:165]
a, b, c = r(\"0000000/001.jpg\"), r(\"0000000/002.jpg\"), r(\"0000001/001.jpg\")
same, other = np.abs(a - b).mean(), np.abs(a - c).mean()
print(same, other)
assert same < 2 and other > 5 * same
"
'

test_expect_success '--progress writes a progress line to stderr; -q none' '
	hm-synth --identities 1 --images-per-id 3 --progress -o p1 2>err &&
	grep -q "hm-synth: 3/3 images" err &&
	hm-synth --identities 1 --images-per-id 3 -q --progress -o p2 2>err2 &&
	test ! -s err2
'

test_expect_success 'usage errors exit 2 and write nothing' '
	test_fails_cleanly 2 "--kind" hm-synth --kind vgg -o u1 &&
	test_fails_cleanly 2 "--difficulty" hm-synth --difficulty 1.5 -o u1 &&
	test_fails_cleanly 2 "--lookalike" hm-synth --lookalike -0.1 -o u1 &&
	test_fails_cleanly 2 "--size" hm-synth --size 10 -o u1 &&
	test_fails_cleanly 2 "--size" hm-synth --size 100x -o u1 &&
	test_fails_cleanly 2 "--quality" hm-synth --quality 90-80 -o u1 &&
	test_fails_cleanly 2 "--quality" hm-synth --quality 0 -o u1 &&
	test_fails_cleanly 2 "--identities" hm-synth --identities 0 -o u1 &&
	test_fails_cleanly 2 "no output folder" hm-synth --kind casia &&
	test_fails_cleanly 2 "unexpected argument" hm-synth -o u1 extra &&
	test_fails_cleanly 2 "--pairs applies" hm-synth --kind casia --pairs 3 -o u1 &&
	test_fails_cleanly 2 "--frames applies" hm-synth --kind lfw --frames 3 -o u1 &&
	test_fails_cleanly 2 "at least 20 identities" hm-synth --kind lfw --identities 5 -o u1 &&
	test_fails_cleanly 2 "do not go with --pairs-from" \
		hm-synth --pairs-from "$DATA/pairs.txt" --identities 3 -o u1 &&
	test_fails_cleanly 2 "unknown option" hm-synth --no-such-option -o u1 &&
	test ! -e u1
'

test_expect_success '--help and --version exit 0 on stdout' '
	hm-synth --help >help &&
	grep -q "^Usage: hm-synth" help &&
	hm-synth --version >version &&
	grep -q "^hm-synth (hm suite) " version
'

test_expect_success 'an output folder that cannot be made fails with exit 1' '
	touch file &&
	test_fails_cleanly 1 "file/sub" hm-synth --identities 1 --images-per-id 1 -o file/sub
'

test_done
