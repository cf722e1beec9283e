// The control API's routes (control-api.openapi.yaml documents each): devices,
// bind/unbind, connect/disconnect, statistics, counters, trigger, wait, storm
// re-arm, configuration save and reload, health, metrics, and the event stream.
import Foundation
import HTTPTypes
import Hummingbird
import InterruptBridgeCore
import InterruptBridgeDiscovery
import NIOCore
import Synchronization

/// A request body: a JSON object whose keys are all the call's own (a misspelt key is
/// a 400, not a default silently taken, as the configuration file is strict).
protocol RequestBody: Decodable {
    static var keys: [String] { get }
    /// The keys that take a whole number (a 1.5 there is named, not "not valid JSON").
    static var wholeNumberKeys: [String] { get }
}

extension RequestBody {
    static var wholeNumberKeys: [String] { [] }
}

/// The body of a call that takes none: nothing, or `{}`. Anything else is a 400, as an
/// unknown key is for the calls that take one.
struct NoBody: RequestBody {
    static let keys: [String] = []
}

/// The request bodies.
struct BindRequest: RequestBody {
    static let keys = ["driver", "from"]
    var driver: String?
    var from: String?
}

struct TriggerRequestBody: RequestBody {
    static let keys = ["vector", "count", "rate"]
    static let wholeNumberKeys = ["vector", "count"]
    var vector: Int?
    var count: Int?
    var rate: Double?
}

struct WaitRequestBody: RequestBody {
    static let keys = ["vector", "count", "timeout", "since"]
    static let wholeNumberKeys = ["vector", "count"]
    var vector: Int?
    var count: UInt64?
    /// Seconds.
    var timeout: Double?
    /// "now" (the default) or "reset": count the interrupts since the last counters reset.
    var since: String?
}

struct SaveRequestBody: RequestBody {
    static let keys = ["path"]
    var path: String?
}

struct ReloadOutcome: Encodable {
    var applied: Bool
    var message: String
    /// The devices an applied reload acted on and left failed (empty otherwise).
    var failed: [String]
}

struct SavedConfiguration: Encodable {
    var path: String?
    var configuration: String
}

public struct ControlAPI: Sendable {
    let registry: DeviceRegistry
    let metrics: MetricsExporter
    let events: EventBroadcaster
    /// Reloads the configuration file as SIGHUP does.
    let reload: @Sendable () async -> (applied: Bool, message: String, failed: [String])

    public init(registry: DeviceRegistry, metrics: MetricsExporter, events: EventBroadcaster,
                reload: @escaping @Sendable () async -> (applied: Bool, message: String, failed: [String])) {
        self.registry = registry
        self.metrics = metrics
        self.events = events
        self.reload = reload
    }

    static let maximumBody = 64 * 1024

