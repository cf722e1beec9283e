public import InterruptBridgeCore

/// The shape of a software PCI function for `SimulatedBackend`: identity,
/// BARs and which interrupts it has (INTx pin and line, MSI and MSI-X counts).
public struct SimulatedDevice: Sendable, Hashable {
    public var address: PCIAddress
    public var vendorID: UInt16
    public var deviceID: UInt16
    public var classCode: UInt32
    public var bars: [PCIBar]
    /// INTx pin (nil: no line-based interrupt).
    public var interruptPin: InterruptPin?
    /// The Linux IRQ the pin is routed to (the INTx vector).
    public var irqLine: UInt32?
    /// MSI messages the function is capable of (0: no MSI capability; else 1, 2, 4 ... 32).
    public var msiCount: Int
    /// MSI-X table size (0: no MSI-X capability).
    public var msixCount: Int
    /// INTx level semantics: true, the device keeps its line asserted after
    /// `raise` until `acknowledge()` (as QEMU's edu does until its status
    /// register is cleared), so an unmask while asserted re-fires at once: an
    /// ISR that does not acknowledge produces an interrupt storm. False, each
    /// `raise` is one assertion that ends when delivered.
    public var holdsLineUntilAcknowledged: Bool
    /// What messages call it instead of its address (`PCIDeviceInfo.displayName`).
    public var name: String?

    public init(address: PCIAddress = PCIAddress(bus: 0, device: 3, function: 0), vendorID: UInt16 = 0x1234,
                deviceID: UInt16 = 0x11e8, classCode: UInt32 = 0x00ff00,
                bars: [PCIBar] = [PCIBar(index: 0, address: 0xfea0_0000, size: 0x10_0000, space: .memory)],
                interruptPin: InterruptPin? = .a, irqLine: UInt32? = 11, msiCount: Int = 0, msixCount: Int = 0,
                holdsLineUntilAcknowledged: Bool = false, name: String? = nil) {
        self.address = address
        self.vendorID = vendorID
        self.deviceID = deviceID
        self.classCode = classCode
        self.bars = bars
        self.interruptPin = interruptPin
        self.irqLine = irqLine
        self.msiCount = msiCount
        self.msixCount = msixCount
        self.holdsLineUntilAcknowledged = holdsLineUntilAcknowledged
        self.name = name
    }

    /// QEMU's edu device (1234:11e8): BAR0 1 MiB, INTx pin A, one MSI message, no MSI-X.
    public static func edu(address: PCIAddress = PCIAddress(bus: 0, device: 3, function: 0), irqLine: UInt32 = 11) -> SimulatedDevice {
        SimulatedDevice(address: address, interruptPin: .a, irqLine: irqLine, msiCount: 1)
    }

    /// The device as discovery would report it (capabilities at conventional offsets).
    public var info: PCIDeviceInfo {
        var capabilities: [PCICapabilityHeader] = []
        var msi: MSICapability?
        var msix: MSIXCapability?
        if msiCount > 0 {
            msi = MSICapability(offset: 0x40, messagesCapable: msiCount, is64BitAddress: true)
            capabilities.append(PCICapabilityHeader(id: 0x05, offset: 0x40))
        }
        if msixCount > 0 {
            msix = MSIXCapability(offset: 0x60, tableSize: msixCount, tableBAR: 0, tableOffset: 0x8000, pbaBAR: 0, pbaOffset: 0xc000)
            capabilities.append(PCICapabilityHeader(id: 0x11, offset: 0x60))
        }
        var info = PCIDeviceInfo(
            address: address, vendorID: vendorID, deviceID: deviceID, classCode: classCode, deviceName: "simulated device",
            driver: "irqbridge-simulated", bars: bars, interruptPin: interruptPin, irqLine: interruptPin == nil ? nil : irqLine,
            msi: msi, msix: msix, capabilities: capabilities)
        info.displayName = name.map { "simulated device '\($0)'" }
        return info
    }
}
