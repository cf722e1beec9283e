// A Unix datagram socket at a path: how `irqbridge trigger` asks the process that
// holds a device (`watch`, `wait`) to raise its interrupts, since a VFIO device can
// be opened by one process only and its BARs, once that process maps them, are
// reserved (a second process cannot map them through sysfs either).
#if canImport(Glibc)
import Glibc
#endif

public enum UnixDatagram {
    /// Binds a datagram socket at `path` (a stale socket file there is removed
    /// first), readable by its owner only. Non-blocking, close-on-exec.
    public static func bind(_ path: String) throws(SystemError) -> OwnedDescriptor {
        let fd = try syscall("socket AF_UNIX SOCK_DGRAM") { socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0) }
        let owned = OwnedDescriptor(adopting: fd, name: path)
        if !path.hasPrefix("@") { unlink(path) }
        let previous = umask(0o077)
        defer { umask(previous) }
        _ = try withAddress(path) { (address, length) throws(SystemError) in
            try syscall("bind \(path)") { Glibc.bind(fd, address, length) }
        }
        return owned
    }

    /// Sends one datagram to the socket at `path`. ENOENT / ECONNREFUSED: nobody listens.
    public static func send(_ bytes: [UInt8], to path: String) throws(SystemError) {
        let fd = try syscall("socket AF_UNIX SOCK_DGRAM") { socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0) }
        defer { close(fd) }
        _ = try withAddress(path) { (address, length) throws(SystemError) in
            try syscall("sendto \(path)") { bytes.withUnsafeBytes { sendto(fd, $0.baseAddress, $0.count, 0, address, length) } }
        }
    }

    /// One datagram (at most 512 bytes), or nil when none is waiting.
    public static func receive(_ fd: Int32) throws(SystemError) -> [UInt8]? {
        var buffer = [UInt8](repeating: 0, count: 512)
        let count = try nonBlockingSyscall("recv") { buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) } }
        return count.map { Array(buffer[0..<$0]) }
    }

    /// A `sockaddr_un` for `path` ("@name": Linux's abstract namespace), for the
    /// length of `body`. Shared by the datagram and stream sockets.
    static func withAddress<T>(_ path: String, _ body: (UnsafePointer<sockaddr>, socklen_t) throws(SystemError) -> T) throws(SystemError) -> T {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        // "@name" is Linux's abstract namespace (systemd's NOTIFY_SOCKET uses it): a
        // leading NUL, and the length counts exactly the name's bytes.
        let abstract = path.hasPrefix("@")
        var bytes = Array(path.utf8)
        if abstract { bytes[0] = 0 }
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard bytes.count < capacity else { throw SystemError("socket path \(path) is longer than \(capacity - 1) bytes", code: ENAMETOOLONG) }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let length = abstract ? MemoryLayout<sa_family_t>.size + bytes.count : MemoryLayout<sockaddr_un>.size
        return try withUnsafePointer(to: &address) { (pointer) throws(SystemError) in
            try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { (raw) throws(SystemError) in
                try body(raw, socklen_t(length))
            }
        }
    }
}
