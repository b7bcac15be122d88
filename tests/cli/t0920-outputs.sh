#!/bin/bash
# Outputs go where the path already points (hm(7), OUTPUT FILES): for every
# tool and output option, a character device stays that device (a null
# device made here with mknod, never the real /dev; root only), a FIFO's
# reader gets the output, a symbolic link (dangling, then to a file of mode
# 600) stays a link and its target holds the output, and a file of mode 600
# stays 600.  Then the output folders, the descriptors /proc/self/fd/N, a
# full device, hard links and owners.
. "$(dirname "$0")/lib.sh"

HM_THREADS=1
SYNTH="hm-synth -q --kind lfw --identities 20 --pairs 1 --size 32x32"
TRAIN="hm-train -q -j1 -a ir:1,1:8,16 --emb-size 16 -b 8 --epochs 2"
ROOT=$(id -u)
# Device nodes need root, and a system that lets them be made and opened.
NODES=
if mknod probe c 1 3 2>probe.err && : >probe 2>probe.err; then
	NODES=yes
fi
rm -f probe probe.err
NO_NODES="cannot make a device node here (mknod needs root)"

# The case helpers run $CMD (eval'ed) that writes $OUT, and compare with
# $REF (what it writes to a new plain file) by $SAME (default cmp).
same() {
	${SAME:-cmp} "$@"
}

# fresh FILE: FILE gone, its folder there.
fresh() {
	rm -f "$1" && mkdir -p "$(dirname "$1")"
}

# A null device (c 1 3, as /dev/null): written, exit 0, still the device.
as_device() {
	fresh "$OUT" && mknod "$OUT" c 1 3 && eval "$CMD" && test -c "$OUT"
}

# A FIFO with a reader already waiting: it gets the output; still a FIFO.
# (A tool that opened it twice would wait for a second reader: time limits.)
as_fifo() {
	fresh "$OUT" && mkfifo "$OUT" || return 1
	timeout 30 cat "$OUT" >got &
	local reader=$!
	if ! timeout 60 bash -c "$CMD"; then
		kill $reader
		return 1
	fi
	wait $reader && same "$REF" got && test -p "$OUT"
}

# A link dangling to a name to create, then a link to a file of mode 600:
# the link stays, its target holds the output and keeps its mode.
as_link() {
	fresh "$OUT" && rm -f "$OUT.target" && ln -s "$(basename "$OUT").target" "$OUT" &&
	eval "$CMD" && test -L "$OUT" && same "$REF" "$OUT.target" &&
	echo old >"$OUT.target" && chmod 600 "$OUT.target" &&
	eval "$CMD" && test -L "$OUT" && same "$REF" "$OUT.target" &&
	test "$(stat -c %a "$OUT.target")" = 600
}

# A file of mode 600: replaced, still 600.
as_mode600() {
	fresh "$OUT" && echo old >"$OUT" && chmod 600 "$OUT" &&
	eval "$CMD" && same "$REF" "$OUT" && test "$(stat -c %a "$OUT")" = 600
}

# check WHAT: the four cases for the option WHAT ($OUT, $REF, $CMD set);
# $DEV_ALSO, when set, is checked after the device case too.
check() {
	if [ "$NODES" ]; then
		test_expect_success "$1: a character device stays one" \
			'as_device && eval "${DEV_ALSO:-:}"'
	else
		test_skip "$1: a character device stays one" "$NO_NODES"
	fi
	test_expect_success "$1: a FIFO's reader gets the output" as_fifo
	test_expect_success "$1: a link stays, its target is written" as_link
	test_expect_success "$1: a file of mode 600 stays 600" as_mode600
	DEV_ALSO= SAME=
}

# train.csv logs a speed (img/s): the same rows but for that column.
same_rows() {
	cmp <(cut -d, -f1-5 "$1") <(cut -d, -f1-5 "$2")
}

