@testable import InterruptBridgeDaemon
import Testing

/// The TCP API's caller, found in /proc/net/tcp(6) by both endpoints, never by ports alone.
@Suite("Loopback TCP caller lookup")
struct LoopbackPeerTests {
    static let header = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
    /// One line: local, remote (kernel's hex), state, uid, inode.
    static func line(_ local: String, _ remote: String, state: String = "01", uid: Int, inode: Int) -> String {
        "   0: \(local) \(remote) \(state) 00000000:00000000 00:00000000 00000000 \(uid) 0 \(inode) 1 0000000000000000 20 4 30 10 -1\n"
    }

    let api = LoopbackPeer.endpoint(ip: "127.0.0.1", port: 0x4A29)!
    let caller = LoopbackPeer.endpoint(ip: "127.0.0.1", port: 0xC350)!

    @Test func theCallersOwnSocketNamesItsOwner() {
        let table = Self.header
            + Self.line("0100007F:4A29", "00000000:0000", state: "0A", uid: 0, inode: 100)   // the API's listener
            + Self.line("0100007F:4A29", "0100007F:C350", uid: 0, inode: 101)                 // the daemon's accepted socket
            + Self.line("0100007F:C350", "0100007F:4A29", uid: 65534, inode: 102)             // the caller's
        #expect(LoopbackPeer.uid(peer: caller, server: api, in: [table]) == 65534)
    }

    @Test func anotherAddressWithTheSamePortsIsNotTheCaller() {
        // 127.0.0.2:C350 -> 127.0.0.1:4A29 is someone else's connection with the same ports.
        let table = Self.header
            + Self.line("0200007F:C350", "0100007F:4A29", uid: 0, inode: 200)
            + Self.line("0100007F:C350", "0100007F:4A29", uid: 65534, inode: 201)
        #expect(LoopbackPeer.uid(peer: caller, server: api, in: [table]) == 65534)
    }

    @Test func aSocketWithNoInodeNamesNobody() {
        // Sent, then closed: the kernel lists the orphaned socket as uid 0, inode 0.
        let table = Self.header + Self.line("0100007F:C350", "0100007F:4A29", state: "05", uid: 0, inode: 0)
        #expect(LoopbackPeer.uid(peer: caller, server: api, in: [table]) == nil)
        #expect(LoopbackPeer.uid(peer: caller, server: api, in: [Self.header]) == nil, "not listed: nobody")
    }

    @Test func twoLiveMatchesAreAmbiguous() {
        let table = Self.header
            + Self.line("0100007F:C350", "0100007F:4A29", uid: 0, inode: 300)
            + Self.line("0100007F:C350", "0100007F:4A29", uid: 65534, inode: 301)
        #expect(LoopbackPeer.uid(peer: caller, server: api, in: [table]) == nil)
    }

    @Test func ipv6AndIPv4MappedAddressesParse() {
        #expect(LoopbackPeer.endpoint("00000000000000000000000001000000:4A29") == LoopbackPeer.endpoint(ip: "::1", port: 0x4A29))
        #expect(LoopbackPeer.endpoint("0000000000000000FFFF00000100007F:C350") == caller, "::ffff:127.0.0.1 is 127.0.0.1")
        #expect(LoopbackPeer.endpoint(ip: "::ffff:127.0.0.1", port: 0xC350) == caller)
        #expect(LoopbackPeer.endpoint("0100007F") == nil && LoopbackPeer.endpoint("XYZ:1") == nil)
    }
}
