// A device held by a bring-up verb or the daemon: its backend, its profile, how to
// raise its interrupts, the ISR's acknowledge; and what connecting it connected.
import Foundation
public import InterruptBridge
public import InterruptBridgeCore
public import InterruptBridgeDiscovery
import InterruptBridgeSystem
public import Logging

/// Why a device cannot be opened or connected: the caller's input (a device that
/// does not exist or is on the wrong driver, a bad profile, an INTx line without
/// an acknowledge program) or a failure of the system underneath.
public enum DeviceSessionError: Error, Sendable, CustomStringConvertible {
    case badInput(String)
    case failed(String)

    public var description: String {
        switch self {
        case .badInput(let message), .failed(let message): message
        }
    }
}

private func wrap<T>(_ body: () throws(ProfileError) -> T) throws(DeviceSessionError) -> T {
    do { return try body() } catch { throw .badInput("\(error)") }
}

/// A device opened (and its interrupts not yet connected).
public struct DeviceSession: Sendable {
    /// Whose next step a refusal names: the command line's (`irqbridge bind`, `--profile
    /// FILE`), a command's that can also raise through VFIO's loopback alone (`trigger
    /// --loopback`), or the daemon's (`irqbridge ctl bind`, a device entry's `profile:`).
    public enum Advice: Sendable {
        case commandLine, commandLineWithLoopback, daemon
        /// `profile check FILE --device BDF`: the profile to mend is the one being checked.
        case profileCheck
    }

    /// An address that names no function here (or in `dump`), and where to see the ones there are.
    public static func noDevice(_ address: PCIAddress, inDump dump: String? = nil, advice: Advice = .commandLine) -> String {
        if let dump { return "no PCI device \(address) in dump \(dump) (irqbridge list --dump \(dump) lists its functions)" }
        switch advice {
        case .commandLine, .commandLineWithLoopback, .profileCheck: return "no PCI device \(address) (irqbridge list shows the functions there are)"
        case .daemon: return "no PCI device \(address)"  // the daemon reports the card absent
        }
    }

    /// Why a function on neither vfio-pci nor uio_pci_generic cannot be opened, and the
    /// next step: bind it (with `needed`'s `--driver` when that is not the default), or,
    /// for a bridge the system runs on, that bind refuses it.
    public static func notOnAUserSpaceDriver(_ info: PCIDeviceInfo, needed: UserSpaceDriver? = nil, advice: Advice = .commandLine) -> String {
        let address = info.address
        let wanted = needed?.rawValue ?? "vfio-pci or uio_pci_generic"
        let current = "\(address) is bound to \(info.driver ?? "no driver"), not \(wanted)"
        if let kind = DeviceBinder.systemBridge(info.classCode) {
            return "\(address) is \(DeviceBinder.withArticle(kind)) the system runs on (\(info.driver ?? "no driver")): bind refuses it, and it is not a device to test"
        }
        let driver = needed == .uioPCIGeneric ? " --driver uio_pci_generic" : ""
        return current + ": " + (advice == .daemon ? "irqbridge ctl bind \(address)\(driver) first" : "irqbridge bind \(address)\(driver) first")
    }

    public let info: PCIDeviceInfo
    public let profile: DeviceProfile?
    public let backend: any InterruptBackend
    /// How to raise its interrupts (a profile's registers, or VFIO's loopback); nil
    /// under UIO without a register stimulus. Its `acknowledge` is the ISR's, except
    /// under UIO with `routines` (see `acknowledge`).
    public let stimulus: SelftestStimulus?
    public let close: @Sendable () -> Void
    /// Opened `loopbackOnly` (the caller chose VFIO's loopback trigger): the ISR claims
    /// without touching the device, so an INTx line may be connected with no acknowledge
    /// program, as `selftest --loopback` connects it. Should the device assert the line
    /// itself meanwhile, that ISR claims it at every unmask without quieting it, which the
    /// storm rules do not catch (see `KernelInterruptCounts.unquietedLineNote`); the
    /// connection lasts as long as the caller's raising.
    public private(set) var loopbackOnly = false
    /// Whose next step its refusals name.
    public private(set) var advice = Advice.commandLine
    /// The profile's acknowledge and quiesce when there is no stimulus to carry them (UIO
    /// without a register stimulus).
    private(set) var routines: SelftestStimulus.Routines?
    /// Releases the device from this session's BAR mappings (VFIO: `BARMappings.detachAll`).
    private(set) var detachRegisters: @Sendable () -> Void = {}

