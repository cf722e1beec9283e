/// An optional that a synthesized `Encodable` writes as `null` when it is nil, where the
/// synthesized code would leave its key out: for the JSON outputs whose keys are always
/// present (a script's `jq .field` finds every one, set or not). `@NullEncoded var kernel:
/// UInt64?` reads and writes as the optional it wraps.
@propertyWrapper
package struct NullEncoded<Value: Encodable>: Encodable {
    package var wrappedValue: Value?

    package init(wrappedValue: Value?) {
        self.wrappedValue = wrappedValue
    }

    package func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        if let wrappedValue { try container.encode(wrappedValue) } else { try container.encodeNil() }
    }
}

extension NullEncoded: Sendable where Value: Sendable {}
