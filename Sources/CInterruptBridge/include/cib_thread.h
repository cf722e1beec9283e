// pthread and scheduler pieces Swift cannot reach: cpu_set_t is manipulated
// only through macros (CPU_ZERO/CPU_SET/CPU_ISSET), and the GNU extensions
// pthread_setname_np / gettid need _GNU_SOURCE, which Glibc's module map lacks.
#ifndef CIB_THREAD_H
#define CIB_THREAD_H

#include <stdint.h>
#include <pthread.h>

/// Pins `thread` to the processors whose bits are set in `mask` (CPU N = bit N,
/// processors 0...63). Returns 0 or an errno value (pthread convention).
int cib_thread_set_affinity(pthread_t thread, uint64_t mask);

/// The processors `thread` may run on, as a bit mask (processors 0...63).
/// Returns 0 or an errno value.
int cib_thread_get_affinity(pthread_t thread, uint64_t *mask);

/// pthread_setname_np (at most 15 characters). Returns 0 or an errno value.
int cib_thread_set_name(pthread_t thread, const char *name);

/// gettid(2): the kernel thread id of the calling thread.
int32_t cib_gettid(void);

/// The processor the calling thread runs on (sched_getcpu), or -1 with errno set.
int cib_current_processor(void);

// The calling thread's modelled IRQL (InterruptBridge's CurrentLevel). In C
// because Swift has no thread-local variables: pthread_getspecific/setspecific
// behind a lazily initialised key cost a swift_once and a libc call per access,
// four times per interrupt. initial-exec: one %fs-relative load or store, no
// __tls_get_addr (the library is linked into the executable, never dlopen'ed).
extern __thread uint8_t cib_thread_irql __attribute__((tls_model("initial-exec")));

/// The calling thread's modelled IRQL (0, PASSIVE_LEVEL, on a new thread).
static inline uint8_t cib_thread_irql_get(void) { return cib_thread_irql; }

/// Sets the calling thread's modelled IRQL.
static inline void cib_thread_irql_set(uint8_t level) { cib_thread_irql = level; }

// How many passive-level interrupt locks (InterruptObject.acquire on an object with no
// spin lock) the calling thread holds. Such a holder stays at PASSIVE_LEVEL, so the IRQL
// cannot tell the runtime that the passive dispatch thread may be waiting for a lock the
// caller holds (its disconnect and deactivate then must not wait for that loop). A
// thread-local beside the IRQL for the same reason: the passive ISR path counts each
// acquire and release, one %fs-relative add each.
extern __thread uint32_t cib_thread_passive_locks __attribute__((tls_model("initial-exec")));

/// How many passive-level interrupt locks the calling thread holds (0 on a new thread).
static inline uint32_t cib_thread_passive_locks_get(void) { return cib_thread_passive_locks; }

/// Sets the count of passive-level interrupt locks the calling thread holds.
static inline void cib_thread_passive_locks_set(uint32_t count) { cib_thread_passive_locks = count; }

/// A number unique to each running thread, never 0: the address of its own
/// IRQL byte (one %fs-relative address computation; pthread_self is a call).
static inline uintptr_t cib_thread_identity(void) { return (uintptr_t)&cib_thread_irql; }

#endif