    /// Where the holder of `address` listens for trigger requests.
    public static func triggerSocket(_ address: PCIAddress) -> String { "/run/irqbridge/\(address).trigger" }

    /// `requiringAMatch`: the device is the only one the command runs on, so profile files
    /// given for it that are all for other devices are a mistake (`givenProfilesRefusal`),
    /// not a quiet fall-back to the built-ins.
    public static func open(_ address: PCIAddress, profileFiles: [String], loopbackOnly: Bool = false, requiringAMatch: Bool = false,
                            advice: Advice = .commandLine, logger: Logger) throws(DeviceSessionError) -> DeviceSession {
        try open(address, library: try wrap { () throws(ProfileError) in try ProfileLibrary(files: profileFiles) },
                 loopbackOnly: loopbackOnly, requiringAMatch: requiringAMatch, advice: advice, logger: logger)
    }

    /// What a command told to use `files` for one device is told when none of them is for
    /// it (nil: one is, or none was given).
    public static func givenProfilesRefusal(_ files: [String], for info: PCIDeviceInfo) throws(DeviceSessionError) -> String? {
        givenProfilesRefusal(try wrap { () throws(ProfileError) in try ProfileLibrary(files: files) }, for: info)
    }

    /// The same for a library's own profiles, the user's (nil: one is for the device, or
    /// the user gave none).
    public static func givenProfilesRefusal(_ library: ProfileLibrary, for info: PCIDeviceInfo) -> String? {
        let given = library.userProfiles
        guard !given.isEmpty, !given.contains(where: { $0.match.matches(info) }) else { return nil }
        let whose = given.map { "\($0.file) is for \($0.match.summary)" }.joined(separator: "; ")
        return "--profile: no profile given is for \(DeviceProfile.describe(info)): \(whose)"
    }

