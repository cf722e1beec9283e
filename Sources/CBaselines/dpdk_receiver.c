// Why this file exists: issue 13 holds the bridge against DPDK's interrupt
// handling in the same run. DPDK is optional, so it is loaded at run time and
// only its public functions are called; a machine without it reports the peer
// absent (cbl_dpdk_open's reason) instead of failing to build.
#define _GNU_SOURCE
#include "cbl_dpdk_receiver.h"
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

const char *const CBL_DPDK_EAL_LIBRARY = "librte_eal.so.23";

struct rte_intr_handle; // opaque in DPDK 22.11 (allocated by rte_intr_instance_alloc)
typedef void (*intr_callback)(void *);

// DPDK's public functions, resolved once by start_eal (read-only afterwards).
static struct {
    int (*eal_init)(int, char **);
    int (*openlog_stream)(FILE *);
    const char *(*strerror)(int);
    int *rte_errno; // the TLS variable of the thread that resolved it (start_eal's)
    struct rte_intr_handle *(*instance_alloc)(uint32_t);
    void (*instance_free)(struct rte_intr_handle *);
    int (*fd_set)(struct rte_intr_handle *, int);
    int (*type_set)(struct rte_intr_handle *, int);
    int (*callback_register)(const struct rte_intr_handle *, intr_callback, void *);
    int (*callback_unregister_sync)(const struct rte_intr_handle *, intr_callback, void *);
    int (*epoll_ctl)(int, int, int, cbl_rte_epoll_event *);
    int (*epoll_wait)(int, cbl_rte_epoll_event *, int, int);
    int (*tls_epfd)(void);
} eal;

// --- start-up, once per process --------------------------------------------------

static pthread_mutex_t open_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t open_changed = PTHREAD_COND_INITIALIZER;
static enum { OPEN_NOT_TRIED, OPEN_RUNNING, OPEN_DONE } open_state; // guarded by open_lock
static int open_result;                                              // guarded by open_lock
static char open_reason[256];                                        // guarded by open_lock

#define RESOLVE(field, symbol)                                                                   \
    do {                                                                                         \
        *(void **)&eal.field = dlsym(library, symbol);                                           \
        if (eal.field == NULL) {                                                                 \
            snprintf(reason, size, "%s has no %s (DPDK 22.11 expected)", CBL_DPDK_EAL_LIBRARY, symbol); \
            return ENOSYS;                                                                       \
        }                                                                                        \
    } while (0)

// "0@(0,1,...)": lcore 0 may run on every CPU this process may use. With a
// plain "-l 0", EAL pins the calling thread to CPU 0 and its interrupt thread
// to the other CPUs, which would place DPDK differently from the other sides.
static int lcore_map(char *out, size_t size) {
    cpu_set_t allowed;
    if (sched_getaffinity(0, sizeof allowed, &allowed) != 0) return errno;
    size_t used = (size_t)snprintf(out, size, "0@(");
    int first = 1;
    for (int cpu = 0; cpu < CPU_SETSIZE && used < size; cpu++) {
        if (!CPU_ISSET(cpu, &allowed)) continue;
        used += (size_t)snprintf(out + used, size - used, first ? "%d" : ",%d", cpu);
        first = 0;
    }
    if (used + 2 > size || first) return EINVAL;
    snprintf(out + used, size - used, ")");
    return 0;
}

