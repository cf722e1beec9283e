import CInterruptBridge
public import InterruptBridgeCore

/// A libpci failure: pci_init, the dump-file parser or pci_fill_info reported
/// an error (libpci errors are messages, not errno values).
public struct LibPCIError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What the bridge asked libpci to do ("read dump file fixtures/x.lspci").
    public var operation: String
    /// libpci's own message ("dump: Malformed line").
    public var message: String

    public init(_ operation: String, message: String) {
        self.operation = operation
        self.message = message
    }

    public var description: String { "libpci: \(operation): \(message)" }
}

/// Why `PCIAccess.scan` failed: libpci itself, or a dump file refused before libpci saw it.
public enum PCIAccessError: Error, Sendable, Hashable, CustomStringConvertible {
    case libpci(LibPCIError)
    /// Not a regular file, too large, or unreadable.
    case unreadableDump(RegularFileError)
    /// Not in the `lspci -x` format (the file and line are named).
    case malformedDump(PCIDumpFileError)

    public var description: String {
        switch self {
        case .libpci(let error): "\(error)"
        case .unreadableDump(let error): "\(error)"
        case .malformedDump(let error): "\(error)"
        }
    }
}

/// PCI config-space access through libpci (the same library `lspci` uses).
public enum PCIAccess {
    /// Where libpci reads from.
    public enum Source: Sendable, Hashable, CustomStringConvertible {
        /// The running system (sysfs, or whatever method libpci detects).
        case live
        /// An `lspci -x`/`-xxx`/`-xxxx` dump file (libpci's "dump" access method).
        case dump(path: String)

        public var description: String {
            switch self {
            case .live: "the live system"
            case .dump(let path): "dump file \(path)"
            }
        }
    }

    /// The largest dump file read: a dump of 1,000 functions with all 4096 bytes of
    /// config space each (`lspci -xxxx`, about 14 KB a function) is about 14 MB.
    public static let dumpSizeLimit = 16 << 20

    /// Scans the bus and reads every function: identity, names, driver, IOMMU
    /// group, IRQ, BARs and as much config space as is readable. Sorted by address.
    ///
    /// A dump must be a regular file of at most `dumpSizeLimit` bytes in the format
    /// `PCIDumpFile` checks; libpci then reads that same open file (through
    /// /proc/self/fd), so it never parses a line that was not checked, unless the file
    /// is rewritten in place meanwhile by someone with write access to it.
    ///
    /// `only`: read just that function (an empty result when the bus has no such
    /// function); the scan still lists the bus, but no other function's config space,
    /// names or driver are read.
    public static func scan(_ source: Source, only: PCIAddress? = nil) throws(PCIAccessError) -> [PCIFunctionSnapshot] {
        var message = [CChar](repeating: 0, count: 512)
        let handle: OpaquePointer?
        switch source {
        case .live:
            handle = cib_pci_open(nil, &message, message.count)
        case .dump(let path):
            let file: RegularFile
            do {
                file = try RegularFile(reading: path, limit: dumpSizeLimit)
            } catch {
                throw .unreadableDump(error)
            }
            do {
                try PCIDumpFile.validate(file.bytes, path: path)
            } catch {
                throw .malformedDump(error)
            }
            handle = withExtendedLifetime(file) { cib_pci_open(file.reopenPath, &message, message.count) }
        }
        guard let handle else { throw .libpci(LibPCIError("open \(source)", message: Self.string(message))) }
        defer { cib_pci_close(handle) }

        let function = UnsafeMutablePointer<cib_pci_function>.allocate(capacity: 1)
        defer { function.deallocate() }
        var snapshots: [PCIFunctionSnapshot] = []
        let indices: [Int32]
        if let only {
            let index = cib_pci_index_of(handle, Int32(bitPattern: only.domain), Int32(only.bus), Int32(only.device), Int32(only.function))
            indices = index < 0 ? [] : [index]
        } else {
            indices = Array(0..<cib_pci_count(handle))
        }
        for index in indices {
            guard cib_pci_describe(handle, index, function, &message, message.count) == 0 else {
                throw .libpci(LibPCIError("describe device \(index) of \(source)", message: Self.string(message)))
            }
            snapshots.append(snapshot(of: function.pointee, names: handle))
        }
        return snapshots.sorted { $0.address < $1.address }
    }

    private static func snapshot(of function: cib_pci_function, names handle: OpaquePointer) -> PCIFunctionSnapshot {
        var function = function
        let address = PCIAddress(domain: UInt32(bitPattern: function.domain), bus: function.bus,
                                 device: function.device & 0x1f, function: function.function & 0x7)
        let config = withUnsafeBytes(of: &function.config) { Array($0.prefix(Int(function.config_length))) }
        let bases = withUnsafeBytes(of: &function.base_addr) { Array($0.bindMemory(to: UInt64.self)) }
        let sizes = withUnsafeBytes(of: &function.size) { Array($0.bindMemory(to: UInt64.self)) }
        let driver = withUnsafeBytes(of: &function.driver) { string(bytes: $0) }
        let group = withUnsafeBytes(of: &function.iommu_group) { string(bytes: $0) }
        let vendorID = function.vendor_id
        let deviceID = function.device_id
        let deviceClass = function.device_class
        // libpci reports 0000:0000 for functions without a subsystem (bridges); lspci shows none.
        let hasSubsystem = function.has_subsystem != 0 && (function.subsystem_vendor_id != 0 || function.subsystem_id != 0)
        return PCIFunctionSnapshot(
            address: address, vendorID: vendorID, deviceID: deviceID,
            subsystemVendorID: hasSubsystem ? function.subsystem_vendor_id : nil,
            subsystemID: hasSubsystem ? function.subsystem_id : nil,
            irq: function.irq, baseAddresses: bases, sizes: function.sizes_known != 0 ? sizes : [],
            vendorName: lookup { cib_pci_vendor_name(handle, vendorID, $0, $1) },
            deviceName: lookup { cib_pci_device_name(handle, vendorID, deviceID, $0, $1) },
            className: lookup { cib_pci_class_name(handle, deviceClass, $0, $1) },
            driver: driver.isEmpty ? nil : driver,
            iommuGroup: Int(group),
            config: config)
    }

    private static func lookup(_ body: (UnsafeMutablePointer<CChar>, Int) -> Int32) -> String? {
        var buffer = [CChar](repeating: 0, count: 256)
        guard body(&buffer, buffer.count) == 0 else { return nil }
        return string(buffer)
    }

    private static func string(_ characters: [CChar]) -> String {
        characters.withUnsafeBytes { string(bytes: $0) }
    }

    private static func string(bytes: UnsafeRawBufferPointer) -> String {
        let end = bytes.firstIndex(of: 0) ?? bytes.count
        return String(decoding: bytes[..<end], as: UTF8.self)
    }
}
