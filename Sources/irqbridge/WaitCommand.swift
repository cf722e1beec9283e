import ArgumentParser
import InterruptBridge
import InterruptBridgeCore
import InterruptBridgeSystem
import InterruptBridgeTooling
import Glibc

/// `irqbridge wait BDF [--vector N] [--count K] --timeout T`: for scripts.
struct WaitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "wait",
        abstract: "Wait for a device's interrupts: exit 0 when they arrived, 1 on timeout, 2 on error.",
        discussion: """
            Connects an ISR to the device (message-based, falling back to its INTx line; INTx only \
            with a profile that acknowledges), then waits until --count interrupts arrived on \
            --vector (on any vector by default) or --timeout seconds passed, and prints what \
            arrived per vector. On an INTx line only the calls the acknowledge claimed count: \
            an unclaimed one is the line signalled again because the acknowledge did not find \
            (or clear) the device's cause, and the count says how many were left out. While it \
            waits, `irqbridge trigger` on the same device asks this process to raise interrupts; a request it has begun is carried out in full (within \
            --timeout) before the wait ends, even when --count is reached first, so the trigger \
            gets every raise it asked for. Ctrl-C, SIGTERM or SIGHUP (unless ignored, as under nohup) stops the raising at \
            once and ends the wait, cleaned up, as the signal asked (130, 143, 129); the trigger being interrupted stops \
            the raising at once too.
            """
    )

    @OptionGroup var device: DeviceArgument

    @Option(parsing: .unconditional, help: "Count interrupts of this message number only (default: any).")
    var vector: Int?

    @Option(parsing: .unconditional, help: "How many interrupts to wait for.")
    var count = 1

    @Option(parsing: .unconditional, help: "Seconds to wait before giving up (exit status 1; any other failure is 2).")
    var timeout: Double

    @Flag(help: "Connect the INTx line instead of messages (needs an acknowledge program).")
    var lineBased = false

    @OptionGroup var profiles: ProfileOptions
    @OptionGroup var connectPolicy: ConnectPolicyOption
    @OptionGroup var output: JSONFlag
    @OptionGroup var logging: DeviceLoggingOptions

    func validate() throws {
        guard (1...1_000_000_000).contains(count) else { throw CommandFailure.badInput("--count must be 1...1000000000, not \(count)") }
        if let vector, vector < 0 { throw CommandFailure.badInput("--vector must be 0 or more, not \(vector)") }
        guard timeout > 0, timeout <= 86_400 else { throw CommandFailure.badInput("--timeout must be above 0 and at most 86400 seconds, not \(timeout)") }
    }

    func run() throws {
        // Interrupted (Ctrl-C, `timeout`, a harness's kill): the device and the trigger socket
        // are given up first, then the command ends of the signal.
        Signals.recordInterruptions()
        defer { Signals.endAsReceived() }
        try CommandFailure.whileWaiting(waitForInterrupts)
    }

    private func waitForInterrupts() throws {
        let policies = try connectPolicy.table()
        let logger = logging.makeLogger("irqbridge.wait")
        let session = try DeviceSession.open(device.address, profileFiles: profiles.profile, requiringAMatch: true, logger: logger)
        // After the disconnect: a cause left pending must not assert a line nobody handles.
        defer { session.quiesce(); session.close() }
        let dispatcher: InterruptDispatcher
        do { dispatcher = try InterruptDispatcher(logger: logger) } catch { throw CommandFailure.failed("cannot start the dispatcher: \(error)") }
        defer { dispatcher.shutdown() }
        let connected = try session.connect(dispatcher, lineBased: lineBased, policy: policies.policy(for: session.info))
        defer { connected.disconnect() }
        if let vector, let refusal = connected.vectorRefusal(vector, of: device.address) { throw CommandFailure.badInput(refusal) }
        do { try session.stimulus?.setup() } catch { throw CommandFailure.failed("the stimulus's set-up failed: \(error)") }
        let socketPath = DeviceSession.triggerSocket(device.address)
        let socket = try? openTriggerSocket(socketPath)
        defer {
            if let socket {
                unlink(socketPath)
                socket.close()
            }
        }
        let baselineTable = try? ProcInterrupts.readTable()
        let kernelBaseline = baselineTable.map { table in
            connected.objects.map { KernelInterruptCounts.ownCount(of: $0, address: device.address, uioIRQ: session.uioIRQ, in: table) }
        }
        // Another handler on the line at any moment of the wait (another card's irqbridge
        // or driver that came and went) puts its interrupts in the line's count.
        let lineIRQs = connected.objects.map {
            SharedLineLatch.lineIRQ(of: $0, address: device.address, uioIRQ: session.uioIRQ, in: baselineTable)
        }
        var sharing = SharedLineLatch(irqs: lineIRQs.compactMap { $0 })
        if !output.json {
            print("waiting for \(count) interrupt(s) on \(vector.map { "vector \($0)" } ?? "any vector") of \(device.address) (\(connected.summary))")
            fflush(nil)
        }
        // Raised through VFIO's loopback: nothing is pending for a status-reading acknowledge to claim.
        let raisedByLoopback = session.stimulus?.kernelCounts == false
        func arrived(on index: Int) -> UInt64 {
            let object = connected.objects[index]
            // The claims as counted, not calls less unclaimed: read apart while a line is
            // re-signalled thousands of times a second, those two differ by passes in flight.
            return WaitArrivals.count(kind: object.kind, calls: object.serviceCallCount, claimed: object.claimedCount,
                                      raisedByLoopback: raisedByLoopback)
        }
        func arrived() -> UInt64 {
            vector.map { arrived(on: $0) } ?? connected.objects.indices.map { arrived(on: $0) }.reduce(0, +)
        }
        let deadline = ContinuousClock.now + .nanoseconds(Int64(timeout * 1e9))
        var timedOut = false
        var relayedRaises = 0, relayedAtARate = false
        while arrived() < UInt64(count) {
            if Signals.received != nil { return }
            sharing.lookIfDue()
            if ContinuousClock.now >= deadline { timedOut = true; break }
            if connected.wereDisconnected {
                throw CommandFailure.failed("\(device.address) was removed or unbound while waiting: \(arrived()) of \(count) interrupt(s) arrived")
            }
            if let socket, (try? FileIO.waitReadable(socket.rawValue, timeoutMilliseconds: 0)) == true {
                // The raising stops at this wait's deadline or a signal, not at its count: a device that
                // signals some raises twice (QEMU's e1000e) reaches the count early, and the trigger that
                // asked for K raises gets them all.
                let served = TriggerRelay.serve(socket, session: session, connected: connected,
                                                holderEnding: { Signals.received != nil || ContinuousClock.now >= deadline })
                relayedRaises += served.raised
                relayedAtARate = relayedAtARate || served.paced
            } else {
                PThread.sleep(for: .microseconds(500))
            }
        }
        sharing.look()
        // One reading of the counters for every line printed, so the lines add up while a
        // device goes on interrupting.
        // Claimed, then unclaimed, then the calls: a pass counts its call first, so neither is the larger.
        let claimedReading = connected.objects.map(\.claimedCount)
        let unclaimedReading = connected.objects.map(\.unclaimedCount)
        let calls = connected.objects.map(\.serviceCallCount)
        let unclaimed = zip(unclaimedReading, calls).map { min($0, $1) }
        let kernel = (try? ProcInterrupts.readTable()).map { table in
            connected.objects.map { KernelInterruptCounts.ownCount(of: $0, address: device.address, uioIRQ: session.uioIRQ, in: table) }
        }
        var vectors: [[String: Any?]] = []
        for (index, object) in connected.objects.enumerated() {
            var since: UInt64?
            let shared = sharing.note(irq: lineIRQs[index], during: "wait")
            // A count that went backwards (a processor taken offline) compares with nothing.
            if shared == nil, let now = kernel?[index] ?? nil, let base = kernelBaseline?[index] ?? nil, now >= base { since = now - base }
            // A vector is shown when the ISR ran or the kernel counted an interrupt on it: one
            // the kernel took that never reached the ISR is what a bring-up most needs to see.
            // So is one whose line another card shared meanwhile: why it has no kernel count.
            guard calls[index] > 0 || since.map({ $0 > 0 }) == true || shared != nil else { continue }
            // Raises relayed through VFIO's loopback never reach the kernel: no comparison then.
            // Claimed calls only: another device's interrupts on a shared line run this ISR, unclaimed.
            let comparable = object.kind == .intx && session.stimulus?.kernelCounts != false
            let claimed = calls[index] - min(calls[index], unclaimed[index])
            let note = (comparable ? KernelInterruptCounts.unquietedLineNote(calls: claimed, kernel: since) : nil)
                ?? UnclaimedCallsNote.note(calls: calls[index], unclaimed: unclaimed[index])
            // The kernel's figure beside raises it never saw reads as lost interrupts: say why it is lower.
            let loopbackRaised = session.stimulus?.kernelCounts == false && relayedRaises > 0
            if output.json {
                vectors.append(["message": Int(object.messageID), "kind": object.kind.description, "interrupts": calls[index],
                                "unclaimed": unclaimed[index], "kernel": since, "kernelSeesRaises": !loopbackRaised, "warning": note])
            } else {
                print("vector \(object.messageID): \(calls[index]) interrupt(s), \(unclaimed[index]) unclaimed"
                      + (since.map { ", kernel \($0)" + (loopbackRaised ? " (trigger raised through VFIO's loopback, which the kernel does not count)" : "") }
                         ?? shared.map { ", no kernel count (\($0))" } ?? "")
                      + (note.map { "; warning: " + $0 } ?? ""))
            }
        }
        let counted = connected.objects.indices.map {
            WaitArrivals.count(kind: connected.objects[$0].kind, calls: calls[$0], claimed: claimedReading[$0], raisedByLoopback: raisedByLoopback)
        }
        let total = vector.map { counted[$0] } ?? counted.reduce(0, +)
        let declined = (vector.map { calls[$0] } ?? calls.reduce(0, +)) - total
        // A line's unclaimed calls are re-signals the acknowledge declined (it tests the wrong bit, or clears nothing): say so.
        let leftOut = declined > 0 ? " (\(declined) unclaimed call(s) on the INTx line left out: the acknowledge declined them)" : ""
        if output.json {
            print(JSONLine.object(["device": device.address.description, "vector": vector, "expected": count, "arrived": total,
                                   "timedOut": timedOut, "timeoutSeconds": timeout, "vectors": vectors]))
            if timedOut { throw ExitCode.failure }
            return
        }
        if timedOut {
            print("timed out after \(timeout) s: \(total) of \(count) interrupt(s) arrived" + leftOut
                  + (relayedAtARate && relayedRaises >= count && total > 0 ? "; \(relayedRaises) were raised through trigger requests, and raises "
                     + "at a --rate faster than the ISR is served fold into fewer interrupts (a lower --rate keeps them apart)" : ""))
            throw ExitCode.failure
        }
        print("\(total) interrupt(s) arrived" + leftOut)
    }

    private func openTriggerSocket(_ path: String) throws(SystemError) -> OwnedDescriptor {
        _ = mkdir("/run/irqbridge", 0o700)
        return try UnixDatagram.bind(path)
    }

}

/// One line on standard error, not an exit (the command goes on).
func printError(_ message: String) {
    var line = message + "\n"
    line.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
}
