// The selftest: connect an ISR to a device's interrupts, make the device
// interrupt N times, check that every interrupt reached the ISR (with the right
// message number) and that the kernel counted the same.
public import InterruptBridge
public import InterruptBridgeCore
import InterruptBridgeSystem
public import Logging
import Synchronization

/// One selftest case: a device, the interrupt kind to test, how to trigger it,
/// and where the kernel counts it.
public struct SelftestCase: Sendable {
    /// "VFIO MSI".
    public var label: String
    /// The backend under test; each run wraps it in its own `InterruptDevice`
    /// with `policy` (one device per backend at a time).
    public var backend: any InterruptBackend
    /// The policy that makes the translator assign `kind`.
    public var policy: InterruptPolicy
    public var kind: InterruptKind
    public var stimulus: SelftestStimulus
    /// The kernel's running count for this device's interrupt (nil: not available).
    public var kernelCount: (@Sendable () -> UInt64?)?
    /// How many times the backend re-enabled the line (INTx). The next interrupt
    /// is raised only after the unmask: raised while masked, the kernel delivers
    /// it at unmask time without its IRQ handler, and /proc/interrupts misses it.
    public var unmaskCount: (@Sendable () -> UInt64)?

    public init(label: String, backend: any InterruptBackend, policy: InterruptPolicy, kind: InterruptKind, stimulus: SelftestStimulus,
                kernelCount: (@Sendable () -> UInt64?)?, unmaskCount: (@Sendable () -> UInt64)? = nil) {
        self.unmaskCount = unmaskCount
        self.label = label
        self.backend = backend
        self.policy = policy
        self.kind = kind
        self.stimulus = stimulus
        self.kernelCount = kernelCount
    }

    /// The kernel count of a VFIO interrupt ("vfio-msi[", "vfio-intx", "vfio-msix[") of `address`.
    public static func vfioKernelCount(_ kind: InterruptKind, _ address: PCIAddress) -> @Sendable () -> UInt64? {
        let handler = switch kind {
        case .intx: "vfio-intx"
        case .msi: "vfio-msi["
        case .msix: "vfio-msix["
        }
        return { (try? ProcInterrupts.read()).flatMap { ProcInterruptsLine.total(in: $0, matching: handler, address: address.description) } }
    }

    /// The kernel count of a Linux IRQ (a UIO device's INTx line).
    public static func irqKernelCount(_ irq: UInt32) -> @Sendable () -> UInt64? {
        { (try? ProcInterrupts.read()).flatMap { ProcInterruptsLine.total(in: $0, irq: irq) } }
    }
}

/// The outcome of one case, printed as one line.
public struct SelftestResult: Sendable, CustomStringConvertible {
    public var label: String
    public var address: PCIAddress
    public var expected: Int
    /// Interrupts that reached the ISR.
    public var delivered: Int
    /// ISR calls with a message number other than the one raised.
    public var wrongMessages: Int
    /// The kernel's count over the run (nil: not counted).
    public var kernelDelta: UInt64?
    /// Why the case failed, if it did.
    public var failure: String?
    /// Why there is no kernel count, when there is none by design.
    public var uncounted: String?
    /// Signals the dispatch loop took from the eventfds or UIO counts, folded ones included.
    public var signals: UInt64 = 0
    /// ISR calls the stimulus's acknowledge declined.
    public var unclaimed: Int = 0
    /// What a passing case should still be read with: the device signalled more than was
    /// raised (QEMU's e1000e does), and the kernel counted the extra ones too.
    public var note: String?
    /// Mean time from raising an interrupt to the ISR having run (and, for INTx,
    /// the line being unmasked again): a figure, not a pass/fail criterion.
    public var meanRoundTrip: Duration?
    /// Stimulus-to-ISR latency: from just before each raise (`InterruptObject.markStimulus()`)
    /// to the ISR call it caused, measured by the dispatch loop when its dispatcher records
    /// timings (`DispatchOptions.recordsTimings`), over every vector: 50th and 99th
    /// percentile and the maximum. Without recorded timings, the raising thread's figure
    /// (`raiseToSeen`) stands in.
    public var stimulusToISR: (p50: Duration, p99: Duration, max: Duration)?
    /// From just before each raise to the raising thread seeing the ISR's count move:
    /// the stimulus-to-ISR latency plus the rest of the loop's pass and the wake-up of
    /// the raising thread (on one processor, a switch back to it).
    public var raiseToSeen: (p50: Duration, p99: Duration, max: Duration)?
    /// ISR call durations over every vector (recorded timings only): p50, p99, max.
    public var isrDuration: (p50: Duration, p99: Duration, max: Duration)?
    /// Per vector (message order), what the dispatch loop recorded: empty without recorded timings.
    public var vectors: [SelftestVectorTimings] = []

