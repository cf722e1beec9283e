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
}