    /// Opens `address` with the profile `library` matches to it (or `profile`, when given).
    /// `loopbackOnly`: raise through VFIO's loopback trigger even when the profile has a
    /// register stimulus (the ISR then claims without touching the device, as for a device
    /// without a profile); refused under UIO. `requiringAMatch`: the device is the only one
    /// the command runs on, so the user's profiles in `library` all being for other devices
    /// is a mistake (`givenProfilesRefusal`), not a quiet fall-back to the built-ins.
    public static func open(_ address: PCIAddress, library: ProfileLibrary, profile chosen: DeviceProfile? = nil,
                            loopbackOnly: Bool = false, requiringAMatch: Bool = false, advice: Advice = .commandLine,
                            logger: Logger) throws(DeviceSessionError) -> DeviceSession {
        do {
            guard let info = try PCIDiscovery(logger: logger).device(at: address) else { throw DeviceSessionError.badInput(noDevice(address, advice: advice)) }
            if requiringAMatch, let refusal = givenProfilesRefusal(library, for: info) { throw DeviceSessionError.badInput(refusal) }
            if let unreadable = unreadableCapabilities(info) { throw DeviceSessionError.failed(unreadable) }
            let profile = chosen ?? library.profile(for: info)
            try checkBeforeOpening(info, profile: profile)
            switch info.driver {
            case "vfio-pci":
                if let notViable = groupNotViable(info) { throw DeviceSessionError.badInput(notViable) }
                let backend = try VFIOBackend(device: info, logger: logger)
                do {
                    guard let vfio = backend.vfioDevice else { throw BackendError.closed }
                    let stimulus: SelftestStimulus
                    // One region register file (I/O ports, unmappable BARs) for the stimulus and
                    // the ISR alike, detached with the mappings when the session lets go.
                    var region: VFIORegionRegisters?
                    if !loopbackOnly, let profile, case .registers = profile.stimulus?.method {
                        region = try VFIORegionRegisters.needed(for: profile, on: vfio)
                        stimulus = try .registers(profile, vfio: vfio, region: region)
                    } else if !loopbackOnly, let profile, profile.hasRoutines {
                        // Raised through the loopback, acknowledged as the profile says.
                        region = try VFIORegionRegisters.needed(for: profile, on: vfio)
                        stimulus = .vfioLoopback(backend, routines: try SelftestStimulus.routines(profile, vfio: vfio, region: region))
                    } else {
                        stimulus = .vfioLoopback(backend)
                    }
                    // Closing lets the gate forget the quiesce (and the register files it holds).
                    return DeviceSession(info: info, profile: profile, backend: backend, stimulus: stimulus.gated(by: backend.removalGate),
                                         close: { backend.removalGate?.onRelease(quiesce: nil); backend.close() },
                                         loopbackOnly: loopbackOnly, advice: advice,
                                         // The mappings and the region file, not the device: holding the
                                         // device would keep it open.
                                         detachRegisters: { [mappings = vfio.barMappings, region] in
                                             mappings.detachAll()
                                             region?.detach()
                                         })
                } catch {
                    backend.close()
                    throw error
                }
            case "uio_pci_generic":
                if loopbackOnly { throw DeviceSessionError.badInput("\(address) is on uio_pci_generic, which has no loopback trigger (it is VFIO's)") }
                var stimulus: SelftestStimulus?
                var routines: SelftestStimulus.Routines?
                if let profile, case .registers = profile.stimulus?.method {
                    stimulus = try .registers(profile, on: try SysfsRegisters(info, bars: profile.barsUsed))
                } else if let profile, profile.hasRoutines {
                    // Nothing to raise it with, but the ISR acknowledges as the profile says.
                    routines = try SelftestStimulus.routines(profile, on: try SysfsRegisters(info, bars: profile.barsUsed))
                }
                let backend = try UIOBackend(device: info, logger: logger)
                // Raises pass the gate, which masks the line when the card goes (`UIOBackend.removalGate`);
                // the profile's quiesce is not the gate's: by then the kernel may have taken the BAR
                // mappings away, and touching them is SIGBUS.
                let gated = stimulus?.gated(by: backend.removalGate)
                backend.removalGate?.onRelease(quiesce: nil)
                return DeviceSession(info: info, profile: profile, backend: backend, stimulus: gated, close: { backend.close() },
                                     advice: advice, routines: routines)
            default:
                throw DeviceSessionError.badInput(notOnAUserSpaceDriver(info, advice: advice))
            }
        } catch let failure as DeviceSessionError {
            throw failure
        } catch let error as ProfileError {
            throw .badInput("\(error)")
        } catch let error as BackendError {
            if case .system(let system) = error, system.code == EBUSY { throw .badInput(inUse(address, system, loopback: loopbackOnly)) }
            throw .failed("\(error)")
        } catch let error as SystemError where error.code == EBUSY {
            throw .badInput(inUse(address, error, loopback: loopbackOnly))
        } catch {
            throw .failed("\(error)")
        }
    }

    /// A device another process has open (a VFIO device has one user): who, when it is
    /// one of ours.
    /// `loopback`: the caller raises through VFIO's loopback trigger, which a holder never
    /// relays, so it is not pointed at `irqbridge trigger`.
    public static func inUse(_ address: PCIAddress, _ error: any Error, loopback: Bool = false) -> String {
        if FileManager.default.fileExists(atPath: triggerSocket(address)) {
            if loopback {
                return "\(address) is held by an irqbridge wait or watch, and --loopback raises through the device itself, which "
                    + "only its holder has open: drop --loopback to have that process raise with its stimulus, or stop it"
            }
            return "\(address) is in use by another process: an irqbridge wait or watch holds it (irqbridge trigger \(address) reaches it)"
        }
        return "\(address) is in use by another process (\(error))"
    }

