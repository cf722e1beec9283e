// The I/O space a ported driver reaches its registers through: MmMapIoSpace over a memory
// BAR that its translated CmResourceTypeMemory descriptor names, and the I/O port windows
// that READ_PORT_* and WRITE_PORT_* find by port number. Both are found among the device
// objects alive, each of which brings its device's BARs.
import InterruptBridge
import InterruptBridgeCore
import InterruptBridgeSystem

public typealias SIZE_T = ULONG_PTR
public typealias ULONG64 = UInt64
public typealias PUCHAR = UnsafeMutablePointer<UCHAR>
public typealias PUSHORT = UnsafeMutablePointer<USHORT>
public typealias PULONG = UnsafeMutablePointer<ULONG>
public typealias PULONG64 = UnsafeMutablePointer<ULONG64>

/// MEMORY_CACHING_TYPE. A mapping here is always the device's own (uncached, as the kernel
/// maps a PCI BAR for user space), whichever type is asked for.
public struct MEMORY_CACHING_TYPE: RawRepresentable, Sendable, Hashable {
    public var rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }
}
public let MmNonCached = MEMORY_CACHING_TYPE(rawValue: 0)
public let MmCached = MEMORY_CACHING_TYPE(rawValue: 1)
public let MmWriteCombined = MEMORY_CACHING_TYPE(rawValue: 2)
public let MmHardwareCoherentCached = MEMORY_CACHING_TYPE(rawValue: 3)
public let MmNonCachedUnordered = MEMORY_CACHING_TYPE(rawValue: 4)
public let MmUSWCCached = MEMORY_CACHING_TYPE(rawValue: 5)

// MmMapIoSpaceEx's page protections.
public let PAGE_NOACCESS: ULONG = 0x01
public let PAGE_READONLY: ULONG = 0x02
public let PAGE_READWRITE: ULONG = 0x04
public let PAGE_EXECUTE: ULONG = 0x10
public let PAGE_EXECUTE_READ: ULONG = 0x20
public let PAGE_EXECUTE_READWRITE: ULONG = 0x40
public let PAGE_NOCACHE: ULONG = 0x200
public let PAGE_WRITECOMBINE: ULONG = 0x400

/// `MmMapIoSpace`: maps `NumberOfBytes` of device memory at `PhysicalAddress` (the `Start`
/// of a translated CmResourceTypeMemory descriptor, or an address inside it) and returns
/// where the driver reaches it, for READ_REGISTER_* and WRITE_REGISTER_*. NULL when no
/// device object alive has a memory BAR holding the whole range, when the length is 0, or
/// when the BAR cannot be mapped (a VFIO region without mmap, a closed device).
///
/// The mapping is the device's own, shared and uncached, whatever `CacheType` says. Release
/// it with `MmUnmapIoSpace` (IRP_MN_STOP_DEVICE, IRP_MN_REMOVE_DEVICE): a VFIO device stays
/// open in the kernel until then. After the kernel asked for a VFIO device back (unbind,
/// hot-unplug), its addresses read zeroes and writes go nowhere, where a driver's ISR
/// reading a removed card sees all ones on Windows.
///
/// The address is a raw pointer into the BAR, as in the kernel: an access past what was
/// mapped is the driver's bug and is not checked.
public func MmMapIoSpace(_ PhysicalAddress: PHYSICAL_ADDRESS, _ NumberOfBytes: SIZE_T,
                         _ CacheType: MEMORY_CACHING_TYPE) -> UnsafeMutableRawPointer? {
    IoSpace.map(UInt64(bitPattern: PhysicalAddress.QuadPart), length: NumberOfBytes)
}

/// `MmMapIoSpace` into a typed variable: `devExt.Registers = MmMapIoSpace(Start, Length, MmNonCached)`
/// with `Registers: PUCHAR?`, as the C driver casts `(PUCHAR)MmMapIoSpace(...)`.
public func MmMapIoSpace<Pointee>(_ PhysicalAddress: PHYSICAL_ADDRESS, _ NumberOfBytes: SIZE_T,
                                  _ CacheType: MEMORY_CACHING_TYPE) -> UnsafeMutablePointer<Pointee>? {
    IoSpace.map(UInt64(bitPattern: PhysicalAddress.QuadPart), length: NumberOfBytes)?.assumingMemoryBound(to: Pointee.self)
}

/// `MmMapIoSpaceEx`: `MmMapIoSpace` with page protection (PAGE_READWRITE | PAGE_NOCACHE,
/// ...). One of PAGE_READONLY, PAGE_READWRITE, PAGE_EXECUTE, PAGE_EXECUTE_READ and
/// PAGE_EXECUTE_READWRITE must be set (NULL otherwise, PAGE_NOACCESS included). The mapping
/// is read/write and uncached whichever is asked: a PAGE_READONLY mapping takes a write
/// (the device's registers, not the process's memory, are what it protects on Windows).
public func MmMapIoSpaceEx(_ PhysicalAddress: PHYSICAL_ADDRESS, _ NumberOfBytes: SIZE_T, _ Protect: ULONG) -> UnsafeMutableRawPointer? {
    let access = PAGE_READONLY | PAGE_READWRITE | PAGE_EXECUTE | PAGE_EXECUTE_READ | PAGE_EXECUTE_READWRITE
    guard Protect & access != 0 else { return nil }
    return IoSpace.map(UInt64(bitPattern: PhysicalAddress.QuadPart), length: NumberOfBytes)
}

