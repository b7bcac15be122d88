#!/bin/bash
# hm-plot: the training curves of hm-train runs as one SVG that xmllint and
# python's xml.etree read; every training polyline has one point per row of
# train.csv, through the mapping of hm-plot(1) (so the points are the
# logged values); each panel's range is the data's; val.csv adds a panel
# with a line per run and set; a baseline and its -hm run share a colour,
# the -hm one dashed; --points bins long runs into means.  hm-roc --title
# and the same paired styles on ROC curves.
. "$(dirname "$0")/lib.sh"

NET="-q -j1 -a ir:1,1,1,1:4,8,16,32 --emb-size 16 -b 8 --epochs 3"

# check_svg FILE RUN...: the panels' data against the runs' CSVs.
check_svg() {
	/usr/bin/python3 - "$@" <<-'EOF'
	import csv, math, os, sys
	import xml.etree.ElementTree as ET
	NS = "{http://www.w3.org/2000/svg}"
	svg, runs = sys.argv[1], sys.argv[2:]
	root = ET.parse(svg).getroot()
	assert root.tag == NS + "svg" and root.get("viewBox"), root.attrib
	panels = {g.get("data-name"): g for g in root.iter(NS + "g")
	          if g.get("class") == "panel"}
	def rows(path):
	    with open(path) as f:
	        return list(csv.DictReader(f))
	def mapping(g):
	    x0, y0, w, h, xmin, xmax, ymin, ymax = (float(g.get("data-" + k)) for k in
	        ("x0", "y0", "width", "height", "xmin", "xmax", "ymin", "ymax"))
	    log = g.get("data-ylog") == "1"
	    f = math.log10 if log else (lambda v: v)
	    return lambda x, y: (x0 + w * (x - xmin) / (xmax - xmin),
	                         y0 + h * (f(ymax) - f(y)) / (f(ymax) - f(ymin)))
	data = {os.path.basename(r): rows(os.path.join(r, "train.csv")) for r in runs}
	xmax = max(float(r[-1]["iter"]) for r in data.values())
	for name, col, scale in (("loss", "loss", 1), ("acc", "acc", 100), ("lr", "lr", 1)):
	    g = panels[name]
	    vals = [float(row[col]) * scale for r in data.values() for row in r]
	    assert float(g.get("data-xmin")) == 0 and float(g.get("data-xmax")) == xmax
	    lo, hi = float(g.get("data-ymin")), float(g.get("data-ymax"))
	    assert abs(lo - min(vals)) <= 1e-9 * max(1, abs(lo)), (name, lo, min(vals))
	    assert abs(hi - max(vals)) <= 1e-9 * max(1, abs(hi)), (name, hi, max(vals))
	    m = mapping(g)
	    lines = {l.get("data-label"): l for l in g.iter(NS + "polyline")}
	    assert sorted(lines) == sorted(data), (sorted(lines), sorted(data))
	    for label, r in data.items():
	        pts = [tuple(map(float, p.split(","))) for p in lines[label].get("points").split()]
	        assert len(pts) == len(r), (name, label, len(pts), len(r))
	        for (x, y), row in zip(pts, r):
	            ex, ey = m(float(row["iter"]), float(row[col]) * scale)
	            assert abs(x - ex) <= 6e-4 and abs(y - ey) <= 6e-4, (name, x, y, ex, ey)
	    print(name, "range %g..%g" % (lo, hi), "log" if g.get("data-ylog") == "1" else "")
	styles = {}
	for l in panels["loss"].iter(NS + "polyline"):
	    styles[l.get("data-label")] = (l.get("stroke"), l.get("stroke-dasharray"))
	print(styles)
	open("styles", "w").write(repr(styles))
	EOF
}

