/// A kernel uevent for a PCI function: it appeared, went away, or changed driver.
public struct PCIHotplugEvent: Sendable, Hashable, CustomStringConvertible {
    public enum Action: Sendable, Hashable, CustomStringConvertible {
        case add, remove, bind, unbind, change
        case other(String)

        public init(_ text: String) {
            switch text {
            case "add": self = .add
            case "remove": self = .remove
            case "bind": self = .bind
            case "unbind": self = .unbind
            case "change": self = .change
            default: self = .other(text)
            }
        }

        public var description: String {
            switch self {
            case .add: "add"
            case .remove: "remove"
            case .bind: "bind"
            case .unbind: "unbind"
            case .change: "change"
            case .other(let text): text
            }
        }
    }

    public var action: Action
    public var address: PCIAddress
    /// The driver named in the event (bind, and add/change of a bound function).
    public var driver: String?

    public init(action: Action, address: PCIAddress, driver: String? = nil) {
        self.action = action
        self.address = address
        self.driver = driver
    }

    public var description: String { "\(action) \(address)" + (driver.map { " (\($0))" } ?? "") }
}
