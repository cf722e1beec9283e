import InterruptBridge
import InterruptBridgeCore
import InterruptBridgeSystem
import Logging
import Synchronization
import Testing

/// Every suite of this target nests in here: `.serialized` runs them one at a
/// time, so descriptor counts and loop timing are not disturbed by each other
/// (a 2-core machine gains nothing from running dispatch threads side by side).
@Suite(.serialized) enum Runtime {}

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
    init(_ start: Int) { value.store(start, ordering: .relaxed) }
    @discardableResult func increment() -> Int { value.add(1, ordering: .relaxed).newValue }
    @discardableResult func decrement() -> Int { value.subtract(1, ordering: .relaxed).newValue }
    var count: Int { value.load(ordering: .relaxed) }
}

/// A thread-safe boolean for tests.
final class Flag: Sendable {
    private let value: Atomic<Bool>
    init(_ start: Bool = false) { value = Atomic(start) }
    var isSet: Bool { value.load(ordering: .acquiring) }
    func set(_ newValue: Bool = true) { value.store(newValue, ordering: .releasing) }
}

/// A thread-safe list for recording order in tests (not on an interrupt path that matters).
final class Recorder<Element: Sendable>: Sendable {
    private let items = LockedValue<[Element]>([])
    init() {}
    func append(_ item: Element) { items.withLock { $0.append(item) } }
    var all: [Element] { items.withLock { $0 } }
}

/// Holds the dispatch loop inside an ISR until the test opens it, so that the
/// test can make several descriptors ready before the loop's next epoll_wait.
final class Gate: Sendable {
    private let entered = Atomic<Bool>(false)
    private let opened = Atomic<Bool>(false)
    init() {}

    /// Called by the blocking ISR: marks entry and spins (bounded) until opened.
    func hold() {
        entered.store(true, ordering: .releasing)
        _ = eventually { self.opened.load(ordering: .acquiring) }
    }

    func waitUntilEntered() -> Bool { eventually { self.entered.load(ordering: .acquiring) } }
    func open() { opened.store(true, ordering: .releasing) }
}

/// An MSI-X simulated device whose message-0 ISR holds `gate`: the loop blocker.
func connectBlocker(_ dispatcher: InterruptDispatcher, gate: Gate, bus: UInt8 = 9) throws -> (InterruptObject, SimulatedBackend) {
    let (device, backend) = makeDevice(SimulatedDevice(address: PCIAddress(bus: bus, device: 0, function: 0), interruptPin: nil,
                                                       irqLine: nil, msixCount: 1))
    let object = try dispatcher.connectFullySpecified(
        device: device, vector: device.vectors[0].vector, irql: .highestDevice, synchronizeIrql: .highestDevice,
        mode: .latched, shareVector: false, affinity: .first(2), routine: { _ in
            gate.hold()
            return true
        })
    return (object, backend)
}

/// A log handler that keeps messages, for tests that check what was logged.
struct CapturingLogHandler: LogHandler {
    let messages: Recorder<String>
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    func log(event: LogEvent) {
        messages.append("\(event.level): \(event.message)")
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }
}
