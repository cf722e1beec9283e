/// A size in bytes as messages write it: "16 MiB", "512 KiB", or "100 bytes" when it is no
/// whole number of a larger unit.
package enum ByteSize {
    package static func text(_ bytes: UInt64) -> String {
        for (shift, unit) in [(30, "GiB"), (20, "MiB"), (10, "KiB")] where bytes >= 1 << shift && bytes % (1 << shift) == 0 {
            return "\(bytes >> shift) \(unit)"
        }
        return "\(bytes) bytes"
    }
}
