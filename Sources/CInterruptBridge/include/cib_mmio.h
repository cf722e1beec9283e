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

// 8-, 16- and 64-bit accesses: device profiles (InterruptBridgeTooling) declare
// registers of every width, and a device may decode a narrower access differently
// from a wider one, so each width is one access of that width.
static inline uint8_t cib_mmio_read8(const void *base, uint64_t offset) {
    return *(const volatile uint8_t *)((const char *)base + offset);
}

static inline uint16_t cib_mmio_read16(const void *base, uint64_t offset) {
    return *(const volatile uint16_t *)((const char *)base + offset);
}

static inline void cib_mmio_write8(void *base, uint64_t offset, uint8_t value) {
    *(volatile uint8_t *)((char *)base + offset) = value;
}

static inline void cib_mmio_write16(void *base, uint64_t offset, uint16_t value) {
    *(volatile uint16_t *)((char *)base + offset) = value;
}

static inline void cib_mmio_write64(void *base, uint64_t offset, uint64_t value) {
    *(volatile uint64_t *)((char *)base + offset) = value;
}

#endif
