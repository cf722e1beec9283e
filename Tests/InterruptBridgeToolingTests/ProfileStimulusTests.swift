@testable import InterruptBridgeTooling
import Foundation
import InterruptBridgeSystem
import Testing
import InterruptBridge

/// The selftest's stimulus built from a profile: its raise, set-up and acknowledge
/// programs run on the registers with the message number as `vector`.
@Suite("Selftest stimulus from a profile")
struct ProfileStimulusTests {
    /// Plain memory standing in for BAR 0 (0x100 bytes), freed with the test.
    final class Memory {
        let base = UnsafeMutableRawPointer.allocate(byteCount: 0x100, alignment: 8)
        init() { base.initializeMemory(as: UInt8.self, repeating: 0, count: 0x100) }
        deinit { base.deallocate() }
        subscript(offset: Int) -> UInt32 {
            get { base.load(fromByteOffset: offset, as: UInt32.self) }
            set { base.storeBytes(of: newValue, toByteOffset: offset, as: UInt32.self) }
        }
        var bars: MappedBARs { MappedBARs([MappedBARs.Mapping(bar: 0, base: base, length: 0x100)], keepAlive: [self]) }
    }

    @Test func e1000eRaisesAndAcknowledgesPerMessage() throws {
        let e1000e = try #require(ProfileLibrary().profile(named: "e1000e"))
        let memory = Memory()
        let stimulus = try SelftestStimulus.registers(e1000e, on: memory.bars)
        #expect(stimulus.vectors == 5)
        #expect(stimulus.kernelCounts)
        try stimulus.setup()
        #expect(memory[0xE4] == 0x000C_BA98, "set-up wrote IVAR")
        #expect(memory[0xD0] == 0x01F0_0000, "set-up wrote IMS")
        try stimulus.raise(3)
        #expect(memory[0xC8] == 1 << 23, "raising message 3 sets ICS bit 23")
        memory[0xC0] = 1 << 23 // the device's ICR: cause 23 pending
        #expect(stimulus.acknowledge(2) == false, "message 2's ISR finds none of its cause")
        #expect(stimulus.acknowledge(3) == true, "message 3's ISR claims its cause")
    }

    @Test func eduAcknowledgesThroughItsStatusRegister() throws {
        let edu = try #require(ProfileLibrary().profile(named: "edu"))
        let memory = Memory()
        let stimulus = try SelftestStimulus.registers(edu, on: memory.bars)
        try stimulus.raise(0)
        #expect(memory[0x60] == 1)
        #expect(stimulus.acknowledge(0) == false, "status 0: not mine")
        memory[0x24] = 1
        #expect(stimulus.acknowledge(0) == true)
        #expect(memory[0x64] == 1, "the status written back to acknowledge")
    }

    /// A profile raised through VFIO's loopback still has its ISR: the routines bind its
    /// acknowledge and quiesce on the device's registers, as a register stimulus would.
    @Test func aLoopbackProfilesAcknowledgeAndQuiesceAreBound() throws {
        let profile = try ProfileLoader.load("""
            name: loopback-with-acknowledge
            match: {vendor: 0x1234, device: 0x11e8}
            stimulus: {loopback: true}
            acknowledge:
              - read: {bar: 0, offset: 0x24, width: 32}
                into: status
              - if_zero: status
                return: unclaimed
              - write: {bar: 0, offset: 0x64, width: 32}
                value: status
              - return: claimed
            quiesce:
              - write: {bar: 0, offset: 0x68, width: 32}
                value: 7
            """, file: "loopack.yaml")
        let memory = Memory()
        let routines = try SelftestStimulus.routines(profile, on: memory.bars)
        #expect(routines.acknowledge(0) == false, "a loopback raise left nothing pending: unclaimed")
        memory[0x24] = 4
        #expect(routines.acknowledge(0) == true)
        #expect(memory[0x64] == 4, "the status written back to acknowledge")
        routines.quiesce()
        #expect(memory[0x68] == 7)
        let nvme = try #require(ProfileLibrary().profile(named: "nvme"))
        #expect(try SelftestStimulus.routines(nvme, on: memory.bars).acknowledge(0) == true, "no program: a plain claim")
    }

    @Test func aProfileWithoutARegisterStimulusIsRefused() throws {
        let nvme = try #require(ProfileLibrary().profile(named: "nvme"))
        #expect(throws: ProfileError.self) { try SelftestStimulus.registers(nvme, on: Memory().bars) }
    }

    @Test func aProgramPastTheMappedRegistersIsRefused() throws {
        // e1000e's registers go up to 0xE4: a 0x40-byte mapping cannot hold them.
        let e1000e = try #require(ProfileLibrary().profile(named: "e1000e"))
        let memory = Memory()
        let short = MappedBARs([MappedBARs.Mapping(bar: 0, base: memory.base, length: 0x40)], keepAlive: [memory])
        let error = try #require(throws: ProfileError.self) { try SelftestStimulus.registers(e1000e, on: short) }
        #expect(error.description.contains("past the mapped part of BAR 0"))
    }
}

/// A session let go of (a removal, a disconnect) first clears what its device has pending,
/// while the function is still on the driver it was opened through.
@Suite("Quiescing a session")
struct SessionQuiesceTests {
    /// edu's built-in profile: quiesce reads the status and writes it back to the
    /// acknowledge register, so a raise left pending stops asserting the line. Not once the
    /// function has left the bus (a UIO mapping then faults) or is on another driver.
    @Test func quiesceRunsTheProfilesProgramOnlyWhileTheFunctionIsOnItsDriver() throws {
        let edu = try #require(ProfileLibrary().profile(named: "edu"))
        let memory = ProfileStimulusTests.Memory()
        let stimulus = try SelftestStimulus.registers(edu, on: memory.bars)
        let backend = SimulatedBackend(SimulatedDevice.edu())
        var info = backend.device
        info.driver = "uio_pci_generic"
        let session = DeviceSession(info: info, profile: edu, backend: backend, stimulus: stimulus, close: {})
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("quiesce-sysfs-\(UUID().uuidString.prefix(8))").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let sysfs = SysfsPCI(root: root)
        let function = sysfs.devicePath(info.address.description)
        try FileManager.default.createDirectory(atPath: function, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: sysfs.driverPath("uio_pci_generic"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: sysfs.driverPath("e1000"), withIntermediateDirectories: true)

        memory[0x24] = 0x100 // a DMA-done cause pending
        session.quiesce(sysfs: sysfs)
        #expect(memory[0x64] == 0, "on no driver (gone from its own): not touched")
        try FileManager.default.createSymbolicLink(atPath: function + "/driver", withDestinationPath: sysfs.driverPath("e1000"))
        session.quiesce(sysfs: sysfs)
        #expect(memory[0x64] == 0, "on another driver: not touched")
        try FileManager.default.removeItem(atPath: function + "/driver")
        try FileManager.default.createSymbolicLink(atPath: function + "/driver", withDestinationPath: sysfs.driverPath("uio_pci_generic"))
        session.quiesce(sysfs: sysfs)
        #expect(memory[0x64] == 0x100, "on its driver: the pending cause was acknowledged")
    }
}
