// Why this file exists: the scale scenario (issue 13, part 3) times the bridge
// connecting and disconnecting thousands of vectors; the kernel's share of that
// (eventfd creation, epoll's red-black tree insert and erase, the descriptor
// table growing) is measured here, with nothing else around it, so the
// bridge's per-vector time and its growth with size have a floor beside them.
#define _GNU_SOURCE
#include "cbl_epoll_register.h"
#include "cbl_probe.h"
#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

int cbl_epoll_register_cycle(size_t nfds, size_t per_group, uint64_t *connect_ns, uint64_t *disconnect_ns) {
    if (nfds == 0 || per_group == 0 || connect_ns == NULL || disconnect_ns == NULL) return EINVAL;
    int *fds = malloc(nfds * sizeof *fds);
    if (fds == NULL) return ENOMEM;
    int epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    if (epoll_fd < 0) {
        int rc = errno;
        free(fds);
        return rc;
    }
    int rc = 0;
    size_t opened = 0;
    uint64_t start = cbl_now_ns();
    for (size_t group = 0; rc == 0 && group < nfds; group += per_group) {
        size_t end = group + per_group < nfds ? group + per_group : nfds;
        for (size_t i = group; rc == 0 && i < end; i++) {
            fds[i] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
            if (fds[i] < 0) rc = errno; else opened = i + 1;
        }
        for (size_t i = group; rc == 0 && i < end; i++) {
            struct epoll_event ev = {.events = EPOLLIN, .data.u64 = i};
            if (epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fds[i], &ev) != 0) rc = errno;
        }
    }
    uint64_t connected = cbl_now_ns();
    for (size_t i = 0; i < opened; i++) {
        // Never added (a failed run) is harmless: ENOENT, then close.
        (void)epoll_ctl(epoll_fd, EPOLL_CTL_DEL, fds[i], NULL);
        close(fds[i]);
    }
    uint64_t disconnected = cbl_now_ns();
    close(epoll_fd);
    free(fds);
    if (rc != 0) return rc;
    *connect_ns = connected - start;
    *disconnect_ns = disconnected - connected;
    return 0;
}
