// JSON responses of the control API: bodies with sorted keys, and every error as
// {"error": MESSAGE, "status": CODE}.
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

enum ControlResponses {
    /// The API's one JSON form: keys sorted, slashes as they are.
    static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }

    static func json(_ value: some Encodable, status: HTTPResponse.Status = .ok) -> Response {
        let encoder = encoder()
        do {
            return Response(status: status, headers: [.contentType: "application/json"],
                            body: ResponseBody(byteBuffer: ByteBuffer(bytes: try encoder.encode(value) + [0x0a])))
        } catch {
            return self.error(.failed("encoding the response failed: \(error)"), status: .internalServerError)
        }
    }

    struct ErrorBody: Encodable {
        var error: String
        var status: Int
    }

    static func error(_ error: ControlError, status: HTTPResponse.Status? = nil) -> Response {
        let code = status ?? HTTPResponse.Status(code: error.status)
        return json(ErrorBody(error: error.description, status: code.code), status: code)
    }

    static func text(_ text: String, contentType: String) -> Response {
        Response(status: .ok, headers: [.contentType: contentType], body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
    }

    /// Runs a call, answering its result as JSON or its failure as an error body.
    static func answer<Body: Encodable>(_ call: () async throws(ControlError) -> Body) async -> Response {
        do {
            return json(try await call())
        } catch {
            return self.error(error)
        }
    }
}
