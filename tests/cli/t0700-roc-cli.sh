#!/bin/bash
# hm-roc: hand-computed measures, the four table formats (aligned text, CSV,
# valid JSON, Markdown), labels and stdin, folds or none, --per-fold, --roc,
# every input error (exit 1, file named, empty stdout, no side files) and
# usage errors (exit 2), --help against the man page, the man page example.
. "$(dirname "$0")/lib.sh"

# Four pairs, no folds: ROC (0,0) (0,.5) (.5,1) (1,1), AUC .875, EER .25,
# exact threshold .3 with accuracy 3/4.
printf '%s\n' fold,same,score,a,b -1,1,0.9,p,q -1,0,0.5,p,r -1,1,0.5,s,t \
	-1,0,0.1,u,v >tiny.csv
# Two folds (the unit test's case): exact 2/3 +- 0, thresholds .35 and .7.
printf '%s\n' fold,same,score 0,1,0.9 0,0,0.1 0,0,0.5 1,1,0.8 1,1,0.4 1,0,0.3 \
	>two.csv

# FAR 0.25 lies below 1/2, the smallest FAR two different pairs resolve: n/a.
test_expect_success 'CSV: hand-computed AUC, EER, TAR, accuracy and thresholds' '
	hm-roc --csv --far 0.25,0.5 tiny.csv >out.csv &&
	/usr/bin/python3 -c "
