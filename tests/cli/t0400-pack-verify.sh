#!/bin/bash
# hm-pack --verify and --index: every CRC, the end marker, the index.
. "$(dirname "$0")/lib.sh"
SQ="'"

mkdir -p tree/a tree/b && for k in 1 2 3; do
	printf 'P6\n2 1\n255\n%s' "abcde$k" >tree/a/$k.ppm &&
	printf 'P5\n1 3\n255\n%s' "xy$k" >tree/b/$k.pgm || exit 1
done
hm-pack -o a.hmr tree || exit 1

test_expect_success 'verify: a good pack' '
	hm-pack --verify a.hmr >out &&
	echo "a.hmr: 6 records ok" >expect && cmp expect out
'

test_expect_success 'verify: a stream on standard input (no index to check)' '
	hm-pack --verify <a.hmr >out &&
	echo "-: 6 records ok" >expect && cmp expect out
'

test_expect_success 'verify: a flipped byte is found and the record named' '
	cp a.hmr f.hmr && cp a.hmi f.hmi &&
	# record 2 is a/3: header 24 + key 3 + image head 8 + 6 pixels = 41 bytes a record
	printf "\377" | dd of=f.hmr bs=1 seek=$((2 * 41 + 38)) conv=notrunc 2>/dev/null &&
	test_fails_cleanly 1 "record 2 (${SQ}a/3${SQ}): CRC mismatch" hm-pack --verify f.hmr
'

test_expect_success 'verify: a stream cut at a record boundary (no end record)' '
	head -c $((3 * 41)) a.hmr >t.hmr &&
	test_fails_cleanly 1 "truncated" hm-pack --verify t.hmr
'

test_expect_success 'verify: a stale index is reported' '
	mkdir -p other/x && cp tree/a/1.ppm other/x/ && hm-pack -o o.hmr other &&
	cp a.hmr s.hmr && cp o.hmi s.hmi &&
	test_fails_cleanly 1 "s.hmi" hm-pack --verify s.hmr
'

test_expect_success 'verify: an index with a wrong label is reported' '
	cat a.hmr a.hmr >d.hmr && hm-pack --index d.hmr &&
	cp d.hmi d.orig && hm-pack --verify d.hmr >/dev/null &&
	# entry 0 starts at byte 32: offset (8 bytes) then label; change label 0 to 5
	/usr/bin/python3 -c "
import struct, zlib
b = bytearray(open(\"d.hmi\", \"rb\").read())
b[40] = 5
struct.pack_into(\"<I\", b, 24, zlib.crc32(bytes(b[32:])))
open(\"d.hmi\", \"wb\").write(b)
" &&
	test_fails_cleanly 1 "entry 0" hm-pack --verify d.hmr
'

test_expect_success 'index: rebuilding gives the index hm-pack wrote' '
	cp a.hmi orig.hmi && rm a.hmi &&
	hm-pack --index a.hmr && cmp orig.hmi a.hmi
'

test_expect_success 'index: of a concatenation, verified by hm-pack --verify' '
	cat a.hmr a.hmr >c.hmr && hm-pack --index c.hmr &&
	hm-pack --verify c.hmr >out && echo "c.hmr: 12 records ok" >expect && cmp expect out
'

test_expect_success 'index: a damaged stream writes no index' '
	cp f.hmr g.hmr &&
	test_fails_cleanly 1 "CRC mismatch" hm-pack --index g.hmr &&
	! test -e g.hmi && ! ls g.hmi.tmp.* 2>/dev/null
'

test_expect_success 'index: standard input is a usage error' '
	test_fails_cleanly 2 "--index" hm-pack --index - <a.hmr
'

test_done
