import Foundation
import InterruptBridgeDaemon
import InterruptBridgeSystem
import Testing

/// The control API end to end, over the daemon's socket, on simulated devices.
@Suite("Daemon control API", .serialized)
struct ControlAPITests {
    static let configuration = """
        settings: {milestone: 100}
        simulated:
          fast: {interrupts: msix, vectors: 4, rate: 2000}
          line: {interrupts: intx}
          quiet: {interrupts: msi, vectors: 2}
        """

    @Test func devicesStatisticsTriggerAndWait() async throws {
        let daemon = try await DaemonHarness(Self.configuration)
        let devices = try await daemon.call("GET", "/v1/devices")
        #expect(devices.status == 200)
        #expect(devices.array.map { $0["id"] as? String } == ["fast", "line", "quiet"])
        #expect(devices.array.allSatisfy { $0["state"] as? String == "connected" && $0["simulated"] as? Bool == true })
        #expect(devices.array.map { $0["interruptKind"] as? String } == ["MSI-X", "INTx", "MSI"])

        // trigger raises exactly COUNT on a quiet device; wait sees them; statistics count them per vector.
        let reset = try await daemon.call("POST", "/v1/devices/quiet/counters/reset")
        #expect(reset.status == 200)
        // Since the reset: a wait that reached the daemon after the trigger (a loaded machine) still counts them.
        let waiting = Task { try await daemon.call("POST", "/v1/devices/quiet/wait", ["count": 20, "timeout": 10, "since": "reset"]) }
        try await Task.sleep(for: .milliseconds(100))
        let triggered = try await daemon.call("POST", "/v1/devices/quiet/trigger", ["count": 20])
        #expect(triggered.status == 200)
        #expect(triggered.json["raised"] as? Int == 20)
        let waited = try await waiting.value
        #expect(waited.json["satisfied"] as? Bool == true)
        let stats = try await daemon.call("GET", "/v1/devices/quiet/statistics")
        let vectors = stats.json["vectors"] as? [[String: Any]] ?? []
        #expect(vectors.count == 2)
        #expect(vectors.map { $0["interrupts"] as? Int ?? -1 } == [10, 10])
        #expect(stats.json["generated"] as? Int == 20)
        // Timings: every ISR call timed, every triggered interrupt's way to its ISR too.
        let isr = vectors.map { ($0["isrDuration"] as? [String: Any])?["count"] as? Int ?? -1 }
        let stimulus = vectors.map { ($0["stimulusToISR"] as? [String: Any])?["count"] as? Int ?? -1 }
        #expect(isr == [10, 10])
        #expect(stimulus.reduce(0, +) >= 18 && stimulus.reduce(0, +) <= 20, "\(stimulus)")
        #expect(((vectors.first?["stimulusToISR"] as? [String: Any])?["p50"] as? Double ?? 0) > 0)

        // A line device: triggered on its only vector, acknowledged by its ISR.
        let line = try await daemon.call("POST", "/v1/devices/line/trigger", ["count": 5, "vector": 0])
        #expect(line.json["raised"] as? Int == 5)

        // wait times out with satisfied false (ctl exits 1 on it).
        let timedOut = try await daemon.call("POST", "/v1/devices/quiet/wait", ["count": 1, "timeout": 0.2])
        #expect(timedOut.status == 200 && timedOut.json["satisfied"] as? Bool == false)

        // The generator's device: nothing lost, coalescing accounted.
        try await Task.sleep(for: .milliseconds(300))
        let fast = try await daemon.call("GET", "/v1/devices/fast/statistics")
        let generated = fast.json["generated"] as? Int ?? 0
        let signals = (fast.json["vectors"] as? [[String: Any]] ?? []).reduce(0) { $0 + ($1["signals"] as? Int ?? 0) }
        #expect(generated > 0)
        #expect(signals <= generated && generated - signals <= 4 * 2000)
        try await daemon.stop()
    }

