import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// Held from pipe() to posix_spawn: descriptors become close-on-exec only after pipe()
/// returns, so two spawns at once could hand each other's pipe ends to their children.
private let spawning = Mutex(())

/// Runs a program with posix_spawn and collects its output, reaping it with waitpid.
///
/// Foundation's `Process` waits for a SIGCHLD-driven notification; inside the QEMU
/// rig's minimal guest that notification never came and the tests hung with the
/// child a zombie. Spawning and reaping directly has no such dependency.
struct ChildProcess {
    let pid: pid_t
    let standardOutput: Int32
    let standardError: Int32

    struct Result {
        var status: Int32
        var standardOutput: String
        var standardError: String
    }

    /// Starts `path` with `arguments`; its stdout and stderr are pipes this side reads.
    init(_ path: String, _ arguments: [String]) throws {
        let (child, output, error) = try spawning.withLock { _ throws -> (pid_t, Int32, Int32) in try Self.spawn(path, arguments) }
        pid = child
        standardOutput = output
        standardError = error
    }

    private static func spawn(_ path: String, _ arguments: [String]) throws -> (pid_t, Int32, Int32) {
        var output: [Int32] = [0, 0]
        var error: [Int32] = [0, 0]
        guard pipe(&output) == 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        guard pipe(&error) == 0 else {
            output.forEach { close($0) }
            throw POSIXError(.init(rawValue: errno) ?? .EIO)
        }
        for descriptor in output + error { _ = fcntl(descriptor, F_SETFD, FD_CLOEXEC) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, output[1], 1)
        posix_spawn_file_actions_adddup2(&actions, error[1], 2)
        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var child: pid_t = 0
        let spawned = posix_spawn(&child, path, &actions, nil, argv, environ)
        close(output[1])
        close(error[1])
        guard spawned == 0 else {
            close(output[0])
            close(error[0])
            throw POSIXError(.init(rawValue: spawned) ?? .EIO)
        }
        return (child, output[0], error[0])
    }

    /// Runs to completion: reads both pipes until end of file, then reaps the child.
    static func run(_ path: String, _ arguments: [String]) throws -> Result {
        let child = try ChildProcess(path, arguments)
        var streams: [Int32: [UInt8]] = [child.standardOutput: [], child.standardError: []]
        var open = [child.standardOutput, child.standardError]
        while !open.isEmpty {
            var descriptors = open.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            guard poll(&descriptors, nfds_t(descriptors.count), -1) >= 0 || errno == EINTR else { break }
            for descriptor in descriptors where descriptor.revents != 0 {
                let chunk = child.read(descriptor.fd)
                if chunk.isEmpty {
                    close(descriptor.fd)
                    open.removeAll { $0 == descriptor.fd }
                } else {
                    streams[descriptor.fd]! += chunk
                }
            }
        }
        return Result(status: child.wait(), standardOutput: String(decoding: streams[child.standardOutput]!, as: UTF8.self),
                      standardError: String(decoding: streams[child.standardError]!, as: UTF8.self))
    }

    /// Up to 64 KiB from `descriptor` (blocking); empty at end of file.
    func read(_ descriptor: Int32) -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = buffer.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress, $0.count) }
            if count >= 0 { return Array(buffer.prefix(count)) }
            if errno != EINTR { return [] }
        }
    }

    /// Sends SIGTERM.
    func terminate() { kill(pid, SIGTERM) }

    /// Reaps the child; its exit status, or 128 + the signal that ended it.
    func wait() -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let signal = status & 0x7f
        return signal == 0 ? (status >> 8) & 0xff : 128 + signal
    }
}
