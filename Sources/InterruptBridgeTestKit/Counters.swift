import InterruptBridgeSystem
import Synchronization

/// A thread-safe counter an ISR can bump without allocating.
public final class Counter: Sendable {
    private let value = Atomic<Int>(0)
    public init() {}
    public init(_ start: Int) { value.store(start, ordering: .relaxed) }
    @discardableResult public func increment() -> Int { value.add(1, ordering: .relaxed).newValue }
    @discardableResult public func decrement() -> Int { value.subtract(1, ordering: .relaxed).newValue }
    public var count: Int { value.load(ordering: .relaxed) }
}

/// A thread-safe boolean for tests.
public final class Flag: Sendable {
    private let value: Atomic<Bool>
    public init(_ start: Bool = false) { value = Atomic(start) }
    public var isSet: Bool { value.load(ordering: .acquiring) }
    public func set(_ newValue: Bool = true) { value.store(newValue, ordering: .releasing) }
}

/// A thread-safe list for recording order in tests (it locks: not for an
/// interrupt path whose timing matters).
public final class Recorder<Element: Sendable>: Sendable {
    private let items = LockedValue<[Element]>([])
    public init() {}
    public func append(_ item: Element) { items.withLock { $0.append(item) } }
    public var all: [Element] { items.withLock { $0 } }
}

/// Holds the dispatch loop inside an ISR until the test opens it, so that the
/// test can make several descriptors ready before the loop's next epoll_wait.
public final class Gate: Sendable {
    private let entered = Atomic<Bool>(false)
    private let opened = Atomic<Bool>(false)
    public init() {}

    /// Called by the blocking ISR: marks entry and spins (bounded) until opened.
    public func hold() {
        entered.store(true, ordering: .releasing)
        _ = eventually { self.opened.load(ordering: .acquiring) }
    }

    public func waitUntilEntered() -> Bool { eventually { self.entered.load(ordering: .acquiring) } }
    public func open() { opened.store(true, ordering: .releasing) }
}
