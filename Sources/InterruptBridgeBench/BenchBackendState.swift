import InterruptBridgeSystem

/// The benchmark device's enabled eventfds, behind a mutex (touched only at
/// connect and disconnect, never on the interrupt path).
final class BenchBackendState: Sendable {
    private let enabled = LockedValue<[Int32]?>(nil)

    /// Records the enabled descriptors; false if some are enabled already.
    func install(_ fds: [Int32]) -> Bool {
        enabled.withLock { current in
            guard current == nil else { return false }
            current = fds
            return true
        }
    }

    /// Forgets and returns the enabled descriptors (for the caller to close).
    func remove() -> [Int32] {
        enabled.withLock { current in
            defer { current = nil }
            return current ?? []
        }
    }

    var descriptors: [Int32] { enabled.withLock { $0 ?? [] } }
}
