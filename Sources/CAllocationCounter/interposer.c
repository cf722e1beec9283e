// Why this file exists: see include/CAllocationCounter.h. The counters are
// initial-exec thread-locals in the executable, so counting itself never allocates.
#define _GNU_SOURCE
#include "CAllocationCounter.h"
#include <errno.h>
#include <stddef.h>

#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || __has_feature(memory_sanitizer)
#define CAC_DISABLED 1
#endif
#endif

#ifndef CAC_DISABLED

static __thread uint64_t thread_allocations __attribute__((tls_model("initial-exec")));
static __thread uint64_t thread_frees __attribute__((tls_model("initial-exec")));

#ifdef CAC_PRELOAD_THREAD_PREFIX
// The same interposer built as an LD_PRELOAD library by
// scripts/check-isr-allocations.sh (for a test bundle, which never links this
// target): it also counts, process-wide, the allocations made on threads whose
// name starts with the prefix, and prints the total at exit.
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>

static atomic_ulong named_thread_allocations;

static inline void count_allocation(void) {
    thread_allocations++;
    char name[16] = {0};
    prctl(PR_GET_NAME, name, 0, 0, 0);
    if (strncmp(name, CAC_PRELOAD_THREAD_PREFIX, sizeof CAC_PRELOAD_THREAD_PREFIX - 1) == 0) {
        atomic_fetch_add_explicit(&named_thread_allocations, 1, memory_order_relaxed);
    }
}

__attribute__((destructor)) static void report_named_thread_allocations(void) {
    fprintf(stderr, "isr-thread-allocations %lu\n", (unsigned long)atomic_load(&named_thread_allocations));
}
#else
static inline void count_allocation(void) { thread_allocations++; }
#endif

uint64_t cac_thread_allocations(void) { return thread_allocations; }
uint64_t cac_thread_frees(void) { return thread_frees; }
int cac_is_active(void) { return 1; }

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);
extern void *__libc_memalign(size_t, size_t);
extern void *__libc_valloc(size_t);

void *malloc(size_t size) {
    count_allocation();
    return __libc_malloc(size);
}

void *calloc(size_t count, size_t size) {
    count_allocation();
    return __libc_calloc(count, size);
}

void *realloc(void *pointer, size_t size) {
    count_allocation();
    return __libc_realloc(pointer, size);
}

void free(void *pointer) {
    if (pointer != NULL) thread_frees++;
    __libc_free(pointer);
}

void *memalign(size_t alignment, size_t size) {
    count_allocation();
    return __libc_memalign(alignment, size);
}

void *aligned_alloc(size_t alignment, size_t size) {
    count_allocation();
    return __libc_memalign(alignment, size);
}

void *valloc(size_t size) {
    count_allocation();
    return __libc_valloc(size);
}

int posix_memalign(void **out, size_t alignment, size_t size) {
    if (alignment % sizeof(void *) != 0 || (alignment & (alignment - 1)) != 0) return EINVAL;
    count_allocation();
    void *pointer = __libc_memalign(alignment, size);
    if (pointer == NULL && size != 0) return ENOMEM;
    *out = pointer;
    return 0;
}

#else

uint64_t cac_thread_allocations(void) { return 0; }
uint64_t cac_thread_frees(void) { return 0; }
int cac_is_active(void) { return 0; }

#endif
