import InterruptBridge
import InterruptBridgeCore
import InterruptBridgeTestKit
import InterruptBridgeWDK
import Testing

/// "Affinity = ProcessorEnableMask & KeActiveProcessors": the object serves the
/// processors of the mask that are online, not the ones it named beyond them.
@Suite struct ProcessorEnableMaskTests {
    @Test func theObjectsAffinityIsTheMaskIntersectedWithTheOnlineProcessors() throws {
        let dispatcher = try makeDispatcher()
        defer { dispatcher.shutdown() }
        let (pdo, _) = makePDO(Devices.lineOnly, on: dispatcher)
        let line = try translatedInterrupt(of: pdo)
        let devExt = DEVICE_EXTENSION()
        let level = KIRQL(line.u.Interrupt.Level)
        #expect(IoConnectInterrupt(&devExt.IntObj, ConnectStatusTests.isr, devExt, nil, line.u.Interrupt.Vector, level, level, LevelSensitive,
                                   TRUE, KAFFINITY.max, FALSE, dispatcher: dispatcher) == STATUS_SUCCESS)
        #expect(devExt.IntObj?.affinity == dispatcher.onlineProcessors)
        IoDisconnectInterrupt(devExt.IntObj)
    }
}
