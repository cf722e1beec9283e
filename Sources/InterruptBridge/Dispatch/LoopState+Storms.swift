import InterruptBridgeCore
import InterruptBridgeSystem
import Logging

/// Storm containment on the loop thread, off the interrupt path: a vector that
/// tripped a rule (`VectorSource.service`) stops being watched and is re-armed
/// after its back-off or on request.
extension LoopState {
    /// Contains a source that tripped `rule`: silence it, suspend it at the
    /// backend, count, log once, publish, schedule the re-arm.
    func contain(_ source: VectorSource, rule: StormRule) {
        let now = MonotonicClock.nanoseconds()
        let record = table.devices[source.key.device]
        // An inactive source is already off (it cannot trip, but stay safe).
        if !source.inactive { suspend(source) }
        if source.unmasks { source.leftMasked = true }
        source.trips += 1
        for object in objects(on: source) {
            object.counters.storms.add(1, ordering: .relaxed)
            object.counters.contained.store(true, ordering: .releasing)
        }
        // The back-off doubles while the storm persists: a trip soon after a re-arm
        // (within twice the back-off in force) doubles it, and so does a later one of a
        // storm that came back that soon and never let up (a slow ISR fills the unclaimed
        // rule's window in seconds); a trip after the rule saw the vector well, or after the
        // storm paused, starts over.
        let backoff: Duration? = source.storm.initialBackoff.map { initial in
            guard let previous = source.backoff, source.lastRearm != 0 else { return initial }
            let soon = (previous * 2).nanoseconds
            let letUp = switch rule {
            case .unclaimed: source.unclaimedLetUpSinceRearm
            case .rate: source.rateLetUpSinceRearm
            case .unquietedLine: true  // judged off the loop, which keeps no window for it: the time alone
            }
            let unbroken = !letUp && source.firstPassSinceRearm != 0 && source.firstPassSinceRearm &- source.lastRearm < soon
            guard now &- source.lastRearm < soon || unbroken else { return initial }
            // Never below the rules in force: they may have changed since the last trip.
            return max(initial, min(previous * 2, source.storm.maximumBackoff))
        }
        source.backoff = backoff
        source.containedSince = now
        source.rearmAt = backoff.map { now &+ $0.nanoseconds }
        contained.append(source)
        guard let device = record?.device else { return }
        let report = StormReport(device: device, vector: source.line.vector, message: source.key.message, rule: rule,
                                 trips: source.trips, backoff: backoff)
        logger.log(level: faultLevel(.warning), "\(report)")
        loop.events.publish(.stormContained(report))
    }

    /// Watches a contained source again: resume it at the backend, re-enable a
    /// level line (which fires at once if the device still asserts it), start the
    /// rules afresh, publish.
    func rearm(_ source: VectorSource) {
        guard source.containedSince != nil else { return }
        contained.removeAll { $0 === source }
        source.containedSince = nil
        source.rearmAt = nil
        source.lastRearm = MonotonicClock.nanoseconds()
        source.resetStormCounters()
        let record = table.devices[source.key.device]
        // Inactive (reported so by its driver): stays off until reported active.
        if !source.inactive {
            guard resume(source) else {
                logger.error("re-arming vector 0x\(String(source.line.vector, radix: 16)): it stays contained")
                return
            }
        }
        clearContainedMark(of: objects(on: source))
        if let device = record?.device {
            logger.log(level: faultLevel(.notice), "vector 0x\(String(source.line.vector, radix: 16)) of \(device) re-armed")
            loop.events.publish(.stormRearmed(device, vector: source.line.vector, message: source.key.message))
        }
    }

    /// Stops watching a source and suspends it at the backend (VFIO detaches a
    /// message's eventfd); a level line is left as it is (masked if it fired).
    func suspend(_ source: VectorSource) {
        selector.silence(source)
        guard let record = table.devices[source.key.device] else { return }
        do throws(BackendError) {
            try record.device.backend.suspendVector(record.kind, message: source.key.message)
        } catch {
            logger.warning("suspending vector 0x\(String(source.line.vector, radix: 16)) of \(record.device): \(error)")
        }
    }

    /// Undoes `suspend`: resumes the vector at the backend, watches it again (an
    /// eventfd counter that grew meanwhile is read at once), unmasks a level line
    /// a containment left masked (it fires at once if the device still asserts it).
    /// False when the selector refused (the source stays off).
    func resume(_ source: VectorSource) -> Bool {
        resumeAtBackend(source)
        do {
            try selector.resume(source)
        } catch {
            logger.error("watching vector 0x\(String(source.line.vector, radix: 16)) again: \(error)")
            return false
        }
        if source.leftMasked {
            source.leftMasked = false
            try? source.unmask.unmask()
        }
        return true
    }

    /// Resumes a suspended vector at the backend only (if its device is still on
    /// the loop): also when a silenced source is unwatched, so a later connect of
    /// the same message finds its eventfd attached.
    func resumeAtBackend(_ source: VectorSource) {
        guard let record = table.devices[source.key.device] else { return }
        do throws(BackendError) {
            try record.device.backend.resumeVector(record.kind, message: source.key.message)
        } catch {
            logger.warning("resuming vector 0x\(String(source.line.vector, radix: 16)) of \(record.device): \(error)")
        }
    }

    /// Re-arms every contained source whose back-off has run out.
    func rearmDueSources() {
        let now = MonotonicClock.nanoseconds()
        for source in contained where source.rearmAt.map({ $0 <= now }) == true { rearm(source) }
    }

    /// How long the loop may sleep before the next automatic re-arm (ms, rounded
    /// up), combined with the caller's timeout (-1: forever).
    func timeout(honouring timeout: Int32) -> Int32 {
        guard let next = nextRearm else { return timeout }
        let now = MonotonicClock.nanoseconds()
        let milliseconds = next > now ? Int32(clamping: (next - now + 999_999) / 1_000_000) : 0
        return timeout < 0 ? milliseconds : min(timeout, milliseconds)
    }

    /// The connected objects a source serves (its device's objects on its line, and
    /// legacy objects listening to its device's line).
    func objects(on source: VectorSource) -> [InterruptObject] {
        table.objects(servedBy: source)
    }

    /// Clears the contained mark of each object none of whose sources is contained any
    /// more (a legacy object hearing several cards' lines stays contained while another
    /// of them is).
    func clearContainedMark(of objects: [InterruptObject]) {
        for object in objects where !table.sources(of: object).contains(where: { $0.containedSince != nil }) {
            object.counters.contained.store(false, ordering: .releasing)
        }
    }

    /// A source leaves the table: forget it if contained.
    func forgetContained(_ source: VectorSource) {
        contained.removeAll { $0 === source }
    }
}
