import Foundation
@testable import InterruptBridgeDaemon
import InterruptBridgeSystem
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The client's reading of answers: an answer the daemon cut short (killed mid-answer)
/// is an error, never taken for a complete (shorter) answer or an event stream's end.
@Suite("Daemon control client: HTTP answers")
struct ControlClientTests {
    static func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

    @Test func aCompleteChunkedStreamEnds() throws {
        var reader = HTTPResponseReader()
        let chunks = try reader.feed(Self.bytes("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nab\n\r\n0\r\n\r\n"), ended: false)
        #expect(chunks == [Self.bytes("ab\n")])
        #expect(reader.isComplete)
        #expect(reader.status == 200)
    }

    @Test func aChunkedStreamCutShortIsAnError() throws {
        var reader = HTTPResponseReader()
        let chunks = try reader.feed(Self.bytes("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nab\n\r\n"), ended: false)
        #expect(chunks == [Self.bytes("ab\n")])
        #expect(!reader.isComplete)
        #expect(throws: ControlClientError.self) { try reader.feed([], ended: true) }
    }

    @Test func aSizedBodyCutShortIsAnError() throws {
        var reader = HTTPResponseReader()
        _ = try reader.feed(Self.bytes("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n{\"a\":"), ended: false)
        #expect(throws: ControlClientError.self) { try reader.feed([], ended: true) }
    }

    @Test func aBodyWithoutLengthEndsWithTheConnection() throws {
        var reader = HTTPResponseReader()
        _ = try reader.feed(Self.bytes("HTTP/1.1 200 OK\r\n\r\nall"), ended: false)
        let rest = try reader.feed(Self.bytes(" of it"), ended: false)
        #expect(rest == [Self.bytes(" of it")])
        _ = try reader.feed([], ended: true)
        #expect(reader.isComplete)
    }

    /// A daemon that listens and never accepts (stuck, its backlog full): a call fails at its
    /// timeout naming that, where connect() used to block for ever.
    @Test func aListenerThatNeverAcceptsIsAnErrorAtTheTimeout() throws {
        let path = FileManager.default.temporaryDirectory.path + "/irqbridge-stuck-\(getpid()).sock"
        unlink(path)
        defer { unlink(path) }
        let listener = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        #expect(listener >= 0)
        defer { close(listener) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(path.utf8)) }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        try #require(bound == 0)
        try #require(listen(listener, 0) == 0)
        // A backlog of 0 holds one connection; the next connect() waits for an accept.
        let first = try UnixStream.connect(path, timeout: .seconds(1))
        defer { first.close() }

        let start = ContinuousClock.now
        let client = ControlClient(socketPath: path)
        do {
            _ = try client.request("GET", "/v1/health", timeout: .milliseconds(300))
            Issue.record("a call to a listener that never accepts answered")
        } catch {
            #expect("\(error)".contains("did not accept the connection within"), "\(error)")
        }
        #expect(ContinuousClock.now - start < .seconds(5))
    }
}
