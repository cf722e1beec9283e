// How a control call fails: the caller's mistake (4xx) or the system's (500),
// one message each; the API sends it as {"error": "...", "status": N}.

/// A control call's failure.
public enum ControlError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The request is malformed or names impossible values (400).
    case badRequest(String)
    /// No device with that id (404).
    case notFound(String)
    /// The device is not in a state that allows the call (409).
    case conflict(String)
    /// The caller may not use the API (403).
    case forbidden(String)
    /// The daemon is stopping (503).
    case unavailable(String)
    /// The system refused (a sysfs write, a VFIO ioctl) (500).
    case failed(String)

    public var status: Int {
        switch self {
        case .badRequest: 400
        case .notFound: 404
        case .conflict: 409
        case .forbidden: 403
        case .unavailable: 503
        case .failed: 500
        }
    }

    public var description: String {
        switch self {
        case .badRequest(let message), .notFound(let message), .conflict(let message), .forbidden(let message), .unavailable(let message), .failed(let message): message
        }
    }
}
