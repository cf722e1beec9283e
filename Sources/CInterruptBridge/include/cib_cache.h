// A prefetch hint, which Swift cannot emit: the dispatch loop asks for a cold
// vector's interrupt object before the read(2) that drains its eventfd, so the
// object's cache misses overlap the system call instead of following it.
#ifndef CIB_CACHE_H
#define CIB_CACHE_H

/// Asks for the two cache lines from `address` (a read, kept in every cache level).
/// Never faults, whatever the address.
static inline void cib_prefetch_two_lines(const void *address) {
    __builtin_prefetch(address, 0, 3);
    __builtin_prefetch((const char *)address + 64, 0, 3);
}

#endif
