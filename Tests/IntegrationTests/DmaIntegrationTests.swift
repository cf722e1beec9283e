// The WDK facade's common buffers on a real device: QEMU's edu copies a pattern by DMA from
// one common buffer into its own 4 KiB buffer and back into a second common buffer, each
// transfer's end signalled by its interrupt (ISR, DPC, KEVENT); a buffer held across the
// kernel's unbind does not hold it up; under UIO there is no adapter.
import InterruptBridge
import InterruptBridgeCore
import InterruptBridgeSystem
import InterruptBridgeTestKit
import InterruptBridgeWDK
import Logging
import Synchronization
import Testing

/// A ported edu driver's extension: written on the test thread before the connect; the
/// ISR reads `Registers` and the atomics, the DPC the event.
final class DMA_EDU_EXTENSION: Addressable, @unchecked Sendable {
    var Registers: PUCHAR? = nil
    var ConnectionContext: PVOID = nil
    var Event = KEVENT()
    var Dpc = KDPC()
    var DmaAdapter: PDMA_ADAPTER = nil
    let claimed = Atomic<Int>(0)
    let statusSeen = Atomic<UInt32>(0)
}

extension RigIntegrationTests {
    @Suite("DMA common buffers on real devices")
    struct DmaIntegrationTests {
        // edu's DMA engine (QEMU hw/misc/edu.c).
        static let dmaSource = 0x80
        static let dmaDestination = 0x88
        static let dmaCount = 0x90
        static let dmaCommand = 0x98
        static let dmaRun: ULONG64 = 0x1
        static let dmaToRAM: ULONG64 = 0x2
        static let dmaRaiseInterrupt: ULONG64 = 0x4
        static let dmaInterrupt: UInt32 = 0x100
        static let eduBuffer: ULONG64 = 0x40000
        static let eduBufferLength: ULONG = 4096
        /// What one transfer copies: half of edu's buffer (the rig's QEMU stops with a hardware
        /// error at a transfer that ends on the buffer's last byte, though it is inside).
        static let transferLength = 2048

        static let messageService: KMESSAGE_SERVICE_ROUTINE = { Interrupt, ServiceContext, MessageID in
            let devExt = ServiceContext as! DMA_EDU_EXTENSION
            let status = READ_REGISTER_ULONG(devExt.Registers! + IoSpaceIntegrationTests.status)
            guard status != 0 else { return FALSE }
            WRITE_REGISTER_ULONG(devExt.Registers! + IoSpaceIntegrationTests.acknowledge, status)
            devExt.statusSeen.store(status, ordering: .releasing)
            devExt.claimed.add(1, ordering: .releasing)
            KeInsertQueueDpc(devExt.Dpc, nil, nil)
            return TRUE
        }

        /// The process's pinned memory in KiB (VmLck: VFIO counts the pages it pins for DMA there).
        static func pinnedKiB() throws -> Int {
            let status = try FileIO.readText("/proc/self/status")
            let line = try #require(status.split(separator: "\n").first { $0.hasPrefix("VmLck:") })
            return try #require(Int(line.split(whereSeparator: \.isWhitespace)[1]))
        }

        /// A started edu under VFIO: its registers mapped, its MSI connected to an ISR whose
        /// DPC sets the extension's event.
        struct StartedEdu {
            let backend: VFIOBackend
            let dispatcher: InterruptDispatcher
            let pdo: DEVICE_OBJECT
            let devExt = DMA_EDU_EXTENSION()
            let registersLength: SIZE_T
            var params = IO_CONNECT_INTERRUPT_PARAMETERS()

            init(container: VFIOContainer? = nil) throws {
                try Rig.bind(Rig.eduVFIO, to: .vfioPCI)
                backend = try VFIOBackend(device: IoSpaceIntegrationTests.discovered(Rig.eduVFIO), container: container, logger: Rig.logger)
                dispatcher = try InterruptDispatcher(logger: Rig.logger)
                pdo = DEVICE_OBJECT(InterruptDevice(backend: backend), dispatcher: dispatcher)
                let memory = try IoSpaceIntegrationTests.resources(of: pdo, CmResourceTypeMemory)
                registersLength = SIZE_T(memory.u.Memory.Length)
                devExt.Registers = MmMapIoSpace(memory.u.Memory.Start, registersLength, MmNonCached)
                let registers = try #require(devExt.Registers)
                WRITE_REGISTER_ULONG(registers + IoSpaceIntegrationTests.acknowledge, READ_REGISTER_ULONG(registers + IoSpaceIntegrationTests.status))
                KeInitializeEvent(&devExt.Event, NotificationEvent, FALSE)
                KeInitializeDpc(&devExt.Dpc, { _, DeferredContext, _, _ in
                    KeSetEvent((DeferredContext as! DMA_EDU_EXTENSION).Event, IO_NO_INCREMENT, FALSE)
                }, devExt, dispatcher: dispatcher)
            }