static int start_eal(char *reason, size_t size) {
    void *library = dlopen(CBL_DPDK_EAL_LIBRARY, RTLD_NOW | RTLD_LOCAL);
    if (library == NULL) {
        snprintf(reason, size, "%s not loadable (%s); scripts/bench/run.sh --peers installs libdpdk-dev",
                 CBL_DPDK_EAL_LIBRARY, dlerror());
        return ENOENT;
    }
    RESOLVE(eal_init, "rte_eal_init");
    RESOLVE(strerror, "rte_strerror");
    RESOLVE(rte_errno, "per_lcore__rte_errno");
    RESOLVE(instance_alloc, "rte_intr_instance_alloc");
    RESOLVE(instance_free, "rte_intr_instance_free");
    RESOLVE(fd_set, "rte_intr_fd_set");
    RESOLVE(type_set, "rte_intr_type_set");
    RESOLVE(callback_register, "rte_intr_callback_register");
    RESOLVE(callback_unregister_sync, "rte_intr_callback_unregister_sync");
    RESOLVE(epoll_ctl, "rte_epoll_ctl");
    RESOLVE(epoll_wait, "rte_epoll_wait");
    RESOLVE(tls_epfd, "rte_intr_tls_epfd");
    RESOLVE(openlog_stream, "rte_openlog_stream");
    // EAL's default log stream writes to standard output (and syslog): keep
    // stdout for the report (`--json -`).
    eal.openlog_stream(stderr);

    char lcores[512];
    int rc = lcore_map(lcores, sizeof lcores);
    if (rc != 0) {
        snprintf(reason, size, "cannot list this process's CPUs: %s", strerror(rc));
        return rc;
    }
    // --in-memory is refused together with --no-huge (it implies hugepage
    // unlinking); --no-shconf is the part of it that matters here: no files
    // under /var/run/dpdk, no multi-process channel thread.
    char *argv[] = {
        (char *)"irqbridge-bench", (char *)"--no-huge", (char *)"--no-pci", (char *)"--no-shconf",
        (char *)"--no-telemetry", (char *)"--log-level=warning", (char *)"--lcores", lcores, NULL,
    };
    int argc = (int)(sizeof argv / sizeof argv[0]) - 1;
    if (eal.eal_init(argc, argv) < 0) {
        int code = *eal.rte_errno;
        snprintf(reason, size, "rte_eal_init(--no-huge --no-pci --no-shconf --lcores %s) failed: %s", lcores,
                 eal.strerror(code));
        return code > 0 ? code : EIO;
    }
    return 0;
}

static void *open_thread(void *unused) {
    (void)unused;
    pthread_setname_np(pthread_self(), "cbl-eal-init");
    char reason[sizeof open_reason] = "";
    int rc = start_eal(reason, sizeof reason);
    pthread_mutex_lock(&open_lock);
    open_result = rc;
    memcpy(open_reason, reason, sizeof open_reason);
    open_state = OPEN_DONE;
    pthread_cond_broadcast(&open_changed);
    pthread_mutex_unlock(&open_lock);
    return NULL;
}

int cbl_dpdk_open(uint64_t timeout_ns, char *reason, size_t reason_size) {
    pthread_mutex_lock(&open_lock);
    if (open_state == OPEN_NOT_TRIED) {
        pthread_t thread;
        pthread_attr_t attributes;
        pthread_attr_init(&attributes);
        pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
        int rc = pthread_create(&thread, &attributes, open_thread, NULL);
        pthread_attr_destroy(&attributes);
        if (rc == 0) {
            open_state = OPEN_RUNNING;
        } else {
            open_state = OPEN_DONE;
            open_result = rc;
            snprintf(open_reason, sizeof open_reason, "cannot start a thread for rte_eal_init: %s", strerror(rc));
        }
    }
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += (time_t)(timeout_ns / 1000000000u);
    deadline.tv_nsec += (long)(timeout_ns % 1000000000u);
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    while (open_state == OPEN_RUNNING) {
        if (pthread_cond_timedwait(&open_changed, &open_lock, &deadline) == ETIMEDOUT) {
            pthread_mutex_unlock(&open_lock);
            snprintf(reason, reason_size, "rte_eal_init did not return within %llu ms",
                     (unsigned long long)(timeout_ns / 1000000u));
            return ETIMEDOUT;
        }
    }
    int result = open_result;
    snprintf(reason, reason_size, "%s", open_reason);
    pthread_mutex_unlock(&open_lock);
    return result;
}

// --- receivers ------------------------------------------------------------------

#define STOP_TOKEN UINTPTR_MAX
#define MAX_EVENTS 64

typedef struct dpdk_vector {
    cbl_probe *probe;
    int fd;
    uint32_t vector;
    struct rte_intr_handle *handle; // interrupt-thread path: registered when non-NULL
} dpdk_vector;

