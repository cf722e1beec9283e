internal import CBaselines
import InterruptBridge
import InterruptBridgeDiscovery
import InterruptBridgeCore
import InterruptBridgeSystem
import InterruptBridgeWDK
public import Logging
#if canImport(Glibc)
import Glibc
#endif

/// The bridge side of the rig round trip: the edu device opened through the
/// VFIO backend and its interrupt connected with IoConnectInterruptEx, as a
/// ported driver would (CONNECT_MESSAGE_BASED for MSI, CONNECT_LINE_BASED for
/// INTx), on the runtime's dispatch thread. The ISR does what the raw C loop's
/// does, with the same C code: acknowledge edu (read 0x24, write 0x64), hit the
/// probe, claim; the runtime then unmasks INTx. The writer is the shared C one.
public struct BridgeEduRoundTripper: EduRoundTripper {
    let logger: Logger

    public init(logger: Logger) { self.logger = logger }
    public var label: String { "bridge" }

    public func run(address: String, interrupt: EduInterrupt, probe: Probe, rounds: Int, options: BenchOptions) throws(BenchError) {
        guard let pciAddress = PCIAddress(address) else { throw .rig("not a PCI address: \(address)") }
        let info: PCIDeviceInfo
        do {
            guard let found = try PCIDiscovery(logger: logger).device(at: pciAddress) else {
                throw BenchError.rig("no PCI device \(address)")
            }
            info = found
        } catch {
            throw .rig("discover \(address): \(error)")
        }
        let backend: VFIOBackend
        do {
            backend = try VFIOBackend(device: info, logger: logger)
        } catch {
            throw .rig("open \(address) through VFIO: \(error)")
        }
        defer { backend.close() }
        let bar = try EduRegisters(backend: backend)
        defer { bar.unmap() }

        let affinity = options.dispatch.cpu.map { ProcessorAffinity(rawValue: UInt64(1) << UInt64($0)) }
        let dispatcher: InterruptDispatcher
        do {
            dispatcher = try InterruptDispatcher(logger: logger, options: DispatchOptions(
                pinning: affinity == nil ? .none : .interruptAffinity,
                realtimePriority: options.dispatch.fifoPriority.map(Int32.init), threadName: "irqbridge-rig"))
        } catch {
            throw .rig("start the dispatcher: \(error)")
        }
        defer { dispatcher.shutdown() }
        let policy = interrupt == .msi ? InterruptPolicy(preferMSIX: false, affinityOverride: affinity)
                                       : InterruptPolicy(msiSupported: false, affinityOverride: affinity)
        let pdo = DEVICE_OBJECT(InterruptDevice(backend: backend, policy: policy), dispatcher: dispatcher)
        let extensionObject = EduDeviceExtension()
        let disconnect = try connect(pdo, interrupt, extensionObject, bar: bar, probe: probe)
        defer { IoDisconnectInterruptEx(&disconnect.parameters) }

        var writer = options.writer.raw
        let rc = cbl_drive_pingpong_mmio(probe.raw, bar.base, CBL_EDU_RAISE, 1, UInt64(rounds), options.gapNanoseconds,
                                         options.timeoutNanoseconds, &writer)
        if rc == ETIMEDOUT {
            throw .stalled(side: label, scenario: "rig edu \(interrupt.rawValue)", delivered: probe.hits, expected: rounds)
        }
        guard rc == 0 else { throw .rig("bridge round trip on \(address) (\(interrupt.rawValue)): writer failed, errno \(rc)") }
    }

    private func connect(_ pdo: DEVICE_OBJECT, _ interrupt: EduInterrupt, _ devExt: EduDeviceExtension, bar: EduRegisters,
                         probe: Probe) throws(BenchError) -> DisconnectBox {
        let isr: KSERVICE_ROUTINE = { _, _ in
            cbl_edu_acknowledge(bar.base)
            probe.hit(vector: 0)
            return TRUE
        }
        let messageISR: KMESSAGE_SERVICE_ROUTINE = { _, _, _ in
            cbl_edu_acknowledge(bar.base)
            probe.hit(vector: 0)
            return TRUE
        }
        var params = IO_CONNECT_INTERRUPT_PARAMETERS()
        switch interrupt {
        case .msi:
            params.Version = CONNECT_MESSAGE_BASED
            params.MessageBased.PhysicalDeviceObject = pdo
            params.MessageBased.ConnectionContext.Generic = devExt.pointer(to: \.ConnectionContext)
            params.MessageBased.MessageServiceRoutine = messageISR
            params.MessageBased.ServiceContext = devExt
        case .intx:
            params.Version = CONNECT_LINE_BASED
            params.LineBased.PhysicalDeviceObject = pdo
            params.LineBased.InterruptObject = devExt.pointer(to: \.IntObj)
            params.LineBased.ServiceRoutine = isr
            params.LineBased.ServiceContext = devExt
        }
        let status = IoConnectInterruptEx(&params)
        guard NT_SUCCESS(status) else { throw .rig("IoConnectInterruptEx (\(interrupt.rawValue)): \(status)") }
        let expected = interrupt == .msi ? CONNECT_MESSAGE_BASED : CONNECT_LINE_BASED
        let box = DisconnectBox()
        box.parameters.Version = params.Version
        box.parameters.ConnectionContext.Generic = interrupt == .msi ? devExt.ConnectionContext : devExt.IntObj
        guard params.Version == expected else {
            IoDisconnectInterruptEx(&box.parameters)
            throw .rig("IoConnectInterruptEx connected version \(params.Version), not \(expected): the device did not get \(interrupt.rawValue)")
        }
        return box
    }
}

/// What IoConnectInterruptEx wrote back, for IoDisconnectInterruptEx.
final class DisconnectBox {
    var parameters = IO_DISCONNECT_INTERRUPT_PARAMETERS()
}

/// The driver's device extension: where IoConnectInterruptEx writes its results.
final class EduDeviceExtension: Addressable, @unchecked Sendable {
    // @unchecked: written only by IoConnectInterruptEx on the calling thread and read
    // by that thread afterwards; the ISR never touches it.
    var IntObj: PKINTERRUPT = nil
    var ConnectionContext: PVOID = nil
}

/// edu's BAR0, mapped through the VFIO device for the shared C writer and ISR code.
final class EduRegisters: @unchecked Sendable {
    // @unchecked: `base` is immutable and points at device registers accessed only
    // with volatile 32-bit loads and stores (cbl_edu_acknowledge, the writer).
    let base: UnsafeMutableRawPointer
    let size: Int

    init(backend: VFIOBackend) throws(BenchError) {
        guard let vfio = backend.vfioDevice else { throw .rig("the VFIO device is closed") }
        let region: VFIO.RegionInfo
        do {
            region = try vfio.regionInfo(bar: 0)
        } catch {
            throw .rig("BAR0 region info: \(error)")
        }
        guard let mapped = cbl_map_region(vfio.descriptor.rawValue, region.offset, Int(region.size)) else {
            throw .rig("mmap BAR0 of \(vfio.name): errno \(errno)")
        }
        base = UnsafeMutableRawPointer(mutating: mapped)
        size = Int(region.size)
    }

    func unmap() { cbl_unmap_region(base, size) }
}
