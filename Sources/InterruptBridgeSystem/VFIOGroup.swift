// The VFIO container (/dev/vfio/vfio) and group (/dev/vfio/N) a device is reached through.
#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import CInterruptBridge
import InterruptBridgeCore

/// An open VFIO container. Its IOMMU model is chosen when the first group is attached.
public final class VFIOContainer: Sendable {
    public let descriptor: OwnedDescriptor
    /// Set once the first group is attached (VFIO_SET_IOMMU may be called only once).
    private let iommuSet = Atomic<Bool>(false)
    /// The IOVAs its DMA mappings use, avoiding every attached group's reserved regions
    /// (`mapDMA`, VFIOContainer+DMA.swift).
    let addressSpace = LockedValue(DeviceAddressSpace())

    /// Opens the container and checks the API version and that a type-1 IOMMU is offered.
    public init(path: String = VFIO.containerPath) throws(SystemError) {
        descriptor = try FileIO.open(path, .readWrite)
        let version = try VFIO.VFIO_GET_API_VERSION(descriptor.rawValue)
        guard version == VFIO.apiVersion else {
            throw SystemError("\(path): VFIO API version \(version), this build speaks \(VFIO.apiVersion)", code: EPROTONOSUPPORT)
        }
        let type1v2 = try VFIO.VFIO_CHECK_EXTENSION(descriptor.rawValue, Int32(CIB_VFIO_TYPE1v2_IOMMU))
        let type1 = try VFIO.VFIO_CHECK_EXTENSION(descriptor.rawValue, Int32(CIB_VFIO_TYPE1_IOMMU))
        guard type1v2 || type1 else { throw SystemError("\(path): no type-1 IOMMU (is an IOMMU enabled, e.g. intel_iommu=on?)", code: ENODEV) }
    }

    /// Attaches a group, selecting the type-1 IOMMU on the first attach.
    func attach(_ group: Int32) throws(SystemError) {
        try VFIO.VFIO_GROUP_SET_CONTAINER(group, descriptor.rawValue)
        guard iommuSet.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged else { return }
        do {
            let v2 = try VFIO.VFIO_CHECK_EXTENSION(descriptor.rawValue, Int32(CIB_VFIO_TYPE1v2_IOMMU))
            try VFIO.VFIO_SET_IOMMU(descriptor.rawValue, Int32(v2 ? CIB_VFIO_TYPE1v2_IOMMU : CIB_VFIO_TYPE1_IOMMU))
        } catch {
            iommuSet.store(false, ordering: .releasing)
            try? VFIO.VFIO_GROUP_UNSET_CONTAINER(group)
            throw error
        }
    }
}

/// An open, viable VFIO group attached to a container.
public final class VFIOGroup: Sendable {
    public let number: Int
    public let descriptor: OwnedDescriptor
    public let container: VFIOContainer

    /// Why a group cannot be used: a member bound to a driver that does not leave DMA to
    /// VFIO (no driver, vfio-pci and its variants, pci-stub and pcieport are fine: `leavesDMAToVFIO`).
    public struct NotViable: Error, Sendable, Hashable {
        public var group: Int
        public var blockers: [String]

        public init(group: Int, blockers: [String]) {
            self.group = group
            self.blockers = blockers
        }

        /// What a user opening `address` is told, with the next step.
        public func refusal(opening address: String) -> String {
            let who = blockers.isEmpty ? "a member not bound to vfio-pci" : blockers.joined(separator: ", ")
            return "IOMMU group \(group) of \(address) is not viable: \(who); bind every member to vfio-pci or unbind it"
        }
    }

    /// The members of group `number` that keep it from being viable, as "ADDRESS (bound to
    /// DRIVER)", read from sysfs (empty when the group cannot be read).
    public static func blockers(ofGroup number: Int, sysfs: SysfsPCI = SysfsPCI()) -> [String] {
        ((try? sysfs.groupMembers(number)) ?? []).compactMap { member -> String? in
            guard let driver = member.driver, !leavesDMAToVFIO(driver) else { return nil }
            return "\(member.address) (bound to \(driver))"
        }
    }

    /// Whether a driver on another member of a group leaves the group viable for VFIO: the
    /// kernel opens a group while its other members are unbound or on a driver that declares
    /// `driver_managed_dma`: vfio-pci and its variant drivers (mlx5_vfio_pci, ...), pci-stub,
    /// and pcieport (a root port often shares its group with the card behind it).
    public static func leavesDMAToVFIO(_ driver: String) -> Bool {
        ["pci-stub", "pcieport"].contains(driver) || driver.replacing("_", with: "-").contains("vfio-pci")
    }

    /// Opens /dev/vfio/N. Returns `.failure(NotViable)` naming the members that keep
    /// the group from being viable, rather than attaching it.
    public static func open(_ number: Int, container: VFIOContainer, sysfs: SysfsPCI = SysfsPCI(),
                            devicePath: String? = nil) throws(SystemError) -> Result<VFIOGroup, NotViable> {
        let path = devicePath ?? "/dev/vfio/\(number)"
        let descriptor = try FileIO.open(path, .readWrite)
        let status = try VFIO.VFIO_GROUP_GET_STATUS(descriptor.rawValue)
        guard status.viable else { return .failure(NotViable(group: number, blockers: blockers(ofGroup: number, sysfs: sysfs))) }
        try container.attach(descriptor.rawValue)
        container.reserve(sysfs.reservedRegions(ofGroup: number))
        return .success(VFIOGroup(number: number, descriptor: descriptor, container: container))
    }

    private init(number: Int, descriptor: OwnedDescriptor, container: VFIOContainer) {
        self.number = number
        self.descriptor = descriptor
        self.container = container
    }

    /// Opens a device of the group by its sysfs name ("0000:00:03.0").
    public func openDevice(_ address: String) throws(SystemError) -> VFIODevice {
        let fd = try VFIO.VFIO_GROUP_GET_DEVICE_FD(descriptor.rawValue, address)
        return try VFIODevice(adopting: OwnedDescriptor(adopting: fd, name: "VFIO device \(address)"), name: address, group: self)
    }
}
