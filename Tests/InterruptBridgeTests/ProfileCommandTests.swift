import Foundation
import InterruptBridgeSystem
import Testing

/// `irqbridge profile list|show|check`, run as a process on the rig's dump: what a bring-up
/// engineer starts a card's profile from, and the exit statuses a script reads.
@Suite(.enabled(if: IRQBridgeBinary.path != nil, "irqbridge is not built next to the tests"))
struct ProfileCommandTests {
    /// A missing device in a dump names the dump and how to list what it has.
    static let noDeviceInDump = "irqbridge: no PCI device 0000:00:09.0 in dump \(dump) (irqbridge list --dump \(dump) lists its functions)"

    static let dump = Fixtures.path("rig-q35.lspci")

    static func temporaryFile(_ text: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("irqbridge-profile-\(UUID().uuidString).yaml").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func listNamesEveryBuiltInAndMarksTheOneADeviceGets() throws {
        let result = try ListCommandTests.run(["profile", "list", "--device", "0000:00:07.0", "--dump", Self.dump])
        #expect(result.status == 0, "\(result.standardError)")
        let lines = result.standardOutput.split(separator: "\n").map(String.init)
        for name in ["edu", "ivshmem-doorbell", "e1000e", "nvme"] {
            #expect(lines.contains { $0.dropFirst(2).hasPrefix(name + " ") }, "\(name) in \(result.standardOutput)")
        }
        #expect(lines.contains { $0.hasPrefix("* e1000e ") && $0.contains("8086:10d3") && $0.contains("raises MSI-X x5, acknowledge") })
        #expect(lines.last == "* 0000:00:07.0 (8086:10d3) gets 'e1000e'")
        // The AHCI controller matches nothing.
        let none = try ListCommandTests.run(["profile", "list", "--device", "0000:00:1f.2", "--dump", Self.dump])
        #expect(none.standardOutput.split(separator: "\n").last?.hasPrefix("0000:00:1f.2 (8086:2922): no profile matches") == true)
    }

    @Test func aUsersFileComesFirstAndWinsForItsDevice() throws {
        let file = try Self.temporaryFile("name: card\nmatch: {vendor: 0x1234, device: 0x11e8}\nacknowledge:\n  - return: claimed\n")
        defer { try? FileManager.default.removeItem(atPath: file) }
        let result = try ListCommandTests.run(["profile", "list", "--profile", file, "--device", "0000:00:03.0", "--dump", Self.dump, "--json"])
        #expect(result.status == 0, "\(result.standardError)")
        let objects = try #require(JSONSerialization.jsonObject(with: Data(result.standardOutput.utf8)) as? [[String: Any]])
        #expect(objects.map { $0["name"] as? String } == ["card", "edu", "ivshmem-doorbell", "e1000e", "nvme", "pci-serial"])
        #expect(objects.compactMap { $0["chosen"] as? Bool == true ? $0["name"] as? String : nil } == ["card"])
        #expect(objects[0]["stimulus"] is NSNull && objects[0]["acknowledge"] as? Bool == true && objects[0]["file"] as? String == file)
    }

    @Test func showPrintsABuiltInThatLoadsAsAFile() throws {
        let shown = try ListCommandTests.run(["profile", "show", "e1000e"])
        #expect(shown.status == 0 && shown.standardOutput.hasPrefix("name: e1000e\n"), "\(shown.standardError)")
        let file = try Self.temporaryFile(shown.standardOutput)
        defer { try? FileManager.default.removeItem(atPath: file) }
        let checked = try ListCommandTests.run(["profile", "check", file, "--device", "0000:00:07.0", "--dump", Self.dump])
        #expect(checked.status == 0, "\(checked.standardError)")
        #expect(checked.standardOutput == "\(file): profile 'e1000e' for 8086:10d3: raises MSI-X x5, acknowledge\n"
                + "fits 0000:00:07.0 (8086:10d3): it matches, and its stimulus, registers and acknowledge suit it; "
                + "its offsets are not checked (a dump holds no BAR sizes)\n")
    }

