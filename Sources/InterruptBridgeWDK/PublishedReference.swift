// A reference the interrupt path reads with one atomic load, that its owner may replace.
import InterruptBridgeSystem
import Synchronization

/// A reference any thread reads with one atomic load (no lock, no allocation), which a
/// setter replaces. Every object ever published stays alive until the slot goes, so a
/// reader never holds one freed under it: for what is set once or a few times in a
/// device's life (its extension, its DpcForIsr), where each set keeps one more object.
final class PublishedReference<Object: AnyObject & Sendable>: Sendable {
    private let current = Atomic<Unmanaged<Object>?>(nil)
    private let kept = LockedValue<[Object]>([])

    /// The object published last (nil before the first).
    var object: Object? { current.load(ordering: .acquiring)?.takeUnretainedValue() }

    func publish(_ object: Object) {
        kept.withLock { $0.append(object) }  // owned here from now on
        current.store(Unmanaged.passUnretained(object), ordering: .releasing)
    }
}
