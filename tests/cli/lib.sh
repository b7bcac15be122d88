# lib.sh: TAP for the shell tests, after git's t/test-lib.sh.
#
#   . "$(dirname "$0")/lib.sh"
#   test_expect_success 'what it shows' '
#       hm-pack -o out.hmr in/ &&
#       cmp out.hmr expected.hmr
#   '
#   test_done
#
# Each test body runs in a fresh scratch directory's subshell with bin/ first
# on PATH; a body fails when any command in its && chain fails.  Helpers:
#   test_expect_code N CMD...   CMD exits with N
#   test_fails_cleanly N MSG CMD... exits N, stdout empty, stderr one line
#                                 containing MSG
#   test_skip WHAT WHY          a test that cannot run here (TAP skip)
set -u
TEST_ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# The protocol files (data/README.md); a test reads nothing outside TEST_ROOT.
DATA=$TEST_ROOT/data
PATH=$TEST_ROOT/bin:$PATH
# make check-valgrind (mk/valgrind.mk): the tools run under memcheck, also
# those a make recipe names as bin/hm-X (tests pass "${VG_MAKE[@]}" to make).
VG_MAKE=()
if [ "${HM_VALGRIND:-}" = 1 ]; then
	PATH=$TEST_ROOT/tests/tmp/valgrind/bin:$PATH
	VG_MAKE=(SHELL="$TEST_ROOT/tests/tmp/valgrind/make-shell")
fi
export PATH DATA TEST_ROOT
HM_THREADS=${HM_THREADS:-2}
export HM_THREADS
test_count=0
test_failures=0
SCRATCH=$TEST_ROOT/tests/tmp/$(basename "$0" .sh).$$
rm -rf "$SCRATCH" && mkdir -p "$SCRATCH" || exit 1
trap 'rm -rf "$SCRATCH"' EXIT
cd "$SCRATCH" || exit 1

test_expect_success() {
	test_count=$((test_count + 1))
	if (eval "$2") >"$SCRATCH/.out" 2>&1; then
		echo "ok $test_count - $1"
	else
		echo "not ok $test_count - $1"
		sed 's/^/# /' "$SCRATCH/.out" | tail -n 30
		test_failures=$((test_failures + 1))
	fi
}

test_expect_code() {
	want=$1
	shift
	"$@"
	got=$?
	if [ "$got" != "$want" ]; then
		echo "expected exit $want, got $got: $*" >&2
		return 1
	fi
	return 0
}

# test_fails_cleanly CODE MESSAGE-SUBSTRING CMD...
test_fails_cleanly() {
	want=$1 msg=$2
	shift 2
	"$@" >.fail.out 2>.fail.err
	got=$?
	if [ "$got" != "$want" ]; then
		echo "expected exit $want, got $got: $*" >&2
		cat .fail.err >&2
		return 1
	fi
	if [ -s .fail.out ]; then
		echo "stdout not empty after failure: $*" >&2
		return 1
	fi
	if [ "$(wc -l <.fail.err)" -ne 1 ] && [ "$want" != 2 ]; then
		echo "stderr is not one line:" >&2
		cat .fail.err >&2
		return 1
	fi
	if ! grep -qF -- "$msg" .fail.err; then
		echo "stderr lacks '$msg':" >&2
		cat .fail.err >&2
		return 1
	fi
	return 0
}

# test_skip WHAT WHY: a test that cannot run here; TAP counts it as passed.
test_skip() {
	test_count=$((test_count + 1))
	echo "ok $test_count # skip $1: $2"
}

test_done() {
	echo "1..$test_count"
	[ "$test_failures" -eq 0 ]
}
