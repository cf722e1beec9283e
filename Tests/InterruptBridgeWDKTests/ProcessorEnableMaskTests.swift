import InterruptBridge
import InterruptBridgeCore
import InterruptBridgeTestKit
import InterruptBridgeWDK
import Testing

/// "Affinity = ProcessorEnableMask & KeActiveProcessors": the object serves the
/// processors of the mask that are online, not the ones it named beyond them.
@Suite struct ProcessorEnableMaskTests {
    /// A legacy IoConnectInterrupt of a line-only device's vector with `mask`.
    static func connectLine(mask: KAFFINITY, on dispatcher: InterruptDispatcher) throws -> DEVICE_EXTENSION {
        let (pdo, _) = makePDO(Devices.lineOnly, on: dispatcher)
        let line = try translatedInterrupt(of: pdo)
        let devExt = DEVICE_EXTENSION()
        let level = KIRQL(line.u.Interrupt.Level)
        #expect(IoConnectInterrupt(&devExt.IntObj, ConnectStatusTests.isr, devExt, nil, line.u.Interrupt.Vector, level, level, LevelSensitive,
                                   TRUE, mask, FALSE, dispatcher: dispatcher) == STATUS_SUCCESS)
        return devExt
    }

    @Test func theObjectsAffinityIsTheMaskIntersectedWithTheOnlineProcessors() throws {
        let dispatcher = try makeDispatcher()
        defer { dispatcher.shutdown() }
        let devExt = try Self.connectLine(mask: KAFFINITY.max, on: dispatcher)
        #expect(devExt.IntObj?.affinity == dispatcher.onlineProcessors)
        IoDisconnectInterrupt(devExt.IntObj)
    }

    /// IoGetAffinityInterrupt reports what the object serves, group 0; a NULL or
    /// disconnected object is STATUS_INVALID_PARAMETER and the output is left alone.
    @Test func ioGetAffinityInterruptReportsTheObjectsGroupAffinity() throws {
        let dispatcher = try makeDispatcher()
        defer { dispatcher.shutdown() }
        let devExt = try Self.connectLine(mask: 0x1, on: dispatcher)
        var affinity = GROUP_AFFINITY(Mask: 0xdead, Group: 7)
        #expect(IoGetAffinityInterrupt(devExt.IntObj, &affinity) == STATUS_SUCCESS)
        #expect(affinity == GROUP_AFFINITY(Mask: 0x1, Group: 0))
        var viaWdmlib = GROUP_AFFINITY()
        #expect(WdmlibIoGetAffinityInterrupt(devExt.IntObj, &viaWdmlib) == STATUS_SUCCESS && viaWdmlib == affinity)

        var untouched = GROUP_AFFINITY(Mask: 0xdead, Group: 7)
        #expect(IoGetAffinityInterrupt(nil, &untouched) == STATUS_INVALID_PARAMETER)
        IoDisconnectInterrupt(devExt.IntObj)
        #expect(IoGetAffinityInterrupt(devExt.IntObj, &untouched) == STATUS_INVALID_PARAMETER)
        #expect(untouched == GROUP_AFFINITY(Mask: 0xdead, Group: 7))
    }

    @Test func keGetCurrentProcessorIndexIsTheIndexOfAnActiveProcessor() {
        let active = KeQueryActiveProcessors()
        let index = KeGetCurrentProcessorIndex()
        #expect(index < 64 && active & (KAFFINITY(1) << index) != 0, "processor \(index) in 0x\(String(active, radix: 16))")
        // KeGetCurrentProcessorNumberEx's numbering (the thread may move between two calls).
        #expect((0..<100).contains { _ in
            var number = PROCESSOR_NUMBER()
            let index = KeGetCurrentProcessorIndex()
            return index == KeGetCurrentProcessorNumberEx(&number) && index == ULONG(number.Group) * 64 + ULONG(number.Number)
        })
    }
}