    /// A card no profile knows: `new` writes one that loads and fits it as written, served
    /// by messages; on its line it needs the acknowledge the file leaves to fill in.
    @Test func newWritesAProfileThatFitsTheCardAndSaysWhatItsLineNeeds() throws {
        let written = try ListCommandTests.run(["profile", "new", "0000:00:1f.2", "--dump", Self.dump, "--name", "ahci"])
        #expect(written.status == 0, "\(written.standardError)")
        #expect(written.standardOutput.contains("\nname: \"ahci\"\n") && written.standardOutput.contains("\nmatch: {vendor: 0x8086, device: 0x2922}\n"))
        let file = try Self.temporaryFile(written.standardOutput)
        defer { try? FileManager.default.removeItem(atPath: file) }
        let checked = try ListCommandTests.run(["profile", "check", file, "--device", "0000:00:1f.2", "--dump", Self.dump])
        #expect(checked.status == 0, "\(checked.standardError)")
        #expect(checked.standardOutput.hasPrefix("\(file): profile 'ahci' for 8086:2922: raises INTx/MSI/MSI-X by VFIO loopback\n"))
        let line = try ListCommandTests.run(["profile", "check", file, "--device", "0000:00:1f.2", "--dump", Self.dump, "--line-based"])
        #expect(line.status == 1 && line.standardError.contains("no acknowledge program"), "\(line.standardError)")
        // The profile to mend is the one checked: `profile check` has no --profile to point at.
        #expect(line.standardError.contains("add an `acknowledge` program to the profile") && !line.standardError.contains("--profile FILE"),
                "\(line.standardError)")
        // The host bridge has no interrupts: nothing to write.
        let none = try ListCommandTests.run(["profile", "new", "0000:00:00.0", "--dump", Self.dump])
        #expect(none.status == 2 && none.standardOutput.isEmpty)
        #expect(none.standardError == "irqbridge: 0000:00:00.0 has no interrupts: no INTx pin, no MSI or MSI-X capability: there is nothing for a profile to raise\n")
    }

    /// Seen in the rig with QEMU's pci-bridge and pvpanic-pci: `profile new` wrote a loopback
    /// profile for the bridge and `profile check --device` said it fits, while bind refuses
    /// the bridge (and vfio-pci never takes one) and every verb refuses to open it; `profile
    /// list --device` said of a function with no interrupt at all that VFIO's loopback raises it.
    @Test func aBridgeOrAFunctionWithoutInterruptsGetsNoProfile() throws {
        let bridgeDump = Fixtures.path("rig-pci-bridge.lspci")
        let bridge = "0000:00:16.0 is a PCI-to-PCI bridge the system runs on (no driver): bind refuses it, and it is not a device to test"
        let written = try ListCommandTests.run(["profile", "new", "0000:00:16.0", "--dump", bridgeDump])
        #expect(written.status == 2 && written.standardOutput.isEmpty && written.standardError == "irqbridge: \(bridge)\n", "\(written)")
        let file = try Self.temporaryFile("name: bridge\nmatch: {vendor: 0x1b36, device: 0x0001}\nstimulus:\n  loopback: true\n")
        defer { try? FileManager.default.removeItem(atPath: file) }
        let checked = try ListCommandTests.run(["profile", "check", file, "--device", "0000:00:16.0", "--dump", bridgeDump])
        #expect(checked.status == 1 && checked.standardError == "irqbridge: \(bridge)\n", "\(checked)")
        let listed = try ListCommandTests.run(["profile", "list", "--device", "0000:00:16.0", "--dump", bridgeDump])
        #expect(listed.status == 0 && listed.standardOutput.split(separator: "\n").last.map(String.init) == bridge, "\(listed)")
        // The edu behind the bridge is an ordinary function.
        let behind = try ListCommandTests.run(["profile", "new", "0000:01:01.0", "--dump", bridgeDump])
        #expect(behind.status == 0 && behind.standardOutput.contains("\nmatch: {vendor: 0x1234, device: 0x11e8}\n"), "\(behind)")
        // A line and no messages (the SMBus controller here; the rig's 53c895a, EHCI, SDHCI):
        // the claiming ISR serves messages only, which this function has none of.
        let smbus = try ListCommandTests.run(["profile", "list", "--device", "0000:00:1f.3", "--dump", Self.dump])
        #expect(smbus.standardOutput.split(separator: "\n").last.map(String.init)
                == "0000:00:1f.3 (8086:2930): no profile matches, and it has only its INTx line: wait and watch serve it only with a "
                + "profile's acknowledge (irqbridge profile new 0000:00:1f.3); selftest and trigger --loopback raise it through "
                + "VFIO's loopback, their ISR claiming each", "\(smbus)")
        let host = try ListCommandTests.run(["profile", "list", "--device", "0000:00:00.0", "--dump", Self.dump])
        #expect(host.standardOutput.split(separator: "\n").last.map(String.init)
                == "0000:00:00.0 has no interrupts: no INTx pin, no MSI or MSI-X capability: there is nothing for a profile to raise")
    }

    /// Every key, null when not known: without --device nothing was checked against a device.
    @Test func checkJSONHasEveryKey() throws {
        let file = try Self.temporaryFile("name: card\nmatch: {vendor: 0x1234, device: 0x11e8}\nacknowledge:\n  - return: claimed\n")
        defer { try? FileManager.default.removeItem(atPath: file) }
        let keys: Set = ["name", "file", "match", "description", "stimulus", "stimulusVectors", "fromDevice", "acknowledge", "quiesce",
                         "device", "fits", "problem", "problems", "notes"]
        let alone = try ListCommandTests.run(["profile", "check", file, "--json"])
        let object = try #require(JSONSerialization.jsonObject(with: Data(alone.standardOutput.utf8)) as? [String: Any])
        #expect(Set(object.keys) == keys && object["fits"] is NSNull && object["device"] is NSNull, "\(object)")
        let against = try ListCommandTests.run(["profile", "check", file, "--json", "--device", "0000:00:03.0", "--dump", Self.dump])
        let checked = try #require(JSONSerialization.jsonObject(with: Data(against.standardOutput.utf8)) as? [String: Any])
        #expect(Set(checked.keys) == keys && checked["fits"] as? Bool == true && checked["problem"] is NSNull, "\(checked)")
        #expect(checked["notes"] as? [String] == ["its offsets are not checked (a dump holds no BAR sizes)"])
    }

    /// A profile wrong on several counts is told every one at once (a bring-up engineer fixes
    /// them in one go): the match and the stimulus first, then each register access in the
    /// file's order, on the one error line; `--json` lists them.
    @Test func checkReportsEveryProblem() throws {
        let file = try Self.temporaryFile("""
            name: card
            match: {vendor: 0x8086, device: 0x10d3}
            acknowledge:
              - read: {bar: 3, offset: 0, width: 32}
                into: cause
              - return: claimed
            stimulus:
              vectors: 8
              interrupts: [msi]
              raise:
                - write: {bar: 2, offset: 0x60, width: 32}
                  value: 1

            """)
        defer { try? FileManager.default.removeItem(atPath: file) }
        let arguments = ["profile", "check", file, "--device", "0000:00:03.0", "--dump", Self.dump]
        let text = try ListCommandTests.run(arguments)
        #expect(text.status == 1, "\(text.standardError)")
        let problems = [
            "\(file):1:1: match: profile 'card' is for 8086:10d3, not 0000:00:03.0 (1234:11e8)",
            "\(file):8:12: stimulus.vectors: 8 vectors, but 0000:00:03.0 (1234:11e8) has 1 for MSI",
            "\(file):4:17: acknowledge[0].read.bar: 0000:00:03.0 (1234:11e8) has no BAR 3 (it implements BAR 0)",
            "\(file):11:20: stimulus.raise[0].write.bar: 0000:00:03.0 (1234:11e8) has no BAR 2 (it implements BAR 0)",
        ]
        #expect(text.standardError == "irqbridge: " + problems.joined(separator: "; ") + "\n")
        let json = try ListCommandTests.run(arguments + ["--json"])
        let object = try #require(JSONSerialization.jsonObject(with: Data(json.standardOutput.utf8)) as? [String: Any])
        #expect(object["fits"] as? Bool == false && object["problems"] as? [String] == problems && object["problem"] as? String == problems[0],
                "\(object)")
    }

    /// A file that does not load is told every mistake its parts show, on the one line, exit 2.
    @Test func checkOfAFileThatDoesNotLoadNamesEachPartsMistake() throws {
        let file = try Self.temporaryFile("name: card\nvendor: 0x1234\nmatch: {vendor: 0x12345}\nacknowledge:\n  - return: sometimes\n")
        defer { try? FileManager.default.removeItem(atPath: file) }
        let result = try ListCommandTests.run(["profile", "check", file])
        #expect(result.status == 2)
        let problems = result.standardError.dropFirst("irqbridge: ".count).split(separator: "; ")
        #expect(result.standardError.hasPrefix("irqbridge: \(file):2:1: vendor: unknown key 'vendor'") && problems.count == 3
                && problems[1].hasPrefix("\(file):3:") && problems[2].hasPrefix("\(file):5:")
                && result.standardError.filter { $0 == "\n" }.count == 1, "\(result.standardError)")
    }

    /// A dump of config headers only (`lspci -x`) leaves MSI and MSI-X unknown: check does not
    /// guess how the function is served, and says so.
    @Test func aHeaderOnlyDumpIsNotJudgedOnHowTheFunctionIsServed() throws {
        let full = try String(contentsOfFile: Self.dump, encoding: .utf8)
        let header = full.split(separator: "\n", omittingEmptySubsequences: false).filter { line in
            line.isEmpty || !line.hasPrefix(" ") && (line.count > 3 && line.dropFirst(2).first == ":" && ["00", "10", "20", "30"].contains(String(line.prefix(2)))
                                                     || line.contains("."))
        }.joined(separator: "\n")
        let dump = try Self.temporaryFile(header)
        let nvme = try Self.temporaryFile(try #require(try? ListCommandTests.run(["profile", "show", "nvme"]).standardOutput))
        defer { for file in [dump, nvme] { try? FileManager.default.removeItem(atPath: file) } }
        let result = try ListCommandTests.run(["profile", "check", nvme, "--device", "0000:00:08.0", "--dump", dump])
        #expect(result.status == 0, "\(result.standardError)")
        #expect(result.standardOutput.contains("the dump holds only its config header, so its MSI and MSI-X are unknown"), "\(result.standardOutput)")
    }

    /// Served on its line (--line-based, or the policy's MSISupported: false), a function needs an acknowledge.
    @Test func theLineOrAPolicyWithoutMessagesNeedsAnAcknowledge() throws {
        let nvme = try Self.temporaryFile(try #require(try? ListCommandTests.run(["profile", "show", "nvme"]).standardOutput))
        let policy = try Self.temporaryFile(#"{"devices": {"0000:00:08.0": {"MSISupported": false}}}"#)
        defer { for file in [nvme, policy] { try? FileManager.default.removeItem(atPath: file) } }
        let messages = try ListCommandTests.run(["profile", "check", nvme, "--device", "0000:00:08.0", "--dump", Self.dump])
        #expect(messages.status == 0, "\(messages.standardError)")
        for extra in [["--line-based"], ["--policy", policy]] {
            let line = try ListCommandTests.run(["profile", "check", nvme, "--device", "0000:00:08.0", "--dump", Self.dump] + extra)
            #expect(line.status == 1 && line.standardError.contains("would be served on its INTx line"), "\(extra): \(line.standardError)")
        }
    }

    /// With --profile files none of which is for the device, the verbs refuse it: list says so.
    @Test func listSaysWhenTheGivenFilesAreForOtherDevices() throws {
        let file = try Self.temporaryFile("name: nic\nmatch: {vendor: 0x8086, device: 0x10d3}\n")
        defer { try? FileManager.default.removeItem(atPath: file) }
        let result = try ListCommandTests.run(["profile", "list", "--profile", file, "--device", "0000:00:03.0", "--dump", Self.dump])
        #expect(result.status == 0, "\(result.standardError)")
        #expect(!result.standardOutput.contains("* "), "none is chosen: \(result.standardOutput)")
        #expect(result.standardOutput.hasSuffix("--profile: no profile given is for 0000:00:03.0 (1234:11e8): \(file) is for 8086:10d3 "
                                                + "(wait, watch, trigger and selftest refuse it)\n"))
    }

    /// 0 fits, 1 loads but does not fit the device, 2 does not load or bad input: one line on stderr.
    @Test(arguments: [
        (["profile", "show", "nope"], 2, "irqbridge: no built-in profile 'nope' (built in: edu, ivshmem-doorbell, e1000e, nvme, pci-serial)"),
        (["profile", "check", "/nonexistent/card.yaml"], 2, "irqbridge: /nonexistent/card.yaml: cannot read the profile"),
        (["profile", "check", "EDU", "--device", "00:03"], 2, "irqbridge: not a PCI address: '00:03'"),
        (["profile", "check", "EDU", "--device", "0000:00:09.0", "--dump", ProfileCommandTests.dump], 2, ProfileCommandTests.noDeviceInDump),
        (["profile", "check", "EDU", "--device", "0000:00:07.0", "--dump", ProfileCommandTests.dump], 1,
         "irqbridge: EDU:2:1: match: profile 'edu' is for 1234:11e8, not 0000:00:07.0 (8086:10d3)"),
        (["profile", "check", "EIGHT", "--device", "0000:00:03.0", "--dump", ProfileCommandTests.dump], 1,
         "irqbridge: EIGHT:4:12: stimulus.vectors: 8 vectors, but 0000:00:03.0 (1234:11e8) has 1 for MSI"),
        // ivshmem-plain shares ivshmem-doorbell's ids, and has no MSI-X to raise.
        (["profile", "check", "DOORBELL", "--device", "0000:00:06.0", "--dump", ProfileCommandTests.dump], 1,
         "irqbridge: DOORBELL:5:15: stimulus.interrupts: the stimulus raises MSI-X, which 0000:00:06.0 (1af4:1110) does not have (it has no interrupts)"),
        // The SMBus controller has an INTx line only: served there, it needs an acknowledge.
        (["profile", "check", "SMBUS", "--device", "0000:00:1f.3", "--dump", ProfileCommandTests.dump], 1,
         "irqbridge: 0000:00:1f.3 would be served on its INTx line, and its profile 'smbus' (SMBUS) has no acknowledge program"),
        (["profile", "check", "EDU", "--dump", ProfileCommandTests.dump], 2, "irqbridge: --dump reads the function given with --device"),
        (["profile", "list", "--policy", "/nonexistent.json"], 2, "irqbridge: --policy applies to the function given with --device"),
        (["profile", "check", "EDU", "--device", "0000:00:03.0", "--dump", "/nonexistent.lspci"], 2, "irqbridge: --dump: "),
    ] as [([String], Int32, String)])
    func statusesAndOneLineErrors(arguments: [String], status: Int32, prefix: String) throws {
        let edu = try Self.temporaryFile("# the edu, as a user writes it\nname: edu\nmatch: {vendor: 0x1234, device: 0x11e8}\n")
        let eight = try Self.temporaryFile("name: edu8\nmatch: {vendor: 0x1234, device: 0x11e8}\nstimulus:\n  vectors: 8\n  interrupts: [msi]\n  raise:\n    - write: {bar: 0, offset: 0x60, width: 32}\n      value: 1\nacknowledge:\n  - return: claimed\n")
        let doorbell = try Self.temporaryFile(try #require(try? ListCommandTests.run(["profile", "show", "ivshmem-doorbell"]).standardOutput))
        let smbus = try Self.temporaryFile("name: smbus\nmatch: {vendor: 0x8086, device: 0x2930}\n")
        let files = ["EDU": edu, "EIGHT": eight, "DOORBELL": doorbell, "SMBUS": smbus]
        defer { for file in files.values { try? FileManager.default.removeItem(atPath: file) } }
        let resolved = arguments.map { files[$0] ?? $0 }
        let expected = files.reduce(prefix) { $0.replacingOccurrences(of: $1.key, with: $1.value) }
        let result = try ListCommandTests.run(resolved)
        #expect(result.status == status, "\(result.standardError)")
        #expect(result.standardError.hasPrefix(expected), "\(result.standardError)")
        #expect(result.standardError.filter { $0 == "\n" }.count == 1, "\(result.standardError)")
    }
}
