// The WDK facade's register and port routines on real devices: MmMapIoSpace over edu's BAR0
// through VFIO and through sysfs under UIO, an ISR that reads and acknowledges edu's status
// through the mapping, and READ_PORT_*/WRITE_PORT_* on e1000e's I/O BAR (IOADDR/IODATA),
// checked against the same register read through memory.
import InterruptBridge
import InterruptBridgeCore
import InterruptBridgeDiscovery
import InterruptBridgeSystem
import InterruptBridgeTestKit
import InterruptBridgeWDK
import Synchronization
import Testing

/// A ported edu driver's extension: `Registers` is set before the connect and cleared after
/// the disconnect, on the test thread; the ISR reads it and the atomics.
final class MAPPED_EDU_EXTENSION: Addressable, @unchecked Sendable {
    var Registers: PUCHAR? = nil
    var ConnectionContext: PVOID = nil
    let claimed = Atomic<Int>(0)
}

extension RigIntegrationTests {
    @Suite("MmMapIoSpace, registers and ports on real devices")
    struct IoSpaceIntegrationTests {
        static let identification = 0x00
        static let liveness = 0x04
        static let status = 0x24
        static let raise = 0x60
        static let acknowledge = 0x64

        /// The device as discovery (libpci) reports it, BARs included, as a driver's own start finds it.
        static func discovered(_ address: PCIAddress) throws -> PCIDeviceInfo {
            try #require(try PCIDiscovery(logger: Rig.logger).device(at: address), "libpci finds \(address)")
        }

        static func resources(of pdo: DEVICE_OBJECT, _ type: UCHAR) throws -> CM_PARTIAL_RESOURCE_DESCRIPTOR {
            try #require(IoGetCurrentIrpStackLocation(IoBuildStartDeviceIrp(pdo)).Parameters.StartDevice.AllocatedResourcesTranslated?
                .List[0].PartialResourceList.PartialDescriptors.first { $0.Type == type })
        }

        static let messageService: KMESSAGE_SERVICE_ROUTINE = { Interrupt, ServiceContext, MessageID in
            let devExt = ServiceContext as! MAPPED_EDU_EXTENSION
            let status = READ_REGISTER_ULONG(devExt.Registers! + IoSpaceIntegrationTests.status)
            guard status != 0 else { return FALSE }
            WRITE_REGISTER_ULONG(devExt.Registers! + IoSpaceIntegrationTests.acknowledge, status)
            devExt.claimed.add(1, ordering: .releasing)
            return TRUE
        }

        /// CONNECT_MESSAGE_BASED with `messageService`, as the driver's start writes it; the
        /// parameters come back with the version connected.
        @discardableResult
        static func connectMessages(of pdo: DEVICE_OBJECT, to devExt: MAPPED_EDU_EXTENSION) -> IO_CONNECT_INTERRUPT_PARAMETERS {
            var params = IO_CONNECT_INTERRUPT_PARAMETERS()
            params.Version = CONNECT_MESSAGE_BASED
            params.MessageBased.PhysicalDeviceObject = pdo
            params.MessageBased.ConnectionContext.Generic = devExt.pointer(to: \.ConnectionContext)
            params.MessageBased.MessageServiceRoutine = Self.messageService
            params.MessageBased.ServiceContext = devExt
            #expect(IoConnectInterruptEx(&params) == STATUS_SUCCESS)
            return params
        }

