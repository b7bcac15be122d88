#!/bin/bash
# hm-synth --pairs-from / --landmarks-from: the real protocol files of
# data/ (heads of them, to stay fast) name exactly what is made.
. "$(dirname "$0")/lib.sh"

# An LFW pairs.txt of one fold: the real file's first 50 matched and first
# 50 mismatched pairs under a "1<TAB>50" header.
{ printf '1\t50\n'; sed -n '2,51p' "$DATA/pairs.txt"; sed -n '302,351p' "$DATA/pairs.txt"; } >pairs50.txt
# A YTF splits.txt of split 1's first 15 same and first 15 different pairs
# (CRLF kept, no header), and the first 200 LFW landmark lines.
{ sed -n '1,15p' "$DATA/splits.txt"; sed -n '251,265p' "$DATA/splits.txt"; } >splits30.txt
head -n 200 "$DATA/lfw_landmark.txt" >lm200.txt

# lfw_images PAIRS: the image paths an LFW pairs.txt references, sorted
lfw_images() {
	awk -F'\t' 'NR > 1 && NF == 3 { printf "%s/%s_%04d.jpg\n%s/%s_%04d.jpg\n", $1, $1, $2, $1, $1, $3 }
		NR > 1 && NF == 4 { printf "%s/%s_%04d.jpg\n%s/%s_%04d.jpg\n", $1, $1, $2, $3, $3, $4 }' "$1" | sort -u
}

test_expect_success '--pairs-from LFW pairs.txt: exactly the referenced images, the list copied' '
	hm-synth --pairs-from pairs50.txt -o lfw -q &&
	lfw_images pairs50.txt >want &&
	(cd lfw && find . -name "*.jpg" | sed "s|^\./||" | sort) >got &&
	cmp want got &&
	grep -q "^Abel_Pacheco/Abel_Pacheco_0004.jpg	" lfw/landmarks.txt &&
	test "$(wc -l <lfw/landmarks.txt)" = "$(wc -l <want)" &&
	cmp pairs50.txt lfw/pairs.txt
'

test_expect_success 'a face depends on its name, not on the other names in the list' '
	{ head -n 11 pairs50.txt | sed "1s/.*/1	10/"; sed -n "52,61p" pairs50.txt; } >pairs10.txt &&
	hm-synth --pairs-from pairs10.txt --lookalike 0 -o lfw10 -q &&
	hm-synth --pairs-from pairs50.txt --lookalike 0 -o lfw50 -q &&
	cmp lfw10/Abel_Pacheco/Abel_Pacheco_0004.jpg lfw50/Abel_Pacheco/Abel_Pacheco_0004.jpg &&
	! cmp -s lfw10/Abel_Pacheco/Abel_Pacheco_0004.jpg lfw10/Abel_Pacheco/Abel_Pacheco_0001.jpg
'

test_expect_success '--pairs-from an arcface list (paths, no folds): those images' '
	head -n 20 "$DATA/lfw_test_pair.txt" >arc.txt &&
	hm-synth --pairs-from arc.txt -o arc -q &&
	awk "{ print \$1; print \$2 }" arc.txt | sort -u >want &&
	(cd arc && find . -name "*.jpg" | sed "s|^\./||" | sort) >got &&
	cmp want got &&
	cmp arc.txt arc/lfw_test_pair.txt
'

test_expect_success 'a generated pairs.txt reads back: --pairs-from it makes the same images' '
	hm-synth --kind lfw --identities 30 --images-per-id 3 --pairs 4 -o gen -q &&
	hm-synth --pairs-from gen/pairs.txt -o regen -q &&
	lfw_images gen/pairs.txt >want &&
	(cd regen && find . -name "*.jpg" | sed "s|^\./||" | sort) >got &&
	cmp want got &&
	while read -r p; do cmp "gen/$p" "regen/$p" || exit 1; done <want
'

test_expect_success '--pairs-from YTF splits.txt: each video gets --frames frames, list copied' '
	hm-synth --pairs-from splits30.txt --frames 2 -o ytf -q &&
	tr -d "\r" <splits30.txt | awk -F", " "{ print \$3; print \$4 }" | sort -u >videos &&
	(cd ytf && find . -mindepth 2 -maxdepth 2 -type d | sed "s|^\./||" | sort) >dirs &&
	cmp videos dirs &&
	test "$(find ytf -name "*.jpg" | wc -l)" = $((2 * $(wc -l <videos))) &&
	test -f "ytf/$(head -n 1 videos)/0002.jpg" &&
	cmp splits30.txt ytf/splits.txt
'

test_expect_success '--kind must agree with the pair list' '
	test_fails_cleanly 2 "is a ytf pair list" hm-synth --kind lfw --pairs-from splits30.txt -o k1 &&
	test_fails_cleanly 2 "is an lfw pair list" hm-synth --kind ytf --pairs-from pairs50.txt -o k2
'

test_expect_success '--landmarks-from: those paths, landmarks equal to the input within 0.5 px' '
	hm-synth --landmarks-from lm200.txt -o lm -q &&
	test "$(find lm -name "*.jpg" | wc -l)" = 200 &&
	cut -f1 lm200.txt >want &&
	cut -f1 lm/landmarks.txt >got &&
	cmp want got &&
	paste lm200.txt lm/landmarks.txt | awk -F"\t" "{ for (i = 2; i <= 11; i++) {
		d = \$i - \$(i + 11); if (d < 0) d = -d; if (d > 0.5) bad = 1 } } END { exit bad }"
'

test_expect_success '--pairs-from with --landmarks-from: the pairs images at the real positions' '
	hm-synth --pairs-from pairs50.txt --landmarks-from "$DATA/lfw_landmark.txt" -o both -q &&
	cmp lfw/pairs.txt both/pairs.txt &&
	grep "^Abel_Pacheco/Abel_Pacheco_0001.jpg" "$DATA/lfw_landmark.txt" >real &&
	grep "^Abel_Pacheco/Abel_Pacheco_0001.jpg" both/landmarks.txt >made &&
	paste real made | awk -F"\t" "{ for (i = 2; i <= 11; i++) { d = \$i - \$(i + 11);
		if (d < 0) d = -d; if (d > 0.5) bad = 1 } } END { exit bad }"
'

test_expect_success 'end to end: hm-align aligns every rendered face, hm-pack packs them' '
	hm-align --root lfw lfw/landmarks.txt >aligned.hmr &&
	hm-pack -o lfw.hmr aligned.hmr &&
	hm-pack --list lfw.hmr >list &&
	test "$(grep -c "Abel_Pacheco/Abel_Pacheco_0004" list)" = 1 &&
	test "$(wc -l <list)" -ge "$(wc -l <lfw/landmarks.txt)"
'

test_expect_success 'bad input files exit 1 with one line naming the file; no landmarks.txt' '
	test_fails_cleanly 1 "nope.txt" hm-synth --pairs-from nope.txt -o b1 &&
	printf "10\t300\nAbel_Pacheco\t1\n" >broken.txt &&
	test_fails_cleanly 1 "broken.txt" hm-synth --pairs-from broken.txt -o b2 &&
	printf "../x/y.jpg\t1\t2\t3\t4\t5\t6\t7\t8\t9\t10\n" >evil.txt &&
	test_fails_cleanly 1 "evil.txt" hm-synth --landmarks-from evil.txt -o b3 &&
	test ! -e b1/landmarks.txt && test ! -e b2/landmarks.txt && test ! -e b3/landmarks.txt
'

test_done