    public var passed: Bool { failure == nil }

    public var description: String {
        let kernel = kernelDelta.map { "kernel counted \($0)" } ?? "no kernel count" + (uncounted.map { " (\($0))" } ?? "")
        let verdict = failure.map { "FAIL: \($0)" } ?? "ok" + (note.map { " (\($0))" } ?? "")
        var roundTrip = meanRoundTrip.map { ", mean round trip \(Self.microseconds($0)) us" } ?? ""
        if let latency = stimulusToISR {
            roundTrip += ", stimulus to ISR \(Self.percentiles(latency))"
        }
        if let latency = isrDuration { roundTrip += ", ISR \(Self.percentiles(latency))" }
        if let latency = raiseToSeen, !vectors.isEmpty { roundTrip += ", raise to seen by the raiser \(Self.percentiles(latency))" }
        var text = "\(label) \(address): \(delivered)/\(expected) interrupts reached the ISR\(roundTrip), \(kernel): \(verdict)"
        if vectors.count > 1 {
            for vector in vectors { text += "\n    \(vector)" }
        }
        return text
    }

    /// "p50 12.3 us p99 45.6 us max 78.9 us".
    static func percentiles(_ figures: (p50: Duration, p99: Duration, max: Duration)) -> String {
        "p50 \(microseconds(figures.p50)) us p99 \(microseconds(figures.p99)) us max \(microseconds(figures.max)) us"
    }

    static func microseconds(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        let tenths = seconds * 10_000_000 + attoseconds / 100_000_000_000
        return "\(tenths / 10).\(tenths % 10)"
    }
}

/// Runs selftest cases through a dispatcher's connect API.
public struct InterruptSelftest: Sendable {
    /// Interrupts per case.
    public var count: Int
    /// How long one interrupt may take to reach the ISR before the case fails.
    public var timeout: Duration
    public var logger: Logger

    public init(count: Int = 2000, timeout: Duration = .seconds(2), logger: Logger) {
        self.count = count
        self.timeout = timeout
        self.logger = logger
    }

    /// What the ISR records: preallocated atomics, so the ISR never allocates.
    final class Probe: Sendable {
        let calls = Atomic<Int>(0)
        /// Calls with the message last raised: what a raise waits for, so that a late second
        /// signal of the message before does not stand in for it.
        let callsAsRaised = Atomic<Int>(0)
        let wrongMessages = Atomic<Int>(0)
        let unclaimed = Atomic<Int>(0)
        let expectedMessage = Atomic<Int>(0)
        let stimulus: SelftestStimulus
        init(stimulus: SelftestStimulus) { self.stimulus = stimulus }

        func serve(message: Int) -> Bool {
            let asRaised = message == expectedMessage.load(ordering: .acquiring)
            if !asRaised { wrongMessages.add(1, ordering: .relaxed) }
            let claimed = stimulus.acknowledge(message)
            if !claimed { unclaimed.add(1, ordering: .relaxed) }
            if asRaised { callsAsRaised.add(1, ordering: .releasing) }
            calls.add(1, ordering: .releasing)
            return claimed
        }
    }

