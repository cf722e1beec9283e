#!/usr/bin/env bash
# time-limit.sh SECONDS COMMAND [ARGUMENTS...]
#
# Runs COMMAND in a session of its own. If it is still running after SECONDS, prints
# the Swift Testing tests that had started and not ended (when COMMAND is `swift test`), then
# every thread's backtrace of each process in the session (gdb, when installed), ends them
# (SIGTERM, and SIGKILL 10 s later) and exits 124, as timeout(1) does. Otherwise exits with
# COMMAND's status. Run a test binary under `stdbuf -oL -eL` for its last lines to be in the
# output when it hangs, not left in its stdio buffer.
#
# Why: a test that hangs must fail its stage with what it was waiting for, not hold the run
# until CI's own limit kills it with nothing said.
set -uo pipefail
if (($# < 2)) || ! [[ $1 =~ ^[0-9]+$ ]] || (($1 == 0)); then
    echo "usage: time-limit.sh SECONDS COMMAND [ARGUMENTS...] (SECONDS a whole number above 0)" >&2
    exit 2
fi
limit=$1
shift
described="$*"

output=$(mktemp /tmp/time-limit.XXXXXX)
trap 'rm -f "$output"' EXIT
setsid "$@" > >(tee "$output") 2>&1 &
leader=$!
# Forward an interrupt of this script to the whole session (swift test runs its test
# binary in a process group of its own).
trap 'pkill -TERM -s "$leader"; wait "$leader"; exit 130' INT TERM

# Swift Testing's "◇ Test NAME started." lines without their "✔/✘ Test NAME passed/failed".
unfinished_tests() {
    awk '
        /^◇ Test (case |run started)/ { next }
        /^◇ Test .* started\.$/ { name = substr($0, length("◇ Test ") + 1); sub(/ started\.$/, "", name); open[name] = 1; next }
        /^(✔|✘) Test / {
            name = substr($0, length("✔ Test ") + 1)
            if (sub(/ (with [0-9]+ test cases? )?(passed|failed) after .*$/, "", name)) delete open[name]
        }
        END { for (name in open) print "time-limit: started, not ended: " name }
    ' "$output"
}

start=$SECONDS
while kill -0 "$leader" 2> /dev/null; do
    if ((SECONDS - start >= limit)); then
        echo
        echo "time-limit: still running after $limit s: $described"
        unfinished_tests
        for pid in $(pgrep -s "$leader"); do
            [[ -r /proc/$pid/cmdline ]] || continue
            command_line=$(tr '\0' ' ' < "/proc/$pid/cmdline")
            echo "time-limit: process $pid: ${command_line:0:300}"
            # The programs under test, not the shells, tools and toolchain around them.
            case $(readlink "/proc/$pid/exe" 2> /dev/null) in
                /opt/swift/* | /usr/share/swift/* | */bash | */sh | */dash | */timeout | */stdbuf | */sleep | */tee) continue ;;
            esac
            if command -v gdb > /dev/null; then
                timeout 120 gdb -p "$pid" -batch -nx -q -iex "set debuginfod enabled off" -ex "set pagination off" \
                    -ex "thread apply all bt 30" 2>&1 |
                    grep -vE "^\[New LWP|^warning: |^During symbol reading|libthread_db" | head -1500
            else
                echo "time-limit: gdb is not installed: no backtraces"
            fi
        done
        pkill -TERM -s "$leader"
        for _ in $(seq 10); do
            pgrep -s "$leader" > /dev/null || break
            sleep 1
        done
        pkill -KILL -s "$leader"
        wait "$leader" 2> /dev/null
        echo "time-limit: ended after $((SECONDS - start)) s: $described"
        exit 124
    fi
    sleep 1
done
wait "$leader"
