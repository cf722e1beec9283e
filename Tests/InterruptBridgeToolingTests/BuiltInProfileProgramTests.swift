import InterruptBridgeCore
import InterruptBridgeTooling
import Testing

/// The built-in profiles' programs run against fake devices and make exactly the
/// register accesses the devices need.
@Suite("Built-in profile programs")
struct BuiltInProfileProgramTests {
    static func profile(_ name: String) throws -> DeviceProfile {
        try #require(ProfileLibrary().profile(named: name))
    }

    static func registers(_ stimulus: ProfileStimulus?) throws -> (setup: RegisterProgram, raise: RegisterProgram) {
        guard case .registers(let setup, let raise) = try #require(stimulus).method else {
            Issue.record("not a register stimulus")
            throw ProfileError(.badValue, at: ProfileLocation(file: "", line: 0, column: 0, field: ""), "")
        }
        return (setup, raise)
    }

    @Test func eduAcknowledgesWhatIsPendingAndNothingElse() throws {
        let edu = try Self.profile("edu")
        var raised = 0
        let device = FakeRegisters.edu { raised += 1 }
        let acknowledge = try BoundRegisterProgram(try #require(edu.acknowledge), on: device)

        // Nothing pending: one read, not mine.
        #expect(acknowledge.run() == false)
        #expect(device.log == [.read(0, 0x24, 0)])

        // Raised through the stimulus: write 1 to 0x60.
        device.log = []
        let raise = try BoundRegisterProgram(try Self.registers(edu.stimulus).raise, on: device)
        _ = raise.run()
        #expect(device.log == [.write(0, 0x60, 1)])
        #expect(raised == 1 && device[0, 0x24] == 1)

        // The ISR: read 0x24 (1), write it to 0x64, claim; the status is clear after.
        device.log = []
        #expect(acknowledge.run() == true)
        #expect(device.log == [.read(0, 0x24, 1), .write(0, 0x64, 1)])
        #expect(device[0, 0x24] == 0)

        // Several bits pending are acknowledged together.
        device[0, 0x24] = 0x101
        device.log = []
        #expect(acknowledge.run() == true)
        #expect(device.log == [.read(0, 0x24, 0x101), .write(0, 0x64, 0x101)])
        #expect(edu.stimulus?.applies(to: .intx) == true && edu.stimulus?.applies(to: .msix) == false)
        #expect(edu.stimulus?.comesFromDevice == true)
        #expect(edu.canServe(.intx))
    }

    @Test func eduQuiesceClearsALeftoverStatus() throws {
        let device = FakeRegisters.edu()
        device[0, 0x24] = 0x4
        let quiesce = try BoundRegisterProgram(try #require(Self.profile("edu").quiesce), on: device)
        _ = quiesce.run()
        #expect(device.log == [.read(0, 0x24, 4), .write(0, 0x64, 4)])
        #expect(device[0, 0x24] == 0)
    }

    @Test func ivshmemRingsItsOwnDoorbellPerVector() throws {
        let ivshmem = try Self.profile("ivshmem-doorbell")
        let device = FakeRegisters(sizes: [0: 0x100, 1: 0x1000, 2: 0x40_0000])
        device[0, 0x08] = 3 // IVPosition
        let raise = try BoundRegisterProgram(try Self.registers(ivshmem.stimulus).raise, on: device)
        for vector: UInt32 in [0, 1, 5] { _ = raise.run(vector: vector) }
        #expect(device.log == [
            .read(0, 0x08, 3), .write(0, 0x0c, 0x3_0000),
            .read(0, 0x08, 3), .write(0, 0x0c, 0x3_0001),
            .read(0, 0x08, 3), .write(0, 0x0c, 0x3_0005),
        ])
        // MSI-X is edge-triggered: claim always, touch nothing.
        device.log = []
        let acknowledge = try BoundRegisterProgram(try #require(ivshmem.acknowledge), on: device)
        #expect(acknowledge.run(vector: 2) == true)
        #expect(device.log.isEmpty)
        #expect(ivshmem.stimulus?.interrupts == [.msix])
    }

    @Test func e1000eRaisesEveryVectorThroughItsCauseRegisters() throws {
        let e1000e = try Self.profile("e1000e")
        var signalled: [Int] = []
        let device = FakeRegisters.e1000e { signalled.append($0) }
        device[0, 0xC0] = 0x4 // a link-status change left pending at boot
        let (setupProgram, raiseProgram) = try Self.registers(e1000e.stimulus)
        let setup = try BoundRegisterProgram(setupProgram, on: device)
        let raise = try BoundRegisterProgram(raiseProgram, on: device)
        let acknowledge = try BoundRegisterProgram(try #require(e1000e.acknowledge), on: device)

        _ = setup.run()
        #expect(device.log == [.write(0, 0xD8, 0xFFFF_FFFF), .write(0, 0xC0, 0xFFFF_FFFF), .write(0, 0xE4, 0x000C_BA98), .write(0, 0xD0, 0x01F0_0000)])
        #expect(signalled.isEmpty, "setting up must not fire anything")
        #expect(e1000e.stimulus?.vectors == 5)

        for round in 0..<2 {
            for vector in 0..<5 {
                device.log = []
                _ = raise.run(vector: UInt32(vector))
                #expect(device.log == [.write(0, 0xC8, 1 << UInt64(20 + vector))])
                #expect(signalled.last == vector, "ICS bit \(20 + vector) signals vector \(vector) (round \(round))")
                // Another vector's ISR finds nothing of its own pending.
                let other = UInt32((vector + 1) % 5)
                #expect(acknowledge.run(vector: other) == false)
                device.log = []
                #expect(acknowledge.run(vector: UInt32(vector)) == true)
                let cause = UInt64(1) << UInt64(20 + vector)
                #expect(device.log == [.read(0, 0xC0, cause), .write(0, 0xC0, cause)])
                #expect(device[0, 0xC0] == 0)
            }
        }
        // Each raise signalled once and only its own vector: the acknowledge cleared
        // the cause, so the second round's raises were signalled again.
        #expect(signalled == Array(0..<5) + Array(0..<5))
    }

    @Test func e1000eWithoutTheAcknowledgeSignalsOnlyOnce() throws {
        // Breaks the acknowledge on purpose: the device does not resend a cause still
        // pending, which is why the acknowledge must clear ICR.
        var signalled: [Int] = []
        let device = FakeRegisters.e1000e { signalled.append($0) }
        let (setupProgram, raiseProgram) = try Self.registers(try Self.profile("e1000e").stimulus)
        _ = try BoundRegisterProgram(setupProgram, on: device).run()
        let raise = try BoundRegisterProgram(raiseProgram, on: device)
        _ = raise.run(vector: 2)
        _ = raise.run(vector: 2)
        #expect(signalled == [2])
    }

    @Test func nvmeUsesTheLoopbackTriggerAndSaysSo() throws {
        let nvme = try Self.profile("nvme")
        guard case .vfioLoopback = try #require(nvme.stimulus).method else {
            Issue.record("nvme should use the loopback trigger")
            return
        }
        #expect(nvme.stimulus?.comesFromDevice == false)
        #expect(nvme.stimulus?.description.contains("does not come from the device") == true)
        #expect(nvme.acknowledge == nil)
        #expect(nvme.canServe(.msix) && !nvme.canServe(.intx))
        try nvme.validate(against: .nvme)
    }

    @Test func pciSerialRaisesThroughIERAndClaimsOnlyWhatIIRSaysIsPending() throws {
        let serial = try Self.profile("pci-serial")
        var raised = 0
        let device = FakeRegisters.pciSerial { raised += 1 }
        let acknowledge = try BoundRegisterProgram(try #require(serial.acknowledge), on: device)
        let raise = try BoundRegisterProgram(try Self.registers(serial.stimulus).raise, on: device)

        // Nothing pending (IIR bit 0 set): one read, not mine: a shared line's other card.
        #expect(acknowledge.run() == false)
        #expect(device.log == [.read(0, 2, 0x01, .bits8)])

        // Each raise toggles THRI off and on: one interrupt each, and the ISR's IIR read clears it.
        for round in 1...3 {
            device.log = []
            _ = raise.run()
            #expect(device.log == [.write(0, 1, 0, .bits8), .write(0, 1, 2, .bits8)])
            #expect(raised == round)
            device.log = []
            #expect(acknowledge.run() == true)
            #expect(device.log == [.read(0, 2, 0x02, .bits8)])
            #expect(acknowledge.run() == false, "cleared by the read")
        }
        #expect(serial.canServe(.intx) && serial.stimulus?.applies(to: .intx) == true && serial.stimulus?.comesFromDevice == true)
        try serial.validate(against: .pciSerial)
    }

    @Test func everyBuiltInFitsItsRigDevice() throws {
        let devices: [String: PCIDeviceInfo] = ["edu": .edu, "e1000e": .e1000e, "ivshmem-doorbell": .ivshmem, "nvme": .nvme,
                                                "pci-serial": .pciSerial]
        #expect(Set(BuiltInProfiles.all.map(\.name)) == Set(devices.keys))
        for profile in BuiltInProfiles.all {
            let device = try #require(devices[profile.name])
            try profile.validate(against: device)
            #expect(profile.file == "<built-in>/\(profile.name).yaml")
            #expect(profile.barsUsed == (profile.name == "nvme" ? [] : [0]))
        }
    }
}
