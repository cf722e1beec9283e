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
cat > "$work/count.c" <<'C'
#define _GNU_SOURCE
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
static atomic_long counted;
static void note(void) {
    char name[16] = {0};
    prctl(PR_GET_NAME, name, 0, 0, 0);
    if (strncmp(name, "irqbridge-isr", 13) == 0) counted++;
}
void *malloc(size_t n) { note(); return __libc_malloc(n); }
void *calloc(size_t a, size_t b) { note(); return __libc_calloc(a, b); }
void *realloc(void *p, size_t n) { note(); return __libc_realloc(p, n); }
int posix_memalign(void **out, size_t align, size_t n) { note(); *out = __libc_memalign(align, n); return *out ? 0 : 12; }
void *aligned_alloc(size_t align, size_t n) { note(); return __libc_memalign(align, n); }
void *memalign(size_t align, size_t n) { note(); return __libc_memalign(align, n); }
__attribute__((destructor)) static void report(void) { fprintf(stderr, "isr-thread-allocations %ld\n", (long)counted); }
C
cc -shared -fPIC -O2 -o "$work/count.so" "$work/count.c"
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
# Command processing at set-up varies by a handful with timing; 27000 more
# interrupts allocating even once each would add thousands.
if (( large > small + 100 )); then
    echo "FAIL: the interrupt path allocates (about $(( (large - small + 13500) / 27000 )) per interrupt)" >&2
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
