#!/usr/bin/python3
"""hm-pack's importers against inputs written the way their producers write them.

MXNet RecordIO (.rec/.idx) is written here with the standard library only,
following dmlc-core's RecordIOWriter::WriteRecord (split at every 4-aligned
magic, cflag 1/2/3), mx.recordio.pack (struct 'IfQQ' + float labels) and
MXIndexedRecordIO ("key<TAB>offset" lines), with insightface's header record
0, in both container generations (magic 0xced7230a with 3-bit cflag at bit
29; magic 0x3ed7230a with 2-bit cflag at bit 30).  insightface .bin files are
pickle.dump((bins, issame_list), f, protocol=p) for p = 2..5, plus a
Python-2-style pickle (BINSTRING) built by hand.  The checks read the packs
with an independent reader (hm-records(5)), compare bytes and pixels (OpenCV
decodes the JPEGs), and compare the pair folds with sklearn's KFold.
"""
import os
import pickle
import struct
import sys

import cv2
import numpy as np
from sklearn.model_selection import KFold

import hmtest
from hmtest import ok, read_records as read_hmr

PACK = os.path.join(hmtest.BIN, "hm-pack")
MAGIC = 0xCED7230A
MAGIC_OLD = 0x3ED7230A


def run(*args, **kwargs):
    """(exit status, stdout bytes, stderr text) of hm-pack ARGS."""
    return hmtest.capture([PACK] + list(args), **kwargs)


def pixels(r):
    """A record's image as an HxWxC uint8 array in RGB order."""
    if r.enc == 0:
        return r.pixels()
    return decode(r.payload)


def decode(buf):
    im = cv2.imdecode(np.frombuffer(buf, np.uint8), cv2.IMREAD_UNCHANGED)
    if im.ndim == 2:
        return im[:, :, None]
    return im[:, :, ::-1]


# --- MXNet RecordIO, as dmlc-core and mx.recordio write it ------------------

def write_part(f, magic, cflag, data):
    shift = 29 if magic == MAGIC else 30
    f.write(struct.pack("<II", magic, (cflag << shift) | len(data)) + data)