    func router() -> Router<ControlContext> {
        let router = Router(context: ControlContext.self)
        router.add(middleware: PeerCredentialCheck())
        let calls = KnownCalls()
        router.add(middleware: UnknownCallAnswer(calls: calls))
        router.add(middleware: BodylessReadCheck())
        let registry = self.registry, metrics = self.metrics, events = self.events, reload = self.reload

        router.getAndHead("/v1/health") { _, _ in ControlResponses.json(await registry.health()) }
        router.getAndHead("/v1/devices") { _, _ in ControlResponses.json(await registry.list()) }
        router.getAndHead("/v1/devices/:id") { _, context in
            await ControlResponses.answer { () throws(ControlError) in try await registry.status(try Self.id(context)) }
        }
        router.post("/v1/devices/:id/bind") { request, context in
            await ControlResponses.answer { () throws(ControlError) in
                let id = try Self.id(context)
                let body = try await Self.body(BindRequest.self, request)
                var driver: UserSpaceDriver?
                if let name = body?.driver {
                    guard let chosen = UserSpaceDriver(rawValue: name) else {
                        throw .badRequest("driver must be vfio-pci or uio_pci_generic, not '\(name)'")
                    }
                    driver = chosen
                }
                return try await registry.bind(id, driver: driver, from: body?.from)
            }
        }
        router.post("/v1/devices/:id/unbind") { request, context in
            await ControlResponses.answer { () throws(ControlError) in
                _ = try await Self.body(NoBody.self, request)
                return try await registry.unbind(try Self.id(context))
            }
        }
        router.post("/v1/devices/:id/connect") { request, context in
            await ControlResponses.answer { () throws(ControlError) in
                _ = try await Self.body(NoBody.self, request)
                return try await registry.connect(try Self.id(context))
            }
        }
        router.post("/v1/devices/:id/disconnect") { request, context in
            await ControlResponses.answer { () throws(ControlError) in
                _ = try await Self.body(NoBody.self, request)
                return try await registry.disconnect(try Self.id(context))
            }
        }
        router.post("/v1/devices/:id/rearm") { request, context in
            await ControlResponses.answer { () throws(ControlError) in
                _ = try await Self.body(NoBody.self, request)
                return try await registry.rearm(try Self.id(context))
            }
        }
        router.getAndHead("/v1/devices/:id/statistics") { _, context in
            await ControlResponses.answer { () throws(ControlError) in try await registry.statistics(try Self.id(context)) }
        }
        router.post("/v1/devices/:id/counters/reset") { request, context in
            await ControlResponses.answer { () throws(ControlError) in
                _ = try await Self.body(NoBody.self, request)
                return try await registry.resetCounters(try Self.id(context))
            }
        }
        router.post("/v1/counters/reset") { request, _ in
            await ControlResponses.answer { () throws(ControlError) in
                _ = try await Self.body(NoBody.self, request)
                return try await registry.resetCounters(nil)
            }
        }
        router.post("/v1/devices/:id/trigger") { request, context in
            var response = await ControlResponses.answer { () throws(ControlError) in
                let id = try Self.id(context)
                // The raising stops when the caller's connection closes (Hummingbird does not
                // cancel a handler whose client went away; it reports the inbound side closing).
                let caller = CallerConnection()
                do {
                    return try await request.body.consumeWithInboundCloseHandler { body in
                        let body = try await Self.body(TriggerRequestBody.self, Request(head: request.head, body: body))
                        return try await registry.trigger(id, vector: body?.vector, count: body?.count ?? 1, rate: body?.rate,
                                                          callerLeft: { caller.hasClosed })
                    } onInboundClosed: {
                        caller.close()
                    }
                } catch let error as ControlError {
                    throw error
                } catch {
                    throw .failed("the trigger of \(id): \(error)")
                }
            }
            // Watching the inbound side took the connection's reader: this connection ends
            // with the answer, and the header says so, so a keep-alive client opens a new one.
            response.headers[.connection] = "close"
            return response
        }
        router.post("/v1/devices/:id/wait") { request, context in
            await ControlResponses.answer { () throws(ControlError) in
                let id = try Self.id(context)
                let body = try await Self.body(WaitRequestBody.self, request)
                let seconds = body?.timeout ?? 10
                guard seconds.isFinite, seconds >= 0, seconds <= 3600 else { throw .badRequest("timeout must be 0...3600 seconds") }
                let since = body?.since ?? "now"
                guard since == "now" || since == "reset" else { throw .badRequest("since must be \"now\" or \"reset\", not \"\(since)\"") }
                return try await registry.wait(id, vector: body?.vector, count: body?.count ?? 1, timeout: .milliseconds(Int64(seconds * 1000)),
                                               sinceReset: since == "reset")
            }
        }
        router.getAndHead("/v1/config") { _, _ in
            await ControlResponses.answer { () throws(ControlError) in
                SavedConfiguration(path: nil, configuration: try await registry.saveConfiguration(to: nil))
            }
        }
        router.post("/v1/config/save") { request, _ in
            await ControlResponses.answer { () throws(ControlError) in
                let body = try await Self.body(SaveRequestBody.self, request)
                return SavedConfiguration(path: body?.path, configuration: try await registry.saveConfiguration(to: body?.path))
            }
        }
        router.post("/v1/reload") { request, _ in
            do throws(ControlError) { _ = try await Self.body(NoBody.self, request) } catch { return ControlResponses.error(error) }
            let outcome = await reload()
            return ControlResponses.json(ReloadOutcome(applied: outcome.applied, message: outcome.message, failed: outcome.failed),
                                         status: outcome.applied ? .ok : .unprocessableContent)
        }
        router.getAndHead("/metrics") { _, _ in
            ControlResponses.text(await metrics.scrape(), contentType: "text/plain; version=0.0.4; charset=utf-8")
        }
        let eventStreamHeaders: HTTPFields = [.contentType: "application/x-ndjson", .cacheControl: "no-store"]
        // HEAD: the stream's headers, without watching (its body would never end).
        // `/events` is the same stream under the path issue 12 names (`GET /events`), beside
        // the versioned one the other calls share.
        for path in ["/v1/events", "/events"] {
            router.head(RouterPath(path)) { _, _ in Response(status: .ok, headers: eventStreamHeaders) }
            router.get(RouterPath(path)) { _, context in Self.eventStream(events, context: context, headers: eventStreamHeaders) }
        }
        calls.learn(from: router)
        return router
    }

