// `irqbridge profile`: the device profiles a bring-up engineer starts from and writes:
// list them (and which one a device gets), print a built-in one as a template, and check
// a file (against a device's BARs too) before any device is opened.
import ArgumentParser
import InterruptBridgeCore
import InterruptBridgeTooling
import Logging

struct ProfileCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "profile",
        abstract: "List, print and check device profiles (how a card is made to interrupt and how its ISR acknowledges).",
        discussion: "Profiles are YAML or JSON (the DocC article \"Writing a device profile\"). A file given with --profile "
            + "is preferred to a built-in one that matches the same device.",
        subcommands: [List.self, Show.self, Check.self]
    )

    /// One profile in a line of words, for `list` and `check`.
    static func provides(_ profile: DeviceProfile) -> String {
        var parts: [String] = []
        if let stimulus = profile.stimulus {
            let kinds = [InterruptKind.intx, .msi, .msix].filter(stimulus.applies(to:)).map(\.description).joined(separator: "/")
            let vectors = stimulus.vectors.map { " x\($0)" } ?? ""
            parts.append(stimulus.comesFromDevice ? "raises \(kinds)\(vectors)" : "raises \(kinds)\(vectors) by VFIO loopback")
        }
        if profile.acknowledge != nil { parts.append("acknowledge") }
        if profile.quiesce != nil { parts.append("quiesce") }
        return parts.isEmpty ? "matching only" : parts.joined(separator: ", ")
    }

    static func json(_ profile: DeviceProfile, chosen: Bool?) -> [String: Any?] {
        let stimulus = profile.stimulus
        return ["name": profile.name, "file": profile.file, "match": profile.match.summary, "description": profile.summary,
                "stimulus": stimulus.map { stimulus in
                    [InterruptKind.intx, .msi, .msix].filter(stimulus.applies(to:)).map(\.description)
                },
                "stimulusVectors": stimulus?.vectors, "fromDevice": stimulus?.comesFromDevice,
                "acknowledge": profile.acknowledge != nil, "quiesce": profile.quiesce != nil, "chosen": chosen]
    }

    /// The library of `files` then the built-ins; a file that does not load is bad input.
    static func library(_ files: [String]) throws -> ProfileLibrary {
        do { return try ProfileLibrary(files: files) } catch { throw CommandFailure.badInput("\(error)") }
    }

    /// The function at `device` (live, or from --dump), or bad input naming why not.
    static func function(_ device: String, discovery options: DiscoveryOptions) throws -> PCIDeviceInfo {
        guard let address = PCIAddress(device) else { throw CommandFailure.notAPCIAddress(device) }
        let discovery = try options.discovery(logger: Logger(label: "irqbridge.profile"))
        let found: PCIDeviceInfo?
        do { found = try discovery.device(at: address) } catch { throw CommandFailure.failed("\(error)") }
        guard let found else { throw CommandFailure.badInput("no PCI device \(address)") }
        return found
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "The profiles known: your files (--profile), then the built-in ones; with --device, the one that device gets.")
        @OptionGroup var profiles: ProfileOptions
        @Option(help: ArgumentHelp("Mark the profile this device would get (its most specific match; yours first).", valueName: "BDF"))
        var device: String?
        @OptionGroup var discovery: DiscoveryOptions
        @OptionGroup var output: JSONFlag

        func run() throws {
            let library = try ProfileCommand.library(profiles.profile)
            let info = try device.map { try ProfileCommand.function($0, discovery: discovery) }
            let chosen = info.flatMap(library.profile(for:))
            if output.json {
                // One array, as `irqbridge list --json` prints; `chosen` is null without --device.
                print(JSONLine.array(library.profiles.map { profile in
                    ProfileCommand.json(profile, chosen: info == nil ? nil : profile.file == chosen?.file && profile.name == chosen?.name)
                }))
                return
            }
            let rows = library.profiles.map { profile in
                [(profile.file == chosen?.file && profile.name == chosen?.name ? "* " : "  ") + profile.name, profile.match.summary,
                 ProfileCommand.provides(profile), profile.file]
            }
            let header = ["  NAME", "MATCH", "PROVIDES", "FILE"]
            let widths = (0..<header.count).map { column in ([header] + rows).map { $0[column].count }.max() ?? 0 }
            for row in [header] + rows {
                print(row.enumerated().map { column, text in
                    column == row.count - 1 ? text : text.padding(toLength: widths[column], withPad: " ", startingAt: 0)
                }.joined(separator: "  "))
            }
            if let info {
                print(chosen.map { "* \(DeviceProfile.describe(info)) gets '\($0.name)'" }
                      ?? "\(DeviceProfile.describe(info)): no profile matches; only VFIO's loopback raises it, and its ISR claims every interrupt (message-signalled only)")
            }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print a built-in profile's YAML, to start a card's own from (irqbridge profile show edu > card.yaml).")
        @Argument(help: ArgumentHelp("A built-in profile's name.", valueName: "NAME"),
                  completion: .list(BuiltInProfiles.sources.map(\.name)))
        var name: String

        func run() throws {
            guard let source = BuiltInProfiles.sources.first(where: { $0.name == name }) else {
                throw CommandFailure.badInput("no built-in profile '\(name)' (built in: \(BuiltInProfiles.sources.map(\.name).joined(separator: ", ")))")
            }
            print(source.text)
        }
    }

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Load a profile file and say what it does; with --device, check it against that function's BARs and vectors.",
            discussion: "Exit status: 0 when it loads (and fits the device); 1 when it loads but does not fit the device; "
                + "2 when it does not load, or on bad input. Nothing is bound, opened or written.")
        @Argument(help: ArgumentHelp("The profile (YAML or JSON).", valueName: "FILE"), completion: .file(extensions: ["yaml", "yml", "json"]))
        var file: String
        @Option(help: ArgumentHelp("The function it is for: it must match, and every register access must fit its BARs.", valueName: "BDF"))
        var device: String?
        @OptionGroup var discovery: DiscoveryOptions
        @OptionGroup var output: JSONFlag

        func run() throws {
            let profile: DeviceProfile
            do { profile = try ProfileLoader.load(contentsOf: file) } catch { throw CommandFailure.badInput("\(error)") }
            let info = try device.map { try ProfileCommand.function($0, discovery: discovery) }
            var problem: String?
            if let info {
                do { try profile.validate(against: info, checkingBARs: discovery.dumpFile == nil) } catch { problem = "\(error)" }
            }
            if output.json {
                var fields = ProfileCommand.json(profile, chosen: nil)
                fields["chosen"] = nil
                fields["device"] = info?.address.description
                fields["fits"] = info == nil ? nil : problem == nil
                fields["problem"] = problem
                print(JSONLine.object(fields))
            } else {
                print("\(file): profile '\(profile.name)' for \(profile.match.summary): \(ProfileCommand.provides(profile))")
                if let info, problem == nil {
                    print("fits \(DeviceProfile.describe(info)): it matches, its vectors are there, and "
                          + (discovery.dumpFile == nil ? "every register access is inside a memory BAR"
                                                        : "its register accesses are not checked (a dump holds no BAR sizes)"))
                }
            }
            if let problem { throw CommandFailure.failed(problem) }
        }
    }
}
