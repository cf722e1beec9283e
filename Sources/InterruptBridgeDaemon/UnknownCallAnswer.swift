// A request for no call of the API is answered as every other error is, {"error",
// "status"}, where the router alone answers with an empty body: 404 for a path the API
// does not have, 405 with an Allow header (RFC 9110 15.5.6) for a path it has that does
// not take the request's method. Hummingbird's router answers both 404.
import HTTPTypes
import Hummingbird
import InterruptBridgeSystem

struct UnknownCallAnswer: RouterMiddleware {
    typealias Context = ControlContext

    let calls: KnownCalls

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            let response = try await next(request, context)
            guard response.status == .notFound || response.status == .methodNotAllowed, response.body.contentLength == 0 else { return response }
            return answer(request)
        } catch let error as HTTPError where error.status == .notFound || error.status == .methodNotAllowed {
            return answer(request)
        }
    }

    private func answer(_ request: Request) -> Response {
        let call = "\(request.method) \(request.uri.path)"
        let allowed = calls.methods(forPath: request.uri.path)
        guard !allowed.isEmpty else {
            return ControlResponses.error(.notFound("no such call: \(call) (docs/control-api.openapi.yaml lists them)"))
        }
        let list = allowed.map(\.rawValue).joined(separator: ", ")
        var response = ControlResponses.error(.notFound("\(call): this path takes \(list) only"), status: .methodNotAllowed)
        response.headers[.allow] = list
        return response
    }
}

/// The paths the API has and the methods each takes, read from the router once its
/// routes are all added (the middleware that asks is added before them).
final class KnownCalls: Sendable {
    private let routes = LockedValue<[(path: RouterPath, method: HTTPRequest.Method)]>([])

    func learn<Context>(from router: Router<Context>) {
        let learned = router.routes.map { (path: $0.path, method: $0.method) }
        routes.withLock { $0 = learned }
    }

    /// The methods a route for `path` takes, in a fixed order (empty: no route has the path).
    func methods(forPath path: String) -> [HTTPRequest.Method] {
        let segments = path.split(separator: "/", omittingEmptySubsequences: true)
        let methods = routes.withLock { routes in
            routes.filter { route in
                route.path.components.count == segments.count && zip(route.path.components, segments).allSatisfy { $0 ~= $1 }
            }.map(\.method)
        }
        return Self.order.filter(methods.contains) + methods.filter { !Self.order.contains($0) }
    }

    private static let order: [HTTPRequest.Method] = [.get, .head, .post, .put, .patch, .delete]
}
