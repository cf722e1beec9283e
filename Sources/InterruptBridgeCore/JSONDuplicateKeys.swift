/// Finds a key written twice in one JSON object. JSON parsers (Foundation's among them)
/// keep the last of two equal keys without a word, so a policy file that lists a device
/// twice would silently lose the first entry; YAML's parser refuses the same document.
public enum JSONDuplicateKeys {
    /// The first key that appears twice in one object, as the path of keys to it
    /// ("devices.0000:00:03.0"), or nil when there is none. Keys are compared as
    /// written (escapes are not decoded). Meant for text a JSON parser has accepted;
    /// on anything else it answers what it saw, never traps.
    public static func first(in text: String) -> String? {
        var frames: [Frame] = []
        var bytes = text.utf8.makeIterator()
        while let byte = bytes.next() {
            switch byte {
            case UInt8(ascii: "\""):
                let string = readString(&bytes)
                guard let top = frames.indices.last, frames[top].isObject, frames[top].expectsKey else { continue }
                frames[top].expectsKey = false
                frames[top].key = string
                if !frames[top].keys.insert(string).inserted {
                    return frames.compactMap { $0.key }.joined(separator: ".")
                }
            case UInt8(ascii: "{"):
                frames.append(Frame(isObject: true))
            case UInt8(ascii: "["):
                frames.append(Frame(isObject: false))
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                _ = frames.popLast()
            case UInt8(ascii: ","):
                if let top = frames.indices.last, frames[top].isObject { frames[top].expectsKey = true }
            default:
                continue
            }
        }
        return nil
    }

    private struct Frame {
        let isObject: Bool
        var expectsKey = true
        var keys: Set<String> = []
        /// The key whose value is being read (what a path names this object by).
        var key: String?

        init(isObject: Bool) {
            self.isObject = isObject
            expectsKey = isObject
        }
    }

    /// The string's text up to its closing quote (the opening one was read), escapes as written.
    private static func readString(_ bytes: inout String.UTF8View.Iterator) -> String {
        var text: [UInt8] = []
        while let byte = bytes.next() {
            if byte == UInt8(ascii: "\"") { break }
            text.append(byte)
            if byte == UInt8(ascii: "\\"), let escaped = bytes.next() { text.append(escaped) }
        }
        return String(decoding: text, as: UTF8.self)
    }
}
