import ArgumentParser
import InterruptBridge
import InterruptBridgeCore
import InterruptBridgeSystem
import InterruptBridgeTooling
import Glibc

/// `irqbridge trigger BDF [--vector N] [--count K] [--rate R]`.
struct TriggerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "trigger",
        abstract: "Make a device raise interrupts, through its profile's stimulus or VFIO's loopback trigger.",
        discussion: """
            When another irqbridge process holds the device (`wait`, `watch`), the request goes to it \
            (a VFIO device has one user, and its mapped BARs cannot be mapped again), that process \
            raises the interrupts with its own profile and connection, and this command exits with what \
            it answered: 0 once they were raised, 2 when it refused the request (no stimulus, a vector \
            it does not have), 1 when raising failed or it did not answer. Otherwise this command opens the device, connects a counting ISR \
            (the profile's acknowledge), raises them and reports what arrived; exit status 1, with the \
            reason, when an interrupt did not reach the ISR. With --rate, raises faster than the ISR \
            is served fold into fewer calls, as on hardware; every message the kernel took must still \
            reach the dispatch loop. An interrupt raised by the loopback trigger does not come \
            from the device, and the kernel's IRQ handler does not count it.
            """
    )

    @OptionGroup var device: DeviceArgument

    @Option(parsing: .unconditional, help: "Raise this message number only (default: every vector the stimulus reaches, in turn).")
    var vector: Int?

    @Option(parsing: .unconditional, help: "How many interrupts to raise.")
    var count = 1

    @Option(parsing: .unconditional, help: "Interrupts per second (default: each after the previous was served).")
    var rate: Double?

    @Flag(help: "Connect the INTx line instead of messages (when this command holds the device).")
    var lineBased = false

    @Flag(help: "Raise through VFIO's loopback trigger even when the profile raises from the device; the ISR then claims each without touching the device (VFIO only; never relayed to a holder).")
    var loopback = false

    @OptionGroup var profiles: ProfileOptions
    @OptionGroup var connectPolicy: ConnectPolicyOption
    @OptionGroup var output: JSONFlag
    @OptionGroup var logging: DeviceLoggingOptions

    func validate() throws {
        guard (1...1_000_000).contains(count) else { throw CommandFailure.badInput("--count must be 1...1000000, not \(count)") }
        if let vector, vector < 0 { throw CommandFailure.badInput("--vector must be 0 or more, not \(vector)") }
        if let rate, !Raising.rates.contains(rate) { throw CommandFailure.badInput("--rate must be 0.001 to 1000000 per second, not \(rate)") }
    }

    func run() throws {
        // A long --count at a --rate runs for minutes: a script's background job starts with
        // SIGINT ignored (the shell's rule for non-interactive jobs), and `kill -INT` then did
        // nothing. SIGINT ends it as Ctrl-C ends it on a terminal (status 130): while relayed to
        // a holder, at once; holding the device, once it is given up (below).
        Signals.restoreDefault(SIGINT)
        let policies = try connectPolicy.table()
        let request = TriggerRequest(vector: vector, count: count, rate: rate)
        // --loopback is this command's own way of raising: never relayed (a holder raises with its own stimulus).
        if !loopback, let relayed = try TriggerRelay.ask(request, holding: device.address) {
            print(output.json ? JSONLine.object(["device": device.address.description, "requested": count, "raised": relayed.raised, "relayed": true,
                                                 "stimulus": relayed.stimulus, "served": nil, "claimed": nil, "signals": nil, "kernel": nil,
                                                 "folded": nil])
                  : "the process holding \(device.address) raised \(relayed.raised) interrupt(s)" + (relayed.stimulus.map { " through \($0)" } ?? ""))
            return
        }
        let logger = logging.makeLogger("irqbridge.trigger")
        // Holding the device itself, SIGINT, SIGTERM and SIGHUP stop the raising: what was raised is
        // reported, the interrupts disconnected and the device quiesced (no cause left pending
        // for its next user), and then the process ends as the signal asked (130, 143, 129).
        Signals.recordInterruptions()
        defer { Signals.endAsReceived() }
        let session = try DeviceSession.open(device.address, profileFiles: profiles.profile, loopbackOnly: loopback, requiringAMatch: true,
                                             advice: .commandLineWithLoopback, logger: logger)
        // After the disconnect: a cause left pending must not assert a line nobody handles.
        defer { session.quiesce(); session.close() }
        guard let stimulus = session.stimulus else {
            throw CommandFailure.badInput(DeviceSession.noInterrupts(session.info)
                ?? "\(device.address) is under uio_pci_generic, which has no loopback trigger, and no profile raises its interrupts: "
                    + "give one that does (--profile FILE; irqbridge profile new \(device.address) writes one to start from)")
        }
        let dispatcher: InterruptDispatcher
        do { dispatcher = try InterruptDispatcher(logger: logger) } catch { throw CommandFailure.failed("cannot start the dispatcher: \(error)") }
        defer { dispatcher.shutdown() }
        let connected = try session.connect(dispatcher, lineBased: lineBased, policy: policies.policy(for: session.info))
        defer { connected.disconnect() }
        if let vector, let refusal = connected.vectorRefusal(vector, of: device.address) { throw CommandFailure.badInput(refusal) }
        let kind = connected.objects[0].kind
        // A shared line's count is every device's on it: not this one's to compare.
        let shared = kind == .intx && stimulus.kernelCounts ? session.sharedLineNote() : nil
        let kernelCount = stimulus.kernelCounts && shared == nil ? session.kernelCount(kind) : nil
        let kernelBefore = kernelCount?()
        do { try stimulus.setup() } catch { throw CommandFailure.failed("the stimulus's set-up failed: \(error)") }
        let raised: Int
        do {
            raised = try Raising.run(vector: request.vector, count: request.count, rate: request.rate, stimulus: stimulus, objects: connected.objects,
                                     unmaskCount: session.unmaskCount, shouldStop: { Signals.received != nil })
        } catch let failure as RaisingFailure where Raising.failedForRemoval({ connected.wereDisconnected }) {
            throw CommandFailure.failed("\(device.address) was removed or unbound after \(failure.raised) of \(count) interrupt(s) were raised")
        } catch let contained as RaisingContained {
            throw CommandFailure.failed("\(device.address): \(contained) (--rate raises into it anyway)")
        } catch { throw CommandFailure.failed("raising failed: \(error)") }
        let interrupted = Signals.received != nil
        PThread.sleep(for: .milliseconds(50))  // the last one in flight
        // Read until the signals have caught up with the kernel's count.
        let (served, claimed, signals, kernel) = SettledReading.read({ () -> (calls: UInt64, claimed: UInt64, signals: UInt64, kernel: UInt64?) in
            // Claimed first: read before the calls, it is never the larger (`claimedCount`).
            let claimed = connected.objects.map(\.claimedCount).reduce(0, +), calls = connected.objects.map(\.serviceCallCount).reduce(0, +)
            let signals = connected.objects.map(\.deliveredSignalCount).reduce(0, +)
            return (calls, claimed, signals, kernelBefore.flatMap { before in kernelCount?().map { $0 &- before } })
        }, until: { figures in figures.kernel.map { figures.signals >= $0 } ?? true })
        let folded = rate != nil && served < UInt64(raised) && served > 0
        if output.json {
            print(JSONLine.object(["device": device.address.description, "requested": count, "raised": raised, "relayed": false,
                                   "stimulus": stimulus.name, "served": served, "claimed": claimed, "signals": signals, "kernel": kernel,
                                   "folded": folded]))
        } else {
            print("raised \(raised)" + (interrupted ? " of \(count) (interrupted)" : "")
                  + " on \(device.address) (\(connected.summary)) through \(stimulus.name): the ISR ran \(served) times, claimed \(claimed), \(signals) signal(s); "
                  + (kernel.map { "the kernel counted \($0)" } ?? "no kernel count" + (shared.map { " (\($0))" } ?? ""))
                  + (folded ? "; raised faster than served, so raises folded into fewer calls" : ""))
        }
        // Interrupted: the figures are what was raised until then, not a verdict.
        if interrupted { return }
        // A loopback raise leaves nothing pending at the device: its acknowledge may well not claim it.
        let claimsExpected = session.profile?.acknowledge != nil && !stimulus.isLoopback
        if let failure = Raising.failure(count: UInt64(raised), served: served, claimed: claimed, signals: signals, kernel: kernel,
                                         paced: rate != nil, messages: kind != .intx, claimsExpected: claimsExpected) {
            throw CommandFailure.failed(failure)
        }
    }
}
