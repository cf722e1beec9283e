public import CInterruptBridge

/// A hint to the processor to bring memory into its caches ahead of use
/// (`cib_prefetch_two_lines`): never faults, never blocks, changes nothing.
public enum Prefetch {
    /// Asks for the two cache lines from `address`, for reading.
    @inlinable @inline(__always)
    public static func twoLines(at address: UnsafeRawPointer) { cib_prefetch_two_lines(address) }
}
