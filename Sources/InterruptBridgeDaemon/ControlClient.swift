// The control API's client (`irqbridge ctl`): HTTP/1.1 over the daemon's UNIX
// socket, one request per connection, with bodies sized by Content-Length or
// chunked (the event stream), read as they arrive.
import Foundation
import InterruptBridgeSystem

public enum ControlClientError: Error, Sendable, CustomStringConvertible {
    /// Nobody answers on the socket.
    case unreachable(String)
    /// The answer is not HTTP the client understands.
    case malformed(String)

    public var description: String {
        switch self {
        case .unreachable(let message), .malformed(let message): message
        }
    }
}

public struct ControlClient: Sendable {
    public let socketPath: String

    public init(socketPath: String) { self.socketPath = socketPath }

    public struct Reply: Sendable {
        public var status: Int
        public var contentType: String?
        public var body: [UInt8]
        public var text: String { String(decoding: body, as: UTF8.self) }

        /// The `error` of an error body, or the whole body.
        public var errorMessage: String {
            if let object = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any], let message = (object["error"] ?? object["message"]) as? String {
                return message
            }
            return text.trimmingCharacters(in: .whitespacesAndNewlines)
        }
    }

    /// Sends one request and reads the whole answer.
    public func request(_ method: String, _ path: String, json body: [String: any Sendable]? = nil,
                        timeout: Duration = .seconds(60)) throws(ControlClientError) -> Reply {
        try request(method, path, payload: try Self.encoded(body), timeout: timeout)
    }

    /// Sends one request whose body is `payload` as it is (JSON an encoder would not write,
    /// such as a key given twice), and reads the whole answer.
    public func request(_ method: String, _ path: String, payload: [UInt8],
                        timeout: Duration = .seconds(60)) throws(ControlClientError) -> Reply {
        var collected: [UInt8] = []
        var head: (Int, String?) = (0, nil)
        try exchange(method, path, payload: payload, timeout: timeout) { status, contentType, chunk in
            head = (status, contentType)
            collected += chunk
            return true
        }
        return Reply(status: head.0, contentType: head.1, body: collected)
    }

    /// Sends one request and hands the body to `receive` as it arrives, until it
    /// returns false or the answer ends.
    public func exchange(_ method: String, _ path: String, body: [String: any Sendable]? = nil, timeout: Duration? = nil,
                         receive: (_ status: Int, _ contentType: String?, _ chunk: [UInt8]) -> Bool) throws(ControlClientError) {
        try exchange(method, path, payload: try Self.encoded(body), timeout: timeout, receive: receive)
    }

    /// `body` as the request's JSON (no bytes for no body).
    private static func encoded(_ body: [String: any Sendable]?) throws(ControlClientError) -> [UInt8] {
        guard let body else { return [] }
        do { return Array(try JSONSerialization.data(withJSONObject: body, options: [.sortedKeys])) } catch {
            throw .malformed("cannot encode the request: \(error)")
        }
    }

    private func exchange(_ method: String, _ path: String, payload: [UInt8], timeout: Duration?,
                          receive: (_ status: Int, _ contentType: String?, _ chunk: [UInt8]) -> Bool) throws(ControlClientError) {
        let connection: OwnedDescriptor
        // A daemon that does not accept (stuck, or its backlog full) is an error after the
        // call's timeout (10 s for a stream without one), not a connect() that never returns.
        let connectTimeout = timeout ?? .seconds(10)
        do { connection = try UnixStream.connect(socketPath, timeout: connectTimeout) } catch {
            if error.name == "EAGAIN" {
                throw .unreachable("the daemon at \(socketPath) did not accept the connection within \(connectTimeout) (is it stuck?)")
            }
            throw .unreachable("cannot reach the daemon at \(socketPath): \(error.name == "ENOENT" || error.name == "ECONNREFUSED" ? "is irqbridge daemon running? " : "")\(error)")
        }
        defer { connection.close() }
        if let timeout { UnixStream.setReceiveTimeout(connection.rawValue, timeout) }
        var request = "\(method) \(path) HTTP/1.1\r\nHost: irqbridge\r\nConnection: close\r\nUser-Agent: irqbridge-ctl\r\n"
        if !payload.isEmpty || method == "POST" { request += "Content-Type: application/json\r\nContent-Length: \(payload.count)\r\n" }
        request += "\r\n"
        do { try UnixStream.write(connection.rawValue, Array(request.utf8) + payload) } catch {
            throw .unreachable("sending to \(socketPath) failed: \(error)")
        }
        var reader = HTTPResponseReader(answersHead: method == "HEAD")
        var announced = false
        while true {
            let bytes: [UInt8]
            do { bytes = try UnixStream.read(connection.rawValue) } catch {
                throw .unreachable(error.name == "EAGAIN" ? "the daemon did not answer within the timeout" : "reading from \(socketPath) failed: \(error)")
            }
            let chunks = try reader.feed(bytes, ended: bytes.isEmpty)
            if let status = reader.status {
                // An empty body still delivers its status once.
                let deliver = chunks.isEmpty && (reader.isComplete || !announced) ? [[]] : chunks
                announced = true
                for chunk in deliver where !receive(status, reader.contentType, chunk) { return }
            }
            if reader.isComplete || bytes.isEmpty {
                guard reader.status != nil else { throw .malformed("the daemon closed the connection without an answer") }
                return
            }
        }
    }
}

