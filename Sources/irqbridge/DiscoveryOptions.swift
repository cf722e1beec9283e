import ArgumentParser
import Foundation
import InterruptBridge
import InterruptBridgeDiscovery
import InterruptBridgeCore
import Logging

/// Options every command that discovers devices shares: where to read PCI
/// functions from and which interrupt policy to apply.
struct DiscoveryOptions: ParsableArguments {
    @Option(name: .customLong("dump"), help: ArgumentHelp("Read PCI functions from an `lspci -x`-style dump file instead of the live system.", valueName: "file"))
    var dumpFile: String?

    @Option(name: .customLong("policy"), help: ArgumentHelp("Per-device interrupt policy (JSON: MSISupported, MessageNumberLimit, ...).", valueName: "file"))
    var policyFile: String?

    func validate() throws {
        for (option, path) in [("--dump", dumpFile), ("--policy", policyFile)] {
            if let path, !FileManager.default.isReadableFile(atPath: path) {
                throw CommandFailure.badInput("\(option): cannot read \(path)").report(nil)
            }
        }
    }

    /// Discovery configured by these options.
    func discovery(logger: Logger) throws -> PCIDiscovery {
        let policies = try policyFile.map { path throws(CommandFailure) in
            do { return try InterruptPolicyTable.load(path: path) } catch { throw .badInput("--policy: \(error)") }
        } ?? InterruptPolicyTable()
        return PCIDiscovery(source: dumpFile.map { .dump(path: $0) } ?? .live, policies: policies, logger: logger)
    }
}

/// How a command fails: bad input (exit status 2) or a failure while running (1),
/// each as one line on standard error.
enum CommandFailure: Error, CustomStringConvertible {
    case badInput(String)
    case failed(String)

    var description: String {
        switch self {
        case .badInput(let message), .failed(let message): message
        }
    }

    var exitCode: ExitCode {
        switch self {
        case .badInput: ExitCode(2)
        case .failed: ExitCode.failure
        }
    }

    /// Prints the one-line message and returns the exit code to throw.
    func report(_ command: String?) -> ExitCode {
        FileHandle.standardError.write(Data("irqbridge\(command.map { " " + $0 } ?? ""): \(description)\n".utf8))
        return exitCode
    }
}
