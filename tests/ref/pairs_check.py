#!/usr/bin/python3
"""pairs_load() against an independent Python parse of the real protocol files.

tests/ref/pairs-driver prints every pair as the C code reads it (fold, same,
keys, line); this script parses LFW pairs.txt, YTF splits.txt and arcface
lfw_test_pair.txt itself, following hm-pairs(5), and compares pair by pair.
It also runs the LFW-to-CSV awk conversion shown in hm-pairs(5) and checks
that the CSV reads back as the same pairs, and that a truncated pairs.txt
fails cleanly.  The protocol files are the repository's data/.
"""
import os
import subprocess
import sys
import tempfile

import hmtest
from hmtest import DATA, ok

DRIVER = os.path.join(hmtest.DRIVERS, "pairs-driver")


def driver(path, fmt=None):
    """(rc, header, pairs, stderr); pairs are (fold, same, a, b, line)."""
    args = [DRIVER, path] + ([fmt] if fmt else [])
    p = subprocess.run(args, capture_output=True, text=True)
    lines = p.stdout.splitlines()
    pairs = []
    for ln in lines[1:]:
        f, s, a, b, line = ln.split("\t")
        pairs.append((int(f), int(s), a, b, int(line)))
    return p.returncode, lines[0] if lines else "", pairs, p.stderr, p.stdout


def numbered(text):
    """Non-blank lines with their 1-based numbers; LF or CRLF endings."""
    out = []
    for i, ln in enumerate(text.split("\n"), 1):
        ln = ln.rstrip("\r")
        if ln.strip():
            out.append((i, ln))
    return out


def parse_lfw(text):
    rows = numbered(text)
    folds, half = map(int, rows[0][1].split())
    pairs = []
    for i, (line, ln) in enumerate(rows[1:]):
        t = ln.split()
        fold = i // (2 * half)
        if len(t) == 3:
            a = "%s/%s_%04d" % (t[0], t[0], int(t[1]))
            b = "%s/%s_%04d" % (t[0], t[0], int(t[2]))
            pairs.append((fold, 1, a, b, line))
        else:
            a = "%s/%s_%04d" % (t[0], t[0], int(t[1]))
            b = "%s/%s_%04d" % (t[2], t[2], int(t[3]))
            pairs.append((fold, 0, a, b, line))
    assert len(pairs) == folds * 2 * half
    return folds, pairs


def parse_ytf(text):
    pairs = []
    for line, ln in numbered(text):
        t = [x.strip() for x in ln.split(",")]
        if not t[0].isdigit():
            continue  # header
        pairs.append((int(t[0]) - 1, int(t[4]), t[2], t[3], line))
    return pairs


def parse_arcface(text):
    pairs = []
    for line, ln in numbered(text):
        a, b, s = ln.split()
        pairs.append((-1, int(s), os.path.splitext(a)[0], os.path.splitext(b)[0], line))
    return pairs


def read(name):
    with open(os.path.join(DATA, name), "rb") as f:
        return f.read().decode("utf-8")


def first_diff(x, y):
    for i, (p, q) in enumerate(zip(x, y)):
        if p != q:
            return "pair %d: C %r, python %r" % (i, p, q)
    return "lengths %d vs %d" % (len(x), len(y))


def main():
    ok(os.access(DRIVER, os.X_OK), "driver built (%s)" % DRIVER)

    lfw_text = read("pairs.txt")
    folds, want = parse_lfw(lfw_text)
    rc, head, got, err, _ = driver(os.path.join(DATA, "pairs.txt"))
    ok(rc == 0 and head == "format lfw n_folds 10 n 6000", "LFW: loads, 10 folds, 6000", head + err)
    ok(got == want, "LFW: every pair as parsed in Python", first_diff(got, want))
    lfw_pairs = want

    want = parse_ytf(read("splits.txt"))
    rc, head, got, err, _ = driver(os.path.join(DATA, "splits.txt"))
    ok(rc == 0 and head == "format ytf n_folds 10 n 5000", "YTF: loads, 10 splits, 5000", head + err)
    ok(got == want, "YTF: every pair as parsed in Python", first_diff(got, want))

    want = parse_arcface(read("lfw_test_pair.txt"))
    rc, head, got, err, _ = driver(os.path.join(DATA, "lfw_test_pair.txt"))
    ok(rc == 0 and head == "format arcface n_folds 0 n 6000", "arcface: loads, no folds, 6000",
       head + err)
    ok(got == want, "arcface: every pair as parsed in Python", first_diff(got, want))
    ok(sorted(p[1:4] for p in got) == sorted(p[1:4] for p in lfw_pairs),
       "arcface and LFW lists hold the same pairs")

    with tempfile.TemporaryDirectory() as tmp:
        # The conversion printed in hm-pairs(5) EXAMPLES.
        csv = os.path.join(tmp, "pairs.csv")
        awk = r'''NR == 1 { h = $2; next }
     { f = int((NR - 2) / (2 * h)) }
     NF == 3 { printf "%s/%s_%04d,%s/%s_%04d,1,%d\n", \
               $1, $1, $2, $1, $1, $3, f }
     NF == 4 { printf "%s/%s_%04d,%s/%s_%04d,0,%d\n", \
               $1, $1, $2, $3, $3, $4, f }'''
        with open(csv, "w") as out:
            r = subprocess.run(["awk", awk, os.path.join(DATA, "pairs.txt")], stdout=out)
        rc, head, got, err, _ = driver(csv)
        ok(r.returncode == 0 and rc == 0 and head == "format csv n_folds 10 n 6000",
           "man page awk conversion reads as csv with 10 folds", head + err)
        ok([p[:4] for p in got] == [p[:4] for p in lfw_pairs],
           "and names the LFW pairs with the LFW folds", first_diff(got, lfw_pairs))

        bad = os.path.join(tmp, "short.txt")
        with open(bad, "w") as f:
            f.write(lfw_text.rstrip("\n").rsplit("\n", 1)[0] + "\n")
        rc, head, got, err, out = driver(bad)
        ok(rc == 1 and out == "", "truncated pairs.txt: exit 1, empty stdout", (rc, out[:200]))
        ok("'%s': line 1: header says 10 folds x 2 x 300 = 6000 pairs, the file has 5999" % bad
           in err, "and says why", err)

    return hmtest.done()


if __name__ == "__main__":
    sys.exit(main())
