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

    /// `save-config` over a configuration file kept as a symbolic link (into a deployment's
    /// directory, say): the link stays, its target gets the text and keeps its mode.
    @Test func replacingThroughALinkKeepsTheLink() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("fileio-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory + "/deploy", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let target = directory + "/deploy/irqbridge.yaml", link = directory + "/irqbridge.yaml"
        try "one".write(toFile: target, atomically: false, encoding: .utf8)
        chmod(target, 0o640)
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: "deploy/irqbridge.yaml")
        try FileIO.replaceAtomically(link, "two", preservingMode: true, followingLinks: true)
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: link) == "deploy/irqbridge.yaml")
        #expect(try String(contentsOfFile: target, encoding: .utf8) == "two")
        #expect(try FileManager.default.attributesOfItem(atPath: target)[.posixPermissions] as? Int == 0o640)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory + "/deploy") == ["irqbridge.yaml"], "no temporary file left")

        // A link to nothing is refused, not replaced by a file.
        let dangling = directory + "/dangling.yaml"
        try FileManager.default.createSymbolicLink(atPath: dangling, withDestinationPath: "deploy/missing.yaml")
        #expect(throws: SystemError.self) { try FileIO.replaceAtomically(dangling, "three", preservingMode: true, followingLinks: true) }
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: dangling) == "deploy/missing.yaml")
        // A loop is reported as one, not as a missing target.
        let loop = directory + "/loop.yaml"
        try FileManager.default.createSymbolicLink(atPath: loop, withDestinationPath: "loop.yaml")
        #expect { try FileIO.replaceAtomically(loop, "x", preservingMode: true, followingLinks: true) } throws: { error in
            (error as? SystemError)?.code == ELOOP
        }
        // Not asked to follow links (a file in the daemon's state directory): the link itself is
        // replaced, by a file with the default mode, not the owner and mode of what it pointed to.
        chmod(target, 0o666)
        try FileIO.replaceAtomically(link, "four", preservingMode: true)
        #expect((try? FileManager.default.destinationOfSymbolicLink(atPath: link)) == nil)
        #expect(try FileManager.default.attributesOfItem(atPath: link)[.posixPermissions] as? Int == 0o600)
        #expect(try String(contentsOfFile: target, encoding: .utf8) == "two")
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.contains(".tmp-") }.isEmpty)
    }
}
