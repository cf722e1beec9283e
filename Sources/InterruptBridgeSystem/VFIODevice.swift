// A VFIO device: config space, BARs, Bus Master Enable and interrupt signalling.
import CInterruptBridge

/// An open vfio-pci device. Keeps its group (and so its container) open while it lives.
///
/// Every method is a thin, typed layer over one VFIO request or one pread/pwrite
/// of the config region; the interrupt-path ones (`unmask`) do not allocate.
public final class VFIODevice: Sendable {
    public let name: String
    public let descriptor: OwnedDescriptor
    public let group: VFIOGroup
    public let info: VFIO.DeviceInfo
    public let config: VFIO.RegionInfo
    /// The BAR mappings handed out (`mapBAR`): a user that lets the device go while it
    /// goes on keeps this, not the device, to release them (`BARMappings.detachAll`).
    public let barMappings = BARMappings()

    /// PCI Command register (config offset 4) bits.
    public enum Command {
        public static let offset = 0x04
        public static let memorySpace: UInt16 = 1 << 1
        public static let busMaster: UInt16 = 1 << 2
        public static let interruptDisable: UInt16 = 1 << 10
    }

    init(adopting descriptor: OwnedDescriptor, name: String, group: VFIOGroup) throws(SystemError) {
        self.descriptor = descriptor
        self.name = name
        self.group = group
        info = try VFIO.VFIO_DEVICE_GET_INFO(descriptor.rawValue)
        guard info.isPCI else { throw SystemError("\(name) is not a vfio-pci device", code: ENODEV) }
        config = try VFIO.VFIO_DEVICE_GET_REGION_INFO(descriptor.rawValue, CIB_VFIO_PCI_CONFIG_REGION_INDEX)
    }

    /// BAR `index`'s region (0...5); another index is EINVAL, as the kernel answers one it
    /// does not have.
    public func regionInfo(bar index: Int) throws(SystemError) -> VFIO.RegionInfo {
        guard (0...5).contains(index) else { throw SystemError("\(name): no BAR\(index) (a function has BAR0 to BAR5)", code: EINVAL) }
        return try VFIO.VFIO_DEVICE_GET_REGION_INFO(descriptor.rawValue, CIB_VFIO_PCI_BAR0_REGION_INDEX + UInt32(index))
    }

    public func irqInfo(_ index: VFIO.IRQIndex) throws(SystemError) -> VFIO.IRQInfo {
        try VFIO.VFIO_DEVICE_GET_IRQ_INFO(descriptor.rawValue, index)
    }

    // MARK: Config space (through the config region; vfio-pci virtualises parts of it)

    public func readConfig<T: FixedWidthInteger>(_: T.Type = T.self, at offset: Int) throws(SystemError) -> T {
        var value: T = 0
        try withUnsafeMutableBytes(of: &value) { (buffer) throws(SystemError) in
            try FileIO.pread(descriptor.rawValue, into: buffer, at: Int64(config.offset) + Int64(offset),
                             "\(name) config 0x\(String(offset, radix: 16))")
        }
        return T(littleEndian: value)
    }

    public func writeConfig<T: FixedWidthInteger>(_ value: T, at offset: Int) throws(SystemError) {
        var little = value.littleEndian
        try withUnsafeBytes(of: &little) { (buffer) throws(SystemError) in
            try FileIO.pwrite(descriptor.rawValue, from: buffer, at: Int64(config.offset) + Int64(offset),
                              "\(name) config 0x\(String(offset, radix: 16))")
        }
    }

    /// Sets Memory Space and Bus Master Enable: without Bus Master, MSI/MSI-X
    /// writes from the device are dropped silently.
    public func enableBusMaster() throws(SystemError) {
        let command: UInt16 = try readConfig(at: Command.offset)
        let wanted = command | Command.busMaster | Command.memorySpace
        if wanted != command { try writeConfig(wanted, at: Command.offset) }
    }

    // MARK: BARs

    /// Maps BAR `index` for register access (read/write, shared). The mapping holds
    /// the device open in the kernel until it is released, even after this object
    /// and its descriptor are gone (the group cannot be opened again until then).
    public func mapBAR(_ index: Int) throws(SystemError) -> MappedRegion {
        let region = try regionInfo(bar: index)
        guard region.size > 0 else { throw SystemError("\(name): BAR\(index) is not implemented", code: ENXIO) }
        guard region.mappable else { throw SystemError("\(name): BAR\(index) cannot be mapped (I/O or not page-aligned)", code: EINVAL) }
        let mapped = try MappedRegion(fd: descriptor.rawValue, offset: Int64(region.offset), length: Int(region.size),
                                      "\(name) BAR\(index)")
        barMappings.add(mapped)
        return mapped
    }

    /// Reads `buffer.count` bytes of BAR `index` at `offset` through the region (no mapping).
    public func readBAR(_ index: Int, at offset: Int, into buffer: UnsafeMutableRawBufferPointer) throws(SystemError) {
        let region = try regionInfo(bar: index)
        try FileIO.pread(descriptor.rawValue, into: buffer, at: Int64(region.offset) + Int64(offset), "\(name) BAR\(index)+0x\(String(offset, radix: 16))")
    }

