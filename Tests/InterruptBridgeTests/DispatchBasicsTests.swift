import InterruptBridge
import InterruptBridgeTestKit
import InterruptBridgeCore
import InterruptBridgeSystem
import Testing
#if canImport(Glibc)
import Glibc
#endif

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

extension Runtime.DispatchBasicsTests {
    @Test func connectAfterShutdownFailsCleanly() throws {
        let dispatcher = try makeDispatcher()
        let (device, backend) = makeDevice(SimulatedDevice(msixCount: 1))
        dispatcher.shutdown()
        #expect(!dispatcher.isRunning)
        #expect(throws: ConnectionError.dispatcherStopped) {
            try dispatcher.connectMessageBased(device: device, messageRoutine: { _, _ in true })
        }
        #expect(backend.enabledTimes == 0)
    }

    @Test func shutdownDisconnectsWhatIsStillConnected() throws {
        let dispatcher = try makeDispatcher()
        let (device, backend) = makeDevice(SimulatedDevice(msixCount: 2))
        let connection = try dispatcher.connectMessageBased(device: device, messageRoutine: { _, _ in true })
        dispatcher.shutdown()
        #expect(connection.interruptObjects.allSatisfy { !$0.isConnected })
        #expect(backend.enabledKind == nil)
    }

    @Test func uioTotalsCountTheDifferenceBetweenReads() throws {
        let dispatcher = try makeDispatcher()
        defer { dispatcher.shutdown() }
        let backend = try UIOLikeBackend()
        let device = InterruptDevice(backend: backend, policy: InterruptPolicy(msiSupported: false),
                                     facts: ResourceTranslator.SystemFacts(onlineProcessors: .first(2)))
        let object = try dispatcher.connectLineBased(device: device, routine: { _ in true })
        try backend.deliver(total: 1000)  // the kernel's running total since boot
        #expect(eventually { object.deliveredSignalCount == 1 })
        try backend.deliver(total: 1003)
        #expect(eventually { object.deliveredSignalCount == 4 && object.serviceCallCount == 2 })
        dispatcher.disconnect(object)
    }
}

/// A UIO-like INTx source: a pipe whose reads yield the 4-byte interrupt total.
final class UIOLikeBackend: InterruptBackend {
    let device = SimulatedDevice.edu().info
    let supportedInterrupts: [InterruptKind: Int] = [.intx: 1]
    private let pipe: (read: Int32, write: Int32)

    init() throws {
        var descriptors: [Int32] = [0, 0]
        guard Glibc.pipe(&descriptors) == 0 else { throw SystemError.errno("pipe") }
        pipe = (descriptors[0], descriptors[1])
        _ = fcntl(pipe.read, F_SETFL, O_NONBLOCK)
    }

    deinit {
        try? FileDescriptors.close(pipe.read)
        try? FileDescriptors.close(pipe.write)
    }

    func deliver(total: UInt32) throws {
        var total = total
        guard write(pipe.write, &total, 4) == 4 else { throw SystemError.errno("write") }
    }

    func enableInterrupts(_ kind: InterruptKind, count: Int) throws(BackendError) -> [InterruptSource] {
        [InterruptSource(descriptor: pipe.read, drain: .uioTotal, unmask: nil, message: 0)]
    }
    func disableInterrupts(_ kind: InterruptKind) throws(BackendError) {}
}