    /// What a command that opens the device is told when only its 64-byte header was
    /// readable (no root): what it would connect is not known (nil: it was read whole).
    public static func unreadableCapabilities(_ info: PCIDeviceInfo) -> String? {
        guard info.capabilitiesUnreadable else { return nil }
        return "\(info.address): only the 64-byte header of its config space is readable (the kernel shows no more without root), "
            + "so its MSI and MSI-X are not known: run as root"
    }

    /// What `open` refuses before it opens anything: a function with no interrupt at all,
    /// then a profile that does not fit it. In that order: a built-in profile is chosen by
    /// ids alone, and a function with no interrupt that shares a card's ids (ivshmem-plain,
    /// 1af4:1110 as ivshmem-doorbell is) was told what that built-in's stimulus raises,
    /// with the built-in's file and line, instead of that it has nothing to raise.
    public static func checkBeforeOpening(_ info: PCIDeviceInfo, profile: DeviceProfile?) throws(DeviceSessionError) {
        if let nothing = noInterrupts(info) { throw .badInput(nothing) }
        do { try profile?.validate(against: info) } catch { throw .badInput("\(error)") }
    }

    /// Why a device on vfio-pci cannot be opened because another member of its IOMMU group
    /// is on a kernel driver (nil: the group is fine, or cannot be read). The user's to fix
    /// (bind or unbind that member), as a device on the wrong driver is: bad input, not a
    /// failure while running.
    public static func groupNotViable(_ info: PCIDeviceInfo) -> String? {
        let address = info.address.description, sysfs = SysfsPCI()
        guard let group = info.iommuGroup ?? sysfs.iommuGroup(of: address) else { return nil }
        let blockers = VFIOGroup.blockers(ofGroup: group, sysfs: sysfs)
        return blockers.isEmpty ? nil : VFIOGroup.NotViable(group: group, blockers: blockers).refusal(opening: address)
    }

    /// What a device with no interrupt at all is told: no INTx pin, no MSI, no MSI-X.
    public static func noInterrupts(_ info: PCIDeviceInfo) -> String? {
        guard info.interruptPin == nil, info.msi == nil, info.msix == nil else { return nil }
        return "\(info.address) has no interrupts: no INTx pin, no MSI or MSI-X capability"
    }

    /// The ISR's acknowledge: the profile's program, or (message-signaled only) a claim.
    public var acknowledge: @Sendable (Int) -> Bool {
        if let routines { return routines.acknowledge }
        if profile?.acknowledge != nil || backend is SimulatedBackend, let stimulus { return stimulus.acknowledge }
        return { _ in true }
    }

    /// Connects the ISR: message-based, falling back to line-based (or line-based
    /// only). A line needs the profile's acknowledge program: refused without one,
    /// unless the session raises only through VFIO's loopback (`loopbackOnly`).
    /// `policy`: the INF-style settings and storm rules to connect under (its
    /// `msiSupported` is cleared when connecting line-based or under UIO).
    public func connect(_ dispatcher: InterruptDispatcher, lineBased: Bool,
                        policy base: InterruptPolicy = InterruptPolicy()) throws(DeviceSessionError) -> ConnectedInterrupts {
        // Messages turned off by the policy (MSISupported: false) leave the line, as asking for it does.
        let servesLine = lineBased || !base.msiSupported
        if let refusal = Self.connectRefusal(info, profile: profile, lineBased: servesLine, underUIO: backend is UIOBackend,
                                             claimsWithoutAcknowledge: loopbackOnly || backend is SimulatedBackend, advice: advice) {
            throw .badInput(refusal)
        }
        var policy = base
        if servesLine || backend is UIOBackend { policy.msiSupported = false }
        let device = InterruptDevice(backend: backend, policy: policy)
        let acknowledge = self.acknowledge
        if let routines { routines.quiesce() } else { stimulus?.quiesce() }
        do {
            switch try dispatcher.connectMessageBased(device: device, messageRoutine: { _, message in acknowledge(Int(message)) },
                                                      fallbackRoutine: { _ in acknowledge(0) }) {
            case .messages(let table):
                return ConnectedInterrupts(objects: table.interruptObjects) { dispatcher.disconnect(table) }
            case .line(let object):
                return ConnectedInterrupts(objects: [object]) { dispatcher.disconnect(object) }
            }
        } catch {
            throw .failed("connecting the interrupts of \(info.displayName ?? info.address.description) failed: \(error)")
        }
    }

