import Foundation
import InterruptBridge
import InterruptBridgeCore
import InterruptBridgeTooling
import Testing

/// What `DeviceSession.connect` would refuse, known before a card is taken from its driver.
@Suite struct ConnectRefusalTests {
    @Test func aLineWithNoAcknowledgeProgramIsRefusedBeforeAnythingIsOpened() throws {
        let lineOnly = SimulatedDevice(interruptPin: .a, msiCount: 0).info
        let refusal = try #require(DeviceSession.connectRefusal(lineOnly, profile: nil, lineBased: false, underUIO: false))
        #expect(refusal.contains("would be served on its INTx line, and no profile matches it"))
        #expect(refusal.hasSuffix("(--profile FILE)"))
        // The daemon's operator sets a device entry's profile, not a command-line option.
        #expect(DeviceSession.connectRefusal(lineOnly, profile: nil, lineBased: false, underUIO: false, advice: .daemon)?
                    .hasSuffix("(the device entry's profile: FILE)") == true)
        #expect(DeviceSession.connectRefusal(lineOnly, profile: nil, lineBased: false, underUIO: false, claimsWithoutAcknowledge: true) == nil)
    }

    /// `trigger` can raise through VFIO's loopback alone, whose ISR needs no acknowledge
    /// program: its refusal says so, under vfio-pci only (uio_pci_generic has no loopback),
    /// and `wait`/`watch`, which have no such option, are not pointed at one.
    @Test func aCommandWithLoopbackOffersItForALineUnderVFIO() throws {
        let lineOnly = SimulatedDevice(interruptPin: .a, msiCount: 0).info
        let vfio = try #require(DeviceSession.connectRefusal(lineOnly, profile: nil, lineBased: true, underUIO: false,
                                                             advice: .commandLineWithLoopback))
        #expect(vfio.contains("(--profile FILE), or raise through VFIO's loopback trigger alone (--loopback)"), "\(vfio)")
        let uio = try #require(DeviceSession.connectRefusal(lineOnly, profile: nil, lineBased: true, underUIO: true,
                                                            advice: .commandLineWithLoopback))
        #expect(uio.hasSuffix("(--profile FILE)") && !uio.contains("--loopback"), "\(uio)")
        #expect(DeviceSession.connectRefusal(lineOnly, profile: nil, lineBased: true, underUIO: false)?.contains("--loopback") == false)
    }

    @Test func messagesNeedNoAcknowledgeProgramUnlessALineIsServed() {
        let withMSI = SimulatedDevice(interruptPin: .a, msiCount: 1).info
        #expect(DeviceSession.connectRefusal(withMSI, profile: nil, lineBased: false, underUIO: false) == nil)
        #expect(DeviceSession.connectRefusal(withMSI, profile: nil, lineBased: true, underUIO: false) != nil)
        #expect(DeviceSession.connectRefusal(withMSI, profile: nil, lineBased: false, underUIO: true) != nil)
    }

    /// `--profile FILE` for the one device a verb runs on, written for another card: an
    /// error naming the file and whom it is for, not a quiet fall-back to the built-ins.
    @Test func profilesGivenForOneDeviceMustIncludeOneForIt() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("irqbridge-given-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        func profile(_ name: String, _ match: String) throws -> String {
            let path = directory + "/\(name).yaml"
            try "name: \(name)\nmatch: \(match)\nacknowledge:\n  - return: claimed\n".write(toFile: path, atomically: true, encoding: .utf8)
            return path
        }
        let other = try profile("other", "{vendor: 0x8086, device: 0x1209}")
        let mine = try profile("mine", "{vendor: 0x1234, device: 0x11e8}")
        let edu = SimulatedDevice(interruptPin: .a, msiCount: 1).info  // 1234:11e8
        #expect(try DeviceSession.givenProfilesRefusal([], for: edu) == nil)
        #expect(try DeviceSession.givenProfilesRefusal([other, mine], for: edu) == nil)
        #expect(try DeviceSession.givenProfilesRefusal([other], for: edu)
                == "--profile: no profile given is for \(edu.address) (1234:11e8): \(other) is for 8086:1209")
        #expect(throws: DeviceSessionError.self) { try DeviceSession.givenProfilesRefusal([directory + "/missing.yaml"], for: edu) }
    }

    @Test func aFunctionWithoutInterruptsIsSaidToHaveNone() {
        let none = SimulatedDevice(interruptPin: nil, irqLine: nil).info
        #expect(DeviceSession.connectRefusal(none, profile: nil, lineBased: false, underUIO: false)?.hasSuffix("has no interrupts: no INTx pin, no MSI or MSI-X capability") == true)
    }

    /// ivshmem-plain has ivshmem-doorbell's ids (1af4:1110) and no interrupt: trigger, wait
    /// and watch, which open the device with the built-in profile its ids select, say it has
    /// none (as selftest and the daemon do), not what the built-in's stimulus raises.
    @Test func aFunctionWithoutInterruptsIsSaidToHaveNoneBeforeItsProfileIsChecked() throws {
        let plain = SimulatedDevice(vendorID: 0x1af4, deviceID: 0x1110, classCode: 0x050000, interruptPin: nil, irqLine: nil).info
        let doorbell = try #require(try ProfileLibrary(files: []).profile(for: plain))
        #expect(doorbell.name == "ivshmem-doorbell")
        do {
            try DeviceSession.checkBeforeOpening(plain, profile: doorbell)
            Issue.record("a function without interrupts was not refused")
        } catch {
            #expect(error.description == "\(plain.address) has no interrupts: no INTx pin, no MSI or MSI-X capability")
        }
        // A function with interrupts still has its profile checked against it.
        let doorbellWithoutMSIX = SimulatedDevice(vendorID: 0x1af4, deviceID: 0x1110, interruptPin: .a).info
        #expect(throws: DeviceSessionError.self) { try DeviceSession.checkBeforeOpening(doorbellWithoutMSIX, profile: doorbell) }
    }

    /// An MSI-X-only card (ivshmem-doorbell) under uio_pci_generic, or asked for its line:
    /// there is no line, and the message says where its interrupts are.
    @Test func aFunctionWithoutAnINTxPinHasNoLineToServe() {
        let msixOnly = SimulatedDevice(interruptPin: nil, irqLine: nil, msiCount: 0, msixCount: 8).info
        let address = msixOnly.address
        #expect(DeviceSession.connectRefusal(msixOnly, profile: nil, lineBased: false, underUIO: true)
                == "\(address) has no INTx pin, and uio_pci_generic serves INTx only: its MSI-X (8 vectors) needs vfio-pci "
                   + "(irqbridge bind \(address) --driver vfio-pci)")
        #expect(DeviceSession.connectRefusal(msixOnly, profile: nil, lineBased: false, underUIO: true, advice: .daemon)?
                    .hasSuffix("(the device entry's driver: vfio-pci)") == true)
        #expect(DeviceSession.connectRefusal(msixOnly, profile: nil, lineBased: true, underUIO: false, claimsWithoutAcknowledge: true)
                == "\(address) has no INTx pin, so there is no line to connect: it interrupts by MSI-X (8 vectors)")
        #expect(DeviceSession.connectRefusal(msixOnly, profile: nil, lineBased: false, underUIO: false) == nil)
    }

}
