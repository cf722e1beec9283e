// Pieces shared by the device commands (bind, unbind, selftest): the device
// argument, logging set-up, and the one-line error with its exit status.
import ArgumentParser
import InterruptBridge
import InterruptBridgeDiscovery
import InterruptBridgeCore
import Logging

import Foundation

/// A PCI device named on the command line ("0000:00:03.0" or "00:03.0").
struct DeviceArgument: ParsableArguments {
    @Argument(help: "The PCI device, as lspci -D prints it (e.g. 0000:00:03.0).")
    var device: String

    /// Valid after `validate()`.
    var address: PCIAddress { PCIAddress(device)! }

    func validate() throws {
        guard PCIAddress(device) != nil else {
            throw deviceCommandFailure("not a PCI address: '\(device)' (expected DOMAIN:BUS:SLOT.FUNCTION, e.g. 0000:00:03.0)", status: 2)
        }
    }
}

/// --verbose, and the logging bootstrap only the executable may do.
struct DeviceLoggingOptions: ParsableArguments {
    @Flag(name: .shortAndLong, help: "Log what is done to the device (debug level).")
    var verbose = false

    func makeLogger(_ label: String) -> Logger {
        DeviceLoggingOptions.bootstrapOnce
        var logger = Logger(label: label)
        logger.logLevel = verbose ? .debug : .notice
        return logger
    }

    private static let bootstrapOnce: Void = LoggingSystem.bootstrap(StreamLogHandler.standardError)
}

/// Prints "irqbridge: error: MESSAGE" on stderr and returns the exit status to throw
/// (2: bad input or a refusal the user can fix with an option; 1: the system failed).
func deviceCommandFailure(_ message: String, status: Int32) -> ExitCode {
    FileHandle.standardError.write(Data("irqbridge: error: \(message)\n".utf8))
    return ExitCode(status)
}

/// --driver: checked in `validate()` so a wrong name is a one-line error (status 2).
struct DriverOption: ParsableArguments {
    @Option(help: "The driver to bind: \(UserSpaceDriver.allCases.map(\.rawValue).joined(separator: " or ")).")
    var driver: String = UserSpaceDriver.vfioPCI.rawValue

    var value: UserSpaceDriver { UserSpaceDriver(rawValue: driver)! }

    func validate() throws {
        guard UserSpaceDriver(rawValue: driver) != nil else {
            throw deviceCommandFailure("unknown driver '\(driver)' (expected \(UserSpaceDriver.allCases.map(\.rawValue).joined(separator: " or ")))", status: 2)
        }
    }
}

extension BindingError {
    /// Refusals and unknown devices are the user's to fix (2); the rest are failures (1).
    var exitStatus: Int32 {
        switch self {
        case .noSuchDevice, .inUse, .notBoundTo, .notManaged: 2
        case .driverUnavailable, .bindFailed, .system: 1
        }
    }
}