    /// Runs the profile's quiesce program (clears what the device has pending, as before
    /// connecting): for a device about to be let go, so a cause left pending (a raise
    /// that landed after its messages were disabled) does not assert its INTx line, which
    /// another card may share, with no handler left to clear it. Nothing without a program.
    ///
    /// Only while the function is still on the driver the session opened it through (`sysfs`):
    /// a UIO function pulled from the bus has its BAR mappings taken away (touching them is
    /// SIGBUS) and tells nobody, and one rebound meanwhile is another driver's. A VFIO
    /// function the kernel asked back is still on vfio-pci until the session lets it go.
    public func quiesce() { quiesce(sysfs: SysfsPCI()) }

    /// Lets the device go while the process goes on with others (a watch of several, one of
    /// them removed or unbound): quiesces it while it is still on its driver, releases it from
    /// the session's register mappings, which vfio-pci's unbind waits for (an access that
    /// still comes then reads 0), and closes it. Its interrupts must be disconnected first.
    public func letGo() {
        quiesce()
        detachRegisters()
        close()
    }

    /// `quiesce()` judged against `sysfs` (a test's tree).
    func quiesce(sysfs: SysfsPCI) {
        guard let driver = info.driver, sysfs.driver(of: info.address.description) == driver else { return }
        if let stimulus { stimulus.quiesce() } else { routines?.quiesce() }
    }

    /// A simulated function (its interrupts raised by `SimulatedBackend.raise`, its
    /// line acknowledged by the ISR as edu's is).
    public static func simulated(_ backend: SimulatedBackend) -> DeviceSession {
        DeviceSession(info: backend.device, profile: nil, backend: backend, stimulus: SelftestStimulus.simulated(backend).gated(by: backend.removalGate),
                      close: { [weak backend] in backend?.removalGate?.onRelease(quiesce: nil) })
    }

    /// How many times the backend re-enabled the INTx line (nil: not counted).
    public var unmaskCount: (@Sendable () -> UInt64)? {
        if let vfio = backend as? VFIOBackend { return { vfio.unmaskCount } }
        if let uio = backend as? UIOBackend { return { uio.unmaskCount } }
        return nil
    }

    /// The IRQ of a device served through uio_pci_generic (whose /proc/interrupts line is
    /// named by its driver, not the device), nil under VFIO.
    public var uioIRQ: UInt32? { (backend as? UIOBackend)?.device.irqLine }

    /// Why the kernel's count of this device's INTx line is not its own (the line is
    /// shared), or nil; read while the line is connected.
    public func sharedLineNote() -> String? {
        (try? ProcInterrupts.read()).flatMap { KernelInterruptCounts.sharedLineNote(address: info.address, uioIRQ: uioIRQ, in: $0) }
    }

    /// The kernel's running count of `kind` for this device (nil: none to read).
    public func kernelCount(_ kind: InterruptKind) -> (@Sendable () -> UInt64?)? {
        if backend is UIOBackend { return info.irqLine.map { SelftestCase.irqKernelCount($0) } }
        return SelftestCase.vfioKernelCount(kind, info.address)
    }

