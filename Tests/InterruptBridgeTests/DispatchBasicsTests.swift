import InterruptBridge
import InterruptBridgeCore
import InterruptBridgeSystem
import Testing

extension Runtime {
    @Suite("Dispatch basics")
    struct DispatchBasicsTests {
        @Test func lineBasedInterruptReachesTheISR() throws {
            let dispatcher = try makeDispatcher()
            defer { dispatcher.shutdown() }
            let (device, backend) = makeDevice(.edu(), policy: InterruptPolicy(msiSupported: false))
            let calls = Counter()
            let object = try dispatcher.connectLineBased(device: device, routine: { _ in
                calls.increment()
                return true
            })
            #expect(backend.raise())
            #expect(eventually { calls.count == 1 })
            dispatcher.disconnect(object)
            #expect(!object.isConnected)
            #expect(backend.enabledKind == nil)
        }
    }
}
