#!/usr/bin/env bash
# A rig's daemon under sustained interrupts and a harness's churn: whether its memory,
# descriptors and threads stay flat. Runs `irqbridge daemon` on simulated devices (no VFIO needed) with interrupts
# flowing, one device storming (contained and re-armed again and again: the run fails if it
# never is), and a harness's
# churn beside it: metrics scrapes, API reads, waits, triggers, event streams opened and
# dropped, disconnects and connects, reloads (SIGHUP and POST /v1/reload), statistics
# resets. Samples the daemon's resident memory, open descriptors and threads, and prints
# one line per sample and a verdict.
#
# usage: scripts/soak-daemon.sh [--minutes N] [--interval S] [--irqbridge PATH] [--keep DIR]
#   --minutes N: how long (default 10); --interval S: seconds between samples (default 15)
#   --irqbridge PATH: the binary (default: the release build, else the debug build)
# The first quarter of the run is its warm-up. Exit status: 0 when storm0 was contained at
# least once, at most a tenth of the harness's calls failed, descriptors ended where they
# were after the warm-up, threads within 4 of it, resident memory at the end (the last
# quarter's lowest reading) is at most 2 MiB above the second quarter's lowest, and the
# daemon exits 0 on SIGTERM; 1 otherwise (or when the daemon died); 2 on bad input.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

minutes=10 interval=15 irqbridge= keep=
usage() { sed -n '2,/^set /p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }
while (($#)); do
    case $1 in
        --minutes) minutes=${2:?--minutes needs a number}; shift 2 ;;
        --interval) interval=${2:?--interval needs seconds}; shift 2 ;;
        --irqbridge) irqbridge=${2:?--irqbridge needs a path}; shift 2 ;;
        --keep) keep=${2:?--keep needs a directory}; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "soak-daemon.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
    esac
done
[[ $minutes =~ ^[1-9][0-9]*$ ]] || { echo "soak-daemon.sh: --minutes wants a whole number of minutes, not '$minutes'" >&2; exit 2; }
[[ $interval =~ ^[1-9][0-9]*$ ]] || { echo "soak-daemon.sh: --interval wants whole seconds, not '$interval'" >&2; exit 2; }
samples=$(( minutes * 60 / interval ))
(( samples >= 8 )) || { echo "soak-daemon.sh: --minutes $minutes at --interval $interval gives fewer than 8 samples" >&2; exit 2; }
if [[ -z $irqbridge ]]; then
    irqbridge=$(swift build -c release --show-bin-path)/irqbridge
    [[ -x $irqbridge ]] || irqbridge=$(swift build --show-bin-path)/irqbridge
fi
[[ -x $irqbridge ]] || { echo "soak-daemon.sh: no irqbridge binary at $irqbridge (swift build -c release)" >&2; exit 2; }
command -v curl >/dev/null || { echo "soak-daemon.sh: needs curl" >&2; exit 2; }

if [[ -n $keep ]]; then mkdir -p "$keep"; work=$(cd "$keep" && pwd); else work=$(mktemp -d /tmp/irqbridge-soak.XXXXXX); fi
socket=$work/run/control.sock
port=$((20000 + RANDOM % 20000))
config=$work/daemon.yaml
# A simulated device's rate is per vector. storm0 raises 50,000/s against a rate rule of
# 1,000 per 100 ms (the others stay below it: sim0's 8 vectors 2,000/s each, line 500/s): contained within a tenth of a second,
# re-armed after its back-off (1 s, doubling while it storms) or by the harness's rearm.
# Written whole and renamed into place: a SIGHUP never reads half a file.
write_config() {
    cat > "$config.new" <<YAML
settings:
  socket: $socket
  metrics: 127.0.0.1:$port
  state-directory: $work/state
  milestone: 100000
  log-level: ${1:-notice}
  storm: {rate-limit: 1000, rate-window-ms: 100}
simulated:
  sim0: {interrupts: msix, vectors: 8, rate: 2000, per-message-metrics: true}
  line: {interrupts: intx, rate: 500}
  storm0: {interrupts: msi, rate: 50000}
YAML
    mv "$config.new" "$config"
}
write_config notice
"$irqbridge" daemon --config "$config" >"$work/daemon.log" 2>&1 &
daemon=$!
churn=
cleanup() {
    set +e  # every step runs, whatever the one before returned (a killed child's wait is 143)
    [[ -n $churn ]] && { kill "$churn"; wait "$churn"; } 2>/dev/null
    kill "$daemon" 2>/dev/null && wait "$daemon" 2>/dev/null
    [[ -n $keep ]] || rm -rf "$work"
}
trap cleanup EXIT
# Each call's verb is written to calls.ok or calls.failed: a churn whose calls all failed
# would leave the daemon idle, and the run would prove nothing.
: > "$work/calls.ok"; : > "$work/calls.failed"  # a kept directory's earlier run does not count
ctl() {
    if "$irqbridge" ctl "$@" --socket "$socket" >/dev/null 2>&1; then echo "$1" >> "$work/calls.ok"; else echo "$1" >> "$work/calls.failed"; fi
}
for _ in $(seq 200); do
    "$irqbridge" ctl health --socket "$socket" 2>/dev/null | grep -q ready && break
    sleep 0.05
done
"$irqbridge" ctl health --socket "$socket" >/dev/null 2>&1 || { echo "soak-daemon.sh: the daemon did not come up:" >&2; tail -5 "$work/daemon.log" >&2; exit 1; }

