#!/usr/bin/python3
"""gen.py DIR: writes the hostile-input catalogue's input files into DIR.

One file per case of cases.tsv (the case's name plus its extension), made
from a few good files that the suite's own tools write here first (a tiny
pack, a tiny model and its checkpoint, embeddings, an LFW pair list), so
the damaged copies stay in step with the writers' formats.  Each damaged
file differs from a good one in exactly the way its name says; CRCs are
recomputed wherever the case is about something other than the CRC, so
the readers get past the checksum to the check under test.

The tools must be on PATH (tests/cli/lib.sh puts bin/ first).  Takes about
a second.  Formats: hm-records(5), hm-model(5), hm-pairs(5).
"""
import os
import pickle
import struct
import subprocess
import sys
import zlib

import cv2
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "ref"))
import hmtest  # noqa: E402

OUT = sys.argv[1]
os.makedirs(OUT, exist_ok=True)
BASE = os.path.join(OUT, ".base")
os.makedirs(BASE, exist_ok=True)


def path(name):
    return os.path.join(OUT, name)


def put(name, data):
    with open(path(name), "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)


def run(*argv, **kw):
    kw.setdefault("stdout", subprocess.DEVNULL)
    subprocess.run(argv, check=True, **kw)


def slurp(p):
    with open(p, "rb") as f:
        return f.read()


# --- good files, written by the tools ------------------------------------------
env = dict(os.environ, HM_THREADS="1")
run("hm-synth", "-q", "--kind", "casia", "--identities", "4", "--images-per-id", "2",
    "--size", "48x48", "--lookalike", "0", "-o", BASE + "/c", env=env)
run("hm-synth", "-q", "--kind", "lfw", "--identities", "20", "--images-per-id", "2",
    "--pairs", "1", "--size", "48x48", "-o", BASE + "/l", env=env)
with open(BASE + "/train.hmr", "wb") as f:
    run("hm-align", "-q", "--root", BASE + "/c", "--size", "16x16",
        BASE + "/c/landmarks.txt", stdout=f, env=env)
run("hm-pack", "-q", "-o", BASE + "/p.hmr", BASE + "/train.hmr", env=env)
run("hm-train", "-j1", "-q", "-a", "ir:1:4", "--emb-size", "4", "-b", "4", "--iters", "1",
    "-o", BASE + "/m", BASE + "/p.hmr", env=env)
with open(BASE + "/lfw.hmr", "wb") as f:
    run("hm-align", "-q", "--root", BASE + "/l", "--size", "16x16",
        BASE + "/l/landmarks.txt", stdout=f, env=env)
with open(BASE + "/emb.hmr", "wb") as f:
    run("hm-embed", "-q", "-m", BASE + "/m/model.hmm", BASE + "/lfw.hmr", stdout=f, env=env)

pack = slurp(BASE + "/p.hmr")
index = slurp(BASE + "/p.hmi")
emb = slurp(BASE + "/emb.hmr")
model = slurp(BASE + "/m/model.hmm")
ckpt = slurp(BASE + "/m/checkpoint.hmm")
pairs = slurp(BASE + "/l/pairs.txt").decode()
recs = hmtest.read_records(pack)
embs = hmtest.read_records(emb)
H = hmtest.HEADER.size


def stream(records, end=True):
    return b"".join(records) + (hmtest.end_record() if end else b"")


def image_rec(r, **kw):
    f = dict(key=r.key, w=r.w, h=r.h, c=r.c, enc=r.enc, data=r.payload, label=r.label)
    f.update(kw)
    return hmtest.image_record(f["key"], f["w"], f["h"], f["c"], f["enc"], f["data"], f["label"])


def emb_rec(r, vec=None, key=None):
    return hmtest.embedding_record(key or r.key, r.vec if vec is None else vec, r.label)


# Record streams: good ones are copied whole; the first record is record 0.
rec0 = image_rec(recs[0])
rec1 = image_rec(recs[1])
good2 = stream([rec0, rec1])
put("good.hmr", good2)
put("rec-empty.hmr", b"")
put("rec-magic.hmr", b"GIF89a" + good2[6:])
bad = bytearray(good2)
bad[4] = 9
put("rec-version.hmr", bytes(bad))
put("rec-trunc-header.hmr", good2[:len(rec0) + 10])
put("rec-trunc-key.hmr", good2[:len(rec0) + H + 3])
put("rec-trunc-body.hmr", good2[:len(rec0) + H + len(recs[1].key) + 20])
put("rec-trunc-end.hmr", stream([rec0, rec1], end=False))
put("rec-trunc-endhalf.hmr", good2[:-10])
bad = bytearray(good2)
bad[len(rec0) + H + len(recs[1].key) + 40] ^= 0x55
put("rec-crc.hmr", bytes(bad))
bad = bytearray(good2)
bad[len(rec0) + 20] ^= 1                     # the stored CRC itself
put("rec-crc-field.hmr", bytes(bad))


def with_header(rec, **fields):
    """REC with header fields replaced (CRC recomputed over the new bytes)."""
    magic, ver, kind, klen, blen, label, crc = hmtest.HEADER.unpack_from(rec)
    v = dict(ver=ver, kind=kind, klen=klen, blen=blen, label=label)
    v.update(fields)
    head = hmtest.HEADER.pack(magic, v["ver"], v["kind"], v["klen"], v["blen"], v["label"], 0)[:20]
    rest = rec[H:]
    return head + struct.pack("<I", zlib.crc32(head + rest)) + rest


put("rec-keylen-huge.hmr", stream([rec0, with_header(rec1, klen=0xffffffff)]))
put("rec-bodylen-huge.hmr", stream([rec0, with_header(rec1, blen=0x7fffffff)]))
put("rec-kind.hmr", stream([rec0, with_header(rec1, kind=7)]))
put("rec-key-nul.hmr", stream([rec0, image_rec(recs[1], key=b"a\0b")]))
put("rec-img-0x0.hmr", stream([rec0, image_rec(recs[1], w=0, h=0)]))
put("rec-img-100000.hmr", stream([rec0, image_rec(recs[1], w=65535, h=65535)]))
put("rec-img-channels.hmr", stream([rec0, image_rec(recs[1], c=4)]))
put("rec-img-encoding.hmr", stream([rec0, image_rec(recs[1], enc=9)]))
put("rec-raw-size.hmr", stream([rec0, image_rec(recs[1], enc=0, data=b"\x80" * 100)]))
# Two identities: hm-train refuses a pack of one before it decodes anything.
put("rec-jpeg-garbage.hmr", stream([rec0, image_rec(recs[1], data=b"\xff\xd8\xff\xe0" + b"\x11" * 300,
                                                    label=recs[0].label + 1)]))
put("rec-jpeg-trunc.hmr", stream([rec0, image_rec(recs[1], data=recs[1].payload[:200])]))
put("rec-jpeg-size.hmr", stream([rec0, image_rec(recs[1], w=20, h=20)]))   # header says 20x20, JPEG is 16x16
put("rec-emb-dim0.hmr", stream([hmtest.record(hmtest.EMBEDDING, "x", struct.pack("<I", 0))]))
put("rec-emb-dimhuge.hmr", stream([hmtest.record(hmtest.EMBEDDING, "x", struct.pack("<I", 0xfffffff0) + b"\0" * 16)]))
put("rec-dupkey.hmr", stream([rec0, image_rec(recs[1], key=recs[0].key)]))
put("pack-nolabel.hmr", stream([rec0, image_rec(recs[1], label=-1)]))
put("pack-emb.hmr", stream([hmtest.embedding_record(e.key, e.vec, 0) for e in embs[:4]]))
put("pack-empty.hmr", stream([]))

# Images inside records, for the tools that decode them.
rng = np.random.default_rng(1)
face16 = cv2.resize(cv2.imread(os.path.join(BASE, "c", sorted(os.listdir(BASE + "/c"))[0],
                                            "001.jpg")), (16, 16))
cv2.imwrite(BASE + "/rgb16.jpg", face16)
from PIL import Image  # noqa: E402
Image.fromarray(face16[:, :, ::-1]).convert("CMYK").save(BASE + "/cmyk16.jpg", quality=90)
cmyk16 = slurp(BASE + "/cmyk16.jpg")
put("rec-jpeg-cmyk.hmr", stream([rec0, image_rec(recs[1], data=cmyk16)]))

# Embedding streams (hm-verify).
put("emb-good.hmr", emb)
nan = np.array(embs[1].vec)
nan[2] = np.nan
inf = np.array(embs[1].vec)
inf[0] = np.inf
zero = np.zeros_like(embs[1].vec)
put("emb-nan.hmr", stream([emb_rec(embs[0]), emb_rec(embs[1], nan)] + [emb_rec(e) for e in embs[2:]]))
put("emb-inf.hmr", stream([emb_rec(embs[0]), emb_rec(embs[1], inf)] + [emb_rec(e) for e in embs[2:]]))
put("emb-zero.hmr", stream([emb_rec(embs[0]), emb_rec(embs[1], zero)] + [emb_rec(e) for e in embs[2:]]))
put("emb-dup.hmr", stream([emb_rec(e) for e in embs] + [emb_rec(embs[3])]))
put("emb-dim.hmr", stream([emb_rec(embs[0]), emb_rec(embs[1], np.ones(7, np.float32))] +
                          [emb_rec(e) for e in embs[2:]]))
put("emb-images.hmr", slurp(BASE + "/lfw.hmr"))
put("emb-trunc.hmr", emb[:len(emb) // 2])
put("emb-empty.hmr", b"")

# Pair lists (hm-verify, hm-synth --pairs-from).
put("pairs-good.txt", pairs)
lines = pairs.splitlines()
put("pairs-empty.txt", b"")
put("pairs-absent.txt", "\n".join(lines[:1] + ["Nobody_Here\t1\t2"] + lines[2:]) + "\n")
put("pairs-absent-num.txt", "\n".join(lines[:1] + [lines[1].split("\t")[0] + "\t1\t9"] + lines[2:]) + "\n")
put("pairs-few.txt", "\n".join(lines[:1] + ["Vesian_Briale\t1"] + lines[2:]) + "\n")
put("pairs-nonnum.txt", "\n".join(lines[:1] + [lines[1].split("\t")[0] + "\tone\t2"] + lines[2:]) + "\n")
put("pairs-count.txt", "\n".join(lines[:-1]) + "\n")
put("pairs-header.txt", "10\tmany\n" + "\n".join(lines[1:]) + "\n")
put("pairs-csv-quote.csv", 'a,b,same\n"%s,%s,1\n' % (embs[0].key, embs[1].key))
put("pairs-csv-same.csv", 'a,b,same\n%s,%s,maybe\n' % (embs[0].key, embs[1].key))
put("pairs-binary.txt", b"\x00\x01\x02\xff\xfe" * 20)

# Landmark lists (hm-align, hm-synth --landmarks-from); images beside them.
lmk = "%s\t" + "\t".join(["4.5", "5.0", "11.5", "5.0", "8.0", "8.5", "5.5", "12.0", "10.5", "12.0"]) + "\n"
cv2.imwrite(path("face.jpg"), face16)
put("lmk-good.txt", lmk % "face.jpg")
put("lmk-empty.txt", b"")
put("lmk-few.txt", "face.jpg\t4.5\t5.0\t11.5\t5.0\t8.0\n")
put("lmk-nonnum.txt", "face.jpg\t4.5\t5.0\televen\t5.0\t8.0\t8.5\t5.5\t12.0\t10.5\t12.0\n")
put("lmk-nan.txt", "face.jpg\t4.5\tnan\t11.5\t5.0\t8.0\t8.5\t5.5\t12.0\t10.5\t12.0\n")
put("lmk-inf.txt", "face.jpg\t4.5\t5.0\t1e999\t5.0\t8.0\t8.5\t5.5\t12.0\t10.5\t12.0\n")
put("lmk-same-point.txt", "face.jpg" + "\t8.0" * 10 + "\n")
put("lmk-absent.txt", lmk % "no-such-face.jpg")
put("lmk-dup.txt", lmk % "face.jpg" + lmk % "face.jpg")
put("lmk-csv-quote.csv", 'path,x1,y1,x2,y2,x3,y3,x4,y4,x5,y5\n"face.jpg,4.5,5,11.5,5,8,8.5,5.5,12,10.5,12\n')
put("lmk-binary.txt", b"\x00\xff\x00\xfe" * 30)
put("lmk-longline.txt", "face.jpg" + "\t1.0" * 100000 + "\n")

# Image files (hm-align through a landmark line, hm-pack through a tree or CSV).
jpg = slurp(path("face.jpg"))
put("img-empty.jpg", b"")
put("img-garbage.jpg", b"\xff\xd8\xff\xe0" + bytes(rng.integers(0, 256, 500, dtype=np.uint8)))
put("img-trunc.jpg", jpg[:len(jpg) // 3])
put("img-text.jpg", "this is not an image\n")
put("img-cmyk.jpg", cmyk16)


def sof_patch(data, precision=None, marker=None, height=None, width=None):
    """DATA with its first SOFn segment changed (precision, marker, size)."""
    b = bytearray(data)
    i = 2
    while i < len(b):
        m = b[i + 1]
        seg = struct.unpack(">H", b[i + 2:i + 4])[0]
        if m in (0xc0, 0xc1, 0xc2):
            if marker is not None:
                b[i + 1] = marker
            if precision is not None:
                b[i + 4] = precision
            if height is not None:
                b[i + 5:i + 7] = struct.pack(">H", height)
            if width is not None:
                b[i + 7:i + 9] = struct.pack(">H", width)
            return bytes(b)
        i += 2 + seg
    raise ValueError("no SOF")


put("img-12bit.jpg", sof_patch(jpg, precision=12, marker=0xc1))
put("img-16bit.jpg", sof_patch(jpg, precision=16, marker=0xc3))
put("img-h0.jpg", sof_patch(jpg, height=0))
put("img-huge.jpg", sof_patch(jpg, height=65000, width=65000))
put("img-pnm-0x0.ppm", b"P6\n0 0\n255\n")
put("img-pnm-100000.ppm", b"P6\n100000 100000\n255\n" + b"\0" * 64)
put("img-pnm-neg.ppm", b"P6\n-16 16\n255\n" + b"\0" * 64)
put("img-pnm-overflow.ppm", b"P6\n99999999999999999999 16\n255\n" + b"\0" * 64)
put("img-pnm-maxval.ppm", b"P6\n16 16\n65535\n" + b"\0" * 1536)
put("img-pnm-trunc.ppm", b"P6\n16 16\n255\n" + b"\0" * 100)
# These must work: progressive, grey, PNM grey, 4:4:4.
cv2.imwrite(path("ok-progressive.jpg"), face16, [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])
cv2.imwrite(path("ok-gray.jpg"), cv2.cvtColor(face16, cv2.COLOR_BGR2GRAY))
cv2.imwrite(path("ok-gray.pgm"), cv2.cvtColor(face16, cv2.COLOR_BGR2GRAY))
Image.fromarray(face16[:, :, ::-1]).save(path("ok-444.jpg"), quality=90, subsampling=0)
Image.fromarray(face16[:, :, ::-1]).convert("L").save(path("ok-gray-progressive.jpg"),
                                                      progressive=True)

# CSV lists for hm-pack --from csv (path,label).
put("csv-good.csv", "path,label\nface.jpg,0\nok-gray.jpg,1\n")
put("csv-quote.csv", 'path,label\n"face.jpg,0\nok-gray.jpg,1\n')
put("csv-label.csv", "path,label\nface.jpg,zero\n")
put("csv-label-huge.csv", "path,label\nface.jpg,99999999999999999999\n")
put("csv-absent.csv", "path,label\nface.jpg,0\nnobody.jpg,1\n")
put("csv-cmyk.csv", "path,label\nimg-cmyk.jpg,0\n")
put("csv-dup.csv", "path,label\nface.jpg,0\nface.jpg,1\n")
put("csv-empty.csv", b"")

# Scores (hm-roc).
put("scores-good.csv", "fold,same,score,a,b\n0,1,0.9,x,y\n0,0,0.1,x,z\n1,1,0.8,p,q\n1,0,0.2,p,r\n")
put("scores-empty.csv", b"")
put("scores-header.csv", "a,b,c\n0,1,0.9,x,y\n")
put("scores-quote.csv", 'fold,same,score,a,b\n0,1,0.9,"x,y\n0,0,0.1,x,z\n')
put("scores-nan.csv", "fold,same,score,a,b\n0,1,nan,x,y\n0,0,0.1,x,z\n")
put("scores-same.csv", "fold,same,score,a,b\n0,2,0.9,x,y\n0,0,0.1,x,z\n")
put("scores-fold.csv", "fold,same,score,a,b\n-1,1,0.9,x,y\n0,0,0.1,x,z\n")
put("scores-few.csv", "fold,same,score,a,b\n0,1\n")
put("scores-oneclass.csv", "fold,same,score,a,b\n0,1,0.9,x,y\n0,1,0.1,x,z\n")


# --- model files ---------------------------------------------------------------
def parse_model(data):
    """(version, kv list, tensors list of (name, shape, float32 array))."""
    magic, ver, nkv, nt = struct.unpack_from("<4sIII", data)
    pos, kv = 16, []
    for _ in range(nkv):
        kl, = struct.unpack_from("<I", data, pos)
        k = data[pos + 4:pos + 4 + kl]
        pos += 4 + kl
        vl, = struct.unpack_from("<I", data, pos)
        v = data[pos + 4:pos + 4 + vl]
        pos += 4 + vl
        kv.append((k, v))
    pos += 4
    ts = []
    for _ in range(nt):
        nl, = struct.unpack_from("<I", data, pos)
        name = data[pos + 4:pos + 4 + nl]
        pos += 4 + nl
        nd, = struct.unpack_from("<I", data, pos)
        shape = struct.unpack_from("<%dQ" % nd, data, pos + 4)
        pos += 4 + 8 * nd
        cnt = int(np.prod(shape))
        arr = np.frombuffer(data, "<f4", cnt, pos).copy()
        pos += 4 * cnt + 4
        ts.append([name, list(shape), arr])
    assert data[pos:] == b"END\x1a", "model layout changed: update gen.py"
    return ver, kv, ts


def model_bytes(ver, kv, ts, raw_shape=None):
    out = bytearray(struct.pack("<4sIII", b"HMM\x1a", ver, len(kv), len(ts)))
    for k, v in kv:
        out += struct.pack("<I", len(k)) + k + struct.pack("<I", len(v)) + v
    out += struct.pack("<I", zlib.crc32(out))
    offsets = []
    for name, shape, arr in ts:
        start = len(out)
        offsets.append(start)
        e = struct.pack("<I", len(name)) + name + struct.pack("<I", len(shape))
        e += struct.pack("<%dQ" % len(shape), *shape) + arr.astype("<f4").tobytes()
        out += e + struct.pack("<I", zlib.crc32(e))
    out += b"END\x1a"
    return bytes(out), offsets


ver, kv, ts = parse_model(model)
mb, offs = model_bytes(ver, kv, ts)
assert mb == model, "model writer changed: update gen.py"
kv_end = 16 + sum(8 + len(k) + len(v) for k, v in kv)   # where the header CRC starts
put("mdl-good.hmm", model)
put("mdl-empty.hmm", b"")
put("mdl-magic.hmm", b"PK\x03\x04" + model[4:])
put("mdl-version.hmm", model_bytes(7, kv, ts)[0])
put("mdl-trunc-header.hmm", model[:10])
put("mdl-trunc-kv.hmm", model[:kv_end - 3])
put("mdl-trunc-crc.hmm", model[:kv_end + 2])
put("mdl-trunc-table.hmm", model[:offs[1] + 6])
put("mdl-trunc-data.hmm", model[:offs[1] + 40])
put("mdl-trunc-tcrc.hmm", model[:offs[2] - 2])
put("mdl-trunc-end.hmm", model[:-4])
put("mdl-trailing.hmm", model + b"\0\0\0\0")
bad = bytearray(model)
bad[20] ^= 0x20
put("mdl-header-crc.hmm", bytes(bad))
bad = bytearray(model)
bad[offs[2] + 30] ^= 0x40
put("mdl-tensor-crc.hmm", bytes(bad))


def hdr_patch(data, **f):
    magic, v, nkv, nt = struct.unpack_from("<4sIII", data)
    d = dict(v=v, nkv=nkv, nt=nt)
    d.update(f)
    b = bytearray(data)
    b[4:16] = struct.pack("<III", d["v"], d["nkv"], d["nt"])
    # keep the header CRC right so the count check itself is tested
    if "nkv" not in f:
        b[kv_end:kv_end + 4] = struct.pack("<I", zlib.crc32(bytes(b[:kv_end])))
    return bytes(b)


put("mdl-nkv-huge.hmm", hdr_patch(model, nkv=0xffffffff))
put("mdl-ntensors-huge.hmm", hdr_patch(model, nt=0xffffffff))
put("mdl-ntensors-more.hmm", hdr_patch(model, nt=len(ts) + 1))


def raw_entry_model(mutate):
    """A model whose second tensor entry's bytes are MUTATE(entry) (CRC redone)."""
    b = bytearray(model)
    s, e = offs[1], offs[2]
    entry = mutate(bytes(b[s:e - 4]))
    return bytes(b[:s]) + entry + struct.pack("<I", zlib.crc32(entry)) + bytes(b[e:])


def set_ndim(n):
    def f(entry):
        nl, = struct.unpack_from("<I", entry)
        return entry[:4 + nl] + struct.pack("<I", n) + entry[8 + nl:]
    return f


def set_dim0(v):
    def f(entry):
        nl, = struct.unpack_from("<I", entry)
        return entry[:8 + nl] + struct.pack("<Q", v) + entry[16 + nl:]
    return f


put("mdl-ndim0.hmm", raw_entry_model(set_ndim(0)))
put("mdl-ndim-huge.hmm", raw_entry_model(set_ndim(0xfffffff0)))
put("mdl-dim-huge.hmm", raw_entry_model(set_dim0(1 << 62)))
put("mdl-dim0.hmm", raw_entry_model(set_dim0(0)))
put("mdl-namelen-huge.hmm", raw_entry_model(lambda e: struct.pack("<I", 0xfffffff0) + e[4:]))


def tweak(fn):
    v2, kv2, ts2 = parse_model(model)
    kv2 = [list(x) for x in kv2]
    fn(kv2, ts2)
    return model_bytes(v2, [tuple(x) for x in kv2], ts2)[0]


def set_nan(kv2, ts2):
    ts2[1][2][0] = np.nan


def set_inf(kv2, ts2):
    ts2[-1][2][-1] = -np.inf


def dup_tensor(kv2, ts2):
    ts2.append([ts2[0][0], list(ts2[0][1]), ts2[0][2].copy()])


def drop_tensor(kv2, ts2):
    del ts2[1]


def wrong_shape(kv2, ts2):
    ts2[0][1] = [int(np.prod(ts2[0][1]))]


def extra_tensor(kv2, ts2):
    ts2.append([b"layer9.weight", [2], np.zeros(2, np.float32)])


def set_kv(key, value):
    def f(kv2, ts2):
        for x in kv2:
            if x[0] == key:
                x[1] = value
    return f


put("mdl-nan.hmm", tweak(set_nan))
put("mdl-inf.hmm", tweak(set_inf))
put("mdl-dup-tensor.hmm", tweak(dup_tensor))
put("mdl-missing-tensor.hmm", tweak(drop_tensor))
put("mdl-wrong-shape.hmm", tweak(wrong_shape))
put("mdl-extra-tensor.hmm", tweak(extra_tensor))
put("mdl-arch.hmm", tweak(set_kv(b"arch", b"ir:99999999:4")))
put("mdl-arch-garbage.hmm", tweak(set_kv(b"arch", b"transformer")))
put("mdl-in-h.hmm", tweak(set_kv(b"in_h", b"100000")))
put("mdl-in-c.hmm", tweak(set_kv(b"in_c", b"-3")))
put("mdl-emb-dim.hmm", tweak(set_kv(b"emb_dim", b"zero")))
put("mdl-no-arch.hmm", tweak(lambda kv2, ts2: kv2.remove([x for x in kv2 if x[0] == b"arch"][0])))

# Checkpoints (hm-train --resume): the pack they name is "p.hmr" beside them.
put("p.hmr", pack)
put("p.hmi", index)
cver, ckv, cts = parse_model(ckpt)
for i, (k, v) in enumerate(ckv):
    if k == b"train.pack":
        ckv[i] = (k, b"p.hmr")
ckpt = model_bytes(cver, ckv, cts)[0]
put("ckpt-good.hmm", ckpt)


def ctweak(fn):
    v2, kv2, ts2 = parse_model(ckpt)
    kv2 = [list(x) for x in kv2]
    fn(kv2, ts2)
    return model_bytes(v2, [tuple(x) for x in kv2], ts2)[0]


def mom_nan(kv2, ts2):
    [t for t in ts2 if t[0].startswith(b"momentum/")][0][2][0] = np.nan


def head_inf(kv2, ts2):
    [t for t in ts2 if t[0] == b"head/weight"][0][2][0] = np.inf


put("ckpt-nan.hmm", ctweak(mom_nan))
put("ckpt-inf.hmm", ctweak(head_inf))
put("ckpt-nan-weight.hmm", ctweak(set_nan))
put("ckpt-trunc.hmm", ckpt[:len(ckpt) // 2])
put("ckpt-empty.hmm", b"")
put("ckpt-model.hmm", model)   # a model, not a checkpoint
put("ckpt-iter.hmm", ctweak(set_kv(b"state.iteration", b"-5")))
put("ckpt-iter-text.hmm", ctweak(set_kv(b"state.iteration", b"lots")))
put("ckpt-rng.hmm", ctweak(set_kv(b"state.dropout-rng", b"00")))
put("ckpt-batch.hmm", ctweak(set_kv(b"train.batch", b"0")))
put("ckpt-arch.hmm", ctweak(set_kv(b"train.arch", b"transformer")))
put("ckpt-steps.hmm", ctweak(set_kv(b"train.lr-steps", b"abc")))
put("ckpt-no-momentum.hmm",
    ctweak(lambda kv2, ts2: ts2.remove([t for t in ts2 if t[0].startswith(b"momentum/")][0])))

# Packs and indexes (hm-train, hm-pack --verify): each pack beside its index.
put("idx-good.hmr", pack)
put("idx-good.hmi", index)
for name, data in [
        ("idx-missing", None),
        ("idx-empty", b""),
        ("idx-magic", b"HMR\x1a" + index[4:]),
        ("idx-version", index[:4] + b"\x05\x00" + index[6:]),
        ("idx-trunc", index[:40]),
        ("idx-count", index[:8] + struct.pack("<Q", 1 << 60) + index[16:]),
        ("idx-crc", index[:-1] + bytes([index[-1] ^ 1])),
        ("idx-stale", index[:16] + struct.pack("<Q", len(pack) + 7) + index[24:]),
]:
    put(name + ".hmr", pack)
    if data is not None:
        put(name + ".hmi", data)


def idx_entries(fn):
    n, = struct.unpack_from("<Q", index, 8)
    ent = bytearray(index[32:])
    fn(ent, n)
    b = bytearray(index[:32]) + ent
    b[24:28] = struct.pack("<I", zlib.crc32(bytes(ent)))
    return bytes(b)


def off_beyond(ent, n):
    ent[16:24] = struct.pack("<Q", len(pack) + 1000)


def off_inside(ent, n):
    ent[16:24] = struct.pack("<Q", 5)


def label_neg(ent, n):
    ent[8 + 16:12 + 16] = struct.pack("<i", -1)


for name, fn in [("idx-offset", off_beyond), ("idx-offset-mid", off_inside), ("idx-label", label_neg)]:
    put(name + ".hmr", pack)
    put(name + ".hmi", idx_entries(fn))

# MXNet RecordIO (hm-pack --from rec) and insightface .bin (--from bin).
MX = 0xced7230a


def mx_part(payload, cflag=0):
    pad = (-len(payload)) % 4
    return struct.pack("<II", MX, cflag << 29 | len(payload)) + payload + b"\0" * pad


def mx_rec(label, img, i):
    return struct.pack("<IfQQ", 0, float(label), i, 0) + img


rec_parts = [mx_part(mx_rec(i % 2, jpg, i)) for i in range(3)]
rec_file = b"".join(rec_parts)
idx_lines, o = [], 0
for i, p in enumerate(rec_parts):
    idx_lines.append("%d\t%d" % (i, o))
    o += len(p)
idx_text = "\n".join(idx_lines) + "\n"
for name, data, idx in [
        ("mx-good", rec_file, idx_text),
        ("mx-empty", b"", ""),
        ("mx-magic", b"\x01\x02\x03\x04" + rec_file[4:], idx_text),
        ("mx-trunc", rec_file[:len(rec_parts[0]) + 30], idx_text),
        ("mx-len", rec_file[:4] + struct.pack("<I", (1 << 29) - 1) + rec_file[8:], idx_text),
        ("mx-idx-offset", rec_file, "0\t0\n1\t99999999\n"),
        ("mx-idx-text", rec_file, "zero\tnothing\n"),
        ("mx-jpeg", b"".join([mx_part(mx_rec(0, b"\xff\xd8garbage", 0))]), "0\t0\n"),
        ("mx-cmyk", b"".join([mx_part(mx_rec(0, cmyk16, 0))]), "0\t0\n"),
        ("mx-short", mx_part(b"\0" * 10), "0\t0\n")]:
    put(name + ".rec", data)
    put(name + ".idx", idx)
binfile = pickle.dumps(([jpg, jpg, jpg, jpg], [True, False]), protocol=4)
put("bin-good.bin", binfile)
put("bin-none.bin", pickle.dumps(([], []), protocol=4))
put("bin-empty.bin", b"")
put("bin-text.bin", "hello, not a pickle\n")
put("bin-trunc.bin", binfile[:len(binfile) // 2])
put("bin-len.bin", b"\x80\x04\x8e" + struct.pack("<Q", 1 << 62) + b"x")
put("bin-odd.bin", pickle.dumps(([jpg, jpg, jpg], [True]), protocol=4))
put("bin-count.bin", pickle.dumps(([jpg, jpg], [True, False, True]), protocol=4))
put("bin-jpeg.bin", pickle.dumps(([b"\xff\xd8garbage", jpg], [True]), protocol=4))
put("bin-cmyk.bin", pickle.dumps(([cmyk16, jpg], [True]), protocol=4))
put("bin-opcode.bin", b"\x80\x04cos\nsystem\n(S'true'\ntR.")
# Deep nesting must not recurse.
put("bin-deep.bin", b"\x80\x04" + b"]" * 200000 + b".")

# Tree inputs for hm-pack: ROOT/ID/file.
for name, files in [("tree-cmyk", {"0/a.jpg": cmyk16, "0/b.jpg": jpg}),
                    ("tree-empty-img", {"0/a.jpg": b"", "1/b.jpg": jpg}),
                    ("tree-12bit", {"0/a.jpg": slurp(path("img-12bit.jpg"))}),
                    ("tree-none", {}),
                    ("tree-ok", {"0/a.jpg": slurp(path("ok-progressive.jpg")),
                                 "1/b.jpg": slurp(path("ok-gray.jpg"))})]:
    os.makedirs(path(name), exist_ok=True)
    for f, data in files.items():
        os.makedirs(os.path.dirname(path(name + "/" + f)), exist_ok=True)
        put(name + "/" + f, data)

# A directory where a file belongs.
os.makedirs(path("adir"), exist_ok=True)

subprocess.run(["rm", "-rf", BASE], check=True)
