// Raising a device's interrupts and waiting for them, for test harnesses. Both run
// off the registry's queue (a trigger may take seconds, a wait up to its timeout),
// on what the registry hands out: the stimulus and the interrupt objects.
import InterruptBridge
import InterruptBridgeSystem
import InterruptBridgeTooling

extension DeviceRegistry {
    /// What a trigger needs, taken under the registry; the gate is entered.
    struct TriggerTicket: Sendable {
        var stimulus: SelftestStimulus
        var objects: [InterruptObject]
        var unmaskCount: (@Sendable () -> UInt64)?
        var gate: TriggerGate
        var fromDevice: Bool
        /// How long an unpaced run may raise (`unpacedTriggerLimit` when it was issued).
        var limit: Duration
    }

    func triggerTicket(_ id: String, vector: Int?) throws(ControlError) -> TriggerTicket {
        try ensureRunning()
        let device = try device(id)
        guard device.state == .connected, let session = device.session, !device.objects.isEmpty else {
            throw .conflict("\(device.id) is \(device.state.rawValue), not connected")
        }
        guard let stimulus = session.stimulus else {
            throw .conflict("\(device.id) has no way to be made to interrupt (under uio_pci_generic it needs a profile with a register stimulus)")
        }
        if let vector, !(0..<device.objects.count).contains(vector) {
            throw .badRequest("\(device.id) has \(device.objects.count) vector(s): vector \(vector) is not one of them")
        }
        switch device.triggers.enter() {
        case .entered: break
        case .stopped: throw .conflict("\(device.id) is being disconnected")
        case .full: throw .conflict("\(device.id) has \(TriggerGate.mostAtOnce) triggers running, the most at once: let one end first")
        }
        let fromDevice = session.profile?.stimulus?.comesFromDevice ?? (session.backend is SimulatedBackend)
        return TriggerTicket(stimulus: stimulus, objects: device.objects, unmaskCount: session.unmaskCount, gate: device.triggers,
                             fromDevice: fromDevice, limit: unpacedTriggerLimit)
    }

    /// The longest a paced trigger may take (count / rate, seconds): the call answers when
    /// the run's time is up (a paced run raises each interrupt at the start of its own
    /// 1 / rate interval, the last included), and holds its connection until then, as a
    /// wait does.
    public static let longestPacedTrigger: Double = 3600

    /// Sets how long an unpaced trigger may raise (`longestPacedTrigger` seconds unless a
    /// test shortens it, so that the stop can be seen in seconds, not an hour).
    func setUnpacedTriggerLimit(_ limit: Duration) { unpacedTriggerLimit = limit }
    /// For tests: how soon a removal after a release counts as the removal's own unbind.
    func setPullUnbindWindow(_ window: Duration) { pullUnbindWindow = window }

    /// Raises `count` interrupts on `vector` (every vector in turn when nil), paced by
    /// `rate` per second or by each one being served. Paced, it lasts at most
    /// `longestPacedTrigger`; unpaced (each raise waits up to a second for its ISR to claim
    /// it), it stops there, answering 409 with how many were raised. `callerLeft` says the
    /// caller is gone (its connection closed: a harness that gave up, a Ctrl-C'd `ctl
    /// trigger`): the raising stops, rather than go on for up to an hour holding one of the
    /// device's trigger slots.
    public nonisolated func trigger(_ id: String, vector: Int?, count: Int, rate: Double?,
                                    callerLeft: @escaping @Sendable () -> Bool = { false }) async throws(ControlError) -> TriggerOutcome {
        guard (1...1_000_000).contains(count) else { throw .badRequest("count must be 1...1000000, not \(count)") }
        if let rate, !Raising.rates.contains(rate) { throw .badRequest("rate must be 0.001 to 1000000 per second, not \(rate)") }
        if let rate, Double(count) / rate > Self.longestPacedTrigger {
            throw .badRequest("\(count) interrupt(s) at \(rate) per second take \(Int((Double(count) / rate).rounded(.up))) s; "
                              + "a paced trigger lasts at most \(Int(Self.longestPacedTrigger)) s, as a wait does (raise fewer, or faster)")
        }
        let ticket = try await triggerTicket(id, vector: vector)
        let deadline = ContinuousClock.now + ticket.limit
        // Disconnected under it (a removal the loop handles before the registry hears of it,
        // which takes every vector at once), or the device's triggers stopped.
        let cutOff: @Sendable () -> Bool = { ticket.gate.isStopped || ticket.objects.first?.isConnected == false }
        // How many were raised, and whether the unpaced run's hour (not a stop) ended it.
        // On a thread of its own: a trigger blocks for up to its hour, and libdispatch's global
        // queue runs as many blocked jobs as there are processors, adding one thread a second.
        let result: Result<(raised: Int, outlasted: Bool), ControlError> = await withCheckedContinuation { continuation in
            let raise: @Sendable () -> Void = {
                defer { ticket.gate.leave() }
                var outlasted = false
                do {
                    let raised = try Raising.run(vector: vector, count: count, rate: rate, stimulus: ticket.stimulus, objects: ticket.objects,
                                                 unmaskCount: ticket.unmaskCount,
                                                 shouldStop: {
                                                     if cutOff() || callerLeft() { return true }
                                                     outlasted = rate == nil && ContinuousClock.now >= deadline
                                                     return outlasted
                                                 })
                    continuation.resume(returning: .success((raised, outlasted)))
                } catch let contained as RaisingContained {
                    continuation.resume(returning: .failure(.conflict("\(id): \(contained) (POST /v1/devices/\(id)/rearm re-arms it; "
                                                                     + "a paced trigger, with a rate, raises into a contained vector)")))
                } catch let failure as RaisingFailure where Raising.failedForRemoval(cutOff) {
                    // Pulled under it: cut short by the removal (409 below), not a failure of the raise.
                    continuation.resume(returning: .success((failure.raised, false)))
                } catch {
                    continuation.resume(returning: .failure(.failed("raising \(id)'s interrupts failed: \(error)")))
                }
            }
            do throws(SystemError) {
                PThread.detach(try PThread.spawn(name: "irqbridge-trig", raise))
            } catch {
                ticket.gate.leave()
                continuation.resume(returning: .failure(.failed("raising \(id)'s interrupts: no thread to raise them on: \(error)")))
            }
        }
        let (raised, outlasted) = try result.get()
        // Stopped short (removed, unbound, disconnected or the daemon stopping while it
        // raised, or the hour ran out): not a success a caller could take for `count` raised.
        guard raised == count else {
            if callerLeft() {
                logger.info("\(id): a trigger's caller went away after \(raised) of \(count) interrupt(s); raising stopped")
                throw .unavailable("the caller went away after \(raised) of \(count) interrupt(s) were raised on \(id)")
            }
            // The daemon stopping disconnects everything: that is not the device's doing.
            if stopRequested.load(ordering: .acquiring) {
                throw .unavailable("the daemon is stopping: \(raised) of \(count) interrupt(s) had been raised on \(id)")
            }
            if outlasted {
                throw .conflict("\(id): the trigger stopped after \(raised) of \(count) interrupt(s), at the \(ticket.limit.components.seconds) s "
                                + "a trigger may take (unpaced, each raise waits up to 1 s for its ISR"
                                + (ticket.fromDevice ? " to claim it: does the profile's acknowledge claim?)" : " to run)"))
            }
            throw .conflict("\(id) was disconnected after \(raised) of \(count) interrupt(s) were raised (GET /v1/devices/\(id) says why)")
        }
        return TriggerOutcome(id: id, raised: raised, stimulus: ticket.stimulus.name, fromDevice: ticket.fromDevice)
    }

