import InterruptBridge
import InterruptBridgeTestKit
import InterruptBridgeCore
import InterruptBridgeSystem
import Logging
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A fake /sys (and /dev) in a temporary directory, laid out as the kernel lays out
/// a PCI function's attributes, so the backends' checks run without hardware.
struct FakeSysfs {
    let root: String
    let address = "0000:00:03.0"

    init() {
        var template = Array("/tmp/irqbridge-sysfs-XXXXXX".utf8CString)
        root = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
        try! FileIO.makeDirectories(device)
        try! FileIO.makeDirectories("\(root)/bus/pci/drivers")
        try! FileIO.makeDirectories("\(root)/dev")
    }

    var sysfs: SysfsPCI { SysfsPCI(root: root) }
    var device: String { "\(root)/bus/pci/devices/\(address)" }
    var info: PCIDeviceInfo { PCIDeviceInfo(address: PCIAddress(address)!, vendorID: 0x1234, deviceID: 0x11e8, interruptPin: .a, irqLine: 11) }

    func bind(to driver: String) {
        try! FileIO.makeDirectories("\(root)/bus/pci/drivers/\(driver)")
        symlink("../../../bus/pci/drivers/\(driver)", "\(device)/driver")
    }

    func group(_ number: Int) {
        try! FileIO.makeDirectories("\(root)/kernel/iommu_groups/\(number)/devices")
        symlink("../../../kernel/iommu_groups/\(number)", "\(device)/iommu_group")
    }

    /// A UIO node (a plain file standing in for /dev/uio0) and a 256-byte config file.
    func uio(command: UInt16, status: UInt16 = 0) {
        try! FileIO.makeDirectories("\(device)/uio/uio0")
        try! FileIO.writeText("\(root)/dev/uio0", "", create: true)
        var config = [UInt8](repeating: 0, count: 256)
        config[4] = UInt8(command & 0xff)
        config[5] = UInt8(command >> 8)
        config[6] = UInt8(status & 0xff)
        config[7] = UInt8(status >> 8)
        try! FileIO.writeText("\(device)/config", String(decoding: config, as: UTF8.self), create: true)
    }

    func command() throws -> UInt16 {
        let bytes = try sysfs.readConfig(address, at: 4, count: 2)
        return UInt16(bytes[0]) | UInt16(bytes[1]) << 8
    }

    func remove() { _ = system("rm -rf '\(root)'") }

    /// Descriptors of this process open on files under the fake root (robust against
    /// tests running in parallel, unlike a total count).
    func openDescriptors() -> Int {
        ((try? FileIO.listDirectory("/proc/self/fd")) ?? []).filter { fd in
            (try? FileIO.readlink("/proc/self/fd/\(fd)"))?.hasPrefix(root) == true
        }.count
    }
}