        @Test func eduThroughVFIOIsMappedServedAndReleased() throws {
            try Rig.bind(Rig.eduVFIO, to: .vfioPCI)
            let info = try Self.discovered(Rig.eduVFIO)
            do {
                let backend = try VFIOBackend(device: info, logger: Rig.logger)
                let dispatcher = try InterruptDispatcher(logger: Rig.logger)
                let pdo = DEVICE_OBJECT(InterruptDevice(backend: backend), dispatcher: dispatcher)
                let memory = try Self.resources(of: pdo, CmResourceTypeMemory)
                let devExt = MAPPED_EDU_EXTENSION()
                devExt.Registers = MmMapIoSpace(memory.u.Memory.Start, SIZE_T(memory.u.Memory.Length), MmNonCached)
                let registers = try #require(devExt.Registers, "MmMapIoSpace of edu's BAR0 at \(memory.u.Memory.Start.QuadPart)")
                #expect(READ_REGISTER_ULONG(registers + Self.identification) == 0x0100_00ed, "edu's identification register")
                WRITE_REGISTER_ULONG(registers + Self.liveness, 0x1234_5678)
                #expect(READ_REGISTER_ULONG(registers + Self.liveness) == ~UInt32(0x1234_5678), "edu inverts what the liveness register was given")
                WRITE_REGISTER_ULONG(registers + Self.acknowledge, READ_REGISTER_ULONG(registers + Self.status))

                let params = Self.connectMessages(of: pdo, to: devExt)
                let rounds = min(Rig.count, 500)
                for round in 1...rounds {
                    WRITE_REGISTER_ULONG(registers + Self.raise, UInt32(1) << UInt32(round % 8))
                    guard eventually(5, { devExt.claimed.load(ordering: .acquiring) == round }) else {
                        Issue.record("interrupt \(round): the ISR claimed \(devExt.claimed.load(ordering: .acquiring))")
                        break
                    }
                }
                var disconnect = IO_DISCONNECT_INTERRUPT_PARAMETERS()
                disconnect.Version = params.Version
                disconnect.ConnectionContext.Generic = devExt.ConnectionContext
                IoDisconnectInterruptEx(&disconnect)
                devExt.ConnectionContext = nil
                MmUnmapIoSpace(devExt.Registers, SIZE_T(memory.u.Memory.Length))
                devExt.Registers = nil
                dispatcher.shutdown()
                backend.close()
                withExtendedLifetime(pdo) {}
            }
            // The mapping held the device open in the kernel: once unmapped and closed, it opens again.
            let again = try VFIOBackend(device: info, logger: Rig.logger)
            again.close()
        }

        /// A driver that never unmaps (or has not yet: the ISR may still run) must not hold up
        /// the kernel's unbind: at the removal request the mapping lets the device go, and the
        /// address reads zeroes from then on instead of faulting.
        @Test func aLiveMappingDoesNotHoldUpTheUnbind() throws {
            try Rig.bind(Rig.eduVFIO, to: .vfioPCI)
            let backend = try VFIOBackend(device: Self.discovered(Rig.eduVFIO), logger: Rig.logger)
            defer { backend.close() }
            let dispatcher = try InterruptDispatcher(logger: Rig.logger)
            defer { dispatcher.shutdown() }
            let pdo = DEVICE_OBJECT(InterruptDevice(backend: backend), dispatcher: dispatcher)
            let memory = try Self.resources(of: pdo, CmResourceTypeMemory)
            let devExt = MAPPED_EDU_EXTENSION()
            devExt.Registers = MmMapIoSpace(memory.u.Memory.Start, SIZE_T(memory.u.Memory.Length), MmNonCached)
            let registers = try #require(devExt.Registers)
            #expect(READ_REGISTER_ULONG(registers + Self.identification) == 0x0100_00ed)
            Self.connectMessages(of: pdo, to: devExt)
            WRITE_REGISTER_ULONG(registers + Self.raise, 1)
            #expect(eventually(5) { devExt.claimed.load(ordering: .acquiring) == 1 })

            // Unbinding blocks in the kernel until the device is released: on a thread.
            let unbound = Atomic<Bool>(false)
            let sysfs = SysfsPCI()
            let thread = try PThread.spawn(name: "unbind") {
                try? sysfs.unbind(Rig.eduVFIO.description, from: "vfio-pci")
                unbound.store(true, ordering: .releasing)
            }
            let released = eventually(within: 60) { unbound.load(ordering: .acquiring) }
            #expect(released, "the kernel's unbind completed with MmMapIoSpace's mapping still held")
            if released { try PThread.join(thread) }
            #expect(READ_REGISTER_ULONG(registers + Self.identification) == 0, "the address is zeroed memory now")
            MmUnmapIoSpace(devExt.Registers, SIZE_T(memory.u.Memory.Length))
            devExt.Registers = nil
            devExt.ConnectionContext = nil
            withExtendedLifetime(pdo) {}
            try Rig.bind(Rig.eduVFIO, to: .vfioPCI)  // as the other suites expect it
        }

