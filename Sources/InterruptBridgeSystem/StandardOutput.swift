// Whether what a command printed reached its standard output: print ignores write errors,
// so a result written to a full disk or a closed descriptor would otherwise be lost silently.
import CInterruptBridge
#if canImport(Glibc)
import Glibc
#endif

public enum StandardOutput {
    /// Flushes standard output; nil when everything written to it arrived, else why not.
    /// A failed flush names its errno; a write that failed earlier (a line-buffered stream,
    /// as under `stdbuf -oL`, writes at each newline and has nothing left to flush) is said
    /// as such, its errno being gone by then.
    public static func unwritten() -> String? {
        var error: Int32 = 0
        guard cib_stdout_failed(&error) != 0 else { return nil }
        if error != 0 { return SystemError("cannot write standard output", code: error).description }
        return "cannot write standard output: a write to it failed"
    }

    /// Makes the three standard descriptors safe before a command opens anything: one closed
    /// at exec gets /dev/null, so that no descriptor opened later (a device's VFIO or sysfs
    /// file) can take its number and receive the command's output or errors. Standard output
    /// gets it read-only, so that it still acts closed (a write fails with EBADF, which the
    /// output check then reports: the result did not reach anyone); standard input write-only
    /// (a read fails); standard error writable (messages are dropped, as `2>&-` asks, where a
    /// failing write would stop Foundation's FileHandle). Returns why the command cannot
    /// run when standard output was closed and the runtime already took its number before
    /// main (libdispatch may open an eventfd that lands on it, and output would go into
    /// that), else nil.
    public static func secureStandardDescriptors() -> String? {
        for descriptor: Int32 in 0...2 where fcntl(descriptor, F_GETFD) == -1 && errno == EBADF {
            let placeholder = open("/dev/null", (descriptor == 1 ? O_RDONLY : descriptor == 0 ? O_WRONLY : O_RDWR) | O_CLOEXEC)
            if placeholder >= 0, placeholder != descriptor {
                _ = dup2(placeholder, descriptor)
                _ = close(placeholder)
            }
        }
        if let target = try? FileIO.readlink("/proc/self/fd/1"), target.hasPrefix("anon_inode:") {
            return "standard output is closed (descriptor 1 is the runtime's \(target)): give it a file, a pipe or /dev/null"
        }
        return nil
    }

    /// Writes `bytes` through the C library's standard output stream and flushes it, so a
    /// streamed child's output arrives as it comes and a failure is kept for `unwritten()`
    /// instead of stopping the process (as Foundation's FileHandle.write does).
    public static func write(_ bytes: some Sequence<UInt8>) {
        let bytes = Array(bytes)
        _ = bytes.withUnsafeBufferPointer { cib_stdout_write($0.baseAddress, $0.count) }
    }
}
