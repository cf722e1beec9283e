import InterruptBridge
import InterruptBridgeCore
import InterruptBridgeSystem
import InterruptBridgeTestKit
import InterruptBridgeWDK
import Logging
import Synchronization
import Testing


/// The PDO of a simulated device, on `dispatcher`, with the backend to raise its interrupts.
func makePDO(_ configuration: SimulatedDevice, policy: InterruptPolicy = .default,
             on dispatcher: InterruptDispatcher) -> (DEVICE_OBJECT, SimulatedBackend) {
    let backend = SimulatedBackend(configuration)
    let device = InterruptDevice(backend: backend, policy: policy, facts: .twoProcessors)
    return (DEVICE_OBJECT(device, dispatcher: dispatcher), backend)
}

/// The PDO over any backend.
func makePDO(backend: any InterruptBackend, on dispatcher: InterruptDispatcher) -> DEVICE_OBJECT {
    let device = InterruptDevice(backend: backend, facts: .twoProcessors)
    return DEVICE_OBJECT(device, dispatcher: dispatcher)
}

/// Device shapes the tests use (the test kit's).
typealias Devices = TestDevices


/// A device extension as a ported driver declares it: its fields are written by
/// the start routine before interrupts are enabled, and the counters are atomics,
/// so the ISR (dispatch thread) and the test thread never race on plain storage.
final class DEVICE_EXTENSION: Addressable, @unchecked Sendable {
    // @unchecked: IntObj, MessageTable, ConnectionContext and Lock are written only by
    // IoConnectInterruptEx / KeInitializeSpinLock on the test thread, and read by the
    // test thread; ISRs touch only the atomics and the immutable properties.
    var IntObj: PKINTERRUPT = nil
    var MessageTable: PIO_INTERRUPT_MESSAGE_INFO = nil
    var ConnectionContext: PVOID = nil
    var Lock = KSPIN_LOCK()
    var Dpc = KDPC()
    let isrCalls = Atomic<Int>(0)
    let lastMessageID = Atomic<Int>(-1)
    let messagesSeen = Atomic<UInt64>(0)
    let lastIrql = Atomic<UInt8>(0xff)
    let interruptMatched = Atomic<Bool>(false)
    let dpcCalls = Atomic<Int>(0)
    let dpcIrql = Atomic<UInt8>(0xff)
    let dpcArguments = Mutex<[String]>([])

    var calls: Int { isrCalls.load(ordering: .acquiring) }
    var matched: Bool { interruptMatched.load(ordering: .acquiring) }
    var irql: UInt8 { lastIrql.load(ordering: .acquiring) }
    var lastMessage: Int { lastMessageID.load(ordering: .acquiring) }
    var seenMessages: UInt64 { messagesSeen.load(ordering: .acquiring) }
}

/// The first interrupt descriptor of a PDO's translated resources, as a start routine finds it.
func translatedInterrupt(of pdo: DEVICE_OBJECT) throws -> CM_PARTIAL_RESOURCE_DESCRIPTOR {
    try #require(IoGetCurrentIrpStackLocation(IoBuildStartDeviceIrp(pdo)).Parameters.StartDevice.AllocatedResourcesTranslated?
        .List[0].PartialResourceList.PartialDescriptors.first { $0.Type == CmResourceTypeInterrupt })
}

/// Gives `devExt.Dpc` a routine that only counts its runs in `devExt.dpcCalls`.
func initializeCountingDpc(_ devExt: DEVICE_EXTENSION, on dispatcher: InterruptDispatcher) {
    KeInitializeDpc(&devExt.Dpc, { _, DeferredContext, _, _ in
        (DeferredContext as! DEVICE_EXTENSION).dpcCalls.add(1, ordering: .releasing)
    }, devExt, dispatcher: dispatcher)
}
