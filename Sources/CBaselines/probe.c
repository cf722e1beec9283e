// Why this file exists: the probe must be the same machine code on both sides
// of every ratio, so it is C, called by the bridge's ISR and the C waiter alike.
#define _GNU_SOURCE
#include "cbl_probe.h"
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

// Provided by CAllocationCounter when it is linked (irqbridge); absent in tests.
extern uint64_t cac_thread_allocations(void) __attribute__((weak));

uint64_t cbl_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

extern int cac_is_active(void) __attribute__((weak));

int cbl_allocation_counting_available(void) { return cac_is_active != NULL && cac_is_active(); }

uint64_t cbl_thread_allocations(void) { return cac_thread_allocations != NULL ? cac_thread_allocations() : 0; }

static uint64_t cpu_ns(clockid_t clock) {
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t cbl_thread_cpu_ns(void) { return cpu_ns(CLOCK_THREAD_CPUTIME_ID); }

int cbl_probe_init(cbl_probe *probe, size_t vector_count, size_t sample_capacity) {
    memset(probe, 0, sizeof *probe);
    probe->in_flight = calloc(vector_count ? vector_count : 1, sizeof(_Atomic uint8_t));
    if (probe->in_flight == NULL) return -ENOMEM;
    probe->vector_count = vector_count;
    if (sample_capacity > 0) {
        probe->samples = calloc(sample_capacity, sizeof(uint64_t));
        if (probe->samples == NULL) {
            free((void *)probe->in_flight);
            probe->in_flight = NULL;
            return -ENOMEM;
        }
        probe->sample_capacity = sample_capacity;
    }
    probe->window_first_hit = UINT64_MAX;
    probe->window_last_hit = UINT64_MAX;
    return 0;
}

void cbl_probe_destroy(cbl_probe *probe) {
    free((void *)probe->in_flight);
    free(probe->samples);
    memset(probe, 0, sizeof *probe);
}

void cbl_probe_reset(cbl_probe *probe) {
    atomic_store(&probe->sent_ns, 0);
    atomic_store(&probe->hits, 0);
    atomic_store(&probe->stray_hits, 0);
    atomic_store(&probe->unclaimed_deliveries, 0);
    for (size_t i = 0; i < probe->vector_count; i++) atomic_store(&probe->in_flight[i], 0);
    probe->allocations_at_first = 0;
    probe->allocations_at_last = 0;
    probe->process_cpu_ns_at_first = 0;
    probe->process_cpu_ns_at_last = 0;
    probe->thread_at_first = 0;
    probe->thread_at_last = 0;
    probe->writer_cpu_ns = 0;
    atomic_store(&probe->sent_cpu, -1);
    probe->same_cpu_hits = 0;
}

void cbl_probe_track_placement(cbl_probe *probe, int on) { probe->tracks_placement = on; }

// sched_getcpu reads the rseq area glibc registers (2.35 and later): a load, no syscall.
void cbl_probe_note_raise_cpu(cbl_probe *probe) {
    if (probe->tracks_placement) atomic_store_explicit(&probe->sent_cpu, sched_getcpu(), memory_order_relaxed);
}

uint64_t cbl_probe_hits(const cbl_probe *probe) {
    return atomic_load_explicit(&((cbl_probe *)probe)->hits, memory_order_acquire);
}

uint64_t cbl_probe_stray_hits(const cbl_probe *probe) {
    return atomic_load_explicit(&((cbl_probe *)probe)->stray_hits, memory_order_relaxed);
}

void cbl_probe_unclaimed(cbl_probe *probe) {
    atomic_fetch_add_explicit(&probe->unclaimed_deliveries, 1, memory_order_relaxed);
}

uint64_t cbl_probe_unclaimed_deliveries(const cbl_probe *probe) {
    return atomic_load_explicit(&((cbl_probe *)probe)->unclaimed_deliveries, memory_order_relaxed);
}

void cbl_probe_hit(cbl_probe *probe, uint32_t vector) {
    uint64_t now = cbl_now_ns();
    uint64_t hit = atomic_load_explicit(&probe->hits, memory_order_relaxed);
    if (probe->samples != NULL && hit < probe->sample_capacity) {
        uint64_t sent = atomic_load_explicit(&probe->sent_ns, memory_order_acquire);
        probe->samples[hit] = now > sent ? now - sent : 0;
    }
    if (hit == probe->window_first_hit) {
        probe->process_cpu_ns_at_first = cpu_ns(CLOCK_PROCESS_CPUTIME_ID);
        probe->thread_at_first = (uint64_t)pthread_self();
        if (cac_thread_allocations != NULL) probe->allocations_at_first = cac_thread_allocations();
    }
    if (hit == probe->window_last_hit) {
        probe->process_cpu_ns_at_last = cpu_ns(CLOCK_PROCESS_CPUTIME_ID);
        probe->thread_at_last = (uint64_t)pthread_self();
        if (cac_thread_allocations != NULL) probe->allocations_at_last = cac_thread_allocations();
    }
    if (probe->tracks_placement &&
        sched_getcpu() == atomic_load_explicit(&probe->sent_cpu, memory_order_relaxed)) {
        probe->same_cpu_hits++;
    }
    if (vector < probe->vector_count) {
        atomic_store_explicit(&probe->in_flight[vector], 0, memory_order_release);
    } else {
        atomic_fetch_add_explicit(&probe->stray_hits, 1, memory_order_relaxed);
    }
    atomic_store_explicit(&probe->hits, hit + 1, memory_order_release);
}
