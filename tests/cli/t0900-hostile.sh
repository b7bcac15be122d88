#!/bin/bash
# The hostile-input catalogue (tests/hostile/cases.tsv): every tool, fed
# each damaged input that reaches it, exits 1 with exactly one line on
# stderr that names the file and says what is wrong (the row's regex),
# prints nothing on stdout and leaves no file behind: no output, no temp
# file (hm-train's log outdir/train.csv excepted).  Rows with exit 0 are inputs that must work (progressive and grey
# JPEGs, 4:4:4, PGM, the importers' good files).  The inputs are written
# by tests/hostile/gen.py from files the tools make first.
. "$(dirname "$0")/lib.sh"

HM_THREADS=1
CASES=$TEST_ROOT/tests/hostile/cases.tsv
TRAIN="hm-train -q -a ir:1:4 --emb-size 4 -b 4 --iters 1 -o outdir"
# A plain landmark line for an image of 16x16 pixels.
lmk() {
	printf '%s\t4.5\t5.0\t11.5\t5.0\t8.0\t8.5\t5.5\t12.0\t10.5\t12.0\n' "$1"
}

mkdir in && /usr/bin/python3 "$TEST_ROOT/tests/hostile/gen.py" in || exit 1
cd in || exit 1

# check_case NAME FILE EXIT REGEX COMMAND
check_case() {
	local name=$1 file=$2 want=$3 re=$4 cmd=$5 got
	find . -type f | sort >../before
	(eval "$cmd") >../out 2>../err
	got=$?
	# hm-train's log of the iterations it did is no output file: a run
	# that fails on a bad record after starting keeps outdir/train.csv.
	find . -type f ! -path ./outdir/train.csv | sort >../after
	rm -rf outdir out.hmr out.hmi
	if [ "$got" != "$want" ]; then
		echo "$name: expected exit $want, got $got: $cmd"
		cat ../err
		return 1
	fi
	if ! cmp -s ../before ../after; then
		echo "$name: files appeared or vanished:"
		diff ../before ../after
		return 1
	fi
	if [ "$want" = 0 ]; then
		if [ -s ../err ] || ! [ -s ../out ]; then
			echo "$name: expected output and a quiet stderr:"
			cat ../err
			return 1
		fi
		return 0
	fi
	if [ -s ../out ]; then
		echo "$name: stdout not empty"
		return 1
	fi
	if [ "$(wc -l <../err)" != 1 ]; then
		echo "$name: stderr is not one line:"
		cat ../err
		return 1
	fi
	if ! grep -qF -- "'$file'" ../err; then
		echo "$name: the message does not name '$file':"
		cat ../err
		return 1
	fi
	if ! grep -qE -- "^hm-[a-z]+: .*$re" ../err; then
		echo "$name: the message does not match /$re/:"
		cat ../err
		return 1
	fi
}

while IFS=$'\t' read -r name file want re cmd; do
	case $name in '#'* | '') continue ;; esac
	test_expect_success "$name: $cmd" \
		'check_case "$name" "$file" "$want" "$re" "$cmd"'
done <"$CASES"

test_expect_success 'the catalogue has a case for every input file gen.py writes' '
	ls | grep -v -e "^good\.hmr$" -e "^p\.hm[ri]$" -e "^emb-good\.hmr$" \
		-e "^pairs-good\.txt$" -e "^face\.jpg$" -e "^mdl-good\.hmm$" \
		-e "^ckpt-good\.hmm$" -e "^idx-good\.hm[ri]$" -e "\.idx$" -e "\.hmi$" \
		-e "^lmk-good\.txt$" -e "^scores-good\.csv$" -e "^csv-good\.csv$" \
		-e "^csv-few\.csv$" -e "^mx-good\.rec$" -e "^bin-good\.bin$" \
		-e "^tree-ok$" -e "^ok-" >../files &&
	while read -r f; do
		grep -q -- "$f" "$CASES" || { echo "no case uses $f"; exit 1; }
	done <../files
'

test_done
