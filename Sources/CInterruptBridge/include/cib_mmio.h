// Device register access for Swift: volatile loads and stores of a mapped BAR.
//
// Why this header exists: Swift has no `volatile`; a plain load or store through
// an UnsafeRawPointer may be merged, reordered or dropped by the optimizer, which
// is wrong for device registers. These inline functions are the only MMIO path.
#ifndef CIB_MMIO_H
#define CIB_MMIO_H

#include <stdint.h>

static inline uint32_t cib_mmio_read32(const void *base, uint64_t offset) {
    return *(const volatile uint32_t *)((const char *)base + offset);
}

static inline void cib_mmio_write32(void *base, uint64_t offset, uint32_t value) {
    *(volatile uint32_t *)((char *)base + offset) = value;
}

static inline uint64_t cib_mmio_read64(const void *base, uint64_t offset) {
    return *(const volatile uint64_t *)((const char *)base + offset);
}

#endif
