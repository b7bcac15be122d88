#!/bin/bash
# Every command of README.md's "One example per stage" runs as written:
# the lines are read from README.md itself (the indented lines of that
# section that start with hm-), so an edited example is tested as edited.
# They run in order in one directory, on small stand-ins for the data they
# name, in the layout they expect:
#   data/pairs.txt                    an LFW pairs.txt, 2 folds x (4 + 4)
#                                     (the real one has 6000 pairs)
#   faces_webface_112x112/train.rec   insightface's MXNet RecordIO layout
#     (+ train.idx)                   (header record 0, the images, one
#                                     record per identity): 32 synthetic
#                                     faces of 8 identities, aligned to
#                                     112x112 as insightface's are
#     lfw.bin, cfp_fp.bin,            insightface's verification sets: a
#     agedb_30.bin                    pickle of (JPEGs, same flags), 10
#                                     pairs of those faces each
# One change, for time: the training line gets "-b 16 --epochs 1"
# appended (later options win), 2 steps of IR-18 instead of 24 epochs;
# its other options (architecture, loss, hard mining, rate, milestones)
# are the README's.  Each command must exit 0 with nothing on stderr.
. "$(dirname "$0")/lib.sh"

TRAIN_SMALL="-b 16 --epochs 1"

awk '/^## / { s = ($0 == "## One example per stage") }
     s && /^    hm-/ { sub(/^    /, ""); print }' "$TEST_ROOT/README.md" >"$SCRATCH/cmds"
N=$(wc -l <"$SCRATCH/cmds")

test_expect_success 'README.md: the stage examples are found, one per tool at least' '
	echo "$N commands" &&
	test "$N" -ge 7 &&
	for t in hm-synth hm-align hm-pack hm-train hm-embed hm-verify hm-roc; do
		grep -qE -- "(^|[ |])$t( |\$)" cmds || { echo "no $t command"; exit 1; }
	done
'

cat >mkrec.py <<'EOF'
# Writes records (an hm stream of JPEG images with labels) as insightface's
# train.rec + train.idx: dmlc-core RecordIO parts (magic 0xced7230a, split
# where the magic occurs at a 4-aligned offset), mx.recordio.pack headers
# ('IfQQ'), record 0 = [images + 1, images + 1 + identities], then one
# record per identity with its image range.
import os, struct, sys
sys.path.insert(0, os.path.join(os.environ["TEST_ROOT"], "tests", "ref"))
import hmtest

MAGIC = 0xCED7230A

def part(f, cflag, data):
    f.write(struct.pack("<II", MAGIC, (cflag << 29) | len(data)) + data)

def write_record(f, buf):
    mb, dptr = struct.pack("<I", MAGIC), 0
    for i in range(0, len(buf) // 4 * 4, 4):
        if buf[i:i + 4] == mb:
            part(f, 1 if dptr == 0 else 2, buf[dptr:i])
            dptr = i + 4
    part(f, 3 if dptr else 0, buf[dptr:])
    f.write(b"\0" * ((len(buf) + 3) // 4 * 4 - len(buf)))

def pack(label, payload=b""):
    if isinstance(label, list):
        return struct.pack("<IfQQ", len(label), 0.0, 0, 0) + struct.pack("<%df" % len(label), *label) + payload
    return struct.pack("<IfQQ", 0, label, 0, 0) + payload

src, rec = sys.argv[1:]
imgs = sorted((r.label, r.key, r.payload) for r in hmtest.read_records(src))
labels = sorted(set(l for l, _, _ in imgs))
n = len(imgs)
recs = [pack([float(n + 1), float(n + 1 + len(labels))])]
recs += [pack(float(l), p) for l, _, p in imgs]
start = 1
for l in labels:
    cnt = sum(1 for x, _, _ in imgs if x == l)
    recs.append(pack([float(start), float(start + cnt)]))
    start += cnt
with open(rec, "wb") as f, open(rec[:-4] + ".idx", "w") as ix:
    for k, r in enumerate(recs):
        ix.write("%d\t%d\n" % (k, f.tell()))
        write_record(f, r)
EOF

cat >mkbin.py <<'EOF'
# Writes insightface's .bin verification sets: pickle.dump((bins, issame))
# with bins the two JPEGs of each pair in turn; the pairs alternate same
# (two images of one identity) and different.
import os, pickle, sys
sys.path.insert(0, os.path.join(os.environ["TEST_ROOT"], "tests", "ref"))
import hmtest

src, out = sys.argv[1:]
by_id = {}
for r in hmtest.read_records(src):
    by_id.setdefault(r.label, []).append(r.payload)
ids = sorted(by_id)
bins, issame = [], []
for k in range(10):
    a = ids[k % len(ids)]
    b = a if k % 2 == 0 else ids[(k + 1) % len(ids)]
    bins += [by_id[a][0], by_id[b][1]]
    issame.append(a == b)
for name in ("lfw.bin", "cfp_fp.bin", "agedb_30.bin"):
    with open(os.path.join(out, name), "wb") as f:
        pickle.dump((bins, issame), f, protocol=2)
EOF

test_expect_success 'small stand-ins: data/pairs.txt and faces_webface_112x112/train.rec' '
	mkdir -p work/data work/faces_webface_112x112 &&
	awk "BEGIN { print \"2\t4\"
		for (f = 0; f < 2; f++) {
			for (i = 0; i < 4; i++) printf \"P%d_%d 1 2\n\", f, i
			for (i = 0; i < 4; i++) printf \"P%d_%d 1 Q%d_%d 1\n\", f, i, f, i
		} }" >work/data/pairs.txt &&
	hm-synth -q --kind casia --identities 8 --images-per-id 4 --size 128x128 \
		--lookalike 0 -o casia &&
	hm-align -q --root casia casia/landmarks.txt >casia.stream &&
	/usr/bin/python3 mkrec.py casia.stream work/faces_webface_112x112/train.rec &&
	test -s work/faces_webface_112x112/train.idx &&
	/usr/bin/python3 mkbin.py casia.stream work/faces_webface_112x112
'

i=0
while IFS= read -r cmd; do
	i=$((i + 1))
	case $cmd in
	hm-train*) run="$cmd $TRAIN_SMALL" ;;
	*) run=$cmd ;;
	esac
	printf '%s\n' "$run" >"cmd$i"
	test_expect_success "README command $i: $cmd" '
		cd work && bash ../cmd'"$i"' >../out'"$i"' 2>../err'"$i"' &&
		cd .. && test ! -s err'"$i"' || { cat err'"$i"'; exit 1; }
	'
done <"$SCRATCH/cmds"

test_expect_success 'what the commands made: the set, the pack, the model, the table' '
	test -s work/lfw/pairs.txt && test -s work/lfw/landmarks.txt &&
	test $(hm-pack --list work/lfw.hmr | wc -l) -ge 16 &&
	test $(hm-pack --list work/casia.hmr | wc -l) = 32 &&
	test -s work/run/model.hmm &&
	grep -l "^stdin  *16  *2 " out* >/dev/null
'

test_done
