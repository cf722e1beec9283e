// Who is calling on the loopback TCP control API. TCP carries no credentials, but the
// kernel lists every TCP socket of this network namespace in /proc/net/tcp and tcp6
// with its owner's uid (as identd answers): the caller's socket is the one whose local
// address and port are the connection's remote ones and whose remote address and port
// are the API's own. Both addresses and both ports must match exactly: the ports alone
// could name another socket (one on 127.0.0.2 with the same ports, the daemon's own
// accepted socket when both ports are the API's). A socket with no inode is not a
// process's (a TIME_WAIT or orphaned FIN_WAIT entry, which the kernel shows as uid 0):
// it names nobody, and neither does an ambiguous listing.

#if canImport(Glibc)
import Glibc
#endif

/// The owner of a loopback TCP connection's other end, found in /proc/net/tcp(6) text.
enum LoopbackPeer {
    /// An endpoint as 16 bytes (IPv4 as its IPv4-mapped IPv6 form) and a port.
    struct Endpoint: Equatable {
        var address: [UInt8]
        var port: Int
    }

    /// The uid owning the socket whose local endpoint is `peer` and whose remote one is
    /// `server`, from the text of /proc/net/tcp and /proc/net/tcp6; nil when no live
    /// socket, or more than one, is listed so.
    static func uid(peer: Endpoint, server: Endpoint, in tables: [String]) -> UInt32? {
        var found: [UInt32] = []
        for table in tables {
            for line in table.split(separator: "\n").dropFirst() {
                // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode ...
                let fields = line.split(separator: " ", omittingEmptySubsequences: true)
                guard fields.count > 9, let local = endpoint(fields[1]), let remote = endpoint(fields[2]),
                      local == peer, remote == server, let uid = UInt32(fields[7]), let inode = UInt64(fields[9]), inode != 0 else { continue }
                found.append(uid)
            }
        }
        return found.count == 1 ? found[0] : nil
    }

    /// An `ADDRESS:PORT` field: the address as the kernel prints it (each 32-bit word of
    /// the network-order address read in host order, little-endian here, in hexadecimal:
    /// 127.0.0.1 is 0100007F), the port in hexadecimal.
    static func endpoint(_ field: Substring) -> Endpoint? {
        guard let colon = field.lastIndex(of: ":"), let port = Int(field[field.index(after: colon)...], radix: 16) else { return nil }
        let hex = field[..<colon]
        guard hex.count == 8 || hex.count == 32 else { return nil }
        var bytes: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 8)
            guard let word = UInt32(hex[index..<next], radix: 16) else { return nil }
            withUnsafeBytes(of: word.littleEndian) { bytes += $0 }
            index = next
        }
        return Endpoint(address: mapped(bytes), port: port)
    }

    /// An IP address in text ("127.0.0.1", "::1", "::ffff:127.0.0.1") and a port.
    static func endpoint(ip: String, port: Int) -> Endpoint? {
        if let v4 = ipv4Bytes(ip) { return Endpoint(address: mapped(v4), port: port) }
        guard let v6 = ipv6Bytes(ip) else { return nil }
        return Endpoint(address: v6, port: port)
    }

    /// IPv4's 4 bytes as ::ffff:a.b.c.d; 16 bytes unchanged.
    private static func mapped(_ bytes: [UInt8]) -> [UInt8] {
        bytes.count == 4 ? [UInt8](repeating: 0, count: 10) + [0xff, 0xff] + bytes : bytes
    }

    private static func ipv4Bytes(_ text: String) -> [UInt8]? {
        var address = in_addr()
        guard inet_pton(AF_INET, text, &address) == 1 else { return nil }
        return withUnsafeBytes(of: address) { Array($0) }
    }

    private static func ipv6Bytes(_ text: String) -> [UInt8]? {
        var address = in6_addr()
        guard inet_pton(AF_INET6, text, &address) == 1 else { return nil }
        return withUnsafeBytes(of: address) { Array($0) }
    }
}