    /// The vectors a wait counts on, and their interrupts at the last reset (what
    /// `statistics` subtracts), for a wait that counts from there.
    func waitObjects(_ id: String, vector: Int?) throws(ControlError) -> (String, [InterruptObject], atReset: UInt64) {
        let device = try device(id)
        guard device.state == .connected, !device.objects.isEmpty else { throw .conflict("\(device.id) is \(device.state.rawValue), not connected") }
        let indices: [Int]
        if let vector {
            guard (0..<device.objects.count).contains(vector) else {
                throw .badRequest("\(device.id) has \(device.objects.count) vector(s): vector \(vector) is not one of them")
            }
            indices = [vector]
        } else {
            indices = Array(device.objects.indices)
        }
        let atReset = indices.reduce(UInt64(0)) { total, index in
            guard index < device.baselines.count else { return total }
            return total &+ device.baselines[index].claimed &+ device.baselines[index].unclaimed
        }
        return (device.id, indices.map { device.objects[$0] }, atReset)
    }

    /// Waits until `count` interrupts arrived (on `vector`, or on any) from now on, or
    /// since the last reset of the device's counters (`sinceReset`: an interrupt that came
    /// before the call counts, so a harness can reset, act, then wait without a race), or
    /// `timeout` passed. Interrupts are ISR calls that ended, claimed or not, as
    /// `statistics` counts them. A wait cut short is not a timeout: the device's vectors
    /// disconnected under it (removed, unbound, disconnected) is a conflict (409), the
    /// daemon stopping is unavailable (503), each naming what had arrived. (A storm
    /// only suspends a vector: the wait goes on, and may time out.)
    public nonisolated func wait(_ id: String, vector: Int?, count: UInt64, timeout: Duration,
                                 sinceReset: Bool = false) async throws(ControlError) -> WaitOutcome {
        guard count >= 1 else { throw .badRequest("count must be at least 1") }
        guard timeout >= .zero, timeout <= .seconds(3600) else { throw .badRequest("timeout must be 0...3600 seconds") }
        let (name, objects, atReset) = try await waitObjects(id, vector: vector)
        // The calls that ended, claimed or not, as `statistics` and the reset baselines count them.
        func ended() -> UInt64 { objects.reduce(0) { $0 &+ $1.claimedCount &+ $1.unclaimedCount } }
        let before = sinceReset ? atReset : ended()
        let start = ContinuousClock.now
        var arrived: UInt64 = 0
        while true {
            arrived = ended() &- before
            if arrived >= count || ContinuousClock.now - start >= timeout { break }
            if stopRequested.load(ordering: .acquiring) || Task.isCancelled {
                throw .unavailable("the daemon is stopping: \(arrived) of \(count) interrupt(s) had arrived from \(name)")
            }
            // Stopping disconnects everything: read the flag again, so a shutdown is not called a disconnect.
            if !objects.contains(where: \.isConnected), !stopRequested.load(ordering: .acquiring) {
                throw .conflict("\(name) was disconnected after \(arrived) of \(count) interrupt(s) arrived (GET /v1/devices/\(name) says why)")
            }
            try? await Task.sleep(for: .milliseconds(1))
        }
        let elapsed = ContinuousClock.now - start
        return WaitOutcome(id: name, vector: vector, wanted: count, arrived: arrived, satisfied: arrived >= count,
                           seconds: Double(elapsed.nanoseconds) / 1e9)
    }
}
