/// An interrupt request level, as Windows numbers them: 0 = PASSIVE_LEVEL,
/// 2 = DISPATCH_LEVEL, 3...12 the device IRQLs (DIRQL) on x64.
public struct InterruptLevel: RawRepresentable, Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public init(_ rawValue: UInt8) { self.rawValue = rawValue }

    public static let passive = InterruptLevel(0)
    public static let apc = InterruptLevel(1)
    public static let dispatch = InterruptLevel(2)
    /// Lowest and highest device IRQL the bridge assigns (x64: 3...12).
    public static let lowestDevice = InterruptLevel(3)
    public static let highestDevice = InterruptLevel(12)
    /// HIGH_LEVEL (x64: 15), the highest IRQL there is: a level above it names none.
    public static let high = InterruptLevel(15)

    public static func < (lhs: InterruptLevel, rhs: InterruptLevel) -> Bool { lhs.rawValue < rhs.rawValue }
    public var description: String { String(rawValue) }
}

/// Level-triggered (shared PCI INTx) or edge-triggered (MSI/MSI-X).
public enum InterruptMode: String, Sendable, Hashable, Codable {
    case levelSensitive
    case latched
}

/// A set of processors, bit N = CPU N (KAFFINITY, processor group 0 only).
public struct ProcessorAffinity: RawRepresentable, Sendable, Hashable, Codable, CustomStringConvertible {
    public var rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }

    /// CPUs 0..<count.
    public static func first(_ count: Int) -> ProcessorAffinity {
        ProcessorAffinity(rawValue: count >= 64 ? .max : (UInt64(1) << UInt64(max(count, 0))) - 1)
    }

    public var isEmpty: Bool { rawValue == 0 }
    /// The processors in both.
    public func intersection(_ other: ProcessorAffinity) -> ProcessorAffinity { ProcessorAffinity(rawValue: rawValue & other.rawValue) }
    public var processors: [Int] { (0..<64).filter { rawValue & (UInt64(1) << UInt64($0)) != 0 } }
    public var description: String { "0x" + String(rawValue, radix: 16) }
}

/// How a device's interrupts are delivered.
public enum InterruptKind: String, Sendable, Hashable, Codable, CustomStringConvertible {
    /// Legacy INTx: one level-triggered, shareable line.
    case intx
    /// MSI: 1 to 32 messages from one capability, edge-triggered.
    case msi
    /// MSI-X: up to 2048 independently-targeted messages, edge-triggered.
    case msix

    public var isMessageSignaled: Bool { self != .intx }
    public var description: String {
        switch self {
        case .intx: "INTx"
        case .msi: "MSI"
        case .msix: "MSI-X"
        }
    }
}
