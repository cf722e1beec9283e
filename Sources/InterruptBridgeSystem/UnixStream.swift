// A connected Unix stream socket: how `irqbridge ctl` reaches the daemon's control
// socket, and how the daemon finds out whether a socket file is stale.
#if canImport(Glibc)
import Glibc
#endif

public enum UnixStream {
    /// Connects to the stream socket at `path` (close-on-exec, blocking), waiting at most
    /// `timeout` for a listener that does not accept (its backlog full): EAGAIN then. The
    /// same bound stays on every later write (SO_SNDTIMEO).
    /// ENOENT: no socket there; ECONNREFUSED: a stale file, nobody listens.
    public static func connect(_ path: String, timeout: Duration) throws(SystemError) -> OwnedDescriptor {
        let fd = try syscall("socket AF_UNIX SOCK_STREAM") { socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0) }
        let owned = OwnedDescriptor(adopting: fd, name: path)
        setTimeout(fd, SO_SNDTIMEO, timeout)
        do throws(SystemError) {
            _ = try UnixDatagram.withAddress(path) { (address, length) throws(SystemError) in
                try syscall("connect \(path)") { Glibc.connect(fd, address, length) }
            }
        } catch {
            owned.close()
            throw error
        }
        return owned
    }

    /// Writes all of `bytes`.
    public static func write(_ fd: Int32, _ bytes: [UInt8]) throws(SystemError) {
        var written = 0
        while written < bytes.count {
            let count = try syscall("write to the control socket") {
                bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + written, $0.count - written, Int32(MSG_NOSIGNAL)) }
            }
            written += count
        }
    }

    /// Reads what is available, up to `maximum` bytes; empty at end of stream.
    public static func read(_ fd: Int32, maximum: Int = 65_536) throws(SystemError) -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: maximum)
        let count = try syscall("read from the control socket") { buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) } }
        return Array(buffer[0..<count])
    }

    /// Sets a receive timeout (a read then fails with EAGAIN).
    public static func setReceiveTimeout(_ fd: Int32, _ duration: Duration) { setTimeout(fd, SO_RCVTIMEO, duration) }

    /// SO_RCVTIMEO or SO_SNDTIMEO; at least a microsecond (0 would mean none).
    private static func setTimeout(_ fd: Int32, _ option: Int32, _ duration: Duration) {
        let (seconds, attoseconds) = max(duration, .microseconds(1)).components
        var value = timeval(tv_sec: Int(seconds), tv_usec: Int(attoseconds / 1_000_000_000_000))
        _ = setsockopt(fd, SOL_SOCKET, option, &value, socklen_t(MemoryLayout<timeval>.size))
    }
}
