import ArgumentParser
import InterruptBridgeSystem
import Foundation
import InterruptBridgeCore
import InterruptBridgeTooling
#if canImport(Glibc)
import Glibc
#endif

/// How a command fails: bad input (exit status 2) or a failure while running (1);
/// `wait`, whose status 1 means "timed out", fails while running with 2 (`waitFailed`).
///
/// The CLI's one error reporter: commands throw this from `validate()` or `run()`
/// and `IRQBridge.main` prints it, as "irqbridge: MESSAGE" on one line of standard
/// error, and exits. Argument-parser's own errors (an unknown option, `--count abc`)
/// go the same way, as bad input; only `--help` and `--version` print more.
enum CommandFailure: Error, CustomStringConvertible {
    case badInput(String)
    case failed(String)
    /// A failure of a command whose status 1 says something else (`wait`: timed out).
    case waitFailed(String)

    var description: String {
        switch self {
        case .badInput(let message), .failed(let message), .waitFailed(let message): message
        }
    }

    /// The one wording of a malformed address, for every command that takes one.
    static func notAPCIAddress(_ text: String) -> CommandFailure {
        .badInput("not a PCI address: '\(Self.visible(text))' (expected \(PCIAddress.expectedForms))")
    }

    /// The user's text with control characters escaped (a newline as \n): `exit()` folds a
    /// line break into "; ", which would show "0000:00:03.0\n" as '0000:00:03.0; '.
    static func visible(_ text: String) -> String {
        text.unicodeScalars.map { $0.properties.generalCategory == .control ? $0.escaped(asASCII: true) : String($0) }.joined()
    }

    var exitStatus: Int32 {
        switch self {
        case .badInput, .waitFailed: 2
        case .failed: 1
        }
    }

    /// Runs a `wait` command's body: status 1 stays "timed out", and every failure
    /// (the device cannot be opened or connected, the daemon cannot be reached) leaves with 2.
    static func whileWaiting(_ body: () throws -> Void) throws {
        do {
            try body()
        } catch CommandFailure.failed(let message) {
            throw CommandFailure.waitFailed(message)
        } catch let failure as DeviceSessionError {
            throw CommandFailure.waitFailed(CommandFailure(failure).description)
        } catch let failure as CommandFailure {
            throw failure  // bad input and waitFailed already leave with 2
        } catch let exit as ExitCode {
            throw exit  // the body's own verdict (1: timed out)
        } catch {
            throw CommandFailure.waitFailed("\(error)")  // anything else is a failure, never "timed out"
        }
    }

    /// A message's lines as one: "; " between them, or a space after a line that ends
    /// its sentence or introduces the next ("...for 'nosh'. Please use ... one of: zsh bash").
    static func folded(_ message: String) -> String {
        let lines = message.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        return lines.enumerated().map { index, line in
            guard index > 0 else { return line }
            return (lines[index - 1].hasSuffix(".") || lines[index - 1].hasSuffix(":") ? " " : "; ") + line
        }.joined()
    }

    /// Prints "irqbridge: MESSAGE" (newlines folded, so it stays one line) and exits.
    func exit() -> Never {
        let line = Self.folded(description)
        fflush(nil)  // what was printed before the error comes first
        StandardError.write("irqbridge: \(line)\n")
        Glibc.exit(exitStatus)
    }
}

extension CommandFailure {
    /// The tooling's device errors, kept as bad input or failure.
    init(_ error: DeviceSessionError) {
        switch error {
        case .badInput(let message): self = .badInput(message)
        case .failed(let message): self = .failed(message)
        }
    }
}

