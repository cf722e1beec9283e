// What InterruptBridge knows about one kind of device: which functions it is, how
// to make them interrupt, and how an ISR claims and acknowledges their interrupts.
public import InterruptBridgeCore

/// A device profile, loaded from YAML or JSON by `ProfileLoader` (or built in).
/// Its programs are compiled at load; `validate(against:)` checks them against the
/// real device's BARs, and `bind(_:to:)` pairs one with the mapped registers.
public struct DeviceProfile: Sendable {
    public var name: String
    /// One line on what the device is (the profile's `description`).
    public var summary: String?
    /// The file it came from ("<built-in>/edu.yaml" for built-ins).
    public var file: String
    public var match: DeviceMatch
    /// How to make the device interrupt, if the profile says.
    public var stimulus: ProfileStimulus?
    /// What the ISR does; nil means it claims every interrupt and touches nothing
    /// (acceptable for message-signaled interrupts only: a level INTx line would
    /// either storm or stay masked).
    public var acknowledge: RegisterProgram?
    /// Quiets the device before an ISR is connected (a driver's start-device code).
    public var quiesce: RegisterProgram?
    /// Where the profile itself starts (for errors about it as a whole).
    public var location: ProfileLocation

    public init(name: String, summary: String? = nil, file: String, match: DeviceMatch, stimulus: ProfileStimulus? = nil,
                acknowledge: RegisterProgram? = nil, quiesce: RegisterProgram? = nil, location: ProfileLocation) {
        self.name = name
        self.summary = summary
        self.file = file
        self.match = match
        self.stimulus = stimulus
        self.acknowledge = acknowledge
        self.quiesce = quiesce
        self.location = location
    }

    /// Whether an ISR built from this profile may serve `kind`: INTx needs an
    /// acknowledge program that quiets the device.
    public func canServe(_ kind: InterruptKind) -> Bool { kind.isMessageSignaled || acknowledge != nil }

    /// Whether the ISR has work of the profile's to do: an acknowledge to run, or a quiesce
    /// to run before connecting (both bound on the device's BARs, whatever raises it).
    public var hasRoutines: Bool { acknowledge != nil || quiesce != nil }

    /// The BARs its programs touch: the ones to map (or reach through the VFIO region)
    /// before binding the programs with `BoundRegisterProgram`.
    public var barsUsed: [Int] { Set(accesses.map(\.bar)).sorted() }

    /// Every register access any of its programs makes.
    public var accesses: [RegisterAccessSite] {
        var all = (acknowledge?.accesses ?? []) + (quiesce?.accesses ?? [])
        if case .registers(let setup, let raise) = stimulus?.method { all += setup.accesses + raise.accesses }
        return all
    }
}

/// How a profile makes its device interrupt.
public struct ProfileStimulus: Sendable {
    public enum Method: Sendable {
        /// Register programs: `setup` once (after the interrupts are connected),
        /// `raise` per interrupt with `vector` set to the message number (0 for INTx).
        case registers(setup: RegisterProgram, raise: RegisterProgram)
        /// VFIO_IRQ_SET_ACTION_TRIGGER: the kernel signals the vector's eventfd itself.
        /// Works for any vfio-pci device; the interrupt does not come from the device.
        case vfioLoopback
    }

    public var method: Method
    /// The interrupt kinds the stimulus raises (nil: every kind the device has).
    public var interrupts: Set<InterruptKind>?
    /// How many vectors it can raise, 0 to vectors - 1 (nil: as many as are connected).
    public var vectors: Int?
    /// Where `vectors` was given (for validation errors).
    public var vectorsLocation: ProfileLocation?
    /// Where `interrupts` was given (for validation errors).
    public var interruptsLocation: ProfileLocation?

    public init(method: Method, interrupts: Set<InterruptKind>? = nil, vectors: Int? = nil, vectorsLocation: ProfileLocation? = nil,
                interruptsLocation: ProfileLocation? = nil) {
        self.method = method
        self.interrupts = interrupts
        self.vectors = vectors
        self.vectorsLocation = vectorsLocation
        self.interruptsLocation = interruptsLocation
    }

