// Why this file exists: the load scenario needs work that competes for the
// CPUs exactly like other tenants' work would, started and stopped around the
// measured blocks, the same for every side.
#define _GNU_SOURCE
#include "cbl_load.h"
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

struct cbl_load {
    _Atomic int stop;
    size_t count;
    pthread_t threads[];
};

static void *burn(void *argument) {
    struct cbl_load *load = argument;
    pthread_setname_np(pthread_self(), "cbl-load");
    volatile uint64_t sink = 0;
    uint64_t x = (uint64_t)(uintptr_t)&sink;
    while (!atomic_load_explicit(&load->stop, memory_order_relaxed)) {
        for (int i = 0; i < 4096; i++) x = x * 6364136223846793005u + 1442695040888963407u;
        sink = x;
    }
    return NULL;
}

int cbl_load_start(size_t threads, cbl_load **out) {
    struct cbl_load *load = calloc(1, sizeof *load + threads * sizeof(pthread_t));
    if (load == NULL) return ENOMEM;
    for (; load->count < threads; load->count++) {
        int rc = pthread_create(&load->threads[load->count], NULL, burn, load);
        if (rc != 0) {
            cbl_load_stop(load);
            return rc;
        }
    }
    *out = load;
    return 0;
}

void cbl_load_stop(cbl_load *load) {
    if (load == NULL) return;
    atomic_store(&load->stop, 1);
    for (size_t i = 0; i < load->count; i++) pthread_join(load->threads[i], NULL);
    free(load);
}
