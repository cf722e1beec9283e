// Why this file exists: cpu_set_t can only be built with the CPU_* macros,
// and pthread_setname_np, gettid and sched_getcpu are GNU extensions hidden
// behind _GNU_SOURCE, which Swift's Glibc module does not define.
#define _GNU_SOURCE
#include "cib_thread.h"
#include <errno.h>
#include <sched.h>
#include <unistd.h>
#include <sys/syscall.h>

int cib_thread_set_affinity(pthread_t thread, uint64_t mask) {
    cpu_set_t set;
    CPU_ZERO(&set);
    for (int cpu = 0; cpu < 64; cpu++) {
        if (mask & ((uint64_t)1 << cpu)) { CPU_SET(cpu, &set); }
    }
    return pthread_setaffinity_np(thread, sizeof(set), &set);
}

int cib_thread_get_affinity(pthread_t thread, uint64_t *mask) {
    cpu_set_t set;
    CPU_ZERO(&set);
    int result = pthread_getaffinity_np(thread, sizeof(set), &set);
    if (result != 0) { return result; }
    uint64_t bits = 0;
    for (int cpu = 0; cpu < 64; cpu++) {
        if (CPU_ISSET(cpu, &set)) { bits |= (uint64_t)1 << cpu; }
    }
    *mask = bits;
    return 0;
}

int cib_thread_set_name(pthread_t thread, const char *name) { return pthread_setname_np(thread, name); }

int32_t cib_gettid(void) { return (int32_t)syscall(SYS_gettid); }

int cib_current_processor(void) { return sched_getcpu(); }

__thread uint8_t cib_thread_irql __attribute__((tls_model("initial-exec"))) = 0;

__thread uint32_t cib_thread_passive_locks __attribute__((tls_model("initial-exec"))) = 0;
