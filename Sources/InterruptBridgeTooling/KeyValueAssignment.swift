// `KEY=VALUE` as the command line writes a setting (`daemon --set`, `--storm`): the key is
// what comes before the first `=`, and must not be empty; the value may be, and may hold `=`.
public enum KeyValueAssignment {
    /// The key and value of `text`, or nil when it is not KEY=VALUE.
    public static func split(_ text: String) -> (key: String, value: String)? {
        guard let equals = text.firstIndex(of: "="), equals != text.startIndex else { return nil }
        return (String(text[..<equals]), String(text[text.index(after: equals)...]))
    }
}
