/// The policy file `irqbridge list --policy FILE` and `PCIDiscovery` read: per-device
/// interrupt settings spelled like the INF/registry values Windows drivers use.
///
/// ```json
/// {
///   "default": { "MSISupported": true },
///   "devices": {
///     "0000:00:03.0": { "MSISupported": false },
///     "1af4:1041":    { "MessageNumberLimit": 2, "DevicePriority": "high", "AssignmentSetOverride": "0x1" }
///   }
/// }
/// ```
///
/// Keys: `MSISupported` (bool), `MessageNumberLimit` (integer >= 1), `PreferMSIX` (bool),
/// `DevicePriority` ("low", "normal", "high"), `AssignmentSetOverride` (a processor mask,
/// as a number or a "0x..." string; the translator keeps its online processors, and
/// leaves it out when it names none). A device entry names an address ("0000:00:03.0")
/// or "vendor:device" ids ("1af4:1041"); its keys override the default's. Unknown keys
/// are errors, so a misspelt setting never silently does nothing; so are a key written
/// twice in one object (compared as written: `\u` escapes are not decoded) and two device
/// keys that name one device, so an entry is not silently dropped. The same document
/// may be written as YAML (`PolicyFileLoader` in the tooling reads both).
public struct InterruptPolicyFile: Sendable, Hashable, Decodable {
    /// One entry's settings; nil = inherit.
    public struct Settings: Sendable, Hashable, Decodable {
        public var msiSupported: Bool?
        public var messageNumberLimit: Int?
        public var preferMSIX: Bool?
        public var devicePriority: InterruptPolicy.DevicePriority?
        public var assignmentSetOverride: UInt64?

        enum Key: String, CodingKey, CaseIterable {
            case msiSupported = "MSISupported"
            case messageNumberLimit = "MessageNumberLimit"
            case preferMSIX = "PreferMSIX"
            case devicePriority = "DevicePriority"
            case assignmentSetOverride = "AssignmentSetOverride"
        }

        public init(from decoder: any Decoder) throws {
            try rejectUnknownKeys(decoder, allowed: Key.allCases.map(\.rawValue))
            let container = try decoder.container(keyedBy: Key.self)
            msiSupported = try container.decodeSetting(Bool.self, .msiSupported, expected: "true or false")
            messageNumberLimit = try container.decodeSetting(Int.self, .messageNumberLimit, expected: "a whole number, at least 1")
            if let limit = messageNumberLimit, limit < 1 {
                throw DecodingError.dataCorruptedError(forKey: .messageNumberLimit, in: container, debugDescription: "MessageNumberLimit must be at least 1")
            }
            preferMSIX = try container.decodeSetting(Bool.self, .preferMSIX, expected: "true or false")
            devicePriority = try container.decodeSetting(InterruptPolicy.DevicePriority.self, .devicePriority, expected: "\"low\", \"normal\" or \"high\"")
            let mask = "a processor mask: a whole number or a \"0x...\" string"
            if let number = try? container.decodeIfPresent(UInt64.self, forKey: .assignmentSetOverride) {
                assignmentSetOverride = number
            } else if let text = try container.decodeSetting(String.self, .assignmentSetOverride, expected: mask) {
                let digits = text.hasPrefix("0x") || text.hasPrefix("0X") ? text.dropFirst(2) : Substring(text)
                guard let mask = UInt64(digits, radix: 16) else {
                    throw DecodingError.dataCorruptedError(forKey: .assignmentSetOverride, in: container, debugDescription: "not a processor mask: \(text)")
                }
                assignmentSetOverride = mask
            }
            if assignmentSetOverride == 0 {
                throw DecodingError.dataCorruptedError(forKey: .assignmentSetOverride, in: container, debugDescription: "AssignmentSetOverride names no processor")
            }
        }

        /// `base` with these settings applied over it.
        public func applied(to base: InterruptPolicy) -> InterruptPolicy {
            var policy = base
            if let msiSupported { policy.msiSupported = msiSupported }
            if let messageNumberLimit { policy.messageNumberLimit = messageNumberLimit }
            if let preferMSIX { policy.preferMSIX = preferMSIX }
            if let devicePriority { policy.devicePriority = devicePriority }
            if let assignmentSetOverride { policy.affinityOverride = ProcessorAffinity(rawValue: assignmentSetOverride) }
            return policy
        }
    }

    public var defaults: Settings?
    public var devices: [String: Settings]

    enum Key: String, CodingKey, CaseIterable {
        case defaults = "default"
        case devices
    }

    public init(from decoder: any Decoder) throws {
        try rejectUnknownKeys(decoder, allowed: Key.allCases.map(\.rawValue))
        let container = try decoder.container(keyedBy: Key.self)
        defaults = try container.decodeIfPresent(Settings.self, forKey: .defaults)
        devices = try container.decodeIfPresent([String: Settings].self, forKey: .devices) ?? [:]
    }

