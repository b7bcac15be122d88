#!/bin/bash
# The options every tool shares: --help prints the usage on stdout and
# exits 0, --version prints "hm-X (hm suite) VERSION"; when stdout does not
# take the text (a full disk: /dev/full), both exit 1 with one line on
# stderr instead of claiming success.
. "$(dirname "$0")/lib.sh"

TOOLS="hm-synth hm-align hm-pack hm-train hm-embed hm-verify hm-roc hm-plot"

test_expect_success 'every tool: --help and --version on stdout, exit 0' '
	for t in $TOOLS; do
		$t --help >help 2>err && test ! -s err &&
		head -n 1 help | grep -q "^Usage: $t" &&
		$t --version >ver 2>err && test ! -s err &&
		grep -q "^$t (hm suite) [0-9]" ver || { echo "$t"; return 1; }
	done
'

test_expect_success 'every tool: --help and --version into a full disk exit 1, one line' '
	test -c /dev/full &&
	for t in $TOOLS; do
		for o in --help --version; do
			test_expect_code 1 $t $o >/dev/full 2>err &&
			test $(wc -l <err) = 1 && grep -q "^$t: write error" err ||
				{ echo "$t $o"; cat err; return 1; }
		done
	done
'

test_done
