/// Finds a key written twice in one JSON object. JSON parsers (Foundation's among them)
/// keep the last of two equal keys without a word, so a policy file that lists a device
/// twice would silently lose the first entry; YAML's parser refuses the same document.
public enum JSONDuplicateKeys {
    /// The first key that appears twice in one object, as the path of keys to it
    /// ("devices.0000:00:03.0"), or nil when there is none. Keys are compared as a parser
    /// reads them, escapes decoded (`"\u0061"` is `"a"`). Meant for text a JSON parser has accepted;
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

    /// The string up to its closing quote (the opening one was read), its escapes decoded
    /// as a parser decodes them: a key spelt `"\u0061"` and one spelt `"a"` are one key to
    /// the decoder, which would keep one value and drop the other.
    private static func readString(_ bytes: inout String.UTF8View.Iterator) -> String {
        var text: [UInt8] = []
        var pendingHighSurrogate: UInt32?
        while let byte = bytes.next() {
            if byte == UInt8(ascii: "\"") { break }
            guard byte == UInt8(ascii: "\\"), let escaped = bytes.next() else {
                text.append(byte)
                continue
            }
            var scalar: UInt32
            switch escaped {
            case UInt8(ascii: "b"): scalar = 0x08
            case UInt8(ascii: "f"): scalar = 0x0C
            case UInt8(ascii: "n"): scalar = 0x0A
            case UInt8(ascii: "r"): scalar = 0x0D
            case UInt8(ascii: "t"): scalar = 0x09
            case UInt8(ascii: "u"):
                var digits: [UInt8] = []
                while digits.count < 4, let digit = bytes.next() { digits.append(digit) }
                guard let value = UInt32(String(decoding: digits, as: UTF8.self), radix: 16) else { continue }
                scalar = value
            default: scalar = UInt32(escaped)  // \" \\ \/
            }
            if (0xD800...0xDBFF).contains(scalar) {
                pendingHighSurrogate = scalar
                continue
            }
            if let high = pendingHighSurrogate, (0xDC00...0xDFFF).contains(scalar) {
                scalar = 0x10000 + ((high - 0xD800) << 10) + (scalar - 0xDC00)
            }
            pendingHighSurrogate = nil
            if let unicode = Unicode.Scalar(scalar) { text.append(contentsOf: Array(String(Character(unicode)).utf8)) }
        }
        return String(decoding: text, as: UTF8.self)
    }
}
