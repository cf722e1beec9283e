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
        let tables = ["/proc/net/tcp", "/proc/net/tcp6"].compactMap { try? FileIO.readText($0) }
        guard let serverPort = server.port, let peerPort = context.channel.remoteAddress?.port,
              let uid = LoopbackPeer.uid(peerPort: peerPort, serverPort: serverPort, in: tables) else {
            return ControlResponses.error(.forbidden("the caller's uid cannot be found in /proc/net/tcp (root only)"), status: .forbidden)
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
