#!/bin/bash
# Alignment without landmarks, for YouTube Faces as published: hm-synth
# --published writes the download's layout (frame_images_DB with
# NAME.labeled_faces.txt face boxes, aligned_images_DB, splits.txt);
# hm-align crops a face box (--format ytf, detected) or the centre of a
# pre-cropped frame (--center-crop), and both land the face where the
# 5-point alignment puts it.
. "$(dirname "$0")/lib.sh"

test_expect_success 'hm-synth --published: the YouTube Faces layout, no landmark file' '
	hm-synth -q --kind ytf --identities 20 --images-per-id 2 --frames 3 --pairs 5 --size 128 \
		--published -o ytf &&
	test -s ytf/splits.txt && test -s ytf/true_landmarks.txt && test ! -e ytf/landmarks.txt &&
	test ! -e ytf/frame_images_DB/landmarks.txt &&
	test $(ls ytf/frame_images_DB/*.labeled_faces.txt | wc -l) = 20 &&
	test $(cat ytf/frame_images_DB/*.labeled_faces.txt | wc -l) = 120 &&
	! grep -v "^[A-Za-z_]*\\\\[01]\\\\000[1-3]\\.jpg,0,[0-9]*,[0-9]*,[0-9]*,[0-9]*,0\\.0,1$" \
		ytf/frame_images_DB/*.labeled_faces.txt &&
	test $(find ytf/frame_images_DB -name "*.jpg" | wc -l) = 120 &&
	test $(find ytf/aligned_images_DB -name "aligned_detect_000[1-3].jpg" | wc -l) = 120
'

test_expect_success '--published is for --kind ytf only' '
	test_fails_cleanly 2 "--published applies to --kind ytf only" hm-synth --published -o x &&
	test ! -e x
'

test_expect_success 'face boxes: --format ytf is detected; keys Name/video/frame' '
	cat ytf/frame_images_DB/*.labeled_faces.txt >boxes.txt &&
	hm-align -q --root ytf/frame_images_DB boxes.txt | hm-pack -q -o box.hmr - &&
	hm-pack --list box.hmr >list &&
	test $(wc -l <list) = 120 &&
	cut -f 1 list | grep -qx "[A-Za-z_]*/[01]/000[1-3]" &&
	! cut -f 1 list | grep -vqx "[A-Za-z_]*/[01]/000[1-3]" &&
	grep -q "	112x112x3	" list
'

cat >diff.py <<'EOF'
import glob, os, sys
import cv2, numpy as np
a_dir, b_dir, prefix = sys.argv[1], sys.argv[2], sys.argv[3]
d = []
for a in sorted(glob.glob(a_dir + "/*/*/*.jpg")):
    rel = os.path.relpath(a, a_dir)
    b = os.path.join(b_dir, os.path.dirname(rel), prefix + os.path.basename(rel))
    x = cv2.imread(a).astype(float)
    y = cv2.imread(b).astype(float)
    d.append(np.abs(x - y).mean())
print("%.2f %.2f %d" % (np.mean(d), np.max(d), len(d)))
EOF

# The mean absolute pixel difference to the 5-point alignment of the same
# frame: a box or centre crop differs by the roll it leaves (and rounding);
# a crop at the wrong scale (a box of 0.2 of the side) by far more.
test_expect_success 'a box crop and a centre crop put the face where the landmarks do' '
	hm-align -q --root ytf/frame_images_DB --out-dir lmk ytf/true_landmarks.txt &&
	hm-align -q --root ytf/frame_images_DB --out-dir box boxes.txt &&
	(cd ytf/aligned_images_DB && find . -name "*.jpg" | LC_ALL=C sort) >paths.txt &&
	hm-align -q --center-crop 0.4545 --root ytf/aligned_images_DB --out-dir ctr - <paths.txt &&
	hm-align -q --center-crop 0.2 --root ytf/aligned_images_DB --out-dir ctr2 - <paths.txt &&
	/usr/bin/python3 diff.py lmk box "" >d.box &&
	/usr/bin/python3 diff.py lmk ctr aligned_detect_ >d.ctr &&
	/usr/bin/python3 diff.py lmk ctr2 aligned_detect_ >d.ctr2 &&
	echo "mean max n: box $(cat d.box); centre $(cat d.ctr); wrong scale $(cat d.ctr2)" &&
	w=$(cut -d" " -f1 d.ctr2) &&
	awk -v w=$w "{ exit !(\$1 < w / 2 && \$3 == 120) }" d.box &&
	awk -v w=$w "{ exit !(\$1 < w / 2 && \$3 == 120) }" d.ctr
'

test_expect_success 'bad face-box lines: exit 1, the file and line named' '
	{ head -n 1 boxes.txt && echo "A\\0\\0001.jpg,0,60,60,40" ; } >short.txt &&
	test_fails_cleanly 1 "short.txt'"'"': line 2: expected the 8 fields of a YouTube Faces labeled_faces.txt line" \
		hm-align -q --root ytf/frame_images_DB short.txt &&
	{ head -n 1 boxes.txt && echo "A\\0\\0001.jpg,0,60,60,0,0,0.0,1" ; } >empty.txt &&
	test_fails_cleanly 1 "empty.txt'"'"': line 2: face box 0x0 is empty" \
		hm-align -q --root ytf/frame_images_DB empty.txt &&
	{ head -n 1 boxes.txt && echo "A\\0\\0001.jpg,0,sixty,60,40,40,0.0,1" ; } >nan.txt &&
	test_fails_cleanly 1 "nan.txt'"'"': line 2: face box value '"'"'sixty'"'"' is not a finite number" \
		hm-align -q --format ytf --root ytf/frame_images_DB nan.txt
'

test_expect_success '--center-crop and --format paths go together (exit 2)' '
	test_fails_cleanly 2 "--center-crop takes a list of image paths" \
		hm-align -q --center-crop 0.5 --format plain paths.txt &&
	test_fails_cleanly 2 "--format paths has no landmarks: give --center-crop F" \
		hm-align -q --format paths paths.txt &&
	test_fails_cleanly 2 "--center-crop" hm-align -q --center-crop 0 paths.txt
'

test_done
