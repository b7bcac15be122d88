#!/usr/bin/python3
"""Writes the seed corpora fuzz/corpus/NAME/ for the libFuzzer targets
(make fuzz): a few valid files of each format, made with the suite's own
writers (tests/ref/model-driver, hm-pack --index) or with the reference
writers in tests/ref/, and a few edge cases.  Run from the repository root
after make and make tests/ref/model-driver; the output is committed, so this
only needs rerunning when a format changes.

Targets whose parser takes a format argument (lmk, pairs) read it from the
first byte: chr(0) auto, then the formats in the order of the enum."""
import os
import pickle
import struct
import subprocess
import sys

import cv2
import numpy as np

sys.path.insert(0, "tests/ref")
import hmtest  # noqa: E402
from hmm_load import write_hmm  # noqa: E402

DATA = hmtest.DATA  # data/, the protocol files
OUT = "fuzz/corpus"


def put(target, name, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def lines(path, n, start=0):
    with open(path, "rb") as f:
        return b"".join(f.readlines()[start:start + n])


rng = np.random.default_rng(1)
grey = rng.integers(0, 255, (9, 13), dtype=np.uint8)
rgb = rng.integers(0, 255, (10, 7, 3), dtype=np.uint8)
jpg_rgb = cv2.imencode(".jpg", rgb, [cv2.IMWRITE_JPEG_QUALITY, 80])[1].tobytes()
jpg_grey = cv2.imencode(".jpg", grey)[1].tobytes()
jpg_prog = cv2.imencode(".jpg", rgb, [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])[1].tobytes()
png = cv2.imencode(".png", rgb)[1].tobytes()

# img: JPEG (colour, grey, progressive) and PNM (P5, P6, comments, maxval)
put("img", "rgb.jpg", jpg_rgb)
put("img", "grey.jpg", jpg_grey)
put("img", "progressive.jpg", jpg_prog)
put("img", "grey.pgm", b"P5\n13 9\n255\n" + grey.tobytes())
put("img", "rgb.ppm", b"P6\n# a comment\n7 10\n255\n" + rgb[:, :, ::-1].tobytes())
put("img", "maxval15.pgm", b"P5 2 2 15\n" + bytes([0, 5, 10, 15]))
put("img", "one.ppm", b"P6\n1 1\n255\n\x01\x02\x03")

# rec: raw and JPEG images, embeddings, concatenated streams, end only
R, E = hmtest.image_record, hmtest.embedding_record
end = hmtest.end_record()
raw = R("a/a_0001", 13, 9, 1, 0, grey.tobytes(), 3)
jpeg = R("b/b_0001", 7, 10, 3, 1, jpg_rgb, 4)
emb = E("c/c_0001", [0.5, -1.0, 2.0, 0.0], 5)
put("rec", "images.hmr", raw + jpeg + end)
put("rec", "embed.hmr", emb + E("d/d_0001", [1.0], -1) + end)
put("rec", "concat.hmr", raw + end + emb + end)
put("rec", "end-only.hmr", end)
put("rec", "no-end.hmr", emb)

# recidx: the index hm-pack --index writes for images.hmr and embed.hmr
os.makedirs("tests/tmp", exist_ok=True)
for name in ("images", "embed"):
    tmp = "tests/tmp/fz-seed-%s.hmr" % name
    with open(tmp, "wb") as f:
        f.write(open(os.path.join(OUT, "rec", name + ".hmr"), "rb").read())
    subprocess.run(["bin/hm-pack", "--index", tmp], check=True)
    put("recidx", name + ".hmi", open(tmp[:-4] + ".hmi", "rb").read())
    os.remove(tmp)
    os.remove(tmp[:-4] + ".hmi")

# model: tiny models from model-driver (C writer), one from the Python writer
for i, (arch, dims) in enumerate([("ir:1,1:4,8", "1 8 8 4"), ("face:1,1:4,4", "1 8 8 2")]):
    tmp = "tests/tmp/fz-seed-%d.hmm" % i
    subprocess.run(["tests/ref/model-driver", "init", arch, "1", tmp] + dims.split(),
                   check=True, stdout=subprocess.DEVNULL)
    put("model", "model%d.hmm" % i, open(tmp, "rb").read())
    os.remove(tmp)
tmp = "tests/tmp/fz-seed-py.hmm"
write_hmm(tmp, {"epoch": "3", "note": ""},
          {"head/weight": np.arange(6, dtype=np.float32).reshape(2, 3),
           "momentum/x": np.zeros((1, 1, 1, 2), np.float32)})
put("model", "checkpoint-like.hmm", open(tmp, "rb").read())
os.remove(tmp)
write_hmm(tmp, {}, {})
put("model", "empty.hmm", open(tmp, "rb").read())
os.remove(tmp)


# mxrec: dmlc recordio, MXNet image records, insightface record 0
def mx_part(payload, cflag=0, magic=0xced7230a):
    shift = 29 if magic == 0xced7230a else 30
    head = struct.pack("<II", magic, (cflag << shift) | len(payload))
    return head + payload + b"\0" * (-len(payload) % 4)


def mx_image(label, img, idx):
    return struct.pack("<IfQQ", 0, label, idx, 0) + img


rec0 = struct.pack("<IfQQ", 2, 0.0, 0, 0) + struct.pack("<ff", 3, 4)
ident = struct.pack("<IfQQ", 2, 0.0, 3, 0) + struct.pack("<ff", 1, 3)
body = mx_image(0, jpg_grey, 1)
put("mxrec", "insightface.rec",
    mx_part(rec0) + mx_part(body) + mx_part(mx_image(0, png, 2)) + mx_part(ident))
put("mxrec", "old-magic.rec", mx_part(body, magic=0x3ed7230a))
# a record with the magic inside, split by the writer into cflag 1, 2, 3
magic = struct.pack("<I", 0xced7230a)
split = mx_image(1, b"abcd", 5)
put("mxrec", "split.rec", mx_part(split[:24], 1) + mx_part(b"wxyz", 2) +
    mx_part(b"tail", 3) + mx_part(rec0))
put("mxrec", "multilabel.rec", mx_part(struct.pack("<IfQQ", 3, 0.0, 1, 0) +
                                       struct.pack("<fff", 1, 2, 3) + jpg_grey))

# mxidx: MXIndexedRecordIO .idx text
put("mxidx", "train.idx", "0\t0\n1\t56\n2\t1200\n3\t2100\n")
put("mxidx", "dup-crlf.idx", "5\t0\r\n5\t16\r\n-1\t32\r\n7\t48")

# pybin: insightface .bin pickles, protocols 2 to 5
bins = [jpg_grey, png, jpg_rgb, b""]
for proto in (2, 3, 4, 5):
    put("pybin", "p%d.bin" % proto,
        pickle.dumps((bins, [True, False]), protocol=proto))
put("pybin", "bytearray.bin",
    pickle.dumps(([bytearray(b"ab"), b"cd"], [1]), protocol=5))
put("pybin", "empty.bin", pickle.dumps(([], []), protocol=4))

# lmk: first byte = format (0 auto, 1 plain, 2 casia, 3 lst, 4 csv)
plain = lines(DATA + "/lfw_landmark.txt", 3)
put("lmk", "plain-auto", b"\0" + plain)
put("lmk", "plain", b"\1" + plain)
put("lmk", "plain-bom-crlf", b"\0\xef\xbb\xbf" + plain.replace(b"\n", b"\r\n").rstrip())
casia = b"a/001.jpg 0 30.1 51 65.5 51 48 71 33 92 62 92\nb/002.jpg 1 30 51 65 51 48 71 33 92 62 92\n"
put("lmk", "casia", b"\2" + casia)
put("lmk", "casia-auto", b"\0" + casia)
lst = b"\t".join([b"0", b"id0/x.jpg", b"7", b"0", b"0", b"112", b"112"] +
                 [str(v).encode() for v in (38, 73, 56, 41, 70, 51, 51, 71, 92, 92)])
put("lmk", "lst", b"\3" + lst + b"\n")
put("lmk", "lst-auto", b"\0" + lst + b"\n" + lst.replace(b"0\t", b"1\t", 1) + b"\n")
csv = (b"path,label,x1,y1,x2,y2,x3,y3,x4,y4,x5,y5\n"
       b"\"a b/c.jpg\",3,1,2,3,4,5,6,7,8,9,10\nd/e.jpg,4,1e1,2,3,4,5,6,7,8,9,-10\n")
put("lmk", "csv", b"\4" + csv)
put("lmk", "csv-auto", b"\0" + csv.replace(b"path,label", b"IMAGE,class_id"))

# pairs: first byte = format (0 auto, 1 lfw, 2 ytf, 3 arcface, 4 csv)
lfw = (b"1\t2\n" + lines(DATA + "/pairs.txt", 2, 1) + lines(DATA + "/pairs.txt", 2, 301))
put("pairs", "lfw", b"\1" + lfw)
put("pairs", "lfw-auto", b"\0" + lfw)
put("pairs", "lfw-2folds", b"\0" + b"2\t1\n" + lines(DATA + "/pairs.txt", 1, 1) +
    lines(DATA + "/pairs.txt", 1, 301) + lines(DATA + "/pairs.txt", 1, 601) +
    lines(DATA + "/pairs.txt", 1, 901))
ytf = b"split number, pair number, first name, second name, is same\n" + \
    lines(DATA + "/splits.txt", 3)
put("pairs", "ytf", b"\2" + ytf)
put("pairs", "ytf-auto-crlf", b"\0" + ytf.replace(b"\n", b"\r\n"))
arc = lines(DATA + "/lfw_test_pair.txt", 3)
put("pairs", "arcface", b"\3" + arc)
put("pairs", "arcface-auto", b"\0" + arc.rstrip())
put("pairs", "csv", b"\4a,b,same,fold\nx/1,x/2,1,0\n\"y,1\",z/3,0,1\n")
put("pairs", "csv-auto", b"\0x/1,x/2,1\ny/1,z/3,0\n")

# csv: quoting, CRLF, BOM, blanks, empty fields
put("csv", "pack-list.csv", "path,label\na/1.jpg,0\nb/2.jpg,1\n")
put("csv", "quotes.csv", '"a,b","c ""d""",e\n"multi\nline",x, y \n')
put("csv", "bom-crlf.csv", "\ufeffk,v\r\n1,2\r\n\r\n  \r\n3,4")
put("csv", "empty-fields.csv", ",,\n\"\"\n,\"\",x\n")

# scores: what hm-verify writes, with and without keys
put("scores", "scores.csv", "fold,same,score,a,b\n0,1,0.71327519416809082,a/1,a/2\n"
    "-1,0,-0.25,\"b,1\",c\n")
put("scores", "nokeys.csv", "fold,same,score\n1,1,1e-3\n2,0,-1\n")

# embtab: keys, one a line (duplicates, empty, long)
put("embtab", "keys", "a/1\nb/2\na/1\n\nAaron_Eckhart/0/1\nb/2\n" + "k" * 300 + "\n")
put("embtab", "video-keys", "".join("v%d/%d/%d\n" % (i % 3, i % 2, i) for i in range(40)))
