/// Per-device interrupt policy, in the spirit of Windows' INF settings under
/// `Interrupt Management\MessageSignaledInterruptProperties` and `Affinity Policy`.
///
/// The default gives MSI-X before MSI before INTx, as Windows does.
public struct InterruptPolicy: Sendable, Hashable, Codable {
    /// `MSISupported`: when false the device gets its line-based interrupt only.
    public var msiSupported: Bool
    /// `MessageNumberLimit`: at most this many messages (MSI rounds down to a power of two).
    public var messageNumberLimit: Int?
    /// Whether MSI-X is preferred to MSI when the device has both (default true).
    public var preferMSIX: Bool
    /// `DevicePriority`: moves the device's DIRQL down or up (see `ResourceTranslator`).
    public var devicePriority: DevicePriority
    /// `AssignmentSetOverride`: restricts the processors interrupts are delivered to.
    public var affinityOverride: ProcessorAffinity?
    /// When this device's vectors count as storming (nil: the dispatcher's `DispatchOptions.storm`).
    public var storm: StormPolicy?

    public init(msiSupported: Bool = true, messageNumberLimit: Int? = nil, preferMSIX: Bool = true,
                devicePriority: DevicePriority = .normal, affinityOverride: ProcessorAffinity? = nil, storm: StormPolicy? = nil) {
        self.msiSupported = msiSupported
        self.messageNumberLimit = messageNumberLimit
        self.preferMSIX = preferMSIX
        self.devicePriority = devicePriority
        self.affinityOverride = affinityOverride
        self.storm = storm
    }

    public static let `default` = InterruptPolicy()

    /// IRQ_PRIORITY: IrqPriorityLow / Normal / High.
    public enum DevicePriority: String, Sendable, Hashable, Codable {
        case low, normal, high
    }
}

/// Policies for a set of devices, matched by address first, then by "vvvv:dddd" ids.
public struct InterruptPolicyTable: Sendable, Hashable, Codable {
    public var byAddress: [PCIAddress: InterruptPolicy]
    public var byID: [String: InterruptPolicy]
    public var fallback: InterruptPolicy

    public init(byAddress: [PCIAddress: InterruptPolicy] = [:], byID: [String: InterruptPolicy] = [:], fallback: InterruptPolicy = .default) {
        self.byAddress = byAddress
        self.byID = byID
        self.fallback = fallback
    }

    public func policy(for device: PCIDeviceInfo) -> InterruptPolicy {
        if let policy = byAddress[device.address] { return policy }
        if let policy = byID[hex(UInt64(device.vendorID), width: 4) + ":" + hex(UInt64(device.deviceID), width: 4)] { return policy }
        return fallback
    }
}