def write_record(f, buf, magic=MAGIC):
    """dmlc::RecordIOWriter::WriteRecord."""
    mb = struct.pack("<I", magic)
    n = len(buf)
    dptr = 0
    parts = 0
    for i in range(0, n // 4 * 4, 4):
        if buf[i:i + 4] == mb:
            write_part(f, magic, 1 if dptr == 0 else 2, buf[dptr:i])
            dptr = i + 4
            parts += 1
    write_part(f, magic, 3 if dptr else 0, buf[dptr:])
    f.write(b"\0" * ((n + 3) // 4 * 4 - n))
    return parts


def ir_pack(label, payload, id1=0, id2=0):
    """mx.recordio.pack(IRHeader(flag, label, id, id2), payload)."""
    if isinstance(label, (int, float)):
        return struct.pack("IfQQ", 0, label, id1, id2) + payload
    return (struct.pack("IfQQ", len(label), 0.0, id1, id2) +
            struct.pack("%df" % len(label), *label) + payload)


def write_rec(path, records, magic=MAGIC, idx=True, idx_order=None):
    offsets = []
    splits = 0
    with open(path, "wb") as f:
        for r in records:
            offsets.append(f.tell())
            splits += write_record(f, r, magic)
    if idx:
        order = idx_order if idx_order is not None else range(len(records))
        with open(path[:-4] + ".idx", "w") as f:
            for k in order:
                f.write("%d\t%d\n" % (k, offsets[k]))
    return splits


def pnm(arr):
    h, w = arr.shape[:2]
    c = 1 if arr.ndim == 2 else arr.shape[2]
    return b"P%d\n%d %d\n255\n" % (5 if c == 1 else 6, w, h) + arr.tobytes()


def jpeg(arr, quality=95):
    ok_, buf = cv2.imencode(".jpg", arr, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok_
    return buf.tobytes()


def dataset(rng):
    """Images (payload bytes, label, expected RGB pixels or None for JPEG)."""
    mb = struct.pack("<I", MAGIC)
    imgs = []
    for i in range(7):
        label = i % 3
        if i == 2:
            # PNM whose pixel bytes hold the magic twice at 4-aligned record
            # offsets (header 24 + "P6\n4 4\n255\n" 11 bytes: pixel 1 is at 36).
            a = rng.integers(0, 256, (4, 4, 3), dtype=np.uint8)
            flat = bytearray(a.tobytes())
            flat[1:5] = mb
            flat[13:17] = mb
            a = np.frombuffer(bytes(flat), np.uint8).reshape(4, 4, 3)
            imgs.append((pnm(a), label, a))
        elif i == 5:
            a = rng.integers(0, 256, (5, 3), dtype=np.uint8)
            imgs.append((pnm(a), label, a[:, :, None]))
        elif i == 4:
            a = rng.integers(0, 256, (12, 10), dtype=np.uint8)
            imgs.append((jpeg(a), label, None))
        else:
            a = rng.integers(0, 256, (16 + i, 12, 3), dtype=np.uint8)
            imgs.append((jpeg(a), label, None))
    return imgs


def insightface_records(imgs, magic=MAGIC):
    """Record 0 = header [a, b]; images 1..a-1; identity records a..b-1."""
    mbval = magic
    n = len(imgs)
    labels = sorted(set(l for _, l, _ in imgs))
    recs = [ir_pack([float(n + 1), float(n + 1 + len(labels))], b"")]
    for i, (payload, label, _) in enumerate(imgs):
        if i == 3:
            # a label array as some packs carry, and an id equal to the magic
            recs.append(ir_pack([float(label), 7.0], payload, id1=mbval))
        else:
            recs.append(ir_pack(float(label), payload, id1=i + 1))
    start = 1
    for l in labels:
        cnt = sum(1 for _, x, _ in imgs if x == l)
        recs.append(ir_pack([float(start), float(start + cnt)], b""))
        start += cnt
    return recs


def check_pack(path, imgs, keys, what):
    recs = read_hmr(path)
    good = len(recs) == len(imgs)
    diag = ""
    for r, (payload, label, arr), key in zip(recs, imgs, keys):
        if r.key != key or r.label != label:
            good = False
            diag += "%s %d != %s %d\n" % (r.key, r.label, key, label)
        if arr is None:  # JPEG: stored as the original bytes
            if r.enc != 1 or r.payload != payload:
                good = False
                diag += "%s: JPEG bytes differ\n" % key
            ref = decode(payload)
            if (r.h, r.w, r.c) != ref.shape:
                good = False
                diag += "%s: size %s\n" % (key, (r.h, r.w, r.c))
        elif r.enc != 0 or not np.array_equal(pixels(r), arr):
            good = False
            diag += "%s: PNM pixels differ\n" % key
    ok(good, what, diag)
    return recs


def test_rec(tmp):
    rng = np.random.default_rng(7)
    imgs = dataset(rng)
    keys = ["%d/%d" % (l, i + 1) for i, (_, l, _) in enumerate(imgs)]

    d1 = os.path.join(tmp, "new")
    os.mkdir(d1)
    rec = os.path.join(d1, "train.rec")
    splits = write_rec(rec, insightface_records(imgs))
    ok(splits >= 3, "the test file has split (multi-part) records (%d splits)" % splits)
    out = os.path.join(tmp, "a.hmr")
    rc, so, se = run("-o", out, rec)
    ok(rc == 0 and so == b"" and se == "", "rec with .idx: hm-pack succeeds quietly", se)
    check_pack(out, imgs, keys, "rec with .idx: keys, labels, JPEG bytes, PNM pixels")
    ok(os.path.exists(os.path.join(tmp, "a.hmi")), "rec: index written beside the pack")

    d2 = os.path.join(tmp, "noidx")
    os.mkdir(d2)
    write_rec(os.path.join(d2, "train.rec"), insightface_records(imgs), idx=False)
    rc, _, se = run("-o", os.path.join(tmp, "b.hmr"), os.path.join(d2, "train.rec"))
    ok(rc == 0 and open(out, "rb").read() == open(os.path.join(tmp, "b.hmr"), "rb").read(),
       "rec without .idx (read in order) gives the same pack", se)

    with open(os.path.join(d2, "train.rec"), "rb") as f:
        rc, _, se = run("--from", "rec", "-o", os.path.join(tmp, "p.hmr"), "-", stdin=f)
    ok(rc == 0 and open(out, "rb").read() == open(os.path.join(tmp, "p.hmr"), "rb").read(),
       "rec from standard input (--from rec -) gives the same pack", se)

    d3 = os.path.join(tmp, "old")
    os.mkdir(d3)
    splits_old = write_rec(os.path.join(d3, "train.rec"), insightface_records(imgs, MAGIC_OLD),
                           magic=MAGIC_OLD)
    rc, _, se = run("-o", os.path.join(tmp, "c.hmr"), os.path.join(d3, "train.rec"))
    ok(rc == 0 and open(out, "rb").read() == open(os.path.join(tmp, "c.hmr"), "rb").read(),
       "old magic 0x3ed7230a (cflag at bit 30) gives the same pack", se)
    os.remove(os.path.join(d3, "train.idx"))
    rc, _, se = run("-o", os.path.join(tmp, "c2.hmr"), os.path.join(d3, "train.rec"))
    ok(rc == 0 and open(out, "rb").read() == open(os.path.join(tmp, "c2.hmr"), "rb").read(),
       "old magic without .idx gives the same pack", se)

    # Decoded pixels: TurboJPEG against OpenCV on the same JPEG bytes.
    rc, _, se = run("--encoding", "raw", "-o", os.path.join(tmp, "r.hmr"), rec)
    recs = read_hmr(os.path.join(tmp, "r.hmr"))
    worst = 0
    good = rc == 0 and len(recs) == len(imgs)
    for r, (payload, _, arr) in zip(recs, imgs):
        ref = decode(payload) if arr is None else arr
        got = pixels(r)
        good = good and r.enc == 0 and got.shape == ref.shape
        if got.shape == ref.shape:
            worst = max(worst, int(np.abs(got.astype(int) - ref.astype(int)).max()))
    ok(good and worst <= 1, "--encoding raw: pixels match OpenCV's decode (max diff %d)" % worst, se)

    # --shuffle: the same order with or without the index, and a permutation.
    rc1, _, se1 = run("--shuffle", "--seed", "5", "-o", os.path.join(tmp, "s1.hmr"), rec)
    rc2, _, se2 = run("--shuffle", "--seed", "5", "-o", os.path.join(tmp, "s2.hmr"),
                      os.path.join(d2, "train.rec"))
    s1 = read_hmr(os.path.join(tmp, "s1.hmr"))
    ok(rc1 == 0 and rc2 == 0 and
       open(os.path.join(tmp, "s1.hmr"), "rb").read() == open(os.path.join(tmp, "s2.hmr"), "rb").read()
       and sorted(r.key for r in s1) == sorted(keys) and [r.key for r in s1] != keys,
       "rec --shuffle: same order with and without .idx, a permutation", se1 + se2)

    # Record 0 without the insightface header: every record is an image, in
    # the order of the .idx lines (insightface: list(imgrec.keys)).
    d4 = os.path.join(tmp, "plain")
    os.mkdir(d4)
    plain = [ir_pack(float(l), p) for p, l, _ in imgs]
    order = [3, 0, 1, 2, 6, 4, 5]
    write_rec(os.path.join(d4, "x.rec"), plain, idx_order=order)
    rc, _, se = run("-o", os.path.join(tmp, "d.hmr"), os.path.join(d4, "x.rec"))
    check_pack(os.path.join(tmp, "d.hmr"), [imgs[k] for k in order],
               ["%d/%d" % (imgs[k][1], k) for k in order],
               "rec without a header record: every record, in .idx order")

    # Damaged RecordIO files: exit 1, one line naming the record, nothing left.
    def fails(path, msg, what, extra=()):
        o = os.path.join(tmp, "bad.hmr")
        rc, so, se = run(*extra, "-o", o, path)
        left = [f for f in os.listdir(tmp) if f.startswith("bad.")]
        ok(rc == 1 and so == b"" and se.count("\n") == 1 and msg in se and not left,
           what, "rc=%s stderr=%r left=%s" % (rc, se, left))

    raw = bytearray(open(os.path.join(d2, "train.rec"), "rb").read())
    d5 = os.path.join(tmp, "bad")
    os.mkdir(d5)
    b = os.path.join(d5, "t.rec")
    open(b, "wb").write(raw[:len(raw) // 2])
    fails(b, "truncated", "truncated .rec: exit 1, one line, no output")
    bad = bytearray(raw)
    # the third record's magic
    offs = []
    pos = 0
    while pos < len(raw) and len(offs) < 4:
        offs.append(pos)
        pos = raw.index(struct.pack("<I", MAGIC), pos + 4)
    bad[offs[3]:offs[3] + 4] = b"abcd"
    open(b, "wb").write(bad)
    fails(b, "bad magic", "bad magic inside a .rec: exit 1, names the record")
    bad = bytearray(raw)
    struct.pack_into("<I", bad, 4, (0 << 29) | ((1 << 29) - 1))
    open(b, "wb").write(bad)
    fails(b, "record 0", "absurd record length: exit 1")
    bad = bytearray(raw)
    struct.pack_into("<I", bad, 4, 2 << 29)
    open(b, "wb").write(bad)
    fails(b, "continuation", "continuation part without a start: exit 1")
    # header claims more images than the file has
    recs = insightface_records(imgs)
    recs[0] = ir_pack([100.0, 103.0], b"")
    write_rec(b, recs[:5])
    fails(b, "record 0", "header record announcing missing images: exit 1 (with .idx)")
    os.remove(b[:-4] + ".idx")
    fails(b, "record 0", "header record announcing missing images: exit 1 (in order)")
    # an .idx offset that points between records
    write_rec(b, insightface_records(imgs))
    lines = open(b[:-4] + ".idx").read().splitlines()
    k, off = lines[2].split("\t")
    lines[2] = "%s\t%d" % (k, int(off) + 4)
    open(b[:-4] + ".idx", "w").write("\n".join(lines) + "\n")
    fails(b, "record 2", "stale .idx offset: exit 1, names the record")
    open(b[:-4] + ".idx", "w").write("0\t0\nx\t12\n")
    fails(b, "line 2", "malformed .idx line: exit 1, names the line")
    # a PNG payload is refused with a message
    recs = insightface_records(imgs)
    ok_, png = cv2.imencode(".png", np.zeros((4, 4), np.uint8))
    recs[2] = ir_pack(0.0, png.tobytes())
    write_rec(b, recs)
    fails(b, "record 2", "PNG payload: exit 1, names the record")


# --- insightface .bin --------------------------------------------------------

def bin_images(rng, n):
    out = []
    for i in range(n):
        if i % 5 == 4:
            a = rng.integers(0, 256, (9, 7), dtype=np.uint8)
        else:
            a = rng.integers(0, 256, (10, 8, 3), dtype=np.uint8)
        out.append(jpeg(a))
    return out


def py2_pickle(bins, issame):
    """What Python 2's cPickle.dump(..., protocol=2) writes for (list of str, list of bool)."""
    out = bytearray(b"\x80\x02")
    out += b"]q\x00("
    memo = 1
    for b in bins:
        if len(b) < 256:
            out += b"U" + bytes([len(b)]) + b
        else:
            out += b"T" + struct.pack("<i", len(b)) + b
        out += b"q" + bytes([memo])
        memo += 1
    out += b"e]q" + bytes([memo]) + b"("
    memo += 1
    for s in issame:
        out += b"\x88" if s else b"\x89"
    out += b"e\x86q" + bytes([memo]) + b"."
    return bytes(out)


def test_bin(tmp):
    rng = np.random.default_rng(11)
    n_pairs = 13
    bins = bin_images(rng, 2 * n_pairs)
    issame = [bool(x) for x in rng.integers(0, 2, n_pairs)]
    bins[5] = bins[5] + b"\x80\x02"  # trailing bytes after EOI are the file's business
    folds = np.zeros(n_pairs, int)
    for f, (_, test) in enumerate(KFold(n_splits=10, shuffle=False).split(np.arange(n_pairs))):
        folds[test] = f
    expect_pairs = "a,b,same,fold\n" + "".join(
        "bin/%d,bin/%d,%d,%d\n" % (2 * i, 2 * i + 1, int(issame[i]), folds[i]) for i in range(n_pairs))
    first = None
    variants = [("protocol %d" % p, pickle.dumps((bins, issame), protocol=p)) for p in range(2, 6)]
    variants.append(("default protocol", pickle.dumps((bins, issame))))
    big = bins[:]
    big[0] = jpeg(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8))  # > 255 bytes
    variants.append(("Python 2 BINSTRING pickle", py2_pickle(bins, issame)))
    for what, blob in variants:
        path = os.path.join(tmp, "lfw.bin")
        open(path, "wb").write(blob)
        out = os.path.join(tmp, "lfw.hmr")
        rc, so, se = run("-o", out, path)
        recs = read_hmr(out) if rc == 0 else []
        good = (rc == 0 and len(recs) == len(bins) and
                all(r.key == "bin/%d" % i and r.label == -1 and r.payload == bins[i]
                    and (r.h, r.w, r.c) == decode(bins[i]).shape
                    for i, r in enumerate(recs)))
        ok(good, ".bin %s: keys bin/i, label -1, the image bytes" % what, se)
        pairs = open(os.path.join(tmp, "lfw.pairs.csv")).read() if rc == 0 else ""
        ok(pairs == expect_pairs, ".bin %s: pair list with sklearn KFold(10) folds" % what,
           pairs[:300])
        data = open(out, "rb").read() if rc == 0 else None
        if first is None:
            first = data
        else:
            ok(data == first, ".bin %s: same pack as protocol 2" % what)
    # Python 2's BINSTRING for an image over 255 bytes
    open(os.path.join(tmp, "big.bin"), "wb").write(py2_pickle(big, issame))
    rc, _, se = run("-o", os.path.join(tmp, "big.hmr"), os.path.join(tmp, "big.bin"))
    recs = read_hmr(os.path.join(tmp, "big.hmr")) if rc == 0 else []
    ok(rc == 0 and len(recs) == len(big) and recs[0].payload == big[0]
       and len(big[0]) > 255, ".bin with BINSTRING (> 255 bytes): imported", se)

    # --encoding raw: pixels match OpenCV's decode
    rc, _, se = run("--encoding", "raw", "-o", os.path.join(tmp, "raw.hmr"),
                    os.path.join(tmp, "lfw.bin"))
    recs = read_hmr(os.path.join(tmp, "raw.hmr")) if rc == 0 else []
    worst = max((int(np.abs(pixels(r).astype(int) - decode(bins[i]).astype(int)).max())
                 for i, r in enumerate(recs)), default=99)
    ok(rc == 0 and worst <= 1, ".bin --encoding raw: pixels match OpenCV (max diff %d)" % worst, se)

    def refused(blob, msg, what):
        path = os.path.join(tmp, "x.bin")
        open(path, "wb").write(blob)
        o = os.path.join(tmp, "bad.hmr")
        rc, so, se = run("-o", o, path)
        left = [f for f in os.listdir(tmp) if f.startswith("bad.")]
        ok(rc == 1 and so == b"" and se.count("\n") == 1 and msg in se and not left,
           what, "rc=%s stderr=%r left=%s" % (rc, se, left))

    good = pickle.dumps((bins, issame), protocol=4)
    refused(pickle.dumps((bins, issame), protocol=0), "protocol", "protocol 0 pickle refused")
    refused(pickle.dumps((bins, issame), protocol=1), "protocol", "protocol 1 pickle refused")
    refused(pickle.dumps({"bins": bins}, protocol=4), "not supported", "a dict refused")
    refused(pickle.dumps(([b.decode("latin1") for b in bins], issame), protocol=4),
            "not a bytes object", "a list of str refused")
    refused(pickle.dumps((bins, issame[:-1]), protocol=4), "two images per pair",
            "image count not twice the pair count refused")
    refused(pickle.dumps((bins, [np.bool_(x) for x in issame]), protocol=4), "not allowed",
            "numpy booleans (a global) refused")
    refused(good[:len(good) // 2], "truncated", "truncated pickle refused")
    refused(b"\x80\x04\x8e" + struct.pack("<Q", 1 << 62) + b"xx", "truncated",
            "absurd BINBYTES8 length refused")
    refused(b"\x80\x04]r" + struct.pack("<I", 0xFFFFFFF0) + b".", "memo",
            "absurd memo index refused")
    refused(b"\x80\x04h\x05.", "memo", "memo lookup of an unset index refused")
    refused(b"\x80\x04e.", "MARK", "APPENDS without a MARK refused")
    bad = list(bins)
    bad[0] = b""  # protocol 2 writes empty bytes as __builtin__.bytes()
    refused(pickle.dumps((bad, issame), protocol=2), "image 0: empty",
            "an empty image (protocol 2's bytes()) names the image")
    bad = list(bins)
    ok_, png = cv2.imencode(".png", np.zeros((4, 4), np.uint8))
    bad[3] = png.tobytes()
    refused(pickle.dumps((bad, issame), protocol=4), "image 3", "PNG image: names the image")
    # every truncation of a small file fails cleanly (never a crash)
    fake = [b"\xff\xd8\xff\xe0\x80abc", b"\xff\xd8\xff\xe0def"]
    for proto in (2, 4):
        small = pickle.dumps((fake, [True]), protocol=proto)
        codes = set()
        for k in range(len(small)):
            open(os.path.join(tmp, "cut.bin"), "wb").write(small[:k])
            codes.add(run("--from", "bin", "-o", os.path.join(tmp, "cut.hmr"),
                          os.path.join(tmp, "cut.bin"))[0])
        ok(codes == {1}, "every truncation of a protocol-%d .bin exits 1 (%d cuts)"
           % (proto, len(small)), codes)


def main():
    if not os.access(PACK, os.X_OK):
        print("1..1\nnot ok 1 - %s is built" % PACK)
        return 1
    with hmtest.scratch_dir("pack_import.") as tmp:
        test_rec(tmp)
        test_bin(tmp)
    return hmtest.done()


if __name__ == "__main__":
    sys.exit(main())
