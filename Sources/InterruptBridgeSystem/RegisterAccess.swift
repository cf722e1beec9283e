// The C shim's per-thread IRQL byte and count of passive interrupt locks held, and
// volatile MMIO accesses, for the modules above: they reach the shim only through this
// module. Inlinable, because the interrupt path uses them (the IRQL four times per interrupt, an acknowledge
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

/// How many passive-level interrupt locks the calling thread holds: a C thread-local
/// (initial-exec) beside `ThreadIRQL`. The runtime counts them where it takes and releases
/// them, so a disconnect knows not to wait for a loop that may wait for the caller's lock.
public enum ThreadPassiveLocks {
    @inlinable @inline(__always)
    public static var held: UInt32 {
        get { cib_thread_passive_locks_get() }
        set { cib_thread_passive_locks_set(newValue) }
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
