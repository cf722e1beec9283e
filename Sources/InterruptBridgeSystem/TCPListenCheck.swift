// Whether this process could listen on a TCP address now: the daemon asks before it binds
// any device, so an address that is not this machine's, or a port another process holds,
// is reported at start-up in the setting's terms, not after every card was taken.
import Glibc

public enum TCPListenCheck {
    /// Binds a TCP socket to `host`:`port` (a name or a numeric address) with SO_REUSEADDR,
    /// as a server would, and closes it at once: the first address the name resolves to,
    /// the one SwiftNIO's server binds. Throws what bind(2) or the name lookup said.
    public static func check(host: String, port: Int) throws(SystemError) {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &list)
        guard status == 0, let list else {
            throw SystemError("resolve \(host): \(String(cString: gai_strerror(status)))", code: EINVAL)
        }
        defer { freeaddrinfo(list) }
        let first = list.pointee
        let fd = socket(first.ai_family, first.ai_socktype | Int32(SOCK_CLOEXEC.rawValue), first.ai_protocol)
        if fd < 0 { throw .errno("socket") }
        defer { close(fd) }
        var one: Int32 = 1
        _ = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        if Glibc.bind(fd, first.ai_addr, first.ai_addrlen) != 0 { throw .errno("bind") }
    }
}
