// Messages and log lines on standard error that can never stop the process: Foundation's
// FileHandle.write traps when the write fails (standard error on a full disk, a journald
// stream that went away), which would turn a lost log line into a crashed daemon.
#if canImport(Glibc)
import Glibc
#endif

public enum StandardError {
    /// Writes `text` to descriptor 2, all of it, retrying interrupted and partial writes; a
    /// write that fails otherwise drops the rest (there is nowhere left to say so). Safe from
    /// any thread: one line is one `write` unless the kernel takes it in parts.
    public static func write(_ text: String) {
        var text = text
        text.withUTF8 { write(UnsafeRawBufferPointer($0)) }
    }

    /// Writes `bytes` (a child's standard error passed on, say) as `write(_:)` does a text.
    public static func write(bytes: some Sequence<UInt8>) {
        Array(bytes).withUnsafeBytes { write($0) }
    }

    private static func write(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress else { return }
        var offset = 0
        while offset < bytes.count {
            let written = Glibc.write(2, base + offset, bytes.count - offset)
            if written > 0 {
                offset += written
            } else if written < 0 && errno == EINTR {
                continue
            } else {
                return
            }
        }
    }
}
