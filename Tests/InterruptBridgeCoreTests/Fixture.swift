import Foundation
import InterruptBridgeCore
import InterruptBridgeSystem
import Testing

/// The `lspci -xxxx` dumps under Fixtures/, read through libpci's dump access method.
enum Fixture {
    static func path(_ name: String) throws -> String {
        let url = try #require(Bundle.module.url(forResource: name, withExtension: nil, subdirectory: "Fixtures"),
                               "fixture \(name) is missing")
        return url.path
    }

    /// Every function in the dump, decoded.
    static func devices(_ name: String) throws -> [PCIDeviceInfo] {
        try PCIAccess.scan(.dump(path: path(name))).map { snapshot throws in try PCIDeviceInfo(snapshot: snapshot) }
    }

    /// The one function at `address` in the dump.
    static func device(_ name: String, _ address: String) throws -> PCIDeviceInfo {
        let wanted = try #require(PCIAddress(address))
        return try #require(try devices(name).first { $0.address == wanted }, "\(address) not in \(name)")
    }
}
