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

    /// Sends one datagram to the socket at `path` without blocking for longer than `patience`:
    /// a receiver whose queue is full (a service manager that does not read) is tried again
    /// every millisecond until then, and then the datagram is dropped (EAGAIN thrown).
    public static func send(_ bytes: [UInt8], to path: String, patience: Duration) throws(SystemError) {
        let fd = try unboundSocket()
        defer { close(fd) }
        let deadline = ContinuousClock.now + patience
        while true {
            do throws(SystemError) {
                return try send(bytes, from: fd, to: path, flags: Int32(MSG_DONTWAIT))
            } catch where error.code == EAGAIN && ContinuousClock.now < deadline {
                PThread.sleep(for: .milliseconds(1))
            }
        }
    }

    /// One datagram (at most 512 bytes), or nil when none is waiting.
    public static func receive(_ fd: Int32) throws(SystemError) -> [UInt8]? {
        try receiveWithSender(fd)?.bytes
    }

    /// Where a datagram came from, to answer it (`reply`); nil address: an unbound sender.
    public struct Sender: Sendable {
        var address = sockaddr_un()
        var length: socklen_t = 0
        /// Whether the sender had an address (it bound its socket) and can be answered.
        public var canBeAnswered: Bool { length > socklen_t(MemoryLayout<sa_family_t>.size) }
    }

    /// One datagram (at most 512 bytes) and its sender, or nil when none is waiting.
    public static func receiveWithSender(_ fd: Int32) throws(SystemError) -> (bytes: [UInt8], sender: Sender)? {
        var buffer = [UInt8](repeating: 0, count: 512)
        var sender = Sender()
        sender.length = socklen_t(MemoryLayout<sockaddr_un>.size)
        let count = try nonBlockingSyscall("recvfrom") {
            buffer.withUnsafeMutableBytes { bytes in
                withUnsafeMutablePointer(to: &sender.address) { address in
                    address.withMemoryRebound(to: sockaddr.self, capacity: 1) { recvfrom(fd, bytes.baseAddress, bytes.count, 0, $0, &sender.length) }
                }
            }
        }
        return count.map { (Array(buffer[0..<$0]), sender) }
    }

    /// Answers a datagram from `fd` to its sender. Fails (ECONNREFUSED, ENOENT) when the
    /// sender has gone.
    public static func reply(_ bytes: [UInt8], from fd: Int32, to sender: Sender) throws(SystemError) {
        var address = sender.address
        _ = try syscall("sendto (reply)") {
            bytes.withUnsafeBytes { payload in
                withUnsafePointer(to: &address) { pointer in
                    pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(fd, payload.baseAddress, payload.count, 0, $0, sender.length) }
                }
            }
        }
    }

    /// Connects the datagram socket `fd` to the socket at `path`: from then on it
    /// receives datagrams from that socket only (others' sends fail EPERM).
    /// ENOENT / ECONNREFUSED: nobody listens.
    public static func connect(_ fd: Int32, to path: String) throws(SystemError) {
        _ = try withAddress(path) { (address, length) throws(SystemError) in
            try syscall("connect \(path)") { Glibc.connect(fd, address, length) }
        }
    }

    /// Whether a process still has the socket at `path` open: a connect from a fresh
    /// socket succeeds (nothing is sent). A socket file left by a process that was
    /// killed refuses it (ECONNREFUSED), as a missing one does (ENOENT).
    public static func isListening(_ path: String) -> Bool {
        probeAnswers { probe throws(SystemError) in try connect(probe, to: path) }
    }

    /// Whether the socket `sender` sent from is still open: a requester that was
    /// interrupted or killed closed it, and nobody is left to answer (or to raise for).
    /// A socket connected elsewhere refuses the probe's connect (EPERM) and is open.
    public static func isListening(_ sender: Sender) -> Bool {
        guard sender.canBeAnswered else { return true }
        return probeAnswers { probe throws(SystemError) in
            var address = sender.address
            _ = try syscall("connect") {
                withUnsafePointer(to: &address) { pointer in
                    pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(probe, $0, sender.length) }
                }
            }
        }
    }

    /// `connect` run on a fresh unbound socket: false only when nobody is there to take it
    /// (ECONNREFUSED, ENOENT); true when it is taken or refused otherwise, or the probe
    /// cannot be made (cannot tell: assume it is still there).
    private static func probeAnswers(_ connect: (Int32) throws(SystemError) -> Void) -> Bool {
        guard let probe = try? unboundSocket() else { return true }
        defer { Glibc.close(probe) }
        do {
            try connect(probe)
            return true
        } catch {
            return !(error.code == ECONNREFUSED || error.code == ENOENT)
        }
    }

    /// Sends one datagram from the socket `fd` (bound: the receiver can answer it) to the
    /// socket at `path`; `flags` as sendto(2) takes them. ENOENT / ECONNREFUSED: nobody listens.
    public static func send(_ bytes: [UInt8], from fd: Int32, to path: String, flags: Int32 = 0) throws(SystemError) {
        _ = try withAddress(path) { (address, length) throws(SystemError) in
            try syscall("sendto \(path)") { bytes.withUnsafeBytes { sendto(fd, $0.baseAddress, $0.count, flags, address, length) } }
        }
    }

    /// A blocking, close-on-exec datagram socket with no address of its own (the
    /// caller closes it).
    private static func unboundSocket() throws(SystemError) -> Int32 {
        try syscall("socket AF_UNIX SOCK_DGRAM") { socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0) }
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
