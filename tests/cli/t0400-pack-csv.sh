#!/bin/bash
# hm-pack from a CSV list "path,label": quoting, header, relative paths,
# labels, and the lists it refuses.
. "$(dirname "$0")/lib.sh"

mkdir -p data/img data/other && {
	printf 'P6\n2 1\n255\nabcdef' >"data/img/a,b.ppm" &&
	printf 'P5\n1 2\n255\nxy' >data/img/c.pgm &&
	printf 'P5\n2 1\n255\nzz' >data/other/d.pgm &&
	printf 'P5\n1 1\n255\nq' >data/e.pgm
} || exit 1

test_expect_success 'csv: quoted path with a comma, header row, labels, CRLF' '
	printf "path,label\r\n\"img/a,b.ppm\",4\r\nimg/c.pgm,0\r\n./other/d.pgm,-1\r\ne.pgm\r\n" >data/list.csv &&
	hm-pack -o out.hmr data/list.csv &&
	hm-pack --list out.hmr >list &&
	printf "%s\n" "img/a,b	4	image	2x1x3	raw	6" "img/c	0	image	1x2x1	raw	2" \
		"other/d	-1	image	2x1x1	raw	2" "e	-1	image	1x1x1	raw	1" >expect &&
	cmp expect list && test -s out.hmi && ! test -e out.labels.csv
'

test_expect_success 'csv: rows keep their order; paths are relative to the list' '
	printf "e.pgm,1\nimg/c.pgm,2\n" >data/l2.csv &&
	hm-pack -o l2.hmr data/l2.csv &&
	hm-pack --list l2.hmr | cut -f1,2 >list &&
	printf "e\t1\nimg/c\t2\n" >expect && cmp expect list
'

test_expect_success 'csv: a list without .csv extension with --from csv, and from stdin' '
	cp data/l2.csv data/l2.txt &&
	test_fails_cleanly 1 "--from" hm-pack -o x.hmr data/l2.txt &&
	hm-pack --from csv -o l3.hmr data/l2.txt && cmp l2.hmr l3.hmr &&
	(cd data && hm-pack --from csv -o ../l4.hmr - <l2.csv) && cmp l2.hmr l4.hmr
'

test_expect_success 'csv: an absolute path keeps its key without the leading slash' '
	printf "%s,3\n" "$PWD/data/e.pgm" >abs.csv &&
	hm-pack -o abs.hmr abs.csv &&
	hm-pack --list abs.hmr | cut -f1 >key &&
	echo "${PWD#/}/data/e" >expect && cmp expect key
'

test_expect_success 'csv: a bad label names the line' '
	printf "e.pgm,1\nimg/c.pgm,x\n" >data/bad.csv &&
	test_fails_cleanly 1 "line 2" hm-pack -o bad.hmr data/bad.csv &&
	! test -e bad.hmr
'

test_expect_success 'csv: a label below -1 is refused' '
	printf "e.pgm,-2\n" >data/neg.csv &&
	test_fails_cleanly 1 "line 1" hm-pack -o bad.hmr data/neg.csv && ! test -e bad.hmr
'

test_expect_success 'csv: three fields are refused' '
	printf "e.pgm,1,2\n" >data/three.csv &&
	test_fails_cleanly 1 "line 1" hm-pack -o bad.hmr data/three.csv && ! test -e bad.hmr
'

test_expect_success 'csv: a missing image names the file' '
	printf "e.pgm,1\nnope.jpg,2\n" >data/miss.csv &&
	test_fails_cleanly 1 "nope.jpg" hm-pack -o bad.hmr data/miss.csv && ! test -e bad.hmr
'

test_expect_success 'csv: an unclosed quote is a CSV error' '
	printf "e.pgm,1\n\"img/c.pgm,2\n" >data/q.csv &&
	test_fails_cleanly 1 "q.csv" hm-pack -o bad.hmr data/q.csv && ! test -e bad.hmr
'

test_expect_success 'csv: two rows with one key are refused' '
	printf "e.pgm,1\n./e.pgm,2\n" >data/dup.csv &&
	test_fails_cleanly 1 "lines 1 and 2" hm-pack -o bad.hmr data/dup.csv && ! test -e bad.hmr
'

test_expect_success 'csv: an empty list is refused' '
	printf "path,label\n" >data/empty.csv &&
	test_fails_cleanly 1 "no rows" hm-pack -o bad.hmr data/empty.csv && ! test -e bad.hmr
'

test_done