            mutating func connect() {
                params.Version = CONNECT_MESSAGE_BASED
                params.MessageBased.PhysicalDeviceObject = pdo
                params.MessageBased.ConnectionContext.Generic = devExt.pointer(to: \.ConnectionContext)
                params.MessageBased.MessageServiceRoutine = DmaIntegrationTests.messageService
                params.MessageBased.ServiceContext = devExt
                #expect(IoConnectInterruptEx(&params) == STATUS_SUCCESS)
            }

            /// Starts one transfer of edu's and waits for its interrupt; false when none came.
            func transfer(from source: ULONG64, to destination: ULONG64, _ command: ULONG64) -> Bool {
                let registers = devExt.Registers!
                KeClearEvent(devExt.Event)
                WRITE_REGISTER_ULONG64(registers + DmaIntegrationTests.dmaSource, source)
                WRITE_REGISTER_ULONG64(registers + DmaIntegrationTests.dmaDestination, destination)
                WRITE_REGISTER_ULONG64(registers + DmaIntegrationTests.dmaCount, ULONG64(DmaIntegrationTests.transferLength))
                WRITE_REGISTER_ULONG64(registers + DmaIntegrationTests.dmaCommand, DmaIntegrationTests.dmaRun | DmaIntegrationTests.dmaRaiseInterrupt | command)
                var timeout = LARGE_INTEGER(QuadPart: -5_000 * 10_000)  // 5 s; edu takes 100 ms
                return KeWaitForSingleObject(devExt.Event, Executive, KernelMode, FALSE, &timeout) == STATUS_SUCCESS
            }

            func stop() {
                if devExt.ConnectionContext != nil {
                    var disconnect = IO_DISCONNECT_INTERRUPT_PARAMETERS()
                    disconnect.Version = params.Version
                    disconnect.ConnectionContext.Generic = devExt.ConnectionContext
                    IoDisconnectInterruptEx(&disconnect)
                    devExt.ConnectionContext = nil
                }
                KeFlushQueuedDpcs()
                MmUnmapIoSpace(devExt.Registers, registersLength)
                devExt.Registers = nil
                dispatcher.shutdown()
                backend.close()
            }
        }

        static func eduDescription() -> DEVICE_DESCRIPTION {
            var DeviceDescription = DEVICE_DESCRIPTION()
            RtlZeroMemory(&DeviceDescription, MemoryLayout<DEVICE_DESCRIPTION>.size)
            DeviceDescription.Version = DEVICE_DESCRIPTION_VERSION3
            DeviceDescription.Master = TRUE
            DeviceDescription.Dma32BitAddresses = TRUE
            DeviceDescription.DmaAddressWidth = 28  // edu's DMA mask
            DeviceDescription.InterfaceType = PCIBus
            DeviceDescription.MaximumLength = eduBufferLength
            return DeviceDescription
        }

        @Test func eduCopiesACommonBufferIntoItselfAndBackIntoAnother() throws {
            var edu = try StartedEdu()
            defer { edu.stop() }
            let devExt = edu.devExt
            let vfio = try #require(edu.backend.vfioDevice)
            // Bus Master off, as a driver's start may find it: the adapter turns it on.
            let command: UInt16 = try vfio.readConfig(at: VFIODevice.Command.offset)
            try vfio.writeConfig(command & ~VFIODevice.Command.busMaster, at: VFIODevice.Command.offset)
            let pinnedBefore = try Self.pinnedKiB()

            var DeviceDescription = Self.eduDescription()
            var NumberOfMapRegisters: ULONG = 0
            devExt.DmaAdapter = IoGetDmaAdapter(edu.pdo, &DeviceDescription, &NumberOfMapRegisters)
            let adapter = try #require(devExt.DmaAdapter)
            let busMaster: UInt16 = try vfio.readConfig(at: VFIODevice.Command.offset)
            #expect(busMaster & VFIODevice.Command.busMaster != 0, "IoGetDmaAdapter set Bus Master Enable")
            #expect(NumberOfMapRegisters == 2)

            let operations = adapter.pointee.DmaOperations.pointee
            var SourceLogical = PHYSICAL_ADDRESS(), DestinationLogical = PHYSICAL_ADDRESS()
            let Source: PUCHAR = try #require(operations.AllocateCommonBuffer(devExt.DmaAdapter, Self.eduBufferLength, &SourceLogical, FALSE))
            let Destination: PUCHAR = try #require(operations.AllocateCommonBuffer(devExt.DmaAdapter, Self.eduBufferLength, &DestinationLogical, FALSE))
            for logical in [SourceLogical, DestinationLogical] {
                let address = UInt64(bitPattern: logical.QuadPart)
                #expect(address != 0 && address + UInt64(Self.eduBufferLength) - 1 < 1 << 28, "0x\(String(address, radix: 16)) is within edu's 28 bits")
            }
            #expect(try Self.pinnedKiB() >= pinnedBefore + 8, "VFIO pinned both buffers' pages")

            let pattern = (0..<Self.transferLength).map { UCHAR(truncatingIfNeeded: $0 &* 31 &+ $0 >> 8) }
            for (index, byte) in pattern.enumerated() { Source[index] = byte }
            edu.connect()

            #expect(edu.transfer(from: ULONG64(SourceLogical.QuadPart), to: Self.eduBuffer, 0), "RAM to edu: the interrupt came")
            #expect(edu.transfer(from: Self.eduBuffer, to: ULONG64(DestinationLogical.QuadPart), Self.dmaToRAM), "edu to RAM: the interrupt came")
            #expect(devExt.claimed.load(ordering: .acquiring) == 2)
            #expect(devExt.statusSeen.load(ordering: .acquiring) & Self.dmaInterrupt != 0, "the ISR saw edu's DMA interrupt (0x100)")
            #expect((0..<pattern.count).allSatisfy { Destination[$0] == pattern[$0] }, "the second buffer holds what the first did, through edu")
            #expect((pattern.count..<Int(Self.eduBufferLength)).allSatisfy { Destination[$0] == 0 }, "and nothing past the transfer")

            operations.FreeCommonBuffer(devExt.DmaAdapter, Self.eduBufferLength, SourceLogical, Source, FALSE)
            // The freed IOVA is handed out again.
            var AgainLogical = PHYSICAL_ADDRESS()
            let Again: PUCHAR? = operations.AllocateCommonBuffer(devExt.DmaAdapter, Self.eduBufferLength, &AgainLogical, FALSE)
            #expect(Again != nil && AgainLogical == SourceLogical)
            operations.FreeCommonBuffer(devExt.DmaAdapter, Self.eduBufferLength, AgainLogical, Again, FALSE)
            operations.FreeCommonBuffer(devExt.DmaAdapter, Self.eduBufferLength, DestinationLogical, Destination, FALSE)
            #expect(try Self.pinnedKiB() == pinnedBefore, "FreeCommonBuffer unmapped and unpinned them")
            operations.PutDmaAdapter(devExt.DmaAdapter)
            devExt.DmaAdapter = nil
        }