/// `MmMapIoSpaceEx` into a typed variable.
public func MmMapIoSpaceEx<Pointee>(_ PhysicalAddress: PHYSICAL_ADDRESS, _ NumberOfBytes: SIZE_T,
                                    _ Protect: ULONG) -> UnsafeMutablePointer<Pointee>? {
    let mapped: UnsafeMutableRawPointer? = MmMapIoSpaceEx(PhysicalAddress, NumberOfBytes, Protect)
    return mapped?.assumingMemoryBound(to: Pointee.self)
}

/// `MmUnmapIoSpace`: releases a mapping `MmMapIoSpace` returned (`NumberOfBytes` as mapped).
/// An address it did not return stops the process, as Windows stops with a bug check.
public func MmUnmapIoSpace(_ BaseAddress: UnsafeMutableRawPointer?, _ NumberOfBytes: SIZE_T) {
    guard let BaseAddress else { preconditionFailure("MmUnmapIoSpace: BaseAddress is NULL") }
    IoSpace.unmap(BaseAddress, length: NumberOfBytes)
}

/// `MmUnmapIoSpace` of a typed pointer (`devExt.Registers`).
public func MmUnmapIoSpace<Pointee>(_ BaseAddress: UnsafeMutablePointer<Pointee>?, _ NumberOfBytes: SIZE_T) {
    MmUnmapIoSpace(UnsafeMutableRawPointer(BaseAddress), NumberOfBytes)
}

/// The BAR windows of the device objects alive, and the mappings MmMapIoSpace made.
enum IoSpace {
    /// One BAR of a device object's device.
    struct Window: Sendable {
        var owner: ObjectIdentifier
        var space: PCIBar.Space
        var start: UInt64
        var length: UInt64
        var bar: Int
        var backend: any InterruptBackend

        func holds(_ address: UInt64, _ count: UInt64) -> Bool {
            address >= start && count <= length && address - start <= length - count
        }
    }

    /// The windows at one moment: replaced whole as device objects come and go, so a port
    /// access copies one reference under the spin lock and searches it outside.
    final class Windows: Sendable {
        let all: [Window]
        init(_ all: [Window]) { self.all = all }
    }

    private struct Mapping: @unchecked Sendable {
        // @unchecked: the address is only compared, never dereferenced here.
        var address: UnsafeMutableRawPointer
        var length: SIZE_T
        var region: MappedRegion
    }

    /// What readers see (a port access may come from an ISR: it holds the spin lock only
    /// to copy the reference).
    static let windows = SpinLockedSlot(Windows([]))
    /// The same windows, for the device objects' creation and end, which change them one
    /// at a time under this lock and publish each new set in `windows`.
    private static let changes = LockedValue<[Window]>([])
    private static let mappings = LockedValue<[Mapping]>([])

    /// Adds the BARs of a device object's device (at its creation).
    static func add(_ deviceObject: DEVICE_OBJECT) {
        let device = deviceObject.device
        let added = device.info.bars.filter { $0.size > 0 && $0.address != 0 }.map {
            Window(owner: ObjectIdentifier(deviceObject), space: $0.space, start: $0.address, length: $0.size, bar: $0.index,
                   backend: device.backend)
        }
        guard !added.isEmpty else { return }
        changes.withLock { all in
            all += added
            windows.replace(with: Windows(all))
        }
    }

    /// Removes a device object's windows (as it goes).
    static func remove(_ owner: ObjectIdentifier) {
        changes.withLock { all in
            guard all.contains(where: { $0.owner == owner }) else { return }
            all.removeAll { $0.owner == owner }
            windows.replace(with: Windows(all))
        }
    }

    /// The window of `space` holding `count` bytes at `address`, if any.
    static func window(_ space: PCIBar.Space, holding address: UInt64, _ count: UInt64) -> Window? {
        let current = windows.read()
        for window in current.all where window.space == space && window.holds(address, count) { return window }
        return nil
    }

    static func map(_ physical: UInt64, length: SIZE_T) -> UnsafeMutableRawPointer? {
        requireIrql(atMost: DISPATCH_LEVEL, "MmMapIoSpace", advice: "map at start-device, not in the ISR")
        guard length > 0, let window = window(.memory, holding: physical, UInt64(length)),
              let region = try? window.backend.mapRegisters(bar: window.bar),
              UInt64(region.length) >= physical - window.start + UInt64(length)
        else { return nil }
        let address = region.baseAddress + Int(physical - window.start)
        mappings.withLock { $0.append(Mapping(address: address, length: length, region: region)) }
        return address
    }

    static func unmap(_ address: UnsafeMutableRawPointer, length: SIZE_T) {
        requireIrql(atMost: DISPATCH_LEVEL, "MmUnmapIoSpace")
        let released = mappings.withLock { mappings -> Mapping? in
            guard let index = mappings.firstIndex(where: { $0.address == address }) else { return nil }
            return mappings.remove(at: index)
        }
        guard let released else {
            preconditionFailure("MmUnmapIoSpace: \(address) is not an address MmMapIoSpace returned (or it was unmapped already)")
        }
        withExtendedLifetime(released) {}  // the region is unmapped here, outside the lock
    }

    /// Whether `address` is a mapping MmMapIoSpace returned and MmUnmapIoSpace has not released.
    static func isMapped(_ address: UnsafeMutableRawPointer) -> Bool { mappings.withLock { $0.contains { $0.address == address } } }
}