test_expect_success 'data: faces, packs (a stream, a tree, a .bin), a model, scores' '
	hm-synth -q --kind casia --identities 4 --images-per-id 4 --size 64x64 \
		--lookalike 0 -o d &&
	hm-align -q --root d --size 16x16 d/landmarks.txt >faces.hmr &&
	hm-pack -q -o ref.hmr faces.hmr && cp ref.hmr x.hmr &&
	hm-pack -q -o ref-tree.hmr d && test -s ref-tree.labels.csv &&
	/usr/bin/python3 -c "
import glob, pickle
jpgs = [open(f, \"rb\").read() for f in sorted(glob.glob(\"d/*/*.jpg\"))]
pickle.dump((jpgs, [i % 2 == 0 for i in range(len(jpgs) // 2)]), open(\"v.bin\", \"wb\"))
" &&
	hm-pack -q -o ref-bin.hmr v.bin && test -s ref-bin.pairs.csv &&
	$SYNTH -o ref-l && test -s ref-l/pairs.txt &&
	hm-align -q --root ref-l --size 16x16 ref-l/landmarks.txt >lfw.hmr &&
	hm-align -q --root d --size 16x16 --out-dir ref-a d/landmarks.txt &&
	$TRAIN -o ref-t ref.hmr >log &&
	hm-embed -q -m ref-t/model.hmm lfw.hmr >emb.hmr &&
	hm-verify -o ref-scores.csv ref-l/pairs.txt emb.hmr &&
	hm-roc -o ref-table.txt --svg ref.svg --roc ref-roc.csv ref-scores.csv &&
	test -s ref-table.txt && test -s ref.svg && test -s ref-roc.csv &&
	hm-plot -o ref-plot.svg ref-t && test -s ref-plot.svg
'
IMAGE=$(cd ref-l && ls */*.jpg | head -n 1)

OUT=o.hmr REF=ref.hmr CMD="hm-pack -q -o o.hmr faces.hmr"
DEV_ALSO="test ! -e o.hmi"	# no index beside a pack that is a stream
check "hm-pack -o"
OUT=o2.hmi REF=ref.hmi CMD="hm-pack -q -o o2.hmr faces.hmr"
check "hm-pack -o: the index FILE.hmi"
OUT=o3.labels.csv REF=ref-tree.labels.csv CMD="hm-pack -q -o o3.hmr d"
check "hm-pack -o: FILE.labels.csv of a tree"
OUT=o4.pairs.csv REF=ref-bin.pairs.csv CMD="hm-pack -q -o o4.hmr v.bin"
check "hm-pack -o: FILE.pairs.csv of a .bin"
OUT=x.hmi REF=ref.hmi CMD="hm-pack --index x.hmr"
check "hm-pack --index"
OUT=s.csv REF=ref-scores.csv CMD="hm-verify -o s.csv ref-l/pairs.txt emb.hmr"
check "hm-verify -o"
OUT=r.txt REF=ref-table.txt CMD="hm-roc -o r.txt ref-scores.csv"
check "hm-roc -o"
OUT=r.svg REF=ref.svg CMD="hm-roc --svg r.svg ref-scores.csv >table"
check "hm-roc --svg"
OUT=r.csv REF=ref-roc.csv CMD="hm-roc --roc r.csv ref-scores.csv >table"
check "hm-roc --roc"
OUT=pl.svg REF=ref-plot.svg CMD="hm-plot -o pl.svg ref-t"
check "hm-plot -o"
OUT=sy/landmarks.txt REF=ref-l/landmarks.txt CMD="$SYNTH -o sy"
check "hm-synth -o: DIR/landmarks.txt"
OUT=sy/pairs.txt REF=ref-l/pairs.txt CMD="$SYNTH -o sy"
check "hm-synth -o: the pair list"
OUT=sy/$IMAGE REF=ref-l/$IMAGE CMD="$SYNTH -o sy"
check "hm-synth -o: an image"
OUT=al/0000000/001.jpg REF=ref-a/0000000/001.jpg
CMD="hm-align -q --root d --size 16x16 --out-dir al d/landmarks.txt"
check "hm-align --out-dir: an image"
OUT=tr/model.hmm REF=ref-t/model.hmm CMD="$TRAIN -o tr ref.hmr >log"
check "hm-train -o: DIR/model.hmm"
OUT=tr/checkpoint.hmm REF=ref-t/checkpoint.hmm CMD="$TRAIN -o tr ref.hmr >log"
check "hm-train -o: DIR/checkpoint.hmm"
OUT=tr/train.csv REF=ref-t/train.csv CMD="$TRAIN -o tr ref.hmr >log" SAME=same_rows
check "hm-train -o: DIR/train.csv"

# The folder outputs: a device or FIFO there is refused, naming it; a link
# to a folder is written through; the folder's mode stays.
folders() {
	$SYNTH -o "$1" &&
	hm-align -q --root d --size 16x16 --out-dir "$1" d/landmarks.txt &&
	$TRAIN -o "$1" ref.hmr >log
}
refused() {
	for tool in "$SYNTH -o" "hm-align -q --root d --size 16x16 d/landmarks.txt --out-dir" \
		    "$TRAIN ref.hmr -o"; do
		test_fails_cleanly 1 "'$1': cannot create directory: Not a directory" \
			$tool "$1" || return 1
	done
}
if [ "$NODES" ]; then
	test_expect_success 'output folders: a character device is refused and stays' '
		mknod dev c 1 3 && refused dev && test -c dev
	'
else
	test_skip 'output folders: a character device is refused and stays' "$NO_NODES"
fi
test_expect_success 'output folders: a FIFO is refused and stays' '
	mkfifo fifo && refused fifo && test -p fifo
'
test_expect_success 'output folders: a link to a folder is written through, a 700 folder stays 700' '
	mkdir real && chmod 700 real && ln -s real lnk && folders lnk &&
	test -L lnk && test "$(stat -c %a real)" = 700 &&
	cmp ref-l/pairs.txt real/pairs.txt && cmp ref-t/model.hmm real/model.hmm &&
	test -s "real/$IMAGE" && test -s real/0000000/001.jpg
'

test_expect_success '/proc/self/fd/N is the tool'"'"'s descriptor N: appended as >> does' '
	echo before >log3 &&
	hm-roc -o /proc/self/fd/3 ref-scores.csv 3>>log3 &&
	{ echo before && cat ref-table.txt; } | cmp - log3 &&
	hm-verify -o /proc/self/fd/1 ref-l/pairs.txt emb.hmr | cmp - ref-scores.csv
'

if [ "$NODES" ]; then
	test_expect_success 'a full device (c 1 7, as /dev/full): the error, as the shell'"'"'s > gives it' '
		mknod full c 1 7 &&
		test_fails_cleanly 1 "hm-verify: '"'"'full'"'"': write error: No space left on device" \
			hm-verify -o full ref-l/pairs.txt emb.hmr &&
		test_fails_cleanly 1 "hm-pack: '"'"'full'"'"': write error: No space left on device" \
			hm-pack -q -o full faces.hmr &&
		test -c full && test ! -e full.hmi
	'
else
	test_skip 'a full device (c 1 7, as /dev/full)' "$NO_NODES"
fi
if [ "$ROOT" = 0 ]; then
	test_expect_success 'root replacing another user'"'"'s file keeps its owner and mode' '
		hm-verify -o theirs.csv ref-l/pairs.txt emb.hmr &&
		chown 1234:5678 theirs.csv && chmod 640 theirs.csv &&
		hm-roc -o theirs.csv ref-scores.csv &&
		cmp ref-table.txt theirs.csv &&
		test "$(stat -c %u:%g:%a theirs.csv)" = 1234:5678:640
	'
else
	test_skip 'root replacing another user'"'"'s file keeps its owner' "needs root"
fi

test_expect_success 'a hard link keeps the old content: the output is a new file' '
	echo old >one && ln one two &&
	hm-verify -o one ref-l/pairs.txt emb.hmr &&
	cmp ref-scores.csv one && echo old | cmp - two &&
	test "$(stat -c %h one)" = 1
'

test_expect_success 'no temp file left anywhere' '
	test -z "$(find . -name "*.tmp.*")"
'

test_done