# The harness: one round a second, each verb every few rounds.
(
    round=0
    while :; do
        round=$((round + 1))
        curl -s --max-time 5 "http://127.0.0.1:$port/metrics" >/dev/null || true
        ctl devices; ctl stats sim0; ctl show line
        ctl wait line --count 5 --timeout 2
        ctl trigger line --count 3
        (( round % 3 == 0 )) && ctl events --timeout 1
        (( round % 5 == 0 )) && { ctl disconnect sim0; ctl connect sim0; }
        (( round % 7 == 0 )) && ctl reset
        (( round % 11 == 0 )) && kill -HUP "$daemon" 2>/dev/null
        # A reload that changes something: the log level, back and forth.
        (( round % 13 == 0 )) && { write_config $( (( round % 26 == 0 )) && echo info || echo notice ); ctl reload; }
        (( round % 17 == 0 )) && ctl rearm storm0
        sleep 1
    done
) &
churn=$!

sample() {
    local status=/proc/$daemon/status
    [[ -r $status ]] || return 1
    local rss threads fds
    rss=$(awk '/^VmRSS:/ { print $2 }' "$status")
    threads=$(awk '/^Threads:/ { print $2 }' "$status")
    fds=$(find "/proc/$daemon/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
    echo "$rss $fds $threads"
}
# The sum of a metric's series (every device's; with a device name, that device's only).
metric() {
    { curl -s --max-time 5 "http://127.0.0.1:$port/metrics" || true; } \
        | awk -v name="$1" -v device="${2:-}" '$1 ~ "^" name "(\\{|$)" && (device == "" || index($1, "device=\"" device "\"")) { sum += $NF } END { printf "%.0f", sum }'
}
printf '%8s  %10s  %5s  %7s  %12s\n' elapsed rss-kib fds threads interrupts
declare -a rss_at fds_at threads_at
start=$SECONDS
for ((i = 0; i < samples; i++)); do
    sleep "$interval"
    read -r rss fds threads < <(sample) || { echo "soak-daemon.sh: the daemon died; its log:" >&2; tail -20 "$work/daemon.log" >&2; exit 1; }
    interrupts=$(metric irqbridge_interrupts_total)
    rss_at[i]=$rss fds_at[i]=$fds threads_at[i]=$threads
    printf '%7ss  %10s  %5s  %7s  %12s\n' $((SECONDS - start)) "$rss" "$fds" "$threads" "$interrupts"
done
storms=$(metric irqbridge_storms_total storm0)
kill "$churn" 2>/dev/null; wait "$churn" 2>/dev/null || true; churn=
# Let in-flight calls finish before the last reading of descriptors and threads.
sleep 3
read -r _ fds_end threads_end < <(sample) || { echo "soak-daemon.sh: the daemon died at the end" >&2; exit 1; }

# The first quarter is the warm-up (allocator arenas, metric series, event buffers
# filled, each verb's first call); the lowest reading of the second quarter is what the
# daemon holds at rest after it, and the lowest of the last quarter is compared with it.
quarter=$(( samples / 4 ))
lowest() { local from=$1 to=$2 low=${rss_at[$1]} i; for ((i = from; i < to; i++)); do (( rss_at[i] < low )) && low=${rss_at[i]}; done; echo "$low"; }
base=$(lowest "$quarter" $(( 2 * quarter )))
low=$(lowest $(( samples - quarter )) "$samples")
growth=$(( low - base ))
# A sample can catch a call in flight (one more connection or thread) or sim0 between its
# disconnect and connect (its eventfds closed): the second quarter's median is the warm
# daemon at rest, against the reading after the churn stopped.
# Threads get a margin of 4: libdispatch starts and retires its workers on demand, where a
# leak (a thread per call or per stream) grows by hundreds over a run.
median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
fds_base=$(median "${fds_at[@]:quarter:quarter}")
threads_base=$(median "${threads_at[@]:quarter:quarter}")
verdict=0
echo "resident memory: ${base} KiB after the warm-up (lowest of the second quarter), ${low} KiB at the end (lowest of the last quarter): ${growth} KiB"
echo "descriptors: ${fds_base} after the warm-up (median of the second quarter), ${fds_end} at the end; threads: ${threads_base}, ${threads_end}"
echo "storm0 contained ${storms} time(s)"
if (( storms == 0 )); then echo "FAIL: storm0 was never contained: the storm path was not exercised"; verdict=1; fi
lines() { if [[ -f $1 ]]; then wc -l < "$1"; else echo 0; fi; }
calls_ok=$(lines "$work/calls.ok") calls_failed=$(lines "$work/calls.failed")
echo "harness calls: ${calls_ok} answered, ${calls_failed} failed$( ((calls_failed > 0)) && sort "$work/calls.failed" | uniq -c | awk '{ printf "%s %s %s", (NR == 1 ? " (" : ","), $2, $1 } END { printf ")" }')"
if (( calls_ok == 0 || calls_failed * 10 > calls_ok + calls_failed )); then echo "FAIL: more than a tenth of the harness's calls failed"; verdict=1; fi
if (( growth > 2048 )); then echo "FAIL: resident memory grew by ${growth} KiB"; verdict=1; fi
if (( fds_end > fds_base )); then echo "FAIL: descriptors went from ${fds_base} to ${fds_end}"; verdict=1; fi
if (( threads_end > threads_base + 4 )); then echo "FAIL: threads went from ${threads_base} to ${threads_end}"; verdict=1; fi
if ! kill -TERM "$daemon" 2>/dev/null; then
    echo "FAIL: the daemon was gone before SIGTERM"; tail -5 "$work/daemon.log"; verdict=1
else
    wait "$daemon" && stopped=0 || stopped=$?
    if (( stopped != 0 )); then echo "FAIL: the daemon exited $stopped on SIGTERM"; tail -5 "$work/daemon.log"; verdict=1; fi
fi
(( verdict == 0 )) && echo "PASS: flat after ${minutes} minutes"
exit "$verdict"
