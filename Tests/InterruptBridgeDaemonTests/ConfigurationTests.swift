import Foundation
import InterruptBridgeCore
import InterruptBridgeDaemon
import InterruptBridgeDiscovery
import Testing

@Suite("Daemon configuration file")
struct DeviceTableLoaderTests {
    static let full = """
        settings:
          socket: /run/x/control.sock
          metrics: off
          dispatch: {cpu: 1}
          storm: {rate-limit: 500, rate-window-ms: 50}
        default: {MSISupported: true}
        devices:
          "0000:00:03.0":
            driver: vfio-pci
            profile: edu
            connect: line-based
            on-exit: keep
            storm: {rate-limit: 1000, rate-window-ms: 100}
            MSISupported: false
          "8086:10d3":
            driver: vfio-pci
            from: e1000e
            per-message-metrics: true
        simulated:
          sim0: {interrupts: msix, vectors: 16, rate: 1000}
          sim1: {interrupts: intx}
        """

    @Test func readsEverySection() throws {
        let table = try DeviceTableLoader.load(Self.full, file: "d.yaml")
        #expect(table.settings == ["socket": "/run/x/control.sock", "metrics": "off", "dispatch.cpu": "1",
                                   "storm.rate-limit": "500", "storm.rate-window-ms": "50"])
        #expect(table.defaults?.msiSupported == true)
        #expect(table.devices.count == 2)
        let edu = table.devices[0]
        #expect(edu.selector == .address(PCIAddress("0000:00:03.0")!))
        #expect(edu.connect == .lineBased && edu.onExit == .keep && edu.profile == "edu")
        #expect(edu.storm?.rateLimit == 1000 && edu.storm?.rateWindow == .milliseconds(100))
        #expect(edu.policy?.msiSupported == false)
        let nic = table.devices[1]
        #expect(nic.selector == .ids(vendor: 0x8086, device: 0x10d3))
        #expect(nic.from == "e1000e" && nic.perMessageMetrics && nic.policy == nil)
        #expect(table.simulated.map(\.name) == ["sim0", "sim1"])
        #expect(table.simulated[0].vectors == 16 && table.simulated[0].rate == 1000 && table.simulated[1].kind == .intx)
    }

    /// Issue 12's device table names a "connect version": the wdm.h names of the versions
    /// are taken too, and save-config writes the file's own spelling back.
    @Test func theConnectVersionTakesItsWDMName() throws {
        let table = try DeviceTableLoader.load("""
            devices:
              "0000:00:03.0": {connect: CONNECT_LINE_BASED, profile: edu}
              "0000:00:04.0": {connect: CONNECT_MESSAGE_BASED}
            """, file: "d.yaml")
        #expect(table.devices.map(\.connect) == [.lineBased, .messageBased])
        #expect(ConnectVersion(spelling: "CONNECT_FULLY_SPECIFIED") == nil)
    }

    /// A reload applies log level, milestone, shutdown timeout and storm rules at once; what belongs to
    /// the running daemon (listeners, dispatch thread, the state directory with its lock and
    /// binding records) is named as needing a restart, in the file's own spelling.
    @Test func aReloadNamesEverySettingItCannotApply() {
        let running = DaemonSettings()
        var applied = running
        applied.logLevel = .debug
        applied.milestone = 5
        applied.storm.rateLimit += 1
        #expect(running.changesNeedingRestart(to: applied).isEmpty)
        var moved = running
        moved.stateDirectory = "/var/lib/irqbridge"
        #expect(running.changesNeedingRestart(to: moved) == ["state-directory"])
        // The service group's graceful-shutdown limit is set when the group is made: a reload
        // that said it applied a new one left the start-up value in force.
        moved.shutdownTimeout = .seconds(3)
        #expect(running.changesNeedingRestart(to: moved) == ["state-directory", "shutdown-timeout"])
        moved.shutdownTimeout = running.shutdownTimeout
        moved.socketPath = "/run/other.sock"
        moved.apiAddress = ListenAddress(host: "127.0.0.1", port: 9000)
        moved.metricsAddress = nil
        moved.dispatchCPU = 1
        #expect(running.changesNeedingRestart(to: moved) == ["socket", "metrics", "api", "state-directory", "dispatch"])
    }

    /// A file saved after such a reload keeps what waits for the restart as the loaded file has
    /// it, and every setting the reload applied as it runs.
    @Test func aSavedFileKeepsEverySettingWaitingForARestart() {
        let running = DaemonSettings()
        var pending = running
        pending.socketPath = "/run/other.sock"
        pending.metricsAddress = nil
        pending.apiAddress = ListenAddress(host: "127.0.0.1", port: 9000)
        pending.stateDirectory = "/var/lib/irqbridge"
        pending.shutdownTimeout = .seconds(3)
        pending.dispatchCPU = 1
        pending.realtimePriority = 10
        pending.dispatchCapacity = 99
        pending.recordsTimings = !running.recordsTimings
        pending.pollWindowMicroseconds = running.pollWindowMicroseconds + 1
        pending.logLevel = .debug
        pending.milestone = 7
        pending.storm.rateLimit += 1
        let saved = running.withRestartOnlySettings(of: pending)
        #expect(running.changesNeedingRestart(to: pending) == ["socket", "metrics", "api", "state-directory", "shutdown-timeout", "dispatch"])
        #expect(saved.changesNeedingRestart(to: pending).isEmpty)
        #expect(saved.logLevel == running.logLevel && saved.milestone == running.milestone && saved.storm == running.storm)
        // Each dispatch setting on its own.
        for change in [{ (s: inout DaemonSettings) in s.dispatchCPU = 0 }, { $0.realtimePriority = 5 }, { $0.dispatchCapacity = 7 },
                       { $0.recordsTimings.toggle() }, { $0.pollWindowMicroseconds += 3 }] {
            var one = running
            change(&one)
            #expect(running.withRestartOnlySettings(of: one) == one)
        }
    }

    @Test func jsonIsReadToo() throws {
        let table = try DeviceTableLoader.load(#"{"devices": {"0000:00:05.0": {"driver": "uio_pci_generic"}}}"#, file: "d.json")
        #expect(table.devices.first?.driver == .uioPCIGeneric)
    }

    @Test func anEmptyFileIsAnEmptyTable() throws {
        #expect(try DeviceTableLoader.load("", file: "d.yaml") == DeviceTable())
    }

    /// Each kind of mistake: one error naming file, line and field.
    @Test(arguments: [
        ("devices:\n  \"0000:00:03.0\":\n    drivr: vfio-pci\n", "d.yaml:3:", "unknown key 'drivr'"),
        ("devices:\n  \"0000:00:03.0\":\n    driver: nouveau\n", "d.yaml:3:", "not vfio-pci or uio_pci_generic"),
        ("devices:\n  \"00:03\":\n    driver: vfio-pci\n", "d.yaml:2:", "neither a PCI address"),
        ("devices:\n  \"0000:00:03.0\": {connect: sideways}\n", "d.yaml:2:", "not one of message-based, line-based"),
        ("devices:\n  \"0000:00:03.0\": {profile: nosuch}\n", "d.yaml:2:", "neither a built-in profile"),
        ("devices:\n  \"0000:00:03.0\": {profile: /nonexistent/card.yaml}\n", "d.yaml:2:", "profile: /nonexistent/card.yaml: cannot read the profile"),
        ("devices:\n  \"0000:00:03.0\": {MessageNumberLimit: 0}\n", "d.yaml:2:", "at least 1"),
        ("devices:\n  \"0000:00:03.0\": {storm: {rate-limit: lots}}\n", "d.yaml:2:", "'lots' is not"),
        ("devices:\n  \"0000:00:03.0\": {storm: {rearm-after-ms: 0}}\n", "d.yaml:2:", "'0' is not milliseconds (1...3600000) or never"),
        ("devices:\n  \"0000:00:03.0\": {storm: {rearm-after-ms: -1}}\n", "d.yaml:2:", "'-1' is not milliseconds (1...3600000) or never"),
        ("devices:\n  \"0000:00:03.0\": {storm: {rearm-after-ms: soon}}\n", "d.yaml:2:", "'soon' is not milliseconds (1...3600000) or never"),
        ("devices:\n  \"0000:00:03.0\": {storm: {rearm-after-ms: 3600001}}\n", "d.yaml:2:", "'3600001' is not milliseconds"),
        ("devices:\n  \"0000:00:03.0\": {storm: {rearm-max-ms: 0}}\n", "d.yaml:2:", "'0' is not milliseconds (1...3600000)"),
        ("settings:\n  sockt: /x\n", "d.yaml:2:", "unknown key 'sockt'"),
        ("settings:\n  dispatch: {core: 1}\n", "d.yaml:2:", "unknown key 'core'"),
        ("simulated:\n  s0: {interrupts: msi, vectors: 64}\n", "d.yaml:2:", "vector count for MSI"),
        ("simulated:\n  \"bad name\": {}\n", "d.yaml:2:", "a simulated device's name"),
        ("simulated:\n  \"sim-\u{00FC}\": {}\n", "d.yaml:2:", "a simulated device's name is ASCII"),
        ("- a\n- b\n", "d.yaml:1:1: (configuration)", "expected a mapping, found a list"),
        ("devices: {bogus\n", "d.yaml:", "not valid YAML"),
        ("hosts: []\n", "d.yaml:1:", "unknown key 'hosts'"),
    ])
    func mistakesAreOneClearError(text: String, location: String, message: String) {
        #expect {
            try DeviceTableLoader.load(text, file: "d.yaml")
        } throws: { error in
            let description = "\(error)"
            return description.hasPrefix(location) && description.contains(message) && !description.contains("\n")
        }
    }

    /// A settings value that does not work names where it came from: its place in the file,
    /// or the variable that put it there; a flag's or a variable's good value over a bad one
    /// in the file is no error (a file shared by rigs, a variable per machine).
    @Test func aBadSettingNamesWhereItCameFrom() throws {
        let table = try DeviceTableLoader.load("settings:\n  log-level: info\n  dispatch:\n    poll-window-us: -5\n  storm: {unclaimed-limit: 20, unclaimed-window: 10}\n", file: "d.yaml")
        func failure(_ arguments: [String: String] = [:], _ environment: [String: String] = [:], file: [String: String]? = nil) -> String {
            do {
                _ = try DaemonSettings.load(arguments: arguments, environment: environment, file: file ?? table.settings, locations: table.settingLocations)
                return "no error"
            } catch { return "\(error)" }
        }
        #expect(failure() == "d.yaml:4:21: setting 'dispatch.poll-window-us': '-5' is not microseconds (0...10000; 0: always sleep)")
        #expect(failure(["dispatch.poll-window-us": "7"]) == "d.yaml:5:28, d.yaml:5:50: settings 'storm.unclaimed-limit' and "
                 + "'storm.unclaimed-window': the unclaimed limit must be 1...10 (the window)")
        // An unrelated storm variable is not named; a flag is the caller's own.
        #expect(failure(["dispatch.poll-window-us": "7"], ["IRQBRIDGE_STORM_RATE_LIMIT": "100"]).hasPrefix("d.yaml:5:28, d.yaml:5:50: "))
        #expect(failure(["dispatch.poll-window-us": "7", "storm.unclaimed-window": "10"]).hasPrefix("d.yaml:5:28: settings"))
        #expect(failure([:], ["IRQBRIDGE_DISPATCH_POLL_WINDOW_US": "x"]).hasPrefix("IRQBRIDGE_DISPATCH_POLL_WINDOW_US: setting 'dispatch.poll-window-us': 'x'"))
        #expect(failure(["dispatch.poll-window-us": "-1"]).hasPrefix("setting 'dispatch.poll-window-us': '-1'"), "a flag: the caller typed it")
        #expect(failure(["dispatch.poll-window-us": "7", "storm.unclaimed-limit": "5"]) == "no error")
        #expect(failure([:], ["IRQBRIDGE_DISPATCH_POLL_WINDOW_US": "7", "IRQBRIDGE_STORM_UNCLAIMED_WINDOW": "5"])
                == "d.yaml:5:28, IRQBRIDGE_STORM_UNCLAIMED_WINDOW: settings 'storm.unclaimed-limit' and 'storm.unclaimed-window': "
                + "the unclaimed limit must be 1...5 (the window)")
    }

    /// `rearm-after-ms` and `rearm-max-ms` set the storm back-off, a device's and the daemon's
    /// default alike, from the file, a variable or a flag; `never` leaves a contained vector
    /// off until an explicit rearm (what a harness holding a storm needs).
    @Test func theRearmBackOffIsSetAtEveryLevelAndNeverMeansOnlyAnExplicitRearm() throws {
        let table = try DeviceTableLoader.load("""
            settings:
              storm: {rearm-after-ms: never, rearm-max-ms: 2000}
            devices:
              "0000:00:03.0": {storm: {rearm-after-ms: 500, rearm-max-ms: 8000}}
              "0000:00:04.0": {storm: {rearm-after-ms: never}}
            """, file: "d.yaml")
        #expect(table.settings == ["storm.rearm-after-ms": "never", "storm.rearm-max-ms": "2000"])
        #expect(table.devices[0].storm?.initialBackoff == .milliseconds(500) && table.devices[0].storm?.maximumBackoff == .seconds(8))
        #expect(table.devices[1].storm?.initialBackoff == .some(nil) && table.devices[1].storm?.maximumBackoff == nil)
        let file = try DaemonSettings.load(arguments: [:], environment: [:], file: table.settings, locations: table.settingLocations)
        #expect(table.devices[1].stormPolicy(over: file.storm).maximumBackoff == .seconds(2), "settings.storm's")
        #expect(file.storm.initialBackoff == nil && file.storm.maximumBackoff == .seconds(2))
        #expect(file.fileValues["storm.rearm-after-ms"] == "never" && file.fileValues["storm.rearm-max-ms"] == "2000")
        let environment = ["IRQBRIDGE_STORM_REARM_AFTER_MS": "500", "IRQBRIDGE_STORM_REARM_MAX_MS": "4000"]
        let overridden = try DaemonSettings.load(arguments: [:], environment: environment, file: table.settings)
        #expect(overridden.storm.initialBackoff == .milliseconds(500) && overridden.storm.maximumBackoff == .seconds(4))
        #expect(DaemonSettings.unknownEnvironment(environment).isEmpty)
        let flagged = try DaemonSettings.load(arguments: ["storm.rearm-after-ms": "never"], environment: [:], file: [:])
        #expect(flagged.storm.initialBackoff == nil && flagged.storm.maximumBackoff == StormPolicy.default.maximumBackoff)
    }

    /// A first back-off longer than the longest is named by both keys' places in the file.
    @Test func aRearmBackOffAboveItsMaximumNamesBothKeys() throws {
        let table = try DeviceTableLoader.load("settings:\n  storm: {rearm-after-ms: 5000, rearm-max-ms: 1000}\n", file: "d.yaml")
        #expect {
            try DaemonSettings.load(arguments: [:], environment: [:], file: table.settings, locations: table.settingLocations)
        } throws: { error in
            "\(error)" == "d.yaml:2:27, d.yaml:2:47: settings 'storm.rearm-after-ms' and 'storm.rearm-max-ms': "
                + "the initial back-off must be positive and at most the maximum back-off"
        }
    }

    /// A profile file is read with the configuration: `--check` and a reload refuse a broken one.
    @Test func aProfileFileIsCheckedWithTheConfiguration() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("irqbridge-profile-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let good = directory.appendingPathComponent("good.yaml").path
        let broken = directory.appendingPathComponent("broken.yaml").path
        try """
            name: card
            match: {vendor: 0x1234, device: 0x11e8}
            acknowledge:
              - return: claimed
            """.write(toFile: good, atomically: true, encoding: .utf8)
        try """
            name: card
            match: {vendor: 0x1234, device: 0x11e8}
            acknowlege:
              - return: claimed
            """.write(toFile: broken, atomically: true, encoding: .utf8)
        let table = try DeviceTableLoader.load("devices:\n  \"0000:00:03.0\": {profile: \(good)}\n", file: "d.yaml")
        #expect(table.devices.first?.profile == good)
        #expect {
            try DeviceTableLoader.load("devices:\n  \"0000:00:03.0\": {profile: \(broken)}\n", file: "d.yaml")
        } throws: { error in
            let description = "\(error)"
            return description.hasPrefix("d.yaml:2:") && description.contains("profile: \(broken):")
                && description.contains("acknowlege") && !description.contains("\n")
        }
    }

    /// A relative profile path is beside the configuration file, whatever directory the
    /// daemon runs in: `--check` by hand in one's own and the unit in / read the same file.
    @Test func aRelativeProfileIsBesideTheConfiguration() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("irqbridge-beside-\(getpid())")
        try FileManager.default.createDirectory(at: directory.appendingPathComponent("profiles"), withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try "name: card\nmatch: {vendor: 0x1234, device: 0x11e8}\nacknowledge:\n  - return: claimed\n"
            .write(toFile: directory.appendingPathComponent("profiles/card.yaml").path, atomically: true, encoding: .utf8)
        let configuration = directory.appendingPathComponent("daemon.yaml").path
        try "devices:\n  \"0000:00:03.0\": {profile: profiles/card.yaml}\n".write(toFile: configuration, atomically: true, encoding: .utf8)
        #expect(FileManager.default.currentDirectoryPath != directory.path)
        let table = try DeviceTableLoader.load(contentsOf: configuration)
        #expect(table.devices.first?.profile == directory.appendingPathComponent("profiles/card.yaml").path)
    }

    @Test func aMissingFileIsUnreadable() {
        #expect(throws: DaemonConfigurationError.self) { try DeviceTableLoader.load(contentsOf: "/nonexistent/irqbridge.yaml") }
    }
}

