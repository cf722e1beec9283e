#!/bin/sh
# Runs in the rig's guest (busybox sh): VFIO loopback round trip of edu 0000:00:03.0 (MSI),
# the raw C probe against `irqbridge selftest --loopback`, ROUNDS times each, alternating;
# with CPUS (a taskset mask, e.g. 1) both run on those processors only.
# Prints both medians (raise to the receiver having run) and means; exit 1 when the bridge's
# median is above MAX_RATIO times the C probe's, or a run failed. The median, not the mean:
# under TCG on a busy host a cross-CPU wake-up sometimes waits milliseconds for the host to
# run the idle vCPU's thread, and a few of those decide the mean (same boot, C probe:
# p50 74 us, mean 2.9 ms).
# Both sides take the same two points: the C probe's writer stores the time just before the
# trigger ioctl and its receiver subtracts after reading the eventfd; the bridge's "stimulus to
# ISR" is InterruptObject.markStimulus() just before the raise to the start of the ISR call, as
# the dispatch loop records it (DispatchOptions.recordsTimings). The selftest's own "raise to
# seen by the raiser" also has the way back to the raising thread, which the C probe does not time.
# usage: guest-loopback.sh PROBES_DIR IRQBRIDGE COUNT ROUNDS MAX_RATIO [CPUS]
P=$1 IRQ=$2 COUNT=$3 ROUNDS=$4 MAX_RATIO=$5 CPUS=${6:-}
run() { if [ -n "$CPUS" ]; then taskset "$CPUS" "$@"; else "$@"; fi; }
c_rounds="" bridge_rounds="" failed=0 i=0
while [ $i -lt "$ROUNDS" ]; do
    i=$((i + 1))
    line=$(run "$P/edu-roundtrip" --backend vfio --mode msi --trigger loopback --count "$COUNT" | grep "^RESULT") || failed=$((failed + 1))
    echo "    $line"
    c_ns=$(echo "$line" | sed -n "s/.* p50_ns=\([0-9]*\).*/\1/p")
    c_mean=$(echo "$line" | sed -n "s/.* mean_ns=\([0-9]*\).*/\1/p")
    out=$(run "$IRQ" selftest --device 0000:00:03.0 --kinds msi --loopback --count "$COUNT") || failed=$((failed + 1))
    echo "$out" | sed "s/^/    /"
    b_us=$(echo "$out" | sed -n "s/.*stimulus to ISR p50 \([0-9.]*\) us.*/\1/p")
    b_mean=$(echo "$out" | sed -n "s/.*mean round trip \([0-9.]*\) us.*/\1/p")
    echo "round $i${CPUS:+ (taskset $CPUS)}: C probe loopback p50 ${c_ns:-?} ns (mean ${c_mean:-?} ns), bridge p50 ${b_us:-?} us (mean ${b_mean:-?} us)"
    if [ -z "$c_ns" ] || [ -z "$b_us" ]; then failed=$((failed + 1)); continue; fi
    c_rounds="$c_rounds $(awk "BEGIN { print $c_ns / 1000 }")"
    bridge_rounds="$bridge_rounds $b_us"
done
# The median over rounds of each round's p50 (a round is one process: sometimes the whole
# run is slow, a host wait of milliseconds per wake-up, and the mean over rounds followed it).
median() { echo "$1" | tr ' ' '\n' | grep . | sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) print 0; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
c_median=$(median "$c_rounds")
bridge_median=$(median "$bridge_rounds")
echo "rounds${CPUS:+ (taskset $CPUS)}: C probe p50s (us):$c_rounds; bridge p50s (us):$bridge_rounds"
awk "BEGIN { c = $c_median; b = $bridge_median; r = (c > 0) ? b / c : 99;
             printf \"loopback raise-to-ISR median of the rounds' p50s${CPUS:+ (taskset $CPUS)}: C probe %.1f us, bridge %.1f us, ratio %.2f (max $MAX_RATIO)\n\", c, b, r;
             exit (r <= $MAX_RATIO) ? 0 : 1 }" || failed=$((failed + 1))
exit $failed