@Suite("Backend checks that need no hardware")
struct BackendErrorTests {
    let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })

    func kernelLimit(_ body: () throws -> Void) -> String? {
        do {
            try body()
            return nil
        } catch let BackendError.kernelLimit(reason) {
            return reason
        } catch {
            return "unexpected \(error)"
        }
    }

    @Test func vfioWithoutAnIOMMUGroupSaysSo() {
        let fake = FakeSysfs()
        defer { fake.remove() }
        let reason = kernelLimit { _ = try VFIOBackend(device: fake.info, sysfs: fake.sysfs, logger: logger) }
        #expect(reason?.contains("has no IOMMU group: VFIO needs an IOMMU") == true, "\(reason ?? "no error")")
    }

    @Test func vfioOnADeviceBoundElsewhereNamesTheDriverAndTheFix() {
        let fake = FakeSysfs()
        defer { fake.remove() }
        fake.group(7)
        fake.bind(to: "e1000e")
        let reason = kernelLimit { _ = try VFIOBackend(device: fake.info, sysfs: fake.sysfs, logger: logger) }
        #expect(reason == "0000:00:03.0 is bound to e1000e, not vfio-pci "
                + "(irqbridge bind 0000:00:03.0 --driver vfio-pci; in the QEMU rig, --bind 0000:00:03.0=vfio-pci or Rig.bind)")
    }

    @Test func vfioWithoutTheContainerFailsCleanlyAndLeaksNothing() throws {
        let fake = FakeSysfs()
        defer { fake.remove() }
        fake.group(7)
        fake.bind(to: "vfio-pci")
        for _ in 0..<20 {
            do {
                _ = try VFIOBackend(device: fake.info, container: VFIOContainer(path: "\(fake.root)/dev/vfio-missing"),
                                    sysfs: fake.sysfs, logger: logger)
                Issue.record("opened a container that does not exist")
            } catch let error as SystemError {
                #expect(error.code == ENOENT)
                #expect(error.operation.hasSuffix("/dev/vfio-missing"))
            }
        }
        #expect(fake.openDescriptors() == 0)
    }

    @Test func uioWithoutANodeNamesTheFix() {
        let fake = FakeSysfs()
        defer { fake.remove() }
        fake.bind(to: "uio_pci_generic")
        let reason = kernelLimit { _ = try UIOBackend(device: fake.info, sysfs: fake.sysfs, devRoot: "\(fake.root)/dev", logger: logger) }
        #expect(reason?.contains("has no UIO node: bind it to uio_pci_generic first") == true)
    }

    /// The line a backend reports is the one the kernel routed when the driver enabled the
    /// function (sysfs `irq` read after the bind), not the one discovery read before it.
    @Test(arguments: [("23\n", 11, true, 23), ("0\n", 11, false, 11), ("11\n", 11, true, 11), (nil, 11, false, 11)] as [(String?, UInt32, Bool, UInt32)])
    func uioReportsTheLineTheEnableRouted(sysfsIRQ: String?, discovered: UInt32, routed: Bool, expected: UInt32) throws {
        let fake = FakeSysfs()
        defer { fake.remove() }
        fake.bind(to: "uio_pci_generic")
        fake.uio(command: 0x0002)
        if let sysfsIRQ { try FileIO.writeText(fake.device + "/irq", sysfsIRQ, create: true) }
        var info = fake.info
        info.irqLine = discovered
        info.isIRQRouted = false
        let backend = try UIOBackend(device: info, sysfs: fake.sysfs, devRoot: "\(fake.root)/dev", logger: logger)
        defer { backend.close() }
        #expect(backend.device.irqLine == expected)
        #expect(backend.device.isIRQRouted == routed)
    }

    /// A UIO card going away: uio_pci_generic freed its handler before the node read EIO, so
    /// the gate's close (the loop's, on that read) masks the line through the still-open config
    /// file and refuses later raises. Without it a raise in flight asserted a level nobody
    /// handled: 100,000 unhandled interrupts, and the kernel disabled the IRQ for good.
    @Test func uioRemovalGateMasksTheLineAndRefusesRaises() throws {
        let fake = FakeSysfs()
        defer { fake.remove() }
        fake.bind(to: "uio_pci_generic")
        fake.uio(command: 0x0002)
        let backend = try UIOBackend(device: fake.info, sysfs: fake.sysfs, devRoot: "\(fake.root)/dev", logger: logger)
        defer { backend.close() }
        _ = try backend.enableInterrupts(.intx, count: 1)
        let gate = try #require(backend.removalGate, "a UIO backend has a removal gate")
        var raised = 0
        #expect(gate.pass { raised += 1 })
        backend.releaseAfterRemoval()
        #expect(try fake.command() == 0x0402, "Interrupt Disable set at the removal")
        #expect(!gate.pass { raised += 1 }, "no raise passes once the card is going")
        #expect(raised == 1)
        // Nothing open any more (the loop disabled INTx first, or the card is gone): nothing to mask.
        try backend.disableInterrupts(.intx)
        fake.uio(command: 0x0002)
        backend.releaseAfterRemoval()
        #expect(try fake.command() == 0x0002)
    }

    /// A function without an interrupt pin keeps what discovery read, whatever sysfs shows.
    @Test func uioWithoutAPinKeepsTheDiscoveredLine() throws {
        let fake = FakeSysfs()
        defer { fake.remove() }
        fake.bind(to: "uio_pci_generic")
        fake.uio(command: 0x0002)
        try FileIO.writeText(fake.device + "/irq", "23\n", create: true)
        var info = fake.info
        info.interruptPin = nil
        info.irqLine = nil
        let backend = try UIOBackend(device: info, sysfs: fake.sysfs, devRoot: "\(fake.root)/dev", logger: logger)
        defer { backend.close() }
        #expect(backend.device.irqLine == nil)
        #expect(backend.supportedInterrupts.isEmpty)
    }

    /// What enabling INTx writes to Command: a level the function asserts already is
    /// raised anew (Interrupt Disable set, then cleared), since an interrupt controller may
    /// have missed its rise (QEMU's IO-APIC does, when the PCI core enabled the function
    /// before uio_pci_generic requested the IRQ); a masked line is just unmasked.
    @Test func uioStartRaisesAPendingLevelAnew() {
        // Memory Space, Interrupt Status pending, line enabled: fall then rise.
        #expect(UIODevice.startWrites(command: 0x0002, status: 0x0018) == [0x0402, 0x0002])
        #expect(UIODevice.startWrites(command: 0x0103, status: 0x0018) == [0x0503, 0x0103])
        // Masked by the kernel's handler (pending or not): clearing the bit is the rise.
        #expect(UIODevice.startWrites(command: 0x0402, status: 0x0018) == [0x0002])
        #expect(UIODevice.startWrites(command: 0x0402, status: 0x0010) == [0x0002])
        // Nothing pending and enabled: nothing to write.
        #expect(UIODevice.startWrites(command: 0x0002, status: 0x0010) == [])
        // A function gone from the bus reads all ones: leave it alone.
        #expect(UIODevice.startWrites(command: 0xffff, status: 0xffff) == [])
    }

    @Test func uioEnableWithAPendingLevelLeavesTheLineEnabled() throws {
        let fake = FakeSysfs()
        defer { fake.remove() }
        fake.bind(to: "uio_pci_generic")
        fake.uio(command: 0x0002, status: 0x0018)
        let backend = try UIOBackend(device: fake.info, sysfs: fake.sysfs, devRoot: "\(fake.root)/dev", logger: logger)
        defer { backend.close() }
        _ = try backend.enableInterrupts(.intx, count: 1)
        #expect(try fake.command() == 0x0002, "after the toggle, Interrupt Disable is clear and the rest kept")
        let status = try fake.sysfs.readConfig(fake.address, at: 6, count: 2)
        #expect(status == [0x18, 0x00], "Status is not written")
    }

    @Test func uioUnmaskClearsInterruptDisableAndDisableClosesTheNode() throws {
        let fake = FakeSysfs()
        defer { fake.remove() }
        fake.bind(to: "uio_pci_generic")
        // Memory Space + Interrupt Disable, as uio_pci_generic leaves it after an interrupt.
        fake.uio(command: 0x0002 | 0x0400)
        let backend = try UIOBackend(device: fake.info, sysfs: fake.sysfs, devRoot: "\(fake.root)/dev", logger: logger)
        #expect(backend.supportedInterrupts == [.intx: 1])
        let sources = try backend.enableInterrupts(.intx, count: 1)
        #expect(sources.count == 1 && sources[0].drain == .uioTotal)
        #expect(fake.openDescriptors() == 3, "the claim, the node and the config file")
        #expect(try fake.command() == 0x0002, "enable starts unmasked")
        try FileIO.writeText(fake.device + "/config", String(decoding: [UInt8](repeating: 0, count: 4) + [0x02, 0x04], as: UTF8.self), create: false)
        #expect(try fake.command() == 0x0402)
        try sources[0].unmask?.unmask()
        #expect(try fake.command() == 0x0002, "unmask clears bit 10 and keeps the rest")
        #expect(backend.unmaskCount == 1)
        #expect(throws: BackendError.self) { _ = try backend.enableInterrupts(.msi, count: 1) }
        try backend.disableInterrupts(.intx)
        #expect(fake.openDescriptors() == 1, "disable closes the source's descriptors; the claim stays")
        backend.close()
        #expect(fake.openDescriptors() == 0, "close gives the claim up")
        #expect(throws: BackendError.self) { _ = try backend.enableInterrupts(.intx, count: 1) }
    }

    /// UIO lets every process open a node; the backend's claim lets one serve it at a time
    /// (a second gets EBUSY, as VFIO's open of a device in use does), until the first closes.
    @Test func uioIsServedByOneBackendAtATime() throws {
        let fake = FakeSysfs()
        defer { fake.remove() }
        fake.bind(to: "uio_pci_generic")
        fake.uio(command: 0x0002)
        let first = try UIOBackend(device: fake.info, sysfs: fake.sysfs, devRoot: "\(fake.root)/dev", logger: logger)
        do {
            _ = try UIOBackend(device: fake.info, sysfs: fake.sysfs, devRoot: "\(fake.root)/dev", logger: logger)
            Issue.record("a second backend claimed a function the first holds")
        } catch {
            guard case .system(let system) = error else { Issue.record("\(error)"); return }
            #expect(system.code == EBUSY)
            #expect("\(system)".contains("held by another user of"))
        }
        #expect(fake.openDescriptors() == 1, "the refused claim's descriptor is closed")
        first.close()
        // Tests beside this one spawn processes: a child holds a copy of every descriptor
        // (the claim's too, O_CLOEXEC or not) until its exec, and with it the flock. Seen once.
        var second: UIOBackend?
        var refusal: BackendError?
        for _ in 0..<200 where second == nil {
            do { second = try UIOBackend(device: fake.info, sysfs: fake.sysfs, devRoot: "\(fake.root)/dev", logger: logger) } catch {
                refusal = error
                usleep(5_000)
            }
        }
        #expect(second != nil, "the claim is free once the first closed; still: \(refusal.map { "\($0)" } ?? "")")
        second?.close()
    }

    @Test func sysfsReadsGroupsOverridesAndNodes() throws {
        let fake = FakeSysfs()
        defer { fake.remove() }
        fake.group(4)
        fake.bind(to: "vfio-pci")
        fake.uio(command: 0)
        try FileIO.writeText(fake.device + "/driver_override", "(null)\n", create: true)
        #expect(fake.sysfs.iommuGroup(of: fake.address) == 4)
        #expect(fake.sysfs.driver(of: fake.address) == "vfio-pci")
        #expect(fake.sysfs.uioName(of: fake.address) == "uio0")
        #expect(fake.sysfs.driverOverride(of: fake.address) == nil, "(null) reads back as no override")
        try fake.sysfs.setDriverOverride(fake.address, "uio_pci_generic")
        #expect(fake.sysfs.driverOverride(of: fake.address) == "uio_pci_generic")
    }
}
