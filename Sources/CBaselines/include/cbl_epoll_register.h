// The C floor of connecting and disconnecting many interrupt vectors.
#ifndef CBL_EPOLL_REGISTER_H
#define CBL_EPOLL_REGISTER_H

#include <stddef.h>
#include <stdint.h>

/// What any eventfd + epoll program does to start and stop serving `nfds`
/// vectors, `per_group` at a time (one device's vectors: the group's eventfds
/// are opened, then added, as a backend enables a device's vectors and a loop
/// watches them): eventfd + EPOLL_CTL_ADD per vector, timed into *connect_ns;
/// then EPOLL_CTL_DEL + close per vector, timed into *disconnect_ns. The epoll
/// instance is created before and closed after the timed parts. Returns 0, or
/// a positive errno with nothing left open.
int cbl_epoll_register_cycle(size_t nfds, size_t per_group, uint64_t *connect_ns, uint64_t *disconnect_ns);

#endif
