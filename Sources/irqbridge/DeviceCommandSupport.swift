// Pieces shared by the device commands (bind, unbind, selftest): the device
// argument, logging set-up, and the exit status of a binding error.
import ArgumentParser
import InterruptBridge
import InterruptBridgeDiscovery
import InterruptBridgeCore
import InterruptBridgeTooling
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
            throw CommandFailure.notAPCIAddress(device)
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

/// --driver: checked in `validate()` so a wrong name is a one-line error (status 2).
struct DriverOption: ParsableArguments {
    @Option(help: "The driver to bind: \(UserSpaceDriver.allCases.map(\.rawValue).joined(separator: " or ")).")
    var driver: String = Self.defaultDriver.rawValue

    /// What `bind` binds to when --driver is not given.
    static let defaultDriver = UserSpaceDriver.vfioPCI

    var value: UserSpaceDriver { UserSpaceDriver(rawValue: driver)! }

    func validate() throws {
        guard UserSpaceDriver(rawValue: driver) != nil else {
            throw CommandFailure.badInput("unknown driver '\(driver)' (expected \(UserSpaceDriver.allCases.map(\.rawValue).joined(separator: " or ")))")
        }
    }
}

extension BindingError {
    /// Refusals and unknown devices are the user's to fix (bad input, 2); the rest are failures (1).
    var commandFailure: CommandFailure {
        switch self {
        case let .noSuchDevice(name): .badInput(PCIAddress(name).map { DeviceSession.noDevice($0) } ?? description)
        case .inUse, .notBoundTo, .notManaged, .bridge, .notVFIOCapable: .badInput(description)
        case .driverUnavailable, .bindFailed, .system: .failed(description)
        }
    }
}
