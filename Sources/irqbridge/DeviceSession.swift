// A device held by one of the bring-up verbs (wait, trigger): its backend, its
// profile, how to raise its interrupts, the ISR's acknowledge, and the socket on
// which `irqbridge trigger` asks the holder to raise them.
import ArgumentParser
import InterruptBridge
import InterruptBridgeCore
import InterruptBridgeDiscovery
import InterruptBridgeSystem
import InterruptBridgeTooling
import Logging

/// --profile, shared by the bring-up verbs.
struct ProfileOptions: ParsableArguments {
    @Option(help: ArgumentHelp("A device profile (YAML or JSON), preferred to the built-in ones; repeatable.", valueName: "FILE"),
            completion: .file(extensions: ["yaml", "yml", "json"]))
    var profile: [String] = []
}

/// A device opened (and its interrupts not yet connected).
struct DeviceSession {
    let info: PCIDeviceInfo
    let profile: DeviceProfile?
    let backend: any InterruptBackend
    /// How to raise its interrupts (a profile's registers, or VFIO's loopback); nil
    /// under UIO without a register stimulus. Its `acknowledge` is the ISR's.
    let stimulus: SelftestStimulus?
    let close: @Sendable () -> Void

    /// Where the holder of `address` listens for trigger requests.
    static func triggerSocket(_ address: PCIAddress) -> String { "/run/irqbridge/\(address).trigger" }

    static func open(_ address: PCIAddress, profileFiles: [String], logger: Logger) throws(CommandFailure) -> DeviceSession {
        do {
            let library = try ProfileLibrary(files: profileFiles)
            guard let info = try PCIDiscovery(logger: logger).device(at: address) else { throw CommandFailure.badInput("no PCI device \(address)") }
            let profile = library.profile(for: info)
            try profile?.validate(against: info)
            switch info.driver {
            case "vfio-pci":
                let backend = try VFIOBackend(device: info, logger: logger)
                do {
                    guard let vfio = backend.vfioDevice else { throw BackendError.closed }
                    let stimulus: SelftestStimulus
                    if let profile, case .registers = profile.stimulus?.method {
                        stimulus = try .registers(profile, vfio: vfio)
                    } else {
                        stimulus = .vfioLoopback(backend)
                    }
                    return DeviceSession(info: info, profile: profile, backend: backend, stimulus: stimulus, close: { backend.close() })
                } catch {
                    backend.close()
                    throw error
                }
            case "uio_pci_generic":
                var stimulus: SelftestStimulus?
                if let profile, case .registers = profile.stimulus?.method {
                    stimulus = try .registers(profile, on: try MappedBARs.sysfs(address.description, bars: profile.barsUsed))
                }
                let backend = try UIOBackend(device: info, logger: logger)
                return DeviceSession(info: info, profile: profile, backend: backend, stimulus: stimulus, close: { backend.close() })
            default:
                throw CommandFailure.badInput("\(address) is bound to \(info.driver ?? "no driver"), not vfio-pci or uio_pci_generic: "
                                              + "irqbridge bind \(address) first")
            }
        } catch let failure as CommandFailure {
            throw failure
        } catch let error as ProfileError {
            throw .badInput("\(error)")
        } catch {
            throw .failed("\(error)")
        }
    }

    /// The ISR's acknowledge: the profile's program, or (message-signaled only) a claim.
    var acknowledge: @Sendable (Int) -> Bool {
        if profile?.acknowledge != nil, let stimulus { return stimulus.acknowledge }
        return { _ in true }
    }

    /// Connects the ISR: message-based, falling back to line-based (or line-based
    /// only). A line needs the profile's acknowledge program: refused without one.
    func connect(_ dispatcher: InterruptDispatcher, lineBased: Bool) throws(CommandFailure) -> ConnectedInterrupts {
        let hasMessages = info.msi != nil || info.msix != nil
        let servesLine = profile?.canServe(.intx) ?? false
        if (lineBased || !hasMessages || backend is UIOBackend), !servesLine {
            throw .badInput(Self.intxRefusal(info, profile))
        }
        let policy = lineBased || backend is UIOBackend ? InterruptPolicy(msiSupported: false) : InterruptPolicy()
        let device = InterruptDevice(backend: backend, policy: policy)
        let acknowledge = self.acknowledge
        stimulus?.quiesce()
        do {
            switch try dispatcher.connectMessageBased(device: device, messageRoutine: { _, message in acknowledge(Int(message)) },
                                                      fallbackRoutine: { _ in acknowledge(0) }) {
            case .messages(let table):
                return ConnectedInterrupts(objects: table.interruptObjects) { dispatcher.disconnect(table) }
            case .line(let object):
                return ConnectedInterrupts(objects: [object]) { dispatcher.disconnect(object) }
            }
        } catch {
            throw .failed("connecting \(info.address)'s interrupts failed: \(error)")
        }
    }

    /// How many times the backend re-enabled the INTx line (nil: not counted).
    var unmaskCount: (@Sendable () -> UInt64)? {
        if let vfio = backend as? VFIOBackend { return { vfio.unmaskCount } }
        if let uio = backend as? UIOBackend { return { uio.unmaskCount } }
        return nil
    }

    /// The kernel's running count of `kind` for this device (nil: none to read).
    func kernelCount(_ kind: InterruptKind) -> (@Sendable () -> UInt64?)? {
        if backend is UIOBackend { return info.irqLine.map { SelftestCase.irqKernelCount($0) } }
        return SelftestCase.vfioKernelCount(kind, info.address)
    }

    static func intxRefusal(_ info: PCIDeviceInfo, _ profile: DeviceProfile?) -> String {
        "\(info.address) would be served on its INTx line, and "
            + (profile.map { "its profile '\($0.name)' (\($0.file)) has" } ?? "no profile matches it, so there is")
            + " no acknowledge program: a level-triggered line the ISR does not quiet either fires again at every unmask (a storm) "
            + "or stays masked; write a profile with an `acknowledge` program (--profile FILE)"
    }
}

/// What `DeviceSession.connect` connected.
struct ConnectedInterrupts {
    /// One per message (one for a line), in message order.
    let objects: [InterruptObject]
    let disconnect: () -> Void

    /// "MSI-X, 5 messages, DIRQL 5...9" style summary.
    var summary: String {
        guard let first = objects.first else { return "nothing connected" }
        let levels = objects.map(\.irql.rawValue)
        let range = levels.min() == levels.max() ? "\(levels[0])" : "\(levels.min()!)...\(levels.max()!)"
        return "\(first.kind), \(objects.count) \(objects.count == 1 ? "vector" : "vectors"), DIRQL \(range)"
    }
}

/// One request on the trigger socket: "raise VECTOR COUNT RATE" (VECTOR -1: every
/// vector in turn; RATE 0: as fast as the interrupts are served).
struct TriggerRequest: Equatable {
    var vector: Int?
    var count: Int
    var rate: Double?

    var encoded: [UInt8] { Array("raise \(vector ?? -1) \(count) \(rate ?? 0)".utf8) }

    init(vector: Int?, count: Int, rate: Double?) {
        self.vector = vector
        self.count = count
        self.rate = rate
    }

    init?(_ bytes: [UInt8]) {
        let words = String(decoding: bytes, as: UTF8.self).split(separator: " ")
        guard words.count == 4, words[0] == "raise", let vector = Int(words[1]), let count = Int(words[2]), let rate = Double(words[3]),
              vector >= -1, (1...1_000_000).contains(count), rate >= 0 else { return nil }
        self.vector = vector < 0 ? nil : vector
        self.count = count
        self.rate = rate == 0 ? nil : rate
    }
}
