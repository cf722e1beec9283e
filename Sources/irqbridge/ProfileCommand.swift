// `irqbridge profile`: the device profiles a bring-up engineer starts from and writes:
// list them (and which one a device gets), print a built-in one as a template, and check
// a file (against a device's BARs too) before any device is opened.
import ArgumentParser
import InterruptBridgeCore
import InterruptBridgeDiscovery
import InterruptBridgeTooling
import Logging

struct ProfileCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "profile",
        abstract: "List, print and check device profiles (how a card is made to interrupt and how its ISR acknowledges).",
        discussion: "Profiles are YAML or JSON (the DocC article \"Writing a device profile\"). A file given with --profile "
            + "is preferred to a built-in one that matches the same device.",
        subcommands: [List.self, Show.self, New.self, Check.self]
    )

    /// One profile in a line of words, for `list` and `check`.
    static func provides(_ profile: DeviceProfile) -> String {
        var parts: [String] = []
        if let stimulus = profile.stimulus {
            let kinds = stimulus.kinds.map(\.description).joined(separator: "/")
            let vectors = stimulus.vectors.map { " x\($0)" } ?? ""
            parts.append(stimulus.comesFromDevice ? "raises \(kinds)\(vectors)" : "raises \(kinds)\(vectors) by VFIO loopback")
        }
        if profile.acknowledge != nil { parts.append("acknowledge") }
        if profile.quiesce != nil { parts.append("quiesce") }
        return parts.isEmpty ? "matching only" : parts.joined(separator: ", ")
    }

    /// A profile's keys for `--json`, shared by `list` and `check` (each adds its own).
    static func json(_ profile: DeviceProfile) -> [String: Any?] {
        let stimulus = profile.stimulus
        return ["name": profile.name, "file": profile.file, "match": profile.match.summary, "description": profile.summary,
                "stimulus": stimulus.map { $0.kinds.map(\.description) },
                "stimulusVectors": stimulus?.vectors, "fromDevice": stimulus?.comesFromDevice,
                "acknowledge": profile.acknowledge != nil, "quiesce": profile.quiesce != nil]
    }

    /// The library of `files` then the built-ins; a file that does not load is bad input.
    static func library(_ files: [String]) throws -> ProfileLibrary {
        do { return try ProfileLibrary(files: files) } catch { throw CommandFailure.badInput("\(error)") }
    }

    /// The function at `device` (live, or from --dump), or bad input naming why not, and the
    /// interrupt policy it is connected under (--policy's; on uio_pci_generic, its line).
    static func function(_ device: String, discovery options: DiscoveryOptions) throws -> (info: PCIDeviceInfo, policy: InterruptPolicy) {
        guard let address = PCIAddress(device) else { throw CommandFailure.notAPCIAddress(device) }
        let discovery = try options.discovery(logger: Logger(label: "irqbridge.profile"))
        let found: PCIDeviceInfo?
        do { found = try discovery.device(at: address) } catch {
            // A dump that cannot be read or decoded is the caller's input, as `list` says it.
            guard let dump = options.dumpFile else { throw CommandFailure.failed("\(error)") }
            if case .access = error { throw CommandFailure.badInput("--dump: \(error)") }
            throw CommandFailure.badInput("--dump: \(dump): \(error)")
        }
        guard let found else {
            throw CommandFailure.badInput(DeviceSession.noDevice(address, inDump: options.dumpFile))
        }
        return (found, discovery.policy(for: found))
    }

    /// Why no profile can serve `info`, whatever it says: it has no interrupts, or it is a
    /// bridge the system runs on, which bind refuses and the verbs will not open (nil: any
    /// other function). Unreadable capabilities (no root, a dump of headers) hide its
    /// messages, so a function without a pin is not said to have none then.
    static func unservable(_ info: PCIDeviceInfo) -> String? {
        if !info.capabilitiesUnreadable, let nothing = DeviceSession.noInterrupts(info) {
            return nothing + ": there is nothing for a profile to raise"
        }
        if DeviceBinder.systemBridge(info.classCode) != nil { return DeviceSession.notOnAUserSpaceDriver(info) }
        return nil
    }

    /// --dump and --policy describe the function given with --device: without it they would be ignored.
    static func requireDevice(_ device: String?, for options: DiscoveryOptions) throws {
        guard device == nil else { return }
        if options.dumpFile != nil { throw CommandFailure.badInput("--dump reads the function given with --device; give --device BDF") }
        if options.policyFile != nil { throw CommandFailure.badInput("--policy applies to the function given with --device; give --device BDF") }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", 
            abstract: "The profiles known: your files (--profile), then the built-in ones; with --device, the one that device gets.")
        @OptionGroup var profiles: ProfileOptions
        @Option(help: ArgumentHelp("Mark the profile this device would get (its most specific match; yours first).", valueName: "BDF"))
        var device: String?
        @OptionGroup var discovery: DiscoveryOptions
        @Flag(help: "Print one JSON array, an object per profile (keys always present, null when not known).")
        var json = false

        func validate() throws { try ProfileCommand.requireDevice(device, for: discovery) }

        func run() throws {
            let library = try ProfileCommand.library(profiles.profile)
            let info = try device.map { try ProfileCommand.function($0, discovery: discovery).info }
            // The verbs refuse a device none of the given files is for, rather than fall back to a built-in.
            let refusal = info.flatMap { DeviceSession.givenProfilesRefusal(library, for: $0) }
            let chosen = refusal == nil ? info.flatMap(library.profile(for:)) : nil
            // By position: a file given twice is listed twice, and only its first is the one chosen.
            let chosenIndex = chosen.flatMap { chosen in library.profiles.firstIndex { $0.file == chosen.file && $0.name == chosen.name } }
            if json {
                // One array, as `irqbridge list --json` prints; `chosen` is null without --device.
                print(JSONLine.array(library.profiles.indices.map { index in
                    var fields = ProfileCommand.json(library.profiles[index])
                    fields.updateValue(info.map { _ in index == chosenIndex }, forKey: "chosen")  // a nil stays, as null
                    return fields
                }))
                return
            }
            let rows = library.profiles.indices.map { index in
                let profile = library.profiles[index]
                return [(index == chosenIndex ? "* " : "  ") + profile.name, profile.match.summary, ProfileCommand.provides(profile), profile.file]
            }
            let header = ["  NAME", "MATCH", "PROVIDES", "FILE"]
            let widths = (0..<header.count).map { column in ([header] + rows).map { $0[column].count }.max() ?? 0 }
            for row in [header] + rows {
                print(row.enumerated().map { column, text in
                    column == row.count - 1 ? text : text.padding(toLength: widths[column], withPad: " ", startingAt: 0)
                }.joined(separator: "  "))
            }
            if let refusal {
                print(refusal + " (wait, watch, trigger and selftest refuse it)")
            } else if let info, let reason = ProfileCommand.unservable(info) {
                print(reason)
            } else if let info {
                // A function with a line and no messages (a 53c895a, an EHCI controller): the
                // claiming ISR serves messages only, so wait and watch refuse its line.
                let lineOnly = !info.capabilitiesUnreadable && info.msi == nil && info.msix == nil
                print(chosen.map { "* \(DeviceProfile.describe(info)) gets '\($0.name)'" }
                      ?? (lineOnly
                          ? "\(DeviceProfile.describe(info)): no profile matches, and it has only its INTx line: wait and watch serve it only "
                            + "with a profile's acknowledge (irqbridge profile new \(info.address)); selftest and trigger --loopback raise it "
                            + "through VFIO's loopback, their ISR claiming each"
                          : "\(DeviceProfile.describe(info)): no profile matches; only VFIO's loopback raises it, and its ISR claims every interrupt (message-signalled only)"))
            }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "show", 
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

    struct New: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "new", 
            abstract: "Print a starting profile for a card no profile knows (irqbridge profile new BDF > card.yaml).",
            discussion: "It matches the function's vendor:device, lists its BARs and interrupts in comments, and raises "
                + "through VFIO's loopback until you fill in the card's own registers; a commented acknowledge shows "
                + "what an INTx line needs. It loads as it is: check it with `irqbridge profile check FILE --device BDF`.")
        @Argument(help: ArgumentHelp("The function to write it for (e.g. 0000:00:03.0).", valueName: "BDF"))
        var device: String
        @Option(help: ArgumentHelp("The profile's name (default: card-VVVV-DDDD).", valueName: "NAME"))
        var name: String?
        @OptionGroup var discovery: DiscoveryOptions

        func validate() throws {
            if let name, name.allSatisfy(\.isWhitespace) { throw CommandFailure.badInput("--name is empty") }
        }

        func run() throws {
            let (info, policy) = try ProfileCommand.function(device, discovery: discovery)
            // Unreadable capabilities (no root, an `lspci -x` dump): its messages are unknown, not absent.
            if let reason = ProfileCommand.unservable(info) { throw CommandFailure.badInput(reason) }
            let translator = ResourceTranslator(facts: .init(onlineProcessors: ProcessorAffinity(rawValue: 1)))
            print(ProfileTemplate.yaml(for: info, name: name, barSizesKnown: discovery.dumpFile == nil,
                                       served: translator.interruptAssignment(for: info, policy: policy)), terminator: "")
        }
    }

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "check", 
            abstract: "Load a profile file and say what it does; with --device, check it against that function's BARs and vectors.",
            discussion: "Exit status: 0 when it loads (and fits the device); 1 when it loads but does not fit the device; "
                + "2 when it does not load, or on bad input. Nothing is bound, opened or written.")
        @Argument(help: ArgumentHelp("The profile (YAML or JSON).", valueName: "FILE"), completion: .file(extensions: ["yaml", "yml", "json"]))
        var file: String
        @Option(help: ArgumentHelp("The function it is for: it must match, and every register access must fit its BARs.", valueName: "BDF"))
        var device: String?
        @Flag(name: .customLong("line-based"), help: "Judge it served on the INTx line, as the verbs' --line-based does (it then needs an acknowledge).")
        var lineBased = false
        @OptionGroup var discovery: DiscoveryOptions
        @OptionGroup var output: JSONFlag

        func validate() throws {
            try ProfileCommand.requireDevice(device, for: discovery)
            if lineBased, device == nil { throw CommandFailure.badInput("--line-based judges the function given with --device; give --device BDF") }
        }

        func run() throws {
            let profile: DeviceProfile
            // Every mistake the loader could tell apart, on the one line, as for misfits below.
            do { profile = try ProfileLoader.load(contentsOf: file) } catch {
                throw CommandFailure.badInput(error.everyProblem.map(\.description).joined(separator: "\n"))
            }
            let found = try device.map { try ProfileCommand.function($0, discovery: discovery) }
            let info = found?.info
            var problems: [String] = []
            var notes: [String] = []
            if let (info, policy) = found {
                let sizesKnown = discovery.dumpFile == nil
                problems = profile.problems(against: info, checkingBARSizes: sizesKnown).map(\.description)
                if let reason = ProfileCommand.unservable(info) {
                    // Its own misfits, if any, say more (a stimulus of kinds it does not have).
                    if problems.isEmpty { problems = [reason] }
                } else if info.capabilitiesUnreadable {
                    // MSI and MSI-X unknown: whether it would be served on its line cannot be told.
                    notes.append(sizesKnown
                        ? "only its config header was readable, so its MSI and MSI-X are unknown (run as root): how it is served is not checked"
                        : "the dump holds only its config header, so its MSI and MSI-X are unknown: how it is served is not checked")
                } else if problems.isEmpty, let refusal = DeviceSession.connectRefusal(
                    info, profile: profile, lineBased: lineBased || !policy.msiSupported, underUIO: info.driver == "uio_pci_generic",
                    advice: .profileCheck) {
                    // What the verbs would refuse on top: a line to serve (asked for, or messages
                    // turned off by the policy, or uio_pci_generic) with no acknowledge to quiet it.
                    problems = [refusal]
                }
                if !sizesKnown { notes.append("its offsets are not checked (a dump holds no BAR sizes)") }
            }
            if output.json {
                var fields = ProfileCommand.json(profile)
                // updateValue keeps a nil as a key with null (a subscript assignment of nil would drop it).
                fields.updateValue(info?.address.description, forKey: "device")
                fields.updateValue(info.map { _ in problems.isEmpty }, forKey: "fits")
                fields.updateValue(problems.first, forKey: "problem")
                fields.updateValue(info.map { _ in problems }, forKey: "problems")
                fields.updateValue(info.map { _ in notes }, forKey: "notes")
                print(JSONLine.object(fields))
            } else {
                print("\(file): profile '\(profile.name)' for \(profile.match.summary): \(ProfileCommand.provides(profile))")
                if let info, problems.isEmpty {
                    print("fits \(DeviceProfile.describe(info)): it matches, and its stimulus, registers and acknowledge suit it"
                          + (notes.isEmpty ? "" : "; " + notes.joined(separator: "; ")))
                }
            }
            // Every problem, on the one error line ("; " between them), as a compiler lists them all.
            if !problems.isEmpty { throw CommandFailure.failed(problems.joined(separator: "\n")) }
        }
    }
}