        @Test func eduUnderUIOIsMappedThroughSysfs() throws {
            let backend = try UIOBackend(device: Self.discovered(Rig.eduUIO), logger: Rig.logger)
            defer { backend.close() }
            let dispatcher = try InterruptDispatcher(logger: Rig.logger)
            defer { dispatcher.shutdown() }
            let pdo = DEVICE_OBJECT(InterruptDevice(backend: backend), dispatcher: dispatcher)
            let memory = try Self.resources(of: pdo, CmResourceTypeMemory)
            let registers: PUCHAR = try #require(MmMapIoSpace(memory.u.Memory.Start, SIZE_T(memory.u.Memory.Length), MmNonCached))
            defer { MmUnmapIoSpace(registers, SIZE_T(memory.u.Memory.Length)) }
            #expect(READ_REGISTER_ULONG(registers + Self.identification) == 0x0100_00ed)
            WRITE_REGISTER_ULONG(registers + Self.liveness, 0x0f0f_0f0f)
            #expect(READ_REGISTER_ULONG(registers + Self.liveness) == 0xf0f0_f0f0)
        }

        /// e1000e's I/O BAR is a window on its registers: IOADDR (port +0) selects one,
        /// IODATA (port +4) reads or writes it. What a port write puts there, memory reads.
        @Test func e1000ePortsReachTheSameRegistersAsItsMemory() throws {
            let address = Rig.device("e1000e") ?? PCIAddress("0000:00:07.0")!
            try Rig.bind(address, to: .vfioPCI)
            let backend = try VFIOBackend(device: Self.discovered(address), logger: Rig.logger)
            defer { backend.close() }
            let dispatcher = try InterruptDispatcher(logger: Rig.logger)
            defer { dispatcher.shutdown() }
            let pdo = DEVICE_OBJECT(InterruptDevice(backend: backend), dispatcher: dispatcher)
            let memory = try Self.resources(of: pdo, CmResourceTypeMemory)
            let port = try Self.resources(of: pdo, CmResourceTypePort)
            let registers: PUCHAR = try #require(MmMapIoSpace(memory.u.Memory.Start, SIZE_T(memory.u.Memory.Length), MmNonCached))
            defer { MmUnmapIoSpace(registers, SIZE_T(memory.u.Memory.Length)) }
            let PortBase = try #require(PUCHAR(bitPattern: ULONG_PTR(port.u.Port.Start.QuadPart)))
            let IOADDR = PortBase, IODATA = PortBase + 4
            let RDBAL = ULONG(0x2800)  // receive descriptor base, low: plain storage

            WRITE_PORT_ULONG(IOADDR, RDBAL)
            #expect(READ_PORT_ULONG(IOADDR) == RDBAL, "IOADDR keeps the register it was given")
            WRITE_PORT_ULONG(IODATA, 0x1234_5670)
            #expect(READ_REGISTER_ULONG(registers + Int(RDBAL)) == 0x1234_5670, "the port write reached the register")
            WRITE_REGISTER_ULONG(registers + Int(RDBAL), 0x0abc_def0)
            #expect(READ_PORT_ULONG(IODATA) == 0x0abc_def0, "the port read sees the memory write")
            WRITE_REGISTER_ULONG(registers + Int(RDBAL), 0)
        }
    }
}