extension IRQBridge {
    /// Parses and runs a subcommand; every error ends here and leaves through `CommandFailure.exit()`.
    static func main() async {
        // Every verb may hold a descriptor per vector (an eventfd each: a card with 2,048 MSI-X
        // vectors needs as many): a shell's soft limit of 1,024 would refuse such a card with
        // EMFILE, so it is raised first, as far as the dispatch loop's largest capacity (65,536)
        // and the hard limit allow (children inherit it: not to a container's 2^30).
        _ = try? FileIO.raiseDescriptorLimit(toAtMost: 65_536)
        // A closed standard descriptor must not be taken by a device's file, nor output go
        // into the descriptor the runtime opened on a closed 1.
        if let closed = StandardOutput.secureStandardDescriptors() { CommandFailure.badInput(closed).exit() }
        if let unknown = unknownHelpTopic(Array(CommandLine.arguments.dropFirst()))
            ?? unknownCommandBeforeHelp(Array(CommandLine.arguments.dropFirst())) {
            CommandFailure.badInput(unknown).exit()
        }
        let command: any ParsableCommand
        do {
            command = try await asyncParseAsRoot()
        } catch {
            // --help, --version and a bare `irqbridge`: argument-parser prints them, status 0.
            if exitCode(for: error) == .success { exit(withError: error) }
            // argument-parser validates before it reports an unknown option, so `--countt 5`
            // would read as a bad "5"; the misspelt option is the mistake to name.
            let message = message(for: error)
            if !message.hasPrefix("Unknown option"), let unknown = unknownOption(Array(CommandLine.arguments.dropFirst())) {
                CommandFailure.badInput(unknown).exit()
            }
            // Anything else while parsing or validating is the user's input: one line, status 2.
            CommandFailure.badInput(message).exit()
        }
        do {
            if var command = command as? any AsyncParsableCommand {
                try await command.run()
            } else {
                var command = command
                try command.run()
            }
            // A result that never reached standard output (a full disk, a closed descriptor)
            // must not read as success to the script that asked for it: print ignores errors.
            if let unwritten = StandardOutput.unwritten() {
                (command is WaitCommand ? CommandFailure.waitFailed(unwritten) : .failed(unwritten)).exit()
            }
        } catch let failure as CommandFailure {
            failure.exit()
        } catch let failure as DeviceSessionError {
            CommandFailure(failure).exit()
        } catch let status as ExitCode {
            // A verdict already printed (selftest's failed cases): the status, no message.
            Glibc.exit(status.rawValue)
        } catch {
            if exitCode(for: error) == .success { exit(withError: error) }
            CommandFailure.failed("\(error)").exit()
        }
    }
}

extension IRQBridge {
    /// The first long option (`--name` or `--name=value`, before any `--`) that no command on
    /// the arguments' subcommand path takes, as argument-parser words it; nil when there is none.
    static func unknownOption(_ arguments: [String]) -> String? {
        var path: [any ParsableCommand.Type] = [IRQBridge.self]
        var options: [String] = []
        for argument in arguments {
            if argument == "--" { break }
            if argument.hasPrefix("--") {
                options.append(String(argument.prefix { $0 != "=" }))
            } else if let next = path.last.flatMap({ subcommand(argument, of: $0) }) {
                path.append(next)
            }
        }
        var known: Set<String> = ["--help", "--version", "--experimental-dump-help", "--generate-completion-script"]
        for command in path {
            let help = IRQBridge.helpMessage(for: command, includeHidden: true, columns: 10_000)
            for match in help.matches(of: /--[A-Za-z0-9][A-Za-z0-9-]*/) { known.insert(String(match.output)) }
        }
        guard let unknown = options.first(where: { !known.contains($0) }) else { return nil }
        return "Unknown option '\(unknown)'"
    }

    /// The subcommand of `command` called `name` (or one of its aliases).
    private static func subcommand(_ name: String, of command: any ParsableCommand.Type) -> (any ParsableCommand.Type)? {
        command.configuration.subcommands.first { $0._commandName == name || $0.configuration.aliases.contains(name) }
    }

    /// `irqbridge NAME --help` (or `irqbridge ctl NAME -h`) for a command that does not exist:
    /// argument-parser prints the nearest command's help with status 0, as it does for `help NAME`.
    /// Returns the one-line error, or nil (no help flag, every name a command, or an option
    /// before the name, whose value this cannot tell from a name).
    static func unknownCommandBeforeHelp(_ arguments: [String]) -> String? {
        let words = arguments.prefix { $0 != "--" }
        guard words.contains(where: { $0 == "--help" || $0 == "-h" }) else { return nil }
        var command: any ParsableCommand.Type = IRQBridge.self
        var path = ["irqbridge"]
        for word in words {
            let subcommands = command.configuration.subcommands
            guard !subcommands.isEmpty, !word.hasPrefix("-"), word != "help" else { return nil }
            guard let next = subcommand(word, of: command) else {
                let known = subcommands.map { $0._commandName }.joined(separator: ", ")
                return "'\(path.joined(separator: " "))' has no command '\(word)' (commands: \(known))"
            }
            command = next
            path.append(word)
        }
        return nil
    }

    /// `irqbridge help NAME...` for a command that does not exist: argument-parser prints the
    /// top-level help with status 0, which a script cannot tell from a real answer. Returns the
    /// one-line error for such a path, or nil (not a `help` call, or every name is a command).
    static func unknownHelpTopic(_ arguments: [String]) -> String? {
        guard arguments.first == "help", arguments.dropFirst().first != "help" else { return nil }
        var command: any ParsableCommand.Type = IRQBridge.self
        var path = ["irqbridge"]
        for name in arguments.dropFirst() where !name.hasPrefix("-") {
            let subcommands = command.configuration.subcommands
            guard let next = subcommand(name, of: command) else {
                let known = subcommands.map { $0._commandName }.joined(separator: ", ")
                let what = subcommands.isEmpty ? "has no subcommands" : "has no command '\(name)' (commands: \(known))"
                return "help: '\(path.joined(separator: " "))' \(what)"
            }
            command = next
            path.append(name)
        }
        return nil
    }
}
