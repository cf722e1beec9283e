/// A PCI function's address, `domain:bus:device.function` ("0000:00:03.0").
public struct PCIAddress: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The forms `init?(_:)` accepts, as an error message names them.
    public static let expectedForms = "DOMAIN:BUS:SLOT.FUNCTION or BUS:SLOT.FUNCTION, hexadecimal, e.g. 0000:00:03.0"

    public var domain: UInt32
    public var bus: UInt8
    public var device: UInt8
    public var function: UInt8

    public init(domain: UInt32 = 0, bus: UInt8, device: UInt8, function: UInt8) {
        precondition(device < 32 && function < 8, "PCI device is 0...31 and function 0...7")
        self.domain = domain
        self.bus = bus
        self.device = device
        self.function = function
    }

    /// Parses "DDDD:BB:DD.F" or the short "BB:DD.F" (domain 0), hexadecimal as lspci prints it.
    /// Returns nil for anything else, including out-of-range device (> 0x1f) or function (> 7).
    public init?(_ text: some StringProtocol) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        let domainText: Substring
        let busText: Substring
        let slotText: Substring
        switch parts.count {
        case 3: (domainText, busText, slotText) = (Substring(parts[0]), Substring(parts[1]), Substring(parts[2]))
        case 2: (domainText, busText, slotText) = ("0", Substring(parts[0]), Substring(parts[1]))
        default: return nil
        }
        let slot = slotText.split(separator: ".", omittingEmptySubsequences: false)
        guard slot.count == 2,
              (1...8).contains(domainText.count), (1...2).contains(busText.count),
              (1...2).contains(slot[0].count), slot[1].count == 1,
              let domain = UInt32(domainText, radix: 16),
              let bus = UInt8(busText, radix: 16),
              let device = UInt8(slot[0], radix: 16), device < 32,
              let function = UInt8(slot[1], radix: 16), function < 8
        else { return nil }
        self.init(domain: domain, bus: bus, device: device, function: function)
    }

    /// Device and function packed as the 8-bit devfn the kernel uses.
    public var devfn: UInt8 { device << 3 | function }

    /// "0000:00:03.0", the form sysfs and `lspci -D` use.
    public var description: String {
        hex(UInt64(domain), width: 4) + ":" + hex(UInt64(bus), width: 2) + ":" + hex(UInt64(device), width: 2) + "." + String(function)
    }

    public static func < (lhs: PCIAddress, rhs: PCIAddress) -> Bool {
        (lhs.domain, lhs.bus, lhs.device, lhs.function) < (rhs.domain, rhs.bus, rhs.device, rhs.function)
    }
}

extension PCIAddress: Codable {
    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let address = PCIAddress(text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not a PCI address: \(text)"))
        }
        self = address
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

/// Lower-case hexadecimal, zero-padded to `width` digits.
package func hex(_ value: UInt64, width: Int) -> String {
    let digits = String(value, radix: 16)
    return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
}