    /// Connects the device's interrupts of the case's kind, raises `count`
    /// interrupts spread over its vectors (one at a time), disconnects and compares.
    /// The stimulus's quiesce runs before the connect and again once the device is let go,
    /// as `wait` and `trigger` do: an acknowledge that claims without clearing the cause
    /// would otherwise leave the line asserted with nobody to serve it.
    public func run(_ testCase: SelftestCase, dispatcher: InterruptDispatcher, connector: SelftestConnector = .runtime) -> SelftestResult {
        var result = SelftestResult(label: testCase.label, address: testCase.backend.device.address, expected: count, delivered: 0,
                                    wrongMessages: 0, kernelDelta: nil, failure: nil)
        if !testCase.stimulus.kernelCounts {
            result.uncounted = "\(testCase.stimulus.name) bypasses the kernel's IRQ handler"
        }
        let probe = Probe(stimulus: testCase.stimulus)
        testCase.stimulus.quiesce()
        let connection: SelftestConnection
        do {
            connection = try connector.connect(dispatcher, InterruptDevice(backend: testCase.backend, policy: testCase.policy), testCase.kind, probe)
        } catch {
            result.failure = "connect failed: \(error)"
            return result
        }
        defer { testCase.stimulus.quiesce() }
        do {
            try testCase.stimulus.setup()
        } catch {
            connection.disconnect()
            result.failure = "the stimulus's set-up failed: \(error)"
            return result
        }
        // Resolved once for the case: a loopback raise is then the ioctl alone.
        let raiser: PreparedRaise
        do {
            raiser = try testCase.stimulus.prepared()
        } catch {
            connection.disconnect()
            result.failure = "preparing the stimulus failed: \(error)"
            return result
        }
        let vectors = max(1, min(connection.messageCount, testCase.stimulus.vectors ?? .max))
        let onOneProcessor = ((try? PThread.affinity(PThread.current)) ?? 0).nonzeroBitCount == 1  // taskset 1
        let kernelBefore = testCase.stimulus.kernelCounts ? testCase.kernelCount?() : nil
        let signalsBefore = connection.objects.map(\.deliveredSignalCount).reduce(0, +)
        let started = ContinuousClock.now
        var latencies = [Int64](repeating: 0, count: count)  // nanoseconds, filled by this thread
        for index in 0..<count {
            let message = testCase.kind == .intx ? 0 : index % vectors
            probe.expectedMessage.store(message, ordering: .releasing)
            let before = probe.callsAsRaised.load(ordering: .acquiring)
            let wrongBefore = probe.wrongMessages.load(ordering: .relaxed)
            let unmasksBefore = testCase.kind == .intx ? testCase.unmaskCount?() : nil
            let raisedAt = MonotonicClock.nanoseconds()
            // The mark is the last thing before the raise: a clock read between the two
            // would be counted in the stimulus-to-ISR latency (in the TCG rig, whose clock
            // source is the HPET, each read is a system call: about 1.6 us).
            if message < connection.objects.count { connection.objects[message].markStimulus() }
            do {
                try raiser.raise(message)
            } catch {
                result.failure = "raising interrupt \(index) failed: \(error)"
                break
            }
            guard waitUntil(yieldingAtOnce: onOneProcessor, { probe.callsAsRaised.load(ordering: .acquiring) != before }) else {
                let misrouted = probe.wrongMessages.load(ordering: .relaxed) != wrongBefore
                result.failure = "interrupt \(index) (message \(message)) did not reach the ISR within \(timeout)"
                    + (misrouted ? "; an ISR call with the wrong MessageID came meanwhile" : "")
                break
            }
            latencies[index] = Int64(MonotonicClock.nanoseconds() &- raisedAt)
            if let unmasksBefore, let unmaskCount = testCase.unmaskCount, !waitUntil(yieldingAtOnce: onOneProcessor, { unmaskCount() != unmasksBefore }) {
                result.failure = "the line was not unmasked within \(timeout) after interrupt \(index)"
                break
            }
        }
        let delivered = probe.calls.load(ordering: .acquiring)
        if delivered > 0 { result.meanRoundTrip = (ContinuousClock.now - started) / delivered }
        let measured = latencies[0..<min(delivered, count)].sorted()
        if !measured.isEmpty {
            func at(_ fraction: Double) -> Duration { .nanoseconds(measured[Int(Double(measured.count - 1) * fraction)]) }
            result.raiseToSeen = (at(0.5), at(0.99), at(1))
            result.stimulusToISR = result.raiseToSeen
        }
        // What the dispatch loop measured, per vector, read while connected.
        let timed = connection.objects.prefix(vectors).filter { $0.timings.isRecorded }
        if !timed.isEmpty {
            result.vectors = timed.map { SelftestVectorTimings($0) }
            let stimulus = LatencySummary(result.vectors.map(\.stimulusToISR))
            let isr = LatencySummary(result.vectors.map(\.isrDuration))
            if let figures = stimulus.figures { result.stimulusToISR = figures }
            result.isrDuration = isr.figures
        }
        // Read the kernel's count while connected: VFIO frees the IRQ (and its
        // /proc/interrupts line) when the interrupts are disabled. Read until every call is
        // in and the signals have caught up with the kernel's count.
        let settled = SettledReading.read({ () -> (calls: Int, wrong: Int, signals: UInt64, kernel: UInt64?) in
            let calls = probe.calls.load(ordering: .acquiring), wrong = probe.wrongMessages.load(ordering: .relaxed)
            let signals = connection.objects.map(\.deliveredSignalCount).reduce(0, +) &- signalsBefore
            return (calls, wrong, signals, kernelBefore.flatMap { before in testCase.kernelCount?().map { $0 &- before } })
        }, until: { figures in figures.calls >= count && (figures.kernel.map { figures.signals >= $0 } ?? true) })
        (result.delivered, result.wrongMessages, result.signals) = (settled.calls, settled.wrong, settled.signals)
        result.unclaimed = min(probe.unclaimed.load(ordering: .relaxed), settled.calls)
        if let kernel = settled.kernel { result.kernelDelta = kernel }
        var counted = testCase.stimulus.kernelCounts && testCase.kernelCount != nil
        // Read while still connected: VFIO's handler leaves the line at the disconnect.
        if counted, testCase.kind == .intx, let lines = try? ProcInterrupts.read(),
           let shared = KernelInterruptCounts.sharedLineNote(address: testCase.backend.device.address,
                                                             uioIRQ: (testCase.backend as? UIOBackend)?.device.irqLine, in: lines) {
            (result.kernelDelta, result.uncounted, counted) = (nil, shared, false)
        }
        connection.disconnect()
        if result.failure == nil {
            result.failure = Self.failure(of: result, counted: counted, messages: testCase.kind != .intx)
            if result.failure == nil, let kernel = result.kernelDelta, kernel > UInt64(count) {
                result.note = "the device signalled \(kernel - UInt64(count)) more than raised; the kernel counted them too, and each reached the dispatch loop"
            }
        }
        logger.debug("\(result)")
        return result
    }

