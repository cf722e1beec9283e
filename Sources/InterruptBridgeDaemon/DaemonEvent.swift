// What the daemon tells its watchers: one event per thing that happened, in order,
// on `GET /v1/events` (newline-delimited JSON) and in the log.
import Foundation
import InterruptBridgeSystem

/// One event. `sequence` grows by one per event, so a watcher sees gaps if it fell behind.
public struct DaemonEvent: Sendable, Codable, Hashable {
    public enum Kind: String, Sendable, Codable, Hashable, CaseIterable {
        case bound, unbound, connected, disconnected, released, removed, error, failed
        /// A configured card that is not on the bus (it is bound when it appears): not a failure.
        case absent
        case storm, stormRearmed = "storm-rearmed", isrStuck = "isr-stuck"
        case hotplugAdded = "hotplug-added", hotplugRemoved = "hotplug-removed"
        case milestone, reload, reloadRejected = "reload-rejected", countersReset = "counters-reset"
        case ready, stopping
    }

    public var sequence: UInt64
    /// Seconds since the Unix epoch.
    public var time: Double
    public var kind: Kind
    /// The device's id (a PCI address or a simulated device's name).
    public var device: String?
    public var message: String
    /// For milestones: the device's interrupt count; for storms: the message number.
    public var count: UInt64?
    public var vector: Int?

    public init(sequence: UInt64 = 0, time: Double = 0, kind: Kind, device: String? = nil, message: String, count: UInt64? = nil, vector: Int? = nil) {
        self.sequence = sequence
        self.time = time
        self.kind = kind
        self.device = device
        self.message = message
        self.count = count
        self.vector = vector
    }
}

/// Hands each event to every current watcher, numbered in publication order.
/// A watcher that falls behind loses its oldest events first (each keeps 4,096).
public final class EventBroadcaster: Sendable {
    private struct State {
        var sequence: UInt64 = 0
        var watchers: [UInt64: AsyncStream<DaemonEvent>.Continuation] = [:]
        /// The daemon's own watchers (the metrics' event counts), left out of `watcherCount`.
        var internalWatchers: Set<UInt64> = []
        var nextWatcher: UInt64 = 0
        var finished = false
    }
    private let state = LockedValue(State())

    public init() {}

    /// Numbers `event`, hands it to every watcher and returns it as sent.
    @discardableResult
    public func publish(_ event: DaemonEvent) -> DaemonEvent {
        state.withLock { state in
            state.sequence += 1
            var numbered = event
            numbered.sequence = state.sequence
            numbered.time = Date().timeIntervalSince1970
            for continuation in state.watchers.values { continuation.yield(numbered) }
            return numbered
        }
    }

    /// Events from now on; the stream ends at `finish()`, when the watcher's task is
    /// cancelled, or at `unwatch(id)`. `internal`: the daemon's own (not counted).
    public func watch(internal: Bool = false) -> (id: UInt64, stream: AsyncStream<DaemonEvent>) {
        let (stream, continuation) = AsyncStream<DaemonEvent>.makeStream(bufferingPolicy: .bufferingNewest(4096))
        let id: UInt64? = state.withLock { state in
            guard !state.finished else { return nil }
            state.nextWatcher += 1
            state.watchers[state.nextWatcher] = continuation
            if `internal` { state.internalWatchers.insert(state.nextWatcher) }
            return state.nextWatcher
        }
        guard let id else {
            continuation.finish()
            return (0, stream)
        }
        continuation.onTermination = { [weak self] _ in self?.unwatch(id) }
        return (id, stream)
    }

    /// Forgets watcher `id` and ends its stream. A reader that stopped reading without
    /// being cancelled (a client gone, found by a failed write) must call it: the
    /// broadcaster holds the stream's continuation, and with it up to 4,096 events.
    public func unwatch(_ id: UInt64) {
        let continuation = state.withLock { state in
            state.internalWatchers.remove(id)
            return state.watchers.removeValue(forKey: id)
        }
        continuation?.finish()
    }

    /// How many watchers are connected (the daemon's own left out).
    public var watcherCount: Int { state.withLock { state in state.watchers.keys.filter { !state.internalWatchers.contains($0) }.count } }

    /// Ends every stream (shutdown).
    public func finish() {
        let continuations = state.withLock { state in
            state.finished = true
            defer {
                state.watchers = [:]
                state.internalWatchers = []
            }
            return Array(state.watchers.values)
        }
        for continuation in continuations { continuation.finish() }
    }
}
