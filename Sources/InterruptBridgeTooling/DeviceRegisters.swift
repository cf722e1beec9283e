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

extension SelftestStimulus {
    /// A profile's register stimulus on a vfio-pci device: its BARs mapped when they
    /// can be (the ISR's acknowledge then costs no system call), else reached through
    /// the VFIO region one pread/pwrite at a time.
    public static func registers(_ profile: DeviceProfile, vfio device: VFIODevice) throws -> SelftestStimulus {
        let bars = profile.barsUsed
        if MappedBARs.allMappable(bars, in: device) {
            return try registers(profile, on: try MappedBARs.vfio(device, bars: bars))
        }
        return try registers(profile, on: try VFIORegionRegisters(device))
    }

    /// A profile's acknowledge and quiesce on a vfio-pci device, its BARs reached as
    /// `registers(_:vfio:)` reaches them.
    public static func routines(_ profile: DeviceProfile, vfio device: VFIODevice) throws -> Routines {
        let bars = profile.barsUsed
        if MappedBARs.allMappable(bars, in: device) {
            return try routines(profile, on: try MappedBARs.vfio(device, bars: bars))
        }
        return try routines(profile, on: try VFIORegionRegisters(device))
    }
}