@Suite("Daemon settings: flags > IRQBRIDGE_* > file > defaults")
struct DaemonSettingsTests {
    @Test func defaultsWithNothingGiven() throws {
        let settings = try DaemonSettings.load(arguments: [:], environment: [:], file: [:])
        #expect(settings == DaemonSettings())
        #expect(settings.socketPath == "/run/irqbridge/control.sock")
        #expect(settings.metricsAddress?.description == "127.0.0.1:9464")
        for good in ["[::1]:9464", "0.0.0.0:9464", "[fe80::a:2]:80", "rig-monitor:9464"] {
            #expect(ListenAddress(good) != nil, "\(good)")
        }
        #expect(settings.apiAddress == nil)
    }

    /// Port 0 is the kernel's pick for each, and another loopback address is another listener.
    @Test func metricsAndAPIMayShareAHostOrPortZero() throws {
        for (metrics, api) in [("127.0.0.1:0", "127.0.0.1:0"), ("127.0.0.1:19600", "127.0.0.2:19600"), ("127.0.0.1:19600", "[::1]:19600"),
                               ("127.0.0.1:19600", "127.0.0.1:19601")] {
            let settings = try DaemonSettings.load(arguments: ["metrics": metrics, "api": api], environment: [:], file: [:])
            #expect(settings.apiAddress != nil, "\(metrics) and \(api)")
        }
    }

