// Reaching a device's BARs for its profile's programs: mapped where the kernel lets
// us map them (VFIO region mmap, sysfs resourceN), through the VFIO region otherwise.
public import InterruptBridgeSystem

extension MappedBARs {
    /// Maps `bars` of a vfio-pci device (each must be mappable: see
    /// `allMappable(_:in:)`); the mappings live as long as the register file.
    public static func vfio(_ device: VFIODevice, bars: [Int]) throws(SystemError) -> MappedBARs {
        var regions: [MappedRegion] = []
        for bar in bars { regions.append(try device.mapBAR(bar)) }
        return MappedBARs(zip(bars, regions).map { Mapping(bar: $0, base: $1.baseAddress, length: $1.length) }, keepAlive: regions)
    }

    /// Maps `bars` through sysfs `resourceN` (a device under uio_pci_generic).
    public static func sysfs(_ address: String, bars: [Int], sysfs: SysfsPCI = SysfsPCI()) throws(SystemError) -> MappedBARs {
        var regions: [MappedRegion] = []
        for bar in bars { regions.append(try sysfs.mapResource(address, bar: bar)) }
        return MappedBARs(zip(bars, regions).map { Mapping(bar: $0, base: $1.baseAddress, length: $1.length) }, keepAlive: regions)
    }

    /// Whether every one of `bars` of a vfio-pci device offers mmap.
    public static func allMappable(_ bars: [Int], in device: VFIODevice) -> Bool {
        bars.allSatisfy { (try? device.regionInfo(bar: $0).mappable) == true }
    }
}

extension VFIORegionRegisters {
    /// The region register file `profile`'s programs need on a vfio-pci device: nil when
    /// every BAR they use can be mapped (the ISR's acknowledge then costs no system call),
    /// else one for all of them (an I/O-port BAR, which VFIO never maps, sends every BAR
    /// of the profile through the region, one pread/pwrite per access).
    public static func needed(for profile: DeviceProfile, on device: VFIODevice) throws(SystemError) -> VFIORegionRegisters? {
        MappedBARs.allMappable(profile.barsUsed, in: device) ? nil : try VFIORegionRegisters(device)
    }
}

extension SelftestStimulus {
    /// A profile's register stimulus on a vfio-pci device: through `region` when given
    /// (`VFIORegionRegisters.needed`), else its BARs mapped.
    public static func registers(_ profile: DeviceProfile, vfio device: VFIODevice, region: VFIORegionRegisters?) throws -> SelftestStimulus {
        if let region { return try registers(profile, on: region) }
        return try registers(profile, on: try MappedBARs.vfio(device, bars: profile.barsUsed))
    }

    /// A profile's register stimulus on a vfio-pci device, its BARs mapped when they can be.
    public static func registers(_ profile: DeviceProfile, vfio device: VFIODevice) throws -> SelftestStimulus {
        try registers(profile, vfio: device, region: try VFIORegionRegisters.needed(for: profile, on: device))
    }

    /// A profile's acknowledge and quiesce on a vfio-pci device, its BARs reached as
    /// `registers(_:vfio:region:)` reaches them.
    public static func routines(_ profile: DeviceProfile, vfio device: VFIODevice, region: VFIORegionRegisters?) throws -> Routines {
        if let region { return try routines(profile, on: region) }
        return try routines(profile, on: try MappedBARs.vfio(device, bars: profile.barsUsed))
    }

    /// A profile's acknowledge and quiesce on a vfio-pci device, its BARs mapped when they can be.
    public static func routines(_ profile: DeviceProfile, vfio device: VFIODevice) throws -> Routines {
        try routines(profile, vfio: device, region: try VFIORegionRegisters.needed(for: profile, on: device))
    }
}
