@testable import InterruptBridgeDaemon
import Testing

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
}