    /// Why `connect` would refuse `info` with `profile`, known before the device is bound or
    /// opened (the daemon asks before taking a card from its driver), or nil: no interrupts
    /// at all, or an INTx line to serve (line-based asked, no messages, or UIO) with no
    /// acknowledge program. `claimsWithoutAcknowledge`: the ISR may claim blindly (VFIO's
    /// loopback only, or a simulated device).
    public static func connectRefusal(_ info: PCIDeviceInfo, profile: DeviceProfile?, lineBased: Bool, underUIO: Bool,
                                      claimsWithoutAcknowledge: Bool = false, advice: Advice = .commandLine) -> String? {
        if let nothing = noInterrupts(info) { return nothing }
        if underUIO || lineBased, let noLine = noLine(info, underUIO: underUIO, advice: advice) { return noLine }
        let hasMessages = info.msi != nil || info.msix != nil
        let servesLine = claimsWithoutAcknowledge || (profile?.canServe(.intx) ?? false)
        return (lineBased || !hasMessages || underUIO) && !servesLine ? intxRefusal(info, profile, underUIO: underUIO, advice: advice) : nil
    }

    /// What a device with messages but no INTx pin is told when its line is asked for:
    /// under uio_pci_generic, which serves INTx only, or with --line-based (nil: it has a pin).
    public static func noLine(_ info: PCIDeviceInfo, underUIO: Bool, advice: Advice = .commandLine) -> String? {
        guard info.interruptPin == nil else { return nil }
        let messages = info.msix.map { "MSI-X (\($0.tableSize) vectors)" } ?? info.msi.map { "MSI (\($0.messagesCapable))" } ?? "messages"
        guard underUIO else { return "\(info.address) has no INTx pin, so there is no line to connect: it interrupts by \(messages)" }
        let rebind = advice == .daemon ? "the device entry's driver: vfio-pci" : "irqbridge bind \(info.address) --driver vfio-pci"
        return "\(info.address) has no INTx pin, and uio_pci_generic serves INTx only: its \(messages) needs vfio-pci (\(rebind))"
    }

    /// `underUIO`: no loopback trigger to offer instead (uio_pci_generic has none).
    public static func intxRefusal(_ info: PCIDeviceInfo, _ profile: DeviceProfile?, underUIO: Bool = false,
                                   advice: Advice = .commandLine) -> String {
        "\(info.address) would be served on its INTx line, and "
            + (profile.map { "its profile '\($0.name)' (\($0.file)) has" } ?? "no profile matches it, so there is")
            + " no acknowledge program: a level-triggered line the ISR does not quiet either fires again at every unmask (a storm) "
            + "or stays masked; "
            + (advice == .profileCheck ? "add an `acknowledge` program to the profile (irqbridge profile show edu has one to start from)"
               : "write a profile with an `acknowledge` program " + (advice == .daemon ? "(the device entry's profile: FILE)" : "(--profile FILE)"))
            + (advice == .commandLineWithLoopback && !underUIO
                ? ", or raise through VFIO's loopback trigger alone (--loopback), whose ISR claims without touching the device" : "")
    }
}

/// What `DeviceSession.connect` connected.
public struct ConnectedInterrupts: Sendable {
    /// One per message (one for a line), in message order.
    public let objects: [InterruptObject]
    public let disconnect: @Sendable () -> Void

    /// True once the runtime disconnected every object: the device was removed, or unbound
    /// by another command (VFIO's device request), and nothing more can arrive.
    public var wereDisconnected: Bool { !objects.contains(where: \.isConnected) }

    /// Why `--vector vector` names none of them (nil: it names one): the range there is.
    public func vectorRefusal(_ vector: Int, of address: PCIAddress) -> String? {
        guard !objects.indices.contains(vector) else { return nil }
        let range = objects.count == 1 ? "only vector 0" : "vectors 0 to \(objects.count - 1)"
        return "--vector \(vector): \(address) has \(range) connected (\(summary))"
    }

    /// "MSI-X, 5 messages, DIRQL 5...9" style summary.
    public var summary: String {
        guard let first = objects.first else { return "nothing connected" }
        let levels = objects.map(\.irql.rawValue)
        let range = levels.min() == levels.max() ? "\(levels[0])" : "\(levels.min()!)...\(levels.max()!)"
        return "\(first.kind), \(objects.count) \(objects.count == 1 ? "vector" : "vectors"), DIRQL \(range)"
    }
}

