import InterruptBridge
import InterruptBridgeCore
import InterruptBridgeTestKit
@testable import InterruptBridgeWDK
import Synchronization
import Testing

/// An edu-style driver that reaches its registers as a WDM driver does: MmMapIoSpace over
/// the translated CmResourceTypeMemory descriptor, READ_REGISTER_ULONG of the status in the
/// ISR, WRITE_REGISTER_ULONG of the acknowledge, MmUnmapIoSpace at stop.
final class MappedRegistersDriver: Addressable, @unchecked Sendable {
    // @unchecked: Registers, RegistersLength and ConnectionContext are written by StartDevice
    // before the device interrupts and read by StopDevice on the same thread; the ISR reads
    // Registers (set before the connect) and the atomics.
    var Registers: PUCHAR? = nil
    var RegistersLength: SIZE_T = 0
    var ConnectionContext: PVOID = nil
    var ConnectVersion: ULONG = 0
    let claimed = Atomic<Int>(0)
    let declined = Atomic<Int>(0)

    static let STATUS = 0x24
    static let ACK = 0x64

    static let InterruptService: KSERVICE_ROUTINE = { Interrupt, ServiceContext in
        let devExt = ServiceContext as! MappedRegistersDriver
        let status = READ_REGISTER_ULONG(devExt.Registers! + STATUS)
        if status == 0 {
            devExt.declined.add(1, ordering: .releasing)
            return FALSE
        }
        WRITE_REGISTER_ULONG(devExt.Registers! + ACK, status)
        devExt.claimed.add(1, ordering: .releasing)
        return TRUE
    }

    static let MessageService: KMESSAGE_SERVICE_ROUTINE = { Interrupt, ServiceContext, MessageID in
        InterruptService(Interrupt, ServiceContext)
    }

    static func StartDevice(_ DeviceObject: DEVICE_OBJECT, _ Resources: PCM_RESOURCE_LIST, _ devExt: MappedRegistersDriver) -> NTSTATUS {
        guard let list = Resources else { return STATUS_INSUFFICIENT_RESOURCES }
        for descriptor in list.List[0].PartialResourceList.PartialDescriptors where descriptor.Type == CmResourceTypeMemory {
            devExt.Registers = MmMapIoSpace(descriptor.u.Memory.Start, SIZE_T(descriptor.u.Memory.Length), MmNonCached)
            devExt.RegistersLength = SIZE_T(descriptor.u.Memory.Length)
            break
        }
        guard devExt.Registers != nil else { return STATUS_INSUFFICIENT_RESOURCES }
        var params = IO_CONNECT_INTERRUPT_PARAMETERS()
        params.Version = CONNECT_MESSAGE_BASED
        params.MessageBased.PhysicalDeviceObject = DeviceObject
        params.MessageBased.ConnectionContext.Generic = devExt.pointer(to: \.ConnectionContext)
        params.MessageBased.MessageServiceRoutine = MessageService
        params.MessageBased.ServiceContext = devExt
        params.MessageBased.FallBackServiceRoutine = InterruptService
        let status = IoConnectInterruptEx(&params)
        if NT_SUCCESS(status) { devExt.ConnectVersion = params.Version } else { StopDevice(devExt) }
        return status
    }

    static func StopDevice(_ devExt: MappedRegistersDriver) {
        if devExt.ConnectVersion != 0 {
            var params = IO_DISCONNECT_INTERRUPT_PARAMETERS()
            params.Version = devExt.ConnectVersion
            params.ConnectionContext.Generic = devExt.ConnectionContext
            IoDisconnectInterruptEx(&params)
            devExt.ConnectVersion = 0
        }
        if let registers = devExt.Registers {
            MmUnmapIoSpace(registers, devExt.RegistersLength)
            devExt.Registers = nil
        }
    }
}

