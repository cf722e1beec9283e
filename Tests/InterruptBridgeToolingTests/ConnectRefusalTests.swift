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

    @Test func messagesNeedNoAcknowledgeProgramUnlessALineIsServed() {
        let withMSI = SimulatedDevice(interruptPin: .a, msiCount: 1).info
        #expect(DeviceSession.connectRefusal(withMSI, profile: nil, lineBased: false, underUIO: false) == nil)
        #expect(DeviceSession.connectRefusal(withMSI, profile: nil, lineBased: true, underUIO: false) != nil)
        #expect(DeviceSession.connectRefusal(withMSI, profile: nil, lineBased: false, underUIO: true) != nil)
    }

    @Test func aFunctionWithoutInterruptsIsSaidToHaveNone() {
        let none = SimulatedDevice(interruptPin: nil, irqLine: nil).info
        #expect(DeviceSession.connectRefusal(none, profile: nil, lineBased: false, underUIO: false)?.hasSuffix("has no interrupts: no INTx pin, no MSI or MSI-X capability") == true)
    }
}
