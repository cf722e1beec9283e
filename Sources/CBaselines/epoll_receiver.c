// Why this file exists: it is the floor the bridge is measured against, a
// minimal C waiter doing one epoll wake-up and one read per interrupt.
#define _GNU_SOURCE
#include "cbl_epoll_receiver.h"
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define STOP_TOKEN UINT64_MAX
#define MAX_EVENTS 64

struct cbl_epoll_receiver {
    pthread_t thread;
    int epoll_fd;
    int stop_fd;
    const int *fds;
    cbl_probe *probe;
    int busy_poll;
    const cbl_thread_placement *placement;
    cbl_delivery_hooks hooks;
    _Atomic int state; // 0 starting, 1 running, <0 failed (-errno)
};

static void *receive(void *arg) {
    struct cbl_epoll_receiver *r = arg;
    pthread_setname_np(pthread_self(), "cbl-receiver");
    int rc = cbl_apply_placement(r->placement);
    if (rc != 0) {
        atomic_store(&r->state, -rc);
        return NULL;
    }
    atomic_store(&r->state, 1);
    struct epoll_event events[MAX_EVENTS];
    const int timeout = r->busy_poll ? 0 : -1;
    const size_t read_size = r->hooks.read_size ? r->hooks.read_size : sizeof(uint64_t);
    for (;;) {
        int n = epoll_wait(r->epoll_fd, events, MAX_EVENTS, timeout);
        for (int i = 0; i < n; i++) {
            uint64_t vector = events[i].data.u64;
            if (vector == STOP_TOKEN) return NULL;
            uint64_t count;
            if (read(r->fds[vector], &count, read_size) == (ssize_t)read_size) {
                if (r->hooks.claim == NULL || r->hooks.claim(r->hooks.context, (uint32_t)vector)) {
                    cbl_probe_hit(r->probe, (uint32_t)vector);
                } else {
                    cbl_probe_unclaimed(r->probe);
                }
                if (r->hooks.rearm) r->hooks.rearm(r->hooks.context, (uint32_t)vector);
            }
        }
    }
}

int cbl_epoll_receiver_start(const int *fds, size_t nfds, cbl_probe *probe, int busy_poll,
                             const cbl_thread_placement *placement, cbl_epoll_receiver **out) {
    return cbl_epoll_receiver_start_hooked(fds, nfds, probe, busy_poll, placement, NULL, out);
}

int cbl_epoll_receiver_start_hooked(const int *fds, size_t nfds, cbl_probe *probe, int busy_poll,
                                    const cbl_thread_placement *placement, const cbl_delivery_hooks *hooks,
                                    cbl_epoll_receiver **out) {
    struct cbl_epoll_receiver *r = calloc(1, sizeof *r);
    if (r == NULL) return ENOMEM;
    if (hooks != NULL) r->hooks = *hooks;
    if (r->hooks.read_size > sizeof(uint64_t)) {
        free(r);
        return EINVAL;
    }
    r->fds = fds;
    r->probe = probe;
    r->busy_poll = busy_poll;
    r->placement = placement;
    r->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    r->stop_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    int rc = 0;
    if (r->epoll_fd < 0 || r->stop_fd < 0) rc = errno;
    for (size_t i = 0; rc == 0 && i < nfds; i++) {
        struct epoll_event ev = {.events = EPOLLIN, .data.u64 = i};
        if (epoll_ctl(r->epoll_fd, EPOLL_CTL_ADD, fds[i], &ev) != 0) rc = errno;
    }
    if (rc == 0) {
        struct epoll_event ev = {.events = EPOLLIN, .data.u64 = STOP_TOKEN};
        if (epoll_ctl(r->epoll_fd, EPOLL_CTL_ADD, r->stop_fd, &ev) != 0) rc = errno;
    }
    if (rc == 0) rc = pthread_create(&r->thread, NULL, receive, r);
    if (rc == 0) {
        while (atomic_load(&r->state) == 0) sched_yield();
        if (atomic_load(&r->state) < 0) {
            rc = -atomic_load(&r->state);
            pthread_join(r->thread, NULL);
        }
    }
    if (rc != 0) {
        if (r->epoll_fd >= 0) close(r->epoll_fd);
        if (r->stop_fd >= 0) close(r->stop_fd);
        free(r);
        return rc;
    }
    *out = r;
    return 0;
}

void cbl_epoll_receiver_stop(cbl_epoll_receiver *r) {
    if (r == NULL) return;
    uint64_t one = 1;
    while (write(r->stop_fd, &one, sizeof one) < 0 && errno == EINTR) {}
    pthread_join(r->thread, NULL);
    close(r->epoll_fd);
    close(r->stop_fd);
    free(r);
}