    /// `GET /v1/events` (and `/events`): one JSON event per line from now on, until the
    /// daemon stops or the client goes.
    static func eventStream(_ events: EventBroadcaster, context: ControlContext, headers eventStreamHeaders: HTTPFields) -> Response {
        let (id, stream) = events.watch()
        // A client that goes while no event comes would otherwise be found only by the
        // next event's failed write, counted in irqbridge_event_watchers until then: its
        // connection's close ends the stream at once.
        context.channel.closeFuture.whenComplete { _ in events.unwatch(id) }
        return Response(status: .ok, headers: eventStreamHeaders,
                        body: ResponseBody { writer in
                            // A client gone shows as a failed write, not a cancellation: unwatch either way.
                            defer { events.unwatch(id) }
                            let encoder = ControlResponses.encoder()
                            for await event in stream {
                                guard let line = try? encoder.encode(event) else { continue }
                                try await writer.write(ByteBuffer(bytes: line + [0x0a]))
                            }
                            try await writer.finish(nil)
                        })
    }

    static func id(_ context: ControlContext) throws(ControlError) -> String {
        // The router hands the segment over as sent: `ctl` and curl percent-encode what a URL path cannot carry.
        guard let raw = context.parameters.get("id"), let id = raw.removingPercentEncoding, !id.isEmpty else {
            throw .badRequest("missing or malformed device id")
        }
        // A simulated device's name has no ':' (the configuration allows letters, digits, '-', '_'):
        // an id with one is meant as a PCI address, and one that is not is malformed, not unknown.
        if id.contains(":"), PCIAddress(id) == nil {
            throw .badRequest("'\(id)' is not a PCI address (DOMAIN:BUS:SLOT.FUNCTION or BUS:SLOT.FUNCTION, hexadecimal)")
        }
        return id
    }

    /// The JSON body, or nil when there is none. Malformed JSON is a 400.
    static func body<Body: RequestBody>(_ type: Body.Type, _ request: Request) async throws(ControlError) -> Body? {
        var request = request
        let buffer: ByteBuffer
        do { buffer = try await request.collectBody(upTo: maximumBody) } catch {
            throw .badRequest("the body is larger than \(maximumBody) bytes or unreadable")
        }
        guard buffer.readableBytes > 0 else { return nil }
        let data = Data(buffer.readableBytesView)
        var fields: [String: Any]?
        if let object = try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]) {
            guard let object = object as? [String: Any] else { throw .badRequest("the body must be a JSON object") }
            if let unknown = object.keys.sorted().first(where: { !Body.keys.contains($0) }) {
                throw .badRequest("unknown key '\(unknown)' in the body (this call takes "
                                  + (Body.keys.isEmpty ? "no body)" : "\(Body.keys.joined(separator: ", ")))"))
            }
            fields = object
            // The decoder would keep the last of a key written twice and drop the first.
            if let key = JSONDuplicateKeys.first(in: String(decoding: data, as: UTF8.self)) {
                throw .badRequest("'\(key)' is written twice in the body; only one can be meant")
            }
        } else if let syntax = JSONSyntaxError.first(in: String(decoding: data, as: UTF8.self)) {
            throw .badRequest("the body is not valid JSON: \(syntax)")
        }
        do {
            return try JSONDecoder().decode(Body.self, from: data)
        } catch {
            // A number a whole-number key cannot hold (1.5, 1e30): Foundation calls that "not
            // valid JSON", which it is.
            if case DecodingError.dataCorrupted = error, let fields, let (key, value) = Self.notWhole(Body.wholeNumberKeys, in: fields) {
                throw .badRequest("the body is not the JSON this call takes: \(key) must be a whole number in range, not \(value)")
            }
            throw .badRequest("the body is not the JSON this call takes: \(Self.describe(error))")
        }
    }

    /// The first of `keys` whose number in the body is not a whole number an Int64 holds.
    private static func notWhole(_ keys: [String], in fields: [String: Any]) -> (key: String, value: String)? {
        for key in keys {
            guard let number = fields[key] as? NSNumber, !(number is Bool) else { continue }
            let value = number.doubleValue
            if value.rounded() != value || abs(value) >= 9.2e18 { return (key, "\(number)") }
        }
        return nil
    }

    static func describe(_ error: any Error) -> String {
        switch error {
        case let DecodingError.typeMismatch(_, context), let DecodingError.valueNotFound(_, context), let DecodingError.dataCorrupted(context):
            let path = context.codingPath.map(\.stringValue).joined(separator: ".")
            return (path.isEmpty ? "" : "\(path): ") + context.debugDescription
        case let DecodingError.keyNotFound(key, _): return "missing '\(key.stringValue)'"
        default: return "\(error)"
        }
    }
}

/// Whether a call's client closed its side of the connection (a long call's caller gave up).
private final class CallerConnection: Sendable {
    private let closed = Atomic<Bool>(false)
    func close() { closed.store(true, ordering: .releasing) }
    var hasClosed: Bool { closed.load(ordering: .acquiring) }
}