test_expect_success 'three runs: a baseline, its -hm run, another loss (poly, clipped)' '
	hm-synth -q --kind casia --identities 8 --images-per-id 10 --size 64x64 \
		--lookalike 0 -o d &&
	hm-align -q --root d --size 16x16 --out-dir al d/landmarks.txt &&
	hm-pack -q -o p.hmr al &&
	hm-train $NET --lr-steps 1,2 -o arcface p.hmr >/dev/null &&
	hm-train $NET --lr-steps 1,2 --hm power:2 -o arcface-hm p.hmr >/dev/null &&
	hm-train $NET --loss cosface --lr 0.0125 --lr-schedule poly --warmup 5 \
		--clip-grad 5 -o cosface p.hmr >/dev/null &&
	test $(wc -l <arcface/train.csv) = 31
'

test_expect_success 'the SVG: valid XML, one point per iteration row, ranges of the data' '
	hm-plot --title "A & B" arcface arcface-hm cosface >plot.svg &&
	xmllint --noout plot.svg &&
	check_svg plot.svg arcface arcface-hm cosface &&
	grep -q "<title>A &amp; B</title>" plot.svg &&
	! grep -q "data-name=\"val\"" plot.svg
'

test_expect_success 'paired styles: -hm dashed in its baseline colour, the other loss its own' '
	/usr/bin/python3 -c "
