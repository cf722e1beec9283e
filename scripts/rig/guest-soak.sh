#!/bin/sh
# Runs in the rig's guest (busybox sh): `irqbridge daemon` for SECONDS of wall time under the
# cycles a test harness repeats for weeks, sampling after each cycle what could grow with the
# number of cycles (scripts/rig/soak.sh starts it and judges the table on the host).
# Devices (as scripts/rig/daemon.sh's):
#   0000:00:03.0 edu, MSI (never reconnected: its count is compared with /proc/interrupts whole)
#   0000:00:04.0 edu, INTx, line-based     0000:00:05.0 ivshmem-doorbell, 4 MSI-X (by ids)
#   0000:00:07.0 e1000e, 5 MSI-X, taken from e1000e
#   0000:00:09.0 edu, added by a SIGHUP at each cycle's start, stormed against a rate rule
#                (contained, re-armed, raised again), removed by a SIGHUP at the cycle's end
#   0000:01:00.0 edu0, hot-pluggable: pulled by QMP while `ctl trigger` raises on it, added back
# (Processes put in the background run $IRQ itself, not the ctl function: kill must reach them.)
# Each cycle: bursts through `ctl trigger` on every device, their counts against the daemon's
# kernel counts (strict/signals, as guest-daemon.sh) and the cumulative counts of 03.0/05.0/07.0
# against /proc/interrupts; the storm; a malformed file (reload-rejected); `ctl wait` arrived and
# timed out; health, devices, show, stats, events (a stream opened and dropped), metrics (ctl and
# HTTP); bad requests (ctl and raw HTTP on the api port). Then one SAMPLE line:
#   SAMPLE cycle t fds eventfd vfio-device eventpoll timerfd socket vfio-files uio other rss-kB hwm-kB threads
#          watchers edu-daemon edu-kernel ivshmem-daemon ivshmem-kernel e1000e-signals e1000e-kernel
#          known-devices metric-series binding-records vfio-lines-in-/proc/interrupts
#          edu0's and 03.0's irqbridge_interrupts_total and irqbridge_kernel_interrupts_total
#          RssAnon-kB (the heap's share of rss-kB; the rest is mostly the binary's pages)
#          edu0's interrupts after the metrics' last reading of its old connection (the
#          kernel's count of those goes with the old connection: a drift by design)
#          ms-health ms-devices ms-stats ms-metrics ms-http-metrics failed-checks
# plus "FDS cycle kind=count ..." (every fd target kind) and FAIL lines for checks that failed.
# usage: guest-soak.sh IRQBRIDGE E1000E_KO SECONDS
IRQ=$1
E1000E_KO=$2
SECONDS_TOTAL=${3:-900}
W=/tmp/soak
mkdir -p $W
fails=0
cycle_fails=0
fail() { fails=$((fails + 1)); cycle_fails=$((cycle_fails + 1)); echo "FAIL cycle $cycle: $*"; }
ctl() { $IRQ ctl "$@"; }
now() { cut -d' ' -f1 /proc/uptime; }
# metric_in FILE NAME DEVICE: the sum of NAME's series for DEVICE in a Prometheus text.
metric_in() { awk -v name="$2" -v dev="$3" 'index($0, name "{") == 1 && index($0, "device=\"" dev "\"") { t += $NF } END { printf "%d", t }' "$1"; }
tail_lost=0
step() { echo "STEP $cycle $(now) $*"; }
ms_since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%d", (b - a) * 1000 }'; }

