import InterruptBridge
import InterruptBridgeCore
import InterruptBridgeSystem
import Logging
import Synchronization

/// A dispatcher for one test, with a logger that discards output.
func makeDispatcher(_ options: DispatchOptions = DispatchOptions()) throws -> InterruptDispatcher {
    try InterruptDispatcher(logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }), options: options)
}

/// A simulated device and the InterruptDevice over it.
func makeDevice(_ configuration: SimulatedDevice, policy: InterruptPolicy = .default) -> (InterruptDevice, SimulatedBackend) {
    let backend = SimulatedBackend(configuration)
    let facts = ResourceTranslator.SystemFacts(onlineProcessors: .first(2))
    return (InterruptDevice(backend: backend, policy: policy, facts: facts), backend)
}

/// Polls `condition` until it holds or `seconds` pass (a liveness bound, not a timing assertion).
func eventually(_ seconds: Double = 10, _ condition: () -> Bool) -> Bool {
    let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
    while ContinuousClock.now < deadline {
        if condition() { return true }
        PThread.yieldProcessor()
    }
    return condition()
}

/// A thread-safe counter an ISR can bump without allocating.
final class Counter: Sendable {
    private let value = Atomic<Int>(0)
    init() {}
    func increment() { value.add(1, ordering: .relaxed) }
    var count: Int { value.load(ordering: .relaxed) }
}

/// A thread-safe list for recording order in tests (not on an interrupt path that matters).
final class Recorder<Element: Sendable>: Sendable {
    private let items = Mutex<[Element]>([])
    init() {}
    func append(_ item: Element) { items.withLock { $0.append(item) } }
    var all: [Element] { items.withLock { $0 } }
}