    /// A second daemon on the same state directory (another socket) is refused before it
    /// reads the binding records there, which are the running daemon's: it would adopt
    /// them as an earlier run's and give the first daemon's devices back at its exit.
    @Test func aSecondDaemonOnTheSameStateDirectoryIsRefused() async throws {
        let daemon = try await DaemonHarness(Self.configuration)
        let arguments = ["socket": daemon.directory + "/run/second.sock", "metrics": "off", "state-directory": daemon.directory + "/state"]
        let loaded = try DaemonConfiguration.load(path: daemon.configurationPath, arguments: arguments, environment: [:])
        do {
            _ = try DaemonServices(settings: loaded.settings, table: loaded.table, configurationPath: daemon.configurationPath,
                                   arguments: arguments, environment: [:], logger: .silent("second"))
            Issue.record("a second daemon started on \(arguments["state-directory"]!)")
        } catch {
            #expect("\(error)" == "state directory: another irqbridge daemon (pid \(getpid())) uses \(daemon.directory)/state; "
                    + "its binding records and devices are its own")
        }
        let devices = try await daemon.call("GET", "/v1/devices")
        #expect(devices.array.allSatisfy { $0["state"] as? String == "connected" }, "the first daemon keeps its devices")
        try await daemon.stop()
    }

    /// A program of its own that embeds the daemon's services is held to the CLI's rule: a
    /// control socket at the state directory's lock file would replace it (a second daemon
    /// then failed with ENXIO, not "in use"), so the services are refused and the lock stays.
    @Test func aSocketAtTheLockFileIsRefusedByTheServicesToo() throws {
        let directory = "/tmp/irqbridge-clash-\(getpid())"
        defer { _ = try? FileManager.default.removeItem(atPath: directory) }
        let arguments = ["socket": directory + "/state/./daemon.lock", "metrics": "off", "state-directory": directory + "/state"]
        let loaded = try DaemonConfiguration.load(path: nil, arguments: arguments, environment: [:])
        let services = try DaemonServices(settings: loaded.settings, table: loaded.table, configurationPath: nil, arguments: arguments,
                                          environment: [:], logger: .silent("clash"))
        do {
            _ = try services.services()
            Issue.record("services with the socket at the lock file")
        } catch {
            #expect("\(error)" == "control socket: setting 'socket': \(directory)/state/./daemon.lock is the state directory's own (lock file): name another path")
        }
        #expect(FileIO.kind(ofEntry: directory + "/state/daemon.lock") == .regular, "the lock file is left as it was")
    }

    /// A metrics address this machine cannot listen on fails the start before any device
    /// is bound, naming the setting (192.0.2.1 is TEST-NET-1, never a local address).
    @Test func aMetricsAddressThatCannotBeListenedOnFailsTheStart() throws {
        let directory = "/tmp/irqbridge-listen-\(getpid())"
        defer { _ = try? FileManager.default.removeItem(atPath: directory) }
        let arguments = ["socket": directory + "/control.sock", "metrics": "192.0.2.1:9464", "state-directory": directory + "/state"]
        let loaded = try DaemonConfiguration.load(path: nil, arguments: arguments, environment: [:])
        do {
            _ = try DaemonServices(settings: loaded.settings, table: loaded.table, configurationPath: nil, arguments: arguments,
                                   environment: [:], logger: .silent("listen"))
            Issue.record("started with metrics on 192.0.2.1")
        } catch {
            #expect("\(error)".hasPrefix("setting 'metrics': cannot listen on 192.0.2.1:9464: bind: "), "\(error)")
        }
    }

    /// A wait cut short is not a timeout (which `ctl wait` reports as status 1): the
    /// device disconnected under it is a conflict, the daemon stopping is 503.
    @Test func waitCutShortIsNotATimeout() async throws {
        let daemon = try await DaemonHarness(Self.configuration)
        let disconnected = Task { try await daemon.call("POST", "/v1/devices/quiet/wait", ["count": 5, "timeout": 20]) }
        try await Task.sleep(for: .milliseconds(200))
        #expect(try await daemon.call("POST", "/v1/devices/quiet/disconnect").status == 200)
        let cut = try await disconnected.value
        #expect(cut.status == 409, "\(cut.status) \(cut.text)")
        // (On a machine too slow to have begun the wait in 200 ms, it finds the device disconnected.)
        #expect(cut.errorMessage.contains("quiet was disconnected after 0 of 5") || cut.errorMessage.contains("quiet is disconnected"),
                "\(cut.errorMessage)")

        let stopping = Task { try await daemon.call("POST", "/v1/devices/line/wait", ["count": 1_000_000, "timeout": 20]) }
        try await Task.sleep(for: .milliseconds(500))
        let start = ContinuousClock.now
        try await daemon.stop()
        let stopped = try await stopping.value
        #expect(stopped.status == 503, "\(stopped.status) \(stopped.text)")
        #expect(stopped.errorMessage.contains("the daemon is stopping"), "\(stopped.errorMessage)")
        #expect(ContinuousClock.now - start < .seconds(10))
    }

    /// A trigger cut short by the daemon stopping is 503 as a wait is, not the 409 of a
    /// device disconnected under it: a harness tells a shutdown from a device problem.
    @Test func aTriggerCutShortByTheStopIsUnavailable() async throws {
        let daemon = try await DaemonHarness(Self.configuration)
        let triggering = Task { try await daemon.call("POST", "/v1/devices/quiet/trigger", ["count": 100, "rate": 10]) }
        try await Task.sleep(for: .milliseconds(500))
        try await daemon.stop()
        let stopped = try await triggering.value
        #expect(stopped.status == 503, "\(stopped.status) \(stopped.text)")
        #expect(stopped.errorMessage.hasPrefix("the daemon is stopping: ") && stopped.errorMessage.contains(" of 100 interrupt(s) had been raised on quiet"),
                "\(stopped.errorMessage)")
    }

    /// A reload of a file with no bytes (one being rewritten) is refused, not taken for
    /// "no devices"; `{}` says that on purpose.
    @Test func aReloadOfAnEmptyFileIsRefused() async throws {
        let daemon = try await DaemonHarness(Self.configuration)
        try "".write(toFile: daemon.configurationPath, atomically: true, encoding: .utf8)
        let refused = try await daemon.call("POST", "/v1/reload")
        #expect(refused.status == 422 && refused.json["applied"] as? Bool == false, "\(refused.text)")
        #expect((refused.json["message"] as? String ?? "").contains("the file is empty or holds only comments"), "\(refused.text)")
        #expect(try await daemon.call("GET", "/v1/devices").array.count == 3, "nothing was given back")
        // The first lines of a file being rewritten: comments only.
        try "# rig daemon\n\n# devices below\n".write(toFile: daemon.configurationPath, atomically: true, encoding: .utf8)
        #expect(try await daemon.call("POST", "/v1/reload").status == 422)
        #expect(try await daemon.call("GET", "/v1/devices").array.count == 3, "nothing was given back")
        try "{}\n".write(toFile: daemon.configurationPath, atomically: true, encoding: .utf8)
        let emptied = try await daemon.call("POST", "/v1/reload")
        #expect(emptied.status == 200, "\(emptied.text)")
        #expect(try await daemon.call("GET", "/v1/devices").array.isEmpty)
        try await daemon.stop()
    }

    /// Disconnect is idempotent as connect is: a second one answers the device as it is.
    @Test func aSecondDisconnectIsNotAConflict() async throws {
        let daemon = try await DaemonHarness(Self.configuration)
        for _ in 0..<2 {
            let reply = try await daemon.call("POST", "/v1/devices/quiet/disconnect")
            #expect(reply.status == 200 && reply.json["state"] as? String == "configured", "\(reply.text)")
        }
        for _ in 0..<2 { #expect(try await daemon.call("POST", "/v1/devices/quiet/connect").json["state"] as? String == "connected") }
        try await daemon.stop()
    }

    @Test func badRequestsAreClearErrors() async throws {
        let daemon = try await DaemonHarness(Self.configuration)
        let cases: [(String, String, [String: any Sendable]?, Int, String)] = [
            ("GET", "/v1/devices/nosuch", nil, 404, "no device 'nosuch'"),
            ("POST", "/v1/devices/quiet/trigger", ["count": 0], 400, "count must be"),
            ("POST", "/v1/devices/quiet/trigger", ["vector": 9], 400, "vector 9"),
            ("POST", "/v1/devices/quiet/trigger", ["count": 133_708, "rate": 0.25], 400, "take 534832 s; a paced trigger lasts at most 3600 s"),
            ("POST", "/v1/devices/quiet/wait", ["timeout": -1], 400, "timeout"),
            ("POST", "/v1/devices/quiet/bind", nil, 409, "simulated"),
            ("POST", "/v1/devices/0000:00:1f.7/bind", ["driver": "nouveau"], 400, "vfio-pci or uio_pci_generic"),
            ("POST", "/v1/config/save", ["path": "/etc/passwd"], 400, "path must be"),
            ("POST", "/v1/config/save", ["path": "daemon.yaml"], 400, "path must be absolute"),
            ("POST", "/v1/devices/0000:3f:1f.7/bind", nil, 404, "0000:3f:1f.7"),
            // A GET takes no body; a number the key cannot hold is named as such, not "not valid JSON".
            ("GET", "/v1/health", ["x": 1], 400, "unknown key 'x' in the body (this call takes no body)"),
            ("GET", "/v1/devices/quiet/statistics", ["vector": 0], 400, "unknown key 'vector'"),
            ("POST", "/v1/devices/quiet/trigger", ["count": 1.5], 400, "count must be a whole number in range, not 1.5"),
        ]
        // A number no Double holds was Foundation's bare "The given data was not valid JSON.".
        for body in [#"{"rate": 1e400}"#, #"{"count": 1, "rate": -1e999}"#] {
            let reply = try await daemon.rawCall("POST", "/v1/devices/quiet/trigger", body: body)
            #expect(reply.status == 400 && (reply.json["error"] as? String ?? "").contains("is out of range"), "\(body): \(reply.text)")
        }
        for (method, path, body, status, message) in cases {
            let reply = try await daemon.call(method, path, body)
            #expect(reply.status == status, "\(method) \(path)")
            #expect((reply.json["error"] as? String ?? "").contains(message), "\(method) \(path): \(reply.text)")
            #expect(reply.json["status"] as? Int == status)
        }
        // A refused bind of a device the daemon did not know leaves no entry behind.
        let listed = try await daemon.call("GET", "/v1/devices").array.compactMap { $0["id"] as? String }
        #expect(listed == ["fast", "line", "quiet"], "\(listed)")
        try await daemon.stop()
    }

    @Test func eventsArriveInOrder() async throws {
        let daemon = try await DaemonHarness(Self.configuration)
        let lines = try await daemon.eventLines(timeout: .seconds(10)) { $0.count >= 5 }
        let events = lines.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        #expect(events.count == 5)
        let sequences = events.compactMap { $0["sequence"] as? Int }
        #expect(sequences.count == 5 && zip(sequences, sequences.dropFirst()).allSatisfy { $0 + 1 == $1 })
        #expect(events.contains { $0["kind"] as? String == "milestone" && $0["device"] as? String == "fast" })
        try await daemon.stop()
    }

    /// Issue 12 names the stream `GET /events`: that path serves the same NDJSON stream as
    /// `/v1/events` (and HEAD its headers), so a harness written from the issue finds it.
    @Test func theEventStreamIsAlsoAtSlashEvents() async throws {
        let daemon = try await DaemonHarness(Self.configuration)
        let head = try await daemon.call("HEAD", "/events")
        #expect(head.status == 200 && head.contentType == "application/x-ndjson" && head.body.isEmpty, "HEAD /events: \(head.status) \(head.text)")
        let lines = try await daemon.eventLines(path: "/events", timeout: .seconds(10)) { $0.count >= 3 }
        let events = lines.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        #expect(events.count == 3, "\(lines)")
        let sequences = events.compactMap { $0["sequence"] as? Int }
        #expect(sequences.count == 3 && zip(sequences, sequences.dropFirst()).allSatisfy { $0 + 1 == $1 })
        #expect(events.contains { $0["kind"] as? String == "milestone" && $0["device"] as? String == "fast" })
        try await daemon.stop()
    }

    /// Reset, act, then wait: with `since: reset` the interrupts that came before the call
    /// count, where a wait from now on would miss them.
    @Test func aWaitSinceTheResetCountsInterruptsThatCameBeforeIt() async throws {
        let daemon = try await DaemonHarness(Self.configuration)
        #expect(try await daemon.call("POST", "/v1/devices/quiet/counters/reset").status == 200)
        #expect(try await daemon.call("POST", "/v1/devices/quiet/trigger", ["count": 5]).status == 200)
        let since = try await daemon.call("POST", "/v1/devices/quiet/wait", ["count": 5, "timeout": 2, "since": "reset"])
        #expect(since.status == 200 && since.json["satisfied"] as? Bool == true && since.json["arrived"] as? Int == 5, "\(since.text)")
        let onVector = try await daemon.call("POST", "/v1/devices/quiet/wait", ["vector": 1, "count": 2, "timeout": 2, "since": "reset"])
        #expect(onVector.json["satisfied"] as? Bool == true && onVector.json["arrived"] as? Int == 2, "\(onVector.text)")
        let fromNow = try await daemon.call("POST", "/v1/devices/quiet/wait", ["count": 1, "timeout": 0.2])
        #expect(fromNow.json["satisfied"] as? Bool == false && fromNow.json["arrived"] as? Int == 0, "\(fromNow.text)")
        #expect(try await daemon.call("POST", "/v1/devices/quiet/counters/reset").status == 200)
        let afterReset = try await daemon.call("POST", "/v1/devices/quiet/wait", ["count": 1, "timeout": 0.2, "since": "reset"])
        #expect(afterReset.json["satisfied"] as? Bool == false && afterReset.json["arrived"] as? Int == 0, "\(afterReset.text)")
        let bad = try await daemon.call("POST", "/v1/devices/quiet/wait", ["since": "then"])
        #expect(bad.status == 400 && (bad.json["error"] as? String ?? "").contains("since must be"), "\(bad.text)")
        try await daemon.stop()
    }

    @Test func aTriggerCutShortIsAConflict() async throws {
        let daemon = try await DaemonHarness(Self.configuration)
        let triggering = Task { try await daemon.call("POST", "/v1/devices/quiet/trigger", ["count": 100_000, "rate": 200]) }
        try await Task.sleep(for: .milliseconds(300))
        #expect(try await daemon.call("POST", "/v1/devices/quiet/disconnect").status == 200)
        let triggered = try await triggering.value
        #expect(triggered.status == 409, "\(triggered.text)")
        #expect((triggered.json["error"] as? String ?? "").contains("was disconnected after"), "\(triggered.text)")
        #expect(!(triggered.json["error"] as? String ?? "").contains("after 0 of"), "nothing was raised before the disconnect")
        try await daemon.stop()
    }

    /// A trigger whose caller went away (a harness that timed out, a Ctrl-C'd `ctl trigger`)
    /// stops raising, and frees its slot: it would otherwise raise for up to an hour.
    @Test func aTriggerWhoseCallerLeftStopsRaising() async throws {
        let daemon = try await DaemonHarness(Self.configuration)
        func generated() async throws -> Int {
            try await daemon.call("GET", "/v1/devices/quiet/statistics").json["generated"] as? Int ?? -1
        }
        // The client gives up after 0.5 s and closes its connection.
        await #expect(throws: (any Error).self) {
            _ = try await daemon.call("POST", "/v1/devices/quiet/trigger", ["count": 100_000, "rate": 200], timeout: .milliseconds(500))
        }
        try await Task.sleep(for: .milliseconds(500))
        let first = try await generated()
        try await Task.sleep(for: .seconds(1))
        let second = try await generated()
        #expect(first > 0 && first == second, "raised \(first), then \(second) a second later")
        // The device takes the next trigger, and answers it on the same terms.
        let next = try await daemon.call("POST", "/v1/devices/quiet/trigger", ["count": 4])
        #expect(next.status == 200 && next.json["raised"] as? Int == 4, "\(next.text)")
        try await daemon.stop()
    }

    /// Every read answers HEAD as GET without a body (monitoring's `curl -I`); HEAD of the
    /// event stream gives its headers without watching, and a call that is no read is refused.
    @Test func headAnswersEveryReadWithoutABody() async throws {
        let daemon = try await DaemonHarness(Self.configuration)
        for path in ["/v1/health", "/v1/devices", "/v1/devices/quiet", "/v1/devices/quiet/statistics", "/v1/config", "/metrics"] {
            let get = try await daemon.call("GET", path), head = try await daemon.call("HEAD", path)
            #expect(head.status == 200 && get.status == 200 && head.body.isEmpty && head.contentType == get.contentType, "HEAD \(path): \(head.status) \(head.text)")
        }
        #expect(try await daemon.call("HEAD", "/v1/devices/nope").status == 404)
        let events = try await daemon.call("HEAD", "/v1/events")
        #expect(events.status == 200 && events.contentType == "application/x-ndjson" && events.body.isEmpty)
        #expect(try await daemon.call("GET", "/v1/health").json["eventWatchers"] as? Int == 0, "HEAD watched nothing")
        #expect(try await daemon.call("HEAD", "/v1/reload").status == 405)
        try await daemon.stop()
    }

    /// Each trigger raises on a thread of its own: a harness that fires them without waiting
    /// for the answers gets a 409 past 16 at once on a device, not a thread per request.
    @Test(.timeLimit(.minutes(1))) func aSeventeenthTriggerAtOnceIsAConflict() async throws {
        let daemon = try await DaemonHarness(Self.configuration)
        try await withThrowingTaskGroup(of: ControlClient.Reply.self) { group in
            for _ in 0..<17 {
                group.addTask { try await daemon.call("POST", "/v1/devices/quiet/trigger", ["count": 100_000, "rate": 200]) }
            }
            // Whichever came last is refused at once; the others raise for minutes.
            let refused = try #require(try await group.next())
            #expect(refused.status == 409 && refused.errorMessage == "quiet has 16 triggers running, the most at once: let one end first",
                    "\(refused.status) \(refused.text)")
            #expect(try await daemon.call("POST", "/v1/devices/fast/trigger", ["count": 1]).status == 200, "another device is not held back")
            #expect(try await daemon.call("POST", "/v1/devices/quiet/disconnect").status == 200)
            var cut = 0
            for try await reply in group where reply.status == 409 && reply.errorMessage.contains("was disconnected after") { cut += 1 }
            #expect(cut == 16)
        }
        #expect(try await daemon.call("POST", "/v1/devices/quiet/connect").status == 200)
        #expect(try await daemon.call("POST", "/v1/devices/quiet/trigger", ["count": 1]).status == 200, "the running ones have left")
        try await daemon.stop()
    }

    /// An event-stream client that goes is forgotten when its connection closes, not at the
    /// next event (a quiet daemon may publish none for hours).
    @Test func aWatcherThatLeavesIsForgottenBeforeTheNextEvent() async throws {
        let daemon = try await DaemonHarness("simulated:\n  quiet: {interrupts: msi, vectors: 2}\n")
        func watchers() async throws -> Int { try await daemon.call("GET", "/v1/health").json["eventWatchers"] as? Int ?? -1 }
        #expect(try await watchers() == 0)
        // The stream's headers, then the client closes its connection.
        let lines = try await daemon.eventLines(timeout: .seconds(10), until: { _ in true })
        #expect(lines.isEmpty, "no event was published: \(lines)")
        var left = try await watchers()
        let deadline = ContinuousClock.now + .seconds(5)
        while left != 0, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
            left = try await watchers()
        }
        #expect(left == 0, "the watcher whose client left is still counted")
        try await daemon.stop()
    }

    @Test func aGracefulShutdownsEventsReachTheWatchers() async throws {
        let daemon = try await DaemonHarness(Self.configuration)
        let watchersBefore = try await daemon.call("GET", "/v1/health").json["eventWatchers"] as? Int ?? 0
        let following = Task { try await daemon.eventLines(timeout: .seconds(30)) }
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline {
            if try await daemon.call("GET", "/v1/health", timeout: .seconds(2)).json["eventWatchers"] as? Int ?? 0 > watchersBefore { break }
            try await Task.sleep(for: .milliseconds(10))
        }
        try await daemon.stop()
        // The stream ends cleanly (not cut short) after the drain's events.
        let events = try await following.value.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        let disconnected = Set(events.filter { $0["kind"] as? String == "disconnected" }.compactMap { $0["device"] as? String })
        #expect(disconnected == ["fast", "line", "quiet"])
        #expect(events.last?["kind"] as? String == "stopping")
    }

    @Test func reloadAppliesTheDifferenceAndRejectsABadFile() async throws {
        let daemon = try await DaemonHarness(Self.configuration)
        let before = try await daemon.call("GET", "/v1/devices/fast")
        // Remove "line", add "extra", leave the rest untouched; a new log-level applies at once.
        try """
            settings: {milestone: 100, log-level: error}
            simulated:
              fast: {interrupts: msix, vectors: 4, rate: 2000}
              quiet: {interrupts: msi, vectors: 2}
              extra: {interrupts: msix, vectors: 8}
            """.write(toFile: daemon.configurationPath, atomically: true, encoding: .utf8)
        let reloaded = try await daemon.call("POST", "/v1/reload")
        #expect(reloaded.status == 200)
        #expect((reloaded.json["message"] as? String ?? "").contains("1 added, 0 changed, 1 removed"))
        #expect(JournalLogHandler(label: "after the reload", environment: [:]).logLevel == .error)
        #expect(JournalLogHandler(label: "a level of its own", level: .debug, environment: [:]).logLevel == .debug)
        let ids = try await daemon.call("GET", "/v1/devices").array.map { $0["id"] as? String ?? "" }
        #expect(ids == ["fast", "quiet", "extra"])
        let after = try await daemon.call("GET", "/v1/devices/fast")
        #expect((after.json["interrupts"] as? Int ?? 0) >= (before.json["interrupts"] as? Int ?? 0), "fast was not reconnected")

        try "devices: {bogus".write(toFile: daemon.configurationPath, atomically: true, encoding: .utf8)
        let rejected = try await daemon.call("POST", "/v1/reload")
        #expect(rejected.status == 422)
        #expect(rejected.json["applied"] as? Bool == false && rejected.json["failed"] as? [String] == [], "\(rejected.json)")
        #expect(try await daemon.call("GET", "/v1/devices").array.count == 3)

        // The running configuration replays to the same table.
        let saved = try await daemon.call("GET", "/v1/config")
        let text = saved.json["configuration"] as? String ?? ""
        let table = try DeviceTableLoader.load(text, file: "saved.yaml")
        #expect(table.simulated.map(\.name) == ["fast", "quiet", "extra"])
        #expect(table.simulated.first?.rate == 2000)
        try await daemon.stop()
    }

    /// Reloading an unchanged file leaves a simulated device disconnected through the API as
    /// it is, and tries a failed one again, saying "retried" (as for PCI entries), not "added".
    @Test func reloadingAnUnchangedFileKeepsADisconnectAndRetriesAFailure() async throws {
        let daemon = try await DaemonHarness("settings: {dispatch: {capacity: 64}}\nsimulated:\n  sim0: {interrupts: msi}\n  big: {interrupts: msix, vectors: 100}\n")
        let big = try await daemon.call("GET", "/v1/devices/big")
        #expect(big.json["state"] as? String == "failed")
        // Named by its name, not by the address no bus has that it sits at.
        let reason = big.json["reason"] as? String ?? ""
        #expect(reason.contains("simulated device 'big'") && !reason.contains("ffff:"), "\(reason)")
        #expect(try await daemon.call("POST", "/v1/devices/sim0/disconnect").status == 200)
        let reloaded = try await daemon.call("POST", "/v1/reload")
        #expect((reloaded.json["message"] as? String ?? "").contains("0 added, 0 changed, 0 removed, 1 retried, 1 failed (big)"), "\(reloaded.text)")
        #expect(try await daemon.call("GET", "/v1/devices/sim0").json["state"] as? String == "configured", "still disconnected")
        // Its entry changed: connected again under it, and said to be changed, not added.
        try "settings: {dispatch: {capacity: 64}}\nsimulated:\n  sim0: {interrupts: msi, rate: 10}\n  big: {interrupts: msix, vectors: 100}\n"
            .write(toFile: daemon.configurationPath, atomically: true, encoding: .utf8)
        let changed = try await daemon.call("POST", "/v1/reload")
        #expect((changed.json["message"] as? String ?? "").contains("0 added, 1 changed, 0 removed, 1 retried"), "\(changed.text)")
        #expect(try await daemon.call("GET", "/v1/devices/sim0").json["state"] as? String == "connected")
        try await daemon.stop()
    }

    @Test func metricsAreReadAtScrapeTime() async throws {
        let daemon = try await DaemonHarness(Self.configuration)
        try await Task.sleep(for: .milliseconds(200))
        let metrics = try await daemon.call("GET", "/metrics")
        #expect(metrics.status == 200)
        let text = metrics.text
        #expect(text.contains(#"irqbridge_interrupts_total{device="fast",kind="MSI-X",message=""}"#))
        #expect(text.contains(#"irqbridge_devices{state="connected"} 3"#))
        #expect(text.contains("irqbridge_ready 1"))
        // Start-up's own events are counted: each device connected, and the daemon ready.
        for device in ["fast", "line", "quiet"] {
            #expect(text.contains(#"irqbridge_events_total{device="\#(device)",kind="connected"} 1"#), "\(device) in \(text)")
        }
        #expect(text.contains(#"irqbridge_events_total{device="",kind="ready"} 1"#))
        // Each family keeps its name, type and HELP line.
        #expect(text.contains("# TYPE irqbridge_interrupts_total counter"))
        #expect(text.contains("# HELP irqbridge_interrupts_total ISR calls"))
        #expect(text.contains("# TYPE irqbridge_devices gauge"))
        #expect(text.contains("# HELP irqbridge_ready 1 once start-up"))
        #expect(text.contains("# TYPE irqbridge_dispatch_polled_batches_total counter"))
        #expect(text.contains("# TYPE irqbridge_dispatch_poll_window_closings_total counter"))
        #expect(text.contains("# TYPE irqbridge_isr_duration_seconds histogram"))
        // The process_* series Prometheus' client libraries export.
        #expect(text.contains("# TYPE process_cpu_seconds_total counter"))
        for name in ["process_resident_memory_bytes", "process_virtual_memory_bytes", "process_open_fds", "process_threads", "process_start_time_seconds"] {
            let value = text.split(separator: "\n").first { $0.hasPrefix(name + " ") }.flatMap { Double($0.split(separator: " ")[1]) }
            #expect((value ?? 0) > 0, "\(name)")
        }
        #expect(text.contains(#"irqbridge_isr_duration_seconds_bucket{device="fast",kind="MSI-X",le="+Inf"}"#))
        // Every series has the same label names (no per-CPU or per-message labels unless configured).
        #expect(!text.contains("cpu="))
        try await daemon.stop()
    }

    /// A device's vectors share one series: their counts are summed, and a series does not
    /// move between scrapes when nothing fired (a probe saw 7, 14, 21 for an idle 8-vector card).
    @Test func aMultiVectorDeviceIsOneSeriesThatHoldsStillWhenIdle() async throws {
        let daemon = try await DaemonHarness("simulated:\n  multi: {interrupts: msix, vectors: 4}\n")
        #expect(try await daemon.call("POST", "/v1/devices/multi/trigger", ["count": 10]).json["raised"] as? Int == 10)
        let series = #"irqbridge_interrupts_total{device="multi",kind="MSI-X",message=""} "#
        func value() async throws -> String? {
            try await daemon.call("GET", "/metrics").text.split(separator: "\n").first { $0.hasPrefix(series) }.map { String($0.dropFirst(series.count)) }
        }
        #expect(try await value() == "10")
        #expect(try await value() == "10")
        #expect(try await value() == "10")
        try await daemon.stop()
    }

    /// A reconnect does not lose counts: what the ended connection counted after the last
    /// scrape, and before it, stays in the series, which goes on from there (it had been
    /// folded only at scrape time, so 100 + 50 + reconnect + 10 read 110).
    @Test func aReconnectedDevicesSeriesGoesOnFromEverythingCounted() async throws {
        let daemon = try await DaemonHarness("simulated:\n  card: {interrupts: msi, vectors: 1}\n")
        let series = #"irqbridge_interrupts_total{device="card",kind="MSI",message=""} "#
        func value() async throws -> String? {
            try await daemon.call("GET", "/metrics").text.split(separator: "\n").first { $0.hasPrefix(series) }.map { String($0.dropFirst(series.count)) }
        }
        #expect(try await daemon.call("POST", "/v1/devices/card/trigger", ["count": 100]).status == 200)
        #expect(try await value() == "100")
        #expect(try await daemon.call("POST", "/v1/devices/card/trigger", ["count": 50]).status == 200)
        #expect(try await daemon.call("POST", "/v1/devices/card/disconnect").status == 200)
        #expect(try await value() == "150", "a disconnected device's series holds what it counted")
        #expect(try await daemon.call("POST", "/v1/devices/card/connect").status == 200)
        #expect(try await daemon.call("POST", "/v1/devices/card/trigger", ["count": 10]).status == 200)
        #expect(try await value() == "160")
        #expect(try await daemon.call("POST", "/v1/devices/card/disconnect").status == 200)
        #expect(try await daemon.call("POST", "/v1/devices/card/connect").status == 200)
        #expect(try await daemon.call("POST", "/v1/devices/card/trigger", ["count": 200]).status == 200)
        #expect(try await value() == "360", "a new connection's count above the last reading is not mistaken for the same connection's")
        try await daemon.stop()
    }

    /// Reconnected with fewer vectors of the same kind (a reload), the device's one series
    /// still holds what the vectors it lost counted: dropped, the series fell, and the export
    /// took the fall for a counter reset and counted the new connection's value again.
    @Test func aReconnectWithFewerVectorsKeepsTheSeries() async throws {
        let daemon = try await DaemonHarness("simulated:\n  card: {interrupts: msix, vectors: 4}\n")
        let series = #"irqbridge_interrupts_total{device="card",kind="MSI-X",message=""} "#
        func value() async throws -> String? {
            try await daemon.call("GET", "/metrics").text.split(separator: "\n").first { $0.hasPrefix(series) }.map { String($0.dropFirst(series.count)) }
        }
        #expect(try await daemon.call("POST", "/v1/devices/card/trigger", ["count": 100]).status == 200)
        #expect(try await value() == "100")
        try "simulated:\n  card: {interrupts: msix, vectors: 2}\n".write(toFile: daemon.configurationPath, atomically: true, encoding: .utf8)
        #expect(try await daemon.call("POST", "/v1/reload").status == 200)
        #expect(try await value() == "100")
        #expect(try await daemon.call("POST", "/v1/devices/card/trigger", ["count": 10]).status == 200)
        #expect(try await value() == "110")
        try await daemon.stop()
    }

    /// Turning per-message-metrics on for a connected device relabels its series without
    /// reconnecting it (its counts go on).
    @Test func perMessageMetricsChangeWithoutAReconnect() async throws {
        let daemon = try await DaemonHarness("simulated:\n  card: {interrupts: msix, vectors: 2}\n")
        #expect(try await daemon.call("POST", "/v1/devices/card/trigger", ["count": 4]).status == 200)
        try "simulated:\n  card: {interrupts: msix, vectors: 2, per-message-metrics: true}\n".write(
            toFile: daemon.configurationPath, atomically: true, encoding: .utf8)
        let reloaded = try await daemon.call("POST", "/v1/reload")
        #expect(reloaded.json["message"] as? String == "reloaded: 0 added, 1 changed, 0 removed", "\(reloaded.json)")
        let status = try await daemon.call("GET", "/v1/devices/card").json
        #expect(status["interrupts"] as? Int == 4, "the connection and its counts stayed: \(status)")
        let text = try await daemon.call("GET", "/metrics").text
        #expect(text.contains(#"irqbridge_interrupts_total{device="card",kind="MSI-X",message="1"} 2"#), "\(text)")
        #expect(!text.contains(#"device="card",kind="MSI-X",message=""}"#), "the summed series went")
        try await daemon.stop()
    }

    /// A series a device no longer has is dropped: its kind changed by a reload, or the
    /// device left the configuration. (Weeks of reconfiguration must not grow the scrape.)
    @Test func seriesADeviceNoLongerHasAreDropped() async throws {
        let daemon = try await DaemonHarness("simulated:\n  card: {interrupts: intx}\n  other: {interrupts: msi, vectors: 1}\n")
        #expect(try await daemon.call("POST", "/v1/devices/card/trigger", ["count": 3]).status == 200)
        let before = try await daemon.call("GET", "/metrics").text
        #expect(before.contains(#"irqbridge_interrupts_total{device="card",kind="INTx",message=""} 3"#), "\(before)")
        #expect(before.contains(#"device="other""#))
        try "simulated:\n  card: {interrupts: msi, vectors: 1}\n".write(toFile: daemon.configurationPath, atomically: true, encoding: .utf8)
        #expect(try await daemon.call("POST", "/v1/reload").status == 200)
        let after = try await daemon.call("GET", "/metrics").text
        #expect(after.contains(#"irqbridge_interrupts_total{device="card",kind="MSI",message=""}"#), "\(after)")
        #expect(!after.contains(#"kind="INTx""#), "the INTx series went with the INTx connection")
        #expect(!after.contains(#"irqbridge_interrupts_total{device="other""#), "a device out of the configuration has no series")
        #expect(!after.contains(#"irqbridge_isr_duration_seconds_bucket{device="card",kind="INTx""#))
        try await daemon.stop()
    }
}

