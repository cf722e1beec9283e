import Foundation
import InterruptBridgeSystem
import Testing

/// The irqbridge executable in the build directory this test bundle runs from.
enum IRQBridgeBinary {
    static let path: String? = {
        let directory = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
        let path = directory.appendingPathComponent("irqbridge").path
        return FileManager.default.isExecutableFile(atPath: path) ? path : nil
    }()
}

/// `irqbridge list`, run as a process: the JSON contract, the exit statuses and one-line errors.
/// Uses the irqbridge binary built beside this test bundle.
@Suite(.enabled(if: IRQBridgeBinary.path != nil, "irqbridge is not built next to the tests"))
struct ListCommandTests {
    static func run(_ arguments: [String]) throws -> ChildProcess.Result {
        try ChildProcess.run(try #require(IRQBridgeBinary.path), arguments)
    }

    static func json(_ arguments: [String]) throws -> [[String: Any]] {
        let result = try run(arguments)
        #expect(result.status == 0, "\(result.standardError)")
        return try #require(try JSONSerialization.jsonObject(with: Data(result.standardOutput.utf8)) as? [[String: Any]])
    }

    @Test func jsonHasTheDocumentedKeysForEveryFunction() throws {
        let devices = try Self.json(["list", "--json", "--dump", Fixtures.path("rig-q35.lspci")])
        #expect(devices.count == 9)
        for device in devices {
            for key in ["address", "irq", "irqRouted", "msi", "msix", "bars", "resources"] {
                #expect(device.keys.contains(key), "\(device["address"] ?? "?") lacks \(key)")
            }
            #expect(device["irqRouted"] is NSNull, "a dump does not say whether the kernel routed a pin")
        }
        let edu = try #require(devices.first { $0["address"] as? String == "0000:00:03.0" })
        #expect(edu["irq"] as? Int == 11)
        #expect((edu["msi"] as? [String: Any])?["count"] as? Int == 1)
        #expect(edu["msix"] is NSNull)
        let bars = try #require(edu["bars"] as? [[String: Any]])
        #expect(bars.count == 1 && bars[0]["index"] as? Int == 0 && bars[0]["address"] as? String == "0xfe800000")
        let resources = try #require(edu["resources"] as? [String: Any])
        let translated = try #require((resources["translated"] as? [[String: Any]])?.first)
        #expect(translated["type"] as? String == "CmResourceTypeInterrupt")
        #expect(translated["shareDisposition"] as? String == "CmResourceShareDeviceExclusive")
        #expect(translated["flags"] as? [String] == ["CM_RESOURCE_INTERRUPT_LATCHED", "CM_RESOURCE_INTERRUPT_MESSAGE"])
        let message = try #require((translated["messageInterrupt"] as? [String: Any])?["translated"] as? [String: Any])
        #expect(message["level"] as? Int == 8 && message["vector"] as? Int == 0x1000_c000)
        let raw = try #require((resources["raw"] as? [[String: Any]])?.first?["messageInterrupt"] as? [String: Any])
        #expect((raw["raw"] as? [String: Any])?["messageCount"] as? Int == 1)

        let nvme = try #require(devices.first { $0["address"] as? String == "0000:00:08.0" })
        #expect((nvme["msix"] as? [String: Any])?["tableSize"] as? Int == 65)
        let plain = try #require(devices.first { $0["address"] as? String == "0000:00:06.0" })
        #expect(plain["irq"] is NSNull)
        #expect((plain["resources"] as? [String: Any])?.keys.contains("interruptKind") == true, "present, as null, with nothing assigned")
        #expect((plain["resources"] as? [String: Any])?["interruptKind"] is NSNull)
    }

    @Test func policyFileChangesTheAssignment() throws {
        let policy = FileManager.default.temporaryDirectory.appendingPathComponent("irqbridge-policy-\(getpid()).json")
        try #"{ "devices": { "1234:11e8": { "MSISupported": false } } }"#.write(to: policy, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: policy) }
        let edu = try #require(try Self.json(["list", "00:03.0", "--json", "--dump", Fixtures.path("rig-q35.lspci"), "--policy", policy.path]).first)
        let line = try #require(((edu["resources"] as? [String: Any])?["translated"] as? [[String: Any]])?.first)
        #expect(line["shareDisposition"] as? String == "CmResourceShareShared")
        #expect(line["flags"] as? [String] == ["CM_RESOURCE_INTERRUPT_LEVEL_SENSITIVE"])
        #expect((line["interrupt"] as? [String: Any])?["vector"] as? Int == 11)
    }

    /// A dump of the rig with one more function whose capability list loops, at 00:09.0.
    static func rigWithABrokenCard() throws -> URL {
        let rig = try String(contentsOfFile: Fixtures.path("rig-q35.lspci"), encoding: .utf8)
        let broken = try String(contentsOfFile: Fixtures.path("malformed-capability-loop.lspci"), encoding: .utf8)
            .replacingOccurrences(of: "00:03.0 ", with: "00:09.0 ")
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("irqbridge-broken-\(getpid()).lspci")
        try (rig + "\n" + broken).write(to: url, atomically: true, encoding: .utf8)
        return url
    }

    /// One broken card does not hide the rest of the bus: every other function is listed,
    /// the broken one is named in one line, and the status says the listing is not whole.
    @Test func aMalformedFunctionIsNamedAndTheRestListed() throws {
        let dump = try Self.rigWithABrokenCard()
        defer { try? FileManager.default.removeItem(at: dump) }
        let table = try Self.run(["list", "--dump", dump.path])
        #expect(table.status == 2)
        #expect(table.standardOutput.split(separator: "\n").count == 10, "the header and the rig's nine functions")
        #expect(!table.standardOutput.contains("0000:00:09.0"))
        #expect(table.standardError == "irqbridge: --dump: \(dump.path): 0000:00:09.0: capability list loops: "
                + "the capability at 0x50 points back to 0x40 (left out of the list)\n")

        let json = try Self.run(["list", "--json", "--dump", dump.path])
        #expect(json.status == 2)
        let devices = try #require(try JSONSerialization.jsonObject(with: Data(json.standardOutput.utf8)) as? [[String: Any]])
        #expect(devices.count == 9)

        // A healthy neighbour in full reads only its own function.
        let edu = try Self.run(["list", "00:03.0", "--dump", dump.path])
        #expect(edu.status == 0 && edu.standardError.isEmpty)
        #expect(edu.standardOutput.hasPrefix("0000:00:03.0  "))
    }

