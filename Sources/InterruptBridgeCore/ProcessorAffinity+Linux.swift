/// Parsers for the two ways Linux writes processor sets.
extension ProcessorAffinity {
    /// A cpulist as in /sys/devices/system/cpu/online or /proc/irq/N/smp_affinity_list: "0-3,8,10-11".
    /// CPUs 64 and above are outside a KAFFINITY (group 0) and are left out. Nil when malformed.
    public init?(linuxCPUList text: some StringProtocol) {
        var mask: UInt64 = 0
        let trimmed = String(text.filter { !$0.isWhitespace })
        guard !trimmed.isEmpty else { self.init(rawValue: 0); return }
        for range in trimmed.split(separator: ",", omittingEmptySubsequences: false) {
            let bounds = range.split(separator: "-", omittingEmptySubsequences: false)
            guard (1...2).contains(bounds.count), let first = Int(bounds[0]), let last = Int(bounds[bounds.count - 1]),
                  first >= 0, first <= last else { return nil }
            guard first <= 63 else { continue }  // a range wholly above group 0 ("64-127")
            for cpu in first...min(last, 63) { mask |= UInt64(1) << UInt64(cpu) }
        }
        self.init(rawValue: mask)
    }

    /// A hexadecimal mask as in /proc/irq/N/smp_affinity: 32-bit groups, most significant first,
    /// separated by commas ("00000000,00000003"). Bits above 63 are left out. Nil when malformed.
    public init?(linuxHexMask text: some StringProtocol) {
        let groups = String(text.filter { !$0.isWhitespace }).split(separator: ",", omittingEmptySubsequences: false)
        var mask: UInt64 = 0
        for (position, group) in groups.reversed().enumerated() {
            guard (1...8).contains(group.count), let value = UInt64(group, radix: 16) else { return nil }
            if position < 2 { mask |= value << UInt64(32 * position) }
        }
        self.init(rawValue: mask)
    }
}
