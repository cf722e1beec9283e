// The C shim's per-thread IRQL byte and volatile MMIO accesses, for the modules
// above: they reach the shim only through this module. Inlinable, because the
// interrupt path uses both (the IRQL four times per interrupt, an acknowledge
// program's register accesses once or twice), and a call across modules cost
// more than the access itself.
public import CInterruptBridge

/// The calling thread's modelled IRQL as a byte: a C thread-local (initial-exec),
/// one %fs-relative load or store. The runtime's `InterruptLevel.current` is built on it.
public enum ThreadIRQL {
    @inlinable @inline(__always)
    public static var value: UInt8 {
        get { cib_thread_irql_get() }
        set { cib_thread_irql_set(newValue) }
    }
}

/// Volatile loads and stores of exactly 8, 16, 32 or 64 bits at `base + offset`
/// (a mapped BAR): one access each, never split or merged by the compiler.
public enum MMIO {
    @inlinable @inline(__always) public static func read8(_ base: UnsafeRawPointer, _ offset: Int) -> UInt8 { cib_mmio_read8(base, UInt64(offset)) }
    @inlinable @inline(__always) public static func read16(_ base: UnsafeRawPointer, _ offset: Int) -> UInt16 { cib_mmio_read16(base, UInt64(offset)) }
    @inlinable @inline(__always) public static func read32(_ base: UnsafeRawPointer, _ offset: Int) -> UInt32 { cib_mmio_read32(base, UInt64(offset)) }
    @inlinable @inline(__always) public static func read64(_ base: UnsafeRawPointer, _ offset: Int) -> UInt64 { cib_mmio_read64(base, UInt64(offset)) }
    @inlinable @inline(__always) public static func write8(_ base: UnsafeMutableRawPointer, _ offset: Int, _ value: UInt8) {
        cib_mmio_write8(base, UInt64(offset), value)
    }
    @inlinable @inline(__always) public static func write16(_ base: UnsafeMutableRawPointer, _ offset: Int, _ value: UInt16) {
        cib_mmio_write16(base, UInt64(offset), value)
    }
    @inlinable @inline(__always) public static func write32(_ base: UnsafeMutableRawPointer, _ offset: Int, _ value: UInt32) {
        cib_mmio_write32(base, UInt64(offset), value)
    }
    @inlinable @inline(__always) public static func write64(_ base: UnsafeMutableRawPointer, _ offset: Int, _ value: UInt64) {
        cib_mmio_write64(base, UInt64(offset), value)
    }
}
