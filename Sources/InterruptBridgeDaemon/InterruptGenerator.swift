// The built-in interrupt generator for simulated devices: one thread raising each
// running device's vectors at its configured rate (interrupts per second per vector).
// Raises that fall due together go out as one eventfd write of their count, so a
// rate the dispatcher cannot follow one by one still loses nothing: the loop drains
// them coalesced and counts every one (`deliveredSignalCount`).
import InterruptBridge
import InterruptBridgeSystem
import Logging

final class InterruptGenerator: Sendable {
    private struct Stream {
        let backend: SimulatedBackend
        let vectors: Int
        let rate: Double
        let started: ContinuousClock.Instant
        var sent: UInt64 = 0
    }

    private struct State {
        var streams: [String: Stream] = [:]
        /// Set while the generator runs: its thread stops once this is nil.
        var thread: PThread.Handle?
    }

    private let state = LockedValue(State())
    private let logger: Logger

    init(logger: Logger) { self.logger = logger }

    /// Starts raising `backend`'s vectors at `rate` each (replacing a stream of the same id).
    func start(_ id: String, backend: SimulatedBackend, vectors: Int, rate: Double) {
        // The thread is spawned under the lock, so a `shutdown` racing this start
        // either comes first (and this start spawns a thread it will join later) or
        // finds the handle to join: never a thread running that no one joins.
        state.withLock { state in
            state.streams[id] = Stream(backend: backend, vectors: vectors, rate: rate, started: .now)
            guard state.thread == nil else { return }
            do {
                state.thread = try PThread.spawn(name: "irqbridge-gen") { [self] in run() }
            } catch {
                logger.error("cannot start the simulated interrupt generator: \(error)")
            }
        }
    }

    /// Stops raising the device's interrupts (returns before the next tick raises any).
    func stop(_ id: String) {
        state.withLock { _ = $0.streams.removeValue(forKey: id) }
    }

    /// Stops the thread (and every stream) and joins it.
    func shutdown() {
        let thread = state.withLock { state -> PThread.Handle? in
            state.streams = [:]
            return state.thread.take()
        }
        if let thread { try? PThread.join(thread) }
    }

    /// How many raises every stream sent in all, by id (for the soak's accounting).
    var sentCounts: [String: UInt64] { state.withLock { $0.streams.mapValues(\.sent) } }

    private func run() {
        while true {
            let due = state.withLock { state -> [(SimulatedBackend, Int, UInt64)]? in
                guard state.thread != nil else { return nil }
                let now = ContinuousClock.now
                var raises: [(SimulatedBackend, Int, UInt64)] = []
                for (id, var stream) in state.streams {
                    let elapsed = now - stream.started
                    let seconds = Double(elapsed.nanoseconds) / 1e9
                    let target = UInt64(seconds * stream.rate)
                    guard target > stream.sent else { continue }
                    // At most one second's worth at once: a stalled generator does not burst forever.
                    let count = min(target - stream.sent, UInt64(max(1, stream.rate)))
                    for vector in 0..<stream.vectors { raises.append((stream.backend, vector, count)) }
                    stream.sent += count
                    state.streams[id] = stream
                }
                return raises
            }
            guard let due else { return }
            for (backend, vector, count) in due { backend.raise(message: vector, count: count) }
            PThread.sleep(for: .milliseconds(1))
        }
    }
}
