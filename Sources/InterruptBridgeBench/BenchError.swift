#if canImport(Glibc)
import Glibc
#endif

/// Why a benchmark could not produce its figures.
public enum BenchError: Error, Sendable, Equatable, CustomStringConvertible {
    case outOfMemory
    /// A system call made by the benchmark's C side failed with this errno.
    case system(String, code: Int32)
    /// The receiver stopped delivering (lost interrupts) for longer than the timeout.
    case stalled(side: String, scenario: String, delivered: Int, expected: Int)
    /// The bridge could not be set up (connect failed), with the reason.
    case bridge(String)
    /// A rig round trip failed, with the reason (already naming the errno).
    case rig(String)
    /// RLIMIT_NOFILE's hard limit is below what the largest scenario opens.
    case descriptorLimit(needed: Int, hardLimit: Int)

    public var description: String {
        switch self {
        case .outOfMemory: "out of memory"
        case let .system(operation, code): "\(operation): \(String(cString: strerror(code))) (errno \(code))"
        case let .stalled(side, scenario, delivered, expected):
            "\(scenario): the \(side) receiver stalled after \(delivered) of \(expected) interrupts"
        case let .bridge(reason): "bridge: \(reason)"
        case let .rig(reason): reason
        case let .descriptorLimit(needed, hardLimit):
            "the largest scenario needs \(needed) descriptors but RLIMIT_NOFILE's hard limit is \(hardLimit) (the soft limit was raised to it): "
                + "raise the hard limit (root: `ulimit -Hn \(needed)`, systemd: LimitNOFILE=) or measure less (--scale-vectors, --scenario)"
        }
    }
}
