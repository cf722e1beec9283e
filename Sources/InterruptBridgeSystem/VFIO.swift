// VFIO (linux/vfio.h): the ioctls, named as in C, and the values they return.
// Ownership of the container, group and device descriptors is in VFIOGroup.swift
// and VFIODevice.swift.
import CInterruptBridge

/// The VFIO ioctls, one static function per request, keeping the C names.
public enum VFIO {
    public static let apiVersion = Int32(CIB_VFIO_API_VERSION)
    public static let containerPath = "/dev/vfio/vfio"

    /// vfio-pci's fixed IRQ indexes.
    public enum IRQIndex: UInt32, Sendable, CaseIterable, CustomStringConvertible {
        case intx, msi, msix, err, req

        public init?(rawValue: UInt32) {
            switch rawValue {
            case CIB_VFIO_PCI_INTX_IRQ_INDEX: self = .intx
            case CIB_VFIO_PCI_MSI_IRQ_INDEX: self = .msi
            case CIB_VFIO_PCI_MSIX_IRQ_INDEX: self = .msix
            case CIB_VFIO_PCI_ERR_IRQ_INDEX: self = .err
            case CIB_VFIO_PCI_REQ_IRQ_INDEX: self = .req
            default: return nil
            }
        }

        public var rawValue: UInt32 {
            switch self {
            case .intx: CIB_VFIO_PCI_INTX_IRQ_INDEX
            case .msi: CIB_VFIO_PCI_MSI_IRQ_INDEX
            case .msix: CIB_VFIO_PCI_MSIX_IRQ_INDEX
            case .err: CIB_VFIO_PCI_ERR_IRQ_INDEX
            case .req: CIB_VFIO_PCI_REQ_IRQ_INDEX
            }
        }

        public var description: String {
            switch self {
            case .intx: "INTx"
            case .msi: "MSI"
            case .msix: "MSI-X"
            case .err: "ERR"
            case .req: "REQ"
            }
        }
    }

    /// VFIO_IRQ_SET_ACTION_*.
    public enum IRQAction: Sendable {
        case trigger, mask, unmask
        var rawValue: UInt32 {
            switch self {
            case .trigger: CIB_VFIO_IRQ_SET_ACTION_TRIGGER
            case .mask: CIB_VFIO_IRQ_SET_ACTION_MASK
            case .unmask: CIB_VFIO_IRQ_SET_ACTION_UNMASK
            }
        }
    }

    /// vfio_region_info.
    public struct RegionInfo: Sendable, Hashable {
        public var index: UInt32
        public var size: UInt64
        /// Where the region starts in the device fd (for pread/pwrite/mmap).
        public var offset: UInt64
        public var readable: Bool
        public var writable: Bool
        public var mappable: Bool
    }

    /// vfio_irq_info.
    public struct IRQInfo: Sendable, Hashable {
        public var index: UInt32
        public var count: Int
        public var eventfd: Bool
        public var maskable: Bool
        /// Level-triggered: masked by the kernel when it fires, until unmasked.
        public var automasked: Bool
        /// The set cannot grow once enabled (MSI, MSI-X): disable the index first.
        public var noResize: Bool
    }

    /// vfio_device_info.
    public struct DeviceInfo: Sendable, Hashable {
        public var regions: Int
        public var irqs: Int
        public var resettable: Bool
        public var isPCI: Bool
    }

    public static func VFIO_GET_API_VERSION(_ container: Int32) throws(SystemError) -> Int32 {
        try syscall("VFIO_GET_API_VERSION") { cib_vfio_get_api_version(container) }
    }

    /// Returns whether the container supports the IOMMU type (0 = no).
    public static func VFIO_CHECK_EXTENSION(_ container: Int32, _ iommuType: Int32) throws(SystemError) -> Bool {
        try syscall("VFIO_CHECK_EXTENSION \(iommuType)") { cib_vfio_check_extension(container, iommuType) } > 0
    }

    public static func VFIO_SET_IOMMU(_ container: Int32, _ iommuType: Int32) throws(SystemError) {
        _ = try syscall("VFIO_SET_IOMMU \(iommuType)") { cib_vfio_set_iommu(container, iommuType) }
    }

    /// Returns (viable, containerSet).
    public static func VFIO_GROUP_GET_STATUS(_ group: Int32) throws(SystemError) -> (viable: Bool, containerSet: Bool) {
        var status = cib_vfio_group_status()
        _ = try syscall("VFIO_GROUP_GET_STATUS") { cib_vfio_group_get_status(group, &status) }
        return (status.flags & CIB_VFIO_GROUP_FLAGS_VIABLE != 0, status.flags & CIB_VFIO_GROUP_FLAGS_CONTAINER_SET != 0)
    }

    public static func VFIO_GROUP_SET_CONTAINER(_ group: Int32, _ container: Int32) throws(SystemError) {
        _ = try syscall("VFIO_GROUP_SET_CONTAINER") { cib_vfio_group_set_container(group, container) }
    }

    public static func VFIO_GROUP_UNSET_CONTAINER(_ group: Int32) throws(SystemError) {
        _ = try syscall("VFIO_GROUP_UNSET_CONTAINER") { cib_vfio_group_unset_container(group) }
    }

    public static func VFIO_GROUP_GET_DEVICE_FD(_ group: Int32, _ name: String) throws(SystemError) -> Int32 {
        try syscall("VFIO_GROUP_GET_DEVICE_FD \(name)") { cib_vfio_group_get_device_fd(group, name) }
    }