@Suite("I/O space: MmMapIoSpace, registers and ports")
struct IoSpaceTests {
    /// A simulated card with a memory BAR and an I/O BAR at addresses no other test uses
    /// (the facade finds a BAR by address among every device object alive).
    static func card(memory: UInt64, ports: UInt64 = 0, msi: Int = 1) -> SimulatedDevice {
        var bars = [PCIBar(index: 0, address: memory, size: 0x1000, space: .memory)]
        if ports != 0 { bars.append(PCIBar(index: 1, address: ports, size: 0x20, space: .io)) }
        return SimulatedDevice(bars: bars, interruptPin: .a, irqLine: 11, msiCount: msi)
    }

    static func memoryDescriptor(of pdo: DEVICE_OBJECT) throws -> CM_PARTIAL_RESOURCE_DESCRIPTOR {
        try #require(IoGetCurrentIrpStackLocation(IoBuildStartDeviceIrp(pdo)).Parameters.StartDevice.AllocatedResourcesTranslated?
            .List[0].PartialResourceList.PartialDescriptors.first { $0.Type == CmResourceTypeMemory })
    }

    @Test(arguments: [true, false])
    func aPortedISRReadsAndAcknowledgesItsStatusRegister(msiAllowed: Bool) throws {
        let dispatcher = try makeDispatcher()
        defer { dispatcher.shutdown() }
        let address: UInt64 = msiAllowed ? 0xd100_0000 : 0xd101_0000
        let (pdo, backend) = makePDO(Self.card(memory: address), policy: InterruptPolicy(msiSupported: msiAllowed), on: dispatcher)
        let device = try backend.registers(bar: 0)
        let devExt = MappedRegistersDriver()
        let start = IoGetCurrentIrpStackLocation(IoBuildStartDeviceIrp(pdo)).Parameters.StartDevice
        #expect(MappedRegistersDriver.StartDevice(pdo, start.AllocatedResourcesTranslated, devExt) == STATUS_SUCCESS)
        #expect(devExt.ConnectVersion == (msiAllowed ? CONNECT_MESSAGE_BASED : CONNECT_LINE_BASED))

        for round in 1...20 {
            let cause = UInt32(1) << UInt32(round % 8)
            device.write32(cause, at: MappedRegistersDriver.STATUS)  // the card sets its cause, then interrupts
            #expect(backend.raise())
            #expect(eventually { devExt.claimed.load(ordering: .acquiring) == round }, "round \(round) claimed")
            #expect(device.read32(at: MappedRegistersDriver.ACK) == cause, "the ISR acknowledged what it read")
            device.write32(0, at: MappedRegistersDriver.STATUS)
        }
        // No cause: the ISR reads 0 and declines.
        #expect(backend.raise())
        #expect(eventually { devExt.declined.load(ordering: .acquiring) == 1 })
        #expect(devExt.claimed.load(ordering: .acquiring) == 20)

        MappedRegistersDriver.StopDevice(devExt)
        #expect(dispatcher.connectedInterrupts.isEmpty)
    }

    @Test func everyMappingOfABARShowsTheSameRegisters() throws {
        let dispatcher = try makeDispatcher()
        defer { dispatcher.shutdown() }
        let (pdo, backend) = makePDO(Self.card(memory: 0xd102_0000), on: dispatcher)
        let memory = try Self.memoryDescriptor(of: pdo)
        #expect(memory.u.Memory.Start.QuadPart == 0xd102_0000)
        let whole: PUCHAR = try #require(MmMapIoSpace(memory.u.Memory.Start, 0x1000, MmNonCached))
        // A mapping from inside the BAR starts at that register.
        let inside: PULONG = try #require(MmMapIoSpace(PHYSICAL_ADDRESS(QuadPart: 0xd102_0100), 0x10, MmCached))
        WRITE_REGISTER_ULONG(inside, 0xfeed_beef)
        #expect(READ_REGISTER_ULONG(whole + 0x100) == 0xfeed_beef)
        #expect(READ_REGISTER_USHORT(whole + 0x102) == 0xfeed)
        #expect(READ_REGISTER_UCHAR(whole + 0x100) == 0xef)
        #expect(try backend.registers(bar: 0).read32(at: 0x100) == 0xfeed_beef, "the device sees the driver's write")
        WRITE_REGISTER_ULONG64(whole + 0x200, 0x0123_4567_89ab_cdef)
        #expect(READ_REGISTER_ULONG64(UnsafeMutableRawPointer(whole + 0x200)) == 0x0123_4567_89ab_cdef)
        WRITE_REGISTER_UCHAR(whole + 0x300, 0x5a)
        WRITE_REGISTER_USHORT(whole + 0x302, 0xa55a)
        #expect(try backend.registers(bar: 0).read32(at: 0x300) == 0xa55a_005a)

        let ex: UnsafeMutableRawPointer? = MmMapIoSpaceEx(memory.u.Memory.Start, 0x1000, PAGE_READWRITE | PAGE_NOCACHE)
        #expect(READ_REGISTER_ULONG(ex.map { $0 + 0x100 }) == 0xfeed_beef)
        MmUnmapIoSpace(ex, 0x1000)
        MmUnmapIoSpace(inside, 0x10)
        #expect(IoSpace.isMapped(UnsafeMutableRawPointer(whole)))
        MmUnmapIoSpace(whole, 0x1000)
        #expect(!IoSpace.isMapped(UnsafeMutableRawPointer(whole)), "unmapped: the region is released")
        #expect(!IoSpace.isMapped(UnsafeMutableRawPointer(inside)))
    }

    @Test func aRangeNoDeviceObjectHoldsIsNotMapped() throws {
        let dispatcher = try makeDispatcher()
        defer { dispatcher.shutdown() }
        var (pdo, _): (DEVICE_OBJECT?, SimulatedBackend) = makePDO(Self.card(memory: 0xd103_0000, ports: 0xe300), on: dispatcher)
        let start = PHYSICAL_ADDRESS(QuadPart: 0xd103_0000)
        let nowhere: UnsafeMutableRawPointer? = MmMapIoSpace(PHYSICAL_ADDRESS(QuadPart: 0xd1ff_0000), 0x1000, MmNonCached)
        #expect(nowhere == nil, "no device decodes it")
        let past: UnsafeMutableRawPointer? = MmMapIoSpace(PHYSICAL_ADDRESS(QuadPart: 0xd103_0800), 0x1000, MmNonCached)
        #expect(past == nil, "the range runs past the BAR's end")
        let empty: UnsafeMutableRawPointer? = MmMapIoSpace(start, 0, MmNonCached)
        #expect(empty == nil, "nothing to map")
        let noAccess: UnsafeMutableRawPointer? = MmMapIoSpaceEx(start, 0x1000, PAGE_NOACCESS)
        #expect(noAccess == nil)
        let port: UnsafeMutableRawPointer? = MmMapIoSpace(PHYSICAL_ADDRESS(QuadPart: 0xe300), 4, MmNonCached)
        #expect(port == nil, "the card's I/O BAR is ports, not memory")
        let readOnly: UnsafeMutableRawPointer? = MmMapIoSpaceEx(start, 0x1000, PAGE_EXECUTE_READ)
        #expect(readOnly != nil, "any of the five access protections maps")
        MmUnmapIoSpace(readOnly, 0x1000)
        let mapped: UnsafeMutableRawPointer? = MmMapIoSpace(start, 0x1000, MmNonCached)
        #expect(mapped != nil)
        MmUnmapIoSpace(mapped, 0x1000)
        withExtendedLifetime(pdo) {}
        pdo = nil  // IoDeleteDevice: its BARs go with it
        let gone: UnsafeMutableRawPointer? = MmMapIoSpace(start, 0x1000, MmNonCached)
        #expect(gone == nil)
    }

    @Test func portsReachTheIOBarThatHoldsThem() throws {
        let dispatcher = try makeDispatcher()
        defer { dispatcher.shutdown() }
        var (pdo, backend): (DEVICE_OBJECT?, SimulatedBackend) = makePDO(Self.card(memory: 0xd104_0000, ports: 0xe100), on: dispatcher)
        let descriptor = try #require(IoGetCurrentIrpStackLocation(IoBuildStartDeviceIrp(pdo!)).Parameters.StartDevice
            .AllocatedResourcesTranslated?.List[0].PartialResourceList.PartialDescriptors.first { $0.Type == CmResourceTypePort })
        #expect(descriptor.u.Port.Start.QuadPart == 0xe100)
        let PortBase = try #require(PUCHAR(bitPattern: ULONG_PTR(descriptor.u.Port.Start.QuadPart)))
        let ports = try backend.registers(bar: 1)

        WRITE_PORT_UCHAR(PortBase + 4, 0x5a)
        #expect(ports.read8(at: 4) == 0x5a)
        WRITE_PORT_USHORT(PortBase + 8, 0xbeef)
        WRITE_PORT_ULONG(PortBase + 0x10, 0x1234_5678)
        #expect(READ_PORT_UCHAR(PortBase + 4) == 0x5a)
        #expect(READ_PORT_USHORT(PortBase + 8) == 0xbeef)
        #expect(READ_PORT_ULONG(PortBase + 0x10) == 0x1234_5678)

        // A FIFO: the buffer forms read and write one port again and again.
        var bytes: [UCHAR] = [1, 2, 3]
        bytes.withUnsafeMutableBufferPointer { WRITE_PORT_BUFFER_UCHAR(PortBase + 0x18, $0.baseAddress!, 3) }
        #expect(ports.read8(at: 0x18) == 3, "each write went to the same port")
        ports.write8(0x77, at: 0x18)
        var read = [UCHAR](repeating: 0, count: 3)
        read.withUnsafeMutableBufferPointer { READ_PORT_BUFFER_UCHAR(PortBase + 0x18, $0.baseAddress!, 3) }
        #expect(read == [0x77, 0x77, 0x77])

        // Nobody decodes these: all ones, and the write goes nowhere.
        let unclaimed = try #require(PUCHAR(bitPattern: 0xe200))
        #expect(READ_PORT_UCHAR(unclaimed) == 0xff)
        #expect(READ_PORT_USHORT(unclaimed) == 0xffff)
        #expect(READ_PORT_ULONG(unclaimed) == 0xffff_ffff)
        WRITE_PORT_ULONG(unclaimed, 0)
        #expect(READ_PORT_ULONG(PortBase + 0x1e) == 0xffff_ffff, "an access that runs past the BAR's end is not the card's")

        pdo = nil
        #expect(READ_PORT_UCHAR(PortBase + 4) == 0xff, "the card's device object is gone")
    }

    @Test func registerBuffersMoveAlongConsecutiveRegisters() throws {
        let dispatcher = try makeDispatcher()
        defer { dispatcher.shutdown() }
        let (pdo, backend) = makePDO(Self.card(memory: 0xd105_0000), on: dispatcher)
        let registers: PUCHAR = try #require(MmMapIoSpace(Self.memoryDescriptor(of: pdo).u.Memory.Start, 0x1000, MmNonCached))
        defer { MmUnmapIoSpace(registers, 0x1000) }
        var words: [ULONG] = [10, 20, 30, 40]
        words.withUnsafeMutableBufferPointer { WRITE_REGISTER_BUFFER_ULONG(registers + 0x40, $0.baseAddress!, 4) }
        let device = try backend.registers(bar: 0)
        #expect([0x40, 0x44, 0x48, 0x4c].map { device.read32(at: $0) } == [10, 20, 30, 40])
        var back = [USHORT](repeating: 0, count: 4)
        back.withUnsafeMutableBufferPointer { READ_REGISTER_BUFFER_USHORT(registers + 0x40, $0.baseAddress!, 4) }
        #expect(back == [10, 0, 20, 0])
        var bytes = [UCHAR](repeating: 0, count: 2)
        bytes.withUnsafeMutableBufferPointer { READ_REGISTER_BUFFER_UCHAR(registers + 0x44, $0.baseAddress!, 2) }
        #expect(bytes == [20, 0])
    }
}