    /// Why a case's figures are a failure (nil: they are not). `counted`: the kernel counts
    /// the case's interrupts, so its count must agree.
    ///
    /// Each raise waits for an ISR call, so at least `expected` calls, each with the message
    /// raised. Beyond that, what the kernel took decides: exactly one interrupt per raise,
    /// or, when a device signals more than it was raised (QEMU's e1000e signals some raises
    /// twice), every one the kernel took reached the dispatch loop and the ISR ran no more
    /// often than they arrived. A late second signal may be served after the next raise, with
    /// the message before it: no more such calls than extra signals are taken for that.
    /// Messages only: on a level line, more interrupts than raises means an acknowledge that
    /// did not quiet the device, so a line stays exact, as does a raise without a kernel
    /// count (a loopback raise).
    static func failure(of result: SelftestResult, counted: Bool, messages: Bool) -> String? {
        // An acknowledge that declines (nearly) every call is the likeliest why: say so beside the figures.
        guard let failure = figuresFailure(of: result, counted: counted, messages: messages) else { return nil }
        return UnclaimedCallsNote.note(calls: UInt64(result.delivered), unclaimed: UInt64(result.unclaimed)).map { failure + "; " + $0 } ?? failure
    }

    private static func figuresFailure(of result: SelftestResult, counted: Bool, messages: Bool) -> String? {
        let count = UInt64(result.expected), delivered = UInt64(result.delivered)
        if delivered < count { return "the ISR ran \(delivered) times for \(count) interrupts" }
        let taken = result.kernelDelta ?? 0
        let extra = counted && messages && taken > count ? taken - count : 0
        if UInt64(result.wrongMessages) > extra { return "\(result.wrongMessages) ISR call(s) had the wrong MessageID" }
        guard counted else { return delivered == count ? nil : "the ISR ran \(delivered) times for \(count) interrupts" }
        guard let kernel = result.kernelDelta else { return "no kernel count for this interrupt in /proc/interrupts" }
        if kernel == count, delivered == count { return nil }
        if kernel < count || !messages { return "the kernel counted \(kernel) interrupts, the ISR \(delivered)" }
        if result.signals != kernel { return "the kernel counted \(kernel) interrupts, \(result.signals) reached the dispatch loop" }
        if delivered > kernel { return "the ISR ran \(delivered) times for the \(kernel) interrupts the kernel counted" }
        return nil
    }

