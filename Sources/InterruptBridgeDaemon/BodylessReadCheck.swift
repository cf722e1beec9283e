// A GET takes no body: one other than nothing or `{}` is a 400, as it is for the POSTs
// that take none (the OpenAPI document's rule), rather than a body silently ignored.
import Hummingbird

struct BodylessReadCheck: RouterMiddleware {
    typealias Context = ControlContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard request.method == .get || request.method == .head else { return try await next(request, context) }
        do throws(ControlError) {
            _ = try await ControlAPI.body(NoBody.self, request)
        } catch {
            return ControlResponses.error(error)
        }
        return try await next(request, context)
    }
}
