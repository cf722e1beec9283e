// The processor's cycle counter, for the dispatch loop's poll window: it reads
// the time once per batch, and rdtsc is a handful of instructions where
// clock_gettime's vDSO path is about forty. Swift cannot emit the instruction.
#ifndef CIB_CLOCK_H
#define CIB_CLOCK_H

#include <stdint.h>
#include <time.h>

/// A counter that only moves forward at a constant rate (TSC on x86-64, the
/// virtual counter on AArch64, CLOCK_MONOTONIC nanoseconds elsewhere). Not
/// serialising: good for spans of microseconds, not for ordering instructions.
static inline uint64_t cib_cycle_counter(void) {
#if defined(__x86_64__) || defined(__i386__)
    return __builtin_ia32_rdtsc();
#elif defined(__aarch64__)
    uint64_t value;
    __asm__ volatile("mrs %0, cntvct_el0" : "=r"(value));
    return value;
#else
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
#endif
}

#endif