    /// The table the file describes. Throws for a device key that is neither an address
    /// nor ids, and for two keys that name the same device ("00:03.0" and "0000:00:03.0",
    /// "1AF4:1041" and "1af4:1041"): one of them would be dropped.
    public func table() throws(InterruptPolicyFileError) -> InterruptPolicyTable {
        let fallback = defaults?.applied(to: .default) ?? .default
        var table = InterruptPolicyTable(fallback: fallback)
        var keyOf: [String: String] = [:]  // the device a key names (normalized) -> the key as written
        for (key, settings) in devices.sorted(by: { $0.key < $1.key }) {
            let device: String
            if let address = PCIAddress(key) {
                device = "\(address)"
                table.byAddress[address] = settings.applied(to: fallback)
            } else if let ids = Self.normalizedIDs(key) {
                device = ids
                table.byID[ids] = settings.applied(to: fallback)
            } else {
                throw .badDeviceKey(key)
            }
            if let earlier = keyOf.updateValue(key, forKey: device) {
                throw .sameDeviceTwice(earlier, key)
            }
        }
        return table
    }

    /// "1AF4:1041" -> "1af4:1041"; nil unless two 4-digit hexadecimal ids.
    static func normalizedIDs(_ key: String) -> String? {
        let parts = key.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, parts.allSatisfy({ $0.count == 4 && UInt16($0, radix: 16) != nil }) else { return nil }
        return key.lowercased()
    }
}

/// A policy file that decoded but does not make sense; each case concerns one key.
public enum InterruptPolicyFileError: Error, Sendable, Hashable, CustomStringConvertible {
    case badDeviceKey(String)
    /// Two device keys, as written, that name the same device.
    case sameDeviceTwice(String, String)
    /// A key the format does not have, and the keys it has there. Decoding throws it as the
    /// underlying error of a `DecodingError.dataCorrupted` whose coding path ends at the key,
    /// so a reader can tell a key that is wrong from a value that is.
    case unknownKey(String, known: [String])

    /// The keys from the document's root to the key concerned: ["devices", "00:03.0"].
    /// Empty for `unknownKey`, whose place is its `DecodingError`'s coding path.
    public var keyPath: [String] {
        switch self {
        case .badDeviceKey(let key): ["devices", key]
        case .sameDeviceTwice(_, let second): ["devices", second]
        case .unknownKey: []
        }
    }

    /// What is wrong, without the "policy file: " that `description` puts first.
    public var message: String {
        switch self {
        case .badDeviceKey(let key):
            "device key \"\(key)\" is neither a PCI address (0000:00:03.0) nor vendor:device ids (1af4:1041)"
        case .sameDeviceTwice(let first, let second):
            "device keys \"\(first)\" and \"\(second)\" name the same device; only one entry can apply"
        case .unknownKey(let key, let known):
            "unknown key \"\(key)\" (known: \(known.joined(separator: ", ")))"
        }
    }

    public var description: String { "policy file: " + message }
}

extension KeyedDecodingContainer {
    /// `decodeIfPresent`, but a value of the wrong JSON type is a type mismatch naming
    /// the key, what it wants and what it found. (Foundation reports a number that is
    /// no `Int`, like 1.5 or 1e30, as "not valid JSON", with no key at all.)
    fileprivate func decodeSetting<T: Decodable>(_ type: T.Type, _ key: Key, expected: String) throws -> T? {
        do {
            return try decodeIfPresent(type, forKey: key)
        } catch {
            // Foundation throws its own (internal) error type for a number that is no `Int`;
            // JSONDecoder turns it into "not valid JSON" only at the top. Any failure to
            // decode a value that is present is answered the same way: name what was found.
            guard let found = found(key) else { throw error }
            throw DecodingError.typeMismatch(type, .init(codingPath: codingPath + [key],
                                                         debugDescription: "\(key.stringValue) must be \(expected), not \(found)"))
        }
    }

    /// The JSON value at `key`, described ("1.5", "a string \"x\"", "an array or object"), or nil when absent.
    private func found(_ key: Key) -> String? {
        guard contains(key) else { return nil }
        if (try? decodeNil(forKey: key)) == true { return "null" }
        if let value = try? decode(Bool.self, forKey: key) { return String(value) }
        if let value = try? decode(Double.self, forKey: key) {
            return value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)
        }
        if let value = try? decode(String.self, forKey: key) { return "the string \"\(value)\"" }
        // What is left that is no container is a number no Double holds (1e400).
        if (try? nestedUnkeyedContainer(forKey: key)) == nil, (try? nestedContainer(keyedBy: AnyKey.self, forKey: key)) == nil {
            return "a number out of range"
        }
        return "an array or object"
    }
}

private struct AnyKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

private func rejectUnknownKeys(_ decoder: any Decoder, allowed: [String]) throws {
    let container = try decoder.container(keyedBy: AnyKey.self)
    if let unknown = container.allKeys.first(where: { !allowed.contains($0.stringValue) }) {
        let problem = InterruptPolicyFileError.unknownKey(unknown.stringValue, known: allowed)
        throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath + [unknown], debugDescription: problem.message,
                                                underlyingError: problem))
    }
}
