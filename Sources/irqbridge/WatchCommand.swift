import ArgumentParser
import Foundation
import InterruptBridge
import InterruptBridgeCore
import InterruptBridgeSystem
import InterruptBridgeTooling
import Synchronization
import Glibc
import InterruptBridgeDiscovery
import Logging

/// `irqbridge watch [BDF...] [--interval S] [--json]`.
struct WatchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "watch",
        abstract: "Connect devices' interrupts and show, live, what arrives per vector.",
        discussion: """
            Connects each device (message-based, falling back to its INTx line) with its \
            profile's acknowledge, or counting only for MSI/MSI-X when no profile matches; an \
            INTx line without an acknowledge program is refused (a level line the ISR does not \
            quiet either storms or stays masked). Every --interval: per vector the count, the \
            rate, the unclaimed count and the kernel's own count from /proc/interrupts, with the \
            kind and DIRQL, and since the watch began the ISR's duration (p50/p99) and, for \
            interrupts raised by `irqbridge trigger`, the stimulus-to-ISR latency (p50/p99/max), \
            as the dispatch loop measured them. On a terminal a refreshing table; piped or with --json one JSON object \
            per line per vector per interval, and once more at the end with the final counts. \
            Ctrl-C (SIGINT), SIGTERM, SIGHUP (unless ignored, as under nohup) or the end of --duration disconnects and prints a summary (exit 0). While it runs, `irqbridge trigger` on one of the devices asks it to raise \
            interrupts. Without an address, every device bound to vfio-pci or uio_pci_generic.
            """
    )

    @Argument(help: ArgumentHelp("The PCI devices (default: every one bound to vfio-pci or uio_pci_generic).", valueName: "BDF"))
    var devices: [String] = []

    @Option(parsing: .unconditional, help: "Seconds between refreshes.")
    var interval: Double = 1

    @Option(parsing: .unconditional, help: "End after this many seconds with the summary (exit 0), as Ctrl-C does; for scripts (default: until a signal).")
    var duration: Double?

    @Flag(help: "One JSON object per line per vector per interval, also on a terminal.")
    var json = false

    @Flag(help: "Connect INTx lines instead of messages (needs acknowledge programs).")
    var lineBased = false

    @OptionGroup var profiles: ProfileOptions
    @OptionGroup var connectPolicy: ConnectPolicyOption
    @OptionGroup var logging: DeviceLoggingOptions

    func validate() throws {
        for device in devices where PCIAddress(device) == nil {
            throw CommandFailure.notAPCIAddress(device)
        }
        // Named twice, the second session would find the device held by the first and
        // report "in use by another process" about this one.
        var named: [PCIAddress: String] = [:]
        for device in devices {
            if let address = PCIAddress(device), let earlier = named.updateValue(device, forKey: address) {
                throw CommandFailure.badInput("\(address) is named twice ('\(earlier)' and '\(device)')")
            }
        }
        guard interval >= 0.05, interval <= 3600 else { throw CommandFailure.badInput("--interval must be 0.05...3600 seconds, not \(interval)") }
        if let duration, !(duration > 0 && duration <= 31_536_000) {
            throw CommandFailure.badInput("--duration must be more than 0 and at most 31536000 seconds (a year), not \(duration)")
        }
    }

    /// One connected device and where its trigger requests arrive.
    private struct Watched {
        let session: DeviceSession
        let connected: ConnectedInterrupts
        let socket: OwnedDescriptor?
        let socketPath: String
    }

    func run() throws {
        // A reader that went away (`| head -n 3`) ends the watch; once the devices and the
        // trigger sockets are given up, the command dies of SIGPIPE, as a pipeline expects.
        defer { if Signals.received == SIGPIPE { Signals.endAsReceived() } }
        try watchInterrupts()
    }

    private func watchInterrupts() throws {
        let policies = try connectPolicy.table()
        let logger = logging.makeLogger("irqbridge.watch")
        let addresses = try chosenAddresses(logger: logger)
        let dispatcher: InterruptDispatcher
        do { dispatcher = try InterruptDispatcher(logger: logger, options: DispatchOptions(recordsTimings: true)) } catch { throw CommandFailure.failed("cannot start the dispatcher: \(error)") }
        defer { dispatcher.shutdown() }
        var watched: [Watched] = []
        // Devices removed or unbound while watched: their trigger sockets are already closed.
        var gone = Set<PCIAddress>()
        var lastGone: PCIAddress?
        defer {
            for entry in watched.reversed() {
                if let socket = entry.socket, !gone.contains(entry.session.info.address) { unlink(entry.socketPath); socket.close() }
                entry.connected.disconnect()
                // A cause left pending must not assert a line nobody handles (not for one gone).
                if !gone.contains(entry.session.info.address) { entry.session.quiesce() }
                entry.session.close()
            }
        }
        for address in addresses {
            let session: DeviceSession
            let connected: ConnectedInterrupts
            do {
                session = try DeviceSession.open(address, profileFiles: profiles.profile, logger: logger)
                do { connected = try session.connect(dispatcher, lineBased: lineBased, policy: policies.policy(for: session.info)) } catch { session.close(); throw error }
            } catch DeviceSessionError.badInput(let message) where devices.isEmpty {
                // Chosen for the user (every bound device): one that cannot be watched is skipped, said once.
                printError("irqbridge: not watching \(address): \(message)")
                continue
            }
            do { try session.stimulus?.setup() } catch { throw CommandFailure.failed("\(address): the stimulus's set-up failed: \(error)") }
            _ = mkdir("/run/irqbridge", 0o700)
            let path = DeviceSession.triggerSocket(address)
            watched.append(Watched(session: session, connected: connected, socket: try? UnixDatagram.bind(path), socketPath: path))
        }
        guard !watched.isEmpty else { throw CommandFailure.badInput("none of the bound devices can be watched (each is said above)") }
        // SIGINT, SIGTERM and SIGHUP (unless nohup ignores it) end the watch with its summary
        // (status 0); SIGPIPE ends it too (see run).
        Signals.recordInterruptions(also: [SIGPIPE])
        let table = !json && isatty(1) != 0
        var rows = WatchRows(watched.map { ($0.session.info.address, $0.connected, $0.session.stimulus?.kernelCounts != false, $0.session.uioIRQ) })
        // From the baseline on: --duration and --interval count the watch itself.
        let started = ContinuousClock.now
        let ends = duration.map { started + .nanoseconds(Int64($0 * 1e9)) }
        let stopRequested = { Signals.received != nil || ends.map { ContinuousClock.now >= $0 } == true }
        var next = started + .nanoseconds(Int64(interval * 1e9))
        // Every --interval, also while a trigger request is being served (which can last hours at a low --rate).
        func sampleWhenDue() {
            guard ContinuousClock.now >= next else { return }
            rows.sample(kernel: try? ProcInterrupts.readTable(), elapsed: ContinuousClock.now - started)
            print(table ? "\u{1B}[H\u{1B}[2J" + rows.table : rows.json, terminator: table ? "" : "\n")
            fflush(nil)
            next += .nanoseconds(Int64(interval * 1e9))
            // A sample slower than the interval: the next one an interval from now, not at once.
            if next < ContinuousClock.now { next = ContinuousClock.now + .nanoseconds(Int64(interval * 1e9)) }
        }
        while !stopRequested() {
            for entry in watched where !gone.contains(entry.session.info.address) {
                // Its socket goes, so a trigger reaches the device itself, or whoever holds it next.
                if entry.connected.wereDisconnected {
                    gone.insert(entry.session.info.address)
                    lastGone = entry.session.info.address
                    if let socket = entry.socket { unlink(entry.socketPath); socket.close() }
                    // Let go of it now, not when the watch ends: the kernel's unbind waits for the
                    // last mapping of its BARs (the acknowledge program's), and so would whoever asked.
                    entry.session.letGo()
                    // The last one is named in the final error line instead.
                    if gone.count < watched.count { printError("irqbridge: \(entry.session.info.address) was removed or unbound; no longer watched") }
                    continue
                }
                if let socket = entry.socket { TriggerRelay.serve(socket, session: entry.session, connected: entry.connected,
                                                                          holderEnding: stopRequested, meanwhile: sampleWhenDue) }
            }
            if gone.count == watched.count { break }
            rows.lookForSharedLines()
            sampleWhenDue()
            PThread.sleep(for: .milliseconds(2))
        }
        rows.sample(kernel: try? ProcInterrupts.readTable(), elapsed: ContinuousClock.now - started)
        // Piped or --json, the closing sample is a JSON line too: what arrived since the last
        // interval (all of it, when --duration is shorter than --interval) would otherwise be
        // only in the summary, which --json sends to standard error.
        if !table, Signals.received != SIGPIPE { print(rows.json); fflush(nil) }
        // With --json, standard output carries JSON only: the closing summary goes to standard error.
        if json { printError(rows.summary) } else if Signals.received != SIGPIPE { print((table ? "\n" : "") + rows.summary) }
        if !watched.isEmpty, gone.count == watched.count {
            throw CommandFailure.failed(watched.count == 1 ? "\(watched[0].session.info.address) was removed or unbound; nothing left to watch"
                                        : "every watched device was removed or unbound, the last \(lastGone.map { "\($0)" } ?? "?")")
        }
    }

    private func chosenAddresses(logger: Logger) throws -> [PCIAddress] {
        if !devices.isEmpty { return devices.compactMap(PCIAddress.init) }
        // A malformed function elsewhere on the bus does not hide the bound ones.
        let bound = (try? PCIDiscovery(logger: logger).decodedDevices().devices) ?? []
        let chosen = bound.filter { $0.driver == "vfio-pci" || $0.driver == "uio_pci_generic" }.map(\.address)
        guard !chosen.isEmpty else { throw CommandFailure.badInput("no device is bound to vfio-pci or uio_pci_generic: irqbridge bind BDF first") }
        return chosen
    }
}