/// An HTTP/1.1 response parsed as it arrives: the status line and headers, then
/// the body by Content-Length, chunked encoding, or to the end of the stream.
struct HTTPResponseReader {
    /// The answer to a HEAD: its Content-Length is the GET's, and no body follows (RFC 9110 9.3.2).
    let answersHead: Bool
    private(set) var status: Int?
    private(set) var contentType: String?
    private(set) var isComplete = false
    private var buffer: [UInt8] = []
    private var remaining: Int?
    private var chunked = false

    init(answersHead: Bool = false) { self.answersHead = answersHead }

    mutating func feed(_ bytes: [UInt8], ended: Bool) throws(ControlClientError) -> [[UInt8]] {
        buffer += bytes
        var out: [[UInt8]] = []
        if status == nil {
            guard let end = Self.find([13, 10, 13, 10], in: buffer) else {
                if ended { throw .malformed("the answer ended inside its headers") }
                return []
            }
            let lines = String(decoding: buffer[..<end], as: UTF8.self).components(separatedBy: "\r\n")
            let parts = lines[0].split(separator: " ")
            guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), let code = Int(parts[1]) else { throw .malformed("not an HTTP answer: \(lines[0])") }
            status = code
            for line in lines.dropFirst() {
                guard let colon = line.firstIndex(of: ":") else { continue }
                let name = line[..<colon].lowercased()
                let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                if name == "content-length" { remaining = Int(value) }
                if name == "transfer-encoding", value.lowercased().contains("chunked") { chunked = true }
                if name == "content-type" { contentType = value }
            }
            buffer.removeFirst(end + 4)
            if answersHead {
                isComplete = true
                return []
            }
        }
        if chunked {
            while true {
                guard let lineEnd = Self.find([13, 10], in: buffer) else { break }
                let sizeText = String(decoding: buffer[..<lineEnd], as: UTF8.self).split(separator: ";").first.map(String.init) ?? ""
                guard let size = Int(sizeText.trimmingCharacters(in: .whitespaces), radix: 16) else { throw .malformed("bad chunk size '\(sizeText)'") }
                if size == 0 {
                    isComplete = true
                    buffer = []
                    break
                }
                guard buffer.count >= lineEnd + 2 + size + 2 else { break }
                out.append(Array(buffer[(lineEnd + 2)..<(lineEnd + 2 + size)]))
                buffer.removeFirst(lineEnd + 2 + size + 2)
            }
        } else if let left = remaining {
            let take = min(left, buffer.count)
            if take > 0 { out.append(Array(buffer[..<take])) }
            buffer.removeFirst(take)
            remaining = left - take
            if remaining == 0 { isComplete = true }
        } else {
            if !buffer.isEmpty { out.append(buffer) }
            buffer = []
            if ended { isComplete = true }
        }
        if ended, !isComplete {
            // A chunked or sized body cut short: the daemon went away mid-answer (killed,
            // crashed). Not an answer to act on, and a follower of the event stream must
            // not take it for the stream's end.
            throw .malformed("the daemon closed the connection before the end of its answer")
        }
        return out
    }

    static func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        for index in 0...(haystack.count - needle.count) where haystack[index] == needle[0] {
            if Array(haystack[index..<(index + needle.count)]) == needle { return index }
        }
        return nil
    }
}
