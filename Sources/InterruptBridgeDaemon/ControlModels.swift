// The control API's JSON bodies (control-api.openapi.yaml describes the same shapes).
public import InterruptBridgeDiscovery
import InterruptBridge
import InterruptBridgeSystem

/// A device the daemon knows: configured, bound, connected, or lost.
public struct DeviceStatus: Sendable, Encodable {
    /// The PCI address, or a simulated device's name.
    public var id: String
    public var simulated: Bool
    /// configured, unbound, bound, connected, failed, released, removed, absent.
    public var state: String
    /// Why it is failed, released or removed.
    public var reason: String?
    /// Whether the running configuration holds it (`save-config` writes it).
    public var configured: Bool
    public var driver: String?
    /// The driver it had before the daemon bound it (restored on unbind and exit).
    public var previousDriver: String?
    public var onExit: String?
    public var profile: String?
    /// "MSI-X", "MSI", "INTx" once connected.
    public var interruptKind: String?
    public var vectors: Int
    public var interrupts: UInt64
    public var unclaimed: UInt64
    public var storms: UInt64
    /// What `irqbridge list --json` prints for the function (nil: not present now).
    public var pci: DeviceJSON?
}

/// One connected vector's figures, since the last counter reset.
public struct VectorStatistics: Sendable, Encodable {
    public var message: Int
    public var kind: String
    public var dirql: Int
    /// ISR calls.
    public var interrupts: UInt64
    public var claimed: UInt64
    public var unclaimed: UInt64
    /// Device signals drained (several coalesced signals make one ISR call).
    public var signals: UInt64
    public var storms: UInt64
    public var contained: Bool
    /// The kernel's count for the vector over the same span (nil: not in /proc/interrupts,
    /// an INTx line another card's handler shares, whose count is the line's, or one with no
    /// reading at the last reset or connect, until the next reset).
    public var kernel: UInt64?
    /// How long the ISR ran (setting dispatch.timings; nil when off).
    public var isrDuration: LatencyFigures?
    /// From a trigger's raise to the ISR (only interrupts raised through `trigger`).
    public var stimulusToISR: LatencyFigures?
}

/// Percentiles of a latency histogram, in microseconds.
public struct LatencyFigures: Sendable, Encodable {
    public var count: UInt64
    public var p50: Double?
    public var p99: Double?
    public var max: Double?

    init(_ buckets: LatencyBuckets) {
        func microseconds(_ duration: Duration?) -> Double? { duration.map { Double($0.nanoseconds) / 1e3 } }
        count = buckets.count
        p50 = microseconds(buckets.percentile(50))
        p99 = microseconds(buckets.percentile(99))
        max = microseconds(buckets.max)
    }
}

/// `GET /v1/devices/{id}/statistics`.
public struct DeviceStatistics: Sendable, Encodable {
    public var id: String
    public var state: String
    /// Seconds since the counters were last reset (or the device connected).
    public var seconds: Double
    /// Simulated devices: interrupts raised (generator and triggers) since the reset;
    /// with every vector's `signals` it accounts for each one (none lost).
    public var generated: UInt64?
    public var vectors: [VectorStatistics]
}

/// `POST /v1/devices/{id}/wait`'s answer.
public struct WaitOutcome: Sendable, Encodable {
    public var id: String
    public var vector: Int?
    public var wanted: UInt64
    public var arrived: UInt64
    public var satisfied: Bool
    public var seconds: Double
}

/// `POST /v1/devices/{id}/trigger`'s answer.
public struct TriggerOutcome: Sendable, Encodable {
    public var id: String
    public var raised: Int
    /// What raised them: a profile's register stimulus, VFIO's loopback (not the
    /// device itself), or the simulated device.
    public var stimulus: String
    public var fromDevice: Bool
}

/// `GET /v1/health`.
public struct HealthStatus: Sendable, Encodable {
    public var ready: Bool
    public var stopping: Bool
    public var heartbeats: UInt64
    public var devices: Int
    public var connected: Int
    public var failed: Int
    public var reloads: Int
    public var eventWatchers: Int
}