    /// 64 bytes per function (`lspci -x`, or the live system without root): the header is
    /// listed, and what the capabilities would say is shown as unknown, with one warning.
    @Test func headerOnlyFunctionsListWithTheirCapabilitiesUnknown() throws {
        let dump = Fixtures.path("malformed-truncated-capability.lspci")
        let table = try Self.run(["list", "--dump", dump])
        #expect(table.status == 0)
        let row = try #require(table.standardOutput.split(separator: "\n").last)
        #expect(row.split(separator: " ", omittingEmptySubsequences: true).prefix(7) == ["0000:00:03.0", "1234:11e8", "-", "11", "?", "?", "?"])
        #expect(table.standardError == "irqbridge: warning: 1 function with unreadable capabilities: MSI and MSI-X shown as ?, ASSIGNED too for each: "
                + "the dump has only the 64-byte header (`lspci -xxx` or `lspci -xxxx` dumps capabilities)\n")

        let devices = try Self.json(["list", "--json", "--dump", dump])
        let device = try #require(devices.first)
        #expect(device["capabilitiesReadable"] as? Bool == false)
        #expect(device["resources"] is NSNull && device["msi"] is NSNull && device["msix"] is NSNull)
        #expect(try Self.json(["list", "--json", "--dump", Fixtures.path("rig-q35.lspci")]).allSatisfy { $0["capabilitiesReadable"] as? Bool == true })

        let detail = try Self.run(["list", "00:03.0", "--dump", dump])
        #expect(detail.status == 0)
        #expect(detail.standardOutput.contains("caps        unreadable: the dump has only the 64-byte header"))
        #expect(detail.standardOutput.contains("assigned    not known"))

