// Shared pieces of the connect-level integration tests: an ISR probe that never
// allocates, waiting without timing assertions, and one-at-a-time firing.
import InterruptBridge
import InterruptBridgeCore
import InterruptBridgeSystem
import Synchronization
import InterruptBridgeTestKit
import Testing

/// What the ISRs record: preallocated atomics only.
final class ISRProbe: Sendable {
    let calls = Atomic<Int>(0)
    /// Calls per MessageID (up to 16 messages).
    let perMessage: [AtomicCount]
    let outOfRangeMessages = Atomic<Int>(0)

    init(messages: Int = 1) { perMessage = (0..<16).map { _ in AtomicCount() } }

    func record(message: UInt32 = 0) {
        if Int(message) < perMessage.count { perMessage[Int(message)].add() } else { outOfRangeMessages.add(1, ordering: .relaxed) }
        calls.add(1, ordering: .releasing)
    }

    var count: Int { calls.load(ordering: .acquiring) }
}

final class AtomicCount: Sendable {
    private let value = Atomic<Int>(0)
    func add() { value.add(1, ordering: .releasing) }
    var count: Int { value.load(ordering: .acquiring) }
}

/// Raises `count` interrupts one at a time, each after the previous reached the
/// ISR (and, for a level-triggered line, after the line was unmasked again).
/// Returns how many reached the ISR; records an issue for the first lost one.
func fireOneAtATime(_ count: Int, probe: ISRProbe, unmasks: (() -> UInt64)? = nil,
                    raise: (Int) throws -> Void) rethrows -> Int {
    for index in 0..<count {
        let before = probe.count
        let unmasksBefore = unmasks?()
        try raise(index)
        guard eventually(within: 5, { probe.count > before }) else {
            Issue.record("interrupt \(index) never reached the ISR")
            break
        }
        if let unmasks, let unmasksBefore, !eventually(within: 5, { unmasks() > unmasksBefore }) {
            Issue.record("the line was not unmasked after interrupt \(index)")
            break
        }
    }
    return probe.count
}