import csv
r = list(csv.DictReader(open(\"out.csv\")))
assert len(r) == 1, r
r = r[0]
want = {\"curve\": \"tiny.csv\", \"pairs\": \"4\", \"same\": \"2\", \"different\": \"2\",
        \"folds\": \"0\", \"protocol\": \"exact\", \"accuracy\": \"0.75\",
        \"accuracy_std\": \"0\", \"threshold_mean\": repr(0.1 + (0.5 - 0.1) / 2), \"auc\": \"0.875\",
        \"eer\": \"0.25\", \"eer_threshold\": \"0.5\", \"tar@far=0.25\": \"\",
        \"threshold@far=0.25\": \"\", \"tar@far=0.5\": \"1\",
        \"threshold@far=0.5\": \"0.5\"}
bad = {k: (r.get(k), v) for k, v in want.items() if r.get(k) != v}
assert not bad, bad
"
'

test_expect_success 'two folds: per-fold thresholds and accuracies (--per-fold --csv)' '
	hm-roc --per-fold --csv two.csv >pf.csv &&
	printf "%s\n" "curve,fold,pairs,same,different,accuracy,threshold,val,far,val_threshold" >want &&
	head -n 1 pf.csv | cmp - want &&
	cut -d, -f1-7 pf.csv | tail -n +2 >got &&
	printf "%s\n" "two.csv,0,3,1,2,0.6666666666666666,0.35" \
		"two.csv,1,3,2,1,0.6666666666666666,0.7" >want &&
	cmp got want
'

test_expect_success 'text table: aligned columns, notes on protocol and folds' '
	hm-roc --label "a long curve name" --label B tiny.csv two.csv >t.txt &&
	sed -n "1,3p" t.txt >table &&
	test "$(awk "{ print length(\$0) }" table | sort -u | wc -l)" = 1 &&
	grep -q "^a long curve name  *4  *none  *75.00 " table &&
	grep -q "^B  *6  *2 " table &&
	grep -q "exact search over the scores (same when score >= threshold)" t.txt &&
	grep -q "^a long curve name: no folds: one threshold chosen and scored on all pairs (no k-fold)" t.txt &&
	! grep -q "^B: no folds" t.txt
'

test_expect_success 'insightface protocol reports distances; its JSON is valid' '
	hm-roc --protocol insightface --json two.csv >j.json &&
	/usr/bin/python3 -c "
import json
d = json.load(open(\"j.json\"))
assert d[\"protocol\"] == \"insightface\" and d[\"threshold_kind\"] == \"distance\", d
c = d[\"curves\"][0]
assert c[\"kfold\"] is True and c[\"folds\"] == 2
assert [f[\"threshold\"] for f in c[\"fold_results\"]] == [121 * 0.01, 20 * 0.01]
assert abs(c[\"accuracy\"] - 0.5) < 1e-15 and abs(c[\"accuracy_std\"] - 1 / 6) < 1e-15
" &&
	hm-roc --protocol insightface two.csv | grep -q "distance"
'

test_expect_success 'JSON: valid, with nulls for undefined VAL and the no-fold flag' '
	printf "%s\n" fold,same,score 0,1,0.9 0,1,0.8 1,0,0.1 1,0,0.2 >oneclass.csv &&
	hm-roc --json tiny.csv oneclass.csv >j.json &&
	/usr/bin/python3 -c "
import json
d = json.load(open(\"j.json\"))
a, b = d[\"curves\"]
assert a[\"kfold\"] is False and a[\"folds\"] == 0 and a[\"fold_results\"][0][\"fold\"] == -1
assert b[\"val\"] is None and b[\"fold_results\"][0][\"val\"] is None, b
assert d[\"far_targets\"] == [0.001, 0.01] and d[\"val_far\"] == 0.001
" &&
	hm-roc oneclass.csv | grep -q "oneclass.csv: VAL n/a"
'

test_expect_success 'Markdown: a pipe table with a separator row and notes' '
	hm-roc --markdown --label "a|b" tiny.csv two.csv >m.md &&
	sed -n 2p m.md | grep -q "^| :--- | ---: |" &&
	test "$(sed -n 1,4p m.md | sed "s/\\\\|//g" | awk -F"|" "{ print NF }" | sort -u | wc -l)" = 1 &&
	grep -q "^| a\\\\|b |" m.md &&
	grep -q "^- accuracy:" m.md
'

test_expect_success 'stdin by default and as -, named stdin' '
	hm-roc --csv <tiny.csv >a.csv && hm-roc --csv - <tiny.csv >b.csv &&
	cmp a.csv b.csv && grep -q "^stdin,4," a.csv
'

test_expect_success '--roc - writes the points alone; --roc FILE beside the table' '
	hm-roc --roc - tiny.csv >pts.csv &&
	printf "%s\n" curve,threshold,fpr,tpr tiny.csv,1.9,0,0 tiny.csv,0.9,0,0.5 \
		tiny.csv,0.5,0.5,1 tiny.csv,0.1,1,1 >want &&
	cmp pts.csv want &&
	hm-roc --roc file.csv tiny.csv >table.txt && cmp file.csv want &&
	grep -q "^curve " table.txt
'

test_expect_success 'more --far targets, a --val-far, key columns optional' '
	cut -d, -f1-3 tiny.csv >nokeys.csv &&
	hm-roc --csv --far 0.1,0.2,0.3 --val-far 0.5 nokeys.csv >o.csv &&
	head -n 1 o.csv | grep -q "tar@far=0.1,threshold@far=0.1,tar@far=0.2,.*tar@far=0.3,threshold@far=0.3,val@far=0.5,"
'

test_expect_success 'bad scores files: exit 1 naming file and line, nothing written' '
	printf "%s\n" fold,same,score 0,1,0.5 0,2,0.4 >badsame.csv &&
	test_fails_cleanly 1 "'\''badsame.csv'\'': line 3: same must be 0 or 1" \
		hm-roc --roc r1.csv --svg s1.svg badsame.csv &&
	! test -e r1.csv && ! test -e s1.svg &&
	printf "%s\n" fold,same,score x,1,0.5 >badfold.csv &&
	test_fails_cleanly 1 "line 2: fold must be an integer" hm-roc badfold.csv &&
	printf "%s\n" fold,same,score 0,1,nan >nan.csv &&
	test_fails_cleanly 1 "line 2: score must be a finite number" hm-roc nan.csv &&
	printf "%s\n" a,b,c 0,1,0.5 >header.csv &&
	test_fails_cleanly 1 "line 1: not a scores CSV: expected the header" hm-roc header.csv &&
	printf "%s\n" fold,same,score,a,b 0,1,0.5 >width.csv &&
	test_fails_cleanly 1 "line 2: expected 5 fields, got 3" hm-roc width.csv &&
	: >empty.csv &&
	test_fails_cleanly 1 "'\''empty.csv'\'': empty file" hm-roc empty.csv &&
	echo fold,same,score >norows.csv &&
	test_fails_cleanly 1 "no scores" hm-roc norows.csv &&
	test_fails_cleanly 1 "nope.csv" hm-roc nope.csv
'

# The old message for these was a CSV syntax error ("line 1: quote inside
# an unquoted field") that named no file kind.
test_expect_success 'not a scores file (records, a model, binary, other CSV): says so and what one is' '
	printf "HMR\032\001\000\002\000binary" >emb.hmr &&
	test_fails_cleanly 1 "'\''emb.hmr'\'': a record stream (.hmr: images or embeddings; hm-verify scores embeddings), not a scores CSV: expected the header '\''fold,same,score,a,b'\'' (or '\''fold,same,score'\'') and rows like 0,1,0.71,KEY_A,KEY_B, as hm-verify writes them" \
		hm-roc emb.hmr &&
	test_expect_code 1 hm-roc <emb.hmr 2>err && grep -q "^hm-roc: '\''-'\'': a record stream" err &&
	cat emb.hmr | test_expect_code 1 hm-roc 2>err && grep -q "'\''-'\'': a record stream" err &&
	printf "HMM\032\001\000" >m.hmm &&
	test_fails_cleanly 1 "'\''m.hmm'\'': a model file (.hmm), not a scores CSV" hm-roc m.hmm &&
	printf "\377\330\377\340\000\020JFIF" >x.jpg &&
	test_fails_cleanly 1 "'\''x.jpg'\'': binary data, not a scores CSV" hm-roc x.jpg &&
	printf "%s\n" "\"a\"b,c" >q.csv &&
	test_fails_cleanly 1 "'\''q.csv'\'': line 1: text after a closing quote: not a scores CSV: expected the header" hm-roc q.csv &&
	printf "%s\n" a,b,same,fold x,y,1,0 >pairs.csv &&
	test_fails_cleanly 1 "'\''pairs.csv'\'': line 1: not a scores CSV: expected the header" hm-roc pairs.csv
'

test_expect_success 'bad folds and one-class files: exit 1 naming the file' '
	printf "%s\n" fold,same,score 0,1,0.5 -1,0,0.4 >mixed.csv &&
	test_fails_cleanly 1 "'\''mixed.csv'\'': pair 1: fold -1" hm-roc mixed.csv &&
	printf "%s\n" fold,same,score 0,1,0.5 0,1,0.4 >same.csv &&
	test_fails_cleanly 1 "'\''same.csv'\'': no different pairs" hm-roc tiny.csv same.csv
'

test_expect_success 'folds numbered from 1 (or any labels): each label a fold, the same numbers' '
	awk -F, -v OFS=, "NR > 1 { \$1 += 1 } 1" two.csv >from1.csv &&
	awk -F, -v OFS=, "NR > 1 { \$1 = \$1 ? 10 : 3 } 1" two.csv >labels.csv &&
	hm-roc --csv two.csv | cut -d, -f2- >a && hm-roc --csv from1.csv | cut -d, -f2- >b &&
	hm-roc --csv labels.csv | cut -d, -f2- >c && cmp a b && cmp a c &&
	grep -q "^6,3,3,2," b &&
	hm-roc --per-fold --csv from1.csv | cut -d, -f2,6 | tail -n +2 >got &&
	printf "%s\n" 1,0.6666666666666666 2,0.6666666666666666 >want && cmp got want &&
	hm-roc --json labels.csv >l.json &&
	/usr/bin/python3 -c "
import json
c = json.load(open(\"l.json\"))[\"curves\"][0]
assert [f[\"fold\"] for f in c[\"fold_results\"]] == [3, 10], c
"
'

test_expect_success 'units: text and Markdown in percent, CSV and JSON as fractions' '
	hm-roc --far 0.5 tiny.csv >u.txt && hm-roc --markdown --far 0.5 tiny.csv >u.md &&
	hm-roc --csv --far 0.5 tiny.csv >u.csv &&
	head -n 1 u.txt | grep -q "accuracy %.*EER %.*TAR@FAR=0.5 %" &&
	grep -q "^tiny.csv  *4  *none  *75.00  *0.00  *0.3000  *0.875000  *25.00  *100.00 " u.txt &&
	grep -q "^| tiny.csv | 4 | none | 75.00 | 0.00 | 0.3000 | 0.875000 | 25.00 | 100.00 |" u.md &&
	grep -q "^accuracy, EER, TAR, VAL and FAR in percent; AUC as a fraction" u.txt &&
	grep -q "^- accuracy, EER, TAR, VAL and FAR in percent" u.md &&
	grep -q "^tiny.csv,4,2,2,0,exact,0.75,0,0.3[0-9]*,0.875,0.25,0.5,1,0.5," u.csv
'

# 50 different pairs resolve FARs down to 1/50 = 0.02 (and 0).
test_expect_success 'TAR@FAR below 1/different pairs: n/a in every format, one note' '
	awk "BEGIN { print \"fold,same,score\"; for (i = 0; i < 50; i++)
		printf \"-1,1,%.3f\n-1,0,%.3f\n\", 0.5 + i / 100, i / 100 }" >fifty.csv &&
	hm-roc --far 1e-6,0,0.02,1e-4 fifty.csv >f.txt &&
	head -n 2 f.txt | awk "NR == 2 { exit !(\$9 == \"n/a\" && \$10 != \"n/a\" &&
		\$11 != \"n/a\" && \$12 == \"n/a\") }" &&
	test $(grep -c "TAR n/a" f.txt) = 1 &&
	grep -q "^fifty.csv: TAR n/a at FAR < 1/50 (0.02): with 50 different pairs the smallest FAR above 0 is 1/50$" f.txt &&
	hm-roc --markdown --far 1e-6 fifty.csv >f.md &&
	grep -q "| n/a | " f.md && test $(grep -c "^- fifty.csv: TAR n/a" f.md) = 1 &&
	hm-roc --csv --far 1e-6,0.02 fifty.csv >f.csv &&
	/usr/bin/python3 -c "
import csv
r = list(csv.DictReader(open(\"f.csv\")))[0]
assert r[\"tar@far=1e-06\"] == \"\" and r[\"threshold@far=1e-06\"] == \"\", r
assert float(r[\"tar@far=0.02\"]) == 1.0, r
" &&
	hm-roc --json --far 1e-6,0.02 fifty.csv >f.json &&
	/usr/bin/python3 -c "
import json
c = json.load(open(\"f.json\"))[\"curves\"][0]
assert c[\"far_resolution\"] == 0.02, c
assert c[\"tar\"][0] == {\"far\": 1e-06, \"tar\": None, \"threshold\": None}, c[\"tar\"]
assert c[\"tar\"][1][\"tar\"] == 1.0, c[\"tar\"]
" &&
	hm-roc --far 0.02 fifty.csv >g.txt && ! grep -q "n/a" g.txt
'

test_expect_success 'usage errors exit 2' '
	test_fails_cleanly 2 "--protocol" hm-roc --protocol lfw tiny.csv &&
	test_fails_cleanly 2 "--far" hm-roc --far 0.1,2 tiny.csv &&
	test_fails_cleanly 2 "--far" hm-roc --far , tiny.csv &&
	test_fails_cleanly 2 "--val-far" hm-roc --val-far x tiny.csv &&
	test_fails_cleanly 2 "exclude each other" hm-roc --csv --json tiny.csv &&
	test_fails_cleanly 2 "2 labels for 1 score files" hm-roc --label a --label b tiny.csv &&
	test_fails_cleanly 2 "only once" hm-roc - - &&
	test_fails_cleanly 2 "both write to stdout" hm-roc --roc - --svg - tiny.csv
'

test_expect_success '--help names every option of the man page and --version works' '
	hm-roc --help >help.txt &&
	grep -q "^Usage: hm-roc" help.txt &&
	for o in $(grep -o -- "--[a-z][a-z-]*" help.txt | sort -u); do
		opt=$(printf "%s" "${o#--}" | sed "s/-/\\\\\\\\-/g") &&
		grep -q -- "Fl \\\\-$opt" "$TEST_ROOT/man/man1/hm-roc.1" ||
			{ echo "man page lacks $o"; exit 1; }
	done &&
	hm-roc --version | grep -q "hm suite"
'

test_expect_success 'the man page example runs' '
	printf "%s\n" fold,same,score -1,1,0.9 -1,0,0.5 -1,1,0.5 -1,0,0.1 |
		hm-roc --svg ex.svg >ex.txt &&
	grep -q "^stdin " ex.txt && grep -q "</svg>" ex.svg
'

test_done
