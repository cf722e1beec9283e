// A request for no call of the API (an unknown path, or a known path with a method it
// does not take: Hummingbird's router answers both 404) is answered as every other
// error is, {"error", "status"}, where the router alone answers with an empty body.
import Hummingbird

struct UnknownCallAnswer: RouterMiddleware {
    typealias Context = ControlContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            let response = try await next(request, context)
            guard response.status == .notFound || response.status == .methodNotAllowed, response.body.contentLength == 0 else { return response }
            return Self.answer(request, status: response.status)
        } catch let error as HTTPError where error.status == .notFound || error.status == .methodNotAllowed {
            return Self.answer(request, status: error.status)
        }
    }

    private static func answer(_ request: Request, status: HTTPResponse.Status) -> Response {
        let call = "\(request.method) \(request.uri.path)"
        let message = status == .methodNotAllowed ? "\(call): this path does not take \(request.method)"
            : "no such call: \(call) (docs/control-api.openapi.yaml lists them)"
        return ControlResponses.error(.notFound(message), status: status)
    }
}
