#!/bin/bash
# hm-pack on damaged streams and bad command lines: exit 1 (data) or 2
# (usage), one line on stderr, nothing on stdout, no output file left.
. "$(dirname "$0")/lib.sh"

mkdir -p tree/a tree/b && for k in 1 2 3; do
	printf 'P6\n2 1\n255\n%s' "abcde$k" >tree/a/$k.ppm &&
	printf 'P5\n1 3\n255\n%s' "xy$k" >tree/b/$k.pgm || exit 1
done
hm-pack -o good.hmr tree || exit 1
# Records are 41 bytes (a/N: 24 + 3 + 8 + 6) and 38 bytes (b/N), end 24.
size=$(wc -c <good.hmr)

# patch FILE OFFSET HEXBYTES: overwrite bytes in place
patch() {
	printf "$(echo "$3" | sed 's/../\\x&/g')" | dd of="$1" bs=1 seek="$2" conv=notrunc 2>/dev/null
}

nothing_left() {
	! test -e out.hmr && ! test -e out.hmi && ! ls out.hmr.tmp.* out.hmi.tmp.* 2>/dev/null
}

test_expect_success 'corrupt: bad magic' '
	cp good.hmr m.hmr && patch m.hmr 0 58595a5a &&
	test_fails_cleanly 1 "bad magic" hm-pack -o out.hmr m.hmr && nothing_left
'

test_expect_success 'corrupt: bad magic on standard input' '
	printf "GIF89a-not-a-stream-at-all-xxxxxxxxxx" >g.hmr &&
	test_fails_cleanly 1 "not an hm record stream" hm-pack -o out.hmr - <g.hmr && nothing_left
'

test_expect_success 'corrupt: truncated in the middle of a record' '
	head -c 60 good.hmr >t.hmr &&
	test_fails_cleanly 1 "record 1" hm-pack -o out.hmr t.hmr && nothing_left
'

test_expect_success 'corrupt: truncated at a record boundary, no end record' '
	head -c $((size - 24)) good.hmr >t2.hmr &&
	test_fails_cleanly 1 "without an end-of-stream record" hm-pack -o out.hmr t2.hmr &&
	nothing_left
'

test_expect_success 'corrupt: CRC mismatch names the record' '
	cp good.hmr c.hmr && patch c.hmr $((41 + 36)) 00 &&
	test_fails_cleanly 1 "record 1" hm-pack -o out.hmr c.hmr &&
	grep -q "CRC mismatch" .fail.err && nothing_left
'

test_expect_success 'corrupt: an absurd key length is refused before allocating' '
	cp good.hmr k.hmr && patch k.hmr 8 ffffff7f &&
	test_fails_cleanly 1 "key length" hm-pack -o out.hmr k.hmr && nothing_left
'

test_expect_success 'corrupt: an absurd body length is refused before allocating' '
	cp good.hmr b.hmr && patch b.hmr $((41 + 12)) ffffffff &&
	test_fails_cleanly 1 "record 1: body length" hm-pack -o out.hmr b.hmr && nothing_left
'

test_expect_success 'corrupt: a record from a newer version' '
	cp good.hmr v.hmr && patch v.hmr 4 0900 &&
	test_fails_cleanly 1 "version" hm-pack -o out.hmr v.hmr && nothing_left
'

test_expect_success 'corrupt: empty input is a truncated stream' '
	: >e.hmr &&
	test_fails_cleanly 1 "truncated" hm-pack -o out.hmr e.hmr && nothing_left
'

test_expect_success 'corrupt: an input of unknown kind asks for --from' '
	echo hello >notes.txt &&
	test_fails_cleanly 1 "--from" hm-pack -o out.hmr notes.txt && nothing_left
'

test_expect_success 'corrupt: a missing input' '
	test_fails_cleanly 1 "nope.hmr" hm-pack -o out.hmr nope.hmr && nothing_left
'

test_expect_success 'corrupt: --list, --verify, --stats fail the same way' '
	test_fails_cleanly 1 "record 1" hm-pack --list c.hmr &&
	test_fails_cleanly 1 "record 1" hm-pack --verify c.hmr &&
	test_fails_cleanly 1 "record 1" hm-pack --stats c.hmr
'

test_expect_success 'usage: no -o' '
	test_fails_cleanly 2 "-o" hm-pack good.hmr
'

test_expect_success 'usage: -o - (the index needs a file name)' '
	test_fails_cleanly 2 "-o" hm-pack -o - good.hmr
'

test_expect_success 'usage: bad option values' '
	test_fails_cleanly 2 "--encoding" hm-pack --encoding png -o out.hmr tree &&
	test_fails_cleanly 2 "--quality" hm-pack --quality 0 -o out.hmr tree &&
	test_fails_cleanly 2 "--quality" hm-pack --quality 101 -o out.hmr tree &&
	test_fails_cleanly 2 "--quality" hm-pack --encoding raw --quality 90 -o out.hmr tree &&
	test_fails_cleanly 2 "--from" hm-pack --from zip -o out.hmr tree &&
	test_fails_cleanly 2 "-j" hm-pack -j 0 -o out.hmr tree &&
	nothing_left
'

test_expect_success 'usage: unknown option, two inputs, two modes, mode with -o' '
	test_fails_cleanly 2 "unknown option" hm-pack --bogus -o out.hmr tree &&
	test_fails_cleanly 2 "one input" hm-pack -o out.hmr tree good.hmr &&
	test_fails_cleanly 2 "exclusive" hm-pack --list --verify good.hmr &&
	test_fails_cleanly 2 "-o" hm-pack --list -o out.hmr good.hmr &&
	test_fails_cleanly 2 "--shuffle" hm-pack --verify --shuffle good.hmr &&
	nothing_left
'

test_done
