import InterruptBridge
import InterruptBridgeCore
import InterruptBridgeWDK
import InterruptBridgeTestKit
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Serves interrupts through the facade's routines (the ISR wrapper closures,
/// KeInsertQueueDpc with arguments, IoRequestDpc, a message ISR) and prints the
/// raise-to-DPC round trip. Figures only; the assertions are about delivery.
///
/// IRQBRIDGE_WDK_ROUNDS overrides the count, to compare two runs' allocation counts
/// on the dispatch threads under an LD_PRELOAD malloc counter (see
/// scripts/check-isr-allocations.sh): if the facade's interrupt path allocated, the
/// count would grow with the rounds.
@Suite("Facade interrupt path report", .serialized)
struct FacadeInterruptPathReport {
    static let rounds = getenv("IRQBRIDGE_WDK_ROUNDS").flatMap { Int(String(cString: $0)) } ?? 500

    enum Configuration: String, CaseIterable, CustomTestStringConvertible {
        case messageBased = "CONNECT_MESSAGE_BASED, message ISR"
        case lineBasedIoRequestDpc = "CONNECT_LINE_BASED + IoRequestDpc"
        case fullySpecifiedKeInsertQueueDpc = "CONNECT_FULLY_SPECIFIED + KeInsertQueueDpc(args)"
        var testDescription: String { rawValue }
    }

    @Test(arguments: Configuration.allCases)
    func roundTrip(_ configuration: Configuration) throws {
        let dispatcher = try makeDispatcher()
        defer { dispatcher.shutdown() }
        let shape = configuration == .messageBased ? SimulatedDevice(interruptPin: nil, msixCount: 1) : Devices.lineOnly
        let (pdo, backend) = makePDO(shape, on: dispatcher)
        let devExt = DEVICE_EXTENSION()
        pdo.DeviceExtension = devExt
        var params = IO_CONNECT_INTERRUPT_PARAMETERS()
        switch configuration {
        case .messageBased:
            params = ConnectStatusTests.messageBased(pdo, devExt, fallBack: false)
            params.MessageBased.MessageServiceRoutine = { _, ServiceContext, _ in
                (ServiceContext as! DEVICE_EXTENSION).dpcCalls.add(1, ordering: .releasing)
                return TRUE
            }
        case .lineBasedIoRequestDpc:
            IoInitializeDpcRequest(pdo) { _, DeviceObject, _, _ in
                (DeviceObject.DeviceExtension as! DEVICE_EXTENSION).dpcCalls.add(1, ordering: .releasing)
            }
            params = ConnectStatusTests.lineBased(pdo, devExt)
            params.LineBased.ServiceContext = pdo
            params.LineBased.ServiceRoutine = { _, ServiceContext in
                IoRequestDpc(ServiceContext as! DEVICE_OBJECT, nil, nil)
                return TRUE
            }
        case .fullySpecifiedKeInsertQueueDpc:
            KeInitializeDpc(&devExt.Dpc, { _, DeferredContext, _, _ in
                (DeferredContext as! DEVICE_EXTENSION).dpcCalls.add(1, ordering: .releasing)
            }, devExt, dispatcher: dispatcher)
            params = ConnectStatusTests.fullySpecified(pdo, devExt)
            params.FullySpecified.ServiceRoutine = { Interrupt, ServiceContext in
                let devExt = ServiceContext as! DEVICE_EXTENSION
                KeInsertQueueDpc(devExt.Dpc, Interrupt, devExt)
                return TRUE
            }
        }
        #expect(IoConnectInterruptEx(&params) == STATUS_SUCCESS)

        var microseconds: [Double] = []
        microseconds.reserveCapacity(Self.rounds)
        for round in 1...Self.rounds {
            let start = ContinuousClock.now
            backend.raise()
            while devExt.dpcCalls.load(ordering: .acquiring) < round {}
            let elapsed = ContinuousClock.now - start
            microseconds.append(Double(elapsed.components.attoseconds) / 1e12 + Double(elapsed.components.seconds) * 1e6)
        }
        #expect(devExt.dpcCalls.load(ordering: .acquiring) == Self.rounds)
        microseconds.sort()
        let p50 = microseconds[microseconds.count / 2]
        let p99 = microseconds[min(microseconds.count - 1, microseconds.count * 99 / 100)]
        print("facade round trip, \(configuration.rawValue): p50 \(Int(p50)) µs, p99 \(Int(p99)) µs over \(Self.rounds) interrupts")

        var disconnect = IO_DISCONNECT_INTERRUPT_PARAMETERS()
        disconnect.Version = params.Version
        disconnect.ConnectionContext.Generic = configuration == .messageBased ? devExt.ConnectionContext : devExt.IntObj
        IoDisconnectInterruptEx(&disconnect)
        #expect(dispatcher.connectedInterrupts.isEmpty)
    }
}