    public static func VFIO_DEVICE_GET_INFO(_ device: Int32) throws(SystemError) -> DeviceInfo {
        var info = cib_vfio_device_info()
        _ = try syscall("VFIO_DEVICE_GET_INFO") { cib_vfio_device_get_info(device, &info) }
        return DeviceInfo(regions: Int(info.num_regions), irqs: Int(info.num_irqs),
                          resettable: info.flags & CIB_VFIO_DEVICE_FLAGS_RESET != 0,
                          isPCI: info.flags & CIB_VFIO_DEVICE_FLAGS_PCI != 0)
    }

    public static func VFIO_DEVICE_GET_REGION_INFO(_ device: Int32, _ index: UInt32) throws(SystemError) -> RegionInfo {
        var info = cib_vfio_region_info()
        _ = try syscall("VFIO_DEVICE_GET_REGION_INFO \(index)") { cib_vfio_device_get_region_info(device, index, &info) }
        return RegionInfo(index: index, size: info.size, offset: info.offset,
                          readable: info.flags & CIB_VFIO_REGION_INFO_FLAG_READ != 0,
                          writable: info.flags & CIB_VFIO_REGION_INFO_FLAG_WRITE != 0,
                          mappable: info.flags & CIB_VFIO_REGION_INFO_FLAG_MMAP != 0)
    }

    public static func VFIO_DEVICE_GET_IRQ_INFO(_ device: Int32, _ index: IRQIndex) throws(SystemError) -> IRQInfo {
        var info = cib_vfio_irq_info()
        _ = try syscall("VFIO_DEVICE_GET_IRQ_INFO \(index)") { cib_vfio_device_get_irq_info(device, index.rawValue, &info) }
        return IRQInfo(index: index.rawValue, count: Int(info.count),
                       eventfd: info.flags & CIB_VFIO_IRQ_INFO_EVENTFD != 0,
                       maskable: info.flags & CIB_VFIO_IRQ_INFO_MASKABLE != 0,
                       automasked: info.flags & CIB_VFIO_IRQ_INFO_AUTOMASKED != 0,
                       noResize: info.flags & CIB_VFIO_IRQ_INFO_NORESIZE != 0)
    }

    /// VFIO_DEVICE_SET_IRQS with DATA_EVENTFD (one descriptor per sub-index, -1 de-assigns).
    public static func VFIO_DEVICE_SET_IRQS(_ device: Int32, _ index: IRQIndex, _ action: IRQAction,
                                            start: Int = 0, eventfds: [Int32]) throws(SystemError) {
        guard UInt32(exactly: start) != nil else { throw SystemError("VFIO_DEVICE_SET_IRQS \(index) \(action) from sub-index \(start)", code: EINVAL) }
        _ = try syscall("VFIO_DEVICE_SET_IRQS \(index) \(action) eventfds \(eventfds)") {
            eventfds.withUnsafeBufferPointer {
                cib_vfio_device_set_irqs(device, index.rawValue, action.rawValue, UInt32(start), UInt32($0.count), $0.baseAddress)
            }
        }
    }

    /// VFIO_DEVICE_SET_IRQS with DATA_NONE: act now on `count` sub-indexes from `start`
    /// (count 0 with `.trigger` disables the index). Does not allocate.
    public static func VFIO_DEVICE_SET_IRQS(_ device: Int32, _ index: IRQIndex, _ action: IRQAction,
                                            start: Int = 0, count: Int) throws(SystemError) {
        guard UInt32(exactly: start) != nil, UInt32(exactly: count) != nil else {
            throw SystemError("VFIO_DEVICE_SET_IRQS \(index) \(action) sub-indexes \(start) count \(count)", code: EINVAL)
        }
        _ = try syscall("VFIO_DEVICE_SET_IRQS \(index) \(action) none") {
            cib_vfio_device_set_irqs(device, index.rawValue, action.rawValue, UInt32(start), UInt32(count), nil)
        }
    }

    /// Maps `size` bytes of this process's memory at `vaddr` for the container's devices to
    /// read and write at IOVA `iova` (type-1 IOMMU; the kernel pins the pages).
    public static func VFIO_IOMMU_MAP_DMA(_ container: Int32, vaddr: UInt64, iova: UInt64, size: UInt64) throws(SystemError) {
        _ = try syscall("VFIO_IOMMU_MAP_DMA iova 0x\(String(iova, radix: 16)) size 0x\(String(size, radix: 16))") {
            cib_vfio_iommu_map_dma(container, vaddr, iova, size)
        }
    }

    /// Unmaps what one `VFIO_IOMMU_MAP_DMA` mapped; returns how many bytes the kernel unmapped.
    @discardableResult
    public static func VFIO_IOMMU_UNMAP_DMA(_ container: Int32, iova: UInt64, size: UInt64) throws(SystemError) -> UInt64 {
        var unmapped: UInt64 = 0
        _ = try syscall("VFIO_IOMMU_UNMAP_DMA iova 0x\(String(iova, radix: 16)) size 0x\(String(size, radix: 16))") {
            cib_vfio_iommu_unmap_dma(container, iova, size, &unmapped)
        }
        return unmapped
    }

    public static func VFIO_DEVICE_RESET(_ device: Int32) throws(SystemError) {
        _ = try syscall("VFIO_DEVICE_RESET") { cib_vfio_device_reset(device) }
    }
}
