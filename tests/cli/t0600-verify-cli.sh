#!/bin/bash
# hm-verify: scores CSV from small hand-made lists and streams, every input
# error (exit 1, one line naming the file and key, empty stdout, no output
# file), usage errors (exit 2), --help against the man page.
. "$(dirname "$0")/lib.sh"

# mkemb OUT < lines of "KEY V1 V2 ..." (or "!image KEY", "!end" omitted):
# writes an embedding record stream as hm-records(5) lays it out (with
# tests/ref/hmtest.py).
mkemb() {
	/usr/bin/python3 -c '
import os, sys
sys.path.insert(0, os.path.join(os.environ["TEST_ROOT"], "tests", "ref"))
import hmtest
out = b""
trunc = False
for ln in sys.stdin.read().split("\n"):
    t = ln.split()
    if not t:
        continue
    if t[0] == "!image":
        out += hmtest.image_record(t[1], 1, 1, 1, 0, b"\x80")
    elif t[0] == "!truncate":
        trunc = True
    else:
        out += hmtest.embedding_record(t[0], [float(x) for x in t[1:]])
if not trunc:
    out += hmtest.end_record()
open(sys.argv[1], "wb").write(out)
' "$1"
}

cat >list.csv <<'EOF'
a,b,same,fold
x/x_0001,x/x_0002,1,0
x/x_0001,y/y_0001,0,0
y/y_0001,x/x_0002,0,1
x/x_0002,x/x_0002,1,1
EOF
cat >good.txt <<'EOF'
x/x_0001 1 0
x/x_0002 2 0
y/y_0001 0 -3
z/z_0001 5 5
EOF

test_expect_success 'cosine scores with the list folds, labels and keys' '
	mkemb emb.hmr <good.txt &&
	hm-verify list.csv emb.hmr >out.csv &&
	printf "%s\n" "fold,same,score,a,b" "0,1,1,x/x_0001,x/x_0002" \
		"0,0,0,x/x_0001,y/y_0001" "1,0,0,y/y_0001,x/x_0002" \
		"1,1,1,x/x_0002,x/x_0002" >want.csv &&
	cmp out.csv want.csv
'

test_expect_success 'folds numbered from 1 in the list: kept as written, hm-roc takes them' '
	sed "2,\$ s/,\([01]\)\$/,1\1/" list.csv >list10.csv &&
	hm-verify list10.csv emb.hmr >out10.csv &&
	printf "%s\n" "fold,same,score,a,b" "10,1,1,x/x_0001,x/x_0002" \
		"10,0,0,x/x_0001,y/y_0001" "11,0,0,y/y_0001,x/x_0002" \
		"11,1,1,x/x_0002,x/x_0002" >want.csv &&
	cmp out10.csv want.csv &&
	hm-roc --csv out.csv | cut -d, -f2- >a && hm-roc --csv out10.csv | cut -d, -f2- >b &&
	cmp a b && grep -q "^4,2,2,2," b
'

test_expect_success 'embeddings on stdin; --output writes the same bytes, no temp left' '
	mkemb emb.hmr <good.txt &&
	hm-verify list.csv <emb.hmr >out.csv &&
	hm-verify -o file.csv list.csv emb.hmr >stdout.txt &&
	cmp out.csv file.csv && ! test -s stdout.txt &&
	test "$(ls | grep -c tmp)" = 0
'

test_expect_success 'a list without folds gives fold -1; --format forces the parser' '
	mkemb emb.hmr <good.txt &&
	printf "x/x_0001.jpg y/y_0001.jpg 0\n" >arc.txt &&
	hm-verify --format arcface arc.txt emb.hmr >out.csv &&
	printf "%s\n" "fold,same,score,a,b" "-1,0,0,x/x_0001,y/y_0001" >want.csv &&
	cmp out.csv want.csv
'

test_expect_success '--videos: a key is the normalised mean of its unit frames' '
	printf "%s\n" "v/1/001 3 4" "v/1/002 0 1" "v/10/001 -1 0" "w/0/001 1 0" \
		"w/0/002 0 -7" >frames.txt &&
	mkemb frames.hmr <frames.txt &&
	printf "%s\n" "v/1,w/0,0" >vids.csv &&
	hm-verify --videos vids.csv frames.hmr >out.csv &&
	/usr/bin/python3 -c "
