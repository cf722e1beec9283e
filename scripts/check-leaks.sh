#!/usr/bin/env bash
# The runtime and WDK unit suites under LeakSanitizer (issue 10: "After disconnect
# and shutdown nothing may stay reachable"). LeakSanitizer is part of ASan on
# Linux: the package is built with `--sanitize=address` into .build-asan (the
# toolchain's own compiler-rt runtime; no clang package needed) and run with
# detect_leaks=1. Leaks are reported when each test process exits; any report,
# in the test process or a CLI it spawned, fails this stage, except what
# scripts/lsan-suppressions.txt names (code this project does not own).
# The build leaves the daemon and its server stack out (INTERRUPTBRIDGE_WITHOUT_DAEMON, see
# Package.swift), which halves its time, unless --with-daemon asks for the daemon's suites.
#
# usage: scripts/check-leaks.sh [--no-build] [--with-daemon] [--filter REGEX]
#   --filter REGEX  the suites to run (default: the runtime and WDK suites)
#   --with-daemon   build the daemon too (into .build-asan-daemon), to run its suites
# Exit: 0 clean, 1 leaks or failing tests, 2 bad usage, 3 build failed.
set -euo pipefail
cd "$(dirname "$0")/.."

build=1
with_daemon=0
filter='InterruptBridgeTests|InterruptBridgeWDKTests'
while [[ $# -gt 0 ]]; do
    case $1 in
        --no-build) build=0; shift ;;
        --with-daemon) with_daemon=1; shift ;;
        --filter) [[ $# -ge 2 ]] || { echo "check-leaks: --filter needs a REGEX" >&2; exit 2; }; filter=$2; shift 2 ;;
        -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "check-leaks: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done

scratch=.build-asan
if [[ $with_daemon == 1 ]]; then
    scratch=.build-asan-daemon
else
    export INTERRUPTBRIDGE_WITHOUT_DAEMON=1
fi
if [[ $build == 1 ]]; then
    swift build --build-tests --sanitize=address --scratch-path "$scratch" || exit 3
fi

log=$(mktemp "${TMPDIR:-/tmp}/check-leaks.XXXXXX")
trap 'rm -f "$log"' EXIT
# Children (the CLI the tests spawn) inherit both variables.
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0"
export LSAN_OPTIONS="suppressions=$PWD/scripts/lsan-suppressions.txt:print_suppressions=0"
status=0
swift test --skip-build --sanitize=address --scratch-path "$scratch" --filter "$filter" >"$log" 2>&1 || status=$?

reports=$(grep -c 'ERROR: LeakSanitizer' "$log" || true)
grep -E '^\s*(✘|SUMMARY: AddressSanitizer)|Test run with' "$log" || true
if [[ $reports -gt 0 ]]; then
    echo "check-leaks: LeakSanitizer reported leaks in $reports process(es); the largest records:" >&2
    # The first frames of this project's code in each record, largest first.
    awk '/^ *(Direct|Indirect) leak of/ { if (rec) print bytes "\t" rec; bytes = $4; rec = ""; next }
         /\/(Sources|Tests)\// && rec == "" { sub(/^.* in /, ""); rec = $0 }
         END { if (rec) print bytes "\t" rec }' "$log" | sort -rn | head -20 >&2 || true
    exit 1
fi
if [[ $status -ne 0 ]]; then
    echo "check-leaks: the tests failed under ASan (exit $status)" >&2
    tail -40 "$log" >&2
    exit 1
fi
echo "check-leaks: no leaks ($filter)"
