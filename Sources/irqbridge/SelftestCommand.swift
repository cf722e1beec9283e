import ArgumentParser
import InterruptBridge
import InterruptBridgeTooling
import InterruptBridgeDiscovery
import InterruptBridgeSystem
import InterruptBridgeCore
import Logging
import Glibc

/// `irqbridge selftest [--device BDF] [--backend vfio|uio|simulated] [--count N]`.
struct SelftestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "selftest",
        abstract: "Connect an ISR to a device, make it interrupt, and check every interrupt arrives.",
        discussion: """
            For each interrupt kind the device has (INTx, MSI, MSI-X) the test connects an ISR \
            through IoConnectInterruptEx (CONNECT_LINE_BASED, CONNECT_MESSAGE_BASED), \
            makes the device interrupt --count times, one at a time, and checks that every interrupt reached the ISR with the right \
            message number and that the kernel's count in /proc/interrupts agrees (not compared on an \
            INTx line the device shares with others, which the kernel counts as one). One line per \
            case, then `N passed, N failed`; exit status 1 when any case failed. Each line has the \
            stimulus-to-ISR latency (p50/p99/max, measured by the dispatch loop from just before \
            each raise to the ISR call) and the ISR's duration, per vector when there are several; \
            --json prints the same as one JSON object per case.
            The device's profile (a --profile file, else a built-in: edu, ivshmem-doorbell, \
            e1000e, nvme, pci-serial) says how to make it interrupt and how the ISR acknowledges; a kind \
            the profile does not raise, and any MSI/MSI-X device without a profile, is raised \
            through VFIO's loopback trigger (the interrupt then does not come from the device, \
            and the kernel's IRQ handler does not count it). UIO has no loopback trigger.
            Without --device the simulated backend is used, which runs anywhere.
            """
    )

    enum Backend: String, CaseIterable {
        case vfio, uio, simulated
    }

    @Option(help: "The PCI device to test (e.g. 0000:00:03.0), bound to vfio-pci or uio_pci_generic.")
    var device: String?

    @Option(help: "vfio, uio or simulated (default: from the device's driver; simulated without --device).")
    var backend: String?

    @Option(parsing: .unconditional, help: "Interrupts per case.")
    var count = 2000

    @Option(help: "Only these kinds, comma-separated: intx, msi, msix.")
    var kinds: String?

    @OptionGroup var profiles: ProfileOptions

    @Flag(help: "Raise every interrupt through VFIO's loopback trigger, even when the profile has a register stimulus.")
    var loopback = false

    @Flag(help: "One JSON object per case (with per-vector stimulus-to-ISR and ISR p50/p99/max), then the totals, one per line.")
    var json = false

    @OptionGroup var logging: DeviceLoggingOptions

    func validate() throws {
        if let device, PCIAddress(device) == nil {
            throw CommandFailure.notAPCIAddress(device)
        }
        if let backend, Backend(rawValue: backend) == nil {
            throw CommandFailure.badInput("unknown backend '\(backend)' (expected vfio, uio or simulated)")
        }
        if backend != nil, backend != Backend.simulated.rawValue, device == nil {
            throw CommandFailure.badInput("--backend \(backend!) needs --device")
        }
        if backend == Backend.simulated.rawValue, let device {
            throw CommandFailure.badInput("--backend simulated tests the built-in simulated device, not \(device): leave out --device or --backend")
        }
        if loopback, device == nil {
            throw CommandFailure.badInput("--loopback needs --device (a device bound to vfio-pci)")
        }
        if loopback, backend == Backend.uio.rawValue {
            throw CommandFailure.badInput("--loopback: UIO has no loopback trigger (it is VFIO's)")
        }
        guard (1...1_000_000).contains(count) else {
            throw CommandFailure.badInput("--count must be 1...1000000, not \(count)")
        }
        if !profiles.profile.isEmpty, device == nil {
            throw CommandFailure.badInput("--profile needs --device")
        }
        if let kinds, parsedKinds(kinds) == nil {
            throw CommandFailure.badInput("--kinds wants a comma-separated list of intx, msi, msix, not '\(kinds)'")
        }
    }

    private func parsedKinds(_ text: String) -> [InterruptKind]? {
        // An empty item ("msi,,", ",msi") is a typo, not "nothing": every item must name a kind.
        let kinds = text.split(separator: ",", omittingEmptySubsequences: false).map { InterruptKind(rawValue: String($0)) }
        guard !kinds.isEmpty, !kinds.contains(nil) else { return nil }
        // A kind named twice ("msix,msix") is tested once.
        var seen = Set<InterruptKind>()
        return kinds.compactMap { $0 }.filter { seen.insert($0).inserted }
    }

    func run() throws {
        // As trigger: a script's background selftest has SIGINT ignored; it ends as Ctrl-C ends it.
        Signals.restoreDefault(SIGINT)
        let logger = logging.makeLogger("irqbridge.selftest")
        let kinds = self.kinds.flatMap(parsedKinds)
        let plan: SelftestPlan
        do {
            plan = try makePlan(kinds: kinds, logger: logger)
        } catch let failure as CommandFailure {
            throw failure
        } catch let error as ProfileError {
            throw CommandFailure.badInput("\(error)")
        } catch let error as DeviceSessionError {
            throw CommandFailure(error)
        } catch let error as SelftestPlanError {
            throw CommandFailure.badInput("\(error)")
        } catch let error as BackendError {
            if case .system(let system) = error, system.code == EBUSY, let address = device.flatMap(PCIAddress.init) {
                throw CommandFailure.badInput(DeviceSession.inUse(address, system))
            }
            throw CommandFailure.failed("\(error)")
        } catch {
            throw CommandFailure.failed("\(error)")
        }
        defer { plan.close() }
        if json {
            // The JSON lines carry the results; no prose before them.
        } else if let profile = plan.profile {
            print("profile \(profile.name) (\(profile.file))")
        } else if device != nil {
            print("no profile matches \(device!): every interrupt comes from VFIO's loopback trigger")
        }
        let dispatcher: InterruptDispatcher
        do {
            // Timings recorded: the stimulus-to-ISR latency is measured where the ISR runs.
            dispatcher = try InterruptDispatcher(logger: logger, options: DispatchOptions(recordsTimings: true))
        } catch {
            throw CommandFailure.failed("cannot start the dispatcher: \(error)")
        }
        defer { dispatcher.shutdown() }
        let selftest = InterruptSelftest(count: count, logger: logger)
        var passed = 0
        var failed = 0
        for testCase in plan.cases {
            let result = selftest.run(testCase, dispatcher: dispatcher, connector: .wdk)
            print(json ? SelftestJSON.line(SelftestJSON(result)) : "\(result)")
            if result.passed { passed += 1 } else { failed += 1 }
        }
        print(json ? SelftestJSON.line(SelftestTotalsJSON(passed: passed, failed: failed)) : "\(passed) passed, \(failed) failed")
        if failed > 0 { throw ExitCode.failure }
    }

    private func makePlan(kinds: [InterruptKind]?, logger: Logger) throws -> SelftestPlan {
        guard let device, let address = PCIAddress(device) else { return .simulated(kinds: kinds) }
        let info = try PCIDiscovery(logger: logger).device(at: address)
        guard let info else { throw CommandFailure.badInput(DeviceSession.noDevice(address)) }
        if let unreadable = DeviceSession.unreadableCapabilities(info) { throw CommandFailure.failed(unreadable) }
        let chosen = backend.flatMap(Backend.init(rawValue:)) ?? (info.driver == "uio_pci_generic" ? .uio : .vfio)
        // The driver the chosen backend needs, checked first: a device still on its own
        // driver is the user's next step to take (exit 2, as wait/watch/trigger say it),
        // not a failed test.
        let needed: UserSpaceDriver? = switch chosen {
        case .vfio: .vfioPCI
        case .uio: .uioPCIGeneric
        case .simulated: nil
        }
        if let needed, info.driver != needed.rawValue {
            // Without --backend, VFIO is chosen; say that UIO is the other way.
            let bridge = DeviceBinder.systemBridge(info.classCode) != nil
            let other = backend == nil && needed == .vfioPCI && !bridge ? " (or irqbridge bind \(address) --driver uio_pci_generic, then --backend uio)" : ""
            throw CommandFailure.badInput(DeviceSession.notOnAUserSpaceDriver(info, needed: needed) + other)
        }
        if let nothing = DeviceSession.noInterrupts(info) { throw CommandFailure.badInput(nothing) }
        if chosen == .vfio, let notViable = DeviceSession.groupNotViable(info) { throw CommandFailure.badInput(notViable) }
        if let kinds {
            let has: [InterruptKind: Bool] = [.intx: info.interruptPin != nil, .msi: info.msi != nil, .msix: info.msix != nil]
            if let missing = kinds.first(where: { has[$0] != true }) {
                let present = [InterruptKind.intx, .msi, .msix].filter { has[$0] == true }.map(\.description).joined(separator: ", ")
                throw CommandFailure.badInput("--kinds: \(address) has no \(missing) (it has \(present))")
            }
        }
        let library = try ProfileLibrary(files: profiles.profile)
        if let refusal = DeviceSession.givenProfilesRefusal(library, for: info) { throw CommandFailure.badInput(refusal) }
        let plan: SelftestPlan
        switch chosen {
        case .vfio: plan = try .vfio(info, kinds: kinds, profiles: library, loopbackOnly: loopback, logger: logger)
        case .uio:
            // uio_pci_generic serves INTx only, and raises it through the device alone.
            if loopback { throw CommandFailure.badInput("--loopback: \(address) is on uio_pci_generic, which has no loopback trigger (it is VFIO's)") }
            if let kinds, kinds.contains(where: { $0 != .intx }) {
                throw CommandFailure.badInput("--kinds: \(address) is on uio_pci_generic, which serves INTx only")
            }
            plan = try .uio(info, profiles: library, logger: logger)
        case .simulated: plan = .simulated(kinds: kinds)
        }
        guard !plan.cases.isEmpty else {
            plan.close()
            throw CommandFailure.badInput("\(address): VFIO offers none of the interrupt kinds asked for")
        }
        return plan
    }
}
