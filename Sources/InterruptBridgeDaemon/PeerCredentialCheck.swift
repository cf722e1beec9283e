// The control API answers only its owner: the socket file is mode 0600 in a 0700
// directory, and each request's peer credentials (SO_PEERCRED, read from the
// connection) must name root or the daemon's own uid, as irqbalance checks its
// socket. On TCP (loopback only, off by default), which carries no credentials, the
// caller's uid is its socket's owner in /proc/net/tcp (`LoopbackPeer`).
import Hummingbird
import InterruptBridgeSystem
import NIOCore
#if canImport(Glibc)
import Glibc
#endif

struct PeerCredentialCheck: RouterMiddleware {
    typealias Context = ControlContext
    /// The uids allowed besides root.
    let allowedUIDs: Set<UInt32>

    init() { allowedUIDs = [0, getuid()] }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let address = context.channel.localAddress else {
            return ControlResponses.error(.forbidden("the connection has no address"), status: .forbidden)
        }
        guard case .unixDomainSocket = address else {
            return try await checkLoopbackCaller(request, context: context, server: address, next: next)
        }
        guard let provider = context.channel as? any SocketOptionProvider else {
            return ControlResponses.error(.forbidden("the peer's credentials cannot be read"), status: .forbidden)
        }
        let credentials: PeerCredentials
        do {
            credentials = try await provider.unsafeGetSocketOption(level: .socket, name: NIOBSDSocket.Option(rawValue: SO_PEERCRED)).get()
        } catch {
            return ControlResponses.error(.forbidden("the peer's credentials cannot be read: \(error)"), status: .forbidden)
        }
        guard allowedUIDs.contains(credentials.uid) else {
            context.logger.warning("control call refused", metadata: ["uid": "\(credentials.uid)", "pid": "\(credentials.pid)",
                                                                        "path": "\(request.uri.path)"])
            return ControlResponses.error(.forbidden("uid \(credentials.uid) may not use the control socket (root only)"), status: .forbidden)
        }
        return try await next(request, context)
    }
}

extension PeerCredentialCheck {
    /// A TCP caller: the owner of its socket, looked up by the connection's two ports.
    private func checkLoopbackCaller(_ request: Request, context: Context, server: SocketAddress,
                                     next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let serverIP = server.ipAddress, let serverPort = server.port, let remote = context.channel.remoteAddress,
              let peerIP = remote.ipAddress, let peerPort = remote.port,
              let serverEnd = LoopbackPeer.endpoint(ip: serverIP, port: serverPort), let peerEnd = LoopbackPeer.endpoint(ip: peerIP, port: peerPort) else {
            return ControlResponses.error(.forbidden("the connection's addresses cannot be read (root only)"), status: .forbidden)
        }
        // The caller's socket is in the table of the API's own family; read twice at most, as
        // the kernel's listing is not one snapshot and a busy table may miss it once.
        let table = if case .v6 = server { "/proc/net/tcp6" } else { "/proc/net/tcp" }
        var uid: UInt32?
        for _ in 0..<2 where uid == nil {
            uid = (try? FileIO.readText(table)).flatMap { LoopbackPeer.uid(peer: peerEnd, server: serverEnd, in: [$0]) }
        }
        guard let uid else {
            return ControlResponses.error(.forbidden("the caller's socket is not listed once in \(table) (root only)"), status: .forbidden)
        }
        guard allowedUIDs.contains(uid) else {
            context.logger.warning("control call refused", metadata: ["uid": "\(uid)", "path": "\(request.uri.path)"])
            return ControlResponses.error(.forbidden("uid \(uid) may not use the control API (root only)"), status: .forbidden)
        }
        return try await next(request, context)
    }
}

/// `struct ucred` (glibc declares it only under _GNU_SOURCE): what SO_PEERCRED reads.
struct PeerCredentials {
    var pid: Int32 = 0
    var uid: UInt32 = 0
    var gid: UInt32 = 0
}
