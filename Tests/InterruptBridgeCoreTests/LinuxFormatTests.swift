import InterruptBridgeCore
import Testing

@Suite struct LinuxFormatTests {
    @Test func cpuLists() {
        #expect(ProcessorAffinity(linuxCPUList: "0-1\n") == .first(2))
        #expect(ProcessorAffinity(linuxCPUList: "0,2-3,8")?.processors == [0, 2, 3, 8])
        #expect(ProcessorAffinity(linuxCPUList: "62-70")?.processors == [62, 63])
        #expect(ProcessorAffinity(linuxCPUList: "0-1,64-127")?.processors == [0, 1], "a range wholly above CPU 63 is left out, not a trap")
        #expect(ProcessorAffinity(linuxCPUList: "")?.isEmpty == true)
        #expect(ProcessorAffinity(linuxCPUList: "3-1") == nil)
        #expect(ProcessorAffinity(linuxCPUList: "a") == nil)
        #expect(ProcessorAffinity(linuxCPUList: "1,,2") == nil)
    }

    @Test func hexMasks() {
        #expect(ProcessorAffinity(linuxHexMask: "3\n") == .first(2))
        #expect(ProcessorAffinity(linuxHexMask: "00000001,00000003")?.processors == [0, 1, 32])
        #expect(ProcessorAffinity(linuxHexMask: "ffffffff,00000000,00000001")?.processors == [0])
        #expect(ProcessorAffinity(linuxHexMask: "xyz") == nil)
        #expect(ProcessorAffinity(linuxHexMask: "123456789") == nil)
    }

    @Test func hotplugActions() {
        #expect(PCIHotplugEvent.Action("add") == .add)
        #expect(PCIHotplugEvent.Action("unbind") == .unbind)
        #expect(PCIHotplugEvent.Action("online") == .other("online"))
        #expect(PCIHotplugEvent(action: .bind, address: PCIAddress(bus: 0, device: 3, function: 0), driver: "vfio-pci").description
                == "bind 0000:00:03.0 (vfio-pci)")
    }
}