    /// Reads a register of BAR `index` through the region (pread, no mapping), as one access
    /// of the type's width: `try device.readBAR(1, at: 0x02, as: UInt8.self)`. Works for
    /// I/O-port BARs and BARs that cannot be mapped too. Unsigned widths only, so a width
    /// is always chosen, never Int's by default.
    public func readBAR<T: FixedWidthInteger & UnsignedInteger>(_ index: Int, at offset: Int, as _: T.Type = T.self) throws(SystemError) -> T {
        var value = T.zero
        try withUnsafeMutableBytes(of: &value) { (buffer) throws(SystemError) in try readBAR(index, at: offset, into: buffer) }
        return T(littleEndian: value)
    }

    /// Writes a register of BAR `index` through the region (pwrite, no mapping), as one
    /// access of the value's width (an 8-bit command register takes a `UInt8`). Unsigned
    /// widths only: a bare literal (`1`, an Int) does not compile, instead of writing 8 bytes.
    public func writeBAR<T: FixedWidthInteger & UnsignedInteger>(_ index: Int, at offset: Int, _ value: T) throws(SystemError) {
        let region = try regionInfo(bar: index)
        var little = value.littleEndian
        try withUnsafeBytes(of: &little) { (buffer) throws(SystemError) in
            try FileIO.pwrite(descriptor.rawValue, from: buffer, at: Int64(region.offset) + Int64(offset), "\(name) BAR\(index)+0x\(String(offset, radix: 16))")
        }
    }

    /// Reads a 32-bit register of BAR `index` through the region (pread, no mapping).
    public func readBAR32(_ index: Int, at offset: Int) throws(SystemError) -> UInt32 { try readBAR(index, at: offset, as: UInt32.self) }

    /// Writes a 32-bit register of BAR `index` through the region (pwrite, no mapping).
    public func writeBAR32(_ index: Int, at offset: Int, _ value: UInt32) throws(SystemError) { try writeBAR(index, at: offset, value) }

    // MARK: Interrupts

    /// Signals `eventfds[i]` when sub-index `start + i` of `index` fires (enables the index).
    public func enableInterrupts(_ index: VFIO.IRQIndex, eventfds: [Int32], start: Int = 0) throws(SystemError) {
        try VFIO.VFIO_DEVICE_SET_IRQS(descriptor.rawValue, index, .trigger, start: start, eventfds: eventfds)
    }

    /// Disables the whole index (ACTION_TRIGGER, DATA_NONE, count 0).
    public func disableInterrupts(_ index: VFIO.IRQIndex) throws(SystemError) {
        try VFIO.VFIO_DEVICE_SET_IRQS(descriptor.rawValue, index, .trigger, count: 0)
    }

    /// Installs an eventfd whose every signal unmasks INTx in the kernel (an irqfd),
    /// so the unmask path is one eventfd write instead of an ioctl.
    public func setUnmaskEventFD(_ index: VFIO.IRQIndex, _ eventfd: Int32) throws(SystemError) {
        try VFIO.VFIO_DEVICE_SET_IRQS(descriptor.rawValue, index, .unmask, eventfds: [eventfd])
    }

    /// Unmasks an automasked (level) interrupt now. Does not allocate.
    public func unmask(_ index: VFIO.IRQIndex, subindex: Int = 0) throws(SystemError) {
        try VFIO.VFIO_DEVICE_SET_IRQS(descriptor.rawValue, index, .unmask, start: subindex, count: 1)
    }

    public func mask(_ index: VFIO.IRQIndex, subindex: Int = 0) throws(SystemError) {
        try VFIO.VFIO_DEVICE_SET_IRQS(descriptor.rawValue, index, .mask, start: subindex, count: 1)
    }

    /// Loopback: makes the kernel signal the sub-index's eventfd as if the device had interrupted.
    public func trigger(_ index: VFIO.IRQIndex, subindex: Int = 0) throws(SystemError) {
        try VFIO.VFIO_DEVICE_SET_IRQS(descriptor.rawValue, index, .trigger, start: subindex, count: 1)
    }

    /// The loopback trigger of sub-indexes 0..<`count` of `index`, resolved once for a
    /// run of raises (`VFIOLoopbackTrigger.fire` is one ioctl).
    public func loopbackTrigger(_ index: VFIO.IRQIndex, count: Int) -> VFIOLoopbackTrigger {
        VFIOLoopbackTrigger(device: self, index: index, count: count)
    }

    public func reset() throws(SystemError) { try VFIO.VFIO_DEVICE_RESET(descriptor.rawValue) }
}

#if canImport(Glibc)
import Glibc
#endif

/// The BAR mappings of one VFIO device still alive, held weakly. A mapping keeps the device
/// open in the kernel after its descriptor is closed, so a user that lets one device go
/// while it goes on with others (vfio-pci's unbind waits for the last mapping) releases
/// them here, without keeping the device itself.
public final class BARMappings: Sendable {
    private struct WeakRegion: @unchecked Sendable {
        weak var region: MappedRegion?
    }

    private let regions = LockedValue<[WeakRegion]>([])

    public init() {}

    func add(_ region: MappedRegion) {
        regions.withLock { regions in
            regions.removeAll { $0.region == nil }
            regions.append(WeakRegion(region: region))
        }
    }

    /// Releases the device from every mapping still alive (`MappedRegion.detachFromDevice`:
    /// each address then holds zeroed memory of its own). Returns how many were detached.
    @discardableResult
    public func detachAll() -> Int {
        let live = regions.withLock { regions in
            defer { regions.removeAll() }
            return regions.compactMap(\.region)
        }
        return live.filter { (try? $0.detachFromDevice()) != nil }.count
    }
}
