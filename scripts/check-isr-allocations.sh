#!/usr/bin/env bash
# Checks that the dispatch loop's interrupt path, and ISRs running a device
# profile's acknowledge program, do not allocate: counts
# malloc/calloc/realloc/aligned allocations made on "irqbridge-isr" threads
# (an LD_PRELOAD interposer) while the latency report serves N interrupts, for
# two values of N. Set-up (threads, slot tables, connects) allocates a fixed
# amount; if serving interrupts allocated, the count would grow with N.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The one malloc-counting interposer (Sources/CAllocationCounter, which the
# irqbridge executable links), built as a preload library that also totals the
# allocations of threads named irqbridge-isr and prints them at exit.
cc -shared -fPIC -O2 -Wall -Werror -DCAC_PRELOAD_THREAD_PREFIX='"irqbridge-isr"' -ISources/CAllocationCounter/include \
    -o "$work/count.so" Sources/CAllocationCounter/interposer.c
swift build --build-tests >/dev/null
bundle=$(swift build --show-bin-path)/InterruptBridgePackageTests.xctest
# count ROUNDS_VARIABLE ROUNDS SUITE: allocations on dispatch threads while SUITE runs.
count() {
    env "$1=$2" LD_PRELOAD="$work/count.so" "$bundle" --testing-library swift-testing \
        --filter "$3" 2>&1 | tee /dev/stderr | awk '/isr-thread-allocations/ { print $2 }'
}
small=$(count IRQBRIDGE_LATENCY_ROUNDS 1000 DispatchLatencyReport)
large=$(count IRQBRIDGE_LATENCY_ROUNDS 10000 DispatchLatencyReport)
echo "allocations on dispatch threads: $small with 1000 interrupts per configuration, $large with 10000"
# Set-up allocates on those threads in every run: nothing counted means the
# interposer or the thread name is broken, not that the path is clean.
if [[ -z $small || -z $large ]] || (( small == 0 )); then
    echo "FAIL: nothing was counted on irqbridge-isr threads (is the interposer loaded, the thread name still irqbridge-isr?)" >&2
    exit 1
fi
# Command processing at set-up varies by a handful with timing; 45000 more
# interrupts (five configurations, two of them recording timings:
# DispatchOptions.recordsTimings) allocating even once each would add thousands.
if (( large > small + 100 )); then
    echo "FAIL: the interrupt path allocates (about $(( (large - small + 22500) / 45000 )) per interrupt)" >&2
    exit 1
fi
echo "ok: the interrupt path does not allocate"

# The same with ISRs that run a device profile's compiled acknowledge program
# (InterruptBridgeTooling), message-based and line-based: 18000 more interrupts.
small=$(count IRQBRIDGE_ACK_ROUNDS 1000 AcknowledgeAllocationReport)
large=$(count IRQBRIDGE_ACK_ROUNDS 10000 AcknowledgeAllocationReport)
echo "allocations on dispatch threads running acknowledge programs: $small with 1000 interrupts per configuration, $large with 10000"
if (( large > small + 100 )); then
    echo "FAIL: an acknowledge program allocates on the interrupt path (about $(( (large - small + 9000) / 18000 )) per interrupt)" >&2
    exit 1
fi
echo "ok: acknowledge programs do not allocate"
