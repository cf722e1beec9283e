// Who is calling on the loopback TCP control API. TCP carries no credentials, but the
// kernel lists every TCP socket of this network namespace in /proc/net/tcp and tcp6
// with its owner's uid: the caller's socket is the one whose local port is the
// connection's remote port and whose remote port is the API's own (as identd answers).

/// The owner of a loopback TCP connection's other end, found in /proc/net/tcp(6) text.
enum LoopbackPeer {
    /// The uid owning the socket whose local port is `peerPort` and whose remote port is
    /// `serverPort`, from the text of /proc/net/tcp and /proc/net/tcp6; nil when no such
    /// socket is listed (another network namespace, or it closed meanwhile).
    static func uid(peerPort: Int, serverPort: Int, in tables: [String]) -> UInt32? {
        for table in tables {
            for line in table.split(separator: "\n").dropFirst() {
                // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode ...
                let fields = line.split(separator: " ", omittingEmptySubsequences: true)
                guard fields.count > 7, let local = port(fields[1]), let remote = port(fields[2]),
                      local == peerPort, remote == serverPort, let uid = UInt32(fields[7]) else { continue }
                return uid
            }
        }
        return nil
    }

    /// The port of an `ADDRESS:PORT` field (the port in hexadecimal).
    private static func port(_ field: Substring) -> Int? {
        guard let colon = field.lastIndex(of: ":") else { return nil }
        return Int(field[field.index(after: colon)...], radix: 16)
    }
}
