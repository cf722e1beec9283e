// Every read of the API answers HEAD as GET without the body (RFC 9110 9.3.2): monitoring's
// `curl -I` of /v1/health or /metrics gets the GET's status and headers; the HTTP server
// leaves the body out.
import Hummingbird

extension Router {
    /// Routes GET and HEAD of `path` to `handler`.
    @discardableResult
    func getAndHead(_ path: RouterPath, use handler: @Sendable @escaping (Request, Context) async throws -> some ResponseGenerator) -> Self {
        on(path, method: .get, use: handler)
        return on(path, method: .head, use: handler)
    }
}
