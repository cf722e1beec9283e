// `irqbridge rig` as a process: it finds the rig's scripts (here: the checkout above
// .build/debug/irqbridge), passes every argument through, streams run.sh's output and exits
// with its status. None of these boot the guest.
import Foundation
import InterruptBridgeSystem
import Testing

@Suite(.enabled(if: IRQBridgeBinary.path != nil, "irqbridge is not built next to the tests"),
       .enabled(if: TimeoutBinary.path != nil, "no timeout(1) to run irqbridge under"), .timeLimit(.minutes(2)))
struct RigCommandTests {
    static func run(_ environment: [String], _ arguments: [String]) throws -> ChildProcess.Result {
        try ChildProcess.run(try #require(TimeoutBinary.path),
                             ["20", "/usr/bin/env"] + environment + [try #require(IRQBridgeBinary.path), "rig"] + arguments)
    }

    @Test func theScriptsAreFoundFromTheCheckoutAndTheirOutputComesThrough() throws {
        let result = try Self.run([], ["--devices", "edu", "--qemu-device", "rtl8139", "--print-map"])
        #expect(result.status == 0, "\(result.standardError)")
        #expect(result.standardOutput.contains("0000:00:03.0 edu\n0000:00:0c.0 rtl8139 (--qemu-device, qemu0)\n"), "\(result.standardOutput)")
    }

    @Test func theRigsOwnStatusIsPassedThrough() throws {
        let result = try Self.run([], ["--devices", "edu,gpu", "--", "true"])
        #expect(result.status == 125)
        #expect(result.standardError.contains("rig: unknown device 'gpu'"), "\(result.standardError)")
    }

    /// irqbridge built in a user's package (`swift build --product irqbridge` there) lives in that
    /// package's .build, with InterruptBridge a dependency somewhere else: its workspace state
    /// names it. Here the binary in such a layout under /tmp, outside this checkout.
    @Test func theScriptsAreFoundThroughTheUsersPackageDependency() throws {
        let checkout = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
        let package = FileManager.default.temporaryDirectory.appendingPathComponent("irqbridge-user-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: package) }
        let debug = package + "/.build/x86_64-unknown-linux-gnu/debug"
        try FileManager.default.createDirectory(atPath: debug, withIntermediateDirectories: true)
        // A hard link, not a symbolic one: irqbridge finds itself through /proc/self/exe, which
        // would resolve a symbolic link back into this checkout. A copy where /tmp is another
        // file system (a tmpfs), which a hard link cannot reach (EXDEV).
        let binary = try #require(IRQBridgeBinary.path)
        do { try FileManager.default.linkItem(atPath: binary, toPath: debug + "/irqbridge") } catch {
            try FileManager.default.copyItem(atPath: binary, toPath: debug + "/irqbridge")
        }
        let state = #"{"object": {"dependencies": [{"packageRef": {"identity": "yams", "kind": "remoteSourceControl"}, "state": {"name": "sourceControlCheckout"}, "subpath": "Yams"}, {"packageRef": {"identity": "interruptbridge", "kind": "fileSystem", "location": "\#(checkout)"}, "state": {"name": "fileSystem", "path": "\#(checkout)"}, "subpath": "interruptbridge"}]}, "version": 7}"#
        try state.write(toFile: package + "/.build/workspace-state.json", atomically: true, encoding: .utf8)
        let result = try ChildProcess.run(try #require(TimeoutBinary.path), ["20", debug + "/irqbridge", "rig", "--devices", "edu", "--print-map"])
        #expect(result.status == 0, "\(result.standardError)")
        #expect(result.standardOutput.contains("0000:00:03.0 edu\n"), "\(result.standardOutput)")
    }

    @Test func aWrongRigDirectoryIsBadInputOnOneLine() throws {
        let result = try Self.run(["IRQBRIDGE_RIG_DIR=/nonexistent"], ["--", "true"])
        #expect(result.status == 2)
        #expect(result.standardError == "irqbridge: IRQBRIDGE_RIG_DIR=/nonexistent has no run.sh\n")
        #expect(result.standardOutput.isEmpty)
    }
}
