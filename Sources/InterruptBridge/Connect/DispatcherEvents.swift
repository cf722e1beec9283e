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

    /// The device the event is about.
    public var device: InterruptDevice {
        switch self {
        case let .deviceRemoved(device, _, _), let .deviceError(device, _): device
        }
    }

    public var description: String {
        switch self {
        case let .deviceRemoved(device, reason, count): "\(device) removed (\(reason)): \(count) interrupt(s) disconnected"
        case let .deviceError(device, reason): "\(device) error: \(reason)"
        }
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
