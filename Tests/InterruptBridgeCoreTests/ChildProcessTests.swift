import Glibc
import InterruptBridgeSystem
import Synchronization
import Testing

/// What a spawned program starts with: no signal blocked, none ignored, whatever thread
/// of this process started it.
@Suite(.timeLimit(.minutes(1)))
struct ChildProcessTests {
    /// The child's /proc/self/status line `name:` as a number (a hexadecimal signal set).
    static func signalSet(_ name: String, in status: String) -> UInt64? {
        status.split(separator: "\n").first { $0.hasPrefix(name + ":") }
            .flatMap { UInt64(String($0.dropFirst(name.count + 1).drop { $0 == " " || $0 == "\t" }), radix: 16) }
    }

    /// Spawned from a thread that blocks SIGTERM and SIGINT (as the threads of a service
    /// group's signal handling do), the child blocks neither: terminate() reaches it.
    @Test func aChildStartsWithNoSignalBlockedWhateverTheSpawningThreadBlocks() throws {
        let result = LockedValue<Result<ChildProcess.Result, SystemError>?>(nil)
        let handle = try PThread.spawn(name: "blocks-signals") {
            var blocked = sigset_t()
            sigemptyset(&blocked)
            sigaddset(&blocked, SIGTERM)
            sigaddset(&blocked, SIGINT)
            pthread_sigmask(SIG_BLOCK, &blocked, nil)
            let outcome = Result { () throws(SystemError) in try ChildProcess.run("cat", ["/proc/self/status"]) }
            result.withLock { $0 = outcome }
        }
        try PThread.join(handle)
        let status = try #require(result.withLock { $0 }).get()
        #expect(status.status == 0)
        // The standard signals, 1 to 31 (glibc keeps two real-time signals of its own ignored).
        let standard: UInt64 = 0x7fff_ffff
        #expect(Self.signalSet("SigBlk", in: status.standardOutput).map { $0 & standard } == 0, "\(status.standardOutput)")
        #expect(Self.signalSet("SigIgn", in: status.standardOutput).map { $0 & standard } == 0, "\(status.standardOutput)")
    }

    /// A child gets its own stdout and stderr, never the pipe ends this process holds
    /// for another child (they are close-on-exec from the moment they exist).
    @Test func aChildInheritsNoOtherChildsPipes() throws {
        let sleeper = try ChildProcess("sleep", ["5"])
        defer { sleeper.terminate(); _ = sleeper.wait() }
        let listing = try ChildProcess.run("ls", ["/proc/self/fd"])
        #expect(listing.status == 0)
        let descriptors = Set(listing.standardOutput.split(separator: "\n").compactMap { Int32($0) })
        #expect(descriptors.isSuperset(of: [1, 2]), "\(descriptors)")
        #expect(!descriptors.contains(sleeper.standardOutput.rawValue), "\(descriptors)")
        #expect(!descriptors.contains(sleeper.standardError.rawValue), "\(descriptors)")
    }
}
