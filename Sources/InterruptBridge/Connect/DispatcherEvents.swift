public import InterruptBridgeCore
import InterruptBridgeSystem
import Synchronization

/// Something the dispatcher saw happen outside the interrupt path and acted on.
///
/// Read from `InterruptDispatcher.events()`. Each event is published after the
/// loop has acted (a removed device's interrupts are already disconnected).
public enum DispatcherEvent: Sendable, CustomStringConvertible {
    /// The kernel asked for the device back (VFIO's device request, an unbind or
    /// hot-unplug) or the device went away: every interrupt object of it on the
    /// dispatcher was disconnected (`disconnected` of them) and its descriptors released.
    case deviceRemoved(InterruptDevice, reason: String, disconnected: Int)
    /// The device reported an error (VFIO's error interrupt: an uncorrectable
    /// PCI Express error). Its interrupts stay connected.
    case deviceError(InterruptDevice, reason: String)
    /// A vector tripped a storm rule and is no longer watched (see `StormPolicy`).
    case stormContained(StormReport)
    /// A contained vector is watched again (after its back-off, or `rearm`).
    case stormRearmed(InterruptDevice, vector: UInt32, message: Int)
    /// An ISR has been running for `duration` (the stuck-ISR watchdog; reported
    /// once per call). Its dispatch loop serves nothing else meanwhile.
    case isrStuck(InterruptDevice?, vector: UInt32, loop: String, duration: Duration)

    /// The device the event is about (nil: a stuck ISR whose vector is no longer connected).
    public var device: InterruptDevice? {
        switch self {
        case let .deviceRemoved(device, _, _), let .deviceError(device, _), let .stormRearmed(device, _, _): device
        case let .stormContained(report): report.device
        case let .isrStuck(device, _, _, _): device
        }
    }

    public var description: String {
        switch self {
        case let .deviceRemoved(device, reason, count): "\(device) removed (\(reason)): \(count) vector(s) disconnected"
        case let .deviceError(device, reason): "\(device) error: \(reason)"
        case let .stormContained(report): report.description
        case let .stormRearmed(device, vector, message):
            "\(device) vector 0x\(String(vector, radix: 16)) (message \(message)) re-armed after a storm"
        case let .isrStuck(device, vector, loop, duration):
            "ISR of vector 0x\(String(vector, radix: 16))\(device.map { " (\($0))" } ?? "") has been running for \(duration) on \(loop)"
        }
    }
}

/// A storm the dispatcher contained.
public struct StormReport: Sendable, CustomStringConvertible {
    public var device: InterruptDevice
    public var vector: UInt32
    /// The message number (0 for INTx).
    public var message: Int
    public var rule: StormRule
    /// How many times this vector has been contained since it was connected.
    public var trips: Int
    /// When it will be re-armed automatically (nil: only by `rearm`).
    public var backoff: Duration?

    public var description: String {
        "storm on \(device) vector 0x\(String(vector, radix: 16)) (message \(message)): \(rule); contained (trip \(trips))"
            + (backoff.map { ", re-armed in \($0)" } ?? ", until rearm")
    }
}

/// Fans events out to every subscriber's stream. Publishing never blocks: each
/// stream buffers the newest `bufferSize` events its reader has not taken yet.
final class EventHub: Sendable {
    static let bufferSize = 1024
    // Guarded by its lock: the open streams, by subscription number; nil once finished.
    private let subscribers = LockedValue<[Int: AsyncStream<DispatcherEvent>.Continuation]?>([:])
    private let nextSubscription = Atomic<Int>(0)

    /// A stream of the events published from now on; it ends at `finish()`.
    func subscribe() -> AsyncStream<DispatcherEvent> {
        let (stream, continuation) = AsyncStream.makeStream(of: DispatcherEvent.self, bufferingPolicy: .bufferingNewest(Self.bufferSize))
        let id = nextSubscription.add(1, ordering: .relaxed).newValue
        let open = subscribers.withLock { table -> Bool in
            guard table != nil else { return false }
            table![id] = continuation
            return true
        }
        guard open else {
            continuation.finish()
            return stream
        }
        continuation.onTermination = { [weak self] _ in
            self?.subscribers.withLock { table in _ = table?.removeValue(forKey: id) }
        }
        return stream
    }

    func publish(_ event: DispatcherEvent) {
        let targets = subscribers.withLock { $0.map { Array($0.values) } ?? [] }
        for continuation in targets { continuation.yield(event) }
    }

    /// Ends every stream (the dispatcher shut down).
    func finish() {
        let targets = subscribers.withLock { table -> [AsyncStream<DispatcherEvent>.Continuation] in
            defer { table = nil }
            return table.map { Array($0.values) } ?? []
        }
        for continuation in targets { continuation.finish() }
    }
}