struct cbl_dpdk_receiver {
    cbl_dpdk_path path;
    size_t nfds;
    dpdk_vector *vectors;
    // Per-thread epoll path only.
    pthread_t thread;
    int stop_fd;
    cbl_rte_epoll_event *events; // nfds + 1 (the stop eventfd); DPDK keeps pointers to them while added
    const cbl_thread_placement *placement;
    _Atomic int state; // 0 starting, 1 running, <0 failed (-errno)
};

// The EXT handle's callback, on DPDK's eal-intr-thread: DPDK does not read EXT
// fds, so the callback drains the eventfd (as every other side does), then the probe.
static void on_interrupt(void *argument) {
    dpdk_vector *v = argument;
    uint64_t count;
    if (read(v->fd, &count, sizeof count) == (ssize_t)sizeof count) cbl_probe_hit(v->probe, v->vector);
}

static int register_ext(int fd, intr_callback callback, void *argument, struct rte_intr_handle **out) {
    struct rte_intr_handle *handle = eal.instance_alloc(CBL_RTE_INTR_INSTANCE_F_PRIVATE);
    if (handle == NULL) return ENOMEM;
    int rc = eal.fd_set(handle, fd);
    if (rc == 0) rc = eal.type_set(handle, CBL_RTE_INTR_HANDLE_EXT);
    if (rc == 0) rc = eal.callback_register(handle, callback, argument);
    if (rc != 0) {
        eal.instance_free(handle);
        return rc < 0 ? -rc : EIO;
    }
    *out = handle;
    return 0;
}

static void unregister_ext(struct rte_intr_handle *handle, intr_callback callback, void *argument) {
    eal.callback_unregister_sync(handle, callback, argument);
    eal.instance_free(handle);
}

typedef struct placement_job {
    int fd;
    const cbl_thread_placement *placement;
    int result;
    _Atomic int done;
} placement_job;

static void apply_placement(void *argument) {
    placement_job *job = argument;
    uint64_t count;
    (void)read(job->fd, &count, sizeof count);
    job->result = cbl_apply_placement(job->placement);
    atomic_store_explicit(&job->done, 1, memory_order_release);
}

// The interrupt thread is DPDK's, so the placement is applied from inside one
// of its callbacks, raised once through a throw-away EXT handle.
static int place_interrupt_thread(const cbl_thread_placement *placement) {
    if (placement == NULL || (placement->cpu < 0 && placement->fifo_priority <= 0)) return 0;
    placement_job job = {.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC), .placement = placement};
    if (job.fd < 0) return errno;
    struct rte_intr_handle *handle = NULL;
    int rc = register_ext(job.fd, apply_placement, &job, &handle);
    if (rc == 0) {
        uint64_t one = 1;
        rc = write(job.fd, &one, sizeof one) == (ssize_t)sizeof one ? 0 : errno;
        uint64_t deadline = cbl_now_ns() + 5000000000u;
        while (rc == 0 && !atomic_load_explicit(&job.done, memory_order_acquire)) {
            if (cbl_now_ns() > deadline) rc = ETIMEDOUT;
            else sched_yield();
        }
        unregister_ext(handle, apply_placement, &job);
        if (rc == 0) rc = job.result;
    }
    close(job.fd);
    return rc;
}

static void unregister_vectors(cbl_dpdk_receiver *r) {
    for (size_t i = 0; i < r->nfds; i++) {
        if (r->vectors[i].handle == NULL) continue;
        unregister_ext(r->vectors[i].handle, on_interrupt, &r->vectors[i]);
        r->vectors[i].handle = NULL;
    }
}

static int start_interrupt_thread(cbl_dpdk_receiver *r) {
    int rc = place_interrupt_thread(r->placement);
    for (size_t i = 0; rc == 0 && i < r->nfds; i++) rc = register_ext(r->vectors[i].fd, on_interrupt, &r->vectors[i], &r->vectors[i].handle);
    if (rc != 0) unregister_vectors(r);
    return rc;
}

static void remove_per_thread_events(cbl_dpdk_receiver *r, size_t added) {
    for (size_t i = 0; i < added; i++) {
        int fd = i < r->nfds ? r->vectors[i].fd : r->stop_fd;
        eal.epoll_ctl(CBL_RTE_EPOLL_PER_THREAD, EPOLL_CTL_DEL, fd, &r->events[i]);
    }
    // DPDK creates the per-thread epoll instance on first use and never closes it.
    close(eal.tls_epfd());
}

