import InterruptBridge
import InterruptBridgeCore
import InterruptBridgeDiscovery
import InterruptBridgeSystem
import InterruptBridgeTooling
import Logging
import Testing
#if canImport(Glibc)
import Glibc
#endif

enum ToolingRig {
    static let available = getenv("IRQBRIDGE_RIG") != nil && FileIO.exists(VFIO.containerPath)
    static let skipReason: Comment = "not inside the QEMU rig (needs IRQBRIDGE_RIG=1 and /dev/vfio/vfio): see scripts/rig/README.md"
}

/// The built-in profiles on the rig's real (emulated) devices under vfio-pci: each
/// vector the stimulus raises arrives on its own eventfd, the acknowledge claims
/// each raise once, and the kernel counted what the eventfds did.
///
/// scripts/rig/run.sh --devices edu,ivshmem-doorbell:4,e1000e -- env IRQBRIDGE_RIG=1 \
///     .build/debug/InterruptBridgePackageTests.xctest --testing-library swift-testing --filter ProfileRigTests
@Suite("Profiles in the QEMU rig", .serialized, .enabled(if: ToolingRig.available, ToolingRig.skipReason))
struct ProfileRigTests {
    static let rounds = getenv("IRQBRIDGE_RIG_COUNT").flatMap { Int(String(cString: $0)) } ?? 200
    static let logger: Logger = {
        var logger = Logger(label: "irqbridge.tooling-rig")
        logger.logLevel = .notice
        return logger
    }()

    /// Binds `address` to vfio-pci, finds its profile, checks it against the device.
    static func open(_ address: String, expecting name: String) throws -> (PCIDeviceInfo, DeviceProfile, VFIOBackend) {
        let address = try #require(PCIAddress(address))
        _ = try DeviceBinder(logger: logger).bind(address, to: .vfioPCI, force: true)
        let info = try #require(try PCIDiscovery(logger: logger).device(at: address))
        let profile = try #require(ProfileLibrary().profile(for: info))
        #expect(profile.name == name)
        try profile.validate(against: info)
        return (info, profile, try VFIOBackend(device: info, logger: logger))
    }

    /// mmap of one BAR region of a vfio-pci device (what the lead's wiring will do
    /// through InterruptBridgeSystem), unmapped when released.
    final class Mapping {
        let base: UnsafeMutableRawPointer
        let length: Int
        init(_ vfio: VFIODevice, bar: Int) throws {
            let region = try vfio.regionInfo(bar: bar)
            try #require(region.mappable, "BAR \(bar) cannot be mapped")
            guard let base = mmap(nil, Int(region.size), PROT_READ | PROT_WRITE, MAP_SHARED, vfio.descriptor.rawValue, off_t(region.offset)),
                  base != MAP_FAILED else { throw SystemError.errno("mmap BAR \(bar)") }
            self.base = base
            self.length = Int(region.size)
        }
        deinit { munmap(base, length) }
        var bars: MappedBARs { MappedBARs([MappedBARs.Mapping(bar: 0, base: base, length: length)], keepAlive: [self]) }
    }