/// Bad input to the API is a 400 or 404 with the documented error body, and changes nothing.
@Suite("Daemon control API: bad input")
struct ControlAPIBadInputTests {
    /// A body that is not JSON says where it breaks (Foundation alone says "not valid JSON").
    @Test func aMalformedBodyIsPlaced() async throws {
        let daemon = try await DaemonHarness("simulated:\n  quiet: {interrupts: msi, vectors: 2}\n")
        for (body, expected) in [(#"{"count": 1"#, "the body is not valid JSON: line 1, column 12: expected ',' or '}', found the end of the text"),
                                 ("{\"count\": 1\n \"vector\": 0}", #"the body is not valid JSON: line 2, column 2: expected ',' or '}', found '"'"#),
                                 (#"{count: 1}"#, "the body is not valid JSON: line 1, column 2: expected a key in double quotes, found 'c'")] {
            let reply = try await daemon.rawCall("POST", "/v1/devices/quiet/trigger", body: body)
            #expect(reply.status == 400 && (reply.json["error"] as? String) == expected, "\(body): \(reply.text)")
        }
        #expect(try await daemon.call("GET", "/v1/devices/quiet/statistics").json["generated"] as? Int == 0, "nothing was raised")
        try await daemon.stop()
    }

    /// A key written twice: the decoder would keep the last and drop the first without a word.
    @Test func aKeyWrittenTwiceInABodyIsRefused() async throws {
        let daemon = try await DaemonHarness("simulated:\n  quiet: {interrupts: msi, vectors: 2}\n")
        let twice = try await daemon.rawCall("POST", "/v1/devices/quiet/trigger", body: #"{"count": 1, "count": 3}"#)
        #expect(twice.status == 400 && twice.text.contains("'count' is written twice in the body"), "\(twice.text)")
        let escaped = try await daemon.rawCall("POST", "/v1/devices/quiet/trigger", body: #"{"count": 1, "\u0063ount": 3}"#)
        #expect(escaped.status == 400, "a key spelt with an escape is the same key: \(escaped.text)")
        #expect(try await daemon.call("GET", "/v1/devices/quiet/statistics").json["generated"] as? Int == 0, "nothing was raised")
        let once = try await daemon.rawCall("POST", "/v1/devices/quiet/trigger", body: #"{"count": 3}"#)
        #expect(once.status == 200, "\(once.text)")
        try await daemon.stop()
    }

    @Test func unknownKeysMalformedIdsAndUnknownCallsAreErrorsWithABody() async throws {
        let daemon = try await DaemonHarness("simulated:\n  quiet: {interrupts: msi, vectors: 2}\n")
        let misspelt = try await daemon.call("POST", "/v1/devices/quiet/trigger", ["cont": 3])
        #expect(misspelt.status == 400)
        #expect((misspelt.json["error"] as? String)?.contains("unknown key 'cont'") == true, "\(misspelt.json)")
        let stats = try await daemon.call("GET", "/v1/devices/quiet/statistics")
        #expect(stats.json["generated"] as? Int == 0, "the refused trigger raised nothing")
        let defaults = try await daemon.call("POST", "/v1/devices/quiet/trigger", nil)
        #expect(defaults.status == 200 && defaults.json["raised"] as? Int == 1, "no body: the defaults")

        // A call that takes no body refuses one, and does nothing; `{}` is no body.
        for path in ["/v1/devices/quiet/disconnect", "/v1/devices/quiet/counters/reset", "/v1/counters/reset", "/v1/reload"] {
            let refused = try await daemon.call("POST", path, ["bogus": true])
            #expect(refused.status == 400 && (refused.json["error"] as? String)?.contains("this call takes no body") == true, "\(path): \(refused.text)")
        }
        #expect(try await daemon.call("GET", "/v1/devices/quiet").json["state"] as? String == "connected", "the refused disconnect did nothing")
        #expect(try await daemon.call("POST", "/v1/devices/quiet/rearm", [:]).status == 200)
        // An id percent-encoded in the path (as ctl and curl send what a path cannot carry) is decoded.
        #expect(try await daemon.call("GET", "/v1/devices/%71uiet").json["id"] as? String == "quiet")

        let malformed = try await daemon.call("GET", "/v1/devices/0000:zz:00.0")
        #expect(malformed.status == 400 && malformed.json["status"] as? Int == 400, "\(malformed.json)")
        let unknown = try await daemon.call("GET", "/v1/devices/0000:00:1e.7")
        #expect(unknown.status == 404)

        // A path the API does not have is a 404; one it has, asked with a method it does not
        // take, a 405 naming the methods it does (in the Allow header and the message).
        for (method, path, status, allowed) in [("GET", "/v2/anything", 404, nil), ("GET", "/v1/devices/quiet/extra/segment", 404, nil),
                                                ("DELETE", "/v1/devices/quiet", 405, "GET, HEAD"),
                                                ("POST", "/v1/health", 405, "GET, HEAD"), ("GET", "/v1/reload", 405, "POST"),
                                                ("PUT", "/v1/devices/nope/bind", 405, "POST"), ("POST", "/metrics", 405, "GET, HEAD"),
                                                ("DELETE", "/events", 405, "GET, HEAD")] {
            let reply = try await daemon.call(method, path)
            #expect(reply.status == status, "\(method) \(path): \(reply.text)")
            #expect(reply.json["status"] as? Int == reply.status && reply.json["error"] is String, "\(method) \(path): \(reply.json)")
            if let allowed {
                #expect((reply.json["error"] as? String)?.hasSuffix("this path takes \(allowed) only") == true, "\(reply.json)")
                let raw = try await daemon.rawAnswer(method, path)
                #expect(raw.lowercased().contains("\r\nallow: \(allowed.lowercased())\r\n"), "\(method) \(path): \(raw)")
            }
        }
        try await daemon.stop()
    }
}

/// Saving the running configuration over the configuration file keeps the file's mode.
@Suite("Daemon control API: saving the configuration")
struct ControlAPISaveTests {
    @Test func savingOverTheConfigurationFileKeepsItsModeAndReloadsTheSame() async throws {
        let daemon = try await DaemonHarness("simulated:\n  quiet: {interrupts: msi, vectors: 2}\n")
        chmod(daemon.configurationPath, 0o644)
        let saved = try await daemon.call("POST", "/v1/config/save", ["path": daemon.configurationPath])
        #expect(saved.status == 200, "\(saved.text)")
        let attributes = try FileManager.default.attributesOfItem(atPath: daemon.configurationPath)
        #expect((attributes[.posixPermissions] as? Int) == 0o644, "the file's mode is kept")
        #expect(try String(contentsOfFile: daemon.configurationPath, encoding: .utf8).contains("quiet"))
        let reloaded = try await daemon.call("POST", "/v1/reload")
        #expect(reloaded.status == 200, "\(reloaded.text)")
        try await daemon.stop()
    }

    /// A reload names a changed `shutdown-timeout` as waiting for a restart; saving over the
    /// file then keeps the edit (it used to write the running value back, undoing it before
    /// the restart could apply it), while GET /v1/config still shows what runs.
    @Test func savingAfterAReloadKeepsASettingWaitingForTheRestart() async throws {
        let daemon = try await DaemonHarness("settings: {shutdown-timeout: 20, log-level: info}\nsimulated:\n  quiet: {interrupts: msi}\n")
        try "settings: {shutdown-timeout: 7, log-level: warning}\nsimulated:\n  quiet: {interrupts: msi}\n"
            .write(toFile: daemon.configurationPath, atomically: true, encoding: .utf8)
        let reloaded = try await daemon.call("POST", "/v1/reload")
        #expect((reloaded.json["message"] as? String)?.hasSuffix("needs a restart to change: shutdown-timeout") == true, "\(reloaded.text)")
        let running = try await daemon.call("GET", "/v1/config").json["configuration"] as? String ?? ""
        #expect(running.contains("shutdown-timeout: \"20\"") && running.contains("log-level: \"warning\""), "\(running)")
        let saved = try await daemon.call("POST", "/v1/config/save", ["path": daemon.configurationPath])
        #expect(saved.status == 200, "\(saved.text)")
        let file = try String(contentsOfFile: daemon.configurationPath, encoding: .utf8)
        #expect(file.contains("shutdown-timeout: \"7\"") && file.contains("log-level: \"warning\"") && file.contains("quiet"), "\(file)")
        #expect(saved.json["configuration"] as? String == file, "the answer is what was written")
        try await daemon.stop()
    }
}

extension ControlAPISaveTests {
    /// The state directory holds the daemon's own entries (by default the control socket,
    /// /run/irqbridge/control.sock, and the CLI's trigger sockets): a save renamed over a socket
    /// took the API away, over a FIFO or `bindings` the binding records' place, and a directory
    /// or an over-long name was a 500. Each is a 400 that leaves the entry as it was.
    @Test func savingOverASocketFIFOOrDirectoryInTheStateDirectoryIsRefused() async throws {
        let daemon = try await DaemonHarness("simulated:\n  quiet: {interrupts: msi, vectors: 2}\n")
        let state = daemon.directory + "/state"
        try FileManager.default.createDirectory(atPath: state + "/sub", withIntermediateDirectories: true)
        #expect(mkfifo(state + "/fifo", 0o600) == 0)
        let listener = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(listener) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array((state + "/other.sock").utf8) + [0]) }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        #expect(bound == 0)
        let cases: [(String, String)] = [
            ("other.sock", "is a socket"), ("fifo", "is a FIFO"), ("sub", "is a directory"),
            ("bindings", "the daemon's own"), (String(repeating: "b", count: 250), "at most 200"),
        ]
        for (name, message) in cases {
            let reply = try await daemon.call("POST", "/v1/config/save", ["path": state + "/" + name])
            #expect(reply.status == 400 && (reply.json["error"] as? String ?? "").contains(message), "\(name): \(reply.status) \(reply.text)")
        }
        var status = stat()
        #expect(lstat(state + "/other.sock", &status) == 0 && status.st_mode & S_IFMT == S_IFSOCK, "the socket is still there")
        #expect(lstat(state + "/fifo", &status) == 0 && status.st_mode & S_IFMT == S_IFIFO)
        #expect(!FileManager.default.fileExists(atPath: state + "/bindings"))
        let saved = try await daemon.call("POST", "/v1/config/save", ["path": state + "/saved.yaml"])
        #expect(saved.status == 200, "a new file in the state directory is still written: \(saved.text)")
        #expect(try await daemon.call("GET", "/v1/health").status == 200)
        try await daemon.stop()
    }
}

/// The loopback TCP API tells callers apart as the socket does: root (or the daemon's
/// uid) may steer, anyone else gets 403, though TCP carries no credentials.
@Suite("Daemon control API over TCP")
struct ControlAPIOverTCPTests {
    /// One GET and one POST through python3's urllib, as `uid` (nil: as this process).
    static func call(port: Int, path: String, method: String, as uid: Int?) async throws -> (status: Int, body: String) {
        let script = """
            import sys, urllib.request, urllib.error
            request = urllib.request.Request(sys.argv[1], method=sys.argv[2], data=b"{}" if sys.argv[2] == "POST" else None)
            try:
                reply = urllib.request.urlopen(request, timeout=10)
                print(reply.status); print(reply.read().decode())
            except urllib.error.HTTPError as error:
                print(error.code); print(error.read().decode())
            """
        // The system's python3: another user cannot reach root's pyenv.
        let python = ["/usr/bin/python3", "-c", script, "http://127.0.0.1:\(port)\(path)", method]
        let arguments = uid.map { ["setpriv", "--reuid=\($0)", "--regid=\($0)", "--clear-groups"] + python } ?? python
        return try await offTheCooperativePool {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = arguments
            let output = Pipe()
            process.standardOutput = output
            try process.run()
            let data = output.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            let lines = String(decoding: data, as: UTF8.self).split(separator: "\n", maxSplits: 1).map(String.init)
            return (Int(lines.first ?? "") ?? -1, lines.count > 1 ? lines[1] : "")
        }
    }

    @Test(.enabled(if: getuid() == 0, "needs root, to call as another user"))
    func anotherUserIsRefusedAndRootIsServed() async throws {
        let port = Int.random(in: 20_000...60_000)
        let daemon = try await DaemonHarness("settings: {api: \"127.0.0.1:\(port)\"}\nsimulated:\n  line: {interrupts: intx}\n")
        let root = try await Self.call(port: port, path: "/v1/devices", method: "GET", as: nil)
        #expect(root.status == 200, "\(root.body)")
        let nobody = try await Self.call(port: port, path: "/v1/devices/line/disconnect", method: "POST", as: 65534)
        #expect(nobody.status == 403, "\(nobody.body)")
        #expect(nobody.body.contains("uid 65534"), "\(nobody.body)")
        let still = try await daemon.call("GET", "/v1/devices/line")
        #expect(still.json["state"] as? String == "connected", "the refused call changed nothing")
        try await daemon.stop()
    }
}
