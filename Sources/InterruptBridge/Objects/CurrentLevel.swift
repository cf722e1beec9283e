public import InterruptBridgeCore
import InterruptBridgeSystem

/// The IRQL the calling thread is modelled to run at: a device IRQL inside an
/// ISR or while holding an interrupt lock, DISPATCH_LEVEL inside a DPC,
/// PASSIVE_LEVEL otherwise. Kept per thread, no allocation.
enum CurrentLevel {
    private static let word = ThreadLocalWord()

    @inline(__always)
    static var value: InterruptLevel {
        get { InterruptLevel(UInt8(truncatingIfNeeded: word.value)) }
        set { word.value = UInt(newValue.rawValue) }
    }

    /// Raises (or sets) the level for the duration of a lock hold; returns the previous level.
    @inline(__always)
    static func raise(to level: InterruptLevel) -> InterruptLevel {
        let previous = value
        value = level
        return previous
    }
}

extension InterruptLevel {
    /// The level the calling thread runs at, as the bridge models it (KeGetCurrentIrql).
    public static var current: InterruptLevel { CurrentLevel.value }
}
