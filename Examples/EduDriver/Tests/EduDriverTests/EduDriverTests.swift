// The driver against QEMU's edu and an rtl8139 in InterruptBridge's rig. Outside the rig these
// tests are skipped with the reason; inside it (`swift package --disable-sandbox rig ... -- test`)
// they bind, connect and count real interrupts.
import EduDriver
import InterruptBridgeTestKit
import InterruptBridgeWDK
import Testing

@Suite("EduDriver in the QEMU rig", .serialized, .rig)
struct EduDriverRigTests {
    static let count = 500

    /// edu has MSI: the message-based connect gets it, and every raise reaches the ISR,
    /// which acknowledges it (a level INTx would otherwise storm).
    @Test(.rig(devices: "edu"))
    func connectsMessageBasedAndCountsEveryInterrupt() throws {
        let address = try Rig.requireDevice("edu")
        try Rig.bind(address, to: .vfioPCI)
        let edu = try EduDevice(address: address)
        defer { edu.stop() }
        #expect(edu.Version == CONNECT_MESSAGE_BASED)
        for raised in 1...Self.count {
            edu.raise(1 << UInt32(raised % 8))
            // One at a time, stopping at the first loss (or a storm: more than raised).
            guard eventually(5, { edu.Extension.InterruptCount == raised }) else {
                Issue.record("interrupt \(raised): the ISR counted \(edu.Extension.InterruptCount)")
                return
            }
        }
        #expect(edu.Extension.AcknowledgedStatus == 0xff)
        print("edu: \(edu.Extension.InterruptCount) MSI interrupts through EduMessageService")
    }

    /// With MSI disallowed (MSISupported = 0), the fall-back routine gets the INTx line.
    @Test(.rig(devices: "edu"))
    func fallsBackToTheLineWhenMSIIsNotAllowed() throws {
        let address = try Rig.requireDevice("edu")
        try Rig.bind(address, to: .vfioPCI)
        let edu = try EduDevice(address: address, msiAllowed: false)
        defer { edu.stop() }
        #expect(edu.Version == CONNECT_LINE_BASED)
        for raised in 1...Self.count {
            edu.raise()
            // One at a time, stopping at the first loss (or a storm: more than raised).
            guard eventually(5, { edu.Extension.InterruptCount == raised }) else {
                Issue.record("interrupt \(raised): the ISR counted \(edu.Extension.InterruptCount)")
                return
            }
        }
        print("edu: \(edu.Extension.InterruptCount) INTx interrupts through EduInterruptService")
    }

    /// A device this project never named (--qemu-device rtl8139: INTx only), driven through
    /// VFIO's loopback trigger: the fall-back connects its line and counts every interrupt.
    @Test(.rig(devices: "qemu0"))
    func anUnnamedQEMUDeviceConnectsAndCountsInterrupts() throws {
        let address = try Rig.requireDevice("qemu0")
        try Rig.bind(address, to: .vfioPCI)
        let device = try CountingDevice(address: address)
        defer { device.stop() }
        for fired in 1...Self.count {
            try device.trigger()
            guard eventually(5, { device.InterruptCount == fired }) else {
                Issue.record("interrupt \(fired): the ISR counted \(device.InterruptCount)")
                return
            }
        }
        print("qemu0 (\(address)): \(device.InterruptCount) interrupts, connected \(device.Version == CONNECT_LINE_BASED ? "line-based (INTx)" : "message-based")")
    }
}

/// Runs everywhere: the roles come from the rig's environment, and outside it there are none.
@Suite struct RigEnvironmentTests {
    @Test func outsideTheRigNoDeviceIsNamed() {
        if !Rig.isInside {
            #expect(Rig.device("edu") == nil)
            #expect(throws: RigError.self) { try Rig.requireDevice("edu") }
        } else {
            #expect(Rig.device("edu") != nil)
        }
    }
}
