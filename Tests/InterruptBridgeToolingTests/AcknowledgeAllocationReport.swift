import InterruptBridge
import InterruptBridgeCore
import InterruptBridgeTooling
import Logging
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Serves interrupts whose ISR runs the edu profile's acknowledge program over
/// MappedBARs (plain memory standing in for BAR 0), on the dispatch threads
/// ("irqbridge-isr"), message-based and line-based.
///
/// IRQBRIDGE_ACK_ROUNDS sets the count: scripts/check-isr-allocations.sh runs this
/// twice under an LD_PRELOAD malloc counter for those threads and fails if the count
/// grows with the rounds (an acknowledge program that allocated would add one or more
/// per interrupt). The assertions here are that every interrupt ran the program.
@Suite("Acknowledge program allocation report", .serialized)
struct AcknowledgeAllocationReport {
    static let rounds = getenv("IRQBRIDGE_ACK_ROUNDS").flatMap { Int(String(cString: $0)) } ?? 500

    @Test(arguments: [InterruptKind.msix, .intx])
    func acknowledgeOnTheISRThread(_ kind: InterruptKind) throws {
        let memory = UnsafeMutableRawPointer.allocate(byteCount: 0x100, alignment: 8)
        defer { memory.deallocate() }
        memory.initializeMemory(as: UInt8.self, repeating: 0, count: 0x100)
        let bars = MappedBARs([MappedBARs.Mapping(bar: 0, base: memory, length: 0x100)])
        let edu = try #require(ProfileLibrary().profile(named: "edu"))
        let acknowledge = try BoundRegisterProgram(try #require(edu.acknowledge), on: bars)

        let dispatcher = try InterruptDispatcher(logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
        defer { dispatcher.shutdown() }
        // INTx: each raise is one assertion (holdsLineUntilAcknowledged false), so the
        // ISR need not call SimulatedBackend.acknowledge(), which takes the backend's
        // lock and, measured with this report, allocates once per call: it is the
        // simulated device's side, not the acknowledge program under test.
        let backend = SimulatedBackend(kind == .msix ? SimulatedDevice(interruptPin: nil, msixCount: 1)
                                                     : SimulatedDevice(holdsLineUntilAcknowledged: false))
        let device = InterruptDevice(backend: backend, policy: InterruptPolicy(msiSupported: kind != .intx),
                                     facts: ResourceTranslator.SystemFacts(onlineProcessors: .first(2)))
        let claimed = Atomic<Int>(0)
        let connection: MessageConnection
        if kind == .intx {
            connection = .line(try dispatcher.connectLineBased(device: device, routine: { _ in
                guard acknowledge.run() else { return false }
                claimed.add(1, ordering: .releasing)
                return true
            }))
        } else {
            connection = try dispatcher.connectMessageBased(device: device, messageRoutine: { _, message in
                guard acknowledge.run(vector: message) else { return false }
                claimed.add(1, ordering: .releasing)
                return true
            })
        }
        defer { dispatcher.disconnect(connection) }

        for round in 1...Self.rounds {
            // The "device" sets its status; the ISR's program copies it to 0x64.
            bars.write(bar: 0, offset: 0x24, width: .bits32, value: UInt64(round))
            backend.raise()
            let deadline = ContinuousClock.now + .seconds(10)
            while claimed.load(ordering: .acquiring) < round, ContinuousClock.now < deadline {}
            bars.write(bar: 0, offset: 0x24, width: .bits32, value: 0)
            #expect(bars.read(bar: 0, offset: 0x64, width: .bits32) == UInt64(round))
            if claimed.load(ordering: .acquiring) < round { break }
        }
        #expect(claimed.load(ordering: .acquiring) == Self.rounds)
    }
}