EDU=0000:00:03.0 INTX=0000:00:04.0 IVSHMEM=0000:00:05.0 E1000E=0000:00:07.0 ADDED=0000:00:09.0
PORT=${IRQBRIDGE_RIG_HOTPLUG#edu0=}
STATE=/run/irqbridge
METRICS=127.0.0.1:9464 API=127.0.0.1:9465

driver() { d=$(readlink "/sys/bus/pci/devices/$1/driver" 2>/dev/null) && basename "$d" || echo none; }
state_of() { ctl show "$1" 2>/dev/null | awk '{ print $2; exit }'; }
field() { sed -n "s/.*\"$1\":\([0-9a-z.]*\).*/\1/p" | head -n1; }
vectors() {
    ctl stats "$1" --json | sed -E 's/"(isrDuration|stimulusToISR)":\{[^}]*\},?//g' | awk '
        function f(s, k) { if (match(s, "\"" k "\":[0-9]+")) return substr(s, RSTART + length(k) + 3, RLENGTH - length(k) - 3); return "-" }
        BEGIN { RS = "{" }
        /"interrupts":/ && /"message":/ { print f($0, "message"), f($0, "interrupts"), f($0, "kernel"), f($0, "signals") }'
}
wait_until() {
    limit=$(($1 * 5)); shift; i=0
    while [ $i -lt $limit ]; do "$@" && return 0; sleep 0.2; i=$((i + 1)); done
    return 1
}
is_ready() { ctl health --json 2>/dev/null | grep -q '"ready":true'; }
is_state() { [ "$(state_of "$1")" = "$2" ]; }
reloads() { ctl health --json | field reloads; }
watchers() { ctl health --json 2>/dev/null | field eventWatchers; }
# kernel_count BDF: the sum of /proc/interrupts' per-CPU columns over the lines naming BDF.
kernel_count() {
    awk -v bdf="$1" -v cpus="$(head -n1 /proc/interrupts | wc -w)" '
        index($0, bdf) { for (i = 2; i <= cpus + 1; i++) total += $i } END { print total + 0 }' /proc/interrupts
}

config() {
    file=$1; shift
    cat > "$file.new" <<EOF
settings:
  socket: $STATE/control.sock
  state-directory: $STATE
  metrics: $METRICS
  api: $API
  milestone: 1000
  log-level: notice
devices:
  "$EDU": {driver: vfio-pci, connect: message-based, profile: edu, on-exit: restore}
  "1af4:1110": {profile: ivshmem-doorbell}
  "$E1000E": {from: e1000e, profile: e1000e}
  "$PORT": {profile: edu}
  "$INTX": {connect: line-based, profile: edu}
EOF
    for extra in "$@"; do
        echo "  \"$extra\": {profile: edu, storm: {rate-limit: 20, rate-window-ms: 100}}" >> "$file.new"
    done
    mv "$file.new" "$file"
}

# expect_counts LABEL ID KIND N: N raised through `ctl trigger`; per vector, what the daemon
# counted meanwhile against the kernel's count meanwhile (as guest-daemon.sh's, on differences,
# so a device never reset is checked as well):
#   strict  interrupts == kernel per vector, N in all      signals  kernel == signals, >= N in all
expect_counts() {
    label=$1 id=$2 kind=$3 n=$4
    vectors "$id" > $W/vectors.before || { fail "$label: ctl stats"; return; }
    out=$(ctl trigger "$id" --count "$n" 2>&1) || { fail "$label: ctl trigger: $out"; return; }
    vectors "$id" > $W/vectors.after || { fail "$label: ctl stats"; return; }
    verdict=$(paste -d' ' $W/vectors.before $W/vectors.after | awk -v kind="$kind" -v n="$n" '
        { i = $6 - $2; k = $7 - $3; s = $8 - $4; total += i; lines++
          if ($3 == "-" || $7 == "-") bad = bad " message " $1 " has no kernel count"
          else if (kind == "strict" && i != k) bad = bad " message " $1 ": " i " interrupts, kernel " k
          else if (kind == "signals" && k != s) bad = bad " message " $1 ": kernel " k ", signals " s }
        END { if (lines == 0) bad = " no vectors"
              if (kind == "strict" && total != n) bad = bad " " total " interrupts for " n " raised"
              if (kind == "signals" && total < n) bad = bad " " total " interrupts for " n " raised"
              print bad }')
    [ -z "$verdict" ] || fail "$label:$verdict"
}
# total ID COLUMN: the sum over the device's vectors of column 2 (interrupts) or 4 (signals).
total() { vectors "$1" | awk -v c="$2" '{ t += $c } END { print t + 0 }'; }

sample() {
    pid=$daemon
    t=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%d", b - a }')
    for f in /proc/$pid/fd/*; do readlink "$f"; done > $W/fds 2>/dev/null
    kinds=$(awk '
        /^anon_inode:\[eventfd\]/ { k = "eventfd" } /^anon_inode:\[vfio-device\]/ { k = "vfio-device" }
        /^anon_inode:\[eventpoll\]/ { k = "eventpoll" } /^anon_inode:\[timerfd\]/ { k = "timerfd" }
        /^anon_inode:inotify/ { k = "inotify" } /^socket:/ { k = "socket" } /^pipe:/ { k = "pipe" }
        /^\/dev\/vfio\// { k = "vfio-files" } /^\/dev\/uio/ { k = "uio" } /^\/dev\/null/ { k = "devnull" }
        /^\/sys\// { k = "sysfs" } /^\/proc\// { k = "procfs" } /^\/run\// { k = "run" }
        { if (k == "") k = "other:" $0; n[k]++; k = "" }
        END { for (k in n) printf "%s=%d ", k, n[k] }' $W/fds)
    echo "FDS $cycle $kinds"
    kind_of() { k=$(echo "$kinds" | tr ' ' '\n' | sed -n "s/^$1=//p" | head -n1); echo "${k:-0}"; }
    others=$(echo "$kinds" | tr ' ' '\n' | awk -F= '$1 !~ /^(eventfd|vfio-device|eventpoll|timerfd|socket|vfio-files|uio)$/ && NF == 2 { t += $2 } END { print t + 0 }')
    rss=$(awk '/^VmRSS/ { print $2 }' /proc/$pid/status)
    hwm=$(awk '/^VmHWM/ { print $2 }' /proc/$pid/status)
    threads=$(awk '/^Threads/ { print $2 }' /proc/$pid/status)
    anon=$(awk '/^RssAnon/ { print $2 }' /proc/$pid/status)
    s=$(now); ctl health --json > $W/health; ms_health=$(ms_since $s)
    w=$(field eventWatchers < $W/health)
    s=$(now); ctl devices > /dev/null; ms_devices=$(ms_since $s)
    s=$(now); edu_d=$(total $EDU 2); ms_stats=$(ms_since $s)
    edu_k=$(kernel_count $EDU)
    iv_d=$(total $IVSHMEM 2); iv_k=$(kernel_count $IVSHMEM)
    e1_s=$(total $E1000E 4); e1_k=$(kernel_count $E1000E)
    s=$(now); ctl metrics > $W/metrics; ms_metrics=$(ms_since $s)
    s=$(now); wget -q -O $W/http-metrics "http://$METRICS/metrics"; ms_http=$(ms_since $s)
    [ "$edu_d" = "$edu_k" ] || fail "cumulative: $EDU daemon $edu_d, /proc/interrupts $edu_k"
    [ "$iv_d" = "$iv_k" ] || fail "cumulative: $IVSHMEM daemon $iv_d, /proc/interrupts $iv_k"
    [ "$e1_s" = "$e1_k" ] || fail "cumulative: $E1000E signals $e1_s, /proc/interrupts $e1_k"
    known=$(field devices < $W/health)
    # The metrics' own pairs (irqbridge_interrupts_total, irqbridge_kernel_interrupts_total) for
    # edu0, reconnected every cycle by its pull, and for 03.0, never reconnected.
    metric() { metric_in $W/http-metrics "$@"; }
    mp_i=$(metric irqbridge_interrupts_total $PORT); mp_k=$(metric irqbridge_kernel_interrupts_total $PORT)
    me_i=$(metric irqbridge_interrupts_total $EDU); me_k=$(metric irqbridge_kernel_interrupts_total $EDU)
    mlines=$(grep -vc '^#' $W/http-metrics)
    records=$(ls $STATE/bindings 2>/dev/null | wc -l)
    klines=$(grep -c 'vfio' /proc/interrupts)
    open_fds=$(sed -n 's/^process_open_fds \([0-9]*\).*/\1/p' $W/http-metrics)
    [ "$open_fds" -ge 1 ] 2>/dev/null || fail "HTTP metrics: no process_open_fds"
    echo "SAMPLE $cycle $t $(wc -l < $W/fds) $(kind_of eventfd) $(kind_of vfio-device) $(kind_of eventpoll) $(kind_of timerfd) $(kind_of socket) $(kind_of vfio-files) $(kind_of uio) $others $rss $hwm $threads $w $edu_d $edu_k $iv_d $iv_k $e1_s $e1_k $known $mlines $records $klines $mp_i $mp_k $me_i $me_k $anon $tail_lost $ms_health $ms_devices $ms_stats $ms_metrics $ms_http $cycle_fails"
}

# ---------------------------------------------------------------- start
ip link set lo up 2>/dev/null || ifconfig lo 127.0.0.1 up
insmod "$E1000E_KO" 2>/dev/null
wait_until 20 test "$(driver $E1000E)" = e1000e
config $W/config.yaml
$IRQ daemon --config $W/config.yaml 2> $W/daemon.log &
daemon=$!
cycle=0
wait_until 60 is_ready || { echo "FAIL the daemon never became ready"; tail -n 40 $W/daemon.log; exit 1; }
# One stream for the whole run (a harness's monitoring); others are opened and dropped.
$IRQ ctl events > $W/events 2> $W/events.err &
stream=$!
t0=$(now)
sample
end=$(awk -v a="$t0" -v s="$SECONDS_TOTAL" 'BEGIN { print a + s }')

while awk -v e="$end" -v n="$(now)" 'BEGIN { exit !(n < e) }'; do
    cycle=$((cycle + 1)) cycle_fails=0
    kill -0 $daemon 2>/dev/null || { echo "FAIL cycle $cycle: the daemon is gone"; break; }

    step "add $ADDED"
    # SIGHUP: 09.0 added (with a tight rate rule).
    config $W/config.yaml "$ADDED"
    kill -HUP $daemon
    wait_until 30 is_state $ADDED connected || fail "SIGHUP did not connect $ADDED ($(state_of $ADDED))"

    step bursts
    # Bursts: counts agree with the kernel's (since the reset of the devices that are reset).
    expect_counts "edu MSI" $EDU strict 200
    ctl reset $INTX > /dev/null
    expect_counts "edu INTx" $INTX strict 200
    expect_counts "ivshmem MSI-X" $IVSHMEM strict 200
    expect_counts "e1000e MSI-X" $E1000E signals 200
    ctl reset $ADDED > /dev/null
    expect_counts "edu $ADDED before the storm" $ADDED strict 10

    step storm
    # The storm: 09.0 raised as fast as it goes against 20 per 100 ms; contained, re-armed
    # (the harness's rearm), then it counts again.
    storms=$(grep -c "\"device\":\"$ADDED\".*\"kind\":\"storm\"" $W/events)
    # Paced: an unpaced raise waits up to 1 s for its ISR, and a contained vector runs none.
    ctl trigger $ADDED --count 400 --rate 2000 > $W/storm.out 2>&1
    wait_until 10 sh -c "[ \$(grep -c '\"device\":\"$ADDED\".*\"kind\":\"storm\"' $W/events) -gt $storms ]" \
        || fail "no storm event for $ADDED ($(cat $W/storm.out))"
    ctl rearm $ADDED > $W/rearm.out 2>&1 || fail "ctl rearm $ADDED: $(cat $W/rearm.out)"
    ctl reset $ADDED > /dev/null
    ctl trigger $ADDED --count 20 --rate 50 > /dev/null 2>&1
    ctl wait $ADDED --count 20 --timeout 5 --since-reset > $W/wait.out 2>&1 || fail "after the storm's rearm: $(cat $W/wait.out)"

    step reloads
    # A malformed file, then 09.0 removed.
    echo "devices: {" > $W/config.yaml
    kill -HUP $daemon
    wait_until 20 sh -c "[ \$(grep -c '\"kind\":\"reload-rejected\"' $W/events) -ge $cycle ]" \
        || fail "reload-rejected events: $(grep -c '"kind":"reload-rejected"' $W/events) after $cycle cycles"
    config $W/config.yaml
    kill -HUP $daemon
    wait_until 30 sh -c "! $IRQ ctl show $ADDED > /dev/null 2>&1" || fail "SIGHUP did not remove $ADDED"
    wait_until 10 test "$(driver $ADDED)" = none || fail "$ADDED not given back ($(driver $ADDED))"

    step waits
    # ctl wait: arrived, timed out, bad requests.
    ctl reset $INTX > /dev/null && ctl trigger $INTX --count 10 > /dev/null \
        && ctl wait $INTX --count 10 --timeout 5 --since-reset > $W/wait.out 2>&1 || fail "ctl wait (arrived): $(cat $W/wait.out)"
    ctl wait $EDU --timeout 1 > $W/wait.out 2>&1; status=$?
    [ $status -eq 1 ] || fail "ctl wait (timeout): exit $status $(cat $W/wait.out)"
    ctl wait $EDU --vector 3 --timeout 1 > /dev/null 2>&1; status=$?
    [ $status -eq 2 ] || fail "ctl wait on a missing vector: exit $status"
    ctl trigger $IVSHMEM --vector 9 > /dev/null 2>&1; status=$?
    [ $status -eq 2 ] || fail "ctl trigger on a missing vector: exit $status"
    ctl trigger 0000:00:1f.3 > /dev/null 2>&1; status=$?
    [ $status -eq 2 ] || fail "ctl trigger on an unknown device: exit $status"
    # Raw HTTP on the api port: garbage, a bad body, a request left half-sent, an unknown path.
    printf 'GARBAGE\r\n\r\n' | nc -w 2 127.0.0.1 9465 > /dev/null 2>&1
    printf 'POST /v1/devices/%s/trigger HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 7\r\nConnection: close\r\n\r\n{"count' "$EDU" | nc -w 2 127.0.0.1 9465 > /dev/null 2>&1
    printf 'GET /v1/devi' | nc -w 1 127.0.0.1 9465 > /dev/null 2>&1
    wget -q -O /dev/null "http://$API/v1/nothing" 2>/dev/null
    wget -q -O /dev/null "http://$METRICS/nothing" 2>/dev/null
    printf 'GET /metrics HTTP/1.1\r\n' | nc -w 1 127.0.0.1 9464 > /dev/null 2>&1

    step reads
    # Reads a harness makes: an event stream opened and dropped, show, save-config.
    $IRQ ctl events > /dev/null 2>&1 &
    dropped=$!
    ctl show $EDU > /dev/null; ctl show $E1000E --json > /dev/null
    ctl events --count 1 --timeout 1 > /dev/null 2>&1
    kill $dropped 2>/dev/null; wait $dropped 2>/dev/null

    step hotplug
    # edu0 pulled while `ctl trigger` raises on it, then added back.
    # The metrics' edu0 pair before the pull: afterwards the kernel series must have risen by
    # the new connection's kernel count (the old one's after this scrape are lost with its line).
    wget -q -O $W/pre-metrics "http://$METRICS/metrics"
    k1=$(metric_in $W/pre-metrics irqbridge_kernel_interrupts_total $PORT)
    i1=$(metric_in $W/pre-metrics irqbridge_interrupts_total $PORT)
    $IRQ ctl trigger $PORT --count 100000 --rate 200 > $W/hot-trigger.out 2>&1 &
    trigger=$!
    ctl wait $PORT --count 20 --timeout 30 > $W/wait.out 2>&1 || fail "edu0 before the pull: $(cat $W/wait.out)"
    rig-hotplug remove edu0 > $W/hotplug.out 2>&1 || fail "rig-hotplug remove: $(cat $W/hotplug.out)"
    wait_until 15 sh -c "! kill -0 $trigger 2>/dev/null" || fail "ctl trigger on the pulled edu0 did not end"
    kill $trigger 2>/dev/null; wait $trigger 2>/dev/null
    wait_until 15 is_state $PORT removed || fail "edu0 not removed ($(state_of $PORT))"
    rig-hotplug add edu0 > $W/hotplug.out 2>&1 || fail "rig-hotplug add: $(cat $W/hotplug.out)"
    wait_until 30 is_state $PORT connected || fail "edu0 not connected again ($(state_of $PORT))"
    expect_counts "edu0 after it came back" $PORT strict 50
    wget -q -O $W/post-metrics "http://$METRICS/metrics"
    k2=$(metric_in $W/post-metrics irqbridge_kernel_interrupts_total $PORT)
    i2=$(metric_in $W/post-metrics irqbridge_interrupts_total $PORT)
    new_k=$(vectors $PORT | awk '{ t += $3 } END { print t + 0 }')
    new_i=$(vectors $PORT | awk '{ t += $2 } END { print t + 0 }')
    tail_lost=$((i2 - i1 - new_i))
    [ $((k2 - k1)) -eq "$new_k" ] \
        || fail "metrics: edu0's irqbridge_kernel_interrupts_total rose by $((k2 - k1)) over the pull; its new connection's kernel count is $new_k"

    kill -0 $stream 2>/dev/null || fail "the long event stream ended ($(cat $W/events.err))"
    sample
done

echo "EVENTS $(wc -l < $W/events) lines in the long stream; kinds: $(sed -n 's/.*"kind":"\([a-z-]*\)".*/\1/p' $W/events | sort | uniq -c | awk '{ printf "%s=%s ", $2, $1 }')"
grep -E 'error|critical|warning' $W/daemon.log | sed 's/^/LOG /' | sort | uniq -c | sort -rn | head -n 20
kill -TERM $daemon; wait $daemon; status=$?
[ $status -eq 0 ] || fail "SIGTERM: exit $status"
echo "soak: $cycle cycles, $fails failed checks"
exit $((fails > 0))
