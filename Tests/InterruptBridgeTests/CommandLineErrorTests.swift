import Foundation
import InterruptBridgeSystem
import Testing

/// timeout(1): coreutils' on the host, busybox's in the rig's guest.
enum TimeoutBinary {
    static let path = ["/usr/bin/timeout", "/bin/timeout"].first { FileManager.default.isExecutableFile(atPath: $0) }
}

/// Every subcommand's bad input, run as a process: one line "irqbridge: ..." on standard
/// error, nothing on standard output, exit status 2; never a crash or a hang. `--help`
/// keeps its full text and status 0.
@Suite(.enabled(if: IRQBridgeBinary.path != nil, "irqbridge is not built next to the tests"),
       .enabled(if: TimeoutBinary.path != nil, "no timeout(1) to run irqbridge under"), .timeLimit(.minutes(2)))
struct CommandLineErrorTests {
    /// Runs irqbridge under timeout(1), so a hang is status 124 instead of a stuck test.
    static func run(_ arguments: [String]) throws -> ChildProcess.Result {
        try ChildProcess.run(try #require(TimeoutBinary.path), ["20", try #require(IRQBridgeBinary.path)] + arguments)
    }

    static func temporaryFile(_ name: String, _ text: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("irqbridge-cli-\(getpid())-\(name)").path
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    static func expectOneLine(_ result: ChildProcess.Result, _ prefix: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(result.status == 2, "status \(result.status): \(result.standardError)", sourceLocation: sourceLocation)
        #expect(result.standardOutput.isEmpty, "\(result.standardOutput)", sourceLocation: sourceLocation)
        #expect(result.standardError.hasPrefix(prefix), "\(result.standardError)", sourceLocation: sourceLocation)
        #expect(result.standardError.filter { $0 == "\n" }.count == 1, "\(result.standardError)", sourceLocation: sourceLocation)
    }

    static let edu = "00:03.0 Unclassified device [00ff]: Device 1234:11e8 (rev 10)\n00: 34 12 e8 11 03 01 10 00 10 00 ff 00 00 00 00 00\n"

    /// libpci's dump reader took these offsets as negative ints: SIGSEGV, then an invalid free.
    @Test(arguments: [("80000000", "segv"), ("fffffff0", "free")])
    func dumpsThatCrashedLibPCIAreRefusedWithFileAndLine(offset: String, name: String) throws {
        let path = try Self.temporaryFile("\(name).lspci", Self.edu + "\(offset): 00 11\n")
        defer { unlink(path) }
        Self.expectOneLine(try Self.run(["list", "--dump", path]),
                           "irqbridge: --dump: \(path) line 3: offset \(offset) is outside config space (0x000-0xfff)")
    }

    @Test func aDirectoryIsNotAnEmptyDump() throws {
        Self.expectOneLine(try Self.run(["list", "--dump", "/tmp"]), "irqbridge: --dump: /tmp is a directory, not a regular file")
    }

    @Test func anEmptyDumpIsRefused() throws {
        let path = try Self.temporaryFile("empty.lspci", "")
        defer { unlink(path) }
        Self.expectOneLine(try Self.run(["list", "--dump", path]), "irqbridge: --dump: \(path): no PCI function in the file")
    }

    @Test(arguments: ["--dump", "--policy"])
    func aFIFOWithoutAWriterDoesNotHang(option: String) throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("irqbridge-cli-\(getpid())-fifo\(option)").path
        #expect(mkfifo(path, 0o600) == 0)
        defer { unlink(path) }
        let dump = option == "--dump" ? [] : ["--dump", Fixtures.path("rig-q35.lspci")]
        Self.expectOneLine(try Self.run(["list", option, path] + dump), "irqbridge: \(option): \(path) is a FIFO, not a regular file")
    }

    @Test func devZeroIsNotReadWithoutEnd() throws {
        Self.expectOneLine(try Self.run(["list", "--dump", Fixtures.path("rig-q35.lspci"), "--policy", "/dev/zero"]),
                           "irqbridge: --policy: /dev/zero is a character device, not a regular file")
    }

    @Test func aPolicyFileOverTheCapIsRefused() throws {
        let path = try Self.temporaryFile("big.json", "{" + String(repeating: " ", count: 1 << 20) + "}")
        defer { unlink(path) }
        Self.expectOneLine(try Self.run(["list", "--dump", Fixtures.path("rig-q35.lspci"), "--policy", path]),
                           "irqbridge: --policy: \(path) is larger than 1 MiB, the limit for this file")
    }

    @Test func aValueOfTheWrongTypeNamesTheKey() throws {
        let path = try Self.temporaryFile("type.json", #"{ "default": { "MessageNumberLimit": 1.5 } }"#)
        defer { unlink(path) }
        Self.expectOneLine(try Self.run(["list", "--dump", Fixtures.path("rig-q35.lspci"), "--policy", path]),
                           "irqbridge: --policy: \(path):1:38: default.MessageNumberLimit: MessageNumberLimit must be a whole number, at least 1, not 1.5")
    }

    /// A device entry of null: put in the file's terms, not the decoder's ("Cannot get keyed
    /// decoding container -- found null value instead").
    @Test func aNullDeviceEntryIsNamedInTheFilesTerms() throws {
        let path = try Self.temporaryFile("null.json", #"{ "devices": { "1234:11e8": null } }"#)
        defer { unlink(path) }
        Self.expectOneLine(try Self.run(["list", "--dump", Fixtures.path("rig-q35.lspci"), "--policy", path]),
                           "irqbridge: --policy: \(path):1:29: devices.1234:11e8: expected an object (a mapping), found null\n")
    }

    /// A YAML policy's unknown key, several lines down, is named by its line and column.
    @Test func anUnknownKeyInAYAMLPolicyNamesItsLine() throws {
        let path = try Self.temporaryFile("unknown.yaml", "default:\n  MSISupported: true\ndevices:\n  1234:11e8:\n    MessageNumberLimt: 2\n")
        defer { unlink(path) }
        Self.expectOneLine(try Self.run(["list", "--dump", Fixtures.path("rig-q35.lspci"), "--policy", path]),
                           "irqbridge: --policy: \(path):5:5: devices.1234:11e8.MessageNumberLimt: unknown key \"MessageNumberLimt\"")
    }

    /// argument-parser's own errors (a value that is not a number, an unknown option or
    /// subcommand, a missing argument) and each command's validate(): one line, status 2.
    @Test(arguments: [
        (["selftest", "--count", "abc"], "irqbridge: The value 'abc' is invalid for '--count <count>'"),
        (["selftest", "--count", "0"], "irqbridge: --count must be 1...1000000, not 0"),
        (["selftest", "--backend", "usb"], "irqbridge: unknown backend 'usb'"),
        (["selftest", "--backend", "simulated", "--device", "0000:00:03.0"], "irqbridge: --backend simulated tests the built-in simulated device"),
        (["selftest", "--loopback"], "irqbridge: --loopback needs --device"),
        (["selftest", "--device", "0000:00:03.0", "--backend", "uio", "--loopback"], "irqbridge: --loopback: UIO has no loopback trigger"),
        (["bench", "--quick", "--json", "/nonexistent/directory/bench.json"], "irqbridge: --json: no directory /nonexistent/directory"),
        (["bench", "--quick", "--json", "/tmp"], "irqbridge: --json: /tmp is a directory"),
        (["bench", "--quick", "--json", "/tmp/" + String(repeating: "x", count: 300)], "irqbridge: --json: the path is longer than a file name can be"),
        (["selftest", "--bogus"], "irqbridge: Unknown option '--bogus'"),
        // A misspelt option with a value is the mistake named, not the value it leaves behind.
        (["watch", "0000:3f:1f.7", "--countt", "5"], "irqbridge: Unknown option '--countt'"),
        (["list", "--jsn=yes", "zz"], "irqbridge: Unknown option '--jsn'"),
        (["bind", "00:03.0", "--driverr", "vfio-pci"], "irqbridge: Unknown option '--driverr'"),
        (["ctl", "--sockett", "/x", "devices"], "irqbridge: Unknown option '--sockett'"),
        // A negative number is the option's (refused) value, not an unknown option.
        (["selftest", "--count", "-1"], "irqbridge: --count must be 1...1000000, not -1"),
        (["wait", "0000:3f:1f.7", "--timeout", "-3"], "irqbridge: --timeout must be above 0"),
        (["wait", "0000:3f:1f.7", "--timeout", "1", "--vector", "-1"], "irqbridge: --vector must be 0 or more, not -1"),
        (["trigger", "0000:3f:1f.7", "--rate", "-5"], "irqbridge: --rate must be 0.001 to 1000000 per second, not -5.0"),
        (["trigger", "0000:3f:1f.7", "--rate", "1e-300"], "irqbridge: --rate must be 0.001 to 1000000 per second"),
        (["selftest", "--kinds", "msi,,"], "irqbridge: --kinds wants a comma-separated list of intx, msi, msix, not 'msi,,'"),
        (["watch", "0000:3f:1f.7", "--interval", "-1"], "irqbridge: --interval must be 0.05...3600 seconds"),
        (["watch", "0000:3f:1f.7", "--duration", "0"], "irqbridge: --duration must be more than 0 and at most 31536000 seconds"),
        (["watch", "0000:3f:1f.7", "--duration", "nan"], "irqbridge: --duration must be more than 0"),
        (["bench", "--iterations", "x"], "irqbridge: The value 'x' is invalid for '--iterations <iterations>'"),
        (["bench", "--pin", "9999"], "irqbridge: --pin must name an online CPU"),
        (["bench", "--writer-cpu", "9999"], "irqbridge: --writer-cpu must name an online CPU"),
        (["bench", "--pin", "-1"], "irqbridge: --pin must name an online CPU"),
        (["bench", "--writer-cpu", "-1"], "irqbridge: --writer-cpu must name an online CPU"),
        (["bench", "--fifo", "-5"], "irqbridge: --fifo must be a priority from 1 to 99, got -5"),
        (["bench", "--busy-poll", "--pin", "0", "--writer-cpu", "0"], "irqbridge: --busy-poll spins the receiver on --pin's CPU 0"),
        (["bench", "--rig-edu", "nonsense"], "irqbridge: --rig-edu wants a PCI address"),
        (["bench", "--scale-vectors", "1000"], "irqbridge: --scale-vectors must be a multiple of 1024"),
        (["bench", "--iterations", "9223372036854775807"], "irqbridge: --iterations must be 10 to 10000000"),
        (["bench", "--iterations", "-1"], "irqbridge: --iterations must be 10 to 10000000, got -1"),
        (["bench", "--repetitions", "4294967296"], "irqbridge: --repetitions must be 1 to 1000"),
        (["bench", "--rig-edu", "0000:3f:1f.7"], "irqbridge: --rig-edu: no PCI device at 0000:3f:1f.7"),
        // A profile that is not a regular file is refused, never waited on (a FIFO) or read without end.
        (["wait", "0000:3f:1f.7", "--timeout", "1", "--profile", "/dev/zero"], "irqbridge: /dev/zero: cannot read the profile: /dev/zero is a character device"),
        (["bind", "zz:00.0"], "irqbridge: not a PCI address: 'zz:00.0'"),
        (["bind", "00:03.0", "--driver", "e1000"], "irqbridge: unknown driver 'e1000'"),
        (["bind"], "irqbridge: Missing expected argument '<device>'"),
        (["unbind", "00:03.9"], "irqbridge: not a PCI address: '00:03.9'"),
        (["list", "--dump"], "irqbridge: Missing value for '--dump <file>'"),
        (["frobnicate"], "irqbridge: Unexpected argument 'frobnicate'"),
        (["watch", "0000:3f:1f.7", "3f:1f.7"], "irqbridge: 0000:3f:1f.7 is named twice ('0000:3f:1f.7' and '3f:1f.7')"),
        // --storm: each key checked as the daemon's file checks it, before any device is opened.
        (["watch", "0000:3f:1f.7", "--storm", "rate-limit=abc"], "irqbridge: --storm rate-limit=abc: expected interrupts per window (at least 1)"),
        (["wait", "0000:3f:1f.7", "--timeout", "1", "--storm", "ratelimit=5"], "irqbridge: --storm 'ratelimit' is not a storm key (keys: "),
        (["trigger", "0000:3f:1f.7", "--storm", "unclaimed-window=10", "--storm", "unclaimed-limit=20"],
         "irqbridge: --storm unclaimed-limit and unclaimed-window: the unclaimed limit must be 1...10 (the window)"),
        (["help", "frobnicate"], "irqbridge: help: 'irqbridge' has no command 'frobnicate' (commands: list, "),
        (["help", "list", "extra"], "irqbridge: help: 'irqbridge list' has no subcommands"),
        // `NAME --help` for no command NAME printed the parent's help with status 0, as `help NAME` did.
        (["frobnicate", "--help"], "irqbridge: 'irqbridge' has no command 'frobnicate' (commands: list, "),
        (["profile", "shw", "edu", "--help"], "irqbridge: 'irqbridge profile' has no command 'shw' (commands: list, show, "),
        // A newline in the value is shown as \n, not folded into "; " as if the user had typed that.
        (["bind", "0000:3f:1f.7\n"], "irqbridge: not a PCI address: '0000:3f:1f.7\\n' (expected "),
        (["list", "0000:00:03.0\t"], "irqbridge: not a PCI address: '0000:00:03.0\\t' (expected "),
    ] as [([String], String)])
    func badInputToAnySubcommandIsOneLineAndStatus2(arguments: [String], prefix: String) throws {
        Self.expectOneLine(try Self.run(arguments), prefix)
    }

    @Test(arguments: [
        // An address that names nothing says where to see what there is.
        (["bind", "0000:3f:1f.7"], "irqbridge: no PCI device 0000:3f:1f.7 (irqbridge list shows the functions there are)"),
        (["wait", "3f:1f.7", "--timeout", "1"], "irqbridge: no PCI device 0000:3f:1f.7 (irqbridge list shows the functions there are)"),
        (["selftest", "--device", "0000:3f:1f.7"], "irqbridge: no PCI device 0000:3f:1f.7 (irqbridge list shows the functions there are)"),
        // argument-parser's lines are folded as sentences, not "'nosh'.; Please".
        (["--generate-completion-script", "nosh"],
         "irqbridge: Can't generate completion scripts for 'nosh'. Please use --generate-completion-script=<shell> with one of: zsh bash fish"),
    ] as [([String], String)])
    func refusalsSayWhatToDoInSentences(arguments: [String], prefix: String) throws {
        Self.expectOneLine(try Self.run(arguments), prefix)
    }

    /// A function on a kernel driver, not a bridge (nil: this machine has none).
    static let functionOnAKernelDriver: String? = {
        let root = "/sys/bus/pci/devices"
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []).sorted()
        return names.first { name in
            guard let driver = try? FileManager.default.destinationOfSymbolicLink(atPath: "\(root)/\(name)/driver"),
                  !["vfio-pci", "uio_pci_generic"].contains(driver.split(separator: "/").last.map(String.init) ?? ""),
                  let text = try? String(contentsOfFile: "\(root)/\(name)/class", encoding: .utf8) else { return false }
            return !text.hasPrefix("0x06")
        }
    }()

    /// A device that is not on the driver the backend needs: the user's next step, named
    /// in one line with status 2, as wait, watch and trigger say it; nothing is opened.
    /// Without --backend, the other way (UIO) is named too.
    @Test(.enabled(if: functionOnAKernelDriver != nil, "no function on a kernel driver"),
          arguments: [(["--backend", "vfio"], "not vfio-pci: irqbridge bind BDF first"),
                      (["--backend", "uio"], "not uio_pci_generic: irqbridge bind BDF --driver uio_pci_generic first"),
                      ([], "not vfio-pci: irqbridge bind BDF first (or irqbridge bind BDF --driver uio_pci_generic, then --backend uio)")])
    func aDeviceOnAnotherDriverIsOneLineAndStatus2(backend: [String], suffix: String) throws {
        let address = try #require(Self.functionOnAKernelDriver)
        let result = try Self.run(["selftest", "--device", address] + backend)
        #expect(result.status == 2, "\(result.standardError)")
        #expect(result.standardError.hasPrefix("irqbridge: \(address) is bound to "), "\(result.standardError)")
        #expect(result.standardError.hasSuffix(suffix.replacingOccurrences(of: "BDF", with: address) + "\n")
                && result.standardError.filter { $0 == "\n" }.count == 1, "\(result.standardError)")
    }

    /// The host bridge is not a device to bind: saying "irqbridge bind it first" sent the user
    /// to a command that refuses it.
    @Test(.enabled(if: (try? String(contentsOfFile: "/sys/bus/pci/devices/0000:00:00.0/class", encoding: .utf8))?.hasPrefix("0x0600") == true,
                   "0000:00:00.0 is not a host bridge here"),
          arguments: [["--backend", "vfio"], ["--backend", "uio"], []])
    func theHostBridgeIsNotSentToBind(backend: [String]) throws {
        let result = try Self.run(["selftest", "--device", "0000:00:00.0"] + backend)
        #expect(result.status == 2, "\(result.standardError)")
        #expect(result.standardError.hasPrefix("irqbridge: 0000:00:00.0 is a host bridge the system runs on ("), "\(result.standardError)")
        #expect(result.standardError.hasSuffix("): bind refuses it, and it is not a device to test\n"), "\(result.standardError)")
    }

    @Test(arguments: [["--help"], ["selftest", "--help"], ["help", "list"], ["help", "help"], ["help", "rig", "--help"], [],
                      ["list", "0000:00:03.0", "--help"], ["profile", "-h"]])
    func helpIsStillTheFullTextWithStatus0(arguments: [String]) throws {
        let result = try Self.run(arguments)
        #expect(result.status == 0, "\(result.standardError)")
        #expect(result.standardOutput.contains("USAGE:"), "\(result.standardOutput)")
        #expect(result.standardError.isEmpty)
    }

    /// Whether this build's irqbridge has `daemon` and `ctl` (not under INTERRUPTBRIDGE_WITHOUT_DAEMON,
    /// as the sanitizer stages build it).
    static let hasDaemonCommands = (try? run(["ctl", "--help"]))?.status == 0

    /// `ctl`'s help and its unknown commands, as for the others (where the build has `ctl`).
    @Test(.enabled(if: hasDaemonCommands))
    func ctlHelpIsTheFullTextAndAnUnknownCtlCommandIsOneLine() throws {
        for arguments in [["ctl", "wait", "--help"], ["ctl", "--socket", "/x", "devices", "-h"]] {
            let result = try Self.run(arguments)
            #expect(result.status == 0 && result.standardOutput.contains("USAGE:") && result.standardError.isEmpty,
                    "\(arguments): \(result.status) \(result.standardError)")
        }
        Self.expectOneLine(try Self.run(["ctl", "frob", "-h"]), "irqbridge: 'irqbridge ctl' has no command 'frob' (commands: devices, ")
    }

