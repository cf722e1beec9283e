import Foundation
import InterruptBridgeSystem
import Testing

@Suite("FileIO paths and replacing")
struct FileIOPathTests {
    @Test func aRelativePathIsMadeAbsoluteAgainstTheCurrentDirectory() {
        let here = FileManager.default.currentDirectoryPath
        #expect(FileIO.absolute("/etc/irqbridge.yaml") == "/etc/irqbridge.yaml")
        #expect(FileIO.absolute("daemon.yaml") == (here == "/" ? "" : here) + "/daemon.yaml")
        #expect(FileIO.absolute("./daemon.yaml") == (here == "/" ? "" : here) + "/daemon.yaml")
    }

    @Test func replacingKeepsTheModeOnlyWhenAsked() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("fileio-\(UUID().uuidString.prefix(8))").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try "one".write(toFile: path, atomically: false, encoding: .utf8)
        chmod(path, 0o640)
        try FileIO.replaceAtomically(path, "two", preservingMode: true)
        #expect(try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int == 0o640)
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "two")
        try FileIO.replaceAtomically(path, "three")
        #expect(try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int == 0o600)
    }
}