    /// Raises every vector `rounds` times through the profile and checks delivery and claims.
    /// For INTx, `unmask` re-enables the line after the acknowledge; a line the
    /// acknowledge did not quiet would fire again at once, which the first rounds check.
    static func exercise<Registers: RegisterFile>(_ profile: DeviceProfile, on registers: Registers, sources: [InterruptSource],
                                                  handler: String, address: PCIAddress, unmask: (() throws -> Void)? = nil) throws {
        guard case .registers(let setupProgram, let raiseProgram) = try #require(profile.stimulus).method else {
            Issue.record("\(profile.name) has no register stimulus")
            return
        }
        let setup = try BoundRegisterProgram(setupProgram, on: registers)
        let raise = try BoundRegisterProgram(raiseProgram, on: registers)
        let acknowledge = try BoundRegisterProgram(try #require(profile.acknowledge), on: registers)
        let vectors = min(sources.count, profile.stimulus?.vectors ?? sources.count)
        let kernelBefore = try ProcInterruptsLine.total(in: ProcInterrupts.read(), matching: handler, address: address.description) ?? 0
        _ = setup.run()
        // Per vector: what its eventfd counted. A raise must arrive on its own vector
        // (a mis-mapped cause times out there, as IVAR with two entries swapped did).
        // Deliveries beyond one per raise are duplicates: the rig's e1000e sometimes
        // signals a vector twice (the kernel counts both); they are reported, and the
        // totals must still agree with the kernel's.
        var delivered = [UInt64](repeating: 0, count: sources.count)
        var claims = 0
        func drain() throws {
            for index in sources.indices { delivered[index] += try EventFD.read(sources[index].descriptor) ?? 0 }
        }
        for round in 0..<rounds {
            for vector in 0..<vectors {
                let before = delivered[vector]
                _ = raise.run(vector: UInt32(vector))
                guard try FileIO.waitReadable(sources[vector].descriptor, timeoutMilliseconds: 2000) else {
                    let elsewhere = try sources.indices.filter { try EventFD.read(sources[$0].descriptor) != nil }
                    Issue.record("\(profile.name) round \(round): vector \(vector) never arrived (arrived on \(elsewhere) instead)")
                    return
                }
                try drain()
                #expect(delivered[vector] > before)
                if acknowledge.run(vector: UInt32(vector)) { claims += 1 }
                if let unmask {
                    try unmask()
                    if round < 5 {
                        #expect(try !FileIO.waitReadable(sources[vector].descriptor, timeoutMilliseconds: 50),
                                "the line fired again after the acknowledge and unmask")
                    }
                }
            }
        }
        usleep(200_000) // late duplicates
        try drain()
        #expect(claims == rounds * vectors, "\(profile.name): every raise claimed once")
        for vector in 0..<vectors {
            #expect(delivered[vector] >= UInt64(rounds), "\(profile.name): vector \(vector) delivered \(delivered[vector]) of \(rounds)")
        }
        #expect(delivered[vectors...].allSatisfy { $0 == 0 }, "vectors the stimulus never raised stayed quiet")
        let kernel = try (ProcInterruptsLine.total(in: ProcInterrupts.read(), matching: handler, address: address.description) ?? 0) - kernelBefore
        let total = delivered.reduce(0, +)
        #expect(kernel == total, "\(profile.name): the kernel's \(handler) count agrees with the eventfds'")
        print("\(profile.name): \(rounds * vectors) raises over \(vectors) vectors, \(claims) claimed, delivered per vector \(delivered) "
              + "(\(total - UInt64(rounds * vectors)) duplicates), kernel counted \(kernel)")
    }

    @Test func e1000eRaisesEachMSIXVectorThroughItsCauseRegisters() throws {
        let (info, profile, backend) = try Self.open("0000:00:07.0", expecting: "e1000e")
        defer { backend.close() }
        #expect(backend.supportedInterrupts[.msix] == 5)
        let sources = try backend.enableInterrupts(.msix, count: 5)
        let mapping = try Mapping(try #require(backend.vfioDevice), bar: 0)
        try Self.exercise(profile, on: mapping.bars, sources: sources, handler: "vfio-msix[", address: info.address)
        // Nothing is left pending: a second acknowledge of any vector finds nothing.
        let acknowledge = try BoundRegisterProgram(try #require(profile.acknowledge), on: mapping.bars)
        for vector: UInt32 in 0..<5 { #expect(acknowledge.run(vector: vector) == false) }
    }

    @Test func eduMSIThroughTheProfile() throws {
        let (info, profile, backend) = try Self.open("0000:00:03.0", expecting: "edu")
        defer { backend.close() }
        let sources = try backend.enableInterrupts(.msi, count: 1)
        let mapping = try Mapping(try #require(backend.vfioDevice), bar: 0)
        _ = try BoundRegisterProgram(try #require(profile.quiesce), on: mapping.bars).run()
        try Self.exercise(profile, on: mapping.bars, sources: sources, handler: "vfio-msi[", address: info.address)
    }

    @Test func eduINTxIsQuietedByTheAcknowledge() throws {
        let (info, profile, backend) = try Self.open("0000:00:03.0", expecting: "edu")
        defer { backend.close() }
        let source = try #require(try backend.enableInterrupts(.intx, count: 1).first)
        let unmask = try #require(source.unmask)
        let mapping = try Mapping(try #require(backend.vfioDevice), bar: 0)
        let bars = mapping.bars
        _ = try BoundRegisterProgram(try #require(profile.quiesce), on: bars).run()
        try Self.exercise(profile, on: bars, sources: [source], handler: "vfio-intx", address: info.address, unmask: { try unmask.unmask() })

        // The control: unmasking without the acknowledge, the level line fires again at once.
        _ = try BoundRegisterProgram(try Self.registers(profile).raise, on: bars).run()
        #expect(try FileIO.waitReadable(source.descriptor, timeoutMilliseconds: 2000))
        _ = try EventFD.read(source.descriptor)
        try unmask.unmask()
        #expect(try FileIO.waitReadable(source.descriptor, timeoutMilliseconds: 2000), "an unacknowledged INTx refires after unmask")
        _ = try EventFD.read(source.descriptor)
        #expect(try BoundRegisterProgram(try #require(profile.acknowledge), on: bars).run() == true)
        try unmask.unmask()
    }

    static func registers(_ profile: DeviceProfile) throws -> (setup: RegisterProgram, raise: RegisterProgram) {
        guard case .registers(let setup, let raise) = try #require(profile.stimulus).method else {
            throw ProfileError(.badValue, at: profile.location, "\(profile.name) has no register stimulus")
        }
        return (setup, raise)
    }

    @Test func ivshmemDoorbellThroughRegionAccess() throws {
        let (info, profile, backend) = try Self.open("0000:00:05.0", expecting: "ivshmem-doorbell")
        defer { backend.close() }
        // BAR 0 can be mapped here too; this case proves the pread/pwrite register file.
        let vfio = try #require(backend.vfioDevice)
        let vectors = try #require(backend.supportedInterrupts[.msix])
        let sources = try backend.enableInterrupts(.msix, count: vectors)
        let registers = try VFIORegionRegisters(vfio)
        try registers.checked {
            #expect(throws: Never.self) {
                try Self.exercise(profile, on: registers, sources: sources, handler: "vfio-msix[", address: info.address)
            }
        }
    }
}