static void *receive_per_thread(void *argument) {
    cbl_dpdk_receiver *r = argument;
    pthread_setname_np(pthread_self(), "cbl-dpdk-epoll");
    int rc = cbl_apply_placement(r->placement);
    size_t added = 0;
    for (; rc == 0 && added <= r->nfds; added++) {
        int fd = added < r->nfds ? r->vectors[added].fd : r->stop_fd;
        void *data = added < r->nfds ? (void *)(uintptr_t)added : (void *)STOP_TOKEN;
        r->events[added] = (cbl_rte_epoll_event){.epdata = {.event = EPOLLIN, .data = data}};
        if (eal.epoll_ctl(CBL_RTE_EPOLL_PER_THREAD, EPOLL_CTL_ADD, fd, &r->events[added]) != 0) {
            rc = errno ? errno : EIO;
            break;
        }
    }
    if (rc != 0) {
        remove_per_thread_events(r, added);
        atomic_store(&r->state, -rc);
        return NULL;
    }
    atomic_store(&r->state, 1);
    cbl_rte_epoll_event ready[MAX_EVENTS];
    for (;;) {
        int n = eal.epoll_wait(CBL_RTE_EPOLL_PER_THREAD, ready, MAX_EVENTS, -1);
        for (int i = 0; i < n; i++) {
            uintptr_t vector = (uintptr_t)ready[i].epdata.data;
            if (vector == STOP_TOKEN) {
                remove_per_thread_events(r, r->nfds + 1);
                return NULL;
            }
            uint64_t count;
            if (read(r->vectors[vector].fd, &count, sizeof count) == (ssize_t)sizeof count) {
                cbl_probe_hit(r->vectors[vector].probe, (uint32_t)vector);
            }
        }
    }
}

static int start_per_thread_epoll(cbl_dpdk_receiver *r) {
    r->stop_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (r->stop_fd < 0) return errno;
    r->events = calloc(r->nfds + 1, sizeof *r->events);
    if (r->events == NULL) return ENOMEM;
    int rc = pthread_create(&r->thread, NULL, receive_per_thread, r);
    if (rc != 0) return rc;
    while (atomic_load(&r->state) == 0) sched_yield();
    if (atomic_load(&r->state) < 0) {
        pthread_join(r->thread, NULL);
        return -atomic_load(&r->state);
    }
    return 0;
}

static void free_receiver(cbl_dpdk_receiver *r) {
    if (r->stop_fd >= 0) close(r->stop_fd);
    free(r->events);
    free(r->vectors);
    free(r);
}

int cbl_dpdk_receiver_start(cbl_dpdk_path path, const int *fds, size_t nfds, cbl_probe *probe,
                            const cbl_thread_placement *placement, cbl_dpdk_receiver **out) {
    if (eal.eal_init == NULL || nfds == 0) return EINVAL; // cbl_dpdk_open first
    cbl_dpdk_receiver *r = calloc(1, sizeof *r);
    if (r == NULL) return ENOMEM;
    r->path = path;
    r->nfds = nfds;
    r->stop_fd = -1;
    r->placement = placement;
    r->vectors = calloc(nfds, sizeof *r->vectors);
    if (r->vectors == NULL) {
        free_receiver(r);
        return ENOMEM;
    }
    for (size_t i = 0; i < nfds; i++) r->vectors[i] = (dpdk_vector){.probe = probe, .fd = fds[i], .vector = (uint32_t)i};
    int rc = path == CBL_DPDK_INTERRUPT_THREAD ? start_interrupt_thread(r) : start_per_thread_epoll(r);
    if (rc != 0) {
        free_receiver(r);
        return rc;
    }
    *out = r;
    return 0;
}

void cbl_dpdk_receiver_stop(cbl_dpdk_receiver *r) {
    if (r == NULL) return;
    if (r->path == CBL_DPDK_INTERRUPT_THREAD) {
        unregister_vectors(r);
    } else {
        uint64_t one = 1;
        while (write(r->stop_fd, &one, sizeof one) < 0 && errno == EINTR) {}
        pthread_join(r->thread, NULL);
    }
    free_receiver(r);
}
