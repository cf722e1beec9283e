// References the interrupt path reads without blocking, which their owner may replace.
import InterruptBridge
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

/// A value any thread reads under a spin lock held only to copy it (a retain: no
/// allocation, no sleep, so an ISR may), and a setter replaces under the same lock. Unlike
/// ``PublishedReference`` it keeps only the current value, so setting nil lets the old
/// one go: for what a driver may hand back at teardown and must not keep alive (a device
/// extension that points back at its device object).
final class SpinLockedSlot<Value: Sendable>: @unchecked Sendable {
    // @unchecked: `value` is read and written only while `lock` is held.
    private let lock = InterruptSpinLock()
    private var value: Value

    init(_ value: Value) { self.value = value }

    func read() -> Value {
        lock.lock()
        defer { lock.unlock() }
        return value
    }

    func replace(with newValue: Value) {
        lock.lock()
        let old = value
        value = newValue
        lock.unlock()
        withExtendedLifetime(old) {}  // the old value is released here, outside the lock
    }
}