    /// Waits until `condition` holds, for about `timeout` (from the 64th check on).
    ///
    /// The first check comes before any clock read: when the dispatch thread has
    /// already served the interrupt (on one processor it preempts the raiser in its
    /// ioctl) the wait costs one load. `yieldingAtOnce`: the raiser may run on one
    /// processor only, where spinning cannot see progress (the thread that makes it
    /// needs this processor), so every failed check yields it to the dispatch
    /// thread; the C probe's writer spins 256 times first, which it can afford as
    /// its receiver always preempts it (TCG rig, CPU 0). Otherwise 64 checks per yield.
    private func waitUntil(yieldingAtOnce: Bool, _ condition: () -> Bool) -> Bool {
        if condition() { return true }
        var deadline: ContinuousClock.Instant?
        var checks = 0
        while true {
            checks += 1
            if yieldingAtOnce || checks % 64 == 0 { PThread.yieldProcessor() }
            if condition() { return true }
            if checks % 64 == 0 {
                let now = ContinuousClock.now
                if let deadline, now > deadline { return false }
                if deadline == nil { deadline = now + timeout }
            }
        }
    }
}

/// A connected selftest ISR, however it was connected.
public struct SelftestConnection: Sendable {
    /// How many messages were connected (1 for a line).
    public var messageCount: Int
    /// The interrupt objects, in message order (one for a line): the selftest marks
    /// each raise on the object of its message (`markStimulus`) and reads its timings.
    public var objects: [InterruptObject]
    public var disconnect: @Sendable () -> Void

    public init(messageCount: Int, objects: [InterruptObject] = [], disconnect: @escaping @Sendable () -> Void) {
        self.messageCount = messageCount
        self.objects = objects
        self.disconnect = disconnect
    }
}

/// How the selftest connects its ISR: through the runtime API here; the CLI
/// plugs in the WDK facade's IoConnectInterruptEx.
public struct SelftestConnector: Sendable {
    /// Connects `serve` (called with the message number, returns the claim) to the
    /// device's interrupts of `kind`.
    public var connect: @Sendable (_ dispatcher: InterruptDispatcher, _ device: InterruptDevice, _ kind: InterruptKind,
                                   _ serve: @escaping @Sendable (Int) -> Bool) throws -> SelftestConnection

    public init(connect: @escaping @Sendable (_ dispatcher: InterruptDispatcher, _ device: InterruptDevice, _ kind: InterruptKind,
                                               _ serve: @escaping @Sendable (Int) -> Bool) throws -> SelftestConnection) {
        self.connect = connect
    }

    func connect(_ dispatcher: InterruptDispatcher, _ device: InterruptDevice, _ kind: InterruptKind, _ probe: InterruptSelftest.Probe) throws -> SelftestConnection {
        try connect(dispatcher, device, kind) { message in probe.serve(message: message) }
    }

    /// CONNECT_LINE_BASED for INTx, CONNECT_MESSAGE_BASED for MSI/MSI-X, through `InterruptDispatcher`.
    public static let runtime = SelftestConnector { dispatcher, device, kind, serve in
        if kind == .intx {
            let object = try dispatcher.connectLineBased(device: device, routine: { _ in serve(0) })
            return SelftestConnection(messageCount: 1, objects: [object]) { dispatcher.disconnect(object) }
        }
        let connection = try dispatcher.connectMessageBased(device: device, messageRoutine: { _, message in serve(Int(message)) })
        switch connection {
        case let .messages(table):
            return SelftestConnection(messageCount: table.messageCount, objects: table.interruptObjects) { dispatcher.disconnect(table) }
        case let .line(object):
            return SelftestConnection(messageCount: 1, objects: [object]) { dispatcher.disconnect(object) }
        }
    }
}