        // A policy without messages assigns the line whatever the capabilities say.
        let policy = FileManager.default.temporaryDirectory.appendingPathComponent("irqbridge-nomsi-\(getpid()).json")
        try #"{ "devices": { "1234:11e8": { "MSISupported": false } } }"#.write(to: policy, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: policy) }
        let line = try #require(try Self.json(["list", "--json", "--dump", dump, "--policy", policy.path]).first)
        #expect((line["resources"] as? [String: Any])?["interruptKind"] as? String == "INTx")
    }

    /// lspci lists without root, and so does `irqbridge list`: the kernel shows such a reader
    /// 64 bytes of each function, so its capabilities are marked unreadable, not absent.
    @Test(.enabled(if: getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv")
                   && !((try? FileManager.default.contentsOfDirectory(atPath: "/sys/bus/pci/devices")) ?? []).isEmpty,
                   "needs root (to become another user), setpriv and PCI functions"))
    func listsTheLiveSystemWithoutRoot() throws {
        // A copy any user may run: the build directory may be under a private home.
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("irqbridge-nonroot-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let binary = directory.appendingPathComponent("irqbridge").path
        try FileManager.default.copyItem(atPath: try #require(IRQBridgeBinary.path), toPath: binary)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: directory.path)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: binary)
        let asNobody = ["--reuid=65534", "--regid=65534", "--clear-groups", binary, "list"]

        // Another test's child forked while the copy was open for writing holds it open for a
        // moment (ETXTBSY): exec again.
        func run(_ arguments: [String]) throws -> ChildProcess.Result {
            var result = try ChildProcess.run("/usr/bin/setpriv", arguments)
            for _ in 0..<50 where result.status == 126 && result.standardError.contains("Text file busy") {
                usleep(100_000)
                result = try ChildProcess.run("/usr/bin/setpriv", arguments)
            }
            return result
        }

        let root = try Self.json(["list", "--json"])
        let result = try run(asNobody + ["--json"])
        #expect(result.status == 0, "\(result.standardError)")
        let devices = try #require(try JSONSerialization.jsonObject(with: Data(result.standardOutput.utf8)) as? [[String: Any]])
        #expect(devices.map { $0["address"] as? String } == root.map { $0["address"] as? String })
        let unreadable = devices.filter { $0["capabilitiesReadable"] as? Bool == false }
        for device in unreadable {
            #expect(device["resources"] is NSNull && device["msi"] is NSNull && device["msix"] is NSNull)
        }
        #expect(result.standardError.isEmpty == unreadable.isEmpty, "\(result.standardError)")
        let table = try run(asNobody)
        #expect(table.status == 0, "\(table.standardError)")
        #expect(table.standardOutput.contains("ADDRESS"))
    }

    /// A function with a pin whose line is 0 (hot-added, no driver has enabled it): `list BDF`
    /// says the pin is not routed yet, and why no interrupt was assigned under a line-only policy.
    @Test func aPinNotRoutedYetIsSaidSo() throws {
        var text = try String(contentsOfFile: Fixtures.path("rig-q35.lspci"), encoding: .utf8)
        text = text.replacingOccurrences(of: "00:03.0 Unclassified device [00ff]: Device 1234:11e8 (rev 10)\n00: 34 12 e8 11 03 01 10 00 10 00 ff 00 00 00 00 00\n10: 00 00 80 fe 00 00 00 00 00 00 00 00 00 00 00 00\n20: 00 00 00 00 00 00 00 00 00 00 00 00 f4 1a 00 11\n30: 00 00 00 00 40 00 00 00 00 00 00 00 0b 01",
                                          with: "00:03.0 Unclassified device [00ff]: Device 1234:11e8 (rev 10)\n00: 34 12 e8 11 03 01 10 00 10 00 ff 00 00 00 00 00\n10: 00 00 80 fe 00 00 00 00 00 00 00 00 00 00 00 00\n20: 00 00 00 00 00 00 00 00 00 00 00 00 f4 1a 00 11\n30: 00 00 00 00 40 00 00 00 00 00 00 00 00 01")
        #expect(text.contains("00 00 00 00 00 01 00 00\n40: 05"), "the edu's line register is now 0")
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("irqbridge-unrouted-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let dump = directory.appendingPathComponent("dump.lspci")
        try text.write(to: dump, atomically: true, encoding: .utf8)
        let policy = directory.appendingPathComponent("policy.json")
        try #"{ "devices": { "1234:11e8": { "MSISupported": false } } }"#.write(to: policy, atomically: true, encoding: .utf8)
        let result = try Self.run(["list", "00:03.0", "--dump", dump.path, "--policy", policy.path])
        #expect(result.status == 0, "\(result.standardError)")
        #expect(result.standardOutput.contains("pin INTA, IRQ 0 (not routed yet"), "\(result.standardOutput)")
        #expect(result.standardOutput.contains("assigned    - (its pin is not routed yet: see INTx)"), "\(result.standardOutput)")
    }

    @Test func oneFunctionInFullShowsEveryDescriptor() throws {
        let result = try Self.run(["list", "00:07.0", "--dump", Fixtures.path("rig-q35.lspci")])
        #expect(result.status == 0)
        #expect(result.standardOutput.contains("MSI-X       at 0xa0: disabled, 5 entries"))
        #expect(result.standardOutput.components(separatedBy: "u.MessageInterrupt.Translated.Level=8").count - 1 == 5)
        #expect(result.standardOutput.components(separatedBy: "u.MessageInterrupt.Raw.MessageCount=1").count - 1 == 5)
    }

    @Test(arguments: [
        (["list", "zz:00.0"], "irqbridge: not a PCI address: 'zz:00.0' (expected DOMAIN:BUS:SLOT.FUNCTION or BUS:SLOT.FUNCTION, hexadecimal, e.g. 0000:00:03.0)"),
        (["list", "0000:00:20.0"], "irqbridge: not a PCI address: '0000:00:20.0'"),
        (["list", "00:09.0", "--dump", Fixtures.path("rig-q35.lspci")], "irqbridge: no PCI function 0000:00:09.0 in dump"),
        (["list", "--dump", "/nonexistent.lspci"], "irqbridge: --dump: open /nonexistent.lspci: No such file or directory"),
        (["list", "--dump", Fixtures.path("malformed-capability-loop.lspci")],
         "irqbridge: --dump: \(Fixtures.path("malformed-capability-loop.lspci")): 0000:00:03.0: capability list loops"),
        (["list", "--dump", Fixtures.path("malformed-msi-past-end.lspci")],
         "irqbridge: --dump: \(Fixtures.path("malformed-msi-past-end.lspci")): 0000:00:03.0: config space truncated: the MSI capability at 0xf8 needs 262 bytes, only 256 available (left out of the list)"),
        (["list", "00:03.0", "--dump", Fixtures.path("malformed-capability-loop.lspci")],
         "irqbridge: --dump: \(Fixtures.path("malformed-capability-loop.lspci")): 0000:00:03.0: capability list loops: the capability at 0x50 points back to 0x40\n"),
        (["list", "--watch", "--dump", Fixtures.path("rig-q35.lspci")], "irqbridge: --watch needs the live system"),
    ])
    func badInputIsOneLineAndExitStatus2(arguments: [String], message: String) throws {
        let result = try Self.run(arguments)
        #expect(result.status == 2)
        // A listing whose functions were all left out still prints the table's header.
        #expect(result.standardOutput.isEmpty || result.standardOutput == "ADDRESS  IDS  DRIVER  IRQ  MSI  MSI-X  ASSIGNED  BARS  NAME\n")
        #expect(result.standardError.hasPrefix(message), "\(result.standardError)")
        #expect(result.standardError.filter { $0 == "\n" }.count == 1)
    }

    /// `--watch` prints the listing, then one JSON line per uevent of the named function.
    /// Writing "change" to its uevent file makes the kernel emit one (nothing changes).
    @Test(.enabled(if: getuid() == 0 && FileManager.default.fileExists(atPath: "/sys/bus/pci/devices"), "needs root and sysfs"),
          .timeLimit(.minutes(1)))
    func watchPrintsHotplugEventsAsJSONLines() async throws {
        let address = try #require(try FileManager.default.contentsOfDirectory(atPath: "/sys/bus/pci/devices").sorted().last)
        let child = try ChildProcess(try #require(IRQBridgeBinary.path), ["list", address, "--watch", "--json"])
        defer {
            child.terminate()
            _ = child.wait()
        }

        let trigger = Task {
            while !Task.isCancelled {
                try "change".write(toFile: "/sys/bus/pci/devices/\(address)/uevent", atomically: false, encoding: .utf8)
                try await Task.sleep(for: .milliseconds(200))
            }
        }
        defer { trigger.cancel() }
        var text = ""
        while !text.contains("\"action\":\"change\"") {
            let chunk = child.read(child.standardOutput.rawValue)
            if chunk.isEmpty { break }  // the process ended
            text += String(decoding: chunk, as: UTF8.self)
        }
        let line = try #require(text.split(separator: "\n").first { $0.hasPrefix("{\"action\"") })
        let event = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(event["action"] as? String == "change")
        #expect(event["address"] as? String == address)
        // The listing came first: a JSON array with the one function.
        #expect(text.hasPrefix("[") && text.contains("\"address\" : \"\(address)\""))
    }
}
