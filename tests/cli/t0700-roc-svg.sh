#!/bin/bash
# hm-roc --svg: well-formed standalone SVG (python's xml.etree), axis labels,
# a legend naming every curve (labels XML-escaped), and each polyline's
# points equal to the --roc points through the mapping of hm-roc(1).
. "$(dirname "$0")/lib.sh"

mkscores() {
	/usr/bin/python3 -c '
import sys
import numpy as np
rng = np.random.default_rng(int(sys.argv[2]))
y = np.tile(np.r_[np.ones(300, int), np.zeros(300, int)], 10)
s = np.where(y == 1, rng.normal(float(sys.argv[3]), 0.2, y.size),
             rng.normal(0.0, 0.15, y.size))
with open(sys.argv[1], "w") as f:
    f.write("fold,same,score\n")
    for i, (a, b) in enumerate(zip(y, np.round(s, 3))):
        f.write("%d,%d,%r\n" % (i // 600, a, b))
' "$@"
}

test_expect_success 'SVG: well-formed, curves equal the --roc points, legend and axes' '
	mkscores a.csv 1 0.6 && mkscores b.csv 2 0.3 &&
	hm-roc --label "A & <arcface>" --roc roc.csv --svg roc.svg a.csv b.csv >table.txt &&
	/usr/bin/python3 -c "
import csv, math, xml.etree.ElementTree as ET
NS = \"{http://www.w3.org/2000/svg}\"
root = ET.parse(\"roc.svg\").getroot()
assert root.tag == NS + \"svg\" and root.get(\"viewBox\"), root.attrib
texts = [t.text or \"\" for t in root.iter(NS + \"text\")]
assert any(\"false accept rate\" in t for t in texts), texts
assert any(\"true accept rate\" in t for t in texts), texts
assert \"A & <arcface>\" in texts and \"b.csv\" in texts, texts
g = root.find(\".//%sg[@id=\\\"curves\\\"]\" % NS)
x0, y0, w, h, fmin = (float(g.get(k)) for k in
    (\"data-x0\", \"data-y0\", \"data-width\", \"data-height\", \"data-far-min\"))
assert math.log10(fmin) == round(math.log10(fmin)), fmin
pts = {}
for r in list(csv.reader(open(\"roc.csv\")))[1:]:
    pts.setdefault(r[0], []).append((float(r[2]), float(r[3])))
lines = g.findall(NS + \"polyline\")
assert [l.get(\"data-label\") for l in lines] == [\"A & <arcface>\", \"b.csv\"]
assert min(f for p in pts.values() for f, t in p if f > 0) >= fmin
for l in lines:
    assert l.get(\"class\") == \"curve\"
    xy = [tuple(map(float, p.split(\",\"))) for p in l.get(\"points\").split()]
    want = pts[l.get(\"data-label\")]
    assert len(xy) == len(want) > 100, (len(xy), len(want))
    lmin = math.log10(fmin)
    for (x, y), (f, t) in zip(xy, want):
        ex = x0 + w * (math.log10(max(f, fmin)) - lmin) / -lmin
        ey = y0 + h * (1 - t)
        assert abs(x - ex) <= 6e-4 and abs(y - ey) <= 6e-4, (x, y, ex, ey, f, t)
    # and back: the TPR of every point from its y
    assert all(abs((1 - (y - y0) / h) - t) < 1e-5 for (x, y), (f, t) in zip(xy, want))
print(\"checked\", {k: len(v) for k, v in pts.items()})
"
'

test_expect_success 'SVG to stdout alone with --svg -; xmllint agrees it is XML' '
	mkscores a.csv 1 0.6 &&
	hm-roc --svg - a.csv >only.svg &&
	head -n 1 only.svg | grep -q "^<?xml" &&
	tail -n 1 only.svg | grep -q "^</svg>$" &&
	if command -v xmllint >/dev/null; then xmllint --noout only.svg; fi
'

test_done
