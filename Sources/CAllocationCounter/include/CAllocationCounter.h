// CAllocationCounter: counts heap allocations per thread, so a benchmark can
// prove that nothing on the interrupt dispatch path allocates.
//
// Why this target exists: Swift cannot interpose malloc. Linked into the
// irqbridge executable only (never into tests: sanitizers bring their own
// malloc), it defines malloc, calloc, realloc, free and the aligned variants,
// counts each call in a thread-local counter and forwards to glibc's
// __libc_* entry points (no dlsym, so no bootstrap recursion). Under a
// sanitizer it compiles to nothing and counting reports unavailable.
// Every symbol is prefixed `cac_`.
#ifndef CALLOCATIONCOUNTER_H
#define CALLOCATIONCOUNTER_H

#include <stdint.h>

/// Allocations (malloc, calloc, realloc, memalign, posix_memalign, aligned_alloc,
/// valloc) made by the calling thread since it started.
uint64_t cac_thread_allocations(void);
/// Frees made by the calling thread since it started.
uint64_t cac_thread_frees(void);
/// 1 when the interposer is active in this build (0 under sanitizers).
int cac_is_active(void);

#endif
