import InterruptBridge
import InterruptBridgeCore
import InterruptBridgeSystem
import InterruptBridgeWDK
import Logging
import Synchronization

/// A dispatcher for one test, with a logger that discards output. Shut it down at the end.
func makeDispatcher() throws -> InterruptDispatcher {
    try InterruptDispatcher(logger: Logger(label: "wdk-test", factory: { _ in SwiftLogNoOpLogHandler() }))
}

/// The PDO of a simulated device, on `dispatcher`, with the backend to raise its interrupts.
func makePDO(_ configuration: SimulatedDevice, policy: InterruptPolicy = .default,
             on dispatcher: InterruptDispatcher) -> (DEVICE_OBJECT, SimulatedBackend) {
    let backend = SimulatedBackend(configuration)
    let device = InterruptDevice(backend: backend, policy: policy, facts: ResourceTranslator.SystemFacts(onlineProcessors: .first(2)))
    return (DEVICE_OBJECT(device, dispatcher: dispatcher), backend)
}

/// The PDO over any backend.
func makePDO(backend: any InterruptBackend, on dispatcher: InterruptDispatcher) -> DEVICE_OBJECT {
    let device = InterruptDevice(backend: backend, facts: ResourceTranslator.SystemFacts(onlineProcessors: .first(2)))
    return DEVICE_OBJECT(device, dispatcher: dispatcher)
}

/// Device shapes the tests use.
enum Devices {
    /// INTx only (line 11).
    static let lineOnly = SimulatedDevice(interruptPin: .a, irqLine: 11)
    /// QEMU's edu: INTx and one MSI message (MSI by default policy).
    static let edu = SimulatedDevice.edu()
    /// INTx and four MSI-X vectors.
    static let msix4 = SimulatedDevice(interruptPin: .a, irqLine: 10, msixCount: 4)
    /// No interrupt at all.
    static let silent = SimulatedDevice(interruptPin: nil, irqLine: nil)
}

/// Polls `condition` until it holds or `seconds` pass (a liveness bound, not a timing assertion).
func eventually(_ seconds: Double = 10, _ condition: () -> Bool) -> Bool {
    let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
    while ContinuousClock.now < deadline {
        if condition() { return true }
        PThread.yieldProcessor()
    }
    return condition()
}

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

/// A backend whose first vector is already signalling when its interrupts are
/// enabled, and whose `programmedMessages` (read by the message-based connect after
/// attaching) waits until an ISR ran: the ISR runs before IoConnectInterruptEx returns.
final class PendingAtEnableBackend: InterruptBackend {
    let inner: SimulatedBackend
    let serviced: @Sendable () -> Bool
    init(inner: SimulatedBackend, serviced: @escaping @Sendable () -> Bool) {
        self.inner = inner
        self.serviced = serviced
    }
    var device: PCIDeviceInfo { inner.device }
    var supportedInterrupts: [InterruptKind: Int] { inner.supportedInterrupts }
    func enableInterrupts(_ kind: InterruptKind, count: Int) throws(BackendError) -> [InterruptSource] {
        let sources = try inner.enableInterrupts(kind, count: count)
        inner.raise(message: 0)
        return sources
    }
    func disableInterrupts(_ kind: InterruptKind) throws(BackendError) { try inner.disableInterrupts(kind) }
    func programmedMessages(_ kind: InterruptKind) -> [ProgrammedMessage]? {
        _ = eventually { self.serviced() }
        return inner.programmedMessages(kind)
    }
}