import csv, numpy as np
u = lambda v: np.array(v, float) / np.linalg.norm(v)
a = u(u([3, 4]) + u([0, 1]))
b = u(u([1, 0]) + u([0, -7]))
rows = list(csv.reader(open(\"out.csv\")))
assert rows[1][:2] == [\"-1\", \"0\"] and rows[1][3:] == [\"v/1\", \"w/0\"], rows
assert abs(float(rows[1][2]) - a @ b) < 1e-15, (rows, a @ b)
"
'

test_expect_success 'records no pair uses are read and ignored' '
	{ cat good.txt; echo "q/q_0001 1 1"; } >more.txt &&
	mkemb more.hmr <more.txt && mkemb emb.hmr <good.txt &&
	hm-verify list.csv more.hmr >a.csv && hm-verify list.csv emb.hmr >b.csv &&
	cmp a.csv b.csv
'

test_expect_success 'missing key: exit 1 naming the key and the list line' '
	grep -v y_0001 good.txt >miss.txt && mkemb miss.hmr <miss.txt &&
	test_fails_cleanly 1 "'\''list.csv'\'': line 3: no embedding for '\''y/y_0001'\''" \
		hm-verify list.csv miss.hmr
'

test_expect_success 'duplicate key: exit 1 naming it and both records' '
	{ cat good.txt; echo "z/z_0001 1 2"; } >dup.txt && mkemb dup.hmr <dup.txt &&
	test_fails_cleanly 1 "record 4: key '\''z/z_0001'\'' appears twice (first at record 3)" \
		hm-verify list.csv dup.hmr
'

test_expect_success 'NaN and infinite values: exit 1 naming the record' '
	printf "%s\n" "x/x_0001 1 0" "x/x_0002 nan 1" >nan.txt && mkemb nan.hmr <nan.txt &&
	test_fails_cleanly 1 "'\''nan.hmr'\'': record 1: '\''x/x_0002'\'': value 0 is NaN" \
		hm-verify list.csv nan.hmr &&
	printf "%s\n" "x/x_0001 1 -inf" >inf.txt && mkemb inf.hmr <inf.txt &&
	test_fails_cleanly 1 "record 0: '\''x/x_0001'\'': value 1 is infinite" \
		hm-verify list.csv inf.hmr
'

test_expect_success 'dimension mismatch, image record, zero vector: exit 1' '
	printf "%s\n" "x/x_0001 1 0" "x/x_0002 1 0 0" >dim.txt && mkemb dim.hmr <dim.txt &&
	test_fails_cleanly 1 "record 1: '\''x/x_0002'\'': dimension 3, but the first record has dimension 2" \
		hm-verify list.csv dim.hmr &&
	printf "%s\n" "!image x/x_0001" >img.txt && mkemb img.hmr <img.txt &&
	test_fails_cleanly 1 "'\''x/x_0001'\'': an image record, not an embedding" \
		hm-verify list.csv img.hmr &&
	printf "%s\n" "x/x_0001 0 0" >zero.txt && mkemb zero.hmr <zero.txt &&
	test_fails_cleanly 1 "zero vector" hm-verify list.csv zero.hmr
'

test_expect_success 'a video with no frames, a truncated stream: exit 1' '
	mkemb frames.hmr <frames.txt &&
	printf "%s\n" "v/1,v/2,0" >v2.csv &&
	test_fails_cleanly 1 "video '\''v/2'\'': no records under '\''v/2/'\''" \
		hm-verify --videos v2.csv frames.hmr &&
	{ cat good.txt; echo "!truncate"; } >tr.txt && mkemb tr.hmr <tr.txt &&
	test_fails_cleanly 1 "tr.hmr" hm-verify list.csv tr.hmr
'

test_expect_success 'a failing run leaves no --output file' '
	grep -v y_0001 good.txt >miss.txt && mkemb miss.hmr <miss.txt &&
	test_expect_code 1 hm-verify -o never.csv list.csv miss.hmr 2>err &&
	! test -e never.csv && test "$(ls | grep -c tmp)" = 0
'

test_expect_success 'bad pair list and missing files: exit 1 naming them' '
	mkemb emb.hmr <good.txt &&
	printf "a,b\n" >bad.csv &&
	test_fails_cleanly 1 "bad.csv" hm-verify bad.csv emb.hmr &&
	test_fails_cleanly 1 "nope.hmr" hm-verify list.csv nope.hmr &&
	test_fails_cleanly 1 "nope.csv" hm-verify nope.csv emb.hmr
'

test_expect_success 'usage errors exit 2' '
	test_fails_cleanly 2 "no pair list" hm-verify &&
	test_fails_cleanly 2 "too many" hm-verify a b c &&
	test_fails_cleanly 2 "both be stdin" hm-verify - - &&
	test_fails_cleanly 2 "--format" hm-verify --format xml list.csv &&
	test_fails_cleanly 2 "" hm-verify --bogus list.csv
'

test_expect_success '--help names every option of the man page and --version works' '
	hm-verify --help >help.txt &&
	grep -q "^Usage: hm-verify" help.txt &&
	for o in $(grep -o -- "--[a-z][a-z-]*" help.txt | sort -u); do
		opt=$(printf "%s" "${o#--}" | sed "s/-/\\\\\\\\-/g") &&
		grep -q -- "Fl \\\\-$opt" "$TEST_ROOT/man/man1/hm-verify.1" ||
			{ echo "man page lacks $o"; exit 1; }
	done &&
	hm-verify --version | grep -q "hm suite"
'

test_done