    /// Not an error: `bench --scenario scale` runs at a reduced size and its JSON carries the scale rows.
    @Test func benchScaleRunsAtAReducedSize() throws {
        let result = try Self.run(["bench", "--scenario", "scale", "--scale-vectors", "1024", "--repetitions", "1", "--no-peers", "--json", "-"])
        #expect(result.status == 0, "\(result.standardError)")
        for name in ["scale.cost.1024-vs-1-vectors", "scale.connect.1024-vs-64-vectors", "scale.disconnect.1024-vs-64-vectors"] {
            #expect(result.standardOutput.contains("\"name\" : \"\(name)\""), "\(name) in \(result.standardOutput.prefix(400))")
        }
        #expect(!result.standardOutput.contains("\"latency.p50\""), "only the scale group ran")
    }

    @Test func versionIsPrintedWithStatus0() throws {
        let result = try Self.run(["--version"])
        #expect(result.status == 0 && result.standardOutput == "0.1.0\n")
    }

    /// A result a script asked for that never reached it (standard output on a full disk,
    /// /dev/full here) is a failure, one line on standard error; it exited 0 with the output lost.
    /// Line-buffered too (`stdbuf -oL`, which scripts/test.sh puts every stage under): there
    /// each line's write fails at once, and the final flush has nothing left to fail on.
    @Test(arguments: [["profile", "show", "edu"], ["list", "--dump", Fixtures.path("rig-q35.lspci"), "--json"]],
          FileIO.exists("/usr/bin/stdbuf") ? ["", "/usr/bin/stdbuf -oL "] : [""])
    func anUnwritableStandardOutputIsAFailure(arguments: [String], buffering: String) throws {
        let command = ([try #require(IRQBridgeBinary.path)] + arguments).map { "'\($0)'" }.joined(separator: " ")
        let result = try ChildProcess.run("/bin/sh", ["-c", "exec \(buffering)\(command) > /dev/full"])
        #expect(result.status == 1, "\(arguments): status \(result.status), \(result.standardError)")
        // The reason when the last flush failed (a short output); a long one failed in an earlier write.
        #expect(result.standardError.hasPrefix("irqbridge: cannot write standard output"), "\(result.standardError)")
        #expect(result.standardError.filter { $0 == "\n" }.count == 1, "\(result.standardError)")
    }

    /// Started with standard output closed (`>&-`), the command must not write into whatever
    /// it opens next on descriptor 1 (the runtime's eventfd, or a device's file): it keeps
    /// the number with a descriptor that refuses writes, and the result is a failure.
    @Test(arguments: FileIO.exists("/usr/bin/stdbuf") ? ["", "/usr/bin/stdbuf -oL "] : [""])
    func aClosedStandardOutputIsAFailureNotAnotherDescriptor(buffering: String) throws {
        let command = try #require(IRQBridgeBinary.path)
        let result = try ChildProcess.run("/bin/sh", ["-c", "exec \(buffering)'\(command)' profile show edu >&-"])
        #expect(result.status == 1, "status \(result.status), \(result.standardError)")
        #expect(result.standardError.hasPrefix("irqbridge: cannot write standard output"), "\(result.standardError)")
        #expect(result.standardError.filter { $0 == "\n" }.count == 1, "\(result.standardError)")
        // Fully buffered, the final flush names the descriptor's refusal; written into the
        // runtime's eventfd instead, it was EINVAL.
        // (stdbuf's variable is inherited: test.sh runs the tests themselves under it.)
        if buffering.isEmpty, ProcessInfo.processInfo.environment["_STDBUF_O"] == nil { #expect(result.standardError.contains("Bad file descriptor (EBADF)"), "\(result.standardError)") }
    }

    /// Standard error closed (`2>&-`): bad input still ends with status 2, the message dropped.
    @Test func aClosedStandardErrorStillGivesTheStatus() throws {
        let command = try #require(IRQBridgeBinary.path)
        let result = try ChildProcess.run("/bin/sh", ["-c", "exec '\(command)' profile show no-such-profile 2>&-"])
        #expect(result.status == 2, "status \(result.status)")
        #expect(result.standardOutput.isEmpty)
    }

    /// Standard error that refuses writes (/dev/full): the message is lost, the status is not.
    /// Foundation's FileHandle.write stopped the process there (SIGILL, status 132).
    @Test(arguments: [(["profile", "show", "no-such-profile"], "> /dev/null", Int32(2)),
                      (["profile", "show", "edu"], "> /dev/full", Int32(1))])
    func anUnwritableStandardErrorStillGivesTheStatus(arguments: [String], output: String, status: Int32) throws {
        let command = ([try #require(IRQBridgeBinary.path)] + arguments).map { "'\($0)'" }.joined(separator: " ")
        let result = try ChildProcess.run("/bin/sh", ["-c", "exec \(command) \(output) 2> /dev/full"])
        #expect(result.status == status, "\(arguments): status \(result.status)")
    }

    /// `bench --json -` whose standard output refuses writes: one line and status 1, not a trap.
    @Test func benchJSONIntoAnUnwritableStandardOutputIsAFailure() throws {
        let command = try #require(IRQBridgeBinary.path)
        let result = try ChildProcess.run("/bin/sh", ["-c", "exec '\(command)' bench --scenario storm --repetitions 1 --no-peers --json - > /dev/full"])
        #expect(result.status == 1, "status \(result.status), \(result.standardError.suffix(300))")
        #expect(result.standardError.hasSuffix("irqbridge: cannot write standard output: No space left on device (ENOSPC)\n")
                || result.standardError.hasSuffix("irqbridge: cannot write standard output: a write to it failed\n"), "\(result.standardError.suffix(300))")
    }
}
