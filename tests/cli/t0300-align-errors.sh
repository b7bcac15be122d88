#!/bin/bash
# hm-align: bad images, bad landmark files, usage errors, closed pipes.
. "$(dirname "$0")/lib.sh"

/usr/bin/python3 - <<'EOF' || exit 1
import os, cv2, numpy as np
rng = np.random.default_rng(9)
os.makedirs("img/a")
for i in range(5):
    im = cv2.resize(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8), (250, 250))
    cv2.imwrite("img/a/%d.jpg" % i, im)
open("img/a/bad.jpg", "w").write("this is not an image\n")
lm = "107 107 147 111 124 143 103 157 139 161"
with open("good.txt", "w") as f:
    for i in range(5): f.write("a/%d.jpg %s\n" % (i, lm))
with open("missing.txt", "w") as f:
    for i in range(5): f.write("a/%d.jpg %s\n" % (i, lm))
    f.write("a/nope.jpg %s\n" % lm)
with open("corrupt.txt", "w") as f:
    for i in range(5): f.write("a/%s.jpg %s\n" % ("bad" if i == 2 else i, lm))
with open("both.txt", "w") as f:
    for n in ["0", "nope", "1", "bad", "2", "3", "4"]: f.write("a/%s.jpg %s\n" % (n, lm))
    f.write("a/4.jpg 5 5 5 5 5 5 5 5 5 5\n")
with open("degenerate.txt", "w") as f:
    f.write("a/0.jpg %s\na/1.jpg 5 5 5 5 5 5 5 5 5 5\n" % lm)
with open("short.txt", "w") as f:
    f.write("a/0.jpg %s\na/1.jpg %s\na/2.jpg 1 2 3 4 5 6 7\n" % (lm, lm))
with open("many.txt", "w") as f:   # ~4.5 MB of raw records: more than is held back
    for i in range(120): f.write("a/%d.jpg %s\n" % (i % 5, lm))
EOF

test_expect_success 'a missing image fails before any output, naming it' '
	test_fails_cleanly 1 "hm-align: '"'"'img/a/nope.jpg'"'"': cannot open: No such file" \
		hm-align --root img missing.txt
'

test_expect_success 'an image that is not one fails, naming it, stdout empty' '
	test_fails_cleanly 1 "'"'"'img/a/bad.jpg'"'"': not a JPEG or PNM" \
		hm-align -j 2 --root img corrupt.txt
'

test_expect_success 'degenerate landmarks fail, naming the image' '
	test_fails_cleanly 1 "'"'"'img/a/1.jpg'"'"': degenerate landmarks" \
		hm-align --root img degenerate.txt
'

test_expect_success '--skip-bad: skips and counts missing, corrupt and degenerate; keeps the rest' '
	hm-align --skip-bad --root img both.txt >out.hmr 2>err &&
	echo "hm-align: skipped 3 of 8 images" >want &&
	cmp err want &&
	hm-align --skip-bad -j 1 --root img both.txt >out1.hmr 2>/dev/null &&
	cmp out.hmr out1.hmr &&
	hm-align --root img good.txt >good.hmr &&
	cmp out.hmr good.hmr
'

test_expect_success '--skip-bad -v names each skipped image' '
	hm-align -v --skip-bad --root img both.txt >/dev/null 2>err &&
	grep -q "skipped '"'"'img/a/nope.jpg'"'"': cannot open" err &&
	grep -q "skipped '"'"'img/a/bad.jpg'"'"': not a JPEG" err &&
	grep -q "skipped '"'"'img/a/4.jpg'"'"': degenerate" err
'

test_expect_success 'a bad landmark line: exit 1, file and line named' '
	test_fails_cleanly 1 "'"'"'short.txt'"'"': line 3: expected 10 landmark numbers, got 7" \
		hm-align --root img short.txt
'

test_expect_success 'a missing landmark file: exit 1' '
	test_fails_cleanly 1 "'"'"'none.txt'"'"': cannot open" hm-align none.txt
'

test_expect_success 'a landmark file in the wrong named format: exit 1' '
	test_fails_cleanly 1 "line 1: expected 10 landmark numbers, got 9" \
		hm-align --format casia --root img good.txt
'

test_expect_success 'usage errors exit 2' '
	test_fails_cleanly 2 "no landmark file" hm-align &&
	test_fails_cleanly 2 "too many arguments" hm-align a b &&
	test_fails_cleanly 2 "--format: '"'"'xml'"'"'" hm-align --format xml good.txt &&
	test_fails_cleanly 2 "--size" hm-align --size 112 good.txt &&
	test_fails_cleanly 2 "--size" hm-align --size 0x112 good.txt &&
	test_fails_cleanly 2 "--size" hm-align --size 112x9000 good.txt &&
	test_fails_cleanly 2 "--quality" hm-align --quality 0 good.txt &&
	test_fails_cleanly 2 "--template" hm-align --template vgg good.txt &&
	test_fails_cleanly 2 "--encoding" hm-align --encoding png good.txt &&
	test_fails_cleanly 2 "--decode: '"'"'fast'"'"'" hm-align --decode fast good.txt &&
	test_fails_cleanly 2 "-j" hm-align -j 0 good.txt &&
	test_fails_cleanly 2 "--encoding raw applies to records" \
		hm-align --encoding raw --out-dir t good.txt &&
	test_expect_code 2 hm-align --no-such-option good.txt 2>/dev/null
'

test_expect_success 'refuses to write records to a terminal' '
	script -qec "hm-align --root img good.txt" /dev/null >tty.out 2>&1
	test $? = 2 &&
	grep -q "refusing to write binary records to a terminal" tty.out
'

test_expect_success 'a reader that closes early stops it quietly (SIGPIPE)' '
	hm-align --root img --encoding raw many.txt 2>err | head -c 1000 >/dev/null
	test "${PIPESTATUS[0]}" = 141 && test ! -s err
'

test_expect_success 'with SIGPIPE ignored, EPIPE also stops it quietly' '
	(trap "" PIPE &&
	 hm-align --root img --encoding raw many.txt 2>err | head -c 1000 >/dev/null
	 test "${PIPESTATUS[0]}" = 141) && test ! -s err
'

test_expect_success '--out-dir: a bad image leaves no temp files' '
	test_fails_cleanly 1 "'"'"'img/a/bad.jpg'"'"'" \
		hm-align --root img --out-dir tree -j 1 corrupt.txt &&
	test -f tree/a/1.jpg &&
	test ! -e tree/a/bad.jpg &&
	test -z "$(find tree -name "*.tmp.*")"
'

test_expect_success '--out-dir that cannot be made: exit 1' '
	echo x >afile &&
	test_fails_cleanly 1 "cannot create directory" \
		hm-align --root img --out-dir afile/sub good.txt
'

test_done
