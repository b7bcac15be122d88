"""A fake insightface bundle (faces_webface_112x112, faces_emore) for tests.

    python3 fake_bundle.py OUT TRAIN_TREE TEST_TREE PAIRS

writes into the folder OUT what insightface's download holds:
  train.rec, train.idx  MXNet RecordIO as insightface writes it (pack_import's
                        writer: header record 0, one record per image of
                        TRAIN_TREE/ID/*.jpg labelled by ID in sorted order,
                        then the identity records)
  property              "classes,112,112"
  lfw.bin               pickle.dump((bins, issame)): the JPEGs of the pairs of
                        PAIRS (LFW pairs.txt) from TEST_TREE/Name/Name_0001.jpg,
                        two per pair in pair order
  cfp_fp.bin            the same pairs rotated by 5 (other folds)
  agedb_30.bin          the same pairs, each pair's images swapped
TRAIN_TREE and TEST_TREE are aligned faces (hm-align --out-dir, 112x112).
The .bin stand-ins share faces: they test the plumbing, not the data.
"""
import glob
import os
import pickle
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pack_import  # noqa: E402


def lfw_pairs(path):
    """[(name_a, n_a, name_b, n_b, same)] from an LFW pairs.txt."""
    out = []
    for line in open(path).read().split("\n")[1:]:
        f = line.split()
        if len(f) == 3:
            out.append((f[0], int(f[1]), f[0], int(f[2]), True))
        elif len(f) == 4:
            out.append((f[0], int(f[1]), f[2], int(f[3]), False))
    return out


def write_bin(path, tree, pairs, swap=False):
    def img(name, n):
        with open(os.path.join(tree, name, "%s_%04d.jpg" % (name, n)), "rb") as f:
            return f.read()
    bins, same = [], []
    for a, na, b, nb, s in pairs:
        x, y = img(a, na), img(b, nb)
        bins += [y, x] if swap else [x, y]
        same.append(s)
    with open(path, "wb") as f:
        pickle.dump((bins, same), f, protocol=4)


def main(out, train_tree, test_tree, pairs_path):
    os.makedirs(out, exist_ok=True)
    ids = sorted(d for d in os.listdir(train_tree)
                 if os.path.isdir(os.path.join(train_tree, d)))
    imgs = []
    for label, d in enumerate(ids):
        for f in sorted(glob.glob(os.path.join(train_tree, d, "*.jpg"))):
            with open(f, "rb") as fp:
                imgs.append((fp.read(), label, None))
    pack_import.write_rec(os.path.join(out, "train.rec"),
                          pack_import.insightface_records(imgs))
    with open(os.path.join(out, "property"), "w") as f:
        f.write("%d,112,112\n" % len(ids))
    pairs = lfw_pairs(pairs_path)
    write_bin(os.path.join(out, "lfw.bin"), test_tree, pairs)
    write_bin(os.path.join(out, "cfp_fp.bin"), test_tree, pairs[5:] + pairs[:5])
    write_bin(os.path.join(out, "agedb_30.bin"), test_tree, pairs, swap=True)
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    sys.exit(main(*sys.argv[1:]))
