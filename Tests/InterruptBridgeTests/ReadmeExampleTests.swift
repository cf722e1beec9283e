import InterruptBridge
import InterruptBridgeTestKit
import InterruptBridgeCore
import Logging
import Testing

/// The README's Swift API example, as it runs on the simulated backend: if the
/// public API it shows changes, this stops compiling or passing.
@Suite struct ReadmeExampleTests {
    @Test func messageBasedConnectRunsTheISRWithEachMessageIDAndDisconnects() throws {
        let logger = Logger(label: "readme")
        let dispatcher = try InterruptDispatcher(logger: logger)  // starts the dispatch thread
        defer { dispatcher.shutdown() }

        let backend = SimulatedBackend(SimulatedDevice(msixCount: 4))
        let device = InterruptDevice(backend: backend)

        let seen = Recorder<UInt32>()
        let connection = try dispatcher.connectMessageBased(
            device: device,
            messageRoutine: { _, messageID in
                seen.append(messageID)
                return true
            },
            fallbackRoutine: { _ in true })
        guard case .messages(let table) = connection else {
            Issue.record("an MSI-X device must get its messages, not the fall-back line")
            return
        }
        #expect(table.messageCount == 4)
        for message in 0..<4 { backend.raise(message: message) }
        #expect(eventually { seen.all.count == 4 })
        #expect(Set(seen.all) == [0, 1, 2, 3])

        dispatcher.disconnect(connection)
        #expect(backend.raise(message: 0) == false, "disconnecting the last object disables the device's interrupts")
        #expect(seen.all.count == 4)
    }

    /// InterruptBridge's DocC landing page: the line-based connect of a simulated edu. The
    /// policy is what makes it line-served: without it edu gets its MSI and the connect
    /// throws `.deviceUsesMessages` (the page once showed that version).
    @Test func landingPageLineBasedConnectRunsTheISR() throws {
        let logger = Logger(label: "landing")
        let calls = Recorder<Bool>()
        let backend = SimulatedBackend(.edu())

        let dispatcher = try InterruptDispatcher(logger: logger)
        let device = InterruptDevice(backend: backend, policy: InterruptPolicy(msiSupported: false))
        let interrupt = try dispatcher.connectLineBased(device: device) { interrupt in
            calls.append(true)
            return true
        }
        #expect(backend.raise())
        #expect(eventually { calls.all.count == 1 })
        interrupt.disconnect()
        dispatcher.shutdown()

        let messageServed = InterruptDevice(backend: SimulatedBackend(.edu()))
        let second = try InterruptDispatcher(logger: logger)
        defer { second.shutdown() }
        #expect(throws: ConnectionError.deviceUsesMessages) {
            try second.connectLineBased(device: messageServed) { _ in true }
        }
    }
}