        /// A driver that still holds a common buffer when the kernel asks for the device back
        /// does not hold up the unbind: the buffers are unmapped from the IOMMU at the
        /// removal, their memory stays the driver's until it frees them. The container is
        /// shared with ivshmem's group, which stays: the kernel would drop the mappings itself
        /// with the container's last group, not with one of several.
        @Test func aHeldCommonBufferDoesNotHoldUpTheUnbind() throws {
            let container = try VFIOContainer()
            let neighbour = try VFIOBackend(device: IoSpaceIntegrationTests.discovered(Rig.ivshmem), container: container, logger: Rig.logger)
            defer { neighbour.close() }
            var edu = try StartedEdu(container: container)
            defer { edu.stop() }
            let pinnedBefore = try Self.pinnedKiB()
            var DeviceDescription = Self.eduDescription()
            let adapter = try #require(IoGetDmaAdapter(edu.pdo, &DeviceDescription, nil))
            let operations = adapter.pointee.DmaOperations.pointee
            var Logical = PHYSICAL_ADDRESS()
            let Buffer: PUCHAR = try #require(operations.AllocateCommonBuffer(adapter, Self.eduBufferLength, &Logical, FALSE))
            Buffer[100] = 0x5a
            edu.connect()  // the dispatch loop watches the device's removal request from now on

            let unbound = Atomic<Bool>(false)
            let sysfs = SysfsPCI()
            let thread = try PThread.spawn(name: "unbind") {
                try? sysfs.unbind(Rig.eduVFIO.description, from: "vfio-pci")
                unbound.store(true, ordering: .releasing)
            }
            let released = eventually(within: 60) { unbound.load(ordering: .acquiring) }
            #expect(released, "the kernel's unbind completed with a common buffer still held")
            if released { try PThread.join(thread) }
            #expect(try Self.pinnedKiB() == pinnedBefore, "the removal unmapped the buffer from the IOMMU")
            #expect(Buffer[100] == 0x5a, "the driver's memory is still its own")
            operations.FreeCommonBuffer(adapter, Self.eduBufferLength, Logical, Buffer, FALSE)
            operations.PutDmaAdapter(adapter)
            edu.devExt.ConnectionContext = nil  // the removal disconnected it
            try Rig.bind(Rig.eduVFIO, to: .vfioPCI)  // as the other suites expect it
        }

        @Test func eduUnderUIOGetsNoAdapter() throws {
            let backend = try UIOBackend(device: IoSpaceIntegrationTests.discovered(Rig.eduUIO), logger: Rig.logger)
            defer { backend.close() }
            let messages = Recorder<String>()
            var logger = Logger.capturing(into: messages)
            logger.logLevel = .debug
            let dispatcher = try InterruptDispatcher(logger: logger)
            defer { dispatcher.shutdown() }
            let pdo = DEVICE_OBJECT(InterruptDevice(backend: backend), dispatcher: dispatcher)
            var DeviceDescription = Self.eduDescription()
            #expect(IoGetDmaAdapter(pdo, &DeviceDescription, nil) == nil)
            #expect(messages.all.contains { $0.contains("uio_pci_generic, which maps no memory") }, "\(messages.all)")
        }
    }
}