    /// A CPU this machine does not have online is a bad setting (exit 2 at --check or start),
    /// not a start that fails at the pinning (exit 1) after --check passed it.
    @Test func aDispatchCPUThatIsNotOnlineIsABadSetting() throws {
        // What this process may run on (a cpuset or taskset narrows the online ones).
        let online = try #require(DaemonSettings.usableProcessors())
        guard let missing = (0...63).first(where: { !online.contains($0) }) else { return }  // a 64-CPU machine has none to name
        #expect(throws: DaemonConfigurationError.self) {
            try DaemonSettings.load(arguments: ["dispatch.cpu": "\(missing)"], environment: [:], file: [:])
        }
        do {
            _ = try DaemonSettings.load(arguments: ["dispatch.cpu": "\(missing)"], environment: [:], file: [:])
        } catch {
            #expect("\(error)".contains("not a CPU this process may run on"), "\(error)")
        }
        #expect(try DaemonSettings.load(arguments: ["dispatch.cpu": "\(online[0])"], environment: [:], file: [:]).dispatchCPU == online[0])
    }

    @Test func precedence() throws {
        // dispatch.cpu must name a CPU this process may run on: the first and the last.
        let online = try #require(DaemonSettings.usableProcessors())
        let file = ["log-level": "debug", "milestone": "5", "dispatch.cpu": "\(online.first!)", "socket": "/file.sock"]
        let environment = ["IRQBRIDGE_MILESTONE": "7", "IRQBRIDGE_DISPATCH_CPU": "\(online.last!)", "IRQBRIDGE_SOCKET": "/env.sock", "PATH": "/bin"]
        let arguments = ["socket": "/flag.sock"]
        let settings = try DaemonSettings.load(arguments: arguments, environment: environment, file: file)
        #expect(settings.socketPath == "/flag.sock")
        #expect(settings.milestone == 7)
        #expect(settings.dispatchCPU == online.last)
        #expect(settings.logLevel == .debug)
    }

    @Test(arguments: [
        (["metrics": "nowhere"], "setting 'metrics'"),
        (["metrics": "300.0.0.1:9464"], "setting 'metrics'"),
        (["metrics": "1.2.3:9464"], "setting 'metrics'"),
        (["metrics": "[fe80::1::2]:9464"], "setting 'metrics'"),
        (["api": "0.0.0.0:80"], "loopback"),
        (["api": "127.evil.example:80"], "loopback"),
        (["metrics": "127.0.0.1:19600", "api": "127.0.0.1:19600"], "settings 'metrics' and 'api': they are the same address"),
        (["metrics": "localhost:19600", "api": "127.0.0.1:19600"], "settings 'metrics' and 'api': they are the same address"),
        (["metrics": "0.0.0.0:19600", "api": "127.0.0.1:19600"], "settings 'metrics' and 'api': they are the same address"),
        (["log-level": "loud"], "setting 'log-level'"),
        (["dispatch.fifo": "100"], "SCHED_FIFO"),
        (["dispatch.poll-window-us": "-1"], "setting 'dispatch.poll-window-us'"),
        (["dispatch.poll-window-us": "10001"], "0...10000"),
        (["storm.rate-window-ms": "0"], "milliseconds"),
        (["storm.rearm-after-ms": "0"], "setting 'storm.rearm-after-ms': '0' is not milliseconds (1...3600000) or never"),
        (["storm.rearm-after-ms": "-1"], "setting 'storm.rearm-after-ms': '-1' is not milliseconds (1...3600000) or never"),
        (["storm.rearm-after-ms": "soon"], "setting 'storm.rearm-after-ms': 'soon' is not milliseconds (1...3600000) or never"),
        (["storm.rearm-max-ms": "3600001"], "setting 'storm.rearm-max-ms': '3600001' is not milliseconds (1...3600000)"),
        (["storm.rearm-after-ms": "5000", "storm.rearm-max-ms": "1000"],
         "settings 'storm.rearm-after-ms' and 'storm.rearm-max-ms': the initial back-off must be positive and at most the maximum back-off"),
        (["socket": "relative.sock"], "absolute path"),
        (["colour": "blue"], "unknown setting 'colour'"),
    ])
    func badValuesAreErrors(arguments: [String: String], message: String) {
        #expect {
            try DaemonSettings.load(arguments: arguments, environment: [:], file: [:])
        } throws: { "\($0)".contains(message) }
    }

    /// A harness's own IRQBRIDGE_* variables do not stop the daemon; each is named in a note,
    /// so a misspelt setting shows.
    @Test func anUnknownEnvironmentVariableIsANoteNotAnError() throws {
        let environment = ["IRQBRIDGE_SOKCET": "/x", "IRQBRIDGE_TIMEOUT": "30", "IRQBRIDGE_CONFIG": "/y", "IRQBRIDGE_MILESTONE": "5"]
        let settings = try DaemonSettings.load(arguments: [:], environment: environment, file: [:])
        #expect(settings.milestone == 5 && settings.socketPath == DaemonSettings().socketPath)
        let notes = DaemonSettings.unknownEnvironment(environment)
        #expect(notes.count == 2)
        #expect(notes.first?.hasPrefix("IRQBRIDGE_SOKCET in the environment is not a setting") == true, "\(notes)")
        #expect(notes.last?.hasPrefix("IRQBRIDGE_TIMEOUT") == true && notes.last?.contains("IRQBRIDGE_SOCKET") == true, "\(notes)")
    }

    @Test func theRigsOwnVariablesAreNotSettings() {
        // Every command in the QEMU rig's guest inherits them.
        let rig = ["IRQBRIDGE_RIG": "1", "IRQBRIDGE_RIG_DEVICES": "edu=0000:00:03.0", "IRQBRIDGE_RIG_HOTPLUG": "edu0=0000:01:00.0"]
        #expect(throws: Never.self) { try DaemonSettings.load(arguments: [:], environment: rig, file: [:]) }
        #expect(DaemonSettings.unknownEnvironment(rig).isEmpty)
        #expect(DaemonSettings.unknownEnvironment(["IRQBRIDGE_RIGGED": "1"]).count == 1)
    }

    @Test func thePollWindowIsTenMicrosecondsUnlessSetAndZeroTurnsItOff() throws {
        #expect(try DaemonSettings.load(arguments: [:], environment: [:], file: [:]).pollWindowMicroseconds == 10)
        let off = try DaemonSettings.load(arguments: [:], environment: ["IRQBRIDGE_DISPATCH_POLL_WINDOW_US": "0"], file: [:])
        #expect(off.pollWindowMicroseconds == 0)
        #expect(off.fileValues["dispatch.poll-window-us"] == "0")
        let wide = try DaemonSettings.load(arguments: [:], environment: [:], file: ["dispatch.poll-window-us": "50"])
        #expect(wide.pollWindowMicroseconds == 50)
    }

    @Test func environmentNames() {
        #expect(DaemonSettings.environmentName("log-level") == "IRQBRIDGE_LOG_LEVEL")
        #expect(DaemonSettings.environmentName("storm.rate-window-ms") == "IRQBRIDGE_STORM_RATE_WINDOW_MS")
    }
}
