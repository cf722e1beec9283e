// Why this file exists: the writer thread is shared by the bridge and the C
// baseline so both sides of a ratio see identical stimulus (same pacing, same
// placement, same syscalls); <sys/eventfd.h> and pthread affinity are C-only.
#define _GNU_SOURCE
#include "cbl_driver.h"
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

int cbl_apply_placement(const cbl_thread_placement *placement) {
    if (placement == NULL) return 0;
    if (placement->cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(placement->cpu, &set);
        int rc = pthread_setaffinity_np(pthread_self(), sizeof set, &set);
        if (rc != 0) return rc;
    }
    if (placement->fifo_priority > 0) {
        struct sched_param param = {.sched_priority = placement->fifo_priority};
        int rc = pthread_setschedparam(pthread_self(), SCHED_FIFO, &param);
        if (rc != 0) return rc;
    }
    return 0;
}

// Waits until the receiver has seen `target` deliveries. Spins briefly, then
// yields: on a 2-CPU machine a pure spin would steal the receiver's CPU when
// the two are not pinned apart.
static int wait_for_hits(cbl_probe *probe, uint64_t target, uint64_t timeout_ns) {
    uint64_t last_progress = cbl_now_ns();
    uint64_t seen = atomic_load_explicit(&probe->hits, memory_order_acquire);
    unsigned spins = 0;
    while (seen < target) {
        if (++spins < 256) {
            cpu_relax();
        } else {
            sched_yield();
            uint64_t now = cbl_now_ns();
            uint64_t current = atomic_load_explicit(&probe->hits, memory_order_acquire);
            if (current != seen) last_progress = now;
            else if (now - last_progress > timeout_ns) return ETIMEDOUT;
        }
        seen = atomic_load_explicit(&probe->hits, memory_order_acquire);
    }
    return 0;
}

static int raise_interrupt(int fd) {
    uint64_t one = 1;
    for (;;) {
        ssize_t n = write(fd, &one, sizeof one);
        if (n == (ssize_t)sizeof one) return 0;
        if (n < 0 && errno == EINTR) continue;
        return n < 0 ? errno : EIO;
    }
}

enum drive_mode { DRIVE_PINGPONG, DRIVE_SATURATE, DRIVE_PINGPONG_MMIO };

typedef struct drive_job {
    enum drive_mode mode;
    cbl_probe *probe;
    const int *fds;
    size_t nfds, stride;
    uint64_t count, gap_ns, timeout_ns, elapsed_ns;
    const cbl_thread_placement *placement;
    volatile uint32_t *doorbell; // DRIVE_PINGPONG_MMIO: the register to store to
    uint32_t doorbell_value;
    cbl_raise_fn raise;          // DRIVE_PINGPONG_MMIO without a doorbell: raises the interrupt
    void *raise_context;
    int result;
} drive_job;

static int run_pingpong(drive_job *job) {
    cbl_probe *probe = job->probe;
    for (uint64_t i = 0; i < job->count; i++) {
        int rc = wait_for_hits(probe, i, job->timeout_ns);
        if (rc != 0) return rc;
        uint64_t until = cbl_now_ns() + job->gap_ns;
        while (cbl_now_ns() < until) cpu_relax();
        if (job->doorbell != NULL) {
            cbl_probe_note_raise_cpu(probe);
            atomic_store_explicit(&probe->sent_ns, cbl_now_ns(), memory_order_release);
            *job->doorbell = job->doorbell_value;
            continue;
        }
        if (job->raise != NULL) {
            cbl_probe_note_raise_cpu(probe);
            atomic_store_explicit(&probe->sent_ns, cbl_now_ns(), memory_order_release);
            rc = job->raise(job->raise_context);
            if (rc != 0) return rc;
            continue;
        }
        size_t vector = (size_t)((i * job->stride) % job->nfds);
        atomic_store_explicit(&probe->in_flight[vector], 1, memory_order_relaxed);
        cbl_probe_note_raise_cpu(probe);
        atomic_store_explicit(&probe->sent_ns, cbl_now_ns(), memory_order_release);
        rc = raise_interrupt(job->fds[vector]);
        if (rc != 0) return rc;
    }
    return wait_for_hits(probe, job->count, job->timeout_ns);
}

