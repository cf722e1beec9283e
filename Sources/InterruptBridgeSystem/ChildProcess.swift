// The one way this package starts another program: posix_spawnp with the
// child's stdout and stderr on pipes, reaped with waitpid.
import CInterruptBridge
#if canImport(Glibc)
import Glibc
#endif

/// A child process whose stdout and stderr this side reads.
///
/// Spawned and reaped directly rather than through Foundation's `Process`, which
/// waits for a SIGCHLD-driven notification: inside the QEMU rig's minimal guest
/// that notification never came and callers hung with the child a zombie.
public struct ChildProcess: Sendable {
    public let pid: Int32
    /// The read ends of the child's stdout and stderr (owned: closed with this value's last copy).
    public let standardOutput: OwnedDescriptor
    public let standardError: OwnedDescriptor

    /// What a finished child left.
    public struct Result: Sendable {
        /// The exit status, or 128 + the signal that ended it.
        public var status: Int32
        public var standardOutput: String
        public var standardError: String
    }

    /// Starts `program` (a path, or a name searched in PATH) with `arguments`.
    public init(_ program: String, _ arguments: [String]) throws(SystemError) {
        // Close-on-exec from the start: a program spawned at the same time by another
        // thread gets none of these pipe ends (dup2 gives the child its own, without the flag).
        var output: [Int32] = [0, 0]
        var error: [Int32] = [0, 0]
        _ = try syscall("pipe2") { cib_pipe_cloexec(&output) }
        do {
            _ = try syscall("pipe2") { cib_pipe_cloexec(&error) }
        } catch {
            output.forEach { _ = close($0) }
            throw error
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, output[1], 1)
        posix_spawn_file_actions_adddup2(&actions, error[1], 2)
        let argv = ([program] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        // The child starts with no signal blocked and every signal at its default action:
        // a mask is inherited from the spawning thread (a pool thread of a service blocks
        // SIGTERM and SIGINT, so terminate() would do nothing) and an ignored signal survives
        // exec (SIGPIPE ignored would keep `irqbridge watch | head` writing to a closed pipe).
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var unblocked = sigset_t()
        sigemptyset(&unblocked)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for number: Int32 in 1...31 where number != SIGKILL && number != SIGSTOP { sigaddset(&defaults, number) }  // the standard signals
        posix_spawnattr_setsigmask(&attributes, &unblocked)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var child: pid_t = 0
        let spawned = posix_spawnp(&child, program, &actions, &attributes, argv, environ)
        _ = close(output[1])
        _ = close(error[1])
        guard spawned == 0 else {
            _ = close(output[0])
            _ = close(error[0])
            throw SystemError("spawn \(program)", code: spawned)
        }
        pid = child
        standardOutput = OwnedDescriptor(adopting: output[0], name: "stdout of \(program)")
        standardError = OwnedDescriptor(adopting: error[0], name: "stderr of \(program)")
    }

    /// Runs `program` to completion: reads both pipes until end of file, then reaps it.
    public static func run(_ program: String, _ arguments: [String]) throws(SystemError) -> Result {
        var output: [UInt8] = []
        var error: [UInt8] = []
        let status = try stream(program, arguments, output: { output += $0 }, error: { error += $0 })
        return Result(status: status,
                      standardOutput: String(decoding: output, as: UTF8.self),
                      standardError: String(decoding: error, as: UTF8.self))
    }

    /// Runs `program` to completion, handing each chunk of its stdout and stderr to `output`
    /// and `error` as it arrives (a long-running child's output streams through), then reaps
    /// it; its exit status, or 128 + the signal that ended it.
    public static func stream(_ program: String, _ arguments: [String],
                              output: ([UInt8]) -> Void, error: ([UInt8]) -> Void) throws(SystemError) -> Int32 {
        let child = try ChildProcess(program, arguments)
        var open = [child.standardOutput.rawValue, child.standardError.rawValue]
        while !open.isEmpty {
            var descriptors = open.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            guard poll(&descriptors, nfds_t(descriptors.count), -1) >= 0 || errno == EINTR else { break }
            for descriptor in descriptors where descriptor.revents != 0 {
                let chunk = child.read(descriptor.fd)
                if chunk.isEmpty {
                    open.removeAll { $0 == descriptor.fd }
                } else if descriptor.fd == child.standardOutput.rawValue {
                    output(chunk)
                } else {
                    error(chunk)
                }
            }
        }
        return child.wait()
    }

    /// Up to 64 KiB from one of the child's pipes (blocking); empty at end of file.
    public func read(_ descriptor: Int32) -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = buffer.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress, $0.count) }
            if count >= 0 { return Array(buffer.prefix(count)) }
            if errno != EINTR { return [] }
        }
    }

    /// Sends SIGTERM.
    public func terminate() { kill(pid, SIGTERM) }

    /// Reaps the child; its exit status, or 128 + the signal that ended it.
    public func wait() -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let signal = status & 0x7f
        return signal == 0 ? (status >> 8) & 0xff : 128 + signal
    }
}
