#!/bin/bash
# hm-pack --shuffle: the seed fixes the order, whatever the input path or
# thread count; another seed gives another order of the same records.
. "$(dirname "$0")/lib.sh"

mkdir -p tree && for id in 0 1 2 3 4; do
	mkdir -p tree/id$id && for k in 1 2 3 4; do
		printf 'P5\n2 2\n255\n%s' "$id$k$id$k" >tree/id$id/$k.pgm || exit 1
	done
done

test_expect_success 'shuffle: the same seed gives identical bytes' '
	hm-pack --shuffle --seed 7 -o a.hmr tree &&
	hm-pack --shuffle --seed 7 -o b.hmr tree &&
	cmp a.hmr b.hmr && cmp a.hmi b.hmi
'

test_expect_success 'shuffle: -j 1 and -j 2 give identical bytes' '
	hm-pack --shuffle --seed 7 -j 1 --encoding jpeg -o j1.hmr tree &&
	hm-pack --shuffle --seed 7 -j 2 --encoding jpeg -o j2.hmr tree &&
	cmp j1.hmr j2.hmr
'

test_expect_success 'shuffle: another seed, another order of the same records' '
	hm-pack --shuffle --seed 7 -o a.hmr tree &&
	hm-pack --shuffle --seed 8 -o c.hmr tree &&
	hm-pack -o plain.hmr tree &&
	hm-pack --list a.hmr >la && hm-pack --list c.hmr >lc && hm-pack --list plain.hmr >lp &&
	! cmp -s la lc && ! cmp -s la lp &&
	sort la >sa && sort lc >sc && sort lp >sp && cmp sa sc && cmp sa sp
'

test_expect_success 'shuffle: default seed is 0 and is deterministic' '
	hm-pack --shuffle -o d1.hmr tree && hm-pack --shuffle --seed 0 -o d2.hmr tree &&
	cmp d1.hmr d2.hmr
'

test_expect_success 'shuffle: a stream from a pipe shuffles as the same file does' '
	hm-pack -o plain.hmr tree &&
	hm-pack --shuffle --seed 3 -o f.hmr plain.hmr &&
	cat plain.hmr | hm-pack --shuffle --seed 3 -o p.hmr - &&
	cmp f.hmr p.hmr && cmp f.hmi p.hmi &&
	hm-pack --verify p.hmr >out && echo "p.hmr: 20 records ok" >expect && cmp expect out
'

test_expect_success 'shuffle: labels travel with their records' '
	hm-pack --shuffle --seed 9 -o s.hmr tree &&
	hm-pack --list s.hmr >ls &&
	awk -F"\t" "{ split(\$1, p, \"/\"); if (\"id\" \$2 != p[1]) exit 1 }" ls
'

test_expect_success 'shuffle: --seed without --shuffle is a usage error' '
	test_fails_cleanly 2 "--seed" hm-pack --seed 3 -o x.hmr tree &&
	! test -e x.hmr
'

test_done