    /// False for the loopback trigger: outputs must say such an interrupt does not
    /// come from the device (and the kernel's IRQ handler never counts it).
    public var comesFromDevice: Bool {
        if case .vfioLoopback = method { false } else { true }
    }

    public func applies(to kind: InterruptKind) -> Bool { interrupts?.contains(kind) ?? true }

    /// The kinds it raises, INTx, MSI, MSI-X in that order (every kind when it names none).
    public var kinds: [InterruptKind] { [.intx, .msi, .msix].filter(applies(to:)) }

    /// For reports: "register writes (BAR 0)" or the loopback caveat.
    public var description: String {
        switch method {
        case .registers(_, let raise):
            let bars = Set(raise.accesses.map(\.bar)).sorted().map { "BAR \($0)" }.joined(separator: ", ")
            return "device register writes (\(bars.isEmpty ? "no registers" : bars))"
        case .vfioLoopback:
            return "VFIO loopback trigger (the kernel signals the eventfd: the interrupt does not come from the device)"
        }
    }
}

/// Which PCI functions a profile is for. Every field given must match.
public struct DeviceMatch: Sendable, Hashable {
    public var vendorID: UInt16?
    public var deviceID: UInt16?
    public var subsystemVendorID: UInt16?
    public var subsystemID: UInt16?
    /// Class code 0xBBSSPP, compared under `classMask`.
    public var classCode: UInt32?
    public var classMask: UInt32
    public var address: PCIAddress?

    public init(vendorID: UInt16? = nil, deviceID: UInt16? = nil, subsystemVendorID: UInt16? = nil, subsystemID: UInt16? = nil,
                classCode: UInt32? = nil, classMask: UInt32 = 0xFF_FFFF, address: PCIAddress? = nil) {
        self.vendorID = vendorID
        self.deviceID = deviceID
        self.subsystemVendorID = subsystemVendorID
        self.subsystemID = subsystemID
        self.classCode = classCode
        self.classMask = classMask
        self.address = address
    }

    public func matches(_ device: PCIDeviceInfo) -> Bool {
        func same<T: Equatable>(_ wanted: T?, _ actual: T?) -> Bool { wanted == nil || wanted == actual }
        return same(vendorID, device.vendorID) && same(deviceID, device.deviceID)
            && same(subsystemVendorID, device.subsystemVendorID) && same(subsystemID, device.subsystemID)
            && same(address, device.address)
            && (classCode.map { $0 & classMask == device.classCode & classMask } ?? true)
    }

    /// How narrowly it matches, for choosing between profiles that all match:
    /// an address beats subsystem ids, which beat vendor:device, which beats a class.
    public var specificity: Int {
        (address != nil ? 1000 : 0) + (subsystemID != nil ? 200 : 0) + (subsystemVendorID != nil ? 100 : 0)
            + (deviceID != nil ? 20 : 0) + (vendorID != nil ? 10 : 0) + (classCode != nil ? classMask.nonzeroBitCount / 8 : 0)
    }

    /// "1234:11e8", "class 0x010802", "0000:00:03.0".
    public var summary: String {
        var parts: [String] = []
        if let vendorID { parts.append(hex(vendorID) + ":" + (deviceID.map(hex) ?? "*")) }
        if subsystemVendorID != nil || subsystemID != nil {
            parts.append("subsystem " + (subsystemVendorID.map(hex) ?? "*") + ":" + (subsystemID.map(hex) ?? "*"))
        }
        if let classCode { parts.append("class 0x" + hex6(classCode) + (classMask == 0xFF_FFFF ? "" : "/0x" + hex6(classMask))) }
        if let address { parts.append(address.description) }
        return parts.joined(separator: " ")
    }
}

private func hex(_ value: UInt16) -> String { InterruptBridgeCore.hex(UInt64(value), width: 4) }

private func hex6(_ value: UInt32) -> String { InterruptBridgeCore.hex(UInt64(value), width: 6) }