static int run_saturate(drive_job *job) {
    cbl_probe *probe = job->probe;
    uint64_t start = cbl_now_ns(), raised = 0, last_progress = start;
    while (raised < job->count) {
        int progressed = 0;
        for (size_t v = 0; v < job->nfds && raised < job->count; v++) {
            if (atomic_load_explicit(&probe->in_flight[v], memory_order_acquire)) continue;
            atomic_store_explicit(&probe->in_flight[v], 1, memory_order_relaxed);
            cbl_probe_note_raise_cpu(probe);
            int rc = raise_interrupt(job->fds[v]);
            if (rc != 0) return rc;
            raised++;
            progressed = 1;
        }
        if (progressed) {
            last_progress = cbl_now_ns();
        } else {
            sched_yield();
            if (cbl_now_ns() - last_progress > job->timeout_ns) return ETIMEDOUT;
        }
    }
    int rc = wait_for_hits(probe, job->count, job->timeout_ns);
    job->elapsed_ns = cbl_now_ns() - start;
    return rc;
}

static void *drive_thread(void *arg) {
    drive_job *job = arg;
    pthread_setname_np(pthread_self(), "cbl-writer");
    job->result = cbl_apply_placement(job->placement);
    if (job->result == 0 && job->mode == DRIVE_SATURATE) {
        uint64_t cpu_at_start = cbl_thread_cpu_ns();
        job->result = run_saturate(job);
        job->probe->writer_cpu_ns = cbl_thread_cpu_ns() - cpu_at_start;
    } else if (job->result == 0) {
        job->result = run_pingpong(job);
    }
    return NULL;
}

static int run_job(drive_job *job) {
    if (job->nfds == 0 || job->nfds > job->probe->vector_count) return EINVAL;
    pthread_t thread;
    int rc = pthread_create(&thread, NULL, drive_thread, job);
    if (rc != 0) return rc;
    pthread_join(thread, NULL);
    return job->result;
}

int cbl_drive_pingpong(cbl_probe *probe, const int *fds, size_t nfds, size_t stride, uint64_t rounds,
                       uint64_t gap_ns, uint64_t timeout_ns, const cbl_thread_placement *placement) {
    drive_job job = {.mode = DRIVE_PINGPONG, .probe = probe, .fds = fds, .nfds = nfds, .stride = stride ? stride : 1,
                     .count = rounds, .gap_ns = gap_ns, .timeout_ns = timeout_ns, .placement = placement};
    return run_job(&job);
}

int cbl_drive_saturate(cbl_probe *probe, const int *fds, size_t nfds, uint64_t total, uint64_t timeout_ns,
                       const cbl_thread_placement *placement, uint64_t *elapsed_ns) {
    drive_job job = {.mode = DRIVE_SATURATE, .probe = probe, .fds = fds, .nfds = nfds, .stride = 1,
                     .count = total, .timeout_ns = timeout_ns, .placement = placement};
    int rc = run_job(&job);
    if (elapsed_ns != NULL) *elapsed_ns = job.elapsed_ns;
    return rc;
}

int cbl_drive_pingpong_mmio(cbl_probe *probe, volatile void *bar0, uint32_t offset, uint32_t value, uint64_t rounds,
                            uint64_t gap_ns, uint64_t timeout_ns, const cbl_thread_placement *placement) {
    if (bar0 == NULL || offset % 4 != 0) return EINVAL;
    drive_job job = {.mode = DRIVE_PINGPONG_MMIO, .probe = probe, .nfds = 1, .stride = 1, .count = rounds,
                     .gap_ns = gap_ns, .timeout_ns = timeout_ns, .placement = placement,
                     .doorbell = (volatile uint32_t *)((volatile char *)bar0 + offset), .doorbell_value = value};
    return run_job(&job);
}

int cbl_eventfds_open(int *fds, size_t count) {
    for (size_t i = 0; i < count; i++) {
        fds[i] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (fds[i] < 0) {
            int saved = errno;
            cbl_eventfds_close(fds, i);
            return saved;
        }
    }
    return 0;
}

void cbl_eventfds_close(const int *fds, size_t count) {
    for (size_t i = 0; i < count; i++) close(fds[i]);
}

int cbl_drive_pingpong_raise(cbl_probe *probe, cbl_raise_fn raise, void *context, uint64_t rounds, uint64_t gap_ns,
                             uint64_t timeout_ns, const cbl_thread_placement *placement) {
    if (raise == NULL) return EINVAL;
    drive_job job = {.mode = DRIVE_PINGPONG_MMIO, .probe = probe, .nfds = 1, .stride = 1, .count = rounds,
                     .gap_ns = gap_ns, .timeout_ns = timeout_ns, .placement = placement, .raise = raise,
                     .raise_context = context};
    return run_job(&job);
}