s = eval(open(\"styles\").read())
assert s[\"arcface\"][0] == s[\"arcface-hm\"][0], s
assert s[\"arcface\"][1] is None and s[\"arcface-hm\"][1], s
assert s[\"cosface\"][0] != s[\"arcface\"][0] and s[\"cosface\"][1] is None, s
"
'

test_expect_success 'the hard-mining loss beside plain ones: a log scale' '
	grep -q "data-name=\"loss\".*data-ylog=\"1\"" plot.svg &&
	hm-plot arcface cosface | grep -q "data-name=\"acc\".*data-ylog=\"0\""
'

test_expect_success 'val.csv: a panel with a line and a marker per epoch for each run and set' '
	printf "epoch,iter,set,accuracy,threshold,auc\n" >arcface/val.csv &&
	for e in 1 2 3; do
		printf "%d,%d,lfw,0.%d,0.3,0.9\n%d,%d,cfp,0.%d,0.2,0.8\n" $e $((e * 10)) \
			$((60 + e)) $e $((e * 10)) $((50 + e)) >>arcface/val.csv
	done &&
	hm-plot -o val.svg arcface cosface &&
	xmllint --noout val.svg &&
	/usr/bin/python3 -c "
import xml.etree.ElementTree as ET
NS = \"{http://www.w3.org/2000/svg}\"
root = ET.parse(\"val.svg\").getroot()
g = [g for g in root.iter(NS + \"g\") if g.get(\"data-name\") == \"val\"][0]
assert float(g.get(\"data-ymin\")) == 51 and float(g.get(\"data-ymax\")) == 63, g.attrib
lines = g.findall(NS + \"polyline\")
assert [(l.get(\"data-label\"), l.get(\"data-set\")) for l in lines] == \
    [(\"arcface\", \"lfw\"), (\"arcface\", \"cfp\")], lines
for l in lines:
    assert len(l.get(\"points\").split()) == 3
assert len(g.findall(NS + \"circle\")) == 3 and len(g.findall(NS + \"rect\")) == 4
" &&
	grep -q ">validation sets<" val.svg
'

test_expect_success '--points 10: 30 rows drawn as 10 means of 3' '
	hm-plot --points 10 arcface >p10.svg &&
	/usr/bin/python3 -c "
import csv, xml.etree.ElementTree as ET
NS = \"{http://www.w3.org/2000/svg}\"
rows = list(csv.DictReader(open(\"arcface/train.csv\")))
g = [g for g in ET.parse(\"p10.svg\").getroot().iter(NS + \"g\")
     if g.get(\"data-name\") == \"loss\"][0]
pts = g.find(NS + \"polyline\").get(\"points\").split()
assert len(pts) == 10, len(pts)
means = [sum(float(r[\"loss\"]) for r in rows[3 * b:3 * b + 3]) / 3 for b in range(10)]
assert abs(float(g.get(\"data-ymax\")) - max(means)) < 1e-9 * max(means)
"
'

test_expect_success 'a train.csv path and --label; the files named in errors' '
	hm-plot --label base arcface/train.csv | grep -q "data-label=\"base\"" &&
	test_fails_cleanly 2 "no run given" hm-plot &&
	test_fails_cleanly 2 "2 labels for 1 runs" hm-plot --label a --label b arcface &&
	test_fails_cleanly 1 "cannot open" hm-plot nothing && grep -q "nothing" .fail.err &&
	mkdir empty && test_fails_cleanly 1 "cannot open" hm-plot empty &&
	grep -q "empty/train.csv" .fail.err &&
	printf "epoch,iter,loss\n" >bad.csv &&
	test_fails_cleanly 1 "no column" hm-plot bad.csv && grep -q "acc" .fail.err &&
	printf "epoch,iter,loss,acc,lr,img_s\n1,1,x,0,0.1,5\n" >bad.csv &&
	test_fails_cleanly 1 "line 2: " hm-plot bad.csv && grep -q "not a number" .fail.err
'

test_expect_success '--help names every option of the man page' '
	hm-plot --help >help.txt && grep -q "^Usage: hm-plot" help.txt &&
	for o in $(grep -o -- "--[a-z][a-z-]*" help.txt | sort -u); do
		opt=$(printf "%s" "${o#--}" | sed "s/-/\\\\\\\\-/g") &&
		grep -q -- "Fl \\\\-$opt" "$TEST_ROOT/man/man1/hm-plot.1" ||
			{ echo "man page lacks $o"; exit 1; }
	done
'

mkscores() {
	/usr/bin/python3 -c '
import sys
import numpy as np
rng = np.random.default_rng(int(sys.argv[2]))
y = np.tile(np.r_[np.ones(30, int), np.zeros(30, int)], 10)
s = np.where(y == 1, rng.normal(float(sys.argv[3]), 0.2, y.size),
             rng.normal(0.0, 0.15, y.size))
with open(sys.argv[1], "w") as f:
    f.write("fold,same,score\n")
    for i, (a, b) in enumerate(zip(y, np.round(s, 3))):
        f.write("%d,%d,%r\n" % (i // 60, a, b))
' "$@"
}

test_expect_success 'hm-roc --title, and a baseline with its -hm run: one colour, -hm dashed' '
	mkscores a.csv 1 0.6 && mkscores b.csv 2 0.5 && mkscores c.csv 3 0.4 &&
	hm-roc --title "LFW <small>" --label lfw-arcface --label lfw-arcface-hm \
		--label lfw-cosface --svg roc.svg a.csv b.csv c.csv >/dev/null &&
	xmllint --noout roc.svg &&
	/usr/bin/python3 -c "
import xml.etree.ElementTree as ET
NS = \"{http://www.w3.org/2000/svg}\"
root = ET.parse(\"roc.svg\").getroot()
assert root.find(NS + \"title\").text == \"LFW <small>\"
assert any(t.get(\"class\") == \"title\" and t.text == \"LFW <small>\"
           for t in root.iter(NS + \"text\"))
l = {p.get(\"data-label\"): p for p in root.iter(NS + \"polyline\")
     if p.get(\"class\") == \"curve\"}
assert l[\"lfw-arcface\"].get(\"stroke\") == l[\"lfw-arcface-hm\"].get(\"stroke\")
assert l[\"lfw-cosface\"].get(\"stroke\") != l[\"lfw-arcface\"].get(\"stroke\")
assert l[\"lfw-arcface\"].get(\"stroke-dasharray\") is None
assert l[\"lfw-arcface-hm\"].get(\"stroke-dasharray\")
assert l[\"lfw-cosface\"].get(\"stroke-dasharray\") is None
" &&
	hm-roc --svg - a.csv | grep -q "<title>ROC</title>"
'

test_done
